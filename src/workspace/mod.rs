//! Workspaces: one bare mirror per repository, fetched incrementally over HTTPS with the
//! installation token, and checkouts of exact commits made from the mirror's objects.
//!
//! Layout under the data dir:
//!
//! - `mirrors/<owner>+<name>.git`: the bare mirror (names lower-cased; GitHub allows neither
//!   `+` nor `/` in owners and names, so the joined name is unambiguous);
//! - `checkouts/<owner>+<name>/pr-<N>/<dir>@<workspace>/`: one checkout per (PR, project dir,
//!   workspace). It holds the repository's files only, never a `.git`: the PR's code runs
//!   there later and must not reach the mirror;
//! - `checkouts/<owner>+<name>/pr-<N>/.index/<dir>@<workspace>`: that checkout's git index,
//!   kept outside the checkout.
//!
//! `<dir>` and `<workspace>` are escaped so the name is one path component and no two keys
//! share it: every byte outside `[A-Za-z0-9._-]` becomes `%XX` (so `/` is `%2F` and `@`,
//! the separator, is `%40`). The repository root `.` gives `.@default`, which is never `.` or
//! `..` since it always holds the `@`. A name longer than 200 bytes keeps its first 120 bytes
//! then `~` and the SHA-256 of the whole escaped name (`~` is itself always escaped, so such a
//! name cannot equal a short one).
//!
//! One async lock per repository serialises fetches, checkouts and clean-ups of its mirror;
//! different repositories proceed in parallel. Reads (`has_commit`, `changed_files`, …) take no
//! lock: git readers are safe alongside a fetch.
//!
//! A fetch never runs git's upkeep (`--no-auto-maintenance`): the repack that many fetches'
//! packs call for would hold up the plan whose fetch tripped it, for seconds on a large
//! repository. [`Workspaces::maintain_later`] runs it in the background after a job instead,
//! at the lowest CPU priority and outside the lock (git's repack and prune are safe alongside
//! fetches and readers: objects younger than two weeks are never pruned).

mod checkout;
mod file_cache;
mod git;
mod read;

use crate::ids::PrNumber;
use crate::ids::Sha;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use sha2::Digest as _;

pub use self::checkout::{Checkout, CheckoutError, CheckoutKey, Strategy};
use self::git::{Git, check_oid};
pub use self::read::UnusableFile;
use crate::ids::{Dir, Workspace};

