//! The dispatcher: what bosun does with an event. The delivery worker hands it every typed
//! event of a stored delivery; it turns pull request events and comment commands into jobs in
//! the store (exactly once per delivery) and wakes the job worker.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::command::{self, Parsed};
use crate::event::{Event, EventKind, PullRequestAction};
use crate::ids::RepoId;
use crate::store::{NewJob, Store, now_millis};
use crate::workflow::job::{JobSpec, PrRef, RepoRef};

/// How a dispatch went wrong: worth another try later, or never.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("{0:#}")]
    Transient(anyhow::Error),
    #[error("{0:#}")]
    Permanent(anyhow::Error),
}

/// Acts on events. A crash between `dispatch` returning and the store recording the delivery
/// as processed runs `dispatch` again for that delivery after restart, so anything it writes
/// must be keyed by `delivery_id` (insert-if-absent), which makes its effect exactly-once.
#[async_trait]
pub trait Dispatcher: Send + Sync + 'static {
    /// Returns a one-line summary of what was done, for the event log.
    async fn dispatch(&self, delivery_id: &str, event: &Event) -> Result<String, DispatchError>;
}

/// The dispatcher of this foundation: it logs each event and summarises it in the store's
/// event log. Jobs come with the plan issue.
#[derive(Debug, Default)]
pub struct EventLog;

#[async_trait]
impl Dispatcher for EventLog {
    async fn dispatch(&self, _delivery_id: &str, event: &Event) -> Result<String, DispatchError> {
        let summary = summarise(event);
        tracing::info!(event = event.name(), %summary, "event received");
        Ok(summary)
    }
}

/// The dispatcher `bosun serve` runs: events become jobs.
pub struct JobDispatcher {
    pub store: Arc<dyn Store>,
    /// Woken when jobs are enqueued.
    pub enqueued: Arc<Notify>,
    pub command_names: Vec<String>,
    pub app_slug: String,
    pub plan_drafts: bool,
    /// BOSUN_DISABLE_AUTOPLAN: no plan on open or push.
    pub disable_autoplan: bool,
    /// BOSUN_ALLOW_FORK_PRS: plan pull requests from forks automatically.
    pub allow_fork_prs: bool,
}

impl JobDispatcher {
    /// The job an event asks for, or why there is none.
    fn job_for(&self, event: &Event) -> Result<JobSpec, String> {
        let Some(repo) = &event.repo else {
            return Err("not about a repository".into());
        };
        let repo_ref = RepoRef::from(repo);
        match &event.kind {
            EventKind::PullRequest { action, pr } => match action {
                PullRequestAction::Closed { merged } => Ok(JobSpec::Closed {
                    repo: repo_ref,
                    pr_number: pr.number,
                    merged: *merged,
                }),
                _ if self.disable_autoplan => {
                    Err("not planned automatically (BOSUN_DISABLE_AUTOPLAN=true)".into())
                }
                _ if pr.draft && !self.plan_drafts => {
                    Err("draft pull request: not planned (BOSUN_PLAN_DRAFTS=false)".into())
                }
                _ if pr.is_from_fork() && !self.allow_fork_prs => {
                    Err("pull request from a fork: not planned (BOSUN_ALLOW_FORK_PRS=false)".into())
                }
                _ => Ok(JobSpec::Autoplan {
                    repo: repo_ref,
                    pr: PrRef::from(pr),
                }),
            },
            EventKind::PullRequestComment { pr_number, comment } => {
                if comment.author.is_bot {
                    return Err("comment by a bot".into());
                }
                match command::parse(&comment.body, &self.command_names, &self.app_slug) {
                    Parsed::NotACommand => Err("not a command".into()),
                    Parsed::Command(_)
                    | Parsed::Usage(_)
                    | Parsed::WrongName { .. }
                    | Parsed::Error(_) => Ok(JobSpec::Comment {
                        repo: repo_ref,
                        pr_number: *pr_number,
                        comment_id: comment.id,
                        author: comment.author.login.clone(),
                        body: comment.body.clone(),
                    }),
                }
            }
            _ => Err("nothing to do".into()),
        }
    }
}

