//! [`RetentionStore`] on PostgreSQL: legal holds, the purge's queries and
//! one-way steps, tombstones — the same behaviour as `sqlite::retention`,
//! which explains the shape; the contract tests run against both.
//!
//! What differs from SQLite:
//! * Batches travel as arrays (`unnest`, `= ANY`), one statement per
//!   [`CHUNK`] rows whatever the row's width, and one round trip each.
//! * Every audited write runs in `write_audited` (whose transaction takes
//!   the audit lock first, in `begin_write`), so writes that
//!   re-check "expired and unheld" queue behind a hold being placed and see
//!   it once it commits (read committed: each statement sees every commit
//!   made before it started). An erasure also locks its contacts' rows
//!   (`FOR UPDATE`) before re-checking for uploads in flight: a pending
//!   upload's insert holds a key-share lock on its contact until it
//!   commits, so the re-check waits for it and then sees it.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kirjuri_core::ids::{ContactId, ObjectId, UserId};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use super::codec::{get_count, opt_ts, ts, write_error};
use super::{PostgresStore, contacts, objects};
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

/// Rows per statement of a batch.
const CHUNK: usize = 10_000;

/// The nil uuid, which stands for "the whole contact" in the targets'
/// unique index and in their order.
const WHOLE: &str = "'00000000-0000-0000-0000-000000000000'::uuid";

/// Whether an active hold keeps the object `o`, up to the instant's
/// parameter (the caller binds the instant and closes with `))`). A target
/// keeps its contact's object when it names the whole contact, the object,
/// or the object's source.
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
    h.owner AS owner, h.review_by AS review_by, h.expires_at AS expires_at, \
    h.scope::text AS scope, h.created_at AS created_at, h.created_by AS created_by, \
    h.lifted_at AS lifted_at, h.lifted_by AS lifted_by, h.lift_reason AS lift_reason, \
    h.reminded_at AS reminded_at";

/// The columns of a [`TombstoneRow`].
const TOMBSTONE_COLUMNS: &str = "id, contact_id, kind, rule, reason, sha256, retain_until, \
    deleted_at, ledgered_at, storage_deleted_at";

