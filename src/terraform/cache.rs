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
//!
//! **The verified store.** Beside the scopes, a store per repository owner ([`store_scope`]:
//! the repositories of one organisation share it, those of another never see it) holds a copy
//! of every package some `init` verified
//! (`verified/<owner>/<host>/<namespace>/<type>/<version>/<os_arch>/h1-<hex>`), named
//! by the `h1:` hash bosun computed over the bytes it wrote there itself ([`promote`] copies,
//! never moves, what a run installed: a run may keep a hard link to what it wrote). A run of
//! any scope gets a package from it only when its own lock file records that exact hash
//! ([`prepare`]), so code of one trust can never hand code of another a package it did not
//! pin; Terraform checks the hash again when it takes the package. Runs see their owner's
//! store read-only, so the first pull request using a provider version pays its download and
//! every later one, of any repository of that owner, links it. A package unused for
//! [`STORE_KEEP`] is removed when the store next grows ([`prune_store`]).

use crate::ids::PrNumber;
use std::path::{Path, PathBuf};

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

/// How long a package of the verified store is kept after a run last used it.
pub const STORE_KEEP: Duration = Duration::from_secs(30 * 24 * 3600);
/// How old a half-made copy (`.tmp-*`) or a half-removed one (`.trash-*`) must be before
/// [`prune_store`] removes it: no copy takes this long.
const STORE_SCRAPS: Duration = Duration::from_secs(3600);

/// The cache of pull request `pr` of `repo` (`owner/name`), or of its default branch when
/// `pr` is 0 (drift checks), relative to the plugin cache directory.
pub fn scope(repo: &str, pr: PrNumber) -> PathBuf {
    let slug = slug(repo);
    if pr.0 == 0 {
        Path::new("default").join(slug)
    } else {
        Path::new("pr").join(slug).join(format!("pr-{pr}"))
    }
}

/// The verified store of `repo`'s owner (`owner/name`), relative to the store's root: the
/// repositories of one owner share one store, those of different owners never.
pub fn store_scope(repo: &str) -> PathBuf {
    let owner = repo.split_once('/').map_or(repo, |(owner, _)| owner);
    PathBuf::from(slug(owner))
}

/// `name` as one path step: lowercase, `/` as `+`, any byte but letters, digits, `.`, `_`
/// and `-` escaped as `%XX`, and never `.` or `..`.
fn slug(name: &str) -> String {
    let slug: String = name
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
    if slug.trim_matches('.').is_empty() {
        format!("%2E{slug}")
    } else {
        slug
    }
}

/// The depth of a package directory in a cache: `host/namespace/type/version/os_arch`.
const PACKAGE_DEPTH: usize = 5;

/// Makes `private` (a fresh directory, in a run's own directory) a cache for one `init` to
/// install into, holding a symlink to each package of `shared` whose provider and version the
/// project's lock file (`lock`, as it is before the `init`) records. Terraform takes a cached
/// package only for a provider its lock file records, and installs any other into the cache
/// itself, where a symlink would stop it.
///
/// A provider and version the lock file records that the shared cache lacks is linked from
/// the verified `store` instead, when it holds a package of exactly a hash the lock file
/// records for them (see the module docs); that package's last use is set to now.
pub fn prepare(
    shared: &Path,
    store: Option<&Path>,
    private: &Path,
    lock: Option<&str>,
) -> Result<()> {
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
    if let Some(store) = store {
        link_from_store(store, private, &recorded)?;
    }
    Ok(())
}

/// Links into `private` each package of `store` whose provider, version and `h1:` hash are
/// among `recorded`, unless `private` has that package already.
fn link_from_store(
    store: &Path,
    private: &Path,
    recorded: &[(String, String, String)],
) -> Result<()> {
    for (address, version, hash) in recorded {
        let (Some(rel), Some(name)) = (provider_dir(address, version), entry_name(hash)) else {
            continue;
        };
        let versions = store.join(&rel);
        let Some(platforms) = read_dir_if_any(&versions)? else {
            continue;
        };
        for platform in platforms {
            let platform = platform.with_context(|| format!("reading {}", versions.display()))?;
            let entry = platform.path().join(&name);
            let is_dir = entry.symlink_metadata().is_ok_and(|m| m.is_dir());
            let link = private.join(&rel).join(platform.file_name());
            if !is_dir || link.symlink_metadata().is_ok() {
                continue;
            }
            std::fs::create_dir_all(private.join(&rel))
                .with_context(|| format!("creating {}", private.join(&rel).display()))?;
            std::os::unix::fs::symlink(&entry, &link)
                .with_context(|| format!("linking {}", link.display()))?;
            // Its last use, for `prune_store`; a failure only shortens its stay.
            if let Err(e) = used_now(&entry) {
                tracing::debug!(error = %e, entry = %entry.display(), "marking a stored package used");
            }
        }
    }
    Ok(())
}

