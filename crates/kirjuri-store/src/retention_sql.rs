//! [`RetentionStore`] on SQL, written once over [`Backend`]: legal holds,
//! the purge's queries and one-way steps, tombstones, deadlines. Every
//! [`RetentionSql`] store (both adapters) gets the whole trait from the
//! blanket implementation here; an adapter's `retention` module supplies
//! only what really differs between the dialects:
//! * **how a batch travels**: SQLite lists its rows in multi-row statements
//!   of a few hundred rows (its statement cache keeps them prepared);
//!   PostgreSQL binds arrays (`unnest`, `= ANY`), one statement per ten
//!   thousand rows ([`RetentionSql::CHUNK`], [`RetentionSql::push_ids`] and
//!   the batch hooks);
//! * **the erasure's locking**: PostgreSQL locks the contacts' rows before
//!   re-checking for uploads in flight (see `postgres::retention`);
//! * **column spellings** (PostgreSQL reads `jsonb` as text and has no
//!   unary `+` on a timestamp); the rest that differs (JSON casts,
//!   constraint names, the write transaction, row decoding) is
//!   [`Backend`]'s.
//!
//! Two things shape the SQL here:
//! * **"Held" is one predicate**, written once per subject
//!   ([`HELD_OBJECT`], [`HELD_CONTACT`]) and used by every query and every
//!   re-check, so the dry run, the purge and the deadline listing cannot
//!   disagree about it. It is a lookup in `legal_hold_targets_by_contact`,
//!   per row.
//! * **The re-check is in the write itself** (the delete, the erasure's
//!   update), so nothing can change in between.
//!
//! Every audited write runs in [`audited::run`](crate::audited::run) in
//! the backend's write transaction ([`Backend::begin_write`]), which
//! owns the transaction discipline (SQLite's `BEGIN IMMEDIATE`,
//! PostgreSQL's audit lock) and appends the audit events in the same
//! transaction.

use std::collections::HashSet;
use std::marker::PhantomData;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kirjuri_core::ids::{ContactId, ObjectId, UserId};
use sqlx::{Database, Encode, Executor, Pool, QueryBuilder, Row, Type};
use uuid::Uuid;

use crate::audited::{self, AuditLog, Audited};
use crate::backend::{Backend, SqlStore, Unique};
use crate::error::{Error, Result};
use crate::model::NewAuditEvent;
use crate::retention::{
    Deadline, DeadlineChange, ExpiredContact, ExpiredObject, HoldLift, HoldRow, HoldSummary,
    HoldTarget, RetentionStore, Shred, ShredMode, StepMarks, TombstoneRow, TombstoneStep,
};
use crate::retention::{
    contact_tombstone, distinct_targets, earliest_deadlines, first_of_each, in_input_order,
};

/// Whether an active hold keeps the object `o`, up to the instant's
/// parameter (the caller binds the instant and closes with `))`). A target
/// keeps its contact's object when it names the whole contact, the object,
/// or the object's source.
pub(crate) const HELD_OBJECT: &str = "EXISTS (SELECT 1 FROM legal_hold_targets AS t \
    JOIN legal_holds AS h ON h.id = t.hold_id \
    WHERE t.contact_id = o.contact_id \
      AND (t.object_id IS NULL OR t.object_id = o.id OR t.object_id = o.source_id) \
      AND h.lifted_at IS NULL AND (h.expires_at IS NULL OR h.expires_at > ";

/// Whether an active hold keeps the contact `c` or any of its objects, up
/// to the instant's parameter.
pub(crate) const HELD_CONTACT: &str = "EXISTS (SELECT 1 FROM legal_hold_targets AS t \
    JOIN legal_holds AS h ON h.id = t.hold_id \
    WHERE t.contact_id = c.id \
      AND h.lifted_at IS NULL AND (h.expires_at IS NULL OR h.expires_at > ";

/// The columns of an [`ExpiredObject`], from the table aliased `o`.
const EXPIRED_OBJECT_COLUMNS: &str = "o.id AS id, o.contact_id AS contact_id, o.kind AS kind, \
    o.sha256 AS sha256, o.retain_until AS retain_until, o.source_id AS source_id";

/// The unique constraint on a hold's id.
const HOLD_ID: Unique = Unique::new("legal_holds.id", "legal_holds_pkey", "hold id");

/// The columns of a [`TombstoneRow`].
pub(crate) const TOMBSTONE_COLUMNS: &str = "id, contact_id, kind, rule, reason, sha256, \
    retain_until, deleted_at, ledgered_at, storage_deleted_at";

/// The columns of a [`HoldRow`] from the table aliased `h`; `json_text`
/// reads the JSON scope as text.
fn hold_columns(json_text: &str) -> String {
    format!(
        "h.id AS id, h.ground_kind AS ground_kind, h.ground AS ground, h.owner AS owner, \
         h.review_by AS review_by, h.expires_at AS expires_at, h.scope{json_text} AS scope, \
         h.created_at AS created_at, h.created_by AS created_by, h.lifted_at AS lifted_at, \
         h.lifted_by AS lifted_by, h.lift_reason AS lift_reason, h.reminded_at AS reminded_at"
    )
}

