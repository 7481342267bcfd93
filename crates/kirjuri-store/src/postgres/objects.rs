//! Encrypted objects in PostgreSQL: the object queries are written once, for
//! both backends, in `crate::contacts_sql`; this module only names their
//! row decoder for PostgreSQL's rows, for the copies of the
//! register.

use sqlx::Postgres;
use sqlx::postgres::PgRow;

use crate::error::Result;
use crate::model::ObjectRow;

/// An [`ObjectRow`] from its columns (`crate::contacts_sql`'s).
pub(super) fn from_row(row: &PgRow) -> Result<ObjectRow> {
    crate::contacts_sql::object_from_row::<Postgres>(row)
}
