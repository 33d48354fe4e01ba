//! `import ADDRESS ID` and `state rm ADDRESS...`: Terraform commands that write a project's
//! state without a plan. Who may run them is who may apply; the projects are those a `plan`
//! with the same flags selects, at the pull request's head; each project's
//! `import_requirements` and apply requirements (the base branch's config and the server's,
//! as for apply: they write state with the apply stage's credentials) must be met and the pull request takes each project's lock, as a plan does (another pull request
//! holding one refuses the command, naming it). Each project runs in its checkout, sandboxed,
//! with the apply stage's variables and one Terraform run per project at a time; its
//! workflow's `import` or `state_rm` stage when it has one. A project whose state changed has
//! its plan discarded and is planned again by a re-plan job. One comment tells it all.

use crate::ids::Sha;
use anyhow::Context as _;

use super::Context;
use super::feedback;
use super::job::{JobSpec, PrRef};
use super::plan::{self, Selection};
use crate::apply::{self, Refusal as ApplyRefusal};
use crate::command::CommandKind;
use crate::config::repo::ApplyRequirement;
use crate::github::PrState;
use crate::plan::Target;
use crate::render;
use crate::render::state::{ProjectState, Refusal};
use crate::store::{Claim, LockAttempt, NewJob, now_millis};
use crate::terraform::{StateCommand, StateOp, StateRun};

/// An `import` or `state rm` comment, past the gate.
pub type StateRequest = super::command::Gated;

/// Runs an `import` or `state rm` command; returns a one-line summary.
pub async fn run(ctx: &Context, claim: Claim, req: StateRequest) -> anyhow::Result<String> {
    let op = match req.command.kind {
        CommandKind::Import => StateOp::Import,
        CommandKind::StateRm => StateOp::Rm,
        other => anyhow::bail!("`{}` is not a state command", other.as_str()),
    };
    let repo = req.repo.full_name.as_str();
    let key = req.repo.key();
    let installation = req.installation_id;
    let refusal = super::access::apply_refusal(ctx, installation, &req.author, req.permission)
        .await?
        .map(|r| match r {
            ApplyRefusal::Permission { user, has, needs } => {
                Refusal::Permission { user, has, needs }
            }
            _ => Refusal::NotListed {
                user: req.author.clone(),
            },
        });
    if let Some(r) = refusal {
        return refuse(ctx, &req, op, vec![r]).await;
    }
    let info = ctx
        .github
        .pull_request(installation, repo, req.pr_number)
        .await?;
    if info.state != PrState::Open {
        return refuse(ctx, &req, op, vec![Refusal::NotOpen]).await;
    }
    let pr = PrRef::of(&info);
    let cmd = &req.command;
    let request = plan::Request {
        actor: crate::audit::Actor::Github(req.author.clone()),
        repo: req.repo.clone(),
        installation_id: installation,
        pr: pr.clone(),
        selection: if cmd.names_none() {
            Selection::Affected { autoplan: false }
        } else {
            Selection::Named {
                dirs: cmd.dirs.clone(),
                projects: cmd.projects.clone(),
                workspace: cmd.workspace.clone(),
            }
        },
        extra_args: cmd.extra_args.clone(),
        note: None,
        merged: false,
    };
    plan::fetch(ctx, &request).await?;
    // Before the config is read, as for a plan: a hook may write it.
    let hook_command = match op {
        StateOp::Import => "import",
        StateOp::Rm => "state",
    };
    let pre = super::hooks::pre(ctx, &request, hook_command, claim.job_id).await;
    if let Some(failed) = &pre.failed {
        let body = render::hooks::stopped(op.as_str(), &failed.shown());
        feedback::reply(ctx, installation, repo, req.pr_number, &body).await?;
        return Ok(format!(
            "{} refused: {} `{}` failed",
            op.as_str(),
            failed.phase.key(),
            failed.name
        ));
    }
    let config = match plan::read_config(ctx, (repo, &pr.base_ref), &pr.head_sha).await? {
        Some(Ok(config)) => Some(config),
        Some(Err(e)) => {
            feedback::config_error(ctx, &request, &e).await?;
            return Ok(format!("{} refused: repo config error: {e}", op.as_str()));
        }
        None => None,
    };
    // Requirements are the base branch's: a pull request cannot drop its own.
    let base = super::policy::read(ctx, repo, &pr, false).await?;
    if let Err(e) = &base.config {
        let body = render::reply::base_config_error(e);
        feedback::reply(ctx, installation, repo, req.pr_number, &body).await?;
        return Ok(format!(
            "{} refused: the base branch's repo config is not valid: {e}",
            op.as_str()
        ));
    }
    let targets = match plan::select(ctx, &request, config.as_ref()).await? {
        Ok(targets) if targets.is_empty() => {
            let body = render::state::no_project(ctx.settings.command_name(), op);
            feedback::reply(ctx, installation, repo, req.pr_number, &body).await?;
            return Ok(format!("{}: no project", op.as_str()));
        }
        Ok(targets) => targets,
        Err(reply) => {
            feedback::reply(ctx, installation, repo, req.pr_number, &reply).await?;
            return Ok("no such project".into());
        }
    };
    // They write state with the apply stage's credentials, so what an apply of the project
    // requires they require too, beside its own `import_requirements`.
    let required: Vec<(Target, Vec<ApplyRequirement>)> = targets
        .iter()
        .map(|t| {
            let mut rs = apply::import_requirements(base.valid(), t);
            let floor = ctx
                .settings
                .repo_powers
                .current()
                .for_repo(repo, &pr.base_ref)
                .minimum(
                    crate::config::powers::Requirements::Import,
                    base.valid(),
                    (&t.dir, &t.workspace, t.name.as_deref()),
                )
                .to_vec();
            let apply = super::apply::policy(ctx, (repo, &pr.base_ref), base.valid(), t);
            for r in floor.into_iter().chain(apply.requirements) {
                if !rs.contains(&r) {
                    rs.push(r);
                }
            }
            (t.clone(), rs)
        })
        .collect();
    let needed: Vec<ApplyRequirement> = required.iter().flat_map(|(_, rs)| rs.clone()).collect();
    // `mergeable` looks past bosun's own apply summary check, as for apply.
    let facts = super::apply::pr_facts(ctx, installation, repo, &info, &needed, "apply").await?;
    let unmet: Vec<Refusal> = required
        .iter()
        .filter_map(|(target, rs)| {
            let unmet = apply::unmet(rs, &facts);
            (!unmet.is_empty()).then(|| Refusal::Requirements {
                target: target.clone(),
                unmet,
            })
        })
        .collect();
    if !unmet.is_empty() {
        return refuse(ctx, &req, op, unmet).await;
    }
    let actor = crate::audit::Actor::Github(req.author.clone());
    let attempt =
        super::audit_log::lock_projects(ctx, &req.repo, req.pr_number, &targets, false, &actor)
            .await?;
    if let LockAttempt::Held { held } = attempt {
        let locked = held
            .into_iter()
            .map(|(target, by)| Refusal::Locked { target, by })
            .collect();
        return refuse(ctx, &req, op, locked).await;
    }
    let policy_sha = super::policy::base_sha(ctx, repo, &pr, false).await?;
    let mut results = Vec::with_capacity(targets.len());
    for target in targets {
        let run = run_one(ctx, claim.job_id, &req, op, (&pr, &policy_sha), &target).await;
        results.push(ProjectState { target, run });
    }
    let changed: Vec<Target> = results
        .iter()
        .filter(|r| r.run.succeeded)
        .map(|r| r.target.clone())
        .collect();
    if !changed.is_empty() {
        // The state changed under the plans: they are stale. Plan those projects again.
        ctx.store
            .delete_plans_of(&key, req.pr_number, &changed)
            .await?;
        enqueue_replan(ctx, claim, &req, op, changed.clone()).await?;
    }
    let body = render::state::result_comment(
        ctx.settings.command_name(),
        op,
        &pr.head_sha,
        &results,
        &req.note,
    );
    feedback::reply(ctx, installation, repo, req.pr_number, &body).await?;
    Ok(format!(
        "{}: {} of {} project(s) at {}",
        op.as_str(),
        changed.len(),
        results.len(),
        pr.head_sha.short()
    ))
}

