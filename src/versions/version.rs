//! Versions of Terraform and OpenTofu (`1.9.3`, `1.6.0-beta1`) and the constraints that name
//! them, read as Terraform reads `required_version` (`>= 1.5, < 1.8`, `~> 1.6`, `!= 1.7.0`,
//! `1.9.3`), plus the repo config's own reading of a partial `terraform_version` (`1.9`: any
//! 1.9.x).

use std::cmp::Ordering;
use std::fmt;

/// A released version: three numbers and an optional pre-release (`-beta1`, `-rc2`,
/// `-alpha20240101`). Build metadata (`+ent`) is not a version bosun runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version {
    pub numbers: [u64; 3],
    pub pre: Option<String>,
}

impl Version {
    /// A full version, `v` allowed in front: `1.9.3`, `v1.6.0-beta1`; `None` otherwise.
    pub fn parse(text: &str) -> Option<Self> {
        let partial = Partial::parse(text)?;
        (partial.given == 3).then_some(Self {
            numbers: partial.numbers,
            pre: partial.pre,
        })
    }

    pub fn is_pre_release(&self) -> bool {
        self.pre.is_some()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c] = self.numbers;
        write!(f, "{a}.{b}.{c}")?;
        if let Some(pre) = &self.pre {
            write!(f, "-{pre}")?;
        }
        Ok(())
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.numbers
            .cmp(&other.numbers)
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => compare_pre(a, b),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Pre-releases compared as semver compares them: dot-separated parts, numbers numerically
/// and below words, words by their bytes, and then by the digits ending a word (`beta2` <
/// `beta10`).
fn compare_pre(a: &str, b: &str) -> Ordering {
    let key = |part: &str| -> (u8, u64, String, u64) {
        if let Ok(n) = part.parse::<u64>() {
            return (0, n, String::new(), 0);
        }
        let digits = part.len() - part.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (word, number) = part.split_at(part.len() - digits);
        (1, 0, word.to_owned(), number.parse().unwrap_or(0))
    };
    let mut a = a.split('.');
    let mut b = b.split('.');
    loop {
        match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match key(x).cmp(&key(y)) {
                Ordering::Equal => {}
                other => return other,
            },
        }
    }
}

/// A version as a constraint writes it: one to three numbers (`1`, `1.5`, `1.5.7`), the
/// missing ones 0, and an optional pre-release.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Partial {
    numbers: [u64; 3],
    /// How many numbers were written.
    given: usize,
    pre: Option<String>,
}

impl Partial {
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let (numbers, pre) = match text.split_once('-') {
            Some((n, pre)) => (n, Some(pre)),
            None => (text, None),
        };
        if let Some(pre) = pre {
            let ok = !pre.is_empty()
                && pre.split('.').all(|p| {
                    !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if !ok {
                return None;
            }
        }
        let parts: Vec<&str> = numbers.split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return None;
        }
        let mut out = [0u64; 3];
        for (slot, part) in out.iter_mut().zip(&parts) {
            if part.is_empty() || part.len() > 9 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            *slot = part.parse().ok()?;
        }
        Some(Self {
            numbers: out,
            given: parts.len(),
            pre: pre.map(str::to_owned),
        })
    }

