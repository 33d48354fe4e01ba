//! Policy checks in a pull request's work: after a project plans, the policy sets (the server
//! config's, when `policy_check` is on for the repository) are evaluated on its plan's JSON
//! and their results stored; the plan's job then gives each project a `bosun/policy:
//! <project>` check run and a section of the plan comment. An apply of a project with a failed
//! set not approved by enough of its owners is refused (see [`blocking`]).

use super::Context;
use super::feedback::CheckRun;
use crate::audit::{Actor, Kind, NewEntry};
use crate::github::{CheckRunSpec, CheckStatus, Conclusion};
use crate::ids::{InstallationId, PrNumber, Sha};
use crate::plan::Target;
use crate::policy::{Policies, ProjectPolicies, SetStatus};
use crate::store::{PolicyResult, now_millis};

/// A pull request at its head, as policy checks key it.
#[derive(Debug, Clone, Copy)]
pub(super) struct At<'a> {
    pub repo: &'a super::job::RepoRef,
    pub pr: PrNumber,
    pub head: &'a Sha,
    pub base_ref: &'a str,
}

/// The policy sets checked for `repo`'s pull requests into `base_ref`; `None`: checks are off.
pub(super) fn policies(ctx: &Context, repo: &str, base_ref: &str) -> Option<Policies> {
    let rules = ctx.settings.repo_powers.current().for_repo(repo, base_ref);
    rules.policies().cloned()
}

/// Evaluates every policy set on `target`'s plan (`show_json`; `None`: the plan failed, and
/// its earlier results at this head are dropped) and stores the results. A `repo` set's Rego
/// is read from `base_sha` (the base branch's commit whose policy holds). Never fails: a set
/// that cannot be evaluated fails with why; a store error is logged.
pub(super) async fn evaluate(
    ctx: &Context,
    (at, base_sha): (At<'_>, &Sha),
    actor: &Actor,
    target: &Target,
    show_json: Option<&str>,
) {
    let Some(policies) = policies(ctx, &at.repo.full_name, at.base_ref) else {
        return;
    };
    let mut results = Vec::new();
    if let Some(json) = show_json {
        for set in &policies.sets {
            let outcome = match modules(ctx, &at.repo.full_name, base_sha, set).await {
                Ok(modules) => {
                    crate::policy::child::evaluate(&ctx.settings.policy_eval, &modules, json).await
                }
                Err(why) => Err(why),
            };
            let (failures, warnings) = match outcome {
                Ok(o) => (o.failures, o.warnings),
                Err(why) => (
                    vec![format!("the policy set could not be evaluated: {why}")],
                    vec![],
                ),
            };
            let result = PolicyResult {
                target: target.clone(),
                policy_set: set.name.clone(),
                passed: failures.is_empty(),
                failures,
                warnings,
            };
            let outcome = if result.passed {
                "policy_passed"
            } else {
                "policy_failed"
            };
            let entry = NewEntry::new(
                Kind::PolicyDecision,
                actor.clone(),
                &at.repo.full_name,
                outcome,
            )
            .pr(at.pr)
            .project(target)
            .sha(at.head)
            .detail(format!("{}: {}", set.name, result.failures.join("; ")));
            ctx.audit(entry).await;
            results.push(result);
        }
    }
    if let Err(e) = ctx
        .store
        .record_policy_results(
            (&at.repo.key(), at.pr),
            target,
            at.head,
            &results,
            now_millis(),
        )
        .await
    {
        tracing::error!(error = format!("{e:#}"), "recording policy results failed");
    }
}

/// A set's Rego: a `local` set's, read with the server config; a `repo` set's, from the
/// base branch's commit `base_sha` (never the pull request's head).
async fn modules(
    ctx: &Context,
    repo: &str,
    base_sha: &Sha,
    set: &crate::policy::PolicySet,
) -> Result<Vec<crate::policy::RegoModule>, String> {
    if set.source == crate::policy::Source::Local {
        return Ok(set.modules.clone());
    }
    let files = ctx
        .workspaces
        .rego_files(repo, base_sha, &set.path)
        .await
        .map_err(|e| {
            tracing::error!(
                error = format!("{e:#}"),
                "reading a policy set from the repository failed"
            );
            format!(
                "bosun could not read `{}` at the base branch's commit",
                set.path
            )
        })?;
    if files.is_empty() {
        return Err(format!(
            "`{}` holds no .rego file at the base branch's commit {}",
            set.path,
            base_sha.short()
        ));
    }
    Ok(files
        .into_iter()
        .map(|(path, text)| crate::policy::RegoModule { path, text })
        .collect())
}

/// Every project's policy sets at the head, with their approvals.
pub(super) async fn statuses(
    ctx: &Context,
    at: At<'_>,
    policies: &Policies,
) -> anyhow::Result<Vec<ProjectPolicies>> {
    let results = ctx
        .store
        .policy_results(&at.repo.key(), at.pr, at.head)
        .await?;
    let approvals = ctx
        .store
        .policy_approvals(&at.repo.key(), at.pr, at.head)
        .await?;
    let mut out: Vec<ProjectPolicies> = Vec::new();
    for r in results {
        let set = policies.set(&r.policy_set);
        let status = SetStatus {
            approved_by: approvals
                .iter()
                .filter(|a| a.policy_set == r.policy_set)
                .map(|a| a.approver.clone())
                .collect(),
            needed: set.map_or(1, |s| s.approve_count),
            owners: set.map_or_else(Vec::new, |s| policies.approvers(s).describe()),
            set: r.policy_set,
            failures: r.failures,
            warnings: r.warnings,
        };
        match out.iter_mut().find(|p| p.target == r.target) {
            Some(p) => p.sets.push(status),
            None => out.push(ProjectPolicies {
                target: r.target,
                sets: vec![status],
            }),
        }
    }
    Ok(out)
}

/// Writes the `bosun/policy: <project>` check run of every project with policy results at
/// the head (of `only`, when given), and waits for them to be written.
pub(super) async fn publish_checks(
    ctx: &Context,
    installation_id: InstallationId,
    at: At<'_>,
    only: Option<&[Target]>,
) -> anyhow::Result<()> {
    let Some(policies) = policies(ctx, &at.repo.full_name, at.base_ref) else {
        return Ok(());
    };
    let mut checks = Vec::new();
    for p in statuses(ctx, at, &policies).await? {
        if only.is_some_and(|only| !only.contains(&p.target)) {
            continue;
        }
        let (passed, output) = crate::render::policy::check(&p);
        let conclusion = if passed {
            Conclusion::Success
        } else {
            Conclusion::Failure
        };
        let spec = CheckRunSpec {
            name: crate::render::policy::check_name(&p),
            head_sha: at.head.to_owned(),
            status: CheckStatus::Completed(conclusion),
            title: output.title,
            summary: output.summary,
            text: output.text,
            external_id: None,
            details_url: None,
        };
        checks.push(CheckRun::start(
            ctx,
            installation_id,
            &at.repo.full_name,
            spec,
        ));
    }
    futures::future::join_all(checks.into_iter().map(CheckRun::written)).await;
    Ok(())
}

/// The plan comment's policy sections, one per project with results at the head.
pub(super) async fn sections(ctx: &Context, at: At<'_>) -> Vec<(Target, String)> {
    let Some(policies) = policies(ctx, &at.repo.full_name, at.base_ref) else {
        return Vec::new();
    };
    match statuses(ctx, at, &policies).await {
        Ok(all) => all
            .iter()
            .map(|p| {
                let text = crate::render::policy::section(ctx.settings.command_name(), p);
                (p.target.clone(), text)
            })
            .collect(),
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "reading policy results failed");
            Vec::new()
        }
    }
}

