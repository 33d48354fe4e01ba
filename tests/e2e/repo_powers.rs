//! What a pull request's repo config may set: custom workflows, `workflow:` selection and
//! dropping a required apply requirement are refused with a comment naming the key, unless
//! the server's settings allow them for the repo; the server's apply requirements hold for
//! every project.

use bosun::ids::PrNumber;
use bosun::ids::RepoKey;
use bosun::store::JobStatus;

use crate::support::prs::module;
use crate::support::{REPO, TestContext};

const TF: &str = "resource \"terraform_data\" \"x\" {}\n";

/// A config defining a workflow that would run a command, and selecting it.
const CUSTOM: &str = "version: 3\nprojects:\n  - dir: envs/x\n    workflow: sneaky\nworkflows:\n  sneaky:\n    plan:\n      steps:\n        - init\n        - run: cat /etc/passwd\n        - plan\n";

/// Every job of `pr` ended without an error (a refusal is an answer, not a failure).
async fn jobs_all_done(ctx: &TestContext, pr: u64) {
    let jobs = ctx
        .store()
        .jobs_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert!(!jobs.is_empty());
    for job in jobs {
        assert_eq!(job.status, JobStatus::Done, "{job:?}");
    }
}

#[tokio::test]
async fn a_custom_workflow_is_refused_with_a_comment_naming_the_key() {
    let ctx = TestContext::start().await;
    let (pr, _) = ctx
        .open_pr("sneaky", &[("bosun.yaml", CUSTOM), ("envs/x/main.tf", TF)])
        .await;
    ctx.settle().await;
    let body = ctx.bot_comment(pr).body;
    assert!(body.contains("`bosun.yaml:6:3`"), "{body}");
    assert!(body.contains("key `workflows.sneaky`"), "{body}");
    assert!(body.contains("allow_custom_workflows"), "{body}");
    let check = ctx.check(pr, "bosun/plan");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    assert_eq!(ctx.check_names(pr), ["bosun/plan"], "nothing was planned");
    jobs_all_done(&ctx, pr).await;
    ctx.finish().await;
}

#[tokio::test]
async fn selecting_a_workflow_needs_its_own_permission() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("allow_custom_workflows", "acme/infra");
    ctx.start_bosun().await;
    let (pr, _) = ctx
        .open_pr("sneaky", &[("bosun.yaml", CUSTOM), ("envs/x/main.tf", TF)])
        .await;
    ctx.settle().await;
    let body = ctx.bot_comment(pr).body;
    assert!(body.contains("`bosun.yaml:4:5`"), "{body}");
    assert!(body.contains("key `projects[0].workflow`"), "{body}");
    assert!(
        body.contains("adding `workflow` to the allowed_overrides"),
        "{body}"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn a_repo_the_settings_allow_may_define_and_select_workflows() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("allow_custom_workflows", "acme/*");
    ctx.set("allowed_overrides", "acme/infra:workflow");
    ctx.start_bosun().await;
    let (pr, _) = ctx
        .open_pr("allowed", &[("bosun.yaml", CUSTOM), ("envs/x/main.tf", TF)])
        .await;
    ctx.settle().await;
    assert_eq!(ctx.check_names(pr), ["bosun/plan", "bosun/plan: envs/x"]);
    assert_eq!(
        ctx.check(pr, "bosun/plan: envs/x").conclusion.as_deref(),
        Some("success")
    );
    ctx.finish().await;
}

#[tokio::test]
async fn the_servers_apply_requirements_hold_for_every_project() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("apply_requirements", "approved");
    ctx.start_bosun().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    let state = ctx.state_file("dev");
    let tf = module(&state, &["app"]);

    // A config that asks for nothing more still needs the approval.
    let silent = "version: 3\nprojects:\n  - dir: envs/dev\n";
    let (pr, _) = ctx
        .open_pr("dev", &[("bosun.yaml", silent), ("envs/dev/main.tf", &tf)])
        .await;
    ctx.settle().await;
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let refusal = ctx.bot_comments(pr).pop().unwrap().body;
    assert!(refusal.contains("approv"), "{refusal}");
    assert!(!state.exists(), "nothing was applied");
    ctx.fake.add_review(REPO, pr, "bob", "APPROVED");
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let applied = ctx.bot_comments(pr).pop().unwrap().body;
    assert!(applied.contains("Apply complete!"), "{applied}");

    // A config that leaves the approval out is refused, naming the key.
    let weaker = "version: 3\nprojects:\n  - dir: envs/other\n    apply_requirements: []\n";
    let (pr, _) = ctx
        .open_pr(
            "weaker",
            &[("bosun.yaml", weaker), ("envs/other/main.tf", TF)],
        )
        .await;
    ctx.settle().await;
    let body = ctx.bot_comment(pr).body;
    assert!(
        body.contains("key `projects[0].apply_requirements`"),
        "{body}"
    );
    assert!(
        body.contains("every project must require `approved`"),
        "{body}"
    );
    assert_eq!(ctx.check_names(pr), ["bosun/plan"]);
    ctx.finish().await;
}

#[tokio::test]
async fn apply_on_merge_needs_the_servers_approval_too() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("apply_requirements", "approved");
    ctx.start_bosun().await;
    let config = "version: 3\napply_on_merge: true\nprojects:\n  - dir: envs/dev\n";
    let state = ctx.state_file("dev");
    let tf = module(&state, &["app"]);
    ctx.push_base(&[("bosun.yaml", Some(config))]);
    let (pr, _) = ctx.open_pr("dev", &[("envs/dev/main.tf", &tf)]).await;
    ctx.settle().await;
    ctx.merge_pr(pr).await;
    ctx.settle().await;
    assert!(!state.exists(), "merged without approval: nothing applied");
    let body = ctx.reply(pr, "merged-unapproved");
    assert!(body.contains("- `envs/dev`"), "{body}");
    // Then, as Atlantis, which locks the close released.
    let body = ctx.bot_comments(pr).pop().unwrap().body;
    assert!(body.starts_with("<!-- bosun:closed"), "{body}");
    assert!(
        body.contains("- dir: `envs/dev` workspace: `default`"),
        "{body}"
    );
    assert!(ctx.locks_of_repo().await.is_empty());

    // Approved before merging, it is applied.
    let state = ctx.state_file("ok");
    let tf = module(&state, &["db"]);
    ctx.push_base(&[("bosun.yaml", Some(config.replace("dev", "ok").as_str()))]);
    let (pr, _) = ctx.open_pr("ok", &[("envs/ok/main.tf", &tf)]).await;
    ctx.settle().await;
    ctx.fake.add_review(REPO, pr, "bob", "APPROVED");
    ctx.merge_pr(pr).await;
    ctx.settle().await;
    let body = ctx.bot_comments(pr).pop().unwrap().body;
    assert!(body.contains("Applied on merge"), "{body}");
    ctx.finish().await;
}
