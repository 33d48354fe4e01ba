//! Workspace benchmark: preparing the second pull request's checkout with a warm mirror,
//! against what a fresh clone per pull request costs.
//!
//! A repository of 20,000 commits and 5,000 files (built once with `git fast-import`, repacked,
//! and cached under cargo's target tmp dir with a stamp) is served over loopback by a small
//! axum server running `git http-backend`, the CGI runner the fake GitHub uses. Measured:
//!
//! - `clone`: `git clone` of the repository over that URL into a fresh directory (what a fresh
//!   clone per PR costs), 5 rounds;
//! - `bosun`: with the mirror already holding the first PR (fetched and checked out), a new PR
//!   (a new commit on top of `main`) — `Workspaces::fetch` of `main` and its
//!   `refs/pull/N/head`, then `Workspaces::checkout` of one project dir — 5 rounds, a fresh PR
//!   each round.
//!
//! The medians and their ratio are printed (the target: at least 10 times faster).
//! Run it with `cargo bench --bench workspace`. Environment:
//!
//! - `BOSUN_BENCH_ROUNDS`: rounds per target (default 5);
//! - `BOSUN_BENCH_DIR`: where the cached repository and the scratch directories go (default:
//!   cargo's target tmp dir).

#[path = "../tests/e2e/support/fake/git_http.rs"]
mod git_http;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use bosun::workspace::{CheckoutKey, Strategy, Workspaces};

