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

/// BOSUN_DRIFT_SCHEDULE, parsed, in the zone BOSUN_DRIFT_SCHEDULE_TIMEZONE names (checked even
/// when no schedule is set); an error names the setting and the field at fault.
pub(super) fn schedule(sources: &Sources) -> Result<Option<Schedule>, SettingsError> {
    let zone = value(sources, "drift_schedule_timezone")
        .map(|name| {
            name.parse::<chrono_tz::Tz>().map_err(|_| {
                SettingsError::of(
                    "drift_schedule_timezone",
                    format!("{name:?} is not an IANA time zone name (e.g. UTC, Europe/Berlin)"),
                )
            })
        })
        .transpose()?
        .unwrap_or(chrono_tz::Tz::UTC);
    value(sources, "drift_schedule")
        .map(|expr| {
            Schedule::parse(expr)
                .map(|s| s.in_zone(zone))
                .map_err(|e| SettingsError::of("drift_schedule", e.to_string()))
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
