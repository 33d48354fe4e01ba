//! Which Terraform or OpenTofu a project runs, and getting it.
//!
//! A project asks for a version with its repo config's `terraform_version` (exact, `1.9.3`, or
//! a constraint, `>= 1.5, < 1.8`, `~> 1.6`, or a partial version, `1.9`: any 1.9.x), else with
//! the `required_version` of its own code ([`required`]); and for a distribution with
//! `terraform_distribution`, else the server's `BOSUN_TERRAFORM_DISTRIBUTION`. What it gets:
//!
//! - asking no version and no distribution: the server's binary (`BOSUN_TERRAFORM_BIN`), as it
//!   is, with no download and no network;
//! - otherwise the server's binary when it is that distribution and its version meets what
//!   is asked (so a common `required_version = ">= 1.0"` downloads nothing);
//! - otherwise the version asked, downloaded from the distribution's source ([`source`]),
//!   checked and cached ([`install`]): an exact version as it is, a constraint (or a
//!   distribution asked with no version) the highest stable version of the source's index it
//!   allows.
//!
//! Nothing falls back: a version that cannot be had is an error naming it and why.

pub mod fetch;
pub mod install;
pub mod required;
pub mod signature;
pub mod source;
pub mod sums;
pub mod version;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use signature::SigningKey;
pub use source::Source;
pub use version::{Constraint, Version};

use crate::config::repo::Distribution;

/// What a project asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// `None`: the server's default distribution.
    pub distribution: Option<Distribution>,
    pub version: Option<Constraint>,
}

/// The binary a project runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chosen {
    /// The server's own binary (`BOSUN_TERRAFORM_BIN`).
    Server,
    /// A downloaded one: its distribution, version and cached path.
    Downloaded {
        distribution: Distribution,
        version: Version,
        path: PathBuf,
    },
}

/// The server's binary, as its `version` output says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBinary {
    pub distribution: Distribution,
    pub version: Version,
}

/// The download sources and the cache.
#[derive(Debug)]
pub struct Versions {
    pub default_distribution: Distribution,
    pub terraform: Source,
    pub opentofu: Source,
    installer: install::Installer,
    /// What the server's binary is, once asked.
    pub server: tokio::sync::OnceCell<ServerBinary>,
    indexes: tokio::sync::Mutex<Indexes>,
}

/// Each distribution's listed versions, and when they were read.
type Indexes = HashMap<String, (Instant, Arc<Vec<Version>>)>;

/// How long a read index is used before it is read again.
pub const INDEX_TTL: Duration = Duration::from_secs(5 * 60);

impl Versions {
    /// Sources as the settings give them, binaries cached under `tools` (`<data_dir>/tools`).
    pub fn new(
        default_distribution: Distribution,
        terraform: Source,
        opentofu: Source,
        tools: PathBuf,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            default_distribution,
            terraform,
            opentofu,
            installer: install::Installer::new(tools, fetch::Fetcher::new()?),
            server: tokio::sync::OnceCell::new(),
            indexes: tokio::sync::Mutex::default(),
        })
    }

    /// HashiCorp's and OpenTofu's release servers and pinned keys, Terraform by default
    /// (`bosun preview`).
    pub fn with_defaults(tools: PathBuf) -> anyhow::Result<Self> {
        let source = |distribution, base: &str, index: String| -> anyhow::Result<Source> {
            Ok(Source {
                distribution,
                base: base.to_owned(),
                index,
                key: SigningKey::pinned(distribution).map_err(anyhow::Error::msg)?,
            })
        };
        Self::new(
            Distribution::Terraform,
            source(
                Distribution::Terraform,
                source::TERRAFORM_DOWNLOAD_URL,
                format!("{}/terraform/index.json", source::TERRAFORM_DOWNLOAD_URL),
            )?,
            source(
                Distribution::OpenTofu,
                source::OPENTOFU_DOWNLOAD_URL,
                source::OPENTOFU_INDEX_URL.to_owned(),
            )?,
            tools,
        )
    }

    /// The versions `source`'s index lists: read at most every [`INDEX_TTL`], one read at a
    /// time (a pull request's projects, planned side by side, and their applies share one).
    async fn listed(&self, source: &Source) -> Result<Arc<Vec<Version>>, String> {
        let key = source.distribution.to_string();
        let mut indexes = self.indexes.lock().await;
        if let Some((at, listed)) = indexes.get(&key)
            && at.elapsed() < INDEX_TTL
        {
            return Ok(listed.clone());
        }
        let index = self
            .installer
            .fetcher()
            .get(&source.index, install::INDEX_CAP, Duration::from_secs(60))
            .await
            .map_err(|e| format!("its version index cannot be read: {e}"))?;
        let listed = Arc::new(source.parse_index(&index)?);
        indexes.insert(key, (Instant::now(), listed.clone()));
        Ok(listed)
    }

    fn source(&self, distribution: Distribution) -> &Source {
        match distribution {
            Distribution::Terraform => &self.terraform,
            Distribution::OpenTofu => &self.opentofu,
        }
    }

    /// Whether `wanted` can be met without asking the server's binary what it is: nothing asked.
    pub fn asks_nothing(wanted: &Wanted) -> bool {
        wanted.distribution.is_none() && wanted.version.is_none()
    }

    /// The binary for `wanted`, given what the server's binary is (`None`: it could not be
    /// told; then only a download serves). `Err` names the version and why it cannot be had.
    pub async fn choose(
        &self,
        wanted: &Wanted,
        server: Option<&ServerBinary>,
    ) -> Result<Chosen, String> {
        if Self::asks_nothing(wanted) {
            return Ok(Chosen::Server);
        }
        let distribution = wanted.distribution.unwrap_or(self.default_distribution);
        let name = display(distribution);
        if let Some(server) = server
            && server.distribution == distribution
            && wanted
                .version
                .as_ref()
                .is_none_or(|c| c.allows(&server.version))
        {
            return Ok(Chosen::Server);
        }
        let source = self.source(distribution);
        let version = match wanted.version.as_ref().and_then(Constraint::exact) {
            Some(exact) => exact,
            None => {
                let asked = wanted
                    .version
                    .as_ref()
                    .map_or_else(|| "(the latest version)".to_owned(), |c| format!("`{c}`"));
                let listed = self
                    .listed(source)
                    .await
                    .map_err(|e| format!("{name} {asked} cannot be had: {e}"))?;
                let any = Constraint::parse(">= 0.0.0").map_err(|e| e.to_string())?;
                let constraint = wanted.version.as_ref().unwrap_or(&any);
                constraint.highest(listed.iter()).ok_or_else(|| {
                    format!(
                        "{name} {asked} cannot be had: no version the download source lists meets it"
                    )
                })?
            }
        };
        let path = self
            .installer
            .binary(source, &version)
            .await
            .map_err(|why| format!("{name} {version} cannot be had: {why}"))?;
        Ok(Chosen::Downloaded {
            distribution,
            version,
            path,
        })
    }
}

