//! PostgreSQL: the audit trail, shared by every replica; ids come from the table's sequence.

use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::Postgres;

use super::PgStore;
use crate::audit::{Entry, Filter, NewEntry};
use crate::store::Millis;
use crate::store::audit::{AuditStore, entry_of, insert, select};
use crate::store::checked::pg_execute;

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(&self, entry: &NewEntry) -> anyhow::Result<i64> {
        let id: i64 = insert::<Postgres>(entry)
            .build_query_scalar()
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
