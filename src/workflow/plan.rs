//! The plan workflow: fetch the pull request into the repo's mirror, read its repo config,
//! decide which projects to plan, check their plan requirements, plan each in its own checkout
//! (in parallel, one run per project at a time; one at a time in the config's order under
//! `parallel_plan: false`), keep every plan in the store, and report on GitHub.

use crate::ids::{InstallationId, PrNumber, Sha};
use anyhow::Context as _;
use futures::future::join_all;
use tracing::Instrument;

use super::Context;
use super::audit_log;
use super::feedback::{self, CheckRun};
use super::job::{PrRef, RepoRef};
use crate::apply::Unmet;
use crate::audit::{Kind, NewEntry};
use crate::config::powers;
use crate::config::repo::{self, LockMode, RepoConfig};
use crate::ids::{Dir, Workspace};
use crate::plan::{Outcome, ProjectPlan, Step, Target};
use crate::store::{LockAttempt, StoredPlan, now_millis};
use crate::versions::Pinned;
use crate::workspace::UnusableFile;

/// Which projects a plan covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every project the pull request's changes touch. `autoplan` leaves out projects whose
    /// config turns autoplan off (a `plan` comment includes them).
    Affected { autoplan: bool },
    /// Every project: the config's, or without one every root module (`bosun preview --all`).
    All,
    /// Exactly these projects (a pull request woken when the locks it waited for were
    /// released, or the projects a merge commit applies).
    Targets(Vec<Target>),
    /// The projects a comment names (`-d`, `-p`, `-w`).
    Named {
        dirs: Vec<String>,
        projects: Vec<String>,
        workspace: Option<Workspace>,
    },
}

/// A plan to make.
#[derive(Debug, Clone)]
pub struct Request {
    pub repo: RepoRef,
    pub installation_id: InstallationId,
    pub pr: PrRef,
    pub selection: Selection,
    pub extra_args: Vec<String>,
    /// Shown in the summary comment: who asked, and how.
    pub note: Option<String>,
    /// The pull request is merged and `pr.head_sha` is its merge commit: plan that commit as
    /// it is, whatever the checkout strategy.
    pub merged: bool,
    /// Who asked for the plan, as the audit trail names them.
    pub actor: crate::audit::Actor,
}

