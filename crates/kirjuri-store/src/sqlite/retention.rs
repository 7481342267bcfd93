//! [`RetentionStore`] on SQLite: legal holds, the purge's queries and
//! one-way steps, tombstones.
//!
//! Two things shape the SQL here:
//! * **"Held" is one predicate**, written once per subject (`HELD_OBJECT`,
//!   `HELD_CONTACT`) and used by every query and every re-check, so the
//!   dry run, the purge and the deadline listing cannot disagree about it.
//!   It is a lookup in `legal_hold_targets_by_contact`, per row.
//! * **Batches are a few statements, not a few per item**: the purge shreds
//!   up to ten thousand objects per call, so deletes, tombstones and index
//!   removals go in multi-row statements of [`CHUNK`] rows (SQLite's
//!   statement cache keeps them prepared), and so do the audit events
//!   (the audit module's `insert_all`, in input order).
//!
//! Every audited write runs in `write_audited`: it takes the write lock
//! first (`BEGIN IMMEDIATE`) and appends its audit events in the same
//! transaction.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kirjuri_core::ids::{ContactId, ObjectId, UserId};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use uuid::Uuid;

use super::codec::write_error;
use super::codec::{get_opt_uuid, get_time, get_uuid, micros, opt_micros};
use super::{SqliteStore, contacts, objects};
use crate::audited::Audited;
use crate::error::{Error, Result};
use crate::model::{ContactRow, NewAuditEvent, ObjectRow};
use crate::retention::{
    Deadline, DeadlineChange, HoldLift, HoldRow, HoldSummary, HoldTarget, RetentionStore, Shred,
    ShredMode, TombstoneRow, TombstoneStep,
};
use crate::retention::{
    contact_tombstone, distinct_targets, earliest_deadlines, first_of_each, in_input_order,
};
use crate::retention_sql;
pub(super) use crate::retention_sql::{hold_from_row, tombstone_from_row};

/// Rows per multi-row statement: at most 10 parameters a row, far below
/// SQLite's limit of 32 766 parameters, and large enough that a batch of ten
/// thousand is twenty statements.
const CHUNK: usize = 500;

/// Whether an active hold keeps the object `o`, up to the instant's
/// parameter (the caller binds the instant and closes with `))`). A target keeps its contact's
/// object when it names the whole contact, the object, or the object's
/// source.
const HELD_OBJECT: &str = "EXISTS (SELECT 1 FROM legal_hold_targets AS t \
    JOIN legal_holds AS h ON h.id = t.hold_id \
    WHERE t.contact_id = o.contact_id \
      AND (t.object_id IS NULL OR t.object_id = o.id OR t.object_id = o.source_id) \
      AND h.lifted_at IS NULL AND (h.expires_at IS NULL OR h.expires_at > ";

/// Whether an active hold keeps the contact `c` or any of its objects, up
/// to the instant's parameter.
const HELD_CONTACT: &str = "EXISTS (SELECT 1 FROM legal_hold_targets AS t \
    JOIN legal_holds AS h ON h.id = t.hold_id \
    WHERE t.contact_id = c.id \
      AND h.lifted_at IS NULL AND (h.expires_at IS NULL OR h.expires_at > ";

/// The columns of a [`HoldRow`] from the table aliased `h`.
const HOLD_COLUMNS: &str = "h.id AS id, h.ground_kind AS ground_kind, h.ground AS ground, \
    h.owner AS owner, h.review_by AS review_by, h.expires_at AS expires_at, h.scope AS scope, \
    h.created_at AS created_at, h.created_by AS created_by, h.lifted_at AS lifted_at, \
    h.lifted_by AS lifted_by, h.lift_reason AS lift_reason, h.reminded_at AS reminded_at";

/// The columns of a [`TombstoneRow`].
const TOMBSTONE_COLUMNS: &str = "id, contact_id, kind, rule, reason, sha256, retain_until, \
    deleted_at, ledgered_at, storage_deleted_at";

