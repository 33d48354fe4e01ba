//! The PostgreSQL backend of runs and their logs (statements shared: `store::runs::run_store_impl`).

use anyhow::Context as _;
use async_trait::async_trait;

use super::PgStore;
use crate::plan::Target;
use crate::store::Millis;
use crate::store::checked::{pg_execute, pg_query_as, pg_query_scalar};
use crate::store::runs::{
    LogChunk, LogRow, NewRun, Run, RunKind, RunRow, RunStatus, RunStore, Started,
};

crate::store::runs::run_store_impl!(
    PgStore,
    pool,
    pool,
    pg_execute,
    pg_query_as,
    pg_query_scalar
);
