//! The repo config a pull request carries: `bosun.yaml`, else `atlantis.yaml` (Atlantis's
//! version 3 schema, plus bosun's `apply_on_merge`). Strict: unknown keys and bad values are
//! errors naming the key, with `file:line:column`.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::yaml::{self, Node, Value};
use crate::ids::{Dir, Workspace};

mod dir_globs;
mod distribution;
mod modes;
pub mod server;
mod shell_step;
mod terraform_version;
mod workflow;
pub use dir_globs::{is_project_file, terraform_dirs};
pub use distribution::Distribution;
pub use modes::{AutoDiscover, DiscoverMode, LockMode};
pub use shell_step::{Output, Shell, ShellCommand};
use workflow::is_null;
pub use workflow::{EnvValue, OtherStep, Workflow, WorkflowStep};

#[cfg(test)]
mod atlantis_aux_compat;
#[cfg(test)]
mod atlantis_compat;

/// The file names bosun reads, in order of preference.
pub const FILE_NAMES: [&str; 2] = ["bosun.yaml", "atlantis.yaml"];

/// The `.yml` spelling of a repo config file name (`atlantis.yaml` → `atlantis.yml`).
pub fn yml_twin(file: &str) -> Option<String> {
    file.strip_suffix(".yaml").map(|stem| format!("{stem}.yml"))
}

