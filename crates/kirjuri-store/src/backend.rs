//! What differs between the two SQL backends, behind one crate-private
//! trait, so the queries that are the same on both are written once,
//! generic over the backend: [`Backend`] is implemented by sqlx's
//! `Sqlite` and `Postgres` database types (in each adapter's `codec`), and
//! [`SqlStore`] by [`SqliteStore`](crate::SqliteStore) and
//! [`PostgresStore`](crate::PostgresStore). A query written once uses
//! numbered placeholders (`$1`), which both sqlx drivers accept, binds
//! timestamps through [`Backend::time`] and reads them back through
//! [`Backend::get_time`], since the two store them differently (the crate
//! doc's storage conventions).
//!
//! What this module is not: a query itself (those live with their
//! capability, e.g. `coordination`, `preferences`), or what only one
//! adapter does (its transaction discipline, the audit log's bulk paths).

use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, IntoArguments, Pool, Type};

use uuid::Uuid;

use crate::error::{Error, Result};

/// A database with an adapter in this crate: the values and SQL fragments
/// that differ between SQLite and PostgreSQL.
pub(crate) trait Backend: Database<Arguments: IntoArguments<Self>> {
    /// The SQL function returning the greater of two values (`max` in
    /// SQLite, `greatest` in PostgreSQL).
    const GREATEST: &'static str;

    /// A timestamp as bound: microseconds (SQLite) or `timestamptz`.
    type Time: for<'q> Encode<'q, Self> + Type<Self> + Send + Sync + 'static;

    /// A timestamp as bound, truncated to what the column keeps.
    fn time(t: DateTime<Utc>) -> Self::Time;

    /// How many rows a statement changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// [`Error::NotFound`] if an update by key changed no row.
    fn found_one(result: &Self::QueryResult) -> Result<()> {
        if Self::rows_affected(result) == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// Reads a timestamp column.
    fn get_time(row: &Self::Row, column: &str) -> Result<DateTime<Utc>>;

    /// Reads a nullable timestamp column.
    fn get_opt_time(row: &Self::Row, column: &str) -> Result<Option<DateTime<Utc>>>;

    /// Reads a text column.
    fn get_text(row: &Self::Row, column: &str) -> Result<String>;

    /// Reads a nullable text column.
    fn get_opt_text(row: &Self::Row, column: &str) -> Result<Option<String>>;

    /// Reads a UUID column.
    fn get_uuid(row: &Self::Row, column: &str) -> Result<Uuid>;

    /// Reads a nullable UUID column.
    fn get_opt_uuid(row: &Self::Row, column: &str) -> Result<Option<Uuid>>;

    /// Reads a count (a signed integer column that is never negative).
    fn get_count(row: &Self::Row, column: &str) -> Result<u64>;

    /// Reads a boolean (SQLite: an integer 0 or 1).
    fn get_bool(row: &Self::Row, column: &str) -> Result<bool>;

    /// Reads a 64-bit integer column.
    fn get_i64(row: &Self::Row, column: &str) -> Result<i64>;

    /// Reads a byte-string column (`BLOB`, `bytea`).
    fn get_bytes(row: &Self::Row, column: &str) -> Result<Vec<u8>>;
}

/// A store on one of the [`Backend`]s: the capabilities whose queries are
/// the same on both are implemented once for every `SqlStore`.
pub(crate) trait SqlStore: Send + Sync {
    /// The database the store runs on.
    type Db: Backend;

    /// The store's connection pool.
    fn sql_pool(&self) -> &Pool<Self::Db>;
}
