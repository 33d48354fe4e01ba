//! The postgres backend of repositories by GitHub id.

use anyhow::Context as _;
use async_trait::async_trait;

use super::PgStore;
use crate::ids::{RepoId, RepoKey};
use crate::store::Millis;
use crate::store::checked::{pg_execute, pg_query_scalar};
use crate::store::repositories::{RepositoryStore, second_key};

#[async_trait]
impl RepositoryStore for PgStore {
    async fn repo_key(&self, id: RepoId, full_name: &str, now: Millis) -> anyhow::Result<RepoKey> {
        let github_id = id.0 as i64;
        // Every event asks; only a new repository or a new name is written.
        let same: Option<String> = pg_query_scalar!(
            "SELECT key FROM repositories WHERE github_id = $1 AND full_name = $2",
            github_id,
            full_name,
        )
        .fetch_optional(&self.pool)
        .await
        .context("reading a repository's key")?;
        if let Some(key) = same {
            return Ok(RepoKey::new(key));
        }
        let known: Option<String> = pg_query_scalar!(
            "UPDATE repositories SET full_name = $1, seen_at = $2 WHERE github_id = $3 RETURNING key",
            full_name,
            now,
            github_id,
        )
        .fetch_optional(&self.pool)
        .await
        .context("reading a repository's key")?;
        if let Some(key) = known {
            return Ok(RepoKey::new(key));
        }
        for key in [RepoKey::new(full_name), second_key(id, full_name)] {
            pg_execute!(
                "INSERT INTO repositories (github_id, key, full_name, seen_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                github_id,
                key.as_str(),
                full_name,
                now,
            )
            .execute(&self.pool)
            .await
            .context("keeping a repository's key")?;
            let stored: Option<String> = pg_query_scalar!(
                "SELECT key FROM repositories WHERE github_id = $1",
                github_id,
            )
            .fetch_optional(&self.pool)
            .await
            .context("reading a repository's key")?;
            if let Some(stored) = stored {
                return Ok(RepoKey::new(stored));
            }
        }
        anyhow::bail!("repository {id} ({full_name}) got no key: both keys are taken")
    }

    async fn repo_name(&self, key: &RepoKey) -> anyhow::Result<Option<String>> {
        pg_query_scalar!(
            "SELECT full_name FROM repositories WHERE key = $1",
            key.as_str(),
        )
        .fetch_optional(&self.pool)
        .await
        .context("reading a repository's name")
    }

    async fn repo_key_of_name(&self, full_name: &str) -> anyhow::Result<Option<RepoKey>> {
        let key: Option<String> = pg_query_scalar!(
            "SELECT key FROM repositories WHERE full_name = $1 ORDER BY seen_at DESC LIMIT 1",
            full_name,
        )
        .fetch_optional(&self.pool)
        .await
        .context("reading the key of a repository's name")?;
        Ok(key.map(RepoKey::new))
    }
}
