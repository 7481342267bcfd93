//! Contacts, their blind-index entries and their objects, on either
//! backend: [`ContactStore`] for every [`SqlStore`], its queries and row
//! decoders written once over [`Backend`] (whose constants carry the few
//! fragments that differ: the search's join, JSON's cast, the bytewise
//! collation). A contact's insert is idempotent on its external id; an
//! object goes from pending (an upload in flight) to committed. The bytes
//! themselves live in object storage (the vault's business); a row here
//! holds the wrapped data key and the facts about the plaintext.
//!
//! The search is shaped for the 10-million-contact lookup target: with an
//! index entry in the filter, the query starts from `contact_index`'s
//! (kind, hash) index — holding exactly the contacts bearing that hash —
//! and reads each contact by id (SQLite's `CROSS JOIN` fixes that order);
//! further entries are point lookups on the whole key. Without one, the
//! (agent, started_at, id) or (started_at, id) index is walked backwards
//! and the LIMIT stops it early. Each adapter's tests assert its plans.
//!
//! Uniqueness is the constraints' job (external id, one object per contact
//! and kind), with `ON CONFLICT DO NOTHING` and a re-read where the
//! contract wants the existing row, so it holds across processes and nodes.

use std::collections::HashSet;

use async_trait::async_trait;
use kirjuri_core::ids::{ContactId, ObjectId, UserId};
use sqlx::{Database, Encode, Executor, QueryBuilder, Type};
use uuid::Uuid;

use crate::audited::{self, AuditLog, Audited};
use crate::backend::{Backend, SqlStore, Unique};
use crate::codec::{json, length, stored_length};
use crate::error::{Error, Result};
use crate::group::{GroupOutcome, GroupWrite};
use crate::model::{
    CommitOutcome, ContactFilter, ContactRow, IndexEntry, InsertOutcome, NewAuditEvent, ObjectRow,
    PendingObject,
};
use crate::store::ContactStore;

/// The columns of a [`ContactRow`] from the table aliased `c`, named
/// explicitly so a join cannot change what they are called.
pub(crate) const CONTACT_COLUMNS: &str = "c.id AS id, c.external_id AS external_id, \
    c.channel AS channel, c.started_at AS started_at, c.ended_at AS ended_at, \
    c.agent AS agent, c.service AS service, c.created_at AS created_at, \
    c.created_by AS created_by, c.sealed_document AS sealed_document, \
    c.document_key AS document_key, c.retain_until AS retain_until";

/// The columns of an [`ObjectRow`]; `media` comes back as text (PostgreSQL
/// stores it as `jsonb`).
pub(crate) const OBJECT_COLUMNS: &str = "id, contact_id, kind, wrapped_key, sha256, \
    plaintext_len, stored_len, CAST(media AS TEXT) AS media, retain_until, source_id, \
    created_at";

/// A [`ContactRow`] from [`CONTACT_COLUMNS`].
pub(crate) fn contact_from_row<DB: Backend>(row: &DB::Row) -> Result<ContactRow> {
    Ok(ContactRow {
        id: ContactId::from_uuid(DB::get_uuid(row, "id")?),
        external_id: DB::get_opt_text(row, "external_id")?,
        channel: DB::get_text(row, "channel")?,
        started_at: DB::get_time(row, "started_at")?,
        ended_at: DB::get_opt_time(row, "ended_at")?,
        agent: DB::get_text(row, "agent")?,
        service: DB::get_opt_text(row, "service")?,
        created_at: DB::get_time(row, "created_at")?,
        created_by: UserId::from_uuid(DB::get_uuid(row, "created_by")?),
        sealed_document: DB::get_bytes(row, "sealed_document")?,
        document_key: DB::get_bytes(row, "document_key")?,
        retain_until: DB::get_time(row, "retain_until")?,
    })
}

