//! Everything a workflow writes to GitHub: check runs per project, the summary comment (edited
//! in place, or new with the older ones minimised), and replies. Text comes from `render`;
//! pacing and coalescing come from the paced GitHub client underneath.

use crate::ids::{InstallationId, PrNumber, Sha};
use anyhow::Context as _;
use tokio::sync::watch;
use tracing::Instrument as _;

use super::Context;
use super::plan::Request;
use crate::config::CommentMode;
use crate::config::repo::ConfigError;
use crate::github::{CheckRunSpec, CheckStatus, Conclusion};
use crate::plan::{Outcome, ProjectPlan, Target};
use crate::render;
use crate::store::{PrComment, RunKind};

/// The check run `bosun/plan: <project>` of one project on the head commit, written by a
/// task of its own so planning never waits on GitHub's write pacing: a state set while an
/// earlier write is still waiting replaces it (queued → completed, skipping in progress, when
/// the project finished first). Failures to write are logged, never fatal: the plan matters
/// more than its check.
pub struct CheckRun {
    state: watch::Sender<CheckRunSpec>,
    writer: tokio::task::JoinHandle<()>,
}

/// `bosun/plan: <project>`
pub fn plan_check_name(target: &Target) -> String {
    format!("bosun/plan: {}", target.display_name())
}

/// `bosun/apply: <project>`
pub fn apply_check_name(target: &Target) -> String {
    format!(
        "{}: {}",
        crate::apply::APPLY_CHECK_PREFIX,
        target.display_name()
    )
}

/// A plan of at most this many projects writes each project's check run queued, in progress
/// and completed: three writes each, the summary check run's two and the comment stay within
/// the 20 writes GitHub's pacing lets go at once. A plan of more writes each project's check
/// run once, when its project's plan ends (the summary check run says the plan runs): at 80
/// writes a minute, forty projects' queued and in-progress states would cost a minute of
/// writes, and hold back the completed ones people wait for.
pub const LIFECYCLE_MAX_PROJECTS: usize = 5;

/// How long a job waits at the end for its check runs to be written.
const CHECK_WRITES_WAIT: std::time::Duration = std::time::Duration::from_secs(900);

impl CheckRun {
    /// Starts the plan check run of `target`, queued; `announced`: written queued and in
    /// progress too, else first written when it completes (see [`LIFECYCLE_MAX_PROJECTS`]).
    pub fn queued(
        ctx: &Context,
        installation_id: InstallationId,
        (repo, head_sha): (&str, &Sha),
        (target, job_id): (&Target, i64),
        announced: bool,
    ) -> Self {
        Self::start_with(
            ctx,
            installation_id,
            repo,
            announced,
            CheckRunSpec {
                name: plan_check_name(target),
                head_sha: head_sha.to_owned(),
                status: CheckStatus::Queued,
                title: "Queued".into(),
                summary: "Waiting for a free runner.".into(),
                text: None,
                external_id: Some(format!("job-{job_id}")),
                details_url: None,
            },
        )
    }

    /// Starts a check run in the state `spec` says; later states replace it.
    pub fn start(
        ctx: &Context,
        installation_id: InstallationId,
        repo: &str,
        spec: CheckRunSpec,
    ) -> Self {
        Self::start_with(ctx, installation_id, repo, true, spec)
    }

