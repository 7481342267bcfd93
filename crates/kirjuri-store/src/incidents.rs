//! The breach register ([`IncidentStore`], Art. 33(5); issue 13 §7): an
//! incident's fixed facts (`incidents`) and its append-only entries
//! (`incident_updates`, the first written with the incident), each stored
//! with its audit event in one transaction; and the two reads the impact
//! query needs — the audit log's successful reads in a time window, by an
//! account and/or naming given ids ([`IncidentStore::impact_events`]), and
//! the blind-index entries of a set of contacts
//! ([`IncidentStore::contact_identifiers`]).
//!
//! Not here: validation, the fold of entries into the current view, the
//! 72-hour clock (core's `breach`), sealing (the application seals an
//! entry's text; rows carry ciphertext, wrapped keys and non-personal
//! facts only). Written once for both backends over [`SqlStore`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kirjuri_core::ids::{ContactId, UserId};
use sqlx::{ColumnIndex, Database, Encode, Executor, QueryBuilder, Type};
use uuid::Uuid;

use crate::audit_sql::record;
use crate::audited::{self, AuditLog, Audited, Conn};
use crate::backend::{Backend, SqlStore, Unique};
use crate::error::Result;
use crate::model::{AuditRecord, IndexEntry, NewAuditEvent, SealedSecret};

/// The columns of an [`IncidentRow`].
const INCIDENT_COLUMNS: &str = "id, detected_at, aware_at, created_at, created_by";

/// The columns of an [`IncidentUpdateRow`].
const UPDATE_COLUMNS: &str = "id, incident_id, n, at, by_user, facts, sealed, wrapped_key";

/// Ids bound in one `IN (…)` list, well under both drivers' limits.
const IDS_PER_QUERY: usize = 500;

/// What never changes about an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRow {
    /// Its id.
    pub id: Uuid,
    /// When the breach was detected.
    pub detected_at: DateTime<Utc>,
    /// When the controller became aware: the 72-hour clock starts here.
    pub aware_at: DateTime<Utc>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// Who recorded it.
    pub created_by: UserId,
}

/// One entry of an incident: the first is the record itself, each later
/// one an update. Never changed once stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentUpdateRow {
    /// Its id (the sealed text's associated data).
    pub id: Uuid,
    /// The incident.
    pub incident_id: Uuid,
    /// Its place, from 1 (given by the store on append).
    pub n: i64,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// Who recorded it.
    pub by_user: UserId,
    /// Its non-personal facts, as JSON text.
    pub facts: String,
    /// Its free text, sealed.
    pub text: SealedSecret,
}

/// What the impact query reads from the audit log: successful events of
/// `actions` at `from` ≤ at < `to`, done by `actor` if given, and naming
/// one of `refs` (as their object, their details' `contact` or among a
/// search's results — the `audit_refs` index) if given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImpactFilter {
    /// The window's start, inclusive.
    pub from: DateTime<Utc>,
    /// The window's end, exclusive.
    pub to: DateTime<Utc>,
    /// Only events by this account.
    pub actor: Option<UserId>,
    /// Only events naming one of these ids (contact or object ids, as text).
    pub refs: Vec<String>,
    /// Only these actions, e.g. `contact.viewed`.
    pub actions: Vec<&'static str>,
    /// Only events after this sequence number (the page cursor).
    pub after_seq: i64,
    /// At most this many events.
    pub limit: u32,
}

/// The breach register, on either database.
#[async_trait]
pub trait IncidentStore: Send + Sync {
    /// Stores a new incident with its first entry (`first.n` is ignored: it
    /// is 1) and `audit`, in one transaction.
    async fn insert_incident(
        &self,
        incident: &IncidentRow,
        first: &IncidentUpdateRow,
        audit: &NewAuditEvent,
    ) -> Result<()>;

    /// Appends `update` to its incident as the next entry, with `audit`,
    /// and returns its place. The place is taken inside the write
    /// transaction (audited writes are serialised on both databases), so
    /// parallel updates each get their own.
    async fn append_incident_update(
        &self,
        update: &IncidentUpdateRow,
        audit: &NewAuditEvent,
    ) -> Result<i64>;

    /// The incident with this id.
    async fn incident(&self, id: &Uuid) -> Result<Option<IncidentRow>>;

