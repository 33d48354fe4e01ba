//! Checked SQL: the store's statements written with these macros are checked at build time
//! against the schema the migrations make, so a renamed column or a changed type breaks the
//! build, not a run.
//!
//! Each macro is sqlx's `query!` family for one backend. The build reads what each statement
//! returns and takes from `.sqlx/` (sqlx's offline data, committed), which
//! `scripts/sqlx-prepare` writes by building the crate once against each backend's freshly
//! migrated database: SQLite, then PostgreSQL. sqlx checks a crate's statements against one
//! database at a time, so in the pass for one backend (cargo feature `sqlx-prepare-sqlite` or
//! `sqlx-prepare-postgres`) the other backend's macros become sqlx's unchecked functions: that
//! build is only ever checked, never run. The unit test `prepared_data_matches_the_migrations_*`
//! describes every prepared statement again against freshly migrated databases of both
//! backends and fails when the data is stale (a migration changed what a statement returns).

/// `sqlx::query_as!` for SQLite: rows of `$row` (its fields named as the columns). The mark
/// keeps a statement whose text is the same on both backends apart in `.sqlx/` (named by the
/// text's digest).
macro_rules! sqlite_query_as {
    ($row:ty, $sql:literal $(, $arg:expr)* $(,)?) => {{
        #[cfg(not(feature = "sqlx-prepare-postgres"))]
        let q = sqlx::query_as!($row, $sql + " /* sqlite */" $(, $arg)*);
        #[cfg(feature = "sqlx-prepare-postgres")]
        let q = sqlx::query_as::<sqlx::Sqlite, $row>($sql) $(.bind($arg))*;
        q
    }};
}

/// `sqlx::query!` for SQLite, for statements that return no rows.
macro_rules! sqlite_execute {
    ($sql:literal $(, $arg:expr)* $(,)?) => {{
        #[cfg(not(feature = "sqlx-prepare-postgres"))]
        let q = sqlx::query!($sql + " /* sqlite */" $(, $arg)*);
        #[cfg(feature = "sqlx-prepare-postgres")]
        let q = sqlx::query::<sqlx::Sqlite>($sql) $(.bind($arg))*;
        q
    }};
}

/// `sqlx::query_as!` for PostgreSQL: rows of `$row` (its fields named as the columns).
macro_rules! pg_query_as {
    ($row:ty, $sql:literal $(, $arg:expr)* $(,)?) => {{
        #[cfg(not(feature = "sqlx-prepare-sqlite"))]
        let q = sqlx::query_as!($row, $sql $(, $arg)*);
        #[cfg(feature = "sqlx-prepare-sqlite")]
        let q = sqlx::query_as::<sqlx::Postgres, $row>($sql) $(.bind($arg))*;
        q
    }};
}

/// `sqlx::query!` for PostgreSQL, for statements that return no rows.
macro_rules! pg_execute {
    ($sql:literal $(, $arg:expr)* $(,)?) => {{
        #[cfg(not(feature = "sqlx-prepare-sqlite"))]
        let q = sqlx::query!($sql $(, $arg)*);
        #[cfg(feature = "sqlx-prepare-sqlite")]
        let q = sqlx::query::<sqlx::Postgres>($sql) $(.bind($arg))*;
        q
    }};
}

/// `sqlx::query_scalar!` for SQLite: the first column of each row.
macro_rules! sqlite_query_scalar {
    ($sql:literal $(, $arg:expr)* $(,)?) => {{
        #[cfg(not(feature = "sqlx-prepare-postgres"))]
        let q = sqlx::query_scalar!($sql + " /* sqlite */" $(, $arg)*);
        #[cfg(feature = "sqlx-prepare-postgres")]
        let q = sqlx::query_scalar::<sqlx::Sqlite, _>($sql) $(.bind($arg))*;
        q
    }};
}

/// `sqlx::query_scalar!` for PostgreSQL: the first column of each row.
macro_rules! pg_query_scalar {
    ($sql:literal $(, $arg:expr)* $(,)?) => {{
        #[cfg(not(feature = "sqlx-prepare-sqlite"))]
        let q = sqlx::query_scalar!($sql $(, $arg)*);
        #[cfg(feature = "sqlx-prepare-sqlite")]
        let q = sqlx::query_scalar::<sqlx::Postgres, _>($sql) $(.bind($arg))*;
        q
    }};
}

pub(crate) use {
    pg_execute, pg_query_as, pg_query_scalar, sqlite_execute, sqlite_query_as, sqlite_query_scalar,
};

#[cfg(test)]
mod tests;
