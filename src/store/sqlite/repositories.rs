//! The sqlite backend of repositories by GitHub id.

use anyhow::Context as _;
use async_trait::async_trait;

use super::SqliteStore;
use crate::ids::{RepoId, RepoKey};
use crate::store::Millis;
use crate::store::checked::{sqlite_execute, sqlite_query_scalar};
use crate::store::repositories::{RepositoryStore, second_key};

#[async_trait]
impl RepositoryStore for SqliteStore {
    async fn repo_key(&self, id: RepoId, full_name: &str, now: Millis) -> anyhow::Result<RepoKey> {
        let github_id = id.0 as i64;
        // Every event asks; only a new repository or a new name is written.
        let same: Option<String> = sqlite_query_scalar!(
            "SELECT key FROM repositories WHERE github_id = ? AND full_name = ?",
            github_id,
            full_name,
        )
        .fetch_optional(&self.reader)
        .await
        .context("reading a repository's key")?;
        if let Some(key) = same {
            return Ok(RepoKey::new(key));
        }
        let known: Option<String> = sqlite_query_scalar!(
            "UPDATE repositories SET full_name = ?, seen_at = ? WHERE github_id = ? RETURNING key",
            full_name,
            now,
            github_id,
        )
        .fetch_optional(&self.writer)
        .await
        .context("reading a repository's key")?;
        if let Some(key) = known {
            return Ok(RepoKey::new(key));
        }
        for key in [RepoKey::new(full_name), second_key(id, full_name)] {
            sqlite_execute!(
                "INSERT INTO repositories (github_id, key, full_name, seen_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT DO NOTHING",
                github_id,
                key.as_str(),
                full_name,
                now,
            )
            .execute(&self.writer)
            .await
            .context("keeping a repository's key")?;
            let stored: Option<String> = sqlite_query_scalar!(
                "SELECT key FROM repositories WHERE github_id = ?",
                github_id,
            )
            .fetch_optional(&self.writer)
            .await
            .context("reading a repository's key")?;
            if let Some(stored) = stored {
                return Ok(RepoKey::new(stored));
            }
        }
        anyhow::bail!("repository {id} ({full_name}) got no key: both keys are taken")
    }

    async fn repo_name(&self, key: &RepoKey) -> anyhow::Result<Option<String>> {
        sqlite_query_scalar!(
            "SELECT full_name FROM repositories WHERE key = ?",
            key.as_str(),
        )
        .fetch_optional(&self.reader)
        .await
        .context("reading a repository's name")
    }

    async fn repo_key_of_name(&self, full_name: &str) -> anyhow::Result<Option<RepoKey>> {
        let key: Option<String> = sqlite_query_scalar!(
            "SELECT key FROM repositories WHERE full_name = ? ORDER BY seen_at DESC LIMIT 1",
            full_name,
        )
        .fetch_optional(&self.reader)
        .await
        .context("reading the key of a repository's name")?;
        Ok(key.map(RepoKey::new))
    }
}
