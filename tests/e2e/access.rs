//! Who may do what, end to end: the command permission threshold, apply limited to users and
//! teams, pull requests from forks, and the narrowed token a job fetches with.

use bosun::ids::PrNumber;
use bosun::ids::RepoKey;
use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::support::fake::model::HeadRepo;
use crate::support::fake::payloads;
use crate::support::prs::module;
use crate::support::{INSTALLATION, REPO, TestContext};

/// The reactions bosun put on comment `id`.
fn reactions(ctx: &TestContext, id: u64) -> Vec<String> {
    let m = ctx.fake.model();
    let (_, c) = m.comment(id).unwrap();
    c.reactions.iter().map(|r| r.content.clone()).collect()
}

/// Opens a pull request whose head lives in `head` (a fork, or this repository) changing
/// project `dir` (state in the test's `dir` state file); returns its number.
async fn open_from(ctx: &TestContext, head: HeadRepo, dir: &str) -> u64 {
    let tf = module(&ctx.state_file(dir), &["one"]);
    let path = format!("{dir}/main.tf");
    let (number, _) = ctx.prepare_pr("change", &[(path.as_str(), tf.as_str())]);
    let payload = {
        let mut m = ctx.fake.model();
        let repo = m.repo_mut(REPO).unwrap();
        repo.prs.get_mut(&number).unwrap().head_repo = head;
        payloads::pull_request(
            "opened",
            repo,
            &repo.prs[&number],
            &ctx.fake.url,
            INSTALLATION,
            "alice",
        )
    };
    ctx.fake.send_webhook("pull_request", payload).await;
    ctx.settle().await;
    number
}

#[tokio::test]
async fn a_reader_may_not_plan_or_apply_and_is_told_who_may() {
    let ctx = TestContext::start().await;
    ctx.fake.set_permission(REPO, "rita", "read");
    let pr = open_from(&ctx, HeadRepo::Base, "envs/dev").await;
    let planned = ctx
        .store()
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(planned.len(), 1);

    let asked = ctx.comment(pr, "rita", "bosun plan").await;
    ctx.settle().await;
    let body = ctx.reply(pr, "not-allowed");
    assert!(body.contains("@rita may not run `bosun plan`"), "{body}");
    assert!(body.contains("write access or more"), "{body}");
    assert!(body.contains("they have read access"), "{body}");
    assert_eq!(reactions(&ctx, asked), ["confused"]);
    assert_eq!(
        ctx.plans_of_pr(pr).await[0].job_id,
        planned[0].job_id,
        "not planned again"
    );

    let before = ctx.bot_comments(pr).len();
    ctx.comment(pr, "rita", "bosun apply").await;
    ctx.settle().await;
    assert_eq!(ctx.bot_comments(pr).len(), before + 1, "one reply");
    assert!(ctx.reply(pr, "not-allowed").contains("`bosun apply`"));
    assert!(ctx.applies_of_pr(pr).await.is_empty());

    // `help` is open to everyone.
    ctx.comment(pr, "rita", "bosun help").await;
    ctx.settle().await;
    ctx.reply(pr, "help");
    ctx.finish().await;
}

#[tokio::test]
async fn the_command_permission_setting_is_the_threshold() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("command_permission", "triage");
    ctx.start_bosun().await;
    ctx.fake.set_permission(REPO, "tracy", "triage");
    ctx.fake.set_permission(REPO, "rita", "read");
    let pr = open_from(&ctx, HeadRepo::Base, "envs/dev").await;

    ctx.comment(pr, "tracy", "bosun plan").await;
    ctx.settle().await;
    let summary = ctx.reply(pr, "plan");
    assert!(summary.contains("Planned by @tracy"), "{summary}");

    ctx.comment(pr, "rita", "bosun plan").await;
    ctx.settle().await;
    let body = ctx.reply(pr, "not-allowed");
    assert!(
        body.contains("triage access or more (triage, write, maintain, admin)"),
        "{body}"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn apply_is_limited_to_the_listed_users_and_active_team_members() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("apply_users", "carol");
    ctx.set("apply_teams", "acme/ops");
    ctx.start_bosun().await;
    for user in ["carol", "dave", "erin"] {
        ctx.fake.set_permission(REPO, user, "write");
    }
    ctx.fake.add_team_member("acme", "ops", "dave", "active");
    ctx.fake.add_team_member("acme", "ops", "erin", "pending");
    let dev = open_from(&ctx, HeadRepo::Base, "envs/dev").await;
    let web = open_from(&ctx, HeadRepo::Base, "envs/web").await;

    // A writer who is neither listed nor in the team, and a pending member: refused.
    for user in ["alice", "erin"] {
        ctx.comment(dev, user, "bosun apply").await;
        ctx.settle().await;
        let body = ctx.reply(dev, "apply-refused");
        assert!(
            body.contains(&format!("@{user} may not apply here")),
            "{body}"
        );
        assert!(
            body.contains("limited to `carol`, members of `acme/ops`"),
            "{body}"
        );
    }
    assert!(ctx.applies_of_pr(dev).await.is_empty());

    // A listed user, and an active member of a listed team, may.
    ctx.comment(dev, "carol", "bosun apply").await;
    ctx.comment(web, "dave", "bosun apply").await;
    ctx.settle().await;
    for pr in [dev, web] {
        let body = ctx.reply(pr, "apply");
        assert!(body.contains("Apply complete!"), "{body}");
    }
    ctx.finish().await;
}

