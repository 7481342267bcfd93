//! Browser sessions (SEC-4, SEC-5): sign-in, sign-out, password change, the
//! re-check before a credential change, and resolving a session cookie to
//! the acting account.
//!
//! * A session is a random 256-bit secret held by the browser in the
//!   `kirjuri_session` cookie (HttpOnly, SameSite=Strict, Path=/, Secure under
//!   TLS); the database keeps only its SHA-256, so a stolen database file
//!   opens no session.
//! * It ends after `session_idle_seconds` without a request, after
//!   `session_absolute_seconds` whatever happens, at sign-out, when the
//!   account is disabled, and — for the holder's other sessions — when the
//!   password changes. While the account is locked or disabled no session
//!   of it works.
//! * Its CSRF token is derived from the secret (SHA-256 under a label of its
//!   own), so it needs no storage and a page can be given it at any time;
//!   knowing it reveals nothing about the secret. Cookie-authenticated writes
//!   must echo it (`X-CSRF-Token`, or a form's `csrf_token`).
//!
//! Every password check — sign-in, password change, the re-check before a
//! token or a second factor is made — takes one path, in this order:
//! 1. the client address's allowance is taken (`login_ip_max_failures` per
//!    `login_ip_window_seconds`, in memory; check and take are one step, and
//!    a success gives it back), else 429;
//! 2. a place for Argon2 is taken (`auth::PasswordWork`: one running check
//!    per core, a bounded queue), else 503 at once;
//! 3. an attempt on the account is reserved in the database, in one
//!    statement: only while it is enabled, not locked and has fewer than
//!    `lockout_after_failures` attempts failed or in flight. A reserved
//!    attempt counts as failed until it succeeds;
//! 4. Argon2 runs on the blocking pool; refusals without an account or an
//!    attempt verify against a dummy hash, so every answer costs the same;
//! 5. a failure is audited (`login.failed`, reason `bad_password`,
//!    `bad_totp`, `totp_required`, …) and locks the account once the count
//!    has reached the limit; a success clears the count — for a sign-in in
//!    the same transaction that stores the session, which refuses an
//!    account locked meanwhile.
//!
//! The rule, precisely: the count is failed attempts plus attempts in
//! flight since the last success. An attempt may start only while the count
//! is below the limit; the lock falls when a failure settles with the count
//! at the limit — so attempts still in flight count toward it, and a right
//! password racing four wrong ones may find the account locked and get no
//! session. A success clears the count (also of attempts still in flight,
//! which then settle without locking) unless the lock already fell. Hence
//! at most `lockout_after_failures` passwords are ever checked against an
//! account between two successes, however many requests arrive at once on
//! however many nodes, and once it is locked no session of it works and
//! nothing opens it but an unlock by an administrator or the operator.
//! Sequential attempts behave as before: that many consecutive failures
//! lock. A sign-in runs as a task of its own, so a client that hangs up
//! cannot leave a reservation unsettled; one cut short by a crash stays
//! counted as failed. Every refused sign-in answers the same, whatever the
//! reason, so the answer does not tell which names exist or which accounts
//! are locked.
//!
//! Not here: what the account may do (the access decision), the credential
//! model's administrative side (`auth`) and the HTTP shape
//! (`kirjuri_web::http::accounts`).

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::ids::UserId;
use kirjuri_core::role::Role;
use kirjuri_core::username::UserName;
use kirjuri_store::{SessionCutoff, SessionRow, UserRow};
use secrecy::{ExposeSecret, SecretString};

use crate::app::Kirjuri;
use crate::audit::to_row;
use crate::auth::{PasswordSlot, actor_of, check_password_policy, random_secret, token_hash};
use crate::error::{Error, Result};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "kirjuri_session";

/// The header a cookie-authenticated write carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The form field an HTML form carries its CSRF token in.
pub const CSRF_FORM_FIELD: &str = "csrf_token";

/// Every session secret starts with this, so a bearer token presented as a
/// cookie (or the reverse) is refused without a lookup.
const SESSION_PREFIX: &str = "kjs_";

