//! What the notification URL hears, and how: each kind of message can be turned off
//! (BOSUN_NOTIFY_KINDS), and messages wait in a bounded queue that one task sends in order,
//! so a slow or failing webhook never slows or fails the work that announces something.

use crate::ids::PrNumber;
use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::Notifier;

/// The most messages waiting to be sent; more are dropped (and logged).
const QUEUE: usize = 256;

/// A kind of message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A project's drift status changed.
    Drift,
    /// An apply succeeded.
    Applied,
    /// An apply failed.
    ApplyFailed,
    /// An apply was cut short by a restart.
    ApplyInterrupted,
    /// An apply on merge was held back (applies locked, the plan changed, no approval).
    ApplyHeld,
    /// A lock was held longer than BOSUN_NOTIFY_LOCK_AGE.
    LockHeld,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Drift,
        Kind::Applied,
        Kind::ApplyFailed,
        Kind::ApplyInterrupted,
        Kind::ApplyHeld,
        Kind::LockHeld,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Drift => "drift",
            Kind::Applied => "applied",
            Kind::ApplyFailed => "apply_failed",
            Kind::ApplyInterrupted => "apply_interrupted",
            Kind::ApplyHeld => "apply_held",
            Kind::LockHeld => "lock_held",
        }
    }
}

/// The kinds sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kinds(BTreeSet<Kind>);

impl Default for Kinds {
    fn default() -> Self {
        Self(Kind::ALL.into_iter().collect())
    }
}

impl Kinds {
    /// A comma-separated list of kind names; an unknown name is an error listing the known.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut kinds = BTreeSet::new();
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let kind = Kind::ALL
                .into_iter()
                .find(|k| k.name().eq_ignore_ascii_case(word))
                .ok_or_else(|| {
                    let known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
                    format!("unknown kind `{word}` (known: {})", known.join(", "))
                })?;
            kinds.insert(kind);
        }
        Ok(Self(kinds))
    }

    pub fn contains(&self, kind: Kind) -> bool {
        self.0.contains(&kind)
    }
}

/// Takes messages for the notification URL and sends them in the background.
#[derive(Debug, Clone)]
pub struct Outbox {
    kinds: Kinds,
    /// GitHub's web address, for links to pull requests.
    web: String,
    queue: mpsc::Sender<String>,
}

impl Outbox {
    /// An outbox sending through `notifier` the `kinds` chosen, linking to pull requests on
    /// the GitHub whose REST API is `api_url`; starts its sending task (call it inside the
    /// runtime).
    pub fn start(notifier: Arc<Notifier>, kinds: Kinds, api_url: &str) -> Self {
        let (queue, mut rx) = mpsc::channel::<String>(QUEUE);
        tokio::spawn(async move {
            while let Some(text) = rx.recv().await {
                // The notifier's errors never quote the URL.
                if let Err(e) = notifier.send(&text).await {
                    tracing::warn!(error = format!("{e:#}"), "a notification failed");
                }
            }
        });
        Self {
            kinds,
            web: web_url_of(api_url),
            queue,
        }
    }

    /// The web address of pull request `pr` of `repo` (`owner/name`).
    pub fn pr_link(&self, repo: &str, pr: PrNumber) -> String {
        format!("{}/{repo}/pull/{pr}", self.web)
    }

    /// Queues `text` when `kind` is sent; never waits.
    pub fn post(&self, kind: Kind, text: String) {
        if !self.kinds.contains(kind) {
            return;
        }
        if self.queue.try_send(text).is_err() {
            tracing::warn!(
                kind = kind.name(),
                "a notification was dropped: {QUEUE} are already waiting"
            );
        }
    }
}

/// GitHub's web address from its REST API's: github.com for api.github.com, the host for an
/// Enterprise Server's `/api/v3`, else the API's address itself.
pub fn web_url_of(api_url: &str) -> String {
    let api = api_url.trim_end_matches('/');
    if api.eq_ignore_ascii_case("https://api.github.com") {
        return "https://github.com".into();
    }
    api.strip_suffix("/api/v3").unwrap_or(api).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_go_to_githubs_web_pages() {
        assert_eq!(web_url_of("https://api.github.com/"), "https://github.com");
        assert_eq!(
            web_url_of("https://ghe.example/api/v3"),
            "https://ghe.example"
        );
        assert_eq!(web_url_of("http://127.0.0.1:9"), "http://127.0.0.1:9");
    }

    #[test]
    fn kinds_parse_from_a_comma_list() {
        let k = Kinds::parse(" applied , APPLY_FAILED,").unwrap();
        assert!(k.contains(Kind::Applied) && k.contains(Kind::ApplyFailed));
        assert!(!k.contains(Kind::Drift));
        assert!(Kinds::parse("").unwrap().0.is_empty());
        let e = Kinds::parse("applied,aplied").unwrap_err();
        assert!(
            e.starts_with("unknown kind `aplied` (known: drift, applied"),
            "{e}"
        );
        assert!(Kind::ALL.iter().all(|k| Kinds::default().contains(*k)));
    }
}
