//! The settings of the GitHub App: the API's URL, the app's id and its slug.

use super::{SettingsError, Sources};

/// BOSUN_GITHUB_API_URL without its trailing `/`: an http(s) URL.
pub(super) fn api_url(sources: &Sources) -> Result<String, SettingsError> {
    let api_url = sources
        .get_or_default("github_api_url")
        .trim()
        .trim_end_matches('/')
        .to_owned();
    if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
        return Err(SettingsError::of(
            "github_api_url",
            format!("`{api_url}` is not an http(s) URL"),
        ));
    }
    Ok(api_url)
}

/// BOSUN_GITHUB_APP_ID: a positive number (required).
pub(super) fn app_id(sources: &Sources) -> Result<u64, SettingsError> {
    let app_id_raw = sources.required("github_app_id")?.trim();
    app_id_raw
        .parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            SettingsError::of(
                "github_app_id",
                format!("`{app_id_raw}` is not a GitHub App id (a positive number)"),
            )
        })
}

/// BOSUN_GITHUB_APP_SLUG without a leading `@`; `None` when unset or blank.
pub(super) fn app_slug(sources: &Sources) -> Option<String> {
    sources
        .get("github_app_slug")
        .map(|s| s.trim().trim_start_matches('@').to_owned())
        .filter(|s| !s.is_empty())
}
