//! The server config (`BOSUN_SERVER_CONFIG`, Atlantis's repos.yaml), end to end: a regex
//! entry and an exact one overlapping, each key acting on real pull requests; reloaded while
//! bosun runs, a fixed rule acting on the next pull request and a bad file keeping the old
//! rules; SIGHUP reloading the real binary.

use crate::support::prs::module;
use crate::support::{REPO, TestContext};

/// A server workflow that leaves a mark in `log` before the usual init and plan.
fn server_config(log: &std::path::Path, requirements: &str) -> String {
    format!(
        "repos:\n\
         - id: /.*/\n  \
           allowed_overrides: [workflow]\n  \
           allowed_workflows: [marking]\n\
         - id: {REPO}\n  \
           branch: /^main$/\n  \
           apply_requirements: {requirements}\n  \
           workflow: marking\n\
         workflows:\n  \
           marking:\n    \
             plan:\n      \
               steps:\n      \
               - run: echo \"server workflow in $REPO_REL_DIR\" >> {}\n      \
               - init\n      \
               - plan\n",
        log.display()
    )
}

#[tokio::test]
async fn the_server_configs_entries_act_on_pull_requests_and_a_reload_changes_the_next_one() {
    let mut ctx = TestContext::without_bosun().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repos.yaml");
    let log = ctx.state_file("marks.log");
    std::fs::write(&path, server_config(&log, "[approved]")).unwrap();
    ctx.set("server_config", path.to_str().unwrap());
    ctx.start_bosun().await;
    // The base branch's config: policy (and the workflow) come from the base.
    let config = "version: 3\nprojects:\n- dir: one\n- dir: four\n- dir: five\n";
    ctx.push_base(&[("atlantis.yaml", Some(config))]);

    // The exact entry's default workflow (a server workflow) plans the project, and its
    // apply requirement refuses an unapproved apply.
    let (pr, _) = ctx
        .open_pr(
            "planned by the server's workflow",
            &[("one/main.tf", &module(&ctx.state_file("one"), &["a"]))],
        )
        .await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(pr, "bosun/plan: one").conclusion.as_deref(),
        Some("success")
    );
    let marks = std::fs::read_to_string(&log).unwrap();
    assert_eq!(marks.trim(), "server workflow in one");
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let refused = ctx.reply(pr, "apply-refused");
    assert!(refused.contains("approved"), "{refused}");
    assert!(ctx.applies_of_pr(pr).await.is_empty());

    // Dropping the server's requirement is an override the entries do not allow: the
    // comment names the file, line and key.
    let dropping = "version: 3\nprojects:\n- dir: two\n  apply_requirements: []\n";
    let (dropped, _) = ctx
        .open_pr(
            "drops approval",
            &[
                ("atlantis.yaml", dropping),
                ("two/main.tf", &module(&ctx.state_file("two"), &["a"])),
            ],
        )
        .await;
    ctx.settle().await;
    let body = ctx.bot_comment(dropped).body;
    assert!(
        body.contains(
            "At `atlantis.yaml:4:3`, key `projects[0].apply_requirements`: every project must \
             require `approved`"
        ),
        "{body}"
    );
    assert!(body.contains("`apply_requirements`"), "{body}");

    // A custom workflow is refused (no entry allows them); a server workflow outside
    // `allowed_workflows` cannot be named (there is none other: `default` is refused).
    let custom = "version: 3\nprojects:\n- dir: three\n  workflow: mine\nworkflows:\n  mine: ~\n";
    let (customised, _) = ctx
        .open_pr(
            "brings its own workflow",
            &[
                ("atlantis.yaml", custom),
                ("three/main.tf", &module(&ctx.state_file("three"), &["a"])),
            ],
        )
        .await;
    ctx.settle().await;
    let body = ctx.bot_comment(customised).body;
    assert!(
        body.contains("key `workflows.mine`: custom workflows are not allowed"),
        "{body}"
    );

    // A reload that drops the requirement acts on the next pull request.
    std::fs::write(&path, server_config(&log, "[]")).unwrap();
    ctx.bosun().reload_server_config().unwrap();
    let (next, _) = ctx
        .open_pr(
            "after the reload",
            &[("four/main.tf", &module(&ctx.state_file("four"), &["b"]))],
        )
        .await;
    ctx.settle().await;
    ctx.comment(next, "alice", "bosun apply").await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(next, "bosun/apply: four").conclusion.as_deref(),
        Some("success")
    );

    // A bad file is not taken: the error names its place, and the rules in force stay
    // (the dropped requirement still lets an apply through, the workflow still marks).
    std::fs::write(
        &path,
        "repos:\n- id: acme/infra\n  apply_requirements: [aproved]\n",
    )
    .unwrap();
    let e = ctx.bosun().reload_server_config().unwrap_err();
    assert!(
        e.ends_with("repos.yaml:3:24: repos[0].apply_requirements[0]: `aproved` is not one of approved, mergeable, undiverged, policies_passed"),
        "{e}"
    );
    let (last, _) = ctx
        .open_pr(
            "after the bad reload",
            &[("five/main.tf", &module(&ctx.state_file("five"), &["c"]))],
        )
        .await;
    ctx.settle().await;
    ctx.comment(last, "alice", "bosun apply").await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(last, "bosun/apply: five").conclusion.as_deref(),
        Some("success")
    );
    let marks = std::fs::read_to_string(&log).unwrap();
    assert_eq!(marks.lines().count(), 3, "{marks}");
    ctx.finish().await;
}

