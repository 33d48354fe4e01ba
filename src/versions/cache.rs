//! How many downloaded versions stay in `<data_dir>/tools` (`BOSUN_TOOL_CACHE_VERSIONS` per
//! distribution): each use of a version touches its marker, `<data_dir>/tools/.used/<distribution>/<version>`
//! (its modification time is the last use), and after a download the least recently used
//! versions past the bound are removed, never one a run of this process is using: a run holds
//! a [`Lease`] on its version from the moment it is chosen until the run ends. Other replicas
//! have their own data directory, so the count is this process's alone.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::version::Version;

/// The runs of this process using each cached version, by `(distribution, version)`.
#[derive(Debug, Default)]
pub struct Uses(Mutex<HashMap<(String, Version), usize>>);

/// A run's hold on its version: while one is held, the version stays cached.
#[derive(Debug)]
pub struct Lease {
    uses: Arc<Uses>,
    key: (String, Version),
}

impl Uses {
    /// Holds `version` of `distribution` (as its directory under `tools` is named).
    pub fn lease(self: &Arc<Self>, distribution: &str, version: &Version) -> Lease {
        let key = (distribution.to_owned(), version.clone());
        *self.counts().entry(key.clone()).or_default() += 1;
        Lease {
            uses: self.clone(),
            key,
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Version), usize>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Removes the least recently used versions of `distribution` under `root` past `keep`,
    /// except those in use; returns the removed ones. Blocking (file system).
    pub fn evict(&self, root: &Path, distribution: &str, keep: usize) -> Vec<Version> {
        let dir = root.join(distribution);
        let staging = root.join(".tmp");
        let mut doomed = Vec::new();
        let removed = {
            let counts = self.counts();
            let in_use: HashSet<Version> = counts
                .iter()
                .filter(|((d, _), n)| d == distribution && **n > 0)
                .map(|((_, v), _)| v.clone())
                .collect();
            let cached = cached(root, distribution)
                .into_iter()
                .map(|v| {
                    let used = last_use(root, distribution, &v);
                    (v, used)
                })
                .collect();
            let victims = to_evict(cached, &in_use, keep);
            // Each leaves its place at once (a rename, under the count's lock, so no run can
            // choose it meanwhile); the files go afterwards.
            if !victims.is_empty()
                && let Err(e) = std::fs::create_dir_all(&staging)
            {
                tracing::warn!(error = %e, "evicting cached versions");
                return Vec::new();
            }
            let mut removed = Vec::new();
            for v in victims {
                let to = staging.join(format!("evicted-{distribution}-{v}"));
                match std::fs::rename(dir.join(v.to_string()), &to) {
                    Ok(()) => {
                        let _ = std::fs::remove_file(marker(root, distribution, &v));
                        doomed.push(to);
                        removed.push(v);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, version = %v, "evicting a cached version")
                    }
                }
            }
            removed
        };
        for path in doomed {
            if let Err(e) = std::fs::remove_dir_all(&path) {
                tracing::warn!(error = %e, "removing an evicted version");
            }
        }
        removed
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut counts = self.uses.counts();
        if let Some(n) = counts.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// The versions of `distribution` cached under `root` (directories named as versions).
pub fn cached(root: &Path, distribution: &str) -> Vec<Version> {
    let Ok(entries) = std::fs::read_dir(root.join(distribution)) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            Version::parse(&name).filter(|v| v.to_string() == name)
        })
        .collect()
}

fn marker(root: &Path, distribution: &str, v: &Version) -> PathBuf {
    root.join(".used").join(distribution).join(v.to_string())
}

/// Notes that `v` of `distribution` is used now. Blocking; a failure is logged (the version
/// then only looks older than it is).
pub fn touch(root: &Path, distribution: &str, v: &Version) {
    let path = marker(root, distribution, v);
    let touched = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
        })
        .and_then(|f| f.set_modified(SystemTime::now()));
    if let Err(e) = touched {
        tracing::warn!(error = %e, version = %v, "noting the use of a cached version");
    }
}

