//! GitHub that fails the way it does in production: a 502 answered after a create was made,
//! a pull request closed while bosun missed the webhook. bosun makes each thing once and
//! repairs what it missed.

use bosun::ids::{InstallationId, Sha};
use std::sync::Arc;

use bosun::github::{CheckRunSpec, CheckStatus, GitHub};
use bosun::metrics::Metrics;

use crate::support::prs::module;
use crate::support::{INSTALLATION, REPO, TestContext, fast_retry};

fn client(ctx: &TestContext) -> GitHub {
    GitHub::new(
        &ctx.settings().github,
        fast_retry(),
        Arc::new(Metrics::default()),
    )
    .unwrap()
}

#[tokio::test]
async fn a_comment_answered_502_after_it_was_made_is_posted_once() {
    let ctx = TestContext::without_bosun().await;
    let (number, _) = ctx.open_pr("x", &[("a.tf", "")]).await;
    let gh = client(&ctx);
    ctx.fake
        .fail_next_after_acting("POST", "/issues/1/comments", 502, 1);
    let made = gh
        .create_comment(
            InstallationId(INSTALLATION),
            REPO,
            number,
            "<!-- bosun:test -->\nonce",
        )
        .await
        .unwrap();
    let comments = ctx.fake.model().repo(REPO).unwrap().comments.clone();
    assert_eq!(
        comments.iter().map(|c| c.id).collect::<Vec<_>>(),
        [made.id],
        "one comment, and the one returned"
    );
    // A 502 before GitHub acted: looked for, not found, sent again.
    ctx.fake.fail_next("/issues/1/comments", 502, &[], 1);
    gh.create_comment(InstallationId(INSTALLATION), REPO, number, "second")
        .await
        .unwrap();
    assert_eq!(ctx.fake.model().repo(REPO).unwrap().comments.len(), 2);
    // A person's comment with the very text (marker and all) does not count as bosun's.
    let copied = "<!-- bosun:test -->\ncopied";
    ctx.fake.add_comment(REPO, number, "mallory", copied);
    ctx.fake.fail_next("/issues/1/comments", 502, &[], 1);
    let made = gh
        .create_comment(InstallationId(INSTALLATION), REPO, number, copied)
        .await
        .unwrap();
    let model = ctx.fake.model();
    let comments = &model.repo(REPO).unwrap().comments;
    assert_eq!(comments.len(), 4);
    let last = comments.last().unwrap();
    assert_eq!(last.id, made.id);
    assert!(last.author_is_bot, "{}", last.author);
    drop(model);
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn a_comment_whose_creation_timed_out_after_it_was_made_is_posted_once() {
    let ctx = TestContext::without_bosun().await;
    let (number, _) = ctx.open_pr("x", &[("a.tf", "")]).await;
    let gh = GitHub::with_timeout(
        &ctx.settings().github,
        fast_retry(),
        Arc::new(Metrics::default()),
        std::time::Duration::from_secs(1),
    )
    .unwrap();
    ctx.fake
        .hang_next_after_acting("POST", "/issues/1/comments", 1);
    let made = gh
        .create_comment(
            InstallationId(INSTALLATION),
            REPO,
            number,
            "<!-- bosun:test -->\nslow",
        )
        .await
        .unwrap();
    let comments = ctx.fake.model().repo(REPO).unwrap().comments.clone();
    assert_eq!(
        comments.iter().map(|c| c.id).collect::<Vec<_>>(),
        [made.id],
        "one comment, and the one returned"
    );
    assert_eq!(
        ctx.fake.requests("POST", "/issues/1/comments").len(),
        0,
        "the hung POST never got an answer recorded"
    );
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn a_check_run_answered_502_after_it_was_made_is_created_once() {
    let ctx = TestContext::without_bosun().await;
    let (number, _) = ctx.open_pr("x", &[("a.tf", "")]).await;
    let head = ctx.fake.model().repo(REPO).unwrap().prs[&number]
        .head_sha
        .clone();
    let gh = client(&ctx);
    ctx.fake
        .fail_next_after_acting("POST", "/check-runs", 502, 1);
    let spec = CheckRunSpec {
        name: "bosun/plan: envs/dev".into(),
        head_sha: Sha::new(head),
        status: CheckStatus::Queued,
        title: "Queued".into(),
        summary: "Waiting.".into(),
        text: None,
        external_id: Some("job-1".into()),
        details_url: None,
    };
    let id = gh
        .create_check_run(InstallationId(INSTALLATION), REPO, &spec)
        .await
        .unwrap();
    let runs = ctx.fake.model().repo(REPO).unwrap().check_runs.clone();
    assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), [id]);
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn a_502_on_check_run_creation_during_autoplan_still_ends_in_one_completed_check() {
    let ctx = TestContext::start().await;
    let tf = module(&ctx.state_file("dev"), &["app"]);
    ctx.fake
        .fail_next_after_acting("POST", "/check-runs", 502, 1);
    let (pr, _) = ctx.open_pr("add dev", &[("envs/dev/main.tf", &tf)]).await;
    ctx.settle().await;

    let runs: Vec<_> = {
        let m = ctx.fake.model();
        let repo = m.repo(REPO).unwrap();
        let head = repo.prs[&pr].head_sha.clone();
        repo.check_runs
            .iter()
            .filter(|c| c.head_sha == head && c.name == "bosun/plan: envs/dev")
            .cloned()
            .collect()
    };
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].status, "completed");
    assert_eq!(runs[0].conclusion.as_deref(), Some("success"));
    ctx.bot_comment(pr);
    ctx.finish().await;
}

#[tokio::test]
async fn a_plan_comment_answered_502_after_it_was_made_is_posted_once() {
    let ctx = TestContext::start().await;
    let tf = module(&ctx.state_file("dev"), &["app"]);
    ctx.fake
        .fail_next_after_acting("POST", "/issues/1/comments", 502, 1);
    let (pr, _) = ctx.open_pr("add dev", &[("envs/dev/main.tf", &tf)]).await;
    ctx.settle().await;
    let body = ctx.bot_comment(pr).body;
    assert!(body.contains("Plan: 1 to add"), "{body}");
    ctx.finish().await;
}
