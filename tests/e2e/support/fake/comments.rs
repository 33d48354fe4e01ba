//! The fake's issue-comment endpoints: create, list, edit and react, changing the model as
//! GitHub changes its data.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::model::{self, Model};
use super::{Caller, error, visible_repo};

/// A user as GitHub's answers show one (`Bot` for `…[bot]` logins).
pub fn user_json(login: &str) -> Value {
    let kind = if login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    };
    json!({ "login": login, "type": kind })
}

fn comment_json(c: &model::Comment) -> Value {
    json!({
        "id": c.id, "node_id": c.node_id, "body": c.body, "user": user_json(&c.author),
    })
}

/// The App's bot user, who writes everything an installation token writes.
pub fn bot(m: &Model) -> String {
    format!("{}[bot]", m.app_slug)
}

/// `POST /repos/{o}/{r}/issues/{n}/comments`, on an issue or a pull request.
pub fn create(
    m: &mut Model,
    caller: Caller,
    full: &str,
    number: &str,
    body: &Value,
) -> Result<Response, Response> {
    visible_repo(m, caller, full)?;
    let id = m.next_id();
    let author = bot(m);
    let number: u64 = number.parse().unwrap_or(0);
    let r = m.repo_mut(full).unwrap();
    if !r.prs.contains_key(&number) && !r.issues.contains_key(&number) {
        return Err(error(StatusCode::NOT_FOUND, "Not Found"));
    }
    let comment = model::Comment::new(id, number, &author, body["body"].as_str().unwrap_or(""));
    let value = comment_json(&comment);
    r.comments.push(comment);
    Ok((StatusCode::CREATED, axum::Json(value)).into_response())
}

/// `GET /repos/{o}/{r}/issues/{n}/comments`, oldest first (paged by the caller).
pub fn list(m: &Model, caller: Caller, full: &str, number: &str) -> Result<Vec<Value>, Response> {
    let r = visible_repo(m, caller, full)?;
    let number: u64 = number.parse().unwrap_or(0);
    let list: Vec<Value> = r
        .comments
        .iter()
        .filter(|c| c.issue == number)
        .map(comment_json)
        .collect();
    Ok(list)
}

/// The comment `id` of repository `full`, as the caller may change it.
fn comment_mut<'m>(
    m: &'m mut Model,
    caller: Caller,
    full: &str,
    id: &str,
) -> Result<&'m mut model::Comment, Response> {
    visible_repo(m, caller, full)?;
    let id: u64 = id.parse().unwrap_or(0);
    m.repo_mut(full)
        .unwrap()
        .comments
        .iter_mut()
        .find(|c| c.id == id)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "Not Found"))
}

/// `PATCH /repos/{o}/{r}/issues/comments/{id}`: only the author may edit (bosun edits its own).
pub fn update(
    m: &mut Model,
    caller: Caller,
    full: &str,
    id: &str,
    body: &Value,
) -> Result<Response, Response> {
    let author = bot(m);
    let comment = comment_mut(m, caller, full, id)?;
    if comment.author != author {
        return Err(error(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        ));
    }
    let new = body["body"].as_str().unwrap_or("").to_owned();
    let old = std::mem::replace(&mut comment.body, new);
    comment.edits.push(old);
    Ok(axum::Json(comment_json(comment)).into_response())
}

/// `POST /repos/{o}/{r}/issues/comments/{id}/reactions`: 201 for a new reaction, 200 with the
/// existing one when the user already reacted so.
pub fn react(
    m: &mut Model,
    caller: Caller,
    full: &str,
    id: &str,
    body: &Value,
) -> Result<Response, Response> {
    let user = bot(m);
    let reaction_id = m.next_id();
    let content = body["content"].as_str().unwrap_or("").to_owned();
    let comment = comment_mut(m, caller, full, id)?;
    let json = |r: &model::Reaction| {
        json!({
            "id": r.id, "node_id": format!("REA_fake{}", r.id), "user": user_json(&r.user),
            "content": r.content, "created_at": "2024-01-01T00:00:00Z",
        })
    };
    if let Some(existing) = comment
        .reactions
        .iter()
        .find(|r| r.user == user && r.content == content)
    {
        return Ok((StatusCode::OK, axum::Json(json(existing))).into_response());
    }
    let reaction = model::Reaction {
        id: reaction_id,
        user,
        content,
    };
    let value = json(&reaction);
    comment.reactions.push(reaction);
    Ok((StatusCode::CREATED, axum::Json(value)).into_response())
}
