//! The task worker: claims plan tasks from the store (any job's, whichever replica queued it),
//! at most as many at once as this replica has Terraform slots, plans each (see
//! [`crate::workflow::plan_tasks`]) while keeping its lease alive, and records its outcome
//! under the task's fencing token. It runs through the shutdown's drain (a job given the grace
//! may wait for its tasks); at the drain's end the running tasks (plans, safe to repeat) stop
//! and go back to the queue for another replica.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::lease::{self, Held};
use crate::store::{Store, Task, TaskClaim, now_millis};
use crate::workflow::Context;
use crate::workflow::plan_tasks::{self, MAX_CLAIMS, Spread};

/// A task's claim holds this long without renewal (so a dead replica's task is taken over
/// within it); a running task renews it every third of it.
pub const LEASE: Duration = Duration::from_secs(30);
/// The worker looks for tasks at least this often without a wake-up: other replicas' tasks
/// come without one.
const IDLE_POLL: Duration = Duration::from_millis(200);

pub struct TaskWorker {
    pub ctx: Arc<Context>,
    /// What this replica's jobs and task worker share (the same as `ctx.spread`): its
    /// `queued` wakes the worker; the worker wakes jobs through `changed`.
    pub spread: Arc<Spread>,
    /// Tasks planned at once: BOSUN_PARALLELISM, so a replica takes no more than it can run
    /// and leaves the rest to the others.
    pub concurrency: usize,
    /// BOSUN_INSTANCE_ID, recorded with each claim.
    pub instance: String,
    pub lease: Duration,
}

impl TaskWorker {
    /// Claims and runs tasks until `cancel` fires (the drain's end), then stops the running
    /// ones and gives them back to the queue.
    pub async fn run(self, cancel: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let mut running = tokio::task::JoinSet::new();
        while !cancel.is_cancelled() {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let claimed = self
                .ctx
                .store
                .claim_task(now_millis(), self.lease, &self.instance, MAX_CLAIMS)
                .await;
            match claimed {
                Ok(Some(task)) => {
                    // The job waiting for it marks its check run in progress.
                    self.spread.changed.notify_waiters();
                    let ctx = self.ctx.clone();
                    let spread = self.spread.clone();
                    let lease = self.lease;
                    let drain = cancel.clone();
                    running.spawn(async move {
                        run_task(&ctx, task, &spread, lease, &drain).await;
                        spread.changed.notify_waiters();
                        drop(permit);
                    });
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = format!("{e:#}"), "claiming a plan task failed"),
            }
            drop(permit);
            tokio::select! {
                _ = self.spread.queued.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = cancel.cancelled() => {}
            }
            while running.try_join_next().is_some() {}
        }
        while running.join_next().await.is_some() {}
    }
}

/// Plans one task in its span, renewing its lease, and records its outcome; a task whose
/// lease another worker took over is stopped (its outcome would be refused anyway), and so is
/// one running when `drain` fires (the end of a shutdown's drain), given back to the queue.
async fn run_task(
    ctx: &Context,
    task: Task,
    spread: &Spread,
    lease: Duration,
    drain: &CancellationToken,
) {
    let span = tracing::info_span!(
        "task",
        id = task.id,
        job = task.job_id,
        repo = %task.repository,
        pr = task.pr.0,
        claim = task.claim,
    );
    async {
        let claim = task.claim();
        let work = Box::pin(plan_tasks::run_task(ctx, &task, spread));
        // Looked at before every step of the work (see `lease`).
        let held = Held::new(lease);
        let plan = tokio::select! {
            biased;
            () = drain.cancelled() => {
                // Terraform is killed with the dropped work before the task is given back.
                match ctx.store.release_task(claim).await {
                    Ok(_) => tracing::info!("draining: the plan task goes back to the queue"),
                    Err(e) => tracing::warn!(
                        error = format!("{e:#}"),
                        "giving a plan task back failed; its lease will run out"
                    ),
                }
                return;
            }
            plan = lease::guarded(&held, work) => match plan {
                Some(plan) => plan,
                None => {
                    tracing::warn!("the plan task's lease ran out unrenewed while this process stalled: stopped");
                    return;
                }
            },
            () = renew(ctx.store.clone(), claim, lease, &held) => {
                tracing::warn!("the plan task's lease was taken over: stopped");
                return;
            }
        };
        let outcome = match serde_json::to_string(&plan.outcome) {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(error = %e, "encoding a plan task's outcome failed");
                return;
            }
        };
        match ctx
            .store
            .finish_task(claim, &outcome, &plan, now_millis())
            .await
        {
            Ok(true) => tracing::info!("plan task done"),
            Ok(false) => {
                tracing::warn!("the plan task was taken over: its outcome is not recorded")
            }
            Err(e) => tracing::error!(error = format!("{e:#}"), "recording a plan task failed"),
        }
    }
    .instrument(span)
    .await
}

/// Renews a task's lease every third of it until the store says another worker holds the
/// task, or renewals failed until the lease ran out; returns then.
async fn renew(store: Arc<dyn Store>, claim: TaskClaim, lease: Duration, held: &Held) {
    loop {
        tokio::time::sleep(lease / 3).await;
        let asked = tokio::time::Instant::now();
        match store
            .renew_task(claim, now_millis() + lease.as_millis() as i64)
            .await
        {
            Ok(true) => held.renewed(asked, lease),
            Ok(false) => return,
            Err(e) if held.ran_out() => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "the plan task's lease ran out unrenewed"
                );
                return;
            }
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "renewing a plan task's lease failed"
            ),
        }
    }
}
