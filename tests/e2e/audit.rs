//! The audit trail (`GET /api/audit`): a plan, a refused apply, an apply and an unlock by
//! comment, and the operator's API calls, each one entry with who, what, where and how it
//! ended; filters and pages; the JSON lines export; entries never change afterwards.

use bytes::Bytes;
use http::Method;
use serde_json::Value;

use crate::support::prs::module;
use crate::support::{REPO, TestContext};

const TOKEN: &str = "audit-test-token-0123456789abcdef";

async fn call(ctx: &TestContext, method: Method, path: &str, accept: Option<&str>) -> (u16, Bytes) {
    let mut headers = vec![("authorization", format!("Bearer {TOKEN}"))];
    if let Some(accept) = accept {
        headers.push(("accept", accept.to_owned()));
    }
    let reply = ctx
        .http
        .send(method, &ctx.url(path), &headers, Bytes::new())
        .await
        .unwrap();
    (reply.status.as_u16(), reply.body)
}

/// One page of `GET /api/audit?{query}`.
async fn page(ctx: &TestContext, query: &str) -> Value {
    let (status, body) = call(ctx, Method::GET, &format!("/api/audit?{query}"), None).await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{query}: {text}");
    serde_json::from_slice(&body).unwrap()
}

fn entries(page: &Value) -> Vec<Value> {
    page["entries"].as_array().expect("entries").clone()
}

/// (kind, actor kind, actor name, project, outcome) of each entry, oldest first.
fn story(entries: &[Value]) -> Vec<(String, String, String, String, String)> {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let mut out: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                s(&e["kind"]),
                s(&e["actor"]["kind"]),
                s(&e["actor"]["name"]),
                s(&e["project"]["name"]),
                s(&e["outcome"]),
            )
        })
        .collect();
    out.reverse();
    out
}

fn row(
    kind: &str,
    actor: &str,
    name: &str,
    project: &str,
    outcome: &str,
) -> (String, String, String, String, String) {
    (
        kind.into(),
        actor.into(),
        name.into(),
        project.into(),
        outcome.into(),
    )
}

