//! The store's capability traits — [`ContactStore`] (contacts and their
//! objects), [`AccountStore`] (accounts, tokens, sessions, second factors),
//! [`AuditStore`] (the audit log and its checkpoints), with
//! [`RetentionStore`] (holds, purge, tombstones), [`Coordination`]
//! (leases, heartbeats) and [`OutboxStore`] (email and SMS waiting to
//! leave) in modules of their own — and [`Store`], which
//! bundles them: everything the server and the command line ask of the
//! database, independent of which database it is. A caller that needs only
//! one capability can ask for only that trait; `Arc<dyn Store>` has them
//! all. Each backend (SQLite, PostgreSQL) implements them, sharing the SQL
//! the two dialects have in common; no caller ever writes SQL. `crate::prelude` imports every
//! trait at once, so their methods can be called on a `dyn Store`.
//!
//! What this module is not: an implementation (the adapters are) or the
//! row types (`model`).
//!
//! Contract shared by every implementation:
//! * A write takes the audit event that records it and commits both in one
//!   transaction, or neither (AUD-1, STYLE 13).
//! * Uniqueness is enforced by the database's constraints, never by
//!   check-then-insert, so concurrent callers — other tasks, other
//!   processes, other nodes — cannot create duplicates.
//! * Timestamps come back truncated to the microsecond.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kirjuri_core::ids::{ContactId, ObjectId, UserId};

use crate::coordination::Coordination;
use crate::disclosures::DisclosureStore;
use crate::error::Result;
use crate::incidents::IncidentStore;
use crate::limits::LimitStore;
use crate::model::SessionPreferences;
use crate::model::{AuditCheckpointRow, AuditFilter, AuditLeaf, StoredAuditEvent};
use crate::model::{
    AuditRecord, CommitOutcome, ContactFilter, ContactRow, IndexEntry, InsertOutcome,
    NewAuditEvent, ObjectRow, PendingObject, TokenRow, UserRow,
};
use crate::model::{FailedLogin, SealedSecret, SessionCutoff, SessionRow, TotpRow, UserUpdate};
use crate::notices::NoticeStore;
use crate::outbox::OutboxStore;
use crate::recipients::RecipientStore;
use crate::requests::RequestStore;
use crate::retention::RetentionStore;
use crate::statistics::StatisticsStore;
use crate::surveys::SurveyStore;

/// Kirjuri's database: every capability in one trait object.
/// Implemented by every type that implements all the capability traits.
pub trait Store:
    ContactStore
    + AccountStore
    + AuditStore
    + RetentionStore
    + RequestStore
    + Coordination
    + OutboxStore
    + NoticeStore
    + LimitStore
    + RecipientStore
    + IncidentStore
    + DisclosureStore
    + StatisticsStore
    + SurveyStore
    + std::fmt::Debug
{
}

impl<T> Store for T where
    T: ContactStore
        + AccountStore
        + AuditStore
        + RetentionStore
        + RequestStore
        + Coordination
        + OutboxStore
        + NoticeStore
        + LimitStore
        + RecipientStore
        + IncidentStore
        + DisclosureStore
        + StatisticsStore
        + SurveyStore
        + std::fmt::Debug
{
}

/// Contacts, their blind-index entries and their objects (recordings and
/// what is derived from them).
#[async_trait]
pub trait ContactStore: Send + Sync {
    /// Stores a contact with its blind-index entries and `audit`, in one
    /// transaction. If a contact with the same `external_id` exists, writes
    /// nothing and returns [`InsertOutcome::Existing`] with the stored
    /// contact's id — also when many callers race with the same external id.
    /// A reused contact `id` is [`Error::Conflict`](crate::Error::Conflict).
    async fn insert_contact(
        &self,
        contact: &ContactRow,
        index: &[IndexEntry],
        audit: &NewAuditEvent,
    ) -> Result<InsertOutcome>;

    /// The contact with this id.
    async fn contact(&self, id: &ContactId) -> Result<Option<ContactRow>>;

    /// Contacts matching `filter`, newest first (`started_at` descending,
    /// then `id` descending), at most `filter.limit`. With index entries in
    /// the filter, never an erased contact (whose entries may still wait
    /// for the purge's sweep).
    async fn search_contacts(&self, filter: &ContactFilter) -> Result<Vec<ContactRow>>;

    /// How many contacts the register holds.
    async fn count_contacts(&self) -> Result<u64>;

    /// The ids of contacts bearing *any* of `index`'s entries — as customer
    /// or as contact person, whichever the entry was indexed from — oldest
    /// first (`started_at`, then `id`), at most `limit`. A data subject's
    /// contacts across all their identifiers (DSR-3); one indexed lookup
    /// per entry, duplicates removed; never an erased contact.
    async fn contacts_bearing_any(
        &self,
        index: &[IndexEntry],
        limit: u32,
    ) -> Result<Vec<ContactId>>;

