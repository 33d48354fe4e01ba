//! Webhooks that come late or never: GitHub does not retry them, and redelivers them out of
//! order. bosun plans a pull request as it is on GitHub, and a periodic reconciler repairs
//! what it missed.

use bosun::ids::PrNumber;
use bosun::ids::RepoKey;
use std::sync::Arc;

use bosun::reconcile::Reconciler;
use bosun::store::now_millis;

use crate::support::fake::payloads;
use crate::support::prs::module;
use crate::support::{INSTALLATION, REPO, TestContext};

/// `pull_request.synchronize` for `pr` as the model has it now (sent later, it is late).
fn synchronize(ctx: &TestContext, pr: u64) -> serde_json::Value {
    let m = ctx.fake.model();
    let repo = m.repo(REPO).unwrap();
    let mut p = payloads::pull_request(
        "synchronize",
        repo,
        &repo.prs[&pr],
        &ctx.fake.url,
        INSTALLATION,
        "alice",
    );
    p["before"] = serde_json::json!("0".repeat(40));
    p["after"] = serde_json::json!(repo.prs[&pr].head_sha);
    p
}

/// Runs one reconcile tick as the timer would, then waits for its jobs.
async fn reconcile(ctx: &TestContext) -> usize {
    let reconciler = Reconciler {
        store: ctx.store(),
        enqueued: Arc::new(tokio::sync::Notify::new()),
    };
    let n = reconciler.tick(now_millis()).await.unwrap();
    ctx.settle().await;
    n
}

#[tokio::test]
async fn a_synchronize_delivered_after_closed_takes_no_lock() {
    let ctx = TestContext::start().await;
    let tf = module(&ctx.state_file("dev"), &["app"]);
    let (pr, _) = ctx.open_pr("add dev", &[("envs/dev/main.tf", &tf)]).await;
    ctx.settle().await;
    let late = synchronize(&ctx, pr);
    ctx.close_pr(pr, false).await;
    ctx.settle().await;
    assert!(ctx.locks_of_repo().await.is_empty());

    ctx.fake.send_webhook("pull_request", late).await;
    ctx.settle().await;
    assert!(
        ctx.locks_of_repo().await.is_empty(),
        "the closed pull request holds no lock"
    );
    assert!(ctx.plans_of_pr(pr).await.is_empty());
    let kinds: Vec<String> = ctx
        .bot_comments(pr)
        .iter()
        .filter_map(|c| bosun::render::marker_kind(&c.body).map(str::to_owned))
        .collect();
    assert_eq!(
        kinds,
        ["plan", "closed"],
        "only the plan of the open PR and the locks its close released"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn the_reconciler_releases_the_locks_of_a_pr_closed_while_bosun_missed_it() {
    let ctx = TestContext::start().await;
    let tf = module(&ctx.state_file("dev"), &["app"]);
    let (pr, _) = ctx.open_pr("add dev", &[("envs/dev/main.tf", &tf)]).await;
    ctx.settle().await;
    assert_eq!(ctx.locks_of_pr(pr).await.len(), 1);
    // Closed on GitHub; the webhook never reached bosun.
    ctx.fake
        .model()
        .repo_mut(REPO)
        .unwrap()
        .prs
        .get_mut(&pr)
        .unwrap()
        .open = false;

    assert_eq!(reconcile(&ctx).await, 1);
    assert!(ctx.locks_of_repo().await.is_empty());
    assert!(ctx.plans_of_pr(pr).await.is_empty());
    assert_eq!(reconcile(&ctx).await, 0, "nothing left to check");
    ctx.finish().await;
}

#[tokio::test]
async fn the_reconciler_plans_an_open_pr_whose_head_has_no_plan() {
    let ctx = TestContext::start().await;
    let tf = module(&ctx.state_file("dev"), &["app"]);
    let (pr, _) = ctx.open_pr("add dev", &[("envs/dev/main.tf", &tf)]).await;
    ctx.settle().await;
    assert_eq!(reconcile(&ctx).await, 1);
    let plans = ctx
        .store()
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    let first = plans[0].created_at;
    assert_eq!(plans.len(), 1);

    // A push whose `synchronize` never came.
    let tf2 = module(&ctx.state_file("dev"), &["app", "db"]);
    let head = ctx.push_to_pr(pr, &[("envs/dev/main.tf", Some(&tf2))]);
    assert_eq!(reconcile(&ctx).await, 1);
    let plans = ctx
        .store()
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].head_sha, head);
    assert!(plans[0].created_at > first);
    let body = ctx.bot_comments(pr).last().unwrap().body.clone();
    assert!(body.contains("Plan: 2 to add"), "{body}");
    ctx.finish().await;
}

