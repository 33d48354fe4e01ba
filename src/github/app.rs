//! GitHub App authentication: the App's JWT and installation tokens, cached.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::config::Secret;
use crate::redact::Redactor;

/// How long before its expiry a cached installation token is replaced.
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// GitHub refuses a JWT issued in the future: `iat` is set this far in the past for clock drift.
const JWT_BACKDATE: u64 = 60;
/// The JWT lives 9 minutes from now (10 from `iat`, GitHub's maximum).
const JWT_LIFETIME: u64 = 9 * 60;

#[derive(Serialize)]
struct Claims {
    iat: u64,
    exp: u64,
    iss: String,
}

/// Signs the App's JWTs (RS256) and caches one until shortly before it expires.
pub struct AppAuth {
    app_id: u64,
    key: EncodingKey,
    cached: Mutex<Option<(Secret, u64)>>,
    /// Each JWT signed is redacted from everything bosun writes until it expires.
    redactor: Redactor,
}

impl AppAuth {
    pub fn new(app_id: u64, key_pem: &Secret) -> anyhow::Result<Self> {
        let key = EncodingKey::from_rsa_pem(key_pem.expose().as_bytes()).map_err(|_| {
            anyhow::anyhow!("the GitHub App key is not an RSA private key in PEM form")
        })?;
        Ok(Self {
            app_id,
            key,
            cached: Mutex::new(None),
            redactor: Redactor::process(),
        })
    }

    pub fn app_id(&self) -> u64 {
        self.app_id
    }

    /// A JWT valid now: reused while it has more than a minute left.
    pub fn jwt(&self) -> anyhow::Result<Secret> {
        let now = unix_now();
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((jwt, exp)) = cached.as_ref()
            && *exp > now + 60
        {
            return Ok(jwt.clone());
        }
        let jwt = self.sign(now)?;
        self.redactor.add_until(
            jwt.expose(),
            UNIX_EPOCH + Duration::from_secs(now + JWT_LIFETIME),
        );
        *cached = Some((jwt.clone(), now + JWT_LIFETIME));
        Ok(jwt)
    }

    /// A fresh JWT for time `now` (seconds since the epoch).
    pub fn sign(&self, now: u64) -> anyhow::Result<Secret> {
        let claims = Claims {
            iat: now - JWT_BACKDATE,
            exp: now + JWT_LIFETIME,
            iss: self.app_id.to_string(),
        };
        let jwt = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| anyhow::anyhow!("signing the App JWT: {e}"))?;
        Ok(Secret::new(jwt))
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An installation access token and when GitHub says it expires.
#[derive(Clone, Debug)]
pub struct InstallationToken {
    pub token: Secret,
    pub expires_at: SystemTime,
}

impl InstallationToken {
    fn fresh_at(&self, now: SystemTime) -> bool {
        now + TOKEN_REFRESH_MARGIN < self.expires_at
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<InstallationToken>>>;

/// Installation tokens, cached per key (an installation, or an installation and a repository
/// for narrowed tokens) until 5 minutes before they expire. Concurrent callers for one key wait
/// for a single refresh instead of each fetching a token. Every token fetched is registered
/// with a [`Redactor`] (by default the process's), so it is redacted from everything bosun
/// writes.
pub struct TokenCache<K = u64> {
    slots: Mutex<HashMap<K, Slot>>,
    redactor: Redactor,
}

impl<K> Default for TokenCache<K> {
    fn default() -> Self {
        Self::with_redactor(Redactor::process())
    }
}

impl<K> TokenCache<K> {
    /// An empty cache registering its tokens with `redactor`.
    pub fn with_redactor(redactor: Redactor) -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            redactor,
        }
    }
}

impl<K: Hash + Eq> TokenCache<K> {
    /// The cached token of `key`, or the one `fetch` gets (run by one caller at a time).
    pub async fn get<F, Fut, E>(&self, key: K, fetch: F) -> Result<InstallationToken, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<InstallationToken, E>>,
    {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.entry(key).or_default().clone()
        };
        let mut guard = slot.lock().await;
        if let Some(token) = guard.as_ref()
            && token.fresh_at(SystemTime::now())
        {
            return Ok(token.clone());
        }
        let token = fetch().await?;
        self.redactor
            .add_until(token.token.expose(), token.expires_at);
        *guard = Some(token.clone());
        Ok(token)
    }

