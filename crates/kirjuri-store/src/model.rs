//! The rows the store reads and writes, as plain data. They carry sealed
//! blobs, wrapped keys and keyed hashes — never plaintext personal data — and
//! no behaviour beyond formatting: validation is the domain's job (core), and
//! sealing and hashing are the vault's.
//!
//! Timestamps are stored with microsecond resolution (as PostgreSQL's
//! `timestamptz`); a finer instant comes back truncated to the microsecond.
//! [`truncate_to_storage`] gives callers the stored value up front.
//!
//! `Debug` shows the length of blobs and hides credential hashes, so a row can
//! be logged or printed by a failing test without leaking anything useful.

use std::fmt;

use chrono::{DateTime, Utc};
use kirjuri_core::ids::{ContactId, ObjectId, UserId};
use kirjuri_core::role::Role;

/// `t` as the store will return it: truncated to whole microseconds.
pub fn truncate_to_storage(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// A contact as stored: the searchable, non-personal metadata in columns and
/// everything personal in one sealed document.
#[derive(Clone, PartialEq, Eq)]
pub struct ContactRow {
    /// The register's id for the contact.
    pub id: ContactId,
    /// The delivering system's id; unique when present (ING-1 idempotency).
    pub external_id: Option<String>,
    /// `call_in`, `call_out`, `chat`, `email` or `form`.
    pub channel: String,
    /// When the contact began.
    pub started_at: DateTime<Utc>,
    /// When it ended, if known.
    pub ended_at: Option<DateTime<Utc>>,
    /// The handling agent's user name.
    pub agent: String,
    /// The service (queue) it was directed to.
    pub service: Option<String>,
    /// When Kirjuri stored it.
    pub created_at: DateTime<Utc>,
    /// The account that delivered it.
    pub created_by: UserId,
    /// The personal fields of REG-1, sealed by the vault.
    pub sealed_document: Vec<u8>,
    /// The document's data key, wrapped by a key-encryption key.
    pub document_key: Vec<u8>,
    /// The retention deadline fixed at intake (RET-1).
    pub retain_until: DateTime<Utc>,
}

impl ContactRow {
    /// Whether the purge (or an erasure request) has erased the contact's
    /// document: an erased contact keeps its row with an empty sealed
    /// document and document key.
    pub fn is_erased(&self) -> bool {
        self.sealed_document.is_empty()
    }
}

impl fmt::Debug for ContactRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContactRow")
            .field("id", &self.id)
            .field("external_id", &self.external_id)
            .field("channel", &self.channel)
            .field("started_at", &self.started_at)
            .field("ended_at", &self.ended_at)
            .field("agent", &self.agent)
            .field("service", &self.service)
            .field("created_at", &self.created_at)
            .field("created_by", &self.created_by)
            .field("sealed_document", &Bytes(self.sealed_document.len()))
            .field("document_key", &Bytes(self.document_key.len()))
            .field("retain_until", &self.retain_until)
            .finish()
    }
}

/// One blind-index entry of a contact: a keyed hash of a normalised
/// identifier, by kind.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IndexEntry {
    /// `phone`, `email`, `property_id`, `customer_number` or `name`.
    pub kind: String,
    /// The 32-byte keyed hash (HMAC) of the normalised value.
    pub hash: Vec<u8>,
}

impl fmt::Debug for IndexEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexEntry")
            .field("kind", &self.kind)
            .field("hash", &Bytes(self.hash.len()))
            .finish()
    }
}

/// What [`ContactStore::insert_contact`](crate::ContactStore::insert_contact) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The contact, its index entries and its audit event were written.
    Created,
    /// A contact with the same `external_id` already exists (this is its id);
    /// nothing was written.
    Existing(ContactId),
}

