//! The drift workflow: fetch the default branch's head, plan each project of its repo config
//! with `-detailed-exitcode` in its own sandboxed checkout (skipping projects an open pull
//! request holds), keep the run in the store, and report: a `bosun/drift` check run per
//! project, the repo's drift issue (opened, updated in place, closed when all is in sync), the
//! metrics, and a notification when a project's status changed.

use crate::ids::{InstallationId, PrNumber, Sha};
use anyhow::Context as _;
use futures::future::join_all;
use tracing::Instrument;

use super::Context;
use super::job::PrRef;
use super::job::RepoRef;
use crate::drift::{self, DriftStatus, ProjectDrift, Trigger};
use crate::github::{CheckRunSpec, CheckStatus, Conclusion, IssueUpdate};
use crate::ids::RepoKey;
use crate::plan::{Step, Target};
use crate::render::drift::{self as render, RunInfo};
use crate::store::{Job, Millis, now_millis};

/// The audit entry of a drift run: by the operator when asked through the API, else by bosun.
fn drift_entry(
    repo: &str,
    sha: &Sha,
    trigger: Trigger,
    run_id: i64,
    outcome: &str,
    summary: &str,
) -> crate::audit::NewEntry {
    let actor = match trigger {
        Trigger::Api => crate::audit::Actor::ApiToken(crate::audit::OPERATOR.into()),
        Trigger::Schedule => crate::audit::Actor::Bosun,
    };
    crate::audit::NewEntry::new(crate::audit::Kind::DriftRun, actor, repo, outcome)
        .sha(sha)
        .detail(format!(
            "drift run {run_id} ({}): {summary}",
            trigger.as_str()
        ))
}

/// Runs a drift check of `repo`; returns a one-line summary.
pub async fn run(
    ctx: &Context,
    job: &Job,
    repo_ref: &RepoRef,
    trigger: Trigger,
) -> anyhow::Result<String> {
    let (repo, key) = (repo_ref.full_name.as_str(), repo_ref.key());
    let (branch, sha) = fetch_default_branch(ctx, job.installation_id, repo).await?;
    let started = now_millis();
    let run_id = ctx
        .store
        .start_drift_run(&key, &sha, trigger, started)
        .await
        .context("recording the drift run")?;
    let d = DriftRun {
        job,
        repo,
        key: &key,
        branch: &branch,
        sha: &sha,
        trigger,
        run_id,
    };
    let targets = match targets(ctx, (repo, &branch), &sha).await? {
        Ok(targets) => targets,
        Err(why) => return not_checked(ctx, &d, &why).await,
    };
    let results = check_all(ctx, &d, &targets).await;
    // The statuses known before this run, to tell what changed.
    let known = ctx
        .store
        .known_drift(&key)
        .await
        .context("reading the last drift statuses")?;
    let summary = record(ctx, &d, &results, started).await?;
    notify_changes(ctx, &d, &known, &results);
    let issue = report(ctx, &d, &results).await?;
    Ok(format!("drift at {}: {summary}; {issue}", sha.short()))
}

/// What the steps of one drift run share.
struct DriftRun<'a> {
    job: &'a Job,
    repo: &'a str,
    /// The repository's key in the store.
    key: &'a RepoKey,
    /// The default branch, and its head checked.
    branch: &'a str,
    sha: &'a Sha,
    trigger: Trigger,
    run_id: i64,
}

impl DriftRun<'_> {
    /// The run's audit entry (see [`drift_entry`]).
    fn entry(&self, outcome: &str, summary: &str) -> crate::audit::NewEntry {
        drift_entry(
            self.repo,
            self.sha,
            self.trigger,
            self.run_id,
            outcome,
            summary,
        )
    }
}

/// Fetches `repo`'s default branch with a token that reads this one repository's contents and
/// nothing else (least privilege): the branch, and its head.
async fn fetch_default_branch(
    ctx: &Context,
    installation: InstallationId,
    repo: &str,
) -> anyhow::Result<(String, Sha)> {
    let info = ctx
        .github
        .repository(installation, repo)
        .await
        .context("reading the repository")?;
    let branch = info.default_branch.as_str();
    let token = ctx
        .github
        .repo_read_token(installation, repo)
        .await
        .context("getting a read token to fetch the repository")?;
    ctx.workspaces
        .fetch(
            repo,
            &info.clone_url,
            token.token.expose(),
            &[format!("+refs/heads/{branch}:refs/heads/{branch}")],
        )
        .await
        .context("fetching the default branch")?;
    let sha = ctx.workspaces.branch_head(repo, branch).await?;
    Ok((info.default_branch, sha))
}

