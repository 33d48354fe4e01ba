//! Terraform for one project directory: init, workspace, plan, show -json, apply — each one
//! [`Invocation`] through a [`Runner`] — and the reading of what they print.
//!
//! **Environment policy.** bosun's own environment holds secrets (the App key path, database
//! URL, tokens), so no command inherits it. Terraform gets exactly [`Terraform::env`]: a fixed
//! minimal `PATH` (led by a project's downloaded version's directory: [`Terraform::with_bin`]); a `HOME` and a `TF_DATA_DIR` of the run's own ([`RunDir`], outside the
//! checkout: a committed `.bosun-home/.terraformrc` or `.terraform/environment` is never
//! read); `TF_CLI_CONFIG_FILE`, the operator's file or an empty one; `TF_WORKSPACE` for every
//! command after `init` and `workspace select`; `TF_IN_AUTOMATION=1`, `TF_INPUT=0`,
//! `CHECKPOINT_DISABLE=1` (no calls home), `TF_PLUGIN_CACHE_DIR`; git (for `git::` module
//! sources) without global or system config, without prompts, and with only `https` (and
//! `ssh` when the operator allows it) as protocols; and the operator's `extra_env` (cloud
//! credentials and the like, chosen explicitly).
//!
//! **Plugin cache.** `plugin_cache` is the cache of this run's scope (see
//! [`cache::scope`]: one per pull request, one per repository's default branch), so a pull
//! request never writes providers another pull request, another repository or a drift check
//! runs. `init` installs into a private cache of its own (Terraform's cache is unsafe under
//! parallel `init`) that links the scope's packages and those of the verified
//! `provider_store` its lock file pins; what it verified is then shared (see [`cache`]).
//!
//! **What a run may touch.** Every [`Invocation`] names the checkout root (the whole
//! repository tree, because a project may use `../modules`) and the run directory as
//! writable, the scope's plugin cache and the provider store read-only, and the
//! operator's CLI config read-only; a sandboxing runner ([`sandbox`]) shows the command
//! nothing else of bosun's data directory. Terraform code here never writes in the checkout
//! from the host.

pub mod beneath;
pub mod cache;
mod custom;
mod detailed;
mod parse;
mod redacting;
pub mod run;
pub mod rundir;
pub mod sandbox;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tracing::Instrument;

pub use custom::{SHELL, StateCommand, StateOp, StateRun, StepVars};
pub use detailed::DetailedPlan;
pub use parse::{fallback_line, plan_line, plan_text, summarise, summarise_text};
pub use redacting::Redacting;
pub use run::{Direct, Exit, Finished, Invocation, Runner};
pub use rundir::RunDir;
pub use sandbox::{Bwrap, BwrapConfig, Limits};

use crate::apply::{ApplyOutcome, is_stale_refusal};
use crate::ids::Workspace;
use crate::plan::{Outcome, PlanSummary, Step};

/// The `PATH` every Terraform run gets.
pub const PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// Variables bosun sets for every run that a workflow's `env` step may not change.
pub const RESERVED_ENV: &[&str] = &[
    "HOME",
    "TF_DATA_DIR",
    "TF_CLI_CONFIG_FILE",
    "TF_PLUGIN_CACHE_DIR",
    "TF_WORKSPACE",
    "GIT_CONFIG_NOSYSTEM",
    "GIT_CONFIG_GLOBAL",
    "GIT_ALLOW_PROTOCOL",
    "GIT_TERMINAL_PROMPT",
];
/// The project's `.terraform.lock.hcl` in `dir`, read beneath it (no link followed, at most
/// 1 MiB); `None` when there is none or it cannot be read.
fn read_lock(dir: &Path) -> Option<String> {
    match beneath::read_beneath(dir, Path::new(".terraform.lock.hcl"), 1 << 20) {
        Ok(lock) => lock.map(|b| String::from_utf8_lossy(&b).into_owned()),
        Err(e) => {
            tracing::warn!(error = %e, "reading the dependency lock file failed");
            None
        }
    }
}

