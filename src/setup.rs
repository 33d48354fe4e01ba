//! `bosun setup`: creates the GitHub App through GitHub's manifest flow. It serves one page
//! on a local address whose form posts the manifest (see `manifest`) to GitHub; GitHub
//! creates the App and sends the browser back to `/callback` with a code (and the `state`
//! the page set), which is exchanged for the App's id, key and webhook secret (`convert`),
//! written with mode 0600 (`files`). It then prints the settings for `bosun serve` (paths,
//! never secrets) and exits; it also exits, with an error, after `--timeout`.

pub mod convert;
pub mod files;
pub mod manifest;
mod page;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::oneshot;

use self::convert::CreatedApp;
use self::files::OutDir;
use self::manifest::GitHubUrls;

/// What the operator asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    pub github_url: String,
    pub github_api_url: Option<String>,
    pub org: Option<String>,
    pub webhook_url: String,
    pub name: String,
    pub out: PathBuf,
    pub timeout: Duration,
}

/// What was made: the App and where its files are.
#[derive(Debug)]
pub struct Outcome {
    pub app: CreatedApp,
    pub api: String,
    pub api_is_default: bool,
    pub app_id_file: PathBuf,
    pub key_file: PathBuf,
    pub webhook_secret_file: PathBuf,
}

impl Outcome {
    /// What to tell the operator: the files and the settings to start `bosun serve` with.
    pub fn report(&self) -> String {
        let mut out = format!(
            "Created the GitHub App {} (id {}): {}\n\
             Wrote, mode 0600: {}, {}, {}\n\n\
             Start bosun with:\n",
            self.app.name,
            self.app.id,
            self.app.html_url,
            self.app_id_file.display(),
            self.key_file.display(),
            self.webhook_secret_file.display(),
        );
        out.push_str(&format!("  BOSUN_GITHUB_APP_ID={}\n", self.app.id));
        out.push_str(&format!(
            "  BOSUN_GITHUB_APP_KEY_FILE={}\n",
            self.key_file.display()
        ));
        out.push_str(&format!(
            "  BOSUN_GITHUB_WEBHOOK_SECRET_FILE={}\n",
            self.webhook_secret_file.display()
        ));
        if !self.api_is_default {
            out.push_str(&format!("  BOSUN_GITHUB_API_URL={}\n", self.api));
        }
        out.push_str("  BOSUN_REPO_ALLOWLIST=<the repositories bosun may serve, e.g. acme/*>\n\n");
        if !self.app.html_url.is_empty() {
            out.push_str(&format!(
                "Then install the App on those repositories: {}/installations/new\n",
                self.app.html_url
            ));
        }
        out
    }
}

struct Shared {
    urls: GitHubUrls,
    org: Option<String>,
    webhook_url: String,
    name: String,
    out: OutDir,
    /// SHA-256 of the state the page sets; compared as digests.
    state: String,
    state_digest: [u8; 32],
    /// Taken by the first callback that makes the App.
    done: Mutex<Option<oneshot::Sender<Outcome>>>,
}

/// Checks the options, serves the page until the App is made (its files written) or the
/// timeout passes, and returns what was made. `ready` hears the address served.
pub async fn run(options: Options, ready: impl FnOnce(SocketAddr)) -> anyhow::Result<Outcome> {
    let urls = GitHubUrls::new(&options.github_url, options.github_api_url.as_deref())?;
    if let Some(org) = &options.org {
        manifest::check_org(org)?;
    }
    manifest::check_name(&options.name)?;
    let webhook_url = manifest::http_url("--webhook-url", &options.webhook_url)?;
    let out = OutDir::prepare(&options.out)?;
    let state = random_state()?;
    let (tx, rx) = oneshot::channel();
    let shared = Arc::new(Shared {
        urls,
        org: options.org,
        webhook_url,
        name: options.name,
        out,
        state_digest: Sha256::digest(state.as_bytes()).into(),
        state,
        done: Mutex::new(Some(tx)),
    });
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("--listen {}: cannot listen", options.listen))?;
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    let router = axum::Router::new()
        .route("/", axum::routing::get(page_handler))
        .route("/callback", axum::routing::get(callback))
        .with_state(shared);
    ready(addr);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(crate::server::without_nagle(listener), router)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await
    });
    let result = tokio::time::timeout(options.timeout, rx).await;
    let _ = stop_tx.send(());
    // Let the success page reach the browser; never wait long for a stuck connection.
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    match result {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(_)) => anyhow::bail!("the setup server stopped before the App was made"),
        Err(_) => anyhow::bail!(
            "no App was created within {} (--timeout); nothing was written",
            humantime::format_duration(options.timeout)
        ),
    }
}

