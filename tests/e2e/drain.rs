//! SIGTERM drains the real binary: `/readyz` answers 503 at once while webhooks are still
//! stored, a running apply finishes within BOSUN_SHUTDOWN_GRACE and bosun exits 0; a running
//! plan is stopped and given back to the queue, so a restarted replica plans it at once; an
//! apply longer than the grace is left, bosun exits saying so, and its next start reports the
//! apply interrupted; a second SIGTERM stops bosun without waiting.

use bosun::ids::PrNumber;
use bosun::ids::RepoKey;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bosun::store::{ApplyStatus, DeliveryStatus, JobStatus, Sealer, Store};
use bytes::Bytes;
use http::Method;

use crate::durability::free_port;
use crate::support::client::Http;
use crate::support::fake;
use crate::support::prs::module;
use crate::support::{KEY_FILE, REPO, TestContext, pg, terraform_bin, terraform_readable_paths};

/// `bosun serve` on a port of its own, its log kept in a file.
pub(crate) struct Serve {
    child: Child,
    port: u16,
    log: PathBuf,
    http: Http,
}

impl Serve {
    /// Starts bosun (sandbox writable at `writable`) and points the fake's webhooks at it.
    pub(crate) async fn start(ctx: &TestContext, writable: &Path, extra: &[(&str, &str)]) -> Self {
        let port = free_port();
        let data = ctx.data_path();
        let log = data.join(format!("serve-{port}.log"));
        std::fs::create_dir_all(&data).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bosun"));
        cmd.arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--data-dir", data.to_str().unwrap()])
            .args(["--github-api-url", &ctx.fake.url])
            .args(["--github-app-id", &fake::APP_ID.to_string()])
            .args(["--github-app-key-file", KEY_FILE])
            .args(["--repo-allowlist", "*/*"])
            .args(["--redelivery-interval", "0"])
            .args(["--terraform-bin", &terraform_bin()])
            .args(["--delivery-retry-base", "10ms"])
            .args(["--sandbox-writable-paths", writable.to_str().unwrap()])
            .args([
                "--sandbox-readable-paths",
                &terraform_readable_paths().join(","),
            ])
            .args(["--log", "warn"])
            .args(["--log-format", "json"]);
        for (flag, value) in extra {
            cmd.args([*flag, *value]);
        }
        let child = cmd
            .env_clear()
            .env("BOSUN_GITHUB_WEBHOOK_SECRET", fake::WEBHOOK_SECRET)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let serve = Self {
            child,
            port,
            log,
            http: Http::default(),
        };
        let t = Instant::now();
        while serve.get("/healthz").await.map(|(s, _)| s) != Some(200) {
            assert!(t.elapsed() < Duration::from_secs(30), "bosun did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ctx.fake.model().hook_url = Some(format!("http://127.0.0.1:{port}/events"));
        serve
    }

    async fn get(&self, path: &str) -> Option<(u16, String)> {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let r = self
            .http
            .send(Method::GET, &url, &[], Bytes::new())
            .await
            .ok()?;
        Some((r.status.as_u16(), r.text()))
    }

    fn sigterm(&self) {
        self.signal(rustix::process::Signal::TERM);
    }

    pub(crate) fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, signal).unwrap();
    }

