//! The PostgreSQL backend of the lock notices.

use anyhow::Context as _;
use async_trait::async_trait;

use super::PgStore;
use crate::store::Millis;
use crate::store::checked::{pg_execute, pg_query_as};
use crate::store::lock_notices::LockNoticeStore;
use crate::store::locks::ProjectLock;
use crate::store::rows::locks::LockRow;

#[async_trait]
impl LockNoticeStore for PgStore {
    async fn locks_to_announce(
        &self,
        before: Millis,
        limit: u32,
    ) -> anyhow::Result<Vec<ProjectLock>> {
        let rows = pg_query_as!(
            LockRow,
            "SELECT l.repository, l.dir, l.workspace, l.project, l.pr, l.created_at FROM locks l
             WHERE l.created_at < $1 AND NOT EXISTS (
                 SELECT 1 FROM lock_notices n WHERE n.repository = l.repository
                 AND n.dir = l.dir AND n.workspace = l.workspace AND n.pr = l.pr
                 AND n.created_at = l.created_at)
             ORDER BY l.created_at, l.repository, l.dir, l.workspace LIMIT $2",
            before,
            i64::from(limit),
        )
        .fetch_all(&self.pool)
        .await
        .context("reading the locks held too long")?;
        Ok(rows.into_iter().map(LockRow::into_lock).collect())
    }

    async fn mark_lock_announced(&self, lock: &ProjectLock, now: Millis) -> anyhow::Result<bool> {
        let done = pg_execute!(
            "INSERT INTO lock_notices (repository, dir, workspace, pr, created_at, announced_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            lock.repository.as_str(),
            lock.target.dir.as_str(),
            lock.target.workspace.as_str(),
            lock.pr.0 as i64,
            lock.created_at,
            now,
        )
        .execute(&self.pool)
        .await
        .context("recording a lock's notice")?;
        Ok(done.rows_affected() == 1)
    }
}
