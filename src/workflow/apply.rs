//! The apply workflow: `bosun apply` checks who asks, which saved plans to apply and whether
//! the pull request meets each project's apply requirements and holds its lock; then it
//! applies exactly those planfiles, in execution order groups, with a `bosun/apply` check run
//! per project and one comment with Terraform's output. Every apply is recorded before
//! Terraform starts, so one cut off by a crash is reported, never run again by itself.

use crate::ids::{InstallationId, PrNumber, Sha};
use anyhow::Context as _;
use futures::future::join_all;
use tracing::Instrument as _;

use super::Context;
use super::audit_log;
use super::feedback::{self, CheckRun, apply_check_name};
use super::job::{PrRef, RepoRef};
use super::stop::{self, Stop};
use super::{locks, plan};
use crate::apply::{self, ApplyOutcome, PrFacts, ProjectApply, Refusal};
use crate::audit::{Kind as AuditKind, NewEntry};
use crate::config::powers::Requirements;
use crate::config::repo::{ApplyRequirement, ConfigError, LockMode, RepoConfig};
use crate::github::{
    CheckRunSpec, CheckStatus, Conclusion, MergeableState, PrState, PullRequestInfo,
};
use crate::notify::Kind;
use crate::plan::{Outcome, Target};
use crate::render;
use crate::render::notify::ApplyEnd;
use crate::store::{ApplyRecord, ApplyStatus, Claim, LockAttempt, RunKind, StoredPlan, now_millis};

/// An apply comment, past the gate.
pub type ApplyCommand = super::command::Gated;

/// Runs an apply command; returns a one-line summary.
pub async fn run(ctx: &Context, claim: Claim, cmd: ApplyCommand) -> anyhow::Result<String> {
    stop::outcome(steps(ctx, claim, &cmd).await)
}

/// The apply, step by step; a step that stops has told the pull request why.
async fn steps(ctx: &Context, claim: Claim, cmd: &ApplyCommand) -> Result<String, Stop> {
    let info = admit(ctx, cmd).await?;
    let a = Asked::new(cmd, &info, claim.job_id);
    let mut hook_runs = pre_hooks(ctx, &a).await?;
    let chosen = choose_plans(ctx, &a).await?;
    refuse_unappliable(ctx, &a, &chosen.plans).await?;
    let config = repo_config(ctx, &a, chosen.config).await?;
    let base = base_config(ctx, &a).await?;
    refuse_unmet(ctx, &a, base.as_ref(), &chosen.plans).await?;
    take_locks(ctx, &a, &lockable(ctx, &a, base.as_ref(), &chosen.plans)).await?;
    let set = ApplySet {
        job_id: claim.job_id,
        repo: &cmd.repo,
        installation_id: cmd.installation_id,
        pr: &a.request.pr,
        merged: a.merged(),
        user: &cmd.author,
    };
    let results = apply_plans(ctx, claim, &set, chosen.plans, config.as_ref()).await;
    hook_runs.extend(super::hooks::post(ctx, &a.request, "apply", claim.job_id).await);
    let shown = (cmd.note.as_str(), hook_runs.as_slice());
    publish(ctx, &set, &results, shown, config.as_ref()).await?;
    Ok(settle(ctx, &a, &set, &results, base.as_ref()).await?)
}

/// What the steps of one apply share: the comment, the pull request as read when the apply
/// began, and the request its hooks and config reads go by (at the pull request's head).
struct Asked<'a> {
    cmd: &'a ApplyCommand,
    info: &'a PullRequestInfo,
    request: plan::Request,
    job_id: i64,
}

impl<'a> Asked<'a> {
    fn new(cmd: &'a ApplyCommand, info: &'a PullRequestInfo, job_id: i64) -> Self {
        let request = plan::Request {
            actor: crate::audit::Actor::Github(cmd.author.clone()),
            repo: cmd.repo.clone(),
            installation_id: cmd.installation_id,
            pr: PrRef::of(info),
            selection: plan::Selection::All,
            extra_args: Vec::new(),
            note: None,
            merged: info.state == PrState::Merged,
        };
        Asked {
            cmd,
            info,
            request,
            job_id,
        }
    }

    fn repo(&self) -> &str {
        &self.cmd.repo.full_name
    }

    /// The commit applied: the pull request's head (its merge commit once merged).
    fn sha(&self) -> &Sha {
        &self.request.pr.head_sha
    }

    fn merged(&self) -> bool {
        self.request.merged
    }

    /// Replies on the pull request and stops with `summary`.
    async fn stop(&self, ctx: &Context, body: &str, summary: String) -> Stop {
        let cmd = self.cmd;
        let replied = feedback::reply(ctx, cmd.installation_id, self.repo(), cmd.pr_number, body);
        Stop::told(replied.await.map(|()| summary))
    }

    /// Refuses (see [`refuse_at`]) at the pull request's head, and stops.
    async fn refuse(&self, ctx: &Context, refusals: &[Refusal]) -> Stop {
        Stop::told(refuse_at(ctx, self.cmd, self.sha(), self.job_id, refusals).await)
    }
}

