//! A closed pull request: its checkouts are deleted, and, unless it was merged (apply on
//! merge needs them), its plans too.

use super::Context;
use super::job::RepoRef;

pub async fn run(ctx: &Context, repo: &RepoRef, pr: u64, merged: bool) -> anyhow::Result<String> {
    ctx.workspaces.remove_pr(&repo.full_name, pr).await?;
    if merged {
        return Ok("merged: checkouts deleted".into());
    }
    let plans = ctx.store.delete_plans(&repo.full_name, pr).await?;
    Ok(format!("closed: checkouts and {plans} plan(s) deleted"))
}
