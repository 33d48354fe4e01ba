//! A GitHub that lives in memory, for `bosun preview`: a transport that answers requests as
//! GitHub would for what the preview does. Comments are kept to be printed, check runs and
//! issues are kept, and the token is a placeholder (the preview's git remote is a local path).
//! It has no installations; everything else answers that it is not there.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use http::Method;
use serde_json::{Value, json};

use super::request::{Answer, Request, Service, Target};
use super::{GitHub, GitHubError};

/// What `bosun preview` would have posted.
#[derive(Debug, Default)]
pub struct LocalGitHub {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Comments by id (from 1), in posting order, with edits applied.
    comments: Vec<(u64, String)>,
    /// Check runs' bodies as last written, by id (from 1).
    checks: Vec<Value>,
    /// Issues as GitHub lists them, numbered from 1 in order.
    issues: Vec<Value>,
    /// A clock for issues' `updated_at`.
    updates: u64,
}

/// The bot login the preview's comments are by.
const BOT: &str = "bosun[bot]";

impl LocalGitHub {
    /// A client over a new in-memory GitHub, and that GitHub to look at.
    pub fn client() -> (GitHub, Arc<LocalGitHub>) {
        let local = Arc::new(LocalGitHub::default());
        (GitHub::over(local.clone()), local)
    }

    /// The comments' bodies, in posting order, with edits applied.
    pub fn comments(&self) -> Vec<String> {
        self.lock()
            .comments
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// Every check run's body as last written.
    pub fn checks(&self) -> Vec<Value> {
        self.lock().checks.clone()
    }

    /// Every issue as last written, by number.
    pub fn issues(&self) -> Vec<Value> {
        self.lock().issues.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn absent(what: &str, message: &str) -> GitHubError {
    GitHubError::Transport {
        what: what.to_owned(),
        message: message.to_owned(),
    }
}

fn not_found(what: &str) -> GitHubError {
    GitHubError::Status {
        status: 404,
        what: what.into(),
        message: "Not Found".into(),
    }
}

impl State {
    fn answer(&mut self, request: &Request) -> Result<Value, GitHubError> {
        let what = request.what;
        let body = request.body.clone().unwrap_or_default();
        let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let path = match &request.target {
            Target::Token { .. } => {
                let expires = SystemTime::now() + Duration::from_secs(3600);
                return Ok(json!({
                    "token": "preview",
                    "expires_at": humantime::format_rfc3339_seconds(expires).to_string(),
                }));
            }
            Target::GraphQl if text("query").contains("minimizeComment") => {
                return Ok(json!({ "data": { "minimizeComment": {
                    "minimizedComment": { "isMinimized": true } } } }));
            }
            Target::GraphQl => {
                return Ok(json!({ "data": { "repository": { "pullRequest": {
                    "reviewDecision": null, "commits": { "nodes": [] } } } } }));
            }
            Target::Web(_) => return Err(absent(what, "bosun preview runs without GitHub")),
            Target::Rest(path) => path.split('?').next().unwrap_or_default().to_owned(),
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let number = |s: &str| s.parse::<u64>().unwrap_or_default();
        let m = &request.method;
        Ok(match (m, segments.as_slice()) {
            (&Method::GET, ["app"]) => json!({ "slug": "bosun" }),
            (&Method::GET, ["app", "hook", "deliveries"] | ["app", "installations"]) => json!([]),
            (&Method::GET, ["installation", "repositories"]) => json!({ "repositories": [] }),
            (&Method::GET, ["repos", _, _, "installation"]) => return Err(not_found(what)),
            (&Method::POST, ["repos", _, _, "issues", _, "comments"]) => {
                let id = self.comments.len() as u64 + 1;
                self.comments.push((id, text("body")));
                json!({ "id": id, "node_id": format!("local-{id}") })
            }
            (&Method::GET, ["repos", _, _, "issues", _, "comments"]) => self
                .comments
                .iter()
                .map(|(id, body)| {
                    json!({ "id": id, "node_id": format!("local-{id}"), "body": body,
                        "user": { "login": BOT, "type": "Bot" } })
                })
                .collect(),
            (&Method::PATCH, ["repos", _, _, "issues", "comments", id]) => {
                let comment = self.comments.iter_mut().find(|(i, _)| *i == number(id));
                let Some(comment) = comment else {
                    return Err(not_found(what));
                };
                comment.1 = text("body");
                json!({})
            }
            (&Method::POST, ["repos", _, _, "issues", "comments", _, "reactions"]) => json!({}),
            (&Method::POST, ["repos", _, _, "check-runs"]) => {
                self.checks.push(body);
                json!({ "id": self.checks.len() })
            }
            (&Method::PATCH, ["repos", _, _, "check-runs", id]) => {
                if let Some(check) = self.checks.get_mut(number(id).saturating_sub(1) as usize) {
                    *check = body;
                }
                json!({})
            }
            (&Method::GET, ["repos", _, _, "pulls", _, "reviews"]) => json!([]),
            (&Method::GET, ["repos", _, _, "collaborators", _, "permission"]) => {
                json!({ "permission": "admin", "role_name": "admin" })
            }
            (&Method::GET, ["orgs", _, "teams", _, "memberships", _]) => {
                json!({ "state": "active" })
            }
            (&Method::PUT, ["repos", _, _, "pulls", _, "merge"]) => {
                return Err(absent(what, "bosun preview does not merge pull requests"));
            }
            (&Method::DELETE, ["repos", _, _, "git", "refs", ..]) => {
                return Err(absent(what, "bosun preview does not delete branches"));
            }
            (&Method::GET, ["repos", _, _, "issues"]) => Value::Array(self.issues.clone()),
            (&Method::POST, ["repos", _, _, "issues"]) => {
                let number = self.issues.len() as u64 + 1;
                let updated_at = self.tick();
                self.issues.push(json!({
                    "number": number, "state": "open", "title": text("title"),
                    "body": text("body"), "labels": body.get("labels").cloned().unwrap_or_default(),
                    "user": { "login": BOT, "type": "Bot" }, "updated_at": updated_at,
                }));
                json!({ "number": number })
            }
            (&Method::PATCH, ["repos", _, _, "issues", n]) => {
                let updated_at = self.tick();
                let issue = self.issues.iter_mut().find(|i| i["number"] == number(n));
                let Some(issue) = issue else {
                    return Err(not_found(what));
                };
                for field in ["body", "state"] {
                    if let Some(v) = body.get(field) {
                        issue[field] = v.clone();
                    }
                }
                issue["updated_at"] = json!(updated_at);
                json!({})
            }
            _ => return Err(absent(what, "bosun preview runs without GitHub")),
        })
    }

    /// The next `updated_at`: later than every one before.
    fn tick(&mut self) -> String {
        self.updates += 1;
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(self.updates);
        humantime::format_rfc3339_seconds(at).to_string()
    }
}

#[async_trait]
impl Service for LocalGitHub {
    async fn send(&self, request: Request) -> Result<Answer, GitHubError> {
        let body = self.lock().answer(&request)?;
        Ok(Answer::json(&body))
    }
}