/// Refuses a commit holding the `.yml` twin of one of `files` (the names bosun reads; `has`
/// says which paths the commit holds), as Atlantis refuses `atlantis.yml`.
pub fn refuse_yml_twins(files: &[&str], has: impl Fn(&str) -> bool) -> Result<(), ConfigError> {
    for file in files {
        if let Some(yml) = yml_twin(file).filter(|yml| has(yml)) {
            return Err(ConfigError {
                message: format!(
                    "found {yml} as config file; rename using the .yaml extension: {file}"
                ),
                file: yml,
                line: 1,
                col: 1,
                key: String::new(),
            });
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoConfig {
    /// 2 or 3 (Atlantis's schema versions; 2 shell-splits `run` commands).
    pub version: i64,
    pub automerge: bool,
    /// `false`: a pull request's projects plan one at a time, in the config's order (absent:
    /// `true`, bosun's default, up to BOSUN_PARALLELISM at once).
    pub parallel_plan: bool,
    pub parallel_apply: bool,
    /// Once an execution order group fails to apply, skip the later groups (absent: `true`,
    /// bosun's default; `false` applies them anyway).
    pub abort_on_execution_order_fail: bool,
    /// Which projects bosun finds beyond the listed ones.
    pub autodiscover: AutoDiscover,
    /// When a project's lock is taken, unless the project says (`repo_locks.mode`).
    pub repo_locks: LockMode,
    pub delete_source_branch_on_merge: bool,
    pub apply_on_merge: bool,
    pub projects: Vec<Project>,
    /// Atlantis's `silence_pr_comments`: the stages (`plan`, `apply`) whose results get no
    /// pull request comment (check runs still say them); a project's own list replaces it.
    pub silence_pr_comments: Vec<String>,
    /// A `-p` value starting with one of these is a pattern over project names, not a name
    /// (see [`crate::command::NameMatcher`]).
    pub allowed_regexp_prefixes: Vec<String>,
    /// The workflows the file defines, in its order.
    pub workflows: Vec<Workflow>,
    /// The file it was read from, for errors found after parsing (see [`RepoConfig::error_at`]).
    pub file: String,
    /// Where each key the file sets sits, by its path (`projects[0].workflow`,
    /// `workflows.custom`): line and column, 1-based.
    pub keys: BTreeMap<String, (usize, usize)>,
}

impl RepoConfig {
    /// The project on `dir` and `workspace` named `name`: the one of that name when the file
    /// has one, else the one on that dir and workspace (how a project of one commit is found
    /// in another commit's config) when it is the only one there: of several named projects
    /// sharing them, none is taken for another.
    pub fn project(
        &self,
        dir: &Dir,
        workspace: &Workspace,
        name: Option<&str>,
    ) -> Option<&Project> {
        let named = name.and_then(|n| self.projects.iter().find(|p| p.name.as_deref() == Some(n)));
        named.or_else(|| {
            let mut there = self
                .projects
                .iter()
                .filter(|p| &p.dir == dir && &p.workspace == workspace);
            match (there.next(), there.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        })
    }

    /// The custom workflow a project runs (see [`RepoConfig::project`]): the one it names,
    /// else a workflow the file names `default` (as in Atlantis); `None`: bosun's own.
    pub fn workflow_of(
        &self,
        dir: &Dir,
        workspace: &Workspace,
        name: Option<&str>,
    ) -> Option<&Workflow> {
        let wanted = self
            .project(dir, workspace, name)
            .and_then(|p| p.workflow.as_deref())
            .unwrap_or("default");
        self.workflows.iter().find(|w| w.name == wanted)
    }

    /// Whether the results of `stage` (`plan` or `apply`) of the project on `dir` and
    /// `workspace` named `name` go without a pull request comment: the project's
    /// `silence_pr_comments` when it has one, else the file's.
    pub fn silences(
        &self,
        (dir, workspace, name): &(&Dir, &Workspace, Option<&str>),
        stage: &str,
    ) -> bool {
        self.project(dir, workspace, *name)
            .and_then(|p| p.silence_pr_comments.as_ref())
            .unwrap_or(&self.silence_pr_comments)
            .iter()
            .any(|s| s == stage)
    }

    /// Whether bosun discovers projects (as without a repo config) beside the listed ones:
    /// `autodiscover.mode` `enabled`, or `auto` (the default) with no project listed.
    pub fn discovers(&self) -> bool {
        match self.autodiscover.mode {
            DiscoverMode::Auto => self.projects.is_empty(),
            DiscoverMode::Enabled => true,
            DiscoverMode::Disabled => false,
        }
    }

    /// Whether the file sets the key at `path` (like `projects[0].apply_requirements`).
    pub fn sets(&self, path: &str) -> bool {
        self.keys.contains_key(path)
    }

    /// An error about the key at `path`, placed where the file sets it (else at its start).
    pub fn error_at(&self, path: &str, message: impl Into<String>) -> ConfigError {
        let (line, col) = self.keys.get(path).copied().unwrap_or((1, 1));
        ConfigError {
            file: self.file.clone(),
            line,
            col,
            key: path.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyRequirement {
    Approved,
    Mergeable,
    Undiverged,
    /// Atlantis's `policies_passed`: no failed policy set left unapproved. bosun holds every
    /// project of a repository with policy checks on to it whether or not it is listed.
    PoliciesPassed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub name: Option<String>,
    /// Relative to the repository root, normalised (`.` for the root); a glob pattern when
    /// `dir_glob`.
    pub dir: Dir,
    /// `dir` is a pattern (`modules/*`) for [`RepoConfig::expand_dir_globs`] to replace by
    /// one project per Terraform directory it matches; never planned as it is.
    pub dir_glob: bool,
    pub workspace: Workspace,
    /// A regex on the base branch (Atlantis writes it between slashes: `/main/`).
    pub branch: Option<String>,
    pub autoplan_enabled: bool,
    /// Globs relative to the project dir.
    pub when_modified: Vec<String>,
    pub terraform_version: Option<String>,
    /// The program the project expects; its plan fails when the server runs the other one.
    pub terraform_distribution: Option<Distribution>,
    /// What a pull request must meet before the project plans (autoplan and `plan` alike).
    pub plan_requirements: Vec<ApplyRequirement>,
    pub apply_requirements: Vec<ApplyRequirement>,
    /// What `import` and `state rm` require (Atlantis's `import_requirements`).
    pub import_requirements: Vec<ApplyRequirement>,
    pub workflow: Option<String>,
    pub execution_order_group: i64,
    /// `None`: the top level's.
    pub repo_locks: Option<LockMode>,
    /// `None`: the top level's.
    pub apply_on_merge: Option<bool>,
    pub delete_source_branch_on_merge: Option<bool>,
    /// `silence_pr_comments`; `None`: the file's.
    pub silence_pr_comments: Option<Vec<String>>,
}

impl Project {
    /// `bosun/plan: <this>`: the name, else the dir, with `:<workspace>` unless default.
    pub fn display_name(&self) -> String {
        let base = self.name.clone().unwrap_or_else(|| self.dir.to_string());
        if self.workspace.is_default() {
            base
        } else {
            format!("{base}:{}", self.workspace)
        }
    }
}

/// A problem in the file, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    /// The key's path, like `projects[1].dir`; empty for the whole file.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.col)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

struct Ctx<'a> {
    file: &'a str,
    /// Every key seen, by path, and where.
    keys: RefCell<BTreeMap<String, (usize, usize)>>,
}

impl Ctx<'_> {
    fn record(&self, path: &str, node: &Node) {
        self.keys
            .borrow_mut()
            .insert(path.to_owned(), (node.line, node.col));
    }

    fn err(&self, node: &Node, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.into(),
            line: node.line,
            col: node.col,
            key: key.into(),
            message: message.into(),
        }
    }

    fn map<'n>(&self, node: &'n Node, key: &str) -> Result<&'n [(Node, Node)], ConfigError> {
        match &node.value {
            Value::Map(entries) => Ok(entries),
            _ => Err(self.err(node, key, "expected a mapping of keys to values")),
        }
    }

    fn seq<'n>(&self, node: &'n Node, key: &str) -> Result<&'n [Node], ConfigError> {
        match &node.value {
            Value::Seq(items) => Ok(items),
            _ => Err(self.err(node, key, "expected a list")),
        }
    }

    fn string(&self, node: &Node, key: &str) -> Result<String, ConfigError> {
        match &node.value {
            Value::Scalar(s, _) if !s.is_empty() => Ok(s.clone()),
            _ => Err(self.err(node, key, "expected a non-empty string")),
        }
    }

    fn bool(&self, node: &Node, key: &str) -> Result<bool, ConfigError> {
        match &node.value {
            Value::Scalar(s, false) if s == "true" => Ok(true),
            Value::Scalar(s, false) if s == "false" => Ok(false),
            _ => Err(self.err(node, key, "expected true or false")),
        }
    }

    fn int(&self, node: &Node, key: &str) -> Result<i64, ConfigError> {
        match &node.value {
            Value::Scalar(s, false) => s
                .parse()
                .map_err(|_| self.err(node, key, "expected a whole number")),
            _ => Err(self.err(node, key, "expected a whole number")),
        }
    }

    fn strings(&self, node: &Node, key: &str) -> Result<Vec<String>, ConfigError> {
        self.seq(node, key)?
            .iter()
            .enumerate()
            .map(|(i, n)| self.string(n, &format!("{key}[{i}]")))
            .collect()
    }

    /// The entries of a mapping, refusing unknown and repeated keys.
    fn entries<'n>(
        &self,
        node: &'n Node,
        key: &str,
        known: &[&str],
    ) -> Result<Vec<(String, &'n Node, &'n Node)>, ConfigError> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for (k, v) in self.map(node, key)? {
            let name = match &k.value {
                Value::Scalar(s, _) => s.clone(),
                _ => return Err(self.err(k, key, "keys must be plain words")),
            };
            let path = if key.is_empty() {
                name.clone()
            } else {
                format!("{key}.{name}")
            };
            if !known.contains(&name.as_str()) && ATLANTIS_ONLY.contains(&name.as_str()) {
                return Err(self.err(
                    k,
                    &path,
                    "Atlantis's key, which bosun cannot act on yet: it is refused rather than \
                     ignored (remove it)",
                ));
            }
            if !known.contains(&name.as_str()) {
                let hint = crate::names::closest(&name, known.iter().copied())
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                return Err(self.err(k, &path, format!("unknown key{hint}")));
            }
            if !seen.insert(name.clone()) {
                return Err(self.err(k, &path, "key given twice"));
            }
            self.record(&path, k);
            out.push((name, k, v));
        }
        Ok(out)
    }
}

