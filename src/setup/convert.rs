//! The manifest flow's last step: `POST {api}/app-manifests/{code}/conversions` turns the
//! code GitHub sent the browser back with into the new App's id, key and webhook secret.

use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use crate::config::Secret;

/// How long GitHub may take to answer.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The most of an answer read (a key and a few fields).
const MAX_ANSWER: usize = 1 << 20;

/// The App GitHub made. The key and the webhook secret never print.
#[derive(Debug, Clone)]
pub struct CreatedApp {
    pub id: u64,
    pub slug: String,
    pub name: String,
    pub html_url: String,
    pub pem: Secret,
    pub webhook_secret: Secret,
}

#[derive(Deserialize)]
struct Answer {
    id: u64,
    #[serde(default)]
    slug: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    pem: String,
    webhook_secret: Option<String>,
}

/// Whether `code` can be what GitHub sends back (so it is safe in a URL path).
pub fn plausible_code(code: &str) -> bool {
    (1..=200).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Exchanges `code` for the App. The error quotes GitHub's `message`, never the answer's
/// secrets.
pub async fn convert(api: &str, code: &str) -> anyhow::Result<CreatedApp> {
    anyhow::ensure!(plausible_code(code), "the code is not one GitHub gives");
    let url = format!("{api}/app-manifests/{code}/conversions");
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .context("setting up TLS")?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let request = http::Request::post(&url)
        .header(http::header::ACCEPT, "application/vnd.github+json")
        .header(
            http::header::USER_AGENT,
            concat!("bosun/", env!("CARGO_PKG_VERSION")),
        )
        .header("x-github-api-version", "2022-11-28")
        .body(Full::new(Bytes::new()))
        .context("building the conversion request")?;
    let response = tokio::time::timeout(TIMEOUT, client.request(request))
        .await
        .map_err(|_| anyhow::anyhow!("GitHub did not answer within 30 s"))?
        .context("asking GitHub for the new App")?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading GitHub's answer: {e}"))?
        .to_bytes();
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_default();
        anyhow::bail!("GitHub answered {status} to the conversion: {message}");
    }
    let answer: Answer = serde_json::from_slice(&body)
        .map_err(|e| anyhow::anyhow!("GitHub's answer is not an App ({})", e.classify_name()))?;
    let webhook_secret = answer
        .webhook_secret
        .filter(|s| !s.is_empty())
        .context("GitHub's answer has no webhook secret")?;
    anyhow::ensure!(
        answer.pem.contains("PRIVATE KEY"),
        "GitHub's answer has no private key"
    );
    Ok(CreatedApp {
        id: answer.id,
        slug: answer.slug.unwrap_or_default(),
        name: answer.name.unwrap_or_default(),
        html_url: answer.html_url.unwrap_or_default(),
        pem: Secret::new(answer.pem),
        webhook_secret: Secret::new(webhook_secret),
    })
}

trait Classify {
    fn classify_name(&self) -> &'static str;
}

impl Classify for serde_json::Error {
    /// What kind of error, without the text (which may quote the answer).
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "missing or mistyped fields",
            serde_json::error::Category::Eof => "cut short",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_codes_reach_a_url() {
        assert!(plausible_code("a1B2-c_3"));
        for bad in ["", "../x", "a/b", "a?b", "a b", &"x".repeat(201)] {
            assert!(!plausible_code(bad), "{bad}");
        }
    }
}
