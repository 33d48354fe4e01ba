//! What a job is: the part of an event a workflow needs, stored as JSON in the job queue so a
//! job runs the same after a restart as it would have before.

use crate::ids::{InstallationId, PrNumber, Sha};
use serde::{Deserialize, Serialize};

use crate::event::{PullRequest, Repo};
use crate::ids::{RepoId, RepoKey};

/// The repository a job works on: its key in the store, and its name now for GitHub and
/// for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoRef {
    /// GitHub's id; absent in jobs queued before repositories were kept by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<RepoId>,
    /// The key its rows are stored under ([`crate::store::RepositoryStore::repo_key`]);
    /// absent in jobs queued before, whose rows are under the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<RepoKey>,
    /// `owner/name` now
    pub full_name: String,
    pub clone_url: String,
    pub default_branch: String,
}

impl RepoRef {
    /// The key its rows are stored under: the one the store gave, else (a job queued before
    /// repositories were kept by id) its name, which its rows were stored under then.
    pub fn key(&self) -> RepoKey {
        self.key
            .clone()
            .unwrap_or_else(|| RepoKey::new(self.full_name.clone()))
    }

    /// A repository GitHub listed, stored under `key`.
    pub fn listed(r: &crate::github::RepoInfo, key: RepoKey) -> Self {
        Self {
            id: Some(r.id),
            key: Some(key),
            full_name: r.full_name.clone(),
            clone_url: r.clone_url.clone(),
            default_branch: r.default_branch.clone(),
        }
    }

    /// A repository GitHub does not know (the local preview's): stored under its name.
    pub fn unlisted(full_name: &str, clone_url: &str, default_branch: &str) -> Self {
        Self {
            id: None,
            key: None,
            full_name: full_name.to_owned(),
            clone_url: clone_url.to_owned(),
            default_branch: default_branch.to_owned(),
        }
    }

    /// The repository under its name now, `full_name`: GitHub's clone URL follows the name.
    pub fn renamed(&mut self, full_name: &str) {
        if self.full_name == full_name {
            return;
        }
        let old = format!("/{}.git", self.full_name);
        if let Some(base) = self.clone_url.strip_suffix(&old) {
            self.clone_url = format!("{base}/{full_name}.git");
        }
        self.full_name = full_name.to_owned();
    }

    /// Gives the repository its store key.
    pub fn set_key(&mut self, key: RepoKey) {
        self.key = Some(key);
    }
}

impl From<&Repo> for RepoRef {
    /// The repository of an event before its key is known (see [`RepoRef::set_key`]).
    fn from(r: &Repo) -> Self {
        Self {
            id: Some(RepoId(r.id)),
            key: None,
            full_name: r.full_name.clone(),
            clone_url: r.clone_url.clone(),
            default_branch: r.default_branch.clone(),
        }
    }
}

/// A pull request as a job sees it: the commits to plan, and who opened it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrRef {
    pub number: PrNumber,
    pub head_sha: Sha,
    pub head_ref: String,
    pub base_sha: Sha,
    pub base_ref: String,
    pub author: String,
}

impl From<&PullRequest> for PrRef {
    fn from(pr: &PullRequest) -> Self {
        Self {
            number: pr.number,
            head_sha: pr.head.sha.clone(),
            head_ref: pr.head.name.clone(),
            base_sha: pr.base.sha.clone(),
            base_ref: pr.base.name.clone(),
            author: pr.author.login.clone(),
        }
    }
}

impl PrRef {
    /// The pull request as GitHub describes it now: at its head while open; once merged, at
    /// its merge commit (as head and base: the commit is planned and applied as it is).
    pub fn of(info: &crate::github::PullRequestInfo) -> Self {
        let merge = match (info.state, &info.merge_commit_sha) {
            (crate::github::PrState::Merged, Some(sha)) => Some(sha),
            _ => None,
        };
        Self {
            number: info.number,
            head_sha: merge.unwrap_or(&info.head_sha).clone(),
            head_ref: info.head_ref.clone(),
            base_sha: merge.unwrap_or(&info.base_sha).clone(),
            base_ref: info.base_ref.clone(),
            author: info.author.clone(),
        }
    }
}

/// The queue's `kind` of reconcile jobs.
pub const RECONCILE_KIND: &str = "reconcile";

/// The queue's `kind` of drift jobs.
pub const DRIFT_KIND: &str = "drift";
/// Drift jobs wait for pull requests' work: the queue claims higher priorities first.
pub const DRIFT_PRIORITY: i64 = -10;

/// The job that checks `repo` for drift; `source` makes enqueueing it idempotent (a
/// schedule's tick enqueues each repo once, however many replicas see the tick).
pub fn drift_job(
    repo: RepoRef,
    installation_id: InstallationId,
    trigger: crate::drift::Trigger,
    source: String,
) -> crate::store::NewJob {
    let spec = JobSpec::Drift { repo, trigger };
    crate::store::NewJob {
        source,
        kind: DRIFT_KIND.to_owned(),
        repository: spec.repo().key(),
        installation_id,
        pr: PrNumber(0),
        priority: DRIFT_PRIORITY,
        // A spec of plain strings always serialises.
        spec: serde_json::to_string(&spec).unwrap_or_default(),
        created_at: crate::store::now_millis(),
        // A queued drift run of the repo is pointless once a newer one is queued.
        supersedes_kind: Some(DRIFT_KIND.to_owned()),
    }
}

