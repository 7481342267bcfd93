//! Accounts, their API tokens, sessions, lockout counters and TOTP secrets in
//! SQLite. Passwords, tokens and session secrets arrive already hashed and TOTP
//! secrets already sealed; this module stores and finds them and knows nothing
//! of how they were made, nor what makes a token or session valid (the server
//! decides expiry, timeouts and what a disabled account means).

use chrono::{DateTime, Utc};
use kirjuri_core::ids::UserId;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::codec::{get_opt_time, get_time, get_uuid, micros, opt_micros, write_error};
use crate::accounts;
use crate::error::{Error, Result};
use crate::model::{FailedLogin, SessionCutoff, SessionRow, TokenRow, UserRow, UserUpdate};

/// The columns of a [`UserRow`] from the table aliased `u`, named explicitly
/// so a join cannot change what they are called.
const USER_COLUMNS: &str = "u.id AS id, u.name AS name, u.role AS role, \
    u.password_hash AS password_hash, u.disabled AS disabled, u.created_at AS created_at, \
    u.confidentiality_agreement AS confidentiality_agreement, \
    u.failed_logins AS failed_logins, u.locked_at AS locked_at, \
    EXISTS (SELECT 1 FROM user_totp AS tt \
            WHERE tt.user_id = u.id AND tt.sealed_secret IS NOT NULL) AS totp_enabled";

/// Creates an account. Runs inside the caller's write transaction.
pub(super) async fn insert_user(conn: &mut SqliteConnection, user: &UserRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, name, role, password_hash, disabled, created_at, \
             confidentiality_agreement, failed_logins, locked_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(user.id.as_uuid())
    .bind(user.name.as_str())
    .bind(user.role.as_str())
    .bind(user.password_hash.as_str())
    .bind(user.disabled)
    .bind(micros(user.created_at))
    .bind(user.confidentiality_agreement.as_deref())
    .bind(i64::from(user.failed_logins))
    .bind(opt_micros(user.locked_at))
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
    let token = token_from_row(&row, user.id)?;
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

/// A [`UserRow`] from [`USER_COLUMNS`] (or columns of the same names).
pub(super) fn user_from_row(row: &SqliteRow) -> Result<UserRow> {
    Ok(UserRow {
        id: UserId::from_uuid(get_uuid(row, "id")?),
        name: row.try_get("name")?,
        role: accounts::role(&row.try_get::<String, _>("role")?)?,
        password_hash: row.try_get("password_hash")?,
        disabled: row.try_get("disabled")?,
        created_at: get_time(row, "created_at")?,
        confidentiality_agreement: row.try_get("confidentiality_agreement")?,
        failed_logins: accounts::failed_logins(row.try_get("failed_logins")?)?,
        locked_at: get_opt_time(row, "locked_at")?,
        totp_enabled: row.try_get("totp_enabled")?,
    })
}

/// The columns of a [`TokenRow`] from the table aliased `t`, prefixed `t_`.
const TOKEN_COLUMNS: &str = "t.id AS t_id, t.user_id AS t_user_id, t.label AS t_label, \
    t.token_hash AS t_token_hash, t.created_at AS t_created_at, t.expires_at AS t_expires_at, \
    t.revoked_at AS t_revoked_at, t.last_used_at AS t_last_used_at";

fn token_from_row(row: &SqliteRow, user_id: UserId) -> Result<TokenRow> {
    Ok(TokenRow {
        id: get_uuid(row, "t_id")?,
        user_id,
        label: row.try_get("t_label")?,
        token_hash: row.try_get("t_token_hash")?,
        created_at: get_time(row, "t_created_at")?,
        expires_at: get_opt_time(row, "t_expires_at")?,
        revoked_at: get_opt_time(row, "t_revoked_at")?,
        last_used_at: get_opt_time(row, "t_last_used_at")?,
    })
}

/// Every account, by name.
pub(super) async fn users(pool: &SqlitePool) -> Result<Vec<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users AS u ORDER BY u.name");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?
        .iter()
        .map(user_from_row)
        .collect()
}

/// Fails with [`Error::NotFound`] unless the account exists.
async fn require_user(conn: &mut SqliteConnection, id: &UserId) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = ?")
        .bind(id.as_uuid())
        .fetch_optional(conn)
        .await?;
    found.map(|_| ()).ok_or(Error::NotFound)
}

/// Enabled administrators.
async fn enabled_admins(conn: &mut SqliteConnection) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin' AND NOT disabled")
            .fetch_one(conn)
            .await?,
    )
}

