//! The PostgreSQL backend, for several replicas on one database. Every statement that the
//! SQLite backend keeps atomic with its single writer (or `BEGIN IMMEDIATE`) is made atomic
//! here across connections and processes: claims take rows with `FOR UPDATE SKIP LOCKED`,
//! reads that decide a write take a transaction-level advisory lock first, and fenced writes
//! lock the job row they check.

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection as _, PgPool, Postgres, QueryBuilder};

use super::{
    ClaimedDelivery, DeliveryRecord, Inserted, Millis, NewDelivery, ProcessedEvent, RunHold,
    Sealer, Store,
};
use crate::store::checked::{pg_execute, pg_query_as, pg_query_scalar};
use crate::store::fleet::{Duty, WriteToken};
use crate::store::rows::deliveries::{ClaimRow, DeliveryRow, FleetRow, ProcessedRow};

mod apply_lock;
mod audit;
mod drift;
mod fleet;
mod hook_configs;
mod jobs;
mod lock_notices;
mod locks;
mod policies;
mod repositories;
mod reviewed;
mod runs;
mod tasks;

/// sqlx runs these under `pg_advisory_lock` (a key derived from the database's name), so
/// replicas starting at once apply each migration once and the others wait for it.
pub(super) static MIGRATOR: sqlx::migrate::Migrator =
    sqlx::migrate!("src/store/migrations/postgres");

/// What a transaction-level advisory lock guards: the first of its two `int4` keys (the
/// second is a hash of the name it is taken for).
#[derive(Debug, Clone, Copy)]
#[repr(i32)]
pub(super) enum Guarded {
    /// Job claims (name ""): one PR's jobs run one at a time, which a claim checks by reading
    /// the PR's other jobs.
    JobClaims = 0x626f_0001,
    /// A repository's project locks and lock waits.
    ProjectLocks = 0x626f_0002,
    /// A pull request's summary comment ids, replaced as a whole.
    PrComments = 0x626f_0003,
    /// A repository's drift runs: a new one closes those left open.
    DriftRuns = 0x626f_0004,
    /// A project's Terraform runs (name: repo, dir, workspace), held by a session for the
    /// whole run (`hold_run`), not by a transaction.
    ProjectRuns = 0x626f_0005,
}

/// Takes the advisory lock of `what` for `name` until the transaction ends: transactions that
/// read and then write the same rows take their turns, across every replica.
pub(super) async fn take_turn(
    conn: &mut sqlx::PgConnection,
    what: Guarded,
    name: &str,
) -> anyhow::Result<()> {
    pg_execute!(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        what as i32,
        name,
    )
    .execute(&mut *conn)
    .await
    .with_context(|| format!("waiting for the advisory lock of {what:?}"))?;
    Ok(())
}

/// The session holding a project's run lock; dropped, it ends (cleanly when a runtime is
/// there to say goodbye, else by closing the socket): either way the lock is released.
struct Session(Option<sqlx::PgConnection>);

impl Drop for Session {
    fn drop(&mut self) {
        if let (Some(conn), Ok(rt)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            rt.spawn(async move {
                if let Err(e) = conn.close().await {
                    tracing::debug!(error = %e, "closing a project's run lock session");
                }
            });
        }
    }
}

/// How long a session may sit idle inside a transaction before the server ends it.
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "10s";

/// A pool of connections to one PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// Seals planfiles before they are written and opens them when read.
    sealer: Sealer,
    /// The session holding this replica's leadership of once-per-fleet duties.
    leader: std::sync::Arc<fleet::Leader>,
}

impl PgStore {
    /// Connects to the database at `url` and applies pending migrations. Errors never
    /// repeat the URL (it may hold a password).
    pub async fn open_with(url: &str, sealer: Sealer) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| anyhow::anyhow!("the PostgreSQL URL does not parse"))?
            // A replica frozen or cut off inside a transaction would keep its row and advisory
            // locks (the job claims' turn among them) until its TCP connection died, hours on
            // end, stopping every other replica's claims: the server ends such a session.
            // bosun's transactions never wait on anything but the database.
            .options([(
                "idle_in_transaction_session_timeout",
                IDLE_IN_TRANSACTION_TIMEOUT,
            )]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .context("connecting to PostgreSQL")?;
        MIGRATOR
            .run(&pool)
            .await
            .context("applying PostgreSQL migrations")?;
        Ok(Self {
            pool,
            sealer,
            leader: std::sync::Arc::new(fleet::Leader::new(options)),
        })
    }
}

#[async_trait]
impl Store for PgStore {
    async fn hold_run(&self, key: &str) -> anyhow::Result<RunHold> {
        // A connection of its own, not the pool's: a run waiting here never keeps the pool
        // from the store's other work, and the lock lasts exactly as long as this session.
        let mut conn = sqlx::PgConnection::connect_with(&self.pool.connect_options())
            .await
            .context("connecting for a project's run lock")?;
        pg_execute!(
            "SELECT pg_advisory_lock($1, hashtext($2))",
            Guarded::ProjectRuns as i32,
            key,
        )
        .execute(&mut conn)
        .await
        .context("waiting for a project's run lock")?;
        Ok(RunHold::of(Session(Some(conn))))
    }

