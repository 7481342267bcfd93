//! The audit log in PostgreSQL: append events, read them as stored and hash
//! their Merkle leaves in bulk — the same behaviour as `sqlite::audit`; the
//! reads, the search and the signed checkpoints (AUD-2) that are the same
//! on both backends are [`audit_sql`]'s, re-exported here.
//!
//! Sequence numbers: every transaction that appends takes the audit lock
//! first (see [`PostgresStore::begin_write`](super::PostgresStore)) and holds
//! it until it commits, and an append numbers its event `max(seq) + 1`. So
//! sequence numbers are commit order with no gaps across connections and
//! nodes, and a reader never sees event n + 1 without event n. (Without the
//! lock, two appenders would pick the same number and the primary key would
//! refuse one: the lock turns that failure into a wait.)
//!
//! `details` is stored as the JSON text the caller's `serde_json::Value`
//! serialises to, byte for byte, so the leaves hashed here equal the ones
//! SQLite's adapter hashes for the same events.
//!
//! Append-only is enforced by the schema (triggers) and by privileges (the
//! application's role may only SELECT and INSERT), not by this code. The
//! tree, the signatures and their verification live in the server
//! (`kirjuri_app::audit_chain`); this module only stores and reads.

use futures::TryStreamExt;
use kirjuri_core::audit::{LeafFields, leaf_hash_of};
use kirjuri_core::ids::UserId;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};

use super::codec::ts;
use crate::audit_sql;
pub(super) use crate::audit_sql::{
    after, checkpoint, checkpoints, head, insert_checkpoint, latest_checkpoint, log_id, search,
};
use crate::audited::AuditLog;
use crate::error::{Error, Result};
use crate::model::{AuditLeaf, NewAuditEvent, StoredAuditEvent};

/// Events per statement of a bulk append: large enough that the round trip
/// is noise, small enough that the bound arrays stay a few megabytes.
const INSERT_CHUNK: usize = 10_000;

/// PostgreSQL's epoch (2000-01-01T00:00:00Z) in Unix microseconds: binary
/// `timestamptz` values count from it.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Appends `event` inside the caller's write transaction, which must hold
/// the audit lock ([`PostgresStore::begin_write`](super::PostgresStore)),
/// and returns its sequence number.
pub(crate) async fn insert(conn: &mut PgConnection, event: &NewAuditEvent) -> Result<i64> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO audit_events (seq, at, actor, action, object, purpose, outcome, details) \
         SELECT coalesce(max(seq), 0) + 1, $1, $2, $3, $4, $5, $6, $7 FROM audit_events \
         RETURNING seq",
    )
    .bind(ts(event.at))
    .bind(event.actor.as_ref().map(UserId::as_uuid))
    .bind(event.action.as_str())
    .bind(event.object.as_deref())
    .bind(event.purpose.as_deref())
    .bind(event.outcome.as_str())
    .bind(event.details.to_string())
    .fetch_one(conn)
    .await?;
    Ok(seq)
}

