//! Custom workflows: a repo config's plan and apply steps run instead of bosun's default
//! sequence. `run` steps are `/bin/sh -c <command>` (or the shell they name, found on the
//! sandbox's fixed `PATH`, with its `shellArgs`) through the same [`Runner`] as Terraform, so
//! a sandbox confines them exactly as it confines Terraform; they see [`Terraform::env`] plus
//! Atlantis's variables ([`StepVars`]) and the `env` and `multienv` steps' values; their
//! `output` option decides what users see ([`output`]), the logs keep everything. Every run
//! has its own [`RunDir`]: `$PLANFILE` is in it, not in the checkout. An `env` or `multienv`
//! step may not set the variables bosun owns ([`RESERVED_ENV`]); `run` steps get no
//! `TF_WORKSPACE` (so their own `terraform workspace select $WORKSPACE` works), but the
//! run's `TF_DATA_DIR` has the workspace bosun's `init` step selected.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use super::{
    At, Exit, Finished, PlanRun, RESERVED_ENV, RunDir, Terraform, cut_off, failure, fallback_line,
    plan_line, plan_text, step,
};
use crate::apply::{ApplyOutcome, is_stale_refusal};
use crate::config::repo::{EnvValue, OtherStep, ShellCommand, WorkflowStep};
use crate::ids::{Dir, Workspace};
use crate::plan::{Outcome, Step};

mod output;

/// The shell `run` steps go through unless they name one.
pub const SHELL: &str = "/bin/sh";

/// `/bin/sh -c COMMAND`, or the command's shell (found by name on bosun's fixed `PATH`) with
/// its arguments.
fn shell_program(cmd: &ShellCommand) -> Result<(std::path::PathBuf, Vec<String>)> {
    Ok(match &cmd.shell {
        None => (SHELL.into(), vec!["-c".to_owned(), cmd.command.clone()]),
        Some(shell) => {
            let program = std::env::split_paths(super::PATH)
                .map(|dir| dir.join(&shell.program))
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    anyhow::anyhow!("the shell `{}` is not on the PATH", shell.program)
                })?;
            let mut args = shell.args.clone();
            args.push(cmd.command.clone());
            (program, args)
        }
    })
}

impl Terraform {
    /// A workflow hook: `cmd` at the checkout `root` (its working directory), through the
    /// runner like a `run` step, with Terraform's environment (no workspace pinned) and `vars`
    /// (Atlantis's hook variables), in a fresh run directory, within the plan timeout.
    pub async fn hook(
        &self,
        root: &Path,
        cmd: &ShellCommand,
        vars: &[(String, String)],
    ) -> Result<Finished> {
        let run = self.run_dir()?;
        let mut tf = self.clone();
        for (k, v) in vars {
            tf.extra_env.retain(|(key, _)| key != k);
            tf.extra_env.push((k.clone(), v.clone()));
        }
        let at = At {
            root,
            dir: root,
            run: &run,
            workspace: None,
        };
        let inv = tf.invocation(&at, shell_program(cmd)?, tf.timeouts.plan, tf.output_cap)?;
        tf.runner.run(inv).await
    }
}

/// What a custom workflow's steps are told about the run (Atlantis's variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepVars {
    /// `WORKSPACE`.
    pub workspace: Workspace,
    /// `DIR` (and `REPO_REL_DIR`): the project dir relative to the repository root.
    pub dir: Dir,
    /// `PROJECT_NAME` (empty when the project has none).
    pub project_name: Option<String>,
    /// `PULL_NUM`.
    pub pull_num: u64,
    /// `HEAD_COMMIT`.
    pub head_commit: String,
    /// `BASE_BRANCH_NAME`.
    pub base_branch: String,
    /// `HEAD_BRANCH_NAME`.
    pub head_branch: String,
    /// `USER_NAME`: who asked (the commenter, else the pull request's author).
    pub user_name: String,
    /// `COMMENT_ARGS`, comma-joined: the extra arguments of the comment (`-- -var x=y`).
    pub comment_args: Vec<String>,
}

