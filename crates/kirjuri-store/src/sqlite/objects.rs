//! Encrypted objects in SQLite: the object queries are written once, for
//! both backends, in `crate::contacts_sql`; this module only names their
//! columns and row decoder for SQLite's rows, for the retention queries
//! and the copies of the register.

use sqlx::Sqlite;
use sqlx::sqlite::SqliteRow;

use crate::error::Result;
use crate::model::ObjectRow;

/// The columns of an [`ObjectRow`].
pub(super) use crate::contacts_sql::OBJECT_COLUMNS as COLUMNS;

/// An [`ObjectRow`] from [`COLUMNS`].
pub(super) fn from_row(row: &SqliteRow) -> Result<ObjectRow> {
    crate::contacts_sql::object_from_row::<Sqlite>(row)
}
