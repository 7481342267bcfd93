//! Bearer tokens: issuing (the operator's path and the API's, which needs a
//! session with the password re-checked), listing, revoking, and resolving a
//! presented token to its account. A token is 256 random bits shown once
//! and stored as its SHA-256.
//!
//! Not here: sessions (`session`) and account administration (`auth`).

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::ids::UserId;
use kirjuri_core::role::Role;
use kirjuri_store::{TokenRow, UserRow};
use secrecy::{ExposeSecret, SecretString};

use super::{Acting, TokenRequester, TokenView, acting_id, actor_of, random_secret, token_hash};
use crate::app::Kirjuri;
use crate::audit::to_row;
use crate::error::{Error, Result};

/// Prefix that makes leaked tokens easy to find with secret scanners.
const TOKEN_PREFIX: &str = "kjr_";

/// A token label longer than this is refused.
const MAX_LABEL_CHARS: usize = 100;

/// When a token issued at `now` to last `days` days expires; refused (400)
/// when that is past the last date there is.
fn expiry_after(now: DateTime<Utc>, days: u32) -> Result<DateTime<Utc>> {
    now.checked_add_signed(TimeDelta::days(i64::from(days)))
        .ok_or_else(|| Error::bad_request("invalid_parameter", "the token's lifetime is too long"))
}

impl Kirjuri {
    /// When a token issued now to last `days` days expires (the command
    /// line's `--expires-in-days`, the API's `expires_in_days`).
    pub fn token_expiry(&self, days: u32) -> Result<DateTime<Utc>> {
        expiry_after(self.clock.now(), days)
    }