impl StepVars {
    fn env(&self, planfile: &Path) -> Vec<(String, String)> {
        [
            ("WORKSPACE", self.workspace.to_string()),
            ("DIR", self.dir.to_string()),
            ("REPO_REL_DIR", self.dir.to_string()),
            ("PLANFILE", planfile.to_string_lossy().into_owned()),
            (
                "PROJECT_NAME",
                self.project_name.clone().unwrap_or_default(),
            ),
            ("PULL_NUM", self.pull_num.to_string()),
            ("HEAD_COMMIT", self.head_commit.clone()),
            ("BASE_BRANCH_NAME", self.base_branch.clone()),
            ("HEAD_BRANCH_NAME", self.head_branch.clone()),
            ("USER_NAME", self.user_name.clone()),
            ("COMMENT_ARGS", self.comment_args.join(",")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// A custom run in progress: Terraform with the steps' environment so far, and what was
/// printed.
struct Steps<'a> {
    tf: Terraform,
    root: &'a Path,
    dir: &'a Path,
    run: RunDir,
    workspace: &'a Workspace,
    /// Every step's output, for the logs.
    log: String,
    /// The `run` steps' output, for users (plan comment, apply output).
    shown: String,
    timeout: Duration,
}

impl<'a> Steps<'a> {
    /// The steps' run in a fresh run directory; `Err`: why it could not be made.
    fn new(
        tf: &Terraform,
        (root, dir): (&'a Path, &'a Path),
        vars: &'a StepVars,
    ) -> Result<Self, String> {
        let run = tf.run_dir().map_err(|e| format!("{e:#}"))?;
        let mut tf = tf.clone();
        for (k, v) in vars.env(&run.planfile()) {
            tf.extra_env.retain(|(key, _)| *key != k);
            tf.extra_env.push((k, v));
        }
        Ok(Self {
            timeout: tf.timeouts.plan,
            tf,
            root,
            dir,
            run,
            workspace: &vars.workspace,
            log: String::new(),
            shown: String::new(),
        })
    }

    /// Where bosun's own commands run: the workspace pinned.
    fn at(&self) -> At<'_> {
        At::new(self.root, self.dir, &self.run, self.workspace)
    }

    /// `/bin/sh -c COMMAND` (or the step's shell, found by name on bosun's fixed `PATH`, and
    /// its arguments) in the project dir, through the runner: the checkout and the run
    /// directory writable, the plugin cache read-only.
    async fn shell(&self, cmd: &ShellCommand) -> Result<Finished> {
        let program = shell_program(cmd)?;
        let at = self.at().unpinned();
        let inv = self
            .tf
            .invocation(&at, program, self.timeout, self.tf.output_cap)?;
        self.tf.runner.run(inv).await
    }

    /// A `run` step: its output shown as its `output` option says, a failure naming it.
    async fn run(&mut self, index: usize, cmd: &ShellCommand) -> Result<(), (Step, String)> {
        let command = &cmd.command;
        let done = self.shell(cmd).await;
        let name = format!("step {} (`run: {command}`)", index + 1);
        self.log.push_str(&format!("$ {command}\n"));
        match done {
            Ok(done) if done.exit.success() => {
                self.log.push_str(&done.output);
                if let Some(shown) = output::shown(&cmd.output, &done.output) {
                    self.show(command, &shown);
                }
                Ok(())
            }
            Ok(mut done) => {
                done.output = output::shown(&cmd.output, &done.output)
                    .unwrap_or_else(|| "(output hidden: `output: hide`)\n".into());
                Err((Step::Run, self.failed(&name, &done)))
            }
            Err(e) => Err((Step::Run, format!("{name} could not run: {e:#}"))),
        }
    }

    /// A `multienv` step: its command prints `NAME=VALUE,NAME=VALUE`; each is set for the
    /// steps after it, as an `env` step sets one. Users see the names, unless `output: hide`.
    async fn multienv(&mut self, index: usize, cmd: &ShellCommand) -> Result<(), (Step, String)> {
        let command = &cmd.command;
        let what = format!("step {} (`multienv: {command}`)", index + 1);
        self.log.push_str(&format!("$ {command}\n"));
        let printed = match self.shell(cmd).await {
            Ok(done) if done.exit.success() => done.output,
            Ok(mut done) => {
                if cmd.output.hide {
                    done.output = "(output hidden: `output: hide`)\n".into();
                }
                return Err((Step::Run, self.failed(&what, &done)));
            }
            Err(e) => return Err((Step::Run, format!("{what} could not run: {e:#}"))),
        };
        let vars = output::multienv(&printed).map_err(|e| {
            let message = format!("{what} printed no `NAME=VALUE,NAME=VALUE` list: {e}");
            self.log.push_str(&format!("{message}\n"));
            (Step::Run, format!("{}{message}", self.shown))
        })?;
        for (name, _) in &vars {
            self.may_set(index, "multienv", name)?;
        }
        let mut shown = match vars.is_empty() {
            true => "No dynamic environment variable added\n".to_owned(),
            false => "Dynamic environment variables added:\n".to_owned(),
        };
        for (name, value) in vars {
            shown.push_str(&format!("{name}\n"));
            self.tf.extra_env.retain(|(k, _)| *k != name);
            self.tf.extra_env.push((name, value));
        }
        self.log.push_str(&shown);
        if !cmd.output.hide {
            self.show(command, &shown);
        }
        Ok(())
    }

    /// Refuses a step setting `name` when bosun owns it or it is no variable name.
    fn may_set(&self, index: usize, step: &str, name: &str) -> Result<(), (Step, String)> {
        let usable = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let why = if RESERVED_ENV.contains(&name) {
            "bosun sets it for every run"
        } else if !usable {
            "it is not a usable variable name"
        } else {
            return Ok(());
        };
        Err((
            Step::Run,
            format!(
                "{}step {} (`{step}`) may not set {name}: {why}",
                self.shown,
                index + 1
            ),
        ))
    }

    /// An `env` step: the value, or the trimmed output of its command (run like `run`).
    async fn env(
        &mut self,
        index: usize,
        name: &str,
        value: &EnvValue,
    ) -> Result<(), (Step, String)> {
        if RESERVED_ENV.contains(&name) {
            return Err((
                Step::Run,
                format!(
                    "step {} (`env: {name}`) may not set {name}: bosun sets it for every run",
                    index + 1
                ),
            ));
        }
        let value = match value {
            EnvValue::Value(v) => v.clone(),
            EnvValue::Command(cmd) => {
                let command = &cmd.command;
                let what = format!("step {} (`env: {name}`, command `{command}`)", index + 1);
                match self.shell(cmd).await {
                    Ok(done) if done.exit.success() => done.output.trim().to_owned(),
                    Ok(done) => return Err((Step::Run, self.failed(&what, &done))),
                    Err(e) => return Err((Step::Run, format!("{what} could not run: {e:#}"))),
                }
            }
        };
        self.tf.extra_env.retain(|(k, _)| k != name);
        self.tf.extra_env.push((name.to_owned(), value));
        Ok(())
    }

    /// `init` with its extra arguments, then the workspace unless `default`.
    async fn init(&mut self, extra_args: &[String]) -> Result<(), (Step, String)> {
        let t = self.tf.timeouts;
        let done = self.tf.init_with(self.at(), extra_args).await;
        step((Step::Init, "init", t.init), done, &mut self.log)?;
        if !self.workspace.is_default() {
            let done = self.tf.select_workspace(self.at(), self.workspace).await;
            step(
                (Step::Workspace, "workspace select", t.init),
                done,
                &mut self.log,
            )?;
        }
        Ok(())
    }

    /// Keeps a `run` step's output for users, within the output cap.
    fn show(&mut self, command: &str, output: &str) {
        if self.shown.len() >= self.tf.output_cap {
            return;
        }
        self.shown.push_str(&format!("$ {command}\n{output}"));
        if !self.shown.ends_with('\n') {
            self.shown.push('\n');
        }
        if self.shown.len() > self.tf.output_cap {
            let mut end = self.tf.output_cap;
            while !self.shown.is_char_boundary(end) {
                end -= 1;
            }
            self.shown.truncate(end);
            self.shown.push_str("\n… output cut\n");
        }
    }

    /// The failure of a step that ran: what it printed and how it ended, logged.
    fn failed(&mut self, name: &str, done: &Finished) -> String {
        let mut output = format!("{}{}", self.shown, done.output);
        if !output.is_empty() && !output.ends_with('\n') {
            output.push('\n');
        }
        match done.exit {
            Exit::TimedOut => output.push_str(&format!(
                "{name} timed out after {}",
                humantime::format_duration(self.timeout)
            )),
            exit => output.push_str(&format!("{name} failed: {exit}")),
        }
        self.log.push_str(&format!("{output}\n"));
        output
    }
}

impl Terraform {
    /// This Terraform with the network on or off for every run (a workflow's `network`).
    pub fn with_network(&self, network: bool) -> Self {
        Self {
            network: self.network && network,
            ..self.clone()
        }
    }

    /// Plans the project in `dir` of the checkout `root` with a custom workflow's plan
    /// `steps`; `extra_args` are the comment's (added to each `plan` step). The planfile, if
    /// a step made one at `$PLANFILE` (in the run directory), is summarised with `show
    /// -json`; none is a failure (nothing to apply). Never fails: a failing step is
    /// [`Outcome::Failed`].
    pub async fn plan_custom(
        &self,
        at: (&Path, &Path),
        steps: &[WorkflowStep],
        vars: &StepVars,
    ) -> PlanRun {
        let mut run = match Steps::new(self, at, vars) {
            Ok(run) => run,
            Err(output) => return PlanRun::of(Err((Step::Init, output)), String::new()),
        };
        let result = plan_steps(&mut run, steps, &vars.comment_args).await;
        PlanRun::of(result, std::mem::take(&mut run.log))
    }

    /// Applies a saved plan with a custom workflow's apply `steps`: the planfile's bytes are
    /// written to `$PLANFILE` (in a fresh run directory) first, then each step runs. Never
    /// fails.
    pub async fn apply_custom(
        &self,
        at: (&Path, &Path),
        steps: &[WorkflowStep],
        vars: &StepVars,
        planfile: &[u8],
    ) -> ApplyOutcome {
        let mut run = match Steps::new(self, at, vars) {
            Ok(run) => run,
            Err(output) => {
                return ApplyOutcome::Failed {
                    output,
                    stale: false,
                };
            }
        };
        run.timeout = self.timeouts.apply;
        if let Err(e) = run.run.write_planfile(planfile) {
            return ApplyOutcome::Failed {
                output: format!("writing the saved plan: {e}"),
                stale: false,
            };
        }
        match apply_steps(&mut run, steps).await {
            Ok(()) => ApplyOutcome::Applied { output: run.shown },
            Err((_, output)) => ApplyOutcome::Failed {
                stale: is_stale_refusal(&output),
                output,
            },
        }
    }
}

/// Which state command a comment asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateOp {
    /// `terraform import ADDRESS ID`.
    Import,
    /// `terraform state rm ADDRESS...`.
    Rm,
}

impl StateOp {
    /// The command as users write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Import => "import",
            Self::Rm => "state rm",
        }
    }
}

