//! Databases for the store's shared test suite: every test written with [`store_test!`] runs
//! once on a fresh SQLite file and once on a fresh database of a real PostgreSQL server
//! (see [`super::test_pg`]).

use std::sync::Arc;

use sqlx::Connection as _;

use super::test_pg::{bin_dir, check_binaries, fresh_database};
use super::{Sealer, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One test's database: its URL, and the temp dir of a SQLite file.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("making a temp dir");
                let url = format!("sqlite://{}", dir.path().join("bosun.db").display());
                Self {
                    backend,
                    url,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => Self {
                backend,
                url: fresh_database().await,
                _dir: None,
            },
        }
    }

    /// The store, planfiles sealed with a key of this process only.
    pub async fn open(&self) -> Arc<dyn Store> {
        self.open_with(Sealer::ephemeral().expect("an ephemeral sealer"))
            .await
    }

    pub async fn open_with(&self, sealer: Sealer) -> Arc<dyn Store> {
        super::open(&self.url, sealer)
            .await
            .unwrap_or_else(|e| panic!("opening the {:?} test store: {e:#}", self.backend))
    }

    /// The sealed planfiles of table `plans` as stored, in key order.
    pub async fn raw_planfiles(&self) -> Vec<Option<Vec<u8>>> {
        let q = "SELECT planfile FROM plans ORDER BY repository, pr, dir, workspace, project";
        match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(q).fetch_all(&mut c).await.unwrap()
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(q).fetch_all(&mut c).await.unwrap()
            }
        }
    }

    /// Runs one SQL statement on the test database, outside the store.
    pub async fn execute(&self, sql: &'static str) {
        match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
        }
    }
}

/// Writes a test once for each backend: `async fn name(db) { … }` becomes the module `name`
/// with the tests `sqlite` and `postgres`, each calling the body with its own [`TestDb`].
macro_rules! store_test {
    ($(#[$meta:meta])* async fn $name:ident($db:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::store::test_db::{Backend, TestDb};

            $(#[$meta])*
            async fn body($db: TestDb) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                body(TestDb::new(Backend::Sqlite).await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                body(TestDb::new(Backend::Postgres).await).await
            }
        }
    };
}
pub(crate) use store_test;

#[test]
fn missing_postgres_binaries_are_an_error_that_says_what_to_install() {
    let empty = tempfile::tempdir().unwrap();
    let e = check_binaries(empty.path()).unwrap_err();
    assert!(e.contains("need PostgreSQL's initdb and pg_ctl"), "{e}");
    assert!(e.contains("postgresql package"), "{e}");
    check_binaries(&bin_dir()).expect("CI installs PostgreSQL");
}
