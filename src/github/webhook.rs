//! Webhook payloads → [`Event`]s. GitHub's JSON shapes live here and nowhere else.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::event::{
    Branch, CheckRun, CheckRunAction, Comment, Event, EventKind, InstallationAction,
    InstallationReposAction, PullRequest, PullRequestAction, Repo, Review, ReviewAction,
    ReviewState, User,
};
use crate::ids::{PrNumber, Sha};

/// Payloads carry their envelope fields directly (not `#[serde(flatten)]`, which buffers
/// every unknown field of the payload first).
macro_rules! envelope {
    ($p:ident) => {
        Envelope {
            installation: $p.installation,
            repository: $p.repository,
            sender: $p.sender,
        }
    };
}

/// The events bosun subscribes to (and `ping`).
pub const HANDLED_EVENTS: &[&str] = &[
    "pull_request",
    "issue_comment",
    "pull_request_review",
    "push",
    "check_run",
    "installation",
    "installation_repositories",
];

/// What a payload means to bosun.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Event(Box<Event>),
    /// A valid payload bosun has nothing to do with (an action it does not use, a comment on
    /// an issue, …), with the reason.
    Ignored(String),
}

/// A payload that is not what GitHub sends for its event: says where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {event} payload: {message}")]
pub struct ParseError {
    pub event: String,
    pub message: String,
}

/// Parses the payload of event `event` (the `X-GitHub-Event` header).
pub fn parse(event: &str, payload: &[u8]) -> Result<Parsed, ParseError> {
    parse_with_action(event, payload).map(|(_, parsed)| parsed)
}

/// [`parse`], also returning the payload's `action`.
pub fn parse_with_action(
    event: &str,
    payload: &[u8],
) -> Result<(Option<String>, Parsed), ParseError> {
    let action = match leading_action(payload) {
        Some(action) => Some(action),
        None if event == "push" => None, // push payloads have no action
        None => read::<ActionOnly>(event, payload)?.action,
    };
    let parsed = parse_typed(event, action.as_deref().unwrap_or(""), payload)?;
    Ok((action, parsed))
}

/// The `action` when it is the payload's first key, as in every payload GitHub sends: read
/// without scanning the rest (the typed parse that follows does). `None` sends the caller to a
/// full parse.
fn leading_action(payload: &[u8]) -> Option<String> {
    let rest = payload.trim_ascii_start().strip_prefix(b"{")?;
    let rest = rest.trim_ascii_start().strip_prefix(b"\"action\"")?;
    let rest = rest.trim_ascii_start().strip_prefix(b":")?;
    let rest = rest.trim_ascii_start().strip_prefix(b"\"")?;
    let end = rest
        .iter()
        .take(64)
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    if rest[end] != b'"' {
        return None;
    }
    std::str::from_utf8(&rest[..end]).ok().map(str::to_owned)
}

/// The payload of event `event` with action `action` as bosun's own [`Event`], or why bosun
/// ignores it: one reader per event bosun subscribes to.
fn parse_typed(event: &str, action: &str, payload: &[u8]) -> Result<Parsed, ParseError> {
    let d = Delivery {
        event,
        action,
        payload,
    };
    match event {
        "pull_request" => pull_request(&d),
        "issue_comment" => issue_comment(&d),
        "pull_request_review" => pull_request_review(&d),
        "push" => push(&d),
        "check_run" => check_run(&d),
        "installation" => installation(&d),
        "installation_repositories" => installation_repositories(&d),
        _ => Ok(Parsed::Ignored(format!(
            "bosun does not subscribe to {event} events"
        ))),
    }
}

/// What each event's reader reads: the event, its action and its payload.
struct Delivery<'a> {
    event: &'a str,
    action: &'a str,
    payload: &'a [u8],
}

impl Delivery<'_> {
    /// The payload as `T` (see [`read`]).
    fn read<T: DeserializeOwned>(&self) -> Result<T, ParseError> {
        read(self.event, self.payload)
    }

    /// Ignored: an action bosun does not act on.
    fn ignored(&self) -> Result<Parsed, ParseError> {
        Ok(Parsed::Ignored(format!(
            "bosun does not act on {}.{}",
            self.event, self.action
        )))
    }
}

