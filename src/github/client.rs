//! The real [`GitHub`]: octocrab as the HTTP client against `BOSUN_GITHUB_API_URL`, our own
//! App authentication and token cache, and one retry policy for every call.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use serde::Deserialize;
use serde_json::{Value, json};

use self::wire::{
    Login, MAX_PAGES, MERGE_REQUIREMENTS, MINIMIZE_COMMENT, Merged, Pull, check_run_body, decode,
    error_message, graphql_url, has_next, merge_requirements, next_cursor, requirements_page,
    transport_message,
};
use super::app::{AppAuth, InstallationToken, TokenCache};
use super::retry::{Decision, RetryPolicy};
use super::{
    CheckRunSpec, CommentRef, GitHub, GitHubError, HookDelivery, HookDeliveryPage, IssueInfo,
    IssueUpdate, MergeMethod, MergeRequirements, Permission, PullRequestInfo, Reaction, RepoInfo,
    ReviewInfo,
};
use crate::config::{GitHubSettings, Secret};
use crate::event::ReviewState;
use crate::metrics::Metrics;

mod listing;
mod unique;
mod wire;

/// No single request waits longer than this for GitHub's answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const USER_AGENT: &str = concat!("bosun/", env!("CARGO_PKG_VERSION"));

/// Whether a request may be sent again after a failure. Whether it may is part of the
/// request: a read or an edit may be sent any number of times; a create only when GitHub
/// certainly did not get it (the connection was never made, or a rate limit refused it).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resend {
    Always,
    IfNotReceived,
}

#[derive(Clone, Copy)]
enum Auth {
    App,
    Installation(u64),
}

/// A request that got no answer: why, and whether GitHub may have received it anyway.
struct SendFailure {
    message: String,
    maybe_sent: bool,
}

/// Whether a transport error happened before any byte of the request left: the connection
/// was never made (refused, unresolvable, TLS refused).
fn never_connected(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(h) = c.downcast_ref::<hyper_util::client::legacy::Error>()
            && h.is_connect()
        {
            return true;
        }
        cause = c.source();
    }
    false
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// The real [`GitHub`] client.
pub struct OctocrabGitHub {
    octo: Octocrab,
    api_url: String,
    graphql_url: String,
    app: AppAuth,
    tokens: TokenCache,
    /// Read-only tokens narrowed to one repository, by (installation, lower-cased `owner/name`).
    repo_tokens: TokenCache<(u64, String)>,
    retry: RetryPolicy,
    metrics: Arc<Metrics>,
    /// How long one request (sending it, then reading its answer) may take.
    request_timeout: Duration,
}

