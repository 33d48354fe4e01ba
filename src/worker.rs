//! The delivery worker: takes stored deliveries in order of receipt, parses each into a typed
//! event, hands it to the dispatcher, and records the outcome — done, retry later, or failed.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::dispatch::{DispatchError, Dispatcher};
use crate::github::webhook::{self, Parsed};
use crate::ingest::Ingest;
use crate::metrics::{Metrics, ProcessedLabels};
use crate::redact::Redactor;
use crate::store::{ClaimedDelivery, ProcessedEvent, Store, now_millis};

/// The longest a failing delivery waits between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The worker looks at the store at least this often even without a wake-up.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// The longest a claim waits for deliveries being stored to be committed and answered first.
pub const INTAKE_FIRST: Duration = Duration::from_millis(50);

#[derive(Clone)]
pub struct DeliveryWorker {
    pub store: Arc<dyn Store>,
    pub dispatcher: Arc<dyn Dispatcher>,
    pub metrics: Arc<Metrics>,
    /// Notified when new deliveries are stored.
    pub stored: Arc<Notify>,
    pub max_attempts: u32,
    pub retry_base: Duration,
    /// How long a claim holds before another worker may take the delivery over
    /// (BOSUN_JOB_LEASE).
    pub lease: Duration,
    /// The webhook intake, answered before the worker claims (see [`Ingest::wait_quiet`]).
    pub intake: Option<Ingest>,
}

impl DeliveryWorker {
    /// Processes deliveries until `cancel` fires.
    pub async fn run(self, cancel: CancellationToken) {
        while !cancel.is_cancelled() {
            if let Some(intake) = &self.intake {
                intake.wait_quiet(INTAKE_FIRST).await;
            }
            match self.store.claim_delivery(now_millis(), self.lease).await {
                Ok(Some(delivery)) => self.process(delivery).await,
                Ok(None) => {
                    let wait = self.idle_wait().await;
                    tokio::select! {
                        _ = self.stored.notified() => {}
                        _ = tokio::time::sleep(wait) => {}
                        _ = cancel.cancelled() => {}
                    }
                }
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "claiming a delivery failed");
                    tokio::select! {
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                        _ = cancel.cancelled() => {}
                    }
                }
            }
        }
    }

    async fn idle_wait(&self) -> Duration {
        match self.store.next_delivery_due().await {
            Ok(Some(due)) => Duration::from_millis(
                (due - now_millis()).clamp(0, IDLE_POLL.as_millis() as i64) as u64,
            ),
            _ => IDLE_POLL,
        }
    }

    /// Processes one claimed delivery inside its own span.
    pub async fn process(&self, d: ClaimedDelivery) {
        let span = tracing::info_span!(
            "delivery",
            id = %d.id,
            event = %d.event,
            action = d.action.as_deref().unwrap_or(""),
            repo = d.repository.as_deref().unwrap_or(""),
            attempt = d.attempts,
        );
        self.process_inner(d).instrument(span).await
    }

    async fn process_inner(&self, d: ClaimedDelivery) {
        let parsed = match &d.payload {
            Ok(payload) => webhook::parse(&d.event, payload).map_err(anyhow::Error::from),
            Err(e) => Err(anyhow::anyhow!("{e}")),
        };
        let outcome = match parsed {
            Err(e) => Err(DispatchError::Permanent(e)),
            Ok(Parsed::Ignored(reason)) => Ok(ProcessedEvent {
                kind: match &d.action {
                    Some(action) => format!("{}.{action}", d.event),
                    None => d.event.clone(),
                },
                repository: d.repository.clone(),
                pr: None,
                handled: false,
                summary: reason,
            }),
            Ok(Parsed::Event(event)) => {
                let dispatched = AssertUnwindSafe(self.dispatcher.dispatch(&d.id, &event))
                    .catch_unwind()
                    .await;
                match dispatched {
                    Ok(Ok(summary)) => Ok(ProcessedEvent {
                        kind: event.name(),
                        repository: event.repo.as_ref().map(|r| r.full_name.clone()),
                        pr: event.pr_number(),
                        handled: true,
                        summary,
                    }),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(DispatchError::Permanent(anyhow::anyhow!(
                        "the dispatcher panicked"
                    ))),
                }
            }
        };
        let now = now_millis();
        let recorded = match outcome {
            Ok(event) => {
                let result = if event.handled { "handled" } else { "ignored" };
                let r = self.store.finish_delivery(d.seq, &event, now).await;
                if r.is_ok() {
                    self.metrics
                        .processed
                        .get_or_create(&ProcessedLabels { result })
                        .inc();
                    self.metrics
                        .processing_seconds
                        .observe((now - d.received_at).max(0) as f64 / 1000.0);
                    tracing::debug!(result, "delivery processed");
                }
                r
            }
            Err(DispatchError::Transient(e)) if d.attempts < self.max_attempts => {
                let wait = self.backoff(d.attempts);
                tracing::warn!(
                    error = format!("{e:#}"),
                    retry_in_ms = wait.as_millis() as u64,
                    "delivery failed; will retry"
                );
                self.metrics
                    .processed
                    .get_or_create(&ProcessedLabels { result: "retried" })
                    .inc();
                let error = Redactor::process().redact_owned(format!("{e:#}"));
                self.store
                    .retry_delivery(d.seq, &error, now + wait.as_millis() as i64)
                    .await
            }
            Err(e) => {
                let e = match e {
                    DispatchError::Transient(e) => {
                        e.context(format!("gave up after {} attempts", d.attempts))
                    }
                    DispatchError::Permanent(e) => e,
                };
                tracing::error!(
                    error = format!("{e:#}"),
                    "delivery failed; kept for inspection"
                );
                self.metrics
                    .processed
                    .get_or_create(&ProcessedLabels { result: "failed" })
                    .inc();
                let error = Redactor::process().redact_owned(format!("{e:#}"));
                self.store.fail_delivery(d.seq, &error, now).await
            }
        };
        if let Err(e) = recorded {
            // The lease runs out and the delivery is taken again: nothing is lost.
            tracing::error!(
                error = format!("{e:#}"),
                "recording the delivery's outcome failed"
            );
        }
    }

    /// `retry_base` doubled per attempt, capped, with up to 10% jitter.
    /// Ours, not `backon`: the retry is a stored due time, so this is attempt n's wait from the
    /// stored count (backon drives in-process retry loops), and backon's jitter adds up to 100%,
    /// not 10%.
    fn backoff(&self, attempts: u32) -> Duration {
        let exp = self
            .retry_base
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(20))
            .min(MAX_BACKOFF);
        exp + exp.mul_f64(fastrand::f64() * 0.1)
    }
}

#[cfg(test)]
mod tests;
