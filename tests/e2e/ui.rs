//! bosun's pages in a real browser (headless Chromium through ChromeDriver): a person signs in
//! through the fake GitHub's OAuth flow, opens the overview, watches an apply's log grow while
//! Terraform runs, unlocks a project from the locks page and sees the waiting pull request
//! planned, then finds both in the audit trail. Screenshots of each page go to
//! `BOSUN_SCREENSHOTS_DIR` when it is set (the README's come from there), else to a temp dir.

use std::path::PathBuf;
use std::time::Duration;

use crate::support::browser::Browser;
use crate::support::fake::oauth;
use crate::support::prs::module;
use crate::support::{REPO, TestContext};

/// A project whose apply prints a line a second for five seconds.
const TICKING: &str = r#"
resource "terraform_data" "ticking" {
  input = "t"

  provisioner "local-exec" {
    command = "for i in 1 2 3 4 5; do echo tick-$i; sleep 1; done"
  }
}
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_watches_a_log_unlocks_and_finds_both_in_the_audit_trail() {
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("listen", &format!("127.0.0.1:{port}"));
    ctx.set("public_url", &public);
    ctx.set("github_oauth_client_id", oauth::CLIENT_ID);
    ctx.set("github_oauth_client_secret", oauth::CLIENT_SECRET);
    ctx.fake.model().oauth.callback_url = Some(format!("{public}/oauth/callback"));
    ctx.fake.set_permission(REPO, "alice", "write");
    ctx.start_bosun().await;

    // The first pull request holds envs/shared; the second waits for it.
    let state = ctx.state_file("shared");
    let first_tf = format!("{}{TICKING}", module(&state, &["a"]));
    let (first, _) = ctx
        .open_pr("first", &[("envs/shared/main.tf", &first_tf)])
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

    let kept = std::env::var_os("BOSUN_SCREENSHOTS_DIR").map(PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let shots = kept.unwrap_or_else(|| temp.path().to_owned());
    let browser = Browser::start(1280, 860).await;

    // Sign in: bosun sends the browser to GitHub, which sends it back signed in.
    ctx.fake.sign_in_as("alice");
    browser.goto(&format!("{public}/")).await;
    let text = browser
        .wait_for_text("Signed in as alice", Duration::from_secs(20))
        .await;
    assert_eq!(browser.url().await, format!("{public}/"));
    assert!(text.contains("Project locks"), "{text}");
    assert!(
        text.contains("envs/shared") && text.contains(&format!("#{first}")),
        "{text}"
    );
    browser.screenshot(&shots.join("overview.png")).await;
    browser.set_viewport(400, 860).await;
    let width = browser
        .script(
            "return document.documentElement.scrollWidth",
            serde_json::json!([]),
        )
        .await;
    assert!(
        width.as_u64().unwrap() <= 400,
        "no sideways scrolling at 400 px: {width}"
    );
    browser.screenshot(&shots.join("overview-400px.png")).await;
    browser.set_viewport(1280, 860).await;

    // An apply's log grows on its page while Terraform runs.
    ctx.comment(first, "alice", "bosun apply").await;
    let run = ctx.run_of_kind("apply").await;
    browser.goto(&format!("{public}/runs/{run}")).await;
    let early = browser
        .wait_for_text("tick-1", Duration::from_secs(90))
        .await;
    assert!(
        !early.contains("tick-5"),
        "the log is read while it grows: {early}"
    );
    let done = browser
        .wait_for_text(
            "Finished: {\"status\":\"succeeded\"}",
            Duration::from_secs(90),
        )
        .await;
    assert!(
        done.contains("tick-5") && done.contains("$ terraform apply"),
        "{done}"
    );
    let outcome = browser
        .script(
            "return document.getElementById('run-outcome').textContent",
            serde_json::json!([]),
        )
        .await;
    assert_eq!(outcome, "succeeded", "the outcome follows the stream's end");
    browser.screenshot(&shots.join("run.png")).await;

    // Unlock from the locks page, with a reason; the waiting pull request is planned.
    ctx.settle().await;
    browser.goto(&format!("{public}/locks")).await;
    browser.screenshot(&shots.join("locks.png")).await;
    let reason = browser
        .wait_for(
            "form[action='/locks/unlock'] input[name=reason]",
            Duration::from_secs(10),
        )
        .await;
    browser
        .type_into(&reason, "first is rolled out; let second plan")
        .await;
    let button = browser
        .wait_for(
            "form[action='/locks/unlock'] button",
            Duration::from_secs(10),
        )
        .await;
    browser.click(&button).await;
    browser
        .wait_for_text("Unlock of envs/shared", Duration::from_secs(20))
        .await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(second, "bosun/plan: envs/shared")
            .conclusion
            .as_deref(),
        Some("success"),
        "the waiting pull request is planned"
    );
    let body = ctx.reply(first, "unlocked");
    assert!(body.contains("@alice"), "{body}");

    // Both are in the audit trail, under alice.
    browser.goto(&format!("{public}/audit?repo={REPO}")).await;
    let trail = browser
        .wait_for_text("unlock", Duration::from_secs(20))
        .await;
    assert!(trail.contains("first is rolled out"), "{trail}");
    assert!(
        trail.contains("apply") && trail.contains("alice"),
        "{trail}"
    );
    browser.screenshot(&shots.join("audit.png")).await;

    // The repository's page lists both pull requests.
    browser.goto(&format!("{public}/repos/{REPO}")).await;
    let repo = browser
        .wait_for_text(&format!("Pull request #{second}"), Duration::from_secs(20))
        .await;
    assert!(repo.contains(&format!("Pull request #{first}")), "{repo}");
    browser.screenshot(&shots.join("repository.png")).await;
    browser.quit().await;
}

