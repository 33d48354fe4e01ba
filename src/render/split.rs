//! Packing markdown into pieces under a size budget without breaking it: code blocks,
//! tables and quotes are cut only between lines, and each piece closes what it opened
//! (fence, `</details>`) and the next reopens it.

use super::len;

/// The longest line bosun shows whole; longer ones are cut with a note of how much.
pub(crate) const MAX_LINE: usize = 2_000;

/// A unit of a comment.
#[derive(Debug, Clone)]
pub(crate) enum Block {
    /// Markdown kept whole. Callers keep it small (names are capped by `one_line`); one
    /// larger than a whole piece is cut between lines as a last resort.
    Text(String),
    /// Lines that may be cut between any two of them.
    Lines(Lines),
}

/// Lines wrapped in markdown that must be repeated around every piece of them: a fenced
/// block (`open` = "```diff", `close` = "```"), a table (`open` = its header), a quote.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lines {
    pub open: String,
    /// What opens the second and later pieces (e.g. with "(continued)").
    pub reopen: String,
    pub lines: Vec<String>,
    pub close: String,
}

impl Lines {
    /// A code block in `lang`, folded in `<details>` under `summary` when given.
    pub fn code(lang: &str, lines: Vec<String>, fold: Option<&str>, reopen_note: &str) -> Self {
        let lines: Vec<String> = lines.into_iter().map(|l| cap_line(&l)).collect();
        let fence = super::fence_for(&lines);
        let (open, reopen, close) = match fold {
            Some(summary) => (
                format!("<details><summary>{summary}</summary>\n\n{fence}{lang}"),
                format!(
                    "{reopen_note}<details><summary>{summary} (continued)</summary>\n\n{fence}{lang}"
                ),
                format!("{fence}\n\n</details>"),
            ),
            None => (
                format!("{fence}{lang}"),
                format!("{reopen_note}{fence}{lang}"),
                fence,
            ),
        };
        Self {
            open,
            reopen,
            lines,
            close,
        }
    }

    fn piece(&self, first: bool, lines: &[String]) -> String {
        let head = if first { &self.open } else { &self.reopen };
        let mut all: Vec<&str> = Vec::with_capacity(lines.len() + 2);
        if !head.is_empty() {
            all.push(head);
        }
        all.extend(lines.iter().map(String::as_str));
        if !self.close.is_empty() {
            all.push(&self.close);
        }
        all.join("\n")
    }
}

/// `line` cut to [`MAX_LINE`] characters, saying how many more it had.
pub(crate) fn cap_line(line: &str) -> String {
    match line.char_indices().nth(MAX_LINE) {
        None => line.to_owned(),
        Some((at, _)) => {
            let more = line.get(at..).map_or(0, |rest| rest.chars().count());
            format!("{}… ({more} more characters)", line.get(..at).unwrap_or(""))
        }
    }
}

/// How far back from a cut to look for a blank line to cut after instead.
const BLANK_LOOKBACK: usize = 60;

/// How to pack.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The most a piece may hold.
    pub budget: usize,
    /// The most pieces; what does not fit is cut, with a notice.
    pub max_parts: usize,
}

struct Packer<'a> {
    limits: Limits,
    /// Room kept in every piece for the cut notice.
    reserve: usize,
    notice: &'a dyn Fn(usize) -> String,
    parts: Vec<String>,
    cur: String,
}

