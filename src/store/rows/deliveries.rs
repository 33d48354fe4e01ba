//! Rows of `deliveries`, `processed_events` and the fleet's queue and locks, as both backends
//! read them.

use crate::ids::PrNumber;
use crate::store::{ClaimedDelivery, DeliveryRecord, DeliveryStatus, Payload, ProcessedEvent};

fn status_of(s: &str) -> DeliveryStatus {
    match s {
        "pending" => DeliveryStatus::Pending,
        "processing" => DeliveryStatus::Processing,
        "done" => DeliveryStatus::Done,
        _ => DeliveryStatus::Failed,
    }
}

/// A claimed row of `deliveries`, with its payload (none if the payload row is missing).
#[derive(sqlx::FromRow)]
pub(in crate::store) struct ClaimRow {
    pub(in crate::store) seq: i64,
    pub(in crate::store) id: String,
    pub(in crate::store) event: String,
    pub(in crate::store) action: Option<String>,
    pub(in crate::store) repository: Option<String>,
    pub(in crate::store) received_at: i64,
    pub(in crate::store) attempts: i64,
    pub(in crate::store) payload: Option<Vec<u8>>,
}

impl ClaimRow {
    pub(in crate::store) fn into_claimed(self) -> ClaimedDelivery {
        ClaimedDelivery {
            seq: self.seq,
            id: self.id,
            event: self.event,
            action: self.action,
            repository: self.repository,
            received_at: self.received_at,
            payload: self
                .payload
                .ok_or_else(|| "the stored payload is missing".to_owned())
                .and_then(|p| Payload::unpack(&p).map_err(|e| e.to_string())),
            attempts: self.attempts as u32,
        }
    }
}

/// A row of `deliveries` as a delivery's record reads it.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct DeliveryRow {
    pub(in crate::store) seq: i64,
    pub(in crate::store) id: String,
    pub(in crate::store) event: String,
    pub(in crate::store) status: String,
    pub(in crate::store) attempts: i64,
    pub(in crate::store) last_error: Option<String>,
}

impl DeliveryRow {
    pub(in crate::store) fn into_record(self) -> DeliveryRecord {
        DeliveryRecord {
            seq: self.seq,
            id: self.id,
            event: self.event,
            status: status_of(&self.status),
            attempts: self.attempts as u32,
            last_error: self.last_error,
        }
    }
}

/// A row of `processed_events`.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct ProcessedRow {
    pub(in crate::store) kind: String,
    pub(in crate::store) repository: Option<String>,
    pub(in crate::store) pr: Option<i64>,
    pub(in crate::store) disposition: String,
    pub(in crate::store) summary: String,
}

impl ProcessedRow {
    pub(in crate::store) fn into_event(self) -> ProcessedEvent {
        ProcessedEvent {
            kind: self.kind,
            repository: self.repository,
            pr: self.pr.map(|n| PrNumber(n as u64)),
            handled: self.disposition == "handled",
            summary: self.summary,
        }
    }
}

/// The fleet's queue and locks.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct FleetRow {
    pub(in crate::store) queued_jobs: i64,
    pub(in crate::store) oldest_queued_at: Option<i64>,
    pub(in crate::store) locks_held: i64,
}
