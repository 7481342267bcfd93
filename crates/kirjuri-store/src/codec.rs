//! What both adapters' codecs (`sqlite::codec`, `postgres::codec`) do
//! alike: the checks on lengths and JSON that every stored value passes the
//! same way, and the shape of translating a failed write into an [`Error`].
//! Each adapter keeps what differs: its column types and how its database
//! names the unique constraint that refused a write.

use sqlx::error::{DatabaseError, ErrorKind};

use crate::error::{Error, Result};

/// An unsigned length as stored (both backends' integers are signed 64-bit).
pub(crate) fn length(value: u64, column: &str) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::Corrupt(format!("{column}: too large to store")))
}

/// A stored length read back: never negative.
pub(crate) fn stored_length(value: i64, column: &str) -> Result<u64> {
    u64::try_from(value).map_err(|_| Error::Corrupt(format!("{column}: negative length")))
}

/// A JSON column's text read back.
pub(crate) fn json(text: &str, column: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|_| Error::Corrupt(format!("{column}: not valid JSON")))
}

/// Translates a failed write. A unique violation becomes
/// [`Error::Conflict`] named after the first entry of `uniques` that
/// `names` says the database's report names (the entry's key is whatever
/// the backend reports: a constraint name, or `table.column`), or
/// `fallback`; a foreign-key violation means the row referred to does not
/// exist, [`Error::NotFound`]; anything else stays a database error.
pub(crate) fn write_error(
    err: sqlx::Error,
    uniques: &[(&str, &'static str)],
    fallback: &'static str,
    names: impl Fn(&dyn DatabaseError, &str) -> bool,
) -> Error {
    let Some(db) = err.as_database_error() else {
        return Error::Database(err);
    };
    match db.kind() {
        ErrorKind::UniqueViolation => {
            let what = uniques
                .iter()
                .find(|(key, _)| names(db, key))
                .map_or(fallback, |(_, what)| what);
            Error::Conflict(what)
        }
        ErrorKind::ForeignKeyViolation => Error::NotFound,
        _ => Error::Database(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_json_refuse_what_cannot_be_stored_or_read() {
        assert!(matches!(length(u64::MAX, "c"), Err(Error::Corrupt(_))));
        assert!(matches!(length(7, "c"), Ok(7)));
        assert!(matches!(stored_length(-1, "c"), Err(Error::Corrupt(_))));
        assert!(matches!(json("{", "c"), Err(Error::Corrupt(_))));
    }
}
