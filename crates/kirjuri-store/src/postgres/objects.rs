//! Encrypted objects in PostgreSQL: the object queries are written once, for
//! both backends, in `crate::contacts_sql`; this module only names their
//! columns and row decoder for PostgreSQL's rows, for the retention queries
//! and the copies of the register.

use sqlx::Postgres;
use sqlx::postgres::PgRow;

use crate::error::Result;
use crate::model::ObjectRow;

/// The columns of an [`ObjectRow`].
pub(super) use crate::contacts_sql::OBJECT_COLUMNS as COLUMNS;

/// An [`ObjectRow`] from [`COLUMNS`].
pub(super) fn from_row(row: &PgRow) -> Result<ObjectRow> {
    crate::contacts_sql::object_from_row::<Postgres>(row)
}
