//! Locks, applies and merges, end to end: the real bosun, the fake GitHub (reviews,
//! permissions, real merge commits) and the real Terraform, with state kept outside the
//! checkout so what an apply did can be read back.

use bosun::ids::RepoKey;
use bosun::ids::{InstallationId, PrNumber};
use bosun::store::{ApplyStatus, NewJob, now_millis};

use crate::support::prs::{module, resources};
use crate::support::{INSTALLATION, REPO, TestContext};

fn state(ctx: &TestContext, name: &str) -> std::path::PathBuf {
    ctx.state_file(name)
}

/// Opens a pull request adding project `envs/dev` with `terraform_data` resources `names`
/// (state in the test's `dev` state file), `config` being the base branch's `bosun.yaml`
/// (policy comes from the base branch); waits for its plan.
async fn open_dev(
    ctx: &TestContext,
    config: Option<&str>,
    names: &[&str],
) -> (u64, std::path::PathBuf) {
    let state = state(ctx, "dev");
    let tf = module(&state, names);
    if let Some(config) = config {
        ctx.push_base(&[("bosun.yaml", Some(config))]);
    }
    let (pr, _) = ctx
        .open_pr("add dev", &[("envs/dev/main.tf", tf.as_str())])
        .await;
    ctx.settle().await;
    (pr, state)
}

/// Two pull requests changing `envs/shared`: the first holds its lock, the second waits.
async fn two_on_shared(ctx: &TestContext) -> (u64, u64, std::path::PathBuf) {
    let state = state(ctx, "shared");
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
    (first, second, state)
}

fn approve(ctx: &TestContext, pr: u64) {
    ctx.fake.add_review(REPO, pr, "bob", "APPROVED");
}

const APPROVED_DEV: &str =
    "version: 3\nprojects:\n  - dir: envs/dev\n    apply_requirements: [approved]\n";