/// Appends `events` in order inside the caller's write transaction (which
/// must hold the audit lock), a few thousand per statement.
pub(crate) async fn insert_all<'a>(
    conn: &mut PgConnection,
    events: impl IntoIterator<Item = &'a NewAuditEvent>,
) -> Result<()> {
    let events: Vec<&NewAuditEvent> = events.into_iter().collect();
    for chunk in events.chunks(INSERT_CHUNK) {
        let at: Vec<_> = chunk.iter().map(|e| ts(e.at)).collect();
        let actor: Vec<_> = chunk
            .iter()
            .map(|e| e.actor.map(|a| *a.as_uuid()))
            .collect();
        let action: Vec<&str> = chunk.iter().map(|e| e.action.as_str()).collect();
        let object: Vec<Option<&str>> = chunk.iter().map(|e| e.object.as_deref()).collect();
        let purpose: Vec<Option<&str>> = chunk.iter().map(|e| e.purpose.as_deref()).collect();
        let outcome: Vec<&str> = chunk.iter().map(|e| e.outcome.as_str()).collect();
        let details: Vec<String> = chunk.iter().map(|e| e.details.to_string()).collect();
        // WITH ORDINALITY numbers the events in array order: 1, 2, … after
        // the head.
        sqlx::query(
            "INSERT INTO audit_events (seq, at, actor, action, object, purpose, outcome, details) \
             SELECT h.head + e.n, e.at, e.actor, e.action, e.object, e.purpose, e.outcome, \
                 e.details \
             FROM (SELECT coalesce(max(seq), 0) AS head FROM audit_events) AS h, \
                 unnest($1::timestamptz[], $2::uuid[], $3::text[], $4::text[], $5::text[], \
                        $6::text[], $7::text[]) \
                 WITH ORDINALITY AS e(at, actor, action, object, purpose, outcome, details, n)",
        )
        .bind(at)
        .bind(actor)
        .bind(action)
        .bind(object)
        .bind(purpose)
        .bind(outcome)
        .bind(details)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Up to `limit` events after `after_seq`, as stored.
pub(super) async fn stored_after(
    pool: &PgPool,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<StoredAuditEvent>> {
    audit_sql::events(pool, after_seq, limit, stored).await
}

/// A [`StoredAuditEvent`] from an event's columns, as stored.
pub(super) fn stored(row: &PgRow) -> Result<StoredAuditEvent> {
    let at: chrono::DateTime<chrono::Utc> = row.try_get("at")?;
    let actor: Option<uuid::Uuid> = row.try_get("actor")?;
    Ok(StoredAuditEvent {
        seq: row.try_get("seq")?,
        at_micros: at.timestamp_micros(),
        actor: actor.map(|a| a.as_bytes().to_vec()),
        action: row.try_get("action")?,
        object: row.try_get("object")?,
        purpose: row.try_get("purpose")?,
        outcome: row.try_get("outcome")?,
        details: row.try_get("details")?,
    })
}

/// The Merkle leaves of up to `limit` events after `after_seq`.
///
/// Reads the page as one binary `COPY` (the rows arrive as raw column
/// bytes, with none of a query's per-row decoding into owned values) and
/// hashes it on a blocking thread, so the async workers stay free and the
/// next page can be read meanwhile. `COPY` takes no parameters; the two
/// numbers are formatted into it, which is safe for integers.
pub(super) async fn leaves(pool: &PgPool, after_seq: i64, limit: u32) -> Result<Vec<AuditLeaf>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    // Sequence numbers are positive; clamping keeps the literal a bigint
    // (i64::MIN would not parse as one) so the primary key drives the scan.
    let after_seq = after_seq.max(0);
    let sql = format!(
        "COPY (SELECT seq, at, actor, action, object, purpose, outcome, details \
               FROM audit_events WHERE seq > {after_seq} ORDER BY seq LIMIT {limit}) \
         TO STDOUT (FORMAT binary)"
    );
    let mut conn = pool.acquire().await?;
    let mut data = Vec::with_capacity((limit.min(1 << 16) as usize) * 256);
    {
        let mut stream = conn.copy_out_raw(&sql).await?;
        while let Some(chunk) = stream.try_next().await? {
            data.extend_from_slice(&chunk);
        }
    }
    drop(conn);
    tokio::task::spawn_blocking(move || hash_copy(&data))
        .await
        .map_err(|e| Error::Corrupt(format!("audit_events: the hasher failed ({e})")))?
}

/// Hashes the rows of a binary `COPY` of
/// `seq, at, actor, action, object, purpose, outcome, details`.
fn hash_copy(data: &[u8]) -> Result<Vec<AuditLeaf>> {
    let mut reader = CopyReader::new(data)?;
    let mut leaves = Vec::new();
    let mut buffer = Vec::with_capacity(512);
    while let Some(fields) = reader.next_row()? {
        let [seq, at, actor, action, object, purpose, outcome, details] = fields;
        let seq = int8(seq, "seq", None)?;
        let at_micros = int8(at, "at", Some(seq))?
            .checked_add(PG_EPOCH_MICROS)
            .ok_or_else(|| wrong_type("at", seq))?;
        let fields = LeafFields {
            seq,
            at_micros,
            actor,
            action: required_text(action, "action", seq)?,
            object: text(object, "object", seq)?,
            purpose: text(purpose, "purpose", seq)?,
            outcome: required_text(outcome, "outcome", seq)?,
            details: required_text(details, "details", seq)?,
        };
        leaves.push(AuditLeaf {
            seq,
            leaf: leaf_hash_of(&fields, &mut buffer),
        });
    }
    Ok(leaves)
}

/// A value of the wrong shape: names the event and column, never the value.
fn wrong_type(column: &str, seq: i64) -> Error {
    Error::Corrupt(format!("audit_events.{column} of event {seq}: wrong type"))
}

/// A nullable text column.
fn text<'a>(value: Option<&'a [u8]>, column: &str, seq: i64) -> Result<Option<&'a str>> {
    value
        .map(|bytes| std::str::from_utf8(bytes).map_err(|_| wrong_type(column, seq)))
        .transpose()
}

