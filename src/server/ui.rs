//! The pages' handlers: each finds its viewer (else a sign-in redirect), gathers what that
//! viewer may see (repositories they can read on GitHub; the operator sees all) and renders it
//! with `web`. State changes (unlock) are forms carrying the session's CSRF token. Every page
//! is sent with a Content-Security-Policy that allows bosun's own script and stylesheet only.

use crate::ids::PrNumber;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Form, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::api::{Refusal, refuse, repo_of, require_command, store_failed};
use super::audit::{AuditQuery, may_read};
use super::auth::Viewer;
use super::locks::{UnlockQuery, queue_unlock};
use super::pages::page_viewer;
use crate::github::Permission;
use crate::ids::RepoKey;
use crate::plan::Outcome;
use crate::store::repositories::{display_name, key_of_name};
use crate::web;
use crate::web::html;

/// The most repositories a list page asks GitHub about for one viewer.
const MAX_REPOS: usize = 200;
/// The most pull requests a repository's page shows.
const MAX_PRS: usize = 20;

/// Everything a page's answer carries besides its HTML.
fn html_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// A refusal as a page: its status and reason.
fn refused(state: &AppState, viewer: &Viewer, refusal: &Refusal) -> Response {
    let (status, why) = refusal.parts();
    let csrf = csrf_of(state, viewer);
    let body = html::page(
        status.canonical_reason().unwrap_or("Refused"),
        "",
        &web_viewer(viewer, &csrf),
        &format!("<p role=\"alert\">{}</p>", html::esc(why)),
    );
    html_response(status, body)
}

fn csrf_of(state: &AppState, viewer: &Viewer) -> String {
    match (viewer, state.auth.as_ref()) {
        (Viewer::User(session), Some(auth)) => auth.keys.csrf_token(session),
        _ => String::new(),
    }
}

fn web_viewer<'a>(viewer: &'a Viewer, csrf: &'a str) -> html::Viewer<'a> {
    html::Viewer {
        login: match viewer {
            Viewer::User(s) => Some(s.login.as_str()),
            Viewer::Operator => None,
        },
        csrf,
    }
}

/// Of `repos`, those the viewer can read (at most [`MAX_REPOS`] are asked about).
async fn readable(
    state: &AppState,
    viewer: &Viewer,
    repos: impl IntoIterator<Item = String>,
) -> HashMap<String, (String, Permission)> {
    let mut out = HashMap::new();
    let mut asked = 0;
    for repo in repos {
        if out.contains_key(&repo) || asked >= MAX_REPOS {
            continue;
        }
        asked += 1;
        // `repo` is the key its rows are stored under; GitHub knows it by its name now.
        let name = display_name(state.store.as_ref(), &RepoKey::new(repo.clone())).await;
        if let Ok(p) = viewer.permission(state, &name).await
            && p >= Permission::Read
        {
            out.insert(repo, (name, p));
        }
    }
    out
}

/// Runs a page: its viewer (or the sign-in redirect), then `render`; a refusal becomes a page.
macro_rules! page {
    ($state:expr, $headers:expr, $uri:expr, |$viewer:ident, $csrf:ident| $body:expr) => {{
        let $viewer = match page_viewer(&$state, &$headers, &$uri) {
            Ok(v) => v,
            Err(response) => return *response,
        };
        let $csrf = csrf_of(&$state, &$viewer);
        let result: Result<String, Refusal> = async { $body }.await;
        match result {
            Ok(body) => html_response(StatusCode::OK, body),
            Err(refusal) => refused(&$state, &$viewer, &refusal),
        }
    }};
}

/// `GET /`: jobs queued and running, locks and drift in the repositories the viewer can read,
/// and the global apply lock.
pub async fn overview(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    page!(state, headers, uri, |viewer, csrf| {
        let store = &state.store;
        let jobs = store
            .open_job_list(200)
            .await
            .map_err(|e| store_failed(e, "listing jobs"))?;
        let holders = store
            .prs_holding()
            .await
            .map_err(|e| store_failed(e, "listing locks"))?;
        let drift = store
            .known_drift_all()
            .await
            .map_err(|e| store_failed(e, "reading drift"))?;
        let repos = jobs
            .iter()
            .map(|j| j.repository.as_str().to_owned())
            .chain(holders.iter().map(|(r, _)| r.clone()))
            .chain(drift.iter().map(|(r, _, _)| r.clone()));
        let can = readable(&state, &viewer, repos.collect::<Vec<_>>()).await;
        let mut locks = Vec::new();
        let mut lock_repos: Vec<&String> = holders.iter().map(|(r, _)| r).collect();
        lock_repos.dedup();
        for repo in lock_repos.into_iter().filter(|r| can.contains_key(*r)) {
            let held = store
                .locks_of_repo(&RepoKey::new(repo.clone()))
                .await
                .map_err(|e| store_failed(e, "reading locks"))?;
            // Shown by the repository's name now, not the key they are stored under.
            locks.extend(held.into_iter().map(|l| (can[repo].0.clone(), l)));
        }
        let apply_lock = store
            .apply_lock()
            .await
            .map_err(|e| store_failed(e, "reading the apply lock"))?;
        let o = web::overview::Overview {
            jobs: jobs
                .into_iter()
                .filter_map(|j| Some((can.get(j.repository.as_str())?.0.clone(), j)))
                .collect(),
            locks,
            drift: drift
                .into_iter()
                .filter_map(|(r, t, s)| Some((can.get(&r)?.0.clone(), t, s)))
                .collect(),
            apply_lock,
            may_switch_apply_lock: viewer.may_switch_apply_lock(&state),
        };
        Ok(web::overview::render(&o, &web_viewer(&viewer, &csrf)))
    })
}