#[async_trait]
impl Dispatcher for JobDispatcher {
    async fn dispatch(&self, delivery_id: &str, event: &Event) -> Result<String, DispatchError> {
        let summary = summarise(event);
        let mut spec = match self.job_for(event) {
            Ok(spec) => spec,
            Err(why) => {
                tracing::debug!(event = event.name(), %why, "no job");
                return Ok(format!("{summary}: {why}"));
            }
        };
        let Some(installation_id) = event.installation_id else {
            return Err(DispatchError::Permanent(anyhow::anyhow!(
                "the event names no installation"
            )));
        };
        if let Some(repo) = &event.repo {
            // The repository by GitHub's id: a renamed one keeps its locks and plans.
            let key = self
                .store
                .repo_key(RepoId(repo.id), &repo.full_name, now_millis())
                .await
                .map_err(DispatchError::Transient)?;
            spec.repo_mut().set_key(key);
        }
        let kind = spec.kind();
        let job = NewJob {
            source: delivery_id.to_owned(),
            kind: kind.to_owned(),
            repository: spec.repo().key(),
            installation_id,
            pr: spec.pr_number(),
            priority: 0,
            spec: serde_json::to_string(&spec).map_err(|e| DispatchError::Permanent(e.into()))?,
            created_at: now_millis(),
            // A push makes the plans of the previous head pointless.
            supersedes_kind: (kind == "autoplan").then(|| "autoplan".to_owned()),
        };
        let ids = self
            .store
            .enqueue_jobs(std::slice::from_ref(&job))
            .await
            .map_err(DispatchError::Transient)?;
        self.enqueued.notify_waiters();
        tracing::info!(event = event.name(), %summary, kind, "job enqueued");
        Ok(match ids.first() {
            Some(id) => format!("{summary}: {kind} job {id}"),
            None => format!("{summary}: {kind} job already enqueued"),
        })
    }
}

