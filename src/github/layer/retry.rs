//! Sends a request again as the [`RetryPolicy`] decides (server errors and rate limits, with
//! bounded waits), and turns what is left of a failure into a [`GitHubError`]: above this
//! layer an answer is always a success.
//!
//! Whether a request may be sent again is part of it: with [`Resend::IfNotReceived`] an
//! answer that leaves open whether GitHub acted (a server error, a timeout, a dropped
//! connection) is returned at once as an error, for the caller to look before resending.
//!
//! The policy's waits come from GitHub's answers (`retry-after`, the rate limit's reset) as
//! much as from the exponential backoff, and it gives up on waits longer than its cap: one
//! pure, tested decision per attempt, which `backon`'s retry loop (backoff from an iterator,
//! the error only to decide whether) would not make simpler.

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::Value;

use crate::github::GitHubError;
use crate::github::request::{Answer, Request, Resend, Service};
use crate::github::retry::{Decision, RetryPolicy};

pub struct Retry {
    inner: Arc<dyn Service>,
    policy: RetryPolicy,
}

impl Retry {
    pub fn new(inner: Arc<dyn Service>, policy: RetryPolicy) -> Self {
        Self { inner, policy }
    }
}

/// GitHub's `message`, cut short; never the whole body.
pub(crate) fn error_message(body: &[u8]) -> String {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| "no message".into());
    message.chars().take(300).collect()
}

#[async_trait::async_trait]
impl Service for Retry {
    async fn send(&self, request: Request) -> Result<Answer, GitHubError> {
        let what = request.what;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.inner.send(request.clone()).await;
            let decision = self.policy.decide(
                attempt,
                outcome.as_ref().ok().map(|a| (a.status, &a.headers)),
                SystemTime::now(),
            );
            let maybe_received = match &outcome {
                Ok(answer) => answer.status.is_server_error(),
                Err(GitHubError::Unsent { .. }) => false,
                Err(_) => true,
            };
            let decision = match decision {
                Decision::RetryAfter(_) if request.resend != Resend::Always && maybe_received => {
                    Decision::GiveUp
                }
                decision => decision,
            };
            match (decision, outcome) {
                (Decision::RetryAfter(wait), outcome) => {
                    let status = outcome.as_ref().map(|a| a.status.as_u16()).ok();
                    tracing::warn!(
                        what,
                        ?status,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "GitHub call failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                (Decision::GiveUpRateLimited(retry_in), _) => {
                    return Err(GitHubError::RateLimited {
                        what: what.into(),
                        retry_in,
                    });
                }
                (_, Err(GitHubError::Unsent { what, message })) => {
                    return Err(GitHubError::Transport { what, message });
                }
                (_, Err(e)) => return Err(e),
                (_, Ok(answer)) if answer.status.is_success() => return Ok(answer),
                (_, Ok(answer)) => {
                    return Err(GitHubError::Status {
                        status: answer.status.as_u16(),
                        what: what.into(),
                        message: error_message(&answer.body),
                    });
                }
            }
        }
    }
}
