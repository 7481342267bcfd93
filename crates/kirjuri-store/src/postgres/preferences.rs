//! The web UI's preferences in PostgreSQL: the purpose chosen in a session
//! and an account's language — the same behaviour as
//! `sqlite::preferences`. Neither is personal data nor grants anything; the
//! server validates both values before they arrive here.

use kirjuri_core::ids::UserId;
use sqlx::{PgPool, Row};

use crate::error::Result;
use crate::model::SessionPreferences;

/// A session's purpose and its account's language; defaults when the
/// session is gone.
pub(super) async fn session_preferences(
    pool: &PgPool,
    id: &uuid::Uuid,
) -> Result<SessionPreferences> {
    let row = sqlx::query(
        "SELECT s.purpose AS purpose, u.language AS language \
         FROM sessions AS s JOIN users AS u ON u.id = s.user_id WHERE s.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some(row) => SessionPreferences {
            purpose: row.try_get("purpose")?,
            language: row.try_get("language")?,
        },
        None => SessionPreferences::default(),
    })
}

/// Sets (or clears) a session's purpose. A session that is gone is not an
/// error: the next request finds it gone anyway.
pub(super) async fn set_session_purpose(
    pool: &PgPool,
    id: &uuid::Uuid,
    purpose: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE sessions SET purpose = $1 WHERE id = $2")
        .bind(purpose)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Sets (or clears) an account's language.
pub(super) async fn set_user_language(
    pool: &PgPool,
    id: &UserId,
    language: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE users SET language = $1 WHERE id = $2")
        .bind(language)
        .bind(id.as_uuid())
        .execute(pool)
        .await?;
    Ok(())
}
