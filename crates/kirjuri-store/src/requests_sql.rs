//! [`RequestStore`]'s SQL, written once for both databases over
//! [`Backend`]: every statement here is the same in SQLite and PostgreSQL
//! (numbered placeholders, timestamps through [`Backend::time`], dates and
//! JSON as text). Every write is the shared audited write
//! ([`audited::write_audited_if`], in the backend's write transaction), so a
//! change, its timeline entries, the messages it causes (queued in the
//! outbox in the same transaction) and its audit events commit together.
//! Within that transaction writers are serialised on both
//! databases (SQLite's write lock; PostgreSQL's audit lock), which is what
//! makes "the next reference of the year" safe; the unique constraint on
//! `reference` backs it.

use std::fmt::Display;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use kirjuri_core::ids::{ContactId, UserId};
use sqlx::{ColumnIndex, Database, Encode, Executor, QueryBuilder, Type};
use uuid::Uuid;

use crate::audited::{self, AuditLog, Audited, Conn};
use crate::backend::{Backend, SqlStore, Unique};
use crate::contacts_sql::insert_index;
use crate::error::{Error, Result};
use crate::limits;
use crate::model::{NewAuditEvent, SealedSecret};
use crate::outbox::{NewOutboxMessage, insert_message};
use crate::requests::{
    CodeRow, CodeTry, ContactHistoryRow, DeliveryLinkRow, IdentifierProof, NewRequest,
    Rectification, RefusalProposal, RequestEventRow, RequestIdentifierRow, RequestRow,
    RequestStore, RequestUpdate, VerificationRow,
};

/// The columns of a [`RequestRow`].
const REQUEST_COLUMNS: &str = "id, reference, types, channel, language, state, received_at, \
    due_date, calendar_version, clock, assurance_needed, assurance_proven, objection_purposes, \
    refusal_ground, refusal_proposed_by, refusal_proposed_at, sealed_details, details_key, \
    version, created_at, created_by, closed_at, retain_until";

/// The tables holding a request's parts by `request_id`, deleted with it
/// when its record's retention ends. A new table referring to requests
/// belongs here.
const REQUEST_PARTS: [&str; 5] = [
    "delivery_links",
    "request_codes",
    "request_events",
    "request_verifications",
    "request_identifiers",
];

/// The columns of a [`ContactHistoryRow`].
const HISTORY_COLUMNS: &str = "id, contact_id, request_id, changed_at, changed_by, \
    sealed_document, document_key, changed_fields";

/// Open requests the queue reads at most, whatever is asked.
pub const MAX_OPEN: u32 = 10_000;

/// Items joined for a text column: `access,erasure`.
fn join<T: Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A stored wire name, parsed; a name this build does not know is corrupt.
fn parse<T: FromStr>(text: &str, column: &'static str) -> Result<T> {
    text.parse()
        .map_err(|_| Error::Corrupt(format!("{column}: unknown value")))
}

/// A joined text column, split and parsed.
fn split<T: FromStr>(text: &str, column: &'static str) -> Result<Vec<T>> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| parse(s, column))
        .collect()
}

fn to_i64(value: u64, column: &'static str) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::Corrupt(format!("{column}: out of range")))
}

fn to_u32(value: u64, column: &'static str) -> Result<u32> {
    u32::try_from(value).map_err(|_| Error::Corrupt(format!("{column}: out of range")))
}

