//! Which steps a project runs: bosun's own, or the custom workflow the base branch's repo
//! config gives it (workflows are policy: a pull request's own workflows and `workflow:`
//! choices take effect once merged; see `policy`), with the workflow's `network` switch and
//! the operator's variables for the run's stage, and the plugin cache of the run's scope (the
//! pull request's, or the default branch's for drift).
//!
//! **Stages.** Plans (by comment, autoplan, and of the merge commit before an apply on merge)
//! and drift checks get the plan stage's variables: they run code nobody may have reviewed.
//! Only [`apply`] gets the apply stage's, for every step of it: the `init` and
//! `workspace select` before `terraform apply` run the reviewed commit's code too, and a
//! backend may need the apply's credentials (e.g. a role allowed to write the state).
//! [`state`] (`import`, `state rm`) gets them too: it writes the state.

use crate::ids::Sha;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::Instrument as _;

use super::Context;
use super::job::PrRef;
use crate::apply::ApplyOutcome;
use crate::config::pass_env::Stage;
use crate::config::repo::Workflow;
use crate::drift::{DriftStatus, ProjectDrift};
use crate::plan::{Outcome, Step, Target};
use crate::run_log::{Logged, RunLog};
use crate::store::{NewRun, RunKind, RunStatus, Started, now_millis};
use crate::terraform::{PlanRun, StateCommand, StateOp, StateRun, StepVars};
use crate::versions::Pinned;

/// One project's run: where, for whom, at which commit.
pub(super) struct ProjectRun<'a> {
    /// The job the run is part of.
    pub job_id: i64,
    /// The repository's name now.
    pub repo: &'a str,
    /// The key of its rows in the store.
    pub key: &'a crate::ids::RepoKey,
    pub pr: &'a PrRef,
    /// The commit checked out.
    pub sha: &'a Sha,
    /// The commit whose config chooses the workflow: the base branch's (see `policy`).
    pub policy_sha: &'a Sha,
    pub target: &'a Target,
    /// Who asked: `USER_NAME`.
    pub user: &'a str,
    /// The comment's extra arguments.
    pub extra_args: &'a [String],
    /// The project's check run, linked to the run's page once the run is recorded.
    pub check: Option<&'a super::feedback::CheckRun>,
    /// Given a plan's outcome as its own output shows it, before `show -json` runs.
    pub early: Option<&'a (dyn Fn(&crate::plan::Outcome) + Sync)>,
}

impl ProjectRun<'_> {
    /// Starts the run's record and log in the store (or takes up the unfinished one of the
    /// same job, after a restart). `None` when the store cannot be written: the run goes on
    /// without a log.
    async fn start_log(&self, ctx: &Context, kind: RunKind) -> Option<Arc<RunLog>> {
        let new = NewRun {
            job_id: self.job_id,
            repository: self.key.clone(),
            pr: self.pr.number,
            target: self.target.clone(),
            kind,
            commit_sha: self.sha.to_owned(),
            requested_by: self.user.to_owned(),
        };
        let started = ctx.store.start_run(&new, now_millis());
        match started.instrument(tracing::debug_span!("start run")).await {
            Ok(started) => {
                if let (Some(check), Some(base)) = (self.check, &ctx.settings.public_url) {
                    check.link(format!("{base}/runs/{}", started.id()));
                }
                let log = RunLog::start(ctx.store.clone(), started.id(), ctx.redactor.clone());
                if let Started::Resumed(_) = started {
                    log.line("(bosun started this run again: the process running it went away)");
                }
                Some(Arc::new(log))
            }
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "recording a run failed; no log");
                None
            }
        }
    }

    fn vars(&self) -> StepVars {
        StepVars {
            workspace: self.target.workspace.clone(),
            dir: self.target.dir.clone(),
            project_name: self.target.name.clone(),
            pull_num: self.pr.number.0,
            head_commit: self.sha.to_string(),
            base_branch: self.pr.base_ref.clone(),
            head_branch: self.pr.head_ref.clone(),
            user_name: self.user.to_owned(),
            comment_args: self.extra_args.to_vec(),
        }
    }

    /// The project's custom workflow, if any; `Err`: why the config cannot be read now.
    async fn workflow(&self, ctx: &Context) -> Result<Option<Workflow>, String> {
        match super::plan::read_config(ctx, (self.repo, &self.pr.base_ref), self.policy_sha).await {
            // No repo config: the server config's workflow for the repository, if any.
            Ok(None) => Ok(ctx
                .settings
                .repo_powers
                .current()
                .for_repo(self.repo, &self.pr.base_ref)
                .workflow_without_config()
                .cloned()),
            Ok(Some(Ok(config))) => Ok(config
                .workflow_of(
                    &self.target.dir,
                    &self.target.workspace,
                    self.target.name.as_deref(),
                )
                .cloned()),
            Ok(Some(Err(e))) => Err(format!("The base branch's repo config is not valid: {e}")),
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "reading the repo config failed");
                Err("bosun could not read the repo config; the operator's logs say why.".into())
            }
        }
    }
}

