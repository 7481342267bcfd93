//! A whole register in and out of PostgreSQL for `kirjuri migrate-store`
//! ([`crate::copy`]): [`Import`] writes pages of raw rows into an empty
//! database in one transaction, and [`Export`] reads them back in the same
//! pages, so the copy can be compared row for row with its source.
//!
//! Writing keeps everything as it was: ids, times, hashes, ciphertext, and
//! each audit event's sequence number and `details` text byte for byte (the
//! column is `text`, not `jsonb`, for exactly this). A page is one
//! `INSERT … SELECT FROM UNNEST(arrays)` per table: one round trip and one
//! statement — so the `audit_refs` trigger runs once per page over its
//! transition table — however many rows.
//!
//! The transaction locks every table it fills (`EXCLUSIVE`: readers go on,
//! writers wait) and refuses to start unless they are all empty, so two
//! migrations cannot interleave and nothing is ever merged into a live
//! register. The one row a fresh schema already holds is the audit log's
//! identity, made at random by the migration; the import replaces it with the
//! source's (the checkpoints are signed under `kirjuri/<log id>/audit`, so
//! they verify only under the same id). Its guard trigger refuses every
//! change, so the import switches that trigger off for this one `UPDATE`
//! inside its transaction — allowed only while the log holds no event, which
//! the same transaction has just checked and locked. That needs the table's
//! owner: run the migration with the role that owns the schema.
//!
//! After the commit the tables are vacuumed and analysed: a bulk load leaves
//! the planner without statistics and the visibility map empty (so the blind
//! index's index-only lookups would still visit the heap).
//!
//! Not here: deciding what to copy or in which order (`copy`), objects'
//! bytes, and everything a running register does (`Store`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kirjuri_core::ids::{ContactId, ObjectId, UserId};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use super::codec::{opt_ts, ts};
use super::{PostgresStore, accounts, audit, objects, retention};
use crate::accounts as accounts_rules;
use crate::codec::length;
use crate::copy::{
    Batch, COPIED_WITH, ColumnType, ContactRecord, Cursor, Export, HoldTargetRecord, Import,
    ImportTransaction, SessionRecord, Table, TableSpec, UserRecord, Value, page_select,
    spec_column, spec_key, spec_row, spec_select,
};
use crate::error::{Error, Result};
use crate::model::{
    AuditCheckpointRow, ContactRow, ObjectRow, SealedSecret, SessionRow, StoredAuditEvent,
    TokenRow, TotpRow,
};
use crate::retention::{HoldRow, HoldTarget, TombstoneRow};

/// Every table an import fills, locked and checked empty up front: the
/// copy's tables and those copied with them, except the audit log's
/// identity (one row a fresh schema already holds, replaced below).
fn imported() -> Vec<&'static str> {
    Table::ALL
        .iter()
        .map(|table| table.name())
        .chain(COPIED_WITH.iter().map(|(name, _)| *name))
        .filter(|name| *name != "audit_log")
        .collect()
}

/// The nil UUID standing for "no object" (a whole-contact hold target) in
/// the hold targets' key order; no object has it.
const NIL: Uuid = Uuid::nil();

#[async_trait]
impl Import for PostgresStore {
    async fn begin_import(&self, log_id: &str) -> Result<Box<dyn ImportTransaction>> {
        let mut tx = self.pool.begin().await?;
        let imported = imported();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "LOCK TABLE {} IN EXCLUSIVE MODE",
            imported.join(", ")
        )))
        .execute(&mut *tx)
        .await?;
        for table in imported {
            let any: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT EXISTS (SELECT 1 FROM {table})"
            )))
            .fetch_one(&mut *tx)
            .await?;
            if any {
                return Err(Error::Conflict("data in the target database"));
            }
        }
        let current: Option<String> =
            sqlx::query_scalar("SELECT log_id FROM audit_log WHERE id = 1")
                .fetch_optional(&mut *tx)
                .await?;
        if current.as_deref() != Some(log_id) {
            // The log is empty and locked (checked above): no checkpoint or
            // event is signed under the identity being replaced.
            sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER audit_log_fixed")
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO audit_log (id, log_id) VALUES (1, $1) \
                 ON CONFLICT (id) DO UPDATE SET log_id = EXCLUDED.log_id",
            )
            .bind(log_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("ALTER TABLE audit_log ENABLE TRIGGER audit_log_fixed")
                .execute(&mut *tx)
                .await?;
        }
        Ok(Box::new(PgImport {
            tx,
            pool: self.pool.clone(),
        }))
    }
}