/// Atlantis's keys bosun does not have yet, anywhere in the file: refused with a message
/// saying so rather than as unknown (policy checks, the reaction emoji, the deprecated
/// `repo_locking`).
const ATLANTIS_ONLY: &[&str] = &[
    "policies",
    "emoji_reaction",
    "repo_locking",
    "policy_check",
    "custom_policy_check",
];

const TOP_KEYS: &[&str] = &[
    "version",
    "automerge",
    "parallel_plan",
    "parallel_apply",
    "delete_source_branch_on_merge",
    "apply_on_merge",
    "projects",
    "workflows",
    "allowed_regexp_prefixes",
    "repo_locks",
    "abort_on_execution_order_fail",
    "autodiscover",
    "silence_pr_comments",
];

const PROJECT_KEYS: &[&str] = &[
    "name",
    "dir",
    "workspace",
    "branch",
    "autoplan",
    "terraform_version",
    "apply_requirements",
    "import_requirements",
    "workflow",
    "execution_order_group",
    "depends_on",
    "apply_on_merge",
    "delete_source_branch_on_merge",
    "terraform_distribution",
    "repo_locks",
    "plan_requirements",
    "silence_pr_comments",
];

/// Which files a project's autoplan watches unless it says (Atlantis's default).
pub const DEFAULT_WHEN_MODIFIED: [&str; 5] = [
    "**/*.tf*",
    "**/*.tofu",
    "**/*.tofu.json",
    "**/terragrunt.hcl",
    "**/.terraform.lock.hcl",
];