/// The repo config at a commit of `repo` for base branch `branch`: the file the server config
/// or BOSUN_REPO_CONFIG_FILE names, else `bosun.yaml`, else `atlantis.yaml`, else none, with
/// the server's values where it sets none (see [`powers::RepoRules::complete`]). A config that
/// sets what the server's rules do not allow this repo is an error like a parse error, and so is a `.yml` file where bosun reads
/// `.yaml` (as Atlantis refuses `atlantis.yml`).
#[tracing::instrument(level = "debug", name = "read config", skip_all)]
pub(super) async fn read_config(
    ctx: &Context,
    (repo, branch): (&str, &str),
    sha: &Sha,
) -> anyhow::Result<Option<Result<RepoConfig, repo::ConfigError>>> {
    let rules = ctx.settings.repo_powers.current().for_repo(repo, branch);
    let files = config_files(ctx, &rules);
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    // What pre workflow hooks left at this commit, when the repository has hooks and they ran.
    let left = match rules.pre_workflow_hooks.is_empty() {
        true => None,
        false => {
            // Stored under the repository's key; its name now finds it (kept at dispatch).
            let key = crate::store::repositories::key_of_name(ctx.store.as_ref(), repo).await?;
            ctx.store.hook_config(&key, sha).await?
        }
    };
    let read = |file: String| {
        let left = left.as_ref();
        async move {
            match left {
                Some(left) => Ok(left
                    .iter()
                    .find(|f| f.path == file)
                    .and_then(|f| f.text.clone())),
                None => ctx.workspaces.read_file(repo, sha, &file).await,
            }
        }
    };
    if left.is_none() {
        // Every candidate and its twin in one git process, rather than a process or two each.
        let twins = files.iter().filter_map(|f| repo::yml_twin(f));
        let all: Vec<String> = files.iter().map(|f| (*f).to_owned()).chain(twins).collect();
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        ctx.workspaces.read_files(repo, sha, &all).await?;
    }
    let mut twins = Vec::new();
    for yml in files.iter().filter_map(|f| repo::yml_twin(f)) {
        let there = read(yml.clone()).await;
        if there.ok().flatten().is_some() {
            twins.push(yml);
        }
    }
    if let Err(e) = repo::refuse_yml_twins(&files, |f| twins.iter().any(|t| t == f)) {
        return Ok(Some(Err(e)));
    }
    for file in files {
        let text = match read(file.to_owned()).await {
            Ok(text) => text,
            Err(e) => match e.downcast_ref::<UnusableFile>() {
                Some(UnusableFile(why)) => {
                    return Ok(Some(Err(repo::ConfigError {
                        file: file.into(),
                        line: 1,
                        col: 1,
                        key: String::new(),
                        message: format!("bosun cannot read it: {why}"),
                    })));
                }
                None => return Err(e),
            },
        };
        if let Some(text) = text {
            let server_workflows = rules.server_workflow_names();
            let mut checked = repo::parse_with(file, &text, &server_workflows).and_then(|mut c| {
                powers::check(&c, &rules)?;
                rules.complete(&mut c);
                Ok(c)
            });
            // Glob dirs (`modules/*`) become one project per Terraform dir of this commit.
            if let Ok(config) = &mut checked
                && config.has_dir_globs()
            {
                let dirs = ctx.workspaces.terraform_dirs(repo, sha).await?;
                if let Err(e) = config.expand_dir_globs(&dirs) {
                    checked = Err(e);
                }
            }
            return Ok(Some(checked));
        }
    }
    Ok(None)
}

/// The repo config files bosun reads for a repository with `rules`, in order of preference.
fn config_files(ctx: &Context, rules: &powers::RepoRules) -> Vec<String> {
    match rules
        .repo_config_file
        .as_ref()
        .or(ctx.settings.repo_config_file.as_ref())
    {
        Some(file) => vec![file.clone()],
        None => repo::FILE_NAMES.iter().map(|f| (*f).to_owned()).collect(),
    }
}

/// Every file [`read_config`] may look at: the repo config files and their `.yml` twins.
pub(super) fn config_candidates(ctx: &Context, rules: &powers::RepoRules) -> Vec<String> {
    let files = config_files(ctx, rules);
    let twins: Vec<String> = files.iter().filter_map(|f| repo::yml_twin(f)).collect();
    files.into_iter().chain(twins).collect()
}

/// Brings the pull request's head and base into the repo's mirror.
pub(super) async fn fetch(ctx: &Context, req: &Request) -> anyhow::Result<()> {
    // Least privilege: a token that reads this one repository's contents and nothing else.
    let token = ctx
        .github
        .repo_read_token(req.installation_id, &req.repo.full_name)
        .await
        .context("getting a read token to fetch the repository")?;
    let refspecs = vec![
        format!("+refs/heads/{0}:refs/heads/{0}", req.pr.base_ref),
        format!("+refs/pull/{0}/head:refs/pull/{0}/head", req.pr.number),
    ];
    ctx.workspaces
        .fetch(
            &req.repo.full_name,
            &req.repo.clone_url,
            token.token.expose(),
            &refspecs,
        )
        .await
        .context("fetching the pull request")?;
    if let Some(spread) = &ctx.spread {
        let key = super::plan_tasks::Fetched::key(req);
        spread.fetched.add(key);
    }
    Ok(())
}

/// Runs a plan request; returns a one-line summary.
pub async fn run(ctx: &Context, job_id: i64, req: Request) -> anyhow::Result<String> {
    fetch(ctx, &req).await?;
    run_fetched(ctx, job_id, req).await
}

