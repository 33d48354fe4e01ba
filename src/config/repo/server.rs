//! The server's own repo config (`BOSUN_SERVER_CONFIG`, Atlantis's `--repo-config`): a
//! `repos.yaml` in Atlantis's shape, whose `repos:` entries say, per repository (an exact
//! `owner/name` or a `/regex/`) and base branch (`branch: /regex/`), what a repository's own
//! config may do and must meet; top-level `workflows` are the server's workflows. Read with the
//! repo config's grammar (the same strict keys, `file:line:column: key: message` errors).
//! Pure: parsing here, merging for a repository in [`ServerConfig::entries_for`].

use std::cell::RefCell;

use regex::Regex;

mod hooks;
pub use hooks::{COMMANDS as HOOK_COMMANDS, Hook};

use super::workflow::{self, is_null};
use super::{
    ApplyRequirement, AutoDiscover, ConfigError, Ctx, LockMode, Workflow, modes, requirements,
    silenced,
};
use crate::config::powers::Override;
use crate::config::yaml::{Node, Value};

/// Which repositories an entry is for.
#[derive(Debug, Clone)]
pub enum RepoId {
    /// `owner/name`, compared without regard to case, as GitHub compares names. Atlantis's
    /// `github.com/owner/name` form is read as `owner/name`.
    Exact(String),
    /// `/regex/`, matched against `owner/name` (Atlantis matches `github.com/owner/name`:
    /// an unanchored regex reads alike on both).
    Pattern(Regex),
}

impl RepoId {
    pub fn matches(&self, repo: &str) -> bool {
        match self {
            Self::Exact(name) => name.eq_ignore_ascii_case(repo),
            Self::Pattern(re) => re.is_match(repo) || re.is_match(&format!("github.com/{repo}")),
        }
    }
}

/// One `repos:` entry: every key is `None` when the entry does not set it (a later entry's
/// set key wins over an earlier one's, as in Atlantis).
#[derive(Debug, Clone, Default)]
pub struct RepoEntry {
    pub id: Option<RepoId>,
    /// A regex on the base branch; `None`: any branch.
    pub branch: Option<Regex>,
    pub apply_requirements: Option<Vec<ApplyRequirement>>,
    pub plan_requirements: Option<Vec<ApplyRequirement>>,
    pub import_requirements: Option<Vec<ApplyRequirement>>,
    pub allowed_overrides: Option<Vec<Override>>,
    /// The workflows (the server's or the repo's) a project may select; empty: any.
    pub allowed_workflows: Option<Vec<String>>,
    pub allow_custom_workflows: Option<bool>,
    /// The server workflow a project runs unless it selects one.
    pub workflow: Option<String>,
    pub delete_source_branch_on_merge: Option<bool>,
    pub repo_locks: Option<LockMode>,
    pub autodiscover: Option<AutoDiscover>,
    pub silence_pr_comments: Option<Vec<String>>,
    /// The repo config's path in the repository.
    pub repo_config_file: Option<String>,
    pub pre_workflow_hooks: Option<Vec<Hook>>,
    pub post_workflow_hooks: Option<Vec<Hook>>,
    /// `policy_check`: the policy sets are evaluated after each plan.
    pub policy_check: Option<bool>,
    /// Where the entry is, for messages.
    pub line: usize,
}

/// A parsed `repos.yaml`.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// The file it was read from.
    pub file: String,
    pub repos: Vec<RepoEntry>,
    /// The server's workflows, in the file's order.
    pub workflows: Vec<Workflow>,
    /// `policies:`, their Rego read.
    pub policies: crate::policy::Policies,
}

impl ServerConfig {
    /// The entries for `repo` (`owner/name`) whose base branch is `branch`, in the file's
    /// order: merged by the caller, later keys winning.
    pub fn entries_for<'a>(
        &'a self,
        repo: &'a str,
        branch: &'a str,
    ) -> impl Iterator<Item = &'a RepoEntry> + 'a {
        self.repos.iter().filter(move |e| {
            e.id.as_ref().is_some_and(|id| id.matches(repo))
                && e.branch.as_ref().is_none_or(|b| b.is_match(branch))
        })
    }

    /// The server workflow named `name`.
    pub fn workflow(&self, name: &str) -> Option<&Workflow> {
        self.workflows.iter().find(|w| w.name == name)
    }
}

const TOP_KEYS: &[&str] = &["repos", "workflows", "policies", "metrics"];

const REPO_KEYS: &[&str] = &[
    "id",
    "branch",
    "apply_requirements",
    "plan_requirements",
    "import_requirements",
    "allowed_overrides",
    "allowed_workflows",
    "allow_custom_workflows",
    "workflow",
    "delete_source_branch_on_merge",
    "repo_locks",
    "repo_locking",
    "policy_check",
    "custom_policy_check",
    "autodiscover",
    "silence_pr_comments",
    "repo_config_file",
    "pre_workflow_hooks",
    "post_workflow_hooks",
];

