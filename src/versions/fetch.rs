//! HTTP GETs of release files: http or https, up to 5 redirects (never from https to http),
//! bounded in time and size. Errors name the file, never the URL (an operator's mirror URL may
//! carry credentials).

use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

const MAX_REDIRECTS: usize = 5;

#[derive(Clone)]
pub struct Fetcher {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fetcher")
    }
}

/// Why a file could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    NotFound,
    Other(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound => f.write_str("not found (404)"),
            Self::Other(why) => f.write_str(why),
        }
    }
}

impl Fetcher {
    pub fn new() -> anyhow::Result<Self> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .context("setting up TLS for downloads")?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// The body at `url`, at most `cap` bytes, all within `timeout`.
    pub async fn get(
        &self,
        url: &str,
        cap: usize,
        timeout: Duration,
    ) -> Result<Vec<u8>, FetchError> {
        tokio::time::timeout(timeout, self.get_inner(url, cap))
            .await
            .unwrap_or_else(|_| {
                Err(FetchError::Other(format!(
                    "no complete answer within {}",
                    humantime::format_duration(timeout)
                )))
            })
    }

    async fn get_inner(&self, url: &str, cap: usize) -> Result<Vec<u8>, FetchError> {
        let other = |s: String| FetchError::Other(s);
        let mut uri: http::Uri = url
            .parse()
            .map_err(|_| other("the download URL is not a URL".into()))?;
        for _ in 0..=MAX_REDIRECTS {
            let request = http::Request::get(uri.clone())
                .header(http::header::USER_AGENT, "bosun")
                .body(Empty::new())
                .map_err(|_| other("the request could not be built".into()))?;
            let response = self.client.request(request).await.map_err(|e| {
                other(format!(
                    "the download source could not be reached ({})",
                    kind(&e)
                ))
            })?;
            let status = response.status();
            if status.is_redirection() {
                let next = response
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| other(format!("a redirect ({status}) without a location")))?;
                let next = resolve(&uri, next)
                    .ok_or_else(|| other("a redirect to a bad location".into()))?;
                if downgrades(&uri, &next) {
                    return Err(other("a redirect from https to http".into()));
                }
                uri = next;
                continue;
            }
            if status == http::StatusCode::NOT_FOUND {
                return Err(FetchError::NotFound);
            }
            if !status.is_success() {
                return Err(other(format!("the download source answered {status}")));
            }
            let body = Limited::new(response.into_body(), cap)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        other(format!("larger than {cap} bytes"))
                    } else {
                        other("the download broke off".into())
                    }
                })?;
            return Ok(body.to_bytes().to_vec());
        }
        Err(other(format!("more than {MAX_REDIRECTS} redirects")))
    }
}

/// A client error's kind without its text (which may quote the URL).
fn kind(e: &hyper_util::client::legacy::Error) -> &'static str {
    if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    }
}

/// Whether following `from` to `to` would leave https for http.
fn downgrades(from: &http::Uri, to: &http::Uri) -> bool {
    from.scheme_str() == Some("https") && to.scheme_str() != Some("https")
}

/// `location` against `base`: absolute, or a path on the same host.
fn resolve(base: &http::Uri, location: &str) -> Option<http::Uri> {
    let base = url::Url::parse(&base.to_string()).ok()?;
    let next = base.join(location).ok()?;
    if !matches!(next.scheme(), "http" | "https") {
        return None;
    }
    next.as_str().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_against_the_url_they_came_from() {
        let base: http::Uri = "https://mirror.example/terraform/1.9.3/x.zip"
            .parse()
            .unwrap();
        assert_eq!(
            resolve(&base, "/files/x.zip").unwrap().to_string(),
            "https://mirror.example/files/x.zip"
        );
        assert_eq!(
            resolve(&base, "https://objects.example/a?b=c")
                .unwrap()
                .to_string(),
            "https://objects.example/a?b=c"
        );
        assert_eq!(resolve(&base, "file:///etc/passwd"), None);
        let plain = resolve(&base, "http://mirror.example/x.zip").unwrap();
        assert!(downgrades(&base, &plain));
        assert!(!downgrades(&plain, &base));
    }

    /// A server on loopback: `/ok`, `/big` (2 KiB), `/r` (a redirect to `/ok`), `/loop` (a
    /// redirect to itself), `/slow` (answers after 5 s); anything else 404.
    async fn server() -> String {
        use axum::http::{StatusCode, header};
        use axum::response::IntoResponse;
        let app = axum::Router::new()
            .route("/ok", axum::routing::get(|| async { "fine" }))
            .route("/big", axum::routing::get(|| async { vec![b'x'; 2048] }))
            .route(
                "/r",
                axum::routing::get(|| async {
                    (StatusCode::FOUND, [(header::LOCATION, "/ok")]).into_response()
                }),
            )
            .route(
                "/loop",
                axum::routing::get(|| async {
                    (StatusCode::FOUND, [(header::LOCATION, "/loop")]).into_response()
                }),
            )
            .route(
                "/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn gets_follow_redirects_and_stop_at_the_caps() {
        let base = server().await;
        let f = Fetcher::new().unwrap();
        let t = Duration::from_secs(5);
        assert_eq!(
            f.get(&format!("{base}/ok"), 1024, t).await.unwrap(),
            b"fine"
        );
        assert_eq!(f.get(&format!("{base}/r"), 1024, t).await.unwrap(), b"fine");
        assert_eq!(
            f.get(&format!("{base}/missing"), 1024, t).await,
            Err(FetchError::NotFound)
        );
        let big = f.get(&format!("{base}/big"), 1024, t).await.unwrap_err();
        assert_eq!(big.to_string(), "larger than 1024 bytes");
        let looped = f.get(&format!("{base}/loop"), 1024, t).await.unwrap_err();
        assert_eq!(looped.to_string(), "more than 5 redirects");
        let slow = f
            .get(&format!("{base}/slow"), 1024, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(
            slow.to_string().starts_with("no complete answer within"),
            "{slow}"
        );
        let refused = f.get("http://127.0.0.1:1/x", 1024, t).await.unwrap_err();
        assert!(!refused.to_string().contains("127.0.0.1"), "{refused}");
    }
}
