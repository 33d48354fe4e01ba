//! The one door every command bosun runs for a pull request goes through: an [`Invocation`]
//! handed to a [`Runner`]. [`Direct`] runs it on this host; the sandbox wraps the same trait.
//!
//! A command run for a pull request is hostile: it may print without end, ignore signals,
//! fork children that outlive it, or read bosun's secrets from the environment. So every run
//! gets a cleared environment holding exactly [`Invocation::env`], no stdin, its own session
//! and process group (so the whole tree can be signalled, and no terminal reached), a
//! timeout, and an output cap.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::AsyncReadExt;
use tokio::process::{ChildStderr, ChildStdout, Command};
use tokio_util::sync::CancellationToken;

/// One command to run: what, where, with which environment and within which limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub program: PathBuf,
    /// Passed as separate argv entries, never through a shell.
    pub args: Vec<String>,
    pub cwd: PathBuf,
    /// The child's whole environment: nothing of bosun's own environment is inherited.
    pub env: Vec<(String, String)>,
    /// Wall-clock limit; past it the process group gets SIGINT, then SIGKILL.
    pub timeout: Duration,
    /// Bytes of output kept; the rest is read and dropped.
    pub output_cap: usize,
    /// Host paths the command may write (the checkout root; the plugin cache during
    /// `init`). Only a sandbox reads this: [`Direct`] ignores it.
    pub writable: Vec<PathBuf>,
    /// Host paths the command may read but not write (the plugin cache outside `init`).
    /// Only a sandbox reads this: [`Direct`] ignores it.
    pub readable: Vec<PathBuf>,
    /// Whether the command may use the host's network. Only a sandbox reads this (it cuts
    /// the network off when either this or its own setting says so): [`Direct`] ignores it.
    pub network: bool,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The process exited with this status code.
    Code(i32),
    /// The process was killed by this signal (not by bosun's timeout).
    Signal(i32),
    /// The timeout passed and bosun stopped the process group.
    TimedOut,
}

impl Exit {
    /// Whether the command succeeded (exit code 0).
    pub fn success(&self) -> bool {
        matches!(self, Self::Code(0))
    }

    fn from_status(status: ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => Self::Code(code),
            (None, Some(signal)) => Self::Signal(signal),
            (None, None) => Self::Code(-1),
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Code(code) => write!(f, "exit code {code}"),
            Self::Signal(signal) => write!(f, "killed by signal {signal}"),
            Self::TimedOut => f.write_str("timed out"),
        }
    }
}

/// A finished run: how it ended and what it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub exit: Exit,
    /// stdout and stderr interleaved in arrival order, lossy UTF-8, at most `output_cap`
    /// bytes followed, when cut, by a line `… output cut at N bytes`.
    pub output: String,
    /// Whether the output was longer than the cap.
    pub truncated: bool,
    pub elapsed: Duration,
}

/// Runs an [`Invocation`]. The only way bosun starts a command for a pull request, so a
/// sandbox can wrap every one of them.
#[async_trait]
pub trait Runner: Send + Sync + 'static {
    /// Runs the command to its end (or its timeout). `Err` only when it could not be run at
    /// all (program not found, working directory missing); a failing command is `Ok` with
    /// its [`Exit`].
    async fn run(&self, inv: Invocation) -> Result<Finished>;

    /// Runs the command like [`Runner::run`], also handing its output to `output` as it is
    /// read (only what the output cap keeps). A runner that cannot stream hands it all over
    /// at the end.
    async fn run_streaming(&self, inv: Invocation, output: Arc<dyn Output>) -> Result<Finished> {
        let done = self.run(inv).await?;
        output.write(done.output.as_bytes());
        Ok(done)
    }
}

/// Where a command's output goes while it runs: pieces as read from its pipes (stdout and
/// stderr interleaved), in order. Called from the reading task: it must not block.
pub trait Output: Send + Sync {
    fn write(&self, bytes: &[u8]);
}

/// How long a timed-out process group has between SIGINT and SIGKILL: Terraform stops
/// gracefully on SIGINT (finishing the operation in flight and releasing state locks).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// How long output is still drained after the process and its group are gone (a process
/// that escaped the group may hold the pipes open).
const DRAIN: Duration = Duration::from_secs(2);