/// [`run`] for a request whose head and base this job has just fetched.
pub async fn run_fetched(ctx: &Context, job_id: i64, req: Request) -> anyhow::Result<String> {
    let repo = req.repo.full_name.as_str();
    let head = &req.pr.head_sha;
    // Before the config is read: a hook may write it.
    let pre = super::hooks::pre(ctx, &req, "plan", job_id).await;
    if let Some(failed) = &pre.failed {
        return hook_stopped(ctx, &req, job_id, failed).await;
    }
    // The head's config and the base's policy, read side by side from the mirror.
    let (config, base) = tokio::join!(
        read_config(ctx, (repo, &req.pr.base_ref), head),
        super::policy::read(ctx, repo, &req.pr, req.merged)
    );
    let config = match config? {
        Some(Ok(config)) => Some(config),
        Some(Err(e)) => {
            let entry = NewEntry::new(Kind::ConfigError, req.actor.clone(), repo, "refused")
                .pr(req.pr.number)
                .sha(head)
                .detail(e.to_string());
            ctx.audit(entry).await;
            feedback::config_error(ctx, &req, &e).await?;
            return Ok(format!("repo config error: {e}"));
        }
        None => None,
    };
    let base = base?;
    let mut req = req.clone();
    if crate::apply::policy_changed(base.valid(), config.as_ref()) {
        let said = crate::render::reply::POLICY_AFTER_MERGE;
        req.note = Some(match req.note.take() {
            Some(note) => format!("{note} {said}"),
            None => said.to_owned(),
        });
    }
    if let Some(lock) = ctx.store.apply_lock().await? {
        let said = crate::render::reply::apply_locked(lock.locked_at);
        req.note = Some(match req.note.take() {
            Some(note) => format!("{note} {said}"),
            None => said,
        });
    }
    let mut targets = match select(ctx, &req, config.as_ref()).await? {
        Ok(targets) => targets,
        Err(reply) => {
            feedback::reply(ctx, req.installation_id, repo, req.pr.number, &reply).await?;
            return Ok("no such project, or an ambiguous one".into());
        }
    };
    if targets.is_empty() {
        // As Atlantis: a required `bosun/plan` does not block a pull request with no project.
        let summary = feedback::summary_check(
            ctx,
            req.installation_id,
            (repo, req.pr.number),
            head,
            "plan",
            job_id,
        );
        feedback::finish_summary(&summary, 0, 0, "planned");
        summary.written().await;
        return Ok("no project affected".into());
    }
    let refused = super::plan_requirements::refused(ctx, &req, base.valid(), &targets).await?;
    for (target, unmet) in &refused {
        let why = crate::render::apply::plan_refused(ctx.settings.command_name(), unmet);
        let entry = NewEntry::new(
            Kind::PolicyDecision,
            req.actor.clone(),
            repo,
            "plan_refused",
        )
        .pr(req.pr.number)
        .project(target)
        .sha(head)
        .detail(why);
        ctx.audit(entry).await;
    }
    // Projects refused by their plan requirements are neither locked nor planned; those whose
    // `repo_locks` (policy: the base's) is not `on_plan` are planned without their lock.
    let to_lock: Vec<Target> = targets
        .iter()
        .filter(|t| !refused.iter().any(|(r, _)| r == *t))
        .filter(|t| {
            super::apply::policy(ctx, (repo, &req.pr.base_ref), base.valid(), t).locks
                == LockMode::OnPlan
        })
        .cloned()
        .collect();
    let attempt =
        audit_log::lock_projects(ctx, &req.repo, req.pr.number, &to_lock, true, &req.actor).await?;
    if let LockAttempt::Held { held } = attempt {
        feedback::waiting(ctx, &req, &to_lock, &held, job_id).await?;
        let by: Vec<String> = held.iter().map(|(_, pr)| format!("#{pr}")).collect();
        return Ok(format!("waiting for locks held by {}", by.join(", ")));
    }
    let parallel = config.as_ref().is_none_or(|c| c.parallel_plan);
    if let Some(config) = config.as_ref().filter(|_| !parallel) {
        // The config's order; projects it does not list (discovered) after, by dir.
        let rank = |t: &Target| {
            config
                .projects
                .iter()
                .position(|p| Target::from(p) == *t)
                .unwrap_or(usize::MAX)
        };
        targets.sort_by_key(rank);
    }
    let how = Planning { refused, parallel };
    let overall = feedback::summary_check(
        ctx,
        req.installation_id,
        (repo, req.pr.number),
        head,
        "plan",
        job_id,
    );
    let (results, checks) = plan_targets(ctx, job_id, &req, &targets, &how).await;
    let at = super::policy_check::At {
        repo: &req.repo,
        pr: req.pr.number,
        head,
        base_ref: &req.pr.base_ref,
    };
    let policy_checks =
        super::policy_check::publish_checks(ctx, req.installation_id, at, Some(&targets)).await;
    if let Err(e) = policy_checks {
        tracing::error!(
            error = format!("{e:#}"),
            "writing the policy check runs failed"
        );
    }
    let mut hooks = pre.runs;
    hooks.extend(super::hooks::post(ctx, &req, "plan", job_id).await);
    let summary = feedback::publish_summary(ctx, &req, &hooks).await;
    finish_plan_summary(ctx, &req, &overall).await;
    join_all(checks.into_iter().chain([overall]).map(CheckRun::written)).await;
    summary?;
    let failed = results
        .iter()
        .filter(|p| matches!(p.outcome, Outcome::Failed { .. }))
        .count();
    Ok(format!(
        "planned {} project(s) at {}, {failed} failed",
        results.len(),
        head.short()
    ))
}

