use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;

use super::*;
use crate::event::Event;
use crate::store::{DeliveryStatus, NewDelivery, SqliteStore};

const LEASE: Duration = Duration::from_secs(300);

/// Fails with the given errors in turn, then succeeds; counts calls per delivery.
#[derive(Default)]
struct Scripted {
    failures: Mutex<Vec<&'static str>>,
    calls: AtomicU32,
}

#[async_trait]
impl Dispatcher for Scripted {
    async fn dispatch(&self, _id: &str, event: &Event) -> Result<String, DispatchError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let next = self.failures.lock().unwrap().pop();
        match next {
            Some("panic") => panic!("dispatcher bug"),
            Some("permanent") => Err(DispatchError::Permanent(anyhow::anyhow!("bad event"))),
            Some(other) => Err(DispatchError::Transient(anyhow::anyhow!("{other}"))),
            None => Ok(format!("did {}", event.name())),
        }
    }
}

fn push_payload() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/webhooks/examples/push.json"
    );
    let all: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    serde_json::to_vec(&all[1]).unwrap()
}

async fn setup(
    failures: &[&'static str],
    max_attempts: u32,
) -> (tempfile::TempDir, DeliveryWorker, Arc<Scripted>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&format!("sqlite://{}", dir.path().join("b.db").display()))
        .await
        .unwrap();
    let dispatcher = Arc::new(Scripted {
        failures: Mutex::new(failures.iter().rev().copied().collect()),
        ..Default::default()
    });
    let worker = DeliveryWorker {
        store: Arc::new(store),
        dispatcher: dispatcher.clone(),
        metrics: Arc::new(Metrics::default()),
        stored: Arc::new(Notify::new()),
        max_attempts,
        retry_base: Duration::from_millis(1),
        lease: LEASE,
        intake: None,
    };
    (dir, worker, dispatcher)
}

async fn add(worker: &DeliveryWorker, id: &str, event: &str, payload: Vec<u8>) {
    worker
        .store
        .insert_deliveries(&[NewDelivery {
            id: id.into(),
            event: event.into(),
            action: None,
            repository: None,
            installation_id: None,
            received_at: now_millis(),
            payload: crate::store::Payload::pack(&payload),
        }])
        .await
        .unwrap();
}

/// Processes whatever is due until nothing is left or `rounds` run out.
async fn drain(worker: &DeliveryWorker, rounds: usize) {
    for _ in 0..rounds {
        match worker
            .store
            .claim_delivery(now_millis() + 10_000_000, LEASE)
            .await
            .unwrap()
        {
            Some(d) => worker.process(d).await,
            None => return,
        }
    }
}

#[tokio::test]
async fn a_delivery_is_dispatched_and_recorded_once() {
    let (_d, worker, dispatcher) = setup(&[], 3).await;
    add(&worker, "d1", "push", push_payload()).await;
    drain(&worker, 10).await;
    assert_eq!(dispatcher.calls.load(Ordering::SeqCst), 1);
    let rec = worker.store.delivery("d1").await.unwrap().unwrap();
    assert_eq!(rec.status, DeliveryStatus::Done);
    let ev = worker.store.processed_event("d1").await.unwrap().unwrap();
    assert_eq!(ev.kind, "push");
    assert!(ev.handled);
    assert_eq!(ev.summary, "did push");
}

#[tokio::test]
async fn transient_failures_are_retried_then_succeed() {
    let (_d, worker, dispatcher) = setup(&["github down", "github down"], 5).await;
    add(&worker, "d1", "push", push_payload()).await;
    drain(&worker, 10).await;
    assert_eq!(dispatcher.calls.load(Ordering::SeqCst), 3);
    let rec = worker.store.delivery("d1").await.unwrap().unwrap();
    assert_eq!((rec.status, rec.attempts), (DeliveryStatus::Done, 3));
}

#[tokio::test]
async fn retries_wait_for_the_backoff() {
    let (_d, mut worker, _) = setup(&["down"], 5).await;
    worker.retry_base = Duration::from_secs(60);
    add(&worker, "d1", "push", push_payload()).await;
    let d = worker
        .store
        .claim_delivery(now_millis(), LEASE)
        .await
        .unwrap()
        .unwrap();
    worker.process(d).await;
    assert!(
        worker
            .store
            .claim_delivery(now_millis(), LEASE)
            .await
            .unwrap()
            .is_none(),
        "not due yet"
    );
    let due = worker.store.next_delivery_due().await.unwrap().unwrap();
    assert!(due >= now_millis() + 50_000, "due in about a minute");
}

