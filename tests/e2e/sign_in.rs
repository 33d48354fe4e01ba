//! Sign-in with GitHub and who sees what: the OAuth round trip through the fake GitHub, the
//! sealed session cookie, CSRF on state changes, repositories hidden from those who cannot
//! read them, unlocking through the API, and the operator's bearer token beside it all.

use bosun::ids::RepoKey;
use http::Method;

use crate::support::prs::module;
use crate::support::signed_in::{
    self, API_TOKEN, SignedIn, as_operator, cookie_value, location, send, sign_in,
};
use crate::support::{REPO, TestContext};

async fn start() -> TestContext {
    let mut ctx = TestContext::without_bosun().await;
    ctx.enable_sign_in();
    ctx.start_bosun().await;
    ctx
}

/// Two pull requests changing `envs/shared`: the first holds its lock, the second waits.
async fn two_on_shared(ctx: &TestContext) -> (u64, u64) {
    let state = ctx.state_file("shared");
    let (first, _) = ctx
        .open_pr("first", &[("envs/shared/main.tf", &module(&state, &["a"]))])
        .await;
    ctx.settle().await;
    let (second, _) = ctx
        .open_pr(
            "second",
            &[("envs/shared/main.tf", &module(&state, &["b"]))],
        )
        .await;
    ctx.settle().await;
    ctx.reply(second, "locked");
    (first, second)
}

/// The API routes that read or change something of `acme/infra`, with a project lock's name.
fn repo_routes() -> Vec<(Method, String)> {
    vec![
        (Method::GET, format!("/api/drift/{REPO}")),
        (Method::POST, format!("/api/drift/{REPO}")),
        (
            Method::DELETE,
            format!("/api/locks/{REPO}?project=envs/shared&reason=test"),
        ),
        (
            Method::DELETE,
            format!("/api/locks/{REPO}?dir=envs/shared&workspace=default&reason=test"),
        ),
    ]
}

/// Every route of the API and the pages.
fn all_routes() -> Vec<(Method, String)> {
    let mut routes = repo_routes();
    routes.extend([
        (Method::GET, "/api/locks".to_owned()),
        (Method::GET, "/api/apply-lock".to_owned()),
        (Method::POST, "/api/apply-lock".to_owned()),
        (Method::DELETE, "/api/apply-lock".to_owned()),
        (Method::GET, "/api/audit".to_owned()),
        (Method::GET, format!("/api/audit?repo={REPO}")),
        (Method::GET, "/api/runs/1".to_owned()),
        (Method::GET, "/api/runs/1/log".to_owned()),
    ]);
    routes
}

