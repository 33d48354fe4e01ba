//! Nothing bosun does on the host follows a pull request's files: a PR that commits symlinks
//! where bosun keeps its own files, project dirs that are links out of the checkout, a
//! committed `.terraform/environment` or a committed HOME changes no host file and is not
//! used; a step that links the planfile to a host file does not get it read; git in a run
//! takes only https; a PR's plugin cache is its own.

use crate::support::fake::model::symlink;
use crate::support::prs::module;
use crate::support::{REPO, TestContext};

/// A host directory outside everything the sandbox may write, holding `file` and an empty
/// `dir`; returns it and a listing to compare with later.
fn victim() -> (tempfile::TempDir, Vec<(String, String)>) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("file"), "host file\n").unwrap();
    std::fs::create_dir(tmp.path().join("dir")).unwrap();
    std::fs::write(tmp.path().join("main.tf"), "# a host directory\n").unwrap();
    let seen = listing(tmp.path());
    (tmp, seen)
}

/// Every path under `dir` (relative) with its length and the start of its content (empty for
/// directories).
fn listing(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            if path.is_dir() {
                stack.push(path);
                out.push((rel, String::new()));
            } else {
                let bytes = std::fs::read(&path).unwrap();
                let start = String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into_owned();
                out.push((rel, format!("{} bytes: {start}", bytes.len())));
            }
        }
    }
    out.sort();
    out
}

