//! The store: everything bosun must not forget, behind intent-named methods.
//! SQLite is the default backend, for one replica; PostgreSQL ([`PgStore`]) is the one
//! several replicas can share. Each has its own migrations folder.

pub mod apply_lock;
pub mod audit;
mod checked;
pub mod drift;
pub mod fleet;
pub mod hook_configs;
pub mod jobs;
pub mod lock_notices;
pub mod locks;
pub mod policies;
mod postgres;
pub mod repositories;
pub mod reviewed;
mod rows;
mod run_hold;
pub mod runs;
pub mod seal;
mod sqlite;
pub mod tasks;

use crate::ids::PrNumber;
use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;

pub use apply_lock::{ApplyLock, ApplyLockStore};
pub use audit::AuditStore;
pub use drift::{DriftRun, DriftStore};
pub use hook_configs::{ConfigFile, HookConfigStore};
pub use jobs::{
    Claim, Job, JobStatus, JobStore, NewJob, PrComment, PrComments, Requeued, StoredPlan,
};
pub use lock_notices::LockNoticeStore;
pub use locks::{ApplyRecord, ApplyStatus, LockAttempt, LockStore, ProjectLock, Released, Waiter};
pub use policies::{PolicyApproval, PolicyResult, PolicyStore};
pub use postgres::PgStore;
pub use repositories::RepositoryStore;
pub use reviewed::ReviewStore;
pub use run_hold::RunHold;
pub use runs::{LogChunk, NewRun, Run, RunKind, RunStatus, RunStore, Started};
pub use seal::Sealer;
pub use sqlite::SqliteStore;
pub use tasks::{NewTask, Task, TaskClaim, TaskStatus, TaskStore};

/// What every replica sharing a store sees alike, read at each `/metrics` scrape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fleet {
    /// Jobs waiting to be claimed.
    pub queued_jobs: i64,
    /// When the oldest queued job was made; `None` when none waits.
    pub oldest_queued_at: Option<Millis>,
    /// Project locks held by pull requests.
    pub locks_held: i64,
}

/// Unix time in milliseconds: the store's clock unit.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A webhook delivery accepted at the edge, to be stored before it is acknowledged.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: String,
    pub event: String,
    pub action: Option<String>,
    pub repository: Option<String>,
    pub installation_id: Option<i64>,
    pub received_at: Millis,
    pub payload: Payload,
}

/// A payload as the store keeps it: LZ4-compressed (webhook JSON shrinks 5–10 times, and the
/// disk writes with it), marked by a leading 0x01; anything else is the raw JSON itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload(bytes::Bytes);

const LZ4: u8 = 0x01;

