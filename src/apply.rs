//! What an apply decides, free of I/O: a project's apply policy from the repo config, whether
//! a pull request meets its apply requirements, whether two plans propose the same changes,
//! the order projects apply in, and how one project's apply ended.

use crate::ids::{PrNumber, Sha};
use serde::{Deserialize, Serialize};

use crate::config::repo::{ApplyRequirement, LockMode, Project, RepoConfig};
use crate::event::ReviewState;
use crate::github::{
    MergeRequirements, MergeableState, Permission, PullRequestInfo, ReviewDecision, ReviewInfo,
};
use crate::plan::{PlanSummary, Target};

/// The prefix of bosun's own apply check runs, which `mergeable` looks past.
pub const APPLY_CHECK_PREFIX: &str = "bosun/apply";

/// What the repo config says about applying one project: its policy, which comes from the
/// base branch's config (see [`policy`]), never from the pull request's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyPolicy {
    pub requirements: Vec<ApplyRequirement>,
    pub apply_on_merge: bool,
    /// When the project's lock is taken (`repo_locks`).
    pub locks: LockMode,
}

/// The project of `config` that `target` is: the one of its name, else the one on its dir
/// and workspace.
pub fn project_of<'c>(config: &'c RepoConfig, target: &Target) -> Option<&'c Project> {
    config.project(&target.dir, &target.workspace, target.name.as_deref())
}

/// The policy of `target` under `base`, the base branch's config (none: no requirements of
/// its own, no apply on merge). Its requirements are `minimum` (what the server demands of
/// every project) and the base project's own, in that order, each once. A project the base
/// does not have (new, renamed or moved by the pull request) gets every requirement any
/// project of the base has, so a pull request cannot shed a requirement by moving a project,
/// and the base's top-level `apply_on_merge`. Its lock mode is the project's `repo_locks`,
/// else the base's top-level one; a project the base does not have gets the strictest the
/// base has (`on_plan` without a base config).
pub fn policy(
    base: Option<&RepoConfig>,
    target: &Target,
    minimum: &[ApplyRequirement],
) -> ApplyPolicy {
    let project = base.and_then(|c| project_of(c, target));
    let mut requirements = minimum.to_vec();
    let own: Vec<ApplyRequirement> = match (base, project) {
        (_, Some(p)) => p.apply_requirements.clone(),
        (Some(c), None) => c
            .projects
            .iter()
            .flat_map(|p| p.apply_requirements.iter().copied())
            .collect(),
        (None, None) => Vec::new(),
    };
    for r in own {
        if !requirements.contains(&r) {
            requirements.push(r);
        }
    }
    let default_on_merge = base.is_some_and(|c| c.apply_on_merge);
    let locks = match (base, project) {
        (Some(c), Some(p)) => p.repo_locks.unwrap_or(c.repo_locks),
        (Some(c), None) => c
            .projects
            .iter()
            .filter_map(|p| p.repo_locks)
            .chain([c.repo_locks])
            .min()
            .unwrap_or_default(),
        (None, _) => LockMode::OnPlan,
    };
    // An apply on merge applies under the lock the plan took: never without one (the config
    // refuses the pair; a project the base lacks could still get both).
    let on_merge = project
        .and_then(|p| p.apply_on_merge)
        .unwrap_or(default_on_merge);
    ApplyPolicy {
        requirements,
        apply_on_merge: on_merge && locks != LockMode::OnApply,
        locks,
    }
}

