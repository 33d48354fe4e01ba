use super::test_db::store_test;
use super::*;
use crate::ids::RepoKey;
use crate::ids::{InstallationId, PrNumber, Sha};

async fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nested/bosun.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    (dir, store)
}

fn delivery(id: &str, at: Millis) -> NewDelivery {
    NewDelivery {
        id: id.into(),
        event: "push".into(),
        action: None,
        repository: Some("acme/infra".into()),
        installation_id: Some(1),
        received_at: at,
        payload: Payload::pack(b"{}"),
    }
}

fn processed(kind: &str) -> ProcessedEvent {
    ProcessedEvent {
        kind: kind.into(),
        repository: None,
        pr: None,
        handled: true,
        summary: "ok".into(),
    }
}

const LEASE: Duration = Duration::from_secs(60);

store_test! { async fn migrations_apply_and_reopen(db) {
    let s = db.open().await;
    s.insert_deliveries(&[delivery("a", 1)]).await.unwrap();
    drop(s);
    let s = db.open().await;
    assert!(
        s.delivery("a").await.unwrap().is_some(),
        "data survives reopening"
    );
    s.ping().await.unwrap();
}}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_starting_at_once_apply_each_migration_once() {
    let db = test_db::TestDb::new(test_db::Backend::Postgres).await;
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let url = db.url.clone();
        opening.spawn(async move { open(&url, Sealer::ephemeral().unwrap()).await });
    }
    let mut stores = Vec::new();
    while let Some(opened) = opening.join_next().await {
        stores.push(opened.unwrap().expect("every replica starts"));
    }
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let known: Vec<i64> = postgres::MIGRATOR.iter().map(|m| m.version).collect();
    assert_eq!(applied, known);
    for s in &stores {
        s.insert_deliveries(&[delivery("a", 1)]).await.unwrap();
    }
    assert_eq!(stores[0].queue_depth().await.unwrap(), 1);
}

/// Each backend's columns: (table, column, NOT NULL), the primary key's nullability aside
/// (SQLite's may hold NULL, PostgreSQL's may not).
async fn columns(db: &test_db::TestDb) -> std::collections::BTreeSet<(String, String, bool)> {
    use sqlx::Connection as _;
    let rows: Vec<(String, String, bool)> = match db.backend {
        test_db::Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query_as(
                "SELECT m.name, p.name, p.\"notnull\" OR p.pk > 0
                 FROM sqlite_master m, pragma_table_info(m.name) p
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
                   AND m.name NOT LIKE '_sqlx%'",
            )
            .fetch_all(&mut c)
            .await
            .unwrap()
        }
        test_db::Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query_as(
                "SELECT table_name::text, column_name::text, is_nullable = 'NO'
                 FROM information_schema.columns
                 WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx%'",
            )
            .fetch_all(&mut c)
            .await
            .unwrap()
        }
    };
    rows.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_migrate_to_the_same_tables_and_columns() {
    let sqlite = test_db::TestDb::new(test_db::Backend::Sqlite).await;
    let postgres = test_db::TestDb::new(test_db::Backend::Postgres).await;
    sqlite.open().await;
    postgres.open().await;
    let (lite, pg) = (columns(&sqlite).await, columns(&postgres).await);
    assert!(lite.len() > 80, "{lite:?}");
    assert_eq!(
        lite.symmetric_difference(&pg).collect::<Vec<_>>(),
        Vec::<&(String, String, bool)>::new()
    );
}

store_test! { async fn duplicates_are_detected_in_and_across_batches(db) {
    let s = db.open().await;
    let r = s
        .insert_deliveries(&[delivery("a", 1), delivery("b", 2), delivery("a", 3)])
        .await
        .unwrap();
    assert!(matches!(r[0], Inserted::New { .. }));
    assert!(matches!(r[1], Inserted::New { .. }));
    assert_eq!(r[2], Inserted::Duplicate);
    let r = s.insert_deliveries(&[delivery("b", 4)]).await.unwrap();
    assert_eq!(r, vec![Inserted::Duplicate]);
    assert_eq!(s.queue_depth().await.unwrap(), 2);
}}

