//! Checkouts of one commit (or of a head merged into its base) for one (PR, dir, workspace),
//! made from the mirror's objects with an index kept outside the checkout, updated in place
//! when the PR moves, and deleted when the PR closes.

use crate::ids::PrNumber;
use crate::ids::Sha;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use tracing::Instrument as _;

use super::Workspaces;
use super::git::{Git, check_oid, failure};
use crate::ids::{Dir, Workspace};

/// What to check out for a pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// The head commit as it is.
    Branch,
    /// The head merged into `base_sha` (the base branch's current commit), as GitHub's merge
    /// button would.
    Merge { base_sha: Sha },
}

/// Which checkout: one per pull request, project dir and Terraform workspace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CheckoutKey {
    pub pr: PrNumber,
    /// A directory inside the repository (checked again with [`Dir::parse`]).
    pub dir: Dir,
    pub workspace: Workspace,
}

/// A checkout ready to run in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// The whole repository tree (the project is `root.join(dir)`); holds no `.git`.
    pub root: PathBuf,
    /// The tree object checked out.
    pub tree: String,
}

/// Why a checkout failed: a merge conflict (the PR author's to fix), or anything else.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("the pull request does not merge cleanly into its base: conflicts in {}", files.join(", "))]
    Conflict { files: Vec<String> },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Workspaces {
    /// Checks out `head_sha` of `repo` (or, with [`Strategy::Merge`], the head merged into the
    /// base) for `key`. An existing checkout is updated in place: only files that differ are
    /// rewritten, files git does not track (Terraform's `.terraform/`) stay, and tracked files
    /// modified since are restored. The commits must be in the mirror (see `fetch`).
    pub async fn checkout(
        &self,
        repo: &str,
        key: &CheckoutKey,
        head_sha: &Sha,
        strategy: &Strategy,
    ) -> Result<Checkout, CheckoutError> {
        let head_sha = head_sha.as_str();
        check_oid(head_sha)?;
        let (dir, index) = self.checkout_paths(repo, key)?;
        let span = tracing::debug_span!("checkout", dir = %key.dir);
        async {
            let lock = self.lock(repo);
            let _guard = lock.lock().await;
            self.check_out(repo, (&dir, &index), head_sha, strategy)
                .await
        }
        .instrument(span)
        .await
    }

    /// Makes `dir` (with its index `index`) hold `head_sha`'s tree, or the head merged into
    /// the base; the repository's lock held by the caller.
    async fn check_out(
        &self,
        repo: &str,
        (dir, index): (&Path, &Path),
        head_sha: &str,
        strategy: &Strategy,
    ) -> Result<Checkout, CheckoutError> {
        let mirror = self.existing_mirror(repo)?;
        let git = self.git()?;
        let tree = match strategy {
            Strategy::Branch => tree_of(&git, &mirror, head_sha).await?,
            Strategy::Merge { base_sha } => {
                check_oid(base_sha.as_str())?;
                merge(&git, &mirror, base_sha.as_str(), head_sha).await?
            }
        };
        update(&git, &mirror, dir, index, &tree)
            .await
            .with_context(|| format!("checking out {tree} of {repo} into {}", dir.display()))?;
        Ok(Checkout {
            root: dir.to_owned(),
            tree,
        })
    }

    /// A fresh checkout of the whole tree for pull request `pr`'s workflow hooks, named
    /// `.hooks-<name>` beside its projects' checkouts (a name no project's checkout takes:
    /// theirs always hold `@`): whatever an earlier run left there is deleted first, so files
    /// a hook wrote before (a generated repo config) never outlive their run.
    pub async fn hook_checkout(
        &self,
        repo: &str,
        (pr, name): (PrNumber, &str),
        head_sha: &Sha,
        strategy: &Strategy,
    ) -> Result<Checkout, CheckoutError> {
        let head_sha = head_sha.as_str();
        check_oid(head_sha)?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(anyhow!("`{}` is not a hook checkout's name", name.escape_debug()).into());
        }
        let pr_dir = self.pr_path(repo, pr)?;
        let dir = pr_dir.join(format!(".hooks-{name}"));
        let index = pr_dir.join(".index").join(format!(".hooks-{name}"));
        let lock = self.lock(repo);
        let _guard = lock.lock().await;
        remove_if_present(&dir).await?;
        remove_if_present(&index).await?;
        self.check_out(repo, (&dir, &index), head_sha, strategy)
            .await
    }

    /// Deletes a hook checkout and its index (see [`Workspaces::hook_checkout`]).
    pub async fn remove_hook_checkout(
        &self,
        repo: &str,
        (pr, name): (PrNumber, &str),
    ) -> anyhow::Result<()> {
        let pr_dir = self.pr_path(repo, pr)?;
        let lock = self.lock(repo);
        let _guard = lock.lock().await;
        remove_if_present(&pr_dir.join(format!(".hooks-{name}"))).await?;
        remove_if_present(&pr_dir.join(".index").join(format!(".hooks-{name}"))).await
    }

    /// Deletes every checkout of pull request `pr` of `repo`, their indexes, and the PR's
    /// `refs/pull/<pr>/*` in the mirror.
    pub async fn remove_pr(&self, repo: &str, pr: PrNumber) -> anyhow::Result<()> {
        let pr_dir = self.pr_path(repo, pr)?;
        let mirror = self.mirror_path(repo)?;
        let lock = self.lock(repo);
        let _guard = lock.lock().await;
        match tokio::fs::remove_dir_all(&pr_dir).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("deleting {}", pr_dir.display()));
            }
            _ => {}
        }
        if !mirror.join("HEAD").is_file() {
            return Ok(());
        }
        let git = self.git()?;
        let refs = git
            .at(&mirror)
            .args(["for-each-ref", "--format=%(refname)"])
            .args([format!("refs/pull/{pr}/")])
            .run()
            .await?;
        let deletes: String = String::from_utf8_lossy(&refs)
            .lines()
            .filter(|r| !r.is_empty())
            .map(|r| format!("delete {r}\n"))
            .collect();
        if !deletes.is_empty() {
            git.at(&mirror)
                .args(["update-ref", "--stdin"])
                .stdin(deletes.into_bytes())
                .run()
                .await
                .with_context(|| format!("deleting refs/pull/{pr}/* of {repo}"))?;
        }
        Ok(())
    }

    /// The checkout directory and its index file for `key`, both under the PR's directory.
    fn checkout_paths(&self, repo: &str, key: &CheckoutKey) -> anyhow::Result<(PathBuf, PathBuf)> {
        let dir = Dir::parse(key.dir.as_str())
            .map_err(|why| anyhow!("project dir `{}` {why}", key.dir.as_str().escape_debug()))?;
        let ws = key.workspace.as_str();
        if ws.is_empty() || ws.chars().any(char::is_control) {
            return Err(anyhow!("`{}` is not a workspace name", ws.escape_debug()));
        }
        let name = super::checkout_name(&dir, &key.workspace);
        let pr_dir = self.pr_path(repo, key.pr)?;
        Ok((pr_dir.join(&name), pr_dir.join(".index").join(name)))
    }
}

