//! A set evaluated in a child process: bosun's own binary, run as `bosun policy-eval`
//! (hidden), reads the set and the plan's JSON on stdin and writes its [`SetOutcome`] on
//! stdout. The child's address space is capped (`RLIMIT_AS`) and it is killed after a
//! wall-clock limit, so a policy that loops or allocates without bound fails its set with a
//! message instead of holding or sinking bosun.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{RegoModule, SetOutcome};

/// How a set is evaluated: which binary, and its bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalLimits {
    /// bosun's binary (`None`: this process's own executable).
    pub bin: Option<PathBuf>,
    /// Wall-clock time per set.
    pub time: Duration,
    /// Address space of the child, in bytes.
    pub memory: u64,
}

impl Default for EvalLimits {
    fn default() -> Self {
        Self {
            bin: None,
            time: Duration::from_secs(10),
            memory: 1 << 30,
        }
    }
}

/// What the child reads.
#[derive(Serialize, Deserialize)]
struct Request {
    modules: Vec<RegoModule>,
    input: String,
    /// The cooperative limit, below the kill.
    millis: u64,
}

/// What the child writes.
#[derive(Serialize, Deserialize)]
enum Reply {
    Ok(SetOutcome),
    Err(String),
}

/// The most the child may print.
const MAX_REPLY: u64 = 4 << 20;

/// Evaluates `modules` on `input` in a child process. `Err`: why the set could not be
/// evaluated (a message for the pull request: the set fails with it).
pub async fn evaluate(
    limits: &EvalLimits,
    modules: &[RegoModule],
    input: &str,
) -> Result<SetOutcome, String> {
    let bin = match &limits.bin {
        Some(bin) => bin.clone(),
        None => std::env::current_exe().map_err(|e| {
            tracing::error!(error = %e, "finding bosun's own binary failed");
            "bosun could not start the policy evaluation; the operator's logs say why".to_owned()
        })?,
    };
    let request = serde_json::to_vec(&Request {
        modules: modules.to_vec(),
        input: input.to_owned(),
        millis: u64::try_from(limits.time.as_millis()).unwrap_or(u64::MAX),
    })
    .map_err(|e| format!("encoding the policy's input: {e}"))?;
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.arg("policy-eval")
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let memory = limits.memory;
    // SAFETY: only async-signal-safe calls (setrlimit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: memory as libc::rlim_t,
                rlim_max: memory as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| {
        tracing::error!(error = %e, bin = %bin.display(), "starting the policy evaluation failed");
        "bosun could not start the policy evaluation; the operator's logs say why".to_owned()
    })?;
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let run = async {
        if let Some(mut stdin) = stdin.take() {
            // A child that died early closes its stdin: its exit says why.
            let _ = stdin.write_all(&request).await;
        }
        let mut out = Vec::new();
        if let Some(stdout) = stdout.take() {
            let _ = stdout.take(MAX_REPLY + 1).read_to_end(&mut out).await;
        }
        let status = child.wait().await;
        (out, status)
    };
    // The cooperative limit first; the kill a little after it.
    let kill_after = limits.time + limits.time / 2 + Duration::from_secs(1);
    let (out, status) = match tokio::time::timeout(kill_after, run).await {
        Ok(done) => done,
        Err(_) => {
            return Err(format!(
                "the policy did not finish within {}s and was stopped",
                limits.time.as_secs_f32()
            ));
        }
    };
    match serde_json::from_slice::<Reply>(&out) {
        Ok(Reply::Ok(outcome)) => Ok(outcome),
        Ok(Reply::Err(why)) => Err(why),
        Err(_) => {
            let how = match status {
                Ok(s) if s.success() => "without an answer".to_owned(),
                Ok(s) => format!("({s})"),
                Err(e) => format!("({e})"),
            };
            Err(format!(
                "the policy's evaluation stopped {how}: it may have used more than {} MiB of \
                 memory",
                limits.memory >> 20
            ))
        }
    }
}

/// The child's side (`bosun policy-eval`): stdin to stdout, exit 0 when it answered.
pub fn child_main() -> std::process::ExitCode {
    use std::io::{Read as _, Write as _};
    let mut input = Vec::new();
    let reply = match std::io::stdin().take(1 << 30).read_to_end(&mut input) {
        Err(e) => Reply::Err(format!("reading the request: {e}")),
        Ok(_) => match serde_json::from_slice::<Request>(&input) {
            Err(e) => Reply::Err(format!("reading the request: {e}")),
            Ok(req) => {
                let limit = Duration::from_millis(req.millis);
                match super::eval::evaluate(&req.modules, &req.input, limit) {
                    Ok(outcome) => Reply::Ok(outcome),
                    Err(e) if e.contains("time limit") || e.contains("xecution time") => {
                        Reply::Err(format!(
                            "the policy did not finish within {}s and was stopped",
                            limit.as_secs_f32()
                        ))
                    }
                    Err(e) => Reply::Err(format!("the policy failed: {e}")),
                }
            }
        },
    };
    let out = serde_json::to_vec(&reply).unwrap_or_default();
    let mut stdout = std::io::stdout();
    if stdout
        .write_all(&out)
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
