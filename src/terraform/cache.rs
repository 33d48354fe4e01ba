//! The lock that makes a shared provider plugin cache safe for parallel `terraform init`.
//!
//! Terraform's plugin cache (`TF_PLUGIN_CACHE_DIR`) is not safe for concurrent writers: two
//! `init`s installing the same provider at once leave half-written binaries and fail with
//! "text file busy". Only `init` writes the cache, so bosun holds an exclusive lock on
//! `<cache>/.bosun.lock` for the whole of every `init`:
//!
//! - an advisory file lock (`flock` through [`std::fs::File::lock`]), which also orders
//!   processes — several bosun replicas on one host, or a person running Terraform by hand
//!   who takes the same lock;
//! - in front of it, an in-process async mutex per cache directory, so waiting tasks queue
//!   on the runtime instead of each parking a blocking thread in `flock`.
//!
//! **Scopes.** A pull request's `init` can put providers in the cache it writes (a committed
//! `terraform.d/plugins` is an implied local mirror, a workflow's `init` may add
//! `-plugin-dir`), and Terraform runs what the cache holds. So no cache is shared by code of
//! different trust: every pull request has its own (`pr/<owner>+<name>/pr-<N>`, deleted when
//! the pull request closes) and every repository's default branch — its drift checks — has
//! its own (`default/<owner>+<name>`), all under the plugin cache directory ([`scope`]).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::OwnedMutexGuard;

/// The lock file's name inside the plugin cache.
pub const LOCK_FILE: &str = ".bosun.lock";

/// The cache of pull request `pr` of `repo` (`owner/name`), or of its default branch when
/// `pr` is 0 (drift checks), relative to the plugin cache directory.
pub fn scope(repo: &str, pr: u64) -> PathBuf {
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
    if pr == 0 {
        Path::new("default").join(slug)
    } else {
        Path::new("pr").join(slug).join(format!("pr-{pr}"))
    }
}

/// The in-process mutex of each cache directory.
static TASK_LOCKS: LazyLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Default::default);

/// Held while `init` runs; dropping it releases both locks.
#[derive(Debug)]
pub struct CacheLock {
    _file: File,
    _task: OwnedMutexGuard<()>,
}

/// Takes the exclusive lock on the plugin cache `dir` (created if missing), waiting at most
/// `wait`.
pub async fn lock(dir: &Path, wait: Duration) -> Result<CacheLock> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the plugin cache {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolving the plugin cache {}", dir.display()))?;
    let task_lock = {
        let mut locks = TASK_LOCKS.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(locks.entry(dir.clone()).or_default())
    };
    let path = dir.join(LOCK_FILE);
    let taking = async move {
        let task = task_lock.lock_owned().await;
        let file = tokio::task::spawn_blocking(move || -> Result<File> {
            // The cache was writable by sandboxed runs: never follow a link planted as the lock.
            let file = OpenOptions::new()
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            file.lock()
                .with_context(|| format!("locking {}", path.display()))?;
            Ok(file)
        })
        .await
        .context("plugin cache lock task")??;
        Ok(CacheLock {
            _file: file,
            _task: task,
        })
    };
    tokio::time::timeout(wait, taking).await.with_context(|| {
        format!(
            "waited {} for the plugin cache lock in {}",
            humantime::format_duration(wait),
            dir.display()
        )
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_keep_pull_requests_repos_and_default_branches_apart() {
        assert_eq!(scope("Acme/Infra", 7), Path::new("pr/acme+infra/pr-7"));
        assert_eq!(scope("acme/infra", 0), Path::new("default/acme+infra"));
        assert_ne!(scope("acme/infra", 7), scope("acme/infra", 8));
        assert_ne!(scope("acme/infra", 7), scope("acme/other", 7));
        for odd in ["../..", "a/../b", "..", "a b/c"] {
            let s = scope(odd, 1);
            assert!(
                s.components()
                    .all(|c| matches!(c, std::path::Component::Normal(_))),
                "{odd}: {}",
                s.display()
            );
            assert_eq!(s.components().count(), 3, "{odd}");
        }
    }

    #[tokio::test]
    async fn a_planted_lock_link_is_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        std::fs::create_dir(&cache).unwrap();
        let target = tmp.path().join("created-through-the-link");
        std::os::unix::fs::symlink(&target, cache.join(LOCK_FILE)).unwrap();
        assert!(lock(&cache, Duration::from_secs(5)).await.is_err());
        assert!(!target.exists());
    }
}
