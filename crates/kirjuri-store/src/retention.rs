//! Retention in the database (RET-1…RET-3, SEC-2's crypto-shredding): legal
//! holds and their targets, the purge's queries and its one-way steps, and
//! tombstones — the proof of what was destroyed, when and under which rule.
//!
//! The purge of an object has four steps, each idempotent, so a run killed at
//! any point is completed by the next one:
//! 1. [`RetentionStore::shred_objects`] — in one transaction: re-checks that
//!    the object is still expired and unheld, deletes its row (the wrapped
//!    data key: from here on every copy of the object, in backups too, is
//!    unreadable), writes its tombstone and the audit event;
//! 2. the caller appends the tombstone to the erasure ledger (outside the
//!    database), then [`RetentionStore::mark_tombstones`] with
//!    [`TombstoneStep::Ledgered`];
//! 3. the caller deletes the object's bytes from object storage, then marks
//!    [`TombstoneStep::StorageDeleted`];
//! 4. once a contact has no objects left and its own deadline has passed,
//!    [`RetentionStore::erase_contacts`] clears its sealed document and its
//!    wrapped document key, removes its blind-index entries and leaves a
//!    tombstone of kind `"contact"` (steps 2 applies to it as well).
//!
//! [`RetentionStore::unfinished_tombstones`] is what a restarted purge reads
//! to finish steps 2 and 3.
//!
//! A hold is *active* at `now` when it is not lifted and its `expires_at` is
//! absent or after `now`. An object is *held* when an active hold has a
//! target naming its contact as a whole, the object itself, or the object's
//! source (derived artefacts such as waveform peaks follow their recording).
//! A contact is held when any active hold targets it or any of its objects.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kirjuri_core::ids::{ContactId, ObjectId, UserId};
use uuid::Uuid;

use crate::error::Result;
use crate::model::{ContactRow, NewAuditEvent, ObjectRow};

/// A legal hold (RET-2). Its text fields are references (a statute section,
/// a contract clause, a case number) written by staff, not personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRow {
    /// The hold's id.
    pub id: Uuid,
    /// `statute`, `contract`, `complaint`, `case` or `authority_request`.
    pub ground_kind: String,
    /// The ground itself: the reference that justifies keeping the data.
    pub ground: String,
    /// The account answerable for the hold.
    pub owner: UserId,
    /// When the hold must be reviewed (a Helsinki midnight).
    pub review_by: DateTime<Utc>,
    /// When the hold ends by itself, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// What the hold was placed on, as given (`{"contact": id}`,
    /// `{"object": id}`, or `{"query": {...}}` — a query is described by
    /// its kinds and dates, never by an identifier's value).
    pub scope: serde_json::Value,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// Who placed it.
    pub created_by: UserId,
    /// When it was lifted, if it was.
    pub lifted_at: Option<DateTime<Utc>>,
    /// Who lifted it.
    pub lifted_by: Option<UserId>,
    /// Why it was lifted.
    pub lift_reason: Option<String>,
    /// When its owner was last reminded of the review date.
    pub reminded_at: Option<DateTime<Utc>>,
}

impl HoldRow {
    /// Whether the hold keeps data at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.lifted_at.is_none() && self.expires_at.is_none_or(|end| end > now)
    }
}

/// A hold and how many targets it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldSummary {
    /// The hold.
    pub hold: HoldRow,
    /// How many targets it has.
    pub targets: u64,
}

/// One thing a hold keeps: a whole contact (`object: None`) or one object
/// of it (and whatever is derived from that object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HoldTarget {
    /// The contact.
    pub contact_id: ContactId,
    /// The object, or `None` for everything of the contact.
    pub object_id: Option<ObjectId>,
}

/// Lifting a hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldLift {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub by: UserId,
    /// Why (required).
    pub reason: String,
}

