//! The rows both backends read their checked statements into (`sqlite_query_as!`,
//! `pg_query_as!`), with their conversions into the store's types: defined once where the two
//! backends read the same columns as the same Rust types. A row a backend reads as other types
//! (a SQLite integer for a PostgreSQL boolean, say) stays in that backend.

pub(in crate::store) mod apply_lock;
pub(in crate::store) mod deliveries;
pub(in crate::store) mod drift;
pub(in crate::store) mod jobs;
pub(in crate::store) mod locks;
pub(in crate::store) mod policies;
