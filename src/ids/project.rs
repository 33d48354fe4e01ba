//! The parts of a project's identity: the directory inside the repository and the Terraform
//! workspace. (The name is the repo config's, an `Option<String>`; see `projects::Target`.)
//!
//! A project is its dir and workspace in that order:
//!
//! ```
//! use bosun::ids::{Dir, Workspace};
//! let t = bosun::projects::Target { dir: Dir::root(), workspace: Workspace::default(), name: None };
//! assert_eq!(t.display_name(), ".");
//! ```
//!
//! and the two swapped do not compile:
//!
//! ```compile_fail
//! use bosun::ids::{Dir, Workspace};
//! let t = bosun::projects::Target { dir: Workspace::default(), workspace: Dir::root(), name: None };
//! ```

/// A directory inside the repository, normalised (`.` for the root), as
/// [`crate::names::repo_dir`] makes it.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Dir(String);

impl Dir {
    /// A dir already normalised: read back from the store or a payload bosun wrote, or made
    /// by [`crate::names::repo_dir`]. Anything else goes through [`Dir::parse`].
    pub fn new(dir: impl Into<String>) -> Self {
        Self(dir.into())
    }

    /// `dir` normalised by [`crate::names::repo_dir`] (`./a/../b/` → `b`); the error says
    /// what is wrong with it.
    pub fn parse(dir: &str) -> Result<Self, &'static str> {
        crate::names::repo_dir(dir).map(Self)
    }

    /// The repository's root, `.`.
    pub fn root() -> Self {
        Self(".".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for Dir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Dir {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Dir {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// A Terraform workspace name (`default` when none is given).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Workspace(String);

impl Workspace {
    /// Terraform's own workspace, the one a project is on when none is given.
    pub const DEFAULT: &'static str = "default";

    /// A name already checked: read back from the store or a payload bosun wrote, or checked
    /// by [`crate::names::workspace_name`]. Anything else goes through [`Workspace::parse`].
    pub fn new(ws: impl Into<String>) -> Self {
        Self(ws.into())
    }

    /// `ws` checked by [`crate::names::workspace_name`]; empty is `default`, as in Atlantis.
    /// The error says what is wrong with it.
    pub fn parse(ws: &str) -> Result<Self, &'static str> {
        crate::names::workspace_name(ws)?;
        Ok(if ws.is_empty() {
            Self::default()
        } else {
            Self(ws.into())
        })
    }

    /// Whether this is Terraform's `default` workspace.
    pub fn is_default(&self) -> bool {
        self.0 == Self::DEFAULT
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Terraform's `default` workspace.
impl Default for Workspace {
    fn default() -> Self {
        Self(Self::DEFAULT.into())
    }
}

impl std::fmt::Display for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Workspace {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Workspace {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// In unit tests a literal is a dir (tests write their dirs normalised).
#[cfg(test)]
impl From<&str> for Dir {
    fn from(dir: &str) -> Self {
        Self(dir.into())
    }
}

/// In unit tests a literal is a workspace.
#[cfg(test)]
impl From<&str> for Workspace {
    fn from(ws: &str) -> Self {
        Self(ws.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirs_parse_normalised() {
        assert_eq!(Dir::parse("./a/../b/").unwrap(), "b");
        assert_eq!(Dir::parse("./").unwrap(), Dir::root());
        assert_eq!(Dir::parse("a/../..").unwrap_err(), "leaves the repository");
    }

    #[test]
    fn workspaces_parse_checked_and_empty_is_default() {
        assert_eq!(Workspace::parse("").unwrap(), Workspace::default());
        assert!(Workspace::parse("default").unwrap().is_default());
        assert_eq!(Workspace::parse("prod").unwrap(), "prod");
        assert_eq!(Workspace::parse("a/b").unwrap_err(), "contains `/` or `\\`");
    }

    #[test]
    fn both_serialise_as_their_text() {
        let json = serde_json::to_string(&(Dir::new("a/b"), Workspace::default())).unwrap();
        assert_eq!(json, r#"["a/b","default"]"#);
        let back: (Dir, Workspace) = serde_json::from_str(&json).unwrap();
        assert_eq!(back, (Dir::new("a/b"), Workspace::default()));
    }
}
