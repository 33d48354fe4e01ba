use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use futures::FutureExt as _;
use tokio_util::sync::CancellationToken;

use chrono::TimeZone as _;

use super::{Schedule, run_with_clock};

/// A UTC time.
fn at(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> SystemTime {
    chrono::Utc
        .with_ymd_and_hms(year, month, day, hour, minute, 0)
        .unwrap()
        .into()
}

fn next(expr: &str, after: SystemTime) -> Option<SystemTime> {
    Schedule::parse(expr).unwrap().next_after(after)
}

fn err(expr: &str) -> String {
    Schedule::parse(expr).unwrap_err()
}

#[test]
fn valid_forms_parse_and_display_as_written() {
    for expr in [
        "* * * * *",
        "0 3 * * *",
        "*/15 0-6,22-23 * * mon-FRI",
        "5,35 */2 1-31/3 jan,Jul,12 0-7",
        "30 2 15 * 7",
        "10/20 * * * *",
        "@hourly",
        "@daily",
        "@midnight",
        "@weekly",
        "@monthly",
        "@yearly",
        "@annually",
        "  0 4 * * sun  ",
    ] {
        let s = Schedule::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        assert_eq!(s.to_string(), expr.trim());
    }
    assert_eq!(
        Schedule::parse("@weekly").unwrap().fields.weekdays,
        Schedule::parse("0 0 * * 7").unwrap().fields.weekdays,
    );
}

#[test]
fn each_kind_of_error_names_its_field() {
    assert_eq!(
        err("* * * *"),
        "expected 5 fields (minute hour day-of-month month day-of-week), got 4"
    );
    assert_eq!(
        err("* * * * * *"),
        "expected 5 fields (minute hour day-of-month month day-of-week), got 6"
    );
    assert_eq!(err(""), err("   "));
    assert_eq!(err("60 * * * *"), "minute field: 60 is out of range 0-59");
    assert_eq!(err("* 24 * * *"), "hour field: 24 is out of range 0-23");
    assert_eq!(
        err("* * 0 * *"),
        "day-of-month field: 0 is out of range 1-31"
    );
    assert_eq!(
        err("* * 32 * *"),
        "day-of-month field: 32 is out of range 1-31"
    );
    assert_eq!(err("* * * 13 *"), "month field: 13 is out of range 1-12");
    assert_eq!(err("* * * * 8"), "day-of-week field: 8 is out of range 0-7");
    assert_eq!(
        err("* * * foo *"),
        "month field: \"foo\" is neither a number nor a name \
         (jan, feb, mar, apr, may, jun, jul, aug, sep, oct, nov, dec)"
    );
    assert!(err("* * * * funday").starts_with("day-of-week field: \"funday\" is neither"));
    assert_eq!(err("x * * * *"), "minute field: \"x\" is not a number");
    assert_eq!(err("* mon * * *"), "hour field: \"mon\" is not a number");
    assert_eq!(
        err("*/0 * * * *"),
        "minute field: a step of 0 never advances"
    );
    assert_eq!(
        err("*/x * * * *"),
        "minute field: step \"x\" is not a number"
    );
    assert_eq!(
        err("* 5-2 * * *"),
        "hour field: range \"5-2\" runs backwards"
    );
    assert_eq!(err("1,,2 * * * *"), "minute field: empty item in \"1,,2\"");
    assert_eq!(err("-1 * * * *"), "minute field: \"\" is not a number");
    assert_eq!(
        err("99999999999 * * * *"),
        "minute field: \"99999999999\" is out of range 0-59"
    );
    assert_eq!(
        err("@reboot"),
        "unknown macro \"@reboot\" (known: @hourly, @daily, @weekly, @monthly, @yearly)"
    );
}

#[test]
fn next_is_strictly_after_on_a_minute() {
    let t = at(2024, 5, 10, 12, 0);
    assert_eq!(next("* * * * *", t), Some(at(2024, 5, 10, 12, 1)));
    assert_eq!(
        next("* * * * *", t + Duration::from_secs(59)),
        Some(at(2024, 5, 10, 12, 1))
    );
    assert_eq!(next("0 * * * *", t), Some(at(2024, 5, 10, 13, 0)));
    assert_eq!(next("*/15 * * * *", t), Some(at(2024, 5, 10, 12, 15)));
    assert_eq!(next("@daily", t), Some(at(2024, 5, 11, 0, 0)));
    // `a/n` runs from a to the field's end; names and lists (2024-05-10 is a Friday).
    assert_eq!(next("10/20 * * * *", t), Some(at(2024, 5, 10, 12, 10)));
    assert_eq!(
        next("10/20 * * * *", at(2024, 5, 10, 12, 50)),
        Some(at(2024, 5, 10, 13, 10))
    );
    assert_eq!(
        next("*/15 0-6,22-23 * * mon-FRI", t),
        Some(at(2024, 5, 10, 22, 0))
    );
    assert_eq!(
        next("*/15 0-6,22-23 * * mon-FRI", at(2024, 5, 10, 23, 50)),
        Some(at(2024, 5, 13, 0, 0)),
        "not on the weekend"
    );
}

#[test]
fn next_crosses_month_and_year_ends() {
    assert_eq!(
        next("30 2 * * *", at(2024, 12, 31, 3, 0)),
        Some(at(2025, 1, 1, 2, 30))
    );
    assert_eq!(
        next("@monthly", at(2024, 1, 31, 12, 0)),
        Some(at(2024, 2, 1, 0, 0))
    );
    // The 31st skips months that have none.
    assert_eq!(
        next("0 0 31 * *", at(2024, 4, 1, 0, 0)),
        Some(at(2024, 5, 31, 0, 0))
    );
    // Feb 29 waits for a leap year.
    assert_eq!(
        next("0 12 29 feb *", at(2024, 3, 1, 0, 0)),
        Some(at(2028, 2, 29, 12, 0))
    );
    assert_eq!(
        next("@yearly", at(2024, 6, 1, 0, 0)),
        Some(at(2025, 1, 1, 0, 0))
    );
    // Never: Feb 30, and Apr 31.
    assert_eq!(next("0 0 30 2 *", at(2024, 1, 1, 0, 0)), None);
    assert_eq!(next("0 0 31 apr *", at(2024, 1, 1, 0, 0)), None);
}

#[test]
fn day_of_month_and_day_of_week_are_ored_only_when_both_are_restricted() {
    // 2024-06-01 is a Saturday.
    let t = at(2024, 6, 1, 12, 0);
    // Both restricted: the 15th or any Monday, whichever first (Monday the 3rd).
    assert_eq!(next("0 0 15 * mon", t), Some(at(2024, 6, 3, 0, 0)));
    assert_eq!(next("0 0 2 * mon", t), Some(at(2024, 6, 2, 0, 0)));
    // Only the day of the week: Mondays.
    assert_eq!(next("0 0 * * 1", t), Some(at(2024, 6, 3, 0, 0)));
    // Only the day of the month: the 15th.
    assert_eq!(next("0 0 15 * *", t), Some(at(2024, 6, 15, 0, 0)));
    // A step starting with `*` counts as unrestricted (Vixie): AND, so odd days that are Sundays.
    assert_eq!(next("0 0 */2 * sun", t), Some(at(2024, 6, 9, 0, 0)));
    // Sunday as 7 and as 0.
    assert_eq!(next("0 0 * * 7", t), Some(at(2024, 6, 2, 0, 0)));
    assert_eq!(next("0 0 * * 0", t), Some(at(2024, 6, 2, 0, 0)));
    assert_eq!(next("@weekly", t), Some(at(2024, 6, 2, 0, 0)));
    // Both restricted, one to every day: every day (ORed).
    assert_eq!(next("0 0 1-31 * mon", t), Some(at(2024, 6, 2, 0, 0)));
    assert_eq!(next("0 0 15 * 0-6", t), Some(at(2024, 6, 2, 0, 0)));
}

fn next_in(expr: &str, zone: &str, after: SystemTime) -> Option<SystemTime> {
    let zone = zone.parse().unwrap();
    Schedule::parse(expr)
        .unwrap()
        .in_zone(zone)
        .next_after(after)
}

#[test]
fn business_hours_in_a_zone_follow_its_daylight_saving_change() {
    // New York moves from EST (UTC-5) to EDT (UTC-4) on Sunday 2024-03-10.
    let s = "0 9 * * mon-fri";
    let friday = at(2024, 3, 8, 14, 0);
    assert_eq!(
        next_in(s, "America/New_York", at(2024, 3, 8, 12, 0)),
        Some(friday)
    );
    assert_eq!(
        next_in(s, "America/New_York", friday),
        Some(at(2024, 3, 11, 13, 0)),
        "Monday 9:00 is 13:00 UTC in summer time"
    );
    // UTC, the default, has no change.
    assert_eq!(next(s, friday), Some(at(2024, 3, 11, 9, 0)));
}

#[test]
fn a_time_the_clocks_skip_fires_after_the_gap_and_a_repeated_one_fires_once() {
    // Berlin skips 02:00-03:00 on 2024-03-31: 02:30 fires at 03:00 CEST (01:00 UTC).
    let s = "30 2 * * *";
    let gap = at(2024, 3, 31, 1, 0);
    assert_eq!(
        next_in(s, "Europe/Berlin", at(2024, 3, 30, 12, 0)),
        Some(gap)
    );
    assert_eq!(
        next_in(s, "Europe/Berlin", gap),
        Some(at(2024, 4, 1, 0, 30))
    );
    // Berlin repeats 02:00-03:00 on 2024-10-27: 02:30 fires once, at its first (CEST, 00:30 UTC).
    let first = at(2024, 10, 27, 0, 30);
    assert_eq!(
        next_in(s, "Europe/Berlin", at(2024, 10, 26, 12, 0)),
        Some(first)
    );
    assert_eq!(
        next_in(s, "Europe/Berlin", first),
        Some(at(2024, 10, 28, 1, 30)),
        "not again at 02:30 CET (01:30 UTC) the same day"
    );
}

#[test]
fn a_zone_shows_in_the_display_unless_utc() {
    let s = Schedule::parse("0 9 * * mon-fri").unwrap();
    assert_eq!(s.to_string(), "0 9 * * mon-fri");
    let s = s.in_zone("Europe/Berlin".parse().unwrap());
    assert_eq!(s.to_string(), "0 9 * * mon-fri (Europe/Berlin)");
}

/// A wall clock that moves with tokio's (paused) time, from `base`.
fn clock(base: SystemTime) -> impl Fn() -> SystemTime {
    let start = tokio::time::Instant::now();
    move || base + start.elapsed()
}

#[tokio::test(start_paused = true)]
async fn run_ticks_at_each_time_until_cancelled() {
    let base = at(2024, 6, 1, 12, 0) + Duration::from_secs(30);
    let fired = Arc::new(std::sync::Mutex::new(Vec::new()));
    let cancel = CancellationToken::new();
    let task = tokio::spawn({
        let (fired, cancel) = (fired.clone(), cancel.clone());
        async move {
            let tick = move |t: SystemTime| {
                fired.lock().unwrap().push(t);
                async {}.boxed()
            };
            let schedule = Schedule::parse("*/2 * * * *").unwrap();
            run_with_clock(schedule, cancel, clock(base), tick).await
        }
    });
    // 12:00:30 + 9 min = 12:09:30: ticks at 12:02, :04, :06, :08.
    tokio::time::sleep(Duration::from_secs(9 * 60)).await;
    cancel.cancel();
    task.await.unwrap();
    let fired = fired.lock().unwrap().clone();
    assert_eq!(fired, [2, 4, 6, 8].map(|m| at(2024, 6, 1, 12, m)).to_vec());
}

#[tokio::test(start_paused = true)]
async fn a_long_tick_skips_the_times_it_missed() {
    let base = at(2024, 6, 1, 12, 0);
    let count = Arc::new(AtomicU32::new(0));
    let cancel = CancellationToken::new();
    let task = tokio::spawn({
        let (count, cancel) = (count.clone(), cancel.clone());
        async move {
            let tick = move |_| {
                let n = count.fetch_add(1, Ordering::SeqCst);
                async move {
                    // The first tick (12:01) takes 150 s: 12:02 and 12:03 are missed.
                    if n == 0 {
                        tokio::time::sleep(Duration::from_secs(150)).await;
                    }
                }
                .boxed()
            };
            let schedule = Schedule::parse("* * * * *").unwrap();
            run_with_clock(schedule, cancel, clock(base), tick).await
        }
    });
    // Until 12:06:30: ticks at 12:01, 12:04, 12:05, 12:06.
    tokio::time::sleep(Duration::from_secs(6 * 60 + 30)).await;
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn a_schedule_that_never_fires_returns_at_once() {
    let tick = |_| -> futures::future::BoxFuture<'static, ()> { panic!("never fires") };
    let schedule = Schedule::parse("0 0 30 feb *").unwrap();
    run_with_clock(
        schedule,
        CancellationToken::new(),
        clock(at(2024, 1, 1, 0, 0)),
        tick,
    )
    .await;
}
