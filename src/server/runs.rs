//! `GET /api/runs/{id}`: a run's record as JSON. `GET /api/runs/{id}/log`: its log as
//! `text/plain`, or, with `Accept: text/event-stream`, as Server-Sent Events: every stored
//! chunk (event `log`, `id:` its sequence number, so a client reconnecting with
//! `Last-Event-ID` gets only what it has not seen), then new chunks as they are stored, then
//! event `end` with the run's outcome once it finishes, and the stream closes. The stream
//! reads the store (every [`POLL`]), so any replica serves any run's log live; it ends after
//! [`MAX_STREAM`] or when bosun starts draining (a client reconnects with `Last-Event-ID`).
//! For the operator or a person who can read the run's repository (404 otherwise, as for an
//! unknown run).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::api::{Refusal, refuse};
use super::auth::Viewer;
use crate::github::Permission;
use crate::store::{LogChunk, Run, Store};

/// How often a live stream looks for new chunks.
pub const POLL: Duration = Duration::from_millis(250);
/// A comment line is sent after this long without an event, so proxies keep the stream open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// A stream closes after this long (a client reconnects with `Last-Event-ID`).
pub const MAX_STREAM: Duration = Duration::from_secs(3 * 60 * 60);
/// Chunks read from the store at once.
const PAGE: i64 = 500;

/// The run `id` names, or 404.
async fn find(store: &dyn Store, id: &str) -> Result<Run, Refusal> {
    let not_found = || refuse(StatusCode::NOT_FOUND, "no such run");
    let id: i64 = id.parse().map_err(|_| not_found())?;
    match store.run(id).await {
        Ok(Some(run)) => Ok(run),
        Ok(None) => Err(not_found()),
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "reading a run failed");
            Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "bosun could not read the store",
            ))
        }
    }
}

/// A run of a repository the viewer cannot read is answered as an unknown one (its repository
/// is not named).
async fn hide_unreadable(state: &AppState, viewer: &Viewer, run: &Run) -> Result<(), Refusal> {
    // A run's `repository` is the store's key; GitHub knows it by its name now.
    let name =
        crate::store::repositories::display_name(state.store.as_ref(), &run.repository).await;
    if viewer.permission(state, &name).await? >= Permission::Read {
        Ok(())
    } else {
        Err(refuse(StatusCode::NOT_FOUND, "no such run"))
    }
}

/// `GET /api/runs/{id}`.
pub async fn run(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    let run = find(state.store.as_ref(), &id).await?;
    hide_unreadable(&state, &viewer, &run).await?;
    Ok(Json(run).into_response())
}

/// `GET /api/runs/{id}/log`.
pub async fn log(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let run = find(state.store.as_ref(), &id).await?;
    hide_unreadable(&state, &viewer, &run).await?;
    let wants_events = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"));
    if !wants_events {
        return whole(state.store.as_ref(), run.id).await;
    }
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0)
        .max(0);
    let stream = Live {
        store: state.store.clone(),
        run: run.id,
        after,
        since_event: Instant::now(),
        started: Instant::now(),
        finishing: false,
        done: false,
        draining: state.draining.clone(),
    };
    let body = Body::from_stream(futures::stream::unfold(stream, |mut s| async move {
        s.next().await.map(|bytes| (Ok::<_, Infallible>(bytes), s))
    }));
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// The whole log as it is stored now.
async fn whole(store: &dyn Store, id: i64) -> Result<Response, Refusal> {
    let mut text = String::new();
    let mut after = 0;
    loop {
        let chunks = store.run_log(id, after, PAGE).await.map_err(|e| {
            tracing::error!(error = format!("{e:#}"), "reading a run's log failed");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "bosun could not read the store",
            )
        })?;
        let Some(last) = chunks.last() else { break };
        after = last.seq;
        chunks.iter().for_each(|c| text.push_str(&c.text));
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// A live stream's place.
struct Live {
    store: Arc<dyn Store>,
    run: i64,
    /// The last sequence number sent.
    after: i64,
    since_event: Instant,
    started: Instant,
    /// The run has finished: what is left of its log is sent, then `end`.
    finishing: bool,
    done: bool,
    /// bosun is shutting down: the stream ends (the client reconnects elsewhere), so it does
    /// not hold the server open.
    draining: tokio_util::sync::CancellationToken,
}

impl Live {
    /// The next bytes to send; `None` ends the stream.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if self.done || self.started.elapsed() > MAX_STREAM || self.draining.is_cancelled() {
                return None;
            }
            let chunks = match self.store.run_log(self.run, self.after, PAGE).await {
                Ok(chunks) => chunks,
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "reading a run's log failed");
                    Vec::new()
                }
            };
            if let Some(last) = chunks.last() {
                self.after = last.seq;
                self.since_event = Instant::now();
                return Some(events(&chunks).into());
            }
            match self.store.run(self.run).await {
                Ok(Some(run)) if run.status.finished() => {
                    if self.finishing {
                        self.done = true;
                        let data = serde_json::json!({ "status": run.status });
                        return Some(format!("event: end\ndata: {data}\n\n").into());
                    }
                    // Chunks stored just before the run finished are read once more.
                    self.finishing = true;
                    continue;
                }
                Ok(None) => return None,
                Ok(Some(_)) => {}
                Err(e) => tracing::warn!(error = format!("{e:#}"), "reading a run failed"),
            }
            if self.since_event.elapsed() >= KEEP_ALIVE {
                self.since_event = Instant::now();
                return Some(Bytes::from_static(b": keep-alive\n\n"));
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = self.draining.cancelled() => return None,
            }
        }
    }
}

/// Chunks as `log` events: one `data:` line per line of the chunk (a client joins them with
/// newlines), `id:` the chunk's sequence number.
fn events(chunks: &[LogChunk]) -> String {
    let mut out = String::new();
    for chunk in chunks {
        out.push_str("event: log\nid: ");
        out.push_str(&chunk.seq.to_string());
        out.push('\n');
        for line in chunk.text.lines() {
            out.push_str("data: ");
            out.push_str(&line.replace('\r', ""));
            out.push('\n');
        }
        if chunk.text.is_empty() {
            out.push_str("data: \n");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_become_one_event_each_with_a_data_line_per_line() {
        let chunks = [
            LogChunk {
                seq: 1,
                text: "$ terraform plan\nRefreshing…\r\n".into(),
                at: 0,
            },
            LogChunk {
                seq: 2,
                text: "Plan: 1 to add\n".into(),
                at: 0,
            },
        ];
        assert_eq!(
            events(&chunks),
            "event: log\nid: 1\ndata: $ terraform plan\ndata: Refreshing…\n\n\
             event: log\nid: 2\ndata: Plan: 1 to add\n\n"
        );
    }
}
