//! What goes over the wire: request bodies bosun sends and the parts of answers it reads.

use http::{HeaderMap, header};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::github::{
    CheckRunSpec, CheckStatus, Conclusion, GitHubError, MergeRequirements, MergeableState, PrState,
    PullRequestInfo, RequiredCheck, ReviewDecision,
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
                Conclusion::Skipped => "skipped",
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
    /// `null` when the repository (a fork) was deleted.
    repo: Option<FullName>,
}

#[derive(Deserialize)]
struct FullName {
    full_name: String,
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
    merge_commit_sha: Option<String>,
}

/// A user as GitHub's answers name one.
#[derive(Deserialize)]
pub(super) struct Login {
    pub(super) login: String,
}

impl Pull {
    pub(super) fn into_info(self) -> PullRequestInfo {
        let state = match (self.state.as_str(), self.merged) {
            (_, true) => PrState::Merged,
            ("open", false) => PrState::Open,
            _ => PrState::Closed,
        };
        let from_fork = match (&self.head.repo, &self.base.repo) {
            (Some(head), Some(base)) => !head.full_name.eq_ignore_ascii_case(&base.full_name),
            _ => true,
        };
        PullRequestInfo {
            from_fork,
            number: self.number,
            state,
            // Before a merge GitHub fills it with a test merge commit; bosun has no use for that.
            merge_commit_sha: self.merge_commit_sha.filter(|_| state == PrState::Merged),
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

/// The answer to `PUT /repos/{o}/{r}/pulls/{n}/merge`.
#[derive(Deserialize)]
pub(super) struct Merged {
    pub(super) sha: String,
    pub(super) merged: bool,
    #[serde(default)]
    pub(super) message: String,
}

/// A pull request's review decision and its head's check contexts, with whether branch
/// protection requires each. Only the first 100 contexts of the last commit are read: branch
/// protection rarely requires more, and a required check past them is not reported.
pub(super) const MERGE_REQUIREMENTS: &str = "query($owner: String!, $name: String!, $number: Int!) { repository(owner: $owner, name: $name) { pullRequest(number: $number) { reviewDecision commits(last: 1) { nodes { commit { statusCheckRollup { contexts(first: 100) { nodes { __typename ... on CheckRun { name conclusion status isRequired(pullRequestNumber: $number) } ... on StatusContext { context state isRequired(pullRequestNumber: $number) } } } } } } } } } }";

/// GraphQL connections may hold `null` nodes (items the token cannot see).
#[derive(Deserialize)]
struct Nodes<T> {
    #[serde(default = "Vec::new")]
    nodes: Vec<Option<T>>,
}

#[derive(Deserialize)]
struct RequirementsRepo {
    #[serde(rename = "pullRequest")]
    pull_request: Option<RequirementsPull>,
}

#[derive(Deserialize)]
struct RequirementsPull {
    #[serde(rename = "reviewDecision")]
    review_decision: Option<String>,
    commits: Nodes<PullCommit>,
}

#[derive(Deserialize)]
struct PullCommit {
    commit: RollupCommit,
}

#[derive(Deserialize)]
struct RollupCommit {
    #[serde(rename = "statusCheckRollup")]
    rollup: Option<Rollup>,
}

#[derive(Deserialize)]
struct Rollup {
    contexts: Nodes<RollupContext>,
}

#[derive(Deserialize)]
#[serde(tag = "__typename")]
enum RollupContext {
    CheckRun {
        name: String,
        conclusion: Option<String>,
        #[serde(rename = "isRequired")]
        is_required: bool,
    },
    StatusContext {
        context: String,
        state: String,
        #[serde(rename = "isRequired")]
        is_required: bool,
    },
    #[serde(other)]
    Other,
}

/// Reads [`MERGE_REQUIREMENTS`]'s `data`.
pub(super) fn merge_requirements(
    what: &str,
    data: Value,
) -> Result<MergeRequirements, GitHubError> {
    #[derive(Deserialize)]
    struct Data {
        repository: Option<RequirementsRepo>,
    }
    let data: Data = serde_json::from_value(data).map_err(|e| GitHubError::Decode {
        what: what.into(),
        message: e.to_string(),
    })?;
    let Some(pull) = data.repository.and_then(|r| r.pull_request) else {
        return Err(GitHubError::Decode {
            what: what.into(),
            message: "no such pull request in the answer".into(),
        });
    };
    let review_decision = match pull.review_decision.as_deref() {
        Some("APPROVED") => Some(ReviewDecision::Approved),
        Some("CHANGES_REQUESTED") => Some(ReviewDecision::ChangesRequested),
        Some("REVIEW_REQUIRED") => Some(ReviewDecision::ReviewRequired),
        _ => None,
    };
    let contexts = pull
        .commits
        .nodes
        .into_iter()
        .flatten()
        .last()
        .and_then(|c| c.commit.rollup)
        .map(|r| r.contexts.nodes)
        .unwrap_or_default();
    let required_checks = contexts
        .into_iter()
        .flatten()
        .filter_map(|c| match c {
            RollupContext::CheckRun {
                name,
                conclusion,
                is_required: true,
            } => Some(RequiredCheck {
                name,
                passed: matches!(
                    conclusion.as_deref(),
                    Some("SUCCESS" | "NEUTRAL" | "SKIPPED")
                ),
            }),
            RollupContext::StatusContext {
                context,
                state,
                is_required: true,
            } => Some(RequiredCheck {
                name: context,
                passed: state == "SUCCESS",
            }),
            _ => None,
        })
        .collect();
    Ok(MergeRequirements {
        review_decision,
        required_checks,
    })
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

    #[test]
    fn merge_requirements_keep_only_required_contexts() {
        let data = json!({ "repository": { "pullRequest": {
            "reviewDecision": "CHANGES_REQUESTED",
            "commits": { "nodes": [{ "commit": { "statusCheckRollup": { "contexts": { "nodes": [
                { "__typename": "CheckRun", "name": "ci", "conclusion": "SUCCESS", "status": "COMPLETED", "isRequired": true },
                { "__typename": "CheckRun", "name": "lint", "conclusion": null, "status": "IN_PROGRESS", "isRequired": true },
                { "__typename": "CheckRun", "name": "docs", "conclusion": "FAILURE", "status": "COMPLETED", "isRequired": false },
                { "__typename": "StatusContext", "context": "legacy", "state": "PENDING", "isRequired": true },
                null,
            ] } } } }] },
        } } });
        let r = merge_requirements("t", data).unwrap();
        assert_eq!(r.review_decision, Some(ReviewDecision::ChangesRequested));
        let checks: Vec<(&str, bool)> = r
            .required_checks
            .iter()
            .map(|c| (c.name.as_str(), c.passed))
            .collect();
        assert_eq!(
            checks,
            vec![("ci", true), ("lint", false), ("legacy", false)]
        );

        let none = json!({ "repository": { "pullRequest": {
            "reviewDecision": null, "commits": { "nodes": [{ "commit": { "statusCheckRollup": null } }] },
        } } });
        assert_eq!(
            merge_requirements("t", none).unwrap(),
            MergeRequirements::default()
        );
        assert!(merge_requirements("t", json!({ "repository": null })).is_err());
    }
}
