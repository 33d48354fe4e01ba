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
use super::stop::{self, Stop};
use super::{locks, plan};
use crate::audit::Actor;
use crate::ids::RepoKey;
use crate::ids::{InstallationId, PrNumber, Sha};
use anyhow::Context as _;

use crate::apply::{ApplyPolicy, same_changes};
use crate::config::CommentMode;
use crate::config::repo::{ApplyRequirement, RepoConfig};
use crate::github::PrState;
use crate::plan::{Outcome, Target};
use crate::store::{ApplyLock, ApplyRecord, Claim, StoredPlan};

pub async fn run(
    ctx: &Context,
    claim: Claim,
    repo: &RepoRef,
    installation_id: InstallationId,
    pr: PrNumber,
    merged: bool,
) -> anyhow::Result<String> {
    if merged {
        return run_merged(ctx, claim, repo, installation_id, pr).await;
    }
    let released = locks::release(ctx, repo, installation_id, pr, None, &Actor::Bosun).await?;
    say_released(ctx, repo, installation_id, pr, &released.released).await?;
    remove_pr_files(ctx, repo, pr).await?;
    let plans = ctx.store.delete_plans(&repo.key(), pr).await?;
    ctx.store.delete_reviewed_plans(&repo.key(), pr).await?;
    ctx.store.delete_hook_configs(&repo.key(), pr).await?;
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
    installation_id: InstallationId,
    pr: PrNumber,
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
    installation_id: InstallationId,
    pr: PrNumber,
) -> anyhow::Result<()> {
    let released = locks::release(ctx, repo, installation_id, pr, None, &Actor::Bosun).await?;
    say_released(ctx, repo, installation_id, pr, &released.released).await?;
    remove_pr_files(ctx, repo, pr).await?;
    ctx.store.delete_plans(&repo.key(), pr).await?;
    ctx.store.delete_reviewed_plans(&repo.key(), pr).await?;
    ctx.store.delete_hook_configs(&repo.key(), pr).await?;
    Ok(())
}

/// Deletes pull request `pr`'s checkouts and plugin cache. They are named by the repository's
/// name when they were made: the name now, and the first name bosun saw it by (its store key)
/// when the repository was renamed since. (A name it had in between is not known.)
async fn remove_pr_files(ctx: &Context, repo: &RepoRef, pr: PrNumber) -> anyhow::Result<()> {
    ctx.workspaces.remove_pr(&repo.full_name, pr).await?;
    remove_plugin_cache(ctx, &repo.full_name, pr).await?;
    let key = repo.key();
    // A key `name#id` is no name: nothing was ever made under it.
    if key.as_str() != repo.full_name && !key.as_str().contains('#') {
        ctx.workspaces.remove_pr(key.as_str(), pr).await?;
        remove_plugin_cache(ctx, key.as_str(), pr).await?;
    }
    Ok(())
}

