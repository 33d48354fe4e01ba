//! Atlantis's step options act in the sandbox: a `run` step's `output` (`hide`,
//! `strip_refreshing`), its `shell` and `shellArgs`, and `multienv` setting variables for the
//! steps after it (never one bosun owns).

use crate::support::prs::module;
use crate::support::{REPO, TestContext};

/// bosun with custom workflows and `workflow:` allowed for `acme/infra`, and a config whose
/// one project `envs/dev` runs `steps` (YAML list items, indented for the plan's steps).
async fn planned_with(steps: &str) -> (TestContext, u64) {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("allow_custom_workflows", "acme/*");
    ctx.set("allowed_overrides", "acme/infra:workflow");
    ctx.start_bosun().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    let yaml = format!(
        "version: 3\nprojects:\n  - dir: envs/dev\n    workflow: w\nworkflows:\n  w:\n    plan:\n      steps:\n{steps}"
    );
    ctx.push_base(&[("bosun.yaml", Some(yaml.as_str()))]);
    let tf = module(&ctx.state_file("dev"), &["a"]);
    let (pr, _) = ctx.open_pr("opts", &[("envs/dev/main.tf", &tf)]).await;
    ctx.settle().await;
    (ctx, pr)
}

#[tokio::test]
async fn run_output_options_and_a_named_shell_act_in_the_sandbox() {
    let steps = r#"        - init
        - run: {command: "echo hidden-$((6*7))", output: hide}
        - run:
            command: |
              printf 'before-%s\n  x%s\nafter-refresh\n' refresh ': Refreshing state... [id=1]'
            output: strip_refreshing
        - run: {command: "false; echo not-reached", shell: bash, shellArgs: [-c]}
        - run: {command: "echo shell=${BASH_VERSION:+bash}; false; echo not-reached", shell: bash, shellArgs: [-e, -c]}
        - plan
"#;
    // The `-c` step succeeds (its last command does); the `-e -c` one stops at `false`.
    let (ctx, pr) = planned_with(steps).await;
    let body = ctx.bot_comment(pr).body;
    assert!(!body.contains("hidden-42"), "{body}");
    assert!(body.contains("after-refresh"), "{body}");
    assert!(!body.contains("before-refresh"), "{body}");
    assert!(!body.contains("x: Refreshing state"), "{body}");
    assert!(body.contains("shell=bash\n"), "{body}");
    assert!(body.contains("Failed at `run`"), "{body}");
    assert!(body.contains("step 5 ("), "{body}");
    let check = ctx.check(pr, "bosun/plan: envs/dev");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    let text = format!("{:?}{:?}", check.summary, check.text);
    assert!(!text.contains("hidden-42"), "{text}");
    ctx.finish().await;
}

#[tokio::test]
async fn multienv_sets_variables_for_later_steps() {
    let steps = r#"        - init
        - multienv: echo "FIRST=$((40+2)),SECOND='b,c'"
        - run: echo "got $FIRST $SECOND"
        - plan
"#;
    let (ctx, pr) = planned_with(steps).await;
    let body = ctx.bot_comment(pr).body;
    assert!(body.contains("got 42 b,c"), "{body}");
    assert!(
        body.contains(" Dynamic environment variables added:\n FIRST\n SECOND\n"),
        "{body}"
    );
    assert!(body.contains("1 to add"), "{body}");
    let check = ctx.check(pr, "bosun/plan: envs/dev");
    assert_eq!(check.conclusion.as_deref(), Some("success"));
    ctx.finish().await;
}

#[tokio::test]
async fn multienv_may_not_set_what_bosun_owns() {
    let steps = r#"        - init
        - multienv: echo "OK=1,TF_DATA_DIR=/tmp/x"
        - plan
"#;
    let (ctx, pr) = planned_with(steps).await;
    let body = ctx.bot_comment(pr).body;
    assert!(body.contains("may not set TF_DATA_DIR"), "{body}");
    let check = ctx.check(pr, "bosun/plan: envs/dev");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    ctx.finish().await;
}

#[tokio::test]
async fn silence_pr_comments_leaves_a_projects_results_to_its_check_runs() {
    let ctx = TestContext::start().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    // Silenced for the file; `envs/prod` gives its own, empty, list.
    let yaml = "version: 3\nsilence_pr_comments: [plan, apply]\nprojects:\n  - dir: envs/dev\n  - dir: envs/prod\n    silence_pr_comments: []\n";
    ctx.push_base(&[("bosun.yaml", Some(yaml))]);
    let files = [
        ("envs/dev/main.tf", module(&ctx.state_file("dev"), &["a"])),
        ("envs/prod/main.tf", module(&ctx.state_file("prod"), &["b"])),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let (pr, _) = ctx.open_pr("quiet", &files).await;
    ctx.settle().await;
    let body = ctx.bot_comment(pr).body;
    assert!(body.contains("`envs/prod`"), "{body}");
    assert!(!body.contains("envs/dev"), "{body}");
    for dir in ["envs/dev", "envs/prod"] {
        let check = ctx.check(pr, &format!("bosun/plan: {dir}"));
        assert_eq!(check.conclusion.as_deref(), Some("success"), "{dir}");
    }
    // Only silenced projects: no comment at all, the check run says it.
    ctx.comment(pr, "alice", "bosun apply -d envs/dev").await;
    ctx.settle().await;
    assert_eq!(ctx.bot_comments(pr).len(), 1);
    let check = ctx.check(pr, "bosun/apply: envs/dev");
    assert_eq!(check.conclusion.as_deref(), Some("success"));
    ctx.finish().await;
}
