//! The PostgreSQL backend of the job queue, plans and summary comments.

use crate::ids::RepoKey;
use crate::ids::{PrNumber, Sha};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::postgres::PgConnection;

use super::{Guarded, PgStore, take_turn};
use crate::plan::Target;
use crate::store::Millis;
use crate::store::checked::{pg_execute, pg_query_as, pg_query_scalar};
use crate::store::jobs::{
    Claim, Job, JobStatus, JobStore, NewJob, POSTING_MARK, PrComment, PrComments, Requeued,
    StoredPlan,
};
use crate::store::rows::jobs::{CommentRow, JobRow, SealedPlanRow, binding};
use crate::store::seal::Sealer;

/// A project's name as a key column holds it: '' for an unnamed project.
pub(super) fn project_key(target: &Target) -> &str {
    target.name.as_deref().unwrap_or("")
}

/// Inserts one job in the caller's transaction, unless its `source` is already known, and
/// supersedes the queued jobs it replaces; returns the new job's id.
pub(super) async fn insert_job(
    conn: &mut PgConnection,
    job: &NewJob,
) -> anyhow::Result<Option<i64>> {
    let id: Option<i64> = pg_query_scalar!(
        "INSERT INTO jobs (source, kind, repository, installation_id, pr, priority, spec, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (source) DO NOTHING
         RETURNING id",
        &job.source,
        &job.kind,
        job.repository.as_str(),
        job.installation_id.0 as i64,
        job.pr.0 as i64,
        job.priority,
        &job.spec,
        job.created_at,
    )
    .fetch_optional(&mut *conn)
    .await
    .context("inserting a job")?;
    let Some(id) = id else {
        return Ok(None);
    };
    if let Some(kind) = &job.supersedes_kind {
        pg_execute!(
            "UPDATE jobs SET status = 'superseded', finished_at = $1, summary = $2
             WHERE repository = $3 AND pr = $4 AND kind = $5 AND status = 'queued' AND id < $6",
            job.created_at,
            format!("superseded by job {id}"),
            job.repository.as_str(),
            job.pr.0 as i64,
            kind,
            id,
        )
        .execute(&mut *conn)
        .await
        .context("superseding older jobs")?;
    }
    Ok(Some(id))
}

/// Records a project's latest plan in the caller's connection (or transaction), replacing the
/// previous one of the same project.
pub(super) async fn upsert_plan(
    conn: &mut PgConnection,
    sealer: &Sealer,
    plan: &StoredPlan,
) -> anyhow::Result<()> {
    let outcome = serde_json::to_string(&plan.outcome).context("encoding a plan")?;
    let planfile = plan
        .planfile
        .as_deref()
        .map(|p| sealer.seal(p, &binding(plan)))
        .transpose()
        .context("sealing a planfile")?;
    pg_execute!(
        "INSERT INTO plans (repository, pr, dir, workspace, project, head_sha, outcome, planfile, job_id, created_at,
                            tool_distribution, tool_version, tool_sha256)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (repository, pr, dir, workspace, project) DO UPDATE SET
             head_sha = excluded.head_sha,
             outcome = excluded.outcome, planfile = excluded.planfile,
             job_id = excluded.job_id, created_at = excluded.created_at,
             tool_distribution = excluded.tool_distribution, tool_version = excluded.tool_version,
             tool_sha256 = excluded.tool_sha256",
        plan.repository.as_str(),
        plan.pr.0 as i64,
        plan.target.dir.as_str(),
        plan.target.workspace.as_str(),
        project_key(&plan.target),
        plan.head_sha.as_str(),
        outcome,
        planfile,
        plan.job_id,
        plan.created_at,
        plan.tool.as_ref().map(|t| t.distribution.to_string()),
        plan.tool.as_ref().map(|t| t.version.to_string()),
        plan.tool.as_ref().and_then(|t| t.sha256.clone()),
    )
    .execute(&mut *conn)
    .await
    .context("recording a plan")?;
    Ok(())
}

