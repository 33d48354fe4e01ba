//! The locks API: `GET /api/locks` lists every project lock held in the repositories the
//! viewer can read; `DELETE /api/locks/{owner}/{repo}?project=NAME` (or `dir=` and
//! `workspace=`) with a `reason` releases one as the `unlock` comment does, for a viewer with
//! the command permission, by queueing an unlock job (the worker releases, wakes the waiting
//! pull requests and says on the pull request who unlocked it and why).

use crate::ids::PrNumber;
use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::api::{Refusal, refuse, repo_of, repo_ref, require_command, store_failed};
use super::auth::Viewer;
use crate::github::Permission;
use crate::ids::RepoKey;
use crate::plan::Target;
use crate::store::repositories::{display_name, key_of_name};
use crate::store::{NewJob, ProjectLock, now_millis};
use crate::workflow::job::JobSpec;

/// The longest reason kept.
const MAX_REASON: usize = 500;

fn time(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

/// A lock as the API shows it, in the repository named `repo` now.
fn lock_json(repo: &str, lock: &ProjectLock) -> serde_json::Value {
    json!({
        "repo": repo,
        "pr": lock.pr,
        "project": lock.target.display_name(),
        "name": lock.target.name,
        "dir": lock.target.dir,
        "workspace": lock.target.workspace,
        "since": time(lock.created_at),
    })
}

/// `GET /api/locks`: `{"locks": [{repo, pr, project, name, dir, workspace, since}]}`, by
/// repository then dir and workspace; repositories the viewer cannot read are left out.
pub async fn list(State(state): State<Arc<AppState>>, viewer: Viewer) -> Result<Response, Refusal> {
    let keys: BTreeSet<String> = state
        .store
        .prs_holding()
        .await
        .map_err(|e| store_failed(e, "listing the pull requests holding locks"))?
        .into_iter()
        .map(|(repo, _)| repo)
        .collect();
    let mut locks = Vec::new();
    for key in keys {
        // Locks are kept by the repository's key; GitHub and people know it by its name now.
        let key = RepoKey::new(key);
        let repo = display_name(state.store.as_ref(), &key).await;
        // A repo GitHub will not answer for is left out, never shown.
        match viewer.permission(&state, &repo).await {
            Ok(p) if p >= Permission::Read => {}
            _ => continue,
        }
        let held = state
            .store
            .locks_of_repo(&key)
            .await
            .map_err(|e| store_failed(e, "reading the locks"))?;
        locks.extend(held.iter().map(|l| lock_json(&repo, l)));
    }
    Ok(Json(json!({ "locks": locks })).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct UnlockQuery {
    pub project: Option<String>,
    pub dir: Option<String>,
    pub workspace: Option<String>,
    pub reason: Option<String>,
}

/// The locks of `held` the query selects: by project name (the lock's, or a plan's of its
/// holder under it), or by dir and workspace (`default` when not given).
fn selected(held: &[ProjectLock], query: &UnlockQuery) -> Result<Vec<ProjectLock>, Refusal> {
    let by_dir = |dir: &str| {
        let dir = dir.trim().trim_start_matches("./").trim_end_matches('/');
        let dir = if dir.is_empty() { "." } else { dir };
        let workspace = query.workspace.as_deref().unwrap_or("default").trim();
        held.iter()
            .filter(|l| l.target.dir == dir && l.target.workspace == workspace)
            .cloned()
            .collect::<Vec<_>>()
    };
    match (&query.project, &query.dir) {
        (Some(name), None) => Ok(held
            .iter()
            .filter(|l| {
                l.target.name.as_deref() == Some(name.trim())
                    || l.target.display_name() == name.trim()
            })
            .cloned()
            .collect()),
        (None, Some(dir)) => Ok(by_dir(dir)),
        _ => Err(refuse(
            StatusCode::BAD_REQUEST,
            "name the lock: ?project=NAME, or ?dir=DIR&workspace=WS",
        )),
    }
}

/// `DELETE /api/locks/{owner}/{repo}?project=NAME&reason=…` (or `dir=` and `workspace=`):
/// 202 `{"repo", "pr", "projects", "job", "status": "queued"}`.
pub async fn unlock(
    State(state): State<Arc<AppState>>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<UnlockQuery>,
    viewer: Viewer,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let full = repo_of(&state, &owner, &repo)?;
    require_command(&state, &viewer, &full, "unlocking").await?;
    viewer.require_csrf(&state, &headers, None)?;
    let queued = queue_unlock(&state, &viewer, &full, &query).await?;
    let projects: Vec<String> = queued.targets.iter().map(Target::display_name).collect();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "repo": full,
            "pr": queued.pr,
            "projects": projects,
            "job": queued.job,
            "status": "queued",
        })),
    )
        .into_response())
}

/// An unlock queued: whose locks, which, and the job doing it.
pub struct QueuedUnlock {
    pub pr: PrNumber,
    pub targets: Vec<Target>,
    pub job: Option<i64>,
}

/// Queues the unlock `query` names in `full` (the caller checked the viewer's command
/// permission and CSRF token): 400 without a reason or a name, 404 for a lock not held.
pub async fn queue_unlock(
    state: &AppState,
    viewer: &Viewer,
    full: &str,
    query: &UnlockQuery,
) -> Result<QueuedUnlock, Refusal> {
    let full = full.to_owned();
    let reason = query.reason.as_deref().map(str::trim).unwrap_or_default();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("say why: ?reason=… (1 to {MAX_REASON} characters)"),
        ));
    }
    let key = key_of_name(state.store.as_ref(), &full)
        .await
        .map_err(|e| store_failed(e, "reading the repository's key"))?;
    let held = state
        .store
        .locks_of_repo(&key)
        .await
        .map_err(|e| store_failed(e, "reading the locks"))?;
    let chosen = selected(&held, query)?;
    let Some(first) = chosen.first() else {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            format!("no such lock is held in {full}"),
        ));
    };
    let pr = first.pr;
    // One lock per dir and workspace: a name or a dir selects locks of one pull request.
    let targets: Vec<Target> = chosen
        .iter()
        .filter(|l| l.pr == pr)
        .map(|l| l.target.clone())
        .collect();
    let (repo_ref, installation) = repo_ref(state, &full).await?;
    let now = now_millis();
    let spec = JobSpec::Unlock {
        repo: repo_ref.clone(),
        pr_number: pr,
        targets: targets.clone(),
        by: viewer.name(),
        reason: reason.to_owned(),
    };
    let job = NewJob {
        source: format!("api-unlock {full} #{pr} at {now}:{}", fastrand::u64(..)),
        kind: spec.kind().to_owned(),
        repository: repo_ref.key(),
        installation_id: installation,
        pr,
        priority: 1,
        spec: serde_json::to_string(&spec).unwrap_or_default(),
        created_at: now,
        supersedes_kind: None,
    };
    let ids = state
        .store
        .enqueue_jobs(std::slice::from_ref(&job))
        .await
        .map_err(|e| store_failed(e, "queueing the unlock"))?;
    state.enqueued.notify_waiters();
    tracing::info!(repo = %full, pr = pr.0, by = %viewer.name(), "unlock queued through the API");
    Ok(QueuedUnlock {
        pr,
        targets,
        job: ids.first().copied(),
    })
}
