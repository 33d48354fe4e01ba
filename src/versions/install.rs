//! Downloaded binaries, cached under `<data_dir>/tools/<distribution>/<version>/<program>`
//! (never in a checkout). A version is put there whole or not at all: its files are fetched
//! into a fresh directory under `<data_dir>/tools/.tmp`, the `SHA256SUMS` signature and the
//! zip's SHA-256 checked, the one member named as the program taken out of the zip (bounded;
//! no other member, so no path in the zip is ever written), and the directory renamed into
//! place. Jobs of one process wanting the same version wait for one download; a directory
//! another process put there first wins, and the loser's is removed.

use std::collections::HashMap;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::Digest as _;

use super::fetch::{FetchError, Fetcher};
use super::source::Source;
use super::sums;
use super::version::Version;

/// Largest release archive fetched.
const ZIP_CAP: usize = 512 << 20;
/// Largest binary taken out of it.
const BINARY_CAP: u64 = 1 << 30;
/// Largest `SHA256SUMS`, signature or index.
const SMALL_CAP: usize = 1 << 20;
pub const INDEX_CAP: usize = 64 << 20;
const SMALL_TIMEOUT: Duration = Duration::from_secs(60);
const ZIP_TIMEOUT: Duration = Duration::from_secs(15 * 60);

#[derive(Debug)]
pub struct Installer {
    root: PathBuf,
    fetcher: Fetcher,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Installer {
    /// Binaries cached under `root` (`<data_dir>/tools`). Downloads a process left unfinished
    /// (it crashed) are removed: no download is under way before it starts.
    pub fn new(root: PathBuf, fetcher: Fetcher) -> Self {
        match std::fs::remove_dir_all(root.join(".tmp")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(error = %e, "removing unfinished downloads");
            }
            _ => {}
        }
        Self {
            root,
            fetcher,
            locks: Mutex::new(HashMap::new()),
        }
    }

    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// Where the binaries are cached (`<data_dir>/tools`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The cached binary of `v`, if it is there.
    pub fn cached(&self, source: &Source, v: &Version) -> Option<PathBuf> {
        let path = self.dir(source, v).join(source.program());
        path.is_file().then_some(path)
    }

    /// The directory of `source`'s version `v`.
    fn dir(&self, source: &Source, v: &Version) -> PathBuf {
        self.root
            .join(source.distribution.to_string())
            .join(v.to_string())
    }

    /// The cached binary of `v`, downloaded and checked first when it is not there; `Err`
    /// says why it cannot be had (for a comment: no URL, no secret).
    pub async fn binary(&self, source: &Source, v: &Version) -> Result<PathBuf, String> {
        let dir = self.dir(source, v);
        let path = dir.join(source.program());
        if path.is_file() {
            return Ok(path);
        }
        let lock = {
            let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(format!("{}/{v}", source.distribution))
                .or_default()
                .clone()
        };
        let _held = lock.lock().await;
        if path.is_file() {
            return Ok(path);
        }
        let staged = self.download(source, v).await?;
        let tmp = staged.path().to_owned();
        let parent = dir.parent().unwrap_or(&self.root).to_owned();
        let placed = tokio::task::spawn_blocking(move || place(&tmp, &parent, &dir))
            .await
            .map_err(|_| "placing the binary failed".to_owned())?;
        drop(staged);
        placed?;
        if path.is_file() {
            Ok(path)
        } else {
            Err("the cached copy has no binary".into())
        }
    }

    /// The files of `v` fetched and checked, the binary in a fresh temporary directory.
    async fn download(&self, source: &Source, v: &Version) -> Result<tempfile::TempDir, String> {
        let get = |file: String, cap: usize, timeout: Duration| async move {
            self.fetcher
                .get(&source.url(v, &file), cap, timeout)
                .await
                .map_err(|e| match e {
                    FetchError::NotFound => format!("{file} was not found at the download source"),
                    FetchError::Other(why) => format!("{file}: {why}"),
                })
        };
        let sums_file = source.sums_name(v);
        let sums = get(sums_file.clone(), SMALL_CAP, SMALL_TIMEOUT).await?;
        let signature = get(source.signature_name(v), SMALL_CAP, SMALL_TIMEOUT).await?;
        source
            .key
            .verify(&sums, &signature)
            .map_err(|e| format!("bad signature on {sums_file}: {e}"))?;
        let zip_file = source.zip_name(v);
        let want = sums::digest_of(&sums, &zip_file)?;
        let zip = get(zip_file.clone(), ZIP_CAP, ZIP_TIMEOUT).await?;
        let have: [u8; 32] = sha2::Sha256::digest(&zip).into();
        if have != want {
            return Err(format!(
                "checksum mismatch: {zip_file} has SHA-256 {}, but the signed {sums_file} says {}",
                hex::encode(have),
                hex::encode(want)
            ));
        }
        let program = source.program();
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || unpack(&root, &zip, program))
            .await
            .map_err(|_| "unpacking the binary failed".to_owned())?
    }
}

