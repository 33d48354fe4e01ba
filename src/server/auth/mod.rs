//! Who is asking: the operator (`Authorization: Bearer <BOSUN_API_TOKEN>`) or a person signed
//! in with GitHub (a sealed session cookie), as the [`Viewer`] extractor; what a person may
//! see and do on a repository (GitHub's answer with their token, cached briefly); the CSRF
//! check of state changes; and the sign-in routes (`oauth`).

pub mod access;
pub mod oauth;
pub mod session;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};

use self::access::AccessCache;
use self::session::{CookieKeys, CookiePolicy, SESSION_COOKIE, Session};
use super::AppState;
use super::api::{Refusal, refuse};
use crate::config::Secret;
use crate::github::Permission;
use crate::github::user::UserGitHub;

/// The header a signed-in person's state changes carry their CSRF token in (a form may carry
/// it as the field `csrf` instead).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Sign-in with GitHub, when BOSUN_GITHUB_OAUTH_CLIENT_ID is set.
pub struct Auth {
    pub keys: CookieKeys,
    pub cookies: CookiePolicy,
    pub client_id: String,
    /// GitHub's web base URL (where `/login/oauth/authorize` is).
    pub web_url: String,
    /// BOSUN_PUBLIC_URL, without a trailing slash.
    pub public_url: String,
    pub github: Arc<UserGitHub>,
    pub access: AccessCache,
    /// Who may switch the global apply lock (BOSUN_APPLY_LOCK_ADMINS), lower case.
    pub apply_lock_admins: Vec<String>,
}

impl Auth {
    pub fn new(
        settings: &crate::config::OAuthSettings,
        public_url: &str,
        github: Arc<UserGitHub>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            keys: CookieKeys::derive(&settings.client_secret)?,
            cookies: CookiePolicy::for_public_url(public_url),
            client_id: settings.client_id.clone(),
            web_url: settings.web_url.clone(),
            public_url: public_url.trim_end_matches('/').to_owned(),
            github,
            access: AccessCache::default(),
            apply_lock_admins: settings.apply_lock_admins.clone(),
        })
    }

    /// Where GitHub sends the browser back to.
    pub fn redirect_uri(&self) -> String {
        format!("{}/oauth/callback", self.public_url)
    }

    /// The session the request's cookie holds, if it is one bosun sealed and has not expired.
    pub fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let text = session::cookie(headers, SESSION_COOKIE)?;
        self.keys.open(SESSION_COOKIE, text, now_seconds())
    }
}

/// Seconds since the epoch.
pub fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Who asks: the operator with the API token, or a signed-in person.
#[derive(Debug, Clone)]
pub enum Viewer {
    Operator,
    User(Session),
}

/// Why a request has no viewer.
#[derive(Debug)]
pub enum NoViewer {
    /// Neither a token nor a session: a page sends the browser to sign in.
    Missing,
    /// Refused outright (a wrong token, or the API is off).
    Refused(Refusal),
}

impl NoViewer {
    /// The API's answer: 401 (with `WWW-Authenticate`) when credentials are missing.
    pub fn refusal(self, state: &AppState) -> Refusal {
        match self {
            Self::Refused(r) => r,
            Self::Missing if state.auth.is_some() => refuse(
                StatusCode::UNAUTHORIZED,
                "sign in at /login, or send `Authorization: Bearer <BOSUN_API_TOKEN>`",
            ),
            Self::Missing => refuse(
                StatusCode::UNAUTHORIZED,
                "missing `Authorization: Bearer <BOSUN_API_TOKEN>`",
            ),
        }
    }
}

/// The viewer of a request: a bearer token decides alone (right or refused); without one, a
/// valid session cookie.
pub fn viewer_of(state: &AppState, headers: &HeaderMap) -> Result<Viewer, NoViewer> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.strip_prefix("Bearer ").unwrap_or("").trim());
    if state.api_token.is_none() && state.auth.is_none() {
        return Err(NoViewer::Refused(refuse(
            StatusCode::FORBIDDEN,
            "bosun's API is off: set BOSUN_API_TOKEN (or sign-in with GitHub) to turn it on",
        )));
    }
    if let Some(given) = bearer {
        return match &state.api_token {
            Some(token) if same(given.as_bytes(), token.expose().as_bytes()) => {
                Ok(Viewer::Operator)
            }
            _ => Err(NoViewer::Refused(refuse(
                StatusCode::UNAUTHORIZED,
                "the API token is not valid",
            ))),
        };
    }
    match state.auth.as_ref().and_then(|auth| auth.session(headers)) {
        Some(session) => Ok(Viewer::User(session)),
        None => Err(NoViewer::Missing),
    }
}