    // --- objects --------------------------------------------------------

    /// Registers an upload before its first byte is stored, so an orphan
    /// sweep leaves its file alone. [`Error::NotFound`](crate::Error::NotFound)
    /// if the contact does not exist.
    async fn begin_object(&self, pending: &PendingObject) -> Result<()>;

    /// Commits an uploaded object in one transaction: removes its pending
    /// row; then, if the contact already has a committed object of the same
    /// kind, returns [`CommitOutcome::Existing`] with it and writes nothing
    /// else; otherwise stores `object` and `audit`. Without a pending row
    /// (never begun, aborted, or swept) the upload may already have been
    /// deleted as an orphan, so this refuses with
    /// [`Error::NotFound`](crate::Error::NotFound).
    async fn commit_object(
        &self,
        object: &ObjectRow,
        audit: &NewAuditEvent,
    ) -> Result<CommitOutcome>;

    /// Commits several uploaded objects of one contact, and blind-index
    /// entries found in their content, in one transaction with `audit`:
    /// a message and its attachments, or a form and its attachment, land
    /// together or not at all. Each object as [`ContactStore::commit_object`];
    /// if the contact already has an object of any of their kinds, writes
    /// nothing and returns [`CommitOutcome::Existing`] with that object (the
    /// caller then discards its uploads). `objects` must not be empty and
    /// must all belong to the same contact, whose index `index` extends.
    async fn commit_objects(
        &self,
        objects: &[ObjectRow],
        index: &[IndexEntry],
        audit: &[NewAuditEvent],
    ) -> Result<CommitOutcome>;

    /// Group commit: runs `writes` in one transaction, each in a savepoint
    /// of its own, appends the audit events of those that succeeded (in
    /// order) and commits once (`group.rs`). The inner results are each
    /// write's own; the outer error means the shared append or commit
    /// failed and *none* of them is stored.
    async fn write_group(
        &self,
        writes: &[crate::GroupWrite],
    ) -> Result<Vec<Result<crate::GroupOutcome>>>;

    /// Removes a pending row. Removing one that is not there is not an
    /// error, so clean-up paths can call it unconditionally.
    async fn abort_object(&self, id: &ObjectId) -> Result<()>;

    /// Every upload in flight, oldest first.
    async fn pending_objects(&self) -> Result<Vec<PendingObject>>;

    /// The committed object of `kind` for the contact.
    async fn object_for_contact(
        &self,
        contact_id: &ContactId,
        kind: &str,
    ) -> Result<Option<ObjectRow>>;

    /// Every committed object of the contact, ordered by kind.
    async fn objects_for_contact(&self, contact_id: &ContactId) -> Result<Vec<ObjectRow>>;

    /// The committed object with this id (a legal hold names a recording
    /// by its id).
    async fn object(&self, id: &ObjectId) -> Result<Option<ObjectRow>>;

    /// Ids of all committed and pending objects. An orphan sweep must list
    /// object storage *first* and call this *after*: an upload begun in
    /// between is then either absent from the listing or present here.
    async fn known_object_ids(&self) -> Result<HashSet<ObjectId>>;
}

