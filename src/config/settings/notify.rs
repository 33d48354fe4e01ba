//! The notification settings: BOSUN_NOTIFY_URL (BOSUN_DRIFT_NOTIFY_URL is its older name),
//! BOSUN_NOTIFY_KINDS and BOSUN_NOTIFY_LOCK_AGE.

use std::time::Duration;

use super::{Secret, SettingsError, Sources};
use crate::notify::Kinds;

/// A setting's value, trimmed; `None` when unset or blank.
fn value<'a>(sources: &'a Sources, key: &str) -> Option<&'a str> {
    sources.get(key).map(str::trim).filter(|v| !v.is_empty())
}

/// BOSUN_NOTIFY_URL, else BOSUN_DRIFT_NOTIFY_URL; both set to different URLs is an error
/// naming both (never quoting either). Checked to be an http(s) URL.
pub(super) fn url(sources: &Sources) -> Result<Option<Secret>, SettingsError> {
    let (key, url) = match (
        value(sources, "notify_url"),
        value(sources, "drift_notify_url"),
    ) {
        (Some(new), Some(old)) if new != old => {
            return Err(SettingsError::of(
                "notify_url",
                "BOSUN_DRIFT_NOTIFY_URL (--drift-notify-url), its older name, is set to \
                 another URL: set only one of them",
            ));
        }
        (Some(new), _) => ("notify_url", new),
        (None, Some(old)) => ("drift_notify_url", old),
        (None, None) => return Ok(None),
    };
    let url = Secret::new(url);
    crate::notify::check_url(&url).map_err(|e| SettingsError::of(key, format!("{e:#}")))?;
    Ok(Some(url))
}

/// BOSUN_NOTIFY_KINDS: the kinds of message sent (default: all).
pub(super) fn kinds(sources: &Sources) -> Result<Kinds, SettingsError> {
    match sources.get("notify_kinds") {
        None => Ok(Kinds::default()),
        Some(list) => Kinds::parse(list).map_err(|e| SettingsError::of("notify_kinds", e)),
    }
}

/// BOSUN_NOTIFY_LOCK_AGE: a lock held longer is announced (once); more than zero.
pub(super) fn lock_age(sources: &Sources) -> Result<Duration, SettingsError> {
    let age = sources.duration("notify_lock_age")?;
    if age.is_zero() {
        return Err(SettingsError::of("notify_lock_age", "must be more than 0"));
    }
    Ok(age)
}
