//! The fake's installation listings: the App's installations (JWT), the repositories an
//! installation token reaches, and the installation of a repository (JWT).

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::model::{self, Installation, Model, Repo, TokenScope};
use super::{Caller, FakeGitHub, error, page_of, require_app, scope};

/// A repository as `GET /repos/{o}/{r}` and the listings show it; `clone_url` is where the
/// fake's git server serves it.
pub fn repo_json(base_url: &str, r: &Repo) -> Value {
    let full = r.full_name();
    json!({
        "id": r.id, "node_id": format!("R_fake{}", r.id), "name": r.name, "full_name": full,
        "private": r.private, "owner": { "login": r.owner }, "default_branch": r.default_branch,
        "html_url": format!("{base_url}/{full}"),
        "clone_url": format!("{base_url}/git/{full}.git"),
    })
}

fn installation_json(m: &Model, i: &Installation) -> Value {
    json!({
        "id": i.id, "app_id": m.app_id, "target_type": "Organization",
        "account": { "login": i.account, "type": "Organization" },
        "repository_selection": "selected", "permissions": scope::app_permissions(),
        "events": ["pull_request", "issue_comment"],
    })
}

/// `GET /app/installations`, paginated.
pub fn list(m: &Model, caller: Caller, uri: &Uri) -> Result<Response, Response> {
    require_app(caller)?;
    let all: Vec<Value> = m
        .installations
        .values()
        .map(|i| installation_json(m, i))
        .collect();
    Ok(super::paginate(uri, all))
}

/// `GET /installation/repositories`: the installation's repositories the token reaches, as
/// `{ total_count, repositories }`, paginated.
pub fn repositories(
    m: &Model,
    caller: Caller,
    scope: &TokenScope,
    uri: &Uri,
    base_url: &str,
) -> Result<Response, Response> {
    let Caller::Installation(id) = caller else {
        return Err(error(
            StatusCode::FORBIDDEN,
            "An installation token is required for this endpoint",
        ));
    };
    let all: Vec<Value> = m
        .installations
        .get(&id)
        .map(|i| {
            i.repos
                .iter()
                .filter(|name| scope.covers(name))
                .filter_map(|name| m.repo(name))
                .map(|r| repo_json(base_url, r))
                .collect()
        })
        .unwrap_or_default();
    let (items, link) = page_of(uri, &all);
    let mut response =
        axum::Json(json!({ "total_count": all.len(), "repositories": items })).into_response();
    if let Some(link) = link {
        response.headers_mut().insert("link", link.parse().unwrap());
    }
    Ok(response)
}

/// `GET /repos/{o}/{r}/installation`: 404 when the App is not installed on it.
pub fn of_repo(m: &Model, caller: Caller, full: &str) -> Result<Response, Response> {
    require_app(caller)?;
    let installation = m
        .installation_of(full)
        .filter(|_| m.repo(full).is_some())
        .and_then(|id| m.installations.get(&id))
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "Not Found"))?;
    Ok(axum::Json(installation_json(m, installation)).into_response())
}

impl FakeGitHub {
    /// Adds installation `id` on `account` (without repositories) if it is not there yet.
    pub fn add_installation(&self, id: u64, account: &str) {
        self.model()
            .installations
            .entry(id)
            .or_insert_with(|| model::Installation {
                id,
                account: account.into(),
                repos: Default::default(),
            });
    }
}
