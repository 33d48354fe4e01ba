//! Check-run output for one project's plan: a title that says the counts, a summary with
//! Terraform's `Plan:` line and the destroys and replaces, and the plan itself as text.

use super::plan::error_headlines;
use super::split::{self, cap_line};
use super::{code_span, diff, escape, fence_for, len};
use crate::ids::PrNumber;
use crate::plan::{Outcome, ProjectPlan};

/// How much of [`super::CHECK_LIMIT`] bosun uses for the summary and for the text.
pub const CHECK_BUDGET: usize = 60_000;
/// The most destroys and replaces the summary lists; the rest are counted.
const MAX_LISTED: usize = 200;

/// What a check run shows (GitHub's `output` object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutput {
    pub title: String,
    pub summary: String,
    pub text: Option<String>,
}

/// The check-run output of one project's plan. The workflow sets the conclusion from the
/// outcome; this only says what happened.
pub fn plan_check(p: &ProjectPlan) -> CheckOutput {
    plan_check_with(p, CHECK_BUDGET)
}

/// [`plan_check`] with another budget for summary and text (tests use small ones).
pub(crate) fn plan_check_with(p: &ProjectPlan, budget: usize) -> CheckOutput {
    match &p.outcome {
        Outcome::Failed { step, output } => {
            let mut summary = format!("Planning failed at `{}`.", step.as_str());
            let errors = error_headlines(output);
            if !errors.is_empty() {
                summary.push_str("\n\n");
                summary.push_str(&errors.join("\n"));
            }
            let lines: Vec<String> = output.lines().map(str::to_owned).collect();
            CheckOutput {
                title: format!("Failed at {}", step.as_str()),
                summary: fit(summary, budget),
                text: (!lines.is_empty()).then(|| block("text", &lines, budget)),
            }
        }
        Outcome::Planned { summary: s, text } => {
            let title = if !s.has_changes() {
                "No changes".to_owned()
            } else if s.changes.is_empty() {
                "Changes to outputs only".to_owned()
            } else {
                let import = if s.import > 0 {
                    format!("{} to import, ", s.import)
                } else {
                    String::new()
                };
                format!(
                    "{import}{} to add, {} to change, {} to destroy",
                    s.add, s.change, s.destroy
                )
            };
            let line = if s.line.trim().is_empty() {
                title.clone()
            } else {
                s.line.trim().to_owned()
            };
            let mut summary = format!("**{}**", escape(&line));
            let found: Vec<String> = s
                .deletes()
                .map(|a| format!("- **Destroys** {}", code_span(a)))
                .chain(
                    s.replaces()
                        .map(|a| format!("- **Replaces** {}", code_span(a))),
                )
                .collect();
            if !found.is_empty() {
                summary
                    .push_str("\n\n> [!WARNING]\n> This plan destroys or replaces resources.\n\n");
                summary.push_str(&listed(&found).join("\n"));
            }
            let lines = diff::diff_lines(text);
            CheckOutput {
                title,
                summary: fit(summary, budget),
                text: (s.has_changes() && !lines.is_empty()).then(|| block("diff", &lines, budget)),
            }
        }
    }
}

fn listed(found: &[String]) -> Vec<String> {
    let mut out: Vec<String> = found.iter().take(MAX_LISTED).cloned().collect();
    if found.len() > MAX_LISTED {
        out.push(format!("- … and {} more", found.len() - MAX_LISTED));
    }
    out
}

fn notice(n: usize) -> String {
    let n = if n == usize::MAX {
        "999999999999".into()
    } else {
        n.to_string()
    };
    format!("… {n} more lines; see the PR comment")
}

/// The plan summary check (`bosun/plan`) of a plan waiting for locks `held` (each locked
/// project with the pull request holding it).
pub fn waiting_summary(held: &[(crate::plan::Target, PrNumber)]) -> CheckOutput {
    let mut holders: Vec<PrNumber> = held.iter().map(|(_, pr)| *pr).collect();
    holders.sort_unstable();
    holders.dedup();
    let by: Vec<String> = holders.iter().map(|pr| format!("#{pr}")).collect();
    let locked: Vec<String> = held
        .iter()
        .map(|(t, pr)| format!("- {}: #{pr}", code_span(&t.display_name())))
        .collect();
    let summary = format!(
        "Projects of this pull request are locked by other pull requests:\n\n{}\n\n\
         bosun plans this pull request by itself when the locks are released.",
        locked.join("\n")
    );
    CheckOutput {
        title: format!("Waiting for locks held by {}", by.join(", ")),
        summary: fit(summary, CHECK_BUDGET),
        text: None,
    }
}

/// A fenced block of `lines`, cut between lines to fit `budget`.
pub(crate) fn block(lang: &str, lines: &[String], budget: usize) -> String {
    let lines: Vec<String> = lines.iter().map(|l| cap_line(l)).collect();
    let fence = fence_for(&lines);
    // The notice line sits inside the block, indented like an unmarked diff line.
    let body = split::cut(
        &lines,
        budget.saturating_sub(2 * len(&fence) + len(lang) + 2),
        &|n| format!(" {}", notice(n)),
    );
    format!("{fence}{lang}\n{body}\n{fence}")
}

/// Markdown text cut between lines to fit `budget`.
pub(crate) fn fit(text: String, budget: usize) -> String {
    if len(&text) <= budget {
        return text;
    }
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    split::cut(&lines, budget, &|n| format!("\n_{}_", notice(n)))
}
