//! A fake GitHub that behaves like the real one, on loopback: it checks the App's JWT and
//! installation tokens, checks every request against GitHub's OpenAPI description, answers
//! from (and changes) its model, and delivers signed webhooks to bosun, recording each attempt
//! so `GET /app/hook/deliveries` and redelivery work for real. Its repositories are real git
//! repositories, served over git's smart HTTP at the payloads' `clone_url` (see `git`).

// Handlers return `Result<_, Response>` so `?` answers with GitHub's error; size does not matter here.
#![allow(clippy::result_large_err)]

mod apps;
mod comments;
mod git;
pub mod git_http;
mod graphql;
mod installations;
mod issues;
mod merge;
pub mod model;
pub mod oauth;
pub mod payloads;
mod scope;
// The setup tests compare the manifest with it; the benches share this module.
#[allow(unused_imports)]
pub use scope::app_permissions;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use self::model::{Failure, HookAttempt, Model, Recorded};
use super::client::Http;
use super::openapi::OpenApi;

pub const APP_ID: u64 = 4242;
pub const WEBHOOK_SECRET: &str = "test webhook secret";

#[derive(Clone)]
pub struct FakeGitHub {
    inner: Arc<Inner>,
    pub url: String,
}

struct Inner {
    model: Mutex<Model>,
    openapi: OpenApi,
    public_key: jsonwebtoken::DecodingKey,
    http: Http,
    root: tempfile::TempDir,
    /// Where the fake listens, as payloads' URLs name it.
    url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// An App's JWT, with the App's id.
    App(u64),
    Installation(u64),
}

