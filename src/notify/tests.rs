use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use super::Notifier;
use crate::config::Secret;

/// What the loopback webhook received, and the statuses it answers with in turn (then 200).
#[derive(Default)]
struct Hook {
    received: Mutex<Vec<(String, String)>>,
    answers: Mutex<VecDeque<StatusCode>>,
}

async fn receive(State(hook): State<Arc<Hook>>, headers: HeaderMap, body: String) -> StatusCode {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    hook.received.lock().unwrap().push((content_type, body));
    hook.answers
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(StatusCode::OK)
}

const PATH: &str = "/services/T000/B000/s3cr3tpathpart";

/// A loopback webhook answering `answers` in turn; returns it and its URL.
async fn hook(answers: &[StatusCode]) -> (Arc<Hook>, Secret) {
    let hook = Arc::new(Hook {
        answers: Mutex::new(answers.iter().copied().collect()),
        ..Hook::default()
    });
    let app = axum::Router::new()
        .route(PATH, axum::routing::post(receive))
        .with_state(hook.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (hook, Secret::new(format!("http://{addr}{PATH}")))
}

fn notifier(url: &Secret) -> Notifier {
    Notifier::new(url)
        .unwrap()
        .with_backoff([Duration::from_millis(10), Duration::from_millis(20)])
}

#[tokio::test]
async fn posts_the_text_as_json() {
    let (hook, url) = hook(&[]).await;
    notifier(&url)
        .send("envs/prod drifted \"quoted\"")
        .await
        .unwrap();
    let received = hook.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].0, "application/json");
    let body: serde_json::Value = serde_json::from_str(&received[0].1).unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "text": "envs/prod drifted \"quoted\"" })
    );
}

#[tokio::test]
async fn retries_after_a_server_error_then_succeeds() {
    let (hook, url) = hook(&[
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::TOO_MANY_REQUESTS,
    ])
    .await;
    notifier(&url).send("hello").await.unwrap();
    assert_eq!(hook.received.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn gives_up_after_three_attempts_without_showing_the_url() {
    let (hook, url) = hook(&[StatusCode::BAD_GATEWAY; 5]).await;
    let err = notifier(&url).send("hello").await.unwrap_err();
    let err = format!("{err:#}");
    assert_eq!(hook.received.lock().unwrap().len(), 3);
    assert!(err.contains("502"), "{err}");
    assert!(!err.contains("s3cr3t"), "{err}");
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let (hook, url) = hook(&[StatusCode::NOT_FOUND]).await;
    let err = notifier(&url).send("hello").await.unwrap_err();
    assert!(format!("{err:#}").contains("404"), "{err:#}");
    assert_eq!(hook.received.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_reported_without_the_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = Secret::new(format!("http://{addr}{PATH}?token=s3cr3t"));
    let err = notifier(&url).send("hello").await.unwrap_err();
    let err = format!("{err:#} {err:?}");
    assert!(err.contains("failed 3 times"), "{err}");
    assert!(!err.contains("s3cr3t"), "{err}");
}

#[test]
fn only_http_urls_are_accepted_and_errors_never_quote_them() {
    for (url, why) in [
        (
            "ftp://hooks.example/s3cr3t",
            "must start with http:// or https://",
        ),
        (
            "hooks.example/s3cr3t",
            "must start with http:// or https://",
        ),
        ("http://exa mple/s3cr3t", "not a valid URL"),
        ("", "must start with http:// or https://"),
        ("https:///s3cr3t", "not a valid URL"),
    ] {
        let err = Notifier::new(&Secret::new(url)).unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains(why), "{url}: {err}");
        assert!(!err.contains("s3cr3t"), "{err}");
    }
    let n = Notifier::new(&Secret::new("https://hooks.example/s3cr3t")).unwrap();
    assert!(!format!("{n:?}").contains("s3cr3t"));
}
