//! A repository renamed (or transferred) on GitHub stays the same repository to bosun: it is
//! known by GitHub's id, so its locks and plans are found under the new name, not forked.

use bosun::ids::{PrNumber, RepoKey};

use crate::support::fake::payloads;
use crate::support::prs::{module, resources};
use crate::support::{INSTALLATION, REPO, TestContext};

const RENAMED: &str = "acme/platform";

#[tokio::test]
async fn a_renamed_repository_keeps_its_locks_and_plans() {
    // Signed-in people are served pages too (the OAuth web flow of the fake).
    let mut ctx = TestContext::without_bosun().await;
    ctx.enable_sign_in();
    ctx.fake.set_permission(REPO, "alice", "write");
    ctx.start_bosun().await;
    let state = ctx.state_file("dev");
    let (first, _) = ctx
        .open_pr("first", &[("envs/dev/main.tf", &module(&state, &["a"]))])
        .await;
    ctx.settle().await;
    let key = RepoKey::new(REPO);
    let locks = ctx.store().locks_of_repo(&key).await.unwrap();
    assert_eq!(locks.len(), 1, "planning took the project's lock");
    assert_eq!(locks[0].pr, PrNumber(first));

    // A second pull request on the same project, opened once the repository is renamed.
    let (second, _) = ctx.prepare_pr("second", &[("envs/dev/main.tf", &module(&state, &["b"]))]);
    ctx.fake.rename_repo(REPO, RENAMED);
    let opened = {
        let m = ctx.fake.model();
        let repo = m.repo(RENAMED).unwrap();
        payloads::pull_request(
            "opened",
            repo,
            &repo.prs[&second],
            &ctx.fake.url,
            INSTALLATION,
            "bob",
        )
    };
    ctx.fake.send_webhook("pull_request", opened).await;
    ctx.settle().await;
    assert_eq!(
        ctx.store().repo_name(&key).await.unwrap().as_deref(),
        Some(RENAMED),
        "the repository is kept under its first name, and known by its name now"
    );

    // The first pull request is planned again, then applied, through the new name.
    comment(&ctx, first, "bosun plan").await;
    let renamed = RepoKey::new(RENAMED);
    assert!(
        ctx.store()
            .plans_of_pr(&renamed, PrNumber(first))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ctx.store()
            .plans_of_pr(&key, PrNumber(first))
            .await
            .unwrap()
            .len(),
        1
    );
    comment(&ctx, first, "bosun apply").await;
    assert_eq!(resources(&state), ["a"], "the reviewed plan was applied");
    let renamed = RepoKey::new(RENAMED);
    assert!(
        ctx.store()
            .locks_of_repo(&renamed)
            .await
            .unwrap()
            .is_empty()
            && ctx
                .store()
                .plans_of_pr(&renamed, PrNumber(second))
                .await
                .unwrap()
                .is_empty(),
        "nothing is stored under the new name: the rows are not forked"
    );
    let locks = ctx.store().locks_of_repo(&key).await.unwrap();
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert_eq!(
        locks[0].pr,
        PrNumber(first),
        "the first pull request still holds the lock"
    );

    // People are shown the repository by its name now.
    let (alice, _) = crate::support::signed_in::sign_in(&ctx, "alice", "/").await;
    for path in ["/api/locks", "/locks"] {
        let r = alice.send(&ctx, http::Method::GET, path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert!(r.text().contains(RENAMED), "{path}: {}", r.text());
        assert!(!r.text().contains(REPO), "{path}: {}", r.text());
    }

    let check = plan_check(&ctx, second);
    assert_eq!(
        check.title.as_deref(),
        Some(&*format!("Locked by #{first}")),
        "{check:#?}"
    );

    // Closed through the new name: its checkouts go, those made under either name; the
    // waiting pull request is planned.
    {
        let mut m = ctx.fake.model();
        m.repo_mut(RENAMED)
            .unwrap()
            .prs
            .get_mut(&first)
            .unwrap()
            .open = false;
    }
    let closed = {
        let m = ctx.fake.model();
        let repo = m.repo(RENAMED).unwrap();
        payloads::pull_request(
            "closed",
            repo,
            &repo.prs[&first],
            &ctx.fake.url,
            INSTALLATION,
            "alice",
        )
    };
    let checkouts = ctx.data_path().join("checkouts");
    let made = |slug: &str| checkouts.join(slug).join(format!("pr-{first}")).exists();
    assert!(
        made("acme+infra") && made("acme+platform"),
        "checkouts under both names"
    );
    ctx.fake.send_webhook("pull_request", closed).await;
    ctx.settle().await;
    assert!(
        !made("acme+infra") && !made("acme+platform"),
        "no checkout of #{first} left"
    );

    let check = plan_check(&ctx, second);
    assert_eq!(check.conclusion.as_deref(), Some("success"), "{check:#?}");

    // Read back what people saw (the helpers read the repository by its first name).
    ctx.fake.rename_repo(RENAMED, REPO);
    let body = ctx.reply(first, "apply");
    assert!(
        body.contains("Apply complete! Resources: 1 added"),
        "{body}"
    );
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

/// `alice` comments `body` on pull request `pr` of the renamed repository; bosun settles.
async fn comment(ctx: &TestContext, pr: u64, body: &str) {
    let id = ctx.fake.add_comment(RENAMED, pr, "alice", body);
    let payload = {
        let m = ctx.fake.model();
        let repo = m.repo(RENAMED).unwrap();
        payloads::pr_comment(
            repo,
            &repo.prs[&pr],
            id,
            body,
            "alice",
            &ctx.fake.url,
            INSTALLATION,
        )
    };
    ctx.fake.send_webhook("issue_comment", payload).await;
    ctx.settle().await;
}

/// The plan check run of pull request `pr`'s head in the renamed repository.
fn plan_check(ctx: &TestContext, pr: u64) -> crate::support::fake::model::CheckRun {
    let m = ctx.fake.model();
    let repo = m.repo(RENAMED).unwrap();
    let head = &repo.prs[&pr].head_sha;
    let mut found = repo.check_runs.iter().rev();
    found
        .find(|c| &c.head_sha == head && c.name == "bosun/plan: envs/dev")
        .cloned()
        .expect("a plan check run")
}
