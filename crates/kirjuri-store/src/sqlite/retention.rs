//! [`RetentionStore`](crate::RetentionStore) on SQLite: what differs from
//! PostgreSQL in the retention SQL written once in
//! [`retention_sql`](crate::retention_sql), which explains the shape.
//!
//! **Batches are a few statements, not a few per item**: the purge shreds
//! up to ten thousand objects per call, so deletes, tombstones and index
//! removals go in multi-row statements of [`CHUNK`] rows (SQLite's
//! statement cache keeps them prepared), and so do the audit events (the
//! audit module's bulk append, in input order).
//!
//! Every audited write takes the write lock first (`BEGIN IMMEDIATE`,
//! `Backend::begin_write`) and appends its audit events in the same
//! transaction.

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::SqliteStore;
use super::codec::{get_uuid, micros, opt_micros, write_error};
use crate::error::Result;
use crate::retention::{HoldTarget, Shred, ShredMode, TombstoneRow};
use crate::retention_sql::{HELD_CONTACT, RetentionSql, TOMBSTONE_COLUMNS};
pub(super) use crate::retention_sql::{hold_from_row, tombstone_from_row};

/// Rows per multi-row statement: at most 10 parameters a row, far below
/// SQLite's limit of 32 766 parameters, and large enough that a batch of ten
/// thousand is twenty statements.
const CHUNK: usize = 500;

impl RetentionSql for SqliteStore {
    const CHUNK: usize = CHUNK;
    const JSON_TEXT: &'static str = "";
    const UNINDEXED: &'static str = "+";
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    fn push_ids(query: &mut QueryBuilder<Sqlite>, ids: impl IntoIterator<Item = Uuid>) {
        query.push(" IN (");
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(id);
        }
        query.push(")");
    }

    async fn insert_targets(
        conn: &mut SqliteConnection,
        hold: Uuid,
        targets: &[HoldTarget],
    ) -> Result<u64> {
        let mut query = QueryBuilder::<Sqlite>::new(
            "INSERT INTO legal_hold_targets (hold_id, contact_id, object_id) SELECT ",
        );
        query
            .push_bind(hold)
            .push(" , v.column1, v.column2 FROM (VALUES ");
        let mut rows = query.separated(", ");
        for target in targets {
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
            .execute(conn)
            .await
            .map_err(|err| write_error(err, &[], "hold target"))?;
        Ok(inserted.rows_affected())
    }

    fn hold_targets_query(id: Uuid, after: Option<HoldTarget>, limit: u32) -> QueryBuilder<Sqlite> {
        // `ifnull(object_id, x'')` sorts a whole-contact target (None) before
        // the contact's objects, as `HoldTarget`'s order does, and is the
        // unique index's own expression, so the index walks the page.
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT contact_id, object_id FROM legal_hold_targets WHERE hold_id = ",
        );
        query.push_bind(id);
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
        query
    }

    async fn erase(
        conn: &mut SqliteConnection,
        shreds: &[&Shred],
        mode: ShredMode,
    ) -> Result<Vec<Uuid>> {
        let rows = shreds
            .iter()
            .map(|shred| (shred.tombstone.id, shred.tombstone.deleted_at));
        let rows = erase_query("", rows, mode).build().fetch_all(conn).await?;
        rows.iter().map(|row| get_uuid(row, "id")).collect()
    }

    async fn insert_tombstones(
        conn: &mut SqliteConnection,
        tombstones: &[&TombstoneRow],
    ) -> Result<()> {
        let mut query =
            QueryBuilder::<Sqlite>::new(format!("INSERT INTO tombstones ({TOMBSTONE_COLUMNS}) "));
        query.push_values(tombstones, |mut row, tombstone| {
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
            .execute(conn)
            .await
            .map_err(|err| write_error(err, &[], "tombstone"))?;
        Ok(())
    }

    async fn shorten(
        conn: &mut SqliteConnection,
        table: &str,
        rows: &[(Uuid, DateTime<Utc>)],
    ) -> Result<u64> {
        // The guard `retain_until > new` is what makes this lower-only.
        let sql =
            format!("UPDATE {table} SET retain_until = ?1 WHERE id = ?2 AND retain_until > ?1");
        let mut changed = 0;
        for (id, at) in rows {
            let done = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(micros(*at))
                .bind(id)
                .execute(&mut *conn)
                .await?;
            changed += done.rows_affected();
        }
        Ok(changed)
    }

    fn batch_write_pool(&self) -> &SqlitePool {
        self.purge_pool()
    }

    async fn flush(&self) -> Result<()> {
        // Retried by the next purge if a reader keeps the log busy now.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

/// Erases the contacts of `rows` (id, erasure time) that `mode` allows and
/// are not yet erased, returning the ids erased; after `head`. As in
/// [`Sql::shred_query`], unary `+` on the contact's columns leaves the planner
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
    if let Some(deadline) = mode.deadline() {
        query
            .push(" AND +c.retain_until <= ")
            .push_bind(micros(deadline));
    }
    if let Some(now) = mode.unheld_at() {
        query
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
    use kirjuri_core::ids::{ContactId, ObjectId};
    use sqlx::Row;

    use super::*;
    use crate::retention_sql::Sql;

    type Q = Sql<SqliteStore>;

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
            let plan = plan(Q::expired_objects_query(
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
            let plan = plan(Q::expired_contacts_query(
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
        let shred = plan(Q::shred_query("EXPLAIN QUERY PLAN ", ids.into_iter(), now)).await;
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
    async fn the_purges_writes_checkpoint_the_log_less_often_than_every_other_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("kirjuri.db"))
            .await
            .unwrap();
        let pages = |pool: &SqlitePool| {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>("PRAGMA wal_autocheckpoint")
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };

        let purge = pages(store.batch_write_pool()).await;
        let other = pages(store.pool()).await;

        assert_eq!(
            purge,
            super::super::PURGE_CHECKPOINT_PAGES.parse::<i64>().unwrap()
        );
        assert_eq!(other, 1_000, "SQLite's default");
        store.close().await;
    }

    #[tokio::test]
    async fn upcoming_deadlines_merge_two_index_walks() {
        let plan = plan(Q::upcoming_query(
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