/// The mirrors and checkouts of every repository bosun works on, under one data dir.
#[derive(Debug)]
pub struct Workspaces {
    root: PathBuf,
    git: PathBuf,
    timeout: Duration,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Whether clone URLs may be local paths (only `bosun preview`, never a webhook's).
    local_remotes: bool,
    /// Files read from the mirror's commits (see [`file_cache`]).
    files: file_cache::FileCache,
    /// The mirrors whose upkeep runs now (see [`Workspaces::maintain_later`]).
    maintaining: Arc<Mutex<std::collections::HashSet<PathBuf>>>,
}

impl Workspaces {
    /// Workspaces under `data_dir`, running `git` from `PATH` with a 10-minute limit per command.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_owned()),
            git: PathBuf::from("git"),
            timeout: Duration::from_secs(600),
            locks: Mutex::new(HashMap::new()),
            local_remotes: false,
            files: file_cache::FileCache::default(),
            maintaining: Arc::default(),
        }
    }

    /// Accepts absolute local paths as clone URLs too (`bosun preview` fetches a local repo).
    pub fn with_local_remotes(mut self) -> Self {
        self.local_remotes = true;
        self
    }

    /// Uses another git binary.
    pub fn with_git(mut self, git: impl Into<PathBuf>) -> Self {
        self.git = git.into();
        self
    }

    /// Limits each git command to `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Where the bare mirror of `repo` (`owner/name`) lives.
    pub fn mirror_path(&self, repo: &str) -> anyhow::Result<PathBuf> {
        let slug = repo_slug(repo)?;
        Ok(self.root.join("mirrors").join(format!("{slug}.git")))
    }

    /// The directory holding every checkout of pull request `pr` of `repo`.
    pub fn pr_path(&self, repo: &str, pr: PrNumber) -> anyhow::Result<PathBuf> {
        let slug = repo_slug(repo)?;
        Ok(self
            .root
            .join("checkouts")
            .join(slug)
            .join(format!("pr-{pr}")))
    }

    /// Fetches `refspecs` (e.g. `+refs/pull/7/head:refs/pull/7/head`) from `clone_url` into the
    /// mirror of `repo`, creating the mirror on first use. Only objects the mirror lacks are
    /// transferred. The token authenticates as `x-access-token` and never appears in argv,
    /// the URL, logs or errors.
    #[tracing::instrument(level = "debug", name = "fetch", skip_all, fields(repo = %repo))]
    pub async fn fetch(
        &self,
        repo: &str,
        clone_url: &str,
        token: &str,
        refspecs: &[String],
    ) -> anyhow::Result<()> {
        let mirror = self.mirror_path(repo)?;
        if !(self.local_remotes && clone_url.starts_with('/')) {
            check_url(clone_url)?;
        }
        if refspecs.is_empty() {
            bail!("nothing to fetch: no refspecs");
        }
        for r in refspecs {
            if r.is_empty() || r.starts_with('-') || r.chars().any(|c| c.is_control() || c == ' ') {
                bail!("`{}` is not a refspec", r.escape_debug());
            }
        }
        let lock = self.lock(repo);
        let _guard = lock.lock().await;
        let git = self.git()?;
        if !mirror.join("HEAD").is_file() {
            create_mirror(&git, &mirror)
                .await
                .with_context(|| format!("creating the mirror of {repo}"))?;
        }
        let local = self.local_remotes && clone_url.starts_with('/');
        let out = git
            .at(&mirror)
            .env(
                "protocol.file.allow",
                if local { "always" } else { "never" },
            )
            .args([
                "fetch",
                "--no-tags",
                "--no-write-fetch-head",
                "--no-auto-maintenance",
                "--no-recurse-submodules",
                "--quiet",
                "--",
                clone_url,
            ])
            .args(refspecs.iter().cloned())
            .token(token)
            .output()
            .await
            .with_context(|| format!("fetching {repo} from {clone_url}"))?;
        if out.success() {
            return Ok(());
        }
        let err = git::failure("git fetch", &out);
        // Git asks for a username when the server refuses the header's credentials.
        let err = if out.stderr.contains("could not read Username") {
            err.context("the installation token was refused")
        } else {
            err
        };
        Err(err.context(format!("fetching {repo} from {clone_url}")))
    }

    /// Runs git's upkeep of the mirror of `repo` (`git maintenance run --auto`: a repack once
    /// fetches have left many packs or loose objects, else nothing) at the lowest CPU priority,
    /// and waits for it. Nothing without a mirror.
    pub async fn maintain(&self, repo: &str) -> anyhow::Result<()> {
        let mirror = self.mirror_path(repo)?;
        if !mirror.join("HEAD").is_file() {
            return Ok(());
        }
        maintain(&self.git()?, &mirror)
            .await
            .with_context(|| format!("maintaining the mirror of {repo}"))
    }

    /// [`Workspaces::maintain`] in the background, one at a time per mirror (a call while one
    /// runs does nothing); a failure is logged.
    pub fn maintain_later(&self, repo: &str) {
        let Ok(mirror) = self.mirror_path(repo) else {
            return;
        };
        if !mirror.join("HEAD").is_file() {
            return;
        }
        let git = match self.git() {
            Ok(git) => git,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "maintaining a mirror failed");
                return;
            }
        };
        let running = self.maintaining.clone();
        let mine = running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(mirror.clone());
        if !mine {
            return;
        }
        let repo = repo.to_owned();
        tokio::spawn(async move {
            if let Err(e) = maintain(&git, &mirror).await {
                tracing::warn!(
                    repo,
                    error = format!("{e:#}"),
                    "maintaining a mirror failed"
                );
            }
            running
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&mirror);
        });
    }

    /// Whether the mirror of `repo` holds commit `sha` (false when there is no mirror yet).
    pub async fn has_commit(&self, repo: &str, sha: &Sha) -> anyhow::Result<bool> {
        let sha = sha.as_str();
        check_oid(sha)?;
        let mirror = self.mirror_path(repo)?;
        if !mirror.join("HEAD").is_file() {
            return Ok(false);
        }
        let out = self
            .git()?
            .at(&mirror)
            .args(["rev-parse", "--verify", "--quiet"])
            .args([format!("{sha}^{{commit}}")])
            .output()
            .await?;
        match out.code {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(git::failure("git rev-parse", &out)),
        }
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors, in the mirror of `repo`
    /// (for `undiverged`: the pull request's head contains the base branch's head).
    pub async fn is_ancestor(
        &self,
        repo: &str,
        ancestor: &str,
        descendant: &str,
    ) -> anyhow::Result<bool> {
        check_oid(ancestor)?;
        check_oid(descendant)?;
        let mirror = self.existing_mirror(repo)?;
        let out = self
            .git()?
            .at(&mirror)
            .args(["merge-base", "--is-ancestor", ancestor, descendant])
            .output()
            .await?;
        match out.code {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(git::failure("git merge-base --is-ancestor", &out)),
        }
    }

    /// The commit a branch of the mirror of `repo` points at (after a fetch of it).
    pub async fn branch_head(&self, repo: &str, branch: &str) -> anyhow::Result<Sha> {
        let mirror = self.existing_mirror(repo)?;
        if branch.starts_with('-') || branch.contains("..") || branch.is_empty() {
            bail!("`{}` is not a branch name", branch.escape_debug());
        }
        let out = self
            .git()?
            .at(&mirror)
            .args(["rev-parse", "--verify", "--quiet"])
            .args([format!("refs/heads/{branch}^{{commit}}")])
            .output()
            .await?;
        if out.code != Some(0) {
            return Err(git::failure("git rev-parse", &out));
        }
        let sha = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        check_oid(&sha)?;
        Ok(Sha::new(sha))
    }

    /// The per-repository lock.
    fn lock(&self, repo: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.entry(repo.to_ascii_lowercase()).or_default().clone()
    }

    /// The git runner, with a private HOME (created on first use) instead of the user's.
    fn git(&self) -> anyhow::Result<Git> {
        let home = self.root.join("git-home");
        std::fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
        Ok(Git {
            program: self.git.clone(),
            home,
            timeout: self.timeout,
        })
    }

    /// The mirror of `repo`, which must exist already.
    fn existing_mirror(&self, repo: &str) -> anyhow::Result<PathBuf> {
        let mirror = self.mirror_path(repo)?;
        if !mirror.join("HEAD").is_file() {
            bail!("no mirror of {repo} yet: fetch it first");
        }
        Ok(mirror)
    }
}

