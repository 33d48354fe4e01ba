//! The PostgreSQL backend of runs and their logs (the SQL is shared: `store::runs::sql`).

use anyhow::Context as _;
use async_trait::async_trait;

use super::PgStore;
use crate::plan::Target;
use crate::store::Millis;
use crate::store::runs::{
    LogChunk, NewRun, Run, RunKind, RunStatus, RunStore, Started, chunk_of, run_of, sql,
};

crate::store::runs::run_store_impl!(PgStore, pool, pool);
