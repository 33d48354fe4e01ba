//! What a pull request's repo config may set. The file comes from the pull request itself, so
//! it must not widen its own powers: custom workflows, `workflow:` selection, dropping an apply
//! requirement the server demands, `delete_source_branch_on_merge` and a `repo_locks` mode
//! other than `on_plan` are refused unless the
//! server's settings allow them for that repository (Atlantis's `allow_custom_workflows` and
//! `allowed_overrides`). Pure: [`check`] reads a parsed config and the settings, nothing else.

use std::fmt;
use std::sync::Arc;

use super::allowlist::RepoAllowlist;
use super::repo::server::{Hook, ServerConfig};
use super::repo::{ApplyRequirement, AutoDiscover, ConfigError, LockMode, RepoConfig, Workflow};

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
    /// A project's `plan_requirements` may drop requirements the server demands.
    PlanRequirements,
    /// A project's `import_requirements` may drop requirements the server demands.
    ImportRequirements,
    /// `autodiscover` other than the server's.
    Autodiscover,
    /// `silence_pr_comments` other than the server's.
    SilencePrComments,
}

impl Override {
    /// Every override, in the order users read them.
    pub const ALL: [Self; 8] = [
        Self::ApplyRequirements,
        Self::Workflow,
        Self::DeleteSourceBranchOnMerge,
        Self::RepoLocks,
        Self::PlanRequirements,
        Self::ImportRequirements,
        Self::Autodiscover,
        Self::SilencePrComments,
    ];

    /// The key as the repo config and the setting spell it.
    pub fn key(self) -> &'static str {
        match self {
            Self::ApplyRequirements => "apply_requirements",
            Self::Workflow => "workflow",
            Self::DeleteSourceBranchOnMerge => "delete_source_branch_on_merge",
            Self::RepoLocks => "repo_locks",
            Self::PlanRequirements => "plan_requirements",
            Self::ImportRequirements => "import_requirements",
            Self::Autodiscover => "autodiscover",
            Self::SilencePrComments => "silence_pr_comments",
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

/// The server's side of what repo configs may do: the settings `allow_custom_workflows`,
/// `allowed_overrides` and `apply_requirements` (read as a first `repos` entry, for every
/// repository), then the server config's entries (`BOSUN_SERVER_CONFIG`), later keys winning.
#[derive(Debug, Clone)]
pub struct ServerPolicy {
    /// The repositories whose config may define workflows.
    pub allow_custom_workflows: RepoAllowlist,
    pub allowed_overrides: AllowedOverrides,
    /// What every project must at least require before an apply.
    pub apply_requirements: Vec<ApplyRequirement>,
    /// The server config, when there is one.
    pub server: Option<Arc<ServerConfig>>,
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
            server: None,
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
            server: None,
        }
    }

    /// The rules for `repo` (`owner/name`) on base branch `branch`: the settings' first,
    /// then each server config entry for them in order, a key an entry sets replacing what
    /// came before.
    pub fn for_repo(&self, repo: &str, branch: &str) -> RepoRules {
        let mut rules = RepoRules {
            repo: repo.to_owned(),
            allow_custom_workflows: self.allow_custom_workflows.allows(repo),
            allowed_overrides: Override::ALL
                .into_iter()
                .filter(|o| self.allowed_overrides.allows(repo, *o))
                .collect(),
            apply_requirements: self.apply_requirements.clone(),
            ..RepoRules::default()
        };
        let Some(server) = &self.server else {
            return rules;
        };
        rules.server = Some(server.clone());
        for e in server.entries_for(repo, branch) {
            let set = |to: &mut Vec<ApplyRequirement>, from: &Option<Vec<ApplyRequirement>>| {
                if let Some(v) = from {
                    to.clone_from(v);
                }
            };
            set(&mut rules.apply_requirements, &e.apply_requirements);
            set(&mut rules.plan_requirements, &e.plan_requirements);
            set(&mut rules.import_requirements, &e.import_requirements);
            if let Some(v) = &e.allowed_overrides {
                rules.allowed_overrides.clone_from(v);
            }
            if let Some(v) = &e.allowed_workflows {
                rules.allowed_workflows.clone_from(v);
            }
            if let Some(v) = e.allow_custom_workflows {
                rules.allow_custom_workflows = v;
            }
            if let Some(v) = &e.workflow {
                rules.workflow = Some(v.clone());
            }
            if let Some(v) = e.delete_source_branch_on_merge {
                rules.delete_source_branch_on_merge = Some(v);
            }
            if let Some(v) = e.repo_locks {
                rules.repo_locks = Some(v);
            }
            if let Some(v) = &e.autodiscover {
                rules.autodiscover = Some(v.clone());
            }
            if let Some(v) = &e.silence_pr_comments {
                rules.silence_pr_comments = Some(v.clone());
            }
            if let Some(v) = &e.repo_config_file {
                rules.repo_config_file = Some(v.clone());
            }
            if let Some(v) = &e.pre_workflow_hooks {
                rules.pre_workflow_hooks.clone_from(v);
            }
            if let Some(v) = &e.post_workflow_hooks {
                rules.post_workflow_hooks.clone_from(v);
            }
            if let Some(v) = e.policy_check {
                rules.policy_check = v;
            }
        }
        rules
    }
}