/// Applies an administrative change; disabling revokes the account's tokens
/// at `at`. Refuses to leave no enabled administrator where there was one.
/// Runs inside the caller's write transaction, which `BEGIN IMMEDIATE` makes
/// the only writer, so the count below cannot be raced.
pub(super) async fn update_user(
    conn: &mut SqliteConnection,
    id: &UserId,
    update: &UserUpdate,
    at: DateTime<Utc>,
) -> Result<()> {
    require_user(conn, id).await?;
    let admins_before = enabled_admins(conn).await?;
    if let Some(role) = update.role {
        sqlx::query("UPDATE users SET role = ? WHERE id = ?")
            .bind(role.as_str())
            .bind(id.as_uuid())
            .execute(&mut *conn)
            .await?;
    }
    if let Some(disabled) = update.disabled {
        sqlx::query("UPDATE users SET disabled = ? WHERE id = ?")
            .bind(disabled)
            .bind(id.as_uuid())
            .execute(&mut *conn)
            .await?;
        if disabled {
            // A disabled account's sessions and tokens end now, and enabling
            // it again brings none of them back.
            sqlx::query("DELETE FROM sessions WHERE user_id = ?")
                .bind(id.as_uuid())
                .execute(&mut *conn)
                .await?;
            revoke_tokens_of(conn, id, at).await?;
        }
    }
    if let Some(agreement) = &update.confidentiality_agreement {
        sqlx::query("UPDATE users SET confidentiality_agreement = ? WHERE id = ?")
            .bind(agreement.as_deref())
            .bind(id.as_uuid())
            .execute(&mut *conn)
            .await?;
    }
    if admins_before > 0 && enabled_admins(conn).await? == 0 {
        return Err(Error::Conflict("last admin"));
    }
    Ok(())
}

/// Revokes, at `at`, every token of the account not revoked yet.
async fn revoke_tokens_of(
    conn: &mut SqliteConnection,
    id: &UserId,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL")
        .bind(micros(at))
        .bind(id.as_uuid())
        .execute(conn)
        .await?;
    Ok(())
}

/// Reserves one password check: counts it as failed in advance, unless the
/// account is disabled, locked or out of attempts. One statement, so
/// concurrent reservations are counted exactly.
pub(super) async fn reserve_login_attempt(
    conn: &mut SqliteConnection,
    id: &UserId,
    lock_after: u32,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE users SET failed_logins = failed_logins + 1 \
         WHERE id = ? AND NOT disabled AND locked_at IS NULL AND failed_logins < ?",
    )
    .bind(id.as_uuid())
    .bind(i64::from(lock_after))
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() > 0 {
        return Ok(true);
    }
    require_user(conn, id).await?;
    Ok(false)
}

/// Clears the failure count after a successful re-check, unless the account
/// is locked or disabled by then.
pub(super) async fn clear_login_attempts(conn: &mut SqliteConnection, id: &UserId) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE users SET failed_logins = 0 \
         WHERE id = ? AND NOT disabled AND locked_at IS NULL",
    )
    .bind(id.as_uuid())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() > 0 {
        return Ok(true);
    }
    require_user(conn, id).await?;
    Ok(false)
}

/// Settles a reserved attempt as failed; locks at `lock_after` (at `at`).
/// Runs inside the caller's transaction.
pub(super) async fn record_failed_login(
    conn: &mut SqliteConnection,
    id: &UserId,
    lock_after: u32,
    at: DateTime<Utc>,
) -> Result<FailedLogin> {
    let row = sqlx::query("SELECT failed_logins, locked_at FROM users WHERE id = ?")
        .bind(id.as_uuid())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)?;
    let already_locked = get_opt_time(&row, "locked_at")?.is_some();
    let outcome =
        accounts::failed_login(row.try_get("failed_logins")?, already_locked, lock_after)?;
    if outcome.locked_now {
        sqlx::query("UPDATE users SET locked_at = ? WHERE id = ?")
            .bind(micros(at))
            .bind(id.as_uuid())
            .execute(&mut *conn)
            .await?;
    }
    Ok(outcome)
}

/// Replaces the password hash, ends the other sessions, revokes the tokens
/// (at `at`) and clears the failure count. Runs inside the caller's
/// transaction.
pub(super) async fn set_password(
    conn: &mut SqliteConnection,
    id: &UserId,
    password_hash: &str,
    keep_session: Option<&uuid::Uuid>,
    at: DateTime<Utc>,
) -> Result<()> {
    let done = sqlx::query("UPDATE users SET password_hash = ?, failed_logins = 0 WHERE id = ?")
        .bind(password_hash)
        .bind(id.as_uuid())
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    // `id IS NOT NULL` holds for every row, so without a session to keep all go.
    sqlx::query("DELETE FROM sessions WHERE user_id = ? AND id IS NOT ?")
        .bind(id.as_uuid())
        .bind(keep_session)
        .execute(&mut *conn)
        .await?;
    revoke_tokens_of(conn, id, at).await
}

