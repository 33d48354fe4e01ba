//! A plan spread across replicas: the job fans its projects out as tasks in the store, the
//! task worker of any replica (this one included, see [`crate::task_worker`]) plans each under the
//! project's run lock and records the plan under the task's fencing token, and the job waits
//! for them (its lease renewed by the job worker all along) and reports as it would have.
//! The job keeps its pull request's turn while it waits: a later job of the pull request does
//! not start before this one ends.

use crate::ids::{InstallationId, Sha};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use super::Context;
use super::feedback::CheckRun;
use super::job::{PrRef, RepoRef};
use super::plan::{Request, Selection};
use crate::plan::{Outcome, ProjectPlan, Step, Target};
use crate::store::{NewTask, RunKind, StoredPlan, Task, TaskStatus, now_millis};

/// A task claimed this many times (each claimer gone before it finished) is given up on.
pub const MAX_CLAIMS: i64 = 3;
/// How often a job waiting for its tasks looks at them without a wake-up: other replicas'
/// task workers cannot wake it.
const POLL: Duration = Duration::from_millis(100);
/// A plan of several projects queues its first project's task alone, and the others once that
/// project is planned or this long has passed: on a replica whose cores the plans share, the
/// first check run people look at comes in about one project's time, not the parallelism's
/// multiple of it. Plans longer than this start side by side after it.
const HEAD_START: Duration = Duration::from_secs(2);
/// A job waits at most this long for its tasks; those unfinished fail (a task's claimer that
/// dies is replaced within a lease, so only a project whose plan runs this long meets it).
const MAX_WAIT: Duration = Duration::from_secs(3 * 3600);

/// What a task worker needs to plan one project: the job's request without what only the job
/// uses (its selection and note). The project itself is the task's target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TaskSpec {
    repo: RepoRef,
    installation_id: InstallationId,
    pr: PrRef,
    extra_args: Vec<String>,
    merged: bool,
}