#[tokio::test]
async fn fork_prs_are_not_planned_and_their_commands_are_refused() {
    let ctx = TestContext::start().await;
    let fork = open_from(&ctx, HeadRepo::Fork("mallory/infra".into()), "envs/dev").await;
    assert!(ctx.bot_comments(fork).is_empty(), "not planned");
    assert!(ctx.check_names(fork).is_empty());

    let asked = ctx.comment(fork, "bob", "bosun plan").await;
    ctx.settle().await;
    let body = ctx.reply(fork, "fork-refused");
    assert!(body.contains("BOSUN_ALLOW_FORK_PRS"), "{body}");
    assert_eq!(reactions(&ctx, asked), ["confused"]);
    assert!(ctx.plans_of_pr(fork).await.is_empty());
    assert!(
        ctx.fake.git_requests(REPO).is_empty(),
        "a fork's code is never fetched"
    );

    // A deleted fork (GitHub answers `head.repo: null`) is a fork too.
    let gone = open_from(&ctx, HeadRepo::Deleted, "envs/web").await;
    assert!(ctx.bot_comments(gone).is_empty());
    ctx.comment(gone, "bob", "bosun apply").await;
    ctx.settle().await;
    ctx.reply(gone, "fork-refused");
    ctx.finish().await;
}

#[tokio::test]
async fn with_allow_fork_prs_a_fork_is_planned_and_applied() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("allow_fork_prs", "true");
    ctx.start_bosun().await;
    let fork = open_from(&ctx, HeadRepo::Fork("mallory/infra".into()), "envs/dev").await;
    ctx.reply(fork, "plan");
    assert_eq!(
        ctx.check(fork, "bosun/plan: envs/dev")
            .conclusion
            .as_deref(),
        Some("success")
    );
    ctx.comment(fork, "bob", "bosun plan").await;
    ctx.comment(fork, "bob", "bosun apply").await;
    ctx.settle().await;
    assert!(ctx.reply(fork, "apply").contains("Apply complete!"));
    ctx.finish().await;
}

#[tokio::test]
async fn the_fetch_uses_a_token_that_reads_one_repository_and_writes_nothing() {
    let ctx = TestContext::start().await;
    ctx.fake.add_repo(INSTALLATION, "acme/other");
    let pr = open_from(&ctx, HeadRepo::Base, "envs/dev").await;
    ctx.reply(pr, "plan");

    let git = ctx.fake.git_requests(REPO);
    assert!(!git.is_empty(), "the PR was fetched");
    let only_infra: BTreeSet<String> = [REPO.to_string()].into();
    let contents_read: BTreeMap<String, String> = [("contents".into(), "read".into())].into();
    for r in &git {
        assert_eq!(r.scope.repositories.as_ref(), Some(&only_infra), "{r:?}");
        assert_eq!(r.scope.permissions.as_ref(), Some(&contents_read), "{r:?}");
    }
    let token = git[0].token.clone();

    // The token cannot write a comment or a check run, nor see another repository.
    let comment = format!("/repos/{REPO}/issues/{pr}/comments");
    assert_eq!(
        api(
            &ctx,
            &token,
            http::Method::POST,
            &comment,
            r#"{"body":"pwned"}"#
        )
        .await,
        403
    );
    let check = format!("/repos/{REPO}/check-runs");
    let run = r#"{"name":"fake","head_sha":"0000000000000000000000000000000000000000"}"#;
    assert_eq!(
        api(&ctx, &token, http::Method::POST, &check, run).await,
        403
    );
    assert_eq!(
        api(&ctx, &token, http::Method::GET, "/repos/acme/other", "").await,
        404
    );
    assert_eq!(
        api(
            &ctx,
            &token,
            http::Method::GET,
            &format!("/repos/{REPO}"),
            ""
        )
        .await,
        200
    );

    // Nor fetch another repository over git.
    let url = format!(
        "{}/git/acme/other.git/info/refs?service=git-upload-pack",
        ctx.fake.url
    );
    let basic = base64_basic(&token);
    let headers = vec![
        ("authorization", format!("Basic {basic}")),
        ("user-agent", "git/2".to_string()),
    ];
    let status = ctx
        .http
        .send(http::Method::GET, &url, &headers, Bytes::new())
        .await
        .unwrap()
        .status;
    assert_eq!(status.as_u16(), 404);

    // bosun's own comments and checks were written with its full token.
    assert_eq!(
        ctx.check(pr, "bosun/plan: envs/dev").conclusion.as_deref(),
        Some("success")
    );
    ctx.finish().await;
}

/// The status the fake answers to `method path` with `body`, authenticated with `token`.
async fn api(ctx: &TestContext, token: &str, method: http::Method, path: &str, body: &str) -> u16 {
    let url = format!("{}{path}", ctx.fake.url);
    let headers = vec![
        ("authorization", format!("Bearer {token}")),
        ("user-agent", "test".to_string()),
        ("content-type", "application/json".to_string()),
    ];
    let body = Bytes::from(body.to_owned());
    ctx.http
        .send(method, &url, &headers, body)
        .await
        .unwrap()
        .status
        .as_u16()
}

fn base64_basic(token: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"))
}