/// The event of `kind`, from the installation, repository and sender of its `envelope`.
fn event_of(kind: EventKind, envelope: Envelope) -> Result<Parsed, ParseError> {
    Ok(Parsed::Event(Box::new(Event {
        installation_id: envelope
            .installation
            .map(|i| crate::ids::InstallationId(i.id)),
        repo: envelope.repository.map(RawRepo::into_repo),
        sender: envelope.sender.into_user(),
        kind,
    })))
}

/// `pull_request`: opened, reopened, synchronized (pushed to), ready for review, or closed.
fn pull_request(d: &Delivery<'_>) -> Result<Parsed, ParseError> {
    if !matches!(
        d.action,
        "opened" | "reopened" | "synchronize" | "ready_for_review" | "closed"
    ) {
        return d.ignored();
    }
    let p: PullRequestPayload = d.read()?;
    let pr = p.pull_request.into_pr();
    let action = match d.action {
        "opened" => PullRequestAction::Opened,
        "reopened" => PullRequestAction::Reopened,
        "synchronize" => PullRequestAction::Synchronize {
            before: p.before.unwrap_or_else(|| Sha::new("")),
            after: p.after.unwrap_or_else(|| pr.head.sha.clone()),
        },
        "ready_for_review" => PullRequestAction::ReadyForReview,
        _ => PullRequestAction::Closed { merged: pr.merged },
    };
    event_of(EventKind::PullRequest { action, pr }, envelope!(p))
}

/// `issue_comment`: a comment created on a pull request (not on an issue).
fn issue_comment(d: &Delivery<'_>) -> Result<Parsed, ParseError> {
    if d.action != "created" {
        return d.ignored();
    }
    let p: IssueCommentPayload = d.read()?;
    if p.issue.pull_request.is_none() {
        return Ok(Parsed::Ignored(
            "comment on an issue, not a pull request".into(),
        ));
    }
    let comment = Comment {
        id: p.comment.id,
        body: p.comment.body.unwrap_or_default(),
        author: p.comment.user.into_user(),
        html_url: p.comment.html_url,
    };
    event_of(
        EventKind::PullRequestComment {
            pr_number: p.issue.number,
            comment,
        },
        envelope!(p),
    )
}

/// `pull_request_review`: a review submitted or dismissed.
fn pull_request_review(d: &Delivery<'_>) -> Result<Parsed, ParseError> {
    let action = match d.action {
        "submitted" => ReviewAction::Submitted,
        "dismissed" => ReviewAction::Dismissed,
        _ => return d.ignored(),
    };
    let p: ReviewPayload = d.read()?;
    let state = match p.review.state.to_ascii_lowercase().as_str() {
        "approved" => ReviewState::Approved,
        "changes_requested" => ReviewState::ChangesRequested,
        "dismissed" => ReviewState::Dismissed,
        _ => ReviewState::Commented,
    };
    let review = Review {
        id: p.review.id,
        state,
        author: p.review.user.map(RawUser::into_user).unwrap_or_else(ghost),
        commit_sha: p.review.commit_id,
    };
    let pr = p.pull_request.into_pr();
    event_of(
        EventKind::PullRequestReview { action, pr, review },
        envelope!(p),
    )
}

/// `push`: a branch or tag moved (push payloads have no action).
fn push(d: &Delivery<'_>) -> Result<Parsed, ParseError> {
    let p: PushPayload = d.read()?;
    let kind = EventKind::Push {
        git_ref: p.git_ref,
        before: p.before,
        after: p.after,
        created: p.created,
        deleted: p.deleted,
        forced: p.forced,
    };
    event_of(kind, envelope!(p))
}

/// `check_run`: a check run re-run, or one of its buttons pressed.
fn check_run(d: &Delivery<'_>) -> Result<Parsed, ParseError> {
    let p: CheckRunPayload = d.read()?;
    let action = match (d.action, p.requested_action) {
        ("rerequested", _) => CheckRunAction::Rerequested,
        ("requested_action", Some(r)) => CheckRunAction::RequestedAction {
            identifier: r.identifier,
        },
        ("requested_action", None) => {
            return Err(ParseError {
                event: d.event.into(),
                message: "requested_action: missing field".into(),
            });
        }
        _ => return d.ignored(),
    };
    let c = p.check_run;
    let check_run = CheckRun {
        id: c.id,
        name: c.name,
        head_sha: c.head_sha,
        external_id: c.external_id.filter(|s| !s.is_empty()),
        pull_requests: c.pull_requests.into_iter().map(|p| p.number).collect(),
    };
    event_of(EventKind::CheckRun { action, check_run }, envelope!(p))
}

