//! Accounts and their API tokens in SQLite. Passwords and tokens arrive
//! already hashed; this module stores and finds the hashes and knows nothing
//! of how they were made or what makes a token valid.

use chrono::{DateTime, Utc};
use kirjuri_core::ids::UserId;
use kirjuri_core::role::Role;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::codec::{get_opt_time, get_time, get_uuid, micros, opt_micros, write_error};
use crate::error::{Error, Result};
use crate::model::{TokenRow, UserRow};

/// The columns of a [`UserRow`] from the table aliased `u`, named explicitly
/// so a join cannot change what they are called.
const USER_COLUMNS: &str = "u.id AS id, u.name AS name, u.role AS role, \
    u.password_hash AS password_hash, u.disabled AS disabled, u.created_at AS created_at";

/// Creates an account. Runs inside the caller's write transaction.
pub(super) async fn insert_user(conn: &mut SqliteConnection, user: &UserRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, name, role, password_hash, disabled, created_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(user.id.as_uuid())
    .bind(user.name.as_str())
    .bind(user.role.as_str())
    .bind(user.password_hash.as_str())
    .bind(user.disabled)
    .bind(micros(user.created_at))
    .execute(conn)
    .await
    .map_err(|err| {
        write_error(
            err,
            &[("users.name", "user name"), ("users.id", "user id")],
            "user",
        )
    })?;
    Ok(())
}

/// The account with this login name.
pub(super) async fn user_by_name(pool: &SqlitePool, name: &str) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users AS u WHERE u.name = ?");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(name)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()
}

/// The account with this id.
pub(super) async fn user(pool: &SqlitePool, id: &UserId) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users AS u WHERE u.id = ?");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.as_uuid())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()
}

/// Issues a token. Runs inside the caller's write transaction.
pub(super) async fn insert_token(conn: &mut SqliteConnection, token: &TokenRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, label, token_hash, created_at, expires_at, \
             revoked_at, last_used_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(token.id)
    .bind(token.user_id.as_uuid())
    .bind(token.label.as_deref())
    .bind(token.token_hash.as_slice())
    .bind(micros(token.created_at))
    .bind(opt_micros(token.expires_at))
    .bind(opt_micros(token.revoked_at))
    .bind(opt_micros(token.last_used_at))
    .execute(conn)
    .await
    .map_err(|err| {
        write_error(
            err,
            &[
                ("api_tokens.token_hash", "token hash"),
                ("api_tokens.id", "token id"),
            ],
            "token",
        )
    })?;
    Ok(())
}

/// The token with this hash, with its account.
pub(super) async fn token_by_hash(
    pool: &SqlitePool,
    hash: &[u8],
) -> Result<Option<(TokenRow, UserRow)>> {
    // Token columns are aliased so they cannot clash with the user's.
    let sql = format!(
        "SELECT t.id AS t_id, t.label AS t_label, t.token_hash AS t_token_hash, \
             t.created_at AS t_created_at, t.expires_at AS t_expires_at, \
             t.revoked_at AS t_revoked_at, t.last_used_at AS t_last_used_at, {USER_COLUMNS} \
         FROM api_tokens AS t JOIN users AS u ON u.id = t.user_id \
         WHERE t.token_hash = ?"
    );
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(hash)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let user = user_from_row(&row)?;
    let token = TokenRow {
        id: get_uuid(&row, "t_id")?,
        user_id: user.id,
        label: row.try_get("t_label")?,
        token_hash: row.try_get("t_token_hash")?,
        created_at: get_time(&row, "t_created_at")?,
        expires_at: get_opt_time(&row, "t_expires_at")?,
        revoked_at: get_opt_time(&row, "t_revoked_at")?,
        last_used_at: get_opt_time(&row, "t_last_used_at")?,
    };
    Ok(Some((token, user)))
}

/// Moves the token's `last_used_at` forward to `at` (never back).
pub(super) async fn touch_token(
    pool: &SqlitePool,
    id: &uuid::Uuid,
    at: DateTime<Utc>,
) -> Result<()> {
    // SQLite's two-argument max() is NULL if either argument is; coalesce
    // makes a first use simply set the value.
    let touched = sqlx::query(
        "UPDATE api_tokens SET last_used_at = max(coalesce(last_used_at, ?1), ?1) WHERE id = ?2",
    )
    .bind(micros(at))
    .bind(id)
    .execute(pool)
    .await?;
    if touched.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

fn user_from_row(row: &SqliteRow) -> Result<UserRow> {
    let role: String = row.try_get("role")?;
    Ok(UserRow {
        id: UserId::from_uuid(get_uuid(row, "id")?),
        name: row.try_get("name")?,
        role: role
            .parse::<Role>()
            .map_err(|_| Error::Corrupt("users.role: unknown role".into()))?,
        password_hash: row.try_get("password_hash")?,
        disabled: row.try_get("disabled")?,
        created_at: get_time(row, "created_at")?,
    })
}
