//! Workflow hooks in comments: each hook's output folded under a line naming it and how it
//! ended, and the reply when a blocking pre hook stops a command.

use super::split::{Block, Lines};
use super::{fenced, one_line};

/// One hook's run, as a comment shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookShown<'a> {
    /// `pre_workflow_hook` or `post_workflow_hook`.
    pub key: &'a str,
    /// Its description, else its command.
    pub name: &'a str,
    pub ok: bool,
    pub output: &'a str,
}

/// The most output lines of one hook a comment shows (its last ones).
const MAX_LINES: usize = 300;

fn summary(h: &HookShown) -> String {
    let how = if h.ok { "succeeded" } else { "failed" };
    format!("{} {}: {how}", h.key, html(h.name))
}

/// `s` on one line as HTML text: `<summary>` is HTML, where markdown's escapes do not hold.
fn html(s: &str) -> String {
    one_line(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('@', "&#64;")
}

/// The last lines of `output`: at most [`MAX_LINES`], and at most `budget` characters.
fn last_lines(output: &str, budget: usize) -> Vec<String> {
    let lines: Vec<&str> = output.lines().collect();
    let mut from = lines.len().saturating_sub(MAX_LINES);
    let mut used = 0;
    for (i, line) in lines.iter().enumerate().skip(from).rev() {
        used += super::len(line) + 1;
        if used > budget {
            from = i + 1;
            break;
        }
    }
    let mut shown: Vec<String> = lines[from..].iter().map(|l| (*l).to_owned()).collect();
    if from > 0 {
        shown.insert(0, format!("({from} earlier lines left out)"));
    }
    if shown.is_empty() {
        shown.push("(no output)".into());
    }
    shown
}

/// Each hook's output, folded, for the plan comment.
pub(crate) fn blocks(hooks: &[HookShown]) -> Vec<Block> {
    hooks
        .iter()
        .map(|h| {
            Block::Lines(Lines::code(
                "",
                last_lines(h.output, usize::MAX),
                Some(&summary(h)),
                "",
            ))
        })
        .collect()
}

/// The most characters of hook output an apply comment adds.
const FOLDED_BUDGET: usize = 20_000;

/// Each hook's output, folded, to end a comment with; empty without hooks.
pub fn folded(hooks: &[HookShown]) -> String {
    let mut out = String::new();
    for h in hooks {
        out.push_str(&format!(
            "\n\n<details><summary>{}</summary>\n\n{}\n\n</details>",
            summary(h),
            fenced(
                "",
                &last_lines(h.output, FOLDED_BUDGET / hooks.len()).join("\n")
            ),
        ));
    }
    out
}

/// The reply when the blocking pre hook `failed` stops `command` (`plan`, `apply`): nothing
/// was run; the hook is named, with its output.
pub fn stopped(command: &str, failed: &HookShown) -> String {
    format!(
        "**The {command} did not run: the {} {} failed.**\n\n<details><summary>Output</summary>\n\n{}\n\n</details>\n",
        failed.key,
        super::code_span(failed.name),
        fenced("", &last_lines(failed.output, FOLDED_BUDGET).join("\n")),
    )
}

/// The failed `bosun/plan` summary check when the blocking pre hook `failed` stopped a plan.
pub fn stopped_check(failed: &HookShown) -> super::CheckOutput {
    super::CheckOutput {
        title: one_line(&format!("{} `{}` failed", failed.key, failed.name)),
        summary: "Nothing was planned: a blocking workflow hook failed.".into(),
        text: Some(fenced(
            "",
            &last_lines(failed.output, FOLDED_BUDGET).join("\n"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_command_names_the_hook_and_shows_its_last_lines() {
        let output: String = (1..=400).map(|i| format!("line {i}\n")).collect();
        let h = HookShown {
            key: "pre_workflow_hook",
            name: "make config",
            ok: false,
            output: &output,
        };
        let body = stopped("plan", &h);
        assert!(
            body.contains("the pre_workflow_hook `make config` failed"),
            "{body}"
        );
        assert!(
            body.contains("line 400") && !body.contains("line 100\n"),
            "{body}"
        );
        assert!(body.contains("(100 earlier lines left out)"), "{body}");
    }

    #[test]
    fn a_hook_name_cannot_break_out_of_its_summary() {
        let h = HookShown {
            key: "post_workflow_hook",
            name: "</summary><img src=x>",
            ok: true,
            output: "",
        };
        let Block::Lines(lines) = &blocks(&[h])[0] else {
            panic!("a hook is a folded block")
        };
        assert!(!lines.open.contains("<img"), "{}", lines.open);
        assert!(
            lines.open.contains("&lt;/summary&gt;&lt;img src=x&gt;"),
            "{}",
            lines.open
        );
        assert!(lines.lines.contains(&"(no output)".to_owned()));
    }
}
