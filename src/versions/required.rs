//! The `required_version` of a project's own code: the `terraform { required_version = "…" }`
//! blocks of the `*.tf` (and `*.tofu`) files directly in its directory, and the same key of
//! `*.tf.json` (`*.tofu.json`) files. Every one found must hold, as Terraform requires.
//!
//! The checkout is the pull request's: files are read beneath it without following links
//! ([`crate::terraform::beneath`]), a link is skipped (its `required_version` is not read;
//! Terraform still checks it when it runs), and each file is read up to 4 MiB.

use std::path::Path;

use super::version::Constraint;
use crate::terraform::beneath;

/// Largest file read for its `required_version`.
const FILE_CAP: u64 = 4 << 20;
/// Most files of a directory read.
const MAX_FILES: usize = 2000;

/// The constraint of every `required_version` in `dir` of the checkout `root`; `Ok(None)`: none.
/// `Err` names the file whose constraint does not read, or what could not be read.
pub fn required_version(root: &Path, dir: &Path) -> Result<Option<Constraint>, String> {
    let mut names = beneath::list_beneath(root, dir).map_err(|e| e.to_string())?;
    names.sort();
    let mut all: Option<Constraint> = None;
    for name in names.iter().take(MAX_FILES) {
        let json = name.ends_with(".tf.json") || name.ends_with(".tofu.json");
        if !(json || name.ends_with(".tf") || name.ends_with(".tofu")) {
            continue;
        }
        let bytes = match beneath::read_beneath(root, &dir.join(name), FILE_CAP) {
            Ok(Some(bytes)) => bytes,
            Ok(None) | Err(beneath::Unsafe::Symlink(_) | beneath::Unsafe::NotFile(_)) => continue,
            Err(e) => return Err(e.to_string()),
        };
        let text = String::from_utf8_lossy(&bytes);
        let found = if json { of_json(&text) } else { of_hcl(&text) };
        for value in found {
            let c =
                Constraint::parse(&value).map_err(|e| format!("{name}: required_version: {e}"))?;
            all = Some(match all {
                Some(a) => a.and(c),
                None => c,
            });
        }
    }
    Ok(all)
}

/// `required_version` of the top-level `terraform` blocks of a JSON file.
fn of_json(text: &str) -> Vec<String> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    let blocks = match value.get("terraform") {
        Some(serde_json::Value::Array(list)) => list.iter().collect(),
        Some(block) => vec![block],
        None => Vec::new(),
    };
    blocks
        .into_iter()
        .filter_map(|b| b.get("required_version")?.as_str().map(str::to_owned))
        .collect()
}

/// `required_version` of the top-level `terraform` blocks of an HCL file: a small scanner that
/// knows comments, strings and heredocs well enough to find the blocks' braces.
fn of_hcl(text: &str) -> Vec<String> {
    let tokens = tokens(text);
    let mut found = Vec::new();
    let mut depth = 0usize;
    let mut in_terraform = false;
    let mut i = 0;
    while let Some(token) = tokens.get(i) {
        match token {
            Token::Open => {
                if depth == 0 {
                    in_terraform =
                        i >= 1 && tokens.get(i - 1) == Some(&Token::Word("terraform".into()));
                }
                depth += 1;
            }
            Token::Close => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    in_terraform = false;
                }
            }
            Token::Word(w) if in_terraform && depth == 1 && w == "required_version" => {
                if let (Some(Token::Equals), Some(Token::Str(value))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                {
                    found.push(value.clone());
                    i += 2;
                }
            }
            _ => {}
        }
        i += 1;
    }
    found
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Str(String),
    Open,
    Close,
    Equals,
    Other,
}

fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied();
    while let Some(c) = at(i) {
        match c {
            '#' => i = skip_line(&chars, i),
            '/' if at(i + 1) == Some('/') => i = skip_line(&chars, i),
            '/' if at(i + 1) == Some('*') => {
                i += 2;
                while i < chars.len() && !(at(i) == Some('*') && at(i + 1) == Some('/')) {
                    i += 1;
                }
                i += 2;
            }
            '"' => {
                let (value, next) = string(&chars, i + 1);
                out.push(Token::Str(value));
                i = next;
            }
            '<' if at(i + 1) == Some('<') => i = heredoc(&chars, i + 2, &mut out),
            '{' => {
                out.push(Token::Open);
                i += 1;
            }
            '}' => {
                out.push(Token::Close);
                i += 1;
            }
            '=' => {
                out.push(Token::Equals);
                i += 1;
            }
            c if c.is_alphanumeric() || c == '_' => {
                let start = i;
                while at(i).is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-') {
                    i += 1;
                }
                out.push(Token::Word(chars[start..i].iter().collect()));
            }
            c if c.is_whitespace() => i += 1,
            _ => {
                out.push(Token::Other);
                i += 1;
            }
        }
    }
    out
}

fn skip_line(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i] != '\n' {
        i += 1;
    }
    i
}