/// The work a job does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobSpec {
    /// Plan every affected project of a pull request at its head.
    Autoplan { repo: RepoRef, pr: PrRef },
    /// A comment addressed to bosun (parsed again when the job runs: parsing is pure).
    Comment {
        repo: RepoRef,
        pr_number: PrNumber,
        comment_id: u64,
        author: String,
        body: String,
    },
    /// Plan these projects of a pull request at its head: it waited for their locks, and
    /// they were released. `note` says so in the summary comment.
    Replan {
        repo: RepoRef,
        pr_number: PrNumber,
        targets: Vec<crate::plan::Target>,
        note: String,
    },
    /// A pull request was closed: unmerged, its locks, plans and checkouts go; merged, its
    /// projects with `apply_on_merge` are applied first.
    Closed {
        repo: RepoRef,
        pr_number: PrNumber,
        merged: bool,
    },
    /// Check a pull request bosun holds locks or plans for against GitHub, for webhooks it
    /// missed: closed, it is closed as the webhook would have; open at a head with no plan,
    /// it is planned.
    Reconcile { repo: RepoRef, pr_number: PrNumber },
    /// Check the default branch's projects for drift (pull request 0: the repo's drift runs
    /// go one at a time, beside its pull requests' jobs).
    Drift {
        repo: RepoRef,
        trigger: crate::drift::Trigger,
    },
    /// Release a pull request's locks on `targets`, asked for through bosun's API by `by`
    /// (a GitHub login, or the operator) for `reason`: as the `unlock` comment does.
    Unlock {
        repo: RepoRef,
        pr_number: PrNumber,
        targets: Vec<crate::plan::Target>,
        by: String,
        reason: String,
    },
}

impl JobSpec {
    /// The queue's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Autoplan { .. } => "autoplan",
            Self::Comment { .. } => "comment",
            Self::Replan { .. } => "replan",
            Self::Closed { .. } => "closed",
            Self::Reconcile { .. } => RECONCILE_KIND,
            Self::Drift { .. } => DRIFT_KIND,
            Self::Unlock { .. } => "unlock",
        }
    }

    pub fn repo_mut(&mut self) -> &mut RepoRef {
        match self {
            Self::Autoplan { repo, .. }
            | Self::Comment { repo, .. }
            | Self::Replan { repo, .. }
            | Self::Closed { repo, .. }
            | Self::Reconcile { repo, .. }
            | Self::Drift { repo, .. }
            | Self::Unlock { repo, .. } => repo,
        }
    }

    pub fn repo(&self) -> &RepoRef {
        match self {
            Self::Autoplan { repo, .. }
            | Self::Comment { repo, .. }
            | Self::Replan { repo, .. }
            | Self::Closed { repo, .. }
            | Self::Reconcile { repo, .. }
            | Self::Drift { repo, .. }
            | Self::Unlock { repo, .. } => repo,
        }
    }

    pub fn pr_number(&self) -> PrNumber {
        match self {
            Self::Autoplan { pr, .. } => pr.number,
            Self::Comment { pr_number, .. }
            | Self::Replan { pr_number, .. }
            | Self::Closed { pr_number, .. }
            | Self::Reconcile { pr_number, .. }
            | Self::Unlock { pr_number, .. } => *pr_number,
            Self::Drift { .. } => PrNumber(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_queued_before_keys_existed_is_stored_under_its_name_and_a_new_one_keeps_its_key() {
        let old = r#"{"kind":"drift","repo":{"full_name":"acme/infra",
            "clone_url":"https://github.com/acme/infra.git","default_branch":"main"},
            "trigger":"schedule"}"#;
        let spec: JobSpec = serde_json::from_str(old).unwrap();
        assert_eq!(spec.repo().id, None);
        assert_eq!(spec.repo().key(), RepoKey::new("acme/infra"));

        let mut spec = spec;
        spec.repo_mut().set_key(RepoKey::new("acme/infra#42"));
        let again: JobSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(again.repo().key(), RepoKey::new("acme/infra#42"));
    }

    #[test]
    fn a_renamed_repository_is_cloned_from_its_new_name() {
        let mut repo = RepoRef::unlisted("acme/infra", "https://github.com/acme/infra.git", "main");
        repo.set_key(RepoKey::new("acme/infra"));
        repo.renamed("acme/platform");
        assert_eq!(repo.full_name, "acme/platform");
        assert_eq!(repo.clone_url, "https://github.com/acme/platform.git");
        assert_eq!(repo.key(), RepoKey::new("acme/infra"), "the key stays");
    }
}