/// The pages, each a GET a browser makes (run 1 exists once a plan ran).
fn pages() -> Vec<String> {
    vec![
        "/".into(),
        "/locks".into(),
        format!("/repos/{REPO}"),
        "/runs/1".into(),
        format!("/audit?repo={REPO}"),
        "/audit".into(),
    ]
}

#[tokio::test]
async fn no_page_shows_a_repository_to_those_who_cannot_read_it_and_unlocking_takes_csrf_and_write()
{
    use crate::support::signed_in::{self, SignedIn, send, sign_in};
    use http::Method;

    let mut ctx = TestContext::without_bosun().await;
    ctx.enable_sign_in();
    ctx.start_bosun().await;
    ctx.fake.set_permission(REPO, "rita", "read");
    ctx.fake.set_permission(REPO, "bob", "write");
    let state = ctx.state_file("shared");
    let (first, _) = ctx
        .open_pr("first", &[("envs/shared/main.tf", &module(&state, &["a"]))])
        .await;
    ctx.settle().await;
    let run = ctx.run_of_kind("plan").await;
    assert_eq!(run, 1, "the pages' list names run 1");

    // Without credentials every page sends the browser to sign in, and shows nothing.
    for page in pages() {
        let r = send(&ctx, Method::GET, &page, &[]).await;
        assert_eq!(r.status, 303, "{page}: {}", r.text());
        assert!(
            signed_in::location(&r).starts_with("/login?next="),
            "{page}"
        );
        assert!(!r.text().contains("envs/shared"), "{page}");
    }

    // Mallory cannot read the repository: it is on no page; its own pages answer 404.
    let (mallory, _) = sign_in(&ctx, "mallory", "/").await;
    for page in pages() {
        let r = mallory.send(&ctx, Method::GET, &page).await;
        let text = r.text();
        assert!(
            !text.contains("envs/shared") && !text.contains("acme/infra\u{3c}"),
            "{page} shows the repository: {text}"
        );
        match page.as_str() {
            "/" | "/locks" | "/audit" => assert_eq!(r.status, 200, "{page}"),
            _ => assert_eq!(r.status, 404, "{page}: {text}"),
        }
        assert_eq!(
            r.headers["content-security-policy"]
                .to_str()
                .unwrap()
                .split(';')
                .next(),
            Some("default-src 'none'"),
            "{page}"
        );
    }
    let audit = mallory.send(&ctx, Method::GET, "/api/audit").await;
    assert_eq!(audit.status, 403, "{}", audit.text());

    // Rita can read: she sees the lock, but no unlock form, and an unlock she posts is refused.
    let (rita, _) = sign_in(&ctx, "rita", "/").await;
    let locks = rita.send(&ctx, Method::GET, "/locks").await.text();
    assert!(locks.contains("envs/shared") && !locks.contains("action=\"/locks/unlock\""));
    // The repository's page names each pull request with its title on GitHub.
    let repository = rita
        .send(&ctx, Method::GET, &format!("/repos/{REPO}"))
        .await
        .text();
    assert!(
        repository.contains(&format!("Pull request #{first}: first</h3>")),
        "{repository}"
    );
    let unlock = |who: &SignedIn, csrf: &str| {
        let fields = [
            ("csrf", csrf.to_owned()),
            ("repository", REPO.to_owned()),
            ("dir", "envs/shared".to_owned()),
            ("workspace", "default".to_owned()),
            ("reason", "tidying".to_owned()),
        ];
        let (ctx, who) = (&ctx, who.clone());
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            who.post_form(ctx, "/locks/unlock", &fields).await
        }
    };
    let r = unlock(&rita, &rita.csrf).await;
    assert_eq!(r.status, 403, "{}", r.text());

    // Bob may unlock, but not without his CSRF token (nor with Rita's).
    let (bob, _) = sign_in(&ctx, "bob", "/").await;
    for csrf in ["", rita.csrf.as_str()] {
        let r = unlock(&bob, csrf).await;
        assert_eq!(r.status, 403, "csrf {csrf:?}: {}", r.text());
    }
    ctx.settle().await;
    assert_eq!(ctx.locks_of_pr(first).await.len(), 1);
    let r = unlock(&bob, &bob.csrf).await;
    assert_eq!(r.status, 303, "{}", r.text());
    ctx.settle().await;
    assert!(ctx.locks_of_pr(first).await.is_empty());
    ctx.finish().await;
}