/// `GET /repos/{owner}/{repo}`: its pull requests (the latest [`MAX_PRS`] with jobs), their
/// plans and applies, its locks and drift runs; 404 for a repository the viewer cannot read.
pub async fn repository(
    State(state): State<Arc<AppState>>,
    Path((owner, name)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    page!(state, headers, uri, |viewer, csrf| {
        let full = repo_of(&state, &owner, &name)?;
        viewer.require_read(&state, &full).await?;
        let store = &state.store;
        let key = key_of_name(store.as_ref(), &full)
            .await
            .map_err(|e| store_failed(e, "reading the repository's key"))?;
        let jobs = store
            .recent_jobs(&key, 200)
            .await
            .map_err(|e| store_failed(e, "listing jobs"))?;
        let mut by_pr: BTreeMap<std::cmp::Reverse<PrNumber>, Vec<crate::store::Job>> =
            BTreeMap::new();
        for job in jobs.into_iter().filter(|j| j.pr != PrNumber(0)) {
            by_pr
                .entry(std::cmp::Reverse(job.pr))
                .or_default()
                .push(job);
        }
        let mut titles = pr_titles(&state, &full).await;
        let mut prs = Vec::new();
        for (std::cmp::Reverse(number), jobs) in by_pr.into_iter().take(MAX_PRS) {
            prs.push(web::repo::PrView {
                number,
                title: titles.remove(&number),
                jobs,
                plans: store
                    .plans_of_pr(&key, number)
                    .await
                    .map_err(|e| store_failed(e, "reading plans"))?,
                applies: store
                    .applies_of_pr(&key, number)
                    .await
                    .map_err(|e| store_failed(e, "reading applies"))?,
            });
        }
        let view = web::repo::RepoView {
            locks: store
                .locks_of_repo(&key)
                .await
                .map_err(|e| store_failed(e, "reading locks"))?,
            drift_runs: store
                .drift_runs(&key, 20)
                .await
                .map_err(|e| store_failed(e, "reading drift runs"))?,
            repository: full,
            prs,
        };
        Ok(web::repo::render(&view, &web_viewer(&viewer, &csrf)))
    })
}

/// The titles of `repo`'s recently updated pull requests, as GitHub has them now; none when
/// GitHub cannot say within 5 s (the page then shows numbers only).
pub(super) async fn pr_titles(state: &AppState, repo: &str) -> HashMap<PrNumber, String> {
    let titles = async {
        let Some(installation) = state.github.repo_installation(repo).await? else {
            return Ok(Vec::new());
        };
        state.github.pull_titles(installation, repo).await
    };
    match tokio::time::timeout(std::time::Duration::from_secs(5), titles).await {
        Ok(Ok(titles)) => titles.into_iter().collect(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the repository page shows no pull request titles");
            HashMap::new()
        }
        Err(_) => {
            tracing::warn!("GitHub did not list pull requests within 5 s; no titles shown");
            HashMap::new()
        }
    }
}

/// `GET /runs/{id}`: a run, its plan and its log (followed live while it runs); a run of a
/// repository the viewer cannot read is answered as an unknown one.
pub async fn run(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    page!(state, headers, uri, |viewer, csrf| {
        let not_found = || refuse(StatusCode::NOT_FOUND, "no such run");
        let id: i64 = id.parse().map_err(|_| not_found())?;
        let store = &state.store;
        let run = store
            .run(id)
            .await
            .map_err(|e| store_failed(e, "reading the run"))?
            .ok_or_else(not_found)?;
        let name = display_name(store.as_ref(), &run.repository).await;
        if viewer.permission(&state, &name).await? < Permission::Read {
            return Err(not_found());
        }
        let mut log = String::new();
        let mut after = 0;
        // At most 64 pages of chunks (a run's log is bounded by the output cap anyway).
        for _ in 0..64 {
            let chunks = store
                .run_log(id, after, 500)
                .await
                .map_err(|e| store_failed(e, "reading the log"))?;
            let Some(last) = chunks.last() else { break };
            after = last.seq;
            chunks.iter().for_each(|c| log.push_str(&c.text));
        }
        let plans = if run.pr != PrNumber(0) {
            store
                .plans_of_pr(&run.repository, run.pr)
                .await
                .map_err(|e| store_failed(e, "reading plans"))?
        } else {
            Vec::new()
        };
        let plan = plans.iter().find(|p| {
            p.head_sha == run.commit_sha
                && p.target.dir == run.dir
                && p.target.workspace == run.workspace
                && p.target.name == run.project
        });
        let plan = match plan.map(|p| &p.outcome) {
            Some(Outcome::Planned { summary, text }) => {
                Some((summary.line.as_str(), text.as_str()))
            }
            _ => None,
        };
        let status = run.status.as_str();
        let page = web::run::RunPage {
            id,
            repository: &name,
            pr: run.pr,
            dir: &run.dir,
            workspace: &run.workspace,
            project: run.project.as_deref(),
            kind: run.kind.as_str(),
            status,
            commit: run.commit_sha.as_str(),
            requested_by: &run.requested_by,
            started_at: run.started_at,
            finished_at: run.finished_at,
            live: matches!(status, "queued" | "running"),
            log: &log,
            plan,
        };
        Ok(web::run::render(&page, &web_viewer(&viewer, &csrf)))
    })
}

/// `GET /locks`: the locks in the repositories the viewer can read, with unlock forms where
/// they have the command permission.
pub async fn locks(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    page!(state, headers, uri, |viewer, csrf| {
        let holders = state
            .store
            .prs_holding()
            .await
            .map_err(|e| store_failed(e, "listing locks"))?;
        let can = readable(
            &state,
            &viewer,
            holders.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>(),
        )
        .await;
        let mut repos: Vec<&String> = can.keys().collect();
        repos.sort();
        let mut views = Vec::new();
        for repo in repos {
            let (name, has) = &can[repo];
            let may_unlock = state.access.may_command(*has);
            for lock in state
                .store
                .locks_of_repo(&RepoKey::new(repo.clone()))
                .await
                .map_err(|e| store_failed(e, "reading locks"))?
            {
                // Shown (and unlocked) by the repository's name now.
                views.push(web::locks::LockView {
                    repo: name.clone(),
                    lock,
                    may_unlock,
                });
            }
        }
        let notice = query
            .as_deref()
            .and_then(|q| serde_urlencoded::from_str::<HashMap<String, String>>(q).ok())
            .and_then(|q| q.get("unlocked").cloned())
            .map(|what| {
                format!("Unlock of {what} queued: the lock goes and the pull requests waiting for it are planned.")
            });
        Ok(web::locks::render(
            &views,
            notice.as_deref(),
            &web_viewer(&viewer, &csrf),
        ))
    })
}

/// The unlock form's fields.
#[derive(Debug, Deserialize)]
pub struct UnlockForm {
    #[serde(default)]
    csrf: String,
    repository: String,
    #[serde(default)]
    dir: Option<String>,
    #[serde(default)]
    workspace: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    reason: String,
}

/// A page form's POST: its viewer (else the sign-in redirect) and CSRF token first, then
/// `act`; a refusal is a page saying why, success a 303 to where `done` says.
async fn form_post<T>(
    state: &AppState,
    (headers, uri): (&HeaderMap, &Uri),
    csrf: &str,
    act: impl AsyncFnOnce(&Viewer) -> Result<T, Refusal>,
    done: impl FnOnce(T) -> String,
) -> Response {
    let viewer = match page_viewer(state, headers, uri) {
        Ok(v) => v,
        Err(response) => return *response,
    };
    let result = match viewer.require_csrf(state, headers, Some(csrf)) {
        Ok(()) => act(&viewer).await,
        Err(refusal) => Err(refusal),
    };
    match result {
        Ok(value) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&done(value)) {
                response.headers_mut().insert(header::LOCATION, v);
            }
            response
        }
        Err(refusal) => refused(state, &viewer, &refusal),
    }
}

