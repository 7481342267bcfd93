//! Accounts in SQLite: the account queries are written once, for both
//! backends, in `crate::accounts_sql`; this module only names its row
//! decoder for SQLite's rows, for the copies of the register.

use sqlx::Sqlite;
use sqlx::sqlite::SqliteRow;

use crate::error::Result;
use crate::model::UserRow;

/// A [`UserRow`] from `crate::accounts_sql::USER_COLUMNS`.
pub(super) fn user_from_row(row: &SqliteRow) -> Result<UserRow> {
    crate::accounts_sql::user_from_row::<Sqlite>(row)
}
