//! Claims of jobs: fencing tokens and the cap on attempts.

use crate::ids::RepoKey;
use crate::ids::{InstallationId, PrNumber};
use std::time::Duration;

use crate::store::test_db::store_test;
use crate::store::{JobStatus, NewJob};

const LEASE: Duration = Duration::from_secs(60);
const LEASE_MS: i64 = 60_000;

fn job(source: &str, pr: u64) -> NewJob {
    NewJob {
        source: source.into(),
        kind: "autoplan".into(),
        repository: "acme/infra".into(),
        installation_id: InstallationId(1),
        pr: PrNumber(pr),
        priority: 0,
        spec: "{}".into(),
        created_at: 1,
        supersedes_kind: None,
    }
}

store_test! { async fn a_stolen_lease_refuses_the_old_holders_renewal_and_finish(db) {
    let s = db.open().await;
    s.enqueue_jobs(&[job("a", 1)]).await.unwrap();
    let old = s.claim_job(10, LEASE).await.unwrap().unwrap().claim();
    assert!(s.renew_job(old, 20 + LEASE_MS).await.unwrap());
    // The old holder's renewals stop reaching the store; its lease runs out and another
    // worker claims the job.
    let new = s
        .claim_job(21 + LEASE_MS, LEASE)
        .await
        .unwrap()
        .unwrap()
        .claim();
    assert_eq!(new.job_id, old.job_id);
    assert!(new.token > old.token, "each claim has a new token");
    assert!(
        !s.renew_job(old, 30 + LEASE_MS).await.unwrap(),
        "the old holder learns it lost the job"
    );
    assert!(
        !s.finish_job(old, JobStatus::Failed, "old", 40 + LEASE_MS)
            .await
            .unwrap(),
        "the old holder's end is refused"
    );
    assert!(s.renew_job(new, 50 + LEASE_MS).await.unwrap());
    assert!(
        s.finish_job(new, JobStatus::Done, "new", 60 + LEASE_MS)
            .await
            .unwrap()
    );
    assert!(
        !s.finish_job(old, JobStatus::Failed, "old", 70 + LEASE_MS)
            .await
            .unwrap(),
        "nor is it recorded after the new holder's"
    );
    let stored = s.job(new.job_id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.summary.as_deref(), stored.attempts),
        (JobStatus::Done, Some("new"), 2)
    );
}}

store_test! { async fn a_job_bosun_stopped_during_every_attempt_is_failed_at_the_next_start(db) {
    let s = db.open().await;
    s.enqueue_jobs(&[job("crashy", 1), job("fine", 2)])
        .await
        .unwrap();
    let crashy = s.claim_job(10, LEASE).await.unwrap().unwrap();
    // Each start requeues the job bosun was running when it died, until the cap.
    for attempt in 1..3 {
        let back = s.requeue_running_jobs(3, 10 + LEASE_MS + 1).await.unwrap();
        assert_eq!(back.requeued, 1);
        assert!(back.failed.is_empty(), "attempt {attempt} is not the last");
        let again = s.claim_job(10, LEASE).await.unwrap().unwrap();
        assert_eq!((again.id, again.attempts), (crashy.id, attempt + 1));
    }
    let back = s.requeue_running_jobs(3, 10 + LEASE_MS + 1).await.unwrap();
    assert_eq!(back.requeued, 0);
    assert_eq!(
        back.failed.iter().map(|j| j.id).collect::<Vec<_>>(),
        [crashy.id]
    );
    let stored = s.job(crashy.id).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Failed);
    assert_eq!(
        stored.summary.as_deref(),
        Some(
            "failed: bosun stopped during its attempt 3, the last allowed (BOSUN_JOB_MAX_ATTEMPTS)"
        )
    );
    let next = s.claim_job(10, LEASE).await.unwrap().unwrap();
    assert_eq!(next.pr, PrNumber(2), "the other pull request's job runs");
}}

store_test! { async fn a_job_put_back_waits_for_its_time_and_holds_its_prs_later_jobs(db) {
    let s = db.open().await;
    s.enqueue_jobs(&[job("a", 1), job("b", 1), job("c", 2)])
        .await
        .unwrap();
    let a = s.claim_job(10, LEASE).await.unwrap().unwrap();
    assert!(
        s.retry_job(a.claim(), "GitHub answered 502", 1_000)
            .await
            .unwrap()
    );
    assert!(
        !s.retry_job(a.claim(), "again", 1_000).await.unwrap(),
        "only a running job under its claim"
    );
    let next = s.claim_job(20, LEASE).await.unwrap().unwrap();
    assert_eq!(next.pr, PrNumber(2), "PR 1's jobs wait for the put-back one");
    assert!(s.claim_job(20, LEASE).await.unwrap().is_none());
    let again = s.claim_job(1_000, LEASE).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (a.id, 2));
    assert_eq!(again.summary.as_deref(), Some("GitHub answered 502"));
}}