    /// Incidents, the most recent awareness first, at most `limit`.
    async fn incidents(&self, limit: u32) -> Result<Vec<IncidentRow>>;

    /// Every entry of these incidents, by incident and place.
    async fn incident_updates(&self, incidents: &[Uuid]) -> Result<Vec<IncidentUpdateRow>>;

    /// A page of the audit events `filter` selects, in sequence order.
    async fn impact_events(&self, filter: &ImpactFilter) -> Result<Vec<AuditRecord>>;

    /// The blind-index entries of these contacts (none of an erased one).
    async fn contact_identifiers(
        &self,
        contacts: &[ContactId],
    ) -> Result<Vec<(ContactId, IndexEntry)>>;
}

fn incident_from_row<DB: Backend>(row: &DB::Row) -> Result<IncidentRow> {
    Ok(IncidentRow {
        id: DB::get_uuid(row, "id")?,
        detected_at: DB::get_time(row, "detected_at")?,
        aware_at: DB::get_time(row, "aware_at")?,
        created_at: DB::get_time(row, "created_at")?,
        created_by: UserId::from_uuid(DB::get_uuid(row, "created_by")?),
    })
}

fn update_from_row<DB: Backend>(row: &DB::Row) -> Result<IncidentUpdateRow> {
    Ok(IncidentUpdateRow {
        id: DB::get_uuid(row, "id")?,
        incident_id: DB::get_uuid(row, "incident_id")?,
        n: DB::get_int(row, "n")?,
        at: DB::get_time(row, "at")?,
        by_user: UserId::from_uuid(DB::get_uuid(row, "by_user")?),
        facts: DB::get_text(row, "facts")?,
        text: SealedSecret {
            wrapped_key: DB::get_bytes(row, "wrapped_key")?,
            sealed: DB::get_bytes(row, "sealed")?,
        },
    })
}

/// The unique constraint on an entry's place.
const PLACE: Unique = Unique::new(
    "incident_updates.incident_id, incident_updates.n",
    "incident_updates_incident_id_n_key",
    "incident update",
);

/// Appends `update` as its incident's next entry on `conn`.
async fn append<DB: Backend>(conn: &mut DB::Connection, update: &IncidentUpdateRow) -> Result<i64>
where
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let sql = format!(
        "INSERT INTO incident_updates ({UPDATE_COLUMNS}) \
         SELECT $1, $2, coalesce(max(n), 0) + 1, $3, $4, $5, $6, $7 \
         FROM incident_updates WHERE incident_id = $2 RETURNING n"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(update.id)
        .bind(update.incident_id)
        .bind(DB::time(update.at))
        .bind(*update.by_user.as_uuid())
        .bind(update.facts.as_str())
        .bind(update.text.sealed.as_slice())
        .bind(update.text.wrapped_key.as_slice())
        .fetch_one(conn)
        .await
        .map_err(|err| DB::write_error(err, &[PLACE], "incident update"))?;
    DB::get_int(&row, "n")
}

