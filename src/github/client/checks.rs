//! Check runs: creating one (never twice) and bringing it up to date.

use crate::ids::InstallationId;
use http::Method;
use serde::Deserialize;

use super::GitHub;
use super::wire::check_run_body;
use crate::github::request::{Lookup, Request, Resend};
use crate::github::{CheckRunSpec, GitHubError};

impl GitHub {
    /// Creates a check run; returns its id. Never made twice: see the `unique` layer.
    pub async fn create_check_run(
        &self,
        installation_id: InstallationId,
        repo: &str,
        check: &CheckRunSpec,
    ) -> Result<u64, GitHubError> {
        #[derive(Deserialize)]
        struct Created {
            id: u64,
        }
        let request = Request::write(
            "creating a check run",
            Method::POST,
            format!("/repos/{repo}/check-runs"),
            installation_id.0,
            Some(check_run_body(check, true)),
        )
        .resend(Resend::IfNotMade(Lookup::CheckRun {
            repo: repo.to_owned(),
        }));
        Ok(self.fetch::<Created>(request).await?.id)
    }

    /// Brings an existing check run to `check`'s state and output. Waiting updates of one
    /// check run are coalesced: the newest is sent.
    pub async fn update_check_run(
        &self,
        installation_id: InstallationId,
        repo: &str,
        id: u64,
        check: &CheckRunSpec,
    ) -> Result<(), GitHubError> {
        let request = Request::write(
            "updating a check run",
            Method::PATCH,
            format!("/repos/{repo}/check-runs/{id}"),
            installation_id.0,
            Some(check_run_body(check, false)),
        )
        .keyed(format!("check:{id}"));
        self.send(request).await?;
        Ok(())
    }
}
