//! The SQLite backend of the global apply lock.

use anyhow::Context as _;
use async_trait::async_trait;

use super::SqliteStore;
use crate::store::Millis;
use crate::store::apply_lock::{ApplyLock, ApplyLockStore};
use crate::store::checked::{sqlite_execute, sqlite_query_as};
use crate::store::rows::apply_lock::LockRow;

#[async_trait]
impl ApplyLockStore for SqliteStore {
    async fn lock_applies(&self, now: Millis) -> anyhow::Result<ApplyLock> {
        sqlite_execute!(
            "INSERT INTO apply_lock (id, locked_at) VALUES (1, ?) ON CONFLICT (id) DO NOTHING",
            now
        )
        .execute(&self.writer)
        .await
        .context("locking applies")?;
        self.apply_lock()
            .await?
            .context("the apply lock is not there after locking")
    }

    async fn unlock_applies(&self) -> anyhow::Result<bool> {
        let done = sqlite_execute!("DELETE FROM apply_lock")
            .execute(&self.writer)
            .await
            .context("unlocking applies")?;
        Ok(done.rows_affected() > 0)
    }

    async fn apply_lock(&self) -> anyhow::Result<Option<ApplyLock>> {
        let row = sqlite_query_as!(LockRow, "SELECT locked_at FROM apply_lock WHERE id = 1")
            .fetch_optional(&self.reader)
            .await
            .context("reading the apply lock")?;
        Ok(row.map(|r| ApplyLock {
            locked_at: r.locked_at,
        }))
    }
}
