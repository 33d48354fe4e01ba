//! The router in-process: arbitrary requests to `/events` never panic and always get an
//! answer with a status and, when refused, a reason.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use proptest::prelude::*;
use tower::ServiceExt;

use super::*;
use crate::config::RepoAllowlist;
use crate::store::SqliteStore;

/// The router over a fresh SQLite store, secret `k`, every repository allowed.
async fn test_app() -> (tempfile::TempDir, Router, Arc<dyn Store>) {
    test_app_with(Default::default()).await
}

/// [`test_app`] with the given `/events` bounds.
async fn test_app_with(intake: intake::Intake) -> (tempfile::TempDir, Router, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("b.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    let (router, store) = router_over_with(store, intake);
    (dir, router, store)
}

/// The router over `store`, secret `k`, every repository allowed.
fn router_over(store: SqliteStore) -> (Router, Arc<dyn Store>) {
    router_over_with(store, Default::default())
}

fn router_over_with(store: SqliteStore, intake: intake::Intake) -> (Router, Arc<dyn Store>) {
    let github = crate::github::local::LocalGitHub::client().0;
    let state = state_over(store, intake, github);
    let store = state.store.clone();
    (router(state), store)
}

/// The server's state over `store`, secret `k`, every repository allowed, GitHub as `github`.
fn state_over(
    store: SqliteStore,
    intake: intake::Intake,
    github: crate::github::GitHub,
) -> Arc<AppState> {
    let store: Arc<dyn Store> = Arc::new(store);
    Arc::new(AppState {
        ingest: Ingest::start(store.clone(), Arc::new(tokio::sync::Notify::new())),
        store: store.clone(),
        metrics: Arc::new(Metrics::default()),
        webhook_secrets: vec![Secret::new("k")],
        allowlist: RepoAllowlist::parse("*/*").unwrap(),
        api_token: None,
        auth: None,
        access: Default::default(),
        github: Arc::new(github),
        enqueued: Arc::new(tokio::sync::Notify::new()),
        intake,
        draining: Default::default(),
        public_url: None,
    })
}

/// A GitHub that never answers.
struct Silent;

#[async_trait::async_trait]
impl crate::github::request::Service for Silent {
    async fn send(
        &self,
        _: crate::github::request::Request,
    ) -> Result<crate::github::request::Answer, crate::github::GitHubError> {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        Err(crate::github::GitHubError::Transport {
            what: "waiting".into(),
            message: "no answer".into(),
        })
    }
}

/// The repository page does not wait for GitHub's pull request titles longer than 5 s: it
/// shows the pull requests by number then.
#[tokio::test]
async fn a_repository_page_waits_5_s_for_pull_request_titles_at_most() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("b.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    let github = crate::github::GitHub::over(Arc::new(Silent));
    let state = state_over(store, Default::default(), github);
    // Time stands still but for the waits, which it then skips: the store is open already.
    tokio::time::pause();
    let started = tokio::time::Instant::now();
    let titles = ui::pr_titles(&state, "acme/infra").await;
    assert!(titles.is_empty());
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(5) && waited < std::time::Duration::from_secs(6),
        "{waited:?}"
    );
}

async fn get_text(app: &Router, path: &str) -> (u16, String) {
    let req = Request::get(path).body(Body::empty()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// `/readyz` follows the store (503 with a one-line reason once it cannot be queried);
/// `/healthz` only says the process is alive.
#[tokio::test]
async fn readyz_answers_503_when_the_store_is_unreachable_and_healthz_stays_alive() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("b.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    let (app, _) = router_over(store.clone());
    assert_eq!(get_text(&app, "/readyz").await, (200, "ready\n".into()));
    assert_eq!(get_text(&app, "/healthz").await, (200, "ok\n".into()));
    store.close().await;
    assert_eq!(
        get_text(&app, "/readyz").await,
        (503, "store unavailable\n".into())
    );
    assert_eq!(get_text(&app, "/healthz").await, (200, "ok\n".into()));
}

/// Draining (SIGTERM): `/readyz` answers 503 at once so the load balancer stops sending,
/// `/healthz` stays 200, and a webhook still arriving is stored and acknowledged.
#[tokio::test]
async fn readyz_answers_503_while_draining_and_webhooks_are_still_stored() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("b.db").display());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).await.unwrap());
    let draining = tokio_util::sync::CancellationToken::new();
    let app = router(Arc::new(AppState {
        ingest: Ingest::start(store.clone(), Arc::new(tokio::sync::Notify::new())),
        store: store.clone(),
        metrics: Arc::new(Metrics::default()),
        webhook_secrets: vec![Secret::new("k")],
        allowlist: RepoAllowlist::parse("*/*").unwrap(),
        api_token: None,
        auth: None,
        access: Default::default(),
        github: Arc::new(crate::github::local::LocalGitHub::client().0),
        enqueued: Arc::new(tokio::sync::Notify::new()),
        intake: Default::default(),
        draining: draining.clone(),
        public_url: None,
    }));
    assert_eq!(get_text(&app, "/readyz").await, (200, "ready\n".into()));
    draining.cancel();
    assert_eq!(get_text(&app, "/readyz").await, (503, "draining\n".into()));
    assert_eq!(get_text(&app, "/healthz").await, (200, "ok\n".into()));
    let (event, body) = examples().remove(0);
    let req = Request::post("/events")
        .header("x-github-event", event)
        .header("x-github-delivery", "drain-1")
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature::sign("k", &body))
        .body(Body::from(body))
        .unwrap();
    let (status, _) = send(&app, req).await;
    assert_eq!(status, 202);
    assert!(store.delivery("drain-1").await.unwrap().is_some());
}

