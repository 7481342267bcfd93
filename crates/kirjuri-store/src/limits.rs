//! What data subjects have forbidden ([`LimitStore`], DSR-4): a restriction
//! of processing (GDPR Art. 18) or an objection to one purpose (Art. 21),
//! each naming its subject by the blind-index hashes of the request's
//! proven identifiers — so a contact delivered later by the same phone or
//! email is bound as well as the ones there today.
//!
//! Limits are written with the request's change that makes them
//! ([`crate::requests::RequestUpdate::limits`], one transaction with its
//! timeline and audit events); this module owns their rows, the insert and
//! lift statements that update uses, and the read the access decision
//! needs: the limits in force on a set of contacts, in one indexed query,
//! and — for a read of one contact — the contact, its limits and its
//! object together in one statement ([`LimitStore::contact_for_read`]).
//! Written once for both backends over [`SqlStore`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kirjuri_core::ids::{ContactId, UserId};
use sqlx::{ColumnIndex, Database, Encode, Executor, QueryBuilder, Type};
use uuid::Uuid;

use crate::audited::{AuditLog, Conn};
use crate::backend::{Backend, SqlStore};
use crate::contacts_sql::{
    CONTACT_COLUMNS, PREFIXED_OBJECT, PREFIXED_OBJECT_COLUMNS, contact_from_row,
    object_from_columns,
};
use crate::error::{Error, Result};
use crate::model::{ContactRow, IndexEntry, ObjectRow};

/// The kind of a limit, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// Processing restricted (Art. 18): every purpose but storage, legal
    /// claims and the subject's own request.
    Restriction,
    /// An objection to one purpose (Art. 21).
    Objection,
}

impl LimitKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Restriction => "restriction",
            LimitKind::Objection => "objection",
        }
    }

    fn parse(name: &str) -> Result<Self> {
        match name {
            "restriction" => Ok(LimitKind::Restriction),
            "objection" => Ok(LimitKind::Objection),
            other => Err(Error::Corrupt(format!(
                "subject_limits.kind: unknown {:?}",
                other.chars().take(20).collect::<String>()
            ))),
        }
    }
}

/// A limit to store, with the identifiers it binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubjectLimit {
    /// Its id.
    pub id: Uuid,
    /// Restriction or objection.
    pub kind: LimitKind,
    /// For an objection, the purpose's wire name; `None` for a restriction.
    pub purpose: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// The registrar who carried it out.
    pub created_by: UserId,
    /// The subject's identifiers (the request's proven ones).
    pub identifiers: Vec<IndexEntry>,
}

/// A limit's lifting: in force until `at` (which may lie ahead: a
/// restriction is lifted only after the subject was told, Art. 18(3)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitLift {
    /// The limit.
    pub id: Uuid,
    /// When it stops binding.
    pub at: DateTime<Utc>,
    /// Who lifted it.
    pub by: UserId,
}

/// The limits a request change makes or lifts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitChanges {
    /// Limits to store.
    pub new: Vec<NewSubjectLimit>,
    /// Limits to lift (only ones not lifted already are).
    pub lift: Vec<LimitLift>,
}

/// A stored limit (without its identifiers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectLimitRow {
    /// Its id.
    pub id: Uuid,
    /// The request that made it.
    pub request_id: Uuid,
    /// Restriction or objection.
    pub kind: LimitKind,
    /// For an objection, the purpose's wire name.
    pub purpose: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops (or stopped) binding, if it was lifted.
    pub lifted_at: Option<DateTime<Utc>>,
}

/// A limit in force on one contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactLimit {
    /// The contact.
    pub contact: ContactId,
    /// Restriction or objection.
    pub kind: LimitKind,
    /// For an objection, the purpose's wire name.
    pub purpose: Option<String>,
}

