//! GitHub never retries a webhook it could not deliver. On start and then periodically, bosun
//! lists the App's recent deliveries and asks GitHub to redeliver those that failed while it was
//! down or erring, so an outage loses nothing.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::config::GITHUB_REDELIVERY_WINDOW;
use crate::github::{GitHub, HookDelivery};
use crate::metrics::Metrics;
use crate::store::fleet::{Duty, leads};
use crate::store::{Millis, Store, now_millis};

/// The scan's high-water mark in the store.
const SCANNED_UNTIL: &str = "redelivery.scanned_until";
/// Each scan looks this far behind the previous one, for deliveries finishing during it.
const OVERLAP: Duration = Duration::from_secs(10 * 60);
/// Pages of 100 deliveries read per scan at most.
const MAX_PAGES: usize = 30;
/// Redeliveries of one delivery bosun asks for at most.
const MAX_REQUESTS_PER_DELIVERY: u32 = 3;

/// What a scan did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanReport {
    pub examined: usize,
    pub requested: Vec<String>,
}

pub struct Redelivery {
    pub github: Arc<GitHub>,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    /// How far back the first scan ever looks.
    pub lookback: Duration,
}

impl Redelivery {
    /// Scans now, then every `interval` until cancelled. A zero interval scans only once.
    pub async fn run(self, interval: Duration, cancel: CancellationToken) {
        loop {
            match self.scan_if_leader().await.map(Option::unwrap_or_default) {
                Ok(report) if !report.requested.is_empty() => {
                    tracing::info!(examined = report.examined, requested = ?report.requested, "asked GitHub to redeliver failed webhooks");
                }
                Ok(report) => tracing::debug!(
                    examined = report.examined,
                    "redelivery scan: nothing to redeliver"
                ),
                Err(e) => tracing::warn!(
                    error = format!("{e:#}"),
                    "redelivery scan failed; will try again"
                ),
            }
            if interval.is_zero() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = cancel.cancelled() => return,
            }
        }
    }

    /// Scans if this replica leads the fleet's redelivery scan (see [`crate::store::fleet`]);
    /// `None` when another replica does.
    pub async fn scan_if_leader(&self) -> anyhow::Result<Option<ScanReport>> {
        if !leads(&*self.store, Duty::RedeliveryScan).await {
            return Ok(None);
        }
        self.scan().await.map(Some)
    }

    /// One scan: find deliveries GitHub failed to hand to bosun since the last scan and ask for
    /// each again, unless bosun has it stored or asked too often.
    pub async fn scan(&self) -> anyhow::Result<ScanReport> {
        let started = now_millis();
        let window_start = started - GITHUB_REDELIVERY_WINDOW.as_millis() as i64;
        let since = match self.store.state(SCANNED_UNTIL).await? {
            Some(v) => v.parse::<Millis>().unwrap_or(0) - OVERLAP.as_millis() as i64,
            None => started - self.lookback.as_millis() as i64,
        }
        .max(window_start);

        let mut attempts: Vec<HookDelivery> = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .github
                .hook_deliveries(cursor.as_deref())
                .await
                .context("listing deliveries")?;
            let mut reached_older = false;
            for d in page.deliveries {
                match delivered_at(&d.delivered_at) {
                    Some(at) if at < since => reached_older = true,
                    _ => attempts.push(d),
                }
            }
            match page.next_cursor {
                Some(next) if !reached_older => cursor = Some(next),
                _ => break,
            }
        }

        let report_examined = attempts.len();
        // Per GUID, its attempts (the list is newest first).
        let mut by_guid: BTreeMap<String, Vec<HookDelivery>> = BTreeMap::new();
        for a in attempts {
            by_guid.entry(a.guid.clone()).or_default().push(a);
        }
        let failed: Vec<(String, HookDelivery)> = by_guid
            .into_iter()
            .filter(|(_, tries)| !tries.iter().any(|t| (200..300).contains(&t.status_code)))
            .filter_map(|(guid, tries)| {
                let latest = tries.into_iter().max_by_key(|t| t.id)?;
                // 4xx is bosun refusing the delivery on purpose: asking again changes nothing.
                let worth_retrying = latest.status_code == 0 || latest.status_code >= 500;
                worth_retrying.then_some((guid, latest))
            })
            .collect();
        let guids: Vec<String> = failed.iter().map(|(g, _)| g.clone()).collect();
        let known: HashSet<String> = self.store.known_deliveries(&guids).await?;

        let mut report = ScanReport {
            examined: report_examined,
            requested: Vec::new(),
        };
        for (guid, latest) in failed {
            if known.contains(&guid) {
                continue;
            }
            let asked = self.store.redelivery_requests(&guid).await?;
            if asked >= MAX_REQUESTS_PER_DELIVERY {
                tracing::warn!(delivery = %guid, asked, "delivery still failing after redeliveries; giving up on it");
                continue;
            }
            if self.store.redelivery_requested(latest.id).await? {
                continue; // already asked for this attempt; its redelivery is on its way
            }
            match self.github.redeliver(latest.id).await {
                Ok(()) => {
                    self.store
                        .note_redelivery_request(latest.id, &guid, "requested", now_millis())
                        .await?;
                    self.metrics.redeliveries_requested.inc();
                    report.requested.push(guid);
                }
                Err(e) => {
                    // Not noted: the next scan asks again.
                    tracing::warn!(delivery = %guid, error = %e, "asking for a redelivery failed");
                }
            }
        }
        self.store
            .set_state(SCANNED_UNTIL, &started.to_string())
            .await?;
        Ok(report)
    }
}

fn delivered_at(text: &str) -> Option<Millis> {
    let t = humantime::parse_rfc3339_weak(text).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64)
}

/// Formats a time as GitHub does in `delivered_at`.
pub fn github_time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_github_times() {
        assert_eq!(delivered_at("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(
            delivered_at("2019-06-03T00:57:16Z"),
            Some(1_559_523_436_000)
        );
        assert_eq!(delivered_at("nonsense"), None);
        assert_eq!(
            github_time(UNIX_EPOCH + Duration::from_secs(1)),
            "1970-01-01T00:00:01Z"
        );
    }
}
