//! Credentials: a request as the App carries the App's JWT, one as an installation carries
//! the installation's token (fetched once and cached until 5 minutes before it expires; read
//! tokens narrowed to one repository cached apart). When GitHub refuses an installation's
//! token (401: revoked or expired early), it is forgotten and the request sent once more with
//! a new one. Answers [`Target::Token`] requests from the same cache.

use std::sync::Arc;

use http::Method;
use serde_json::json;

use crate::config::{GitHubSettings, Secret};
use crate::github::GitHubError;
use crate::github::app::{AppAuth, InstallationToken, TokenCache};
use crate::github::client::installation_token;
use crate::github::request::{Answer, Auth, Request, Service, Target};

pub struct Credentials {
    inner: Arc<dyn Service>,
    app: AppAuth,
    tokens: TokenCache,
    /// Read-only tokens narrowed to one repository, by (installation, lower-cased `owner/name`).
    repo_tokens: TokenCache<(u64, String)>,
}

impl Credentials {
    pub fn new(inner: Arc<dyn Service>, settings: &GitHubSettings) -> anyhow::Result<Self> {
        Ok(Self {
            inner,
            app: AppAuth::new(settings.app_id, &settings.app_key_pem)?,
            tokens: TokenCache::default(),
            repo_tokens: TokenCache::default(),
        })
    }

    /// The App's JWT.
    fn jwt(&self, what: &'static str) -> Result<Secret, GitHubError> {
        self.app.jwt().map_err(|e| GitHubError::Transport {
            what: what.into(),
            message: e.to_string(),
        })
    }

    /// Asks GitHub for an installation token; `read_only` (`owner/name`) narrows it to reading
    /// that repository's contents, `None` gives every repository and permission of the
    /// installation.
    async fn fetch(
        &self,
        installation_id: u64,
        read_only: Option<&str>,
    ) -> Result<InstallationToken, GitHubError> {
        let what = if read_only.is_some() {
            "creating a repository read token"
        } else {
            "creating an installation token"
        };
        let mut request = Request::app(
            what,
            Method::POST,
            format!("/app/installations/{installation_id}/access_tokens"),
        );
        if let Some(repo) = read_only {
            // GitHub takes the names of repositories of the installation's account.
            let name = repo.split_once('/').map_or(repo, |(_, name)| name);
            request.body =
                Some(json!({ "repositories": [name], "permissions": { "contents": "read" } }));
        }
        request.auth = Auth::Token(self.jwt(what)?);
        installation_token(what, &self.inner.send(request).await?.body)
    }

    async fn installation_token(&self, id: u64) -> Result<InstallationToken, GitHubError> {
        self.tokens.get(id, || self.fetch(id, None)).await
    }

    /// The token `request.auth` stands for, narrowed to reading `read_only` if given.
    async fn token(
        &self,
        request: &Request,
        read_only: Option<&str>,
    ) -> Result<Answer, GitHubError> {
        let token = match (&request.auth, read_only) {
            (Auth::Installation(id), None) => self.installation_token(*id).await?,
            (Auth::Installation(id), Some(repo)) => {
                if !repo.contains('/') {
                    return Err(GitHubError::Status {
                        status: 404,
                        what: request.what.into(),
                        message: "not an owner/name repository".into(),
                    });
                }
                self.repo_tokens
                    .get((*id, repo.to_ascii_lowercase()), || {
                        self.fetch(*id, Some(repo))
                    })
                    .await?
            }
            _ => {
                return Err(GitHubError::Transport {
                    what: request.what.into(),
                    message: "only an installation has tokens".into(),
                });
            }
        };
        Ok(Answer::json(&json!({
            "token": token.token.expose(),
            "expires_at": humantime::format_rfc3339_seconds(token.expires_at).to_string(),
        })))
    }
}

#[async_trait::async_trait]
impl Service for Credentials {
    async fn send(&self, mut request: Request) -> Result<Answer, GitHubError> {
        if let Target::Token { read_only } = &request.target {
            return self.token(&request, read_only.as_deref()).await;
        }
        let installation = match request.auth {
            Auth::App => {
                request.auth = Auth::Token(self.jwt(request.what)?);
                return self.inner.send(request).await;
            }
            Auth::Installation(id) => id,
            Auth::None | Auth::Token(_) => return self.inner.send(request).await,
        };
        let mut refreshed = false;
        loop {
            let token = self.installation_token(installation).await?.token;
            let mut attempt = request.clone();
            attempt.auth = Auth::Token(token);
            match self.inner.send(attempt).await {
                // The cached token was revoked or expired early: get a new one, once.
                Err(e) if e.status() == Some(401) && !refreshed => {
                    self.tokens.forget(&installation);
                    refreshed = true;
                }
                outcome => return outcome,
            }
        }
    }
}