/// A blocking pre workflow hook failed: nothing is planned. The `bosun/plan` summary check
/// fails naming the hook, and a comment shows its output.
async fn hook_stopped(
    ctx: &Context,
    req: &Request,
    job_id: i64,
    failed: &super::hooks::HookRun,
) -> anyhow::Result<String> {
    let (repo, head) = (req.repo.full_name.as_str(), &req.pr.head_sha);
    let entry = NewEntry::new(Kind::ConfigError, req.actor.clone(), repo, "hook_failed")
        .pr(req.pr.number)
        .sha(head)
        .detail(format!("{} `{}` failed", failed.phase.key(), failed.name));
    ctx.audit(entry).await;
    let check = feedback::summary_check(
        ctx,
        req.installation_id,
        (repo, req.pr.number),
        head,
        "plan",
        job_id,
    );
    let shown = failed.shown();
    check.finish(
        crate::github::Conclusion::Failure,
        crate::render::hooks::stopped_check(&shown),
    );
    let body = crate::render::hooks::stopped("plan", &shown);
    let replied = feedback::reply(ctx, req.installation_id, repo, req.pr.number, &body).await;
    check.written().await;
    replied?;
    Ok(format!(
        "{} `{}` failed: nothing planned",
        failed.phase.key(),
        failed.name
    ))
}

/// Completes the `bosun/plan` summary check from every project's latest plan at the head
/// (those of earlier runs count too, as Atlantis counts them); a store error fails it.
async fn finish_plan_summary(ctx: &Context, req: &Request, check: &CheckRun) {
    let head = &req.pr.head_sha;
    match ctx.store.plans_of_pr(&req.repo.key(), req.pr.number).await {
        Ok(plans) => {
            let at_head: Vec<_> = plans.iter().filter(|p| p.head_sha == *head).collect();
            let planned = at_head
                .iter()
                .filter(|p| matches!(p.outcome, Outcome::Planned { .. }))
                .count();
            feedback::finish_summary(check, planned, at_head.len(), "planned");
        }
        Err(e) => {
            tracing::warn!(error = %e, "reading the plans for the summary check failed");
            check.finish(
                crate::github::Conclusion::Failure,
                crate::render::CheckOutput {
                    title: "bosun could not count the plans".into(),
                    summary: "Reading the plans of this pull request failed.".into(),
                    text: None,
                },
            );
        }
    }
}

