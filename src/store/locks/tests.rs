use crate::ids::RepoKey;
use crate::ids::{InstallationId, PrNumber, Sha};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proptest::prelude::*;

use crate::plan::Target;
use crate::store::test_db::{Backend, TestDb, store_test};
use crate::store::{ApplyStatus, JobStatus, LockAttempt, NewJob, Store, StoredPlan, Waiter};

const REPO: &str = "acme/infra";

fn t(dir: &str) -> Target {
    Target {
        dir: dir.into(),
        workspace: "default".into(),
        name: None,
    }
}

/// The job a woken pull request gets: a re-plan of every project it waited on.
fn wake(w: &Waiter) -> NewJob {
    let dirs: Vec<&str> = w.targets.iter().map(|t| t.dir.as_str()).collect();
    NewJob {
        source: format!("wake:{}:{}", w.pr, dirs.join(",")),
        kind: "autoplan".into(),
        repository: w.repository.clone(),
        installation_id: InstallationId(1),
        pr: w.pr,
        priority: 0,
        spec: serde_json::json!({ "dirs": dirs }).to_string(),
        created_at: 5,
        supersedes_kind: Some("autoplan".into()),
    }
}

fn held(pairs: &[(&str, u64)]) -> LockAttempt {
    LockAttempt::Held {
        held: pairs.iter().map(|(d, pr)| (t(d), PrNumber(*pr))).collect(),
    }
}

store_test! { async fn locks_are_taken_all_or_none_and_a_blocked_pr_waits_only_when_asked(db) {
    let s = db.open().await;
    assert_eq!(
        s.lock_projects(&RepoKey::new(REPO), PrNumber(1), &[t("a")], true, 1).await.unwrap(),
        LockAttempt::Locked
    );
    assert_eq!(
        s.lock_projects(&RepoKey::new(REPO), PrNumber(2), &[t("b"), t("a")], false, 2)
            .await
            .unwrap(),
        held(&[("a", 1)])
    );
    assert!(
        s.locks_of_pr(&RepoKey::new(REPO), PrNumber(2)).await.unwrap().is_empty(),
        "B not taken"
    );
    assert!(s.waiters(&RepoKey::new(REPO)).await.unwrap().is_empty(), "wait=false");

    assert_eq!(
        s.lock_projects(&RepoKey::new(REPO), PrNumber(2), &[t("b"), t("a")], true, 3)
            .await
            .unwrap(),
        held(&[("a", 1)])
    );
    assert!(s.locks_of_pr(&RepoKey::new(REPO), PrNumber(2)).await.unwrap().is_empty());
    assert_eq!(
        s.waiters(&RepoKey::new(REPO)).await.unwrap(),
        vec![Waiter {
            repository: REPO.into(),
            pr: PrNumber(2),
            targets: vec![t("a"), t("b")],
        }]
    );
    // A later blocked run replaces the earlier waits; other repositories are apart.
    s.lock_projects(&RepoKey::new(REPO), PrNumber(2), &[t("a")], true, 4).await.unwrap();
    assert_eq!(s.waiters(&RepoKey::new(REPO)).await.unwrap()[0].targets, vec![t("a")]);
    assert_eq!(
        s.lock_projects(&RepoKey::new("acme/other"), PrNumber(2), &[t("a")], true, 5)
            .await
            .unwrap(),
        LockAttempt::Locked
    );
}}

store_test! { async fn relocking_own_locks_succeeds_and_locks_survive_a_restart(db) {
    let s = db.open().await;
    s.lock_projects(&RepoKey::new(REPO), PrNumber(1), &[t("a")], true, 10).await.unwrap();
    let named = Target {
        name: Some("prod".into()),
        ..t("a")
    };
    assert_eq!(
        s.lock_projects(&RepoKey::new(REPO), PrNumber(1), &[named.clone(), t("b"), t("b")], true, 20)
            .await
            .unwrap(),
        LockAttempt::Locked
    );
    drop(s);
    let s = db.open().await;
    let locks = s.locks_of_repo(&RepoKey::new(REPO)).await.unwrap();
    assert_eq!(
        locks
            .iter()
            .map(|l| (l.target.clone(), l.pr, l.created_at))
            .collect::<Vec<_>>(),
        [(named, PrNumber(1), 10), (t("b"), PrNumber(1), 20)],
        "kept since first taken, under the latest name"
    );
    assert_eq!(s.locks_of_pr(&RepoKey::new(REPO), PrNumber(1)).await.unwrap(), locks);
    assert!(s.locks_of_pr(&RepoKey::new(REPO), PrNumber(2)).await.unwrap().is_empty());
}}

