//! Prometheus metrics, in one registry shared by every part of bosun.

use std::borrow::Cow;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// accepted, duplicate, ping, ignored, dropped, rejected
    pub outcome: &'static str,
    /// Why, for anything but accepted: signature_mismatch, not_allowlisted, …
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProcessedLabels {
    /// handled, ignored, retried, failed
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    /// The HTTP status, or `error` when no answer came.
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DriftLabels {
    /// `owner/name`
    pub repo: String,
    /// The project's name in check runs: its name, else its dir, with `:<workspace>`.
    pub project: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RepoLabels {
    /// `owner/name`
    pub repo: String,
}

pub struct Metrics {
    registry: Registry,
    pub deliveries: Family<DeliveryLabels, Counter>,
    pub processed: Family<ProcessedLabels, Counter>,
    pub queue_depth: Gauge,
    /// Jobs queued across the fleet, read from the store at scrape time.
    pub jobs_queued: Gauge,
    /// Age of the oldest queued job (0 when none), read at scrape time.
    pub oldest_queued_job_seconds: Gauge,
    /// Project locks held across the fleet, read at scrape time.
    pub locks_held: Gauge,
    pub processing_seconds: Histogram,
    pub github_requests: Family<ApiLabels, Counter>,
    pub redeliveries_requested: Counter,
    pub drift_status: Family<DriftLabels, Gauge>,
    pub drift_last_run: Family<RepoLabels, Gauge>,
}

impl Default for Metrics {
    /// Metrics without an `instance` label (tests, previews).
    fn default() -> Self {
        Self::in_registry(Registry::with_prefix("bosun"))
    }
}

impl Metrics {
    /// Metrics whose every sample is labelled `instance="<id>"` (BOSUN_INSTANCE_ID), so the
    /// replicas of one fleet can be told apart.
    pub fn for_instance(id: &str) -> Self {
        let labels = [(Cow::Borrowed("instance"), Cow::Owned(id.to_owned()))];
        Self::in_registry(Registry::with_prefix_and_labels(
            "bosun",
            labels.into_iter(),
        ))
    }

    fn in_registry(mut registry: Registry) -> Self {
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries received, by outcome and rejection reason",
            deliveries.clone(),
        );
        let processed = Family::<ProcessedLabels, Counter>::default();
        registry.register(
            "deliveries_processed",
            "Delivery processing attempts, by result",
            processed.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "delivery_queue_depth",
            "Deliveries stored and not yet processed",
            queue_depth.clone(),
        );
        let jobs_queued = Gauge::default();
        registry.register(
            "jobs_queued",
            "Jobs waiting to be claimed, across every replica (from the store)",
            jobs_queued.clone(),
        );
        let oldest_queued_job_seconds = Gauge::default();
        registry.register(
            "oldest_queued_job_age_seconds",
            "Age of the oldest job waiting to be claimed, 0 when none (from the store)",
            oldest_queued_job_seconds.clone(),
        );
        let locks_held = Gauge::default();
        registry.register(
            "locks_held",
            "Project locks held by pull requests, across every replica (from the store)",
            locks_held.clone(),
        );
        let processing_seconds = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
        ]);
        registry.register(
            "delivery_processing_seconds",
            "Time from a delivery's receipt to the end of its processing",
            processing_seconds.clone(),
        );
        let github_requests = Family::<ApiLabels, Counter>::default();
        registry.register(
            "github_api_requests",
            "GitHub API calls, by response status",
            github_requests.clone(),
        );
        let redeliveries_requested = Counter::default();
        registry.register(
            "redeliveries_requested",
            "Redeliveries of failed webhooks bosun asked GitHub for",
            redeliveries_requested.clone(),
        );
        let drift_status = Family::<DriftLabels, Gauge>::default();
        registry.register(
            "drift_status",
            "Each default-branch project's last drift status: 0 in sync, 1 drifted, 2 error",
            drift_status.clone(),
        );
        let drift_last_run = Family::<RepoLabels, Gauge>::default();
        registry.register(
            "drift_last_run_timestamp_seconds",
            "When the repo's last drift run started (Unix time)",
            drift_last_run.clone(),
        );
        Self {
            registry,
            deliveries,
            processed,
            queue_depth,
            jobs_queued,
            oldest_queued_job_seconds,
            locks_held,
            processing_seconds,
            github_requests,
            redeliveries_requested,
            drift_status,
            drift_last_run,
        }
    }
}

impl Metrics {
    pub fn delivery(&self, outcome: &'static str, reason: &'static str) {
        self.deliveries
            .get_or_create(&DeliveryLabels { outcome, reason })
            .inc();
    }

    pub fn github_status(&self, status: Option<u16>) {
        let status = status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "error".into());
        self.github_requests
            .get_or_create(&ApiLabels { status })
            .inc();
    }

    /// A project's drift status (see [`crate::drift::DriftStatus::metric`]).
    pub fn drift_status(&self, repo: &str, project: &str, value: i64) {
        let labels = DriftLabels {
            repo: repo.to_owned(),
            project: project.to_owned(),
        };
        self.drift_status.get_or_create(&labels).set(value);
    }

    /// A drift run of `repo` started at `started` (Unix milliseconds).
    pub fn drift_ran(&self, repo: &str, started: i64) {
        let labels = RepoLabels {
            repo: repo.to_owned(),
        };
        self.drift_last_run
            .get_or_create(&labels)
            .set(started / 1000);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_of_an_instance_carries_its_label() {
        let m = Metrics::for_instance("replica-a");
        m.delivery("accepted", "");
        m.github_status(Some(200));
        m.drift_status("o/r", "p", 1);
        let text = m.render();
        assert!(
            text.contains(r#"bosun_delivery_queue_depth{instance="replica-a"} 0"#),
            "{text}"
        );
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(samples.len() > 5, "{text}");
        for line in samples {
            assert!(line.contains(r#"instance="replica-a""#), "{line}");
        }
    }
}
