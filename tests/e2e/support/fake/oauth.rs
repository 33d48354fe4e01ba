//! GitHub's OAuth web flow for an App's client, as a model: `GET /login/oauth/authorize`
//! signs in the user the test chose and sends the browser back with a code; `POST
//! /login/oauth/access_token` checks the client and spends the code (once) for a user token;
//! a user token reads `GET /user` and `GET /repos/{owner}/{repo}` (with the user's
//! `permissions` from the model; a repository they have no role on is hidden: 404).

use std::collections::HashMap;

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::model::Model;
use super::{error, installations};

pub const CLIENT_ID: &str = "Iv1.bosunfake0001";
pub const CLIENT_SECRET: &str = "fake-oauth-client-secret-0123456789abcdef";

/// The OAuth side of the fake.
#[derive(Debug, Default)]
pub struct OAuthModel {
    /// The App's registered callback URL: GitHub refuses a `redirect_uri` outside it.
    pub callback_url: Option<String>,
    /// Who GitHub signs in at the next authorize (as if they clicked "Authorize").
    pub next_user: Option<String>,
    /// Unspent codes → (login, redirect_uri).
    pub codes: HashMap<String, (String, String)>,
    /// User tokens → login.
    pub tokens: HashMap<String, String>,
    /// Code exchanges refused (wrong client, spent or unknown code).
    pub refused: u32,
}

fn new_secret(prefix: &str) -> String {
    format!(
        "{prefix}{:016x}{:016x}",
        fastrand::u64(..),
        fastrand::u64(..)
    )
}

fn query(uri: &Uri) -> HashMap<String, String> {
    serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or_default()
}

/// Serves the web flow's two pages; `None` for other paths.
pub fn web(m: &mut Model, method: &Method, uri: &Uri, body: &[u8]) -> Option<Response> {
    match (method.as_str(), uri.path()) {
        ("GET", "/login/oauth/authorize") => Some(authorize(m, &query(uri))),
        ("POST", "/login/oauth/access_token") => {
            let form: HashMap<String, String> =
                serde_urlencoded::from_bytes(body).unwrap_or_default();
            Some(access_token(m, &form))
        }
        _ => None,
    }
}

fn authorize(m: &mut Model, q: &HashMap<String, String>) -> Response {
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return error(StatusCode::NOT_FOUND, "unknown client_id");
    }
    let (Some(redirect), Some(state)) = (q.get("redirect_uri"), q.get("state")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "redirect_uri and state are required",
        );
    };
    if m.oauth
        .callback_url
        .as_ref()
        .is_some_and(|cb| !redirect.starts_with(cb.as_str()))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "The redirect_uri MUST match the registered callback URL for this application.",
        );
    }
    let Some(user) = m.oauth.next_user.clone() else {
        return error(
            StatusCode::UNAUTHORIZED,
            "nobody is signed in to the fake GitHub",
        );
    };
    let code = new_secret("");
    m.oauth.codes.insert(code.clone(), (user, redirect.clone()));
    let params = serde_urlencoded::to_string([("code", code.as_str()), ("state", state)]).unwrap();
    let mut r = StatusCode::FOUND.into_response();
    r.headers_mut()
        .insert("location", format!("{redirect}?{params}").parse().unwrap());
    r
}

fn access_token(m: &mut Model, form: &HashMap<String, String>) -> Response {
    let field = |k: &str| form.get(k).map(String::as_str);
    if field("client_id") != Some(CLIENT_ID) || field("client_secret") != Some(CLIENT_SECRET) {
        m.oauth.refused += 1;
        return axum::Json(json!({
            "error": "incorrect_client_credentials",
            "error_description": "The client_id and/or client_secret passed are incorrect.",
        }))
        .into_response();
    }
    let spent = field("code").and_then(|c| m.oauth.codes.remove(c));
    match spent {
        Some((login, redirect)) if field("redirect_uri").is_none_or(|r| r == redirect) => {
            let token = new_secret("gho_");
            m.oauth.tokens.insert(token.clone(), login);
            axum::Json(json!({ "access_token": token, "token_type": "bearer", "scope": "" }))
                .into_response()
        }
        _ => {
            m.oauth.refused += 1;
            axum::Json(json!({
                "error": "bad_verification_code",
                "error_description": "The code passed is incorrect or expired.",
            }))
            .into_response()
        }
    }
}

/// The login a user token belongs to.
pub fn user_of(m: &Model, headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (_, token) = value.split_once(' ')?;
    m.oauth.tokens.get(token).cloned()
}

/// GitHub's `permissions` object of a role.
fn permissions(role: &str) -> Value {
    let rank = ["read", "triage", "write", "maintain", "admin"]
        .iter()
        .position(|r| *r == role)
        .map_or(-1, |i| i as i64);
    json!({
        "pull": rank >= 0, "triage": rank >= 1, "push": rank >= 2,
        "maintain": rank >= 3, "admin": rank >= 4,
    })
}

/// A request with a user token: what the model serves to a person.
pub fn as_user(
    m: &mut Model,
    login: &str,
    method: &Method,
    path: &str,
    base_url: &str,
) -> Response {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["user"]) => {
            let id = 50_000 + login.bytes().map(u64::from).sum::<u64>();
            axum::Json(json!({ "login": login, "id": id, "type": "User" })).into_response()
        }
        ("GET", ["repos", owner, repo]) => {
            let Some(r) = m.repo(&format!("{owner}/{repo}")) else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            let role = r
                .permissions
                .iter()
                .find(|(user, _)| user.eq_ignore_ascii_case(login))
                .map(|(_, role)| role.clone());
            match role {
                Some(role) if role != "none" => {
                    let mut body = installations::repo_json(base_url, r);
                    body["permissions"] = permissions(&role);
                    axum::Json(body).into_response()
                }
                // A private repository is hidden from those without a role.
                _ => error(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        _ => {
            let v = format!("{method} {path}: the fake does not model this for user tokens");
            m.violations.push(v.clone());
            error(StatusCode::NOT_IMPLEMENTED, &v)
        }
    }
}
