//! The row of `apply_lock`, as both backends read it.

/// The row of `apply_lock`, there while applies are locked.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct LockRow {
    pub(in crate::store) locked_at: i64,
}
