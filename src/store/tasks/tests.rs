//! Plan tasks on both backends: each claimed by one worker at a time, taken over when its
//! claimer's lease runs out, and a stale claimer's outcome and plan refused.

use crate::ids::{PrNumber, Sha};
use std::collections::HashSet;
use std::time::Duration;

use super::super::test_db::store_test;
use super::*;
use crate::ids::RepoKey;
use crate::plan::Outcome;
use crate::store::now_millis;

const REPO: &str = "acme/infra";
const LEASE: Duration = Duration::from_secs(60);

fn task(dir: &str, spec: &str) -> NewTask {
    NewTask {
        target: Target {
            dir: dir.into(),
            workspace: "default".into(),
            name: None,
        },
        spec: spec.into(),
    }
}

fn failed_plan(dir: &str, output: &str) -> (String, StoredPlan) {
    let outcome = Outcome::Failed {
        step: crate::plan::Step::Plan,
        output: output.into(),
    };
    let plan = StoredPlan {
        repository: REPO.into(),
        pr: PrNumber(3),
        target: task(dir, "").target,
        head_sha: Sha::new("a".repeat(40)),
        outcome: outcome.clone(),
        planfile: None,
        job_id: 7,
        created_at: 1,
        tool: None,
    };
    (serde_json::to_string(&outcome).unwrap(), plan)
}

store_test! { async fn a_dead_claimers_task_is_taken_over_and_its_late_outcome_refused(db) {
    let a = db.open().await;
    let b = db.open().await;
    let now = now_millis();
    a.enqueue_tasks(7, &RepoKey::new(REPO), PrNumber(3), &[task("x", "{}"), task("y", "{}")], now).await.unwrap();
    let x = a.claim_task(now, LEASE, "a", 3).await.unwrap().expect("a task");
    let y = b.claim_task(now, LEASE, "b", 3).await.unwrap().expect("another task");
    assert_eq!((x.target.dir.as_str(), y.target.dir.as_str()), ("x", "y"));
    assert!(b.claim_task(now, LEASE, "b", 3).await.unwrap().is_none(), "claimed twice");

    // `a` stalls past its lease: `b` takes its task over under a new token.
    let later = now + 2 * LEASE.as_millis() as i64;
    let again = b.claim_task(later, LEASE, "b", 3).await.unwrap().expect("the expired task");
    assert_eq!(again.id, x.id);
    assert_eq!(again.claim, x.claim + 1);
    assert_eq!(again.claimed_by.as_deref(), Some("b"));

    // `a`'s late writes are refused, its plan not recorded; `b`'s are kept.
    assert!(!a.renew_task(x.claim(), later + 1).await.unwrap());
    let (stale, stale_plan) = failed_plan("x", "from a");
    assert!(!a.finish_task(x.claim(), &stale, &stale_plan, later).await.unwrap());
    assert!(a.plans_of_pr(&RepoKey::new(REPO), PrNumber(3)).await.unwrap().is_empty(), "a stale claimer's plan was recorded");
    let (fresh, fresh_plan) = failed_plan("x", "from b");
    assert!(b.finish_task(again.claim(), &fresh, &fresh_plan, later).await.unwrap());
    assert!(!b.finish_task(again.claim(), &fresh, &fresh_plan, later).await.unwrap(), "finished twice");
    let plans = a.plans_of_pr(&RepoKey::new(REPO), PrNumber(3)).await.unwrap();
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].outcome, fresh_plan.outcome);

    let tasks = a.tasks_of_job(7).await.unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0].status, TaskStatus::Done);
    assert_eq!(tasks[0].outcome.as_deref(), Some(fresh.as_str()));
    assert_eq!(tasks[1].status, TaskStatus::Running);
    // Closed: outcomes dropped, the unfinished one fenced off, the claimers kept.
    a.close_tasks(7).await.unwrap();
    let closed = a.tasks_of_job(7).await.unwrap();
    assert!(closed.iter().all(|t| t.status == TaskStatus::Done && t.outcome.is_none()));
    assert_eq!(closed[1].claimed_by.as_deref(), Some("b"));
    let (late, late_plan) = failed_plan("y", "after the job ended");
    assert!(!b.finish_task(y.claim(), &late, &late_plan, later).await.unwrap());
}}

