//! What a pull request's repo config may set. The file comes from the pull request itself, so
//! it must not widen its own powers: custom workflows, `workflow:` selection, dropping an apply
//! requirement the server demands, `delete_source_branch_on_merge` and a `repo_locks` mode
//! other than `on_plan` are refused unless the
//! server's settings allow them for that repository (Atlantis's `allow_custom_workflows` and
//! `allowed_overrides`). Pure: [`check`] reads a parsed config and the settings, nothing else.

use std::fmt;

use super::allowlist::RepoAllowlist;
use super::repo::{ApplyRequirement, ConfigError, LockMode, RepoConfig};

/// A repo-config key that changes what a repository may do, so the server must allow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Override {
    /// A project's `apply_requirements` may drop requirements the server demands.
    ApplyRequirements,
    /// A project may select a workflow (`workflow:`) other than `default`.
    Workflow,
    /// `delete_source_branch_on_merge: true`, at the top or in a project.
    DeleteSourceBranchOnMerge,
    /// `repo_locks` with a mode other than `on_plan` (locks taken later, or never).
    RepoLocks,
}

impl Override {
    /// Every override, in the order users read them.
    pub const ALL: [Self; 4] = [
        Self::ApplyRequirements,
        Self::Workflow,
        Self::DeleteSourceBranchOnMerge,
        Self::RepoLocks,
    ];

    /// The key as the repo config and the setting spell it.
    pub fn key(self) -> &'static str {
        match self {
            Self::ApplyRequirements => "apply_requirements",
            Self::Workflow => "workflow",
            Self::DeleteSourceBranchOnMerge => "delete_source_branch_on_merge",
            Self::RepoLocks => "repo_locks",
        }
    }
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// The `allowed_overrides` setting: a comma-separated list whose items are `KEY` (allowed for
/// every repository) or `GLOB:KEY` (allowed for the repositories `owner/name` glob matches,
/// like `acme/*:workflow`). Empty allows nothing.
#[derive(Debug, Clone)]
pub struct AllowedOverrides {
    /// Each allowed key, with the repositories it is allowed for (`None`: every one).
    entries: Vec<(Override, Option<RepoAllowlist>)>,
}

impl AllowedOverrides {
    /// Parses the setting; the error names the bad item.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (scope, key) = match item.rsplit_once(':') {
                Some((glob, key)) => (Some(glob.trim()), key.trim()),
                None => (None, item),
            };
            let Some(o) = Override::ALL.into_iter().find(|o| o.key() == key) else {
                let known: Vec<&str> = Override::ALL.iter().map(|o| o.key()).collect();
                return Err(format!(
                    "`{key}` is not a key a repo may be allowed to set; use {}",
                    known.join(", ")
                ));
            };
            let scope = match scope {
                None => None,
                Some("") => return Err(format!("`{item}`: nothing before `:`")),
                Some(glob) => Some(RepoAllowlist::parse(glob)?),
            };
            entries.push((o, scope));
        }
        Ok(Self { entries })
    }

    /// Whether `repo` (`owner/name`) may set `key`.
    pub fn allows(&self, repo: &str, key: Override) -> bool {
        self.entries
            .iter()
            .any(|(o, scope)| *o == key && scope.as_ref().is_none_or(|s| s.allows(repo)))
    }
}

/// The server's side of what repo configs may do: from the settings `allow_custom_workflows`,
/// `allowed_overrides` and `apply_requirements`.
#[derive(Debug, Clone)]
pub struct ServerPolicy {
    /// The repositories whose config may define workflows.
    pub allow_custom_workflows: RepoAllowlist,
    pub allowed_overrides: AllowedOverrides,
    /// What every project must at least require before an apply.
    pub apply_requirements: Vec<ApplyRequirement>,
}

impl ServerPolicy {
    /// Allows nothing and requires nothing: the defaults of the settings.
    pub fn strict() -> Self {
        Self {
            allow_custom_workflows: RepoAllowlist::parse("").expect("an empty list parses"),
            allowed_overrides: AllowedOverrides {
                entries: Vec::new(),
            },
            apply_requirements: Vec::new(),
        }
    }

    /// Allows everything and requires nothing: for `bosun preview`, where the repo is the
    /// user's own and nothing is applied.
    pub fn permissive() -> Self {
        Self {
            allow_custom_workflows: RepoAllowlist::parse("*/*").expect("a constant glob parses"),
            allowed_overrides: AllowedOverrides {
                entries: Override::ALL.into_iter().map(|o| (o, None)).collect(),
            },
            apply_requirements: Vec::new(),
        }
    }

