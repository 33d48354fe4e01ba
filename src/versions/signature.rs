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

    use pgp::composed::{
        ArmorOptions, KeyType, SecretKeyParamsBuilder, SignedSecretKey, SubkeyParamsBuilder,
    };
    use pgp::crypto::hash::HashAlgorithm;
    use pgp::ser::Serialize as _;
    use pgp::types::Password;
    use rand_chacha::rand_core::SeedableRng as _;

    /// A key whose primary only certifies, with a signing subkey (as HashiCorp's).
    fn key_with_signing_subkey(seed: u64) -> SignedSecretKey {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let sub = SubkeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_sign(true)
            .build()
            .unwrap();
        SecretKeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(false)
            .primary_user_id("test <test@example.invalid>".into())
            .subkeys(vec![sub])
            .build()
            .unwrap()
            .generate(&mut rng)
            .unwrap()
    }

    fn public(key: &SignedSecretKey) -> SigningKey {
        let armored = SignedPublicKey::from(key.clone())
            .to_armored_string(ArmorOptions::default())
            .unwrap();
        SigningKey::parse(armored.as_bytes()).unwrap()
    }

    fn sign(key: &SignedSecretKey, data: &[u8]) -> Vec<u8> {
        let rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let signer = &key.secret_subkeys[0].key;
        DetachedSignature::sign_binary_data(
            rng,
            signer,
            &Password::empty(),
            HashAlgorithm::Sha256,
            data,
        )
        .unwrap()
        .to_bytes()
        .unwrap()
    }

    #[test]
    fn a_signature_by_the_keys_signing_subkey_verifies_and_nothing_else_does() {
        let key = key_with_signing_subkey(1);
        let sums = b"abc  terraform_1.9.3_linux_amd64.zip\n";
        let signature = sign(&key, sums);
        let trusted = public(&key);
        assert_eq!(trusted.verify(sums, &signature), Ok(()));
        let tampered = b"abd  terraform_1.9.3_linux_amd64.zip\n";
        let err = trusted.verify(tampered, &signature).unwrap_err();
        assert!(
            err.starts_with("the signature is not one of the signing key"),
            "{err}"
        );
        let other = public(&key_with_signing_subkey(2));
        assert!(other.verify(sums, &signature).is_err());
        let pinned = SigningKey::pinned(Distribution::Terraform).unwrap();
        assert!(pinned.verify(sums, &signature).is_err());
    }

    // Published release files: Terraform 1.9.8's SHA256SUMS, signed by HashiCorp's signing
    // subkey (374E C75B …); OpenTofu 1.8.5's, signed by OpenTofu's primary key.
    const TERRAFORM_SUMS: &[u8] = include_bytes!("testdata/terraform_1.9.8_SHA256SUMS");
    const TERRAFORM_SIG: &[u8] = include_bytes!("testdata/terraform_1.9.8_SHA256SUMS.sig");
    const TOFU_SUMS: &[u8] = include_bytes!("testdata/tofu_1.8.5_SHA256SUMS");
    const TOFU_SIG: &[u8] = include_bytes!("testdata/tofu_1.8.5_SHA256SUMS.gpgsig");

    #[test]
    fn the_pinned_keys_verify_real_releases_and_nothing_altered() {
        use sha2::Digest as _;
        // The files are the published bytes (their digests as published).
        assert_eq!(
            hex::encode(sha2::Sha256::digest(TERRAFORM_SUMS)),
            "d13d3d14a74864332d85aa4690602b67008890d8c78166387477cbc24ec5b67d"
        );
        assert_eq!(
            hex::encode(sha2::Sha256::digest(TOFU_SUMS)),
            "4791d5c16300f1934aed0422042f7a37266a1087de81eb458a0081d9ca11ce10"
        );
        let hashicorp = SigningKey::pinned(Distribution::Terraform).unwrap();
        let opentofu = SigningKey::pinned(Distribution::OpenTofu).unwrap();
        assert_eq!(hashicorp.verify(TERRAFORM_SUMS, TERRAFORM_SIG), Ok(()));
        assert_eq!(opentofu.verify(TOFU_SUMS, TOFU_SIG), Ok(()));
        // Each key refuses the other's release, and an altered or extended file.
        assert!(opentofu.verify(TERRAFORM_SUMS, TERRAFORM_SIG).is_err());
        assert!(hashicorp.verify(TOFU_SUMS, TOFU_SIG).is_err());
        let mut altered = TERRAFORM_SUMS.to_vec();
        altered[0] = b'c';
        assert!(hashicorp.verify(&altered, TERRAFORM_SIG).is_err());
        let mut longer = TERRAFORM_SUMS.to_vec();
        longer.push(b'\n');
        assert!(hashicorp.verify(&longer, TERRAFORM_SIG).is_err());
    }

    #[test]
    fn what_is_not_a_key_or_a_signature_is_refused() {
        assert!(SigningKey::parse(b"hello").is_err());
        let key = SigningKey::pinned(Distribution::Terraform).unwrap();
        let err = key.verify(b"data", b"not a signature").unwrap_err();
        assert!(err.starts_with("the signature does not read"), "{err}");
    }
}
