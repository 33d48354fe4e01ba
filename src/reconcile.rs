//! GitHub never retries a webhook, and a redelivered one may come late. Every
//! BOSUN_RECONCILE_INTERVAL bosun enqueues a check of each pull request it holds locks or
//! plans for (at most [`MAX_PER_TICK`] a tick, picked at random so every one gets its turn):
//! the job (`workflow::reconcile`) releases what a closed one holds and plans an open one at
//! a head with no plan. The timer only enqueues, so tests run a tick directly.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::ids::RepoKey;
use crate::store::fleet::{Duty, leads};
use crate::store::{JobStatus, Millis, NewJob, Store};
use crate::workflow::job::{JobSpec, RECONCILE_KIND};

/// Pull requests checked per tick at most.
pub const MAX_PER_TICK: usize = 20;

pub struct Reconciler {
    pub store: Arc<dyn Store>,
    /// Notified when jobs are enqueued.
    pub enqueued: Arc<Notify>,
}

impl Reconciler {
    /// Ticks every `interval` (the first after one interval) until cancelled.
    pub async fn run(self, interval: Duration, cancel: CancellationToken) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = cancel.cancelled() => return,
            }
            match self.tick_if_leader(crate::store::now_millis()).await {
                Ok(None) => {}
                Ok(Some(0)) => tracing::debug!("reconcile: nothing to check"),
                Ok(Some(n)) => tracing::info!(pull_requests = n, "reconcile: checks enqueued"),
                Err(e) => tracing::warn!(error = format!("{e:#}"), "reconcile tick failed"),
            }
        }
    }

    /// Ticks if this replica leads the fleet's reconciler (see [`crate::store::fleet`]);
    /// `None` when another replica does.
    pub async fn tick_if_leader(&self, now: Millis) -> anyhow::Result<Option<usize>> {
        if !leads(&*self.store, Duty::Reconcile).await {
            return Ok(None);
        }
        self.tick(now).await.map(Some)
    }

    /// Enqueues a reconcile job for each pull request holding locks or plans that has no job
    /// queued or running (at most [`MAX_PER_TICK`]); returns how many.
    pub async fn tick(&self, now: Millis) -> anyhow::Result<usize> {
        let mut prs = self.store.prs_holding().await?;
        fastrand::shuffle(&mut prs);
        let mut jobs = Vec::new();
        for (repository, pr) in prs {
            if jobs.len() >= MAX_PER_TICK {
                break;
            }
            let key = RepoKey::new(repository.clone());
            let known = self.store.jobs_of_pr(&key, pr).await?;
            if known
                .iter()
                .any(|j| matches!(j.status, JobStatus::Queued | JobStatus::Running))
            {
                continue;
            }
            // The repository and installation as the pull request's latest job knew them.
            let Some((mut repo, installation_id)) = known.iter().rev().find_map(|j| {
                let spec: JobSpec = serde_json::from_str(&j.spec).ok()?;
                Some((spec.repo().clone(), j.installation_id))
            }) else {
                continue;
            };
            // Renamed since that job: called by its name now.
            if let Some(name) = self.store.repo_name(&key).await? {
                repo.renamed(&name);
            }
            let spec = JobSpec::Reconcile {
                repo,
                pr_number: pr,
            };
            jobs.push(NewJob {
                source: format!("reconcile:{repository}#{pr}@{now}"),
                kind: RECONCILE_KIND.to_owned(),
                repository: key,
                installation_id,
                pr,
                priority: 0,
                // A spec of plain strings always serialises.
                spec: serde_json::to_string(&spec).unwrap_or_default(),
                created_at: now,
                supersedes_kind: Some(RECONCILE_KIND.to_owned()),
            });
        }
        let n = self.store.enqueue_jobs(&jobs).await?.len();
        if n > 0 {
            self.enqueued.notify_waiters();
        }
        Ok(n)
    }
}