/// Signs in. Runs inside the caller's transaction.
pub(super) async fn insert_session(
    conn: &mut SqliteConnection,
    session: &SessionRow,
    totp_step: Option<i64>,
    cutoff: SessionCutoff,
) -> Result<()> {
    if let Some(step) = totp_step {
        // The compare-and-set that makes a code good for one login only,
        // also against a concurrent login with the same code.
        let done = sqlx::query(
            "UPDATE user_totp SET last_step = ?1 \
             WHERE user_id = ?2 AND sealed_secret IS NOT NULL \
                 AND (last_step IS NULL OR last_step < ?1)",
        )
        .bind(step)
        .bind(session.user_id.as_uuid())
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::Conflict("totp step"));
        }
    }
    sqlx::query("DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?")
        .bind(micros(cutoff.last_seen_before))
        .bind(micros(cutoff.created_before))
        .execute(&mut *conn)
        .await?;
    // A success clears the count of its own and every other reservation;
    // an account locked or disabled meanwhile gets no session.
    let open = sqlx::query(
        "UPDATE users SET failed_logins = 0 \
         WHERE id = ? AND NOT disabled AND locked_at IS NULL",
    )
    .bind(session.user_id.as_uuid())
    .execute(&mut *conn)
    .await?;
    if open.rows_affected() == 0 {
        return Err(Error::Conflict("account locked"));
    }
    sqlx::query(
        "INSERT INTO sessions (id, secret_hash, user_id, created_at, last_seen_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(session.id)
    .bind(session.secret_hash.as_slice())
    .bind(session.user_id.as_uuid())
    .bind(micros(session.created_at))
    .bind(micros(session.last_seen_at))
    .execute(conn)
    .await
    .map_err(|err| {
        write_error(
            err,
            &[
                ("sessions.secret_hash", "session secret"),
                ("sessions.id", "session id"),
            ],
            "session",
        )
    })?;
    Ok(())
}

/// The session with this secret hash, with its account.
pub(super) async fn session_by_hash(
    pool: &SqlitePool,
    hash: &[u8],
) -> Result<Option<(SessionRow, UserRow)>> {
    let sql = format!(
        "SELECT s.id AS s_id, s.secret_hash AS s_secret_hash, s.created_at AS s_created_at, \
             s.last_seen_at AS s_last_seen_at, {USER_COLUMNS} \
         FROM sessions AS s JOIN users AS u ON u.id = s.user_id \
         WHERE s.secret_hash = ?"
    );
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(hash)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let user = user_from_row(&row)?;
    let session = SessionRow {
        id: get_uuid(&row, "s_id")?,
        secret_hash: row.try_get("s_secret_hash")?,
        user_id: user.id,
        created_at: get_time(&row, "s_created_at")?,
        last_seen_at: get_time(&row, "s_last_seen_at")?,
    };
    Ok(Some((session, user)))
}

/// Moves the session's `last_seen_at` forward to `at` (never back).
pub(super) async fn touch_session(
    pool: &SqlitePool,
    id: &uuid::Uuid,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = max(last_seen_at, ?) WHERE id = ?")
        .bind(micros(at))
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Ends a session. Runs inside the caller's transaction.
pub(super) async fn delete_session(conn: &mut SqliteConnection, id: &uuid::Uuid) -> Result<()> {
    let done = sqlx::query("DELETE FROM sessions WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Tokens of one account or of all, oldest first.
pub(super) async fn tokens(pool: &SqlitePool, user: Option<&UserId>) -> Result<Vec<TokenRow>> {
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens AS t \
         WHERE ?1 IS NULL OR t.user_id = ?1 ORDER BY t.created_at, t.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user.map(UserId::as_uuid))
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| token_from_row(row, UserId::from_uuid(get_uuid(row, "t_user_id")?)))
        .collect()
}

/// The token with this id.
pub(super) async fn token(pool: &SqlitePool, id: &uuid::Uuid) -> Result<Option<TokenRow>> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens AS t WHERE t.id = ?");
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let user_id = UserId::from_uuid(get_uuid(&row, "t_user_id")?);
    token_from_row(&row, user_id).map(Some)
}

/// Revokes a token unless it already is; says whether it changed anything.
/// Runs inside the caller's transaction.
pub(super) async fn revoke_token(
    conn: &mut SqliteConnection,
    id: &uuid::Uuid,
    at: DateTime<Utc>,
) -> Result<bool> {
    let done =
        sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
            .bind(micros(at))
            .bind(id)
            .execute(&mut *conn)
            .await?;
    if done.rows_affected() > 0 {
        return Ok(true);
    }
    let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM api_tokens WHERE id = ?")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    exists.map(|_| false).ok_or(Error::NotFound)
}
