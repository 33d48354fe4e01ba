//! The PostgreSQL backend of plan tasks: every replica's task worker claims them, with
//! `FOR UPDATE SKIP LOCKED`, and a fenced outcome locks the task row it checks.

use crate::ids::PrNumber;
use crate::ids::RepoKey;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;

use super::PgStore;
use super::jobs::{project_key, upsert_plan};
use crate::store::Millis;
use crate::store::checked::{pg_execute, pg_query_as};
use crate::store::jobs::StoredPlan;
use crate::store::tasks::{NewTask, Task, TaskClaim, TaskRow, TaskStore};

#[async_trait]
impl TaskStore for PgStore {
    async fn enqueue_tasks(
        &self,
        job_id: i64,
        repository: &RepoKey,
        pr: PrNumber,
        tasks: &[NewTask],
        now: Millis,
    ) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await.context("enqueueing tasks")?;
        for task in tasks {
            pg_execute!(
                "INSERT INTO plan_tasks (job_id, repository, pr, dir, workspace, project, spec, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (job_id, dir, workspace, project) DO UPDATE SET
                     spec = excluded.spec, status = 'queued', claim = plan_tasks.claim + 1,
                     lease_until = NULL, outcome = NULL, finished_at = NULL
                 WHERE plan_tasks.spec <> excluded.spec",
                job_id,
                repository.as_str(),
                pr.0 as i64,
                task.target.dir.as_str(),
                task.target.workspace.as_str(),
                project_key(&task.target),
                &task.spec,
                now,
            )
            .execute(&mut *tx)
            .await
            .context("enqueueing a task")?;
        }
        tx.commit().await.context("committing tasks")?;
        Ok(())
    }

    async fn claim_task(
        &self,
        now: Millis,
        lease: Duration,
        by: &str,
        max_claims: i64,
    ) -> anyhow::Result<Option<Task>> {
        let row = pg_query_as!(
            TaskRow,
            "UPDATE plan_tasks SET status = 'running', claim = claim + 1, lease_until = $1,
                 claimed_by = $3, claimed_at = $2
             WHERE id = (
                 SELECT id FROM plan_tasks
                 WHERE (status = 'queued' OR (status = 'running' AND lease_until < $2))
                   AND claim < $4
                 ORDER BY id LIMIT 1
                 FOR UPDATE SKIP LOCKED)
             RETURNING id, job_id, repository, pr, dir, workspace, project, spec, status, claim,
                       lease_until, claimed_by, outcome",
            now + lease.as_millis() as i64,
            now,
            by,
            max_claims,
        )
        .fetch_optional(&self.pool)
        .await
        .context("claiming a task")?;
        Ok(row.map(TaskRow::into_task))
    }

    async fn renew_task(&self, claim: TaskClaim, until: Millis) -> anyhow::Result<bool> {
        let done = pg_execute!(
            "UPDATE plan_tasks SET lease_until = $1
             WHERE id = $2 AND claim = $3 AND status = 'running'",
            until,
            claim.task_id,
            claim.token,
        )
        .execute(&self.pool)
        .await
        .context("renewing a task's lease")?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_task(&self, claim: TaskClaim) -> anyhow::Result<bool> {
        // Not running, the old claim can write nothing; the next claim takes a new token (and
        // counts this one among the task's claims).
        let done = pg_execute!(
            "UPDATE plan_tasks SET status = 'queued', lease_until = NULL
             WHERE id = $1 AND claim = $2 AND status = 'running'",
            claim.task_id,
            claim.token,
        )
        .execute(&self.pool)
        .await
        .context("releasing a task")?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_task(
        &self,
        claim: TaskClaim,
        outcome: &str,
        plan: &StoredPlan,
        now: Millis,
    ) -> anyhow::Result<bool> {
        let mut tx = self.pool.begin().await.context("finishing a task")?;
        let done = pg_execute!(
            "UPDATE plan_tasks SET status = 'done', outcome = $1, finished_at = $2, lease_until = NULL
             WHERE id = $3 AND claim = $4 AND status = 'running'",
            outcome,
            now,
            claim.task_id,
            claim.token,
        )
        .execute(&mut *tx)
        .await
        .context("recording a task's outcome")?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        upsert_plan(&mut tx, &self.sealer, plan).await?;
        tx.commit().await.context("committing a task's outcome")?;
        Ok(true)
    }

    async fn requeue_running_tasks(&self) -> anyhow::Result<u64> {
        // A running task may be another live replica's: its lease runs out if not.
        Ok(0)
    }

    async fn tasks_of_job(&self, job_id: i64) -> anyhow::Result<Vec<Task>> {
        let rows = pg_query_as!(
            TaskRow,
            "SELECT id, job_id, repository, pr, dir, workspace, project, spec, status, claim,
                    lease_until, claimed_by, outcome
             FROM plan_tasks WHERE job_id = $1 ORDER BY id",
            job_id,
        )
        .fetch_all(&self.pool)
        .await
        .context("reading a job's tasks")?;
        Ok(rows.into_iter().map(TaskRow::into_task).collect())
    }

    async fn close_tasks(&self, job_id: i64) -> anyhow::Result<()> {
        pg_execute!(
            "UPDATE plan_tasks SET spec = '', outcome = NULL, lease_until = NULL,
                 claim = CASE WHEN status = 'done' THEN claim ELSE claim + 1 END, status = 'done'
             WHERE job_id = $1",
            job_id,
        )
        .execute(&self.pool)
        .await
        .context("closing a job's tasks")?;
        Ok(())
    }
}
