//! The last stop before GitHub: a [`GitHub`] whose comment bodies, check-run outputs and issue
//! titles and bodies are redacted with a [`Redactor`], so no secret reaches a pull request or an
//! issue whatever text produced it. Reads and every other call pass straight through.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;

use super::{
    CheckRunSpec, CommentRef, GitHub, GitHubError, HookDeliveryPage, InstallationToken, IssueInfo,
    IssueUpdate, MergeMethod, MergeRequirements, Permission, PullRequestInfo, Reaction, RepoInfo,
    ReviewInfo,
};
use crate::redact::Redactor;

/// `inner` with every body it writes redacted.
pub struct RedactingGitHub<G: ?Sized> {
    inner: Arc<G>,
    redactor: Redactor,
}

impl<G: GitHub + ?Sized> RedactingGitHub<G> {
    /// Redacts what `inner` writes with `redactor`.
    pub fn new(inner: Arc<G>, redactor: Redactor) -> Self {
        Self { inner, redactor }
    }

    /// `check` with its title, summary and text redacted (borrowed when nothing was).
    fn check<'c>(&self, check: &'c CheckRunSpec) -> Cow<'c, CheckRunSpec> {
        let title = self.redactor.redact(&check.title);
        let summary = self.redactor.redact(&check.summary);
        let text = check.text.as_deref().map(|t| self.redactor.redact(t));
        let changed = matches!(title, Cow::Owned(_))
            || matches!(summary, Cow::Owned(_))
            || matches!(text, Some(Cow::Owned(_)));
        if !changed {
            return Cow::Borrowed(check);
        }
        Cow::Owned(CheckRunSpec {
            title: title.into_owned(),
            summary: summary.into_owned(),
            text: text.map(Cow::into_owned),
            ..check.clone()
        })
    }
}

#[async_trait]
impl<G: GitHub + ?Sized> GitHub for RedactingGitHub<G> {
    async fn installation_token(
        &self,
        installation_id: u64,
    ) -> Result<InstallationToken, GitHubError> {
        self.inner.installation_token(installation_id).await
    }

    async fn repo_read_token(
        &self,
        installation_id: u64,
        repo: &str,
    ) -> Result<InstallationToken, GitHubError> {
        self.inner.repo_read_token(installation_id, repo).await
    }

    async fn hook_deliveries(&self, cursor: Option<&str>) -> Result<HookDeliveryPage, GitHubError> {
        self.inner.hook_deliveries(cursor).await
    }

    async fn app_slug(&self) -> Result<String, GitHubError> {
        self.inner.app_slug().await
    }

    async fn redeliver(&self, delivery_id: i64) -> Result<(), GitHubError> {
        self.inner.redeliver(delivery_id).await
    }

    async fn create_comment(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        body: &str,
    ) -> Result<CommentRef, GitHubError> {
        let body = self.redactor.redact(body);
        self.inner
            .create_comment(installation_id, repo, number, &body)
            .await
    }

    async fn comments_by(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        author: &str,
        prefix: &str,
    ) -> Result<Vec<CommentRef>, GitHubError> {
        self.inner
            .comments_by(installation_id, repo, number, author, prefix)
            .await
    }

    async fn update_comment(
        &self,
        installation_id: u64,
        repo: &str,
        comment_id: u64,
        body: &str,
    ) -> Result<(), GitHubError> {
        let body = self.redactor.redact(body);
        self.inner
            .update_comment(installation_id, repo, comment_id, &body)
            .await
    }

    async fn minimize_comment(
        &self,
        installation_id: u64,
        node_id: &str,
    ) -> Result<(), GitHubError> {
        self.inner.minimize_comment(installation_id, node_id).await
    }

    async fn add_reaction(
        &self,
        installation_id: u64,
        repo: &str,
        comment_id: u64,
        content: Reaction,
    ) -> Result<(), GitHubError> {
        self.inner
            .add_reaction(installation_id, repo, comment_id, content)
            .await
    }

    async fn pull_request(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
    ) -> Result<PullRequestInfo, GitHubError> {
        self.inner.pull_request(installation_id, repo, number).await
    }

    async fn create_check_run(
        &self,
        installation_id: u64,
        repo: &str,
        check: &CheckRunSpec,
    ) -> Result<u64, GitHubError> {
        let check = self.check(check);
        self.inner
            .create_check_run(installation_id, repo, &check)
            .await
    }

    async fn update_check_run(
        &self,
        installation_id: u64,
        repo: &str,
        id: u64,
        check: &CheckRunSpec,
    ) -> Result<(), GitHubError> {
        let check = self.check(check);
        self.inner
            .update_check_run(installation_id, repo, id, &check)
            .await
    }

    async fn reviews(
        &self,
        installation_id: u64,
        repo: &str,
        pr: u64,
    ) -> Result<Vec<ReviewInfo>, GitHubError> {
        self.inner.reviews(installation_id, repo, pr).await
    }

    async fn permission(
        &self,
        installation_id: u64,
        repo: &str,
        user: &str,
    ) -> Result<Permission, GitHubError> {
        self.inner.permission(installation_id, repo, user).await
    }

