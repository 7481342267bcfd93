//! Accounts, their API tokens, sessions, lockout counters and TOTP secrets,
//! on either backend: [`AccountStore`] for every [`SqlStore`], its queries
//! and row decoders written once over [`Backend`] (whose constants carry
//! the few fragments that differ: `greatest`/`max`, the bytewise collation,
//! `FOR UPDATE`). Every write that is audited runs in `crate::audited`'s
//! audited write, which holds SQLite's write lock or PostgreSQL's audit
//! lock: no other audited write runs between its statements.
//!
//! Passwords, tokens and session secrets arrive already hashed and TOTP
//! secrets already sealed; this module stores and finds them and knows
//! nothing of how they were made, nor what makes a token or session valid
//! (the server decides expiry, timeouts and what a disabled account means).
//! What the stored values mean (a role's text, a failure count, a sealed
//! secret's two columns) is `crate::accounts`'.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kirjuri_core::ids::UserId;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, Row, Type};
use uuid::Uuid;

use crate::accounts;
use crate::audited::{self, AuditLog, Audited};
use crate::backend::{Backend, SqlStore, Unique};
use crate::error::{Error, Result};
use crate::model::SessionPreferences;
use crate::model::{FailedLogin, SealedSecret, SessionCutoff, SessionRow, TotpRow, UserUpdate};
use crate::model::{NewAuditEvent, TokenRow, UserRow};
use crate::store::AccountStore;

/// The columns of a [`UserRow`] from the table aliased `u`, named explicitly
/// so a join cannot change what they are called.
pub(crate) const USER_COLUMNS: &str = "u.id AS id, u.name AS name, u.role AS role, \
    u.password_hash AS password_hash, u.disabled AS disabled, u.created_at AS created_at, \
    u.confidentiality_agreement AS confidentiality_agreement, \
    u.failed_logins AS failed_logins, u.locked_at AS locked_at, \
    EXISTS (SELECT 1 FROM user_totp AS tt \
            WHERE tt.user_id = u.id AND tt.sealed_secret IS NOT NULL) AS totp_enabled";

/// The columns of a [`TokenRow`] from the table aliased `t`, prefixed `t_`
/// so they cannot clash with a joined user's.
const TOKEN_COLUMNS: &str = "t.id AS t_id, t.user_id AS t_user_id, t.label AS t_label, \
    t.token_hash AS t_token_hash, t.created_at AS t_created_at, t.expires_at AS t_expires_at, \
    t.revoked_at AS t_revoked_at, t.last_used_at AS t_last_used_at";

/// The unique constraints of `users`, `api_tokens` and `sessions`.
const USER_UNIQUES: &[Unique] = &[
    Unique::new("users.name", "users_name_unique", "user name"),
    Unique::new("users.id", "users_pkey", "user id"),
];
const TOKEN_UNIQUES: &[Unique] = &[
    Unique::new(
        "api_tokens.token_hash",
        "api_tokens_token_hash_unique",
        "token hash",
    ),
    Unique::new("api_tokens.id", "api_tokens_pkey", "token id"),
];
const SESSION_UNIQUES: &[Unique] = &[
    Unique::new(
        "sessions.secret_hash",
        "sessions_secret_hash_unique",
        "session secret",
    ),
    Unique::new("sessions.id", "sessions_pkey", "session id"),
];

/// A [`UserRow`] from [`USER_COLUMNS`] (or columns of the same names).
pub(crate) fn user_from_row<DB: Backend>(row: &DB::Row) -> Result<UserRow> {
    Ok(UserRow {
        id: UserId::from_uuid(DB::get_uuid(row, "id")?),
        name: DB::get_text(row, "name")?,
        role: accounts::role(&DB::get_text(row, "role")?)?,
        password_hash: DB::get_text(row, "password_hash")?,
        disabled: DB::get_bool(row, "disabled")?,
        created_at: DB::get_time(row, "created_at")?,
        confidentiality_agreement: DB::get_opt_text(row, "confidentiality_agreement")?,
        failed_logins: accounts::failed_logins(DB::get_int(row, "failed_logins")?)?,
        locked_at: DB::get_opt_time(row, "locked_at")?,
        totp_enabled: DB::get_bool(row, "totp_enabled")?,
    })
}

