//! The fake's issue endpoints: list (pull requests too, as GitHub lists them), create and edit.
//! Issues and pull requests share one number sequence per repository; labels an issue names
//! are created in the repository when first used.

use std::time::{Duration, UNIX_EPOCH};

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::comments::{bot, user_json};
use super::model::{self, Model};
use super::{Caller, FakeGitHub, error, paginate, visible_repo};

/// GitHub's limit on an issue's body, in characters.
const BODY_MAX: usize = 65_536;

/// A time for the `updated` counter: later counters are later times.
fn time_of(counter: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000 + counter);
    humantime::format_rfc3339_seconds(t).to_string()
}

pub fn issue_json(base_url: &str, full: &str, i: &model::Issue) -> Value {
    json!({
        "id": i.number, "node_id": format!("I_fake{}", i.number), "number": i.number,
        "title": i.title, "body": i.body, "state": if i.open { "open" } else { "closed" },
        "state_reason": i.state_reason,
        "labels": i.labels.iter().map(|l| json!({ "name": l })).collect::<Vec<_>>(),
        "user": user_json(&i.author),
        "created_at": time_of(0), "updated_at": time_of(i.updated),
        "html_url": format!("{base_url}/{full}/issues/{}", i.number),
    })
}

/// An entry of the issues listing, issue or pull request, with what it is filtered on.
struct Entry {
    number: u64,
    updated: u64,
    open: bool,
    author: String,
    labels: Vec<String>,
    json: Value,
}

/// `GET /repos/{o}/{r}/issues`: `state` (open by default | closed | all), `labels` (all must
/// match), `creator`, `sort` (created by default | updated), `direction` (desc by default),
/// paginated. Pull requests are listed too, with a `pull_request` key; they sort as never
/// updated.
pub fn list(
    m: &Model,
    caller: Caller,
    full: &str,
    uri: &Uri,
    base_url: &str,
) -> Result<Response, Response> {
    let r = visible_repo(m, caller, full)?;
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or_default();
    let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
    let invalid = |what: &str| {
        error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Validation Failed: {what}"),
        )
    };
    let state = get("state").unwrap_or("open");
    if !matches!(state, "open" | "closed" | "all") {
        return Err(invalid("state"));
    }
    let sort = get("sort").unwrap_or("created");
    if !matches!(sort, "created" | "updated") {
        return Err(invalid("sort (the fake models created and updated)"));
    }
    let ascending = match get("direction").unwrap_or("desc") {
        "desc" => false,
        "asc" => true,
        _ => return Err(invalid("direction")),
    };
    let wanted: Vec<String> = get("labels")
        .unwrap_or("")
        .split(',')
        .map(|l| l.trim().to_ascii_lowercase())
        .filter(|l| !l.is_empty())
        .collect();
    let creator = get("creator");

    let issues = r.issues.values().map(|i| Entry {
        number: i.number,
        updated: i.updated,
        open: i.open,
        author: i.author.clone(),
        labels: i.labels.clone(),
        json: issue_json(base_url, full, i),
    });
    let prs = r.prs.values().map(|p| Entry {
        number: p.number,
        updated: 0,
        open: p.open,
        author: p.author.clone(),
        labels: Vec::new(),
        json: json!({
            "id": p.number, "number": p.number, "title": p.title, "body": null,
            "state": if p.open { "open" } else { "closed" }, "state_reason": null,
            "labels": [], "user": user_json(&p.author),
            "created_at": time_of(0), "updated_at": time_of(0),
            "html_url": format!("{base_url}/{full}/pull/{}", p.number),
            "pull_request": {
                "url": format!("{base_url}/repos/{full}/pulls/{}", p.number),
                "html_url": format!("{base_url}/{full}/pull/{}", p.number),
            },
        }),
    });
    let mut entries: Vec<Entry> = issues
        .chain(prs)
        .filter(|e| match state {
            "open" => e.open,
            "closed" => !e.open,
            _ => true,
        })
        .filter(|e| {
            wanted
                .iter()
                .all(|w| e.labels.iter().any(|l| l.eq_ignore_ascii_case(w)))
        })
        .filter(|e| creator.is_none_or(|c| e.author.eq_ignore_ascii_case(c)))
        .collect();
    entries.sort_by_key(|e| match sort {
        "updated" => (e.updated, e.number),
        _ => (e.number, 0),
    });
    if !ascending {
        entries.reverse();
    }
    Ok(paginate(uri, entries.into_iter().map(|e| e.json).collect()))
}

