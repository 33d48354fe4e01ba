//! Secrets stay secret: a value the operator passes through to Terraform reaches Terraform
//! but no comment, check run, stored plan, job summary, run log, page, API answer, SSE stream
//! or log line, even when the PR's code prints it (plain, base64, in an error, from a provisioner); planfiles are sealed at rest
//! and dropped once applied.

use base64::Engine as _;
use bosun::ids::PrNumber;
use bosun::ids::RepoKey;
use bosun::plan::Outcome;

use crate::support::prs::module;
use crate::support::{REPO, TestContext};

const SECRET: &str = "pass-through-s3cr3t-of-the-operator";

/// A project printing the pass-through variable at plan time (as a resource input and an
/// output, plain and base64) and at apply time (from a `local-exec` provisioner).
const LEAKY: &str = r#"
variable "token" {
  type = string
}

resource "terraform_data" "leak" {
  input = var.token

  provisioner "local-exec" {
    command = "echo leak:$TF_VAR_token; printf %s \"$TF_VAR_token\" | base64"
  }
}

output "encoded" {
  value = base64encode("x${var.token}")
}
"#;

/// A project whose plan fails with the secret in its error message.
const FAILING: &str = r#"
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

/// The forms of the secret that must appear nowhere.
fn leaks(text: &str) -> Vec<&'static str> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(SECRET);
    // A fragment of the base64 that does not depend on alignment.
    let fragment: &'static str = b64[4..24].to_owned().leak();
    [SECRET, "s3cr3t-of", fragment]
        .into_iter()
        .filter(|f| text.contains(f))
        .collect()
}

