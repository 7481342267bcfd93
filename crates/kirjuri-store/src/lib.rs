//! Kirjuri's database: the schema, its migrations and every query, behind
//! the [`Store`] trait and its capability traits ([`ContactStore`],
//! [`AccountStore`], [`AuditStore`], [`RetentionStore`], [`Coordination`],
//! [`OutboxStore`]; all in [`prelude`]). [`SqliteStore`] is the embedded default (one file in
//! the data folder); [`PostgresStore`] implements the same traits for a
//! database shared by several nodes, with its own migrations
//! (`migrations/sqlite/`, `migrations/postgres/`). A query that is the same
//! in both dialects is written once, generic over the crate-private
//! `backend::Backend` (contacts, objects, accounts, coordination); what
//! differs stays in each adapter. There is no `Any` driver and no SQL
//! outside this crate.
//!
//! **This crate never sees plaintext personal data.** Everything personal
//! arrives already sealed by the vault (a contact's document, its wrapped
//! data key, an object's wrapped key) or as a keyed blind-index hash
//! (HMAC of a normalised phone number, email, property ID, customer number or
//! name). What is stored in the clear is non-identifying metadata: channel,
//! times, the handling agent's user name, the service queue, retention
//! deadlines, object sizes and digests, and account data (names, roles,
//! password and token hashes).
//!
//! Storage conventions, shared by every backend so a database can move from
//! one to the other:
//! * **Timestamps** are microseconds since the Unix epoch, UTC: `INTEGER` in
//!   SQLite, `timestamptz` in PostgreSQL (also microsecond resolution). They
//!   compare and sort correctly as numbers; a finer instant is truncated
//!   ([`truncate_to_storage`]).
//! * **UUIDs** are the 16 raw bytes: `BLOB` in SQLite, `uuid` in PostgreSQL.
//!   Both order them bytewise, as `uuid::Uuid` does, so newest-first keyset
//!   pagination on `(started_at, id)` agrees everywhere.
//! * **JSON** (`media`, audit `details`) is text checked with `json_valid` in
//!   SQLite, `jsonb` in PostgreSQL.
//!
//! Invariants:
//! * Every write through the trait commits together with the audit event that
//!   records it, or not at all.
//! * The audit log is append-only in the schema itself (triggers refuse
//!   `UPDATE` and `DELETE`).
//! * Uniqueness (external ids, one object per contact and kind, user names,
//!   token hashes) is enforced by constraints, so it holds across processes
//!   and, later, across nodes.
//!
//! What this crate is not: it does not validate domain values (core does),
//! encrypt or hash (the vault does), decide access (core's access decision)
//! or read the clock (every timestamp is a parameter).

mod accounts;
mod accounts_sql;
mod audit_sql;
mod audited;
mod backend;
mod codec;
mod contacts_sql;
mod coordination;
pub mod copy;
pub mod disclosures;
mod error;
mod group;
pub mod incidents;
pub mod limits;
mod model;
pub mod notices;
mod outbox;
mod postgres;
mod preferences;
pub mod recipients;
pub mod requests;
mod requests_sql;
mod retention;
mod retention_sql;
mod sqlite;
pub mod statistics;
mod store;
pub mod surveys;

/// Every store trait, for callers that call their methods (on a `dyn
/// Store`, say): `use kirjuri_store::prelude::*;` is the one import they
/// need. Only traits are here — no types — so the glob cannot shadow a
/// caller's own names (STYLE 7 bans glob preludes of items in general; a
/// trait prelude, like `std::io::prelude`, is the exception it allows).
pub mod prelude {
    pub use crate::coordination::Coordination;
    pub use crate::disclosures::DisclosureStore;
    pub use crate::incidents::IncidentStore;
    pub use crate::limits::LimitStore;
    pub use crate::notices::NoticeStore;
    pub use crate::outbox::OutboxStore;
    pub use crate::recipients::RecipientStore;
    pub use crate::requests::RequestStore;
    pub use crate::retention::RetentionStore;
    pub use crate::statistics::StatisticsStore;
    pub use crate::store::{AccountStore, AuditStore, ContactStore, Store};
    pub use crate::surveys::SurveyStore;
}

pub use coordination::Coordination;
pub use error::{Error, Result};
pub use group::{GroupOutcome, GroupWrite};
pub use model::SessionPreferences;
pub use model::{AuditCheckpointRow, AuditFilter, AuditLeaf, StoredAuditEvent};
pub use model::{
    AuditRecord, CommitOutcome, ContactFilter, ContactRow, IndexEntry, InsertOutcome,
    NewAuditEvent, ObjectRow, PendingObject, TokenRow, UserRow, truncate_to_storage,
};
pub use model::{FailedLogin, SealedSecret, SessionCutoff, SessionRow, TotpRow, UserUpdate};
pub use outbox::{
    ClaimedMessage, NewOutboxMessage, OutboxChannel, OutboxClaim, OutboxEntry, OutboxState,
    OutboxStore, Settlement,
};
pub use postgres::PostgresStore;
pub use requests::RequestStore;
pub use retention::{
    Deadline, DeadlineChange, ExpiredContact, ExpiredObject, HoldLift, HoldRow, HoldSummary,
    HoldTarget, RetentionStore, Shred, ShredMode, StepMarks, TombstoneRow, TombstoneStep,
};
pub use sqlite::{SnapshotContents, SqliteExport, SqliteStore};
pub use store::{AccountStore, AuditStore, ContactStore, Store};
