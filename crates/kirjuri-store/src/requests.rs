//! Data-subject requests in the database ([`RequestStore`], DSR-1, DSR-2):
//! the request itself, the identifiers it covers, its identity checks, its
//! one-time codes, the links that deliver its access package
//! ([`DeliveryLinkRow`]: single use, marked used in the transaction that
//! audits the release) and its timeline, as rows. What a requester wrote — the
//! identifiers as typed, a name, free text, an extension's reason, a
//! document's last four characters — arrives sealed by the vault
//! ([`SealedSecret`]); identifiers are the contacts' blind-index hashes, so
//! a request finds its subject's contacts; codes are keyed hashes. The rest
//! (states, dates, methods, assurance levels, grounds' codes) names no one.
//!
//! Every change commits together with its audit events and timeline
//! entries, or not at all. A change to a request names the `version` it
//! read ([`RequestUpdate::expected_version`]): of two registrars moving one
//! request at once, one wins and the other gets
//! [`Error::Conflict`](crate::Error::Conflict) (`"request version"`). A
//! one-time code's try is taken in one guarded statement
//! ([`RequestStore::take_code_try`]), so parallel tries never get more
//! tries in all than the code had.
//!
//! What this module is not: the rules (which move is allowed, what a code
//! try comes to — `kirjuri_core::request`), sealing or hashing (the vault),
//! or the SQL (`requests_sql`, written once for both databases).

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use kirjuri_core::ids::{ContactId, UserId};
use kirjuri_core::purpose::Purpose;
use kirjuri_core::request::{
    Assurance, DocumentType, RequestChannel, RequestState, RequestType, VerificationMethod,
};
use uuid::Uuid;

use crate::error::Result;
use crate::limits::LimitChanges;
use crate::model::{IndexEntry, NewAuditEvent, SealedSecret};
use crate::outbox::NewOutboxMessage;

/// A request as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestRow {
    /// Its id.
    pub id: Uuid,
    /// `DSR-YYYY-NNNNNN`; assigned by [`RequestStore::insert_request`]
    /// (what a new row carries here is ignored).
    pub reference: String,
    /// What is asked, at least one.
    pub types: Vec<RequestType>,
    /// How it came in.
    pub channel: RequestChannel,
    /// The requester's language: `fi`, `sv` or `en`.
    pub language: String,
    /// Where it stands.
    pub state: RequestState,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// The due date in force at the last change.
    pub due_date: NaiveDate,
    /// The calendar rules that computed it.
    pub calendar_version: String,
    /// The clock it came from (holiday policy, extension, pauses), as the
    /// application's JSON; no free text.
    pub clock: String,
    /// The assurance its types need.
    pub assurance_needed: Assurance,
    /// The best assurance proven so far.
    pub assurance_proven: Option<Assurance>,
    /// For an objection: the purposes objected to.
    pub objection_purposes: Vec<Purpose>,
    /// A refusal waiting for a second registrar's approval.
    pub refusal: Option<RefusalProposal>,
    /// Everything personal, sealed.
    pub details: SealedSecret,
    /// Bumped by every change.
    pub version: u64,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// Who registered it (`None`: the public form).
    pub created_by: Option<UserId>,
    /// When it was answered, refused or withdrawn.
    pub closed_at: Option<DateTime<Utc>>,
    /// When its record may go (closure plus the retention period).
    pub retain_until: Option<DateTime<Utc>>,
}

impl fmt::Debug for RequestRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestRow")
            .field("id", &self.id)
            .field("reference", &self.reference)
            .field("state", &self.state)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A proposed refusal: the legal ground's code, who proposed it and when.
/// Its reasoning is in the sealed details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalProposal {
    /// The ground's code from the application's maintained list.
    pub ground: String,
    /// The registrar who proposed it.
    pub by: UserId,
    /// When.
    pub at: DateTime<Utc>,
}

/// One identifier a request covers: its blind-index kind and hash, and
/// whether (and how) it is proven to be the requester's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestIdentifierRow {
    /// `phone`, `email`, `customer_number`, `property_id`.
    pub kind: String,
    /// The blind-index hash.
    pub hash: Vec<u8>,
    /// How it was proven, if it was.
    pub proof: Option<IdentifierProof>,
}

/// How an identifier was proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentifierProof {
    /// `code` or `registrar`.
    pub by: String,
    /// A registrar's basis, as a fixed code (e.g. `in_person_check`).
    pub basis: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// An identity check of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationRow {
    /// Its id.
    pub id: Uuid,
    /// How identity was proven.
    pub method: VerificationMethod,
    /// The assurance it gives.
    pub assurance: Assurance,
    /// The registrar who checked (`None` for a code).
    pub verifier: Option<UserId>,
    /// The document shown in person.
    pub document_type: Option<DocumentType>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A one-time code as stored: where it went (kind and blind-index hash)