/// Whether the apply may go on before anything of the pull request is read (applies are not
/// locked, the commenter may apply), and then whether it is still open: the pull request, or
/// the refusal.
async fn admit(ctx: &Context, cmd: &ApplyCommand) -> Result<PullRequestInfo, Stop> {
    let refused = |refusal| async move { Stop::told(refuse(ctx, cmd, &[refusal]).await) };
    let installation = cmd.installation_id;
    if let Some(lock) = ctx.store.apply_lock().await? {
        let refusal = Refusal::ApplyLocked {
            locked_at: lock.locked_at,
        };
        return Err(refused(refusal).await);
    }
    if let Some(refusal) =
        super::access::apply_refusal(ctx, installation, &cmd.author, cmd.permission).await?
    {
        return Err(refused(refusal).await);
    }
    let info = ctx
        .github
        .pull_request(installation, &cmd.repo.full_name, cmd.pr_number)
        .await?;
    if info.state == PrState::Closed {
        return Err(refused(Refusal::Closed).await);
    }
    Ok(info)
}

/// Runs the pre workflow hooks before the config is read, as for a plan (a hook may write
/// it); stops when a blocking one fails. Their runs, for the apply comment.
async fn pre_hooks(ctx: &Context, a: &Asked<'_>) -> Result<Vec<super::hooks::HookRun>, Stop> {
    if !super::hooks::any(ctx, &a.request, super::hooks::Phase::Pre, "apply") {
        return Ok(Vec::new());
    }
    plan::fetch(ctx, &a.request).await?;
    let pre = super::hooks::pre(ctx, &a.request, "apply", a.job_id).await;
    if let Some(failed) = &pre.failed {
        let body = render::hooks::stopped("apply", &failed.shown());
        let summary = format!(
            "apply refused: {} `{}` failed",
            failed.phase.key(),
            failed.name
        );
        return Err(a.stop(ctx, &body, summary).await);
    }
    Ok(pre.runs)
}

/// The repo config as read at a commit: none, valid, or not.
type ConfigRead = Option<Result<RepoConfig, ConfigError>>;

/// The saved plans the comment chose, and the repo config when it was read to choose them.
struct Chosen {
    plans: Vec<StoredPlan>,
    config: Option<ConfigRead>,
}

/// The saved plans the comment's flags select; stops when a `-p` pattern is not allowed, when
/// none is selected, or when a `-d` reaches several named projects on one dir and workspace
/// (`-p` chooses between them).
async fn choose_plans(ctx: &Context, a: &Asked<'_>) -> Result<Chosen, Stop> {
    let (repo, cmd) = (a.repo(), a.cmd);
    // A `-p` may be a pattern the repo config allows (`allowed_regexp_prefixes`): read the
    // config before choosing the plans; otherwise only once there are plans to apply.
    let mut read = None;
    let mut prefixes = Vec::new();
    if !cmd.command.projects.is_empty() {
        plan::fetch(ctx, &a.request).await?;
        let config = plan::read_config(ctx, (repo, &a.request.pr.base_ref), a.sha()).await?;
        if let Some(Ok(c)) = &config {
            prefixes = c.allowed_regexp_prefixes.clone();
        }
        read = Some(config);
    }
    let names = match crate::command::NameMatcher::all(&cmd.command.projects, &prefixes) {
        Ok(names) => names,
        Err(bad) => {
            let body = render::reply::bad_project_pattern(&bad);
            return Err(a.stop(ctx, &body, format!("apply refused: {bad}")).await);
        }
    };
    let chosen: Vec<StoredPlan> = ctx
        .store
        .plans_of_pr(&cmd.repo.key(), cmd.pr_number)
        .await?
        .into_iter()
        .filter(|p| cmd.command.selects_with(&p.target, &names))
        .collect();
    if chosen.is_empty() {
        return Err(Stop::Told(refuse(ctx, cmd, &[Refusal::NoPlan]).await?));
    }
    if !cmd.command.dirs.is_empty() {
        let targets: Vec<Target> = chosen.iter().map(|p| p.target.clone()).collect();
        if let Some(found) = crate::projects::ambiguous(&targets) {
            let body = render::reply::ambiguous(ctx.settings.command_name(), "apply", &found);
            let summary = format!(
                "apply refused: -d {} reaches {} projects",
                found.dir,
                found.names.len()
            );
            return Err(a.stop(ctx, &body, summary).await);
        }
    }
    Ok(Chosen {
        plans: chosen,
        config: read,
    })
}

/// Refuses plans that cannot be applied at the head (stale, applied, interrupted, failed).
async fn refuse_unappliable(
    ctx: &Context,
    a: &Asked<'_>,
    chosen: &[StoredPlan],
) -> Result<(), Stop> {
    let applies = ctx
        .store
        .applies_of_pr(&a.cmd.repo.key(), a.cmd.pr_number)
        .await?;
    let refusals: Vec<Refusal> = chosen
        .iter()
        .filter_map(|p| plan_refusal(p, a.sha(), &applies))
        .collect();
    if !refusals.is_empty() {
        return Err(a.refuse(ctx, &refusals).await);
    }
    Ok(())
}

/// The pull request's repo config at its head (`read` when already read); stops when it is
/// not valid.
async fn repo_config(
    ctx: &Context,
    a: &Asked<'_>,
    read: Option<ConfigRead>,
) -> Result<Option<RepoConfig>, Stop> {
    let read = match read {
        Some(read) => read,
        None => {
            plan::fetch(ctx, &a.request).await?;
            plan::read_config(ctx, (a.repo(), &a.request.pr.base_ref), a.sha()).await?
        }
    };
    match read {
        Some(Ok(config)) => Ok(Some(config)),
        Some(Err(e)) => {
            feedback::config_error(ctx, &a.request, &e).await?;
            Err(Stop::Told(format!("apply refused: repo config error: {e}")))
        }
        None => Ok(None),
    }
}

