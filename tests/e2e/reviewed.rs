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
        ctx.store()
            .applies_of_pr(REPO, pr)
            .await
            .unwrap()
            .is_empty(),
        "no apply was started"
    );
    ctx.finish().await;
}