store_test! { async fn a_release_wakes_each_waiter_once_with_its_job_queued(db) {
    let s = db.open().await;
    s.lock_projects(&RepoKey::new(REPO), PrNumber(1), &[t("a"), t("b")], true, 1)
        .await
        .unwrap();
    s.lock_projects(&RepoKey::new(REPO), PrNumber(2), &[t("a"), t("c")], true, 2)
        .await
        .unwrap();
    s.lock_projects(&RepoKey::new(REPO), PrNumber(3), &[t("b")], true, 3).await.unwrap();
    s.lock_projects(&RepoKey::new(REPO), PrNumber(4), &[t("z")], true, 3).await.unwrap();
    // PR 2 had an autoplan queued: the wake-up supersedes it like any newer autoplan.
    let mut queued = wake(&Waiter {
        repository: REPO.into(),
        pr: PrNumber(2),
        targets: vec![],
    });
    queued.source = "delivery-1".into();
    queued.supersedes_kind = None;
    s.enqueue_jobs(&[queued]).await.unwrap();

    let released = s.release_locks(&RepoKey::new(REPO), PrNumber(1), None, &wake).await.unwrap();
    assert_eq!(released.released, vec![t("a"), t("b")]);
    assert_eq!(
        released.woken,
        vec![
            Waiter {
                repository: REPO.into(),
                pr: PrNumber(2),
                targets: vec![t("a"), t("c")],
            },
            Waiter {
                repository: REPO.into(),
                pr: PrNumber(3),
                targets: vec![t("b")],
            },
        ]
    );
    assert!(s.waiters(&RepoKey::new(REPO)).await.unwrap().is_empty());
    assert!(s.locks_of_repo(&RepoKey::new(REPO)).await.unwrap()[0].pr == PrNumber(4));

    let jobs = s.jobs_of_pr(&RepoKey::new(REPO), PrNumber(2)).await.unwrap();
    assert_eq!(
        jobs.iter().map(|j| j.status).collect::<Vec<_>>(),
        [JobStatus::Superseded, JobStatus::Queued]
    );
    let mut claimed = Vec::new();
    while let Some(job) = s
        .claim_job(10, std::time::Duration::from_secs(60))
        .await
        .unwrap()
    {
        claimed.push((job.pr, job.spec));
        assert!(claimed.len() <= 2, "only the two wake-ups are queued");
    }
    claimed.sort();
    assert_eq!(
        claimed,
        [
            (PrNumber(2), r#"{"dirs":["a","c"]}"#.to_string()),
            (PrNumber(3), r#"{"dirs":["b"]}"#.to_string())
        ]
    );

    let again = s.release_locks(&RepoKey::new(REPO), PrNumber(1), None, &wake).await.unwrap();
    assert_eq!(again, Default::default());
    assert_eq!(s.open_jobs().await.unwrap(), 2, "nothing more enqueued");
}}

store_test! { async fn a_wake_up_with_a_known_source_is_not_enqueued_twice(db) {
    let s = db.open().await;
    for _ in 0..2 {
        s.lock_projects(&RepoKey::new(REPO), PrNumber(1), &[t("a")], true, 1).await.unwrap();
        s.lock_projects(&RepoKey::new(REPO), PrNumber(2), &[t("a")], true, 2).await.unwrap();
        let released = s.release_locks(&RepoKey::new(REPO), PrNumber(1), None, &wake).await.unwrap();
        assert_eq!(released.woken.len(), 1);
    }
    assert_eq!(s.jobs_of_pr(&RepoKey::new(REPO), PrNumber(2)).await.unwrap().len(), 1);
}}

store_test! { async fn releasing_named_projects_releases_only_those_and_keeps_own_waits(db) {
    let s = db.open().await;
    s.lock_projects(&RepoKey::new(REPO), PrNumber(1), &[t("a"), t("b"), t("c")], true, 1)
        .await
        .unwrap();
    s.lock_projects(&RepoKey::new(REPO), PrNumber(2), &[t("c")], true, 2).await.unwrap();
    s.lock_projects(&RepoKey::new(REPO), PrNumber(3), &[t("x")], true, 2).await.unwrap();
    s.lock_projects(&RepoKey::new(REPO), PrNumber(1), &[t("x")], true, 3).await.unwrap();
    let released = s
        .release_locks(&RepoKey::new(REPO), PrNumber(1), Some(&[t("b"), t("a"), t("x")]), &wake)
        .await
        .unwrap();
    assert_eq!(
        released.released,
        vec![t("a"), t("b")],
        "x was never PR 1's"
    );
    assert!(released.woken.is_empty(), "nobody waits on a or b");
    assert_eq!(
        s.locks_of_pr(&RepoKey::new(REPO), PrNumber(1))
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.target)
            .collect::<Vec<_>>(),
        [t("c")]
    );
    assert_eq!(
        s.waiters(&RepoKey::new(REPO))
            .await
            .unwrap()
            .iter()
            .map(|w| w.pr)
            .collect::<Vec<_>>(),
        [PrNumber(1), PrNumber(2)],
        "a partial release keeps the releaser's own waits"
    );
    assert_eq!(s.open_jobs().await.unwrap(), 0);
}}

store_test! { async fn fifty_prs_racing_for_one_project_over_two_replicas_leave_one_holder(db) {
    let replicas = [db.open().await, db.open().await];
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let mut tasks = Vec::new();
    for pr in 1..=50u64 {
        let s = replicas[pr as usize % 2].clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let got = s.lock_projects(&RepoKey::new(REPO), PrNumber(pr), &[t("a")], true, 1).await.unwrap();
            (pr, got)
        }));
    }
    let mut winners = Vec::new();
    let mut losers = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (pr, LockAttempt::Locked) => winners.push(pr),
            (pr, LockAttempt::Held { held }) => losers.push((pr, held)),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one wins: {winners:?}");
    let winner = winners[0];
    assert_eq!(losers.len(), 49);
    for (pr, held) in &losers {
        assert_ne!(*pr, winner);
        assert_eq!(held, &vec![(t("a"), PrNumber(winner))]);
    }
    for s in &replicas {
        let locks = s.locks_of_repo(&RepoKey::new(REPO)).await.unwrap();
        assert_eq!(locks.len(), 1);
        assert_eq!(locks[0].pr, PrNumber(winner));
        assert_eq!(s.waiters(&RepoKey::new(REPO)).await.unwrap().len(), 49);
    }
}}