    async fn maintain(&self) -> anyhow::Result<()> {
        // PostgreSQL checkpoints and vacuums by itself.
        Ok(())
    }

    async fn lead(&self, duty: Duty) -> anyhow::Result<bool> {
        self.lead_duty(duty).await
    }

    async fn take_write_token(
        &self,
        installation: i64,
        per_minute: u32,
        now: Millis,
    ) -> anyhow::Result<Option<WriteToken>> {
        self.spend_write_token(installation, per_minute, now)
            .await
            .map(Some)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .context("pinging the store")?;
        Ok(())
    }

    async fn insert_deliveries(&self, batch: &[NewDelivery]) -> anyhow::Result<Vec<Inserted>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        // One statement, so one round trip and one commit a batch, whatever its size: the
        // rows, then the payloads of those that were new. Of several deliveries with one id in
        // a batch, the first is the new one (rows go in in batch order, `ord`).
        let mut q = QueryBuilder::<Postgres>::new(
            "WITH input (ord, id, event, action, repository, installation_id, received_at, payload) AS (",
        );
        q.push_values(batch.iter().enumerate(), |mut row, (ord, d)| {
            row.push_bind(ord as i32)
                .push_bind(&d.id)
                .push_bind(&d.event)
                .push_bind(&d.action)
                .push_bind(&d.repository)
                .push_bind(d.installation_id)
                .push_bind(d.received_at)
                .push_bind(d.payload.stored());
        });
        q.push(
            "),
             new AS (
                 INSERT INTO deliveries (id, event, action, repository, installation_id, received_at, next_attempt_at)
                 SELECT id, event, action, repository, installation_id, received_at, received_at
                 FROM input ORDER BY ord
                 ON CONFLICT (id) DO NOTHING
                 RETURNING seq, id),
             payloads AS (
                 INSERT INTO delivery_payloads (seq, payload)
                 SELECT DISTINCT ON (new.seq) new.seq, input.payload
                 FROM new JOIN input ON input.id = new.id
                 ORDER BY new.seq, input.ord)
             SELECT seq, id FROM new",
        );
        let inserted: Vec<(i64, String)> = q
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .context("storing deliveries")?;
        let mut new_seq: std::collections::HashMap<&str, i64> = inserted
            .iter()
            .map(|(seq, id)| (id.as_str(), *seq))
            .collect();
        let results: Vec<Inserted> = batch
            .iter()
            .map(|d| match new_seq.remove(d.id.as_str()) {
                Some(seq) => Inserted::New { seq },
                None => Inserted::Duplicate,
            })
            .collect();
        Ok(results)
    }

    async fn requeue_interrupted(&self, now: Millis) -> anyhow::Result<u64> {
        // Replicas: a live lease is another replica's work, left alone.
        let done = pg_execute!(
            "UPDATE deliveries SET status = 'pending', lease_until = NULL
             WHERE status = 'processing' AND lease_until < $1",
            now,
        )
        .execute(&self.pool)
        .await
        .context("requeueing interrupted deliveries")?;
        Ok(done.rows_affected())
    }

    async fn claim_delivery(
        &self,
        now: Millis,
        lease: Duration,
    ) -> anyhow::Result<Option<ClaimedDelivery>> {
        // SKIP LOCKED: a delivery another replica is claiming right now is passed over, not
        // waited for, and never claimed twice.
        let row = pg_query_as!(
            ClaimRow,
            "UPDATE deliveries
             SET status = 'processing', attempts = attempts + 1, lease_until = $1 + $2
             WHERE seq = (
                 SELECT seq FROM deliveries
                 WHERE status IN ('pending', 'processing')
                   AND ((status = 'pending' AND next_attempt_at <= $1)
                     OR (status = 'processing' AND lease_until < $1))
                 ORDER BY seq LIMIT 1
                 FOR UPDATE SKIP LOCKED)
             RETURNING seq, id, event, action, repository, received_at, attempts,
                       (SELECT payload FROM delivery_payloads p WHERE p.seq = deliveries.seq) AS payload",
            now,
            lease.as_millis() as i64,
        )
        .fetch_optional(&self.pool)
        .await
        .context("claiming a delivery")?;
        Ok(row.map(ClaimRow::into_claimed))
    }

    async fn next_delivery_due(&self) -> anyhow::Result<Option<Millis>> {
        let due: Option<i64> = pg_query_scalar!(
            "SELECT MIN(CASE status WHEN 'pending' THEN next_attempt_at ELSE lease_until END)
             FROM deliveries WHERE status IN ('pending', 'processing')"
        )
        .fetch_one(&self.pool)
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
            .pool
            .begin()
            .await
            .context("starting to finish a delivery")?;
        let id: Option<String> = pg_query_scalar!(
            "UPDATE deliveries SET status = 'done', processed_at = $2, lease_until = NULL, last_error = NULL
             WHERE seq = $1 AND status = 'processing' RETURNING id",
            seq,
            now,
        )
        .fetch_optional(&mut *tx)
        .await
        .context("marking the delivery done")?;
        let id = id.context("the delivery is no longer claimed by this worker")?;
        pg_execute!(
            "INSERT INTO processed_events (delivery_id, kind, repository, pr, disposition, summary, processed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &id,
            &event.kind,
            event.repository.as_deref(),
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
        pg_execute!(
            "UPDATE deliveries SET status = 'pending', lease_until = NULL, last_error = $2, next_attempt_at = $3
             WHERE seq = $1 AND status = 'processing'",
            seq,
            error,
            next_attempt_at,
        )
        .execute(&self.pool)
        .await
        .context("scheduling a delivery retry")?;
        Ok(())
    }

    async fn fail_delivery(&self, seq: i64, error: &str, now: Millis) -> anyhow::Result<()> {
        pg_execute!(
            "UPDATE deliveries SET status = 'failed', lease_until = NULL, last_error = $2, processed_at = $3
             WHERE seq = $1 AND status = 'processing'",
            seq,
            error,
            now,
        )
        .execute(&self.pool)
        .await
        .context("marking a delivery failed")?;
        Ok(())
    }

    async fn queue_depth(&self) -> anyhow::Result<i64> {
        let n: i64 = pg_query_scalar!(
            "SELECT COUNT(*) AS \"n!\" FROM deliveries WHERE status IN ('pending', 'processing')"
        )
        .fetch_one(&self.pool)
        .await
        .context("counting queued deliveries")?;
        Ok(n)
    }

    async fn fleet(&self) -> anyhow::Result<super::Fleet> {
        let row = pg_query_as!(
            FleetRow,
            "SELECT (SELECT COUNT(*) FROM jobs WHERE status = 'queued') AS \"queued_jobs!\",
                    (SELECT MIN(created_at) FROM jobs WHERE status = 'queued') AS oldest_queued_at,
                    (SELECT COUNT(*) FROM locks) AS \"locks_held!\"",
        )
        .fetch_one(&self.pool)
        .await
        .context("reading the fleet's queue and locks")?;
        Ok(super::Fleet {
            queued_jobs: row.queued_jobs,
            oldest_queued_at: row.oldest_queued_at,
            locks_held: row.locks_held,
        })
    }

    async fn delivery(&self, id: &str) -> anyhow::Result<Option<DeliveryRecord>> {
        let row = pg_query_as!(
            DeliveryRow,
            "SELECT seq, id, event, status, attempts, last_error FROM deliveries WHERE id = $1",
            id,
        )
        .fetch_optional(&self.pool)
        .await
        .context("reading a delivery")?;
        Ok(row.map(DeliveryRow::into_record))
    }

    async fn processed_event(&self, id: &str) -> anyhow::Result<Option<ProcessedEvent>> {
        let row = pg_query_as!(
            ProcessedRow,
            "SELECT kind, repository, pr, disposition, summary FROM processed_events WHERE delivery_id = $1",
            id,
        )
        .fetch_optional(&self.pool)
        .await
        .context("reading a processed event")?;
        Ok(row.map(ProcessedRow::into_event))
    }

    async fn known_deliveries(&self, ids: &[String]) -> anyhow::Result<HashSet<String>> {
        let known: Vec<String> =
            pg_query_scalar!("SELECT id FROM deliveries WHERE id = ANY($1)", ids,)
                .fetch_all(&self.pool)
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
        let done = pg_execute!(
            "INSERT INTO redelivery_requests (github_delivery_id, guid, requested_at, outcome)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (github_delivery_id) DO NOTHING",
            github_delivery_id,
            guid,
            now,
            outcome,
        )
        .execute(&self.pool)
        .await
        .context("recording a redelivery request")?;
        Ok(done.rows_affected() == 1)
    }

    async fn redelivery_requested(&self, github_delivery_id: i64) -> anyhow::Result<bool> {
        let n: i64 = pg_query_scalar!(
            "SELECT COUNT(*) AS \"n!\" FROM redelivery_requests WHERE github_delivery_id = $1",
            github_delivery_id,
        )
        .fetch_one(&self.pool)
        .await
        .context("looking up a redelivery request")?;
        Ok(n > 0)
    }

    async fn redelivery_requests(&self, guid: &str) -> anyhow::Result<u32> {
        let n: i64 = pg_query_scalar!(
            "SELECT COUNT(*) AS \"n!\" FROM redelivery_requests WHERE guid = $1",
            guid,
        )
        .fetch_one(&self.pool)
        .await
        .context("counting redelivery requests")?;
        Ok(n as u32)
    }

    async fn state(&self, key: &str) -> anyhow::Result<Option<String>> {
        let v = pg_query_scalar!("SELECT value FROM server_state WHERE key = $1", key,)
            .fetch_optional(&self.pool)
            .await
            .context("reading server state")?;
        Ok(v)
    }

    async fn set_state(&self, key: &str, value: &str) -> anyhow::Result<()> {
        pg_execute!(
            "INSERT INTO server_state (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            key,
            value,
        )
        .execute(&self.pool)
        .await
        .context("writing server state")?;
        Ok(())
    }
}
