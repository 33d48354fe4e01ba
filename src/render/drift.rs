//! What a drift run says on GitHub: the body of the repo's drift issue (every drifted project
//! grouped by environment, its plan as a diff and the way to reconcile it), the comment that
//! closes it, each project's `bosun/drift` check run, and the notification of status changes.

use super::check::CheckOutput;
use super::split::{self, cap_line};
use super::{COMMENT_LIMIT, code_span, diff, escape, fence_for, len};
use crate::drift::{Change, DriftStatus, ProjectDrift};
use crate::ids::Sha;
use crate::plan::Target;

/// The drift issue's title: the one bosun looks for, so it is never duplicated.
pub const ISSUE_TITLE: &str = "bosun: drift detected";
/// The drift issue's label.
pub const ISSUE_LABEL: &str = "drift";
/// The drift check run's name prefix.
pub const CHECK_PREFIX: &str = "bosun/drift: ";

/// What every drift message needs to know about its run.
#[derive(Debug, Clone)]
pub struct RunInfo<'a> {
    pub repo: &'a str,
    pub branch: &'a str,
    pub sha: &'a Sha,
    /// When it ran, as text (UTC).
    pub at: &'a str,
    /// The run's id in the store (and in `GET /api/drift/…`): each run's body differs.
    pub run_id: i64,
    pub command_name: &'a str,
    pub results: &'a [ProjectDrift],
}

/// A project's environment: its workspace when it has one, else its directory.
pub fn environment(t: &Target) -> String {
    if t.workspace.is_default() {
        t.dir.to_string()
    } else {
        t.workspace.to_string()
    }
}