/// The label names of a create or edit body (strings, or objects with a `name`).
fn label_names(body: &Value) -> Vec<String> {
    body["labels"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .filter_map(|l| l.as_str().or_else(|| l["name"].as_str()))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn body_too_long(body: &str) -> bool {
    body.chars().count() > BODY_MAX
}

/// `POST /repos/{o}/{r}/issues`: opened by the App's bot; 201 with the issue.
pub fn create(
    m: &mut Model,
    caller: Caller,
    full: &str,
    body: &Value,
    base_url: &str,
) -> Result<Response, Response> {
    visible_repo(m, caller, full)?;
    let title = match &body["title"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    if title.trim().is_empty() {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed: title can't be blank",
        ));
    }
    let text = body["body"].as_str().unwrap_or("").to_owned();
    if body_too_long(&text) {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed: body is too long (maximum is 65536 characters)",
        ));
    }
    let author = bot(m);
    let updated = m.next_id();
    let r = m.repo_mut(full).unwrap();
    let labels = label_names(body);
    for label in &labels {
        if !r.labels.iter().any(|l| l.eq_ignore_ascii_case(label)) {
            r.labels.insert(label.clone());
        }
    }
    let issue = model::Issue {
        number: r.next_number(),
        title,
        body: text,
        author,
        labels,
        open: true,
        state_reason: None,
        edits: Vec::new(),
        updated,
    };
    let value = issue_json(base_url, full, &issue);
    r.issues.insert(issue.number, issue);
    Ok((StatusCode::CREATED, axum::Json(value)).into_response())
}

/// `PATCH /repos/{o}/{r}/issues/{n}`: `title`, `body` (old bodies go to `edits`), `state`
/// (closing defaults `state_reason` to completed; reopening sets reopened) and `state_reason`.
pub fn update(
    m: &mut Model,
    caller: Caller,
    full: &str,
    number: &str,
    body: &Value,
    base_url: &str,
) -> Result<Response, Response> {
    visible_repo(m, caller, full)?;
    let number: u64 = number.parse().unwrap_or(0);
    let updated = m.next_id();
    if m.repo(full).is_some_and(|r| r.prs.contains_key(&number)) {
        let v = format!(
            "PATCH /repos/{full}/issues/{number}: editing a pull request through the issues API is not modelled by the fake"
        );
        m.violations.push(v.clone());
        return Err(error(StatusCode::NOT_IMPLEMENTED, &v));
    }
    let r = m.repo_mut(full).unwrap();
    let Some(issue) = r.issues.get_mut(&number) else {
        return Err(error(StatusCode::NOT_FOUND, "Not Found"));
    };
    if let Some(text) = body.get("body").filter(|b| !b.is_null()) {
        let text = text.as_str().unwrap_or("").to_owned();
        if body_too_long(&text) {
            return Err(error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Validation Failed: body is too long (maximum is 65536 characters)",
            ));
        }
        if text != issue.body {
            let old = std::mem::replace(&mut issue.body, text);
            issue.edits.push(old);
        }
    }
    if let Some(title) = body["title"].as_str() {
        issue.title = title.to_owned();
    }
    let reason = body["state_reason"].as_str().map(str::to_owned);
    match body["state"].as_str() {
        Some("closed") => {
            issue.open = false;
            issue.state_reason = Some(reason.unwrap_or_else(|| "completed".into()));
        }
        Some("open") if !issue.open => {
            issue.open = true;
            issue.state_reason = Some("reopened".into());
        }
        _ => {}
    }
    issue.updated = updated;
    Ok(axum::Json(issue_json(base_url, full, issue)).into_response())
}

impl FakeGitHub {
    /// Opens an issue by `author` (a user, or `…[bot]`) with `labels`, without a webhook;
    /// returns its number.
    pub fn add_issue(&self, repo: &str, author: &str, title: &str, labels: &[&str]) -> u64 {
        let mut m = self.model();
        let updated = m.next_id();
        let r = m.repo_mut(repo).unwrap();
        let number = r.next_number();
        r.labels.extend(labels.iter().map(|l| l.to_string()));
        r.issues.insert(
            number,
            model::Issue {
                number,
                title: title.into(),
                body: String::new(),
                author: author.into(),
                labels: labels.iter().map(|l| l.to_string()).collect(),
                open: true,
                state_reason: None,
                edits: Vec::new(),
                updated,
            },
        );
        number
    }

    /// `repo`'s issues (not pull requests), by number.
    pub fn issues(&self, repo: &str) -> Vec<model::Issue> {
        self.model()
            .repo(repo)
            .map(|r| r.issues.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The bodies of the comments on issue or pull request `number`, oldest first.
    pub fn issue_comments(&self, repo: &str, number: u64) -> Vec<String> {
        self.model()
            .repo(repo)
            .map(|r| {
                r.comments
                    .iter()
                    .filter(|c| c.issue == number)
                    .map(|c| c.body.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}