#[async_trait]
impl JobStore for PgStore {
    async fn enqueue_jobs(&self, jobs: &[NewJob]) -> anyhow::Result<Vec<i64>> {
        let mut tx = self.pool.begin().await.context("enqueueing jobs")?;
        let mut ids = Vec::new();
        for job in jobs {
            if let Some(id) = insert_job(&mut tx, job).await? {
                ids.push(id);
            }
        }
        tx.commit().await.context("committing jobs")?;
        Ok(ids)
    }

    async fn claim_job(&self, now: Millis, lease: Duration) -> anyhow::Result<Option<Job>> {
        let mut tx = self.pool.begin().await.context("starting a job claim")?;
        // A claim reads the PR's other jobs to keep them one at a time: claims take turns
        // (a transaction-level advisory lock), so two replicas never both see a PR idle.
        // SKIP LOCKED passes over a job whose row another statement is changing.
        take_turn(&mut tx, Guarded::JobClaims, "").await?;
        let row = pg_query_as!(
            JobRow,
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, claim = claim + 1,
                 lease_until = $1
             WHERE id = (
                 SELECT j.id FROM jobs j
                 WHERE ((j.status = 'queued' AND coalesce(j.not_before, 0) <= $2)
                        OR (j.status = 'running' AND j.lease_until < $2))
                   AND NOT EXISTS (
                       SELECT 1 FROM jobs o
                       WHERE o.repository = j.repository AND o.pr = j.pr AND o.id <> j.id
                         AND ((o.status = 'running' AND o.lease_until >= $2)
                              OR (o.status = 'queued' AND o.id < j.id)))
                 ORDER BY j.priority DESC, j.id
                 LIMIT 1
                 FOR UPDATE OF j SKIP LOCKED)
             RETURNING id, kind, repository, installation_id, pr, spec, status, attempts,
                       summary, claim",
            now + lease.as_millis() as i64,
            now,
        )
        .fetch_optional(&mut *tx)
        .await
        .context("claiming a job")?;
        tx.commit().await.context("committing a job claim")?;
        Ok(row.map(JobRow::into_job))
    }

