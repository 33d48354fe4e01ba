//! What an apply shows: one comment per apply command (every project's result, with
//! Terraform's output and its `Apply complete!` line) and a check run per project.

use super::access::{access_name, levels_from};
use super::check::{CHECK_BUDGET, CheckOutput, block, fit};
use super::split::cap_line;
use super::{cell, code_span, escape, marker, one_line};
use super::{fence_for, len};
use crate::apply::{ApplyOutcome, ProjectApply, Refusal, Unmet, apply_line};
use crate::ids::Sha;
use crate::plan::Target;

/// How much of a comment the projects' outputs share.
const OUTPUT_BUDGET: usize = 56_000;

/// The comment of one apply run.
#[derive(Debug, Clone)]
pub struct ApplyComment<'a> {
    pub command_name: &'a str,
    /// The commit whose plans were applied (the head, or the merge commit).
    pub sha: &'a Sha,
    pub results: &'a [ProjectApply],
    /// Who asked, and how (or that the merge did).
    pub note: Option<&'a str>,
    /// Links to projects' runs (their logs), when `BOSUN_PUBLIC_URL` is set.
    pub logs: &'a [(crate::plan::Target, String)],
}

fn icon(o: &ApplyOutcome) -> &'static str {
    match o {
        ApplyOutcome::Applied { .. } => "✅",
        ApplyOutcome::Failed { .. } => "❌",
        ApplyOutcome::Skipped { .. } => "⏭️",
    }
}

/// One line saying how a project's apply ended.
fn headline(o: &ApplyOutcome) -> String {
    match o {
        ApplyOutcome::Applied { output } => apply_line(output)
            .map(one_line)
            .unwrap_or_else(|| "Applied.".into()),
        ApplyOutcome::Failed { stale: true, .. } => {
            "Terraform refused the saved plan: it is stale (the state changed since it was planned)."
                .into()
        }
        ApplyOutcome::Failed { .. } => "Apply failed.".into(),
        ApplyOutcome::Skipped { why } => format!("Not applied: {}", one_line(why)),
    }
}

/// The comment after an apply run.
pub fn apply_comment(c: &ApplyComment) -> String {
    let name = one_line(c.command_name);
    let short = c.sha.short();
    let applied = c.results.iter().filter(|r| r.outcome.succeeded()).count();
    let failed = c
        .results
        .iter()
        .filter(|r| matches!(r.outcome, ApplyOutcome::Failed { .. }))
        .count();
    let mut out = format!(
        "{}\n### Apply of {}: {applied} applied",
        marker("apply"),
        code_span(short)
    );
    if failed > 0 {
        out.push_str(&format!(", {failed} failed"));
    }
    let skipped = c.results.len() - applied - failed;
    if skipped > 0 {
        out.push_str(&format!(", {skipped} not applied"));
    }
    out.push('\n');
    if let Some(note) = c.note {
        out.push_str(&format!("\n{}\n", one_line(note)));
    }
    if c.results.len() > 1 {
        out.push_str("\n| Project | Result |\n|---|---|\n");
        for r in c.results {
            out.push_str(&format!(
                "| {} | {} {} |\n",
                cell(&r.target.display_name()),
                icon(&r.outcome),
                escape(&headline(&r.outcome))
            ));
        }
    }
    let budget = OUTPUT_BUDGET / c.results.len().max(1);
    for r in c.results {
        out.push_str(&format!(
            "\n#### {} {} {}{}\n\n",
            icon(&r.outcome),
            code_span(&r.target.display_name()),
            escape(&headline(&r.outcome)),
            super::log_link(c.logs, &r.target)
        ));
        match &r.outcome {
            ApplyOutcome::Applied { output } => {
                let lines: Vec<String> = output.lines().map(str::to_owned).collect();
                out.push_str(&format!(
                    "<details><summary>Output</summary>\n\n{}\n\n</details>\n",
                    tail_block(&lines, budget)
                ));
            }
            ApplyOutcome::Failed { output, stale } => {
                let lines: Vec<String> = output.lines().map(str::to_owned).collect();
                out.push_str(&tail_block(&lines, budget));
                out.push('\n');
                let again = r.target.command(&name, "plan");
                if *stale {
                    out.push_str(&format!(
                        "\nSomething changed the state after this plan was made. Plan again \
                         with {} and review the new plan before applying it.\n",
                        code_span(&again)
                    ));
                } else {
                    out.push_str(&format!(
                        "\nThe state may be partly changed: look at it, fix the cause, then \
                         plan again with {} before applying.\n",
                        code_span(&again)
                    ));
                }
            }
            ApplyOutcome::Skipped { .. } => {}
        }
    }
    out
}