/// Plans `targets` as tasks (none refused by its plan requirements: those the job reports
/// itself) and completes their check runs as the tasks end; the plans in `targets`' order.
/// `None` when the tasks could not be stored: the job plans the projects itself.
pub(super) async fn spread(
    ctx: &Context,
    job_id: i64,
    req: &Request,
    targets: &[Target],
    checks: &[&CheckRun],
) -> Option<Vec<ProjectPlan>> {
    let spec = TaskSpec {
        repo: req.repo.clone(),
        installation_id: req.installation_id,
        pr: req.pr.clone(),
        extra_args: req.extra_args.clone(),
        merged: req.merged,
    };
    let spec = match serde_json::to_string(&spec) {
        Ok(spec) => spec,
        Err(e) => {
            tracing::error!(error = %e, "encoding a plan task failed; planning in the job");
            return None;
        }
    };
    let tasks: Vec<NewTask> = targets
        .iter()
        .map(|t| NewTask {
            target: t.clone(),
            spec: spec.clone(),
        })
        .collect();
    let key = &req.repo.key();
    let enqueue = |tasks: Vec<NewTask>| async move {
        let enqueued = ctx
            .store
            .enqueue_tasks(job_id, key, req.pr.number, &tasks, now_millis())
            .await;
        if let Some(spread) = &ctx.spread {
            spread.queued.notify_one();
        }
        enqueued
    };
    let spread = ctx.spread.as_deref()?;
    // The first project's task alone first (see `HEAD_START`).
    let mut held: Vec<NewTask> = tasks.iter().skip(1).cloned().collect();
    let held_until = tokio::time::Instant::now() + HEAD_START;
    if let Err(e) = enqueue(tasks.iter().take(1).cloned().collect()).await {
        tracing::error!(
            error = format!("{e:#}"),
            "storing the plan tasks failed; planning in the job"
        );
        return None;
    }
    tracing::info!(tasks = tasks.len(), "plan tasks queued");
    let mut plans: Vec<Option<ProjectPlan>> = vec![None; targets.len()];
    let mut started = vec![false; targets.len()];
    let mut early = vec![false; targets.len()];
    let mut linked = vec![ctx.settings.public_url.is_none(); targets.len()];
    let deadline = tokio::time::Instant::now() + MAX_WAIT;
    while plans.iter().any(Option::is_none) {
        // Listened for before the store is read: a change in between still wakes the job.
        let changed = spread.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let now = now_millis();
        let listed = ctx.store.tasks_of_job(job_id).await;
        let listed = match listed {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "reading the plan tasks failed");
                Vec::new()
            }
        };
        let first_planned = |plans: &[Option<ProjectPlan>], early: &[bool]| {
            plans.first().is_some_and(Option::is_some) || early.first().is_some_and(|e| *e)
        };
        let release = |plans: &[Option<ProjectPlan>], early: &[bool]| {
            first_planned(plans, early) || tokio::time::Instant::now() >= held_until
        };
        if !held.is_empty() && release(&plans, &early) {
            // Should this fail, they are missing below and queued again.
            let rest = std::mem::take(&mut held);
            if let Err(e) = enqueue(rest).await {
                tracing::warn!(error = format!("{e:#}"), "queueing the plan tasks failed");
            }
        }
        let mut missing: Vec<NewTask> = Vec::new();
        for (i, target) in targets.iter().enumerate() {
            if plans[i].is_some() || held.iter().any(|t| t.target == *target) {
                continue;
            }
            let Some(task) = listed.iter().find(|t| t.target == *target) else {
                missing.push(tasks[i].clone());
                continue;
            };
            if !linked[i] && task.status != TaskStatus::Queued {
                linked[i] = link(ctx, job_id, target, checks[i]).await;
            }
            match ended(task, now) {
                Some(outcome) => {
                    let plan = ProjectPlan {
                        target: target.clone(),
                        outcome,
                    };
                    if task.status != TaskStatus::Done {
                        // Given up on: its failure is the job's to record.
                        record(ctx, job_id, req, &plan).await;
                    }
                    checks[i].completed(&plan);
                    plans[i] = Some(plan);
                }
                None if task.status == TaskStatus::Running => {
                    if !started[i] {
                        started[i] = true;
                        checks[i].in_progress();
                    }
                    // Planned here, `show -json` still running: the check run from the
                    // plan's own output (written again if the final one renders otherwise).
                    if !early[i]
                        && let Some(outcome) = spread.early(job_id, target)
                    {
                        early[i] = true;
                        let plan = ProjectPlan {
                            target: target.clone(),
                            outcome,
                        };
                        checks[i].completed(&plan);
                    }
                }
                None => {}
            }
        }
        // A task gone from the store (closed by a job run this one's claim replaced) is
        // queued again.
        if !missing.is_empty() && !listed.is_empty() {
            let again = missing.len();
            if let Err(e) = enqueue(missing).await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    again,
                    "queueing missing plan tasks failed"
                );
            }
        }
        if tokio::time::Instant::now() >= deadline {
            for (i, target) in targets.iter().enumerate() {
                if plans[i].is_none() {
                    let plan = ProjectPlan {
                        target: target.clone(),
                        outcome: Outcome::Failed {
                            step: Step::Plan,
                            output: "bosun did not finish planning this project in time.".into(),
                        },
                    };
                    record(ctx, job_id, req, &plan).await;
                    checks[i].completed(&plan);
                    plans[i] = Some(plan);
                }
            }
            break;
        }
        if !held.is_empty() && release(&plans, &early) {
            // The first project was planned just now: the others go at once.
            continue;
        }
        if plans.iter().any(Option::is_none) {
            let wake = match held.is_empty() {
                true => POLL,
                false => {
                    POLL.min(held_until.saturating_duration_since(tokio::time::Instant::now()))
                }
            };
            tokio::select! {
                () = &mut changed => {}
                () = tokio::time::sleep(wake) => {}
            }
        }
    }
    if let Err(e) = ctx.store.close_tasks(job_id).await {
        tracing::warn!(error = format!("{e:#}"), "closing the plan tasks failed");
    }
    Some(plans.into_iter().flatten().collect())
}

