//! The audit log in PostgreSQL: its [`AuditSql`] pieces (the append, the
//! events as stored, the bulk leaf reader, the checkpoint's lock) and its
//! bulk append ([`AuditLog`]) — the same behaviour as `sqlite::audit`;
//! everything the two backends share, the rest of the store's audit trait
//! included, is [`audit_sql`]'s.
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
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Postgres, Row, Transaction};

use super::PostgresStore;
use super::codec::ts;
use crate::audit_sql::{self, AuditSql};
use crate::audited::AuditLog;
use crate::error::{Error, Result};
use crate::model::{AuditLeaf, NewAuditEvent, StoredAuditEvent};

/// Events per statement of a bulk append: large enough that the round trip
/// is noise, small enough that the bound arrays stay a few megabytes.
const INSERT_CHUNK: usize = 10_000;

/// PostgreSQL's epoch (2000-01-01T00:00:00Z) in Unix microseconds: binary
/// `timestamptz` values count from it.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// The audit log's per-backend pieces; [`audit_sql`] writes the rest of
/// [`AuditStore`](crate::store::AuditStore) once.
impl AuditSql for PostgresStore {
    /// Numbers the event `max(seq) + 1`, which the audit lock makes safe.
    const INSERT_EVENT: &'static str = "INSERT INTO audit_events (seq, at, actor, action, object, purpose, outcome, details) \
         SELECT coalesce(max(seq), 0) + 1, $1, $2, $3, $4, $5, $6, $7 FROM audit_events \
         RETURNING seq";

    async fn append_one(&self, event: &NewAuditEvent) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let seq = audit_sql::insert::<Postgres>(&mut tx, Self::INSERT_EVENT, event).await?;
        tx.commit().await?;
        Ok(seq)
    }

    fn stored(row: &PgRow) -> Result<StoredAuditEvent> {
        stored(row)
    }

    async fn leaves(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditLeaf>> {
        leaves(&self.pool, after_seq, limit).await
    }

    async fn begin_checkpoint(&self) -> Result<Transaction<'static, Postgres>> {
        // Its own lock, not the audit lock: signing never waits for writers.
        super::begin_locked(&self.pool, super::CHECKPOINT_LOCK).await
    }
}

/// The audited write appends `events` in order inside its transaction
/// (which holds the audit lock), a few thousand per statement.
impl AuditLog for sqlx::Postgres {
    async fn append(conn: &mut PgConnection, events: Vec<&NewAuditEvent>) -> Result<()> {
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
                "INSERT INTO audit_events (seq, at, actor, action, object, purpose, outcome, \
                     details) \
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
/// parses and hashes each row as it arrives ([`CopyHasher`]), so a page in
/// flight holds its leaves, not its rows (issue 16 §6: the rows of two
/// pages were 60 MiB). `COPY` takes no parameters; the two numbers are
/// formatted into it, which is safe for integers.
async fn leaves(pool: &PgPool, after_seq: i64, limit: u32) -> Result<Vec<AuditLeaf>> {
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
    let mut stream = conn.copy_out_raw(&sql).await?;
    let mut hasher = CopyHasher::default();
    while let Some(chunk) = stream.try_next().await? {
        hasher.feed(&chunk)?;
    }
    hasher.finish()
}

/// Parses a binary `COPY` of
/// `seq, at, actor, action, object, purpose, outcome, details` as it
/// arrives, in chunks cut anywhere, and hashes each row into its leaf.
#[derive(Default)]
struct CopyHasher {
    /// Bytes received but not yet parsed: at most one incomplete row (or
    /// the header), since whole rows are taken out as soon as they are in.
    pending: Vec<u8>,
    /// Whether the header has been read.
    started: bool,
    /// Whether the end marker has been read.
    ended: bool,
    leaves: Vec<AuditLeaf>,
    /// Scratch space for a leaf's encoding.
    buffer: Vec<u8>,
}

impl CopyHasher {
    /// Takes in the next chunk of the `COPY` data.
    fn feed(&mut self, chunk: &[u8]) -> Result<()> {
        if self.ended && !chunk.is_empty() {
            return Err(CopyReader::malformed());
        }
        // Chunks are normally whole rows: parse them in place, and copy
        // only what a chunk leaves incomplete.
        let parsed = if self.pending.is_empty() {
            self.parse(chunk)?
        } else {
            self.pending.extend_from_slice(chunk);
            let pending = std::mem::take(&mut self.pending);
            let parsed = self.parse(&pending)?;
            self.pending = pending;
            self.pending.drain(..parsed);
            return Ok(());
        };
        self.pending.extend_from_slice(&chunk[parsed..]);
        Ok(())
    }

    /// Parses and hashes the whole rows at the start of `data`; returns how
    /// many bytes they (and the header, and the end marker) took.
    fn parse(&mut self, data: &[u8]) -> Result<usize> {
        let mut reader = CopyReader { data };
        if !self.started {
            if !reader.header()? {
                return Ok(0);
            }
            self.started = true;
        }
        let mut consumed = data.len() - reader.data.len();
        while !self.ended {
            match reader.next_row()? {
                CopyRow::Incomplete => break,
                CopyRow::End => self.ended = true,
                CopyRow::Fields(fields) => {
                    let leaf = leaf_of(fields, &mut self.buffer)?;
                    self.leaves.push(leaf);
                }
            }
            consumed = data.len() - reader.data.len();
        }
        Ok(consumed)
    }

    /// The leaves, once the end marker has been read.
    fn finish(self) -> Result<Vec<AuditLeaf>> {
        if !self.ended || !self.pending.is_empty() {
            return Err(CopyReader::malformed());
        }
        Ok(self.leaves)
    }
}

/// The leaf of one row's eight fields.
fn leaf_of(fields: [Option<&[u8]>; 8], buffer: &mut Vec<u8>) -> Result<AuditLeaf> {
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
    Ok(AuditLeaf {
        seq,
        leaf: leaf_hash_of(&fields, buffer),
    })
}

/// A value of the wrong shape: names the event and column, never the value.
fn wrong_type(column: &str, seq: i64) -> Error {
    Error::Corrupt(format!("audit_events.{column} of event {seq}: wrong type"))
}

/// A nullable text column.
fn text<'a>(value: Option<&'a [u8]>, column: &str, seq: i64) -> Result<Option<&'a str>> {
    value
        .map(|bytes| simdutf8::basic::from_utf8(bytes).map_err(|_| wrong_type(column, seq)))
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
/// It reads what is there and says when a row is not all there yet.
struct CopyReader<'a> {
    data: &'a [u8],
}

