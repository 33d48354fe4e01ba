//! Ingest benchmark: signed `pull_request.synchronize` deliveries, each with a new delivery id,
//! accepted per second, and the p99 time to the answer, with 64 keep-alive HTTP/1.1 connections over loopback, against two baselines
//! measured in the same run:
//!
//! - `bare`: an axum handler that reads the body and answers 200 (the HTTP ceiling);
//! - `durable`: the same handler, but one writer thread appends every body queued at that
//!   moment to a file, calls `fdatasync` once, then answers every waiter (the durable ceiling
//!   of this disk, with group commit);
//! - `bosun`: `bosun::app::start`, every delivery stored durably before its 202.
//!
//! Targets run interleaved (bare, durable, bosun, bare, …) for a few rounds, each on a fresh
//! server and a fresh directory; the medians over rounds are reported. Run it with
//! `cargo bench --bench ingest`. Environment:
//!
//! - `BOSUN_BENCH_SECS`: measured seconds per target and round (default 6);
//! - `BOSUN_BENCH_WARMUP_SECS`: warm-up seconds before each measurement (default 1);
//! - `BOSUN_BENCH_ROUNDS`: rounds (default 3);
//! - `BOSUN_BENCH_REQUESTS`: most requests per measurement (default 200000);
//! - `BOSUN_BENCH_TARGETS`: which targets to run, comma-separated (default `bare,durable,bosun`;
//!   the ratios need all three);
//! - `BOSUN_BENCH_DIR`: where the data directories go (default: cargo's target tmp dir, on the
//!   project's disk rather than a possible tmpfs `/tmp`).
//!
//! The process fails if any request errored or got an unexpected status (bosun: anything but
//! 202), or if a delivery acknowledged was not stored: after each bosun run every acknowledged
//! delivery id is looked up in its database (the durable baseline's file is only counted).
//! Missing the targets is reported, not failed.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::routing::post;
use bosun::metrics::Metrics;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

#[path = "common/intake.rs"]
mod intake;
use intake::{
    CONNECTIONS, Load, NoGitHub, SECRET, Sample, Stored, Totals, acknowledged, bosun_settings,
    env_number, median, missing_from, ms, payload, percentile, run_load,
};

/// The targets: bosun's throughput at least this share of the durable baseline's...
const TARGET_THROUGHPUT_SHARE: f64 = 0.5;
/// ...and its p99 at most this multiple of the durable baseline's p99.
const TARGET_P99_FACTOR: f64 = 2.0;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Bare,
    Durable,
    Bosun,
}

impl Target {
    const ALL: [Target; 3] = [Target::Bare, Target::Durable, Target::Bosun];

    fn name(self) -> &'static str {
        match self {
            Target::Bare => "bare",
            Target::Durable => "durable",
            Target::Bosun => "bosun",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Target::Bosun => "/events",
            Target::Bare | Target::Durable => "/",
        }
    }

    fn expected(self) -> StatusCode {
        match self {
            Target::Bosun => StatusCode::ACCEPTED,
            Target::Bare | Target::Durable => StatusCode::OK,
        }
    }
}

struct Config {
    secs: Duration,
    warmup: Duration,
    rounds: usize,
    max_requests: u64,
    dir: PathBuf,
    targets: Vec<Target>,
}

impl Config {
    fn from_env() -> Self {
        let dir = std::env::var_os("BOSUN_BENCH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
        Self {
            secs: Duration::from_secs_f64(env_number("BOSUN_BENCH_SECS", 6.0).max(0.1)),
            warmup: Duration::from_secs_f64(env_number("BOSUN_BENCH_WARMUP_SECS", 1.0)),
            rounds: (env_number("BOSUN_BENCH_ROUNDS", 3.0) as usize).max(1),
            max_requests: (env_number("BOSUN_BENCH_REQUESTS", 200_000.0) as u64).max(1),
            dir,
            targets: match std::env::var("BOSUN_BENCH_TARGETS") {
                Ok(list) => Target::ALL
                    .into_iter()
                    .filter(|t| list.split(',').any(|n| n.trim() == t.name()))
                    .collect(),
                Err(_) => Target::ALL.to_vec(),
            },
        }
    }
}

/// A server under test, and how to stop it.
enum Server {
    Plain {
        addr: SocketAddr,
        cancel: CancellationToken,
        task: tokio::task::JoinHandle<()>,
        /// The durable baseline's writer: deliveries stored, batches (fsyncs).
        writer: Option<std::thread::JoinHandle<(u64, u64)>>,
        _dir: tempfile::TempDir,
    },
    Bosun {
        running: bosun::app::Running,
        database: PathBuf,
        _dir: tempfile::TempDir,
    },
}

impl Server {
    fn addr(&self) -> SocketAddr {
        match self {
            Server::Plain { addr, .. } => *addr,
            Server::Bosun { running, .. } => running.addr,
        }
    }

