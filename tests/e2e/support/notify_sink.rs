//! A Slack-compatible incoming webhook on loopback that keeps what bosun's notifier sends
//! (`{"text": …}`), at a path holding a "secret" part as real webhook URLs do.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Sink {
    pub url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Sink {
    pub async fn start() -> Self {
        let bodies: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let kept = bodies.clone();
        let app = axum::Router::new().route(
            "/hook/T000/B000/secretpart",
            axum::routing::post(move |body: axum::Json<serde_json::Value>| {
                let kept = kept.clone();
                async move {
                    kept.lock().unwrap().push(body.0);
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/hook/T000/B000/secretpart"),
            bodies,
        }
    }

    /// The texts received so far, in order.
    pub fn texts(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| b["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The texts once there are at least `n` (bosun sends from a queue, after the work).
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        let start = Instant::now();
        loop {
            let texts = self.texts();
            if texts.len() >= n {
                return texts;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "expected {n} notification(s), got {texts:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
