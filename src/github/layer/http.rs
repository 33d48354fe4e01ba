//! The transport: requests over HTTPS (hyper with rustls) to `BOSUN_GITHUB_API_URL`, its
//! GraphQL endpoint, or GitHub's web host. Every request and every answer is bounded in time
//! and size. It sends tokens as they are given: the credentials layer above resolves them.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::github::GitHubError;
use crate::github::request::{Answer, Auth, Request, Service, Target};

/// No single request waits longer than this for GitHub's answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of an answer read (a page of 100 issues with long bodies fits).
const MAX_ANSWER: usize = 32 << 20;
const USER_AGENT: &str = concat!("bosun/", env!("CARGO_PKG_VERSION"));

/// GitHub over HTTPS.
pub struct HttpTransport {
    api_url: String,
    graphql_url: String,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// How long one request (sending it, then reading its answer) may take.
    timeout: Duration,
}

impl HttpTransport {
    /// A transport to the REST API at `api_url`; requests are cut off after `timeout` (at
    /// most 30 s).
    pub fn new(api_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| anyhow::anyhow!("setting up TLS for GitHub: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let api_url = api_url.trim_end_matches('/').to_owned();
        Ok(Self {
            graphql_url: graphql_url(&api_url),
            api_url,
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout: timeout.min(REQUEST_TIMEOUT),
        })
    }

    fn build(&self, request: &Request) -> Result<http::Request<Full<Bytes>>, String> {
        let (url, form) = match &request.target {
            Target::Rest(path) => (format!("{}{path}", self.api_url), false),
            Target::GraphQl => (self.graphql_url.clone(), false),
            Target::Web(url) => (url.clone(), true),
            Target::Token { .. } => return Err("a token is not fetched by itself".into()),
        };
        let mut builder = http::Request::builder()
            .method(request.method.clone())
            .uri(url)
            .header(header::USER_AGENT, USER_AGENT);
        builder = match &request.auth {
            Auth::None => builder,
            Auth::Token(token) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                    .map_err(|_| "credential is not a valid header value".to_owned())?;
                value.set_sensitive(true);
                builder.header(header::AUTHORIZATION, value)
            }
            Auth::App | Auth::Installation(_) => {
                return Err("no credentials layer resolved the request's token".into());
            }
        };
        let body = match (&request.body, form) {
            (None, _) => Bytes::new(),
            (Some(body), false) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(body.to_string())
            }
            (Some(body), true) => {
                builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Bytes::from(form_body(body)?)
            }
        };
        builder = if form {
            builder.header(header::ACCEPT, "application/json")
        } else {
            builder
                .header(header::ACCEPT, "application/vnd.github+json")
                .header("x-github-api-version", "2022-11-28")
        };
        builder
            .body(Full::new(body))
            .map_err(|e| format!("building the request: {e}"))
    }
}

/// A JSON object of strings as a form.
fn form_body(body: &serde_json::Value) -> Result<String, String> {
    let fields: Vec<(&str, &str)> = body
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
        .collect();
    serde_urlencoded::to_string(fields).map_err(|e| format!("encoding the form: {e}"))
}

/// Where GitHub's GraphQL API is: `/graphql` on github.com's API host, `/api/graphql` on GitHub
/// Enterprise Server (whose REST API is under `/api/v3`).
pub(crate) fn graphql_url(api_url: &str) -> String {
    match api_url.strip_suffix("/api/v3") {
        Some(host) => format!("{host}/api/graphql"),
        None => format!("{api_url}/graphql"),
    }
}

/// Whether a transport error happened before any byte of the request left: the connection
/// was never made (refused, unresolvable, TLS refused).
fn never_connected(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(h) = c.downcast_ref::<hyper_util::client::legacy::Error>()
            && h.is_connect()
        {
            return true;
        }
        cause = c.source();
    }
    false
}

fn short(e: &dyn std::fmt::Display) -> String {
    e.to_string().chars().take(300).collect()
}

#[async_trait::async_trait]
impl Service for HttpTransport {
    #[tracing::instrument(level = "debug", name = "github", skip_all, fields(method = %request.method, what = request.what))]
    async fn send(&self, request: Request) -> Result<Answer, GitHubError> {
        let what = request.what;
        let unsent = |message: String| GitHubError::Unsent {
            what: what.into(),
            message,
        };
        let sent = |message: String| GitHubError::Transport {
            what: what.into(),
            message,
        };
        let http_request = self.build(&request).map_err(unsent)?;
        let response = tokio::time::timeout(self.timeout, self.client.request(http_request))
            .await
            .map_err(|_| sent("timed out".to_owned()))?
            .map_err(|e| {
                if never_connected(&e) {
                    unsent(short(&e))
                } else {
                    sent(short(&e))
                }
            })?;
        let (parts, body) = response.into_parts();
        let body = tokio::time::timeout(self.timeout, Limited::new(body, MAX_ANSWER).collect())
            .await
            .map_err(|_| sent("timed out reading the answer".to_owned()))?
            .map_err(|e| sent(short(&*e)))?
            .to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// A server on loopback answering every request with 200 and a JSON body of `len` bytes.
    async fn answering(len: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let mut request = [0u8; 4096];
            let _ = conn.read(&mut request).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n"
            );
            let _ = conn.write_all(head.as_bytes()).await;
            let chunk = vec![b' '; 1 << 20];
            let mut left = len;
            while left > 0 {
                let n = left.min(chunk.len());
                if conn.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
                left -= n;
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn an_answer_over_the_bound_is_refused_and_one_within_it_read() {
        let get = || Request::get("reading a big answer", "/big", Auth::None);
        let within =
            HttpTransport::new(&answering(1 << 20).await, Duration::from_secs(20)).unwrap();
        let answer = within.send(get()).await.expect("a 1 MiB answer is read");
        assert_eq!(answer.body.len(), 1 << 20);
        let over =
            HttpTransport::new(&answering(MAX_ANSWER + 1).await, Duration::from_secs(20)).unwrap();
        match over.send(get()).await {
            Err(GitHubError::Transport { what, .. }) => assert_eq!(what, "reading a big answer"),
            other => panic!("an answer over {MAX_ANSWER} bytes was not refused: {other:?}"),
        }
    }
}
