//! Conversions between Rust values and PostgreSQL columns, and the
//! translation of constraint failures into [`Error`]s — the PostgreSQL
//! counterpart of `sqlite::codec`. The storage conventions themselves
//! (`timestamptz` at microsecond resolution, `uuid`, JSON) are documented in
//! the migration and the crate doc; this module is their single
//! implementation for PostgreSQL.

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgQueryResult, PgRow};
use sqlx::{Postgres, Row, Transaction};

use crate::backend::{Backend, Unique};
use crate::error::{Error, Result};
use crate::model::truncate_to_storage;

impl Backend for Postgres {
    const GREATEST: &'static str = "greatest";
    const BYTEWISE: &'static str = "\"C\"";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const JSON_CAST: &'static str = "::jsonb";
    const INDEX_JOIN: &'static str = "JOIN";
    const NOW_MICROS: &'static str =
        "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT) AS t";

    type Time = DateTime<Utc>;

    fn time(t: DateTime<Utc>) -> DateTime<Utc> {
        ts(t)
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn get_time(row: &PgRow, column: &str) -> Result<DateTime<Utc>> {
        Ok(row.try_get(column)?)
    }

    fn get_opt_time(row: &PgRow, column: &str) -> Result<Option<DateTime<Utc>>> {
        Ok(row.try_get(column)?)
    }

    fn get_text(row: &PgRow, column: &str) -> Result<String> {
        Ok(row.try_get(column)?)
    }

    fn get_opt_text(row: &PgRow, column: &str) -> Result<Option<String>> {
        Ok(row.try_get(column)?)
    }

    fn get_uuid(row: &PgRow, column: &str) -> Result<uuid::Uuid> {
        Ok(row.try_get(column)?)
    }

    fn get_opt_uuid(row: &PgRow, column: &str) -> Result<Option<uuid::Uuid>> {
        Ok(row.try_get(column)?)
    }

    async fn begin_write(pool: &PgPool) -> Result<Transaction<'static, Postgres>> {
        super::begin_locked(pool, super::AUDIT_LOCK).await
    }

    fn write_error(err: sqlx::Error, uniques: &[Unique], fallback: &'static str) -> Error {
        let keys: Vec<_> = uniques.iter().map(|u| (u.postgres, u.what)).collect();
        write_error(err, &keys, fallback)
    }

    fn get_bytes(row: &PgRow, column: &str) -> Result<Vec<u8>> {
        Ok(row.try_get(column)?)
    }

    fn get_opt_bytes(row: &PgRow, column: &str) -> Result<Option<Vec<u8>>> {
        Ok(row.try_get(column)?)
    }

    fn get_opt_int(row: &PgRow, column: &str) -> Result<Option<i64>> {
        Ok(row.try_get(column)?)
    }

    fn get_bool(row: &PgRow, column: &str) -> Result<bool> {
        Ok(row.try_get(column)?)
    }

    fn get_int(row: &PgRow, column: &str) -> Result<i64> {
        Ok(row.try_get(column)?)
    }

    fn get_count(row: &PgRow, column: &str) -> Result<u64> {
        get_count(row, column)
    }
}

/// A timestamp as bound: whole microseconds, exactly what the column keeps.
/// (sqlx would round an instant with nanoseconds towards 2000-01-01, which
/// for earlier instants is upwards; truncating first makes every backend
/// store the same microsecond.)
pub(crate) fn ts(t: DateTime<Utc>) -> DateTime<Utc> {
    truncate_to_storage(t)
}

/// An optional timestamp as bound.
pub(crate) fn opt_ts(t: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    t.map(ts)
}

/// Reads a `bigint` count.
pub(crate) fn get_count(row: &PgRow, column: &str) -> Result<u64> {
    let value: i64 = row.try_get(column)?;
    u64::try_from(value).map_err(|_| Error::Corrupt(format!("{column}: negative count")))
}

/// Translates a failed write. A unique violation becomes
/// [`Error::Conflict`] named after the entry of `uniques` whose constraint
/// name PostgreSQL reports (the migration names every unique constraint), or
/// `fallback`; a foreign-key violation means the row referred to does not
/// exist, [`Error::NotFound`]; anything else stays a database error.
pub(crate) fn write_error(
    err: sqlx::Error,
    uniques: &[(&str, &'static str)],
    fallback: &'static str,
) -> Error {
    crate::codec::write_error(err, uniques, fallback, |db, name| {
        db.constraint().unwrap_or_default() == name
    })
}
