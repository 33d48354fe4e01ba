//! What `import`, `state rm` and `approve_policies` show: one comment per command, with every
//! project's result and Terraform's output, or why nothing ran.

use super::access::{access_name, levels_from};
use super::apply::{tail_block, unmet_reasons};
use super::reply::capitalised;
use super::{cell, code_span, escape, marker, one_line};
use crate::apply::Unmet;
use crate::github::Permission;
use crate::ids::{PrNumber, Sha};
use crate::plan::Target;
use crate::terraform::{StateOp, StateRun};

/// How much of a comment the projects' outputs share.
const OUTPUT_BUDGET: usize = 56_000;
/// The most reasons a refusal lists.
const MAX_REFUSALS: usize = 50;

/// The marker of an `import` or `state rm` comment.
fn kind(op: StateOp) -> &'static str {
    match op {
        StateOp::Import => "import",
        StateOp::Rm => "state-rm",
    }
}

/// Why an `import` or `state rm` ran nowhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The commenter's permission is below the command permission.
    Permission {
        user: String,
        has: Permission,
        needs: Permission,
    },
    /// Applies (and so state changes) are limited to listed users and teams.
    NotListed { user: String },
    /// The pull request is closed or merged.
    NotOpen,
    /// Another pull request holds the project's lock.
    Locked { target: Target, by: PrNumber },
    /// The project's `import_requirements` are not met.
    Requirements { target: Target, unmet: Vec<Unmet> },
}

/// One project's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectState {
    pub target: Target,
    pub run: StateRun,
}

/// The reply to an `import` or `state rm` bosun refused: every reason, each with what to do.
pub fn refused(command_name: &str, op: StateOp, refusals: &[Refusal]) -> String {
    let name = one_line(command_name);
    let verb = code_span(op.as_str());
    let mut out = format!(
        "{}\n**bosun did not run {verb} anywhere.** ",
        marker(&format!("{}-refused", kind(op)))
    );
    out.push_str(if refusals.len() == 1 {
        "Here is why, and what to do:\n"
    } else {
        "It runs only when every project can; here is what stops it:\n"
    });
    for r in refusals.iter().take(MAX_REFUSALS) {
        out.push_str("\n- ");
        out.push_str(&refusal(&name, op, r));
    }
    if refusals.len() > MAX_REFUSALS {
        out.push_str(&format!("\n- … and {} more", refusals.len() - MAX_REFUSALS));
    }
    out.push('\n');
    out
}

fn refusal(name: &str, op: StateOp, r: &Refusal) -> String {
    let verb = code_span(op.as_str());
    match r {
        Refusal::Permission { user, has, needs } => format!(
            "**@{} has {}**; {verb} changes Terraform's state, which takes {} or more ({}) to \
             this repository, as applying does.",
            one_line(user).replace('@', ""),
            access_name(*has),
            access_name(*needs),
            levels_from(*needs),
        ),
        Refusal::NotListed { user } => format!(
            "**@{} may not change state here:** {verb}, like applying, is limited to the users \
             and teams the operator listed (BOSUN_APPLY_USERS, BOSUN_APPLY_TEAMS).",
            one_line(user).replace('@', "")
        ),
        Refusal::NotOpen => format!(
            "**This pull request is not open.** {verb} runs on an open pull request's head; \
             open a new one and comment {} there.",
            code_span(&format!("{name} {}", op.as_str()))
        ),
        Refusal::Locked { target, by } => format!(
            "{}: **`locked` by #{by}**, which planned it first. Wait until #{by} is merged or \
             closed, or ask its author to comment {} there.",
            code_span(&target.display_name()),
            code_span(&format!("{name} unlock"))
        ),
        Refusal::Requirements { target, unmet } => {
            format!(
                "{}: **requirements not met** (its `import_requirements` and, since this \
                 writes state as an apply does, its `apply_requirements`): {}.",
                code_span(&target.display_name()),
                unmet_reasons(unmet)
            )
        }
    }
}

/// The reply when an `import` or `state rm` without flags finds no project the pull request
/// changes.
pub fn no_project(command_name: &str, op: StateOp) -> String {
    format!(
        "{}\n**No project to run {} in:** this pull request changes no project. Name one \
         with `-d DIR` (and `-w WORKSPACE`) or `-p PROJECT`, like {}.\n",
        marker(&format!("{}-refused", kind(op))),
        code_span(op.as_str()),
        code_span(&format!(
            "{} {} -d DIR ADDRESS{}",
            one_line(command_name),
            op.as_str(),
            if op == StateOp::Import { " ID" } else { "" }
        ))
    )
}