/// Proof that something was destroyed: what, of which contact, under which
/// rule, when, and the digest it had. Outlives everything it describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TombstoneRow {
    /// The object's id, or the contact's id for a contact's own document.
    pub id: Uuid,
    /// The contact it belonged to.
    pub contact_id: ContactId,
    /// The object's kind (`recording`, `waveform`, …) or `contact`.
    pub kind: String,
    /// The rule that destroyed it, e.g. `call_recording: 12 months (privacy
    /// notice §12)`, or `ledger replay`.
    pub rule: String,
    /// Why: `retention`, `erasure_request` or `ledger_replay`.
    pub reason: String,
    /// The object's SHA-256 (lowercase hex); `None` for a contact.
    pub sha256: Option<String>,
    /// The deadline it had.
    pub retain_until: DateTime<Utc>,
    /// When its key was destroyed.
    pub deleted_at: DateTime<Utc>,
    /// When it was written to the erasure ledger.
    pub ledgered_at: Option<DateTime<Utc>>,
    /// When its bytes were deleted from object storage (for a contact: the
    /// same as `deleted_at`, there are no bytes elsewhere).
    pub storage_deleted_at: Option<DateTime<Utc>>,
}

/// A step of the purge after the key is destroyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TombstoneStep {
    /// Appended to the erasure ledger.
    Ledgered,
    /// Bytes deleted from object storage.
    StorageDeleted,
}

/// Steps done for some tombstones, to record ([`RetentionStore::mark_tombstones`],
/// or with a later batch's destruction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepMarks {
    /// The tombstones' ids.
    pub ids: Vec<Uuid>,
    /// The steps done for every one of them.
    pub steps: Vec<TombstoneStep>,
    /// When they were done.
    pub at: DateTime<Utc>,
}

/// An expired object as the purge lists it: what its tombstone, audit event
/// and report line name, and nothing more. Not an [`ObjectRow`]: a
/// purge lists a million of these, and decoding each one's wrapped key,
/// media facts and sizes only to drop them was a tenth of its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredObject {
    /// The object's id.
    pub id: ObjectId,
    /// The contact it belongs to.
    pub contact_id: ContactId,
    /// What it is, e.g. `"recording"`.
    pub kind: String,
    /// SHA-256 of its plaintext, lowercase hex.
    pub sha256: String,
    /// Its retention deadline.
    pub retain_until: DateTime<Utc>,
    /// The object it was derived from, if any.
    pub source: Option<ObjectId>,
}

impl From<&ObjectRow> for ExpiredObject {
    fn from(row: &ObjectRow) -> Self {
        Self {
            id: row.id,
            contact_id: row.contact_id,
            kind: row.kind.clone(),
            sha256: row.sha256.clone(),
            retain_until: row.retain_until,
            source: row.source,
        }
    }
}

/// A contact the purge erases, as it lists it: its id and deadline, not
/// its sealed document (see [`ExpiredObject`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiredContact {
    /// The contact's id.
    pub id: ContactId,
    /// Its retention deadline.
    pub retain_until: DateTime<Utc>,
}

impl From<&ContactRow> for ExpiredContact {
    fn from(row: &ContactRow) -> Self {
        Self {
            id: row.id,
            retain_until: row.retain_until,
        }
    }
}

/// One object or contact to destroy, with its tombstone and audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shred {
    /// The tombstone to leave (its `id` names what to destroy).
    pub tombstone: TombstoneRow,
    /// The audit event recording it.
    pub audit: NewAuditEvent,
}

/// What a shred re-checks inside its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShredMode {
    /// Only what is still expired (`retain_until <= now`) and unheld at
    /// `now` — the purge. Anything else in the batch is skipped.
    Expired {
        /// The purge's instant.
        now: DateTime<Utc>,
    },
    /// Everything named that still exists — replaying the erasure ledger
    /// after a restore, where the erasure already happened once.
    Forced,
    /// Whatever is unheld at `now`, whatever its deadline — a data
    /// subject's erasure request (DSR-4). A contact is erased only once it
    /// has no objects left, as in `Expired`.
    Unheld {
        /// The erasure's instant.
        now: DateTime<Utc>,
    },
}