/// What the access decision on a read of one contact needs, as
/// [`LimitStore::contact_for_read`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactForRead {
    /// The contact.
    pub contact: ContactRow,
    /// The limits in force on it (none, usually).
    pub limits: Vec<ContactLimit>,
    /// Its committed object of the kind asked for, if it has one.
    pub object: Option<ObjectRow>,
}

/// Limits, on either database.
#[async_trait]
pub trait LimitStore: Send + Sync {
    /// The limits in force at `at` on any of `contacts`, found through the
    /// contacts' blind-index entries; one query whatever the number.
    async fn contact_limits(
        &self,
        contacts: &[ContactId],
        at: DateTime<Utc>,
    ) -> Result<Vec<ContactLimit>>;

    /// The contact `id`, the limits in force on it at `at` (exactly as
    /// [`LimitStore::contact_limits`] finds them) and, when `object_kind`
    /// is given, its committed object of that kind — in **one** statement,
    /// so a read (an audited seek above all) makes one round trip to the
    /// database for its access decision and its object, not three (issue
    /// 16 §3). `None` when there is no such contact; a missing contact
    /// costs the same statement as one that is there.
    async fn contact_for_read(
        &self,
        id: &ContactId,
        object_kind: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Option<ContactForRead>>;

    /// The limits a request made, oldest first.
    async fn request_limits(&self, request: &Uuid) -> Result<Vec<SubjectLimitRow>>;
}

fn limit_from_row<DB: Backend>(row: &DB::Row) -> Result<SubjectLimitRow> {
    Ok(SubjectLimitRow {
        id: DB::get_uuid(row, "id")?,
        request_id: DB::get_uuid(row, "request_id")?,
        kind: LimitKind::parse(&DB::get_text(row, "kind")?)?,
        purpose: DB::get_opt_text(row, "purpose")?,
        created_at: DB::get_time(row, "created_at")?,
        lifted_at: DB::get_opt_time(row, "lifted_at")?,
    })
}

#[async_trait]
impl<S> LimitStore for S
where
    S: SqlStore,
    S::Db: AuditLog,
    for<'c> &'c mut Conn<S>: Executor<'c, Database = S::Db>,
    for<'q> Uuid: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> <S::Db as Backend>::Time: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<&'q str>: Encode<'q, S::Db> + Type<S::Db>,
    for<'s> &'s str: ColumnIndex<<S::Db as Database>::Row>,
{
    async fn contact_limits(
        &self,
        contacts: &[ContactId],
        at: DateTime<Utc>,
    ) -> Result<Vec<ContactLimit>> {
        if contacts.is_empty() {
            return Ok(Vec::new());
        }
        // The contact's own index entries meet the limits' by (kind, hash):
        // an index range scan on each side.
        let mut query = QueryBuilder::<S::Db>::new(
            "SELECT DISTINCT i.contact_id AS contact_id, l.kind AS kind, l.purpose AS purpose \
             FROM contact_index AS i \
             JOIN subject_limit_identifiers AS li ON li.kind = i.kind AND li.hash = i.hash \
             JOIN subject_limits AS l ON l.id = li.limit_id \
             WHERE (l.lifted_at IS NULL OR l.lifted_at > ",
        );
        query
            .push_bind(S::Db::time(at))
            .push(") AND i.contact_id IN (");
        let mut ids = query.separated(", ");
        for contact in contacts {
            ids.push_bind(*contact.as_uuid());
        }
        query.push(")");
        let rows = query.build().fetch_all(self.sql_pool()).await?;
        rows.iter()
            .map(|row| {
                Ok(ContactLimit {
                    contact: ContactId::from_uuid(S::Db::get_uuid(row, "contact_id")?),
                    kind: LimitKind::parse(&S::Db::get_text(row, "kind")?)?,
                    purpose: S::Db::get_opt_text(row, "purpose")?,
                })
            })
            .collect()
    }

    async fn contact_for_read(
        &self,
        id: &ContactId,
        object_kind: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Option<ContactForRead>> {
        // One row per limit in force (one row with NULL limit columns when
        // there is none), each carrying the contact and its object: limits
        // are rare, so the repeated columns cost less than a second round
        // trip. The subquery is `contact_limits`' for one contact.
        let sql = format!(
            "SELECT {CONTACT_COLUMNS}, {PREFIXED_OBJECT_COLUMNS}, \
                    lim.kind AS limit_kind, lim.purpose AS limit_purpose \
             FROM contacts AS c \
             LEFT JOIN objects AS o ON o.contact_id = c.id AND o.kind = $2 \
             LEFT JOIN (SELECT DISTINCT l.kind AS kind, l.purpose AS purpose \
                        FROM contact_index AS i \
                        JOIN subject_limit_identifiers AS li \
                          ON li.kind = i.kind AND li.hash = i.hash \
                        JOIN subject_limits AS l ON l.id = li.limit_id \
                        WHERE i.contact_id = $1 \
                          AND (l.lifted_at IS NULL OR l.lifted_at > $3)) AS lim ON TRUE \
             WHERE c.id = $1"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(*id.as_uuid())
            .bind(object_kind)
            .bind(S::Db::time(at))
            .fetch_all(self.sql_pool())
            .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let object = match S::Db::get_opt_uuid(first, "o_id")? {
            Some(_) => Some(object_from_columns::<S::Db>(first, &PREFIXED_OBJECT)?),
            None => None,
        };
        let mut limits = Vec::new();
        for row in &rows {
            if let Some(kind) = S::Db::get_opt_text(row, "limit_kind")? {
                limits.push(ContactLimit {
                    contact: *id,
                    kind: LimitKind::parse(&kind)?,
                    purpose: S::Db::get_opt_text(row, "limit_purpose")?,
                });
            }
        }
        Ok(Some(ContactForRead {
            contact: contact_from_row::<S::Db>(first)?,
            limits,
            object,
        }))
    }

    async fn request_limits(&self, request: &Uuid) -> Result<Vec<SubjectLimitRow>> {
        let rows = sqlx::query(
            "SELECT id, request_id, kind, purpose, created_at, lifted_at FROM subject_limits \
             WHERE request_id = $1 ORDER BY created_at, id",
        )
        .bind(*request)
        .fetch_all(self.sql_pool())
        .await?;
        rows.iter().map(limit_from_row::<S::Db>).collect()
    }
}

/// Stores and lifts `changes` on `conn`, inside the request change's
/// transaction; `request` is the request that makes them.
pub(crate) async fn apply_changes<S>(
    conn: &mut Conn<S>,
    request: Uuid,
    changes: &LimitChanges,
) -> Result<()>
where
    S: SqlStore,
    S::Db: AuditLog,
    for<'q> Uuid: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<String>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Vec<u8>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> <S::Db as Backend>::Time: Encode<'q, S::Db> + Type<S::Db>,
    for<'c> &'c mut Conn<S>: Executor<'c, Database = S::Db>,
{
    for limit in &changes.new {
        sqlx::query(
            "INSERT INTO subject_limits (id, request_id, kind, purpose, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(limit.id)
        .bind(request)
        .bind(limit.kind.as_str())
        .bind(limit.purpose.clone())
        .bind(S::Db::time(limit.created_at))
        .bind(*limit.created_by.as_uuid())
        .execute(&mut *conn)
        .await?;
        for entry in &limit.identifiers {
            sqlx::query(
                "INSERT INTO subject_limit_identifiers (limit_id, kind, hash) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(limit.id)
            .bind(entry.kind.as_str())
            .bind(entry.hash.clone())
            .execute(&mut *conn)
            .await?;
        }
    }
    for lift in &changes.lift {
        sqlx::query(
            "UPDATE subject_limits SET lifted_at = $1, lifted_by = $2 \
             WHERE id = $3 AND request_id = $4 AND lifted_at IS NULL",
        )
        .bind(S::Db::time(lift.at))
        .bind(*lift.by.as_uuid())
        .bind(lift.id)
        .bind(request)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
