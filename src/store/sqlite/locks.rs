//! SQLite: project locks, lock waits and applies. Every read-then-write runs in a
//! `BEGIN IMMEDIATE` transaction, which takes the database's write lock before its first read,
//! so the check and the write are atomic even against another process (or another
//! `SqliteStore`) writing the same file.

use crate::ids::RepoKey;
use crate::ids::{PrNumber, Sha};
use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use async_trait::async_trait;

use super::SqliteStore;
use super::jobs::{insert_job, project_key};
use crate::ids::{Dir, Workspace};
use crate::plan::Target;
use crate::store::Millis;
use crate::store::checked::{sqlite_execute, sqlite_query_as, sqlite_query_scalar};
use crate::store::jobs::{Claim, NewJob};
use crate::store::locks::{
    ApplyRecord, ApplyStatus, LockAttempt, LockStore, ProjectLock, Released, Waiter,
};
use crate::store::rows::locks::{
    ApplyRow, HoldingRow, LockRow, TargetRow, WaitTargetRow, WaiterRow,
};

/// Takes the write lock at once: a deferred transaction that reads first could see a state
/// another connection changes before this one writes.
const BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";

/// The targets keyed by (dir, workspace), each once (the first given wins), by dir then
/// workspace.
fn distinct(targets: &[Target]) -> Vec<&Target> {
    let mut by_key: BTreeMap<(&Dir, &Workspace), &Target> = BTreeMap::new();
    for t in targets {
        by_key.entry((&t.dir, &t.workspace)).or_insert(t);
    }
    by_key.into_values().collect()
}

/// The targets each once, by dir, workspace, then name: two named projects on one dir and
/// workspace are two projects (under one lock).
fn projects(targets: &[Target]) -> BTreeSet<&Target> {
    targets.iter().collect()
}

/// By dir, workspace, then name.
fn sort_targets(targets: &mut [Target]) {
    targets.sort();
}