#[tokio::test]
async fn sign_in_round_trip_sets_a_sealed_secure_session_cookie() {
    let ctx = start().await;
    let (alice, next) = sign_in(&ctx, "alice", "/api/locks").await;
    assert_eq!(next, "/api/locks", "back where the user was going");
    let set = &alice.set_cookie;
    for part in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=28800",
    ] {
        assert!(set.contains(part), "{part} in {set}");
    }
    let token = ctx
        .fake
        .model()
        .oauth
        .tokens
        .keys()
        .next()
        .cloned()
        .unwrap();
    assert!(
        !set.contains(&token) && !set.contains("gho_"),
        "the token is sealed"
    );
    let home = alice.send(&ctx, Method::GET, "/").await;
    assert!(
        home.text().contains("Signed in as <strong>alice</strong>"),
        "{}",
        home.text()
    );
    assert_eq!(
        alice.send(&ctx, Method::GET, "/api/locks").await.status,
        200
    );
    // A wrong bearer token is refused even beside a good cookie.
    let both = send(
        &ctx,
        Method::GET,
        "/api/locks",
        &[
            ("cookie", format!("bosun_session={}", alice.session)),
            ("authorization", "Bearer not-the-token-0123456789".into()),
        ],
    )
    .await;
    assert_eq!(both.status, 401, "{}", both.text());

    // A changed cookie is refused: the page sends the browser to sign in, the API says 401.
    let mut bytes = alice.session.clone().into_bytes();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = SignedIn {
        session: String::from_utf8(bytes).unwrap(),
        set_cookie: String::new(),
        csrf: alice.csrf.clone(),
    };
    let page = tampered.send(&ctx, Method::GET, "/").await;
    assert_eq!(page.status, 303);
    assert_eq!(location(&page), "/login?next=%2F");
    let api = tampered.send(&ctx, Method::GET, "/api/locks").await;
    assert_eq!(api.status, 401, "{}", api.text());

    // A state from another sign-in, or none, is refused.
    let replay = send(&ctx, Method::GET, "/oauth/callback?code=abc&state=def", &[]).await;
    assert_eq!(replay.status, 400, "{}", replay.text());

    // Signing out needs the CSRF token; then the cookie goes.
    let out = alice.send(&ctx, Method::POST, "/logout").await;
    assert_eq!(out.status, 403, "{}", out.text());
    let out = ctx
        .http
        .send(
            Method::POST,
            &ctx.url("/logout"),
            &[
                ("cookie", format!("bosun_session={}", alice.session)),
                ("content-type", "application/x-www-form-urlencoded".into()),
            ],
            format!("csrf={}", alice.csrf).into(),
        )
        .await
        .unwrap();
    assert_eq!(out.status, 303, "{}", out.text());
    let gone = signed_in::set_cookie(&out, "bosun_session").unwrap();
    assert!(
        gone.contains("Max-Age=0") && cookie_value(&gone).is_empty(),
        "{gone}"
    );
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test]
async fn no_route_answers_without_credentials() {
    let ctx = start().await;
    for (method, path) in all_routes() {
        let r = send(&ctx, method.clone(), &path, &[]).await;
        assert_eq!(r.status, 401, "{method} {path}: {}", r.text());
        assert_eq!(r.headers["www-authenticate"], "Bearer", "{method} {path}");
        assert!(!r.text().contains("envs/"), "{method} {path}: no data");
        let wrong = send(
            &ctx,
            method.clone(),
            &path,
            &[("authorization", "Bearer not-the-token-0123456789".into())],
        )
        .await;
        assert_eq!(wrong.status, 401, "{method} {path}");
    }
    let page = send(&ctx, Method::GET, "/", &[]).await;
    assert_eq!(page.status, 303);
    assert_eq!(location(&page), "/login?next=%2F");
    for open in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            send(&ctx, Method::GET, open, &[]).await.status,
            200,
            "{open}"
        );
    }
    ctx.finish().await;
}