/// A contact search. All conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactFilter {
    /// Every entry must match one of the contact's index entries, by
    /// `(kind, hash)`. The first entry drives the lookup, so put the most
    /// selective kind (a phone number rather than a name) first.
    pub index: Vec<IndexEntry>,
    /// Only contacts handled by this agent.
    pub agent: Option<String>,
    /// Only contacts with `started_at >= from`.
    pub from: Option<DateTime<Utc>>,
    /// Only contacts with `started_at < to`.
    pub to: Option<DateTime<Utc>>,
    /// At most this many rows; 0 returns none.
    pub limit: u32,
    /// Keyset pagination: only contacts strictly after this
    /// `(started_at, id)` in newest-first order — pass the last row of the
    /// previous page.
    pub before: Option<(DateTime<Utc>, ContactId)>,
}

/// A committed, encrypted object (a recording, a transcript, …).
#[derive(Clone, PartialEq, Eq)]
pub struct ObjectRow {
    /// The object's id; also its name in object storage and the AEAD
    /// associated data.
    pub id: ObjectId,
    /// The contact it belongs to.
    pub contact_id: ContactId,
    /// What it is, e.g. `"recording"`; at most one per contact and kind.
    pub kind: String,
    /// The object's data key, wrapped by a key-encryption key. Deleting it
    /// crypto-shreds the object.
    pub wrapped_key: Vec<u8>,
    /// SHA-256 of the plaintext as received, lowercase hex.
    pub sha256: String,
    /// Length of the plaintext in bytes.
    pub plaintext_len: u64,
    /// Length of the stored ciphertext in bytes.
    pub stored_len: u64,
    /// Format facts: encoding, sample rate, channels, bits, duration_ms, ….
    pub media: serde_json::Value,
    /// The retention deadline fixed at intake.
    pub retain_until: DateTime<Utc>,
    /// The object this one was derived from (waveform peaks → their
    /// recording); a hold on the source keeps it too.
    pub source: Option<ObjectId>,
    /// When it was committed.
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for ObjectRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectRow")
            .field("id", &self.id)
            .field("contact_id", &self.contact_id)
            .field("kind", &self.kind)
            .field("wrapped_key", &Bytes(self.wrapped_key.len()))
            .field("sha256", &self.sha256)
            .field("plaintext_len", &self.plaintext_len)
            .field("stored_len", &self.stored_len)
            .field("media", &self.media)
            .field("retain_until", &self.retain_until)
            .field("source", &self.source)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// An object being written: registered before its first byte reaches object
/// storage, removed when it is committed or aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingObject {
    /// The id the object will have once committed.
    pub id: ObjectId,
    /// The contact it will belong to.
    pub contact_id: ContactId,
    /// What it will be, e.g. `"recording"`.
    pub kind: String,
    /// Which server instance is writing it, so a restarted instance can find
    /// and clean up its own abandoned uploads.
    pub instance_id: String,
    /// When the upload began.
    pub started_at: DateTime<Utc>,
}

/// What [`ContactStore::commit_object`](crate::ContactStore::commit_object) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The object and its audit event were written; the pending row is gone.
    Committed,
    /// A committed object of that kind already exists for the contact (here
    /// it is): nothing was written, the pending row is gone.
    Existing(ObjectRow),
}

/// A staff or integration account.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRow {
    /// The account's id.
    pub id: UserId,
    /// The unique login name.
    pub name: String,
    /// Its one role.
    pub role: Role,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// A disabled account can neither log in nor use its tokens.
    pub disabled: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// A maintainer's confidentiality-agreement reference (ACC-1), when one
    /// is on file.
    pub confidentiality_agreement: Option<String>,
    /// Consecutive failed logins since the last success or unlock.
    pub failed_logins: u32,
    /// When the account was locked after too many failed logins; only an
    /// administrator's unlock clears it.
    pub locked_at: Option<DateTime<Utc>>,
    /// Whether a confirmed TOTP secret is on file (read-only: derived from
    /// the TOTP table, ignored by `insert_user`).
    pub totp_enabled: bool,
}

impl UserRow {
    /// A new, enabled, unlocked account without an agreement or TOTP.
    pub fn new(
        id: UserId,
        name: String,
        role: Role,
        password_hash: String,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            name,
            role,
            password_hash,
            disabled: false,
            created_at,
            confidentiality_agreement: None,
            failed_logins: 0,
            locked_at: None,
            totp_enabled: false,
        }
    }
}

