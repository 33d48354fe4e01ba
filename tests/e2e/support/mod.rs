//! The test context: the fake GitHub, and the real bosun (router, ingest, store, worker,
//! redelivery) running in-process against it.

#![allow(dead_code)]

pub mod browser;
pub mod client;
pub mod fake;
pub mod fleet;
pub mod logs;
pub mod mirror;
pub mod notify_sink;
pub mod openapi;
#[path = "../../../src/store/test_pg.rs"]
pub mod pg;
pub mod prs;
pub mod signed_in;
pub mod sse;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bosun::app::Running;
use bosun::config::{Settings, Sources};
use bosun::github::GitHub;
use bosun::github::retry::RetryPolicy;
use bosun::ids::{PrNumber, RepoKey};
use bosun::metrics::Metrics;
use bosun::store::{
    ApplyRecord, DeliveryStatus, Job, ProcessedEvent, ProjectLock, Store, StoredPlan,
};
use bytes::Bytes;
use client::{Http, Reply};

use self::fake::FakeGitHub;
use self::fake::model::{HookAttempt, Pr, commit, commit_changes, publish_pr_head};

pub const REPO: &str = "acme/infra";
pub const INSTALLATION: u64 = 1;
pub const KEY_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys/app.pem");

/// The real Terraform the tests run: BOSUN_TEST_TERRAFORM, else the one `.ci/run` installs.
pub fn terraform_bin() -> String {
    let bin = std::env::var("BOSUN_TEST_TERRAFORM")
        .unwrap_or_else(|_| "/usr/local/bin/terraform".to_string());
    assert!(
        std::path::Path::new(&bin).exists(),
        "Terraform is missing at {bin}: run tests/tools/install-terraform.sh (or set BOSUN_TEST_TERRAFORM)"
    );
    bin
}

/// What the sandbox must show for the test Terraform to run, beyond its own directory: the
/// shim's venv (the parent of its `bin`) and the Python installation the venv names.
pub fn terraform_readable_paths() -> Vec<String> {
    let Ok(real) = std::fs::canonicalize(terraform_bin()) else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    let Some(prefix) = real.parent().and_then(|bin| bin.parent()) else {
        return paths;
    };
    if let Ok(cfg) = std::fs::read_to_string(prefix.join("pyvenv.cfg")) {
        paths.push(prefix.display().to_string());
        let home = cfg
            .lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == "home")
            .map(|(_, v)| std::path::PathBuf::from(v.trim()));
        if let Some(python) = home.as_deref().and_then(|bin| bin.parent()) {
            paths.push(python.display().to_string());
        }
    }
    paths
}

/// A retry policy fast enough for tests.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_secs(3),
    }
}

pub struct TestContext {
    pub fake: FakeGitHub,
    pub http: Http,
    pub data_dir: tempfile::TempDir,
    /// Terraform states (`state_file`): outside the data dir, writable in the sandbox.
    pub state_dir: tempfile::TempDir,
    pub sources: Sources,
    bosun: Option<Running>,
}

impl TestContext {
    /// The fake GitHub with `acme/infra` installed, and bosun serving it.
    pub async fn start() -> Self {
        let mut ctx = Self::without_bosun().await;
        ctx.start_bosun().await;
        ctx
    }

    /// The fake GitHub and settings, bosun not started yet (see `start_bosun`).
    pub async fn without_bosun() -> Self {
        let fake = FakeGitHub::start().await;
        fake.add_repo(INSTALLATION, REPO);
        // The usual commenters may run commands (BOSUN_COMMAND_PERMISSION is write).
        for user in ["alice", "bob"] {
            fake.set_permission(REPO, user, "write");
        }
        let data_dir = tempfile::tempdir().unwrap();
        let state_dir = tempfile::tempdir().unwrap();
        let mut sources = Sources::default();
        for (k, v) in [
            ("listen", "127.0.0.1:0".to_string()),
            ("data_dir", data_dir.path().display().to_string()),
            ("github_api_url", fake.url.clone()),
            ("github_app_id", fake::APP_ID.to_string()),
            ("github_app_key_file", KEY_FILE.to_string()),
            ("github_webhook_secret", fake::WEBHOOK_SECRET.to_string()),
            ("repo_allowlist", "acme/*".to_string()),
            ("redelivery_interval", "0".to_string()),
            ("delivery_retry_base", "10ms".to_string()),
            ("terraform_bin", terraform_bin()),
            // Nothing downloads from the release servers in tests: a version a test does not
            // serve from its own mirror fails at once (nothing listens on port 1).
            ("terraform_download_url", "http://127.0.0.1:1".to_string()),
            ("opentofu_download_url", "http://127.0.0.1:1".to_string()),
            (
                "opentofu_index_url",
                "http://127.0.0.1:1/api.json".to_string(),
            ),
            ("parallelism", "2".to_string()),
            (
                "sandbox_writable_paths",
                state_dir.path().display().to_string(),
            ),
            (
                "sandbox_readable_paths",
                terraform_readable_paths().join(","),
            ),
        ] {
            sources.flags.set(k, v);
        }
        Self {
            fake,
            http: Http::default(),
            data_dir,
            state_dir,
            sources,
            bosun: None,
        }
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.sources.flags.set(key, value);
    }