/// Sets the modification time of the store's entry `dir` (bosun's own) to now.
fn used_now(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.set_times(std::fs::FileTimes::new().set_modified(SystemTime::now()))
}

/// `host/namespace/type/version` as a relative path, when the lock file's `address` and
/// `version` (the pull request's words) are plain names: no `..`, no separator inside one.
fn provider_dir(address: &str, version: &str) -> Option<PathBuf> {
    let plain = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
    };
    let parts: Vec<&str> = address.split('/').chain([version]).collect();
    (parts.len() == 4 && parts.iter().all(|p| plain(p))).then(|| parts.iter().collect())
}

/// The store's name for a package of hash `h1:<base64>`: `h1-<hex>`, or `None` when it is
/// not a SHA-256 in base64.
fn entry_name(hash: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(hash.strip_prefix("h1:")?)
        .ok()?;
    (bytes.len() == 32).then(|| format!("h1-{}", hex::encode(bytes)))
}

/// The entries of `dir`, or `None` when it does not exist.
fn read_dir_if_any(dir: &Path) -> Result<Option<std::fs::ReadDir>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(Some(entries)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
    }
}

/// Moves `from` to `to` unless `to` exists (`RENAME_NOREPLACE`): whether it moved.
fn rename_new(from: &Path, to: &Path) -> Result<bool> {
    match rustix::fs::renameat_with(
        rustix::fs::CWD,
        from,
        rustix::fs::CWD,
        to,
        rustix::fs::RenameFlags::NOREPLACE,
    ) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::EXIST | rustix::io::Errno::NOTEMPTY) => Ok(false),
        Err(e) => Err(std::io::Error::from(e))
            .with_context(|| format!("moving {} into {}", from.display(), to.display())),
    }
}

/// The package directories of the cache `root` (relative paths `PACKAGE_DEPTH` deep): real
/// directories only, nothing reached through a symlink.
fn packages(root: &Path) -> Result<Vec<PathBuf>> {
    let mut level = vec![PathBuf::new()];
    for _ in 0..PACKAGE_DEPTH {
        let mut next = Vec::new();
        for rel in level {
            let dir = root.join(&rel);
            let Some(entries) = read_dir_if_any(&dir)? else {
                continue;
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
    /// Packages copied into the verified store (which did not have them).
    pub stored: Vec<PathBuf>,
}

/// Moves each package `init` installed into `private` (its real directories: the symlinks
/// [`prepare`] made are the shared cache's own) into `shared`, when its `h1:` hash is one
/// `lock` (the project's `.terraform.lock.hcl`, as `init` left it) records for that provider
/// and version, and the shared cache does not have it yet. A moved package is replaced by a
/// symlink to its new place, so the run's `.terraform` still finds it.
///
/// First, a package the verified `store` lacks is copied there, when the hash of the copy is
/// one `lock` records (see the module docs); when that made the store grow, packages unused
/// for [`STORE_KEEP`] are removed from it.
pub fn promote(
    shared: &Path,
    store: Option<&Path>,
    private: &Path,
    lock: &str,
) -> Result<Promoted> {
    let recorded = lock_hashes(lock);
    let mut done = Promoted::default();
    for rel in packages(private)? {
        let from = private.join(&rel);
        let Some((address, version)) = provider_of(&rel) else {
            continue;
        };
        let hashes: Vec<&str> = recorded
            .iter()
            .filter(|(a, v, _)| *a == address && *v == version)
            .map(|(_, _, h)| h.as_str())
            .collect();
        let mut known = None;
        if let Some(store) = store {
            match store_copy(store, &rel, &from, &hashes) {
                Ok(Stored::Added(hash)) => {
                    done.stored.push(rel.clone());
                    known = Some(true);
                    tracing::debug!(package = %rel.display(), %hash, "provider package stored");
                }
                Ok(Stored::Mismatch) => known = Some(false),
                Ok(Stored::Skipped) => {}
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), package = %rel.display(), "storing a provider package failed");
                }
            }
        }
        let to = shared.join(&rel);
        // Shared already (by another init meanwhile): nothing to hash.
        if to.symlink_metadata().is_ok() {
            done.kept.push(rel);
            continue;
        }
        let verified = known.unwrap_or_else(|| match hash_v1(&from) {
            Ok(h) => hashes.contains(&h.as_str()),
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), package = %rel.display(), "hashing a provider package failed");
                false
            }
        });
        if !verified {
            done.kept.push(rel);
            continue;
        }
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        if rename_new(&from, &to)? {
            std::os::unix::fs::symlink(&to, &from)
                .with_context(|| format!("linking {}", from.display()))?;
            done.moved.push(rel);
        } else {
            done.kept.push(rel);
        }
    }
    if let Some(store) = store.filter(|_| !done.stored.is_empty()) {
        match prune_store(store, STORE_KEEP, SystemTime::now()) {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                packages = n,
                "unused provider packages removed from the store"
            ),
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "pruning the provider store failed"
            ),
        }
    }
    Ok(done)
}