/// [`OBJECT_COLUMNS`] of the table aliased `o`, each named with an `o_`
/// prefix, for a query that also selects [`CONTACT_COLUMNS`] (whose names
/// they would otherwise shadow); read back with [`PREFIXED_OBJECT`].
pub(crate) const PREFIXED_OBJECT_COLUMNS: &str = "o.id AS o_id, o.contact_id AS o_contact_id, \
    o.kind AS o_kind, o.wrapped_key AS o_wrapped_key, o.sha256 AS o_sha256, \
    o.plaintext_len AS o_plaintext_len, o.stored_len AS o_stored_len, \
    CAST(o.media AS TEXT) AS o_media, o.retain_until AS o_retain_until, \
    o.source_id AS o_source_id, o.created_at AS o_created_at";

/// The names an [`ObjectRow`]'s columns come back under.
pub(crate) struct ObjectColumnNames {
    id: &'static str,
    contact_id: &'static str,
    kind: &'static str,
    wrapped_key: &'static str,
    sha256: &'static str,
    plaintext_len: &'static str,
    stored_len: &'static str,
    media: &'static str,
    retain_until: &'static str,
    source_id: &'static str,
    created_at: &'static str,
}

/// As [`OBJECT_COLUMNS`] names them.
const PLAIN_OBJECT: ObjectColumnNames = ObjectColumnNames {
    id: "id",
    contact_id: "contact_id",
    kind: "kind",
    wrapped_key: "wrapped_key",
    sha256: "sha256",
    plaintext_len: "plaintext_len",
    stored_len: "stored_len",
    media: "media",
    retain_until: "retain_until",
    source_id: "source_id",
    created_at: "created_at",
};

/// As [`PREFIXED_OBJECT_COLUMNS`] names them.
pub(crate) const PREFIXED_OBJECT: ObjectColumnNames = ObjectColumnNames {
    id: "o_id",
    contact_id: "o_contact_id",
    kind: "o_kind",
    wrapped_key: "o_wrapped_key",
    sha256: "o_sha256",
    plaintext_len: "o_plaintext_len",
    stored_len: "o_stored_len",
    media: "o_media",
    retain_until: "o_retain_until",
    source_id: "o_source_id",
    created_at: "o_created_at",
};

/// An [`ObjectRow`] from [`OBJECT_COLUMNS`].
pub(crate) fn object_from_row<DB: Backend>(row: &DB::Row) -> Result<ObjectRow> {
    object_from_columns::<DB>(row, &PLAIN_OBJECT)
}

/// An [`ObjectRow`] from its columns as `names` names them.
pub(crate) fn object_from_columns<DB: Backend>(
    row: &DB::Row,
    names: &ObjectColumnNames,
) -> Result<ObjectRow> {
    let len = |column: &str| stored_length(DB::get_int(row, column)?, column);
    Ok(ObjectRow {
        id: ObjectId::from_uuid(DB::get_uuid(row, names.id)?),
        contact_id: ContactId::from_uuid(DB::get_uuid(row, names.contact_id)?),
        kind: DB::get_text(row, names.kind)?,
        wrapped_key: DB::get_bytes(row, names.wrapped_key)?,
        sha256: DB::get_text(row, names.sha256)?,
        plaintext_len: len(names.plaintext_len)?,
        stored_len: len(names.stored_len)?,
        media: json(&DB::get_text(row, names.media)?, names.media)?,
        retain_until: DB::get_time(row, names.retain_until)?,
        source: DB::get_opt_uuid(row, names.source_id)?.map(ObjectId::from_uuid),
        created_at: DB::get_time(row, names.created_at)?,
    })
}