/// `POST /locks/unlock` (the locks page's form): checks the CSRF token and the command
/// permission, queues the unlock as `DELETE /api/locks/…` does, and returns to `/locks`.
pub async fn unlock(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<UnlockForm>,
) -> Response {
    let act = async |viewer: &Viewer| {
        let (owner, name) = form
            .repository
            .split_once('/')
            .ok_or_else(|| refuse(StatusCode::BAD_REQUEST, "name the repository as OWNER/NAME"))?;
        let full = repo_of(&state, owner, name)?;
        require_command(&state, viewer, &full, "unlocking").await?;
        let query = match form.project.as_deref().filter(|p| !p.is_empty()) {
            Some(project) => UnlockQuery {
                project: Some(project.to_owned()),
                reason: Some(form.reason.clone()),
                ..UnlockQuery::default()
            },
            None => UnlockQuery {
                dir: form.dir.clone(),
                workspace: form.workspace.clone(),
                reason: Some(form.reason.clone()),
                ..UnlockQuery::default()
            },
        };
        queue_unlock(&state, viewer, &full, &query).await
    };
    let done = |queued: super::locks::QueuedUnlock| {
        let what: Vec<String> = queued
            .targets
            .iter()
            .map(crate::plan::Target::display_name)
            .collect();
        let q = serde_urlencoded::to_string([(
            "unlocked",
            format!("{} in {}#{}", what.join(", "), form.repository, queued.pr),
        )])
        .unwrap_or_default();
        format!("/locks?{q}")
    };
    form_post(&state, (&headers, &uri), &form.csrf, act, done).await
}