/// Default output cap per command.
pub const DEFAULT_OUTPUT_CAP: usize = 4 << 20;
/// Cap for `show -json`, whose output is data rather than a log and must not be cut.
pub const SHOW_JSON_CAP: usize = 256 << 20;

/// How long each Terraform command may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `init`, including preparing its private plugin cache.
    pub init: Duration,
    pub plan: Duration,
    pub show: Duration,
    pub apply: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            init: Duration::from_secs(10 * 60),
            plan: Duration::from_secs(30 * 60),
            show: Duration::from_secs(5 * 60),
            apply: Duration::from_secs(60 * 60),
        }
    }
}

/// How to run Terraform (or OpenTofu): the binary, the runner all commands go through, the
/// shared plugin cache, limits and the extra environment.
#[derive(Clone)]
pub struct Terraform {
    pub bin: PathBuf,
    pub runner: Arc<dyn Runner>,
    /// The plugin cache of this run's scope (see the module docs).
    pub plugin_cache: PathBuf,
    /// The store of verified provider packages every scope may link from (read-only to runs;
    /// see [`cache`]); `None`: none.
    pub provider_store: Option<PathBuf>,
    /// Where run directories are made ([`RunDir`]); `new` puts it next to the plugin cache,
    /// `serve` at `<data_dir>/runs`.
    pub runs_dir: PathBuf,
    /// The operator's Terraform CLI config (`TF_CLI_CONFIG_FILE`); `None`: an empty one.
    pub cli_config: Option<PathBuf>,
    /// Whether git may use `ssh` for module sources (else `https` only).
    pub git_ssh: bool,
    pub timeouts: Timeouts,
    pub output_cap: usize,
    /// Added to every run's environment after bosun's own variables (and overriding them).
    pub extra_env: Vec<(String, String)>,
    /// Whether runs may use the network (a custom workflow's `network: false` turns it off
    /// for its project; see [`Invocation::network`]).
    pub network: bool,
    /// Whether the binary's directory leads the runs' `PATH` and is readable in every run (a
    /// project's own version: [`Terraform::with_bin`]).
    pub bin_on_path: bool,
}

impl std::fmt::Debug for Terraform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // extra_env may hold credentials: names only.
        let names: Vec<&str> = self.extra_env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Terraform")
            .field("bin", &self.bin)
            .field("plugin_cache", &self.plugin_cache)
            .field("runs_dir", &self.runs_dir)
            .field("cli_config", &self.cli_config)
            .field("git_ssh", &self.git_ssh)
            .field("timeouts", &self.timeouts)
            .field("output_cap", &self.output_cap)
            .field("extra_env", &names)
            .field("network", &self.network)
            .finish_non_exhaustive()
    }
}

/// The result of planning one project: its outcome, the planfile when there is one, and
/// the output of every step that ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRun {
    pub outcome: Outcome,
    pub planfile: Option<Vec<u8>>,
    pub log: String,
    /// The plan's `terraform show -json`, when it planned (what policy checks read).
    pub show_json: Option<String>,
}

impl PlanRun {
    /// A run that planned (its outcome and planfile) or failed at a step (with its output).
    pub(crate) fn of(result: Result<Planned, (Step, String)>, log: String) -> Self {
        match result {
            Ok(Planned {
                outcome,
                planfile,
                show_json,
            }) => Self {
                outcome,
                planfile: Some(planfile),
                log,
                show_json: Some(show_json),
            },
            Err((step, output)) => Self {
                outcome: Outcome::Failed { step, output },
                planfile: None,
                log,
                show_json: None,
            },
        }
    }
}

/// A plan that succeeded: its outcome, planfile and `show -json`.
pub(crate) struct Planned {
    pub outcome: Outcome,
    pub planfile: Vec<u8>,
    pub show_json: String,
}

