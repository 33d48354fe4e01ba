//! A run's log, written to the store while the run goes on: every Terraform command's output
//! (redacted a line at a time by [`crate::terraform::Redacting`]) and a `$ command` line
//! before each command. Lines are written in small batches — every [`FLUSH_EVERY`], or
//! sooner once [`FLUSH_LINES`] lines wait — so a busy Terraform does not make one store write
//! per line, and a reader on any replica sees them within a moment (see `server::runs`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::redact::Redactor;
use crate::store::{RunStatus, Store, now_millis};
use crate::terraform::run::Output;
use crate::terraform::{Finished, Invocation, Runner};

/// The longest lines wait before they are written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Lines that make a write at once.
pub const FLUSH_LINES: usize = 64;

/// A run's log being written. Dropping it without [`RunLog::finish`] stops its writer after
/// one last write of what waits.
pub struct RunLog {
    id: i64,
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
    store: Arc<dyn Store>,
    redactor: Redactor,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Notify,
}

#[derive(Default)]
struct Pending {
    text: String,
    lines: usize,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RunLog {
    /// The log of run `id`, written to `store`; `redactor` redacts the lines bosun writes
    /// itself (output comes redacted).
    pub fn start(store: Arc<dyn Store>, id: i64, redactor: Redactor) -> Self {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
        });
        let writer = tokio::spawn(write_batches(store.clone(), id, shared.clone()));
        Self {
            id,
            shared,
            writer: Some(writer),
            store,
            redactor,
        }
    }

    pub fn id(&self) -> i64 {
        self.id
    }

    /// Adds a line of bosun's own (redacted).
    pub fn line(&self, text: &str) {
        let mut line = self.redactor.redact(text).into_owned();
        line.push('\n');
        self.write(line.as_bytes());
    }

    /// Writes what waits and ends the run with `status`.
    pub async fn finish(mut self, status: RunStatus) {
        self.close().await;
        if let Err(e) = self.store.finish_run(self.id, status, now_millis()).await {
            tracing::error!(
                run = self.id,
                error = format!("{e:#}"),
                "finishing a run failed"
            );
        }
    }

    async fn close(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        if let Some(writer) = self.writer.take() {
            let _ = writer.await;
        }
    }
}

impl Drop for RunLog {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

impl Output for RunLog {
    fn write(&self, bytes: &[u8]) {
        let lines = {
            let mut pending = self.shared.lock();
            pending.text.push_str(&String::from_utf8_lossy(bytes));
            pending.lines += bytes.iter().filter(|&&b| b == b'\n').count();
            pending.lines
        };
        if lines >= FLUSH_LINES {
            self.shared.wake.notify_one();
        }
    }
}

/// Writes what waits every [`FLUSH_EVERY`] (or when woken) until the log is closed; a write
/// that fails is logged and its text kept for the next one.
async fn write_batches(store: Arc<dyn Store>, id: i64, shared: Arc<Shared>) {
    loop {
        let _ = tokio::time::timeout(FLUSH_EVERY, shared.wake.notified()).await;
        let (text, closed) = {
            let mut pending = shared.lock();
            pending.lines = 0;
            (std::mem::take(&mut pending.text), pending.closed)
        };
        if !text.is_empty()
            && let Err(e) = store.append_run_log(id, &text, now_millis()).await
        {
            tracing::warn!(
                run = id,
                error = format!("{e:#}"),
                "writing a run's log failed"
            );
            if !closed {
                let mut pending = shared.lock();
                pending.text.insert_str(0, &text);
            }
        }
        if closed {
            return;
        }
    }
}

/// A [`Runner`] whose every command streams its output into a run's log, after a line
/// saying which command runs.
pub struct Logged {
    inner: Arc<dyn Runner>,
    log: Arc<RunLog>,
}

impl Logged {
    pub fn new(inner: Arc<dyn Runner>, log: Arc<RunLog>) -> Self {
        Self { inner, log }
    }
}

#[async_trait]
impl Runner for Logged {
    async fn run(&self, inv: Invocation) -> Result<Finished> {
        self.log.line(&command_line(&inv));
        let done = self.inner.run_streaming(inv, self.log.clone()).await;
        match &done {
            Ok(d) if !d.exit.success() => self.log.line(&format!("({})", d.exit)),
            Ok(_) => {}
            Err(e) => self.log.line(&format!("(could not run: {e:#})")),
        }
        done
    }
}

/// `$ terraform plan -input=false …`: the program's file name and its arguments (the
/// environment, where credentials are, is not shown).
fn command_line(inv: &Invocation) -> String {
    let program = inv
        .program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut line = format!("$ {program}");
    for arg in &inv.args {
        line.push(' ');
        if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c == '\'') {
            line.push('\'');
            line.push_str(&arg.replace('\'', r"'\''"));
            line.push('\'');
        } else {
            line.push_str(arg);
        }
    }
    line
}

#[cfg(test)]
mod tests;