impl Packer<'_> {
    fn room(&self) -> usize {
        let sep = if self.cur.is_empty() { 0 } else { 2 };
        self.limits
            .budget
            .saturating_sub(self.reserve + len(&self.cur) + sep)
    }

    fn push(&mut self, s: &str) {
        if !self.cur.is_empty() {
            self.cur.push_str("\n\n");
        }
        self.cur.push_str(s);
    }

    /// Starts a new piece; `false` (after adding the cut notice for `left` lines) when this
    /// was the last allowed one.
    fn next(&mut self, left: usize) -> bool {
        if self.cur.is_empty() {
            return true;
        }
        if self.parts.len() + 1 >= self.limits.max_parts {
            let notice = (self.notice)(left);
            self.push(&notice);
            return false;
        }
        self.parts.push(std::mem::take(&mut self.cur));
        true
    }

    /// Adds `lines`, cutting it across pieces; `false` when packing must stop.
    fn lines(&mut self, block: &Lines, later: usize) -> bool {
        let mut at = 0;
        let mut first = true;
        loop {
            let rest = block.lines.get(at..).unwrap_or_default();
            let whole = block.piece(first, rest);
            if len(&whole) <= self.room() {
                self.push(&whole);
                return true;
            }
            // As many lines as fit, at least one in an empty piece so packing moves on.
            let head = if first { &block.open } else { &block.reopen };
            let mut used = len(head) + 1 + len(&block.close);
            let mut n = 0;
            for line in rest {
                used += len(line) + 1;
                if used > self.room() {
                    break;
                }
                n += 1;
            }
            if n == 0 && self.cur.is_empty() {
                n = 1;
            }
            // Prefer to end a piece after a blank line (between resources) when one is near.
            if n < rest.len()
                && let Some(blank) = rest
                    .get(..n)
                    .unwrap_or_default()
                    .iter()
                    .rposition(|l| l.trim().is_empty())
                    .filter(|&i| i > 0 && i + BLANK_LOOKBACK >= n)
            {
                n = blank + 1;
            }
            if n > 0 {
                let piece = block.piece(first, rest.get(..n).unwrap_or_default());
                self.push(&piece);
                at += n;
                first = false;
            }
            let left = block.lines.len().saturating_sub(at) + later;
            if !self.next(left) {
                return false;
            }
        }
    }
}

fn line_count(block: &Block) -> usize {
    match block {
        Block::Text(t) => t.lines().count(),
        Block::Lines(l) => l.lines.len(),
    }
}

/// Packs `blocks` in order, separated by blank lines, into at most `limits.max_parts`
/// pieces of at most `limits.budget` (UTF-16 units). When they do not fit, the last piece
/// ends with `notice(n)`, `n` being the lines left out; `notice(usize::MAX)` must be the
/// longest notice it can return.
pub(crate) fn pack(
    blocks: &[Block],
    limits: Limits,
    notice: &dyn Fn(usize) -> String,
) -> Vec<String> {
    let mut p = Packer {
        limits,
        reserve: len(&notice(usize::MAX)) + 2,
        notice,
        parts: Vec::new(),
        cur: String::new(),
    };
    let mut later: usize = blocks.iter().map(line_count).sum();
    for block in blocks {
        later = later.saturating_sub(line_count(block));
        let going = match block {
            Block::Text(t) if len(t) <= p.room() => {
                p.push(t);
                true
            }
            Block::Text(t) => {
                if p.next(later + line_count(block)) {
                    if len(t) <= p.room() {
                        p.push(t);
                        true
                    } else {
                        let lines = Lines {
                            lines: t.lines().map(cap_line).collect(),
                            ..Lines::default()
                        };
                        p.lines(&lines, later)
                    }
                } else {
                    false
                }
            }
            Block::Lines(l) => p.lines(l, later),
        };
        if !going {
            break;
        }
    }
    if !p.cur.is_empty() {
        p.parts.push(p.cur);
    }
    p.parts
}

/// `lines` joined, cut between lines to at most `budget` with `notice(n)` for the `n` lines
/// left out (`notice(usize::MAX)` being its longest).
pub(crate) fn cut(lines: &[String], budget: usize, notice: &dyn Fn(usize) -> String) -> String {
    let whole = lines.join("\n");
    if len(&whole) <= budget {
        return whole;
    }
    let room = budget.saturating_sub(len(&notice(usize::MAX)) + 1);
    let mut used = 0;
    let mut out = String::new();
    let mut n = 0;
    for line in lines {
        let line = cap_line(line);
        used += len(&line) + 1;
        if used > room {
            break;
        }
        out.push_str(&line);
        out.push('\n');
        n += 1;
    }
    out.push_str(&notice(lines.len() - n));
    out
}
