//! A person signed in over plain HTTP (no browser): signs in through bosun's `/login` and the fake GitHub's OAuth web
//! flow, then sends requests with the session cookie (and the CSRF token the page gives).

use bytes::Bytes;
use http::Method;

use super::TestContext;
use super::client::Reply;
use super::fake::oauth;

/// What bosun's sign-in settings are in these tests.
pub const PUBLIC_URL: &str = "https://bosun.example.com";
pub const API_TOKEN: &str = "sign-in-test-api-token-0123456789";

impl TestContext {
    /// Turns on sign-in with GitHub (and the API token) before bosun starts.
    pub fn enable_sign_in(&mut self) {
        self.set("public_url", PUBLIC_URL);
        self.set("github_oauth_client_id", oauth::CLIENT_ID);
        self.set("github_oauth_client_secret", oauth::CLIENT_SECRET);
        self.set("api_token", API_TOKEN);
        self.fake.model().oauth.callback_url = Some(format!("{PUBLIC_URL}/oauth/callback"));
    }
}

/// A signed-in browser.
#[derive(Clone)]
pub struct SignedIn {
    /// The `Set-Cookie` value bosun gave at sign-in.
    pub set_cookie: String,
    /// The session cookie's value.
    pub session: String,
    /// The CSRF token the home page holds.
    pub csrf: String,
}

/// The `Set-Cookie` header of `name` in a reply.
pub fn set_cookie(reply: &Reply, name: &str) -> Option<String> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The value part of a `Set-Cookie` header.
pub fn cookie_value(set_cookie: &str) -> String {
    let pair = set_cookie.split(';').next().unwrap_or("");
    pair.split_once('=')
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default()
}

pub fn location(reply: &Reply) -> String {
    reply
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Location in {reply:?}"))
        .to_owned()
}

/// Signs `user` in, starting at `/login?next=…`; returns the browser and where bosun sent it
/// after sign-in.
pub async fn sign_in(ctx: &TestContext, user: &str, next: &str) -> (SignedIn, String) {
    let q = serde_urlencoded::to_string([("next", next)]).unwrap();
    let login = ctx.http.get(&ctx.url(&format!("/login?{q}"))).await;
    assert_eq!(login.status, 303, "{}", login.text());
    let to_github = location(&login);
    assert!(
        to_github.starts_with(&format!("{}/login/oauth/authorize?", ctx.fake.url)),
        "{to_github}"
    );
    let state_cookie = set_cookie(&login, "bosun_oauth_state").expect("a state cookie");
    ctx.fake.sign_in_as(user);
    let github = ctx
        .http
        .send(
            Method::GET,
            &to_github,
            &[("user-agent", "a browser".into())],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(github.status, 302, "{}", github.text());
    let back = location(&github);
    let path = back
        .strip_prefix(PUBLIC_URL)
        .unwrap_or_else(|| panic!("GitHub sends the browser to bosun's public URL: {back}"));
    assert!(path.starts_with("/oauth/callback?"), "{path}");
    let cookie = format!("bosun_oauth_state={}", cookie_value(&state_cookie));
    let callback = send(ctx, Method::GET, path, &[("cookie", cookie)]).await;
    assert_eq!(callback.status, 303, "{}", callback.text());
    let set = set_cookie(&callback, "bosun_session").expect("a session cookie");
    let session = cookie_value(&set);
    let home = send(
        ctx,
        Method::GET,
        "/",
        &[("cookie", format!("bosun_session={session}"))],
    )
    .await;
    assert_eq!(home.status, 200, "{}", home.text());
    let page = home.text();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("the home page has a CSRF token: {page}"))
        .to_owned();
    let browser = SignedIn {
        set_cookie: set,
        session,
        csrf,
    };
    (browser, location(&callback))
}

/// Sends a request to bosun.
pub async fn send(
    ctx: &TestContext,
    method: Method,
    path: &str,
    headers: &[(&str, String)],
) -> Reply {
    ctx.http
        .send(method, &ctx.url(path), headers, Bytes::new())
        .await
        .unwrap()
}

impl SignedIn {
    fn cookie(&self) -> (&'static str, String) {
        ("cookie", format!("bosun_session={}", self.session))
    }

    /// A request with the session cookie, without the CSRF token.
    pub async fn send(&self, ctx: &TestContext, method: Method, path: &str) -> Reply {
        send(ctx, method, path, &[self.cookie()]).await
    }

    /// A page form's POST to `path` with the session cookie and `fields` (the CSRF token is
    /// one of them, as the pages put it).
    pub async fn post_form(&self, ctx: &TestContext, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = serde_urlencoded::to_string(fields).unwrap();
        ctx.http
            .send(
                Method::POST,
                &ctx.url(path),
                &[
                    self.cookie(),
                    (
                        "content-type",
                        "application/x-www-form-urlencoded".to_owned(),
                    ),
                ],
                Bytes::from(body),
            )
            .await
            .unwrap()
    }

    /// A request with the session cookie and the CSRF token.
    pub async fn change(&self, ctx: &TestContext, method: Method, path: &str) -> Reply {
        send(
            ctx,
            method,
            path,
            &[self.cookie(), ("x-csrf-token", self.csrf.clone())],
        )
        .await
    }
}

/// A request with the operator's API token.
pub async fn as_operator(ctx: &TestContext, method: Method, path: &str) -> Reply {
    send(
        ctx,
        method,
        path,
        &[("authorization", format!("Bearer {API_TOKEN}"))],
    )
    .await
}
