//! A project's `terraform_distribution` (Atlantis's key): which program the project expects,
//! Terraform or OpenTofu, and which one a `<bin> version` output shows the server runs.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    Terraform,
    OpenTofu,
}

impl Distribution {
    /// The key's value (`terraform`, `opentofu`); `None`: neither.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "terraform" => Some(Self::Terraform),
            "opentofu" => Some(Self::OpenTofu),
            _ => None,
        }
    }

    /// The distribution a `<bin> version` output names on its first line (`Terraform v1.9.8`,
    /// `OpenTofu v1.8.0`); `None`: neither.
    pub fn of_version_output(output: &str) -> Option<Self> {
        let first = output.lines().map(str::trim).find(|l| !l.is_empty())?;
        if first.starts_with("OpenTofu v") {
            Some(Self::OpenTofu)
        } else if first.starts_with("Terraform v") {
            Some(Self::Terraform)
        } else {
            None
        }
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Terraform => "terraform",
            Self::OpenTofu => "opentofu",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_output_names_the_distribution() {
        assert_eq!(
            Distribution::of_version_output("Terraform v1.15.5\non linux_amd64\n"),
            Some(Distribution::Terraform)
        );
        assert_eq!(
            Distribution::of_version_output("OpenTofu v1.8.0\non linux_amd64\n"),
            Some(Distribution::OpenTofu)
        );
        assert_eq!(Distribution::of_version_output("something else"), None);
        assert_eq!(Distribution::of_version_output(""), None);
    }

    #[test]
    fn the_key_takes_terraform_or_opentofu() {
        assert_eq!(
            Distribution::parse("opentofu"),
            Some(Distribution::OpenTofu)
        );
        assert_eq!(
            Distribution::parse("terraform"),
            Some(Distribution::Terraform)
        );
        assert_eq!(Distribution::parse("tofu"), None);
    }
}