/// An `import` or `state rm` to run: the comment's extra arguments (after `--`) and its
/// addresses (`ADDRESS ID`, or `ADDRESS...`), passed in that order after a step's own, as
/// Atlantis passes them.
#[derive(Debug, Clone, Copy)]
pub struct StateCommand<'a> {
    pub op: StateOp,
    pub extra_args: &'a [String],
    pub args: &'a [String],
}

/// How an `import` or `state rm` in one project ended: what it printed (the `run` steps' and
/// Terraform's output; on failure, why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRun {
    pub succeeded: bool,
    pub output: String,
}

impl Terraform {
    /// Runs `cmd` in the project in `dir` of the checkout `root`: a workflow's `import` or
    /// `state_rm` stage `steps` when it has one (`init`, `import`/`state_rm`, `run`, `env`),
    /// else Atlantis's default, `init` then the command. Each in a fresh run directory, the
    /// workspace selected as for a plan. Never fails: a failing step is a failed [`StateRun`].
    pub async fn state_custom(
        &self,
        at: (&Path, &Path),
        steps: Option<&[OtherStep]>,
        vars: &StepVars,
        cmd: StateCommand<'_>,
    ) -> StateRun {
        let default = [
            OtherStep::Common(WorkflowStep::Init { extra_args: vec![] }),
            match cmd.op {
                StateOp::Import => OtherStep::Import { extra_args: vec![] },
                StateOp::Rm => OtherStep::StateRm { extra_args: vec![] },
            },
        ];
        let mut run = match Steps::new(self, at, vars) {
            Ok(run) => run,
            Err(output) => {
                return StateRun {
                    succeeded: false,
                    output,
                };
            }
        };
        run.timeout = self.timeouts.apply;
        match state_steps(&mut run, steps.unwrap_or(&default), cmd).await {
            Ok(()) => StateRun {
                succeeded: true,
                output: run.shown,
            },
            Err((_, output)) => StateRun {
                succeeded: false,
                output,
            },
        }
    }
}

