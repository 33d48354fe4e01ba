//! GitHub: App authentication, the [`GitHub`] trait bosun talks through, its octocrab
//! implementation, and webhook payload parsing.

pub mod app;
mod client;
pub mod local;
pub mod pace;
mod redact;
pub mod retry;
pub mod user;
pub mod webhook;

use async_trait::async_trait;

pub use app::{AppAuth, InstallationToken, TokenCache};
pub use client::OctocrabGitHub;
pub use pace::{PacedGitHub, Pacer};
pub use redact::RedactingGitHub;

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
            Self::Transport { .. } | Self::RateLimited { .. } => true,
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
    pub number: u64,
    pub head_sha: String,
    pub head_ref: String,
    pub base_sha: String,
    pub base_ref: String,
    pub state: PrState,
    pub draft: bool,
    /// `None` while GitHub is still computing it.
    pub mergeable: Option<bool>,
    pub mergeable_state: MergeableState,
    /// The login of who opened it.
    pub author: String,
    /// The commit the merge made (GitHub's `merge_commit_sha`); set only when merged.
    pub merge_commit_sha: Option<String>,
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
    pub head_sha: String,
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
    pub commit_id: Option<String>,
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

/// The GitHub API as bosun uses it. Wrap it in [`PacedGitHub`] so writes respect GitHub's
/// secondary rate limits.
#[async_trait]
pub trait GitHub: Send + Sync + 'static {
    /// A token for acting in one installation, cached until 5 minutes before it expires.
    async fn installation_token(
        &self,
        installation_id: u64,
    ) -> Result<InstallationToken, GitHubError>;

    /// A token that can only read the contents of one repository of the installation (`repo`
    /// is `owner/name`): what a job's git fetch uses. Cached per (installation, repository)
    /// until 5 minutes before it expires.
    async fn repo_read_token(
        &self,
        installation_id: u64,
        repo: &str,
    ) -> Result<InstallationToken, GitHubError>;

    /// One page of the App's recent webhook deliveries (`cursor` from the previous page).
    async fn hook_deliveries(&self, cursor: Option<&str>) -> Result<HookDeliveryPage, GitHubError>;

    /// The App's slug (`GET /app`), so `@slug plan` comments are recognised.
    async fn app_slug(&self) -> Result<String, GitHubError>;

    /// Asks GitHub to deliver a webhook again.
    async fn redeliver(&self, delivery_id: i64) -> Result<(), GitHubError>;

    /// Posts a comment on an issue or pull request; returns its ids.
    async fn create_comment(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        body: &str,
    ) -> Result<CommentRef, GitHubError>;

    /// The comments on issue or pull request `number` written by `author` (bosun's own bot
    /// login) whose body starts with `prefix`, oldest first: how a comment whose id was lost
    /// (its replica died between posting it and recording it) is found again.
    async fn comments_by(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        author: &str,
        prefix: &str,
    ) -> Result<Vec<CommentRef>, GitHubError>;

    /// Replaces the body of an existing issue or pull-request comment.
    async fn update_comment(
        &self,
        installation_id: u64,
        repo: &str,
        comment_id: u64,
        body: &str,
    ) -> Result<(), GitHubError>;

    /// Hides a comment as outdated (GraphQL `minimizeComment`, classifier `OUTDATED`);
    /// `node_id` is [`CommentRef::node_id`].
    async fn minimize_comment(
        &self,
        installation_id: u64,
        node_id: &str,
    ) -> Result<(), GitHubError>;

    /// Reacts to an issue or pull-request comment; reacting twice the same way is not an error.
    async fn add_reaction(
        &self,
        installation_id: u64,
        repo: &str,
        comment_id: u64,
        content: Reaction,
    ) -> Result<(), GitHubError>;

    /// A pull request's head, base, state and mergeability.
    async fn pull_request(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
    ) -> Result<PullRequestInfo, GitHubError>;

    /// Creates a check run; returns its id.
    async fn create_check_run(
        &self,
        installation_id: u64,
        repo: &str,
        check: &CheckRunSpec,
    ) -> Result<u64, GitHubError>;

    /// Brings an existing check run to `check`'s state and output.
    async fn update_check_run(
        &self,
        installation_id: u64,
        repo: &str,
        id: u64,
        check: &CheckRunSpec,
    ) -> Result<(), GitHubError>;

    /// Every review of a pull request, oldest first.
    async fn reviews(
        &self,
        installation_id: u64,
        repo: &str,
        pr: u64,
    ) -> Result<Vec<ReviewInfo>, GitHubError>;

    /// A user's permission on a repository (the collaborator permission API); `None` for
    /// someone who is not a collaborator.
    async fn permission(
        &self,
        installation_id: u64,
        repo: &str,
        user: &str,
    ) -> Result<Permission, GitHubError>;

    /// Whether `user` is an active member of the organisation's team `team_slug` (GitHub's
    /// team membership API: a pending invitation is not membership).
    async fn team_member(
        &self,
        installation_id: u64,
        org: &str,
        team_slug: &str,
        user: &str,
    ) -> Result<bool, GitHubError>;

    /// Merges a pull request whose head is still `sha`; returns the merge commit's sha.
    /// GitHub answers 405 when it cannot be merged, 409 when the head moved.
    async fn merge_pull_request(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        sha: &str,
        method: MergeMethod,
    ) -> Result<String, GitHubError>;

    /// Deletes the branch `branch` of `repo` (`DELETE /repos/{repo}/git/refs/heads/{branch}`),
    /// for `delete_source_branch_on_merge` after an automerge. A branch that is already gone
    /// is not an error.
    async fn delete_branch(
        &self,
        installation_id: u64,
        repo: &str,
        branch: &str,
    ) -> Result<(), GitHubError>;

    /// Branch protection's view of a pull request: its review decision and the required checks
    /// of its head with whether each passed (one GraphQL query: `reviewDecision` and the head
    /// commit's `statusCheckRollup` contexts with `isRequired(pullRequestNumber:)`).
    ///
    /// Only the first 100 contexts of the last commit are read. A required check that has not
    /// reported on the head yet is not in GitHub's rollup, so it is not listed: a missing check
    /// shows in [`PullRequestInfo::mergeable_state`] (`Blocked`), not here.
    async fn merge_requirements(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
    ) -> Result<MergeRequirements, GitHubError>;

    /// Every installation of the App (GET /app/installations with the App's JWT, all pages;
    /// at most 100 pages of 100).
    async fn installations(&self) -> Result<Vec<u64>, GitHubError>;

    /// Every repository an installation can see (GET /installation/repositories with the
    /// installation token, all pages; at most 100 pages of 100).
    async fn installation_repos(&self, installation_id: u64) -> Result<Vec<RepoInfo>, GitHubError>;

    /// The installation that has `repo` (`owner/name`), or `None` when the App is not
    /// installed on it (GET /repos/{o}/{r}/installation with the JWT; GitHub's 404 is `None`).
    async fn repo_installation(&self, repo: &str) -> Result<Option<u64>, GitHubError>;

    /// A repository's clone URL and default branch (GET /repos/{o}/{r}).
    async fn repository(&self, installation_id: u64, repo: &str) -> Result<RepoInfo, GitHubError>;

    /// The issue titled exactly `title` with `label` that the App's bot opened: the open one
    /// if any, else the most recently updated closed one (GET /repos/{o}/{r}/issues?labels=…&
    /// state=all, skipping pull requests (they carry `pull_request`) and issues not by a Bot
    /// user; at most 10 pages of 100).
    async fn find_issue(
        &self,
        installation_id: u64,
        repo: &str,
        label: &str,
        title: &str,
    ) -> Result<Option<IssueInfo>, GitHubError>;

    /// Opens an issue with these labels; returns its number (POST /repos/{o}/{r}/issues).
    async fn create_issue(
        &self,
        installation_id: u64,
        repo: &str,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> Result<u64, GitHubError>;

    /// Changes an issue's body and/or state (PATCH /repos/{o}/{r}/issues/{n}; `open:
    /// Some(false)` closes it with state_reason "completed", `Some(true)` reopens it).
    async fn update_issue(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        update: &IssueUpdate,
    ) -> Result<(), GitHubError>;
}
