//! What every page needs first: a viewer. Without one, the browser is sent to sign in
//! (`/login?next=…`), or answered 401 when sign-in is off. The pages are in `ui` (handlers)
//! and `crate::web` (rendering).

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::{NoViewer, Viewer, viewer_of};

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