/// The distribution as people write it: `Terraform`, `OpenTofu`.
pub fn display(distribution: Distribution) -> &'static str {
    match distribution {
        Distribution::Terraform => "Terraform",
        Distribution::OpenTofu => "OpenTofu",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(tools: PathBuf) -> Versions {
        let source = |distribution| Source {
            distribution,
            // Nothing listens on port 1: any download fails at once.
            base: "http://127.0.0.1:1".into(),
            index: "http://127.0.0.1:1/index.json".into(),
            key: SigningKey::pinned(distribution).unwrap(),
        };
        Versions::new(
            Distribution::Terraform,
            source(Distribution::Terraform),
            source(Distribution::OpenTofu),
            tools,
        )
        .unwrap()
    }

    fn server(version: &str) -> ServerBinary {
        ServerBinary {
            distribution: Distribution::Terraform,
            version: Version::parse(version).unwrap(),
        }
    }

    fn wanted(distribution: Option<Distribution>, version: Option<&str>) -> Wanted {
        Wanted {
            distribution,
            version: version.map(|v| Constraint::parse_key(v).unwrap()),
        }
    }

    #[test]
    fn previews_use_the_release_servers_and_the_pinned_keys() {
        let v = Versions::with_defaults(PathBuf::from("/scratch/tools")).unwrap();
        assert_eq!(v.default_distribution, Distribution::Terraform);
        assert_eq!(v.terraform.base, source::TERRAFORM_DOWNLOAD_URL);
        assert_eq!(
            v.terraform.index,
            "https://releases.hashicorp.com/terraform/index.json"
        );
        assert_eq!(v.opentofu.base, source::OPENTOFU_DOWNLOAD_URL);
        assert_eq!(v.opentofu.index, source::OPENTOFU_INDEX_URL);
        assert_eq!(
            v.terraform.key.fingerprint(),
            signature::HASHICORP_FINGERPRINT
        );
        assert_eq!(
            v.opentofu.key.fingerprint(),
            signature::OPENTOFU_FINGERPRINT
        );
    }

    #[tokio::test]
    async fn the_servers_binary_serves_what_asks_nothing_or_what_it_meets() {
        let tmp = tempfile::tempdir().unwrap();
        let v = versions(tmp.path().to_owned());
        let have = server("1.15.5");
        for (asked, server) in [
            (wanted(None, None), None),
            (wanted(None, Some("1.15")), Some(&have)),
            (wanted(None, Some(">= 1.0, < 2.0")), Some(&have)),
            (wanted(Some(Distribution::Terraform), None), Some(&have)),
            (wanted(None, Some("1.15.5")), Some(&have)),
        ] {
            assert_eq!(
                v.choose(&asked, server).await,
                Ok(Chosen::Server),
                "{asked:?}"
            );
        }
    }

    #[tokio::test]
    async fn what_the_server_does_not_meet_is_downloaded_or_fails_naming_the_version() {
        let tmp = tempfile::tempdir().unwrap();
        let v = versions(tmp.path().to_owned());
        let have = server("1.15.5");
        let err = v
            .choose(&wanted(None, Some("1.9.3")), Some(&have))
            .await
            .unwrap_err();
        assert!(
            err.starts_with("Terraform 1.9.3 cannot be had: terraform_1.9.3_SHA256SUMS: "),
            "{err}"
        );
        let err = v
            .choose(&wanted(None, Some("~> 1.6.0")), Some(&have))
            .await
            .unwrap_err();
        assert!(
            err.starts_with("Terraform `~> 1.6.0` cannot be had: its version index cannot be read"),
            "{err}"
        );
        let tofu = wanted(Some(Distribution::OpenTofu), None);
        let err = v.choose(&tofu, Some(&have)).await.unwrap_err();
        assert!(
            err.starts_with("OpenTofu (the latest version) cannot be had"),
            "{err}"
        );
        // A binary already in the cache is used without asking the source.
        let cached = tmp.path().join("terraform/1.9.3");
        std::fs::create_dir_all(&cached).unwrap();
        std::fs::write(cached.join("terraform"), "#!/bin/sh\n").unwrap();
        match v.choose(&wanted(None, Some("1.9.3")), None).await.unwrap() {
            Chosen::Downloaded { path, version, .. } => {
                assert_eq!(path, cached.join("terraform"));
                assert_eq!(version.to_string(), "1.9.3");
            }
            other => panic!("{other:?}"),
        }
    }
}