/// A task's outcome once it ended: done, or given up on (claimed `MAX_CLAIMS` times, the last
/// claimer gone too).
fn ended(task: &Task, now: i64) -> Option<Outcome> {
    match task.status {
        TaskStatus::Done => Some(match task.outcome.as_deref().map(serde_json::from_str) {
            Some(Ok(outcome)) => outcome,
            _ => Outcome::Failed {
                step: Step::Plan,
                output: "bosun could not read this project's plan back; the operator's logs \
                         say why."
                    .into(),
            },
        }),
        TaskStatus::Running
            if task.claim >= MAX_CLAIMS && task.lease_until.is_none_or(|l| l < now) =>
        {
            Some(Outcome::Failed {
                step: Step::Plan,
                output: format!(
                    "bosun stopped {MAX_CLAIMS} times while planning this project; it was not \
                     tried again."
                ),
            })
        }
        _ => None,
    }
}

/// Links a project's check run to its plan run's page once the task worker has recorded the
/// run; whether it did.
async fn link(ctx: &Context, job_id: i64, target: &Target, check: &CheckRun) -> bool {
    let (Some(base), Ok(Some(id))) = (
        &ctx.settings.public_url,
        ctx.store.run_of_job(job_id, target, RunKind::Plan).await,
    ) else {
        return false;
    };
    check.link(format!("{base}/runs/{id}"));
    true
}

async fn record(ctx: &Context, job_id: i64, req: &Request, plan: &ProjectPlan) {
    let stored = StoredPlan {
        repository: req.repo.key(),
        pr: req.pr.number,
        target: plan.target.clone(),
        head_sha: req.pr.head_sha.clone(),
        outcome: plan.outcome.clone(),
        planfile: None,
        job_id,
        created_at: now_millis(),
        tool: None,
    };
    if let Err(e) = ctx.store.record_plan(&stored).await {
        tracing::error!(error = format!("{e:#}"), "recording a plan failed");
    }
}

/// What a replica's jobs and its task worker share.
#[derive(Default)]
pub struct Spread {
    /// Wakes the task worker: tasks were queued.
    pub queued: Notify,
    /// Wakes the jobs waiting for tasks: one started, planned or ended here.
    pub changed: Notify,
    /// What this replica's mirror has fetched.
    pub fetched: Fetched,
    /// Plans made here whose `show -json` still runs, by job and project: the outcome the
    /// plan's own output shows, for the job to complete the check run with at once. Taken out
    /// when the task ends (its outcome is in the store then).
    early: Mutex<HashMap<(i64, Target), Outcome>>,
}

impl Spread {
    /// Keeps `outcome` as the early outcome of `target`'s task of `job_id` and wakes the jobs.
    fn planned(&self, job_id: i64, target: &Target, outcome: &Outcome) {
        let mut early = self.early.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: each entry lives while one show runs, fewer than the Terraform slots.
        if early.len() >= Fetched::MAX {
            early.clear();
        }
        early.insert((job_id, target.clone()), outcome.clone());
        drop(early);
        self.changed.notify_waiters();
    }

    /// The early outcome of `target`'s task of `job_id`, if its plan is made and shown here.
    fn early(&self, job_id: i64, target: &Target) -> Option<Outcome> {
        let early = self.early.lock().unwrap_or_else(|p| p.into_inner());
        early.get(&(job_id, target.clone())).cloned()
    }

    /// Forgets the early outcome of `target`'s task of `job_id`: its task ended, or starts
    /// again (an earlier attempt here was stopped before it ended).
    fn forget(&self, job_id: i64, target: &Target) {
        let mut early = self.early.lock().unwrap_or_else(|p| p.into_inner());
        early.remove(&(job_id, target.clone()));
    }
}

/// Pull requests (repository, number, head and base) whose head and base this process's
/// mirror has fetched, so neither the job nor its tasks of one pull request on a replica
/// fetch them again.
#[derive(Default)]
pub struct Fetched(Mutex<HashSet<String>>);

impl Fetched {
    /// Kept this many; past it, forgotten all at once (a fetch again is only slower).
    const MAX: usize = 1024;

    /// The key of `req`'s pull request at its head and base.
    pub(super) fn key(req: &Request) -> String {
        format!(
            "{}\n{}\n{}\n{}",
            req.repo.full_name, req.pr.number, req.pr.head_sha, req.pr.base_sha
        )
    }

    fn has(&self, key: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(key)
    }

    pub(super) fn add(&self, key: String) {
        let mut set = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if set.len() >= Self::MAX {
            set.clear();
        }
        set.insert(key);
    }
}

