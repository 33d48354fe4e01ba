//! Run logs: a run's Terraform output is in the store as it is printed, served live over
//! Server-Sent Events from `/api/runs/{id}/log` (and whole as text), behind the API token.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;

use crate::support::prs::module;
use crate::support::sse::{Event, Sse};
use crate::support::{REPO, TestContext};

const TOKEN: &str = "run-logs-test-token-0123456789";

/// A project whose apply prints a line a second for four seconds.
const TICKING: &str = r#"
resource "terraform_data" "ticking" {
  input = "t"

  provisioner "local-exec" {
    command = "for i in 1 2 3 4; do echo tick-$i; sleep 1; done"
  }
}
"#;

fn auth() -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {TOKEN}"))]
}

async fn get(ctx: &TestContext, path: &str, token: bool) -> crate::support::client::Reply {
    let headers = if token { auth() } else { Vec::new() };
    ctx.http
        .send(Method::GET, &ctx.url(path), &headers, Bytes::new())
        .await
        .unwrap()
}

#[tokio::test]
async fn an_apply_log_streams_live_over_sse_then_ends_with_the_outcome() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("api_token", TOKEN);
    ctx.set("public_url", "https://bosun.example.com/ci");
    ctx.start_bosun().await;
    let tf = format!("{}{TICKING}", module(&ctx.state_file("dev"), &[]));
    let (pr, _) = ctx.open_pr("ticking", &[("envs/dev/main.tf", &tf)]).await;
    ctx.settle().await;

    ctx.comment(pr, "alice", "bosun apply").await;
    let id = ctx.run_of_kind("apply").await;
    let path = format!("/api/runs/{id}/log");
    let mut sse = Sse::open(ctx.bosun().addr, &path, &auth()).await;
    assert_eq!(
        (sse.status, sse.content_type.as_str()),
        (200, "text/event-stream")
    );

    // The first tick arrives while the run is still running.
    let mut log = String::new();
    let mut events: Vec<Event> = Vec::new();
    loop {
        let event = sse.next(Duration::from_secs(60)).await.expect("an event");
        assert_eq!(event.name, "log", "{event:?}");
        log.push_str(&event.data);
        log.push('\n');
        events.push(event);
        if log.contains("tick-1") {
            break;
        }
    }
    let run = get(&ctx, &format!("/api/runs/{id}"), true).await;
    assert_eq!(run.status, 200, "{}", run.text());
    let run = run.json();
    assert_eq!(run["status"], "running", "{run}");
    assert_eq!(
        (
            &run["kind"],
            &run["repository"],
            &run["pr"],
            &run["dir"],
            &run["requested_by"]
        ),
        (
            &serde_json::json!("apply"),
            &serde_json::json!(REPO),
            &serde_json::json!(pr),
            &serde_json::json!("envs/dev"),
            &serde_json::json!("alice")
        )
    );
    assert!(log.contains("tick-1") && !log.contains("tick-4"), "{log}");

    // Then the rest, and `end` with the outcome; the stream closes.
    let end = loop {
        let event = sse.next(Duration::from_secs(60)).await.expect("an event");
        if event.name == "end" {
            break event;
        }
        log.push_str(&event.data);
        log.push('\n');
        events.push(event);
    };
    assert_eq!(end.data, r#"{"status":"succeeded"}"#);
    assert_eq!(sse.next(Duration::from_secs(5)).await, None, "closed");
    for tick in ["tick-1", "tick-2", "tick-3", "tick-4"] {
        assert!(log.contains(tick), "{log}");
    }
    assert!(log.contains("$ terraform apply"), "{log}");
    let ids: Vec<i64> = events
        .iter()
        .map(|e| e.id.as_deref().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // The whole log as text, the same lines; from `Last-Event-ID` on, only what follows it.
    let whole = get(&ctx, &path, true).await;
    assert_eq!(whole.status, 200);
    assert!(whole.text().contains("tick-4\n"), "{}", whole.text());
    let mut headers = auth();
    headers.push(("last-event-id", ids[ids.len() - 2].to_string()));
    let mut resumed = Sse::open(ctx.bosun().addr, &path, &headers).await;
    let next = resumed.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(next.id, Some(ids[ids.len() - 1].to_string()));
    let end = resumed.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(end.name, "end");

    // The plan's run is there too; unknown runs are 404; without the token, 401.
    let plan = ctx.run_of_kind("plan").await;
    let plan_run = get(&ctx, &format!("/api/runs/{plan}"), true).await.json();
    assert_eq!(plan_run["status"], "succeeded", "{plan_run}");
    // With BOSUN_PUBLIC_URL, the project's plan and apply checks link their runs' pages.
    let check = ctx.check(pr, "bosun/apply: envs/dev");
    assert_eq!(
        check.details_url.as_deref(),
        Some(format!("https://bosun.example.com/ci/runs/{id}").as_str())
    );
    let check = ctx.check(pr, "bosun/plan: envs/dev");
    assert_eq!(
        check.details_url.as_deref(),
        Some(format!("https://bosun.example.com/ci/runs/{plan}").as_str())
    );
    // The summary checks link the pull request's part of the repository's page.
    for name in ["bosun/plan", "bosun/apply"] {
        assert_eq!(
            ctx.check(pr, name).details_url.as_deref(),
            Some(format!("https://bosun.example.com/ci/repos/{REPO}#pr-{pr}").as_str()),
            "{name}"
        );
    }
    assert!(
        get(&ctx, &format!("/api/runs/{plan}/log"), true)
            .await
            .text()
            .contains("$ terraform plan")
    );
    for path in ["/api/runs/999999", "/api/runs/x/log", "/api/runs/-1"] {
        assert_eq!(get(&ctx, path, true).await.status, 404, "{path}");
    }
    assert_eq!(get(&ctx, &path, false).await.status, 401);
    let unauthorised = Sse::open(ctx.bosun().addr, &path, &[]).await;
    assert_eq!(unauthorised.status, 401);
    ctx.settle().await;
    // The plan and apply comments link each project's run.
    let comments: Vec<String> = ctx.bot_comments(pr).into_iter().map(|c| c.body).collect();
    for run in [plan, id] {
        let link = format!(" · [log](https://bosun.example.com/ci/runs/{run})");
        assert!(
            comments.iter().any(|c| c.contains(&link)),
            "{link} in {comments:#?}"
        );
    }
    ctx.finish().await;
}

/// The whole stored log of run `id`.
async fn stored_log(store: &dyn bosun::store::Store, id: i64) -> String {
    let chunks = store.run_log(id, 0, 10_000).await.unwrap();
    chunks.into_iter().map(|c| c.text).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_survives_a_kill_and_goes_on_when_the_job_runs_again() {
    use crate::durability::{free_port, spawn_with, wait_healthy};
    use bosun::store::{RunStatus, RunStore, SqliteStore};

    let ctx = TestContext::without_bosun().await;
    let data = ctx.data_path();
    let port = free_port();
    let terraform = crate::support::terraform_bin();
    let writable = ctx.state_dir.path().display().to_string();
    let readable = crate::support::terraform_readable_paths().join(",");
    let flags = [
        ("--terraform-bin", terraform.as_str()),
        ("--delivery-retry-base", "10ms"),
        ("--allow-custom-workflows", "acme/*"),
        ("--allowed-overrides", "acme/infra:workflow"),
        ("--sandbox-writable-paths", writable.as_str()),
        ("--sandbox-readable-paths", readable.as_str()),
        ("--api-token", TOKEN),
    ];
    // The base branch's workflow ticks for six seconds before planning.
    let yaml = "version: 3\nprojects:\n  - dir: envs/dev\n    workflow: ticking\nworkflows:\n  \
                ticking:\n    plan:\n      steps:\n        - run: for i in 1 2 3 4 5 6; do echo tick-$i; sleep 1; done\n        - init\n        - plan\n";
    ctx.push_base(&[("bosun.yaml", Some(yaml))]);
    let store = SqliteStore::open(&format!("sqlite://{}", data.join("bosun.db").display()))
        .await
        .unwrap();

    let mut bosun = spawn_with(port, &data, &ctx.fake.url, &flags);
    wait_healthy(&ctx.http, port).await;
    ctx.fake.model().hook_url = Some(format!("http://127.0.0.1:{port}/events"));
    let tf = module(&ctx.state_file("dev"), &["app"]);
    let (pr, _) = ctx.open_pr("dev", &[("envs/dev/main.tf", &tf)]).await;
    let id = ctx.run_of_kind("plan").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stored_log(&store, id).await.contains("tick-2") {
        assert!(Instant::now() < deadline, "no tick-2");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bosun.kill().unwrap(); // SIGKILL, mid-run
    bosun.wait().unwrap();
    let before = stored_log(&store, id).await;
    let last_seen = store
        .run_log(id, 0, 10_000)
        .await
        .unwrap()
        .last()
        .unwrap()
        .seq;
    assert!(!before.contains("tick-6"), "{before}");
    assert_eq!(
        store.run(id).await.unwrap().unwrap().status,
        RunStatus::Running
    );

    // Restarted, the job runs again and takes the run up: its log goes on where it stopped.
    let mut bosun = spawn_with(port, &data, &ctx.fake.url, &flags);
    wait_healthy(&ctx.http, port).await;
    let path = format!("/api/runs/{id}/log");
    let mut headers = auth();
    headers.push(("last-event-id", last_seen.to_string()));
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut sse = Sse::open(addr, &path, &headers).await;
    assert_eq!(sse.status, 200);
    let mut streamed = String::new();
    let end = loop {
        let event = sse.next(Duration::from_secs(120)).await.expect("an event");
        if event.name == "end" {
            break event;
        }
        streamed.push_str(&event.data);
        streamed.push('\n');
    };
    assert_eq!(end.data, r#"{"status":"succeeded"}"#, "{streamed}");
    let after = stored_log(&store, id).await;
    assert!(after.starts_with(&before), "{before}\n---\n{after}");
    let rest = &after[before.len()..];
    assert!(rest.contains("bosun started this run again"), "{rest}");
    assert!(
        rest.contains("tick-6") && rest.contains("$ terraform plan"),
        "{rest}"
    );
    assert!(streamed.contains("tick-6"), "{streamed}");
    assert!(
        !streamed.contains("tick-1\n$"),
        "only what followed Last-Event-ID"
    );
    let runs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE kind = 'plan'")
        .fetch_one(
            &sqlx::SqlitePool::connect(&format!("sqlite://{}", data.join("bosun.db").display()))
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(runs, 1, "one run, taken up again");
    // The job goes on to write the project's check after the run's end.
    let deadline = Instant::now() + Duration::from_secs(30);
    while ctx.check(pr, "bosun/plan: envs/dev").conclusion.is_none() {
        assert!(
            Instant::now() < deadline,
            "the plan check was not completed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let check = ctx.check(pr, "bosun/plan: envs/dev");
    assert_eq!(check.conclusion.as_deref(), Some("success"));
    bosun.kill().unwrap();
    bosun.wait().unwrap();
}