/// Deletes pull request `pr`'s own plugin cache (see `terraform::cache::scope`).
async fn remove_plugin_cache(ctx: &Context, repo: &str, pr: PrNumber) -> anyhow::Result<()> {
    if pr == PrNumber(0) {
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

/// A merged pull request: its projects with `apply_on_merge` planned again at the merge commit
/// and applied when the plan is the one reviewed; the rest released. The job's summary.
async fn run_merged(
    ctx: &Context,
    claim: Claim,
    repo: &RepoRef,
    installation_id: InstallationId,
    pr: PrNumber,
) -> anyhow::Result<String> {
    stop::outcome(merged_steps(ctx, claim, repo, installation_id, pr).await)
}

/// [`run_merged`], step by step; a step that stops has released what the pull request held.
async fn merged_steps(
    ctx: &Context,
    claim: Claim,
    repo: &RepoRef,
    installation_id: InstallationId,
    pr: PrNumber,
) -> Result<String, Stop> {
    let m = read_merged(ctx, repo, installation_id, pr).await?;
    let known = read_plans(ctx, &m).await?;
    pre_hooks(ctx, &m, claim.job_id).await?;
    let config = repo_config(ctx, &m).await?;
    let base = base_config(ctx, &m).await?;
    let reviewed = due_reviewed(ctx, &m, base.as_ref(), &known);
    let due = Due {
        reviewed: hold_unapproved(ctx, &m, base.as_ref(), reviewed).await?,
        unreviewed: unreviewed(ctx, &m, base.as_ref(), &known),
    };
    if due.reviewed.is_empty() && due.unreviewed.is_empty() {
        let summary = "merged: nothing to apply on merge; locks, plans and checkouts released";
        return Err(m.forget(ctx, summary.into()).await);
    }
    let due_targets = due.targets();
    release_the_rest(ctx, &m, &known.plans, &due_targets).await?;
    let (mut same, moved) = plan_merge_commit(ctx, claim.job_id, &m, &due, &due_targets).await;
    let policy_held = hold_by_policy(ctx, &m, &mut same).await?;
    let mut summary = format!("merged as {}", m.merge_sha.short());
    let locked = hold_while_locked(ctx, &mut same).await?;
    summary.push_str(&apply_on_merge(ctx, claim, &m, config.as_ref(), &same).await?);
    let held = Held {
        locked,
        policy: policy_held,
        moved,
    };
    summary.push_str(&announce_held(ctx, &m, held).await?);
    Ok(summary)
}

/// What the steps of a merged pull request share: the pull request, its final head (what was
/// reviewed), its merge commit, and the request that plans and applies at that commit.
struct Merged<'a> {
    repo: &'a RepoRef,
    installation_id: InstallationId,
    pr: PrNumber,
    final_head: Sha,
    merge_sha: Sha,
    req: plan::Request,
}

impl Merged<'_> {
    fn name(&self) -> &str {
        &self.repo.full_name
    }

    fn key(&self) -> RepoKey {
        self.repo.key()
    }

    /// Releases everything the pull request holds, and stops with `summary`.
    async fn forget(&self, ctx: &Context, summary: String) -> Stop {
        let forgot = forget(ctx, self.repo, self.installation_id, self.pr).await;
        Stop::told(forgot.map(|()| summary))
    }

    /// Replies `body` on the pull request, releases everything it holds, and stops with
    /// `summary`.
    async fn refuse(&self, ctx: &Context, body: &str, summary: String) -> Stop {
        match feedback::reply(ctx, self.installation_id, self.name(), self.pr, body).await {
            Ok(()) => self.forget(ctx, summary).await,
            Err(e) => Stop::Failed(e),
        }
    }

    /// Where policy checks ran on the plans reviewed, at the final head.
    fn reviewed_at(&self) -> super::policy_check::At<'_> {
        super::policy_check::At {
            repo: self.repo,
            pr: self.pr,
            head: &self.final_head,
            base_ref: &self.req.pr.base_ref,
        }
    }

    /// The apply policy of `target` (see [`applying::policy`]).
    fn policy(&self, ctx: &Context, base: Option<&RepoConfig>, t: &Target) -> ApplyPolicy {
        applying::policy(ctx, (self.name(), &self.req.pr.base_ref), base, t)
    }
}

/// Reads the pull request; stops, releasing everything, when GitHub names no merge commit.
async fn read_merged<'a>(
    ctx: &Context,
    repo: &'a RepoRef,
    installation_id: InstallationId,
    pr: PrNumber,
) -> Result<Merged<'a>, Stop> {
    let info = ctx
        .github
        .pull_request(installation_id, &repo.full_name, pr)
        .await?;
    let merge_sha = match (info.state, info.merge_commit_sha.clone()) {
        (PrState::Merged, Some(sha)) => sha,
        _ => {
            forget(ctx, repo, installation_id, pr).await?;
            return Err(Stop::Told(
                "merged, but GitHub names no merge commit: released".into(),
            ));
        }
    };
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
    Ok(Merged {
        repo,
        installation_id,
        pr,
        final_head: info.head_sha,
        merge_sha,
        req,
    })
}

/// The pull request's plans: those reviewed, the latest, and its applies.
struct Known {
    reviewed: Vec<StoredPlan>,
    plans: Vec<StoredPlan>,
    applies: Vec<ApplyRecord>,
}

