//! Workflow hooks (the server config's `pre_workflow_hooks` and `post_workflow_hooks`) end
//! to end: a pre hook that writes the repo config makes bosun plan and apply the projects it
//! lists; the hooks see Atlantis's variables and their output is shown folded; a failing
//! blocking hook stops the plan naming it, a non-blocking one does not; and a hook, sandboxed
//! as Terraform is, finds none of bosun's secrets.

use crate::support::prs::module;
use crate::support::{KEY_FILE, REPO, TestContext};
use bosun::ids::RepoKey;
use bosun::ids::Sha;

/// A script (committed to the base branch) that writes the repo config Atlantis-style
/// generators write: two of the three directories, as named projects.
const GENERATOR: &str = "#!/bin/sh\n\
    printf 'version: 3\\nprojects:\\n- name: a\\n  dir: alpha\\n- name: g\\n  dir: gamma\\n' > atlantis.yaml\n\
    echo \"pre for $COMMAND_NAME on PR $PULL_NUM at $HEAD_COMMIT by $USER_NAME ($BASE_REPO_OWNER/$BASE_REPO_NAME into $BASE_BRANCH_NAME) in $(basename $DIR)\"\n";

/// Opens a pull request adding `alpha`, `beta` and `gamma` (the generator lists two); waits.
async fn open_three_dirs(ctx: &TestContext) -> u64 {
    let files: Vec<(&str, String)> = ["alpha", "beta", "gamma"]
        .iter()
        .map(|d| {
            let tf = module(&ctx.state_file(d), &["x"]);
            (*d, tf)
        })
        .collect();
    let paths: Vec<String> = files.iter().map(|(d, _)| format!("{d}/main.tf")).collect();
    let files: Vec<(&str, &str)> = paths
        .iter()
        .zip(&files)
        .map(|(p, (_, tf))| (p.as_str(), tf.as_str()))
        .collect();
    let (pr, _) = ctx.open_pr("three dirs, two projects", &files).await;
    ctx.settle().await;
    pr
}

fn server_config(pre: &str, post: &str) -> String {
    format!("repos:\n- id: {REPO}\n  pre_workflow_hooks:\n{pre}  post_workflow_hooks:\n{post}")
}

#[tokio::test]
async fn a_pre_hook_that_writes_the_repo_config_decides_the_projects_planned_and_applied() {
    let mut ctx = TestContext::without_bosun().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repos.yaml");
    let config = server_config(
        "  - run: sh gen.sh\n    description: generate the repo config\n",
        "  - run: 'echo \"post for $COMMAND_NAME: $(ls alpha)\"'\n    commands: plan, apply\n",
    );
    std::fs::write(&path, config).unwrap();
    ctx.set("server_config", path.to_str().unwrap());
    ctx.start_bosun().await;
    ctx.push_base(&[("gen.sh", Some(GENERATOR))]);

    let pr = open_three_dirs(&ctx).await;
    // The generated config's projects, by name; `beta`, which it leaves out, is not one.
    let names = ctx.check_names(pr);
    assert!(
        names.contains(&"bosun/plan: a".to_owned()) && names.contains(&"bosun/plan: g".to_owned()),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains("beta")), "{names:?}");
    for name in ["bosun/plan: a", "bosun/plan: g", "bosun/plan"] {
        assert_eq!(
            ctx.check(pr, name).conclusion.as_deref(),
            Some("success"),
            "{name}"
        );
    }
    let head = ctx.fake.model().repo(REPO).unwrap().prs[&pr]
        .head_sha
        .clone();
    let body = ctx.bot_comment(pr).body;
    assert!(
        body.contains("<details><summary>pre_workflow_hook generate the repo config: succeeded"),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "pre for plan on PR {pr} at {head} by {} (acme/infra into main) in .hooks-",
            ctx.fake.model().repo(REPO).unwrap().prs[&pr].author
        )),
        "{body}"
    );
    assert!(body.contains("post_workflow_hook"), "{body}");
    assert!(body.contains("post for plan: main.tf"), "{body}");
    // The generated file is nowhere in the repository: it lives in the store for the commit.
    assert!(
        ctx.store()
            .hook_config(&RepoKey::new(REPO), &Sha::new(head.clone()))
            .await
            .unwrap()
            .is_some()
    );

    // An apply runs the hooks again, and applies exactly the generated projects.
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    for name in ["bosun/apply: a", "bosun/apply: g"] {
        assert_eq!(
            ctx.check(pr, name).conclusion.as_deref(),
            Some("success"),
            "{name}"
        );
    }
    let applied = ctx.reply(pr, "apply");
    assert!(applied.contains("pre for apply on PR"), "{applied}");
    assert!(
        applied.contains("by alice"),
        "the commenter is USER_NAME: {applied}"
    );
    assert!(applied.contains("post for apply: main.tf"), "{applied}");
    assert!(ctx.state_file("alpha").exists() && ctx.state_file("gamma").exists());
    assert!(!ctx.state_file("beta").exists(), "beta is not a project");

    // Closing the pull request forgets the generated config.
    ctx.close_pr(pr, false).await;
    ctx.settle().await;
    assert!(
        ctx.store()
            .hook_config(&RepoKey::new(REPO), &Sha::new(head.clone()))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_failing_blocking_hook_stops_the_plan_naming_it_and_a_non_blocking_one_does_not() {
    let mut ctx = TestContext::without_bosun().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repos.yaml");
    let failing = |blocking: bool| {
        server_config(
            &format!(
                "  - run: echo boom-output; exit 3\n    description: check the layout\n    blocking: {blocking}\n"
            ),
            "    []\n",
        )
    };
    std::fs::write(&path, failing(true)).unwrap();
    ctx.set("server_config", path.to_str().unwrap());
    ctx.start_bosun().await;

    let (pr, _) = ctx
        .open_pr(
            "stopped by a hook",
            &[("one/main.tf", &module(&ctx.state_file("one"), &["x"]))],
        )
        .await;
    ctx.settle().await;
    let summary = ctx.check(pr, "bosun/plan");
    assert_eq!(summary.conclusion.as_deref(), Some("failure"));
    let title = summary.title.clone().unwrap_or_default();
    assert!(
        title.contains("pre_workflow_hook `check the layout` failed"),
        "{title}"
    );
    assert_eq!(
        ctx.check_names(pr),
        vec!["bosun/plan".to_owned()],
        "nothing planned"
    );
    assert!(ctx.plans_of_pr(pr).await.is_empty());
    let said = ctx.bot_comment(pr).body;
    assert!(
        said.contains("The plan did not run: the pre_workflow_hook `check the layout` failed"),
        "{said}"
    );
    assert!(
        said.contains("boom-output") && said.contains("exit code 3"),
        "{said}"
    );

    // Marked as not blocking, the same failure is shown and the plan goes on.
    std::fs::write(&path, failing(false)).unwrap();
    ctx.bosun().reload_server_config().unwrap();
    ctx.comment(pr, "alice", "bosun plan").await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(pr, "bosun/plan: one").conclusion.as_deref(),
        Some("success")
    );
    let body = ctx.reply(pr, "plan");
    assert!(
        body.contains("pre_workflow_hook check the layout: failed") && body.contains("boom-output"),
        "{body}"
    );
}