fn request_from_row<DB: Backend>(row: &DB::Row) -> Result<RequestRow> {
    let refusal = match DB::get_opt_text(row, "refusal_ground")? {
        Some(ground) => Some(RefusalProposal {
            ground,
            by: UserId::from_uuid(
                DB::get_opt_uuid(row, "refusal_proposed_by")?
                    .ok_or_else(|| Error::Corrupt("refusal_proposed_by: missing".into()))?,
            ),
            at: DB::get_opt_time(row, "refusal_proposed_at")?
                .ok_or_else(|| Error::Corrupt("refusal_proposed_at: missing".into()))?,
        }),
        None => None,
    };
    Ok(RequestRow {
        id: DB::get_uuid(row, "id")?,
        reference: DB::get_text(row, "reference")?,
        types: split(&DB::get_text(row, "types")?, "requests.types")?,
        channel: parse(&DB::get_text(row, "channel")?, "requests.channel")?,
        language: DB::get_text(row, "language")?,
        state: parse(&DB::get_text(row, "state")?, "requests.state")?,
        received_at: DB::get_time(row, "received_at")?,
        due_date: parse::<NaiveDate>(&DB::get_text(row, "due_date")?, "requests.due_date")?,
        calendar_version: DB::get_text(row, "calendar_version")?,
        clock: DB::get_text(row, "clock")?,
        assurance_needed: parse(
            &DB::get_text(row, "assurance_needed")?,
            "requests.assurance_needed",
        )?,
        assurance_proven: DB::get_opt_text(row, "assurance_proven")?
            .map(|a| parse(&a, "requests.assurance_proven"))
            .transpose()?,
        objection_purposes: split(
            &DB::get_text(row, "objection_purposes")?,
            "requests.objection_purposes",
        )?,
        refusal,
        details: SealedSecret {
            wrapped_key: DB::get_bytes(row, "details_key")?,
            sealed: DB::get_bytes(row, "sealed_details")?,
        },
        version: DB::get_count(row, "version")?,
        created_at: DB::get_time(row, "created_at")?,
        created_by: DB::get_opt_uuid(row, "created_by")?.map(UserId::from_uuid),
        closed_at: DB::get_opt_time(row, "closed_at")?,
        retain_until: DB::get_opt_time(row, "retain_until")?,
    })
}

/// The columns of a [`DeliveryLinkRow`].
const LINK_COLUMNS: &str = "id, request_id, token_hash, kind, address_hash, expires_at, \
    created_at, created_by, used_at, revoked_at, code_hash, code_expires_at, code_tries_left";

fn link_from_row<DB: Backend>(row: &DB::Row) -> Result<DeliveryLinkRow> {
    Ok(DeliveryLinkRow {
        id: DB::get_uuid(row, "id")?,
        request_id: DB::get_uuid(row, "request_id")?,
        token_hash: DB::get_bytes(row, "token_hash")?,
        kind: DB::get_text(row, "kind")?,
        address_hash: DB::get_bytes(row, "address_hash")?,
        expires_at: DB::get_time(row, "expires_at")?,
        created_at: DB::get_time(row, "created_at")?,
        created_by: DB::get_opt_uuid(row, "created_by")?.map(UserId::from_uuid),
        used_at: DB::get_opt_time(row, "used_at")?,
        revoked_at: DB::get_opt_time(row, "revoked_at")?,
        code_hash: DB::get_opt_bytes(row, "code_hash")?,
        code_expires_at: DB::get_opt_time(row, "code_expires_at")?,
        code_tries_left: to_u32(
            DB::get_count(row, "code_tries_left")?,
            "delivery_links.code_tries_left",
        )?,
    })
}

