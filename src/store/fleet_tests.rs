//! Leadership and the stored write budget, on two stores over one database (two replicas).

use std::time::Duration;

use super::fleet::{Duty, WriteToken};
use super::test_db::store_test;

store_test! { async fn one_replica_leads_each_duty_and_another_takes_over_when_it_dies(db) {
    let a = db.open().await;
    let b = db.open().await;
    assert!(a.lead(Duty::Reconcile).await.unwrap());
    if db.backend == Backend::Sqlite {
        // One replica: it always leads.
        assert!(b.lead(Duty::Reconcile).await.unwrap());
        return;
    }
    assert!(!b.lead(Duty::Reconcile).await.unwrap(), "two leaders of one duty");
    assert!(a.lead(Duty::Reconcile).await.unwrap(), "the leader stays leader");
    // Duties are led apart: the first to ask leads.
    assert!(b.lead(Duty::RedeliveryScan).await.unwrap());
    assert!(!a.lead(Duty::RedeliveryScan).await.unwrap());
    assert!(!b.lead(Duty::Reconcile).await.unwrap());
    // The leader's replica dies: its connection closes, and the other takes over at a try.
    drop(a);
    let mut took_over = false;
    for _ in 0..100 {
        if b.lead(Duty::Reconcile).await.unwrap() {
            took_over = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(took_over, "no replica took over the dead leader's duty within 10 s");
    let c = db.open().await;
    assert!(!c.lead(Duty::Reconcile).await.unwrap(), "the new leader is the only one");
    assert!(!c.lead(Duty::RedeliveryScan).await.unwrap());
    assert!(c.lead(Duty::DriftSchedule).await.unwrap());
}}

store_test! { async fn two_replicas_spend_one_write_budget_per_installation(db) {
    let a = db.open().await;
    let b = db.open().await;
    let now = 1_000_000;
    if db.backend == Backend::Sqlite {
        // No shared budget: the in-process pacer is the whole budget.
        assert_eq!(a.take_write_token(7, 5, now).await.unwrap(), None);
        return;
    }
    // A window of 5 a minute; both replicas write at the same instant.
    let mut granted = 0;
    let mut denied = 0;
    for i in 0..12 {
        let store = if i % 2 == 0 { &a } else { &b };
        match store.take_write_token(7, 5, now).await.unwrap() {
            Some(WriteToken::Granted) => granted += 1,
            Some(WriteToken::Denied { retry_after }) => {
                assert_eq!(retry_after, Duration::from_secs(60), "when the first five are a minute old");
                denied += 1;
            }
            None => panic!("PostgreSQL keeps a shared budget"),
        }
    }
    assert_eq!((granted, denied), (5, 7), "the two replicas spent one window");
    // Another installation has its own window.
    assert_eq!(b.take_write_token(8, 5, now).await.unwrap(), Some(WriteToken::Granted));
    // 20 s later the window is still full: a place frees in 40 s, and five at once after.
    let later = now + 20_000;
    assert_eq!(
        a.take_write_token(7, 5, later).await.unwrap(),
        Some(WriteToken::Denied { retry_after: Duration::from_secs(40) })
    );
    let minute = now + 60_000;
    for (i, store) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
        assert_eq!(store.take_write_token(7, 5, minute).await.unwrap(), Some(WriteToken::Granted), "{i}");
    }
    assert!(matches!(
        b.take_write_token(7, 5, minute + 1).await.unwrap(),
        Some(WriteToken::Denied { .. })
    ));
    // The stored accounting agrees.
    let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
    let row: (i64, i64, Vec<i64>) =
        sqlx::query_as("SELECT granted, denied, sent FROM write_budget WHERE installation = 7")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(row, (10, 9, vec![minute; 5]), "the window keeps the last minute's writes only");
}}

store_test! { async fn a_leader_whose_session_broke_stops_leading(db) {
    let a = db.open().await;
    let b = db.open().await;
    assert!(a.lead(Duty::DriftSchedule).await.unwrap());
    if db.backend == Backend::Sqlite {
        return;
    }
    // The database ends the leader's session (a network cut, a failover, an admin).
    let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_locks \
         WHERE locktype = 'advisory' AND granted AND classid::bigint = $1 AND objid::bigint = $2",
    )
    .bind(0x626f_0010_i64)
    .bind(Duty::DriftSchedule as i64)
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(ended, vec![true], "one session held the lock");
    let mut took_over = false;
    for _ in 0..100 {
        if b.lead(Duty::DriftSchedule).await.unwrap() {
            took_over = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(took_over, "nobody took over within 10 s");
    assert!(!a.lead(Duty::DriftSchedule).await.unwrap(), "the old leader still leads");
}}