/// The one transaction of an import.
struct PgImport {
    /// Everything is written here; dropped uncommitted, it rolls back.
    tx: Transaction<'static, Postgres>,
    /// For the clean-up after the commit (`VACUUM` cannot run in a
    /// transaction).
    pool: sqlx::PgPool,
}

#[async_trait]
impl ImportTransaction for PgImport {
    async fn write(&mut self, batch: &Batch) -> Result<()> {
        let conn = &mut *self.tx;
        match batch {
            Batch::Users(rows) => insert_users(conn, rows).await,
            Batch::Tokens(rows) => insert_tokens(conn, rows).await,
            Batch::Totp(rows) => insert_totp(conn, rows).await,
            Batch::Sessions(rows) => insert_sessions(conn, rows).await,
            Batch::Contacts(rows) => insert_contacts(conn, rows).await,
            Batch::Objects(rows) => insert_objects(conn, rows).await,
            Batch::Holds(rows) => insert_holds(conn, rows).await,
            Batch::HoldTargets(rows) => insert_hold_targets(conn, rows).await,
            Batch::Tombstones(rows) => insert_tombstones(conn, rows).await,
            Batch::AuditEvents(rows) => insert_events(conn, rows).await,
            Batch::AuditCheckpoints(rows) => insert_checkpoints(conn, rows).await,
            Batch::Rows(spec, rows) => insert_rows(conn, spec, rows).await,
        }
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let PgImport { tx, pool } = *self;
        tx.commit().await?;
        for table in imported() {
            // Statistics and the visibility map; a failure here loses
            // nothing (autovacuum gets there later), so it is only logged.
            if let Err(error) =
                sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM (ANALYZE) {table}")))
                    .execute(&pool)
                    .await
            {
                tracing::warn!(table, error = %error, "failed to vacuum after the import");
            }
        }
        Ok(())
    }
}

type Conn = sqlx::PgConnection;

fn micros_to_time(value: i64, column: &str) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(value)
        .ok_or_else(|| Error::Corrupt(format!("{column}: timestamp out of range")))
}