/// The connection of a store's database.
type Conn<S> = <<S as SqlStore>::Db as Database>::Connection;

/// What differs between the adapters' retention SQL; the rest of
/// [`RetentionStore`] is written once, below.
pub(crate) trait RetentionSql: SqlStore<Db: AuditLog> {
    /// Rows per statement of a batch.
    const CHUNK: usize;

    /// What follows a JSON column to read it as text (`::text` in
    /// PostgreSQL; nothing in SQLite).
    const JSON_TEXT: &'static str;

    /// What goes before a column to keep the planner off its index (SQLite's
    /// unary `+`; nothing in PostgreSQL).
    const UNINDEXED: &'static str;

    /// The statement that begins a write that appends no audit event.
    const BEGIN_WRITE: &'static str;

    /// Pushes "is one of `ids`" after a column: ` IN (…)` or ` = ANY(…)`.
    fn push_ids(query: &mut QueryBuilder<Self::Db>, ids: impl IntoIterator<Item = Uuid>);

    /// Inserts up to [`RetentionSql::CHUNK`] targets of hold `hold` that
    /// exist, returning how many it inserted.
    fn insert_targets(
        conn: &mut Conn<Self>,
        hold: Uuid,
        targets: &[HoldTarget],
    ) -> impl Future<Output = Result<u64>> + Send;

    /// A page of hold `id`'s targets in [`HoldTarget`]'s order.
    fn hold_targets_query(
        id: Uuid,
        after: Option<HoldTarget>,
        limit: u32,
    ) -> QueryBuilder<Self::Db>;

    /// Erases the contacts of up to [`RetentionSql::CHUNK`] `shreds` (one
    /// each) that `mode` allows and are not yet erased, returning the ids
    /// erased.
    fn erase(
        conn: &mut Conn<Self>,
        shreds: &[&Shred],
        mode: ShredMode,
    ) -> impl Future<Output = Result<Vec<Uuid>>> + Send;

    /// Inserts up to [`RetentionSql::CHUNK`] tombstones, keeping any that
    /// already exists.
    fn insert_tombstones(
        conn: &mut Conn<Self>,
        tombstones: &[&TombstoneRow],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Lowers `table`'s deadlines to up to [`RetentionSql::CHUNK`] `rows`
    /// (id, new deadline) where the new one is earlier, returning how many
    /// rows changed.
    fn shorten(
        conn: &mut Conn<Self>,
        table: &str,
        rows: &[(Uuid, DateTime<Utc>)],
    ) -> impl Future<Output = Result<u64>> + Send;

    /// The pool the purge's batch writes (shreds and erasures) begin their
    /// transactions on: SQLite's has a connection of its own that
    /// checkpoints the log less often (see the `sqlite` module); by default
    /// the store's pool.
    fn batch_write_pool(&self) -> &Pool<Self::Db> {
        self.sql_pool()
    }

    /// [`RetentionStore::flush_erasures`].
    fn flush(&self) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }
}

