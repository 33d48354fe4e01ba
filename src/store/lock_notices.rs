//! Which locks have been announced as held too long (BOSUN_NOTIFY_LOCK_AGE): each lock (a
//! holder's taking of a project, by its time) is announced once, whichever replica leads.

use async_trait::async_trait;

use super::Millis;
use super::locks::ProjectLock;

#[async_trait]
pub trait LockNoticeStore: Send + Sync {
    /// Locks taken before `before` not yet announced, oldest first, at most `limit`.
    async fn locks_to_announce(
        &self,
        before: Millis,
        limit: u32,
    ) -> anyhow::Result<Vec<ProjectLock>>;

    /// Records `lock` as announced at `now`; true when this call recorded it, false when it
    /// already was.
    async fn mark_lock_announced(&self, lock: &ProjectLock, now: Millis) -> anyhow::Result<bool>;
}

#[cfg(test)]
mod tests {
    use crate::ids::RepoKey;
    use crate::ids::{InstallationId, PrNumber};
    use crate::plan::Target;
    use crate::store::test_db::store_test;
    use crate::store::{LockAttempt, NewJob, Waiter};

    fn wake(w: &Waiter) -> NewJob {
        NewJob {
            source: format!("wake:{}", w.pr),
            kind: "autoplan".into(),
            repository: w.repository.clone(),
            installation_id: InstallationId(1),
            pr: w.pr,
            priority: 0,
            spec: "{}".into(),
            created_at: 5,
            supersedes_kind: None,
        }
    }

    fn target(dir: &str) -> Target {
        Target {
            dir: dir.into(),
            workspace: "default".into(),
            name: None,
        }
    }

    store_test! { async fn an_old_lock_is_announced_once(db) {
        let store = db.open().await;
        let old = store
            .lock_projects(&RepoKey::new("acme/infra"), PrNumber(1), &[target("old")], false, 1_000)
            .await
            .unwrap();
        assert_eq!(old, LockAttempt::Locked);
        store
            .lock_projects(&RepoKey::new("acme/infra"), PrNumber(2), &[target("new")], false, 9_000)
            .await
            .unwrap();
        let due = store.locks_to_announce(5_000, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].pr, due[0].target.dir.as_str()), (PrNumber(1), "old"));
        assert!(store.mark_lock_announced(&due[0], 6_000).await.unwrap());
        assert!(!store.mark_lock_announced(&due[0], 7_000).await.unwrap());
        assert!(store.locks_to_announce(5_000, 10).await.unwrap().is_empty());
        // Released and taken again: a new lock, announced anew when it is old.
        store.release_locks(&RepoKey::new("acme/infra"), PrNumber(1), None, &wake).await.unwrap();
        store
            .lock_projects(&RepoKey::new("acme/infra"), PrNumber(3), &[target("old")], false, 2_000)
            .await
            .unwrap();
        let due = store.locks_to_announce(5_000, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].pr, PrNumber(3));
    }}
}