/// The contact search as SQL with bound parameters, after `head` (empty, or
/// `EXPLAIN` in the tests of the plans). Only fixed fragments are pushed as
/// SQL; every value is a bound parameter.
pub(crate) fn search_query<DB: Backend>(head: &str, filter: &ContactFilter) -> QueryBuilder<DB>
where
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    DB::Arguments: Default,
{
    let mut query = QueryBuilder::new(format!("{head}SELECT {CONTACT_COLUMNS} FROM "));
    let mut entries = filter.index.iter();
    match entries.next() {
        Some(first) => {
            query
                .push(format!(
                    "contact_index AS i {} contacts AS c ON c.id = i.contact_id",
                    DB::INDEX_JOIN
                ))
                .push(" WHERE i.kind = ")
                .push_bind(first.kind.as_str())
                .push(" AND i.hash = ")
                .push_bind(first.hash.as_slice())
                // An erased contact's entries are dead until the purge
                // sweeps them (`RetentionStore::sweep_erased_index`).
                .push(" AND c.erased_at IS NULL");
        }
        None => {
            query.push("contacts AS c WHERE TRUE");
        }
    }
    for entry in entries {
        // A point lookup on contact_index's whole primary key.
        query
            .push(" AND EXISTS (SELECT 1 FROM contact_index AS x WHERE x.contact_id = c.id")
            .push(" AND x.kind = ")
            .push_bind(entry.kind.as_str())
            .push(" AND x.hash = ")
            .push_bind(entry.hash.as_slice())
            .push(")");
    }
    if let Some(agent) = &filter.agent {
        query.push(" AND c.agent = ").push_bind(agent.as_str());
    }
    if let Some(from) = filter.from {
        query
            .push(" AND c.started_at >= ")
            .push_bind(DB::time(from));
    }
    if let Some(to) = filter.to {
        query.push(" AND c.started_at < ").push_bind(DB::time(to));
    }
    if let Some((started_at, id)) = &filter.before {
        query
            .push(" AND (c.started_at, c.id) < (")
            .push_bind(DB::time(*started_at))
            .push(", ")
            .push_bind(*id.as_uuid())
            .push(")");
    }
    query
        .push(" ORDER BY c.started_at DESC, c.id DESC LIMIT ")
        .push_bind(i64::from(filter.limit));
    query
}

/// The committed object of `kind` for the contact.
async fn object_for_kind<'c, DB: Backend>(
    executor: impl Executor<'c, Database = DB>,
    contact_id: &ContactId,
    kind: &str,
) -> Result<Option<ObjectRow>>
where
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    let sql = format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE contact_id = $1 AND kind = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(*contact_id.as_uuid())
        .bind(kind)
        .fetch_optional(executor)
        .await?
        .as_ref()
        .map(object_from_row::<DB>)
        .transpose()
}

/// Stores the contact and its index entries, or finds the contact that
/// already has its external id. Runs inside the caller's audited write.
async fn insert_contact<DB: Backend>(
    conn: &mut DB::Connection,
    contact: &ContactRow,
    index: &[IndexEntry],
) -> Result<InsertOutcome>
where
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<DB::Time>: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: Default,
{
    // The upsert leans on the unique external id: whichever racer commits
    // first wins, the others insert nothing — no check-then-insert window.
    // Only the external id's conflict is absorbed; a reused contact id
    // still fails, as a conflict of its own.
    let inserted = sqlx::query(
        "INSERT INTO contacts (id, external_id, channel, started_at, ended_at, agent, service, \
             created_at, created_by, sealed_document, document_key, retain_until) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (external_id) WHERE external_id IS NOT NULL DO NOTHING",
    )
    .bind(*contact.id.as_uuid())
    .bind(contact.external_id.as_deref())
    .bind(contact.channel.as_str())
    .bind(DB::time(contact.started_at))
    .bind(contact.ended_at.map(DB::time))
    .bind(contact.agent.as_str())
    .bind(contact.service.as_deref())
    .bind(DB::time(contact.created_at))
    .bind(*contact.created_by.as_uuid())
    .bind(contact.sealed_document.as_slice())
    .bind(contact.document_key.as_slice())
    .bind(DB::time(contact.retain_until))
    .execute(&mut *conn)
    .await
    .map_err(|err| {
        let uniques = [Unique::new("contacts.id", "contacts_pkey", "contact id")];
        DB::write_error(err, &uniques, "contact")
    })?;

    if DB::rows_affected(&inserted) == 0 {
        // Under the audited write's lock (read committed in PostgreSQL),
        // this statement sees the winner's committed row.
        let existing = sqlx::query("SELECT id FROM contacts WHERE external_id = $1")
            .bind(contact.external_id.as_deref())
            .fetch_optional(&mut *conn)
            .await?;
        return existing
            .map(|row| {
                Ok(InsertOutcome::Existing(ContactId::from_uuid(DB::get_uuid(
                    &row, "id",
                )?)))
            })
            .unwrap_or_else(|| {
                Err(Error::Corrupt(
                    "contacts.external_id: conflict without a row".into(),
                ))
            });
    }

    insert_index::<DB>(conn, &contact.id, index).await?;
    crate::statistics::count_contact::<DB>(conn, contact).await?;
    Ok(InsertOutcome::Created)
}

