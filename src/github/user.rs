//! GitHub as a signed-in person sees it: the OAuth web flow's code exchange, who the token
//! belongs to (`GET /user`) and what they may do on a repository (`GET /repos/{repo}`'s
//! `permissions`). These go through the same [`GitHub`] client as the App's calls, as the
//! person ([`Auth::Token`]). Tokens travel only in headers and bodies, never in a URL or an
//! error.

use http::Method;
use serde::Deserialize;
use serde_json::json;

use super::request::{Auth, Budget, Request, Resend, Target};
use super::{GitHub, GitHubError, Permission};
use crate::config::Secret;

/// A signed-in GitHub user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubUser {
    pub login: String,
    pub id: u64,
}

/// What bosun asks GitHub for a person: the App's OAuth client on the web host, and the
/// person's token on the API.
pub struct UserGitHub {
    github: GitHub,
    web_url: String,
    client_id: String,
    client_secret: Secret,
}

impl UserGitHub {
    pub fn new(github: GitHub, web_url: &str, client_id: &str, client_secret: &Secret) -> Self {
        Self {
            github,
            web_url: web_url.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.clone(),
        }
    }

    /// `GET path` as the person with `token`.
    fn get(what: &'static str, path: String, token: &Secret) -> Request {
        Request::get(what, path, Auth::Token(token.clone()))
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

impl UserGitHub {
    /// Exchanges an OAuth code for the user's token.
    pub async fn exchange_code(&self, code: &str, redirect_uri: &str) -> anyhow::Result<Secret> {
        let form = json!({
            "client_id": self.client_id,
            "client_secret": self.client_secret.expose(),
            "code": code,
            "redirect_uri": redirect_uri,
        });
        let request = Request {
            what: "the code exchange",
            method: Method::POST,
            target: Target::Web(format!("{}/login/oauth/access_token", self.web_url)),
            auth: Auth::None,
            body: Some(form),
            // A code is spent once: never sent again after GitHub may have got it.
            resend: Resend::IfNotReceived,
            budget: Budget::App,
        };
        let answer: TokenAnswer = self
            .github
            .send(request)
            .await
            .map_err(|e| anyhow::anyhow!(short(&e)))?
            .decode("the code exchange")
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

    /// Whose token it is.
    pub async fn user(&self, token: &Secret) -> anyhow::Result<GitHubUser> {
        let request = Self::get("GET /user", "/user".into(), token);
        let user: UserAnswer = self
            .github
            .send(request)
            .await
            .map_err(|e| anyhow::anyhow!(short(&e)))?
            .decode("GET /user")
            .map_err(|_| anyhow::anyhow!("GitHub's answer to GET /user is not a user"))?;
        Ok(GitHubUser {
            login: user.login,
            id: user.id,
        })
    }

    /// The user's permission on `repo` (`owner/name`); `None` when GitHub hides it from them.
    pub async fn permission(&self, token: &Secret, repo: &str) -> anyhow::Result<Permission> {
        let request = Self::get("GET /repos/{repo}", format!("/repos/{repo}"), token);
        let answer = match self.github.send(request).await {
            Err(e) if matches!(e.status(), Some(403 | 404)) => return Ok(Permission::None),
            other => other.map_err(|e| anyhow::anyhow!(short(&e)))?,
        };
        let answer: RepoAnswer = answer
            .decode("GET /repos/{repo}")
            .map_err(|_| anyhow::anyhow!("GitHub's answer to GET /repos/{repo} is not a repo"))?;
        Ok(highest(&answer.permissions.unwrap_or_default()))
    }
}

/// A failed call in words: GitHub's status or why it could not be reached (no token is ever
/// in a [`GitHubError`]).
fn short(e: &GitHubError) -> String {
    match e {
        GitHubError::Status { status, what, .. } => format!("GitHub answered {status} to {what}"),
        other => other.to_string(),
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
