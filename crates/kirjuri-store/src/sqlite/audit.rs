//! The audit log in SQLite: its [`AuditSql`] pieces (the append, the events
//! as stored, the bulk leaf reader) and its bulk append ([`AuditLog`]);
//! everything the two backends share, the rest of the store's audit trait
//! included, is [`audit_sql`]'s. Append-only is enforced by the schema's
//! triggers, not by this code, so no query anyone writes against the pool can rewrite
//! history. The tree, the signatures and their verification live in the
//! server (`kirjuri_app::audit_chain`); this module only stores and reads.

use std::path::Path;

use kirjuri_core::audit::{LeafFields, leaf_hash_of};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::SqliteStore;
use super::codec::micros;
use crate::audit_sql::{self, AuditSql};
use crate::audited::AuditLog;
use crate::error::{Error, Result};
use crate::model::{AuditLeaf, NewAuditEvent, StoredAuditEvent};

/// How many events one multi-row insert carries (7 parameters each, far
/// below SQLite's 32 766).
const INSERT_CHUNK: usize = 500;

/// The audit log's per-backend pieces; [`audit_sql`] writes the rest of
/// [`AuditStore`](crate::store::AuditStore) once.
impl AuditSql for SqliteStore {
    const INSERT_EVENT: &'static str = "INSERT INTO audit_events (at, actor, action, object, purpose, outcome, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq";

    async fn append_one(&self, event: &NewAuditEvent) -> Result<i64> {
        // One statement is its own transaction.
        let mut conn = self.pool.acquire().await?;
        audit_sql::insert::<sqlx::Sqlite>(&mut conn, Self::INSERT_EVENT, event).await
    }

    fn stored(row: &SqliteRow) -> Result<StoredAuditEvent> {
        stored(row)
    }

    async fn leaves(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditLeaf>> {
        leaves(&self.pool, self.path.as_deref(), after_seq, limit).await
    }
}

/// The audited write appends `events` in order inside the caller's
/// transaction: a multi-row insert per [`INSERT_CHUNK`] events, whose rows
/// take their sequence numbers in the order given. One statement per event
/// would cost the purge a round trip through sqlx's worker per destroyed
/// object (~3x the time).
impl AuditLog for sqlx::Sqlite {
    async fn append(conn: &mut SqliteConnection, events: Vec<&NewAuditEvent>) -> Result<()> {
        for chunk in events.chunks(INSERT_CHUNK) {
            let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO audit_events (at, actor, action, object, purpose, outcome, details) ",
            );
            query.push_values(chunk, |mut row, event| {
                row.push_bind(micros(event.at))
                    .push_bind(event.actor.as_ref().map(|actor| *actor.as_uuid()))
                    .push_bind(event.action.clone())
                    .push_bind(event.object.clone())
                    .push_bind(event.purpose.clone())
                    .push_bind(event.outcome.clone())
                    .push_bind(event.details.to_string());
            });
            query.build().execute(&mut *conn).await?;
        }
        Ok(())
    }
}