impl fmt::Debug for UserRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("password_hash", &"[redacted]")
            .field("disabled", &self.disabled)
            .field("created_at", &self.created_at)
            .field(
                "confidentiality_agreement",
                &self.confidentiality_agreement.is_some(),
            )
            .field("failed_logins", &self.failed_logins)
            .field("locked_at", &self.locked_at)
            .field("totp_enabled", &self.totp_enabled)
            .finish()
    }
}

/// A bearer token of an account, stored as a hash of the token.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// The token's id.
    pub id: uuid::Uuid,
    /// The account it acts for.
    pub user_id: UserId,
    /// A human label (`kirjuri token create --name`).
    pub label: Option<String>,
    /// Hash of the bearer token; unique.
    pub token_hash: Vec<u8>,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was last presented.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for TokenRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRow")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("label", &self.label)
            .field("token_hash", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .field("last_used_at", &self.last_used_at)
            .finish()
    }
}

/// An audit event to append (AUD-1): who, when, what, which purpose, outcome.
/// It never holds personal data — `object` is an identifier, `details` carries
/// facts such as a recording's sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it; `None` for the system itself or an unauthenticated caller.
    pub actor: Option<UserId>,
    /// What was done, e.g. `"contact.create"`.
    pub action: String,
    /// What it was done to, e.g. `"contact:<id>"`.
    pub object: Option<String>,
    /// The stated purpose of a read (ACC-2).
    pub purpose: Option<String>,
    /// `"ok"`, `"denied"`, `"failed"`, ….
    pub outcome: String,
    /// Further facts, as JSON.
    pub details: serde_json::Value,
}

/// A change to an account's administrative state; `None` leaves a field as
/// it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    /// A new role.
    pub role: Option<Role>,
    /// Disable (`true`, which also ends every session) or enable (`false`).
    pub disabled: Option<bool>,
    /// Record (`Some(Some(reference))`) or clear (`Some(None)`) the
    /// confidentiality-agreement reference.
    pub confidentiality_agreement: Option<Option<String>>,
}

/// What [`AccountStore::record_failed_login`](crate::AccountStore::record_failed_login) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedLogin {
    /// Consecutive failures now on record.
    pub failures: u32,
    /// Whether this failure locked the account.
    pub locked_now: bool,
}

/// A secret sealed by the vault: its wrapped data key and the ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// The data key, wrapped by a key-encryption key.
    pub wrapped_key: Vec<u8>,
    /// The sealed secret.
    pub sealed: Vec<u8>,
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSecret")
            .field("wrapped_key", &Bytes(self.wrapped_key.len()))
            .field("sealed", &Bytes(self.sealed.len()))
            .finish()
    }
}

/// An account's TOTP (RFC 6238) state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRow {
    /// The account.
    pub user_id: UserId,
    /// The confirmed secret required at login.
    pub active: Option<SealedSecret>,
    /// An enrolment awaiting confirmation with a valid code.
    pub pending: Option<SealedSecret>,
    /// The last time step accepted; a code for it or an earlier one is refused.
    pub last_step: Option<i64>,
}

/// A signed-in browser session, stored by the hash of its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// The session's id (for audit and logout), not its secret.
    pub id: uuid::Uuid,
    /// SHA-256 of the secret the cookie carries; unique.
    pub secret_hash: Vec<u8>,
    /// The account signed in.
    pub user_id: UserId,
    /// When it began (the absolute timeout counts from here).
    pub created_at: DateTime<Utc>,
    /// When it was last used (the idle timeout counts from here).
    pub last_seen_at: DateTime<Utc>,
}

impl fmt::Debug for SessionRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRow")
            .field("id", &self.id)
            .field("secret_hash", &"[redacted]")
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .finish()
    }
}