    /// Forgets a key's token (after GitHub refused it, or the App was uninstalled).
    pub fn forget(&self, key: &K) {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn key() -> Secret {
        Secret::new(
            std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/keys/app.pem"
            ))
            .unwrap(),
        )
    }

    #[test]
    fn jwt_claims_follow_github_rules() {
        let auth = AppAuth::new(1234, &key()).unwrap();
        let jwt = auth.sign(1_700_000_000).unwrap();
        let public = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/keys/app.pub.pem"
        ))
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<serde_json::Value>(
            jwt.expose(),
            &jsonwebtoken::DecodingKey::from_rsa_pem(&public).unwrap(),
            &validation,
        )
        .unwrap();
        assert_eq!(data.claims["iat"], 1_700_000_000 - 60);
        assert_eq!(data.claims["exp"], 1_700_000_000 + 540);
        assert_eq!(data.claims["iss"], "1234");
        assert_eq!(data.header.alg, Algorithm::RS256);
    }

    #[test]
    fn jwt_is_reused_while_fresh() {
        let auth = AppAuth::new(1, &key()).unwrap();
        assert_eq!(auth.jwt().unwrap().expose(), auth.jwt().unwrap().expose());
    }

    #[test]
    fn bad_key_is_refused_without_echoing_it() {
        let err = AppAuth::new(1, &Secret::new("-----BEGIN nonsense"))
            .err()
            .unwrap()
            .to_string();
        assert!(!err.contains("nonsense"));
    }

    #[tokio::test]
    async fn one_refresh_at_a_time_and_reuse_until_the_margin() {
        let cache = Arc::new(TokenCache::default());
        let fetches = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let cache = cache.clone();
            let fetches = fetches.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get(7, || async {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok::<_, ()>(InstallationToken {
                            token: Secret::new("t1"),
                            expires_at: SystemTime::now() + Duration::from_secs(3600),
                        })
                    })
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().token.expose(), "t1");
        }
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "20 concurrent callers, one fetch"
        );

        // A token within 5 minutes of expiry is replaced.
        let cache = TokenCache::default();
        let soon = || async {
            Ok::<_, ()>(InstallationToken {
                token: Secret::new("old"),
                expires_at: SystemTime::now() + Duration::from_secs(299),
            })
        };
        cache.get(1, soon).await.unwrap();
        let t = cache
            .get(1, || async {
                Ok::<_, ()>(InstallationToken {
                    token: Secret::new("new"),
                    expires_at: SystemTime::now() + Duration::from_secs(3600),
                })
            })
            .await
            .unwrap();
        assert_eq!(t.token.expose(), "new");
        let t = cache
            .get(1, || async {
                Err::<InstallationToken, _>("must not fetch")
            })
            .await
            .unwrap();
        assert_eq!(t.token.expose(), "new");
    }

    #[tokio::test]
    async fn fetched_tokens_are_redacted() {
        let redactor = Redactor::default();
        let cache = TokenCache::with_redactor(redactor.clone());
        cache
            .get(1, || async {
                Ok::<_, ()>(InstallationToken {
                    token: Secret::new("ghs_0123456789abcdef"),
                    expires_at: SystemTime::now() + Duration::from_secs(3600),
                })
            })
            .await
            .unwrap();
        assert_eq!(
            redactor.redact("git: ghs_0123456789abcdef"),
            "git: [redacted]"
        );
    }

    #[tokio::test]
    async fn narrowed_tokens_are_cached_per_installation_and_repository() {
        let cache: TokenCache<(u64, String)> = TokenCache::default();
        let token = |t: &'static str| {
            move || async move {
                Ok::<_, ()>(InstallationToken {
                    token: Secret::new(t),
                    expires_at: SystemTime::now() + Duration::from_secs(3600),
                })
            }
        };
        let infra = (1, "acme/infra".to_string());
        let other = (1, "acme/other".to_string());
        cache.get(infra.clone(), token("infra")).await.unwrap();
        let t = cache.get(other.clone(), token("other")).await.unwrap();
        assert_eq!(
            t.token.expose(),
            "other",
            "another repository, another token"
        );
        let t = cache.get(infra.clone(), token("new")).await.unwrap();
        assert_eq!(t.token.expose(), "infra", "cached");
        cache.forget(&infra);
        let t = cache.get(infra, token("new")).await.unwrap();
        assert_eq!(t.token.expose(), "new");
    }

    #[tokio::test]
    async fn a_failed_fetch_is_not_cached() {
        let cache = TokenCache::default();
        assert!(
            cache
                .get(1, || async { Err::<InstallationToken, _>("down") })
                .await
                .is_err()
        );
        let t = cache
            .get(1, || async {
                Ok::<_, ()>(InstallationToken {
                    token: Secret::new("ok"),
                    expires_at: SystemTime::now() + Duration::from_secs(3600),
                })
            })
            .await
            .unwrap();
        assert_eq!(t.token.expose(), "ok");
    }
}