/// Enqueues and claims a job of `pr`; returns its claim.
async fn claimed(s: &Arc<dyn Store>, source: &str, pr: u64) -> crate::store::Claim {
    s.enqueue_jobs(&[NewJob {
        source: source.into(),
        kind: "comment".into(),
        repository: REPO.into(),
        installation_id: InstallationId(1),
        pr: PrNumber(pr),
        priority: 0,
        spec: "{}".into(),
        created_at: 1,
        supersedes_kind: None,
    }])
    .await
    .unwrap();
    s.claim_job(10, std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap()
        .claim()
}

store_test! { async fn applies_are_recorded_from_start_to_end(db) {
    let s = db.open().await;
    let job = claimed(&s, "j7", 7).await;
    let other = claimed(&s, "j8", 8).await;
    let a = s
        .start_apply(&RepoKey::new(REPO), PrNumber(7), &t("a"), &Sha::new("a".repeat(40)), job, 100)
        .await
        .unwrap();
    let b = s
        .start_apply(&RepoKey::new(REPO), PrNumber(7), &t("b"), &Sha::new("a".repeat(40)), job, 101)
        .await
        .unwrap();
    let c = s
        .start_apply(&RepoKey::new(REPO), PrNumber(7), &t("c"), &Sha::new("a".repeat(40)), job, 102)
        .await
        .unwrap();
    s.start_apply(&RepoKey::new(REPO), PrNumber(8), &t("a"), &Sha::new("b"), other, 103)
        .await
        .unwrap();
    s.finish_apply(a, job, ApplyStatus::Succeeded, 200)
        .await
        .unwrap();
    s.finish_apply(b, job, ApplyStatus::Failed, 201)
        .await
        .unwrap();
    assert!(
        s.finish_apply(c, job, ApplyStatus::Running, 202)
            .await
            .is_err()
    );
    assert!(
        s.finish_apply(999, job, ApplyStatus::Failed, 202)
            .await
            .is_err()
    );
    assert!(
        s.finish_apply(c, other, ApplyStatus::Failed, 202)
            .await
            .is_err(),
        "another job's claim does not end this job's apply"
    );
    let applies = s.applies_of_pr(&RepoKey::new(REPO), PrNumber(7)).await.unwrap();
    assert_eq!(
        applies
            .iter()
            .map(|r| (r.id, r.target.clone(), r.status, r.finished_at))
            .collect::<Vec<_>>(),
        [
            (a, t("a"), ApplyStatus::Succeeded, Some(200)),
            (b, t("b"), ApplyStatus::Failed, Some(201)),
            (c, t("c"), ApplyStatus::Running, None),
        ]
    );
    assert_eq!(
        (
            applies[0].sha.as_str().len(),
            applies[0].job_id,
            applies[0].claim,
            applies[0].started_at
        ),
        (40, job.job_id, job.token, 100)
    );
    s.finish_apply(c, job, ApplyStatus::Interrupted, 300)
        .await
        .unwrap();
    assert_eq!(
        s.applies_of_pr(&RepoKey::new(REPO), PrNumber(7)).await.unwrap()[2].status,
        ApplyStatus::Interrupted
    );
    for status in [
        ApplyStatus::Running,
        ApplyStatus::Succeeded,
        ApplyStatus::Failed,
        ApplyStatus::Interrupted,
    ] {
        assert_eq!(ApplyStatus::parse(status.as_str()), Some(status));
    }
    assert_eq!(ApplyStatus::parse("done"), None);
}}

store_test! { async fn an_apply_ends_once(db) {
    let s = db.open().await;
    let job = claimed(&s, "j7", 7).await;
    let a = s
        .start_apply(&RepoKey::new(REPO), PrNumber(7), &t("a"), &Sha::new("sha"), job, 100)
        .await
        .unwrap();
    s.finish_apply(a, job, ApplyStatus::Interrupted, 200)
        .await
        .unwrap();
    assert!(
        s.finish_apply(a, job, ApplyStatus::Succeeded, 300)
            .await
            .is_err(),
        "an interrupted apply is never flipped to succeeded"
    );
    let record = &s.applies_of_pr(&RepoKey::new(REPO), PrNumber(7)).await.unwrap()[0];
    assert_eq!(
        (record.status, record.finished_at),
        (ApplyStatus::Interrupted, Some(200))
    );
}}

store_test! { async fn a_stolen_lease_fences_the_old_holders_apply_records(db) {
    let s = db.open().await;
    let old = claimed(&s, "j7", 7).await;
    let a = s
        .start_apply(&RepoKey::new(REPO), PrNumber(7), &t("a"), &Sha::new("sha"), old, 100)
        .await
        .unwrap();
    // The old holder stalls past its lease; another worker claims the job.
    let new = s
        .claim_job(10 + 61_000, std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap()
        .claim();
    assert_eq!(new.job_id, old.job_id);
    assert_ne!(new.token, old.token);
    assert!(
        s.start_apply(&RepoKey::new(REPO), PrNumber(7), &t("b"), &Sha::new("sha"), old, 150)
            .await
            .is_err(),
        "the old holder starts no apply"
    );
    // The new holder finds the apply running and reports it interrupted.
    s.finish_apply(a, new, ApplyStatus::Interrupted, 200)
        .await
        .unwrap();
    // The old holder's apply ends: its record is refused.
    assert!(
        s.finish_apply(a, old, ApplyStatus::Succeeded, 300)
            .await
            .is_err()
    );
    let applies = s.applies_of_pr(&RepoKey::new(REPO), PrNumber(7)).await.unwrap();
    assert_eq!(
        applies
            .iter()
            .map(|r| (r.status, r.finished_at))
            .collect::<Vec<_>>(),
        [(ApplyStatus::Interrupted, Some(200))]
    );
}}

store_test! { async fn deleting_some_projects_plans_keeps_the_others(db) {
    use crate::plan::{Outcome, Step};
    let s = db.open().await;
    for dir in ["a", "b", "c"] {
        s.record_plan(&StoredPlan {
            repository: REPO.into(),
            pr: PrNumber(3),
            target: t(dir),
            head_sha: Sha::new("a".repeat(40)),
            outcome: Outcome::Failed {
                step: Step::Init,
                output: String::new(),
            },
            planfile: None,
            job_id: 1,
            created_at: 1,
            tool: None,
        })
        .await
        .unwrap();
    }
    assert_eq!(
        s.delete_plans_of(&RepoKey::new(REPO), PrNumber(3), &[t("a"), t("c"), t("c"), t("z")])
            .await
            .unwrap(),
        2
    );
    let left = s.plans_of_pr(&RepoKey::new(REPO), PrNumber(3)).await.unwrap();
    assert_eq!(
        left.into_iter().map(|p| p.target).collect::<Vec<_>>(),
        [t("b")]
    );
}}

/// One step of the property test: a pull request locks some projects or releases some.
#[derive(Debug, Clone)]
enum Op {
    Lock { pr: u64, dirs: Vec<u8>, wait: bool },
    Release { pr: u64, dirs: Option<Vec<u8>> },
}

fn op() -> impl Strategy<Value = Op> {
    let pr = 1..5u64;
    let dirs = proptest::collection::vec(0..5u8, 0..4);
    prop_oneof![
        (pr.clone(), dirs.clone(), any::<bool>()).prop_map(|(pr, dirs, wait)| Op::Lock {
            pr,
            dirs,
            wait
        }),
        (pr, proptest::option::of(dirs)).prop_map(|(pr, dirs)| Op::Release { pr, dirs }),
    ]
}

fn targets(dirs: &[u8]) -> Vec<Target> {
    dirs.iter().map(|d| t(&format!("d{d}"))).collect()
}

/// Runs the operations on the store and on a plain model side by side; after each one the
/// store's locks, waits and answers match the model's.
async fn check_against_model(db: &TestDb, ops: Vec<Op>) {
    let s = db.open().await;
    let mut locks: BTreeMap<String, u64> = BTreeMap::new();
    let mut waits: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for (step, op) in ops.into_iter().enumerate() {
        let now = step as i64;
        match op {
            Op::Lock { pr, dirs, wait } => {
                let asked = targets(&dirs);
                let keys: BTreeSet<String> = asked.iter().map(|t| t.dir.to_string()).collect();
                let others: Vec<(Target, u64)> = keys
                    .iter()
                    .filter_map(|k| locks.get(k).filter(|h| **h != pr).map(|h| (t(k), *h)))
                    .collect();
                let expected = if others.is_empty() {
                    for k in &keys {
                        locks.insert(k.clone(), pr);
                    }
                    LockAttempt::Locked
                } else {
                    if wait {
                        waits.insert(pr, keys);
                    }
                    LockAttempt::Held {
                        held: others
                            .into_iter()
                            .map(|(t, pr)| (t, PrNumber(pr)))
                            .collect(),
                    }
                };
                let got = s
                    .lock_projects(&RepoKey::new(REPO), PrNumber(pr), &asked, wait, now)
                    .await
                    .unwrap();
                assert_eq!(got, expected, "step {step}");
            }
            Op::Release { pr, dirs } => {
                let asked: Option<BTreeSet<String>> = dirs.as_ref().map(|d| {
                    targets(d)
                        .into_iter()
                        .map(|t| t.dir.into_string())
                        .collect()
                });
                let released: Vec<String> = locks
                    .iter()
                    .filter(|(k, h)| **h == pr && asked.as_ref().is_none_or(|a| a.contains(*k)))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in &released {
                    locks.remove(k);
                }
                if asked.is_none() {
                    waits.remove(&pr);
                }
                let woken: Vec<u64> = waits
                    .iter()
                    .filter(|(w, ks)| **w != pr && released.iter().any(|k| ks.contains(k)))
                    .map(|(w, _)| *w)
                    .collect();
                for w in &woken {
                    waits.remove(w);
                }
                let asked = dirs.map(|d| targets(&d));
                let got = s
                    .release_locks(&RepoKey::new(REPO), PrNumber(pr), asked.as_deref(), &wake)
                    .await
                    .unwrap();
                let got_released: Vec<String> = got
                    .released
                    .into_iter()
                    .map(|t| t.dir.into_string())
                    .collect();
                assert_eq!(got_released, released, "step {step}");
                let got_woken: Vec<u64> = got.woken.iter().map(|w| w.pr.0).collect();
                assert_eq!(got_woken, woken, "step {step}");
            }
        }
        let stored: BTreeMap<String, u64> = s
            .locks_of_repo(&RepoKey::new(REPO))
            .await
            .unwrap()
            .into_iter()
            .map(|l| (l.target.dir.into_string(), l.pr.0))
            .collect();
        assert_eq!(
            stored, locks,
            "step {step}: one holder per lock, as modelled"
        );
        let stored_waits: BTreeMap<u64, BTreeSet<String>> = s
            .waiters(&RepoKey::new(REPO))
            .await
            .unwrap()
            .into_iter()
            .map(|w| {
                (
                    w.pr.0,
                    w.targets.into_iter().map(|t| t.dir.into_string()).collect(),
                )
            })
            .collect();
        assert_eq!(stored_waits, waits, "step {step}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_locks_and_releases_never_share_a_lock(ops in proptest::collection::vec(op(), 1..25)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            for backend in [Backend::Sqlite, Backend::Postgres] {
                check_against_model(&TestDb::new(backend).await, ops.clone()).await;
            }
        });
    }
}