#[tokio::test]
async fn persistent_failures_are_marked_failed_and_kept() {
    let (_d, worker, dispatcher) = setup(&["down", "down", "down", "down"], 3).await;
    add(&worker, "d1", "push", push_payload()).await;
    drain(&worker, 10).await;
    assert_eq!(dispatcher.calls.load(Ordering::SeqCst), 3);
    let rec = worker.store.delivery("d1").await.unwrap().unwrap();
    assert_eq!(rec.status, DeliveryStatus::Failed);
    assert!(rec.last_error.unwrap().contains("gave up after 3 attempts"));
    assert!(worker.store.processed_event("d1").await.unwrap().is_none());
}

#[tokio::test]
async fn permanent_errors_and_panics_fail_at_once() {
    let (_d, worker, dispatcher) = setup(&["permanent", "panic"], 5).await;
    add(&worker, "d1", "push", push_payload()).await;
    add(&worker, "d2", "push", push_payload()).await;
    drain(&worker, 10).await;
    assert_eq!(dispatcher.calls.load(Ordering::SeqCst), 2);
    let d1 = worker.store.delivery("d1").await.unwrap().unwrap();
    assert_eq!(d1.status, DeliveryStatus::Failed);
    assert_eq!(d1.last_error.as_deref(), Some("bad event"));
    let d2 = worker.store.delivery("d2").await.unwrap().unwrap();
    assert_eq!(d2.last_error.as_deref(), Some("the dispatcher panicked"));
}

#[tokio::test]
async fn unparseable_stored_payloads_fail_and_ignored_actions_are_recorded() {
    let (_d, worker, dispatcher) = setup(&[], 5).await;
    add(&worker, "bad", "push", b"{not json".to_vec()).await;
    add(
        &worker,
        "label",
        "pull_request",
        br#"{"action":"labeled"}"#.to_vec(),
    )
    .await;
    drain(&worker, 10).await;
    assert_eq!(dispatcher.calls.load(Ordering::SeqCst), 0);
    let bad = worker.store.delivery("bad").await.unwrap().unwrap();
    assert_eq!(bad.status, DeliveryStatus::Failed);
    assert!(bad.last_error.unwrap().starts_with("invalid push payload"));
    let label = worker
        .store
        .processed_event("label")
        .await
        .unwrap()
        .unwrap();
    assert!(!label.handled);
    assert_eq!(label.kind, "pull_request");
}

#[tokio::test]
async fn the_run_loop_wakes_on_new_deliveries_and_stops_when_cancelled() {
    let (_d, worker, dispatcher) = setup(&[], 3).await;
    let cancel = CancellationToken::new();
    let task = tokio::spawn(worker.clone().run(cancel.clone()));
    add(&worker, "d1", "push", push_payload()).await;
    worker.stored.notify_one();
    for _ in 0..200 {
        if dispatcher.calls.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(dispatcher.calls.load(Ordering::SeqCst), 1);
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_claim_waits_for_deliveries_being_stored_at_most_intake_first() {
    use sqlx::Connection as _;

    let (_d, mut worker, dispatcher) = setup(&[], 3).await;
    add(&worker, "d1", "push", push_payload()).await;
    // An intake on another store, whose delivery cannot commit while `blocker` holds the lock.
    let other = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", other.path().join("i.db").display());
    let intake = Ingest::start(
        Arc::new(SqliteStore::open(&url).await.unwrap()),
        Arc::default(),
    );
    let mut blocker = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let storing = tokio::spawn({
        let intake = intake.clone();
        async move {
            intake
                .store(NewDelivery {
                    id: "i1".into(),
                    event: "push".into(),
                    action: None,
                    repository: None,
                    installation_id: None,
                    received_at: now_millis(),
                    payload: crate::store::Payload::pack(b"{}"),
                })
                .await
        }
    });
    while intake.waiting() == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    worker.intake = Some(intake);

    let started = std::time::Instant::now();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(worker.clone().run(cancel.clone()));
    while dispatcher.calls.load(Ordering::SeqCst) == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "never claimed");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Claimed only once the wait for the intake ran out: never before, never much later.
    assert!(started.elapsed() >= INTAKE_FIRST, "{:?}", started.elapsed());

    cancel.cancel();
    task.await.unwrap();
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut blocker)
        .await
        .unwrap();
    assert!(storing.await.unwrap().is_ok());
}
