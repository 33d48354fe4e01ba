//! Drift benchmark: what a drift run costs against planning the same projects by hand. It
//! drives the real bosun (`bosun::app::start`) against the end-to-end tests' fake GitHub (git
//! over HTTP included) with the real Terraform, as `benches/plans/` does:
//!
//! - **Set-up** (not timed): the default branch holds N projects (`envs/pNNN`, 2
//!   `terraform_data` resources each, state outside the checkout), applied once by hand from
//!   directories of their own so they are in sync; then the first project's state is changed
//!   out of band (applied by hand with another input), so exactly one project drifts.
//! - **bosun**: `POST /api/drift/acme/infra` with the API token, timed until the store says
//!   the job is done (polled every 5 ms), at parallelism 2 with GitHub write pacing lifted.
//!   The report splits it with the store's drift run: queued → run recorded (claim and git
//!   fetch), → run finished (checkouts and plans, check runs), → job done (the drift issue).
//! - **By hand**: the same N modules in plain directories, `terraform init` + `terraform plan
//!   -detailed-exitcode`, 2 at a time, with the environment bosun gives Terraform. A second
//!   set of directories runs what bosun runs per project, to show where the difference goes:
//!   the same with `plan -out`, then `show -json` of the planfile.
//!
//! Rounds interleave (by hand, by hand as a PR plan, bosun, by hand, …). The first round is cold: bosun has just
//! started (no mirror, no checkouts, empty plugin cache) and the by-hand directories are new;
//! later rounds are warm (bosun keeps its checkouts and their `.terraform/`; by hand plans
//! again in the same directories). Every round is checked: by hand, exactly the drifted
//! project exits 2; bosun's run has exactly one project drifted and N-1 in sync, N new drift
//! check runs, and the drift issue is open and names the drifted project.
//!
//! Run it with `cargo bench --bench drift`. Environment:
//!
//! - `BOSUN_BENCH_DRIFT_PROJECTS`: projects on the default branch (default 40);
//! - `BOSUN_BENCH_DRIFT_ROUNDS`: rounds, the first cold (default 3);
//! - `BOSUN_TEST_TERRAFORM`: the Terraform binary (default `/usr/local/bin/terraform`);
//! - `BOSUN_BENCH_LOG`: a file for bosun's debug log, with span timings (default: no log).
//!
//! Times are wall-clock on a shared machine: read them as a guide, not a verdict.

#[path = "../../tests/e2e/support/mod.rs"]
mod support;

#[path = "../common/mod.rs"]
mod common;

mod by_hand;
mod report;

use bosun::ids::RepoKey;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail, ensure};
use bosun::drift::DriftStatus;
use bosun::render::drift::{CHECK_PREFIX, ISSUE_TITLE};
use bosun::store::JobStatus;
use bytes::Bytes;

use by_hand::{ByHand, HandRound};
use common::env_number;
use support::prs::module;
use support::{REPO, TestContext, terraform_bin};

