//! Policy checks' results and approvals: per project plan at a head, each policy set's
//! result (passed, its failures and warnings); per pull request at a head, each owner's
//! approval of a set. Approvals are keyed by the head: a new push leaves them behind.

use crate::ids::RepoKey;
use crate::ids::{PrNumber, Sha};
use async_trait::async_trait;

use super::Millis;
use crate::plan::Target;

/// One policy set's result on one project's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyResult {
    pub target: Target,
    pub policy_set: String,
    pub passed: bool,
    pub failures: Vec<String>,
    pub warnings: Vec<String>,
}

/// One owner's approval of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyApproval {
    pub policy_set: String,
    /// The approver's GitHub login, lowercased.
    pub approver: String,
}

#[async_trait]
pub trait PolicyStore: Send + Sync {
    /// Replaces the results of `target`'s plan at `head_sha` with `results` (each of whose
    /// `target` is `target`), in one transaction.
    async fn record_policy_results(
        &self,
        (repository, pr): (&RepoKey, PrNumber),
        target: &Target,
        head_sha: &Sha,
        results: &[PolicyResult],
        now: Millis,
    ) -> anyhow::Result<()>;

    /// The results of a pull request's plans at `head_sha`, by dir, workspace, name, set.
    async fn policy_results(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
        head_sha: &Sha,
    ) -> anyhow::Result<Vec<PolicyResult>>;

    /// Records `approver`'s approval of `policy_set`; false when it was recorded already.
    async fn approve_policy(
        &self,
        (repository, pr): (&RepoKey, PrNumber),
        head_sha: &Sha,
        policy_set: &str,
        approver: &str,
        now: Millis,
    ) -> anyhow::Result<bool>;

    /// Removes `approver`'s approvals at `head_sha`; returns how many there were.
    async fn clear_policy_approvals(
        &self,
        (repository, pr): (&RepoKey, PrNumber),
        head_sha: &Sha,
        approver: &str,
    ) -> anyhow::Result<u64>;

    /// The approvals of a pull request at `head_sha`, by set then approver.
    async fn policy_approvals(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
        head_sha: &Sha,
    ) -> anyhow::Result<Vec<PolicyApproval>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_db::store_test;

    fn target(dir: &str, name: Option<&str>) -> Target {
        Target {
            dir: dir.into(),
            workspace: "default".into(),
            name: name.map(Into::into),
        }
    }

    fn result(t: &Target, set: &str, failures: &[&str]) -> PolicyResult {
        PolicyResult {
            target: t.clone(),
            policy_set: set.into(),
            passed: failures.is_empty(),
            failures: failures.iter().map(|f| (*f).to_owned()).collect(),
            warnings: vec!["careful".into()],
        }
    }

    store_test! { async fn results_are_replaced_per_project_and_head(db) {
        let s = db.open().await;
        let (a, b) = (target("a", None), target("a", Some("named")));
        let key = RepoKey::new("acme/infra");
        let pr = (&key, PrNumber(7));
        s.record_policy_results(pr, &a, &Sha::new("h1"), &[result(&a, "sec", &["no"]), result(&a, "cost", &[])], 1)
            .await
            .unwrap();
        s.record_policy_results(pr, &b, &Sha::new("h1"), &[result(&b, "sec", &[])], 1).await.unwrap();
        s.record_policy_results(pr, &a, &Sha::new("h2"), &[result(&a, "sec", &[])], 2).await.unwrap();
        let at_h1 = s.policy_results(&RepoKey::new("acme/infra"), PrNumber(7), &Sha::new("h1")).await.unwrap();
        assert_eq!(
            at_h1,
            vec![result(&a, "cost", &[]), result(&a, "sec", &["no"]), result(&b, "sec", &[])]
        );
        // A replan at the same head replaces the project's results.
        s.record_policy_results(pr, &a, &Sha::new("h1"), &[result(&a, "sec", &[])], 3).await.unwrap();
        let at_h1 = s.policy_results(&RepoKey::new("acme/infra"), PrNumber(7), &Sha::new("h1")).await.unwrap();
        assert_eq!(at_h1, vec![result(&a, "sec", &[]), result(&b, "sec", &[])]);
        assert!(s.policy_results(&RepoKey::new("acme/infra"), PrNumber(8), &Sha::new("h1")).await.unwrap().is_empty());
    }}

    store_test! { async fn approvals_are_per_head_and_cleared_per_approver(db) {
        let s = db.open().await;
        let key = RepoKey::new("acme/infra");
        let pr = (&key, PrNumber(7));
        assert!(s.approve_policy(pr, &Sha::new("h1"), "sec", "alice", 1).await.unwrap());
        assert!(!s.approve_policy(pr, &Sha::new("h1"), "sec", "alice", 2).await.unwrap());
        assert!(s.approve_policy(pr, &Sha::new("h1"), "cost", "alice", 2).await.unwrap());
        assert!(s.approve_policy(pr, &Sha::new("h1"), "sec", "bob", 2).await.unwrap());
        let approval = |set: &str, who: &str| PolicyApproval {
            policy_set: set.into(),
            approver: who.into(),
        };
        assert_eq!(
            s.policy_approvals(&RepoKey::new("acme/infra"), PrNumber(7), &Sha::new("h1")).await.unwrap(),
            vec![approval("cost", "alice"), approval("sec", "alice"), approval("sec", "bob")]
        );
        assert!(s.policy_approvals(&RepoKey::new("acme/infra"), PrNumber(7), &Sha::new("h2")).await.unwrap().is_empty());
        assert_eq!(s.clear_policy_approvals(pr, &Sha::new("h1"), "alice").await.unwrap(), 2);
        assert_eq!(
            s.policy_approvals(&RepoKey::new("acme/infra"), PrNumber(7), &Sha::new("h1")).await.unwrap(),
            vec![approval("sec", "bob")]
        );
    }}
}
