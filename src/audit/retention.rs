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
