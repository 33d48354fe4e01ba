//! Run-log benchmark: how long a line of a run's output takes from bosun's run-log writer (the
//! sink the runner hands every redacted line to) to an SSE client of `/api/runs/{id}/log`, and
//! what 100 open SSE streams cost in memory.
//!
//! bosun (`app::start`, SQLite in a temp dir, no GitHub) serves one running run. The bench
//! writes `BOSUN_BENCH_LINES` lines (default 100) to the run's `RunLog`, one every
//! `BOSUN_BENCH_LINE_MS` ms (default 100), each carrying the instant it was written; an SSE
//! client reading the stream over loopback records when each arrives. The baseline, in the
//! same run: the same lines appended to the store directly (`append_run_log`), timed to the
//! moment the store has them. Then 100 SSE streams are opened on the run and held for 2 s;
//! the process's resident memory before and after gives the cost per stream.
//!
//! `cargo bench --bench run_log`. The latency is by design about the writer's batch interval
//! (200 ms) plus half the stream's poll interval (250 ms); the figure checks that design.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use bosun::config::{Layer, Settings, Sources};
use bosun::metrics::Metrics;
use bosun::plan::Target;
use bosun::redact::Redactor;
use bosun::run_log::RunLog;
use bosun::store::{NewRun, RunKind, RunStatus, now_millis};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

#[path = "common/intake.rs"]
mod intake;
use intake::{APP_KEY, NoGitHub, SECRET, env_number, median};

const TOKEN: &str = "run-log-bench-token-0123456789";

fn settings(dir: &Path) -> anyhow::Result<Settings> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut flags = Layer::default();
    flags.set("listen", "127.0.0.1:0");
    flags.set("data_dir", dir.display().to_string());
    flags.set("github_app_id", "1");
    flags.set(
        "github_app_key_file",
        root.join(APP_KEY).display().to_string(),
    );
    flags.set("github_webhook_secret", SECRET);
    flags.set("repo_allowlist", "*/*");
    flags.set("redelivery_interval", "0");
    flags.set("api_token", TOKEN);
    Ok(Settings::resolve(&Sources {
        flags,
        ..Sources::default()
    })?)
}

/// Opens `GET /api/runs/{id}/log` as Server-Sent Events; the reader after the headers.
async fn open_stream(addr: std::net::SocketAddr, id: i64) -> anyhow::Result<BufReader<TcpStream>> {
    let mut socket = TcpStream::connect(addr).await?;
    let request = format!(
        "GET /api/runs/{id}/log HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\
         Authorization: Bearer {TOKEN}\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await?;
    let mut reader = BufReader::new(socket);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    ensure!(
        line.starts_with("HTTP/1.1 200"),
        "the stream answered {line:?}"
    );
    loop {
        line.clear();
        reader.read_line(&mut line).await?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    Ok(reader)
}

/// Resident memory of this process, in KiB (Linux).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn bench() -> anyhow::Result<()> {
    let lines = env_number("BOSUN_BENCH_LINES", 100.0) as u32;
    let every = Duration::from_millis(env_number("BOSUN_BENCH_LINE_MS", 100.0) as u64);
    let dir = tempfile::tempdir()?;
    let running = bosun::app::start(
        &settings(dir.path())?,
        Arc::new(Metrics::default()),
        Arc::new(NoGitHub::client()),
    )
    .await
    .context("starting bosun")?;
    let store = running.store.clone();
    let new_run = |kind| NewRun {
        job_id: 1,
        repository: bosun::ids::RepoKey::new("acme/infra"),
        pr: bosun::ids::PrNumber(1),
        target: Target {
            dir: bosun::ids::Dir::new("prod"),
            workspace: bosun::ids::Workspace::default(),
            name: None,
        },
        kind,
        commit_sha: bosun::ids::Sha::new("0".repeat(40)),
        requested_by: "bench".into(),
    };
    let id = store
        .start_run(&new_run(RunKind::Apply), now_millis())
        .await?
        .id();
    let started = Instant::now();

    // The reader: every `data:` line carries the microseconds since `started` it was written.
    let mut stream = open_stream(running.addr, id).await?;
    let reader = tokio::spawn(async move {
        let mut latencies = Vec::new();
        let mut line = String::new();
        let deadline = Instant::now() + Duration::from_secs(600);
        while Instant::now() < deadline {
            line.clear();
            match tokio::time::timeout(Duration::from_secs(30), stream.read_line(&mut line)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => break,
            }
            if let Some(rest) = line.trim_end().strip_prefix("data: t=")
                && let Ok(at) = rest.parse::<u64>()
            {
                let now = started.elapsed().as_micros() as u64;
                latencies.push(now.saturating_sub(at) as f64 / 1000.0);
            }
            if line.starts_with("event: end") {
                break;
            }
        }
        latencies
    });

    let log = RunLog::start(store.clone(), id, Redactor::default());
    for _ in 0..lines {
        log.line(&format!("t={}", started.elapsed().as_micros()));
        tokio::time::sleep(every).await;
    }

    // 100 more streams on the live run: memory before and after.
    let before = rss_kib();
    let mut held = Vec::new();
    for _ in 0..100 {
        held.push(open_stream(running.addr, id).await?);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib();
    log.finish(RunStatus::Succeeded).await;
    drop(held);
    let latencies = reader.await?;
    ensure!(
        latencies.len() == lines as usize,
        "the stream delivered {} of {lines} lines",
        latencies.len()
    );

    // Baseline: the same number of lines appended to the store directly.
    let other = store
        .start_run(&new_run(RunKind::Plan), now_millis())
        .await?
        .id();
    let mut stored = Vec::new();
    for i in 0..lines {
        let t = Instant::now();
        store
            .append_run_log(other, &format!("t={i}\n"), now_millis())
            .await?;
        stored.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    running.shutdown().await;

    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    let p90 = sorted[(sorted.len() * 9 / 10).min(sorted.len() - 1)];
    let line_to_client = median(latencies);
    let store_append = median(stored);
    println!(
        "bosun run-log benchmark: {lines} lines, one every {every:?}, 1 SSE client over loopback"
    );
    println!(
        "line written → SSE client: median {line_to_client:.1} ms, p90 {p90:.1} ms, max {:.1} ms",
        sorted[sorted.len() - 1]
    );
    println!("baseline, the store's append alone: median {store_append:.2} ms");
    println!(
        "ratio line → client / store append: {:.0}x (the design: a 200 ms write batch plus a 250 ms poll)",
        line_to_client / store_append.max(0.001)
    );
    println!(
        "100 open SSE streams: resident memory {before} KiB → {after} KiB, {:.1} KiB a stream",
        (after.saturating_sub(before)) as f64 / 100.0
    );
    Ok(())
}

fn main() -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(bench()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("run_log bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