/// Parses and checks a repo config; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<RepoConfig, ConfigError> {
    parse_with(file, text, &[])
}

/// [`parse`], where a project may also select one of the workflows `server_workflows` names
/// (the server config's).
pub fn parse_with(
    file: &str,
    text: &str,
    server_workflows: &[&str],
) -> Result<RepoConfig, ConfigError> {
    let ctx = Ctx {
        file,
        keys: RefCell::default(),
    };
    let root = root_of(
        file,
        text,
        "the file is empty (it needs at least `version: 3`)",
    )?;
    let mut config = RepoConfig {
        version: 3,
        automerge: false,
        parallel_plan: true,
        parallel_apply: false,
        abort_on_execution_order_fail: true,
        autodiscover: AutoDiscover::default(),
        repo_locks: LockMode::OnPlan,
        delete_source_branch_on_merge: false,
        apply_on_merge: false,
        projects: vec![],
        silence_pr_comments: vec![],
        allowed_regexp_prefixes: vec![],
        workflows: vec![],
        file: file.into(),
        keys: BTreeMap::new(),
    };
    let entries = ctx.entries(&root, "", TOP_KEYS)?;
    // The version first: it decides how `run` steps read.
    match entries.iter().find(|(name, _, _)| name == "version") {
        Some((_, _, v)) if !is_null(v) => {
            let n = ctx.int(v, "version")?;
            if n != 2 && n != 3 {
                return Err(ctx.err(
                    v,
                    "version",
                    format!("only versions 2 and 3 are supported, not {n}"),
                ));
            }
            config.version = n;
        }
        _ => return Err(ctx.err(&root, "version", "missing (add `version: 3`)")),
    }
    for (name, k, v) in entries {
        match name.as_str() {
            "version" => {}
            "automerge" => config.automerge = ctx.bool(v, &name)?,
            "parallel_plan" => config.parallel_plan = ctx.bool(v, &name)?,
            "parallel_apply" => config.parallel_apply = ctx.bool(v, &name)?,
            "delete_source_branch_on_merge" => {
                config.delete_source_branch_on_merge = ctx.bool(v, &name)?
            }
            "apply_on_merge" => config.apply_on_merge = ctx.bool(v, &name)?,
            "allowed_regexp_prefixes" if is_null(v) => {}
            "allowed_regexp_prefixes" => config.allowed_regexp_prefixes = ctx.strings(v, &name)?,
            "repo_locks" => {
                config.repo_locks = modes::repo_locks(&ctx, v, &name)?.unwrap_or_default()
            }
            "autodiscover" => config.autodiscover = modes::autodiscover(&ctx, v, &name)?,
            "abort_on_execution_order_fail" => {
                config.abort_on_execution_order_fail = ctx.bool(v, &name)?
            }
            "silence_pr_comments" if is_null(v) => {}
            "silence_pr_comments" => config.silence_pr_comments = silenced(&ctx, v, &name)?,
            "workflows" if is_null(v) => {}
            "workflows" => {
                for (wk, wv) in ctx.map(v, "workflows")? {
                    let wname = ctx.string(wk, "workflows")?;
                    let path = format!("workflows.{wname}");
                    if config.workflows.iter().any(|w| w.name == wname) {
                        return Err(ctx.err(wk, &path, "key given twice"));
                    }
                    ctx.record(&path, wk);
                    config.workflows.push(workflow::workflow(
                        &ctx,
                        wname,
                        wv,
                        &path,
                        config.version,
                    )?);
                }
            }
            "projects" if is_null(v) => {}
            "projects" => {
                for (i, p) in ctx.seq(v, "projects")?.iter().enumerate() {
                    config
                        .projects
                        .push(project(&ctx, p, &format!("projects[{i}]"))?);
                }
            }
            _ => return Err(ctx.err(k, &name, "unknown key")),
        }
    }
    check_projects(&ctx, &root, &config, server_workflows)?;
    check_lock_modes(&ctx, &config)?;
    config.keys = ctx.keys.into_inner();
    Ok(config)
}