/// A signed-in session as a request sees it.
#[derive(Clone)]
pub struct Session {
    /// The session's id (for audit and sign-out), not its secret.
    id: uuid::Uuid,
    /// The account.
    user: UserId,
    /// The CSRF token cookie-authenticated writes must echo.
    csrf_token: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("csrf_token", &"[redacted]")
            .finish()
    }
}

impl Session {
    fn from_secret(id: uuid::Uuid, user: UserId, secret: &str) -> Self {
        Self {
            id,
            user,
            csrf_token: csrf_token_for(secret),
        }
    }

    /// The session's id.
    pub fn id(&self) -> uuid::Uuid {
        self.id
    }

    /// The account signed in.
    pub fn user(&self) -> UserId {
        self.user
    }

    /// The CSRF token to put into pages and forms of this session.
    pub fn csrf_token(&self) -> &str {
        &self.csrf_token
    }

    /// Whether `presented` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        let (a, b) = (presented.as_bytes(), self.csrf_token.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

fn csrf_token_for(secret: &str) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(b"kirjuri csrf v1\0");
    context.update(secret.as_bytes());
    URL_SAFE_NO_PAD.encode(context.finish())
}

/// What a successful sign-in hands the HTTP layer.
pub struct SignedIn {
    /// The cookie's value: shown to the browser once, stored only hashed.
    pub secret: SecretString,
    /// The new session.
    pub session: Session,
    /// Who signed in.
    pub user: UserName,
    /// Their role.
    pub role: Role,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("session", &self.session)
            .field("user", &self.user)
            .field("role", &self.role)
            .finish()
    }
}

fn seconds(n: u64) -> TimeDelta {
    TimeDelta::seconds(
        i64::try_from(n)
            .unwrap_or(i64::MAX / 1_000_000)
            .min(i64::MAX / 1_000_000),
    )
}

impl Kirjuri {
    fn idle_timeout(&self) -> TimeDelta {
        seconds(self.config.session_idle_seconds)
    }

    fn absolute_timeout(&self) -> TimeDelta {
        seconds(self.config.session_absolute_seconds)
    }

    /// Whether session cookies carry `Secure` (TLS is configured).
    pub fn secure_cookies(&self) -> bool {
        self.config.tls_cert.is_some()
    }

    /// Takes one attempt from address `ip`'s sign-in allowance, or refuses
    /// with [`Error::TooManyRequests`]; returns the time it was taken at.
    fn reserve_login_attempt(&self, ip: IpAddr) -> Result<DateTime<Utc>> {
        let now = self.clock.now();
        self.login_throttle
            .reserve(ip, now)
            .map_err(|retry_after| Error::TooManyRequests {
                retry_after_seconds: retry_after,
            })?;
        Ok(now)
    }

    /// Signs in with a name, a password and — once enrolled — a TOTP code,
    /// from client address `ip`.
    ///
    /// The address's allowance and a place for Argon2 are taken first, right
    /// here: a request refused for either costs nothing more. The rest runs
    /// as a task of its own, so once an attempt is reserved it settles
    /// (counted, audited, maybe locking the account) also when the client
    /// hangs up and the request is dropped.
    pub async fn login(
        &self,
        name: &str,
        password: &SecretString,
        totp: Option<&str>,
        ip: IpAddr,
    ) -> Result<SignedIn> {
        let now = self.reserve_login_attempt(ip)?;
        // A refusal for lack of a place costs the server nothing: it does
        // not drain the address's allowance.
        let slot = self.passwords.admit().inspect_err(|_| {
            self.login_throttle.refund(ip, now);
        })?;
        let app = self.clone();
        let name = name.to_owned();
        let password = SecretString::from(password.expose_secret().to_owned());
        let totp = totp.map(str::to_owned);
        tokio::spawn(async move {
            let result = app
                .login_reserved(slot, &name, &password, totp.as_deref())
                .await;
            // Only failures drain the address's allowance.
            if matches!(result, Ok(_) | Err(Error::TotpRequired)) {
                app.login_throttle.refund(ip, app.clock.now());
            }
            result
        })
        .await
        .map_err(|source| Error::Join {
            task: "the sign-in task",
            source,
        })?
    }