impl Payload {
    /// Compresses a raw payload (done by the request's task, off the single writer).
    pub fn pack(raw: &[u8]) -> Self {
        let mut out = Vec::with_capacity(raw.len() / 4 + 16);
        out.push(LZ4);
        out.extend_from_slice(&lz4_flex::block::compress_prepend_size(raw));
        Self(out.into())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The stored bytes.
    pub fn stored(&self) -> &[u8] {
        &self.0
    }

    /// The raw payload from stored bytes.
    pub fn unpack(stored: &[u8]) -> anyhow::Result<Vec<u8>> {
        match stored.split_first() {
            Some((&LZ4, packed)) => {
                let size = packed
                    .get(..4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
                match size {
                    // No payload is over GitHub's 25 MiB: a larger size is corruption.
                    Some(size) if size <= 25 << 20 => {
                        lz4_flex::block::decompress(&packed[4..], size)
                            .map_err(|e| anyhow::anyhow!("stored payload is corrupt: {e}"))
                    }
                    _ => anyhow::bail!("stored payload is corrupt: bad size"),
                }
            }
            _ => Ok(stored.to_vec()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New {
        seq: i64,
    },
    /// A delivery with this id is already stored: it is not processed again.
    Duplicate,
}

/// A delivery claimed by a worker.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub seq: i64,
    pub id: String,
    pub event: String,
    pub action: Option<String>,
    pub repository: Option<String>,
    pub received_at: Millis,
    /// The raw payload, or why it could not be read back.
    pub payload: Result<Vec<u8>, String>,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Processing,
    Done,
    Failed,
}

/// What the store knows of one delivery, for inspection.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub seq: i64,
    pub id: String,
    pub event: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// The record that a delivery was processed, written with its completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedEvent {
    pub kind: String,
    pub repository: Option<String>,
    pub pr: Option<PrNumber>,
    pub handled: bool,
    pub summary: String,
}

#[async_trait]
pub trait Store:
    JobStore
    + LockStore
    + DriftStore
    + ReviewStore
    + ApplyLockStore
    + TaskStore
    + LockNoticeStore
    + PolicyStore
    + RunStore
    + AuditStore
    + HookConfigStore
    + RepositoryStore
    + Send
    + Sync
    + 'static
{
    /// Housekeeping, called about once a second (SQLite: checkpoints the WAL when ingest is
    /// quiet or the WAL is large).
    async fn maintain(&self) -> anyhow::Result<()>;

    /// Whether this replica leads `duty` now (see [`fleet`]); asked before each run of the
    /// duty. PostgreSQL: a session-level advisory lock on a dedicated connection, kept while
    /// it lives. A store no other replica shares always leads.
    async fn lead(&self, _duty: fleet::Duty) -> anyhow::Result<bool> {
        Ok(true)
    }

    /// Takes a place in the installation's stored write window (at most `per_minute` writes
    /// in any minute); `None` when the store keeps no shared budget (SQLite: the in-process
    /// pacer is the whole budget).
    async fn take_write_token(
        &self,
        _installation: i64,
        _per_minute: u32,
        _now: Millis,
    ) -> anyhow::Result<Option<fleet::WriteToken>> {
        Ok(None)
    }

    /// Answers while the store is usable.
    async fn ping(&self) -> anyhow::Result<()>;

    /// Waits until this process may run Terraform on the project `key` (repo, dir,
    /// workspace) with no other replica running it, and holds that until the [`RunHold`]
    /// drops. SQLite (one replica) holds nothing: the in-process mutex of
    /// `Context::lock_project` is the whole exclusion. PostgreSQL takes a session advisory
    /// lock on a connection of its own (see `PgStore::hold_run`).
    async fn hold_run(&self, _key: &str) -> anyhow::Result<RunHold> {
        Ok(RunHold::default())
    }

    /// Stores a batch of deliveries in one durable transaction (group commit).
    async fn insert_deliveries(&self, batch: &[NewDelivery]) -> anyhow::Result<Vec<Inserted>>;

    /// Puts deliveries a crashed process was working on back in the queue. SQLite (one
    /// replica) takes every one being processed; PostgreSQL (replicas) only those whose lease
    /// ran out before `now`: a live lease is another replica's work.
    async fn requeue_interrupted(&self, now: Millis) -> anyhow::Result<u64>;

    /// Claims the oldest delivery that is due (or whose lease expired), for `lease`.
    async fn claim_delivery(
        &self,
        now: Millis,
        lease: Duration,
    ) -> anyhow::Result<Option<ClaimedDelivery>>;

    /// When the next pending delivery becomes due, if any is pending.
    async fn next_delivery_due(&self) -> anyhow::Result<Option<Millis>>;

    /// Marks a claimed delivery done and records what it was, in one transaction.
    async fn finish_delivery(
        &self,
        seq: i64,
        event: &ProcessedEvent,
        now: Millis,
    ) -> anyhow::Result<()>;

    /// Puts a claimed delivery back, to be tried again at `next_attempt_at`.
    async fn retry_delivery(
        &self,
        seq: i64,
        error: &str,
        next_attempt_at: Millis,
    ) -> anyhow::Result<()>;

    /// Marks a claimed delivery failed for good; it stays for inspection.
    async fn fail_delivery(&self, seq: i64, error: &str, now: Millis) -> anyhow::Result<()>;

    /// Deliveries waiting or being processed.
    async fn queue_depth(&self) -> anyhow::Result<i64>;

    /// The whole fleet's queued jobs, when the oldest of them was made, and locks held.
    async fn fleet(&self) -> anyhow::Result<Fleet>;

    async fn delivery(&self, id: &str) -> anyhow::Result<Option<DeliveryRecord>>;

    /// The processed-event record of a delivery.
    async fn processed_event(&self, id: &str) -> anyhow::Result<Option<ProcessedEvent>>;

    /// Which of these delivery ids (GUIDs) are stored.
    async fn known_deliveries(&self, ids: &[String]) -> anyhow::Result<HashSet<String>>;

    /// Records that bosun asked GitHub to redeliver the attempt `github_delivery_id`.
    /// Returns false if it had asked already.
    async fn note_redelivery_request(
        &self,
        github_delivery_id: i64,
        guid: &str,
        outcome: &str,
        now: Millis,
    ) -> anyhow::Result<bool>;

    /// Whether bosun already asked GitHub to redeliver the attempt `github_delivery_id`.
    async fn redelivery_requested(&self, github_delivery_id: i64) -> anyhow::Result<bool>;

    /// How many redeliveries of `guid` bosun has asked for.
    async fn redelivery_requests(&self, guid: &str) -> anyhow::Result<u32>;

    async fn state(&self, key: &str) -> anyhow::Result<Option<String>>;
    async fn set_state(&self, key: &str, value: &str) -> anyhow::Result<()>;
}

/// Opens the store a database URL names, running its migrations; planfiles are sealed with
/// `sealer`.
pub async fn open(url: &str, sealer: Sealer) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(
            SqliteStore::open_with(url, sealer).await?,
        ))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(PgStore::open_with(url, sealer).await?))
    } else {
        anyhow::bail!(
            "unsupported database URL scheme (expected sqlite:, postgres: or postgresql:)"
        )
    }
}

#[cfg(test)]
pub(crate) mod test_db;

#[cfg(test)]
mod test_pg;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod identity_tests;

#[cfg(test)]
mod plan_tool_tests;

#[cfg(test)]
mod fleet_tests;

#[cfg(test)]
mod payload_tests {
    use super::Payload;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn pack_then_unpack_is_identity(raw in proptest::collection::vec(any::<u8>(), 0..4096)) {
            prop_assert_eq!(Payload::unpack(Payload::pack(&raw).stored()).unwrap(), raw);
        }

        #[test]
        fn corrupt_stored_bytes_never_panic(stored in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut stored = stored;
            stored.insert(0, 0x01);
            let _ = Payload::unpack(&stored);
        }
    }

    #[test]
    fn raw_json_reads_back_as_is_and_json_shrinks() {
        assert_eq!(Payload::unpack(b"{\"a\":1}").unwrap(), b"{\"a\":1}");
        let json = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/webhooks/bench/pull_request.json"
        ))
        .unwrap();
        let packed = Payload::pack(&json);
        assert!(
            packed.len() * 3 < json.len(),
            "{} -> {}",
            json.len(),
            packed.len()
        );
    }
}
