//! The retention statements and row decoders that are the same on both
//! backends, written once over [`Backend`]: lifting a hold, moving its
//! review date, marking its reminder sent; reading a hold, a hold's summary
//! and a tombstone from their columns. Each adapter's [`RetentionStore`](crate::RetentionStore)
//! runs them inside its own audited write (`write_audited`), which owns the
//! transaction discipline; what differs between the dialects (batched
//! targets, the purge's statements) stays in the adapters' `retention`.

use chrono::{DateTime, Utc};
use kirjuri_core::ids::{ContactId, UserId};
use sqlx::{Encode, Executor, Row, Type};
use uuid::Uuid;

use crate::audited::Audited;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::model::NewAuditEvent;
use crate::retention::{HoldLift, HoldRow, HoldSummary, TombstoneRow};

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
    found_one::<DB>(&changed)
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
    found_one::<DB>(&changed)
}

/// [`Error::NotFound`] if an update by id changed no row.
fn found_one<DB: Backend>(changed: &DB::QueryResult) -> Result<()> {
    if DB::rows_affected(changed) == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
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
