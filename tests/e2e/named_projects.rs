//! Two named projects on one dir and workspace (Atlantis's `tfvars-yaml` shape: one dir, a
//! var file and a backend config per environment): each is planned with its own workflow into
//! its own plan and check run, `-p` applies each its own plan, `-d` cannot choose between them
//! and says so, and both share the pull request's one lock, released at close.

use crate::support::{REPO, TestContext};
use bosun::ids::PrNumber;
use bosun::ids::RepoKey;

/// Terraform's root module of the shape: a local backend whose path each project's backend
/// config gives, and a variable each project's var file sets.
const MAIN_TF: &str = r#"terraform {
  backend "local" {
  }
}

resource "terraform_data" "simple" {
  input = var.var
}

variable "var" {
}

output "var" {
  value = var.var
}
"#;

/// The repo config: two projects on `.`, each with its workflow.
const CONFIG: &str = "version: 3
projects:
- dir: .
  name: default
  workflow: default
- dir: .
  workflow: staging
  name: staging
workflows:
  default:
    plan:
      steps:
      - init:
          extra_args: [-backend-config=default.backend.tfvars]
      - plan:
          extra_args: [-var-file=default.tfvars]
  staging:
    plan:
      steps:
      - init:
          extra_args: [-backend-config=staging.backend.tfvars]
      - plan:
          extra_args: [-var-file, staging.tfvars]
";

/// bosun with custom workflows allowed for `acme/infra`, and the base branch holding the
/// config and each environment's var file and backend config (its state in the test's state
/// dir).
async fn two_on_one_dir() -> TestContext {
    two_on_one_dir_with(CONFIG).await
}

async fn two_on_one_dir_with(config: &str) -> TestContext {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("allow_custom_workflows", "acme/*");
    ctx.set("allowed_overrides", "acme/infra:workflow");
    ctx.start_bosun().await;
    let backend = |env: &str| format!("path = \"{}\"\n", ctx.state_file(env).display());
    let (default_backend, staging_backend) = (backend("default"), backend("staging"));
    ctx.push_base(&[
        ("atlantis.yaml", Some(config)),
        ("default.tfvars", Some("var = \"default\"\n")),
        ("staging.tfvars", Some("var = \"staging\"\n")),
        ("default.backend.tfvars", Some(default_backend.as_str())),
        ("staging.backend.tfvars", Some(staging_backend.as_str())),
    ]);
    ctx
}

