//! PostgreSQL: the audit trail, shared by every replica; ids come from the table's sequence.

use crate::ids::Sha;
use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::Postgres;

use super::PgStore;
use crate::audit::{Entry, Filter, NewEntry};
use crate::store::Millis;
use crate::store::audit::{AuditStore, entry_of, select};
use crate::store::checked::{pg_execute, pg_query_scalar};

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(&self, entry: &NewEntry) -> anyhow::Result<i64> {
        let pr = entry.pr.map(|n| n.0 as i64);
        let project = entry.project.as_ref();
        let detail = crate::audit::bounded(&entry.detail);
        let id: i64 = pg_query_scalar!(
            "INSERT INTO audit (at, actor_kind, actor_name, kind, repository, pr, project, dir,
                                workspace, sha, outcome, detail, run_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             RETURNING id",
            entry.at,
            entry.actor.kind_str(),
            entry.actor.name(),
            entry.kind.as_str(),
            &entry.repository,
            pr,
            project.map(|p| p.name.as_str()),
            project.map(|p| p.dir.as_str()),
            project.map(|p| p.workspace.as_str()),
            entry.sha.as_ref().map(Sha::as_str),
            &entry.outcome,
            &detail,
            entry.run_id,
        )
        .fetch_one(&self.pool)
        .await
        .context("appending an audit entry")?;
        Ok(id)
    }

    async fn audit_entries(
        &self,
        filter: &Filter,
        before: Option<i64>,
        limit: u32,
    ) -> anyhow::Result<Vec<Entry>> {
        let rows = select::<Postgres>(filter, before, limit)
            .build()
            .fetch_all(&self.pool)
            .await
            .context("reading the audit trail")?;
        rows.iter().map(entry_of).collect()
    }

    async fn prune_audit(&self, cutoff: Millis) -> anyhow::Result<u64> {
        let done = pg_execute!("DELETE FROM audit WHERE at < $1", cutoff,)
            .execute(&self.pool)
            .await
            .context("pruning the audit trail")?;
        Ok(done.rows_affected())
    }
}
