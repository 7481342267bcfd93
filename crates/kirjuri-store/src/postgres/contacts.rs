//! Contacts and their blind-index entries in PostgreSQL: idempotent insert,
//! lookup by id, and the newest-first search with keyset pagination — the
//! same behaviour as `sqlite::contacts`, in PostgreSQL's SQL.
//!
//! The search is shaped for the 10-million-contact lookup target: with an
//! index entry in the filter, the query starts from `contact_index`'s
//! primary key `(kind, hash, contact_id)` — an index-only range holding
//! exactly the contacts bearing that hash — and reads each contact by id;
//! further entries are point lookups on the whole key. Without one, the
//! `(agent, started_at, id)` or `(started_at, id)` index is walked backwards
//! and the LIMIT stops it early.

use kirjuri_core::ids::{ContactId, UserId};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row};

use super::codec::{get_count, opt_ts, ts, write_error};
use crate::error::{Error, Result};
use crate::model::{ContactFilter, ContactRow, IndexEntry, InsertOutcome};

/// The columns of a [`ContactRow`] from the table aliased `c`, named
/// explicitly so a join cannot change what they are called.
pub(crate) const COLUMNS: &str = "c.id AS id, c.external_id AS external_id, c.channel AS channel, \
    c.started_at AS started_at, c.ended_at AS ended_at, c.agent AS agent, \
    c.service AS service, c.created_at AS created_at, c.created_by AS created_by, \
    c.sealed_document AS sealed_document, c.document_key AS document_key, \
    c.retain_until AS retain_until";

/// Inserts the contact and its index entries, or finds the contact that
/// already has its external id. Runs inside the caller's write transaction.
pub(super) async fn insert(
    conn: &mut PgConnection,
    contact: &ContactRow,
    index: &[IndexEntry],
) -> Result<InsertOutcome> {
    // The upsert leans on the unique constraint: whichever racer commits
    // first wins, the others insert nothing — no check-then-insert window.
    // Only the external id's conflict is absorbed; a reused contact id
    // still fails, as a conflict of its own.
    let inserted = sqlx::query(
        "INSERT INTO contacts (id, external_id, channel, started_at, ended_at, agent, service, \
             created_at, created_by, sealed_document, document_key, retain_until) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT ON CONSTRAINT contacts_external_id_unique DO NOTHING",
    )
    .bind(contact.id.as_uuid())
    .bind(contact.external_id.as_deref())
    .bind(contact.channel.as_str())
    .bind(ts(contact.started_at))
    .bind(opt_ts(contact.ended_at))
    .bind(contact.agent.as_str())
    .bind(contact.service.as_deref())
    .bind(ts(contact.created_at))
    .bind(contact.created_by.as_uuid())
    .bind(contact.sealed_document.as_slice())
    .bind(contact.document_key.as_slice())
    .bind(ts(contact.retain_until))
    .execute(&mut *conn)
    .await
    .map_err(|err| write_error(err, &[("contacts_pkey", "contact id")], "contact"))?;

    if inserted.rows_affected() == 0 {
        // Read committed: this statement sees the winner's committed row.
        let existing: Option<uuid::Uuid> =
            sqlx::query_scalar("SELECT id FROM contacts WHERE external_id = $1")
                .bind(contact.external_id.as_deref())
                .fetch_optional(&mut *conn)
                .await?;
        return existing
            .map(|id| InsertOutcome::Existing(ContactId::from_uuid(id)))
            .ok_or_else(|| Error::Corrupt("contacts.external_id: conflict without a row".into()));
    }

    if !index.is_empty() {
        // One statement for all entries; a repeated entry is stored once.
        let kinds: Vec<&str> = index.iter().map(|e| e.kind.as_str()).collect();
        let hashes: Vec<&[u8]> = index.iter().map(|e| e.hash.as_slice()).collect();
        sqlx::query(
            "INSERT INTO contact_index (contact_id, kind, hash) \
             SELECT $1, e.kind, e.hash FROM unnest($2::text[], $3::bytea[]) AS e(kind, hash) \
             ON CONFLICT DO NOTHING",
        )
        .bind(contact.id.as_uuid())
        .bind(kinds)
        .bind(hashes)
        .execute(&mut *conn)
        .await
        .map_err(|err| write_error(err, &[], "contact index entry"))?;
    }
    Ok(InsertOutcome::Created)
}