store_test! { async fn claims_in_order_of_receipt_and_finishes_once(db) {
    let s = db.open().await;
    s.insert_deliveries(&[delivery("first", 10), delivery("second", 5)])
        .await
        .unwrap();
    let a = s.claim_delivery(100, LEASE).await.unwrap().unwrap();
    assert_eq!(a.id, "first", "order of receipt is insertion order");
    assert_eq!(a.attempts, 1);
    let b = s.claim_delivery(100, LEASE).await.unwrap().unwrap();
    assert_eq!(b.id, "second");
    assert!(s.claim_delivery(100, LEASE).await.unwrap().is_none());

    s.finish_delivery(a.seq, &processed("push"), 200)
        .await
        .unwrap();
    assert!(
        s.finish_delivery(a.seq, &processed("push"), 201)
            .await
            .is_err(),
        "a second finish is refused"
    );
    assert_eq!(
        s.delivery("first").await.unwrap().unwrap().status,
        DeliveryStatus::Done
    );
    assert_eq!(
        s.processed_event("first").await.unwrap(),
        Some(processed("push"))
    );
    assert_eq!(s.queue_depth().await.unwrap(), 1);
}}

store_test! { async fn expired_leases_are_reclaimed_and_interrupted_work_requeued(db) {
    let s = db.open().await;
    s.insert_deliveries(&[delivery("a", 1)]).await.unwrap();
    let first = s.claim_delivery(1000, LEASE).await.unwrap().unwrap();
    assert!(
        s.claim_delivery(1000 + 59_000, LEASE)
            .await
            .unwrap()
            .is_none(),
        "lease still held"
    );
    let again = s
        .claim_delivery(1000 + 61_000, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.seq, first.seq);
    assert_eq!(again.attempts, 2);
    assert_eq!(s.requeue_interrupted(200_000).await.unwrap(), 1);
    let third = s.claim_delivery(1000, LEASE).await.unwrap().unwrap();
    assert_eq!(third.attempts, 3);
}}

store_test! { async fn retries_wait_for_their_time_and_failures_are_kept(db) {
    let s = db.open().await;
    s.insert_deliveries(&[delivery("a", 1)]).await.unwrap();
    let c = s.claim_delivery(10, LEASE).await.unwrap().unwrap();
    s.retry_delivery(c.seq, "boom", 5_000).await.unwrap();
    assert_eq!(s.next_delivery_due().await.unwrap(), Some(5_000));
    assert!(s.claim_delivery(4_999, LEASE).await.unwrap().is_none());
    let c = s.claim_delivery(5_000, LEASE).await.unwrap().unwrap();
    s.fail_delivery(c.seq, "boom again", 6_000).await.unwrap();
    let r = s.delivery("a").await.unwrap().unwrap();
    assert_eq!(r.status, DeliveryStatus::Failed);
    assert_eq!(r.attempts, 2);
    assert_eq!(r.last_error.as_deref(), Some("boom again"));
    assert_eq!(s.queue_depth().await.unwrap(), 0);
    assert_eq!(s.next_delivery_due().await.unwrap(), None);
}}

store_test! { async fn known_deliveries_redelivery_notes_and_state(db) {
    let s = db.open().await;
    s.insert_deliveries(&[delivery("a", 1), delivery("b", 1)])
        .await
        .unwrap();
    let ids: Vec<String> = (0..1200)
        .map(|i| format!("x{i}"))
        .chain(["a".to_string()])
        .collect();
    let known = s.known_deliveries(&ids).await.unwrap();
    assert_eq!(known, HashSet::from(["a".to_string()]));

    assert!(
        s.note_redelivery_request(7, "g", "requested", 1)
            .await
            .unwrap()
    );
    assert!(
        !s.note_redelivery_request(7, "g", "requested", 2)
            .await
            .unwrap()
    );
    assert!(
        s.note_redelivery_request(8, "g", "requested", 2)
            .await
            .unwrap()
    );
    assert_eq!(s.redelivery_requests("g").await.unwrap(), 2);

    assert_eq!(s.state("k").await.unwrap(), None);
    s.set_state("k", "1").await.unwrap();
    s.set_state("k", "2").await.unwrap();
    assert_eq!(s.state("k").await.unwrap().as_deref(), Some("2"));
}}

