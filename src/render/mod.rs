//! All text users read: PR comments, check-run output and replies. Pure functions: data in,
//! markdown out, no I/O.
//!
//! Every comment bosun posts starts with a hidden marker, `<!-- bosun:<kind> ... -->`, so
//! bosun can find, edit or minimise its own earlier comments. GitHub caps a comment body at
//! 65,536 characters and check-run summary and text at 65,535 each; bosun measures text in
//! UTF-16 code units (never fewer than characters) and keeps a margin below those caps.

use crate::ids::PrNumber;

pub mod access;
pub mod apply;
pub mod check;
pub mod diff;
pub mod drift;
pub mod hooks;
pub mod notify;
pub mod plan;
pub mod policy;

/// ` · [log](url)` after a project's heading when `logs` holds a link to its run, else
/// nothing. A link is bosun's own URL (`BOSUN_PUBLIC_URL`), never text from a pull request.
pub fn log_link(logs: &[(crate::plan::Target, String)], target: &crate::plan::Target) -> String {
    logs.iter()
        .find(|(t, _)| t == target)
        .map(|(_, url)| format!(" · [log]({url})"))
        .unwrap_or_default()
}
pub mod reply;
mod split;
pub mod state;

#[cfg(test)]
mod tests;

pub use check::{CheckOutput, plan_check};
pub use diff::diff_block;
pub use plan::{PlanComment, plan_comment};

/// How every plan comment body begins: `<!-- bosun:plan pr=N part=K/M -->`.
pub const PLAN_MARKER_PREFIX: &str = "<!-- bosun:plan ";

/// GitHub's limit on a comment body.
pub const COMMENT_LIMIT: usize = 65_536;

/// GitHub's limit on a check run's summary and, separately, its text.
pub const CHECK_LIMIT: usize = 65_535;

/// The hidden marker that starts part `part` of `parts` of the plan comment of PR `pr`.
pub fn plan_marker(pr: PrNumber, part: u32, parts: u32) -> String {
    format!("{PLAN_MARKER_PREFIX}pr={pr} part={part}/{parts} -->")
}

/// How every part of the plan comment of PR `pr` begins, whatever its part: `pr=42 ` does not
/// begin `pr=420`'s.
pub fn plan_marker_of_pr(pr: PrNumber) -> String {
    format!("{PLAN_MARKER_PREFIX}pr={pr} ")
}

/// The `(pr, part, parts)` of a plan comment body written by [`plan_comment`], if it is one.
pub fn parse_marker(body: &str) -> Option<(u64, u32, u32)> {
    let rest = body.strip_prefix(PLAN_MARKER_PREFIX)?;
    let (inner, _) = rest.split_once(" -->")?;
    let (pr, part) = inner.split_once(' ')?;
    let pr = pr.strip_prefix("pr=")?.parse().ok()?;
    let (k, m) = part.strip_prefix("part=")?.split_once('/')?;
    let (k, m): (u32, u32) = (k.parse().ok()?, m.parse().ok()?);
    (k >= 1 && k <= m).then_some((pr, k, m))
}

/// The hidden marker that starts every other bosun comment: `<!-- bosun:<kind> -->`.
pub fn marker(kind: &str) -> String {
    format!("<!-- bosun:{kind} -->")
}

/// The kind of a bosun comment (`plan`, `help`, `command-error`, …) from its marker, if the
/// body starts with one.
pub fn marker_kind(body: &str) -> Option<&str> {
    let rest = body.strip_prefix("<!-- bosun:")?;
    let end = rest
        .find(|c: char| !(c.is_ascii_lowercase() || c == '-'))
        .unwrap_or(rest.len());
    let kind = rest.get(..end)?;
    (!kind.is_empty() && rest.get(end..)?.starts_with(' ')).then_some(kind)
}

/// The length GitHub holds a text to: UTF-16 code units, which are never fewer than characters.
pub(crate) fn len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// The longest name or address bosun prints whole; longer ones are cut with `…`.
const MAX_NAME: usize = 300;

/// `s` on one line, control characters as spaces, at most [`MAX_NAME`] characters.
pub(crate) fn one_line(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_NAME)
        .collect();
    if s.chars().nth(MAX_NAME).is_some() {
        out.push('…');
    }
    out
}

/// `s` as an inline code span, whatever backticks it holds, on one line.
pub(crate) fn code_span(s: &str) -> String {
    let s = one_line(s);
    let ticks = "`".repeat(longest_backtick_run(&s) + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{s}{pad}{ticks}")
}

/// [`code_span`] for a table cell: `|` escaped, which GitHub would otherwise take as the
/// end of the cell even inside the span.
pub(crate) fn cell(s: &str) -> String {
    code_span(s).replace('|', "\\|")
}

fn longest_backtick_run(s: &str) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// A code fence that no line of `lines` can close: three backticks, or one more than the
/// longest run of backticks in them.
pub(crate) fn fence_for<S: AsRef<str>>(lines: &[S]) -> String {
    let longest = lines
        .iter()
        .map(|l| longest_backtick_run(l.as_ref()))
        .max()
        .unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

/// `body` as a fenced code block in language `lang`.
pub(crate) fn fenced(lang: &str, body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let fence = fence_for(&lines);
    format!("{fence}{lang}\n{}\n{fence}", lines.join("\n"))
}

/// Escapes the characters that would make plain text markdown or HTML.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in one_line(s).chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~' | '!'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `@` followed by a zero-width space, so echoing a user's text cannot mention anyone.
pub(crate) fn no_mentions(s: &str) -> String {
    s.replace('@', "@\u{200b}")
}
