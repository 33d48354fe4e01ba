//! Creates that must not happen twice: a comment, a check run, an issue. GitHub may act on a
//! POST and still answer 502, or time out after acting; sending it again then makes a second
//! one. So a create ([`Resend::IfNotMade`]) is sent again at once only when GitHub certainly
//! did not get it (the connection was never made, a rate limit refused it); after an answer
//! that leaves it open, this layer first looks for what the create would have made — a comment
//! by its exact body (which carries bosun's hidden marker), a check run by name and
//! `external_id` on its commit, an issue by label and title — and sends again only when it is
//! not there. Bounded like every call by the retry policy.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::github::GitHubError;
use crate::github::client::{ListedComment, MAX_PAGES, Page, each_page, search_issue};
use crate::github::request::{Answer, Auth, Lookup, Request, Resend, Service};
use crate::github::retry::{Decision, RetryPolicy};

/// How far back a comment made by a create whose answer was lost is looked for (GitHub's
/// clock against ours, and the retries' waits, fit well inside).
const COMMENT_LOOKBACK: Duration = Duration::from_secs(15 * 60);

pub struct Unique {
    inner: Arc<dyn Service>,
    policy: RetryPolicy,
}

impl Unique {
    pub fn new(inner: Arc<dyn Service>, policy: RetryPolicy) -> Self {
        Self { inner, policy }
    }
}

/// Whether a failed create may have been made anyway.
fn uncertain(e: &GitHubError) -> bool {
    match e {
        GitHubError::Transport { .. } => true,
        GitHubError::Status { status, .. } => *status >= 500,
        _ => false,
    }
}

#[async_trait::async_trait]
impl Service for Unique {
    async fn send(&self, request: Request) -> Result<Answer, GitHubError> {
        let Resend::IfNotMade(lookup) = request.resend.clone() else {
            return self.inner.send(request).await;
        };
        let what = request.what;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let once = request.clone().resend(Resend::IfNotReceived);
            let e = match self.inner.send(once).await {
                Ok(answer) => return Ok(answer),
                Err(e) if uncertain(&e) => e,
                Err(e) => return Err(e),
            };
            let Decision::RetryAfter(wait) = self.policy.decide(attempt, None, SystemTime::now())
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
            if let Some(found) = self.find(&request, &lookup).await? {
                tracing::info!(what, "it had been made: not sent again");
                return Ok(Answer::json(&found));
            }
        }
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

impl Unique {
    /// What `request` would have made, as its answer would have shown it, if it is there.
    async fn find(&self, request: &Request, lookup: &Lookup) -> Result<Option<Value>, GitHubError> {
        let installation = request.installation().unwrap_or_default();
        let body = request.body.clone().unwrap_or_default();
        let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        match lookup {
            Lookup::Comment { repo, number } => {
                let found = self
                    .find_comment(
                        installation,
                        repo,
                        *number,
                        &field("body").unwrap_or_default(),
                    )
                    .await?;
                Ok(found.map(|c| json!({ "id": c.id, "node_id": c.node_id })))
            }
            Lookup::CheckRun { repo } => {
                let name = field("name").unwrap_or_default();
                let external_id = field("external_id");
                let sha = field("head_sha").unwrap_or_default();
                let Some(id) = self
                    .find_check_run(installation, repo, &sha, &name, external_id.as_deref())
                    .await?
                else {
                    return Ok(None);
                };
                // It was made with this very body; write it again all the same, so what it
                // shows is this create's whatever the lookup found.
                let mut update = body.clone();
                if let Some(o) = update.as_object_mut() {
                    o.remove("head_sha");
                }
                let mut patch = Request::write(
                    "updating a check run",
                    Method::PATCH,
                    format!("/repos/{repo}/check-runs/{id}"),
                    installation,
                    Some(update),
                );
                patch.auth = request.auth.clone();
                self.inner.send(patch).await?;
                Ok(Some(json!({ "id": id })))
            }
            Lookup::Issue { repo } => {
                let title = field("title").unwrap_or_default();
                let Some(label) = body
                    .pointer("/labels/0")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                else {
                    return Ok(None);
                };
                let found = search_issue(
                    &*self.inner,
                    crate::ids::InstallationId(installation),
                    repo,
                    &label,
                    &title,
                )
                .await?
                .filter(|i| i.open && i.title == title);
                Ok(found.map(|i| json!({ "number": i.number })))
            }
        }
    }

    /// The newest comment of the last minutes on issue `number` by a bot whose body is `body`.
    async fn find_comment(
        &self,
        installation: u64,
        repo: &str,
        number: u64,
        body: &str,
    ) -> Result<Option<ListedComment>, GitHubError> {
        let since = SystemTime::now()
            .checked_sub(COMMENT_LOOKBACK)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let path = format!(
            "/repos/{repo}/issues/{number}/comments?since={}",
            humantime::format_rfc3339_seconds(since)
        );
        let mut found = None;
        each_page::<Vec<ListedComment>>(
            &*self.inner,
            "looking for a comment",
            &path,
            Auth::Installation(installation),
            MAX_PAGES,
            |page| {
                // A person who copied bosun's text (marker and all) into a comment of their
                // own must not stand in for the one bosun makes.
                if let Some(c) = page.into_iter().rfind(|c| {
                    c.user.as_ref().is_some_and(|u| u.kind == "Bot")
                        && c.body.as_deref() == Some(body)
                }) {
                    found = Some(c);
                }
                ControlFlow::Continue(())
            },
        )
        .await?;
        Ok(found)
    }

    /// The check run named `name`, with `external_id`, on commit `sha`.
    async fn find_check_run(
        &self,
        installation: u64,
        repo: &str,
        sha: &str,
        name: &str,
        external_id: Option<&str>,
    ) -> Result<Option<u64>, GitHubError> {
        let path = format!("/repos/{repo}/commits/{sha}/check-runs?filter=all");
        let mut found = None;
        each_page::<CheckRuns>(
            &*self.inner,
            "looking for a check run",
            &path,
            Auth::Installation(installation),
            MAX_PAGES,
            |page| {
                if let Some(run) = page
                    .into_iter()
                    .find(|r| r.name == name && r.external_id.as_deref() == external_id)
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
}