/// A `text` block of the last `lines` that fit `budget`: Terraform ends with what matters
/// (the errors, the `Apply complete!` line), so a long output loses its beginning.
pub(super) fn tail_block(lines: &[String], budget: usize) -> String {
    let lines: Vec<String> = lines.iter().map(|l| cap_line(l)).collect();
    let fence = fence_for(&lines);
    let mut used = 2 * len(&fence) + 8;
    let mut kept = 0;
    for line in lines.iter().rev() {
        let cost = len(line) + 1;
        if used + cost > budget.saturating_sub(80) {
            break;
        }
        used += cost;
        kept += 1;
    }
    let skipped = lines.len() - kept;
    let mut body = Vec::with_capacity(kept + 1);
    if skipped > 0 {
        body.push(format!("… {skipped} earlier lines not shown"));
    }
    body.extend(lines.iter().skip(skipped).cloned());
    format!("{fence}text\n{}\n{fence}", body.join("\n"))
}

/// The check-run output of one project's apply.
pub fn apply_check(r: &ProjectApply) -> CheckOutput {
    let title = match &r.outcome {
        ApplyOutcome::Applied { .. } => "Applied".to_owned(),
        ApplyOutcome::Failed { stale: true, .. } => "Stale plan refused".to_owned(),
        ApplyOutcome::Failed { .. } => "Apply failed".to_owned(),
        ApplyOutcome::Skipped { .. } => "Not applied".to_owned(),
    };
    let text = match &r.outcome {
        ApplyOutcome::Applied { output } | ApplyOutcome::Failed { output, .. } => {
            let lines: Vec<String> = output.lines().map(str::to_owned).collect();
            (!lines.is_empty()).then(|| block("text", &lines, CHECK_BUDGET))
        }
        ApplyOutcome::Skipped { .. } => None,
    };
    CheckOutput {
        title,
        summary: fit(
            format!("**{}**", escape(&headline(&r.outcome))),
            CHECK_BUDGET,
        ),
        text,
    }
}

/// The reply to an apply command bosun refused: every reason, each with what to do.
pub fn refused(command_name: &str, refusals: &[Refusal]) -> String {
    let name = one_line(command_name);
    let mut out = format!(
        "{}\n**bosun did not apply anything.** ",
        marker("apply-refused")
    );
    out.push_str(if refusals.len() == 1 {
        "Here is why, and what to do:\n"
    } else {
        "An apply goes ahead only when every project can; here is what stops it:\n"
    });
    for r in refusals.iter().take(MAX_REFUSALS) {
        out.push_str("\n- ");
        out.push_str(&refusal(&name, r));
    }
    if refusals.len() > MAX_REFUSALS {
        out.push_str(&format!("\n- … and {} more", refusals.len() - MAX_REFUSALS));
    }
    out.push('\n');
    out
}

/// The apply summary check (`bosun/apply`) of a refused apply: failed, with the reasons.
pub fn refused_check(command_name: &str, refusals: &[Refusal]) -> CheckOutput {
    let name = one_line(command_name);
    let mut summary = String::from("bosun did not apply anything:\n");
    for r in refusals.iter().take(MAX_REFUSALS) {
        summary.push_str("\n- ");
        summary.push_str(&refusal(&name, r));
    }
    if refusals.len() > MAX_REFUSALS {
        summary.push_str(&format!("\n- … and {} more", refusals.len() - MAX_REFUSALS));
    }
    let title = match refusals.len() {
        1 => "Apply refused: 1 reason".to_owned(),
        n => format!("Apply refused: {n} reasons"),
    };
    CheckOutput {
        title,
        summary: fit(summary, CHECK_BUDGET),
        text: None,
    }
}

/// The most reasons a refusal lists.
const MAX_REFUSALS: usize = 50;