    /// [`start`](Self::start); unless `announced`, nothing is written before the check run
    /// completes.
    fn start_with(
        ctx: &Context,
        installation_id: InstallationId,
        repo: &str,
        announced: bool,
        spec: CheckRunSpec,
    ) -> Self {
        let (state, mut latest) = watch::channel(spec);
        let github = ctx.github.clone();
        let repo = repo.to_owned();
        let writer = tokio::spawn(
            async move {
                let completed = |s: &CheckRunSpec| matches!(s.status, CheckStatus::Completed(_));
                if !announced && latest.wait_for(completed).await.is_err() {
                    return;
                }
                let mut id = None;
                loop {
                    let spec = latest.borrow_and_update().clone();
                    let result = match id {
                        Some(id) => {
                            github
                                .update_check_run(installation_id, &repo, id, &spec)
                                .await
                        }
                        None => github
                            .create_check_run(installation_id, &repo, &spec)
                            .await
                            .map(|new| id = Some(new)),
                    };
                    if let Err(e) = result {
                        tracing::warn!(error = %e, check = %spec.name, "writing a check run failed");
                    }
                    // Even once completed: a plan's check run completes from the plan's own
                    // output first and again should its final outcome render otherwise. The
                    // writer ends when the check run is dropped (see `written`).
                    if latest.changed().await.is_err() {
                        return;
                    }
                }
            }
            .in_current_span(),
        );
        Self { state, writer }
    }

    pub fn in_progress(&self) {
        self.running("Planning", "Terraform is planning.");
    }

    /// Links the check run's "Details" to `url` (a run's page).
    pub fn link(&self, url: String) {
        self.state.send_modify(|spec| spec.details_url = Some(url));
    }

    /// Moves the check run to in progress, saying what runs.
    pub fn running(&self, title: &str, summary: &str) {
        self.state.send_modify(|spec| {
            spec.status = CheckStatus::InProgress;
            spec.title = title.to_owned();
            spec.summary = summary.to_owned();
        });
    }

    /// Completes the check run with `output`; nothing is written when it is completed so
    /// already.
    pub fn finish(&self, conclusion: Conclusion, output: render::CheckOutput) {
        self.state.send_if_modified(|spec| {
            let status = CheckStatus::Completed(conclusion);
            let same = spec.status == status
                && spec.title == output.title
                && spec.summary == output.summary
                && spec.text == output.text;
            if !same {
                spec.status = status;
                spec.title = output.title;
                spec.summary = output.summary;
                spec.text = output.text;
            }
            !same
        });
    }

    pub fn completed(&self, plan: &ProjectPlan) {
        let conclusion = match plan.outcome {
            Outcome::Planned { .. } => Conclusion::Success,
            Outcome::Failed { .. } => Conclusion::Failure,
        };
        self.finish(conclusion, render::check::plan_check(plan));
    }

    /// Waits (bounded) until the last state is written.
    pub async fn written(self) {
        let Self { state, writer } = self;
        drop(state);
        if tokio::time::timeout(CHECK_WRITES_WAIT, writer)
            .await
            .is_err()
        {
            tracing::warn!("check run writes still pending; left to finish in the background");
        }
    }
}

/// The summary check run of a command on `head_sha`, `bosun/plan` or `bosun/apply` (named
/// by BOSUN_STATUS_NAME), beside the projects' own: one stable name branch protection can
/// require. Started in progress; [`finish_summary`] completes it.
pub fn summary_check(
    ctx: &Context,
    installation_id: InstallationId,
    (repo, pr): (&str, PrNumber),
    head_sha: &Sha,
    command: &str,
    job_id: i64,
) -> CheckRun {
    CheckRun::start(
        ctx,
        installation_id,
        repo,
        CheckRunSpec {
            name: ctx.settings.summary_check_name(command),
            head_sha: head_sha.to_owned(),
            status: CheckStatus::InProgress,
            title: "Running".into(),
            summary: format!("bosun is running `{command}`."),
            text: None,
            external_id: Some(format!("job-{job_id}")),
            details_url: pr_page_url(ctx, repo, pr),
        },
    )
}

/// Completes a summary check as Atlantis's summary status reads: success when every one of
/// `total` projects succeeded (`2/2 projects planned successfully`), failure otherwise.
/// `done` is the past tense of the command (`planned`, `applied`).
pub fn finish_summary(check: &CheckRun, succeeded: usize, total: usize, done: &str) {
    let conclusion = if succeeded == total {
        Conclusion::Success
    } else {
        Conclusion::Failure
    };
    let title = format!("{succeeded}/{total} projects {done} successfully");
    check.finish(
        conclusion,
        render::CheckOutput {
            summary: format!("{title}; each project has a check run of its own."),
            title,
            text: None,
        },
    );
}