/// and its keyed hash.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeRow {
    /// `phone` or `email`.
    pub kind: String,
    /// The blind-index hash of the address it was sent to.
    pub address_hash: Vec<u8>,
    /// The code's keyed hash.
    pub code_hash: Vec<u8>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Tries it has.
    pub tries_left: u32,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for CodeRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeRow")
            .field("kind", &self.kind)
            .field("expires_at", &self.expires_at)
            .field("tries_left", &self.tries_left)
            .finish_non_exhaustive()
    }
}

/// One try taken from a code: what to check it against, and the tries it
/// has left after this one.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeTry {
    /// The blind-index hash of the address the code was sent to.
    pub address_hash: Vec<u8>,
    /// The code's keyed hash.
    pub code_hash: Vec<u8>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Tries left after this one.
    pub tries_left: u32,
}

impl fmt::Debug for CodeTry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeTry")
            .field("expires_at", &self.expires_at)
            .field("tries_left", &self.tries_left)
            .finish_non_exhaustive()
    }
}

/// A one-time link that delivers a request's access package to its data
/// subject: the token's keyed hash, the proven address its code goes to
/// (kind and blind-index hash), and its one-time code once one is sent.
#[derive(Clone, PartialEq, Eq)]
pub struct DeliveryLinkRow {
    /// Its id.
    pub id: Uuid,
    /// The request it delivers.
    pub request_id: Uuid,
    /// The token's keyed hash (what a presented token is looked up by).
    pub token_hash: Vec<u8>,
    /// `phone` or `email`: where its code goes.
    pub kind: String,
    /// The blind-index hash of that address.
    pub address_hash: Vec<u8>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// The registrar who made it.
    pub created_by: Option<UserId>,
    /// When the package was downloaded with it.
    pub used_at: Option<DateTime<Utc>>,
    /// When a newer link replaced it.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Its code's keyed hash, once one is sent.
    pub code_hash: Option<Vec<u8>>,
    /// When that code stops working.
    pub code_expires_at: Option<DateTime<Utc>>,
    /// Tries that code has left.
    pub code_tries_left: u32,
}

impl DeliveryLinkRow {
    /// Whether it can still be used at `now`: not used, not revoked, not
    /// expired.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.used_at.is_none() && self.revoked_at.is_none() && now < self.expires_at
    }
}

impl fmt::Debug for DeliveryLinkRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryLinkRow")
            .field("id", &self.id)
            .field("request_id", &self.request_id)
            .field("kind", &self.kind)
            .field("expires_at", &self.expires_at)
            .field("used_at", &self.used_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// An entry of a request's timeline: a kind and non-personal facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestEventRow {
    /// Its id (time-ordered).
    pub id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (`None`: the requester or the system).
    pub actor: Option<UserId>,
    /// E.g. `registered`, `moved`, `verified`.
    pub kind: String,
    /// States, methods, months, a ground's code — never personal data.
    pub detail: serde_json::Value,
}

/// A new request with the identifiers it covers and its first timeline
/// entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    /// The request (version 1; its reference is assigned on insert).
    pub row: RequestRow,
    /// `(kind, blind-index hash)` of each identifier, none proven yet.
    pub identifiers: Vec<(String, Vec<u8>)>,
    /// The `registered` entry.
    pub event: RequestEventRow,
    /// Messages it causes (the receipt), queued in the same transaction.
    pub messages: Vec<NewOutboxMessage>,
}

/// A change to a request: its new row and what goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestUpdate {
    /// The request as it is to be (`version` one more than
    /// `expected_version`).
    pub row: RequestRow,
    /// The version the change was computed from.
    pub expected_version: u64,
    /// An identity check to record.
    pub verification: Option<VerificationRow>,
    /// Identifiers `(kind, hash)` now proven, and how (those proven
    /// already keep their first proof).
    pub proven: Vec<(String, Vec<u8>, IdentifierProof)>,
    /// A code kind whose code is used up.
    pub discard_code: Option<String>,
    /// Timeline entries.
    pub events: Vec<RequestEventRow>,
    /// Messages it causes (a notice to the requester), queued in the same
    /// transaction.
    pub messages: Vec<NewOutboxMessage>,
    /// Restrictions and objections it makes or lifts (DSR-4).
    pub limits: LimitChanges,
}

