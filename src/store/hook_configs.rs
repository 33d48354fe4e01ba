//! The repo config files of a commit as a pull request's pre workflow hooks left them (a
//! hook may write the repo config, as terragrunt-atlantis-config does): kept per commit, so
//! every later reader of that commit's config, on any replica, reads what the hooks made.
//! Forgotten when the pull request closes.

use crate::ids::RepoKey;
use crate::ids::{PrNumber, Sha};
use async_trait::async_trait;

use super::Millis;

/// One candidate repo config file of the tree, and its text when the file is there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigFile {
    pub path: String,
    pub text: Option<String>,
}

#[async_trait]
pub trait HookConfigStore: Send + Sync {
    /// Keeps what the hooks left at `sha` of pull request `pr` (replacing an earlier run's).
    async fn keep_hook_config(
        &self,
        (repository, pr, sha): (&RepoKey, PrNumber, &Sha),
        files: &[ConfigFile],
        now: Millis,
    ) -> anyhow::Result<()>;

    /// What the hooks left at `sha`, when they ran there.
    async fn hook_config(
        &self,
        repository: &RepoKey,
        sha: &Sha,
    ) -> anyhow::Result<Option<Vec<ConfigFile>>>;

    /// Forgets a pull request's; returns how many commits' there were.
    async fn delete_hook_configs(&self, repository: &RepoKey, pr: PrNumber) -> anyhow::Result<u64>;
}

/// The files as the store keeps them: one JSON array.
pub(super) fn encode(files: &[ConfigFile]) -> anyhow::Result<String> {
    Ok(serde_json::to_string(files)?)
}

pub(super) fn decode(text: &str) -> anyhow::Result<Vec<ConfigFile>> {
    Ok(serde_json::from_str(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_db::store_test;

    store_test! { async fn hook_configs_are_kept_per_commit_replaced_and_forgotten_with_the_pr(db) {
        let s = db.open().await;
        let files = vec![
            ConfigFile { path: "atlantis.yaml".into(), text: Some("version: 3\n".into()) },
            ConfigFile { path: "bosun.yaml".into(), text: None },
        ];
        assert_eq!(s.hook_config(&RepoKey::new("o/r"), &Sha::new("a1")).await.unwrap(), None);
        s.keep_hook_config((&RepoKey::new("o/r"), PrNumber(7), &Sha::new("a1")), &files, 1).await.unwrap();
        assert_eq!(s.hook_config(&RepoKey::new("o/r"), &Sha::new("a1")).await.unwrap(), Some(files.clone()));
        assert_eq!(s.hook_config(&RepoKey::new("o/r"), &Sha::new("b2")).await.unwrap(), None, "another commit");
        assert_eq!(s.hook_config(&RepoKey::new("o/other"), &Sha::new("a1")).await.unwrap(), None, "another repo");
        let again = vec![ConfigFile { path: "atlantis.yaml".into(), text: None }];
        s.keep_hook_config((&RepoKey::new("o/r"), PrNumber(7), &Sha::new("a1")), &again, 2).await.unwrap();
        assert_eq!(s.hook_config(&RepoKey::new("o/r"), &Sha::new("a1")).await.unwrap(), Some(again));
        s.keep_hook_config((&RepoKey::new("o/r"), PrNumber(7), &Sha::new("b2")), &files, 3).await.unwrap();
        s.keep_hook_config((&RepoKey::new("o/r"), PrNumber(8), &Sha::new("c3")), &files, 3).await.unwrap();
        assert_eq!(s.delete_hook_configs(&RepoKey::new("o/r"), PrNumber(7)).await.unwrap(), 2);
        assert_eq!(s.hook_config(&RepoKey::new("o/r"), &Sha::new("b2")).await.unwrap(), None);
        assert!(s.hook_config(&RepoKey::new("o/r"), &Sha::new("c3")).await.unwrap().is_some(), "another PR's stays");
    }}
}
