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
//! Nothing falls back: a version that cannot be had is an error naming it and why. A plan
//! records the version it ran ([`Pinned`]) and its apply runs exactly that one
//! ([`Versions::choose_pinned`]). The operator's [`Limits`] turn downloads off (then only the
//! server's binary and cached versions run), bound which versions may be had at all, and how
//! many stay cached ([`cache`]).

pub mod cache;
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
#[derive(Debug)]
pub enum Chosen {
    /// The server's own binary (`BOSUN_TERRAFORM_BIN`).
    Server,
    /// A downloaded one: its distribution, version, cached path and the binary's SHA-256
    /// (hex), kept cached while the lease is held.
    Downloaded {
        distribution: Distribution,
        version: Version,
        path: PathBuf,
        sha256: String,
        lease: cache::Lease,
    },
}

/// What the operator allows of downloads and the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Whether missing versions are downloaded (`BOSUN_TOOL_DOWNLOADS`); off, only the
    /// server's binary and cached versions run.
    pub downloads: bool,
    /// How many versions of each distribution stay cached (`BOSUN_TOOL_CACHE_VERSIONS`).
    pub keep: usize,
    /// The Terraform versions projects may ask for (`BOSUN_TERRAFORM_VERSIONS`); `None`: any.
    pub terraform_allowed: Option<Constraint>,
    /// Likewise for OpenTofu (`BOSUN_OPENTOFU_VERSIONS`).
    pub opentofu_allowed: Option<Constraint>,
}

impl Limits {
    /// The versions of `distribution` the operator allows, and the setting saying so.
    fn allowed(&self, distribution: Distribution) -> Option<(&Constraint, &'static str)> {
        match distribution {
            Distribution::Terraform => self
                .terraform_allowed
                .as_ref()
                .map(|c| (c, "BOSUN_TERRAFORM_VERSIONS")),
            Distribution::OpenTofu => self
                .opentofu_allowed
                .as_ref()
                .map(|c| (c, "BOSUN_OPENTOFU_VERSIONS")),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            downloads: true,
            keep: 8,
            terraform_allowed: None,
            opentofu_allowed: None,
        }
    }
}

