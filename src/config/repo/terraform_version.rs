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

/// Whether the Terraform of version `have` (like `1.9.8`) is the `want` a project names:
/// every part `want` gives (`1.9`, `1.9.8`, `1.6.0-beta1`) is `have`'s.
pub fn matches(want: &str, have: &str) -> bool {
    let want = want.strip_prefix('v').unwrap_or(want);
    let have = have.strip_prefix('v').unwrap_or(have);
    let split = |v: &str| -> (Vec<String>, Option<String>) {
        let (numbers, rest) = match v.split_once(['-', '+']) {
            Some((n, _)) => (n, Some(v.get(n.len()..).unwrap_or_default().to_owned())),
            None => (v, None),
        };
        (numbers.split('.').map(str::to_owned).collect(), rest)
    };
    let (want_parts, want_rest) = split(want);
    let (have_parts, have_rest) = split(have);
    let numbers_match = want_parts.len() <= have_parts.len()
        && want_parts.iter().zip(&have_parts).all(|(w, h)| w == h);
    numbers_match && (want_rest.is_none() || want_rest == have_rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_matches_the_terraform_with_every_part_it_gives() {
        for (want, have) in [
            ("1.9.8", "1.9.8"),
            ("v1.9.8", "1.9.8"),
            ("1.9", "1.9.8"),
            ("1", "1.15.5"),
            ("1.6.0-beta1", "1.6.0-beta1"),
        ] {
            assert!(matches(want, have), "{want} {have}");
        }
        for (want, have) in [
            ("1.9.7", "1.9.8"),
            ("1.9", "1.10.0"),
            ("1.1", "1.15.5"),
            ("0.11.0", "1.15.5"),
            ("1.6.0-beta1", "1.6.0"),
            ("1.6.0", "1.6"),
        ] {
            assert!(!matches(want, have), "{want} {have}");
        }
    }

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
