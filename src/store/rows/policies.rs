//! Rows of `policy_approvals`, as both backends read them. (`policy_results` is read as
//! other types: its `passed` is an integer in SQLite, a boolean in PostgreSQL.)

/// A row of `policy_approvals` (of one commit).
#[derive(sqlx::FromRow)]
pub(in crate::store) struct ApprovalRow {
    pub(in crate::store) policy_set: String,
    pub(in crate::store) approver: String,
}
