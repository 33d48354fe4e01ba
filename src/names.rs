//! Small rules about names shared by the comment grammar and the repo config: directories
//! inside a repository, and "did you mean" suggestions.

/// A directory inside the repository, normalised (`./a/../b/` → `b`; the root is `.`).
pub fn repo_dir(dir: &str) -> Result<String, &'static str> {
    if dir.is_empty() {
        return Err("is empty");
    }
    if dir.starts_with('/') || dir.starts_with('\\') || dir.chars().any(char::is_control) {
        return Err("must be a relative directory inside the repository");
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in dir.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err("leaves the repository");
                }
            }
            p => parts.push(p),
        }
    }
    Ok(if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    })
}

/// A Terraform workspace name as Atlantis allows it (its `ValidateWorkspaceName`): no `/` or
/// `\\`, no `..`, not `.` alone, no leading `-` or `~`, no `$`, no whitespace or control
/// characters. Other characters (`&`, `;`, `@`…) are allowed: bosun passes the name to
/// Terraform in its environment, never through a shell. Empty is allowed: no workspace given,
/// so `default`. The error says what the name does.
pub fn workspace_name(ws: &str) -> Result<(), &'static str> {
    if ws.contains(['/', '\\']) {
        Err("contains `/` or `\\`")
    } else if ws.contains("..") {
        Err("contains `..`")
    } else if ws == "." {
        Err("is `.`")
    } else if ws.starts_with('-') {
        Err("starts with `-`")
    } else if ws.starts_with('~') {
        Err("starts with `~`")
    } else if ws.contains('$') {
        Err("contains `$`")
    } else if ws.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err("contains whitespace or a control character")
    } else if ws.len() > 90 {
        Err("is longer than 90 bytes")
    } else {
        Ok(())
    }
}

/// The candidate within edit distance 2 of `word` (case-insensitive), if any.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (distance(&word, c), c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Whether `given` is a near miss of `word`: edit distance 1 or 2, case aside (Atlantis's
/// `IsSimilarWord`, for its did-you-mean on the executable name).
pub fn similar(given: &str, word: &str) -> bool {
    matches!(
        distance(&given.to_ascii_lowercase(), &word.to_ascii_lowercase()),
        1 | 2
    )
}

/// Levenshtein distance, by `strsim`, of the first 64 characters of `a` (a bound on the work a
/// long word from a comment can cause).
fn distance(a: &str, b: &str) -> usize {
    let a: String = a.chars().take(64).collect();
    strsim::levenshtein(&a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirs() {
        assert_eq!(repo_dir("./a/../b/").unwrap(), "b");
        assert_eq!(repo_dir(".").unwrap(), ".");
        assert_eq!(repo_dir("a//b").unwrap(), "a/b");
        assert_eq!(repo_dir("a\\b").unwrap(), "a/b");
        assert_eq!(repo_dir("a/../..").unwrap_err(), "leaves the repository");
        assert!(repo_dir("/etc").is_err());
        assert!(repo_dir("").is_err());
    }

    #[test]
    fn near_misses_are_one_or_two_edits_away() {
        assert!(similar("altantis", "atlantis") && similar("Atlants", "atlantis"));
        assert!(
            !similar("atlantis", "atlantis"),
            "the word itself is no near miss"
        );
        assert!(!similar("maybe", "atlantis"));
    }

    #[test]
    fn suggestions() {
        assert_eq!(closest("plna", ["plan", "apply"]), Some("plan"));
        assert_eq!(closest("PLAN", ["plan"]), Some("plan"));
        assert_eq!(closest("destroy", ["plan", "apply"]), None);
    }
}