async fn insert_users(conn: &mut Conn, rows: &[UserRecord]) -> Result<()> {
    let mut failed = Vec::with_capacity(rows.len());
    for row in rows {
        failed.push(i64::from(row.user.failed_logins));
    }
    sqlx::query(
        "INSERT INTO users (id, name, role, password_hash, disabled, created_at, \
             confidentiality_agreement, failed_logins, locked_at, language) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bool[], \
             $6::timestamptz[], $7::text[], $8::int8[], $9::timestamptz[], $10::text[])",
    )
    .bind(
        rows.iter()
            .map(|r| *r.user.id.as_uuid())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.user.name.clone()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.user.role.to_string())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.user.password_hash.clone())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.user.disabled).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| ts(r.user.created_at))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.user.confidentiality_agreement.clone())
            .collect::<Vec<_>>(),
    )
    .bind(failed)
    .bind(
        rows.iter()
            .map(|r| opt_ts(r.user.locked_at))
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.language.clone()).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_tokens(conn: &mut Conn, rows: &[TokenRow]) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, label, token_hash, created_at, expires_at, \
             revoked_at, last_used_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::bytea[], \
             $5::timestamptz[], $6::timestamptz[], $7::timestamptz[], $8::timestamptz[])",
    )
    .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| *r.user_id.as_uuid())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.label.clone()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.token_hash.clone())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| ts(r.created_at)).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| opt_ts(r.expires_at))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| opt_ts(r.revoked_at))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| opt_ts(r.last_used_at))
            .collect::<Vec<_>>(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_totp(conn: &mut Conn, rows: &[TotpRow]) -> Result<()> {
    let part = |secret: &Option<SealedSecret>, wrapped: bool| {
        secret.as_ref().map(|s| {
            if wrapped {
                s.wrapped_key.clone()
            } else {
                s.sealed.clone()
            }
        })
    };
    sqlx::query(
        "INSERT INTO user_totp (user_id, wrapped_key, sealed_secret, pending_wrapped_key, \
             pending_sealed_secret, last_step) \
         SELECT * FROM UNNEST($1::uuid[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[], \
             $6::int8[])",
    )
    .bind(
        rows.iter()
            .map(|r| *r.user_id.as_uuid())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| part(&r.active, true))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| part(&r.active, false))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| part(&r.pending, true))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| part(&r.pending, false))
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.last_step).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_sessions(conn: &mut Conn, rows: &[SessionRecord]) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id, secret_hash, user_id, created_at, last_seen_at, purpose) \
         SELECT * FROM UNNEST($1::uuid[], $2::bytea[], $3::uuid[], $4::timestamptz[], \
             $5::timestamptz[], $6::text[])",
    )
    .bind(rows.iter().map(|r| r.session.id).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.session.secret_hash.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| *r.session.user_id.as_uuid())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| ts(r.session.created_at))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| ts(r.session.last_seen_at))
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.purpose.clone()).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_contacts(conn: &mut Conn, rows: &[ContactRecord]) -> Result<()> {
    let c = |r: &ContactRecord| r.contact.clone();
    let contacts: Vec<ContactRow> = rows.iter().map(c).collect();
    sqlx::query(
        "INSERT INTO contacts (id, external_id, channel, started_at, ended_at, agent, service, \
             created_at, created_by, sealed_document, document_key, retain_until, erased_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], \
             $5::timestamptz[], $6::text[], $7::text[], $8::timestamptz[], $9::uuid[], \
             $10::bytea[], $11::bytea[], $12::timestamptz[], $13::timestamptz[])",
    )
    .bind(contacts.iter().map(|r| *r.id.as_uuid()).collect::<Vec<_>>())
    .bind(
        contacts
            .iter()
            .map(|r| r.external_id.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        contacts
            .iter()
            .map(|r| r.channel.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        contacts
            .iter()
            .map(|r| ts(r.started_at))
            .collect::<Vec<_>>(),
    )
    .bind(
        contacts
            .iter()
            .map(|r| opt_ts(r.ended_at))
            .collect::<Vec<_>>(),
    )
    .bind(contacts.iter().map(|r| r.agent.clone()).collect::<Vec<_>>())
    .bind(
        contacts
            .iter()
            .map(|r| r.service.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        contacts
            .iter()
            .map(|r| ts(r.created_at))
            .collect::<Vec<_>>(),
    )
    .bind(
        contacts
            .iter()
            .map(|r| *r.created_by.as_uuid())
            .collect::<Vec<_>>(),
    )
    .bind(
        contacts
            .iter()
            .map(|r| r.sealed_document.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        contacts
            .iter()
            .map(|r| r.document_key.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        contacts
            .iter()
            .map(|r| ts(r.retain_until))
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| opt_ts(r.erased_at)).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    let mut ids = Vec::new();
    let mut kinds = Vec::new();
    let mut hashes = Vec::new();
    for row in rows {
        for entry in &row.index {
            ids.push(*row.contact.id.as_uuid());
            kinds.push(entry.kind.clone());
            hashes.push(entry.hash.clone());
        }
    }
    if !ids.is_empty() {
        sqlx::query(
            "INSERT INTO contact_index (contact_id, kind, hash) \
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::bytea[])",
        )
        .bind(ids)
        .bind(kinds)
        .bind(hashes)
        .execute(conn)
        .await?;
    }
    Ok(())
}

async fn insert_objects(conn: &mut Conn, rows: &[ObjectRow]) -> Result<()> {
    let mut plaintext = Vec::with_capacity(rows.len());
    let mut stored = Vec::with_capacity(rows.len());
    for row in rows {
        plaintext.push(length(row.plaintext_len, "objects.plaintext_len")?);
        stored.push(length(row.stored_len, "objects.stored_len")?);
    }
    sqlx::query(
        "INSERT INTO objects (id, contact_id, kind, wrapped_key, sha256, plaintext_len, \
             stored_len, media, retain_until, source_id, created_at) \
         SELECT id, contact_id, kind, wrapped_key, sha256, plaintext_len, stored_len, \
             media::jsonb, retain_until, source_id, created_at \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::bytea[], $5::text[], $6::int8[], \
             $7::int8[], $8::text[], $9::timestamptz[], $10::uuid[], $11::timestamptz[]) \
             AS t(id, contact_id, kind, wrapped_key, sha256, plaintext_len, stored_len, media, \
                  retain_until, source_id, created_at)",
    )
    .bind(rows.iter().map(|r| *r.id.as_uuid()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| *r.contact_id.as_uuid())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.kind.clone()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.wrapped_key.clone())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.sha256.clone()).collect::<Vec<_>>())
    .bind(plaintext)
    .bind(stored)
    .bind(rows.iter().map(|r| r.media.to_string()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| ts(r.retain_until)).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.source.map(|s| *s.as_uuid()))
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| ts(r.created_at)).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_holds(conn: &mut Conn, rows: &[HoldRow]) -> Result<()> {
    sqlx::query(
        "INSERT INTO legal_holds (id, ground_kind, ground, owner, review_by, expires_at, scope, \
             created_at, created_by, lifted_at, lifted_by, lift_reason, reminded_at) \
         SELECT id, ground_kind, ground, owner, review_by, expires_at, scope::jsonb, created_at, \
             created_by, lifted_at, lifted_by, lift_reason, reminded_at \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::timestamptz[], \
             $6::timestamptz[], $7::text[], $8::timestamptz[], $9::uuid[], $10::timestamptz[], \
             $11::uuid[], $12::text[], $13::timestamptz[]) \
             AS t(id, ground_kind, ground, owner, review_by, expires_at, scope, created_at, \
                  created_by, lifted_at, lifted_by, lift_reason, reminded_at)",
    )
    .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.ground_kind.clone())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.ground.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| *r.owner.as_uuid()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| ts(r.review_by)).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| opt_ts(r.expires_at))
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.scope.to_string()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| ts(r.created_at)).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| *r.created_by.as_uuid())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| opt_ts(r.lifted_at)).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.lifted_by.map(|u| *u.as_uuid()))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.lift_reason.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| opt_ts(r.reminded_at))
            .collect::<Vec<_>>(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_hold_targets(conn: &mut Conn, rows: &[HoldTargetRecord]) -> Result<()> {
    sqlx::query(
        "INSERT INTO legal_hold_targets (hold_id, contact_id, object_id) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[])",
    )
    .bind(rows.iter().map(|r| r.hold_id).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| *r.target.contact_id.as_uuid())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.target.object_id.map(|o| *o.as_uuid()))
            .collect::<Vec<_>>(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_tombstones(conn: &mut Conn, rows: &[TombstoneRow]) -> Result<()> {
    sqlx::query(
        "INSERT INTO tombstones (id, contact_id, kind, rule, reason, sha256, retain_until, \
             deleted_at, ledgered_at, storage_deleted_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], \
             $10::timestamptz[])",
    )
    .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| *r.contact_id.as_uuid())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.kind.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.rule.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.reason.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.sha256.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| ts(r.retain_until)).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| ts(r.deleted_at)).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| opt_ts(r.ledgered_at))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| opt_ts(r.storage_deleted_at))
            .collect::<Vec<_>>(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_events(conn: &mut Conn, rows: &[StoredAuditEvent]) -> Result<()> {
    let mut at = Vec::with_capacity(rows.len());
    let mut actors = Vec::with_capacity(rows.len());
    for row in rows {
        at.push(micros_to_time(row.at_micros, "audit_events.at")?);
        actors.push(
            row.actor
                .as_deref()
                .map(|bytes| {
                    Uuid::from_slice(bytes)
                        .map_err(|_| Error::Corrupt("audit_events.actor: not 16 bytes".into()))
                })
                .transpose()?,
        );
    }
    sqlx::query(
        "INSERT INTO audit_events (seq, at, actor, action, object, purpose, outcome, details) \
         SELECT * FROM UNNEST($1::int8[], $2::timestamptz[], $3::uuid[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::text[])",
    )
    .bind(rows.iter().map(|r| r.seq).collect::<Vec<_>>())
    .bind(at)
    .bind(actors)
    .bind(rows.iter().map(|r| r.action.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.object.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.purpose.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.outcome.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.details.clone()).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_checkpoints(conn: &mut Conn, rows: &[AuditCheckpointRow]) -> Result<()> {
    let mut sizes = Vec::with_capacity(rows.len());
    for row in rows {
        sizes.push(length(row.size, "audit_checkpoints.size")?);
    }
    sqlx::query(
        "INSERT INTO audit_checkpoints (size, root, note, frontier, created_at) \
         SELECT * FROM UNNEST($1::int8[], $2::bytea[], $3::text[], $4::bytea[], \
             $5::timestamptz[])",
    )
    .bind(sizes)
    .bind(rows.iter().map(|r| r.root.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.note.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.frontier.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| ts(r.created_at)).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// A page of a [`TableSpec`]'s rows, in one `INSERT … SELECT FROM
/// UNNEST(arrays)`: one array per column, typed as the column's type.
async fn insert_rows(conn: &mut Conn, spec: &TableSpec, rows: &[Vec<Value>]) -> Result<()> {
    let names: Vec<&str> = spec.columns.iter().map(|(name, _)| *name).collect();
    let arrays: Vec<String> = spec
        .columns
        .iter()
        .enumerate()
        .map(|(i, (_, ty))| {
            let ty = match ty {
                ColumnType::Id => "uuid",
                ColumnType::Bytes => "bytea",
                ColumnType::Text => "text",
                ColumnType::Int => "int8",
                ColumnType::Time => "timestamptz",
            };
            format!("${}::{ty}[]", i + 1)
        })
        .collect();
    let sql = format!(
        "INSERT INTO {} ({}) SELECT * FROM UNNEST({})",
        spec.name,
        names.join(", "),
        arrays.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (at, (_, ty)) in spec.columns.iter().enumerate() {
        query = match ty {
            ColumnType::Id => query.bind(spec_column(spec, rows, at, |v| match v {
                Value::Id(id) => Some(*id),
                _ => None,
            })?),
            ColumnType::Bytes => query.bind(spec_column(spec, rows, at, |v| match v {
                Value::Bytes(bytes) => Some(bytes.clone()),
                _ => None,
            })?),
            ColumnType::Text => query.bind(spec_column(spec, rows, at, |v| match v {
                Value::Text(text) => Some(text.clone()),
                _ => None,
            })?),
            ColumnType::Int => query.bind(spec_column(spec, rows, at, |v| match v {
                Value::Int(n) => Some(*n),
                _ => None,
            })?),
            ColumnType::Time => query.bind(spec_column(spec, rows, at, |v| match v {
                Value::Time(t) => Some(opt_ts(*t)),
                _ => None,
            })?),
        };
    }
    query.execute(conn).await?;
    Ok(())
}

// --- reading back -------------------------------------------------------

fn user(row: &PgRow) -> Result<UserRecord> {
    Ok(UserRecord {
        user: accounts::user_from_row(row)?,
        language: row.try_get("language")?,
    })
}

fn token(row: &PgRow) -> Result<TokenRow> {
    Ok(TokenRow {
        id: row.try_get("id")?,
        user_id: UserId::from_uuid(row.try_get("user_id")?),
        label: row.try_get("label")?,
        token_hash: row.try_get("token_hash")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

fn sealed(row: &PgRow, key: &str, secret: &str) -> Result<Option<SealedSecret>> {
    accounts_rules::sealed_whole(key, row.try_get(key)?, row.try_get(secret)?)
}

fn totp(row: &PgRow) -> Result<TotpRow> {
    Ok(TotpRow {
        user_id: UserId::from_uuid(row.try_get("user_id")?),
        active: sealed(row, "wrapped_key", "sealed_secret")?,
        pending: sealed(row, "pending_wrapped_key", "pending_sealed_secret")?,
        last_step: row.try_get("last_step")?,
    })
}

fn session(row: &PgRow) -> Result<SessionRecord> {
    Ok(SessionRecord {
        session: SessionRow {
            id: row.try_get("id")?,
            secret_hash: row.try_get("secret_hash")?,
            user_id: UserId::from_uuid(row.try_get("user_id")?),
            created_at: row.try_get("created_at")?,
            last_seen_at: row.try_get("last_seen_at")?,
        },
        purpose: row.try_get("purpose")?,
    })
}

fn collect<T>(rows: &[PgRow], decode: fn(&PgRow) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(decode).collect()
}

impl PostgresStore {
    async fn export_keyed(
        &self,
        table: Table,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Vec<PgRow>> {
        let Some(sql) = page_select(table, "::text", after.as_ref()) else {
            return Err(Error::Corrupt(format!(
                "export: {} is not keyed",
                table.name()
            )));
        };
        let query = sqlx::query(sqlx::AssertSqlSafe(sql));
        let query = match after {
            None => query,
            Some(Cursor::Id(id)) => query.bind(id),
            Some(Cursor::Number(n)) => query.bind(n),
            Some(Cursor::HoldTarget(..) | Cursor::Key(_)) => {
                return Err(Error::Corrupt(
                    "export cursor: wrong kind for the table".into(),
                ));
            }
        };
        Ok(query.bind(i64::from(limit)).fetch_all(&self.pool).await?)
    }

    async fn export_rows(
        &self,
        spec: &TableSpec,
        after: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<Vec<Value>>> {
        let key = spec_key(spec, after)?;
        let sql = spec_select::<Postgres>(spec, after.is_some());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for value in key {
            query = match value {
                Value::Id(id) => query.bind(*id),
                Value::Bytes(bytes) => query.bind(bytes.clone()),
                Value::Text(text) => query.bind(text.clone()),
                Value::Int(n) => query.bind(*n),
                Value::Time(at) => query.bind(opt_ts(*at)),
            };
        }
        let rows = query.bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| spec_row::<Postgres>(spec, row))
            .collect()
    }

    async fn export_contacts(
        &self,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Vec<ContactRecord>> {
        const COLUMNS: &str = "id, external_id, channel, started_at, ended_at, agent, service, \
            created_at, created_by, sealed_document, document_key, retain_until, erased_at";
        let rows = match after {
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM contacts ORDER BY id LIMIT $1"
                )))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
            }
            Some(Cursor::Id(id)) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM contacts WHERE id > $1 ORDER BY id LIMIT $2"
                )))
                .bind(id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
            }
            Some(_) => {
                return Err(Error::Corrupt(
                    "export cursor: wrong kind for contacts".into(),
                ));
            }
        };
        let mut contacts = crate::copy::contact_records::<Postgres>(&rows)?;
        let (Some(first), Some(last)) = (contacts.first(), contacts.last()) else {
            return Ok(contacts);
        };
        let entries = sqlx::query(
            "SELECT contact_id, kind, hash FROM contact_index \
             WHERE contact_id BETWEEN $1 AND $2",
        )
        .bind(first.contact.id.as_uuid())
        .bind(last.contact.id.as_uuid())
        .fetch_all(&self.pool)
        .await?;
        crate::copy::attach_index::<Postgres>(&mut contacts, &entries)?;
        Ok(contacts)
    }

    async fn export_hold_targets(
        &self,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Vec<HoldTargetRecord>> {
        // The key as a row value (for the cursor) and as a sort order.
        const KEY: &str = "(hold_id, contact_id, coalesce(object_id, $NIL::uuid))";
        const ORDER: &str = "hold_id, contact_id, coalesce(object_id, $NIL::uuid)";
        let nil = format!("'{NIL}'");
        let rows = match after {
            None => {
                sqlx::query(sqlx::AssertSqlSafe(
                    format!(
                        "SELECT hold_id, contact_id, object_id FROM legal_hold_targets \
                         ORDER BY {ORDER} LIMIT $1"
                    )
                    .replace("$NIL", &nil),
                ))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
            }
            Some(Cursor::HoldTarget(hold, contact, object)) => {
                sqlx::query(sqlx::AssertSqlSafe(
                    format!(
                        "SELECT hold_id, contact_id, object_id FROM legal_hold_targets \
                         WHERE {KEY} > ($1, $2, $3) ORDER BY {ORDER} LIMIT $4"
                    )
                    .replace("$NIL", &nil),
                ))
                .bind(hold)
                .bind(contact)
                .bind(object)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
            }
            Some(_) => {
                return Err(Error::Corrupt(
                    "export cursor: wrong kind for legal_hold_targets".into(),
                ));
            }
        };
        rows.iter()
            .map(|row| {
                Ok(HoldTargetRecord {
                    hold_id: row.try_get("hold_id")?,
                    target: HoldTarget {
                        contact_id: ContactId::from_uuid(row.try_get("contact_id")?),
                        object_id: row
                            .try_get::<Option<Uuid>, _>("object_id")?
                            .map(ObjectId::from_uuid),
                    },
                })
            })
            .collect()
    }
}

#[async_trait]
impl Export for PostgresStore {
    async fn export(&self, table: Table, after: Option<Cursor>, limit: u32) -> Result<Batch> {
        Ok(match table {
            Table::Rows(spec) => {
                Batch::Rows(spec, self.export_rows(spec, after.as_ref(), limit).await?)
            }
            Table::Contacts => Batch::Contacts(self.export_contacts(after, limit).await?),
            Table::HoldTargets => Batch::HoldTargets(self.export_hold_targets(after, limit).await?),
            Table::Users => Batch::Users(collect(
                &self.export_keyed(table, after, limit).await?,
                user,
            )?),
            Table::Tokens => Batch::Tokens(collect(
                &self.export_keyed(table, after, limit).await?,
                token,
            )?),
            Table::Totp => Batch::Totp(collect(
                &self.export_keyed(table, after, limit).await?,
                totp,
            )?),
            Table::Sessions => Batch::Sessions(collect(
                &self.export_keyed(table, after, limit).await?,
                session,
            )?),
            Table::Objects => Batch::Objects(collect(
                &self.export_keyed(table, after, limit).await?,
                objects::from_row,
            )?),
            Table::Holds => Batch::Holds(collect(
                &self.export_keyed(table, after, limit).await?,
                retention::hold_from_row,
            )?),
            Table::Tombstones => Batch::Tombstones(collect(
                &self.export_keyed(table, after, limit).await?,
                retention::tombstone_from_row,
            )?),
            Table::AuditEvents => Batch::AuditEvents(collect(
                &self.export_keyed(table, after, limit).await?,
                audit::stored,
            )?),
            Table::AuditCheckpoints => Batch::AuditCheckpoints(collect(
                &self.export_keyed(table, after, limit).await?,
                crate::audit_sql::checkpoint,
            )?),
        })
    }

    async fn count(&self, table: Table) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {}",
            table.name()
        )))
        .fetch_one(&self.pool)
        .await?;
        u64::try_from(n).map_err(|_| Error::Corrupt(format!("count({}): negative", table.name())))
    }

    async fn count_index_entries(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM contact_index")
            .fetch_one(&self.pool)
            .await?;
        u64::try_from(n).map_err(|_| Error::Corrupt("count(contact_index): negative".into()))
    }

    async fn log_id(&self) -> Result<String> {
        let id: Option<String> = sqlx::query_scalar("SELECT log_id FROM audit_log WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        id.ok_or_else(|| Error::Corrupt("audit_log: the log identity is missing".into()))
    }
}