fn refusal(name: &str, r: &Refusal) -> String {
    let plan = |t: &Target| code_span(&t.command(name, "plan"));
    let apply = |t: &Target| code_span(&t.command(name, "apply"));
    match r {
        Refusal::Permission { user, has, needs } => format!(
            "**@{} has {}**; applying takes {} or more ({}) to this repository. Ask someone \
             with {} to review the plan and comment {}.",
            one_line(user).replace('@', ""),
            access_name(*has),
            access_name(*needs),
            levels_from(*needs),
            access_name(*needs),
            code_span(&format!("{name} apply"))
        ),
        Refusal::NotListed { user, users, teams } => {
            let mut who: Vec<String> = users
                .iter()
                .take(MAX_LISTED)
                .map(|u| code_span(&one_line(u).replace('@', "")))
                .collect();
            who.extend(
                teams
                    .iter()
                    .take(MAX_LISTED)
                    .map(|t| format!("members of {}", code_span(&one_line(t).replace('@', "")))),
            );
            format!(
                "**@{} may not apply here:** applying is limited to {}. Ask one of them to \
                 review the plan and comment {}.",
                one_line(user).replace('@', ""),
                who.join(", "),
                code_span(&format!("{name} apply"))
            )
        }
        Refusal::ApplyLocked { locked_at } => format!(
            "**Applies are disabled:** an operator locked every apply ({}) at {}. Wait \
             until it is unlocked (`DELETE /api/apply-lock`), then comment {}.",
            code_span("POST /api/apply-lock"),
            apply_lock_time(*locked_at),
            code_span(&format!("{name} apply"))
        ),
        Refusal::Closed => format!(
            "**This pull request is closed** without merging; its plans are gone. Reopen it \
             and comment {}.",
            code_span(&format!("{name} plan"))
        ),
        Refusal::NoPlan => format!(
            "**There is no plan to apply** for the current head. Comment {} first, review \
             the plan, then {}.",
            code_span(&format!("{name} plan")),
            code_span(&format!("{name} apply"))
        ),
        Refusal::Stale {
            target,
            planned,
            head,
        } => format!(
            "{}: **the plan is stale**: it was made at {}, and the head is now {} (a push \
             after the plan). Plan again with {}, review it, then apply.",
            code_span(&target.display_name()),
            code_span(planned.short()),
            code_span(head.short()),
            plan(target)
        ),
        Refusal::PlanFailed { target } => format!(
            "{}: **the plan failed**, so there is nothing to apply. Fix the error shown in the \
             plan comment, push, and plan again with {}.",
            code_span(&target.display_name()),
            plan(target)
        ),
        Refusal::Applied { target } => format!(
            "{}: **already applied** at this commit. Plan again with {} to make a new plan.",
            code_span(&target.display_name()),
            plan(target)
        ),
        Refusal::Interrupted { target } => format!(
            "{}: **its last apply was interrupted** (bosun stopped while Terraform was \
             applying this plan), so bosun does not apply it again. Look at the state, then plan \
             again with {}.",
            code_span(&target.display_name()),
            plan(target)
        ),
        Refusal::Locked { target, by } => format!(
            "{}: **`locked` by #{by}**, which planned it first. Wait until #{by} is merged or \
             closed (bosun then plans this pull request by itself), or ask its author to \
             comment {} there.",
            code_span(&target.display_name()),
            code_span(&format!("{name} unlock"))
        ),
        Refusal::Requirements { target, unmet } => format!(
            "{}: **apply requirements not met**: {}. Then comment {}.",
            code_span(&target.display_name()),
            unmet_reasons(unmet),
            apply(target)
        ),
        Refusal::PolicyFailed { target, sets } => {
            let each: Vec<String> = sets
                .iter()
                .map(|s| {
                    let who = if s.owners.is_empty() {
                        "no one".to_owned()
                    } else {
                        s.owners.join(", ")
                    };
                    format!(
                        "{} (needs {} more approval(s) from {who})",
                        code_span(&s.name),
                        s.missing
                    )
                })
                .collect();
            format!(
                "{}: **policy checks failed**: {}. An owner of each set approves it with {}, \
                 then comment {}.",
                code_span(&target.display_name()),
                each.join("; "),
                code_span(&format!("{name} approve_policies")),
                apply(target)
            )
        }
    }
}

/// Why a pull request does not meet requirements (`approved`, `mergeable`, `undiverged`),
/// each with what to do, joined by `; `.
pub fn unmet_reasons(unmet: &[Unmet]) -> String {
    let reasons: Vec<String> = unmet
        .iter()
        .map(|u| match u {
            Unmet::NotApproved => "it needs an approving review (`approved`): ask a reviewer \
                with write access to approve the pull request (approvals of readers do not \
                count, and branch protection's review decision must be approved when it \
                requires reviews)"
                .to_owned(),
            Unmet::NotMergeable(why) => format!(
                "it must be mergeable (`mergeable`), and {}: fix that first",
                one_line(why)
            ),
            Unmet::Diverged => "its branch must contain the base branch's head \
                (`undiverged`): merge or rebase the base branch into it, then plan again"
                .to_owned(),
        })
        .collect();
    reasons.join("; ")
}

/// The failed plan of a project whose `plan_requirements` the pull request does not meet.
pub fn plan_refused(name: &str, unmet: &[Unmet]) -> String {
    format!(
        "This project was not planned: the pull request does not meet its plan requirements \
         (`plan_requirements`, read from the base branch's repo config): {}. Then comment \
         `{name} plan`.",
        unmet_reasons(unmet)
    )
}

/// The most users, and separately teams, an apply refusal names.
const MAX_LISTED: usize = 20;

/// A store time as RFC 3339, to the second.
pub fn apply_lock_time(ms: crate::store::Millis) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests;
