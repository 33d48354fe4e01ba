//! Who may do what: a collaborator's permission on a repository, a team's membership.

use crate::ids::InstallationId;
use serde::Deserialize;

use super::GitHub;
use crate::github::request::{Auth, Request};
use crate::github::{GitHubError, Permission};

impl GitHub {
    /// A user's permission on a repository (the collaborator permission API); `None` for
    /// someone who is not a collaborator.
    pub async fn permission(
        &self,
        installation_id: InstallationId,
        repo: &str,
        user: &str,
    ) -> Result<Permission, GitHubError> {
        #[derive(Deserialize)]
        struct Answer {
            permission: String,
            role_name: Option<String>,
        }
        let what = "reading a collaborator's permission";
        if !user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '[' || c == ']')
        {
            return Err(GitHubError::Status {
                status: 404,
                what: what.into(),
                message: "not a GitHub login".into(),
            });
        }
        let path = format!("/repos/{repo}/collaborators/{user}/permission");
        let request = Request::get(what, path, Auth::Installation(installation_id.0));
        let a: Answer = match self.fetch(request).await {
            Err(e) if e.status() == Some(404) => return Ok(Permission::None),
            other => other?,
        };
        // `role_name` knows maintain and triage; `permission` is the legacy admin/write/read/none.
        Ok(match a.role_name.as_deref().unwrap_or(&a.permission) {
            "admin" => Permission::Admin,
            "maintain" => Permission::Maintain,
            "write" => Permission::Write,
            "triage" => Permission::Triage,
            "read" => Permission::Read,
            _ => Permission::None,
        })
    }

    /// Whether `user` is an active member of the organisation's team `team_slug` (GitHub's
    /// team membership API: a pending invitation is not membership).
    pub async fn team_member(
        &self,
        installation_id: InstallationId,
        org: &str,
        team_slug: &str,
        user: &str,
    ) -> Result<bool, GitHubError> {
        #[derive(Deserialize)]
        struct Membership {
            state: String,
        }
        let what = "reading a team membership";
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        };
        if !(name_ok(org) && name_ok(team_slug) && name_ok(user)) {
            // Nothing GitHub could answer about: not a member.
            return Ok(false);
        }
        let path = format!("/orgs/{org}/teams/{team_slug}/memberships/{user}");
        let request = Request::get(what, path, Auth::Installation(installation_id.0));
        match self.fetch::<Membership>(request).await {
            Ok(m) => Ok(m.state == "active"),
            // Not a member (or no such team).
            Err(e) if e.status() == Some(404) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
