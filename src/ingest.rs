//! Group commit for accepted deliveries: the webhook handler hands a delivery over and waits;
//! one writer task stores everything that queued up meanwhile in a single durable transaction,
//! then answers every waiter and wakes the worker. Many concurrent deliveries cost one commit.

use std::sync::Arc;

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
}

impl Ingest {
    /// Starts the writer task. `stored` is notified after each committed batch.
    pub fn start(store: Arc<dyn Store>, stored: Arc<Notify>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(store, rx, stored));
        Self { tx }
    }

    /// Stores a delivery durably; returns once it is committed (or was a duplicate).
    pub async fn store(&self, delivery: NewDelivery) -> Result<Inserted, String> {
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