#[async_trait]
impl LockStore for SqliteStore {
    async fn lock_projects(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
        targets: &[Target],
        wait: bool,
        now: Millis,
    ) -> anyhow::Result<LockAttempt> {
        let wanted = distinct(targets);
        let mut tx = self
            .writer
            .begin_with(BEGIN_IMMEDIATE)
            .await
            .context("starting to take project locks")?;
        let mut held = Vec::new();
        let mut own = BTreeSet::new();
        for t in &wanted {
            let holder: Option<i64> = sqlite_query_scalar!(
                "SELECT pr FROM locks WHERE repository = ? AND dir = ? AND workspace = ?",
                repository.as_str(),
                t.dir.as_str(),
                t.workspace.as_str(),
            )
            .fetch_optional(&mut *tx)
            .await
            .context("reading a project's lock")?;
            match holder {
                Some(h) if PrNumber(h as u64) == pr => {
                    own.insert((t.dir.as_str(), t.workspace.as_str()));
                }
                Some(h) => held.push(((*t).clone(), PrNumber(h as u64))),
                None => {}
            }
        }
        if held.is_empty() {
            for t in &wanted {
                if own.contains(&(t.dir.as_str(), t.workspace.as_str())) {
                    // Already ours: kept since it was taken, under the name asked for now.
                    sqlite_execute!(
                        "UPDATE locks SET project = ?
                         WHERE repository = ? AND dir = ? AND workspace = ? AND pr = ?",
                        &t.name,
                        repository.as_str(),
                        t.dir.as_str(),
                        t.workspace.as_str(),
                        pr.0 as i64,
                    )
                    .execute(&mut *tx)
                    .await
                    .context("taking a project's lock")?;
                } else {
                    // A plain INSERT: were the lock taken after all, the statement would fail,
                    // and the transaction with it, rather than share the lock.
                    sqlite_execute!(
                        "INSERT INTO locks (repository, dir, workspace, project, pr, created_at)
                         VALUES (?, ?, ?, ?, ?, ?)",
                        repository.as_str(),
                        t.dir.as_str(),
                        t.workspace.as_str(),
                        &t.name,
                        pr.0 as i64,
                        now,
                    )
                    .execute(&mut *tx)
                    .await
                    .context("taking a project's lock")?;
                }
            }
            tx.commit().await.context("committing project locks")?;
            return Ok(LockAttempt::Locked);
        }
        if wait {
            sqlite_execute!(
                "DELETE FROM lock_waits WHERE repository = ? AND pr = ?",
                repository.as_str(),
                pr.0 as i64,
            )
            .execute(&mut *tx)
            .await
            .context("replacing a pull request's lock waits")?;
            for t in projects(targets) {
                sqlite_execute!(
                    "INSERT INTO lock_waits (repository, dir, workspace, pr, project, created_at)
                     VALUES (?, ?, ?, ?, ?, ?)",
                    repository.as_str(),
                    t.dir.as_str(),
                    t.workspace.as_str(),
                    pr.0 as i64,
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

    async fn locks_of_repo(&self, repository: &RepoKey) -> anyhow::Result<Vec<ProjectLock>> {
        let rows = sqlite_query_as!(
            LockRow,
            "SELECT repository, dir, workspace, project, pr, created_at FROM locks
             WHERE repository = ? ORDER BY dir, workspace",
            repository.as_str(),
        )
        .fetch_all(&self.reader)
        .await
        .context("reading a repository's locks")?;
        Ok(rows.into_iter().map(LockRow::into_lock).collect())
    }

    async fn locks_of_pr(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
    ) -> anyhow::Result<Vec<ProjectLock>> {
        let rows = sqlite_query_as!(
            LockRow,
            "SELECT repository, dir, workspace, project, pr, created_at FROM locks
             WHERE repository = ? AND pr = ? ORDER BY dir, workspace",
            repository.as_str(),
            pr.0 as i64,
        )
        .fetch_all(&self.reader)
        .await
        .context("reading a pull request's locks")?;
        Ok(rows.into_iter().map(LockRow::into_lock).collect())
    }

    async fn release_locks(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
        targets: Option<&[Target]>,
        wake: &(dyn for<'w> Fn(&'w Waiter) -> NewJob + Send + Sync),
    ) -> anyhow::Result<Released> {
        let mut tx = self
            .writer
            .begin_with(BEGIN_IMMEDIATE)
            .await
            .context("starting to release project locks")?;
        let mut released = Vec::new();
        match targets {
            None => {
                let rows = sqlite_query_as!(
                    TargetRow,
                    "DELETE FROM locks WHERE repository = ? AND pr = ?
                     RETURNING dir, workspace, project",
                    repository.as_str(),
                    pr.0 as i64,
                )
                .fetch_all(&mut *tx)
                .await
                .context("releasing a pull request's locks")?;
                released.extend(rows.into_iter().map(TargetRow::into_target));
                sqlite_execute!(
                    "DELETE FROM lock_waits WHERE repository = ? AND pr = ?",
                    repository.as_str(),
                    pr.0 as i64,
                )
                .execute(&mut *tx)
                .await
                .context("dropping a pull request's lock waits")?;
            }
            Some(targets) => {
                for t in distinct(targets) {
                    let row = sqlite_query_as!(
                        TargetRow,
                        "DELETE FROM locks
                         WHERE repository = ? AND dir = ? AND workspace = ? AND pr = ?
                         RETURNING dir, workspace, project",
                        repository.as_str(),
                        t.dir.as_str(),
                        t.workspace.as_str(),
                        pr.0 as i64,
                    )
                    .fetch_optional(&mut *tx)
                    .await
                    .context("releasing a project's lock")?;
                    if let Some(row) = row {
                        released.push(row.into_target());
                    }
                }
            }
        }
        sort_targets(&mut released);

        let mut waiting = BTreeSet::new();
        for t in &released {
            let prs: Vec<i64> = sqlite_query_scalar!(
                "SELECT pr FROM lock_waits
                 WHERE repository = ? AND dir = ? AND workspace = ? AND pr != ?",
                repository.as_str(),
                t.dir.as_str(),
                t.workspace.as_str(),
                pr.0 as i64,
            )
            .fetch_all(&mut *tx)
            .await
            .context("finding pull requests waiting on a released lock")?;
            waiting.extend(prs);
        }
        let mut woken = Vec::new();
        for waiter_pr in waiting {
            let rows = sqlite_query_as!(
                WaitTargetRow,
                "DELETE FROM lock_waits WHERE repository = ? AND pr = ?
                 RETURNING dir, workspace, project",
                repository.as_str(),
                waiter_pr,
            )
            .fetch_all(&mut *tx)
            .await
            .context("ending a pull request's wait")?;
            let mut targets: Vec<Target> =
                rows.into_iter().map(WaitTargetRow::into_target).collect();
            sort_targets(&mut targets);
            let waiter = Waiter {
                repository: repository.clone(),
                pr: PrNumber(waiter_pr as u64),
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

    async fn waiters(&self, repository: &RepoKey) -> anyhow::Result<Vec<Waiter>> {
        let rows = sqlite_query_as!(
            WaiterRow,
            "SELECT pr, dir, workspace, project FROM lock_waits
             WHERE repository = ? ORDER BY pr, dir, workspace, project",
            repository.as_str(),
        )
        .fetch_all(&self.reader)
        .await
        .context("reading a repository's lock waits")?;
        let mut waiters: Vec<Waiter> = Vec::new();
        for row in rows {
            let pr = PrNumber(row.pr as u64);
            let target = WaitTargetRow {
                dir: row.dir,
                workspace: row.workspace,
                project: row.project,
            }
            .into_target();
            match waiters.last_mut() {
                Some(w) if w.pr == pr => w.targets.push(target),
                _ => waiters.push(Waiter {
                    repository: repository.clone(),
                    pr,
                    targets: vec![target],
                }),
            }
        }
        Ok(waiters)
    }

    async fn prs_holding(&self) -> anyhow::Result<Vec<(String, PrNumber)>> {
        let rows = sqlite_query_as!(
            HoldingRow,
            "SELECT repository, pr FROM locks UNION SELECT repository, pr FROM plans
             ORDER BY repository, pr",
        )
        .fetch_all(&self.reader)
        .await
        .context("reading the pull requests that hold locks or plans")?;
        Ok(rows
            .into_iter()
            .map(|r| (r.repository, PrNumber(r.pr as u64)))
            .collect())
    }

    async fn start_apply(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
        target: &Target,
        sha: &Sha,
        claim: Claim,
        now: Millis,
    ) -> anyhow::Result<i64> {
        let id: Option<i64> = sqlite_query_scalar!(
            "INSERT INTO applies (repository, pr, dir, workspace, project, sha, job_id, claim,
                                  status, started_at)
             SELECT ?, ?, ?, ?, ?, ?, id, claim, 'running', ?
             FROM jobs WHERE id = ? AND claim = ? AND status = 'running'
             RETURNING id",
            repository.as_str(),
            pr.0 as i64,
            target.dir.as_str(),
            target.workspace.as_str(),
            &target.name,
            sha.as_str(),
            now,
            claim.job_id,
            claim.token,
        )
        .fetch_optional(&self.writer)
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
        let done = sqlite_execute!(
            "UPDATE applies SET status = ?, finished_at = ?
             WHERE id = ? AND status = 'running' AND job_id = ?
               AND EXISTS (SELECT 1 FROM jobs
                           WHERE jobs.id = applies.job_id AND jobs.claim = ?
                             AND jobs.status = 'running')",
            status.as_str(),
            now,
            id,
            claim.job_id,
            claim.token,
        )
        .execute(&self.writer)
        .await
        .context("recording how an apply ended")?;
        anyhow::ensure!(
            done.rows_affected() == 1,
            "apply {id} is not running under job {}'s current claim: its end is not recorded",
            claim.job_id
        );
        Ok(())
    }

    async fn applies_of_pr(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
    ) -> anyhow::Result<Vec<ApplyRecord>> {
        let rows = sqlite_query_as!(
            ApplyRow,
            "SELECT id, repository, pr, dir, workspace, project, sha, job_id, claim, status,
                    started_at, finished_at
             FROM applies WHERE repository = ? AND pr = ? ORDER BY id",
            repository.as_str(),
            pr.0 as i64,
        )
        .fetch_all(&self.reader)
        .await
        .context("reading a pull request's applies")?;
        rows.into_iter().map(ApplyRow::into_apply).collect()
    }

    async fn delete_plans_of(
        &self,
        repository: &RepoKey,
        pr: PrNumber,
        targets: &[Target],
    ) -> anyhow::Result<u64> {
        let mut tx = self
            .writer
            .begin()
            .await
            .context("starting to delete plans")?;
        let mut deleted = 0;
        for t in projects(targets) {
            let done = sqlite_execute!(
                "DELETE FROM plans
                 WHERE repository = ? AND pr = ? AND dir = ? AND workspace = ? AND project = ?",
                repository.as_str(),
                pr.0 as i64,
                t.dir.as_str(),
                t.workspace.as_str(),
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
