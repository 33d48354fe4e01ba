//! Rows of `locks`, `lock_waits` and `applies`, as both backends read them.

use crate::ids::RepoKey;
use crate::ids::{PrNumber, Sha};
use anyhow::Context as _;

use super::jobs::name_of;
use crate::ids::{Dir, Workspace};
use crate::plan::Target;
use crate::store::locks::{ApplyRecord, ApplyStatus, ProjectLock};

/// A project's columns of a row of `locks`.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct TargetRow {
    pub(in crate::store) dir: String,
    pub(in crate::store) workspace: String,
    pub(in crate::store) project: Option<String>,
}

impl TargetRow {
    pub(in crate::store) fn into_target(self) -> Target {
        Target {
            dir: Dir::new(self.dir),
            workspace: Workspace::new(self.workspace),
            name: name_of(self.project),
        }
    }
}

/// A project's columns of a row of `lock_waits` ('' for an unnamed project).
#[derive(sqlx::FromRow)]
pub(in crate::store) struct WaitTargetRow {
    pub(in crate::store) dir: String,
    pub(in crate::store) workspace: String,
    pub(in crate::store) project: String,
}

impl WaitTargetRow {
    pub(in crate::store) fn into_target(self) -> Target {
        Target {
            dir: Dir::new(self.dir),
            workspace: Workspace::new(self.workspace),
            name: name_of(Some(self.project)),
        }
    }
}

/// A row of `lock_waits`: a waiting pull request and one project it waits for.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct WaiterRow {
    pub(in crate::store) pr: i64,
    pub(in crate::store) dir: String,
    pub(in crate::store) workspace: String,
    pub(in crate::store) project: String,
}

/// A pull request holding locks or plans.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct HoldingRow {
    pub(in crate::store) repository: String,
    pub(in crate::store) pr: i64,
}

/// A row of `locks`.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct LockRow {
    pub(in crate::store) repository: String,
    pub(in crate::store) dir: String,
    pub(in crate::store) workspace: String,
    pub(in crate::store) project: Option<String>,
    pub(in crate::store) pr: i64,
    pub(in crate::store) created_at: i64,
}

impl LockRow {
    pub(in crate::store) fn into_lock(self) -> ProjectLock {
        ProjectLock {
            repository: RepoKey::new(self.repository),
            target: Target {
                dir: Dir::new(self.dir),
                workspace: Workspace::new(self.workspace),
                name: name_of(self.project),
            },
            pr: PrNumber(self.pr as u64),
            created_at: self.created_at,
        }
    }
}

/// A row of `applies`.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct ApplyRow {
    pub(in crate::store) id: i64,
    pub(in crate::store) repository: String,
    pub(in crate::store) pr: i64,
    pub(in crate::store) dir: String,
    pub(in crate::store) workspace: String,
    pub(in crate::store) project: Option<String>,
    pub(in crate::store) sha: String,
    pub(in crate::store) job_id: i64,
    pub(in crate::store) claim: i64,
    pub(in crate::store) status: String,
    pub(in crate::store) started_at: i64,
    pub(in crate::store) finished_at: Option<i64>,
}

impl ApplyRow {
    pub(in crate::store) fn into_apply(self) -> anyhow::Result<ApplyRecord> {
        let status = ApplyStatus::parse(&self.status)
            .with_context(|| format!("unknown apply status {:?}", self.status))?;
        Ok(ApplyRecord {
            id: self.id,
            repository: RepoKey::new(self.repository),
            pr: PrNumber(self.pr as u64),
            target: Target {
                dir: Dir::new(self.dir),
                workspace: Workspace::new(self.workspace),
                name: name_of(self.project),
            },
            sha: Sha::new(self.sha),
            job_id: self.job_id,
            claim: self.claim,
            status,
            started_at: self.started_at,
            finished_at: self.finished_at,
        })
    }
}