/// Runs commands directly on this host with `tokio::process`.
///
/// Every command starts a new session (so also a new process group, and no controlling
/// terminal: nothing it runs can reach bosun's terminal). On timeout the process group gets
/// SIGINT, then after [`Direct::grace`] SIGKILL. Whatever the leader leaves behind in its
/// group when it exits (background children) is killed too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Direct {
    /// Time between SIGINT and SIGKILL on timeout.
    pub grace: Duration,
}

impl Default for Direct {
    fn default() -> Self {
        Self {
            grace: DEFAULT_GRACE,
        }
    }
}

/// Signals a child's process group; dropping it kills the group, so nothing outlives a run
/// even when the run's future is dropped half-way.
struct Group(Option<Pid>);

impl Group {
    fn signal(&self, signal: Signal) {
        // Pid 1 as a group would mean "every process we may signal": never.
        if let Some(pid) = self.0.filter(|p| p.as_raw_nonzero().get() > 1) {
            // ESRCH (group already empty) is the expected case after a clean exit.
            let _ = kill_process_group(pid, signal);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.signal(Signal::KILL);
    }
}

/// What a wrapping runner asks of the process [`Direct`] starts, beyond its [`Invocation`].
#[derive(Default)]
pub struct Spawn {
    /// Inherited by the program as fd 3 (a sandbox's seccomp program).
    pub fd3: Option<OwnedFd>,
    /// The program starts with SIGINT ignored (a sandbox that puts it back to its default
    /// for the command it runs, so the timeout's SIGINT reaches the command and not the
    /// sandbox around it).
    pub ignore_sigint: bool,
    /// Gets the output as it is read (see [`Runner::run_streaming`]).
    pub output: Option<Arc<dyn Output>>,
}

impl std::fmt::Debug for Spawn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spawn")
            .field("fd3", &self.fd3)
            .field("ignore_sigint", &self.ignore_sigint)
            .field("output", &self.output.is_some())
            .finish()
    }
}

#[async_trait]
impl Runner for Direct {
    async fn run(&self, inv: Invocation) -> Result<Finished> {
        self.run_with(inv, Spawn::default()).await
    }

    async fn run_streaming(&self, inv: Invocation, output: Arc<dyn Output>) -> Result<Finished> {
        let spawn = Spawn {
            output: Some(output),
            ..Spawn::default()
        };
        self.run_with(inv, spawn).await
    }
}

impl Direct {
    /// Runs `inv` like [`Runner::run`], started as `spawn` says.
    pub async fn run_with(&self, inv: Invocation, spawn: Spawn) -> Result<Finished> {
        if !inv.cwd.is_dir() {
            bail!("working directory {} does not exist", inv.cwd.display());
        }
        let mut cmd = Command::new(&inv.program);
        cmd.args(&inv.args)
            .current_dir(&inv.cwd)
            .env_clear()
            .envs(inv.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let fd3 = spawn.fd3.as_ref().map(|fd| fd.as_raw_fd());
        let ignore_sigint = spawn.ignore_sigint;
        // SAFETY: between fork and exec only async-signal-safe calls (setsid, signal, dup2,
        // fcntl) on values copied in before the fork.
        unsafe {
            cmd.pre_exec(move || before_exec(fd3, ignore_sigint));
        }
        tracing::debug!(program = %inv.program.display(), cwd = %inv.cwd.display(), "running");
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => anyhow!("program not found: {}", inv.program.display()),
            _ => anyhow!(e).context(format!("starting {}", inv.program.display())),
        })?;
        let group = Group(
            child
                .id()
                .and_then(|id| i32::try_from(id).ok())
                .and_then(Pid::from_raw),
        );
        let stdout = child.stdout.take().context("child stdout")?;
        let stderr = child.stderr.take().context("child stderr")?;
        let stop = CancellationToken::new();
        let pipes = (stdout, stderr);
        let mut reader = tokio::spawn(capture(pipes, inv.output_cap, spawn.output, stop.clone()));