/// The base branch's repo config, where policy comes from (a pull request cannot drop its own
/// requirements); stops when it is not valid.
async fn base_config(ctx: &Context, a: &Asked<'_>) -> Result<Option<RepoConfig>, Stop> {
    let base = super::policy::read(ctx, a.repo(), &a.request.pr, a.merged()).await?;
    match base.config {
        Ok(config) => Ok(config),
        Err(e) => {
            let body = render::reply::base_config_error(&e);
            let summary = format!("apply refused: the base branch's repo config is not valid: {e}");
            Err(a.stop(ctx, &body, summary).await)
        }
    }
}

/// Refuses projects whose apply requirements are unmet, or held back by policy checks: a
/// failed set not approved by enough owners.
async fn refuse_unmet(
    ctx: &Context,
    a: &Asked<'_>,
    base: Option<&RepoConfig>,
    chosen: &[StoredPlan],
) -> Result<(), Stop> {
    let (repo, base_ref) = (a.repo(), a.request.pr.base_ref.as_str());
    let facts = facts(ctx, a.cmd, a.info, base, chosen).await?;
    let mut refusals: Vec<Refusal> = chosen
        .iter()
        .filter_map(|p| {
            let policy = policy(ctx, (repo, base_ref), base, &p.target);
            let unmet = apply::unmet(&policy.requirements, &facts);
            (!unmet.is_empty()).then(|| Refusal::Requirements {
                target: p.target.clone(),
                unmet,
            })
        })
        .collect();
    let at = super::policy_check::At {
        repo: &a.cmd.repo,
        pr: a.cmd.pr_number,
        head: a.sha(),
        base_ref,
    };
    let chosen_targets: Vec<Target> = chosen.iter().map(|p| p.target.clone()).collect();
    for (target, sets) in super::policy_check::blocking(ctx, at, &chosen_targets).await? {
        let sets = sets
            .into_iter()
            .map(|s| apply::BlockingSet {
                missing: (s.needed.max(1) as usize).saturating_sub(s.approved_by.len()) as u32,
                name: s.set,
                owners: s.owners,
            })
            .collect();
        refusals.push(Refusal::PolicyFailed { target, sets });
    }
    if !refusals.is_empty() {
        return Err(a.refuse(ctx, &refusals).await);
    }
    Ok(())
}

/// The chosen projects whose locks the apply takes: all but those under `repo_locks: {mode:
/// disabled}`.
fn lockable(
    ctx: &Context,
    a: &Asked<'_>,
    base: Option<&RepoConfig>,
    chosen: &[StoredPlan],
) -> Vec<Target> {
    let (repo, base_ref) = (a.repo(), a.request.pr.base_ref.as_str());
    chosen
        .iter()
        .map(|p| p.target.clone())
        .filter(|t| policy(ctx, (repo, base_ref), base, t).locks != LockMode::Disabled)
        .collect()
}

/// Takes (or confirms) the locks of `targets`; refuses those another pull request holds.
async fn take_locks(ctx: &Context, a: &Asked<'_>, targets: &[Target]) -> Result<(), Stop> {
    let actor = crate::audit::Actor::Github(a.cmd.author.clone());
    let pr = a.cmd.pr_number;
    let attempt = audit_log::lock_projects(ctx, &a.cmd.repo, pr, targets, false, &actor).await?;
    if let LockAttempt::Held { held } = attempt {
        let refusals: Vec<Refusal> = held
            .into_iter()
            .map(|(target, by)| Refusal::Locked { target, by })
            .collect();
        return Err(a.refuse(ctx, &refusals).await);
    }
    Ok(())
}

/// After the applies: a merged pull request's applied projects are settled; an open one is
/// merged with `automerge` unless the comment said not to. The job's summary.
async fn settle(
    ctx: &Context,
    a: &Asked<'_>,
    set: &ApplySet<'_>,
    results: &[ProjectApply],
    base: Option<&RepoConfig>,
) -> anyhow::Result<String> {
    let applied = results.iter().filter(|r| r.outcome.succeeded()).count();
    let mut summary = format!(
        "applied {applied} of {} project(s) at {}",
        results.len(),
        a.sha().short()
    );
    if set.merged {
        settle_merged(ctx, set, results).await?;
    } else if a.cmd.command.auto_merge_disabled {
        summary.push_str("; automerge disabled by --auto-merge-disabled");
    } else if let Some(base) = base.filter(|c| c.automerge) {
        summary.push_str(&automerge(ctx, a.cmd, a.info, base).await?);
    }
    Ok(summary)
}

/// The apply policy of `target` in `repo`: the base branch's config's (`base`; see
/// `policy`), with the requirements the server demands of it.
pub(super) fn policy(
    ctx: &Context,
    (repo, branch): (&str, &str),
    base: Option<&RepoConfig>,
    target: &Target,
) -> apply::ApplyPolicy {
    let rules = ctx.settings.repo_powers.current().for_repo(repo, branch);
    let minimum = rules.minimum(
        Requirements::Apply,
        base,
        (&target.dir, &target.workspace, target.name.as_deref()),
    );
    apply::policy(base, target, minimum)
}

