//! The SQLite backend: one file in WAL mode with `synchronous=FULL`, so a delivery that was
//! acknowledged survives a crash of the process and of the machine.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use super::{
    ClaimedDelivery, DeliveryRecord, Inserted, Millis, NewDelivery, ProcessedEvent, Sealer, Store,
};
use crate::store::checked::{sqlite_execute, sqlite_query_as, sqlite_query_scalar};
use crate::store::rows::deliveries::{ClaimRow, DeliveryRow, FleetRow, ProcessedRow};

mod apply_lock;
mod audit;
mod drift;
#[cfg(test)]
mod durability_tests;
mod hook_configs;
mod jobs;
mod lock_notices;
mod locks;
mod policies;
mod repositories;
mod reviewed;
mod runs;
mod tasks;

pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/migrations/sqlite");

/// Two pools over one file: every write goes through a single connection, so writers queue in
/// the pool (fairly, without blocking a thread) instead of colliding on SQLite's lock and
/// sleeping in its busy handler; reads run beside them, as WAL allows.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    checkpointer: SqlitePool,
    path: std::path::PathBuf,
    /// Seals planfiles before they are written and opens them when read.
    sealer: Sealer,
    /// Delivery batches committed, for `maintain` to tell a busy store from an idle one.
    batches: Arc<AtomicU64>,
    batches_at_last_maintain: Arc<AtomicU64>,
}

/// `maintain` checkpoints a WAL this large even while deliveries keep arriving. (SQLite's own
/// automatic checkpoint, at 65,536 pages, is the backstop.)
const WAL_CHECKPOINT_BYTES: u64 = 128 << 20;

/// How a batch of new deliveries begins: its commit, with `synchronous=FULL`, fsyncs the WAL
/// before any of its deliveries is answered.
const DURABLE_BEGIN: &str = "PRAGMA synchronous = FULL; BEGIN";