fn examples() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/webhooks/examples"
    );
    let mut out = Vec::new();
    for event in [
        "pull_request",
        "issue_comment",
        "push",
        "check_run",
        "installation",
        "ping",
    ] {
        let all: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(format!("{dir}/{event}.json")).unwrap())
                .unwrap();
        for e in all.into_iter().take(3) {
            out.push((event.to_owned(), serde_json::to_vec(&e).unwrap()));
        }
    }
    out
}

async fn send(app: &Router, req: Request<Body>) -> (u16, serde_json::Value) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Signed examples, damaged in arbitrary ways, under arbitrary event names and content types.
    #[test]
    fn any_request_gets_a_reasoned_answer(
        pick in 0usize..18,
        cut in 0usize..40_000,
        flip in proptest::option::of((0usize..40_000, any::<u8>())),
        event in prop_oneof![Just(None), Just(Some("pull_request".to_string())), "[a-z_]{0,20}".prop_map(Some), ".{0,10}".prop_map(Some)],
        delivery in prop_oneof![Just(Some("d-1".to_string())), "[ -~]{0,120}".prop_map(Some), Just(None)],
        content_type in prop::sample::select(vec!["application/json", "application/x-www-form-urlencoded", "text/plain", "", "application/json; charset=utf-8"]),
        sign in any::<bool>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (_dir, app, _) = rt.block_on(test_app());
        let all = examples();
        let (real_event, mut body) = all[pick % all.len()].clone();
        if let Some((at, byte)) = flip && !body.is_empty() {
            let i = at % body.len();
            body[i] = byte;
        }
        body.truncate(cut.max(1));
        let mut req = Request::post("/events");
        if let Some(e) = event.clone().or(Some(real_event)) && let Ok(v) = axum::http::HeaderValue::from_str(&e) {
            req = req.header("x-github-event", v);
        }
        if let Some(d) = &delivery && let Ok(v) = axum::http::HeaderValue::from_str(d) {
            req = req.header("x-github-delivery", v);
        }
        if !content_type.is_empty() {
            req = req.header("content-type", content_type);
        }
        if sign {
            req = req.header("x-hub-signature-256", signature::sign("k", &body));
        }
        let (status, answer) = rt.block_on(send(&app, req.body(Body::from(body)).unwrap()));
        prop_assert!([200, 202, 400, 401, 413, 415].contains(&status), "status {}", status);
        prop_assert!(answer["status"].is_string(), "{}", answer);
        if status >= 400 {
            prop_assert!(answer["reason"].as_str().is_some_and(|r| !r.is_empty()), "{}", answer);
        }
        if !sign {
            prop_assert_eq!(status, 401);
        }
    }
}

#[tokio::test]
async fn accepted_then_duplicate() {
    let (_dir, app, store) = test_app().await;
    let (_, body) = examples().into_iter().find(|(e, _)| e == "push").unwrap();
    let req = || {
        Request::post("/events")
            .header("x-github-event", "push")
            .header("x-github-delivery", "abc-1")
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature::sign("k", &body))
            .body(Body::from(body.clone()))
            .unwrap()
    };
    assert_eq!(
        send(&app, req()).await,
        (202, serde_json::json!({ "status": "accepted" }))
    );
    let (status, answer) = send(&app, req()).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );
    assert_eq!(store.queue_depth().await.unwrap(), 1);
}

/// A body whose bytes arrive when the test sends them, held open until the sender drops.
fn held_body() -> (tokio::sync::mpsc::Sender<&'static [u8]>, Body) {
    let (tx, rx) = tokio::sync::mpsc::channel::<&'static [u8]>(4);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| {
            (
                Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b)),
                rx,
            )
        })
    });
    (tx, Body::from_stream(stream))
}

fn unsigned(body: Body) -> Request<Body> {
    Request::post("/events")
        .header("x-github-event", "push")
        .header("x-github-delivery", "flood")
        .header("content-type", "application/json")
        .body(body)
        .unwrap()
}