store_test! { async fn a_job_run_again_keeps_its_tasks_unless_their_spec_changed(db) {
    let s = db.open().await;
    let now = now_millis();
    s.enqueue_tasks(7, &RepoKey::new(REPO), PrNumber(3), &[task("x", "old"), task("y", "old")], now).await.unwrap();
    let x = s.claim_task(now, LEASE, "a", 3).await.unwrap().unwrap();
    let (outcome, plan) = failed_plan("x", "done");
    assert!(s.finish_task(x.claim(), &outcome, &plan, now).await.unwrap());
    let y = s.claim_task(now, LEASE, "a", 3).await.unwrap().unwrap();
    // The same spec again: `x` stays done, `y` stays with its claimer.
    s.enqueue_tasks(7, &RepoKey::new(REPO), PrNumber(3), &[task("x", "old"), task("y", "old")], now).await.unwrap();
    let kept = s.tasks_of_job(7).await.unwrap();
    assert_eq!(kept[0].status, TaskStatus::Done);
    assert_eq!((kept[1].status, kept[1].claim), (TaskStatus::Running, y.claim));
    // Another spec (the pull request moved): queued again, the old claim fenced off.
    s.enqueue_tasks(7, &RepoKey::new(REPO), PrNumber(3), &[task("y", "new")], now).await.unwrap();
    let moved = s.tasks_of_job(7).await.unwrap();
    assert_eq!((moved[1].status, moved[1].spec.as_str()), (TaskStatus::Queued, "new"));
    let (outcome, plan) = failed_plan("y", "stale");
    assert!(!s.finish_task(y.claim(), &outcome, &plan, now).await.unwrap());
    // A task claimed `max_claims` times is left for its job to give up on.
    let mut at = now;
    for _ in 0..2 {
        assert!(s.claim_task(at, LEASE, "a", 4).await.unwrap().is_some());
        at += 2 * LEASE.as_millis() as i64;
    }
    assert!(s.claim_task(at, LEASE, "a", 4).await.unwrap().is_none());
}}

store_test! { async fn replicas_claiming_at_once_never_share_a_task(db) {
    let a = db.open().await;
    let b = db.open().await;
    let now = now_millis();
    let tasks: Vec<NewTask> = (0..40).map(|i| task(&format!("p{i}"), "{}")).collect();
    a.enqueue_tasks(7, &RepoKey::new(REPO), PrNumber(3), &tasks, now).await.unwrap();
    let claim_all = |s: std::sync::Arc<dyn crate::store::Store>, by: &'static str| async move {
        let mut mine = Vec::new();
        while let Some(t) = s.claim_task(now, LEASE, by, 3).await.unwrap() {
            mine.push(t.id);
        }
        mine
    };
    let (x, y) = tokio::join!(
        tokio::spawn(claim_all(a.clone(), "a")),
        tokio::spawn(claim_all(b.clone(), "b"))
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    let all: HashSet<i64> = x.iter().chain(&y).copied().collect();
    assert_eq!(x.len() + y.len(), 40, "a: {x:?}, b: {y:?}");
    assert_eq!(all.len(), 40, "a task claimed twice: a: {x:?}, b: {y:?}");
}}

store_test! { async fn a_restart_frees_the_tasks_sqlite_was_running_but_not_other_replicas(db) {
    let s = db.open().await;
    let now = now_millis();
    s.enqueue_tasks(7, &RepoKey::new(REPO), PrNumber(3), &[task("x", "{}")], now).await.unwrap();
    let x = s.claim_task(now, LEASE, "a", 3).await.unwrap().unwrap();
    let restarted = db.open().await;
    let requeued = restarted.requeue_running_tasks().await.unwrap();
    let again = restarted.claim_task(now, LEASE, "a", 3).await.unwrap();
    match db.backend {
        Backend::Sqlite => {
            assert_eq!(requeued, 1);
            let again = again.expect("the interrupted task is claimed again");
            assert_eq!(again.claim, x.claim + 1);
        }
        // Another replica's task, its lease alive: left to it.
        Backend::Postgres => assert_eq!((requeued, again.map(|t| t.id)), (0, None)),
    }
}}

store_test! { async fn a_released_task_is_claimed_again_at_once_and_its_old_claim_refused(db) {
    let s = db.open().await;
    let now = now_millis();
    s.enqueue_tasks(7, &RepoKey::new(REPO), PrNumber(3), &[task("x", "{}")], now).await.unwrap();
    let x = s.claim_task(now, LEASE, "draining", 3).await.unwrap().unwrap();
    assert!(s.release_task(x.claim()).await.unwrap());
    assert!(!s.release_task(x.claim()).await.unwrap(), "released twice");
    // No lease to wait out.
    let again = s.claim_task(now, LEASE, "live", 3).await.unwrap().expect("claimed again");
    assert_eq!((again.id, again.claim), (x.id, x.claim + 1));
    let (outcome, plan) = failed_plan("x", "late");
    assert!(!s.finish_task(x.claim(), &outcome, &plan, now).await.unwrap());
    assert!(!s.renew_task(x.claim(), now).await.unwrap());
}}
