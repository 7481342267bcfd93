//! The audit log in SQLite: append and read in sequence order. Append-only is
//! enforced by the schema's triggers, not by this code, so no query anyone
//! writes against the pool can rewrite history. Tamper evidence (the hash
//! chain of AUD-2) is built on top of the sequence, elsewhere.

use kirjuri_core::ids::UserId;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::codec::{get_json, get_opt_uuid, get_time, micros};
use crate::error::Result;
use crate::model::{AuditRecord, NewAuditEvent};

/// Appends `event` on `conn` (inside the caller's transaction, if any) and
/// returns its sequence number.
pub(super) async fn insert(conn: &mut SqliteConnection, event: &NewAuditEvent) -> Result<i64> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO audit_events (at, actor, action, object, purpose, outcome, details) \
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq",
    )
    .bind(micros(event.at))
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

/// Up to `limit` events after `after_seq`, in order.
pub(super) async fn after(
    pool: &SqlitePool,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<AuditRecord>> {
    let rows = sqlx::query(
        "SELECT seq, at, actor, action, object, purpose, outcome, details FROM audit_events \
         WHERE seq > ? ORDER BY seq LIMIT ?",
    )
    .bind(after_seq)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(AuditRecord {
                seq: row.try_get("seq")?,
                event: NewAuditEvent {
                    at: get_time(row, "at")?,
                    actor: get_opt_uuid(row, "actor")?.map(UserId::from_uuid),
                    action: row.try_get("action")?,
                    object: row.try_get("object")?,
                    purpose: row.try_get("purpose")?,
                    outcome: row.try_get("outcome")?,
                    details: get_json(row, "details")?,
                },
            })
        })
        .collect()
}
