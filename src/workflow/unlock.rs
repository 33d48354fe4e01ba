//! `bosun unlock [-d DIR] [-w WS] [-p PROJECT]`: the pull request's author, or anyone with
//! write access, releases its locks (all, or those named). The plans of released projects are
//! discarded (applying needs the lock, and a plan made under a lock given up is not to be
//! trusted); pull requests waiting for the locks are planned.

use anyhow::Context as _;

use super::Context;
use super::feedback;
use super::job::RepoRef;
use super::locks;
use crate::command::Command;
use crate::github::Permission;
use crate::render;

/// Runs an unlock command by `author`; returns a one-line summary.
pub async fn run(
    ctx: &Context,
    repo: &RepoRef,
    installation_id: u64,
    pr: u64,
    author: &str,
    cmd: &Command,
) -> anyhow::Result<String> {
    let name = repo.full_name.as_str();
    let say =
        |body: String| async move { feedback::reply(ctx, installation_id, name, pr, &body).await };
    let info = ctx.github.pull_request(installation_id, name, pr).await?;
    if !info.author.eq_ignore_ascii_case(author) {
        let has = ctx
            .github
            .permission(installation_id, name, author)
            .await
            .context("reading the commenter's permission")?;
        if has < Permission::Write {
            say(render::reply::not_allowed(
                "unlock",
                author,
                &format!("{has:?}").to_lowercase(),
                "write access (or authorship of the pull request)",
            ))
            .await?;
            return Ok(format!("unlock refused: {author} has {has:?}"));
        }
    }
    let held = super::locks::held(ctx, name, pr, cmd).await?;
    if held.is_empty() {
        say(render::reply::unlocked(ctx.settings.command_name(), &[])).await?;
        return Ok("nothing to unlock".into());
    }
    let which = if cmd.names_none() {
        None
    } else {
        Some(held.as_slice())
    };
    let released = locks::release(ctx, repo, installation_id, pr, which).await?;
    ctx.store
        .delete_plans_of(name, pr, &released.released)
        .await?;
    say(render::reply::unlocked(
        ctx.settings.command_name(),
        &released.released,
    ))
    .await?;
    Ok(format!(
        "unlocked {} project(s), woke {} pull request(s)",
        released.released.len(),
        released.woken.len()
    ))
}