/// The contact with this id.
pub(super) async fn get(pool: &PgPool, id: &ContactId) -> Result<Option<ContactRow>> {
    let sql = format!("SELECT {COLUMNS} FROM contacts AS c WHERE c.id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.as_uuid())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Contacts matching `filter`, newest first.
pub(super) async fn search(pool: &PgPool, filter: &ContactFilter) -> Result<Vec<ContactRow>> {
    if filter.limit == 0 {
        return Ok(Vec::new());
    }
    let mut query = search_query("", filter);
    let rows = query.build().fetch_all(pool).await?;
    rows.iter().map(from_row).collect()
}

/// The search as SQL with bound parameters, after `head` (empty, or
/// `EXPLAIN ` in tests). Only fixed fragments are pushed as SQL; every value
/// is a bound parameter.
pub(super) fn search_query(head: &str, filter: &ContactFilter) -> QueryBuilder<Postgres> {
    let mut query = QueryBuilder::new(format!("{head}SELECT {COLUMNS} FROM "));
    let mut entries = filter.index.iter();
    match entries.next() {
        Some(first) => {
            query
                .push("contact_index AS i JOIN contacts AS c ON c.id = i.contact_id")
                .push(" WHERE i.kind = ")
                .push_bind(first.kind.as_str())
                .push(" AND i.hash = ")
                .push_bind(first.hash.as_slice());
        }
        None => {
            query.push("contacts AS c WHERE TRUE");
        }
    }
    for entry in entries {
        // A point lookup on contact_index's whole primary key.
        query
            .push(" AND EXISTS (SELECT 1 FROM contact_index AS x WHERE x.kind = ")
            .push_bind(entry.kind.as_str())
            .push(" AND x.hash = ")
            .push_bind(entry.hash.as_slice())
            .push(" AND x.contact_id = c.id)");
    }
    if let Some(agent) = &filter.agent {
        query.push(" AND c.agent = ").push_bind(agent.as_str());
    }
    if let Some(from) = filter.from {
        query.push(" AND c.started_at >= ").push_bind(ts(from));
    }
    if let Some(to) = filter.to {
        query.push(" AND c.started_at < ").push_bind(ts(to));
    }
    if let Some((started_at, id)) = &filter.before {
        query
            .push(" AND (c.started_at, c.id) < (")
            .push_bind(ts(*started_at))
            .push(", ")
            .push_bind(*id.as_uuid())
            .push(")");
    }
    query
        .push(" ORDER BY c.started_at DESC, c.id DESC LIMIT ")
        .push_bind(i64::from(filter.limit));
    query
}

/// How many contacts there are.
pub(super) async fn count(pool: &PgPool) -> Result<u64> {
    let row = sqlx::query("SELECT count(*) AS n FROM contacts")
        .fetch_one(pool)
        .await?;
    get_count(&row, "n")
}

pub(crate) fn from_row(row: &PgRow) -> Result<ContactRow> {
    Ok(ContactRow {
        id: ContactId::from_uuid(row.try_get("id")?),
        external_id: row.try_get("external_id")?,
        channel: row.try_get("channel")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        agent: row.try_get("agent")?,
        service: row.try_get("service")?,
        created_at: row.try_get("created_at")?,
        created_by: UserId::from_uuid(row.try_get("created_by")?),
        sealed_document: row.try_get("sealed_document")?,
        document_key: row.try_get("document_key")?,
        retain_until: row.try_get("retain_until")?,
    })
}
