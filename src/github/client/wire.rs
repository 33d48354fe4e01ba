//! What goes over the wire: request bodies bosun sends and the parts of answers it reads.

use crate::ids::{PrNumber, Sha};
use http::{HeaderMap, header};

use crate::github::request::decode;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::github::{
    CheckRunSpec, CheckStatus, Conclusion, GitHubError, IssueInfo, IssueUpdate, MergeRequirements,
    MergeableState, PrState, PullRequestInfo, RepoInfo, RequiredCheck, ReviewDecision,
};

/// Hides a comment (by GraphQL node id) as outdated.
pub(crate) const MINIMIZE_COMMENT: &str = "mutation($id: ID!) { minimizeComment(input: {subjectId: $id, classifier: OUTDATED}) { minimizedComment { isMinimized } } }";

/// GitHub's limit on a check run's summary and text.
pub(crate) const CHECK_OUTPUT_MAX: usize = 65_535;

/// Pages of a paginated list read at most.
pub(crate) const MAX_PAGES: u32 = 20;

pub(crate) fn check_run_body(check: &CheckRunSpec, create: bool) -> Value {
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
    if let Some(url) = &check.details_url {
        body["details_url"] = json!(url);
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
pub(crate) fn has_next(headers: &HeaderMap) -> bool {
    headers
        .get(header::LINK)
        .and_then(|l| l.to_str().ok())
        .is_some_and(|l| l.split(',').any(|part| part.contains("rel=\"next\"")))
}

/// The `cursor` of the `rel="next"` link, if any.
pub(crate) fn next_cursor(headers: &HeaderMap) -> Option<String> {
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

/// Pages of the App's installations, or of an installation's repositories, read at most.
pub(crate) const MAX_LISTING_PAGES: u32 = 100;

/// Pages of issues read at most when looking for one.
pub(crate) const MAX_ISSUE_PAGES: u32 = 10;

/// GitHub's limit on an issue's body, in characters.
pub(crate) const ISSUE_BODY_MAX: usize = 65_536;

/// Refuses (as GitHub's 404 would) a repository that is not `owner/name` made of the characters
/// GitHub allows in names, so nothing else ends up in a request's path.
pub(crate) fn check_repo(what: &str, repo: &str) -> Result<(), GitHubError> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p != "."
            && p != ".."
            && p.len() <= 100
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match repo.split_once('/') {
        Some((owner, name)) if part_ok(owner) && part_ok(name) => Ok(()),
        _ => Err(GitHubError::Status {
            status: 404,
            what: what.into(),
            message: "not an owner/name repository".into(),
        }),
    }
}

/// `path` with `per_page` and `page` added to its query.
pub(crate) fn page_path(path: &str, per_page: u32, page: u32) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}per_page={per_page}&page={page}")
}

/// One page of a list endpoint: a bare array, or an object that wraps one.
pub(crate) trait Page: serde::de::DeserializeOwned {
    type Item;
    fn items(self) -> Vec<Self::Item>;
}

impl<T: serde::de::DeserializeOwned> Page for Vec<T> {
    type Item = T;
    fn items(self) -> Vec<T> {
        self
    }
}

/// Anything GitHub names by its numeric `id` (an installation).
#[derive(Deserialize)]
pub(crate) struct Id {
    pub(crate) id: u64,
}

/// A repository as GitHub's answers describe one, the fields bosun reads.
#[derive(Deserialize)]
pub(crate) struct Repository {
    id: u64,
    full_name: String,
    clone_url: String,
    default_branch: String,
}

impl From<Repository> for RepoInfo {
    fn from(r: Repository) -> Self {
        Self {
            id: crate::ids::RepoId(r.id),
            full_name: r.full_name,
            clone_url: r.clone_url,
            default_branch: r.default_branch,
        }
    }
}

/// A page of `GET /installation/repositories`.
#[derive(Deserialize)]
pub(crate) struct InstallationRepos {
    #[serde(default)]
    repositories: Vec<Repository>,
}

impl Page for InstallationRepos {
    type Item = Repository;
    fn items(self) -> Vec<Repository> {
        self.repositories
    }
}