#[tokio::test]
async fn a_flood_of_unsigned_bodies_is_shed_with_503_and_bosun_goes_on() {
    const CHUNK: &[u8] = &[b'x'; 30_000];
    let (_dir, app, store) = test_app_with(intake::Intake::new(4, 100_000)).await;
    // Three unsigned bodies, 30 kB each so far, held open by a slow sender.
    let mut senders = Vec::new();
    let mut held = Vec::new();
    for _ in 0..3 {
        let (tx, body) = held_body();
        tx.send(CHUNK).await.unwrap();
        senders.push(tx);
        held.push(tokio::spawn(send_owned(app.clone(), unsigned(body))));
    }
    // Wait (bounded) until the three are being read.
    let mut shed = None;
    for _ in 0..200 {
        let res = app
            .clone()
            .oneshot(unsigned(Body::from(vec![b'y'; 20_000])))
            .await
            .unwrap();
        if res.status() == 503 {
            shed = Some(res);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let res = shed.expect("a body past the byte budget is shed");
    assert_eq!(
        res.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["status"], "rejected");
    assert!(
        answer["reason"].as_str().unwrap().contains("100000 bytes"),
        "{answer}"
    );
    // A fourth held request fills the request bound: the fifth is shed too.
    let (tx, body) = held_body();
    senders.push(tx);
    held.push(tokio::spawn(send_owned(app.clone(), unsigned(body))));
    let mut refused = false;
    for _ in 0..200 {
        let (status, answer) = send(&app, unsigned(Body::from("{}"))).await;
        if status == 503 {
            assert!(answer["reason"].as_str().unwrap().contains("4 deliveries"));
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(refused, "the request bound held");
    // The senders finish; the held requests are refused for their signature, and bosun
    // takes a signed delivery again.
    drop(senders);
    for h in held {
        assert_eq!(h.await.unwrap(), 401);
    }
    let (_, body) = examples().into_iter().find(|(e, _)| e == "push").unwrap();
    let req = Request::post("/events")
        .header("x-github-event", "push")
        .header("x-github-delivery", "after-flood")
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature::sign("k", &body))
        .body(Body::from(body))
        .unwrap();
    assert_eq!(send(&app, req).await.0, 202);
    assert_eq!(store.queue_depth().await.unwrap(), 1);
}

async fn send_owned(app: Router, req: Request<Body>) -> u16 {
    send(&app, req).await.0
}

/// `/metrics` reads the fleet's queued jobs, the oldest one's age and the locks held from the
/// store at each scrape (rows written here as another replica would).
#[tokio::test]
async fn metrics_read_fleet_gauges_from_the_store_at_scrape_time() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("b.db").display());
    let (app, _) = router_over(SqliteStore::open(&url).await.unwrap());
    let (_, text) = get_text(&app, "/metrics").await;
    for want in [
        "bosun_jobs_queued 0\n",
        "bosun_oldest_queued_job_age_seconds 0\n",
        "bosun_locks_held 0\n",
    ] {
        assert!(text.contains(want), "{want} in {text}");
    }
    let other = sqlx::SqlitePool::connect(&url).await.unwrap();
    let hour_ago = crate::store::now_millis() - 3_600_000;
    for (source, status, at) in [
        ("a", "queued", hour_ago),
        ("b", "queued", hour_ago + 5_000),
        ("c", "running", 0),
    ] {
        sqlx::query(
            "INSERT INTO jobs (source, kind, repository, installation_id, pr, spec, status, created_at) \
             VALUES (?1, 'autoplan', 'o/r', 1, 1, '{}', ?2, ?3)",
        )
        .bind(source)
        .bind(status)
        .bind(at)
        .execute(&other)
        .await
        .unwrap();
    }
    sqlx::query("INSERT INTO locks (repository, dir, workspace, pr, created_at) VALUES ('o/r', '.', 'default', 1, 0)")
        .execute(&other)
        .await
        .unwrap();
    let (_, text) = get_text(&app, "/metrics").await;
    assert!(text.contains("bosun_jobs_queued 2\n"), "{text}");
    assert!(text.contains("bosun_locks_held 1\n"), "{text}");
    let age: i64 = text
        .lines()
        .find_map(|l| l.strip_prefix("bosun_oldest_queued_job_age_seconds "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1);
    assert!((3600..3660).contains(&age), "{age} in {text}");
}

#[tokio::test]
async fn connections_are_accepted_with_nagle_off() {
    use axum::serve::Listener as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut listener = without_nagle(listener);
    let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (io, _) = listener.accept().await;
    assert!(
        io.nodelay().unwrap(),
        "an accepted connection keeps Nagle's algorithm"
    );
}
