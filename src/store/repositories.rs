//! Repositories by GitHub id. A repository's rows (locks, plans, jobs, runs…) are stored
//! under its [`RepoKey`]: the first name bosun saw it by, kept through renames and transfers,
//! so a renamed repository keeps its locks and plans. Its current name is kept beside the key
//! for display and for calling GitHub.

use async_trait::async_trait;

use super::Millis;
use crate::ids::{RepoId, RepoKey};

#[async_trait]
pub trait RepositoryStore: Send + Sync {
    /// The key repository `id`, named `full_name` now, is stored under; its name is kept
    /// current (written only when it changed: a read otherwise). At first sight the key is its name, or `name#id` when another repository
    /// already has that key (one that had the name before a rename, say).
    async fn repo_key(&self, id: RepoId, full_name: &str, now: Millis) -> anyhow::Result<RepoKey>;

    /// The name now of the repository stored under `key`, when bosun has seen it by id.
    async fn repo_name(&self, key: &RepoKey) -> anyhow::Result<Option<String>>;

    /// The key of the repository that took the name `full_name` last (another one may still
    /// have it, not yet seen since a rename), when bosun has seen it by id.
    async fn repo_key_of_name(&self, full_name: &str) -> anyhow::Result<Option<RepoKey>>;
}

/// A key for `full_name` another repository has taken already.
pub(super) fn second_key(id: RepoId, full_name: &str) -> RepoKey {
    // GitHub names never hold `#`, so this never meets a name.
    RepoKey::new(format!("{full_name}#{id}"))
}

/// The name of the repository stored under `key`, or the key itself for a key never seen by
/// id (rows stored under a name before repositories were kept by id).
pub async fn display_name(store: &dyn RepositoryStore, key: &RepoKey) -> String {
    match store.repo_name(key).await {
        Ok(Some(name)) => name,
        _ => key.as_str().to_owned(),
    }
}

/// The key of the repository named `full_name` now: the one bosun keeps for it, else (never
/// seen by id: rows stored under a name before) the name itself.
pub async fn key_of_name(store: &dyn RepositoryStore, full_name: &str) -> anyhow::Result<RepoKey> {
    Ok(store
        .repo_key_of_name(full_name)
        .await?
        .unwrap_or_else(|| RepoKey::new(full_name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_db::store_test;

    store_test! { async fn a_renamed_or_transferred_repository_keeps_its_key(db) {
        let s = db.open().await;
        let key = s.repo_key(RepoId(42), "acme/infra", 1).await.unwrap();
        assert_eq!(key.as_str(), "acme/infra", "first seen: its name");
        assert_eq!(s.repo_key(RepoId(42), "acme/infra", 2).await.unwrap(), key);

        // Renamed, then transferred: the same key; the name follows.
        assert_eq!(s.repo_key(RepoId(42), "acme/platform", 3).await.unwrap(), key);
        assert_eq!(s.repo_name(&key).await.unwrap().as_deref(), Some("acme/platform"));
        assert_eq!(s.repo_key(RepoId(42), "other/platform", 4).await.unwrap(), key);
        assert_eq!(s.repo_name(&key).await.unwrap().as_deref(), Some("other/platform"));
        assert_eq!(s.repo_key_of_name("other/platform").await.unwrap(), Some(key.clone()));
        assert_eq!(s.repo_key_of_name("acme/platform").await.unwrap(), None);

        // A new repository taking the old name does not inherit the first one's rows.
        let second = s.repo_key(RepoId(7), "acme/infra", 5).await.unwrap();
        assert_eq!(second.as_str(), "acme/infra#7");
        assert_eq!(s.repo_key(RepoId(7), "acme/infra", 6).await.unwrap(), second);
        assert_eq!(s.repo_key_of_name("acme/infra").await.unwrap(), Some(second.clone()));
        assert_eq!(s.repo_name(&second).await.unwrap().as_deref(), Some("acme/infra"));

        // A key never seen by id (rows from before): no name; shown as the key.
        let old = RepoKey::new("acme/old");
        assert_eq!(s.repo_name(&old).await.unwrap(), None);
        assert_eq!(display_name(s.as_ref(), &old).await, "acme/old");
        assert_eq!(display_name(s.as_ref(), &key).await, "other/platform");
    }}

    store_test! { async fn replicas_seeing_a_repository_at_once_agree_on_its_key(db) {
        let s = db.open().await;
        let keys = futures::future::join_all(
            (0..8).map(|i| s.repo_key(RepoId(9), "acme/infra", i)),
        )
        .await;
        for key in keys {
            assert_eq!(key.unwrap().as_str(), "acme/infra");
        }
    }}
}