/// An issue (or a pull request: the issues API lists both) as `GET /repos/{o}/{r}/issues`
/// answers it, the fields bosun reads.
#[derive(Deserialize)]
pub(crate) struct Issue {
    number: u64,
    #[serde(default)]
    title: String,
    body: Option<String>,
    state: String,
    #[serde(default)]
    labels: Vec<IssueLabel>,
    user: Option<IssueUser>,
    updated_at: Option<String>,
    /// Present only on pull requests.
    pull_request: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum IssueLabel {
    Named { name: String },
    Bare(String),
}

impl IssueLabel {
    fn name(&self) -> &str {
        match self {
            Self::Named { name } | Self::Bare(name) => name,
        }
    }
}

#[derive(Deserialize)]
struct IssueUser {
    #[serde(rename = "type", default)]
    kind: String,
}

impl Issue {
    fn into_info(self) -> IssueInfo {
        IssueInfo {
            number: self.number,
            open: self.state == "open",
            title: self.title,
            body: self.body.unwrap_or_default(),
        }
    }
}

/// Looks for bosun's issue page by page: an issue (not a pull request) opened by a Bot, titled
/// exactly `title`, with `label` (labels are case-insensitive on GitHub). The open one wins;
/// else the most recently updated closed one.
pub(crate) struct IssueSearch<'a> {
    label: &'a str,
    title: &'a str,
    /// The best closed match so far, with its `updated_at`.
    closed: Option<(String, IssueInfo)>,
}

impl<'a> IssueSearch<'a> {
    pub(crate) fn new(label: &'a str, title: &'a str) -> Self {
        Self {
            label,
            title,
            closed: None,
        }
    }

    /// Reads one page; returns the open match if it holds one.
    pub(crate) fn page(&mut self, issues: Vec<Issue>) -> Option<IssueInfo> {
        for issue in issues {
            let ours = issue.pull_request.is_none()
                && issue.user.as_ref().is_some_and(|u| u.kind == "Bot")
                && issue.title == self.title
                && issue
                    .labels
                    .iter()
                    .any(|l| l.name().eq_ignore_ascii_case(self.label));
            if !ours {
                continue;
            }
            if issue.state == "open" {
                return Some(issue.into_info());
            }
            let updated = issue.updated_at.clone().unwrap_or_default();
            // RFC 3339 times in GitHub's one format (`…Z`) order as strings do.
            if self.closed.as_ref().is_none_or(|(best, _)| updated > *best) {
                self.closed = Some((updated, issue.into_info()));
            }
        }
        None
    }

    /// The most recently updated closed match, once no open one was found.
    pub(crate) fn closed(self) -> Option<IssueInfo> {
        self.closed.map(|(_, issue)| issue)
    }
}

/// `body` cut to GitHub's limit on an issue's body.
pub(crate) fn issue_body(body: &str) -> String {
    match body.char_indices().nth(ISSUE_BODY_MAX) {
        Some((end, _)) => body.get(..end).unwrap_or(body).to_owned(),
        None => body.to_owned(),
    }
}

/// The `POST /repos/{o}/{r}/issues` body.
pub(crate) fn new_issue_body(title: &str, body: &str, labels: &[String]) -> Value {
    json!({ "title": title, "body": issue_body(body), "labels": labels })
}

/// The `PATCH /repos/{o}/{r}/issues/{n}` body; `None` when there is nothing to change.
pub(crate) fn issue_update_body(update: &IssueUpdate) -> Option<Value> {
    let mut body = serde_json::Map::new();
    if let Some(text) = &update.body {
        body.insert("body".into(), json!(issue_body(text)));
    }
    match update.open {
        Some(true) => {
            body.insert("state".into(), json!("open"));
        }
        Some(false) => {
            body.insert("state".into(), json!("closed"));
            body.insert("state_reason".into(), json!("completed"));
        }
        None => {}
    }
    (!body.is_empty()).then_some(Value::Object(body))
}

