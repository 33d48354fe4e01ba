//! A GitHub call as a value: what it is for, where it goes, as whom, with what body, whether
//! it may be sent again and which budget it spends. Every call bosun makes is a [`Request`]
//! sent through one [`Service`]: the layers under `layer/` wrap the transport, and the typed
//! helpers under `client/` build requests and decode their [`Answer`]s.

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde_json::Value;

use super::GitHubError;
use crate::config::Secret;

/// One call to GitHub.
#[derive(Clone)]
pub struct Request {
    /// What the call is for, in words ("creating a comment"): errors and logs name it.
    pub what: &'static str,
    pub method: Method,
    pub target: Target,
    pub auth: Auth,
    /// A JSON body (a form for [`Target::Web`]).
    pub body: Option<Value>,
    pub resend: Resend,
    pub budget: Budget,
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A REST path, starting with `/`, joined to the API URL.
    Rest(String),
    /// GitHub's GraphQL endpoint; the body holds the query and its variables.
    GraphQl,
    /// A whole URL on GitHub's web host (the OAuth code exchange); the body is sent as a form.
    Web(String),
    /// No HTTP call of its own: the token the request's `auth` stands for, as `{"token",
    /// "expires_at"}` (the credentials layer answers it). With `read_only`, a token that can
    /// only read the contents of that repository (`owner/name`).
    Token { read_only: Option<String> },
}

/// Whom a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Nobody (the OAuth code exchange carries its client in the body).
    None,
    /// The App itself, with its JWT.
    App,
    /// An installation of the App, with its installation token.
    Installation(u64),
    /// A token as is: a signed-in person's OAuth token, or what the credentials layer
    /// resolved `App` and `Installation` to.
    Token(Secret),
}

/// Whether a request may be sent again after a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resend {
    /// A read or an edit: any number of times.
    Always,
    /// A create: again only when GitHub certainly did not get it (the connection was never
    /// made, or a rate limit refused it).
    IfNotReceived,
    /// A create that, after an answer leaving open whether GitHub made it, is looked for and
    /// sent again only when it is not there (the `unique` layer).
    IfNotMade(Lookup),
}

/// How to look for what a create would have made. What to match (the comment's body, the
/// check run's name, `external_id` and commit, the issue's title and first label) is read
/// from the request's own body, so it is the body as sent (redacted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A comment by a bot with the same body on issue `number` of `repo`.
    Comment { repo: String, number: u64 },
    /// A check run of the same name and `external_id` on the same commit of `repo`.
    CheckRun { repo: String },
    /// An open issue with the same title and first label in `repo`.
    Issue { repo: String },
}

/// Which budget a request spends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Budget {
    /// A read: not paced.
    Read,
    /// A call outside GitHub's content-creation limit (the App's own endpoints, tokens, the
    /// OAuth exchange): not paced.
    App,
    /// A write: paced. Waiting writes with the same key are coalesced (the newest replaces
    /// the others, which count as done).
    Write { key: Option<String> },
}

/// GitHub's answer: any status (layers below the retry layer pass errors on as answers).
#[derive(Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Its purpose, method, target and whom it acts as, not its body: a body may hold a secret
/// (the OAuth exchange's client secret).
impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("what", &self.what)
            .field("method", &self.method)
            .field("target", &self.target)
            .field("auth", &self.auth)
            .field("has_body", &self.body.is_some())
            .finish_non_exhaustive()
    }
}

/// Its status and size only: an answer may hold a token.
impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("status", &self.status)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl Answer {
    /// A 200 with a JSON body (what an in-memory transport answers).
    pub fn json(body: &Value) -> Self {
        Self::with_status(StatusCode::OK, body)
    }

    pub fn with_status(status: StatusCode, body: &Value) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_string()),
        }
    }

    /// The answer to a write that a newer write of its key replaced before it ran.
    pub fn superseded() -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(SUPERSEDED, http::HeaderValue::from_static("1"));
        Self {
            status: StatusCode::NO_CONTENT,
            headers,
            body: Bytes::new(),
        }
    }

    /// Whether the write never ran: a newer one of its key carries its content.
    pub fn is_superseded(&self) -> bool {
        self.headers.contains_key(SUPERSEDED)
    }

    /// The body as `T`.
    pub fn decode<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, GitHubError> {
        decode(what, &self.body)
    }
}