/// How a run plans its targets.
#[derive(Debug, Clone)]
pub(super) struct Planning {
    /// Targets whose plan requirements are not met: not planned, their plan fails saying why.
    pub refused: Vec<(Target, Vec<Unmet>)>,
    /// `false` (`parallel_plan: false`): one at a time, in the order given.
    pub parallel: bool,
}

impl Default for Planning {
    fn default() -> Self {
        Self {
            refused: Vec::new(),
            parallel: true,
        }
    }
}

/// Plans `targets` (their locks held, but the refused ones') with a check run each, keeping
/// every plan in the store. The check runs may still be being written: wait for them with
/// [`CheckRun::written`].
pub(super) async fn plan_targets(
    ctx: &Context,
    job_id: i64,
    req: &Request,
    targets: &[Target],
    how: &Planning,
) -> (Vec<ProjectPlan>, Vec<CheckRun>) {
    let (results, checks) = plan_each(ctx, job_id, req, targets, how).await;
    let (repo, pr, head) = (&req.repo.full_name, req.pr.number, &req.pr.head_sha);
    for p in &results {
        let mut entry = super::audit_log::plan(&req.actor, repo, pr, head, p);
        entry.run_id = ctx
            .run_of(job_id, &p.target, crate::store::RunKind::Plan)
            .await;
        ctx.audit(entry).await;
    }
    (results, checks)
}

async fn plan_each(
    ctx: &Context,
    job_id: i64,
    req: &Request,
    targets: &[Target],
    how: &Planning,
) -> (Vec<ProjectPlan>, Vec<CheckRun>) {
    let repo = req.repo.full_name.as_str();
    let head = &req.pr.head_sha;
    let checks: Vec<CheckRun> = targets
        .iter()
        .map(|t| {
            let announced = targets.len() <= feedback::LIFECYCLE_MAX_PROJECTS;
            CheckRun::queued(
                ctx,
                req.installation_id,
                (repo, head),
                (t, job_id),
                announced,
            )
        })
        .collect();
    let refusal = |t: &Target| {
        how.refused
            .iter()
            .find(|(r, _)| r == t)
            .map(|(_, unmet)| unmet.as_slice())
    };
    // Spread across replicas as tasks (but for the refused, which run no Terraform), when
    // this process runs a task worker and the plans may run side by side.
    if how.parallel && ctx.spread.is_some() {
        let (refused, spread): (Vec<_>, Vec<_>) = targets
            .iter()
            .zip(&checks)
            .partition(|(target, _)| refusal(target).is_some());
        let (to_spread, their_checks): (Vec<Target>, Vec<&CheckRun>) =
            spread.into_iter().map(|(t, c)| (t.clone(), c)).unzip();
        let planned = super::plan_tasks::spread(ctx, job_id, req, &to_spread, &their_checks);
        if let Some(planned) = planned.await {
            let refused = refused.into_iter().map(|(target, check)| {
                plan_project(ctx, job_id, req, target, check, refusal(target))
            });
            let mut results = join_all(refused).await;
            results.extend(planned);
            results.sort_by_key(|p| targets.iter().position(|t| *t == p.target));
            return (results, checks);
        }
    }
    let each = targets
        .iter()
        .zip(&checks)
        .map(|(target, check)| plan_project(ctx, job_id, req, target, check, refusal(target)));
    let results = if how.parallel {
        join_all(each).await
    } else {
        let mut results = Vec::with_capacity(targets.len());
        for plan in each {
            results.push(plan.await);
        }
        results
    };
    (results, checks)
}

