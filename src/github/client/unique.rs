//! Creates that must not happen twice: a comment, a check run, an issue. GitHub may act on a
//! POST and still answer 502, or time out after acting; sending it again then makes a second
//! one. So a create is sent again at once only when GitHub certainly did not get it (the
//! connection was never made, a rate limit refused it); after an answer that leaves it open,
//! bosun first looks for what the create would have made — a comment by its exact body
//! (which carries bosun's hidden marker), a check run by name and `external_id` on its commit,
//! an issue by label and title — and sends again only when it is not there.

use std::future::Future;
use std::ops::ControlFlow;
use std::time::{Duration, SystemTime};

use http::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::wire::{MAX_PAGES, Page, check_run_body, decode, new_issue_body};
use super::{Auth, OctocrabGitHub, Resend};
use crate::github::retry::Decision;
use crate::github::{CheckRunSpec, CommentRef, GitHubError};

/// How far back a comment made by a create whose answer was lost is looked for (GitHub's
/// clock against ours, and the retries' waits, fit well inside).
const COMMENT_LOOKBACK: Duration = Duration::from_secs(15 * 60);

/// Whether a failed create may have been made anyway.
fn uncertain(e: &GitHubError) -> bool {
    match e {
        GitHubError::Transport { .. } => true,
        GitHubError::Status { status, .. } => *status >= 500,
        _ => false,
    }
}

#[derive(Deserialize)]
struct CreatedComment {
    id: u64,
    node_id: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<Author>,
}

#[derive(Deserialize)]
struct Author {
    #[serde(rename = "type", default)]
    kind: String,
}

impl CreatedComment {
    /// Whether a bot wrote it: a person who copied bosun's text (marker and all) into a
    /// comment of their own must not stand in for the one bosun makes.
    fn by_a_bot(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.kind == "Bot")
    }
}

#[derive(Deserialize)]
struct CheckRunId {
    id: u64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    external_id: Option<String>,
}

#[derive(Deserialize)]
struct CheckRuns {
    #[serde(default)]
    check_runs: Vec<CheckRunId>,
}

impl Page for CheckRuns {
    type Item = CheckRunId;
    fn items(self) -> Vec<CheckRunId> {
        self.check_runs
    }
}

impl OctocrabGitHub {
    /// POSTs a create to `path` as the installation: sent again only when GitHub certainly did
    /// not get it, or when `find`, asked after an answer that leaves it open, does not find
    /// what it would have made. Bounded like every call by the retry policy.
    async fn create_unique<T, F, Fut>(
        &self,
        what: &str,
        path: &str,
        installation_id: u64,
        body: &Value,
        find: F,
    ) -> Result<T, GitHubError>
    where
        T: DeserializeOwned,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<T>, GitHubError>>,
    {
        let url = format!("{}{}", self.api_url, path);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .call_url(
                    what,
                    Method::POST,
                    &url,
                    Auth::Installation(installation_id),
                    Some(body),
                    Resend::IfNotReceived,
                )
                .await;
            let e = match sent {
                Ok(answer) => return decode(what, &answer.body),
                Err(e) if uncertain(&e) => e,
                Err(e) => return Err(e),
            };
            let Decision::RetryAfter(wait) = self.retry.decide(attempt, None, SystemTime::now())
            else {
                return Err(e);
            };
            tracing::warn!(
                what,
                attempt,
                error = %e,
                wait_ms = wait.as_millis() as u64,
                "GitHub may have made it anyway: looking before sending it again"
            );
            tokio::time::sleep(wait).await;
            if let Some(found) = find().await? {
                tracing::info!(what, "it had been made: not sent again");
                return Ok(found);
            }
        }
    }

    pub(super) async fn create_comment_once(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        body: &str,
    ) -> Result<CommentRef, GitHubError> {
        let path = format!("/repos/{repo}/issues/{number}/comments");
        let created: CreatedComment = self
            .create_unique(
                "creating a comment",
                &path,
                installation_id,
                &json!({ "body": body }),
                || self.find_comment(installation_id, repo, number, body),
            )
            .await?;
        Ok(CommentRef {
            id: created.id,
            node_id: created.node_id,
        })
    }

    /// The newest comment of the last minutes on issue `number` by a bot whose body is `body`.
    async fn find_comment(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        body: &str,
    ) -> Result<Option<CreatedComment>, GitHubError> {
        let since = SystemTime::now()
            .checked_sub(COMMENT_LOOKBACK)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let path = format!(
            "/repos/{repo}/issues/{number}/comments?since={}",
            humantime::format_rfc3339_seconds(since)
        );
        let mut found = None;
        self.each_page::<Vec<CreatedComment>>(
            "looking for a comment",
            &path,
            Auth::Installation(installation_id),
            MAX_PAGES,
            |page| {
                if let Some(c) = page
                    .into_iter()
                    .rfind(|c| c.by_a_bot() && c.body.as_deref() == Some(body))
                {
                    found = Some(c);
                }
                ControlFlow::Continue(())
            },
        )
        .await?;
        Ok(found)
    }

    pub(super) async fn create_check_run_once(
        &self,
        installation_id: u64,
        repo: &str,
        check: &CheckRunSpec,
    ) -> Result<u64, GitHubError> {
        #[derive(Deserialize)]
        struct Created {
            id: u64,
        }
        let path = format!("/repos/{repo}/check-runs");
        let created: Created = self
            .create_unique(
                "creating a check run",
                &path,
                installation_id,
                &check_run_body(check, true),
                || async {
                    let Some(id) = self.find_check_run(installation_id, repo, check).await? else {
                        return Ok(None);
                    };
                    // It was made with this very spec; write it again all the same, so what
                    // it shows is this create's whatever the lookup found.
                    let body = check_run_body(check, false);
                    self.call(
                        "updating a check run",
                        Method::PATCH,
                        &format!("/repos/{repo}/check-runs/{id}"),
                        Auth::Installation(installation_id),
                        Some(&body),
                    )
                    .await?;
                    Ok(Some(Created { id }))
                },
            )
            .await?;
        Ok(created.id)
    }

    /// The check run named as `check` is, with its `external_id`, on its commit.
    async fn find_check_run(
        &self,
        installation_id: u64,
        repo: &str,
        check: &CheckRunSpec,
    ) -> Result<Option<u64>, GitHubError> {
        let path = format!(
            "/repos/{repo}/commits/{}/check-runs?filter=all",
            check.head_sha
        );
        let mut found = None;
        self.each_page::<CheckRuns>(
            "looking for a check run",
            &path,
            Auth::Installation(installation_id),
            MAX_PAGES,
            |page| {
                if let Some(run) = page
                    .into_iter()
                    .find(|r| r.name == check.name && r.external_id == check.external_id)
                {
                    found = Some(run.id);
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            },
        )
        .await?;
        Ok(found)
    }

    pub(super) async fn create_issue_once(
        &self,
        installation_id: u64,
        repo: &str,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> Result<u64, GitHubError> {
        #[derive(Deserialize)]
        struct Created {
            number: u64,
        }
        let path = format!("/repos/{repo}/issues");
        let created: Created = self
            .create_unique(
                "creating an issue",
                &path,
                installation_id,
                &new_issue_body(title, body, labels),
                || async {
                    let Some(label) = labels.first() else {
                        return Ok(None);
                    };
                    Ok(self
                        .search_issue(installation_id, repo, label, title)
                        .await?
                        .filter(|i| i.open && i.title == title)
                        .map(|i| Created { number: i.number }))
                },
            )
            .await?;
        Ok(created.number)
    }
}