/// The YAML document of `file`, or where it does not read; `empty` says what an empty file
/// lacks.
fn root_of(file: &str, text: &str, empty: &str) -> Result<Node, ConfigError> {
    let at = |line, col, message: String| ConfigError {
        file: file.into(),
        line,
        col,
        key: String::new(),
        message,
    };
    yaml::parse(text)
        .map_err(|e| at(e.line, e.col, e.message))?
        .ok_or_else(|| at(1, 1, empty.into()))
}

/// A list of requirements (`apply_requirements`, `plan_requirements`, `import_requirements`)
/// at `path`.
fn requirements(ctx: &Ctx, node: &Node, path: &str) -> Result<Vec<ApplyRequirement>, ConfigError> {
    let mut out = Vec::new();
    for (i, item) in ctx.seq(node, path)?.iter().enumerate() {
        let r = match ctx.string(item, path)?.as_str() {
            "approved" => ApplyRequirement::Approved,
            "mergeable" => ApplyRequirement::Mergeable,
            "undiverged" => ApplyRequirement::Undiverged,
            "policies_passed" => ApplyRequirement::PoliciesPassed,
            other => {
                return Err(ctx.err(
                    item,
                    &format!("{path}[{i}]"),
                    format!(
                        "`{other}` is not one of approved, mergeable, undiverged, policies_passed"
                    ),
                ));
            }
        };
        out.push(r);
    }
    Ok(out)
}

/// A `silence_pr_comments` list: `plan` and `apply`, as Atlantis allows.
fn silenced(ctx: &Ctx, node: &Node, key: &str) -> Result<Vec<String>, ConfigError> {
    let stages = ctx.strings(node, key)?;
    for (i, s) in stages.iter().enumerate() {
        if s != "plan" && s != "apply" {
            let at = ctx.seq(node, key)?.get(i).unwrap_or(node);
            return Err(ctx.err(
                at,
                &format!("{key}[{i}]"),
                format!("`{s}` is not a stage whose comments can be silenced: use plan or apply"),
            ));
        }
    }
    Ok(stages)
}

