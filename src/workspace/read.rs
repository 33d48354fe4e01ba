//! Reading from the mirror without a checkout: the files a pull request changes, one file
//! (the repo config), every Terraform file of a commit (for local-module detection) and the
//! directories holding them (for a repo config's glob dirs).

use crate::ids::Sha;
use anyhow::{Context, bail};

use super::Workspaces;
use super::file_cache::FileRead;
use super::git::check_oid;

/// The largest file `read_file` returns.
const MAX_FILE: u64 = 1024 * 1024;
/// Why a file the pull request holds cannot be read as text (too big, not a file, not UTF-8):
/// the pull request's doing, so callers tell its author rather than fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnusableFile(pub String);

/// The most bytes of Terraform files `terraform_files` reads at one commit.
const MAX_TERRAFORM_TOTAL: u64 = 64 * 1024 * 1024;
/// The most Terraform files `terraform_files` reads at one commit.
const MAX_TERRAFORM_FILES: usize = 50_000;

impl Workspaces {
    /// The paths a pull request changes, as GitHub's "Files changed" shows them: from the
    /// merge base of `base_sha` and `head_sha` to `head_sha` (changes made on the base since
    /// the branch started are not the PR's). Deleted files are included; a rename counts as
    /// its old and its new path.
    #[tracing::instrument(level = "debug", name = "changed files", skip_all)]
    pub async fn changed_files(
        &self,
        repo: &str,
        base_sha: &Sha,
        head_sha: &Sha,
    ) -> anyhow::Result<Vec<String>> {
        let base_sha = base_sha.as_str();
        let head_sha = head_sha.as_str();
        check_oid(base_sha)?;
        check_oid(head_sha)?;
        let mirror = self.existing_mirror(repo)?;
        let out = self
            .git()?
            .at(&mirror)
            .args(["diff", "--name-only", "-z", "--no-renames", "--no-ext-diff"])
            .args([format!("{base_sha}...{head_sha}"), "--".into()])
            .run()
            .await
            .with_context(|| format!("listing the files changed in {repo}"))?;
        Ok(split_z(&out))
    }

    /// The text of `path` at commit `sha`, `None` if the commit has no such file. Files over
    /// 1 MiB, directories and non-UTF-8 content are [`UnusableFile`] errors. Remembered (see
    /// [`super::file_cache`]).
    pub async fn read_file(
        &self,
        repo: &str,
        sha: &Sha,
        path: &str,
    ) -> anyhow::Result<Option<String>> {
        let sha = sha.as_str();
        check_oid(sha)?;
        check_path(path)?;
        let read = match self.files.get(repo, sha, path) {
            Some(read) => read,
            None => {
                self.read_files(repo, &Sha::new(sha), &[path]).await?;
                self.files
                    .get(repo, sha, path)
                    .context("a file read from the mirror was not kept")?
            }
        };
        match read {
            FileRead::Missing => Ok(None),
            FileRead::Text(text) => Ok(Some(text)),
            FileRead::Unusable(why) => Err(UnusableFile(why).into()),
        }
    }

    /// Reads `paths` at commit `sha` into the file cache (those not there yet): one git
    /// process finds them all, one more reads each that is a file of at most 1 MiB. Fails
    /// when the commit is not in the mirror.
    pub async fn read_files(&self, repo: &str, sha: &Sha, paths: &[&str]) -> anyhow::Result<()> {
        let sha = sha.as_str();
        check_oid(sha)?;
        let wanted: Vec<&str> = paths
            .iter()
            .copied()
            .filter(|p| self.files.get(repo, sha, p).is_none())
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        for path in &wanted {
            check_path(path)?;
        }
        let mirror = self.existing_mirror(repo)?;
        let git = self.git()?;
        // The commit itself first: "missing" for a path then means the path, not the commit.
        let mut input = format!("{sha}^{{commit}}\n");
        for path in &wanted {
            input.push_str(&format!("{sha}:{path}\n"));
        }
        let answer = git
            .at(&mirror)
            .args(["cat-file", "--batch-check"])
            .stdin(input.into_bytes())
            .run()
            .await?;
        let answer = String::from_utf8_lossy(&answer);
        let mut lines = answer.lines();
        match lines.next().map(|l| l.rsplitn(3, ' ').collect::<Vec<_>>()) {
            Some(fields) if fields.len() == 3 && fields[1] == "commit" => {}
            _ => bail!("commit {sha} is not in the mirror of {repo}: fetch it first"),
        }
        for path in wanted {
            let line = lines
                .next()
                .context("git cat-file answered fewer lines than asked")?;
            let mut fields = line.trim_end().rsplitn(3, ' ');
            let (size, kind, oid) = (fields.next(), fields.next(), fields.next());
            let read = match (size, kind, oid) {
                (Some("missing"), _, _) | (_, Some("missing"), _) => FileRead::Missing,
                (Some(size), Some("blob"), Some(oid)) => {
                    let size: u64 = size.parse().context("git cat-file's size")?;
                    if size > MAX_FILE {
                        FileRead::Unusable(format!(
                            "it is {size} bytes, more than the {MAX_FILE} allowed"
                        ))
                    } else {
                        let content = git
                            .at(&mirror)
                            .args(["cat-file", "blob", oid])
                            .stdout_cap(MAX_FILE as usize)
                            .run()
                            .await?;
                        match String::from_utf8(content) {
                            Ok(text) => FileRead::Text(text),
                            Err(_) => FileRead::Unusable("it is not UTF-8 text".into()),
                        }
                    }
                }
                (Some(_), Some(kind), Some(_)) => {
                    FileRead::Unusable(format!("it is a {kind}, not a file"))
                }
                _ => bail!("unexpected answer from git cat-file: {line}"),
            };
            self.files.put(repo, sha, path, read);
        }
        Ok(())
    }

