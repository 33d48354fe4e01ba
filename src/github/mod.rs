//! GitHub: App authentication, the [`GitHub`] trait bosun talks through, its octocrab
//! implementation, and webhook payload parsing.

pub mod app;
mod client;
pub mod retry;
pub mod webhook;

use async_trait::async_trait;

pub use app::{AppAuth, InstallationToken, TokenCache};
pub use client::OctocrabGitHub;

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
}

impl GitHubError {
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

/// The GitHub API as bosun uses it. Later issues add comments, check runs, PR files,
/// reviews, permissions and issues here.
#[async_trait]
pub trait GitHub: Send + Sync + 'static {
    /// A token for acting in one installation, cached until 5 minutes before it expires.
    async fn installation_token(
        &self,
        installation_id: u64,
    ) -> Result<InstallationToken, GitHubError>;

    /// One page of the App's recent webhook deliveries (`cursor` from the previous page).
    async fn hook_deliveries(&self, cursor: Option<&str>) -> Result<HookDeliveryPage, GitHubError>;

    /// Asks GitHub to deliver a webhook again.
    async fn redeliver(&self, delivery_id: i64) -> Result<(), GitHubError>;

    /// Posts a comment on an issue or pull request; returns the comment's id.
    async fn create_comment(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        body: &str,
    ) -> Result<u64, GitHubError>;

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
}