/// A one-line description of an event, for logs and the event log.
pub fn summarise(event: &Event) -> String {
    let repo = event
        .repo
        .as_ref()
        .map(|r| r.full_name.as_str())
        .unwrap_or("-");
    let who = &event.sender.login;
    match &event.kind {
        EventKind::PullRequest { action, pr } => {
            let what = match action {
                PullRequestAction::Opened => "opened",
                PullRequestAction::Reopened => "reopened",
                PullRequestAction::Synchronize { .. } => "updated",
                PullRequestAction::ReadyForReview => "marked ready for review",
                PullRequestAction::Closed { merged: true } => "merged",
                PullRequestAction::Closed { merged: false } => "closed",
            };
            format!(
                "{repo}#{} {what} at {} by {who}",
                pr.number,
                pr.head.sha.short()
            )
        }
        EventKind::PullRequestComment { pr_number, comment } => {
            format!(
                "{repo}#{pr_number} comment {} by {}",
                comment.id, comment.author.login
            )
        }
        EventKind::PullRequestReview { pr, review, .. } => {
            format!(
                "{repo}#{} review {:?} by {}",
                pr.number, review.state, review.author.login
            )
        }
        EventKind::Push { git_ref, after, .. } => {
            format!("{repo} push to {git_ref} at {} by {who}", after.short())
        }
        EventKind::CheckRun { action, check_run } => {
            format!("{repo} check run `{}` {action:?} by {who}", check_run.name)
        }
        EventKind::Installation {
            action, account, ..
        } => format!("installation for {account} {action:?}"),
        EventKind::InstallationRepositories {
            account,
            added,
            removed,
            ..
        } => {
            format!(
                "installation for {account}: {} repos added, {} removed",
                added.len(),
                removed.len()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Branch, Comment, PullRequest, Repo, User};
    use crate::ids::RepoKey;
    use crate::ids::{InstallationId, PrNumber, Sha};

    fn user(login: &str, is_bot: bool) -> User {
        User {
            id: 1,
            login: login.into(),
            is_bot,
        }
    }

    fn pr(draft: bool, head_repo: &str) -> PullRequest {
        PullRequest {
            number: PrNumber(7),
            title: "t".into(),
            author: user("alice", false),
            head: Branch {
                name: "change".into(),
                sha: Sha::new("a".repeat(40)),
                repo_full_name: Some(head_repo.into()),
            },
            base: Branch {
                name: "main".into(),
                sha: Sha::new("b".repeat(40)),
                repo_full_name: Some("acme/infra".into()),
            },
            draft,
            open: true,
            merged: false,
            merge_commit_sha: None,
            html_url: String::new(),
        }
    }

    fn event(kind: EventKind) -> Event {
        Event {
            installation_id: Some(InstallationId(1)),
            repo: Some(Repo {
                id: 1,
                owner: "acme".into(),
                name: "infra".into(),
                full_name: "acme/infra".into(),
                clone_url: "https://github.com/acme/infra.git".into(),
                default_branch: "main".into(),
                private: true,
            }),
            sender: user("alice", false),
            kind,
        }
    }

    async fn dispatcher(plan_drafts: bool) -> (tempfile::TempDir, JobDispatcher) {
        dispatcher_with(plan_drafts, false).await
    }

    async fn dispatcher_with(
        plan_drafts: bool,
        allow_fork_prs: bool,
    ) -> (tempfile::TempDir, JobDispatcher) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::open(
            &format!("sqlite://{}", dir.path().join("b.db").display()),
            crate::store::Sealer::ephemeral().unwrap(),
        )
        .await
        .unwrap();
        let d = JobDispatcher {
            store,
            enqueued: Arc::new(Notify::new()),
            command_names: vec!["bosun".into(), "atlantis".into()],
            app_slug: "bosun-app".into(),
            plan_drafts,
            disable_autoplan: false,
            allow_fork_prs,
        };
        (dir, d)
    }

    fn opened(draft: bool, head_repo: &str) -> Event {
        event(EventKind::PullRequest {
            action: PullRequestAction::Opened,
            pr: pr(draft, head_repo),
        })
    }

    fn comment(body: &str, bot: bool) -> Event {
        event(EventKind::PullRequestComment {
            pr_number: PrNumber(7),
            comment: Comment {
                id: 9,
                body: body.into(),
                author: user("bob", bot),
                html_url: String::new(),
            },
        })
    }

    #[tokio::test]
    async fn which_events_become_jobs() {
        let (_d, d) = dispatcher(true).await;
        let kind = |e: &Event| d.job_for(e).map(|j| j.kind());
        assert_eq!(kind(&opened(false, "acme/infra")), Ok("autoplan"));
        assert_eq!(kind(&opened(true, "acme/infra")), Ok("autoplan"));
        assert!(kind(&opened(false, "mallory/infra")).is_err(), "forks");
        assert_eq!(kind(&comment("bosun plan", false)), Ok("comment"));
        assert_eq!(kind(&comment("atlantis plan -d x", false)), Ok("comment"));
        assert_eq!(kind(&comment("@bosun-app help", false)), Ok("comment"));
        assert_eq!(
            kind(&comment("bosun plna", false)),
            Ok("comment"),
            "replied to"
        );
        assert!(kind(&comment("lgtm", false)).is_err());
        assert!(kind(&comment("bosun plan", true)).is_err(), "bots");
        let closed = event(EventKind::PullRequest {
            action: PullRequestAction::Closed { merged: true },
            pr: pr(false, "acme/infra"),
        });
        assert_eq!(kind(&closed), Ok("closed"));

        let (_d, no_drafts) = dispatcher(false).await;
        assert!(no_drafts.job_for(&opened(true, "acme/infra")).is_err());
    }

    #[tokio::test]
    async fn forks_are_planned_when_allowed() {
        let (_d, d) = dispatcher_with(true, true).await;
        let kind = |e: &Event| d.job_for(e).map(|j| j.kind());
        assert_eq!(kind(&opened(false, "mallory/infra")), Ok("autoplan"));
        let mut deleted = opened(false, "acme/infra");
        if let EventKind::PullRequest { pr, .. } = &mut deleted.kind {
            pr.head.repo_full_name = None;
        }
        assert_eq!(kind(&deleted), Ok("autoplan"), "a deleted fork is a fork");
        let (_d, closed) = dispatcher(true).await;
        assert!(closed.job_for(&deleted).is_err(), "and refused by default");
    }

    #[tokio::test]
    async fn a_delivery_dispatched_twice_makes_one_job() {
        let (_d, d) = dispatcher(true).await;
        let e = opened(false, "acme/infra");
        let first = d.dispatch("guid-1", &e).await.unwrap();
        let again = d.dispatch("guid-1", &e).await.unwrap();
        assert!(first.ends_with("autoplan job 1"), "{first}");
        assert!(again.ends_with("already enqueued"), "{again}");
        assert_eq!(
            d.store
                .jobs_of_pr(&RepoKey::new("acme/infra"), PrNumber(7))
                .await
                .unwrap()
                .len(),
            1
        );
    }
}
