//! Sign-in with GitHub: BOSUN_GITHUB_OAUTH_CLIENT_ID and BOSUN_GITHUB_OAUTH_CLIENT_SECRET (or
//! its _FILE form), which need BOSUN_PUBLIC_URL (GitHub sends the browser back there).

use super::{OAuthSettings, Secret, SettingsError, Sources};

/// The client secret's least length: GitHub's are 40 hex digits; a short one would make the
/// session key guessable and could not be redacted.
const MIN_SECRET: usize = 16;

/// The OAuth client, when both its id and secret are set; one without the other, or either
/// without a public URL, is an error saying what is missing.
pub(super) fn oauth(
    sources: &Sources,
    api_url: &str,
    public_url: Option<&str>,
) -> Result<Option<OAuthSettings>, SettingsError> {
    let id = sources
        .get("github_oauth_client_id")
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let secret = super::value_or_file(
        sources,
        "github_oauth_client_secret",
        "github_oauth_client_secret_file",
    )?
    .map(|(_, text)| text.trim().to_owned())
    .filter(|t| !t.is_empty());
    let admins = apply_lock_admins(sources)?;
    let (id, secret) = match (id, secret) {
        (None, None) if admins.is_empty() => return Ok(None),
        (None, None) => {
            return Err(SettingsError::of(
                "apply_lock_admins",
                "names people who sign in, but sign-in with GitHub is off \
                 (set BOSUN_GITHUB_OAUTH_CLIENT_ID and its secret)",
            ));
        }
        (Some(_), None) => {
            return Err(SettingsError::of(
                "github_oauth_client_secret",
                "sign-in needs the client secret too (or BOSUN_GITHUB_OAUTH_CLIENT_SECRET_FILE)",
            ));
        }
        (None, Some(_)) => {
            return Err(SettingsError::of(
                "github_oauth_client_id",
                "a client secret is set without its client id",
            ));
        }
        (Some(id), Some(secret)) => (id, secret),
    };
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
        || id.len() > 100
    {
        return Err(SettingsError::of(
            "github_oauth_client_id",
            "expected GitHub's client id (letters, digits, `.`, `_`, `-`)",
        ));
    }
    if secret.chars().count() < MIN_SECRET {
        return Err(SettingsError::of(
            "github_oauth_client_secret",
            format!("must be at least {MIN_SECRET} characters"),
        ));
    }
    if public_url.is_none() {
        return Err(SettingsError::of(
            "public_url",
            "sign-in with GitHub (BOSUN_GITHUB_OAUTH_CLIENT_ID) needs BOSUN_PUBLIC_URL: GitHub \
             sends the browser back to {public URL}/oauth/callback",
        ));
    }
    Ok(Some(OAuthSettings {
        client_id: id.to_owned(),
        client_secret: Secret::new(secret),
        web_url: web_url(api_url),
        apply_lock_admins: admins,
    }))
}

/// BOSUN_APPLY_LOCK_ADMINS: GitHub logins (letters, digits and hyphens, at most 39
/// characters; some old accounts have a doubled or trailing hyphen), lower-cased.
fn apply_lock_admins(sources: &Sources) -> Result<Vec<String>, SettingsError> {
    let raw = sources.get("apply_lock_admins").unwrap_or("");
    let mut admins = Vec::new();
    for login in super::split_list(raw) {
        let ok = login.len() <= 39
            && login.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !login.starts_with('-');
        if !ok {
            return Err(SettingsError::of(
                "apply_lock_admins",
                format!("`{login}` is not a GitHub login"),
            ));
        }
        let login = login.to_ascii_lowercase();
        if !admins.contains(&login) {
            admins.push(login);
        }
    }
    Ok(admins)
}

/// GitHub's web base URL for an API base URL (without a trailing slash): github.com's API
/// host becomes github.com, an Enterprise `…/api/v3` loses that path, any other URL serves
/// both.
pub fn web_url(api_url: &str) -> String {
    let api = api_url.trim_end_matches('/');
    if api == "https://api.github.com" {
        return "https://github.com".into();
    }
    if let Some(host) = api.strip_suffix("/api/v3") {
        return host.to_owned();
    }
    api.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(pairs: &[(&str, &str)]) -> Sources {
        let mut s = Sources::default();
        for (k, v) in pairs {
            s.env.set(k, *v);
        }
        s
    }

    #[test]
    fn the_web_url_follows_the_api_url() {
        assert_eq!(web_url("https://api.github.com"), "https://github.com");
        assert_eq!(web_url("https://api.github.com/"), "https://github.com");
        assert_eq!(
            web_url("https://ghe.example.com/api/v3"),
            "https://ghe.example.com"
        );
        assert_eq!(web_url("http://127.0.0.1:9000"), "http://127.0.0.1:9000");
    }

    #[test]
    fn sign_in_needs_id_secret_and_public_url() {
        let api = "https://api.github.com";
        let public = Some("https://bosun.example.com");
        assert!(oauth(&sources(&[]), api, public).unwrap().is_none());
        let id_only = sources(&[("github_oauth_client_id", "Iv1.abc")]);
        let e = oauth(&id_only, api, public).unwrap_err().to_string();
        assert!(e.contains("BOSUN_GITHUB_OAUTH_CLIENT_SECRET"), "{e}");
        let secret_only = sources(&[("github_oauth_client_secret", "0123456789abcdef0123")]);
        let e = oauth(&secret_only, api, public).unwrap_err().to_string();
        assert!(e.contains("BOSUN_GITHUB_OAUTH_CLIENT_ID"), "{e}");
        let both = sources(&[
            ("github_oauth_client_id", "Iv1.abc"),
            ("github_oauth_client_secret", "0123456789abcdef0123"),
        ]);
        let e = oauth(&both, api, None).unwrap_err().to_string();
        assert!(
            e.starts_with("BOSUN_PUBLIC_URL") && e.contains("needs BOSUN_PUBLIC_URL"),
            "{e}"
        );
        let ok = oauth(&both, api, public).unwrap().unwrap();
        assert_eq!(ok.client_id, "Iv1.abc");
        assert_eq!(ok.web_url, "https://github.com");
        assert!(!format!("{ok:?}").contains("0123456789abcdef0123"));
        let short = sources(&[
            ("github_oauth_client_id", "Iv1.abc"),
            ("github_oauth_client_secret", "short"),
        ]);
        let e = oauth(&short, api, public).unwrap_err().to_string();
        assert!(!e.contains("short"), "{e}");
    }

    #[test]
    fn the_secret_can_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "0123456789abcdef0123\n").unwrap();
        let s = sources(&[
            ("github_oauth_client_id", "Iv1.abc"),
            (
                "github_oauth_client_secret_file",
                path.to_str().unwrap_or_default(),
            ),
        ]);
        let ok = oauth(
            &s,
            "https://ghe.example.com/api/v3",
            Some("https://b.example"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(ok.client_secret.expose(), "0123456789abcdef0123");
        assert_eq!(ok.web_url, "https://ghe.example.com");
    }
}
