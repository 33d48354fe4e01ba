//! `GET /api/audit`: the audit trail, behind the API token. Query parameters filter it
//! (`repo`, `pr`, `project`, `user`, `kind`, `since`, `until`) and page it (`before`, `limit`);
//! the answer is `{"entries": [...], "next": "<before of the next page>" | null}`. With
//! `Accept: application/x-ndjson` (or `format=jsonl`) every matching entry is streamed as JSON
//! lines instead, read from the store a page at a time. A bad parameter is a 400 naming it.

use crate::ids::PrNumber;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::api::{Refusal, refuse};
use super::auth::Viewer;
use crate::audit::{DEFAULT_LIMIT, Entry, Filter, Kind, MAX_LIMIT, Page};
use crate::store::{Millis, Store};

/// The most entries one export streams; past it, a last line `{"next": "<id>"}` says where
/// to go on (`before=<id>`).
pub const MAX_EXPORT: usize = 100_000;

/// Entries read from the store at a time while exporting.
const EXPORT_PAGE: u32 = MAX_LIMIT;

/// A query of the trail, as parsed from the URL.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub filter: Filter,
    pub before: Option<i64>,
    pub limit: u32,
    /// `format=jsonl`.
    pub jsonl: bool,
}

fn bad(param: &str, why: impl std::fmt::Display) -> Refusal {
    refuse(StatusCode::BAD_REQUEST, format!("bad `{param}`: {why}"))
}

/// A time as RFC 3339 (`2026-12-07T04:00:00Z`, an offset allowed) or Unix milliseconds.
pub fn parse_time(raw: &str) -> Option<Millis> {
    if let Ok(ms) = raw.parse::<i64>() {
        return (ms >= 0).then_some(ms);
    }
    let dt: toml::value::Datetime = raw.parse().ok()?;
    let (date, time, offset) = (dt.date?, dt.time?, dt.offset?);
    let offset_minutes = match offset {
        toml::value::Offset::Z => 0,
        toml::value::Offset::Custom { minutes } => i64::from(minutes),
    };
    let days = days_from_civil(
        i64::from(date.year),
        i64::from(date.month),
        i64::from(date.day),
    );
    let secs = days * 86_400
        + i64::from(time.hour) * 3600
        + i64::from(time.minute) * 60
        + i64::from(time.second)
        - offset_minutes * 60;
    let ms = secs.checked_mul(1000)? + i64::from(time.nanosecond / 1_000_000);
    (ms >= 0).then_some(ms)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A short, printable filter value.
fn text(param: &str, value: &str) -> Result<String, Refusal> {
    if value.is_empty() || value.len() > 256 || value.chars().any(char::is_control) {
        return Err(bad(param, "expected 1 to 256 printable characters"));
    }
    Ok(value.to_owned())
}

impl AuditQuery {
    /// Parses a raw query string; an unknown or repeated parameter is refused too.
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|_| refuse(StatusCode::BAD_REQUEST, "the query string does not parse"))?;
        let mut q = Self {
            limit: DEFAULT_LIMIT,
            ..Self::default()
        };
        let mut seen = std::collections::HashSet::new();
        for (key, value) in &pairs {
            if !seen.insert(key.as_str()) {
                return Err(bad(key, "given more than once"));
            }
            let f = &mut q.filter;
            match key.as_str() {
                "repo" => {
                    let ok = value
                        .split_once('/')
                        .is_some_and(|(o, r)| !o.is_empty() && !r.is_empty() && !r.contains('/'));
                    if !ok {
                        return Err(bad(key, "expected owner/name"));
                    }
                    f.repository = Some(text(key, value)?);
                }
                "pr" => {
                    let n: PrNumber = value
                        .parse()
                        .map_err(|_| bad(key, "expected a pull request number"))?;
                    if n.0 == 0 || n.0 > i64::MAX as u64 {
                        return Err(bad(key, "expected a pull request number"));
                    }
                    f.pr = Some(n);
                }
                "project" => f.project = Some(text(key, value)?),
                "user" => f.user = Some(text(key, value)?),
                "kind" => {
                    let kind = Kind::parse(value).ok_or_else(|| {
                        let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                        bad(key, format!("expected one of {}", known.join(", ")))
                    })?;
                    f.kind = Some(kind);
                }
                "since" | "until" => {
                    let at = parse_time(value).ok_or_else(|| {
                        bad(
                            key,
                            "expected an RFC 3339 time (2026-12-07T04:00:00Z) or Unix ms",
                        )
                    })?;
                    if key == "since" {
                        f.since = Some(at);
                    } else {
                        f.until = Some(at);
                    }
                }
                "before" => {
                    let id: i64 =
                        value.parse().ok().filter(|id| *id > 0).ok_or_else(|| {
                            bad(key, "expected an entry id (the `next` of a page)")
                        })?;
                    q.before = Some(id);
                }
                "limit" => {
                    q.limit = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| bad(key, format!("expected 1 to {MAX_LIMIT}")))?;
                }
                "format" => match value.as_str() {
                    "json" => q.jsonl = false,
                    "jsonl" => q.jsonl = true,
                    _ => return Err(bad(key, "expected json or jsonl")),
                },
                _ => return Err(bad(key, "not a parameter of /api/audit")),
            }
        }
        Ok(q)
    }
}

