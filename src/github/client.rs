//! [`GitHub`]: the one client bosun talks to GitHub through. It holds a stack of layers
//! around a transport ([`Service`]s) and offers typed helpers, grouped by area in the files
//! below, each of which builds a [`Request`] and decodes its answer. A new endpoint is one
//! helper here plus the fake GitHub's model.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::GitHubError;
use super::layer::{
    auth::Credentials, http::HttpTransport, http::REQUEST_TIMEOUT, metrics::Counted, pace::Pacing,
    redact::Redacting, retry::Retry, unique::Unique,
};
use super::pace::{Pacer, StoredBudget};
use super::request::{Answer, Auth, Request, Service};
use super::retry::RetryPolicy;
use crate::config::GitHubSettings;
use crate::metrics::Metrics;
use crate::redact::Redactor;

mod access;
mod app;
mod checks;
mod comments;
mod issues;
mod pulls;
mod wire;

pub(crate) use issues::search_issue;
pub(crate) use wire::{ListedComment, MAX_PAGES, Page, installation_token};

/// GitHub as bosun uses it: cheap to clone, shared by every task.
#[derive(Clone)]
pub struct GitHub {
    service: Arc<dyn Service>,
}

impl GitHub {
    /// The real GitHub of `settings`: unique creates, the App's credentials, retries as
    /// `retry` says, metrics, over HTTPS. Writes are not paced nor redacted: see
    /// [`GitHub::paced`] and [`GitHub::redacted`].
    pub fn new(
        settings: &GitHubSettings,
        retry: RetryPolicy,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        Self::with_timeout(settings, retry, metrics, REQUEST_TIMEOUT)
    }

    /// [`GitHub::new`] with requests cut off after `timeout` instead of 30 s (for tests of
    /// GitHub hanging).
    pub fn with_timeout(
        settings: &GitHubSettings,
        retry: RetryPolicy,
        metrics: Arc<Metrics>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let transport = Arc::new(HttpTransport::new(&settings.api_url, timeout)?);
        let counted = Arc::new(Counted::new(transport, metrics));
        let retried = Arc::new(Retry::new(counted, retry.clone()));
        let credentials = Arc::new(Credentials::new(retried, settings)?);
        Ok(Self::over(Arc::new(Unique::new(credentials, retry))))
    }

    /// A client over `service` (a transport, or layers around one).
    pub fn over(service: Arc<dyn Service>) -> Self {
        Self { service }
    }

    /// This client with its writes paced by `pacer` and, with `stored`, by each
    /// installation's budget in the store.
    pub fn paced(&self, pacer: Arc<Pacer>, stored: Option<StoredBudget>) -> Self {
        Self::over(Arc::new(Pacing::new(self.service.clone(), pacer, stored)))
    }

    /// This client with every string its writes send redacted by `redactor`.
    pub fn redacted(&self, redactor: Redactor) -> Self {
        Self::over(Arc::new(Redacting::new(self.service.clone(), redactor)))
    }

    /// Sends one request through every layer.
    pub async fn send(&self, request: Request) -> Result<Answer, GitHubError> {
        let what = request.what;
        let answer = self.service.send(request).await?;
        if !answer.status.is_success() {
            // The retry layer already turns these into errors; a bare transport may not.
            return Err(GitHubError::Status {
                status: answer.status.as_u16(),
                what: what.into(),
                message: super::layer::retry::error_message(&answer.body),
            });
        }
        Ok(answer)
    }

    /// Sends `request` and decodes its answer.
    async fn fetch<T: serde::de::DeserializeOwned>(
        &self,
        request: Request,
    ) -> Result<T, GitHubError> {
        let what = request.what;
        self.send(request).await?.decode(what)
    }

    /// Sends a GraphQL request and returns its `data`; `None` when a newer write of its key
    /// replaced it. GitHub answers GraphQL errors with status 200 and an `errors` list: those
    /// are failures too.
    async fn graphql(&self, request: Request) -> Result<Option<Value>, GitHubError> {
        #[derive(Deserialize)]
        struct Problem {
            #[serde(rename = "type")]
            kind: Option<String>,
            #[serde(default)]
            message: String,
        }
        #[derive(Deserialize)]
        struct Reply {
            #[serde(default)]
            data: Value,
            #[serde(default)]
            errors: Vec<Problem>,
        }
        let what = request.what;
        let answer = self.send(request).await?;
        if answer.is_superseded() {
            return Ok(None);
        }
        let reply: Reply = answer.decode(what)?;
        if let Some(first) = reply.errors.into_iter().next() {
            return Err(GitHubError::GraphQl {
                what: what.into(),
                kind: first.kind,
                message: first.message.chars().take(300).collect(),
            });
        }
        Ok(Some(reply.data))
    }

    /// GETs `path` page by page; see [`each_page`].
    async fn each_page<P: Page>(
        &self,
        what: &'static str,
        path: &str,
        auth: Auth,
        max_pages: u32,
        take: impl FnMut(Vec<P::Item>) -> ControlFlow<()>,
    ) -> Result<(), GitHubError> {
        each_page::<P>(&*self.service, what, path, auth, max_pages, take).await
    }
}

/// Items per page asked of list endpoints (GitHub's maximum).
const PER_PAGE: u32 = 100;

/// GETs `path` through `service` page by page (at most `max_pages`), handing each page's
/// items to `take` until it breaks or there is no next page.
pub(crate) async fn each_page<P: Page>(
    service: &dyn Service,
    what: &'static str,
    path: &str,
    auth: Auth,
    max_pages: u32,
    mut take: impl FnMut(Vec<P::Item>) -> ControlFlow<()>,
) -> Result<(), GitHubError> {
    for page in 1..=max_pages {
        let request = Request::get(what, wire::page_path(path, PER_PAGE, page), auth.clone());
        let answer = service.send(request).await?;
        let items = answer.decode::<P>(what)?.items();
        if take(items).is_break() || !wire::has_next(&answer.headers) {
            return Ok(());
        }
    }
    tracing::warn!(
        what,
        max_pages,
        "stopped reading a GitHub listing at its page limit"
    );
    Ok(())
}
