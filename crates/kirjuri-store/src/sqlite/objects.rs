//! Encrypted objects in SQLite: the object queries are written once, for
//! both backends, in `crate::contacts_sql`; this module only names their
//! row decoder for SQLite's rows, for the copies of the
//! register.

use sqlx::Sqlite;
use sqlx::sqlite::SqliteRow;

use crate::error::Result;
use crate::model::ObjectRow;

/// An [`ObjectRow`] from its columns (`crate::contacts_sql`'s).
pub(super) fn from_row(row: &SqliteRow) -> Result<ObjectRow> {
    crate::contacts_sql::object_from_row::<Sqlite>(row)
}