/// The `var` output in environment `env`'s state, if it has one.
fn applied_var(ctx: &TestContext, env: &str) -> Option<String> {
    let text = std::fs::read_to_string(ctx.state_file(env)).ok()?;
    let state: serde_json::Value = serde_json::from_str(&text).unwrap();
    state["outputs"]["var"]["value"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn two_named_projects_on_one_dir_plan_and_apply_apart() {
    let ctx = two_on_one_dir().await;
    let (pr, _) = ctx.open_pr("shared dir", &[("main.tf", MAIN_TF)]).await;
    ctx.settle().await;

    // Each planned with its own var file, into its own plan and check run.
    let body = ctx.bot_comment(pr).body;
    assert!(body.contains(r#"var = "default""#), "{body}");
    assert!(body.contains(r#"var = "staging""#), "{body}");
    for name in ["bosun/plan: default", "bosun/plan: staging"] {
        assert_eq!(ctx.check(pr, name).conclusion.as_deref(), Some("success"));
    }
    let plans = ctx
        .store()
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    let names: Vec<Option<&str>> = plans.iter().map(|p| p.target.name.as_deref()).collect();
    assert_eq!(names, [Some("default"), Some("staging")]);
    assert_ne!(plans[0].planfile, plans[1].planfile);
    assert_eq!(
        ctx.locks_of_pr(pr).await.len(),
        1,
        "one dir and workspace: one lock"
    );

    // `-d .` cannot choose: it names both and says to use `-p`; nothing runs.
    for verb in ["apply", "plan"] {
        ctx.comment(pr, "alice", &format!("bosun {verb} -d ."))
            .await;
        ctx.settle().await;
        let reply = ctx.reply(pr, "ambiguous");
        assert!(
            reply.contains(&format!("did not {verb} anything")),
            "{reply}"
        );
        assert!(
            reply.contains(&format!("`bosun {verb} -p default`"))
                && reply.contains(&format!("`bosun {verb} -p staging`")),
            "{reply}"
        );
    }
    assert_eq!(applied_var(&ctx, "staging"), None);

    // `-p` applies each its own plan.
    ctx.comment(pr, "alice", "bosun apply -p staging").await;
    ctx.settle().await;
    let applied = ctx.reply(pr, "apply");
    assert!(applied.contains(r#"var = "staging""#), "{applied}");
    assert_eq!(applied_var(&ctx, "staging").as_deref(), Some("staging"));
    assert_eq!(
        applied_var(&ctx, "default"),
        None,
        "the other is not applied"
    );
    assert_eq!(
        ctx.check(pr, "bosun/apply: staging").conclusion.as_deref(),
        Some("success")
    );

    ctx.comment(pr, "alice", "bosun apply -p default").await;
    ctx.settle().await;
    assert_eq!(applied_var(&ctx, "default").as_deref(), Some("default"));
    assert_eq!(
        ctx.check(pr, "bosun/apply: default").conclusion.as_deref(),
        Some("success")
    );
    let applies = ctx
        .store()
        .applies_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(applies.len(), 2);

    // Closing releases the shared lock and deletes both plans.
    ctx.close_pr(pr, false).await;
    ctx.settle().await;
    assert!(ctx.locks_of_pr(pr).await.is_empty());
    assert!(ctx.plans_of_pr(pr).await.is_empty());
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test]
async fn unlocking_either_name_releases_the_shared_lock_and_both_plans() {
    let ctx = two_on_one_dir().await;
    let (pr, _) = ctx.open_pr("shared dir", &[("main.tf", MAIN_TF)]).await;
    ctx.settle().await;
    let locks = ctx
        .store()
        .locks_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(locks[0].target.name.as_deref(), Some("default"));
    // The lock carries one name; the other one's still reaches it.
    ctx.comment(pr, "alice", "bosun unlock -p staging").await;
    ctx.settle().await;
    let reply = ctx.reply(pr, "unlocked");
    assert!(
        reply.contains("- `default`\n- `staging`"),
        "both projects' plans are discarded: {reply}"
    );
    assert!(ctx.locks_of_pr(pr).await.is_empty());
    assert!(
        ctx.plans_of_pr(pr).await.is_empty(),
        "a plan made under a lock given up goes with it"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn on_merge_the_project_not_applied_yet_is_applied_and_then_the_lock_released() {
    let config = CONFIG.replace("version: 3\n", "version: 3\napply_on_merge: true\n");
    let ctx = two_on_one_dir_with(&config).await;
    let (pr, _) = ctx.open_pr("shared dir", &[("main.tf", MAIN_TF)]).await;
    ctx.settle().await;
    ctx.comment(pr, "alice", "bosun apply -p staging").await;
    ctx.settle().await;
    assert_eq!(applied_var(&ctx, "staging").as_deref(), Some("staging"));
    assert_eq!(applied_var(&ctx, "default"), None);

    ctx.merge_pr(pr).await;
    ctx.settle().await;
    // Its own reviewed plan, not the other's, is compared and applied.
    assert_eq!(applied_var(&ctx, "default").as_deref(), Some("default"));
    let applies = ctx
        .store()
        .applies_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    let names: Vec<Option<&str>> = applies.iter().map(|a| a.target.name.as_deref()).collect();
    assert_eq!(names, [Some("staging"), Some("default")], "each once");
    assert!(ctx.locks_of_pr(pr).await.is_empty());
    assert!(ctx.plans_of_pr(pr).await.is_empty());
    ctx.finish().await;
}

#[tokio::test]
async fn a_merged_prs_lock_stays_while_a_project_under_it_failed_to_apply() {
    let config = CONFIG.replace("version: 3\n", "version: 3\napply_on_merge: true\n")
        + "    apply:\n      steps:\n      - run: exit 3\n";
    let ctx = two_on_one_dir_with(&config).await;
    let (pr, _) = ctx.open_pr("shared dir", &[("main.tf", MAIN_TF)]).await;
    ctx.settle().await;

    ctx.merge_pr(pr).await;
    ctx.settle().await;
    assert_eq!(applied_var(&ctx, "default").as_deref(), Some("default"));
    let plans = ctx
        .store()
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    let left: Vec<Option<&str>> = plans.iter().map(|p| p.target.name.as_deref()).collect();
    assert_eq!(
        left,
        [Some("staging")],
        "staging's failed apply keeps its plan"
    );
    assert_eq!(
        ctx.locks_of_pr(pr).await.len(),
        1,
        "and the lock it shares with the applied project"
    );
    ctx.finish().await;
}
