//! `approve_policies [--policy-set NAME]... [--clear-policy-approval]`: an owner of a policy
//! set (the set's `owners` or the top-level ones) approves it on the pull request's head for
//! every project it failed; enough approvals (`approve_count`) make it count as passed, and
//! the `bosun/policy` check runs are written again. `--clear-policy-approval` removes the
//! commenter's approvals. A new push leaves every approval behind (they are of a head).

use super::Context;
use super::feedback;
use super::policy_check::{self, At};
use crate::audit::{Actor, Kind, NewEntry};
use crate::command::Command;
use crate::github::PrState;
use crate::ids::{InstallationId, PrNumber};
use crate::policy::{Policies, PolicySet};
use crate::render;
use crate::store::now_millis;

/// Who comments, on which pull request.
pub struct Approval<'a> {
    pub repo: &'a str,
    pub repo_ref: &'a super::job::RepoRef,
    pub installation_id: InstallationId,
    pub pr_number: PrNumber,
    pub author: &'a str,
}

/// Runs the command; returns a one-line summary.
pub async fn run(ctx: &Context, a: &Approval<'_>, cmd: &Command) -> anyhow::Result<String> {
    let say = |body: String| async move {
        feedback::reply(ctx, a.installation_id, a.repo, a.pr_number, &body).await
    };
    let info = ctx
        .github
        .pull_request(a.installation_id, a.repo, a.pr_number)
        .await?;
    let Some(policies) = policy_check::policies(ctx, a.repo, &info.base_ref) else {
        say(render::policy::not_configured()).await?;
        return Ok("approve_policies: policy checks are not configured".into());
    };
    if !cmd.names_none() {
        say(render::policy::no_project_selection()).await?;
        return Ok("approve_policies refused: -d, -p and -w are not taken".into());
    }
    if info.state == PrState::Closed {
        say(render::reply::pr_closed(ctx.settings.command_name())).await?;
        return Ok("approve_policies refused: the pull request is closed".into());
    }
    // A merged pull request's plans (and so its policy results) are of its merge commit.
    let pr = super::job::PrRef::of(&info);
    let at = At {
        repo: a.repo_ref,
        pr: a.pr_number,
        head: &pr.head_sha,
        base_ref: &info.base_ref,
    };
    let mut owned = Vec::new();
    for set in &policies.sets {
        if is_owner(ctx, a, &policies, set).await? {
            owned.push(set.name.clone());
        }
    }
    let owns = |set: &PolicySet| owned.contains(&set.name);
    let mut refused = Vec::new();
    let mut cleared = 0;
    let mut approved = Vec::new();
    if cmd.clear_policy_approval {
        if !owned.is_empty() {
            cleared = ctx
                .store
                .clear_policy_approvals((&a.repo_ref.key(), a.pr_number), at.head, a.author)
                .await?;
            audit(
                ctx,
                a,
                at,
                "policy_approvals_cleared",
                &format!("{cleared} cleared"),
            )
            .await;
        } else {
            refused.push(render::policy::owns_none(a.author));
        }
    } else {
        let statuses = policy_check::statuses(ctx, at, &policies).await?;
        let mut failed: Vec<&str> = Vec::new();
        for p in &statuses {
            for s in p.sets.iter().filter(|s| !s.failures.is_empty()) {
                if !failed.contains(&s.set.as_str()) {
                    failed.push(&s.set);
                }
            }
        }
        for named in &cmd.policy_sets {
            if policies.set(named).is_none() {
                refused.push(format!(
                    "There is no policy set {} (the sets: {}).",
                    render::code_span(named),
                    names(&policies).join(", ")
                ));
            }
        }
        let wanted = failed
            .into_iter()
            .filter(|s| cmd.policy_sets.is_empty() || cmd.policy_sets.iter().any(|n| n == s));
        for name in wanted {
            let Some(set) = policies.set(name) else {
                continue;
            };
            if !owns(set) {
                let owners = policies.approvers(set).describe();
                refused.push(render::policy::not_owner(a.author, name, &owners));
            } else if set.prevent_self_approve && info.author.eq_ignore_ascii_case(a.author) {
                refused.push(render::policy::self_approval(name));
            } else {
                ctx.store
                    .approve_policy(
                        (&a.repo_ref.key(), a.pr_number),
                        at.head,
                        name,
                        a.author,
                        now_millis(),
                    )
                    .await?;
                audit(ctx, a, at, "policy_approved", name).await;
                approved.push(name.to_owned());
            }
        }
    }
    policy_check::publish_checks(ctx, a.installation_id, at, None).await?;
    let mut still: Vec<String> = Vec::new();
    for p in policy_check::statuses(ctx, at, &policies).await? {
        for s in p.blocking() {
            if !still.contains(&s.set) {
                still.push(s.set.clone());
            }
        }
    }
    // The plan comment's policy sections say where the sets stand now (when it is edited in
    // place; in `new` mode the reply and the check runs say it).
    let changed = !approved.is_empty() || cleared > 0;
    if changed && ctx.settings.comment_mode == crate::config::CommentMode::Edit {
        let req = super::plan::Request {
            actor: Actor::Github(a.author.to_owned()),
            repo: a.repo_ref.clone(),
            installation_id: a.installation_id,
            merged: info.state == PrState::Merged,
            pr,
            selection: super::plan::Selection::All,
            extra_args: Vec::new(),
            note: Some(format!(
                "Policy approvals changed by @{} with `approve_policies`.",
                a.author
            )),
        };
        feedback::publish_summary(ctx, &req, &[]).await?;
    }
    say(render::policy::approve_reply(
        &approved, cleared, &refused, &still,
    ))
    .await?;
    Ok(format!(
        "approve_policies: {} approved, {cleared} cleared, {} refused",
        approved.len(),
        refused.len()
    ))
}

/// Whether the commenter owns `set`: one of its users or the top-level ones (without regard
/// to case), or an active member of one of its teams or the top-level ones (`org/slug`, or a
/// slug of the repository's owner).
async fn is_owner(
    ctx: &Context,
    a: &Approval<'_>,
    policies: &Policies,
    set: &PolicySet,
) -> anyhow::Result<bool> {
    use anyhow::Context as _;
    let owners = policies.approvers(set);
    if owners.has_user(a.author) {
        return Ok(true);
    }
    let repo_owner = a.repo.split('/').next().unwrap_or_default();
    for team in &owners.teams {
        let (org, slug) = team.split_once('/').unwrap_or((repo_owner, team));
        let member = ctx
            .github
            .team_member(a.installation_id, org, slug, a.author)
            .await
            .with_context(|| format!("reading whether {} is in team {team}", a.author))?;
        if member {
            return Ok(true);
        }
    }
    Ok(false)
}

fn names(policies: &Policies) -> Vec<String> {
    policies
        .sets
        .iter()
        .map(|s| render::code_span(&s.name))
        .collect()
}

async fn audit(ctx: &Context, a: &Approval<'_>, at: At<'_>, outcome: &str, detail: &str) {
    let entry = NewEntry::new(
        Kind::PolicyDecision,
        Actor::Github(a.author.to_owned()),
        a.repo,
        outcome,
    )
    .pr(a.pr_number)
    .sha(at.head)
    .detail(detail.to_owned());
    ctx.audit(entry).await;
}
