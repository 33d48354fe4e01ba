//! Sign-in with GitHub's OAuth web flow: `GET /login` sends the browser to GitHub with a
//! random `state` (also sealed in a short-lived cookie), `GET /oauth/callback` checks the
//! state, exchanges the code for the person's token, asks GitHub who they are and sets the
//! session cookie; `POST /logout` (with the CSRF token) ends it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::session::{
    SESSION_COOKIE, SESSION_SECONDS, STATE_COOKIE, STATE_SECONDS, Session, SignIn,
};
use super::{Auth, Viewer, now_seconds, viewer_of};
use crate::server::AppState;
use crate::server::api::{Refusal, refuse};

/// The longest `next` path kept.
const MAX_NEXT: usize = 512;

/// A path on this site to return to: starts with one `/`, no scheme, host or backslash, no
/// control character; else `/`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.len() <= MAX_NEXT
                && !n.chars().any(char::is_control) =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn auth(state: &AppState) -> Result<&Arc<Auth>, Refusal> {
    state.auth.as_ref().ok_or_else(|| {
        refuse(
            StatusCode::NOT_FOUND,
            "sign-in with GitHub is off: set BOSUN_GITHUB_OAUTH_CLIENT_ID and _SECRET",
        )
    })
}

/// A 303 to `location` setting `cookies`.
fn see_other(location: &str, cookies: &[String]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, v);
    }
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            headers.append(header::SET_COOKIE, v);
        }
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn failed(e: anyhow::Error, doing: &str) -> Refusal {
    tracing::warn!(error = format!("{e:#}"), "{doing} failed");
    refuse(
        StatusCode::BAD_GATEWAY,
        format!("{doing} failed; start again at /login"),
    )
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// `GET /login?next=/path`: to GitHub's authorize page.
pub async fn login(
    State(state): State<Arc<AppState>>,
    Query(query): Query<LoginQuery>,
) -> Result<Response, Refusal> {
    let auth = auth(&state)?;
    let sign_in = SignIn {
        state: auth
            .keys
            .random_hex(16)
            .map_err(|e| failed(e, "starting sign-in"))?,
        next: safe_next(query.next.as_deref()),
        expires: now_seconds() + STATE_SECONDS,
    };
    let sealed = auth
        .keys
        .seal(STATE_COOKIE, &sign_in)
        .map_err(|e| failed(e, "starting sign-in"))?;
    let params = serde_urlencoded::to_string([
        ("client_id", auth.client_id.as_str()),
        ("redirect_uri", auth.redirect_uri().as_str()),
        ("state", sign_in.state.as_str()),
        ("allow_signup", "false"),
    ])
    .map_err(|e| failed(e.into(), "starting sign-in"))?;
    let location = format!("{}/login/oauth/authorize?{params}", auth.web_url);
    Ok(see_other(
        &location,
        &[auth
            .cookies
            .set_cookie(STATE_COOKIE, &sealed, STATE_SECONDS)],
    ))
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /oauth/callback?code=…&state=…`: GitHub sends the browser back here.
pub async fn callback(
    State(state): State<Arc<AppState>>,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let auth = auth(&state)?;
    if let Some(error) = query.error {
        let error: String = error.chars().take(100).collect();
        return Err(refuse(
            StatusCode::FORBIDDEN,
            format!("GitHub did not sign you in ({error}); start again at /login"),
        ));
    }
    let sign_in: Option<SignIn> = super::session::cookie(&headers, STATE_COOKIE)
        .and_then(|text| auth.keys.open(STATE_COOKIE, text, now_seconds()));
    let (Some(sign_in), Some(given)) = (sign_in, query.state.as_deref()) else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "this sign-in did not start here or took too long; start again at /login",
        ));
    };
    if !super::same(sign_in.state.as_bytes(), given.as_bytes()) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "the sign-in's state does not match; start again at /login",
        ));
    }
    let code = query.code.unwrap_or_default();
    if code.is_empty()
        || code.len() > 256
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "the callback has no valid `code`",
        ));
    }
    let token = auth
        .github
        .exchange_code(&code, &auth.redirect_uri())
        .await
        .map_err(|e| failed(e, "exchanging GitHub's code"))?;
    let user = auth
        .github
        .user(&token)
        .await
        .map_err(|e| failed(e, "asking GitHub who signed in"))?;
    let session = Session {
        login: user.login,
        user_id: user.id,
        token: token.expose().to_owned(),
        sid: auth
            .keys
            .random_hex(16)
            .map_err(|e| failed(e, "starting a session"))?,
        expires: now_seconds() + SESSION_SECONDS,
    };
    let sealed = auth
        .keys
        .seal(SESSION_COOKIE, &session)
        .map_err(|e| failed(e, "starting a session"))?;
    tracing::info!(login = %session.login, "signed in with GitHub");
    Ok(see_other(
        &sign_in.next,
        &[
            auth.cookies
                .set_cookie(SESSION_COOKIE, &sealed, SESSION_SECONDS),
            auth.cookies.set_cookie(STATE_COOKIE, "", 0),
        ],
    ))
}

#[derive(Debug, Deserialize, Default)]
struct LogoutForm {
    csrf: Option<String>,
}

/// `POST /logout` (form field `csrf` or header `X-CSRF-Token`): the session cookie goes.
pub async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    let auth = auth(&state)?;
    let form: LogoutForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    match viewer_of(&state, &headers) {
        Ok(viewer @ Viewer::User(_)) => {
            viewer.require_csrf(&state, &headers, form.csrf.as_deref())?;
            if let Viewer::User(s) = &viewer {
                tracing::info!(login = %s.login, "signed out");
            }
        }
        Ok(Viewer::Operator) => {}
        Err(e) => return Err(e.refusal(&state)),
    }
    Ok(see_other(
        "/",
        &[auth.cookies.set_cookie(SESSION_COOKIE, "", 0)],
    ))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_paths_on_this_site_are_returned_to() {
        assert_eq!(safe_next(Some("/api/locks?x=1")), "/api/locks?x=1");
        for bad in [
            "https://evil.example",
            "//evil.example/x",
            "/\\evil.example",
            "",
            "x",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some(&format!("/{}", "a".repeat(600)))), "/");
    }
}