/// What [`store_copy`] did.
enum Stored {
    /// The copy's hash, one the lock file records, is in the store now.
    Added(String),
    /// The copy's hash is not one the lock file records: nothing stored.
    Mismatch,
    /// The store has a package of a recorded hash already, or the lock file records none.
    Skipped,
}

/// Copies package `from` (`rel` in a cache) into `store`, as `rel/h1-<hex>`, when the store
/// has no package of any of `hashes` there and the copy's hash is one of them.
fn store_copy(store: &Path, rel: &Path, from: &Path, hashes: &[&str]) -> Result<Stored> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COPIES: AtomicU64 = AtomicU64::new(0);
    let dir = store.join(rel);
    let names: Vec<String> = hashes.iter().filter_map(|h| entry_name(h)).collect();
    if names.is_empty() || names.iter().any(|n| dir.join(n).symlink_metadata().is_ok()) {
        return Ok(Stored::Skipped);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        COPIES.fetch_add(1, Ordering::Relaxed)
    ));
    let copied = copy_hashed(from, &tmp);
    let verified = match &copied {
        Ok(hash) if hashes.contains(&hash.as_str()) => entry_name(hash),
        _ => None,
    };
    let Some(name) = verified else {
        // Best effort: a leftover is removed by `prune_store` later.
        let _ = std::fs::remove_dir_all(&tmp);
        return copied.map(|_| Stored::Mismatch);
    };
    let to = dir.join(name);
    let moved = rename_new(&tmp, &to);
    if !matches!(moved, Ok(true)) {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    match moved? {
        true => copied.map(Stored::Added),
        false => Ok(Stored::Skipped),
    }
}

/// Copies the package directory `from` into the new directory `to`, never following a link
/// (a package holding anything but files and directories is refused), and returns the `h1:`
/// hash of what it wrote. The copy's files are read-only (`0555` when executable, else
/// `0444`).
fn copy_hashed(from: &Path, to: &Path) -> Result<String> {
    use sha2::{Digest as _, Sha256};
    use std::io::{Read as _, Write as _};
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
    let mkdir = |dir: &Path| {
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))
    };
    let (dirs, files) = tree(from)?;
    mkdir(to)?;
    for rel in &dirs {
        mkdir(&to.join(rel))?;
    }
    let mut hashed = Vec::with_capacity(files.len());
    let mut buf = vec![0u8; 64 * 1024];
    for rel in files {
        let source = from.join(&rel);
        let mut src = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&source)
            .with_context(|| format!("opening {}", source.display()))?;
        let meta = src.metadata()?;
        anyhow::ensure!(meta.is_file(), "{} is not a file", rel.display());
        let mode = if meta.permissions().mode() & 0o111 != 0 {
            0o555
        } else {
            0o444
        };
        let target = to.join(&rel);
        let mut dst = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&target)
            .with_context(|| format!("creating {}", target.display()))?;
        let mut hash = Sha256::new();
        loop {
            let n = src.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            dst.write_all(&buf[..n])?;
        }
        hashed.push((slashed(&rel), format!("{:x}", hash.finalize())));
    }
    Ok(h1_of(hashed))
}