    /// The requirements the server imposes on the project of `config` on `dir` and
    /// `workspace` named `name` (found as [`RepoConfig::project`] finds it) in `repo`: the
    /// `apply_requirements` setting, unless the repo may override it and that project sets
    /// its own.
    pub fn minimum(
        &self,
        repo: &str,
        config: Option<&RepoConfig>,
        (dir, workspace, name): (&str, &str, Option<&str>),
    ) -> &[ApplyRequirement] {
        let overridden = config.is_some_and(|c| {
            self.allowed_overrides
                .allows(repo, Override::ApplyRequirements)
                && c.project(dir, workspace, name)
                    .and_then(|found| c.projects.iter().position(|p| std::ptr::eq(p, found)))
                    .is_some_and(|i| c.sets(&format!("projects[{i}].apply_requirements")))
        });
        if overridden {
            &[]
        } else {
            &self.apply_requirements
        }
    }
}

/// Parses the `apply_requirements` setting: a comma-separated list of `approved`,
/// `mergeable` and `undiverged`.
pub fn parse_requirements(list: &str) -> Result<Vec<ApplyRequirement>, String> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let r = match item {
            "approved" => ApplyRequirement::Approved,
            "mergeable" => ApplyRequirement::Mergeable,
            "undiverged" => ApplyRequirement::Undiverged,
            other => {
                return Err(format!(
                    "`{other}` is not one of approved, mergeable, undiverged"
                ));
            }
        };
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}

fn requirement_name(r: ApplyRequirement) -> &'static str {
    match r {
        ApplyRequirement::Approved => "approved",
        ApplyRequirement::Mergeable => "mergeable",
        ApplyRequirement::Undiverged => "undiverged",
    }
}

/// Refuses a config of `repo` (`owner/name`) that sets what `policy` does not allow it; the
/// error names the first such key and where the file sets it.
pub fn check(config: &RepoConfig, repo: &str, policy: &ServerPolicy) -> Result<(), ConfigError> {
    let allowed = |o: Override| policy.allowed_overrides.allows(repo, o);
    if !config.workflows.is_empty() && !policy.allow_custom_workflows.allows(repo) {
        let name = config
            .workflows
            .first()
            .map(|w| w.name.as_str())
            .unwrap_or("");
        return Err(config.error_at(
            &format!("workflows.{name}"),
            format!(
                "custom workflows are not allowed (bosun's operator may allow them for {repo} \
                 in the allow_custom_workflows setting)"
            ),
        ));
    }
    let refuse = |path: &str, o: Override, sentence: &str| {
        config.error_at(
            path,
            format!(
                "{sentence} (bosun's operator may allow it for {repo} by adding `{o}` to the \
                 allowed_overrides setting)"
            ),
        )
    };
    if config.delete_source_branch_on_merge && !allowed(Override::DeleteSourceBranchOnMerge) {
        return Err(refuse(
            "delete_source_branch_on_merge",
            Override::DeleteSourceBranchOnMerge,
            "deleting the source branch on merge is not allowed",
        ));
    }
    let loosened = |mode: LockMode| {
        format!(
            "`repo_locks` mode `{}` is not allowed (bosun locks a project when it plans it)",
            mode.as_str()
        )
    };
    if config.repo_locks != LockMode::OnPlan && !allowed(Override::RepoLocks) {
        return Err(refuse(
            "repo_locks",
            Override::RepoLocks,
            &loosened(config.repo_locks),
        ));
    }
    for (i, p) in config.projects.iter().enumerate() {
        let key = format!("projects[{i}]");
        if let Some(mode) = p.repo_locks.filter(|m| *m != LockMode::OnPlan)
            && !allowed(Override::RepoLocks)
        {
            return Err(refuse(
                &format!("{key}.repo_locks"),
                Override::RepoLocks,
                &loosened(mode),
            ));
        }
        if let Some(w) = &p.workflow
            && w != "default"
            && !allowed(Override::Workflow)
        {
            return Err(refuse(
                &format!("{key}.workflow"),
                Override::Workflow,
                &format!("selecting the workflow `{w}` is not allowed"),
            ));
        }
        if p.delete_source_branch_on_merge == Some(true)
            && !allowed(Override::DeleteSourceBranchOnMerge)
        {
            return Err(refuse(
                &format!("{key}.delete_source_branch_on_merge"),
                Override::DeleteSourceBranchOnMerge,
                "deleting the source branch on merge is not allowed",
            ));
        }
        let path = format!("{key}.apply_requirements");
        if config.sets(&path) && !allowed(Override::ApplyRequirements) {
            let dropped: Vec<String> = policy
                .apply_requirements
                .iter()
                .filter(|r| !p.apply_requirements.contains(r))
                .map(|r| format!("`{}`", requirement_name(*r)))
                .collect();
            if !dropped.is_empty() {
                return Err(refuse(
                    &path,
                    Override::ApplyRequirements,
                    &format!(
                        "every project must require {}; leaving it out is not allowed",
                        dropped.join(" and ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