/// An earlier version of a contact's document, kept by a rectification
/// (DSR-4): the document it replaced, still sealed under its own data key
/// (wrapped with the contact's id as associated data, as in `contacts`),
/// and the names — never the values — of the fields that changed.
#[derive(Clone, PartialEq, Eq)]
pub struct ContactHistoryRow {
    /// Its id (time-ordered).
    pub id: Uuid,
    /// The contact.
    pub contact_id: ContactId,
    /// The request that asked for the change.
    pub request_id: Uuid,
    /// When the change was made.
    pub changed_at: DateTime<Utc>,
    /// The registrar who made it.
    pub changed_by: UserId,
    /// The replaced document, sealed.
    pub sealed_document: Vec<u8>,
    /// Its wrapped data key.
    pub document_key: Vec<u8>,
    /// The changed fields' names, e.g. `customer.phone`.
    pub changed_fields: Vec<String>,
}

impl fmt::Debug for ContactHistoryRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContactHistoryRow")
            .field("id", &self.id)
            .field("contact_id", &self.contact_id)
            .field("request_id", &self.request_id)
            .field("changed_fields", &self.changed_fields)
            .finish_non_exhaustive()
    }
}

/// A rectification of a contact (DSR-4), applied in one transaction: the
/// new sealed document and key, the blind-index entries replaced, the
/// replaced document kept in `contact_history`, the request's timeline
/// entry.
#[derive(Clone, PartialEq, Eq)]
pub struct Rectification {
    /// The sealed document the change was computed from: the change
    /// applies only if it is still the contact's.
    pub expected_document: Vec<u8>,
    /// The new document, sealed.
    pub sealed_document: Vec<u8>,
    /// Its wrapped data key.
    pub document_key: Vec<u8>,
    /// The new document's blind-index entries (they replace all the
    /// contact's entries).
    pub index: Vec<IndexEntry>,
    /// The replaced version (its `sealed_document` and `document_key` are
    /// the contact's as read).
    pub history: ContactHistoryRow,
    /// The request's timeline entry.
    pub event: RequestEventRow,
}

impl fmt::Debug for Rectification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rectification")
            .field("history", &self.history)
            .finish_non_exhaustive()
    }
}

/// Data-subject requests, on either database.
#[async_trait]
pub trait RequestStore: Send + Sync {
    /// Stores a new request with its identifiers, its first timeline entry
    /// and `audit`, and returns the reference it was given: the next free
    /// `DSR-{year}-NNNNNN` (numbered in commit order; unique by
    /// constraint).
    async fn insert_request(
        &self,
        new: &NewRequest,
        year: i32,
        audit: &NewAuditEvent,
    ) -> Result<String>;

    /// The request with this id.
    async fn request(&self, id: &Uuid) -> Result<Option<RequestRow>>;

    /// Every open request (not answered, refused or withdrawn), by stored
    /// due date, at most `limit`.
    async fn open_requests(&self, limit: u32) -> Result<Vec<RequestRow>>;