/// Plans the projects a pull request waited for, now that their locks were released; nothing
/// when it was closed meanwhile.
pub async fn replan(
    ctx: &Context,
    job: &crate::store::Job,
    repo: RepoRef,
    pr_number: PrNumber,
    targets: Vec<Target>,
    note: String,
) -> anyhow::Result<String> {
    let info = ctx
        .github
        .pull_request(job.installation_id, &repo.full_name, pr_number)
        .await?;
    if info.state != crate::github::PrState::Open {
        return Ok("woken, but the pull request is no longer open".into());
    }
    let request = Request {
        actor: crate::audit::Actor::Bosun,
        repo,
        installation_id: job.installation_id,
        pr: PrRef::of(&info),
        selection: Selection::Targets(targets),
        extra_args: Vec::new(),
        note: Some(note),
        merged: false,
    };
    run(ctx, job.id, request).await
}

/// The projects to plan, or a reply saying why a named one does not exist (or why `-d`
/// cannot choose between the named projects on one dir and workspace).
pub(super) async fn select(
    ctx: &Context,
    req: &Request,
    config: Option<&RepoConfig>,
) -> anyhow::Result<Result<Vec<Target>, String>> {
    let repo = req.repo.full_name.as_str();
    // Without a repo config, the server config's `autodiscover` for the repository decides.
    let rules = ctx
        .settings
        .repo_powers
        .current()
        .for_repo(repo, &req.pr.base_ref);
    let server_discovery = rules.autodiscover.as_ref();
    let affected = |autoplan: bool| async move {
        let changed = ctx
            .workspaces
            .changed_files(repo, &req.pr.base_sha, &req.pr.head_sha);
        // The Terraform files only where projects are discovered; read beside the diff.
        let tf = async {
            match config {
                Some(config) if !config.discovers() => Ok(None),
                _ => ctx
                    .workspaces
                    .terraform_files(repo, &req.pr.head_sha)
                    .await
                    .map(Some),
            }
        };
        let (changed, tf) = tokio::try_join!(changed, tf)?;
        let found = match tf {
            None => Vec::new(),
            Some(tf) => {
                crate::projects::without_config(&changed, &tf, ctx.settings.autoplan_modules)
            }
        };
        Ok::<_, anyhow::Error>(match config {
            Some(config) if autoplan => {
                let mut targets = crate::projects::from_config(config, &req.pr.base_ref, &changed);
                targets.extend(crate::projects::discovered(config, found));
                targets
            }
            Some(config) => {
                let mut all = config.clone();
                for p in &mut all.projects {
                    p.autoplan_enabled = true;
                }
                let mut targets = crate::projects::from_config(&all, &req.pr.base_ref, &changed);
                targets.extend(crate::projects::discovered(config, found));
                targets
            }
            None => crate::projects::discovered_without_config(server_discovery, found),
        })
    };
    let (dirs, projects, workspace) = match &req.selection {
        Selection::Affected { autoplan } => return Ok(Ok(affected(*autoplan).await?)),
        Selection::Targets(targets) => return Ok(Ok(targets.clone())),
        Selection::All => {
            let found = match config {
                Some(config) if !config.discovers() => Vec::new(),
                _ => {
                    let tf = ctx
                        .workspaces
                        .terraform_files(repo, &req.pr.head_sha)
                        .await?;
                    let every: Vec<String> = tf.iter().map(|(path, _)| path.clone()).collect();
                    // Root modules only: a directory others use as a module is not one.
                    crate::projects::without_config(&every, &tf, true)
                }
            };
            return Ok(Ok(match config {
                Some(config) => {
                    let mut targets: Vec<Target> =
                        config.projects.iter().map(Target::from).collect();
                    targets.extend(crate::projects::discovered(config, found));
                    targets
                }
                None => crate::projects::discovered_without_config(server_discovery, found),
            }));
        }
        Selection::Named {
            dirs,
            projects,
            workspace,
        } => (dirs, projects, workspace),
    };
    // `-w` alone is `-d . -w`, as in Atlantis.
    let root = [".".to_owned()];
    let dirs: &[String] = if dirs.is_empty() && projects.is_empty() {
        &root
    } else {
        dirs
    };
    let configured: &[repo::Project] = config.map_or(&[], |c| c.projects.as_slice());
    // The reply when what was asked for names no project.
    let no_projects = || {
        let asked = crate::command::Command {
            dirs: dirs.to_vec(),
            workspace: workspace.clone(),
            projects: projects.clone(),
            extra_args: req.extra_args.clone(),
            ..crate::command::Command::new(crate::command::CommandKind::Plan)
        };
        let known: Vec<Target> = configured.iter().map(Target::from).collect();
        crate::render::reply::no_projects(ctx.settings.command_name(), &asked, &known)
    };
    let mut targets = Vec::new();
    // `-p`: a name, or a pattern where the config's allowed_regexp_prefixes allow one.
    let prefixes = config.map_or(&[][..], |c| c.allowed_regexp_prefixes.as_slice());
    let names = match crate::command::NameMatcher::all(projects, prefixes) {
        Ok(names) => names,
        Err(bad) => return Ok(Err(crate::render::reply::bad_project_pattern(&bad))),
    };
    for name in &names {
        let matching = configured
            .iter()
            .filter(|p| p.name.as_deref().is_some_and(|n| name.matches(n)));
        let before = targets.len();
        targets.extend(matching.map(Target::from));
        if targets.len() == before {
            return Ok(Err(no_projects()));
        }
    }
    let ws = workspace.clone().unwrap_or_default();
    // What `-d` reaches: several named projects on one dir and workspace are ambiguous.
    let mut by_dir = Vec::new();
    for dir in dirs.iter().filter(|d| crate::command::is_glob(d)) {
        // A glob: the configured projects it matches or, with none configured, the
        // directories holding Terraform files at the head.
        let mut matching: Vec<Target> = configured
            .iter()
            .filter(|p| p.workspace == ws && crate::command::dir_matches(dir, &p.dir))
            .map(Target::from)
            .collect();
        if configured.is_empty() {
            let tf = ctx
                .workspaces
                .terraform_files(repo, &req.pr.head_sha)
                .await?;
            matching = tf
                .iter()
                // A file's parent in the tree: normalised already.
                .map(|(path, _)| Dir::new(path.rsplit_once('/').map_or(".", |(d, _)| d)))
                .filter(|d| crate::command::dir_matches(dir, d))
                .map(|d| Target {
                    dir: d,
                    workspace: ws.clone(),
                    name: None,
                })
                .collect();
        }
        if matching.is_empty() {
            return Ok(Err(no_projects()));
        }
        by_dir.extend(matching);
    }
    for dir in dirs.iter().filter(|d| !crate::command::is_glob(d)) {
        let matching: Vec<Target> = configured
            .iter()
            .filter(|p| p.dir == dir.as_str() && p.workspace == ws)
            .map(Target::from)
            .collect();
        // As Atlantis: a dir no project lists, that the config's autodiscover ignores, is
        // not a project even when named.
        let ignored = match config {
            Some(c) => c.discovers() && c.autodiscover.ignores(dir),
            None => server_discovery.is_some_and(|d| d.ignores(dir)),
        };
        if matching.is_empty() && ignored {
            continue;
        }
        if matching.is_empty() {
            by_dir.push(Target {
                // Not a glob: normalised by the comment grammar.
                dir: Dir::new(dir.clone()),
                workspace: ws.clone(),
                name: None,
            });
        } else {
            by_dir.extend(matching);
        }
    }
    if let Some(found) = crate::projects::ambiguous(&by_dir) {
        let name = ctx.settings.command_name();
        return Ok(Err(crate::render::reply::ambiguous(name, "plan", &found)));
    }
    targets.extend(by_dir);
    targets.sort();
    targets.dedup();
    Ok(Ok(targets))
}

