//! The PostgreSQL backend of reviewed plans.

use crate::ids::RepoKey;
use crate::ids::{PrNumber, Sha};
use anyhow::Context as _;
use async_trait::async_trait;

use super::PgStore;
use crate::store::StoredPlan;
use crate::store::checked::{pg_execute, pg_query_as};
use crate::store::reviewed::ReviewStore;
use crate::store::rows::jobs::PlanRow;

#[async_trait]
impl ReviewStore for PgStore {
    async fn keep_reviewed_plans(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
        head_sha: &Sha,
    ) -> anyhow::Result<u64> {
        let done = pg_execute!(
            "INSERT INTO reviewed_plans
                 (repository, pr, dir, workspace, project, head_sha, outcome, job_id, created_at,
                  tool_distribution, tool_version, tool_sha256)
             SELECT repository, pr, dir, workspace, project, head_sha, outcome, job_id, created_at,
                    tool_distribution, tool_version, tool_sha256
             FROM plans WHERE repository = $1 AND pr = $2 AND head_sha = $3
             ON CONFLICT (repository, pr, dir, workspace, project) DO NOTHING",
            repository.as_str(),
            pr.0 as i64,
            head_sha.as_str(),
        )
        .execute(&self.pool)
        .await
        .context("keeping the reviewed plans")?;
        Ok(done.rows_affected())
    }

    async fn reviewed_plans(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
    ) -> anyhow::Result<Vec<StoredPlan>> {
        let rows = pg_query_as!(
            PlanRow,
            "SELECT repository, pr, dir, workspace, project, head_sha, outcome, job_id, created_at,
                    tool_distribution, tool_version, tool_sha256
             FROM reviewed_plans WHERE repository = $1 AND pr = $2
             ORDER BY dir, workspace, project",
            repository.as_str(),
            pr.0 as i64,
        )
        .fetch_all(&self.pool)
        .await
        .context("reading a pull request's reviewed plans")?;
        rows.into_iter().map(PlanRow::into_plan).collect()
    }

    async fn delete_reviewed_plans(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
    ) -> anyhow::Result<u64> {
        let done = pg_execute!(
            "DELETE FROM reviewed_plans WHERE repository = $1 AND pr = $2",
            repository.as_str(),
            pr.0 as i64,
        )
        .execute(&self.pool)
        .await
        .context("deleting a pull request's reviewed plans")?;
        Ok(done.rows_affected())
    }
}
