//! Where `bosun setup` keeps what GitHub gives back: three files, mode 0600, in a directory
//! the operator names. An existing file is never overwritten and a symlink is never followed.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The App's numeric id.
pub const APP_ID: &str = "app-id";
/// The App's RSA private key, PEM.
pub const KEY: &str = "app.pem";
/// The webhook secret, one line (the format of `BOSUN_GITHUB_WEBHOOK_SECRET_FILE`).
pub const WEBHOOK_SECRET: &str = "webhook-secret";

const ALL: [&str; 3] = [APP_ID, KEY, WEBHOOK_SECRET];

/// The output directory, absolute, checked before anything is created on GitHub: made
/// (mode 0700) when missing, refused when it is a symlink or not a directory, or when one of
/// the files is already there.
#[derive(Debug, Clone)]
pub struct OutDir(PathBuf);

impl OutDir {
    pub fn prepare(dir: &Path) -> anyhow::Result<Self> {
        let dir = if dir.is_absolute() {
            dir.to_owned()
        } else {
            std::env::current_dir()
                .context("reading the current directory")?
                .join(dir)
        };
        match std::fs::symlink_metadata(&dir) {
            Ok(meta) if meta.file_type().is_symlink() => {
                anyhow::bail!(
                    "--out {}: is a symlink; give the directory itself",
                    dir.display()
                )
            }
            Ok(meta) if !meta.is_dir() => {
                anyhow::bail!("--out {}: is not a directory", dir.display())
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .with_context(|| format!("--out {}: cannot create it", dir.display()))?,
            Err(e) => {
                return Err(e).with_context(|| format!("--out {}: cannot read it", dir.display()));
            }
        }
        let out = Self(dir);
        for name in ALL {
            let path = out.path(name);
            match std::fs::symlink_metadata(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Ok(_) => anyhow::bail!(
                    "{} already exists: bosun setup never overwrites a file (move it away or \
                     choose another --out)",
                    path.display()
                ),
                Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
            }
        }
        Ok(out)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `contents` to the new file `name`, mode 0600; refuses an existing file or a
    /// symlink in its place.
    pub fn write_new(&self, name: &str, contents: &[u8]) -> anyhow::Result<PathBuf> {
        let path = self.path(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .with_context(|| format!("creating {} (never overwritten)", path.display()))?;
        // The umask may only have taken bits away; make it exactly 0600.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_0600_and_never_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let out = OutDir::prepare(&tmp.path().join("new/dir")).unwrap();
        let meta = std::fs::metadata(tmp.path().join("new/dir")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        let p = out.write_new(KEY, b"key").unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(out.write_new(KEY, b"other").is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"key");
        let again = OutDir::prepare(&tmp.path().join("new/dir")).unwrap_err();
        assert!(again.to_string().contains("already exists"), "{again}");
    }

    #[test]
    fn symlinks_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = OutDir::prepare(&link).unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");

        let out = OutDir::prepare(&real).unwrap();
        let target = tmp.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, real.join(WEBHOOK_SECRET)).unwrap();
        assert!(out.write_new(WEBHOOK_SECRET, b"s").is_err());
        assert!(!target.exists(), "the symlink was followed");
        assert!(OutDir::prepare(&real).is_err());
    }
}
