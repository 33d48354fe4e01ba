//! The issue bosun keeps per repository (the drift report): finding it, opening it (never
//! twice), changing it.

use crate::ids::InstallationId;
use std::ops::ControlFlow;

use http::Method;
use serde::Deserialize;

use super::wire::{
    Issue, IssueSearch, MAX_ISSUE_PAGES, check_repo, issue_update_body, new_issue_body,
};
use super::{GitHub, each_page};
use crate::github::request::{Auth, Lookup, Request, Resend, Service};
use crate::github::{GitHubError, IssueInfo, IssueUpdate};

impl GitHub {
    /// The issue titled exactly `title` with `label` that the App's bot opened: the open one
    /// if any, else the most recently updated closed one (GET /repos/{o}/{r}/issues?labels=…&
    /// state=all, skipping pull requests (they carry `pull_request`) and issues not by a Bot
    /// user; at most 10 pages of 100).
    pub async fn find_issue(
        &self,
        installation_id: InstallationId,
        repo: &str,
        label: &str,
        title: &str,
    ) -> Result<Option<IssueInfo>, GitHubError> {
        search_issue(&*self.service, installation_id, repo, label, title).await
    }

    /// Opens an issue with these labels; returns its number (POST /repos/{o}/{r}/issues).
    /// Never opened twice: see the `unique` layer.
    pub async fn create_issue(
        &self,
        installation_id: InstallationId,
        repo: &str,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> Result<u64, GitHubError> {
        #[derive(Deserialize)]
        struct Created {
            number: u64,
        }
        check_repo("creating an issue", repo)?;
        let request = Request::write(
            "creating an issue",
            Method::POST,
            format!("/repos/{repo}/issues"),
            installation_id.0,
            Some(new_issue_body(title, body, labels)),
        )
        .resend(Resend::IfNotMade(Lookup::Issue {
            repo: repo.to_owned(),
        }));
        Ok(self.fetch::<Created>(request).await?.number)
    }

    /// Changes an issue's body and/or state (PATCH /repos/{o}/{r}/issues/{n}; `open:
    /// Some(false)` closes it with state_reason "completed", `Some(true)` reopens it). Never
    /// coalesced: an update carries only some fields, so a newer one may not hold an older
    /// one's change.
    pub async fn update_issue(
        &self,
        installation_id: InstallationId,
        repo: &str,
        number: u64,
        update: &IssueUpdate,
    ) -> Result<(), GitHubError> {
        let what = "updating an issue";
        check_repo(what, repo)?;
        let Some(body) = issue_update_body(update) else {
            return Ok(());
        };
        let request = Request::write(
            what,
            Method::PATCH,
            format!("/repos/{repo}/issues/{number}"),
            installation_id.0,
            Some(body),
        );
        self.send(request).await?;
        Ok(())
    }
}

/// [`GitHub::find_issue`] through `service` (the `unique` layer looks with it too).
pub(crate) async fn search_issue(
    service: &dyn Service,
    installation_id: InstallationId,
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
    each_page::<Vec<Issue>>(
        service,
        what,
        &path,
        Auth::Installation(installation_id.0),
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
