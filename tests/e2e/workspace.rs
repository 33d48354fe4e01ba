//! Workspaces against real git repositories served by the fake GitHub over smart HTTP: mirrors,
//! incremental fetches, checkouts at a sha (branch and merge), changed files, clean-up.

use bosun::ids::PrNumber;
use bosun::ids::Sha;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use bosun::ids::{Dir, Workspace};
use bosun::workspace::{CheckoutError, CheckoutKey, Strategy, Workspaces};

use crate::support::{INSTALLATION, REPO, TestContext};

struct Setup {
    ctx: TestContext,
    ws: Workspaces,
    token: String,
    _data: tempfile::TempDir,
}

async fn setup() -> Setup {
    let ctx = TestContext::without_bosun().await;
    let token = ctx
        .fake
        .issue_token(INSTALLATION, Duration::from_secs(3600));
    let data = tempfile::tempdir().unwrap();
    let ws = Workspaces::new(data.path()).with_timeout(Duration::from_secs(60));
    Setup {
        ctx,
        ws,
        token,
        _data: data,
    }
}

impl Setup {
    /// Fetches the default branch and pull request `pr`'s head.
    async fn fetch_pr(&self, pr: u64) -> anyhow::Result<()> {
        let refspecs = [
            "+refs/heads/main:refs/heads/main".to_string(),
            format!("+refs/pull/{pr}/head:refs/pull/{pr}/head"),
        ];
        self.ws
            .fetch(REPO, &self.ctx.fake.clone_url(REPO), &self.token, &refspecs)
            .await
    }

    fn head(&self, pr: u64) -> String {
        self.ctx.fake.model().repo(REPO).unwrap().prs[&pr]
            .head_sha
            .clone()
    }

    /// Bytes the fake sent in pack exchanges (not ref advertisements) so far.
    fn pack_bytes(&self) -> u64 {
        self.ctx
            .fake
            .git_requests(REPO)
            .iter()
            .filter(|r| r.path == "git-upload-pack")
            .map(|r| r.bytes())
            .sum()
    }
}

fn key(pr: u64, dir: &str) -> CheckoutKey {
    CheckoutKey {
        pr: PrNumber(pr),
        dir: Dir::new(dir),
        workspace: Workspace::default(),
    }
}

fn read(root: &Path, path: &str) -> String {
    std::fs::read_to_string(root.join(path)).unwrap()
}

/// Content that does not compress: pseudo-random hex.
fn bulk(len: usize) -> String {
    let mut rng = fastrand::Rng::with_seed(7);
    (0..len)
        .map(|_| char::from_digit(rng.u32(0..16), 16).unwrap_or('0'))
        .collect()
}

#[tokio::test]
async fn a_mirror_whose_creation_was_cut_off_is_created_again() {
    let s = setup().await;
    let (pr, _) = s
        .ctx
        .open_pr("one", &[("envs/prod/main.tf", "a = 1\n")])
        .await;
    // What a replica stopped mid `git init` leaves: the mirror's directory, git's lock on its
    // HEAD and no HEAD; and the staging directory of a cut-off creation.
    let mirror = s.ws.mirror_path(REPO).unwrap();
    std::fs::create_dir_all(mirror.join("refs")).unwrap();
    std::fs::write(mirror.join("HEAD.lock"), "ref: refs/heads/main\n").unwrap();
    let name = mirror.file_name().unwrap().to_str().unwrap().to_owned();
    let staging = mirror.parent().unwrap().join(format!(".{name}.init"));
    std::fs::create_dir_all(staging.join("objects")).unwrap();

    s.fetch_pr(pr).await.expect("the mirror is made anew");
    assert!(mirror.join("HEAD").is_file() && !mirror.join("HEAD.lock").exists());
    assert!(!staging.exists(), "no staging directory is left");
    assert!(s.ws.has_commit(REPO, &Sha::new(s.head(pr))).await.unwrap());
}

