//! The real GitHub client against the fake, for what drift detection needs: the App's
//! installations and their repositories, and the issue bosun keeps per repository.

use bosun::ids::InstallationId;
use std::sync::Arc;

use bosun::github::{GitHub, IssueInfo, IssueUpdate, RepoInfo};
use bosun::metrics::Metrics;
use bytes::Bytes;
use http::Method;

use crate::support::{INSTALLATION, REPO, TestContext, fast_retry};

const OTHER: u64 = 2;
const LABEL: &str = "drift";
const TITLE: &str = "bosun: drift report";

fn client(ctx: &TestContext) -> Arc<GitHub> {
    let metrics = Arc::new(Metrics::default());
    Arc::new(GitHub::new(&ctx.settings().github, fast_retry(), metrics).unwrap())
}

fn labels() -> Vec<String> {
    vec![LABEL.to_owned()]
}

#[tokio::test]
async fn every_installation_and_its_repositories_are_listed_page_by_page() {
    let ctx = TestContext::without_bosun().await;
    // 101 repositories and 101 installations: two pages of 100 each.
    for i in 0..100 {
        ctx.fake.add_repo(INSTALLATION, &format!("acme/app-{i:03}"));
    }
    ctx.fake.add_repo(OTHER, "other/live");
    ctx.fake.add_repo(OTHER, "other/staging");
    for id in 3..=101 {
        ctx.fake.add_installation(id, &format!("org-{id}"));
    }
    let gh = client(&ctx);

    let installations = gh.installations().await.unwrap();
    assert_eq!(
        installations,
        (1..=101).map(InstallationId).collect::<Vec<_>>()
    );
    assert_eq!(ctx.fake.requests("GET", "/app/installations").len(), 2);

    let repos = gh
        .installation_repos(InstallationId(INSTALLATION))
        .await
        .unwrap();
    assert_eq!(repos.len(), 101);
    assert!(repos.contains(&RepoInfo {
        id: ctx.fake.repo_id(REPO),
        full_name: REPO.into(),
        clone_url: ctx.fake.clone_url(REPO),
        default_branch: "main".into(),
    }));
    assert_eq!(
        ctx.fake.requests("GET", "/installation/repositories").len(),
        2
    );
    let other: Vec<String> = gh
        .installation_repos(InstallationId(OTHER))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.full_name)
        .collect();
    assert_eq!(other, vec!["other/live", "other/staging"]);
    assert!(
        gh.installation_repos(InstallationId(3))
            .await
            .unwrap()
            .is_empty()
    );
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn a_narrowed_token_lists_only_its_repositories() {
    let ctx = TestContext::without_bosun().await;
    ctx.fake.add_repo(INSTALLATION, "acme/other");
    let token = client(&ctx)
        .repo_read_token(InstallationId(INSTALLATION), REPO)
        .await
        .unwrap();
    let reply = get(&ctx, "/installation/repositories", token.token.expose()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["total_count"], 1);
    assert_eq!(body["repositories"][0]["full_name"], REPO);
    ctx.fake.assert_no_violations();
}

async fn get(ctx: &TestContext, path: &str, token: &str) -> crate::support::client::Reply {
    send(ctx, Method::GET, path, token, Bytes::new()).await
}

