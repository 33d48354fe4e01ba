//! A [`Runner`] around any other that redacts secrets from what the command printed, right
//! after it is captured: plan text, failures, stored outcomes and logs are made from it, so
//! none of them can hold a secret Terraform (or a PR's provisioner) printed.

use std::sync::Arc;

use anyhow::Result;
use async_trait::async_trait;

use super::run::{Finished, Invocation, Runner};
use crate::redact::Redactor;

/// Runs through `inner` and redacts the output (and any error) with a [`Redactor`].
pub struct Redacting {
    inner: Arc<dyn Runner>,
    redactor: Redactor,
}

impl Redacting {
    /// `inner`, its output redacted with `redactor`.
    pub fn new(inner: Arc<dyn Runner>, redactor: Redactor) -> Self {
        Self { inner, redactor }
    }
}

#[async_trait]
impl Runner for Redacting {
    async fn run(&self, inv: Invocation) -> Result<Finished> {
        match self.inner.run(inv).await {
            Ok(mut done) => {
                done.output = self.redactor.redact_owned(done.output);
                Ok(done)
            }
            Err(e) => Err(anyhow::anyhow!(
                "{}",
                self.redactor.redact_owned(format!("{e:#}"))
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terraform::{Direct, Exit};
    use std::time::Duration;

    #[tokio::test]
    async fn output_and_errors_come_redacted() {
        let redactor = Redactor::default();
        redactor.add("hunter2hunter2");
        let runner = Redacting::new(Arc::new(Direct::default()), redactor);
        let dir = tempfile::tempdir().unwrap();
        let inv = |program: &str, args: &[&str]| Invocation {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            cwd: dir.path().to_owned(),
            env: vec![("SECRET".into(), "hunter2hunter2".into())],
            timeout: Duration::from_secs(10),
            output_cap: 1 << 20,
            writable: Vec::new(),
            readable: Vec::new(),
            network: true,
        };
        let done = runner
            .run(inv(
                "/bin/sh",
                &[
                    "-c",
                    "echo plain $SECRET; printf %s \"$SECRET\" | base64 >&2",
                ],
            ))
            .await
            .unwrap();
        assert_eq!(done.exit, Exit::Code(0));
        assert!(!done.output.contains("hunter2"), "{}", done.output);
        assert!(
            !done.output.contains("aHVudGVyMmh1bnRlcjI"),
            "{}",
            done.output
        );
        assert!(done.output.contains("plain [redacted]"), "{}", done.output);
        let err = runner
            .run(inv("/nonexistent/hunter2hunter2", &[]))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains("hunter2hunter2") && err.contains("[redacted]"),
            "{err}"
        );
    }
}
