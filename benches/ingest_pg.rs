//! PostgreSQL intake benchmark: signed `pull_request.synchronize` deliveries, each with a new
//! delivery id, durably stored per second and the p99 time to the answer, with 64 keep-alive
//! HTTP/1.1 connections over loopback, on a real PostgreSQL started by the benchmark on
//! loopback with durable commits (`fsync`, `synchronous_commit` and full page writes on). Three
//! targets, measured in the same run:
//!
//! - `ceiling`: 64 tasks, each on its own connection, looping `INSERT` of one row (the
//!   delivery id and the payload as bosun stores it, LZ4-packed) in its own transaction: what
//!   PostgreSQL commits durably at the concurrency of the load, without HTTP or bosun;
//! - `bosun1`: one `bosun::app::start_with` on the database, the 64 connections to it;
//! - `bosun3`: three of them on one database (in this process), the connections spread over
//!   them round-robin.
//!
//! Targets run interleaved for a few rounds, each on a fresh database; the medians over rounds
//! are reported, with the targets: one replica at least half the ceiling, three
//! replicas at least twice one. Run it with `cargo bench --bench ingest_pg`; it needs Debian's
//! PostgreSQL (`/usr/lib/postgresql/<major>/bin`, or `BOSUN_TEST_PG_BIN`). Environment:
//! `BOSUN_BENCH_SECS`, `BOSUN_BENCH_WARMUP_SECS`, `BOSUN_BENCH_ROUNDS`, `BOSUN_BENCH_REQUESTS`
//! as for `benches/ingest.rs`, and `BOSUN_BENCH_TARGETS` (default `ceiling,bosun1,bosun3`).
//!
//! The process fails if any request errored or got an unexpected status (anything but 202), or
//! if an acknowledged delivery id is not in the database afterwards. Missing the targets is
//! reported, not failed. Besides the answers, each line says how many transactions PostgreSQL
//! committed and how many WAL flushes it made (`pg_stat_database`, `pg_stat_wal`), and how many
//! CPUs were busy on average in this process (bosun and the load client), in PostgreSQL's
//! processes and on the whole machine (`/proc`): where the time goes when replicas do not
//! scale.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode};
use bosun::metrics::Metrics;
use bosun::store::Payload;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection as _, PgPool};

#[path = "common/intake.rs"]
mod intake;
#[path = "../src/store/test_pg.rs"]
mod test_pg;

use intake::{
    CONNECTIONS, Load, NoGitHub, Outcome, REQUEST_TIMEOUT, SECRET, Sample, Stored, Totals,
    acknowledged, bosun_settings, env_number, median, missing_from, ms, payload, percentile,
    run_load,
};

/// The targets: one replica's throughput at least this share of the ceiling...
const TARGET_CEILING_SHARE: f64 = 0.5;
/// ...and three replicas' at least this multiple of one replica's.
const TARGET_SCALE: f64 = 2.0;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Ceiling,
    Bosun1,
    Bosun3,
}

impl Target {
    const ALL: [Target; 3] = [Target::Ceiling, Target::Bosun1, Target::Bosun3];

    fn name(self) -> &'static str {
        match self {
            Target::Ceiling => "ceiling",
            Target::Bosun1 => "bosun1",
            Target::Bosun3 => "bosun3",
        }
    }

    fn replicas(self) -> usize {
        match self {
            Target::Ceiling => 0,
            Target::Bosun1 => 1,
            Target::Bosun3 => 3,
        }
    }
}

/// PostgreSQL's own count of commits and WAL flushes, and where the CPU time went, read before
/// and after a measurement.
#[derive(Default, Clone, Copy)]
struct PgCounters {
    commits: i64,
    wal_syncs: i64,
    /// CPU seconds of this process (bosun and the load client, or the ceiling's tasks).
    bench_cpu: f64,
    /// CPU seconds of PostgreSQL's processes alive at the reading (its backends, WAL writer…).
    pg_cpu: f64,
    /// CPU seconds the whole machine was busy (other processes included).
    machine_busy: f64,
}