/// Plans one project in its checkout; never fails: a failure is the project's outcome.
async fn plan_project(
    ctx: &Context,
    job_id: i64,
    req: &Request,
    target: &Target,
    check: &CheckRun,
    refusal: Option<&[Unmet]>,
) -> ProjectPlan {
    let key = req.repo.key();
    let (outcome, planfile, tool) = if let Some(unmet) = refusal {
        let output = crate::render::apply::plan_refused(ctx.settings.command_name(), unmet);
        let step = Step::Config;
        (Outcome::Failed { step, output }, None, None)
    } else {
        let _slot = ctx.slots.acquire().await;
        let _project = ctx.lock_project(&key, target).await;
        check.in_progress();
        let span = tracing::info_span!(
            "project",
            dir = %target.dir,
            workspace = %target.workspace,
            name = target.name.as_deref().unwrap_or("")
        );
        // The check run completes from the plan's own output while `show -json` runs.
        let early = |outcome: &Outcome| {
            check.completed(&ProjectPlan {
                target: target.clone(),
                outcome: outcome.clone(),
            });
        };
        let early = &early as &(dyn Fn(&Outcome) + Sync);
        plan_in_checkout(ctx, (job_id, Some(check), Some(early)), req, target)
            .instrument(span)
            .await
    };
    let plan = ProjectPlan {
        target: target.clone(),
        outcome,
    };
    let stored = StoredPlan {
        repository: req.repo.key(),
        pr: req.pr.number,
        target: target.clone(),
        head_sha: req.pr.head_sha.clone(),
        outcome: plan.outcome.clone(),
        planfile,
        job_id,
        created_at: now_millis(),
        tool,
    };
    if let Err(e) = ctx.store.record_plan(&stored).await {
        tracing::error!(error = format!("{e:#}"), "recording a plan failed");
    }
    check.completed(&plan);
    plan
}