/// Keeps what was reviewed, the plans made at the pull request's final head, apart once (never
/// overwritten by the merge commit's plans, also when this job runs again); then reads the
/// plans and applies.
async fn read_plans(ctx: &Context, m: &Merged<'_>) -> anyhow::Result<Known> {
    let pr = m.pr;
    ctx.store
        .keep_reviewed_plans(&m.key(), pr, &m.final_head)
        .await
        .context("keeping the reviewed plans")?;
    Ok(Known {
        reviewed: ctx.store.reviewed_plans(&m.key(), pr).await?,
        plans: ctx.store.plans_of_pr(&m.key(), pr).await?,
        applies: ctx.store.applies_of_pr(&m.key(), pr).await?,
    })
}

/// Fetches the merge commit and runs the pre workflow hooks of apply: an apply on merge is an
/// apply (a hook may write the config); stops, applying nothing, when a blocking one fails.
async fn pre_hooks(ctx: &Context, m: &Merged<'_>, job_id: i64) -> Result<(), Stop> {
    plan::fetch(ctx, &m.req).await?;
    let pre = super::hooks::pre(ctx, &m.req, "apply", job_id).await;
    if let Some(failed) = &pre.failed {
        let body = crate::render::hooks::stopped("apply on merge", &failed.shown());
        let summary = format!(
            "merged, nothing applied: {} `{}` failed",
            failed.phase.key(),
            failed.name
        );
        return Err(m.refuse(ctx, &body, summary).await);
    }
    Ok(())
}

/// The repo config at the merge commit; stops, applying nothing, when it is not valid.
async fn repo_config(ctx: &Context, m: &Merged<'_>) -> Result<Option<RepoConfig>, Stop> {
    match plan::read_config(ctx, (m.name(), &m.req.pr.base_ref), &m.merge_sha).await? {
        Some(Ok(config)) => Ok(Some(config)),
        Some(Err(e)) => {
            feedback::config_error(ctx, &m.req, &e).await?;
            let summary = format!("merged with a bad repo config, nothing applied: {e}");
            Err(m.forget(ctx, summary).await)
        }
        None => Ok(None),
    }
}

/// The base branch's config before the merge, where policy comes from: a pull request cannot
/// turn on its own apply on merge, nor drop the approval its base requires. Stops, applying
/// nothing, when it is not valid.
async fn base_config(ctx: &Context, m: &Merged<'_>) -> Result<Option<RepoConfig>, Stop> {
    let base = super::policy::read(ctx, m.name(), &m.req.pr, true).await?;
    match base.config {
        Ok(config) => Ok(config),
        Err(e) => {
            let body = crate::render::reply::base_config_error(&e);
            let summary = format!(
                "merged, but the base branch's repo config is not valid, nothing applied: {e}"
            );
            Err(m.refuse(ctx, &body, summary).await)
        }
    }
}

/// The projects planned at the pull request's final head and not applied since, with
/// apply_on_merge.
fn due_reviewed<'k>(
    ctx: &Context,
    m: &Merged<'_>,
    base: Option<&RepoConfig>,
    known: &'k Known,
) -> Vec<&'k StoredPlan> {
    known
        .reviewed
        .iter()
        .filter(|p| !applying::applied(p, &known.applies))
        .filter(|p| m.policy(ctx, base, &p.target).apply_on_merge)
        .collect()
}

/// Holds back the due projects that require approval when the pull request is not approved
/// (merging proves `mergeable` and `undiverged`, not `approved`), and says so. The rest.
async fn hold_unapproved<'k>(
    ctx: &Context,
    m: &Merged<'_>,
    base: Option<&RepoConfig>,
    due: Vec<&'k StoredPlan>,
) -> anyhow::Result<Vec<&'k StoredPlan>> {
    let needs_approval = |p: &&StoredPlan| {
        m.policy(ctx, base, &p.target)
            .requirements
            .contains(&ApplyRequirement::Approved)
    };
    let approved = || applying::is_approved(ctx, m.installation_id, m.name(), m.pr);
    if !due.iter().any(needs_approval) || approved().await? {
        return Ok(due);
    }
    let (unapproved, rest): (Vec<&StoredPlan>, Vec<&StoredPlan>) =
        due.into_iter().partition(needs_approval);
    let targets: Vec<Target> = unapproved.iter().map(|p| p.target.clone()).collect();
    held_back(ctx, m.name(), m.pr, &targets, "not approved");
    let body = crate::render::reply::merged_unapproved(&targets);
    feedback::reply(ctx, m.installation_id, m.name(), m.pr, &body).await?;
    Ok(rest)
}