/// The body of the drift issue: drifted projects grouped by environment, each with its plan as
/// a diff, Terraform's `Plan:` line and what reconciles it; then what could not be checked.
/// Fits in one issue body (long plans are cut, keeping their start).
pub fn issue_body(run: &RunInfo) -> String {
    let drifted: Vec<&ProjectDrift> = run
        .results
        .iter()
        .filter(|p| p.status == DriftStatus::Drifted)
        .collect();
    let unchecked: Vec<&ProjectDrift> = run
        .results
        .iter()
        .filter(|p| matches!(p.status, DriftStatus::Error | DriftStatus::Skipped))
        .collect();
    let mut out = format!("{}\n", super::marker("drift"));
    let what = match drifted.len() {
        0 => "no project differs from what Git declares".to_owned(),
        1 => "**1 project** differs from what Git declares".to_owned(),
        n => format!("**{n} projects** differ from what Git declares"),
    };
    out.push_str(&format!(
        "bosun planned every project of {} at {} on {} (drift run {}): {what}.\n",
        code_span(run.branch),
        code_span(run.sha.short()),
        run.at,
        run.run_id,
    ));
    if !unchecked.is_empty() && drifted.is_empty() {
        out.push_str(
            "\nThis issue stays open until every project has been checked and is in sync.\n",
        );
    }
    // Room for each plan: the issue's limit shared between the drifted projects.
    let fixed = 4_000 + 400 * run.results.len();
    let room = COMMENT_LIMIT.saturating_sub(fixed) / drifted.len().max(1);
    let mut groups: Vec<(String, Vec<&ProjectDrift>)> = Vec::new();
    for p in &drifted {
        let env = environment(&p.target);
        match groups.iter_mut().find(|(e, _)| *e == env) {
            Some((_, list)) => list.push(p),
            None => groups.push((env, vec![p])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    for (env, projects) in &groups {
        out.push_str(&format!("\n## Environment {}\n", code_span(env)));
        for p in projects {
            out.push_str(&drifted_project(run.command_name, p, room));
        }
    }
    if !unchecked.is_empty() {
        out.push_str(
            "\n## Not checked\n\n| Project | Dir | Workspace | Why |\n|---|---|---|---|\n",
        );
        for p in &unchecked {
            // `#N` stays a link to the pull request holding the lock.
            let why = match p.locked_by {
                Some(pr) => format!("skipped: locked by #{pr}"),
                None => escape(&p.summary),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {why} |\n",
                super::cell(&p.target.display_name()),
                super::cell(p.target.dir.as_str()),
                super::cell(p.target.workspace.as_str()),
            ));
        }
    }
    let in_sync = run
        .results
        .iter()
        .filter(|p| p.status == DriftStatus::InSync)
        .count();
    out.push_str(&format!(
        "\n{in_sync} of {} project(s) in sync. bosun updates this issue on every drift run and \
         closes it when every project is back in sync.\n",
        run.results.len()
    ));
    super::check::fit(out, COMMENT_LIMIT - 100)
}

/// One drifted project: name, dir, workspace, the plan as a diff cut to `room`, the `Plan:`
/// line and how to reconcile it.
fn drifted_project(command_name: &str, p: &ProjectDrift, room: usize) -> String {
    let t = &p.target;
    let mut out = format!(
        "\n### {}\n\nDir {}, workspace {}: {}\n\n",
        code_span(&t.display_name()),
        code_span(t.dir.as_str()),
        code_span(t.workspace.as_str()),
        escape(&p.summary),
    );
    let lines: Vec<String> = diff::diff_lines(&p.detail)
        .iter()
        .map(|l| cap_line(l))
        .collect();
    let fence = fence_for(&lines);
    let body = split::cut(&lines, room.saturating_sub(2 * len(&fence) + 8), &|n| {
        format!(" … {n} more lines; run the plan to see all of it")
    });
    out.push_str(&format!("{fence}diff\n{body}\n{fence}\n\n"));
    out.push_str(&format!(
        "**To reconcile:** the world changed and Git did not, so either apply what Git \
         declares, with {} then {} on a pull request, or change the code to match the world in \
         a pull request that touches {}.\n",
        code_span(&t.command(command_name, "plan")),
        code_span(&t.command(command_name, "apply")),
        code_span(t.dir.as_str()),
    ));
    out
}

/// The comment that closes the drift issue.
pub fn closing_comment(run: &RunInfo) -> String {
    format!(
        "Every project of {} is back in sync at {} ({}): closing.",
        code_span(run.branch),
        code_span(run.sha.short()),
        run.at
    )
}

/// The check run of one project's drift: title, summary and the plan or error as text.
pub fn check(p: &ProjectDrift) -> CheckOutput {
    let title = match p.status {
        DriftStatus::InSync => "In sync".to_owned(),
        DriftStatus::Drifted => format!("Drifted: {}", p.summary),
        DriftStatus::Error => "Drift check failed".to_owned(),
        DriftStatus::Skipped => p.summary.clone(),
    };
    let summary = match p.status {
        DriftStatus::InSync => format!(
            "The world matches what this commit declares for {}.\n\n{}",
            code_span(&p.target.display_name()),
            escape(&p.summary)
        ),
        DriftStatus::Drifted => format!(
            "The world differs from what this commit declares for {}.\n\n{}",
            code_span(&p.target.display_name()),
            escape(&p.summary)
        ),
        DriftStatus::Error => format!("Planning failed: {}", escape(&p.summary)),
        DriftStatus::Skipped => format!(
            "Not planned: {}. Its plan and state belong to that pull request until it is \
             merged or closed.",
            escape(&p.summary)
        ),
    };
    let text = match p.status {
        DriftStatus::Drifted => Some(diff::diff_lines(&p.detail)),
        DriftStatus::Error => Some(p.detail.lines().map(str::to_owned).collect()),
        _ => None,
    }
    .map(|lines: Vec<String>| {
        let lang = if p.status == DriftStatus::Drifted {
            "diff"
        } else {
            "text"
        };
        super::check::block(lang, &lines, super::check::CHECK_BUDGET)
    });
    CheckOutput {
        title: super::one_line(&title).chars().take(200).collect(),
        summary,
        text,
    }
}

/// The check run of a drift run that could check no project (`why`: the repo config's error,
/// naming its file, line and key).
pub fn not_checked(why: &str) -> CheckOutput {
    CheckOutput {
        title: "Drift not checked".into(),
        summary: format!(
            "bosun could not read which projects to check, so none was planned:\n\n{}",
            super::fenced("text", why)
        ),
        text: None,
    }
}

/// The notification of status changes (Slack-compatible `text`): one line per project.
pub fn notification(repo: &str, branch: &str, sha: &Sha, changes: &[Change]) -> String {
    let mut out = format!("bosun drift: {repo} ({branch} at {})", sha.short());
    for c in changes {
        let before = c.before.map_or("unchecked", |s| word(s));
        out.push_str(&format!(
            "\n• {} ({}, workspace {}): {before} → {}",
            c.target.display_name(),
            c.target.dir,
            c.target.workspace,
            word(c.after)
        ));
    }
    out
}

fn word(s: DriftStatus) -> &'static str {
    match s {
        DriftStatus::InSync => "in sync",
        DriftStatus::Drifted => "drifted",
        DriftStatus::Error => "error",
        DriftStatus::Skipped => "skipped",
    }
}

#[cfg(test)]
mod tests;
