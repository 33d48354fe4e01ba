//! Runs and their logs. A run is one project's workflow execution inside a job: a plan, an
//! apply, a drift check, an import or a state rm of one project at one commit. Its log is
//! Terraform's output, redacted, appended in chunks as it is produced (see
//! [`crate::run_log`]), so every replica can serve it, live or after a restart. Logs are kept
//! with their runs: nothing prunes them.

use crate::ids::RepoKey;
use crate::ids::{PrNumber, Sha};
use async_trait::async_trait;

use super::Millis;
use crate::ids::{Dir, Workspace};
use crate::plan::Target;

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Plan,
    Apply,
    Drift,
    Import,
    StateRm,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plan => "plan",
            Self::Apply => "apply",
            Self::Drift => "drift",
            Self::Import => "import",
            Self::StateRm => "state_rm",
        }
    }

    fn parse(s: &str) -> anyhow::Result<Self> {
        Ok(match s {
            "plan" => Self::Plan,
            "apply" => Self::Apply,
            "drift" => Self::Drift,
            "import" => Self::Import,
            "state_rm" => Self::StateRm,
            other => anyhow::bail!("unknown run kind {other:?} in the store"),
        })
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    /// Its process went away and its job was not run again.
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }

    /// Whether the run is over (its log gets no more chunks).
    pub fn finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Interrupted)
    }

    fn parse(s: &str) -> anyhow::Result<Self> {
        Ok(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "interrupted" => Self::Interrupted,
            other => anyhow::bail!("unknown run status {other:?} in the store"),
        })
    }
}

/// A run about to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    pub job_id: i64,
    /// The key of its repository in the store.
    pub repository: RepoKey,
    pub pr: PrNumber,
    pub target: Target,
    pub kind: RunKind,
    pub commit_sha: Sha,
    /// Who asked: a GitHub login, or `bosun` for its own runs (drift checks, autoplan).
    pub requested_by: String,
}

/// A stored run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Run {
    pub id: i64,
    pub job_id: i64,
    /// The key of its repository in the store.
    pub repository: RepoKey,
    pub pr: PrNumber,
    pub project: Option<String>,
    pub dir: Dir,
    pub workspace: Workspace,
    pub kind: RunKind,
    pub commit_sha: Sha,
    pub status: RunStatus,
    pub requested_by: String,
    /// Unix milliseconds.
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
}

/// One stored piece of a run's log: whole lines, numbered from 1 in the order written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    pub seq: i64,
    pub text: String,
    pub at: Millis,
}

/// How a run was started: new, or the unfinished run of the same job, project, kind and
/// commit taken up again (the job runs again after its process went away).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    New(i64),
    Resumed(i64),
}

impl Started {
    pub fn id(self) -> i64 {
        match self {
            Self::New(id) | Self::Resumed(id) => id,
        }
    }
}

#[async_trait]
pub trait RunStore: Send + Sync {
    /// Starts a run (status `running`). An unfinished run of the same job, project, kind and
    /// commit is taken up again rather than a new one made, so its log goes on where it
    /// stopped.
    async fn start_run(&self, run: &NewRun, now: Millis) -> anyhow::Result<Started>;

    /// Appends a chunk to a run's log; returns its sequence number.
    async fn append_run_log(&self, run_id: i64, chunk: &str, now: Millis) -> anyhow::Result<i64>;

    /// Ends a run with `status` (a finished status).
    async fn finish_run(&self, run_id: i64, status: RunStatus, now: Millis) -> anyhow::Result<()>;

    /// Ends with `interrupted` every run of a job not finished yet (the job ended without
    /// them: it failed for good, or its process went away for the last time).
    async fn interrupt_runs_of_job(&self, job_id: i64, now: Millis) -> anyhow::Result<u64>;

    async fn run(&self, id: i64) -> anyhow::Result<Option<Run>>;