#[tokio::test]
async fn first_fetch_creates_the_mirror_and_later_fetches_send_only_new_objects() {
    let s = setup().await;
    let big = bulk(400_000);
    s.ctx.push_base(&[("modules/big/data.txt", Some(&big))]);
    let (pr1, _) = s
        .ctx
        .open_pr("one", &[("envs/prod/main.tf", "a = 1\n")])
        .await;
    assert!(!s.ws.has_commit(REPO, &Sha::new(s.head(pr1))).await.unwrap());

    s.fetch_pr(pr1).await.unwrap();
    let mirror = s.ws.mirror_path(REPO).unwrap();
    assert!(mirror.join("HEAD").is_file(), "bare mirror at {mirror:?}");
    assert!(s.ws.has_commit(REPO, &Sha::new(s.head(pr1))).await.unwrap());
    let first = s.pack_bytes();
    assert!(
        first > 200_000,
        "the first fetch sends the history: {first}"
    );

    let (pr2, _) = s
        .ctx
        .open_pr("two", &[("envs/dev/main.tf", "b = 2\n")])
        .await;
    s.fetch_pr(pr2).await.unwrap();
    let second = s.pack_bytes() - first;
    assert!(s.ws.has_commit(REPO, &Sha::new(s.head(pr2))).await.unwrap());
    assert!(
        second * 50 < first,
        "the second fetch sends only new objects: {second} bytes after {first}"
    );
    s.ctx.finish().await;
}

#[tokio::test]
async fn wrong_or_expired_tokens_fail_without_the_token_in_the_error() {
    let s = setup().await;
    let (pr, _) = s.ctx.open_pr("x", &[("a.tf", "")]).await;
    let expired = s.ctx.fake.issue_token(INSTALLATION, Duration::ZERO);
    let other = s.ctx.fake.issue_token(99, Duration::from_secs(3600));
    let refspecs = [format!("+refs/pull/{pr}/head:refs/pull/{pr}/head")];
    for token in ["ghs_wrongwrongwrong", expired.as_str(), other.as_str()] {
        let err =
            s.ws.fetch(REPO, &s.ctx.fake.clone_url(REPO), token, &refspecs)
                .await
                .unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains("fetching acme/infra"), "{message}");
        assert!(
            message.contains("token was refused") || message.contains("not found"),
            "{message}"
        );
        assert!(!message.contains(token), "token leaked: {message}");
    }
    assert!(!s.ws.has_commit(REPO, &Sha::new(s.head(pr))).await.unwrap());
}

#[tokio::test]
async fn checkout_at_the_head_has_the_files_and_no_git_dir() {
    let s = setup().await;
    let (pr, _) = s
        .ctx
        .open_pr(
            "x",
            &[
                ("envs/prod/main.tf", "a = 1\n"),
                ("modules/m/main.tf", "m\n"),
            ],
        )
        .await;
    s.fetch_pr(pr).await.unwrap();
    let c =
        s.ws.checkout(
            REPO,
            &key(pr, "envs/prod"),
            &Sha::new(s.head(pr)),
            &Strategy::Branch,
        )
        .await
        .unwrap();
    assert_eq!(read(&c.root, "envs/prod/main.tf"), "a = 1\n");
    assert_eq!(read(&c.root, "modules/m/main.tf"), "m\n");
    assert_eq!(read(&c.root, "README.md"), "# infra\n");
    assert!(!c.root.join(".git").exists());
    assert_eq!(c.tree.len(), 40);
    // Nothing of git lives inside the checkout.
    let entries: Vec<String> = std::fs::read_dir(&c.root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        entries.iter().all(|e| !e.starts_with(".git")),
        "{entries:?}"
    );
    assert!(
        c.root
            .starts_with(s.ws.pr_path(REPO, PrNumber(pr)).unwrap())
    );
}

