//! [`AuditStore`] on SQL, written once over [`Backend`]: the append, events
//! in sequence order, the search by the ids they name, the log's identity,
//! and the signed checkpoints of its Merkle tree (AUD-2), with their row
//! decoders. Every [`AuditSql`] store (both adapters) gets the whole trait
//! from the blanket implementation here; an adapter's `audit` module
//! supplies only what differs ([`AuditSql`]): the statement that appends
//! one event (PostgreSQL numbers events itself under its audit lock;
//! SQLite's `INTEGER PRIMARY KEY` numbers them) and the transaction it
//! runs in, the bulk append ([`AuditLog`]), the events as stored (byte for
//! byte, for hashing), the bulk leaf readers, and the checkpoint's lock.

use async_trait::async_trait;
use kirjuri_core::ids::UserId;
use sqlx::{Database, Encode, Executor, Pool, QueryBuilder, Row, Transaction, Type};
use uuid::Uuid;

use crate::audited::{self, AuditLog};
use crate::backend::{Backend, SqlStore};
use crate::codec::{json, length, stored_length};
use crate::error::{Error, Result};
use crate::model::{
    AuditCheckpointRow, AuditFilter, AuditLeaf, AuditRecord, NewAuditEvent, StoredAuditEvent,
};
use crate::store::AuditStore;

/// A row of a store's database.
type DbRow<S> = <<S as SqlStore>::Db as Database>::Row;

/// What differs between the adapters' audit logs; the rest of
/// [`AuditStore`] is written once, below.
pub(crate) trait AuditSql: SqlStore<Db: AuditLog> {
    /// The statement that appends one event ([`insert`]): its seven values
    /// `at, actor, action, object, purpose, outcome, details` are `$1` to
    /// `$7`, and it returns the event's `seq`.
    const INSERT_EVENT: &'static str;

    /// Appends `event` alone, in a transaction of its own, and returns its
    /// sequence number ([`AuditStore::append_audit`]).
    fn append_one(&self, event: &NewAuditEvent) -> impl Future<Output = Result<i64>> + Send;

    /// A [`StoredAuditEvent`] from an event's columns, as stored.
    fn stored(row: &DbRow<Self>) -> Result<StoredAuditEvent>;

    /// [`AuditStore::audit_leaves`], by the adapter's bulk reader.
    fn leaves(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AuditLeaf>>> + Send;

    /// Begins the transaction that stores a checkpoint, which keeps other
    /// checkpoint writers out until it ends: the audited write's own by
    /// default (SQLite's write lock).
    fn begin_checkpoint(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Self::Db>>> + Send {
        Self::Db::begin_write(self.sql_pool())
    }
}

#[async_trait]
impl<S> AuditStore for S
where
    S: AuditSql,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Uuid: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q [u8]: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<Uuid>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<&'q str>: Encode<'q, S::Db> + Type<S::Db>,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
{
    async fn append_audit(&self, event: &NewAuditEvent) -> Result<i64> {
        self.append_one(event).await
    }

    async fn audit_events(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditRecord>> {
        after(self.sql_pool(), after_seq, limit).await
    }

    async fn append_audit_batch(&self, events: &[NewAuditEvent]) -> Result<()> {
        audited::write_audited(self, events, async |_| Ok(())).await
    }

    async fn audit_head(&self) -> Result<i64> {
        head(self.sql_pool()).await
    }

    async fn stored_audit_events(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredAuditEvent>> {
        events(self.sql_pool(), after_seq, limit, S::stored).await
    }

    async fn audit_leaves(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditLeaf>> {
        self.leaves(after_seq, limit).await
    }

    async fn search_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        search(self.sql_pool(), filter).await
    }

    async fn audit_log_id(&self) -> Result<String> {
        log_id(self.sql_pool()).await
    }

    async fn audit_checkpoints(
        &self,
        after_size: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditCheckpointRow>> {
        checkpoints(self.sql_pool(), after_size, limit).await
    }

    async fn latest_audit_checkpoint(&self) -> Result<Option<AuditCheckpointRow>> {
        latest_checkpoint(self.sql_pool()).await
    }

    #[tracing::instrument(skip_all, fields(size = checkpoint.size))]
    async fn insert_audit_checkpoint(
        &self,
        checkpoint: &AuditCheckpointRow,
        previous: Option<u64>,
    ) -> Result<bool> {
        let mut tx = self.begin_checkpoint().await?;
        let stored = insert_checkpoint(&mut tx, checkpoint, previous).await?;
        tx.commit().await?;
        Ok(stored)
    }
}

/// Appends `event` on `conn` by `sql` (an [`AuditSql::INSERT_EVENT`]),
/// inside the caller's transaction if any, and returns its sequence number.
pub(crate) async fn insert<DB: Backend>(
    conn: &mut DB::Connection,
    sql: &'static str,
    event: &NewAuditEvent,
) -> Result<i64>
where
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Uuid>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let row = sqlx::query(sql)
        .bind(DB::time(event.at))
        .bind(event.actor.map(|actor| *actor.as_uuid()))
        .bind(event.action.as_str())
        .bind(event.object.as_deref())
        .bind(event.purpose.as_deref())
        .bind(event.outcome.as_str())
        .bind(event.details.to_string())
        .fetch_one(conn)
        .await?;
    DB::get_int(&row, "seq")
}

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