/// Adds a contact's blind-index entries (intake's, and a rectification's
/// after it deleted the old ones). Runs inside the caller's transaction.
pub(crate) async fn insert_index<DB: Backend>(
    conn: &mut DB::Connection,
    contact: &ContactId,
    index: &[IndexEntry],
) -> Result<()>
where
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: Default,
{
    if index.is_empty() {
        return Ok(());
    }
    // One statement for all entries; a repeated entry is stored once.
    let mut query = QueryBuilder::<DB>::new("INSERT INTO contact_index (contact_id, kind, hash) ");
    query.push_values(index, |mut row, entry| {
        row.push_bind(*contact.as_uuid())
            .push_bind(entry.kind.as_str())
            .push_bind(entry.hash.as_slice());
    });
    query
        .push(" ON CONFLICT DO NOTHING")
        .build()
        .execute(&mut *conn)
        .await
        .map_err(|err| DB::write_error(err, &[], "contact index entry"))?;
    Ok(())
}

/// Turns a pending upload into a committed object, unless the contact
/// already has one of that kind. Runs inside the caller's audited write;
/// writes no audit event.
async fn commit_object<DB: Backend>(
    conn: &mut DB::Connection,
    object: &ObjectRow,
) -> Result<CommitOutcome>
where
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Uuid>: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let removed = sqlx::query("DELETE FROM pending_objects WHERE id = $1")
        .bind(*object.id.as_uuid())
        .execute(&mut *conn)
        .await?;
    DB::found_one(&removed)?;

    // The unique (contact_id, kind) constraint decides between racers, on
    // any node: the loser inserts nothing and then reads the winner's row
    // (read committed in PostgreSQL: the statement after sees the winner's
    // commit).
    let sql = format!(
        "INSERT INTO objects (id, contact_id, kind, wrapped_key, sha256, plaintext_len, \
             stored_len, media, retain_until, source_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8{}, $9, $10, $11) \
         ON CONFLICT (contact_id, kind) DO NOTHING",
        DB::JSON_CAST
    );
    let inserted = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(*object.id.as_uuid())
        .bind(*object.contact_id.as_uuid())
        .bind(object.kind.as_str())
        .bind(object.wrapped_key.as_slice())
        .bind(object.sha256.as_str())
        .bind(length(object.plaintext_len, "objects.plaintext_len")?)
        .bind(length(object.stored_len, "objects.stored_len")?)
        .bind(object.media.to_string())
        .bind(DB::time(object.retain_until))
        .bind(object.source.map(|id| *id.as_uuid()))
        .bind(DB::time(object.created_at))
        .execute(&mut *conn)
        .await
        .map_err(|err| {
            let uniques = [Unique::new("objects.id", "objects_pkey", "object id")];
            DB::write_error(err, &uniques, "object")
        })?;
    if DB::rows_affected(&inserted) == 1 {
        return Ok(CommitOutcome::Committed);
    }
    object_for_kind(&mut *conn, &object.contact_id, &object.kind)
        .await?
        .map(CommitOutcome::Existing)
        .ok_or_else(|| Error::Corrupt("objects.(contact_id, kind): conflict without a row".into()))
}

