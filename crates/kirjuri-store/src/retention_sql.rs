//! The retention statements and row decoders that are the same on both
//! backends, written once over [`Backend`]: reading holds, lifting a hold,
//! moving its review date, marking its reminder sent; reading a hold, a
//! hold's summary and a tombstone from their columns. The adapters supply
//! the SQL text that differs (their hold columns: PostgreSQL reads `jsonb`
//! as text). Each adapter's [`RetentionStore`](crate::RetentionStore)
//! runs them inside its own audited write (`write_audited`), which owns the
//! transaction discipline; what differs between the dialects (batched
//! targets, the purge's statements) stays in the adapters' `retention`.

use chrono::{DateTime, Utc};
use kirjuri_core::ids::{ContactId, UserId};
use sqlx::{Encode, Executor, Pool, Row, Type};
use uuid::Uuid;

use crate::audited::Audited;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::model::NewAuditEvent;
use crate::retention::{HoldLift, HoldRow, HoldSummary, TombstoneRow};

/// A hold's target count, as a column of a query over `h`.
const TARGET_COUNT: &str =
    "(SELECT count(*) FROM legal_hold_targets AS n WHERE n.hold_id = h.id) AS targets";

/// The hold with this id and its target count; `columns` are the adapter's
/// hold columns over `h`.
pub(crate) async fn hold<DB: Backend>(
    pool: &Pool<DB>,
    columns: &str,
    id: &Uuid,
) -> Result<Option<HoldSummary>>
where
    for<'q> &'q Uuid: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let sql = format!("SELECT {columns}, {TARGET_COUNT} FROM legal_holds AS h WHERE h.id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(summary_from_row)
        .transpose()
}

/// Every hold, or those active at `active_at`, with their target counts,
/// by review date.
pub(crate) async fn holds<DB: Backend>(
    pool: &Pool<DB>,
    columns: &str,
    active_at: Option<DateTime<Utc>>,
) -> Result<Vec<HoldSummary>>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let filter = if active_at.is_some() {
        "WHERE h.lifted_at IS NULL AND (h.expires_at IS NULL OR h.expires_at > $1)"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {columns}, {TARGET_COUNT} FROM legal_holds AS h {filter} \
         ORDER BY h.review_by, h.id"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(at) = active_at {
        query = query.bind(DB::time(at));
    }
    let rows = query.fetch_all(pool).await?;
    rows.iter().map(summary_from_row).collect()
}

/// The holds with a target in `contact`, by review date.
pub(crate) async fn holds_for_contact<DB: Backend>(
    pool: &Pool<DB>,
    columns: &str,
    contact: &ContactId,
) -> Result<Vec<HoldRow>>
where
    for<'q> &'q Uuid: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let sql = format!(
        "SELECT {columns} FROM legal_holds AS h WHERE h.id IN \
             (SELECT t.hold_id FROM legal_hold_targets AS t WHERE t.contact_id = $1) \
         ORDER BY h.review_by, h.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(contact.as_uuid())
        .fetch_all(pool)
        .await?;
    rows.iter().map(hold_from_row).collect()
}

/// Lifts hold `id` on `conn` if it is active: commits with `audit` if it
/// was, rolls back if it was already lifted, and is [`Error::NotFound`] if
/// there is no such hold.
pub(crate) async fn lift<'e, DB: Backend>(
    conn: &mut DB::Connection,
    id: &Uuid,
    lift: &HoldLift,
    audit: &'e NewAuditEvent,
) -> Result<Audited<'e, bool>>
where
    for<'q> &'q Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let lifted = sqlx::query(
        "UPDATE legal_holds SET lifted_at = $1, lifted_by = $2, lift_reason = $3 \
         WHERE id = $4 AND lifted_at IS NULL",
    )
    .bind(DB::time(lift.at))
    .bind(lift.by.as_uuid())
    .bind(lift.reason.as_str())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if DB::rows_affected(&lifted) > 0 {
        return Ok(Audited::commit(true, [audit]));
    }
    let found = sqlx::query("SELECT 1 FROM legal_holds WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    match found {
        Some(_) => Ok(Audited::roll_back(false)),
        None => Err(Error::NotFound),
    }
}