store_test! { async fn concurrent_claims_never_share_a_delivery(db) {
    let s = db.open().await;
    let batch: Vec<_> = (0..40).map(|i| delivery(&format!("d{i}"), i)).collect();
    s.insert_deliveries(&batch).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(c) = s.claim_delivery(100, LEASE).await.unwrap() {
                got.push(c.id);
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(before, 40);
    assert_eq!(all.len(), 40);
}}

#[tokio::test]
async fn maintenance_checkpoints_once_ingest_is_quiet() {
    let (dir, s) = store().await;
    let db = dir.path().join("nested/bosun.db");
    let size = || std::fs::metadata(&db).unwrap().len();
    s.maintain().await.unwrap();
    s.maintain().await.unwrap();
    let start = size();
    let batch: Vec<_> = (0..50)
        .map(|i| NewDelivery {
            payload: Payload::pack(
                &vec![i as u8; 20_000]
                    .iter()
                    .map(|b| b.wrapping_add(fastrand::u8(..)))
                    .collect::<Vec<_>>(),
            ),
            ..delivery(&format!("d{i}"), i)
        })
        .collect();
    s.insert_deliveries(&batch).await.unwrap();
    assert_eq!(size(), start, "new pages sit in the WAL");
    s.maintain().await.unwrap();
    assert_eq!(
        size(),
        start,
        "a batch came since the last call: no checkpoint yet"
    );
    s.maintain().await.unwrap();
    assert!(
        size() > start + 500_000,
        "quiet: the WAL was checkpointed into the database"
    );
}

fn job(source: &str, pr: u64, kind: &str) -> NewJob {
    NewJob {
        source: source.into(),
        kind: kind.into(),
        repository: "acme/infra".into(),
        installation_id: InstallationId(1),
        pr: PrNumber(pr),
        priority: 0,
        spec: "{}".into(),
        created_at: 1,
        supersedes_kind: None,
    }
}

store_test! { async fn enqueueing_a_source_twice_makes_one_job(db) {
    let s = db.open().await;
    let first = s.enqueue_jobs(&[job("d1", 1, "autoplan")]).await.unwrap();
    let again = s.enqueue_jobs(&[job("d1", 1, "autoplan")]).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(again.is_empty());
    assert_eq!(s.jobs_of_pr(&RepoKey::new("acme/infra"), PrNumber(1)).await.unwrap().len(), 1);
}}

store_test! { async fn jobs_of_one_pr_run_one_at_a_time_in_order_and_other_prs_run_beside(db) {
    let s = db.open().await;
    s.enqueue_jobs(&[
        job("a", 1, "autoplan"),
        job("b", 1, "comment"),
        job("c", 2, "autoplan"),
    ])
    .await
    .unwrap();
    let first = s.claim_job(10, LEASE).await.unwrap().unwrap();
    assert_eq!((first.pr, first.kind.as_str()), (PrNumber(1), "autoplan"));
    let second = s.claim_job(10, LEASE).await.unwrap().unwrap();
    assert_eq!(second.pr, PrNumber(2), "PR 1's next job waits for its first");
    assert!(s.claim_job(10, LEASE).await.unwrap().is_none());
    assert!(
        s.finish_job(first.claim(), JobStatus::Done, "ok", 11)
            .await
            .unwrap()
    );
    let third = s.claim_job(12, LEASE).await.unwrap().unwrap();
    assert_eq!((third.pr, third.kind.as_str()), (PrNumber(1), "comment"));
}}

store_test! { async fn an_expired_lease_is_claimed_again_and_a_restart_requeues_running_jobs(db) {
    let s = db.open().await;
    s.enqueue_jobs(&[job("a", 1, "autoplan")]).await.unwrap();
    let j = s.claim_job(10, LEASE).await.unwrap().unwrap();
    assert!(s.claim_job(11, LEASE).await.unwrap().is_none());
    let again = s
        .claim_job(10 + LEASE.as_millis() as i64 + 1, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id, again.attempts), (j.id, 2));
    assert_eq!(s.requeue_running_jobs(3, 200_000).await.unwrap().requeued, 1);
    assert_eq!(
        s.job(j.id).await.unwrap().unwrap().status,
        JobStatus::Queued
    );
}}

