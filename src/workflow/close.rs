//! A closed pull request. Unmerged: its locks are released (waking whoever waited), its plans
//! and checkouts deleted. Merged: the projects with `apply_on_merge` (by the base branch's
//! policy) are planned again at the merge commit and applied when that plan proposes exactly
//! the changes of the plan reviewed at the pull request's final head (kept in its own record,
//! so a re-run after a restart compares with the same); when the base moved, or the final head
//! was not planned, the new plan is posted and waits for `bosun apply` on the merged pull
//! request. Everything else is released.

use super::Context;
use super::apply::{self as applying, ApplySet};
use super::feedback;
use super::job::{PrRef, RepoRef};
use super::{locks, plan};
use crate::audit::Actor;
use anyhow::Context as _;

use crate::apply::same_changes;
use crate::config::CommentMode;
use crate::config::repo::ApplyRequirement;
use crate::github::PrState;
use crate::plan::{Outcome, Target};
use crate::store::{Claim, StoredPlan};

pub async fn run(
    ctx: &Context,
    claim: Claim,
    repo: &RepoRef,
    installation_id: u64,
    pr: u64,
    merged: bool,
) -> anyhow::Result<String> {
    if merged {
        return run_merged(ctx, claim, repo, installation_id, pr).await;
    }
    let released = locks::release(ctx, repo, installation_id, pr, None, &Actor::Bosun).await?;
    say_released(ctx, repo, installation_id, pr, &released.released).await?;
    ctx.workspaces.remove_pr(&repo.full_name, pr).await?;
    remove_plugin_cache(ctx, &repo.full_name, pr).await?;
    let plans = ctx.store.delete_plans(&repo.full_name, pr).await?;
    ctx.store.delete_reviewed_plans(&repo.full_name, pr).await?;
    ctx.store.delete_hook_configs(&repo.full_name, pr).await?;
    Ok(format!(
        "closed: {} lock(s) released, {} waiting pull request(s) woken, checkouts and {plans} \
         plan(s) deleted",
        released.released.len(),
        released.woken.len()
    ))
}

/// Says which locks closing the pull request released, as Atlantis does; nothing when it
/// held none.
async fn say_released(
    ctx: &Context,
    repo: &RepoRef,
    installation_id: u64,
    pr: u64,
    released: &[Target],
) -> anyhow::Result<()> {
    if released.is_empty() {
        return Ok(());
    }
    let body = crate::render::reply::closed(released);
    feedback::reply(ctx, installation_id, &repo.full_name, pr, &body).await
}

/// Releases everything a merged pull request holds.
async fn forget(
    ctx: &Context,
    repo: &RepoRef,
    installation_id: u64,
    pr: u64,
) -> anyhow::Result<()> {
    let released = locks::release(ctx, repo, installation_id, pr, None, &Actor::Bosun).await?;
    say_released(ctx, repo, installation_id, pr, &released.released).await?;
    ctx.workspaces.remove_pr(&repo.full_name, pr).await?;
    remove_plugin_cache(ctx, &repo.full_name, pr).await?;
    ctx.store.delete_plans(&repo.full_name, pr).await?;
    ctx.store.delete_reviewed_plans(&repo.full_name, pr).await?;
    ctx.store.delete_hook_configs(&repo.full_name, pr).await?;
    Ok(())
}

/// Deletes pull request `pr`'s own plugin cache (see `terraform::cache::scope`).
async fn remove_plugin_cache(ctx: &Context, repo: &str, pr: u64) -> anyhow::Result<()> {
    if pr == 0 {
        return Ok(());
    }
    let dir = ctx
        .terraform
        .plugin_cache
        .join(crate::terraform::cache::scope(repo, pr));
    match tokio::fs::remove_dir_all(&dir).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("deleting {}", dir.display()))
        }
        _ => Ok(()),
    }
}