/// The server's rules as they are now, shared by every job: replaced whole when the server
/// config is read again (SIGHUP), so a job that read them keeps what it read.
#[derive(Debug, Clone)]
pub struct Rules(Arc<std::sync::RwLock<Arc<ServerPolicy>>>);

impl Rules {
    pub fn new(policy: ServerPolicy) -> Self {
        Self(Arc::new(std::sync::RwLock::new(Arc::new(policy))))
    }

    pub fn current(&self) -> Arc<ServerPolicy> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn replace(&self, policy: ServerPolicy) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(policy);
    }
}

/// What the server allows and demands of one repository's config on one base branch (see
/// [`ServerPolicy::for_repo`]).
#[derive(Debug, Clone, Default)]
pub struct RepoRules {
    pub repo: String,
    /// The repo config may define `workflows`.
    pub allow_custom_workflows: bool,
    /// The repo-config keys the repo may set otherwise than the server.
    pub allowed_overrides: Vec<Override>,
    /// The workflows a project may select; empty: any it may name.
    pub allowed_workflows: Vec<String>,
    /// What every project must at least meet before an apply, a plan, an import.
    pub apply_requirements: Vec<ApplyRequirement>,
    pub plan_requirements: Vec<ApplyRequirement>,
    pub import_requirements: Vec<ApplyRequirement>,
    /// The server workflow projects run unless they select one.
    pub workflow: Option<String>,
    /// The server config, whose workflows a project may select too.
    pub server: Option<Arc<ServerConfig>>,
    /// The server's value of these repo-config keys, when it sets one.
    pub delete_source_branch_on_merge: Option<bool>,
    pub repo_locks: Option<LockMode>,
    pub autodiscover: Option<AutoDiscover>,
    pub silence_pr_comments: Option<Vec<String>>,
    /// Where the repo config is in the repository.
    pub repo_config_file: Option<String>,
    /// Run at the root of a pull request's checkout before a command finds its projects, and
    /// after it (see `workflow::hooks`).
    pub pre_workflow_hooks: Vec<Hook>,
    pub post_workflow_hooks: Vec<Hook>,
    /// The server config's policy sets are evaluated after each plan (`policy_check: true`).
    pub policy_check: bool,
}

/// Which of a project's requirement lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirements {
    Apply,
    Plan,
    Import,
}

impl Requirements {
    fn key(self) -> &'static str {
        match self {
            Self::Apply => "apply_requirements",
            Self::Plan => "plan_requirements",
            Self::Import => "import_requirements",
        }
    }

    fn overridden_by(self) -> Override {
        match self {
            Self::Apply => Override::ApplyRequirements,
            Self::Plan => Override::PlanRequirements,
            Self::Import => Override::ImportRequirements,
        }
    }
}

impl RepoRules {
    /// The policy sets checked after each plan: the server config's, when `policy_check` is
    /// on for the repository; else none.
    pub fn policies(&self) -> Option<&crate::policy::Policies> {
        self.server
            .as_deref()
            .map(|s| &s.policies)
            .filter(|p| self.policy_check && !p.sets.is_empty())
    }

    pub fn allows(&self, key: Override) -> bool {
        self.allowed_overrides.contains(&key)
    }

    fn floor(&self, which: Requirements) -> &[ApplyRequirement] {
        match which {
            Requirements::Apply => &self.apply_requirements,
            Requirements::Plan => &self.plan_requirements,
            Requirements::Import => &self.import_requirements,
        }
    }

