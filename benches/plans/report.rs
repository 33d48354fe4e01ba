//! The printed report: medians, ratios and targets.

use std::time::Duration;

use crate::by_hand::{GitTimes, HandTimes};
use crate::common::{median, ms};
use crate::{
    BIG, DEFAULT_WRITES_PER_MINUTE, ManyProjects, OneProject, Seen, TARGET_MS, TARGET_SHARE,
    UNPACED,
};

impl OneProject {
    pub fn print(&self) {
        let init_plan = median(self.hand.iter().map(|h| h.init_plan));
        let show = median(self.hand.iter().map(|h| h.show));
        let m = |f: fn(&Seen) -> Option<Duration>| median(self.bosun.iter().filter_map(f));
        let comment = m(|s| Some(s.comment));
        println!(
            "\n1. One project, 5 terraform_data resources ({} rounds, medians; pacing: default {DEFAULT_WRITES_PER_MINUTE}/min, 4 writes a round stay within the burst)",
            self.hand.len()
        );
        row("by hand: init + plan -out", init_plan);
        row("by hand: show -json (bosun runs it too)", show);
        row("bosun: webhook answered (202)", m(|s| Some(s.acked)));
        row("bosun: check run queued", m(|s| s.queued));
        row("bosun: check run in progress", m(|s| s.started));
        row("bosun: check run completed", m(|s| s.completed));
        row("bosun: webhook -> plan comment", comment);
        let (boxed, direct) = self.sandbox;
        row("sandbox start: `true` in bubblewrap", boxed);
        row("sandbox start: `true` directly", direct);
        crate::stages::print(&self.stages);
        row("(warm-up PR, not counted)", self.warmup.comment);
        let git = |f: fn(&GitTimes) -> Duration| median(self.git.iter().map(f));
        println!("   bosun's git steps, again by hand through bosun::workspace (same fake):");
        row("  git fetch into the mirror", git(|g| g.fetch));
        row("  config lookups, changed and .tf files", git(|g| g.select));
        row("  checkout of the project", git(|g| g.checkout));
        let completed = m(|s| s.completed);
        let over = ms(completed) - ms(init_plan);
        let share = over / ms(init_plan);
        let met = share <= TARGET_SHARE || over <= TARGET_MS;
        println!(
            "   webhook -> completed check against init + plan by hand: {:.2}x, {over:+.0} ms",
            ms(completed) / ms(init_plan),
        );
        println!(
            "   target (at most 1.15x or +{TARGET_MS:.0} ms): {} (1.15x alone: {}, +{TARGET_MS:.0} ms alone: {})",
            verdict(met),
            verdict(share <= TARGET_SHARE),
            verdict(over <= TARGET_MS)
        );
        let over_comment = ms(comment) - ms(init_plan);
        println!(
            "   webhook -> plan comment against init + plan by hand: {:.2}x, {over_comment:+.0} ms (with show -json by hand: {:.2}x)",
            ms(comment) / ms(init_plan),
            ms(comment) / (ms(init_plan) + ms(show)),
        );
    }
}
pub fn print_big(
    single: &[HandTimes],
    parallel: &[(usize, bool, Duration)],
    runs: &[ManyProjects],
) {
    let init_plan = median(single.iter().map(|h| h.init_plan));
    let with_show = median(single.iter().map(|h| h.init_plan + h.show));
    println!("\n2. {BIG} projects of 2 terraform_data resources in one pull request");
    let label = format!(
        "by hand, one project: init + plan ({} rounds)",
        single.len()
    );
    row(&label, init_plan);
    row("by hand, one project: init + plan + show -json", with_show);
    for (p, init_lock, wall) in parallel {
        let how = if *init_lock {
            ", inits one at a time"
        } else {
            ""
        };
        row(
            &format!("by hand, {BIG} projects {p} at a time{how}"),
            *wall,
        );
    }
    for run in runs {
        let p = run.parallelism as u32;
        let comment = median(run.runs.iter().map(|s| s.comment));
        let expected = init_plan * BIG as u32 / p;
        let expected_show = with_show * BIG as u32 / p;
        let pacing = if run.writes_per_minute == UNPACED {
            format!("pacing lifted ({UNPACED}/min)")
        } else {
            format!("default pacing ({}/min, burst 20)", run.writes_per_minute)
        };
        let first = |f: fn(&Seen) -> Duration| median(run.runs.iter().map(f));
        let busy = run
            .runs
            .iter()
            .map(|s| s.max_in_progress)
            .max()
            .unwrap_or(0);
        let writes = run.runs.iter().map(|s| s.writes).max().unwrap_or(0);
        println!(
            "   bosun, parallelism {p}, {pacing}, {} round(s), median:",
            run.runs.len()
        );
        row("  webhook -> plan comment", comment);
        row(
            "  webhook -> first check run queued",
            first(|s| s.queued.unwrap_or_default()),
        );
        row(
            "  webhook -> every check run completed",
            first(|s| s.completed.unwrap_or_default()),
        );
        row("  a project in progress (median)", first(|s| s.active));
        row(
            &format!("  sum of projects in progress / {p}"),
            first(|s| s.active_sum) / p,
        );
        println!(
            "     expected (one project by hand x {BIG} / {p}): {:.0} ms -> ratio {:.2}; with show -json: {:.0} ms -> ratio {:.2}",
            ms(expected),
            ms(comment) / ms(expected),
            ms(expected_show),
            ms(comment) / ms(expected_show),
        );
        if let Some((_, _, wall)) = parallel
            .iter()
            .find(|(q, l, _)| *q == run.parallelism && !l)
        {
            println!(
                "     against {BIG} projects by hand {p} at a time: ratio {:.2}; check runs in progress at once: at most {busy}; GitHub writes: {writes}",
                ms(comment) / ms(*wall),
            );
        }
    }
    let unpaced = runs
        .iter()
        .find(|r| r.parallelism == 2 && r.writes_per_minute == UNPACED);
    let paced = runs
        .iter()
        .find(|r| r.parallelism == 2 && r.writes_per_minute != UNPACED);
    if let (Some(u), Some(p)) = (unpaced, paced) {
        let (u, p) = (
            median(u.runs.iter().map(|s| s.comment)),
            median(p.runs.iter().map(|s| s.comment)),
        );
        println!(
            "   pacing at {DEFAULT_WRITES_PER_MINUTE}/min (burst 20) costs {:+.0} ms at parallelism 2 ({:.2}x)",
            ms(p) - ms(u),
            ms(p) / ms(u)
        );
    }
}

fn row(label: &str, d: Duration) {
    println!("   {label:<44} {:>8.0} ms", ms(d));
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}
