//! Token scopes and teams, as GitHub has them: an installation token asked for with
//! `repositories` and `permissions` reaches only those repositories (others are hidden: 404)
//! with only those permissions (others: 403 "Resource not accessible by integration"); team
//! memberships are visible to an installation on the team's organisation.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::model::{Installation, Model, TokenScope};
use super::{Caller, error};

/// What the App was granted on every installation; a narrowed token may ask for less.
pub fn app_permissions() -> BTreeMap<String, String> {
    [
        ("checks", "write"),
        ("contents", "write"),
        ("issues", "write"),
        ("pull_requests", "write"),
        ("statuses", "write"),
        ("metadata", "read"),
        ("members", "read"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The scope a token request's body asks for, refused (422) the way GitHub refuses it.
pub fn requested(installation: &Installation, body: &Value) -> Result<TokenScope, String> {
    if body.get("repository_ids").is_some() {
        return Err("repository_ids is not modelled by the fake".into());
    }
    let repositories = match body.get("repositories") {
        None | Some(Value::Null) => None,
        Some(Value::Array(names)) => {
            let mut set = BTreeSet::new();
            for name in names {
                let full = format!("{}/{}", installation.account, name.as_str().unwrap_or(""))
                    .to_ascii_lowercase();
                if !installation.repos.contains(&full) {
                    return Err("There is at least one repository that does not exist or is not accessible to the parent installation.".into());
                }
                set.insert(full);
            }
            Some(set)
        }
        Some(_) => return Err("repositories must be an array of names".into()),
    };
    let permissions = match body.get("permissions") {
        None | Some(Value::Null) => None,
        Some(Value::Object(asked)) => {
            let granted = app_permissions();
            let mut out = BTreeMap::new();
            for (name, level) in asked {
                let level = level.as_str().unwrap_or("");
                let ok = matches!(
                    (granted.get(name).map(String::as_str), level),
                    (Some("write"), "read" | "write") | (Some("read"), "read")
                );
                if !ok {
                    return Err(
                        "The permissions requested are not granted to this installation.".into(),
                    );
                }
                out.insert(name.clone(), level.to_owned());
            }
            Some(out)
        }
        Some(_) => return Err("permissions must be an object".into()),
    };
    Ok(TokenScope {
        repositories,
        permissions,
    })
}

/// Refuses what a narrowed token may not reach: another repository (404, GitHub hides it) or
/// a permission it was not given (403).
pub fn check(scope: &TokenScope, method: &str, path: &str) -> Result<(), Response> {
    if *scope == TokenScope::default() {
        return Ok(());
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let level = if method == "GET" { "read" } else { "write" };
    let needs: (&str, &str) = match segments.as_slice() {
        ["repos", owner, repo, rest @ ..] => {
            if !scope.covers(&format!("{owner}/{repo}")) {
                return Err(error(StatusCode::NOT_FOUND, "Not Found"));
            }
            match rest {
                [] | ["collaborators", ..] => ("metadata", "read"),
                ["issues", ..] => ("issues", level),
                ["pulls", _, "merge"] => ("contents", "write"),
                ["pulls", ..] => ("pull_requests", level),
                ["check-runs", ..] | ["commits", _, "check-runs"] => ("checks", level),
                ["statuses", ..] => ("statuses", level),
                ["contents", ..] | ["git", ..] => ("contents", level),
                _ => ("administration", "write"),
            }
        }
        ["orgs", _, "teams", ..] => ("members", "read"),
        ["installation", "repositories"] => ("metadata", "read"),
        // Every GraphQL call bosun makes reads or changes pull requests and their comments.
        ["graphql"] => ("pull_requests", "write"),
        _ => ("administration", "write"),
    };
    if scope.grants(needs.0, needs.1) {
        Ok(())
    } else {
        Err(error(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        ))
    }
}

/// `GET /orgs/{org}/teams/{team_slug}/memberships/{username}`: 404 when the team or the
/// membership does not exist, or the installation is not on that organisation.
pub fn membership(
    m: &Model,
    caller: Caller,
    org: &str,
    slug: &str,
    user: &str,
) -> Result<Response, Response> {
    let not_found = || error(StatusCode::NOT_FOUND, "Not Found");
    let Caller::Installation(id) = caller else {
        return Err(error(
            StatusCode::FORBIDDEN,
            "An installation token is required for this endpoint",
        ));
    };
    let on_org = m
        .installations
        .get(&id)
        .is_some_and(|i| i.account.eq_ignore_ascii_case(org));
    if !on_org {
        return Err(not_found());
    }
    let state = m
        .teams
        .get(&format!("{org}/{slug}").to_ascii_lowercase())
        .and_then(|members| members.get(&user.to_ascii_lowercase()))
        .ok_or_else(not_found)?;
    Ok(axum::Json(json!({
        "url": format!("https://api.github.com/organizations/1/team/1/memberships/{user}"),
        "role": "member",
        "state": state,
    }))
    .into_response())
}
