//! Counts every request that reaches the transport by the status GitHub answered (`error`
//! when none came back): one count per attempt, retries included.

use std::sync::Arc;

use crate::github::GitHubError;
use crate::github::request::{Answer, Request, Service};
use crate::metrics::Metrics;

pub struct Counted {
    inner: Arc<dyn Service>,
    metrics: Arc<Metrics>,
}

impl Counted {
    pub fn new(inner: Arc<dyn Service>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }
}

#[async_trait::async_trait]
impl Service for Counted {
    async fn send(&self, request: Request) -> Result<Answer, GitHubError> {
        let outcome = self.inner.send(request).await;
        self.metrics
            .github_status(outcome.as_ref().ok().map(|a| a.status.as_u16()));
        outcome
    }
}
