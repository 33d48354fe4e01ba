//! What users see of a step's output (Atlantis's `output` option), and the `NAME=VALUE` list
//! a `multienv` step prints.

use crate::config::repo::Output;

/// The line Terraform prints per resource while refreshing.
const REFRESHING: &str = "Refreshing state...";

/// The part of `text` users see; `None`: hidden. `strip_refreshing` drops everything up to
/// and including the last `Refreshing state...` line, then each `filter_regex` match becomes
/// `<redacted>` (its groups 1 and 2 kept around it), as Atlantis does.
pub(super) fn shown(output: &Output, text: &str) -> Option<String> {
    if output.hide {
        return None;
    }
    let mut text = text.to_owned();
    if output.strip_refreshing {
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        if let Some(last) = lines.iter().rposition(|l| l.contains(REFRESHING)) {
            text = lines[last + 1..].concat();
        }
    }
    for pattern in &output.filter_regexes {
        // The reader compiled it already; one that fails now hides everything.
        let Ok(re) = regex::Regex::new(pattern) else {
            return None;
        };
        text = re.replace_all(&text, "${1}<redacted>${2}").into_owned();
    }
    Some(text)
}

/// Why a `multienv` step's output is no list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum ListError {
    #[error("a name holds a blank")]
    Blank,
    #[error("a value's quotes do not close")]
    Misquoted,
    #[error("text after the last value, or a name without `=`")]
    Remaining,
    #[error("too short to be `NAME=VALUE`")]
    Short,
}

/// Reads Atlantis's `multienv` output: `NAME=VALUE` pairs separated by commas, the whole
/// trimmed; a value may be in `"…"` (where `\"` and `\\` stand for `"` and `\`) or `'…'`
/// to hold commas. Nothing printed is no variable. A port of Atlantis's `parseMultienvLine`.
pub(super) fn multienv(text: &str) -> Result<Vec<(String, String)>, ListError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    if text.len() < 3 {
        return Err(ListError::Short);
    }
    let bytes = text.as_bytes();
    let before = |j: usize| j.checked_sub(1).map(|k| bytes[k]);
    let mut parts: Vec<String> = Vec::new();
    let (mut in_value, mut dquoted, mut squoted, mut escaped) = (false, false, false, false);
    let mut start = 0;
    for (j, c) in text.char_indices() {
        if !in_value {
            if c == '=' {
                in_value = true;
                parts.push(text[start..j].to_owned());
                start = j + 1;
            }
            if c == ' ' || c == '\t' {
                return Err(ListError::Blank);
            }
            if c == ',' && !parts.is_empty() {
                start = j + 1;
            }
            continue;
        }
        if c == '"' && !squoted {
            if j == start && !dquoted {
                dquoted = true;
                start = j + 1;
            } else if dquoted && before(j) != Some(b'\\') {
                parts.push(unescape(&text[start..j], escaped));
                start = j + 1;
                dquoted = false;
                in_value = false;
            } else if before(j) != Some(b'\\') {
                return Err(ListError::Misquoted);
            } else {
                escaped = true;
            }
            continue;
        }
        if c == '\'' && !dquoted {
            if j == start && !squoted {
                squoted = true;
                start = j + 1;
            } else if squoted && before(j) != Some(b'\\') {
                parts.push(text[start..j].to_owned());
                start = j + 1;
                squoted = false;
                in_value = false;
            }
            continue;
        }
        if c == ',' && !dquoted && !squoted {
            parts.push(text[start..j].to_owned());
            start = j + 1;
            in_value = false;
        }
    }
    if start < text.len() {
        if !in_value {
            return Err(ListError::Remaining);
        }
        parts.push(unescape(&text[start..], escaped));
        in_value = false;
    }
    if dquoted || squoted {
        return Err(ListError::Misquoted);
    }
    if in_value {
        return Err(ListError::Remaining);
    }
    let mut pairs = Vec::new();
    let mut it = parts.into_iter();
    while let (Some(name), Some(value)) = (it.next(), it.next()) {
        pairs.push((name, value));
    }
    Ok(pairs)
}

fn unescape(s: &str, escaped: bool) -> String {
    if escaped {
        s.replace(r"\\", r"\").replace(r#"\""#, "\"")
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn multienv_reads_atlantis_lists() {
        assert_eq!(multienv(""), Ok(vec![]));
        assert_eq!(multienv("  \n"), Ok(vec![]));
        assert_eq!(multienv("A=1"), Ok(pairs(&[("A", "1")])));
        assert_eq!(
            multienv("A=1,B=two words\n"),
            Ok(pairs(&[("A", "1"), ("B", "two words")]))
        );
        assert_eq!(
            multienv(r#"A="x,y",B='p,q',C=z"#),
            Ok(pairs(&[("A", "x,y"), ("B", "p,q"), ("C", "z")]))
        );
        assert_eq!(
            multienv(r#"A="say \"hi\"",B=1"#),
            Ok(pairs(&[("A", r#"say "hi""#), ("B", "1")]))
        );
        assert_eq!(multienv("A=x=y"), Ok(pairs(&[("A", "x=y")])));
        assert_eq!(multienv("A B=1"), Err(ListError::Blank));
        assert_eq!(multienv(r#"A="x"#), Err(ListError::Misquoted));
        assert_eq!(multienv("A=1,B"), Err(ListError::Remaining));
        assert_eq!(multienv("AB"), Err(ListError::Short));
    }

    #[test]
    fn output_options_hide_strip_and_filter() {
        let text = "a\n  Refreshing state... [id=1]\nb: Refreshing state...\nPlan: 1\n";
        assert_eq!(shown(&Output::default(), text).as_deref(), Some(text));
        let hide = Output {
            hide: true,
            ..Output::default()
        };
        assert_eq!(shown(&hide, text), None);
        let strip = Output {
            strip_refreshing: true,
            ..Output::default()
        };
        assert_eq!(shown(&strip, text).as_deref(), Some("Plan: 1\n"));
        assert_eq!(shown(&strip, "x\ny").as_deref(), Some("x\ny"));
        let filter = Output {
            filter_regexes: vec![r#"((?i)secret:\s")[^"]*"#.into()],
            ..Output::default()
        };
        assert_eq!(
            shown(&filter, "Secret: \"abc\" ok").as_deref(),
            Some("Secret: \"<redacted>\" ok")
        );
    }
}
