//! A shared provider plugin cache that parallel `terraform init`s can use without a lock.
//!
//! Terraform's plugin cache (`TF_PLUGIN_CACHE_DIR`) is not safe for concurrent writers: two
//! `init`s installing the same provider at once leave half-written binaries and fail with
//! "text file busy". So no `init` writes the shared cache. Each gets a private cache in its
//! own run directory ([`prepare`]) holding a symlink to every package the shared cache has
//! (read-only in the sandbox), installs what is missing there, and once it succeeded bosun
//! promotes each new package into the shared cache ([`promote`]): only a package whose
//! `h1:` hash is one the project's `.terraform.lock.hcl` records for it (what Terraform just
//! verified), moved in with one `rename` that never replaces (`RENAME_NOREPLACE`), so two
//! `init`s that installed the same package leave one whole copy, and a half-written one is
//! never seen. Inits of different providers — or of the same — run side by side, up to the
//! Terraform slots.
//!
//! **Scopes.** A pull request's `init` can put providers in the cache it writes (a committed
//! `terraform.d/plugins` is an implied local mirror, a workflow's `init` may add
//! `-plugin-dir`), and Terraform runs what the cache holds. So no cache is shared by code of
//! different trust: every pull request has its own (`pr/<owner>+<name>/pr-<N>`, deleted when
//! the pull request closes) and every repository's default branch — its drift checks — has
//! its own (`default/<owner>+<name>`), all under the plugin cache directory ([`scope`]).

use crate::ids::PrNumber;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The cache of pull request `pr` of `repo` (`owner/name`), or of its default branch when
/// `pr` is 0 (drift checks), relative to the plugin cache directory.
pub fn scope(repo: &str, pr: PrNumber) -> PathBuf {
    let slug: String = repo
        .to_ascii_lowercase()
        .bytes()
        .map(|b| match b {
            b'/' => "+".to_owned(),
            b if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') => {
                char::from(b).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect();
    // `.` and `..` are not names GitHub gives, but never a path step either.
    let slug = if slug.trim_matches('.').is_empty() {
        format!("%2E{slug}")
    } else {
        slug
    };
    if pr.0 == 0 {
        Path::new("default").join(slug)
    } else {
        Path::new("pr").join(slug).join(format!("pr-{pr}"))
    }
}

/// The depth of a package directory in a cache: `host/namespace/type/version/os_arch`.
const PACKAGE_DEPTH: usize = 5;

/// Makes `private` (a fresh directory, in a run's own directory) a cache for one `init` to
/// install into, holding a symlink to each package of `shared` whose provider and version the
/// project's lock file (`lock`, as it is before the `init`) records. Terraform takes a cached
/// package only for a provider its lock file records, and installs any other into the cache
/// itself, where a symlink would stop it.
pub fn prepare(shared: &Path, private: &Path, lock: Option<&str>) -> Result<()> {
    std::fs::create_dir_all(shared)
        .with_context(|| format!("creating the plugin cache {}", shared.display()))?;
    std::fs::create_dir_all(private).with_context(|| format!("creating {}", private.display()))?;
    let recorded = lock.map(lock_hashes).unwrap_or_default();
    for rel in packages(shared)? {
        let Some((address, version)) = provider_of(&rel) else {
            continue;
        };
        if !recorded
            .iter()
            .any(|(a, v, _)| *a == address && *v == version)
        {
            continue;
        }
        let link = private.join(&rel);
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::os::unix::fs::symlink(shared.join(&rel), &link)
            .with_context(|| format!("linking {}", link.display()))?;
    }
    Ok(())
}

/// The package directories of the cache `root` (relative paths `PACKAGE_DEPTH` deep): real
/// directories only, nothing reached through a symlink.
fn packages(root: &Path) -> Result<Vec<PathBuf>> {
    let mut level = vec![PathBuf::new()];
    for _ in 0..PACKAGE_DEPTH {
        let mut next = Vec::new();
        for rel in level {
            let dir = root.join(&rel);
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
            };
            for entry in entries {
                let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
                let kind = entry.file_type()?;
                let name = entry.file_name();
                if kind.is_dir() && !name.to_string_lossy().starts_with('.') {
                    next.push(rel.join(name));
                }
            }
        }
        level = next;
    }
    level.sort();
    Ok(level)
}

/// What [`promote`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Promoted {
    /// Packages moved into the shared cache.
    pub moved: Vec<PathBuf>,
    /// New packages left in the private cache: the shared one had them meanwhile, or their
    /// hash is not one the lock file records.
    pub kept: Vec<PathBuf>,
}

