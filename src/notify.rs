//! The notifier: a Slack-compatible incoming webhook (BOSUN_NOTIFY_URL, alias
//! BOSUN_DRIFT_NOTIFY_URL) that hears one line `{"text": "…"}` per drift status change, apply
//! outcome, apply held back on merge and lock held too long (`outbox`). The URL holds a
//! secret, so no error, log or `Debug` output ever shows it.

mod outbox;

pub use outbox::{Kind, Kinds, Outbox, web_url_of};

use std::time::Duration;

use anyhow::Context as _;
use backon::Retryable as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::config::Secret;

/// How long one attempt may take, connection included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Posts messages to one incoming-webhook URL.
#[derive(Clone)]
pub struct Notifier {
    url: Secret,
    uri: http::Uri,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// The waits before the second and the third attempt (the backoff `backon` retries by).
    backoff: [Duration; 2],
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Checks that `url` is an absolute http(s) URL with a host; the error never quotes it.
pub fn check_url(url: &Secret) -> anyhow::Result<http::Uri> {
    let text = url.expose();
    let scheme = text.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    anyhow::ensure!(
        matches!(scheme.as_deref(), Some("http" | "https")),
        "the notification URL must start with http:// or https://"
    );
    let uri: http::Uri = text
        .parse()
        .map_err(|_| anyhow::anyhow!("the notification URL is not a valid URL"))?;
    anyhow::ensure!(
        uri.host().is_some_and(|h| !h.is_empty()),
        "the notification URL has no host"
    );
    Ok(uri)
}

impl Notifier {
    /// A notifier posting to `url` (http or https; a clear error otherwise, never quoting the
    /// URL).
    pub fn new(url: &Secret) -> anyhow::Result<Self> {
        let uri = check_url(url)?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .context("setting up TLS for the notification URL")?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            url: url.clone(),
            uri,
            client,
            backoff: [Duration::from_secs(1), Duration::from_secs(2)],
        })
    }

    /// The same notifier with other waits between attempts (tests).
    #[cfg(test)]
    fn with_backoff(mut self, backoff: [Duration; 2]) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sends `text`: up to 3 attempts (10 s each) on connection errors, timeouts, 429 and
    /// 5xx, waiting 1 s then 2 s between them. The error says the status or the error, never
    /// the URL.
    pub async fn send(&self, text: &str) -> anyhow::Result<()> {
        let body = Bytes::from(
            serde_json::to_vec(&serde_json::json!({ "text": text }))
                .context("encoding a notification")?,
        );
        let mut attempt = 0;
        let sent = (|| self.attempt(body.clone()))
            .retry(self.backoff.into_iter())
            .when(|f| matches!(f, Failure::Retry(_)))
            .notify(|f, _| {
                attempt += 1;
                let (Failure::Retry(e) | Failure::Final(e)) = f;
                tracing::debug!(attempt, error = %e, "notification failed; trying again");
            })
            .await;
        match sent {
            Ok(()) => Ok(()),
            Err(Failure::Final(e)) => anyhow::bail!("sending a notification: {e}"),
            Err(Failure::Retry(last)) => anyhow::bail!(
                "sending a notification failed {} times; last: {last}",
                self.backoff.len() + 1
            ),
        }
    }

    async fn attempt(&self, body: Bytes) -> Result<(), Failure> {
        let request = http::Request::post(self.uri.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|_| Failure::Final("the request could not be built".into()))?;
        let response =
            match tokio::time::timeout(ATTEMPT_TIMEOUT, self.client.request(request)).await {
                Err(_) => return Err(Failure::Retry("no answer within 10 s".into())),
                Ok(Err(e)) => return Err(Failure::Retry(self.scrub(&e))),
                Ok(Ok(r)) => r,
            };
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let said = format!("the webhook answered {status}");
        if status == http::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Err(Failure::Retry(said))
        } else {
            Err(Failure::Final(said))
        }
    }

    /// An error's chain of causes, without the URL or its path (where the secret is).
    fn scrub(&self, e: &(dyn std::error::Error + 'static)) -> String {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        let mut scrubbed = text.replace(self.url.expose(), "[url]");
        if let Some(pq) = self.uri.path_and_query().filter(|pq| pq.as_str() != "/") {
            scrubbed = scrubbed.replace(pq.as_str(), "[path]");
        }
        scrubbed
    }
}

enum Failure {
    /// Worth another attempt.
    Retry(String),
    /// Another attempt would get the same answer.
    Final(String),
}

#[cfg(test)]
mod tests;