/// Ends a run that checked nothing, because `why`: said where the drift checks would be, on
/// the branch's head, recorded and audited. The job's summary.
async fn not_checked(ctx: &Context, d: &DriftRun<'_>, why: &str) -> anyhow::Result<String> {
    let summary = format!("not checked: {why}");
    let output = render::not_checked(why);
    let name = render::CHECK_PREFIX.trim_end_matches([':', ' ']);
    let at = (d.job.installation_id, d.repo, d.sha, d.job.id);
    write_check(ctx, at, name, Conclusion::Failure, output, None).await;
    ctx.store
        .finish_drift_run(d.run_id, &[], &summary, now_millis())
        .await
        .context("recording the drift run's end")?;
    ctx.audit(d.entry("not_checked", &summary)).await;
    Ok(summary)
}

/// Checks every project at the branch's head, in parallel (see [`check_project`]).
async fn check_all(ctx: &Context, d: &DriftRun<'_>, targets: &[Target]) -> Vec<ProjectDrift> {
    let head = PrRef {
        number: PrNumber(0),
        head_sha: d.sha.to_owned(),
        head_ref: d.branch.to_owned(),
        base_sha: d.sha.to_owned(),
        base_ref: d.branch.to_owned(),
        author: format!("{}[bot]", ctx.settings.app_slug),
    };
    let installation = d.job.installation_id;
    join_all(
        targets
            .iter()
            .map(|t| check_project(ctx, installation, (d.repo, d.key), &head, t, d.job.id)),
    )
    .await
}

/// Records the run's end in the store, the audit trail and the metrics. Its summary.
async fn record(
    ctx: &Context,
    d: &DriftRun<'_>,
    results: &[ProjectDrift],
    started: Millis,
) -> anyhow::Result<String> {
    let summary = summarise(results);
    ctx.store
        .finish_drift_run(d.run_id, results, &summary, now_millis())
        .await
        .context("recording the drift run's end")?;
    let overall = drift::overall(results);
    ctx.audit(d.entry(overall, &summary)).await;
    for p in results {
        if let Some(value) = p.status.metric() {
            ctx.metrics
                .drift_status(d.repo, &p.target.display_name(), value);
        }
    }
    ctx.metrics.drift_ran(d.repo, started);
    Ok(summary)
}

/// Notifies (when a notifier is set) of the projects whose status changed since `known`.
fn notify_changes(
    ctx: &Context,
    d: &DriftRun<'_>,
    known: &[(Target, DriftStatus)],
    results: &[ProjectDrift],
) {
    let changes = drift::changes(known, results);
    if !changes.is_empty()
        && let Some(notifier) = &ctx.notifier
    {
        notifier.post(
            crate::notify::Kind::Drift,
            render::notification(d.repo, d.branch, d.sha, &changes),
        );
    }
}

/// Opens, updates or closes the repo's drift issue (see [`report_issue`]). What happened.
async fn report(
    ctx: &Context,
    d: &DriftRun<'_>,
    results: &[ProjectDrift],
) -> anyhow::Result<String> {
    let at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let run = RunInfo {
        repo: d.repo,
        branch: d.branch,
        sha: d.sha,
        at: &at,
        run_id: d.run_id,
        command_name: ctx.settings.command_name(),
        results,
    };
    report_issue(ctx, d.job.installation_id, d.key, &run)
        .await
        .context("updating the drift issue")
}

/// Every project of the repo config at `sha` and those it discovers (its `autodiscover`;
/// without a config, every root module); `Err`: why none can be checked.
async fn targets(
    ctx: &Context,
    (repo, branch): (&str, &str),
    sha: &Sha,
) -> anyhow::Result<Result<Vec<Target>, String>> {
    let config = match super::plan::read_config(ctx, (repo, branch), sha).await? {
        Some(Ok(config)) => Some(config),
        Some(Err(e)) => return Ok(Err(format!("repo config error: {e}"))),
        None => None,
    };
    let every_root = || async {
        let tf = ctx.workspaces.terraform_files(repo, sha).await?;
        let every: Vec<String> = tf.iter().map(|(path, _)| path.clone()).collect();
        // Root modules only: a directory others use as a module is not one.
        Ok::<_, anyhow::Error>(crate::projects::without_config(&every, &tf, true))
    };
    Ok(Ok(match config {
        Some(config) => {
            let mut targets: Vec<Target> = config.projects.iter().map(Target::from).collect();
            if config.discovers() {
                targets.extend(crate::projects::discovered(&config, every_root().await?));
            }
            targets
        }
        None => {
            let rules = ctx.settings.repo_powers.current().for_repo(repo, branch);
            crate::projects::discovered_without_config(
                rules.autodiscover.as_ref(),
                every_root().await?,
            )
        }
    }))
}

