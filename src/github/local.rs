//! A GitHub that lives in memory, for `bosun preview`: comments are kept to be printed, check
//! runs and issues are kept, and the token is a placeholder (the preview's git remote is a
//! local path). It has no installations; everything else answers that it is not there.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::{
    CheckRunSpec, CommentRef, GitHub, GitHubError, HookDeliveryPage, InstallationToken, IssueInfo,
    IssueUpdate, MergeMethod, MergeRequirements, Permission, PullRequestInfo, Reaction, RepoInfo,
    ReviewInfo,
};
use crate::config::Secret;

/// What `bosun preview` would have posted.
#[derive(Debug, Default)]
pub struct LocalGitHub {
    comments: Mutex<Vec<(u64, String)>>,
    checks: Mutex<Vec<CheckRunSpec>>,
    /// Issues with their labels, numbered from 1 in order.
    issues: Mutex<Vec<(IssueInfo, Vec<String>)>>,
}

impl LocalGitHub {
    /// The comments' bodies, in posting order, with edits applied.
    pub fn comments(&self) -> Vec<String> {
        lock(&self.comments)
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// Every check run as last written.
    pub fn checks(&self) -> Vec<CheckRunSpec> {
        lock(&self.checks).clone()
    }

    /// Every issue as last written, by number.
    pub fn issues(&self) -> Vec<IssueInfo> {
        lock(&self.issues).iter().map(|(i, _)| i.clone()).collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn absent(what: &str) -> GitHubError {
    GitHubError::Transport {
        what: what.to_owned(),
        message: "bosun preview runs without GitHub".to_owned(),
    }
}

#[async_trait]
impl GitHub for LocalGitHub {
    async fn installation_token(&self, _: u64) -> Result<InstallationToken, GitHubError> {
        Ok(InstallationToken {
            token: Secret::new("preview"),
            expires_at: SystemTime::now() + Duration::from_secs(3600),
        })
    }

    async fn repo_read_token(&self, _: u64, _: &str) -> Result<InstallationToken, GitHubError> {
        Ok(InstallationToken {
            token: Secret::new("preview"),
            expires_at: SystemTime::now() + Duration::from_secs(3600),
        })
    }

    async fn hook_deliveries(&self, _: Option<&str>) -> Result<HookDeliveryPage, GitHubError> {
        Ok(HookDeliveryPage::default())
    }

    async fn app_slug(&self) -> Result<String, GitHubError> {
        Ok("bosun".into())
    }

    async fn redeliver(&self, _: i64) -> Result<(), GitHubError> {
        Err(absent("a redelivery"))
    }

    async fn create_comment(
        &self,
        _: u64,
        _: &str,
        _: u64,
        body: &str,
    ) -> Result<CommentRef, GitHubError> {
        let mut comments = lock(&self.comments);
        let id = comments.len() as u64 + 1;
        comments.push((id, body.to_owned()));
        Ok(CommentRef {
            id,
            node_id: format!("local-{id}"),
        })
    }

    async fn comments_by(
        &self,
        _: u64,
        _: &str,
        _: u64,
        _: &str,
        prefix: &str,
    ) -> Result<Vec<CommentRef>, GitHubError> {
        Ok(lock(&self.comments)
            .iter()
            .filter(|(_, body)| body.starts_with(prefix))
            .map(|(id, _)| CommentRef {
                id: *id,
                node_id: format!("local-{id}"),
            })
            .collect())
    }

    async fn update_comment(
        &self,
        _: u64,
        _: &str,
        id: u64,
        body: &str,
    ) -> Result<(), GitHubError> {
        match lock(&self.comments).iter_mut().find(|(i, _)| *i == id) {
            Some(c) => {
                c.1 = body.to_owned();
                Ok(())
            }
            None => Err(GitHubError::Status {
                status: 404,
                what: "editing a comment".into(),
                message: "Not Found".into(),
            }),
        }
    }

    async fn minimize_comment(&self, _: u64, _: &str) -> Result<(), GitHubError> {
        Ok(())
    }

    async fn add_reaction(&self, _: u64, _: &str, _: u64, _: Reaction) -> Result<(), GitHubError> {
        Ok(())
    }

    async fn pull_request(&self, _: u64, _: &str, _: u64) -> Result<PullRequestInfo, GitHubError> {
        Err(absent("a pull request"))
    }

    async fn create_check_run(
        &self,
        _: u64,
        _: &str,
        check: &CheckRunSpec,
    ) -> Result<u64, GitHubError> {
        let mut checks = lock(&self.checks);
        checks.push(check.clone());
        Ok(checks.len() as u64)
    }

    async fn update_check_run(
        &self,
        _: u64,
        _: &str,
        id: u64,
        check: &CheckRunSpec,
    ) -> Result<(), GitHubError> {
        if let Some(c) = lock(&self.checks).get_mut(id.saturating_sub(1) as usize) {
            *c = check.clone();
        }
        Ok(())
    }

    async fn reviews(&self, _: u64, _: &str, _: u64) -> Result<Vec<ReviewInfo>, GitHubError> {
        Ok(Vec::new())
    }

    async fn permission(&self, _: u64, _: &str, _: &str) -> Result<Permission, GitHubError> {
        Ok(Permission::Admin)
    }

    async fn team_member(&self, _: u64, _: &str, _: &str, _: &str) -> Result<bool, GitHubError> {
        Ok(true)
    }

    async fn merge_pull_request(
        &self,
        _: u64,
        _: &str,
        _: u64,
        _: &str,
        _: MergeMethod,
    ) -> Result<String, GitHubError> {
        Err(GitHubError::Transport {
            what: "merging a pull request".into(),
            message: "bosun preview does not merge pull requests".into(),
        })
    }

    async fn delete_branch(&self, _: u64, _: &str, _: &str) -> Result<(), GitHubError> {
        Err(GitHubError::Transport {
            what: "deleting a branch".into(),
            message: "bosun preview does not delete branches".into(),
        })
    }

    async fn merge_requirements(
        &self,
        _: u64,
        _: &str,
        _: u64,
    ) -> Result<MergeRequirements, GitHubError> {
        Ok(MergeRequirements::default())
    }

    async fn installations(&self) -> Result<Vec<u64>, GitHubError> {
        Ok(Vec::new())
    }

    async fn installation_repos(&self, _: u64) -> Result<Vec<RepoInfo>, GitHubError> {
        Ok(Vec::new())
    }

    async fn repo_installation(&self, _: &str) -> Result<Option<u64>, GitHubError> {
        Ok(None)
    }

    async fn repository(&self, _: u64, _: &str) -> Result<RepoInfo, GitHubError> {
        Err(absent("a repository"))
    }

    async fn find_issue(
        &self,
        _: u64,
        _: &str,
        label: &str,
        title: &str,
    ) -> Result<Option<IssueInfo>, GitHubError> {
        let issues = lock(&self.issues);
        let ours: Vec<&IssueInfo> = issues
            .iter()
            .filter(|(i, labels)| i.title == title && labels.iter().any(|l| l == label))
            .map(|(i, _)| i)
            .collect();
        // The open one, else the last one opened (closed).
        Ok(ours
            .iter()
            .find(|i| i.open)
            .or(ours.last())
            .map(|i| (*i).clone()))
    }

    async fn create_issue(
        &self,
        _: u64,
        _: &str,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> Result<u64, GitHubError> {
        let mut issues = lock(&self.issues);
        let number = issues.len() as u64 + 1;
        let issue = IssueInfo {
            number,
            open: true,
            title: title.to_owned(),
            body: body.to_owned(),
        };
        issues.push((issue, labels.to_vec()));
        Ok(number)
    }

    async fn update_issue(
        &self,
        _: u64,
        _: &str,
        number: u64,
        update: &IssueUpdate,
    ) -> Result<(), GitHubError> {
        let mut issues = lock(&self.issues);
        let Some((issue, _)) = issues.iter_mut().find(|(i, _)| i.number == number) else {
            return Err(GitHubError::Status {
                status: 404,
                what: "updating an issue".into(),
                message: "Not Found".into(),
            });
        };
        if let Some(body) = &update.body {
            issue.body = body.clone();
        }
        if let Some(open) = update.open {
            issue.open = open;
        }
        Ok(())
    }
}
