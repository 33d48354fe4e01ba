//! The store's job queue, plans and summary comments: what the dispatcher writes and the job
//! worker and workflows read and write.

use crate::ids::RepoKey;
use crate::ids::{InstallationId, PrNumber, Sha};
use async_trait::async_trait;
use std::time::Duration;

use super::Millis;
use crate::config::repo::Distribution;
use crate::plan::{Outcome, Target};
use crate::versions::{Pinned, Version};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Running,
    Done,
    Failed,
    /// A newer job for the same pull request made it pointless before it ran.
    Superseded,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "done" => Self::Done,
            "superseded" => Self::Superseded,
            _ => Self::Failed,
        }
    }
}

/// A job to enqueue. `source` makes enqueueing idempotent: a delivery processed twice makes
/// its jobs once.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub source: String,
    pub kind: String,
    /// The key of its repository in the store.
    pub repository: RepoKey,
    pub installation_id: InstallationId,
    pub pr: PrNumber,
    pub priority: i64,
    /// JSON: the workflow's own description of the job.
    pub spec: String,
    pub created_at: Millis,
    /// Queued jobs of this kind for the same pull request become superseded by this one.
    pub supersedes_kind: Option<String>,
}

/// One claim of a job: the fencing token its worker shows with every write. A job claimed
/// again (its lease ran out, or bosun restarted) gets a new token, and writes under the old
/// one are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub job_id: i64,
    pub token: i64,
}

/// A job as the store keeps it.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    /// The key of its repository in the store.
    pub repository: RepoKey,
    pub installation_id: InstallationId,
    pub pr: PrNumber,
    pub spec: String,
    pub status: JobStatus,
    pub attempts: u32,
    pub summary: Option<String>,
    /// The token of its latest claim (0 before any).
    pub claim: i64,
}

impl Job {
    /// The claim this copy of the job was taken under.
    pub fn claim(&self) -> Claim {
        Claim {
            job_id: self.id,
            token: self.claim,
        }
    }
}

/// What a restart did with the jobs the last process was running.
#[derive(Debug, Clone, Default)]
pub struct Requeued {
    pub requeued: u64,
    /// Jobs past their attempts, now failed.
    pub failed: Vec<Job>,
}

/// The latest plan of one project of a pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPlan {
    /// The key of its repository in the store.
    pub repository: RepoKey,
    pub pr: PrNumber,
    pub target: Target,
    pub head_sha: Sha,
    pub outcome: Outcome,
    /// Terraform's planfile, for apply; `None` when the plan failed, once it was applied, or
    /// when the stored one does not open. Sealed at rest (see [`crate::store::seal`]).
    pub planfile: Option<Vec<u8>>,
    pub job_id: i64,
    pub created_at: Millis,
    /// The Terraform or OpenTofu the plan ran, when its project asked for a version or a
    /// distribution: its apply runs exactly that one. `None`: the server's binary, nothing
    /// being asked, or a plan stored before bosun recorded it (its apply chooses again).
    pub tool: Option<Pinned>,
}

/// A plan's recorded tool from its columns (distribution and version NULL: none).
pub(super) fn tool_of(
    distribution: Option<String>,
    version: Option<String>,
    sha256: Option<String>,
) -> anyhow::Result<Option<Pinned>> {
    match (distribution, version) {
        (Some(d), Some(v)) => {
            let distribution = Distribution::parse(&d)
                .ok_or_else(|| anyhow::anyhow!("a stored plan's tool distribution `{d}`"))?;
            let version = Version::parse(&v)
                .ok_or_else(|| anyhow::anyhow!("a stored plan's tool version `{v}`"))?;
            Ok(Some(Pinned {
                distribution,
                version,
                sha256,
            }))
        }
        _ => Ok(None),
    }
}

/// One of bosun's summary comments on a pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrComment {
    pub part: u32,
    pub comment_id: u64,
    pub node_id: String,
}

/// bosun's summary comments on a pull request, and whether a post of one may have been lost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrComments {
    /// By part.
    pub comments: Vec<PrComment>,
    /// A post began ([`JobStore::begin_pr_comment`]) and its comment was never recorded: its
    /// replica died between the two, so a comment of bosun's may be on the pull request
    /// without its id being known here.
    pub interrupted: bool,
}

/// The part a post's mark is stored as: real parts count from 1.
pub(super) const POSTING_MARK: i64 = 0;

