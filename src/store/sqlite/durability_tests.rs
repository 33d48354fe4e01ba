//! What a commit costs on SQLite's single writer: a batch of new deliveries is fsynced before
//! it is answered; the worker's bookkeeping is not.

use std::time::Duration;

use super::SqliteStore;
use crate::store::{NewDelivery, Payload, Store, now_millis};

fn delivery(id: &str) -> NewDelivery {
    NewDelivery {
        id: id.into(),
        event: "push".into(),
        action: None,
        repository: None,
        installation_id: None,
        received_at: now_millis(),
        payload: Payload::pack(b"{}"),
    }
}

#[tokio::test]
async fn a_delivery_batch_commits_with_synchronous_full_and_a_claim_with_normal() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    // The writer is one connection: temp triggers on it see the sync mode of each write.
    sqlx::raw_sql(
        "CREATE TEMP TABLE seen (what TEXT, synchronous INTEGER);
         CREATE TEMP TRIGGER stored AFTER INSERT ON main.deliveries BEGIN
             INSERT INTO seen SELECT 'stored', synchronous FROM pragma_synchronous;
         END;
         CREATE TEMP TRIGGER claimed AFTER UPDATE OF status ON main.deliveries BEGIN
             INSERT INTO seen SELECT new.status, synchronous FROM pragma_synchronous;
         END;",
    )
    .execute(&store.writer)
    .await
    .unwrap();

    store.insert_deliveries(&[delivery("d1")]).await.unwrap();
    store
        .claim_delivery(now_millis(), Duration::from_secs(60))
        .await
        .unwrap()
        .expect("the delivery is claimed");

    let seen: Vec<(String, i64)> =
        sqlx::query_as("SELECT what, synchronous FROM seen ORDER BY rowid")
            .fetch_all(&store.writer)
            .await
            .unwrap();
    // 2 is FULL (the commit fsyncs the WAL), 1 is NORMAL.
    assert_eq!(
        seen,
        [("stored".to_owned(), 2), ("processing".to_owned(), 1)]
    );
}
