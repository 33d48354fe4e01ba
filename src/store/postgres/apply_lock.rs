//! The PostgreSQL backend of the global apply lock.

use anyhow::Context as _;
use async_trait::async_trait;

use super::PgStore;
use crate::store::Millis;
use crate::store::apply_lock::{ApplyLock, ApplyLockStore};
use crate::store::checked::{pg_execute, pg_query_as};
use crate::store::rows::apply_lock::LockRow;

#[async_trait]
impl ApplyLockStore for PgStore {
    async fn lock_applies(&self, now: Millis) -> anyhow::Result<ApplyLock> {
        pg_execute!(
            "INSERT INTO apply_lock (id, locked_at) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
            now
        )
        .execute(&self.pool)
        .await
        .context("locking applies")?;
        self.apply_lock()
            .await?
            .context("the apply lock is not there after locking")
    }

    async fn unlock_applies(&self) -> anyhow::Result<bool> {
        let done = pg_execute!("DELETE FROM apply_lock")
            .execute(&self.pool)
            .await
            .context("unlocking applies")?;
        Ok(done.rows_affected() > 0)
    }

    async fn apply_lock(&self) -> anyhow::Result<Option<ApplyLock>> {
        let row = pg_query_as!(LockRow, "SELECT locked_at FROM apply_lock WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .context("reading the apply lock")?;
        Ok(row.map(|r| ApplyLock {
            locked_at: r.locked_at,
        }))
    }
}
