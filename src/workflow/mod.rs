//! Workflows: what one job does, from its spec to GitHub feedback. Each reads what the step
//! before wrote and writes for the next: workspace → Terraform → store → check runs and
//! comments. One module per family: `plan`, `command` (comment commands), `close`, and
//! `feedback` (everything written to GitHub).

pub mod access;
pub mod apply;
pub mod approve_policies;
pub mod audit_log;
mod binary_check;
pub mod close;
pub mod command;
mod custom;
pub mod drift;
pub mod failure;
pub mod feedback;
pub mod hooks;
pub mod job;
pub mod locks;
pub mod plan;
pub mod plan_requirements;
pub mod plan_tasks;
mod policy;
mod policy_check;
pub mod reconcile;
pub mod state;
mod stop;
pub mod unlock;

use crate::ids::{PrNumber, Sha};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use backon::{ExponentialBuilder, Retryable as _};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedMutexGuard, Semaphore};

use crate::access::AccessPolicy;
use crate::config::pass_env::PassEnv;
use crate::config::powers::Rules;
use crate::config::{CheckoutStrategy, CommentMode};
use crate::github::GitHub;
use crate::ids::Dir;
use crate::metrics::Metrics;
use crate::notify::{Kind, Outbox};
use crate::plan::Target;
use crate::redact::Redactor;
use crate::store::{Job, Store};
use crate::terraform::Terraform;
use crate::workspace::{CheckoutError, CheckoutKey, Strategy, Workspaces};

use self::job::JobSpec;

/// The settings workflows read.
#[derive(Debug, Clone)]
pub struct WorkflowSettings {
    /// BOSUN_COMMAND_NAMES; the first is the one shown in comments.
    pub command_names: Vec<String>,
    pub app_slug: String,
    /// BOSUN_BLOCKED_EXTRA_ARGS: Terraform flags refused after `--` in a comment.
    pub blocked_extra_args: Vec<String>,
    /// BOSUN_ALLOW_COMMANDS: the comment commands allowed (`help` always is).
    pub allow_commands: Vec<crate::command::CommandKind>,
    pub checkout_strategy: CheckoutStrategy,
    /// BOSUN_REPO_CONFIG_FILE; `None`: bosun.yaml, else atlantis.yaml.
    pub repo_config_file: Option<String>,
    /// BOSUN_AUTOPLAN_MODULES: without a repo config, a changed local module plans its users.
    pub autoplan_modules: bool,
    pub comment_mode: CommentMode,
    /// BOSUN_STATUS_NAME: the summary check runs are `<it>/plan` and `<it>/apply`.
    pub status_name: String,
    /// Who may run commands and apply, and whether forks are served.
    pub access: AccessPolicy,
    /// What a pull request's repo config may set.
    pub repo_powers: Rules,
    /// bosun's variables each stage's Terraform runs get (see [`custom`]).
    pub pass_env: PassEnv,
    /// BOSUN_PUBLIC_URL (no trailing slash): check runs link `{it}/runs/{id}`; `None`: no links.
    pub public_url: Option<String>,
    /// GitHub's web address (no trailing slash): hooks' `PULL_URL` is under it.
    pub web_url: String,
    /// How policy sets are evaluated (the child process's binary and bounds).
    pub policy_eval: crate::policy::child::EvalLimits,
}

impl WorkflowSettings {
    pub fn command_name(&self) -> &str {
        self.command_names.first().map_or("bosun", String::as_str)
    }

    /// The summary check run of `command` (`plan` or `apply`): `bosun/plan`, or with
    /// BOSUN_STATUS_NAME=atlantis Atlantis's `atlantis/plan`.
    pub fn summary_check_name(&self, command: &str) -> String {
        format!("{}/{command}", self.status_name)
    }
}