/// What `import` and `state rm` in `target` require under `base`, the base branch's config
/// (Atlantis's `import_requirements`, read as [`policy`] reads `apply_requirements`): the base
/// project's own; a project the base does not have gets every one any project of the base
/// has, so a pull request cannot shed one by moving a project; no config, none.
pub fn import_requirements(base: Option<&RepoConfig>, target: &Target) -> Vec<ApplyRequirement> {
    let own: Vec<ApplyRequirement> = match (base, base.and_then(|c| project_of(c, target))) {
        (_, Some(p)) => p.import_requirements.clone(),
        (Some(c), None) => c
            .projects
            .iter()
            .flat_map(|p| p.import_requirements.iter().copied())
            .collect(),
        (None, None) => Vec::new(),
    };
    let mut out = Vec::new();
    for r in own {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// The execution order group of `target`: layout, so from the pull request's own config
/// (none, or no such project: 0).
pub fn order_group(head: Option<&RepoConfig>, target: &Target) -> i64 {
    head.and_then(|c| project_of(c, target))
        .map_or(0, |p| p.execution_order_group)
}

/// Whether the pull request's config (`head`) sets policy keys otherwise than the base
/// branch's (`base`): `automerge`, `apply_on_merge`, the workflows, `repo_locks`, or a
/// project's `apply_requirements`, `plan_requirements`, `apply_on_merge`, `workflow` or
/// `repo_locks`. Such changes take effect only once
/// merged.
pub fn policy_changed(base: Option<&RepoConfig>, head: Option<&RepoConfig>) -> bool {
    let top = |c: Option<&RepoConfig>| {
        c.map(|c| {
            (
                c.automerge,
                c.apply_on_merge,
                c.workflows.clone(),
                c.repo_locks,
            )
        })
        .unwrap_or_default()
    };
    if top(base) != top(head) {
        return true;
    }
    let keys = |p: Option<&Project>| {
        p.map(|p| {
            (
                p.apply_requirements.clone(),
                p.import_requirements.clone(),
                p.plan_requirements.clone(),
                p.apply_on_merge,
                p.workflow.clone(),
                p.repo_locks,
            )
        })
        .unwrap_or_default()
    };
    head.into_iter().flat_map(|c| &c.projects).any(|p| {
        let target = Target::from(p);
        keys(base.and_then(|b| project_of(b, &target))) != keys(Some(p))
    })
}

/// The reviewers whose latest deciding review (approvals, change requests and dismissals
/// count; comments do not) is an approval, in the order they first reviewed. A dismissed
/// approval, or one followed by "changes requested" from the same reviewer, does not count.
pub fn approvers(reviews: &[ReviewInfo]) -> Vec<&str> {
    let mut latest: Vec<(&str, ReviewState)> = Vec::new();
    for r in reviews {
        if !matches!(
            r.state,
            ReviewState::Approved | ReviewState::ChangesRequested | ReviewState::Dismissed
        ) {
            continue;
        }
        match latest
            .iter_mut()
            .find(|(u, _)| u.eq_ignore_ascii_case(&r.user))
        {
            Some(entry) => entry.1 = r.state,
            None => latest.push((&r.user, r.state)),
        }
    }
    latest
        .into_iter()
        .filter(|(_, s)| *s == ReviewState::Approved)
        .map(|(u, _)| u)
        .collect()
}

/// The least permission on the repository whose approval counts (as on GitHub, where only
/// approvals of users with write access satisfy branch protection).
pub const APPROVER_PERMISSION: Permission = Permission::Write;

/// Whether a pull request is approved, from its approvers (see [`approvers`]) with their
/// permission on the repository, and GitHub's review decision when branch protection requires
/// reviews (`None` when it does not, or when bosun cannot see it): some approver has write
/// permission or more, and a review decision, when there is one, is `APPROVED` (so approvals
/// branch protection dismissed as stale, or that it does not count, do not count here).
pub fn approved(approvers: &[(&str, Permission)], decision: Option<ReviewDecision>) -> bool {
    if decision.is_some_and(|d| d != ReviewDecision::Approved) {
        return false;
    }
    approvers.iter().any(|(_, p)| *p >= APPROVER_PERMISSION)
}

/// Whether GitHub would merge the pull request, not counting bosun's own `bosun/apply`
/// checks (they cannot pass before the apply they wait for), nor its apply summary check
/// `summary_apply` (`bosun/apply`, or `atlantis/apply` under BOSUN_STATUS_NAME=atlantis).
/// `Err` says why not.
/// `requirements` is branch protection's view (every page of the head's checks, and the
/// required checks that have not reported, as not passing), needed only when GitHub says
/// `blocked`; `blocked` passes only when bosun's own checks are all that block it.
pub fn mergeable(
    pr: &PullRequestInfo,
    requirements: Option<&MergeRequirements>,
    summary_apply: &str,
) -> Result<(), String> {
    let own = |name: &str| name.starts_with(APPLY_CHECK_PREFIX) || name == summary_apply;
    if pr.mergeable == Some(false) || pr.mergeable_state == MergeableState::Dirty {
        return Err("it has conflicts with the base branch".into());
    }
    match pr.mergeable_state {
        MergeableState::Clean | MergeableState::Unstable | MergeableState::HasHooks => Ok(()),
        MergeableState::Draft => Err("it is a draft".into()),
        MergeableState::Behind => {
            Err("branch protection requires it to be up to date with the base branch".into())
        }
        MergeableState::Unknown | MergeableState::Dirty => Err(
            "GitHub has not worked out yet whether it can be merged; try again in a minute".into(),
        ),
        MergeableState::Blocked => {
            let Some(req) = requirements else {
                return Err("branch protection blocks it".into());
            };
            match req.review_decision {
                Some(ReviewDecision::ChangesRequested) => {
                    return Err("a reviewer requested changes".into());
                }
                Some(ReviewDecision::ReviewRequired) => {
                    return Err("branch protection requires an approving review".into());
                }
                Some(ReviewDecision::Approved) | None => {}
            }
            let failing: Vec<&str> = req
                .required_checks
                .iter()
                .filter(|c| !c.passed && !own(&c.name))
                .map(|c| c.name.as_str())
                .collect();
            let own_checks_block = req
                .required_checks
                .iter()
                .any(|c| !c.passed && own(&c.name));
            if failing.is_empty() && own_checks_block {
                Ok(())
            } else if failing.is_empty() {
                // Blocked for a reason bosun cannot see (a ruleset, signed commits, …): not
                // mergeable, as GitHub says.
                Err("branch protection blocks it for a reason bosun cannot see".into())
            } else {
                Err(format!(
                    "required checks have not passed: {}",
                    failing
                        .iter()
                        .map(|n| format!("`{}`", n.replace('`', "'")))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        }
    }
}

/// What is known about a pull request for its apply requirements; each is checked only when
/// some project requires it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrFacts {
    pub approved: bool,
    /// `Err` says why it cannot be merged.
    pub mergeable: Result<(), String>,
    /// The pull request's branch contains the base branch's head.
    pub undiverged: bool,
}

/// An apply requirement a pull request does not meet, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmet {
    NotApproved,
    NotMergeable(String),
    Diverged,
}

/// The requirements in `required` that `facts` do not meet, in the order required.
pub fn unmet(required: &[ApplyRequirement], facts: &PrFacts) -> Vec<Unmet> {
    let mut out = Vec::new();
    for r in required {
        let miss = match r {
            ApplyRequirement::Approved if !facts.approved => Some(Unmet::NotApproved),
            ApplyRequirement::Mergeable => facts.mergeable.clone().err().map(Unmet::NotMergeable),
            ApplyRequirement::Undiverged if !facts.undiverged => Some(Unmet::Diverged),
            _ => None,
        };
        if let Some(m) = miss
            && !out.contains(&m)
        {
            out.push(m);
        }
    }
    out
}

/// Why an apply command was refused; one per problem, each rendered with what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The commenter may not apply: `has` is their permission on the repository, below
    /// `needs` (BOSUN_COMMAND_PERMISSION).
    Permission {
        user: String,
        has: Permission,
        needs: Permission,
    },
    /// Apply is limited to listed users and teams (BOSUN_APPLY_USERS, BOSUN_APPLY_TEAMS), and
    /// the commenter is none of them.
    NotListed {
        user: String,
        users: Vec<String>,
        teams: Vec<String>,
    },
    /// Applies are locked (`POST /api/apply-lock`) since `locked_at`.
    ApplyLocked { locked_at: crate::store::Millis },
    /// The pull request was closed without merging.
    Closed,
    /// No plan of this pull request (or none of the projects named) to apply.
    NoPlan,
    /// The project's latest plan is of another commit than `head`.
    Stale {
        target: Target,
        planned: Sha,
        head: Sha,
    },
    /// The project's latest plan failed.
    PlanFailed { target: Target },
    /// Already applied at this commit.
    Applied { target: Target },
    /// An apply of this very plan was cut off (bosun stopped while Terraform applied): what
    /// it did is unknown, so the plan is not applied again; the state is looked at and a
    /// new plan made.
    Interrupted { target: Target },
    /// Another pull request holds the project's lock.
    Locked { target: Target, by: PrNumber },
    /// Apply requirements the pull request does not meet.
    Requirements { target: Target, unmet: Vec<Unmet> },
    /// Policy sets failed on the project's plan and are not approved by enough of their
    /// owners: each set's name, the approvals it lacks, and who may approve it.
    PolicyFailed {
        target: Target,
        sets: Vec<BlockingSet>,
    },
}

/// A failed policy set that holds an apply back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockingSet {
    pub name: String,
    /// Approvals still needed.
    pub missing: u32,
    /// `@login`, `team org/slug`.
    pub owners: Vec<String>,
}

/// Whether two plans propose exactly the same changes: every resource change (its actions and
/// its values before and after, known, unknown and sensitive), every import and every output
/// change, by the plans' digests. A plan without a digest matches none. Terraform's wording
/// does not count.
pub fn same_changes(a: &PlanSummary, b: &PlanSummary) -> bool {
    !a.digest.is_empty() && a.digest == b.digest
}

/// Projects in apply order: groups by ascending `execution_order_group`, each group's
/// projects by dir and workspace.
pub fn groups(mut projects: Vec<(Target, i64)>) -> Vec<Vec<Target>> {
    projects.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let mut out: Vec<(i64, Vec<Target>)> = Vec::new();
    for (target, group) in projects {
        match out.last_mut() {
            Some((g, members)) if *g == group => members.push(target),
            _ => out.push((group, vec![target])),
        }
    }
    out.into_iter().map(|(_, members)| members).collect()
}

/// How one project's apply ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum ApplyOutcome {
    /// Terraform applied the saved plan: its output, with the `Apply complete!` line.
    Applied { output: String },
    /// Terraform failed; `stale` when it refused the saved plan because the state changed
    /// since it was made.
    Failed { output: String, stale: bool },
    /// Not attempted, and why (an earlier execution order group failed).
    Skipped { why: String },
}

impl ApplyOutcome {
    pub fn succeeded(&self) -> bool {
        matches!(self, Self::Applied { .. })
    }
}

/// One project's apply result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectApply {
    pub target: Target,
    pub outcome: ApplyOutcome,
}

/// Whether Terraform's output is its refusal of a saved plan made against an older state.
pub fn is_stale_refusal(output: &str) -> bool {
    output.contains("Saved plan is stale")
}

/// Terraform's `Apply complete! Resources: …` line, if the output has one.
pub fn apply_line(output: &str) -> Option<&str> {
    output
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("Apply complete!"))
}

#[cfg(test)]
mod tests;