/// An entry as the API shows it; `run_url` when BOSUN_PUBLIC_URL is set and the entry has a
/// run.
pub fn entry_json(e: &Entry, public_url: Option<&str>) -> serde_json::Value {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(e.entry.at.max(0) as u64);
    let x = &e.entry;
    let run_url = x
        .run_id
        .zip(public_url)
        .map(|(id, base)| format!("{base}/runs/{id}"));
    json!({
        "id": e.id.to_string(),
        "at": humantime::format_rfc3339_millis(at).to_string(),
        "at_ms": x.at,
        "actor": x.actor,
        "kind": x.kind,
        "repo": Some(&x.repository).filter(|r| !r.is_empty()),
        "pr": x.pr,
        "project": x.project,
        "sha": x.sha,
        "outcome": x.outcome,
        "detail": x.detail,
        "run_id": x.run_id,
        "run_url": run_url,
    })
}

fn wants_jsonl(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| {
            let media = v.split(';').next().unwrap_or("").trim();
            media.eq_ignore_ascii_case("application/x-ndjson")
                || media.eq_ignore_ascii_case("application/jsonl")
        })
}

/// Who may read which part of the trail: the operator all of it; a signed-in person one
/// repository at a time (`repo=`), one they can read on GitHub (else 404, as GitHub hides it).
pub async fn may_read(
    state: &AppState,
    viewer: &Viewer,
    repository: Option<&str>,
) -> Result<(), Refusal> {
    match (viewer, repository) {
        (Viewer::Operator, _) => Ok(()),
        (Viewer::User(_), Some(repo)) => viewer.require_read(state, repo).await,
        (Viewer::User(_), None) => Err(refuse(
            StatusCode::FORBIDDEN,
            "the whole audit trail is for the operator (BOSUN_API_TOKEN); name a repository you can read with repo=OWNER/NAME",
        )),
    }
}

/// `GET /api/audit`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let q = AuditQuery::parse(raw.as_deref().unwrap_or(""))?;
    may_read(&state, &viewer, q.filter.repository.as_deref()).await?;
    if q.jsonl || wants_jsonl(&headers) {
        return Ok(export(state, q));
    }
    let read = state
        .store
        .audit_entries(&q.filter, q.before, q.limit + 1)
        .await
        .map_err(|e| {
            tracing::error!(error = format!("{e:#}"), "reading the audit trail failed");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store could not read the audit trail; try again",
            )
        })?;
    let page = Page::of(read, q.limit);
    let public_url = state.public_url.as_deref();
    let entries: Vec<serde_json::Value> = page
        .entries
        .iter()
        .map(|e| entry_json(e, public_url))
        .collect();
    Ok(Json(json!({
        "entries": entries,
        "next": page.next.map(|id| id.to_string()),
    }))
    .into_response())
}

/// Where an export stands between pages.
struct Export {
    store: Arc<dyn Store>,
    filter: Filter,
    before: Option<i64>,
    sent: usize,
    done: bool,
    public_url: Option<String>,
}

/// Streams every entry matching the query (from `before`, newest first) as JSON lines, at
/// most [`MAX_EXPORT`]; a store error ends the stream (logged), cutting the response short.
fn export(state: Arc<AppState>, q: AuditQuery) -> Response {
    let start = Export {
        store: state.store.clone(),
        filter: q.filter,
        before: q.before,
        sent: 0,
        done: false,
        public_url: state.public_url.clone(),
    };
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(lines(start, MAX_EXPORT)),
    )
        .into_response()
}

