//! `import`, `state rm` and `approve_policies`, end to end: the real bosun, the fake GitHub and
//! the real Terraform, with state kept outside the checkout so what a command did to it can be
//! read back. `import` and `state` are not among Atlantis's default allowed commands (nor
//! bosun's): these tests allow them.

use crate::support::prs::module;
use crate::support::{REPO, TestContext};
use bosun::ids::PrNumber;
use bosun::ids::RepoKey;

/// The `terraform_data` resources in a state file, with their ids (empty when there is none).
fn resources(state: &std::path::Path) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(state) else {
        return Vec::new();
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out: Vec<(String, String)> = json["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let id = r["instances"][0]["attributes"]["id"].as_str().unwrap_or("");
            (r["name"].as_str().unwrap_or("").to_owned(), id.to_owned())
        })
        .collect();
    out.sort();
    out
}

fn names(state: &std::path::Path) -> Vec<String> {
    resources(state).into_iter().map(|(n, _)| n).collect()
}

/// bosun with every command allowed (BOSUN_ALLOW_COMMANDS=all) and `settings` set.
async fn start(settings: &[(&str, &str)]) -> TestContext {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("allow_commands", "all");
    for (k, v) in settings {
        ctx.set(k, v);
    }
    ctx.start_bosun().await;
    ctx
}

/// Opens a pull request adding project `envs/dev` with resources `names`; waits for its plan.
async fn open_dev(ctx: &TestContext, names: &[&str]) -> (u64, std::path::PathBuf) {
    let state = ctx.state_file("dev");
    let tf = module(&state, names);
    let (pr, _) = ctx
        .open_pr("add dev", &[("envs/dev/main.tf", tf.as_str())])
        .await;
    ctx.settle().await;
    (pr, state)
}

