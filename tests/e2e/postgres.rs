//! bosun on the PostgreSQL store: a pull request planned and applied with
//! `BOSUN_DATABASE_URL` naming a real PostgreSQL server (started by the tests, see
//! `support::pg`), and start-up refusing PostgreSQL without a planfile key in the settings.

use bosun::ids::PrNumber;
use bosun::ids::RepoKey;
use std::process::Command;

use bosun::store::ApplyStatus;
use sqlx::Connection as _;

use crate::support::prs::module;
use crate::support::{KEY_FILE, REPO, TestContext, pg};

#[tokio::test]
async fn a_pull_request_plans_and_applies_on_the_postgres_store() {
    let url = pg::fresh_database().await;
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("database_url", &url);
    ctx.set("planfile_key", &"ab".repeat(32));
    ctx.start_bosun().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    let state = ctx.state_file("dev");
    let tf = module(&state, &["app", "db"]);
    let (pr, _) = ctx
        .open_pr("add dev", &[("envs/dev/main.tf", tf.as_str())])
        .await;
    ctx.settle().await;
    assert_eq!(ctx.locks_of_pr(pr).await.len(), 1);

    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let body = ctx.reply(pr, "apply");
    assert!(
        body.contains("Apply complete! Resources: 2 added, 0 changed, 0 destroyed."),
        "{body}"
    );
    let applies = ctx
        .store()
        .applies_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(applies.len(), 1);
    assert_eq!(applies[0].status, ApplyStatus::Succeeded);

    // It all went to PostgreSQL: the delivery, the plan, the apply; no SQLite file was made.
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    let (deliveries, plans, applied): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM processed_events),
                (SELECT count(*) FROM plans),
                (SELECT count(*) FROM applies WHERE status = 'succeeded')",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert!(deliveries >= 2, "the open and the comment: {deliveries}");
    assert_eq!((plans, applied), (1, 1));
    assert!(!ctx.data_dir.path().join("bosun.db").exists());
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

/// Another replica running Terraform on the project: bosun's plan of it waits for that run
/// to end (the session advisory lock of `Store::hold_run`), then plans.
#[tokio::test]
async fn a_plan_waits_for_another_replicas_run_of_the_project() {
    let url = pg::fresh_database().await;
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("database_url", &url);
    ctx.set("planfile_key", &"ab".repeat(32));
    ctx.start_bosun().await;
    let other = bosun::store::open(&url, bosun::store::Sealer::ephemeral().unwrap())
        .await
        .unwrap();
    let held = other
        .hold_run("acme/infra\nenvs/dev\ndefault")
        .await
        .unwrap();
    let state = ctx.state_file("dev");
    let tf = module(&state, &["app"]);
    ctx.open_pr("add dev", &[("envs/dev/main.tf", tf.as_str())])
        .await;
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    let waits = async {
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
            )
            .fetch_one(&mut db)
            .await
            .unwrap();
            if waiting == 1 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), waits)
        .await
        .expect("bosun's plan waits for the other replica's run");
    let plans: i64 = sqlx::query_scalar("SELECT count(*) FROM plans")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(plans, 0, "nothing planned while the other run lasts");
    drop(held);
    ctx.settle().await;
    let plans: i64 = sqlx::query_scalar("SELECT count(*) FROM plans")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(plans, 1, "planned once the other run ended");
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[test]
fn start_up_refuses_postgres_without_a_planfile_key_and_never_shows_the_url() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bosun"))
        .arg("serve")
        .env_clear()
        .env("BOSUN_GITHUB_APP_ID", "1")
        .env("BOSUN_GITHUB_APP_KEY_FILE", KEY_FILE)
        .env("BOSUN_GITHUB_WEBHOOK_SECRET", "s3cret-s3cret")
        .env("BOSUN_DATA_DIR", data.path())
        .env(
            "BOSUN_DATABASE_URL",
            "postgres://bosun:pw-8c1e0f3a@127.0.0.1:1/bosun",
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(
            "bosun: BOSUN_PLANFILE_KEY (--planfile-key): a PostgreSQL store needs the planfile key"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("every replica must open the planfiles"),
        "{stderr}"
    );
    assert!(!stderr.contains("pw-8c1e0f3a"), "{stderr}");
    assert!(
        !data.path().join("planfile.key").exists(),
        "no key was made in the data dir"
    );
}