store_test! { async fn a_newer_autoplan_supersedes_queued_ones_of_the_same_pr_only(db) {
    let s = db.open().await;
    s.enqueue_jobs(&[job("a", 1, "autoplan"), job("x", 2, "autoplan")])
        .await
        .unwrap();
    let mut newer = job("b", 1, "autoplan");
    newer.supersedes_kind = Some("autoplan".into());
    s.enqueue_jobs(&[newer]).await.unwrap();
    let jobs = s.jobs_of_pr(&RepoKey::new("acme/infra"), PrNumber(1)).await.unwrap();
    assert_eq!(
        jobs.iter().map(|j| j.status).collect::<Vec<_>>(),
        [JobStatus::Superseded, JobStatus::Queued]
    );
    assert_eq!(
        s.jobs_of_pr(&RepoKey::new("acme/infra"), PrNumber(2)).await.unwrap()[0].status,
        JobStatus::Queued
    );
}}

store_test! { async fn a_plan_replaces_the_previous_plan_of_its_project(db) {
    use crate::plan::{Outcome, PlanSummary, Step, Target};
    let s = db.open().await;
    let target = Target {
        dir: "envs/prod".into(),
        workspace: "default".into(),
        name: Some("prod".into()),
    };
    let mut plan = StoredPlan {
        repository: "acme/infra".into(),
        pr: PrNumber(3),
        target: target.clone(),
        head_sha: Sha::new("a".repeat(40)),
        outcome: Outcome::Failed {
            step: Step::Init,
            output: "Error: bad".into(),
        },
        planfile: None,
        job_id: 1,
        created_at: 1,
        tool: None,
    };
    s.record_plan(&plan).await.unwrap();
    plan.head_sha = Sha::new("b".repeat(40));
    plan.outcome = Outcome::Planned {
        summary: PlanSummary {
            add: 1,
            line: "Plan: 1 to add, 0 to change, 0 to destroy.".into(),
            ..Default::default()
        },
        text: "+ resource".into(),
    };
    plan.planfile = Some(vec![1, 2, 3]);
    s.record_plan(&plan).await.unwrap();
    assert_eq!(s.plans_of_pr(&RepoKey::new("acme/infra"), PrNumber(3)).await.unwrap(), vec![plan]);
    assert_eq!(s.delete_plans(&RepoKey::new("acme/infra"), PrNumber(3)).await.unwrap(), 1);
    assert!(s.plans_of_pr(&RepoKey::new("acme/infra"), PrNumber(3)).await.unwrap().is_empty());
}}

store_test! { async fn summary_comments_are_replaced_as_a_whole(db) {
    let s = db.open().await;
    let c = |part, id| PrComment {
        part,
        comment_id: id,
        node_id: format!("IC_{id}"),
    };
    s.set_pr_comments(&RepoKey::new("acme/infra"), PrNumber(1), &[c(1, 10), c(2, 11)])
        .await
        .unwrap();
    s.set_pr_comments(&RepoKey::new("acme/infra"), PrNumber(1), &[c(1, 10)])
        .await
        .unwrap();
    assert_eq!(
        s.pr_comments(&RepoKey::new("acme/infra"), PrNumber(1)).await.unwrap(),
        PrComments {
            comments: vec![c(1, 10)],
            interrupted: false
        }
    );
}}