async fn state_steps(
    run: &mut Steps<'_>,
    steps: &[OtherStep],
    cmd: StateCommand<'_>,
) -> Result<(), (Step, String)> {
    for (i, s) in steps.iter().enumerate() {
        let own = match (s, cmd.op) {
            (OtherStep::Common(WorkflowStep::Init { extra_args }), _) => {
                run.init(extra_args).await?;
                continue;
            }
            (OtherStep::Common(WorkflowStep::Run(command)), _) => {
                run.run(i, command).await?;
                continue;
            }
            (OtherStep::Common(WorkflowStep::MultiEnv(command)), _) => {
                run.multienv(i, command).await?;
                continue;
            }
            (OtherStep::Common(WorkflowStep::Env { name, value }), _) => {
                run.env(i, name, value).await?;
                continue;
            }
            (OtherStep::Import { extra_args }, StateOp::Import)
            | (OtherStep::StateRm { extra_args }, StateOp::Rm) => extra_args,
            // The parser keeps other steps out of these stages.
            _ => continue,
        };
        let mut args: Vec<String> = match cmd.op {
            StateOp::Import => vec!["import".into()],
            StateOp::Rm => vec!["state".into(), "rm".into()],
        };
        args.extend(own.iter().cloned());
        args.extend(cmd.extra_args.iter().cloned());
        if cmd.op == StateOp::Import {
            args.push("-input=false".into());
        }
        args.push("-no-color".into());
        args.extend(cmd.args.iter().cloned());
        let t = run.tf.timeouts.apply;
        let done = run.tf.run(run.at(), args, t).await;
        let output = step((Step::Plan, cmd.op.as_str(), t), done, &mut run.log)
            .map_err(|(s, out)| (s, format!("{}{out}", run.shown)))?;
        run.shown.push_str(&output);
    }
    Ok(())
}