/// Inserts a timeline entry. Runs inside the caller's transaction.
/// A taken code try, from a row with `address_hash`, `code_hash`,
/// `expires_at` and `tries_left` (`what` names the stored column).
fn code_try<DB: Backend>(row: &DB::Row, what: &'static str) -> Result<CodeTry>
where
    for<'s> &'s str: ColumnIndex<DB::Row>,
{
    Ok(CodeTry {
        address_hash: DB::get_bytes(row, "address_hash")?,
        code_hash: DB::get_bytes(row, "code_hash")?,
        expires_at: DB::get_time(row, "expires_at")?,
        tries_left: to_u32(DB::get_count(row, "tries_left")?, what)?,
    })
}

async fn insert_event<S>(conn: &mut Conn<S>, request: Uuid, event: &RequestEventRow) -> Result<()>
where
    S: SqlStore,
    S::Db: AuditLog,
    for<'q> Uuid: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<Uuid>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'c> &'c mut Conn<S>: Executor<'c, Database = S::Db>,
{
    sqlx::query(
        "INSERT INTO request_events (id, request_id, at, actor, kind, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(event.id)
    .bind(request)
    .bind(S::Db::time(event.at))
    .bind(event.actor.map(|a| *a.as_uuid()))
    .bind(event.kind.as_str())
    .bind(event.detail.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// The next reference of `year`, read inside the caller's (serialised)
/// write transaction.
async fn next_reference<S>(conn: &mut Conn<S>, year: i32) -> Result<String>
where
    S: SqlStore,
    S::Db: AuditLog,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'s> &'s str: ColumnIndex<<S::Db as Database>::Row>,
    for<'c> &'c mut Conn<S>: Executor<'c, Database = S::Db>,
{
    let prefix = format!("DSR-{year}-");
    let last = sqlx::query(
        "SELECT reference FROM requests WHERE reference LIKE $1 \
         ORDER BY reference DESC LIMIT 1",
    )
    .bind(format!("{prefix}%"))
    .fetch_optional(conn)
    .await?;
    let number = match last {
        Some(row) => {
            let reference = S::Db::get_text(&row, "reference")?;
            let tail = reference.strip_prefix(&prefix).unwrap_or("");
            parse::<u64>(tail, "requests.reference")? + 1
        }
        None => 1,
    };
    Ok(format!("{prefix}{number:06}"))
}

#[async_trait]
impl<S> RequestStore for S
where
    S: SqlStore,
    S::Db: AuditLog,
    for<'q> Uuid: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<Uuid>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<&'q str>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<String>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Vec<u8>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<<S::Db as Backend>::Time>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q Uuid: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q [u8]: Encode<'q, S::Db> + Type<S::Db>,
    for<'s> &'s str: ColumnIndex<<S::Db as Database>::Row>,
    for<'c> &'c mut Conn<S>: Executor<'c, Database = S::Db>,
{
    #[tracing::instrument(skip_all, fields(request_id = %new.row.id))]
    async fn insert_request(
        &self,
        new: &NewRequest,
        year: i32,
        audit: &NewAuditEvent,
    ) -> Result<String> {
        audited::write_audited_if(self, async |tx| {
            let row = &new.row;
            let reference = next_reference::<S>(tx, year).await?;
            let sql = format!(
                "INSERT INTO requests ({REQUEST_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, \
                 $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(row.id)
                .bind(reference.clone())
                .bind(join(&row.types))
                .bind(row.channel.as_str())
                .bind(row.language.clone())
                .bind(row.state.as_str())
                .bind(S::Db::time(row.received_at))
                .bind(row.due_date.to_string())
                .bind(row.calendar_version.clone())
                .bind(row.clock.clone())
                .bind(row.assurance_needed.as_str())
                .bind(row.assurance_proven.map(|a| a.as_str()))
                .bind(join(&row.objection_purposes))
                .bind(row.refusal.as_ref().map(|r| r.ground.clone()))
                .bind(row.refusal.as_ref().map(|r| *r.by.as_uuid()))
                .bind(row.refusal.as_ref().map(|r| S::Db::time(r.at)))
                .bind(row.details.sealed.clone())
                .bind(row.details.wrapped_key.clone())
                .bind(to_i64(row.version, "requests.version")?)
                .bind(S::Db::time(row.created_at))
                .bind(row.created_by.map(|u| *u.as_uuid()))
                .bind(row.closed_at.map(S::Db::time))
                .bind(row.retain_until.map(S::Db::time))
                .execute(&mut *tx)
                .await
                .map_err(|err| {
                    S::Db::write_error(
                        err,
                        &[Unique::new(
                            "requests.reference",
                            "requests_reference_key",
                            "request reference",
                        )],
                        "request",
                    )
                })?;
            for (kind, hash) in &new.identifiers {
                sqlx::query(
                    "INSERT INTO request_identifiers (request_id, kind, hash) \
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(row.id)
                .bind(kind.as_str())
                .bind(hash.clone())
                .execute(&mut *tx)
                .await?;
            }
            insert_event::<S>(tx, row.id, &new.event).await?;
            for message in &new.messages {
                insert_message::<S::Db>(tx, message).await?;
            }
            Ok(Audited::commit(reference, [audit]))
        })
        .await
    }

    async fn request(&self, id: &Uuid) -> Result<Option<RequestRow>> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(*id)
            .fetch_optional(self.sql_pool())
            .await?;
        row.map(|row| request_from_row::<S::Db>(&row)).transpose()
    }

    async fn open_requests(&self, limit: u32) -> Result<Vec<RequestRow>> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE closed_at IS NULL \
             ORDER BY due_date, id LIMIT $1"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(limit.min(MAX_OPEN)))
            .fetch_all(self.sql_pool())
            .await?;
        rows.iter().map(request_from_row::<S::Db>).collect()
    }

    async fn requests_sharing_identifiers(
        &self,
        except: &Uuid,
        identifiers: &[(String, Vec<u8>)],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<RequestRow>> {
        if identifiers.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        // Each pair is an equality on request_identifiers_by_hash.
        let mut query = QueryBuilder::<S::Db>::new(format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE id IN \
             (SELECT i.request_id FROM request_identifiers AS i WHERE "
        ));
        for (n, (kind, hash)) in identifiers.iter().enumerate() {
            if n > 0 {
                query.push(" OR ");
            }
            query
                .push("(i.kind = ")
                .push_bind(kind.as_str())
                .push(" AND i.hash = ")
                .push_bind(hash.as_slice())
                .push(")");
        }
        query
            .push(") AND id <> ")
            .push_bind(*except)
            .push(" AND received_at >= ")
            .push_bind(S::Db::time(from))
            .push(" AND received_at <= ")
            .push_bind(S::Db::time(to))
            .push(" ORDER BY received_at, id LIMIT ")
            .push_bind(i64::from(limit));
        let rows = query.build().fetch_all(self.sql_pool()).await?;
        rows.iter().map(request_from_row::<S::Db>).collect()
    }

    async fn count_requests(&self) -> Result<u64> {
        let row = sqlx::query("SELECT count(*) AS n FROM requests")
            .fetch_one(self.sql_pool())
            .await?;
        S::Db::get_count(&row, "n")
    }

    async fn request_identifiers(&self, id: &Uuid) -> Result<Vec<RequestIdentifierRow>> {
        let rows = sqlx::query(
            "SELECT kind, hash, proven_by, basis, proven_at FROM request_identifiers \
             WHERE request_id = $1 ORDER BY kind, hash",
        )
        .bind(*id)
        .fetch_all(self.sql_pool())
        .await?;
        rows.iter()
            .map(|row| {
                let proof = match S::Db::get_opt_text(row, "proven_by")? {
                    Some(by) => Some(IdentifierProof {
                        by,
                        basis: S::Db::get_opt_text(row, "basis")?,
                        at: S::Db::get_opt_time(row, "proven_at")?
                            .ok_or_else(|| Error::Corrupt("proven_at: missing".into()))?,
                    }),
                    None => None,
                };
                Ok(RequestIdentifierRow {
                    kind: S::Db::get_text(row, "kind")?,
                    hash: S::Db::get_bytes(row, "hash")?,
                    proof,
                })
            })
            .collect()
    }

    async fn request_verifications(&self, id: &Uuid) -> Result<Vec<VerificationRow>> {
        let rows = sqlx::query(
            "SELECT id, method, assurance, verifier, document_type, at \
             FROM request_verifications WHERE request_id = $1 ORDER BY at, id",
        )
        .bind(*id)
        .fetch_all(self.sql_pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(VerificationRow {
                    id: S::Db::get_uuid(row, "id")?,
                    method: parse(&S::Db::get_text(row, "method")?, "verifications.method")?,
                    assurance: parse(
                        &S::Db::get_text(row, "assurance")?,
                        "verifications.assurance",
                    )?,
                    verifier: S::Db::get_opt_uuid(row, "verifier")?.map(UserId::from_uuid),
                    document_type: S::Db::get_opt_text(row, "document_type")?
                        .map(|d| parse(&d, "verifications.document_type"))
                        .transpose()?,
                    at: S::Db::get_time(row, "at")?,
                })
            })
            .collect()
    }

    async fn request_events(&self, id: &Uuid) -> Result<Vec<RequestEventRow>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, kind, detail FROM request_events \
             WHERE request_id = $1 ORDER BY at, id",
        )
        .bind(*id)
        .fetch_all(self.sql_pool())
        .await?;
        rows.iter()
            .map(|row| {
                let detail = S::Db::get_text(row, "detail")?;
                Ok(RequestEventRow {
                    id: S::Db::get_uuid(row, "id")?,
                    at: S::Db::get_time(row, "at")?,
                    actor: S::Db::get_opt_uuid(row, "actor")?.map(UserId::from_uuid),
                    kind: S::Db::get_text(row, "kind")?,
                    detail: serde_json::from_str(&detail)
                        .map_err(|_| Error::Corrupt("request_events.detail: not JSON".into()))?,
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all, fields(request_id = %update.row.id))]
    async fn update_request(&self, update: &RequestUpdate, audit: &[NewAuditEvent]) -> Result<()> {
        audited::write_audited_if(self, async |tx| {
            let row = &update.row;
            // Whether this change closes an open request: then it is
            // counted into the anonymous roll-ups, in this transaction.
            let closes = match row.closed_at {
                Some(_) => sqlx::query(
                    "SELECT 1 AS one FROM requests WHERE id = $1 AND version = $2 \
                     AND closed_at IS NULL",
                )
                .bind(row.id)
                .bind(to_i64(update.expected_version, "requests.version")?)
                .fetch_optional(&mut *tx)
                .await?
                .is_some(),
                None => false,
            };
            let done = sqlx::query(
                "UPDATE requests SET state = $1, due_date = $2, calendar_version = $3, \
                 clock = $4, assurance_proven = $5, refusal_ground = $6, \
                 refusal_proposed_by = $7, refusal_proposed_at = $8, sealed_details = $9, \
                 details_key = $10, version = $11, closed_at = $12, retain_until = $13 \
                 WHERE id = $14 AND version = $15",
            )
            .bind(row.state.as_str())
            .bind(row.due_date.to_string())
            .bind(row.calendar_version.clone())
            .bind(row.clock.clone())
            .bind(row.assurance_proven.map(|a| a.as_str()))
            .bind(row.refusal.as_ref().map(|r| r.ground.clone()))
            .bind(row.refusal.as_ref().map(|r| *r.by.as_uuid()))
            .bind(row.refusal.as_ref().map(|r| S::Db::time(r.at)))
            .bind(row.details.sealed.clone())
            .bind(row.details.wrapped_key.clone())
            .bind(to_i64(row.version, "requests.version")?)
            .bind(row.closed_at.map(S::Db::time))
            .bind(row.retain_until.map(S::Db::time))
            .bind(row.id)
            .bind(to_i64(update.expected_version, "requests.version")?)
            .execute(&mut *tx)
            .await?;
            if S::Db::rows_affected(&done) == 0 {
                let exists = sqlx::query("SELECT 1 AS one FROM requests WHERE id = $1")
                    .bind(row.id)
                    .fetch_optional(&mut *tx)
                    .await?;
                return Err(match exists {
                    Some(_) => Error::Conflict("request version"),
                    None => Error::NotFound,
                });
            }
            if let (true, Some(closed_at)) = (closes, row.closed_at) {
                crate::statistics::count_request_closed::<S::Db>(
                    tx,
                    &row.types,
                    row.state.as_str(),
                    closed_at,
                    row.due_date,
                )
                .await?;
            }
            if let Some(v) = &update.verification {
                sqlx::query(
                    "INSERT INTO request_verifications \
                     (id, request_id, method, assurance, verifier, document_type, at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(v.id)
                .bind(row.id)
                .bind(v.method.as_str())
                .bind(v.assurance.as_str())
                .bind(v.verifier.map(|u| *u.as_uuid()))
                .bind(v.document_type.map(|d| d.as_str()))
                .bind(S::Db::time(v.at))
                .execute(&mut *tx)
                .await?;
            }
            for (kind, hash, proof) in &update.proven {
                sqlx::query(
                    "UPDATE request_identifiers SET proven_by = $1, basis = $2, proven_at = $3 \
                     WHERE request_id = $4 AND kind = $5 AND hash = $6 AND proven_by IS NULL",
                )
                .bind(proof.by.as_str())
                .bind(proof.basis.as_deref())
                .bind(S::Db::time(proof.at))
                .bind(row.id)
                .bind(kind.as_str())
                .bind(hash.clone())
                .execute(&mut *tx)
                .await?;
            }
            if let Some(kind) = &update.discard_code {
                sqlx::query("DELETE FROM request_codes WHERE request_id = $1 AND kind = $2")
                    .bind(row.id)
                    .bind(kind.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            for event in &update.events {
                insert_event::<S>(tx, row.id, event).await?;
            }
            for message in &update.messages {
                insert_message::<S::Db>(tx, message).await?;
            }
            limits::apply_changes::<S>(tx, row.id, &update.limits).await?;
            Ok(Audited::commit((), audit))
        })
        .await
    }

    async fn note_request(
        &self,
        request: &Uuid,
        event: &RequestEventRow,
        messages: &[NewOutboxMessage],
        audit: &NewAuditEvent,
    ) -> Result<()> {
        audited::write_audited_if(self, async |tx| {
            let exists = sqlx::query("SELECT 1 AS one FROM requests WHERE id = $1")
                .bind(*request)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(Error::NotFound);
            }
            insert_event::<S>(tx, *request, event).await?;
            for message in messages {
                insert_message::<S::Db>(tx, message).await?;
            }
            Ok(Audited::commit((), [audit]))
        })
        .await
    }

    async fn expired_requests(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(Uuid, String)>> {
        let rows = sqlx::query(
            "SELECT id, reference FROM requests WHERE retain_until <= $1 \
             ORDER BY retain_until, id LIMIT $2",
        )
        .bind(S::Db::time(now))
        .bind(i64::from(limit))
        .fetch_all(self.sql_pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    S::Db::get_uuid(row, "id")?,
                    S::Db::get_text(row, "reference")?,
                ))
            })
            .collect()
    }

    async fn delete_request(
        &self,
        id: &Uuid,
        now: DateTime<Utc>,
        audit: &NewAuditEvent,
    ) -> Result<bool> {
        audited::write_audited_if(self, async |tx| {
            let due =
                sqlx::query("SELECT 1 AS one FROM requests WHERE id = $1 AND retain_until <= $2")
                    .bind(*id)
                    .bind(S::Db::time(now))
                    .fetch_optional(&mut *tx)
                    .await?;
            if due.is_none() {
                return Ok(Audited::commit_if(false, false, [audit]));
            }
            for table in REQUEST_PARTS {
                let sql = format!("DELETE FROM {table} WHERE request_id = $1");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(*id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM requests WHERE id = $1")
                .bind(*id)
                .execute(&mut *tx)
                .await?;
            Ok(Audited::commit(true, [audit]))
        })
        .await
    }

    async fn put_code(
        &self,
        request: &Uuid,
        code: &CodeRow,
        message: Option<&NewOutboxMessage>,
        event: &RequestEventRow,
        audit: &NewAuditEvent,
    ) -> Result<()> {
        audited::write_audited_if(self, async |tx| {
            sqlx::query(
                "INSERT INTO request_codes \
                 (request_id, kind, address_hash, code_hash, expires_at, tries_left, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (request_id, kind) DO UPDATE SET \
                 address_hash = excluded.address_hash, code_hash = excluded.code_hash, \
                 expires_at = excluded.expires_at, tries_left = excluded.tries_left, \
                 created_at = excluded.created_at",
            )
            .bind(*request)
            .bind(code.kind.as_str())
            .bind(code.address_hash.clone())
            .bind(code.code_hash.clone())
            .bind(S::Db::time(code.expires_at))
            .bind(i64::from(code.tries_left))
            .bind(S::Db::time(code.created_at))
            .execute(&mut *tx)
            .await
            .map_err(|err| match err.as_database_error() {
                // The request is gone (a foreign key).
                Some(db) if db.is_foreign_key_violation() => Error::NotFound,
                _ => Error::Database(err),
            })?;
            if let Some(message) = message {
                insert_message::<S::Db>(tx, message).await?;
            }
            insert_event::<S>(tx, *request, event).await?;
            Ok(Audited::commit((), [audit]))
        })
        .await
    }

    async fn take_code_try(
        &self,
        request: &Uuid,
        kind: &str,
        audit: &NewAuditEvent,
    ) -> Result<Option<CodeTry>> {
        audited::write_audited_if(self, async |tx| {
            let taken = sqlx::query(
                "UPDATE request_codes SET tries_left = tries_left - 1 \
                 WHERE request_id = $1 AND kind = $2 AND tries_left > 0 \
                 RETURNING address_hash, code_hash, expires_at, tries_left",
            )
            .bind(*request)
            .bind(kind)
            .fetch_optional(&mut *tx)
            .await?;
            let taken = taken
                .map(|row| code_try::<S::Db>(&row, "request_codes.tries_left"))
                .transpose()?;
            // No try taken: nothing changed, and the caller audits the refusal.
            Ok(Audited::commit_if(taken.is_some(), taken, [audit]))
        })
        .await
    }

    async fn discard_code(
        &self,
        request: &Uuid,
        kind: &str,
        event: &RequestEventRow,
        audit: &NewAuditEvent,
    ) -> Result<()> {
        audited::write_audited_if(self, async |tx| {
            sqlx::query("DELETE FROM request_codes WHERE request_id = $1 AND kind = $2")
                .bind(*request)
                .bind(kind)
                .execute(&mut *tx)
                .await?;
            insert_event::<S>(tx, *request, event).await?;
            Ok(Audited::commit((), [audit]))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(contact_id = %rectification.history.contact_id))]
    async fn rectify_contact(
        &self,
        rectification: &Rectification,
        audit: &[NewAuditEvent],
    ) -> Result<()> {
        audited::write_audited_if(self, async |tx| {
            let history = &rectification.history;
            let contact = *history.contact_id.as_uuid();
            // The guard on the document read is what keeps two parallel
            // rectifications from losing one's history row: the second
            // matches nothing and computes its change again.
            let done = sqlx::query(
                "UPDATE contacts SET sealed_document = $1, document_key = $2 \
                 WHERE id = $3 AND sealed_document = $4 AND erased_at IS NULL",
            )
            .bind(rectification.sealed_document.as_slice())
            .bind(rectification.document_key.as_slice())
            .bind(contact)
            .bind(rectification.expected_document.as_slice())
            .execute(&mut *tx)
            .await?;
            if S::Db::rows_affected(&done) == 0 {
                let live = sqlx::query(
                    "SELECT 1 AS one FROM contacts WHERE id = $1 AND erased_at IS NULL",
                )
                .bind(contact)
                .fetch_optional(&mut *tx)
                .await?;
                return Err(match live {
                    Some(_) => Error::Conflict("contact version"),
                    None => Error::NotFound,
                });
            }
            let sql = format!(
                "INSERT INTO contact_history ({HISTORY_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(history.id)
                .bind(contact)
                .bind(history.request_id)
                .bind(S::Db::time(history.changed_at))
                .bind(*history.changed_by.as_uuid())
                .bind(history.sealed_document.as_slice())
                .bind(history.document_key.as_slice())
                .bind(join(&history.changed_fields))
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM contact_index WHERE contact_id = $1")
                .bind(contact)
                .execute(&mut *tx)
                .await?;
            insert_index::<S::Db>(tx, &history.contact_id, &rectification.index).await?;
            insert_event::<S>(tx, history.request_id, &rectification.event).await?;
            Ok(Audited::commit((), audit))
        })
        .await
    }

    async fn put_delivery_link(
        &self,
        link: &DeliveryLinkRow,
        message: &NewOutboxMessage,
        event: &RequestEventRow,
        audit: &NewAuditEvent,
    ) -> Result<()> {
        audited::write_audited_if(self, async |tx| {
            sqlx::query(
                "UPDATE delivery_links SET revoked_at = $1 \
                 WHERE request_id = $2 AND used_at IS NULL AND revoked_at IS NULL",
            )
            .bind(S::Db::time(link.created_at))
            .bind(link.request_id)
            .execute(&mut *tx)
            .await?;
            // A new link has no code yet.
            sqlx::query(
                "INSERT INTO delivery_links (id, request_id, token_hash, kind, address_hash, \
                 expires_at, created_at, created_by, used_at, revoked_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(link.id)
            .bind(link.request_id)
            .bind(link.token_hash.clone())
            .bind(link.kind.as_str())
            .bind(link.address_hash.clone())
            .bind(S::Db::time(link.expires_at))
            .bind(S::Db::time(link.created_at))
            .bind(link.created_by.map(|u| *u.as_uuid()))
            .bind(link.used_at.map(S::Db::time))
            .bind(link.revoked_at.map(S::Db::time))
            .execute(&mut *tx)
            .await
            .map_err(|err| match err.as_database_error() {
                Some(db) if db.is_foreign_key_violation() => Error::NotFound,
                _ => Error::Database(err),
            })?;
            insert_message::<S::Db>(tx, message).await?;
            insert_event::<S>(tx, link.request_id, event).await?;
            Ok(Audited::commit((), [audit]))
        })
        .await
    }

    async fn contact_history(&self, contact: &ContactId) -> Result<Vec<ContactHistoryRow>> {
        let sql = format!(
            "SELECT {HISTORY_COLUMNS} FROM contact_history WHERE contact_id = $1 \
             ORDER BY changed_at, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(*contact.as_uuid())
            .fetch_all(self.sql_pool())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(ContactHistoryRow {
                    id: S::Db::get_uuid(row, "id")?,
                    contact_id: ContactId::from_uuid(S::Db::get_uuid(row, "contact_id")?),
                    request_id: S::Db::get_uuid(row, "request_id")?,
                    changed_at: S::Db::get_time(row, "changed_at")?,
                    changed_by: UserId::from_uuid(S::Db::get_uuid(row, "changed_by")?),
                    sealed_document: S::Db::get_bytes(row, "sealed_document")?,
                    document_key: S::Db::get_bytes(row, "document_key")?,
                    changed_fields: S::Db::get_text(row, "changed_fields")?
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                })
            })
            .collect()
    }

    async fn delivery_link(&self, token_hash: &[u8]) -> Result<Option<DeliveryLinkRow>> {
        let sql = format!("SELECT {LINK_COLUMNS} FROM delivery_links WHERE token_hash = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash)
            .fetch_optional(self.sql_pool())
            .await?;
        row.map(|row| link_from_row::<S::Db>(&row)).transpose()
    }

    async fn put_link_code(
        &self,
        link: &Uuid,
        code: &CodeRow,
        now: DateTime<Utc>,
        message: &NewOutboxMessage,
        audit: &NewAuditEvent,
    ) -> Result<bool> {
        audited::write_audited_if(self, async |tx| {
            let done = sqlx::query(
                "UPDATE delivery_links SET code_hash = $1, code_expires_at = $2, \
                 code_tries_left = $3 WHERE id = $4 AND used_at IS NULL \
                 AND revoked_at IS NULL AND expires_at > $5",
            )
            .bind(code.code_hash.clone())
            .bind(S::Db::time(code.expires_at))
            .bind(i64::from(code.tries_left))
            .bind(*link)
            .bind(S::Db::time(now))
            .execute(&mut *tx)
            .await?;
            if S::Db::rows_affected(&done) == 0 {
                return Ok(Audited::commit_if(false, false, [audit]));
            }
            insert_message::<S::Db>(tx, message).await?;
            Ok(Audited::commit(true, [audit]))
        })
        .await
    }

    async fn take_link_code_try(
        &self,
        link: &Uuid,
        audit: &NewAuditEvent,
    ) -> Result<Option<CodeTry>> {
        audited::write_audited_if(self, async |tx| {
            let taken = sqlx::query(
                "UPDATE delivery_links SET code_tries_left = code_tries_left - 1 \
                 WHERE id = $1 AND code_hash IS NOT NULL AND code_tries_left > 0 \
                 AND used_at IS NULL AND revoked_at IS NULL \
                 RETURNING address_hash, code_hash, code_expires_at AS expires_at, \
                 code_tries_left AS tries_left",
            )
            .bind(*link)
            .fetch_optional(&mut *tx)
            .await?;
            let taken = taken
                .map(|row| code_try::<S::Db>(&row, "delivery_links.code_tries_left"))
                .transpose()?;
            Ok(Audited::commit_if(taken.is_some(), taken, [audit]))
        })
        .await
    }

    async fn discard_link_code(&self, link: &Uuid, audit: &NewAuditEvent) -> Result<()> {
        audited::write_audited_if(self, async |tx| {
            sqlx::query(
                "UPDATE delivery_links SET code_hash = NULL, code_expires_at = NULL, \
                 code_tries_left = 0 WHERE id = $1",
            )
            .bind(*link)
            .execute(&mut *tx)
            .await?;
            Ok(Audited::commit((), [audit]))
        })
        .await
    }

    async fn use_delivery_link(
        &self,
        link: &Uuid,
        now: DateTime<Utc>,
        event: &RequestEventRow,
        audit: &[NewAuditEvent],
    ) -> Result<bool> {
        audited::write_audited_if(self, async |tx| {
            let used = sqlx::query(
                "UPDATE delivery_links SET used_at = $1, code_hash = NULL, \
                 code_expires_at = NULL, code_tries_left = 0 \
                 WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1 \
                 RETURNING request_id",
            )
            .bind(S::Db::time(now))
            .bind(*link)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = used else {
                return Ok(Audited::commit_if(false, false, audit));
            };
            let request = S::Db::get_uuid(&row, "request_id")?;
            insert_event::<S>(tx, request, event).await?;
            Ok(Audited::commit(true, audit))
        })
        .await
    }
}
