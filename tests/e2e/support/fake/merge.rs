//! Branch protection and merging, as GitHub does them: a pull request's `mergeable_state` and
//! review decision computed from its reviews and check runs, and merges that make real commits
//! in the repository's git and move its base branch.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::model::{Model, Pr, Repo};
use super::{Caller, Inner, deliver, error, new_guid, payloads, visible_repo};

/// Conclusions that satisfy a required check.
const PASSING: [&str; 3] = ["success", "neutral", "skipped"];

impl Repo {
    /// GitHub's `reviewDecision`: `None` when branch protection requires no reviews, else
    /// `CHANGES_REQUESTED` when a reviewer's latest deciding review (approved, changes
    /// requested or dismissed) requests changes, `APPROVED` with enough approvals (of users
    /// with write access or more, as GitHub counts them), else `REVIEW_REQUIRED`.
    pub fn review_decision(&self, pr: &Pr) -> Option<&'static str> {
        let required = self.protection.as_ref()?.required_approvals;
        if required == 0 {
            return None;
        }
        let mut latest: Vec<(&str, &str)> = Vec::new();
        for review in self.reviews.iter().filter(|r| r.pr == pr.number) {
            if !["APPROVED", "CHANGES_REQUESTED", "DISMISSED"].contains(&review.state.as_str()) {
                continue;
            }
            match latest.iter_mut().find(|(user, _)| *user == review.user) {
                Some(entry) => entry.1 = &review.state,
                None => latest.push((&review.user, &review.state)),
            }
        }
        if latest.iter().any(|(_, s)| *s == "CHANGES_REQUESTED") {
            return Some("CHANGES_REQUESTED");
        }
        let writer = |user: &str| {
            self.permissions
                .get(user)
                .is_some_and(|p| ["write", "maintain", "admin"].contains(&p.as_str()))
        };
        let approvals = latest
            .iter()
            .filter(|(user, s)| *s == "APPROVED" && writer(user))
            .count();
        if approvals >= required as usize {
            Some("APPROVED")
        } else {
            Some("REVIEW_REQUIRED")
        }
    }

    /// Whether branch protection requires the check `name`.
    pub fn is_required(&self, name: &str) -> bool {
        self.protection
            .as_ref()
            .is_some_and(|p| p.required_checks.iter().any(|c| c == name))
    }

    /// Whether the newest check run named `name` on `sha` passed.
    pub fn check_passed(&self, sha: &str, name: &str) -> bool {
        self.check_runs
            .iter()
            .rev()
            .find(|c| c.head_sha == sha && c.name == name)
            .and_then(|c| c.conclusion.as_deref())
            .is_some_and(|c| PASSING.contains(&c))
    }

    /// GitHub's `mergeable_state` of `pr`, unless a test forced one.
    pub fn mergeable_state(&self, pr: &Pr) -> String {
        if let Some(forced) = &pr.mergeable_state {
            return forced.clone();
        }
        let reviews_unmet = self.review_decision(pr).is_some_and(|d| d != "APPROVED");
        let checks_unmet = self.protection.as_ref().is_some_and(|p| {
            p.required_checks
                .iter()
                .any(|c| !self.check_passed(&pr.head_sha, c))
        });
        let state = match pr.mergeable {
            _ if !pr.open => "unknown",
            None => "unknown",
            Some(false) => "dirty",
            Some(true) if pr.draft => "draft",
            Some(true) if reviews_unmet || checks_unmet => "blocked",
            Some(true) => "clean",
        };
        state.into()
    }
}

impl Model {
    /// Merges pull request `number` of `repo` as GitHub's merge button and API do: refused
    /// with 405 when it is closed, conflicting, a draft or blocked by branch protection, and
    /// with 409 when `sha` is given and is not its head. A merge (`method` `merge`) commits the
    /// merge of the base branch's tip and the head with both as parents; `squash` commits the
    /// same tree with the base alone as parent, and `rebase` is modelled like `squash`. The
    /// base branch moves to the new commit and the pull request is closed as merged. Returns
    /// the new commit's sha; no webhook is sent.
    pub fn merge(
        &mut self,
        repo: &str,
        number: u64,
        sha: Option<&str>,
        method: &str,
    ) -> Result<String, (u16, String)> {
        let not_found = || (404, "Not Found".to_string());
        let r = self.repo(repo).ok_or_else(not_found)?;
        let pr = r.prs.get(&number).ok_or_else(not_found)?;
        let state = r.mergeable_state(pr);
        if !pr.open || ["dirty", "blocked", "draft"].contains(&state.as_str()) {
            return Err((405, "Pull Request is not mergeable".into()));
        }
        if sha.is_some_and(|s| s != pr.head_sha) {
            return Err((
                409,
                "Head branch was modified. Review and try the merge again.".into(),
            ));
        }
        let message = match method {
            "merge" => format!(
                "Merge pull request #{number} from {}/{}\n\n{}",
                r.owner, pr.head_ref, pr.title
            ),
            "squash" | "rebase" => format!("{} (#{number})", pr.title),
            other => return Err((422, format!("Invalid merge_method: {other}"))),
        };
        let merged = commit_merge(r, pr, method == "merge", &message)?;
        let pr = self
            .repo_mut(repo)
            .and_then(|r| r.prs.get_mut(&number))
            .ok_or_else(not_found)?;
        pr.open = false;
        pr.merged = true;
        pr.merge_commit_sha = Some(merged.clone());
        Ok(merged)
    }
}