fn project(ctx: &Ctx, node: &Node, key: &str) -> Result<Project, ConfigError> {
    let mut p = Project {
        name: None,
        dir: Dir::root(),
        dir_glob: false,
        workspace: Workspace::default(),
        branch: None,
        autoplan_enabled: true,
        when_modified: DEFAULT_WHEN_MODIFIED.map(String::from).to_vec(),
        terraform_version: None,
        terraform_distribution: None,
        plan_requirements: vec![],
        apply_requirements: vec![],
        import_requirements: vec![],
        workflow: None,
        execution_order_group: 0,
        repo_locks: None,
        apply_on_merge: None,
        delete_source_branch_on_merge: None,
        silence_pr_comments: None,
    };
    let mut has_dir = false;
    for (name, _, v) in ctx.entries(node, key, PROJECT_KEYS)? {
        let path = format!("{key}.{name}");
        match name.as_str() {
            "name" => {
                let n = ctx.string(v, &path)?;
                if !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
                {
                    return Err(ctx.err(
                        v,
                        &path,
                        format!(
                            "`{n}` is not allowed: a project name holds only letters, digits, \
                             `-`, `_`, `.` and `/` (URL-safe, as in Atlantis)"
                        ),
                    ));
                }
                p.name = Some(n);
            }
            "dir" => {
                let dir = ctx.string(v, &path)?;
                if dir_globs::is_glob(&dir) {
                    p.dir = Dir::new(dir_globs::pattern(&dir).map_err(|e| ctx.err(v, &path, e))?);
                    p.dir_glob = true;
                } else {
                    // As in Atlantis, `/` is the repository's root, and `/a` is `a`.
                    let rooted = match dir.trim_start_matches('/') {
                        "" => ".",
                        rest => rest,
                    };
                    p.dir = Dir::parse(rooted).map_err(|e| ctx.err(v, &path, e))?;
                }
                has_dir = true;
            }
            "terraform_distribution" if is_null(v) => {}
            "terraform_distribution" => {
                let text = ctx.string(v, &path)?;
                p.terraform_distribution = Some(Distribution::parse(&text).ok_or_else(|| {
                    ctx.err(
                        v,
                        &path,
                        format!(
                            "'{text}' is not a valid terraform_distribution, only 'terraform' \
                             and 'opentofu' are supported"
                        ),
                    )
                })?);
            }
            "workspace" => {
                // `workspace: ""` is the default one, as in Atlantis.
                let ws = scalar_or_empty(ctx, v, &path)?;
                if ws.is_empty() {
                    continue;
                }
                let ok = ws
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                    && ws != "."
                    && !ws.contains("..")
                    && !ws.starts_with('-');
                if !ok {
                    return Err(ctx.err(
                        v,
                        &path,
                        "a workspace name holds letters, digits, `-`, `_` and `.`, not `..` \
                         and not a leading `-`",
                    ));
                }
                p.workspace = Workspace::new(ws);
            }
            "branch" => {
                let b = ctx.string(v, &path)?;
                let pattern = b
                    .strip_prefix('/')
                    .and_then(|b| b.strip_suffix('/'))
                    .unwrap_or(&b);
                regex::Regex::new(pattern)
                    .map_err(|e| ctx.err(v, &path, format!("not a valid regex: {e}")))?;
                p.branch = Some(pattern.to_owned());
            }
            // `autoplan: ~`: the defaults.
            "autoplan" if is_null(v) => {}
            "autoplan" => {
                for (an, _, av) in ctx.entries(v, &path, &["enabled", "when_modified"])? {
                    let apath = format!("{path}.{an}");
                    if an == "enabled" {
                        p.autoplan_enabled = ctx.bool(av, &apath)?;
                    } else {
                        let globs = ctx.strings(av, &apath)?;
                        for (i, g) in globs.iter().enumerate() {
                            globset::Glob::new(g.trim_start_matches('!')).map_err(|e| {
                                ctx.err(
                                    av,
                                    &format!("{apath}[{i}]"),
                                    format!("not a valid glob: {e}"),
                                )
                            })?;
                        }
                        p.when_modified = globs;
                    }
                }
            }
            "terraform_version" => {
                let version = ctx.string(v, &path)?;
                let kept = terraform_version::read(&version).map_err(|e| ctx.err(v, &path, e))?;
                p.terraform_version = Some(kept);
            }
            "apply_requirements" => p.apply_requirements = requirements(ctx, v, &path)?,
            "import_requirements" => p.import_requirements = requirements(ctx, v, &path)?,
            "plan_requirements" if is_null(v) => {}
            "plan_requirements" => p.plan_requirements = requirements(ctx, v, &path)?,
            "workflow" => p.workflow = Some(ctx.string(v, &path)?),
            "execution_order_group" => p.execution_order_group = ctx.int(v, &path)?,
            "repo_locks" => p.repo_locks = modes::repo_locks(ctx, v, &path)?,
            "silence_pr_comments" if is_null(v) => {}
            "silence_pr_comments" => p.silence_pr_comments = Some(silenced(ctx, v, &path)?),
            "depends_on" => {
                let deps = ctx.strings(v, &path)?;
                if !deps.is_empty() {
                    return Err(ctx.err(
                        v,
                        &path,
                        "bosun orders applies by `execution_order_group` only; `depends_on` \
                         is not supported yet (give the project a later \
                         execution_order_group instead)",
                    ));
                }
            }
            "apply_on_merge" => p.apply_on_merge = Some(ctx.bool(v, &path)?),
            "delete_source_branch_on_merge" => {
                p.delete_source_branch_on_merge = Some(ctx.bool(v, &path)?)
            }
            _ => {}
        }
    }
    if !has_dir {
        return Err(ctx.err(
            node,
            &format!("{key}.dir"),
            "missing (every project needs a dir)",
        ));
    }
    Ok(p)
}