/// A text column that must not be NULL.
fn required_text<'a>(value: Option<&'a [u8]>, column: &str, seq: i64) -> Result<&'a str> {
    text(value, column, seq)?.ok_or_else(|| wrong_type(column, seq))
}

/// A big-endian 8-byte integer column.
fn int8(value: Option<&[u8]>, column: &str, seq: Option<i64>) -> Result<i64> {
    value
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
        .map(i64::from_be_bytes)
        .ok_or_else(|| match seq {
            Some(seq) => wrong_type(column, seq),
            None => Error::Corrupt(format!("audit_events.{column}: wrong type")),
        })
}

/// Reads PostgreSQL's binary `COPY` format: a signature, flags and a header
/// extension, then per row a 16-bit field count and per field a 32-bit
/// length (-1 for NULL) and the bytes; a field count of -1 ends the data.
struct CopyReader<'a> {
    data: &'a [u8],
}

impl<'a> CopyReader<'a> {
    const SIGNATURE: &'static [u8; 11] = b"PGCOPY\n\xff\r\n\0";

    fn new(data: &'a [u8]) -> Result<Self> {
        let mut reader = Self { data };
        if reader.take(11)? != Self::SIGNATURE {
            return Err(Self::malformed());
        }
        let _flags = reader.take(4)?;
        let extension = reader.u32()?;
        reader.take(extension as usize)?;
        Ok(reader)
    }

    fn malformed() -> Error {
        Error::Corrupt("audit_events: malformed COPY data".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.data.len() < n {
            return Err(Self::malformed());
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32> {
        let bytes = self.take(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// The next row's eight fields, or `None` at the end.
    fn next_row(&mut self) -> Result<Option<[Option<&'a [u8]>; 8]>> {
        let count = self.take(2)?;
        let count = i16::from_be_bytes([count[0], count[1]]);
        if count == -1 {
            return Ok(None);
        }
        if count != 8 {
            return Err(Self::malformed());
        }
        let mut fields = [None; 8];
        for field in &mut fields {
            let length = self.u32()? as i32;
            *field = match usize::try_from(length) {
                Ok(length) => Some(self.take(length)?),
                Err(_) if length == -1 => None,
                Err(_) => return Err(Self::malformed()),
            };
        }
        Ok(Some(fields))
    }
}

/// The audited write appends through [`insert_all`].
impl AuditLog for sqlx::Postgres {
    fn append<'c>(
        conn: &'c mut PgConnection,
        events: Vec<&'c NewAuditEvent>,
    ) -> impl Future<Output = Result<()>> + Send + 'c {
        insert_all(conn, events)
    }
}