#[tokio::test]
async fn who_cannot_read_the_repo_sees_nothing_of_it_and_a_reader_cannot_unlock() {
    let ctx = start().await;
    ctx.fake.set_permission(REPO, "rita", "read");
    let (first, _second) = two_on_shared(&ctx).await;

    // The operator sees the lock.
    let all = as_operator(&ctx, Method::GET, "/api/locks").await;
    assert_eq!(all.status, 200, "{}", all.text());
    let locks = all.json()["locks"].as_array().unwrap().clone();
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert_eq!(locks[0]["repo"], REPO);
    assert_eq!(locks[0]["pr"], first);
    assert_eq!(locks[0]["dir"], "envs/shared");
    assert_eq!(locks[0]["workspace"], "default");
    assert!(locks[0]["since"].as_str().unwrap().ends_with('Z'));

    // Mallory has no role on the repo: no lock listed, every route of the repo 404.
    let (mallory, _) = sign_in(&ctx, "mallory", "/").await;
    let listed = mallory.send(&ctx, Method::GET, "/api/locks").await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()["locks"], serde_json::json!([]));
    for (method, path) in repo_routes() {
        let r = mallory.change(&ctx, method.clone(), &path).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text());
        assert!(!r.text().contains("envs/shared"), "{method} {path}");
    }
    // Anyone signed in may know whether applies are locked; only its admins switch it.
    let r = mallory.send(&ctx, Method::GET, "/api/apply-lock").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["locked"], false);
    for method in [Method::POST, Method::DELETE] {
        let r = mallory
            .change(&ctx, method.clone(), "/api/apply-lock")
            .await;
        assert_eq!(r.status, 403, "{method} /api/apply-lock: admins only");
    }

    // Rita reads the repo: she sees the lock and the drift history, and may not unlock.
    ctx.settle().await;
    let asked = || ctx.fake.requests("GET", &format!("/repos/{REPO}")).len();
    let before = asked();
    let (rita, _) = sign_in(&ctx, "rita", "/").await;
    let listed = rita.send(&ctx, Method::GET, "/api/locks").await;
    assert_eq!(listed.json()["locks"].as_array().unwrap().len(), 1);
    let history = rita
        .send(&ctx, Method::GET, &format!("/api/drift/{REPO}"))
        .await;
    assert_eq!(history.status, 200, "{}", history.text());
    let unlock = format!("/api/locks/{REPO}?project=envs/shared&reason=mine");
    let r = rita.change(&ctx, Method::DELETE, &unlock).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("takes write or more"), "{}", r.text());
    assert_eq!(
        asked() - before,
        1,
        "GitHub is asked once what rita may do; the answer is kept for a minute"
    );
    ctx.settle().await;
    assert_eq!(ctx.locks_of_pr(first).await.len(), 1);
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test]
async fn unlock_through_the_api_needs_csrf_and_wakes_the_waiting_pr() {
    let ctx = start().await;
    let (first, second) = two_on_shared(&ctx).await;
    let (bob, _) = sign_in(&ctx, "bob", "/").await;
    let unlock = format!("/api/locks/{REPO}?dir=envs/shared&reason=first%20is%20abandoned");
    let r = bob.send(&ctx, Method::DELETE, &unlock).await;
    assert_eq!(r.status, 403, "no CSRF token: {}", r.text());
    let wrong = send(
        &ctx,
        Method::DELETE,
        &unlock,
        &[
            ("cookie", format!("bosun_session={}", bob.session)),
            ("x-csrf-token", "00".repeat(32)),
        ],
    )
    .await;
    assert_eq!(wrong.status, 403, "{}", wrong.text());
    let missing_reason = bob
        .change(
            &ctx,
            Method::DELETE,
            &format!("/api/locks/{REPO}?dir=envs/shared"),
        )
        .await;
    assert_eq!(missing_reason.status, 400, "{}", missing_reason.text());
    ctx.settle().await;
    assert_eq!(ctx.locks_of_pr(first).await.len(), 1);

    let r = bob.change(&ctx, Method::DELETE, &unlock).await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["pr"], first);
    assert_eq!(r.json()["projects"], serde_json::json!(["envs/shared"]));
    ctx.settle().await;
    let body = ctx.reply(first, "unlocked");
    assert!(body.contains("Unlocked by @bob"), "{body}");
    assert!(body.contains("`first is abandoned`"), "{body}");
    assert!(
        ctx.plans_of_pr(first).await.is_empty(),
        "its plan is discarded"
    );
    assert_eq!(
        ctx.check(second, "bosun/plan: envs/shared")
            .conclusion
            .as_deref(),
        Some("success"),
        "the waiting pull request is planned"
    );
    let locks = ctx
        .store()
        .locks_of_repo(&RepoKey::new(REPO))
        .await
        .unwrap();
    assert_eq!(locks.iter().map(|l| l.pr.0).collect::<Vec<_>>(), [second]);

    // The operator's token still works for scripts, without a CSRF token.
    let r = as_operator(
        &ctx,
        Method::DELETE,
        &format!("/api/locks/{REPO}?project=envs/shared&reason=script"),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text());
    ctx.settle().await;
    assert!(
        ctx.reply(second, "unlocked")
            .contains("Unlocked by the operator")
    );
    assert!(ctx.locks_of_repo().await.is_empty());
    let listed = as_operator(&ctx, Method::GET, "/api/locks").await;
    assert_eq!(listed.json()["locks"], serde_json::json!([]));
    assert!(!API_TOKEN.is_empty());
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test]
async fn sign_in_leaves_no_token_code_or_cookie_in_the_logs() {
    let logs = crate::support::logs::captured();
    let ctx = start().await;
    let (alice, _) = sign_in(&ctx, "alice", "/").await;
    assert_eq!(
        alice.send(&ctx, Method::GET, "/api/locks").await.status,
        200
    );
    let out = alice.change(&ctx, Method::POST, "/logout").await;
    assert_eq!(out.status, 303, "{}", out.text());
    let user_tokens: Vec<String> = ctx.fake.model().oauth.tokens.keys().cloned().collect();
    let codes: Vec<String> = ctx
        .fake
        .requests("POST", "/login/oauth/access_token")
        .iter()
        .filter_map(|r| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(&r.body)
                .ok()?
                .into_iter()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v)
        })
        .collect();
    assert!(!codes.is_empty() && !user_tokens.is_empty());
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        text.contains("signed in with GitHub"),
        "the sign-in is logged"
    );
    let secrets = [alice.session.clone(), alice.csrf.clone()]
        .into_iter()
        .chain(user_tokens)
        .chain(codes)
        .chain([crate::support::fake::oauth::CLIENT_SECRET.to_owned()]);
    for secret in secrets {
        assert!(!text.contains(&secret), "a secret is in the logs");
    }
    ctx.finish().await;
}
