//! Group commit for accepted deliveries: the webhook handler hands a delivery over and waits;
//! one writer task stores everything that queued up meanwhile in a single durable transaction,
//! then answers every waiter and wakes the worker. Many concurrent deliveries cost one commit.
//!
//! Intake comes first: while deliveries are waiting for their commit, the delivery worker holds
//! back its claims ([`Ingest::wait_quiet`], bounded), so on SQLite's single writer a 202 never
//! queues behind the worker's bookkeeping. What is stored waits, and is never lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};

use crate::store::{Inserted, NewDelivery, Store};

/// Deliveries per transaction at most.
const MAX_BATCH: usize = 256;
/// Payload bytes per transaction at most (one oversized delivery still goes alone).
const MAX_BATCH_BYTES: usize = 32 << 20;
/// Deliveries waiting for the writer before handlers wait for room.
const QUEUE: usize = 1024;

type Reply = oneshot::Sender<Result<Inserted, String>>;

#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<(NewDelivery, Reply)>,
    waiting: Arc<Waiting>,
}

/// Deliveries handed over and not answered yet, and a wake-up when that falls to zero.
#[derive(Default)]
struct Waiting {
    deliveries: AtomicUsize,
    none: Notify,
}

/// One delivery counted in [`Waiting`] until dropped (answered, or its request abandoned).
struct Counted<'a>(&'a Waiting);

impl<'a> Counted<'a> {
    fn new(waiting: &'a Waiting) -> Self {
        waiting.deliveries.fetch_add(1, Ordering::SeqCst);
        Self(waiting)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        if self.0.deliveries.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.none.notify_waiters();
        }
    }
}

impl Ingest {
    /// Starts the writer task. `stored` is notified after each committed batch.
    pub fn start(store: Arc<dyn Store>, stored: Arc<Notify>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(store, rx, stored));
        Self {
            tx,
            waiting: Arc::default(),
        }
    }

    /// Stores a delivery durably; returns once it is committed (or was a duplicate).
    pub async fn store(&self, delivery: NewDelivery) -> Result<Inserted, String> {
        let _counted = Counted::new(&self.waiting);
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((delivery, reply))
            .await
            .map_err(|_| "the store writer has stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the store writer has stopped".to_owned())?
    }
}

impl Ingest {
    /// Deliveries handed over and not answered yet.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.deliveries.load(Ordering::SeqCst)
    }

    /// Returns once no delivery is waiting for its commit, or after `at_most`: the worker
    /// calls it before each claim, so a flood of deliveries is answered first and processed
    /// after, at one claim per `at_most` until it ebbs.
    pub async fn wait_quiet(&self, at_most: Duration) {
        let deadline = tokio::time::Instant::now() + at_most;
        loop {
            let none = self.waiting.none.notified();
            tokio::pin!(none);
            // Registered before the count is read: a fall to zero in between still wakes us.
            none.as_mut().enable();
            if self.waiting.deliveries.load(Ordering::SeqCst) == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, none).await.is_err() {
                return;
            }
        }
    }
}

async fn writer(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<(NewDelivery, Reply)>,
    stored: Arc<Notify>,
) {
    let mut deliveries = Vec::with_capacity(MAX_BATCH);
    let mut replies: Vec<Reply> = Vec::with_capacity(MAX_BATCH);
    while let Some((first, reply)) = rx.recv().await {
        let mut bytes = first.payload.len();
        deliveries.push(first);
        replies.push(reply);
        while deliveries.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok((d, r)) => {
                    bytes += d.payload.len();
                    deliveries.push(d);
                    replies.push(r);
                }
                Err(_) => break,
            }
        }
        match store.insert_deliveries(&deliveries).await {
            Ok(results) => {
                for (reply, result) in replies.drain(..).zip(results) {
                    let _ = reply.send(Ok(result));
                }
                stored.notify_one();
            }
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    batch = deliveries.len(),
                    "storing deliveries failed"
                );
                for reply in replies.drain(..) {
                    let _ = reply.send(Err("the store is unavailable".to_owned()));
                }
            }
        }
        deliveries.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use sqlx::Connection as _;

    use super::*;
    use crate::store::{Payload, SqliteStore, now_millis};

    fn delivery(id: &str) -> NewDelivery {
        NewDelivery {
            id: id.into(),
            event: "push".into(),
            action: None,
            repository: None,
            installation_id: None,
            received_at: now_millis(),
            payload: Payload::pack(b"{}"),
        }
    }

    /// An ingest on a fresh store, and a second connection to hold the store's write lock.
    async fn ingest() -> (tempfile::TempDir, Ingest, sqlx::SqliteConnection) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("i.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let blocker = sqlx::SqliteConnection::connect(&url).await.unwrap();
        (dir, Ingest::start(Arc::new(store), Arc::default()), blocker)
    }

    #[tokio::test]
    async fn wait_quiet_returns_at_once_when_no_delivery_waits() {
        let (_dir, ingest, _blocker) = ingest().await;
        let started = Instant::now();
        ingest.wait_quiet(Duration::from_secs(10)).await;
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn wait_quiet_waits_for_a_delivery_being_stored_then_returns_when_it_is_answered() {
        let (_dir, ingest, mut blocker) = ingest().await;
        // The store cannot write until the blocker lets go.
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut blocker)
            .await
            .unwrap();
        let storing = tokio::spawn({
            let ingest = ingest.clone();
            async move { ingest.store(delivery("d1")).await }
        });
        while ingest.waiting() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let quiet = tokio::spawn({
            let ingest = ingest.clone();
            async move { ingest.wait_quiet(Duration::from_secs(20)).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!quiet.is_finished(), "returned while a delivery waited");

        sqlx::raw_sql("ROLLBACK")
            .execute(&mut blocker)
            .await
            .unwrap();
        let started = Instant::now();
        quiet.await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(matches!(storing.await.unwrap(), Ok(Inserted::New { .. })));
    }

    #[tokio::test]
    async fn wait_quiet_gives_up_after_at_most() {
        let (_dir, ingest, mut blocker) = ingest().await;
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut blocker)
            .await
            .unwrap();
        let _storing = tokio::spawn({
            let ingest = ingest.clone();
            async move { ingest.store(delivery("d1")).await }
        });
        while ingest.waiting() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let started = Instant::now();
        ingest.wait_quiet(Duration::from_millis(200)).await;
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_secs(3),
            "{waited:?}"
        );
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut blocker)
            .await
            .unwrap();
    }
}