impl SqliteStore {
    /// Closes every pool, so each query fails from now on (tests of what depends on a
    /// reachable store).
    #[cfg(test)]
    pub(crate) async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
        self.checkpointer.close().await;
    }

    /// Opens (creating if needed) the database at `url` and applies pending migrations.
    /// Planfiles are sealed with a key of this process only ([`Sealer::ephemeral`]): for
    /// previews and tests; a server opens its store with [`SqliteStore::open_with`].
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        Self::open_with(url, Sealer::ephemeral()?).await
    }

    /// Opens (creating if needed) the database at `url`, applies pending migrations, and
    /// seals planfiles with `sealer`.
    pub async fn open_with(url: &str, sealer: Sealer) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .context("parsing the sqlite URL")?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        if let Some(dir) = options
            .get_filename()
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the store's directory {}", dir.display()))?;
        }
        // WAL checkpoints run from `maintain`, off the path of the 202; the automatic one
        // stays as a backstop for a WAL that grows past ~80 MB.
        let options = options.pragma("wal_autocheckpoint", "65536");
        let path = options.get_filename().to_owned();
        // The writer commits with synchronous=NORMAL (no fsync) except for a batch of new
        // deliveries, which commits with FULL: its fsync also makes every earlier commit in the
        // WAL durable. So what was acknowledged survives power loss, and the worker's
        // bookkeeping costs no fsync of its own (after power loss, at worst a delivery is
        // processed again; after a crash of the process, nothing is lost or repeated).
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone().synchronous(SqliteSynchronous::Normal))
            .await
            .context("opening the SQLite store")?;
        MIGRATOR
            .run(&writer)
            .await
            .context("applying SQLite migrations")?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone().read_only(true))
            .await
            .context("opening the SQLite store for reading")?;
        let checkpointer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .context("opening the SQLite store for checkpoints")?;
        Ok(Self {
            writer,
            reader,
            checkpointer,
            path,
            sealer,
            batches: Arc::new(AtomicU64::new(0)),
            batches_at_last_maintain: Arc::new(AtomicU64::new(0)),
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn maintain(&self) -> anyhow::Result<()> {
        // Checkpoint when deliveries stopped arriving since the last call (webhooks come in
        // bursts), or when the WAL has grown large anyway; a checkpoint copies every page once
        // more and its I/O would otherwise compete with the fsyncs of the 202 path.
        let batches = self.batches.load(Ordering::Relaxed);
        let idle = self
            .batches_at_last_maintain
            .swap(batches, Ordering::Relaxed)
            == batches;
        let wal_bytes = std::fs::metadata(format!("{}-wal", self.path.display()))
            .map(|m| m.len())
            .unwrap_or(0);
        if !idle && wal_bytes < WAL_CHECKPOINT_BYTES {
            return Ok(());
        }
        // PASSIVE: copies what it can without waiting for, or blocking, the writer.
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&self.checkpointer)
            .await
            .context("checkpointing the WAL")?;
        Ok(())
    }

    async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .context("pinging the store")?;
        Ok(())
    }

    async fn insert_deliveries(&self, batch: &[NewDelivery]) -> anyhow::Result<Vec<Inserted>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self
            .writer
            .acquire()
            .await
            .context("waiting for the store's writer")?;
        // One round trip: the batch commits with FULL (its commit fsyncs the WAL).
        let mut tx = sqlx::Connection::begin_with(&mut *conn, DURABLE_BEGIN)
            .await
            .context("starting the durable delivery batch")?;
        // Two statements a batch, whatever its size: every row in one INSERT, every payload
        // of a new row in another.
        let mut rows = QueryBuilder::<Sqlite>::new(
            "INSERT INTO deliveries (id, event, action, repository, installation_id, received_at, next_attempt_at) ",
        );
        rows.push_values(batch, |mut row, d| {
            row.push_bind(&d.id)
                .push_bind(&d.event)
                .push_bind(&d.action)
                .push_bind(&d.repository)
                .push_bind(d.installation_id)
                .push_bind(d.received_at)
                .push_bind(d.received_at);
        });
        rows.push(" ON CONFLICT (id) DO NOTHING RETURNING seq, id");
        let inserted: Vec<(i64, String)> = rows
            .build_query_as()
            .fetch_all(&mut *tx)
            .await
            .context("storing deliveries")?;
        let mut new_seq: HashMap<&str, i64> = inserted
            .iter()
            .map(|(seq, id)| (id.as_str(), *seq))
            .collect();
        // The first of several deliveries with one id in a batch is the new one.
        let results: Vec<Inserted> = batch
            .iter()
            .map(|d| match new_seq.remove(d.id.as_str()) {
                Some(seq) => Inserted::New { seq },
                None => Inserted::Duplicate,
            })
            .collect();
        let payloads: Vec<(i64, &[u8])> = batch
            .iter()
            .zip(&results)
            .filter_map(|(d, r)| match r {
                Inserted::New { seq } => Some((*seq, d.payload.stored())),
                Inserted::Duplicate => None,
            })
            .collect();
        if !payloads.is_empty() {
            let mut q =
                QueryBuilder::<Sqlite>::new("INSERT INTO delivery_payloads (seq, payload) ");
            q.push_values(payloads, |mut row, (seq, payload)| {
                row.push_bind(seq).push_bind(payload);
            });
            q.build()
                .execute(&mut *tx)
                .await
                .context("storing delivery payloads")?;
        }
        tx.commit().await.context("committing the delivery batch")?;
        self.batches.fetch_add(1, Ordering::Relaxed);
        sqlx::query("PRAGMA synchronous = NORMAL")
            .execute(&mut *conn)
            .await
            .context("resetting the writer's sync mode")?;
        Ok(results)
    }

    async fn requeue_interrupted(&self, _now: Millis) -> anyhow::Result<u64> {
        // One replica: whatever is being processed was this process's before it stopped.
        let done = sqlite_execute!("UPDATE deliveries SET status = 'pending', lease_until = NULL WHERE status = 'processing'")
        .execute(&self.writer)
            .await
            .context("requeueing interrupted deliveries")?;
        Ok(done.rows_affected())
    }

    async fn claim_delivery(
        &self,
        now: Millis,
        lease: Duration,
    ) -> anyhow::Result<Option<ClaimedDelivery>> {
        let row = sqlite_query_as!(
            ClaimRow,
            "UPDATE deliveries
             SET status = 'processing', attempts = attempts + 1, lease_until = ?1 + ?2
             WHERE seq = (
                 SELECT seq FROM deliveries
                 WHERE status IN ('pending', 'processing')
                   AND ((status = 'pending' AND next_attempt_at <= ?1)
                     OR (status = 'processing' AND lease_until < ?1))
                 ORDER BY seq LIMIT 1)
             RETURNING seq, id, event, action, repository, received_at, attempts,
                       (SELECT payload FROM delivery_payloads p WHERE p.seq = deliveries.seq)
                           AS \"payload?: Vec<u8>\"",
            now,
            lease.as_millis() as i64,
        )
        .fetch_optional(&self.writer)
        .await
        .context("claiming a delivery")?;
        Ok(row.map(ClaimRow::into_claimed))
    }

    async fn next_delivery_due(&self) -> anyhow::Result<Option<Millis>> {
        let due: Option<i64> = sqlite_query_scalar!(
            "SELECT MIN(CASE status WHEN 'pending' THEN next_attempt_at ELSE lease_until END)
             FROM deliveries WHERE status IN ('pending', 'processing')"
        )
        .fetch_one(&self.reader)
        .await
        .context("finding the next due delivery")?;
        Ok(due)
    }

    async fn finish_delivery(
        &self,
        seq: i64,
        event: &ProcessedEvent,
        now: Millis,
    ) -> anyhow::Result<()> {
        let mut tx = self
            .writer
            .begin()
            .await
            .context("starting to finish a delivery")?;
        let id: Option<String> = sqlite_query_scalar!(
            "UPDATE deliveries SET status = 'done', processed_at = ?2, lease_until = NULL, last_error = NULL
             WHERE seq = ?1 AND status = 'processing' RETURNING id",
            seq,
            now,
        )
        .fetch_optional(&mut *tx)
        .await
        .context("marking the delivery done")?;
        let id = id.context("the delivery is no longer claimed by this worker")?;
        sqlite_execute!(
            "INSERT INTO processed_events (delivery_id, kind, repository, pr, disposition, summary, processed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &id,
            &event.kind,
            &event.repository,
            event.pr.map(|n| n.0 as i64),
            if event.handled { "handled" } else { "ignored" },
            &event.summary,
            now,
        )
        .execute(&mut *tx)
        .await
        .context("recording the processed event")?;
        tx.commit()
            .await
            .context("committing the finished delivery")?;
        Ok(())
    }

    async fn retry_delivery(
        &self,
        seq: i64,
        error: &str,
        next_attempt_at: Millis,
    ) -> anyhow::Result<()> {
        sqlite_execute!(
            "UPDATE deliveries SET status = 'pending', lease_until = NULL, last_error = ?2, next_attempt_at = ?3
             WHERE seq = ?1 AND status = 'processing'",
            seq,
            error,
            next_attempt_at,
        )
        .execute(&self.writer)
        .await
        .context("scheduling a delivery retry")?;
        Ok(())
    }

    async fn fail_delivery(&self, seq: i64, error: &str, now: Millis) -> anyhow::Result<()> {
        sqlite_execute!(
            "UPDATE deliveries SET status = 'failed', lease_until = NULL, last_error = ?2, processed_at = ?3
             WHERE seq = ?1 AND status = 'processing'",
            seq,
            error,
            now,
        )
        .execute(&self.writer)
        .await
        .context("marking a delivery failed")?;
        Ok(())
    }

    async fn queue_depth(&self) -> anyhow::Result<i64> {
        let n: i64 = sqlite_query_scalar!(
            "SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'processing')"
        )
        .fetch_one(&self.reader)
        .await
        .context("counting queued deliveries")?;
        Ok(n)
    }

    async fn fleet(&self) -> anyhow::Result<super::Fleet> {
        let row = sqlite_query_as!(
            FleetRow,
            "SELECT (SELECT COUNT(*) FROM jobs WHERE status = 'queued') AS \"queued_jobs!: i64\",
                    (SELECT MIN(created_at) FROM jobs WHERE status = 'queued')
                        AS \"oldest_queued_at?: i64\",
                    (SELECT COUNT(*) FROM locks) AS \"locks_held!: i64\"",
        )
        .fetch_one(&self.reader)
        .await
        .context("reading the fleet's queue and locks")?;
        Ok(super::Fleet {
            queued_jobs: row.queued_jobs,
            oldest_queued_at: row.oldest_queued_at,
            locks_held: row.locks_held,
        })
    }

    async fn delivery(&self, id: &str) -> anyhow::Result<Option<DeliveryRecord>> {
        let row = sqlite_query_as!(
            DeliveryRow,
            "SELECT seq, id, event, status, attempts, last_error FROM deliveries WHERE id = ?1",
            id,
        )
        .fetch_optional(&self.reader)
        .await
        .context("reading a delivery")?;
        Ok(row.map(DeliveryRow::into_record))
    }

    async fn processed_event(&self, id: &str) -> anyhow::Result<Option<ProcessedEvent>> {
        let row = sqlite_query_as!(
            ProcessedRow,
            "SELECT kind, repository, pr, disposition, summary FROM processed_events WHERE delivery_id = ?1",
            id,
        )
            .fetch_optional(&self.reader)
            .await
            .context("reading a processed event")?;
        Ok(row.map(ProcessedRow::into_event))
    }

    async fn known_deliveries(&self, ids: &[String]) -> anyhow::Result<HashSet<String>> {
        // One bound JSON array instead of a statement built per call.
        let list = serde_json::to_string(ids).context("encoding delivery ids")?;
        let known: Vec<String> = sqlite_query_scalar!(
            "SELECT id FROM deliveries WHERE id IN (SELECT value FROM json_each(?1))",
            list,
        )
        .fetch_all(&self.reader)
        .await
        .context("looking up known deliveries")?;
        Ok(known.into_iter().collect())
    }

    async fn note_redelivery_request(
        &self,
        github_delivery_id: i64,
        guid: &str,
        outcome: &str,
        now: Millis,
    ) -> anyhow::Result<bool> {
        let done = sqlite_execute!(
            "INSERT INTO redelivery_requests (github_delivery_id, guid, requested_at, outcome) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (github_delivery_id) DO NOTHING",
            github_delivery_id,
            guid,
            now,
            outcome,
        )
        .execute(&self.writer)
        .await
        .context("recording a redelivery request")?;
        Ok(done.rows_affected() == 1)
    }

    async fn redelivery_requested(&self, github_delivery_id: i64) -> anyhow::Result<bool> {
        let n: i64 = sqlite_query_scalar!(
            "SELECT COUNT(*) FROM redelivery_requests WHERE github_delivery_id = ?1",
            github_delivery_id,
        )
        .fetch_one(&self.reader)
        .await
        .context("looking up a redelivery request")?;
        Ok(n > 0)
    }

    async fn redelivery_requests(&self, guid: &str) -> anyhow::Result<u32> {
        let n: i64 = sqlite_query_scalar!(
            "SELECT COUNT(*) FROM redelivery_requests WHERE guid = ?1",
            guid,
        )
        .fetch_one(&self.reader)
        .await
        .context("counting redelivery requests")?;
        Ok(n as u32)
    }

    async fn state(&self, key: &str) -> anyhow::Result<Option<String>> {
        let v = sqlite_query_scalar!("SELECT value FROM server_state WHERE key = ?1", key,)
            .fetch_optional(&self.reader)
            .await
            .context("reading server state")?;
        Ok(v)
    }

    async fn set_state(&self, key: &str, value: &str) -> anyhow::Result<()> {
        sqlite_execute!(
            "INSERT INTO server_state (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            key,
            value,
        )
        .execute(&self.writer)
            .await
            .context("writing server state")?;
        Ok(())
    }
}