#[tokio::test]
async fn plan_approve_apply_puts_the_resources_in_the_state() {
    let ctx = TestContext::start().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    let (pr, state) = open_dev(&ctx, Some(APPROVED_DEV), &["app", "db"]).await;
    assert_eq!(
        ctx.locks_of_pr(pr).await.len(),
        1,
        "planning took the project's lock"
    );
    approve(&ctx, pr);
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;

    assert_eq!(resources(&state), ["app", "db"]);
    let body = ctx.reply(pr, "apply");
    assert!(
        body.contains("Apply complete! Resources: 2 added, 0 changed, 0 destroyed."),
        "{body}"
    );
    assert!(body.contains("Applied by @alice"), "{body}");
    let check = ctx.check(pr, "bosun/apply: envs/dev");
    assert_eq!(check.conclusion.as_deref(), Some("success"));
    let applies = ctx
        .store()
        .applies_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(applies.len(), 1);
    assert_eq!(applies[0].status, ApplyStatus::Succeeded);

    // The same plan is not applied twice.
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert!(ctx.reply(pr, "apply-refused").contains("already applied"));
    assert_eq!(ctx.applies_of_pr(pr).await.len(), 1);
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test]
async fn apply_is_refused_without_approval_for_read_access_and_for_a_stale_plan() {
    let ctx = TestContext::start().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    ctx.fake.set_permission(REPO, "rita", "read");
    let (pr, state) = open_dev(&ctx, Some(APPROVED_DEV), &["app"]).await;

    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let body = ctx.reply(pr, "apply-refused");
    assert!(body.contains("approving review"), "{body}");
    assert!(body.contains("`approved`"), "{body}");

    // A review that asks for changes after the approval withdraws it.
    approve(&ctx, pr);
    ctx.fake.add_review(REPO, pr, "bob", "CHANGES_REQUESTED");
    ctx.comment(pr, "alice", "bosun apply -d envs/dev").await;
    ctx.settle().await;
    assert!(ctx.reply(pr, "apply-refused").contains("approving review"));

    approve(&ctx, pr);
    ctx.comment(pr, "rita", "bosun apply").await;
    ctx.settle().await;
    let body = ctx.reply(pr, "not-allowed");
    assert!(body.contains("they have read access"), "{body}");

    // A push after the plan makes it stale (no webhook: the plan stays at the old head).
    let old_head = ctx.fake.model().repo(REPO).unwrap().prs[&pr]
        .head_sha
        .clone();
    let new_head = ctx.push_to_pr(pr, &[("envs/dev/notes.txt", Some("later"))]);
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let body = ctx.reply(pr, "apply-refused");
    assert!(body.contains("the plan is stale"), "{body}");
    assert!(
        body.contains(&old_head[..7]) && body.contains(&new_head[..7]),
        "{body}"
    );
    assert!(body.contains("bosun plan -d envs/dev"), "{body}");

    assert!(resources(&state).is_empty(), "nothing was applied");
    assert!(ctx.applies_of_pr(pr).await.is_empty());
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test]
async fn a_second_pr_on_a_locked_dir_waits_and_is_planned_when_the_first_merges() {
    let ctx = TestContext::start().await;
    let (first, second, _) = two_on_shared(&ctx).await;

    let check = ctx.check(second, "bosun/plan: envs/shared");
    assert_eq!(check.status, "queued");
    assert_eq!(
        check.title.as_deref(),
        Some(&*format!("Locked by #{first}"))
    );
    let body = ctx.reply(second, "locked");
    assert!(body.contains(&format!("is `locked` by #{first}")), "{body}");
    assert!(body.contains("plans it by itself"), "{body}");
    assert!(ctx.plans_of_pr(second).await.is_empty());

    ctx.merge_pr(first).await;
    ctx.settle().await;
    let check = ctx.check(second, "bosun/plan: envs/shared");
    assert_eq!(check.conclusion.as_deref(), Some("success"), "{check:#?}");
    let summary = ctx.reply(second, "plan");
    assert!(
        summary.contains(&format!("#{first} released the locks")),
        "{summary}"
    );
    let locks = ctx
        .store()
        .locks_of_repo(&RepoKey::new(REPO))
        .await
        .unwrap();
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0].pr, PrNumber(second));
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test]
async fn unlock_releases_the_lock_and_the_waiting_pr_is_planned() {
    let ctx = TestContext::start().await;
    ctx.fake.set_permission(REPO, "rita", "read");
    let (first, second, _) = two_on_shared(&ctx).await;
    ctx.reply(second, "locked");

    // Neither the author nor a writer: refused.
    ctx.comment(first, "rita", "bosun unlock").await;
    ctx.settle().await;
    assert!(ctx.reply(first, "not-allowed").contains("may not unlock"));
    assert_eq!(ctx.locks_of_pr(first).await.len(), 1);

    // The author of the pull request may.
    ctx.comment(first, "alice", "bosun unlock -d envs/shared")
        .await;
    ctx.settle().await;
    let body = ctx.reply(first, "unlocked");
    assert!(body.contains("`envs/shared`"), "{body}");
    assert!(
        ctx.plans_of_pr(first).await.is_empty(),
        "its plan is discarded"
    );
    assert_eq!(
        ctx.check(second, "bosun/plan: envs/shared")
            .conclusion
            .as_deref(),
        Some("success")
    );
    let locks = ctx
        .store()
        .locks_of_repo(&RepoKey::new(REPO))
        .await
        .unwrap();
    assert_eq!(locks.iter().map(|l| l.pr.0).collect::<Vec<_>>(), [second]);
    ctx.finish().await;
}

#[tokio::test]
async fn closing_without_merge_releases_the_locks_and_wakes_the_waiter() {
    let ctx = TestContext::start().await;
    let (first, second, state) = two_on_shared(&ctx).await;
    ctx.reply(second, "locked");

    ctx.close_pr(first, false).await;
    ctx.settle().await;
    assert!(ctx.locks_of_pr(first).await.is_empty());
    assert!(ctx.plans_of_pr(first).await.is_empty());
    assert_eq!(ctx.plans_of_pr(second).await.len(), 1);
    assert!(resources(&state).is_empty(), "closing applies nothing");
    ctx.finish().await;
}

