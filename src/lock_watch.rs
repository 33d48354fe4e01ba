//! Locks held too long: every tick the replica leading this duty announces, once each, the
//! project locks held longer than BOSUN_NOTIFY_LOCK_AGE (`lock_held` messages). The store
//! records each announcement before it is queued, so no lock is announced twice, whichever
//! replica leads or restarts.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::notify::{Kind, Outbox};
use crate::store::fleet::{Duty, leads};
use crate::store::{Millis, Store};

/// Locks announced per tick at most (the rest at the next ticks).
const MAX_PER_TICK: u32 = 100;

pub struct LockWatch {
    pub store: Arc<dyn Store>,
    pub outbox: Outbox,
    /// BOSUN_NOTIFY_LOCK_AGE.
    pub age: Duration,
}

impl LockWatch {
    /// How often it looks: a quarter of the age, between 1 s and a minute.
    pub fn interval(&self) -> Duration {
        (self.age / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
    }

    /// Ticks every [`Self::interval`] until cancelled.
    pub async fn run(self, cancel: CancellationToken) {
        let interval = self.interval();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = cancel.cancelled() => return,
            }
            if let Err(e) = self.tick_if_leader(crate::store::now_millis()).await {
                tracing::warn!(error = format!("{e:#}"), "the lock watch failed");
            }
        }
    }

    /// Announces the locks older than the age at `now` not announced yet, if this replica
    /// leads the duty; returns how many it announced.
    pub async fn tick_if_leader(&self, now: Millis) -> anyhow::Result<usize> {
        if !leads(&*self.store, Duty::LockWatch).await {
            return Ok(0);
        }
        let age = Millis::try_from(self.age.as_millis()).unwrap_or(Millis::MAX);
        let due = self
            .store
            .locks_to_announce(now.saturating_sub(age), MAX_PER_TICK)
            .await?;
        let mut announced = 0;
        for lock in due {
            if !self.store.mark_lock_announced(&lock, now).await? {
                continue;
            }
            let held = Duration::from_millis(u64::try_from(now - lock.created_at).unwrap_or(0));
            // Locks are kept under the repository's key; people know it by its name now.
            let repo =
                crate::store::repositories::display_name(self.store.as_ref(), &lock.repository)
                    .await;
            let link = self.outbox.pr_link(&repo, lock.pr);
            self.outbox.post(
                Kind::LockHeld,
                crate::render::notify::lock_held(&repo, lock.pr, &lock.target, held, &link),
            );
            announced += 1;
        }
        Ok(announced)
    }
}
