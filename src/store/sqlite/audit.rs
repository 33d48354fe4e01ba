//! SQLite: the audit trail. Appends and prunes go through the single writer.

use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::Sqlite;

use super::SqliteStore;
use crate::audit::{Entry, Filter, NewEntry};
use crate::store::Millis;
use crate::store::audit::{AuditStore, entry_of, insert, select};
use crate::store::checked::sqlite_execute;

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, entry: &NewEntry) -> anyhow::Result<i64> {
        let id: i64 = insert::<Sqlite>(entry)
            .build_query_scalar()
            .fetch_one(&self.writer)
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
        let rows = select::<Sqlite>(filter, before, limit)
            .build()
            .fetch_all(&self.reader)
            .await
            .context("reading the audit trail")?;
        rows.iter().map(entry_of).collect()
    }

    async fn prune_audit(&self, cutoff: Millis) -> anyhow::Result<u64> {
        let done = sqlite_execute!("DELETE FROM audit WHERE at < ?", cutoff,)
            .execute(&self.writer)
            .await
            .context("pruning the audit trail")?;
        Ok(done.rows_affected())
    }
}
