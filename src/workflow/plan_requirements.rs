//! A project's `plan_requirements` (Atlantis's key): what a pull request must meet before the
//! project plans, for autoplan and the `plan` comment alike (Atlantis checks them in every
//! project plan). Read from the base branch's repo config, as apply requirements are: a pull
//! request cannot drop its own, and a project the base does not have gets every plan
//! requirement any project of the base has. A project that does not meet them is not planned
//! (nor locked): its plan fails with the reasons.

use super::Context;
use super::plan::Request;
use crate::apply::{self, Unmet};
use crate::config::repo::{ApplyRequirement, RepoConfig};
use crate::github::PrState;
use crate::plan::Target;

/// The plan requirements of `target` under the base branch's config `base`.
pub fn of(base: Option<&RepoConfig>, target: &Target) -> Vec<ApplyRequirement> {
    let Some(base) = base else {
        return Vec::new();
    };
    let mut out: Vec<ApplyRequirement> = Vec::new();
    let own: Vec<ApplyRequirement> = match apply::project_of(base, target) {
        Some(p) => p.plan_requirements.clone(),
        None => base
            .projects
            .iter()
            .flat_map(|p| p.plan_requirements.iter().copied())
            .collect(),
    };
    for r in own {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// The targets of `req` whose plan requirements (under `base`) the pull request does not
/// meet, with why; GitHub is asked only what some target needs. A merged pull request's plan
/// (apply on merge) is past them.
#[tracing::instrument(level = "debug", name = "plan requirements", skip_all)]
pub(super) async fn refused(
    ctx: &Context,
    req: &Request,
    base: Option<&RepoConfig>,
    targets: &[Target],
) -> anyhow::Result<Vec<(Target, Vec<Unmet>)>> {
    // The server's floor (its config for this repository and base branch) beside the base's.
    let rules = ctx
        .settings
        .repo_powers
        .current()
        .for_repo(&req.repo.full_name, &req.pr.base_ref);
    let required: Vec<(&Target, Vec<ApplyRequirement>)> = targets
        .iter()
        .map(|t| {
            let mut rs = of(base, t);
            let floor = rules.minimum(
                crate::config::powers::Requirements::Plan,
                base,
                (&t.dir, &t.workspace, t.name.as_deref()),
            );
            for r in floor {
                if !rs.contains(r) {
                    rs.push(*r);
                }
            }
            (t, rs)
        })
        .filter(|(_, r)| !r.is_empty())
        .collect();
    if req.merged || required.is_empty() {
        return Ok(Vec::new());
    }
    let repo = req.repo.full_name.as_str();
    let info = ctx
        .github
        .pull_request(req.installation_id, repo, req.pr.number)
        .await?;
    if info.state != PrState::Open {
        return Ok(Vec::new());
    }
    let needed: Vec<ApplyRequirement> = required.iter().flat_map(|(_, r)| r.clone()).collect();
    let facts =
        super::apply::pr_facts(ctx, req.installation_id, repo, &info, &needed, "plan").await?;
    Ok(required
        .into_iter()
        .filter_map(|(t, r)| {
            let unmet = apply::unmet(&r, &facts);
            (!unmet.is_empty()).then(|| (t.clone(), unmet))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(dir: &str) -> Target {
        Target {
            dir: dir.into(),
            workspace: "default".into(),
            name: None,
        }
    }

    #[test]
    fn a_project_has_its_own_plan_requirements_and_one_the_base_lacks_has_all_of_them() {
        let base = crate::config::repo::parse(
            "bosun.yaml",
            "version: 3\nprojects:\n- dir: a\n  plan_requirements: [approved]\n- dir: b\n  \
             plan_requirements: [undiverged, approved]\n- dir: c\n",
        )
        .unwrap();
        assert_eq!(of(Some(&base), &target("a")), [ApplyRequirement::Approved]);
        assert!(of(Some(&base), &target("c")).is_empty());
        assert_eq!(
            of(Some(&base), &target("moved")),
            [ApplyRequirement::Approved, ApplyRequirement::Undiverged]
        );
        assert!(of(None, &target("a")).is_empty());
    }
}