store_test! { async fn a_released_job_is_claimed_again_at_once_without_using_an_attempt(db) {
    let s = db.open().await;
    s.enqueue_jobs(&[job("a", 1), job("b", 1)]).await.unwrap();
    let first = s.claim_job(10, LEASE).await.unwrap().unwrap();
    assert_eq!(first.attempts, 1);
    assert!(s.release_job(first.claim()).await.unwrap());
    assert!(
        !s.release_job(first.claim()).await.unwrap(),
        "only a running job is released"
    );
    let stored = s.job(first.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.attempts), (JobStatus::Queued, 0));
    // Taken again at once, long before its lease would have run out, ahead of its PR's next.
    let second = s.claim_job(11, LEASE).await.unwrap().unwrap();
    assert_eq!((second.id, second.attempts), (first.id, 1));
    assert!(
        !s.release_job(first.claim()).await.unwrap(),
        "a release under a stale claim writes nothing"
    );
    assert!(
        !s.renew_job(first.claim(), 20 + LEASE_MS).await.unwrap(),
        "nor does the released claim renew"
    );
    let stored = s.job(first.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.attempts), (JobStatus::Running, 1));
    assert!(s.claim_job(12, LEASE).await.unwrap().is_none(), "one at a time");
    assert!(
        s.finish_job(second.claim(), JobStatus::Done, "planned", 30)
            .await
            .unwrap()
    );
}}

store_test! { async fn racing_claims_over_two_replicas_run_one_job_of_a_pr_at_a_time(db) {
    let replicas = [db.open().await, db.open().await];
    let mut jobs = Vec::new();
    for pr in 1..=10 {
        for n in 0..3 {
            jobs.push(job(&format!("{pr}-{n}"), pr));
        }
    }
    replicas[0].enqueue_jobs(&jobs).await.unwrap();
    // The first job of each pull request is claimed, and its holder dies: its lease runs out
    // while the pull request's later jobs wait.
    for _ in 1..=10 {
        replicas[0].claim_job(0, LEASE).await.unwrap().unwrap();
    }
    let mut claimers = tokio::task::JoinSet::new();
    for i in 0..8 {
        let s = replicas[i % 2].clone();
        claimers.spawn(async move {
            let mut got = Vec::new();
            while let Some(j) = s.claim_job(10 * LEASE_MS, LEASE).await.unwrap() {
                got.push((j.pr, j.id));
            }
            got
        });
    }
    let mut claimed = Vec::new();
    while let Some(got) = claimers.join_next().await {
        claimed.extend(got.unwrap());
    }
    claimed.sort();
    let prs: std::collections::BTreeSet<u64> = claimed.iter().map(|(pr, _)| pr.0).collect();
    assert_eq!(prs.len(), 10, "every pull request goes on: {claimed:?}");
    assert_eq!(claimed.len(), 10, "one job of each pull request at a time: {claimed:?}");
}}

store_test! { async fn the_pages_list_open_jobs_oldest_first_and_a_repos_latest_first(db) {
    let s = db.open().await;
    let mut other = job("c", 3);
    other.repository = "acme/other".into();
    let ids = s
        .enqueue_jobs(&[job("a", 1), job("b", 2), other])
        .await
        .unwrap();
    let running = s.claim_job(10, LEASE).await.unwrap().unwrap();
    assert_eq!(running.id, ids[0]);
    let open = s.open_job_list(10).await.unwrap();
    assert_eq!(open.iter().map(|j| j.id).collect::<Vec<_>>(), ids);
    assert_eq!(open[0].status, JobStatus::Running);
    assert_eq!(s.open_job_list(1).await.unwrap().len(), 1);
    s.finish_job(running.claim(), JobStatus::Done, "", 20)
        .await
        .unwrap();
    let open = s.open_job_list(10).await.unwrap();
    assert_eq!(open.iter().map(|j| j.id).collect::<Vec<_>>(), ids[1..]);
    let recent = s.recent_jobs(&RepoKey::new("acme/infra"), 10).await.unwrap();
    assert_eq!(
        recent.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![ids[1], ids[0]]
    );
    assert_eq!(recent[1].status, JobStatus::Done);
    assert_eq!(s.recent_jobs(&RepoKey::new("acme/infra"), 1).await.unwrap().len(), 1);
    assert!(s.recent_jobs(&RepoKey::new("acme/none"), 10).await.unwrap().is_empty());
}}
