//! The plans reviewed on pull requests: what apply on merge compares the merge commit's plan
//! with. Kept apart from `plans` (whose row of a project the merge commit's plan replaces),
//! so the comparison is with what people saw, however often the merge is handled.

use crate::ids::RepoKey;
use crate::ids::{PrNumber, Sha};
use async_trait::async_trait;

use super::StoredPlan;

#[async_trait]
pub trait ReviewStore: Send + Sync {
    /// Keeps, as reviewed, the plans of a pull request made at `head_sha` (its final head).
    /// A project already kept is left as it is: the first copy is the reviewed one. Returns
    /// how many were kept now.
    async fn keep_reviewed_plans(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
        head_sha: &Sha,
    ) -> anyhow::Result<u64>;

    /// The reviewed plans of a pull request (without planfiles), by dir, workspace, then name.
    async fn reviewed_plans(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
    ) -> anyhow::Result<Vec<StoredPlan>>;

    /// Forgets a pull request's reviewed plans; returns how many there were.
    async fn delete_reviewed_plans(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
    ) -> anyhow::Result<u64>;
}