const COMMITS: usize = 20_000;
const FILES: usize = 5_000;
/// Bump when the generated repository changes.
const STAMP: &str = "bench-stamp-v1";

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("workspace benchmark failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let rounds: usize = std::env::var("BOSUN_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
        .max(1);
    let base = std::env::var_os("BOSUN_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")))
        .join("workspace-bench");
    let served = base.join("served");
    let repo = served.join("infra.git");
    build_repo(&repo)?;
    let scratch = base.join("scratch");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;

    let url = serve(served.clone()).await?;
    let clone_url = format!("{url}/infra.git");

    let mut clones = Vec::new();
    for i in 0..rounds {
        let dest = scratch.join(format!("clone-{i}"));
        let start = Instant::now();
        git(
            None,
            &["clone", "--quiet", &clone_url, &dest.display().to_string()],
        )?;
        clones.push(start.elapsed());
        let _ = std::fs::remove_dir_all(&dest);
        println!("clone  round {i}: {:>8.1} ms", ms(clones[i]));
    }

    let ws = Workspaces::new(&scratch.join("data"));
    let key = |pr: u64| CheckoutKey {
        pr: bosun::ids::PrNumber(pr),
        dir: bosun::ids::Dir::new("projects/p07"),
        workspace: bosun::ids::Workspace::default(),
    };
    // The first PR warms the mirror.
    let head = new_pr(&repo, 1)?;
    prepare(&ws, &clone_url, 1, &head, &key(1)).await?;
    let mut preps = Vec::new();
    for i in 0..rounds {
        let pr = 2 + i as u64;
        let head = new_pr(&repo, pr)?;
        let start = Instant::now();
        let fetched = prepare(&ws, &clone_url, pr, &head, &key(pr)).await?;
        preps.push(start.elapsed());
        println!(
            "bosun  round {i}: {:>8.1} ms (fetch {:.1} ms, checkout {:.1} ms)",
            ms(preps[i]),
            ms(fetched),
            ms(preps[i].saturating_sub(fetched))
        );
    }

    // Both sides write the 5,000 files of a checkout: how long this disk takes to create
    // that many small files puts the figures in context.
    let files_dir = scratch.join("files");
    std::fs::create_dir_all(&files_dir)?;
    let start = Instant::now();
    for f in 0..FILES {
        std::fs::write(files_dir.join(format!("f{f}")), [b'x'; 300])?;
    }
    let writing = start.elapsed();

    let clone = median(&mut clones);
    let prep = median(&mut preps);
    let ratio = clone.as_secs_f64() / prep.as_secs_f64().max(1e-9);
    println!("repository: {COMMITS} commits, {FILES} files");
    println!(
        "(creating {FILES} small files on this disk takes {:.1} ms; both sides pay it)",
        ms(writing)
    );
    println!(
        "clone (fresh git clone per PR), median: {:>8.1} ms",
        ms(clone)
    );
    println!(
        "bosun (warm mirror, second PR), median: {:>8.1} ms",
        ms(prep)
    );
    println!(
        "ratio: {ratio:.1}x faster (target: at least 10x){}",
        if ratio >= 10.0 { "" } else { " — MISSED" }
    );
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// What bosun does for a new PR: fetch the base and the PR's head, check out one project.
/// Returns the time the fetch took.
async fn prepare(
    ws: &Workspaces,
    url: &str,
    pr: u64,
    head: &str,
    key: &CheckoutKey,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let refspecs = [
        "+refs/heads/main:refs/heads/main".to_string(),
        format!("+refs/pull/{pr}/head:refs/pull/{pr}/head"),
    ];
    ws.fetch("bench/infra", url, "bench-token", &refspecs)
        .await?;
    let fetched = start.elapsed();
    let c = ws
        .checkout(
            "bench/infra",
            key,
            &bosun::ids::Sha::new(head),
            &Strategy::Branch,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    if !c.root.join(key.dir.as_str()).join("file000.tf").is_file() {
        bail!("the checkout lacks its files");
    }
    Ok(fetched)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Runs git with a clean environment (no user or system config).
fn git_command(dir: Option<&Path>) -> Command {
    let mut cmd = Command::new("git");
    if let Some(dir) = dir {
        cmd.arg(format!("--git-dir={}", dir.display()));
    }
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null");
    cmd
}

fn git(dir: Option<&Path>, args: &[&str]) -> anyhow::Result<String> {
    let out = git_command(dir)
        .args(args)
        .output()
        .with_context(|| format!("git {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Feeds a `git fast-import` stream to the repository.
fn fast_import(repo: &Path, stream: &[u8]) -> anyhow::Result<()> {
    let mut child = git_command(Some(repo))
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .context("git fast-import")?;
    child
        .stdin
        .take()
        .context("no stdin")?
        .write_all(stream)
        .context("writing the fast-import stream")?;
    if !child.wait()?.success() {
        bail!("git fast-import failed");
    }
    Ok(())
}

fn path_of(file: usize) -> String {
    format!("projects/p{:02}/file{:03}.tf", file / 100, file % 100)
}

fn content(file: usize, version: usize, rng: &mut fastrand::Rng) -> String {
    let noise: String = (0..48)
        .map(|_| char::from_digit(rng.u32(0..16), 16).unwrap_or('0'))
        .collect();
    format!(
        "resource \"null_resource\" \"r{file}\" {{\n  triggers = {{\n    version = \"{version}\"\n    \
         noise   = \"{noise}\"\n  }}\n}}\n\nvariable \"v{file}\" {{\n  type    = string\n  \
         default = \"{file}-{version}\"\n}}\n"
    )
}

fn blob_line(out: &mut Vec<u8>, path: &str, data: &str) {
    let _ = write!(out, "M 100644 inline {path}\ndata {}\n{data}\n", data.len());
}

/// Builds the bare repository once: `COMMITS` commits on `main`, the first adding `FILES`
/// files, each later one changing three.
fn build_repo(repo: &Path) -> anyhow::Result<()> {
    if repo.join(STAMP).is_file() {
        return Ok(());
    }
    let _ = std::fs::remove_dir_all(repo);
    std::fs::create_dir_all(repo)?;
    println!("building the benchmark repository ({COMMITS} commits, {FILES} files)…");
    let start = Instant::now();
    git(
        None,
        &[
            "init",
            "--bare",
            "--quiet",
            "-b",
            "main",
            &repo.display().to_string(),
        ],
    )?;
    let mut rng = fastrand::Rng::with_seed(42);
    let mut stream = Vec::new();
    for c in 1..=COMMITS {
        let message = format!("change {c}");
        let _ = write!(
            stream,
            "commit refs/heads/main\nmark :{c}\ncommitter Bench <bench@example.com> {} +0000\n\
             data {}\n{message}\n",
            1_600_000_000 + c * 60,
            message.len()
        );
        if c == 1 {
            for f in 0..FILES {
                let data = content(f, 0, &mut rng);
                blob_line(&mut stream, &path_of(f), &data);
            }
        } else {
            let _ = writeln!(stream, "from :{}", c - 1);
            for _ in 0..3 {
                let f = rng.usize(0..FILES);
                let data = content(f, c, &mut rng);
                blob_line(&mut stream, &path_of(f), &data);
            }
        }
        stream.push(b'\n');
    }
    fast_import(repo, &stream)?;
    git(Some(repo), &["repack", "-a", "-d", "-q"])?;
    std::fs::write(repo.join(STAMP), b"")?;
    println!("built in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// A new pull request: one commit on top of `main` changing one file, at `refs/pull/<pr>/head`.
fn new_pr(repo: &Path, pr: u64) -> anyhow::Result<String> {
    let mut stream = Vec::new();
    let message = format!("pull request {pr}");
    let _ = write!(
        stream,
        "commit refs/pull/{pr}/head\ncommitter Bench <bench@example.com> 1700000000 +0000\n\
         data {}\n{message}\nfrom refs/heads/main^0\n",
        message.len()
    );
    let mut rng = fastrand::Rng::with_seed(pr);
    blob_line(
        &mut stream,
        "projects/p07/file001.tf",
        &content(701, 1_000_000 + pr as usize, &mut rng),
    );
    stream.push(b'\n');
    fast_import(repo, &stream)?;
    git(Some(repo), &["rev-parse", &format!("refs/pull/{pr}/head")])
}

/// Serves every repository under `root` at `http://127.0.0.1:<port>/<name>.git`.
async fn serve(root: PathBuf) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(Arc::new(root));
    let listener = bosun::server::without_nagle(listener);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

async fn handle(
    State(root): State<Arc<PathBuf>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = git_http::CgiRequest {
        project_root: &root,
        path_info: uri.path(),
        method: method.as_str(),
        query: uri.query().unwrap_or(""),
        headers: &headers,
        body,
        remote_user: None,
    };
    git_http::serve(request, Arc::new(AtomicU64::new(0))).await
}
