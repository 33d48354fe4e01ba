//! The scheduled drift sweep: at each time BOSUN_DRIFT_SCHEDULE fires, a drift job for every
//! allowlisted repository of every installation of the App, queued behind pull requests' work.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tokio::sync::Notify;

use crate::config::RepoAllowlist;
use crate::drift::Trigger;
use crate::github::GitHub;
use crate::store::Store;
use crate::store::fleet::{Duty, leads};
use crate::workflow::job::{RepoRef, drift_job};

/// What a sweep needs.
pub struct DriftSweep {
    pub github: Arc<GitHub>,
    pub store: Arc<dyn Store>,
    pub allowlist: RepoAllowlist,
    /// Woken when jobs are queued.
    pub enqueued: Arc<Notify>,
}

impl DriftSweep {
    /// Sweeps if this replica leads the fleet's drift schedule (see [`crate::store::fleet`]);
    /// `None` when another replica does.
    pub async fn sweep_if_leader(&self, at: SystemTime) -> anyhow::Result<Option<usize>> {
        if !leads(&*self.store, Duty::DriftSchedule).await {
            return Ok(None);
        }
        self.sweep(at).await.map(Some)
    }

    /// Queues the drift jobs of the tick at `at`; returns how many were new. Each job's
    /// source names the repo and the tick, so a tick queues each repo once however often it
    /// is swept (by one replica retrying, or by several).
    pub async fn sweep(&self, at: SystemTime) -> anyhow::Result<usize> {
        let tick = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let installations = self
            .github
            .installations()
            .await
            .context("listing the App's installations")?;
        let mut jobs = Vec::new();
        for installation in installations {
            let repos = match self.github.installation_repos(installation).await {
                Ok(repos) => repos,
                Err(e) => {
                    // One suspended or broken installation does not stop the others.
                    tracing::warn!(installation = installation.0, error = %e, "listing an installation's repositories failed");
                    continue;
                }
            };
            for r in repos {
                if !self.allowlist.allows(&r.full_name) {
                    continue;
                }
                let source = format!("drift:{}:{tick}", r.full_name);
                let key = self
                    .store
                    .repo_key(r.id, &r.full_name, crate::store::now_millis())
                    .await
                    .context("keeping a repository's key")?;
                let repo = RepoRef::listed(&r, key);
                jobs.push(drift_job(repo, installation, Trigger::Schedule, source));
            }
        }
        let ids = self
            .store
            .enqueue_jobs(&jobs)
            .await
            .context("queueing drift jobs")?;
        self.enqueued.notify_waiters();
        tracing::info!(repos = jobs.len(), queued = ids.len(), "drift sweep");
        Ok(ids.len())
    }
}

#[cfg(test)]
#[path = "fleet_duties_tests.rs"]
mod fleet_duties_tests;
