//! Custom workflows run: their plan and apply steps replace bosun's, `run` steps show their
//! output and run in the sandbox (nothing of the data dir, no network when the workflow says
//! `network: false`), and a failing step fails the project naming it.

use crate::support::prs::module;
use crate::support::{REPO, TestContext};

/// bosun with custom workflows and `workflow:` allowed for `acme/infra`.
async fn allowed() -> TestContext {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("allow_custom_workflows", "acme/*");
    ctx.set("allowed_overrides", "acme/infra:workflow");
    ctx.start_bosun().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    ctx
}

/// A config with one project on `envs/<dir>` per `(dir, workflow)`, and `workflows` as is.
fn config(projects: &[(&str, &str)], workflows: &str) -> String {
    let mut text = "version: 3\nprojects:\n".to_owned();
    for (dir, workflow) in projects {
        text.push_str(&format!("  - dir: envs/{dir}\n    workflow: {workflow}\n"));
    }
    format!("{text}workflows:\n{workflows}")
}

#[tokio::test]
async fn a_custom_workflow_plans_shows_its_run_steps_and_applies() {
    let ctx = allowed().await;
    let workflows = "  custom:\n    plan:\n      steps:\n        - init\n        - run: echo custom-step $PULL_NUM $WORKSPACE\n        - plan\n    apply:\n      steps: [{run: echo before-apply}, apply]\n";
    let yaml = config(&[("dev", "custom")], workflows);
    let state = ctx.state_file("dev");
    // Workflows are policy: the base branch's config chooses them.
    ctx.push_base(&[("bosun.yaml", Some(yaml.as_str()))]);
    let (pr, _) = ctx
        .open_pr("custom", &[("envs/dev/main.tf", &module(&state, &["a"]))])
        .await;
    ctx.settle().await;
    let body = ctx.bot_comment(pr).body;
    assert!(
        body.contains(&format!("custom-step {pr} default")),
        "{body}"
    );
    assert!(body.contains("1 to add"), "{body}");
    let check = ctx.check(pr, "bosun/plan: envs/dev");
    assert_eq!(check.conclusion.as_deref(), Some("success"));

    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let comments = ctx.bot_comments(pr);
    let applied = &comments.last().unwrap().body;
    assert!(applied.contains("before-apply"), "{applied}");
    assert!(
        applied.contains("Apply complete! Resources: 1 added"),
        "{applied}"
    );
    let tfstate = std::fs::read_to_string(&state).expect("the apply wrote its state");
    assert!(tfstate.contains("terraform_data"), "{tfstate}");
    ctx.finish().await;
}

#[tokio::test]
async fn a_run_step_sees_nothing_of_the_data_dir_and_its_failure_names_it() {
    let ctx = allowed().await;
    let db = ctx.data_path().join("bosun.db");
    let workflows = format!(
        "  peek:\n    plan:\n      steps:\n        - init\n        - run: cat {}\n        - plan\n",
        db.display()
    );
    let yaml = config(&[("dev", "peek")], &workflows);
    let tf = module(&ctx.state_file("dev"), &["a"]);
    ctx.push_base(&[("bosun.yaml", Some(yaml.as_str()))]);
    let (pr, _) = ctx.open_pr("peek", &[("envs/dev/main.tf", &tf)]).await;
    ctx.settle().await;
    let body = ctx.bot_comment(pr).body;
    assert!(body.contains("Failed at `run`"), "{body}");
    assert!(
        body.contains(&format!("step 2 (`run: cat {}`) failed", db.display())),
        "{body}"
    );
    assert!(body.contains("No such file or directory"), "{body}");
    let check = ctx.check(pr, "bosun/plan: envs/dev");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    ctx.finish().await;
}

#[tokio::test]
async fn a_workflow_without_network_cannot_connect_where_a_default_one_can() {
    let ctx = allowed().await;
    let port = ctx
        .fake
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse::<u16>().ok())
        .expect("the fake's url ends with its port");
    let probe = format!(
        "python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 5)\" && echo connected-{port}"
    );
    let workflows = format!(
        "  open:\n    plan:\n      steps:\n        - run: {probe}\n        - init\n        - plan\n  \
         closed:\n    network: false\n    plan:\n      steps:\n        - run: {probe}\n        - init\n        - plan\n"
    );
    let yaml = config(&[("on", "open"), ("off", "closed")], &workflows);
    let (on, off) = (ctx.state_file("on"), ctx.state_file("off"));
    ctx.push_base(&[("bosun.yaml", Some(yaml.as_str()))]);
    let (pr, _) = ctx
        .open_pr(
            "network",
            &[
                ("envs/on/main.tf", &module(&on, &["a"])),
                ("envs/off/main.tf", &module(&off, &["a"])),
            ],
        )
        .await;
    ctx.settle().await;
    let body = ctx.bot_comment(pr).body;
    let open = ctx.check(pr, "bosun/plan: envs/on");
    assert_eq!(open.conclusion.as_deref(), Some("success"), "{body}");
    let closed = ctx.check(pr, "bosun/plan: envs/off");
    assert_eq!(closed.conclusion.as_deref(), Some("failure"));
    assert!(body.contains("step 1 (`run: python3"), "{body}");
    let connected = format!("connected-{port}");
    let printed = body.lines().filter(|l| l.trim() == connected).count();
    assert_eq!(printed, 1, "only the open workflow connected:\n{body}");
    ctx.finish().await;
}
