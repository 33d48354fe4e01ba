//! SQLite: the history of drift runs, their projects' results and each repository's drift
//! issue. Writes go through the single writer; reads that take two queries run in one read
//! transaction so they see one state.

use crate::ids::RepoKey;
use crate::ids::Sha;
use std::collections::BTreeMap;

use anyhow::Context as _;
use async_trait::async_trait;

use super::SqliteStore;
use crate::drift::{DriftStatus, ProjectDrift, Trigger};
use crate::plan::Target;
use crate::store::Millis;
use crate::store::checked::{sqlite_execute, sqlite_query_as, sqlite_query_scalar};
use crate::store::drift::{DriftRun, DriftStore, INTERRUPTED, stored_detail};
use crate::store::rows::drift::{KnownRow, ResultRow, RunRow};

/// The latest result other than skipped of each project, over finished runs: of `repository`,
/// or (none) of every repository.
async fn known(
    store: &SqliteStore,
    repository: Option<&str>,
    what: &'static str,
) -> anyhow::Result<Vec<(String, Target, DriftStatus)>> {
    let rows = sqlite_query_as!(
        KnownRow,
        "SELECT repository, dir, workspace, name, status FROM (
            SELECT runs.repository, r.dir, r.workspace, r.name, r.status,
                   ROW_NUMBER() OVER (
                       PARTITION BY runs.repository, r.dir, r.workspace, r.name
                       ORDER BY r.run_id DESC
                   ) AS newest
            FROM drift_results r JOIN drift_runs runs ON runs.id = r.run_id
            WHERE (?1 IS NULL OR runs.repository = ?1)
              AND runs.finished_at IS NOT NULL
              AND r.status <> 'skipped'
        )
        WHERE newest = 1
        ORDER BY repository, dir, workspace, name",
        repository,
    )
    .fetch_all(&store.reader)
    .await
    .context(what)?;
    rows.into_iter().map(KnownRow::into_known).collect()
}

#[async_trait]
impl DriftStore for SqliteStore {
    async fn start_drift_run(
        &self,
        repository: &RepoKey,
        sha: &Sha,
        trigger: Trigger,
        now: Millis,
    ) -> anyhow::Result<i64> {
        let mut tx = self.writer.begin().await.context("starting a drift run")?;
        // A repo's drift runs go one at a time: one still open was cut off by a stop.
        sqlite_execute!(
            "UPDATE drift_runs SET finished_at = ?, summary = ?
             WHERE repository = ? AND finished_at IS NULL",
            now,
            INTERRUPTED,
            repository.as_str(),
        )
        .execute(&mut *tx)
        .await
        .context("closing interrupted drift runs")?;
        let id = sqlite_query_scalar!(
            "INSERT INTO drift_runs (repository, sha, trigger, started_at) VALUES (?, ?, ?, ?)
             RETURNING id",
            repository.as_str(),
            sha.as_str(),
            trigger.as_str(),
            now,
        )
        .fetch_one(&mut *tx)
        .await
        .context("recording a drift run's start")?;
        tx.commit()
            .await
            .context("committing a drift run's start")?;
        Ok(id)
    }

    async fn finish_drift_run(
        &self,
        id: i64,
        projects: &[ProjectDrift],
        summary: &str,
        now: Millis,
    ) -> anyhow::Result<()> {
        let mut tx = self
            .writer
            .begin()
            .await
            .context("starting to record a drift run's end")?;
        let updated = sqlite_execute!(
            "UPDATE drift_runs SET finished_at = ?, summary = ? WHERE id = ?",
            now,
            summary,
            id,
        )
        .execute(&mut *tx)
        .await
        .context("recording a drift run's end")?
        .rows_affected();
        anyhow::ensure!(updated == 1, "no drift run {id} to finish");
        sqlite_execute!("DELETE FROM drift_results WHERE run_id = ?", id,)
            .execute(&mut *tx)
            .await
            .context("replacing a drift run's results")?;
        for p in projects {
            sqlite_execute!(
                "INSERT INTO drift_results
                     (run_id, dir, workspace, name, status, locked_by, summary, detail)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                id,
                p.target.dir.as_str(),
                p.target.workspace.as_str(),
                &p.target.name,
                p.status.as_str(),
                p.locked_by.map(|n| n.0 as i64),
                &p.summary,
                stored_detail(&p.detail),
            )
            .execute(&mut *tx)
            .await
            .context("recording a project's drift")?;
        }
        tx.commit().await.context("committing a drift run's end")
    }

    async fn drift_runs(&self, repository: &RepoKey, limit: u32) -> anyhow::Result<Vec<DriftRun>> {
        let mut tx = self
            .reader
            .begin()
            .await
            .context("starting to read drift runs")?;
        let rows = sqlite_query_as!(
            RunRow,
            "SELECT id, repository, sha, trigger, started_at, finished_at, summary
             FROM drift_runs WHERE repository = ? ORDER BY id DESC LIMIT ?",
            repository.as_str(),
            i64::from(limit),
        )
        .fetch_all(&mut *tx)
        .await
        .context("reading drift runs")?;
        let mut runs = rows
            .into_iter()
            .map(RunRow::into_run)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let (Some(newest), Some(oldest)) = (runs.first(), runs.last()) else {
            return Ok(runs);
        };
        let rows = sqlite_query_as!(
            ResultRow,
            "SELECT r.run_id, r.dir, r.workspace, r.name, r.status, r.locked_by, r.summary,
                    r.detail
             FROM drift_results r JOIN drift_runs runs ON runs.id = r.run_id
             WHERE runs.repository = ? AND r.run_id BETWEEN ? AND ?
             ORDER BY r.run_id, r.dir, r.workspace, r.name",
            repository.as_str(),
            oldest.id,
            newest.id,
        )
        .fetch_all(&mut *tx)
        .await
        .context("reading drift runs' results")?;
        let mut by_run: BTreeMap<i64, Vec<ProjectDrift>> = BTreeMap::new();
        for row in rows {
            by_run
                .entry(row.run_id)
                .or_default()
                .push(row.into_result()?);
        }
        for run in &mut runs {
            run.projects = by_run.remove(&run.id).unwrap_or_default();
        }
        Ok(runs)
    }

    async fn known_drift(
        &self,
        repository: &RepoKey,
    ) -> anyhow::Result<Vec<(Target, DriftStatus)>> {
        let known = known(
            self,
            Some(repository.as_str()),
            "reading a repository's known drift",
        )
        .await?;
        Ok(known.into_iter().map(|(_, t, s)| (t, s)).collect())
    }

    async fn known_drift_all(&self) -> anyhow::Result<Vec<(String, Target, DriftStatus)>> {
        known(self, None, "reading the known drift").await
    }

    async fn drift_issue(&self, repository: &RepoKey) -> anyhow::Result<Option<u64>> {
        let number: Option<i64> = sqlite_query_scalar!(
            "SELECT number FROM drift_issues WHERE repository = ?",
            repository.as_str(),
        )
        .fetch_optional(&self.reader)
        .await
        .context("reading a repository's drift issue")?;
        Ok(number.map(|n| n as u64))
    }

    async fn set_drift_issue(&self, repository: &RepoKey, number: u64) -> anyhow::Result<()> {
        sqlite_execute!(
            "INSERT INTO drift_issues (repository, number) VALUES (?, ?)
             ON CONFLICT (repository) DO UPDATE SET number = excluded.number",
            repository.as_str(),
            number as i64,
        )
        .execute(&self.writer)
        .await
        .context("recording a repository's drift issue")?;
        Ok(())
    }
}