/// The overview's apply lock switch.
#[derive(Debug, Deserialize)]
pub struct ApplyLockForm {
    #[serde(default)]
    csrf: String,
    /// `lock` or `unlock`.
    action: String,
}

/// `POST /apply-lock` (the overview's switch): checks the CSRF token and that the viewer may
/// switch the global apply lock (BOSUN_APPLY_LOCK_ADMINS), switches it as `/api/apply-lock`
/// does, and returns to the overview.
pub async fn switch_apply_lock(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<ApplyLockForm>,
) -> Response {
    let act = async |viewer: &Viewer| {
        let lock = match form.action.as_str() {
            "lock" => true,
            "unlock" => false,
            _ => {
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    "the action is `lock` or `unlock`",
                ));
            }
        };
        super::api::switch_apply_lock(&state, viewer, lock, "the overview page's switch").await
    };
    form_post(&state, (&headers, &uri), &form.csrf, act, |_| "/".into()).await
}

/// `GET /audit`: the audit trail with the query's filters; a signed-in person names one
/// repository they can read (the form says so), the operator may read all of it.
pub async fn audit(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    page!(state, headers, uri, |viewer, csrf| {
        // Empty fields of the filter form are no filter.
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
        let pairs: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .collect();
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map_or_else(String::new, |(_, v)| v.clone())
        };
        let filters = web::audit::AuditFilters {
            repo: get("repo"),
            pr: get("pr"),
            project: get("project"),
            user: get("user"),
            kind: get("kind"),
            since: get("since"),
            until: get("until"),
        };
        let query =
            match AuditQuery::parse(&serde_urlencoded::to_string(&pairs).unwrap_or_default()) {
                Ok(q) => q,
                Err(refusal) => {
                    let (_, why) = refusal.parts();
                    return Ok(web::audit::render(
                        &[],
                        &filters,
                        None,
                        Some(why),
                        &web_viewer(&viewer, &csrf),
                    ));
                }
            };
        if matches!(viewer, Viewer::User(_)) && query.filter.repository.is_none() {
            return Ok(web::audit::render(
                &[],
                &filters,
                None,
                Some(
                    "Name a repository you can read to see its trail (the whole trail is the operator's).",
                ),
                &web_viewer(&viewer, &csrf),
            ));
        }
        may_read(&state, &viewer, query.filter.repository.as_deref()).await?;
        let mut entries = state
            .store
            .audit_entries(&query.filter, query.before, query.limit + 1)
            .await
            .map_err(|e| store_failed(e, "reading the audit trail"))?;
        let next = if entries.len() > query.limit as usize {
            entries.truncate(query.limit as usize);
            entries.last().map(|e| e.id)
        } else {
            None
        };
        let rows: Vec<web::audit::AuditRow> = entries
            .into_iter()
            .map(|e| {
                let n = e.entry;
                web::audit::AuditRow {
                    at: n.at,
                    actor: match &n.actor {
                        crate::audit::Actor::ApiToken(name) => format!("token:{name}"),
                        other => other.name().to_owned(),
                    },
                    kind: n.kind.as_str().to_owned(),
                    repository: n.repository,
                    pr: n.pr,
                    project: n.project.map(|p| p.name),
                    sha: n.sha,
                    outcome: n.outcome,
                    detail: n.detail,
                    run_id: n.run_id,
                }
            })
            .collect();
        Ok(web::audit::render(
            &rows,
            &filters,
            next,
            None,
            &web_viewer(&viewer, &csrf),
        ))
    })
}

/// `GET /assets/app.css` and `/assets/app.js`: the pages' stylesheet and script.
pub async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "app.css" => (web::APP_CSS, "text/css; charset=utf-8"),
        "app.js" => (web::APP_JS, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    };
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