/// Projects planned at once, by bosun and by hand.
const PARALLELISM: usize = 2;
/// Writes a minute that lift GitHub write pacing.
const UNPACED: u32 = 100_000;
/// bosun's API token in this benchmark.
const TOKEN: &str = "drift-bench-token-0123456789";
/// Resources of each project.
const RESOURCES: &[&str] = &["r0", "r1"];
/// How often the store is asked whether the drift job is done.
const POLL: Duration = Duration::from_millis(5);
/// Longest wait for one drift run.
const RUN_DEADLINE: Duration = Duration::from_secs(600);

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drift benchmark failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let n = env_number("BOSUN_BENCH_DRIFT_PROJECTS", 40)?.max(1);
    let rounds = env_number("BOSUN_BENCH_DRIFT_ROUNDS", 3)?.max(1);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let bin = terraform_bin();
    println!("bosun drift benchmark: {cores} cores, Terraform {bin}");
    if let Ok(path) = std::env::var("BOSUN_BENCH_LOG") {
        log_to(&path)?;
    }
    let started = Instant::now();

    let ctx = start_bosun().await;
    let projects = Projects::new(&ctx, n);
    let files = projects.files();
    let refs: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(path, tf)| (path.as_str(), Some(tf.as_str())))
        .collect();
    ctx.push_base(&refs);
    let hand = ByHand::new(&bin, &projects.modules, false)?;
    let as_bosun = ByHand::new(&bin, &projects.modules, true)?;
    hand.apply_all(&projects.modules, PARALLELISM).await?;
    hand.apply_drift(&projects.drifted_module()).await?;
    let setup = started.elapsed();

    let mut by_hand = Vec::with_capacity(rounds);
    let mut with_show = Vec::with_capacity(rounds);
    let mut bosun = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        for (hand, all) in [(&hand, &mut by_hand), (&as_bosun, &mut with_show)] {
            let round = hand.plan_all(PARALLELISM).await?;
            projects.verify_hand(&round)?;
            all.push(round);
        }
        bosun.push(drift_run(&ctx, &projects).await?);
    }
    report::print(n, [&by_hand, &with_show], &bosun, setup);
    ctx.finish().await;
    println!(
        "\ntotal benchmark time {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn start_bosun() -> TestContext {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("parallelism", &PARALLELISM.to_string());
    ctx.set("github_writes_per_minute", &UNPACED.to_string());
    ctx.set("api_token", TOKEN);
    ctx.start_bosun().await;
    ctx
}

/// The default branch's projects: `envs/pNNN`, the first drifted.
struct Projects {
    /// Each project's directory in the repository and its module text.
    modules: Vec<(String, String)>,
}

impl Projects {
    fn new(ctx: &TestContext, n: usize) -> Self {
        let modules = (0..n)
            .map(|i| {
                let name = format!("p{i:03}");
                let tf = module(&ctx.state_file(&name), RESOURCES);
                (format!("envs/{name}"), tf)
            })
            .collect();
        Self { modules }
    }

    /// The files to push: one `main.tf` per project.
    fn files(&self) -> Vec<(String, String)> {
        self.modules
            .iter()
            .map(|(dir, tf)| (format!("{dir}/main.tf"), tf.clone()))
            .collect()
    }

    /// The directory of the project that drifts.
    fn drifted_dir(&self) -> &str {
        self.modules.first().map_or("", |(dir, _)| dir.as_str())
    }

    /// The drifted project's module as someone applied it by hand: another input for `r0`.
    fn drifted_module(&self) -> String {
        self.modules.first().map_or_else(String::new, |(_, tf)| {
            tf.replace("input = \"r0\"", "input = \"by-hand\"")
        })
    }

    /// Fails unless exactly the drifted project planned changes by hand.
    fn verify_hand(&self, round: &HandRound) -> anyhow::Result<()> {
        ensure!(round.exits.len() == self.modules.len(), "{:?}", round.exits);
        for (i, code) in round.exits.iter().enumerate() {
            let want = if i == 0 { 2 } else { 0 };
            ensure!(
                *code == want,
                "by hand, project {i} exited {code}, expected {want}"
            );
        }
        Ok(())
    }
}

/// One drift run through the API, as seen from outside and from the store.
#[derive(Debug, Clone, Copy)]
pub struct BosunRound {
    /// The API's answer (the job queued).
    pub accepted: Duration,
    /// The store recorded the run's start (job claimed, default branch fetched).
    pub recorded: Duration,
    /// The store recorded the run's end (every project planned, check runs written).
    pub finished: Duration,
    /// The job done (the drift issue written too).
    pub done: Duration,
}

