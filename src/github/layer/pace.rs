//! Pacing as a layer: every write ([`Budget::Write`]) waits for its turn on a [`Pacer`] (and,
//! with a [`StoredBudget`], for a token of its installation's budget in the store); reads and
//! the App's own calls pass straight through. A write whose key a newer write took over while
//! it waited never runs: it is answered [`Answer::superseded`], as the newer one carries its
//! content.
//!
//! The bucket is the hand-written [`Pacer`], not `governor`: a governor limiter has no queue
//! (so no replacing of a waiting write by a newer one of its key, nor one write of a key at a
//! time), no running into debt after the maximum wait, and keeps its state in the process,
//! where the fleet's budget is shared in the store.

use std::sync::Arc;

use crate::github::GitHubError;
use crate::github::pace::{Paced, Pacer, StoredBudget};
use crate::github::request::{Answer, Budget, Request, Service};

pub struct Pacing {
    inner: Arc<dyn Service>,
    pacer: Arc<Pacer>,
    /// The fleet's budget, spent by each write once the pacer gives it its turn.
    stored: Option<StoredBudget>,
}

impl Pacing {
    pub fn new(inner: Arc<dyn Service>, pacer: Arc<Pacer>, stored: Option<StoredBudget>) -> Self {
        Self {
            inner,
            pacer,
            stored,
        }
    }

    /// Sends `request` once the installation's stored budget grants it a token.
    async fn budgeted(&self, request: Request) -> Result<Answer, GitHubError> {
        if let (Some(stored), Some(installation)) = (&self.stored, request.installation()) {
            stored.spend(installation).await;
        }
        self.inner.send(request).await
    }
}

#[async_trait::async_trait]
impl Service for Pacing {
    async fn send(&self, request: Request) -> Result<Answer, GitHubError> {
        let key = match &request.budget {
            Budget::Read | Budget::App => return self.inner.send(request).await,
            Budget::Write { key } => key.clone(),
        };
        match key {
            None => self.pacer.write_unkeyed(|| self.budgeted(request)).await,
            Some(key) => match self
                .pacer
                .write(Some(&key), || self.budgeted(request))
                .await
            {
                Paced::Ran(outcome) => outcome,
                Paced::Superseded => Ok(Answer::superseded()),
            },
        }
    }
}
