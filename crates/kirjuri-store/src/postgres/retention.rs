//! [`RetentionStore`](crate::RetentionStore) on PostgreSQL: what differs
//! from SQLite in the retention SQL written once in
//! [`retention_sql`](crate::retention_sql), which explains the shape; the
//! contract tests run against both.
//!
//! What differs from SQLite:
//! * Batches travel as arrays (`unnest`, `= ANY`), one statement per
//!   [`CHUNK`] rows whatever the row's width, and one round trip each.
//! * Every audited write runs in a transaction from
//!   [`PostgresStore::begin_write`], which takes the audit lock first, so
//!   writes that re-check "expired and unheld" queue behind a hold being
//!   placed and see it once it commits (read committed: each statement sees
//!   every commit made before it started). An erasure also locks its
//!   contacts' rows (`FOR UPDATE`) before re-checking for uploads in
//!   flight: a pending upload's insert holds a key-share lock on its
//!   contact until it commits, so the re-check waits for it and then sees
//!   it.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::PostgresStore;
use super::codec::{opt_ts, ts, write_error};
use crate::backend::Backend;
use crate::error::Result;
use crate::retention::{HoldTarget, Shred, ShredMode, TombstoneRow};
use crate::retention_sql::{HELD_CONTACT, RetentionSql};
pub(super) use crate::retention_sql::{hold_from_row, tombstone_from_row};

/// Rows per statement of a batch.
const CHUNK: usize = 10_000;

/// The nil uuid, which stands for "the whole contact" in the targets'
/// unique index and in their order.
const WHOLE: &str = "'00000000-0000-0000-0000-000000000000'::uuid";

impl RetentionSql for PostgresStore {
    const CHUNK: usize = CHUNK;
    const JSON_TEXT: &'static str = "::text";
    const UNINDEXED: &'static str = "";
    const BEGIN_WRITE: &'static str = "BEGIN";

    fn push_ids(query: &mut QueryBuilder<Postgres>, ids: impl IntoIterator<Item = Uuid>) {
        let ids: Vec<Uuid> = ids.into_iter().collect();
        query.push(" = ANY(").push_bind(ids).push("::uuid[])");
    }

    async fn insert_targets(
        conn: &mut PgConnection,
        hold: Uuid,
        targets: &[HoldTarget],
    ) -> Result<u64> {
        let contact_ids: Vec<Uuid> = targets.iter().map(|t| *t.contact_id.as_uuid()).collect();
        let object_ids: Vec<Option<Uuid>> = targets
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
        .bind(hold)
        .bind(contact_ids)
        .bind(object_ids)
        .execute(conn)
        .await
        .map_err(|err| write_error(err, &[], "hold target"))?;
        Ok(inserted.rows_affected())
    }

    fn hold_targets_query(
        id: Uuid,
        after: Option<HoldTarget>,
        limit: u32,
    ) -> QueryBuilder<Postgres> {
        let mut query = QueryBuilder::<Postgres>::new(
            "SELECT contact_id, object_id FROM legal_hold_targets WHERE hold_id = ",
        );
        query.push_bind(id);
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
        query
    }

    async fn erase(
        conn: &mut PgConnection,
        shreds: &[&Shred],
        mode: ShredMode,
    ) -> Result<Vec<Uuid>> {
        let ids: Vec<Uuid> = shreds.iter().map(|shred| shred.tombstone.id).collect();
        let at: Vec<DateTime<Utc>> = shreds
            .iter()
            .map(|shred| ts(shred.tombstone.deleted_at))
            .collect();
        // In id order, so two erasures of overlapping batches cannot
        // deadlock (they queue on the audit lock anyway).
        sqlx::query("SELECT 1 FROM contacts WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&ids)
            .execute(&mut *conn)
            .await?;
        let mut query = QueryBuilder::<Postgres>::new(
            "UPDATE contacts AS c SET sealed_document = ''::bytea, \
                 document_key = ''::bytea, erased_at = v.at FROM unnest(",
        );
        query.push_bind(ids).push("::uuid[], ").push_bind(at).push(
            "::timestamptz[]) AS v(id, at) \
                 WHERE c.id = v.id AND c.erased_at IS NULL",
        );
        if let Some(deadline) = mode.deadline() {
            query
                .push(" AND c.retain_until <= ")
                .push_bind(ts(deadline));
        }
        if let Some(now) = mode.unheld_at() {
            query
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
        let rows = query.build().fetch_all(conn).await?;
        rows.iter()
            .map(|row| Postgres::get_uuid(row, "id"))
            .collect()
    }

    async fn insert_tombstones(
        conn: &mut PgConnection,
        tombstones: &[&TombstoneRow],
    ) -> Result<()> {
        let column = |f: fn(&TombstoneRow) -> DateTime<Utc>| -> Vec<DateTime<Utc>> {
            tombstones.iter().map(|t| ts(f(t))).collect()
        };
        let opt_column = |f: fn(&TombstoneRow) -> Option<DateTime<Utc>>| -> Vec<_> {
            tombstones.iter().map(|t| opt_ts(f(t))).collect()
        };
        sqlx::query(
            "INSERT INTO tombstones (id, contact_id, kind, rule, reason, sha256, retain_until, \
                 deleted_at, ledgered_at, storage_deleted_at) \
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], \
                 $6::text[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], \
                 $10::timestamptz[]) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(tombstones.iter().map(|t| t.id).collect::<Vec<_>>())
        .bind(
            tombstones
                .iter()
                .map(|t| *t.contact_id.as_uuid())
                .collect::<Vec<_>>(),
        )
        .bind(
            tombstones
                .iter()
                .map(|t| t.kind.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            tombstones
                .iter()
                .map(|t| t.rule.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            tombstones
                .iter()
                .map(|t| t.reason.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            tombstones
                .iter()
                .map(|t| t.sha256.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(column(|t| t.retain_until))
        .bind(column(|t| t.deleted_at))
        .bind(opt_column(|t| t.ledgered_at))
        .bind(opt_column(|t| t.storage_deleted_at))
        .execute(conn)
        .await
        .map_err(|err| write_error(err, &[], "tombstone"))?;
        Ok(())
    }

    async fn shorten(
        conn: &mut PgConnection,
        table: &str,
        rows: &[(Uuid, DateTime<Utc>)],
    ) -> Result<u64> {
        // The guard `retain_until > new` is what makes this lower-only.
        let sql = format!(
            "UPDATE {table} AS x SET retain_until = v.at \
             FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, at) \
             WHERE x.id = v.id AND x.retain_until > v.at"
        );
        let ids: Vec<Uuid> = rows.iter().map(|(id, _)| *id).collect();
        let at: Vec<DateTime<Utc>> = rows.iter().map(|(_, at)| ts(*at)).collect();
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ids)
            .bind(at)
            .execute(conn)
            .await?;
        Ok(done.rows_affected())
    }
}
