//! Git's smart HTTP protocol, served for real by running `git http-backend` as a CGI program:
//! the request body streams to its stdin, its CGI headers (`Status:`, `Content-Type:`, …) are
//! parsed from stdout, and the rest of stdout streams back as the response body, counted.
//!
//! Depends on nothing else in the test support, so the workspace benchmark includes this file
//! too (`#[path]`).

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// One request for `git http-backend`.
pub struct CgiRequest<'a> {
    /// The directory holding the repositories (`GIT_PROJECT_ROOT`).
    pub project_root: &'a Path,
    /// `/<repository dir>/<git path>`, e.g. `/acme+infra.git/info/refs`.
    pub path_info: &'a str,
    pub method: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
    /// The authenticated user, if any (`REMOTE_USER`).
    pub remote_user: Option<&'a str>,
}

/// Runs `git http-backend` for `req`; the response body streams from it, and every byte
/// sent is added to `sent`.
pub async fn serve(req: CgiRequest<'_>, sent: Arc<AtomicU64>) -> Response {
    match run(req, sent).await {
        Ok(r) => r,
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn run(req: CgiRequest<'_>, sent: Arc<AtomicU64>) -> std::io::Result<Response> {
    let header = |name: &str| {
        req.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", req.project_root)
        .env("GIT_PROJECT_ROOT", req.project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", req.path_info)
        .env("QUERY_STRING", req.query)
        .env("REQUEST_METHOD", req.method)
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", req.body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("HTTP_GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REMOTE_USER", req.remote_user.unwrap_or(""))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().ok_or_else(|| io("no stdin"))?;
    let body = req.body;
    tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let mut stderr = child.stderr.take().ok_or_else(|| io("no stderr"))?;
    tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = stderr.read_to_end(&mut sink).await;
    });
    let mut stdout = BufReader::new(child.stdout.take().ok_or_else(|| io("no stdout"))?);

    let mut status = StatusCode::OK;
    let mut headers = HeaderMap::new();
    for _ in 0..100 {
        let mut line = String::new();
        if stdout.read_line(&mut line).await? == 0 {
            break;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split(' ').next().and_then(|c| c.parse().ok());
            status = code
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        } else if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(n, v);
        }
    }

    // The child stays alive (owned by the stream) until the body is fully sent.
    let stream = futures::stream::unfold(Some((stdout, child, sent)), |state| async move {
        let (mut out, child, sent) = state?;
        let mut buf = vec![0u8; 64 * 1024];
        match out.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                sent.fetch_add(n as u64, Ordering::Relaxed);
                Some((Ok(Bytes::from(buf)), Some((out, child, sent))))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

fn io(message: &str) -> std::io::Error {
    std::io::Error::other(message.to_owned())
}

/// A plain-text response.
pub fn plain(status: StatusCode, message: &str) -> Response {
    let mut r = Response::new(Body::from(format!("{message}\n")));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/plain"));
    r
}