#[async_trait]
impl RetentionStore for SqliteStore {
    async fn flush_erasures(&self) -> Result<()> {
        // Retried by the next purge if a reader keeps the log busy now.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(self.pool())
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(hold_id = %hold.id, targets = targets.len()))]
    async fn insert_hold(
        &self,
        hold: &HoldRow,
        targets: &[HoldTarget],
        audit: &NewAuditEvent,
    ) -> Result<()> {
        self.write_audited([audit], async |tx| {
            sqlx::query(
                "INSERT INTO legal_holds (id, ground_kind, ground, owner, review_by, expires_at, \
                 scope, created_at, created_by, lifted_at, lifted_by, lift_reason, reminded_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(hold.id)
            .bind(hold.ground_kind.as_str())
            .bind(hold.ground.as_str())
            .bind(hold.owner.as_uuid())
            .bind(micros(hold.review_by))
            .bind(opt_micros(hold.expires_at))
            .bind(hold.scope.to_string())
            .bind(micros(hold.created_at))
            .bind(hold.created_by.as_uuid())
            .bind(opt_micros(hold.lifted_at))
            .bind(hold.lifted_by.as_ref().map(UserId::as_uuid))
            .bind(hold.lift_reason.as_deref())
            .bind(opt_micros(hold.reminded_at))
            .execute(&mut *tx)
            .await
            .map_err(|err| write_error(err, &[("legal_holds.id", "hold id")], "hold"))?;

            let targets = distinct_targets(targets);
            for chunk in targets.chunks(CHUNK) {
                let mut query = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO legal_hold_targets (hold_id, contact_id, object_id) \
                 SELECT ",
                );
                query
                    .push_bind(hold.id)
                    .push(" , v.column1, v.column2 FROM (VALUES ");
                let mut rows = query.separated(", ");
                for target in chunk {
                    rows.push("(")
                        .push_bind_unseparated(*target.contact_id.as_uuid())
                        .push_unseparated(", ")
                        .push_bind_unseparated(target.object_id.map(|id| *id.as_uuid()))
                        .push_unseparated(")");
                }
                query.push(
                    ") AS v \
                 WHERE EXISTS (SELECT 1 FROM contacts WHERE contacts.id = v.column1) \
                   AND (v.column2 IS NULL OR EXISTS (SELECT 1 FROM objects \
                        WHERE objects.id = v.column2 AND objects.contact_id = v.column1))",
                );
                let inserted = query
                    .build()
                    .execute(&mut *tx)
                    .await
                    .map_err(|err| write_error(err, &[], "hold target"))?;
                if inserted.rows_affected() != chunk.len() as u64 {
                    // Dropping the transaction rolls back the hold and its targets.
                    return Err(Error::NotFound);
                }
            }
            Ok(())
        })
        .await
    }

    async fn hold(&self, id: &Uuid) -> Result<Option<HoldSummary>> {
        retention_sql::hold(self.pool(), HOLD_COLUMNS, id).await
    }

    async fn holds(&self, active_at: Option<DateTime<Utc>>) -> Result<Vec<HoldSummary>> {
        retention_sql::holds(self.pool(), HOLD_COLUMNS, active_at).await
    }

    async fn hold_targets(
        &self,
        id: &Uuid,
        after: Option<HoldTarget>,
        limit: u32,
    ) -> Result<Vec<HoldTarget>> {
        // `ifnull(object_id, x'')` sorts a whole-contact target (None) before
        // the contact's objects, as `HoldTarget`'s order does, and is the
        // unique index's own expression, so the index walks the page.
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT contact_id, object_id FROM legal_hold_targets WHERE hold_id = ",
        );
        query.push_bind(*id);
        if let Some(after) = after {
            let object: Vec<u8> = after
                .object_id
                .map_or_else(Vec::new, |object| object.as_uuid().as_bytes().to_vec());
            query
                .push(" AND (contact_id, ifnull(object_id, x'')) > (")
                .push_bind(*after.contact_id.as_uuid())
                .push(", ")
                .push_bind(object)
                .push(")");
        }
        query
            .push(" ORDER BY contact_id, ifnull(object_id, x'') LIMIT ")
            .push_bind(i64::from(limit));
        let rows = query.build().fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| {
                Ok(HoldTarget {
                    contact_id: ContactId::from_uuid(get_uuid(row, "contact_id")?),
                    object_id: get_opt_uuid(row, "object_id")?.map(ObjectId::from_uuid),
                })
            })
            .collect()
    }

    async fn holds_for_contact(&self, contact: &ContactId) -> Result<Vec<HoldRow>> {
        retention_sql::holds_for_contact(self.pool(), HOLD_COLUMNS, contact).await
    }

    #[tracing::instrument(skip_all, fields(hold_id = %id))]
    async fn lift_hold(&self, id: &Uuid, lift: &HoldLift, audit: &NewAuditEvent) -> Result<bool> {
        self.write_audited_if(async |tx| retention_sql::lift::<Sqlite>(tx, id, lift, audit).await)
            .await
    }

    #[tracing::instrument(skip_all, fields(hold_id = %id))]
    async fn set_hold_review(
        &self,
        id: &Uuid,
        review_by: DateTime<Utc>,
        audit: &NewAuditEvent,
    ) -> Result<()> {
        self.write_audited([audit], async |tx| {
            retention_sql::set_review::<Sqlite>(tx, id, review_by).await
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
        self.write_audited([audit], async |tx| {
            retention_sql::mark_reminded::<Sqlite>(tx, id, at).await
        })
        .await
    }

    async fn expired_objects(
        &self,
        now: DateTime<Utc>,
        after: Option<(DateTime<Utc>, ObjectId)>,
        limit: u32,
    ) -> Result<Vec<ObjectRow>> {
        let mut query = expired_objects_query("", now, after, limit);
        let rows = query.build().fetch_all(self.pool()).await?;
        rows.iter().map(objects::from_row).collect()
    }

    async fn expired_contacts(
        &self,
        now: DateTime<Utc>,
        after: Option<(DateTime<Utc>, ContactId)>,
        limit: u32,
    ) -> Result<Vec<ContactRow>> {
        let mut query = expired_contacts_query("", now, after, limit);
        let rows = query.build().fetch_all(self.pool()).await?;
        rows.iter().map(contacts::from_row).collect()
    }

    #[tracing::instrument(skip_all, fields(shreds = shreds.len()))]
    async fn shred_objects(&self, shreds: &[Shred], mode: ShredMode) -> Result<Vec<ObjectId>> {
        if shreds.is_empty() {
            return Ok(Vec::new());
        }
        self.write_audited_if(async |tx| {
            let mut deleted = HashSet::with_capacity(shreds.len());
            for chunk in shreds.chunks(CHUNK) {
                let ids = chunk.iter().map(|shred| shred.tombstone.id);
                let rows = shred_query("", ids, mode)
                    .build()
                    .fetch_all(&mut *tx)
                    .await?;
                for row in &rows {
                    deleted.insert(get_uuid(row, "id")?);
                }
            }
            let done = in_input_order(shreds, &deleted);
            let tombstones: Vec<&TombstoneRow> =
                done.iter().map(|shred| &shred.tombstone).collect();
            insert_tombstones(tx, &tombstones).await?;
            let ids = done
                .iter()
                .map(|shred| ObjectId::from_uuid(shred.tombstone.id))
                .collect();
            Ok(Audited::commit(ids, done.iter().map(|shred| &shred.audit)))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(shreds = shreds.len()))]
    async fn erase_contacts(&self, shreds: &[Shred], mode: ShredMode) -> Result<Vec<ContactId>> {
        // One row per contact: an `UPDATE … FROM` matching a contact twice
        // would take either row's time.
        let unique = first_of_each(shreds);
        if unique.is_empty() {
            return Ok(Vec::new());
        }
        self.write_audited_if(async |tx| {
            let mut erased = HashSet::with_capacity(unique.len());
            for chunk in unique.chunks(CHUNK) {
                let rows = chunk
                    .iter()
                    .map(|shred| (shred.tombstone.id, shred.tombstone.deleted_at));
                let rows = erase_query("", rows, mode)
                    .build()
                    .fetch_all(&mut *tx)
                    .await?;
                for row in &rows {
                    erased.insert(get_uuid(row, "id")?);
                }
            }
            let done: Vec<&Shred> = unique
                .into_iter()
                .filter(|shred| erased.contains(&shred.tombstone.id))
                .collect();

            for chunk in done.chunks(CHUNK) {
                let mut query =
                    QueryBuilder::<Sqlite>::new("DELETE FROM contact_index WHERE contact_id IN (");
                let mut ids = query.separated(", ");
                for shred in chunk {
                    ids.push_bind(shred.tombstone.id);
                }
                query.push(")");
                query.build().execute(&mut *tx).await?;
            }
            let tombstones: Vec<TombstoneRow> =
                done.iter().map(|shred| contact_tombstone(shred)).collect();
            insert_tombstones(tx, &tombstones.iter().collect::<Vec<_>>()).await?;
            let ids = done
                .iter()
                .map(|shred| ContactId::from_uuid(shred.tombstone.id))
                .collect();
            Ok(Audited::commit(ids, done.iter().map(|shred| &shred.audit)))
        })
        .await
    }

    async fn unfinished_tombstones(&self, limit: u32) -> Result<Vec<TombstoneRow>> {
        // The WHERE is the partial index's own, so the index serves it in order.
        let sql = format!(
            "SELECT {TOMBSTONE_COLUMNS} FROM tombstones \
             WHERE ledgered_at IS NULL OR storage_deleted_at IS NULL \
             ORDER BY deleted_at, id LIMIT ?"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(tombstone_from_row).collect()
    }

    async fn mark_tombstones(
        &self,
        ids: &[Uuid],
        step: TombstoneStep,
        at: DateTime<Utc>,
    ) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let column = match step {
            TombstoneStep::Ledgered => "ledgered_at",
            TombstoneStep::StorageDeleted => "storage_deleted_at",
        };
        let mut tx = self.begin_write().await?;
        for chunk in ids.chunks(CHUNK) {
            // Only where still NULL: the first time a step was done stays
            // the time it was done.
            let mut query =
                QueryBuilder::<Sqlite>::new(format!("UPDATE tombstones SET {column} = "));
            query.push_bind(micros(at)).push(" WHERE id IN (");
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            query.push(format!(") AND {column} IS NULL"));
            query.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn tombstones_for_contact(&self, contact: &ContactId) -> Result<Vec<TombstoneRow>> {
        let sql = format!(
            "SELECT {TOMBSTONE_COLUMNS} FROM tombstones WHERE contact_id = ? \
             ORDER BY deleted_at, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(contact.as_uuid())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(tombstone_from_row).collect()
    }

    async fn tombstone(&self, id: &Uuid) -> Result<Option<TombstoneRow>> {
        let sql = format!("SELECT {TOMBSTONE_COLUMNS} FROM tombstones WHERE id = ?");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(tombstone_from_row)
            .transpose()
    }

    async fn count_tombstones(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tombstones")
            .fetch_one(self.pool())
            .await?;
        u64::try_from(n).map_err(|_| Error::Corrupt("count(tombstones): negative".into()))
    }

    async fn upcoming_deadlines(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Deadline>> {
        let mut query = upcoming_query("", from, until, limit);
        let rows = query.build().fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| {
                Ok(Deadline {
                    id: get_uuid(row, "id")?,
                    contact_id: ContactId::from_uuid(get_uuid(row, "contact_id")?),
                    kind: row.try_get("kind")?,
                    retain_until: get_time(row, "retain_until")?,
                    held: row.try_get("held")?,
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
        let earliest = earliest_deadlines(changes);
        self.write_audited(audit, async |tx| {
            let mut changed = 0;
            for ((contact, id), at) in earliest {
                // The guard `retain_until > new` is what makes this lower-only.
                let sql = if contact {
                    "UPDATE contacts SET retain_until = ?1 WHERE id = ?2 AND retain_until > ?1"
                } else {
                    "UPDATE objects SET retain_until = ?1 WHERE id = ?2 AND retain_until > ?1"
                };
                let done = sqlx::query(sql)
                    .bind(micros(at))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                changed += done.rows_affected();
            }
            Ok(changed)
        })
        .await
    }
}

/// Inserts tombstones, keeping any that already exists (a replay of the
/// ledger finds the tombstones a restored database already has).
async fn insert_tombstones(
    conn: &mut SqliteConnection,
    tombstones: &[&TombstoneRow],
) -> Result<()> {
    for chunk in tombstones.chunks(CHUNK) {
        let mut query =
            QueryBuilder::<Sqlite>::new(format!("INSERT INTO tombstones ({TOMBSTONE_COLUMNS}) "));
        query.push_values(chunk, |mut row, tombstone| {
            row.push_bind(tombstone.id)
                .push_bind(*tombstone.contact_id.as_uuid())
                .push_bind(tombstone.kind.clone())
                .push_bind(tombstone.rule.clone())
                .push_bind(tombstone.reason.clone())
                .push_bind(tombstone.sha256.clone())
                .push_bind(micros(tombstone.retain_until))
                .push_bind(micros(tombstone.deleted_at))
                .push_bind(opt_micros(tombstone.ledgered_at))
                .push_bind(opt_micros(tombstone.storage_deleted_at));
        });
        query.push(" ON CONFLICT (id) DO NOTHING");
        query
            .build()
            .execute(&mut *conn)
            .await
            .map_err(|err| write_error(err, &[], "tombstone"))?;
    }
    Ok(())
}

/// Deletes the objects `ids` that `mode` allows, returning the ids deleted;
/// after `head` (empty, or `EXPLAIN QUERY PLAN ` in tests). The re-check is
/// in the delete itself, so nothing can change in between. The unary `+`
/// keeps the deadline index out of it: with an index on both terms,
/// SQLite's planner may walk every expired object per chunk instead of
/// looking the chunk's ids up.
fn shred_query(
    head: &str,
    ids: impl Iterator<Item = Uuid>,
    mode: ShredMode,
) -> QueryBuilder<Sqlite> {
    let mut query = QueryBuilder::new(format!("{head}DELETE FROM objects AS o WHERE o.id IN ("));
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(id);
    }
    query.push(")");
    if let ShredMode::Expired { now } = mode {
        query
            .push(" AND +o.retain_until <= ")
            .push_bind(micros(now))
            .push(" AND NOT ")
            .push(HELD_OBJECT)
            .push_bind(micros(now))
            .push("))");
    }
    query.push(" RETURNING id");
    query
}

/// Erases the contacts of `rows` (id, erasure time) that `mode` allows and
/// are not yet erased, returning the ids erased; after `head`. As in
/// [`shred_query`], unary `+` on the contact's columns leaves the planner
/// no index on `contacts` but the primary key, so it starts from the listed
/// ids: otherwise SQLite 3.51 walks every unerased contact (the partial
/// deadline index) per chunk — 100 µs a contact in a purge of 100 000.
fn erase_query(
    head: &str,
    rows: impl Iterator<Item = (Uuid, DateTime<Utc>)>,
    mode: ShredMode,
) -> QueryBuilder<Sqlite> {
    let mut query = QueryBuilder::new(format!(
        "{head}UPDATE contacts AS c SET sealed_document = x'', document_key = x'', \
             erased_at = v.column2 FROM (VALUES "
    ));
    let mut values = query.separated(", ");
    for (id, at) in rows {
        values
            .push("(")
            .push_bind_unseparated(id)
            .push_unseparated(", ")
            .push_bind_unseparated(micros(at))
            .push_unseparated(")");
    }
    query.push(") AS v WHERE c.id = v.column1 AND +c.erased_at IS NULL");
    if let ShredMode::Expired { now } = mode {
        query
            .push(" AND +c.retain_until <= ")
            .push_bind(micros(now))
            .push(" AND NOT ")
            .push(HELD_CONTACT)
            .push_bind(micros(now))
            .push("))")
            .push(
                " AND NOT EXISTS (SELECT 1 FROM pending_objects AS p \
                     WHERE p.contact_id = c.id) \
                 AND NOT EXISTS (SELECT 1 FROM objects AS o WHERE o.contact_id = c.id)",
            );
    }
    query.push(" RETURNING id");
    query
}

/// The expired, unheld objects query, after `head` (empty, or `EXPLAIN
/// QUERY PLAN ` in tests).
fn expired_objects_query(
    head: &str,
    now: DateTime<Utc>,
    after: Option<(DateTime<Utc>, ObjectId)>,
    limit: u32,
) -> QueryBuilder<Sqlite> {
    let mut query = QueryBuilder::new(format!(
        "{head}SELECT {} FROM objects AS o WHERE o.retain_until <= ",
        objects::COLUMNS
    ));
    query.push_bind(micros(now));
    if let Some((retain_until, id)) = after {
        query
            .push(" AND (o.retain_until, o.id) > (")
            .push_bind(micros(retain_until))
            .push(", ")
            .push_bind(*id.as_uuid())
            .push(")");
    }
    query
        .push(" AND NOT ")
        .push(HELD_OBJECT)
        .push_bind(micros(now))
        .push("))")
        .push(" ORDER BY o.retain_until, o.id LIMIT ")
        .push_bind(i64::from(limit));
    query
}

/// The contacts the purge erases at `now`, after `head`.
fn expired_contacts_query(
    head: &str,
    now: DateTime<Utc>,
    after: Option<(DateTime<Utc>, ContactId)>,
    limit: u32,
) -> QueryBuilder<Sqlite> {
    let mut query = QueryBuilder::new(format!(
        "{head}SELECT {} FROM contacts AS c WHERE c.erased_at IS NULL AND c.retain_until <= ",
        contacts::COLUMNS
    ));
    query.push_bind(micros(now));
    if let Some((retain_until, id)) = after {
        query
            .push(" AND (c.retain_until, c.id) > (")
            .push_bind(micros(retain_until))
            .push(", ")
            .push_bind(*id.as_uuid())
            .push(")");
    }
    // Not held means none of its objects is held either (every target names
    // its contact), so what remains of its objects needs only be expired.
    query
        .push(" AND NOT ")
        .push(HELD_CONTACT)
        .push_bind(micros(now))
        .push("))")
        .push(" AND NOT EXISTS (SELECT 1 FROM pending_objects AS p WHERE p.contact_id = c.id)")
        .push(" AND NOT EXISTS (SELECT 1 FROM objects AS o WHERE o.contact_id = c.id AND o.retain_until > ")
        .push_bind(micros(now))
        .push(") ORDER BY c.retain_until, c.id LIMIT ")
        .push_bind(i64::from(limit));
    query
}

/// Deadlines in `(from, until]`, after `head`: each side takes its own
/// index in order with its own limit, and the two are merged.
fn upcoming_query(
    head: &str,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: u32,
) -> QueryBuilder<Sqlite> {
    let mut query = QueryBuilder::new(format!(
        "{head}SELECT id, contact_id, kind, retain_until, held FROM (\
         SELECT * FROM (SELECT o.id AS id, o.contact_id AS contact_id, o.kind AS kind, \
             o.retain_until AS retain_until, "
    ));
    query
        .push(HELD_OBJECT)
        .push_bind(micros(from))
        .push(")) AS held FROM objects AS o WHERE o.retain_until > ")
        .push_bind(micros(from))
        .push(" AND o.retain_until <= ")
        .push_bind(micros(until))
        .push(" ORDER BY o.retain_until, o.id LIMIT ")
        .push_bind(i64::from(limit))
        .push(
            ") UNION ALL SELECT * FROM (SELECT c.id AS id, c.id AS contact_id, \
                 'contact' AS kind, c.retain_until AS retain_until, ",
        )
        .push(HELD_CONTACT)
        .push_bind(micros(from))
        .push(")) AS held FROM contacts AS c WHERE c.erased_at IS NULL AND c.retain_until > ")
        .push_bind(micros(from))
        .push(" AND c.retain_until <= ")
        .push_bind(micros(until))
        .push(" ORDER BY c.retain_until, c.id LIMIT ")
        .push_bind(i64::from(limit))
        .push(")) ORDER BY retain_until, id LIMIT ")
        .push_bind(i64::from(limit));
    query
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the line that broke"
)]
mod tests {
    //! The query plans behind the purge's speed: a dry run over ten million
    //! contacts of which few are expired must read the expired ones only.
    //! A plan that scans a table would pass every functional test and fail
    //! only at scale, so the plans themselves are asserted.

    use chrono::TimeDelta;

    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    /// The plan's detail lines, one string each.
    async fn plan(mut query: QueryBuilder<Sqlite>) -> Vec<String> {
        let store = SqliteStore::in_memory().await.unwrap();
        let rows = query.build().fetch_all(store.pool()).await.unwrap();
        rows.iter()
            .map(|row| row.get::<String, _>("detail"))
            .collect()
    }

    fn assert_no_scan_or_sort(plan: &[String]) {
        assert!(
            !plan.iter().any(|line| line.starts_with("SCAN")),
            "{plan:#?}"
        );
        assert!(
            !plan.iter().any(|line| line.contains("TEMP B-TREE")),
            "{plan:#?}"
        );
    }

    #[tokio::test]
    async fn expired_objects_walk_the_deadline_index_in_order_and_look_holds_up_by_contact() {
        for after in [None, Some((t0(), ObjectId::new_v7()))] {
            let plan = plan(expired_objects_query(
                "EXPLAIN QUERY PLAN ",
                t0(),
                after,
                100,
            ))
            .await;

            assert!(
                plan.iter()
                    .any(|line| line.starts_with("SEARCH o USING INDEX objects_by_retain_until")),
                "{plan:#?}"
            );
            assert!(
                plan.iter()
                    .any(|line| line.contains("legal_hold_targets_by_contact (contact_id=?")),
                "{plan:#?}"
            );
            assert_no_scan_or_sort(&plan);
        }
    }

    #[tokio::test]
    async fn expired_contacts_walk_the_partial_deadline_index_in_order() {
        for after in [None, Some((t0(), ContactId::new_v7()))] {
            let plan = plan(expired_contacts_query(
                "EXPLAIN QUERY PLAN ",
                t0(),
                after,
                100,
            ))
            .await;

            assert!(
                plan.iter()
                    .any(|line| line.starts_with("SEARCH c USING INDEX contacts_by_retain_until")),
                "{plan:#?}"
            );
            assert!(
                plan.iter()
                    .any(|line| line.contains("pending_objects_by_contact (contact_id=?)")),
                "{plan:#?}"
            );
            assert_no_scan_or_sort(&plan);
        }
    }

    #[tokio::test]
    async fn shredding_and_erasing_look_the_batch_up_by_id() {
        let now = ShredMode::Expired { now: t0() };
        let ids = [Uuid::now_v7(), Uuid::now_v7()];
        let shred = plan(shred_query("EXPLAIN QUERY PLAN ", ids.into_iter(), now)).await;
        let erase = plan(erase_query(
            "EXPLAIN QUERY PLAN ",
            ids.into_iter().map(|id| (id, t0())),
            now,
        ))
        .await;

        assert!(
            shred[0].starts_with("SEARCH o USING INDEX sqlite_autoindex_objects_1 (id=?)"),
            "{shred:#?}"
        );
        assert!(
            erase
                .iter()
                .any(|line| line
                    .starts_with("SEARCH c USING INDEX sqlite_autoindex_contacts_1 (id=?)")),
            "{erase:#?}"
        );
        for plan in [&shred, &erase] {
            assert!(
                !plan.iter().any(|line| line.contains("retain_until")),
                "{plan:#?}"
            );
            assert!(
                !plan
                    .iter()
                    .any(|line| line.starts_with("SCAN o") || line.starts_with("SCAN c")),
                "{plan:#?}"
            );
        }
    }

    #[tokio::test]
    async fn upcoming_deadlines_merge_two_index_walks() {
        let plan = plan(upcoming_query(
            "EXPLAIN QUERY PLAN ",
            t0(),
            t0() + TimeDelta::days(30),
            100,
        ))
        .await;

        assert!(
            plan.iter()
                .any(|line| line.contains("USING INDEX objects_by_retain_until")),
            "{plan:#?}"
        );
        assert!(
            plan.iter()
                .any(|line| line.contains("USING INDEX contacts_by_retain_until")),
            "{plan:#?}"
        );
        assert!(
            !plan
                .iter()
                .any(|line| line.starts_with("SCAN o") || line.starts_with("SCAN c")),
            "{plan:#?}"
        );
    }
}
