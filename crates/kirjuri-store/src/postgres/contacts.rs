//! Contacts in PostgreSQL: the contact queries are written once, for both
//! backends, in `crate::contacts_sql`; this module only names their columns
//! and row decoder for PostgreSQL's rows, for the retention queries and the
//! import of a copy of the register.

use sqlx::Postgres;
use sqlx::postgres::PgRow;

use crate::error::Result;
use crate::model::ContactRow;

/// The columns of a [`ContactRow`] from the table aliased `c`.
pub(super) use crate::contacts_sql::CONTACT_COLUMNS as COLUMNS;

/// A [`ContactRow`] from [`COLUMNS`].
pub(super) fn from_row(row: &PgRow) -> Result<ContactRow> {
    crate::contacts_sql::contact_from_row::<Postgres>(row)
}
