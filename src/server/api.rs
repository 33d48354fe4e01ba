//! bosun's HTTP API, for the operator (`Authorization: Bearer <BOSUN_API_TOKEN>`) and people
//! signed in with GitHub (see [`super::auth`]): `POST /api/drift/{owner}/{repo}` queues a drift
//! run now (the command permission), `GET /api/drift/{owner}/{repo}` serves the repo's drift
//! history as JSON (readers of the repo); `POST`/`DELETE`/`GET /api/apply-lock` locks, unlocks
//! and shows the global apply lock (the operator and BOSUN_APPLY_LOCK_ADMINS switch it; anyone
//! signed in may read it). Every refusal is a status with a
//! reason; every call that changes state is an `api_call` entry of the audit trail
//! (`GET /api/audit`, in `audit`).

use crate::ids::{InstallationId, PrNumber};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use super::auth::Viewer;
use crate::audit::{Kind, NewEntry};
use crate::drift::{self, ProjectDrift, Trigger};
use crate::store::repositories::key_of_name;
use crate::store::{DriftRun, now_millis};
use crate::workflow::job::{RepoRef, drift_job};

/// The most runs one history answer holds.
const MAX_RUNS: u32 = 100;

/// A refusal: the status and why, answered as JSON `{"error": why}`.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    why: String,
}

impl Refusal {
    /// Its status and reason (for a page that shows it).
    pub fn parts(&self) -> (StatusCode, &str) {
        (self.status, &self.why)
    }
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Why, as the answer says it.
    pub fn why(&self) -> &str {
        &self.why
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.why }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

pub fn refuse(status: StatusCode, why: impl Into<String>) -> Refusal {
    Refusal {
        status,
        why: why.into(),
    }
}

/// An `api_call` entry by the viewer, about `repo` ("" for all).
fn api_call(viewer: &Viewer, repo: &str, outcome: &str) -> NewEntry {
    NewEntry::new(Kind::ApiCall, viewer.actor(), repo, outcome)
}

/// Appends an entry to the audit trail; a failure is logged and the call goes on.
async fn record(state: &AppState, entry: NewEntry) {
    if let Err(e) = state.store.append_audit(&entry).await {
        tracing::error!(error = format!("{e:#}"), "recording an audit entry failed");
    }
}

/// `owner/repo` from the path, if both are plausible GitHub names and the allowlist has it.
pub(crate) fn repo_of(state: &AppState, owner: &str, repo: &str) -> Result<String, Refusal> {
    let plausible = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && s != "."
            && s != ".."
    };
    if !plausible(owner) || !plausible(repo) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "expected {owner}/{repo} with GitHub names in the path",
        ));
    }
    let full = format!("{owner}/{repo}");
    if !state.allowlist.allows(&full) {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            format!("{full} is not on the repo allowlist (BOSUN_REPO_ALLOWLIST)"),
        ));
    }
    Ok(full)
}

/// The repository as a job needs it, and the installation that has it.
pub(crate) async fn repo_ref(
    state: &AppState,
    full: &str,
) -> Result<(RepoRef, InstallationId), Refusal> {
    let installation = match state.github.repo_installation(full).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            return Err(refuse(
                StatusCode::NOT_FOUND,
                format!("the App is not installed on {full}"),
            ));
        }
        Err(e) => {
            tracing::warn!(error = %e, repo = %full, "looking up the installation failed");
            return Err(refuse(
                StatusCode::BAD_GATEWAY,
                "GitHub did not say whether the App is installed on the repo; try again",
            ));
        }
    };
    let info = match state.github.repository(installation, full).await {
        Ok(info) => info,
        Err(e) if e.status() == Some(404) => {
            return Err(refuse(
                StatusCode::NOT_FOUND,
                format!("the installation cannot see {full}"),
            ));
        }
        Err(e) => {
            tracing::warn!(error = %e, repo = %full, "reading the repository failed");
            return Err(refuse(
                StatusCode::BAD_GATEWAY,
                "GitHub did not answer for the repository; try again",
            ));
        }
    };
    let key = match state
        .store
        .repo_key(info.id, &info.full_name, now_millis())
        .await
    {
        Ok(key) => key,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), repo = %full, "keeping the repository's key failed");
            return Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store did not answer; try again",
            ));
        }
    };
    Ok((RepoRef::listed(&info, key), installation))
}

