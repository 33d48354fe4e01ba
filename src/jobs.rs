//! The job worker: claims jobs from the store (jobs of one pull request one at a time, in
//! order; different pull requests side by side), runs each job's workflow inside a span, keeps
//! its lease alive while it runs, and records how it ended.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::store::{Job, JobStatus, Store, now_millis};
use crate::workflow::{self, Context};

/// A claim holds this long without renewal; a running job renews it every third of it.
const LEASE: Duration = Duration::from_secs(120);
/// The worker looks at the queue at least this often even without a wake-up.
const IDLE_POLL: Duration = Duration::from_millis(500);

pub struct JobWorker {
    pub ctx: Arc<Context>,
    /// Notified when jobs are enqueued.
    pub enqueued: Arc<Notify>,
    /// Jobs run at once.
    pub concurrency: usize,
}

impl JobWorker {
    /// Claims and runs jobs until `cancel` fires, then waits for the running ones.
    pub async fn run(self, cancel: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let finished = Arc::new(Notify::new());
        let mut running = tokio::task::JoinSet::new();
        while !cancel.is_cancelled() {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let claimed = self.ctx.store.claim_job(now_millis(), LEASE).await;
            match claimed {
                Ok(Some(job)) => {
                    let ctx = self.ctx.clone();
                    let finished = finished.clone();
                    running.spawn(async move {
                        run_job(&ctx, job).await;
                        drop(permit);
                        // The pull request's next job may now be claimed.
                        finished.notify_one();
                    });
                }
                Ok(None) => {
                    drop(permit);
                    tokio::select! {
                        _ = self.enqueued.notified() => {}
                        _ = finished.notified() => {}
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                        _ = cancel.cancelled() => {}
                    }
                }
                Err(e) => {
                    drop(permit);
                    tracing::error!(error = format!("{e:#}"), "claiming a job failed");
                    tokio::select! {
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                        _ = cancel.cancelled() => {}
                    }
                }
            }
            while running.try_join_next().is_some() {}
        }
        while running.join_next().await.is_some() {}
    }
}

/// Runs one job in its span, renewing its lease, and records its end.
pub async fn run_job(ctx: &Context, job: Job) {
    let span = tracing::info_span!(
        "job",
        id = job.id,
        kind = %job.kind,
        repo = %job.repository,
        pr = job.pr,
        attempt = job.attempts,
    );
    async {
        tracing::info!("job started");
        let renew = renew_lease(ctx.store.clone(), job.id);
        let work = AssertUnwindSafe(workflow::run(ctx, &job)).catch_unwind();
        let outcome = tokio::select! {
            outcome = work => outcome,
            _ = renew => unreachable_renewal(),
        };
        let (status, summary) = match outcome {
            Ok(Ok(summary)) => (JobStatus::Done, summary),
            Ok(Err(e)) => (JobStatus::Failed, format!("{e:#}")),
            Err(_) => (JobStatus::Failed, "the workflow panicked".to_owned()),
        };
        // Stored and logged: an error may quote anything, a secret included.
        let summary = ctx.redactor.redact_owned(summary);
        match status {
            JobStatus::Done => tracing::info!(%summary, "job done"),
            _ => tracing::error!(error = %summary, "job failed"),
        }
        if let Err(e) = ctx
            .store
            .finish_job(job.id, status, &summary, now_millis())
            .await
        {
            tracing::error!(error = format!("{e:#}"), "recording the job's end failed");
        }
    }
    .instrument(span)
    .await
}

/// Renews a job's lease forever (until dropped).
async fn renew_lease(store: Arc<dyn Store>, id: i64) {
    loop {
        tokio::time::sleep(LEASE / 3).await;
        let until = now_millis() + LEASE.as_millis() as i64;
        if let Err(e) = store.renew_job(id, until).await {
            tracing::warn!(error = format!("{e:#}"), "renewing the job's lease failed");
        }
    }
}

fn unreachable_renewal() -> std::thread::Result<anyhow::Result<String>> {
    Ok(Err(anyhow::anyhow!("lease renewal stopped")))
}
