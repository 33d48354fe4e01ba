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
//! Missing the issue's targets is reported, not failed.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::routing::post;
use bosun::config::{Layer, Settings, Sources};
use bosun::github::webhook::{self, Parsed};
use bosun::github::{
    CheckRunSpec, CommentRef, GitHub, GitHubError, HookDeliveryPage, InstallationToken, IssueInfo,
    IssueUpdate, MergeMethod, MergeRequirements, Permission, PullRequestInfo, Reaction, RepoInfo,
    ReviewInfo,
};
use bosun::metrics::Metrics;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

const CONNECTIONS: usize = 64;
const SECRET: &str = "bench-webhook-secret";
const PAYLOAD: &str = "tests/fixtures/webhooks/bench/pull_request.json";
const APP_KEY: &str = "tests/fixtures/keys/app.pem";
/// A request that takes this long counts as an error (a hung server must not hang the bench).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The issue's targets: bosun's throughput at least this share of the durable baseline's...
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

fn env_number(name: &str, default: f64) -> f64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .unwrap_or_else(|| panic!("{name}=`{v}` is not a non-negative number")),
        Err(_) => default,
    }
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

/// What the client sends: the same body and signature every time, a new delivery id each time.
#[derive(Clone)]
struct Load {
    addr: SocketAddr,
    path: &'static str,
    expected: StatusCode,
    body: Bytes,
    signature: HeaderValue,
    /// Prefix of the delivery ids, unique per target, round and phase.
    prefix: String,
}

/// One measurement (or warm-up) of one target.
#[derive(Default)]
struct Outcome {
    /// Answers with the expected status.
    ok: u64,
    /// Answers with another status.
    unexpected: u64,
    /// Requests that got no answer (connection error, timeout).
    errors: u64,
    /// The first few problems, for the report.
    problems: Vec<String>,
    /// Send to full response, of every answered request, in nanoseconds.
    latencies: Vec<u64>,
    /// The delivery ids answered with the expected status: each must be in the store.
    acknowledged: Vec<String>,
    elapsed: Duration,
}

impl Outcome {
    fn note(&mut self, problem: String) {
        if self.problems.len() < 5 {
            self.problems.push(problem);
        }
    }

    fn merge(&mut self, other: Outcome) {
        self.ok += other.ok;
        self.unexpected += other.unexpected;
        self.errors += other.errors;
        for p in other.problems {
            self.note(p);
        }
        self.latencies.extend(other.latencies);
        self.acknowledged.extend(other.acknowledged);
    }
}

/// Runs `CONNECTIONS` clients against `load.addr` until `duration` has passed or `max`
/// requests were sent, whichever comes first.
async fn run_load(load: &Load, duration: Duration, max: u64) -> Outcome {
    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|conn| {
            let load = load.clone();
            let issued = issued.clone();
            tokio::spawn(async move { client(load, conn, deadline, issued, max).await })
        })
        .collect();
    let mut total = Outcome::default();
    for task in tasks {
        match task.await {
            Ok(outcome) => total.merge(outcome),
            Err(e) => {
                total.errors += 1;
                total.note(format!("client task failed: {e}"));
            }
        }
    }
    total.elapsed = start.elapsed();
    total
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Result<Sender, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {e}"))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with {addr}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One connection: requests one after the other on one keep-alive connection.
async fn client(
    load: Load,
    conn: usize,
    deadline: Instant,
    issued: Arc<AtomicU64>,
    max: u64,
) -> Outcome {
    let mut out = Outcome::default();
    let host = HeaderValue::from_str(&load.addr.to_string()).expect("an address is a valid header");
    let mut sender: Option<Sender> = None;
    let mut seq = 0u64;
    while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max {
        seq += 1;
        let mut tx = match sender.take() {
            Some(tx) => tx,
            None => match connect(load.addr).await {
                Ok(tx) => tx,
                Err(e) => {
                    out.errors += 1;
                    out.note(e);
                    break;
                }
            },
        };
        let delivery = format!("{}-{conn}-{seq}", load.prefix);
        let request = Request::post(load.path)
            .header(header::HOST, host.clone())
            .header(header::USER_AGENT, "GitHub-Hookshot/bench")
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-github-event", "pull_request")
            .header("x-github-delivery", delivery.as_str())
            .header("x-hub-signature-256", load.signature.clone())
            .body(Full::new(load.body.clone()))
            .expect("a valid request");
        let sent = Instant::now();
        let exchange = async {
            tx.ready().await?;
            let response = tx.send_request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body))
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(Ok((status, body))) => {
                out.latencies.push(sent.elapsed().as_nanos() as u64);
                if status == load.expected {
                    out.ok += 1;
                    out.acknowledged.push(delivery);
                } else {
                    out.unexpected += 1;
                    out.note(format!(
                        "{delivery}: {status} {}",
                        String::from_utf8_lossy(&body)
                    ));
                }
                sender = Some(tx);
            }
            Ok(Err(e)) => {
                out.errors += 1;
                out.note(format!("{delivery}: {e}"));
            }
            Err(_) => {
                out.errors += 1;
                out.note(format!("{delivery}: no answer within {REQUEST_TIMEOUT:?}"));
            }
        }
    }
    out
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