/// Every comment bosun wrote on `pr`, joined.
fn said(ctx: &TestContext, pr: u64) -> String {
    ctx.bot_comments(pr)
        .into_iter()
        .map(|c| c.body)
        .collect::<Vec<_>>()
        .join("\n----\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_under_bosuns_names_are_planned_and_applied_and_no_host_file_changes() {
    let ctx = TestContext::start().await;
    let (host, before) = victim();
    let file = host.path().join("file").display().to_string();
    let dir = host.path().join("dir").display().to_string();

    // The planfile's old name alone: bosun used to write the saved plan through it at apply.
    let state = ctx.state_file("plan-link");
    let tf = module(&state, &["a"]);
    let link = symlink(&file);
    let (pr, _) = ctx
        .open_pr(
            "planfile link",
            &[
                ("envs/plan-link/main.tf", tf.as_str()),
                ("envs/plan-link/.bosun.tfplan", link.as_str()),
            ],
        )
        .await;
    ctx.settle().await;
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert_eq!(listing(host.path()), before, "a host file changed");
    let applied = ctx.reply(pr, "apply");
    assert!(
        applied.contains("Apply complete! Resources: 1 added"),
        "{applied}"
    );

    // Every name bosun has used in a project dir, at once.
    let state = ctx.state_file("evil");
    let tf = module(&state, &["a"]);
    let files = [
        ("envs/evil/main.tf", tf),
        ("envs/evil/.bosun.tfplan", symlink(&file)),
        ("envs/evil/plan.tfplan", symlink(&file)),
        ("envs/evil/.bosun-home", symlink(&dir)),
        ("envs/evil/.terraform", symlink(&dir)),
        ("envs/evil/terraformrc", symlink(&file)),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
    let (pr, _) = ctx.open_pr("links", &files).await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(pr, "bosun/plan: envs/evil").conclusion.as_deref(),
        Some("success"),
        "{}",
        said(&ctx, pr)
    );
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let applied = ctx.reply(pr, "apply");
    assert!(
        applied.contains("Apply complete! Resources: 1 added"),
        "{applied}"
    );
    assert!(
        std::fs::read_to_string(&state)
            .unwrap()
            .contains("terraform_data")
    );
    assert_eq!(listing(host.path()), before, "a host file changed");
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_dir_linking_out_of_the_checkout_is_refused_by_name() {
    let ctx = TestContext::start().await;
    let (host, before) = victim();
    let target = host.path().display().to_string();

    // `-d` on a committed link.
    let link = symlink(&target);
    let (pr, _) = ctx
        .open_pr("dir link", &[("envs/link", link.as_str())])
        .await;
    ctx.settle().await;
    ctx.comment(pr, "alice", "bosun plan -d envs/link").await;
    ctx.settle().await;
    let text = said(&ctx, pr);
    assert!(
        text.contains("`envs/link` is a symbolic link") && text.contains("outside the repository"),
        "{text}"
    );

    // A config's `dir:` that is a link.
    let config = "version: 3\nprojects:\n  - name: linked\n    dir: envs/cfglink\n";
    let link = symlink(&target);
    let (pr2, _) = ctx
        .open_pr(
            "config link",
            &[("bosun.yaml", config), ("envs/cfglink", link.as_str())],
        )
        .await;
    ctx.settle().await;
    ctx.comment(pr2, "alice", "bosun plan -p linked").await;
    ctx.settle().await;
    let text = said(&ctx, pr2);
    assert!(
        text.contains("`envs/cfglink` is a symbolic link")
            && text.contains("outside the repository"),
        "{text}"
    );
    assert_eq!(listing(host.path()), before, "written outside the checkout");
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_terraform_dir_and_home_are_not_used() {
    let ctx = TestContext::start().await;
    let state = ctx.state_file("ws");
    let mut tf = module(&state, &[]);
    tf.push_str(
        "\nresource \"terraform_data\" \"ws\" {\n  input = \"workspace=${terraform.workspace}\"\n}\n\
         \nresource \"terraform_data\" \"rc\" {\n  input = fileexists(pathexpand(\"~/.terraformrc\")) ? file(pathexpand(\"~/.terraformrc\")) : \"no rc\"\n}\n",
    );
    let rc = "# committed-rc\nprovider_installation {\n  dev_overrides {\n    \"hashicorp/null\" = \"/nonexistent\"\n  }\n  direct {}\n}\n";
    let (pr, _) = ctx
        .open_pr(
            "committed state",
            &[
                ("envs/ws/main.tf", tf.as_str()),
                ("envs/ws/.terraform/environment", "prod"),
                ("envs/ws/.bosun-home/.terraformrc", rc),
            ],
        )
        .await;
    ctx.settle().await;
    let plan = ctx.reply(pr, "plan");
    assert!(plan.contains("workspace=default"), "{plan}");
    assert!(!plan.contains("workspace=prod"), "{plan}");
    assert!(plan.contains("\"no rc\""), "{plan}");
    assert!(!plan.contains("committed-rc"), "{plan}");
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prs_plugin_cache_is_its_own_and_goes_when_it_closes() {
    let ctx = TestContext::start().await;
    let state = ctx.state_file("c");
    let (pr, _) = ctx
        .open_pr("cache", &[("envs/c/main.tf", &module(&state, &["a"]))])
        .await;
    ctx.settle().await;
    let caches = ctx.data_path().join("plugin-cache");
    let own = caches.join(format!("pr/{}/pr-{pr}", REPO.replace('/', "+")));
    assert!(own.is_dir(), "no cache of its own at {}", own.display());
    // Nothing of it is where other pull requests or drift checks look: beside the pull
    // requests' caches there is only the verified store of the repository's owner, where
    // nothing but packages a lock file verified ever goes (this pull request uses none).
    let mut top: Vec<String> = std::fs::read_dir(&caches)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["pr", "verified"], "{top:?}");
    let stores: Vec<String> = std::fs::read_dir(caches.join("verified"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(stores, ["acme"], "the store of the repository's owner only");
    assert!(
        std::fs::read_dir(caches.join("verified/acme"))
            .unwrap()
            .next()
            .is_none()
    );
    ctx.close_pr(pr, false).await;
    ctx.settle().await;
    assert!(!own.exists());
    ctx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_in_a_run_uses_https_only() {
    let ctx = TestContext::start().await;
    // A module in a local repository the sandbox can read: `file://` is not https.
    let repo = ctx.state_dir.path().join("module-repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        repo.join("main.tf"),
        "resource \"terraform_data\" \"from_git\" {}\n",
    )
    .unwrap();
    for args in [
        &["init", "-q"][..],
        &["add", "main.tf"],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@x",
            "commit",
            "-qm",
            "m",
        ],
    ] {
        let done = std::process::Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .status()
            .unwrap();
        assert!(done.success(), "git {args:?}");
    }
    let mut tf = module(&ctx.state_file("git"), &[]);
    tf.push_str(&format!(
        "\nmodule \"m\" {{\n  source = \"git::file://{}\"\n}}\n",
        repo.display()
    ));
    let (pr, _) = ctx
        .open_pr("git module", &[("envs/git/main.tf", &tf)])
        .await;
    ctx.settle().await;
    let plan = ctx.reply(pr, "plan");
    assert!(plan.contains("Failed at `init`"), "{plan}");
    assert!(plan.contains("transport 'file' not allowed"), "{plan}");
    ctx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planfile_a_step_links_to_a_host_file_is_not_read() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("allow_custom_workflows", "acme/*");
    ctx.start_bosun().await;
    let (host, before) = victim();
    let file = host.path().join("file").display().to_string();
    let config = format!(
        "version: 3\nprojects:\n  - dir: envs/dev\nworkflows:\n  default:\n    plan:\n      steps:\n        - init\n        - plan\n        - run: ln -sf {file} \"$PLANFILE\"\n"
    );
    let state = ctx.state_file("dev");
    // Workflows are policy: they come from the base branch.
    ctx.push_base(&[("bosun.yaml", Some(&config))]);
    let (pr, _) = ctx
        .open_pr(
            "linked planfile",
            &[("envs/dev/main.tf", &module(&state, &["a"]))],
        )
        .await;
    ctx.settle().await;
    let plan = ctx.reply(pr, "plan");
    assert!(
        plan.contains("`plan.tfplan` is or goes through a symbolic link"),
        "{plan}"
    );
    assert_eq!(listing(host.path()), before);
    ctx.finish().await;
}
