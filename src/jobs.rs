//! The job worker: claims jobs from the store (jobs of one pull request one at a time, in
//! order; different pull requests side by side), runs each job's workflow inside a span, keeps
//! its lease alive while it runs, and records how it ended. On shutdown it drains (`drain`).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::lease::{self, Held};
use crate::store::{Claim, Job, JobStatus, Store, now_millis};
use crate::workflow::{self, Context};

mod drain;
/// A plan that failed on a transient GitHub error waits this long before its second
/// attempt, doubling each time, at most `MAX_RETRY_WAIT`.
const RETRY_BASE: Duration = Duration::from_secs(2);
const MAX_RETRY_WAIT: Duration = Duration::from_secs(300);
/// The worker looks at the queue at least this often even without a wake-up.
const IDLE_POLL: Duration = Duration::from_millis(500);

pub struct JobWorker {
    pub ctx: Arc<Context>,
    /// Notified when jobs are enqueued.
    pub enqueued: Arc<Notify>,
    /// Jobs run at once.
    pub concurrency: usize,
    /// Times a job may be started (BOSUN_JOB_MAX_ATTEMPTS): a plan that failed on a transient
    /// GitHub error is tried again until then.
    pub max_attempts: u32,
    /// A claim holds this long without renewal (BOSUN_JOB_LEASE); a running job renews it
    /// every third of it.
    pub lease: Duration,
    /// How long a drain waits for the jobs it does not stop (BOSUN_SHUTDOWN_GRACE).
    pub grace: Duration,
}

