//! The notification URL beyond drift: apply outcomes and applies held back on merge, one
//! line each with the pull request's link, and the kinds filter (BOSUN_NOTIFY_KINDS).

use bosun::ids::RepoKey;
use bosun::ids::{InstallationId, PrNumber};
use std::time::Duration;

use crate::support::notify_sink::Sink;
use crate::support::prs::module;
use crate::support::{REPO, TestContext};

async fn with_sink(kinds: Option<&str>) -> (TestContext, Sink) {
    let mut ctx = TestContext::without_bosun().await;
    let sink = Sink::start().await;
    ctx.set("notify_url", &sink.url);
    ctx.set("public_url", "https://bosun.example.com");
    if let Some(kinds) = kinds {
        ctx.set("notify_kinds", kinds);
    }
    ctx.start_bosun().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    (ctx, sink)
}

fn link(ctx: &TestContext, pr: u64) -> String {
    format!("{}/{REPO}/pull/{pr}", ctx.fake.url)
}

#[tokio::test]
async fn an_apply_that_succeeds_and_one_that_fails_are_announced_with_the_pr_and_run_links() {
    let (ctx, sink) = with_sink(None).await;
    let (ok, bad) = (ctx.state_file("ok"), ctx.state_file("bad"));
    let failing = format!(
        "{}\nresource \"terraform_data\" \"boom\" {{\n  provisioner \"local-exec\" {{\n    command = \"exit 3\"\n  }}\n}}\n",
        module(&bad, &[])
    );
    let (pr, _) = ctx
        .open_pr(
            "two projects",
            &[
                ("envs/ok/main.tf", &module(&ok, &["app"])),
                ("envs/bad/main.tf", &failing),
            ],
        )
        .await;
    ctx.settle().await;
    assert!(sink.texts().is_empty(), "planning announces nothing");
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;

    let mut texts = sink.wait_for(2).await;
    texts.sort();
    assert_eq!(texts.len(), 2, "{texts:?}");
    let url = link(&ctx, pr);
    assert!(
        texts[0].starts_with(&format!(
            "bosun: applied envs/ok (envs/ok, workspace default) in {REPO}#{pr} at "
        )),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].starts_with(&format!(
            "bosun: apply failed: envs/bad (envs/bad, workspace default) in {REPO}#{pr} at "
        )),
        "{}",
        texts[1]
    );
    // Each with the pull request's link, then its apply run's page.
    for (text, dir) in texts.iter().zip(["envs/ok", "envs/bad"]) {
        let (_, links) = text.rsplit_once(" at ").unwrap();
        let (_, links) = links.split_once(": ").unwrap();
        let run = links
            .strip_prefix(&format!("{url} (log: https://bosun.example.com/runs/"))
            .and_then(|rest| rest.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{text}"));
        let run = ctx
            .store()
            .run(run.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (run.kind, run.dir.as_str()),
            (bosun::store::RunKind::Apply, dir)
        );
    }
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test]
async fn an_apply_held_back_on_merge_is_announced_and_unchosen_kinds_are_not() {
    let (ctx, sink) = with_sink(Some("apply_held")).await;
    let config = "version: 3\napply_on_merge: true\nprojects:\n  - dir: envs/dev\n";
    ctx.push_base(&[("bosun.yaml", Some(config))]);
    let state = ctx.state_file("dev");
    let (pr, _) = ctx
        .open_pr(
            "add dev",
            &[("envs/dev/main.tf", &module(&state, &["app"]))],
        )
        .await;
    ctx.settle().await;
    // The base moves after the review: the merge commit's plan is not the one reviewed.
    ctx.move_base(
        pr,
        &[(
            "envs/dev/extra.tf",
            Some("resource \"terraform_data\" \"extra\" {\n  input = \"x\"\n}\n"),
        )],
    );
    ctx.merge_pr(pr).await;
    ctx.settle().await;
    let texts = sink.wait_for(1).await;
    assert_eq!(
        texts,
        [format!(
            "bosun: not applied on merge (the plan changed since it was reviewed): envs/dev \
             (envs/dev, workspace default) in {REPO}#{pr}: {}",
            link(&ctx, pr)
        )]
    );

    // `applied` is not among the kinds chosen: the apply that follows is not announced.
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert!(ctx.reply(pr, "apply").contains("Apply complete!"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.texts().len(), 1, "{:?}", sink.texts());
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test]
async fn a_lock_held_longer_than_the_age_is_announced_once() {
    let mut ctx = TestContext::without_bosun().await;
    let sink = Sink::start().await;
    ctx.set("notify_url", &sink.url);
    ctx.set("notify_kinds", "lock_held");
    ctx.set("notify_lock_age", "2s");
    ctx.start_bosun().await;
    let state = ctx.state_file("dev");
    let (pr, _) = ctx
        .open_pr(
            "add dev",
            &[("envs/dev/main.tf", &module(&state, &["app"]))],
        )
        .await;
    ctx.settle().await;
    assert_eq!(ctx.locks_of_pr(pr).await.len(), 1);
    let texts = sink.wait_for(1).await;
    let prefix = format!(
        "bosun: envs/dev (envs/dev, workspace default) in {REPO} has been locked by #{pr} for "
    );
    assert!(
        texts[0].starts_with(&prefix) && texts[0].ends_with(&format!(": {}", link(&ctx, pr))),
        "{}",
        texts[0]
    );
    // The watch looks every second: the same lock is never announced again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.texts().len(), 1, "{:?}", sink.texts());
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test]
async fn an_apply_cut_off_by_a_crash_is_announced_as_interrupted() {
    use bosun::store::{NewJob, now_millis};

    let mut ctx = TestContext::without_bosun().await;
    let sink = Sink::start().await;
    ctx.set("notify_url", &sink.url);
    ctx.set("notify_kinds", "apply_interrupted");
    ctx.start_bosun().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    let state = ctx.state_file("dev");
    let (pr, _) = ctx
        .open_pr(
            "add dev",
            &[("envs/dev/main.tf", &module(&state, &["app"]))],
        )
        .await;
    ctx.settle().await;
    let plan = ctx
        .store()
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap()
        .remove(0);
    ctx.stop_bosun().await;
    // What a crash mid-apply leaves in the store: the apply job claimed and its apply running.
    {
        let store = bosun::store::open(
            &format!("sqlite://{}", ctx.data_path().join("bosun.db").display()),
            bosun::store::Sealer::ephemeral().unwrap(),
        )
        .await
        .unwrap();
        let comment = ctx.fake.add_comment(REPO, pr, "alice", "bosun apply");
        let spec = serde_json::json!({
            "kind": "comment",
            "repo": { "full_name": REPO, "clone_url": ctx.fake.clone_url(REPO), "default_branch": "main" },
            "pr_number": pr, "comment_id": comment, "author": "alice", "body": "bosun apply",
        });
        store
            .enqueue_jobs(&[NewJob {
                source: "crash-test".into(),
                kind: "comment".into(),
                repository: bosun::ids::RepoKey::new(REPO),
                installation_id: InstallationId(crate::support::INSTALLATION),
                pr: PrNumber(pr),
                priority: 0,
                spec: spec.to_string(),
                created_at: now_millis(),
                supersedes_kind: None,
            }])
            .await
            .unwrap();
        let job = store
            .claim_job(now_millis(), Duration::from_secs(3600))
            .await
            .unwrap()
            .expect("the apply job");
        store
            .start_apply(
                &RepoKey::new(REPO),
                PrNumber(pr),
                &plan.target,
                &plan.head_sha,
                job.claim(),
                now_millis(),
            )
            .await
            .unwrap();
    }
    ctx.start_bosun().await;
    ctx.settle().await;
    let texts = sink.wait_for(1).await;
    assert_eq!(
        texts,
        [format!(
            "bosun: apply interrupted by a restart: envs/dev (envs/dev, workspace default) in \
             {REPO}#{pr} at {}: {}",
            &plan.head_sha.as_str()[..7],
            link(&ctx, pr)
        )]
    );
    ctx.finish().await;
}