/// Asks for a drift run through the API and waits until its job is done; checks the result.
async fn drift_run(ctx: &TestContext, projects: &Projects) -> anyhow::Result<BosunRound> {
    let checks_before = drift_checks(ctx).len();
    let store = ctx.store();
    let wall0 = SystemTime::now();
    let t0 = Instant::now();
    let headers = [("authorization", format!("Bearer {TOKEN}"))];
    let reply = ctx
        .http
        .send(
            http::Method::POST,
            &ctx.url("/api/drift/acme/infra"),
            &headers,
            Bytes::new(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("POST /api/drift: {e}"))?;
    let accepted = t0.elapsed();
    ensure!(reply.status == 202, "the API answered {}", reply.status);
    let job = reply.json()["job"]
        .as_i64()
        .context("the API's answer names no job")?;
    let max_polls = RUN_DEADLINE.as_millis() / POLL.as_millis();
    let mut done = None;
    for _ in 0..max_polls {
        let status = store.job(job).await?.context("the job")?;
        match status.status {
            JobStatus::Done => {
                done = Some(t0.elapsed());
                break;
            }
            JobStatus::Failed | JobStatus::Superseded => {
                bail!("the drift job ended {status:?}")
            }
            JobStatus::Queued | JobStatus::Running => tokio::time::sleep(POLL).await,
        }
    }
    let done = done.with_context(|| format!("the drift job not done within {RUN_DEADLINE:?}"))?;
    let run = store
        .drift_runs(&RepoKey::new(REPO), 1)
        .await?
        .into_iter()
        .next()
        .context("no drift run in the store")?;
    let since = |ms: i64| {
        let at = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
        at.duration_since(wall0).unwrap_or_default()
    };
    let finished = run.finished_at.context("the drift run has no end")?;
    // The checks: one drifted, the rest in sync, a check run each, the issue.
    let count = |s: DriftStatus| run.projects.iter().filter(|p| p.status == s).count();
    let n = projects.modules.len();
    ensure!(
        run.projects.len() == n && count(DriftStatus::Drifted) == 1,
        "expected 1 of {n} drifted: {}",
        run.summary
    );
    ensure!(
        count(DriftStatus::InSync) == n - 1,
        "expected {} in sync: {}",
        n - 1,
        run.summary
    );
    let drifted = run
        .projects
        .iter()
        .find(|p| p.status == DriftStatus::Drifted)
        .map(|p| p.target.dir.as_str());
    ensure!(
        drifted == Some(projects.drifted_dir()),
        "drifted: {drifted:?}"
    );
    let checks = drift_checks(ctx);
    let new = checks.get(checks_before..).unwrap_or_default();
    ensure!(
        new.len() == n,
        "{} new drift check runs, not {n}",
        new.len()
    );
    let failed = new
        .iter()
        .filter(|c| c.1.as_deref() == Some("failure"))
        .count();
    ensure!(failed == 1, "{failed} drift check runs failed, not 1");
    let issues = ctx.fake.issues(REPO);
    let issue = match issues.as_slice() {
        [one] => one,
        more => bail!("{} drift issues", more.len()),
    };
    ensure!(
        issue.open && issue.title == ISSUE_TITLE,
        "the issue: {issue:?}"
    );
    ensure!(
        issue.body.contains(projects.drifted_dir()),
        "the issue does not name {}",
        projects.drifted_dir()
    );
    Ok(BosunRound {
        accepted,
        recorded: since(run.started_at),
        finished: since(finished),
        done,
    })
}

/// bosun's drift check runs so far, oldest first: name and conclusion.
fn drift_checks(ctx: &TestContext) -> Vec<(String, Option<String>)> {
    let m = ctx.fake.model();
    m.repo(REPO)
        .map(|r| {
            r.check_runs
                .iter()
                .filter(|c| c.name.starts_with(CHECK_PREFIX))
                .map(|c| (c.name.clone(), c.conclusion.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// bosun's debug log, with the time each span was busy, into `path`.
pub fn log_to(path: &str) -> anyhow::Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("creating {path}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("bosun=debug"))
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init()
        .map_err(|e| anyhow::anyhow!("installing the log: {e}"))
}
