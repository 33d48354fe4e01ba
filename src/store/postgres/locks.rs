//! PostgreSQL: project locks, lock waits and applies. A transaction that reads a repository's
//! locks or waits and then writes them first takes the repository's advisory lock
//! (`pg_advisory_xact_lock`, held to its commit), so the check and the write are atomic
//! against every other replica; applies are fenced by locking the job row they check.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::{PgConnection, PgRow};

use super::jobs::{insert_job, name_of, project_key};
use super::{Guarded, PgStore, take_turn};
use crate::plan::Target;
use crate::store::Millis;
use crate::store::checked::{pg_execute, pg_query_scalar};
use crate::store::jobs::{Claim, NewJob};
use crate::store::locks::{
    ApplyRecord, ApplyStatus, LockAttempt, LockStore, ProjectLock, Released, Waiter,
};

/// Takes `repository`'s project-lock advisory lock for the rest of the transaction.
async fn lock_repository(conn: &mut PgConnection, repository: &str) -> anyhow::Result<()> {
    take_turn(conn, Guarded::ProjectLocks, repository).await
}

/// The targets keyed by (dir, workspace), each once (the first given wins), by dir then
/// workspace.
fn distinct(targets: &[Target]) -> Vec<&Target> {
    let mut by_key: BTreeMap<(&str, &str), &Target> = BTreeMap::new();
    for t in targets {
        by_key.entry((&t.dir, &t.workspace)).or_insert(t);
    }
    by_key.into_values().collect()
}

/// The targets each once, by dir, workspace, then name.
fn projects(targets: &[Target]) -> BTreeSet<&Target> {
    targets.iter().collect()
}

fn target_of(row: &PgRow) -> anyhow::Result<Target> {
    Ok(Target {
        dir: row.try_get("dir")?,
        workspace: row.try_get("workspace")?,
        name: name_of(row.try_get("project")?),
    })
}

/// A row of `locks`.
#[derive(sqlx::FromRow)]
pub(super) struct LockRow {
    pub(super) repository: String,
    pub(super) dir: String,
    pub(super) workspace: String,
    pub(super) project: Option<String>,
    pub(super) pr: i64,
    pub(super) created_at: i64,
}

impl LockRow {
    pub(super) fn into_lock(self) -> ProjectLock {
        ProjectLock {
            repository: self.repository,
            target: Target {
                dir: self.dir,
                workspace: self.workspace,
                name: name_of(self.project),
            },
            pr: self.pr as u64,
            created_at: self.created_at,
        }
    }
}

pub(super) fn lock_of(row: &PgRow) -> anyhow::Result<ProjectLock> {
    Ok(ProjectLock {
        repository: row.try_get("repository")?,
        target: target_of(row)?,
        pr: row.try_get::<i64, _>("pr")? as u64,
        created_at: row.try_get("created_at")?,
    })
}