/// The Terraform or OpenTofu a plan ran, recorded with it so its apply runs exactly the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    pub distribution: Distribution,
    pub version: Version,
    /// The binary's SHA-256 (hex) when it was a downloaded one; `None` for the server's.
    pub sha256: Option<String>,
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
    limits: Limits,
    uses: Arc<cache::Uses>,
    digests: Arc<cache::Digests>,
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
            limits: Limits::default(),
            uses: Arc::default(),
            digests: Arc::default(),
            server: tokio::sync::OnceCell::new(),
            indexes: tokio::sync::Mutex::default(),
        })
    }

    /// The same with the operator's `limits` on downloads and the cache.
    pub fn with_limits(self, limits: Limits) -> Self {
        Self { limits, ..self }
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
            None => self.pick(source, wanted.version.as_ref()).await?,
        };
        if let Some((allowed, setting)) = self.limits.allowed(distribution)
            && !allowed.allows(&version)
        {
            return Err(format!(
                "{name} {version} cannot be had: the operator allows only `{allowed}` ({setting})"
            ));
        }
        let dist = distribution.to_string();
        // Held before the cache is looked at, so no eviction takes the version meanwhile.
        let lease = self.uses.lease(&dist, &version);
        let path = match self.installer.cached(source, &version) {
            Some(path) => path,
            None if !self.limits.downloads => {
                return Err(format!(
                    "{name} {version} cannot be had: it is not cached and downloads are turned off ({DOWNLOADS_SETTING})"
                ));
            }
            None => {
                let path = self
                    .installer
                    .binary(source, &version)
                    .await
                    .map_err(|why| format!("{name} {version} cannot be had: {why}"))?;
                let (uses, root, keep, dist) = (
                    self.uses.clone(),
                    self.installer.root().to_owned(),
                    self.limits.keep,
                    dist.clone(),
                );
                // The new version is leased: it stays.
                let evicted =
                    tokio::task::spawn_blocking(move || uses.evict(&root, &dist, keep)).await;
                if let Ok(evicted) = evicted
                    && !evicted.is_empty()
                {
                    let evicted: Vec<String> = evicted.iter().map(Version::to_string).collect();
                    tracing::info!(
                        distribution = %distribution,
                        evicted = evicted.join(", "),
                        "removed the least recently used cached versions"
                    );
                }
                path
            }
        };
        let (root, v, digests, at) = (
            self.installer.root().to_owned(),
            version.clone(),
            self.digests.clone(),
            path.clone(),
        );
        let sha256 = tokio::task::spawn_blocking(move || {
            cache::touch(&root, &dist, &v);
            digests.of(&at)
        })
        .await
        .map_err(|_| format!("{name} {version}: reading the cached binary failed"))?
        .map_err(|e| format!("{name} {version}: the cached binary does not read: {e}"))?;
        Ok(Chosen::Downloaded {
            distribution,
            version,
            path,
            sha256,
            lease,
        })
    }

    /// The version a constraint (`None`: any version) picks: the highest the source's index
    /// lists that meets it, or with downloads turned off the highest cached one.
    async fn pick(
        &self,
        source: &Source,
        constraint: Option<&Constraint>,
    ) -> Result<Version, String> {
        let name = display(source.distribution);
        let asked =
            constraint.map_or_else(|| "(the latest version)".to_owned(), |c| format!("`{c}`"));
        let any = Constraint::parse(">= 0.0.0").map_err(|e| e.to_string())?;
        let mut constraint = constraint.unwrap_or(&any).clone();
        // What the operator allows narrows the choice.
        let mut also = String::new();
        if let Some((allowed, setting)) = self.limits.allowed(source.distribution) {
            constraint = constraint.and(allowed.clone());
            also = format!(" and the operator allows (`{allowed}`, {setting})");
        }
        if !self.limits.downloads {
            let cached = cache::cached(self.installer.root(), &source.distribution.to_string());
            return constraint.highest(cached.iter()).ok_or_else(|| {
                format!(
                    "{name} {asked} cannot be had: no cached version meets it{also} and downloads are turned off ({DOWNLOADS_SETTING})"
                )
            });
        }
        let listed = self
            .listed(source)
            .await
            .map_err(|e| format!("{name} {asked} cannot be had: {e}"))?;
        constraint.highest(listed.iter()).ok_or_else(|| {
            format!(
                "{name} {asked} cannot be had: no version the download source lists meets it{also}"
            )
        })
    }

    /// The binary a plan ran (`pinned`), for its apply: exactly that version, the server's
    /// binary when it is that one, else the cached or downloaded copy, which must be the
    /// binary the plan ran (its SHA-256, when recorded). `Err` names the version and why it
    /// cannot be had; nothing else is run in its place.
    pub async fn choose_pinned(
        &self,
        pinned: &Pinned,
        server: Option<&ServerBinary>,
    ) -> Result<Chosen, String> {
        let exact = Constraint::parse(&format!("= {}", pinned.version))
            .map_err(|e| format!("{} {}: {e}", display(pinned.distribution), pinned.version))?;
        let wanted = Wanted {
            distribution: Some(pinned.distribution),
            version: Some(exact),
        };
        let chosen = self.choose(&wanted, server).await?;
        if let (Chosen::Downloaded { sha256: have, .. }, Some(want)) = (&chosen, &pinned.sha256)
            && have != want
        {
            return Err(format!(
                "{} {} cannot be had: the binary bosun has of it (SHA-256 {have}) is not the one the plan ran (SHA-256 {want})",
                display(pinned.distribution),
                pinned.version
            ));
        }
        Ok(chosen)
    }
}

