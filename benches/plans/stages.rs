//! The stage breakdown: a `tracing` layer that records when each of bosun's spans began and
//! ended (the delivery's request, the job, the fetch, each checkout, each Terraform command,
//! each GitHub call and each wait for a pacing turn) and how long each SQL statement took
//! (sqlx's `sqlx::query` events), so a round's records can be laid out against the moment its
//! webhook was sent.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::common::{median, ms};

/// One span or SQL statement: what, when it began, when it ended.
#[derive(Debug, Clone)]
pub struct Record {
    pub stage: String,
    pub start: Instant,
    pub end: Instant,
}

/// The records since the last [`Stages::take`].
#[derive(Clone, Default)]
pub struct Stages {
    records: Arc<Mutex<Vec<Record>>>,
}

impl Stages {
    /// The records so far, leaving none.
    pub fn take(&self) -> Vec<Record> {
        std::mem::take(&mut *self.records.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn push(&self, record: Record) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: a round records a few hundred; a runaway log must not eat the machine.
        if records.len() < 1_000_000 {
            records.push(record);
        }
    }
}

/// A span's stage name and start, kept in its extensions until it closes.
struct Open {
    stage: String,
    start: Instant,
}

/// The fields that name a stage beyond the span's own name.
#[derive(Default)]
struct Label {
    parts: BTreeMap<&'static str, String>,
    elapsed_secs: Option<f64>,
}

impl Visit for Label {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if matches!(field.name(), "command" | "method" | "what" | "path") {
            let text = format!("{value:?}");
            self.parts
                .insert(field.name(), text.trim_matches('"').to_owned());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if matches!(field.name(), "command" | "method" | "what" | "path") {
            self.parts.insert(field.name(), value.to_owned());
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed_secs = Some(value);
        }
    }
}

impl<S> Layer<S> for Stages
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut label = Label::default();
        attrs.record(&mut label);
        let name = attrs.metadata().name();
        let stage = match name {
            "terraform" => format!(
                "terraform {}",
                label.parts.remove("command").unwrap_or_default()
            ),
            "github" => format!(
                "GitHub {} {}",
                label.parts.remove("method").unwrap_or_default(),
                label.parts.remove("what").unwrap_or_default()
            ),
            "request" => format!(
                "webhook request {}",
                label.parts.remove("path").unwrap_or_default()
            ),
            other => other.to_owned(),
        };
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Open {
                stage,
                start: Instant::now(),
            });
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let end = Instant::now();
        if let Some(span) = ctx.span(&id)
            && let Some(open) = span.extensions_mut().remove::<Open>()
        {
            self.push(Record {
                stage: open.stage,
                start: open.start,
                end,
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut label = Label::default();
        event.record(&mut label);
        if let Some(secs) = label.elapsed_secs {
            let end = Instant::now();
            let took = Duration::try_from_secs_f64(secs).unwrap_or_default();
            self.push(Record {
                stage: "store: SQL statements".into(),
                start: end.checked_sub(took).unwrap_or(end),
                end,
            });
        }
    }
}

/// One stage over one round: when it first began and last ended (from the webhook), how long
/// its records took together, and how many there were.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    pub first: Duration,
    pub last_end: Duration,
    pub total: Duration,
    pub count: usize,
}

/// A round's records by stage, against the moment `t0` its webhook was sent. Records that
/// ended before it (the previous round's) are left out.
pub fn by_stage(records: &[Record], t0: Instant) -> BTreeMap<String, Seen> {
    let mut stages: BTreeMap<String, Seen> = BTreeMap::new();
    for r in records.iter().filter(|r| r.end >= t0) {
        let first = r.start.saturating_duration_since(t0);
        let last_end = r.end.saturating_duration_since(t0);
        let took = r.end.saturating_duration_since(r.start);
        let seen = stages.entry(r.stage.clone()).or_insert(Seen {
            first,
            last_end,
            total: Duration::ZERO,
            count: 0,
        });
        seen.first = seen.first.min(first);
        seen.last_end = seen.last_end.max(last_end);
        seen.total += took;
        seen.count += 1;
    }
    stages
}

/// Prints the medians over `rounds` of each stage, in the order they began.
pub fn print(rounds: &[BTreeMap<String, Seen>]) {
    let mut names: Vec<&String> = rounds.iter().flat_map(|r| r.keys()).collect();
    names.sort();
    names.dedup();
    let med = |name: &str, f: fn(&Seen) -> Duration| {
        median(rounds.iter().filter_map(|r| r.get(name)).map(f))
    };
    let mut rows: Vec<(Duration, &String)> =
        names.iter().map(|n| (med(n, |s| s.first), *n)).collect();
    rows.sort();
    println!(
        "   stage breakdown (medians over {} rounds; ms from the webhook being sent):",
        rounds.len()
    );
    println!(
        "     {:<58} {:>7} {:>7} {:>7} {:>5}",
        "stage", "begins", "ends", "takes", "times"
    );
    for (first, name) in rows {
        let counts: Vec<usize> = rounds
            .iter()
            .filter_map(|r| r.get(name.as_str()).map(|s| s.count))
            .collect();
        let mut sorted = counts.clone();
        sorted.sort_unstable();
        let count = sorted.get(sorted.len() / 2).copied().unwrap_or(0);
        let label: String = name.chars().take(58).collect();
        println!(
            "     {label:<58} {:>7.0} {:>7.0} {:>7.0} {count:>5}",
            ms(first),
            ms(med(name, |s| s.last_end)),
            ms(med(name, |s| s.total)),
        );
    }
}