store_test! { async fn a_post_begun_and_never_recorded_is_reported_until_the_next_record(db) {
    let s = db.open().await;
    let c = |part, id| PrComment {
        part,
        comment_id: id,
        node_id: format!("IC_{id}"),
    };
    s.set_pr_comments(&RepoKey::new("acme/infra"), PrNumber(1), &[c(1, 10)]).await.unwrap();
    s.begin_pr_comment(&RepoKey::new("acme/infra"), PrNumber(1)).await.unwrap();
    // Marking twice (a post cut off, then another) is one mark.
    s.begin_pr_comment(&RepoKey::new("acme/infra"), PrNumber(1)).await.unwrap();
    let read = s.pr_comments(&RepoKey::new("acme/infra"), PrNumber(1)).await.unwrap();
    assert_eq!(read.comments, vec![c(1, 10)]);
    assert!(read.interrupted);
    // Another pull request's record is its own.
    assert!(!s.pr_comments(&RepoKey::new("acme/infra"), PrNumber(2)).await.unwrap().interrupted);
    s.set_pr_comments(&RepoKey::new("acme/infra"), PrNumber(1), &[c(1, 10), c(2, 12)])
        .await
        .unwrap();
    let read = s.pr_comments(&RepoKey::new("acme/infra"), PrNumber(1)).await.unwrap();
    assert_eq!(read.comments, vec![c(1, 10), c(2, 12)]);
    assert!(!read.interrupted);
}}

fn planned(pr: u64, sha: &str, planfile: &[u8]) -> StoredPlan {
    use crate::plan::{Outcome, PlanSummary, Target};
    StoredPlan {
        repository: "acme/infra".into(),
        pr: PrNumber(pr),
        target: Target {
            dir: "envs/prod".into(),
            workspace: "default".into(),
            name: None,
        },
        head_sha: sha.into(),
        outcome: Outcome::Planned {
            summary: PlanSummary::default(),
            text: String::new(),
        },
        planfile: Some(planfile.to_vec()),
        job_id: 1,
        created_at: 1,
        tool: None,
    }
}

store_test! { async fn planfiles_are_sealed_at_rest_and_bound_to_their_row(db) {
    let sealer = Sealer::new(&[3; seal::KEY_LEN]).unwrap();
    let s = db.open_with(sealer.clone()).await;
    let secret = b"PLANFILE with TF_VAR_password=hunter2hunter2";
    s.record_plan(&planned(1, "a", secret)).await.unwrap();
    s.record_plan(&planned(2, "a", b"another planfile"))
        .await
        .unwrap();

    let raw = db.raw_planfiles().await;
    let stored = raw[0].clone().unwrap();
    assert!(
        !stored
            .windows(8)
            .any(|w| w == b"hunter2h" || w == b"PLANFILE"),
        "the raw row holds the planfile in plain"
    );
    assert_eq!(
        s.plans_of_pr(&RepoKey::new("acme/infra"), PrNumber(1)).await.unwrap()[0]
            .planfile
            .as_deref(),
        Some(&secret[..])
    );

    // The same database under another key: the plan reads back without its planfile.
    let other = db
        .open_with(Sealer::new(&[4; seal::KEY_LEN]).unwrap())
        .await;
    let plans = other.plans_of_pr(&RepoKey::new("acme/infra"), PrNumber(1)).await.unwrap();
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].planfile, None);

    // A sealed planfile copied into another pull request's row does not open there.
    db.execute("UPDATE plans SET planfile = (SELECT planfile FROM plans WHERE pr = 1) WHERE pr = 2")
        .await;
    assert_eq!(
        s.plans_of_pr(&RepoKey::new("acme/infra"), PrNumber(2)).await.unwrap()[0].planfile,
        None
    );
}}

