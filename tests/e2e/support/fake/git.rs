//! The fake GitHub's git endpoint: `/git/<owner>/<name>.git/...` served by `git http-backend`
//! (see `git_http`), behind GitHub's authentication for git over HTTPS.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use base64::Engine as _;

use super::{Inner, git_http, model};

/// `/git/<owner>/<name>.git/<path>`: git's smart HTTP protocol, read-only, authenticated like
/// GitHub: HTTP Basic with user `x-access-token` and a live installation token. No or bad
/// credentials get 401 with a Basic challenge; a repository the token cannot see (another
/// installation's, or outside the token's `repositories`), 404; a token without `contents`,
/// 403.
pub(super) async fn serve(
    inner: &Arc<Inner>,
    method: &Method,
    rest: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let challenge = || {
        let mut r = git_http::plain(StatusCode::UNAUTHORIZED, "Invalid username or token.");
        r.headers_mut().insert(
            "www-authenticate",
            axum::http::HeaderValue::from_static("Basic realm=\"GitHub\""),
        );
        r
    };
    let not_found = || git_http::plain(StatusCode::NOT_FOUND, "Repository not found.");
    let mut parts = rest.splitn(3, '/');
    let (Some(owner), Some(name), Some(tail)) = (parts.next(), parts.next(), parts.next()) else {
        return not_found();
    };
    let Some(name) = name.strip_suffix(".git") else {
        return not_found();
    };
    let full = format!("{owner}/{name}");
    let credentials = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let Some((user, token)) = credentials.as_deref().and_then(|c| c.split_once(':')) else {
        return challenge();
    };
    let query = query.unwrap_or("");
    let service = if tail == "info/refs" {
        query.strip_prefix("service=").unwrap_or("").to_owned()
    } else {
        tail.to_owned()
    };
    let (git_dir, sent) = {
        let mut m = inner.model.lock().unwrap();
        let (installation, scope) = match m.tokens.get(token) {
            Some(t) if user == "x-access-token" && t.expires_at > SystemTime::now() => {
                (t.installation, t.scope.clone())
            }
            _ => return challenge(),
        };
        let Some(repo) = m.repo(&full) else {
            return not_found();
        };
        // A token narrowed to other repositories does not see this one; one without
        // `contents` may not read it.
        if m.installation_of(&full) != Some(installation) || !scope.covers(&full) {
            return not_found();
        }
        if !scope.grants("contents", "read") {
            return git_http::plain(StatusCode::FORBIDDEN, "Permission to read denied.");
        }
        let git_dir = repo.git_dir.clone();
        if service != "git-upload-pack" {
            return git_http::plain(StatusCode::FORBIDDEN, "Write access is not granted.");
        }
        let (request, sent) = model::GitRequest::new(&service, tail, &full, token, &scope);
        m.git_requests.push(request);
        (git_dir, sent)
    };
    let (Some(root), Some(dir_name)) = (git_dir.parent(), git_dir.file_name()) else {
        return not_found();
    };
    let path_info = format!("/{}/{tail}", dir_name.to_string_lossy());
    let request = git_http::CgiRequest {
        project_root: root,
        path_info: &path_info,
        method: method.as_str(),
        query,
        headers,
        body: body.clone(),
        remote_user: Some(user),
    };
    git_http::serve(request, sent).await
}
