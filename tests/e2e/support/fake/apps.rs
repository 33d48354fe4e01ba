//! Apps made through the manifest flow, as GitHub makes them: the user confirms a manifest on
//! GitHub's new-App page (`FakeGitHub::confirm_manifest`, the web half the tests play), GitHub
//! sends the browser back with a one-time code, and `POST /app-manifests/{code}/conversions`
//! (no authentication) answers with the new App: its id, a fresh RSA key (made with
//! `openssl`), a webhook secret and OAuth credentials. The fake then accepts that App's JWTs.

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::model::Model;
use super::{FakeGitHub, error, new_guid};

/// An App made from a manifest.
pub struct CreatedApp {
    pub id: u64,
    pub slug: String,
    pub name: String,
    pub manifest: Value,
    /// Where it was created: `None` for the user's account, else the organisation.
    pub org: Option<String>,
    pub public_key: jsonwebtoken::DecodingKey,
    pub webhook_secret: String,
}

/// A manifest confirmed on GitHub's page, waiting for its code to be converted.
pub struct PendingManifest {
    pub manifest: Value,
    pub org: Option<String>,
    pub expires_at: SystemTime,
}

impl FakeGitHub {
    /// The user confirms `manifest` on GitHub's new-App page (of the organisation `org`, or
    /// their own): GitHub checks it as its form does and gives the one-time code it sends
    /// the browser back with to the manifest's `redirect_url`; an invalid manifest is refused
    /// with GitHub's reason.
    pub fn confirm_manifest(&self, manifest: &Value, org: Option<&str>) -> Result<String, String> {
        for field in ["name", "url"] {
            if manifest[field].as_str().is_none_or(str::is_empty) {
                return Err(format!("{field} is required"));
            }
        }
        if manifest["hook_attributes"]["url"].as_str().is_none() {
            return Err("hook_attributes.url is required".into());
        }
        let known_events = [
            "pull_request",
            "issue_comment",
            "pull_request_review",
            "push",
            "check_run",
            "check_suite",
            "issues",
            "status",
        ];
        for e in manifest["default_events"].as_array().into_iter().flatten() {
            if !e.as_str().is_some_and(|e| known_events.contains(&e)) {
                return Err(format!(
                    "default_events: {e} is not an event an App can subscribe to"
                ));
            }
        }
        let levels = ["read", "write"];
        for (k, v) in manifest["default_permissions"]
            .as_object()
            .into_iter()
            .flatten()
        {
            if !v.as_str().is_some_and(|v| levels.contains(&v)) {
                return Err(format!("default_permissions.{k}: {v} is not read or write"));
            }
        }
        let code = new_guid().replace('-', "");
        self.model().pending_manifests.insert(
            code.clone(),
            PendingManifest {
                manifest: manifest.clone(),
                org: org.map(str::to_owned),
                // GitHub: the code must be exchanged within an hour.
                expires_at: SystemTime::now() + Duration::from_secs(3600),
            },
        );
        Ok(code)
    }
}

/// `POST /app-manifests/{code}/conversions`: the App, once; 404 for an unknown, used or
/// expired code.
pub fn convert(m: &mut Model, base_url: &str, code: &str) -> Response {
    let Some(pending) = m
        .pending_manifests
        .remove(code)
        .filter(|p| p.expires_at > SystemTime::now())
    else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    let (private, public) = new_rsa_key();
    let id = m.next_id();
    let name = pending.manifest["name"].as_str().unwrap_or("").to_owned();
    let slug: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let webhook_secret = hex_secret();
    let owner = pending.org.clone().unwrap_or_else(|| "octocat".into());
    let body = json!({
        "id": id,
        "slug": slug,
        "node_id": format!("A_fake{id}"),
        "client_id": format!("Iv1.{}", &hex_secret()[..16]),
        "owner": { "login": owner },
        "name": name,
        "description": null,
        "external_url": pending.manifest["url"],
        "html_url": format!("{base_url}/apps/{slug}"),
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "permissions": pending.manifest["default_permissions"],
        "events": pending.manifest["default_events"],
        "webhook_secret": webhook_secret,
        "pem": private,
        "client_secret": hex_secret(),
    });
    m.created_apps.push(CreatedApp {
        id,
        slug,
        name,
        manifest: pending.manifest,
        org: pending.org,
        public_key: jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).unwrap(),
        webhook_secret,
    });
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

/// A fresh 2048-bit RSA key in PKCS#1 PEM, as GitHub hands them out, and its public half.
fn new_rsa_key() -> (String, String) {
    let private = Command::new("openssl")
        .args(["genrsa", "-traditional", "2048"])
        .stderr(Stdio::null())
        .output()
        .expect("openssl makes the fake's App keys");
    assert!(private.status.success(), "openssl genrsa failed");
    let mut child = Command::new("openssl")
        .args(["rsa", "-pubout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&private.stdout)
        .unwrap();
    let public = child.wait_with_output().unwrap();
    assert!(public.status.success(), "openssl rsa -pubout failed");
    (
        String::from_utf8(private.stdout).unwrap(),
        String::from_utf8(public.stdout).unwrap(),
    )
}

fn hex_secret() -> String {
    (0..4)
        .map(|_| format!("{:016x}", fastrand::u64(..)))
        .collect()
}

/// `GET /app` for an App made from a manifest.
pub fn app_json(app: &CreatedApp) -> Value {
    json!({ "id": app.id, "slug": app.slug, "name": app.name })
}
