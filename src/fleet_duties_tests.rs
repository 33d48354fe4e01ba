//! The once-per-fleet duties run on the replica that leads them only: two replicas on one
//! PostgreSQL database, each duty asked of both.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;

use crate::config::RepoAllowlist;
use crate::drift_sweep::DriftSweep;
use crate::github::local::LocalGitHub;
use crate::metrics::Metrics;
use crate::reconcile::Reconciler;
use crate::redelivery::Redelivery;
use crate::store::Store;
use crate::store::test_db::{Backend, TestDb};

fn duties(store: Arc<dyn Store>) -> (Redelivery, DriftSweep, Reconciler) {
    let github = Arc::new(LocalGitHub::client().0);
    let enqueued = Arc::new(Notify::new());
    (
        Redelivery {
            github: github.clone(),
            store: store.clone(),
            metrics: Arc::new(Metrics::default()),
            lookback: Duration::from_secs(3600),
        },
        DriftSweep {
            github,
            store: store.clone(),
            allowlist: RepoAllowlist::parse("acme/*").expect("a valid allowlist"),
            enqueued: enqueued.clone(),
        },
        Reconciler { store, enqueued },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_duty_runs_on_its_leader_only() {
    let db = TestDb::new(Backend::Postgres).await;
    let (scan_a, sweep_a, reconcile_a) = duties(db.open().await);
    let (scan_b, sweep_b, reconcile_b) = duties(db.open().await);
    let now = SystemTime::now();
    // Replica a asks first for two duties, replica b for the third.
    assert!(scan_a.scan_if_leader().await.unwrap().is_some());
    assert_eq!(sweep_a.sweep_if_leader(now).await.unwrap(), Some(0));
    assert_eq!(reconcile_b.tick_if_leader(0).await.unwrap(), Some(0));
    assert!(scan_b.scan_if_leader().await.unwrap().is_none());
    assert_eq!(sweep_b.sweep_if_leader(now).await.unwrap(), None);
    assert_eq!(reconcile_a.tick_if_leader(0).await.unwrap(), None);
    // Leaders keep leading.
    assert!(scan_a.scan_if_leader().await.unwrap().is_some());
    assert_eq!(reconcile_b.tick_if_leader(0).await.unwrap(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sqlite_replica_runs_every_duty() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (scan, sweep, reconcile) = duties(db.open().await);
    assert!(scan.scan_if_leader().await.unwrap().is_some());
    assert_eq!(
        sweep.sweep_if_leader(SystemTime::now()).await.unwrap(),
        Some(0)
    );
    assert_eq!(reconcile.tick_if_leader(0).await.unwrap(), Some(0));
}
