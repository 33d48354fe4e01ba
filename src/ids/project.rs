//! The parts of a project's identity: the directory inside the repository and the Terraform
//! workspace. (The name is the repo config's, an `Option<String>`; see `projects::Target`.)

/// A directory inside the repository, normalised (`.` for the root), as
/// [`crate::names::repo_dir`] makes it.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Dir(String);

impl Dir {
    pub fn new(dir: impl Into<String>) -> Self {
        Self(dir.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Dir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Terraform workspace name (`default` when none is given).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Workspace(String);

impl Workspace {
    pub fn new(ws: impl Into<String>) -> Self {
        Self(ws.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