/// Runs the command in one project (its lock held): a checkout of the head, one Terraform
/// run of the project at a time. Never fails: a failure is the project's result.
async fn run_one(
    ctx: &Context,
    job_id: i64,
    req: &StateRequest,
    op: StateOp,
    (pr, policy_sha): (&PrRef, &Sha),
    target: &Target,
) -> StateRun {
    let repo = req.repo.full_name.as_str();
    let _slot = ctx.slots.acquire().await;
    let _project = ctx.lock_project(&req.repo.key(), target).await;
    let dir = ctx
        .project_dir(repo, pr.number, target, &pr.head_sha, &pr.base_sha, false)
        .await;
    let (root, dir) = match dir {
        Ok(at) => at,
        Err(output) => {
            return StateRun {
                succeeded: false,
                output,
            };
        }
    };
    // `COMMENT_ARGS` as Atlantis has them: the extra arguments, then the addresses.
    let comment_args = [req.command.extra_args.clone(), req.command.args.clone()].concat();
    let key = req.repo.key();
    let project = super::custom::ProjectRun {
        job_id,
        repo,
        key: &key,
        pr,
        sha: &pr.head_sha,
        policy_sha,
        target,
        user: &req.author,
        extra_args: &comment_args,
        check: None,
        early: None,
    };
    let cmd = StateCommand {
        op,
        extra_args: &req.command.extra_args,
        args: &req.command.args,
    };
    let span = tracing::info_span!("state", op = op.as_str(), dir = %target.dir, workspace = %target.workspace);
    tracing::Instrument::instrument(
        super::custom::state(ctx, &project, (&root, &dir), cmd),
        span,
    )
    .await
}

/// Enqueues the re-plan of the projects whose state changed; it runs after this job (a pull
/// request's jobs run in order).
async fn enqueue_replan(
    ctx: &Context,
    claim: Claim,
    req: &StateRequest,
    op: StateOp,
    targets: Vec<Target>,
) -> anyhow::Result<()> {
    let spec = JobSpec::Replan {
        repo: req.repo.clone(),
        pr_number: req.pr_number,
        targets,
        note: render::state::replan_note(op, &req.author),
    };
    let job = NewJob {
        source: format!("replan after {} job {}", op.as_str(), claim.job_id),
        kind: spec.kind().to_owned(),
        repository: req.repo.key(),
        installation_id: req.installation_id,
        pr: req.pr_number,
        priority: 0,
        spec: serde_json::to_string(&spec).context("writing the re-plan job")?,
        created_at: now_millis(),
        supersedes_kind: None,
    };
    ctx.store
        .enqueue_jobs(&[job])
        .await
        .context("enqueueing the re-plan")?;
    Ok(())
}

async fn refuse(
    ctx: &Context,
    req: &StateRequest,
    op: StateOp,
    refusals: Vec<Refusal>,
) -> anyhow::Result<String> {
    let body = render::state::refused(ctx.settings.command_name(), op, &refusals);
    feedback::reply(
        ctx,
        req.installation_id,
        &req.repo.full_name,
        req.pr_number,
        &body,
    )
    .await?;
    Ok(format!(
        "{} refused: {} reason(s)",
        op.as_str(),
        refusals.len()
    ))
}