/// Accounts and their credentials: users, API tokens, sessions, TOTP
/// second factors, lockout (SEC-5, ACC-1), and the web UI's preferences.
/// Every write commits with the audit events it is given.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates an account with `audit`, in one transaction. A taken name is
    /// [`Error::Conflict`](crate::Error::Conflict)`("user name")`.
    async fn insert_user(&self, user: &UserRow, audit: &NewAuditEvent) -> Result<()>;

    /// The account with this login name.
    async fn user_by_name(&self, name: &str) -> Result<Option<UserRow>>;

    /// The account with this id.
    async fn user(&self, id: &UserId) -> Result<Option<UserRow>>;

    /// Issues a token with `audit`, in one transaction.
    /// [`Error::NotFound`](crate::Error::NotFound) if the user does not exist;
    /// [`Error::Conflict`](crate::Error::Conflict)`("token hash")` if the hash
    /// is taken.
    async fn insert_token(&self, token: &TokenRow, audit: &NewAuditEvent) -> Result<()>;

    /// The token with this hash and its account, whatever their state: the
    /// caller decides what expiry, revocation or a disabled account mean.
    async fn token_by_hash(&self, hash: &[u8]) -> Result<Option<(TokenRow, UserRow)>>;

    /// Records that the token was used at `at`. Never moves `last_used_at`
    /// backwards, so concurrent requests cannot undo each other.
    /// [`Error::NotFound`](crate::Error::NotFound) for an unknown token.
    async fn touch_token(&self, id: &uuid::Uuid, at: DateTime<Utc>) -> Result<()>;

    // --- accounts: administration, lockout, TOTP, sessions, tokens -------
    // (SEC-5, ACC-1; every write commits with the audit events it is given)

    /// Every account, by name.
    async fn users(&self) -> Result<Vec<UserRow>>;

    /// Applies `update` to the account and appends `audit` (one event per
    /// changed fact), in one transaction. Disabling also ends every session
    /// of the account and revokes every token it owns (at `audit[0].at`;
    /// enabling it again brings none back). A change that would leave no
    /// enabled administrator where there was one — demoting or disabling the
    /// last — is refused with
    /// [`Error::Conflict`](crate::Error::Conflict)`("last admin")` and writes
    /// nothing; concurrent changes of two administrators cannot both pass.
    /// [`Error::NotFound`](crate::Error::NotFound) for an unknown account.
    async fn update_user(
        &self,
        id: &UserId,
        update: &UserUpdate,
        audit: &[NewAuditEvent],
    ) -> Result<()>;

    /// Reserves one password check against the account before it is made:
    /// adds one to its failure count, in one statement, only if the account
    /// is enabled, not locked and has fewer than `lock_after` attempts failed
    /// or in flight. Returns whether it did; `false` means the check must not
    /// be made. A reserved attempt counts as failed until
    /// [`AccountStore::insert_session`] (or [`AccountStore::set_password`]) clears the
    /// count, so concurrent checks on any number of nodes never exceed
    /// `lock_after` between two successes. Not audited by itself: the
    /// attempt's outcome is. [`Error::NotFound`](crate::Error::NotFound) for
    /// an unknown account.
    async fn reserve_login_attempt(&self, id: &UserId, lock_after: u32) -> Result<bool>;

    /// Settles attempts reserved with [`AccountStore::reserve_login_attempt`] after
    /// a successful password check that opens no session (a re-check before
    /// a credential change): clears the count, like a sign-in does. Returns
    /// `false` (and changes nothing) if the account is locked or disabled by
    /// then. Not audited by itself: the change it allows is.
    /// [`Error::NotFound`](crate::Error::NotFound) for an unknown account.
    async fn clear_login_attempts(&self, id: &UserId) -> Result<bool>;

    /// Settles an attempt reserved with [`AccountStore::reserve_login_attempt`] as
    /// failed: appends `failed`, and — when the count has reached
    /// `lock_after` on an account not yet locked — locks it at `failed.at`
    /// and appends `lockout` too; one transaction, so the lock is decided
    /// once however many failures settle at the same time. The count itself
    /// is not raised again (the reservation did that).
    /// [`Error::NotFound`](crate::Error::NotFound) for an unknown account.
    async fn record_failed_login(
        &self,
        id: &UserId,
        lock_after: u32,
        failed: &NewAuditEvent,
        lockout: &NewAuditEvent,
    ) -> Result<FailedLogin>;

    /// Clears the lock and the failure count, with `audit`.
    /// [`Error::NotFound`](crate::Error::NotFound) for an unknown account.
    async fn unlock_user(&self, id: &UserId, audit: &NewAuditEvent) -> Result<()>;

    /// Replaces the password hash, ends every session of the account except
    /// `keep_session`, revokes every token it owns (at `audit.at`) and clears
    /// its failure count (not a lock), with `audit`, in one transaction.
    /// [`Error::NotFound`](crate::Error::NotFound) for an unknown account.
    async fn set_password(
        &self,
        id: &UserId,
        password_hash: &str,
        keep_session: Option<&uuid::Uuid>,
        audit: &NewAuditEvent,
    ) -> Result<()>;

    /// The account's TOTP state, if it ever began an enrolment.
    async fn totp(&self, user: &UserId) -> Result<Option<TotpRow>>;

    /// Stores a new, unconfirmed TOTP secret (replacing any earlier
    /// unconfirmed one; a confirmed secret stays in force), with `audit`.
    async fn begin_totp(
        &self,
        user: &UserId,
        pending: &SealedSecret,
        audit: &NewAuditEvent,
    ) -> Result<()>;

    /// Makes the pending TOTP secret the active one and records `step` as
    /// used, with `audit`. [`Error::NotFound`](crate::Error::NotFound) if no
    /// enrolment is pending.
    async fn confirm_totp(&self, user: &UserId, step: i64, audit: &NewAuditEvent) -> Result<()>;

    /// Signs in: stores `session`, resets the account's failure count,
    /// removes every session stale by `cutoff`, and — with `totp_step` —
    /// records the step as used, refusing with
    /// [`Error::Conflict`](crate::Error::Conflict)`("totp step")` if that
    /// step or a later one was already used (a replayed code); all with
    /// `audit`, in one transaction. An account that is locked or disabled
    /// by then gets no session:
    /// [`Error::Conflict`](crate::Error::Conflict)`("account locked")`, and
    /// nothing is written.
    async fn insert_session(
        &self,
        session: &SessionRow,
        totp_step: Option<i64>,
        cutoff: SessionCutoff,
        audit: &NewAuditEvent,
    ) -> Result<()>;

    /// The session with this secret hash and its account, whatever their
    /// state: the caller decides what timeouts and a disabled account mean.
    async fn session_by_hash(&self, hash: &[u8]) -> Result<Option<(SessionRow, UserRow)>>;

    /// Moves the session's `last_seen_at` forward to `at` (never back).
    /// Touching a session that is gone is not an error.
    async fn touch_session(&self, id: &uuid::Uuid, at: DateTime<Utc>) -> Result<()>;

    /// Ends a session (logout), with `audit`.
    /// [`Error::NotFound`](crate::Error::NotFound) if it is already gone.
    async fn delete_session(&self, id: &uuid::Uuid, audit: &NewAuditEvent) -> Result<()>;

    /// The web UI's preferences of a session: the purpose chosen in it and
    /// its account's language. Defaults for a session that is gone.
    async fn session_preferences(&self, id: &uuid::Uuid) -> Result<SessionPreferences>;

    /// Records the purpose chosen in a session (`None` clears it). Not
    /// audited: it grants nothing, and every read records its own purpose.
    async fn set_session_purpose(&self, id: &uuid::Uuid, purpose: Option<&str>) -> Result<()>;

    /// Records an account's UI language (`None`: the default).
    async fn set_user_language(&self, id: &UserId, language: Option<&str>) -> Result<()>;

    /// Tokens of one account, or of every account, oldest first.
    async fn tokens(&self, user: Option<&UserId>) -> Result<Vec<TokenRow>>;

    /// The token with this id.
    async fn token(&self, id: &uuid::Uuid) -> Result<Option<TokenRow>>;

    /// Revokes the token at `at` with `audit`; returns `false` (and writes
    /// nothing) if it was already revoked.
    /// [`Error::NotFound`](crate::Error::NotFound) for an unknown token.
    async fn revoke_token(
        &self,
        id: &uuid::Uuid,
        at: DateTime<Utc>,
        audit: &NewAuditEvent,
    ) -> Result<bool>;
}