/// The JSON of `show -json`'s output: stderr is interleaved, the JSON is the one line that is
/// an object.
fn plan_json(output: &str) -> &str {
    output
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or(output)
}

/// Whether `name` is a workspace name bosun passes to Terraform: `[A-Za-z0-9_.-]+`.
pub fn valid_workspace(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Where a command runs: the checkout root (writable by the run), the project dir in it, the
/// run's own directory, and the workspace pinned with `TF_WORKSPACE` (none for `init` and
/// `workspace select`, which choose it).
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    pub root: &'a Path,
    pub dir: &'a Path,
    pub run: &'a RunDir,
    pub workspace: Option<&'a Workspace>,
}

impl<'a> At<'a> {
    /// `dir` of the checkout `root`, with the run directory `run`, for `workspace`.
    pub fn new(root: &'a Path, dir: &'a Path, run: &'a RunDir, workspace: &'a Workspace) -> Self {
        Self {
            root,
            dir,
            run,
            workspace: Some(workspace),
        }
    }

    /// The same place, with no workspace pinned.
    fn unpinned(self) -> Self {
        Self {
            workspace: None,
            ..self
        }
    }
}

impl Terraform {
    /// Terraform at `bin`, run through `runner`, with default timeouts and cap, no extra
    /// environment, and run directories next to the plugin cache (`<cache>/../runs`).
    pub fn new(bin: impl Into<PathBuf>, runner: Arc<dyn Runner>, plugin_cache: PathBuf) -> Self {
        let runs_dir = plugin_cache.with_file_name("runs");
        Self {
            bin: bin.into(),
            runner,
            plugin_cache,
            provider_store: None,
            runs_dir,
            cli_config: None,
            git_ssh: false,
            timeouts: Timeouts::default(),
            output_cap: DEFAULT_OUTPUT_CAP,
            extra_env: Vec::new(),
            network: true,
            bin_on_path: false,
        }
    }

    /// This Terraform for pull request `pr` of `repo` (0: its default branch): the plugin
    /// cache of that scope ([`cache::scope`]) and the verified store of its owner
    /// ([`cache::store_scope`]), both under this Terraform's own (the roots).
    pub fn for_scope(&self, repo: &str, pr: crate::ids::PrNumber) -> Self {
        Self {
            plugin_cache: self.plugin_cache.join(cache::scope(repo, pr)),
            provider_store: self
                .provider_store
                .as_ref()
                .map(|root| root.join(cache::store_scope(repo))),
            ..self.clone()
        }
    }

    /// This Terraform with the plugin cache `dir` (a scope's; see [`cache::scope`]).
    pub fn with_plugin_cache(&self, dir: PathBuf) -> Self {
        Self {
            plugin_cache: dir,
            ..self.clone()
        }
    }

    /// This Terraform with the binary `bin` (a project's own version; see
    /// [`crate::versions`]). Its directory is bound read-only into the sandbox, and is first
    /// on the `PATH` of `run` steps, so a workflow's own `terraform` (or `tofu`) is it too.
    pub fn with_bin(&self, bin: PathBuf) -> Self {
        Self {
            bin,
            bin_on_path: true,
            ..self.clone()
        }
    }

    /// A fresh run directory for one plan, apply or drift check.
    pub fn run_dir(&self) -> Result<RunDir> {
        RunDir::create(&self.runs_dir)
    }

