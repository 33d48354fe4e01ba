//! After `kill -9` and a restart, every delivery that was acknowledged is processed exactly
//! once: none lost, none twice. Runs the real binary.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bosun::store::{DeliveryStatus, SqliteStore, Store};
use bytes::Bytes;
use http::Method;

use crate::support::client::Http;
use crate::support::fake::{self, payloads};

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(port: u16, data: &std::path::Path, github: &str) -> Child {
    spawn_with(port, data, github, &[])
}

/// `bosun serve` as a process of its own, on `port`, with `extra` flags.
pub(crate) fn spawn_with(
    port: u16,
    data: &std::path::Path,
    github: &str,
    extra: &[(&str, &str)],
) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bosun"));
    cmd.arg("serve");
    for (flag, value) in extra {
        cmd.args([*flag, *value]);
    }
    cmd.args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--data-dir", data.to_str().unwrap()])
        .args(["--github-api-url", github])
        .args(["--github-app-id", &fake::APP_ID.to_string()])
        .args(["--github-app-key-file", crate::support::KEY_FILE])
        .args(["--repo-allowlist", "*/*"])
        .args(["--redelivery-interval", "0"])
        .args(["--log", "warn"])
        .env_clear()
        .env("BOSUN_GITHUB_WEBHOOK_SECRET", fake::WEBHOOK_SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

pub(crate) async fn wait_healthy(http: &Http, port: u16) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = http
            .send(
                Method::GET,
                &format!("http://127.0.0.1:{port}/healthz"),
                &[],
                Bytes::new(),
            )
            .await
            && r.status == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("bosun did not become healthy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_and_repeats_nothing() {
    let github = fake::FakeGitHub::start().await;
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let http = Http::default();
    let mut child = spawn(port, data.path(), &github.url);
    wait_healthy(&http, port).await;

    let payload = Bytes::from(serde_json::to_vec(&payloads::example("push", None)).unwrap());
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut senders = Vec::new();
    for sender in 0..8 {
        let (http, payload, acked, stop) =
            (http.clone(), payload.clone(), acked.clone(), stop.clone());
        senders.push(tokio::spawn(async move {
            for i in 0..200 {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let id = format!("kill9-{sender}-{i}");
                let headers =
                    crate::support::signed_headers("push", &id, "application/json", &payload);
                match http
                    .send(
                        Method::POST,
                        &format!("http://127.0.0.1:{port}/events"),
                        &headers,
                        payload.clone(),
                    )
                    .await
                {
                    Ok(r) if r.status == 202 => acked.lock().unwrap().push(id),
                    Ok(r) => panic!("unexpected answer {}: {}", r.status, r.text()),
                    Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        }));
    }
    // Kill mid-stream, once a good number of deliveries were acknowledged.
    let started = Instant::now();
    while acked.lock().unwrap().len() < 300 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let acked_at_kill = acked.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for s in senders {
        s.await.unwrap();
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    assert!(acked.len() >= 300, "only {} acknowledged", acked.len());

    let store = SqliteStore::open(&format!(
        "sqlite://{}",
        data.path().join("bosun.db").display()
    ))
    .await
    .unwrap();
    let pending_at_restart = store.queue_depth().await.unwrap();

    let mut child = spawn(port, data.path(), &github.url);
    wait_healthy(&http, port).await;
    let started = Instant::now();
    while store.queue_depth().await.unwrap() > 0 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    for id in &acked {
        let d = store
            .delivery(id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged delivery {id} lost"));
        assert_eq!(d.status, DeliveryStatus::Done, "{id}: {d:?}");
        let e = store
            .processed_event(id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{id} has no processed record"));
        assert_eq!(e.kind, "push");
    }
    assert_eq!(store.queue_depth().await.unwrap(), 0);
    eprintln!(
        "acknowledged {} ({} when killed), {} pending at restart",
        acked.len(),
        acked_at_kill,
        pending_at_restart
    );
}