    async fn start(target: Target, base: &Path) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("bosun-bench-{}-", target.name()))
            .tempdir_in(base)?;
        match target {
            Target::Bare => {
                let app = Router::new().route("/", post(bare));
                let (addr, cancel, task) = serve(app).await?;
                Ok(Server::Plain {
                    addr,
                    cancel,
                    task,
                    writer: None,
                    _dir: dir,
                })
            }
            Target::Durable => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.path().join("deliveries"))?;
                let (tx, rx) = mpsc::channel(1024);
                let writer = std::thread::Builder::new()
                    .name("durable-writer".into())
                    .spawn(move || group_commit(file, rx))?;
                let app = Router::new().route("/", post(durable)).with_state(tx);
                let (addr, cancel, task) = serve(app).await?;
                Ok(Server::Plain {
                    addr,
                    cancel,
                    task,
                    writer: Some(writer),
                    _dir: dir,
                })
            }
            Target::Bosun => {
                let settings = bosun_settings(dir.path(), None)?;
                let database = settings.data_dir.join("bosun.db");
                let running = bosun::app::start_with(
                    &settings,
                    Arc::new(Metrics::default()),
                    Arc::new(NoGitHub::client()),
                    Some(Arc::new(bosun::dispatch::EventLog)),
                )
                .await?;
                Ok(Server::Bosun {
                    running,
                    database,
                    _dir: dir,
                })
            }
        }
    }

    /// Stops the server, then checks that every delivery in `acknowledged` was stored.
    async fn stop(self, acknowledged: &[String]) -> anyhow::Result<Stored> {
        match self {
            Server::Plain {
                cancel,
                task,
                writer,
                _dir,
                ..
            } => {
                cancel.cancel();
                task.await?;
                let Some(writer) = writer else {
                    return Ok(Stored {
                        deliveries: 0,
                        missing: 0,
                        missing_ids: Vec::new(),
                        detail: String::new(),
                    });
                };
                // The server is gone, and with it every sender: the writer ends.
                let (deliveries, batches) = tokio::task::spawn_blocking(move || writer.join())
                    .await?
                    .map_err(|_| anyhow::anyhow!("the durable writer panicked"))?;
                let detail = format!(
                    "{batches} fdatasyncs, {:.1} deliveries each",
                    deliveries as f64 / batches.max(1) as f64
                );
                Ok(Stored {
                    deliveries,
                    missing: (acknowledged.len() as u64).saturating_sub(deliveries),
                    missing_ids: Vec::new(),
                    detail,
                })
            }
            Server::Bosun {
                running,
                database,
                _dir,
            } => {
                running.shutdown().await;
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(&database)
                    .read_only(true);
                let pool = sqlx::SqlitePool::connect_with(options).await?;
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT status, count(*) FROM deliveries GROUP BY status ORDER BY status",
                )
                .fetch_all(&pool)
                .await?;
                let ids: HashSet<String> = sqlx::query_scalar("SELECT id FROM deliveries")
                    .fetch_all(&pool)
                    .await?
                    .into_iter()
                    .collect();
                pool.close().await;
                let deliveries = rows.iter().map(|(_, n)| *n as u64).sum();
                let mut detail = String::from("stored by status:");
                for (status, n) in &rows {
                    let _ = write!(detail, " {status} {n}");
                }
                Ok(missing_from(&ids, acknowledged, deliveries, detail))
            }
        }
    }
}

async fn serve(
    app: Router,
) -> anyhow::Result<(SocketAddr, CancellationToken, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let cancel = CancellationToken::new();
    let shutdown = cancel.clone().cancelled_owned();
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            eprintln!("baseline server failed: {e}");
        }
    });
    Ok((addr, cancel, task))
}

