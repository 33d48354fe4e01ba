//! The Terraform and OpenTofu versions projects ask for: the default distribution
//! (BOSUN_TERRAFORM_DISTRIBUTION), where each distribution's releases are
//! (BOSUN_TERRAFORM_DOWNLOAD_URL, BOSUN_OPENTOFU_DOWNLOAD_URL, BOSUN_OPENTOFU_INDEX_URL) and the
//! key their `SHA256SUMS` must be signed with (the pinned ones, or
//! BOSUN_TERRAFORM_SIGNING_KEY_FILE, BOSUN_OPENTOFU_SIGNING_KEY_FILE), whether versions are
//! downloaded at all (BOSUN_TOOL_DOWNLOADS) and how many stay cached
//! (BOSUN_TOOL_CACHE_VERSIONS), and which versions projects may ask for
//! (BOSUN_TERRAFORM_VERSIONS, BOSUN_OPENTOFU_VERSIONS).

use super::{SettingsError, Sources};
use crate::config::repo::Distribution;
use crate::versions::{Constraint, Limits, SigningKey, Source};

/// Both sources and the default distribution.
#[derive(Debug, Clone)]
pub struct VersionSettings {
    pub default_distribution: Distribution,
    pub terraform: Source,
    pub opentofu: Source,
    pub limits: Limits,
}

pub(super) fn resolve(sources: &Sources) -> Result<VersionSettings, SettingsError> {
    let raw = sources.get_or_default("terraform_distribution").trim();
    let default_distribution = Distribution::parse(raw).ok_or_else(|| {
        SettingsError::of(
            "terraform_distribution",
            format!("`{raw}` is neither terraform nor opentofu"),
        )
    })?;
    let terraform = Source {
        distribution: Distribution::Terraform,
        base: url(sources, "terraform_download_url")?,
        index: format!(
            "{}/terraform/index.json",
            url(sources, "terraform_download_url")?
        ),
        key: key(
            sources,
            "terraform_signing_key_file",
            Distribution::Terraform,
        )?,
    };
    let opentofu = Source {
        distribution: Distribution::OpenTofu,
        base: url(sources, "opentofu_download_url")?,
        index: url(sources, "opentofu_index_url")?,
        key: key(sources, "opentofu_signing_key_file", Distribution::OpenTofu)?,
    };
    let limits = Limits {
        downloads: sources.parsed::<bool>("tool_downloads", "true or false")?,
        keep: match sources.parsed::<usize>("tool_cache_versions", "a positive number")? {
            0 => {
                return Err(SettingsError::of(
                    "tool_cache_versions",
                    "`0` is not a positive number".to_owned(),
                ));
            }
            n => n,
        },
        terraform_allowed: allowed(sources, "terraform_versions")?,
        opentofu_allowed: allowed(sources, "opentofu_versions")?,
    };
    Ok(VersionSettings {
        default_distribution,
        terraform,
        opentofu,
        limits,
    })
}

