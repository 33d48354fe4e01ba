//! Terraform's human plan text as a ```` ```diff ```` block, so GitHub colours it.
//!
//! Terraform indents its action markers (`  + resource`, `      ~ input = …`); GitHub's diff
//! highlighting only looks at column 0. So every line is shifted right by one column and a
//! marker, if the line has one, is moved into column 0; what follows the marker keeps its
//! column, so nested blocks stay aligned with unmarked lines.
//!
//! | Terraform | shown as | GitHub colour | why |
//! |---|---|---|---|
//! | `+` create | `+` | green | |
//! | `-` destroy | `-` | red | |
//! | `~` update in place | `!` | orange ("changed") | `~` has no colour in a diff; `!` is the changed-line marker (as Atlantis does) |
//! | `-/+` replace, destroy first | `-/+` | red | kept: the symbol says "replace", and red marks the destroy |
//! | `+/-` replace, create first | `+/-` | green | kept: Terraform's own symbol; replaces are also called out above the plan |
//! | `<=` read data source | `<=` | none | moved only, to keep columns |

/// Terraform's markers, longest first, and what each becomes in column 0.
const MARKERS: [(&str, &str); 6] = [
    ("-/+", "-/+"),
    ("+/-", "+/-"),
    ("<=", "<="),
    ("+", "+"),
    ("-", "-"),
    ("~", "!"),
];

/// One line of plan text as a diff line (see the module docs).
pub fn diff_line(line: &str) -> String {
    let line = line.trim_end_matches(['\r', '\n']);
    let rest = line.trim_start_matches(' ');
    let indent = line.len() - rest.len();
    for (marker, shown) in MARKERS {
        let Some(after) = rest.strip_prefix(marker) else {
            continue;
        };
        if after.is_empty() {
            return shown.to_owned();
        }
        if after.starts_with(' ') {
            // One column for the shift, plus what the marker took beyond what it now takes.
            let pad = indent + 1 + marker.len() - shown.len();
            return format!("{shown}{}{after}", " ".repeat(pad));
        }
    }
    format!(" {line}")
}

/// The plan text's lines as diff lines, without leading and trailing blank lines.
pub fn diff_lines(plan_text: &str) -> Vec<String> {
    let lines: Vec<&str> = plan_text.lines().collect();
    let start = lines
        .iter()
        .position(|l| !l.trim().is_empty())
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(start, |i| i + 1);
    lines
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|l| diff_line(l))
        .collect()
}

/// The whole ```` ```diff ```` block for `plan_text`, fences included. The fence is longer
/// than any run of backticks in the text, so nothing inside can close it.
pub fn diff_block(plan_text: &str) -> String {
    let lines = diff_lines(plan_text);
    let fence = super::fence_for(&lines);
    let mut out = format!("{fence}diff\n");
    for line in &lines {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&fence);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_marker_moves_to_column_zero() {
        let cases = [
            // Unmarked lines shift by one column.
            (
                "  # terraform_data.a will be created",
                "   # terraform_data.a will be created",
            ),
            ("        id     = \"daf4\"", "         id     = \"daf4\""),
            ("    }", "     }"),
            ("Plan: 1 to add.", " Plan: 1 to add."),
            ("", " "),
            // Markers: what follows keeps its (shifted) column.
            (
                "  + resource \"terraform_data\" \"d\" {",
                "+    resource \"terraform_data\" \"d\" {",
            ),
            ("      + input  = \"new\"", "+        input  = \"new\""),
            (
                "  - resource \"terraform_data\" \"c\" {",
                "-    resource \"terraform_data\" \"c\" {",
            ),
            (
                "      - id     = \"68ef\" -> null",
                "-        id     = \"68ef\" -> null",
            ),
            (
                "  ~ resource \"terraform_data\" \"a\" {",
                "!    resource \"terraform_data\" \"a\" {",
            ),
            (
                "      ~ input  = \"x\" -> \"x2\"",
                "!        input  = \"x\" -> \"x2\"",
            ),
            (
                "          ~ \"v1\" -> \"v2\",",
                "!            \"v1\" -> \"v2\",",
            ),
            (
                "-/+ resource \"terraform_data\" \"b\" {",
                "-/+  resource \"terraform_data\" \"b\" {",
            ),
            (
                "+/- resource \"terraform_data\" \"b\" {",
                "+/-  resource \"terraform_data\" \"b\" {",
            ),
            (
                " <= data \"terraform_remote_state\" \"net\" {",
                "<=   data \"terraform_remote_state\" \"net\" {",
            ),
            (
                "  ~ o = \"x\" -> (known after apply)",
                "!    o = \"x\" -> (known after apply)",
            ),
            // A marker needs a space after it.
            ("  -> null", "   -> null"),
            ("  +x", "   +x"),
            ("  ~", "!"),
            // Windows line ends.
            ("  + a\r", "+    a"),
        ];
        for (input, want) in cases {
            assert_eq!(diff_line(input), want, "{input:?}");
        }
    }

    #[test]
    fn marked_and_unmarked_lines_stay_aligned() {
        let got =
            diff_lines("  ~ resource \"a\" \"b\" {\n        id = 1\n      ~ x  = 1 -> 2\n    }\n");
        let col = |l: &str, word: &str| l.find(word).unwrap();
        assert_eq!(col(&got[1], "id"), col(&got[2], "x"));
        assert_eq!(col(&got[0], "resource") + 4, col(&got[2], "x"));
    }

    #[test]
    fn blank_edges_are_dropped() {
        assert_eq!(diff_lines("\n\n  + a\n\n"), vec!["+    a"]);
        assert!(diff_lines("\n \n").is_empty());
    }

    #[test]
    fn backticks_inside_get_a_longer_fence() {
        let block = diff_block("  + x = \"```\"\n```\n");
        assert!(block.starts_with("````diff\n"), "{block}");
        assert!(block.ends_with("\n````"), "{block}");
        assert_eq!(diff_block("  + a"), "```diff\n+    a\n```");
    }
}