/// Who is told a plan's outcome as its own output shows it, before `show -json` runs.
pub(super) type Early<'a> = &'a (dyn Fn(&Outcome) + Sync);

/// Plans one project: its outcome, its planfile, and the Terraform or OpenTofu it ran when the
/// project asked for one (see `custom::plan`). `early` gets the outcome the plan's own output
/// shows before `show -json` runs (bosun's own plan steps only).
pub(super) async fn plan_in_checkout(
    ctx: &Context,
    (job_id, check, early): (i64, Option<&CheckRun>, Option<Early<'_>>),
    req: &Request,
    target: &Target,
) -> (Outcome, Option<Vec<u8>>, Option<Pinned>) {
    // The checkout, and beside it the commit whose policy holds.
    let (dir, policy_sha) = tokio::join!(
        ctx.project_dir(
            &req.repo.full_name,
            req.pr.number,
            target,
            &req.pr.head_sha,
            &req.pr.base_sha,
            req.merged,
        ),
        super::policy::base_sha(ctx, &req.repo.full_name, &req.pr, req.merged)
    );
    let (root, dir) = match dir {
        Ok(at) => at,
        Err(output) => {
            let step = Step::Checkout;
            return (Outcome::Failed { step, output }, None, None);
        }
    };
    let policy_sha = match policy_sha {
        Ok(sha) => sha,
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "finding the base branch's head failed"
            );
            let output = "bosun could not find the base branch's head; the operator's logs \
                              say why."
                .into();
            return (
                Outcome::Failed {
                    step: Step::Config,
                    output,
                },
                None,
                None,
            );
        }
    };
    let key = req.repo.key();
    let project = super::custom::ProjectRun {
        job_id,
        repo: &req.repo.full_name,
        key: &key,
        pr: &req.pr,
        sha: &req.pr.head_sha,
        policy_sha: &policy_sha,
        target,
        user: &req.pr.author,
        extra_args: &req.extra_args,
        check,
        early,
    };
    let (run, tool) = super::custom::plan(ctx, &project, (&root, &dir)).await;
    let at = super::policy_check::At {
        repo: &req.repo,
        pr: req.pr.number,
        head: &req.pr.head_sha,
        base_ref: &req.pr.base_ref,
    };
    let shown = run.show_json.as_deref();
    super::policy_check::evaluate(ctx, (at, &policy_sha), &req.actor, target, shown).await;
    (run.outcome, run.planfile, tool)
}