    async fn team_member(
        &self,
        installation_id: u64,
        org: &str,
        team_slug: &str,
        user: &str,
    ) -> Result<bool, GitHubError> {
        self.inner
            .team_member(installation_id, org, team_slug, user)
            .await
    }

    async fn merge_pull_request(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        sha: &str,
        method: MergeMethod,
    ) -> Result<String, GitHubError> {
        self.inner
            .merge_pull_request(installation_id, repo, number, sha, method)
            .await
    }

    async fn delete_branch(
        &self,
        installation_id: u64,
        repo: &str,
        branch: &str,
    ) -> Result<(), GitHubError> {
        self.inner
            .delete_branch(installation_id, repo, branch)
            .await
    }

    async fn merge_requirements(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
    ) -> Result<MergeRequirements, GitHubError> {
        self.inner
            .merge_requirements(installation_id, repo, number)
            .await
    }

    async fn installations(&self) -> Result<Vec<u64>, GitHubError> {
        self.inner.installations().await
    }

    async fn installation_repos(&self, installation_id: u64) -> Result<Vec<RepoInfo>, GitHubError> {
        self.inner.installation_repos(installation_id).await
    }

    async fn repo_installation(&self, repo: &str) -> Result<Option<u64>, GitHubError> {
        self.inner.repo_installation(repo).await
    }

    async fn repository(&self, installation_id: u64, repo: &str) -> Result<RepoInfo, GitHubError> {
        self.inner.repository(installation_id, repo).await
    }

    async fn find_issue(
        &self,
        installation_id: u64,
        repo: &str,
        label: &str,
        title: &str,
    ) -> Result<Option<IssueInfo>, GitHubError> {
        self.inner
            .find_issue(installation_id, repo, label, title)
            .await
    }

    async fn create_issue(
        &self,
        installation_id: u64,
        repo: &str,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> Result<u64, GitHubError> {
        let title = self.redactor.redact(title);
        let body = self.redactor.redact(body);
        self.inner
            .create_issue(installation_id, repo, &title, &body, labels)
            .await
    }

    async fn update_issue(
        &self,
        installation_id: u64,
        repo: &str,
        number: u64,
        update: &IssueUpdate,
    ) -> Result<(), GitHubError> {
        let update = IssueUpdate {
            body: update
                .body
                .as_deref()
                .map(|b| self.redactor.redact(b).into_owned()),
            open: update.open,
        };
        self.inner
            .update_issue(installation_id, repo, number, &update)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::{CheckStatus, local::LocalGitHub};

    #[tokio::test]
    async fn bodies_and_check_runs_are_written_redacted() {
        let local = Arc::new(LocalGitHub::default());
        let redactor = Redactor::default();
        redactor.add("hunter2hunter2");
        let gh = RedactingGitHub::new(local.clone(), redactor);
        let c = gh
            .create_comment(1, "acme/infra", 1, "token: hunter2hunter2")
            .await
            .unwrap();
        gh.update_comment(1, "acme/infra", c.id, "still hunter2hunter2")
            .await
            .unwrap();
        let check = CheckRunSpec {
            name: "bosun/plan: dev".into(),
            head_sha: "a".repeat(40),
            status: CheckStatus::Queued,
            title: "hunter2hunter2".into(),
            summary: "s hunter2hunter2".into(),
            text: Some("t hunter2hunter2".into()),
            external_id: None,
            details_url: None,
        };
        let id = gh.create_check_run(1, "acme/infra", &check).await.unwrap();
        gh.update_check_run(1, "acme/infra", id, &check)
            .await
            .unwrap();
        let seen = format!("{:?} {:?}", local.comments(), local.checks());
        assert!(!seen.contains("hunter2hunter2"), "{seen}");
        assert!(seen.contains("still [redacted]"), "{seen}");
        assert!(seen.contains("t [redacted]"), "{seen}");
    }

    #[tokio::test]
    async fn issue_titles_and_bodies_are_written_redacted() {
        let local = Arc::new(LocalGitHub::default());
        let redactor = Redactor::default();
        redactor.add("hunter2hunter2");
        let gh = RedactingGitHub::new(local.clone(), redactor);
        let labels = vec!["drift".to_owned()];
        let n = gh
            .create_issue(
                1,
                "acme/infra",
                "t hunter2hunter2",
                "b hunter2hunter2",
                &labels,
            )
            .await
            .unwrap();
        let seen = format!("{:?}", local.issues());
        assert!(!seen.contains("hunter2hunter2"), "{seen}");
        assert!(seen.contains("t [redacted]"), "{seen}");
        let update = IssueUpdate {
            body: Some("again hunter2hunter2".into()),
            open: Some(false),
        };
        gh.update_issue(1, "acme/infra", n, &update).await.unwrap();
        let issue = gh
            .find_issue(1, "acme/infra", "drift", "t [redacted]")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (issue.body.as_str(), issue.open),
            ("again [redacted]", false)
        );
    }
}
