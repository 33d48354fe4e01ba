//! Comment commands: parse the comment again (parsing is pure), check who asks and on which
//! pull request (`access`: 😕 and a reply when refused), acknowledge it with 👀, and run the
//! command, or reply with what was wrong. An error on bosun's side gets a short reply
//! of its own, with details only in the logs.

use super::Context;
use super::access::{self, Pass};
use super::feedback;
use super::job::{PrRef, RepoRef};
use super::plan::{self, Selection};
use super::stop::{self, Stop};
use crate::command::{self, Command, CommandKind, Parsed};
use crate::github::{Permission, PrState, PullRequestInfo, Reaction};
use crate::ids::{InstallationId, PrNumber};
use crate::render;
use crate::store::Claim;

/// A comment addressed to bosun.
#[derive(Debug, Clone)]
pub struct Comment {
    pub repo: RepoRef,
    pub installation_id: InstallationId,
    pub pr_number: PrNumber,
    pub comment_id: u64,
    pub author: String,
    pub body: String,
}

/// A command past the gate, for the workflow that runs it.
#[derive(Debug, Clone)]
pub struct Gated {
    pub repo: RepoRef,
    pub installation_id: InstallationId,
    pub pr_number: PrNumber,
    /// Who commented.
    pub author: String,
    /// Their permission on the repository, as the command gate read it.
    pub permission: Permission,
    /// The parsed comment: its flags select the projects (and, for `import` and `state rm`,
    /// its words are the addresses).
    pub command: Command,
    /// Shown in the workflow's comment: who asked, and how.
    pub note: String,
}

/// Runs a comment command; returns a one-line summary.
pub async fn run(ctx: &Context, claim: Claim, c: Comment) -> anyhow::Result<String> {
    let repo = c.repo.full_name.as_str();
    let result = stop::outcome(handle(ctx, claim, &c).await);
    if let Err(e) = &result {
        tracing::error!(error = format!("{e:#}"), "the command failed");
        let body = render::reply::internal_error(&format!("job {}", claim.job_id));
        if let Err(e) = feedback::reply(ctx, c.installation_id, repo, c.pr_number, &body).await {
            tracing::error!(error = format!("{e:#}"), "replying with the error failed");
        }
    }
    result
}

/// Reacts to the comment; a failed reaction is only logged.
async fn react(ctx: &Context, c: &Comment, content: Reaction) {
    let repo = c.repo.full_name.as_str();
    if let Err(e) = ctx
        .github
        .add_reaction(c.installation_id, repo, c.comment_id, content)
        .await
    {
        tracing::warn!(error = %e, "reacting to the comment failed");
    }
}

/// Runs a comment command: parsed, past the gate, acknowledged, dispatched.
async fn handle(ctx: &Context, claim: Claim, c: &Comment) -> Result<String, Stop> {
    let cmd = parse(ctx, c).await?;
    let pass = gate(ctx, c, &cmd).await?;
    react(ctx, c, Reaction::Eyes).await;
    Ok(dispatch(ctx, claim, c, &cmd, pass).await?)
}

/// Replies on the comment's pull request.
async fn say(ctx: &Context, c: &Comment, body: String) -> anyhow::Result<()> {
    feedback::reply(
        ctx,
        c.installation_id,
        &c.repo.full_name,
        c.pr_number,
        &body,
    )
    .await
}

/// Reacts to the comment and replies `body`, then stops with `summary`.
async fn stop_with(
    ctx: &Context,
    c: &Comment,
    reaction: Reaction,
    body: String,
    summary: String,
) -> Stop {
    react(ctx, c, reaction).await;
    Stop::told(say(ctx, c, body).await.map(|()| summary))
}

/// The comment's command (parsing is pure), restricted to the allowed ones; stops on what is
/// not a command, on usage, on a misspelt name and on a bad command, replying to the last
/// three.
async fn parse(ctx: &Context, c: &Comment) -> Result<Command, Stop> {
    let name = ctx.settings.command_name();
    let parsed = command::parse_with(
        &c.body,
        &ctx.settings.command_names,
        &ctx.settings.app_slug,
        &ctx.settings.blocked_extra_args,
    );
    let stopped = match command::restrict(parsed, &ctx.settings.allow_commands) {
        Parsed::Command(cmd) => return Ok(cmd),
        Parsed::NotACommand => Stop::Told("not a command".into()),
        Parsed::Usage(kind) => {
            let summary = format!("usage of {}", kind.as_str());
            stop_with(ctx, c, Reaction::Eyes, render::reply::help(name), summary).await
        }
        Parsed::WrongName { given, name } => {
            let body = render::reply::wrong_name(&name, &given);
            let summary = format!("did you mean {name} instead of {given}");
            stop_with(ctx, c, Reaction::Confused, body, summary).await
        }
        Parsed::Error(e) => {
            let body = render::reply::command_error(name, &e);
            stop_with(ctx, c, Reaction::Eyes, body, format!("bad command: {e}")).await
        }
    };
    Err(stopped)
}

