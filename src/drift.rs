//! Drift, in bosun's words: how a project of the default branch compares with the world. A
//! drift run plans every project of the repo config at the default branch's head with
//! `-detailed-exitcode`; each project ends in sync, drifted, in error, or skipped because an
//! open pull request holds its lock. Shared by the workflow (which decides), the store (which
//! keeps the history), `render` (the drift issue) and the metrics.

use crate::ids::PrNumber;
use serde::{Deserialize, Serialize};

use crate::plan::{Outcome, Step, Target};

/// How one project of the default branch compares with the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftStatus {
    /// The plan is empty: Terraform exits 0 with `-detailed-exitcode`.
    InSync,
    /// The plan has changes: exit 2.
    Drifted,
    /// The plan could not be made: any other exit, or a step before it failed.
    Error,
    /// Not planned: an open pull request holds the project's lock.
    Skipped,
}

impl DriftStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InSync => "in_sync",
            Self::Drifted => "drifted",
            Self::Error => "error",
            Self::Skipped => "skipped",
        }
    }

    /// The stored name back; `None` for a name bosun never writes.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::InSync, Self::Drifted, Self::Error, Self::Skipped]
            .into_iter()
            .find(|x| x.as_str() == s)
    }

    /// The value of `bosun_drift_status`: 0 in sync, 1 drifted, 2 error. A skipped project has
    /// none (its last known value stays).
    pub fn metric(self) -> Option<i64> {
        match self {
            Self::InSync => Some(0),
            Self::Drifted => Some(1),
            Self::Error => Some(2),
            Self::Skipped => None,
        }
    }
}

/// One project's result in a drift run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectDrift {
    pub target: Target,
    pub status: DriftStatus,
    /// The pull request holding the lock, for [`DriftStatus::Skipped`].
    pub locked_by: Option<PrNumber>,
    /// One line: Terraform's `Plan: …` line, its "No changes" line, why it failed, or
    /// `skipped: locked by #N`.
    pub summary: String,
    /// The plan's text (drifted) or the failing step's output (error); empty otherwise.
    pub detail: String,
}

impl ProjectDrift {
    /// A project an open pull request holds.
    pub fn skipped(target: Target, pr: PrNumber) -> Self {
        Self {
            target,
            status: DriftStatus::Skipped,
            locked_by: Some(pr),
            summary: format!("skipped: locked by #{pr}"),
            detail: String::new(),
        }
    }

    /// A project's status from Terraform's `-detailed-exitcode` verdict: `changes` (exit 2)
    /// is drift, with `line` (its `Plan:` line) and the plan's `text`.
    pub fn of_exit(target: Target, changes: bool, line: String, text: String) -> Self {
        let (status, detail) = if changes {
            (DriftStatus::Drifted, text)
        } else {
            (DriftStatus::InSync, String::new())
        };
        Self {
            target,
            status,
            locked_by: None,
            summary: line,
            detail,
        }
    }

    /// A project's status from a plan with its JSON summary (a custom workflow's plan steps):
    /// changes there are drift, as they make Terraform exit 2.
    pub fn of_plan(target: Target, outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Planned { summary, text } => Self::of_exit(
                target,
                summary.has_changes(),
                summary.line.clone(),
                text.clone(),
            ),
            Outcome::Failed { step, output } => Self::failed(target, *step, output.clone()),
        }
    }

    /// A project whose plan failed at `step`: its summary names the step and the output's
    /// first line that says something.
    pub fn failed(target: Target, step: Step, output: String) -> Self {
        let first = output
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && l.chars().any(char::is_alphanumeric))
            .unwrap_or("no output");
        let first: String = first.chars().take(200).collect();
        Self {
            target,
            status: DriftStatus::Error,
            locked_by: None,
            summary: format!("{} failed: {first}", step.as_str()),
            detail: output,
        }
    }
}

/// A finished run's status in one word: `drifted` when a project drifted, else `error` when
/// one failed, else `incomplete` when one was skipped, else `in_sync` (`not_checked` for a
/// run with no project, e.g. a broken repo config).
pub fn overall(results: &[ProjectDrift]) -> &'static str {
    let any = |s: DriftStatus| results.iter().any(|p| p.status == s);
    if results.is_empty() {
        "not_checked"
    } else if any(DriftStatus::Drifted) {
        "drifted"
    } else if any(DriftStatus::Error) {
        "error"
    } else if any(DriftStatus::Skipped) {
        "incomplete"
    } else {
        "in_sync"
    }
}

/// What started a drift run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// BOSUN_DRIFT_SCHEDULE.
    Schedule,
    /// `POST /api/drift/{owner}/{repo}`.
    Api,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Api => "api",
        }
    }
}

/// A project whose status differs from its last known one: what the notification URL hears
/// about. `before` is `None` for a project never checked before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub target: Target,
    pub before: Option<DriftStatus>,
    pub after: DriftStatus,
}

/// The projects whose status changed since their last known status (`known`: the latest
/// status other than skipped of each project). A skipped project changes nothing; a project
/// seen for the first time counts only when it is not in sync (nothing to say otherwise).
pub fn changes(known: &[(Target, DriftStatus)], now: &[ProjectDrift]) -> Vec<Change> {
    now.iter()
        .filter(|p| p.status != DriftStatus::Skipped)
        .filter_map(|p| {
            let before = known.iter().find(|(t, _)| t == &p.target).map(|(_, s)| *s);
            let changed = match before {
                Some(b) => b != p.status,
                None => p.status != DriftStatus::InSync,
            };
            changed.then(|| Change {
                target: p.target.clone(),
                before,
                after: p.status,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