    /// The whole environment of a run at `at` (see the module docs for the policy).
    pub fn env(&self, at: &At<'_>) -> Vec<(String, String)> {
        let path = |p: &Path| p.to_string_lossy().into_owned();
        let cli_config = self
            .cli_config
            .clone()
            .unwrap_or_else(|| at.run.empty_cli_config());
        let protocols = if self.git_ssh { "https:ssh" } else { "https" };
        let search = match self.bin.parent().filter(|_| self.bin_on_path) {
            Some(dir) => format!("{}:{PATH}", dir.display()),
            None => PATH.to_owned(),
        };
        let mut env = vec![
            ("PATH".to_owned(), search),
            ("HOME".to_owned(), path(&at.run.home())),
            ("TF_DATA_DIR".to_owned(), path(&at.run.data_dir())),
            ("TF_CLI_CONFIG_FILE".to_owned(), path(&cli_config)),
            ("TF_IN_AUTOMATION".to_owned(), "1".to_owned()),
            ("TF_INPUT".to_owned(), "0".to_owned()),
            ("CHECKPOINT_DISABLE".to_owned(), "1".to_owned()),
            ("TF_PLUGIN_CACHE_DIR".to_owned(), path(&self.plugin_cache)),
            ("GIT_CONFIG_NOSYSTEM".to_owned(), "1".to_owned()),
            ("GIT_CONFIG_GLOBAL".to_owned(), "/dev/null".to_owned()),
            ("GIT_ALLOW_PROTOCOL".to_owned(), protocols.to_owned()),
            ("GIT_TERMINAL_PROMPT".to_owned(), "0".to_owned()),
        ];
        if let Some(workspace) = at.workspace {
            env.push(("TF_WORKSPACE".to_owned(), workspace.to_string()));
        }
        for (key, value) in &self.extra_env {
            env.retain(|(k, _)| k != key);
            env.push((key.clone(), value.clone()));
        }
        env
    }

    /// Runs `terraform ARGS` at `at` through the runner.
    async fn run(&self, at: At<'_>, args: Vec<String>, timeout: Duration) -> Result<Finished> {
        self.run_capped(at, args, timeout, self.output_cap).await
    }

    /// The invocation of `program ARGS` at `at`: the checkout root and the run directory
    /// writable, the plugin cache (unless it is the run's own, for `init`) and the operator's
    /// CLI config readable.
    fn invocation(
        &self,
        at: &At<'_>,
        (program, args): (PathBuf, Vec<String>),
        timeout: Duration,
        output_cap: usize,
    ) -> Result<Invocation> {
        std::fs::create_dir_all(&self.plugin_cache)
            .with_context(|| format!("creating {}", self.plugin_cache.display()))?;
        let writable = vec![at.root.to_owned(), at.run.path().to_owned()];
        let mut readable: Vec<PathBuf> = self.cli_config.iter().cloned().collect();
        if let Some(dir) = self.bin.parent().filter(|_| self.bin_on_path) {
            readable.push(dir.to_owned());
        }
        if !self.plugin_cache.starts_with(at.run.path()) {
            readable.push(self.plugin_cache.clone());
        }
        if let Some(store) = &self.provider_store {
            std::fs::create_dir_all(store)
                .with_context(|| format!("creating {}", store.display()))?;
            readable.push(store.clone());
        }
        Ok(Invocation {
            program,
            args,
            cwd: at.dir.to_owned(),
            env: self.env(at),
            timeout,
            output_cap,
            writable,
            readable,
            network: self.network,
        })
    }

    /// Runs `terraform ARGS` at `at`, its output capped at `output_cap`.
    async fn run_capped(
        &self,
        at: At<'_>,
        args: Vec<String>,
        timeout: Duration,
        output_cap: usize,
    ) -> Result<Finished> {
        // Timed by subscribers that keep span timings (the spread benchmark's breakdown).
        let span = tracing::debug_span!(
            "terraform",
            command = args.first().map_or("", |a| a.as_str())
        );
        let program = (self.bin.clone(), args);
        let inv = self.invocation(&at, program, timeout, output_cap)?;
        self.runner.run(inv).instrument(span).await
    }

    /// `terraform init -input=false -no-color` at `at` (see [`Terraform::init_with`]).
    pub async fn init(&self, at: At<'_>) -> Result<Finished> {
        self.init_with(at, &[]).await
    }

