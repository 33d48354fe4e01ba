//! The SQLite backend of runs and their logs (statements shared: `store::runs::run_store_impl`).

use anyhow::Context as _;
use async_trait::async_trait;

use super::SqliteStore;
use crate::plan::Target;
use crate::store::Millis;
use crate::store::checked::{sqlite_execute, sqlite_query_as, sqlite_query_scalar};
use crate::store::runs::{
    LogChunk, LogRow, NewRun, Run, RunKind, RunRow, RunStatus, RunStore, Started,
};

crate::store::runs::run_store_impl!(
    SqliteStore,
    writer,
    reader,
    sqlite_execute,
    sqlite_query_as,
    sqlite_query_scalar
);
