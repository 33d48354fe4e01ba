//! Releasing a pull request's project locks, and waking the pull requests that waited for
//! them: their re-plan jobs are enqueued in the same store transaction as the release, so a
//! crash can never lose a wake-up.

use super::Context;
use super::job::{JobSpec, RepoRef};
use crate::plan::Target;
use crate::store::{NewJob, Released, Waiter, now_millis};

/// Releases `pr`'s locks on `targets` (all of them, and its own waits, when `None`) and
/// enqueues a re-plan of every pull request that waited for one of them.
pub async fn release(
    ctx: &Context,
    repo: &RepoRef,
    installation_id: u64,
    pr: u64,
    targets: Option<&[Target]>,
) -> anyhow::Result<Released> {
    let now = now_millis();
    let wake = |w: &Waiter| {
        let note =
            format!("Planned by bosun: #{pr} released the locks this pull request waited for.");
        let spec = JobSpec::Replan {
            repo: repo.clone(),
            pr_number: w.pr,
            targets: w.targets.clone(),
            note,
        };
        NewJob {
            source: format!("wake {} #{} by #{pr} at {now}", repo.full_name, w.pr),
            kind: spec.kind().to_owned(),
            repository: repo.full_name.clone(),
            installation_id,
            pr: w.pr,
            priority: 0,
            spec: serde_json::to_string(&spec).unwrap_or_default(),
            created_at: now,
            supersedes_kind: None,
        }
    };
    let released = ctx
        .store
        .release_locks(&repo.full_name, pr, targets, &wake)
        .await?;
    for w in &released.woken {
        tracing::info!(waiter = w.pr, "woke a pull request waiting for locks");
    }
    Ok(released)
}

/// The projects whose locks `pr` holds that `cmd`'s flags select (every one without flags).
pub async fn held(
    ctx: &Context,
    repo: &str,
    pr: u64,
    cmd: &crate::command::Command,
) -> anyhow::Result<Vec<Target>> {
    Ok(ctx
        .store
        .locks_of_pr(repo, pr)
        .await?
        .into_iter()
        .map(|l| l.target)
        .filter(|t| cmd.selects(t))
        .collect())
}