    /// `terraform init [EXTRA] -input=false -no-color` (a workflow's `init` step), like
    /// [`Terraform::init`]. No workspace is pinned: the run's fresh `TF_DATA_DIR` starts at
    /// `default`. It installs providers into a private cache in the run directory, which
    /// links every package of the shared cache (read-only); once it succeeded, the packages
    /// it added that its lock file verifies move into the shared cache (see [`cache`]). No
    /// lock: inits run side by side.
    pub async fn init_with(&self, at: At<'_>, extra_args: &[String]) -> Result<Finished> {
        let private = at.run.path().join("plugin-cache");
        let shared = self.plugin_cache.clone();
        let store = self.provider_store.clone();
        let preparing = (
            shared.clone(),
            store.clone(),
            private.clone(),
            at.dir.to_owned(),
        );
        tokio::task::spawn_blocking(move || {
            let (shared, store, private, dir) = preparing;
            let lock = read_lock(&dir);
            cache::prepare(&shared, store.as_deref(), &private, lock.as_deref())
        })
        .await
        .context("preparing the plugin cache")??;
        let mut args = vec!["init".to_owned()];
        args.extend(extra_args.iter().cloned());
        args.extend(["-input=false".to_owned(), "-no-color".to_owned()]);
        let tf = self.with_plugin_cache(private.clone());
        let at = at.unpinned();
        let mut inv = tf.invocation(
            &at,
            (self.bin.clone(), args),
            self.timeouts.init,
            self.output_cap,
        )?;
        // The private cache's links lead to the shared cache: readable, never writable.
        inv.readable.push(shared.clone());
        let span = tracing::debug_span!("terraform", command = "init");
        let done = self.runner.run(inv).instrument(span).await?;
        if done.exit.success() {
            let dir = at.dir.to_owned();
            let promoting = tokio::task::spawn_blocking(move || -> Result<cache::Promoted> {
                match read_lock(&dir) {
                    Some(lock) => cache::promote(&shared, store.as_deref(), &private, &lock),
                    None => Ok(cache::Promoted::default()),
                }
            });
            match promoting.await {
                Ok(Ok(promoted)) if !promoted.moved.is_empty() || !promoted.stored.is_empty() => {
                    tracing::debug!(
                        moved = promoted.moved.len(),
                        stored = promoted.stored.len(),
                        "provider packages shared"
                    );
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "sharing the provider packages failed"
                    );
                }
                Err(e) => tracing::warn!(error = %e, "sharing the provider packages failed"),
            }
        }
        Ok(done)
    }

    /// `terraform workspace select -or-create=true NAME`; the name must be
    /// [valid](valid_workspace).
    pub async fn select_workspace(&self, at: At<'_>, workspace: &Workspace) -> Result<Finished> {
        let workspace = workspace.as_str();
        if !valid_workspace(workspace) {
            bail!("invalid workspace name {workspace:?}: use letters, digits, `_`, `.` and `-`");
        }
        let args = [
            "workspace",
            "select",
            "-or-create=true",
            "-no-color",
            workspace,
        ]
        .map(String::from)
        .to_vec();
        self.run(at.unpinned(), args, self.timeouts.init).await
    }

    /// `terraform plan [EXTRA] -input=false -no-color -out=PLANFILE`, the planfile in the run
    /// directory. `extra_args` (from a comment's `-- -var x=y`) are separate argv entries,
    /// never seen by a shell; they come first so bosun's own flags win over a repeated one
    /// (Go's flags keep the last value).
    pub async fn plan(&self, at: At<'_>, extra_args: &[String]) -> Result<Finished> {
        let mut args = vec!["plan".to_owned()];
        args.extend(extra_args.iter().cloned());
        args.extend(["-input=false".to_owned(), "-no-color".to_owned()]);
        args.push(format!("-out={}", at.run.planfile().display()));
        self.run(at, args, self.timeouts.plan).await
    }

    /// `terraform show -json PLANFILE` (the run directory's) and, when it succeeded, the
    /// plan's summary (without its `line`, which only the plan's text has).
    pub async fn show_json(&self, at: At<'_>) -> Result<(Finished, Option<PlanSummary>)> {
        let args = vec![
            "show".to_owned(),
            "-json".to_owned(),
            "-no-color".to_owned(),
            at.run.planfile().display().to_string(),
        ];
        let cap = self.output_cap.max(SHOW_JSON_CAP);
        let done = self.run_capped(at, args, self.timeouts.show, cap).await?;
        if !done.exit.success() {
            return Ok((done, None));
        }
        if done.truncated {
            bail!("plan JSON longer than {cap} bytes");
        }
        let json = plan_json(&done.output);
        let summary = summarise(json.as_bytes())?;
        Ok((done, Some(summary)))
    }

    /// `terraform apply -input=false -no-color PLANFILE` (the run directory's).
    pub async fn apply(&self, at: At<'_>) -> Result<Finished> {
        self.apply_with(at, &[]).await
    }

    /// `terraform apply [EXTRA] -input=false -no-color PLANFILE` (a workflow's `apply` step).
    pub async fn apply_with(&self, at: At<'_>, extra_args: &[String]) -> Result<Finished> {
        let mut args = vec!["apply".to_owned()];
        args.extend(extra_args.iter().cloned());
        args.extend([
            "-input=false".to_owned(),
            "-no-color".to_owned(),
            at.run.planfile().display().to_string(),
        ]);
        self.run(at, args, self.timeouts.apply).await
    }

    /// Terraform's version (`terraform version -json`), e.g. `1.15.5`.
    pub async fn version(&self) -> Result<String> {
        let output = self.version_output(true).await?;
        let json = match (output.find('{'), output.rfind('}')) {
            (Some(a), Some(b)) => output.get(a..=b).unwrap_or_default(),
            _ => "",
        };
        #[derive(serde::Deserialize)]
        struct Version {
            terraform_version: String,
        }
        let version: Version = serde_json::from_str(json)
            .with_context(|| format!("reading `terraform version -json`: {output}"))?;
        Ok(version.terraform_version)
    }

    /// Which program the binary is, from the first line of `<bin> version` (`Terraform
    /// v1.15.5`, `OpenTofu v1.8.0`; the JSON form does not say).
    pub async fn distribution(&self) -> Result<crate::config::repo::Distribution> {
        let output = self.version_output(false).await?;
        crate::config::repo::Distribution::of_version_output(&output).with_context(|| {
            format!(
                "`version` names neither Terraform nor OpenTofu: {}",
                output.lines().next().unwrap_or_default()
            )
        })
    }

    /// The output of `<bin> version` (`-json` when `json`).
    async fn version_output(&self, json: bool) -> Result<String> {
        let run = self.run_dir()?;
        let dir = run.path().to_owned();
        let at = At {
            root: &dir,
            dir: &dir,
            run: &run,
            workspace: None,
        };
        let mut args = vec!["version".to_owned()];
        if json {
            args.push("-json".to_owned());
        }
        let inv = Invocation {
            network: true,
            // Not the run dir: as root, bwrap enters the working directory before dropping
            // to the sandbox's user, without the capability to enter that user's 0700 dir.
            cwd: PathBuf::from("/"),
            ..self.invocation(
                &at,
                (self.bin.clone(), args),
                self.timeouts.show,
                self.output_cap,
            )?
        };
        let done = self.runner.run(inv).await?;
        if !done.exit.success() {
            bail!("terraform version: {}: {}", done.exit, done.output.trim());
        }
        Ok(done.output)
    }

    /// Plans the project in `dir` of the checkout `root` (the whole tree, writable by the
    /// run) in a fresh [`RunDir`]: init, workspace (unless `default`), plan into the run's
    /// planfile, show -json. Never fails: a failing step is [`Outcome::Failed`] with its
    /// output (or why it could not run).
    pub async fn plan_project(
        &self,
        root: &Path,
        dir: &Path,
        workspace: &Workspace,
        extra_args: &[String],
    ) -> PlanRun {
        self.plan_project_early(root, dir, workspace, extra_args, &|_| {})
            .await
    }

    /// [`plan_project`](Self::plan_project), handing `early` the outcome its plan's own output
    /// shows (see [`summarise_text`]) as soon as the plan is saved, before `show -json` runs.
    pub async fn plan_project_early(
        &self,
        root: &Path,
        dir: &Path,
        workspace: &Workspace,
        extra_args: &[String],
        early: &(dyn Fn(&Outcome) + Sync),
    ) -> PlanRun {
        let mut log = String::new();
        let run = match self.run_dir() {
            Ok(run) => run,
            Err(e) => return PlanRun::of(Err((Step::Init, format!("{e:#}"))), log),
        };
        let at = At::new(root, dir, &run, workspace);
        let result = self.plan_steps(at, extra_args, early, &mut log).await.map(
            |(summary, text, planfile, show_json)| Planned {
                outcome: Outcome::Planned { summary, text },
                planfile,
                show_json,
            },
        );
        PlanRun::of(result, log)
    }

    /// Applies a saved plan in `dir` of the checkout `root` in a fresh [`RunDir`]: the
    /// planfile's bytes written to the run's planfile, init, workspace (unless `default`),
    /// then `apply` of exactly that file. Never fails: a failing step is
    /// [`ApplyOutcome::Failed`] with its output, marked `stale` when Terraform refused the
    /// plan because the state changed since it was made.
    pub async fn apply_project(
        &self,
        root: &Path,
        dir: &Path,
        workspace: &Workspace,
        planfile: &[u8],
    ) -> ApplyOutcome {
        let mut log = String::new();
        let t = self.timeouts;
        let run = match self.run_dir() {
            Ok(run) => run,
            Err(e) => {
                return ApplyOutcome::Failed {
                    output: format!("{e:#}"),
                    stale: false,
                };
            }
        };
        if let Err(e) = run.write_planfile(planfile) {
            return ApplyOutcome::Failed {
                output: format!("writing the saved plan: {e}"),
                stale: false,
            };
        }
        let at = At::new(root, dir, &run, workspace);
        if let Err((_, output)) = self.prepare(at, &mut log).await {
            return ApplyOutcome::Failed {
                output,
                stale: false,
            };
        }
        match self.apply(at).await {
            Ok(done) if done.exit.success() => ApplyOutcome::Applied {
                output: done.output,
            },
            Ok(done) => {
                let (_, output) = failure((Step::Plan, "apply", t.apply), &done, &mut log);
                ApplyOutcome::Failed {
                    stale: is_stale_refusal(&output),
                    output,
                }
            }
            Err(e) => ApplyOutcome::Failed {
                output: format!("{e:#}"),
                stale: false,
            },
        }
    }

    /// `init`, then `workspace select` unless the workspace is `default`: how every plan and
    /// apply of a project begins.
    async fn prepare(&self, at: At<'_>, log: &mut String) -> Result<(), (Step, String)> {
        let init = self.timeouts.init;
        let done = self.init(at).await;
        step((Step::Init, "init", init), done, log)?;
        if let Some(workspace) = at.workspace.filter(|w| !w.is_default()) {
            let done = self.select_workspace(at, workspace).await;
            step((Step::Workspace, "workspace select", init), done, log)?;
        }
        Ok(())
    }

    async fn plan_steps(
        &self,
        at: At<'_>,
        extra_args: &[String],
        early: &(dyn Fn(&Outcome) + Sync),
        log: &mut String,
    ) -> Result<(PlanSummary, String, Vec<u8>, String), (Step, String)> {
        let t = self.timeouts;
        self.prepare(at, log).await?;
        // With `-detailed-exitcode` (from the comment) exit code 2 means "planned, with changes".
        let detailed = extra_args.iter().any(|a| a == "-detailed-exitcode");
        let plan = self.plan(at, extra_args).await.map(|mut done| {
            if detailed && done.exit == Exit::Code(2) {
                done.exit = Exit::Code(0);
            }
            done
        });
        if let Ok(done) = &plan
            && done.truncated
        {
            return Err(cut_off(done, self.output_cap, log));
        }
        let plan_output = step((Step::Plan, "plan", t.plan), plan, log)?;
        let bytes = match at.run.read_planfile() {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Err((Step::Plan, "terraform plan wrote no planfile".into())),
            Err(e) => return Err((Step::Plan, format!("reading the planfile: {e}"))),
        };
        if let Some(summary) = summarise_text(&plan_output) {
            let text = plan_text(&plan_output);
            early(&Outcome::Planned { summary, text });
        }
        let (done, summary) = match self.show_json(at).await {
            Ok(shown) => shown,
            Err(e) => {
                log.push_str(&format!("$ terraform show -json\n{e:#}\n"));
                return Err((Step::Show, format!("{e:#}")));
            }
        };
        let Some(mut summary) = summary else {
            return Err(failure((Step::Show, "show -json", t.show), &done, log));
        };
        log.push_str(&format!(
            "$ terraform show -json\n({} bytes of JSON)\n",
            done.output.len()
        ));
        summary.line = plan_line(&plan_output).unwrap_or_else(|| fallback_line(&summary));
        let json = plan_json(&done.output).to_owned();
        Ok((summary, plan_text(&plan_output), bytes, json))
    }
}