/// An http(s) URL with a host, without its trailing slashes.
fn url(sources: &Sources, key: &'static str) -> Result<String, SettingsError> {
    let raw = sources.get_or_default(key).trim();
    let bad = |why: &str| SettingsError::of(key, why.to_owned());
    let url = url::Url::parse(raw).map_err(|_| bad("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the URL must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("the URL has no host"));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// The versions the setting allows (a constraint as `required_version` writes it); unset: any.
fn allowed(sources: &Sources, key: &'static str) -> Result<Option<Constraint>, SettingsError> {
    match sources.get(key).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(text) => Constraint::parse(text)
            .map(Some)
            .map_err(|e| SettingsError::of(key, e)),
    }
}

/// The key in the file the setting names, else the pinned one.
fn key(
    sources: &Sources,
    setting: &'static str,
    distribution: Distribution,
) -> Result<SigningKey, SettingsError> {
    match sources
        .get(setting)
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        Some(file) => {
            let bytes = std::fs::read(file)
                .map_err(|e| SettingsError::of(setting, format!("cannot read {file}: {e}")))?;
            SigningKey::parse(&bytes)
                .map_err(|e| SettingsError::of(setting, format!("{file}: {e}")))
        }
        None => SigningKey::pinned(distribution).map_err(|e| SettingsError::of(setting, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::versions::signature::{HASHICORP_FINGERPRINT, OPENTOFU_FINGERPRINT};
    use crate::versions::source;

    #[test]
    fn the_defaults_are_the_release_servers_and_the_pinned_keys() {
        let s = resolve(&Sources::default()).unwrap();
        assert_eq!(s.default_distribution, Distribution::Terraform);
        assert_eq!(s.terraform.base, source::TERRAFORM_DOWNLOAD_URL);
        assert_eq!(
            s.terraform.index,
            "https://releases.hashicorp.com/terraform/index.json"
        );
        assert_eq!(s.opentofu.base, source::OPENTOFU_DOWNLOAD_URL);
        assert_eq!(s.opentofu.index, source::OPENTOFU_INDEX_URL);
        assert_eq!(s.terraform.key.fingerprint(), HASHICORP_FINGERPRINT);
        assert_eq!(s.opentofu.key.fingerprint(), OPENTOFU_FINGERPRINT);
        assert_eq!(s.limits, Limits::default());
        assert_eq!(s.limits.keep, 8);
        assert!(s.limits.downloads && s.limits.terraform_allowed.is_none());
    }

    #[test]
    fn downloads_turn_off_and_the_cache_bound_is_a_positive_number() {
        let mut s = Sources::default();
        s.env.set("tool_downloads", "false");
        s.env.set("tool_cache_versions", "2");
        s.env.set("opentofu_versions", ">= 1.8, < 2.0");
        let limits = resolve(&s).unwrap().limits;
        assert_eq!((limits.downloads, limits.keep), (false, 2));
        assert_eq!(limits.terraform_allowed, None);
        assert_eq!(
            limits.opentofu_allowed.unwrap().to_string(),
            ">= 1.8, < 2.0"
        );
        for (key, value, setting) in [
            ("terraform_versions", ">= one", "BOSUN_TERRAFORM_VERSIONS"),
            ("tool_downloads", "off", "BOSUN_TOOL_DOWNLOADS"),
            ("tool_cache_versions", "0", "BOSUN_TOOL_CACHE_VERSIONS"),
            ("tool_cache_versions", "-1", "BOSUN_TOOL_CACHE_VERSIONS"),
        ] {
            let mut s = Sources::default();
            s.env.set(key, value);
            let err = resolve(&s).unwrap_err().to_string();
            assert!(err.contains(setting), "{err}");
        }
    }

    #[test]
    fn bad_values_name_their_setting() {
        let mut s = Sources::default();
        s.env.set("terraform_distribution", "tofu");
        assert!(
            resolve(&s)
                .unwrap_err()
                .to_string()
                .contains("BOSUN_TERRAFORM_DISTRIBUTION")
        );
        let mut s = Sources::default();
        s.env.set("terraform_download_url", "ftp://mirror/");
        assert!(
            resolve(&s)
                .unwrap_err()
                .to_string()
                .contains("BOSUN_TERRAFORM_DOWNLOAD_URL")
        );
        let mut s = Sources::default();
        s.env
            .set("opentofu_signing_key_file", "/nonexistent/key.asc");
        let err = resolve(&s).unwrap_err().to_string();
        assert!(
            err.contains("BOSUN_OPENTOFU_SIGNING_KEY_FILE") && err.contains("cannot read"),
            "{err}"
        );
        let mut s = Sources::default();
        s.env
            .set("opentofu_download_url", "http://127.0.0.1:9/tofu/");
        s.env.set("terraform_distribution", "opentofu");
        let got = resolve(&s).unwrap();
        assert_eq!(got.opentofu.base, "http://127.0.0.1:9/tofu");
        assert_eq!(got.default_distribution, Distribution::OpenTofu);
    }
}