    pub fn settings(&self) -> Settings {
        let mut settings = Settings::resolve(&self.sources).unwrap();
        // Policy sets are evaluated by bosun's own binary (the test's is not it).
        settings.policy_eval.bin = Some(env!("CARGO_BIN_EXE_bosun").into());
        settings
    }

    pub async fn start_bosun(&mut self) {
        assert!(self.bosun.is_none());
        let settings = self.settings();
        let metrics = Arc::new(Metrics::default());
        let github =
            Arc::new(GitHub::new(&settings.github, fast_retry(), metrics.clone()).unwrap());
        let running = bosun::app::start(&settings, metrics, github).await.unwrap();
        self.fake.model().hook_url = Some(format!("http://{}/events", running.addr));
        self.bosun = Some(running);
    }

    /// Another replica of bosun on this context's settings (its store among them), with a data
    /// dir of its own and instance id `instance`; it serves no webhook (the fake sends them to
    /// the first) but claims jobs and plan tasks. Shut it down before the test ends.
    pub async fn start_replica(&self, instance: &str) -> (Running, tempfile::TempDir) {
        let data_dir = tempfile::tempdir().unwrap();
        let mut sources = self.sources.clone();
        sources
            .flags
            .set("data_dir", data_dir.path().display().to_string());
        sources.flags.set("instance_id", instance.to_string());
        let settings = Settings::resolve(&sources).unwrap();
        let metrics = Arc::new(Metrics::default());
        let github =
            Arc::new(GitHub::new(&settings.github, fast_retry(), metrics.clone()).unwrap());
        let running = bosun::app::start(&settings, metrics, github).await.unwrap();
        (running, data_dir)
    }

    pub async fn stop_bosun(&mut self) {
        if let Some(b) = self.bosun.take() {
            b.shutdown().await;
        }
    }

    pub fn bosun(&self) -> &Running {
        self.bosun.as_ref().expect("bosun is running")
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.bosun().store.clone()
    }

    /// The stored plans of pull request `pr` of [`REPO`].
    pub async fn plans_of_pr(&self, pr: u64) -> Vec<StoredPlan> {
        let key = RepoKey::new(REPO);
        self.store().plans_of_pr(&key, PrNumber(pr)).await.unwrap()
    }

    /// The locks pull request `pr` of [`REPO`] holds.
    pub async fn locks_of_pr(&self, pr: u64) -> Vec<ProjectLock> {
        let key = RepoKey::new(REPO);
        self.store().locks_of_pr(&key, PrNumber(pr)).await.unwrap()
    }

    /// The applies of pull request `pr` of [`REPO`].
    pub async fn applies_of_pr(&self, pr: u64) -> Vec<ApplyRecord> {
        let key = RepoKey::new(REPO);
        self.store()
            .applies_of_pr(&key, PrNumber(pr))
            .await
            .unwrap()
    }

    /// The reviewed plans of pull request `pr` of [`REPO`].
    pub async fn reviewed_plans(&self, pr: u64) -> Vec<StoredPlan> {
        let key = RepoKey::new(REPO);
        self.store()
            .reviewed_plans(&key, PrNumber(pr))
            .await
            .unwrap()
    }

    /// The jobs of pull request `pr` of [`REPO`].
    pub async fn jobs_of_pr(&self, pr: u64) -> Vec<Job> {
        let key = RepoKey::new(REPO);
        self.store().jobs_of_pr(&key, PrNumber(pr)).await.unwrap()
    }

