//! Running the `git` CLI as a hostile, bounded subprocess: a cleared environment (no user or
//! system config, no prompts), a timeout, `kill_on_drop`, capped output, and the installation
//! token passed only through the environment and redacted from anything we return.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// The only variables git gets from bosun's environment: where programs are, and how to reach
/// GitHub (proxies, CA certificates).
const PASSED_THROUGH: &[&str] = &[
    "PATH",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
];

/// The most stderr kept for error messages.
const STDERR_CAP: usize = 16 * 1024;

/// How to run git: the binary, a private HOME, and the per-command timeout.
#[derive(Debug, Clone)]
pub(crate) struct Git {
    pub(crate) program: PathBuf,
    pub(crate) home: PathBuf,
    pub(crate) timeout: Duration,
}

/// What a finished git command produced.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
}

impl Output {
    pub(crate) fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// One git invocation being built: arguments, extra environment, a secret to keep out of
/// errors, stdin bytes and an output cap.
pub(crate) struct Invocation<'a> {
    git: &'a Git,
    args: Vec<String>,
    env: Vec<(String, String)>,
    secret: Option<String>,
    stdin: Option<Vec<u8>>,
    stdout_cap: usize,
    /// Runs at the lowest CPU priority (see [`Invocation::background`]).
    background: bool,
}

impl Git {
    /// A git command run against the repository (or bare mirror) `git_dir`.
    pub(crate) fn at<'a>(&'a self, git_dir: &Path) -> Invocation<'a> {
        let mut inv = self.bare();
        inv.args.push(format!("--git-dir={}", git_dir.display()));
        inv
    }

    /// A git command with no repository.
    pub(crate) fn bare(&self) -> Invocation<'_> {
        Invocation {
            git: self,
            args: Vec::new(),
            env: Vec::new(),
            secret: None,
            stdin: None,
            stdout_cap: 64 * 1024 * 1024,
            background: false,
        }
    }
}

impl<'a> Invocation<'a> {
    pub(crate) fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub(crate) fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub(crate) fn stdin(mut self, input: Vec<u8>) -> Self {
        self.stdin = Some(input);
        self
    }

    /// Runs the command at the lowest CPU priority (niceness 19): upkeep that nobody waits
    /// for yields the CPUs to Terraform.
    pub(crate) fn background(mut self) -> Self {
        self.background = true;
        self
    }

    pub(crate) fn stdout_cap(mut self, cap: usize) -> Self {
        self.stdout_cap = cap;
        self
    }

    /// Authenticates HTTP(S) requests as the installation: the token goes into an
    /// `http.extraHeader` given through `GIT_CONFIG_*` variables, never argv or the URL.
    pub(crate) fn token(mut self, token: &str) -> Self {
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
        self.env.push((
            "http.extraHeader".into(),
            format!("Authorization: Basic {basic}"),
        ));
        self.secret = Some(token.to_owned());
        self
    }