    /// The workflow a project of a repository without a repo config runs: the server
    /// workflow `workflow` names, else the server's workflow named `default`; `None`:
    /// bosun's own.
    pub fn workflow_without_config(&self) -> Option<&Workflow> {
        let name = self.workflow.as_deref().unwrap_or("default");
        self.server_workflows().iter().find(|w| w.name == name)
    }

    /// The server's workflows.
    pub fn server_workflows(&self) -> &[Workflow] {
        self.server.as_ref().map_or(&[], |s| &s.workflows)
    }

    /// The names of the server's workflows (a project may name them as well as the repo
    /// config's own).
    pub fn server_workflow_names(&self) -> Vec<&str> {
        self.server_workflows()
            .iter()
            .map(|w| w.name.as_str())
            .collect()
    }

    /// The requirements of `which` the server imposes on the project of `config` on `dir`
    /// and `workspace` named `name` (found as [`RepoConfig::project`] finds it): its floor,
    /// unless the repo may override it and that project sets its own list.
    pub fn minimum(
        &self,
        which: Requirements,
        config: Option<&RepoConfig>,
        (dir, workspace, name): (&crate::ids::Dir, &crate::ids::Workspace, Option<&str>),
    ) -> &[ApplyRequirement] {
        let overridden = config.is_some_and(|c| {
            self.allows(which.overridden_by())
                && c.project(dir, workspace, name)
                    .and_then(|found| c.projects.iter().position(|p| std::ptr::eq(p, found)))
                    .is_some_and(|i| c.sets(&format!("projects[{i}].{}", which.key())))
        });
        if overridden { &[] } else { self.floor(which) }
    }

    /// `config` (already [`check`]ed against these rules) with the server's values where it
    /// sets none: its `delete_source_branch_on_merge`, `repo_locks`, `autodiscover` and
    /// `silence_pr_comments`, the server's workflow for projects that select none, and the
    /// server's workflows it does not define itself (its own of a name come first).
    pub fn complete(&self, config: &mut RepoConfig) {
        if let Some(v) = self.delete_source_branch_on_merge
            && !config.sets("delete_source_branch_on_merge")
        {
            config.delete_source_branch_on_merge = v;
        }
        if let Some(v) = self.repo_locks
            && !config.sets("repo_locks")
        {
            config.repo_locks = v;
        }
        if let Some(v) = &self.autodiscover
            && !config.sets("autodiscover")
        {
            config.autodiscover = v.clone();
        }
        if let Some(v) = &self.silence_pr_comments
            && !config.sets("silence_pr_comments")
        {
            config.silence_pr_comments = v.clone();
        }
        if let Some(w) = &self.workflow {
            for p in config.projects.iter_mut().filter(|p| p.workflow.is_none()) {
                p.workflow = Some(w.clone());
            }
        }
        for w in self.server_workflows() {
            if !config.workflows.iter().any(|own| own.name == w.name) {
                config.workflows.push(w.clone());
            }
        }
    }
}

/// The most a server config file may hold.
const MAX_SERVER_CONFIG: u64 = 1 << 20;

/// Reads and parses the server config at `path`; the error says where and what, as
/// `file:line:column: key: message`.
pub fn read_server_config(path: &std::path::Path) -> Result<ServerConfig, String> {
    use std::io::Read as _;
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let mut text = String::new();
    file.take(MAX_SERVER_CONFIG + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("{name}: cannot read: {e}"))?;
    if text.len() as u64 > MAX_SERVER_CONFIG {
        return Err(format!("{name}: larger than {MAX_SERVER_CONFIG} bytes"));
    }
    super::repo::server::parse(&name, &text).map_err(|e| e.to_string())
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
        ApplyRequirement::PoliciesPassed => "policies_passed",
    }
}

