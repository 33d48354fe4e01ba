//! Policy checks (Atlantis's `policies:`, conftest's conventions): the server config's policy
//! sets, each a directory (or file) of Rego on the host read when the server config is read,
//! evaluated on a plan's `terraform show -json` by [`eval`] (in a child process of bosun's own
//! binary, bounded in memory and time: [`child`]). Who may approve a failing set, and when a
//! set counts as passed, is decided here too. Pure but for reading the Rego files.

use std::path::Path;

use serde::{Deserialize, Serialize};

pub mod child;
pub mod eval;

/// Who may approve: GitHub logins (compared without regard to case) and teams (`org/slug`,
/// or a slug of the repository's organisation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owners {
    pub users: Vec<String>,
    pub teams: Vec<String>,
}

impl Owners {
    pub fn has_user(&self, login: &str) -> bool {
        self.users.iter().any(|u| u.eq_ignore_ascii_case(login))
    }

    /// `@alice, team acme/sec`: for messages.
    pub fn describe(&self) -> Vec<String> {
        let users = self.users.iter().map(|u| format!("@{u}"));
        let teams = self.teams.iter().map(|t| format!("team {t}"));
        users.chain(teams).collect()
    }
}

/// One Rego file of a set: its path (for messages) and text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegoModule {
    pub path: String,
    pub text: String,
}

/// Where a set's Rego is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// On the server's host, read with the server config.
    Local,
    /// In the repository, read from the base branch's commit each time a plan is checked
    /// (never the pull request's: it must not change the policy it is checked against).
    Repo,
}

/// One `policy_sets` entry, its Rego read (a `local` one's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySet {
    pub name: String,
    /// `local`: on the host, a directory of `.rego` files, or one file. `repo`: the same, in
    /// the repository.
    pub path: String,
    pub source: Source,
    /// How many owners' approvals make a failing set count as passed (at least 1).
    pub approve_count: u32,
    /// The pull request's author may not approve it.
    pub prevent_self_approve: bool,
    pub owners: Owners,
    pub modules: Vec<RegoModule>,
}

/// The server config's `policies:`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policies {
    /// May approve any set.
    pub owners: Owners,
    pub sets: Vec<PolicySet>,
}

impl Policies {
    pub fn set(&self, name: &str) -> Option<&PolicySet> {
        self.sets.iter().find(|s| s.name == name)
    }

    /// Who may approve `set`: its owners and the top-level ones.
    pub fn approvers(&self, set: &PolicySet) -> Owners {
        let mut owners = set.owners.clone();
        for u in &self.owners.users {
            if !owners.has_user(u) {
                owners.users.push(u.clone());
            }
        }
        for t in &self.owners.teams {
            if !owners.teams.contains(t) {
                owners.teams.push(t.clone());
            }
        }
        owners
    }
}

/// What evaluating one set on one plan found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetOutcome {
    /// `deny` and `violation` messages.
    pub failures: Vec<String>,
    /// `warn` messages.
    pub warnings: Vec<String>,
}

/// A set's standing on one project's plan at the pull request's head: its result, and the
/// approvals of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetStatus {
    pub set: String,
    pub failures: Vec<String>,
    pub warnings: Vec<String>,
    /// Who approved it (logins), at this head.
    pub approved_by: Vec<String>,
    /// How many approvals it needs.
    pub needed: u32,
    /// Who may approve it (`@login`, `team org/slug`).
    pub owners: Vec<String>,
}

impl SetStatus {
    /// Passed, or failed and approved by enough owners.
    pub fn passes(&self) -> bool {
        self.failures.is_empty() || self.approved_by.len() >= self.needed.max(1) as usize
    }
}

/// A project's policy sets at the head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPolicies {
    pub target: crate::plan::Target,
    pub sets: Vec<SetStatus>,
}

impl ProjectPolicies {
    /// The sets that hold the project back: failed and not (yet) approved.
    pub fn blocking(&self) -> impl Iterator<Item = &SetStatus> {
        self.sets.iter().filter(|s| !s.passes())
    }
}

/// The most Rego a set may hold, all files together.
const MAX_SET_BYTES: u64 = 4 << 20;

/// Reads the `.rego` files of `path` (a directory: its `.rego` files, not its
/// subdirectories, by name; or one file) and checks that they parse together. The error
/// names the file (and, for Rego errors, the line).
pub fn load(path: &Path) -> Result<Vec<RegoModule>, String> {
    let name = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let mut files = Vec::new();
    if meta.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{name}: cannot read: {e}"))?;
            let p = entry.path();
            if p.extension().is_some_and(|x| x == "rego") && p.is_file() {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(path.to_owned());
    }
    if files.is_empty() {
        return Err(format!("{name}: holds no .rego file"));
    }
    let mut total = 0u64;
    let mut modules = Vec::new();
    for f in files {
        use std::io::Read as _;
        let fname = f.display().to_string();
        let file = std::fs::File::open(&f).map_err(|e| format!("{fname}: cannot read: {e}"))?;
        let mut text = String::new();
        file.take(MAX_SET_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| format!("{fname}: cannot read: {e}"))?;
        total += text.len() as u64;
        if total > MAX_SET_BYTES {
            return Err(format!(
                "{name}: its Rego is larger than {MAX_SET_BYTES} bytes"
            ));
        }
        modules.push(RegoModule { path: fname, text });
    }
    eval::compile(&modules)?;
    Ok(modules)
}

#[cfg(test)]
mod tests;
