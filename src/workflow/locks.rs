//! Releasing a pull request's project locks, and waking the pull requests that waited for
//! them: their re-plan jobs are enqueued in the same store transaction as the release, so a
//! crash can never lose a wake-up.

use super::Context;
use super::job::{JobSpec, RepoRef};
use crate::ids::RepoKey;
use crate::ids::{InstallationId, PrNumber};
use crate::plan::Target;
use crate::store::{NewJob, Released, Waiter, now_millis};

/// Releases `pr`'s locks on `targets` (all of them, and its own waits, when `None`) and
/// enqueues a re-plan of every pull request that waited for one of them; each released lock
/// is an audit entry by `actor`.
pub async fn release(
    ctx: &Context,
    repo: &RepoRef,
    installation_id: InstallationId,
    pr: PrNumber,
    targets: Option<&[Target]>,
    actor: &crate::audit::Actor,
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
            repository: repo.key(),
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
        .release_locks(&repo.key(), pr, targets, &wake)
        .await?;
    for w in &released.woken {
        tracing::info!(waiter = w.pr.0, "woke a pull request waiting for locks");
    }
    let entries = super::audit_log::locks(
        crate::audit::Kind::LockReleased,
        actor,
        &repo.full_name,
        pr,
        &released.released,
        "released",
    );
    ctx.audit_all(entries).await;
    Ok(released)
}

/// Whether two projects are under one lock: locks are per dir and workspace, so named
/// projects sharing them share it.
pub fn same_lock(a: &Target, b: &Target) -> bool {
    a.dir == b.dir && a.workspace == b.workspace
}

/// The locks `pr` holds that `cmd`'s flags select (every one without flags): a lock is
/// selected when its project is, or any project of the pull request's plans under it (a lock
/// shared by two named projects carries one name).
pub async fn held(
    ctx: &Context,
    repo: &RepoKey,
    pr: PrNumber,
    cmd: &crate::command::Command,
) -> anyhow::Result<Vec<Target>> {
    let plans = ctx.store.plans_of_pr(repo, pr).await?;
    Ok(ctx
        .store
        .locks_of_pr(repo, pr)
        .await?
        .into_iter()
        .map(|l| l.target)
        .filter(|t| {
            cmd.selects(t)
                || plans
                    .iter()
                    .any(|p| same_lock(&p.target, t) && cmd.selects(&p.target))
        })
        .collect())
}

/// The projects of `pr`'s plans under the locks `released`: a plan made under a lock given
/// up goes with it, whichever of the lock's projects it is.
pub async fn plans_under(
    ctx: &Context,
    repo: &RepoKey,
    pr: PrNumber,
    released: &[Target],
) -> anyhow::Result<Vec<Target>> {
    Ok(ctx
        .store
        .plans_of_pr(repo, pr)
        .await?
        .into_iter()
        .map(|p| p.target)
        .filter(|t| released.iter().any(|l| same_lock(l, t)))
        .collect())
}