    /// The command, spawned with the cleared environment; `stdin` piped when requested.
    pub(crate) fn spawn(&self, with_stdin: bool) -> anyhow::Result<Child> {
        let mut cmd = Command::new(&self.git.program);
        cmd.args(&self.args)
            .env_clear()
            .env("HOME", &self.git.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_PROTOCOL_FROM_USER", "0")
            .env("LC_ALL", "C")
            .stdin(if with_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for key in PASSED_THROUGH {
            if let Some(value) = std::env::var_os(key) {
                cmd.env(key, value);
            }
        }
        // Plain variables (GIT_INDEX_FILE…) go as they are; dotted keys are git config.
        let mut config: Vec<(&str, &str)> = vec![
            ("gc.autoDetach", "false"),
            ("maintenance.autoDetach", "false"),
            ("core.logAllRefUpdates", "false"),
            ("credential.helper", ""),
            ("protocol.allow", "never"),
            ("protocol.https.allow", "always"),
            ("protocol.http.allow", "always"),
            ("advice.detachedHead", "false"),
            // Write a checkout's files with one worker per core: most of a new checkout's
            // time is creating files.
            ("checkout.workers", "0"),
        ];
        for (k, v) in &self.env {
            if k.contains('.') {
                config.push((k, v));
            } else {
                cmd.env(k, v);
            }
        }
        if self.background {
            // SAFETY: between fork and exec only setpriority(2), a plain system call.
            unsafe {
                cmd.pre_exec(|| {
                    // A priority left as it was only makes the upkeep compete: not an error.
                    let _ = rustix::process::setpriority_process(None, 19);
                    Ok(())
                });
            }
        }
        cmd.env("GIT_CONFIG_COUNT", config.len().to_string());
        for (i, (k, v)) in config.iter().enumerate() {
            cmd.env(format!("GIT_CONFIG_KEY_{i}"), k);
            cmd.env(format!("GIT_CONFIG_VALUE_{i}"), v);
        }
        cmd.spawn()
            .with_context(|| format!("starting {}", self.git.program.display()))
    }

    /// The command for messages: `git <subcommand>` (the token is never in argv anyway).
    pub(crate) fn describe(&self) -> String {
        let sub = self
            .args
            .iter()
            .find(|a| !a.starts_with("--git-dir=") && !a.starts_with("--work-tree="))
            .map_or("", String::as_str);
        format!("git {sub}")
    }

    /// Replaces the token (and its Basic encoding) in text we may show.
    pub(crate) fn redact(&self, text: &str) -> String {
        let Some(secret) = self.secret.as_deref().filter(|s| !s.is_empty()) else {
            return text.to_owned();
        };
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{secret}"));
        text.replace(secret, "***").replace(&basic, "***")
    }

    /// Runs to completion within the timeout, whatever the exit code.
    pub(crate) async fn output(self) -> anyhow::Result<Output> {
        let what = self.describe();
        let timeout = self.git.timeout;
        let run = async {
            let mut child = self.spawn(self.stdin.is_some())?;
            let stdin = child.stdin.take();
            let input = self.stdin.clone();
            let write = async move {
                if let (Some(mut pipe), Some(input)) = (stdin, input) {
                    // A git that exits early closes the pipe: not our error to report.
                    let _ = pipe.write_all(&input).await;
                }
                anyhow::Ok(())
            };
            let stdout = child.stdout.take().context("no stdout pipe")?;
            let stderr = child.stderr.take().context("no stderr pipe")?;
            // The first error (output over its cap) ends the wait; the child is then dropped,
            // which kills it.
            let ((), out, err) = tokio::try_join!(
                write,
                read_capped(stdout, self.stdout_cap, true),
                read_capped(stderr, STDERR_CAP, false),
            )?;
            let status = child.wait().await.context("waiting for git")?;
            anyhow::Ok(Output {
                code: status.code(),
                stdout: out,
                stderr: self.redact(String::from_utf8_lossy(&err).trim()),
            })
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(result) => result.with_context(|| what.clone()),
            Err(_) => bail!(
                "{what}: timed out after {}",
                humantime::format_duration(timeout)
            ),
        }
    }

    /// Runs and requires exit code 0; the error carries git's (redacted) stderr.
    pub(crate) async fn run(self) -> anyhow::Result<Vec<u8>> {
        let what = self.describe();
        let out = self.output().await?;
        if !out.success() {
            return Err(failure(&what, &out));
        }
        Ok(out.stdout)
    }
}

/// The error for a git command that exited unsuccessfully.
pub(crate) fn failure(what: &str, out: &Output) -> anyhow::Error {
    let code = out
        .code
        .map_or_else(|| "a signal".to_string(), |c| format!("exit code {c}"));
    if out.stderr.is_empty() {
        anyhow!("{what} failed with {code}")
    } else {
        anyhow!("{what} failed with {code}: {}", out.stderr)
    }
}

/// Reads a pipe to its end, keeping at most `cap` bytes; past the cap an error when `strict`,
/// else the rest is read and dropped (so the child never blocks on a full pipe).
async fn read_capped(
    mut pipe: impl AsyncRead + Unpin,
    cap: usize,
    strict: bool,
) -> anyhow::Result<Vec<u8>> {
    let mut kept = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = pipe.read(&mut buf).await.context("reading git's output")?;
        if n == 0 {
            return Ok(kept);
        }
        let room = cap.saturating_sub(kept.len());
        if n > room && strict {
            bail!("output larger than {cap} bytes");
        }
        kept.extend_from_slice(buf.get(..n.min(room)).unwrap_or_default());
    }
}

/// An object id: 40 (SHA-1) or 64 (SHA-256) lower-case hex digits.
pub(crate) fn check_oid(oid: &str) -> anyhow::Result<()> {
    let ok = matches!(oid.len(), 40 | 64)
        && oid
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        bail!("`{}` is not a full commit sha", oid.escape_debug())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "git" that is `sh`, to see what a command is started with.
    fn shell(home: &Path) -> Git {
        Git {
            program: PathBuf::from("sh"),
            home: home.to_owned(),
            timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn background_commands_run_at_the_lowest_priority_and_others_as_bosun() {
        let home = tempfile::tempdir().unwrap();
        let sh = shell(home.path());
        let niceness = |out: Vec<u8>| String::from_utf8(out).unwrap().trim().to_owned();
        let upkeep = sh.bare().args(["-c", "nice"]).background().run().await;
        assert_eq!(niceness(upkeep.unwrap()), "19");
        let ours =
            String::from_utf8(std::process::Command::new("nice").output().unwrap().stdout).unwrap();
        let plain = sh.bare().args(["-c", "nice"]).run().await;
        assert_eq!(niceness(plain.unwrap()), ours.trim());
    }
}
