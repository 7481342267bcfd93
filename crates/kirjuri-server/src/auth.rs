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

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::ids::{ObjectId, UserId};
use kirjuri_core::role::Role;
use kirjuri_core::username::UserName;
use kirjuri_store::{SealedSecret, TokenRow, UserRow, UserUpdate};
use kirjuri_vault::{IndexKind, open_to_vec, seal_to_vec};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::app::Kirjuri;
use crate::audit::to_row;
use crate::error::{Error, Result};

/// Prefix that makes leaked tokens easy to find with secret scanners.
const TOKEN_PREFIX: &str = "kjr_";

/// Passwords shorter than this are refused.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Passwords longer than this are refused: Argon2 takes any length, but the
/// strength estimate's work grows with it.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// A confidentiality-agreement reference longer than this is refused.
const MAX_AGREEMENT_CHARS: usize = 200;

/// A token label longer than this is refused.
const MAX_LABEL_CHARS: usize = 100;

/// Bytes of a TOTP secret: 160 bits, as RFC 4226 recommends for HMAC-SHA-1.
const TOTP_SECRET_BYTES: usize = 20;

/// The issuer shown in authenticator apps.
const TOTP_ISSUER: &str = "Kirjuri";

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Internal("the system random source failed".into()))?;
    Ok(bytes)
}

/// A fresh random secret of 256 bits, URL-safe base64 with `prefix`.
pub(crate) fn random_secret(prefix: &str) -> Result<SecretString> {
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

/// Hashes a password with Argon2id and a random salt.
pub fn hash_password(password: &SecretString) -> Result<String> {
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
}

/// Checks a password against a stored Argon2id hash.
pub fn verify_password(password: &SecretString, stored: &str) -> bool {
    verify_password_in(password, stored, &mut Vec::new())
}

/// The most Argon2 memory a stored hash may ask for: 1 GiB (ours ask 19 MiB).
const MAX_ARGON2_BLOCKS: usize = 1 << 20;

/// Checks a password against a stored Argon2 hash, with `memory` as Argon2's
/// working memory: grown to what the hash asks for and kept by the caller.
/// A password thread reuses one for every check it makes; allocating 19 MiB
/// afresh for each check left the allocator holding a block per check (the
/// server grew by ~16 MiB per sign-in under a burst). The same computation
/// as argon2's own `verify_password`: the hash's algorithm, version,
/// parameters and salt, and a constant-time comparison of the outputs.
fn verify_password_in(password: &SecretString, stored: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(hash.algorithm.as_str()),
        Params::try_from(&hash),
    ) else {
        return false;
    };
    let Ok(version) = hash.version.map(Version::try_from).transpose() else {
        return false;
    };
    let blocks = params.block_count();
    if blocks > MAX_ARGON2_BLOCKS {
        return false;
    }
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let Some(working) = memory.get_mut(..blocks) else {
        return false;
    };
    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params);
    argon2
        .hash_password_into_with_memory(
            password.expose_secret().as_bytes(),
            salt.as_ref(),
            &mut out,
            working,
        )
        .is_ok()
        && Output::new(&out).is_ok_and(|computed| &computed == expected)
}

/// Verifies `password` against a hash of a random password no one knows, so
/// that a sign-in with an unknown name costs as long as one with a wrong
/// password and the answer's timing does not tell which names exist.
fn verify_against_dummy(password: &SecretString, memory: &mut Vec<Block>) {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        random_secret("")
            .ok()
            .and_then(|secret| hash_password(&secret).ok())
    });
    if let Some(hash) = dummy {
        let _ = verify_password_in(password, hash, memory);
    }
}

