//! The dispatcher: what bosun does with an event. The worker hands it every typed event of a
//! stored delivery; later issues turn events into plan, apply and unlock jobs here.

use async_trait::async_trait;

use crate::event::{Event, EventKind, PullRequestAction};

/// How a dispatch went wrong: worth another try later, or never.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("{0:#}")]
    Transient(anyhow::Error),
    #[error("{0:#}")]
    Permanent(anyhow::Error),
}

/// Acts on events. A crash between `dispatch` returning and the store recording the delivery
/// as processed runs `dispatch` again for that delivery after restart, so anything it writes
/// must be keyed by `delivery_id` (insert-if-absent), which makes its effect exactly-once.
#[async_trait]
pub trait Dispatcher: Send + Sync + 'static {
    /// Returns a one-line summary of what was done, for the event log.
    async fn dispatch(&self, delivery_id: &str, event: &Event) -> Result<String, DispatchError>;
}

/// The dispatcher of this foundation: it logs each event and summarises it in the store's
/// event log. Jobs come with the plan issue.
#[derive(Debug, Default)]
pub struct EventLog;

#[async_trait]
impl Dispatcher for EventLog {
    async fn dispatch(&self, _delivery_id: &str, event: &Event) -> Result<String, DispatchError> {
        let summary = summarise(event);
        tracing::info!(event = event.name(), %summary, "event received");
        Ok(summary)
    }
}

/// A one-line description of an event, for logs and the event log.
pub fn summarise(event: &Event) -> String {
    let repo = event
        .repo
        .as_ref()
        .map(|r| r.full_name.as_str())
        .unwrap_or("-");
    let who = &event.sender.login;
    match &event.kind {
        EventKind::PullRequest { action, pr } => {
            let what = match action {
                PullRequestAction::Opened => "opened",
                PullRequestAction::Reopened => "reopened",
                PullRequestAction::Synchronize { .. } => "updated",
                PullRequestAction::ReadyForReview => "marked ready for review",
                PullRequestAction::Closed { merged: true } => "merged",
                PullRequestAction::Closed { merged: false } => "closed",
            };
            format!(
                "{repo}#{} {what} at {} by {who}",
                pr.number,
                short(&pr.head.sha)
            )
        }
        EventKind::PullRequestComment { pr_number, comment } => {
            format!(
                "{repo}#{pr_number} comment {} by {}",
                comment.id, comment.author.login
            )
        }
        EventKind::PullRequestReview { pr, review, .. } => {
            format!(
                "{repo}#{} review {:?} by {}",
                pr.number, review.state, review.author.login
            )
        }
        EventKind::Push { git_ref, after, .. } => {
            format!("{repo} push to {git_ref} at {} by {who}", short(after))
        }
        EventKind::CheckRun { action, check_run } => {
            format!("{repo} check run `{}` {action:?} by {who}", check_run.name)
        }
        EventKind::Installation {
            action, account, ..
        } => format!("installation for {account} {action:?}"),
        EventKind::InstallationRepositories {
            account,
            added,
            removed,
            ..
        } => {
            format!(
                "installation for {account}: {} repos added, {} removed",
                added.len(),
                removed.len()
            )
        }
    }
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}