#[tokio::test]
async fn the_trail_records_who_did_what_and_serves_it_filtered_paged_and_exported() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("api_token", TOKEN);
    ctx.set("public_url", "https://bosun.example.com");
    ctx.start_bosun().await;
    let (status, _) = call(&ctx, Method::GET, "/api/audit", None).await;
    assert_eq!(status, 200);
    let state = ctx.state_file("dev");
    let (pr, _) = ctx
        .open_pr("dev", &[("envs/dev/main.tf", &module(&state, &["app"]))])
        .await;
    ctx.settle().await;
    let head = ctx.fake.model().repo(REPO).unwrap().prs[&pr]
        .head_sha
        .clone();

    // The operator locks applies: alice's apply is refused; unlocked, it applies.
    assert_eq!(
        call(&ctx, Method::POST, "/api/apply-lock", None).await.0,
        200
    );
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert_eq!(
        call(&ctx, Method::DELETE, "/api/apply-lock", None).await.0,
        200
    );
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    // bob releases the lock by comment.
    ctx.comment(pr, "bob", "bosun unlock").await;
    ctx.settle().await;

    let all = entries(&page(&ctx, &format!("repo=acme/infra&pr={pr}")).await);
    assert_eq!(
        story(&all),
        vec![
            row("lock_taken", "bosun", "bosun", "envs/dev", "taken"),
            row("plan", "bosun", "bosun", "envs/dev", "planned"),
            row("apply_refused", "github", "alice", "-", "refused"),
            row("apply", "github", "alice", "envs/dev", "applied"),
            row("lock_released", "github", "bob", "envs/dev", "released"),
            row("unlock", "github", "bob", "envs/dev", "unlocked"),
        ],
        "{all:#?}"
    );
    for e in &all {
        assert_eq!(e["repo"], REPO);
        assert_eq!(e["pr"], pr);
        assert!(e["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
    }
    let by_kind = |kind: &str| all.iter().find(|e| e["kind"] == kind).unwrap().clone();
    for kind in ["plan", "apply", "unlock"] {
        assert_eq!(by_kind(kind)["sha"], head.as_str(), "{kind}");
    }
    let plan = by_kind("plan");
    assert_eq!(plan["project"]["dir"], "envs/dev");
    assert_eq!(plan["project"]["workspace"], "default");
    assert!(
        plan["detail"].as_str().unwrap().contains("Plan: 1 to add"),
        "{plan}"
    );
    let refused = by_kind("apply_refused");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("Applies are disabled"),
        "{refused}"
    );
    assert!(
        by_kind("apply")["detail"]
            .as_str()
            .unwrap()
            .contains("Apply complete!")
    );
    // The plan and the apply link to their runs' logs; the others ran no Terraform.
    for (kind, run_kind) in [("plan", "plan"), ("apply", "apply")] {
        let e = by_kind(kind);
        let id = e["run_id"]
            .as_i64()
            .unwrap_or_else(|| panic!("{kind}: {e}"));
        assert_eq!(
            e["run_url"],
            format!("https://bosun.example.com/runs/{id}"),
            "{e}"
        );
        let (status, body) = call(&ctx, Method::GET, &format!("/api/runs/{id}"), None).await;
        assert_eq!(status, 200);
        let run: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(run["kind"], run_kind, "{run}");
        assert_eq!(run["dir"], "envs/dev", "{run}");
        assert_eq!(run["pr"], pr, "{run}");
    }
    for kind in ["lock_taken", "apply_refused", "unlock"] {
        assert_eq!(by_kind(kind)["run_id"], Value::Null, "{kind}");
    }

    // The operator's calls, not about one repository.
    let calls = entries(&page(&ctx, "kind=api_call").await);
    assert_eq!(
        story(&calls),
        vec![
            row("api_call", "api_token", "operator", "-", "locked"),
            row("api_call", "api_token", "operator", "-", "unlocked"),
        ]
    );
    assert_eq!(calls[0]["repo"], Value::Null);

    // Filters.
    let ids = |v: &[Value]| v.iter().map(|e| e["id"].clone()).collect::<Vec<_>>();
    let only = |kind: &str| {
        ids(&all
            .iter()
            .filter(|e| e["kind"] == kind)
            .cloned()
            .collect::<Vec<_>>())
    };
    assert_eq!(
        ids(&entries(&page(&ctx, "kind=apply").await)),
        only("apply")
    );
    assert_eq!(entries(&page(&ctx, "user=ALICE").await).len(), 2);
    assert_eq!(
        entries(&page(&ctx, "user=bob&project=envs/dev").await).len(),
        2
    );
    assert!(entries(&page(&ctx, "repo=acme/other").await).is_empty());
    assert!(entries(&page(&ctx, "pr=99").await).is_empty());
    assert!(entries(&page(&ctx, "since=2999-01-01T00:00:00Z").await).is_empty());
    assert_eq!(
        entries(&page(&ctx, "until=2999-01-01T00:00:00%2B02:00&repo=acme/infra").await).len(),
        6
    );

    // Pages of two walk the same entries, newest first.
    let mut walked = Vec::new();
    let mut query = "repo=acme/infra&limit=2".to_owned();
    loop {
        let p = page(&ctx, &query).await;
        walked.extend(entries(&p));
        match p["next"].as_str() {
            Some(next) => query = format!("repo=acme/infra&limit=2&before={next}"),
            None => break,
        }
    }
    assert_eq!(walked, all);

    // The export: the same entries as JSON lines, by Accept or by format.
    for (path, accept) in [
        ("/api/audit?repo=acme/infra", Some("application/x-ndjson")),
        ("/api/audit?repo=acme/infra&format=jsonl", None),
    ] {
        let (status, body) = call(&ctx, Method::GET, path, accept).await;
        assert_eq!(status, 200);
        let lines: Vec<Value> = String::from_utf8_lossy(&body)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines, all, "{path}");
    }

    // Bad parameters are named; no token, no trail.
    for (query, param) in [
        ("pr=abc", "`pr`"),
        ("limit=9999", "`limit`"),
        ("since=noon", "`since`"),
        ("who=me", "`who`"),
    ] {
        let (status, body) = call(&ctx, Method::GET, &format!("/api/audit?{query}"), None).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, 400, "{query}: {text}");
        assert!(text.contains(param), "{query}: {text}");
    }
    let anonymous = ctx.http.get(&ctx.url("/api/audit")).await;
    assert_eq!(anonymous.status, 401);
    assert!(!anonymous.text().contains("acme/infra"));

    // More work appends; what was recorded stays exactly as it was.
    ctx.comment(pr, "alice", "bosun plan").await;
    ctx.settle().await;
    let after = entries(&page(&ctx, &format!("repo=acme/infra&pr={pr}")).await);
    assert!(after.len() > all.len(), "{after:#?}");
    assert_eq!(after[after.len() - all.len()..], all[..]);
    let newest = &after[0];
    assert_eq!(newest["kind"], "plan");
    assert_eq!(newest["actor"]["name"], "alice");
    ctx.finish().await;
}