/// `apply_on_merge` applies under the lock the project's plan took; with `repo_locks: {mode:
/// on_apply}` a merged pull request holds none, so a project with both is refused (so is the
/// top level's pair when discovered projects would have it).
fn check_lock_modes(ctx: &Ctx, config: &RepoConfig) -> Result<(), ConfigError> {
    let refuse = |path: &str| {
        let (line, col) = ctx.keys.borrow().get(path).copied().unwrap_or((1, 1));
        ConfigError {
            file: ctx.file.into(),
            line,
            col,
            key: path.into(),
            message: "`mode: on_apply` cannot go with `apply_on_merge`: an apply on merge \
                      applies under the lock the project's plan took, and with on_apply a pull \
                      request holds none (use on_plan or disabled)"
                .into(),
        }
    };
    let top = config.repo_locks == LockMode::OnApply;
    if top && config.apply_on_merge && config.discovers() {
        return Err(refuse("repo_locks"));
    }
    for (i, p) in config.projects.iter().enumerate() {
        let on_apply = p.repo_locks.unwrap_or(config.repo_locks) == LockMode::OnApply;
        if on_apply && p.apply_on_merge.unwrap_or(config.apply_on_merge) {
            let path = match p.repo_locks {
                Some(_) => format!("projects[{i}].repo_locks"),
                None => "repo_locks".to_owned(),
            };
            return Err(refuse(&path));
        }
    }
    Ok(())
}

/// Checks across projects: unique names, every project named where several share a dir and
/// workspace,
/// `workflow` naming what exists.
fn check_projects(
    ctx: &Ctx,
    root: &Node,
    config: &RepoConfig,
    server_workflows: &[&str],
) -> Result<(), ConfigError> {
    let Value::Map(entries) = &root.value else {
        return Ok(());
    };
    let items: &[Node] = entries
        .iter()
        .find(|(k, _)| matches!(&k.value, Value::Scalar(s, _) if s == "projects"))
        .and_then(|(_, v)| {
            if let Value::Seq(items) = &v.value {
                Some(items.as_slice())
            } else {
                None
            }
        })
        .unwrap_or(&[]);
    let mut seen_names = BTreeSet::new();
    for (i, (p, node)) in config.projects.iter().zip(items).enumerate() {
        let key = format!("projects[{i}]");
        if let Some(name) = &p.name
            && !seen_names.insert(name.clone())
        {
            return Err(ctx.err(
                value_of(node, "name"),
                &format!("{key}.name"),
                format!("`{name}` names two projects"),
            ));
        }
        // Projects sharing a dir and workspace are told apart by name (`-p`), as in Atlantis:
        // each must have one.
        let clash = config.projects.iter().enumerate().find(|(j, q)| {
            *j != i
                && q.dir == p.dir
                && q.workspace == p.workspace
                && (p.name.is_none() || q.name.is_none())
        });
        if clash.is_some() {
            return Err(ctx.err(
                node,
                &key,
                format!(
                    "two or more projects are on dir `{}` and workspace `{}` and not all are \
                     named: give each a `name`, so that `-p` can plan and apply them apart",
                    p.dir, p.workspace
                ),
            ));
        }
        if let Some(w) = &p.workflow
            && w != "default"
            && !config.workflows.iter().any(|x| &x.name == w)
            && !server_workflows.contains(&w.as_str())
        {
            return Err(ctx.err(
                value_of(node, "workflow"),
                &format!("{key}.workflow"),
                format!("no workflow is named `{w}`"),
            ));
        }
    }
    Ok(())
}

/// A quoted or plain scalar, the empty string included.
fn scalar_or_empty(ctx: &Ctx, node: &Node, key: &str) -> Result<String, ConfigError> {
    match &node.value {
        Value::Scalar(s, _) => Ok(s.clone()),
        _ => Err(ctx.err(node, key, "expected a string")),
    }
}

/// The value of `key` in a mapping node, else the node itself (for error positions).
fn value_of<'n>(node: &'n Node, key: &str) -> &'n Node {
    match &node.value {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| matches!(&k.value, Value::Scalar(s, _) if s == key))
            .map(|(_, v)| v)
            .unwrap_or(node),
        _ => node,
    }
}

#[cfg(test)]
mod tests;
