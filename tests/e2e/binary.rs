//! The real bosun binary, as an operator runs it, against the fake GitHub: started, killed
//! with SIGKILL and started again by a test, its store opened beside it.

use bosun::ids::PrNumber;
use bosun::ids::RepoKey;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use bosun::store::{JobStore, SqliteStore};

use crate::durability::{free_port, spawn_with, wait_healthy};
use crate::support::client::Http;
use crate::support::{REPO, TestContext, terraform_bin, terraform_readable_paths};

/// A bosun process whose sandbox may write `writable` (where provisioners leave marks), with
/// the test Terraform, fast delivery retries and the test's extra flags.
pub struct Binary {
    port: u16,
    data: PathBuf,
    github: String,
    flags: Vec<(&'static str, String)>,
    child: Option<Child>,
    http: Http,
}

impl Binary {
    /// Starts bosun on a port of its own and points the fake's webhooks at it.
    pub async fn start(ctx: &TestContext, writable: &Path, extra: &[(&'static str, &str)]) -> Self {
        let mut flags = vec![
            ("--terraform-bin", terraform_bin()),
            ("--delivery-retry-base", "10ms".to_owned()),
            ("--sandbox-writable-paths", writable.display().to_string()),
            (
                "--sandbox-readable-paths",
                terraform_readable_paths().join(","),
            ),
        ];
        flags.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let mut binary = Self {
            port: free_port(),
            data: ctx.data_path(),
            github: ctx.fake.url.clone(),
            flags,
            child: None,
            http: Http::default(),
        };
        binary.restart().await;
        ctx.fake.model().hook_url = Some(format!("http://127.0.0.1:{}/events", binary.port));
        binary
    }

    /// Starts bosun again (after [`Binary::kill`]) on the same port and data.
    pub async fn restart(&mut self) {
        let flags: Vec<(&str, &str)> = self.flags.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.child = Some(spawn_with(self.port, &self.data, &self.github, &flags));
        wait_healthy(&self.http, self.port).await;
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// The store bosun uses, opened beside it.
    pub async fn store(&self) -> SqliteStore {
        SqliteStore::open(&format!(
            "sqlite://{}",
            self.data.join("bosun.db").display()
        ))
        .await
        .unwrap()
    }

    /// Waits for `pr`'s plan, comments `bosun apply` as alice and waits until the apply's
    /// provisioner touches `started`.
    pub async fn apply_until_started(
        &self,
        ctx: &TestContext,
        store: &SqliteStore,
        pr: u64,
        started: &Path,
    ) {
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
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "the apply did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