#[tokio::test]
async fn drift_runs_api_calls_and_config_errors_are_recorded() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("api_token", TOKEN);
    ctx.start_bosun().await;
    let state = ctx.state_file("dev");
    let head = ctx.push_base(&[("envs/dev/main.tf", Some(&module(&state, &["app"])))]);
    let (status, _) = call(&ctx, Method::POST, "/api/drift/acme/infra", None).await;
    assert_eq!(status, 202);
    ctx.settle().await;
    let all = entries(&page(&ctx, "repo=acme/infra").await);
    assert_eq!(
        story(&all),
        vec![
            row("api_call", "api_token", "operator", "-", "queued"),
            row("drift_run", "api_token", "operator", "-", "drifted"),
        ],
        "{all:#?}"
    );
    assert_eq!(all[0]["sha"], head.as_str());
    assert!(
        all[0]["detail"].as_str().unwrap().contains("(api)"),
        "{}",
        all[0]
    );

    // A repo config that does not parse: an error entry by bosun, at the head planned.
    let (pr, _) = ctx
        .open_pr("bad config", &[("bosun.yaml", "version: 3\nprojects: [\n")])
        .await;
    ctx.settle().await;
    let errors = entries(&page(&ctx, "kind=config_error").await);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0]["pr"], pr);
    assert_eq!(errors[0]["actor"]["kind"], "bosun");
    assert!(
        errors[0]["detail"].as_str().unwrap().contains("bosun.yaml"),
        "{}",
        errors[0]
    );
    ctx.finish().await;
}

#[tokio::test]
async fn a_trail_that_cannot_be_written_never_stops_the_work() {
    let logs = crate::support::logs::captured();
    let ctx = TestContext::start().await;
    let db = format!("sqlite://{}", ctx.data_path().join("bosun.db").display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE audit RENAME TO audit_gone")
        .execute(&mut conn)
        .await
        .unwrap();
    let state = ctx.state_file("dev");
    let (pr, _) = ctx
        .open_pr("dev", &[("envs/dev/main.tf", &module(&state, &["app"]))])
        .await;
    ctx.settle().await;
    let body = ctx.bot_comment(pr).body;
    assert!(body.contains("Plan: 1 to add"), "{body}");
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        text.contains("recording an audit entry failed"),
        "no error logged"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn a_failed_plan_is_recorded_with_its_error_and_no_secret() {
    const SECRET: &str = "audit-pass-through-s3cr3t-value";
    let failing = r#"
variable "token" {
  type = string
}

resource "terraform_data" "bad" {
  input = "x"

  lifecycle {
    precondition {
      condition     = length(var.token) < 5
      error_message = "the token ${var.token} is too long"
    }
  }
}
"#;
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("api_token", TOKEN);
    ctx.sources
        .pass_env
        .insert("TF_VAR_token".into(), SECRET.into());
    ctx.set("terraform_pass_env", "TF_VAR_token");
    ctx.start_bosun().await;
    let bad = format!("{}{failing}", module(&ctx.state_file("bad"), &[]));
    let (pr, _) = ctx.open_pr("bad", &[("envs/bad/main.tf", &bad)]).await;
    ctx.settle().await;
    let plans = entries(&page(&ctx, &format!("kind=plan&pr={pr}")).await);
    assert_eq!(plans.len(), 1, "{plans:#?}");
    assert_eq!(plans[0]["outcome"], "failed");
    let detail = plans[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("the token [redacted] is too long"),
        "{detail}"
    );
    for path in ["/api/audit", "/api/audit?format=jsonl"] {
        let (_, body) = call(&ctx, Method::GET, path, None).await;
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains(SECRET) && !text.contains("s3cr3t"), "{text}");
    }
    ctx.finish().await;
}

#[tokio::test]
async fn a_lock_taken_at_apply_is_recorded_by_whoever_applies() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("api_token", TOKEN);
    ctx.set("allowed_overrides", "repo_locks");
    ctx.start_bosun().await;
    let config = "version: 3\nprojects:\n- dir: a\n  repo_locks: {mode: on_apply}\n";
    ctx.push_base(&[("bosun.yaml", Some(config))]);
    let state = ctx.state_file("a");
    let (pr, _) = ctx
        .open_pr("a", &[("a/main.tf", &module(&state, &["one"]))])
        .await;
    ctx.settle().await;
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let all = entries(&page(&ctx, &format!("pr={pr}")).await);
    assert_eq!(
        story(&all),
        vec![
            row("plan", "bosun", "bosun", "a", "planned"),
            row("lock_taken", "github", "alice", "a", "taken"),
            row("apply", "github", "alice", "a", "applied"),
        ],
        "{all:#?}"
    );
    ctx.finish().await;
}
