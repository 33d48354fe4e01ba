//! GitHub: the one client bosun talks to GitHub through ([`GitHub`]: typed helpers building
//! [`Request`]s sent through layers), App authentication, the preview's in-memory GitHub, and
//! webhook payload parsing.

use crate::ids::{PrNumber, Sha};

pub mod app;
mod client;
pub mod layer;
pub mod local;
pub mod pace;
pub mod request;
pub mod retry;
pub mod user;
pub mod webhook;

pub use app::{AppAuth, InstallationToken, TokenCache};
pub use client::GitHub;
pub use pace::{Pacer, StoredBudget};
pub use request::{Answer, Auth, Budget, Lookup, Request, Resend, Service, Target};

/// A failed GitHub call. Messages never hold a token.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub answered {status} to {what}: {message}")]
    Status {
        status: u16,
        what: String,
        message: String,
    },
    #[error("GitHub rate limit for {what}: retry in {}s", retry_in.as_secs())]
    RateLimited {
        what: String,
        retry_in: std::time::Duration,
    },
    #[error("could not reach GitHub for {what}: {message}")]
    Transport { what: String, message: String },
    /// Like `Transport`, but certainly before GitHub got anything (the connection was never
    /// made): the transport's answer, which the retry layer turns into `Transport`.
    #[error("could not reach GitHub for {what}: {message}")]
    Unsent { what: String, message: String },
    #[error("unexpected answer from GitHub to {what}: {message}")]
    Decode { what: String, message: String },
    /// GitHub's GraphQL API answered with `errors` (it does so with status 200).
    #[error("GitHub's GraphQL API refused {what}: {message}")]
    GraphQl {
        what: String,
        /// The first error's `type` (`NOT_FOUND`, `FORBIDDEN`, …), when GitHub gave one.
        kind: Option<String>,
        message: String,
    },
}

impl GitHubError {
    /// Whether trying again later may succeed: GitHub erring (5xx), unreachable, or rate
    /// limiting.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status >= 500,
            Self::Transport { .. } | Self::Unsent { .. } | Self::RateLimited { .. } => true,
            Self::Decode { .. } | Self::GraphQl { .. } => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// One attempt GitHub made to deliver a webhook to the App (`GET /app/hook/deliveries`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct HookDelivery {
    /// The attempt's id at GitHub.
    pub id: i64,
    /// The delivery's GUID: `X-GitHub-Delivery`, shared by its redeliveries.
    pub guid: String,
    pub delivered_at: String,
    pub redelivery: bool,
    /// The HTTP status bosun answered; 0 (or absent) when GitHub got no answer.
    #[serde(default)]
    pub status_code: i64,
    pub event: String,
    pub action: Option<String>,
}

/// A page of the App's deliveries, newest first, and the cursor of the next page.
#[derive(Debug, Clone, Default)]
pub struct HookDeliveryPage {
    pub deliveries: Vec<HookDelivery>,
    pub next_cursor: Option<String>,
}

/// A comment bosun created: its REST id (to edit it) and its GraphQL node id (to minimize it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentRef {
    pub id: u64,
    pub node_id: String,
}

/// A reaction bosun puts on a comment: `Eyes` when it starts on a command, `PlusOne` when done,
/// `Confused` when it could not understand it, `Rocket` after an apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    Eyes,
    PlusOne,
    Confused,
    Rocket,
}

impl Reaction {
    /// The `content` GitHub's reactions API takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eyes => "eyes",
            Self::PlusOne => "+1",
            Self::Confused => "confused",
            Self::Rocket => "rocket",
        }
    }
}

/// Whether a pull request is open, closed without merging, or merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrState {
    Open,
    Closed,
    Merged,
}

/// GitHub's `mergeable_state`: why a pull request can or cannot be merged now. GitHub computes
/// it in the background, so `Unknown` is common right after a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeableState {
    /// Mergeable and every required check passed.
    Clean,
    /// Mergeable; non-required checks failed or are pending.
    Unstable,
    /// Mergeable; pending commit status hooks.
    HasHooks,
    /// The head branch is behind the base and branch protection requires it to be up to date.
    Behind,
    /// Branch protection blocks the merge (reviews, required checks).
    Blocked,
    /// Merge conflicts.
    Dirty,
    /// A draft pull request.
    Draft,
    /// Not computed yet, or a value bosun does not know.
    Unknown,
}

impl MergeableState {
    /// Parses GitHub's `mergeable_state`; anything unrecognised is `Unknown`.
    pub fn parse(s: &str) -> Self {
        match s {
            "clean" => Self::Clean,
            "unstable" => Self::Unstable,
            "has_hooks" => Self::HasHooks,
            "behind" => Self::Behind,
            "blocked" => Self::Blocked,
            "dirty" => Self::Dirty,
            "draft" => Self::Draft,
            _ => Self::Unknown,
        }
    }
}