    /// The first parent of commit `sha` (for a merge commit: the branch merged into, as it
    /// was before the merge).
    pub async fn first_parent(&self, repo: &str, sha: &Sha) -> anyhow::Result<Sha> {
        let sha = sha.as_str();
        check_oid(sha)?;
        let mirror = self.existing_mirror(repo)?;
        let out = self
            .git()?
            .at(&mirror)
            .args(["rev-parse", "--verify", "--quiet"])
            .args([format!("{sha}^1^{{commit}}")])
            .run()
            .await
            .with_context(|| format!("finding the parent of {sha}"))?;
        let parent = String::from_utf8_lossy(&out).trim().to_owned();
        check_oid(&parent)?;
        Ok(Sha::new(parent))
    }

    /// The directories of commit `sha` that directly hold a file making a Terraform project
    /// (see [`crate::config::repo::terraform_dirs`]), from its tree in the mirror: what a
    /// repo config's glob dirs are expanded against. Symlinks and submodules are skipped.
    pub async fn terraform_dirs(&self, repo: &str, sha: &Sha) -> anyhow::Result<Vec<String>> {
        let sha = sha.as_str();
        check_oid(sha)?;
        let mirror = self.existing_mirror(repo)?;
        let listing = self
            .git()?
            .at(&mirror)
            .args(["ls-tree", "-r", "-z", "--full-tree", sha])
            .run()
            .await
            .with_context(|| format!("listing the files of {sha}"))?;
        // <mode> SP <type> SP <oid> TAB <path>
        let files: Vec<String> = split_z(&listing)
            .into_iter()
            .filter_map(|entry| {
                let (meta, path) = entry.split_once('\t')?;
                let mode = meta.split_whitespace().next()?;
                (mode == "100644" || mode == "100755").then(|| path.to_owned())
            })
            .collect();
        Ok(crate::config::repo::terraform_dirs(
            files.iter().map(String::as_str),
        ))
    }