impl ShredMode {
    /// The instant at which the deadline must have passed, if this mode
    /// checks deadlines.
    pub(crate) fn deadline(self) -> Option<DateTime<Utc>> {
        match self {
            ShredMode::Expired { now } => Some(now),
            ShredMode::Forced | ShredMode::Unheld { .. } => None,
        }
    }

    /// The instant at which no hold may keep what is destroyed, if this
    /// mode checks holds (and, for a contact, that no object is left).
    pub(crate) fn unheld_at(self) -> Option<DateTime<Utc>> {
        match self {
            ShredMode::Expired { now } | ShredMode::Unheld { now } => Some(now),
            ShredMode::Forced => None,
        }
    }
}

/// A deadline coming up (`GET /api/v1/retention`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadline {
    /// The object's id, or the contact's for its document.
    pub id: Uuid,
    /// The contact.
    pub contact_id: ContactId,
    /// The object's kind or `contact`.
    pub kind: String,
    /// The deadline.
    pub retain_until: DateTime<Utc>,
    /// Whether an active hold keeps it past the deadline.
    pub held: bool,
}

/// Lowering one deadline after a policy change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlineChange {
    /// The object's id, or the contact's id (with `contact: true`).
    pub id: Uuid,
    /// Whether `id` is a contact.
    pub contact: bool,
    /// The new deadline; applied only if earlier than the stored one.
    pub retain_until: DateTime<Utc>,
}