    /// Issues an API token for `user`; returns it (shown once, stored hashed).
    /// The operator's path (`kirjuri token create`).
    pub async fn create_token(
        &self,
        user: &str,
        label: Option<String>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<SecretString> {
        let user = self
            .store
            .user_by_name(user)
            .await?
            .ok_or_else(|| Error::Conflict {
                code: "no_such_user",
                message: "no account has that name".into(),
            })?;
        let (_, token) = self.issue_token(None, &user, label, expires_at).await?;
        Ok(token)
    }

    /// Issues a token through the API or the web UI: one's own (any person),
    /// or — for an administrator — one for an integration account. Only from
    /// a browser session (a token never makes tokens) with the password and,
    /// if enrolled, a current TOTP code re-checked ([`Kirjuri::recheck`]),
    /// and never longer than `token_max_lifetime_days`.
    pub async fn create_token_as(
        &self,
        caller: TokenRequester<'_>,
        for_user: Option<&str>,
        label: Option<String>,
        expires_at: DateTime<Utc>,
    ) -> Result<(uuid::Uuid, SecretString)> {
        let TokenRequester {
            actor,
            actor_id,
            session,
            password,
            code,
            ip,
        } = caller;
        let acting = Some((actor, actor_id));
        let max = TimeDelta::days(i64::from(self.config.token_max_lifetime_days));
        if expires_at > self.clock.now() + max {
            return Err(Error::bad_request(
                "invalid_parameter",
                format!(
                    "a token lives at most {} days",
                    self.config.token_max_lifetime_days
                ),
            ));
        }
        // Another account's token: only an administrator's, only for an
        // integration. One's own needs no lookup beyond the re-check's.
        let other = match for_user {
            Some(name) if name != actor.name.as_str() => {
                self.require(acting, Action::ManageUsers).await?;
                let owner = self.user_named(name).await?;
                if owner.role != Role::Integration {
                    return Err(Error::Forbidden(
                        "tokens for another account are issued only to integration accounts",
                    ));
                }
                Some(owner)
            }
            _ => {
                self.require(acting, Action::ManageOwnAccount).await?;
                None
            }
        };
        let me = self
            .recheck_caller(actor_id, session, password, code, ip)
            .await?;
        let owner = other.as_ref().unwrap_or(&me);
        self.issue_token(acting, owner, label, Some(expires_at))
            .await
    }

    async fn issue_token(
        &self,
        acting: Acting<'_>,
        user: &UserRow,
        label: Option<String>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(uuid::Uuid, SecretString)> {
        if label
            .as_deref()
            .is_some_and(|l| l.chars().count() > MAX_LABEL_CHARS)
        {
            return Err(Error::bad_request(
                "invalid_parameter",
                format!("a token label is at most {MAX_LABEL_CHARS} characters"),
            ));
        }
        let token = random_secret(TOKEN_PREFIX)?;
        let row = TokenRow {
            id: uuid::Uuid::new_v4(),
            user_id: user.id,
            label,
            token_hash: token_hash(token.expose_secret()),
            created_at: self.clock.now(),
            expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        let event = AuditEvent::TokenCreated {
            user: user.id,
            token: row.id.to_string(),
        };
        self.store
            .insert_token(&row, &to_row(self.clock.now(), acting_id(acting), &event))
            .await?;
        Ok((row.id, token))
    }

    /// Tokens: the caller's own, or — for an administrator or the operator —
    /// everyone's, optionally of one account.
    pub async fn list_tokens(
        &self,
        acting: Acting<'_>,
        of_user: Option<&str>,
    ) -> Result<Vec<TokenView>> {
        let users: HashMap<UserId, String> = self
            .store
            .users()
            .await?
            .into_iter()
            .map(|u| (u.id, u.name))
            .collect();
        let filter = match (acting, of_user) {
            (Some((actor, id)), None) if actor.role != Role::Admin => {
                self.require(acting, Action::ManageOwnAccount).await?;
                Some(id)
            }
            (Some((actor, id)), Some(name)) if name == actor.name.as_str() => {
                self.require(acting, Action::ManageOwnAccount).await?;
                Some(id)
            }
            (_, Some(name)) => {
                self.require(acting, Action::ManageUsers).await?;
                Some(self.user_named(name).await?.id)
            }
            (_, None) => {
                self.require(acting, Action::ManageUsers).await?;
                None
            }
        };
        let tokens = self.store.tokens(filter.as_ref()).await?;
        Ok(tokens
            .into_iter()
            .map(|t| TokenView {
                id: t.id,
                user: users.get(&t.user_id).cloned().unwrap_or_default(),
                label: t.label,
                created_at: t.created_at,
                expires_at: t.expires_at,
                last_used_at: t.last_used_at,
                revoked_at: t.revoked_at,
            })
            .collect())
    }

    /// Revokes a token: one's own, or any (administrators, the operator).
    /// Someone else's token looks exactly like a missing one.
    pub async fn revoke_token(&self, acting: Acting<'_>, id: &str) -> Result<()> {
        let id: uuid::Uuid = id.parse().map_err(|_| Error::NotFound)?;
        let token = self.store.token(&id).await?;
        match (acting, &token) {
            (Some((actor, actor_id)), Some(token)) if token.user_id == actor_id => {
                self.require(Some((actor, actor_id)), Action::ManageOwnAccount)
                    .await?;
            }
            (Some((actor, _)), _) if actor.role != Role::Admin => return Err(Error::NotFound),
            _ => self.require(acting, Action::ManageUsers).await?,
        }
        let token = token.ok_or(Error::NotFound)?;
        let event = AuditEvent::TokenRevoked {
            user: token.user_id,
            token: token.id.to_string(),
        };
        self.store
            .revoke_token(
                &token.id,
                self.clock.now(),
                &to_row(self.clock.now(), acting_id(acting), &event),
            )
            .await?;
        Ok(())
    }

    /// Resolves a presented bearer token to the acting account, or refuses.
    pub async fn authenticate_token(&self, token: &str) -> Result<(Actor, UserId)> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Err(Error::Unauthenticated);
        }
        let Some((row, user)) = self.store.token_by_hash(&token_hash(token)).await? else {
            return Err(Error::Unauthenticated);
        };
        let now = self.clock.now();
        if user.disabled || row.revoked_at.is_some() || row.expires_at.is_some_and(|at| at <= now) {
            return Err(Error::Unauthenticated);
        }
        // Recording last use to the minute keeps reads from turning into writes.
        if row
            .last_used_at
            .is_none_or(|at| now - at > chrono::TimeDelta::minutes(1))
        {
            self.store.touch_token(&row.id, now).await?;
        }
        Ok((actor_of(&user)?, user.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_expires_whole_days_after_it_is_issued() {
        let now = DateTime::parse_from_rfc3339("2026-03-28T12:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(expiry_after(now, 0).unwrap(), now);
        // Days of 24 hours: a clock change in Helsinki does not matter.
        assert_eq!(
            expiry_after(now, 90).unwrap().to_rfc3339(),
            "2026-06-26T12:00:00+00:00"
        );
    }

    #[test]
    fn a_lifetime_past_the_last_date_is_refused_not_a_panic() {
        let now = DateTime::parse_from_rfc3339("2026-03-28T12:00:00Z")
            .unwrap()
            .to_utc();
        let refused = expiry_after(now, u32::MAX).unwrap_err();
        assert_eq!(refused.code(), "invalid_parameter");
    }
}