#[tokio::test]
async fn merging_with_apply_on_merge_applies_the_merge_commits_plan() {
    let ctx = TestContext::start().await;
    let config = "version: 3\napply_on_merge: true\nprojects:\n  - dir: envs/dev\n";
    let (pr, state) = open_dev(&ctx, Some(config), &["app"]).await;
    let merge = ctx.merge_pr(pr).await;
    ctx.settle().await;

    assert_eq!(resources(&state), ["app"]);
    let body = ctx.reply(pr, "apply");
    assert!(body.contains("Applied on merge"), "{body}");
    assert!(
        body.contains("Apply complete! Resources: 1 added"),
        "{body}"
    );
    let run = {
        let m = ctx.fake.model();
        m.repo(REPO)
            .unwrap()
            .check_runs
            .iter()
            .rev()
            .find(|c| c.name == "bosun/apply: envs/dev")
            .cloned()
            .expect("an apply check run")
    };
    assert_eq!(run.head_sha, merge, "on the merge commit");
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    assert!(ctx.locks_of_repo().await.is_empty());
    assert!(ctx.plans_of_pr(pr).await.is_empty());
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test]
async fn a_base_that_moved_is_not_applied_on_merge_but_waits_for_apply_on_the_merged_pr() {
    let ctx = TestContext::start().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    let config = "version: 3\napply_on_merge: true\nprojects:\n  - dir: envs/dev\n";
    let (pr, state) = open_dev(&ctx, Some(config), &["app"]).await;
    // Someone adds a resource to the same project on the base branch meanwhile.
    ctx.move_base(
        pr,
        &[(
            "envs/dev/extra.tf",
            Some("resource \"terraform_data\" \"extra\" {\n  input = \"x\"\n}\n"),
        )],
    );
    let merge = ctx.merge_pr(pr).await;
    ctx.settle().await;

    assert!(resources(&state).is_empty(), "not applied on merge");
    let body = ctx.reply(pr, "plan");
    assert!(body.contains("Not applied on merge"), "{body}");
    assert!(body.contains(&merge[..7]), "{body}");
    assert!(body.contains("terraform_data.extra"), "{body}");
    assert_eq!(ctx.locks_of_pr(pr).await.len(), 1, "still locked");

    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert_eq!(resources(&state), ["app", "extra"]);
    let body = ctx.reply(pr, "apply");
    assert!(
        body.contains("Apply complete! Resources: 2 added"),
        "{body}"
    );
    assert!(ctx.locks_of_repo().await.is_empty());
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test]
async fn a_failing_execution_order_group_stops_the_later_ones_and_automerge_waits() {
    let ctx = TestContext::start().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    let (first, second) = (state(&ctx, "first"), state(&ctx, "second"));
    let config = "version: 3\nautomerge: true\nprojects:\n  - dir: first\n    execution_order_group: 1\n  - dir: second\n    execution_order_group: 2\n";
    let failing = format!(
        "{}\nresource \"terraform_data\" \"boom\" {{\n  provisioner \"local-exec\" {{\n    command = \"exit 3\"\n  }}\n}}\n",
        module(&first, &[])
    );
    ctx.push_base(&[("bosun.yaml", Some(config))]);
    let (pr, _) = ctx
        .open_pr(
            "two groups",
            &[
                ("first/main.tf", &failing),
                ("second/main.tf", &module(&second, &["web"])),
            ],
        )
        .await;
    ctx.settle().await;
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;

    let body = ctx.reply(pr, "apply");
    assert!(
        body.contains("0 applied, 1 failed, 1 not applied"),
        "{body}"
    );
    assert!(
        body.contains("earlier execution order group failed"),
        "{body}"
    );
    assert_eq!(
        ctx.check(pr, "bosun/apply: first").conclusion.as_deref(),
        Some("failure")
    );
    assert_eq!(
        ctx.check(pr, "bosun/apply: second").conclusion.as_deref(),
        Some("cancelled")
    );
    assert!(resources(&second).is_empty());
    let open = ctx.fake.model().repo(REPO).unwrap().prs[&pr].open;
    assert!(open, "automerge waits for every project");
    ctx.finish().await;
}

