//! Pull requests: reading one, its reviews and what branch protection asks of it, merging it,
//! deleting its branch.

use http::Method;
use serde::Deserialize;
use serde_json::json;

use super::GitHub;
use super::wire::{
    Login, MAX_PAGES, MERGE_REQUIREMENTS, Merged, Pull, check_repo, has_next, merge_requirements,
    requirements_page,
};
use crate::event::ReviewState;
use crate::github::request::{Auth, Request};
use crate::github::{GitHubError, MergeMethod, MergeRequirements, PullRequestInfo, ReviewInfo};
use crate::ids::{InstallationId, PrNumber, Sha};

impl GitHub {
    /// A pull request's head, base, state and mergeability.
    pub async fn pull_request(
        &self,
        installation_id: InstallationId,
        repo: &str,
        number: PrNumber,
    ) -> Result<PullRequestInfo, GitHubError> {
        let request = Request::get(
            "reading a pull request",
            format!("/repos/{repo}/pulls/{number}"),
            Auth::Installation(installation_id.0),
        );
        Ok(self.fetch::<Pull>(request).await?.into_info())
    }

    /// The number and title of a repository's most recently updated pull requests, open or
    /// closed, newest first (one page of `GET /repos/{o}/{r}/pulls`: at most 100), for the
    /// web pages. The titles are the pull requests' authors' text.
    pub async fn pull_titles(
        &self,
        installation_id: InstallationId,
        repo: &str,
    ) -> Result<Vec<(PrNumber, String)>, GitHubError> {
        #[derive(Deserialize)]
        struct Listed {
            number: PrNumber,
            #[serde(default)]
            title: String,
        }
        let what = "listing pull requests";
        check_repo(what, repo)?;
        let path =
            format!("/repos/{repo}/pulls?state=all&sort=updated&direction=desc&per_page=100");
        let request = Request::get(what, path, Auth::Installation(installation_id.0));
        let listed: Vec<Listed> = self.fetch(request).await?;
        Ok(listed.into_iter().map(|p| (p.number, p.title)).collect())
    }

