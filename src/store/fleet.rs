//! What several replicas of one fleet share beyond the work queue: leadership of the duties
//! that run once per fleet, and GitHub's write budget of each installation. A store shared by
//! no other replica (SQLite) always leads and has no shared budget.

use std::time::Duration;

use super::Store;

/// A duty one replica of a fleet runs at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Duty {
    /// The scan that asks GitHub to redeliver failed webhooks (`redelivery`).
    RedeliveryScan = 1,
    /// The drift schedule's tick (`drift_sweep`).
    DriftSchedule = 2,
    /// The reconciler's tick (`reconcile`).
    Reconcile = 3,
    /// The watch for locks held too long (`lock_watch`).
    LockWatch = 4,
    /// The audit trail's pruning by age (`audit::retention`).
    AuditRetention = 5,
}

/// The answer of a stored write budget to one write.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WriteToken {
    /// The write took a place in the window: it may run.
    Granted,
    /// The window is full; a place frees after this long.
    Denied { retry_after: Duration },
}

/// Whether this replica leads `duty` now. A store error counts as not leading (logged): a
/// duty skipped is run at the next tick, by this replica or another.
pub async fn leads(store: &dyn Store, duty: Duty) -> bool {
    match store.lead(duty).await {
        Ok(leads) => {
            if !leads {
                tracing::debug!(?duty, "another replica leads this duty");
            }
            leads
        }
        Err(e) => {
            tracing::warn!(
                ?duty,
                error = format!("{e:#}"),
                "cannot tell who leads; skipping"
            );
            false
        }
    }
}