/// Who may run the command: `help` and `version` run nothing and are open to all, and
/// `approve_policies` checks its own (the policy sets' owners), so they pass without a `Pass`;
/// every other command passes the gate first. A stopped command gets 😕 and one reply saying
/// who may run it.
async fn gate(ctx: &Context, c: &Comment, cmd: &Command) -> Result<Option<Pass>, Stop> {
    if matches!(
        cmd.kind,
        CommandKind::Help | CommandKind::Version | CommandKind::ApprovePolicies
    ) {
        return Ok(None);
    }
    let repo = c.repo.full_name.as_str();
    match access::gate(ctx, c.installation_id, repo, c.pr_number, &c.author, cmd).await? {
        Ok(pass) => Ok(Some(pass)),
        Err(stopped) => {
            let reaction = Reaction::Confused;
            Err(stop_with(ctx, c, reaction, stopped.reply, stopped.summary).await)
        }
    }
}

/// Runs the command: one arm per command family.
async fn dispatch(
    ctx: &Context,
    claim: Claim,
    c: &Comment,
    cmd: &Command,
    pass: Option<Pass>,
) -> anyhow::Result<String> {
    match (cmd.kind, pass) {
        (CommandKind::Help, _) => {
            say(ctx, c, render::reply::help(ctx.settings.command_name())).await?;
            Ok("help".into())
        }
        (CommandKind::Version, _) => version(ctx, c).await,
        (CommandKind::ApprovePolicies, _) => {
            let approval = super::approve_policies::Approval {
                repo: &c.repo.full_name,
                repo_ref: &c.repo,
                installation_id: c.installation_id,
                pr_number: c.pr_number,
                author: &c.author,
            };
            super::approve_policies::run(ctx, &approval, cmd).await
        }
        (_, None) => anyhow::bail!("{} ran without the access check", cmd.kind.as_str()),
        (CommandKind::Import | CommandKind::StateRm, Some(pass)) => {
            super::state::run(ctx, claim, gated(c, cmd, pass.has, "Run")).await
        }
        (CommandKind::Apply, Some(pass)) => {
            super::apply::run(ctx, claim, gated(c, cmd, pass.has, "Applied")).await
        }
        (CommandKind::Unlock, Some(pass)) => {
            let who = super::unlock::Commenter {
                login: &c.author,
                has: pass.has,
            };
            super::unlock::run(ctx, &c.repo, c.installation_id, &pass.info, who, cmd).await
        }
        (CommandKind::Plan, Some(pass)) => plan(ctx, claim, c, cmd, pass.info).await,
    }
}

/// The comment as the workflows past the gate take it (`apply`, `import`, `state rm`), its
/// note saying who ran it (`verb` by @them) and how.
fn gated(c: &Comment, cmd: &Command, has: Permission, verb: &str) -> Gated {
    Gated {
        repo: c.repo.clone(),
        installation_id: c.installation_id,
        pr_number: c.pr_number,
        author: c.author.clone(),
        permission: has,
        command: cmd.clone(),
        note: format!("{verb} by @{} with `{}`.", c.author, first_line(&c.body)),
    }
}

/// `version`: bosun's version and Terraform's (`unknown` when Terraform cannot say).
async fn version(ctx: &Context, c: &Comment) -> anyhow::Result<String> {
    let terraform = match ctx.terraform.version().await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "terraform version failed");
            "unknown".into()
        }
    };
    say(
        ctx,
        c,
        render::reply::version(env!("CARGO_PKG_VERSION"), &terraform),
    )
    .await?;
    Ok("version".into())
}

/// `plan`: on an open pull request, the projects the comment names (the affected ones when it
/// names none); on a merged one, the projects still to apply, at the merge commit; none on a
/// closed one.
async fn plan(
    ctx: &Context,
    claim: Claim,
    c: &Comment,
    cmd: &Command,
    info: PullRequestInfo,
) -> anyhow::Result<String> {
    let name = ctx.settings.command_name();
    let merged = info.state == PrState::Merged;
    let selection = match (info.state, &info.merge_commit_sha) {
        (PrState::Open, _) if cmd.names_none() => Selection::Affected { autoplan: false },
        (PrState::Open, _) => Selection::Named {
            dirs: cmd.dirs.clone(),
            projects: cmd.projects.clone(),
            workspace: cmd.workspace.clone(),
        },
        // Merged with projects still to apply (their plan changed at the merge
        // commit): plan them again there.
        (PrState::Merged, Some(_)) => {
            let held = super::locks::held(ctx, &c.repo.key(), c.pr_number, cmd).await?;
            if held.is_empty() {
                say(ctx, c, render::reply::pr_closed(name)).await?;
                return Ok("plan refused: merged, nothing left to apply".into());
            }
            Selection::Targets(held)
        }
        _ => {
            say(ctx, c, render::reply::pr_closed(name)).await?;
            return Ok("plan refused: the pull request is closed".into());
        }
    };
    let request = plan::Request {
        actor: crate::audit::Actor::Github(c.author.clone()),
        repo: c.repo.clone(),
        installation_id: c.installation_id,
        pr: PrRef::of(&info),
        selection,
        extra_args: cmd.extra_args.clone(),
        note: Some(format!(
            "Planned by @{} with `{}`.",
            c.author,
            first_line(&c.body)
        )),
        merged,
    };
    plan::run(ctx, claim.job_id, request).await
}

fn first_line(body: &str) -> String {
    let line = body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    line.chars().take(200).collect::<String>().replace('`', "'")
}