/// Commits the merge of `pr`'s head into its base branch's tip and moves the branch there.
fn commit_merge(
    r: &Repo,
    pr: &Pr,
    two_parents: bool,
    message: &str,
) -> Result<String, (u16, String)> {
    let git = |e: git2::Error| (500, format!("git: {e}"));
    let repo = git2::Repository::open_bare(&r.git_dir).map_err(git)?;
    let branch = format!("refs/heads/{}", pr.base_ref);
    let base = repo
        .find_reference(&branch)
        .and_then(|b| b.peel_to_commit())
        .map_err(git)?;
    let head = git2::Oid::from_str(&pr.head_sha)
        .and_then(|oid| repo.find_commit(oid))
        .map_err(git)?;
    let mut index = repo.merge_commits(&base, &head, None).map_err(git)?;
    if index.has_conflicts() {
        return Err((405, "Pull Request is not mergeable".into()));
    }
    let tree = index
        .write_tree_to(&repo)
        .and_then(|t| repo.find_tree(t))
        .map_err(git)?;
    let sig = git2::Signature::now("GitHub", "noreply@github.com").map_err(git)?;
    let parents: Vec<&git2::Commit> = if two_parents {
        vec![&base, &head]
    } else {
        vec![&base]
    };
    let oid = repo
        .commit(None, &sig, &sig, message, &tree, &parents)
        .map_err(git)?;
    // Moves the branch only if nobody moved it meanwhile.
    repo.reference_matching(&branch, oid, true, base.id(), "merge pull request")
        .map_err(git)?;
    Ok(oid.to_string())
}

/// `PUT /repos/{o}/{r}/pulls/{n}/merge`: merges (see [`Model::merge`]) and delivers
/// `pull_request.closed` (merged) to bosun in the background, as GitHub does.
pub(super) fn endpoint(
    inner: &Arc<Inner>,
    caller: Caller,
    full: &str,
    number: &str,
    body: &Value,
) -> Result<Response, Response> {
    let mut m = inner.model.lock().unwrap();
    visible_repo(&m, caller, full)?;
    let number: u64 = number.parse().unwrap_or(0);
    let method = body["merge_method"].as_str().unwrap_or("merge");
    let merged = m
        .merge(full, number, body["sha"].as_str(), method)
        .map_err(|(status, message)| {
            error(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                &message,
            )
        })?;
    let installation = m.installation_of(full).unwrap_or(0);
    let sender = format!("{}[bot]", m.app_slug);
    let r = m
        .repo(full)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "Not Found"))?;
    let pr = r
        .prs
        .get(&number)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "Not Found"))?;
    let payload = payloads::pull_request("closed", r, pr, &inner.url, installation, &sender);
    drop(m);
    let inner = inner.clone();
    let body = serde_json::to_vec(&payload).unwrap_or_default();
    tokio::spawn(async move {
        deliver(&inner, new_guid(), "pull_request".into(), body, false).await;
    });
    Ok(axum::Json(json!({
        "sha": merged, "merged": true, "message": "Pull Request successfully merged",
    }))
    .into_response())
}

/// `DELETE /repos/{owner}/{repo}/git/refs/heads/{branch}`: deletes the branch from the
/// repository's git (204), or 422 `Reference does not exist` as GitHub answers.
pub fn delete_branch(r: &Repo, branch: &str) -> Response {
    let name = format!("refs/heads/{branch}");
    let deleted = git2::Repository::open_bare(&r.git_dir)
        .and_then(|repo| repo.find_reference(&name).and_then(|mut re| re.delete()));
    match deleted {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            error(StatusCode::UNPROCESSABLE_ENTITY, "Reference does not exist")
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("git: {e}")),
    }
}
