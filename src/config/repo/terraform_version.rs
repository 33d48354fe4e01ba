//! A project's `terraform_version`: a version as Atlantis reads it (`v1.2.3`, `1.2`, `1`,
//! `1.6.0-beta1`), or a constraint as `required_version` writes it (`>= 1.5, < 1.8`,
//! `~> 1.6`); see [`crate::versions`] for what a project then runs.

use crate::versions::Constraint;

/// The key's value as kept (a leading `v` dropped), or why it is neither a version nor a
/// constraint.
pub(super) fn read(text: &str) -> Result<String, String> {
    Constraint::parse_key(text).map_err(|_| {
        format!(
            "`{text}` is not a version or a constraint (like `1.9.0`, `>= 1.5, < 1.8` or `~> 1.6`)"
        )
    })?;
    let text = text.trim();
    Ok(text.strip_prefix('v').unwrap_or(text).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_constraints_are_read() {
        for (good, kept) in [
            ("v1.2.3", "1.2.3"),
            ("1", "1"),
            ("1.9", "1.9"),
            ("1.6.0-beta1", "1.6.0-beta1"),
            ("0.11.0", "0.11.0"),
            (">= 1.5, < 1.8", ">= 1.5, < 1.8"),
            ("~> 1.6", "~> 1.6"),
        ] {
            assert_eq!(read(good).as_deref(), Ok(kept), "{good}");
        }
        for bad in ["", "v", "1.x", "1.2.3.4", "1..2", "latest", ">="] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }
}
