//! Accounts in PostgreSQL: the account queries are written once, for both
//! backends, in `crate::accounts_sql`; this module only names its row
//! decoder for PostgreSQL's rows, for the copies of the register.

use sqlx::Postgres;
use sqlx::postgres::PgRow;

use crate::error::Result;
use crate::model::UserRow;

/// A [`UserRow`] from `crate::accounts_sql::USER_COLUMNS`.
pub(super) fn user_from_row(row: &PgRow) -> Result<UserRow> {
    crate::accounts_sql::user_from_row::<Postgres>(row)
}