/// Why a saved plan cannot be applied at `sha`, if it cannot.
fn plan_refusal(p: &StoredPlan, sha: &Sha, applies: &[ApplyRecord]) -> Option<Refusal> {
    let target = p.target.clone();
    if p.head_sha != *sha {
        return Some(Refusal::Stale {
            target,
            planned: p.head_sha.clone(),
            head: sha.to_owned(),
        });
    }
    // Before the planfile: an applied plan's planfile is dropped.
    if applied(p, applies) {
        return Some(Refusal::Applied { target });
    }
    if interrupted_apply_of(p, applies) {
        return Some(Refusal::Interrupted { target });
    }
    (matches!(p.outcome, Outcome::Failed { .. }) || p.planfile.is_none())
        .then_some(Refusal::PlanFailed { target })
}

/// Whether an apply of this very plan was cut off (marked interrupted, or still marked running
/// by a job that is not running it: see `interrupted`).
fn interrupted_apply_of(p: &StoredPlan, applies: &[ApplyRecord]) -> bool {
    applies_of(p, applies)
        .any(|a| matches!(a.status, ApplyStatus::Interrupted | ApplyStatus::Running))
}

/// Whether this very plan was applied (an apply of its project, by dir, workspace and name,
/// at its commit since it was made succeeded).
pub(super) fn applied(p: &StoredPlan, applies: &[ApplyRecord]) -> bool {
    applies_of(p, applies).any(|a| a.status == ApplyStatus::Succeeded)
}

/// The applies of this very plan: of its project, at its commit, since it was made.
fn applies_of<'a>(
    p: &'a StoredPlan,
    applies: &'a [ApplyRecord],
) -> impl Iterator<Item = &'a ApplyRecord> {
    applies
        .iter()
        .filter(|a| a.target == p.target && a.sha == p.head_sha && a.started_at >= p.created_at)
}

/// How often, and how far apart, `mergeable` asks GitHub again while it is still working out
/// whether the pull request can merge.
const MERGEABLE_POLLS: u32 = 5;
const MERGEABLE_POLL_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// What the apply requirements of the chosen projects (under the base branch's config
/// `base`) need to know, looked up only when some project requires it.
async fn facts(
    ctx: &Context,
    cmd: &ApplyCommand,
    info: &PullRequestInfo,
    base: Option<&RepoConfig>,
    chosen: &[StoredPlan],
) -> anyhow::Result<PrFacts> {
    let repo = cmd.repo.full_name.as_str();
    let needed: Vec<ApplyRequirement> = chosen
        .iter()
        .flat_map(|p| policy(ctx, (repo, &info.base_ref), base, &p.target).requirements)
        .collect();
    pr_facts(ctx, cmd.installation_id, repo, info, &needed, "apply").await
}

/// What the requirements in `needed` need to know of pull request `info`, each looked up only
/// when needed, for `command` (`plan`, `apply`: its summary check does not count against
/// `mergeable`). A merged pull request is past `mergeable` and `undiverged`.
pub(super) async fn pr_facts(
    ctx: &Context,
    installation: InstallationId,
    repo: &str,
    info: &PullRequestInfo,
    needed: &[ApplyRequirement],
    command: &str,
) -> anyhow::Result<PrFacts> {
    let needs = |r: ApplyRequirement| needed.contains(&r);
    let open = info.state == PrState::Open;
    let approved = if needs(ApplyRequirement::Approved) {
        is_approved(ctx, installation, repo, info.number).await?
    } else {
        true
    };
    let mergeable = if open && needs(ApplyRequirement::Mergeable) {
        // GitHub works mergeability out in the background: ask again, briefly, while it has
        // not.
        let mut info = info.clone();
        for _ in 0..MERGEABLE_POLLS {
            if info.mergeable.is_some() && info.mergeable_state != MergeableState::Unknown {
                break;
            }
            tokio::time::sleep(MERGEABLE_POLL_EVERY).await;
            info = ctx
                .github
                .pull_request(installation, repo, info.number)
                .await?;
        }
        let requirements = if info.mergeable_state == MergeableState::Blocked {
            Some(
                ctx.github
                    .merge_requirements(installation, repo, info.number)
                    .await
                    .context("reading branch protection's requirements")?,
            )
        } else {
            None
        };
        apply::mergeable(
            &info,
            requirements.as_ref(),
            &ctx.settings.summary_check_name(command),
        )
    } else {
        Ok(())
    };
    let undiverged = if open && needs(ApplyRequirement::Undiverged) {
        let base = ctx.workspaces.branch_head(repo, &info.base_ref).await?;
        ctx.workspaces
            .is_ancestor(repo, base.as_str(), info.head_sha.as_str())
            .await?
    } else {
        true
    };
    Ok(PrFacts {
        approved,
        mergeable,
        undiverged,
    })
}

/// Whether pull request `pr` is approved (see [`apply::approved`]): its reviews, the
/// permission of each reviewer whose latest verdict approves, and GitHub's review decision.
pub(super) async fn is_approved(
    ctx: &Context,
    installation: InstallationId,
    repo: &str,
    pr: PrNumber,
) -> anyhow::Result<bool> {
    let reviews = ctx
        .github
        .reviews(installation, repo, pr)
        .await
        .context("reading the pull request's reviews")?;
    let approvers = apply::approvers(&reviews);
    if approvers.is_empty() {
        return Ok(false);
    }
    let mut ranked = Vec::with_capacity(approvers.len());
    for user in approvers {
        let permission = ctx
            .github
            .permission(installation, repo, user)
            .await
            .context("reading a reviewer's permission")?;
        ranked.push((user, permission));
    }
    let decision = ctx
        .github
        .merge_requirements(installation, repo, pr)
        .await
        .context("reading GitHub's review decision")?
        .review_decision;
    Ok(apply::approved(&ranked, decision))
}

