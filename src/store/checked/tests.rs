//! The committed offline data (`.sqlx/`) says of each statement what the migrations make it
//! return and take today.

use std::path::Path;

use serde_json::Value;
use sqlx::{Connection as _, Executor as _};

use crate::store::test_db::{Backend, TestDb};

/// Every prepared statement of `db_name` (`SQLite`, `PostgreSQL`): (file, SQL, describe).
fn prepared(db_name: &str) -> Vec<(String, String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(".sqlx");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("reading .sqlx/") {
        let path = entry.expect("listing .sqlx/").path();
        let text = std::fs::read_to_string(&path).expect("reading a prepared statement");
        let data: Value = serde_json::from_str(&text).expect("a prepared statement is JSON");
        if data["db_name"] != db_name {
            continue;
        }
        let sql = data["query"].as_str().expect("its SQL").to_owned();
        out.push((path.display().to_string(), sql, data["describe"].clone()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The statements whose description by `describe` differs from the prepared one.
async fn stale<F, Fut>(db_name: &str, describe: F) -> (usize, Vec<String>)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let statements = prepared(db_name);
    let mut stale = Vec::new();
    for (file, sql, stored) in &statements {
        let now = describe(sql.clone()).await;
        if &now != stored {
            stale.push(format!(
                "{file}: {sql}\n  prepared: {stored}\n  now:      {now}"
            ));
        }
    }
    (statements.len(), stale)
}

async fn check(backend: Backend) {
    let db = TestDb::new(backend).await;
    drop(db.open().await); // runs the migrations
    let url = db.url.clone();
    let (count, stale) = match backend {
        Backend::Sqlite => {
            stale("SQLite", |sql| {
                let url = url.clone();
                async move {
                    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
                    let d = c
                        .describe(sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(sql)))
                        .await
                        .unwrap();
                    serde_json::to_value(&d).unwrap()
                }
            })
            .await
        }
        Backend::Postgres => {
            stale("PostgreSQL", |sql| {
                let url = url.clone();
                async move {
                    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
                    let d = c
                        .describe(sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(sql)))
                        .await
                        .unwrap();
                    serde_json::to_value(&d).unwrap()
                }
            })
            .await
        }
    };
    assert!(count > 0, "no prepared {backend:?} statements in .sqlx/");
    assert!(
        stale.is_empty(),
        "the offline data of {} {backend:?} statements is stale: run scripts/sqlx-prepare and \
         commit .sqlx/\n{}",
        stale.len(),
        stale.join("\n")
    );
}

#[tokio::test]
async fn prepared_data_matches_the_migrations_sqlite() {
    check(Backend::Sqlite).await;
}

#[tokio::test]
async fn prepared_data_matches_the_migrations_postgres() {
    check(Backend::Postgres).await;
}
