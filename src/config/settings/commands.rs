//! The settings of comment commands and of what bosun writes back: the command names, the
//! flags and commands allowed, the check runs' name and how comments are written.

use super::{CommentMode, SettingsError, Sources};

/// BOSUN_COMMAND_NAMES: at least one, each of letters, digits, `-` and `_`.
pub(super) fn command_names(sources: &Sources) -> Result<Vec<String>, SettingsError> {
    let command_names = sources.list("command_names");
    if command_names.is_empty() {
        return Err(SettingsError::of(
            "command_names",
            "needs at least one name",
        ));
    }
    if let Some(bad) = command_names.iter().find(|n| {
        !n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }) {
        return Err(SettingsError::of(
            "command_names",
            format!("`{bad}` may hold only letters, digits, - and _"),
        ));
    }
    Ok(command_names)
}

/// BOSUN_STATUS_NAME: a non-empty name of letters, digits, `-`, `_` and `.`.
pub(super) fn status_name(sources: &Sources) -> Result<String, SettingsError> {
    let status_name = sources.get_or_default("status_name").trim().to_owned();
    if status_name.is_empty()
        || !status_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(SettingsError::of(
            "status_name",
            format!("`{status_name}` must be a non-empty name of letters, digits, -, _ and ."),
        ));
    }
    Ok(status_name)
}

/// BOSUN_BLOCKED_EXTRA_ARGS: flags (each starts with `-`).
pub(super) fn blocked_extra_args(sources: &Sources) -> Result<Vec<String>, SettingsError> {
    let blocked_extra_args = sources.list("blocked_extra_args");
    if let Some(bad) = blocked_extra_args.iter().find(|a| !a.starts_with('-')) {
        return Err(SettingsError::of(
            "blocked_extra_args",
            format!("`{bad}` is not a flag (it must start with -)"),
        ));
    }
    Ok(blocked_extra_args)
}

/// BOSUN_ALLOW_COMMANDS: `all`, or commands bosun knows.
pub(super) fn allow_commands(
    sources: &Sources,
) -> Result<Vec<crate::command::CommandKind>, SettingsError> {
    crate::command::allowed_kinds(&sources.list("allow_commands")).map_err(|bad| {
        SettingsError::of(
            "allow_commands",
            format!(
                "`{bad}` is not all or one of {}",
                crate::command::ALLOWABLE_COMMANDS.join(", ")
            ),
        )
    })
}

/// BOSUN_REPO_CONFIG_FILE: a relative path inside the repository; `None` when unset or blank.
pub(super) fn repo_config_file(sources: &Sources) -> Result<Option<String>, SettingsError> {
    match sources.get("repo_config_file").map(str::trim) {
        None | Some("") => Ok(None),
        Some(path) => {
            let inside = !path.starts_with('/')
                && path.split('/').all(|part| !part.is_empty() && part != "..");
            if !inside {
                return Err(SettingsError::of(
                    "repo_config_file",
                    format!("`{path}` is not a relative path inside the repository"),
                ));
            }
            Ok(Some(path.to_owned()))
        }
    }
}

/// BOSUN_COMMENT_MODE: `edit` or `new`.
pub(super) fn comment_mode(sources: &Sources) -> Result<CommentMode, SettingsError> {
    let modes = [("edit", CommentMode::Edit), ("new", CommentMode::New)];
    sources.one_of("comment_mode", &modes)
}
