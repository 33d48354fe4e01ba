//! The printed report: the cold round and the median of the warm ones, ratios and the
//! overhead per project.

use std::time::Duration;

use crate::by_hand::HandRound;
use crate::common::{median, ms};
use crate::{BosunRound, PARALLELISM, RESOURCES, UNPACED};

/// Cold (the first round) and warm (the median of the others, if any) of one measure.
struct Split {
    cold: Duration,
    warm: Option<Duration>,
}

impl Split {
    fn of<T>(rounds: &[T], f: impl Fn(&T) -> Duration) -> Self {
        Self {
            cold: rounds.first().map(&f).unwrap_or_default(),
            warm: (rounds.len() > 1).then(|| median(rounds.iter().skip(1).map(&f))),
        }
    }
}

/// Prints the report; `hand` is the baseline, then the baseline with bosun's `-out` and
/// `show -json`.
pub fn print(
    n: usize,
    [hand, with_show]: [&[HandRound]; 2],
    bosun: &[BosunRound],
    setup: Duration,
) {
    let warm_rounds = hand.len().saturating_sub(1);
    println!(
        "\nDrift run of {n} projects ({} terraform_data resources each, 1 drifted), parallelism {PARALLELISM}, GitHub write pacing lifted ({UNPACED}/min)",
        RESOURCES.len()
    );
    println!(
        "   set-up, not timed below (push, {n} applies by hand, the drift): {:.1} s",
        setup.as_secs_f64()
    );
    println!(
        "   {:<52} {:>9} {:>9}",
        "",
        "cold",
        format!("warm ({warm_rounds})")
    );
    let by_hand = Split::of(hand, |h| h.wall);
    let total = Split::of(bosun, |b| b.done);
    row(
        &format!("by hand: init + plan -detailed-exitcode, {PARALLELISM} at a time"),
        &by_hand,
    );
    row(
        &format!("  sum of the projects' init + plan / {PARALLELISM}"),
        &Split::of(hand, |h| h.busy / PARALLELISM as u32),
    );
    let as_bosun = Split::of(with_show, |h| h.wall);
    row(
        "  the same with plan -out and show -json (a PR plan)",
        &as_bosun,
    );
    row("bosun: POST /api/drift -> job done", &total);
    row(
        "  POST -> 202 (job queued)",
        &Split::of(bosun, |b| b.accepted),
    );
    row(
        "  202 -> run recorded (claim, fetch default branch)",
        &Split::of(bosun, |b| b.recorded.saturating_sub(b.accepted)),
    );
    row(
        &format!("  -> run finished ({n} checkouts, plans, check runs)"),
        &Split::of(bosun, |b| b.finished.saturating_sub(b.recorded)),
    );
    row(
        "  -> job done (the drift issue)",
        &Split::of(bosun, |b| b.done.saturating_sub(b.finished)),
    );
    let ratio = |b: Duration, h: Duration| format!("{:.2}", ms(b) / ms(h).max(1.0));
    let per_project = |slots: usize| {
        move |b: Duration, h: Duration| {
            format!("{:+.0} ms", (ms(b) - ms(h)) / n as f64 * slots as f64)
        }
    };
    compare("ratio bosun / by hand", &total, &by_hand, ratio);
    compare(
        "  against by hand with -out and show -json",
        &total,
        &as_bosun,
        ratio,
    );
    compare(
        "overhead per project: (bosun - by hand) / N",
        &total,
        &by_hand,
        per_project(1),
    );
    compare(
        &format!("  the same, in each of the {PARALLELISM} slots (x {PARALLELISM})"),
        &total,
        &by_hand,
        per_project(PARALLELISM),
    );
    let list = |v: Vec<Duration>| {
        v.iter()
            .map(|d| format!("{:.0}", ms(*d)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "   every round (ms): by hand [{}], with show -json [{}], bosun [{}]",
        list(hand.iter().map(|h| h.wall).collect()),
        list(with_show.iter().map(|h| h.wall).collect()),
        list(bosun.iter().map(|b| b.done).collect())
    );
}

/// Prints `f(bosun, baseline)` for the cold round and the warm median.
fn compare(label: &str, bosun: &Split, base: &Split, f: impl Fn(Duration, Duration) -> String) {
    let cold = f(bosun.cold, base.cold);
    let warm = match (bosun.warm, base.warm) {
        (Some(b), Some(h)) => f(b, h),
        _ => "-".into(),
    };
    println!("   {label:<52} {cold:>9} {warm:>9}");
}

fn row(label: &str, split: &Split) {
    let warm = split
        .warm
        .map_or_else(|| "-".to_owned(), |w| format!("{:.0} ms", ms(w)));
    println!(
        "   {label:<52} {:>9} {warm:>9}",
        format!("{:.0} ms", ms(split.cold))
    );
}
