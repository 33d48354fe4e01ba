//! One pull request checked against GitHub, for webhooks bosun missed (GitHub does not
//! retry them): closed, it is closed as `pull_request.closed` would have closed it (locks
//! released, plans and checkouts deleted; merged, applied on merge first); open at a head
//! no plan was made at, it is planned as `synchronize` would have planned it.

use super::Context;
use super::job::{PrRef, RepoRef};
use super::{close, plan};
use crate::github::PrState;
use crate::ids::PrNumber;
use crate::store::Job;

pub async fn run(
    ctx: &Context,
    job: &Job,
    repo: RepoRef,
    pr_number: PrNumber,
) -> anyhow::Result<String> {
    let name = repo.full_name.as_str();
    let key = repo.key();
    let info = ctx
        .github
        .pull_request(job.installation_id, name, pr_number)
        .await?;
    match info.state {
        PrState::Closed | PrState::Merged => {
            let merged = info.state == PrState::Merged;
            let done = close::run(
                ctx,
                job.claim(),
                &repo,
                job.installation_id,
                pr_number,
                merged,
            )
            .await?;
            Ok(format!("reconciled, closed while bosun missed it: {done}"))
        }
        PrState::Open => {
            let plans = ctx.store.plans_of_pr(&key, pr_number).await?;
            // A project the head no longer changes keeps its older plan: one plan at the
            // head is enough.
            if plans.iter().any(|p| p.head_sha == info.head_sha) {
                return Ok("reconciled: planned at its head".into());
            }
            let request = plan::Request {
                actor: crate::audit::Actor::Bosun,
                repo,
                installation_id: job.installation_id,
                pr: PrRef::of(&info),
                selection: plan::Selection::Affected { autoplan: true },
                extra_args: Vec::new(),
                note: None,
                merged: false,
            };
            let done = plan::run(ctx, job.id, request).await?;
            Ok(format!("reconciled, its head had no plan: {done}"))
        }
    }
}