/// Compares the digests of `a` and `b` in time independent of where they differ (`subtle`);
/// comparing digests, not the bytes, also hides how long the expected token is.
fn same(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    Sha256::digest(a)[..].ct_eq(&Sha256::digest(b)[..]).into()
}

impl FromRequestParts<Arc<AppState>> for Viewer {
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        viewer_of(state, &parts.headers).map_err(|e| e.refusal(state))
    }
}

impl Viewer {
    /// How comments and logs name them.
    pub fn name(&self) -> String {
        match self {
            Self::Operator => "the operator (API token)".into(),
            Self::User(s) => format!("@{}", s.login),
        }
    }

    /// Who they are in the audit trail: the operator's token, or the person's GitHub login.
    pub fn actor(&self) -> crate::audit::Actor {
        match self {
            Self::Operator => crate::audit::Actor::ApiToken(crate::audit::OPERATOR.into()),
            Self::User(s) => crate::audit::Actor::Github(s.login.clone()),
        }
    }

    /// Whether they may switch the global apply lock: the operator, or a person
    /// BOSUN_APPLY_LOCK_ADMINS names.
    pub fn may_switch_apply_lock(&self, state: &AppState) -> bool {
        match self {
            Self::Operator => true,
            Self::User(s) => state
                .auth
                .as_ref()
                .is_some_and(|a| a.apply_lock_admins.contains(&s.login.to_ascii_lowercase())),
        }
    }

    /// Only those who [`Viewer::may_switch_apply_lock`]: anyone else gets 403.
    pub fn require_apply_lock_admin(&self, state: &AppState) -> Result<(), Refusal> {
        if self.may_switch_apply_lock(state) {
            return Ok(());
        }
        Err(refuse(
            StatusCode::FORBIDDEN,
            format!(
                "the global apply lock is switched by the operator and BOSUN_APPLY_LOCK_ADMINS; \
                 {} is not among them",
                self.name()
            ),
        ))
    }

    /// Only the operator: a person gets 403.
    pub fn operator_only(&self, what: &str) -> Result<(), Refusal> {
        match self {
            Self::Operator => Ok(()),
            Self::User(s) => Err(refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "{what} is for the operator (BOSUN_API_TOKEN); {} is signed in",
                    s.login
                ),
            )),
        }
    }

    /// Their permission on `repo`: the operator has every one; a person what GitHub says
    /// with their token (cached for a minute).
    pub async fn permission(&self, state: &AppState, repo: &str) -> Result<Permission, Refusal> {
        let Self::User(session) = self else {
            return Ok(Permission::Admin);
        };
        // A session opens only with sign-in on; without it, nothing is granted.
        let Some(auth) = state.auth.as_ref() else {
            return Ok(Permission::None);
        };
        if let Some(p) = auth.access.get(&session.login, repo) {
            return Ok(p);
        }
        let token = Secret::new(session.token.clone());
        match auth.github.permission(&token, repo).await {
            Ok(p) => {
                auth.access.put(&session.login, repo, p);
                Ok(p)
            }
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), repo, login = %session.login,
                    "asking GitHub what a signed-in user may see failed");
                Err(refuse(
                    StatusCode::BAD_GATEWAY,
                    "GitHub did not say whether you can read the repository; try again",
                ))
            }
        }
    }

    /// Whether they may read `repo`: a person who cannot gets 404, as GitHub hides it.
    pub async fn require_read(&self, state: &AppState, repo: &str) -> Result<(), Refusal> {
        if self.permission(state, repo).await? >= Permission::Read {
            Ok(())
        } else {
            Err(refuse(
                StatusCode::NOT_FOUND,
                format!("no repository {repo}, or you cannot read it"),
            ))
        }
    }

    /// A person's state change must carry their CSRF token (header `X-CSRF-Token`, or the
    /// form field `csrf` given as `form_token`); the operator's needs none.
    pub fn require_csrf(
        &self,
        state: &AppState,
        headers: &HeaderMap,
        form_token: Option<&str>,
    ) -> Result<(), Refusal> {
        let Self::User(session) = self else {
            return Ok(());
        };
        let given = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .or(form_token);
        match (given, state.auth.as_ref()) {
            (Some(token), Some(auth)) if auth.keys.csrf_ok(session, token) => Ok(()),
            (None, _) => Err(refuse(
                StatusCode::FORBIDDEN,
                "a change by a signed-in user needs its CSRF token (header X-CSRF-Token or form field csrf)",
            )),
            _ => Err(refuse(StatusCode::FORBIDDEN, "the CSRF token is not valid")),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_is_equality_of_bytes() {
        assert!(super::same(b"token", b"token"));
        assert!(super::same(b"", b""));
        assert!(!super::same(b"token", b"tokem"));
        assert!(!super::same(b"token", b"token2"));
        assert!(!super::same(b"token", b""));
    }
}
