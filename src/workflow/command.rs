//! Comment commands: parse the comment again (parsing is pure), check who asks and on which
//! pull request (`access`: 😕 and a reply when refused), acknowledge it with 👀, and run the
//! command, or reply with what was wrong. An error on bosun's side gets a short reply
//! of its own, with details only in the logs.

use super::Context;
use super::access;
use super::feedback;
use super::job::{PrRef, RepoRef};
use super::plan::{self, Selection};
use crate::command::{self, CommandKind, Parsed};
use crate::github::{PrState, Reaction};
use crate::render;
use crate::store::Claim;

/// A comment addressed to bosun.
#[derive(Debug, Clone)]
pub struct Comment {
    pub repo: RepoRef,
    pub installation_id: u64,
    pub pr_number: u64,
    pub comment_id: u64,
    pub author: String,
    pub body: String,
}

/// Runs a comment command; returns a one-line summary.
pub async fn run(ctx: &Context, claim: Claim, c: Comment) -> anyhow::Result<String> {
    let repo = c.repo.full_name.as_str();
    let result = handle(ctx, claim, &c).await;
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

async fn handle(ctx: &Context, claim: Claim, c: &Comment) -> anyhow::Result<String> {
    let repo = c.repo.full_name.as_str();
    let name = ctx.settings.command_name();
    let say = |body: String| async move {
        feedback::reply(ctx, c.installation_id, repo, c.pr_number, &body).await
    };
    let parsed = command::parse_with(
        &c.body,
        &ctx.settings.command_names,
        &ctx.settings.app_slug,
        &ctx.settings.blocked_extra_args,
    );
    let cmd = match command::restrict(parsed, &ctx.settings.allow_commands) {
        Parsed::NotACommand => return Ok("not a command".into()),
        Parsed::Usage(kind) => {
            react(ctx, c, Reaction::Eyes).await;
            say(render::reply::help(name)).await?;
            return Ok(format!("usage of {}", kind.as_str()));
        }
        Parsed::WrongName { given, name } => {
            react(ctx, c, Reaction::Confused).await;
            say(render::reply::wrong_name(&name, &given)).await?;
            return Ok(format!("did you mean {name} instead of {given}"));
        }
        Parsed::Error(e) => {
            react(ctx, c, Reaction::Eyes).await;
            say(render::reply::command_error(name, &e)).await?;
            return Ok(format!("bad command: {e}"));
        }
        Parsed::Command(cmd) => cmd,
    };
    // `help` and `version` run nothing and are open to all, and `approve_policies` checks
    // its own (the policy sets' owners); every other command passes the gate first. A stopped command gets 😕 and one reply saying who may run it.
    let pass = match cmd.kind {
        CommandKind::Help | CommandKind::Version | CommandKind::ApprovePolicies => None,
        _ => {
            match access::gate(ctx, c.installation_id, repo, c.pr_number, &c.author, &cmd).await? {
                Ok(pass) => Some(pass),
                Err(stopped) => {
                    react(ctx, c, Reaction::Confused).await;
                    say(stopped.reply).await?;
                    return Ok(stopped.summary);
                }
            }
        }
    };
    react(ctx, c, Reaction::Eyes).await;
    match (cmd.kind, pass) {
        (CommandKind::Help, _) => {
            say(render::reply::help(name)).await?;
            Ok("help".into())
        }
        (CommandKind::Version, _) => {
            let terraform = match ctx.terraform.version().await {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "terraform version failed");
                    "unknown".into()
                }
            };
            say(render::reply::version(
                env!("CARGO_PKG_VERSION"),
                &terraform,
            ))
            .await?;
            Ok("version".into())
        }
        (CommandKind::ApprovePolicies, _) => {
            let approval = super::approve_policies::Approval {
                repo,
                repo_ref: &c.repo,
                installation_id: c.installation_id,
                pr_number: c.pr_number,
                author: &c.author,
            };
            super::approve_policies::run(ctx, &approval, &cmd).await
        }
        (_, None) => anyhow::bail!("{} ran without the access check", cmd.kind.as_str()),
        (CommandKind::Import | CommandKind::StateRm, Some(pass)) => {
            let request = super::state::StateRequest {
                repo: c.repo.clone(),
                installation_id: c.installation_id,
                pr_number: c.pr_number,
                author: c.author.clone(),
                permission: pass.has,
                command: cmd.clone(),
                note: format!("Run by @{} with `{}`.", c.author, first_line(&c.body)),
            };
            super::state::run(ctx, claim, request).await
        }
        (CommandKind::Apply, Some(pass)) => {
            let apply = super::apply::ApplyCommand {
                repo: c.repo.clone(),
                installation_id: c.installation_id,
                pr_number: c.pr_number,
                author: c.author.clone(),
                permission: pass.has,
                command: cmd.clone(),
                note: format!("Applied by @{} with `{}`.", c.author, first_line(&c.body)),
            };
            super::apply::run(ctx, claim, apply).await
        }
        (CommandKind::Unlock, Some(pass)) => {
            let who = super::unlock::Commenter {
                login: &c.author,
                has: pass.has,
            };
            super::unlock::run(ctx, &c.repo, c.installation_id, &pass.info, who, &cmd).await
        }
        (CommandKind::Plan, Some(pass)) => {
            let info = pass.info;
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
                    let held = super::locks::held(ctx, repo, c.pr_number, &cmd).await?;
                    if held.is_empty() {
                        say(render::reply::pr_closed(name)).await?;
                        return Ok("plan refused: merged, nothing left to apply".into());
                    }
                    Selection::Targets(held)
                }
                _ => {
                    say(render::reply::pr_closed(name)).await?;
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
    }
}

fn first_line(body: &str) -> String {
    let line = body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    line.chars().take(200).collect::<String>().replace('`', "'")
}