async fn bare(_body: Bytes) -> StatusCode {
    StatusCode::OK
}

type Reply = oneshot::Sender<Result<(), String>>;

async fn durable(
    State(tx): State<mpsc::Sender<(Bytes, Reply)>>,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let (reply, answer) = oneshot::channel();
    if tx.send((body, reply)).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "the writer has stopped");
    }
    match answer.await {
        Ok(Ok(())) => (StatusCode::OK, ""),
        Ok(Err(_)) | Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "storing failed"),
    }
}

/// The durable baseline's group commit: everything queued at this moment, one append, one
/// `fdatasync`, then every waiter is answered. Returns (deliveries, batches).
fn group_commit(mut file: std::fs::File, mut rx: mpsc::Receiver<(Bytes, Reply)>) -> (u64, u64) {
    let (mut deliveries, mut batches) = (0u64, 0u64);
    let mut batch = Vec::new();
    let mut buf = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while let Ok(next) = rx.try_recv() {
            batch.push(next);
        }
        buf.clear();
        for (body, _) in &batch {
            buf.extend_from_slice(body);
        }
        let result = file
            .write_all(&buf)
            .and_then(|()| file.sync_data())
            .map_err(|e| e.to_string());
        if result.is_ok() {
            deliveries += batch.len() as u64;
            batches += 1;
        }
        for (_, reply) in batch.drain(..) {
            let _ = reply.send(result.clone());
        }
    }
    (deliveries, batches)
}

/// bosun against the baselines, and the targets (informational).
fn report_ratios(bare: f64, durable: f64, bosun: f64, durable_p99: f64, bosun_p99: f64) {
    let share = bosun / durable;
    let factor = bosun_p99 / durable_p99;
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    println!("bosun / bare    throughput {:>7.1} %", 100.0 * bosun / bare);
    println!(
        "bosun / durable throughput {:>7.1} %   target >= {:.0} %   {}",
        100.0 * share,
        100.0 * TARGET_THROUGHPUT_SHARE,
        verdict(share >= TARGET_THROUGHPUT_SHARE)
    );
    println!(
        "bosun p99 / durable p99    {:>7.2} x   target <= {:.0} x    {}",
        factor,
        TARGET_P99_FACTOR,
        verdict(factor <= TARGET_P99_FACTOR)
    );
}