/// The web UI's preferences for a session (issue 4): not personal data, and
/// granting nothing; each read still states its purpose to the access
/// decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionPreferences {
    /// The purpose of processing (ACC-2) chosen in the session.
    pub purpose: Option<String>,
    /// The account's UI language (`fi`, `sv`, `en`).
    pub language: Option<String>,
}

/// Sessions older than these instants are stale and may be removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCutoff {
    /// Sessions last seen before this have idled out.
    pub last_seen_before: DateTime<Utc>,
    /// Sessions created before this have reached their absolute limit.
    pub created_before: DateTime<Utc>,
}

/// An audit event as stored, with its place in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Position in the log: strictly increasing, never reused.
    pub seq: i64,
    /// The event.
    pub event: NewAuditEvent,
}

/// An audit event exactly as its row stores it, for the Merkle tree of AUD-2:
/// raw column values, nothing parsed or normalised, so the leaf a verifier
/// hashes depends on the stored bytes alone (`details` is the JSON text as
/// written; `actor` the blob, normally a 16-byte UUID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAuditEvent {
    /// Position in the log; an untouched log numbers its events 1, 2, 3, ….
    pub seq: i64,
    /// When it happened, in microseconds since the Unix epoch.
    pub at_micros: i64,
    /// The actor column's bytes.
    pub actor: Option<Vec<u8>>,
    /// The action column.
    pub action: String,
    /// The object column.
    pub object: Option<String>,
    /// The purpose column.
    pub purpose: Option<String>,
    /// The outcome column.
    pub outcome: String,
    /// The details column: JSON text, byte for byte.
    pub details: String,
}

impl StoredAuditEvent {
    /// The columns as the leaf encoding takes them.
    pub fn leaf_fields(&self) -> kirjuri_core::audit::LeafFields<'_> {
        kirjuri_core::audit::LeafFields {
            seq: self.seq,
            at_micros: self.at_micros,
            actor: self.actor.as_deref(),
            action: &self.action,
            object: self.object.as_deref(),
            purpose: self.purpose.as_deref(),
            outcome: &self.outcome,
            details: &self.details,
        }
    }
}

/// One stored audit event as a leaf of the log's Merkle tree: its sequence
/// number and `kirjuri_core::audit::leaf_hash_of` its stored columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditLeaf {
    /// The event's sequence number.
    pub seq: i64,
    /// The RFC 6962 leaf hash of its stored bytes.
    pub leaf: [u8; 32],
}

/// A signed checkpoint of the audit log's Merkle tree, as stored. Only
/// `note` (a C2SP signed note) is evidence; `root` repeats what it says for
/// queries, and `frontier` (the compact range of the tree at `size`, 32-byte
/// hashes largest subtree first) lets the writer resume without rereading
/// the log once it has checked the frontier against the signed root.
#[derive(Clone, PartialEq, Eq)]
pub struct AuditCheckpointRow {
    /// The number of events the tree covers (events 1..=size).
    pub size: u64,
    /// The tree's root, as the note states it.
    pub root: Vec<u8>,
    /// The signed checkpoint.
    pub note: String,
    /// The perfect-subtree roots of the tree at `size`, concatenated.
    pub frontier: Vec<u8>,
    /// When it was signed.
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for AuditCheckpointRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditCheckpointRow")
            .field("size", &self.size)
            .field("root", &Bytes(self.root.len()))
            .field("note", &Bytes(self.note.len()))
            .field("frontier", &Bytes(self.frontier.len()))
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Which audit events a query wants (all criteria must hold), a page at a
/// time in sequence order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Events that name this id: as their object, as the `contact` of their
    /// details, or among a search's `results`.
    pub reference: Option<String>,
    /// Events this account did.
    pub actor: Option<UserId>,
    /// Events with this action, e.g. `contact.viewed`.
    pub action: Option<String>,
    /// Only events with a greater sequence number (the page cursor).
    pub after_seq: i64,
    /// At most this many events.
    pub limit: u32,
}

/// Formats a blob as its length only.
struct Bytes(usize);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0)
    }
}