async fn refuse(ctx: &Context, cmd: &ApplyCommand, refusals: &[Refusal]) -> anyhow::Result<String> {
    refuse_with(ctx, cmd, None, refusals).await
}

/// [`refuse`], the refusals recorded in the audit trail at `head` when it is known.
async fn refuse_with(
    ctx: &Context,
    cmd: &ApplyCommand,
    head: Option<&Sha>,
    refusals: &[Refusal],
) -> anyhow::Result<String> {
    let actor = crate::audit::Actor::Github(cmd.author.clone());
    for r in refusals {
        let reason = render::apply::refused(ctx.settings.command_name(), std::slice::from_ref(r));
        let mut entry = NewEntry::new(
            AuditKind::ApplyRefused,
            actor.clone(),
            &cmd.repo.full_name,
            "refused",
        )
        .pr(cmd.pr_number)
        .detail(reason);
        if let Some(head) = head {
            entry = entry.sha(head);
        }
        if let Some(target) = refused_project(r) {
            entry = entry.project(target);
        }
        ctx.audit(entry).await;
    }
    let body = render::apply::refused(ctx.settings.command_name(), refusals);
    feedback::reply(
        ctx,
        cmd.installation_id,
        &cmd.repo.full_name,
        cmd.pr_number,
        &body,
    )
    .await?;
    Ok(format!("apply refused: {} reason(s)", refusals.len()))
}

/// [`refuse`], and the apply summary check (`bosun/apply`) on `head` fails with the reasons
/// (for refusals about this pull request's plans and requirements, once it is read).
async fn refuse_at(
    ctx: &Context,
    cmd: &ApplyCommand,
    head: &Sha,
    job_id: i64,
    refusals: &[Refusal],
) -> anyhow::Result<String> {
    let output = render::apply::refused_check(ctx.settings.command_name(), refusals);
    let check = feedback::summary_check(
        ctx,
        cmd.installation_id,
        (&cmd.repo.full_name, cmd.pr_number),
        head,
        "apply",
        job_id,
    );
    check.finish(Conclusion::Failure, output);
    let replied = refuse_with(ctx, cmd, Some(head), refusals).await;
    check.written().await;
    replied
}

/// The project a refusal is about, if it is about one.
fn refused_project(r: &Refusal) -> Option<&Target> {
    match r {
        Refusal::Stale { target, .. }
        | Refusal::PlanFailed { target }
        | Refusal::Applied { target }
        | Refusal::Interrupted { target }
        | Refusal::Locked { target, .. }
        | Refusal::Requirements { target, .. }
        | Refusal::PolicyFailed { target, .. } => Some(target),
        Refusal::Permission { .. }
        | Refusal::NotListed { .. }
        | Refusal::ApplyLocked { .. }
        | Refusal::Closed
        | Refusal::NoPlan => None,
    }
}

/// Where plans are applied: a pull request at `pr.head_sha` (its head, or its merge commit).
pub(super) struct ApplySet<'a> {
    /// The apply's job.
    pub job_id: i64,
    pub repo: &'a RepoRef,
    pub installation_id: InstallationId,
    pub pr: &'a PrRef,
    pub merged: bool,
    /// Who asked for the apply (`USER_NAME` of custom workflows).
    pub user: &'a str,
}

