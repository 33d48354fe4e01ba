//! Configuration: server settings (flags, environment, TOML file) and, in later issues,
//! the repo config a pull request carries.

mod allowlist;
mod flags;
pub mod pass_env;
pub mod powers;
pub mod repo;
mod secret;
mod settings;
pub mod yaml;

use std::path::PathBuf;

pub use allowlist::RepoAllowlist;
pub use flags::Flags;
pub use secret::Secret;
pub use settings::{
    CheckoutStrategy, CommentMode, GITHUB_REDELIVERY_WINDOW, GitHubSettings, Layer, LogFormat,
    OAuthSettings, PlanfileKey, SETTINGS, Sandbox, SettingDef, Settings, SettingsError, Sources,
    parse_bytes,
};

/// Loads the three layers: `flags`, the process environment, and the TOML file given with
/// `--config` (if any), then resolves them.
pub fn load(flags: Flags, config_file: Option<&PathBuf>) -> Result<Settings, SettingsError> {
    let file = match config_file {
        None => Layer::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| SettingsError::File {
                path: path.clone(),
                problem: format!("cannot read: {e}"),
            })?;
            Layer::from_toml(path, &text)?
        }
    };
    let env = Layer::from_env(|name| std::env::var(name).ok());
    let mut sources = Sources {
        flags: flags.0,
        env,
        file,
        pass_env: Default::default(),
    };
    for name in sources.pass_env_names() {
        if let Ok(value) = std::env::var(&name) {
            sources.pass_env.insert(name, value);
        }
    }
    Settings::resolve(&sources)
}
