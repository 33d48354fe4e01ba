//! The settings of Terraform runs and the jobs they run in: the binary, how many run at once,
//! how a pull request is checked out, timeouts, the plugin cache and the CLI config.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CheckoutStrategy, SettingsError, Sources};

/// BOSUN_TERRAFORM_BIN: not empty.
pub(super) fn terraform_bin(sources: &Sources) -> Result<String, SettingsError> {
    let terraform_bin = sources.get_or_default("terraform_bin").trim().to_owned();
    if terraform_bin.is_empty() {
        return Err(SettingsError::of("terraform_bin", "must not be empty"));
    }
    Ok(terraform_bin)
}

/// BOSUN_PARALLELISM: at least 1; unset, the machine's parallelism.
pub(super) fn parallelism(sources: &Sources) -> Result<usize, SettingsError> {
    let parallelism = match sources.get("parallelism") {
        None => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        Some(_) => sources.parsed::<usize>("parallelism", "a positive number")?,
    };
    if parallelism == 0 {
        return Err(SettingsError::of("parallelism", "must be at least 1"));
    }
    Ok(parallelism)
}

/// BOSUN_CHECKOUT_STRATEGY: `branch` or `merge`.
pub(super) fn checkout_strategy(sources: &Sources) -> Result<CheckoutStrategy, SettingsError> {
    let strategies = [
        ("branch", CheckoutStrategy::Branch),
        ("merge", CheckoutStrategy::Merge),
    ];
    sources.one_of("checkout_strategy", &strategies)
}

/// BOSUN_TERRAFORM_TIMEOUT: more than 0.
pub(super) fn terraform_timeout(sources: &Sources) -> Result<Duration, SettingsError> {
    let terraform_timeout = sources.duration("terraform_timeout")?;
    if terraform_timeout.is_zero() {
        return Err(SettingsError::of(
            "terraform_timeout",
            "must be more than 0",
        ));
    }
    Ok(terraform_timeout)
}

/// BOSUN_PLUGIN_CACHE_DIR; unset or blank, `plugin-cache` in the data dir.
pub(super) fn plugin_cache_dir(sources: &Sources, data_dir: &Path) -> PathBuf {
    match sources.get("plugin_cache_dir").map(str::trim) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => data_dir.join("plugin-cache"),
    }
}

/// BOSUN_TERRAFORM_CLI_CONFIG_FILE: an absolute path to a file; `None` when unset or blank.
pub(super) fn terraform_cli_config(sources: &Sources) -> Result<Option<PathBuf>, SettingsError> {
    match sources.get("terraform_cli_config_file").map(str::trim) {
        Some(file) if !file.is_empty() => {
            let path = PathBuf::from(file);
            if !path.is_absolute() || !path.is_file() {
                return Err(SettingsError::of(
                    "terraform_cli_config_file",
                    format!("`{file}` is not an absolute path to a file"),
                ));
            }
            Ok(Some(path))
        }
        _ => Ok(None),
    }
}

/// BOSUN_JOB_LEASE: at least 1s.
pub(super) fn job_lease(sources: &Sources) -> Result<Duration, SettingsError> {
    let job_lease = sources.duration("job_lease")?;
    if job_lease < Duration::from_secs(1) {
        return Err(SettingsError::of("job_lease", "must be at least 1s"));
    }
    Ok(job_lease)
}