/// Applies saved plans (their locks held) in execution order groups: a group's projects in
/// parallel when `parallel_apply` allows, and once a group fails the later ones are skipped
/// (unless `abort_on_execution_order_fail` is `false`).
/// Never fails: each project's failure is its outcome.
pub(super) async fn apply_plans(
    ctx: &Context,
    claim: Claim,
    set: &ApplySet<'_>,
    plans: Vec<StoredPlan>,
    config: Option<&RepoConfig>,
) -> Vec<ProjectApply> {
    let repo = set.repo.full_name.as_str();
    let parallel = config.is_some_and(|c| c.parallel_apply);
    // `abort_on_execution_order_fail: false` applies the later groups after a failure.
    let abort = config.is_none_or(|c| c.abort_on_execution_order_fail);
    let groups = apply::groups(
        plans
            .iter()
            .map(|p| {
                let group = apply::order_group(config, &p.target);
                (p.target.clone(), group)
            })
            .collect(),
    );
    let checks: Vec<(Target, CheckRun)> = plans
        .iter()
        .map(|p| {
            let spec = CheckRunSpec {
                name: apply_check_name(&p.target),
                head_sha: set.pr.head_sha.clone(),
                status: CheckStatus::Queued,
                title: "Queued".into(),
                summary: "Waiting for a free runner.".into(),
                text: None,
                external_id: Some(format!("job-{}", claim.job_id)),
                details_url: None,
            };
            (
                p.target.clone(),
                CheckRun::start(ctx, set.installation_id, repo, spec),
            )
        })
        .collect();
    let overall = feedback::summary_check(
        ctx,
        set.installation_id,
        (repo, set.pr.number),
        &set.pr.head_sha,
        "apply",
        claim.job_id,
    );
    let find = |t: &Target| {
        let plan = plans.iter().find(|p| &p.target == t);
        let check = checks.iter().find(|(c, _)| c == t).map(|(_, c)| c);
        plan.zip(check)
    };
    let mut results = Vec::with_capacity(plans.len());
    let mut failed = false;
    for group in groups {
        let members: Vec<(&StoredPlan, &CheckRun)> = group.iter().filter_map(find).collect();
        if failed {
            for (p, check) in members {
                let r = ProjectApply {
                    target: p.target.clone(),
                    outcome: ApplyOutcome::Skipped {
                        why: "a project of an earlier execution order group failed".into(),
                    },
                };
                check.finish(Conclusion::Cancelled, render::apply::apply_check(&r));
                results.push(r);
            }
            continue;
        }
        let outcomes = if parallel {
            join_all(
                members
                    .iter()
                    .map(|(p, check)| apply_one(ctx, claim, set, p, check)),
            )
            .await
        } else {
            let mut out = Vec::with_capacity(members.len());
            for (p, check) in &members {
                out.push(apply_one(ctx, claim, set, p, check).await);
            }
            out
        };
        failed = abort && outcomes.iter().any(|r| !r.outcome.succeeded());
        results.extend(outcomes);
    }
    let applied = results.iter().filter(|r| r.outcome.succeeded()).count();
    feedback::finish_summary(&overall, applied, results.len(), "applied");
    join_all(
        checks
            .into_iter()
            .map(|(_, c)| c)
            .chain([overall])
            .map(CheckRun::written),
    )
    .await;
    results
}

/// Applies one saved plan: recorded as running first, then Terraform, then recorded as ended.
async fn apply_one(
    ctx: &Context,
    claim: Claim,
    set: &ApplySet<'_>,
    plan: &StoredPlan,
    check: &CheckRun,
) -> ProjectApply {
    let repo = set.repo.full_name.as_str();
    let key = set.repo.key();
    let target = &plan.target;
    let span = tracing::info_span!(
        "apply",
        dir = %target.dir,
        workspace = %target.workspace,
        project = target.name.as_deref().unwrap_or("")
    );
    let outcome = async {
        let _slot = ctx.slots.acquire().await;
        let _project = ctx.lock_project(&key, target).await;
        check.running("Applying", "Terraform is applying the saved plan.");
        let record = ctx
            .store
            .start_apply(
                &key,
                set.pr.number,
                target,
                &plan.head_sha,
                claim,
                now_millis(),
            )
            .await;
        let id = match record {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "recording an apply failed");
                let outcome = ApplyOutcome::Failed {
                    output: "bosun could not record the apply, so it did not start it.".into(),
                    stale: false,
                };
                return (outcome, None);
            }
        };
        let outcome = apply_in_checkout(ctx, set, plan, check).await;
        let status = if outcome.succeeded() {
            ApplyStatus::Succeeded
        } else {
            ApplyStatus::Failed
        };
        if let Err(e) = ctx
            .store
            .finish_apply(id, claim, status, now_millis())
            .await
        {
            tracing::error!(error = format!("{e:#}"), "recording an apply's end failed");
        }
        let end = if status == ApplyStatus::Succeeded {
            (Kind::Applied, ApplyEnd::Applied)
        } else {
            (Kind::ApplyFailed, ApplyEnd::Failed)
        };
        // One lookup of the run, for the notification's link and the audit entry's.
        let run = ctx.run_of(set.job_id, target, RunKind::Apply).await;
        let page = run.and_then(|id| ctx.run_page(id));
        ctx.notify(end.0, repo, set.pr.number, |link| {
            let (pr, sha) = (set.pr.number, &plan.head_sha);
            render::notify::apply_outcome(end.1, repo, pr, target, sha, link, page.as_deref())
        });
        // An applied planfile is of no more use, and it holds the plan's secrets.
        if status == ApplyStatus::Succeeded
            && let Err(e) = ctx
                .store
                .forget_planfile(&key, set.pr.number, target, &plan.head_sha)
                .await
        {
            tracing::error!(
                error = format!("{e:#}"),
                "dropping an applied planfile failed"
            );
        }
        (outcome, run)
    }
    .instrument(span)
    .await;
    let (outcome, run) = outcome;
    let result = ProjectApply {
        target: target.clone(),
        outcome,
    };
    let conclusion = if result.outcome.succeeded() {
        Conclusion::Success
    } else {
        Conclusion::Failure
    };
    check.finish(conclusion, render::apply::apply_check(&result));
    let actor = crate::audit::Actor::Github(set.user.to_owned());
    let mut entry = audit_log::apply(&actor, repo, set.pr.number, &plan.head_sha, &result);
    entry.run_id = run;
    ctx.audit(entry).await;
    result
}