/// The overview's global apply lock switch: shown to and obeyed for BOSUN_APPLY_LOCK_ADMINS
/// only, each switch with its CSRF token; while it holds an apply is refused; both switches
/// are in the audit trail under the person's name.
#[tokio::test]
async fn the_apply_lock_switch_is_for_its_admins_and_stops_applies() {
    use crate::support::signed_in::{SignedIn, as_operator, sign_in};
    use http::Method;

    let mut ctx = TestContext::without_bosun().await;
    ctx.enable_sign_in();
    ctx.set("apply_lock_admins", "Olga");
    ctx.start_bosun().await;
    let state = ctx.state_file("dev");
    let (pr, _) = ctx
        .open_pr("dev", &[("envs/dev/main.tf", &module(&state, &["app"]))])
        .await;
    ctx.settle().await;

    let switch = |who: &SignedIn, csrf: &str, action: &str| {
        let fields = [("csrf", csrf.to_owned()), ("action", action.to_owned())];
        let (ctx, who) = (&ctx, who.clone());
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            who.post_form(ctx, "/apply-lock", &fields).await
        }
    };
    let locked = || async {
        let r = as_operator(&ctx, Method::GET, "/api/apply-lock").await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["locked"].as_bool().unwrap()
    };

    // Rita is not an admin: the overview shows the state without the switch, and her
    // switching is refused however she asks.
    let (rita, _) = sign_in(&ctx, "rita", "/").await;
    let home = rita.send(&ctx, Method::GET, "/").await.text();
    assert!(home.contains("Applies are allowed."), "{home}");
    assert!(!home.contains("action=\"/apply-lock\""), "{home}");
    let r = switch(&rita, &rita.csrf, "lock").await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("BOSUN_APPLY_LOCK_ADMINS"), "{}", r.text());
    let r = rita.change(&ctx, Method::POST, "/api/apply-lock").await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(!locked().await);

    // Olga is (her login's case does not matter), but not without her own CSRF token.
    let (olga, _) = sign_in(&ctx, "olga", "/").await;
    let home = olga.send(&ctx, Method::GET, "/").await.text();
    assert!(home.contains("action=\"/apply-lock\"") && home.contains("Lock all applies"));
    for csrf in ["", rita.csrf.as_str()] {
        let r = switch(&olga, csrf, "lock").await;
        assert_eq!(r.status, 403, "csrf {csrf:?}: {}", r.text());
    }
    let r = switch(&olga, &olga.csrf, "sideways").await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(!locked().await);
    let r = switch(&olga, &olga.csrf, "lock").await;
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(crate::support::signed_in::location(&r), "/");
    assert!(locked().await);
    let home = olga.send(&ctx, Method::GET, "/").await.text();
    assert!(home.contains("Applies are locked") && home.contains("Allow applies"));

    // While it holds, an apply is refused.
    ctx.comment(pr, "bob", "bosun apply").await;
    ctx.settle().await;
    let body = ctx.reply(pr, "apply-refused");
    assert!(body.contains("Applies are disabled"), "{body}");
    assert!(ctx.applies_of_pr(pr).await.is_empty());

    // The API takes her session and CSRF token too.
    let r = olga.change(&ctx, Method::DELETE, "/api/apply-lock").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!locked().await);

    let trail = as_operator(&ctx, Method::GET, "/api/audit?kind=api_call&user=olga").await;
    let entries = trail.json()["entries"].as_array().unwrap().clone();
    let said: Vec<(String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["outcome"].as_str().unwrap().to_owned(),
                e["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        said,
        vec![
            (
                "unlocked".to_owned(),
                "DELETE /api/apply-lock: applies run again".to_owned()
            ),
            (
                "locked".to_owned(),
                "the overview page's switch: every apply is locked".to_owned()
            ),
        ]
    );
    assert!(
        entries.iter().all(|e| e["actor"]["name"] == "olga"),
        "{entries:#?}"
    );
    ctx.finish().await;
}
