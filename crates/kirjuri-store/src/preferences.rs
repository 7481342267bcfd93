//! The web UI's preferences, on either backend: the purpose chosen in a
//! session and an account's language. Neither is personal data nor grants
//! anything; the server validates both values before they arrive here.
//! The queries are the same on SQLite and PostgreSQL, so they are written
//! once, over [`Backend`].

use kirjuri_core::ids::UserId;
use sqlx::{Encode, Executor, Pool, Type};

use crate::backend::Backend;
use crate::error::Result;
use crate::model::SessionPreferences;

/// A session's purpose and its account's language; defaults when the
/// session is gone.
pub(crate) async fn session_preferences<DB: Backend>(
    pool: &Pool<DB>,
    id: &uuid::Uuid,
) -> Result<SessionPreferences>
where
    for<'q> &'q uuid::Uuid: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let row = sqlx::query(
        "SELECT s.purpose AS purpose, u.language AS language \
         FROM sessions AS s JOIN users AS u ON u.id = s.user_id WHERE s.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some(row) => SessionPreferences {
            purpose: DB::get_opt_text(&row, "purpose")?,
            language: DB::get_opt_text(&row, "language")?,
        },
        None => SessionPreferences::default(),
    })
}

/// Sets (or clears) a session's purpose. A session that is gone is not an
/// error: the next request finds it gone anyway.
pub(crate) async fn set_session_purpose<DB: Backend>(
    pool: &Pool<DB>,
    id: &uuid::Uuid,
    purpose: Option<&str>,
) -> Result<()>
where
    for<'q> &'q uuid::Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    sqlx::query("UPDATE sessions SET purpose = $1 WHERE id = $2")
        .bind(purpose)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Sets (or clears) an account's language.
pub(crate) async fn set_user_language<DB: Backend>(
    pool: &Pool<DB>,
    id: &UserId,
    language: Option<&str>,
) -> Result<()>
where
    for<'q> &'q uuid::Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    sqlx::query("UPDATE users SET language = $1 WHERE id = $2")
        .bind(language)
        .bind(id.as_uuid())
        .execute(pool)
        .await?;
    Ok(())
}
