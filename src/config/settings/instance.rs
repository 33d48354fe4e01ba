//! BOSUN_INSTANCE_ID: the name of this replica in its metrics; BOSUN_PUBLIC_URL: where people
//! reach it.

use super::{SettingsError, Sources};

/// BOSUN_PUBLIC_URL: an absolute http(s) URL with a host and no query or fragment, returned
/// without its trailing slashes; unset or empty: `None`.
pub(super) fn public_url(sources: &Sources) -> Result<Option<String>, SettingsError> {
    let Some(raw) = sources
        .get("public_url")
        .map(str::trim)
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    let bad = |why: &str| SettingsError::of("public_url", why.to_owned());
    let url = url::Url::parse(raw).map_err(|e| bad(&format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the public URL must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("the public URL has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("the public URL may not have a query or a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("the public URL may not carry a user name or password"));
    }
    Ok(Some(url.as_str().trim_end_matches('/').to_owned()))
}

/// The given id (trimmed), else the host's name, else `bosun-` and 8 random hex digits.
pub(super) fn instance_id(sources: &Sources) -> String {
    sources
        .get("instance_id")
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .or_else(hostname)
        .unwrap_or_else(|| format!("bosun-{:08x}", fastrand::u32(..)))
}

/// The kernel's host name (Linux), else `/etc/hostname`; `None` when neither names one.
fn hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_given_id_is_used_else_the_host_name() {
        let mut s = Sources::default();
        s.env.set("instance_id", "  replica-a ");
        assert_eq!(instance_id(&s), "replica-a");
        let unset = instance_id(&Sources::default());
        assert!(!unset.is_empty());
        if let Some(host) = hostname() {
            assert_eq!(unset, host);
        }
    }
}