/// What [`CopyReader::next_row`] found.
enum CopyRow<'a> {
    /// A row's eight fields.
    Fields([Option<&'a [u8]>; 8]),
    /// The end marker.
    End,
    /// The next row is not complete yet (nothing was taken).
    Incomplete,
}

impl<'a> CopyReader<'a> {
    const SIGNATURE: &'static [u8; 11] = b"PGCOPY\n\xff\r\n\0";

    fn malformed() -> Error {
        Error::Corrupt("audit_events: malformed COPY data".into())
    }

    /// The next `n` bytes, if they are there.
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.data.len() < n {
            return None;
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        let bytes = self.take(4)?;
        Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// Reads the header: `false` (nothing taken) if it is not all there.
    fn header(&mut self) -> Result<bool> {
        let start = self.data;
        let complete = (|| {
            let signature = self.take(11)?;
            let _flags = self.take(4)?;
            let extension = self.u32()?;
            self.take(extension as usize)?;
            Some(signature)
        })();
        match complete {
            Some(signature) if signature == Self::SIGNATURE => Ok(true),
            Some(_) => Err(Self::malformed()),
            // A wrong signature is refused as soon as its bytes are in.
            None if !Self::SIGNATURE.starts_with(&start[..start.len().min(11)]) => {
                Err(Self::malformed())
            }
            None => {
                self.data = start;
                Ok(false)
            }
        }
    }

    /// The next row, the end marker, or [`CopyRow::Incomplete`].
    fn next_row(&mut self) -> Result<CopyRow<'a>> {
        let start = self.data;
        let Some(count) = self.take(2) else {
            return Ok(CopyRow::Incomplete);
        };
        let count = i16::from_be_bytes([count[0], count[1]]);
        if count == -1 {
            return Ok(CopyRow::End);
        }
        if count != 8 {
            return Err(Self::malformed());
        }
        let mut fields = [None; 8];
        for field in &mut fields {
            let Some(length) = self.u32() else {
                self.data = start;
                return Ok(CopyRow::Incomplete);
            };
            let length = length as i32;
            *field = match usize::try_from(length) {
                Ok(length) => match self.take(length) {
                    Some(bytes) => Some(bytes),
                    None => {
                        self.data = start;
                        return Ok(CopyRow::Incomplete);
                    }
                },
                Err(_) if length == -1 => None,
                Err(_) => return Err(Self::malformed()),
            };
        }
        Ok(CopyRow::Fields(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binary `COPY` of `rows` (each eight optional fields), header and
    /// end marker included, as PostgreSQL writes it.
    fn copy_data(rows: &[[Option<Vec<u8>>; 8]]) -> Vec<u8> {
        let mut data = CopyReader::SIGNATURE.to_vec();
        data.extend_from_slice(&0u32.to_be_bytes());
        data.extend_from_slice(&4u32.to_be_bytes());
        data.extend_from_slice(b"ext!");
        for row in rows {
            data.extend_from_slice(&8i16.to_be_bytes());
            for field in row {
                match field {
                    Some(bytes) => {
                        data.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
                        data.extend_from_slice(bytes);
                    }
                    None => data.extend_from_slice(&(-1i32).to_be_bytes()),
                }
            }
        }
        data.extend_from_slice(&(-1i16).to_be_bytes());
        data
    }

    fn row(seq: i64, object: Option<&str>) -> [Option<Vec<u8>>; 8] {
        [
            Some(seq.to_be_bytes().to_vec()),
            Some((seq * 1_000).to_be_bytes().to_vec()),
            (seq % 2 == 0).then(|| vec![7; 16]),
            Some(b"recording.read".to_vec()),
            object.map(|o| o.as_bytes().to_vec()),
            None,
            Some(b"success".to_vec()),
            Some(format!("{{\"n\":{seq}}}").into_bytes()),
        ]
    }

    fn hash(chunks: &[&[u8]]) -> Result<Vec<AuditLeaf>> {
        let mut hasher = CopyHasher::default();
        for chunk in chunks {
            hasher.feed(chunk)?;
        }
        hasher.finish()
    }

    #[test]
    fn rows_cut_anywhere_give_the_leaves_of_the_whole() {
        let rows: Vec<_> = (1..=5)
            .map(|seq| row(seq, (seq != 3).then_some("contact:é\"x")))
            .collect();
        let data = copy_data(&rows);
        let whole = hash(&[&data]).unwrap();
        assert_eq!(
            whole.iter().map(|l| l.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        let mut buffer = Vec::new();
        let first = LeafFields {
            seq: 1,
            at_micros: 1_000 + PG_EPOCH_MICROS,
            actor: None,
            action: "recording.read",
            object: Some("contact:é\"x"),
            purpose: None,
            outcome: "success",
            details: "{\"n\":1}",
        };
        assert_eq!(whole[0].leaf, leaf_hash_of(&first, &mut buffer));
        for cut in 0..=data.len() {
            let (a, b) = data.split_at(cut);
            assert_eq!(hash(&[a, b]).unwrap(), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        assert_eq!(hash(&bytes).unwrap(), whole);
        assert_eq!(hash(&[&copy_data(&[])]).unwrap(), []);
    }

    #[test]
    fn broken_or_unfinished_copy_data_is_refused() {
        let data = copy_data(&[row(1, None), row(2, None)]);
        // Cut short anywhere: no end marker, so no page.
        for cut in 0..data.len() {
            assert!(hash(&[&data[..cut]]).is_err(), "cut at {cut}");
        }
        // Bytes after the end marker.
        let mut extra = data.clone();
        extra.push(0);
        assert!(hash(&[&extra]).is_err());
        assert!(hash(&[&data, b"x"]).is_err());
        // A wrong signature is refused at once, even before its end.
        assert!(hash(&[b"PGCOPZ"]).is_err());
        // A wrong field count, a negative length other than NULL.
        let mut count = data.clone();
        count[23] = 7;
        assert!(hash(&[&count]).is_err());
        let mut length = data.clone();
        length[25..29].copy_from_slice(&(-2i32).to_be_bytes());
        assert!(hash(&[&length]).is_err());
        // A column of the wrong shape names the column, not the value.
        let mut short = row(1, Some("secret object"));
        short[1] = Some(vec![1, 2, 3]);
        let error = hash(&[&copy_data(&[short])]).unwrap_err().to_string();
        assert!(error.contains("audit_events.at"), "{error}");
        assert!(!error.contains("secret"), "{error}");
        let mut invalid = row(1, None);
        invalid[6] = Some(vec![0xff, 0xfe]);
        assert!(hash(&[&copy_data(&[invalid])]).is_err());
    }
}