async fn run_merged(
    ctx: &Context,
    claim: Claim,
    repo: &RepoRef,
    installation_id: u64,
    pr: u64,
) -> anyhow::Result<String> {
    let name = repo.full_name.as_str();
    let info = ctx.github.pull_request(installation_id, name, pr).await?;
    let merge_sha = match (info.state, info.merge_commit_sha.clone()) {
        (PrState::Merged, Some(sha)) => sha,
        _ => {
            forget(ctx, repo, installation_id, pr).await?;
            return Ok("merged, but GitHub names no merge commit: released".into());
        }
    };
    // What was reviewed: the plans made at the pull request's final head, copied apart once
    // (never overwritten by the merge commit's plans, also when this job runs again).
    ctx.store
        .keep_reviewed_plans(name, pr, &info.head_sha)
        .await
        .context("keeping the reviewed plans")?;
    let reviewed = ctx.store.reviewed_plans(name, pr).await?;
    let plans = ctx.store.plans_of_pr(name, pr).await?;
    let applies = ctx.store.applies_of_pr(name, pr).await?;
    let req = plan::Request {
        actor: crate::audit::Actor::Bosun,
        repo: repo.clone(),
        installation_id,
        pr: PrRef::of(&info),
        selection: plan::Selection::All,
        extra_args: Vec::new(),
        note: None,
        merged: true,
    };
    plan::fetch(ctx, &req).await?;
    // An apply on merge is an apply: its pre workflow hooks run first (a hook may write the
    // config), and a blocking one that fails applies nothing.
    let pre = super::hooks::pre(ctx, &req, "apply", claim.job_id).await;
    if let Some(failed) = &pre.failed {
        let body = crate::render::hooks::stopped("apply on merge", &failed.shown());
        feedback::reply(ctx, installation_id, name, pr, &body).await?;
        forget(ctx, repo, installation_id, pr).await?;
        return Ok(format!(
            "merged, nothing applied: {} `{}` failed",
            failed.phase.key(),
            failed.name
        ));
    }
    let config = match plan::read_config(ctx, (name, &req.pr.base_ref), &merge_sha).await? {
        Some(Ok(config)) => Some(config),
        Some(Err(e)) => {
            feedback::config_error(ctx, &req, &e).await?;
            forget(ctx, repo, installation_id, pr).await?;
            return Ok(format!(
                "merged with a bad repo config, nothing applied: {e}"
            ));
        }
        None => None,
    };
    // Policy is the base branch's before the merge: a pull request cannot turn on its own
    // apply on merge, nor drop the approval its base requires.
    let base = super::policy::read(ctx, name, &req.pr, true).await?;
    if let Err(e) = &base.config {
        let body = crate::render::reply::base_config_error(e);
        feedback::reply(ctx, installation_id, name, pr, &body).await?;
        forget(ctx, repo, installation_id, pr).await?;
        return Ok(format!(
            "merged, but the base branch's repo config is not valid, nothing applied: {e}"
        ));
    }
    let base = base.valid();
    // The projects planned at the pull request's final head and not applied since, with
    // apply_on_merge.
    let mut due: Vec<&StoredPlan> = reviewed
        .iter()
        .filter(|p| !applying::applied(p, &applies))
        .filter(|p| applying::policy(ctx, (name, &req.pr.base_ref), base, &p.target).apply_on_merge)
        .collect();
    // Merging proves `mergeable` and `undiverged`, not `approved`.
    let needs_approval = |p: &&StoredPlan| {
        applying::policy(ctx, (name, &req.pr.base_ref), base, &p.target)
            .requirements
            .contains(&ApplyRequirement::Approved)
    };
    if due.iter().any(needs_approval)
        && !applying::is_approved(ctx, installation_id, name, pr).await?
    {
        let (unapproved, rest): (Vec<&StoredPlan>, Vec<&StoredPlan>) =
            due.into_iter().partition(needs_approval);
        due = rest;
        let targets: Vec<Target> = unapproved.iter().map(|p| p.target.clone()).collect();
        held_back(ctx, name, pr, &targets, "not approved");
        let body = crate::render::reply::merged_unapproved(&targets);
        feedback::reply(ctx, installation_id, name, pr, &body).await?;
    }
    // Projects with apply_on_merge whose latest plan is not of the final head: nothing was
    // reviewed to compare with, so they are never applied on merge; the merge commit's plan is
    // posted and waits for `apply`.
    let unreviewed: Vec<Target> = plans
        .iter()
        .filter(|p| p.head_sha != info.head_sha)
        .filter(|p| !reviewed.iter().any(|r| r.target == p.target))
        .filter(|p| !applying::applied(p, &applies))
        .filter(|p| applying::policy(ctx, (name, &req.pr.base_ref), base, &p.target).apply_on_merge)
        .map(|p| p.target.clone())
        .collect();
    if due.is_empty() && unreviewed.is_empty() {
        forget(ctx, repo, installation_id, pr).await?;
        return Ok("merged: nothing to apply on merge; locks, plans and checkouts released".into());
    }
    let due_targets: Vec<Target> = due
        .iter()
        .map(|p| p.target.clone())
        .chain(unreviewed.iter().cloned())
        .collect();
    // Everything else goes: the other projects' plans, and the locks no due project is under
    // (two named projects on one dir and workspace share a lock).
    let rest_plans: Vec<Target> = plans
        .iter()
        .map(|p| p.target.clone())
        .filter(|t| !due_targets.contains(t))
        .collect();
    let rest_locks: Vec<Target> = ctx
        .store
        .locks_of_pr(name, pr)
        .await?
        .into_iter()
        .map(|l| l.target)
        .filter(|l| !due_targets.iter().any(|t| locks::same_lock(l, t)))
        .collect();
    if !rest_locks.is_empty() {
        locks::release(
            ctx,
            repo,
            installation_id,
            pr,
            Some(&rest_locks),
            &Actor::Bosun,
        )
        .await?;
    }
    if !rest_plans.is_empty() {
        ctx.store.delete_plans_of(name, pr, &rest_plans).await?;
    }

    let (merge_plans, checks) = plan::plan_targets(
        ctx,
        claim.job_id,
        &req,
        &due_targets,
        &plan::Planning::default(),
    )
    .await;
    futures::future::join_all(checks.into_iter().map(super::feedback::CheckRun::written)).await;
    let (mut same, mut moved) = (Vec::new(), unreviewed.clone());
    for reviewed in &due {
        let now = merge_plans.iter().find(|m| m.target == reviewed.target);
        let unchanged = match (&reviewed.outcome, now.map(|m| &m.outcome)) {
            (Outcome::Planned { summary: a, .. }, Some(Outcome::Planned { summary: b, .. })) => {
                same_changes(a, b)
            }
            _ => false,
        };
        if unchanged {
            same.push(reviewed.target.clone());
        } else {
            moved.push(reviewed.target.clone());
        }
    }

    // Policy checks: a project with a failed set not approved is not applied on merge; its
    // owners approve it on the merged pull request, then `apply` applies it.
    let reviewed_at = super::policy_check::At {
        repo: name,
        pr,
        head: &info.head_sha,
        base_ref: &req.pr.base_ref,
    };
    let merged_at = super::policy_check::At {
        head: &merge_sha,
        ..reviewed_at
    };
    let policy_held =
        super::policy_check::held_on_merge(ctx, reviewed_at, merged_at, &same).await?;
    same.retain(|t| !policy_held.contains(t));

    let mut summary = format!("merged as {}", plan::short(&merge_sha));
    // While applies are locked (`POST /api/apply-lock`) nothing is applied on merge either:
    // the merge commit's plan is posted and waits for `apply`.
    let lock = ctx.store.apply_lock().await?;
    let held = if lock.is_some() {
        std::mem::take(&mut same)
    } else {
        Vec::new()
    };
    if !same.is_empty() {
        let stored: Vec<StoredPlan> = ctx
            .store
            .plans_of_pr(name, pr)
            .await?
            .into_iter()
            .filter(|p| p.head_sha == merge_sha && same.contains(&p.target))
            .collect();
        let set = ApplySet {
            job_id: claim.job_id,
            repo,
            installation_id,
            pr: &req.pr,
            merged: true,
            user: &req.pr.author,
        };
        let results = applying::apply_plans(ctx, claim, &set, stored, config.as_ref()).await;
        let note = format!(
            "Applied on merge (`apply_on_merge`): the plan of the merge commit proposes \
             exactly the changes of the plan reviewed on #{pr}."
        );
        applying::publish(ctx, &set, &results, (&note, &[]), config.as_ref()).await?;
        applying::settle_merged(ctx, &set, &results).await?;
        let ok = results.iter().filter(|r| r.outcome.succeeded()).count();
        summary.push_str(&format!("; applied {ok} of {} on merge", results.len()));
    }
    if let Some(lock) = lock.filter(|_| !held.is_empty()) {
        let note = crate::render::reply::apply_locked_on_merge(
            plan::short(&merge_sha),
            ctx.settings.command_name(),
            lock.locked_at,
        );
        summary.push_str(&hold(ctx, &req, &held, ("applies are locked", note)).await?);
    }
    if !policy_held.is_empty() {
        let note = format!(
            "**Not applied on merge.** A policy set failed on this plan of the merge commit \
             `{}` and is not approved. An owner of each failed set approves it with `{name} \
             approve_policies`; then comment `{name} apply` here to apply it.",
            plan::short(&merge_sha),
            name = ctx.settings.command_name()
        );
        let why = ("policy checks failed", note);
        summary.push_str(&hold(ctx, &req, &policy_held, why).await?);
    }
    if !moved.is_empty() {
        let note = format!(
            "**Not applied on merge.** This plan of the merge commit `{}` is not the plan \
             reviewed at the pull request's last commit (the base branch moved since, or that \
             commit was not planned). Review it, then comment `{} apply` here to apply it.",
            plan::short(&merge_sha),
            ctx.settings.command_name()
        );
        let why = ("the plan changed since it was reviewed", note);
        summary.push_str(&hold(ctx, &req, &moved, why).await?);
    }
    Ok(summary)
}

/// Projects of the merged pull request `req` not applied on merge, because `why`: announced,
/// and the merge commit's plans posted in a new comment under `note`. The job summary's part.
async fn hold(
    ctx: &Context,
    req: &plan::Request,
    targets: &[Target],
    (why, note): (&str, String),
) -> anyhow::Result<String> {
    held_back(ctx, &req.repo.full_name, req.pr.number, targets, why);
    let new_req = plan::Request {
        actor: crate::audit::Actor::Bosun,
        note: Some(note),
        ..req.clone()
    };
    feedback::publish_summary_as(ctx, &new_req, CommentMode::New, &[]).await?;
    Ok(format!(
        "; {} project(s) wait for `apply`: {why}",
        targets.len()
    ))
}

/// Announces projects of `pr` that were not applied on merge, and why.
fn held_back(ctx: &Context, repo: &str, pr: u64, targets: &[Target], why: &str) {
    ctx.notify(crate::notify::Kind::ApplyHeld, repo, pr, |link| {
        crate::render::notify::apply_held(repo, pr, targets, why, link)
    });
}