#[tokio::test]
async fn automerge_merges_once_every_project_is_applied() {
    let ctx = TestContext::start().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    let config = "version: 3\nautomerge: true\nprojects:\n  - dir: envs/dev\n";
    let (pr, state) = open_dev(&ctx, Some(config), &["app"]).await;
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    // GitHub's `pull_request.closed` for the merge reaches bosun too.
    ctx.settle().await;

    assert_eq!(resources(&state), ["app"]);
    let merged = ctx.fake.model().repo(REPO).unwrap().prs[&pr].merged;
    assert!(merged, "bosun merged the pull request");
    assert!(ctx.locks_of_repo().await.is_empty());
    assert!(
        branch_exists(&ctx, pr),
        "the branch is kept without the key"
    );
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

/// Whether the head branch of `pr` is still in the repository.
fn branch_exists(ctx: &TestContext, pr: u64) -> bool {
    let model = ctx.fake.model();
    let repo = model.repo(REPO).unwrap();
    let git = git2::Repository::open_bare(&repo.git_dir).unwrap();
    git.find_reference(&format!("refs/heads/{}", repo.prs[&pr].head_ref))
        .is_ok()
}

#[tokio::test]
async fn automerge_deletes_the_source_branch_when_the_config_asks_and_the_server_allows() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("allowed_overrides", "delete_source_branch_on_merge");
    ctx.start_bosun().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    let config = "version: 3\nautomerge: true\ndelete_source_branch_on_merge: true\nprojects:\n  - dir: envs/dev\n";
    let (pr, state) = open_dev(&ctx, Some(config), &["app"]).await;
    assert!(branch_exists(&ctx, pr));
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    ctx.settle().await;

    assert_eq!(resources(&state), ["app"]);
    assert!(ctx.fake.model().repo(REPO).unwrap().prs[&pr].merged);
    assert!(!branch_exists(&ctx, pr), "bosun deleted the merged branch");
    let deletes = ctx
        .fake
        .model()
        .requests
        .iter()
        .filter(|r| r.method == "DELETE" && r.path.contains("/git/refs/heads/"))
        .count();
    assert_eq!(deletes, 1);
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test]
async fn an_apply_cut_off_by_a_crash_is_reported_and_never_run_again() {
    let mut ctx = TestContext::start().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    let (pr, state) = open_dev(&ctx, None, &["app"]).await;
    let plan = ctx
        .store()
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap()
        .remove(0);
    ctx.stop_bosun().await;

    // What a crash mid-apply leaves in the store: the apply job claimed (running) and its
    // apply recorded as running, with Terraform never seen to finish.
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
                repository: RepoKey::new(REPO),
                installation_id: InstallationId(INSTALLATION),
                pr: PrNumber(pr),
                priority: 0,
                spec: spec.to_string(),
                created_at: now_millis(),
                supersedes_kind: None,
            }])
            .await
            .unwrap();
        let job = store
            .claim_job(now_millis(), std::time::Duration::from_secs(3600))
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

    assert!(resources(&state).is_empty(), "the apply was not run again");
    let applies = ctx
        .store()
        .applies_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(applies.len(), 1);
    assert_eq!(applies[0].status, ApplyStatus::Interrupted);
    let check = ctx.check(pr, "bosun/apply: envs/dev");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    assert_eq!(check.title.as_deref(), Some("Interrupted"));
    let body = ctx.reply(pr, "apply-interrupted");
    assert!(body.contains("Look at the state"), "{body}");
    assert!(body.contains("bosun plan"), "{body}");

    // Asked again, the plan whose apply was cut off is not applied: what it did is unknown.
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert!(resources(&state).is_empty(), "the apply was not run again");
    assert_eq!(ctx.applies_of_pr(pr).await.len(), 1);
    let refused = ctx.reply(pr, "apply-refused");
    assert!(
        refused.contains("its last apply was interrupted"),
        "{refused}"
    );
    // A new plan can be applied.
    ctx.comment(pr, "alice", "bosun plan").await;
    ctx.settle().await;
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert_eq!(resources(&state), ["app"]);
    ctx.finish().await;
}

/// CI reports `name` on the head of `pr`.
fn ci_check(ctx: &TestContext, pr: u64, name: &str, conclusion: &str) {
    let head = ctx.fake.model().repo(REPO).unwrap().prs[&pr]
        .head_sha
        .clone();
    ctx.fake.complete_check(REPO, &head, name, conclusion);
}

