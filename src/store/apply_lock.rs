//! The global apply lock: while it holds, every apply (a comment's, and apply on merge) is
//! refused. Set and lifted through `/api/apply-lock`; kept in the store so it survives restarts.

use async_trait::async_trait;

use super::Millis;

/// The apply lock as it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyLock {
    pub locked_at: Millis,
}

#[async_trait]
pub trait ApplyLockStore: Send + Sync {
    /// Locks applies (a lock already held is kept as it is); returns the lock.
    async fn lock_applies(&self, now: Millis) -> anyhow::Result<ApplyLock>;

    /// Lifts the apply lock; returns whether it was held.
    async fn unlock_applies(&self) -> anyhow::Result<bool>;

    /// The apply lock, when it holds.
    async fn apply_lock(&self) -> anyhow::Result<Option<ApplyLock>>;
}