#[tokio::test]
async fn the_repo_config_file_an_entry_names_is_the_one_read() {
    let mut ctx = TestContext::without_bosun().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repos.yaml");
    std::fs::write(
        &path,
        format!("repos:\n- id: {REPO}\n  repo_config_file: infra/bosun.yaml\n"),
    )
    .unwrap();
    ctx.set("server_config", path.to_str().unwrap());
    ctx.start_bosun().await;
    // The config under infra/ names one project; a root atlantis.yaml naming the other is
    // not read.
    let (pr, _) = ctx
        .open_pr(
            "configured under infra/",
            &[
                ("infra/bosun.yaml", "version: 3\nprojects:\n- dir: one\n"),
                ("atlantis.yaml", "version: 3\nprojects:\n- dir: two\n"),
                ("one/main.tf", &module(&ctx.state_file("one"), &["a"])),
                ("two/main.tf", &module(&ctx.state_file("two"), &["a"])),
            ],
        )
        .await;
    ctx.settle().await;
    let names: Vec<String> = ctx
        .fake
        .model()
        .repo(REPO)
        .unwrap()
        .check_runs
        .iter()
        .map(|c| c.name.clone())
        .filter(|n| n.starts_with("bosun/plan: "))
        .collect();
    assert_eq!(names, ["bosun/plan: one"]);
    let _ = pr;
    ctx.finish().await;
}

