//! `X-Hub-Signature-256`: HMAC-SHA256 of the raw body, `sha256=` and hex, compared in
//! constant time (`Mac::verify_slice`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Secret;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    Malformed,
    Mismatch,
}

impl SignatureError {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "missing X-Hub-Signature-256 header",
            Self::Malformed => "X-Hub-Signature-256 is not of the form sha256=<64 hex digits>",
            Self::Mismatch => {
                "X-Hub-Signature-256 does not match the body (check the webhook secret)"
            }
        }
    }

    /// A short label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Missing => "signature_missing",
            Self::Malformed => "signature_malformed",
            Self::Mismatch => "signature_mismatch",
        }
    }
}

/// Checks `header` against `body` with each secret in turn (several while rotating).
pub fn verify(
    secrets: &[Secret],
    body: &[u8],
    header: Option<&[u8]>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_part = header
        .strip_prefix(b"sha256=")
        .ok_or(SignatureError::Malformed)?;
    if hex_part.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let mut expected = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut expected).map_err(|_| SignatureError::Malformed)?;
    let mut ok = false;
    for secret in secrets {
        // HMAC accepts keys of any length, so this cannot fail.
        let Ok(mut mac) = HmacSha256::new_from_slice(secret.expose().as_bytes()) else {
            continue;
        };
        mac.update(body);
        ok |= mac.verify_slice(&expected).is_ok();
    }
    if ok {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The header value GitHub would send for `body` under `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secrets(s: &[&str]) -> Vec<Secret> {
        s.iter().map(|s| Secret::new(*s)).collect()
    }

    /// GitHub's documented test vector.
    #[test]
    fn github_test_vector() {
        let header = b"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let s = secrets(&["It's a Secret to Everybody"]);
        assert_eq!(verify(&s, b"Hello, World!", Some(header)), Ok(()));
        assert_eq!(
            sign("It's a Secret to Everybody", b"Hello, World!").as_bytes(),
            header
        );
        assert_eq!(
            verify(&s, b"Hello, World?", Some(header)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_and_malformed() {
        let s = secrets(&["k"]);
        assert_eq!(verify(&s, b"x", None), Err(SignatureError::Missing));
        assert_eq!(
            verify(&s, b"x", Some(b"sha1=abc")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&s, b"x", Some(b"sha256=zz")),
            Err(SignatureError::Malformed)
        );
        let not_hex = format!("sha256={}", "g".repeat(64));
        assert_eq!(
            verify(&s, b"x", Some(not_hex.as_bytes())),
            Err(SignatureError::Malformed)
        );
        let upper = sign("k", b"x").to_uppercase().replace("SHA256=", "sha256=");
        assert_eq!(
            verify(&s, b"x", Some(upper.as_bytes())),
            Ok(()),
            "hex case does not matter"
        );
    }

    #[test]
    fn any_rotated_secret_verifies() {
        let s = secrets(&["new", "old"]);
        assert_eq!(
            verify(&s, b"body", Some(sign("old", b"body").as_bytes())),
            Ok(())
        );
        assert_eq!(
            verify(&s, b"body", Some(sign("other", b"body").as_bytes())),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&[], b"body", Some(sign("new", b"body").as_bytes())),
            Err(SignatureError::Mismatch)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_headers_never_panic_nor_pass(body in proptest::collection::vec(any::<u8>(), 0..256),
                                                   header in proptest::collection::vec(any::<u8>(), 0..100)) {
            let s = secrets(&["k"]);
            let expected = sign("k", &body);
            let r = verify(&s, &body, Some(&header));
            if header.eq_ignore_ascii_case(expected.as_bytes()) {
                prop_assert!(r.is_ok());
            } else {
                prop_assert!(r.is_err());
            }
        }

        #[test]
        fn signed_bodies_verify_and_flipped_bits_fail(body in proptest::collection::vec(any::<u8>(), 1..512), bit in 0usize..4096) {
            let s = secrets(&["k"]);
            let header = sign("k", &body);
            prop_assert!(verify(&s, &body, Some(header.as_bytes())).is_ok());
            let mut tampered = body.clone();
            let i = bit % (tampered.len() * 8);
            tampered[i / 8] ^= 1 << (i % 8);
            prop_assert_eq!(verify(&s, &tampered, Some(header.as_bytes())), Err(SignatureError::Mismatch));
        }
    }
}