async fn apply_in_checkout(
    ctx: &Context,
    set: &ApplySet<'_>,
    plan: &StoredPlan,
    check: &CheckRun,
) -> ApplyOutcome {
    let failed = |output: String| ApplyOutcome::Failed {
        output,
        stale: false,
    };
    let Some(planfile) = plan.planfile.as_deref() else {
        return failed("The plan has no planfile to apply.".into());
    };
    let dir = ctx
        .project_dir(
            &set.repo.full_name,
            set.pr.number,
            &plan.target,
            &plan.head_sha,
            &set.pr.base_sha,
            set.merged,
        )
        .await;
    match dir {
        Ok((root, dir)) => {
            let policy_sha =
                match super::policy::base_sha(ctx, &set.repo.full_name, set.pr, set.merged).await {
                    Ok(sha) => sha,
                    Err(e) => {
                        tracing::error!(error = format!("{e:#}"), "finding the base's head failed");
                        return failed(
                            "bosun could not find the base branch's head, so it did not apply."
                                .into(),
                        );
                    }
                };
            let key = set.repo.key();
            let project = super::custom::ProjectRun {
                job_id: set.job_id,
                repo: &set.repo.full_name,
                key: &key,
                pr: set.pr,
                sha: &plan.head_sha,
                policy_sha: &policy_sha,
                target: &plan.target,
                user: set.user,
                extra_args: &[],
                check: Some(check),
                early: None,
            };
            let pinned = plan.tool.as_ref();
            super::custom::apply(ctx, &project, (&root, &dir), (planfile, pinned)).await
        }
        Err(output) => failed(output),
    }
}

/// Posts the apply comment, without the projects whose `silence_pr_comments` names `apply`
/// (their check runs say how they went); none when every project is silenced.
pub(super) async fn publish(
    ctx: &Context,
    set: &ApplySet<'_>,
    results: &[ProjectApply],
    (note, hooks): (&str, &[super::hooks::HookRun]),
    config: Option<&RepoConfig>,
) -> anyhow::Result<()> {
    let shown: Vec<ProjectApply> = results
        .iter()
        .filter(|r| !config.is_some_and(|c| c.silences(&r.target.parts(), "apply")))
        .cloned()
        .collect();
    if shown.is_empty() && !results.is_empty() {
        return Ok(());
    }
    let logs = feedback::run_links(
        ctx,
        shown.iter().map(|r| (set.job_id, &r.target)),
        RunKind::Apply,
    )
    .await;
    let body = render::apply::apply_comment(&render::apply::ApplyComment {
        command_name: ctx.settings.command_name(),
        sha: &set.pr.head_sha,
        results: &shown,
        note: Some(note),
        logs: &logs,
    });
    let shown_hooks: Vec<_> = hooks.iter().map(super::hooks::HookRun::shown).collect();
    let body = format!("{body}{}", render::hooks::folded(&shown_hooks));
    feedback::reply(
        ctx,
        set.installation_id,
        &set.repo.full_name,
        set.pr.number,
        &body,
    )
    .await
}

/// After applies on a merged pull request: the projects applied are done, so their plans are
/// deleted, and their locks released unless another project of the pull request on the same
/// dir and workspace still has a plan; once none is left, the checkouts go too.
pub(super) async fn settle_merged(
    ctx: &Context,
    set: &ApplySet<'_>,
    results: &[ProjectApply],
) -> anyhow::Result<()> {
    let repo = set.repo.full_name.as_str();
    let key = set.repo.key();
    let done: Vec<Target> = results
        .iter()
        .filter(|r| r.outcome.succeeded())
        .map(|r| r.target.clone())
        .collect();
    if done.is_empty() {
        return Ok(());
    }
    ctx.store
        .delete_plans_of(&key, set.pr.number, &done)
        .await?;
    let left = ctx.store.plans_of_pr(&key, set.pr.number).await?;
    let free: Vec<Target> = done
        .into_iter()
        .filter(|t| !left.iter().any(|p| locks::same_lock(&p.target, t)))
        .collect();
    if !free.is_empty() {
        locks::release(
            ctx,
            set.repo,
            set.installation_id,
            set.pr.number,
            Some(&free),
            &crate::audit::Actor::Bosun,
        )
        .await?;
    }
    if left.is_empty() {
        locks::release(
            ctx,
            set.repo,
            set.installation_id,
            set.pr.number,
            None,
            &crate::audit::Actor::Bosun,
        )
        .await?;
        ctx.workspaces.remove_pr(repo, set.pr.number).await?;
        ctx.store.delete_reviewed_plans(&key, set.pr.number).await?;
    }
    Ok(())
}

/// With `automerge`: merges the pull request once every project planned at its head is
/// applied. Returns what happened, for the job's summary.
async fn automerge(
    ctx: &Context,
    cmd: &ApplyCommand,
    info: &PullRequestInfo,
    config: &RepoConfig,
) -> anyhow::Result<String> {
    let repo = cmd.repo.full_name.as_str();
    let key = cmd.repo.key();
    let plans = ctx.store.plans_of_pr(&key, cmd.pr_number).await?;
    let applies = ctx.store.applies_of_pr(&key, cmd.pr_number).await?;
    let pending = plans
        .iter()
        .filter(|p| !(p.head_sha == info.head_sha && applied(p, &applies)))
        .count();
    if pending > 0 {
        return Ok(format!("; automerge waits for {pending} project(s)"));
    }
    let body = render::reply::automerging();
    feedback::reply(ctx, cmd.installation_id, repo, cmd.pr_number, &body).await?;
    let merged = ctx
        .github
        .merge_pull_request(
            cmd.installation_id,
            repo,
            cmd.pr_number,
            &info.head_sha,
            cmd.command.auto_merge_method.unwrap_or_default(),
        )
        .await;
    match merged {
        Ok(sha) => Ok(format!(
            "; automerged as {}{}",
            sha.short(),
            delete_source_branch(ctx, cmd, info, config).await
        )),
        // A retried merge that had gone through is refused the second time: look.
        Err(e)
            if e.status() == Some(405)
                && ctx
                    .github
                    .pull_request(cmd.installation_id, repo, cmd.pr_number)
                    .await
                    .is_ok_and(|now| now.state == PrState::Merged) =>
        {
            Ok(format!(
                "; automerged{}",
                delete_source_branch(ctx, cmd, info, config).await
            ))
        }
        Err(e) => {
            tracing::warn!(error = %e, "automerge failed");
            let body = render::reply::automerge_failed(&e.to_string());
            feedback::reply(ctx, cmd.installation_id, repo, cmd.pr_number, &body).await?;
            Ok("; automerge failed".into())
        }
    }
}