impl PrComments {
    /// From the stored rows `(part, comment_id, node_id)` in part order.
    pub(super) fn from_rows(rows: Vec<(i64, i64, String)>) -> Self {
        let mut out = PrComments::default();
        for (part, comment_id, node_id) in rows {
            if part == POSTING_MARK {
                out.interrupted = true;
            } else {
                out.comments.push(PrComment {
                    part: part as u32,
                    comment_id: comment_id as u64,
                    node_id,
                });
            }
        }
        out
    }
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Enqueues jobs (those whose `source` is already known are skipped, so a delivery
    /// processed again makes no new jobs). Returns the ids of the new jobs.
    async fn enqueue_jobs(&self, jobs: &[NewJob]) -> anyhow::Result<Vec<i64>>;

    /// Claims the highest-priority, oldest queued job (or one whose lease ran out) of a pull
    /// request with no other job running: jobs of one pull request run one at a time, in order.
    /// A job put back by `retry_job` waits for its time, and the later jobs of its pull
    /// request wait with it.
    async fn claim_job(&self, now: Millis, lease: Duration) -> anyhow::Result<Option<Job>>;

    /// Extends a running job's lease. Returns false when `claim` is no longer the job's
    /// current claim (another worker took it over): the caller lost the job.
    async fn renew_job(&self, claim: Claim, until: Millis) -> anyhow::Result<bool>;

    /// Records how a job ended. Returns false (and writes nothing) when `claim` is no longer
    /// the job's current claim.
    async fn finish_job(
        &self,
        claim: Claim,
        status: JobStatus,
        summary: &str,
        now: Millis,
    ) -> anyhow::Result<bool>;

    /// Puts a running job back in the queue after a transient failure, to be claimed again
    /// from `not_before` on, with `summary` saying why. Returns false (and writes nothing)
    /// when `claim` is no longer the job's current claim.
    async fn retry_job(
        &self,
        claim: Claim,
        summary: &str,
        not_before: Millis,
    ) -> anyhow::Result<bool>;

    /// Gives a running job back to the queue untouched, as if never claimed, for any worker
    /// to claim at once: the shutdown of a worker that stopped it before it changed anything
    /// (a plan). The attempt it used is given back. Returns false (and writes nothing) when
    /// `claim` is no longer the job's current claim.
    async fn release_job(&self, claim: Claim) -> anyhow::Result<bool>;

    /// Puts jobs a crashed process was running back in the queue, except those already
    /// claimed `max_attempts` times: each of those claims ended with bosun stopping, so the job
    /// is failed instead of crashing it again. Returns how many were requeued and the jobs
    /// failed so. SQLite (one replica) takes every running job, as none can be another
    /// process's; PostgreSQL (replicas) only those whose lease ran out before `now`: a live
    /// lease is another replica's work.
    async fn requeue_running_jobs(
        &self,
        max_attempts: u32,
        now: Millis,
    ) -> anyhow::Result<Requeued>;

    async fn job(&self, id: i64) -> anyhow::Result<Option<Job>>;

    /// Every job of a pull request, oldest first.
    async fn jobs_of_pr(&self, repository: &RepoKey, pr: PrNumber) -> anyhow::Result<Vec<Job>>;

    /// Jobs queued or running.
    async fn open_jobs(&self) -> anyhow::Result<i64>;

    /// Jobs queued or running, the oldest first, at most `limit` (for the overview page).
    async fn open_job_list(&self, limit: u32) -> anyhow::Result<Vec<Job>>;

    /// A repository's latest jobs, the newest first, at most `limit` (for its page).
    async fn recent_jobs(&self, repository: &RepoKey, limit: u32) -> anyhow::Result<Vec<Job>>;

    /// Records a project's latest plan, replacing the previous one of the same project: its
    /// dir, workspace and name (two named projects on one dir and workspace have a plan each).
    async fn record_plan(&self, plan: &StoredPlan) -> anyhow::Result<()>;

    /// The latest plan of every project of a pull request, by dir, workspace, then name.
    async fn plans_of_pr(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
    ) -> anyhow::Result<Vec<StoredPlan>>;

    /// Drops the planfile of a project's plan (`target`: dir, workspace and name) made at
    /// `head_sha` (after it was applied): the plan's outcome stays for feedback. Returns
    /// whether there was one.
    async fn forget_planfile(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
        target: &Target,
        head_sha: &Sha,
    ) -> anyhow::Result<bool>;

    /// Deletes a pull request's plans; returns how many there were.
    async fn delete_plans(&self, repository: &RepoKey, pr: PrNumber) -> anyhow::Result<u64>;

    /// bosun's summary comments on a pull request, by part.
    async fn pr_comments(&self, repository: &RepoKey, pr: PrNumber) -> anyhow::Result<PrComments>;

    /// Marks that a summary comment is about to be posted on a pull request, before it is;
    /// [`JobStore::set_pr_comments`] clears the mark. A mark still there when the next post
    /// reads [`JobStore::pr_comments`] says the last one may have left a comment unrecorded.
    async fn begin_pr_comment(&self, repository: &RepoKey, pr: PrNumber) -> anyhow::Result<()>;

    /// Replaces the record of bosun's summary comments on a pull request (and clears the
    /// mark of [`JobStore::begin_pr_comment`]).
    async fn set_pr_comments(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
        comments: &[PrComment],
    ) -> anyhow::Result<()>;
}

#[cfg(test)]
mod tests;
