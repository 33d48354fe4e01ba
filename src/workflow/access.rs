//! Who may run a comment command, and on which pull requests: the commenter's permission on
//! the repository against BOSUN_COMMAND_PERMISSION, the pull request a fork or not against
//! BOSUN_ALLOW_FORK_PRS, and who may apply (BOSUN_APPLY_USERS, BOSUN_APPLY_TEAMS). The rules
//! themselves are in [`crate::access`]; this reads GitHub for them.

use crate::ids::{InstallationId, PrNumber};
use anyhow::Context as _;

use super::Context;
use crate::apply::Refusal;
use crate::command::{Command, CommandKind};
use crate::github::{Permission, PullRequestInfo};
use crate::render;

/// What the gate learnt on the way in, for the command to use.
#[derive(Debug, Clone)]
pub struct Pass {
    /// The commenter's permission on the repository.
    pub has: Permission,
    /// The pull request, as GitHub has it now.
    pub info: PullRequestInfo,
}

/// A command the gate stopped: the reply, and a one-line summary for the job.
#[derive(Debug, Clone)]
pub struct Stopped {
    pub reply: String,
    pub summary: String,
}

/// Checks a command (not `help` or `version`, open to all) by `author` on pull request `pr`
/// before anything runs. `unlock` passes with any permission: its author-or-threshold rule
/// is checked by `unlock` itself, with the same threshold.
pub async fn gate(
    ctx: &Context,
    installation_id: InstallationId,
    repo: &str,
    pr: PrNumber,
    author: &str,
    cmd: &Command,
) -> anyhow::Result<Result<Pass, Stopped>> {
    let policy = &ctx.settings.access;
    let name = ctx.settings.command_name();
    let has = ctx
        .github
        .permission(installation_id, repo, author)
        .await
        .context("reading the commenter's permission")?;
    if cmd.kind != CommandKind::Unlock && !policy.may_command(has) {
        let verb = cmd.kind.as_str();
        return Ok(Err(Stopped {
            reply: render::access::command_not_allowed(
                name,
                verb,
                author,
                has,
                policy.command_permission,
            ),
            summary: format!("{verb} refused: {author} has {}", has.as_str()),
        }));
    }
    let info = ctx
        .github
        .pull_request(installation_id, repo, pr)
        .await
        .context("reading the pull request")?;
    if !policy.serves(info.from_fork) {
        return Ok(Err(Stopped {
            reply: render::access::fork_refused(name),
            summary: format!("{} refused: a pull request from a fork", cmd.kind.as_str()),
        }));
    }
    Ok(Ok(Pass { has, info }))
}

/// Why `user`, with permission `has`, may not apply, if they may not: below the command
/// permission, or not among the listed users and active members of the listed teams.
pub async fn apply_refusal(
    ctx: &Context,
    installation_id: InstallationId,
    user: &str,
    has: Permission,
) -> anyhow::Result<Option<Refusal>> {
    let policy = &ctx.settings.access;
    if !policy.may_command(has) {
        return Ok(Some(Refusal::Permission {
            user: user.to_owned(),
            has,
            needs: policy.command_permission,
        }));
    }
    if !policy.apply_limited() || policy.listed_user(user) {
        return Ok(None);
    }
    for team in &policy.apply_teams {
        let member = ctx
            .github
            .team_member(installation_id, &team.org, &team.slug, user)
            .await
            .with_context(|| format!("reading whether {user} is in team {team}"))?;
        if member {
            return Ok(None);
        }
    }
    Ok(Some(Refusal::NotListed {
        user: user.to_owned(),
        users: policy.apply_users.clone(),
        teams: policy.apply_teams.iter().map(|t| t.to_string()).collect(),
    }))
}