/// The header the pacing layer marks a superseded write's answer with (never sent to GitHub).
const SUPERSEDED: &str = "x-bosun-superseded";

/// `body` as `T`, or a [`GitHubError::Decode`] naming `what`.
pub fn decode<T: serde::de::DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, GitHubError> {
    serde_json::from_slice(body).map_err(|e| GitHubError::Decode {
        what: what.into(),
        message: e.to_string(),
    })
}

impl Request {
    fn new(what: &'static str, method: Method, target: Target, auth: Auth) -> Self {
        Self {
            what,
            method,
            target,
            auth,
            body: None,
            resend: Resend::Always,
            budget: Budget::Read,
        }
    }

    /// `GET path` as `auth`.
    pub fn get(what: &'static str, path: impl Into<String>, auth: Auth) -> Self {
        Self::new(what, Method::GET, Target::Rest(path.into()), auth)
    }

    /// A write (`method` on `path`) as installation `installation_id`: paced, unkeyed.
    pub fn write(
        what: &'static str,
        method: Method,
        path: impl Into<String>,
        installation_id: u64,
        body: Option<Value>,
    ) -> Self {
        let mut r = Self::new(
            what,
            method,
            Target::Rest(path.into()),
            Auth::Installation(installation_id),
        );
        r.body = body;
        r.budget = Budget::Write { key: None };
        r
    }

    /// A call to the App's own endpoints (`method` on `path` with the App's JWT).
    pub fn app(what: &'static str, method: Method, path: impl Into<String>) -> Self {
        let mut r = Self::new(what, method, Target::Rest(path.into()), Auth::App);
        r.budget = Budget::App;
        r
    }

    /// A GraphQL query (a read) as the installation.
    pub fn graphql(
        what: &'static str,
        installation_id: u64,
        query: &str,
        variables: Value,
    ) -> Self {
        let mut r = Self::new(
            what,
            Method::POST,
            Target::GraphQl,
            Auth::Installation(installation_id),
        );
        r.body = Some(serde_json::json!({ "query": query, "variables": variables }));
        r
    }

    /// Coalesces this write with waiting writes of the same `key`.
    pub fn keyed(mut self, key: String) -> Self {
        self.budget = Budget::Write { key: Some(key) };
        self
    }

    pub fn resend(mut self, resend: Resend) -> Self {
        self.resend = resend;
        self
    }

    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// The installation whose budget a write spends.
    pub fn installation(&self) -> Option<u64> {
        match self.auth {
            Auth::Installation(id) => Some(id),
            _ => None,
        }
    }
}

/// Something that answers requests: a layer around another service, or a transport.
///
/// A small trait of our own rather than tower's `Service`: every layer is shared (`&self`)
/// by concurrent callers, needs no readiness (`poll_ready`) and awaits inside its call, which
/// an `async fn` says plainly; tower would add boxing, cloning and `poll_ready` to each.
#[async_trait]
pub trait Service: Send + Sync + 'static {
    async fn send(&self, request: Request) -> Result<Answer, GitHubError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_prints_its_status_not_its_body() {
        let answer = Answer::json(&serde_json::json!({ "token": "ghs_secret0123456789" }));
        let printed = format!("{answer:?}");
        assert!(
            printed.contains("200") && !printed.contains("ghs_"),
            "{printed}"
        );
        let request = Request::get(
            "reading",
            "/user",
            Auth::Token(Secret::new("gho_abcdef0123")),
        );
        assert!(!format!("{request:?}").contains("gho_"));
        let mut exchange = request.clone();
        exchange.body = Some(serde_json::json!({ "client_secret": "cs_0123456789" }));
        let printed = format!("{exchange:?}");
        assert!(
            printed.contains("/user") && !printed.contains("cs_0"),
            "{printed}"
        );
    }

    #[test]
    fn a_superseded_answer_is_a_success_that_says_so() {
        let answer = Answer::superseded();
        assert!(answer.status.is_success() && answer.is_superseded());
        assert!(!Answer::json(&serde_json::json!({})).is_superseded());
    }
}