/// The member `program` of `zip`, written as `program` (mode 0755) in a new directory under
/// `<root>/.tmp`.
fn unpack(root: &Path, zip: &[u8], program: &str) -> Result<tempfile::TempDir, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip))
        .map_err(|e| format!("the archive does not read: {e}"))?;
    let mut member = archive
        .by_name(program)
        .map_err(|_| format!("the archive holds no `{program}`"))?;
    if !member.is_file() {
        return Err(format!("`{program}` in the archive is not a file"));
    }
    let mut bytes = Vec::new();
    (&mut member)
        .take(BINARY_CAP + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("`{program}` in the archive does not read: {e}"))?;
    if bytes.len() as u64 > BINARY_CAP {
        return Err(format!(
            "`{program}` in the archive is larger than {BINARY_CAP} bytes"
        ));
    }
    let io = |e: std::io::Error| format!("writing the binary under bosun's data directory: {e}");
    let staging = root.join(".tmp");
    std::fs::create_dir_all(&staging).map_err(io)?;
    let dir = tempfile::Builder::new()
        .prefix("download-")
        .tempdir_in(&staging)
        .map_err(io)?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).map_err(io)?;
    let path = dir.path().join(program);
    std::fs::write(&path, &bytes).map_err(io)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
    Ok(dir)
}

/// Renames the checked directory `tmp` to `dir` (under `parent`); `dir` already there (another
/// process was first) is kept.
fn place(tmp: &Path, parent: &Path, dir: &Path) -> Result<(), String> {
    let io = |e: std::io::Error| format!("caching the binary under bosun's data directory: {e}");
    std::fs::create_dir_all(parent).map_err(io)?;
    for d in [parent, parent.parent().unwrap_or(parent)] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
    }
    match std::fs::rename(tmp, dir) {
        Ok(()) => Ok(()),
        Err(_) if dir.is_dir() => Ok(()),
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    pub(crate) fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut out);
        for (name, bytes) in members {
            w.start_file(
                *name,
                zip::write::SimpleFileOptions::default().unix_permissions(0o755),
            )
            .unwrap();
            w.write_all(bytes).unwrap();
        }
        w.finish().unwrap();
        out.into_inner()
    }

    #[test]
    fn only_the_program_is_taken_from_the_archive() {
        let tmp = tempfile::tempdir().unwrap();
        let zip = zip_of(&[
            ("../../evil", b"no"),
            ("LICENSE.txt", b"text"),
            ("terraform", b"#!/bin/sh\necho hi\n"),
        ]);
        let dir = unpack(tmp.path(), &zip, "terraform").unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["terraform"]);
        let mode = std::fs::metadata(dir.path().join("terraform"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert!(!tmp.path().join("evil").exists());
        let err = unpack(tmp.path(), &zip_of(&[("bin/terraform", b"x")]), "terraform").unwrap_err();
        assert_eq!(err, "the archive holds no `terraform`");
        assert!(unpack(tmp.path(), b"not a zip", "terraform").is_err());
    }

    #[test]
    fn a_version_placed_first_by_another_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let parent = tmp.path().join("tools/terraform");
        let first = unpack(tmp.path(), &zip_of(&[("terraform", b"first")]), "terraform").unwrap();
        let second = unpack(
            tmp.path(),
            &zip_of(&[("terraform", b"second")]),
            "terraform",
        )
        .unwrap();
        let dir = parent.join("1.9.3");
        place(first.path(), &parent, &dir).unwrap();
        place(second.path(), &parent, &dir).unwrap();
        assert_eq!(std::fs::read(dir.join("terraform")).unwrap(), b"first");
    }
}