/// Projects with apply_on_merge whose latest plan is not of the final head: nothing was
/// reviewed to compare with, so they are never applied on merge; the merge commit's plan is
/// posted and waits for `apply`.
fn unreviewed(
    ctx: &Context,
    m: &Merged<'_>,
    base: Option<&RepoConfig>,
    known: &Known,
) -> Vec<Target> {
    known
        .plans
        .iter()
        .filter(|p| p.head_sha != m.final_head)
        .filter(|p| !known.reviewed.iter().any(|r| r.target == p.target))
        .filter(|p| !applying::applied(p, &known.applies))
        .filter(|p| m.policy(ctx, base, &p.target).apply_on_merge)
        .map(|p| p.target.clone())
        .collect()
}

/// The projects due on merge: reviewed ones, and unreviewed ones (planned, never applied).
struct Due<'k> {
    reviewed: Vec<&'k StoredPlan>,
    unreviewed: Vec<Target>,
}

impl Due<'_> {
    fn targets(&self) -> Vec<Target> {
        self.reviewed
            .iter()
            .map(|p| p.target.clone())
            .chain(self.unreviewed.iter().cloned())
            .collect()
    }
}

/// Everything not due goes: the other projects' plans, and the locks no due project is under
/// (two named projects on one dir and workspace share a lock).
async fn release_the_rest(
    ctx: &Context,
    m: &Merged<'_>,
    plans: &[StoredPlan],
    due_targets: &[Target],
) -> anyhow::Result<()> {
    let pr = m.pr;
    let rest_plans: Vec<Target> = plans
        .iter()
        .map(|p| p.target.clone())
        .filter(|t| !due_targets.contains(t))
        .collect();
    let rest_locks: Vec<Target> = ctx
        .store
        .locks_of_pr(&m.key(), pr)
        .await?
        .into_iter()
        .map(|l| l.target)
        .filter(|l| !due_targets.iter().any(|t| locks::same_lock(l, t)))
        .collect();
    if !rest_locks.is_empty() {
        locks::release(
            ctx,
            m.repo,
            m.installation_id,
            pr,
            Some(&rest_locks),
            &Actor::Bosun,
        )
        .await?;
    }
    if !rest_plans.is_empty() {
        ctx.store.delete_plans_of(&m.key(), pr, &rest_plans).await?;
    }
    Ok(())
}