/// The JSON lines of an export, a page of entries a chunk, at most `max` entries.
fn lines(start: Export, max: usize) -> impl futures::Stream<Item = Result<String, std::io::Error>> {
    futures::stream::unfold(start, move |mut x| async move {
        if x.done {
            return None;
        }
        if x.sent >= max {
            x.done = true;
            // The marker only when an entry is left.
            match x.store.audit_entries(&x.filter, x.before, 1).await {
                Ok(more) if more.is_empty() => return None,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "exporting the audit trail failed");
                    return Some((Err(std::io::Error::other("the store failed")), x));
                }
            }
            let line = json!({ "next": x.before.map(|id| id.to_string()) }).to_string() + "\n";
            return Some((Ok::<_, std::io::Error>(line), x));
        }
        let want = EXPORT_PAGE.min((max - x.sent) as u32);
        match x.store.audit_entries(&x.filter, x.before, want).await {
            Ok(page) => {
                if (page.len() as u32) < want {
                    x.done = true;
                }
                if page.is_empty() {
                    return None;
                }
                x.sent += page.len();
                x.before = page.last().map(|e| e.id);
                let mut out = String::new();
                for e in &page {
                    out.push_str(&entry_json(e, x.public_url.as_deref()).to_string());
                    out.push('\n');
                }
                Some((Ok(out), x))
            }
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "exporting the audit trail failed");
                x.done = true;
                Some((Err(std::io::Error::other("the store failed")), x))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_rfc3339_or_milliseconds() {
        assert_eq!(parse_time("0"), Some(0));
        assert_eq!(parse_time("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(
            parse_time("2023-11-14T22:13:20.250Z"),
            Some(1_700_000_000_250)
        );
        assert_eq!(
            parse_time("2023-11-15T00:13:20+02:00"),
            Some(1_700_000_000_000)
        );
        for bad in ["", "-5", "yesterday", "2023-11-14", "2023-11-14T22:13:20"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    fn refused(raw: &str) -> String {
        let r = AuditQuery::parse(raw).unwrap_err();
        format!("{} {}", r.status().as_u16(), r.why())
    }

    #[test]
    fn every_parameter_parses_and_a_bad_one_is_named() {
        let q = AuditQuery::parse(
            "repo=acme/infra&pr=7&project=prod&user=alice&kind=apply&since=0&until=5&before=9&limit=2&format=jsonl",
        )
        .unwrap();
        assert_eq!(
            q,
            AuditQuery {
                filter: Filter {
                    repository: Some("acme/infra".into()),
                    pr: Some(PrNumber(7)),
                    project: Some("prod".into()),
                    user: Some("alice".into()),
                    kind: Some(Kind::Apply),
                    since: Some(0),
                    until: Some(5),
                },
                before: Some(9),
                limit: 2,
                jsonl: true,
            }
        );
        assert_eq!(AuditQuery::parse("").unwrap().limit, DEFAULT_LIMIT);
        for (raw, param) in [
            ("pr=x", "`pr`"),
            ("pr=0", "`pr`"),
            ("limit=0", "`limit`"),
            ("limit=501", "`limit`"),
            ("kind=nap", "`kind`"),
            ("since=tuesday", "`since`"),
            ("until=-1", "`until`"),
            ("before=abc", "`before`"),
            ("repo=nope", "`repo`"),
            ("user=%00", "`user`"),
            ("format=xml", "`format`"),
            ("colour=red", "`colour`"),
            ("pr=1&pr=2", "`pr`"),
        ] {
            let got = refused(raw);
            assert!(
                got.starts_with("400 bad ") && got.contains(param),
                "{raw}: {got}"
            );
        }
    }

    #[tokio::test]
    async fn an_export_past_its_bound_ends_with_where_to_go_on() {
        use futures::StreamExt as _;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("b.db").display());
        let store: Arc<dyn Store> = Arc::new(crate::store::SqliteStore::open(&url).await.unwrap());
        let mut ids = Vec::new();
        for _ in 0..5 {
            let e = crate::audit::NewEntry::new(
                Kind::Plan,
                crate::audit::Actor::Bosun,
                "o/r",
                "planned",
            );
            ids.push(store.append_audit(&e).await.unwrap());
        }
        let export = |max| {
            let start = Export {
                store: store.clone(),
                filter: Filter::default(),
                before: None,
                sent: 0,
                done: false,
                public_url: None,
            };
            lines(start, max)
                .map(|chunk| chunk.unwrap())
                .collect::<Vec<String>>()
        };
        let text = export(3).await.concat();
        let got: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(got.len(), 4, "{text}");
        assert_eq!(got[0]["id"], ids[4].to_string());
        assert_eq!(got[3], json!({ "next": ids[2].to_string() }));
        assert_eq!(
            export(5).await.concat().lines().count(),
            5,
            "no marker when all fit"
        );
    }

    #[test]
    fn ndjson_is_chosen_by_the_accept_header() {
        let mut h = HeaderMap::new();
        assert!(!wants_jsonl(&h));
        h.insert(
            header::ACCEPT,
            "text/html, application/x-ndjson;q=0.9".parse().unwrap(),
        );
        assert!(wants_jsonl(&h));
    }
}
