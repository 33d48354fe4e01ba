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

#[cfg(test)]
mod tests {
    use crate::github::local::LocalGitHub;
    use crate::github::{CheckRunSpec, CheckStatus, GitHub, IssueUpdate};
    use crate::ids::{InstallationId, Sha};
    use crate::redact::Redactor;

    fn redacted() -> (GitHub, std::sync::Arc<LocalGitHub>) {
        let (client, local) = LocalGitHub::client();
        let redactor = Redactor::default();
        redactor.add("hunter2hunter2");
        (client.redacted(redactor), local)
    }

    #[tokio::test]
    async fn bodies_and_check_runs_are_written_redacted() {
        let (gh, local) = redacted();
        let c = gh
            .create_comment(InstallationId(1), "acme/infra", 1, "token: hunter2hunter2")
            .await
            .unwrap();
        gh.update_comment(
            InstallationId(1),
            "acme/infra",
            c.id,
            "still hunter2hunter2",
        )
        .await
        .unwrap();
        let check = CheckRunSpec {
            name: "bosun/plan: hunter2hunter2".into(),
            head_sha: Sha::new("a".repeat(40)),
            status: CheckStatus::Queued,
            title: "hunter2hunter2".into(),
            summary: "s hunter2hunter2".into(),
            text: Some("t hunter2hunter2".into()),
            external_id: None,
            details_url: None,
        };
        let id = gh
            .create_check_run(InstallationId(1), "acme/infra", &check)
            .await
            .unwrap();
        gh.update_check_run(InstallationId(1), "acme/infra", id, &check)
            .await
            .unwrap();
        let seen = format!("{:?} {:?}", local.comments(), local.checks());
        assert!(!seen.contains("hunter2hunter2"), "{seen}");
        assert!(seen.contains("still [redacted]"), "{seen}");
        assert!(seen.contains("t [redacted]"), "{seen}");
        assert!(
            seen.contains("bosun/plan: [redacted]"),
            "every string: {seen}"
        );
    }

    #[tokio::test]
    async fn issue_titles_and_bodies_are_written_redacted() {
        let (gh, local) = redacted();
        let labels = vec!["drift".to_owned()];
        let n = gh
            .create_issue(
                InstallationId(1),
                "acme/infra",
                "t hunter2hunter2",
                "b hunter2hunter2",
                &labels,
            )
            .await
            .unwrap();
        let seen = format!("{:?}", local.issues());
        assert!(!seen.contains("hunter2hunter2"), "{seen}");
        assert!(seen.contains("t [redacted]"), "{seen}");
        let update = IssueUpdate {
            body: Some("again hunter2hunter2".into()),
            open: Some(false),
        };
        gh.update_issue(InstallationId(1), "acme/infra", n, &update)
            .await
            .unwrap();
        let issue = gh
            .find_issue(InstallationId(1), "acme/infra", "drift", "t [redacted]")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (issue.body.as_str(), issue.open),
            ("again [redacted]", false)
        );
    }

    #[tokio::test]
    async fn reads_are_sent_as_they_are() {
        let (gh, _) = redacted();
        // A read's path is not a write's body: nothing to redact, nothing changed.
        assert_eq!(
            gh.find_issue(InstallationId(1), "acme/infra", "drift", "hunter2hunter2")
                .await
                .unwrap(),
            None
        );
    }
}