#[async_trait]
impl<S> IncidentStore for S
where
    S: SqlStore,
    S::Db: AuditLog,
    for<'q> Uuid: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q [u8]: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'s> &'s str: ColumnIndex<<S::Db as Database>::Row>,
    for<'c> &'c mut Conn<S>: Executor<'c, Database = S::Db>,
{
    async fn insert_incident(
        &self,
        incident: &IncidentRow,
        first: &IncidentUpdateRow,
        audit: &NewAuditEvent,
    ) -> Result<()> {
        audited::write_audited(self, [audit], async |tx| {
            let sql =
                format!("INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5)");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(incident.id)
                .bind(S::Db::time(incident.detected_at))
                .bind(S::Db::time(incident.aware_at))
                .bind(S::Db::time(incident.created_at))
                .bind(*incident.created_by.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(|err| S::Db::write_error(err, &[], "incident"))?;
            append::<S::Db>(tx, first).await?;
            Ok(())
        })
        .await
    }

    async fn append_incident_update(
        &self,
        update: &IncidentUpdateRow,
        audit: &NewAuditEvent,
    ) -> Result<i64> {
        audited::write_audited_if(self, async |tx| {
            let n = append::<S::Db>(tx, update).await?;
            Ok(Audited::commit(n, [audit]))
        })
        .await
    }

    async fn incident(&self, id: &Uuid) -> Result<Option<IncidentRow>> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(*id)
            .fetch_optional(self.sql_pool())
            .await?;
        row.map(|row| incident_from_row::<S::Db>(&row)).transpose()
    }

    async fn incidents(&self, limit: u32) -> Result<Vec<IncidentRow>> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents ORDER BY aware_at DESC, id DESC LIMIT $1"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(limit))
            .fetch_all(self.sql_pool())
            .await?;
        rows.iter().map(incident_from_row::<S::Db>).collect()
    }

    async fn incident_updates(&self, incidents: &[Uuid]) -> Result<Vec<IncidentUpdateRow>> {
        let mut updates = Vec::new();
        for chunk in incidents.chunks(IDS_PER_QUERY) {
            let mut query = QueryBuilder::<S::Db>::new(format!(
                "SELECT {UPDATE_COLUMNS} FROM incident_updates WHERE incident_id IN ("
            ));
            let mut ids = query.separated(", ");
            for id in chunk {
                ids.push_bind(*id);
            }
            query.push(") ORDER BY incident_id, n");
            let rows = query.build().fetch_all(self.sql_pool()).await?;
            for row in &rows {
                updates.push(update_from_row::<S::Db>(row)?);
            }
        }
        Ok(updates)
    }

    async fn impact_events(&self, filter: &ImpactFilter) -> Result<Vec<AuditRecord>> {
        if filter.actions.is_empty() || filter.limit == 0 {
            return Ok(Vec::new());
        }
        // Only fixed fragments are pushed as SQL; every value is bound.
        let mut query = QueryBuilder::<S::Db>::new(
            "SELECT seq, at, actor, action, object, purpose, outcome, details \
             FROM audit_events WHERE outcome = 'success' AND seq > ",
        );
        query.push_bind(filter.after_seq);
        query
            .push(" AND at >= ")
            .push_bind(S::Db::time(filter.from))
            .push(" AND at < ")
            .push_bind(S::Db::time(filter.to))
            .push(" AND action IN (");
        let mut actions = query.separated(", ");
        for action in &filter.actions {
            actions.push_bind(*action);
        }
        query.push(")");
        if let Some(actor) = &filter.actor {
            query.push(" AND actor = ").push_bind(*actor.as_uuid());
        }
        if !filter.refs.is_empty() {
            query.push(" AND seq IN (SELECT seq FROM audit_refs WHERE ref IN (");
            let mut refs = query.separated(", ");
            for reference in &filter.refs {
                refs.push_bind(reference.as_str());
            }
            query.push("))");
        }
        query
            .push(" ORDER BY seq LIMIT ")
            .push_bind(i64::from(filter.limit));
        let rows = query.build().fetch_all(self.sql_pool()).await?;
        rows.iter().map(record).collect()
    }

    async fn contact_identifiers(
        &self,
        contacts: &[ContactId],
    ) -> Result<Vec<(ContactId, IndexEntry)>> {
        let mut entries = Vec::new();
        for chunk in contacts.chunks(IDS_PER_QUERY) {
            // An erased contact's entries are dead until the purge sweeps
            // them (`RetentionStore::sweep_erased_index`).
            let mut query = QueryBuilder::<S::Db>::new(
                "SELECT i.contact_id AS contact_id, i.kind AS kind, i.hash AS hash \
                 FROM contact_index AS i JOIN contacts AS c ON c.id = i.contact_id \
                 WHERE c.erased_at IS NULL AND i.contact_id IN (",
            );
            let mut ids = query.separated(", ");
            for id in chunk {
                ids.push_bind(*id.as_uuid());
            }
            query.push(") ORDER BY i.contact_id, i.kind, i.hash");
            let rows = query.build().fetch_all(self.sql_pool()).await?;
            for row in &rows {
                entries.push((
                    ContactId::from_uuid(S::Db::get_uuid(row, "contact_id")?),
                    IndexEntry {
                        kind: S::Db::get_text(row, "kind")?,
                        hash: S::Db::get_bytes(row, "hash")?,
                    },
                ));
            }
        }
        Ok(entries)
    }
}