/// Creates the bare mirror at `mirror` whole or not at all: `git init` runs in a directory of
/// its own beside it, renamed into place once done. A replica stopped mid-init (its git
/// killed) leaves only that directory, which the next creation removes, never a mirror
/// without a `HEAD` or with git's `HEAD.lock`, which `git init` would refuse for good. A
/// directory at `mirror` without a `HEAD` (left so before creation was atomic) is removed.
/// `git maintenance run --auto` in `mirror`, at the lowest CPU priority. A lock git's upkeep
/// left older than the command's time limit is removed first: a run cut off (bosun stopped or
/// killed meanwhile) leaves it, and git would skip every later run while it is there.
async fn maintain(git: &Git, mirror: &Path) -> anyhow::Result<()> {
    let lock = mirror.join("objects").join("maintenance.lock");
    // Our own directory, under the data dir: read without following a link.
    if let Ok(meta) = tokio::fs::symlink_metadata(&lock).await
        && meta
            .modified()
            .ok()
            .and_then(|at| at.elapsed().ok())
            .is_some_and(|age| age > git.timeout)
    {
        tracing::info!(lock = %lock.display(), "removing a stale lock of git's upkeep");
        tokio::fs::remove_file(&lock)
            .await
            .with_context(|| format!("removing {}", lock.display()))?;
    }
    git.at(mirror)
        .args(["maintenance", "run", "--auto", "--quiet"])
        .background()
        .run()
        .await?;
    Ok(())
}