/// After an automerge, with `delete_source_branch_on_merge` (the top level's, or a project's
/// own): deletes the pull request's branch, unless it lives in a fork (not bosun's to
/// delete). Returns what happened, for the job's summary; a failure is logged, never fatal.
async fn delete_source_branch(
    ctx: &Context,
    cmd: &ApplyCommand,
    info: &PullRequestInfo,
    config: &RepoConfig,
) -> String {
    let wanted = config.delete_source_branch_on_merge
        || config
            .projects
            .iter()
            .any(|p| p.delete_source_branch_on_merge == Some(true));
    if !wanted || info.from_fork {
        return String::new();
    }
    let repo = cmd.repo.full_name.as_str();
    match ctx
        .github
        .delete_branch(cmd.installation_id, repo, &info.head_ref)
        .await
    {
        Ok(()) => format!("; deleted branch {}", info.head_ref),
        Err(e) => {
            tracing::warn!(error = %e, branch = %info.head_ref, "deleting the source branch failed");
            format!("; deleting branch {} failed", info.head_ref)
        }
    }
}

/// Applies this job started under an earlier claim: bosun stopped (or the worker lost the
/// job) after they began. Those still running are marked interrupted, their check runs (and
/// the `apply` summary check of their head) fail, and the pull request is told to look at the state and plan again. Returns whether there
/// were any applies at all (the job then does nothing else: an apply never runs again by
/// itself).
pub(super) async fn interrupted(ctx: &Context, job: &crate::store::Job) -> anyhow::Result<bool> {
    let earlier: Vec<ApplyRecord> = ctx
        .store
        .applies_of_pr(&job.repository, job.pr)
        .await?
        .into_iter()
        .filter(|a| a.job_id == job.id && a.claim != job.claim)
        .collect();
    if earlier.is_empty() {
        return Ok(false);
    }
    let cut: Vec<&ApplyRecord> = earlier
        .iter()
        .filter(|a| a.status == ApplyStatus::Running)
        .collect();
    if cut.is_empty() {
        return Ok(true);
    }
    // The job's `repository` is the store's key; GitHub and people know it by its name now.
    let repo = crate::store::repositories::display_name(ctx.store.as_ref(), &job.repository).await;
    for a in &cut {
        ctx.store
            .finish_apply(a.id, job.claim(), ApplyStatus::Interrupted, now_millis())
            .await?;
        let run = ctx.run_of(job.id, &a.target, RunKind::Apply).await;
        let run = run.and_then(|id| ctx.run_page(id));
        ctx.notify(Kind::ApplyInterrupted, &repo, job.pr, |link| {
            render::notify::apply_outcome(
                ApplyEnd::Interrupted,
                &repo,
                job.pr,
                &a.target,
                &a.sha,
                link,
                run.as_deref(),
            )
        });
        let spec = CheckRunSpec {
            name: apply_check_name(&a.target),
            head_sha: a.sha.clone(),
            status: CheckStatus::Completed(Conclusion::Failure),
            title: "Interrupted".into(),
            summary: "bosun stopped while Terraform was applying. It does not run an apply \
                      again by itself: look at the state, then plan again."
                .into(),
            text: None,
            external_id: Some(format!("job-{}", job.id)),
            details_url: None,
        };
        if let Err(e) = ctx
            .github
            .create_check_run(job.installation_id, &repo, &spec)
            .await
        {
            tracing::warn!(error = %e, "writing the interrupted check run failed");
        }
    }
    // The summary check the stopped run left in progress is completed too, on each head.
    let mut heads: Vec<&Sha> = cut.iter().map(|a| &a.sha).collect();
    heads.sort_unstable();
    heads.dedup();
    for head in heads {
        let spec = CheckRunSpec {
            name: ctx.settings.summary_check_name("apply"),
            head_sha: head.to_owned(),
            status: CheckStatus::Completed(Conclusion::Failure),
            title: "Interrupted".into(),
            summary: "bosun stopped while Terraform was applying; see the projects' checks.".into(),
            text: None,
            external_id: Some(format!("job-{}", job.id)),
            details_url: None,
        };
        if let Err(e) = ctx
            .github
            .create_check_run(job.installation_id, &repo, &spec)
            .await
        {
            tracing::warn!(error = %e, "writing the interrupted summary check run failed");
        }
    }
    let targets: Vec<Target> = cut.iter().map(|a| a.target.clone()).collect();
    let body = render::reply::apply_interrupted(ctx.settings.command_name(), &targets);
    feedback::reply(ctx, job.installation_id, &repo, job.pr, &body).await?;
    Ok(true)
}
