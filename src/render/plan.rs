//! The plan comment on a pull request: one summary of every project's plan, split across
//! several comments when GitHub's size limit demands it.
//!
//! Layout, top to bottom: a heading with the short sha and the note; a table of projects
//! (when more than one); destroys and replaces in a `> [!WARNING]` call-out, above any fold;
//! then one section per project with Terraform's `Plan:` line visible, the plan as a diff
//! (folded in `<details>` when longer than [`FOLD_LINES`] lines or [`FOLD_CHARS`]
//! characters) and the comment that applies it; at the end the comment that applies all.

use super::split::{self, Block, Limits, Lines};
use super::{cell, code_span, diff, escape, fenced, len, one_line};
use crate::ids::{PrNumber, Sha};
use crate::plan::{Outcome, PlanSummary, ProjectPlan, Target};

/// A plan or output longer than this many lines is folded.
pub const FOLD_LINES: usize = 20;
/// A plan or output longer than this many characters is folded.
pub const FOLD_CHARS: usize = 2_000;
/// The most a comment body holds: [`super::COMMENT_LIMIT`] less a margin.
pub const PART_LIMIT: usize = 60_000;
/// The most comments one plan is spread over; beyond, the plan is cut with a notice.
pub const MAX_PARTS: usize = 10;
/// The most destroys and replaces listed in the call-out; the rest are counted.
const MAX_CALLOUTS: usize = 50;
/// What the marker and the "continued" lines may add to a part.
const WRAP_RESERVE: usize = 300;

/// What the plan comment shows.
#[derive(Debug, Clone, Copy)]
pub struct PlanComment<'a> {
    /// The name users type to call bosun, e.g. `bosun`.
    pub command_name: &'a str,
    pub pr: PrNumber,
    pub head_sha: &'a Sha,
    pub projects: &'a [ProjectPlan],
    /// A line under the heading, e.g. "Planned by `bosun plan -d x` from @alice".
    pub note: Option<&'a str>,
    /// Links to projects' runs (their logs), when `BOSUN_PUBLIC_URL` is set.
    pub logs: &'a [(Target, String)],
    /// The workflow hooks that ran, their output folded under the heading.
    pub hooks: &'a [super::hooks::HookShown<'a>],
    /// Projects' policy check sections (see [`super::policy::section`]), shown after their
    /// plans.
    pub policies: &'a [(Target, String)],
}

/// The bodies of the plan comment, in order: one, or several when one would pass GitHub's
/// limit. Each starts with [`super::plan_marker`]; each is under [`PART_LIMIT`] characters.
pub fn plan_comment(c: &PlanComment) -> Vec<String> {
    plan_comment_with(
        c,
        Limits {
            budget: PART_LIMIT - WRAP_RESERVE,
            max_parts: MAX_PARTS,
        },
    )
}

/// [`plan_comment`] with other limits (tests use small ones).
pub(crate) fn plan_comment_with(c: &PlanComment, limits: Limits) -> Vec<String> {
    let blocks = blocks(c);
    let apply_all = apply_all(c);
    let notice = |n: usize| {
        let n = if n == usize::MAX {
            "999999999999".into()
        } else {
            n.to_string()
        };
        let mut notice = format!(
            "> [!NOTE]\n> **{n} more lines were cut** to keep this plan within {} comments. \
             Each project's check run shows its plan (up to GitHub's size limit), and \
             bosun's job log holds all of it.",
            limits.max_parts
        );
        // Whatever was cut, the way to apply stays.
        if let Some(all) = &apply_all {
            notice.push_str("\n\n");
            notice.push_str(all);
        }
        notice
    };
    let pieces = split::pack(&blocks, limits, &notice);
    let total = u32::try_from(pieces.len()).unwrap_or(u32::MAX);
    pieces
        .iter()
        .zip(1u32..)
        .map(|(piece, k)| {
            let mut body = super::plan_marker(c.pr, k, total);
            body.push('\n');
            if k > 1 {
                body.push_str("_Continued from the previous comment._\n\n");
            }
            body.push_str(piece);
            if k < total {
                body.push_str("\n\n_Continued in the next comment._");
            }
            body.push('\n');
            body
        })
        .collect()
}

fn short_sha(sha: &str) -> String {
    one_line(sha).chars().take(7).collect()
}

fn blocks(c: &PlanComment) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut head = format!(
        "### Terraform plan for {}",
        code_span(&short_sha(c.head_sha.as_str()))
    );
    if let Some(note) = c.note {
        head.push_str("\n\n");
        head.push_str(&one_line(note));
    }
    if c.projects.is_empty() {
        head.push_str("\n\nNo projects to plan.");
    }
    blocks.push(Block::Text(head));
    blocks.extend(super::hooks::blocks(c.hooks));
    if c.projects.len() > 1 {
        blocks.push(Block::Lines(table(c.projects)));
    }
    if let Some(callout) = callout(c.projects) {
        blocks.push(Block::Lines(callout));
    }
    for p in c.projects {
        section(
            c.command_name,
            p,
            &super::log_link(c.logs, &p.target),
            &mut blocks,
        );
        for (_, text) in c.policies.iter().filter(|(t, _)| *t == p.target) {
            blocks.push(Block::Text(text.clone()));
        }
    }
    blocks.extend(apply_all(c).map(Block::Text));
    blocks
}

/// The closing "apply every plan" paragraph, when some project has changes.
fn apply_all(c: &PlanComment) -> Option<String> {
    let changes = c
        .projects
        .iter()
        .any(|p| matches!(&p.outcome, Outcome::Planned { summary, .. } if summary.has_changes()));
    changes.then(|| {
        let all = format!("{} apply", one_line(c.command_name));
        format!(
            "---\n\nTo apply every plan of this pull request, comment:\n\n{}",
            fenced("", &all)
        )
    })
}