/// The directories and the files under `dir`, relative to it, each directory before what it
/// holds; anything else (a symlink, a device) is an error.
fn tree(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let (mut dirs, mut files) = (Vec::new(), Vec::new());
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
                dirs.push(rel.clone());
                stack.push(rel);
            } else if kind.is_file() {
                files.push(rel);
            } else {
                anyhow::bail!("{} is neither a file nor a directory", rel.display());
            }
        }
    }
    Ok((dirs, files))
}

/// A relative path as the `h1:` hash names it: `/` between its parts.
fn slashed(rel: &Path) -> String {
    rel.to_string_lossy().replace('\\', "/")
}

/// Removes from `store` each package not used (linked or added) since `keep` before `now`,
/// and the leftovers of copies and removals cut off more than an hour ago; returns how many
/// packages it removed. A package is first renamed out of its name, so a run never links a
/// half-removed one.
pub fn prune_store(store: &Path, keep: Duration, now: SystemTime) -> Result<usize> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static REMOVALS: AtomicU64 = AtomicU64::new(0);
    let older = |meta: &std::fs::Metadata, age: Duration| {
        meta.modified()
            .is_ok_and(|m| now.duration_since(m).is_ok_and(|d| d > age))
    };
    let mut removed = 0;
    for rel in packages(store)? {
        let dir = store.join(&rel);
        let Some(entries) = read_dir_if_any(&dir)? else {
            continue;
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let meta = entry.metadata()?;
            if !meta.is_dir() {
                continue;
            }
            let path = entry.path();
            if name.starts_with(".tmp-") || name.starts_with(".trash-") {
                if older(&meta, STORE_SCRAPS) {
                    std::fs::remove_dir_all(&path)
                        .with_context(|| format!("removing {}", path.display()))?;
                }
            } else if name.starts_with("h1-") && older(&meta, keep) {
                let trash = dir.join(format!(
                    ".trash-{}-{}",
                    std::process::id(),
                    REMOVALS.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::rename(&path, &trash)
                    .with_context(|| format!("moving {} aside", path.display()))?;
                std::fs::remove_dir_all(&trash)
                    .with_context(|| format!("removing {}", trash.display()))?;
                removed += 1;
            }
        }
    }
    Ok(removed)
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
    use sha2::{Digest as _, Sha256};
    let (_, files) = tree(dir)?;
    let mut hashed = Vec::with_capacity(files.len());
    for rel in files {
        let mut file = std::fs::File::open(dir.join(&rel))?;
        let mut hash = Sha256::new();
        std::io::copy(&mut file, &mut hash)?;
        hashed.push((slashed(&rel), format!("{:x}", hash.finalize())));
    }
    Ok(h1_of(hashed))
}

/// The `h1:` hash of a package's `(relative path, SHA-256 hex)` files: the SHA-256 of the
/// lines `<hex>  <path>`, sorted by path, base64-encoded.
fn h1_of(mut files: Vec<(String, String)>) -> String {
    use base64::Engine as _;
    use sha2::{Digest as _, Sha256};
    files.sort();
    let mut summary = Sha256::new();
    for (rel, hex) in &files {
        summary.update(format!("{hex}  {rel}\n"));
    }
    format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(summary.finalize())
    )
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

    #[test]
    fn each_owner_has_a_store_of_its_own() {
        assert_eq!(store_scope("Acme/Infra"), Path::new("acme"));
        assert_eq!(store_scope("acme/other"), store_scope("acme/infra"));
        assert_ne!(store_scope("acme/infra"), store_scope("globex/infra"));
        for odd in ["..", "../x", "a b/c", "."] {
            let s = store_scope(odd);
            assert_eq!(s.components().count(), 1, "{odd}: {}", s.display());
            assert!(matches!(
                s.components().next(),
                Some(std::path::Component::Normal(_))
            ));
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
        prepare(&shared, None, &private, Some(&alpha_lock)).unwrap();
        let linked = private.join(ALPHA);
        assert!(linked.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(linked.read_link().unwrap(), alpha);
        // A provider the lock file does not record is left for init to install itself.
        assert!(!private.join("registry.terraform.io/example/delta").exists());
        let bare = tmp.path().join("run0/cache");
        prepare(&shared, None, &bare, None).unwrap();
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
        let done = promote(&shared, None, &private, &lock).unwrap();
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
        let again = promote(&shared, None, &other, &lock).unwrap();
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

    fn stored_entries(store: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for rel in packages(store).unwrap() {
            for e in std::fs::read_dir(store.join(&rel)).unwrap() {
                found.push(rel.join(e.unwrap().file_name()));
            }
        }
        found
    }

    fn set_age(dir: &Path, age: Duration) {
        std::fs::File::open(dir)
            .unwrap()
            .set_times(std::fs::FileTimes::new().set_modified(SystemTime::now() - age))
            .unwrap();
    }

    #[test]
    fn a_package_verified_in_one_scope_serves_another_only_by_its_exact_hash() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("verified");
        let private = tmp.path().join("run-a/cache");
        let beta = package(&private, BETA, b"beta");
        let hash = hash_v1(&beta).unwrap();
        let beta_lock = lock(&[("registry.terraform.io/example/beta", "2.0.0", &hash)]);
        let done = promote(&tmp.path().join("pr-1"), Some(&store), &private, &beta_lock).unwrap();
        assert_eq!(done.stored, [PathBuf::from(BETA)]);
        assert_eq!(done.moved, [PathBuf::from(BETA)], "the scope gets it too");
        let name = entry_name(&hash).unwrap();
        assert!(name.starts_with("h1-") && name.len() == 3 + 64, "{name}");
        assert_eq!(stored_entries(&store), [PathBuf::from(BETA).join(&name)]);
        let entry = store.join(BETA).join(&name);
        assert!(entry.symlink_metadata().unwrap().is_dir());
        assert_eq!(hash_v1(&entry).unwrap(), hash);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&entry.join("terraform-provider-x")), 0o444);
        assert_eq!(mode(&entry.join("docs/README")), 0o444);

        // Another init of another scope that installed it too adds nothing.
        let again = tmp.path().join("run-b/cache");
        package(&again, BETA, b"beta");
        let done = promote(&tmp.path().join("pr-2"), Some(&store), &again, &beta_lock).unwrap();
        assert!(done.stored.is_empty());
        assert_eq!(stored_entries(&store).len(), 1);

        // A scope whose lock file records that hash links the store's copy.
        let linked = tmp.path().join("run-c/cache");
        prepare(
            &tmp.path().join("pr-3"),
            Some(&store),
            &linked,
            Some(&beta_lock),
        )
        .unwrap();
        assert_eq!(linked.join(BETA).read_link().unwrap(), entry);
        // One recording another hash for that provider and version does not.
        let zeros = format!(
            "h1:{}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [0u8; 32])
        );
        let other = tmp.path().join("run-d/cache");
        let other_lock = lock(&[("registry.terraform.io/example/beta", "2.0.0", &zeros)]);
        prepare(
            &tmp.path().join("pr-4"),
            Some(&store),
            &other,
            Some(&other_lock),
        )
        .unwrap();
        assert!(other.join(BETA).symlink_metadata().is_err());
        // Nor one naming paths out of the store, or a hash that is not one.
        let evil = tmp.path().join("run-e/cache");
        let evil_lock = lock(&[
            ("../../verified/registry.terraform.io", "example", &hash),
            ("registry.terraform.io/example/beta", "../2.0.0", &hash),
            ("registry.terraform.io/example/beta", "2.0.0", "h1:../../x"),
        ]);
        prepare(
            &tmp.path().join("pr-5"),
            Some(&store),
            &evil,
            Some(&evil_lock),
        )
        .unwrap();
        assert!(std::fs::read_dir(&evil).unwrap().next().is_none());
    }

    #[test]
    fn lock_file_names_become_store_paths_only_when_plain() {
        assert_eq!(
            provider_dir("registry.terraform.io/hashicorp/aws", "5.0.1"),
            Some(PathBuf::from("registry.terraform.io/hashicorp/aws/5.0.1"))
        );
        for (address, version) in [
            ("../hashicorp/aws", "5.0.1"),
            ("registry.terraform.io/hashicorp/aws", ".."),
            ("registry.terraform.io/hashicorp", "5.0.1"),
            ("a/b/c/d", "1"),
            ("a//c", "1"),
            ("a/b/c", "1/2"),
            ("a/b/c", ""),
        ] {
            assert_eq!(provider_dir(address, version), None, "{address} {version}");
        }
        assert_eq!(entry_name("h1:short="), None);
        assert_eq!(entry_name("zh:abc"), None);
    }

    #[test]
    fn a_package_not_matching_the_lock_file_or_holding_a_link_is_not_stored() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("verified");
        // Installed bytes other than those the lock file records.
        let private = tmp.path().join("run-a/cache");
        package(&private, BETA, b"not beta");
        let genuine = hash_v1(&package(&tmp.path().join("genuine"), BETA, b"beta")).unwrap();
        let beta_lock = lock(&[("registry.terraform.io/example/beta", "2.0.0", &genuine)]);
        let done = promote(&tmp.path().join("pr-1"), Some(&store), &private, &beta_lock).unwrap();
        assert!(done.stored.is_empty() && done.moved.is_empty());
        assert_eq!(done.kept, [PathBuf::from(BETA)]);
        assert!(stored_entries(&store).is_empty(), "no copy left behind");
        // A package holding a link.
        let linked = tmp.path().join("run-b/cache");
        let dir = package(&linked, BETA, b"beta");
        std::os::unix::fs::symlink("/etc/passwd", dir.join("passwd")).unwrap();
        let done = promote(&tmp.path().join("pr-2"), Some(&store), &linked, &beta_lock).unwrap();
        assert!(done.stored.is_empty() && done.moved.is_empty());
        assert!(stored_entries(&store).is_empty(), "no copy left behind");
    }

    #[test]
    fn the_store_forgets_packages_unused_for_its_keep_time() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("verified");
        let beta_lock = |hash: &str| lock(&[("registry.terraform.io/example/beta", "2.0.0", hash)]);
        let mut hashes = Vec::new();
        for (i, content) in [b"old".as_slice(), b"new", b"used"].into_iter().enumerate() {
            let dir = package(&tmp.path().join(format!("src-{i}")), BETA, content);
            let hash = hash_v1(&dir).unwrap();
            let stored = store_copy(&store, Path::new(BETA), &dir, &[hash.as_str()]).unwrap();
            assert!(matches!(stored, Stored::Added(_)));
            hashes.push(hash);
        }
        let entry = |h: &str| store.join(BETA).join(entry_name(h).unwrap());
        let month = STORE_KEEP + Duration::from_secs(3600);
        set_age(&entry(&hashes[0]), month);
        set_age(&entry(&hashes[2]), month);
        // A link made by a run counts as a use.
        let using = tmp.path().join("run-x/cache");
        prepare(
            &tmp.path().join("pr-x"),
            Some(&store),
            &using,
            Some(&beta_lock(&hashes[2])),
        )
        .unwrap();
        // Scraps: an old half-made copy goes, a fresh one (a copy under way) stays.
        let old_tmp = store.join(BETA).join(".tmp-1-1");
        let new_tmp = store.join(BETA).join(".tmp-1-2");
        std::fs::create_dir_all(&old_tmp).unwrap();
        std::fs::create_dir_all(&new_tmp).unwrap();
        set_age(&old_tmp, Duration::from_secs(2 * 3600));

        // An init whose package makes the store grow prunes it.
        let private = tmp.path().join("run-y/cache");
        let fourth = hash_v1(&package(&private, BETA, b"fourth")).unwrap();
        let done = promote(
            &tmp.path().join("pr-y"),
            Some(&store),
            &private,
            &beta_lock(&fourth),
        )
        .unwrap();
        assert_eq!(done.stored, [PathBuf::from(BETA)]);
        assert!(!entry(&hashes[0]).exists(), "unused for over a month");
        assert!(entry(&hashes[1]).exists(), "added now");
        assert!(entry(&hashes[2]).exists(), "linked now");
        assert!(entry(&fourth).exists());
        assert!(!old_tmp.exists());
        assert!(new_tmp.exists());
        // Pruning alone says how many packages it removed.
        set_age(&entry(&hashes[1]), month);
        assert_eq!(
            prune_store(&store, STORE_KEEP, SystemTime::now()).unwrap(),
            1
        );
        assert!(!entry(&hashes[1]).exists());
        assert_eq!(
            prune_store(&store, STORE_KEEP, SystemTime::now()).unwrap(),
            0
        );
    }
}