/// A pull request as apply requirements need it (`GET /repos/{o}/{r}/pulls/{n}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestInfo {
    pub number: PrNumber,
    pub head_sha: Sha,
    pub head_ref: String,
    pub base_sha: Sha,
    pub base_ref: String,
    pub state: PrState,
    pub draft: bool,
    /// `None` while GitHub is still computing it.
    pub mergeable: Option<bool>,
    pub mergeable_state: MergeableState,
    /// The login of who opened it.
    pub author: String,
    /// The commit the merge made (GitHub's `merge_commit_sha`); set only when merged.
    pub merge_commit_sha: Option<Sha>,
    /// Whether the head lives in another repository than the base (a fork). A fork that was
    /// deleted leaves no head repository: that counts as a fork too.
    pub from_fork: bool,
}

/// How bosun merges a pull request (automerge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergeMethod {
    /// A merge commit with the base and the head as parents.
    #[default]
    Merge,
    /// One commit on the base with the pull request's changes.
    Squash,
    /// The head's commits replayed onto the base.
    Rebase,
}

impl MergeMethod {
    /// The `merge_method` GitHub's merge API takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Merge => "merge",
            Self::Squash => "squash",
            Self::Rebase => "rebase",
        }
    }
}

/// GitHub's review decision on a pull request under branch protection (GraphQL
/// `reviewDecision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewDecision {
    /// Enough approvals and no changes requested.
    Approved,
    /// A reviewer's latest review requests changes.
    ChangesRequested,
    /// More approvals are needed.
    ReviewRequired,
}

/// A check (check run or commit status) branch protection requires on the head commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredCheck {
    /// The check run's name or the commit status's context.
    pub name: String,
    /// success, neutral or skipped
    pub passed: bool,
}

/// What branch protection asks of a pull request before it can merge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergeRequirements {
    /// `None` when branch protection does not require reviews.
    pub review_decision: Option<ReviewDecision>,
    /// The required checks reported on the head, in GitHub's order (checks that have not
    /// reported yet are absent).
    pub required_checks: Vec<RequiredCheck>,
}

/// Where a check run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    Queued,
    InProgress,
    Completed(Conclusion),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conclusion {
    Success,
    Failure,
    Neutral,
    Cancelled,
    ActionRequired,
    Skipped,
}

/// A check run as bosun writes it: its name, commit, state and output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRunSpec {
    pub name: String,
    pub head_sha: Sha,
    pub status: CheckStatus,
    pub title: String,
    pub summary: String,
    pub text: Option<String>,
    /// bosun's own reference (a job id), returned in check-run events.
    pub external_id: Option<String>,
    /// Where "Details" leads: the run's page, when `BOSUN_PUBLIC_URL` is set.
    pub details_url: Option<String>,
}

/// A submitted review of a pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewInfo {
    pub id: u64,
    pub user: String,
    pub state: crate::event::ReviewState,
    pub commit_id: Option<Sha>,
}

/// A user's permission on a repository, lowest first, as GitHub's roles rank them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    None,
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

impl Permission {
    /// Every level a setting may name, lowest first.
    pub const LEVELS: [Permission; 5] = [
        Self::Read,
        Self::Triage,
        Self::Write,
        Self::Maintain,
        Self::Admin,
    ];

    /// GitHub's name of the level (`none` for no access).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Read => "read",
            Self::Triage => "triage",
            Self::Write => "write",
            Self::Maintain => "maintain",
            Self::Admin => "admin",
        }
    }

    /// Parses GitHub's name of a level (`read`, `triage`, `write`, `maintain`, `admin`;
    /// `none`), ignoring case.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        [Self::None]
            .into_iter()
            .chain(Self::LEVELS)
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
    }
}

/// A repository as bosun needs it to fetch and report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoInfo {
    /// GitHub's id: who the repository is through renames and transfers.
    pub id: crate::ids::RepoId,
    /// `owner/name`
    pub full_name: String,
    /// Where git fetches it from (HTTPS).
    pub clone_url: String,
    pub default_branch: String,
}

/// An issue bosun keeps (the drift report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueInfo {
    pub number: u64,
    pub open: bool,
    pub title: String,
    pub body: String,
}

/// A change to an issue: only the fields that are `Some` are sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueUpdate {
    /// The new body.
    pub body: Option<String>,
    /// `Some(false)` closes the issue (as completed), `Some(true)` reopens it.
    pub open: Option<bool>,
}
