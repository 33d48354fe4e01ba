//! A pull request, by its number in its repository.

/// A pull request's number, unique within its repository only.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct PrNumber(pub u64);

/// Shown as its inner value, as before it had a type: logs, job summaries and snapshots read
/// the same.
impl std::fmt::Debug for PrNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::fmt::Display for PrNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for PrNumber {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::PrNumber;

    #[test]
    fn parses_and_serialises_as_its_number() {
        assert_eq!("42".parse::<PrNumber>().unwrap(), PrNumber(42));
        assert!("4x".parse::<PrNumber>().is_err());
        assert_eq!(serde_json::to_string(&PrNumber(42)).unwrap(), "42");
        assert_eq!(format!("{:?} {}", PrNumber(42), PrNumber(42)), "42 42");
    }
}