/// The server config reading a repository's config from `file`.
fn reading(file: &str) -> String {
    format!("repos:\n- id: /.*/\n  repo_config_file: {file}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_real_binary_and_a_bad_file_keeps_the_rules_in_force() {
    use rustix::process::Signal;

    let ctx = TestContext::without_bosun().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repos.yaml");
    std::fs::write(&path, reading("a.yaml")).unwrap();
    let writable = ctx.state_dir.path().to_owned();
    let serve = crate::drain::Serve::start(
        &ctx,
        &writable,
        &[("--server-config", path.to_str().unwrap())],
    )
    .await;
    // Each pull request its own projects, so no lock of one holds another back.
    let files = |tag: &str| {
        vec![
            (
                "a.yaml".to_owned(),
                format!("version: 3\nprojects:\n- dir: a-{tag}\n"),
            ),
            (
                "b.yaml".to_owned(),
                format!("version: 3\nprojects:\n- dir: b-{tag}\n"),
            ),
            (
                format!("a-{tag}/main.tf"),
                module(&ctx.state_file(&format!("a-{tag}")), &[tag]),
            ),
            (
                format!("b-{tag}/main.tf"),
                module(&ctx.state_file(&format!("b-{tag}")), &[tag]),
            ),
        ]
    };
    let planned = |pr: u64| {
        let m = ctx.fake.model();
        let head = m.repo(REPO).unwrap().prs[&pr].head_sha.clone();
        let mut names: Vec<String> = m
            .repo(REPO)
            .unwrap()
            .check_runs
            .iter()
            .filter(|c| c.head_sha == head && c.name.starts_with("bosun/plan: "))
            .map(|c| c.name.clone())
            .collect();
        names.sort();
        names
    };
    let open = |title: &'static str, tag: &'static str| {
        let ctx = &ctx;
        let files = files(tag);
        async move {
            let files: Vec<(&str, &str)> = files
                .iter()
                .map(|(p, t)| (p.as_str(), t.as_str()))
                .collect();
            let (pr, _) = ctx.open_pr(title, &files).await;
            // The real binary plans it: wait for the summary check to complete.
            let t = std::time::Instant::now();
            loop {
                let done = {
                    let m = ctx.fake.model();
                    let repo = m.repo(REPO).unwrap();
                    let head = &repo.prs[&pr].head_sha;
                    repo.check_runs.iter().any(|c| {
                        &c.head_sha == head && c.name == "bosun/plan" && c.conclusion.is_some()
                    })
                };
                if done {
                    break pr;
                }
                assert!(
                    t.elapsed() < std::time::Duration::from_secs(60),
                    "#{pr} not planned"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    let first = open("first", "one").await;
    assert_eq!(planned(first), ["bosun/plan: a-one"]);

    // A bad file on SIGHUP: the error, with its place, is logged; the rules stay.
    std::fs::write(&path, "repos:\n- id: /(/\n").unwrap();
    serve.signal(Signal::HUP);
    let t = std::time::Instant::now();
    while !serve.log().contains("the server config was not reloaded") {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "{}",
            serve.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        serve.log().contains("repos.yaml:2:7: repos[0].id"),
        "{}",
        serve.log()
    );
    let second = open("second", "two").await;
    assert_eq!(planned(second), ["bosun/plan: a-two"]);

    // A good one: the next pull request is read by the new rules; bosun went on serving.
    std::fs::write(&path, reading("b.yaml")).unwrap();
    serve.signal(Signal::HUP);
    let t = std::time::Instant::now();
    for round in ["three", "four", "five", "six", "seven"] {
        let pr = open("after the reload", round).await;
        if planned(pr) == [format!("bosun/plan: b-{round}")] {
            break;
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(30) && round != "seven",
            "not reloaded: {}",
            serve.log()
        );
    }
    drop(serve);
    ctx.finish().await;
}

#[tokio::test]
async fn the_servers_plan_requirements_hold_a_pull_request_without_a_repo_config_too() {
    let mut ctx = TestContext::without_bosun().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repos.yaml");
    std::fs::write(
        &path,
        "repos:\n- id: /^acme\\//\n  plan_requirements: [approved]\n- id: acme/other\n  plan_requirements: []\n",
    )
    .unwrap();
    ctx.set("server_config", path.to_str().unwrap());
    ctx.start_bosun().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    let tf = module(&ctx.state_file("dev"), &["app"]);
    let (pr, _) = ctx
        .open_pr("dev", &[("envs/dev/main.tf", tf.as_str())])
        .await;
    ctx.settle().await;
    let check = ctx.check(pr, "bosun/plan: envs/dev");
    assert_eq!(check.conclusion.as_deref(), Some("failure"), "autoplan");
    assert!(
        ctx.plans_of_pr(pr)
            .await
            .iter()
            .all(|p| p.planfile.is_none())
    );
    ctx.fake.add_review(REPO, pr, "alice", "APPROVED");
    ctx.comment(pr, "bob", "bosun plan").await;
    ctx.settle().await;
    let check = ctx.check(pr, "bosun/plan: envs/dev");
    assert_eq!(check.conclusion.as_deref(), Some("success"), "approved");
    ctx.finish().await;
}

#[tokio::test]
async fn a_repository_without_a_repo_config_runs_the_servers_workflow() {
    let mut ctx = TestContext::without_bosun().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repos.yaml");
    let log = ctx.state_file("marks.log");
    std::fs::write(&path, server_config(&log, "[]")).unwrap();
    ctx.set("server_config", path.to_str().unwrap());
    ctx.start_bosun().await;
    // No repo config anywhere: the project is discovered, and planned by the exact entry's
    // `workflow`.
    let (pr, _) = ctx
        .open_pr(
            "discovered",
            &[("envs/dev/main.tf", &module(&ctx.state_file("dev"), &["a"]))],
        )
        .await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(pr, "bosun/plan: envs/dev").conclusion.as_deref(),
        Some("success")
    );
    let marks = std::fs::read_to_string(&log).unwrap();
    assert_eq!(marks.trim(), "server workflow in envs/dev");
    ctx.finish().await;
}

#[tokio::test]
async fn the_servers_autodiscover_decides_the_projects_of_a_repository_without_a_repo_config() {
    const TOKEN: &str = "autodiscover-api-token-0123456789";
    let mut ctx = TestContext::without_bosun().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repos.yaml");
    let discovering = |mode: &str| {
        format!(
            "repos:\n- id: {REPO}\n  autodiscover:\n    mode: {mode}\n    ignore_paths: ['legacy/*']\n"
        )
    };
    std::fs::write(&path, discovering("enabled")).unwrap();
    ctx.set("server_config", path.to_str().unwrap());
    ctx.set("api_token", TOKEN);
    ctx.start_bosun().await;
    let files = [
        ("app/main.tf", module(&ctx.state_file("app"), &["a"])),
        ("legacy/old/main.tf", module(&ctx.state_file("old"), &["a"])),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let (pr, _) = ctx.open_pr("app and legacy", &files).await;
    ctx.settle().await;
    let names = ctx.check_names(pr);
    assert!(names.contains(&"bosun/plan: app".to_owned()), "{names:?}");
    assert!(
        !names.iter().any(|n| n.contains("legacy")),
        "ignored: {names:?}"
    );
    // `-d` names an ignored dir: not a project either, as with a repo config's autodiscover.
    ctx.comment(pr, "alice", "bosun plan -d legacy/old").await;
    ctx.settle().await;
    assert!(!ctx.check_names(pr).iter().any(|n| n.contains("legacy")));

    // Drift checks of the default branch find the same projects.
    let changes: Vec<(&str, Option<&str>)> = files.iter().map(|(p, t)| (*p, Some(*t))).collect();
    let base = ctx.push_base(&changes);
    let reply = ctx
        .http
        .send(
            http::Method::POST,
            &ctx.url("/api/drift/acme/infra"),
            &[("authorization", format!("Bearer {TOKEN}"))],
            bytes::Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 202, "{}", reply.text());
    ctx.settle().await;
    let drift: Vec<String> = {
        let m = ctx.fake.model();
        let repo = m.repo(REPO).unwrap();
        let mut names: Vec<String> = repo
            .check_runs
            .iter()
            .filter(|c| c.head_sha == base && c.name.starts_with("bosun/drift"))
            .map(|c| c.name.clone())
            .collect();
        names.dedup();
        names
    };
    assert_eq!(drift, ["bosun/drift: app"], "{drift:?}");

    // `disabled`: a repository without a repo config has no project found.
    std::fs::write(&path, discovering("disabled")).unwrap();
    ctx.bosun().reload_server_config().unwrap();
    let (quiet, _) = ctx
        .open_pr(
            "nothing discovered",
            &[("app/main.tf", &module(&ctx.state_file("app"), &["b"]))],
        )
        .await;
    ctx.settle().await;
    assert_eq!(ctx.check_names(quiet), ["bosun/plan"]);
    let summary = ctx.check(quiet, "bosun/plan");
    assert_eq!(
        summary.title.as_deref(),
        Some("0/0 projects planned successfully")
    );
}