    /// Other requests than `except` received in `[from, to]` that cover
    /// any of `identifiers` (`(kind, blind-index hash)`, proven or not),
    /// oldest first, at most `limit`: the candidates for a duplicate.
    async fn requests_sharing_identifiers(
        &self,
        except: &Uuid,
        identifiers: &[(String, Vec<u8>)],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<RequestRow>>;

    /// How many requests the register holds.
    async fn count_requests(&self) -> Result<u64>;

    /// A request's identifiers.
    async fn request_identifiers(&self, id: &Uuid) -> Result<Vec<RequestIdentifierRow>>;

    /// A request's identity checks, oldest first.
    async fn request_verifications(&self, id: &Uuid) -> Result<Vec<VerificationRow>>;

    /// A request's timeline, oldest first.
    async fn request_events(&self, id: &Uuid) -> Result<Vec<RequestEventRow>>;

    /// Applies `update` with `audit`, in one transaction.
    /// [`Error::Conflict`](crate::Error::Conflict) if the request changed
    /// since `expected_version` was read, [`Error::NotFound`](crate::Error::NotFound)
    /// if it does not exist.
    async fn update_request(&self, update: &RequestUpdate, audit: &[NewAuditEvent]) -> Result<()>;

    /// Adds `event` to a request's timeline with the `messages` it causes
    /// and `audit`, without changing the request itself (its version
    /// stays, so a registrar's change in flight is not disturbed): a
    /// deadline reminder. [`Error::NotFound`](crate::Error::NotFound) if the
    /// request does not exist.
    async fn note_request(
        &self,
        request: &Uuid,
        event: &RequestEventRow,
        messages: &[NewOutboxMessage],
        audit: &NewAuditEvent,
    ) -> Result<()>;

    /// Closed requests whose record is due to go (`retain_until <= now`),
    /// as `(id, reference)`, soonest first, at most `limit`.
    async fn expired_requests(&self, now: DateTime<Utc>, limit: u32)
    -> Result<Vec<(Uuid, String)>>;

    /// Deletes a request whose record is due to go (`retain_until <= now`)
    /// with everything it holds (identifiers, checks, codes, timeline), and
    /// appends `audit`. `false` (and nothing written) if there is no such
    /// request — gone already, or not due.
    async fn delete_request(
        &self,
        id: &Uuid,
        now: DateTime<Utc>,
        audit: &NewAuditEvent,
    ) -> Result<bool>;

    /// Stores a request's new code of its kind (replacing the one it had)
    /// with the message carrying it, a timeline entry and `audit`.
    async fn put_code(
        &self,
        request: &Uuid,
        code: &CodeRow,
        message: Option<&NewOutboxMessage>,
        event: &RequestEventRow,
        audit: &NewAuditEvent,
    ) -> Result<()>;

    /// Takes one try of the request's code of `kind`, with `audit`: `None`
    /// (and nothing written, `audit` neither) if it has none or none with
    /// tries left. One statement decides, so of
    /// any number of parallel tries at most `tries_left` get one.
    async fn take_code_try(
        &self,
        request: &Uuid,
        kind: &str,
        audit: &NewAuditEvent,
    ) -> Result<Option<CodeTry>>;

    /// Discards the request's code of `kind` (expired or out of tries)
    /// with a timeline entry and `audit`.
    async fn discard_code(
        &self,
        request: &Uuid,
        kind: &str,
        event: &RequestEventRow,
        audit: &NewAuditEvent,
    ) -> Result<()>;

    /// Applies a rectification with `audit`, in one transaction.
    /// [`Error::Conflict`](crate::Error::Conflict) (`"contact version"`)
    /// if the contact's document is no longer `expected_document` (another
    /// change won; read it again), [`Error::NotFound`](crate::Error::NotFound)
    /// if the contact does not exist or is erased.
    async fn rectify_contact(
        &self,
        rectification: &Rectification,
        audit: &[NewAuditEvent],
    ) -> Result<()>;

    /// A contact's earlier versions, oldest first.
    async fn contact_history(&self, contact: &ContactId) -> Result<Vec<ContactHistoryRow>>;
    /// Stores a new delivery link of `link.request_id`, revoking (at
    /// `link.created_at`) every older link of it not yet used, with the
    /// message carrying it, a timeline entry and `audit`.
    async fn put_delivery_link(
        &self,
        link: &DeliveryLinkRow,
        message: &NewOutboxMessage,
        event: &RequestEventRow,
        audit: &NewAuditEvent,
    ) -> Result<()>;

    /// The delivery link whose token has this keyed hash, live or not.
    async fn delivery_link(&self, token_hash: &[u8]) -> Result<Option<DeliveryLinkRow>>;

    /// Gives the live (at `now`) link `link` a new code (replacing any it
    /// had) with the message carrying it and `audit`; `false` (and nothing
    /// written) if the link is no longer live.
    async fn put_link_code(
        &self,
        link: &Uuid,
        code: &CodeRow,
        now: DateTime<Utc>,
        message: &NewOutboxMessage,
        audit: &NewAuditEvent,
    ) -> Result<bool>;

    /// Takes one try of a live link's code, with `audit`, as
    /// [`RequestStore::take_code_try`] does: `None` (nothing written) if
    /// it has no code with tries left, or is used or revoked.
    async fn take_link_code_try(
        &self,
        link: &Uuid,
        audit: &NewAuditEvent,
    ) -> Result<Option<CodeTry>>;

    /// Discards a link's code (expired or out of tries) with `audit`.
    async fn discard_link_code(&self, link: &Uuid, audit: &NewAuditEvent) -> Result<()>;

    /// Marks the link used at `now` — only if it is live then — with the
    /// release's timeline entry and audit events, in one transaction:
    /// `false` (and nothing written) if it was not live, so of parallel
    /// downloads exactly one gets `true`.
    async fn use_delivery_link(
        &self,
        link: &Uuid,
        now: DateTime<Utc>,
        event: &RequestEventRow,
        audit: &[NewAuditEvent],
    ) -> Result<bool>;
}
