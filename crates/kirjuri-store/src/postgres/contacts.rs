//! Contacts in PostgreSQL: the contact queries are written once, for both
//! backends, in `crate::contacts_sql`; this module only names their row
//! decoder for PostgreSQL's rows, for the import of a copy of
//! the register.

use sqlx::Postgres;
use sqlx::postgres::PgRow;

use crate::error::Result;
use crate::model::ContactRow;

/// A [`ContactRow`] from its columns (`crate::contacts_sql`'s).
pub(super) fn from_row(row: &PgRow) -> Result<ContactRow> {
    crate::contacts_sql::contact_from_row::<Postgres>(row)
}