/// Registers a pending upload (see [`ContactStore::begin_object`]).
async fn insert_pending<DB: Backend>(
    conn: &mut DB::Connection,
    pending: &PendingObject,
) -> Result<()>
where
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    sqlx::query(
        "INSERT INTO pending_objects (id, contact_id, kind, instance_id, started_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(*pending.id.as_uuid())
    .bind(*pending.contact_id.as_uuid())
    .bind(pending.kind.as_str())
    .bind(pending.instance_id.as_str())
    .bind(DB::time(pending.started_at))
    .execute(&mut *conn)
    .await
    .map_err(|err| DB::write_error(err, &[], "object id"))?;
    Ok(())
}

/// A savepoint statement of [`ContactStore::write_group`] (the same in
/// both dialects).
async fn savepoint<DB: Backend>(conn: &mut DB::Connection, statement: &'static str) -> Result<()>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    sqlx::raw_sql(statement).execute(&mut *conn).await?;
    Ok(())
}

/// One write of a group, inside its savepoint; pushes the audit events it
/// needs onto `events` (appended only if it succeeds).
async fn group_write<'e, DB: Backend>(
    conn: &mut DB::Connection,
    write: &'e GroupWrite,
    events: &mut Vec<&'e NewAuditEvent>,
) -> Result<GroupOutcome>
where
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Uuid>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<DB::Time>: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: Default,
{
    match write {
        GroupWrite::InsertContact {
            contact,
            index,
            audit,
        } => {
            let outcome = insert_contact::<DB>(conn, contact, index).await?;
            if outcome == InsertOutcome::Created {
                events.push(audit);
            }
            Ok(GroupOutcome::Contact(outcome))
        }
        GroupWrite::BeginObjects(pending) => {
            for one in pending {
                insert_pending::<DB>(conn, one).await?;
            }
            Ok(GroupOutcome::Begun)
        }
        GroupWrite::CommitObject {
            object,
            audit,
            derived,
        } => {
            let outcome = commit_object::<DB>(conn, object).await?;
            let mut derived_committed = false;
            if outcome == CommitOutcome::Committed {
                events.push(audit);
                if let Some((derived, derived_audit)) = derived {
                    savepoint::<DB>(conn, "SAVEPOINT group_derived").await?;
                    let done = commit_object::<DB>(conn, derived).await;
                    if matches!(done, Ok(CommitOutcome::Committed)) {
                        savepoint::<DB>(conn, "RELEASE SAVEPOINT group_derived").await?;
                        events.push(derived_audit);
                        derived_committed = true;
                    } else {
                        // Its pending row comes back; the caller discards it.
                        savepoint::<DB>(conn, "ROLLBACK TO SAVEPOINT group_derived").await?;
                        savepoint::<DB>(conn, "RELEASE SAVEPOINT group_derived").await?;
                    }
                }
            }
            Ok(GroupOutcome::Object {
                outcome,
                derived_committed,
            })
        }
        GroupWrite::Audit(event) => {
            events.push(event);
            Ok(GroupOutcome::Audited)
        }
    }
}

