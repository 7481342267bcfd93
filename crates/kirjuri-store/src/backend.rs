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
//! capability, e.g. `coordination`, `accounts_sql`), or what only one
//! adapter does (connecting, the audit log's bulk paths); of the
//! transaction discipline it holds only the hook that begins an audited
//! write ([`Backend::begin_write`]).

use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, IntoArguments, Pool, Transaction, Type};

use uuid::Uuid;

use crate::error::{Error, Result};

/// A database with an adapter in this crate: the values and SQL fragments
/// that differ between SQLite and PostgreSQL.
pub(crate) trait Backend: Database<Arguments: IntoArguments<Self>> {
    /// The SQL function returning the greater of two values (`max` in
    /// SQLite, `greatest` in PostgreSQL).
    const GREATEST: &'static str;

    /// The collation that orders text by its bytes, as `uuid` and Rust do
    /// (`BINARY` in SQLite, `"C"` in PostgreSQL), for `ORDER BY … COLLATE`.
    const BYTEWISE: &'static str;

    /// What ends a `SELECT` that must lock the rows it reads until the
    /// transaction ends: nothing in SQLite (its write transaction already
    /// excludes every other writer), ` FOR UPDATE` in PostgreSQL.
    const FOR_UPDATE: &'static str;

    /// What follows a placeholder bound with JSON text to store it in a JSON
    /// column: nothing in SQLite (text checked by `json_valid`), `::jsonb` in
    /// PostgreSQL.
    const JSON_CAST: &'static str;

    /// How the contact search joins `contact_index` to `contacts` so the
    /// index drives it: `CROSS JOIN` in SQLite (which fixes its join order),
    /// a plain `JOIN` in PostgreSQL (whose planner picks the order, and
    /// whose `CROSS JOIN` takes no `ON`).
    const INDEX_JOIN: &'static str;

    /// A query for the database server's clock, as integer microseconds
    /// since the epoch in column `t` (`kirjuri doctor`'s skew check).
    const NOW_MICROS: &'static str;

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

    /// Starts a transaction for a write that appends to the audit log (the
    /// audited writes of `crate::audited`): SQLite's `BEGIN IMMEDIATE`,
    /// which takes the write lock up front; PostgreSQL's read committed
    /// transaction holding the audit lock until it ends (the adapters'
    /// module docs say why).
    fn begin_write(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>>> + Send;

    /// Translates a failed write (`crate::codec::write_error`): a unique
    /// violation becomes a conflict named after the first of `uniques` the
    /// database names (by this backend's key of it), or `fallback`.
    fn write_error(err: sqlx::Error, uniques: &[Unique], fallback: &'static str) -> Error;

    /// Reads a binary column.
    fn get_bytes(row: &Self::Row, column: &str) -> Result<Vec<u8>>;

    /// Reads a nullable binary column.
    fn get_opt_bytes(row: &Self::Row, column: &str) -> Result<Option<Vec<u8>>>;

    /// Reads a nullable 64-bit integer column.
    fn get_opt_int(row: &Self::Row, column: &str) -> Result<Option<i64>>;

    /// Reads a boolean column (an integer in SQLite).
    fn get_bool(row: &Self::Row, column: &str) -> Result<bool>;

    /// Reads a 64-bit integer column.
    fn get_int(row: &Self::Row, column: &str) -> Result<i64>;

    /// Reads a count (a signed integer column that is never negative).
    fn get_count(row: &Self::Row, column: &str) -> Result<u64>;
}

/// A unique constraint as each backend reports it, and what a conflict on
/// it is called ([`Error::Conflict`]).
pub(crate) struct Unique {
    /// SQLite's `table.column`.
    pub(crate) sqlite: &'static str,
    /// PostgreSQL's constraint name.
    pub(crate) postgres: &'static str,
    /// The conflict's name.
    pub(crate) what: &'static str,
}

impl Unique {
    /// The constraint SQLite reports as `sqlite` and PostgreSQL as
    /// `postgres`, a conflict on which is called `what`.
    pub(crate) const fn new(
        sqlite: &'static str,
        postgres: &'static str,
        what: &'static str,
    ) -> Self {
        Self {
            sqlite,
            postgres,
            what,
        }
    }
}

/// A store on one of the [`Backend`]s: the capabilities whose queries are
/// the same on both are implemented once for every `SqlStore`.
pub(crate) trait SqlStore: Send + Sync {
    /// The database the store runs on.
    type Db: Backend;

    /// The store's connection pool.
    fn sql_pool(&self) -> &Pool<Self::Db>;
}
