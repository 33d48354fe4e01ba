//! The PostgreSQL backend of policy checks' results and approvals.

use crate::ids::RepoKey;
use crate::ids::{PrNumber, Sha};
use anyhow::Context as _;
use async_trait::async_trait;

use super::PgStore;
use crate::ids::{Dir, Workspace};
use crate::plan::Target;
use crate::store::Millis;
use crate::store::checked::{pg_execute, pg_query_as};
use crate::store::policies::{PolicyApproval, PolicyResult, PolicyStore};
use crate::store::rows::policies::ApprovalRow;

fn messages(text: &str) -> anyhow::Result<Vec<String>> {
    serde_json::from_str(text).context("reading stored policy messages")
}

/// A row of `policy_results` (of one commit).
#[derive(sqlx::FromRow)]
struct ResultRow {
    dir: String,
    workspace: String,
    project: String,
    policy_set: String,
    passed: bool,
    failures: String,
    warnings: String,
}

impl ResultRow {
    fn into_result(self) -> anyhow::Result<PolicyResult> {
        Ok(PolicyResult {
            target: Target {
                dir: Dir::new(self.dir),
                workspace: Workspace::new(self.workspace),
                name: Some(self.project).filter(|p| !p.is_empty()),
            },
            policy_set: self.policy_set,
            passed: self.passed,
            failures: messages(&self.failures)?,
            warnings: messages(&self.warnings)?,
        })
    }
}

#[async_trait]
impl PolicyStore for PgStore {
    async fn record_policy_results(
        &self,
        (repository, pr): (&RepoKey, PrNumber),
        target: &Target,
        head_sha: &Sha,
        results: &[PolicyResult],
        now: Millis,
    ) -> anyhow::Result<()> {
        let project = target.name.as_deref().unwrap_or("");
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting to record policy results")?;
        pg_execute!(
            "DELETE FROM policy_results WHERE repository = $1 AND pr = $2 AND dir = $3
             AND workspace = $4 AND project = $5 AND head_sha = $6",
            repository.as_str(),
            pr.0 as i64,
            target.dir.as_str(),
            target.workspace.as_str(),
            project,
            head_sha.as_str(),
        )
        .execute(&mut *tx)
        .await
        .context("replacing policy results")?;
        for r in results {
            pg_execute!(
                "INSERT INTO policy_results (repository, pr, dir, workspace, project, head_sha,
                 policy_set, passed, failures, warnings, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT DO NOTHING",
                repository.as_str(),
                pr.0 as i64,
                target.dir.as_str(),
                target.workspace.as_str(),
                project,
                head_sha.as_str(),
                &r.policy_set,
                r.passed,
                serde_json::to_string(&r.failures)?,
                serde_json::to_string(&r.warnings)?,
                now,
            )
            .execute(&mut *tx)
            .await
            .context("recording a policy result")?;
        }
        tx.commit().await.context("recording policy results")?;
        Ok(())
    }

    async fn policy_results(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
        head_sha: &Sha,
    ) -> anyhow::Result<Vec<PolicyResult>> {
        let rows = pg_query_as!(
            ResultRow,
            "SELECT dir, workspace, project, policy_set, passed, failures, warnings
             FROM policy_results WHERE repository = $1 AND pr = $2 AND head_sha = $3
             ORDER BY dir, workspace, project, policy_set",
            repository.as_str(),
            pr.0 as i64,
            head_sha.as_str(),
        )
        .fetch_all(&self.pool)
        .await
        .context("reading policy results")?;
        rows.into_iter().map(ResultRow::into_result).collect()
    }

    async fn approve_policy(
        &self,
        (repository, pr): (&RepoKey, PrNumber),
        head_sha: &Sha,
        policy_set: &str,
        approver: &str,
        now: Millis,
    ) -> anyhow::Result<bool> {
        let done = pg_execute!(
            "INSERT INTO policy_approvals (repository, pr, head_sha, policy_set, approver, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            repository.as_str(),
            pr.0 as i64,
            head_sha.as_str(),
            policy_set,
            approver.to_lowercase(),
            now,
        )
        .execute(&self.pool)
        .await
        .context("recording a policy approval")?;
        Ok(done.rows_affected() == 1)
    }

    async fn clear_policy_approvals(
        &self,
        (repository, pr): (&RepoKey, PrNumber),
        head_sha: &Sha,
        approver: &str,
    ) -> anyhow::Result<u64> {
        let done = pg_execute!(
            "DELETE FROM policy_approvals WHERE repository = $1 AND pr = $2 AND head_sha = $3
             AND approver = $4",
            repository.as_str(),
            pr.0 as i64,
            head_sha.as_str(),
            approver.to_lowercase(),
        )
        .execute(&self.pool)
        .await
        .context("clearing policy approvals")?;
        Ok(done.rows_affected())
    }

    async fn policy_approvals(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
        head_sha: &Sha,
    ) -> anyhow::Result<Vec<PolicyApproval>> {
        let rows = pg_query_as!(
            ApprovalRow,
            "SELECT policy_set, approver FROM policy_approvals
             WHERE repository = $1 AND pr = $2 AND head_sha = $3
             ORDER BY policy_set, approver",
            repository.as_str(),
            pr.0 as i64,
            head_sha.as_str(),
        )
        .fetch_all(&self.pool)
        .await
        .context("reading policy approvals")?;
        Ok(rows
            .into_iter()
            .map(|r| PolicyApproval {
                policy_set: r.policy_set,
                approver: r.approver,
            })
            .collect())
    }
}
