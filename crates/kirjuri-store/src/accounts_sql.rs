//! The account statements that are the same on both backends, written
//! once over [`Backend`]: unlocking an account and its second factor's
//! state (reading it, storing a pending secret, confirming it). Each
//! adapter's `AccountStore` runs the writes inside its own audited write;
//! what differs between the dialects stays in the adapters' `accounts`.

use kirjuri_core::ids::UserId;
use sqlx::{ColumnIndex, Decode, Encode, Executor, Pool, Row, Type};
use uuid::Uuid;

use crate::backend::Backend;
use crate::error::Result;
use crate::model::{SealedSecret, TotpRow};

/// Clears the lock and the failure count. Runs inside the caller's
/// transaction.
pub(crate) async fn unlock_user<DB: Backend>(conn: &mut DB::Connection, id: &UserId) -> Result<()>
where
    for<'q> &'q Uuid: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let done = sqlx::query("UPDATE users SET failed_logins = 0, locked_at = NULL WHERE id = $1")
        .bind(id.as_uuid())
        .execute(conn)
        .await?;
    DB::found_one(&done)
}

/// The account's TOTP state.
pub(crate) async fn totp<DB: Backend>(pool: &Pool<DB>, user: &UserId) -> Result<Option<TotpRow>>
where
    for<'q> &'q Uuid: Encode<'q, DB> + Type<DB>,
    for<'r> Option<Vec<u8>>: Decode<'r, DB> + Type<DB>,
    for<'r> Option<i64>: Decode<'r, DB> + Type<DB>,
    for<'s> &'s str: ColumnIndex<DB::Row>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let Some(row) = sqlx::query(
        "SELECT wrapped_key, sealed_secret, pending_wrapped_key, pending_sealed_secret, \
             last_step FROM user_totp WHERE user_id = $1",
    )
    .bind(user.as_uuid())
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let sealed = |key: &str, secret: &str| -> Result<Option<SealedSecret>> {
        Ok(crate::accounts::sealed(
            row.try_get(key)?,
            row.try_get(secret)?,
        ))
    };
    Ok(Some(TotpRow {
        user_id: *user,
        active: sealed("wrapped_key", "sealed_secret")?,
        pending: sealed("pending_wrapped_key", "pending_sealed_secret")?,
        last_step: row.try_get("last_step")?,
    }))
}

/// Stores an unconfirmed TOTP secret. Runs inside the caller's transaction.
pub(crate) async fn begin_totp<DB: Backend>(
    conn: &mut DB::Connection,
    user: &UserId,
    pending: &SealedSecret,
) -> Result<()>
where
    for<'q> &'q Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    sqlx::query(
        "INSERT INTO user_totp (user_id, pending_wrapped_key, pending_sealed_secret) \
         VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET \
             pending_wrapped_key = excluded.pending_wrapped_key, \
             pending_sealed_secret = excluded.pending_sealed_secret",
    )
    .bind(user.as_uuid())
    .bind(pending.wrapped_key.as_slice())
    .bind(pending.sealed.as_slice())
    .execute(conn)
    .await
    // No unique constraint names a column here: any violation is "totp".
    .map_err(|err| crate::codec::write_error(err, &[], "totp", |_, _| false))?;
    Ok(())
}

/// Promotes the pending TOTP secret, keeping the highest step used. Runs
/// inside the caller's transaction.
pub(crate) async fn confirm_totp<DB: Backend>(
    conn: &mut DB::Connection,
    user: &UserId,
    step: i64,
) -> Result<()>
where
    for<'q> &'q Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let sql = format!(
        "UPDATE user_totp SET wrapped_key = pending_wrapped_key, \
             sealed_secret = pending_sealed_secret, \
             pending_wrapped_key = NULL, pending_sealed_secret = NULL, \
             last_step = {}(coalesce(last_step, $1), $1) \
         WHERE user_id = $2 AND pending_sealed_secret IS NOT NULL",
        DB::GREATEST
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(step)
        .bind(user.as_uuid())
        .execute(conn)
        .await?;
    DB::found_one(&done)
}
