//! Only what was reviewed is applied: apply on merge compares the full plans (values, not
//! only addresses), policy comes from the base branch, and only approvals of writers count.

use crate::support::prs::module;
use crate::support::{REPO, TestContext};

/// The `input` of `terraform_data.<name>` in a state file, if it is there.
fn input_in_state(state: &std::path::Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(state).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["resources"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == name)
        .and_then(|r| r["instances"][0]["attributes"]["input"]["value"].as_str())
        .map(str::to_owned)
}

#[tokio::test]
async fn a_base_that_changes_only_a_value_is_not_applied_on_merge() {
    let ctx = TestContext::start().await;
    let state = ctx.state_file("dev");
    // The base branch holds the policy and the project's CIDR.
    ctx.push_base(&[
        (
            "bosun.yaml",
            Some("version: 3\napply_on_merge: true\nprojects:\n  - dir: envs/dev\n"),
        ),
        (
            "envs/dev/cidr.tf",
            Some("locals {\n  cidr = \"10.0.0.0/8\"\n}\n"),
        ),
    ]);
    let tf = format!(
        "{}\nresource \"terraform_data\" \"rule\" {{\n  input = local.cidr\n}}\n",
        module(&state, &[])
    );
    let (pr, _) = ctx
        .open_pr("add the rule", &[("envs/dev/main.tf", &tf)])
        .await;
    ctx.settle().await;
    assert!(ctx.reply(pr, "plan").contains("10.0.0.0/8"));
    // The base moves: same resource, same action (create), another value.
    ctx.move_base(
        pr,
        &[(
            "envs/dev/cidr.tf",
            Some("locals {\n  cidr = \"0.0.0.0/0\"\n}\n"),
        )],
    );
    let merge = ctx.merge_pr(pr).await;
    ctx.settle().await;

    assert_eq!(input_in_state(&state, "rule"), None, "nothing applied");
    let body = ctx.reply(pr, "plan");
    assert!(body.contains("Not applied on merge"), "{body}");
    assert!(body.contains(&merge[..7]), "{body}");
    assert!(body.contains("0.0.0.0/0"), "the new plan is posted: {body}");
    assert!(
        ctx.applies_of_pr(pr).await.is_empty(),
        "no apply was started"
    );
    ctx.finish().await;
}

const APPROVED_DEV: &str =
    "version: 3\nprojects:\n  - dir: envs/dev\n    apply_requirements: [approved]\n";

/// Opens a pull request adding `terraform_data.app` to `envs/dev` (the base branch holds
/// `base_config`; the pull request changes it to `pr_config` when given); waits for its plan.
async fn open_dev(
    ctx: &TestContext,
    base_config: &str,
    pr_config: Option<&str>,
) -> (u64, std::path::PathBuf) {
    ctx.push_base(&[("bosun.yaml", Some(base_config))]);
    let state = ctx.state_file("dev");
    let tf = module(&state, &["app"]);
    let mut files = vec![("envs/dev/main.tf", tf.as_str())];
    if let Some(config) = pr_config {
        files.push(("bosun.yaml", config));
    }
    let (pr, _) = ctx.open_pr("add dev", &files).await;
    ctx.settle().await;
    (pr, state)
}

#[tokio::test]
async fn an_approval_by_a_reader_does_not_count_and_one_by_a_writer_does() {
    let ctx = TestContext::start().await;
    ctx.fake.set_permission(REPO, "rita", "read");
    let (pr, state) = open_dev(&ctx, APPROVED_DEV, None).await;

    ctx.fake.add_review(REPO, pr, "rita", "APPROVED");
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let body = ctx.reply(pr, "apply-refused");
    assert!(body.contains("approving review"), "{body}");
    assert_eq!(input_in_state(&state, "app"), None);

    ctx.fake.add_review(REPO, pr, "bob", "APPROVED");
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert!(ctx.reply(pr, "apply").contains("Apply complete!"));
    assert_eq!(input_in_state(&state, "app").as_deref(), Some("app"));
    ctx.finish().await;
}

#[tokio::test]
async fn a_pr_that_drops_its_bases_apply_requirements_is_still_held_to_them() {
    let ctx = TestContext::start().await;
    let weaker = "version: 3\nprojects:\n  - dir: envs/dev\n";
    let (pr, state) = open_dev(&ctx, APPROVED_DEV, Some(weaker)).await;
    let plan = ctx.reply(pr, "plan");
    assert!(
        plan.contains("policy changes in this PR take effect after merge"),
        "{plan}"
    );

    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let body = ctx.reply(pr, "apply-refused");
    assert!(body.contains("approving review"), "{body}");
    assert_eq!(input_in_state(&state, "app"), None, "nothing applied");
    ctx.finish().await;
}

#[tokio::test]
async fn a_pr_that_turns_on_apply_on_merge_and_automerge_gets_neither() {
    let ctx = TestContext::start().await;
    let base = "version: 3\nprojects:\n  - dir: envs/dev\n";
    let bolder =
        "version: 3\napply_on_merge: true\nautomerge: true\nprojects:\n  - dir: envs/dev\n";
    let (pr, state) = open_dev(&ctx, base, Some(bolder)).await;
    assert!(ctx.reply(pr, "plan").contains("take effect after merge"));

    // automerge: applying does not merge.
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert!(ctx.reply(pr, "apply").contains("Apply complete!"));
    assert!(
        ctx.fake.model().repo(REPO).unwrap().prs[&pr].open,
        "not automerged"
    );

    // apply_on_merge: a change pushed after the apply is planned, but not applied on merge.
    let tf = module(&state, &["app", "more"]);
    ctx.push_to_pr(pr, &[("envs/dev/main.tf", Some(tf.as_str()))]);
    ctx.pr_event(pr, "synchronize").await;
    ctx.settle().await;
    ctx.merge_pr(pr).await;
    ctx.settle().await;
    assert_eq!(input_in_state(&state, "more"), None, "not applied on merge");
    ctx.finish().await;
}

#[tokio::test]
async fn a_head_that_was_never_planned_is_not_applied_on_merge() {
    let ctx = TestContext::start().await;
    let config = "version: 3\napply_on_merge: true\nprojects:\n  - dir: envs/dev\n";
    let (pr, state) = open_dev(&ctx, config, None).await;
    // A push nobody saw planned (no webhook): the reviewed plan is not of the final head.
    ctx.push_to_pr(pr, &[("envs/dev/notes.txt", Some("later"))]);
    let merge = ctx.merge_pr(pr).await;
    ctx.settle().await;
    assert_eq!(input_in_state(&state, "app"), None, "not applied on merge");
    let body = ctx.reply(pr, "plan");
    assert!(body.contains("Not applied on merge"), "{body}");
    assert!(body.contains(&merge[..7]), "{body}");
    ctx.finish().await;
}

#[tokio::test]
async fn branch_protections_review_decision_must_be_approved_when_it_requires_reviews() {
    let ctx = TestContext::start().await;
    ctx.fake.set_permission(REPO, "carol", "write");
    // Two approving reviews required: one writer's approval is not enough for GitHub.
    ctx.fake.protect(REPO, &[], 2);
    let (pr, state) = open_dev(&ctx, APPROVED_DEV, None).await;
    ctx.fake.add_review(REPO, pr, "bob", "APPROVED");
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let body = ctx.reply(pr, "apply-refused");
    assert!(body.contains("review decision"), "{body}");
    assert_eq!(input_in_state(&state, "app"), None);

    ctx.fake.add_review(REPO, pr, "carol", "APPROVED");
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert!(ctx.reply(pr, "apply").contains("Apply complete!"));
    ctx.finish().await;
}