store_test! { async fn an_applied_planfile_is_forgotten_but_its_plan_stays(db) {
    let s = db.open().await;
    let plan = planned(1, "a", b"planfile");
    s.record_plan(&plan).await.unwrap();
    assert!(
        !s.forget_planfile(&RepoKey::new("acme/infra"), PrNumber(1), &plan.target, &Sha::new("b"))
            .await
            .unwrap(),
        "another commit's plan is not touched"
    );
    assert!(
        s.forget_planfile(&RepoKey::new("acme/infra"), PrNumber(1), &plan.target, &Sha::new("a"))
            .await
            .unwrap()
    );
    let plans = s.plans_of_pr(&RepoKey::new("acme/infra"), PrNumber(1)).await.unwrap();
    assert_eq!(plans[0].planfile, None);
    assert_eq!(plans[0].outcome, plan.outcome);
    assert!(
        !s.forget_planfile(&RepoKey::new("acme/infra"), PrNumber(1), &plan.target, &Sha::new("a"))
            .await
            .unwrap()
    );
}}

store_test! { async fn the_reviewed_plan_is_kept_apart_from_the_merge_commits_plan(db) {
    use crate::plan::{Outcome, PlanSummary, Target};
    let s = db.open().await;
    let planned = |sha: &str, digest: &str| StoredPlan {
        repository: "acme/infra".into(),
        pr: PrNumber(4),
        target: Target {
            dir: "envs/dev".into(),
            workspace: "default".into(),
            name: None,
        },
        head_sha: Sha::new(sha.repeat(40)),
        outcome: Outcome::Planned {
            summary: PlanSummary {
                digest: digest.into(),
                ..Default::default()
            },
            text: String::new(),
        },
        planfile: Some(vec![1]),
        job_id: 1,
        created_at: 1,
        tool: None,
    };
    let head = planned("h", "reviewed");
    s.record_plan(&head).await.unwrap();
    // Only plans at the final head are reviewed ones.
    assert_eq!(
        s.keep_reviewed_plans(&RepoKey::new("acme/infra"), PrNumber(4), &Sha::new("x".repeat(40)))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.keep_reviewed_plans(&RepoKey::new("acme/infra"), PrNumber(4), &head.head_sha)
            .await
            .unwrap(),
        1
    );
    // The merge commit's plan replaces the project's plan...
    s.record_plan(&planned("m", "merged")).await.unwrap();
    // ...and a restart handling the merge again keeps the reviewed plan as it was.
    assert_eq!(
        s.keep_reviewed_plans(&RepoKey::new("acme/infra"), PrNumber(4), &head.head_sha)
            .await
            .unwrap(),
        0
    );
    let reviewed = s.reviewed_plans(&RepoKey::new("acme/infra"), PrNumber(4)).await.unwrap();
    assert_eq!(
        reviewed,
        vec![StoredPlan {
            planfile: None,
            ..head.clone()
        }]
    );
    assert_eq!(
        s.plans_of_pr(&RepoKey::new("acme/infra"), PrNumber(4)).await.unwrap()[0].head_sha,
        Sha::new("m".repeat(40))
    );
    assert_eq!(s.delete_reviewed_plans(&RepoKey::new("acme/infra"), PrNumber(4)).await.unwrap(), 1);
    assert!(s.reviewed_plans(&RepoKey::new("acme/infra"), PrNumber(4)).await.unwrap().is_empty());
}}

store_test! { async fn the_apply_lock_keeps_its_first_time_and_survives_reopening(db) {
    let s = db.open().await;
    assert_eq!(s.apply_lock().await.unwrap(), None);
    assert_eq!(s.lock_applies(10).await.unwrap().locked_at, 10);
    assert_eq!(
        s.lock_applies(20).await.unwrap().locked_at,
        10,
        "kept as it was"
    );
    drop(s);
    let s = db.open().await;
    assert_eq!(
        s.apply_lock().await.unwrap(),
        Some(ApplyLock { locked_at: 10 })
    );
    assert!(s.unlock_applies().await.unwrap());
    assert!(!s.unlock_applies().await.unwrap(), "nothing left to lift");
    assert_eq!(s.apply_lock().await.unwrap(), None);
}}