/// Moves each package `init` installed into `private` (its real directories: the symlinks
/// [`prepare`] made are the shared cache's own) into `shared`, when its `h1:` hash is one
/// `lock` (the project's `.terraform.lock.hcl`, as `init` left it) records for that provider
/// and version, and the shared cache does not have it yet. A moved package is replaced by a
/// symlink to its new place, so the run's `.terraform` still finds it.
pub fn promote(shared: &Path, private: &Path, lock: &str) -> Result<Promoted> {
    let recorded = lock_hashes(lock);
    let mut done = Promoted::default();
    for rel in packages(private)? {
        let from = private.join(&rel);
        let Some((address, version)) = provider_of(&rel) else {
            continue;
        };
        let to = shared.join(&rel);
        // Shared already (by another init meanwhile): nothing to hash.
        if to.symlink_metadata().is_ok() {
            done.kept.push(rel);
            continue;
        }
        let verified = match hash_v1(&from) {
            Ok(h) => recorded
                .iter()
                .any(|(a, v, hash)| *a == address && *v == version && *hash == h),
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), package = %rel.display(), "hashing a provider package failed");
                false
            }
        };
        if !verified {
            done.kept.push(rel);
            continue;
        }
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            &from,
            rustix::fs::CWD,
            &to,
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            Ok(()) => {
                std::os::unix::fs::symlink(&to, &from)
                    .with_context(|| format!("linking {}", from.display()))?;
                done.moved.push(rel);
            }
            Err(rustix::io::Errno::EXIST | rustix::io::Errno::NOTEMPTY) => done.kept.push(rel),
            Err(e) => {
                return Err(std::io::Error::from(e))
                    .with_context(|| format!("moving {} into {}", from.display(), to.display()));
            }
        }
    }
    Ok(done)
}

/// The provider address (`host/namespace/type`) and version of a package's relative path.
fn provider_of(rel: &Path) -> Option<(String, String)> {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let [host, namespace, kind, version, _platform] = parts.as_slice() else {
        return None;
    };
    Some((format!("{host}/{namespace}/{kind}"), version.clone()))
}

/// `(provider address, version, hash)` of every `h1:` hash a `.terraform.lock.hcl` records.
fn lock_hashes(lock: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let (mut address, mut version) = (None::<String>, None::<String>);
    let quoted = |line: &str| -> Option<String> {
        let start = line.find('"')? + 1;
        let end = start + line[start..].find('"')?;
        Some(line[start..end].to_owned())
    };
    for line in lock.lines().map(str::trim) {
        if line.starts_with("provider ") {
            address = quoted(line);
            version = None;
        } else if line.starts_with("version") && line.contains('=') {
            version = quoted(line);
        } else if let (Some(a), Some(v), Some(h)) = (&address, &version, quoted(line))
            && h.starts_with("h1:")
        {
            out.push((a.clone(), v.clone(), h));
        }
    }
    out
}

