//! A project's `terraform_version`, checked as Atlantis checks it (`v1.2.3`, `1.2`, `1`,
//! `1.6.0-beta1`).

/// Whether `text` is a version: one to three dot-separated numbers after an optional `v`,
/// then an optional `-pre-release` or `+build` part.
pub(super) fn is_version(text: &str) -> bool {
    let text = text.strip_prefix('v').unwrap_or(text);
    let numbers = text.split_once(['-', '+']).map_or(text, |(n, _)| n);
    let parts: Vec<&str> = numbers.split('.').collect();
    parts.len() <= 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_as_atlantis_reads_them() {
        for good in ["v1.2.3", "1", "1.9", "1.6.0-beta1", "0.11.0"] {
            assert!(is_version(good), "{good}");
        }
        for bad in ["", "v", "1.x", ">= 1.0", "1.2.3.4", "1..2", "~> 1.0"] {
            assert!(!is_version(bad), "{bad}");
        }
    }
}