/// Everything a workflow uses: one struct, not ten arguments.
pub struct Context {
    pub store: Arc<dyn Store>,
    pub github: Arc<GitHub>,
    pub workspaces: Workspaces,
    pub terraform: Terraform,
    pub settings: WorkflowSettings,
    /// Terraform runs at once (BOSUN_PARALLELISM), across every job.
    pub slots: Arc<Semaphore>,
    /// One run at a time per (repo, dir, workspace): Terraform's state is one per project.
    pub project_locks: KeyedLocks,
    /// Secrets to keep out of what jobs record (their summaries).
    pub redactor: Redactor,
    /// Where drift statuses are counted.
    pub metrics: Arc<Metrics>,
    /// Where drift status changes, apply outcomes, held applies and old locks are announced
    /// (BOSUN_NOTIFY_URL), queued so that sending never slows the work.
    pub notifier: Option<Outbox>,
    /// Set when a task worker runs beside the job worker (`bosun serve`): a plan's projects
    /// become tasks in the store that any replica's task worker may plan, and this is what
    /// the jobs and the local task worker share (see [`plan_tasks::Spread`]). Unset
    /// (previews), a job plans its projects itself.
    pub spread: Option<Arc<plan_tasks::Spread>>,
    /// The Terraform and OpenTofu versions projects ask for: where they come from, and the
    /// cache of those downloaded.
    pub versions: Arc<crate::versions::Versions>,
}

/// One project's run, held (see [`Context::lock_project`]); the store's hold is let go first.
pub struct ProjectRun {
    _store: crate::store::RunHold,
    _local: OwnedMutexGuard<()>,
}

/// Async mutexes by key, made on first use.
#[derive(Default)]
pub struct KeyedLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl KeyedLocks {
    pub async fn lock(&self, key: String) -> OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key).or_default().clone()
        };
        lock.lock_owned().await
    }
}

/// The waits between tries of a project's run lock in the store: 100 ms, doubling, at most 5 s,
/// for as long as it takes.
const RUN_LOCK_BACKOFF: ExponentialBuilder = ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(100))
    .with_max_delay(Duration::from_secs(5))
    .without_max_times();

impl Context {
    /// Queues a message of `kind` about pull request `pr` of `repo` for the notification
    /// URL, when there is one (never waits); `text` gets the pull request's link.
    pub fn notify(&self, kind: Kind, repo: &str, pr: PrNumber, text: impl FnOnce(&str) -> String) {
        if let Some(outbox) = &self.notifier {
            outbox.post(kind, text(&outbox.pr_link(repo, pr)));
        }
    }

    /// Holds one run of `target` at a time: in this process (its key in `project_locks`),
    /// then across replicas (`Store::hold_run`). A store that cannot be reached is asked
    /// again after a backoff: a run never starts without the exclusion.
    pub async fn lock_project(&self, repo: &crate::ids::RepoKey, target: &Target) -> ProjectRun {
        let key = format!("{repo}\n{}\n{}", target.dir, target.workspace);
        let local = self.project_locks.lock(key.clone()).await;
        loop {
            let held = (|| self.store.hold_run(&key))
                .retry(RUN_LOCK_BACKOFF)
                .notify(|e, _| {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "taking the project's run lock failed; trying again"
                    );
                })
                .await;
            // The backoff never ends, so backon gives up never; were it to, this asks again.
            if let Ok(store) = held {
                return ProjectRun {
                    _store: store,
                    _local: local,
                };
            }
        }
    }

    /// The checkout root and the directory of `target` in it, for pull request `pr`'s
    /// checkout of it at `sha` (merged into `base_sha` under the merge strategy, unless
    /// `exact`), or what to tell users when it cannot be made. The root is what a Terraform
    /// run may write (the whole tree: a project may use `../modules`).
    pub async fn project_dir(
        &self,
        repo: &str,
        pr: PrNumber,
        target: &Target,
        sha: &Sha,
        base_sha: &Sha,
        exact: bool,
    ) -> Result<(PathBuf, PathBuf), String> {
        let strategy = match self.settings.checkout_strategy {
            _ if exact => Strategy::Branch,
            CheckoutStrategy::Branch => Strategy::Branch,
            CheckoutStrategy::Merge => Strategy::Merge {
                base_sha: base_sha.clone(),
            },
        };
        let key = CheckoutKey {
            pr,
            dir: target.dir.clone(),
            workspace: target.workspace.clone(),
        };
        let checkout = match self.workspaces.checkout(repo, &key, sha, &strategy).await {
            Ok(c) => c,
            Err(CheckoutError::Conflict { files }) => {
                return Err(crate::render::reply::merge_conflict(&files));
            }
            Err(CheckoutError::Other(e)) => {
                tracing::error!(error = format!("{e:#}"), "checkout failed");
                return Err(
                    "bosun could not prepare the checkout; the operator's logs say why.".into(),
                );
            }
        };
        let dir = inside(&checkout.root, &target.dir)
            .map_err(|why| format!("The directory `{}` {why} at {}.", target.dir, sha.short()))?;
        Ok((checkout.root, dir))
    }
}

