//! The real GitHub client against the fake: App JWT, installation tokens cached and refreshed,
//! retries on server errors and rate limits, typed errors otherwise.

use bosun::ids::{InstallationId, PrNumber, Sha};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bosun::github::{GitHub, GitHubError};
use bosun::metrics::Metrics;

use crate::support::{INSTALLATION, REPO, TestContext, fast_retry};

async fn client(ctx: &TestContext) -> (Arc<GitHub>, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::default());
    (
        Arc::new(GitHub::new(&ctx.settings().github, fast_retry(), metrics.clone()).unwrap()),
        metrics,
    )
}

#[tokio::test]
async fn concurrent_calls_share_one_installation_token() {
    let ctx = TestContext::without_bosun().await;
    let (number, _) = ctx.open_pr("x", &[("a.tf", "")]).await;
    let (gh, metrics) = client(&ctx).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let gh = gh.clone();
        tasks.push(tokio::spawn(async move {
            gh.create_comment(
                InstallationId(INSTALLATION),
                REPO,
                number,
                &format!("hello {i}"),
            )
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(ctx.fake.model().tokens_issued, 1);
    let comments = ctx.fake.model().repo(REPO).unwrap().comments.clone();
    assert_eq!(comments.len(), 20);
    assert!(
        comments
            .iter()
            .all(|c| c.author == "bosun-test[bot]" && c.issue == number)
    );
    assert!(
        metrics
            .render()
            .contains(r#"bosun_github_api_requests_total{status="201"} 21"#)
    );
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn tokens_close_to_expiry_are_replaced() {
    let ctx = TestContext::without_bosun().await;
    let (number, _) = ctx.open_pr("x", &[("a.tf", "")]).await;
    // Tokens that expire in 4 minutes are inside the 5-minute margin: each call needs a new one.
    ctx.fake.model().token_lifetime = Duration::from_secs(240);
    let (gh, _) = client(&ctx).await;
    gh.create_comment(InstallationId(INSTALLATION), REPO, number, "a")
        .await
        .unwrap();
    gh.create_comment(InstallationId(INSTALLATION), REPO, number, "b")
        .await
        .unwrap();
    assert_eq!(ctx.fake.model().tokens_issued, 2);
    ctx.fake.model().token_lifetime = Duration::from_secs(3600);
    gh.create_comment(InstallationId(INSTALLATION), REPO, number, "c")
        .await
        .unwrap();
    gh.create_comment(InstallationId(INSTALLATION), REPO, number, "d")
        .await
        .unwrap();
    assert_eq!(ctx.fake.model().tokens_issued, 3);
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once() {
    let ctx = TestContext::without_bosun().await;
    let (number, _) = ctx.open_pr("x", &[("a.tf", "")]).await;
    let (gh, _) = client(&ctx).await;
    gh.create_comment(InstallationId(INSTALLATION), REPO, number, "a")
        .await
        .unwrap();
    ctx.fake.model().tokens.clear();
    gh.create_comment(InstallationId(INSTALLATION), REPO, number, "b")
        .await
        .unwrap();
    assert_eq!(ctx.fake.model().tokens_issued, 2);
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_retried() {
    let ctx = TestContext::without_bosun().await;
    let (number, _) = ctx.open_pr("x", &[("a.tf", "")]).await;
    let (gh, _) = client(&ctx).await;
    ctx.fake.fail_next("/comments", 502, &[], 2);
    gh.create_comment(InstallationId(INSTALLATION), REPO, number, "after 502s")
        .await
        .unwrap();
    ctx.fake
        .fail_next("/comments", 429, &[("retry-after", "1")], 1);
    let started = Instant::now();
    gh.create_comment(InstallationId(INSTALLATION), REPO, number, "after 429")
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited as told"
    );
    let reset = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs())
    .to_string();
    ctx.fake.fail_next(
        "/comments",
        403,
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ],
        1,
    );
    gh.create_comment(
        InstallationId(INSTALLATION),
        REPO,
        number,
        "after 403 rate limit",
    )
    .await
    .unwrap();
    assert_eq!(ctx.fake.model().repo(REPO).unwrap().comments.len(), 3);

    // Too many server errors: given up, typed.
    ctx.fake.fail_next("/comments", 503, &[], 10);
    let err = gh
        .create_comment(InstallationId(INSTALLATION), REPO, number, "never")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    // A create answered 503 may have been made: bosun looks for it before sending it again,
    // and while it cannot look it does not send it again.
    assert_eq!(
        ctx.fake
            .requests("POST", "/comments")
            .iter()
            .filter(|r| r.status == 503)
            .count(),
        1,
        "not sent again unseen"
    );
    assert_eq!(
        ctx.fake
            .requests("GET", "/comments")
            .iter()
            .filter(|r| r.status == 503)
            .count(),
        4,
        "max_attempts"
    );
    // A rate limit longer than the policy waits is returned at once.
    ctx.fake.model().failures.clear();
    let far = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600)
        .to_string();
    ctx.fake.fail_next(
        "/comments",
        403,
        &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &far)],
        1,
    );
    let err = gh
        .create_comment(InstallationId(INSTALLATION), REPO, number, "never")
        .await
        .unwrap_err();
    assert!(matches!(err, GitHubError::RateLimited { .. }), "{err}");
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn errors_are_typed_and_hold_no_secrets() {
    let ctx = TestContext::without_bosun().await;
    let (gh, _) = client(&ctx).await;
    // No such pull request.
    let err = gh
        .create_comment(InstallationId(INSTALLATION), REPO, 999_999, "x")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    // A repository of another installation is invisible.
    ctx.fake.add_repo(2, "other/repo");
    let err = gh
        .create_comment(InstallationId(INSTALLATION), "other/repo", 1, "x")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    // No such installation.
    let err = gh.installation_token(InstallationId(77)).await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    let tokens: Vec<String> = ctx.fake.model().tokens.keys().cloned().collect();
    for e in [err.to_string(), format!("{err:?}")] {
        assert!(tokens.iter().all(|t| !e.contains(t)), "{e}");
        assert!(!e.contains("eyJ"), "no JWT in errors: {e}");
    }
    // Unreachable GitHub: a transport error after bounded retries.
    let mut settings = ctx.settings().github;
    settings.api_url = "http://127.0.0.1:9".into();
    let gh = GitHub::new(&settings, fast_retry(), Arc::new(Metrics::default())).unwrap();
    let err = gh.hook_deliveries(None).await.unwrap_err();
    assert!(matches!(err, GitHubError::Transport { .. }), "{err}");
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn the_fake_refuses_bad_jwts_like_github() {
    let ctx = TestContext::without_bosun().await;
    let auth = bosun::github::AppAuth::new(
        crate::support::fake::APP_ID,
        &ctx.settings().github.app_key_pem,
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let http = crate::support::client::Http::default();
    let get = |jwt: String| {
        let url = format!("{}/app", ctx.fake.url);
        let http = http.clone();
        async move {
            http.send(
                http::Method::GET,
                &url,
                &[
                    ("authorization", format!("Bearer {jwt}")),
                    ("user-agent", "t".into()),
                ],
                bytes::Bytes::new(),
            )
            .await
            .unwrap()
            .status
        }
    };
    assert_eq!(get(auth.sign(now).unwrap().expose().to_owned()).await, 200);
    assert_eq!(
        get(auth.sign(now - 3600).unwrap().expose().to_owned()).await,
        401,
        "expired"
    );
    assert_eq!(
        get(auth.sign(now + 3600).unwrap().expose().to_owned()).await,
        401,
        "issued in the future"
    );
    assert_eq!(get("a.b.c".into()).await, 401);
    let other = bosun::github::AppAuth::new(1, &ctx.settings().github.app_key_pem).unwrap();
    assert_eq!(
        get(other.sign(now).unwrap().expose().to_owned()).await,
        401,
        "another App's id"
    );
}

#[tokio::test]
async fn check_runs_go_through_their_states() {
    use bosun::github::{CheckRunSpec, CheckStatus, Conclusion};
    let ctx = TestContext::without_bosun().await;
    let (number, _) = ctx.open_pr("x", &[("a.tf", "")]).await;
    let sha = ctx.fake.model().repo(REPO).unwrap().prs[&number]
        .head_sha
        .clone();
    let (gh, _) = client(&ctx).await;
    let mut spec = CheckRunSpec {
        name: "bosun/plan: envs/prod".into(),
        head_sha: Sha::new(sha.clone()),
        status: CheckStatus::Queued,
        title: "queued".into(),
        summary: "waiting for a runner".into(),
        text: None,
        external_id: Some("job-1".into()),
        details_url: None,
    };
    let id = gh
        .create_check_run(InstallationId(INSTALLATION), REPO, &spec)
        .await
        .unwrap();
    spec.status = CheckStatus::InProgress;
    gh.update_check_run(InstallationId(INSTALLATION), REPO, id, &spec)
        .await
        .unwrap();
    spec.status = CheckStatus::Completed(Conclusion::Success);
    spec.title = "1 to add".into();
    spec.text = Some("x".repeat(70_000));
    gh.update_check_run(InstallationId(INSTALLATION), REPO, id, &spec)
        .await
        .unwrap();
    let run = ctx.fake.model().repo(REPO).unwrap().check_runs[0].clone();
    assert_eq!(
        run.history,
        vec!["queued", "in_progress", "completed:success"]
    );
    assert_eq!(run.head_sha, sha);
    assert_eq!(run.external_id.as_deref(), Some("job-1"));
    assert_eq!(run.text.unwrap().len(), 65_535, "cut to GitHub's limit");
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn reviews_and_permissions() {
    use bosun::event::ReviewState;
    use bosun::github::Permission;
    let ctx = TestContext::without_bosun().await;
    let (number, _) = ctx.open_pr("x", &[("a.tf", "")]).await;
    for i in 0..120 {
        ctx.fake
            .add_review(REPO, number, &format!("user{i}"), "COMMENTED");
    }
    ctx.fake.add_review(REPO, number, "bob", "APPROVED");
    let (gh, _) = client(&ctx).await;
    let reviews = gh
        .reviews(InstallationId(INSTALLATION), REPO, PrNumber(number))
        .await
        .unwrap();
    assert_eq!(reviews.len(), 121, "all pages read");
    assert_eq!(reviews[120].user, "bob");
    assert_eq!(reviews[120].state, ReviewState::Approved);

    ctx.fake.set_permission(REPO, "wanda", "write");
    ctx.fake.set_permission(REPO, "mary", "maintain");
    ctx.fake.set_permission(REPO, "rita", "read");
    assert_eq!(
        gh.permission(InstallationId(INSTALLATION), REPO, "wanda")
            .await
            .unwrap(),
        Permission::Write
    );
    assert_eq!(
        gh.permission(InstallationId(INSTALLATION), REPO, "mary")
            .await
            .unwrap(),
        Permission::Maintain
    );
    assert_eq!(
        gh.permission(InstallationId(INSTALLATION), REPO, "rita")
            .await
            .unwrap(),
        Permission::Read
    );
    assert_eq!(
        gh.permission(InstallationId(INSTALLATION), REPO, "nobody")
            .await
            .unwrap(),
        Permission::None
    );
    assert!(Permission::Maintain >= Permission::Write && Permission::Read < Permission::Write);
    assert_eq!(
        gh.permission(InstallationId(INSTALLATION), REPO, "../../etc")
            .await
            .unwrap_err()
            .status(),
        Some(404)
    );
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn comments_are_edited_minimized_and_reacted_to() {
    use bosun::github::Reaction;
    let ctx = TestContext::without_bosun().await;
    let (number, _) = ctx.open_pr("x", &[("a.tf", "")]).await;
    let (gh, _) = client(&ctx).await;
    let created = gh
        .create_comment(InstallationId(INSTALLATION), REPO, number, "planning…")
        .await
        .unwrap();
    let comment = |id: u64| ctx.fake.model().comment(id).unwrap().1.clone();
    assert_eq!(comment(created.id).node_id, created.node_id);

    gh.update_comment(InstallationId(INSTALLATION), REPO, created.id, "1 to add")
        .await
        .unwrap();
    let c = comment(created.id);
    assert_eq!(c.body, "1 to add");
    assert_eq!(c.edits, vec!["planning…"]);

    assert_eq!(c.minimized, None);
    gh.minimize_comment(InstallationId(INSTALLATION), &created.node_id)
        .await
        .unwrap();
    assert_eq!(comment(created.id).minimized.as_deref(), Some("OUTDATED"));

    let command = ctx.fake.add_comment(REPO, number, "alice", "bosun plan");
    for reaction in [Reaction::Eyes, Reaction::Eyes, Reaction::PlusOne] {
        gh.add_reaction(InstallationId(INSTALLATION), REPO, command, reaction)
            .await
            .unwrap();
    }
    let reactions: Vec<(String, String)> = comment(command)
        .reactions
        .into_iter()
        .map(|r| (r.user, r.content))
        .collect();
    assert_eq!(
        reactions,
        vec![
            ("bosun-test[bot]".to_string(), "eyes".to_string()),
            ("bosun-test[bot]".to_string(), "+1".to_string()),
        ],
        "one reaction per user and content"
    );
    let statuses: Vec<u16> = ctx
        .fake
        .requests("POST", "/reactions")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![201, 200, 201]);
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn unknown_comments_are_404_and_graphql_errors_are_errors() {
    use bosun::github::Reaction;
    let ctx = TestContext::without_bosun().await;
    let (number, _) = ctx.open_pr("x", &[("a.tf", "")]).await;
    let (gh, _) = client(&ctx).await;
    let err = gh
        .update_comment(InstallationId(INSTALLATION), REPO, 999_999, "x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, GitHubError::Status { status: 404, .. }),
        "{err}"
    );
    let err = gh
        .add_reaction(InstallationId(INSTALLATION), REPO, 999_999, Reaction::Eyes)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    // Someone else's comment cannot be edited.
    let theirs = ctx.fake.add_comment(REPO, number, "alice", "bosun plan");
    let err = gh
        .update_comment(InstallationId(INSTALLATION), REPO, theirs, "x")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert_eq!(
        ctx.fake.model().comment(theirs).unwrap().1.body,
        "bosun plan"
    );

    // GraphQL answers errors with status 200; the client still fails.
    let err = gh
        .minimize_comment(InstallationId(INSTALLATION), "IC_nope")
        .await
        .unwrap_err();
    match &err {
        GitHubError::GraphQl { kind, message, .. } => {
            assert_eq!(kind.as_deref(), Some("NOT_FOUND"));
            assert!(message.contains("IC_nope"), "{message}");
        }
        other => panic!("{other}"),
    }
    // A comment in another installation's repository does not resolve either.
    ctx.fake.add_repo(2, "other/repo");
    let elsewhere = ctx.fake.add_comment("other/repo", 1, "bob", "hi");
    let node_id = ctx
        .fake
        .model()
        .comment(elsewhere)
        .unwrap()
        .1
        .node_id
        .clone();
    let err = gh
        .minimize_comment(InstallationId(INSTALLATION), &node_id)
        .await
        .unwrap_err();
    assert!(matches!(err, GitHubError::GraphQl { .. }), "{err}");
    assert_eq!(
        ctx.fake.model().comment(elsewhere).unwrap().1.minimized,
        None
    );
    assert!(
        ctx.fake
            .requests("POST", "/graphql")
            .iter()
            .all(|r| r.status == 200)
    );
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn pull_request_info_follows_the_model() {
    use bosun::github::{MergeableState, PrState};
    let ctx = TestContext::without_bosun().await;
    let (number, _) = ctx.open_pr("x", &[("a.tf", "")]).await;
    let (gh, _) = client(&ctx).await;
    let pr = ctx.fake.model().repo(REPO).unwrap().prs[&number].clone();
    let info = gh
        .pull_request(InstallationId(INSTALLATION), REPO, PrNumber(number))
        .await
        .unwrap();
    assert_eq!(info.number, PrNumber(number));
    assert_eq!(info.head_sha, pr.head_sha);
    assert_eq!(info.head_ref, pr.head_ref);
    assert_eq!(info.base_sha, pr.base_sha);
    assert_eq!(info.base_ref, "main");
    assert_eq!(info.state, PrState::Open);
    assert!(!info.draft);
    assert_eq!(info.mergeable, Some(true));
    assert_eq!(info.mergeable_state, MergeableState::Clean);

    let set = |f: &dyn Fn(&mut crate::support::fake::model::Pr)| {
        f(ctx
            .fake
            .model()
            .repo_mut(REPO)
            .unwrap()
            .prs
            .get_mut(&number)
            .unwrap())
    };
    set(&|pr| {
        pr.draft = true;
        pr.mergeable = None;
        pr.mergeable_state = Some("blocked".into());
    });
    let info = gh
        .pull_request(InstallationId(INSTALLATION), REPO, PrNumber(number))
        .await
        .unwrap();
    assert!(info.draft);
    assert_eq!(info.mergeable, None);
    assert_eq!(info.mergeable_state, MergeableState::Blocked);
    set(&|pr| pr.open = false);
    let info = gh
        .pull_request(InstallationId(INSTALLATION), REPO, PrNumber(number))
        .await
        .unwrap();
    assert_eq!(info.state, PrState::Closed);
    set(&|pr| pr.merged = true);
    let info = gh
        .pull_request(InstallationId(INSTALLATION), REPO, PrNumber(number))
        .await
        .unwrap();
    assert_eq!(info.state, PrState::Merged);

    let err = gh
        .pull_request(InstallationId(INSTALLATION), REPO, PrNumber(999_999))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn paced_writes_of_one_comment_reach_github_in_order() {
    use bosun::github::Pacer;
    let ctx = TestContext::without_bosun().await;
    let (number, _) = ctx.open_pr("x", &[("a.tf", "")]).await;
    let (gh, _) = client(&ctx).await;
    let pacer = Arc::new(Pacer::default());
    let gh = gh.paced(pacer.clone(), None);
    let c = gh
        .create_comment(InstallationId(INSTALLATION), REPO, number, "a")
        .await
        .unwrap();
    let (first, second) = tokio::join!(
        gh.update_comment(InstallationId(INSTALLATION), REPO, c.id, "b"),
        gh.update_comment(InstallationId(INSTALLATION), REPO, c.id, "c"),
    );
    first.unwrap();
    second.unwrap();
    assert_eq!(ctx.fake.model().comment(c.id).unwrap().1.body, "c");
    assert_eq!(pacer.waiting(), 0);
    ctx.fake.assert_no_violations();
}

/// The parents and tree entries of commit `sha` in the fake's repository.
fn commit_of(ctx: &TestContext, sha: &str) -> (Vec<String>, Vec<String>) {
    let git_dir = ctx.fake.model().repo(REPO).unwrap().git_dir.clone();
    let repo = git2::Repository::open_bare(git_dir).unwrap();
    let commit = repo.find_commit(git2::Oid::from_str(sha).unwrap()).unwrap();
    let parents = commit.parent_ids().map(|p| p.to_string()).collect();
    let files = commit
        .tree()
        .unwrap()
        .iter()
        .map(|e| e.name().unwrap().to_owned())
        .collect();
    (parents, files)
}

/// Waits (bounded) for a `pull_request` delivery attempt of `action` about `pr`.
async fn delivery(ctx: &TestContext, action: &str, pr: u64) -> serde_json::Value {
    for _ in 0..500 {
        let found = ctx.fake.model().attempts.iter().find_map(|a| {
            let p: serde_json::Value = serde_json::from_slice(&a.payload).ok()?;
            (a.event == "pull_request" && a.action.as_deref() == Some(action) && p["number"] == pr)
                .then_some(p)
        });
        if let Some(p) = found {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no pull_request.{action} delivery for #{pr}");
}

#[tokio::test]
async fn a_merge_makes_a_real_merge_commit_and_tells_bosun() {
    use crate::support::fake::model::branch_sha;
    use bosun::github::{MergeMethod, PrState};
    let ctx = TestContext::without_bosun().await;
    let (number, _) = ctx.open_pr("x", &[("a.tf", "")]).await;
    // The base moved on since the pull request was opened: a true merge.
    let base = ctx.push_base(&[("b.tf", Some(""))]);
    let head = ctx.fake.model().repo(REPO).unwrap().prs[&number]
        .head_sha
        .clone();
    let (gh, _) = client(&ctx).await;
    let sha = gh
        .merge_pull_request(
            InstallationId(INSTALLATION),
            REPO,
            PrNumber(number),
            &Sha::new(head.clone()),
            MergeMethod::Merge,
        )
        .await
        .unwrap();
    let (parents, files) = commit_of(&ctx, sha.as_str());
    assert_eq!(parents, vec![base, head.clone()]);
    assert_eq!(files, vec!["README.md", "a.tf", "b.tf"]);
    let git_dir = ctx.fake.model().repo(REPO).unwrap().git_dir.clone();
    assert_eq!(sha, branch_sha(&git_dir, "main"), "the base branch moved");

    let info = gh
        .pull_request(InstallationId(INSTALLATION), REPO, PrNumber(number))
        .await
        .unwrap();
    assert_eq!(info.state, PrState::Merged);
    assert_eq!(info.merge_commit_sha.as_ref(), Some(&sha));
    let closed = delivery(&ctx, "closed", number).await;
    assert_eq!(closed["pull_request"]["merged"], true);
    assert_eq!(closed["pull_request"]["merge_commit_sha"], sha.as_str());
    assert_eq!(
        closed["pull_request"]["merged_by"]["login"],
        "bosun-test[bot]"
    );

    // Merged once: a second merge is refused.
    let err = gh
        .merge_pull_request(
            InstallationId(INSTALLATION),
            REPO,
            PrNumber(number),
            &Sha::new(head.clone()),
            MergeMethod::Merge,
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(405));
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn a_squash_has_one_parent_and_a_user_can_merge_too() {
    use bosun::github::MergeMethod;
    let ctx = TestContext::without_bosun().await;
    let (first, _) = ctx.open_pr("first", &[("a.tf", "")]).await;
    let (second, _) = ctx.open_pr("second", &[("c.tf", "")]).await;
    let (gh, _) = client(&ctx).await;
    let head = ctx.fake.model().repo(REPO).unwrap().prs[&first]
        .head_sha
        .clone();
    let base = ctx.push_base(&[("b.tf", Some(""))]);
    let sha = gh
        .merge_pull_request(
            InstallationId(INSTALLATION),
            REPO,
            PrNumber(first),
            &Sha::new(head.clone()),
            MergeMethod::Squash,
        )
        .await
        .unwrap();
    let (parents, files) = commit_of(&ctx, sha.as_str());
    assert_eq!(parents, vec![base]);
    assert_eq!(files, vec!["README.md", "a.tf", "b.tf"]);

    // Someone clicks "Merge" on the other one.
    let by_user = ctx.merge_pr(second).await;
    let (parents, files) = commit_of(&ctx, &by_user);
    assert_eq!(
        parents.first().map(String::as_str),
        Some(sha.as_str()),
        "merged into the new base"
    );
    assert_eq!(files, vec!["README.md", "a.tf", "b.tf", "c.tf"]);
    let closed = delivery(&ctx, "closed", second).await;
    assert_eq!(closed["pull_request"]["merged"], true);
    assert_eq!(closed["pull_request"]["merge_commit_sha"], by_user);
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn merges_are_refused_on_a_moved_head_or_under_protection() {
    use bosun::github::MergeMethod;
    let ctx = TestContext::without_bosun().await;
    let (number, _) = ctx.open_pr("x", &[("a.tf", "")]).await;
    let old = ctx.fake.model().repo(REPO).unwrap().prs[&number]
        .head_sha
        .clone();
    let new = ctx.push_to_pr(number, &[("a.tf", Some("# changed"))]);
    let (gh, _) = client(&ctx).await;
    let err = gh
        .merge_pull_request(
            InstallationId(INSTALLATION),
            REPO,
            PrNumber(number),
            &Sha::new(old.clone()),
            MergeMethod::Merge,
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(409), "{err}");

    ctx.fake.protect(REPO, &["ci"], 1);
    let err = gh
        .merge_pull_request(
            InstallationId(INSTALLATION),
            REPO,
            PrNumber(number),
            &Sha::new(new.clone()),
            MergeMethod::Merge,
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(405), "{err}");
    assert!(err.to_string().contains("not mergeable"), "{err}");
    assert_eq!(ctx.fake.merge(REPO, number, "merge").unwrap_err().0, 405);
    let m = ctx.fake.model();
    let pr = &m.repo(REPO).unwrap().prs[&number];
    assert!(pr.open && !pr.merged && pr.merge_commit_sha.is_none());
    drop(m);
    assert!(
        ctx.fake
            .model()
            .attempts
            .iter()
            .all(|a| a.action.as_deref() == Some("opened")),
        "no webhook for a refused merge"
    );
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn mergeable_state_follows_branch_protection() {
    use bosun::github::MergeableState;
    let ctx = TestContext::without_bosun().await;
    let (number, _) = ctx.open_pr("x", &[("a.tf", "")]).await;
    let head = ctx.fake.model().repo(REPO).unwrap().prs[&number]
        .head_sha
        .clone();
    let (gh, _) = client(&ctx).await;
    let state = || async {
        gh.pull_request(InstallationId(INSTALLATION), REPO, PrNumber(number))
            .await
            .unwrap()
            .mergeable_state
    };
    assert_eq!(state().await, MergeableState::Clean);
    ctx.fake.protect(REPO, &["ci"], 1);
    assert_eq!(state().await, MergeableState::Blocked);
    ctx.fake.add_review(REPO, number, "bob", "APPROVED");
    assert_eq!(state().await, MergeableState::Blocked, "ci has not run");
    ctx.fake.complete_check(REPO, &head, "ci", "failure");
    assert_eq!(state().await, MergeableState::Blocked, "ci failed");
    ctx.fake.complete_check(REPO, &head, "ci", "success");
    assert_eq!(
        state().await,
        MergeableState::Clean,
        "the newest ci run passed"
    );
    ctx.fake
        .add_review(REPO, number, "carol", "CHANGES_REQUESTED");
    assert_eq!(state().await, MergeableState::Blocked);
    ctx.fake.add_review(REPO, number, "carol", "DISMISSED");
    assert_eq!(state().await, MergeableState::Clean);
    let set_pr = |f: &dyn Fn(&mut crate::support::fake::model::Pr)| {
        f(ctx
            .fake
            .model()
            .repo_mut(REPO)
            .unwrap()
            .prs
            .get_mut(&number)
            .unwrap())
    };
    set_pr(&|pr| pr.draft = true);
    assert_eq!(state().await, MergeableState::Draft);
    set_pr(&|pr| pr.mergeable = Some(false));
    assert_eq!(state().await, MergeableState::Dirty);
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn merge_requirements_read_reviews_and_required_checks() {
    use bosun::github::{MergeRequirements, RequiredCheck, ReviewDecision};
    let ctx = TestContext::without_bosun().await;
    let (number, _) = ctx.open_pr("x", &[("a.tf", "")]).await;
    let head = ctx.fake.model().repo(REPO).unwrap().prs[&number]
        .head_sha
        .clone();
    let (gh, _) = client(&ctx).await;
    let requirements = || async {
        gh.merge_requirements(InstallationId(INSTALLATION), REPO, PrNumber(number))
            .await
            .unwrap()
    };
    assert_eq!(requirements().await, MergeRequirements::default());

    ctx.fake.protect(REPO, &["ci", "lint"], 2);
    ctx.fake.complete_check(REPO, &head, "ci", "success");
    ctx.fake.complete_check(REPO, &head, "lint", "failure");
    ctx.fake.complete_check(REPO, &head, "docs", "failure");
    ctx.fake.add_review(REPO, number, "bob", "APPROVED");
    let check = |name: &str, passed| RequiredCheck {
        name: name.into(),
        passed,
    };
    assert_eq!(
        requirements().await,
        MergeRequirements {
            review_decision: Some(ReviewDecision::ReviewRequired),
            required_checks: vec![check("ci", true), check("lint", false)],
        }
    );
    ctx.fake.set_permission(REPO, "carol", "write");
    ctx.fake.add_review(REPO, number, "carol", "APPROVED");
    ctx.fake.complete_check(REPO, &head, "lint", "skipped");
    assert_eq!(
        requirements().await,
        MergeRequirements {
            review_decision: Some(ReviewDecision::Approved),
            required_checks: vec![check("ci", true), check("lint", true)],
        }
    );
    ctx.fake
        .add_review(REPO, number, "bob", "CHANGES_REQUESTED");
    assert_eq!(
        requirements().await.review_decision,
        Some(ReviewDecision::ChangesRequested)
    );

    // A pull request that is not there: GitHub's NOT_FOUND.
    let err = gh
        .merge_requirements(InstallationId(INSTALLATION), REPO, PrNumber(999_999))
        .await
        .unwrap_err();
    match &err {
        GitHubError::GraphQl { kind, .. } => assert_eq!(kind.as_deref(), Some("NOT_FOUND")),
        other => panic!("{other}"),
    }
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn merge_requirements_page_through_the_checks_and_count_the_unreported() {
    use bosun::github::RequiredCheck;
    let ctx = TestContext::without_bosun().await;
    let (number, _) = ctx.open_pr("x", &[("a.tf", "")]).await;
    let head = ctx.fake.model().repo(REPO).unwrap().prs[&number]
        .head_sha
        .clone();
    ctx.fake.protect(REPO, &["late", "never"], 0);
    // 150 checks: the required one that fails is on the second page.
    for i in 0..149 {
        ctx.fake
            .complete_check(REPO, &head, &format!("c{i}"), "success");
    }
    ctx.fake.complete_check(REPO, &head, "late", "failure");
    let (gh, _) = client(&ctx).await;
    let r = gh
        .merge_requirements(InstallationId(INSTALLATION), REPO, PrNumber(number))
        .await
        .unwrap();
    let check = |name: &str, passed| RequiredCheck {
        name: name.into(),
        passed,
    };
    assert_eq!(
        r.required_checks,
        vec![check("late", false), check("never", false)]
    );
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn pull_request_titles_come_newest_first_open_or_closed() {
    let ctx = TestContext::without_bosun().await;
    let (first, _) = ctx.open_pr("first <b>", &[("a.tf", "")]).await;
    let (second, _) = ctx.open_pr("second", &[("b.tf", "")]).await;
    ctx.fake
        .model()
        .repo_mut(REPO)
        .unwrap()
        .prs
        .get_mut(&first)
        .unwrap()
        .open = false;
    let (gh, _) = client(&ctx).await;
    let titles = gh
        .pull_titles(InstallationId(INSTALLATION), REPO)
        .await
        .unwrap();
    assert_eq!(
        titles,
        vec![
            (PrNumber(second), "second".to_owned()),
            (PrNumber(first), "first <b>".to_owned())
        ]
    );
    let err = gh
        .pull_titles(InstallationId(INSTALLATION), "acme/../x")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    ctx.fake.assert_no_violations();
}