#[tokio::test]
async fn an_update_in_place_rewrites_only_changes_and_keeps_untracked_files() {
    let s = setup().await;
    let (pr, _) = s
        .ctx
        .open_pr(
            "x",
            &[
                ("envs/prod/main.tf", "a = 1\n"),
                ("envs/prod/old.tf", "old\n"),
                ("envs/prod/same.tf", "same\n"),
                ("envs/prod/.terraform.lock.hcl", "lock\n"),
            ],
        )
        .await;
    s.fetch_pr(pr).await.unwrap();
    let k = key(pr, "envs/prod");
    let first =
        s.ws.checkout(REPO, &k, &Sha::new(s.head(pr)), &Strategy::Branch)
            .await
            .unwrap();
    let dir = first.root.join("envs/prod");
    std::fs::create_dir_all(dir.join(".terraform")).unwrap();
    std::fs::write(dir.join(".terraform/x"), "cache").unwrap();
    // As `terraform init` may do to a tracked lock file.
    std::fs::write(dir.join(".terraform.lock.hcl"), "changed by init").unwrap();
    let same_inode = std::fs::metadata(dir.join("same.tf")).unwrap().ino();

    s.ctx.push_to_pr(
        pr,
        &[
            ("envs/prod/main.tf", Some("a = 2\n")),
            ("envs/prod/old.tf", None),
            ("envs/prod/new.tf", Some("new\n")),
        ],
    );
    s.fetch_pr(pr).await.unwrap();
    let second =
        s.ws.checkout(REPO, &k, &Sha::new(s.head(pr)), &Strategy::Branch)
            .await
            .unwrap();
    assert_eq!(second.root, first.root);
    assert_ne!(second.tree, first.tree);
    assert_eq!(read(&dir, "main.tf"), "a = 2\n");
    assert_eq!(read(&dir, "new.tf"), "new\n");
    assert!(!dir.join("old.tf").exists());
    assert_eq!(read(&dir, ".terraform/x"), "cache");
    assert_eq!(read(&dir, ".terraform.lock.hcl"), "lock\n");
    let inode = std::fs::metadata(dir.join("same.tf")).unwrap().ino();
    assert_eq!(inode, same_inode, "an unchanged file is not rewritten");
}

#[tokio::test]
async fn merge_strategy_checks_out_the_head_merged_into_the_current_base() {
    let s = setup().await;
    let (pr, _) = s.ctx.open_pr("x", &[("envs/prod/main.tf", "a\n")]).await;
    let base = s.ctx.push_base(&[("envs/dev/main.tf", Some("dev\n"))]);
    s.fetch_pr(pr).await.unwrap();
    let merged =
        s.ws.checkout(
            REPO,
            &key(pr, "envs/prod"),
            &Sha::new(s.head(pr)),
            &Strategy::Merge {
                base_sha: Sha::new(base),
            },
        )
        .await
        .unwrap();
    assert_eq!(read(&merged.root, "envs/prod/main.tf"), "a\n");
    assert_eq!(read(&merged.root, "envs/dev/main.tf"), "dev\n");
    let branch =
        s.ws.checkout(
            REPO,
            &key(pr, "envs/dev"),
            &Sha::new(s.head(pr)),
            &Strategy::Branch,
        )
        .await
        .unwrap();
    assert_ne!(branch.tree, merged.tree);
    assert!(!branch.root.join("envs/dev/main.tf").exists());
}