#[tokio::test]
async fn mergeable_looks_past_bosuns_apply_checks_and_undiverged_wants_the_base_head() {
    let ctx = TestContext::start().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    ctx.fake.protect(REPO, &["ci", "bosun/apply: envs/dev"], 0);
    let config = "version: 3\nprojects:\n  - dir: envs/dev\n    apply_requirements: [mergeable, undiverged]\n";
    let (pr, state) = open_dev(&ctx, Some(config), &["app"]).await;

    ci_check(&ctx, pr, "ci", "failure");
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let body = ctx.reply(pr, "apply-refused");
    assert!(
        body.contains("required checks have not passed: `ci`"),
        "{body}"
    );
    assert!(!body.contains("bosun/apply"), "{body}");

    // CI passes; the base moves on, so the branch no longer contains its head.
    ci_check(&ctx, pr, "ci", "success");
    ctx.push_base(&[("README.md", Some("moved on"))]);
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let body = ctx.reply(pr, "apply-refused");
    assert!(body.contains("`undiverged`"), "{body}");
    assert!(
        !body.contains("`mergeable`"),
        "only its own checks block it: {body}"
    );
    assert!(resources(&state).is_empty());
    ctx.fake.assert_no_violations();
    ctx.finish().await;
}

#[tokio::test]
async fn terraforms_refusal_of_a_stale_plan_is_reported_as_such() {
    let ctx = TestContext::start().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    let (pr, state) = open_dev(&ctx, None, &["app"]).await;

    // Someone changes the state behind bosun's back (a run by hand from another directory).
    ctx.apply_by_hand("manual", &module(&state, &["manual"]));
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;

    let body = ctx.reply(pr, "apply");
    assert!(
        body.contains("Terraform refused the saved plan: it is stale"),
        "{body}"
    );
    assert!(body.contains("bosun plan -d envs/dev"), "{body}");
    let check = ctx.check(pr, "bosun/apply: envs/dev");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    assert_eq!(check.title.as_deref(), Some("Stale plan refused"));
    assert_eq!(
        resources(&state),
        ["manual"],
        "the saved plan was not applied"
    );
    ctx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_an_apply_marks_it_interrupted_and_never_runs_it_again() {
    use crate::binary::Binary;
    use bosun::store::{JobStore, LockStore};
    use std::time::{Duration, Instant};

    let ctx = TestContext::without_bosun().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    // Where the sandboxed provisioner may write: next to the state.
    let states = ctx.state_dir.path().to_owned();
    let (runs, started) = (states.join("runs.log"), states.join("started"));
    let state = state(&ctx, "dev");
    let tf = format!(
        "{}\nresource \"terraform_data\" \"slow\" {{\n  provisioner \"local-exec\" {{\n    command = \"echo run >> {} && touch {} && sleep 3\"\n  }}\n}}\n",
        module(&state, &[]),
        runs.display(),
        started.display()
    );
    let mut bosun = Binary::start(&ctx, &states, &[]).await;
    let store = bosun.store().await;
    let (pr, _) = ctx.open_pr("slow", &[("envs/dev/main.tf", &tf)]).await;
    bosun.apply_until_started(&ctx, &store, pr, &started).await;
    bosun.kill(); // SIGKILL, mid-apply
    // The sandbox dies with bosun; were a provisioner orphaned, it would end by now.
    tokio::time::sleep(Duration::from_secs(4)).await;

    bosun.restart().await;
    let t = Instant::now();
    loop {
        let applies = store
            .applies_of_pr(&RepoKey::new(REPO), PrNumber(pr))
            .await
            .unwrap();
        if applies.iter().all(|a| a.status != ApplyStatus::Running)
            && store.open_jobs().await.unwrap() == 0
        {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(120), "{applies:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bosun.kill();

    let applies = store
        .applies_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(applies.len(), 1, "{applies:?}");
    assert_eq!(applies[0].status, ApplyStatus::Interrupted);
    let lines = std::fs::read_to_string(&runs).unwrap();
    assert_eq!(lines.lines().count(), 1, "the apply ran once: {lines}");
    let check = ctx.check(pr, "bosun/apply: envs/dev");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    // The summary check the killed run left in progress is completed too.
    let summary = ctx.check(pr, "bosun/apply");
    assert_eq!(
        (summary.status.as_str(), summary.conclusion.as_deref()),
        ("completed", Some("failure"))
    );
    assert!(
        ctx.reply(pr, "apply-interrupted")
            .contains("Look at the state")
    );
}
