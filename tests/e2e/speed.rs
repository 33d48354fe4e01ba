//! What bosun's speed-ups must not break (issue 18): a plan's check run completes from the
//! plan's own output while `show -json` still runs, and is written once when the final outcome
//! renders the same; a push that changes nothing in a project's tree still gets a fresh plan
//! check on the new head; the mirror is not fetched again for a plan's tasks, and an autoplan
//! fetches while it reads the pull request; a plan of many projects writes fewer check-run
//! states and starts its first project alone.

use bosun::ids::PrNumber;
use bosun::ids::RepoKey;
use std::time::{Duration, Instant};

use crate::support::prs::module;
use crate::support::{REPO, TestContext, terraform_bin};

/// Times `git fetch` reached the fake for `REPO` (each begins with the ref advertisement).
fn fetches(ctx: &TestContext) -> usize {
    ctx.fake
        .git_requests(REPO)
        .iter()
        .filter(|r| r.service == "git-upload-pack" && r.path == "info/refs")
        .count()
}

#[tokio::test]
async fn a_plans_tasks_do_not_fetch_what_its_job_just_fetched() {
    let ctx = TestContext::start().await;
    let files = [
        ("a/main.tf", module(&ctx.state_file("a"), &["one"])),
        ("b/main.tf", module(&ctx.state_file("b"), &["two"])),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
    let (pr, _) = ctx.open_pr("two projects", &files).await;
    ctx.settle().await;
    for name in ["bosun/plan: a", "bosun/plan: b"] {
        let check = ctx.check(pr, name);
        assert_eq!(check.conclusion.as_deref(), Some("success"), "{check:#?}");
    }
    // The job fetched the pull request; its two tasks, on the same replica, did not.
    assert_eq!(fetches(&ctx), 1);
    // A plan asked for again fetches again (the base branch may have moved), once.
    ctx.comment(pr, "alice", "bosun plan").await;
    ctx.settle().await;
    assert_eq!(fetches(&ctx), 2);
    ctx.finish().await;
}

#[tokio::test]
async fn a_push_that_changes_nothing_in_a_projects_tree_gets_a_fresh_plan_check_on_the_new_head() {
    let ctx = TestContext::start().await;
    let tf = module(&ctx.state_file("a"), &["one"]);
    let (pr, _) = ctx.open_pr("a", &[("a/main.tf", &tf)]).await;
    ctx.settle().await;
    let first = ctx.check(pr, "bosun/plan: a");
    assert_eq!(first.conclusion.as_deref(), Some("success"), "{first:#?}");

    // Only a file outside the project changes: its checkout's tree is the same.
    let head = ctx.push_to_pr(pr, &[("README.md", Some("words\n"))]);
    ctx.pr_event(pr, "synchronize").await;
    ctx.settle().await;
    let second = ctx.check(pr, "bosun/plan: a");
    assert_eq!(second.head_sha, head);
    assert_ne!(second.id, first.id, "a new check run on the new head");
    assert_eq!(second.conclusion.as_deref(), Some("success"), "{second:#?}");
    assert_eq!(
        second.title.as_deref(),
        Some("1 to add, 0 to change, 0 to destroy")
    );
    let comment = ctx.bot_comment(pr).body;
    assert!(comment.contains(&head[..7]), "{comment}");
    ctx.finish().await;
}

/// A Terraform that holds `show` until the file `release` exists (at most 60 s), and runs the
/// real one for everything else.
fn held_show(dir: &std::path::Path, release: &std::path::Path) -> std::path::PathBuf {
    held(dir, "[ \"$1\" = show ]", release)
}

/// A Terraform that, when the shell test `when` holds, waits until the file `release` exists
/// (at most 60 s) before it runs the real one.
fn held(dir: &std::path::Path, when: &str, release: &std::path::Path) -> std::path::PathBuf {
    let script = dir.join("terraform-held");
    let text = format!(
        "#!/bin/sh\nif {when}; then\n  i=0\n  while [ ! -e '{release}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\nfi\nexec '{real}' \"$@\"\n",
        release = release.display(),
        real = terraform_bin(),
    );
    std::fs::write(&script, text).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[tokio::test]
async fn the_check_run_completes_from_the_plans_own_output_while_show_still_runs() {
    let mut ctx = TestContext::without_bosun().await;
    // In the states directory: the sandbox can read (and so run) it and see the release file.
    let dir = ctx.state_dir.path().to_owned();
    let release = dir.join("release-show");
    let bin = held_show(&dir, &release);
    ctx.set("terraform_bin", &bin.display().to_string());
    ctx.start_bosun().await;
    let tf = module(&ctx.state_file("a"), &["one", "two"]);
    let (pr, _) = ctx.open_pr("a", &[("a/main.tf", &tf)]).await;

    // `show -json` is held: the check run completes from the plan's output or not at all.
    let started = Instant::now();
    let completed = loop {
        let check = {
            let m = ctx.fake.model();
            let repo = m.repo(REPO).unwrap();
            let head = &repo.prs[&pr].head_sha;
            repo.check_runs
                .iter()
                .find(|c| &c.head_sha == head && c.name == "bosun/plan: a")
                .cloned()
        };
        if let Some(check) = check.filter(|c| c.status == "completed") {
            break check;
        }
        assert!(
            started.elapsed() < Duration::from_secs(45),
            "the check run did not complete while show was held"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(ctx.bot_comments(pr).is_empty(), "no comment before show");
    assert_eq!(completed.conclusion.as_deref(), Some("success"));
    assert_eq!(
        completed.title.as_deref(),
        Some("2 to add, 0 to change, 0 to destroy")
    );
    std::fs::write(&release, "").unwrap();
    ctx.settle().await;

    // The final outcome renders the same: the check run was completed once.
    let check = ctx.check(pr, "bosun/plan: a");
    let completions = check
        .history
        .iter()
        .filter(|s| s.starts_with("completed"))
        .count();
    assert_eq!(completions, 1, "{check:#?}");
    assert_eq!(check.summary, completed.summary);
    assert_eq!(check.text, completed.text);
    let comment = ctx.bot_comment(pr).body;
    assert!(comment.contains("Plan: 2 to add"), "{comment}");
    ctx.finish().await;
}

#[tokio::test]
async fn a_plan_of_many_projects_writes_each_projects_check_run_once_when_it_ends() {
    let ctx = TestContext::start().await;
    let names: Vec<String> = (0..6).map(|i| format!("p{i}")).collect();
    let files: Vec<(String, String)> = names
        .iter()
        .map(|n| {
            let tf = module(&ctx.state_file(n), &["one"]);
            (format!("{n}/main.tf"), tf)
        })
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let (pr, _) = ctx.open_pr("six projects", &files).await;
    ctx.settle().await;
    for n in &names {
        let check = ctx.check(pr, &format!("bosun/plan: {n}"));
        // One write: created completed, never queued or in progress.
        assert_eq!(check.history, ["completed:success"], "{check:#?}");
    }
    let summary = ctx.check(pr, "bosun/plan");
    assert_eq!(
        summary.conclusion.as_deref(),
        Some("success"),
        "{summary:#?}"
    );
    let comment = ctx.bot_comment(pr).body;
    assert!(comment.contains("p5"), "{comment}");

    // Five projects or fewer: each check run says it is queued first.
    let (few, _) = ctx.open_pr("one project", &files[..1]).await;
    ctx.settle().await;
    let check = ctx.check(few, "bosun/plan: p0");
    assert_eq!(check.history.first().map(String::as_str), Some("queued"));
    ctx.finish().await;
}

/// Plan tasks of `pr`'s plan job stored so far.
async fn tasks(ctx: &TestContext, pr: u64) -> usize {
    let store = ctx.store();
    let jobs = store
        .jobs_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    let mut n = 0;
    for job in jobs {
        n += store.tasks_of_job(job.id).await.unwrap().len();
    }
    n
}

#[tokio::test]
async fn a_plans_first_project_starts_alone_and_the_others_after_it_or_two_seconds() {
    let mut ctx = TestContext::without_bosun().await;
    let dir = ctx.state_dir.path().to_owned();
    let release = dir.join("release-init");
    // The first project's (`p0`'s) init is held.
    let bin = held(
        &dir,
        "[ \"$1\" = init ] && case \"$PWD\" in */p0) true;; *) false;; esac",
        &release,
    );
    ctx.set("terraform_bin", &bin.display().to_string());
    ctx.start_bosun().await;
    let files: Vec<(String, String)> = (0..3)
        .map(|i| {
            let tf = module(&ctx.state_file(&format!("p{i}")), &["one"]);
            (format!("p{i}/main.tf"), tf)
        })
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let (pr, _) = ctx.open_pr("three", &files).await;

    // While the first project is held, under the head start, its task is the only one.
    let started = Instant::now();
    while tasks(&ctx, pr).await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no task queued"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let queued = Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    if queued.elapsed() < Duration::from_millis(1800) {
        assert_eq!(tasks(&ctx, pr).await, 1, "the others wait for the first");
    }
    // The head start ends after two seconds even though the first is still held.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    assert_eq!(
        tasks(&ctx, pr).await,
        3,
        "the others go after the head start"
    );
    let others_done = Instant::now();
    loop {
        let done = ["p1", "p2"].iter().all(|n| {
            ctx.fake
                .model()
                .repo(REPO)
                .unwrap()
                .check_runs
                .iter()
                .any(|c| c.name == format!("bosun/plan: {n}") && c.status == "completed")
        });
        if done {
            break;
        }
        assert!(
            others_done.elapsed() < Duration::from_secs(45),
            "the others never planned"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::fs::write(&release, "").unwrap();
    ctx.settle().await;
    for n in ["p0", "p1", "p2"] {
        let check = ctx.check(pr, &format!("bosun/plan: {n}"));
        assert_eq!(check.conclusion.as_deref(), Some("success"), "{check:#?}");
    }
    ctx.finish().await;
}

#[tokio::test]
async fn an_autoplan_fetches_the_head_while_it_reads_the_pull_request() {
    let mut ctx = TestContext::without_bosun().await;
    // The autoplan's read of the pull request hangs.
    ctx.fake.stall_next("GET", "/pulls/1", 1);
    ctx.start_bosun().await;
    let tf = module(&ctx.state_file("a"), &["one"]);
    let (pr, _) = ctx.open_pr("a", &[("a/main.tf", &tf)]).await;
    assert_eq!(pr, 1);
    let started = Instant::now();
    while ctx.fake.model().stalled < 1 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no read of the PR"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The fetch does not wait for the read.
    while fetches(&ctx) < 1 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no fetch while the read of the pull request hangs"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ctx.fake.model().stalled >= 1);
    ctx.finish().await;
}

/// The stand-in provider's executable: `init` installs it without starting it (a plan,
/// which starts it, fails).
const ALPHA: &[u8] = b"#!/bin/sh\n# a stand-in for example.com/example/alpha\nexit 1\n";

/// A packed filesystem mirror under `dir` serving [`ALPHA`] as `example.com/example/alpha`
/// 1.0.0, and a CLI config installing `example.com` providers from it only.
fn alpha_mirror(dir: &std::path::Path) -> std::path::PathBuf {
    let at = dir.join("mirror/example.com/example/alpha");
    std::fs::create_dir_all(&at).unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    zip.start_file("terraform-provider-alpha_v1.0.0", opts)
        .unwrap();
    std::io::Write::write_all(&mut zip, ALPHA).unwrap();
    zip.finish().unwrap();
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    };
    let zip_path = at.join(format!("terraform-provider-alpha_1.0.0_linux_{arch}.zip"));
    std::fs::write(zip_path, out.into_inner()).unwrap();
    let config = dir.join("cli.tfrc");
    std::fs::write(
        &config,
        format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"example.com/*/*\"]\n  }}\n  direct {{\n    exclude = [\"example.com/*/*\"]\n  }}\n}}\n",
            dir.join("mirror").display()
        ),
    )
    .unwrap();
    config
}

/// The lock file recording [`ALPHA`]'s package by its `h1:` hash (Go's `dirhash.Hash1`).
fn alpha_lock() -> String {
    use base64::Engine as _;
    use sha2::{Digest as _, Sha256};
    let line = format!(
        "{:x}  terraform-provider-alpha_v1.0.0\n",
        Sha256::digest(ALPHA)
    );
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(line.as_bytes()));
    format!(
        "provider \"example.com/example/alpha\" {{\n  version = \"1.0.0\"\n  hashes = [\n    \"h1:{hash}\",\n  ]\n}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_one_pull_request_installed_is_linked_by_the_next_from_the_verified_store() {
    for store in [true, false] {
        let mut ctx = TestContext::without_bosun().await;
        let cli = alpha_mirror(&ctx.state_dir.path().join("providers"));
        ctx.set("terraform_cli_config_file", &cli.display().to_string());
        if !store {
            ctx.set("provider_store", "false");
        }
        ctx.start_bosun().await;
        let requires = "terraform {\n  required_providers {\n    alpha = { source = \"example.com/example/alpha\" }\n  }\n}\n";
        let lock = alpha_lock();
        let mut failed_at = Vec::new();
        for (n, title) in ["first", "second"].into_iter().enumerate() {
            let tf = module(&ctx.state_file(title), &["one"]);
            // A project of its own each: the first pull request's plan locks its project.
            let paths =
                ["main.tf", "providers.tf", ".terraform.lock.hcl"].map(|f| format!("{title}/{f}"));
            let files = [
                (paths[0].as_str(), tf.as_str()),
                (paths[1].as_str(), requires),
                (paths[2].as_str(), lock.as_str()),
            ];
            let (pr, _) = ctx.open_pr(title, &files).await;
            ctx.settle().await;
            let check = ctx.check(pr, &format!("bosun/plan: {title}"));
            let summary = check.summary.unwrap_or_default();
            failed_at.push(summary);
            if n == 0 {
                // The mirror's package is spoilt (Terraform still lists its version there):
                // the second pull request can only get alpha from the store.
                let zips = ctx
                    .state_dir
                    .path()
                    .join("providers/mirror/example.com/example/alpha");
                for zip in std::fs::read_dir(&zips).unwrap() {
                    std::fs::write(zip.unwrap().path(), b"not a zip").unwrap();
                }
            }
        }
        // The stand-in provider cannot plan: getting as far as `plan` means `init` succeeded.
        assert!(
            failed_at[0].contains("Planning failed at `plan`."),
            "{}",
            failed_at[0]
        );
        let verified = ctx.data_path().join("plugin-cache/verified");
        if store {
            assert!(
                failed_at[1].contains("Planning failed at `plan`."),
                "{}",
                failed_at[1]
            );
            // The store of the repository's owner.
            let versions = verified.join("acme/example.com/example/alpha/1.0.0");
            let platforms: Vec<_> = std::fs::read_dir(&versions).unwrap().flatten().collect();
            assert_eq!(platforms.len(), 1);
            let entries = std::fs::read_dir(platforms[0].path()).unwrap().count();
            assert_eq!(entries, 1, "one stored copy");
        } else {
            assert!(
                failed_at[1].contains("Planning failed at `init`."),
                "{}",
                failed_at[1]
            );
            assert!(!verified.exists());
        }
        ctx.finish().await;
    }
}