    /// The sign-in once the address's allowance and a place for Argon2 are
    /// taken.
    async fn login_reserved(
        &self,
        slot: PasswordSlot,
        name: &str,
        password: &SecretString,
        totp: Option<&str>,
    ) -> Result<SignedIn> {
        let user = match UserName::parse(name, "user name") {
            Ok(valid) => self.store.user_by_name(valid.as_str()).await?,
            Err(_) => None,
        };
        let refusal = match &user {
            None => Some("unknown_user"),
            Some(u) if u.disabled => Some("disabled"),
            // Integrations deliver with tokens; they never hold a session.
            Some(u) if u.role == Role::Integration => Some("integration"),
            Some(_) => None,
        };
        let (Some(user), None) = (&user, refusal) else {
            // Every refusal costs one verification, so its timing tells nothing.
            slot.verify_dummy(password).await?;
            let name_hash = user.is_none().then(|| self.login_name_hash(name));
            return Err(self
                .login_failed(user.as_ref(), name_hash, refusal.unwrap_or("unknown_user"))
                .await);
        };
        // Reserved: from here every outcome settles the attempt.
        self.check_password(slot, user, password).await?;
        let totp_step = if user.totp_enabled {
            let Some(code) = totp.filter(|c| !c.trim().is_empty()) else {
                // A right password without its code is an attempt that did
                // not succeed: it settles as failed like any other.
                return Err(match self.count_failure(user, "totp_required").await {
                    Error::LoginFailed => Error::TotpRequired,
                    other => other,
                });
            };
            let active = self.store.totp(&user.id).await?.and_then(|t| t.active);
            let Some(active) = active else {
                return Err(Error::Internal("a TOTP account has no secret"));
            };
            match self.check_totp_code(&user.id, &user.name, &active, code)? {
                Some(step) => Some(step),
                None => return Err(self.count_failure(user, "bad_totp").await),
            }
        } else {
            None
        };
        let now = self.clock.now();
        let secret = random_secret(SESSION_PREFIX)?;
        let row = SessionRow {
            id: uuid::Uuid::new_v4(),
            secret_hash: token_hash(secret.expose_secret()),
            user_id: user.id,
            created_at: now,
            last_seen_at: now,
        };
        let cutoff = SessionCutoff {
            last_seen_before: now - self.idle_timeout(),
            created_before: now - self.absolute_timeout(),
        };
        let event = AuditEvent::LoginSucceeded {
            user: user.id,
            session: row.id.to_string(),
            totp: totp_step.is_some(),
        };
        match self
            .store
            .insert_session(&row, totp_step, cutoff, &to_row(now, Some(user.id), &event))
            .await
        {
            Ok(()) => {}
            Err(kirjuri_store::Error::Conflict("totp step")) => {
                return Err(self.count_failure(user, "totp_replayed").await);
            }
            Err(kirjuri_store::Error::Conflict("account locked")) => {
                // Locked by attempts that failed while this one was checked.
                return Err(self.login_failed(Some(user), None, "locked").await);
            }
            Err(e) => return Err(e.into()),
        }
        Ok(SignedIn {
            session: Session::from_secret(row.id, user.id, secret.expose_secret()),
            secret,
            user: UserName::parse(&user.name, "user name")?,
            role: user.role,
        })
    }

    /// [`Self::recheck`] for the caller of a credential change that only a
    /// browser session may make (a token, a second factor): refused without
    /// a session; the password and, when enrolled, a current code. Returns
    /// the caller's account.
    pub(crate) async fn recheck_caller(
        &self,
        caller: UserId,
        session: Option<&Session>,
        password: &SecretString,
        code: Option<&str>,
        ip: IpAddr,
    ) -> Result<UserRow> {
        require_session(session)?;
        let user = self
            .store
            .user(&caller)
            .await?
            .ok_or(Error::Unauthenticated)?;
        self.recheck(&user, password, code, true, ip).await?;
        Ok(user)
    }