/// A step of `plan_project`: which, its name in logs, its timeout.
type StepInfo = (Step, &'static str, Duration);

/// Logs a step's output; its output when it succeeded, else the failure for the outcome.
fn step(
    info: StepInfo,
    done: Result<Finished>,
    log: &mut String,
) -> Result<String, (Step, String)> {
    let (step, name, _) = info;
    match done {
        Ok(done) if done.exit.success() => {
            log.push_str(&format!("$ terraform {name}\n{}", done.output));
            Ok(done.output)
        }
        Ok(done) => Err(failure(info, &done, log)),
        Err(e) => {
            let msg = format!("{e:#}");
            log.push_str(&format!("$ terraform {name}\n{msg}\n"));
            Err((step, msg))
        }
    }
}

/// How much of a cut-off plan's output its failure keeps: enough to see what it was printing,
/// little enough for one comment.
const CUT_PLAN_KEEP: usize = 32 * 1024;

/// A plan that printed more than the output cap (`cap`): nobody can review it in full, so it
/// fails whatever Terraform's exit, keeping only the start of its output (and no planfile).
fn cut_off(done: &Finished, cap: usize, log: &mut String) -> (Step, String) {
    let mut end = CUT_PLAN_KEEP.min(done.output.len());
    while !done.output.is_char_boundary(end) {
        end -= 1;
    }
    let head = done.output.get(..end).unwrap_or_default();
    let head = head
        .rfind('\n')
        .map_or(head, |i| head.get(..=i).unwrap_or(head));
    let output = format!(
        "{head}… output cut: terraform plan ({}) printed more than the {cap} bytes bosun keeps; \
         a plan that cannot be shown in full is not kept, so it cannot be applied",
        done.exit
    );
    log.push_str(&format!("$ terraform plan\n{output}\n"));
    (Step::Plan, output)
}

/// The failure of a step that ran but did not succeed, logged.
fn failure((step, name, timeout): StepInfo, done: &Finished, log: &mut String) -> (Step, String) {
    let mut output = done.output.clone();
    if !output.is_empty() && !output.ends_with('\n') {
        output.push('\n');
    }
    match done.exit {
        Exit::TimedOut => output.push_str(&format!(
            "terraform {name} timed out after {}",
            humantime::format_duration(timeout)
        )),
        exit => output.push_str(&format!("terraform {name} failed: {exit}")),
    }
    log.push_str(&format!("$ terraform {name}\n{output}\n"));
    (step, output)
}

#[cfg(test)]
mod tests;