        let exit = match tokio::time::timeout(inv.timeout, child.wait()).await {
            Ok(status) => Exit::from_status(status.context("waiting for the command")?),
            Err(_) => {
                group.signal(Signal::INT);
                if tokio::time::timeout(self.grace, child.wait())
                    .await
                    .is_err()
                {
                    group.signal(Signal::KILL);
                    // SIGKILL cannot be ignored; the bound only guards against a kernel stall.
                    let _ = tokio::time::timeout(self.grace, child.wait()).await;
                }
                Exit::TimedOut
            }
        };
        // Background children left in the group would hold the pipes open: they go too.
        group.signal(Signal::KILL);
        let captured = match tokio::time::timeout(DRAIN, &mut reader).await {
            Ok(joined) => joined.context("output reader")?,
            Err(_) => {
                stop.cancel();
                reader.await.context("output reader")?
            }
        };
        let elapsed = started.elapsed();
        let truncated = captured.truncated();
        Ok(Finished {
            exit,
            output: captured.into_text(),
            truncated,
            elapsed,
        })
    }
}

/// In the child, before exec: a new session, SIGINT ignored when asked, `fd3` at fd 3.
fn before_exec(fd3: Option<i32>, ignore_sigint: bool) -> std::io::Result<()> {
    let check = |r: libc::c_int| {
        if r == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    // SAFETY: plain syscalls on integers; see the caller.
    unsafe {
        check(libc::setsid())?;
        if ignore_sigint && libc::signal(libc::SIGINT, libc::SIG_IGN) == libc::SIG_ERR {
            return Err(std::io::Error::last_os_error());
        }
        match fd3 {
            // dup2 onto itself keeps close-on-exec: clear it.
            Some(3) => check(libc::fcntl(3, libc::F_SETFD, 0))?,
            Some(fd) => check(libc::dup2(fd, 3))?,
            None => {}
        }
    }
    Ok(())
}

/// Output kept up to a cap, with a count of everything read.
#[derive(Debug)]
struct Captured {
    kept: Vec<u8>,
    total: usize,
    cap: usize,
}

impl Captured {
    fn new(cap: usize) -> Self {
        Self {
            kept: Vec::with_capacity(cap.min(64 * 1024)),
            total: 0,
            cap,
        }
    }

    /// Keeps what fits of `chunk` and returns it.
    fn push<'c>(&mut self, chunk: &'c [u8]) -> &'c [u8] {
        let room = self.cap.saturating_sub(self.kept.len());
        let kept = chunk.get(..room.min(chunk.len())).unwrap_or_default();
        self.kept.extend_from_slice(kept);
        self.total = self.total.saturating_add(chunk.len());
        kept
    }

    fn truncated(&self) -> bool {
        self.total > self.cap
    }

    fn into_text(self) -> String {
        let truncated = self.truncated();
        let mut text = String::from_utf8_lossy(&self.kept).into_owned();
        if truncated {
            // The cut may have split a character: drop the replacement it became.
            if text.ends_with('\u{FFFD}') {
                text.pop();
            }
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!("… output cut at {} bytes\n", self.cap));
        }
        text
    }
}

/// Reads both pipes until both close (or `stop`), keeping at most `cap` bytes (and handing
/// them to `output` as they come) but draining everything so the child never blocks on a
/// full pipe.
async fn capture(
    (mut stdout, mut stderr): (ChildStdout, ChildStderr),
    cap: usize,
    output: Option<Arc<dyn Output>>,
    stop: CancellationToken,
) -> Captured {
    let tee = |kept: &[u8]| {
        if let Some(out) = output.as_ref().filter(|_| !kept.is_empty()) {
            out.write(kept);
        }
    };
    let mut captured = Captured::new(cap);
    let mut out_buf = vec![0u8; 16 * 1024];
    let mut err_buf = vec![0u8; 16 * 1024];
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        tokio::select! {
            read = stdout.read(&mut out_buf), if out_open => match read {
                Ok(0) | Err(_) => out_open = false,
                Ok(n) => tee(captured.push(out_buf.get(..n).unwrap_or_default())),
            },
            read = stderr.read(&mut err_buf), if err_open => match read {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) => tee(captured.push(err_buf.get(..n).unwrap_or_default())),
            },
            () = stop.cancelled() => break,
        }
    }
    captured
}

#[cfg(test)]
mod tests;
