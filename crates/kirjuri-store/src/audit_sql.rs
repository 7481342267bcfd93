//! The audit log's reads and checkpoints, written once over [`Backend`]:
//! events in sequence order, the search by the ids they name, the log's
//! identity, and the signed checkpoints of its Merkle tree (AUD-2), with
//! their row decoders. Each adapter's `audit` module re-exports these and
//! keeps only what differs: the append (PostgreSQL numbers events itself
//! under its audit lock and appends in bulk through arrays; SQLite's
//! `INTEGER PRIMARY KEY` numbers them), the events as stored (byte for
//! byte, for hashing) and the bulk leaf readers.

use kirjuri_core::ids::UserId;
use sqlx::{Encode, Executor, Pool, QueryBuilder, Row, Transaction, Type};
use uuid::Uuid;

use crate::backend::Backend;
use crate::codec::{json, length, stored_length};
use crate::error::{Error, Result};
use crate::model::{AuditCheckpointRow, AuditFilter, AuditRecord, NewAuditEvent};

/// An event's columns.
const EVENT_COLUMNS: &str = "seq, at, actor, action, object, purpose, outcome, details";

/// A checkpoint's columns.
const CHECKPOINT_COLUMNS: &str = "size, root, note, frontier, created_at";

/// Up to `limit` events after `after_seq`, in order.
pub(crate) async fn after<DB: Backend>(
    pool: &Pool<DB>,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<AuditRecord>>
where
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    events(pool, after_seq, limit, record).await
}

/// Up to `limit` events after `after_seq`, in order, each as `decode`
/// reads it.
pub(crate) async fn events<DB: Backend, T>(
    pool: &Pool<DB>,
    after_seq: i64,
    limit: u32,
    decode: fn(&DB::Row) -> Result<T>,
) -> Result<Vec<T>>
where
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let sql =
        format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    rows.iter().map(decode).collect()
}

/// The highest sequence number; 0 for an empty log.
pub(crate) async fn head<DB: Backend>(pool: &Pool<DB>) -> Result<i64>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let row = sqlx::query("SELECT coalesce(max(seq), 0) AS head FROM audit_events")
        .fetch_one(pool)
        .await?;
    DB::get_int(&row, "head")
}

/// Events matching `filter`, in sequence order. Each criterion has an index
/// that leads with it and continues with `seq`, so a page costs the page.
pub(crate) async fn search<DB: Backend>(
    pool: &Pool<DB>,
    filter: &AuditFilter,
) -> Result<Vec<AuditRecord>>
where
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    // Only fixed fragments are pushed as SQL; every value is bound.
    let mut query: QueryBuilder<DB> = QueryBuilder::new(format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE seq > "
    ));
    query.push_bind(filter.after_seq);
    if let Some(reference) = &filter.reference {
        query
            .push(" AND seq IN (SELECT seq FROM audit_refs WHERE ref = ")
            .push_bind(reference.as_str())
            .push(" AND seq > ")
            .push_bind(filter.after_seq)
            .push(")");
    }
    if let Some(actor) = &filter.actor {
        query.push(" AND actor = ").push_bind(*actor.as_uuid());
    }
    if let Some(action) = &filter.action {
        query.push(" AND action = ").push_bind(action.as_str());
    }
    query
        .push(" ORDER BY seq LIMIT ")
        .push_bind(i64::from(filter.limit));
    let rows = query.build().fetch_all(pool).await?;
    rows.iter().map(record).collect()
}

/// The log's identity from the migration that created it.
pub(crate) async fn log_id<DB: Backend>(pool: &Pool<DB>) -> Result<String>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let row = sqlx::query("SELECT log_id FROM audit_log WHERE id = 1")
        .fetch_optional(pool)
        .await?;
    match row {
        Some(row) => DB::get_text(&row, "log_id"),
        None => Err(Error::Corrupt(
            "audit_log: the log identity is missing".into(),
        )),
    }
}

/// Up to `limit` checkpoints above `after_size`, by size.
pub(crate) async fn checkpoints<DB: Backend>(
    pool: &Pool<DB>,
    after_size: Option<u64>,
    limit: u32,
) -> Result<Vec<AuditCheckpointRow>>
where
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let after = match after_size {
        Some(size) => length(size, "audit_checkpoints.size")?,
        None => -1,
    };
    let sql = format!(
        "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints \
         WHERE size > $1 ORDER BY size LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    rows.iter().map(checkpoint).collect()
}

/// The checkpoint of the largest size.
pub(crate) async fn latest_checkpoint<DB: Backend>(
    pool: &Pool<DB>,
) -> Result<Option<AuditCheckpointRow>>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let sql =
        format!("SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY size DESC LIMIT 1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(checkpoint).transpose()
}

/// Stores `row` in `tx` if the largest stored size is still `previous`;
/// `false` if another writer moved on first. The caller's transaction
/// keeps other writers out meanwhile (SQLite's write lock, PostgreSQL's
/// checkpoint lock).
pub(crate) async fn insert_checkpoint<DB: Backend>(
    tx: &mut Transaction<'_, DB>,
    row: &AuditCheckpointRow,
    previous: Option<u64>,
) -> Result<bool>
where
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let conn: &mut DB::Connection = tx;
    let latest = sqlx::query("SELECT size FROM audit_checkpoints ORDER BY size DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?
        .map(|latest| DB::get_int(&latest, "size"))
        .transpose()?;
    let previous = previous
        .map(|size| length(size, "audit_checkpoints.size"))
        .transpose()?;
    if latest != previous {
        return Ok(false);
    }
    // The primary key refuses a second checkpoint of the same size even if
    // the check above were ever bypassed.
    let inserted = sqlx::query(
        "INSERT INTO audit_checkpoints (size, root, note, frontier, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (size) DO NOTHING",
    )
    .bind(length(row.size, "audit_checkpoints.size")?)
    .bind(row.root.as_slice())
    .bind(row.note.as_str())
    .bind(row.frontier.as_slice())
    .bind(DB::time(row.created_at))
    .execute(&mut *conn)
    .await?;
    Ok(DB::rows_affected(&inserted) == 1)
}

/// An [`AuditRecord`] from an event's columns.
pub(crate) fn record<R>(row: &R) -> Result<AuditRecord>
where
    R: Row<Database: Backend<Row = R>>,
{
    type Db<R> = <R as Row>::Database;
    Ok(AuditRecord {
        seq: Db::<R>::get_int(row, "seq")?,
        event: NewAuditEvent {
            at: Db::<R>::get_time(row, "at")?,
            actor: Db::<R>::get_opt_uuid(row, "actor")?.map(UserId::from_uuid),
            action: Db::<R>::get_text(row, "action")?,
            object: Db::<R>::get_opt_text(row, "object")?,
            purpose: Db::<R>::get_opt_text(row, "purpose")?,
            outcome: Db::<R>::get_text(row, "outcome")?,
            details: json(&Db::<R>::get_text(row, "details")?, "details")?,
        },
    })
}

/// An [`AuditCheckpointRow`] from a checkpoint's columns.
pub(crate) fn checkpoint<R>(row: &R) -> Result<AuditCheckpointRow>
where
    R: Row<Database: Backend<Row = R>>,
{
    type Db<R> = <R as Row>::Database;
    Ok(AuditCheckpointRow {
        size: stored_length(Db::<R>::get_int(row, "size")?, "size")?,
        root: Db::<R>::get_bytes(row, "root")?,
        note: Db::<R>::get_text(row, "note")?,
        frontier: Db::<R>::get_bytes(row, "frontier")?,
        created_at: Db::<R>::get_time(row, "created_at")?,
    })
}