#[tokio::test]
async fn a_conflicting_merge_names_the_conflicting_files() {
    let s = setup().await;
    let (pr, _) = s.ctx.open_pr("x", &[("main.tf", "ours\n")]).await;
    let base = s
        .ctx
        .push_base(&[("main.tf", Some("theirs\n")), ("other.tf", Some("x\n"))]);
    s.fetch_pr(pr).await.unwrap();
    let err =
        s.ws.checkout(
            REPO,
            &key(pr, "."),
            &Sha::new(s.head(pr)),
            &Strategy::Merge {
                base_sha: Sha::new(base),
            },
        )
        .await
        .unwrap_err();
    match err {
        CheckoutError::Conflict { files } => assert_eq!(files, vec!["main.tf".to_string()]),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn changed_files_are_the_prs_own_changes_since_the_merge_base() {
    let s = setup().await;
    s.ctx
        .push_base(&[("old.tf", Some("same content\n")), ("keep.tf", Some("k\n"))]);
    let (pr, _) = s.ctx.open_pr("x", &[("envs/a.tf", "a\n")]).await;
    s.ctx.push_to_pr(
        pr,
        &[
            ("README.md", None),
            ("old.tf", None),
            ("new.tf", Some("same content\n")),
        ],
    );
    // The base moves on after the branch started: not the PR's changes.
    let base = s.ctx.push_base(&[
        ("envs/base-only.tf", Some("b\n")),
        ("keep.tf", Some("k2\n")),
    ]);
    s.fetch_pr(pr).await.unwrap();
    let mut changed =
        s.ws.changed_files(REPO, &Sha::new(&base), &Sha::new(s.head(pr)))
            .await
            .unwrap();
    changed.sort();
    assert_eq!(changed, ["README.md", "envs/a.tf", "new.tf", "old.tf"]);
}

#[tokio::test]
async fn files_are_read_from_the_mirror() {
    let s = setup().await;
    let (pr, _) = s
        .ctx
        .open_pr(
            "x",
            &[
                ("bosun.yaml", "version: 3\n"),
                (
                    "envs/prod/main.tf",
                    "module \"m\" { source = \"../../modules/m\" }\n",
                ),
                ("modules/m/main.tf", "m\n"),
                ("modules/m/notes.md", "not terraform\n"),
            ],
        )
        .await;
    s.fetch_pr(pr).await.unwrap();
    let head = s.head(pr);
    let config =
        s.ws.read_file(REPO, &Sha::new(&head), "bosun.yaml")
            .await
            .unwrap();
    assert_eq!(config.as_deref(), Some("version: 3\n"));
    assert_eq!(
        s.ws.read_file(REPO, &Sha::new(&head), "atlantis.yaml")
            .await
            .unwrap(),
        None
    );
    assert!(
        s.ws.read_file(REPO, &Sha::new(&head), "envs")
            .await
            .is_err()
    );
    let files = s.ws.terraform_files(REPO, &Sha::new(&head)).await.unwrap();
    let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["envs/prod/main.tf", "modules/m/main.tf"]);
    assert_eq!(files[1].1, "m\n");
}

#[tokio::test]
async fn remove_pr_deletes_its_checkouts_and_refs() {
    let s = setup().await;
    let (pr, _) = s.ctx.open_pr("x", &[("a.tf", "a\n")]).await;
    let (other, _) = s.ctx.open_pr("y", &[("b.tf", "b\n")]).await;
    s.fetch_pr(pr).await.unwrap();
    s.fetch_pr(other).await.unwrap();
    let mut roots = Vec::new();
    for (p, dir) in [(pr, "."), (pr, "envs/prod"), (other, ".")] {
        let c =
            s.ws.checkout(REPO, &key(p, dir), &Sha::new(s.head(p)), &Strategy::Branch)
                .await
                .unwrap();
        roots.push(c.root);
    }
    s.ws.remove_pr(REPO, PrNumber(pr)).await.unwrap();
    assert!(!s.ws.pr_path(REPO, PrNumber(pr)).unwrap().exists());
    assert!(!roots[0].exists() && !roots[1].exists());
    assert!(roots[2].join("b.tf").is_file(), "other PRs keep theirs");
    let refs = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(s.ws.mirror_path(REPO).unwrap())
        .args(["for-each-ref", "--format=%(refname)", "refs/pull/"])
        .output()
        .unwrap();
    let refs = String::from_utf8(refs.stdout).unwrap();
    assert_eq!(refs.trim(), format!("refs/pull/{other}/head"));
    // Removing again is fine.
    s.ws.remove_pr(REPO, PrNumber(pr)).await.unwrap();
}

#[tokio::test]
async fn project_dirs_cannot_escape_the_checkouts() {
    let s = setup().await;
    let (pr, _) = s.ctx.open_pr("x", &[("a.tf", "a\n")]).await;
    s.fetch_pr(pr).await.unwrap();
    for dir in ["..", "../x", "a/../../x", "/etc", ""] {
        let err =
            s.ws.checkout(
                REPO,
                &key(pr, dir),
                &Sha::new(s.head(pr)),
                &Strategy::Branch,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, CheckoutError::Other(_)), "{dir}: {err:?}");
    }
    let bad_sha =
        s.ws.checkout(
            REPO,
            &key(pr, "."),
            &Sha::new("--output=/tmp/x"),
            &Strategy::Branch,
        )
        .await;
    assert!(bad_sha.is_err());
    let bad_ws = CheckoutKey {
        pr: PrNumber(pr),
        dir: Dir::root(),
        workspace: Workspace::new("../../x"),
    };
    let c =
        s.ws.checkout(REPO, &bad_ws, &Sha::new(s.head(pr)), &Strategy::Branch)
            .await
            .unwrap();
    assert!(
        c.root
            .starts_with(s.ws.pr_path(REPO, PrNumber(pr)).unwrap())
    );
    assert_eq!(
        c.root.parent().unwrap(),
        s.ws.pr_path(REPO, PrNumber(pr)).unwrap()
    );
}

