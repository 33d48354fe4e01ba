//! The summary check runs `bosun/plan` and `bosun/apply` (Atlantis's `atlantis/plan` and
//! `atlantis/apply` under BOSUN_STATUS_NAME=atlantis): one stable name per command that
//! branch protection can require, beside each project's own check run.

use crate::support::prs::module;
use crate::support::{REPO, TestContext};

/// Opens a pull request adding `envs/dev` and `envs/prod` (`prod` broken when `broken`) and
/// waits for its plan.
async fn open_two(ctx: &TestContext, broken: bool) -> u64 {
    let dev = module(&ctx.state_file("dev"), &["app"]);
    let prod = if broken {
        "resource \"terraform_data\" \"x\" {\n  input = \n}\n".to_owned()
    } else {
        module(&ctx.state_file("prod"), &["app"])
    };
    let (pr, _) = ctx
        .open_pr(
            "two projects",
            &[("envs/dev/main.tf", &dev), ("envs/prod/main.tf", &prod)],
        )
        .await;
    ctx.settle().await;
    pr
}

/// The conclusion and title of the newest check run `name` on the head of `pr`, and every
/// state it went through.
fn summary(ctx: &TestContext, pr: u64, name: &str) -> (String, String, Vec<String>) {
    let check = ctx.check(pr, name);
    (
        check.conclusion.unwrap_or_default(),
        check.title.unwrap_or_default(),
        check.history,
    )
}

#[tokio::test]
async fn two_projects_planned_give_one_successful_plan_summary_beside_theirs() {
    let ctx = TestContext::start().await;
    let pr = open_two(&ctx, false).await;

    assert_eq!(
        ctx.check_names(pr),
        [
            "bosun/plan",
            "bosun/plan: envs/dev",
            "bosun/plan: envs/prod"
        ]
    );
    let (conclusion, title, history) = summary(&ctx, pr, "bosun/plan");
    assert_eq!(conclusion, "success");
    assert_eq!(title, "2/2 projects planned successfully");
    assert_eq!(
        history.first().map(String::as_str),
        Some("in_progress"),
        "{history:?}"
    );
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test]
async fn a_failing_project_fails_the_plan_summary() {
    let ctx = TestContext::start().await;
    let pr = open_two(&ctx, true).await;

    let (conclusion, title, _) = summary(&ctx, pr, "bosun/plan");
    assert_eq!(conclusion, "failure");
    assert_eq!(title, "1/2 projects planned successfully");
    ctx.finish().await;
}

#[tokio::test]
async fn a_pr_with_no_project_gets_a_successful_zero_of_zero_plan_summary() {
    let ctx = TestContext::start().await;
    let (pr, _) = ctx.open_pr("docs", &[("README.md", "words")]).await;
    ctx.settle().await;

    assert_eq!(ctx.check_names(pr), ["bosun/plan"]);
    let (conclusion, title, _) = summary(&ctx, pr, "bosun/plan");
    assert_eq!(conclusion, "success");
    assert_eq!(title, "0/0 projects planned successfully");
    ctx.finish().await;
}

#[tokio::test]
async fn an_apply_gives_one_apply_summary() {
    let ctx = TestContext::start().await;
    let pr = open_two(&ctx, false).await;
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;

    let names = ctx.check_names(pr);
    for name in [
        "bosun/apply",
        "bosun/apply: envs/dev",
        "bosun/apply: envs/prod",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    let (conclusion, title, _) = summary(&ctx, pr, "bosun/apply");
    assert_eq!(conclusion, "success");
    assert_eq!(title, "2/2 projects applied successfully");
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test]
async fn with_status_name_atlantis_the_summaries_are_atlantis_and_a_mergeable_apply_passes() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("status_name", "atlantis");
    ctx.start_bosun().await;
    // Branch protection requires both summaries, as a team moving from Atlantis has it.
    ctx.fake
        .protect(REPO, &["atlantis/plan", "atlantis/apply"], 0);
    let config = "version: 3\nprojects:\n  - dir: envs/dev\n    apply_requirements: [mergeable]\n  - dir: envs/prod\n    apply_requirements: [mergeable]\n";
    ctx.push_base(&[("bosun.yaml", Some(config))]);
    let pr = open_two(&ctx, false).await;

    let (conclusion, title, _) = summary(&ctx, pr, "atlantis/plan");
    assert_eq!(
        (conclusion.as_str(), title.as_str()),
        ("success", "2/2 projects planned successfully")
    );
    assert!(!ctx.check_names(pr).iter().any(|n| n == "bosun/plan"));

    // `atlantis/apply` has not reported and blocks merging: it is bosun's own, so the
    // apply it waits for is not refused as unmergeable.
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let (conclusion, title, _) = summary(&ctx, pr, "atlantis/apply");
    assert_eq!(
        (conclusion.as_str(), title.as_str()),
        ("success", "2/2 projects applied successfully")
    );
    assert!(!ctx.check_names(pr).iter().any(|n| n == "bosun/apply"));
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test]
async fn a_plan_waiting_on_another_prs_lock_leaves_the_plan_summary_queued_saying_so() {
    let ctx = TestContext::start().await;
    let state = ctx.state_file("shared");
    let (first, _) = ctx
        .open_pr("first", &[("envs/shared/main.tf", &module(&state, &["a"]))])
        .await;
    ctx.settle().await;
    let (second, _) = ctx
        .open_pr(
            "second",
            &[("envs/shared/main.tf", &module(&state, &["b"]))],
        )
        .await;
    ctx.settle().await;
    ctx.reply(second, "locked");

    let check = ctx.check(second, "bosun/plan");
    assert_eq!(check.status, "queued");
    assert_eq!(check.conclusion, None);
    assert_eq!(
        check.title.as_deref(),
        Some(&*format!("Waiting for locks held by #{first}"))
    );
    let summary = check.summary.unwrap_or_default();
    assert!(
        summary.contains(&format!("`envs/shared`: #{first}")),
        "{summary}"
    );
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test]
async fn a_refused_apply_fails_the_apply_summary_with_the_reasons() {
    let ctx = TestContext::start().await;
    let config = "version: 3\nprojects:\n  - dir: envs/dev\n    apply_requirements: [approved]\n  - dir: envs/prod\n";
    ctx.push_base(&[("bosun.yaml", Some(config))]);
    let pr = open_two(&ctx, false).await;
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    ctx.reply(pr, "apply-refused");

    let check = ctx.check(pr, "bosun/apply");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    assert_eq!(check.title.as_deref(), Some("Apply refused: 1 reason"));
    let summary = check.summary.unwrap_or_default();
    assert!(summary.contains("apply requirements not met"), "{summary}");
    assert!(summary.contains("`approved`"), "{summary}");
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}
