//! Runs and their logs. A run is one project's workflow execution inside a job: a plan, an
//! apply, a drift check, an import or a state rm of one project at one commit. Its log is
//! Terraform's output, redacted, appended in chunks as it is produced (see
//! [`crate::run_log`]), so every replica can serve it, live or after a restart. Logs are kept
//! with their runs: nothing prunes them.

use async_trait::async_trait;
use sqlx::Row;

use super::Millis;
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
    pub repository: String,
    pub pr: u64,
    pub target: Target,
    pub kind: RunKind,
    pub commit_sha: String,
    /// Who asked: a GitHub login, or `bosun` for its own runs (drift checks, autoplan).
    pub requested_by: String,
}

/// A stored run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Run {
    pub id: i64,
    pub job_id: i64,
    pub repository: String,
    pub pr: u64,
    pub project: Option<String>,
    pub dir: String,
    pub workspace: String,
    pub kind: RunKind,
    pub commit_sha: String,
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

/// The SQL both backends run (SQLite numbers `$N` parameters in order of first use, so each
/// statement uses them in ascending order).
pub(super) mod sql {
    pub const UNFINISHED: &str = "SELECT id FROM runs
         WHERE job_id = $1 AND dir = $2 AND workspace = $3 AND project = $4 AND kind = $5
           AND commit_sha = $6 AND status IN ('queued', 'running')
         ORDER BY id DESC LIMIT 1";
    pub const RESUME: &str = "UPDATE runs SET status = 'running' WHERE id = $1";
    pub const INSERT: &str = "INSERT INTO runs (job_id, repository, pr, dir, workspace, project,
             kind, commit_sha, status, requested_by, created_at, started_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'running', $9, $10, $10)
         RETURNING id";
    pub const APPEND: &str = "INSERT INTO run_log (run_id, seq, chunk, at)
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3 FROM run_log WHERE run_id = $1
         RETURNING seq";
    pub const FINISH: &str = "UPDATE runs SET status = $1, finished_at = $2 WHERE id = $3";
    pub const INTERRUPT: &str = "UPDATE runs SET status = 'interrupted', finished_at = $1
         WHERE job_id = $2 AND status IN ('queued', 'running')";
    pub const OF_JOB: &str = "SELECT id FROM runs
         WHERE job_id = $1 AND dir = $2 AND workspace = $3 AND project = $4 AND kind = $5
         ORDER BY id DESC LIMIT 1";
    pub const RUN: &str = "SELECT * FROM runs WHERE id = $1";
    pub const LOG: &str = "SELECT seq, chunk, at FROM run_log WHERE run_id = $1 AND seq > $2
         ORDER BY seq LIMIT $3";
}

/// A run from a `runs` row of either backend.
pub(super) fn run_of<R: Row>(row: &R) -> anyhow::Result<Run>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let project: String = row.try_get("project")?;
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    Ok(Run {
        id: row.try_get("id")?,
        job_id: row.try_get("job_id")?,
        repository: row.try_get("repository")?,
        pr: row.try_get::<i64, _>("pr")? as u64,
        project: Some(project).filter(|p| !p.is_empty()),
        dir: row.try_get("dir")?,
        workspace: row.try_get("workspace")?,
        kind: RunKind::parse(&kind)?,
        commit_sha: row.try_get("commit_sha")?,
        status: RunStatus::parse(&status)?,
        requested_by: row.try_get("requested_by")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

/// A log chunk from a `run_log` row of either backend.
pub(super) fn chunk_of<R: Row>(row: &R) -> anyhow::Result<LogChunk>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(LogChunk {
        seq: row.try_get("seq")?,
        text: row.try_get("chunk")?,
        at: row.try_get("at")?,
    })
}

/// The `RunStore` of a backend: the same statements (`sql`) on both, run on `$writer` for
/// writes and `$reader` for reads (one pool on PostgreSQL; SQLite's writer and readers). The
/// backend's module imports what the body names.
macro_rules! run_store_impl {
    ($store:ty, $writer:ident, $reader:ident) => {
        #[async_trait]
        impl RunStore for $store {
            async fn start_run(&self, run: &NewRun, now: Millis) -> anyhow::Result<Started> {
                let project = run.target.name.as_deref().unwrap_or("");
                let mut tx = self.$writer.begin().await.context("starting a run")?;
                let unfinished: Option<i64> = sqlx::query_scalar(sql::UNFINISHED)
                    .bind(run.job_id)
                    .bind(&run.target.dir)
                    .bind(&run.target.workspace)
                    .bind(project)
                    .bind(run.kind.as_str())
                    .bind(&run.commit_sha)
                    .fetch_optional(&mut *tx)
                    .await
                    .context("looking for an unfinished run")?;
                let started = match unfinished {
                    Some(id) => {
                        sqlx::query(sql::RESUME)
                            .bind(id)
                            .execute(&mut *tx)
                            .await
                            .context("resuming a run")?;
                        Started::Resumed(id)
                    }
                    None => Started::New(
                        sqlx::query_scalar(sql::INSERT)
                            .bind(run.job_id)
                            .bind(&run.repository)
                            .bind(run.pr as i64)
                            .bind(&run.target.dir)
                            .bind(&run.target.workspace)
                            .bind(project)
                            .bind(run.kind.as_str())
                            .bind(&run.commit_sha)
                            .bind(&run.requested_by)
                            .bind(now)
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
                sqlx::query_scalar(sql::APPEND)
                    .bind(run_id)
                    .bind(chunk)
                    .bind(now)
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
                sqlx::query(sql::FINISH)
                    .bind(status.as_str())
                    .bind(now)
                    .bind(run_id)
                    .execute(&self.$writer)
                    .await
                    .context("finishing a run")?;
                Ok(())
            }

            async fn interrupt_runs_of_job(&self, job_id: i64, now: Millis) -> anyhow::Result<u64> {
                let done = sqlx::query(sql::INTERRUPT)
                    .bind(now)
                    .bind(job_id)
                    .execute(&self.$writer)
                    .await
                    .context("interrupting a job's runs")?;
                Ok(done.rows_affected())
            }

            async fn run(&self, id: i64) -> anyhow::Result<Option<Run>> {
                let row = sqlx::query(sql::RUN)
                    .bind(id)
                    .fetch_optional(&self.$reader)
                    .await
                    .context("reading a run")?;
                row.as_ref().map(run_of).transpose()
            }

            async fn run_of_job(
                &self,
                job_id: i64,
                target: &Target,
                kind: RunKind,
            ) -> anyhow::Result<Option<i64>> {
                sqlx::query_scalar(sql::OF_JOB)
                    .bind(job_id)
                    .bind(&target.dir)
                    .bind(&target.workspace)
                    .bind(target.name.as_deref().unwrap_or(""))
                    .bind(kind.as_str())
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
                let rows = sqlx::query(sql::LOG)
                    .bind(run_id)
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.$reader)
                    .await
                    .context("reading a run's log")?;
                rows.iter().map(chunk_of).collect()
            }
        }
    };
}
pub(crate) use run_store_impl;

#[cfg(test)]
mod tests;