/// A reply comment of its own.
pub async fn reply(
    ctx: &Context,
    installation_id: InstallationId,
    repo: &str,
    pr: PrNumber,
    body: &str,
) -> anyhow::Result<()> {
    ctx.github
        .create_comment(installation_id, repo, pr.0, body)
        .await
        .context("replying on the pull request")?;
    Ok(())
}

/// A repo config that does not parse: a comment naming file, line and key, and a failed
/// `bosun/plan` check on the head.
pub async fn config_error(ctx: &Context, req: &Request, e: &ConfigError) -> anyhow::Result<()> {
    let repo = req.repo.full_name.as_str();
    let spec = CheckRunSpec {
        name: ctx.settings.summary_check_name("plan"),
        head_sha: req.pr.head_sha.clone(),
        status: CheckStatus::Completed(Conclusion::Failure),
        title: format!("{} is invalid", e.file),
        summary: format!("`{e}`"),
        text: None,
        external_id: None,
        details_url: None,
    };
    if let Err(err) = ctx
        .github
        .create_check_run(req.installation_id, repo, &spec)
        .await
    {
        tracing::warn!(error = %err, "writing the config check run failed");
    }
    reply(
        ctx,
        req.installation_id,
        repo,
        req.pr.number,
        &render::reply::config_error(e),
    )
    .await
}

/// Writes the summary comment: the latest plan of every project of the pull request at its
/// head. `edit` mode edits bosun's comments in place (creating parts as needed and
/// minimising parts no longer needed); `new` mode posts new comments and minimises the old.
/// The workflow hooks that ran (`hooks`) are shown folded under its heading.
pub async fn publish_summary(
    ctx: &Context,
    req: &Request,
    hooks: &[super::hooks::HookRun],
) -> anyhow::Result<()> {
    publish_summary_as(ctx, req, ctx.settings.comment_mode, hooks).await
}

/// Links to the runs of `(job, project)`s of `kind`, `{BOSUN_PUBLIC_URL}/runs/{id}`; none
/// without the setting, and none for a project without a recorded run.
pub(super) async fn run_links<'t>(
    ctx: &Context,
    of: impl Iterator<Item = (i64, &'t Target)>,
    kind: RunKind,
) -> Vec<(Target, String)> {
    if ctx.settings.public_url.is_none() {
        return Vec::new();
    }
    let mut links = Vec::new();
    for (job_id, target) in of {
        if let Some(page) = ctx
            .run_of(job_id, target, kind)
            .await
            .and_then(|id| ctx.run_page(id))
        {
            links.push((target.clone(), page));
        }
    }
    links
}

/// The pull request's part of its repository's page (`{BOSUN_PUBLIC_URL}/repos/{repo}#pr-N`:
/// its projects' plans, applies and runs), the summary checks' link; none without a public URL.
pub(super) fn pr_page_url(ctx: &Context, repo: &str, pr: PrNumber) -> Option<String> {
    let base = ctx.settings.public_url.as_ref()?;
    Some(format!("{base}/repos/{repo}#pr-{pr}"))
}