    /// The locks held in [`REPO`].
    pub async fn locks_of_repo(&self) -> Vec<ProjectLock> {
        self.store()
            .locks_of_repo(&RepoKey::new(REPO))
            .await
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.bosun().addr)
    }

    /// Opens a pull request changing `files` and has GitHub deliver `pull_request.opened`.
    pub async fn open_pr(&self, title: &str, files: &[(&str, &str)]) -> (u64, HookAttempt) {
        let (number, payload) = self.prepare_pr(title, files);
        let attempt = self.fake.send_webhook("pull_request", payload).await;
        (number, attempt)
    }

    /// Opens a pull request changing `files` in the model, without a webhook: returns its
    /// number and the `pull_request.opened` payload GitHub would deliver (see `open_pr`).
    pub fn prepare_pr(&self, title: &str, files: &[(&str, &str)]) -> (u64, serde_json::Value) {
        let (pr, payload) = {
            let mut m = self.fake.model();
            let base_url = self.fake.url.clone();
            let repo = m.repo_mut(REPO).unwrap();
            let number = repo.next_number();
            let head_ref = format!("change-{number}");
            let base_sha = fake::model::branch_sha(&repo.git_dir, &repo.default_branch);
            let head_sha = commit(
                &repo.git_dir,
                &repo.default_branch.clone(),
                &head_ref,
                files,
            );
            publish_pr_head(&repo.git_dir, number, &head_sha);
            let pr = Pr {
                number,
                title: title.into(),
                author: "alice".into(),
                head_ref,
                head_sha,
                base_ref: repo.default_branch.clone(),
                base_sha,
                draft: false,
                open: true,
                merged: false,
                merge_commit_sha: None,
                mergeable: Some(true),
                mergeable_state: None,
                head_repo: fake::model::HeadRepo::Base,
            };
            repo.prs.insert(number, pr.clone());
            let payload =
                fake::payloads::pull_request("opened", repo, &pr, &base_url, INSTALLATION, "alice");
            (pr, payload)
        };
        (pr.number, payload)
    }

    /// Pushes a commit with `changes` (`None` deletes) to pull request `number`'s branch:
    /// its head and `refs/pull/<number>/head` move. No webhook is sent. Returns the new sha.
    pub fn push_to_pr(&self, number: u64, changes: &[(&str, Option<&str>)]) -> String {
        let mut m = self.fake.model();
        let repo = m.repo_mut(REPO).unwrap();
        let pr = repo.prs.get(&number).expect("pull request").clone();
        let sha = commit_changes(&repo.git_dir, &pr.base_ref, &pr.head_ref, changes);
        publish_pr_head(&repo.git_dir, number, &sha);
        if let Some(pr) = repo.prs.get_mut(&number) {
            pr.head_sha = sha.clone();
        }
        sha
    }

    /// Pushes a commit with `changes` (`None` deletes) to the default branch; returns its sha.
    pub fn push_base(&self, changes: &[(&str, Option<&str>)]) -> String {
        let m = self.fake.model();
        let repo = m.repo(REPO).unwrap();
        commit_changes(
            &repo.git_dir,
            &repo.default_branch,
            &repo.default_branch,
            changes,
        )
    }

    /// A push payload of `repo`'s `branch` moving to `after`, as GitHub would send it.
    pub fn push_payload(&self, repo: &str, after: &str, pusher: &str) -> serde_json::Value {
        let m = self.fake.model();
        let installation = m.installation_of(repo).expect("installed");
        let r = m.repo(repo).expect("repo");
        fake::payloads::push(
            r,
            "main",
            &"0".repeat(40),
            after,
            &self.fake.url,
            installation,
            pusher,
        )
    }

    /// Sends a signed JSON request to bosun's `/events` directly.
    pub async fn post_event(&self, event: &str, delivery: &str, body: &[u8]) -> Reply {
        self.post_signed(event, delivery, "application/json", body)
            .await
    }

    /// Sends a signed request with the given content type to bosun's `/events`.
    pub async fn post_signed(
        &self,
        event: &str,
        delivery: &str,
        content_type: &str,
        body: &[u8],
    ) -> Reply {
        let headers = signed_headers(event, delivery, content_type, body);
        self.http
            .send(
                http::Method::POST,
                &self.url("/events"),
                &headers,
                Bytes::copy_from_slice(body),
            )
            .await
            .unwrap()
    }

    /// Waits (bounded) until the delivery is processed, and returns its event record.
    pub async fn processed(&self, delivery: &str) -> ProcessedEvent {
        let store = self.store();
        for _ in 0..500 {
            if let Some(e) = store.processed_event(delivery).await.unwrap() {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let record = store.delivery(delivery).await.unwrap();
        panic!("delivery {delivery} not processed within 10 s: {record:?}");
    }

    /// Ends the test: every request bosun made was valid and modelled, no delivery failed.
    pub async fn finish(mut self) {
        self.fake.assert_no_violations();
        let failed: Vec<String> = {
            let m = self.fake.model();
            m.attempts.iter().map(|a| a.guid.clone()).collect()
        };
        if self.bosun.is_some() {
            let store = self.store();
            for guid in failed {
                if let Some(d) = store.delivery(&guid).await.unwrap() {
                    assert_ne!(
                        d.status,
                        DeliveryStatus::Failed,
                        "delivery {guid} failed: {:?}",
                        d.last_error
                    );
                }
            }
        }
        self.stop_bosun().await;
    }

    /// The id of the first run of `kind` (plan, apply, …) in bosun's SQLite store, once there
    /// is one (at most two minutes).
    pub async fn run_of_kind(&self, kind: &str) -> i64 {
        let db = format!("sqlite://{}", self.data_path().join("bosun.db").display());
        let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let id: Option<i64> =
                sqlx::query_scalar("SELECT id FROM runs WHERE kind = ? ORDER BY id")
                    .bind(kind)
                    .fetch_optional(&pool)
                    .await
                    .unwrap();
            if let Some(id) = id {
                return id;
            }
            assert!(std::time::Instant::now() < deadline, "no {kind} run");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn data_path(&self) -> PathBuf {
        self.data_dir.path().to_owned()
    }
}

/// The headers GitHub sends with a webhook, signed with the fake's secret.
pub fn signed_headers(
    event: &str,
    delivery: &str,
    content_type: &str,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", content_type.to_string()),
        ("x-github-event", event.to_string()),
        ("x-github-delivery", delivery.to_string()),
        (
            "x-hub-signature-256",
            bosun::server::signature::sign(fake::WEBHOOK_SECRET, body),
        ),
    ]
}
