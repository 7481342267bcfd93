//! Who is calling, and the accounts they call with (SEC-5, ACC-1): passwords
//! (Argon2id, run by [`PasswordWork`], and a policy that refuses short and
//! common ones), bearer tokens (256 random bits, shown once, stored only as
//! their SHA-256 — a token is not guessable, so a fast hash is enough), the
//! administration of accounts (roles, disabling, unlocking, password resets,
//! confidentiality agreements), TOTP second factors (RFC 6238, secrets
//! sealed by the vault) and the per-address login throttle.
//!
//! The credential model:
//! * **Sessions** come only from signing in with the password (and code);
//!   see `session` for the one path every password check takes, the lockout
//!   and the throttle.
//! * **Tokens** are made by the operator at the command line (any account,
//!   any lifetime), or through the API and the UI only from a browser
//!   session with the password — and a current code, if enrolled —
//!   re-entered in the same request: one's own, or an administrator's for an
//!   integration account. A token never makes tokens, nor changes a
//!   password or a second factor. A token issued so lives at most
//!   `token_max_lifetime_days`.
//! * **A new password revokes**: a change ends the holder's other sessions,
//!   a reset ends all of them, and either revokes every token the account
//!   owns. Disabling an account ends its sessions and revokes its tokens for
//!   good; enabling it brings none back. A lock stops its sessions, not its
//!   tokens (those were made with the password before).
//! * **A second factor** is enrolled from a session with the password
//!   re-checked; replacing one in force needs a current code from it too.
//! * **Separation of duties**: the responsible role is given and taken only
//!   by the operator; the responsible person names registrars, moving an
//!   account only between agent and registrar (never an administrator or an
//!   integration); an integration account keeps its role; an administrator
//!   cannot reset the responsible person's or a registrar's password (only
//!   the operator can); the last enabled administrator can be neither
//!   demoted nor disabled.
//!
//! Browser sessions and the sign-in flow live in `session`. This module
//! authenticates and administers; it never decides on its own what a caller
//! may do — every administrative method asks `kirjuri_core::access::authorize`
//! for the acting account, and `None` as the actor means the operator at the
//! command line, who holds the data folder and its keys anyway.
//!
//! The parts: `passwords` (Argon2id on its own threads, the policy),
//! `throttle` (per address), `tokens`, `totp`; this file holds the account
//! views and the administration of accounts.

mod passwords;
mod throttle;
mod tokens;
mod totp;

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::ids::UserId;
use kirjuri_core::role::Role;
use kirjuri_core::username::UserName;
use kirjuri_store::{UserRow, UserUpdate};
use kirjuri_vault::IndexKind;
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::SecretString;
use serde::Serialize;

use crate::app::Kirjuri;
use crate::audit::to_row;
use crate::error::{Error, Result};

pub use passwords::{
    MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, PasswordSlot, PasswordWork, check_password_policy,
    generate_password, hash_password, verify_password,
};
pub use throttle::LoginThrottle;
pub use totp::TotpEnrolment;

/// A confidentiality-agreement reference longer than this is refused.
const MAX_AGREEMENT_CHARS: usize = 200;

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Internal("the system random source failed"))?;
    Ok(bytes)
}

/// A fresh random secret of 256 bits, URL-safe base64 with `prefix`.
pub fn random_secret(prefix: &str) -> Result<SecretString> {
    Ok(SecretString::from(format!(
        "{prefix}{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
    )))
}

/// SHA-256 of a presented token: what the database stores and looks up.
pub fn token_hash(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// Who asks for a token through the API, and the proof they give.
pub struct TokenRequester<'a> {
    /// The signed-in person.
    pub actor: &'a Actor,
    /// Their account.
    pub actor_id: UserId,
    /// Their browser session; a token never makes tokens.
    pub session: Option<&'a crate::session::Session>,
    /// Their password, re-entered.
    pub password: &'a SecretString,
    /// A current TOTP code, if the account has a second factor.
    pub code: Option<&'a str>,
    /// The client address (for the throttle).
    pub ip: IpAddr,
}

