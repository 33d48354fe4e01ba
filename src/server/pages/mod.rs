//! bosun's pages, rendered on the server. A page needs a viewer: without one, the browser is
//! sent to sign in (`/login?next=…`), or answered 401 when sign-in is off.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::auth::{NoViewer, Viewer, viewer_of};

/// Text made safe inside HTML (element content and quoted attributes).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page's viewer, or the answer to give instead: a sign-in redirect back to `uri`.
pub fn page_viewer(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Viewer, Box<Response>> {
    match viewer_of(state, headers) {
        Ok(v) => Ok(v),
        Err(NoViewer::Missing) if state.auth.is_some() => {
            let next = uri.path_and_query().map_or("/", |p| p.as_str());
            let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
            let mut response = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("/login?{query}")) {
                response.headers_mut().insert(header::LOCATION, v);
            }
            Err(Box::new(response))
        }
        Err(e) => Err(Box::new(e.refusal(state).into_response())),
    }
}

/// A whole page around `body`.
fn layout(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · bosun</title></head>\n<body>\n{body}\n</body></html>\n",
        title = escape(title),
    ))
}

/// `GET /`: who is signed in, and a sign-out button.
pub async fn home(State(state): State<Arc<AppState>>, headers: HeaderMap, uri: Uri) -> Response {
    let viewer = match page_viewer(&state, &headers, &uri) {
        Ok(v) => v,
        Err(response) => return *response,
    };
    let who = match (&viewer, state.auth.as_ref()) {
        (Viewer::User(session), Some(auth)) => format!(
            "<p>Signed in as <strong>{login}</strong>.</p>\n\
             <form method=\"post\" action=\"/logout\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button type=\"submit\">Sign out</button></form>",
            login = escape(&session.login),
            csrf = escape(&auth.keys.csrf_token(session)),
        ),
        _ => "<p>Signed in as the operator (API token).</p>".to_owned(),
    };
    let mut response = layout(
        "bosun",
        &format!(
            "<main>\n<h1>bosun</h1>\n{who}\n<p><a href=\"/api/locks\">Locks (JSON)</a></p>\n</main>"
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
