//! A plan spread across replicas: two bosuns on one PostgreSQL database plan the projects of
//! one pull request between them (plan tasks), and the first reports them in one comment; a
//! task whose claimer died is planned by a live replica once its lease ran out.

use bosun::ids::PrNumber;
use bosun::ids::RepoKey;
use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::Connection as _;

use crate::support::prs::module;
use crate::support::{TestContext, pg};

/// `n` projects `p0`… in one pull request: their files, with a state file each.
fn projects(ctx: &TestContext, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let tf = module(&ctx.state_file(&format!("p{i}")), &["app"]);
            (format!("envs/p{i}/main.tf"), tf)
        })
        .collect()
}

async fn on_postgres(instance: &str, parallelism: &str) -> (TestContext, String) {
    let url = pg::fresh_database().await;
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("database_url", &url);
    ctx.set("planfile_key", &"ab".repeat(32));
    ctx.set("instance_id", instance);
    ctx.set("parallelism", parallelism);
    ctx.start_bosun().await;
    (ctx, url)
}

/// Who planned each project, from the store's closed tasks.
async fn planned_by(url: &str) -> BTreeMap<String, String> {
    let mut db = sqlx::PgConnection::connect(url).await.unwrap();
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT dir, claimed_by FROM plan_tasks ORDER BY dir")
            .fetch_all(&mut db)
            .await
            .unwrap();
    rows.into_iter()
        .map(|(dir, by)| (dir, by.unwrap_or_default()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_plan_one_pull_requests_projects_and_one_comment_reports_them_all() {
    let (ctx, url) = on_postgres("a", "2").await;
    let (b, _b_dir) = ctx.start_replica("b").await;
    let files = projects(&ctx, 8);
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let (pr, _) = ctx.open_pr("eight envs", &files).await;
    ctx.settle().await;

    let by = planned_by(&url).await;
    assert_eq!(by.len(), 8, "{by:?}");
    for replica in ["a", "b"] {
        assert!(
            by.values().any(|v| v == replica),
            "replica {replica} planned nothing: {by:?}"
        );
    }
    let body = ctx.bot_comment(pr).body;
    for i in 0..8 {
        assert!(
            body.contains(&format!("envs/p{i}")),
            "project p{i} missing: {body}"
        );
        let check = ctx.check(pr, &format!("bosun/plan: envs/p{i}"));
        assert_eq!(check.conclusion.as_deref(), Some("success"), "p{i}");
    }
    assert_eq!(body.matches("**Plan: 1 to add").count(), 8, "{body}");
    // Every plan is stored, with its planfile, wherever it was made.
    let plans = ctx
        .store()
        .plans_of_pr(&RepoKey::new(crate::support::REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(plans.len(), 8);
    assert!(plans.iter().all(|p| p.planfile.is_some()));
    b.shutdown().await;
    ctx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_whose_claimer_died_is_planned_by_a_live_replica_after_its_lease() {
    // One live replica planning one project at a time, and one that claims a task and dies.
    let (ctx, url) = on_postgres("live", "1").await;
    let dead = bosun::store::open(&url, bosun::store::Sealer::ephemeral().unwrap())
        .await
        .unwrap();
    let claimer = tokio::spawn(async move {
        loop {
            let lease = Duration::from_secs(2);
            let now = bosun::store::now_millis();
            if let Some(task) = dead.claim_task(now, lease, "dead", 3).await.unwrap() {
                return (dead, task);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let files = projects(&ctx, 3);
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let (pr, _) = ctx.open_pr("three envs", &files).await;
    let (dead, task) = tokio::time::timeout(Duration::from_secs(60), claimer)
        .await
        .expect("the dying replica claimed a task")
        .unwrap();
    ctx.settle().await;

    let by = planned_by(&url).await;
    assert_eq!(by.len(), 3);
    assert!(by.values().all(|v| v == "live"), "{by:?}");
    let body = ctx.bot_comment(pr).body;
    assert_eq!(body.matches("**Plan: 1 to add").count(), 3, "{body}");
    let check = ctx.check(pr, &format!("bosun/plan: {}", task.target.dir));
    assert_eq!(check.conclusion.as_deref(), Some("success"));
    // The dead replica's outcome, arriving late, is refused.
    let plans = ctx
        .store()
        .plans_of_pr(&RepoKey::new(crate::support::REPO), PrNumber(pr))
        .await
        .unwrap();
    let mine = plans
        .iter()
        .find(|p| p.target == task.target)
        .unwrap()
        .clone();
    assert!(
        !dead
            .finish_task(task.claim(), "{}", &mine, 0)
            .await
            .unwrap()
    );
    ctx.finish().await;
}
