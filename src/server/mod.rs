//! The HTTP server: `/events` (GitHub's webhooks), `/api/…` (the API, runs and their logs in `runs`, the audit trail in `audit`, for the operator's token
//! or a signed-in person), the pages (`/`), sign-in (`/login`, `/oauth/callback`, `/logout`),
//! `/healthz` (alive), `/readyz` (not draining, store reachable) and `/metrics`.

mod api;
pub mod audit;
pub mod auth;
mod events;
pub mod intake;
pub(crate) mod locks;
mod pages;
mod runs;
pub mod signature;
mod ui;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use events::MAX_BODY;

use crate::config::{RepoAllowlist, Secret};
use crate::github::GitHub;
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::store::Store;
use tokio::sync::Notify;

/// A request (a slow 25 MiB upload included) gets this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub struct AppState {
    pub ingest: Ingest,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub webhook_secrets: Vec<Secret>,
    pub allowlist: RepoAllowlist,
    /// BOSUN_API_TOKEN: the API answers 403 without one.
    pub api_token: Option<Secret>,
    /// What the API asks GitHub (which installation has a repo).
    pub github: Arc<GitHub>,
    /// Woken when the API queues a job.
    pub enqueued: Arc<Notify>,
    /// How many `/events` requests, and bytes of their bodies, are held at once.
    pub intake: intake::Intake,
    /// Cancelled when bosun starts draining (SIGTERM): `/readyz` then answers 503.
    pub draining: CancellationToken,
    /// Sign-in with GitHub; `None`: only the API token is accepted.
    pub auth: Option<Arc<auth::Auth>>,
    /// Who may run commands (unlock through the API takes the command permission).
    pub access: crate::access::AccessPolicy,
    /// BOSUN_PUBLIC_URL: links to runs start with it.
    pub public_url: Option<String>,
}

/// `listener` with Nagle's algorithm off on every connection it accepts. A response written in
/// parts (a run log's events, a streamed page) would otherwise wait for the client's delayed
/// ACK, 40 ms at a time on Linux.
pub fn without_nagle(
    listener: tokio::net::TcpListener,
) -> impl axum::serve::Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr> {
    axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not turn Nagle's algorithm off");
        }
    })
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/events",
            post(events::receive).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/drift/{owner}/{repo}",
            post(api::run_now).get(api::history),
        )
        .route(
            "/api/apply-lock",
            post(api::lock_applies)
                .delete(api::unlock_applies)
                .get(api::apply_lock),
        )
        .route("/api/locks", get(locks::list))
        .route("/api/locks/{owner}/{repo}", delete(locks::unlock))
        .route("/", get(ui::overview))
        .route("/repos/{owner}/{repo}", get(ui::repository))
        .route("/runs/{id}", get(ui::run))
        .route("/locks", get(ui::locks))
        .route("/locks/unlock", post(ui::unlock))
        .route("/apply-lock", post(ui::switch_apply_lock))
        .route("/audit", get(ui::audit))
        .route("/assets/{name}", get(ui::asset))
        .route("/login", get(auth::oauth::login))
        .route("/oauth/callback", get(auth::oauth::callback))
        .route("/logout", post(auth::oauth::logout))
        .route("/api/runs/{id}", get(runs::run))
        .route("/api/runs/{id}/log", get(runs::log))
        .route("/api/audit", get(audit::list))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(CatchPanicLayer::new())
}

/// A request's span: its method and path, never its query (a sign-in's code and state, an
/// unlock's reason) nor its headers (tokens, cookies).
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
}

/// Alive: the process answers HTTP. Whether it can do work is `/readyz`.
async fn healthz() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

/// Ready for traffic: not draining, and the store answers a cheap query within 2 s; else 503
/// with a one-line reason that names no secret. Migrations and the sandbox check ran before the server
/// started (`app::start` stops when either fails), so a serving bosun has passed both.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.draining.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response();
    }
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(e)) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "readiness check: store unavailable"
            );
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "store did not answer in time\n",
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    if let Ok(Ok(depth)) =
        tokio::time::timeout(Duration::from_secs(2), state.store.queue_depth()).await
    {
        state.metrics.queue_depth.set(depth);
    }
    if let Ok(Ok(fleet)) = tokio::time::timeout(Duration::from_secs(2), state.store.fleet()).await {
        let m = &state.metrics;
        m.jobs_queued.set(fleet.queued_jobs);
        m.locks_held.set(fleet.locks_held);
        let age = fleet
            .oldest_queued_at
            .map_or(0, |at| (crate::store::now_millis() - at).max(0) / 1000);
        m.oldest_queued_job_seconds.set(age);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests;