/// [`publish_summary`] in the mode given rather than the configured one.
pub async fn publish_summary_as(
    ctx: &Context,
    req: &Request,
    mode: CommentMode,
    hooks: &[super::hooks::HookRun],
) -> anyhow::Result<()> {
    let repo = req.repo.full_name.as_str();
    let key = req.repo.key();
    let head = &req.pr.head_sha;
    let stored: Vec<_> = ctx
        .store
        .plans_of_pr(&key, req.pr.number)
        .await?
        .into_iter()
        .filter(|p| p.head_sha == *head)
        .collect();
    let logs = run_links(
        ctx,
        stored.iter().map(|p| (p.job_id, &p.target)),
        RunKind::Plan,
    )
    .await;
    let mut plans: Vec<ProjectPlan> = stored
        .into_iter()
        .map(|p| ProjectPlan {
            target: p.target,
            outcome: p.outcome,
        })
        .collect();
    // Listed as Atlantis lists them: in the repo config's order, projects it does not name
    // after them by dir and workspace (the store's order; the sort is stable).
    if let Ok(Some(Ok(config))) =
        super::plan::read_config(ctx, (repo, &req.pr.base_ref), head).await
    {
        plans.sort_by_key(|p| {
            config
                .projects
                .iter()
                .position(|c| Target::from(c) == p.target)
                .unwrap_or(usize::MAX)
        });
        // Atlantis's `silence_pr_comments`: those projects' plans are left to their check
        // runs; with every project silenced there is no comment.
        let planned = plans.len();
        plans.retain(|p| !config.silences(&p.target.parts(), "plan"));
        if plans.is_empty() && planned > 0 {
            return Ok(());
        }
    }
    let at = super::policy_check::At {
        repo: &req.repo,
        pr: req.pr.number,
        head,
        base_ref: &req.pr.base_ref,
    };
    let policies = super::policy_check::sections(ctx, at).await;
    let bodies = render::plan::plan_comment(&render::plan::PlanComment {
        command_name: ctx.settings.command_name(),
        pr: req.pr.number,
        head_sha: head,
        projects: &plans,
        note: req.note.as_deref(),
        logs: &logs,
        hooks: &hooks
            .iter()
            .map(super::hooks::HookRun::shown)
            .collect::<Vec<_>>(),
        policies: &policies,
    });
    let installation = req.installation_id;
    let old = comments_of_pr(ctx, installation, &req.repo, req.pr.number).await?;
    let mut marked = false;
    let mut kept = Vec::with_capacity(bodies.len());
    let mut reuse = match mode {
        CommentMode::Edit => old.clone(),
        CommentMode::New => Vec::new(),
    }
    .into_iter();
    for (i, body) in bodies.iter().enumerate() {
        let part = i as u32 + 1;
        let mut written = None;
        if let Some(existing) = reuse.next() {
            match ctx
                .github
                .update_comment(installation, repo, existing.comment_id, body)
                .await
            {
                Ok(()) => written = Some(existing),
                // Deleted by someone: post it again.
                Err(e) if e.status() == Some(404) => {}
                Err(e) => return Err(e).context("editing the summary comment"),
            }
        }
        let comment = match written {
            Some(c) => PrComment { part, ..c },
            None => {
                if !marked {
                    ctx.store.begin_pr_comment(&key, req.pr.number).await?;
                    marked = true;
                }
                let c = ctx
                    .github
                    .create_comment(installation, repo, req.pr.number.0, body)
                    .await
                    .context("posting the summary comment")?;
                PrComment {
                    part,
                    comment_id: c.id,
                    node_id: c.node_id,
                }
            }
        };
        kept.push(comment);
    }
    // Comments of earlier runs no longer in use are minimised as outdated.
    for stale in old
        .iter()
        .filter(|o| !kept.iter().any(|k| k.comment_id == o.comment_id))
    {
        if let Err(e) = ctx
            .github
            .minimize_comment(installation, &stale.node_id)
            .await
        {
            tracing::warn!(error = %e, comment = stale.comment_id, "minimising an outdated comment failed");
        }
    }
    ctx.store
        .set_pr_comments(&key, req.pr.number, &kept)
        .await?;
    tracing::info!(
        parts = kept.len(),
        head = head.short(),
        "summary comment written"
    );
    Ok(())
}

