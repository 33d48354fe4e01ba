//! Identities as types: what names a repository, a commit, a pull request, an installation
//! and a project, so that passing one where another is meant (a dir for a workspace, a
//! display name for a key, a PR number for an installation id) does not compile.
//!
//! Each is a newtype serialised as its inner value (`serde(transparent)`), so the job
//! payloads and rows stored before these types read back unchanged.

mod commit;
mod installation;
mod project;
mod pull;
mod repo;

pub use commit::Sha;
pub use installation::InstallationId;
pub use project::{Dir, Workspace};
pub use pull::PrNumber;
pub use repo::{RepoId, RepoKey};
