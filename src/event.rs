//! bosun's own event types: what a webhook means, free of GitHub's JSON shapes.
//! `github::webhook` translates payloads into these; everything downstream uses only these.

use crate::ids::{InstallationId, PrNumber, Sha};

/// A repository, as events name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub id: u64,
    pub owner: String,
    pub name: String,
    /// `owner/name`
    pub full_name: String,
    pub clone_url: String,
    pub default_branch: String,
    pub private: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: u64,
    pub login: String,
    /// GitHub's `type: "Bot"`; bosun ignores commands from bots, itself included.
    pub is_bot: bool,
}

/// One side of a pull request: a branch at a commit, in a repository (a fork's, perhaps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    pub name: String,
    pub sha: Sha,
    /// `owner/name` of the repository holding the branch; `None` when a fork was deleted.
    pub repo_full_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: PrNumber,
    pub title: String,
    pub author: User,
    pub head: Branch,
    pub base: Branch,
    pub draft: bool,
    pub open: bool,
    pub merged: bool,
    pub merge_commit_sha: Option<Sha>,
    pub html_url: String,
}

impl PullRequest {
    /// Whether the head branch lives in another repository than the base.
    pub fn is_from_fork(&self) -> bool {
        match (&self.head.repo_full_name, &self.base.repo_full_name) {
            (Some(head), Some(base)) => !head.eq_ignore_ascii_case(base),
            _ => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullRequestAction {
    Opened,
    Reopened,
    /// New commits on the head branch.
    Synchronize {
        before: Sha,
        after: Sha,
    },
    ReadyForReview,
    Closed {
        merged: bool,
    },
}

impl PullRequestAction {
    /// GitHub's name of the action; a merged close is `merged`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Reopened => "reopened",
            Self::Synchronize { .. } => "synchronize",
            Self::ReadyForReview => "ready_for_review",
            Self::Closed { merged: true } => "merged",
            Self::Closed { merged: false } => "closed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: u64,
    pub body: String,
    pub author: User,
    pub html_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
    Dismissed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub id: u64,
    pub state: ReviewState,
    pub author: User,
    /// The head commit the review was made on.
    pub commit_sha: Option<Sha>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewAction {
    Submitted,
    Dismissed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckRunAction {
    Rerequested,
    RequestedAction { identifier: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    pub head_sha: Sha,
    pub external_id: Option<String>,
    /// Numbers of the pull requests GitHub associates with the run's head.
    pub pull_requests: Vec<PrNumber>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallationAction {
    Created,
    Deleted,
    Suspended,
    Unsuspended,
    NewPermissionsAccepted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallationReposAction {
    Added,
    Removed,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    PullRequest {
        action: PullRequestAction,
        pr: PullRequest,
    },
    /// A new comment on a pull request (comments on plain issues are not events for bosun).
    PullRequestComment {
        pr_number: PrNumber,
        comment: Comment,
    },
    PullRequestReview {
        action: ReviewAction,
        pr: PullRequest,
        review: Review,
    },
    Push {
        git_ref: String,
        before: Sha,
        after: Sha,
        created: bool,
        deleted: bool,
        forced: bool,
    },
    CheckRun {
        action: CheckRunAction,
        check_run: CheckRun,
    },
    Installation {
        action: InstallationAction,
        account: String,
        repos: Vec<String>,
    },
    InstallationRepositories {
        action: InstallationReposAction,
        account: String,
        added: Vec<String>,
        removed: Vec<String>,
    },
}

/// An event with what every event carries: who, where, under which installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub installation_id: Option<InstallationId>,
    /// `None` for installation events, which concern several repositories.
    pub repo: Option<Repo>,
    pub sender: User,
    pub kind: EventKind,
}

impl Event {
    /// A short name for logs and the event log: `pull_request.opened`, `push`, …
    pub fn name(&self) -> String {
        match &self.kind {
            EventKind::PullRequest { action, .. } => format!("pull_request.{}", action.as_str()),
            EventKind::PullRequestComment { .. } => "issue_comment.created".into(),
            EventKind::PullRequestReview { action, .. } => match action {
                ReviewAction::Submitted => "pull_request_review.submitted".into(),
                ReviewAction::Dismissed => "pull_request_review.dismissed".into(),
            },
            EventKind::Push { .. } => "push".into(),
            EventKind::CheckRun { action, .. } => match action {
                CheckRunAction::Rerequested => "check_run.rerequested".into(),
                CheckRunAction::RequestedAction { .. } => "check_run.requested_action".into(),
            },
            EventKind::Installation { .. } => "installation".into(),
            EventKind::InstallationRepositories { .. } => "installation_repositories".into(),
        }
    }

    /// The pull request the event concerns, if any.
    pub fn pr_number(&self) -> Option<PrNumber> {
        match &self.kind {
            EventKind::PullRequest { pr, .. } | EventKind::PullRequestReview { pr, .. } => {
                Some(pr.number)
            }
            EventKind::PullRequestComment { pr_number, .. } => Some(*pr_number),
            EventKind::CheckRun { check_run, .. } => check_run.pull_requests.first().copied(),
            _ => None,
        }
    }
}
