//! Identities as types: what names a repository, a commit, a pull request, an installation
//! and a project, so that passing one where another is meant (a dir for a workspace, a
//! display name for a key, a PR number for an installation id) does not compile.
//!
//! Each is a newtype serialised as its inner value (`serde(transparent)`), so the job
//! payloads and rows stored before these types read back unchanged.
//!
//! The store takes a repository's key, never its name:
//!
//! ```
//! # async fn f(store: &dyn bosun::store::Store) -> anyhow::Result<()> {
//! use bosun::ids::RepoKey;
//! store.locks_of_repo(&RepoKey::new("acme/infra")).await?;
//! # Ok(()) }
//! ```
//!
//! ```compile_fail
//! # async fn f(store: &dyn bosun::store::Store) -> anyhow::Result<()> {
//! store.locks_of_repo("acme/infra").await?;
//! # Ok(()) }
//! ```
//!
//! and a pull request's number is not an installation's id:
//!
//! ```compile_fail
//! # async fn f(store: &dyn bosun::store::Store) -> anyhow::Result<()> {
//! use bosun::ids::{InstallationId, RepoKey};
//! store.locks_of_pr(&RepoKey::new("acme/infra"), InstallationId(7)).await?;
//! # Ok(()) }
//! ```

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