/// What a run needs before its steps: the project's custom workflow, if any, and its
/// binary (see `binary_check`).
struct Prepared {
    workflow: Option<Workflow>,
    bin: super::binary_check::Binary,
}

impl ProjectRun<'_> {
    /// The run's workflow and binary (`pinned`: the one its plan ran, for an apply), a
    /// downloaded binary noted in the run's log; `Err`: why the run cannot start (a config
    /// that does not read, a version that cannot be had).
    async fn prepare(
        &self,
        ctx: &Context,
        (root, dir): (&Path, &Path),
        log: Option<&Arc<RunLog>>,
        pinned: Option<&Pinned>,
    ) -> Result<Prepared, String> {
        let workflow = self.workflow(ctx).await?;
        let bin = super::binary_check::binary(
            ctx,
            (self.repo, &self.pr.base_ref, self.sha),
            self.target,
            (root, dir),
            pinned,
        )
        .instrument(tracing::debug_span!("choose binary"))
        .await?;
        if let Some(line) = &bin.note {
            note(log.map(|l| &**l), line);
        }
        Ok(Prepared { workflow, bin })
    }
}

/// Plans the project in `dir` of the checkout `root`: its workflow's plan steps, else
/// bosun's own sequence. With the run: the Terraform or OpenTofu it ran, when the project
/// asked for one (recorded with the plan, so its apply runs the same).
pub(super) async fn plan(
    ctx: &Context,
    run: &ProjectRun<'_>,
    (root, dir): (&Path, &Path),
) -> (PlanRun, Option<Pinned>) {
    let log = run.start_log(ctx, RunKind::Plan).await;
    let mut pinned = None;
    let planned = match run.prepare(ctx, (root, dir), log.as_ref(), None).await {
        Err(output) => {
            note(log.as_deref(), &output);
            PlanRun {
                outcome: Outcome::Failed {
                    step: Step::Config,
                    output,
                },
                planfile: None,
                log: String::new(),
                show_json: None,
            }
        }
        Ok(Prepared { workflow, bin }) => {
            pinned = bin.pinned.clone();
            let tf = terraform(
                ctx,
                run,
                (workflow.as_ref(), bin.path.clone()),
                Stage::Plan,
                log.as_ref(),
            );
            let planned = match workflow.as_ref().and_then(|w| w.plan.as_deref()) {
                Some(steps) => tf.plan_custom((root, dir), steps, &run.vars()).await,
                None => {
                    let (ws, extra) = (&run.target.workspace, run.extra_args);
                    let early = run.early.unwrap_or(&|_| {});
                    tf.plan_project_early(root, dir, ws, extra, early).await
                }
            };
            drop(bin.lease);
            planned
        }
    };
    let ok = matches!(planned.outcome, Outcome::Planned { .. });
    finish(log, ok).await;
    (planned, pinned)
}

/// Adds bosun's own line (why a run could not start its steps) to a run's log.
fn note(log: Option<&RunLog>, text: &str) {
    if let Some(log) = log {
        for line in text.lines() {
            log.line(line);
        }
    }
}

/// Ends a run's log: what waits is written, and the run succeeded or failed.
async fn finish(log: Option<Arc<RunLog>>, succeeded: bool) {
    let status = if succeeded {
        RunStatus::Succeeded
    } else {
        RunStatus::Failed
    };
    // Every Terraform holding the log is gone by now; if one were not, its writer stops when
    // the last holder goes, and the run stays `running` until its job ends.
    if let Some(log) = log.and_then(Arc::into_inner) {
        log.finish(status).await;
    }
}

/// Checks the project in `dir` of the checkout `root` for drift: its workflow's plan steps
/// (with the run's `-detailed-exitcode` among their arguments; the plan's JSON says whether
/// anything changes), else bosun's `plan -detailed-exitcode`, whose exit code says it.
pub(super) async fn drift(
    ctx: &Context,
    run: &ProjectRun<'_>,
    (root, dir): (&Path, &Path),
) -> ProjectDrift {
    let target = run.target.clone();
    let log = run.start_log(ctx, RunKind::Drift).await;
    let checked = match run.prepare(ctx, (root, dir), log.as_ref(), None).await {
        Err(output) => {
            note(log.as_deref(), &output);
            ProjectDrift::failed(target, Step::Config, output)
        }
        Ok(Prepared { workflow, bin }) => {
            let tf = terraform(
                ctx,
                run,
                (workflow.as_ref(), bin.path.clone()),
                Stage::Plan,
                log.as_ref(),
            );
            let _lease = bin.lease;
            match workflow.as_ref().and_then(|w| w.plan.as_deref()) {
                Some(steps) => {
                    let planned = tf.plan_custom((root, dir), steps, &run.vars()).await;
                    ProjectDrift::of_plan(target, &planned.outcome)
                }
                None => match tf.plan_detailed(root, dir, &run.target.workspace).await {
                    Ok(p) => ProjectDrift::of_exit(target, p.changes, p.line, p.text),
                    Err((step, output)) => ProjectDrift::failed(target, step, output),
                },
            }
        }
    };
    finish(log, checked.status != DriftStatus::Error).await;
    checked
}