/// The comment after an `import` or `state rm` ran at `sha`: each project's result and
/// output; the projects it succeeded in had their plans discarded and are planned again.
pub fn result_comment(
    command_name: &str,
    op: StateOp,
    sha: &Sha,
    results: &[ProjectState],
    note: &str,
) -> String {
    let name = one_line(command_name);
    let short = sha.short();
    let ok = results.iter().filter(|r| r.run.succeeded).count();
    let failed = results.len() - ok;
    let mut out = format!(
        "{}\n### {} at {}: {ok} succeeded",
        marker(kind(op)),
        code_span(op.as_str()),
        code_span(short)
    );
    if failed > 0 {
        out.push_str(&format!(", {failed} failed"));
    }
    out.push_str(&format!("\n\n{}\n", one_line(note)));
    let headline = |r: &ProjectState| {
        if r.run.succeeded {
            ("✅", format!("{} succeeded.", capitalised(op.as_str())))
        } else {
            ("❌", format!("{} failed.", capitalised(op.as_str())))
        }
    };
    if results.len() > 1 {
        out.push_str("\n| Project | Result |\n|---|---|\n");
        for r in results {
            let (icon, line) = headline(r);
            out.push_str(&format!(
                "| {} | {icon} {} |\n",
                cell(&r.target.display_name()),
                escape(&line)
            ));
        }
    }
    let budget = OUTPUT_BUDGET / results.len().max(1);
    for r in results {
        let (icon, line) = headline(r);
        out.push_str(&format!(
            "\n#### {icon} {} {}\n\n",
            code_span(&r.target.display_name()),
            escape(&line)
        ));
        let lines: Vec<String> = r.run.output.lines().map(str::to_owned).collect();
        if r.run.succeeded {
            out.push_str(&format!(
                "<details><summary>Output</summary>\n\n{}\n\n</details>\n",
                tail_block(&lines, budget)
            ));
        } else {
            out.push_str(&tail_block(&lines, budget));
            out.push('\n');
        }
    }
    let changed: Vec<String> = results
        .iter()
        .filter(|r| r.run.succeeded)
        .map(|r| code_span(&r.target.display_name()))
        .collect();
    if !changed.is_empty() {
        out.push_str(&format!(
            "\nThe state of {} changed, so {} plan was discarded; bosun plans {} again now. \
             Review the new plan, then {}.\n",
            changed.join(", "),
            if changed.len() == 1 { "its" } else { "their" },
            if changed.len() == 1 { "it" } else { "them" },
            code_span(&format!("{name} apply"))
        ));
    }
    out
}

/// The note of the re-plan that follows a successful `import` or `state rm`.
pub fn replan_note(op: StateOp, user: &str) -> String {
    format!(
        "Planned by bosun: `{}` by @{} changed the state.",
        op.as_str(),
        one_line(user).replace('@', "")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(dir: &str) -> Target {
        Target {
            dir: dir.into(),
            workspace: "default".into(),
            name: None,
        }
    }

    #[test]
    fn a_result_comment_says_which_projects_are_planned_again() {
        let results = [
            ProjectState {
                target: target("a"),
                run: StateRun {
                    succeeded: true,
                    output: "Removed terraform_data.x\n".into(),
                },
            },
            ProjectState {
                target: target("b"),
                run: StateRun {
                    succeeded: false,
                    output: "Error: Invalid target address\n".into(),
                },
            },
        ];
        let body = result_comment(
            "bosun",
            StateOp::Rm,
            &Sha::new("abcdef123"),
            &results,
            "By @ann.",
        );
        assert!(body.starts_with("<!-- bosun:state-rm -->"), "{body}");
        assert!(body.contains("1 succeeded, 1 failed"), "{body}");
        assert!(body.contains("| `b` | ❌ State rm failed. |"), "{body}");
        assert!(body.contains("Error: Invalid target address"), "{body}");
        assert!(body.contains("The state of `a` changed"), "{body}");
        assert!(!body.contains("`b` changed"), "{body}");
    }

    #[test]
    fn a_refusal_names_the_pull_request_holding_the_lock() {
        let body = refused(
            "bosun",
            StateOp::Import,
            &[Refusal::Locked {
                target: target("a"),
                by: PrNumber(7),
            }],
        );
        assert!(body.contains("`a`: **`locked` by #7**"), "{body}");
        assert!(body.contains("did not run `import` anywhere"), "{body}");
    }
}
