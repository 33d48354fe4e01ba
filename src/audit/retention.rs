//! BOSUN_AUDIT_RETENTION: entries older than this are pruned, by the one replica leading the
//! duty (see [`crate::store::fleet`]), once an hour. Unset, the trail is kept forever. This is
//! the only way an entry ever leaves the store.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::fleet::{Duty, leads};
use crate::store::{Millis, Store};

/// How often the leader prunes.
pub const EVERY: Duration = Duration::from_secs(3600);

pub struct Pruner {
    pub store: Arc<dyn Store>,
    /// Entries older than this go.
    pub keep: Duration,
}

impl Pruner {
    /// Prunes at start and then every [`EVERY`] until cancelled.
    pub async fn run(self, cancel: CancellationToken) {
        loop {
            match self.tick_if_leader(crate::store::now_millis()).await {
                Ok(Some(n)) if n > 0 => tracing::info!(entries = n, "audit: old entries pruned"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = format!("{e:#}"), "audit: pruning failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = cancel.cancelled() => return,
            }
        }
    }

    /// Prunes entries older than `keep` before `now`, if this replica leads the duty; `None`
    /// when another replica does.
    pub async fn tick_if_leader(&self, now: Millis) -> anyhow::Result<Option<u64>> {
        if !leads(&*self.store, Duty::AuditRetention).await {
            return Ok(None);
        }
        let keep = i64::try_from(self.keep.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now.saturating_sub(keep);
        self.store.prune_audit(cutoff).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Actor, Filter, Kind, NewEntry};
    use crate::store::test_db::{Backend, TestDb};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_the_leading_replica_prunes() {
        let db = TestDb::new(Backend::Postgres).await;
        let (a, b) = (db.open().await, db.open().await);
        let mut old = NewEntry::new(Kind::Plan, Actor::Bosun, "acme/infra", "planned");
        old.at = 1;
        a.append_audit(&old).await.unwrap();
        let keep = Duration::from_secs(60);
        let pruner = |store| Pruner { store, keep };
        let now = 10 * 60 * 1000;
        assert_eq!(
            pruner(b.clone()).tick_if_leader(now).await.unwrap(),
            Some(1)
        );
        assert_eq!(pruner(a.clone()).tick_if_leader(now).await.unwrap(), None);
        let left = a.audit_entries(&Filter::default(), None, 10).await.unwrap();
        assert!(left.is_empty());
    }
}
