//! Files read from the mirror, remembered: what a commit holds never changes, so a file read
//! at a commit (or found missing there) is not asked of git again. A plan reads its repo
//! config several times (the head's, the base's for policy, each project's workflow and
//! version), each a git process or two without this. Bounded in entries and bytes; past
//! either bound the cache starts over.

use std::collections::HashMap;
use std::sync::Mutex;

/// Entries kept at most.
const MAX_ENTRIES: usize = 4096;
/// Bytes of text kept at most.
const MAX_BYTES: usize = 32 * 1024 * 1024;

/// What reading one path at one commit gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileRead {
    /// The commit has no such path.
    Missing,
    Text(String),
    /// Why the path cannot be read as text (see `UnusableFile`).
    Unusable(String),
}

#[derive(Debug, Default)]
pub(crate) struct FileCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// By repository, commit and path.
    files: HashMap<(String, String, String), FileRead>,
    bytes: usize,
}

impl FileCache {
    pub(crate) fn get(&self, repo: &str, sha: &str, path: &str) -> Option<FileRead> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let key = (repo.to_owned(), sha.to_owned(), path.to_owned());
        inner.files.get(&key).cloned()
    }

    pub(crate) fn put(&self, repo: &str, sha: &str, path: &str, read: FileRead) {
        let size = match &read {
            FileRead::Text(text) => text.len(),
            FileRead::Missing | FileRead::Unusable(_) => 0,
        };
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.files.len() >= MAX_ENTRIES || inner.bytes + size > MAX_BYTES {
            inner.files.clear();
            inner.bytes = 0;
        }
        let key = (repo.to_owned(), sha.to_owned(), path.to_owned());
        if let Some(FileRead::Text(old)) = inner.files.insert(key, read) {
            inner.bytes -= old.len();
        }
        inner.bytes += size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_reads_by_repo_commit_and_path_and_starts_over_past_its_bounds() {
        let cache = FileCache::default();
        cache.put("o/r", "a", "x", FileRead::Text("1".into()));
        cache.put("o/r", "a", "y", FileRead::Missing);
        assert_eq!(cache.get("o/r", "a", "x"), Some(FileRead::Text("1".into())));
        assert_eq!(cache.get("o/r", "a", "y"), Some(FileRead::Missing));
        assert_eq!(cache.get("o/r", "b", "x"), None);
        assert_eq!(cache.get("o/other", "a", "x"), None);
        let big = "z".repeat(MAX_BYTES);
        cache.put("o/r", "c", "big", FileRead::Text(big));
        // Over the byte bound: the earlier entries went.
        assert_eq!(cache.get("o/r", "a", "x"), None);
        assert!(cache.get("o/r", "c", "big").is_some());
        for i in 0..MAX_ENTRIES + 1 {
            cache.put("o/r", "d", &i.to_string(), FileRead::Missing);
        }
        assert!(cache.inner.lock().unwrap().files.len() <= MAX_ENTRIES);
        assert!(cache.inner.lock().unwrap().bytes < MAX_BYTES);
    }
}