impl std::fmt::Debug for TokenRequester<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequester")
            .field("actor_id", &self.actor_id)
            .field("ip", &self.ip)
            .finish_non_exhaustive()
    }
}

/// Who asks for an administrative change: an account through the API, or the
/// operator at the command line (`None`).
pub type Acting<'a> = Option<(&'a Actor, UserId)>;

fn acting_id(acting: Acting<'_>) -> Option<UserId> {
    acting.map(|(_, id)| id)
}

/// An account as administrators see it. No hash, no secret.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    /// The account's id.
    pub id: UserId,
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Disabled accounts can neither sign in nor use tokens.
    pub disabled: bool,
    /// Locked after too many failed logins, until an admin unlocks it.
    pub locked: bool,
    /// Consecutive failed logins.
    pub failed_logins: u32,
    /// Whether a TOTP second factor is required at sign-in.
    pub totp_enabled: bool,
    /// The confidentiality-agreement reference on file (ACC-1).
    pub confidentiality_agreement: Option<String>,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

impl From<&UserRow> for UserView {
    fn from(row: &UserRow) -> Self {
        Self {
            id: row.id,
            name: row.name.clone(),
            role: row.role,
            disabled: row.disabled,
            locked: row.locked_at.is_some(),
            failed_logins: row.failed_logins,
            totp_enabled: row.totp_enabled,
            confidentiality_agreement: row.confidentiality_agreement.clone(),
            created_at: row.created_at,
        }
    }
}

/// A token as listed: never the token itself.
#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    /// The token's id (for revocation).
    pub id: uuid::Uuid,
    /// The owner's name.
    pub user: String,
    /// Its label.
    pub label: Option<String>,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An administrative change requested for one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountChange {
    /// A new role.
    pub role: Option<Role>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// Record (`Some(Some(reference))`) or clear (`Some(None)`) the
    /// confidentiality-agreement reference.
    pub confidentiality_agreement: Option<Option<String>>,
}

impl Kirjuri {
    /// Refuses unless the decision allows `action` to the acting account;
    /// the operator (no account) may do everything. A refusal is audited.
    async fn require(&self, acting: Acting<'_>, action: Action) -> Result<()> {
        if let Some((actor, id)) = acting {
            self.authorize_register(actor, id, action, None).await?;
        }
        Ok(())
    }

    /// The account with this name, or 404.
    pub async fn user_named(&self, name: &str) -> Result<UserRow> {
        self.store.user_by_name(name).await?.ok_or(Error::NotFound)
    }

    /// The action a role change needs (separation of duties, SEC-5):
    /// * the responsible role is given and taken only by the operator;
    /// * naming or removing a registrar is the responsible person's (notice
    ///   §13), and it moves an account only between agent and registrar (or
    ///   creates a registrar): never an administrator, never an integration;
    /// * an integration account stays one, and no account becomes one: its
    ///   tokens must never gain a person's reach;
    /// * everything else is an administrator's.
    ///
    /// The operator (no acting account) may make any change.
    fn role_change_action(acting: Acting<'_>, from: Option<Role>, to: Role) -> Result<Action> {
        if acting.is_some() && (to == Role::Responsible || from == Some(Role::Responsible)) {
            return Err(Error::Forbidden(
                "the responsible role is given and taken only with the command line",
            ));
        }
        let changes = from.is_some_and(|from| from != to);
        if acting.is_some()
            && changes
            && (to == Role::Integration || from == Some(Role::Integration))
        {
            return Err(Error::Forbidden(
                "an integration account keeps its role; create a new account instead",
            ));
        }
        if to == Role::Registrar || from == Some(Role::Registrar) {
            let agent_registrar = matches!(
                (from, to),
                (None | Some(Role::Agent | Role::Registrar), Role::Registrar)
                    | (Some(Role::Registrar), Role::Agent)
            );
            if acting.is_some() && !agent_registrar {
                return Err(Error::Forbidden(
                    "a registrar is named from an agent and returns to being an agent",
                ));
            }
            return Ok(Action::ManageRegistrars);
        }
        Ok(Action::ManageUsers)
    }