/// Plans the due projects at the merge commit, and splits them: those whose plan proposes
/// exactly the changes of the plan reviewed, and those whose plan moved (or was never
/// reviewed).
async fn plan_merge_commit(
    ctx: &Context,
    job_id: i64,
    m: &Merged<'_>,
    due: &Due<'_>,
    due_targets: &[Target],
) -> (Vec<Target>, Vec<Target>) {
    let (merge_plans, checks) =
        plan::plan_targets(ctx, job_id, &m.req, due_targets, &plan::Planning::default()).await;
    futures::future::join_all(checks.into_iter().map(super::feedback::CheckRun::written)).await;
    let (mut same, mut moved) = (Vec::new(), due.unreviewed.clone());
    for reviewed in &due.reviewed {
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
    (same, moved)
}

/// Policy checks: a project with a failed set not approved is not applied on merge (its
/// owners approve it on the merged pull request, then `apply` applies it). Takes those out of
/// `same`, and returns them.
async fn hold_by_policy(
    ctx: &Context,
    m: &Merged<'_>,
    same: &mut Vec<Target>,
) -> anyhow::Result<Vec<Target>> {
    let reviewed_at = m.reviewed_at();
    let merged_at = super::policy_check::At {
        head: &m.merge_sha,
        ..reviewed_at
    };
    let policy_held = super::policy_check::held_on_merge(ctx, reviewed_at, merged_at, same).await?;
    same.retain(|t| !policy_held.contains(t));
    Ok(policy_held)
}

/// While applies are locked (`POST /api/apply-lock`) nothing is applied on merge either: the
/// merge commit's plan is posted and waits for `apply`. Takes the projects out of `same`, and
/// returns them with the lock (none when nothing was held).
async fn hold_while_locked(
    ctx: &Context,
    same: &mut Vec<Target>,
) -> anyhow::Result<Option<(ApplyLock, Vec<Target>)>> {
    let lock = ctx.store.apply_lock().await?;
    let locked = if lock.is_some() {
        std::mem::take(same)
    } else {
        Vec::new()
    };
    Ok(lock.filter(|_| !locked.is_empty()).map(|l| (l, locked)))
}

/// Applies the merge commit's plans of `same` (proposing what was reviewed), posts the apply
/// comment and settles them. The job summary's part; none when `same` is empty.
async fn apply_on_merge(
    ctx: &Context,
    claim: Claim,
    m: &Merged<'_>,
    config: Option<&RepoConfig>,
    same: &[Target],
) -> anyhow::Result<String> {
    if same.is_empty() {
        return Ok(String::new());
    }
    let pr = m.pr;
    let stored: Vec<StoredPlan> = ctx
        .store
        .plans_of_pr(&m.key(), pr)
        .await?
        .into_iter()
        .filter(|p| p.head_sha == m.merge_sha && same.contains(&p.target))
        .collect();
    let set = ApplySet {
        job_id: claim.job_id,
        repo: m.repo,
        installation_id: m.installation_id,
        pr: &m.req.pr,
        merged: true,
        user: &m.req.pr.author,
    };
    let results = applying::apply_plans(ctx, claim, &set, stored, config).await;
    let note = format!(
        "Applied on merge (`apply_on_merge`): the plan of the merge commit proposes \
         exactly the changes of the plan reviewed on #{pr}."
    );
    applying::publish(ctx, &set, &results, (&note, &[]), config).await?;
    applying::settle_merged(ctx, &set, &results).await?;
    let ok = results.iter().filter(|r| r.outcome.succeeded()).count();
    Ok(format!("; applied {ok} of {} on merge", results.len()))
}

/// The due projects not applied on merge, by why.
struct Held {
    /// Applies are locked: the lock, and the projects that would have been applied.
    locked: Option<(ApplyLock, Vec<Target>)>,
    /// A policy set failed and is not approved.
    policy: Vec<Target>,
    /// The plan changed since it was reviewed (or was never reviewed).
    moved: Vec<Target>,
}

/// Announces the projects held back and posts the merge commit's plans for each reason (see
/// [`hold`]). The job summary's part.
async fn announce_held(ctx: &Context, m: &Merged<'_>, held: Held) -> anyhow::Result<String> {
    let mut summary = String::new();
    let short = m.merge_sha.short();
    let command_name = ctx.settings.command_name();
    if let Some((lock, locked)) = held.locked {
        let note = crate::render::reply::apply_locked_on_merge(short, command_name, lock.locked_at);
        summary.push_str(&hold(ctx, &m.req, &locked, ("applies are locked", note)).await?);
    }
    if !held.policy.is_empty() {
        let note = format!(
            "**Not applied on merge.** A policy set failed on this plan of the merge commit \
             `{short}` and is not approved. An owner of each failed set approves it with \
             `{command_name} approve_policies`; then comment `{command_name} apply` here to \
             apply it.",
        );
        let why = ("policy checks failed", note);
        summary.push_str(&hold(ctx, &m.req, &held.policy, why).await?);
    }
    if !held.moved.is_empty() {
        let note = format!(
            "**Not applied on merge.** This plan of the merge commit `{short}` is not the plan \
             reviewed at the pull request's last commit (the base branch moved since, or that \
             commit was not planned). Review it, then comment `{command_name} apply` here to \
             apply it.",
        );
        let why = ("the plan changed since it was reviewed", note);
        summary.push_str(&hold(ctx, &m.req, &held.moved, why).await?);
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
fn held_back(ctx: &Context, repo: &str, pr: PrNumber, targets: &[Target], why: &str) {
    ctx.notify(crate::notify::Kind::ApplyHeld, repo, pr, |link| {
        crate::render::notify::apply_held(repo, pr, targets, why, link)
    });
}
