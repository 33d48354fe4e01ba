//! The cookies of sign-in, pure: a session (who signed in, their GitHub token, until when) and
//! the OAuth `state` of a sign-in under way, each sealed with AES-256-GCM under a key derived
//! (HKDF-SHA256) from the OAuth client secret, so every replica opens what another sealed and
//! the page can neither read nor change them; and the CSRF token bound to a session.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::config::Secret;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "bosun_session";
/// The cookie holding the `state` of a sign-in under way.
pub const STATE_COOKIE: &str = "bosun_oauth_state";
/// How long a session lasts.
pub const SESSION_SECONDS: u64 = 8 * 3600;
/// How long a sign-in may take at GitHub.
pub const STATE_SECONDS: u64 = 600;
/// The longest cookie value opened: a session is far smaller.
const MAX_COOKIE: usize = 4096;

/// A signed-in person. `Debug` never shows the token.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    pub login: String,
    pub user_id: u64,
    /// Their GitHub token (OAuth, from the App's client): what bosun asks GitHub with about
    /// what they may see.
    pub token: String,
    /// Random per sign-in: the CSRF token is bound to it.
    pub sid: String,
    /// Seconds since the epoch after which the session is refused.
    pub expires: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("login", &self.login)
            .field("user_id", &self.user_id)
            .field("token", &"[redacted]")
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// A sign-in under way: the `state` sent to GitHub, and where to go after.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignIn {
    pub state: String,
    pub next: String,
    pub expires: u64,
}

/// Something sealed in a cookie that has an end.
pub trait Expiring {
    fn expires(&self) -> u64;
}

impl Expiring for Session {
    fn expires(&self) -> u64 {
        self.expires
    }
}

impl Expiring for SignIn {
    fn expires(&self) -> u64 {
        self.expires
    }
}

/// The keys of the cookies and the CSRF tokens.
pub struct CookieKeys {
    seal: LessSafeKey,
    csrf: hmac::Key,
    rng: SystemRandom,
}

impl std::fmt::Debug for CookieKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieKeys { [redacted] }")
    }
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// 32 bytes derived from `secret` for `purpose`.
fn derive(secret: &Secret, purpose: &[u8]) -> anyhow::Result<[u8; 32]> {
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"bosun sign-in v1");
    let prk = salt.extract(secret.expose().as_bytes());
    let info = [purpose];
    let okm = prk
        .expand(&info, Len(32))
        .map_err(|_| anyhow::anyhow!("deriving a cookie key failed"))?;
    let mut out = [0u8; 32];
    okm.fill(&mut out)
        .map_err(|_| anyhow::anyhow!("deriving a cookie key failed"))?;
    Ok(out)
}

impl CookieKeys {
    /// The keys derived from the OAuth client secret.
    pub fn derive(client_secret: &Secret) -> anyhow::Result<Self> {
        let seal = derive(client_secret, b"cookie seal")?;
        let csrf = derive(client_secret, b"csrf")?;
        let unbound = UnboundKey::new(&AES_256_GCM, &seal)
            .map_err(|_| anyhow::anyhow!("the cookie key is not an AES-256 key"))?;
        Ok(Self {
            seal: LessSafeKey::new(unbound),
            csrf: hmac::Key::new(hmac::HMAC_SHA256, &csrf),
            rng: SystemRandom::new(),
        })
    }

    /// `n` random bytes as hex.
    pub fn random_hex(&self, n: usize) -> anyhow::Result<String> {
        let mut bytes = vec![0u8; n];
        self.rng
            .fill(&mut bytes)
            .map_err(|_| anyhow::anyhow!("no randomness"))?;
        Ok(hex::encode(bytes))
    }

    /// `value` sealed as the cookie `name` (the name is bound in: one cookie's value is not
    /// another's).
    pub fn seal<T: Serialize>(&self, name: &str, value: &T) -> anyhow::Result<String> {
        let mut body = serde_json::to_vec(value)?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| anyhow::anyhow!("no randomness for a cookie nonce"))?;
        self.seal
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut body,
            )
            .map_err(|_| anyhow::anyhow!("sealing a cookie failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&body);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// The value of cookie `name` if this key sealed it as that cookie and it has not expired
    /// at `now` (seconds); `None` for anything else.
    pub fn open<T: DeserializeOwned + Expiring>(
        &self,
        name: &str,
        text: &str,
        now: u64,
    ) -> Option<T> {
        if text.len() > MAX_COOKIE {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = body.to_vec();
        let plain = self
            .seal
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut body)
            .ok()?;
        let value: T = serde_json::from_slice(plain).ok()?;
        (value.expires() > now).then_some(value)
    }

    /// The CSRF token of a session: HMAC-SHA256 of its `sid`, hex.
    pub fn csrf_token(&self, session: &Session) -> String {
        hex::encode(hmac::sign(&self.csrf, session.sid.as_bytes()).as_ref())
    }

    /// Whether `given` is the session's CSRF token (in constant time: ring's `hmac::verify`
    /// compares the tags itself, so `subtle` would add nothing here).
    pub fn csrf_ok(&self, session: &Session, given: &str) -> bool {
        hex::decode(given.trim())
            .is_ok_and(|tag| hmac::verify(&self.csrf, session.sid.as_bytes(), &tag).is_ok())
    }
}

/// How the cookies are set: `Secure` unless bosun's public URL is plain http on a loopback
/// host (a developer's machine), where a browser would not send a `Secure` cookie back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookiePolicy {
    pub secure: bool,
}

