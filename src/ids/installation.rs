//! A GitHub App installation, by GitHub's id.

/// An installation of the App on an account, as GitHub numbers it.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct InstallationId(pub u64);

/// Shown as its inner value, as before it had a type: logs, job summaries and snapshots read
/// the same.
impl std::fmt::Debug for InstallationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::fmt::Display for InstallationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}