/// Sets hold `id`'s review date, clearing its reminder; [`Error::NotFound`]
/// if there is no such hold.
pub(crate) async fn set_review<DB: Backend>(
    conn: &mut DB::Connection,
    id: &Uuid,
    review_by: DateTime<Utc>,
) -> Result<()>
where
    for<'q> &'q Uuid: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let changed =
        sqlx::query("UPDATE legal_holds SET review_by = $1, reminded_at = NULL WHERE id = $2")
            .bind(DB::time(review_by))
            .bind(id)
            .execute(conn)
            .await?;
    DB::found_one(&changed)
}

/// Records that hold `id`'s review reminder went out at `at`;
/// [`Error::NotFound`] if there is no such hold.
pub(crate) async fn mark_reminded<DB: Backend>(
    conn: &mut DB::Connection,
    id: &Uuid,
    at: DateTime<Utc>,
) -> Result<()>
where
    for<'q> &'q Uuid: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let changed = sqlx::query("UPDATE legal_holds SET reminded_at = $1 WHERE id = $2")
        .bind(DB::time(at))
        .bind(id)
        .execute(conn)
        .await?;
    DB::found_one(&changed)
}

/// A [`HoldRow`] from the adapter's hold columns (or columns of the same
/// names).
pub(crate) fn hold_from_row<R>(row: &R) -> Result<HoldRow>
where
    R: Row<Database: Backend<Row = R>>,
{
    type Db<R> = <R as Row>::Database;
    Ok(HoldRow {
        id: Db::<R>::get_uuid(row, "id")?,
        ground_kind: Db::<R>::get_text(row, "ground_kind")?,
        ground: Db::<R>::get_text(row, "ground")?,
        owner: UserId::from_uuid(Db::<R>::get_uuid(row, "owner")?),
        review_by: Db::<R>::get_time(row, "review_by")?,
        expires_at: Db::<R>::get_opt_time(row, "expires_at")?,
        scope: crate::codec::json(&Db::<R>::get_text(row, "scope")?, "scope")?,
        created_at: Db::<R>::get_time(row, "created_at")?,
        created_by: UserId::from_uuid(Db::<R>::get_uuid(row, "created_by")?),
        lifted_at: Db::<R>::get_opt_time(row, "lifted_at")?,
        lifted_by: Db::<R>::get_opt_uuid(row, "lifted_by")?.map(UserId::from_uuid),
        lift_reason: Db::<R>::get_opt_text(row, "lift_reason")?,
        reminded_at: Db::<R>::get_opt_time(row, "reminded_at")?,
    })
}

/// A [`HoldSummary`]: the hold's columns and its target count, `targets`.
pub(crate) fn summary_from_row<R>(row: &R) -> Result<HoldSummary>
where
    R: Row<Database: Backend<Row = R>>,
{
    Ok(HoldSummary {
        hold: hold_from_row(row)?,
        targets: <R::Database as Backend>::get_count(row, "targets")?,
    })
}

/// A [`TombstoneRow`] from the tombstone columns, by name.
pub(crate) fn tombstone_from_row<R>(row: &R) -> Result<TombstoneRow>
where
    R: Row<Database: Backend<Row = R>>,
{
    type Db<R> = <R as Row>::Database;
    Ok(TombstoneRow {
        id: Db::<R>::get_uuid(row, "id")?,
        contact_id: ContactId::from_uuid(Db::<R>::get_uuid(row, "contact_id")?),
        kind: Db::<R>::get_text(row, "kind")?,
        rule: Db::<R>::get_text(row, "rule")?,
        reason: Db::<R>::get_text(row, "reason")?,
        sha256: Db::<R>::get_opt_text(row, "sha256")?,
        retain_until: Db::<R>::get_time(row, "retain_until")?,
        deleted_at: Db::<R>::get_time(row, "deleted_at")?,
        ledgered_at: Db::<R>::get_opt_time(row, "ledgered_at")?,
        storage_deleted_at: Db::<R>::get_opt_time(row, "storage_deleted_at")?,
    })
}