impl OctocrabGitHub {
    pub fn new(
        settings: &GitHubSettings,
        retry: RetryPolicy,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let octo = Octocrab::builder()
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(REQUEST_TIMEOUT))
            .build()
            .map_err(|e| anyhow::anyhow!("building the GitHub client: {e}"))?;
        let api_url = settings.api_url.trim_end_matches('/').to_owned();
        Ok(Self {
            octo,
            graphql_url: graphql_url(&api_url),
            api_url,
            app: AppAuth::new(settings.app_id, &settings.app_key_pem)?,
            tokens: TokenCache::default(),
            repo_tokens: TokenCache::default(),
            retry,
            metrics,
            request_timeout: REQUEST_TIMEOUT,
        })
    }

    /// The client with requests cut off after `timeout` instead of 30 s (for tests of
    /// GitHub hanging).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout.min(REQUEST_TIMEOUT);
        self
    }

    /// Sends one API call with retries. `path` starts with `/` and is joined to the API URL.
    async fn call(
        &self,
        what: &str,
        method: Method,
        path: &str,
        auth: Auth,
        body: Option<&Value>,
    ) -> Result<Answer, GitHubError> {
        let url = format!("{}{}", self.api_url, path);
        self.call_url(what, method, &url, auth, body, Resend::Always)
            .await
    }

    /// Sends one request to `url` with retries and token refresh. With `Resend::IfNotReceived`
    /// an answer that leaves open whether GitHub acted (a server error, a timeout, a dropped
    /// connection) is returned at once as an error, for the caller to look before resending.
    #[tracing::instrument(level = "debug", name = "github", skip_all, fields(method = %method, what))]
    async fn call_url(
        &self,
        what: &str,
        method: Method,
        url: &str,
        auth: Auth,
        body: Option<&Value>,
        resend: Resend,
    ) -> Result<Answer, GitHubError> {
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let credential = match auth {
                Auth::App => self.app.jwt().map_err(|e| GitHubError::Transport {
                    what: what.into(),
                    message: e.to_string(),
                })?,
                Auth::Installation(id) => self.installation_token(id).await?.token,
            };
            let outcome = self.send_once(&method, url, &credential, body).await;
            self.metrics
                .github_status(outcome.as_ref().ok().map(|a| a.status.as_u16()));
            if let (Ok(answer), Auth::Installation(id)) = (&outcome, auth)
                && answer.status == StatusCode::UNAUTHORIZED
                && !refreshed
            {
                // The cached token was revoked or expired early: get a new one, once.
                self.tokens.forget(&id);
                refreshed = true;
                continue;
            }
            let decision = self.retry.decide(
                attempt,
                outcome.as_ref().ok().map(|a| (a.status, &a.headers)),
                SystemTime::now(),
            );
            let maybe_received = match &outcome {
                Ok(answer) => answer.status.is_server_error(),
                Err(failure) => failure.maybe_sent,
            };
            let decision = match decision {
                Decision::RetryAfter(_) if resend == Resend::IfNotReceived && maybe_received => {
                    Decision::GiveUp
                }
                decision => decision,
            };
            let outcome = outcome.map_err(|f| f.message);
            match (decision, outcome) {
                (Decision::RetryAfter(wait), outcome) => {
                    let status = outcome.as_ref().map(|a| a.status.as_u16()).ok();
                    tracing::warn!(
                        what,
                        ?status,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "GitHub call failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                (Decision::GiveUpRateLimited(retry_in), _) => {
                    return Err(GitHubError::RateLimited {
                        what: what.into(),
                        retry_in,
                    });
                }
                (_, Err(message)) => {
                    return Err(GitHubError::Transport {
                        what: what.into(),
                        message,
                    });
                }
                (_, Ok(answer)) if answer.status.is_success() => return Ok(answer),
                (_, Ok(answer)) => {
                    return Err(GitHubError::Status {
                        status: answer.status.as_u16(),
                        what: what.into(),
                        message: error_message(&answer.body),
                    });
                }
            }
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &str,
        credential: &Secret,
        body: Option<&Value>,
    ) -> Result<Answer, SendFailure> {
        let unsent = |message: String| SendFailure {
            message,
            maybe_sent: false,
        };
        let mut auth = header::HeaderValue::from_str(&format!("Bearer {}", credential.expose()))
            .map_err(|_| unsent("credential is not a valid header value".to_owned()))?;
        auth.set_sensitive(true);
        let builder = http::Request::builder()
            .method(method.clone())
            .uri(url)
            .header(header::AUTHORIZATION, auth)
            .header(header::ACCEPT, "application/vnd.github+json")
            .header(header::USER_AGENT, USER_AGENT)
            .header("x-github-api-version", "2022-11-28");
        let request = self
            .octo
            .build_request(builder, body)
            .map_err(|e| unsent(format!("building the request: {e}")))?;
        let sent = |message: String| SendFailure {
            message,
            maybe_sent: true,
        };
        let response = tokio::time::timeout(self.request_timeout, self.octo.execute(request))
            .await
            .map_err(|_| sent("timed out".to_owned()))?
            .map_err(|e| SendFailure {
                message: transport_message(&e),
                maybe_sent: !never_connected(&e),
            })?;
        let (parts, body) = response.into_parts();
        let body = tokio::time::timeout(self.request_timeout, body.collect())
            .await
            .map_err(|_| sent("timed out reading the answer".to_owned()))?
            .map_err(|e| sent(transport_message(&e)))?
            .to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// GETs `path` as the installation and decodes the answer.
    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
        installation_id: u64,
    ) -> Result<T, GitHubError> {
        let answer = self
            .call(
                what,
                Method::GET,
                path,
                Auth::Installation(installation_id),
                None,
            )
            .await?;
        decode(what, &answer.body)
    }

    /// Runs a GraphQL query or mutation as the installation and returns its `data`. GitHub
    /// answers GraphQL errors with status 200 and an `errors` list: those are failures too.
    async fn graphql(
        &self,
        what: &str,
        installation_id: u64,
        query: &str,
        variables: Value,
    ) -> Result<Value, GitHubError> {
        #[derive(Deserialize)]
        struct Problem {
            #[serde(rename = "type")]
            kind: Option<String>,
            #[serde(default)]
            message: String,
        }
        #[derive(Deserialize)]
        struct Reply {
            #[serde(default)]
            data: Value,
            #[serde(default)]
            errors: Vec<Problem>,
        }
        let body = json!({ "query": query, "variables": variables });
        let answer = self
            .call_url(
                what,
                Method::POST,
                &self.graphql_url,
                Auth::Installation(installation_id),
                Some(&body),
                Resend::Always,
            )
            .await?;
        let reply: Reply = decode(what, &answer.body)?;
        if let Some(first) = reply.errors.into_iter().next() {
            return Err(GitHubError::GraphQl {
                what: what.into(),
                kind: first.kind,
                message: first.message.chars().take(300).collect(),
            });
        }
        Ok(reply.data)
    }

    /// Asks GitHub for an installation token; `scope` (a body with `repositories` and
    /// `permissions`) narrows it, `None` gives every repository and permission of the
    /// installation.
    async fn fetch_installation_token(
        &self,
        installation_id: u64,
        scope: Option<&Value>,
    ) -> Result<InstallationToken, GitHubError> {
        #[derive(Deserialize)]
        struct TokenAnswer {
            token: String,
            expires_at: String,
        }
        let what = if scope.is_some() {
            "creating a repository read token"
        } else {
            "creating an installation token"
        };
        let path = format!("/app/installations/{installation_id}/access_tokens");
        let answer = self
            .call(what, Method::POST, &path, Auth::App, scope)
            .await?;
        let parsed: TokenAnswer = decode(what, &answer.body)?;
        let expires_at =
            humantime::parse_rfc3339_weak(&parsed.expires_at).map_err(|e| GitHubError::Decode {
                what: what.into(),
                message: format!("expires_at: {e}"),
            })?;
        Ok(InstallationToken {
            token: Secret::new(parsed.token),
            expires_at,
        })
    }
}

