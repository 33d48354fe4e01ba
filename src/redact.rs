//! Secrets out of everything bosun writes: a [`Redactor`] holds the values the configuration
//! marks secret (webhook secrets, the App key, the database password, the environment passed
//! through to Terraform) and those minted at run time (installation tokens, App JWTs), and
//! replaces each of them with `[redacted]` wherever it appears — as it is, JSON- or
//! Debug-escaped, form-encoded, or inside base64 at any alignment.
//!
//! It is applied at the chokepoints: Terraform output right after it is captured
//! ([`crate::terraform::Redacting`]), every body written to GitHub
//! ([`crate::github::RedactingGitHub`]), job summaries, and every log line
//! ([`crate::telemetry`]).

use std::borrow::Cow;
use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, LazyLock, RwLock};
use std::time::{Duration, SystemTime};

use aho_corasick::AhoCorasick;

/// What a secret becomes.
pub const REDACTED: &str = "[redacted]";

/// Values shorter than this are not redacted: a secret like `1` would wipe every digit.
pub const MIN_LEN: usize = 8;

/// Secrets minted at run time kept at most (oldest forgotten first).
const MAX_DYNAMIC: usize = 4096;

/// How long after its expiry a run-time secret is still redacted.
const EXPIRED_GRACE: Duration = Duration::from_secs(3600);

/// A shared set of secret values. Cloning shares the set; [`Redactor::process`] is the one
/// the whole process writes logs through.
#[derive(Clone, Default)]
pub struct Redactor(Arc<RwLock<Inner>>);

#[derive(Default)]
struct Inner {
    fixed: BTreeSet<String>,
    /// Secrets with an expiry, oldest first.
    dynamic: VecDeque<(String, SystemTime)>,
    /// Built from the secrets on first use after a change.
    matcher: Option<Arc<AhoCorasick>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.read();
        f.debug_struct("Redactor")
            .field("secrets", &(inner.fixed.len() + inner.dynamic.len()))
            .finish()
    }
}

static PROCESS: LazyLock<Redactor> = LazyLock::new(Redactor::default);

impl Redactor {
    /// The process-wide set: log lines are written through it and run-time tokens land in it.
    pub fn process() -> Self {
        PROCESS.clone()
    }

    /// Adds a secret for good. Returns false (and adds nothing) when it is shorter than
    /// [`MIN_LEN`], so the caller can warn that it cannot be redacted.
    pub fn add(&self, secret: &str) -> bool {
        if !long_enough(secret) {
            return false;
        }
        let mut inner = self.write();
        if inner.fixed.insert(secret.to_owned()) {
            inner.matcher = None;
        }
        true
    }

    /// Adds a secret that stops mattering at `expires_at` (an installation token); it is
    /// forgotten a while after that. Returns false when it is too short to redact.
    pub fn add_until(&self, secret: &str, expires_at: SystemTime) -> bool {
        if !long_enough(secret) {
            return false;
        }
        let now = SystemTime::now();
        let mut inner = self.write();
        if inner.fixed.contains(secret) || inner.dynamic.iter().any(|(s, _)| s == secret) {
            return true;
        }
        inner
            .dynamic
            .retain(|(_, until)| *until + EXPIRED_GRACE > now);
        while inner.dynamic.len() >= MAX_DYNAMIC {
            inner.dynamic.pop_front();
        }
        inner.dynamic.push_back((secret.to_owned(), expires_at));
        inner.matcher = None;
        true
    }

    /// `text` with every secret replaced by [`REDACTED`]; borrowed when there was none.
    /// Overlapping or adjacent secrets become one `[redacted]`.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(matcher) = self.matcher() else {
            return Cow::Borrowed(text);
        };
        let mut found: Vec<(usize, usize)> = matcher
            .find_overlapping_iter(text)
            .map(|m| (m.start(), m.end()))
            .collect();
        if found.is_empty() {
            return Cow::Borrowed(text);
        }
        found.sort_unstable();
        // Overlapping or touching matches merge into one span.
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(found.len());
        for (start, end) in found {
            match spans.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => spans.push((start, end)),
            }
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, end) in spans {
            out.push_str(text.get(at..start).unwrap_or_default());
            out.push_str(REDACTED);
            at = end;
        }
        out.push_str(text.get(at..).unwrap_or_default());
        Cow::Owned(out)
    }

    /// [`Redactor::redact`] into an owned string.
    pub fn redact_owned(&self, text: String) -> String {
        match self.redact(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(redacted) => redacted,
        }
    }

    fn matcher(&self) -> Option<Arc<AhoCorasick>> {
        if let Some(m) = &self.read().matcher {
            return Some(m.clone());
        }
        let mut inner = self.write();
        if inner.matcher.is_none() {
            let secrets = inner
                .fixed
                .iter()
                .chain(inner.dynamic.iter().map(|(s, _)| s));
            let needles: BTreeSet<String> = secrets.flat_map(|s| needles(s)).collect();
            if needles.is_empty() {
                return None;
            }
            match AhoCorasick::new(needles) {
                Ok(m) => inner.matcher = Some(Arc::new(m)),
                Err(e) => {
                    // Only a pattern set too large for the automaton; nothing secret in `e`.
                    eprintln!("bosun: cannot build the secret redactor: {e}");
                    return None;
                }
            }
        }
        inner.matcher.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }
}

fn long_enough(secret: &str) -> bool {
    secret.trim().chars().count() >= MIN_LEN
}

/// Every form of `secret` that is looked for.
fn needles(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_owned()];
    let trimmed = secret.trim();
    if trimmed != secret {
        out.push(trimmed.to_owned());
    }
    // A multi-line secret (a PEM key) may be printed a line at a time; its armour lines are
    // not secret.
    if trimmed.contains('\n') {
        out.extend(
            trimmed
                .lines()
                .map(str::trim)
                .filter(|l| !l.starts_with("-----") && long_enough(l))
                .map(str::to_owned),
        );
    }
    if let Ok(json) = serde_json::to_string(trimmed)
        && let Some(inner) = json.get(1..json.len().saturating_sub(1))
    {
        out.push(inner.to_owned());
    }
    let debug = format!("{trimmed:?}");
    if let Some(inner) = debug.get(1..debug.len().saturating_sub(1)) {
        out.push(inner.to_owned());
    }
    if let Ok(form) = serde_urlencoded::to_string([("", trimmed)])
        && let Some(inner) = form.strip_prefix('=')
    {
        out.push(inner.to_owned());
    }
    for engine in [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE,
    ] {
        out.extend(base64_fragments(engine, trimmed.as_bytes()));
    }
    out.retain(|n| long_enough(n));
    out
}

/// The characters of `secret`'s base64 that do not depend on the bytes around it, for each of
/// the three alignments it can have inside a longer encoded text.
fn base64_fragments(engine: &impl base64::Engine, secret: &[u8]) -> Vec<String> {
    (0..3usize)
        .filter_map(|pad| {
            let mut bytes = vec![0u8; pad];
            bytes.extend_from_slice(secret);
            let encoded = engine.encode(&bytes);
            // Character i carries bits 6i..6i+6: keep those wholly inside the secret.
            let first = (8 * pad).div_ceil(6);
            let last = 8 * bytes.len() / 6;
            encoded.get(first..last).map(str::to_owned)
        })
        .collect()
}

#[cfg(test)]
mod tests;