async fn send(
    ctx: &TestContext,
    method: Method,
    path: &str,
    token: &str,
    body: Bytes,
) -> crate::support::client::Reply {
    let headers = [
        ("authorization", format!("Bearer {token}")),
        ("user-agent", "bosun-tests".to_string()),
        ("accept", "application/vnd.github+json".to_string()),
        ("content-type", "application/json".to_string()),
    ];
    ctx.http
        .send(method, &format!("{}{path}", ctx.fake.url), &headers, body)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_repositorys_installation_and_details() {
    let ctx = TestContext::without_bosun().await;
    ctx.fake.add_repo(OTHER, "other/live");
    let gh = client(&ctx);
    assert_eq!(
        gh.repo_installation(REPO).await.unwrap(),
        Some(InstallationId(INSTALLATION))
    );
    assert_eq!(
        gh.repo_installation("Other/Live").await.unwrap(),
        Some(InstallationId(OTHER))
    );
    assert_eq!(gh.repo_installation("acme/missing").await.unwrap(), None);
    assert_eq!(gh.repo_installation("../app").await.unwrap(), None);
    assert_eq!(
        gh.repository(InstallationId(INSTALLATION), REPO)
            .await
            .unwrap(),
        RepoInfo {
            id: ctx.fake.repo_id(REPO),
            full_name: REPO.into(),
            clone_url: ctx.fake.clone_url(REPO),
            default_branch: "main".into(),
        }
    );
    // Another installation's repository is hidden from this one, as on GitHub.
    let e = gh
        .repository(InstallationId(INSTALLATION), "other/live")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn an_issue_is_opened_found_edited_closed_and_reopened() {
    let ctx = TestContext::without_bosun().await;
    let (pr, _) = ctx.open_pr("x", &[("a.tf", "")]).await;
    let gh = client(&ctx);
    assert_eq!(
        gh.find_issue(InstallationId(INSTALLATION), REPO, LABEL, TITLE)
            .await
            .unwrap(),
        None
    );

    let number = gh
        .create_issue(
            InstallationId(INSTALLATION),
            REPO,
            TITLE,
            "first",
            &labels(),
        )
        .await
        .unwrap();
    assert_eq!(number, pr + 1, "issues and pull requests share numbers");
    let issues = ctx.fake.issues(REPO);
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].author, "bosun-test[bot]");
    assert_eq!(issues[0].labels, labels());
    assert!(ctx.fake.model().repo(REPO).unwrap().labels.contains(LABEL));
    let found = gh
        .find_issue(InstallationId(INSTALLATION), REPO, LABEL, TITLE)
        .await
        .unwrap();
    let open = IssueInfo {
        number,
        open: true,
        title: TITLE.into(),
        body: "first".into(),
    };
    assert_eq!(found, Some(open.clone()));

    let edit = IssueUpdate {
        body: Some("second".into()),
        open: None,
    };
    gh.update_issue(InstallationId(INSTALLATION), REPO, number, &edit)
        .await
        .unwrap();
    let close = IssueUpdate {
        body: None,
        open: Some(false),
    };
    gh.update_issue(InstallationId(INSTALLATION), REPO, number, &close)
        .await
        .unwrap();
    let issue = &ctx.fake.issues(REPO)[0];
    assert_eq!(issue.edits, vec!["first"]);
    assert_eq!(
        (issue.open, issue.state_reason.as_deref()),
        (false, Some("completed"))
    );
    let found = gh
        .find_issue(InstallationId(INSTALLATION), REPO, LABEL, TITLE)
        .await
        .unwrap();
    assert_eq!(
        found,
        Some(IssueInfo {
            open: false,
            body: "second".into(),
            ..open.clone()
        })
    );
    // Nothing to change sends nothing.
    let before = ctx.fake.requests("PATCH", "/issues/").len();
    gh.update_issue(
        InstallationId(INSTALLATION),
        REPO,
        number,
        &IssueUpdate::default(),
    )
    .await
    .unwrap();
    assert_eq!(ctx.fake.requests("PATCH", "/issues/").len(), before);

    let reopen = IssueUpdate {
        body: Some("third".into()),
        open: Some(true),
    };
    gh.update_issue(InstallationId(INSTALLATION), REPO, number, &reopen)
        .await
        .unwrap();
    let issue = &ctx.fake.issues(REPO)[0];
    assert_eq!(issue.edits, vec!["first", "second"]);
    assert_eq!(
        (issue.open, issue.state_reason.as_deref()),
        (true, Some("reopened"))
    );

    // Comments work on issues as on pull requests.
    gh.create_comment(InstallationId(INSTALLATION), REPO, number, "resolved")
        .await
        .unwrap();
    assert_eq!(ctx.fake.issue_comments(REPO, number), vec!["resolved"]);
    let e = gh
        .update_issue(InstallationId(INSTALLATION), REPO, 999, &reopen)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn find_issue_skips_pull_requests_users_issues_and_other_titles() {
    let ctx = TestContext::without_bosun().await;
    ctx.open_pr(TITLE, &[("a.tf", "")]).await;
    let gh = client(&ctx);
    let ours = gh
        .create_issue(InstallationId(INSTALLATION), REPO, TITLE, "ours", &labels())
        .await
        .unwrap();
    gh.update_issue(
        InstallationId(INSTALLATION),
        REPO,
        ours,
        &IssueUpdate {
            body: None,
            open: Some(false),
        },
    )
    .await
    .unwrap();
    // Newer, so listed first: more than a page of look-alikes that are not bosun's.
    for _ in 0..100 {
        ctx.fake.add_issue(REPO, "mallory", TITLE, &[LABEL]);
    }
    ctx.fake
        .add_issue(REPO, "bosun-test[bot]", "another title", &[LABEL]);
    ctx.fake
        .add_issue(REPO, "bosun-test[bot]", TITLE, &["other"]);
    let found = gh
        .find_issue(InstallationId(INSTALLATION), REPO, LABEL, TITLE)
        .await
        .unwrap();
    assert_eq!(found.map(|i| (i.number, i.open)), Some((ours, false)));
    assert!(
        ctx.fake
            .requests("GET", &format!("/repos/{REPO}/issues"))
            .len()
            >= 2
    );

    // A newer closed one wins over an older closed one; an open one over both.
    let newer = gh
        .create_issue(
            InstallationId(INSTALLATION),
            REPO,
            TITLE,
            "newer",
            &labels(),
        )
        .await
        .unwrap();
    let close = IssueUpdate {
        body: None,
        open: Some(false),
    };
    gh.update_issue(InstallationId(INSTALLATION), REPO, newer, &close)
        .await
        .unwrap();
    let found = gh
        .find_issue(InstallationId(INSTALLATION), REPO, LABEL, TITLE)
        .await
        .unwrap();
    assert_eq!(found.map(|i| i.number), Some(newer));
    let reopen = IssueUpdate {
        body: None,
        open: Some(true),
    };
    gh.update_issue(InstallationId(INSTALLATION), REPO, ours, &reopen)
        .await
        .unwrap();
    gh.update_issue(
        InstallationId(INSTALLATION),
        REPO,
        newer,
        &IssueUpdate {
            body: Some("x".into()),
            open: None,
        },
    )
    .await
    .unwrap();
    let found = gh
        .find_issue(InstallationId(INSTALLATION), REPO, LABEL, TITLE)
        .await
        .unwrap();
    assert_eq!(found.map(|i| (i.number, i.open)), Some((ours, true)));
    ctx.fake.assert_no_violations();
}

#[tokio::test]
async fn a_read_only_token_cannot_open_an_issue() {
    let ctx = TestContext::without_bosun().await;
    let token = client(&ctx)
        .repo_read_token(InstallationId(INSTALLATION), REPO)
        .await
        .unwrap();
    let body = Bytes::from(r#"{"title":"t","body":"b","labels":["drift"]}"#);
    let reply = send(
        &ctx,
        Method::POST,
        &format!("/repos/{REPO}/issues"),
        token.token.expose(),
        body,
    )
    .await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.json()["message"],
        "Resource not accessible by integration"
    );
    // It can still read the repository itself.
    let reply = get(&ctx, &format!("/repos/{REPO}"), token.token.expose()).await;
    assert_eq!(reply.status, 200);
    assert!(ctx.fake.issues(REPO).is_empty());
    ctx.fake.assert_no_violations();
}