/// 32 random bytes, hex.
fn random_state() -> anyhow::Result<String> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no randomness for the setup state"))?;
    Ok(hex::encode(bytes))
}

/// `GET /`: the page whose form posts the manifest to GitHub.
async fn page_handler(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let Some(host) = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| plausible_host(h))
    else {
        return (
            StatusCode::BAD_REQUEST,
            "a Host header naming this server is needed",
        )
            .into_response();
    };
    let redirect = format!("http://{host}/callback");
    let manifest = manifest::manifest(&shared.name, &shared.webhook_url, &redirect);
    let action = format!(
        "{}?state={}",
        shared.urls.new_app_page(shared.org.as_deref()),
        shared.state
    );
    Html(page::form(&action, &manifest, &shared.urls.web)).into_response()
}

/// A host and port as a browser sends them (no path, quote or markup).
fn plausible_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
}

/// `GET /callback?code=…&state=…`: GitHub sends the browser back here once the App exists.
async fn callback(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<Callback>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let refuse = |status: StatusCode, why: &str| (status, Html(page::message("Not done", why)));
    let Ok(Query(query)) = query else {
        return refuse(StatusCode::BAD_REQUEST, "The query is not GitHub's.").into_response();
    };
    let state_ok = query.state.as_deref().is_some_and(|s| {
        let digest: [u8; 32] = Sha256::digest(s.as_bytes()).into();
        digest == shared.state_digest
    });
    if !state_ok {
        return refuse(
            StatusCode::BAD_REQUEST,
            "The state does not match this setup's: start again from this server's page.",
        )
        .into_response();
    }
    let Some(code) = query.code.filter(|c| convert::plausible_code(c)) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "GitHub's code is missing or malformed.",
        )
        .into_response();
    };
    if shared.done.lock().map(|d| d.is_none()).unwrap_or(true) {
        return refuse(StatusCode::CONFLICT, "The App was already created.").into_response();
    }
    let app = match convert::convert(&shared.urls.api, &code).await {
        Ok(app) => app,
        Err(e) => {
            let line = format!("{e:#}");
            eprintln!("bosun setup: {line}");
            return refuse(StatusCode::BAD_GATEWAY, &line).into_response();
        }
    };
    let outcome = match write_files(&shared.out, &shared.urls, app) {
        Ok(o) => o,
        Err(e) => {
            let line = format!("{e:#}");
            eprintln!("bosun setup: {line}");
            return refuse(StatusCode::INTERNAL_SERVER_ERROR, &line).into_response();
        }
    };
    let page = page::done(&outcome);
    let sender = shared.done.lock().ok().and_then(|mut d| d.take());
    match sender {
        Some(tx) => {
            let _ = tx.send(outcome);
            Html(page).into_response()
        }
        None => refuse(StatusCode::CONFLICT, "The App was already created.").into_response(),
    }
}

fn write_files(out: &OutDir, urls: &GitHubUrls, app: CreatedApp) -> anyhow::Result<Outcome> {
    let app_id_file = out.write_new(files::APP_ID, format!("{}\n", app.id).as_bytes())?;
    let key_file = out.write_new(files::KEY, app.pem.expose().as_bytes())?;
    let webhook_secret_file = out.write_new(
        files::WEBHOOK_SECRET,
        format!("{}\n", app.webhook_secret.expose()).as_bytes(),
    )?;
    Ok(Outcome {
        app,
        api: urls.api.clone(),
        api_is_default: urls.api_is_default(),
        app_id_file,
        key_file,
        webhook_secret_file,
    })
}