fn apply_of(row: &PgRow) -> anyhow::Result<ApplyRecord> {
    let status: &str = row.try_get("status")?;
    Ok(ApplyRecord {
        id: row.try_get("id")?,
        repository: row.try_get("repository")?,
        pr: row.try_get::<i64, _>("pr")? as u64,
        target: target_of(row)?,
        sha: row.try_get("sha")?,
        job_id: row.try_get("job_id")?,
        claim: row.try_get("claim")?,
        status: ApplyStatus::parse(status)
            .with_context(|| format!("unknown apply status {status:?}"))?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

#[async_trait]
impl LockStore for PgStore {
    async fn lock_projects(
        &self,
        repository: &str,
        pr: u64,
        targets: &[Target],
        wait: bool,
        now: Millis,
    ) -> anyhow::Result<LockAttempt> {
        let wanted = distinct(targets);
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting to take project locks")?;
        lock_repository(&mut tx, repository).await?;
        let mut held = Vec::new();
        let mut own = BTreeSet::new();
        for t in &wanted {
            let holder: Option<i64> = pg_query_scalar!(
                "SELECT pr FROM locks WHERE repository = $1 AND dir = $2 AND workspace = $3",
                repository,
                &t.dir,
                &t.workspace,
            )
            .fetch_optional(&mut *tx)
            .await
            .context("reading a project's lock")?;
            match holder {
                Some(h) if h as u64 == pr => {
                    own.insert((t.dir.as_str(), t.workspace.as_str()));
                }
                Some(h) => held.push(((*t).clone(), h as u64)),
                None => {}
            }
        }
        if held.is_empty() {
            for t in &wanted {
                let query = if own.contains(&(t.dir.as_str(), t.workspace.as_str())) {
                    // Already ours: kept since it was taken, under the name asked for now.
                    sqlx::query(
                        "UPDATE locks SET project = $1
                         WHERE repository = $2 AND dir = $3 AND workspace = $4 AND pr = $5",
                    )
                    .bind(&t.name)
                    .bind(repository)
                    .bind(&t.dir)
                    .bind(&t.workspace)
                    .bind(pr as i64)
                } else {
                    // A plain INSERT: were the lock taken after all, the statement would fail,
                    // and the transaction with it, rather than share the lock.
                    sqlx::query(
                        "INSERT INTO locks (repository, dir, workspace, project, pr, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(repository)
                    .bind(&t.dir)
                    .bind(&t.workspace)
                    .bind(&t.name)
                    .bind(pr as i64)
                    .bind(now)
                };
                query
                    .execute(&mut *tx)
                    .await
                    .context("taking a project's lock")?;
            }
            tx.commit().await.context("committing project locks")?;
            return Ok(LockAttempt::Locked);
        }
        if wait {
            pg_execute!(
                "DELETE FROM lock_waits WHERE repository = $1 AND pr = $2",
                repository,
                pr as i64,
            )
            .execute(&mut *tx)
            .await
            .context("replacing a pull request's lock waits")?;
            for t in projects(targets) {
                pg_execute!(
                    "INSERT INTO lock_waits (repository, dir, workspace, pr, project, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    repository,
                    &t.dir,
                    &t.workspace,
                    pr as i64,
                    project_key(t),
                    now,
                )
                .execute(&mut *tx)
                .await
                .context("recording a lock wait")?;
            }
            tx.commit().await.context("committing lock waits")?;
        }
        Ok(LockAttempt::Held { held })
    }

    async fn locks_of_repo(&self, repository: &str) -> anyhow::Result<Vec<ProjectLock>> {
        let rows = sqlx::query(
            "SELECT repository, dir, workspace, project, pr, created_at FROM locks
             WHERE repository = $1 ORDER BY dir, workspace",
        )
        .bind(repository)
        .fetch_all(&self.pool)
        .await
        .context("reading a repository's locks")?;
        rows.iter().map(lock_of).collect()
    }

    async fn locks_of_pr(&self, repository: &str, pr: u64) -> anyhow::Result<Vec<ProjectLock>> {
        let rows = sqlx::query(
            "SELECT repository, dir, workspace, project, pr, created_at FROM locks
             WHERE repository = $1 AND pr = $2 ORDER BY dir, workspace",
        )
        .bind(repository)
        .bind(pr as i64)
        .fetch_all(&self.pool)
        .await
        .context("reading a pull request's locks")?;
        rows.iter().map(lock_of).collect()
    }

    async fn release_locks(
        &self,
        repository: &str,
        pr: u64,
        targets: Option<&[Target]>,
        wake: &(dyn for<'w> Fn(&'w Waiter) -> NewJob + Send + Sync),
    ) -> anyhow::Result<Released> {
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting to release project locks")?;
        lock_repository(&mut tx, repository).await?;
        let mut released = Vec::new();
        match targets {
            None => {
                let rows = sqlx::query(
                    "DELETE FROM locks WHERE repository = $1 AND pr = $2
                     RETURNING dir, workspace, project",
                )
                .bind(repository)
                .bind(pr as i64)
                .fetch_all(&mut *tx)
                .await
                .context("releasing a pull request's locks")?;
                for row in &rows {
                    released.push(target_of(row)?);
                }
                pg_execute!(
                    "DELETE FROM lock_waits WHERE repository = $1 AND pr = $2",
                    repository,
                    pr as i64,
                )
                .execute(&mut *tx)
                .await
                .context("dropping a pull request's lock waits")?;
            }
            Some(targets) => {
                for t in distinct(targets) {
                    let row = sqlx::query(
                        "DELETE FROM locks
                         WHERE repository = $1 AND dir = $2 AND workspace = $3 AND pr = $4
                         RETURNING dir, workspace, project",
                    )
                    .bind(repository)
                    .bind(&t.dir)
                    .bind(&t.workspace)
                    .bind(pr as i64)
                    .fetch_optional(&mut *tx)
                    .await
                    .context("releasing a project's lock")?;
                    if let Some(row) = row {
                        released.push(target_of(&row)?);
                    }
                }
            }
        }
        released.sort();

        let mut waiting = BTreeSet::new();
        for t in &released {
            let prs: Vec<i64> = pg_query_scalar!(
                "SELECT pr FROM lock_waits
                 WHERE repository = $1 AND dir = $2 AND workspace = $3 AND pr <> $4",
                repository,
                &t.dir,
                &t.workspace,
                pr as i64,
            )
            .fetch_all(&mut *tx)
            .await
            .context("finding pull requests waiting on a released lock")?;
            waiting.extend(prs);
        }
        let mut woken = Vec::new();
        for waiter_pr in waiting {
            let rows = sqlx::query(
                "DELETE FROM lock_waits WHERE repository = $1 AND pr = $2
                 RETURNING dir, workspace, project",
            )
            .bind(repository)
            .bind(waiter_pr)
            .fetch_all(&mut *tx)
            .await
            .context("ending a pull request's wait")?;
            let mut targets = rows
                .iter()
                .map(target_of)
                .collect::<anyhow::Result<Vec<_>>>()?;
            targets.sort();
            let waiter = Waiter {
                repository: repository.to_owned(),
                pr: waiter_pr as u64,
                targets,
            };
            insert_job(&mut tx, &wake(&waiter))
                .await
                .context("enqueueing a woken pull request's job")?;
            woken.push(waiter);
        }
        tx.commit().await.context("committing the lock release")?;
        Ok(Released { released, woken })
    }

    async fn waiters(&self, repository: &str) -> anyhow::Result<Vec<Waiter>> {
        let rows = sqlx::query(
            "SELECT pr, dir, workspace, project FROM lock_waits
             WHERE repository = $1 ORDER BY pr, dir, workspace, project",
        )
        .bind(repository)
        .fetch_all(&self.pool)
        .await
        .context("reading a repository's lock waits")?;
        let mut waiters: Vec<Waiter> = Vec::new();
        for row in &rows {
            let pr = row.try_get::<i64, _>("pr")? as u64;
            let target = target_of(row)?;
            match waiters.last_mut() {
                Some(w) if w.pr == pr => w.targets.push(target),
                _ => waiters.push(Waiter {
                    repository: repository.to_owned(),
                    pr,
                    targets: vec![target],
                }),
            }
        }
        Ok(waiters)
    }

    async fn prs_holding(&self) -> anyhow::Result<Vec<(String, u64)>> {
        let rows = sqlx::query(
            "SELECT repository, pr FROM locks UNION SELECT repository, pr FROM plans
             ORDER BY repository, pr",
        )
        .fetch_all(&self.pool)
        .await
        .context("reading the pull requests that hold locks or plans")?;
        rows.iter()
            .map(|r| Ok((r.try_get("repository")?, r.try_get::<i64, _>("pr")? as u64)))
            .collect()
    }

    async fn start_apply(
        &self,
        repository: &str,
        pr: u64,
        target: &Target,
        sha: &str,
        claim: Claim,
        now: Millis,
    ) -> anyhow::Result<i64> {
        // FOR SHARE holds the job row until the insert commits: a claim racing with it waits,
        // and one that committed first makes the row fail the check.
        let id: Option<i64> = pg_query_scalar!(
            "INSERT INTO applies (repository, pr, dir, workspace, project, sha, job_id, claim,
                                  status, started_at)
             SELECT $1, $2, $3, $4, $5, $6, id, claim, 'running', $7
             FROM jobs WHERE id = $8 AND claim = $9 AND status = 'running'
             FOR SHARE
             RETURNING id",
            repository,
            pr as i64,
            &target.dir,
            &target.workspace,
            target.name.as_deref(),
            sha,
            now,
            claim.job_id,
            claim.token,
        )
        .fetch_optional(&self.pool)
        .await
        .context("recording an apply's start")?;
        id.with_context(|| {
            format!(
                "job {} is no longer held by this worker: another took it over",
                claim.job_id
            )
        })
    }

    async fn finish_apply(
        &self,
        id: i64,
        claim: Claim,
        status: ApplyStatus,
        now: Millis,
    ) -> anyhow::Result<()> {
        anyhow::ensure!(
            status != ApplyStatus::Running,
            "an apply cannot finish as running"
        );
        let done = pg_execute!(
            "UPDATE applies SET status = $1, finished_at = $2
             WHERE id = $3 AND status = 'running' AND job_id = $4
               AND EXISTS (SELECT 1 FROM jobs
                           WHERE jobs.id = applies.job_id AND jobs.claim = $5
                             AND jobs.status = 'running'
                           FOR SHARE)",
            status.as_str(),
            now,
            id,
            claim.job_id,
            claim.token,
        )
        .execute(&self.pool)
        .await
        .context("recording how an apply ended")?;
        anyhow::ensure!(
            done.rows_affected() == 1,
            "apply {id} is not running under job {}'s current claim: its end is not recorded",
            claim.job_id
        );
        Ok(())
    }

    async fn applies_of_pr(&self, repository: &str, pr: u64) -> anyhow::Result<Vec<ApplyRecord>> {
        let rows = sqlx::query(
            "SELECT id, repository, pr, dir, workspace, project, sha, job_id, claim, status,
                    started_at, finished_at
             FROM applies WHERE repository = $1 AND pr = $2 ORDER BY id",
        )
        .bind(repository)
        .bind(pr as i64)
        .fetch_all(&self.pool)
        .await
        .context("reading a pull request's applies")?;
        rows.iter().map(apply_of).collect()
    }

    async fn delete_plans_of(
        &self,
        repository: &str,
        pr: u64,
        targets: &[Target],
    ) -> anyhow::Result<u64> {
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting to delete plans")?;
        let mut deleted = 0;
        for t in projects(targets) {
            let done = pg_execute!(
                "DELETE FROM plans
                 WHERE repository = $1 AND pr = $2 AND dir = $3 AND workspace = $4 AND project = $5",
                repository,
                pr as i64,
                &t.dir,
                &t.workspace,
                project_key(t),
            )
            .execute(&mut *tx)
            .await
            .context("deleting a project's plan")?;
            deleted += done.rows_affected();
        }
        tx.commit().await.context("committing deleted plans")?;
        Ok(deleted)
    }
}