/// The project directory `dir` of the checkout `root`, resolved: symlinks followed (read
/// only, on the host) and the result required to be a directory inside the checkout, so a
/// committed link to another checkout or a host directory is never run in. `Err`: why not.
fn inside(given: &Path, dir: &Dir) -> Result<PathBuf, &'static str> {
    let root = given
        .canonicalize()
        .map_err(|_| "cannot be resolved in the checkout")?;
    let resolved = match root.join(dir.as_str()).canonicalize() {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("does not exist"),
        Err(_) => return Err("cannot be resolved in the checkout"),
    };
    let Ok(rel) = resolved.strip_prefix(&root) else {
        return Err(
            "is a symbolic link (or goes through one) that leads outside the repository, so \
             bosun does not run in it",
        );
    };
    if !resolved.is_dir() {
        return Err("does not exist");
    }
    // Under the root as given: that is the path the sandbox binds.
    Ok(given.join(rel))
}

/// Runs one claimed job; returns a one-line summary for the queue.
pub async fn run(ctx: &Context, job: &Job) -> anyhow::Result<String> {
    let spec: JobSpec = serde_json::from_str(&job.spec)
        .map_err(|e| anyhow::anyhow!("job {} has an unreadable spec: {e}", job.id))?;
    let repo = spec.repo().full_name.clone();
    let done = run_spec(ctx, job, spec).await;
    // The upkeep the job's fetches left, once nobody waits for them (see `workspace`).
    ctx.workspaces.maintain_later(&repo);
    done
}