/// Clock ticks per second of `/proc`'s CPU times.
fn ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// utime + stime of a process, in seconds (0 if it is gone).
fn process_cpu(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // After the command name in parentheses: state is field 3, utime 14, stime 15.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / ticks()
}

/// Seconds of CPU time the machine spent busy (all CPUs, all processes).
fn machine_busy() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0.0;
    };
    let Some(line) = stat.lines().next() else {
        return 0.0;
    };
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: f64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    (total - idle) / ticks()
}

async fn pg_counters(url: &str) -> anyhow::Result<PgCounters> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let pids: Vec<i32> =
        sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()")
            .fetch_all(&mut conn)
            .await?;
    let pg_cpu = pids.iter().map(|p| process_cpu(&p.to_string())).sum();
    // Statistics reach the shared counters within a second of each backend's transactions.
    let commits: i64 = sqlx::query_scalar(
        "SELECT sum(xact_commit)::bigint FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut conn)
    .await?;
    let wal_syncs: i64 = sqlx::query_scalar("SELECT wal_sync FROM pg_stat_wal")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(PgCounters {
        commits,
        wal_syncs,
        bench_cpu: process_cpu("self"),
        pg_cpu,
        machine_busy: machine_busy(),
    })
}

/// The ceiling: `CONNECTIONS` tasks each looping one `INSERT` per transaction, timed like the
/// HTTP load (until `duration` or `max` rows).
async fn run_ceiling(
    pool: &PgPool,
    packed: &[u8],
    prefix: &str,
    duration: Duration,
    max: u64,
) -> Outcome {
    let issued = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let packed: Arc<[u8]> = Arc::from(packed);
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|conn| {
            let (pool, packed, issued) = (pool.clone(), packed.clone(), issued.clone());
            let prefix = prefix.to_owned();
            tokio::spawn(async move {
                let mut out = Outcome::default();
                let mut seq = 0u64;
                while Instant::now() < deadline
                    && issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < max
                {
                    seq += 1;
                    let id = format!("{prefix}-{conn}-{seq}");
                    let sent = Instant::now();
                    let insert = sqlx::query("INSERT INTO ceiling (id, payload) VALUES ($1, $2)")
                        .bind(&id)
                        .bind(&*packed)
                        .execute(&pool);
                    match tokio::time::timeout(REQUEST_TIMEOUT, insert).await {
                        Ok(Ok(_)) => {
                            out.latencies.push(sent.elapsed().as_nanos() as u64);
                            out.ok += 1;
                            out.acknowledged.push(id);
                        }
                        Ok(Err(e)) => {
                            out.errors += 1;
                            out.note(format!("{id}: {e}"));
                        }
                        Err(_) => {
                            out.errors += 1;
                            out.note(format!("{id}: no commit within {REQUEST_TIMEOUT:?}"));
                        }
                    }
                }
                out
            })
        })
        .collect();
    let mut total = Outcome::default();
    for task in tasks {
        match task.await {
            Ok(outcome) => total.merge(outcome),
            Err(e) => {
                total.errors += 1;
                total.note(format!("ceiling task failed: {e}"));
            }
        }
    }
    total.elapsed = start.elapsed();
    total
}

