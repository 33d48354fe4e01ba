//! What a drain (SIGTERM) does with the jobs this worker runs: plans and drift checks (safe to
//! repeat) are stopped and given back to the queue at once; jobs that may write state
//! (applies, imports, state commands, and any other comment command) run to their end, within
//! the shutdown grace.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::command::{self, CommandKind, Parsed};
use crate::store::{Claim, Job};
use crate::workflow::job::JobSpec;
use crate::workflow::{Context, WorkflowSettings};

/// Whether a drain stops `job` rather than waiting for it: a job that only plans.
pub(super) fn stops(s: &WorkflowSettings, job: &Job) -> bool {
    match job.kind.as_str() {
        "autoplan" | "replan" | "reconcile" | "drift" => true,
        "comment" => match serde_json::from_str::<JobSpec>(&job.spec) {
            Ok(JobSpec::Comment { body, .. }) => {
                let parsed = command::parse_with(
                    &body,
                    &s.command_names,
                    &s.app_slug,
                    &s.blocked_extra_args,
                );
                matches!(
                    command::restrict(parsed, &s.allow_commands),
                    Parsed::Command(c) if c.kind == CommandKind::Plan
                )
            }
            _ => false,
        },
        _ => false,
    }
}

/// Resolves when the drain starts, for a job it stops; never, for one it waits for.
pub(super) async fn stopped(stops: bool, drain: &CancellationToken) {
    if stops {
        drain.cancelled().await
    } else {
        std::future::pending().await
    }
}

/// Gives a stopped job back to the queue for any worker to take at once, its attempt unused;
/// a claim that is no longer the job's writes nothing.
pub(super) async fn release(ctx: &Context, claim: Claim) {
    let id = claim.job_id;
    match ctx.store.release_job(claim).await {
        Ok(true) => tracing::info!(id, "stopped by the shutdown and given back to the queue"),
        Ok(false) => {
            tracing::warn!(
                id,
                "stopped by the shutdown; the job is no longer this worker's"
            )
        }
        // Its lease runs out and another worker takes it then.
        Err(e) => tracing::error!(id, error = format!("{e:#}"), "giving the job back failed"),
    }
}

/// The jobs this worker is running, to name those a drain's grace ran out on.
#[derive(Clone, Default)]
pub(super) struct Running(Arc<Mutex<BTreeMap<i64, Job>>>);

impl Running {
    pub(super) fn start(&self, job: &Job) {
        if let Ok(mut jobs) = self.0.lock() {
            jobs.insert(job.id, job.clone());
        }
    }

    pub(super) fn end(&self, id: i64) {
        if let Ok(mut jobs) = self.0.lock() {
            jobs.remove(&id);
        }
    }

    /// Logs each job still running as left behind; returns how many.
    pub(super) fn left_behind(&self) -> usize {
        let Ok(jobs) = self.0.lock() else {
            return 0;
        };
        for job in jobs.values() {
            tracing::error!(
                id = job.id,
                kind = %job.kind,
                repo = %job.repository,
                pr = job.pr.0,
                "the shutdown grace ran out with this job running: bosun exits without it; its \
                 lease runs out and, if it was applying, the apply is reported interrupted"
            );
        }
        jobs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CheckoutStrategy, CommentMode};
    use crate::ids::{InstallationId, PrNumber};
    use crate::store::JobStatus;

    fn settings() -> WorkflowSettings {
        WorkflowSettings {
            command_names: vec!["bosun".into()],
            app_slug: "bosun".into(),
            blocked_extra_args: Vec::new(),
            allow_commands: command::allowed_kinds(&["all".into()]).unwrap(),
            checkout_strategy: CheckoutStrategy::Branch,
            repo_config_file: None,
            autoplan_modules: false,
            comment_mode: CommentMode::Edit,
            status_name: "bosun".into(),
            access: Default::default(),
            repo_powers: crate::config::powers::Rules::new(
                crate::config::powers::ServerPolicy::permissive(),
            ),
            pass_env: Default::default(),
            public_url: None,
            web_url: "https://github.com".into(),
            policy_eval: Default::default(),
        }
    }

    fn job(kind: &str, body: &str) -> Job {
        let spec = serde_json::json!({
            "kind": kind,
            "repo": { "full_name": "acme/infra", "clone_url": "https://x/acme/infra.git", "default_branch": "main" },
            "pr_number": 1, "comment_id": 2, "author": "alice", "body": body,
        });
        Job {
            id: 1,
            kind: kind.into(),
            repository: "acme/infra".into(),
            installation_id: InstallationId(1),
            pr: PrNumber(1),
            spec: spec.to_string(),
            status: JobStatus::Running,
            attempts: 1,
            summary: None,
            claim: 1,
        }
    }

    #[test]
    fn a_drain_stops_what_only_plans_and_waits_for_what_may_write_state() {
        let s = settings();
        for kind in ["autoplan", "replan", "reconcile", "drift"] {
            assert!(stops(&s, &job(kind, "")), "{kind}");
        }
        for body in ["bosun plan", "bosun plan -d envs/dev -- -var x=1"] {
            assert!(stops(&s, &job("comment", body)), "{body}");
        }
        for body in [
            "bosun apply",
            "bosun apply -d envs/dev",
            "bosun import aws_instance.a i-123",
            "bosun state rm aws_instance.a",
            "bosun unlock",
            "not a command",
        ] {
            assert!(!stops(&s, &job("comment", body)), "{body}");
        }
        assert!(!stops(&s, &job("closed", "")));
        let mut unreadable = job("comment", "bosun plan");
        unreadable.spec = "{".into();
        assert!(!stops(&s, &unreadable));
    }
}
