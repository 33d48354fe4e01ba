//! The printed report: medians, ratios and targets.

use std::time::Duration;

use crate::by_hand::GitTimes;
use crate::common::{median, ms};
use crate::{DEFAULT_WRITES_PER_MINUTE, OneProject, Seen, TARGET_MS, TARGET_SHARE};

impl OneProject {
    pub fn print(&self) {
        let init_plan = median(self.hand.iter().map(|h| h.init_plan));
        let show = median(self.hand.iter().map(|h| h.show));
        let m = |f: fn(&Seen) -> Option<Duration>| median(self.bosun.iter().filter_map(f));
        let comment = m(|s| Some(s.comment));
        println!(
            "\n1. One project, 5 terraform_data resources ({} rounds, medians; pacing: default {DEFAULT_WRITES_PER_MINUTE}/min, at most {DEFAULT_WRITES_PER_MINUTE} writes in any minute, and room for a round's 4 at its start)",
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
pub fn row(label: &str, d: Duration) {
    println!("   {label:<44} {:>8.0} ms", ms(d));
}

pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}