/// bosun replicas on one database, each with its own data directory.
struct Replicas {
    running: Vec<bosun::app::Running>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Replicas {
    async fn start(n: usize, url: &str) -> anyhow::Result<Self> {
        let (mut running, mut dirs) = (Vec::new(), Vec::new());
        for i in 0..n {
            let dir = tempfile::Builder::new()
                .prefix("bosun-bench-pg-")
                .tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
            let mut settings = bosun_settings(dir.path(), Some(url))?;
            settings.instance_id = format!("bench-{}", i + 1);
            running.push(
                bosun::app::start_with(
                    &settings,
                    Arc::new(Metrics::default()),
                    Arc::new(NoGitHub::client()),
                    Some(Arc::new(bosun::dispatch::EventLog)),
                )
                .await?,
            );
            dirs.push(dir);
        }
        Ok(Self {
            running,
            _dirs: dirs,
        })
    }

    async fn stop(self) {
        for r in self.running {
            r.shutdown().await;
        }
    }
}

/// Every acknowledged id looked up in `table` of the database at `url`.
async fn stored(url: &str, table: &str, acknowledged: &[String]) -> anyhow::Result<Stored> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let ids: HashSet<String> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT id FROM {table}")))
            .fetch_all(&mut conn)
            .await?
            .into_iter()
            .collect();
    let mut detail = String::new();
    if table == "deliveries" {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, count(*) FROM deliveries GROUP BY status ORDER BY status",
        )
        .fetch_all(&mut conn)
        .await?;
        detail.push_str("stored by status:");
        for (status, n) in &rows {
            let _ = write!(detail, " {status} {n}");
        }
    }
    conn.close().await?;
    Ok(missing_from(&ids, acknowledged, ids.len() as u64, detail))
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let secs = Duration::from_secs_f64(env_number("BOSUN_BENCH_SECS", 6.0).max(0.1));
    let warmup = Duration::from_secs_f64(env_number("BOSUN_BENCH_WARMUP_SECS", 1.0));
    let rounds = (env_number("BOSUN_BENCH_ROUNDS", 3.0) as usize).max(1);
    let max = (env_number("BOSUN_BENCH_REQUESTS", 200_000.0) as u64).max(1);
    let targets: Vec<Target> = match std::env::var("BOSUN_BENCH_TARGETS") {
        Ok(list) => Target::ALL
            .into_iter()
            .filter(|t| list.split(',').any(|n| n.trim() == t.name()))
            .collect(),
        Err(_) => Target::ALL.to_vec(),
    };
    anyhow::ensure!(
        !targets.is_empty(),
        "BOSUN_BENCH_TARGETS names none of ceiling, bosun1, bosun3"
    );
    let (body, what) = payload();
    let packed = Payload::pack(&body).stored().to_vec();
    let signature = HeaderValue::from_str(&bosun::server::signature::sign(SECRET, &body))?;

    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()?;
    test_pg::durable();

    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("bosun PostgreSQL ingest benchmark");
    println!("  payload: {what}; {} bytes as stored", packed.len());
    println!(
        "  {CONNECTIONS} connections; {rounds} rounds of {:.1} s (at most {max} requests) after {:.1} s of warm-up; {cpus} CPUs",
        secs.as_secs_f64(),
        warmup.as_secs_f64()
    );
    println!(
        "  PostgreSQL from {}, durable commits, on loopback",
        test_pg::bin_dir().display()
    );
    println!();

    let mut totals: Vec<Totals> = Target::ALL.iter().map(|_| Totals::default()).collect();
    let mut problems: Vec<String> = Vec::new();
    let bench_start = Instant::now();
    for round in 1..=rounds {
        for (i, target) in Target::ALL.into_iter().enumerate() {
            if !targets.contains(&target) {
                continue;
            }
            let url = server_rt.block_on(test_pg::fresh_database());
            let prefix = format!("bench-r{round}-{}", target.name());
            let (warm, mut run, before, after, stored) = if target == Target::Ceiling {
                let pool = server_rt.block_on(async {
                    let pool = PgPoolOptions::new()
                        .max_connections(CONNECTIONS as u32)
                        .connect(&url)
                        .await?;
                    sqlx::query(
                        "CREATE TABLE ceiling (id text PRIMARY KEY, payload bytea NOT NULL)",
                    )
                    .execute(&pool)
                    .await?;
                    anyhow::Ok(pool)
                })?;
                let warm = client_rt.block_on(run_ceiling(
                    &pool,
                    &packed,
                    &format!("{prefix}-warmup"),
                    warmup,
                    max,
                ));
                let before = server_rt.block_on(pg_counters(&url))?;
                let run = client_rt.block_on(run_ceiling(&pool, &packed, &prefix, secs, max));
                let after = server_rt.block_on(pg_counters(&url))?;
                server_rt.block_on(pool.close());
                let stored =
                    server_rt.block_on(stored(&url, "ceiling", &acknowledged(&warm, &run)))?;
                (warm, run, before, after, stored)
            } else {
                let replicas = server_rt.block_on(Replicas::start(target.replicas(), &url))?;
                let mut load = Load {
                    addrs: replicas.running.iter().map(|r| r.addr).collect(),
                    path: "/events",
                    expected: StatusCode::ACCEPTED,
                    body: body.clone(),
                    signature: signature.clone(),
                    prefix: format!("{prefix}-warmup"),
                };
                let warm = client_rt.block_on(run_load(&load, warmup, max));
                load.prefix = prefix.clone();
                let before = server_rt.block_on(pg_counters(&url))?;
                let run = client_rt.block_on(run_load(&load, secs, max));
                let after = server_rt.block_on(pg_counters(&url))?;
                server_rt.block_on(replicas.stop());
                let stored =
                    server_rt.block_on(stored(&url, "deliveries", &acknowledged(&warm, &run)))?;
                (warm, run, before, after, stored)
            };

            run.latencies.sort_unstable();
            let elapsed = run.elapsed.as_secs_f64();
            let sample = Sample {
                rate: run.ok as f64 / elapsed,
                p50: ms(percentile(&run.latencies, 0.50)),
                p99: ms(percentile(&run.latencies, 0.99)),
            };
            let commits = (after.commits - before.commits) as f64 / elapsed;
            let syncs = (after.wal_syncs - before.wal_syncs) as f64 / elapsed;
            let cpu = |f: fn(&PgCounters) -> f64| (f(&after) - f(&before)) / elapsed;
            println!(
                "round {round}  {:<8} {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({} answers in {elapsed:.2} s; PostgreSQL {commits:.0} commits/s, {syncs:.0} WAL flushes/s; CPUs busy: bench process {:.2}, PostgreSQL {:.2}, machine {:.2} of {cpus}{}{})",
                target.name(),
                sample.rate,
                sample.p50,
                sample.p99,
                run.ok,
                cpu(|c| c.bench_cpu),
                cpu(|c| c.pg_cpu),
                cpu(|c| c.machine_busy),
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
            if stored.missing > 0 {
                problems.push(format!(
                    "round {round} {}: {} acknowledged ones missing (first: {:?})",
                    target.name(),
                    stored.missing,
                    stored.missing_ids
                ));
            }
            let t = &mut totals[i];
            t.samples.push(sample);
            t.answers += run.ok + run.unexpected;
            t.unexpected += warm.unexpected + run.unexpected;
            t.errors += warm.errors + run.errors;
            t.lost += stored.missing;
        }
    }

    let med = |t: &Totals, f: fn(&Sample) -> f64| median(t.samples.iter().map(f).collect());
    let rate: Vec<f64> = totals.iter().map(|t| med(t, |s| s.rate)).collect();
    let p50: Vec<f64> = totals.iter().map(|t| med(t, |s| s.p50)).collect();
    let p99: Vec<f64> = totals.iter().map(|t| med(t, |s| s.p99)).collect();
    println!();
    println!(
        "median over {rounds} rounds ({:.0} s in all)",
        bench_start.elapsed().as_secs_f64()
    );
    println!(
        "{:<8} {:>10} {:>10} {:>10} {:>9} {:>11} {:>7} {:>5}",
        "target", "req/s", "p50 ms", "p99 ms", "answers", "unexpected", "errors", "lost"
    );
    for (i, target) in Target::ALL.into_iter().enumerate() {
        if !targets.contains(&target) {
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
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    if targets.len() < Target::ALL.len() {
        println!("(ratios need all three targets)");
    } else {
        let (ceiling, one, three) = (rate[0], rate[1], rate[2]);
        println!(
            "bosun1 / ceiling throughput {:>7.1} %   target >= {:.0} %   {}",
            100.0 * one / ceiling,
            100.0 * TARGET_CEILING_SHARE,
            verdict(one / ceiling >= TARGET_CEILING_SHARE)
        );
        println!(
            "bosun3 / bosun1  throughput {:>7.2} x   target >= {:.0} x    {}",
            three / one,
            TARGET_SCALE,
            verdict(three / one >= TARGET_SCALE)
        );
        println!("bosun1 p99 / ceiling p99    {:>7.2} x", p99[1] / p99[0]);
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
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
