//! What `bosun setup` asks GitHub for: the App manifest (name, webhook, permissions and
//! events bosun needs) and where GitHub's web and API live (github.com or an Enterprise
//! Server).

use serde_json::{Value, json};
use url::Url;

/// The repository and organisation permissions bosun's GitHub calls need: check runs
/// (`checks`), fetching and, for `automerge` and `delete_source_branch_on_merge`, merging and
/// deleting branches (`contents`), the drift issue (`issues`), pull requests, their files,
/// reviews and comments (`pull_requests`), commit statuses (`statuses`), and team membership
/// for `BOSUN_APPLY_TEAMS` (`members`). `metadata: read` is implied for every App.
pub const PERMISSIONS: &[(&str, &str)] = &[
    ("checks", "write"),
    ("contents", "write"),
    ("issues", "write"),
    ("pull_requests", "write"),
    ("statuses", "write"),
    ("metadata", "read"),
    ("members", "read"),
];

/// The events bosun subscribes to: those it handles (`github::webhook::HANDLED_EVENTS`)
/// except the installation events, which GitHub sends to every App unasked.
pub fn events() -> Vec<&'static str> {
    crate::github::webhook::HANDLED_EVENTS
        .iter()
        .copied()
        .filter(|e| !e.starts_with("installation"))
        .collect()
}

/// Where GitHub is: its web pages (where the App is created) and its REST API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubUrls {
    /// The web address, without a trailing slash (`https://github.com`).
    pub web: String,
    /// The REST API base, without a trailing slash.
    pub api: String,
}

impl GitHubUrls {
    /// `web` (an http(s) URL) and the API: `api` when given, else `https://api.github.com`
    /// for github.com and `{web}/api/v3` for anything else, as GitHub Enterprise Server has
    /// it.
    pub fn new(web: &str, api: Option<&str>) -> anyhow::Result<Self> {
        let web = http_url("--github-url", web)?;
        let api = match api {
            Some(api) => http_url("--github-api-url", api)?,
            None if web.eq_ignore_ascii_case("https://github.com") => {
                "https://api.github.com".to_owned()
            }
            None => format!("{web}/api/v3"),
        };
        Ok(Self { web, api })
    }

    /// Where the form posts the manifest: the user's new-App page, or the organisation's.
    pub fn new_app_page(&self, org: Option<&str>) -> String {
        match org {
            Some(org) => format!("{}/organizations/{org}/settings/apps/new", self.web),
            None => format!("{}/settings/apps/new", self.web),
        }
    }

    /// Whether bosun serve needs `BOSUN_GITHUB_API_URL` (anything but its default).
    pub fn api_is_default(&self) -> bool {
        self.api == "https://api.github.com"
    }
}

/// An absolute http(s) URL with a host, without a trailing slash, or an error naming `flag`.
pub fn http_url(flag: &str, text: &str) -> anyhow::Result<String> {
    let url =
        Url::parse(text).map_err(|e| anyhow::anyhow!("{flag}: `{text}` is not a URL ({e})"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty()),
        "{flag}: `{text}` is not an http(s) URL with a host"
    );
    anyhow::ensure!(
        url.query().is_none() && url.fragment().is_none() && url.username().is_empty(),
        "{flag}: `{text}` may not carry a query, a fragment or credentials"
    );
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A GitHub organisation login: letters, digits and single hyphens, at most 39 characters.
pub fn check_org(org: &str) -> anyhow::Result<()> {
    let ok = !org.is_empty()
        && org.len() <= 39
        && org.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !org.starts_with('-')
        && !org.ends_with('-')
        && !org.contains("--");
    anyhow::ensure!(ok, "--org: `{org}` is not a GitHub organisation name");
    Ok(())
}

/// The App's name as GitHub takes it: 1 to 34 characters, no control characters.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let n = name.chars().count();
    anyhow::ensure!(
        (1..=34).contains(&n) && !name.chars().any(char::is_control),
        "--name: an App name has 1 to 34 characters"
    );
    Ok(())
}

/// The manifest: the App `name`, its homepage (`webhook_url`'s origin), the webhook, where
/// GitHub sends the browser back (`redirect_url`), private, with bosun's permissions and
/// events.
pub fn manifest(name: &str, webhook_url: &str, redirect_url: &str) -> Value {
    let homepage = Url::parse(webhook_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| webhook_url.to_owned());
    let permissions: serde_json::Map<String, Value> = PERMISSIONS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect();
    json!({
        "name": name,
        "url": homepage,
        "hook_attributes": { "url": webhook_url, "active": true },
        "redirect_url": redirect_url,
        "public": false,
        "default_permissions": permissions,
        "default_events": events(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_com_has_its_api_host_and_enterprise_has_api_v3() {
        let com = GitHubUrls::new("https://github.com/", None).unwrap();
        assert_eq!(com.api, "https://api.github.com");
        assert!(com.api_is_default());
        assert_eq!(
            com.new_app_page(None),
            "https://github.com/settings/apps/new"
        );
        let ghes = GitHubUrls::new("https://ghe.example.com", None).unwrap();
        assert_eq!(ghes.api, "https://ghe.example.com/api/v3");
        assert!(!ghes.api_is_default());
        assert_eq!(
            ghes.new_app_page(Some("acme")),
            "https://ghe.example.com/organizations/acme/settings/apps/new"
        );
        let given =
            GitHubUrls::new("http://127.0.0.1:9/", Some("http://127.0.0.1:9/api/")).unwrap();
        assert_eq!(given.api, "http://127.0.0.1:9/api");
    }

    #[test]
    fn urls_orgs_and_names_are_checked() {
        for bad in [
            "github.com",
            "ftp://x",
            "https://",
            "https://h/?q=1",
            "https://u:p@h",
        ] {
            assert!(GitHubUrls::new(bad, None).is_err(), "{bad}");
        }
        for bad in ["", "-a", "a-", "a--b", "a/b", "a b", &"x".repeat(40)] {
            assert!(check_org(bad).is_err(), "{bad}");
        }
        check_org("acme-corp").unwrap();
        assert!(check_name("").is_err());
        assert!(check_name(&"n".repeat(35)).is_err());
        assert!(check_name("a\nb").is_err());
        check_name("bosun (prod)").unwrap();
    }

    #[test]
    fn the_manifest_asks_for_what_bosun_uses() {
        let m = manifest(
            "bosun",
            "https://bosun.example.com/events",
            "http://127.0.0.1:3000/callback",
        );
        assert_eq!(m["url"], "https://bosun.example.com");
        assert_eq!(
            m["hook_attributes"]["url"],
            "https://bosun.example.com/events"
        );
        assert_eq!(m["public"], false);
        assert_eq!(
            m["default_events"],
            json!([
                "pull_request",
                "issue_comment",
                "pull_request_review",
                "push",
                "check_run"
            ])
        );
        assert_eq!(m["default_permissions"]["checks"], "write");
        assert_eq!(m["default_permissions"]["members"], "read");
    }
}
