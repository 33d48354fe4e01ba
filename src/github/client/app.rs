//! The App's own calls and its installations: tokens, webhook deliveries, the App's slug, the
//! installations and the repositories they see.

use crate::ids::InstallationId;
use std::ops::ControlFlow;

use http::Method;
use serde::Deserialize;

use super::GitHub;
use super::wire::{
    Id, InstallationRepos, MAX_LISTING_PAGES, Repository, check_repo, installation_token,
    next_cursor,
};
use crate::github::request::{Auth, Request, Target};
use crate::github::{GitHubError, HookDelivery, HookDeliveryPage, InstallationToken, RepoInfo};

impl GitHub {
    /// A token for acting in one installation, cached until 5 minutes before it expires.
    pub async fn installation_token(
        &self,
        installation_id: InstallationId,
    ) -> Result<InstallationToken, GitHubError> {
        self.token("creating an installation token", installation_id, None)
            .await
    }

    /// A token that can only read the contents of one repository of the installation (`repo`
    /// is `owner/name`): what a job's git fetch uses. Cached per (installation, repository)
    /// until 5 minutes before it expires.
    pub async fn repo_read_token(
        &self,
        installation_id: InstallationId,
        repo: &str,
    ) -> Result<InstallationToken, GitHubError> {
        self.token(
            "creating a repository read token",
            installation_id,
            Some(repo.to_owned()),
        )
        .await
    }

    async fn token(
        &self,
        what: &'static str,
        installation_id: InstallationId,
        read_only: Option<String>,
    ) -> Result<InstallationToken, GitHubError> {
        let mut request = Request::get(what, "", Auth::Installation(installation_id.0));
        request.target = Target::Token { read_only };
        installation_token(what, &self.send(request).await?.body)
    }

    /// One page of the App's recent webhook deliveries (`cursor` from the previous page).
    pub async fn hook_deliveries(
        &self,
        cursor: Option<&str>,
    ) -> Result<HookDeliveryPage, GitHubError> {
        let what = "listing the App's webhook deliveries";
        let mut path = "/app/hook/deliveries?per_page=100".to_owned();
        if let Some(cursor) = cursor {
            let cursor: String = cursor
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "_-=".contains(*c))
                .collect();
            path.push_str(&format!("&cursor={cursor}"));
        }
        let answer = self.send(Request::app(what, Method::GET, path)).await?;
        Ok(HookDeliveryPage {
            deliveries: answer.decode::<Vec<HookDelivery>>(what)?,
            next_cursor: next_cursor(&answer.headers),
        })
    }

    /// The App's slug (`GET /app`), so `@slug plan` comments are recognised.
    pub async fn app_slug(&self) -> Result<String, GitHubError> {
        #[derive(Deserialize)]
        struct App {
            slug: String,
        }
        let app: App = self
            .fetch(Request::app("reading the App", Method::GET, "/app"))
            .await?;
        Ok(app.slug)
    }

    /// Asks GitHub to deliver a webhook again.
    pub async fn redeliver(&self, delivery_id: i64) -> Result<(), GitHubError> {
        let path = format!("/app/hook/deliveries/{delivery_id}/attempts");
        // Not content: GitHub's App endpoints are outside the content-creation limit.
        self.send(Request::app("asking for a redelivery", Method::POST, path))
            .await?;
        Ok(())
    }

    /// Every installation of the App (GET /app/installations with the App's JWT, all pages;
    /// at most 100 pages of 100).
    pub async fn installations(&self) -> Result<Vec<InstallationId>, GitHubError> {
        let mut ids = Vec::new();
        self.each_page::<Vec<Id>>(
            "listing the App's installations",
            "/app/installations",
            Auth::App,
            MAX_LISTING_PAGES,
            |page| {
                ids.extend(page.into_iter().map(|i| InstallationId(i.id)));
                ControlFlow::Continue(())
            },
        )
        .await?;
        Ok(ids)
    }

    /// Every repository an installation can see (GET /installation/repositories with the
    /// installation token, all pages; at most 100 pages of 100).
    pub async fn installation_repos(
        &self,
        installation_id: InstallationId,
    ) -> Result<Vec<RepoInfo>, GitHubError> {
        let mut repos = Vec::new();
        self.each_page::<InstallationRepos>(
            "listing an installation's repositories",
            "/installation/repositories",
            Auth::Installation(installation_id.0),
            MAX_LISTING_PAGES,
            |page| {
                repos.extend(page.into_iter().map(RepoInfo::from));
                ControlFlow::Continue(())
            },
        )
        .await?;
        Ok(repos)
    }

    /// The installation that has `repo` (`owner/name`), or `None` when the App is not
    /// installed on it (GET /repos/{o}/{r}/installation with the JWT; GitHub's 404 is `None`).
    pub async fn repo_installation(
        &self,
        repo: &str,
    ) -> Result<Option<InstallationId>, GitHubError> {
        let what = "reading a repository's installation";
        if check_repo(what, repo).is_err() {
            // No repository of that name can have the App.
            return Ok(None);
        }
        let request = Request::app(what, Method::GET, format!("/repos/{repo}/installation"));
        match self.fetch::<Id>(request).await {
            Ok(id) => Ok(Some(InstallationId(id.id))),
            // Not installed there (or no such repository).
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A repository's clone URL and default branch (GET /repos/{o}/{r}).
    pub async fn repository(
        &self,
        installation_id: InstallationId,
        repo: &str,
    ) -> Result<RepoInfo, GitHubError> {
        let what = "reading a repository";
        check_repo(what, repo)?;
        let request = Request::get(
            what,
            format!("/repos/{repo}"),
            Auth::Installation(installation_id.0),
        );
        Ok(self.fetch::<Repository>(request).await?.into())
    }
}