/// Plans one task's project in this replica: fetches the pull request into this replica's
/// mirror (once), then plans under a Terraform slot and the project's run lock. Returns the
/// outcome to record; never fails: a failure is the project's outcome.
pub async fn run_task(ctx: &Context, task: &Task, spread: &Spread) -> StoredPlan {
    spread.forget(task.job_id, &task.target);
    let planned = plan_task(ctx, task, spread).await;
    spread.forget(task.job_id, &task.target);
    let (outcome, planfile, tool) = match planned {
        Ok(planned) => planned,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "preparing a plan task failed");
            let output =
                "bosun could not prepare this project's plan; the operator's logs say why."
                    .to_owned();
            (
                Outcome::Failed {
                    step: Step::Checkout,
                    output,
                },
                None,
                None,
            )
        }
    };
    let head_sha = serde_json::from_str::<TaskSpec>(&task.spec)
        .map(|s| s.pr.head_sha)
        .unwrap_or_else(|_| Sha::new(""));
    StoredPlan {
        repository: task.repository.clone(),
        pr: task.pr,
        target: task.target.clone(),
        head_sha,
        outcome,
        planfile,
        job_id: task.job_id,
        created_at: now_millis(),
        tool,
    }
}

async fn plan_task(
    ctx: &Context,
    task: &Task,
    spread: &Spread,
) -> anyhow::Result<(Outcome, Option<Vec<u8>>, Option<crate::versions::Pinned>)> {
    let spec: TaskSpec = serde_json::from_str(&task.spec).context("reading a plan task")?;
    let req = Request {
        actor: crate::audit::Actor::Bosun,
        repo: spec.repo,
        installation_id: spec.installation_id,
        pr: spec.pr,
        selection: Selection::Targets(vec![task.target.clone()]),
        extra_args: spec.extra_args,
        note: None,
        merged: spec.merged,
    };
    // The job fetched it already when it runs on this replica (see `plan::fetch`).
    if !spread.fetched.has(&Fetched::key(&req)) {
        super::plan::fetch(ctx, &req).await?;
    }
    let _slot = ctx.slots.acquire().await;
    let _project = ctx.lock_project(&req.repo.key(), &task.target).await;
    let span = tracing::info_span!(
        "project",
        dir = %task.target.dir,
        workspace = %task.target.workspace,
        name = task.target.name.as_deref().unwrap_or("")
    );
    let early = |outcome: &Outcome| spread.planned(task.job_id, &task.target, outcome);
    let at = (
        task.job_id,
        None,
        Some(&early as &(dyn Fn(&Outcome) + Sync)),
    );
    Ok(super::plan::plan_in_checkout(ctx, at, &req, &task.target)
        .instrument(span)
        .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PrNumber;

    fn task(status: TaskStatus, claim: i64, lease_until: Option<i64>) -> Task {
        Task {
            id: 1,
            job_id: 1,
            repository: "acme/infra".into(),
            pr: PrNumber(1),
            target: Target {
                dir: "a".into(),
                workspace: "default".into(),
                name: None,
            },
            spec: String::new(),
            status,
            claim,
            lease_until,
            claimed_by: None,
            outcome: None,
        }
    }

    #[test]
    fn a_task_whose_every_claimer_died_is_given_up_on_and_one_still_held_is_waited_for() {
        let gone = ended(&task(TaskStatus::Running, MAX_CLAIMS, Some(10)), 11);
        assert!(
            matches!(&gone, Some(Outcome::Failed { output, .. }) if output.contains("stopped 3 times")),
            "{gone:?}"
        );
        // Its last claimer still holds it, or another claim is left: the job waits.
        assert_eq!(
            ended(&task(TaskStatus::Running, MAX_CLAIMS, Some(12)), 11),
            None
        );
        assert_eq!(ended(&task(TaskStatus::Running, 1, Some(10)), 11), None);
        assert_eq!(
            ended(&task(TaskStatus::Queued, MAX_CLAIMS - 1, None), 11),
            None
        );
        // A done task whose outcome does not read back fails instead of hanging the job.
        let unreadable = ended(&task(TaskStatus::Done, 1, None), 11);
        assert!(
            matches!(unreadable, Some(Outcome::Failed { .. })),
            "{unreadable:?}"
        );
    }
}
