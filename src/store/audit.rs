//! The store's audit trail: entries are appended, read back with filters and keyset paging
//! (by id, newest first), and pruned by age only. No statement of bosun updates an entry.

use crate::ids::{PrNumber, Sha};
use async_trait::async_trait;
use sqlx::{Database, QueryBuilder};

use super::Millis;
use crate::audit::{Actor, Entry, Filter, Kind, NewEntry, Project};

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry; returns its id (ids grow with every entry).
    async fn append_audit(&self, entry: &NewEntry) -> anyhow::Result<i64>;

    /// Up to `limit` entries matching `filter` with an id below `before` (all when `None`),
    /// newest (highest id) first.
    async fn audit_entries(
        &self,
        filter: &Filter,
        before: Option<i64>,
        limit: u32,
    ) -> anyhow::Result<Vec<Entry>>;

    /// Deletes the entries made before `cutoff` (BOSUN_AUDIT_RETENTION); returns how many.
    async fn prune_audit(&self, cutoff: Millis) -> anyhow::Result<u64>;
}

/// The columns [`entry_of`] reads.
pub(crate) const COLUMNS: &str = "id, at, actor_kind, actor_name, kind, repository, pr, project, \
     dir, workspace, sha, outcome, detail, run_id";

/// The query of [`AuditStore::audit_entries`], on either backend.
pub(crate) fn select<DB>(filter: &Filter, before: Option<i64>, limit: u32) -> QueryBuilder<DB>
where
    DB: Database,
    <DB as Database>::Arguments: Default,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM audit WHERE 1 = 1"));
    if let Some(repo) = &filter.repository {
        q.push(" AND repository = ").push_bind(repo.clone());
    }
    if let Some(pr) = filter.pr {
        q.push(" AND pr = ").push_bind(pr.0 as i64);
    }
    if let Some(project) = &filter.project {
        q.push(" AND (project = ")
            .push_bind(project.clone())
            .push(" OR dir = ")
            .push_bind(project.clone())
            .push(")");
    }
    if let Some(user) = &filter.user {
        q.push(" AND LOWER(actor_name) = LOWER(")
            .push_bind(user.clone())
            .push(")");
    }
    if let Some(kind) = filter.kind {
        q.push(" AND kind = ").push_bind(kind.as_str().to_owned());
    }
    if let Some(since) = filter.since {
        q.push(" AND at >= ").push_bind(since);
    }
    if let Some(until) = filter.until {
        q.push(" AND at < ").push_bind(until);
    }
    if let Some(before) = before {
        q.push(" AND id < ").push_bind(before);
    }
    q.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(limit));
    q
}

/// An entry from a row of [`COLUMNS`], on either backend.
pub(crate) fn entry_of<R>(row: &R) -> anyhow::Result<Entry>
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let kind: String = row.try_get("kind")?;
    let kind =
        Kind::parse(&kind).ok_or_else(|| anyhow::anyhow!("unknown audit entry kind {kind:?}"))?;
    let actor_kind: String = row.try_get("actor_kind")?;
    let project = match (
        row.try_get::<Option<String>, _>("project")?,
        row.try_get::<Option<String>, _>("dir")?,
        row.try_get::<Option<String>, _>("workspace")?,
    ) {
        (Some(name), Some(dir), Some(workspace)) => Some(Project {
            name,
            dir: crate::ids::Dir::new(dir),
            workspace: crate::ids::Workspace::new(workspace),
        }),
        _ => None,
    };
    Ok(Entry {
        id: row.try_get("id")?,
        entry: NewEntry {
            at: row.try_get("at")?,
            actor: Actor::from_parts(&actor_kind, row.try_get("actor_name")?),
            kind,
            repository: row.try_get("repository")?,
            pr: row
                .try_get::<Option<i64>, _>("pr")?
                .map(|n| PrNumber(n as u64)),
            project,
            sha: row.try_get::<Option<String>, _>("sha")?.map(Sha::new),
            outcome: row.try_get("outcome")?,
            detail: row.try_get("detail")?,
            run_id: row.try_get("run_id")?,
        },
    })
}

#[cfg(test)]
mod tests;