#[derive(Deserialize)]
struct Branch {
    sha: Sha,
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
pub(crate) struct Pull {
    number: PrNumber,
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
    merge_commit_sha: Option<Sha>,
}

/// A comment as a listing shows it: enough to tell bosun's own from everyone else's.
#[derive(Deserialize)]
pub(crate) struct ListedComment {
    pub(crate) id: u64,
    pub(crate) node_id: String,
    #[serde(default)]
    pub(crate) body: Option<String>,
    #[serde(default)]
    pub(crate) user: Option<Commenter>,
}

/// Who wrote a comment: their login and whether they are a `User` or a `Bot`.
#[derive(Deserialize)]
pub(crate) struct Commenter {
    #[serde(default)]
    pub(crate) login: String,
    #[serde(rename = "type", default)]
    pub(crate) kind: String,
}

/// An installation token as GitHub answers it (`POST …/access_tokens`, and the credentials
/// layer's answer to a token request).
pub(crate) fn installation_token(
    what: &str,
    body: &[u8],
) -> Result<crate::github::InstallationToken, GitHubError> {
    #[derive(Deserialize)]
    struct Token {
        token: String,
        expires_at: String,
    }
    let token: Token = decode(what, body)?;
    let expires_at =
        humantime::parse_rfc3339_weak(&token.expires_at).map_err(|e| GitHubError::Decode {
            what: what.into(),
            message: format!("expires_at: {e}"),
        })?;
    Ok(crate::github::InstallationToken {
        token: crate::config::Secret::new(token.token),
        expires_at,
    })
}

/// A user as GitHub's answers name one.
#[derive(Deserialize)]
pub(crate) struct Login {
    pub(crate) login: String,
}

impl Pull {
    pub(crate) fn into_info(self) -> PullRequestInfo {
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
pub(crate) struct Merged {
    pub(crate) sha: Sha,
    pub(crate) merged: bool,
    #[serde(default)]
    pub(crate) message: String,
}

/// A pull request's review decision, the checks its base branch's protection requires (as
/// non-admins see it: `refUpdateRule`), and one page of its head's check contexts with
/// whether branch protection requires each; `$after` pages through the contexts.
pub(crate) const MERGE_REQUIREMENTS: &str = "query($owner: String!, $name: String!, $number: Int!, $after: String) { repository(owner: $owner, name: $name) { pullRequest(number: $number) { reviewDecision baseRef { refUpdateRule { requiredStatusCheckContexts } } commits(last: 1) { nodes { commit { statusCheckRollup { contexts(first: 100, after: $after) { pageInfo { hasNextPage endCursor } nodes { __typename ... on CheckRun { name conclusion status isRequired(pullRequestNumber: $number) } ... on StatusContext { context state isRequired(pullRequestNumber: $number) } } } } } } } } } }";

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
    #[serde(rename = "baseRef", default)]
    base_ref: Option<BaseRef>,
    commits: Nodes<PullCommit>,
}

#[derive(Deserialize)]
struct BaseRef {
    #[serde(rename = "refUpdateRule", default)]
    rule: Option<RefUpdateRule>,
}

#[derive(Deserialize)]
struct RefUpdateRule {
    #[serde(rename = "requiredStatusCheckContexts", default)]
    required: Option<Vec<Option<String>>>,
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
    contexts: Contexts,
}

#[derive(Deserialize)]
struct Contexts {
    #[serde(rename = "pageInfo", default)]
    page_info: Option<PageInfo>,
    #[serde(default = "Vec::new")]
    nodes: Vec<Option<RollupContext>>,
}

#[derive(Deserialize)]
struct PageInfo {
    #[serde(rename = "hasNextPage")]
    has_next_page: bool,
    #[serde(rename = "endCursor")]
    end_cursor: Option<String>,
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

/// One page of [`MERGE_REQUIREMENTS`]'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RequirementsPage {
    pub(crate) review_decision: Option<ReviewDecision>,
    /// The check names the base branch's protection requires, reported or not.
    pub(crate) required: Vec<String>,
    /// The required contexts reported on this page.
    pub(crate) reported: Vec<RequiredCheck>,
    /// The cursor of the next page of contexts, if there is one.
    pub(crate) next: Option<String>,
}

/// Reads one page of [`MERGE_REQUIREMENTS`]'s `data`.
pub(crate) fn requirements_page(what: &str, data: Value) -> Result<RequirementsPage, GitHubError> {
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
    let required: Vec<String> = pull
        .base_ref
        .and_then(|b| b.rule)
        .and_then(|r| r.required)
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect();
    let contexts = pull
        .commits
        .nodes
        .into_iter()
        .flatten()
        .last()
        .and_then(|c| c.commit.rollup)
        .map(|r| r.contexts);
    let next = contexts
        .as_ref()
        .and_then(|c| c.page_info.as_ref())
        .filter(|p| p.has_next_page)
        .and_then(|p| p.end_cursor.clone());
    let reported = contexts
        .map(|c| c.nodes)
        .unwrap_or_default()
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
    Ok(RequirementsPage {
        review_decision,
        required,
        reported,
        next,
    })
}

/// The merge requirements from every page read: the required contexts reported, in GitHub's
/// order, then each check branch protection requires that has not reported, as not passing.
pub(crate) fn merge_requirements(pages: Vec<RequirementsPage>) -> MergeRequirements {
    let review_decision = pages.first().and_then(|p| p.review_decision);
    let required: Vec<String> = pages
        .first()
        .map(|p| p.required.clone())
        .unwrap_or_default();
    let mut required_checks: Vec<RequiredCheck> =
        pages.into_iter().flat_map(|p| p.reported).collect();
    for name in required {
        if !required_checks.iter().any(|c| c.name == name) {
            required_checks.push(RequiredCheck {
                name,
                passed: false,
            });
        }
    }
    MergeRequirements {
        review_decision,
        required_checks,
    }
}

#[cfg(test)]
mod tests;
