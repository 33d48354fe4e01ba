//! Listings: the App's installations and their repositories, one repository, the issue bosun
//! keeps per repository (find, create, update), and bosun's own comments on a pull request.

use std::ops::ControlFlow;

use http::Method;

use super::wire::{
    Id, InstallationRepos, Issue, IssueSearch, MAX_ISSUE_PAGES, MAX_LISTING_PAGES, Page,
    Repository, check_repo, decode, has_next, issue_update_body, page_path,
};
use super::{Auth, OctocrabGitHub};
use crate::github::{CommentRef, GitHubError, IssueInfo, IssueUpdate, RepoInfo};

/// Items per page asked of list endpoints (GitHub's maximum).
const PER_PAGE: u32 = 100;

/// A comment as a listing shows it: enough to tell bosun's own from everyone else's.
#[derive(serde::Deserialize)]
struct ListedComment {
    id: u64,
    node_id: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<super::wire::Login>,
}

impl OctocrabGitHub {
    /// GETs `path` page by page (at most `max_pages`), handing each page's items to `take`
    /// until it breaks or there is no next page.
    pub(super) async fn each_page<P: Page>(
        &self,
        what: &str,
        path: &str,
        auth: Auth,
        max_pages: u32,
        mut take: impl FnMut(Vec<P::Item>) -> ControlFlow<()>,
    ) -> Result<(), GitHubError> {
        for page in 1..=max_pages {
            let answer = self
                .call(
                    what,
                    Method::GET,
                    &page_path(path, PER_PAGE, page),
                    auth,
                    None,
                )
                .await?;
            let items = decode::<P>(what, &answer.body)?.items();
            if take(items).is_break() || !has_next(&answer.headers) {
                return Ok(());
            }
        }
        tracing::warn!(
            what,
            max_pages,
            "stopped reading a GitHub listing at its page limit"
        );
        Ok(())
    }

    pub(super) async fn list_installations(&self) -> Result<Vec<u64>, GitHubError> {
        let mut ids = Vec::new();
        self.each_page::<Vec<Id>>(
            "listing the App's installations",
            "/app/installations",
            Auth::App,
            MAX_LISTING_PAGES,
            |page| {
                ids.extend(page.into_iter().map(|i| i.id));
                ControlFlow::Continue(())
            },
        )
        .await?;
        Ok(ids)
    }

    pub(super) async fn list_installation_repos(
        &self,
        installation_id: u64,
    ) -> Result<Vec<RepoInfo>, GitHubError> {
        let mut repos = Vec::new();
        self.each_page::<InstallationRepos>(
            "listing an installation's repositories",
            "/installation/repositories",
            Auth::Installation(installation_id),
            MAX_LISTING_PAGES,
            |page| {
                repos.extend(page.into_iter().map(RepoInfo::from));
                ControlFlow::Continue(())
            },
        )
        .await?;
        Ok(repos)
    }

    pub(super) async fn read_repo_installation(
        &self,
        repo: &str,
    ) -> Result<Option<u64>, GitHubError> {
        let what = "reading a repository's installation";
        if check_repo(what, repo).is_err() {
            // No repository of that name can have the App.
            return Ok(None);
        }
        let path = format!("/repos/{repo}/installation");
        match self.call(what, Method::GET, &path, Auth::App, None).await {
            Ok(answer) => Ok(Some(decode::<Id>(what, &answer.body)?.id)),
            // Not installed there (or no such repository).
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn read_repository(
        &self,
        installation_id: u64,
        repo: &str,
    ) -> Result<RepoInfo, GitHubError> {
        let what = "reading a repository";
        check_repo(what, repo)?;
        let path = format!("/repos/{repo}");
        Ok(self
            .read::<Repository>(what, &path, installation_id)
            .await?
            .into())
    }

    pub(super) async fn search_issue(
        &self,
        installation_id: u64,
        repo: &str,
        label: &str,
        title: &str,
    ) -> Result<Option<IssueInfo>, GitHubError> {
        let what = "looking for bosun's issue";
        check_repo(what, repo)?;
        let query = serde_urlencoded::to_string([
            ("labels", label),
            ("state", "all"),
            ("sort", "updated"),
            ("direction", "desc"),
        ])
        .map_err(|e| GitHubError::Decode {
            what: what.into(),
            message: format!("encoding the query: {e}"),
        })?;
        let path = format!("/repos/{repo}/issues?{query}");
        let mut search = IssueSearch::new(label, title);
        let mut open = None;
        self.each_page::<Vec<Issue>>(
            what,
            &path,
            Auth::Installation(installation_id),
            MAX_ISSUE_PAGES,
            |page| match search.page(page) {
                Some(issue) => {
                    open = Some(issue);
                    ControlFlow::Break(())
                }
                None => ControlFlow::Continue(()),
            },
        )
        .await?;
        Ok(open.or_else(|| search.closed()))
    }

    pub(super) async fn open_issue(
        &self,
        installation_id: u64,
        repo: &str,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> Result<u64, GitHubError> {
        check_repo("creating an issue", repo)?;
        self.create_issue_once(installation_id, repo, title, body, labels)
            .await
    }

    pub(super) async fn change_issue(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        update: &IssueUpdate,
    ) -> Result<(), GitHubError> {
        let what = "updating an issue";
        check_repo(what, repo)?;
        let Some(body) = issue_update_body(update) else {
            return Ok(());
        };
        let path = format!("/repos/{repo}/issues/{number}");
        self.call(
            what,
            Method::PATCH,
            &path,
            Auth::Installation(installation_id),
            Some(&body),
        )
        .await?;
        Ok(())
    }

    pub(super) async fn list_comments_by(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        author: &str,
        prefix: &str,
    ) -> Result<Vec<CommentRef>, GitHubError> {
        let what = "listing a pull request's comments";
        check_repo(what, repo)?;
        let path = format!("/repos/{repo}/issues/{number}/comments");
        let mut found = Vec::new();
        self.each_page::<Vec<ListedComment>>(
            what,
            &path,
            Auth::Installation(installation_id),
            MAX_LISTING_PAGES,
            |page| {
                found.extend(
                    page.into_iter()
                        .filter(|c| {
                            c.user.as_ref().is_some_and(|u| u.login == author)
                                && c.body.as_deref().is_some_and(|b| b.starts_with(prefix))
                        })
                        .map(|c| CommentRef {
                            id: c.id,
                            node_id: c.node_id,
                        }),
                );
                ControlFlow::Continue(())
            },
        )
        .await?;
        Ok(found)
    }
}