/// One project's drift: skipped while a pull request holds its lock, else planned with
/// `-detailed-exitcode`; its check run written. Never fails: a failure is its status.
async fn check_project(
    ctx: &Context,
    installation: InstallationId,
    (repo, key): (&str, &RepoKey),
    head: &PrRef,
    target: &Target,
    job_id: i64,
) -> ProjectDrift {
    let result = {
        let _slot = ctx.slots.acquire().await;
        // One run per project at a time; a pull request's plan or apply of it waits, and this
        // waits for them.
        let _project = ctx.lock_project(key, target).await;
        let span = tracing::info_span!("drift", dir = %target.dir, workspace = %target.workspace);
        async {
            match locked_by(ctx, key, target).await {
                Ok(Some(pr)) => ProjectDrift::skipped(target.clone(), pr),
                Ok(None) => plan(ctx, job_id, (repo, key), head, target).await,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "reading the locks failed");
                    let why =
                        "bosun could not read the project's lock; the operator's logs say why.";
                    ProjectDrift::failed(target.clone(), Step::Checkout, why.into())
                }
            }
        }
        .instrument(span)
        .await
    };
    let output = render::check(&result);
    let conclusion = match result.status {
        DriftStatus::InSync => Conclusion::Success,
        DriftStatus::Drifted | DriftStatus::Error => Conclusion::Failure,
        DriftStatus::Skipped => Conclusion::Skipped,
    };
    let name = format!("{}{}", render::CHECK_PREFIX, target.display_name());
    let at = (installation, repo, &head.head_sha, job_id);
    let run = ctx
        .run_of(job_id, target, crate::store::RunKind::Drift)
        .await;
    let log = run.and_then(|id| ctx.run_page(id));
    write_check(ctx, at, &name, conclusion, output, log).await;
    result
}

/// Writes a completed drift check run `name` at `(installation, repo, sha, job id)`; a failure
/// to write it is logged (the run's result is in the store either way).
async fn write_check(
    ctx: &Context,
    (installation, repo, sha, job_id): (InstallationId, &str, &Sha, i64),
    name: &str,
    conclusion: Conclusion,
    output: crate::render::check::CheckOutput,
    details_url: Option<String>,
) {
    let check = CheckRunSpec {
        name: name.to_owned(),
        head_sha: sha.clone(),
        status: CheckStatus::Completed(conclusion),
        title: output.title,
        summary: output.summary,
        text: output.text,
        external_id: Some(job_id.to_string()),
        details_url,
    };
    if let Err(e) = ctx
        .github
        .create_check_run(installation, repo, &check)
        .await
    {
        tracing::error!(error = %e, "writing the drift check run failed");
    }
}

/// The pull request holding `target`'s lock, if one does.
async fn locked_by(
    ctx: &Context,
    key: &RepoKey,
    target: &Target,
) -> anyhow::Result<Option<PrNumber>> {
    let locks = ctx.store.locks_of_repo(key).await?;
    Ok(locks
        .iter()
        .find(|l| l.target.dir == target.dir && l.target.workspace == target.workspace)
        .map(|l| l.pr))
}

/// Plans `target` at the default branch's head in its own checkout, with the project's
/// workflow and `-detailed-exitcode`.
async fn plan(
    ctx: &Context,
    job_id: i64,
    (repo, key): (&str, &RepoKey),
    head: &PrRef,
    target: &Target,
) -> ProjectDrift {
    let sha = &head.head_sha;
    let (root, dir) = match ctx
        .project_dir(repo, PrNumber(0), target, sha, sha, true)
        .await
    {
        Ok(at) => at,
        Err(output) => return ProjectDrift::failed(target.clone(), Step::Checkout, output),
    };
    let args = vec!["-detailed-exitcode".to_owned()];
    let project = super::custom::ProjectRun {
        job_id,
        repo,
        key,
        pr: head,
        sha,
        policy_sha: sha,
        target,
        user: &head.author,
        extra_args: &args,
        check: None,
        early: None,
    };
    super::custom::drift(ctx, &project, (&root, &dir)).await
}

