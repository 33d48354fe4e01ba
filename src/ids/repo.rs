//! A repository: GitHub's id is who it is; its `owner/name` is only how it is shown and
//! called, and changes on a rename or transfer.

/// A repository as GitHub numbers it; stays the same through renames and transfers.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct RepoId(pub u64);

impl std::fmt::Display for RepoId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The key a repository's rows (locks, plans, jobs, runs…) are stored under. The store gives
/// it for a [`RepoId`]; it is not the repository's current name.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct RepoKey(String);

impl RepoKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
impl From<&str> for RepoKey {
    fn from(key: &str) -> Self {
        Self::new(key)
    }
}

impl std::fmt::Display for RepoKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
