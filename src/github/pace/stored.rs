//! The fleet's share of the write budget: with a store several replicas share (PostgreSQL),
//! every paced write also takes a place in its installation's stored window, so a fleet of
//! replicas writes at one budget, not one each. With SQLite the store keeps no window and
//! the in-process [`super::Pacer`] is the whole budget.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::store::fleet::WriteToken;
use crate::store::{Store, now_millis};

/// Longest sleep between two asks of the stored window: places others leave untaken are seen.
const MAX_NAP: Duration = Duration::from_secs(5);

/// An installation's write budget kept in the store.
pub struct StoredBudget {
    store: Arc<dyn Store>,
    per_minute: u32,
    max_wait: Duration,
}

impl StoredBudget {
    /// A window per installation of at most `per_minute` writes in any minute; a write waits
    /// for a place at most 10 minutes, then runs anyway (as the pacer's own writes do).
    pub fn new(store: Arc<dyn Store>, per_minute: u32) -> Self {
        Self {
            store,
            per_minute,
            max_wait: Duration::from_secs(600),
        }
    }

    /// Waits until the installation's stored window has a place for this write. A store error
    /// lets the write run (logged): the in-process pacer still paces this replica.
    pub async fn spend(&self, installation_id: u64) {
        let installation = i64::try_from(installation_id).unwrap_or(i64::MAX);
        let deadline = Instant::now() + self.max_wait;
        loop {
            let answer = self
                .store
                .take_write_token(installation, self.per_minute, now_millis())
                .await;
            let wait = match answer {
                Ok(None | Some(WriteToken::Granted)) => return,
                Ok(Some(WriteToken::Denied { retry_after })) => retry_after.min(MAX_NAP),
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "the stored write budget is not reachable; writing on the local budget only"
                    );
                    return;
                }
            };
            if Instant::now() + wait >= deadline {
                tokio::time::sleep_until(deadline).await;
                return;
            }
            tokio::time::sleep(wait.max(Duration::from_millis(10))).await;
        }
    }
}
