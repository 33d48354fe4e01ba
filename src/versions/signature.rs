//! The OpenPGP check of a release's `SHA256SUMS`: a detached signature (binary, as HashiCorp's
//! `.sig` and OpenTofu's `.gpgsig` are, or ASCII-armored) by the distribution's signing key —
//! its primary key, or a subkey the primary key bound for signing — checked with rPGP (pure
//! Rust). The keys HashiCorp and OpenTofu publish are pinned here; an operator's own mirror
//! may give another (`BOSUN_TERRAFORM_SIGNING_KEY_FILE`, `BOSUN_OPENTOFU_SIGNING_KEY_FILE`).

use std::io::Cursor;

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::types::KeyDetails;

use crate::config::repo::Distribution;

/// HashiCorp's release signing key (`https://www.hashicorp.com/.well-known/pgp-key.txt`).
pub const HASHICORP_KEY: &str = include_str!("keys/hashicorp.asc");
pub const HASHICORP_FINGERPRINT: &str = "C874011F0AB405110D02105534365D9472D7468F";
/// OpenTofu's release signing key (`https://get.opentofu.org/opentofu.asc`).
pub const OPENTOFU_KEY: &str = include_str!("keys/opentofu.asc");
pub const OPENTOFU_FINGERPRINT: &str = "E3E6E43D84CB852EADB0051D0C0AF313E5FD9F80";

/// A signing key, read and its bindings checked.
#[derive(Clone)]
pub struct SigningKey(SignedPublicKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.fingerprint())
    }
}

impl SigningKey {
    /// A public key, ASCII-armored or binary.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let key = if bytes.trim_ascii_start().starts_with(b"-----") {
            SignedPublicKey::from_armor_single(Cursor::new(bytes)).map(|(key, _)| key)
        } else {
            SignedPublicKey::from_bytes(Cursor::new(bytes))
        }
        .map_err(|e| format!("not an OpenPGP public key: {e}"))?;
        key.primary_key_verify()?;
        Ok(Self(key))
    }

    /// The pinned key of `distribution`.
    pub fn pinned(distribution: Distribution) -> Result<Self, String> {
        let text = match distribution {
            Distribution::Terraform => HASHICORP_KEY,
            Distribution::OpenTofu => OPENTOFU_KEY,
        };
        Self::parse(text.as_bytes())
    }

    /// The primary key's fingerprint, upper-case hex.
    pub fn fingerprint(&self) -> String {
        format!("{:X}", self.0.primary_key.fingerprint())
    }

    /// Whether `signature` (a detached signature) is this key's over `data`; `Err` says why
    /// not.
    pub fn verify(&self, data: &[u8], signature: &[u8]) -> Result<(), String> {
        let sig = if signature.trim_ascii_start().starts_with(b"-----") {
            DetachedSignature::from_armor_single(Cursor::new(signature)).map(|(s, _)| s)
        } else {
            DetachedSignature::from_bytes(Cursor::new(signature))
        }
        .map_err(|e| format!("the signature does not read: {e}"))?;
        if sig.verify(&self.0.primary_key, data).is_ok() {
            return Ok(());
        }
        for sub in &self.0.public_subkeys {
            let signs = sub.signatures.iter().any(|s| s.key_flags().sign());
            if signs
                && sub.verify_bindings(&self.0.primary_key).is_ok()
                && sig.verify(&sub.key, data).is_ok()
            {
                return Ok(());
            }
        }
        Err(format!(
            "the signature is not one of the signing key {}",
            self.fingerprint()
        ))
    }
}

/// A key's own check: its user ids and subkeys are bound by its primary key.
trait PrimaryVerify {
    fn primary_key_verify(&self) -> Result<(), String>;
}

impl PrimaryVerify for SignedPublicKey {
    fn primary_key_verify(&self) -> Result<(), String> {
        self.details
            .verify_bindings(&self.primary_key)
            .map_err(|e| format!("the key's self-signatures do not verify: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_keys_are_hashicorps_and_opentofus() {
        let hashicorp = SigningKey::parse(HASHICORP_KEY.as_bytes()).unwrap();
        assert_eq!(hashicorp.fingerprint(), HASHICORP_FINGERPRINT);
        let opentofu = SigningKey::parse(OPENTOFU_KEY.as_bytes()).unwrap();
        assert_eq!(opentofu.fingerprint(), OPENTOFU_FINGERPRINT);
        assert_eq!(
            SigningKey::pinned(Distribution::OpenTofu)
                .unwrap()
                .fingerprint(),
            OPENTOFU_FINGERPRINT
        );
    }

    #[test]
    fn what_is_not_a_key_or_a_signature_is_refused() {
        assert!(SigningKey::parse(b"hello").is_err());
        let key = SigningKey::pinned(Distribution::Terraform).unwrap();
        let err = key.verify(b"data", b"not a signature").unwrap_err();
        assert!(err.starts_with("the signature does not read"), "{err}");
    }
}