/// The audit log (AUD-1) and its tamper evidence (AUD-2).
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an event that records no write of this store (a read, a
    /// login, a denial); returns its sequence number.
    async fn append_audit(&self, event: &NewAuditEvent) -> Result<i64>;

    /// Up to `limit` events with `seq > after_seq`, in sequence order.
    async fn audit_events(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditRecord>>;

    // --- audit: tamper evidence and queries (AUD-2) ---------------------
    //
    // Sequence numbers are commit order and have no gaps: an implementation
    // must hand out `seq` under the same lock that commits the event (SQLite
    // does by serialising writers), so a reader never sees event n + 1
    // without event n and the Merkle tree can be extended by whoever reads.

    /// Appends `events` in one transaction, in order (bulk loads and
    /// benchmarks; everything else appends with the change it records).
    async fn append_audit_batch(&self, events: &[NewAuditEvent]) -> Result<()>;

    /// The highest sequence number in the log; 0 when it is empty.
    async fn audit_head(&self) -> Result<i64>;

    /// Up to `limit` events with `seq > after_seq` in sequence order, as
    /// stored, for hashing (see [`StoredAuditEvent`]).
    async fn stored_audit_events(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredAuditEvent>>;

    /// The Merkle leaves of up to `limit` events with `seq > after_seq`, in
    /// sequence order: exactly what hashing [`AuditStore::stored_audit_events`]
    /// gives, computed where it is cheapest (verifying a log of millions of
    /// events is this call in a loop).
    async fn audit_leaves(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditLeaf>>;

    /// Up to `filter.limit` events matching `filter`, in sequence order.
    async fn search_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>>;

    /// The log's random identity, made once with the database.
    async fn audit_log_id(&self) -> Result<String>;

    /// Up to `limit` checkpoints with `size > after_size` (all sizes when
    /// `None`), by size.
    async fn audit_checkpoints(
        &self,
        after_size: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditCheckpointRow>>;

    /// The checkpoint of the largest size.
    async fn latest_audit_checkpoint(&self) -> Result<Option<AuditCheckpointRow>>;

    /// Stores `checkpoint` if the largest stored checkpoint is still of size
    /// `previous` (`None`: there is none) — the one the caller extended and
    /// checked it against. Returns `false` and writes nothing when another
    /// writer got there first, including with the same size.
    async fn insert_audit_checkpoint(
        &self,
        checkpoint: &AuditCheckpointRow,
        previous: Option<u64>,
    ) -> Result<bool>;
}
