//! The PostgreSQL backend of runs and their logs (the SQL is shared: `store::runs::sql`).

use anyhow::Context as _;
use async_trait::async_trait;

use super::PgStore;
use crate::plan::Target;
use crate::store::Millis;
use crate::store::runs::{
    LogChunk, NewRun, Run, RunKind, RunStatus, RunStore, Started, chunk_of, run_of, sql,
};

#[async_trait]
impl RunStore for PgStore {
    async fn start_run(&self, run: &NewRun, now: Millis) -> anyhow::Result<Started> {
        let project = run.target.name.as_deref().unwrap_or("");
        let mut tx = self.pool.begin().await.context("starting a run")?;
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

    async fn append_run_log(&self, run_id: i64, chunk: &str, now: Millis) -> anyhow::Result<i64> {
        sqlx::query_scalar(sql::APPEND)
            .bind(run_id)
            .bind(chunk)
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .context("appending to a run's log")
    }

    async fn finish_run(&self, run_id: i64, status: RunStatus, now: Millis) -> anyhow::Result<()> {
        sqlx::query(sql::FINISH)
            .bind(status.as_str())
            .bind(now)
            .bind(run_id)
            .execute(&self.pool)
            .await
            .context("finishing a run")?;
        Ok(())
    }

    async fn interrupt_runs_of_job(&self, job_id: i64, now: Millis) -> anyhow::Result<u64> {
        let done = sqlx::query(sql::INTERRUPT)
            .bind(now)
            .bind(job_id)
            .execute(&self.pool)
            .await
            .context("interrupting a job's runs")?;
        Ok(done.rows_affected())
    }

    async fn run(&self, id: i64) -> anyhow::Result<Option<Run>> {
        let row = sqlx::query(sql::RUN)
            .bind(id)
            .fetch_optional(&self.pool)
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
            .fetch_optional(&self.pool)
            .await
            .context("finding a job's run")
    }

    async fn run_log(&self, run_id: i64, after: i64, limit: i64) -> anyhow::Result<Vec<LogChunk>> {
        let rows = sqlx::query(sql::LOG)
            .bind(run_id)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .context("reading a run's log")?;
        rows.iter().map(chunk_of).collect()
    }
}