    /// Creates a personal account (or an integration account).
    pub async fn add_user(
        &self,
        name: &str,
        role: Role,
        password: &SecretString,
    ) -> Result<UserId> {
        self.add_user_as(None, name, role, password).await
    }

    /// Creates a personal account with a generated password, returned to be
    /// shown once (`kirjuri user add` without `--password-stdin`).
    pub async fn add_user_with_generated_password(
        &self,
        name: &str,
        role: Role,
    ) -> Result<SecretString> {
        let password = generate_password()?;
        self.add_user(name, role, &password).await?;
        Ok(password)
    }

    /// Creates an account on behalf of `acting`.
    pub async fn add_user_as(
        &self,
        acting: Acting<'_>,
        name: &str,
        role: Role,
        password: &SecretString,
    ) -> Result<UserId> {
        self.require(acting, Self::role_change_action(acting, None, role)?)
            .await?;
        let name = UserName::parse(name, "user name")?;
        check_password_policy(password, name.as_str())?;
        let user = UserRow::new(
            UserId::new_v7(),
            name.as_str().to_owned(),
            role,
            self.passwords.hash(password).await?,
            self.clock.now(),
        );
        let event = AuditEvent::UserCreated {
            user: user.id,
            role,
        };
        match self
            .store
            .insert_user(&user, &to_row(self.clock.now(), acting_id(acting), &event))
            .await
        {
            Ok(()) => Ok(user.id),
            Err(kirjuri_store::Error::Conflict(_)) => Err(Error::Conflict {
                code: "user_exists",
                message: format!("an account named '{}' already exists", name.as_str()),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Every account (administrators and the operator).
    pub async fn list_users(&self, acting: Acting<'_>) -> Result<Vec<UserView>> {
        self.require(acting, Action::ManageUsers).await?;
        Ok(self
            .store
            .users()
            .await?
            .iter()
            .map(UserView::from)
            .collect())
    }

    /// Changes an account's role, enabled state or agreement reference, each
    /// authorised on its own (a registrar change by the responsible person,
    /// the rest by an administrator), all in one transaction.
    pub async fn change_user(
        &self,
        acting: Acting<'_>,
        name: &str,
        change: &AccountChange,
    ) -> Result<UserView> {
        if change == &AccountChange::default() {
            return Err(Error::bad_request(
                "nothing_to_change",
                "give at least one of role, disabled, confidentiality_agreement",
            ));
        }
        let agreement = match &change.confidentiality_agreement {
            Some(Some(reference)) => {
                let reference = reference.trim();
                if reference.is_empty() || reference.chars().count() > MAX_AGREEMENT_CHARS {
                    return Err(Error::bad_request(
                        "invalid_parameter",
                        format!(
                            "a confidentiality-agreement reference is 1–{MAX_AGREEMENT_CHARS} \
                             characters"
                        ),
                    ));
                }
                Some(Some(reference.to_owned()))
            }
            other => other.clone(),
        };
        let user = match acting {
            Some((actor, id)) => match self.store.user_by_name(name).await? {
                Some(user) => user,
                None => {
                    // Only those who may manage users learn which names exist.
                    self.require(Some((actor, id)), Action::ManageUsers).await?;
                    return Err(Error::NotFound);
                }
            },
            None => self.user_named(name).await?,
        };
        let now = self.clock.now();
        let mut events = Vec::new();
        let mut update = UserUpdate::default();
        // Every field asked about is authorised, also when it would change
        // nothing, so a no-op request cannot read an account it may not manage.
        if let Some(role) = change.role {
            self.require(
                acting,
                Self::role_change_action(acting, Some(user.role), role)?,
            )
            .await?;
        }
        if change.disabled.is_some() || agreement.is_some() {
            self.require(acting, Action::ManageUsers).await?;
        }
        if let Some(role) = change.role.filter(|r| *r != user.role) {
            update.role = Some(role);
            events.push(AuditEvent::RoleChanged {
                user: user.id,
                from: user.role,
                to: role,
            });
        }
        if let Some(disabled) = change.disabled.filter(|d| *d != user.disabled) {
            update.disabled = Some(disabled);
            events.push(if disabled {
                AuditEvent::UserDisabled { user: user.id }
            } else {
                AuditEvent::UserEnabled { user: user.id }
            });
        }
        if let Some(agreement) = agreement.filter(|a| *a != user.confidentiality_agreement) {
            events.push(AuditEvent::AgreementChanged {
                user: user.id,
                on_file: agreement.is_some(),
            });
            update.confidentiality_agreement = Some(agreement);
        }
        if let Some((_, id)) = acting
            && id == user.id
            && (update.role.is_some() || update.disabled == Some(true))
        {
            return Err(Error::Conflict {
                code: "own_account",
                message: "you cannot change your own role or disable your own account".into(),
            });
        }
        if !events.is_empty() {
            let rows: Vec<_> = events
                .iter()
                .map(|e| to_row(now, acting_id(acting), e))
                .collect();
            match self.store.update_user(&user.id, &update, &rows).await {
                Ok(()) => {}
                Err(kirjuri_store::Error::Conflict("last admin")) => {
                    return Err(Error::Conflict {
                        code: "last_admin",
                        message: "this is the last enabled administrator; name another first"
                            .into(),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        let user = self.user_named(name).await?;
        Ok(UserView::from(&user))
    }

    /// Clears an account's lockout.
    pub async fn unlock_user(&self, acting: Acting<'_>, name: &str) -> Result<UserView> {
        self.require(acting, Action::ManageUsers).await?;
        let user = self.user_named(name).await?;
        let event = AuditEvent::AccountUnlocked { user: user.id };
        self.store
            .unlock_user(
                &user.id,
                &to_row(self.clock.now(), acting_id(acting), &event),
            )
            .await?;
        Ok(UserView::from(&self.user_named(name).await?))
    }

    /// Gives an account a new generated password (returned once), ends all
    /// its sessions and revokes all its tokens. An administrator may not
    /// reset the responsible person's or a registrar's password — that would
    /// let them sign in as the one who oversees them; only the operator can
    /// (separation of duties, SEC-5).
    pub async fn reset_password(&self, acting: Acting<'_>, name: &str) -> Result<SecretString> {
        self.require(acting, Action::ManageUsers).await?;
        let user = self.user_named(name).await?;
        if acting.is_some() && matches!(user.role, Role::Responsible | Role::Registrar) {
            return Err(Error::Forbidden(
                "the responsible person's and registrars' passwords are reset only with the \
                 command line",
            ));
        }
        let password = generate_password()?;
        let event = AuditEvent::PasswordChanged {
            user: user.id,
            reset: true,
        };
        self.store
            .set_password(
                &user.id,
                &self.passwords.hash(&password).await?,
                None,
                &to_row(self.clock.now(), acting_id(acting), &event),
            )
            .await?;
        Ok(password)
    }

    /// A keyed hash (hex) of a sign-in name that is no account, for the audit
    /// log: keyed, because people type passwords into name fields.
    pub(crate) fn login_name_hash(&self, name: &str) -> String {
        let value = format!("login-name\u{0}{name}");
        hex::encode(self.keyring.blind_indexer().hash(IndexKind::Name, &value))
    }
}

/// The access decision's view of an account.
pub(crate) fn actor_of(user: &UserRow) -> Result<Actor> {
    Ok(Actor {
        name: UserName::parse(&user.name, "user name")?,
        role: user.role,
        confidentiality_agreement: user.confidentiality_agreement.is_some(),
        reason: None,
    })
}