impl CookiePolicy {
    /// The policy for `public_url` (BOSUN_PUBLIC_URL).
    pub fn for_public_url(public_url: &str) -> Self {
        let local = url::Url::parse(public_url).is_ok_and(|u| {
            u.scheme() == "http"
                && matches!(
                    u.host_str(),
                    Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
                )
        });
        Self { secure: !local }
    }

    /// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, `Secure` per the policy, for
    /// `max_age` seconds (0 deletes it).
    pub fn set_cookie(&self, name: &str, value: &str, max_age: u64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}")
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> CookieKeys {
        CookieKeys::derive(&Secret::new(secret)).unwrap()
    }

    fn session() -> Session {
        Session {
            login: "alice".into(),
            user_id: 7,
            token: "gho_usertoken0123456789".into(),
            sid: "00ff".into(),
            expires: 1_000,
        }
    }

    #[test]
    fn a_sealed_session_opens_only_untouched_unexpired_and_as_itself() {
        let k = keys("client-secret-0123456789");
        let sealed = k.seal(SESSION_COOKIE, &session()).unwrap();
        assert!(!sealed.contains("gho_"), "the token is not readable");
        assert_eq!(
            k.open::<Session>(SESSION_COOKIE, &sealed, 999),
            Some(session())
        );
        assert_eq!(k.open::<Session>(SESSION_COOKIE, &sealed, 1_000), None);
        // Another replica with the same secret opens it; another secret does not.
        assert!(
            keys("client-secret-0123456789")
                .open::<Session>(SESSION_COOKIE, &sealed, 1)
                .is_some()
        );
        assert!(
            keys("another-secret-0123456789")
                .open::<Session>(SESSION_COOKIE, &sealed, 1)
                .is_none()
        );
        // Sealed as one cookie, it is not another.
        assert!(k.open::<Session>(STATE_COOKIE, &sealed, 1).is_none());
        // Any changed character is refused.
        for i in 0..sealed.len() {
            let mut bytes = sealed.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            if tampered != sealed {
                assert!(k.open::<Session>(SESSION_COOKIE, &tampered, 1).is_none());
            }
        }
        for junk in ["", "x", "%%%", &"A".repeat(5000)] {
            assert!(k.open::<Session>(SESSION_COOKIE, junk, 1).is_none());
        }
    }

    #[test]
    fn the_csrf_token_is_bound_to_the_session() {
        let k = keys("client-secret-0123456789");
        let s = session();
        let token = k.csrf_token(&s);
        assert!(k.csrf_ok(&s, &token));
        let other = Session {
            sid: "0100".into(),
            ..s.clone()
        };
        assert!(!k.csrf_ok(&other, &token));
        assert!(!k.csrf_ok(&s, ""));
        assert!(!k.csrf_ok(&s, "zz"));
        assert!(!format!("{s:?}").contains("gho_"));
    }

    #[test]
    fn cookies_are_secure_except_on_a_loopback_http_url() {
        let https = CookiePolicy::for_public_url("https://bosun.example.com");
        assert_eq!(
            https.set_cookie("a", "b", 60),
            "a=b; Max-Age=60; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
        assert!(CookiePolicy::for_public_url("http://ci.example.com").secure);
        for local in [
            "http://localhost:4141",
            "http://127.0.0.1:4141",
            "http://[::1]:4141",
        ] {
            assert!(!CookiePolicy::for_public_url(local).secure, "{local}");
        }
    }

    #[test]
    fn cookies_are_read_from_every_cookie_header() {
        let mut h = http::HeaderMap::new();
        h.append(
            http::header::COOKIE,
            "a=1; bosun_session=xyz".parse().unwrap(),
        );
        h.append(http::header::COOKIE, "c=3".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "c"), Some("3"));
        assert_eq!(cookie(&h, "d"), None);
    }
}
