//! The sqlite backend of the configs pre workflow hooks left.

use crate::ids::RepoKey;
use crate::ids::{PrNumber, Sha};
use anyhow::Context as _;
use async_trait::async_trait;

use super::SqliteStore;
use crate::store::Millis;
use crate::store::checked::{sqlite_execute, sqlite_query_scalar};
use crate::store::hook_configs::{ConfigFile, HookConfigStore, decode, encode};

#[async_trait]
impl HookConfigStore for SqliteStore {
    async fn keep_hook_config(
        &self,
        (repository, pr, sha): (&RepoKey, PrNumber, &Sha),
        files: &[ConfigFile],
        now: Millis,
    ) -> anyhow::Result<()> {
        sqlite_execute!(
            "INSERT INTO hook_configs (repository, commit_sha, pr, files, created_at)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (repository, commit_sha)
             DO UPDATE SET pr = excluded.pr, files = excluded.files, created_at = excluded.created_at",
            repository.as_str(),
            sha.as_str(),
            pr.0 as i64,
            encode(files)?,
            now,
        )
        .execute(&self.writer)
        .await
        .context("keeping the config the workflow hooks left")?;
        Ok(())
    }

    async fn hook_config(
        &self,
        repository: &RepoKey,
        sha: &Sha,
    ) -> anyhow::Result<Option<Vec<ConfigFile>>> {
        let files: Option<String> = sqlite_query_scalar!(
            "SELECT files FROM hook_configs WHERE repository = ? AND commit_sha = ?",
            repository.as_str(),
            sha.as_str(),
        )
        .fetch_optional(&self.reader)
        .await
        .context("reading the config the workflow hooks left")?;
        files.as_deref().map(decode).transpose()
    }

    async fn delete_hook_configs(&self, repository: &RepoKey, pr: PrNumber) -> anyhow::Result<u64> {
        let done = sqlite_execute!(
            "DELETE FROM hook_configs WHERE repository = ? AND pr = ?",
            repository.as_str(),
            pr.0 as i64,
        )
        .execute(&self.writer)
        .await
        .context("deleting a pull request's hook configs")?;
        Ok(done.rows_affected())
    }
}