/// `+2 ~1 -0`, "no changes", "outputs only", "failed at init".
fn result(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Failed { step, .. } => format!("**failed at {}**", step.as_str()),
        Outcome::Planned { summary, .. } if !summary.has_changes() => "no changes".into(),
        Outcome::Planned { summary, .. } if summary.changes.is_empty() => "outputs only".into(),
        Outcome::Planned { summary, .. } => {
            let mut s = format!(
                "`+{} ~{} -{}`",
                summary.add, summary.change, summary.destroy
            );
            if summary.import > 0 {
                s.push_str(&format!(" ({} to import)", summary.import));
            }
            s
        }
    }
}

fn table(projects: &[ProjectPlan]) -> Lines {
    let header = "| Project | Dir | Workspace | Result |\n|---|---|---|---|";
    Lines {
        open: format!("{} projects:\n\n{header}", projects.len()),
        reopen: format!("Projects (continued):\n\n{header}"),
        lines: projects
            .iter()
            .map(|p| {
                let t = &p.target;
                format!(
                    "| {} | {} | {} | {} |",
                    t.name.as_deref().map_or("—".into(), cell),
                    cell(t.dir.as_str()),
                    cell(t.workspace.as_str()),
                    result(&p.outcome)
                )
            })
            .collect(),
        close: String::new(),
    }
}

/// Destroys and replaces across projects, as a `> [!WARNING]` call-out.
fn callout(projects: &[ProjectPlan]) -> Option<Lines> {
    let mut lines = Vec::new();
    let mut total = 0;
    for p in projects {
        let Outcome::Planned { summary, .. } = &p.outcome else {
            continue;
        };
        let in_project = if projects.len() > 1 {
            format!(" in {}", code_span(&p.target.display_name()))
        } else {
            String::new()
        };
        let found = summary
            .deletes()
            .map(|a| ("Destroys", a))
            .chain(summary.replaces().map(|a| ("Replaces", a)));
        for (verb, address) in found {
            total += 1;
            if lines.len() < MAX_CALLOUTS {
                lines.push(format!("> - **{verb}** {}{in_project}", code_span(address)));
            }
        }
    }
    if total == 0 {
        return None;
    }
    if total > lines.len() {
        lines.push(format!(
            "> - … and {} more (see the plans below)",
            total - lines.len()
        ));
    }
    Some(Lines {
        open: "> [!WARNING]\n> This plan destroys or replaces resources:".into(),
        reopen: "> [!WARNING]\n> Destroys and replaces (continued):".into(),
        lines,
        close: String::new(),
    })
}

fn long(lines: &[String]) -> bool {
    lines.len() > FOLD_LINES || lines.iter().map(|l| len(l) + 1).sum::<usize>() > FOLD_CHARS
}

fn plan_line(summary: &PlanSummary) -> String {
    let line = summary.line.trim();
    if line.is_empty() {
        format!(
            "Plan: {} to add, {} to change, {} to destroy.",
            summary.add, summary.change, summary.destroy
        )
    } else {
        line.to_owned()
    }
}

fn section(command_name: &str, p: &ProjectPlan, log: &str, blocks: &mut Vec<Block>) {
    let name = code_span(&p.target.display_name());
    let continued = format!("**{name}** (continued)\n\n");
    match &p.outcome {
        Outcome::Planned { summary, text } => {
            blocks.push(Block::Text(format!(
                "#### {name}{log}\n\n**{}**",
                escape(&plan_line(summary))
            )));
            if !summary.has_changes() {
                return;
            }
            let lines = diff::diff_lines(text);
            let fold = long(&lines).then_some("Show plan");
            blocks.push(Block::Lines(Lines::code("diff", lines, fold, &continued)));
            blocks.push(Block::Text(format!(
                "To apply this project, comment {}",
                command(&p.target, command_name, "apply")
            )));
        }
        Outcome::Failed { step, output } => {
            let lines: Vec<String> = output.lines().map(str::to_owned).collect();
            let folded = long(&lines);
            let mut head = format!("#### {name}{log}\n\n**Failed at `{}`.**", step.as_str());
            let errors = error_headlines(output);
            if folded && !errors.is_empty() {
                head.push_str("\n\n");
                head.push_str(&errors.join("\n"));
            }
            blocks.push(Block::Text(head));
            if !lines.is_empty() {
                let fold = folded.then_some("Show output");
                blocks.push(Block::Lines(Lines::code("text", lines, fold, &continued)));
            }
            blocks.push(Block::Text(format!(
                "Fix it and push, or comment {} to plan again.",
                command(&p.target, command_name, "plan")
            )));
        }
    }
}

fn command(target: &Target, command_name: &str, verb: &str) -> String {
    code_span(&target.command(&one_line(command_name), verb))
}

/// Terraform's `Error: …` lines with the `on file line N` that follows each, as a list.
pub(crate) fn error_headlines(output: &str) -> Vec<String> {
    let lines: Vec<&str> = output
        .lines()
        .map(|l| l.trim_start_matches(['│', '╷', '╵', ' ']).trim_end())
        .collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(what) = line.strip_prefix("Error: ") else {
            continue;
        };
        let mut item = format!("- Error: {}", escape(what));
        let place = lines
            .iter()
            .skip(i + 1)
            .take(3)
            .find_map(|l| l.strip_prefix("on "))
            .map(|l| l.split([',', ':']).next().unwrap_or(l));
        if let Some(place) = place {
            item.push_str(&format!(" ({})", code_span(place)));
        }
        found.push(item);
        if found.len() == 5 {
            break;
        }
    }
    found
}