impl FakeGitHub {
    pub async fn start() -> Self {
        let public = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/keys/app.pub.pem"
        ))
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Inner {
            model: Mutex::new(Model::new(APP_ID, WEBHOOK_SECRET)),
            openapi: OpenApi::load(),
            public_key: jsonwebtoken::DecodingKey::from_rsa_pem(&public).unwrap(),
            http: Http::default(),
            root: tempfile::tempdir().unwrap(),
            url: url.clone(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        // Nagle's algorithm off, as bosun's server has it: a fetch's streamed responses would
        // otherwise wait 40 ms at a time for git's delayed ACKs: a delay of this test server.
        let listener = bosun::server::without_nagle(listener);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { inner, url }
    }

    pub fn model(&self) -> MutexGuard<'_, Model> {
        self.inner.model.lock().unwrap()
    }

    pub fn add_repo(&self, installation: u64, full_name: &str) {
        let root = self.inner.root.path().to_owned();
        self.model().add_repo(&root, installation, full_name);
    }

    /// An installation token the fake accepts until `lifetime` from now (a zero lifetime
    /// gives an expired one), as if bosun had asked for it.
    pub fn issue_token(&self, installation: u64, lifetime: Duration) -> String {
        let token = format!("ghs_{}", new_guid().replace('-', ""));
        let expires_at = SystemTime::now() + lifetime;
        self.model().tokens.insert(
            token.clone(),
            model::IssuedToken {
                installation,
                expires_at,
                scope: model::TokenScope::default(),
            },
        );
        token
    }

    /// Makes `user` a member of the organisation's team `org/slug` (`state`: active |
    /// pending).
    pub fn add_team_member(&self, org: &str, slug: &str, user: &str, state: &str) {
        self.model()
            .teams
            .entry(format!("{org}/{slug}").to_ascii_lowercase())
            .or_default()
            .insert(user.to_ascii_lowercase(), state.into());
    }

    /// The clone URL of `repo` (`owner/name`), as payloads give it.
    pub fn clone_url(&self, repo: &str) -> String {
        format!("{}/git/{repo}.git", self.url)
    }

    /// GitHub's id of `repo` (`owner/name`).
    pub fn repo_id(&self, repo: &str) -> bosun::ids::RepoId {
        bosun::ids::RepoId(self.model().repo(repo).unwrap().id)
    }

    /// Renames `repo` (`owner/name`) to `new` (`owner/name`, a rename or a transfer), as
    /// GitHub does: the same repository (its id, pull requests, git data, permissions) under
    /// the new name; the old name is no longer served.
    pub fn rename_repo(&self, repo: &str, new: &str) {
        let mut m = self.model();
        let mut r = m.repos.remove(&repo.to_ascii_lowercase()).unwrap();
        let (owner, name) = new.split_once('/').unwrap();
        (r.owner, r.name) = (owner.to_owned(), name.to_owned());
        m.repos.insert(new.to_ascii_lowercase(), r);
        for i in m.installations.values_mut() {
            if i.repos.remove(&repo.to_ascii_lowercase()) {
                i.repos.insert(new.to_ascii_lowercase());
            }
        }
    }

    /// The git requests served for `repo` so far.
    pub fn git_requests(&self, repo: &str) -> Vec<model::GitRequest> {
        self.model()
            .git_requests
            .iter()
            .filter(|r| r.repo.eq_ignore_ascii_case(repo))
            .cloned()
            .collect()
    }

    /// The next `times` requests whose path contains `path_contains` get `status`.
    pub fn fail_next(
        &self,
        path_contains: &str,
        status: u16,
        headers: &[(&str, &str)],
        times: u32,
    ) {
        self.model().failures.push_back(Failure {
            path_contains: path_contains.into(),
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            times,
            method: None,
            after_acting: false,
        });
    }

    /// The next `times` `method` requests whose path contains `path_contains` get no answer
    /// for two minutes (GitHub hanging); `model().stalled` counts them as they arrive.
    pub fn stall_next(&self, method: &str, path_contains: &str, times: u32) {
        self.model()
            .stalls
            .push((method.into(), path_contains.into(), times));
    }

    /// The next `times` `method` requests whose path contains `path_contains` are carried
    /// out, and then answered with `status` (GitHub acted; the answer was lost on the way).
    pub fn fail_next_after_acting(
        &self,
        method: &str,
        path_contains: &str,
        status: u16,
        times: u32,
    ) {
        self.model().failures.push_back(Failure {
            path_contains: path_contains.into(),
            status,
            headers: Vec::new(),
            times,
            method: Some(method.into()),
            after_acting: true,
        });
    }

    /// The next `times` `method` requests whose path contains `path_contains` are carried
    /// out, and then get no answer for two minutes (GitHub acted, then hung).
    pub fn hang_next_after_acting(&self, method: &str, path_contains: &str, times: u32) {
        self.model().failures.push_back(Failure {
            path_contains: path_contains.into(),
            status: HANG,
            headers: Vec::new(),
            times,
            method: Some(method.into()),
            after_acting: true,
        });
    }

    pub fn requests(&self, method: &str, path_contains: &str) -> Vec<Recorded> {
        self.model()
            .requests
            .iter()
            .filter(|r| r.method == method && r.path.contains(path_contains))
            .cloned()
            .collect()
    }

    /// A review of pull request `pr` by `user` (APPROVED, CHANGES_REQUESTED, …) on its head.
    pub fn add_review(&self, repo: &str, pr: u64, user: &str, state: &str) -> u64 {
        let mut m = self.model();
        let id = m.next_id();
        let r = m.repo_mut(repo).unwrap();
        let commit_id = r.prs[&pr].head_sha.clone();
        r.reviews.push(model::Review {
            id,
            pr,
            user: user.into(),
            state: state.into(),
            commit_id,
        });
        id
    }

    /// A comment by `user` on pull request `pr`, added without a webhook; returns its id.
    pub fn add_comment(&self, repo: &str, pr: u64, user: &str, body: &str) -> u64 {
        let mut m = self.model();
        let id = m.next_id();
        m.repo_mut(repo)
            .unwrap()
            .comments
            .push(model::Comment::new(id, pr, user, body));
        id
    }

    /// Protects `repo`'s branches: `required_checks` must pass on a pull request's head and
    /// `required_approvals` approving reviews are needed (0: reviews are not required).
    pub fn protect(&self, repo: &str, required_checks: &[&str], required_approvals: u32) {
        self.model().repo_mut(repo).unwrap().protection = Some(model::Protection {
            required_checks: required_checks.iter().map(|c| c.to_string()).collect(),
            required_approvals,
        });
    }

    /// Merges pull request `pr` of `repo` (`method`: merge | squash | rebase) as a user
    /// clicking "Merge" would, with GitHub's refusals (see `Model::merge`); returns the merge
    /// commit's sha. No webhook is sent.
    pub fn merge(&self, repo: &str, pr: u64, method: &str) -> Result<String, (u16, String)> {
        self.model().merge(repo, pr, None, method)
    }

    /// Completes a check run named `name` on `sha` with `conclusion`, as another App (CI)
    /// would.
    pub fn complete_check(&self, repo: &str, sha: &str, name: &str, conclusion: &str) {
        let mut m = self.model();
        let id = m.next_id();
        m.repo_mut(repo).unwrap().check_runs.push(model::CheckRun {
            id,
            name: name.into(),
            head_sha: sha.into(),
            status: "completed".into(),
            conclusion: Some(conclusion.into()),
            external_id: None,
            details_url: None,
            title: None,
            summary: None,
            text: None,
            history: vec![format!("completed:{conclusion}")],
        });
    }

    /// Who the fake GitHub signs in at the next OAuth authorize.
    pub fn sign_in_as(&self, user: &str) {
        self.model().oauth.next_user = Some(user.into());
    }

    pub fn set_permission(&self, repo: &str, user: &str, permission: &str) {
        self.model()
            .repo_mut(repo)
            .unwrap()
            .permissions
            .insert(user.into(), permission.into());
    }

    /// Delivers a new webhook (a fresh GUID) to the hook URL, as GitHub does.
    pub async fn send_webhook(&self, event: &str, payload: Value) -> HookAttempt {
        let guid = new_guid();
        let body = serde_json::to_vec(&payload).unwrap();
        self.attempt(guid, event, body, false).await
    }

    async fn attempt(
        &self,
        guid: String,
        event: &str,
        body: Vec<u8>,
        redelivery: bool,
    ) -> HookAttempt {
        deliver(&self.inner, guid, event.to_owned(), body, redelivery).await
    }

    /// Every request bosun made was one GitHub knows and the fake models.
    #[track_caller]
    pub fn assert_no_violations(&self) {
        let v = self.model().violations.clone();
        assert!(
            v.is_empty(),
            "requests GitHub would refuse or the fake does not model:\n{}",
            v.join("\n")
        );
    }
}

