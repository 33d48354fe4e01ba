//! The last stop before GitHub's content: every string a write sends (a comment's body, a
//! check run's output, an issue's title and body, and every other field) is redacted with a
//! [`Redactor`], so no secret reaches a pull request or an issue whatever text produced it.
//! Reads, tokens and the App's own calls pass straight through.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::Value;

use crate::github::GitHubError;
use crate::github::request::{Answer, Budget, Request, Service};
use crate::redact::Redactor;

pub struct Redacting {
    inner: Arc<dyn Service>,
    redactor: Redactor,
}

impl Redacting {
    pub fn new(inner: Arc<dyn Service>, redactor: Redactor) -> Self {
        Self { inner, redactor }
    }

    /// Redacts every string in `value`, in place.
    fn redact(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                if let Cow::Owned(clean) = self.redactor.redact(s) {
                    *s = clean;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact(v)),
            Value::Object(fields) => fields.values_mut().for_each(|v| self.redact(v)),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

#[async_trait::async_trait]
impl Service for Redacting {
    async fn send(&self, mut request: Request) -> Result<Answer, GitHubError> {
        if let (Budget::Write { .. }, Some(body)) = (&request.budget, request.body.as_mut()) {
            self.redact(body);
        }
        self.inner.send(request).await
    }
}