/// The SHA-256 (hex) of the file at `path`, read in pieces. Blocking.
pub fn sha256(path: &Path) -> std::io::Result<String> {
    use sha2::Digest as _;
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf)? {
            0 => break,
            n => hasher.update(&buf[..n]),
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Digests of cached binaries, each computed once per file (by path, size and modification
/// time) in this process.
#[derive(Debug, Default)]
pub struct Digests(Mutex<HashMap<PathBuf, (u64, SystemTime, String)>>);

impl Digests {
    /// The SHA-256 of the binary at `path`. Blocking.
    pub fn of(&self, path: &Path) -> std::io::Result<String> {
        let meta = std::fs::metadata(path)?;
        let stamp = (meta.len(), meta.modified()?);
        let known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((len, at, digest)) = known.get(path)
            && (*len, *at) == stamp
        {
            return Ok(digest.clone());
        }
        drop(known);
        let digest = sha256(path)?;
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_owned(), (stamp.0, stamp.1, digest.clone()));
        Ok(digest)
    }
}

/// When `v` was last used: its marker's time, else (used before markers) its directory's.
fn last_use(root: &Path, distribution: &str, v: &Version) -> SystemTime {
    std::fs::metadata(marker(root, distribution, v))
        .or_else(|_| std::fs::metadata(root.join(distribution).join(v.to_string())))
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Which of the `cached` versions (with their last use) go so that at most `keep` stay: the
/// least recently used first, never one `in_use` (so more than `keep` may stay while they run).
pub fn to_evict(
    mut cached: Vec<(Version, SystemTime)>,
    in_use: &HashSet<Version>,
    keep: usize,
) -> Vec<Version> {
    let excess = cached.len().saturating_sub(keep);
    // Oldest first; a tie goes by version, the lower first.
    cached.sort_by(|(va, a), (vb, b)| a.cmp(b).then_with(|| va.cmp(vb)));
    cached
        .into_iter()
        .map(|(v, _)| v)
        .filter(|v| !in_use.contains(v))
        .take(excess)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn the_least_recently_used_go_first_and_never_one_in_use() {
        let cached = vec![
            (v("1.5.7"), at(30)),
            (v("1.6.2"), at(10)),
            (v("1.7.0"), at(40)),
            (v("1.8.1"), at(20)),
        ];
        let none = HashSet::new();
        assert_eq!(to_evict(cached.clone(), &none, 4), Vec::<Version>::new());
        assert_eq!(to_evict(cached.clone(), &none, 3), [v("1.6.2")]);
        assert_eq!(to_evict(cached.clone(), &none, 2), [v("1.6.2"), v("1.8.1")]);
        // The oldest is in use: the next oldest goes in its place.
        let busy = HashSet::from([v("1.6.2")]);
        assert_eq!(to_evict(cached.clone(), &busy, 2), [v("1.8.1"), v("1.5.7")]);
        // All in use: more than the bound stays.
        let all: HashSet<Version> = cached.iter().map(|(v, _)| v.clone()).collect();
        assert_eq!(to_evict(cached, &all, 1), Vec::<Version>::new());
    }

    #[test]
    fn eviction_removes_the_directories_and_spares_leased_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for (i, version) in ["1.5.7", "1.6.2", "1.7.0"].iter().enumerate() {
            let dir = root.join("terraform").join(version);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("terraform"), "#!/bin/sh\n").unwrap();
            touch(root, "terraform", &v(version));
            let marker = marker(root, "terraform", &v(version));
            let f = std::fs::File::options().write(true).open(marker).unwrap();
            f.set_modified(at(100 + i as u64)).unwrap();
        }
        // Not a version: left alone.
        std::fs::create_dir_all(root.join("terraform/notes")).unwrap();
        let uses = Arc::new(Uses::default());
        let lease = uses.lease("terraform", &v("1.5.7"));
        assert_eq!(uses.evict(root, "terraform", 2), [v("1.6.2")]);
        let mut left = cached(root, "terraform");
        left.sort();
        assert_eq!(left, [v("1.5.7"), v("1.7.0")]);
        assert!(!marker(root, "terraform", &v("1.6.2")).exists());
        assert!(root.join("terraform/notes").is_dir());
        drop(lease);
        assert_eq!(uses.evict(root, "terraform", 1), [v("1.5.7")]);
        assert_eq!(cached(root, "terraform"), [v("1.7.0")]);
        assert_eq!(
            std::fs::read_dir(root.join(".tmp")).unwrap().count(),
            0,
            "the evicted files are gone"
        );
    }

    #[test]
    fn a_binarys_digest_is_read_once_and_again_when_the_file_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("terraform");
        std::fs::write(&path, b"abc").unwrap();
        let digests = Digests::default();
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(digests.of(&path).unwrap(), abc);
        // Remembered: the same size and time give the digest already read.
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        let at = f.metadata().unwrap().modified().unwrap();
        drop(f);
        std::fs::write(&path, b"xyz").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(at)
            .unwrap();
        assert_eq!(digests.of(&path).unwrap(), abc);
        // Another size: read again.
        std::fs::write(&path, b"abcd").unwrap();
        assert_eq!(digests.of(&path).unwrap(), sha256(&path).unwrap());
        assert_ne!(digests.of(&path).unwrap(), abc);
    }
}
