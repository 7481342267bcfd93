//! The privacy notice's published versions ([`NoticeStore`], NOT-1): each
//! a digest of the register's description and the retention rules in
//! force, when it was published, whether the change was marked significant
//! (with its note), and the notice's content as the application rendered
//! it in every language (JSON) — so an older version stays readable as it
//! was, whatever the description says now. Nothing personal: the notice
//! describes the register, not anyone in it.
//!
//! Written once for both backends over [`SqlStore`]; publishing is one
//! audited write, idempotent on the version (a restart, or several nodes
//! starting at once, publish a version once).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Encode, Executor, Type};

use crate::audited::{self, AuditLog, Audited, Conn};
use crate::backend::{Backend, SqlStore};
use crate::error::Result;
use crate::model::NewAuditEvent;

/// The columns of a [`NoticeVersionRow`].
const COLUMNS: &str = "version, published_at, significant, note, content";

/// One published version of the notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeVersionRow {
    /// The description's digest.
    pub version: String,
    /// When it was published.
    pub published_at: DateTime<Utc>,
    /// Whether the change that made it is significant (a banner).
    pub significant: bool,
    /// What changed, as the operator put it (JSON: one text per language).
    pub note: Option<String>,
    /// The notice's content in every language, as the application's JSON.
    pub content: String,
}

/// The notice's versions, on either database.
#[async_trait]
pub trait NoticeStore: Send + Sync {
    /// Publishes `row` with `audit`, unless a version with its digest is
    /// published already; `true` if this call published it.
    async fn publish_notice(&self, row: &NoticeVersionRow, audit: &NewAuditEvent) -> Result<bool>;

    /// Every published version, newest first, at most `limit`.
    async fn notice_versions(&self, limit: u32) -> Result<Vec<NoticeVersionRow>>;

    /// The version with this digest.
    async fn notice_version(&self, version: &str) -> Result<Option<NoticeVersionRow>>;
}

fn from_row<DB: Backend>(row: &DB::Row) -> Result<NoticeVersionRow> {
    Ok(NoticeVersionRow {
        version: DB::get_text(row, "version")?,
        published_at: DB::get_time(row, "published_at")?,
        significant: DB::get_int(row, "significant")? != 0,
        note: DB::get_opt_text(row, "note")?,
        content: DB::get_text(row, "content")?,
    })
}

#[async_trait]
impl<S> NoticeStore for S
where
    S: SqlStore,
    S::Db: AuditLog,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<String>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'s> &'s str: ColumnIndex<<S::Db as Database>::Row>,
    for<'c> &'c mut Conn<S>: Executor<'c, Database = S::Db>,
{
    async fn publish_notice(&self, row: &NoticeVersionRow, audit: &NewAuditEvent) -> Result<bool> {
        audited::write_audited_if(self, async |tx| {
            let done = sqlx::query(
                "INSERT INTO notice_versions (version, published_at, significant, note, content) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (version) DO NOTHING",
            )
            .bind(row.version.as_str())
            .bind(S::Db::time(row.published_at))
            .bind(i64::from(row.significant))
            .bind(row.note.clone())
            .bind(row.content.as_str())
            .execute(&mut *tx)
            .await?;
            let published = S::Db::rows_affected(&done) == 1;
            Ok(Audited::commit_if(published, published, [audit]))
        })
        .await
    }

    async fn notice_versions(&self, limit: u32) -> Result<Vec<NoticeVersionRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM notice_versions ORDER BY published_at DESC, version LIMIT $1"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(limit))
            .fetch_all(self.sql_pool())
            .await?;
        rows.iter().map(from_row::<S::Db>).collect()
    }

    async fn notice_version(&self, version: &str) -> Result<Option<NoticeVersionRow>> {
        let sql = format!("SELECT {COLUMNS} FROM notice_versions WHERE version = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(version)
            .fetch_optional(self.sql_pool())
            .await?;
        row.map(|row| from_row::<S::Db>(&row)).transpose()
    }
}
