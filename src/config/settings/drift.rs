//! The settings of drift detection and of bosun's HTTP API: the schedule and the API's token
//! (the notification URL is in `notify`).

use super::{Secret, SettingsError, Sources};
use crate::schedule::Schedule;

/// The API token's least length: a shorter one is guessable, and too short to redact.
const MIN_API_TOKEN: usize = 16;

/// A setting's value, trimmed; `None` when unset or blank.
fn value<'a>(sources: &'a Sources, key: &str) -> Option<&'a str> {
    sources.get(key).map(str::trim).filter(|v| !v.is_empty())
}

/// BOSUN_DRIFT_SCHEDULE, parsed; an error names the setting and the field at fault.
pub(super) fn schedule(sources: &Sources) -> Result<Option<Schedule>, SettingsError> {
    value(sources, "drift_schedule")
        .map(|expr| {
            Schedule::parse(expr).map_err(|e| SettingsError::of("drift_schedule", e.to_string()))
        })
        .transpose()
}

/// BOSUN_API_TOKEN or the file BOSUN_API_TOKEN_FILE names, at least [`MIN_API_TOKEN`]
/// characters (never quoted in an error).
pub(super) fn api_token(sources: &Sources) -> Result<Option<Secret>, SettingsError> {
    let given = super::value_or_file(sources, "api_token", "api_token_file")?;
    let Some(token) = given
        .as_ref()
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
    else {
        return Ok(None);
    };
    if token.chars().count() < MIN_API_TOKEN {
        return Err(SettingsError::of(
            "api_token",
            format!("must be at least {MIN_API_TOKEN} characters (a short token is guessable)"),
        ));
    }
    Ok(Some(Secret::new(token)))
}