fn new_guid() -> String {
    let a = fastrand::u64(..);
    let b = fastrand::u64(..);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

async fn deliver(
    inner: &Arc<Inner>,
    guid: String,
    event: String,
    body: Vec<u8>,
    redelivery: bool,
) -> HookAttempt {
    let (url, secret, fleet) = {
        let m = inner.model.lock().unwrap();
        (
            m.hook_url.clone(),
            m.webhook_secret.clone(),
            !m.fleet_hooks.is_empty(),
        )
    };
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let headers = vec![
        ("content-type", "application/json".to_string()),
        ("user-agent", "GitHub-Hookshot/044aadd".to_string()),
        ("x-github-event", event.clone()),
        ("x-github-delivery", guid.clone()),
        ("x-github-hook-id", "1".to_string()),
        (
            "x-github-hook-installation-target-type",
            "integration".to_string(),
        ),
        ("x-github-hook-installation-target-id", APP_ID.to_string()),
        (
            "x-hub-signature-256",
            bosun::server::signature::sign(&secret, &body),
        ),
    ];
    if !fleet {
        let id = inner.model.lock().unwrap().next_id() as i64;
        let answer = match url {
            None => (0, "no hook URL".to_string()),
            Some(url) => post_hook(inner, &url, &headers, &body).await,
        };
        let attempt = attempt_of(id, &guid, &event, &payload, &body, redelivery, answer);
        inner.model.lock().unwrap().attempts.push(attempt.clone());
        return attempt;
    }
    // A fleet: the next replica in turn first; one that does not take it, the next one, a
    // round of refusals waits a little (every replica may be restarting), a bounded number of
    // times.
    let mut tries = 0;
    loop {
        let url = {
            let mut m = inner.model.lock().unwrap();
            let i = m.fleet_next % m.fleet_hooks.len();
            m.fleet_next = i + 1;
            m.fleet_hooks[i].clone()
        };
        let id = inner.model.lock().unwrap().next_id() as i64;
        let answer = post_hook(inner, &url, &headers, &body).await;
        let attempt = attempt_of(
            id,
            &guid,
            &event,
            &payload,
            &body,
            redelivery || tries > 0,
            answer,
        );
        inner.model.lock().unwrap().attempts.push(attempt.clone());
        tries += 1;
        let fleet_size = inner.model.lock().unwrap().fleet_hooks.len();
        if (200..300).contains(&attempt.status_code) || tries >= FLEET_ROUNDS * fleet_size {
            return attempt;
        }
        if tries % fleet_size == 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Rounds of tries of one delivery on a fleet before it counts as failed: with 200 ms between
/// rounds, a minute or more of every replica refusing.
const FLEET_ROUNDS: usize = 300;

/// Posts a delivery to `url`: the status and body, or 0 and why there was no answer.
async fn post_hook(
    inner: &Arc<Inner>,
    url: &str,
    headers: &[(&'static str, String)],
    body: &[u8],
) -> (u16, String) {
    // GitHub gives up on a delivery after 10 seconds.
    match tokio::time::timeout(
        Duration::from_secs(10),
        inner
            .http
            .send(Method::POST, url, headers, Bytes::copy_from_slice(body)),
    )
    .await
    {
        Ok(Ok(reply)) => (reply.status.as_u16(), reply.text()),
        Ok(Err(e)) => (0, format!("failed to connect: {e}")),
        Err(_) => (0, "timed out".into()),
    }
}

/// Attempt `id` of delivery `guid`, with its answer.
fn attempt_of(
    id: i64,
    guid: &str,
    event: &str,
    payload: &Value,
    body: &[u8],
    redelivery: bool,
    (status_code, response): (u16, String),
) -> HookAttempt {
    HookAttempt {
        id,
        guid: guid.to_owned(),
        event: event.to_owned(),
        action: payload
            .get("action")
            .and_then(Value::as_str)
            .map(str::to_owned),
        delivered_at: SystemTime::now(),
        redelivery,
        status_code,
        installation_id: payload.pointer("/installation/id").and_then(Value::as_u64),
        repository_id: payload.pointer("/repository/id").and_then(Value::as_u64),
        payload: body.to_vec(),
        response,
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(
            json!({ "message": message, "documentation_url": "https://docs.github.com/rest" }),
        ),
    )
        .into_response()
}

/// A planted failure's status meaning "no answer for two minutes".
const HANG: u16 = 0;

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    // GitHub Enterprise Server serves the REST API under /api/v3.
    let uri = enterprise_path(uri);
    let stall = {
        let mut m = inner.model.lock().unwrap();
        let hit = m.stalls.iter_mut().find(|(mth, part, left)| {
            *left > 0 && mth == method.as_str() && path.contains(part.as_str())
        });
        match hit {
            Some(s) => {
                s.2 -= 1;
                m.stalled += 1;
                true
            }
            None => false,
        }
    };
    if stall {
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
    let after = inner
        .model
        .lock()
        .unwrap()
        .take_failure(method.as_str(), &path, true);
    let response = route(&inner, &method, &uri, &headers, &body)
        .await
        .unwrap_or_else(|r| r);
    let response = match after {
        Some(f) if f.status == HANG && response.status().is_success() => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            response
        }
        Some(f) if response.status().is_success() => {
            error(StatusCode::from_u16(f.status).unwrap(), "planted failure")
        }
        _ => response,
    };
    let mut m = inner.model.lock().unwrap();
    m.requests.push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        status: response.status().as_u16(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    response
}

/// `uri` without GitHub Enterprise Server's `/api/v3` prefix.
fn enterprise_path(uri: Uri) -> Uri {
    let Some(rest) = uri.path().strip_prefix("/api/v3/") else {
        return uri;
    };
    let rebuilt = match uri.query() {
        Some(q) => format!("/{rest}?{q}"),
        None => format!("/{rest}"),
    };
    rebuilt.parse().unwrap_or(uri)
}

async fn route(
    inner: &Arc<Inner>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, Response> {
    let path = uri.path();
    if let Some(rest) = path.strip_prefix("/git/") {
        return Ok(git::serve(inner, method, rest, uri.query(), headers, body).await);
    }
    // The OAuth web flow is GitHub's web site, not its REST API.
    if let Some(r) = oauth::web(&mut inner.model.lock().unwrap(), method, uri, body) {
        return Ok(r);
    }
    // GraphQL is not in the REST description; `graphql::handle` checks its requests.
    let graphql = method == Method::POST && path == "/graphql";
    if let (false, Err(v)) = (
        graphql,
        inner
            .openapi
            .check(method.as_str(), path, uri.query(), body),
    ) {
        inner.model.lock().unwrap().violations.push(v.clone());
        return Ok(error(StatusCode::NOT_FOUND, &v));
    }
    if headers.get("user-agent").is_none() {
        let v = format!("{method} {path}: no User-Agent (GitHub refuses such requests)");
        inner.model.lock().unwrap().violations.push(v.clone());
        return Ok(error(StatusCode::FORBIDDEN, &v));
    }
    // The manifest conversion is the one call made without credentials.
    if let ("POST", ["app-manifests", code, "conversions"]) = (
        method.as_str(),
        path.trim_matches('/')
            .split('/')
            .collect::<Vec<_>>()
            .as_slice(),
    ) {
        return Ok(apps::convert(
            &mut inner.model.lock().unwrap(),
            &inner.url,
            code,
        ));
    }
    let user = oauth::user_of(&inner.model.lock().unwrap(), headers);
    if let Some(login) = user {
        let mut m = inner.model.lock().unwrap();
        return Ok(oauth::as_user(&mut m, &login, method, path, &inner.url));
    }
    let (caller, scope) = match authenticate(inner, headers) {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    // A narrowed token reaches only its repositories, with only its permissions.
    scope::check(&scope, method.as_str(), path)?;
    if let Some(f) = inner
        .model
        .lock()
        .unwrap()
        .take_failure(method.as_str(), path, false)
    {
        let mut r = error(StatusCode::from_u16(f.status).unwrap(), "planted failure");
        for (k, v) in f.headers {
            r.headers_mut().insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        return Ok(r);
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let json_body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).unwrap_or(Value::Null)
    };
    Ok(match (method.as_str(), segments.as_slice()) {
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            require_app(caller)?;
            let id: u64 = id.parse().unwrap_or(0);
            let mut m = inner.model.lock().unwrap();
            let Some(installation) = m.installations.get(&id) else {
                return Ok(error(StatusCode::NOT_FOUND, "Not Found"));
            };
            let scope = match scope::requested(installation, &json_body) {
                Ok(scope) => scope,
                Err(message) => return Ok(error(StatusCode::UNPROCESSABLE_ENTITY, &message)),
            };
            let token = format!("ghs_{}", new_guid().replace('-', ""));
            let expires_at = SystemTime::now() + m.token_lifetime;
            let body = json!({
                "token": token,
                "expires_at": humantime::format_rfc3339_seconds(expires_at).to_string(),
                "permissions": scope.permissions.clone().unwrap_or_else(scope::app_permissions),
                "repository_selection": "selected",
            });
            m.tokens.insert(
                token,
                model::IssuedToken {
                    installation: id,
                    expires_at,
                    scope,
                },
            );
            m.tokens_issued += 1;
            (StatusCode::CREATED, axum::Json(body)).into_response()
        }
        ("GET", ["app"]) => {
            require_app(caller)?;
            let m = inner.model.lock().unwrap();
            if let Some(app) = m.created_apps.iter().find(|a| caller == Caller::App(a.id)) {
                return Ok(axum::Json(apps::app_json(app)).into_response());
            }
            axum::Json(json!({ "id": m.app_id, "slug": m.app_slug, "name": "bosun test" }))
                .into_response()
        }
        ("GET", ["app", "hook", "deliveries"]) => {
            require_app(caller)?;
            list_deliveries(inner, uri)
        }
        ("POST", ["app", "hook", "deliveries", id, "attempts"]) => {
            require_app(caller)?;
            let id: i64 = id.parse().unwrap_or(0);
            let found = inner
                .model
                .lock()
                .unwrap()
                .attempts
                .iter()
                .find(|a| a.id == id)
                .cloned();
            let Some(a) = found else {
                return Ok(error(StatusCode::NOT_FOUND, "Not Found"));
            };
            let inner = inner.clone();
            tokio::spawn(async move {
                deliver(&inner, a.guid, a.event, a.payload, true).await;
            });
            (StatusCode::ACCEPTED, axum::Json(json!({}))).into_response()
        }
        ("GET", ["repos", owner, repo]) => {
            let full = format!("{owner}/{repo}");
            let m = inner.model.lock().unwrap();
            let r = visible_repo(&m, caller, &full)?;
            axum::Json(installations::repo_json(&inner.url, r)).into_response()
        }
        ("GET", ["repos", owner, repo, "installation"]) => {
            let m = inner.model.lock().unwrap();
            installations::of_repo(&m, caller, &format!("{owner}/{repo}"))?
        }
        ("GET", ["app", "installations"]) => {
            let m = inner.model.lock().unwrap();
            installations::list(&m, caller, uri)?
        }
        ("GET", ["installation", "repositories"]) => {
            let m = inner.model.lock().unwrap();
            installations::repositories(&m, caller, &scope, uri, &inner.url)?
        }
        ("GET", ["repos", owner, repo, "issues"]) => {
            let m = inner.model.lock().unwrap();
            issues::list(&m, caller, &format!("{owner}/{repo}"), uri, &inner.url)?
        }
        ("POST", ["repos", owner, repo, "issues"]) => {
            let mut m = inner.model.lock().unwrap();
            let full = format!("{owner}/{repo}");
            issues::create(&mut m, caller, &full, &json_body, &inner.url)?
        }
        ("PATCH", ["repos", owner, repo, "issues", number]) => {
            let mut m = inner.model.lock().unwrap();
            let full = format!("{owner}/{repo}");
            issues::update(&mut m, caller, &full, number, &json_body, &inner.url)?
        }
        ("POST", ["graphql"]) => {
            let mut m = inner.model.lock().unwrap();
            graphql::handle(&mut m, caller, body)
        }
        ("POST", ["repos", owner, repo, "issues", number, "comments"]) => {
            let mut m = inner.model.lock().unwrap();
            comments::create(
                &mut m,
                caller,
                &format!("{owner}/{repo}"),
                number,
                &json_body,
            )?
        }
        ("GET", ["repos", owner, repo, "issues", number, "comments"]) => {
            let m = inner.model.lock().unwrap();
            paginate(
                uri,
                comments::list(&m, caller, &format!("{owner}/{repo}"), number)?,
            )
        }
        ("PATCH", ["repos", owner, repo, "issues", "comments", id]) => {
            let mut m = inner.model.lock().unwrap();
            comments::update(&mut m, caller, &format!("{owner}/{repo}"), id, &json_body)?
        }
        ("POST", ["repos", owner, repo, "issues", "comments", id, "reactions"]) => {
            let mut m = inner.model.lock().unwrap();
            comments::react(&mut m, caller, &format!("{owner}/{repo}"), id, &json_body)?
        }
        ("GET", ["repos", owner, repo, "pulls"]) => {
            // GitHub's list: `state` open (the default), closed or all; the model has no
            // update times, so the newest number stands for the most recently updated.
            let full = format!("{owner}/{repo}");
            let m = inner.model.lock().unwrap();
            let r = visible_repo(&m, caller, &full)?;
            let q: std::collections::HashMap<String, String> =
                serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or_default();
            let state = q.get("state").map_or("open", String::as_str);
            let example = payloads::example("pull_request", Some("opened"))["pull_request"].clone();
            let all: Vec<Value> = r
                .prs
                .values()
                .rev()
                .filter(|pr| state == "all" || (state == "open") == pr.open)
                .map(|pr| {
                    let mut value = example.clone();
                    payloads::write_pr(&mut value, r, pr, "https://github.com");
                    value
                })
                .collect();
            paginate(uri, all)
        }
        ("GET", ["repos", owner, repo, "pulls", number]) => {
            let full = format!("{owner}/{repo}");
            let m = inner.model.lock().unwrap();
            let r = visible_repo(&m, caller, &full)?;
            let Some(pr) = number.parse().ok().and_then(|n: u64| r.prs.get(&n)) else {
                return Ok(error(StatusCode::NOT_FOUND, "Not Found"));
            };
            let mut value =
                payloads::example("pull_request", Some("opened"))["pull_request"].clone();
            payloads::write_pr(&mut value, r, pr, "https://github.com");
            value["merged"] = json!(pr.merged);
            value["mergeable"] = json!(pr.mergeable);
            value["mergeable_state"] = json!(r.mergeable_state(pr));
            axum::Json(value).into_response()
        }
        ("DELETE", ["repos", owner, repo, "git", "refs", "heads", branch @ ..]) => {
            let m = inner.model.lock().unwrap();
            let r = visible_repo(&m, caller, &format!("{owner}/{repo}"))?;
            let branch: Vec<String> = branch
                .iter()
                .map(|s| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8_lossy()
                        .into_owned()
                })
                .collect();
            merge::delete_branch(r, &branch.join("/"))
        }
        ("PUT", ["repos", owner, repo, "pulls", number, "merge"]) => merge::endpoint(
            inner,
            caller,
            &format!("{owner}/{repo}"),
            number,
            &json_body,
        )?,
        ("GET", ["repos", owner, repo, "pulls", number, "reviews"]) => {
            let full = format!("{owner}/{repo}");
            let m = inner.model.lock().unwrap();
            let r = visible_repo(&m, caller, &full)?;
            let number: u64 = number.parse().unwrap_or(0);
            let all: Vec<Value> = r
                .reviews
                .iter()
                .filter(|v| v.pr == number)
                .map(|v| json!({ "id": v.id, "user": { "login": v.user }, "state": v.state, "commit_id": v.commit_id }))
                .collect();
            paginate(uri, all)
        }
        ("POST", ["repos", owner, repo, "check-runs"]) => {
            let full = format!("{owner}/{repo}");
            let mut m = inner.model.lock().unwrap();
            visible_repo(&m, caller, &full)?;
            let id = m.next_id();
            let mut run = model::CheckRun {
                id,
                name: json_body["name"].as_str().unwrap_or("").into(),
                head_sha: json_body["head_sha"].as_str().unwrap_or("").into(),
                status: "queued".into(),
                conclusion: None,
                external_id: None,
                details_url: None,
                title: None,
                summary: None,
                text: None,
                history: Vec::new(),
            };
            if let Err(e) = apply_check_run(&mut run, &json_body) {
                return Ok(error(StatusCode::UNPROCESSABLE_ENTITY, &e));
            }
            let value = check_run_json(&run);
            m.repo_mut(&full).unwrap().check_runs.push(run);
            (StatusCode::CREATED, axum::Json(value)).into_response()
        }
        ("PATCH", ["repos", owner, repo, "check-runs", id]) => {
            let full = format!("{owner}/{repo}");
            let mut m = inner.model.lock().unwrap();
            visible_repo(&m, caller, &full)?;
            let id: u64 = id.parse().unwrap_or(0);
            let Some(run) = m
                .repo_mut(&full)
                .unwrap()
                .check_runs
                .iter_mut()
                .find(|c| c.id == id)
            else {
                return Ok(error(StatusCode::NOT_FOUND, "Not Found"));
            };
            if let Err(e) = apply_check_run(run, &json_body) {
                return Ok(error(StatusCode::UNPROCESSABLE_ENTITY, &e));
            }
            axum::Json(check_run_json(run)).into_response()
        }
        ("GET", ["repos", owner, repo, "commits", git_ref, "check-runs"]) => {
            let full = format!("{owner}/{repo}");
            let m = inner.model.lock().unwrap();
            let r = visible_repo(&m, caller, &full)?;
            let runs: Vec<Value> = r
                .check_runs
                .iter()
                .filter(|c| c.head_sha == *git_ref)
                .map(check_run_json)
                .collect();
            axum::Json(json!({ "total_count": runs.len(), "check_runs": runs })).into_response()
        }
        ("GET", ["orgs", org, "teams", slug, "memberships", user]) => {
            let m = inner.model.lock().unwrap();
            scope::membership(&m, caller, org, slug, user)?
        }
        ("GET", ["repos", owner, repo, "collaborators", user, "permission"]) => {
            let full = format!("{owner}/{repo}");
            let m = inner.model.lock().unwrap();
            let r = visible_repo(&m, caller, &full)?;
            let permission = r
                .permissions
                .get(*user)
                .cloned()
                .unwrap_or_else(|| "none".into());
            axum::Json(json!({ "permission": permission, "role_name": permission, "user": { "login": user } })).into_response()
        }
        _ => {
            let v = format!("{method} {path}: in GitHub's API but not modelled by the fake");
            inner.model.lock().unwrap().violations.push(v.clone());
            error(StatusCode::NOT_IMPLEMENTED, &v)
        }
    })
}

fn require_app(caller: Caller) -> Result<(), Response> {
    match caller {
        Caller::App(_) => Ok(()),
        Caller::Installation(_) => Err(error(
            StatusCode::FORBIDDEN,
            "A JSON web token is required to access this endpoint (installation tokens are refused)",
        )),
    }
}

fn visible_repo<'m>(
    m: &'m Model,
    caller: Caller,
    full_name: &str,
) -> Result<&'m model::Repo, Response> {
    let Caller::Installation(id) = caller else {
        return Err(error(
            StatusCode::FORBIDDEN,
            "An installation token is required for this endpoint",
        ));
    };
    match (m.repo(full_name), m.installation_of(full_name)) {
        (Some(r), Some(i)) if i == id => Ok(r),
        // GitHub hides what a token cannot see.
        _ => Err(error(StatusCode::NOT_FOUND, "Not Found")),
    }
}

/// Checks `Authorization` the way GitHub does: an RS256 JWT of the App, or an unexpired
/// installation token (with what it may reach).
fn authenticate(
    inner: &Inner,
    headers: &HeaderMap,
) -> Result<(Caller, model::TokenScope), Response> {
    let unauthorized = |m: &str| Err(error(StatusCode::UNAUTHORIZED, m));
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return unauthorized("Requires authentication");
    };
    let Some((scheme, credential)) = value.split_once(' ') else {
        return unauthorized("Bad credentials");
    };
    if !(scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")) {
        return unauthorized("Bad credentials");
    }
    if credential.matches('.').count() == 2 {
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.required_spec_claims = ["exp", "iat", "iss"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.leeway = 0;
        // The test App's key, else the key of an App made from a manifest.
        let decoded = jsonwebtoken::decode::<Value>(credential, &inner.public_key, &v)
            .ok()
            .map(|d| (APP_ID, d.claims))
            .or_else(|| {
                let m = inner.model.lock().unwrap();
                m.created_apps.iter().find_map(|a| {
                    jsonwebtoken::decode::<Value>(credential, &a.public_key, &v)
                        .ok()
                        .map(|d| (a.id, d.claims))
                })
            });
        let Some((app_id, claims)) = decoded else {
            return unauthorized("A JSON web token could not be decoded");
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let iat = claims["iat"].as_i64().unwrap_or(i64::MAX);
        let exp = claims["exp"].as_i64().unwrap_or(0);
        let iss = claims["iss"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| claims["iss"].as_u64().map(|n| n.to_string()));
        if iat > now + 60 {
            return unauthorized(
                "'Issued at' claim ('iat') must be an Integer representing a time in the past.",
            );
        }
        if exp > now + 600 || exp - iat > 600 {
            return unauthorized("'Expiration time' claim ('exp') is too far in the future");
        }
        if iss.as_deref() != Some(&app_id.to_string()) {
            return unauthorized("'Issuer' claim ('iss') must be an Integer");
        }
        return Ok((Caller::App(app_id), model::TokenScope::default()));
    }
    let m = inner.model.lock().unwrap();
    match m.tokens.get(credential) {
        Some(t) if t.expires_at > SystemTime::now() => {
            Ok((Caller::Installation(t.installation), t.scope.clone()))
        }
        _ => unauthorized("Bad credentials"),
    }
}

/// `GET /app/hook/deliveries`: newest first, `per_page`, cursor pagination with a Link header.
fn list_deliveries(inner: &Inner, uri: &Uri) -> Response {
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or_default();
    let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.clone());
    let per_page: usize = get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let before: i64 = get("cursor")
        .and_then(|c| c.strip_prefix("v1_").and_then(|n| n.parse().ok()))
        .unwrap_or(i64::MAX);
    let m = inner.model.lock().unwrap();
    let mut newest_first: Vec<&HookAttempt> = m.attempts.iter().filter(|a| a.id < before).collect();
    newest_first.sort_by_key(|a| std::cmp::Reverse(a.id));
    let page: Vec<Value> = newest_first
        .iter()
        .take(per_page)
        .map(|a| {
            json!({
                "id": a.id, "guid": a.guid,
                "delivered_at": humantime::format_rfc3339_seconds(a.delivered_at).to_string(),
                "redelivery": a.redelivery, "duration": 0.01,
                "status": if a.status_code == 0 { "failed to connect".to_string() } else { format!("{}", a.status_code) },
                "status_code": a.status_code, "event": a.event, "action": a.action,
                "installation_id": a.installation_id, "repository_id": a.repository_id,
            })
        })
        .collect();
    let mut response = axum::Json(Value::Array(page.clone())).into_response();
    if newest_first.len() > per_page {
        let last = page.last().and_then(|p| p["id"].as_i64()).unwrap_or(0);
        let link = format!(
            "<{}?per_page={per_page}&cursor=v1_{last}>; rel=\"next\"",
            uri.path()
        );
        response.headers_mut().insert("link", link.parse().unwrap());
    }
    response
}

/// Applies a check-run create/update body the way GitHub does, refusing what GitHub refuses.
fn apply_check_run(run: &mut model::CheckRun, body: &Value) -> Result<(), String> {
    if let Some(name) = body["name"].as_str() {
        run.name = name.into();
    }
    if let Some(id) = body["external_id"].as_str() {
        run.external_id = Some(id.into());
    }
    if let Some(url) = body["details_url"].as_str() {
        run.details_url = Some(url.into());
    }
    let conclusion = body["conclusion"].as_str().map(str::to_owned);
    let status = body["status"]
        .as_str()
        .map(str::to_owned)
        .or(conclusion.as_ref().map(|_| "completed".to_string()));
    if let Some(status) = status {
        if status == "completed" && conclusion.is_none() {
            return Err("Invalid request: conclusion is required when status is completed".into());
        }
        if status != "completed" && conclusion.is_some() {
            return Err("Invalid request: conclusion is only allowed with status completed".into());
        }
        run.status = status;
        run.conclusion = conclusion;
    }
    if let Some(output) = body.get("output").filter(|o| o.is_object()) {
        for (key, limit) in [("summary", 65_535), ("text", 65_535)] {
            if output[key]
                .as_str()
                .is_some_and(|s| s.chars().count() > limit)
            {
                return Err(format!(
                    "Invalid request: output.{key} is longer than {limit} characters"
                ));
            }
        }
        if output["title"].as_str().is_none() || output["summary"].as_str().is_none() {
            return Err("Invalid request: output needs title and summary".into());
        }
        run.title = output["title"].as_str().map(str::to_owned);
        run.summary = output["summary"].as_str().map(str::to_owned);
        run.text = output["text"].as_str().map(str::to_owned);
    }
    let state = match &run.conclusion {
        Some(c) => format!("{}:{c}", run.status),
        None => run.status.clone(),
    };
    run.history.push(state);
    Ok(())
}

fn check_run_json(run: &model::CheckRun) -> Value {
    json!({
        "id": run.id, "name": run.name, "head_sha": run.head_sha, "status": run.status,
        "conclusion": run.conclusion, "external_id": run.external_id,
        "details_url": run.details_url,
        "output": { "title": run.title, "summary": run.summary, "text": run.text },
    })
}

/// `page`/`per_page` pagination with a `Link` header, as GitHub's list endpoints do.
fn paginate(uri: &Uri, all: Vec<Value>) -> Response {
    let (items, link) = page_of(uri, &all);
    let mut response = axum::Json(Value::Array(items)).into_response();
    if let Some(link) = link {
        response.headers_mut().insert("link", link.parse().unwrap());
    }
    response
}

/// The page of `all` that `page`/`per_page` ask for, and the `Link` header to the next page if
/// there is one.
fn page_of(uri: &Uri, all: &[Value]) -> (Vec<Value>, Option<String>) {
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or_default();
    let get = |k: &str| {
        query
            .iter()
            .find(|(q, _)| q == k)
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    let per_page = get("per_page").unwrap_or(30).clamp(1, 100);
    let page = get("page").unwrap_or(1).max(1);
    let items: Vec<Value> = all
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .cloned()
        .collect();
    // The next page's link keeps the other parameters (filters), as GitHub's does.
    let link = (all.len() > page * per_page).then(|| {
        let mut next: Vec<(String, String)> = query
            .iter()
            .filter(|(k, _)| k != "page" && k != "per_page")
            .cloned()
            .collect();
        next.push(("per_page".into(), per_page.to_string()));
        next.push(("page".into(), (page + 1).to_string()));
        let next = serde_urlencoded::to_string(&next).unwrap_or_default();
        format!("<{}?{next}>; rel=\"next\"", uri.path())
    });
    (items, link)
}
