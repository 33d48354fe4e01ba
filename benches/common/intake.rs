//! What the intake benchmarks share (`benches/ingest.rs` for SQLite, `benches/ingest_pg.rs`
//! for PostgreSQL, each including this file with `#[path]`): the HTTP load of signed
//! `pull_request.synchronize` deliveries with unique ids, the check that every acknowledged
//! delivery was stored, bosun's settings and a GitHub it never calls, percentiles and medians.

#![allow(dead_code)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::Bytes;
use axum::http::{HeaderValue, Request, StatusCode, header};
use bosun::config::{Layer, Settings, Sources};
use bosun::github::webhook::{self, Parsed};
use bosun::github::{Answer, GitHub, GitHubError, Request as GitHubRequest, Service};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub const CONNECTIONS: usize = 64;
pub const SECRET: &str = "bench-webhook-secret";
pub const PAYLOAD: &str = "tests/fixtures/webhooks/bench/pull_request.json";
pub const APP_KEY: &str = "tests/fixtures/keys/app.pem";
/// A request that takes this long counts as an error (a hung server must not hang the bench).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn env_number(name: &str, default: f64) -> f64 {
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

/// What the client sends: the same body and signature every time, a new delivery id each time.
#[derive(Clone)]
pub struct Load {
    /// The servers; connection `i` goes to `addrs[i % addrs.len()]`.
    pub addrs: Vec<SocketAddr>,
    pub path: &'static str,
    pub expected: StatusCode,
    pub body: Bytes,
    pub signature: HeaderValue,
    /// Prefix of the delivery ids, unique per target, round and phase.
    pub prefix: String,
}

/// One measurement (or warm-up) of one target.
#[derive(Default)]
pub struct Outcome {
    /// Answers with the expected status.
    pub ok: u64,
    /// Answers with another status.
    pub unexpected: u64,
    /// Requests that got no answer (connection error, timeout).
    pub errors: u64,
    /// The first few problems, for the report.
    pub problems: Vec<String>,
    /// Send to full response, of every answered request, in nanoseconds.
    pub latencies: Vec<u64>,
    /// The delivery ids answered with the expected status: each must be in the store.
    pub acknowledged: Vec<String>,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn note(&mut self, problem: String) {
        if self.problems.len() < 5 {
            self.problems.push(problem);
        }
    }

    pub fn merge(&mut self, other: Outcome) {
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

/// Runs `CONNECTIONS` clients against `load.addrs` until `duration` has passed or `max`
/// requests were sent, whichever comes first.
pub async fn run_load(load: &Load, duration: Duration, max: u64) -> Outcome {
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

pub type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

pub async fn connect(addr: SocketAddr) -> Result<Sender, String> {
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
pub async fn client(
    load: Load,
    conn: usize,
    deadline: Instant,
    issued: Arc<AtomicU64>,
    max: u64,
) -> Outcome {
    let mut out = Outcome::default();
    let addr = load.addrs[conn % load.addrs.len()];
    let host = HeaderValue::from_str(&addr.to_string()).expect("an address is a valid header");
    let mut sender: Option<Sender> = None;
    let mut seq = 0u64;
    while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max {
        seq += 1;
        let mut tx = match sender.take() {
            Some(tx) => tx,
            None => match connect(addr).await {
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

/// What a stopped server says it stored.
pub struct Stored {
    pub deliveries: u64,
    /// Acknowledged deliveries not found in the store (bosun's are looked up by id; the
    /// durable baseline's file is only counted).
    pub missing: u64,
    /// The first few missing ids, for the report.
    pub missing_ids: Vec<String>,
    pub detail: String,
}

/// Which of `acknowledged` are not in `stored`, by id.
pub fn missing_from(
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

/// bosun's GitHub, never called during the benchmark (redelivery is off, `EventLog` makes no
/// calls): a transport that fails every request.
pub struct NoGitHub;

impl NoGitHub {
    /// A client over it.
    pub fn client() -> GitHub {
        GitHub::over(Arc::new(NoGitHub))
    }
}

#[async_trait]
impl Service for NoGitHub {
    async fn send(&self, request: GitHubRequest) -> Result<Answer, GitHubError> {
        Err(GitHubError::Transport {
            what: request.what.to_owned(),
            message: "the benchmark has no GitHub".to_owned(),
        })
    }
}

/// The bench payload: a `pull_request.synchronize`, the delivery a push to an open pull request
/// sends and the one bosun stores most often. The fixture is a real `pull_request` payload; if
/// its action is another, the action is replaced by `synchronize` with the `before` and `after`
/// shas GitHub sends with it (`after` is the PR's head).
pub fn payload() -> (Bytes, String) {
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

pub fn percentile(sorted: &[u64], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Duration::from_nanos(sorted[rank - 1])
}

pub fn median(mut values: Vec<f64>) -> f64 {
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

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One measurement's numbers.
pub struct Sample {
    pub rate: f64,
    pub p50: f64,
    pub p99: f64,
}

#[derive(Default)]
pub struct Totals {
    pub samples: Vec<Sample>,
    pub answers: u64,
    pub unexpected: u64,
    pub errors: u64,
    pub lost: u64,
}

/// bosun's settings for the benchmarks: listening on a free loopback port, its data in `dir`,
/// every repository allowed, no redelivery scans; `database_url` (else SQLite in `dir`).
pub fn bosun_settings(dir: &Path, database_url: Option<&str>) -> anyhow::Result<Settings> {
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
    if let Some(url) = database_url {
        flags.set("database_url", url);
        // Every replica must open the others' planfiles; none is made in the benchmark.
        flags.set("planfile_key", "ab".repeat(32));
    }
    Ok(Settings::resolve(&Sources {
        flags,
        ..Sources::default()
    })?)
}

/// The acknowledged delivery ids of a warm-up and a measurement.
pub fn acknowledged(warm: &Outcome, run: &Outcome) -> Vec<String> {
    warm.acknowledged
        .iter()
        .chain(&run.acknowledged)
        .cloned()
        .collect()
}
