//! A [`Runner`] around any other that redacts secrets from what the command printed, right
//! after it is captured: plan text, failures, stored outcomes and logs are made from it, so
//! none of them can hold a secret Terraform (or a PR's provisioner) printed. Output streamed
//! while the command runs (a run's live log) is redacted a line at a time: bytes are held
//! until their line ends, so a secret written in two pieces is still caught.

use std::sync::{Arc, Mutex};

use anyhow::Result;
use async_trait::async_trait;

use super::run::{Finished, Invocation, Output, Runner};
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
        self.redacted(self.inner.run(inv).await)
    }

    async fn run_streaming(&self, inv: Invocation, output: Arc<dyn Output>) -> Result<Finished> {
        let lines = Arc::new(RedactLines::new(output, self.redactor.clone()));
        let done = self.inner.run_streaming(inv, lines.clone()).await;
        lines.flush();
        self.redacted(done)
    }
}

impl Redacting {
    fn redacted(&self, done: Result<Finished>) -> Result<Finished> {
        match done {
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

/// A line longer than this is passed on in pieces of this size (a secret straddling a
/// piece's end could then get through: Terraform's lines are far shorter).
pub const MAX_LINE: usize = 64 * 1024;

/// Hands `output` whole lines, each redacted; a partial line waits for its end (or
/// [`RedactLines::flush`], or [`MAX_LINE`]).
pub struct RedactLines {
    output: Arc<dyn Output>,
    redactor: Redactor,
    partial: Mutex<Vec<u8>>,
}

impl RedactLines {
    pub fn new(output: Arc<dyn Output>, redactor: Redactor) -> Self {
        Self {
            output,
            redactor,
            partial: Mutex::new(Vec::new()),
        }
    }

    /// Passes on what is held, line ended or not (the command is over).
    pub fn flush(&self) {
        let rest = std::mem::take(&mut *self.partial.lock().unwrap_or_else(|e| e.into_inner()));
        if !rest.is_empty() {
            self.pass(&rest);
        }
    }

    fn pass(&self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let redacted = self.redactor.redact(&text);
        self.output.write(redacted.as_bytes());
    }
}

impl Output for RedactLines {
    fn write(&self, bytes: &[u8]) {
        let ready = {
            let mut partial = self.partial.lock().unwrap_or_else(|e| e.into_inner());
            partial.extend_from_slice(bytes);
            match partial.iter().rposition(|&b| b == b'\n') {
                Some(end) => {
                    let rest = partial.split_off(end + 1);
                    std::mem::replace(&mut *partial, rest)
                }
                None if partial.len() >= MAX_LINE => std::mem::take(&mut *partial),
                None => return,
            }
        };
        self.pass(&ready);
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

    /// What an [`Output`] got, piece by piece.
    #[derive(Default)]
    struct Pieces(Mutex<Vec<String>>);

    impl Output for Pieces {
        fn write(&self, bytes: &[u8]) {
            self.0
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(bytes).into_owned());
        }
    }

    #[test]
    fn streamed_lines_are_redacted_even_when_a_secret_comes_in_two_writes() {
        let redactor = Redactor::default();
        redactor.add("hunter2hunter2");
        let pieces = Arc::new(Pieces::default());
        let lines = RedactLines::new(pieces.clone(), redactor);
        lines.write(b"one\ntoken=hunt");
        lines.write(b"er2hunter2 and more");
        assert_eq!(
            *pieces.0.lock().unwrap(),
            vec!["one\n"],
            "a partial line waits"
        );
        lines.write(b"\nlast without newline");
        lines.flush();
        assert_eq!(
            *pieces.0.lock().unwrap(),
            vec![
                "one\n",
                "token=[redacted] and more\n",
                "last without newline"
            ]
        );
        lines.write(&vec![b'x'; MAX_LINE]);
        assert_eq!(
            pieces.0.lock().unwrap().len(),
            4,
            "a line past the bound goes on"
        );
    }

    #[tokio::test]
    async fn a_streaming_run_hands_over_redacted_output_as_it_is_printed() {
        let redactor = Redactor::default();
        redactor.add("hunter2hunter2");
        let runner = Redacting::new(Arc::new(Direct::default()), redactor);
        let dir = tempfile::tempdir().unwrap();
        let pieces = Arc::new(Pieces::default());
        let inv = Invocation {
            program: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                "echo first; sleep 1; printf 'secret %s' \"$SECRET\"".into(),
            ],
            cwd: dir.path().to_owned(),
            env: vec![("SECRET".into(), "hunter2hunter2".into())],
            timeout: Duration::from_secs(10),
            output_cap: 1 << 20,
            writable: Vec::new(),
            readable: Vec::new(),
            network: true,
        };
        let watch = pieces.clone();
        let early = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            watch.0.lock().unwrap().clone()
        });
        let done = runner.run_streaming(inv, pieces.clone()).await.unwrap();
        assert_eq!(
            early.await.unwrap(),
            vec!["first\n"],
            "before the command ended"
        );
        assert_eq!(done.output, "first\nsecret [redacted]");
        assert_eq!(pieces.0.lock().unwrap().concat(), done.output);
    }
}