#[async_trait]
impl RetentionStore for PostgresStore {
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
             VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13)",
            )
            .bind(hold.id)
            .bind(hold.ground_kind.as_str())
            .bind(hold.ground.as_str())
            .bind(hold.owner.as_uuid())
            .bind(ts(hold.review_by))
            .bind(opt_ts(hold.expires_at))
            .bind(hold.scope.to_string())
            .bind(ts(hold.created_at))
            .bind(hold.created_by.as_uuid())
            .bind(opt_ts(hold.lifted_at))
            .bind(hold.lifted_by.as_ref().map(UserId::as_uuid))
            .bind(hold.lift_reason.as_deref())
            .bind(opt_ts(hold.reminded_at))
            .execute(&mut *tx)
            .await
            .map_err(|err| write_error(err, &[("legal_holds_pkey", "hold id")], "hold"))?;

            let targets = distinct_targets(targets);
            for chunk in targets.chunks(CHUNK) {
                let contact_ids: Vec<Uuid> =
                    chunk.iter().map(|t| *t.contact_id.as_uuid()).collect();
                let object_ids: Vec<Option<Uuid>> = chunk
                    .iter()
                    .map(|t| t.object_id.map(|id| *id.as_uuid()))
                    .collect();
                let inserted = sqlx::query(
                    "INSERT INTO legal_hold_targets (hold_id, contact_id, object_id) \
                 SELECT $1, v.contact_id, v.object_id \
                 FROM unnest($2::uuid[], $3::uuid[]) AS v(contact_id, object_id) \
                 WHERE EXISTS (SELECT 1 FROM contacts AS c WHERE c.id = v.contact_id) \
                   AND (v.object_id IS NULL OR EXISTS (SELECT 1 FROM objects AS o \
                        WHERE o.id = v.object_id AND o.contact_id = v.contact_id))",
                )
                .bind(hold.id)
                .bind(contact_ids)
                .bind(object_ids)
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
        let mut query = QueryBuilder::<Postgres>::new(
            "SELECT contact_id, object_id FROM legal_hold_targets WHERE hold_id = ",
        );
        query.push_bind(*id);
        if let Some(after) = after {
            query
                .push(format!(
                    " AND (contact_id, coalesce(object_id, {WHOLE})) > ("
                ))
                .push_bind(*after.contact_id.as_uuid())
                .push(", ")
                .push_bind(after.object_id.map_or(Uuid::nil(), |id| *id.as_uuid()))
                .push(")");
        }
        query
            .push(format!(
                " ORDER BY contact_id, coalesce(object_id, {WHOLE}) LIMIT "
            ))
            .push_bind(i64::from(limit));
        let rows = query.build().fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| {
                let object: Option<Uuid> = row.try_get("object_id")?;
                Ok(HoldTarget {
                    contact_id: ContactId::from_uuid(row.try_get("contact_id")?),
                    object_id: object.map(ObjectId::from_uuid),
                })
            })
            .collect()
    }

    async fn holds_for_contact(&self, contact: &ContactId) -> Result<Vec<HoldRow>> {
        retention_sql::holds_for_contact(self.pool(), HOLD_COLUMNS, contact).await
    }

    #[tracing::instrument(skip_all, fields(hold_id = %id))]
    async fn lift_hold(&self, id: &Uuid, lift: &HoldLift, audit: &NewAuditEvent) -> Result<bool> {
        self.write_audited_if(async |tx| retention_sql::lift::<Postgres>(tx, id, lift, audit).await)
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
            retention_sql::set_review::<Postgres>(tx, id, review_by).await
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
            retention_sql::mark_reminded::<Postgres>(tx, id, at).await
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
                let ids: Vec<Uuid> = chunk.iter().map(|shred| shred.tombstone.id).collect();
                // The re-check is in the delete itself, so nothing can change in
                // between.
                let mut query =
                    QueryBuilder::<Postgres>::new("DELETE FROM objects AS o WHERE o.id = ANY(");
                query.push_bind(ids).push("::uuid[])");
                if let ShredMode::Expired { now } = mode {
                    query
                        .push(" AND o.retain_until <= ")
                        .push_bind(ts(now))
                        .push(" AND NOT ")
                        .push(HELD_OBJECT)
                        .push_bind(ts(now))
                        .push("))");
                }
                query.push(" RETURNING o.id");
                let rows = query.build().fetch_all(&mut *tx).await?;
                for row in &rows {
                    deleted.insert(row.try_get::<Uuid, _>("id")?);
                }
            }
            let done = in_input_order(shreds, &deleted);
            let tombstones: Vec<TombstoneRow> =
                done.iter().map(|shred| shred.tombstone.clone()).collect();
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
                let ids: Vec<Uuid> = chunk.iter().map(|shred| shred.tombstone.id).collect();
                let at: Vec<DateTime<Utc>> = chunk
                    .iter()
                    .map(|shred| ts(shred.tombstone.deleted_at))
                    .collect();
                // In id order, so two erasures of overlapping batches cannot
                // deadlock (they queue on the audit lock anyway).
                sqlx::query("SELECT 1 FROM contacts WHERE id = ANY($1) ORDER BY id FOR UPDATE")
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await?;
                let mut query = QueryBuilder::<Postgres>::new(
                    "UPDATE contacts AS c SET sealed_document = ''::bytea, \
                         document_key = ''::bytea, erased_at = v.at FROM unnest(",
                );
                query.push_bind(ids).push("::uuid[], ").push_bind(at).push(
                    "::timestamptz[]) AS v(id, at) \
                         WHERE c.id = v.id AND c.erased_at IS NULL",
                );
                if let ShredMode::Expired { now } = mode {
                    query
                        .push(" AND c.retain_until <= ")
                        .push_bind(ts(now))
                        .push(" AND NOT ")
                        .push(HELD_CONTACT)
                        .push_bind(ts(now))
                        .push("))")
                        .push(
                            " AND NOT EXISTS (SELECT 1 FROM pending_objects AS p \
                                 WHERE p.contact_id = c.id) \
                             AND NOT EXISTS (SELECT 1 FROM objects AS o \
                                 WHERE o.contact_id = c.id)",
                        );
                }
                query.push(" RETURNING c.id");
                let rows = query.build().fetch_all(&mut *tx).await?;
                for row in &rows {
                    erased.insert(row.try_get::<Uuid, _>("id")?);
                }
            }
            let done: Vec<&Shred> = unique
                .into_iter()
                .filter(|shred| erased.contains(&shred.tombstone.id))
                .collect();

            for chunk in done.chunks(CHUNK) {
                let ids: Vec<Uuid> = chunk.iter().map(|shred| shred.tombstone.id).collect();
                sqlx::query("DELETE FROM contact_index WHERE contact_id = ANY($1)")
                    .bind(ids)
                    .execute(&mut *tx)
                    .await?;
            }
            let tombstones: Vec<TombstoneRow> =
                done.iter().map(|shred| contact_tombstone(shred)).collect();
            insert_tombstones(tx, &tombstones).await?;
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
             ORDER BY deleted_at, id LIMIT $1"
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
        // Only where still NULL: the first time a step was done stays the
        // time it was done.
        let sql = match step {
            TombstoneStep::Ledgered => {
                "UPDATE tombstones SET ledgered_at = $1 \
                 WHERE id = ANY($2) AND ledgered_at IS NULL"
            }
            TombstoneStep::StorageDeleted => {
                "UPDATE tombstones SET storage_deleted_at = $1 \
                 WHERE id = ANY($2) AND storage_deleted_at IS NULL"
            }
        };
        let mut tx = self.pool().begin().await?;
        for chunk in ids.chunks(CHUNK) {
            sqlx::query(sql)
                .bind(ts(at))
                .bind(chunk)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn tombstones_for_contact(&self, contact: &ContactId) -> Result<Vec<TombstoneRow>> {
        let sql = format!(
            "SELECT {TOMBSTONE_COLUMNS} FROM tombstones WHERE contact_id = $1 \
             ORDER BY deleted_at, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(contact.as_uuid())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(tombstone_from_row).collect()
    }

    async fn tombstone(&self, id: &Uuid) -> Result<Option<TombstoneRow>> {
        let sql = format!("SELECT {TOMBSTONE_COLUMNS} FROM tombstones WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(tombstone_from_row)
            .transpose()
    }

    async fn count_tombstones(&self) -> Result<u64> {
        let row = sqlx::query("SELECT count(*) AS n FROM tombstones")
            .fetch_one(self.pool())
            .await?;
        get_count(&row, "n")
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
                    id: row.try_get("id")?,
                    contact_id: ContactId::from_uuid(row.try_get("contact_id")?),
                    kind: row.try_get("kind")?,
                    retain_until: row.try_get("retain_until")?,
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
        // A policy change can touch millions of rows: one statement per
        // table and chunk.
        let earliest = earliest_deadlines(changes);
        self.write_audited(audit, async |tx| {
            let mut changed = 0;
            for (table, contact) in [("objects", false), ("contacts", true)] {
                let rows: Vec<(Uuid, DateTime<Utc>)> = earliest
                    .iter()
                    .filter(|((is_contact, _), _)| *is_contact == contact)
                    .map(|((_, id), at)| (*id, ts(*at)))
                    .collect();
                // The guard `retain_until > new` is what makes this lower-only.
                let sql = format!(
                    "UPDATE {table} AS x SET retain_until = v.at \
                 FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, at) \
                 WHERE x.id = v.id AND x.retain_until > v.at"
                );
                for chunk in rows.chunks(CHUNK) {
                    let ids: Vec<Uuid> = chunk.iter().map(|(id, _)| *id).collect();
                    let at: Vec<DateTime<Utc>> = chunk.iter().map(|(_, at)| *at).collect();
                    let done = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                        .bind(ids)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    changed += done.rows_affected();
                }
            }
            Ok(changed)
        })
        .await
    }
}

/// Inserts tombstones, keeping any that already exists (a replay of the
/// ledger finds the tombstones a restored database already has).
async fn insert_tombstones(conn: &mut PgConnection, tombstones: &[TombstoneRow]) -> Result<()> {
    for chunk in tombstones.chunks(CHUNK) {
        let ids: Vec<Uuid> = chunk.iter().map(|t| t.id).collect();
        let contact_ids: Vec<Uuid> = chunk.iter().map(|t| *t.contact_id.as_uuid()).collect();
        let kinds: Vec<&str> = chunk.iter().map(|t| t.kind.as_str()).collect();
        let rules: Vec<&str> = chunk.iter().map(|t| t.rule.as_str()).collect();
        let reasons: Vec<&str> = chunk.iter().map(|t| t.reason.as_str()).collect();
        let digests: Vec<Option<&str>> = chunk.iter().map(|t| t.sha256.as_deref()).collect();
        let retain_until: Vec<DateTime<Utc>> = chunk.iter().map(|t| ts(t.retain_until)).collect();
        let deleted_at: Vec<DateTime<Utc>> = chunk.iter().map(|t| ts(t.deleted_at)).collect();
        let ledgered_at: Vec<Option<DateTime<Utc>>> =
            chunk.iter().map(|t| opt_ts(t.ledgered_at)).collect();
        let storage_deleted_at: Vec<Option<DateTime<Utc>>> =
            chunk.iter().map(|t| opt_ts(t.storage_deleted_at)).collect();
        sqlx::query(
            "INSERT INTO tombstones (id, contact_id, kind, rule, reason, sha256, retain_until, \
                 deleted_at, ledgered_at, storage_deleted_at) \
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], \
                 $6::text[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], \
                 $10::timestamptz[]) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(ids)
        .bind(contact_ids)
        .bind(kinds)
        .bind(rules)
        .bind(reasons)
        .bind(digests)
        .bind(retain_until)
        .bind(deleted_at)
        .bind(ledgered_at)
        .bind(storage_deleted_at)
        .execute(&mut *conn)
        .await
        .map_err(|err| write_error(err, &[], "tombstone"))?;
    }
    Ok(())
}

/// The expired, unheld objects query, after `head` (empty, or `EXPLAIN `
/// in tests).
fn expired_objects_query(
    head: &str,
    now: DateTime<Utc>,
    after: Option<(DateTime<Utc>, ObjectId)>,
    limit: u32,
) -> QueryBuilder<Postgres> {
    let mut query = QueryBuilder::new(format!(
        "{head}SELECT {} FROM objects AS o WHERE o.retain_until <= ",
        objects::COLUMNS
    ));
    query.push_bind(ts(now));
    if let Some((retain_until, id)) = after {
        query
            .push(" AND (o.retain_until, o.id) > (")
            .push_bind(ts(retain_until))
            .push(", ")
            .push_bind(*id.as_uuid())
            .push(")");
    }
    query
        .push(" AND NOT ")
        .push(HELD_OBJECT)
        .push_bind(ts(now))
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
) -> QueryBuilder<Postgres> {
    let mut query = QueryBuilder::new(format!(
        "{head}SELECT {} FROM contacts AS c WHERE c.erased_at IS NULL AND c.retain_until <= ",
        contacts::COLUMNS
    ));
    query.push_bind(ts(now));
    if let Some((retain_until, id)) = after {
        query
            .push(" AND (c.retain_until, c.id) > (")
            .push_bind(ts(retain_until))
            .push(", ")
            .push_bind(*id.as_uuid())
            .push(")");
    }
    // Not held means none of its objects is held either (every target names
    // its contact), so what remains of its objects needs only be expired.
    query
        .push(" AND NOT ")
        .push(HELD_CONTACT)
        .push_bind(ts(now))
        .push("))")
        .push(" AND NOT EXISTS (SELECT 1 FROM pending_objects AS p WHERE p.contact_id = c.id)")
        .push(
            " AND NOT EXISTS (SELECT 1 FROM objects AS o WHERE o.contact_id = c.id \
             AND o.retain_until > ",
        )
        .push_bind(ts(now))
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
) -> QueryBuilder<Postgres> {
    let mut query = QueryBuilder::new(format!(
        "{head}SELECT id, contact_id, kind, retain_until, held FROM (\
         (SELECT o.id AS id, o.contact_id AS contact_id, o.kind AS kind, \
             o.retain_until AS retain_until, "
    ));
    query
        .push(HELD_OBJECT)
        .push_bind(ts(from))
        .push(")) AS held FROM objects AS o WHERE o.retain_until > ")
        .push_bind(ts(from))
        .push(" AND o.retain_until <= ")
        .push_bind(ts(until))
        .push(" ORDER BY o.retain_until, o.id LIMIT ")
        .push_bind(i64::from(limit))
        .push(
            ") UNION ALL (SELECT c.id AS id, c.id AS contact_id, \
                 'contact' AS kind, c.retain_until AS retain_until, ",
        )
        .push(HELD_CONTACT)
        .push_bind(ts(from))
        .push(")) AS held FROM contacts AS c WHERE c.erased_at IS NULL AND c.retain_until > ")
        .push_bind(ts(from))
        .push(" AND c.retain_until <= ")
        .push_bind(ts(until))
        .push(" ORDER BY c.retain_until, c.id LIMIT ")
        .push_bind(i64::from(limit))
        .push(")) AS d ORDER BY retain_until, id LIMIT ")
        .push_bind(i64::from(limit));
    query
}