/// Keys of Atlantis's `repos.yaml` that bosun reads but cannot act on yet: refused with a
/// message saying so, rather than ignored (an operator relying on a policy must
/// know it does not run).
const NOT_YET: &[(&str, &str)] = &[
    (
        "custom_policy_check",
        "custom policy checks (a workflow's own policy_check steps) are not run by bosun; \
         remove the key (the `policies:` sets are evaluated with `policy_check: true`)",
    ),
    (
        "metrics",
        "bosun's metrics are at /metrics and take no settings here; remove the key",
    ),
];

/// Parses and checks a server config; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<ServerConfig, ConfigError> {
    let ctx = Ctx {
        file,
        keys: RefCell::default(),
    };
    let root = super::root_of(file, text, "the file is empty (it needs at least `repos:`)")?;
    let mut config = ServerConfig {
        file: file.into(),
        ..ServerConfig::default()
    };
    for (name, k, v) in ctx.entries(&root, "", TOP_KEYS)? {
        if is_null(v) {
            continue;
        }
        if let Some((_, why)) = NOT_YET.iter().find(|(key, _)| *key == name) {
            return Err(ctx.err(k, &name, *why));
        }
        match name.as_str() {
            "repos" => {
                for (i, entry) in ctx.seq(v, "repos")?.iter().enumerate() {
                    config
                        .repos
                        .push(repo_entry(&ctx, entry, &format!("repos[{i}]"))?);
                }
            }
            "policies" => config.policies = policies::policies(&ctx, v, file)?,
            "workflows" => {
                for (wk, wv) in ctx.map(v, "workflows")? {
                    let wname = ctx.string(wk, "workflows")?;
                    let path = format!("workflows.{wname}");
                    if config.workflows.iter().any(|w| w.name == wname) {
                        return Err(ctx.err(wk, &path, "key given twice"));
                    }
                    // The server's workflows are read as version 3 reads them.
                    config
                        .workflows
                        .push(workflow::workflow(&ctx, wname, wv, &path, 3)?);
                }
            }
            _ => return Err(ctx.err(k, &name, "unknown key")),
        }
    }
    check_workflow_names(&ctx, &root, &config)?;
    check_policy_check(&ctx, &config)?;
    Ok(config)
}

fn repo_entry(ctx: &Ctx, node: &Node, path: &str) -> Result<RepoEntry, ConfigError> {
    let mut e = RepoEntry {
        line: node.line,
        ..RepoEntry::default()
    };
    for (name, k, v) in ctx.entries(node, path, REPO_KEYS)? {
        let key = format!("{path}.{name}");
        if let Some((_, why)) = NOT_YET.iter().find(|(n, _)| *n == name) {
            if !is_null(v) {
                return Err(ctx.err(k, &key, *why));
            }
            continue;
        }
        if is_null(v) {
            continue;
        }
        match name.as_str() {
            "id" => e.id = Some(repo_id(ctx, v, &key)?),
            "branch" => e.branch = Some(slashed_regex(ctx, v, &key)?),
            "apply_requirements" => e.apply_requirements = Some(requirements(ctx, v, &key)?),
            "plan_requirements" => e.plan_requirements = Some(requirements(ctx, v, &key)?),
            "import_requirements" => e.import_requirements = Some(requirements(ctx, v, &key)?),
            "allowed_overrides" => e.allowed_overrides = Some(overrides(ctx, v, &key)?),
            "allowed_workflows" => e.allowed_workflows = Some(ctx.strings(v, &key)?),
            "allow_custom_workflows" => e.allow_custom_workflows = Some(ctx.bool(v, &key)?),
            "workflow" => e.workflow = Some(ctx.string(v, &key)?),
            "delete_source_branch_on_merge" => {
                e.delete_source_branch_on_merge = Some(ctx.bool(v, &key)?)
            }
            "repo_locks" => e.repo_locks = modes::repo_locks(ctx, v, &key)?,
            // Atlantis's older spelling: `repo_locking: false` is `repo_locks: {mode: disabled}`.
            "repo_locking" => {
                e.repo_locks = Some(if ctx.bool(v, &key)? {
                    LockMode::OnPlan
                } else {
                    LockMode::Disabled
                })
            }
            "policy_check" => e.policy_check = Some(ctx.bool(v, &key)?),
            "autodiscover" => e.autodiscover = Some(modes::autodiscover(ctx, v, &key)?),
            "silence_pr_comments" => e.silence_pr_comments = Some(silenced(ctx, v, &key)?),
            "repo_config_file" => e.repo_config_file = Some(repo_config_file(ctx, v, &key)?),
            "pre_workflow_hooks" => e.pre_workflow_hooks = Some(hooks::hooks(ctx, v, &key)?),
            "post_workflow_hooks" => e.post_workflow_hooks = Some(hooks::hooks(ctx, v, &key)?),
            _ => return Err(ctx.err(k, &key, "unknown key")),
        }
    }
    if e.id.is_none() {
        return Err(ctx.err(
            node,
            &format!("{path}.id"),
            "missing: each entry names its repositories (`owner/name` or `/regex/`)",
        ));
    }
    Ok(e)
}