/// A quoted string from `i` (after its `"`): its text (escapes read; a `${…}` kept as
/// written, its own quotes and braces included) and where it ends.
fn string(chars: &[char], mut i: usize) -> (String, usize) {
    let mut value = String::new();
    let mut nested = 0usize;
    while let Some(&c) = chars.get(i) {
        match c {
            '\\' => {
                if let Some(&next) = chars.get(i + 1) {
                    value.push(match next {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                }
                i += 2;
                continue;
            }
            '$' if chars.get(i + 1) == Some(&'{') => {
                nested += 1;
                value.push_str("${");
                i += 2;
                continue;
            }
            '}' if nested > 0 => nested -= 1,
            '"' if nested == 0 => return (value, i + 1),
            '\n' if nested == 0 => return (value, i),
            _ => {}
        }
        value.push(c);
        i += 1;
    }
    (value, i)
}

/// A heredoc from `i` (after `<<`): `-` optional, then its marker; skipped to the line that
/// holds only the marker. Anything else after `<<` is an operator.
fn heredoc(chars: &[char], mut i: usize, out: &mut Vec<Token>) -> usize {
    if chars.get(i) == Some(&'-') {
        i += 1;
    }
    let start = i;
    while chars
        .get(i)
        .is_some_and(|c| c.is_alphanumeric() || *c == '_')
    {
        i += 1;
    }
    let marker: String = chars[start..i].iter().collect();
    if marker.is_empty() {
        out.push(Token::Other);
        return i;
    }
    out.push(Token::Str(String::new()));
    i = skip_line(chars, i);
    while i < chars.len() {
        let line_start = i + 1;
        let line_end = skip_line(chars, line_start);
        let line: String = chars[line_start.min(chars.len())..line_end]
            .iter()
            .collect();
        if line.trim() == marker {
            return line_end;
        }
        i = line_end;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_terraform_blocks_give_their_required_version() {
        let text = r#"
# terraform { required_version = "= 0.1.0" }
/* terraform { required_version = "= 0.2.0" } */
locals {
  terraform = { required_version = "= 0.3.0" }
  policy = <<-EOT
    { "a": "}}}" }
    terraform { required_version = "= 0.4.0" }
  EOT
  s = "terraform { required_version = \"= 0.5.0\" } ${var.x} }"
}
terraform {
  required_version = ">= 1.5, < 1.8" // a comment
  required_providers {
    null = { source = "hashicorp/null", version = "~> 3.0" }
  }
}
resource "terraform_data" "x" {
  input = "required_version"
}
"#;
        assert_eq!(of_hcl(text), [">= 1.5, < 1.8"]);
        assert_eq!(of_hcl("terraform {\n}\n"), Vec::<String>::new());
        assert_eq!(
            of_json(r#"{"terraform": [{"required_version": "~> 1.6"}], "locals": {}}"#),
            ["~> 1.6"]
        );
        assert_eq!(
            of_json(r#"{"terraform": {"required_version": "1.9.3"}}"#),
            ["1.9.3"]
        );
        assert!(of_json("not json").is_empty());
    }

    #[test]
    fn every_file_of_the_dir_counts_and_links_are_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("envs/prod/sub")).unwrap();
        std::fs::write(
            root.join("envs/prod/versions.tf"),
            "terraform {\n  required_version = \">= 1.5\"\n}\n",
        )
        .unwrap();
        std::fs::write(
            root.join("envs/prod/more.tf.json"),
            r#"{"terraform": {"required_version": "< 1.8"}}"#,
        )
        .unwrap();
        std::fs::write(
            root.join("envs/prod/sub/ignored.tf"),
            "terraform {\n  required_version = \"= 9.9.9\"\n}\n",
        )
        .unwrap();
        std::fs::write(
            root.join("outside.tf"),
            "terraform {\n  required_version = \"= 7.0.0\"\n}\n",
        )
        .unwrap();
        std::os::unix::fs::symlink(root.join("outside.tf"), root.join("envs/prod/link.tf"))
            .unwrap();
        let got = required_version(root, Path::new("envs/prod"))
            .unwrap()
            .unwrap();
        assert_eq!(got.to_string(), "< 1.8, >= 1.5");
        assert!(required_version(root, Path::new("envs/prod/sub/../..")).is_err());
        assert_eq!(required_version(root, Path::new("envs")).unwrap(), None);
        std::fs::write(
            root.join("envs/bad.tf"),
            "terraform {\n  required_version = \"1.x\"\n}\n",
        )
        .unwrap();
        let err = required_version(root, Path::new("envs")).unwrap_err();
        assert!(err.starts_with("bad.tf: required_version: `1.x`"), "{err}");
        // A linked directory is not read through.
        std::os::unix::fs::symlink(root.join("envs/prod"), root.join("linked")).unwrap();
        assert!(required_version(root, Path::new("linked")).is_err());
        assert_eq!(
            required_version(root, Path::new("."))
                .unwrap()
                .unwrap()
                .to_string(),
            "= 7.0.0"
        );
    }
}