/// A [`StoredAuditEvent`] from an event's columns, as stored.
pub(super) fn stored(row: &SqliteRow) -> Result<StoredAuditEvent> {
    Ok(StoredAuditEvent {
        seq: row.try_get("seq")?,
        at_micros: row.try_get("at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        object: row.try_get("object")?,
        purpose: row.try_get("purpose")?,
        outcome: row.try_get("outcome")?,
        details: row.try_get("details")?,
    })
}

/// The Merkle leaves of up to `limit` events after `after_seq`.
///
/// On a file this reads with its own short-lived read-only connection
/// (rusqlite, on a blocking thread), borrowing each column in place and
/// hashing it there: through the pool every row would be copied into owned
/// values and passed across a channel, which costs far more than hashing
/// it. WAL gives this reader a consistent snapshot like any other. In
/// memory (tests) it hashes the events as [`stored`].
async fn leaves(
    pool: &SqlitePool,
    path: Option<&Path>,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<AuditLeaf>> {
    let Some(path) = path else {
        let mut buffer = Vec::with_capacity(512);
        return Ok(audit_sql::events(pool, after_seq, limit, stored)
            .await?
            .iter()
            .map(|event| AuditLeaf {
                seq: event.seq,
                leaf: leaf_hash_of(&event.leaf_fields(), &mut buffer),
            })
            .collect());
    };
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || scan_leaves(&path, after_seq, limit))
        .await
        .map_err(|e| Error::Corrupt(format!("audit_events: the reader failed ({e})")))?
}

fn scan_leaves(path: &Path, after_seq: i64, limit: u32) -> Result<Vec<AuditLeaf>> {
    use rusqlite::OpenFlags;
    use rusqlite::types::ValueRef;

    let db_error = |e: rusqlite::Error| Error::Corrupt(format!("audit_events: {e}"));
    let connection = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db_error)?;
    connection
        .busy_timeout(std::time::Duration::from_secs(10))
        .map_err(db_error)?;
    // Memory-mapped reads spare a system call and a copy per page of a scan
    // that reads the whole table.
    connection
        .pragma_update(None, "mmap_size", 1i64 << 30)
        .map_err(db_error)?;
    let mut statement = connection
        .prepare(
            "SELECT seq, at, actor, action, object, purpose, outcome, details FROM audit_events \
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )
        .map_err(db_error)?;
    let mut rows = statement
        .query(rusqlite::params![after_seq, i64::from(limit)])
        .map_err(db_error)?;
    let mut leaves = Vec::with_capacity(limit.min(1 << 16) as usize);
    let mut buffer = Vec::with_capacity(512);
    while let Some(row) = rows.next().map_err(db_error)? {
        let value = |index: usize| row.get_ref(index).map_err(db_error);
        let seq = match value(0)? {
            ValueRef::Integer(seq) => seq,
            _ => return Err(Error::Corrupt("audit_events.seq: not an integer".into())),
        };
        // A value of the wrong type (only possible once someone has
        // rebuilt the table) names the event and column, never the value.
        let wrong = |column: &str| {
            Error::Corrupt(format!("audit_events.{column} of event {seq}: wrong type"))
        };
        let text = |index: usize, column: &str| -> Result<Option<&str>> {
            match value(index)? {
                ValueRef::Null => Ok(None),
                ValueRef::Text(bytes) => simdutf8::basic::from_utf8(bytes)
                    .map(Some)
                    .map_err(|_| wrong(column)),
                _ => Err(wrong(column)),
            }
        };
        let required =
            |index: usize, column: &str| text(index, column)?.ok_or_else(|| wrong(column));
        let at_micros = match value(1)? {
            ValueRef::Integer(at) => at,
            _ => return Err(wrong("at")),
        };
        let actor = match value(2)? {
            ValueRef::Null => None,
            ValueRef::Blob(bytes) => Some(bytes),
            _ => return Err(wrong("actor")),
        };
        let fields = LeafFields {
            seq,
            at_micros,
            actor,
            action: required(3, "action")?,
            object: text(4, "object")?,
            purpose: text(5, "purpose")?,
            outcome: required(6, "outcome")?,
            details: required(7, "details")?,
        };
        leaves.push(AuditLeaf {
            seq,
            leaf: leaf_hash_of(&fields, &mut buffer),
        });
    }
    Ok(leaves)
}

#[cfg(test)]
mod tests {
    //! What only SQLite's audit module shows: its triggers, its two leaf
    //! readers agreeing, a fresh log identity per database. The audit log's
    //! contract (stored events, search, checkpoints, leaves) runs on every
    //! backend in `tests/store/contract.rs`.

    use chrono::{DateTime, Utc};
    use kirjuri_core::ids::UserId;
    use serde_json::json;

    use crate::model::{AuditCheckpointRow, NewAuditEvent};
    use crate::prelude::*;
    use crate::sqlite::SqliteStore;

    fn at(micros: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(1_796_000_000_000_000 + micros).unwrap()
    }

    fn event(
        i: i64,
        actor: Option<UserId>,
        action: &str,
        details: serde_json::Value,
    ) -> NewAuditEvent {
        NewAuditEvent {
            at: at(i),
            actor,
            action: action.into(),
            object: Some(format!("object-{i}")),
            purpose: None,
            outcome: "success".into(),
            details,
        }
    }

    fn checkpoint(size: u64) -> AuditCheckpointRow {
        AuditCheckpointRow {
            size,
            root: vec![size as u8; 32],
            note: format!("note {size}\n"),
            frontier: vec![1; 32 * size.count_ones() as usize],
            created_at: at(0),
        }
    }

    #[tokio::test]
    async fn checkpoints_and_the_log_identity_cannot_be_changed_or_deleted() {
        let store = SqliteStore::in_memory().await.unwrap();
        let id = store.audit_log_id().await.unwrap();
        assert_eq!(id.len(), 32);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(store.audit_log_id().await.unwrap(), id);
        assert!(
            store
                .insert_audit_checkpoint(&checkpoint(1), None)
                .await
                .unwrap()
        );
        store
            .append_audit(&event(1, None, "user.created", json!({})))
            .await
            .unwrap();
        for sql in [
            "UPDATE audit_checkpoints SET root = zeroblob(32)",
            "UPDATE audit_checkpoints SET frontier = zeroblob(32)",
            "DELETE FROM audit_checkpoints",
            "UPDATE audit_log SET log_id = '00000000000000000000000000000000'",
            "DELETE FROM audit_log",
            "UPDATE audit_events SET outcome = 'x'",
            "DELETE FROM audit_events",
        ] {
            let error = sqlx::query(sql).execute(store.pool()).await.unwrap_err();
            assert!(error.to_string().contains("audit"), "{sql}: {error}");
        }
        assert_eq!(store.audit_log_id().await.unwrap(), id);
        assert_eq!(
            store.latest_audit_checkpoint().await.unwrap(),
            Some(checkpoint(1))
        );
    }

    #[tokio::test]
    async fn the_same_rows_give_the_same_leaves_on_a_file_and_in_memory() {
        // On a file the leaves come from rusqlite's bulk reader, in memory
        // from the pool: the contract tests check each against the stored
        // rows; this checks the two paths against each other.
        let dir = tempfile::tempdir().unwrap();
        let file = SqliteStore::open(&dir.path().join("kirjuri.db"))
            .await
            .unwrap();
        let memory = SqliteStore::in_memory().await.unwrap();
        let actor = UserId::new_v7();
        let events: Vec<NewAuditEvent> = (0..300)
            .map(|i| NewAuditEvent {
                actor: (i % 3 != 0).then_some(actor),
                object: (i % 5 != 0).then(|| format!("o\"b\\j\n{i}\u{1}ä😀")),
                purpose: (i % 2 == 0).then(|| "training".to_owned()),
                ..event(i, None, "contact.viewed", json!({"i": i, "s": "x\ty"}))
            })
            .collect();
        for store in [&file, &memory] {
            store.append_audit_batch(&events).await.unwrap();
        }
        let leaves = file.audit_leaves(0, 1000).await.unwrap();
        assert_eq!(leaves.len(), 300);
        assert_eq!(leaves, memory.audit_leaves(0, 1000).await.unwrap());
    }

    #[tokio::test]
    async fn two_databases_get_different_log_identities() {
        let a = SqliteStore::in_memory().await.unwrap();
        let b = SqliteStore::in_memory().await.unwrap();
        assert_ne!(
            a.audit_log_id().await.unwrap(),
            b.audit_log_id().await.unwrap()
        );
    }
}
