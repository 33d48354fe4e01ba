//! A commit, by its full hex sha.

/// A commit's sha as GitHub and git give it (40 hex digits for SHA-1).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Sha(String);

impl Sha {
    pub fn new(sha: impl Into<String>) -> Self {
        Self(sha.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 7 characters, as commits are shown to people (all of it when shorter).
    pub fn short(&self) -> &str {
        self.0.get(..7).unwrap_or(&self.0)
    }
}

impl From<&str> for Sha {
    fn from(sha: &str) -> Self {
        Self(sha.to_owned())
    }
}

impl PartialEq<str> for Sha {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<String> for Sha {
    fn eq(&self, other: &String) -> bool {
        self.0 == *other
    }
}

impl PartialEq<&str> for Sha {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Shown as its inner value, as before it had a type: logs, job summaries and snapshots read
/// the same.
impl std::fmt::Debug for Sha {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::fmt::Display for Sha {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Sha;

    #[test]
    fn short_takes_seven_characters_or_all_of_a_shorter_one() {
        assert_eq!(Sha::new("0123456789abcdef").short(), "0123456");
        assert_eq!(Sha::new("abc").short(), "abc");
        // Not on a character boundary: the whole sha rather than a panic.
        assert_eq!(Sha::new("ééééé").short(), "ééééé");
    }

    #[test]
    fn serialises_as_its_string() {
        let sha = Sha::new("abc123");
        assert_eq!(serde_json::to_string(&sha).unwrap(), "\"abc123\"");
        assert_eq!(serde_json::from_str::<Sha>("\"abc123\"").unwrap(), sha);
    }
}