    /// Every review of a pull request, oldest first.
    pub async fn reviews(
        &self,
        installation_id: InstallationId,
        repo: &str,
        pr: PrNumber,
    ) -> Result<Vec<ReviewInfo>, GitHubError> {
        #[derive(Deserialize)]
        struct Review {
            id: u64,
            user: Option<Login>,
            state: String,
            commit_id: Option<Sha>,
        }
        let what = "listing reviews";
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let path = format!("/repos/{repo}/pulls/{pr}/reviews?per_page=100&page={page}");
            let answer = self
                .send(Request::get(
                    what,
                    path,
                    Auth::Installation(installation_id.0),
                ))
                .await?;
            let reviews: Vec<Review> = answer.decode(what)?;
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

    /// Merges a pull request whose head is still `sha`; returns the merge commit's sha.
    /// GitHub answers 405 when it cannot be merged, 409 when the head moved. Paced, never
    /// coalesced: every merge asked for is tried.
    pub async fn merge_pull_request(
        &self,
        installation_id: InstallationId,
        repo: &str,
        number: PrNumber,
        sha: &Sha,
        method: MergeMethod,
    ) -> Result<Sha, GitHubError> {
        let what = "merging a pull request";
        // `sha` makes GitHub refuse (409) a head that moved since bosun looked at it.
        let request = Request::write(
            what,
            Method::PUT,
            format!("/repos/{repo}/pulls/{number}/merge"),
            installation_id.0,
            Some(json!({ "sha": sha, "merge_method": method.as_str() })),
        );
        let merged: Merged = self.fetch(request).await?;
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

    /// Deletes the branch `branch` of `repo` (`DELETE /repos/{repo}/git/refs/heads/{branch}`),
    /// for `delete_source_branch_on_merge` after an automerge. A branch that is already gone
    /// is not an error.
    pub async fn delete_branch(
        &self,
        installation_id: InstallationId,
        repo: &str,
        branch: &str,
    ) -> Result<(), GitHubError> {
        // Each segment of the name is percent-encoded; its `/`s stay path separators.
        let encoded: Vec<String> = branch
            .split('/')
            .map(|s| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            })
            .collect();
        let request = Request::write(
            "deleting a branch",
            Method::DELETE,
            format!("/repos/{repo}/git/refs/heads/{}", encoded.join("/")),
            installation_id.0,
            None,
        );
        match self.send(request).await {
            Ok(_) => Ok(()),
            // "Reference does not exist": someone deleted it first.
            Err(e) if e.status() == Some(422) || e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Branch protection's view of a pull request: its review decision and the required checks
    /// of its head with whether each passed (one GraphQL query: `reviewDecision` and the head
    /// commit's `statusCheckRollup` contexts with `isRequired(pullRequestNumber:)`).
    ///
    /// Every page of the head's check contexts is read (at most 20 of 100): a failing required
    /// check on page two blocks the merge as much as one on page one. A required check that
    /// has not reported on the head yet is not in GitHub's rollup; it is listed as not passed
    /// when the base branch's protection names it.
    pub async fn merge_requirements(
        &self,
        installation_id: InstallationId,
        repo: &str,
        number: PrNumber,
    ) -> Result<MergeRequirements, GitHubError> {
        let what = "reading a pull request's merge requirements";
        let Some((owner, name)) = repo.split_once('/') else {
            return Err(GitHubError::Status {
                status: 404,
                what: what.into(),
                message: "not an owner/name repository".into(),
            });
        };
        let mut pages = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let variables =
                json!({ "owner": owner, "name": name, "number": number, "after": after });
            let request = Request::graphql(what, installation_id.0, MERGE_REQUIREMENTS, variables);
            let data = self.graphql(request).await?.unwrap_or_default();
            let page = requirements_page(what, data)?;
            after = page.next.clone();
            pages.push(page);
            if after.is_none() {
                break;
            }
        }
        Ok(merge_requirements(pages))
    }
}

#[cfg(test)]
mod tests {
    use crate::ids::{InstallationId, PrNumber};
    use std::sync::{Arc, Mutex};

    use serde_json::json;

    use crate::github::request::{Answer, Request, Service, Target};
    use crate::github::{GitHub, GitHubError};

    /// A transport that answers every request with `answer` and keeps what it was asked.
    struct Canned {
        answer: serde_json::Value,
        asked: Mutex<Vec<Request>>,
    }

    #[async_trait::async_trait]
    impl Service for Canned {
        async fn send(&self, request: Request) -> Result<Answer, GitHubError> {
            self.asked.lock().unwrap().push(request);
            Ok(Answer::json(&self.answer))
        }
    }

    #[tokio::test]
    async fn pull_titles_read_one_page_of_every_state_newest_first() {
        let canned = Arc::new(Canned {
            answer: json!([
                { "number": 9, "title": "Grow the bucket", "state": "open" },
                { "number": 4, "title": "Shrink it", "state": "closed" },
            ]),
            asked: Mutex::new(Vec::new()),
        });
        let gh = GitHub::over(canned.clone());
        let titles = gh
            .pull_titles(InstallationId(3), "acme/infra")
            .await
            .unwrap();
        assert_eq!(
            titles,
            vec![
                (PrNumber(9), "Grow the bucket".into()),
                (PrNumber(4), "Shrink it".into())
            ]
        );
        let asked = canned.asked.lock().unwrap().clone();
        assert_eq!(
            asked[0].target,
            Target::Rest(
                "/repos/acme/infra/pulls?state=all&sort=updated&direction=desc&per_page=100".into()
            )
        );
        assert_eq!(asked[0].installation(), Some(3));
        // A name that is not owner/name never reaches GitHub.
        assert!(
            gh.pull_titles(InstallationId(3), "acme/infra?x")
                .await
                .is_err()
        );
        assert_eq!(canned.asked.lock().unwrap().len(), 1);
    }
}
