//! Encrypted objects in PostgreSQL: the pending → committed life cycle of an
//! upload, and the lookups by contact — the same behaviour as
//! `sqlite::objects`. The bytes themselves live in object storage (the
//! vault's business); a row here holds the wrapped data key and the facts
//! about the plaintext.

use std::collections::HashSet;

use kirjuri_core::ids::{ContactId, ObjectId};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgExecutor, PgPool, Row};

use super::codec::{get_json, get_length, length, ts, write_error};
use crate::error::{Error, Result};
use crate::model::{CommitOutcome, ObjectRow, PendingObject};

/// The columns of an [`ObjectRow`]; `media` (jsonb) comes back as text.
pub(crate) const COLUMNS: &str = "id, contact_id, kind, wrapped_key, sha256, plaintext_len, stored_len, \
    media::text AS media, retain_until, source_id, created_at";

/// Registers an upload in flight.
pub(super) async fn begin(pool: &PgPool, pending: &PendingObject) -> Result<()> {
    sqlx::query(
        "INSERT INTO pending_objects (id, contact_id, kind, instance_id, started_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(pending.id.as_uuid())
    .bind(pending.contact_id.as_uuid())
    .bind(pending.kind.as_str())
    .bind(pending.instance_id.as_str())
    .bind(ts(pending.started_at))
    .execute(pool)
    .await
    .map_err(|err| write_error(err, &[], "object id"))?;
    Ok(())
}

/// Turns a pending upload into a committed object, unless the contact
/// already has one of that kind. Runs inside the caller's write transaction;
/// writes no audit event.
pub(super) async fn commit(conn: &mut PgConnection, object: &ObjectRow) -> Result<CommitOutcome> {
    let removed = sqlx::query("DELETE FROM pending_objects WHERE id = $1")
        .bind(object.id.as_uuid())
        .execute(&mut *conn)
        .await?;
    if removed.rows_affected() == 0 {
        return Err(Error::NotFound);
    }

    // The unique (contact_id, kind) constraint decides between racers, on
    // any node: the loser inserts nothing and then reads the winner's row
    // (read committed: the statement after sees the winner's commit).
    let inserted = sqlx::query(
        "INSERT INTO objects (id, contact_id, kind, wrapped_key, sha256, plaintext_len, \
             stored_len, media, retain_until, source_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11) \
         ON CONFLICT ON CONSTRAINT objects_contact_kind_unique DO NOTHING",
    )
    .bind(object.id.as_uuid())
    .bind(object.contact_id.as_uuid())
    .bind(object.kind.as_str())
    .bind(object.wrapped_key.as_slice())
    .bind(object.sha256.as_str())
    .bind(length(object.plaintext_len, "objects.plaintext_len")?)
    .bind(length(object.stored_len, "objects.stored_len")?)
    .bind(object.media.to_string())
    .bind(ts(object.retain_until))
    .bind(object.source.map(|id| *id.as_uuid()))
    .bind(ts(object.created_at))
    .execute(&mut *conn)
    .await
    .map_err(|err| write_error(err, &[("objects_pkey", "object id")], "object"))?;
    if inserted.rows_affected() == 1 {
        return Ok(CommitOutcome::Committed);
    }
    for_contact_kind(&mut *conn, &object.contact_id, &object.kind)
        .await?
        .map(CommitOutcome::Existing)
        .ok_or_else(|| Error::Corrupt("objects.(contact_id, kind): conflict without a row".into()))
}

/// Forgets a pending upload, if it is there.
pub(super) async fn abort(pool: &PgPool, id: &ObjectId) -> Result<()> {
    sqlx::query("DELETE FROM pending_objects WHERE id = $1")
        .bind(id.as_uuid())
        .execute(pool)
        .await?;
    Ok(())
}

/// All uploads in flight, oldest first.
pub(super) async fn pending(pool: &PgPool) -> Result<Vec<PendingObject>> {
    let rows = sqlx::query(
        "SELECT id, contact_id, kind, instance_id, started_at FROM pending_objects \
         ORDER BY started_at, id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(PendingObject {
                id: ObjectId::from_uuid(row.try_get("id")?),
                contact_id: ContactId::from_uuid(row.try_get("contact_id")?),
                kind: row.try_get("kind")?,
                instance_id: row.try_get("instance_id")?,
                started_at: row.try_get("started_at")?,
            })
        })
        .collect()
}

/// The committed object of `kind` for the contact.
pub(super) async fn for_contact_kind<'c>(
    executor: impl PgExecutor<'c>,
    contact_id: &ContactId,
    kind: &str,
) -> Result<Option<ObjectRow>> {
    let sql = format!("SELECT {COLUMNS} FROM objects WHERE contact_id = $1 AND kind = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(contact_id.as_uuid())
        .bind(kind)
        .fetch_optional(executor)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// The committed object with this id.
pub(super) async fn by_id(pool: &PgPool, id: &ObjectId) -> Result<Option<ObjectRow>> {
    let sql = format!("SELECT {COLUMNS} FROM objects WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.as_uuid())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Every committed object of the contact, by kind.
pub(super) async fn for_contact(pool: &PgPool, contact_id: &ContactId) -> Result<Vec<ObjectRow>> {
    // `COLLATE "C"`: by bytes, as SQLite orders text, whatever the
    // database's collation.
    let sql =
        format!("SELECT {COLUMNS} FROM objects WHERE contact_id = $1 ORDER BY kind COLLATE \"C\"");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(contact_id.as_uuid())
        .fetch_all(pool)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Ids of committed and pending objects. One statement, so one snapshot:
/// an object moving from pending to committed meanwhile is seen once.
pub(super) async fn known_ids(pool: &PgPool) -> Result<HashSet<ObjectId>> {
    let ids: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM objects UNION ALL SELECT id FROM pending_objects")
            .fetch_all(pool)
            .await?;
    Ok(ids.into_iter().map(ObjectId::from_uuid).collect())
}

/// An [`ObjectRow`] from [`COLUMNS`].
pub(crate) fn from_row(row: &PgRow) -> Result<ObjectRow> {
    let source: Option<uuid::Uuid> = row.try_get("source_id")?;
    Ok(ObjectRow {
        id: ObjectId::from_uuid(row.try_get("id")?),
        contact_id: ContactId::from_uuid(row.try_get("contact_id")?),
        kind: row.try_get("kind")?,
        wrapped_key: row.try_get("wrapped_key")?,
        sha256: row.try_get("sha256")?,
        plaintext_len: get_length(row, "plaintext_len")?,
        stored_len: get_length(row, "stored_len")?,
        media: get_json(row, "media")?,
        retain_until: row.try_get("retain_until")?,
        source: source.map(ObjectId::from_uuid),
        created_at: row.try_get("created_at")?,
    })
}
