//! The store's plan tasks: a plan job's projects, one task each, that any replica's task
//! worker may claim. A task is claimed with a lease and a fencing token like a job: a worker
//! that stalled past its lease finds its outcome refused, and another worker plans the project.

use crate::ids::PrNumber;
use crate::ids::RepoKey;
use async_trait::async_trait;
use std::time::Duration;

use super::Millis;
use super::jobs::StoredPlan;
use crate::ids::{Dir, Workspace};
use crate::plan::Target;

/// One project of a plan job, to plan.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub target: Target,
    /// JSON: what the worker needs to plan the project (see `workflow::plan_tasks`).
    pub spec: String,
}

/// One claim of a task: the token its worker shows with every write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskClaim {
    pub task_id: i64,
    pub token: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    Queued,
    Running,
    /// Planned (or failed to plan): its outcome is stored.
    Done,
}

impl TaskStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            _ => Self::Done,
        }
    }
}

/// A task as the store keeps it.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: i64,
    pub job_id: i64,
    /// The key of its repository in the store.
    pub repository: RepoKey,
    pub pr: PrNumber,
    pub target: Target,
    pub spec: String,
    pub status: TaskStatus,
    /// The token of its latest claim (0 before any): claims so far.
    pub claim: i64,
    pub lease_until: Option<Millis>,
    /// The instance (BOSUN_INSTANCE_ID) of its latest claim.
    pub claimed_by: Option<String>,
    /// JSON: the project's `Outcome`, once done.
    pub outcome: Option<String>,
}

/// A row of `plan_tasks` as both backends read it.
#[derive(sqlx::FromRow)]
pub(crate) struct TaskRow {
    pub(crate) id: i64,
    pub(crate) job_id: i64,
    pub(crate) repository: String,
    pub(crate) pr: i64,
    pub(crate) dir: String,
    pub(crate) workspace: String,
    pub(crate) project: String,
    pub(crate) spec: String,
    pub(crate) status: String,
    pub(crate) claim: i64,
    pub(crate) lease_until: Option<i64>,
    pub(crate) claimed_by: Option<String>,
    pub(crate) outcome: Option<String>,
}

impl TaskRow {
    pub(crate) fn into_task(self) -> Task {
        Task {
            id: self.id,
            job_id: self.job_id,
            repository: RepoKey::new(self.repository),
            pr: PrNumber(self.pr as u64),
            target: Target {
                dir: Dir::new(self.dir),
                workspace: Workspace::new(self.workspace),
                name: Some(self.project).filter(|n| !n.is_empty()),
            },
            spec: self.spec,
            status: TaskStatus::parse(&self.status),
            claim: self.claim,
            lease_until: self.lease_until,
            claimed_by: self.claimed_by,
            outcome: self.outcome,
        }
    }
}

impl Task {
    pub fn claim(&self) -> TaskClaim {
        TaskClaim {
            task_id: self.id,
            token: self.claim,
        }
    }
}

#[async_trait]
pub trait TaskStore: Send + Sync {
    /// Adds a job's tasks. A task the job already has (same dir, workspace and name: the job
    /// runs again after its worker died) is kept as it is, done or not, when its spec is the
    /// same; with another spec it is queued again under a new token.
    async fn enqueue_tasks(
        &self,
        job_id: i64,
        repository: &RepoKey,
        pr: PrNumber,
        tasks: &[NewTask],
        now: Millis,
    ) -> anyhow::Result<()>;

    /// Claims the oldest queued task, or a running one whose lease ran out before `now`, for
    /// `lease`, as instance `by`; a task already claimed `max_claims` times is left alone
    /// (each claim ended with its worker gone: its job gives up on it).
    async fn claim_task(
        &self,
        now: Millis,
        lease: Duration,
        by: &str,
        max_claims: i64,
    ) -> anyhow::Result<Option<Task>>;

    /// Extends a running task's lease; false when `claim` is no longer the task's.
    async fn renew_task(&self, claim: TaskClaim, until: Millis) -> anyhow::Result<bool>;

    /// Gives a running task back to the queue (its worker is draining): another worker may
    /// claim it at once, and the old claim is refused from then on. Returns false when `claim`
    /// is no longer the task's.
    async fn release_task(&self, claim: TaskClaim) -> anyhow::Result<bool>;

    /// Records a task's outcome and, in the same transaction, the project's plan. Returns
    /// false (and writes neither) when `claim` is no longer the task's current claim.
    async fn finish_task(
        &self,
        claim: TaskClaim,
        outcome: &str,
        plan: &StoredPlan,
        now: Millis,
    ) -> anyhow::Result<bool>;

    /// Puts the tasks a crashed process was planning back in the queue (their next claim
    /// fences the old one off). SQLite (one replica) takes every running task, as none can be
    /// another process's; PostgreSQL (replicas) none: a task's lease tells when it is free.
    async fn requeue_running_tasks(&self) -> anyhow::Result<u64>;

    /// A job's tasks, oldest first.
    async fn tasks_of_job(&self, job_id: i64) -> anyhow::Result<Vec<Task>>;

    /// Ends a job's tasks once the job has read them: their specs and outcomes are dropped
    /// (each plan is kept in `plans`), one not done is fenced off, and who claimed each stays
    /// for inspection.
    async fn close_tasks(&self, job_id: i64) -> anyhow::Result<()>;
}

#[cfg(test)]
mod tests;
