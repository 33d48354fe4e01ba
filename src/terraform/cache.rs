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

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::OwnedMutexGuard;

/// The lock file's name inside the plugin cache.
pub const LOCK_FILE: &str = ".bosun.lock";

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
            let file = OpenOptions::new()
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
