//! `bosun setup` as an operator runs it: the real binary serves the page, the test plays the
//! browser and GitHub's web half (the fake confirms the manifest and gives the code), and
//! the fake's `POST /app-manifests/{code}/conversions` makes the App. Then `bosun serve`
//! starts with the printed settings and the fake accepts its JWT.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::durability::{free_port, wait_healthy};
use crate::support::client::{Http, Reply};
use crate::support::fake::{FakeGitHub, app_permissions};

const BIN: &str = env!("CARGO_BIN_EXE_bosun");

/// `bosun setup` running, with its stdout read line by line.
struct Setup {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// `http://127.0.0.1:PORT`
    url: String,
}

impl Setup {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .arg("setup")
            .args(["--listen", "127.0.0.1:0", "--timeout", "60s"])
            .args(args)
            .env_clear()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines.recv_timeout(Duration::from_secs(30)).unwrap();
        let url = first
            .strip_prefix("Open ")
            .and_then(|r| r.split_once("/ in a browser"))
            .map(|(u, _)| u.to_owned())
            .unwrap_or_else(|| panic!("unexpected first line: {first}"));
        Self { child, lines, url }
    }

    /// Waits for the process to end: its exit code, the rest of stdout, and stderr.
    fn finish(mut self) -> (i32, String, String) {
        let status = wait_exit(&mut self.child, Duration::from_secs(30));
        let mut out = String::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            out.push_str(&line);
            out.push('\n');
        }
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status, out, err)
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> i32 {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if start.elapsed() > within {
            child.kill().unwrap();
            panic!("the process did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The form's action and the manifest in its hidden field, as a browser would submit them.
fn form_of(page: &str) -> (String, Value) {
    let attr = |name: &str| -> String {
        let key = format!("{name}=\"");
        let start = page
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} in {page}"))
            + key.len();
        let end = start + page[start..].find('"').unwrap();
        unescape(&page[start..end])
    };
    let action = attr("action");
    let manifest: Value = serde_json::from_str(&attr("value")).unwrap();
    (action, manifest)
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The `  KEY=VALUE` lines of the report.
fn settings_of(report: &str) -> BTreeMap<String, String> {
    report
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

/// Plays the browser through the whole flow; returns the page's manifest, the state and
/// the setup's report.
async fn create_app(
    fake: &FakeGitHub,
    args: &[&str],
    org: Option<&str>,
    new_app_page: &str,
) -> (Value, String) {
    let http = Http::default();
    let setup = Setup::start(args);
    let page = http.get(&format!("{}/", setup.url)).await;
    assert_eq!(page.status, 200, "{}", page.text());
    let (action, manifest) = form_of(&page.text());
    let (target, state) = action.split_once("?state=").unwrap();
    assert_eq!(target, new_app_page);
    assert_eq!(state.len(), 64, "{state}");

    // What bosun needs, and nothing more: the permissions the fake grants bosun's
    // installations (which refuse any call beyond them) and the events bosun handles.
    let permissions: BTreeMap<String, String> =
        serde_json::from_value(manifest["default_permissions"].clone()).unwrap();
    assert_eq!(permissions, app_permissions());
    assert_eq!(
        manifest["default_events"],
        json!([
            "pull_request",
            "issue_comment",
            "pull_request_review",
            "push",
            "check_run"
        ])
    );
    assert_eq!(manifest["public"], false);
    assert_eq!(manifest["name"], "bosun-acme");
    assert_eq!(manifest["url"], "https://bosun.example.com");
    assert_eq!(
        manifest["hook_attributes"]["url"],
        "https://bosun.example.com/events"
    );
    let redirect = manifest["redirect_url"].as_str().unwrap().to_owned();
    assert_eq!(redirect, format!("{}/callback", setup.url));

    // A callback with another state is refused before GitHub is asked anything.
    let forged = http
        .get(&format!("{redirect}?code=abc&state={}", "0".repeat(64)))
        .await;
    assert_eq!(forged.status, 400, "{}", forged.text());
    assert!(fake.requests("POST", "/app-manifests/").is_empty());

    // The user confirms on GitHub; GitHub sends the browser back with the code.
    let code = fake.confirm_manifest(&manifest, org).unwrap();
    let back: Reply = http
        .get(&format!("{redirect}?code={code}&state={state}"))
        .await;
    assert_eq!(back.status, 200, "{}", back.text());
    assert!(back.text().contains("is created"), "{}", back.text());

    let (status, report, err) = setup.finish();
    assert_eq!(status, 0, "stdout: {report}\nstderr: {err}");
    (manifest, report)
}

/// Checks the files and the report against the App the fake made, starts `bosun serve`
/// with the printed settings and sees the fake accept its JWT at `app_path`.
async fn check_files_and_serve(fake: &FakeGitHub, out: &Path, report: &str, app_path: &str) {
    let (id, secret) = {
        let m = fake.model();
        let app = m.created_apps.last().unwrap();
        (app.id, app.webhook_secret.clone())
    };
    let settings = settings_of(report);
    let key = out.join("app.pem");
    let secret_file = out.join("webhook-secret");
    assert_eq!(settings["BOSUN_GITHUB_APP_ID"], id.to_string());
    assert_eq!(
        settings["BOSUN_GITHUB_APP_KEY_FILE"],
        key.display().to_string()
    );
    assert_eq!(
        settings["BOSUN_GITHUB_WEBHOOK_SECRET_FILE"],
        secret_file.display().to_string()
    );
    for name in ["app-id", "app.pem", "webhook-secret"] {
        assert_eq!(mode(&out.join(name)), 0o600, "{name}");
    }
    assert_eq!(
        std::fs::read_to_string(out.join("app-id")).unwrap(),
        format!("{id}\n")
    );
    assert_eq!(
        std::fs::read_to_string(&secret_file).unwrap(),
        format!("{secret}\n")
    );
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY")
    );
    // Paths, never the secrets.
    assert!(!report.contains(&secret), "{report}");
    assert!(!report.contains("PRIVATE KEY"), "{report}");

    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--data-dir", data.path().to_str().unwrap()])
        .args(["--repo-allowlist", "*/*"])
        .args(["--redelivery-interval", "0"])
        .args(["--log", "warn"])
        .env_clear();
    for (k, v) in settings
        .iter()
        .filter(|(k, _)| *k != "BOSUN_REPO_ALLOWLIST")
    {
        cmd.env(k, v);
    }
    let mut serve = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(&Http::default(), port).await;
    serve.kill().unwrap();
    serve.wait().unwrap();
    let asked = fake.requests("GET", app_path);
    assert!(
        asked.iter().any(|r| r.path == app_path && r.status == 200),
        "bosun serve's JWT was not accepted: {asked:?}"
    );
    fake.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_creates_the_app_writes_0600_files_and_serve_starts_with_them() {
    let fake = FakeGitHub::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("secrets");
    let web = format!("{}/web", fake.url);
    let (_, report) = create_app(
        &fake,
        &[
            "--github-url",
            &web,
            "--github-api-url",
            &fake.url,
            "--webhook-url",
            "https://bosun.example.com/events",
            "--name",
            "bosun-acme",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
        &format!("{web}/settings/apps/new"),
    )
    .await;
    assert_eq!(mode(&out), 0o700);
    assert_eq!(settings_of(&report)["BOSUN_GITHUB_API_URL"], fake.url);
    assert!(
        report.contains(&format!("{}/apps/bosun-acme/installations/new", fake.url)),
        "{report}"
    );
    check_files_and_serve(&fake, &out, &report, "/app").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_against_an_enterprise_server_uses_its_api_v3_and_the_organisation_page() {
    let fake = FakeGitHub::start().await;
    let out = tempfile::tempdir().unwrap();
    let (_, report) = create_app(
        &fake,
        &[
            "--github-url",
            &fake.url,
            "--org",
            "acme",
            "--webhook-url",
            "https://bosun.example.com/events",
            "--name",
            "bosun-acme",
            "--out",
            out.path().to_str().unwrap(),
        ],
        Some("acme"),
        &format!("{}/organizations/acme/settings/apps/new", fake.url),
    )
    .await;
    let api = format!("{}/api/v3", fake.url);
    assert_eq!(settings_of(&report)["BOSUN_GITHUB_API_URL"], api);
    assert_eq!(
        fake.requests("POST", "/api/v3/app-manifests/").len(),
        1,
        "the conversion went to the Enterprise API"
    );
    check_files_and_serve(&fake, out.path(), &report, "/api/v3/app").await;
}

#[test]
fn setup_refuses_existing_files_and_a_symlinked_directory_before_serving() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("app.pem"), "keep me").unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(tmp.path(), &link).unwrap();
    for (dir, says) in [
        (tmp.path(), "already exists"),
        (link.as_path(), "is a symlink"),
    ] {
        let out = Command::new(BIN)
            .args(["setup", "--listen", "127.0.0.1:0"])
            .args(["--webhook-url", "https://bosun.example.com/events"])
            .args(["--out", dir.to_str().unwrap()])
            .env_clear()
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
        assert!(
            out.stdout.is_empty(),
            "it served: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("app.pem")).unwrap(),
        "keep me"
    );
}

#[test]
fn setup_gives_up_after_its_timeout_having_written_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["setup", "--listen", "127.0.0.1:0", "--timeout", "1s"])
        .args(["--webhook-url", "https://bosun.example.com/events"])
        .args(["--out", tmp.path().to_str().unwrap()])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no App was created within 1s"), "{err}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}