    /// The id of a job's latest run of `kind` in the project `target`, if it has one.
    async fn run_of_job(
        &self,
        job_id: i64,
        target: &Target,
        kind: RunKind,
    ) -> anyhow::Result<Option<i64>>;

    /// A run's log chunks after sequence number `after` (0: from the start), at most `limit`.
    async fn run_log(&self, run_id: i64, after: i64, limit: i64) -> anyhow::Result<Vec<LogChunk>>;
}

/// A row of `runs` as both backends read it.
#[derive(sqlx::FromRow)]
pub(super) struct RunRow {
    pub(super) id: i64,
    pub(super) job_id: i64,
    pub(super) repository: String,
    pub(super) pr: i64,
    pub(super) dir: String,
    pub(super) workspace: String,
    pub(super) project: String,
    pub(super) kind: String,
    pub(super) commit_sha: String,
    pub(super) status: String,
    pub(super) requested_by: String,
    pub(super) started_at: Option<i64>,
    pub(super) finished_at: Option<i64>,
}

impl RunRow {
    pub(super) fn into_run(self) -> anyhow::Result<Run> {
        Ok(Run {
            id: self.id,
            job_id: self.job_id,
            repository: RepoKey::new(self.repository),
            pr: PrNumber(self.pr as u64),
            project: Some(self.project).filter(|p| !p.is_empty()),
            dir: Dir::new(self.dir),
            workspace: Workspace::new(self.workspace),
            kind: RunKind::parse(&self.kind)?,
            commit_sha: Sha::new(self.commit_sha),
            status: RunStatus::parse(&self.status)?,
            requested_by: self.requested_by,
            started_at: self.started_at,
            finished_at: self.finished_at,
        })
    }
}

/// A row of `run_log`.
#[derive(sqlx::FromRow)]
pub(super) struct LogRow {
    pub(super) seq: i64,
    pub(super) chunk: String,
    pub(super) at: i64,
}

impl LogRow {
    pub(super) fn into_chunk(self) -> LogChunk {
        LogChunk {
            seq: self.seq,
            text: self.chunk,
            at: self.at,
        }
    }
}

