//! Where a pull request's policy comes from. Policy keys (`apply_requirements`,
//! `apply_on_merge`, `automerge`, the workflows and which project runs which) are read from
//! the base branch's repo config, the project layout from the pull request's: a pull request
//! that changes policy keys gets them only once merged.
//!
//! Which base: for an open pull request, the base branch's current head as just fetched (the
//! policy in force now; a tightened policy holds at once for pull requests opened before it,
//! which GitHub's `base.sha`, recorded when the pull request last changed, would miss). For a
//! merged one the base branch's head already holds the merge, so the merge commit's first
//! parent: the base branch as it was just before the merge (for merge commits and squash
//! merges; a rebase merge's first parent is the pull request's own next-to-last commit).

use crate::ids::Sha;
use tracing::Instrument as _;

use super::Context;
use super::job::PrRef;
use crate::config::repo::{ConfigError, RepoConfig};

/// The base branch's config, as policy reads it.
pub(super) struct BasePolicy {
    /// `Ok(None)`: the base has no repo config. `Err`: it has one that is not valid.
    pub config: Result<Option<RepoConfig>, ConfigError>,
}

impl BasePolicy {
    /// The config, when it is valid (else `None`, like no config: callers that apply check
    /// [`BasePolicy::config`] first).
    pub fn valid(&self) -> Option<&RepoConfig> {
        self.config.as_ref().ok().and_then(Option::as_ref)
    }
}

/// The commit whose config supplies `pr`'s policy (fetched already; see the module's doc).
pub(super) async fn base_sha(
    ctx: &Context,
    repo: &str,
    pr: &PrRef,
    merged: bool,
) -> anyhow::Result<Sha> {
    let span = tracing::debug_span!("base sha");
    let sha = if merged {
        // `pr.head_sha` of a merged pull request is its merge commit (`PrRef::of`).
        ctx.workspaces
            .first_parent(repo, &pr.head_sha)
            .instrument(span)
            .await?
    } else {
        ctx.workspaces
            .branch_head(repo, &pr.base_ref)
            .instrument(span)
            .await?
    };
    Ok(sha)
}

/// The base branch's config for `pr` (fetched already).
pub(super) async fn read(
    ctx: &Context,
    repo: &str,
    pr: &PrRef,
    merged: bool,
) -> anyhow::Result<BasePolicy> {
    let sha = base_sha(ctx, repo, pr, merged).await?;
    let config = super::plan::read_config(ctx, (repo, &pr.base_ref), &sha)
        .await?
        .transpose();
    Ok(BasePolicy { config })
}