#[tokio::test]
async fn files_read_at_a_commit_are_read_in_one_go_and_remembered() {
    let s = setup().await;
    let (pr, _) = s
        .ctx
        .open_pr("x", &[("bosun.yaml", "version: 3\n"), ("a/main.tf", "a\n")])
        .await;
    // A git that notes each command it runs, in its own data dir.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("git.log");
    let git = dir.path().join("git");
    let real = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::fs::write(
        &git,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.trim()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&git, std::fs::Permissions::from_mode(0o755)).unwrap();
    let ws = Workspaces::new(&dir.path().join("data"))
        .with_git(&git)
        .with_timeout(Duration::from_secs(60));
    let refspecs = [format!("+refs/pull/{pr}/head:refs/pull/{pr}/head")];
    ws.fetch(REPO, &s.ctx.fake.clone_url(REPO), &s.token, &refspecs)
        .await
        .unwrap();
    let head = s.head(pr);
    let runs = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("cat-file"))
            .count()
    };
    let candidates = ["bosun.yaml", "bosun.yml", "atlantis.yaml", "atlantis.yml"];
    ws.read_files(REPO, &Sha::new(&head), &candidates)
        .await
        .unwrap();
    // One process finds all four; one more reads the one that is there.
    assert_eq!(runs(), 2);
    for (path, want) in [("bosun.yaml", Some("version: 3\n")), ("atlantis.yml", None)] {
        assert_eq!(
            ws.read_file(REPO, &Sha::new(&head), path)
                .await
                .unwrap()
                .as_deref(),
            want
        );
    }
    ws.read_files(REPO, &Sha::new(&head), &candidates)
        .await
        .unwrap();
    assert_eq!(runs(), 2, "remembered: no git again");
    // A directory is no file, remembered as such too.
    assert!(ws.read_file(REPO, &Sha::new(&head), "a").await.is_err());
    assert!(ws.read_file(REPO, &Sha::new(&head), "a").await.is_err());
    assert_eq!(runs(), 3);
    // A commit the mirror lacks is an error, not a missing file.
    let absent = "0123456789abcdef0123456789abcdef01234567";
    assert!(
        ws.read_file(REPO, &Sha::new(absent), "bosun.yaml")
            .await
            .is_err()
    );
    s.ctx.finish().await;
}

/// The packs in `mirror` (each fetch keeps its own under `transfer.unpackLimit=1`).
fn packs(mirror: &Path) -> usize {
    std::fs::read_dir(mirror.join("objects/pack"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
                .count()
        })
        .unwrap_or(0)
}

/// Sets git config `key` of `mirror` (the mirror's own file: bosun reads no global one).
fn set_config(mirror: &Path, key: &str, value: &str) {
    let done = std::process::Command::new("git")
        .arg(format!("--git-dir={}", mirror.display()))
        .args(["config", key, value])
        .status()
        .unwrap();
    assert!(done.success());
}