/// Terraform's `h1:` hash of a package directory (Go's `dirhash.Hash1`): the SHA-256 of the
/// sorted lines `<sha256 hex>  <relative path>` of its files, base64-encoded. Nothing under
/// it may be a symlink.
pub fn hash_v1(dir: &Path) -> Result<String> {
    use base64::Engine as _;
    use sha2::{Digest as _, Sha256};
    let mut files = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let here = dir.join(&rel);
        for entry in
            std::fs::read_dir(&here).with_context(|| format!("reading {}", here.display()))?
        {
            let entry = entry?;
            let kind = entry.file_type()?;
            let rel = rel.join(entry.file_name());
            if kind.is_dir() {
                stack.push(rel);
            } else if kind.is_file() {
                files.push(rel.to_string_lossy().replace('\\', "/"));
            } else {
                anyhow::bail!("{} is neither a file nor a directory", rel.display());
            }
        }
    }
    files.sort();
    let mut summary = Sha256::new();
    for rel in &files {
        let mut file = std::fs::File::open(dir.join(rel))?;
        let mut hash = Sha256::new();
        std::io::copy(&mut file, &mut hash)?;
        summary.update(format!("{:x}  {rel}\n", hash.finalize()));
    }
    Ok(format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(summary.finalize())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_keep_pull_requests_repos_and_default_branches_apart() {
        assert_eq!(
            scope("Acme/Infra", PrNumber(7)),
            Path::new("pr/acme+infra/pr-7")
        );
        assert_eq!(
            scope("acme/infra", PrNumber(0)),
            Path::new("default/acme+infra")
        );
        assert_ne!(
            scope("acme/infra", PrNumber(7)),
            scope("acme/infra", PrNumber(8))
        );
        assert_ne!(
            scope("acme/infra", PrNumber(7)),
            scope("acme/other", PrNumber(7))
        );
        for odd in ["../..", "a/../b", "..", "a b/c"] {
            let s = scope(odd, PrNumber(1));
            assert!(
                s.components()
                    .all(|c| matches!(c, std::path::Component::Normal(_))),
                "{odd}: {}",
                s.display()
            );
            assert_eq!(s.components().count(), 3, "{odd}");
        }
    }

    fn package(root: &Path, rel: &str, bytes: &[u8]) -> PathBuf {
        let dir = root.join(rel);
        std::fs::create_dir_all(dir.join("docs")).unwrap();
        std::fs::write(dir.join("terraform-provider-x"), bytes).unwrap();
        std::fs::write(dir.join("docs/README"), b"read me").unwrap();
        dir
    }

    const ALPHA: &str = "registry.terraform.io/example/alpha/1.0.0/linux_amd64";
    const BETA: &str = "registry.terraform.io/example/beta/2.0.0/linux_amd64";

    fn lock(entries: &[(&str, &str, &str)]) -> String {
        entries
            .iter()
            .map(|(addr, version, hash)| {
                format!(
                    "provider \"{addr}\" {{\n  version     = \"{version}\"\n  constraints = \">= 1.0\"\n  hashes = [\n    \"{hash}\",\n    \"zh:00\",\n  ]\n}}\n"
                )
            })
            .collect()
    }

    #[test]
    fn the_h1_hash_is_go_dirhash_of_the_sorted_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = package(tmp.path(), "p", b"binary");
        // By hand: sha256 of each file, the lines sorted by path, then sha256 and base64.
        use base64::Engine as _;
        use sha2::{Digest as _, Sha256};
        let line = |path: &str, bytes: &[u8]| format!("{:x}  {path}\n", Sha256::digest(bytes));
        let text = line("docs/README", b"read me") + &line("terraform-provider-x", b"binary");
        let want = format!(
            "h1:{}",
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
        );
        assert_eq!(hash_v1(&dir).unwrap(), want);
        std::os::unix::fs::symlink("/etc/passwd", dir.join("link")).unwrap();
        assert!(
            hash_v1(&dir).is_err(),
            "a symlink inside is not hashed through"
        );
    }

    #[test]
    fn a_private_cache_links_the_shared_packages_and_promotes_only_verified_new_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let (shared, private) = (tmp.path().join("shared"), tmp.path().join("run/cache"));
        let alpha = package(&shared, ALPHA, b"alpha");
        package(
            &shared,
            "registry.terraform.io/example/delta/1.0.0/linux_amd64",
            b"d",
        );
        let alpha_lock = lock(&[("registry.terraform.io/example/alpha", "1.0.0", "h1:x=")]);
        prepare(&shared, &private, Some(&alpha_lock)).unwrap();
        let linked = private.join(ALPHA);
        assert!(linked.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(linked.read_link().unwrap(), alpha);
        // A provider the lock file does not record is left for init to install itself.
        assert!(!private.join("registry.terraform.io/example/delta").exists());
        let bare = tmp.path().join("run0/cache");
        prepare(&shared, &bare, None).unwrap();
        assert!(std::fs::read_dir(&bare).unwrap().next().is_none());

        // init installed beta (verified) and a gamma the lock file does not record.
        let beta = package(&private, BETA, b"beta");
        let gamma_rel = "registry.terraform.io/example/gamma/1.0.0/linux_amd64";
        package(&private, gamma_rel, b"gamma");
        let beta_hash = hash_v1(&beta).unwrap();
        let lock = lock(&[
            ("registry.terraform.io/example/beta", "2.0.0", &beta_hash),
            (
                "registry.terraform.io/example/gamma",
                "1.0.0",
                "h1:somethingelse=",
            ),
        ]);
        let done = promote(&shared, &private, &lock).unwrap();
        assert_eq!(done.moved, [PathBuf::from(BETA)]);
        assert_eq!(done.kept, [PathBuf::from(gamma_rel)]);
        assert_eq!(hash_v1(&shared.join(BETA)).unwrap(), beta_hash);
        assert!(!shared.join(gamma_rel).exists(), "unverified: not shared");
        // The run still finds beta where init put it.
        assert_eq!(
            std::fs::read(private.join(BETA).join("terraform-provider-x")).unwrap(),
            b"beta"
        );
        assert!(
            private
                .join(BETA)
                .symlink_metadata()
                .unwrap()
                .file_type()
                .is_symlink()
        );

        // A second init that installed beta too keeps its own: the shared copy is not replaced.
        let other = tmp.path().join("run2/cache");
        package(&other, BETA, b"beta");
        let again = promote(&shared, &other, &lock).unwrap();
        assert!(again.moved.is_empty());
        assert_eq!(again.kept, [PathBuf::from(BETA)]);
        assert_eq!(hash_v1(&shared.join(BETA)).unwrap(), beta_hash);
    }

    #[test]
    fn the_lock_files_h1_hashes_are_read_per_provider_and_version() {
        let text = lock(&[
            ("registry.terraform.io/example/alpha", "1.0.0", "h1:aaa="),
            ("registry.terraform.io/example/beta", "2.0.0", "h1:bbb="),
        ]);
        assert_eq!(
            lock_hashes(&text),
            [
                (
                    "registry.terraform.io/example/alpha".to_owned(),
                    "1.0.0".to_owned(),
                    "h1:aaa=".to_owned()
                ),
                (
                    "registry.terraform.io/example/beta".to_owned(),
                    "2.0.0".to_owned(),
                    "h1:bbb=".to_owned()
                ),
            ]
        );
    }
}