#[tokio::test]
async fn a_hook_finds_none_of_bosuns_secrets_and_writes_only_its_checkout() {
    let mut ctx = TestContext::without_bosun().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repos.yaml");
    let data = ctx.data_path();
    let d = data.display();
    let probe = format!(
        "  - run: |\n      cat {KEY_FILE} && echo LEAK-key\n      cat {d}/bosun.db && echo LEAK-db\n      \
         ls {d}/mirrors && echo LEAK-mirror\n      echo x > {d}/escape && echo LEAK-write\n      \
         echo x > /tmp/escape-hook && ls / | grep -q escape && echo LEAK-root\n      \
         env | sed 's/=.*//' | sort | tr '\\n' ' '; echo\n      echo probe-done\n    description: probe\n"
    );
    std::fs::write(&path, server_config(&probe, "    []\n")).unwrap();
    ctx.set("server_config", path.to_str().unwrap());
    ctx.start_bosun().await;
    let (pr, _) = ctx
        .open_pr(
            "probe",
            &[("one/main.tf", &module(&ctx.state_file("one"), &["x"]))],
        )
        .await;
    ctx.settle().await;
    let body = ctx.reply(pr, "plan");
    assert!(body.contains("probe-done"), "the hook ran: {body}");
    assert!(!body.contains("LEAK"), "{body}");
    assert!(!body.contains("PRIVATE KEY"), "{body}");
    assert!(
        !body.contains(crate::support::fake::WEBHOOK_SECRET),
        "{body}"
    );
    // Its environment is Terraform's and Atlantis's hook variables: nothing of bosun's own.
    assert!(body.contains("PULL_NUM") && body.contains("HOME"), "{body}");
    assert!(!body.contains("BOSUN_"), "{body}");
    assert!(!data.join("escape").exists());
}

#[tokio::test]
async fn pre_hooks_run_before_state_commands_and_an_apply_on_merge_which_use_their_config() {
    let mut ctx = TestContext::without_bosun().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repos.yaml");
    let log = ctx.state_file("hooks.log");
    let config = server_config(
        &format!(
            "  - run: sh gen.sh > /dev/null && echo \"$COMMAND_NAME $HEAD_COMMIT\" >> {}\n",
            log.display()
        ),
        "    []\n",
    );
    std::fs::write(&path, config).unwrap();
    ctx.set("server_config", path.to_str().unwrap());
    ctx.set("allow_commands", "all");
    ctx.start_bosun().await;
    // The committed config (the base's: policy) turns apply on merge on and lists only
    // `alpha`; the hook's adds `gamma`.
    let committed = "version: 3\napply_on_merge: true\nprojects:\n- name: a\n  dir: alpha\n";
    ctx.push_base(&[
        ("gen.sh", Some(GENERATOR)),
        ("atlantis.yaml", Some(committed)),
    ]);
    let pr = open_three_dirs(&ctx).await;
    assert_eq!(
        ctx.check(pr, "bosun/plan: g").conclusion.as_deref(),
        Some("success")
    );
    // `-p g` names a project only the hook's config has.
    ctx.comment(pr, "alice", "bosun state rm -p g terraform_data.x")
        .await;
    ctx.settle().await;
    let said = ctx.reply(pr, "state-rm");
    // It ran on project `g` (whose state is still empty: nothing was applied yet).
    assert!(said.contains("#### ❌ `g` State rm failed."), "{said}");

    let merge = ctx.merge_pr(pr).await;
    ctx.settle().await;
    let ran = std::fs::read_to_string(&log).unwrap();
    let commands: Vec<&str> = ran.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(commands, ["plan", "state", "apply"], "{ran}");
    assert!(
        ran.ends_with(&format!("apply {merge}\n")),
        "on the merge commit: {ran}"
    );
    let body = ctx.reply(pr, "apply");
    assert!(body.contains("Applied on merge"), "{body}");
    assert!(
        ctx.state_file("gamma").exists(),
        "the hook's project was applied"
    );
    assert!(!ctx.state_file("beta").exists());
}
