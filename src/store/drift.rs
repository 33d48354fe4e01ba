//! The store's history of drift runs: each run of a repository (who started it, at which
//! commit), every project's result once it ends, the last known status of each project (what a
//! new run is compared with, and what the metrics show at start), and the number of the
//! repository's drift issue.

use crate::ids::RepoKey;
use crate::ids::Sha;
use async_trait::async_trait;

use super::Millis;
use crate::drift::{DriftStatus, ProjectDrift, Trigger};
use crate::plan::Target;

/// A drift run as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftRun {
    pub id: i64,
    /// The key of its repository in the store.
    pub repository: RepoKey,
    /// The default branch's head that was planned.
    pub sha: Sha,
    pub trigger: Trigger,
    pub started_at: Millis,
    /// `None` while it runs (or when bosun stopped during it).
    pub finished_at: Option<Millis>,
    /// One line, e.g. "1 drifted, 2 in sync, 1 skipped"; empty while it runs.
    pub summary: String,
    /// Every project's result, in (dir, workspace, name) order; empty while it runs.
    pub projects: Vec<ProjectDrift>,
}

/// The most of a project's `detail` the store keeps, in bytes: a plan's text can be large, and
/// its end (the summary, the error) matters most.
pub const MAX_DETAIL_BYTES: usize = 64 << 10;

/// `detail` as stored: whole when it fits in [`MAX_DETAIL_BYTES`], else a note that it was cut
/// followed by its end, cut on a char boundary, the whole within the limit.
pub fn stored_detail(detail: &str) -> std::borrow::Cow<'_, str> {
    if detail.len() <= MAX_DETAIL_BYTES {
        return detail.into();
    }
    // The note's length depends on the number in it; 20 digits is the most a usize needs.
    let note_room = "[bosun: the first  bytes are cut]\n".len() + 20;
    let mut start = detail.len() - (MAX_DETAIL_BYTES - note_room);
    while !detail.is_char_boundary(start) {
        start += 1;
    }
    let tail = detail.get(start..).unwrap_or_default();
    format!("[bosun: the first {start} bytes are cut]\n{tail}").into()
}

/// The summary of a drift run cut off by a stop.
pub const INTERRUPTED: &str = "interrupted: bosun stopped during this run";

#[async_trait]
pub trait DriftStore: Send + Sync {
    /// Records that a drift run of `repository` at `sha` started; returns its id. A run of the
    /// repo still open (bosun stopped during it) is closed, its summary [`INTERRUPTED`].
    async fn start_drift_run(
        &self,
        repository: &RepoKey,
        sha: &Sha,
        trigger: Trigger,
        now: Millis,
    ) -> anyhow::Result<i64>;

    /// Records a run's end: every project's result and the summary, in one transaction. A
    /// `detail` is kept up to [`MAX_DETAIL_BYTES`] ([`stored_detail`]). Fails for an unknown id;
    /// finishing a run again replaces its results.
    async fn finish_drift_run(
        &self,
        id: i64,
        projects: &[ProjectDrift],
        summary: &str,
        now: Millis,
    ) -> anyhow::Result<()>;

    /// The latest `limit` runs of a repository, newest first, with their projects.
    async fn drift_runs(&self, repository: &RepoKey, limit: u32) -> anyhow::Result<Vec<DriftRun>>;

    /// The last known status of each project of `repository` (a project being its dir,
    /// workspace and name): its latest result other than Skipped, over finished runs; in
    /// (dir, workspace, name) order.
    async fn known_drift(&self, repository: &RepoKey)
    -> anyhow::Result<Vec<(Target, DriftStatus)>>;

    /// The same for every repository (to set the metrics at start): (repository, target,
    /// status), by repository then project.
    async fn known_drift_all(&self) -> anyhow::Result<Vec<(String, Target, DriftStatus)>>;

    /// The number of the repo's drift issue, once bosun opened or found one.
    async fn drift_issue(&self, repository: &RepoKey) -> anyhow::Result<Option<u64>>;

    /// Records (or replaces) the number of the repo's drift issue.
    async fn set_drift_issue(&self, repository: &RepoKey, number: u64) -> anyhow::Result<()>;
}

#[cfg(test)]
mod tests;