/// The retention side of the database; every [`Store`](crate::Store) is one.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    // --- legal holds (RET-2) ------------------------------------------

    /// Places a hold on `targets` with `audit`, in one transaction.
    /// [`Error::NotFound`](crate::Error::NotFound) if a target's contact or
    /// object does not exist; a target repeated is stored once. Any number
    /// of targets.
    async fn insert_hold(
        &self,
        hold: &HoldRow,
        targets: &[HoldTarget],
        audit: &NewAuditEvent,
    ) -> Result<()>;

    /// The hold with this id, with its target count.
    async fn hold(&self, id: &Uuid) -> Result<Option<HoldSummary>>;

    /// Holds active at `active_at`, or every hold ever placed when `None`;
    /// by review date, then id.
    async fn holds(&self, active_at: Option<DateTime<Utc>>) -> Result<Vec<HoldSummary>>;

    /// Up to `limit` targets of a hold after `after`, in `HoldTarget` order.
    async fn hold_targets(
        &self,
        id: &Uuid,
        after: Option<HoldTarget>,
        limit: u32,
    ) -> Result<Vec<HoldTarget>>;

    /// Every hold (active or not) with a target in this contact.
    async fn holds_for_contact(&self, contact: &ContactId) -> Result<Vec<HoldRow>>;

    /// Lifts a hold with `audit`. `false` (nothing written) if it was already
    /// lifted; [`Error::NotFound`](crate::Error::NotFound) for an unknown id.
    async fn lift_hold(&self, id: &Uuid, lift: &HoldLift, audit: &NewAuditEvent) -> Result<bool>;

    /// Moves a hold's review date (and clears `reminded_at`) with `audit`.
    /// [`Error::NotFound`](crate::Error::NotFound) for an unknown id.
    async fn set_hold_review(
        &self,
        id: &Uuid,
        review_by: DateTime<Utc>,
        audit: &NewAuditEvent,
    ) -> Result<()>;

    /// Records that a hold's owner was reminded, with `audit`.
    async fn mark_hold_reminded(
        &self,
        id: &Uuid,
        at: DateTime<Utc>,
        audit: &NewAuditEvent,
    ) -> Result<()>;

    // --- the purge (RET-3) --------------------------------------------

    /// Up to `limit` committed objects with `retain_until <= now` that no
    /// hold active at `now` keeps, by `(retain_until, id)` — most overdue
    /// first — strictly after the keyset `after` (pass the last row's
    /// `(retain_until, id)`). Deadline order, not id order, is what lets the
    /// deadline index drive the query: a page costs what it returns, whether
    /// few or millions of objects are expired.
    async fn expired_objects(
        &self,
        now: DateTime<Utc>,
        after: Option<(DateTime<Utc>, ObjectId)>,
        limit: u32,
    ) -> Result<Vec<ExpiredObject>>;

    /// Up to `limit` contacts, by `(retain_until, id)` strictly after the
    /// keyset `after` (as for [`RetentionStore::expired_objects`]), that the
    /// purge erases at `now`: not yet erased, `retain_until <= now`, no hold active at `now`
    /// targets them, no upload pending, and every object they still have
    /// is itself expired and unheld at `now` (so a purge at `now` takes the
    /// objects first and then the contact — a dry run lists exactly that).
    async fn expired_contacts(
        &self,
        now: DateTime<Utc>,
        after: Option<(DateTime<Utc>, ContactId)>,
        limit: u32,
    ) -> Result<Vec<ExpiredContact>>;

    /// Destroys objects' wrapped keys: for each shred (by `tombstone.id`),
    /// in one transaction, if the object still exists and `mode` allows,
    /// deletes its row, inserts the tombstone and appends the audit event.
    /// Returns the ids destroyed, in input order; the rest were skipped
    /// (already gone, no longer expired, held).
    async fn shred_objects(&self, shreds: &[Shred], mode: ShredMode) -> Result<Vec<ObjectId>>;

    /// [`RetentionStore::shred_objects`], recording `marks` (an earlier
    /// batch's steps) in the same transaction: the purge's one commit per
    /// batch. If it fails, neither is done.
    async fn shred_objects_marking(
        &self,
        shreds: &[Shred],
        mode: ShredMode,
        marks: &[StepMarks],
    ) -> Result<Vec<ObjectId>>;

    /// Erases contacts' documents: for each shred (by `tombstone.id`, the
    /// contact id), in one transaction, if the contact is not yet erased and
    /// `mode` allows (for `Expired`, the conditions of
    /// [`RetentionStore::expired_contacts`] with no objects left at all),
    /// empties `sealed_document` and `document_key`, deletes its index
    /// entries and its earlier versions (`contact_history`, kept by
    /// rectifications), inserts the tombstone and appends the audit event. The row
    /// keeps its id, external id, channel, times, agent and service, so a
    /// redelivery still finds it. Returns the ids erased.
    async fn erase_contacts(&self, shreds: &[Shred], mode: ShredMode) -> Result<Vec<ContactId>>;

    /// [`RetentionStore::erase_contacts`] for the purge's batches, recording
    /// `marks` in the same transaction, as
    /// [`RetentionStore::shred_objects_marking`] does — except that the
    /// erased contacts' index entries are queued for
    /// [`RetentionStore::sweep_erased_index`] instead of deleted: a batch's
    /// entries are scattered over the whole blind index, and deleting them
    /// batch by batch rewrote most of its pages for every batch. Until
    /// swept they are dead: every query that finds contacts by an index
    /// entry leaves erased contacts out. The caller sweeps before it ends.
    async fn erase_contacts_marking(
        &self,
        shreds: &[Shred],
        mode: ShredMode,
        marks: &[StepMarks],
    ) -> Result<Vec<ContactId>>;

    /// Deletes the index entries of up to `contacts` queued erased contacts
    /// (lowest ids first) in one transaction and takes them off the queue;
    /// how many contacts it took (0: the queue is empty). Idempotent and
    /// safe beside any other writer.
    async fn sweep_erased_index(&self, contacts: u32) -> Result<u64>;

    /// Up to `limit` tombstones with a step still to do, oldest first.
    async fn unfinished_tombstones(&self, limit: u32) -> Result<Vec<TombstoneRow>>;

    /// Records that each of `steps` is done for these tombstones, all in
    /// one statement per chunk (the purge marks a batch's two steps
    /// together). A step already marked keeps the time it was first done.
    async fn mark_tombstones(
        &self,
        ids: &[Uuid],
        steps: &[TombstoneStep],
        at: DateTime<Utc>,
    ) -> Result<()>;

    /// The tombstones of a contact's objects and of the contact itself.
    async fn tombstones_for_contact(&self, contact: &ContactId) -> Result<Vec<TombstoneRow>>;

    /// The tombstone with this id.
    async fn tombstone(&self, id: &Uuid) -> Result<Option<TombstoneRow>>;

    /// How many tombstones there are.
    async fn count_tombstones(&self) -> Result<u64>;

    /// After destroying keys: makes sure no copy of a deleted row lingers in
    /// the database's own files (SQLite: checkpoints and truncates the
    /// write-ahead log, whose frames still hold the deleted pages). Backends
    /// with nothing to do keep this default.
    async fn flush_erasures(&self) -> Result<()> {
        Ok(())
    }

    // --- visibility and policy changes ----------------------------------

    /// Up to `limit` deadlines in `(from, until]` — objects, and contacts
    /// not yet erased — by deadline then id, each marked held or not at
    /// `from`.
    async fn upcoming_deadlines(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Deadline>>;

    /// Lowers deadlines after an explicit policy change, with `audit`, in
    /// one transaction. A change that would not lower a deadline is skipped:
    /// deadlines never move later through this. A row named more than once
    /// takes the earliest of its new deadlines. Returns how many rows
    /// changed.
    async fn shorten_deadlines(
        &self,
        changes: &[DeadlineChange],
        audit: &[NewAuditEvent],
    ) -> Result<u64>;
}