/// Refuses (403) a viewer without the command permission (BOSUN_COMMAND_PERMISSION) on
/// `repo`, after hiding the repo (404) from one who cannot read it.
pub(crate) async fn require_command(
    state: &AppState,
    viewer: &Viewer,
    repo: &str,
    what: &str,
) -> Result<(), Refusal> {
    viewer.require_read(state, repo).await?;
    let has = viewer.permission(state, repo).await?;
    if state.access.may_command(has) {
        return Ok(());
    }
    Err(refuse(
        StatusCode::FORBIDDEN,
        format!(
            "{what} on {repo} takes {} or more (BOSUN_COMMAND_PERMISSION); {} has {}",
            state.access.command_permission.as_str(),
            viewer.name(),
            has.as_str()
        ),
    ))
}

/// `POST /api/drift/{owner}/{repo}`: queues a drift run of the repo; 202 with the job's id.
pub async fn run_now(
    State(state): State<Arc<AppState>>,
    Path((owner, repo)): Path<(String, String)>,
    viewer: Viewer,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let full = repo_of(&state, &owner, &repo)?;
    require_command(&state, &viewer, &full, "running a drift check").await?;
    viewer.require_csrf(&state, &headers, None)?;
    let (repo, installation) = repo_ref(&state, &full).await?;
    let source = format!("api:{full}:{}:{}", now_millis(), fastrand::u64(..));
    let job = drift_job(repo, installation, Trigger::Api, source);
    match state.store.enqueue_jobs(std::slice::from_ref(&job)).await {
        Ok(ids) => {
            state.enqueued.notify_waiters();
            tracing::info!(repo = %full, "drift run queued through the API");
            let job = ids
                .first()
                .map_or_else(String::new, |id| format!(" as job {id}"));
            let entry = api_call(&viewer, &full, "queued")
                .detail(format!("POST /api/drift/{full}: drift run queued{job}"));
            record(&state, entry).await;
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({ "repo": full, "job": ids.first(), "status": "queued" })),
            )
                .into_response())
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "queueing a drift run failed");
            Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store could not queue the run; try again",
            ))
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    limit: Option<u32>,
}

/// One project of a run, as the history shows it.
#[derive(Debug, Serialize)]
struct ProjectJson<'a> {
    project: String,
    dir: &'a crate::ids::Dir,
    workspace: &'a crate::ids::Workspace,
    status: &'static str,
    locked_by: Option<PrNumber>,
    summary: &'a str,
}

impl<'a> From<&'a ProjectDrift> for ProjectJson<'a> {
    fn from(p: &'a ProjectDrift) -> Self {
        Self {
            project: p.target.display_name(),
            dir: &p.target.dir,
            workspace: &p.target.workspace,
            status: p.status.as_str(),
            locked_by: p.locked_by,
            summary: &p.summary,
        }
    }
}

fn run_json(run: &DriftRun) -> serde_json::Value {
    let time = |ms: i64| {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
        humantime::format_rfc3339_millis(at).to_string()
    };
    let status = match run.finished_at {
        None => "running",
        Some(_) if run.summary == crate::store::drift::INTERRUPTED => "interrupted",
        Some(_) => drift::overall(&run.projects),
    };
    let projects: Vec<ProjectJson> = run.projects.iter().map(ProjectJson::from).collect();
    json!({
        "id": run.id,
        "sha": run.sha,
        "trigger": run.trigger.as_str(),
        "started_at": time(run.started_at),
        "finished_at": run.finished_at.map(time),
        "status": status,
        "summary": run.summary,
        "projects": projects,
    })
}