/// Refuses a config that sets what `rules` do not allow its repository; the error names the
/// first such key and where the file sets it.
pub fn check(config: &RepoConfig, rules: &RepoRules) -> Result<(), ConfigError> {
    let repo = rules.repo.as_str();
    let allowed = |o: Override| rules.allows(o);
    let where_set = "the allowed_overrides setting or the server config";
    if !config.workflows.is_empty() && !rules.allow_custom_workflows {
        let name = config
            .workflows
            .first()
            .map(|w| w.name.as_str())
            .unwrap_or("");
        return Err(config.error_at(
            &format!("workflows.{name}"),
            format!(
                "custom workflows are not allowed (bosun's operator may allow them for {repo} \
                 in the allow_custom_workflows setting or the server config)"
            ),
        ));
    }
    let refuse = |path: &str, o: Override, sentence: &str| {
        config.error_at(
            path,
            format!(
                "{sentence} (bosun's operator may allow it for {repo} by adding `{o}` to \
                 {where_set})"
            ),
        )
    };
    let server_deletes = rules.delete_source_branch_on_merge.unwrap_or(false);
    if config.sets("delete_source_branch_on_merge")
        && config.delete_source_branch_on_merge != server_deletes
        && !allowed(Override::DeleteSourceBranchOnMerge)
    {
        return Err(refuse(
            "delete_source_branch_on_merge",
            Override::DeleteSourceBranchOnMerge,
            &format!(
                "`delete_source_branch_on_merge: {}` is not allowed (the server's is {server_deletes})",
                config.delete_source_branch_on_merge
            ),
        ));
    }
    let server_locks = rules.repo_locks.unwrap_or(LockMode::OnPlan);
    let loosened = |mode: LockMode| {
        format!(
            "`repo_locks` mode `{}` is not allowed (the server's is `{}`)",
            mode.as_str(),
            server_locks.as_str()
        )
    };
    if config.sets("repo_locks")
        && config.repo_locks != server_locks
        && !allowed(Override::RepoLocks)
    {
        return Err(refuse(
            "repo_locks",
            Override::RepoLocks,
            &loosened(config.repo_locks),
        ));
    }
    if let Some(server) = &rules.autodiscover
        && config.sets("autodiscover")
        && &config.autodiscover != server
        && !allowed(Override::Autodiscover)
    {
        return Err(refuse(
            "autodiscover",
            Override::Autodiscover,
            "an `autodiscover` other than the server's is not allowed",
        ));
    }
    if let Some(server) = &rules.silence_pr_comments
        && config.sets("silence_pr_comments")
        && &config.silence_pr_comments != server
        && !allowed(Override::SilencePrComments)
    {
        return Err(refuse(
            "silence_pr_comments",
            Override::SilencePrComments,
            "a `silence_pr_comments` other than the server's is not allowed",
        ));
    }
    for (i, p) in config.projects.iter().enumerate() {
        let key = format!("projects[{i}]");
        if let Some(mode) = p.repo_locks.filter(|m| *m != server_locks)
            && !allowed(Override::RepoLocks)
        {
            return Err(refuse(
                &format!("{key}.repo_locks"),
                Override::RepoLocks,
                &loosened(mode),
            ));
        }
        if let Some(w) = &p.workflow {
            let server_default = rules.workflow.as_deref().unwrap_or("default");
            if w != server_default && !allowed(Override::Workflow) {
                return Err(refuse(
                    &format!("{key}.workflow"),
                    Override::Workflow,
                    &format!("selecting the workflow `{w}` is not allowed"),
                ));
            }
            // `allowed_workflows` picks among the server's workflows; one the repo config
            // defines is its own (custom workflows are allowed, or it was refused above).
            let own = config.workflows.iter().any(|x| &x.name == w);
            if !own && !rules.allowed_workflows.is_empty() && !rules.allowed_workflows.contains(w) {
                return Err(config.error_at(
                    &format!("{key}.workflow"),
                    format!(
                        "the workflow `{w}` is not allowed for {repo} (the server config's \
                         allowed_workflows: {})",
                        rules.allowed_workflows.join(", ")
                    ),
                ));
            }
        }
        if let Some(v) = p
            .delete_source_branch_on_merge
            .filter(|v| *v != server_deletes)
            && !allowed(Override::DeleteSourceBranchOnMerge)
        {
            return Err(refuse(
                &format!("{key}.delete_source_branch_on_merge"),
                Override::DeleteSourceBranchOnMerge,
                &format!(
                    "`delete_source_branch_on_merge: {v}` is not allowed (the server's is {server_deletes})"
                ),
            ));
        }
        for which in [
            Requirements::Apply,
            Requirements::Plan,
            Requirements::Import,
        ] {
            let path = format!("{key}.{}", which.key());
            if !config.sets(&path) || allowed(which.overridden_by()) {
                continue;
            }
            let own = match which {
                Requirements::Apply => &p.apply_requirements,
                Requirements::Plan => &p.plan_requirements,
                Requirements::Import => &p.import_requirements,
            };
            let dropped: Vec<String> = rules
                .floor(which)
                .iter()
                .filter(|r| !own.contains(r))
                .map(|r| format!("`{}`", requirement_name(*r)))
                .collect();
            if !dropped.is_empty() {
                return Err(refuse(
                    &path,
                    which.overridden_by(),
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
