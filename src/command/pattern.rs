//! What a `-p` value selects. A project name, exactly; but when the value starts with a prefix
//! the repo config's `allowed_regexp_prefixes` lists, a regular expression anchored at both
//! ends, matched against the project names (Atlantis's `-p` under `--enable-regexp-cmd`, which
//! bosun has no setting for: the repo config opts in). The expression comes from a comment, so
//! it is compiled by the `regex` crate (linear-time matching, no backtracking) with a bounded
//! size.

use std::fmt;

/// How large a compiled `-p` pattern may grow (bytes of program and of lazy DFA cache).
const SIZE_LIMIT: usize = 1 << 20;
/// How deeply a `-p` pattern may nest groups and repetitions.
const NEST_LIMIT: u32 = 64;
/// The longest `-p` value read as a pattern.
const MAX_LEN: usize = 512;

/// A `-p` value, ready to match project names.
#[derive(Debug, Clone)]
pub enum NameMatcher {
    /// The one project of that name.
    Exact(String),
    /// Every project whose whole name the expression matches.
    Pattern(regex::Regex),
}

/// Why a `-p` value that is a pattern cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPattern {
    /// The value as given.
    pub value: String,
    /// What is wrong with it.
    pub why: String,
}

impl fmt::Display for BadPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`-p {}` is not a usable pattern: {}",
            self.value, self.why
        )
    }
}

impl std::error::Error for BadPattern {}

impl NameMatcher {
    /// Reads a `-p` value under the repo config's `allowed_regexp_prefixes` (`prefixes`).
    pub fn new(value: &str, prefixes: &[String]) -> Result<Self, BadPattern> {
        if !prefixes.iter().any(|p| value.starts_with(p.as_str())) {
            return Ok(Self::Exact(value.to_owned()));
        }
        let bad = |why: String| BadPattern {
            value: value.to_owned(),
            why,
        };
        if value.len() > MAX_LEN {
            return Err(bad(format!("longer than {MAX_LEN} bytes")));
        }
        regex::RegexBuilder::new(&format!("^(?:{value})$"))
            .size_limit(SIZE_LIMIT)
            .dfa_size_limit(SIZE_LIMIT)
            .nest_limit(NEST_LIMIT)
            .build()
            .map(Self::Pattern)
            .map_err(|e| {
                bad(match e {
                    regex::Error::CompiledTooBig(_) => "it compiles too large".to_owned(),
                    // The syntax error's last line says what is wrong; the lines above it
                    // repeat the expression with a caret under the fault.
                    e => e
                        .to_string()
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("not a valid regular expression")
                        .trim()
                        .trim_start_matches("error: ")
                        .to_owned(),
                })
            })
    }

    /// Reads every `-p` value of a command; the first unusable one is the error.
    pub fn all(values: &[String], prefixes: &[String]) -> Result<Vec<Self>, BadPattern> {
        values.iter().map(|v| Self::new(v, prefixes)).collect()
    }

    /// Whether the project named `name` is selected.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Self::Exact(exact) => exact == name,
            Self::Pattern(re) => re.is_match(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn selected<'a>(value: &str, allowed: &[&str], names: &[&'a str]) -> Vec<&'a str> {
        let m = NameMatcher::new(value, &prefixes(allowed)).unwrap();
        names.iter().copied().filter(|n| m.matches(n)).collect()
    }

    const NAMES: [&str; 4] = ["staging-a", "staging-b", "prod-a", "xstaging-a"];

    #[test]
    fn a_value_with_an_allowed_prefix_is_an_anchored_pattern() {
        assert_eq!(
            selected("staging-.*", &["staging-"], &NAMES),
            ["staging-a", "staging-b"]
        );
        assert_eq!(
            selected("staging-(a|b)", &["staging-"], &NAMES),
            ["staging-a", "staging-b"]
        );
        // Anchored at both ends, alternation included: `staging-a|b` is not `…|b$`.
        assert_eq!(
            selected("staging-a|b", &["staging-"], &NAMES),
            ["staging-a"]
        );
        assert!(selected("staging-", &["staging-"], &NAMES).is_empty());
    }

    #[test]
    fn a_value_without_an_allowed_prefix_is_an_exact_name() {
        assert!(selected("staging-.*", &[], &NAMES).is_empty());
        assert!(selected("staging-.*", &["prod-"], &NAMES).is_empty());
        assert!(selected(".*", &["staging-"], &NAMES).is_empty());
        assert_eq!(selected("prod-a", &["staging-"], &NAMES), ["prod-a"]);
        let dotted = ["a.b", "axb"];
        assert_eq!(selected("a.b", &[], &dotted), ["a.b"], "`.` is no wildcard");
    }

    #[test]
    fn a_bad_pattern_says_why() {
        let e = NameMatcher::new("staging-(", &prefixes(&["staging-"])).unwrap_err();
        assert_eq!(e.value, "staging-(");
        assert!(e.why.contains("unclosed group"), "{e}");
        assert!(!e.why.contains('\n'));
        // Only a pattern is compiled: the same text without an allowed prefix is a name.
        assert!(NameMatcher::new("staging-(", &[]).is_ok());
    }

    #[test]
    fn a_pattern_is_bounded() {
        let allowed = prefixes(&["s"]);
        let huge = "s(a{1000}){1000}";
        assert!(
            NameMatcher::new(huge, &allowed)
                .unwrap_err()
                .why
                .contains("too large")
        );
        let long = format!("s{}", "a".repeat(MAX_LEN));
        assert!(NameMatcher::new(&long, &allowed).is_err());
        let deep = format!("s{}{}", "(".repeat(200), ")".repeat(200));
        assert!(NameMatcher::new(&deep, &allowed).is_err());
    }
}
