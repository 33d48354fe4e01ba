//! The store's project locks, the pull requests waiting for them, and the record of applies:
//! what keeps two pull requests from planning one project at once, wakes the one that waited,
//! and makes an apply interrupted by a crash visible instead of silently run again.

use crate::ids::RepoKey;
use crate::ids::{PrNumber, Sha};
use async_trait::async_trait;

use super::Millis;
use super::jobs::{Claim, NewJob};
use crate::plan::Target;

/// A project's lock: which pull request holds it, since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectLock {
    /// The key of its repository in the store.
    pub repository: RepoKey,
    pub target: Target,
    pub pr: PrNumber,
    pub created_at: Millis,
}

/// The answer to a lock attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockAttempt {
    /// The pull request holds every lock asked for (some may have been its own already).
    Locked,
    /// Other pull requests hold some: none was taken. `held` lists each such project and its
    /// holder, by dir then workspace.
    Held { held: Vec<(Target, PrNumber)> },
}

/// A pull request that waits for locks, and every project its blocked run asked for (by
/// dir, workspace, then name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiter {
    /// The key of its repository in the store.
    pub repository: RepoKey,
    pub pr: PrNumber,
    pub targets: Vec<Target>,
}

/// What a release did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Released {
    /// The projects whose lock was released, by dir then workspace.
    pub released: Vec<Target>,
    /// The pull requests that stopped waiting, by number; a wake-up job was enqueued for each.
    pub woken: Vec<Waiter>,
}

/// How an apply stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyStatus {
    /// Started and not finished: Terraform runs, or the process died while it ran.
    Running,
    Succeeded,
    Failed,
    /// Found running after a crash or restart: it may have changed infrastructure partly.
    Interrupted,
}

impl ApplyStatus {
    /// The status as the store writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }

    /// The status the store wrote, if it is one.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "running" => Some(Self::Running),
            "succeeded" => Some(Self::Succeeded),
            "failed" => Some(Self::Failed),
            "interrupted" => Some(Self::Interrupted),
            _ => None,
        }
    }
}

/// One apply of one project, recorded before Terraform starts so a crash is noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyRecord {
    pub id: i64,
    /// The key of its repository in the store.
    pub repository: RepoKey,
    pub pr: PrNumber,
    pub target: Target,
    pub sha: Sha,
    pub job_id: i64,
    /// The claim of the job it was started under.
    pub claim: i64,
    pub status: ApplyStatus,
    pub started_at: Millis,
    pub finished_at: Option<Millis>,
}

#[async_trait]
pub trait LockStore: Send + Sync {
    /// Takes the locks of `targets` (keyed by repository, dir, workspace; `name` is kept for
    /// display) for `pr`, all or none, atomically: under any concurrency no two pull requests
    /// ever hold one lock. Locks `pr` already holds count as taken. When another PR holds any:
    /// takes none, and if `wait` is true records `pr` as waiting on every one of `targets`,
    /// each project by its name too (replacing its earlier waits in this repository). A
    /// success leaves `pr`'s waits alone.
    async fn lock_projects(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
        targets: &[Target],
        wait: bool,
        now: Millis,
    ) -> anyhow::Result<LockAttempt>;

    /// Every lock of a repository, by dir then workspace.
    async fn locks_of_repo(&self, repository: &RepoKey) -> anyhow::Result<Vec<ProjectLock>>;

    /// The locks a pull request holds, by dir then workspace.
    async fn locks_of_pr(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
    ) -> anyhow::Result<Vec<ProjectLock>>;

    /// Releases `pr`'s locks on `targets` (all its locks when `None`) and drops its own waits
    /// when `targets` is None. In the same transaction: every other pull request waiting on a
    /// released project stops waiting (all its wait rows in the repository go) and the job
    /// `wake(&waiter)` returns is enqueued exactly as `enqueue_jobs` would (same `source`
    /// idempotency, same supersede rule), so a crash can never lose a wake-up. Returns what
    /// was released and who was woken. `wake` runs inside the transaction, which holds the
    /// database's write lock: it should only build the job. (`for<'w>` is spelled out because `async_trait` would
    /// otherwise tie the waiter's borrow to the call; any `|w: &Waiter| …` closure fits.)
    async fn release_locks(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
        targets: Option<&[Target]>,
        wake: &(dyn for<'w> Fn(&'w Waiter) -> NewJob + Send + Sync),
    ) -> anyhow::Result<Released>;

    /// Every pull request (repository, number) that holds a lock or has a plan, in order: the
    /// ones the reconciler checks against GitHub.
    async fn prs_holding(&self) -> anyhow::Result<Vec<(String, PrNumber)>>;

    /// Pull requests waiting in a repository, by number (for status and tests).
    async fn waiters(&self, repository: &RepoKey) -> anyhow::Result<Vec<Waiter>>;

    /// Records an apply as running, before Terraform starts; returns its id. Fails (records
    /// nothing) unless `claim` is its job's current claim: a worker that lost its job starts
    /// no apply.
    async fn start_apply(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
        target: &Target,
        sha: &Sha,
        claim: Claim,
        now: Millis,
    ) -> anyhow::Result<i64>;

    /// Records how an apply ended (`status` is not `Running`), once: fails when the apply is
    /// unknown, has already ended, or `claim` is not the current claim of the apply's job
    /// (the worker that started it lost the job, and the new holder has reported it
    /// interrupted).
    async fn finish_apply(
        &self,
        id: i64,
        claim: Claim,
        status: ApplyStatus,
        now: Millis,
    ) -> anyhow::Result<()>;

    /// Every apply of a pull request, oldest first.
    async fn applies_of_pr(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
    ) -> anyhow::Result<Vec<ApplyRecord>>;

    /// Deletes the stored plans of some projects of a pull request, each by its dir,
    /// workspace and name; returns how many.
    async fn delete_plans_of(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
        targets: &[Target],
    ) -> anyhow::Result<u64>;
}

#[cfg(test)]
mod tests;