// --- what the adapters decide alike (their SQL differs, this does not) ---

/// `targets` sorted and without repeats: an adapter inserts every row of a
/// chunk, so a shortfall means exactly "a target does not exist".
pub(crate) fn distinct_targets(targets: &[HoldTarget]) -> Vec<HoldTarget> {
    targets
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The first shred of each id, in input order.
pub(crate) fn first_of_each(shreds: &[Shred]) -> Vec<&Shred> {
    let mut seen = HashSet::with_capacity(shreds.len());
    shreds
        .iter()
        .filter(|shred| seen.insert(shred.tombstone.id))
        .collect()
}

/// The shreds whose ids are in `done`, in input order, each once.
pub(crate) fn in_input_order<'a>(shreds: &'a [Shred], done: &HashSet<Uuid>) -> Vec<&'a Shred> {
    let mut seen = HashSet::with_capacity(done.len());
    shreds
        .iter()
        .filter(|shred| done.contains(&shred.tombstone.id) && seen.insert(shred.tombstone.id))
        .collect()
}

/// The tombstone an erased contact leaves. A contact's document lives
/// nowhere else: its tombstone is born with the storage step done, and is
/// never a digest of anything.
pub(crate) fn contact_tombstone(shred: &Shred) -> TombstoneRow {
    TombstoneRow {
        kind: "contact".into(),
        sha256: None,
        storage_deleted_at: Some(shred.tombstone.deleted_at),
        ..shred.tombstone.clone()
    }
}

/// Each row's earliest new deadline, keyed `(is a contact, id)`: a row
/// named twice takes its earliest deadline, and counts once.
pub(crate) fn earliest_deadlines(
    changes: &[DeadlineChange],
) -> BTreeMap<(bool, Uuid), DateTime<Utc>> {
    let mut earliest: BTreeMap<(bool, Uuid), DateTime<Utc>> = BTreeMap::new();
    for change in changes {
        earliest
            .entry((change.contact, change.id))
            .and_modify(|t| *t = (*t).min(change.retain_until))
            .or_insert(change.retain_until);
    }
    earliest
}
