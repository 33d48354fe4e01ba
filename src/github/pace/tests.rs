use crate::ids::InstallationId;
use crate::ids::{PrNumber, Sha};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use tokio::time::Instant;

use serde_json::{Value, json};

use super::*;
use crate::github::request::{Answer, Budget, Request, Service, Target};
use crate::github::{
    CheckRunSpec, CheckStatus, GitHub, GitHubError, IssueUpdate, MergeMethod, MergeRequirements,
    Permission, Reaction,
};

/// Fills a window of one, so the next writes have to wait.
async fn drain(pacer: &Pacer) {
    pacer.write_unkeyed(|| async {}).await;
}

/// Yields until `pacer` has `n` writes waiting; bounded.
async fn until_waiting(pacer: &Pacer, n: usize) {
    for _ in 0..1000 {
        if pacer.waiting() == n {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("expected {n} waiting writes, have {}", pacer.waiting());
}

#[tokio::test(start_paused = true)]
async fn of_two_hundred_writes_at_80_a_minute_80_go_at_once_and_no_minute_holds_more() {
    let pacer = Arc::new(Pacer::default());
    let start = Instant::now();
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let pacer = pacer.clone();
            tokio::spawn(async move { pacer.write_unkeyed(|| async { Instant::now() }).await })
        })
        .collect();
    let mut ran_at = Vec::new();
    for t in tasks {
        ran_at.push(t.await.unwrap() - start);
    }
    ran_at.sort();
    assert_eq!(ran_at[79], Duration::ZERO, "as many as the limit at once");
    assert_eq!(ran_at[80], Duration::from_secs(60));
    assert_eq!(ran_at[159], Duration::from_secs(60));
    assert_eq!(ran_at[160], Duration::from_secs(120));
    for (first, later) in ran_at.iter().zip(&ran_at[80..]) {
        assert!(
            *later - *first >= Duration::from_secs(60),
            "81 writes within a minute"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_write_waits_only_until_the_oldest_of_the_window_is_a_period_old() {
    let pacer = Pacer::window(3, Duration::from_secs(10));
    let start = Instant::now();
    for pause in [0, 2, 3] {
        tokio::time::sleep(Duration::from_secs(pause)).await;
        pacer.write_unkeyed(|| async {}).await;
    }
    // Writes at 0, 2 and 5 s fill the window: the next goes when the one at 0 is 10 s old.
    pacer.write_unkeyed(|| async {}).await;
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    pacer.write_unkeyed(|| async {}).await;
    assert_eq!(start.elapsed(), Duration::from_secs(12));
}

#[tokio::test(start_paused = true)]
async fn waiting_writes_of_one_key_are_superseded_by_the_newest() {
    let pacer = Pacer::window(1, Duration::from_secs(1));
    drain(&pacer).await;
    let start = Instant::now();
    let writes = (0..10).map(|i| pacer.write(Some("check:1"), move || async move { i }));
    let outcomes = join_all(writes).await;
    let mut expected = vec![Paced::Superseded; 9];
    expected.push(Paced::Ran(9));
    assert_eq!(outcomes, expected);
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(1),
        "one token for all ten"
    );
    assert_eq!(pacer.waiting(), 0);
}

#[tokio::test(start_paused = true)]
async fn different_keys_never_supersede_each_other_and_run_in_order() {
    let pacer = Pacer::window(1, Duration::from_secs(1));
    drain(&pacer).await;
    let log = Mutex::new(Vec::new());
    let keys = [
        Some("check:1"),
        None,
        Some("check:2"),
        Some("comment:1"),
        None,
    ];
    let writes = keys.iter().enumerate().map(|(i, key)| {
        let log = &log;
        pacer.write(*key, move || async move { log.lock().unwrap().push(i) })
    });
    let outcomes = join_all(writes).await;
    assert!(outcomes.iter().all(|o| *o == Paced::Ran(())));
    assert_eq!(*log.lock().unwrap(), vec![0, 1, 2, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn a_replacement_keeps_its_predecessors_place() {
    let pacer = Pacer::window(1, Duration::from_secs(1));
    drain(&pacer).await;
    let log = Mutex::new(Vec::new());
    let keys = ["a", "b", "a"];
    let writes = keys.iter().enumerate().map(|(i, key)| {
        let log = &log;
        pacer.write(
            Some(key),
            move || async move { log.lock().unwrap().push(i) },
        )
    });
    let outcomes = join_all(writes).await;
    assert_eq!(
        outcomes,
        vec![Paced::Superseded, Paced::Ran(()), Paced::Ran(())]
    );
    assert_eq!(
        *log.lock().unwrap(),
        vec![2, 1],
        "the newest `a` ran in the first `a`'s place"
    );
}

#[tokio::test(start_paused = true)]
async fn writes_of_one_key_run_one_at_a_time() {
    let pacer = Arc::new(Pacer::window(100, Duration::from_secs(1)));
    let log = Arc::new(Mutex::new(Vec::new()));
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (started, has_started) = tokio::sync::oneshot::channel::<()>();
    let first = tokio::spawn({
        let (pacer, log) = (pacer.clone(), log.clone());
        async move {
            pacer
                .write(Some("k"), || async move {
                    let _ = started.send(());
                    let _ = released.await;
                    log.lock().unwrap().push("first");
                })
                .await
        }
    });
    has_started.await.unwrap();
    let second = tokio::spawn({
        let (pacer, log) = (pacer.clone(), log.clone());
        async move {
            pacer
                .write(
                    Some("k"),
                    || async move { log.lock().unwrap().push("second") },
                )
                .await
        }
    });
    until_waiting(&pacer, 1).await;
    // Another key is not held up, tokens are plenty.
    pacer
        .write(Some("other"), || async {
            log.lock().unwrap().push("other")
        })
        .await;
    assert_eq!(
        pacer.waiting(),
        1,
        "the second `k` still waits for the first"
    );
    release.send(()).unwrap();
    assert_eq!(first.await.unwrap(), Paced::Ran(()));
    assert_eq!(second.await.unwrap(), Paced::Ran(()));
    assert_eq!(*log.lock().unwrap(), vec!["other", "first", "second"]);
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_gives_up_frees_its_place_and_its_key() {
    let pacer = Pacer::window(1, Duration::from_secs(1));
    drain(&pacer).await;
    // Gives up while waiting.
    let waited = tokio::time::timeout(
        Duration::from_millis(100),
        pacer.write(Some("k"), || async {}),
    )
    .await;
    assert!(waited.is_err());
    assert_eq!(pacer.waiting(), 0);
    // Gives up while running: the key is free again.
    let ran = tokio::time::timeout(
        Duration::from_secs(5),
        pacer.write(Some("k"), std::future::pending::<()>),
    )
    .await;
    assert!(ran.is_err());
    let start = Instant::now();
    assert_eq!(pacer.write(Some("k"), || async { 1 }).await, Paced::Ran(1));
    assert!(start.elapsed() <= Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn no_write_waits_longer_than_max_wait() {
    let pacer = Pacer::new(1).with_max_wait(Duration::from_secs(10));
    drain(&pacer).await;
    let start = Instant::now();
    pacer.write_unkeyed(|| async {}).await;
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    // The write ran on credit: the next one waits for the debt to be paid, or max_wait.
    let start = Instant::now();
    pacer.write_unkeyed(|| async {}).await;
    assert_eq!(start.elapsed(), Duration::from_secs(10));
}

/// A transport that records the writes it gets (`METHOD path` and the body's text) and answers
/// as GitHub would, enough for the helpers to decode.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl Service for Recorder {
    async fn send(&self, request: Request) -> Result<Answer, GitHubError> {
        let path = match &request.target {
            Target::Rest(path) => path.clone(),
            Target::GraphQl => "graphql".into(),
            other => format!("{other:?}"),
        };
        let body = request.body.clone().unwrap_or_default();
        let text = [
            "/body",
            "/title",
            "/content",
            "/sha",
            "/state",
            "/output/summary",
        ]
        .iter()
        .chain(&["/variables/id"])
        .filter_map(|k| body.pointer(k).and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ");
        if matches!(request.budget, Budget::Write { .. }) {
            self.calls
                .lock()
                .unwrap()
                .push(format!("{} {path} {text}", request.method));
        }
        let answer = match (request.method.as_str(), path.as_str()) {
            (_, "graphql") if text.starts_with("IC_") => json!({ "data": { "minimizeComment": {
                "minimizedComment": { "isMinimized": true } } } }),
            (_, "graphql") => json!({ "data": { "repository": { "pullRequest": {
                "reviewDecision": null, "commits": { "nodes": [] } } } } }),
            ("GET", p) if p.contains("/collaborators/") => json!({ "permission": "write" }),
            ("GET", p) if p.contains("/memberships/") => json!({ "state": "active" }),
            ("GET", p) if p.ends_with("/installation") => json!({ "id": 1 }),
            ("GET", p) if p.starts_with("/app/installations") => json!([{ "id": 1 }]),
            ("GET", p) if p.starts_with("/installation/repositories") => {
                json!({ "repositories": [] })
            }
            ("GET", _) => json!([]),
            ("POST", p) if p.ends_with("/comments") => json!({ "id": 1, "node_id": "IC_1" }),
            ("POST", p) if p.ends_with("/check-runs") => json!({ "id": 7 }),
            ("POST", p) if p.ends_with("/issues") => json!({ "number": 9 }),
            ("PUT", _) => json!({ "sha": "m3rg3", "merged": true }),
            _ => json!({}),
        };
        Ok(Answer::json(&answer))
    }
}

/// A client over `recorder` paced by `pacer`.
fn paced(recorder: &Arc<Recorder>, pacer: Pacer) -> GitHub {
    GitHub::over(recorder.clone()).paced(Arc::new(pacer), None)
}

fn check(summary: &str) -> CheckRunSpec {
    CheckRunSpec {
        name: "bosun/plan: envs/prod".into(),
        head_sha: "abc".into(),
        status: CheckStatus::InProgress,
        title: "planning".into(),
        summary: summary.into(),
        text: None,
        external_id: None,
        details_url: None,
    }
}

#[tokio::test(start_paused = true)]
async fn paced_github_coalesces_updates_and_passes_reads_through() {
    let recorder = Arc::new(Recorder::default());
    let gh = paced(&recorder, Pacer::window(1, Duration::from_secs(1)));
    gh.create_comment(InstallationId(1), "acme/infra", 5, "hello")
        .await
        .unwrap();
    let start = Instant::now();
    // The bucket is empty, yet reads do not wait.
    assert!(
        gh.reviews(InstallationId(1), "acme/infra", PrNumber(5))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        gh.permission(InstallationId(1), "acme/infra", "x")
            .await
            .unwrap(),
        Permission::Write
    );
    assert!(
        gh.team_member(InstallationId(1), "acme", "ops", "x")
            .await
            .unwrap()
    );
    assert_eq!(
        gh.merge_requirements(InstallationId(1), "acme/infra", PrNumber(5))
            .await
            .unwrap(),
        MergeRequirements::default()
    );
    assert_eq!(start.elapsed(), Duration::ZERO);

    let specs: Vec<CheckRunSpec> = (0..5).map(|i| check(&format!("step {i}"))).collect();
    let updates = specs
        .iter()
        .map(|spec| gh.update_check_run(InstallationId(1), "acme/infra", 7, spec));
    let (updates, other, comment, again) = tokio::join!(
        join_all(updates),
        gh.update_check_run(InstallationId(1), "acme/infra", 8, &specs[0]),
        gh.update_comment(InstallationId(1), "acme/infra", 1, "edited"),
        gh.update_comment(InstallationId(1), "acme/infra", 1, "edited again"),
    );
    assert!(
        updates.iter().all(Result::is_ok),
        "superseded updates are Ok"
    );
    other.unwrap();
    comment.unwrap();
    again.unwrap();
    gh.add_reaction(InstallationId(1), "acme/infra", 1, Reaction::Eyes)
        .await
        .unwrap();
    gh.minimize_comment(InstallationId(1), "IC_1")
        .await
        .unwrap();
    let merged = gh
        .merge_pull_request(
            InstallationId(1),
            "acme/infra",
            PrNumber(5),
            &Sha::new("abc"),
            MergeMethod::Squash,
        )
        .await
        .unwrap();
    assert_eq!(merged, "m3rg3");
    assert_eq!(
        *recorder.calls.lock().unwrap(),
        vec![
            "POST /repos/acme/infra/issues/5/comments hello",
            "PATCH /repos/acme/infra/check-runs/7 step 4",
            "PATCH /repos/acme/infra/check-runs/8 step 0",
            "PATCH /repos/acme/infra/issues/comments/1 edited again",
            "POST /repos/acme/infra/issues/comments/1/reactions eyes",
            "POST graphql IC_1",
            "PUT /repos/acme/infra/pulls/5/merge abc",
        ]
    );
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(6),
        "six writes ran, one a second"
    );
}

#[tokio::test(start_paused = true)]
async fn issue_writes_are_paced_and_never_coalesced() {
    let recorder = Arc::new(Recorder::default());
    let gh = paced(&recorder, Pacer::window(1, Duration::from_secs(1)));
    let labels = vec!["drift".to_owned()];
    let number = gh
        .create_issue(InstallationId(1), "acme/infra", "Drift", "b", &labels)
        .await
        .unwrap();
    let start = Instant::now();
    // The bucket is empty, yet reads do not wait.
    assert_eq!(gh.installations().await.unwrap(), vec![InstallationId(1)]);
    assert!(
        gh.installation_repos(InstallationId(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        gh.repo_installation("acme/infra").await.unwrap(),
        Some(InstallationId(1))
    );
    assert_eq!(
        gh.find_issue(InstallationId(1), "acme/infra", "drift", "Drift")
            .await
            .unwrap(),
        None
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
    let body = IssueUpdate {
        body: Some("new".into()),
        open: None,
    };
    let close = IssueUpdate {
        body: None,
        open: Some(false),
    };
    let (a, b) = tokio::join!(
        gh.update_issue(InstallationId(1), "acme/infra", number, &body),
        gh.update_issue(InstallationId(1), "acme/infra", number, &close),
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(
        *recorder.calls.lock().unwrap(),
        vec![
            "POST /repos/acme/infra/issues b Drift",
            "PATCH /repos/acme/infra/issues/9 new",
            "PATCH /repos/acme/infra/issues/9 closed",
        ]
    );
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(2),
        "two writes, one a second"
    );
}

/// Two replicas' paced clients on one PostgreSQL database spend one stored budget per
/// installation, though each one's own pacer would let every write through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgres_write_within_one_stored_budget() {
    use crate::store::test_db::{Backend, TestDb};
    let db = TestDb::new(Backend::Postgres).await;
    let recorder = Arc::new(Recorder::default());
    // Locally 10,000 writes a second; the fleet: 3 a minute.
    let replica = |store| {
        GitHub::over(recorder.clone()).paced(
            Arc::new(Pacer::window(10_000, Duration::from_secs(1))),
            Some(StoredBudget::new(store, 3)),
        )
    };
    let a = replica(db.open().await);
    let b = replica(db.open().await);
    a.create_comment(InstallationId(1), "acme/infra", 5, "a1")
        .await
        .unwrap();
    b.create_comment(InstallationId(1), "acme/infra", 5, "b1")
        .await
        .unwrap();
    a.create_check_run(InstallationId(1), "acme/infra", &check("a2"))
        .await
        .unwrap();
    // The installation's window is full for both replicas: the next write waits.
    let fourth = tokio::time::timeout(
        Duration::from_millis(300),
        b.create_comment(InstallationId(1), "acme/infra", 5, "b2"),
    )
    .await;
    assert!(fourth.is_err(), "a fourth write ran on a budget of three");
    // Another installation has a budget of its own.
    b.create_comment(InstallationId(2), "acme/other", 6, "b3")
        .await
        .unwrap();
    assert_eq!(recorder.calls.lock().unwrap().len(), 4);
    let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    let (granted, denied): (i64, i64) =
        sqlx::query_as("SELECT granted, denied FROM write_budget WHERE installation = 1")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(granted, 3);
    assert!(denied >= 1, "the fourth write was denied ({denied})");
}