impl JobWorker {
    /// Claims and runs jobs until `cancel` fires, then drains: plans stop and go back to the
    /// queue, other jobs get `grace` to end. Returns how many were still running after it.
    pub async fn run(self, cancel: CancellationToken) -> usize {
        let slots = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let finished = Arc::new(Notify::new());
        let mut running = tokio::task::JoinSet::new();
        let names = drain::Running::default();
        while !cancel.is_cancelled() {
            let permit = tokio::select! {
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                () = cancel.cancelled() => break,
            };
            let claimed = self.ctx.store.claim_job(now_millis(), self.lease).await;
            match claimed {
                Ok(Some(job)) if cancel.is_cancelled() => {
                    drain::release(&self.ctx, job.claim()).await;
                    break;
                }
                Ok(Some(job)) => {
                    let ctx = self.ctx.clone();
                    let finished = finished.clone();
                    let (max_attempts, lease) = (self.max_attempts, self.lease);
                    let (cancel, names) = (cancel.clone(), names.clone());
                    running.spawn(async move {
                        names.start(&job);
                        let id = job.id;
                        run_job(&ctx, job, max_attempts, lease, &cancel).await;
                        names.end(id);
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
        let drained = async { while running.join_next().await.is_some() {} };
        match tokio::time::timeout(self.grace, drained).await {
            Ok(()) => 0,
            // Dropping the set stops them: their Terraform processes are killed.
            Err(_) => names.left_behind(),
        }
    }
}

/// Runs one job in its span, renewing its lease, and records its end. A job whose lease
/// another worker took over (this one stalled past it) is stopped, unless it has started an
/// apply: Terraform is not cut off mid-apply, and every record it writes is refused anyway.
/// When `drain` fires, a job that only plans is stopped and given back to the queue.
pub async fn run_job(
    ctx: &Context,
    job: Job,
    max_attempts: u32,
    lease: Duration,
    drain: &CancellationToken,
) {
    let span = tracing::info_span!(
        "job",
        id = job.id,
        kind = %job.kind,
        repo = %job.repository,
        pr = job.pr.0,
        attempt = job.attempts,
    );
    async {
        tracing::info!("job started");
        let claim = job.claim();
        let stops = drain::stops(&ctx.settings, &job);
        let mut work = Box::pin(AssertUnwindSafe(workflow::run(ctx, &job)).catch_unwind());
        // The lease is looked at before every step of the work: a process woken from a stall
        // past its lease stops before the work writes anything more (see `lease`).
        let held = Held::new(lease);
        let outcome = tokio::select! {
            biased;
            () = drain::stopped(stops, drain) => {
                // Terraform killed and its run directory gone before another worker may start.
                drop(work);
                return drain::release(ctx, claim).await;
            }
            () = renew_lease(ctx.store.clone(), claim, lease, &held) => None,
            outcome = lease::guarded(&held, &mut work) => outcome,
        };
        let outcome = match outcome {
            Some(outcome) => outcome,
            None if applying(ctx, &job).await => {
                tracing::warn!("the job's lease was taken over during an apply: finishing it");
                work.await
            }
            None => {
                tracing::warn!("the job's lease was taken over: stopped");
                return;
            }
        };
        if let Ok(Err(e)) = &outcome
            && let Some(wait) = retry_wait(&job, e, max_attempts)
        {
            let summary = ctx.redactor.redact_owned(format!("{e:#}"));
            tracing::warn!(error = %summary, retry_in_ms = wait.as_millis() as u64, "job failed on GitHub; will retry");
            let at = now_millis() + wait.as_millis() as i64;
            match ctx.store.retry_job(claim, &summary, at).await {
                Ok(_) => return,
                Err(e) => tracing::error!(error = format!("{e:#}"), "putting the job back failed"),
            }
        }
        // A failed command replied itself; any other failure is reported here.
        let (status, summary, report) = match outcome {
            Ok(Ok(summary)) => (JobStatus::Done, summary, false),
            Ok(Err(e)) => (JobStatus::Failed, format!("{e:#}"), job.kind != "comment"),
            Err(_) => (JobStatus::Failed, "the workflow panicked".to_owned(), true),
        };
        // Stored and logged: an error may quote anything, a secret included.
        let summary = ctx.redactor.redact_owned(summary);
        match status {
            JobStatus::Done => tracing::info!(%summary, "job done"),
            _ => tracing::error!(error = %summary, "job failed"),
        }
        let recorded = ctx
            .store
            .finish_job(claim, status, &summary, now_millis())
            .await;
        if let Ok(true) = recorded {
            interrupt_runs(ctx, job.id).await;
        }
        match recorded {
            // The job's end is this worker's to tell.
            Ok(true) if report => workflow::failure::report(ctx, &job, &summary).await,
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("the job was taken over by another worker: its end is not recorded")
            }
            Err(e) => tracing::error!(error = format!("{e:#}"), "recording the job's end failed"),
        }
    }
    .instrument(span)
    .await
}

/// Ends with `interrupted` the runs a job left unfinished (its end came before theirs: a
/// panic, or a process that went away for the last time); a failure is logged.
pub async fn interrupt_runs(ctx: &workflow::Context, job_id: i64) {
    if let Err(e) = ctx.store.interrupt_runs_of_job(job_id, now_millis()).await {
        tracing::error!(
            error = format!("{e:#}"),
            "ending a job's unfinished runs failed"
        );
    }
}

/// Plans (safe to repeat) that failed on a transient GitHub error are tried again after a
/// backoff, while attempts are left; this says how long to wait, if so.
/// The wait is ours, not `backon`'s: the retry is a stored due time, so it is attempt n's wait
/// from the job's stored count, where backon drives in-process retry loops.
fn retry_wait(job: &Job, e: &anyhow::Error, max_attempts: u32) -> Option<Duration> {
    let repeatable = matches!(job.kind.as_str(), "autoplan" | "replan" | "reconcile");
    let transient = e.chain().any(|c| {
        c.downcast_ref::<crate::github::GitHubError>()
            .is_some_and(crate::github::GitHubError::is_transient)
    });
    (repeatable && transient && job.attempts < max_attempts).then(|| {
        RETRY_BASE
            .saturating_mul(1 << job.attempts.saturating_sub(1).min(10))
            .min(MAX_RETRY_WAIT)
    })
}

/// Whether the job started an apply under its current claim (its lease is gone: no new one
/// can start).
async fn applying(ctx: &Context, job: &Job) -> bool {
    match ctx.store.applies_of_pr(&job.repository, job.pr).await {
        Ok(applies) => applies
            .iter()
            .any(|a| a.job_id == job.id && a.claim == job.claim),
        // Unknown: let it run, its writes are fenced.
        Err(_) => true,
    }
}

/// Renews a job's `lease` every third of it until the store says another worker holds the
/// job, or renewals failed (the store unreachable) until the lease ran out, so another worker
/// may hold it; returns then. It returns at once, without asking the store, when it wakes
/// past the lease: the process stalled (paused, starved) with no renewal, so another worker
/// may hold the job and be writing to GitHub, and this one must not write before it knows.
async fn renew_lease(store: Arc<dyn Store>, claim: Claim, lease: Duration, held: &Held) {
    loop {
        tokio::time::sleep(lease / 3).await;
        if held.ran_out() {
            tracing::warn!("the job's lease ran out unrenewed while this process stalled");
            return;
        }
        let asked = tokio::time::Instant::now();
        let until = now_millis() + lease.as_millis() as i64;
        match store.renew_job(claim, until).await {
            Ok(true) => held.renewed(asked, lease),
            Ok(false) => return,
            Err(e) if held.ran_out() => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "the job's lease ran out unrenewed"
                );
                return;
            }
            Err(e) => tracing::warn!(error = format!("{e:#}"), "renewing the job's lease failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{InstallationId, PrNumber};
    use crate::store::{NewJob, SqliteStore};

    const LEASE: Duration = Duration::from_secs(120);

    /// A store (in the returned directory) with one job, claimed for `LEASE`: its claim.
    async fn claimed() -> (tempfile::TempDir, Arc<dyn Store>, Claim) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("b.db").display());
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).await.unwrap());
        store
            .enqueue_jobs(&[NewJob {
                source: "a".into(),
                kind: "autoplan".into(),
                repository: "acme/infra".into(),
                installation_id: InstallationId(1),
                pr: PrNumber(1),
                priority: 0,
                spec: "{}".into(),
                created_at: 1,
                supersedes_kind: None,
            }])
            .await
            .unwrap();
        let mine = store
            .claim_job(now_millis(), LEASE)
            .await
            .unwrap()
            .unwrap()
            .claim();
        (dir, store, mine)
    }

    #[tokio::test]
    async fn renewal_ends_when_another_worker_takes_the_job() {
        let (_dir, store, mine) = claimed().await;
        // Renewed every 10 ms.
        let short = Duration::from_millis(30);
        let held = tokio::time::timeout(
            Duration::from_millis(200),
            renew_lease(store.clone(), mine, short, &Held::new(short)),
        )
        .await;
        assert!(held.is_err(), "renewed while the job is this worker's");
        // The lease runs out unseen (a stall) and another worker claims the job.
        store
            .claim_job(now_millis() + 2 * LEASE.as_millis() as i64, LEASE)
            .await
            .unwrap()
            .unwrap();
        tokio::time::timeout(
            Duration::from_secs(5),
            renew_lease(store, mine, short, &Held::new(short)),
        )
        .await
        .expect("the renewal learns the job was taken over");
    }

    #[tokio::test]
    async fn a_stall_past_the_lease_ends_the_renewal_before_the_store_is_asked() {
        let (_dir, store, mine) = claimed().await;
        tokio::time::pause();
        let lease = Duration::from_secs(3);
        let held = Held::new(lease);
        let mut renewal = Box::pin(renew_lease(store, mine, lease, &held));
        assert!(
            futures::poll!(&mut renewal).is_pending(),
            "waiting to renew"
        );
        // The process stalls: no renewal runs while twice the lease goes by.
        tokio::time::advance(lease * 2).await;
        assert!(
            futures::poll!(&mut renewal).is_ready(),
            "woken past its lease, the renewal ends at once, before any store round trip"
        );
    }
}
