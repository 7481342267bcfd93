//! Group commit's store half: several independent writes — from concurrent
//! uploads, each with its audit event, and concurrent reads' audit events —
//! in **one** transaction, so they
//! share one commit (one WAL fsync on SQLite, one flush on PostgreSQL)
//! instead of queueing for the write lock one commit each.
//!
//! Each write runs inside a savepoint of its own: a write that fails (a
//! constraint, a missing pending row) is rolled back to its savepoint and
//! answered with its own error, and the others go on. The audit events of
//! the writes that succeeded are appended after all of them, in the writes'
//! order, by the same bulk append every audited write uses, and then the
//! transaction commits. If the append or the commit fails, nothing of the
//! group is stored and every write in it fails
//! ([`ContactStore::write_group`](crate::ContactStore::write_group)'s outer
//! error): no caller may acknowledge what the shared commit lost.
//!
//! This module does not decide *which* writes share a transaction or when
//! it runs; that is `kirjuri-app`'s `group_commit` (a queue drained by
//! whoever holds the commit turn).

use crate::model::{CommitOutcome, ContactRow, IndexEntry, InsertOutcome, NewAuditEvent};
use crate::model::{ObjectRow, PendingObject};

/// One write of a group. Owned, so it can wait in a queue for its turn.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "a queue element, one per upload in flight, moved once; boxing would only add an allocation"
)]
pub enum GroupWrite {
    /// [`ContactStore::insert_contact`](crate::ContactStore::insert_contact):
    /// the contact, its blind-index entries and its audit event (appended
    /// only if the contact is new).
    InsertContact {
        /// The row.
        contact: ContactRow,
        /// Its blind-index entries.
        index: Vec<IndexEntry>,
        /// `contact.created`.
        audit: NewAuditEvent,
    },
    /// [`ContactStore::begin_object`](crate::ContactStore::begin_object) for
    /// each, all or none (a recording and its waveform begin together).
    BeginObjects(Vec<PendingObject>),
    /// [`ContactStore::commit_object`](crate::ContactStore::commit_object),
    /// and — only if that object committed — an object derived from it
    /// (a recording's waveform), in a savepoint of its own: a derived
    /// object that cannot be committed never fails its source.
    CommitObject {
        /// The uploaded object.
        object: ObjectRow,
        /// Its audit event (appended only if it committed).
        audit: NewAuditEvent,
        /// The derived object and its audit event, if there is one.
        derived: Option<(ObjectRow, NewAuditEvent)>,
    },
    /// An audit event of its own ([`AuditStore::append_audit`]
    /// (crate::AuditStore::append_audit) without its sequence number): a
    /// read's, a refusal's, … Concurrent readers share their commit as
    /// uploads do, so a read's audit append does not queue for the write
    /// lock one fsync at a time.
    Audit(NewAuditEvent),
}

/// What one [`GroupWrite`] did, once the group committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupOutcome {
    /// What [`GroupWrite::InsertContact`] did.
    Contact(InsertOutcome),
    /// [`GroupWrite::BeginObjects`]: the pending rows are stored.
    Begun,
    /// What [`GroupWrite::CommitObject`] did to the object, and whether its
    /// derived object committed too (`false` when there was none, when the
    /// object was not committed, or when the derived one failed: its
    /// caller then discards the derived upload).
    Object {
        /// The object's outcome.
        outcome: CommitOutcome,
        /// Whether the derived object committed.
        derived_committed: bool,
    },
    /// [`GroupWrite::Audit`]: the event is appended.
    Audited,
}