    /// Waits for the process to exit, at most `within`.
    async fn exited(&mut self, within: Duration) -> ExitStatus {
        let t = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(t.elapsed() < within, "bosun did not exit within {within:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A module whose apply touches `started`, sleeps `secs` and touches `done`.
fn slow_apply(ctx: &TestContext, secs: u32, started: &Path, done: &Path) -> String {
    format!(
        "{}\nresource \"terraform_data\" \"slow\" {{\n  provisioner \"local-exec\" {{\n    command = \"touch {} && sleep {secs} && touch {}\"\n  }}\n}}\n",
        module(&ctx.state_file("dev"), &[]),
        started.display(),
        done.display()
    )
}

/// Waits for `pr`'s plan, comments `bosun apply` and waits for the apply to start.
async fn apply_until_started(ctx: &TestContext, store: &dyn Store, pr: u64, started: &Path) {
    let t = Instant::now();
    while store
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap()
        .is_empty()
    {
        assert!(t.elapsed() < Duration::from_secs(120), "no plan");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ctx.comment(pr, "alice", "bosun apply").await;
    let t = Instant::now();
    while !started.exists() {
        assert!(t.elapsed() < Duration::from_secs(120), "no apply");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn sqlite_store(ctx: &TestContext) -> Arc<dyn Store> {
    let url = format!("sqlite://{}", ctx.data_path().join("bosun.db").display());
    bosun::store::open(&url, Sealer::ephemeral().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_running_apply_finish_and_exits_0_not_ready_meanwhile() {
    let ctx = TestContext::without_bosun().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    let states = ctx.state_dir.path().to_owned();
    let (started, done) = (states.join("started"), states.join("done"));
    let tf = slow_apply(&ctx, 4, &started, &done);
    let mut bosun = Serve::start(&ctx, &states, &[]).await;
    let store = sqlite_store(&ctx).await;
    let (pr, _) = ctx.open_pr("slow", &[("envs/dev/main.tf", &tf)]).await;
    apply_until_started(&ctx, store.as_ref(), pr, &started).await;

    bosun.sigterm();
    let t = Instant::now();
    while bosun.get("/readyz").await != Some((503, "draining\n".into())) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "/readyz still ready: {}",
            bosun.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(bosun.get("/healthz").await, Some((200, "ok\n".into())));
    assert!(!done.exists(), "the apply is still running while draining");
    // A webhook arriving while draining is stored and acknowledged, left for the next process.
    let (_, hook) = ctx
        .open_pr("late", &[("envs/dev/late.tf", "# late\n")])
        .await;
    assert_eq!(hook.status_code, 202, "{}", hook.response);
    let late = store.delivery(&hook.guid).await.unwrap().expect("stored");
    assert_eq!(late.status, DeliveryStatus::Pending);

    let status = bosun.exited(Duration::from_secs(60)).await;
    assert!(status.success(), "{status:?}\n{}", bosun.log());
    assert!(done.exists(), "the apply ran to its end");
    let applies = store
        .applies_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(applies.len(), 1);
    assert_eq!(applies[0].status, ApplyStatus::Succeeded);
    let jobs = store
        .jobs_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    let apply_job = jobs.iter().find(|j| j.kind == "comment").expect("{jobs:?}");
    assert_eq!(apply_job.status, JobStatus::Done, "{jobs:?}");
}

/// On PostgreSQL a job whose replica vanished waits for its lease (2 minutes) to run out; a
/// drained replica gives its plan back, so the next one plans it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_gives_a_running_plan_back_and_the_next_replica_plans_it_at_once() {
    let url = pg::fresh_database().await;
    let key = "ab".repeat(32);
    let flags = [
        ("--database-url", url.as_str()),
        ("--planfile-key", key.as_str()),
    ];
    let ctx = TestContext::without_bosun().await;
    let states = ctx.state_dir.path().to_owned();
    // The autoplan's first read of the pull request hangs: the plan is running at SIGTERM.
    ctx.fake.stall_next("GET", "/pulls/1", 1);
    let mut bosun = Serve::start(&ctx, &states, &flags).await;
    let store = bosun::store::open(&url, Sealer::ephemeral().unwrap())
        .await
        .unwrap();
    let tf = module(&ctx.state_file("dev"), &["app"]);
    let (pr, _) = ctx.open_pr("dev", &[("envs/dev/main.tf", &tf)]).await;
    assert_eq!(pr, 1);
    let t = Instant::now();
    while ctx.fake.model().stalled < 1 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the plan did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    bosun.sigterm();
    let status = bosun.exited(Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}\n{}", bosun.log());
    let jobs = store
        .jobs_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(
        (jobs[0].status, jobs[0].attempts),
        (JobStatus::Queued, 0),
        "given back, its attempt unused"
    );

    let t = Instant::now();
    let next = Serve::start(&ctx, &states, &flags).await;
    while store
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap()
        .is_empty()
    {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "not planned before the 2-minute lease would have run out\n{}",
            next.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let job = store.job(jobs[0].id).await.unwrap().unwrap();
    assert_eq!(job.attempts, 1, "one attempt in all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_longer_than_the_grace_is_left_and_bosun_exits_saying_so() {
    let ctx = TestContext::without_bosun().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    let states = ctx.state_dir.path().to_owned();
    let (started, done) = (states.join("started"), states.join("done"));
    let tf = slow_apply(&ctx, 60, &started, &done);
    let mut bosun = Serve::start(&ctx, &states, &[("--shutdown-grace", "2s")]).await;
    let store = sqlite_store(&ctx).await;
    let (pr, _) = ctx.open_pr("slow", &[("envs/dev/main.tf", &tf)]).await;
    apply_until_started(&ctx, store.as_ref(), pr, &started).await;
    let apply_job = store
        .jobs_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.status == JobStatus::Running)
        .expect("the apply's job runs");

    bosun.sigterm();
    let t = Instant::now();
    let status = bosun.exited(Duration::from_secs(30)).await;
    assert!(
        t.elapsed() >= Duration::from_secs(2),
        "waited for the grace"
    );
    assert_eq!(status.code(), Some(1), "{}", bosun.log());
    let log = bosun.log();
    assert!(
        log.contains("the shutdown grace ran out with this job running")
            && log.contains(&format!("\"id\":{}", apply_job.id)),
        "{log}"
    );
    assert!(
        log.contains("the shutdown grace (2s) ran out with 1 job(s) still running"),
        "{log}"
    );
    assert!(!done.exists(), "the apply did not end");

    // Started again, bosun reports the apply interrupted and does not run it again.
    let _again = Serve::start(&ctx, &states, &[]).await;
    let t = Instant::now();
    while store.job(apply_job.id).await.unwrap().unwrap().status != JobStatus::Done {
        assert!(t.elapsed() < Duration::from_secs(60), "not reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let applies = store
        .applies_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(applies.len(), 1);
    assert_eq!(applies[0].status, ApplyStatus::Interrupted);
    let reported = ctx
        .fake
        .model()
        .repo(REPO)
        .unwrap()
        .check_runs
        .iter()
        .any(|c| c.name.starts_with("bosun/apply") && c.conclusion.as_deref() == Some("failure"));
    assert!(reported, "a failed apply check says it was interrupted");
    assert!(!done.exists(), "not applied again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_stops_bosun_without_waiting_for_the_drain() {
    let ctx = TestContext::without_bosun().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    let states = ctx.state_dir.path().to_owned();
    let (started, done) = (states.join("started"), states.join("done"));
    let tf = slow_apply(&ctx, 60, &started, &done);
    let mut bosun = Serve::start(&ctx, &states, &[]).await;
    let store = sqlite_store(&ctx).await;
    let (pr, _) = ctx.open_pr("slow", &[("envs/dev/main.tf", &tf)]).await;
    apply_until_started(&ctx, store.as_ref(), pr, &started).await;

    bosun.sigterm();
    let t = Instant::now();
    while bosun.get("/readyz").await != Some((503, "draining\n".into())) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "/readyz still ready: {}",
            bosun.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bosun.sigterm();
    let status = bosun.exited(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(1), "{}", bosun.log());
    assert!(
        bosun
            .log()
            .contains("a second SIGTERM or SIGINT: stopped without waiting"),
        "{}",
        bosun.log()
    );
}