    /// Re-checks a signed-in person before a credential change (SEC-5): the
    /// password and — when `code_required` and the account has a second
    /// factor — a current TOTP code. The same path as a sign-in: the
    /// address's allowance and an attempt on the account are reserved first,
    /// Argon2 runs in [`crate::auth::PasswordWork`], a failure is audited
    /// (`login.failed`) and counts toward the lockout, a success clears the
    /// count. Refuses with [`Error::Forbidden`] whatever was wrong.
    pub(crate) async fn recheck(
        &self,
        user: &UserRow,
        password: &SecretString,
        code: Option<&str>,
        code_required: bool,
        ip: IpAddr,
    ) -> Result<()> {
        const WRONG: &str = "the password or code is wrong, or the account is locked";
        self.reserve_login_attempt(ip)?;
        let result = async {
            self.check_password(self.passwords.admit()?, user, password)
                .await?;
            if code_required && user.totp_enabled {
                let active = self.store.totp(&user.id).await?.and_then(|t| t.active);
                let step = match (active, code.filter(|c| !c.trim().is_empty())) {
                    (Some(active), Some(code)) => {
                        self.check_totp_code(&user.id, &user.name, &active, code)?
                    }
                    _ => None,
                };
                if step.is_none() {
                    return Err(self.count_failure(user, "bad_totp").await);
                }
            }
            if !self.store.clear_login_attempts(&user.id).await? {
                return Err(self.login_failed(Some(user), None, "locked").await);
            }
            Ok(())
        }
        .await;
        // As at sign-in, only failures drain the address's allowance.
        if matches!(result, Ok(()) | Err(Error::Busy)) {
            self.login_throttle.refund(ip, self.clock.now());
        }
        match result {
            Err(Error::LoginFailed) => Err(Error::Forbidden(WRONG)),
            other => other,
        }
    }

    /// The password check both sign-in and [`Self::recheck`] make: reserves
    /// an attempt on `user` (refused as `locked` when none is left, after a
    /// dummy verification so the timing tells nothing), then runs Argon2 in
    /// `slot`; a wrong password settles the attempt as failed. On success the
    /// attempt stays reserved until the caller clears or settles it.
    async fn check_password(
        &self,
        slot: PasswordSlot,
        user: &UserRow,
        password: &SecretString,
    ) -> Result<()> {
        let limit = self.config.lockout_after_failures.max(1);
        if !self.store.reserve_login_attempt(&user.id, limit).await? {
            slot.verify_dummy(password).await?;
            return Err(self.login_failed(Some(user), None, "locked").await);
        }
        if !slot.verify(password, &user.password_hash).await? {
            return Err(self.count_failure(user, "bad_password").await);
        }
        Ok(())
    }

    /// Audits a refused password check that does not count against the
    /// account (there is none, or no attempt could be reserved). Returns the
    /// error to answer with.
    async fn login_failed(
        &self,
        user: Option<&UserRow>,
        name_hash: Option<String>,
        reason: &'static str,
    ) -> Error {
        let now = self.clock.now();
        let event = AuditEvent::LoginFailed {
            user: user.map(|u| u.id),
            name_hash,
            reason,
        };
        match self.store.append_audit(&to_row(now, None, &event)).await {
            Ok(_) => Error::LoginFailed,
            Err(e) => e.into(),
        }
    }

    /// Settles a reserved attempt as failed: audited, counted, locking the
    /// account at the limit. Returns the error to answer with.
    async fn count_failure(&self, user: &UserRow, reason: &'static str) -> Error {
        let now = self.clock.now();
        let limit = self.config.lockout_after_failures.max(1);
        let failed = AuditEvent::LoginFailed {
            user: Some(user.id),
            name_hash: None,
            reason,
        };
        let locked = AuditEvent::AccountLocked {
            user: user.id,
            failures: limit,
        };
        match self
            .store
            .record_failed_login(
                &user.id,
                limit,
                &to_row(now, None, &failed),
                &to_row(now, None, &locked),
            )
            .await
        {
            Ok(outcome) => {
                if outcome.locked_now {
                    tracing::warn!(user_id = %user.id, "account locked after failed logins");
                }
                Error::LoginFailed
            }
            Err(e) => e.into(),
        }
    }

