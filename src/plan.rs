//! What a plan is, in bosun's words: the resource changes Terraform proposes, its own
//! summary line, and how one project's run ended. Shared by `terraform` (which produces it),
//! `render` (which shows it), the store (which keeps it) and `workflow` (which decides on it).

use serde::{Deserialize, Serialize};

pub use crate::projects::Target;

impl Target {
    /// The project's name in check runs and comments: its name, else its dir (`.` for the
    /// root), with `:<workspace>` appended unless the workspace is `default`.
    pub fn display_name(&self) -> String {
        let base = self.name.clone().unwrap_or_else(|| self.dir.to_string());
        if self.workspace.is_default() {
            base
        } else {
            format!("{base}:{}", self.workspace)
        }
    }

    /// The comment that acts on exactly this project (`<name> apply -p x` or `-d dir -w ws`).
    pub fn command(&self, command_name: &str, verb: &str) -> String {
        match &self.name {
            Some(name) => format!("{command_name} {verb} -p {name}"),
            None if self.workspace.is_default() => {
                format!("{command_name} {verb} -d {}", self.dir)
            }
            None => format!(
                "{command_name} {verb} -d {} -w {}",
                self.dir, self.workspace
            ),
        }
    }
}

/// What Terraform proposes to do to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Delete,
    /// Delete then create, or create then delete: either way the object is replaced.
    Replace,
    Read,
    NoOp,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResourceChange {
    pub address: String,
    pub action: Action,
}

/// The structured summary of a plan (from `terraform show -json`) with Terraform's own line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub add: u32,
    pub change: u32,
    pub destroy: u32,
    pub import: u32,
    /// Every resource change other than no-op and read, sorted by address.
    pub changes: Vec<ResourceChange>,
    /// Terraform's own `Plan: 1 to add, 0 to change, 0 to destroy.` line, or its
    /// `No changes. Your infrastructure matches the configuration.` line.
    pub line: String,
    /// Output values change even when no resource does.
    pub output_changes: bool,
    /// The SHA-256 of everything the plan would do, values included (see
    /// `terraform::parse`): two plans propose the same changes when their digests are equal.
    /// Empty for plans stored before bosun kept it, which therefore match no other plan.
    #[serde(default)]
    pub digest: String,
}

impl PlanSummary {
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty() || self.output_changes || self.import > 0
    }

    /// Addresses destroyed outright.
    pub fn deletes(&self) -> impl Iterator<Item = &str> {
        self.changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .map(|c| c.address.as_str())
    }

    /// Addresses replaced (destroyed and created again).
    pub fn replaces(&self) -> impl Iterator<Item = &str> {
        self.changes
            .iter()
            .filter(|c| c.action == Action::Replace)
            .map(|c| c.address.as_str())
    }
}

/// Which step of a project's run failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Reading or validating the repo config.
    Config,
    /// Preparing the checkout (fetch, checkout, merge).
    Checkout,
    Init,
    Workspace,
    Plan,
    Show,
    /// A custom workflow's `run` step (or an `env` step's command).
    Run,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Checkout => "checkout",
            Self::Init => "init",
            Self::Workspace => "workspace",
            Self::Plan => "plan",
            Self::Show => "show",
            Self::Run => "run",
        }
    }
}

/// How one project's plan ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    /// Terraform planned: `text` is the human-readable plan (no colour), from the first line
    /// of the proposed changes through the `Plan:` line (or the "No changes" message).
    Planned { summary: PlanSummary, text: String },
    /// A step failed: its (capped) output, which names the file and line for HCL errors.
    Failed { step: Step, output: String },
}

/// One project's result, as feedback shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectPlan {
    pub target: Target,
    pub outcome: Outcome,
}
