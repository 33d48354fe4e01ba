//! Rows of `drift_runs` and `drift_results`, as both backends read them.

use crate::ids::RepoKey;
use crate::ids::{PrNumber, Sha};
use anyhow::Context as _;

use crate::drift::{DriftStatus, ProjectDrift, Trigger};
use crate::ids::{Dir, Workspace};
use crate::plan::Target;
use crate::store::drift::DriftRun;

fn trigger_of(s: &str) -> anyhow::Result<Trigger> {
    [Trigger::Schedule, Trigger::Api]
        .into_iter()
        .find(|t| t.as_str() == s)
        .with_context(|| format!("unknown drift trigger {s:?}"))
}

fn status_of(status: &str) -> anyhow::Result<DriftStatus> {
    DriftStatus::parse(status).with_context(|| format!("unknown drift status {status:?}"))
}

/// A row of `drift_runs`.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct RunRow {
    pub(in crate::store) id: i64,
    pub(in crate::store) repository: String,
    pub(in crate::store) sha: String,
    pub(in crate::store) trigger: String,
    pub(in crate::store) started_at: i64,
    pub(in crate::store) finished_at: Option<i64>,
    pub(in crate::store) summary: String,
}

impl RunRow {
    pub(in crate::store) fn into_run(self) -> anyhow::Result<DriftRun> {
        Ok(DriftRun {
            id: self.id,
            repository: RepoKey::new(self.repository),
            sha: Sha::new(self.sha),
            trigger: trigger_of(&self.trigger)?,
            started_at: self.started_at,
            finished_at: self.finished_at,
            summary: self.summary,
            projects: Vec::new(),
        })
    }
}

/// A row of `drift_results`.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct ResultRow {
    pub(in crate::store) run_id: i64,
    pub(in crate::store) dir: String,
    pub(in crate::store) workspace: String,
    pub(in crate::store) name: Option<String>,
    pub(in crate::store) status: String,
    pub(in crate::store) locked_by: Option<i64>,
    pub(in crate::store) summary: String,
    pub(in crate::store) detail: String,
}

impl ResultRow {
    pub(in crate::store) fn into_result(self) -> anyhow::Result<ProjectDrift> {
        Ok(ProjectDrift {
            target: Target {
                dir: Dir::new(self.dir),
                workspace: Workspace::new(self.workspace),
                name: self.name,
            },
            status: status_of(&self.status)?,
            locked_by: self.locked_by.map(|n| PrNumber(n as u64)),
            summary: self.summary,
            detail: self.detail,
        })
    }
}

/// A row of [`DriftStore::known_drift_all`](crate::store::DriftStore::known_drift_all)'s
/// statement: a project's latest result.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct KnownRow {
    pub(in crate::store) repository: String,
    pub(in crate::store) dir: String,
    pub(in crate::store) workspace: String,
    pub(in crate::store) name: Option<String>,
    pub(in crate::store) status: String,
}

impl KnownRow {
    pub(in crate::store) fn into_known(self) -> anyhow::Result<(String, Target, DriftStatus)> {
        let target = Target {
            dir: Dir::new(self.dir),
            workspace: Workspace::new(self.workspace),
            name: self.name,
        };
        Ok((self.repository, target, status_of(&self.status)?))
    }
}