/// A [`TokenRow`] from [`TOKEN_COLUMNS`].
fn token_from_row<DB: Backend>(row: &DB::Row) -> Result<TokenRow> {
    Ok(TokenRow {
        id: DB::get_uuid(row, "t_id")?,
        user_id: UserId::from_uuid(DB::get_uuid(row, "t_user_id")?),
        label: DB::get_opt_text(row, "t_label")?,
        token_hash: DB::get_bytes(row, "t_token_hash")?,
        created_at: DB::get_time(row, "t_created_at")?,
        expires_at: DB::get_opt_time(row, "t_expires_at")?,
        revoked_at: DB::get_opt_time(row, "t_revoked_at")?,
        last_used_at: DB::get_opt_time(row, "t_last_used_at")?,
    })
}

/// Fails with [`Error::NotFound`] unless `SELECT 1 FROM {table} WHERE id =
/// $1` finds a row.
async fn require<'c, DB: Backend>(
    executor: impl Executor<'c, Database = DB>,
    table: &str,
    id: Uuid,
) -> Result<()>
where
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
{
    let sql = format!("SELECT 1 FROM {table} WHERE id = $1");
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(executor)
        .await?;
    found.map(|_| ()).ok_or(Error::NotFound)
}

/// Enabled administrators.
async fn enabled_admins<'c, DB: Backend>(
    executor: impl Executor<'c, Database = DB>,
) -> Result<u64> {
    let row = sqlx::query("SELECT count(*) AS n FROM users WHERE role = 'admin' AND NOT disabled")
        .fetch_one(executor)
        .await?;
    DB::get_count(&row, "n")
}

/// Revokes, at `at`, every token of the account not revoked yet.
async fn revoke_tokens_of<'c, DB: Backend>(
    executor: impl Executor<'c, Database = DB>,
    id: &UserId,
    at: DateTime<Utc>,
) -> Result<()>
where
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
{
    sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(DB::time(at))
        .bind(*id.as_uuid())
        .execute(executor)
        .await?;
    Ok(())
}

/// One `SELECT {USER_COLUMNS}` row, after `FROM users AS u` and `tail`.
async fn one_user<'c, DB: Backend>(
    executor: impl Executor<'c, Database = DB>,
    tail: &str,
    key: impl for<'q> Encode<'q, DB> + Type<DB> + Send + 'static,
) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users AS u {tail}");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(key)
        .fetch_optional(executor)
        .await?
        .as_ref()
        .map(user_from_row::<DB>)
        .transpose()
}