/// `installation`: the app installed, uninstalled, suspended, unsuspended, or granted new
/// permissions.
fn installation(d: &Delivery<'_>) -> Result<Parsed, ParseError> {
    let action = match d.action {
        "created" => InstallationAction::Created,
        "deleted" => InstallationAction::Deleted,
        "suspend" => InstallationAction::Suspended,
        "unsuspend" => InstallationAction::Unsuspended,
        "new_permissions_accepted" => InstallationAction::NewPermissionsAccepted,
        _ => return d.ignored(),
    };
    let p: InstallationPayload = d.read()?;
    let kind = EventKind::Installation {
        action,
        account: login(p.installation.account),
        repos: full_names(p.repositories.unwrap_or_default()),
    };
    event_of(kind, p.installation.id.into_envelope(p.sender))
}

/// `installation_repositories`: repositories added to or removed from an installation.
fn installation_repositories(d: &Delivery<'_>) -> Result<Parsed, ParseError> {
    let action = match d.action {
        "added" => InstallationReposAction::Added,
        "removed" => InstallationReposAction::Removed,
        _ => return d.ignored(),
    };
    let p: InstallationReposPayload = d.read()?;
    let kind = EventKind::InstallationRepositories {
        action,
        account: login(p.installation.account),
        added: full_names(p.repositories_added),
        removed: full_names(p.repositories_removed),
    };
    event_of(kind, p.installation.id.into_envelope(p.sender))
}

/// The installation's account's login; empty when the payload names none.
fn login(account: Option<RawOwner>) -> String {
    account.map(|a| a.login).unwrap_or_default()
}

/// The full names of `repos`.
fn full_names(repos: Vec<RawRepoName>) -> Vec<String> {
    repos.into_iter().map(|r| r.full_name).collect()
}

fn read<T: DeserializeOwned>(event: &str, payload: &[u8]) -> Result<T, ParseError> {
    // The fast path; on failure, parse again to say where.
    if let Ok(value) = serde_json::from_slice(payload) {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_slice(payload);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        };
        ParseError {
            event: event.to_owned(),
            message,
        }
    })
}

fn ghost() -> User {
    User {
        id: 0,
        login: "ghost".into(),
        is_bot: false,
    }
}

#[derive(Deserialize)]
struct ActionOnly {
    action: Option<String>,
}

struct Envelope {
    installation: Option<RawInstallationRef>,
    repository: Option<RawRepo>,
    sender: RawUser,
}

#[derive(Deserialize)]
struct RawInstallationRef {
    id: u64,
}

#[derive(Deserialize)]
struct RawUser {
    id: u64,
    login: String,
    #[serde(rename = "type")]
    kind: Option<String>,
}

impl RawUser {
    fn into_user(self) -> User {
        User {
            id: self.id,
            is_bot: self.kind.as_deref() == Some("Bot"),
            login: self.login,
        }
    }
}

#[derive(Deserialize)]
struct RawOwner {
    login: String,
}

#[derive(Deserialize)]
struct RawRepo {
    id: u64,
    name: String,
    full_name: String,
    owner: RawOwner,
    clone_url: String,
    default_branch: Option<String>,
    #[serde(default)]
    private: bool,
}

impl RawRepo {
    fn into_repo(self) -> Repo {
        Repo {
            id: self.id,
            owner: self.owner.login,
            name: self.name,
            full_name: self.full_name,
            clone_url: self.clone_url,
            default_branch: self.default_branch.unwrap_or_else(|| "main".into()),
            private: self.private,
        }
    }
}

#[derive(Deserialize)]
struct RawRepoName {
    full_name: String,
}

#[derive(Deserialize)]
struct RawBranch {
    #[serde(rename = "ref")]
    name: String,
    sha: Sha,
    repo: Option<RawRepoName>,
}