fn main() -> ExitCode {
    let config = Config::from_env();
    if config.targets.is_empty() {
        eprintln!("BOSUN_BENCH_TARGETS names none of bare, durable, bosun");
        return ExitCode::FAILURE;
    }
    if let Err(e) = std::fs::create_dir_all(&config.dir) {
        eprintln!("cannot create {}: {e}", config.dir.display());
        return ExitCode::FAILURE;
    }
    let (body, what) = payload();
    let signature = HeaderValue::from_str(&bosun::server::signature::sign(SECRET, &body))
        .expect("hex is a valid header");

    // The servers get a runtime like `bosun serve`'s (one worker per CPU); the clients their own.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("server runtime");
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .expect("client runtime");

    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("bosun ingest benchmark");
    println!("  payload: {what}");
    println!(
        "  {CONNECTIONS} keep-alive HTTP/1.1 connections over loopback; {} rounds of {:.1} s (at most {} requests) after {:.1} s of warm-up; {cpus} CPUs",
        config.rounds,
        config.secs.as_secs_f64(),
        config.max_requests,
        config.warmup.as_secs_f64()
    );
    println!("  data directories under {}", config.dir.display());
    println!();

    let mut totals: Vec<Totals> = Target::ALL.iter().map(|_| Totals::default()).collect();
    let mut problems: Vec<String> = Vec::new();
    let bench_start = Instant::now();
    for round in 1..=config.rounds {
        for (i, target) in Target::ALL.into_iter().enumerate() {
            if !config.targets.contains(&target) {
                continue;
            }
            let server = match server_rt.block_on(Server::start(target, &config.dir)) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("starting {}: {e:#}", target.name());
                    return ExitCode::FAILURE;
                }
            };
            let mut load = Load {
                addrs: vec![server.addr()],
                path: target.path(),
                expected: target.expected(),
                body: body.clone(),
                signature: signature.clone(),
                prefix: format!("bench-r{round}-{}-warmup", target.name()),
            };
            let warm = client_rt.block_on(run_load(&load, config.warmup, config.max_requests));
            load.prefix = format!("bench-r{round}-{}", target.name());
            let mut run = client_rt.block_on(run_load(&load, config.secs, config.max_requests));
            let acknowledged = acknowledged(&warm, &run);
            let stored = match server_rt.block_on(server.stop(&acknowledged)) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("stopping {}: {e:#}", target.name());
                    return ExitCode::FAILURE;
                }
            };

            run.latencies.sort_unstable();
            let sample = Sample {
                rate: run.ok as f64 / run.elapsed.as_secs_f64(),
                p50: ms(percentile(&run.latencies, 0.50)),
                p99: ms(percentile(&run.latencies, 0.99)),
            };
            let lost = if target == Target::Bare {
                0
            } else {
                stored.missing
            };
            println!(
                "round {round}  {:<8} {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  ({} answers in {:.2} s{}{})",
                target.name(),
                sample.rate,
                sample.p50,
                sample.p99,
                ms(run
                    .latencies
                    .last()
                    .map(|n| Duration::from_nanos(*n))
                    .unwrap_or_default()),
                run.ok,
                run.elapsed.as_secs_f64(),
                if stored.detail.is_empty() {
                    String::new()
                } else {
                    format!("; {}", stored.detail)
                },
                if warm.unexpected + warm.errors + run.unexpected + run.errors > 0 {
                    format!(
                        "; {} unexpected, {} errors",
                        warm.unexpected + run.unexpected,
                        warm.errors + run.errors
                    )
                } else {
                    String::new()
                },
            );
            for p in warm.problems.iter().chain(&run.problems) {
                problems.push(format!("round {round} {}: {p}", target.name()));
            }
            if lost > 0 {
                problems.push(format!(
                    "round {round} {}: {} deliveries acknowledged, {} stored, {lost} acknowledged \
                     ones missing (first: {:?})",
                    target.name(),
                    acknowledged.len(),
                    stored.deliveries,
                    stored.missing_ids
                ));
            }
            let t = &mut totals[i];
            t.samples.push(sample);
            t.answers += run.ok + run.unexpected;
            t.unexpected += warm.unexpected + run.unexpected;
            t.errors += warm.errors + run.errors;
            t.lost += lost;
        }
    }

    let med = |t: &Totals, f: fn(&Sample) -> f64| median(t.samples.iter().map(f).collect());
    let rate: Vec<f64> = totals.iter().map(|t| med(t, |s| s.rate)).collect();
    let p50: Vec<f64> = totals.iter().map(|t| med(t, |s| s.p50)).collect();
    let p99: Vec<f64> = totals.iter().map(|t| med(t, |s| s.p99)).collect();
    let (bare, durable, bosun) = (0, 1, 2);

    println!();
    println!(
        "median over {} rounds ({:.0} s in all)",
        config.rounds,
        bench_start.elapsed().as_secs_f64()
    );
    println!(
        "{:<8} {:>10} {:>10} {:>10} {:>9} {:>11} {:>7} {:>5}",
        "target", "req/s", "p50 ms", "p99 ms", "answers", "unexpected", "errors", "lost"
    );
    for (i, target) in Target::ALL.into_iter().enumerate() {
        if !config.targets.contains(&target) {
            continue;
        }
        let t = &totals[i];
        println!(
            "{:<8} {:>10.0} {:>10.2} {:>10.2} {:>9} {:>11} {:>7} {:>5}",
            target.name(),
            rate[i],
            p50[i],
            p99[i],
            t.answers,
            t.unexpected,
            t.errors,
            t.lost
        );
    }
    println!();
    if config.targets.len() < Target::ALL.len() {
        println!("(ratios need all three targets)");
    } else {
        report_ratios(
            rate[bare],
            rate[durable],
            rate[bosun],
            p99[durable],
            p99[bosun],
        );
    }
    let _ = std::io::stdout().flush();

    let failed: u64 = totals
        .iter()
        .map(|t| t.unexpected + t.errors + t.lost)
        .sum();
    if failed > 0 {
        eprintln!();
        eprintln!("FAILED: requests errored, got an unexpected status, or were not stored:");
        for p in problems.iter().take(20) {
            eprintln!("  {p}");
        }
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