/// `owner/name` (or Atlantis's `github.com/owner/name`), or `/regex/`.
fn repo_id(ctx: &Ctx, node: &Node, key: &str) -> Result<RepoId, ConfigError> {
    let text = ctx.string(node, key)?;
    if text.starts_with('/') {
        return Ok(RepoId::Pattern(slashed_regex(ctx, node, key)?));
    }
    let name = text.strip_prefix("github.com/").unwrap_or(&text);
    let plausible = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match name.split_once('/') {
        Some((owner, repo)) if plausible(owner) && plausible(repo) => {
            Ok(RepoId::Exact(name.to_owned()))
        }
        _ => Err(ctx.err(
            node,
            key,
            format!("`{text}` is neither `owner/name` nor a `/regex/`"),
        )),
    }
}

/// The most a regex of the file may take once compiled: a pattern is the operator's, but a
/// typo should not cost the server its memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A `/regex/` (Atlantis writes `id` and `branch` patterns between slashes).
fn slashed_regex(ctx: &Ctx, node: &Node, key: &str) -> Result<Regex, ConfigError> {
    let text = ctx.string(node, key)?;
    let Some(inner) = text
        .strip_prefix('/')
        .and_then(|t| t.strip_suffix('/'))
        .filter(|_| text.len() >= 2)
    else {
        return Err(ctx.err(
            node,
            key,
            format!("`{text}` is not a regex between slashes, like `/^main$/`"),
        ));
    };
    regex::RegexBuilder::new(inner)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            let first = e.to_string();
            let first = first.lines().last().unwrap_or("").trim().to_owned();
            ctx.err(node, key, format!("`{text}` is not a valid regex: {first}"))
        })
}

fn overrides(ctx: &Ctx, node: &Node, key: &str) -> Result<Vec<Override>, ConfigError> {
    let mut out = Vec::new();
    for (i, item) in ctx.seq(node, key)?.iter().enumerate() {
        let name = ctx.string(item, key)?;
        // Atlantis's older name of `repo_locks`.
        let name = if name == "repo_locking" {
            "repo_locks".to_owned()
        } else {
            name
        };
        let Some(o) = Override::ALL.into_iter().find(|o| o.key() == name) else {
            let known: Vec<&str> = Override::ALL.iter().map(|o| o.key()).collect();
            return Err(ctx.err(
                item,
                &format!("{key}[{i}]"),
                format!(
                    "`{name}` is not a key a repo may be allowed to set; use {}",
                    known.join(", ")
                ),
            ));
        };
        if !out.contains(&o) {
            out.push(o);
        }
    }
    Ok(out)
}

/// A relative path inside the repository, with no `..`, as `BOSUN_REPO_CONFIG_FILE` is.
fn repo_config_file(ctx: &Ctx, node: &Node, key: &str) -> Result<String, ConfigError> {
    let text = ctx.string(node, key)?;
    let ok = !text.starts_with('/')
        && !text.contains('\\')
        && !text.contains('\0')
        && text
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..");
    if !ok {
        return Err(ctx.err(
            node,
            key,
            format!("`{text}` is not a relative path inside the repository"),
        ));
    }
    Ok(text)
}

/// Every workflow an entry names (`workflow`, `allowed_workflows`) is one of the file's.
fn check_workflow_names(ctx: &Ctx, root: &Node, config: &ServerConfig) -> Result<(), ConfigError> {
    let defined = |name: &str| name == "default" || config.workflow(name).is_some();
    let at = |path: &str| {
        let (line, col) = ctx
            .keys
            .borrow()
            .get(path)
            .copied()
            .unwrap_or((root.line, root.col));
        Node {
            value: Value::Scalar(String::new(), false),
            line,
            col,
        }
    };
    for (i, e) in config.repos.iter().enumerate() {
        if let Some(w) = e.workflow.as_deref().filter(|w| !defined(w)) {
            let path = format!("repos[{i}].workflow");
            return Err(ctx.err(
                &at(&path),
                &path,
                format!("the workflow `{w}` is not defined under the file's `workflows`"),
            ));
        }
    }
    Ok(())
}

/// An entry turning policy checks on needs a policy set to check.
fn check_policy_check(ctx: &Ctx, config: &ServerConfig) -> Result<(), ConfigError> {
    if !config.policies.sets.is_empty() {
        return Ok(());
    }
    for (i, e) in config.repos.iter().enumerate() {
        if e.policy_check == Some(true) {
            let path = format!("repos[{i}].policy_check");
            let (line, col) = ctx.keys.borrow().get(&path).copied().unwrap_or((e.line, 1));
            let at = Node {
                value: Value::Scalar(String::new(), false),
                line,
                col,
            };
            return Err(ctx.err(
                &at,
                &path,
                "policy checks are on, but `policies.policy_sets` defines no policy set",
            ));
        }
    }
    Ok(())
}

mod policies;

#[cfg(test)]
mod tests;