/// `GET /api/drift/{owner}/{repo}?limit=N`: the repo's latest drift runs, newest first.
pub async fn history(
    State(state): State<Arc<AppState>>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<HistoryQuery>,
    viewer: Viewer,
) -> Result<Response, Refusal> {
    let full = repo_of(&state, &owner, &repo)?;
    viewer.require_read(&state, &full).await?;
    let limit = query.limit.unwrap_or(20).clamp(1, MAX_RUNS);
    let key = key_of_name(state.store.as_ref(), &full)
        .await
        .map_err(|e| store_failed(e, "reading the repository's key"))?;
    match state.store.drift_runs(&key, limit).await {
        Ok(runs) => {
            let runs: Vec<serde_json::Value> = runs.iter().map(run_json).collect();
            Ok(Json(json!({ "repo": full, "runs": runs })).into_response())
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "reading the drift history failed");
            Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store could not read the history; try again",
            ))
        }
    }
}

/// The apply lock as the API shows it.
fn apply_lock_json(lock: Option<crate::store::ApplyLock>) -> Response {
    let at = lock.map(|l| {
        let ms = std::time::Duration::from_millis(l.locked_at.max(0) as u64);
        humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + ms).to_string()
    });
    Json(json!({ "locked": lock.is_some(), "locked_at": at })).into_response()
}

pub(crate) fn store_failed(e: anyhow::Error, doing: &str) -> Refusal {
    tracing::error!(error = format!("{e:#}"), "{doing} failed");
    refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the store failed {doing}; try again"),
    )
}

/// Locks every apply (`lock`) or lets them run again, for `viewer` (who may), recording it in
/// the audit trail as `how` did it; answers the lock as it now is.
pub(crate) async fn switch_apply_lock(
    state: &AppState,
    viewer: &Viewer,
    lock: bool,
    how: &str,
) -> Result<Option<crate::store::ApplyLock>, Refusal> {
    viewer.require_apply_lock_admin(state)?;
    let now = if lock {
        Some(
            state
                .store
                .lock_applies(now_millis())
                .await
                .map_err(|e| store_failed(e, "locking applies"))?,
        )
    } else {
        state
            .store
            .unlock_applies()
            .await
            .map_err(|e| store_failed(e, "unlocking applies"))?;
        None
    };
    let (outcome, what) = if lock {
        ("locked", "every apply is locked")
    } else {
        ("unlocked", "applies run again")
    };
    tracing::info!(by = %viewer.name(), how, "applies {outcome}");
    record(
        state,
        api_call(viewer, "", outcome).detail(format!("{how}: {what}")),
    )
    .await;
    Ok(now)
}

/// `POST /api/apply-lock`: disables every apply (Atlantis's "Disable apply commands") until
/// `DELETE /api/apply-lock`; answers the lock. The operator, or a person of
/// BOSUN_APPLY_LOCK_ADMINS with their CSRF token.
pub async fn lock_applies(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    viewer: Viewer,
) -> Result<Response, Refusal> {
    viewer.require_csrf(&state, &headers, None)?;
    let lock = switch_apply_lock(&state, &viewer, true, "POST /api/apply-lock").await?;
    Ok(apply_lock_json(lock))
}

/// `DELETE /api/apply-lock`: applies run again; answers the (lifted) lock.
pub async fn unlock_applies(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    viewer: Viewer,
) -> Result<Response, Refusal> {
    viewer.require_csrf(&state, &headers, None)?;
    let lock = switch_apply_lock(&state, &viewer, false, "DELETE /api/apply-lock").await?;
    Ok(apply_lock_json(lock))
}

/// `GET /api/apply-lock`: whether applies are locked, and since when; anyone signed in may
/// know, as the overview page shows it.
pub async fn apply_lock(
    State(state): State<Arc<AppState>>,
    _viewer: Viewer,
) -> Result<Response, Refusal> {
    let lock = state
        .store
        .apply_lock()
        .await
        .map_err(|e| store_failed(e, "reading the apply lock"))?;
    Ok(apply_lock_json(lock))
}