store_test! { async fn a_start_requeues_only_work_no_live_replica_holds(db) {
    // Two handles on one database: two replicas (on SQLite, the same process restarted).
    let a = db.open().await;
    let b = db.open().await;
    a.insert_deliveries(&[delivery("d", 1)]).await.unwrap();
    a.enqueue_jobs(&[job("j", 1, "autoplan")]).await.unwrap();
    let d = a.claim_delivery(10, LEASE).await.unwrap().unwrap();
    let j = a.claim_job(10, LEASE).await.unwrap().unwrap();
    let live = 20;
    // The second replica starts while the first holds both leases.
    let requeued = b.requeue_interrupted(live).await.unwrap();
    let back = b.requeue_running_jobs(3, live).await.unwrap();
    if db.backend == Backend::Sqlite {
        // One replica by definition: whatever was running is the last run's, queued again.
        assert_eq!((requeued, back.requeued), (1, 1));
        return;
    }
    assert_eq!((requeued, back.requeued), (0, 0), "live leases are left alone");
    assert!(back.failed.is_empty());
    assert_eq!(
        b.job(j.id).await.unwrap().unwrap().status,
        JobStatus::Running
    );
    assert!(b.claim_job(live, LEASE).await.unwrap().is_none());
    assert!(b.claim_delivery(live, LEASE).await.unwrap().is_none());
    assert!(a.renew_job(j.claim(), live + LEASE.as_millis() as i64).await.unwrap());
    // The first replica stops renewing; once its leases ran out the second one takes the work.
    let expired = live + LEASE.as_millis() as i64 + 1;
    assert_eq!(b.requeue_interrupted(expired).await.unwrap(), 1);
    let taken = b.claim_job(expired + 1, LEASE).await.unwrap().unwrap();
    assert_eq!((taken.id, taken.attempts), (j.id, 2));
    let d2 = b.claim_delivery(expired + 1, LEASE).await.unwrap().unwrap();
    assert_eq!((d2.seq, d2.attempts), (d.seq, 2));
    // Fencing: the old holder can neither renew nor finish the job it lost.
    assert!(!a.renew_job(j.claim(), expired + 2).await.unwrap());
    assert!(
        !a.finish_job(j.claim(), JobStatus::Done, "old", expired + 2)
            .await
            .unwrap()
    );
    assert!(
        b.finish_job(taken.claim(), JobStatus::Done, "new", expired + 3)
            .await
            .unwrap()
    );
    let stored = b.job(j.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.summary.as_deref()), (JobStatus::Done, Some("new")));
}}

store_test! { async fn a_project_runs_on_one_replica_at_a_time(db) {
    let a = db.open().await;
    let b = db.open().await;
    let project = "acme/infra\nnet\ndefault";
    let held = a.hold_run(project).await.unwrap();
    let other = tokio::time::timeout(
        Duration::from_secs(5),
        b.hold_run("acme/infra\ndns\ndefault"),
    )
    .await;
    assert!(matches!(other, Ok(Ok(_))), "another project runs meanwhile");
    let mut waiting = Box::pin(b.hold_run(project));
    let early = tokio::time::timeout(Duration::from_millis(300), &mut waiting).await;
    if db.backend == Backend::Sqlite {
        // One replica: the in-process mutex of `lock_project` is the whole exclusion.
        assert!(matches!(early, Ok(Ok(_))));
        return;
    }
    assert!(early.is_err(), "the second replica waits for the first one's run");
    drop(held);
    let then = tokio::time::timeout(Duration::from_secs(5), waiting).await;
    assert!(matches!(then, Ok(Ok(_))), "the run starts once the first one ended");
}}

store_test! { async fn fleet_counts_queued_jobs_and_the_oldest_ones_time(db) {
    let s = db.open().await;
    assert_eq!(s.fleet().await.unwrap(), Fleet::default());
    let mut old = job("f1", 1, "autoplan");
    old.created_at = 1_000;
    let mut newer = job("f2", 2, "autoplan");
    newer.created_at = 2_000;
    s.enqueue_jobs(&[old, newer]).await.unwrap();
    let fleet = s.fleet().await.unwrap();
    assert_eq!((fleet.queued_jobs, fleet.oldest_queued_at, fleet.locks_held), (2, Some(1_000), 0));
}}