#[tokio::test]
async fn state_rm_after_an_apply_forgets_the_resource_and_plans_it_again() {
    let ctx = start(&[]).await;
    let (pr, state) = open_dev(&ctx, &["app", "db"]).await;
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert_eq!(names(&state), ["app", "db"]);

    ctx.comment(pr, "alice", "bosun state rm -d envs/dev terraform_data.app")
        .await;
    ctx.settle().await;
    let body = ctx.reply(pr, "state-rm");
    assert!(body.contains("1 succeeded"), "{body}");
    assert!(body.contains("Removed terraform_data.app"), "{body}");
    assert!(body.contains("The state of `envs/dev` changed"), "{body}");
    assert_eq!(names(&state), ["db"], "app is gone from the state only");
    // The re-plan that followed wants to create it again.
    let check = ctx.check(pr, "bosun/plan: envs/dev");
    assert_eq!(
        check.title.as_deref(),
        Some("1 to add, 0 to change, 0 to destroy"),
        "{check:#?}"
    );
    let plans = ctx
        .store()
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(plans.len(), 1);
    assert!(plans[0].planfile.is_some(), "a fresh plan to apply");
    assert!(
        ctx.reply(pr, "plan")
            .contains("`state rm` by @alice changed the state"),
        "the re-plan says why it ran"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn import_runs_the_workflows_import_stage_and_reports_failures_per_project() {
    let ctx = start(&[
        ("allow_custom_workflows", "acme/*"),
        ("allowed_overrides", "acme/infra:workflow"),
    ])
    .await;
    // The steps run sandboxed: bosun's own database is not there to see.
    let db = ctx.data_path().join("bosun.db");
    let config = format!(
        "version: 3\nprojects:\n  - dir: envs/dev\n    workflow: custom\nworkflows:\n  \
         custom:\n    import:\n      steps:\n        - init\n        - run: echo import-step \
         $COMMENT_ARGS in $DIR\n        - run: test ! -e {} && echo no-bosun-db\n        \
         - import\n",
        db.display()
    );
    ctx.push_base(&[("bosun.yaml", Some(config.as_str()))]);
    let (pr, state) = open_dev(&ctx, &["app"]).await;

    // An address the configuration lacks: Terraform refuses, the project fails.
    ctx.comment(
        pr,
        "alice",
        "bosun import -d envs/dev terraform_data.nope id-1",
    )
    .await;
    ctx.settle().await;
    let body = ctx.reply(pr, "import");
    assert!(body.contains("0 succeeded, 1 failed"), "{body}");
    assert!(body.contains("Import failed."), "{body}");
    assert!(body.contains("terraform_data.nope"), "{body}");
    assert!(resources(&state).is_empty());
    assert!(
        !ctx.plans_of_pr(pr).await.is_empty(),
        "a failed import keeps the plan"
    );

    ctx.comment(
        pr,
        "alice",
        "bosun import terraform_data.app id-2 -d envs/dev",
    )
    .await;
    ctx.settle().await;
    let body = ctx.reply(pr, "import");
    assert!(body.contains("1 succeeded"), "{body}");
    assert!(
        body.contains("import-step terraform_data.app,id-2 in envs/dev"),
        "the stage's run step ran, with Atlantis's variables: {body}"
    );
    assert!(body.contains("no-bosun-db"), "{body}");
    assert!(body.contains("Import successful!"), "{body}");
    assert_eq!(resources(&state), [("app".into(), "id-2".into())]);
    let check = ctx.check(pr, "bosun/plan: envs/dev");
    assert!(
        check
            .title
            .as_deref()
            .is_some_and(|t| t.starts_with("0 to add")),
        "re-planned once imported: {check:#?}"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn a_project_locked_by_another_pull_request_is_refused_naming_it() {
    let ctx = start(&[]).await;
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

    ctx.comment(
        second,
        "bob",
        "bosun import -d envs/shared terraform_data.b x",
    )
    .await;
    ctx.settle().await;
    let body = ctx.reply(second, "import-refused");
    assert!(
        body.contains(&format!("`envs/shared`: **`locked` by #{first}**")),
        "{body}"
    );
    assert!(resources(&state).is_empty(), "nothing ran");
    ctx.finish().await;
}

#[tokio::test]
async fn import_requirements_approved_refuses_an_unapproved_import() {
    refused_until_approved_under("import_requirements").await;
}

#[tokio::test]
async fn apply_requirements_hold_for_import_and_state_rm_too() {
    // No import_requirements: the project's apply requirements still hold, since import and
    // state rm write state with the apply stage's credentials.
    refused_until_approved_under("apply_requirements").await;
}

/// The base branch's config gives the project `key: [approved]`: `import` and `state rm` are
/// refused until a writer approves, then the import runs.
async fn refused_until_approved_under(key: &str) {
    let ctx = start(&[]).await;
    // Requirements are policy: the base branch's config sets them.
    let config = format!("version: 3\nprojects:\n  - dir: envs/dev\n    {key}: [approved]\n");
    ctx.push_base(&[("bosun.yaml", Some(config.as_str()))]);
    let (pr, state) = open_dev(&ctx, &["app"]).await;
    let import = "bosun import -d envs/dev terraform_data.app id-1";

    ctx.comment(pr, "alice", import).await;
    ctx.settle().await;
    let body = ctx.reply(pr, "import-refused");
    assert!(body.contains("requirements not met"), "{body}");
    assert!(body.contains("approving review"), "{body}");
    assert!(resources(&state).is_empty(), "nothing was imported");

    ctx.comment(pr, "alice", "bosun state rm -d envs/dev terraform_data.app")
        .await;
    ctx.settle().await;
    let body = ctx.reply(pr, "state-rm-refused");
    assert!(body.contains("approving review"), "{body}");

    ctx.fake.add_review(REPO, pr, "bob", "APPROVED");
    ctx.comment(pr, "alice", import).await;
    ctx.settle().await;
    assert!(ctx.reply(pr, "import").contains("1 succeeded"));
    assert_eq!(resources(&state), [("app".into(), "id-1".into())]);
    ctx.finish().await;
}

#[tokio::test]
async fn approve_policies_is_answered_and_import_outside_allow_commands_is_unknown() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("allow_commands", "plan,apply,approve_policies");
    ctx.start_bosun().await;
    let (pr, state) = open_dev(&ctx, &["app"]).await;

    ctx.comment(pr, "alice", "bosun approve_policies").await;
    ctx.settle().await;
    let body = ctx.reply(pr, "approve-policies");
    assert!(
        body.contains("Policy checks are not configured for this repository"),
        "{body}"
    );

    ctx.comment(pr, "alice", "bosun import -d envs/dev terraform_data.app x")
        .await;
    ctx.settle().await;
    let body = ctx.reply(pr, "command-error");
    assert!(body.contains("unknown command `import`"), "{body}");
    assert!(resources(&state).is_empty(), "nothing was imported");
    ctx.finish().await;
}
