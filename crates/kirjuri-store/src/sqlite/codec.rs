//! Conversions between Rust values and SQLite columns, and the translation of
//! constraint failures into [`Error`]s. The storage conventions themselves
//! (microsecond integers, 16-byte UUID blobs, JSON text) are documented in the
//! migration and the crate doc; this module is their single implementation.

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqlitePool, SqliteQueryResult, SqliteRow};
use sqlx::{Row, Sqlite, Transaction};

use crate::backend::{Backend, Unique};
use crate::error::{Error, Result};

impl Backend for Sqlite {
    const GREATEST: &'static str = "max";
    const BYTEWISE: &'static str = "BINARY";
    const FOR_UPDATE: &'static str = "";
    const JSON_CAST: &'static str = "";
    const INDEX_JOIN: &'static str = "CROSS JOIN";
    const NOW_MICROS: &'static str =
        "SELECT CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER) AS t";

    type Time = i64;

    fn time(t: DateTime<Utc>) -> i64 {
        micros(t)
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn get_time(row: &SqliteRow, column: &str) -> Result<DateTime<Utc>> {
        get_time(row, column)
    }

    fn get_opt_time(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>> {
        get_opt_time(row, column)
    }

    fn get_text(row: &SqliteRow, column: &str) -> Result<String> {
        Ok(row.try_get(column)?)
    }

    fn get_opt_text(row: &SqliteRow, column: &str) -> Result<Option<String>> {
        Ok(row.try_get(column)?)
    }

    fn get_uuid(row: &SqliteRow, column: &str) -> Result<uuid::Uuid> {
        Ok(row.try_get(column)?)
    }

    fn get_opt_uuid(row: &SqliteRow, column: &str) -> Result<Option<uuid::Uuid>> {
        Ok(row.try_get(column)?)
    }

    async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>> {
        Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    fn write_error(err: sqlx::Error, uniques: &[Unique], fallback: &'static str) -> Error {
        let keys: Vec<_> = uniques.iter().map(|u| (u.sqlite, u.what)).collect();
        write_error(err, &keys, fallback)
    }

    fn get_bytes(row: &SqliteRow, column: &str) -> Result<Vec<u8>> {
        Ok(row.try_get(column)?)
    }

    fn get_opt_bytes(row: &SqliteRow, column: &str) -> Result<Option<Vec<u8>>> {
        Ok(row.try_get(column)?)
    }

    fn get_opt_int(row: &SqliteRow, column: &str) -> Result<Option<i64>> {
        Ok(row.try_get(column)?)
    }

    fn get_bool(row: &SqliteRow, column: &str) -> Result<bool> {
        Ok(row.try_get(column)?)
    }

    fn get_int(row: &SqliteRow, column: &str) -> Result<i64> {
        Ok(row.try_get(column)?)
    }

    fn get_count(row: &SqliteRow, column: &str) -> Result<u64> {
        let value: i64 = row.try_get(column)?;
        u64::try_from(value).map_err(|_| Error::Corrupt(format!("{column}: negative count")))
    }
}

/// A timestamp as stored: microseconds since the Unix epoch, UTC.
pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// An optional timestamp as stored.
pub(crate) fn opt_micros(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(micros)
}

/// Reads a timestamp column.
pub(crate) fn get_time(row: &SqliteRow, column: &str) -> Result<DateTime<Utc>> {
    let value: i64 = row.try_get(column)?;
    time_from_micros(value, column)
}

/// Reads a nullable timestamp column.
pub(crate) fn get_opt_time(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>> {
    let value: Option<i64> = row.try_get(column)?;
    value.map(|v| time_from_micros(v, column)).transpose()
}

/// Reads a UUID column.
pub(crate) fn get_uuid(row: &SqliteRow, column: &str) -> Result<uuid::Uuid> {
    Ok(row.try_get(column)?)
}

/// Reads a nullable UUID column.
pub(crate) fn get_opt_uuid(row: &SqliteRow, column: &str) -> Result<Option<uuid::Uuid>> {
    Ok(row.try_get(column)?)
}

pub(crate) fn time_from_micros(value: i64, column: &str) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(value)
        .ok_or_else(|| Error::Corrupt(format!("{column}: timestamp out of range")))
}

/// Translates a failed write. A unique violation becomes
/// [`Error::Conflict`] named after the first entry of `uniques` whose
/// `table.column` appears in SQLite's message ("UNIQUE constraint failed:
/// users.name"), or `fallback`; a foreign-key violation means the row referred
/// to does not exist, [`Error::NotFound`]; anything else stays a database
/// error.
pub(crate) fn write_error(
    err: sqlx::Error,
    uniques: &[(&str, &'static str)],
    fallback: &'static str,
) -> Error {
    crate::codec::write_error(err, uniques, fallback, |db, column| {
        db.message().contains(column)
    })
}