/// Which of `targets` apply on merge may not apply: those with a failed policy set not
/// approved at the pull request's final head (`reviewed`), or failing at the merge commit
/// (`merged`) in a set that was not approved at the final head.
pub(super) async fn held_on_merge(
    ctx: &Context,
    reviewed: At<'_>,
    merged: At<'_>,
    targets: &[Target],
) -> anyhow::Result<Vec<Target>> {
    let Some(policies) = policies(ctx, &reviewed.repo.full_name, reviewed.base_ref) else {
        return Ok(Vec::new());
    };
    let at_head = statuses(ctx, reviewed, &policies).await?;
    let at_merge = statuses(ctx, merged, &policies).await?;
    let mut held = Vec::new();
    for t in targets {
        let head = at_head.iter().find(|p| &p.target == t);
        let approved =
            |set: &str| head.is_some_and(|p| p.sets.iter().any(|s| s.set == set && s.passes()));
        let blocked_at_head = head.is_some_and(|p| p.blocking().next().is_some());
        let blocked_at_merge = at_merge
            .iter()
            .filter(|p| &p.target == t)
            .flat_map(|p| p.sets.iter())
            .any(|s| !s.failures.is_empty() && !approved(&s.set) && !s.passes());
        if blocked_at_head || blocked_at_merge {
            held.push(t.clone());
        }
    }
    Ok(held)
}

/// For each of `targets` held back by a failed, unapproved policy set at the head: the
/// blocking sets (with who may approve them). Empty when checks are off.
pub(super) async fn blocking(
    ctx: &Context,
    at: At<'_>,
    targets: &[Target],
) -> anyhow::Result<Vec<(Target, Vec<SetStatus>)>> {
    let Some(policies) = policies(ctx, &at.repo.full_name, at.base_ref) else {
        return Ok(Vec::new());
    };
    let all = statuses(ctx, at, &policies).await?;
    Ok(all
        .into_iter()
        .filter(|p| targets.contains(&p.target))
        .filter_map(|p| {
            let sets: Vec<SetStatus> = p.blocking().cloned().collect();
            (!sets.is_empty()).then_some((p.target, sets))
        })
        .collect())
}
