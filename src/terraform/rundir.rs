//! A run directory: bosun's own files for one plan, apply or drift check of one project, kept
//! outside the checkout so nothing a pull request commits can stand in for them.
//!
//! `<runs>/<unique>/` (mode 0700, made fresh, removed when the [`RunDir`] is dropped) holds
//! `home/` (the run's `HOME`), `tf-data/` (`TF_DATA_DIR`: Terraform's `.terraform`, so a
//! committed `.terraform/` — its `environment`, modules, providers — is never used),
//! `terraformrc` (an empty CLI config, used when the operator gives none) and `plan.tfplan`
//! (the planfile). The sandbox binds it writable at its own host path; the host reads and
//! writes in it only through [`beneath`](super::beneath), since a sandboxed step may have
//! planted a symlink there.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

use super::beneath::{self, Unsafe};

/// The planfile's name in a run directory.
pub const PLANFILE: &str = "plan.tfplan";
/// The largest planfile bosun reads back.
pub const MAX_PLANFILE: u64 = 512 << 20;

static NEXT: AtomicU64 = AtomicU64::new(0);

/// One run's directory (see the module docs); removed on drop.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// A fresh run directory under `runs` (created 0700 if missing).
    pub fn create(runs: &Path) -> Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(runs)
            .with_context(|| format!("creating {}", runs.display()))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = runs.join(format!("{}-{nanos}-{n}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => break path,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("creating {}", path.display()));
                }
            }
        };
        let run = Self { path };
        for sub in ["home", "tf-data"] {
            let dir = run.path.join(sub);
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        beneath::create_beneath(&run.path, Path::new("terraformrc"), b"")
            .context("writing the run's empty CLI config")?;
        Ok(run)
    }

    /// The directory itself (what the sandbox binds writable).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The run's `HOME`.
    pub fn home(&self) -> PathBuf {
        self.path.join("home")
    }

    /// The run's `TF_DATA_DIR`.
    pub fn data_dir(&self) -> PathBuf {
        self.path.join("tf-data")
    }

    /// The empty CLI config (`TF_CLI_CONFIG_FILE` when the operator gives none).
    pub fn empty_cli_config(&self) -> PathBuf {
        self.path.join("terraformrc")
    }

    /// Where the planfile is made (`-out`) and applied from (`$PLANFILE`).
    pub fn planfile(&self) -> PathBuf {
        self.path.join(PLANFILE)
    }

    /// Writes a saved plan's bytes as the planfile, which must not exist yet.
    pub fn write_planfile(&self, bytes: &[u8]) -> Result<(), Unsafe> {
        beneath::create_beneath(&self.path, Path::new(PLANFILE), bytes)
    }

    /// The planfile a step made, `None` when there is none: a regular file of at most
    /// [`MAX_PLANFILE`] bytes, never a link.
    pub fn read_planfile(&self) -> Result<Option<Vec<u8>>, Unsafe> {
        beneath::read_beneath(&self.path, Path::new(PLANFILE), MAX_PLANFILE)
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        // `remove_dir_all` does not follow symlinks: what a step planted is removed, never
        // its target.
        if let Err(e) = std::fs::remove_dir_all(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "removing a run directory");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_private_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let runs = tmp.path().join("runs");
        let a = RunDir::create(&runs).unwrap();
        let b = RunDir::create(&runs).unwrap();
        assert_ne!(a.path(), b.path());
        let mode = std::fs::metadata(a.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(a.home().is_dir() && a.data_dir().is_dir());
        assert_eq!(std::fs::read(a.empty_cli_config()).unwrap(), b"");
        assert!(a.read_planfile().unwrap().is_none());
        a.write_planfile(b"plan").unwrap();
        assert_eq!(a.read_planfile().unwrap().as_deref(), Some(&b"plan"[..]));
        let path = a.path().to_owned();
        drop(a);
        assert!(!path.exists());
        assert!(b.path().exists());
    }

    #[test]
    fn a_planted_planfile_link_is_neither_read_nor_written_through() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("target");
        std::fs::write(&target, "host file").unwrap();
        let run = RunDir::create(&tmp.path().join("runs")).unwrap();
        std::os::unix::fs::symlink(&target, run.planfile()).unwrap();
        assert!(matches!(run.read_planfile(), Err(Unsafe::Symlink(_))));
        assert!(run.write_planfile(b"plan").is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "host file");
        drop(run);
        assert!(target.exists());
    }
}
