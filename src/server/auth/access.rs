//! What signed-in people may do on repositories, as GitHub last said, kept for a minute so a
//! page of many repositories does not ask GitHub for each on every request; bounded in size.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::github::Permission;

/// How long GitHub's answer is believed.
pub const ACCESS_TTL: Duration = Duration::from_secs(60);
/// The most answers kept.
const MAX_ENTRIES: usize = 10_000;

/// (lower-cased login, lower-cased repo) → permission and when GitHub said it.
pub struct AccessCache {
    ttl: Duration,
    entries: Mutex<HashMap<(String, String), (Permission, Instant)>>,
}

impl Default for AccessCache {
    fn default() -> Self {
        Self::with_ttl(ACCESS_TTL)
    }
}

impl AccessCache {
    pub fn with_ttl(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
        }
    }

    fn key(login: &str, repo: &str) -> (String, String) {
        (login.to_ascii_lowercase(), repo.to_ascii_lowercase())
    }

    /// The permission GitHub gave `login` on `repo` less than the TTL ago.
    pub fn get(&self, login: &str, repo: &str) -> Option<Permission> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&Self::key(login, repo))
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(p, _)| *p)
    }

    /// Remembers GitHub's answer; when full, the expired answers go, and if that is not
    /// enough, all of them.
    pub fn put(&self, login: &str, repo: &str, permission: Permission) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(Self::key(login, repo), (permission, Instant::now()));
    }

    /// How many answers are kept.
    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_briefly_per_person_and_repo() {
        let cache = AccessCache::default();
        cache.put("Alice", "acme/Infra", Permission::Write);
        assert_eq!(cache.get("alice", "acme/infra"), Some(Permission::Write));
        assert_eq!(cache.get("bob", "acme/infra"), None);
        assert_eq!(cache.get("alice", "acme/other"), None);
        let brief = AccessCache::with_ttl(Duration::ZERO);
        brief.put("alice", "acme/infra", Permission::Read);
        assert_eq!(brief.get("alice", "acme/infra"), None, "expired");
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = AccessCache::default();
        for i in 0..(MAX_ENTRIES + 5) {
            cache.put(&format!("user{i}"), "acme/infra", Permission::Read);
        }
        assert!(cache.len() <= MAX_ENTRIES);
    }
}