#[async_trait]
impl<S: SqlStore> AccountStore for S
where
    S::Db: AuditLog,
    for<'q> Uuid: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> &'q [u8]: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> bool: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<&'q str>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<Uuid>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<bool>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<<S::Db as Backend>::Time>: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> Option<Vec<u8>>: Decode<'r, S::Db> + Type<S::Db>,
    for<'r> Option<i64>: Decode<'r, S::Db> + Type<S::Db>,
    for<'s> &'s str: ColumnIndex<<S::Db as Database>::Row>,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
{
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    async fn insert_user(&self, user: &UserRow, audit: &NewAuditEvent) -> Result<()> {
        audited::write_audited(self, [audit], async |conn| {
            sqlx::query(
                "INSERT INTO users (id, name, role, password_hash, disabled, created_at, \
                     confidentiality_agreement, failed_logins, locked_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(*user.id.as_uuid())
            .bind(user.name.as_str())
            .bind(user.role.as_str())
            .bind(user.password_hash.as_str())
            .bind(user.disabled)
            .bind(S::Db::time(user.created_at))
            .bind(user.confidentiality_agreement.as_deref())
            .bind(i64::from(user.failed_logins))
            .bind(user.locked_at.map(S::Db::time))
            .execute(conn)
            .await
            .map_err(|err| S::Db::write_error(err, USER_UNIQUES, "user"))?;
            Ok(())
        })
        .await
    }

    async fn user_by_name(&self, name: &str) -> Result<Option<UserRow>> {
        one_user(self.sql_pool(), "WHERE u.name = $1", name.to_owned()).await
    }

    async fn user(&self, id: &UserId) -> Result<Option<UserRow>> {
        one_user(self.sql_pool(), "WHERE u.id = $1", *id.as_uuid()).await
    }

    #[tracing::instrument(skip_all, fields(token_id = %token.id, user_id = %token.user_id))]
    async fn insert_token(&self, token: &TokenRow, audit: &NewAuditEvent) -> Result<()> {
        audited::write_audited(self, [audit], async |conn| {
            sqlx::query(
                "INSERT INTO api_tokens (id, user_id, label, token_hash, created_at, \
                     expires_at, revoked_at, last_used_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(token.id)
            .bind(*token.user_id.as_uuid())
            .bind(token.label.as_deref())
            .bind(token.token_hash.as_slice())
            .bind(S::Db::time(token.created_at))
            .bind(token.expires_at.map(S::Db::time))
            .bind(token.revoked_at.map(S::Db::time))
            .bind(token.last_used_at.map(S::Db::time))
            .execute(conn)
            .await
            .map_err(|err| S::Db::write_error(err, TOKEN_UNIQUES, "token"))?;
            Ok(())
        })
        .await
    }

    async fn token_by_hash(&self, hash: &[u8]) -> Result<Option<(TokenRow, UserRow)>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS}, {USER_COLUMNS} \
             FROM api_tokens AS t JOIN users AS u ON u.id = t.user_id \
             WHERE t.token_hash = $1"
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hash)
            .fetch_optional(self.sql_pool())
            .await?
        else {
            return Ok(None);
        };
        Ok(Some((
            token_from_row::<S::Db>(&row)?,
            user_from_row::<S::Db>(&row)?,
        )))
    }

    async fn touch_token(&self, id: &Uuid, at: DateTime<Utc>) -> Result<()> {
        // Two-argument max() is NULL if either argument is (greatest()
        // ignores NULL); coalesce makes a first use simply set the value.
        let sql = format!(
            "UPDATE api_tokens SET last_used_at = {}(coalesce(last_used_at, $1), $1) \
             WHERE id = $2",
            S::Db::GREATEST
        );
        let touched = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(S::Db::time(at))
            .bind(*id)
            .execute(self.sql_pool())
            .await?;
        S::Db::found_one(&touched)
    }

    async fn users(&self) -> Result<Vec<UserRow>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users AS u ORDER BY u.name COLLATE {}",
            S::Db::BYTEWISE
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.sql_pool())
            .await?
            .iter()
            .map(user_from_row::<S::Db>)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn update_user(
        &self,
        id: &UserId,
        update: &UserUpdate,
        audit: &[NewAuditEvent],
    ) -> Result<()> {
        let at = audit
            .first()
            .map(|e| e.at)
            .ok_or(Error::Conflict("no audit event"))?;
        audited::write_audited(self, audit, async |conn| {
            // The audited write excludes every other one, so no other change
            // of an administrator runs between this count and the next.
            let admins_before = enabled_admins(&mut *conn).await?;
            // One statement: a field left `None` keeps its value (the CASE
            // flag says whether the agreement changes).
            let agreement = update.confidentiality_agreement.as_ref();
            let done = sqlx::query(
                "UPDATE users SET \
                     role = coalesce($2, role), \
                     disabled = coalesce($3, disabled), \
                     confidentiality_agreement = \
                         CASE WHEN $4 THEN $5 ELSE confidentiality_agreement END \
                 WHERE id = $1",
            )
            .bind(*id.as_uuid())
            .bind(update.role.map(|role| role.as_str()))
            .bind(update.disabled)
            .bind(agreement.is_some())
            .bind(agreement.and_then(|a| a.as_deref()))
            .execute(&mut *conn)
            .await?;
            S::Db::found_one(&done)?;
            if update.disabled == Some(true) {
                // A disabled account's sessions and tokens end now, and
                // enabling it again brings none of them back.
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(*id.as_uuid())
                    .execute(&mut *conn)
                    .await?;
                revoke_tokens_of(&mut *conn, id, at).await?;
            }
            if admins_before > 0 && enabled_admins(&mut *conn).await? == 0 {
                return Err(Error::Conflict("last admin"));
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn reserve_login_attempt(&self, id: &UserId, lock_after: u32) -> Result<bool> {
        // One statement, so concurrent reservations are counted exactly (in
        // PostgreSQL its row lock makes a concurrent one re-check the
        // condition on the updated row); it needs no transaction, nor the
        // audit lock: nothing is audited until the attempt settles.
        let done = sqlx::query(
            "UPDATE users SET failed_logins = failed_logins + 1 \
             WHERE id = $1 AND NOT disabled AND locked_at IS NULL AND failed_logins < $2",
        )
        .bind(*id.as_uuid())
        .bind(i64::from(lock_after))
        .execute(self.sql_pool())
        .await?;
        if S::Db::rows_affected(&done) > 0 {
            return Ok(true);
        }
        require(self.sql_pool(), "users", *id.as_uuid()).await?;
        Ok(false)
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn clear_login_attempts(&self, id: &UserId) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE users SET failed_logins = 0 \
             WHERE id = $1 AND NOT disabled AND locked_at IS NULL",
        )
        .bind(*id.as_uuid())
        .execute(self.sql_pool())
        .await?;
        if S::Db::rows_affected(&done) > 0 {
            return Ok(true);
        }
        require(self.sql_pool(), "users", *id.as_uuid()).await?;
        Ok(false)
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn record_failed_login(
        &self,
        id: &UserId,
        lock_after: u32,
        failed: &NewAuditEvent,
        lockout: &NewAuditEvent,
    ) -> Result<FailedLogin> {
        audited::write_audited_if(self, async |conn| {
            // Locked until commit (`FOR UPDATE`, or SQLite's write lock), so
            // the lock below is decided once however many failures settle
            // together.
            let sql = format!(
                "SELECT failed_logins, locked_at IS NOT NULL AS already_locked \
                 FROM users WHERE id = $1{}",
                S::Db::FOR_UPDATE
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(*id.as_uuid())
                .fetch_optional(&mut *conn)
                .await?
                .ok_or(Error::NotFound)?;
            let outcome = accounts::failed_login(
                S::Db::get_int(&row, "failed_logins")?,
                S::Db::get_bool(&row, "already_locked")?,
                lock_after,
            )?;
            if outcome.locked_now {
                sqlx::query("UPDATE users SET locked_at = $1 WHERE id = $2")
                    .bind(S::Db::time(failed.at))
                    .bind(*id.as_uuid())
                    .execute(&mut *conn)
                    .await?;
            }
            let lockout = outcome.locked_now.then_some(lockout);
            Ok(Audited::commit(
                outcome,
                std::iter::once(failed).chain(lockout),
            ))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn unlock_user(&self, id: &UserId, audit: &NewAuditEvent) -> Result<()> {
        audited::write_audited(self, [audit], async |conn| {
            let done =
                sqlx::query("UPDATE users SET failed_logins = 0, locked_at = NULL WHERE id = $1")
                    .bind(*id.as_uuid())
                    .execute(conn)
                    .await?;
            S::Db::found_one(&done)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn set_password(
        &self,
        id: &UserId,
        password_hash: &str,
        keep_session: Option<&Uuid>,
        audit: &NewAuditEvent,
    ) -> Result<()> {
        audited::write_audited(self, [audit], async |conn| {
            let done =
                sqlx::query("UPDATE users SET password_hash = $1, failed_logins = 0 WHERE id = $2")
                    .bind(password_hash)
                    .bind(*id.as_uuid())
                    .execute(&mut *conn)
                    .await?;
            S::Db::found_one(&done)?;
            // Without a session to keep, every session of the account goes.
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND ($2 IS NULL OR id <> $2)")
                .bind(*id.as_uuid())
                .bind(keep_session.copied())
                .execute(&mut *conn)
                .await?;
            revoke_tokens_of(&mut *conn, id, audit.at).await
        })
        .await
    }

    async fn totp(&self, user: &UserId) -> Result<Option<TotpRow>> {
        let Some(row) = sqlx::query(
            "SELECT wrapped_key, sealed_secret, pending_wrapped_key, pending_sealed_secret, \
                 last_step FROM user_totp WHERE user_id = $1",
        )
        .bind(*user.as_uuid())
        .fetch_optional(self.sql_pool())
        .await?
        else {
            return Ok(None);
        };
        let sealed = |key: &str, secret: &str| -> Result<Option<SealedSecret>> {
            Ok(accounts::sealed(row.try_get(key)?, row.try_get(secret)?))
        };
        Ok(Some(TotpRow {
            user_id: *user,
            active: sealed("wrapped_key", "sealed_secret")?,
            pending: sealed("pending_wrapped_key", "pending_sealed_secret")?,
            last_step: row.try_get("last_step")?,
        }))
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn begin_totp(
        &self,
        user: &UserId,
        pending: &SealedSecret,
        audit: &NewAuditEvent,
    ) -> Result<()> {
        audited::write_audited(self, [audit], async |conn| {
            sqlx::query(
                "INSERT INTO user_totp (user_id, pending_wrapped_key, pending_sealed_secret) \
                 VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id) DO UPDATE SET \
                     pending_wrapped_key = excluded.pending_wrapped_key, \
                     pending_sealed_secret = excluded.pending_sealed_secret",
            )
            .bind(*user.as_uuid())
            .bind(pending.wrapped_key.as_slice())
            .bind(pending.sealed.as_slice())
            .execute(conn)
            .await
            // No unique constraint names a column here: any violation is "totp".
            .map_err(|err| S::Db::write_error(err, &[], "totp"))?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn confirm_totp(&self, user: &UserId, step: i64, audit: &NewAuditEvent) -> Result<()> {
        // Promotes the pending secret, keeping the highest step used.
        let sql = format!(
            "UPDATE user_totp SET wrapped_key = pending_wrapped_key, \
                 sealed_secret = pending_sealed_secret, \
                 pending_wrapped_key = NULL, pending_sealed_secret = NULL, \
                 last_step = {}(coalesce(last_step, $1), $1) \
             WHERE user_id = $2 AND pending_sealed_secret IS NOT NULL",
            S::Db::GREATEST
        );
        audited::write_audited(self, [audit], async |conn| {
            let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(step)
                .bind(*user.as_uuid())
                .execute(conn)
                .await?;
            S::Db::found_one(&done)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(session_id = %session.id, user_id = %session.user_id))]
    async fn insert_session(
        &self,
        session: &SessionRow,
        totp_step: Option<i64>,
        cutoff: SessionCutoff,
        audit: &NewAuditEvent,
    ) -> Result<()> {
        audited::write_audited(self, [audit], async |conn| {
            if let Some(step) = totp_step {
                // The compare-and-set that makes a code good for one login
                // only, also against a concurrent login with the same code
                // (in PostgreSQL the row lock makes the second UPDATE
                // re-check the first one's result).
                let done = sqlx::query(
                    "UPDATE user_totp SET last_step = $1 \
                     WHERE user_id = $2 AND sealed_secret IS NOT NULL \
                         AND (last_step IS NULL OR last_step < $1)",
                )
                .bind(step)
                .bind(*session.user_id.as_uuid())
                .execute(&mut *conn)
                .await?;
                if S::Db::rows_affected(&done) == 0 {
                    return Err(Error::Conflict("totp step"));
                }
            }
            sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
                .bind(S::Db::time(cutoff.last_seen_before))
                .bind(S::Db::time(cutoff.created_before))
                .execute(&mut *conn)
                .await?;
            // A success clears the count of its own and every other
            // reservation; an account locked or disabled meanwhile gets no
            // session.
            let open = sqlx::query(
                "UPDATE users SET failed_logins = 0 \
                 WHERE id = $1 AND NOT disabled AND locked_at IS NULL",
            )
            .bind(*session.user_id.as_uuid())
            .execute(&mut *conn)
            .await?;
            if S::Db::rows_affected(&open) == 0 {
                return Err(Error::Conflict("account locked"));
            }
            sqlx::query(
                "INSERT INTO sessions (id, secret_hash, user_id, created_at, last_seen_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(session.id)
            .bind(session.secret_hash.as_slice())
            .bind(*session.user_id.as_uuid())
            .bind(S::Db::time(session.created_at))
            .bind(S::Db::time(session.last_seen_at))
            .execute(conn)
            .await
            .map_err(|err| S::Db::write_error(err, SESSION_UNIQUES, "session"))?;
            Ok(())
        })
        .await
    }

    async fn session_by_hash(&self, hash: &[u8]) -> Result<Option<(SessionRow, UserRow)>> {
        let sql = format!(
            "SELECT s.id AS s_id, s.secret_hash AS s_secret_hash, \
                 s.created_at AS s_created_at, s.last_seen_at AS s_last_seen_at, {USER_COLUMNS} \
             FROM sessions AS s JOIN users AS u ON u.id = s.user_id \
             WHERE s.secret_hash = $1"
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hash)
            .fetch_optional(self.sql_pool())
            .await?
        else {
            return Ok(None);
        };
        let user = user_from_row::<S::Db>(&row)?;
        let session = SessionRow {
            id: S::Db::get_uuid(&row, "s_id")?,
            secret_hash: S::Db::get_bytes(&row, "s_secret_hash")?,
            user_id: user.id,
            created_at: S::Db::get_time(&row, "s_created_at")?,
            last_seen_at: S::Db::get_time(&row, "s_last_seen_at")?,
        };
        Ok(Some((session, user)))
    }

    async fn touch_session(&self, id: &Uuid, at: DateTime<Utc>) -> Result<()> {
        let sql = format!(
            "UPDATE sessions SET last_seen_at = {}(last_seen_at, $1) WHERE id = $2",
            S::Db::GREATEST
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(S::Db::time(at))
            .bind(*id)
            .execute(self.sql_pool())
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(session_id = %id))]
    async fn delete_session(&self, id: &Uuid, audit: &NewAuditEvent) -> Result<()> {
        audited::write_audited(self, [audit], async |conn| {
            let done = sqlx::query("DELETE FROM sessions WHERE id = $1")
                .bind(*id)
                .execute(conn)
                .await?;
            S::Db::found_one(&done)
        })
        .await
    }

    async fn session_preferences(&self, id: &Uuid) -> Result<SessionPreferences> {
        crate::preferences::session_preferences(self.sql_pool(), id).await
    }

    async fn set_session_purpose(&self, id: &Uuid, purpose: Option<&str>) -> Result<()> {
        crate::preferences::set_session_purpose(self.sql_pool(), id, purpose).await
    }

    async fn set_user_language(&self, id: &UserId, language: Option<&str>) -> Result<()> {
        crate::preferences::set_user_language(self.sql_pool(), id, language).await
    }

    async fn tokens(&self, user: Option<&UserId>) -> Result<Vec<TokenRow>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens AS t \
             WHERE $1 OR t.user_id = $2 ORDER BY t.created_at, t.id"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user.is_none())
            .bind(user.map(|user| *user.as_uuid()))
            .fetch_all(self.sql_pool())
            .await?
            .iter()
            .map(token_from_row::<S::Db>)
            .collect()
    }

    async fn token(&self, id: &Uuid) -> Result<Option<TokenRow>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens AS t WHERE t.id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(*id)
            .fetch_optional(self.sql_pool())
            .await?
            .as_ref()
            .map(token_from_row::<S::Db>)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(token_id = %id))]
    async fn revoke_token(
        &self,
        id: &Uuid,
        at: DateTime<Utc>,
        audit: &NewAuditEvent,
    ) -> Result<bool> {
        audited::write_audited_if(self, async |conn| {
            // Unless it already is; says whether it changed anything.
            let done = sqlx::query(
                "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(S::Db::time(at))
            .bind(*id)
            .execute(&mut *conn)
            .await?;
            let changed = S::Db::rows_affected(&done) > 0;
            if !changed {
                require(&mut *conn, "api_tokens", *id).await?;
            }
            Ok(Audited::commit_if(changed, changed, [audit]))
        })
        .await
    }
}