/// What a stopped server says it stored.
struct Stored {
    deliveries: u64,
    /// Acknowledged deliveries not found in the store (bosun's are looked up by id; the
    /// durable baseline's file is only counted).
    missing: u64,
    /// The first few missing ids, for the report.
    missing_ids: Vec<String>,
    detail: String,
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
                let root = Path::new(env!("CARGO_MANIFEST_DIR"));
                let mut flags = Layer::default();
                flags.set("listen", "127.0.0.1:0");
                flags.set("data_dir", dir.path().display().to_string());
                flags.set("github_app_id", "1");
                flags.set(
                    "github_app_key_file",
                    root.join(APP_KEY).display().to_string(),
                );
                flags.set("github_webhook_secret", SECRET);
                flags.set("repo_allowlist", "*/*");
                flags.set("redelivery_interval", "0");
                let settings = Settings::resolve(&Sources {
                    flags,
                    ..Sources::default()
                })?;
                let database = settings.data_dir.join("bosun.db");
                let running = bosun::app::start_with(
                    &settings,
                    Arc::new(Metrics::default()),
                    Arc::new(NoGitHub),
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

/// Which of `acknowledged` are not in `stored`, by id.
fn missing_from(
    stored: &HashSet<String>,
    acknowledged: &[String],
    deliveries: u64,
    detail: String,
) -> Stored {
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    Stored {
        deliveries,
        missing: missing.len() as u64,
        missing_ids: missing.iter().take(5).map(|id| (*id).clone()).collect(),
        detail,
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

/// bosun's GitHub, never called during the benchmark (redelivery is off, `EventLog` makes no
/// calls): every method fails.
struct NoGitHub;

fn not_here(what: &str) -> GitHubError {
    GitHubError::Transport {
        what: what.to_owned(),
        message: "the benchmark has no GitHub".to_owned(),
    }
}

#[async_trait]
impl GitHub for NoGitHub {
    async fn installation_token(
        &self,
        _installation_id: u64,
    ) -> Result<InstallationToken, GitHubError> {
        Err(not_here("an installation token"))
    }

    async fn repo_read_token(
        &self,
        _installation_id: u64,
        _repo: &str,
    ) -> Result<InstallationToken, GitHubError> {
        Err(not_here("a repository read token"))
    }

    async fn hook_deliveries(
        &self,
        _cursor: Option<&str>,
    ) -> Result<HookDeliveryPage, GitHubError> {
        Err(not_here("the App's deliveries"))
    }

    async fn app_slug(&self) -> Result<String, GitHubError> {
        Err(not_here("the App"))
    }

    async fn redeliver(&self, _delivery_id: i64) -> Result<(), GitHubError> {
        Err(not_here("a redelivery"))
    }

    async fn create_comment(
        &self,
        _installation_id: u64,
        _repo: &str,
        _number: u64,
        _body: &str,
    ) -> Result<CommentRef, GitHubError> {
        Err(not_here("a comment"))
    }

    async fn update_comment(
        &self,
        _installation_id: u64,
        _repo: &str,
        _comment_id: u64,
        _body: &str,
    ) -> Result<(), GitHubError> {
        Err(not_here("a comment"))
    }

    async fn minimize_comment(
        &self,
        _installation_id: u64,
        _node_id: &str,
    ) -> Result<(), GitHubError> {
        Err(not_here("a comment"))
    }

    async fn add_reaction(
        &self,
        _installation_id: u64,
        _repo: &str,
        _comment_id: u64,
        _content: Reaction,
    ) -> Result<(), GitHubError> {
        Err(not_here("a reaction"))
    }

    async fn pull_request(
        &self,
        _installation_id: u64,
        _repo: &str,
        _number: u64,
    ) -> Result<PullRequestInfo, GitHubError> {
        Err(not_here("a pull request"))
    }

    async fn create_check_run(
        &self,
        _installation_id: u64,
        _repo: &str,
        _check: &CheckRunSpec,
    ) -> Result<u64, GitHubError> {
        Err(not_here("a check run"))
    }

    async fn update_check_run(
        &self,
        _installation_id: u64,
        _repo: &str,
        _id: u64,
        _check: &CheckRunSpec,
    ) -> Result<(), GitHubError> {
        Err(not_here("a check run"))
    }

    async fn reviews(
        &self,
        _installation_id: u64,
        _repo: &str,
        _pr: u64,
    ) -> Result<Vec<ReviewInfo>, GitHubError> {
        Err(not_here("reviews"))
    }

    async fn permission(
        &self,
        _installation_id: u64,
        _repo: &str,
        _user: &str,
    ) -> Result<Permission, GitHubError> {
        Err(not_here("a permission"))
    }

    async fn team_member(
        &self,
        _installation_id: u64,
        _org: &str,
        _team_slug: &str,
        _user: &str,
    ) -> Result<bool, GitHubError> {
        Err(not_here("a team membership"))
    }

    async fn merge_pull_request(
        &self,
        _installation_id: u64,
        _repo: &str,
        _number: u64,
        _sha: &str,
        _method: MergeMethod,
    ) -> Result<String, GitHubError> {
        Err(not_here("a merge"))
    }

    async fn delete_branch(&self, _: u64, _: &str, _: &str) -> Result<(), GitHubError> {
        Err(not_here("a branch deletion"))
    }

    async fn merge_requirements(
        &self,
        _installation_id: u64,
        _repo: &str,
        _number: u64,
    ) -> Result<MergeRequirements, GitHubError> {
        Err(not_here("merge requirements"))
    }

    async fn installations(&self) -> Result<Vec<u64>, GitHubError> {
        Err(not_here("the App's installations"))
    }

    async fn installation_repos(
        &self,
        _installation_id: u64,
    ) -> Result<Vec<RepoInfo>, GitHubError> {
        Err(not_here("an installation's repositories"))
    }

    async fn repo_installation(&self, _repo: &str) -> Result<Option<u64>, GitHubError> {
        Err(not_here("a repository's installation"))
    }

    async fn repository(
        &self,
        _installation_id: u64,
        _repo: &str,
    ) -> Result<RepoInfo, GitHubError> {
        Err(not_here("a repository"))
    }

    async fn find_issue(
        &self,
        _installation_id: u64,
        _repo: &str,
        _label: &str,
        _title: &str,
    ) -> Result<Option<IssueInfo>, GitHubError> {
        Err(not_here("an issue"))
    }

    async fn create_issue(
        &self,
        _installation_id: u64,
        _repo: &str,
        _title: &str,
        _body: &str,
        _labels: &[String],
    ) -> Result<u64, GitHubError> {
        Err(not_here("an issue"))
    }

    async fn update_issue(
        &self,
        _installation_id: u64,
        _repo: &str,
        _number: u64,
        _update: &IssueUpdate,
    ) -> Result<(), GitHubError> {
        Err(not_here("an issue"))
    }
}

/// The bench payload: a `pull_request.synchronize`, the delivery a push to an open pull request
/// sends and the one bosun stores most often. The fixture is a real `pull_request` payload; if
/// its action is another, the action is replaced by `synchronize` with the `before` and `after`
/// shas GitHub sends with it (`after` is the PR's head).
fn payload() -> (Bytes, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(PAYLOAD);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let value: serde_json::Value = serde_json::from_slice(&raw)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let repo = value["repository"]["full_name"]
        .as_str()
        .unwrap_or("-")
        .to_owned();
    let action = value["action"].as_str().unwrap_or("").to_owned();
    let synchronize = |body: &[u8]| {
        matches!(
            webhook::parse_with_action("pull_request", body),
            Ok((Some(a), Parsed::Event(_))) if a == "synchronize"
        )
    };
    let (body, note) = if action == "synchronize" {
        (raw, String::new())
    } else {
        let needle = format!("\"action\":\"{action}\"");
        let at = raw
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
            .unwrap_or_else(|| panic!("{}: no compact `{needle}`", path.display()));
        let head = value["pull_request"]["head"]["sha"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no pull_request.head.sha", path.display()));
        let mut body = raw[..at].to_vec();
        body.extend_from_slice(
            format!(
                "\"action\":\"synchronize\",\"before\":\"{}\",\"after\":\"{head}\"",
                "0123456789abcdef0123456789abcdef01234567"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&raw[at + needle.len()..]);
        (
            body,
            format!(" (the fixture is pull_request.{action}, rewritten to synchronize)"),
        )
    };
    assert!(
        synchronize(&body),
        "{}: bosun does not store the synchronize made from it",
        path.display()
    );
    let note = format!(
        "pull_request.synchronize of {repo}, {} bytes{note}",
        body.len()
    );
    (Bytes::from(body), note)
}

fn percentile(sorted: &[u64], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Duration::from_nanos(sorted[rank - 1])
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One measurement's numbers.
struct Sample {
    rate: f64,
    p50: f64,
    p99: f64,
}

#[derive(Default)]
struct Totals {
    samples: Vec<Sample>,
    answers: u64,
    unexpected: u64,
    errors: u64,
    lost: u64,
}

/// bosun against the baselines, and the issue's targets (informational).
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
                addr: server.addr(),
                path: target.path(),
                expected: target.expected(),
                body: body.clone(),
                signature: signature.clone(),
                prefix: format!("bench-r{round}-{}-warmup", target.name()),
            };
            let warm = client_rt.block_on(run_load(&load, config.warmup, config.max_requests));
            load.prefix = format!("bench-r{round}-{}", target.name());
            let mut run = client_rt.block_on(run_load(&load, config.secs, config.max_requests));
            let acknowledged: Vec<String> = warm
                .acknowledged
                .iter()
                .chain(&run.acknowledged)
                .cloned()
                .collect();
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