async fn plan_steps(
    run: &mut Steps<'_>,
    steps: &[WorkflowStep],
    comment_args: &[String],
) -> Result<super::Planned, (Step, String)> {
    let mut plan_output = None;
    for (i, s) in steps.iter().enumerate() {
        match s {
            WorkflowStep::Init { extra_args } => run.init(extra_args).await?,
            WorkflowStep::Plan { extra_args } => {
                let mut args = extra_args.clone();
                args.extend(comment_args.iter().cloned());
                let detailed = args.iter().any(|a| a == "-detailed-exitcode");
                let plan = run.tf.plan(run.at(), &args).await.map(|mut done| {
                    if detailed && done.exit == Exit::Code(2) {
                        done.exit = Exit::Code(0);
                    }
                    done
                });
                if let Ok(done) = &plan
                    && done.truncated
                {
                    return Err(cut_off(done, run.tf.output_cap, &mut run.log));
                }
                let t = run.tf.timeouts.plan;
                plan_output = Some(step((Step::Plan, "plan", t), plan, &mut run.log)?);
            }
            WorkflowStep::Run(command) => run.run(i, command).await?,
            WorkflowStep::MultiEnv(command) => run.multienv(i, command).await?,
            WorkflowStep::Env { name, value } => run.env(i, name, value).await?,
            // The parser keeps `apply` out of plan steps.
            WorkflowStep::Apply { .. } => {}
        }
    }
    let bytes = match run.run.read_planfile() {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            let mut output = run.shown.clone();
            output.push_str(
                "The workflow made no plan (no `plan` step, and no step wrote $PLANFILE): \
                 nothing to apply.",
            );
            return Err((Step::Plan, output));
        }
        Err(e) => return Err((Step::Plan, format!("reading the planfile: {e}"))),
    };
    let (done, summary) = match run.tf.show_json(run.at()).await {
        Ok(shown) => shown,
        Err(e) => {
            run.log
                .push_str(&format!("$ terraform show -json\n{e:#}\n"));
            return Err((Step::Show, format!("{e:#}")));
        }
    };
    let Some(mut summary) = summary else {
        let t = run.tf.timeouts.show;
        return Err(failure((Step::Show, "show -json", t), &done, &mut run.log));
    };
    let plan_output = plan_output.unwrap_or_default();
    summary.line = plan_line(&plan_output).unwrap_or_else(|| fallback_line(&summary));
    let text = format!("{}{}", run.shown, plan_text(&plan_output));
    Ok(super::Planned {
        outcome: Outcome::Planned { summary, text },
        planfile: bytes,
        show_json: super::plan_json(&done.output).to_owned(),
    })
}

async fn apply_steps(run: &mut Steps<'_>, steps: &[WorkflowStep]) -> Result<(), (Step, String)> {
    for (i, s) in steps.iter().enumerate() {
        match s {
            WorkflowStep::Init { extra_args } => run.init(extra_args).await?,
            WorkflowStep::Apply { extra_args } => {
                let done = run.tf.apply_with(run.at(), extra_args).await;
                let t = run.tf.timeouts.apply;
                let output = step((Step::Plan, "apply", t), done, &mut run.log)
                    .map_err(|(s, out)| (s, format!("{}{out}", run.shown)))?;
                run.shown.push_str(&output);
            }
            WorkflowStep::Run(command) => run.run(i, command).await?,
            WorkflowStep::MultiEnv(command) => run.multienv(i, command).await?,
            WorkflowStep::Env { name, value } => run.env(i, name, value).await?,
            // The parser keeps `plan` out of apply steps.
            WorkflowStep::Plan { .. } => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