#[tokio::test]
async fn an_autoplan_that_fails_for_good_leaves_a_failed_plan_check_and_a_reply() {
    let ctx = TestContext::start().await;
    let tf = module(&ctx.state_file("dev"), &["app"]);
    // GitHub answers 502 to every read of the pull request while bosun plans it.
    ctx.fake.fail_next("/pulls/1", 502, &[], 100);
    let (pr, _) = ctx.open_pr("add dev", &[("envs/dev/main.tf", &tf)]).await;
    ctx.settle().await;
    ctx.fake.model().failures.clear();

    let check = ctx.check(pr, "bosun/plan");
    assert_eq!(check.status, "completed");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    let summary = check.summary.unwrap_or_default();
    assert!(summary.contains("502"), "the reason: {summary}");
    let body = ctx.bot_comment(pr).body;
    assert!(body.starts_with("<!-- bosun:job-failed -->"), "{body}");
    assert!(body.contains("502"), "{body}");
    ctx.finish().await;
}

#[tokio::test]
async fn an_autoplan_that_fails_on_a_github_outage_is_tried_again_and_plans() {
    let ctx = TestContext::start().await;
    let tf = module(&ctx.state_file("dev"), &["app"]);
    // More 502s than one attempt's retries: the job fails once, then plans.
    ctx.fake.fail_next("/pulls/1", 502, &[], 5);
    let (pr, _) = ctx.open_pr("add dev", &[("envs/dev/main.tf", &tf)]).await;
    ctx.settle().await;

    let check = ctx.check(pr, "bosun/plan: envs/dev");
    assert_eq!(check.conclusion.as_deref(), Some("success"));
    let body = ctx.bot_comment(pr).body;
    assert!(body.contains("Plan: 1 to add"), "{body}");
    let jobs = ctx
        .store()
        .jobs_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(
        jobs.iter()
            .map(|j| (j.status, j.attempts))
            .collect::<Vec<_>>(),
        [(bosun::store::JobStatus::Done, 2)]
    );
    ctx.finish().await;
}

#[tokio::test]
async fn the_reconciler_leaves_a_pr_planned_at_its_head_alone() {
    let ctx = TestContext::start().await;
    let a = module(&ctx.state_file("a"), &["app"]);
    let b = module(&ctx.state_file("b"), &["app"]);
    let (pr, _) = ctx
        .open_pr("a and b", &[("envs/a/main.tf", &a), ("envs/b/main.tf", &b)])
        .await;
    ctx.settle().await;
    // The PR stops changing envs/b: its plan there stays at the older head.
    ctx.push_to_pr(pr, &[("envs/b/main.tf", None)]);
    ctx.pr_event(pr, "synchronize").await;
    ctx.settle().await;
    let plans = |ctx: &TestContext| {
        let store = ctx.store();
        async move {
            let plans = store
                .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
                .await
                .unwrap();
            plans
                .into_iter()
                .map(|p| (p.target.dir, p.head_sha, p.created_at))
                .collect::<Vec<_>>()
        }
    };
    let before = plans(&ctx).await;
    assert_eq!(before.len(), 2);
    assert_ne!(before[0].1, before[1].1);

    assert_eq!(reconcile(&ctx).await, 1);
    assert_eq!(plans(&ctx).await, before, "not planned again");
    ctx.finish().await;
}