async fn create_mirror(git: &Git, mirror: &Path) -> anyhow::Result<()> {
    let parent = mirror.parent().context("mirror path has no parent")?;
    let name = mirror
        .file_name()
        .and_then(|n| n.to_str())
        .context("mirror path has no name")?;
    tokio::fs::create_dir_all(parent)
        .await
        .with_context(|| format!("creating {}", parent.display()))?;
    let staging = parent.join(format!(".{name}.init"));
    for leftover in [&staging, &mirror.to_path_buf()] {
        // Our own directories, under the data dir: never a link to follow.
        match tokio::fs::symlink_metadata(leftover).await {
            Ok(m) if m.is_dir() => tokio::fs::remove_dir_all(leftover)
                .await
                .with_context(|| format!("removing the unfinished {}", leftover.display()))?,
            Ok(_) => tokio::fs::remove_file(leftover)
                .await
                .with_context(|| format!("removing {}", leftover.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", leftover.display())),
        }
    }
    git.bare()
        .args(["init", "--bare", "--quiet", "--template="])
        .args([staging.display().to_string()])
        .run()
        .await?;
    tokio::fs::rename(&staging, mirror)
        .await
        .with_context(|| format!("moving the new mirror to {}", mirror.display()))
}

/// `owner+name`, lower-cased, from `owner/name`; refuses anything GitHub would not name so.
fn repo_slug(repo: &str) -> anyhow::Result<String> {
    let valid = |s: &str, extra: &[char]| {
        !s.is_empty()
            && s.len() <= 100
            && s != "."
            && s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || extra.contains(&c))
    };
    match repo.split_once('/') {
        Some((owner, name)) if valid(owner, &[]) && valid(name, &['.', '_']) => {
            Ok(format!("{owner}+{name}").to_ascii_lowercase())
        }
        _ => bail!("`{}` is not an owner/name repository", repo.escape_debug()),
    }
}

/// A clone URL over HTTP(S), with nothing git could read as an option or a helper.
fn check_url(url: &str) -> anyhow::Result<()> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && !url.chars().any(|c| c.is_control() || c.is_whitespace());
    if !ok {
        bail!("`{}` is not an http(s) clone URL", url.escape_debug());
    }
    Ok(())
}

/// The checkout directory's name for `dir` (already normalised) and `workspace`; see the
/// module documentation for the escaping.
fn checkout_name(dir: &Dir, workspace: &Workspace) -> String {
    let name = format!("{}@{}", escape(dir.as_str()), escape(workspace.as_str()));
    if name.len() <= 200 {
        return name;
    }
    let digest = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    format!("{}~{digest}", name.get(..120).unwrap_or(&name))
}

/// Every byte outside `[A-Za-z0-9._-]` as `%XX`.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_slugs() {
        assert_eq!(repo_slug("Acme/Infra.live").unwrap(), "acme+infra.live");
        for bad in [
            "acme", "acme/", "/x", "a/b/c", "a/..", "a+b/c", "a/b c", "-a/b?",
        ] {
            assert!(repo_slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn checkout_names_are_one_component_and_distinct() {
        let name_of = |d: &str, w: &str| checkout_name(&Dir::new(d), &Workspace::new(w));
        assert_eq!(name_of(".", "default"), ".@default");
        assert_eq!(name_of("envs/prod", "default"), "envs%2Fprod@default");
        assert_eq!(name_of("a@b", "c"), "a%40b@c");
        assert_ne!(name_of("a@b", "c"), name_of("a", "b@c"));
        assert_ne!(name_of("a/b", "c"), name_of("a%2Fb", "c"));
        let long = "d/".repeat(150);
        let name = name_of(&long, "default");
        assert!(name.len() < 255 && name.contains('~'), "{name}");
        assert_ne!(name, name_of(&format!("{long}x"), "default"));
        for name in [name, name_of("..", ".."), name_of(".", ".")] {
            assert!(!name.contains('/') && name != "." && name != "..");
        }
    }

    #[test]
    fn urls() {
        assert!(check_url("https://github.com/a/b.git").is_ok());
        assert!(check_url("ext::sh -c touch% /tmp/x").is_err());
        assert!(check_url("--upload-pack=x").is_err());
        assert!(check_url("https://x/a b").is_err());
    }
}
