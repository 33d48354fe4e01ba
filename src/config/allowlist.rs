//! Which repositories bosun serves: globs over `owner/name`.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// Comma-separated globs over `owner/name`, matched case-insensitively as GitHub does.
/// An empty list refuses every repository.
#[derive(Clone, Debug)]
pub struct RepoAllowlist {
    patterns: Vec<String>,
    set: GlobSet,
}

impl RepoAllowlist {
    pub fn parse(list: &str) -> Result<Self, String> {
        let patterns: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        let mut builder = GlobSetBuilder::new();
        for pattern in &patterns {
            if !pattern.contains('/') {
                return Err(format!(
                    "`{pattern}` is not of the form owner/name (globs allowed, like acme/*)"
                ));
            }
            let glob = GlobBuilder::new(pattern)
                .case_insensitive(true)
                .literal_separator(true)
                .build()
                .map_err(|e| format!("`{pattern}` is not a valid glob: {e}"))?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|e| e.to_string())?;
        Ok(Self { patterns, set })
    }

    pub fn allows(&self, full_name: &str) -> bool {
        self.set.is_match(full_name)
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_owner_and_name() {
        let list = RepoAllowlist::parse("acme/*, other/infra").unwrap();
        assert!(list.allows("acme/infra"));
        assert!(list.allows("ACME/Infra"));
        assert!(list.allows("other/infra"));
        assert!(!list.allows("other/infra2"));
        assert!(!list.allows("acmex/infra"));
        assert!(!list.allows("evil/acme"));
    }

    #[test]
    fn empty_refuses_everything() {
        let list = RepoAllowlist::parse("").unwrap();
        assert!(!list.allows("acme/infra"));
        assert!(list.patterns().is_empty());
    }

    #[test]
    fn star_does_not_cross_the_slash() {
        let list = RepoAllowlist::parse("*").unwrap_err();
        assert!(list.contains("owner/name"));
        let list = RepoAllowlist::parse("*/*").unwrap();
        assert!(list.allows("a/b"));
    }

    #[test]
    fn bad_glob_is_named() {
        let err = RepoAllowlist::parse("acme/[").unwrap_err();
        assert!(err.contains("acme/["), "{err}");
    }
}