    async fn renew_job(&self, claim: Claim, until: Millis) -> anyhow::Result<bool> {
        let done = pg_execute!(
            "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND claim = $3 AND status = 'running'",
            until,
            claim.job_id,
            claim.token,
        )
        .execute(&self.pool)
        .await
        .context("renewing a job's lease")?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_job(
        &self,
        claim: Claim,
        status: JobStatus,
        summary: &str,
        now: Millis,
    ) -> anyhow::Result<bool> {
        let done = pg_execute!(
            "UPDATE jobs SET status = $1, summary = $2, finished_at = $3, lease_until = NULL
             WHERE id = $4 AND claim = $5 AND status = 'running'",
            status.as_str(),
            summary,
            now,
            claim.job_id,
            claim.token,
        )
        .execute(&self.pool)
        .await
        .context("finishing a job")?;
        Ok(done.rows_affected() == 1)
    }

    async fn retry_job(
        &self,
        claim: Claim,
        summary: &str,
        not_before: Millis,
    ) -> anyhow::Result<bool> {
        let done = pg_execute!(
            "UPDATE jobs SET status = 'queued', summary = $1, not_before = $2, lease_until = NULL
             WHERE id = $3 AND claim = $4 AND status = 'running'",
            summary,
            not_before,
            claim.job_id,
            claim.token,
        )
        .execute(&self.pool)
        .await
        .context("putting a job back in the queue")?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_job(&self, claim: Claim) -> anyhow::Result<bool> {
        let done = pg_execute!(
            "UPDATE jobs SET status = 'queued', attempts = GREATEST(attempts - 1, 0), lease_until = NULL
             WHERE id = $1 AND claim = $2 AND status = 'running'",
            claim.job_id,
            claim.token,
        )
        .execute(&self.pool)
        .await
        .context("releasing a job")?;
        Ok(done.rows_affected() == 1)
    }

    async fn requeue_running_jobs(
        &self,
        max_attempts: u32,
        now: Millis,
    ) -> anyhow::Result<Requeued> {
        // Replicas: only jobs whose lease ran out; a live lease is another replica's work.
        let mut tx = self
            .pool
            .begin()
            .await
            .context("requeueing interrupted jobs")?;
        let rows = pg_query_as!(
            JobRow,
            "UPDATE jobs SET status = 'failed', lease_until = NULL,
                 summary = 'failed: bosun stopped during its attempt ' || attempts
                     || ', the last allowed (BOSUN_JOB_MAX_ATTEMPTS)'
             WHERE status = 'running' AND lease_until < $2 AND attempts >= $1
             RETURNING id, kind, repository, installation_id, pr, spec, status, attempts,
                       summary, claim",
            i64::from(max_attempts.max(1)),
            now,
        )
        .fetch_all(&mut *tx)
        .await
        .context("failing jobs past their attempts")?;
        let failed = rows.into_iter().map(JobRow::into_job).collect();
        let done = pg_execute!(
            "UPDATE jobs SET status = 'queued', lease_until = NULL
             WHERE status = 'running' AND lease_until < $1",
            now,
        )
        .execute(&mut *tx)
        .await
        .context("requeueing interrupted jobs")?;
        tx.commit().await.context("committing requeued jobs")?;
        Ok(Requeued {
            requeued: done.rows_affected(),
            failed,
        })
    }

    async fn job(&self, id: i64) -> anyhow::Result<Option<Job>> {
        let row = pg_query_as!(
            JobRow,
            "SELECT id, kind, repository, installation_id, pr, spec, status, attempts, summary, claim
             FROM jobs WHERE id = $1",
            id,
        )
        .fetch_optional(&self.pool)
        .await
        .context("reading a job")?;
        Ok(row.map(JobRow::into_job))
    }

    async fn jobs_of_pr(&self, repository: &RepoKey, pr: PrNumber) -> anyhow::Result<Vec<Job>> {
        let rows = pg_query_as!(
            JobRow,
            "SELECT id, kind, repository, installation_id, pr, spec, status, attempts, summary, claim
             FROM jobs WHERE repository = $1 AND pr = $2 ORDER BY id",
            repository.as_str(),
            pr.0 as i64,
        )
        .fetch_all(&self.pool)
        .await
        .context("reading a pull request's jobs")?;
        Ok(rows.into_iter().map(JobRow::into_job).collect())
    }

    async fn open_job_list(&self, limit: u32) -> anyhow::Result<Vec<Job>> {
        let rows = pg_query_as!(
            JobRow,
            "SELECT id, kind, repository, installation_id, pr, spec, status, attempts, summary, claim
             FROM jobs WHERE status IN ('queued', 'running') ORDER BY id LIMIT $1",
            i64::from(limit),
        )
        .fetch_all(&self.pool)
        .await
        .context("listing open jobs")?;
        Ok(rows.into_iter().map(JobRow::into_job).collect())
    }

    async fn recent_jobs(&self, repository: &RepoKey, limit: u32) -> anyhow::Result<Vec<Job>> {
        let rows = pg_query_as!(
            JobRow,
            "SELECT id, kind, repository, installation_id, pr, spec, status, attempts, summary, claim
             FROM jobs WHERE repository = $1 ORDER BY id DESC LIMIT $2",
            repository.as_str(),
            i64::from(limit),
        )
        .fetch_all(&self.pool)
        .await
        .context("listing a repository's jobs")?;
        Ok(rows.into_iter().map(JobRow::into_job).collect())
    }

    async fn open_jobs(&self) -> anyhow::Result<i64> {
        let n: i64 = pg_query_scalar!(
            "SELECT count(*) AS \"n!\" FROM jobs WHERE status IN ('queued', 'running')"
        )
        .fetch_one(&self.pool)
        .await
        .context("counting open jobs")?;
        Ok(n)
    }

    async fn record_plan(&self, plan: &StoredPlan) -> anyhow::Result<()> {
        let mut conn = self.pool.acquire().await.context("recording a plan")?;
        upsert_plan(&mut conn, &self.sealer, plan).await
    }

    async fn plans_of_pr(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
    ) -> anyhow::Result<Vec<StoredPlan>> {
        let rows = pg_query_as!(
            SealedPlanRow,
            "SELECT repository, pr, dir, workspace, project, head_sha, outcome, planfile, job_id,
                    created_at, tool_distribution, tool_version, tool_sha256
             FROM plans WHERE repository = $1 AND pr = $2
             ORDER BY dir, workspace, project",
            repository.as_str(),
            pr.0 as i64,
        )
        .fetch_all(&self.pool)
        .await
        .context("reading a pull request's plans")?;
        rows.into_iter()
            .map(|r| r.into_plan(&self.sealer))
            .collect()
    }

    async fn forget_planfile(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
        target: &Target,
        head_sha: &Sha,
    ) -> anyhow::Result<bool> {
        let done = pg_execute!(
            "UPDATE plans SET planfile = NULL
             WHERE repository = $1 AND pr = $2 AND dir = $3 AND workspace = $4 AND project = $5
               AND head_sha = $6 AND planfile IS NOT NULL",
            repository.as_str(),
            pr.0 as i64,
            target.dir.as_str(),
            target.workspace.as_str(),
            project_key(target),
            head_sha.as_str(),
        )
        .execute(&self.pool)
        .await
        .context("forgetting an applied planfile")?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_plans(&self, repository: &RepoKey, pr: PrNumber) -> anyhow::Result<u64> {
        let done = pg_execute!(
            "DELETE FROM plans WHERE repository = $1 AND pr = $2",
            repository.as_str(),
            pr.0 as i64,
        )
        .execute(&self.pool)
        .await
        .context("deleting a pull request's plans")?;
        Ok(done.rows_affected())
    }

    async fn pr_comments(&self, repository: &RepoKey, pr: PrNumber) -> anyhow::Result<PrComments> {
        let rows = pg_query_as!(
            CommentRow,
            "SELECT part, comment_id, node_id FROM pr_comments
             WHERE repository = $1 AND pr = $2 ORDER BY part",
            repository.as_str(),
            pr.0 as i64,
        )
        .fetch_all(&self.pool)
        .await
        .context("reading bosun's comments on a pull request")?;
        Ok(PrComments::from_rows(
            rows.into_iter()
                .map(|r| (r.part, r.comment_id, r.node_id))
                .collect(),
        ))
    }

    async fn begin_pr_comment(&self, repository: &RepoKey, pr: PrNumber) -> anyhow::Result<()> {
        pg_execute!(
            "INSERT INTO pr_comments (repository, pr, part, comment_id, node_id)
             VALUES ($1, $2, $3, 0, '')
             ON CONFLICT (repository, pr, part) DO NOTHING",
            repository.as_str(),
            pr.0 as i64,
            POSTING_MARK,
        )
        .execute(&self.pool)
        .await
        .context("marking a comment as being posted")?;
        Ok(())
    }

    async fn set_pr_comments(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
        comments: &[PrComment],
    ) -> anyhow::Result<()> {
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting to replace bosun's comments")?;
        take_turn(&mut tx, Guarded::PrComments, &format!("{repository}#{pr}")).await?;
        pg_execute!(
            "DELETE FROM pr_comments WHERE repository = $1 AND pr = $2",
            repository.as_str(),
            pr.0 as i64,
        )
        .execute(&mut *tx)
        .await
        .context("replacing bosun's comments")?;
        for c in comments {
            pg_execute!(
                "INSERT INTO pr_comments (repository, pr, part, comment_id, node_id)
                 VALUES ($1, $2, $3, $4, $5)",
                repository.as_str(),
                pr.0 as i64,
                c.part as i64,
                c.comment_id as i64,
                &c.node_id,
            )
            .execute(&mut *tx)
            .await
            .context("recording bosun's comments")?;
        }
        tx.commit().await.context("committing bosun's comments")?;
        Ok(())
    }
}
