//! A fleet of real `bosun serve` processes on one fresh PostgreSQL database, behind the fake
//! GitHub's round-robin webhook delivery (`Model::fleet_hooks`): started, killed (SIGKILL),
//! paused (SIGSTOP, SIGCONT), asked to stop (SIGTERM) and started again by a test. Each
//! replica has its own port, data dir and `BOSUN_INSTANCE_ID`; they share the planfile key.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bosun::store::{Sealer, Store};

use super::client::Http;
use super::{KEY_FILE, TestContext, fake, pg, terraform_bin, terraform_readable_paths};

/// The planfile key every replica shares (PostgreSQL needs one in the settings).
const PLANFILE_KEY: &str = "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed";

pub struct Replica {
    pub instance: String,
    pub port: u16,
    data: tempfile::TempDir,
    child: Option<Child>,
}

impl Replica {
    /// Where the fake (and a load balancer) sends its webhooks.
    pub fn events_url(&self) -> String {
        format!("http://127.0.0.1:{}/events", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Where the replica logs: its data dir, or `BOSUN_FLEET_LOG_DIR` (kept after the test).
    fn log_path(&self) -> std::path::PathBuf {
        match std::env::var_os("BOSUN_FLEET_LOG_DIR") {
            Some(dir) => Path::new(&dir).join(format!("{}.log", self.instance)),
            None => self.data.path().join("bosun.log"),
        }
    }

    /// The last warnings and errors of the replica's log (kept at info in its data dir), for
    /// a failing test to show.
    pub fn log(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        if std::env::var_os("BOSUN_FLEET_FULL_LOGS").is_some() {
            return log;
        }
        let bad: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .collect();
        bad[bad.len().saturating_sub(40)..].join("\n") + "\n"
    }
}

pub struct Fleet {
    pub database_url: String,
    /// The fleet's store, opened beside the replicas.
    pub store: Arc<dyn Store>,
    pub replicas: Vec<Replica>,
    github: String,
    flags: Vec<(String, String)>,
    http: Http,
}

impl Fleet {
    /// Starts `size` replicas on a fresh database, with the test Terraform, a sandbox that may
    /// write `writable`, short leases, and `extra` flags; webhooks go to them in turn.
    pub async fn start(
        ctx: &TestContext,
        size: usize,
        writable: &Path,
        extra: &[(&str, &str)],
    ) -> Self {
        let database_url = pg::fresh_database().await;
        let mut flags: Vec<(String, String)> = [
            ("--database-url", database_url.as_str()),
            ("--planfile-key", PLANFILE_KEY),
            ("--terraform-bin", terraform_bin().as_str()),
            ("--delivery-retry-base", "10ms"),
            ("--sandbox-writable-paths", &writable.display().to_string()),
            (
                "--sandbox-readable-paths",
                &terraform_readable_paths().join(","),
            ),
            ("--parallelism", "2"),
            // The fleet's one write budget at the default 80 a minute would pace the whole
            // test; it has tests of its own (store::fleet_tests).
            ("--github-writes-per-minute", "3000"),
            // A dead replica's work is taken over within seconds.
            ("--job-lease", "3s"),
            // Kills every few seconds may stop a job several times: it must still end.
            ("--job-max-attempts", "50"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        flags.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut fleet = Self {
            store: bosun::store::open(&database_url, Sealer::ephemeral().unwrap())
                .await
                .unwrap(),
            database_url,
            replicas: Vec::new(),
            github: ctx.fake.url.clone(),
            flags,
            http: Http::default(),
        };
        for _ in 0..size {
            fleet.grow(ctx).await;
        }
        fleet
    }

    /// Starts one more replica and puts it behind the webhooks; its index.
    pub async fn grow(&mut self, ctx: &TestContext) -> usize {
        let i = self.replicas.len();
        self.replicas.push(Replica {
            instance: format!("replica-{i}"),
            port: free_port(),
            data: tempfile::tempdir().unwrap(),
            child: None,
        });
        self.restart(i).await;
        ctx.fake.model().fleet_hooks = self.replicas.iter().map(Replica::events_url).collect();
        i
    }

    /// Starts replica `i` (again), on its port and data dir, and waits until it is healthy.
    pub async fn restart(&mut self, i: usize) {
        assert!(!self.replicas[i].is_running(), "replica {i} is running");
        let child = self.spawn(i);
        self.replicas[i].child = Some(child);
        wait_healthy(&self.http, self.replicas[i].port).await;
    }

    fn spawn(&self, i: usize) -> Child {
        let r = &self.replicas[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(r.log_path())
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bosun"));
        cmd.arg("serve");
        for (flag, value) in &self.flags {
            cmd.args([flag, value]);
        }
        cmd.args(["--listen", &format!("127.0.0.1:{}", r.port)])
            .args(["--data-dir", r.data.path().to_str().unwrap()])
            .args(["--instance-id", &r.instance])
            .args(["--github-api-url", &self.github])
            .args(["--github-app-id", &fake::APP_ID.to_string()])
            .args(["--github-app-key-file", KEY_FILE])
            .args(["--repo-allowlist", "*/*"])
            .args(["--redelivery-interval", "0"])
            .args(["--log", "info"])
            .env_clear()
            .env("BOSUN_GITHUB_WEBHOOK_SECRET", fake::WEBHOOK_SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// SIGKILL to replica `i`; waits for it to be gone.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.replicas[i].child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Sends `signal` (SIGSTOP, SIGCONT, SIGTERM…) to replica `i`'s process.
    pub fn signal(&self, i: usize, signal: i32) {
        let child = self.replicas[i].child.as_ref().expect("replica running");
        // SAFETY: kill has no memory preconditions; the pid is our live child's.
        let r = unsafe { libc::kill(child.id() as i32, signal) };
        assert_eq!(r, 0, "signalling replica {i}");
    }

    /// Waits (bounded by `within`) for replica `i` to exit; whether it exited with success.
    pub async fn wait_exit(&mut self, i: usize, within: Duration) -> bool {
        let started = Instant::now();
        loop {
            let child = self.replicas[i].child.as_mut().expect("replica running");
            if let Some(status) = child.try_wait().unwrap() {
                self.replicas[i].child = None;
                return status.success();
            }
            assert!(
                started.elapsed() < within,
                "replica {i} did not exit within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (bounded by `within`) until no delivery waits and no job is open, twice in a row.
    pub async fn settle(&self, within: Duration) {
        let deadline = Instant::now() + within;
        let mut quiet = 0;
        while Instant::now() < deadline {
            let busy =
                self.store.queue_depth().await.unwrap() + self.store.open_jobs().await.unwrap();
            quiet = if busy == 0 { quiet + 1 } else { 0 };
            if quiet >= 2 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the fleet did not settle within {within:?}\n{}\n{}",
            self.open_work().await,
            self.logs()
        );
    }

    /// A connection of the test's own to the fleet's database.
    pub async fn db(&self) -> sqlx::PgConnection {
        use sqlx::Connection as _;
        sqlx::PgConnection::connect(&self.database_url)
            .await
            .unwrap()
    }

    /// The deliveries and jobs not ended and the database's sessions, for a failure message.
    pub async fn open_work(&self) -> String {
        let mut db = self.db().await;
        let sessions = texts(
            &mut db,
            "SELECT concat_ws(' | ', pid, state, wait_event_type, left(query, 120))
             FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await;
        let deliveries = texts(
            &mut db,
            "SELECT concat_ws(' | ', id, event, action, status, attempts, next_attempt_at, lease_until)
             FROM deliveries WHERE status IN ('pending', 'processing') ORDER BY seq",
        )
        .await;
        let jobs = texts(
            &mut db,
            "SELECT concat_ws(' | ', id, kind, pr, status, attempts, claim, lease_until, not_before)
             FROM jobs WHERE status IN ('queued', 'running') ORDER BY id",
        )
        .await;
        format!(
            "sessions (pid | state | waiting on | query): {sessions:#?}\nnow {}\nopen deliveries \
             (id | event | action | status | attempts | due | lease): {deliveries:#?}\nopen jobs \
             (id | kind | pr | status | attempts | claim | lease | not before): {jobs:#?}",
            bosun::store::now_millis()
        )
    }

    /// How many jobs of each kind ran and how long they took from enqueue to end, on average
    /// (ms), for a test to report its load.
    pub async fn job_stats(&self) -> Vec<(String, i64, f64)> {
        let mut db = self.db().await;
        sqlx::query_as(
            "SELECT kind, count(*), avg(finished_at - created_at)::float8 FROM jobs
             GROUP BY kind ORDER BY kind",
        )
        .fetch_all(&mut db)
        .await
        .unwrap()
    }

    /// How many times each job was started (claimed), by id.
    pub async fn job_starts(&self) -> std::collections::HashMap<i64, i64> {
        let mut db = self.db().await;
        let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT id, attempts FROM jobs")
            .fetch_all(&mut db)
            .await
            .unwrap();
        rows.into_iter().collect()
    }

    /// Every replica's log, for a failure message.
    pub fn logs(&self) -> String {
        self.replicas
            .iter()
            .map(|r| format!("--- {} ---\n{}", r.instance, r.log()))
            .collect()
    }
}

/// One text per row of `sql`.
async fn texts(db: &mut sqlx::PgConnection, sql: &'static str) -> Vec<String> {
    sqlx::query_scalar(sql).fetch_all(db).await.unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (30 s at most) until `/healthz` on `port` answers 200.
async fn wait_healthy(http: &Http, port: u16) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = http
            .send(
                http::Method::GET,
                &format!("http://127.0.0.1:{port}/healthz"),
                &[],
                bytes::Bytes::new(),
            )
            .await
            && r.status == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("a replica did not become healthy");
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for r in &mut self.replicas {
            if let Some(mut child) = r.child.take() {
                // A paused replica must run again to die.
                // SAFETY: kill has no memory preconditions; the pid is our live child's.
                unsafe {
                    libc::kill(child.id() as i32, libc::SIGCONT);
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