/// The setting that turns downloads off, as errors name it.
pub const DOWNLOADS_SETTING: &str = "BOSUN_TOOL_DOWNLOADS";

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
            let chosen = v.choose(&asked, server).await;
            assert!(
                matches!(chosen, Ok(Chosen::Server)),
                "{asked:?}: {chosen:?}"
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

    /// A cached version `version` of Terraform under `tools`.
    fn cache(tools: &std::path::Path, version: &str) -> PathBuf {
        let dir = tools.join("terraform").join(version);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("terraform"), "#!/bin/sh\n").unwrap();
        dir.join("terraform")
    }

    #[tokio::test]
    async fn with_downloads_off_only_cached_versions_run() {
        let tmp = tempfile::tempdir().unwrap();
        let v = versions(tmp.path().to_owned()).with_limits(Limits {
            downloads: false,
            ..Limits::default()
        });
        let have = server("1.15.5");
        cache(tmp.path(), "1.6.2");
        cache(tmp.path(), "1.6.3");
        let err = v
            .choose(&wanted(None, Some("1.9.3")), Some(&have))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            "Terraform 1.9.3 cannot be had: it is not cached and downloads are turned off (BOSUN_TOOL_DOWNLOADS)"
        );
        let err = v
            .choose(&wanted(None, Some("~> 1.7.0")), Some(&have))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            "Terraform `~> 1.7.0` cannot be had: no cached version meets it and downloads are turned off (BOSUN_TOOL_DOWNLOADS)"
        );
        // A constraint takes the highest cached version meeting it; the server's binary still
        // serves what it meets.
        match v.choose(&wanted(None, Some("~> 1.6.0")), Some(&have)).await {
            Ok(Chosen::Downloaded { version, path, .. }) => {
                assert_eq!(version.to_string(), "1.6.3");
                assert_eq!(path, tmp.path().join("terraform/1.6.3/terraform"));
            }
            other => panic!("{other:?}"),
        }
        let chosen = v.choose(&wanted(None, Some(">= 1.10")), Some(&have)).await;
        assert!(matches!(chosen, Ok(Chosen::Server)), "{chosen:?}");
    }

    #[tokio::test]
    async fn a_pinned_version_runs_exactly_or_fails_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let v = versions(tmp.path().to_owned());
        let pinned = |version: &str| Pinned {
            distribution: Distribution::Terraform,
            version: Version::parse(version).unwrap(),
            sha256: None,
        };
        // The server's binary, when it is that version.
        let have = server("1.15.5");
        let chosen = v.choose_pinned(&pinned("1.15.5"), Some(&have)).await;
        assert!(matches!(chosen, Ok(Chosen::Server)), "{chosen:?}");
        // The cached copy, though a newer one is cached too.
        cache(tmp.path(), "1.6.2");
        cache(tmp.path(), "1.6.3");
        let digest = match v.choose_pinned(&pinned("1.6.2"), Some(&have)).await {
            Ok(Chosen::Downloaded {
                version, sha256, ..
            }) => {
                assert_eq!(version.to_string(), "1.6.2");
                sha256
            }
            other => panic!("{other:?}"),
        };
        // With the plan's digest: that binary, and no other of the same version.
        let mut exact = pinned("1.6.2");
        exact.sha256 = Some(digest.clone());
        assert!(v.choose_pinned(&exact, Some(&have)).await.is_ok());
        exact.sha256 = Some("00".repeat(32));
        let err = v.choose_pinned(&exact, Some(&have)).await.unwrap_err();
        assert_eq!(
            err,
            format!(
                "Terraform 1.6.2 cannot be had: the binary bosun has of it (SHA-256 {digest}) is not the one the plan ran (SHA-256 {})",
                "00".repeat(32)
            )
        );
        // Never another one in its place.
        let err = v
            .choose_pinned(&pinned("1.6.1"), Some(&have))
            .await
            .unwrap_err();
        assert!(
            err.starts_with("Terraform 1.6.1 cannot be had: terraform_1.6.1_SHA256SUMS: "),
            "{err}"
        );
    }

    #[tokio::test]
    async fn only_versions_the_operator_allows_are_had() {
        let tmp = tempfile::tempdir().unwrap();
        let v = versions(tmp.path().to_owned()).with_limits(Limits {
            downloads: false,
            terraform_allowed: Some(Constraint::parse(">= 1.6, < 1.7").unwrap()),
            ..Limits::default()
        });
        let have = server("1.15.5");
        cache(tmp.path(), "1.5.7");
        cache(tmp.path(), "1.6.2");
        cache(tmp.path(), "1.7.0");
        let err = v
            .choose(&wanted(None, Some("1.5.7")), Some(&have))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            "Terraform 1.5.7 cannot be had: the operator allows only `>= 1.6, < 1.7` (BOSUN_TERRAFORM_VERSIONS)"
        );
        // A constraint picks among the allowed ones only.
        match v
            .choose(&wanted(None, Some(">= 1.5, < 1.9")), Some(&have))
            .await
        {
            Ok(Chosen::Downloaded { version, .. }) => assert_eq!(version.to_string(), "1.6.2"),
            other => panic!("{other:?}"),
        }
        let err = v
            .choose(&wanted(None, Some("~> 1.7.0")), Some(&have))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            "Terraform `~> 1.7.0` cannot be had: no cached version meets it and the operator allows (`>= 1.6, < 1.7`, BOSUN_TERRAFORM_VERSIONS) and downloads are turned off (BOSUN_TOOL_DOWNLOADS)"
        );
        // A plan's version the operator no longer allows is refused at apply too.
        let pinned = Pinned {
            distribution: Distribution::Terraform,
            version: Version::parse("1.7.0").unwrap(),
            sha256: None,
        };
        let err = v.choose_pinned(&pinned, Some(&have)).await.unwrap_err();
        assert!(err.contains("allows only `>= 1.6, < 1.7`"), "{err}");
        // The server's binary is the operator's own: it runs what it meets.
        let chosen = v.choose(&wanted(None, Some(">= 1.10")), Some(&have)).await;
        assert!(matches!(chosen, Ok(Chosen::Server)), "{chosen:?}");
        // Another distribution is not limited by Terraform's setting.
        let dir = tmp.path().join("opentofu/1.5.7");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tofu"), "#!/bin/sh\n").unwrap();
        let tofu = wanted(Some(Distribution::OpenTofu), Some("1.5.7"));
        assert!(v.choose(&tofu, Some(&have)).await.is_ok());
    }
}