    /// Resolves a session cookie's secret to the acting account, or refuses:
    /// unknown, idle too long, too old, or the account disabled.
    pub async fn authenticate_session(&self, secret: &str) -> Result<(Actor, UserId, Session)> {
        if !secret.starts_with(SESSION_PREFIX) || secret.len() > 128 {
            return Err(Error::Unauthenticated);
        }
        let Some((row, user)) = self.store.session_by_hash(&token_hash(secret)).await? else {
            return Err(Error::Unauthenticated);
        };
        let now = self.clock.now();
        let idle = self.idle_timeout();
        if user.disabled
            || user.locked_at.is_some()
            || user.role == Role::Integration
            || now - row.last_seen_at > idle
            || now - row.created_at > self.absolute_timeout()
        {
            return Err(Error::Unauthenticated);
        }
        // Touch at most every twentieth of the idle timeout: the timeout stays
        // accurate to 5 % while most requests stay reads.
        if now - row.last_seen_at >= idle / 20 {
            self.store.touch_session(&row.id, now).await?;
        }
        Ok((
            actor_of(&user)?,
            user.id,
            Session::from_secret(row.id, user.id, secret),
        ))
    }

    /// Signs out: the session is deleted, so its cookie opens nothing again.
    pub async fn logout(&self, actor: &Actor, session: &Session) -> Result<()> {
        self.authorize_register(actor, session.user, Action::ManageOwnAccount, None)
            .await?;
        let event = AuditEvent::LoggedOut {
            user: session.user,
            session: session.id.to_string(),
        };
        match self
            .store
            .delete_session(
                &session.id,
                &to_row(self.clock.now(), Some(session.user), &event),
            )
            .await
        {
            Ok(()) | Err(kirjuri_store::Error::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Changes the caller's own password and ends their other sessions and
    /// all their tokens. Only from a browser session, never with a token; the
    /// current password is re-checked like a sign-in ([`Self::recheck`]).
    pub async fn change_password(
        &self,
        actor: &Actor,
        actor_id: UserId,
        session: Option<&Session>,
        current: &SecretString,
        new: &SecretString,
        ip: IpAddr,
    ) -> Result<()> {
        self.authorize_register(actor, actor_id, Action::ManageOwnAccount, None)
            .await?;
        let session = require_session(session)?;
        let user = self
            .store
            .user(&actor_id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        check_password_policy(new, &user.name)?;
        self.recheck(&user, current, None, false, ip).await?;
        if current.expose_secret() == new.expose_secret() {
            return Err(Error::bad_request(
                "weak_password",
                "the new password must differ from the current one",
            ));
        }
        let event = AuditEvent::PasswordChanged {
            user: user.id,
            reset: false,
        };
        let hash = self.passwords.hash(new).await?;
        self.store
            .set_password(
                &user.id,
                &hash,
                Some(&session.id),
                &to_row(self.clock.now(), Some(user.id), &event),
            )
            .await?;
        Ok(())
    }
}

/// The session a credential change must come from: tokens never change
/// credentials (SEC-5).
pub(crate) fn require_session(session: Option<&Session>) -> Result<&Session> {
    session.ok_or(Error::Forbidden(
        "credentials are changed only from a signed-in browser session, not with a token",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_is_stable_per_session_and_differs_between_sessions() {
        let a = Session::from_secret(uuid::Uuid::nil(), UserId::new_v7(), "kjs_a");
        let again = Session::from_secret(uuid::Uuid::nil(), UserId::new_v7(), "kjs_a");
        let b = Session::from_secret(uuid::Uuid::nil(), UserId::new_v7(), "kjs_b");
        assert_eq!(a.csrf_token(), again.csrf_token());
        assert_ne!(a.csrf_token(), b.csrf_token());
        assert!(!a.csrf_matches(b.csrf_token()));
        assert!(a.csrf_matches(again.csrf_token()));
        assert!(!a.csrf_token().contains("kjs_a"));
        assert!(!format!("{a:?}").contains(a.csrf_token()));
    }
}