    fn version(&self) -> Version {
        Version {
            numbers: self.numbers,
            pre: self.pre.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    /// `~>`: at least this, and below the next of the second-to-last number written.
    Pessimistic,
    /// The repo config's bare `terraform_version` (`1.9`): every number written is the
    /// version's.
    Prefix,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Part {
    op: Op,
    at: Partial,
}

impl Part {
    fn allows(&self, v: &Version) -> bool {
        let at = self.at.version();
        match self.op {
            Op::Eq => *v == at,
            Op::Ne => *v != at,
            Op::Gt => *v > at,
            Op::Ge => *v >= at,
            Op::Lt => *v < at,
            Op::Le => *v <= at,
            Op::Pessimistic => {
                // `~> 1.6` keeps 1.x, `~> 1.6.0` keeps 1.6.x, `~> 1` keeps 1.x.
                let keep = self.at.given.saturating_sub(1).max(1);
                *v >= at && v.numbers[..keep] == self.at.numbers[..keep]
            }
            Op::Prefix => {
                v.numbers[..self.at.given] == self.at.numbers[..self.at.given]
                    && (self.at.pre.is_none() || v.pre == self.at.pre)
            }
        }
    }
}

/// Versions a project accepts: every part must hold (`>= 1.5, < 1.8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    parts: Vec<Part>,
    text: String,
}

impl Constraint {
    /// A constraint as `required_version` writes it: comma-separated parts, each an operator
    /// (`=`, `!=`, `>`, `>=`, `<`, `<=`, `~>`, or none: `=`) and a version of one to three
    /// numbers.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::parse_with(text, Op::Eq)
    }

    /// A repo config's `terraform_version`: a constraint, where a bare version (`1.9`, `v1.9.3`)
    /// matches every version with the numbers it gives.
    pub fn parse_key(text: &str) -> Result<Self, String> {
        Self::parse_with(text, Op::Prefix)
    }

    fn parse_with(text: &str, bare: Op) -> Result<Self, String> {
        let mut parts = Vec::new();
        for raw in text.split(',') {
            let raw = raw.trim();
            let ops = [
                (">=", Op::Ge),
                ("<=", Op::Le),
                ("!=", Op::Ne),
                ("~>", Op::Pessimistic),
                ("=", Op::Eq),
                (">", Op::Gt),
                ("<", Op::Lt),
            ];
            let (op, rest) = ops
                .iter()
                .find_map(|(sym, op)| raw.strip_prefix(sym).map(|rest| (*op, rest)))
                .unwrap_or((bare, raw));
            let at = Partial::parse(rest).ok_or_else(|| {
                format!("`{raw}` is not a version constraint (like `1.9.3`, `>= 1.5, < 1.8` or `~> 1.6`)")
            })?;
            parts.push(Part { op, at });
        }
        Ok(Self {
            parts,
            text: text.trim().to_owned(),
        })
    }

    /// Both constraints at once (a project's `required_version` in several files).
    pub fn and(mut self, other: Self) -> Self {
        self.parts.extend(other.parts);
        self.text = format!("{}, {}", self.text, other.text);
        self
    }

    /// Whether `v` meets every part. A pre-release meets it only when a part names a
    /// pre-release of the same three numbers (so `>= 1.5` never picks `1.9.0-rc1`).
    pub fn allows(&self, v: &Version) -> bool {
        if v.is_pre_release()
            && !self
                .parts
                .iter()
                .any(|p| p.at.pre.is_some() && p.at.numbers == v.numbers)
        {
            return false;
        }
        self.parts.iter().all(|p| p.allows(v))
    }

    /// The one version this constraint names exactly (`1.9.3`, `= 1.9.3`, `v1.9.3`), if any.
    pub fn exact(&self) -> Option<Version> {
        match self.parts.as_slice() {
            [p] if matches!(p.op, Op::Eq | Op::Prefix) && p.at.given == 3 => Some(p.at.version()),
            _ => None,
        }
    }

    /// The highest of `versions` this constraint allows.
    pub fn highest<'a>(&self, versions: impl IntoIterator<Item = &'a Version>) -> Option<Version> {
        versions
            .into_iter()
            .filter(|v| self.allows(v))
            .max()
            .cloned()
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn allows(constraint: &str, version: &str) -> bool {
        Constraint::parse(constraint).unwrap().allows(&v(version))
    }

    #[test]
    fn versions_parse_and_order_as_semver() {
        assert_eq!(v("v1.9.3").to_string(), "1.9.3");
        assert_eq!(v("1.6.0-beta1").pre.as_deref(), Some("beta1"));
        for bad in [
            "",
            "1",
            "1.9",
            "1.9.3.4",
            "1..3",
            "x.y.z",
            "1.9.3-",
            "1.9.3+ent",
            "1.9.3-a b",
        ] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
        let mut list: Vec<Version> = [
            "1.10.0",
            "1.9.3",
            "1.10.0-rc1",
            "1.10.0-beta10",
            "1.10.0-beta2",
            "1.2.0",
        ]
        .into_iter()
        .map(v)
        .collect();
        list.sort();
        let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "1.2.0",
                "1.9.3",
                "1.10.0-beta2",
                "1.10.0-beta10",
                "1.10.0-rc1",
                "1.10.0"
            ]
        );
    }

    #[test]
    fn constraints_read_as_terraform_reads_required_version() {
        let cases = [
            (">= 1.5, < 1.8", "1.7.5", true),
            (">= 1.5, < 1.8", "1.8.0", false),
            (">= 1.5, < 1.8", "1.4.9", false),
            ("~> 1.6", "1.6.0", true),
            ("~> 1.6", "1.9.2", true),
            ("~> 1.6", "2.0.0", false),
            ("~> 1.6", "1.5.9", false),
            ("~> 1.6.0", "1.6.9", true),
            ("~> 1.6.0", "1.7.0", false),
            ("~> 1", "1.9.0", true),
            ("~> 1", "2.0.0", false),
            ("1.9.3", "1.9.3", true),
            ("= 1.9.3", "1.9.4", false),
            ("!= 1.7.0", "1.7.0", false),
            ("!= 1.7.0", "1.7.1", true),
            ("> 1.5", "1.5.0", false),
            ("> 1.5", "1.5.1", true),
            ("<= 1.5", "1.5.0", true),
            (">=1.0.0", "1.15.5", true),
            (">= 1.5", "1.9.0-rc1", false),
            (">= 1.9.0-rc1", "1.9.0-rc1", true),
            ("= 1.6.0-beta1", "1.6.0-beta1", true),
        ];
        for (c, version, want) in cases {
            assert_eq!(allows(c, version), want, "{c} / {version}");
        }
        for bad in ["", ">= ", "1.x", ">= 1.5,", "latest", "=> 1.0", "1.2.3.4"] {
            assert!(Constraint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_repo_config_key_reads_a_bare_partial_version_as_every_part_it_gives() {
        let key =
            |text: &str, version: &str| Constraint::parse_key(text).unwrap().allows(&v(version));
        assert!(key("1.9", "1.9.8"));
        assert!(!key("1.9", "1.10.0"));
        assert!(key("v1.9.8", "1.9.8"));
        assert!(!key("1.9.7", "1.9.8"));
        assert!(key("1", "1.15.5"));
        assert!(key("1.6.0-beta1", "1.6.0-beta1"));
        assert!(!key("1.6.0-beta1", "1.6.0"));
        assert!(key(">= 1.5, < 1.8", "1.7.0"));
        assert_eq!(
            Constraint::parse_key("v1.9.3").unwrap().exact(),
            Some(v("1.9.3"))
        );
        assert_eq!(Constraint::parse_key("1.9").unwrap().exact(), None);
        assert_eq!(Constraint::parse(">= 1.9.3").unwrap().exact(), None);
    }

    #[test]
    fn a_constraint_picks_the_highest_stable_version_it_allows() {
        let available: Vec<Version> = ["1.5.7", "1.6.2", "1.6.3", "1.7.0-rc1", "1.7.5", "1.8.0"]
            .into_iter()
            .map(v)
            .collect();
        let pick = |c: &str| {
            Constraint::parse(c)
                .unwrap()
                .highest(&available)
                .map(|v| v.to_string())
        };
        assert_eq!(pick(">= 1.5, < 1.8").as_deref(), Some("1.7.5"));
        assert_eq!(pick("~> 1.6.0").as_deref(), Some("1.6.3"));
        assert_eq!(pick("< 1.6").as_deref(), Some("1.5.7"));
        assert_eq!(pick(">= 2.0"), None);
        let both = Constraint::parse(">= 1.6")
            .unwrap()
            .and(Constraint::parse("< 1.7").unwrap());
        assert_eq!(
            both.highest(&available).map(|v| v.to_string()).as_deref(),
            Some("1.6.3")
        );
        assert_eq!(both.to_string(), ">= 1.6, < 1.7");
    }
}