#[async_trait]
impl<S: SqlStore> ContactStore for S
where
    S::Db: AuditLog,
    for<'q> Uuid: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q [u8]: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<&'q str>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<Uuid>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<<S::Db as Backend>::Time>: Encode<'q, S::Db> + Type<S::Db>,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    <S::Db as Database>::Arguments: Default,
{
    #[tracing::instrument(skip_all, fields(contact_id = %contact.id))]
    async fn insert_contact(
        &self,
        contact: &ContactRow,
        index: &[IndexEntry],
        audit: &NewAuditEvent,
    ) -> Result<InsertOutcome> {
        audited::write_audited_if(self, async |conn| {
            let outcome = insert_contact::<S::Db>(conn, contact, index).await?;
            // On `Existing` the transaction wrote nothing: roll it back.
            let created = outcome == InsertOutcome::Created;
            Ok(Audited::commit_if(created, outcome, [audit]))
        })
        .await
    }

    async fn contact(&self, id: &ContactId) -> Result<Option<ContactRow>> {
        let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts AS c WHERE c.id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(*id.as_uuid())
            .fetch_optional(self.sql_pool())
            .await?
            .as_ref()
            .map(contact_from_row::<S::Db>)
            .transpose()
    }

    async fn search_contacts(&self, filter: &ContactFilter) -> Result<Vec<ContactRow>> {
        if filter.limit == 0 {
            return Ok(Vec::new());
        }
        let mut query = search_query::<S::Db>("", filter);
        let rows = query.build().fetch_all(self.sql_pool()).await?;
        rows.iter().map(contact_from_row::<S::Db>).collect()
    }

    async fn contacts_bearing_any(
        &self,
        index: &[IndexEntry],
        limit: u32,
    ) -> Result<Vec<ContactId>> {
        if index.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        // Each (kind, hash) pair is an equality on contact_index_by_hash;
        // the OR of them is a union of index range scans on both databases.
        // An erased contact's entries are dead until swept.
        let mut query = QueryBuilder::<S::Db>::new(
            "SELECT c.id AS id FROM contacts AS c WHERE c.erased_at IS NULL AND c.id IN \
             (SELECT i.contact_id FROM contact_index AS i WHERE ",
        );
        for (n, entry) in index.iter().enumerate() {
            if n > 0 {
                query.push(" OR ");
            }
            query
                .push("(i.kind = ")
                .push_bind(entry.kind.as_str())
                .push(" AND i.hash = ")
                .push_bind(entry.hash.as_slice())
                .push(")");
        }
        query
            .push(") ORDER BY c.started_at, c.id LIMIT ")
            .push_bind(i64::from(limit));
        let rows = query.build().fetch_all(self.sql_pool()).await?;
        rows.iter()
            .map(|row| Ok(ContactId::from_uuid(S::Db::get_uuid(row, "id")?)))
            .collect()
    }

    async fn count_contacts(&self) -> Result<u64> {
        let row = sqlx::query("SELECT count(*) AS n FROM contacts")
            .fetch_one(self.sql_pool())
            .await?;
        S::Db::get_count(&row, "n")
    }

    #[tracing::instrument(skip_all, fields(object_id = %pending.id, contact_id = %pending.contact_id))]
    async fn begin_object(&self, pending: &PendingObject) -> Result<()> {
        let mut conn = self.sql_pool().acquire().await?;
        insert_pending::<S::Db>(&mut conn, pending).await
    }

    #[tracing::instrument(skip_all, fields(object_id = %object.id, contact_id = %object.contact_id))]
    async fn commit_object(
        &self,
        object: &ObjectRow,
        audit: &NewAuditEvent,
    ) -> Result<CommitOutcome> {
        audited::write_audited_if(self, async |conn| {
            let outcome = commit_object::<S::Db>(conn, object).await?;
            // Commit in both cases: the pending row is gone either way.
            let committed = outcome == CommitOutcome::Committed;
            Ok(Audited::commit(outcome, committed.then_some(audit)))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(n_objects = objects.len()))]
    async fn commit_objects(
        &self,
        objects: &[ObjectRow],
        index: &[IndexEntry],
        audit: &[NewAuditEvent],
    ) -> Result<CommitOutcome> {
        let Some(first) = objects.first() else {
            return Err(Error::Corrupt(
                "commit_objects: called without an object".into(),
            ));
        };
        if objects.iter().any(|o| o.contact_id != first.contact_id) {
            return Err(Error::Corrupt(
                "commit_objects: objects of more than one contact".into(),
            ));
        }
        audited::write_audited_if(self, async |conn| {
            for object in objects {
                if let CommitOutcome::Existing(existing) =
                    commit_object::<S::Db>(conn, object).await?
                {
                    // All or nothing: roll back what was committed so far
                    // (the pending rows come back with the rollback).
                    return Ok(Audited::commit_if(
                        false,
                        CommitOutcome::Existing(existing),
                        audit,
                    ));
                }
            }
            insert_index::<S::Db>(conn, &first.contact_id, index).await?;
            Ok(Audited::commit(CommitOutcome::Committed, audit))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(n_writes = writes.len()))]
    async fn write_group(&self, writes: &[GroupWrite]) -> Result<Vec<Result<GroupOutcome>>> {
        audited::write_audited_if(self, async |conn| {
            let mut results = Vec::with_capacity(writes.len());
            let mut events: Vec<&NewAuditEvent> = Vec::new();
            for write in writes {
                // An event alone cannot fail on its own: it needs no savepoint.
                if matches!(write, GroupWrite::Audit(_)) {
                    results.push(group_write::<S::Db>(conn, write, &mut events).await);
                    continue;
                }
                let mut own = Vec::new();
                savepoint::<S::Db>(conn, "SAVEPOINT group_write").await?;
                match group_write::<S::Db>(conn, write, &mut own).await {
                    Ok(outcome) => {
                        savepoint::<S::Db>(conn, "RELEASE SAVEPOINT group_write").await?;
                        events.append(&mut own);
                        results.push(Ok(outcome));
                    }
                    Err(error) => {
                        // Only this write is undone; the group goes on.
                        savepoint::<S::Db>(conn, "ROLLBACK TO SAVEPOINT group_write").await?;
                        savepoint::<S::Db>(conn, "RELEASE SAVEPOINT group_write").await?;
                        results.push(Err(error));
                    }
                }
            }
            Ok(Audited::commit(results, events))
        })
        .await
    }

    async fn abort_object(&self, id: &ObjectId) -> Result<()> {
        sqlx::query("DELETE FROM pending_objects WHERE id = $1")
            .bind(*id.as_uuid())
            .execute(self.sql_pool())
            .await?;
        Ok(())
    }

    async fn pending_objects(&self) -> Result<Vec<PendingObject>> {
        let rows = sqlx::query(
            "SELECT id, contact_id, kind, instance_id, started_at FROM pending_objects \
             ORDER BY started_at, id",
        )
        .fetch_all(self.sql_pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PendingObject {
                    id: ObjectId::from_uuid(S::Db::get_uuid(row, "id")?),
                    contact_id: ContactId::from_uuid(S::Db::get_uuid(row, "contact_id")?),
                    kind: S::Db::get_text(row, "kind")?,
                    instance_id: S::Db::get_text(row, "instance_id")?,
                    started_at: S::Db::get_time(row, "started_at")?,
                })
            })
            .collect()
    }

    async fn object_for_contact(
        &self,
        contact_id: &ContactId,
        kind: &str,
    ) -> Result<Option<ObjectRow>> {
        object_for_kind(self.sql_pool(), contact_id, kind).await
    }

    async fn objects_for_contact(&self, contact_id: &ContactId) -> Result<Vec<ObjectRow>> {
        // By bytes, as `uuid` and Rust order, whatever the database's
        // collation.
        let sql = format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE contact_id = $1 ORDER BY kind COLLATE {}",
            S::Db::BYTEWISE
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(*contact_id.as_uuid())
            .fetch_all(self.sql_pool())
            .await?;
        rows.iter().map(object_from_row::<S::Db>).collect()
    }

    async fn object(&self, id: &ObjectId) -> Result<Option<ObjectRow>> {
        let sql = format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(*id.as_uuid())
            .fetch_optional(self.sql_pool())
            .await?
            .as_ref()
            .map(object_from_row::<S::Db>)
            .transpose()
    }

    async fn known_object_ids(&self) -> Result<HashSet<ObjectId>> {
        // One statement, so one snapshot: an object moving from pending to
        // committed meanwhile is seen once.
        let rows = sqlx::query("SELECT id FROM objects UNION ALL SELECT id FROM pending_objects")
            .fetch_all(self.sql_pool())
            .await?;
        rows.iter()
            .map(|row| Ok(ObjectId::from_uuid(S::Db::get_uuid(row, "id")?)))
            .collect()
    }
}
