//! `bosun unlock [-d DIR] [-w WS] [-p PROJECT]`: the pull request's author, or anyone with
//! the command permission (BOSUN_COMMAND_PERMISSION, write by default), releases its locks (all, or those named). The plans of released projects are
//! discarded (applying needs the lock, and a plan made under a lock given up is not to be
//! trusted), the plans of every named project sharing a released lock included; pull
//! requests waiting for the locks are planned.

use super::Context;
use super::feedback;
use super::job::RepoRef;
use super::locks;
use crate::audit::{Actor, Kind, NewEntry};
use crate::command::Command;
use crate::github::{Permission, PullRequestInfo};
use crate::ids::{InstallationId, PrNumber};
use crate::render;

/// Who comments the unlock: their login and permission on the repository.
#[derive(Debug, Clone, Copy)]
pub struct Commenter<'a> {
    pub login: &'a str,
    pub has: Permission,
}

/// Runs an unlock command on pull request `info` by `who`; returns a one-line summary.
pub async fn run(
    ctx: &Context,
    repo: &RepoRef,
    installation_id: InstallationId,
    info: &PullRequestInfo,
    who: Commenter<'_>,
    cmd: &Command,
) -> anyhow::Result<String> {
    let name = repo.full_name.as_str();
    let key = repo.key();
    let pr = info.number;
    let say =
        |body: String| async move { feedback::reply(ctx, installation_id, name, pr, &body).await };
    let author = who.login;
    let actor = Actor::Github(author.to_owned());
    let needs = ctx.settings.access.command_permission;
    if !info.author.eq_ignore_ascii_case(author) && !ctx.settings.access.may_command(who.has) {
        say(render::reply::not_allowed(
            "unlock",
            author,
            &render::access::access_name(who.has),
            &format!(
                "{} or more (or authorship of the pull request)",
                render::access::access_name(needs)
            ),
        ))
        .await?;
        let entry = NewEntry::new(Kind::Unlock, actor.clone(), name, "refused")
            .pr(pr)
            .detail(format!(
                "{author} has {} on the repository and is not the pull request's author",
                who.has.as_str()
            ));
        ctx.audit(entry).await;
        return Ok(format!("unlock refused: {author} has {}", who.has.as_str()));
    }
    let held = super::locks::held(ctx, &key, pr, cmd).await?;
    if held.is_empty() {
        say(render::reply::unlocked(ctx.settings.command_name(), &[])).await?;
        return Ok("nothing to unlock".into());
    }
    let which = if cmd.names_none() {
        None
    } else {
        Some(held.as_slice())
    };
    let released = locks::release(ctx, repo, installation_id, pr, which, &actor).await?;
    let discarded = locks::plans_under(ctx, &key, pr, &released.released).await?;
    ctx.store.delete_plans_of(&key, pr, &discarded).await?;
    // Every project unlocked: those whose plans went, and a released lock with no plan.
    let mut shown = discarded;
    for lock in &released.released {
        if !shown.iter().any(|t| locks::same_lock(t, lock)) {
            shown.push(lock.clone());
        }
    }
    shown.sort();
    let detail = format!("woke {} waiting pull request(s)", released.woken.len());
    for t in &shown {
        let entry = NewEntry::new(Kind::Unlock, actor.clone(), name, "unlocked")
            .pr(pr)
            .project(t)
            .sha(&info.head_sha)
            .detail(detail.clone());
        ctx.audit(entry).await;
    }
    say(render::reply::unlocked(ctx.settings.command_name(), &shown)).await?;
    Ok(format!(
        "unlocked {} project(s), woke {} pull request(s)",
        released.released.len(),
        released.woken.len()
    ))
}

/// The audit trail's actor of an unlock through the API: `@login` is a person signed in with
/// GitHub; anything else is the operator's token.
fn api_actor(by: &str) -> Actor {
    match by.strip_prefix('@') {
        Some(login) if !login.is_empty() => Actor::Github(login.to_owned()),
        _ => Actor::ApiToken(crate::audit::OPERATOR.to_owned()),
    }
}

/// An unlock asked for through bosun's API: which pull request's locks, by whom, why.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub pr: PrNumber,
    pub targets: &'a [crate::plan::Target],
    pub by: &'a str,
    pub reason: &'a str,
}

/// Releases the locks `asked` names that the pull request still holds (the API checked who
/// may), discards the plans under them, wakes the pull requests that waited, and says on the
/// pull request who unlocked it and why.
pub async fn by_api(
    ctx: &Context,
    repo: &RepoRef,
    installation_id: InstallationId,
    asked: Asked<'_>,
) -> anyhow::Result<String> {
    let name = repo.full_name.as_str();
    let key = repo.key();
    let pr = asked.pr;
    let held: Vec<_> = ctx
        .store
        .locks_of_pr(&key, pr)
        .await?
        .into_iter()
        .map(|l| l.target)
        .filter(|t| asked.targets.iter().any(|a| locks::same_lock(a, t)))
        .collect();
    if held.is_empty() {
        return Ok("nothing to unlock: the locks were released already".into());
    }
    let actor = api_actor(asked.by);
    let released = locks::release(ctx, repo, installation_id, pr, Some(&held), &actor).await?;
    let discarded = locks::plans_under(ctx, &key, pr, &released.released).await?;
    ctx.store.delete_plans_of(&key, pr, &discarded).await?;
    let mut shown = discarded;
    for lock in &released.released {
        if !shown.iter().any(|t| locks::same_lock(t, lock)) {
            shown.push(lock.clone());
        }
    }
    shown.sort();
    let detail = format!(
        "through bosun's API; reason: {}; woke {} waiting pull request(s)",
        asked.reason,
        released.woken.len()
    );
    for t in &shown {
        let entry = NewEntry::new(Kind::Unlock, actor.clone(), name, "unlocked")
            .pr(pr)
            .project(t)
            .detail(detail.clone());
        ctx.audit(entry).await;
    }
    let body =
        render::reply::unlocked_by(ctx.settings.command_name(), &shown, asked.by, asked.reason);
    feedback::reply(ctx, installation_id, name, pr, &body).await?;
    tracing::info!(pr = pr.0, by = asked.by, "locks released through the API");
    Ok(format!(
        "unlocked {} project(s) for {}, woke {} pull request(s)",
        released.released.len(),
        asked.by,
        released.woken.len()
    ))
}
