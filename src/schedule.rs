//! The drift schedule: a cron expression (BOSUN_DRIFT_SCHEDULE) read in a time zone
//! (BOSUN_DRIFT_SCHEDULE_TIMEZONE, UTC by default), and the loop that calls a tick at each time
//! it fires. Five fields, as crontab(5) has them: minute, hour, day-of-month, month,
//! day-of-week, each `*`, a number, a range `a-b`, a step `*/n` or `a-b/n` (`a/n`: from a to
//! the field's end), or a list of those; months and days of the week by number or by their
//! first three letters (Sunday is 0 or 7). When both day fields are restricted (neither starts
//! with `*`), a day matches either, as Vixie cron does. The macros `@hourly`, `@daily`
//! (`@midnight`), `@weekly`, `@monthly` and `@yearly` (`@annually`) stand for their usual
//! expressions.
//!
//! `croner` finds the times, in the zone: across a daylight-saving change a fixed time of day
//! the clocks skip fires at the first instant after the gap, and one the clocks repeat fires
//! once (at the first of the two), as Vixie cron does. The parser in front of it stays ours: croner's
//! errors do not name the field at fault, and it accepts more than crontab(5) (a seconds
//! field, `L`, `W`, `#`, `?`, `+`, names in any field) and ORs the day fields for `*/n`, where
//! Vixie ANDs them. croner is given the fields as the numbers they match.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

/// A parsed cron expression in a time zone; displays as it was written (and its zone, unless
/// UTC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    fields: Fields,
    /// The fields as croner reads them (numbers only).
    cron: croner::Cron,
    zone: Tz,
}

/// The values each field matches.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Fields {
    /// Bit i set: minute i matches (0..60).
    minutes: u64,
    /// Bit i: hour i (0..24).
    hours: u64,
    /// Bit i: day of the month i (1..=31).
    days: u64,
    /// Bit i: month i (1..=12).
    months: u64,
    /// Bit i: day of the week i (0 = Sunday .. 6).
    weekdays: u64,
    /// Whether the day-of-month field starts with `*` (then only the day of the week counts).
    any_day: bool,
    /// Whether the day-of-week field starts with `*` (then only the day of the month counts).
    any_weekday: bool,
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)?;
        if self.zone != Tz::UTC {
            write!(f, " ({})", self.zone.name())?;
        }
        Ok(())
    }
}

/// One field's name, bounds and names.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// The first name's value.
    first_named: u32,
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
        first_named: 0,
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
        first_named: 0,
    },
    Field {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
        first_named: 0,
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
        first_named: 1,
    },
    Field {
        name: "day-of-week",
        min: 0,
        // 7 is Sunday too, folded into 0.
        max: 7,
        names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
        first_named: 0,
    },
];

impl Field {
    fn value(&self, s: &str) -> Result<u32, String> {
        let v = if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() {
            s.parse::<u32>()
                .map_err(|_| format!("{s:?} is out of range {}-{}", self.min, self.max))?
        } else if let Some(i) = self.names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            self.first_named + i as u32
        } else if self.names.is_empty() {
            return Err(format!("{s:?} is not a number"));
        } else {
            return Err(format!(
                "{s:?} is neither a number nor a name ({})",
                self.names.join(", ")
            ));
        };
        if v < self.min || v > self.max {
            return Err(format!("{v} is out of range {}-{}", self.min, self.max));
        }
        Ok(v)
    }

    /// The set of values a field's text matches, as bits.
    fn parse(&self, text: &str) -> Result<u64, String> {
        let mut bits = 0u64;
        for item in text.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => {
                    let step = s
                        .parse::<u32>()
                        .map_err(|_| format!("step {s:?} is not a number"))?;
                    if step == 0 {
                        return Err("a step of 0 never advances".into());
                    }
                    (r, Some(step))
                }
                None => (item, None),
            };
            let (lo, hi) = if range == "*" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                let (a, b) = (self.value(a)?, self.value(b)?);
                if a > b {
                    return Err(format!("range {range:?} runs backwards"));
                }
                (a, b)
            } else if range.is_empty() {
                return Err(format!("empty item in {text:?}"));
            } else {
                let a = self.value(range)?;
                // `a/n` runs from a to the field's end.
                (a, if step.is_some() { self.max } else { a })
            };
            let mut v = lo;
            while v <= hi {
                bits |= 1 << v;
                v += step.unwrap_or(1);
            }
        }
        Ok(bits)
    }
}