/// The Terraform a project's runs of `stage` use: its binary (`bin`, else the server's), the
/// plugin cache of the run's scope (its pull request's, or its repository's default
/// branch's), the stage's variables for the repo, and its workflow's network switch.
fn terraform(
    ctx: &Context,
    run: &ProjectRun<'_>,
    (workflow, bin): (Option<&Workflow>, Option<PathBuf>),
    stage: Stage,
    log: Option<&Arc<RunLog>>,
) -> crate::terraform::Terraform {
    let mut tf = ctx.terraform.for_scope(run.repo, run.pr.number);
    if let Some(bin) = bin {
        tf = tf.with_bin(bin);
    }
    if let Some(w) = workflow {
        tf = tf.with_network(w.network);
    }
    tf.extra_env = ctx.settings.pass_env.of(run.repo, stage);
    if let Some(log) = log {
        tf.runner = Arc::new(Logged::new(tf.runner.clone(), log.clone()));
    }
    tf
}

/// Applies `planfile` to the project in `dir` of the checkout `root`: its workflow's apply
/// steps, else bosun's own; with `pinned`, the Terraform or OpenTofu its plan ran (a plan
/// recorded without one: chosen again, as for a plan).
pub(super) async fn apply(
    ctx: &Context,
    run: &ProjectRun<'_>,
    (root, dir): (&Path, &Path),
    (planfile, pinned): (&[u8], Option<&Pinned>),
) -> ApplyOutcome {
    let log = run.start_log(ctx, RunKind::Apply).await;
    let applied = match run.prepare(ctx, (root, dir), log.as_ref(), pinned).await {
        Err(output) => {
            note(log.as_deref(), &output);
            ApplyOutcome::Failed {
                output,
                stale: false,
            }
        }
        Ok(Prepared { workflow, bin }) => {
            let tf = terraform(
                ctx,
                run,
                (workflow.as_ref(), bin.path.clone()),
                Stage::Apply,
                log.as_ref(),
            );
            let _lease = bin.lease;
            match workflow.as_ref().and_then(|w| w.apply.as_deref()) {
                Some(steps) => {
                    tf.apply_custom((root, dir), steps, &run.vars(), planfile)
                        .await
                }
                None => {
                    tf.apply_project(root, dir, &run.target.workspace, planfile)
                        .await
                }
            }
        }
    };
    finish(log, applied.succeeded()).await;
    applied
}

/// Runs an `import` or `state rm` in the project in `dir` of the checkout `root`: its
/// workflow's `import` or `state_rm` stage when it defines one, else `init` and the command.
/// It writes the state, so every step gets the apply stage's variables.
pub(super) async fn state(
    ctx: &Context,
    run: &ProjectRun<'_>,
    (root, dir): (&Path, &Path),
    cmd: StateCommand<'_>,
) -> StateRun {
    let kind = match cmd.op {
        StateOp::Import => RunKind::Import,
        StateOp::Rm => RunKind::StateRm,
    };
    let log = run.start_log(ctx, kind).await;
    let done = state_steps(ctx, run, (root, dir), cmd, log.as_ref()).await;
    finish(log, done.succeeded).await;
    done
}

async fn state_steps(
    ctx: &Context,
    run: &ProjectRun<'_>,
    (root, dir): (&Path, &Path),
    cmd: StateCommand<'_>,
    log: Option<&Arc<RunLog>>,
) -> StateRun {
    let Prepared { workflow, bin } = match run.prepare(ctx, (root, dir), log, None).await {
        Ok(prepared) => prepared,
        Err(output) => {
            note(log.map(|l| &**l), &output);
            return StateRun {
                succeeded: false,
                output,
            };
        }
    };
    let stage = match cmd.op {
        StateOp::Import => "import",
        StateOp::Rm => "state_rm",
    };
    let steps = workflow.as_ref().and_then(|w| {
        w.other_stages
            .iter()
            .find(|(name, _)| name == stage)
            .map(|(_, steps)| steps.as_slice())
    });
    let tf = terraform(ctx, run, (workflow.as_ref(), bin.path), Stage::Apply, log);
    let _lease = bin.lease;
    tf.state_custom((root, dir), steps, &run.vars(), cmd).await
}