/// The `RunStore` of a backend: the same statements on both (numbered parameters, which
/// SQLite takes too but numbers in order of first use, so each statement uses them in
/// ascending order), checked by the backend's macros (`$execute`, `$query_as`,
/// `$query_scalar`: see `store::checked`), run on `$writer` for writes and `$reader` for reads
/// (one pool on PostgreSQL; SQLite's writer and readers). The backend's module imports what
/// the body names.
macro_rules! run_store_impl {
    (
        $store:ty,
        $writer:ident,
        $reader:ident,
        $execute:ident,
        $query_as:ident,
        $query_scalar:ident
    ) => {
        #[async_trait]
        impl RunStore for $store {
            async fn start_run(&self, run: &NewRun, now: Millis) -> anyhow::Result<Started> {
                let project = run.target.name.as_deref().unwrap_or("");
                let mut tx = self.$writer.begin().await.context("starting a run")?;
                let unfinished: Option<i64> = $query_scalar!(
                    "SELECT id FROM runs
                     WHERE job_id = $1 AND dir = $2 AND workspace = $3 AND project = $4 AND kind = $5
                       AND commit_sha = $6 AND status IN ('queued', 'running')
                     ORDER BY id DESC LIMIT 1",
                    run.job_id,
                    run.target.dir.as_str(),
                    run.target.workspace.as_str(),
                    project,
                    run.kind.as_str(),
                    run.commit_sha.as_str(),
                )
                .fetch_optional(&mut *tx)
                .await
                .context("looking for an unfinished run")?;
                let started = match unfinished {
                    Some(id) => {
                        $execute!(
                            "UPDATE runs SET status = 'running' WHERE id = $1",
                            id,
                        )
                        .execute(&mut *tx)
                        .await
                        .context("resuming a run")?;
                        Started::Resumed(id)
                    }
                    None => Started::New(
                        $query_scalar!(
                            "INSERT INTO runs (job_id, repository, pr, dir, workspace, project,
                                 kind, commit_sha, status, requested_by, created_at, started_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'running', $9, $10, $10)
                             RETURNING id",
                            run.job_id,
                            run.repository.as_str(),
                            run.pr.0 as i64,
                            run.target.dir.as_str(),
                            run.target.workspace.as_str(),
                            project,
                            run.kind.as_str(),
                            run.commit_sha.as_str(),
                            &run.requested_by,
                            now,
                        )
                        .fetch_one(&mut *tx)
                        .await
                        .context("inserting a run")?,
                    ),
                };
                tx.commit().await.context("committing a run")?;
                Ok(started)
            }

            async fn append_run_log(
                &self,
                run_id: i64,
                chunk: &str,
                now: Millis,
            ) -> anyhow::Result<i64> {
                $query_scalar!(
                    "INSERT INTO run_log (run_id, seq, chunk, at)
                     SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3 FROM run_log WHERE run_id = $1
                     RETURNING seq",
                    run_id,
                    chunk,
                    now,
                )
                .fetch_one(&self.$writer)
                .await
                .context("appending to a run's log")
            }

            async fn finish_run(
                &self,
                run_id: i64,
                status: RunStatus,
                now: Millis,
            ) -> anyhow::Result<()> {
                $execute!(
                    "UPDATE runs SET status = $1, finished_at = $2 WHERE id = $3",
                    status.as_str(),
                    now,
                    run_id,
                )
                .execute(&self.$writer)
                .await
                .context("finishing a run")?;
                Ok(())
            }

            async fn interrupt_runs_of_job(&self, job_id: i64, now: Millis) -> anyhow::Result<u64> {
                let done = $execute!(
                    "UPDATE runs SET status = 'interrupted', finished_at = $1
                     WHERE job_id = $2 AND status IN ('queued', 'running')",
                    now,
                    job_id,
                )
                .execute(&self.$writer)
                .await
                .context("interrupting a job's runs")?;
                Ok(done.rows_affected())
            }

            async fn run(&self, id: i64) -> anyhow::Result<Option<Run>> {
                let row = $query_as!(
                    RunRow,
                    "SELECT id, job_id, repository, pr, dir, workspace, project, kind, commit_sha,
                            status, requested_by, started_at, finished_at
                     FROM runs WHERE id = $1",
                    id,
                )
                .fetch_optional(&self.$reader)
                .await
                .context("reading a run")?;
                row.map(RunRow::into_run).transpose()
            }

            async fn run_of_job(
                &self,
                job_id: i64,
                target: &Target,
                kind: RunKind,
            ) -> anyhow::Result<Option<i64>> {
                $query_scalar!(
                    "SELECT id FROM runs
                     WHERE job_id = $1 AND dir = $2 AND workspace = $3 AND project = $4 AND kind = $5
                     ORDER BY id DESC LIMIT 1",
                    job_id,
                    target.dir.as_str(),
                    target.workspace.as_str(),
                    target.name.as_deref().unwrap_or(""),
                    kind.as_str(),
                )
                .fetch_optional(&self.$reader)
                .await
                .context("finding a job's run")
            }

            async fn run_log(
                &self,
                run_id: i64,
                after: i64,
                limit: i64,
            ) -> anyhow::Result<Vec<LogChunk>> {
                let rows = $query_as!(
                    LogRow,
                    "SELECT seq, chunk, at FROM run_log WHERE run_id = $1 AND seq > $2
                     ORDER BY seq LIMIT $3",
                    run_id,
                    after,
                    limit,
                )
                .fetch_all(&self.$reader)
                .await
                .context("reading a run's log")?;
                Ok(rows.into_iter().map(LogRow::into_chunk).collect())
            }
        }
    };
}
pub(crate) use run_store_impl;

#[cfg(test)]
mod tests;