impl Schedule {
    /// Parses a cron expression; an error names the field at fault and why.
    pub fn parse(expr: &str) -> Result<Self, String> {
        let text = expr.trim();
        let expanded = match text.to_ascii_lowercase().as_str() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            m if m.starts_with('@') => {
                return Err(format!(
                    "unknown macro {text:?} (known: @hourly, @daily, @weekly, @monthly, @yearly)"
                ));
            }
            _ => text,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = parts.as_slice() else {
            return Err(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), got {}",
                parts.len()
            ));
        };
        let mut bits = [0u64; 5];
        for ((field, part), out) in FIELDS
            .iter()
            .zip([minute, hour, day, month, weekday])
            .zip(&mut bits)
        {
            *out = field
                .parse(part)
                .map_err(|e| format!("{} field: {e}", field.name))?;
        }
        let [minutes, hours, days, months, mut weekdays] = bits;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays & !(1 << 7)) | 1;
        }
        let fields = Fields {
            minutes,
            hours,
            days,
            months,
            weekdays,
            any_day: day.starts_with('*'),
            any_weekday: weekday.starts_with('*'),
        };
        let cron = croner::parser::CronParser::builder()
            // Vixie: the day fields are ORed only when both are restricted.
            .dom_and_dow(fields.any_day || fields.any_weekday)
            .build()
            .parse(&fields.pattern())
            .map_err(|e| format!("{text:?}: {e}"))?;
        Ok(Self {
            text: text.to_owned(),
            fields,
            cron,
            zone: Tz::UTC,
        })
    }

    /// The same schedule read in `zone`.
    pub fn in_zone(self, zone: Tz) -> Self {
        Self { zone, ..self }
    }

    /// The first time strictly after `after` that the schedule fires (None if never within 5
    /// years).
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        let secs = match after.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).ok()?,
            Err(e) => -i64::try_from(e.duration().as_secs()).ok()? - 1,
        };
        let start = DateTime::from_timestamp(secs, 0)?.with_timezone(&self.zone);
        let next = self.cron.find_next_occurrence(&start, false).ok()?;
        let next = next.with_timezone(&Utc);
        if next.timestamp() - secs > 5 * 366 * 86_400 {
            return None;
        }
        Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(next.timestamp()).ok()?))
    }
}

impl Fields {
    /// The fields as a numeric cron pattern for croner: the list of values each matches (`*` for
    /// a time or month field that matches all; the day fields are always lists, since croner
    /// reads a `*` there as "unrestricted", which Vixie decides from the text, above).
    fn pattern(&self) -> String {
        let field = |bits: u64, min: u32, max: u32, star: bool| {
            let values: Vec<String> = (min..=max)
                .filter(|v| bits & (1 << v) != 0)
                .map(|v| v.to_string())
                .collect();
            if star && values.len() == (max - min + 1) as usize {
                "*".to_owned()
            } else {
                values.join(",")
            }
        };
        format!(
            "{} {} {} {} {}",
            field(self.minutes, 0, 59, true),
            field(self.hours, 0, 23, true),
            field(self.days, 1, 31, false),
            field(self.months, 1, 12, true),
            field(self.weekdays, 0, 6, false),
        )
    }
}

/// Calls `tick` at every time the schedule fires until `cancel` fires. It sleeps in between;
/// a tick that runs long skips the times it missed (logging how many); a tick under way when
/// `cancel` fires is finished first (a tick should only enqueue work).
pub async fn run(
    schedule: Schedule,
    cancel: CancellationToken,
    tick: impl FnMut(SystemTime) -> BoxFuture<'static, ()>,
) {
    run_with_clock(schedule, cancel, SystemTime::now, tick).await
}

/// [`run`] with the wall clock given (tests derive it from tokio's paused time).
pub(crate) async fn run_with_clock(
    schedule: Schedule,
    cancel: CancellationToken,
    now: impl Fn() -> SystemTime,
    mut tick: impl FnMut(SystemTime) -> BoxFuture<'static, ()>,
) {
    let Some(mut next) = schedule.next_after(now()) else {
        tracing::warn!(%schedule, "the drift schedule never fires");
        return;
    };
    loop {
        // Sleeps until `next` by the wall clock; a sleep that wakes early sleeps again.
        let wait = next.duration_since(now()).unwrap_or_default();
        if !wait.is_zero() {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => continue,
            }
        }
        if cancel.is_cancelled() {
            return;
        }
        tick(next).await;
        let done = now();
        let mut missed = 0u32;
        let mut after = next;
        loop {
            match schedule.next_after(after) {
                Some(t) if t <= done && missed < 100_000 => {
                    missed += 1;
                    after = t;
                }
                Some(t) if t > done => break next = t,
                _ => match schedule.next_after(done) {
                    Some(t) => break next = t,
                    None => {
                        tracing::warn!(%schedule, "the drift schedule fires no more");
                        return;
                    }
                },
            }
        }
        if missed > 0 {
            tracing::warn!(%schedule, missed, "a drift tick ran past the schedule's next times: skipped them");
        }
    }
}

#[cfg(test)]
mod tests;