    /// Every `*.tf` file (path, content) in the tree of commit `sha`, read straight from the
    /// mirror. Symlinks and submodules are skipped; more than 50,000 files or 64 MiB in all is
    /// an error. Content that is not UTF-8 is read lossily.
    #[tracing::instrument(level = "debug", name = "terraform files", skip_all)]
    pub async fn terraform_files(
        &self,
        repo: &str,
        sha: &Sha,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let sha = sha.as_str();
        check_oid(sha)?;
        let mirror = self.existing_mirror(repo)?;
        let git = self.git()?;
        let listing = git
            .at(&mirror)
            .args(["ls-tree", "-r", "-z", "-l", "--full-tree", sha])
            .run()
            .await
            .with_context(|| format!("listing the files of {sha}"))?;
        let mut wanted: Vec<(String, String)> = Vec::new();
        let mut total: u64 = 0;
        for entry in split_z(&listing) {
            // <mode> SP <type> SP <oid> SP+ <size> TAB <path>
            let Some((meta, path)) = entry.split_once('\t') else {
                continue;
            };
            let mut meta = meta.split_whitespace();
            let (Some(mode), Some("blob"), Some(oid), Some(size)) =
                (meta.next(), meta.next(), meta.next(), meta.next())
            else {
                continue;
            };
            if !path.ends_with(".tf") || !(mode == "100644" || mode == "100755") {
                continue;
            }
            total += size.parse::<u64>().context("git ls-tree's size")?;
            if total > MAX_TERRAFORM_TOTAL || wanted.len() >= MAX_TERRAFORM_FILES {
                bail!(
                    "{repo} at {sha} has more Terraform files than bosun reads \
                     ({MAX_TERRAFORM_FILES} files or {MAX_TERRAFORM_TOTAL} bytes)"
                );
            }
            wanted.push((path.to_owned(), oid.to_owned()));
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let input: String = wanted.iter().map(|(_, oid)| format!("{oid}\n")).collect();
        let batch = git
            .at(&mirror)
            .args(["cat-file", "--batch"])
            .stdin(input.into_bytes())
            .stdout_cap((total + 128 * wanted.len() as u64) as usize)
            .run()
            .await?;
        let contents = parse_batch(&batch, wanted.len())?;
        Ok(wanted
            .into_iter()
            .zip(contents)
            .map(|((path, _), content)| (path, String::from_utf8_lossy(content).into_owned()))
            .collect())
    }
}

/// The most `.rego` files a policy set read from a repository may hold.
const MAX_REGO_FILES: usize = 100;

impl Workspaces {
    /// The `.rego` files directly in directory `dir` (or the one file `dir`) of commit `sha`,
    /// (path, text), by path; each is read as [`Workspaces::read_file`] reads (1 MiB, UTF-8).
    /// Symlinks and submodules are skipped.
    pub async fn rego_files(
        &self,
        repo: &str,
        sha: &Sha,
        dir: &str,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let sha = sha.as_str();
        check_oid(sha)?;
        let dir = dir.trim_end_matches('/');
        if dir.is_empty() || dir.starts_with('/') || dir.chars().any(char::is_control) {
            bail!("`{}` is not a path in the repository", dir.escape_debug());
        }
        let mirror = self.existing_mirror(repo)?;
        let listing = self
            .git()?
            .at(&mirror)
            .args([
                "ls-tree",
                "-z",
                "--full-tree",
                sha,
                "--",
                dir,
                &format!("{dir}/"),
            ])
            .run()
            .await
            .with_context(|| format!("listing {dir} at {sha}"))?;
        let mut paths = Vec::new();
        for entry in split_z(&listing) {
            // <mode> SP <type> SP <oid> TAB <path>
            let Some((meta, path)) = entry.split_once('\t') else {
                continue;
            };
            let mut meta = meta.split_whitespace();
            let (Some(mode), Some("blob")) = (meta.next(), meta.next()) else {
                continue;
            };
            if path.ends_with(".rego") && (mode == "100644" || mode == "100755") {
                paths.push(path.to_owned());
            }
        }
        paths.sort();
        paths.dedup();
        if paths.len() > MAX_REGO_FILES {
            bail!("{dir} at {sha} has more than {MAX_REGO_FILES} .rego files");
        }
        let mut out = Vec::new();
        for path in paths {
            if let Some(text) = self.read_file(repo, &Sha::new(sha), &path).await? {
                out.push((path, text));
            }
        }
        Ok(out)
    }
}

/// NUL-separated fields, empty ones dropped.
fn split_z(out: &[u8]) -> Vec<String> {
    out.split(|b| *b == 0)
        .filter(|f| !f.is_empty())
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

/// The contents in `git cat-file --batch` output: `<oid> <type> <size>\n<content>\n`, repeated.
fn parse_batch(mut out: &[u8], expected: usize) -> anyhow::Result<Vec<&[u8]>> {
    let mut contents = Vec::with_capacity(expected);
    while !out.is_empty() {
        let eol = out
            .iter()
            .position(|b| *b == b'\n')
            .context("truncated git cat-file output")?;
        let header = String::from_utf8_lossy(out.get(..eol).unwrap_or_default());
        let size: usize = header
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("unexpected git cat-file header: {header}"))?;
        let start = eol + 1;
        let content = out
            .get(start..start + size)
            .context("truncated git cat-file output")?;
        contents.push(content);
        out = out.get(start + size + 1..).unwrap_or_default();
    }
    if contents.len() != expected {
        bail!(
            "git cat-file returned {} objects, not {expected}",
            contents.len()
        );
    }
    Ok(contents)
}

/// A path inside the repository as git names it: not empty, relative, no control characters.
fn check_path(path: &str) -> anyhow::Result<()> {
    if path.is_empty() || path.starts_with('/') || path.chars().any(char::is_control) {
        bail!("`{}` is not a path in the repository", path.escape_debug());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_output() {
        let out = b"aaa blob 3\nabc\nbbb blob 0\n\nccc blob 2\nx\n\n";
        let parsed = parse_batch(out, 3).unwrap();
        assert_eq!(parsed, vec![&b"abc"[..], b"", b"x\n"]);
        assert!(parse_batch(b"aaa blob 9\nabc\n", 1).is_err());
        assert!(parse_batch(b"aaa missing\n", 1).is_err());
    }
}