/// bosun's summary comments on a pull request, by part. When the last post was cut off
/// between posting a comment and recording it (its replica died), the comments of bosun's
/// with the summary's marker that came after the recorded ones are found on GitHub and
/// added after them, so they are edited or hidden as outdated instead of left beside a
/// second summary.
async fn comments_of_pr(
    ctx: &Context,
    installation: InstallationId,
    repo_ref: &super::job::RepoRef,
    pr: PrNumber,
) -> anyhow::Result<Vec<PrComment>> {
    let repo = repo_ref.full_name.as_str();
    let stored = ctx.store.pr_comments(&repo_ref.key(), pr).await?;
    let mut comments = stored.comments;
    if !stored.interrupted {
        return Ok(comments);
    }
    let newest = comments.iter().map(|c| c.comment_id).max().unwrap_or(0);
    let found = ctx
        .github
        .comments_by(
            installation,
            repo,
            pr.0,
            &format!("{}[bot]", ctx.settings.app_slug),
            &render::plan_marker_of_pr(pr),
        )
        .await
        .context("looking for a summary comment whose posting was cut off")?;
    let lost: Vec<_> = found
        .into_iter()
        .filter(|c| c.id > newest && !comments.iter().any(|k| k.comment_id == c.id))
        .collect();
    if !lost.is_empty() {
        tracing::warn!(
            comments = lost.len(),
            "found summary comments a cut-off post left unrecorded"
        );
    }
    let next = comments.len() as u32;
    comments.extend(lost.into_iter().enumerate().map(|(i, c)| PrComment {
        part: next + i as u32 + 1,
        comment_id: c.id,
        node_id: c.node_id,
    }));
    Ok(comments)
}

/// A plan that waits for locks: each project's `bosun/plan` check and the plan summary check
/// stay queued saying who holds what, and one reply says the pull request is queued and will
/// be planned by itself.
pub async fn waiting(
    ctx: &Context,
    req: &Request,
    targets: &[Target],
    held: &[(Target, PrNumber)],
    job_id: i64,
) -> anyhow::Result<()> {
    let repo = req.repo.full_name.as_str();
    let holder = |t: &Target| {
        held.iter()
            .find(|(h, _)| h.dir == t.dir && h.workspace == t.workspace)
            .map(|(_, pr)| *pr)
    };
    let summary = render::check::waiting_summary(held);
    let overall = CheckRun::start(
        ctx,
        req.installation_id,
        repo,
        CheckRunSpec {
            name: ctx.settings.summary_check_name("plan"),
            head_sha: req.pr.head_sha.clone(),
            status: CheckStatus::Queued,
            title: summary.title,
            summary: summary.summary,
            text: summary.text,
            external_id: Some(format!("job-{job_id}")),
            details_url: None,
        },
    );
    let checks: Vec<CheckRun> = targets
        .iter()
        .map(|t| {
            let (title, summary) = match holder(t) {
                Some(pr) => (
                    format!("Locked by #{pr}"),
                    format!(
                        "`{}` is locked by #{pr}. bosun plans this pull request by itself \
                         when the lock is released.",
                        t.display_name().replace('`', "'")
                    ),
                ),
                None => (
                    "Waiting for locks".to_owned(),
                    "Another project of this run is locked by another pull request; a run \
                     takes all its locks or none. bosun plans it by itself when they are \
                     released."
                        .to_owned(),
                ),
            };
            CheckRun::start(
                ctx,
                req.installation_id,
                repo,
                CheckRunSpec {
                    name: plan_check_name(t),
                    head_sha: req.pr.head_sha.clone(),
                    status: CheckStatus::Queued,
                    title,
                    summary,
                    text: None,
                    external_id: Some(format!("job-{job_id}")),
                    details_url: None,
                },
            )
        })
        .collect();
    let body = render::reply::locked(ctx.settings.command_name(), targets, held);
    let replied = reply(ctx, req.installation_id, repo, req.pr.number, &body).await;
    futures::future::join_all(checks.into_iter().chain([overall]).map(CheckRun::written)).await;
    replied
}