#[async_trait]
impl<S> RetentionStore for S
where
    S: RetentionSql,
    for<'q> Uuid: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<Uuid>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<&'q str>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<<S::Db as Backend>::Time>: Encode<'q, S::Db> + Type<S::Db>,
    for<'c> &'c mut Conn<S>: Executor<'c, Database = S::Db>,
{
    async fn flush_erasures(&self) -> Result<()> {
        self.flush().await
    }

    #[tracing::instrument(skip_all, fields(hold_id = %hold.id, targets = targets.len()))]
    async fn insert_hold(
        &self,
        hold: &HoldRow,
        targets: &[HoldTarget],
        audit: &NewAuditEvent,
    ) -> Result<()> {
        let targets = distinct_targets(targets);
        let tx = S::Db::begin_write(self.sql_pool()).await?;
        audited::run(tx, async |tx| {
            let sql = format!(
                "INSERT INTO legal_holds (id, ground_kind, ground, owner, review_by, expires_at, \
                 scope, created_at, created_by, lifted_at, lifted_by, lift_reason, reminded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7{}, $8, $9, $10, $11, $12, $13)",
                S::Db::JSON_CAST
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(hold.id)
                .bind(hold.ground_kind.as_str())
                .bind(hold.ground.as_str())
                .bind(*hold.owner.as_uuid())
                .bind(S::Db::time(hold.review_by))
                .bind(hold.expires_at.map(S::Db::time))
                .bind(hold.scope.to_string())
                .bind(S::Db::time(hold.created_at))
                .bind(*hold.created_by.as_uuid())
                .bind(hold.lifted_at.map(S::Db::time))
                .bind(hold.lifted_by.as_ref().map(|by| *by.as_uuid()))
                .bind(hold.lift_reason.as_deref())
                .bind(hold.reminded_at.map(S::Db::time))
                .execute(&mut *tx)
                .await
                .map_err(|err| S::Db::write_error(err, &[HOLD_ID], "hold"))?;
            for chunk in targets.chunks(S::CHUNK) {
                if S::insert_targets(tx, hold.id, chunk).await? != chunk.len() as u64 {
                    // Dropping the transaction rolls back the hold and its targets.
                    return Err(Error::NotFound);
                }
            }
            Ok(Audited::commit((), [audit]))
        })
        .await
    }

    async fn hold(&self, id: &Uuid) -> Result<Option<HoldSummary>> {
        hold(self.sql_pool(), &hold_columns(S::JSON_TEXT), id).await
    }

    async fn holds(&self, active_at: Option<DateTime<Utc>>) -> Result<Vec<HoldSummary>> {
        holds(self.sql_pool(), &hold_columns(S::JSON_TEXT), active_at).await
    }

    async fn hold_targets(
        &self,
        id: &Uuid,
        after: Option<HoldTarget>,
        limit: u32,
    ) -> Result<Vec<HoldTarget>> {
        let mut query = S::hold_targets_query(*id, after, limit);
        let rows = query.build().fetch_all(self.sql_pool()).await?;
        rows.iter()
            .map(|row| {
                Ok(HoldTarget {
                    contact_id: ContactId::from_uuid(S::Db::get_uuid(row, "contact_id")?),
                    object_id: S::Db::get_opt_uuid(row, "object_id")?.map(ObjectId::from_uuid),
                })
            })
            .collect()
    }

    async fn holds_for_contact(&self, contact: &ContactId) -> Result<Vec<HoldRow>> {
        holds_for_contact(self.sql_pool(), &hold_columns(S::JSON_TEXT), contact).await
    }

    #[tracing::instrument(skip_all, fields(hold_id = %id))]
    async fn lift_hold(&self, id: &Uuid, lift: &HoldLift, audit: &NewAuditEvent) -> Result<bool> {
        let tx = S::Db::begin_write(self.sql_pool()).await?;
        audited::run(tx, async |tx| {
            self::lift::<S::Db>(tx, id, lift, audit).await
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(hold_id = %id))]
    async fn set_hold_review(
        &self,
        id: &Uuid,
        review_by: DateTime<Utc>,
        audit: &NewAuditEvent,
    ) -> Result<()> {
        let tx = S::Db::begin_write(self.sql_pool()).await?;
        audited::run(tx, async |tx| {
            set_review::<S::Db>(tx, id, review_by).await?;
            Ok(Audited::commit((), [audit]))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(hold_id = %id))]
    async fn mark_hold_reminded(
        &self,
        id: &Uuid,
        at: DateTime<Utc>,
        audit: &NewAuditEvent,
    ) -> Result<()> {
        let tx = S::Db::begin_write(self.sql_pool()).await?;
        audited::run(tx, async |tx| {
            mark_reminded::<S::Db>(tx, id, at).await?;
            Ok(Audited::commit((), [audit]))
        })
        .await
    }

    async fn expired_objects(
        &self,
        now: DateTime<Utc>,
        after: Option<(DateTime<Utc>, ObjectId)>,
        limit: u32,
    ) -> Result<Vec<ExpiredObject>> {
        let mut query = Sql::<S>::expired_objects_query("", now, after, limit);
        let rows = query.build().fetch_all(self.sql_pool()).await?;
        rows.iter()
            .map(|row| {
                Ok(ExpiredObject {
                    id: ObjectId::from_uuid(S::Db::get_uuid(row, "id")?),
                    contact_id: ContactId::from_uuid(S::Db::get_uuid(row, "contact_id")?),
                    kind: S::Db::get_text(row, "kind")?,
                    sha256: S::Db::get_text(row, "sha256")?,
                    retain_until: S::Db::get_time(row, "retain_until")?,
                    source: S::Db::get_opt_uuid(row, "source_id")?.map(ObjectId::from_uuid),
                })
            })
            .collect()
    }

    async fn expired_contacts(
        &self,
        now: DateTime<Utc>,
        after: Option<(DateTime<Utc>, ContactId)>,
        limit: u32,
    ) -> Result<Vec<ExpiredContact>> {
        let mut query = Sql::<S>::expired_contacts_query("", now, after, limit);
        let rows = query.build().fetch_all(self.sql_pool()).await?;
        rows.iter()
            .map(|row| {
                Ok(ExpiredContact {
                    id: ContactId::from_uuid(S::Db::get_uuid(row, "id")?),
                    retain_until: S::Db::get_time(row, "retain_until")?,
                })
            })
            .collect()
    }

    async fn shred_objects(&self, shreds: &[Shred], mode: ShredMode) -> Result<Vec<ObjectId>> {
        self.shred_objects_marking(shreds, mode, &[]).await
    }

    #[tracing::instrument(skip_all, fields(shreds = shreds.len(), marks = marks.len()))]
    async fn shred_objects_marking(
        &self,
        shreds: &[Shred],
        mode: ShredMode,
        marks: &[StepMarks],
    ) -> Result<Vec<ObjectId>> {
        if shreds.is_empty() && marks.is_empty() {
            return Ok(Vec::new());
        }
        let tx = S::Db::begin_write(self.batch_write_pool()).await?;
        audited::run(tx, async |tx| {
            for mark in marks {
                mark_in::<S>(tx, mark).await?;
            }
            let mut deleted = HashSet::with_capacity(shreds.len());
            for chunk in shreds.chunks(S::CHUNK) {
                let ids = chunk.iter().map(|shred| shred.tombstone.id);
                let rows = Sql::<S>::shred_query("", ids, mode)
                    .build()
                    .fetch_all(&mut *tx)
                    .await?;
                for row in &rows {
                    deleted.insert(S::Db::get_uuid(row, "id")?);
                }
            }
            let done = in_input_order(shreds, &deleted);
            let tombstones: Vec<&TombstoneRow> =
                done.iter().map(|shred| &shred.tombstone).collect();
            for chunk in tombstones.chunks(S::CHUNK) {
                S::insert_tombstones(tx, chunk).await?;
            }
            let ids = done
                .iter()
                .map(|shred| ObjectId::from_uuid(shred.tombstone.id))
                .collect();
            Ok(Audited::commit(ids, done.iter().map(|shred| &shred.audit)))
        })
        .await
    }

    async fn erase_contacts(&self, shreds: &[Shred], mode: ShredMode) -> Result<Vec<ContactId>> {
        erase_in(self, shreds, mode, &[], IndexEntries::Delete).await
    }

    async fn erase_contacts_marking(
        &self,
        shreds: &[Shred],
        mode: ShredMode,
        marks: &[StepMarks],
    ) -> Result<Vec<ContactId>> {
        erase_in(self, shreds, mode, marks, IndexEntries::Queue).await
    }

    #[tracing::instrument(skip_all)]
    async fn sweep_erased_index(&self, contacts: u32) -> Result<u64> {
        let mut tx = self.batch_write_pool().begin_with(S::BEGIN_WRITE).await?;
        // The queue's delete says which contacts this transaction took, so
        // exactly their entries go, whatever is queued meanwhile.
        let taken = sqlx::query(
            "DELETE FROM contact_index_sweep WHERE contact_id IN \
                 (SELECT contact_id FROM contact_index_sweep ORDER BY contact_id LIMIT $1) \
             RETURNING contact_id",
        )
        .bind(i64::from(contacts))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| S::Db::get_uuid(row, "contact_id"))
        .collect::<Result<Vec<Uuid>>>()?;
        for chunk in taken.chunks(S::CHUNK) {
            let mut query = QueryBuilder::new("DELETE FROM contact_index WHERE contact_id");
            S::push_ids(&mut query, chunk.iter().copied());
            query.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(taken.len() as u64)
    }

    async fn unfinished_tombstones(&self, limit: u32) -> Result<Vec<TombstoneRow>> {
        // The WHERE is the partial index's own, so the index serves it in order.
        let sql = format!(
            "SELECT {TOMBSTONE_COLUMNS} FROM tombstones \
             WHERE ledgered_at IS NULL OR storage_deleted_at IS NULL \
             ORDER BY deleted_at, id LIMIT $1"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(limit))
            .fetch_all(self.sql_pool())
            .await?;
        rows.iter().map(tombstone_from_row).collect()
    }

    async fn mark_tombstones(
        &self,
        ids: &[Uuid],
        steps: &[TombstoneStep],
        at: DateTime<Utc>,
    ) -> Result<()> {
        if ids.is_empty() || steps.is_empty() {
            return Ok(());
        }
        let mark = StepMarks {
            ids: ids.to_vec(),
            steps: steps.to_vec(),
            at,
        };
        let mut tx = self.sql_pool().begin_with(S::BEGIN_WRITE).await?;
        mark_in::<S>(&mut tx, &mark).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn tombstones_for_contact(&self, contact: &ContactId) -> Result<Vec<TombstoneRow>> {
        let sql = format!(
            "SELECT {TOMBSTONE_COLUMNS} FROM tombstones WHERE contact_id = $1 \
             ORDER BY deleted_at, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(*contact.as_uuid())
            .fetch_all(self.sql_pool())
            .await?;
        rows.iter().map(tombstone_from_row).collect()
    }

    async fn tombstone(&self, id: &Uuid) -> Result<Option<TombstoneRow>> {
        let sql = format!("SELECT {TOMBSTONE_COLUMNS} FROM tombstones WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(*id)
            .fetch_optional(self.sql_pool())
            .await?
            .as_ref()
            .map(tombstone_from_row)
            .transpose()
    }

    async fn count_tombstones(&self) -> Result<u64> {
        let row = sqlx::query("SELECT count(*) AS n FROM tombstones")
            .fetch_one(self.sql_pool())
            .await?;
        S::Db::get_count(&row, "n")
    }

    async fn upcoming_deadlines(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Deadline>> {
        let mut query = Sql::<S>::upcoming_query("", from, until, limit);
        let rows = query.build().fetch_all(self.sql_pool()).await?;
        rows.iter()
            .map(|row| {
                Ok(Deadline {
                    id: S::Db::get_uuid(row, "id")?,
                    contact_id: ContactId::from_uuid(S::Db::get_uuid(row, "contact_id")?),
                    kind: S::Db::get_text(row, "kind")?,
                    retain_until: S::Db::get_time(row, "retain_until")?,
                    held: S::Db::get_bool(row, "held")?,
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all, fields(changes = changes.len()))]
    async fn shorten_deadlines(
        &self,
        changes: &[DeadlineChange],
        audit: &[NewAuditEvent],
    ) -> Result<u64> {
        // A policy change can touch millions of rows: a statement per table
        // and chunk where the backend can.
        let earliest = earliest_deadlines(changes);
        let tx = S::Db::begin_write(self.sql_pool()).await?;
        audited::run(tx, async |tx| {
            let mut changed = 0;
            for (table, contact) in [("objects", false), ("contacts", true)] {
                let rows: Vec<(Uuid, DateTime<Utc>)> = earliest
                    .iter()
                    .filter(|((is_contact, _), _)| *is_contact == contact)
                    .map(|((_, id), at)| (*id, *at))
                    .collect();
                for chunk in rows.chunks(S::CHUNK) {
                    changed += S::shorten(tx, table, chunk).await?;
                }
            }
            Ok(Audited::commit(changed, audit))
        })
        .await
    }
}

/// What an erasure does with the erased contacts' index entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IndexEntries {
    /// Deletes them in the erasure's transaction.
    Delete,
    /// Queues the contacts for [`RetentionStore::sweep_erased_index`].
    Queue,
}

/// [`RetentionStore::erase_contacts`] and
/// [`RetentionStore::erase_contacts_marking`]: one transaction on the
/// store's batch-write pool.
#[tracing::instrument(skip_all, fields(shreds = shreds.len(), marks = marks.len()))]
async fn erase_in<S>(
    store: &S,
    shreds: &[Shred],
    mode: ShredMode,
    marks: &[StepMarks],
    index: IndexEntries,
) -> Result<Vec<ContactId>>
where
    S: RetentionSql,
    for<'q> Uuid: Encode<'q, S::Db> + Type<S::Db>,
    for<'c> &'c mut Conn<S>: Executor<'c, Database = S::Db>,
{
    // One row per contact: an `UPDATE … FROM` matching a contact twice
    // would take either row's time.
    let unique = first_of_each(shreds);
    if unique.is_empty() && marks.is_empty() {
        return Ok(Vec::new());
    }
    let tx = S::Db::begin_write(store.batch_write_pool()).await?;
    audited::run(tx, async |tx| {
        for mark in marks {
            mark_in::<S>(tx, mark).await?;
        }
        let mut erased = HashSet::with_capacity(unique.len());
        for chunk in unique.chunks(S::CHUNK) {
            erased.extend(S::erase(tx, chunk, mode).await?);
        }
        let done: Vec<&Shred> = unique
            .into_iter()
            .filter(|shred| erased.contains(&shred.tombstone.id))
            .collect();
        let tables: &[&str] = match index {
            IndexEntries::Delete => &["contact_index", "contact_history"],
            IndexEntries::Queue => &["contact_history"],
        };
        for chunk in done.chunks(S::CHUNK) {
            // The index entries (at once, or queued for the sweep) and
            // the earlier versions kept by rectifications (their sealed
            // documents and keys) go with the contact's own document.
            for table in tables {
                let mut query = QueryBuilder::new(format!("DELETE FROM {table} WHERE contact_id"));
                S::push_ids(&mut query, chunk.iter().map(|shred| shred.tombstone.id));
                query.build().execute(&mut *tx).await?;
            }
            if index == IndexEntries::Queue {
                let mut query = QueryBuilder::new("INSERT INTO contact_index_sweep (contact_id) ");
                query.push_values(chunk, |mut row, shred| {
                    row.push_bind(shred.tombstone.id);
                });
                query.push(" ON CONFLICT DO NOTHING");
                query.build().execute(&mut *tx).await?;
            }
        }
        let tombstones: Vec<TombstoneRow> =
            done.iter().map(|shred| contact_tombstone(shred)).collect();
        let tombstones: Vec<&TombstoneRow> = tombstones.iter().collect();
        for chunk in tombstones.chunks(S::CHUNK) {
            S::insert_tombstones(tx, chunk).await?;
        }
        let ids = done
            .iter()
            .map(|shred| ContactId::from_uuid(shred.tombstone.id))
            .collect();
        Ok(Audited::commit(ids, done.iter().map(|shred| &shred.audit)))
    })
    .await
}

/// Records `mark`'s steps done on `conn`, in the caller's transaction: one
/// statement per chunk, touching only rows with one of the steps still
/// open. A step already marked keeps the time it was first done.
async fn mark_in<S>(conn: &mut Conn<S>, mark: &StepMarks) -> Result<()>
where
    S: RetentionSql,
    for<'q> Uuid: Encode<'q, S::Db> + Type<S::Db>,
    for<'c> &'c mut Conn<S>: Executor<'c, Database = S::Db>,
{
    if mark.ids.is_empty() || mark.steps.is_empty() {
        return Ok(());
    }
    let columns: Vec<&str> = mark
        .steps
        .iter()
        .map(|step| match step {
            TombstoneStep::Ledgered => "ledgered_at",
            TombstoneStep::StorageDeleted => "storage_deleted_at",
        })
        .collect();
    let open = columns
        .iter()
        .map(|c| format!("{c} IS NULL"))
        .collect::<Vec<_>>()
        .join(" OR ");
    for chunk in mark.ids.chunks(S::CHUNK) {
        let mut query = QueryBuilder::new("UPDATE tombstones SET ");
        for (n, column) in columns.iter().enumerate() {
            // `coalesce`: the first time a step was done stays the time it
            // was done.
            let comma = if n == 0 { "" } else { ", " };
            query.push(format!("{comma}{column} = coalesce({column}, "));
            query.push_bind(S::Db::time(mark.at)).push(")");
        }
        query.push(" WHERE id");
        S::push_ids(&mut query, chunk.iter().copied());
        query.push(format!(" AND ({open})"));
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// The purge's queries over a [`RetentionSql`] store's database, each
/// after `head` (empty, or `EXPLAIN QUERY PLAN ` in SQLite's plan tests).
pub(crate) struct Sql<S>(PhantomData<S>);

impl<S> Sql<S>
where
    S: RetentionSql,
    for<'q> Uuid: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
{
    /// Deletes the objects `ids` that `mode` allows, returning the ids
    /// deleted. The re-check is in the delete itself, so nothing can change
    /// in between. [`RetentionSql::UNINDEXED`] keeps the deadline index out
    /// of it: with an index on both terms, SQLite's planner may walk every
    /// expired object per chunk instead of looking the chunk's ids up.
    pub(crate) fn shred_query(
        head: &str,
        ids: impl IntoIterator<Item = Uuid>,
        mode: ShredMode,
    ) -> QueryBuilder<S::Db> {
        let mut query = QueryBuilder::new(format!("{head}DELETE FROM objects AS o WHERE o.id"));
        S::push_ids(&mut query, ids);
        if let Some(deadline) = mode.deadline() {
            query
                .push(format!(" AND {}o.retain_until <= ", S::UNINDEXED))
                .push_bind(S::Db::time(deadline));
        }
        if let Some(now) = mode.unheld_at() {
            query
                .push(" AND NOT ")
                .push(HELD_OBJECT)
                .push_bind(S::Db::time(now))
                .push("))");
        }
        query.push(" RETURNING id");
        query
    }

    /// The expired, unheld objects at `now`, by deadline.
    pub(crate) fn expired_objects_query(
        head: &str,
        now: DateTime<Utc>,
        after: Option<(DateTime<Utc>, ObjectId)>,
        limit: u32,
    ) -> QueryBuilder<S::Db> {
        let mut query = QueryBuilder::new(format!(
            "{head}SELECT {EXPIRED_OBJECT_COLUMNS} FROM objects AS o WHERE o.retain_until <= "
        ));
        query.push_bind(S::Db::time(now));
        if let Some((retain_until, id)) = after {
            query
                .push(" AND (o.retain_until, o.id) > (")
                .push_bind(S::Db::time(retain_until))
                .push(", ")
                .push_bind(*id.as_uuid())
                .push(")");
        }
        query
            .push(" AND NOT ")
            .push(HELD_OBJECT)
            .push_bind(S::Db::time(now))
            .push("))")
            .push(" ORDER BY o.retain_until, o.id LIMIT ")
            .push_bind(i64::from(limit));
        query
    }

    /// The contacts the purge erases at `now`, by deadline.
    pub(crate) fn expired_contacts_query(
        head: &str,
        now: DateTime<Utc>,
        after: Option<(DateTime<Utc>, ContactId)>,
        limit: u32,
    ) -> QueryBuilder<S::Db> {
        let mut query = QueryBuilder::new(format!(
            "{head}SELECT c.id AS id, c.retain_until AS retain_until FROM contacts AS c \
             WHERE c.erased_at IS NULL AND c.retain_until <= "
        ));
        query.push_bind(S::Db::time(now));
        if let Some((retain_until, id)) = after {
            query
                .push(" AND (c.retain_until, c.id) > (")
                .push_bind(S::Db::time(retain_until))
                .push(", ")
                .push_bind(*id.as_uuid())
                .push(")");
        }
        // Not held means none of its objects is held either (every target
        // names its contact), so what remains of its objects needs only be
        // expired.
        query
            .push(" AND NOT ")
            .push(HELD_CONTACT)
            .push_bind(S::Db::time(now))
            .push("))")
            .push(" AND NOT EXISTS (SELECT 1 FROM pending_objects AS p WHERE p.contact_id = c.id)")
            .push(
                " AND NOT EXISTS (SELECT 1 FROM objects AS o WHERE o.contact_id = c.id \
                 AND o.retain_until > ",
            )
            .push_bind(S::Db::time(now))
            .push(") ORDER BY c.retain_until, c.id LIMIT ")
            .push_bind(i64::from(limit));
        query
    }

    /// Deadlines in `(from, until]`: each side takes its own index in order
    /// with its own limit, and the two are merged.
    pub(crate) fn upcoming_query(
        head: &str,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> QueryBuilder<S::Db> {
        let mut query = QueryBuilder::new(format!(
            "{head}SELECT id, contact_id, kind, retain_until, held FROM (\
             SELECT * FROM (SELECT o.id AS id, o.contact_id AS contact_id, o.kind AS kind, \
                 o.retain_until AS retain_until, "
        ));
        query
            .push(HELD_OBJECT)
            .push_bind(S::Db::time(from))
            .push(")) AS held FROM objects AS o WHERE o.retain_until > ")
            .push_bind(S::Db::time(from))
            .push(" AND o.retain_until <= ")
            .push_bind(S::Db::time(until))
            .push(" ORDER BY o.retain_until, o.id LIMIT ")
            .push_bind(i64::from(limit))
            .push(
                ") AS due_objects UNION ALL SELECT * FROM (SELECT c.id AS id, c.id AS contact_id, \
                     'contact' AS kind, c.retain_until AS retain_until, ",
            )
            .push(HELD_CONTACT)
            .push_bind(S::Db::time(from))
            .push(")) AS held FROM contacts AS c WHERE c.erased_at IS NULL AND c.retain_until > ")
            .push_bind(S::Db::time(from))
            .push(" AND c.retain_until <= ")
            .push_bind(S::Db::time(until))
            .push(" ORDER BY c.retain_until, c.id LIMIT ")
            .push_bind(i64::from(limit))
            .push(") AS due_contacts) AS due ORDER BY retain_until, id LIMIT ")
            .push_bind(i64::from(limit));
        query
    }
}

/// A hold's target count, as a column of a query over `h`.
const TARGET_COUNT: &str =
    "(SELECT count(*) FROM legal_hold_targets AS n WHERE n.hold_id = h.id) AS targets";

/// The hold with this id and its target count; `columns` are the adapter's
/// hold columns over `h`.
pub(crate) async fn hold<DB: Backend>(
    pool: &Pool<DB>,
    columns: &str,
    id: &Uuid,
) -> Result<Option<HoldSummary>>
where
    for<'q> &'q Uuid: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let sql = format!("SELECT {columns}, {TARGET_COUNT} FROM legal_holds AS h WHERE h.id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(summary_from_row)
        .transpose()
}

/// Every hold, or those active at `active_at`, with their target counts,
/// by review date.
pub(crate) async fn holds<DB: Backend>(
    pool: &Pool<DB>,
    columns: &str,
    active_at: Option<DateTime<Utc>>,
) -> Result<Vec<HoldSummary>>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let filter = if active_at.is_some() {
        "WHERE h.lifted_at IS NULL AND (h.expires_at IS NULL OR h.expires_at > $1)"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {columns}, {TARGET_COUNT} FROM legal_holds AS h {filter} \
         ORDER BY h.review_by, h.id"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(at) = active_at {
        query = query.bind(DB::time(at));
    }
    let rows = query.fetch_all(pool).await?;
    rows.iter().map(summary_from_row).collect()
}

/// The holds with a target in `contact`, by review date.
pub(crate) async fn holds_for_contact<DB: Backend>(
    pool: &Pool<DB>,
    columns: &str,
    contact: &ContactId,
) -> Result<Vec<HoldRow>>
where
    for<'q> &'q Uuid: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let sql = format!(
        "SELECT {columns} FROM legal_holds AS h WHERE h.id IN \
             (SELECT t.hold_id FROM legal_hold_targets AS t WHERE t.contact_id = $1) \
         ORDER BY h.review_by, h.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(contact.as_uuid())
        .fetch_all(pool)
        .await?;
    rows.iter().map(hold_from_row).collect()
}

/// Lifts hold `id` on `conn` if it is active: commits with `audit` if it
/// was, rolls back if it was already lifted, and is [`Error::NotFound`] if
/// there is no such hold.
pub(crate) async fn lift<'e, DB: Backend>(
    conn: &mut DB::Connection,
    id: &Uuid,
    lift: &HoldLift,
    audit: &'e NewAuditEvent,
) -> Result<Audited<'e, bool>>
where
    for<'q> &'q Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let lifted = sqlx::query(
        "UPDATE legal_holds SET lifted_at = $1, lifted_by = $2, lift_reason = $3 \
         WHERE id = $4 AND lifted_at IS NULL",
    )
    .bind(DB::time(lift.at))
    .bind(lift.by.as_uuid())
    .bind(lift.reason.as_str())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if DB::rows_affected(&lifted) > 0 {
        return Ok(Audited::commit(true, [audit]));
    }
    let found = sqlx::query("SELECT 1 FROM legal_holds WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    match found {
        Some(_) => Ok(Audited::roll_back(false)),
        None => Err(Error::NotFound),
    }
}

/// Sets hold `id`'s review date, clearing its reminder; [`Error::NotFound`]
/// if there is no such hold.
pub(crate) async fn set_review<DB: Backend>(
    conn: &mut DB::Connection,
    id: &Uuid,
    review_by: DateTime<Utc>,
) -> Result<()>
where
    for<'q> &'q Uuid: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let changed =
        sqlx::query("UPDATE legal_holds SET review_by = $1, reminded_at = NULL WHERE id = $2")
            .bind(DB::time(review_by))
            .bind(id)
            .execute(conn)
            .await?;
    DB::found_one(&changed)
}

/// Records that hold `id`'s review reminder went out at `at`;
/// [`Error::NotFound`] if there is no such hold.
pub(crate) async fn mark_reminded<DB: Backend>(
    conn: &mut DB::Connection,
    id: &Uuid,
    at: DateTime<Utc>,
) -> Result<()>
where
    for<'q> &'q Uuid: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let changed = sqlx::query("UPDATE legal_holds SET reminded_at = $1 WHERE id = $2")
        .bind(DB::time(at))
        .bind(id)
        .execute(conn)
        .await?;
    DB::found_one(&changed)
}

/// A [`HoldRow`] from the adapter's hold columns (or columns of the same
/// names).
pub(crate) fn hold_from_row<R>(row: &R) -> Result<HoldRow>
where
    R: Row<Database: Backend<Row = R>>,
{
    type Db<R> = <R as Row>::Database;
    Ok(HoldRow {
        id: Db::<R>::get_uuid(row, "id")?,
        ground_kind: Db::<R>::get_text(row, "ground_kind")?,
        ground: Db::<R>::get_text(row, "ground")?,
        owner: UserId::from_uuid(Db::<R>::get_uuid(row, "owner")?),
        review_by: Db::<R>::get_time(row, "review_by")?,
        expires_at: Db::<R>::get_opt_time(row, "expires_at")?,
        scope: crate::codec::json(&Db::<R>::get_text(row, "scope")?, "scope")?,
        created_at: Db::<R>::get_time(row, "created_at")?,
        created_by: UserId::from_uuid(Db::<R>::get_uuid(row, "created_by")?),
        lifted_at: Db::<R>::get_opt_time(row, "lifted_at")?,
        lifted_by: Db::<R>::get_opt_uuid(row, "lifted_by")?.map(UserId::from_uuid),
        lift_reason: Db::<R>::get_opt_text(row, "lift_reason")?,
        reminded_at: Db::<R>::get_opt_time(row, "reminded_at")?,
    })
}

/// A [`HoldSummary`]: the hold's columns and its target count, `targets`.
pub(crate) fn summary_from_row<R>(row: &R) -> Result<HoldSummary>
where
    R: Row<Database: Backend<Row = R>>,
{
    Ok(HoldSummary {
        hold: hold_from_row(row)?,
        targets: <R::Database as Backend>::get_count(row, "targets")?,
    })
}

/// A [`TombstoneRow`] from the tombstone columns, by name.
pub(crate) fn tombstone_from_row<R>(row: &R) -> Result<TombstoneRow>
where
    R: Row<Database: Backend<Row = R>>,
{
    type Db<R> = <R as Row>::Database;
    Ok(TombstoneRow {
        id: Db::<R>::get_uuid(row, "id")?,
        contact_id: ContactId::from_uuid(Db::<R>::get_uuid(row, "contact_id")?),
        kind: Db::<R>::get_text(row, "kind")?,
        rule: Db::<R>::get_text(row, "rule")?,
        reason: Db::<R>::get_text(row, "reason")?,
        sha256: Db::<R>::get_opt_text(row, "sha256")?,
        retain_until: Db::<R>::get_time(row, "retain_until")?,
        deleted_at: Db::<R>::get_time(row, "deleted_at")?,
        ledgered_at: Db::<R>::get_opt_time(row, "ledgered_at")?,
        storage_deleted_at: Db::<R>::get_opt_time(row, "storage_deleted_at")?,
    })
}