/// The tree of commit `sha`.
async fn tree_of(git: &Git, mirror: &Path, sha: &str) -> anyhow::Result<String> {
    let out = git
        .at(mirror)
        .args(["rev-parse", "--verify", "--quiet"])
        .args([format!("{sha}^{{tree}}")])
        .output()
        .await?;
    if !out.success() {
        return Err(anyhow!("commit {sha} is not in the mirror: fetch it first"));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The tree of `head` merged into `base` (`git merge-tree --write-tree`, git ≥ 2.38).
async fn merge(git: &Git, mirror: &Path, base: &str, head: &str) -> Result<String, CheckoutError> {
    let out = git
        .at(mirror)
        .args([
            "merge-tree",
            "--write-tree",
            "--name-only",
            "--no-messages",
            "-z",
            base,
            head,
        ])
        .output()
        .await?;
    let mut fields = out
        .stdout
        .split(|b| *b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned());
    let tree = fields.next().unwrap_or_default();
    match out.code {
        Some(0) => {
            check_oid(&tree).context("git merge-tree gave no tree")?;
            Ok(tree)
        }
        Some(1) => {
            let mut files: Vec<String> = fields.filter(|f| !f.is_empty()).collect();
            files.dedup();
            Err(CheckoutError::Conflict { files })
        }
        _ => Err(failure("git merge-tree", &out)
            .context(format!("merging {head} into {base}"))
            .into()),
    }
}

/// Makes `dir` hold exactly `tree`'s files, in place when it already holds a checkout.
async fn update(
    git: &Git,
    mirror: &Path,
    dir: &Path,
    index: &Path,
    tree: &str,
) -> anyhow::Result<()> {
    let index_dir = index.parent().context("index path has no parent")?;
    tokio::fs::create_dir_all(index_dir)
        .await
        .with_context(|| format!("creating {}", index_dir.display()))?;
    // A checkout without its index (a crash in between) cannot be updated safely.
    if !index.is_file() {
        remove_if_present(dir).await?;
    }
    tokio::fs::create_dir_all(dir)
        .await
        .with_context(|| format!("creating {}", dir.display()))?;
    let read_tree = |tree: &str| {
        git.at(mirror)
            .args([format!("--work-tree={}", dir.display())])
            .args(["read-tree", "--reset", "-u", tree])
            .env("GIT_INDEX_FILE", index.display().to_string())
    };
    // `--reset -u` compares with the index: unchanged files stay as they are, changed and
    // locally modified ones are rewritten, ones no longer in the tree are deleted, untracked
    // files are kept. It refuses only to overwrite an untracked file the new tree now
    // tracks; then the checkout starts afresh.
    if read_tree(tree).run().await.is_ok() {
        return Ok(());
    }
    remove_if_present(dir).await?;
    remove_if_present(index).await?;
    tokio::fs::create_dir_all(dir)
        .await
        .with_context(|| format!("creating {}", dir.display()))?;
    read_tree(tree).run().await?;
    Ok(())
}

async fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    let result = match tokio::fs::symlink_metadata(path).await {
        Ok(m) if m.is_dir() => tokio::fs::remove_dir_all(path).await,
        Ok(_) => tokio::fs::remove_file(path).await,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
    };
    result.with_context(|| format!("deleting {}", path.display()))
}