impl RawBranch {
    fn into_branch(self) -> Branch {
        Branch {
            name: self.name,
            sha: self.sha,
            repo_full_name: self.repo.map(|r| r.full_name),
        }
    }
}

#[derive(Deserialize)]
struct RawPullRequest {
    number: PrNumber,
    title: String,
    user: Option<RawUser>,
    head: RawBranch,
    base: RawBranch,
    #[serde(default)]
    draft: Option<bool>,
    state: String,
    merged: Option<bool>,
    merged_at: Option<String>,
    merge_commit_sha: Option<Sha>,
    html_url: String,
}

impl RawPullRequest {
    fn into_pr(self) -> PullRequest {
        PullRequest {
            number: self.number,
            title: self.title,
            author: self.user.map(RawUser::into_user).unwrap_or_else(ghost),
            head: self.head.into_branch(),
            base: self.base.into_branch(),
            draft: self.draft.unwrap_or(false),
            open: self.state == "open",
            merged: self.merged.unwrap_or(self.merged_at.is_some()),
            merge_commit_sha: self.merge_commit_sha,
            html_url: self.html_url,
        }
    }
}

#[derive(Deserialize)]
struct PullRequestPayload {
    pull_request: RawPullRequest,
    before: Option<Sha>,
    after: Option<Sha>,
    installation: Option<RawInstallationRef>,
    repository: Option<RawRepo>,
    sender: RawUser,
}

#[derive(Deserialize)]
struct RawIssue {
    number: PrNumber,
    pull_request: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct RawComment {
    id: u64,
    body: Option<String>,
    user: RawUser,
    html_url: String,
}

#[derive(Deserialize)]
struct IssueCommentPayload {
    issue: RawIssue,
    comment: RawComment,
    installation: Option<RawInstallationRef>,
    repository: Option<RawRepo>,
    sender: RawUser,
}

#[derive(Deserialize)]
struct RawReview {
    id: u64,
    user: Option<RawUser>,
    state: String,
    commit_id: Option<Sha>,
}

#[derive(Deserialize)]
struct ReviewPayload {
    review: RawReview,
    pull_request: RawPullRequest,
    installation: Option<RawInstallationRef>,
    repository: Option<RawRepo>,
    sender: RawUser,
}

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    before: Sha,
    after: Sha,
    #[serde(default)]
    created: bool,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    forced: bool,
    installation: Option<RawInstallationRef>,
    repository: Option<RawRepo>,
    sender: RawUser,
}

#[derive(Deserialize)]
struct RawPrNumber {
    number: PrNumber,
}

#[derive(Deserialize)]
struct RawCheckRun {
    id: u64,
    name: String,
    head_sha: Sha,
    external_id: Option<String>,
    #[serde(default)]
    pull_requests: Vec<RawPrNumber>,
}

#[derive(Deserialize)]
struct RawRequestedAction {
    identifier: String,
}

#[derive(Deserialize)]
struct CheckRunPayload {
    check_run: RawCheckRun,
    requested_action: Option<RawRequestedAction>,
    installation: Option<RawInstallationRef>,
    repository: Option<RawRepo>,
    sender: RawUser,
}

#[derive(Deserialize)]
struct RawInstallation {
    id: InstallationId,
    account: Option<RawOwner>,
}

/// An installation event's own id, which is also its envelope's installation.
#[derive(Deserialize)]
struct InstallationId(u64);

impl InstallationId {
    fn into_envelope(self, sender: RawUser) -> Envelope {
        Envelope {
            installation: Some(RawInstallationRef { id: self.0 }),
            repository: None,
            sender,
        }
    }
}

#[derive(Deserialize)]
struct InstallationPayload {
    installation: RawInstallation,
    repositories: Option<Vec<RawRepoName>>,
    sender: RawUser,
}

#[derive(Deserialize)]
struct InstallationReposPayload {
    installation: RawInstallation,
    #[serde(default)]
    repositories_added: Vec<RawRepoName>,
    #[serde(default)]
    repositories_removed: Vec<RawRepoName>,
    sender: RawUser,
}

#[cfg(test)]
mod tests;