/// [`run`] of a job whose spec is read.
async fn run_spec(ctx: &Context, job: &Job, spec: JobSpec) -> anyhow::Result<String> {
    // A job that was applying when bosun stopped is never run again by itself.
    if apply::interrupted(ctx, job).await? {
        return Ok("interrupted by a restart while applying: reported, not run again".into());
    }
    match spec {
        JobSpec::Autoplan { repo, pr } => {
            // The event may be late (redelivered after `closed`) or overtaken by a push:
            // plan the pull request as it is now, and a closed one not at all. The event's
            // head is fetched meanwhile: it is nearly always the head still.
            let request = |pr| plan::Request {
                actor: crate::audit::Actor::Bosun,
                repo: repo.clone(),
                installation_id: job.installation_id,
                pr,
                selection: plan::Selection::Affected { autoplan: true },
                extra_args: Vec::new(),
                note: None,
                merged: false,
            };
            let as_sent = request(pr.clone());
            let (info, fetched) = tokio::join!(
                ctx.github
                    .pull_request(job.installation_id, &repo.full_name, pr.number),
                plan::fetch(ctx, &as_sent)
            );
            let info = info.context("reading the pull request before planning it")?;
            if info.state != crate::github::PrState::Open {
                return Ok("not planned: the pull request is closed".into());
            }
            if info.head_sha == pr.head_sha {
                fetched?;
                return plan::run_fetched(ctx, job.id, as_sent).await;
            }
            let pr = {
                // A newer push's autoplan is queued: it plans the head.
                let newer = ctx.store.jobs_of_pr(&job.repository, job.pr).await?;
                if newer.iter().any(|j| {
                    j.id > job.id
                        && j.kind == "autoplan"
                        && j.status == crate::store::JobStatus::Queued
                }) {
                    return Ok("not planned: a newer push's plan is queued".into());
                }
                job::PrRef::of(&info)
            };
            plan::run(ctx, job.id, request(pr)).await
        }
        JobSpec::Replan {
            repo,
            pr_number,
            targets,
            note,
        } => plan::replan(ctx, job, repo, pr_number, targets, note).await,
        JobSpec::Comment {
            repo,
            pr_number,
            comment_id,
            author,
            body,
        } => {
            let comment = command::Comment {
                repo,
                installation_id: job.installation_id,
                pr_number,
                comment_id,
                author,
                body,
            };
            command::run(ctx, job.claim(), comment).await
        }
        JobSpec::Closed {
            repo,
            pr_number,
            merged,
        } => {
            close::run(
                ctx,
                job.claim(),
                &repo,
                job.installation_id,
                pr_number,
                merged,
            )
            .await
        }
        JobSpec::Reconcile { repo, pr_number } => reconcile::run(ctx, job, repo, pr_number).await,
        JobSpec::Drift { repo, trigger } => drift::run(ctx, job, &repo, trigger).await,
        JobSpec::Unlock {
            repo,
            pr_number,
            targets,
            by,
            reason,
        } => {
            let asked = unlock::Asked {
                pr: pr_number,
                targets: &targets,
                by: &by,
                reason: &reason,
            };
            unlock::by_api(ctx, &repo, job.installation_id, asked).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{KeyedLocks, inside};

    #[test]
    fn project_dirs_resolve_inside_the_checkout_only() {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("checkout");
        std::fs::create_dir_all(root.join("envs/prod")).unwrap();
        std::fs::write(root.join("envs/file"), "x").unwrap();
        symlink("prod", root.join("envs/alias")).unwrap();
        symlink(tmp.path(), root.join("envs/out")).unwrap();
        symlink("../../..", root.join("envs/up")).unwrap();
        assert_eq!(
            inside(&root, &"envs/prod".into()),
            Ok(root.join("envs/prod"))
        );
        assert_eq!(
            inside(&root, &"envs/alias".into()),
            Ok(root.join("envs/prod"))
        );
        assert_eq!(inside(&root, &crate::ids::Dir::root()), Ok(root.clone()));
        for (dir, why) in [
            ("envs/out", "leads outside"),
            ("envs/up", "leads outside"),
            ("envs/missing", "does not exist"),
            ("envs/file", "does not exist"),
        ] {
            let got = inside(&root, &dir.into());
            assert!(
                got.as_ref().is_err_and(|e| e.contains(why)),
                "{dir}: {got:?}"
            );
        }
    }
    use std::time::Duration;

    #[tokio::test]
    async fn one_holder_per_key_and_keys_apart() {
        let locks = KeyedLocks::default();
        let a = locks.lock("acme/infra\nenvs/prod\ndefault".into()).await;
        let same = tokio::time::timeout(
            Duration::from_millis(50),
            locks.lock("acme/infra\nenvs/prod\ndefault".into()),
        )
        .await;
        assert!(same.is_err(), "the same project waits");
        let other = tokio::time::timeout(
            Duration::from_millis(50),
            locks.lock("acme/infra\nenvs/prod\nblue".into()),
        )
        .await;
        assert!(other.is_ok(), "another workspace does not");
        drop(a);
        let again = tokio::time::timeout(
            Duration::from_secs(5),
            locks.lock("acme/infra\nenvs/prod\ndefault".into()),
        )
        .await;
        assert!(again.is_ok());
    }

    #[test]
    fn the_run_lock_is_asked_again_after_100_ms_doubling_to_5_s_without_end() {
        use backon::BackoffBuilder as _;
        // backon scales in f32: the waits are these to within a microsecond.
        let waits: Vec<u128> = super::RUN_LOCK_BACKOFF
            .build()
            .take(10)
            .map(|d| (d.as_micros() + 500) / 1000)
            .collect();
        assert_eq!(
            waits,
            [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]
        );
        assert!(super::RUN_LOCK_BACKOFF.build().nth(10_000).is_some());
    }
}
