//! What goes over the wire: request bodies bosun sends and the parts of answers it reads.

use http::{HeaderMap, header};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::github::{
    CheckRunSpec, CheckStatus, Conclusion, GitHubError, MergeableState, PrState, PullRequestInfo,
};

/// Where GitHub's GraphQL API is: `/graphql` on github.com's API host, `/api/graphql` on GitHub
/// Enterprise Server (whose REST API is under `/api/v3`).
pub(super) fn graphql_url(api_url: &str) -> String {
    match api_url.strip_suffix("/api/v3") {
        Some(host) => format!("{host}/api/graphql"),
        None => format!("{api_url}/graphql"),
    }
}

pub(super) fn decode<T: serde::de::DeserializeOwned>(
    what: &str,
    body: &[u8],
) -> Result<T, GitHubError> {
    serde_json::from_slice(body).map_err(|e| GitHubError::Decode {
        what: what.into(),
        message: e.to_string(),
    })
}

/// GitHub's `message`, cut short; never the whole body.
pub(super) fn error_message(body: &[u8]) -> String {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| "no message".into());
    message.chars().take(300).collect()
}

pub(super) fn transport_message(e: &dyn std::fmt::Display) -> String {
    e.to_string().chars().take(300).collect()
}

/// Hides a comment (by GraphQL node id) as outdated.
pub(super) const MINIMIZE_COMMENT: &str = "mutation($id: ID!) { minimizeComment(input: {subjectId: $id, classifier: OUTDATED}) { minimizedComment { isMinimized } } }";

/// GitHub's limit on a check run's summary and text.
pub(super) const CHECK_OUTPUT_MAX: usize = 65_535;

/// Pages of a paginated list read at most.
pub(super) const MAX_PAGES: u32 = 20;

pub(super) fn check_run_body(check: &CheckRunSpec, create: bool) -> Value {
    let cut = |s: &str| -> String {
        if s.len() <= CHECK_OUTPUT_MAX {
            return s.to_owned();
        }
        let mut end = CHECK_OUTPUT_MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s[..end].to_owned()
    };
    let mut output = json!({ "title": cut(&check.title), "summary": cut(&check.summary) });
    if let Some(text) = &check.text {
        output["text"] = json!(cut(text));
    }
    let mut body = json!({ "name": check.name, "output": output });
    if create {
        body["head_sha"] = json!(check.head_sha);
    }
    if let Some(id) = &check.external_id {
        body["external_id"] = json!(id);
    }
    match check.status {
        CheckStatus::Queued => body["status"] = json!("queued"),
        CheckStatus::InProgress => body["status"] = json!("in_progress"),
        CheckStatus::Completed(c) => {
            body["status"] = json!("completed");
            body["conclusion"] = json!(match c {
                Conclusion::Success => "success",
                Conclusion::Failure => "failure",
                Conclusion::Neutral => "neutral",
                Conclusion::Cancelled => "cancelled",
                Conclusion::ActionRequired => "action_required",
            });
        }
    }
    body
}

/// Whether a `Link` header has a `rel="next"` page.
pub(super) fn has_next(headers: &HeaderMap) -> bool {
    headers
        .get(header::LINK)
        .and_then(|l| l.to_str().ok())
        .is_some_and(|l| l.split(',').any(|part| part.contains("rel=\"next\"")))
}

/// The `cursor` of the `rel="next"` link, if any.
pub(super) fn next_cursor(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(header::LINK)?.to_str().ok()?;
    link.split(',')
        .find(|part| part.contains("rel=\"next\""))
        .and_then(|part| {
            let url = part
                .split(';')
                .next()?
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>');
            let query = url.split_once('?')?.1;
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix("cursor="))
                .map(str::to_owned)
        })
}

#[derive(Deserialize)]
struct Branch {
    sha: String,
    #[serde(rename = "ref")]
    name: String,
}

/// A pull request as `GET /repos/{o}/{r}/pulls/{n}` answers it, the fields bosun reads.
#[derive(Deserialize)]
pub(super) struct Pull {
    number: u64,
    state: String,
    #[serde(default)]
    merged: bool,
    #[serde(default)]
    draft: bool,
    mergeable: Option<bool>,
    mergeable_state: Option<String>,
    head: Branch,
    base: Branch,
    user: Option<Login>,
}

/// A user as GitHub's answers name one.
#[derive(Deserialize)]
pub(super) struct Login {
    pub(super) login: String,
}

impl Pull {
    pub(super) fn into_info(self) -> PullRequestInfo {
        PullRequestInfo {
            number: self.number,
            state: match (self.state.as_str(), self.merged) {
                (_, true) => PrState::Merged,
                ("open", false) => PrState::Open,
                _ => PrState::Closed,
            },
            draft: self.draft,
            mergeable: self.mergeable,
            mergeable_state: MergeableState::parse(self.mergeable_state.as_deref().unwrap_or("")),
            head_sha: self.head.sha,
            head_ref: self.head.name,
            base_sha: self.base.sha,
            base_ref: self.base.name,
            author: self.user.map(|u| u.login).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_cursor_from_link_header() {
        let mut h = HeaderMap::new();
        h.insert(
            header::LINK,
            "<https://api.github.com/app/hook/deliveries?per_page=100&cursor=v1_12077215967>; rel=\"next\"".parse().unwrap(),
        );
        assert_eq!(next_cursor(&h).as_deref(), Some("v1_12077215967"));
        h.insert(
            header::LINK,
            "<https://x/y?page=1>; rel=\"prev\"".parse().unwrap(),
        );
        assert_eq!(next_cursor(&h), None);
        assert_eq!(next_cursor(&HeaderMap::new()), None);
    }

    #[test]
    fn graphql_lives_next_to_the_rest_api() {
        assert_eq!(
            graphql_url("https://api.github.com"),
            "https://api.github.com/graphql"
        );
        assert_eq!(
            graphql_url("https://ghe.example.com/api/v3"),
            "https://ghe.example.com/api/graphql"
        );
        assert_eq!(
            graphql_url("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/graphql"
        );
    }

    #[test]
    fn error_messages_are_short_and_only_the_message() {
        assert_eq!(
            error_message(br#"{"message":"Bad credentials","documentation_url":"x"}"#),
            "Bad credentials"
        );
        assert_eq!(error_message(b"<html>"), "no message");
        assert_eq!(
            error_message(format!(r#"{{"message":"{}"}}"#, "a".repeat(1000)).as_bytes()).len(),
            300
        );
    }
}
