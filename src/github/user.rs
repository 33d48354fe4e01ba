//! GitHub as a signed-in person sees it: the OAuth web flow's code exchange, who the token
//! belongs to (`GET /user`) and what they may do on a repository (`GET /repos/{repo}`'s
//! `permissions`). Tokens travel only in headers and bodies, never in a URL or an error.

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use super::Permission;
use crate::config::Secret;

const TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an answer read: these answers are small.
const MAX_ANSWER: usize = 1 << 20;
const USER_AGENT: &str = concat!("bosun/", env!("CARGO_PKG_VERSION"));

/// A signed-in GitHub user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubUser {
    pub login: String,
    pub id: u64,
}

/// What bosun asks GitHub for a person.
#[async_trait]
pub trait UserGitHub: Send + Sync + 'static {
    /// Exchanges an OAuth code for the user's token.
    async fn exchange_code(&self, code: &str, redirect_uri: &str) -> anyhow::Result<Secret>;
    /// Whose token it is.
    async fn user(&self, token: &Secret) -> anyhow::Result<GitHubUser>;
    /// The user's permission on `repo` (`owner/name`); `None` when GitHub hides it from them.
    async fn permission(&self, token: &Secret, repo: &str) -> anyhow::Result<Permission>;
}

/// [`UserGitHub`] over HTTPS: the web URL for the exchange, the API URL for the rest.
pub struct HttpUserGitHub {
    web_url: String,
    api_url: String,
    client_id: String,
    client_secret: Secret,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpUserGitHub {
    pub fn new(
        web_url: &str,
        api_url: &str,
        client_id: &str,
        client_secret: &Secret,
    ) -> anyhow::Result<Self> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .context("setting up TLS for GitHub sign-in")?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            web_url: web_url.trim_end_matches('/').to_owned(),
            api_url: api_url.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.clone(),
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// Sends `request`; the status and at most [`MAX_ANSWER`] bytes of the body.
    async fn send(
        &self,
        request: http::Request<Full<Bytes>>,
        what: &str,
    ) -> anyhow::Result<(http::StatusCode, Bytes)> {
        let response = tokio::time::timeout(TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| anyhow::anyhow!("GitHub did not answer {what} within 10 s"))?
            .map_err(|_| anyhow::anyhow!("could not reach GitHub for {what}"))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|_| anyhow::anyhow!("reading GitHub's answer to {what} failed"))?
            .to_bytes();
        Ok((status, body))
    }

    fn api_get(&self, path: &str, token: &Secret) -> anyhow::Result<http::Request<Full<Bytes>>> {
        http::Request::get(format!("{}{path}", self.api_url))
            .header(http::header::USER_AGENT, USER_AGENT)
            .header(http::header::ACCEPT, "application/vnd.github+json")
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", token.expose()),
            )
            .header("x-github-api-version", "2022-11-28")
            .body(Full::new(Bytes::new()))
            .map_err(|_| anyhow::anyhow!("building a request to GitHub failed"))
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct UserAnswer {
    login: String,
    id: u64,
}

#[derive(Deserialize, Default)]
struct Permissions {
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    maintain: bool,
    #[serde(default)]
    push: bool,
    #[serde(default)]
    triage: bool,
    #[serde(default)]
    pull: bool,
}

#[derive(Deserialize)]
struct RepoAnswer {
    #[serde(default)]
    permissions: Option<Permissions>,
}

/// The highest role a repository's `permissions` object grants.
fn highest(p: &Permissions) -> Permission {
    if p.admin {
        Permission::Admin
    } else if p.maintain {
        Permission::Maintain
    } else if p.push {
        Permission::Write
    } else if p.triage {
        Permission::Triage
    } else if p.pull {
        Permission::Read
    } else {
        Permission::None
    }
}

#[async_trait]
impl UserGitHub for HttpUserGitHub {
    async fn exchange_code(&self, code: &str, redirect_uri: &str) -> anyhow::Result<Secret> {
        let form = serde_urlencoded::to_string([
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ])
        .context("encoding the code exchange")?;
        let request = http::Request::post(format!("{}/login/oauth/access_token", self.web_url))
            .header(http::header::USER_AGENT, USER_AGENT)
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(Full::new(Bytes::from(form)))
            .map_err(|_| anyhow::anyhow!("building the code exchange failed"))?;
        let (status, body) = self.send(request, "the code exchange").await?;
        anyhow::ensure!(
            status.is_success(),
            "GitHub answered {status} to the code exchange"
        );
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|_| anyhow::anyhow!("GitHub's answer to the code exchange is not JSON"))?;
        match (answer.access_token, answer.error) {
            (Some(token), None) if !token.is_empty() => Ok(Secret::new(token)),
            (_, Some(error)) => anyhow::bail!(
                "GitHub refused the code: {error} ({})",
                answer.error_description.unwrap_or_default()
            ),
            _ => anyhow::bail!("GitHub's answer to the code exchange has no token"),
        }
    }

    async fn user(&self, token: &Secret) -> anyhow::Result<GitHubUser> {
        let (status, body) = self
            .send(self.api_get("/user", token)?, "GET /user")
            .await?;
        anyhow::ensure!(status.is_success(), "GitHub answered {status} to GET /user");
        let user: UserAnswer = serde_json::from_slice(&body)
            .map_err(|_| anyhow::anyhow!("GitHub's answer to GET /user is not a user"))?;
        Ok(GitHubUser {
            login: user.login,
            id: user.id,
        })
    }

    async fn permission(&self, token: &Secret, repo: &str) -> anyhow::Result<Permission> {
        let path = format!("/repos/{repo}");
        let (status, body) = self
            .send(self.api_get(&path, token)?, "GET /repos/{repo}")
            .await?;
        if matches!(status.as_u16(), 403 | 404) {
            return Ok(Permission::None);
        }
        anyhow::ensure!(
            status.is_success(),
            "GitHub answered {status} to GET /repos/{repo}"
        );
        let answer: RepoAnswer = serde_json::from_slice(&body)
            .map_err(|_| anyhow::anyhow!("GitHub's answer to GET /repos/{repo} is not a repo"))?;
        Ok(highest(&answer.permissions.unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_role_wins() {
        let p = |json: &str| highest(&serde_json::from_str(json).unwrap());
        assert_eq!(p(r#"{"admin":true,"pull":true}"#), Permission::Admin);
        assert_eq!(p(r#"{"maintain":true,"push":true}"#), Permission::Maintain);
        assert_eq!(p(r#"{"push":true,"pull":true}"#), Permission::Write);
        assert_eq!(p(r#"{"triage":true,"pull":true}"#), Permission::Triage);
        assert_eq!(p(r#"{"pull":true}"#), Permission::Read);
        assert_eq!(p("{}"), Permission::None);
    }
}
