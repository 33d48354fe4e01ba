//! `POST /events`: GitHub's webhook endpoint. Verify, translate, store, answer — nothing else
//! happens in the request. Every rejection says why, in the body and in one log line.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::intake::{ReadError, Shed, Ticket};
use super::signature;
use crate::github::webhook::{self, HANDLED_EVENTS, Parsed};
use crate::store::{Inserted, NewDelivery, Payload, now_millis};

/// GitHub caps webhook payloads at 25 MiB.
pub const MAX_BODY: usize = 25 << 20;

/// An answer to GitHub: status, a short outcome, and the reason.
struct Answer {
    status: StatusCode,
    outcome: &'static str,
    /// For metrics: a fixed label.
    label: &'static str,
    reason: String,
}

impl Answer {
    fn reject(status: StatusCode, label: &'static str, reason: impl Into<String>) -> Self {
        Self {
            status,
            outcome: "rejected",
            label,
            reason: reason.into(),
        }
    }
}

pub async fn receive(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let delivery = header_str(&headers, "x-github-delivery")
        .unwrap_or("")
        .chars()
        .take(100)
        .collect::<String>();
    let event = header_str(&headers, "x-github-event")
        .unwrap_or("")
        .chars()
        .take(64)
        .collect::<String>();
    let answer = match state.intake.enter() {
        Ok(mut ticket) => match handle(&state, &mut ticket, &headers, body).await {
            Ok(answer) | Err(answer) => answer,
        },
        Err(shed) => shed_answer(shed),
    };
    state.metrics.delivery(answer.outcome, answer.label);
    if answer.outcome == "rejected" {
        tracing::warn!(status = answer.status.as_u16(), reason = %answer.reason, delivery = %delivery, event = %event, "webhook rejected");
    } else {
        tracing::info!(status = answer.status.as_u16(), outcome = answer.outcome, reason = %answer.reason, delivery = %delivery, event = %event, "webhook");
    }
    let body = if answer.reason.is_empty() {
        json!({ "status": answer.outcome })
    } else {
        json!({ "status": answer.outcome, "reason": answer.reason })
    };
    let mut response = (answer.status, axum::Json(body)).into_response();
    if answer.label.starts_with("shed_") {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    }
    response
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

async fn handle(
    state: &AppState,
    ticket: &mut Ticket,
    headers: &HeaderMap,
    body: Body,
) -> Result<Answer, Answer> {
    let raw = read_body(state, ticket, headers, body).await?;

    // Nothing is parsed before the signature checks out.
    signature::verify(
        &state.webhook_secrets,
        &raw,
        headers.get("x-hub-signature-256").map(|v| v.as_bytes()),
    )
    .map_err(|e| Answer::reject(StatusCode::UNAUTHORIZED, e.label(), e.reason()))?;

    let event = header_str(headers, "x-github-event")
        .filter(|e| {
            !e.is_empty() && e.len() <= 64 && e.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        })
        .ok_or_else(|| {
            Answer::reject(
                StatusCode::BAD_REQUEST,
                "bad_event_header",
                "missing or invalid X-GitHub-Event header",
            )
        })?
        .to_owned();
    let delivery_id = header_str(headers, "x-github-delivery")
        .filter(|d| {
            !d.is_empty()
                && d.len() <= 100
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .ok_or_else(|| {
            Answer::reject(
                StatusCode::BAD_REQUEST,
                "bad_delivery_header",
                "missing or invalid X-GitHub-Delivery header",
            )
        })?
        .to_owned();

    let payload = decode_payload(headers, raw)?;

    if event == "ping" {
        serde_json::from_slice::<serde_json::Value>(&payload).map_err(|e| {
            Answer::reject(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("ping payload is not JSON: {e}"),
            )
        })?;
        return Ok(Answer {
            status: StatusCode::OK,
            outcome: "pong",
            label: "",
            reason: String::new(),
        });
    }
    if !HANDLED_EVENTS.contains(&event.as_str()) {
        return Ok(Answer {
            status: StatusCode::OK,
            outcome: "ignored",
            label: "unsubscribed_event",
            reason: format!("bosun does not subscribe to {event} events"),
        });
    }
    let (action, parsed) = webhook::parse_with_action(&event, &payload)
        .map_err(|e| Answer::reject(StatusCode::BAD_REQUEST, "invalid_payload", e.to_string()))?;
    let event_data = match parsed {
        Parsed::Ignored(reason) => {
            return Ok(Answer {
                status: StatusCode::OK,
                outcome: "ignored",
                label: "unused_action",
                reason,
            });
        }
        Parsed::Event(e) => e,
    };
    if let Some(repo) = &event_data.repo
        && !state.allowlist.allows(&repo.full_name)
    {
        return Ok(Answer {
            status: StatusCode::OK,
            outcome: "dropped",
            label: "not_allowlisted",
            reason: format!("{} is not in BOSUN_REPO_ALLOWLIST", repo.full_name),
        });
    }

    let new = NewDelivery {
        id: delivery_id,
        event,
        action,
        repository: event_data.repo.as_ref().map(|r| r.full_name.clone()),
        installation_id: event_data.installation_id.map(|i| i.0 as i64),
        received_at: now_millis(),
        payload: Payload::pack(&payload),
    };
    match state.ingest.store(new).await {
        Ok(Inserted::New { .. }) => Ok(Answer {
            status: StatusCode::ACCEPTED,
            outcome: "accepted",
            label: "",
            reason: String::new(),
        }),
        Ok(Inserted::Duplicate) => Ok(Answer {
            status: StatusCode::OK,
            outcome: "duplicate",
            label: "duplicate_delivery",
            reason: "this delivery was already received; it is not processed again".into(),
        }),
        Err(e) => Err(Answer::reject(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e,
        )),
    }
}

/// Reads the body within the [`Intake`](super::intake::Intake)'s bounds, refusing more than
/// [`MAX_BODY`] bytes without reading them all.
async fn read_body(
    state: &AppState,
    ticket: &mut Ticket,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, Answer> {
    let too_large = || {
        Answer::reject(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("body over {MAX_BODY} bytes"),
        )
    };
    if let Some(len) =
        header_str(headers, header::CONTENT_LENGTH.as_str()).and_then(|l| l.parse::<u64>().ok())
        && len > MAX_BODY as u64
    {
        return Err(too_large());
    }
    state
        .intake
        .read(ticket, body, MAX_BODY)
        .await
        .map_err(|e| match e {
            ReadError::TooLarge => too_large(),
            ReadError::Shed(shed) => shed_answer(shed),
            ReadError::Unreadable(e) => Answer::reject(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                format!("could not read the body: {e}"),
            ),
        })
}

/// `503` for a request over the intake's bounds.
fn shed_answer(shed: Shed) -> Answer {
    Answer {
        status: StatusCode::SERVICE_UNAVAILABLE,
        outcome: "rejected",
        label: match shed {
            Shed::Requests(_) => "shed_requests",
            Shed::Bytes(_) => "shed_bytes",
        },
        reason: shed.reason(),
    }
}

/// The JSON payload: the body itself, or the `payload` field of GitHub's form encoding.
fn decode_payload(headers: &HeaderMap, raw: Bytes) -> Result<Bytes, Answer> {
    let content_type = header_str(headers, header::CONTENT_TYPE.as_str()).unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => Ok(raw),
        "application/x-www-form-urlencoded" => {
            let fields: Vec<(String, String)> =
                serde_urlencoded::from_bytes(&raw).map_err(|e| {
                    Answer::reject(
                        StatusCode::BAD_REQUEST,
                        "invalid_form",
                        format!("form body is not valid: {e}"),
                    )
                })?;
            fields
                .into_iter()
                .find(|(k, _)| k == "payload")
                .map(|(_, v)| Bytes::from(v))
                .ok_or_else(|| {
                    Answer::reject(
                        StatusCode::BAD_REQUEST,
                        "invalid_form",
                        "form body has no payload field",
                    )
                })
        }
        _ => Err(Answer::reject(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_type",
            format!(
                "Content-Type `{}` is not application/json or application/x-www-form-urlencoded",
                content_type.chars().take(100).collect::<String>()
            ),
        )),
    }
}
