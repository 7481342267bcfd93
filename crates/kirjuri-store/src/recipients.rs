//! The recipients register ([`RecipientStore`], DIS-1): the organisations
//! data may be disclosed to — processors with their agreement and allowed
//! purposes, partners, authorities, police — each with its country. The
//! application validates (the EU/EEA rule, the purposes); this module
//! stores, with the audit event in the same transaction, and reads. A name
//! is unique (a second one is a conflict); nothing here is personal data.
//! Written once for both backends over [`SqlStore`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kirjuri_core::ids::UserId;
use sqlx::{ColumnIndex, Database, Encode, Executor, Type};
use uuid::Uuid;

use crate::audited::{self, AuditLog, Audited, Conn};
use crate::backend::{Backend, SqlStore, Unique};
use crate::error::Result;
use crate::model::NewAuditEvent;

/// The columns of a [`RecipientRow`].
const COLUMNS: &str =
    "id, name, kind, country, agreement, purposes, created_at, created_by, removed_at";

/// A recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientRow {
    /// Its id.
    pub id: Uuid,
    /// The organisation's name (unique).
    pub name: String,
    /// `processor`, `partner`, `authority` or `police`.
    pub kind: String,
    /// ISO 3166-1 alpha-2, in the EU/EEA.
    pub country: String,
    /// A processor's agreement reference (Art. 28).
    pub agreement: Option<String>,
    /// The purposes it may serve, comma-separated wire names.
    pub purposes: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// Who registered it.
    pub created_by: UserId,
    /// When it was retired, if it was.
    pub removed_at: Option<DateTime<Utc>>,
}

/// The recipients register, on either database.
#[async_trait]
pub trait RecipientStore: Send + Sync {
    /// Stores `row` with `audit`; a recipient of the same name is
    /// `Error::Conflict("recipient name")`.
    async fn insert_recipient(&self, row: &RecipientRow, audit: &NewAuditEvent) -> Result<()>;

    /// Every recipient, by name, at most `limit`.
    async fn recipients(&self, limit: u32) -> Result<Vec<RecipientRow>>;

    /// The recipient with this id.
    async fn recipient(&self, id: &Uuid) -> Result<Option<RecipientRow>>;
}

fn from_row<DB: Backend>(row: &DB::Row) -> Result<RecipientRow> {
    Ok(RecipientRow {
        id: DB::get_uuid(row, "id")?,
        name: DB::get_text(row, "name")?,
        kind: DB::get_text(row, "kind")?,
        country: DB::get_text(row, "country")?,
        agreement: DB::get_opt_text(row, "agreement")?,
        purposes: DB::get_text(row, "purposes")?,
        created_at: DB::get_time(row, "created_at")?,
        created_by: UserId::from_uuid(DB::get_uuid(row, "created_by")?),
        removed_at: DB::get_opt_time(row, "removed_at")?,
    })
}

#[async_trait]
impl<S> RecipientStore for S
where
    S: SqlStore,
    S::Db: AuditLog,
    for<'q> Uuid: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<String>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'s> &'s str: ColumnIndex<<S::Db as Database>::Row>,
    for<'c> &'c mut Conn<S>: Executor<'c, Database = S::Db>,
{
    async fn insert_recipient(&self, row: &RecipientRow, audit: &NewAuditEvent) -> Result<()> {
        audited::write_audited_if(self, async |tx| {
            let sql = format!(
                "INSERT INTO recipients ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(row.id)
                .bind(row.name.as_str())
                .bind(row.kind.as_str())
                .bind(row.country.as_str())
                .bind(row.agreement.clone())
                .bind(row.purposes.as_str())
                .bind(S::Db::time(row.created_at))
                .bind(*row.created_by.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(|err| {
                    S::Db::write_error(
                        err,
                        &[Unique::new(
                            "recipients.name",
                            "recipients_name_key",
                            "recipient name",
                        )],
                        "recipient",
                    )
                })?;
            Ok(Audited::commit((), [audit]))
        })
        .await
    }

    async fn recipients(&self, limit: u32) -> Result<Vec<RecipientRow>> {
        let sql = format!("SELECT {COLUMNS} FROM recipients ORDER BY name, id LIMIT $1");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(limit))
            .fetch_all(self.sql_pool())
            .await?;
        rows.iter().map(from_row::<S::Db>).collect()
    }

    async fn recipient(&self, id: &Uuid) -> Result<Option<RecipientRow>> {
        let sql = format!("SELECT {COLUMNS} FROM recipients WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(*id)
            .fetch_optional(self.sql_pool())
            .await?;
        row.map(|row| from_row::<S::Db>(&row)).transpose()
    }
}