/// "1 drifted, 2 in sync, 1 skipped": the counts that are not zero.
fn summarise(results: &[ProjectDrift]) -> String {
    let count = |s: DriftStatus| results.iter().filter(|p| p.status == s).count();
    let parts: Vec<String> = [
        (DriftStatus::Drifted, "drifted"),
        (DriftStatus::InSync, "in sync"),
        (DriftStatus::Error, "failed"),
        (DriftStatus::Skipped, "skipped"),
    ]
    .into_iter()
    .filter(|(s, _)| count(*s) > 0)
    .map(|(s, word)| format!("{} {word}", count(s)))
    .collect();
    if parts.is_empty() {
        "no project".into()
    } else {
        parts.join(", ")
    }
}

/// Brings the repo's drift issue up to date: opened (or reopened) and updated in place while
/// a project drifts, updated while some cannot be checked, closed with a comment once every
/// project is in sync. Returns what it did.
async fn report_issue(
    ctx: &Context,
    installation: InstallationId,
    key: &RepoKey,
    run: &RunInfo<'_>,
) -> anyhow::Result<String> {
    let repo = run.repo;
    let drifted = run.results.iter().any(|p| p.status == DriftStatus::Drifted);
    let all_in_sync = run.results.iter().all(|p| p.status == DriftStatus::InSync);
    let found = ctx
        .github
        .find_issue(installation, repo, render::ISSUE_LABEL, render::ISSUE_TITLE)
        .await
        .context("looking for the drift issue")?;
    if let Some(issue) = &found
        && ctx.store.drift_issue(key).await? != Some(issue.number)
    {
        ctx.store.set_drift_issue(key, issue.number).await?;
    }
    let body = render::issue_body(run);
    match found {
        None if drifted => {
            let labels = vec![render::ISSUE_LABEL.to_owned()];
            let number = ctx
                .github
                .create_issue(installation, repo, render::ISSUE_TITLE, &body, &labels)
                .await?;
            ctx.store.set_drift_issue(key, number).await?;
            Ok(format!("opened issue #{number}"))
        }
        None => Ok("no drift issue".into()),
        Some(issue) if drifted => {
            let update = IssueUpdate {
                body: Some(body),
                open: (!issue.open).then_some(true),
            };
            ctx.github
                .update_issue(installation, repo, issue.number, &update)
                .await?;
            Ok(if issue.open {
                format!("updated issue #{}", issue.number)
            } else {
                format!("reopened issue #{}", issue.number)
            })
        }
        Some(issue) if !issue.open => Ok(format!("issue #{} stays closed", issue.number)),
        Some(issue) if all_in_sync => {
            ctx.github
                .create_comment(
                    installation,
                    repo,
                    issue.number,
                    &render::closing_comment(run),
                )
                .await?;
            let update = IssueUpdate {
                body: Some(body),
                open: Some(false),
            };
            ctx.github
                .update_issue(installation, repo, issue.number, &update)
                .await?;
            Ok(format!("closed issue #{}", issue.number))
        }
        Some(issue) => {
            let update = IssueUpdate {
                body: Some(body),
                open: None,
            };
            ctx.github
                .update_issue(installation, repo, issue.number, &update)
                .await?;
            Ok(format!(
                "updated issue #{}: no drift, but not every project was checked",
                issue.number
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_what_is_there() {
        let t = |d: &str| Target {
            dir: d.into(),
            workspace: "default".into(),
            name: None,
        };
        let p = |d: &str, status| ProjectDrift {
            target: t(d),
            status,
            locked_by: None,
            summary: String::new(),
            detail: String::new(),
        };
        assert_eq!(summarise(&[]), "no project");
        let all = [
            p("a", DriftStatus::Drifted),
            p("b", DriftStatus::InSync),
            p("c", DriftStatus::InSync),
            ProjectDrift::skipped(t("d"), PrNumber(3)),
        ];
        assert_eq!(summarise(&all), "1 drifted, 2 in sync, 1 skipped");
    }
}
