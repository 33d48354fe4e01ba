//! The global apply lock (`/api/apply-lock`, Atlantis's "Disable apply commands"): while it
//! holds, no apply runs, by comment or on merge; it is kept across restarts.

use bytes::Bytes;
use http::Method;

use crate::support::TestContext;
use crate::support::prs::module;

const TOKEN: &str = "apply-lock-test-token-0123456789";

async fn api(
    ctx: &TestContext,
    method: Method,
    token: Option<&str>,
) -> crate::support::client::Reply {
    let headers: Vec<(&str, String)> = token
        .map(|t| vec![("authorization", format!("Bearer {t}"))])
        .unwrap_or_default();
    ctx.http
        .send(method, &ctx.url("/api/apply-lock"), &headers, Bytes::new())
        .await
        .unwrap()
}

/// Whether the API says applies are locked.
async fn locked(ctx: &TestContext) -> bool {
    let reply = api(ctx, Method::GET, Some(TOKEN)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["locked"]
        .as_bool()
        .expect("`locked` is a bool")
}

fn has_resources(state: &std::path::Path) -> bool {
    std::fs::read_to_string(state).is_ok_and(|s| s.contains("terraform_data"))
}

#[tokio::test]
async fn the_apply_lock_refuses_applies_until_unlocked_and_survives_a_restart() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("api_token", TOKEN);
    ctx.start_bosun().await;
    let state = ctx.state_file("dev");
    let (pr, _) = ctx
        .open_pr("dev", &[("envs/dev/main.tf", &module(&state, &["app"]))])
        .await;
    ctx.settle().await;
    assert!(!locked(&ctx).await);

    let reply = api(&ctx, Method::POST, Some(TOKEN)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["locked"], true);
    assert!(locked(&ctx).await);

    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let body = ctx.reply(pr, "apply-refused");
    assert!(body.contains("Applies are disabled"), "{body}");
    assert!(!has_resources(&state), "nothing was applied");
    assert!(ctx.applies_of_pr(pr).await.is_empty());

    ctx.comment(pr, "alice", "bosun plan").await;
    ctx.settle().await;
    assert!(
        ctx.bot_comments(pr)
            .iter()
            .any(|c| c.body.contains("Plan: 1 to add") && c.body.contains("Applies are disabled")),
        "the plan comment says applies are locked: {:#?}",
        ctx.bot_comments(pr)
    );

    // The lock is in the store: a restarted bosun still refuses.
    ctx.stop_bosun().await;
    ctx.start_bosun().await;
    assert!(locked(&ctx).await);
    let refusals = ctx.bot_comments(pr).len();
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert_eq!(ctx.bot_comments(pr).len(), refusals + 1);
    assert!(
        ctx.reply(pr, "apply-refused")
            .contains("Applies are disabled")
    );
    assert!(!has_resources(&state));

    let reply = api(&ctx, Method::DELETE, Some(TOKEN)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["locked"], false);
    assert!(!locked(&ctx).await);
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert!(has_resources(&state), "applied once unlocked");
    let body = ctx.reply(pr, "apply");
    assert!(body.contains("Apply complete!"), "{body}");
    ctx.finish().await;
}

#[tokio::test]
async fn the_apply_lock_holds_back_apply_on_merge() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("api_token", TOKEN);
    ctx.start_bosun().await;
    let config = "version: 3\napply_on_merge: true\nprojects:\n  - dir: envs/dev\n";
    ctx.push_base(&[("bosun.yaml", Some(config))]);
    let state = ctx.state_file("dev");
    let (pr, _) = ctx
        .open_pr("dev", &[("envs/dev/main.tf", &module(&state, &["app"]))])
        .await;
    ctx.settle().await;
    let reply = api(&ctx, Method::POST, Some(TOKEN)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    ctx.merge_pr(pr).await;
    ctx.settle().await;
    assert!(!has_resources(&state), "nothing applied on merge");
    assert!(
        ctx.bot_comments(pr)
            .iter()
            .any(|c| c.body.contains("Not applied on merge")
                && c.body.contains("Applies are disabled")),
        "{:#?}",
        ctx.bot_comments(pr)
    );

    // Unlocked, `apply` on the merged pull request applies the merge commit's plan.
    api(&ctx, Method::DELETE, Some(TOKEN)).await;
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert!(has_resources(&state), "{:#?}", ctx.bot_comments(pr));
    ctx.finish().await;
}

#[tokio::test]
async fn the_apply_lock_api_refuses_without_the_token() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("api_token", TOKEN);
    ctx.start_bosun().await;
    for method in [Method::POST, Method::DELETE, Method::GET] {
        let none = api(&ctx, method.clone(), None).await;
        assert_eq!(none.status, 401, "{}", none.text());
        assert_eq!(none.headers["www-authenticate"], "Bearer");
        let wrong = api(&ctx, method.clone(), Some("not-the-token-at-all")).await;
        assert_eq!(wrong.status, 401, "{}", wrong.text());
        assert!(wrong.text().contains("not valid"), "{}", wrong.text());
    }
    assert!(!locked(&ctx).await, "no refused request locked applies");
    ctx.finish().await;

    // Without BOSUN_API_TOKEN the API is off.
    let ctx = TestContext::start().await;
    for method in [Method::POST, Method::DELETE, Method::GET] {
        let off = api(&ctx, method, Some(TOKEN)).await;
        assert_eq!(off.status, 403, "{}", off.text());
        assert!(off.text().contains("BOSUN_API_TOKEN"), "{}", off.text());
    }
    assert!(ctx.store().apply_lock().await.unwrap().is_none());
    ctx.finish().await;
}