#[tokio::test]
async fn pass_through_secrets_reach_terraform_but_nothing_bosun_writes() {
    let logs = crate::support::logs::captured();
    let mut ctx = TestContext::without_bosun().await;
    ctx.sources
        .pass_env
        .insert("TF_VAR_token".into(), SECRET.into());
    ctx.set("terraform_pass_env", "TF_VAR_token");
    ctx.enable_sign_in();
    ctx.start_bosun().await;
    ctx.fake.set_permission(REPO, "alice", "write");

    let dev = format!("{}{LEAKY}", module(&ctx.state_file("dev"), &[]));
    let bad = format!("{}{FAILING}", module(&ctx.state_file("bad"), &[]));
    let (pr, _) = ctx
        .open_pr(
            "leaky",
            &[("envs/dev/main.tf", &dev), ("envs/bad/main.tf", &bad)],
        )
        .await;
    ctx.settle().await;

    let store = ctx.store();
    let plans = store
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(plans.len(), 2, "{plans:#?}");
    let (bad_plan, dev_plan) = (&plans[0], &plans[1]);
    let Outcome::Failed { output, .. } = &bad_plan.outcome else {
        panic!("envs/bad should fail: {bad_plan:#?}");
    };
    assert!(
        output.contains("the token [redacted] is too long"),
        "{output}"
    );
    let Outcome::Planned { text, .. } = &dev_plan.outcome else {
        panic!("envs/dev should plan: {dev_plan:#?}");
    };
    assert!(text.contains("input  = \"[redacted]\""), "{text}");
    assert!(text.contains("encoded = \"eH[redacted]\""), "{text}");
    assert!(dev_plan.planfile.is_some());

    // The planfile (which holds the variable's value) is sealed in the database.
    let db = format!("sqlite://{}", ctx.data_path().join("bosun.db").display());
    let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
    let raw: Vec<u8> = sqlx::query_scalar("SELECT planfile FROM plans WHERE dir = 'envs/dev'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let planfile = dev_plan.planfile.clone().unwrap();
    assert!(planfile.starts_with(b"PK"), "a planfile is a zip");
    assert!(!raw.starts_with(b"PK"));
    let chunk = &planfile[planfile.len() / 2..][..32];
    assert!(
        !raw.windows(32).any(|w| w == chunk),
        "the stored planfile is in plain"
    );

    ctx.comment(pr, "alice", "bosun apply -d envs/dev").await;
    ctx.settle().await;
    let applied = ctx
        .bot_comments(pr)
        .into_iter()
        .find(|c| c.body.contains("leak:"))
        .expect("an apply comment with the provisioner's output");
    assert!(applied.body.contains("leak:[redacted]"), "{}", applied.body);
    assert_eq!(
        ctx.check(pr, "bosun/apply: envs/dev").conclusion.as_deref(),
        Some("success")
    );

    // Applied: its planfile is gone, its plan stays for the summary.
    let plans = store
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(plans[1].target.dir, "envs/dev");
    assert_eq!(plans[1].planfile, None);
    let raw: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT planfile FROM plans WHERE dir = 'envs/dev'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(raw, None);
    // Applying again says it was applied, not that its plan failed.
    ctx.comment(pr, "alice", "bosun apply -d envs/dev").await;
    ctx.settle().await;
    let last = ctx.bot_comments(pr).pop().unwrap();
    assert!(last.body.contains("**already applied**"), "{}", last.body);

    // Nowhere: what bosun sent GitHub, what GitHub shows, what the store keeps, the logs.
    {
        let m = ctx.fake.model();
        for r in &m.requests {
            assert_eq!(
                leaks(&r.body),
                Vec::<&str>::new(),
                "{} {}",
                r.method,
                r.path
            );
        }
        let repo = m.repo(REPO).unwrap();
        for c in &repo.comments {
            assert_eq!(leaks(&c.body), Vec::<&str>::new(), "{}", c.body);
        }
        for c in &repo.check_runs {
            assert_eq!(leaks(&format!("{c:?}")), Vec::<&str>::new(), "{c:?}");
        }
    }
    for p in store
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap()
    {
        assert_eq!(leaks(&format!("{:?}", p.outcome)), Vec::<&str>::new());
    }
    let jobs = store
        .jobs_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert!(jobs.len() >= 2);
    for j in jobs {
        assert_eq!(leaks(&format!("{j:?}")), Vec::<&str>::new(), "{j:?}");
    }
    let dumped: Vec<String> = sqlx::query_scalar("SELECT outcome FROM plans")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(leaks(&dumped.join("\n")), Vec::<&str>::new());
    // The runs' logs, streamed into the store line by line, hold the redacted output.
    let logged: Vec<String> = sqlx::query_scalar("SELECT chunk FROM run_log ORDER BY run_id, seq")
        .fetch_all(&pool)
        .await
        .unwrap();
    let logged = logged.concat();
    assert!(logged.contains("leak:[redacted]"), "{logged}");
    assert!(
        logged.contains("the token [redacted] is too long"),
        "{logged}"
    );
    assert_eq!(leaks(&logged), Vec::<&str>::new());
    // Nor any page or API answer a signed-in person reads: the runs' pages and their logs,
    // whole and as Server-Sent Events, the audit trail, the repository and the overview.
    let runs: Vec<i64> = sqlx::query_scalar("SELECT id FROM runs ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(runs.len() >= 3, "two plans and an apply: {runs:?}");
    let (alice, _) = crate::support::signed_in::sign_in(&ctx, "alice", "/").await;
    let mut paths = vec![
        "/".to_owned(),
        "/locks".to_owned(),
        format!("/repos/{REPO}"),
        format!("/audit?repo={REPO}"),
        format!("/api/audit?repo={REPO}"),
        "/api/locks".to_owned(),
    ];
    for id in &runs {
        paths.push(format!("/runs/{id}"));
        paths.push(format!("/api/runs/{id}"));
        paths.push(format!("/api/runs/{id}/log"));
    }
    let mut redacted_shown = 0;
    for path in &paths {
        let r = alice.send(&ctx, http::Method::GET, path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(leaks(&r.text()), Vec::<&str>::new(), "{path}");
        redacted_shown += usize::from(r.text().contains("[redacted]"));
    }
    for id in &runs {
        let path = format!("/api/runs/{id}/log");
        let r = crate::support::signed_in::send(
            &ctx,
            http::Method::GET,
            &path,
            &[
                ("cookie", format!("bosun_session={}", alice.session)),
                ("accept", "text/event-stream".to_owned()),
            ],
        )
        .await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.headers["content-type"], "text/event-stream", "{path}");
        assert!(r.text().contains("event: end"), "{path}: {}", r.text());
        assert_eq!(leaks(&r.text()), Vec::<&str>::new(), "{path} as SSE");
        redacted_shown += usize::from(r.text().contains("[redacted]"));
    }
    // The output that would have held the secret is on them, redacted.
    assert!(
        redacted_shown >= 6,
        "{redacted_shown} answers show [redacted]"
    );

    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(logs.contains("job done"), "the logs were captured");
    assert_eq!(leaks(&logs), Vec::<&str>::new());
    ctx.finish().await;
}