/// Checks the password policy: at least [`MIN_PASSWORD_CHARS`] characters,
/// and not common or easily guessed — judged by zxcvbn (its bundled lists of
/// common passwords, names and words, with the account name as context),
/// which must rate it at least 3 of 4. The message says which rule failed and
/// never contains the password.
pub fn check_password_policy(password: &SecretString, user_name: &str) -> Result<()> {
    let text = password.expose_secret();
    let chars = text.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(Error::bad_request(
            "weak_password",
            format!("the password must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(Error::bad_request(
            "weak_password",
            format!("the password must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    let context = [user_name, "kirjuri"];
    let estimate = zxcvbn::zxcvbn(text, &context);
    let warning = estimate.feedback().and_then(|f| f.warning());
    let common = matches!(
        warning,
        Some(
            zxcvbn::feedback::Warning::ThisIsATop10Password
                | zxcvbn::feedback::Warning::ThisIsATop100Password
                | zxcvbn::feedback::Warning::ThisIsACommonPassword
                | zxcvbn::feedback::Warning::ThisIsSimilarToACommonlyUsedPassword
        )
    );
    if common {
        return Err(Error::bad_request(
            "common_password",
            "the password is a common password or too close to one; choose another",
        ));
    }
    if (estimate.score() as u8) < 3 {
        let hint = warning.map(|w| format!(" ({w})")).unwrap_or_default();
        return Err(Error::bad_request(
            "weak_password",
            format!(
                "the password is too easy to guess{hint}; a few uncommon words or a longer \
                 passphrase will do"
            ),
        ));
    }
    Ok(())
}

/// A strong random password: 24 characters from an unambiguous alphabet.
pub fn generate_password() -> Result<SecretString> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes = random_bytes::<24>()?;
    let password: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    Ok(SecretString::from(password))
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

/// A TOTP enrolment just begun: what the user's authenticator app needs.
/// Shown once; the secret is stored only sealed.
pub struct TotpEnrolment {
    /// The secret, base32 (for typing in).
    pub secret: SecretString,
    /// The `otpauth://` URI (for a QR code).
    pub uri: SecretString,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolment([redacted])")
    }
}

fn totp_for(secret: &[u8], account: &str) -> Result<totp_rs::Totp> {
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret.to_vec())
        .with_account_name(account)
        .with_issuer(Some(TOTP_ISSUER))
        .build()
        .map_err(|e| Error::Internal(format!("failed to set up TOTP: {e}")))
}

/// The per-address login throttle: a token bucket per client address that
/// only failed sign-ins drain, so an office behind one NAT address can sign in
/// all at once while a guesser from any address is slowed to
/// `max_failures` per `window`. In memory, per process: it is a brake, not the
/// lockout (which is per account, in the database, shared by every node).
///
/// Time comes from the caller (the app's clock), so tests need not sleep.
#[derive(Debug)]
pub struct LoginThrottle {
    /// Failures allowed in a burst.
    max_failures: u32,
    /// Time for an empty allowance to refill completely.
    window: TimeDelta,
    /// Remaining allowance per address.
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    allowance: f64,
    at: DateTime<Utc>,
}

/// Addresses tracked before full buckets are swept away.
const THROTTLE_SWEEP_AT: usize = 10_000;

impl LoginThrottle {
    /// A throttle allowing `max_failures` per `window_seconds` per address.
    pub fn new(max_failures: u32, window_seconds: u64) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window: TimeDelta::seconds(i64::try_from(window_seconds.max(1)).unwrap_or(i64::MAX)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, bucket: Bucket, now: DateTime<Utc>) -> f64 {
        let elapsed = (now - bucket.at).num_milliseconds().max(0) as f64 / 1000.0;
        let per_second =
            f64::from(self.max_failures) / (self.window.num_milliseconds().max(1) as f64 / 1000.0);
        (bucket.allowance + elapsed * per_second).min(f64::from(self.max_failures))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Bucket>> {
        // A panic elsewhere while holding the lock leaves only counters behind.
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes one attempt from `ip`'s allowance before a password is checked,
    /// or refuses with how many seconds to wait: check and take are one step
    /// under the lock, so parallel attempts from one address cannot all pass
    /// before any is counted. A success gives it back ([`Self::refund`]).
    pub fn reserve(&self, ip: IpAddr, now: DateTime<Utc>) -> std::result::Result<(), u64> {
        let mut buckets = self.lock();
        if buckets.len() >= THROTTLE_SWEEP_AT {
            let max = f64::from(self.max_failures);
            buckets.retain(|_, b| self.refilled(*b, now) < max);
        }
        let allowance = buckets
            .get(&ip)
            .map_or(f64::from(self.max_failures), |b| self.refilled(*b, now));
        if allowance < 1.0 {
            let per_second = f64::from(self.max_failures)
                / (self.window.num_milliseconds().max(1) as f64 / 1000.0);
            let wait = ((1.0 - allowance) / per_second).ceil().max(1.0);
            return Err(wait as u64);
        }
        buckets.insert(
            ip,
            Bucket {
                allowance: allowance - 1.0,
                at: now,
            },
        );
        Ok(())
    }

    /// Gives back an attempt [`Self::reserve`] took, once it succeeded: only
    /// failures drain the allowance.
    pub fn refund(&self, ip: IpAddr, now: DateTime<Utc>) {
        let mut buckets = self.lock();
        if let Some(bucket) = buckets.get(&ip).copied() {
            let allowance = (self.refilled(bucket, now) + 1.0).min(f64::from(self.max_failures));
            buckets.insert(ip, Bucket { allowance, at: now });
        }
    }
}

/// Where Argon2 runs: `workers` threads of its own (one per core), fed by a
/// queue of at most `queue` waiting checks; beyond that a password check is
/// refused at once ([`Error::Busy`], 503) instead of queueing without bound.
/// A burst of sign-ins thus keeps at most `workers` Argon2 memory blocks
/// (19 MiB each) alive, and leaves the async workers — and every other
/// request — free. The threads are fixed, not tokio's blocking pool: every
/// new thread that runs Argon2 gets a malloc arena that keeps its 19 MiB, so
/// a pool that grows under load grows the process by that much per thread.
#[derive(Debug)]
pub struct PasswordWork {
    queue: tokio::sync::mpsc::Sender<PasswordJob>,
}

/// One hash or verification, run on a password thread with that thread's
/// Argon2 working memory.
type PasswordJob = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// A place in [`PasswordWork`]'s queue, taken before anything is reserved so
/// that a refusal leaves nothing to settle. Spent by one hash or
/// verification.
#[derive(Debug)]
pub struct PasswordSlot {
    place: tokio::sync::mpsc::OwnedPermit<PasswordJob>,
}

impl PasswordWork {
    /// `workers` threads (at least one), `queue` more checks waiting (at
    /// least one).
    pub fn new(workers: usize, queue: usize) -> Result<Self> {
        let (sender, receiver) = tokio::sync::mpsc::channel::<PasswordJob>(queue.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..workers.max(1) {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("kirjuri-argon2-{n}"))
                .spawn(move || {
                    // Grown by the first check, reused by every later one.
                    let mut memory: Vec<Block> = Vec::new();
                    loop {
                        // One idle thread waits on the queue at a time; it
                        // lets go of the lock before it runs the job.
                        let job = receiver
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .blocking_recv();
                        match job {
                            Some(job) => job(&mut memory),
                            None => break,
                        }
                    }
                })
                .map_err(|e| Error::Internal(format!("failed to start a password thread: {e}")))?;
        }
        Ok(Self { queue: sender })
    }

    /// Sized to this machine: one thread per core, eight waiting per thread.
    pub fn for_this_machine() -> Result<Self> {
        let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Self::new(workers, workers * 8)
    }

    /// A place, or [`Error::Busy`] if all are taken.
    pub fn admit(&self) -> Result<PasswordSlot> {
        match self.queue.clone().try_reserve_owned() {
            Ok(place) => Ok(PasswordSlot { place }),
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => Err(Error::Busy),
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {
                Err(Error::Internal("the password threads have stopped".into()))
            }
        }
    }

    /// Hashes a new password (admitting it first).
    pub async fn hash(&self, password: &SecretString) -> Result<String> {
        self.admit()?.hash(password).await
    }
}

impl PasswordSlot {
    /// Runs `work` on a password thread. Once queued it runs to the end,
    /// also if the request waiting for it is dropped.
    async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.place.send(Box::new(move |memory: &mut Vec<Block>| {
            // The waiter may be gone; the work was done all the same.
            let _ = done.send(work(memory));
        }));
        result
            .await
            .map_err(|_| Error::Internal("a password check did not finish".into()))
    }

    /// Hashes `password` with Argon2id.
    pub async fn hash(self, password: &SecretString) -> Result<String> {
        let password = SecretString::from(password.expose_secret().to_owned());
        self.run(move |_| hash_password(&password)).await?
    }

    /// Whether `password` matches `stored`.
    pub async fn verify(self, password: &SecretString, stored: &str) -> Result<bool> {
        let password = SecretString::from(password.expose_secret().to_owned());
        let stored = stored.to_owned();
        self.run(move |memory| verify_password_in(&password, &stored, memory))
            .await
    }

    /// Spends as long as a verification against a password no one knows,
    /// so a refusal that needs no check takes as long as one that does.
    pub async fn verify_dummy(self, password: &SecretString) -> Result<()> {
        let password = SecretString::from(password.expose_secret().to_owned());
        self.run(move |memory| verify_against_dummy(&password, memory))
            .await
    }
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
        let owner = match for_user {
            Some(name) if name != actor.name.as_str() => {
                self.require(acting, Action::ManageUsers).await?;
                let owner = self.user_named(name).await?;
                if owner.role != Role::Integration {
                    return Err(Error::Forbidden(
                        "tokens for another account are issued only to integration accounts",
                    ));
                }
                owner
            }
            _ => {
                self.require(acting, Action::ManageOwnAccount).await?;
                self.store
                    .user(&actor_id)
                    .await?
                    .ok_or(Error::Unauthenticated)?
            }
        };
        crate::session::require_session(session)?;
        let me = self
            .store
            .user(&actor_id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        self.recheck(&me, password, code, true, ip).await?;
        self.issue_token(acting, &owner, label, Some(expires_at))
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

    /// A keyed hash (hex) of a sign-in name that is no account, for the audit
    /// log: keyed, because people type passwords into name fields.
    pub(crate) fn login_name_hash(&self, name: &str) -> String {
        let value = format!("login-name\u{0}{name}");
        hex::encode(self.keyring.blind_indexer().hash(IndexKind::Name, &value))
    }

    // --- TOTP -------------------------------------------------------------

    /// Begins TOTP enrolment for the caller: a new secret, stored sealed and
    /// pending until [`Kirjuri::confirm_totp`] sees a valid code from it.
    /// Only from a browser session, with the password re-checked — and, to
    /// replace a second factor already in force, a current code from it
    /// ([`Kirjuri::recheck`]); without that code only the operator can help.
    pub async fn begin_totp(
        &self,
        actor: &Actor,
        actor_id: UserId,
        session: Option<&crate::session::Session>,
        password: &SecretString,
        current_code: Option<&str>,
        ip: IpAddr,
    ) -> Result<TotpEnrolment> {
        self.require(Some((actor, actor_id)), Action::ManageOwnAccount)
            .await?;
        crate::session::require_session(session)?;
        let me = self
            .store
            .user(&actor_id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        self.recheck(&me, password, current_code, true, ip).await?;
        let secret = Zeroizing::new(random_bytes::<TOTP_SECRET_BYTES>()?);
        let totp = totp_for(secret.as_slice(), actor.name.as_str())?;
        let uri = totp
            .to_url()
            .map_err(|e| Error::Internal(format!("failed to build the TOTP URI: {e}")))?;
        let object = ObjectId::from_uuid(*actor_id.as_uuid());
        let key = self.keyring.generate_data_key()?;
        let pending = SealedSecret {
            wrapped_key: self.keyring.wrap(&key, &object)?,
            sealed: seal_to_vec(&key, &object, secret.as_slice())?,
        };
        let event = AuditEvent::TotpEnrolmentBegun { user: actor_id };
        self.store
            .begin_totp(
                &actor_id,
                &pending,
                &to_row(self.clock.now(), Some(actor_id), &event),
            )
            .await?;
        Ok(TotpEnrolment {
            secret: SecretString::from(totp.secret().to_base32()),
            uri: SecretString::from(uri),
        })
    }

    /// Confirms a pending TOTP enrolment with a current code; from then on
    /// sign-in needs a code. Only from a browser session: the enrolment it
    /// confirms was begun with the password (and the old code) re-checked.
    pub async fn confirm_totp(
        &self,
        actor: &Actor,
        actor_id: UserId,
        session: Option<&crate::session::Session>,
        code: &str,
    ) -> Result<()> {
        self.require(Some((actor, actor_id)), Action::ManageOwnAccount)
            .await?;
        crate::session::require_session(session)?;
        let pending = self
            .store
            .totp(&actor_id)
            .await?
            .and_then(|t| t.pending)
            .ok_or_else(|| Error::Conflict {
                code: "no_totp_enrolment",
                message: "no TOTP enrolment is pending; begin one first".into(),
            })?;
        let step = self
            .check_totp_code(&actor_id, actor.name.as_str(), &pending, code)?
            .ok_or_else(|| Error::bad_request("totp_invalid", "the code is not valid now"))?;
        let event = AuditEvent::TotpEnrolled { user: actor_id };
        match self
            .store
            .confirm_totp(
                &actor_id,
                step,
                &to_row(self.clock.now(), Some(actor_id), &event),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(kirjuri_store::Error::NotFound) => Err(Error::Conflict {
                code: "no_totp_enrolment",
                message: "no TOTP enrolment is pending; begin one first".into(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The time step `code` is valid for under `sealed`, if any (RFC 6238:
    /// 30-second steps, one step of clock skew either way).
    pub(crate) fn check_totp_code(
        &self,
        user: &UserId,
        account: &str,
        sealed: &SealedSecret,
        code: &str,
    ) -> Result<Option<i64>> {
        let object = ObjectId::from_uuid(*user.as_uuid());
        let key = self.keyring.unwrap(&sealed.wrapped_key, &object)?;
        let secret = Zeroizing::new(open_to_vec(&key, &object, &sealed.sealed)?);
        let totp = totp_for(&secret, account)?;
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        let now = u64::try_from(self.clock.now().timestamp()).unwrap_or(0);
        Ok(totp
            .check(code, now)
            .and_then(|step| i64::try_from(step).ok()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let password = SecretString::from("correct horse battery staple");
        let hash = hash_password(&password).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&password, &hash));
        assert!(!verify_password(
            &SecretString::from("correct horse battery stapler"),
            &hash
        ));
        assert!(!verify_password(&password, "not a hash"));
    }

    #[test]
    fn verifying_with_reused_memory_agrees_with_argon2s_own_verifier() {
        use argon2::password_hash::PasswordVerifier;
        let password = SecretString::from("correct horse battery staple");
        let wrong = SecretString::from("correct horse battery stapler");
        let hash = hash_password(&password).unwrap();
        let mut memory = Vec::new();
        for _ in 0..3 {
            assert!(verify_password_in(&password, &hash, &mut memory));
            assert!(!verify_password_in(&wrong, &hash, &mut memory));
        }
        assert_eq!(memory.len(), 19 * 1024, "grown once to m = 19 MiB");
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(
            Argon2::default()
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok()
        );
        // A hash with other parameters (m = 8 MiB, t = 3) verifies too.
        let other = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 3, 1, None).unwrap(),
        )
        .hash_password(password.expose_secret().as_bytes())
        .unwrap()
        .to_string();
        assert!(verify_password_in(&password, &other, &mut memory));
        assert!(!verify_password_in(&wrong, &other, &mut memory));
        assert!(!verify_password_in(
            &password,
            "$argon2id$v=19$m=19456,t=2,p=1$bm90YXNhbHQ",
            &mut memory
        ));
    }

    #[test]
    fn generated_passwords_pass_the_policy_and_differ() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert!(check_password_policy(&a, "aino").is_ok());
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn short_passwords_are_refused_without_echoing_them() {
        let err = check_password_policy(&SecretString::from("hunter2"), "aino").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        assert!(err.to_string().contains("at least 12"), "{err}");
    }

    #[test]
    fn common_passwords_of_twelve_characters_are_refused_as_common() {
        for common in [
            "password1234",
            "qwertyuiop12",
            "123456789012",
            "iloveyou1234",
        ] {
            let err = check_password_policy(&SecretString::from(common), "aino").unwrap_err();
            let (_, code) = err.status_and_code();
            assert!(
                code == "common_password" || code == "weak_password",
                "{common}: {code}"
            );
            assert!(!err.to_string().contains(common), "{err}");
        }
        let err = check_password_policy(&SecretString::from("password1234"), "aino").unwrap_err();
        assert_eq!(err.status_and_code().1, "common_password", "{err}");
    }

    #[test]
    fn a_password_built_from_the_account_name_is_refused() {
        let err =
            check_password_policy(&SecretString::from("ainoaino2024"), "ainoaino").unwrap_err();
        assert!(
            matches!(err.status_and_code().1, "weak_password" | "common_password"),
            "{err}"
        );
    }

    #[test]
    fn a_long_uncommon_passphrase_is_accepted() {
        assert!(
            check_password_policy(
                &SecretString::from("harmaa lokki kantaa sateenvarjoa"),
                "aino"
            )
            .is_ok()
        );
    }

    #[test]
    fn the_throttle_refuses_an_address_after_its_burst_and_refills_over_the_window() {
        let throttle = LoginThrottle::new(3, 60);
        let ip: IpAddr = [192, 0, 2, 1].into();
        let other: IpAddr = [192, 0, 2, 2].into();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        for _ in 0..3 {
            assert!(throttle.reserve(ip, t0).is_ok());
        }
        let wait = throttle.reserve(ip, t0).unwrap_err();
        assert_eq!(wait, 20, "one failure refills in 60 s / 3");
        assert!(
            throttle.reserve(other, t0).is_ok(),
            "other addresses are unaffected"
        );
        assert!(throttle.reserve(ip, t0 + TimeDelta::seconds(19)).is_err());
        assert!(throttle.reserve(ip, t0 + TimeDelta::seconds(20)).is_ok());
    }

    #[test]
    fn a_refunded_attempt_does_not_drain_the_allowance() {
        let throttle = LoginThrottle::new(2, 60);
        let ip: IpAddr = [192, 0, 2, 1].into();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        for _ in 0..10 {
            assert!(throttle.reserve(ip, t0).is_ok());
            throttle.refund(ip, t0);
        }
        assert!(throttle.reserve(ip, t0).is_ok());
        assert!(throttle.reserve(ip, t0).is_ok());
        assert!(
            throttle.reserve(ip, t0).is_err(),
            "two unrefunded take it all"
        );
    }

    #[tokio::test]
    async fn password_work_refuses_at_once_beyond_its_places() {
        let work = PasswordWork::new(1, 2).unwrap();
        let first = work.admit().unwrap();
        let second = work.admit().unwrap();
        assert!(matches!(work.admit(), Err(Error::Busy)));
        let password = SecretString::from("correct horse battery staple");
        let hash = first.hash(&password).await.unwrap();
        assert!(second.verify(&password, &hash).await.unwrap());
        assert!(work.admit().is_ok(), "spent places are free again");
    }
}