#[async_trait]
impl GitHub for OctocrabGitHub {
    async fn installation_token(
        &self,
        installation_id: u64,
    ) -> Result<InstallationToken, GitHubError> {
        self.tokens
            .get(installation_id, || {
                self.fetch_installation_token(installation_id, None)
            })
            .await
    }

    async fn repo_read_token(
        &self,
        installation_id: u64,
        repo: &str,
    ) -> Result<InstallationToken, GitHubError> {
        let Some((_, name)) = repo.split_once('/') else {
            return Err(GitHubError::Status {
                status: 404,
                what: "creating a repository read token".into(),
                message: "not an owner/name repository".into(),
            });
        };
        // GitHub takes the names of repositories of the installation's account.
        let scope = json!({ "repositories": [name], "permissions": { "contents": "read" } });
        self.repo_tokens
            .get((installation_id, repo.to_ascii_lowercase()), || {
                self.fetch_installation_token(installation_id, Some(&scope))
            })
            .await
    }

    async fn hook_deliveries(&self, cursor: Option<&str>) -> Result<HookDeliveryPage, GitHubError> {
        let what = "listing the App's webhook deliveries";
        let mut path = "/app/hook/deliveries?per_page=100".to_owned();
        if let Some(cursor) = cursor {
            let cursor: String = cursor
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "_-=".contains(*c))
                .collect();
            path.push_str(&format!("&cursor={cursor}"));
        }
        let answer = self.call(what, Method::GET, &path, Auth::App, None).await?;
        let deliveries: Vec<HookDelivery> = decode(what, &answer.body)?;
        Ok(HookDeliveryPage {
            deliveries,
            next_cursor: next_cursor(&answer.headers),
        })
    }

    async fn app_slug(&self) -> Result<String, GitHubError> {
        #[derive(Deserialize)]
        struct App {
            slug: String,
        }
        let what = "reading the App";
        let answer = self
            .call(what, Method::GET, "/app", Auth::App, None)
            .await?;
        Ok(decode::<App>(what, &answer.body)?.slug)
    }

    async fn redeliver(&self, delivery_id: i64) -> Result<(), GitHubError> {
        let path = format!("/app/hook/deliveries/{delivery_id}/attempts");
        self.call(
            "asking for a redelivery",
            Method::POST,
            &path,
            Auth::App,
            None,
        )
        .await?;
        Ok(())
    }

    async fn create_comment(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        body: &str,
    ) -> Result<CommentRef, GitHubError> {
        self.create_comment_once(installation_id, repo, number, body)
            .await
    }

    async fn comments_by(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        author: &str,
        prefix: &str,
    ) -> Result<Vec<CommentRef>, GitHubError> {
        self.list_comments_by(installation_id, repo, number, author, prefix)
            .await
    }

    async fn update_comment(
        &self,
        installation_id: u64,
        repo: &str,
        comment_id: u64,
        body: &str,
    ) -> Result<(), GitHubError> {
        let path = format!("/repos/{repo}/issues/comments/{comment_id}");
        self.call(
            "updating a comment",
            Method::PATCH,
            &path,
            Auth::Installation(installation_id),
            Some(&json!({ "body": body })),
        )
        .await?;
        Ok(())
    }

    async fn minimize_comment(
        &self,
        installation_id: u64,
        node_id: &str,
    ) -> Result<(), GitHubError> {
        let what = "minimizing a comment";
        let data = self
            .graphql(
                what,
                installation_id,
                MINIMIZE_COMMENT,
                json!({ "id": node_id }),
            )
            .await?;
        let minimized = data
            .pointer("/minimizeComment/minimizedComment/isMinimized")
            .and_then(Value::as_bool);
        match minimized {
            Some(true) => Ok(()),
            _ => Err(GitHubError::Decode {
                what: what.into(),
                message: "the answer does not say the comment is minimized".into(),
            }),
        }
    }

    async fn add_reaction(
        &self,
        installation_id: u64,
        repo: &str,
        comment_id: u64,
        content: Reaction,
    ) -> Result<(), GitHubError> {
        let path = format!("/repos/{repo}/issues/comments/{comment_id}/reactions");
        // 201 for a new reaction, 200 when this App had already reacted so.
        self.call(
            "reacting to a comment",
            Method::POST,
            &path,
            Auth::Installation(installation_id),
            Some(&json!({ "content": content.as_str() })),
        )
        .await?;
        Ok(())
    }

    async fn pull_request(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
    ) -> Result<PullRequestInfo, GitHubError> {
        let what = "reading a pull request";
        let path = format!("/repos/{repo}/pulls/{number}");
        Ok(self
            .read::<Pull>(what, &path, installation_id)
            .await?
            .into_info())
    }

    async fn create_check_run(
        &self,
        installation_id: u64,
        repo: &str,
        check: &CheckRunSpec,
    ) -> Result<u64, GitHubError> {
        self.create_check_run_once(installation_id, repo, check)
            .await
    }

    async fn update_check_run(
        &self,
        installation_id: u64,
        repo: &str,
        id: u64,
        check: &CheckRunSpec,
    ) -> Result<(), GitHubError> {
        let path = format!("/repos/{repo}/check-runs/{id}");
        let body = check_run_body(check, false);
        self.call(
            "updating a check run",
            Method::PATCH,
            &path,
            Auth::Installation(installation_id),
            Some(&body),
        )
        .await?;
        Ok(())
    }

    async fn reviews(
        &self,
        installation_id: u64,
        repo: &str,
        pr: u64,
    ) -> Result<Vec<ReviewInfo>, GitHubError> {
        #[derive(Deserialize)]
        struct Review {
            id: u64,
            user: Option<Login>,
            state: String,
            commit_id: Option<String>,
        }
        let what = "listing reviews";
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let path = format!("/repos/{repo}/pulls/{pr}/reviews?per_page=100&page={page}");
            let answer = self
                .call(
                    what,
                    Method::GET,
                    &path,
                    Auth::Installation(installation_id),
                    None,
                )
                .await?;
            let reviews: Vec<Review> = decode(what, &answer.body)?;
            all.extend(reviews.into_iter().map(|r| ReviewInfo {
                id: r.id,
                user: r.user.map(|u| u.login).unwrap_or_else(|| "ghost".into()),
                state: match r.state.as_str() {
                    "APPROVED" => ReviewState::Approved,
                    "CHANGES_REQUESTED" => ReviewState::ChangesRequested,
                    "DISMISSED" => ReviewState::Dismissed,
                    _ => ReviewState::Commented,
                },
                commit_id: r.commit_id,
            }));
            if !has_next(&answer.headers) {
                break;
            }
        }
        Ok(all)
    }

    async fn permission(
        &self,
        installation_id: u64,
        repo: &str,
        user: &str,
    ) -> Result<Permission, GitHubError> {
        #[derive(Deserialize)]
        struct Answer {
            permission: String,
            role_name: Option<String>,
        }
        let what = "reading a collaborator's permission";
        if !user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '[' || c == ']')
        {
            return Err(GitHubError::Status {
                status: 404,
                what: what.into(),
                message: "not a GitHub login".into(),
            });
        }
        let path = format!("/repos/{repo}/collaborators/{user}/permission");
        let a: Answer = match self.read(what, &path, installation_id).await {
            Err(e) if e.status() == Some(404) => return Ok(Permission::None),
            other => other?,
        };
        // `role_name` knows maintain and triage; `permission` is the legacy admin/write/read/none.
        Ok(match a.role_name.as_deref().unwrap_or(&a.permission) {
            "admin" => Permission::Admin,
            "maintain" => Permission::Maintain,
            "write" => Permission::Write,
            "triage" => Permission::Triage,
            "read" => Permission::Read,
            _ => Permission::None,
        })
    }

    async fn team_member(
        &self,
        installation_id: u64,
        org: &str,
        team_slug: &str,
        user: &str,
    ) -> Result<bool, GitHubError> {
        #[derive(Deserialize)]
        struct Membership {
            state: String,
        }
        let what = "reading a team membership";
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        };
        if !(name_ok(org) && name_ok(team_slug) && name_ok(user)) {
            // Nothing GitHub could answer about: not a member.
            return Ok(false);
        }
        let path = format!("/orgs/{org}/teams/{team_slug}/memberships/{user}");
        match self.read::<Membership>(what, &path, installation_id).await {
            Ok(m) => Ok(m.state == "active"),
            // Not a member (or no such team).
            Err(e) if e.status() == Some(404) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn merge_pull_request(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        sha: &str,
        method: MergeMethod,
    ) -> Result<String, GitHubError> {
        let what = "merging a pull request";
        let path = format!("/repos/{repo}/pulls/{number}/merge");
        // `sha` makes GitHub refuse (409) a head that moved since bosun looked at it.
        let body = json!({ "sha": sha, "merge_method": method.as_str() });
        let answer = self
            .call(
                what,
                Method::PUT,
                &path,
                Auth::Installation(installation_id),
                Some(&body),
            )
            .await?;
        let merged: Merged = decode(what, &answer.body)?;
        if !merged.merged {
            return Err(GitHubError::Decode {
                what: what.into(),
                message: format!(
                    "GitHub did not merge: {}",
                    merged.message.chars().take(300).collect::<String>()
                ),
            });
        }
        Ok(merged.sha)
    }

    async fn delete_branch(
        &self,
        installation_id: u64,
        repo: &str,
        branch: &str,
    ) -> Result<(), GitHubError> {
        let what = "deleting a branch";
        // Each segment of the name is percent-encoded; its `/`s stay path separators.
        let encoded: Vec<String> = branch
            .split('/')
            .map(|s| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            })
            .collect();
        let path = format!("/repos/{repo}/git/refs/heads/{}", encoded.join("/"));
        let auth = Auth::Installation(installation_id);
        match self.call(what, Method::DELETE, &path, auth, None).await {
            Ok(_) => Ok(()),
            // "Reference does not exist": someone deleted it first.
            Err(e) if e.status() == Some(422) || e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn merge_requirements(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
    ) -> Result<MergeRequirements, GitHubError> {
        let what = "reading a pull request's merge requirements";
        let Some((owner, name)) = repo.split_once('/') else {
            return Err(GitHubError::Status {
                status: 404,
                what: what.into(),
                message: "not an owner/name repository".into(),
            });
        };
        // Every page of the head's check contexts: a failing required check on page two
        // blocks the merge as much as one on page one.
        let mut pages = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let variables =
                json!({ "owner": owner, "name": name, "number": number, "after": after });
            let data = self
                .graphql(what, installation_id, MERGE_REQUIREMENTS, variables)
                .await?;
            let page = requirements_page(what, data)?;
            after = page.next.clone();
            pages.push(page);
            if after.is_none() {
                break;
            }
        }
        Ok(merge_requirements(pages))
    }

    async fn installations(&self) -> Result<Vec<u64>, GitHubError> {
        self.list_installations().await
    }

    async fn installation_repos(&self, installation_id: u64) -> Result<Vec<RepoInfo>, GitHubError> {
        self.list_installation_repos(installation_id).await
    }

    async fn repo_installation(&self, repo: &str) -> Result<Option<u64>, GitHubError> {
        self.read_repo_installation(repo).await
    }

    async fn repository(&self, installation_id: u64, repo: &str) -> Result<RepoInfo, GitHubError> {
        self.read_repository(installation_id, repo).await
    }

    async fn find_issue(
        &self,
        installation_id: u64,
        repo: &str,
        label: &str,
        title: &str,
    ) -> Result<Option<IssueInfo>, GitHubError> {
        self.search_issue(installation_id, repo, label, title).await
    }

    async fn create_issue(
        &self,
        installation_id: u64,
        repo: &str,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> Result<u64, GitHubError> {
        self.open_issue(installation_id, repo, title, body, labels)
            .await
    }

    async fn update_issue(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        update: &IssueUpdate,
    ) -> Result<(), GitHubError> {
        self.change_issue(installation_id, repo, number, update)
            .await
    }
}
