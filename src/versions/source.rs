//! Where a distribution's releases are, file by file, and which versions its index lists.
//!
//! - Terraform, HashiCorp's layout (`BOSUN_TERRAFORM_DOWNLOAD_URL`, default
//!   `https://releases.hashicorp.com`): `{base}/terraform/index.json` (`{"versions": {"1.9.3":
//!   …}}`), and `{base}/terraform/{v}/terraform_{v}_linux_{arch}.zip`,
//!   `terraform_{v}_SHA256SUMS`, `terraform_{v}_SHA256SUMS.sig`.
//! - OpenTofu, its GitHub releases' layout (`BOSUN_OPENTOFU_DOWNLOAD_URL`, default
//!   `https://github.com/opentofu/opentofu/releases/download`): `{base}/v{v}/tofu_{v}_linux_
//!   {arch}.zip`, `tofu_{v}_SHA256SUMS`, `tofu_{v}_SHA256SUMS.gpgsig`; its index is the one
//!   OpenTofu's mirrors serve (`BOSUN_OPENTOFU_INDEX_URL`, default
//!   `https://get.opentofu.org/tofu/api.json`: `{"versions": [{"id": "1.8.0"}, …]}`).
//!
//! `{arch}` is `amd64` or `arm64`, bosun's own.

use super::signature::SigningKey;
use super::version::Version;
use crate::config::repo::Distribution;

pub const TERRAFORM_DOWNLOAD_URL: &str = "https://releases.hashicorp.com";
pub const OPENTOFU_DOWNLOAD_URL: &str = "https://github.com/opentofu/opentofu/releases/download";
pub const OPENTOFU_INDEX_URL: &str = "https://get.opentofu.org/tofu/api.json";

/// One distribution's download source and the key its `SHA256SUMS` must be signed with.
#[derive(Debug, Clone)]
pub struct Source {
    pub distribution: Distribution,
    /// The base URL, without a trailing `/`.
    pub base: String,
    /// Where the list of versions is.
    pub index: String,
    pub key: SigningKey,
}

impl Source {
    /// The program's name in the archive and in the cache: `terraform` or `tofu`.
    pub fn program(&self) -> &'static str {
        program(self.distribution)
    }

    pub fn zip_name(&self, v: &Version) -> String {
        format!("{}_{v}_linux_{}.zip", self.program(), arch())
    }

    pub fn sums_name(&self, v: &Version) -> String {
        format!("{}_{v}_SHA256SUMS", self.program())
    }

    pub fn signature_name(&self, v: &Version) -> String {
        match self.distribution {
            Distribution::Terraform => format!("{}.sig", self.sums_name(v)),
            Distribution::OpenTofu => format!("{}.gpgsig", self.sums_name(v)),
        }
    }

    /// The URL of the release file `file` of version `v`.
    pub fn url(&self, v: &Version, file: &str) -> String {
        match self.distribution {
            Distribution::Terraform => format!("{}/terraform/{v}/{file}", self.base),
            Distribution::OpenTofu => format!("{}/v{v}/{file}", self.base),
        }
    }

    /// The versions the index lists (those that are versions; others are skipped).
    pub fn parse_index(&self, bytes: &[u8]) -> Result<Vec<Version>, String> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| format!("the version index is not JSON: {e}"))?;
        let ids: Vec<&str> = match (self.distribution, value.get("versions")) {
            (Distribution::Terraform, Some(serde_json::Value::Object(map))) => {
                map.keys().map(String::as_str).collect()
            }
            (Distribution::OpenTofu, Some(serde_json::Value::Array(list))) => {
                list.iter().filter_map(|v| v.get("id")?.as_str()).collect()
            }
            _ => return Err("the version index has no `versions`".into()),
        };
        Ok(ids.into_iter().filter_map(Version::parse).collect())
    }
}

pub fn program(distribution: Distribution) -> &'static str {
    match distribution {
        Distribution::Terraform => "terraform",
        Distribution::OpenTofu => "tofu",
    }
}

/// The release architecture of this build of bosun.
fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        _ => "amd64",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(distribution: Distribution, base: &str) -> Source {
        Source {
            distribution,
            base: base.into(),
            index: String::new(),
            key: SigningKey::pinned(distribution).unwrap(),
        }
    }

    #[test]
    fn files_are_where_the_release_servers_keep_them() {
        let v = Version::parse("1.9.3").unwrap();
        let tf = source(Distribution::Terraform, TERRAFORM_DOWNLOAD_URL);
        assert_eq!(
            tf.url(&v, &tf.sums_name(&v)),
            "https://releases.hashicorp.com/terraform/1.9.3/terraform_1.9.3_SHA256SUMS"
        );
        assert_eq!(tf.signature_name(&v), "terraform_1.9.3_SHA256SUMS.sig");
        assert!(tf.zip_name(&v).starts_with("terraform_1.9.3_linux_"));
        let tofu = source(Distribution::OpenTofu, OPENTOFU_DOWNLOAD_URL);
        assert_eq!(
            tofu.url(&v, &tofu.zip_name(&v)),
            format!(
                "https://github.com/opentofu/opentofu/releases/download/v1.9.3/tofu_1.9.3_linux_{}.zip",
                arch()
            )
        );
        assert_eq!(tofu.signature_name(&v), "tofu_1.9.3_SHA256SUMS.gpgsig");
    }

    #[test]
    fn each_index_lists_its_versions() {
        let tf = source(Distribution::Terraform, "x");
        let got = tf
            .parse_index(br#"{"name":"terraform","versions":{"1.5.7":{},"1.6.0-beta1":{},"1.9.3+ent":{},"junk":{}}}"#)
            .unwrap();
        let mut shown: Vec<String> = got.iter().map(ToString::to_string).collect();
        shown.sort();
        assert_eq!(shown, ["1.5.7", "1.6.0-beta1"]);
        let tofu = source(Distribution::OpenTofu, "x");
        let got = tofu
            .parse_index(br#"{"versions":[{"id":"1.8.0","files":[]},{"id":"1.7.3"}]}"#)
            .unwrap();
        assert_eq!(got.len(), 2);
        assert!(tofu.parse_index(br#"{"versions":{}}"#).is_err());
        assert!(tf.parse_index(b"<html>").is_err());
    }
}