#[tokio::test]
async fn a_fetch_leaves_gits_upkeep_to_maintain() {
    let s = setup().await;
    let (first, _) = s.ctx.open_pr("one", &[("a/main.tf", "a\n")]).await;
    s.fetch_pr(first).await.unwrap();
    // Every fetch keeps its pack, and more than two packs call for a repack.
    let mirror = s.ws.mirror_path(REPO).unwrap();
    set_config(&mirror, "transfer.unpackLimit", "1");
    set_config(&mirror, "gc.autoPackLimit", "2");
    let before = packs(&mirror);
    let mut heads = Vec::new();
    for name in ["two", "three", "four"] {
        let (pr, _) = s
            .ctx
            .open_pr(name, &[(&format!("{name}/main.tf"), "b\n")])
            .await;
        s.fetch_pr(pr).await.unwrap();
        heads.push(s.head(pr));
    }
    // No fetch repacked: the plan that trips the limit does not wait for it.
    assert_eq!(packs(&mirror), before + 3, "a fetch ran git's upkeep");
    s.ws.maintain(REPO).await.unwrap();
    assert_eq!(packs(&mirror), 1, "maintain repacks");
    for head in &heads {
        assert!(s.ws.has_commit(REPO, &Sha::new(head)).await.unwrap());
    }
    // Below the limits it does nothing.
    s.ws.maintain(REPO).await.unwrap();
    assert_eq!(packs(&mirror), 1);
    s.ctx.finish().await;
}

#[tokio::test]
async fn a_job_leaves_its_mirror_maintained() {
    let ctx = TestContext::start().await;
    let (first, _) = ctx.open_pr("one", &[("a/main.tf", "a\n")]).await;
    ctx.settle().await;
    let mirror = ctx.data_path().join("mirrors/acme+infra.git");
    assert!(mirror.join("HEAD").is_file(), "the plan made the mirror");
    set_config(&mirror, "transfer.unpackLimit", "1");
    set_config(&mirror, "gc.autoPackLimit", "1");
    for name in ["two", "three"] {
        ctx.open_pr(name, &[(&format!("{name}/main.tf"), "b\n")])
            .await;
        ctx.settle().await;
    }
    // The jobs' fetches left packs; the upkeep after each job repacks them, in the background.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while packs(&mirror) > 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(packs(&mirror), 1, "the mirror was not maintained");
    assert!(ctx.check(first, "bosun/plan").conclusion.is_some());
    ctx.finish().await;
}

#[tokio::test]
async fn a_stale_lock_of_gits_upkeep_does_not_stop_it_for_good() {
    let s = setup().await;
    let mirror = s.ws.mirror_path(REPO).unwrap();
    for name in ["one", "two", "three"] {
        let (pr, _) = s
            .ctx
            .open_pr(name, &[(&format!("{name}/main.tf"), "b\n")])
            .await;
        s.fetch_pr(pr).await.unwrap();
        if name == "one" {
            set_config(&mirror, "transfer.unpackLimit", "1");
            set_config(&mirror, "gc.autoPackLimit", "1");
        }
    }
    let before = packs(&mirror);
    assert!(before > 1);
    // A lock of a run going on now: git leaves the mirror to it.
    let lock = mirror.join("objects/maintenance.lock");
    std::fs::write(&lock, "").unwrap();
    s.ws.maintain(REPO).await.unwrap();
    assert_eq!(packs(&mirror), before, "a live run's lock is respected");
    // One left by a run cut off longer ago than a git command may take (60 s here).
    let old = std::time::SystemTime::now() - Duration::from_secs(120);
    std::fs::File::options()
        .write(true)
        .open(&lock)
        .unwrap()
        .set_modified(old)
        .unwrap();
    s.ws.maintain(REPO).await.unwrap();
    assert_eq!(packs(&mirror), 1, "the stale lock stopped the upkeep");
    assert!(!lock.exists());
    s.ctx.finish().await;
}
