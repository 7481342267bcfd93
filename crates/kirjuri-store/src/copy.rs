//! Moving a whole register from one backend to another (`kirjuri
//! migrate-store`, issue 6): every table read in pages, in one key order
//! shared by all backends, written into an empty target in one transaction,
//! then read back from the target and compared row for row with the source.
//!
//! The [`Store`](crate::Store) trait has no "insert this row as it is"
//! methods, on purpose: its writes mint ids, stamp times and append audit
//! events. A copy must do the opposite — keep every id, time, hash and
//! ciphertext as it is, and above all keep each audit event's sequence
//! number and stored bytes, or the Merkle tree and the signed checkpoints
//! would no longer verify. So a backend offers two more traits here:
//! * [`Export`]: a page of a table's rows strictly after a [`Cursor`], in the
//!   table's key order (ids bytewise, as both backends order `uuid`s;
//!   sequence numbers and sizes numerically; text by its bytes);
//! * [`Import`]: a transaction that takes pages ([`Batch`]) of raw rows and
//!   commits them all at once — a copy stopped part-way leaves the target as
//!   empty as it found it.
//!
//! [`copy_rows`] and [`compare_rows`] drive them; they know no SQL. The
//! row decoders both adapters' pages share ([`contact_records`],
//! [`attach_index`], [`spec_row`]) are written once here, over `Backend`.
//!
//! Two kinds of table. The first ones (accounts … checkpoints) have typed
//! rows and a [`Batch`] variant each, because their rows carry more than
//! one table (a contact its index entries) or are read through the
//! store's own decoders. Every other table is *declared*: a [`TableSpec`]
//! names its columns with a [`ColumnType`] each (id, bytes, text — which
//! holds JSON and dates kept as text —, integer, instant) and its key, and
//! travels as [`Batch::Rows`] of [`Value`]s, read through `Backend`'s typed
//! getters and written by each adapter by type, so no adapter code changes
//! when a table is added. **To add a table to the copy: declare its
//! `TableSpec` constant here and put `Table::Rows(&IT)` in [`Table::ALL`]
//! after every table it refers to.** The outbox and the data-subject
//! requests' five tables are declared so.
//!
//! Not copied ([`NOT_COPIED`], with the reasons): uploads in flight
//! (`pending_objects`), job leases and instance heartbeats (runtime state),
//! and derived query indexes (`audit_refs`). Copied inside another table's
//! pages: [`COPIED_WITH`]. Every table of both migrated schemas must be in
//! one of the three lists — the store tests list `sqlite_master` and
//! `information_schema` and fail otherwise, so a table added by a migration
//! cannot be silently left behind. Outbox claims are copied as they are
//! (see [`OUTBOX`] for why). Object bytes are not this crate's business:
//! the caller copies them between object stores.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::backend::Backend;
use crate::error::Result;
use crate::model::{
    AuditCheckpointRow, ContactRow, IndexEntry, ObjectRow, SessionRow, StoredAuditEvent, TokenRow,
    TotpRow, UserRow,
};
use crate::retention::{HoldRow, HoldTarget, TombstoneRow};

/// One table of the copy. [`Table::ALL`] lists them in an order that never
/// writes a row before the rows it refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// `users`, with each account's UI language.
    Users,
    /// `api_tokens`.
    Tokens,
    /// `user_totp`.
    Totp,
    /// `sessions`, with each session's chosen purpose.
    Sessions,
    /// `contacts` with their blind-index entries (`contact_index`).
    Contacts,
    /// `objects` (rows with wrapped keys; the bytes are copied by the caller).
    Objects,
    /// `legal_holds`.
    Holds,
    /// `legal_hold_targets`.
    HoldTargets,
    /// `tombstones`.
    Tombstones,
    /// `audit_events`, byte for byte with their sequence numbers.
    AuditEvents,
    /// `audit_checkpoints`.
    AuditCheckpoints,
    /// A table copied column for column as its [`TableSpec`] declares.
    Rows(&'static TableSpec),
}

impl Table {
    /// Every table, parents before children. A table declared by a
    /// [`TableSpec`] is added here, after the tables it refers to.
    pub const ALL: [Table; 37] = [
        Table::Users,
        Table::Tokens,
        Table::Totp,
        Table::Sessions,
        Table::Contacts,
        Table::Objects,
        Table::Holds,
        Table::HoldTargets,
        Table::Tombstones,
        Table::AuditEvents,
        Table::AuditCheckpoints,
        Table::Rows(&OUTBOX),
        Table::Rows(&REQUESTS),
        Table::Rows(&REQUEST_IDENTIFIERS),
        Table::Rows(&REQUEST_VERIFICATIONS),
        Table::Rows(&REQUEST_CODES),
        Table::Rows(&REQUEST_EVENTS),
        Table::Rows(&DELIVERY_LINKS),
        Table::Rows(&NOTICE_VERSIONS),
        Table::Rows(&SUBJECT_LIMITS),
        Table::Rows(&SUBJECT_LIMIT_IDENTIFIERS),
        Table::Rows(&RECIPIENTS),
        Table::Rows(&CONTACT_HISTORY),
        Table::Rows(&INCIDENTS),
        Table::Rows(&INCIDENT_UPDATES),
        Table::Rows(&DISCLOSURES),
        Table::Rows(&DISCLOSURE_CONTACTS),
        Table::Rows(&DISCLOSURE_LINKS),
        Table::Rows(&CONTACT_ROLLUPS),
        Table::Rows(&CONTACT_ROLLUP_BACKFILL),
        Table::Rows(&CONTACT_INDEX_SWEEP),
        Table::Rows(&SURVEY_CONFIGS),
        Table::Rows(&SURVEY_INVITATIONS),
        Table::Rows(&SURVEY_RECIPIENTS),
        Table::Rows(&SURVEY_ROLLUPS),
        Table::Rows(&REQUEST_ROLLUPS),
        Table::Rows(&DISCLOSURE_ROLLUPS),
    ];

    /// The table's name in both schemas.
    pub fn name(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Tokens => "api_tokens",
            Table::Totp => "user_totp",
            Table::Sessions => "sessions",
            Table::Contacts => "contacts",
            Table::Objects => "objects",
            Table::Holds => "legal_holds",
            Table::HoldTargets => "legal_hold_targets",
            Table::Tombstones => "tombstones",
            Table::AuditEvents => "audit_events",
            Table::AuditCheckpoints => "audit_checkpoints",
            Table::Rows(spec) => spec.name,
        }
    }
}

/// How a column of a [`TableSpec`] is read and written: the same Rust value
/// on both backends, whatever each stores. Every column may be NULL (the
/// target's schema says which may not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ColumnType {
    /// An id: a 16-byte blob in SQLite, `uuid` in PostgreSQL.
    Id,
    /// Bytes (ciphertext, wrapped keys, hashes): `BLOB` / `bytea`.
    Bytes,
    /// Text, JSON kept as text, and dates kept as text (`YYYY-MM-DD`):
    /// `TEXT` / `text`, byte for byte. (A `jsonb` column would need a type
    /// of its own: PostgreSQL normalises it.)
    Text,
    /// A 64-bit integer (states' versions, counts): `INTEGER` / `bigint`.
    Int,
    /// An instant: integer microseconds / `timestamptz`.
    Time,
}

/// A table copied as it is declared: its name (the same in both schemas),
/// its primary key (the page order) and every column with its type. Adding
/// a table to the copy is one such constant and its place in [`Table::ALL`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableSpec {
    /// The table's name in both schemas.
    pub name: &'static str,
    /// The primary key's columns, in the order pages follow (ids and
    /// bytes bytewise, text by its bytes, numbers numerically).
    pub key: &'static [&'static str],
    /// Every column, with its type.
    pub columns: &'static [(&'static str, ColumnType)],
}

impl std::fmt::Debug for TableSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl TableSpec {
    /// The positions of the key's columns among the columns.
    fn key_positions(&self) -> impl Iterator<Item = usize> + '_ {
        self.key
            .iter()
            .filter_map(|key| self.columns.iter().position(|(name, _)| name == key))
    }

    /// The type of the column `name`.
    fn column_type(&self, name: &str) -> Option<ColumnType> {
        self.columns
            .iter()
            .find(|(column, _)| *column == name)
            .map(|(_, ty)| *ty)
    }
}

use ColumnType::{Bytes, Id, Int, Text, Time};

/// `outbox`: messages waiting to leave, sealed, copied with their delivery
/// state as it is. A message a dead sender had claimed (`sending`, with its
/// instance id in `claimed_by`) stays claimed: no process on the target has
/// that id, so the claim runs out at `claimed_until` and the delivery job
/// takes the message again (`attempts` + 1), exactly as the source would
/// have. It is not reset to `queued`, which would only send it sooner: a
/// sender that died after handing the message over may have sent it
/// either way, so the copy neither loses a message nor adds a send the
/// source would not have made.
pub const OUTBOX: TableSpec = TableSpec {
    name: "outbox",
    key: &["id"],
    columns: &[
        ("id", Id),
        ("channel", Text),
        ("kind", Text),
        ("wrapped_key", Bytes),
        ("sealed", Bytes),
        ("created_at", Time),
        ("state", Text),
        ("attempts", Int),
        ("next_attempt_at", Time),
        ("claimed_by", Text),
        ("claimed_until", Time),
        ("settled_at", Time),
        ("last_error", Text),
    ],
};

/// `requests`: data-subject requests, with their sealed details, due date
/// (text), clock (JSON text) and version.
pub const REQUESTS: TableSpec = TableSpec {
    name: "requests",
    key: &["id"],
    columns: &[
        ("id", Id),
        ("reference", Text),
        ("types", Text),
        ("channel", Text),
        ("language", Text),
        ("state", Text),
        ("received_at", Time),
        ("due_date", Text),
        ("calendar_version", Text),
        ("clock", Text),
        ("assurance_needed", Text),
        ("assurance_proven", Text),
        ("objection_purposes", Text),
        ("refusal_ground", Text),
        ("refusal_proposed_by", Id),
        ("refusal_proposed_at", Time),
        ("sealed_details", Bytes),
        ("details_key", Bytes),
        ("version", Int),
        ("created_at", Time),
        ("created_by", Id),
        ("closed_at", Time),
        ("retain_until", Time),
    ],
};

/// `request_identifiers`: the identifiers a request covers, as blind-index
/// hashes, proven or not.
pub const REQUEST_IDENTIFIERS: TableSpec = TableSpec {
    name: "request_identifiers",
    key: &["request_id", "kind", "hash"],
    columns: &[
        ("request_id", Id),
        ("kind", Text),
        ("hash", Bytes),
        ("proven_by", Text),
        ("basis", Text),
        ("proven_at", Time),
    ],
};

/// `request_verifications`: a request's identity checks.
pub const REQUEST_VERIFICATIONS: TableSpec = TableSpec {
    name: "request_verifications",
    key: &["id"],
    columns: &[
        ("id", Id),
        ("request_id", Id),
        ("method", Text),
        ("assurance", Text),
        ("verifier", Id),
        ("document_type", Text),
        ("at", Time),
    ],
};

/// `request_codes`: one-time codes still live, as keyed hashes with their
/// tries left (copied, so a requester's code still works after the move).
pub const REQUEST_CODES: TableSpec = TableSpec {
    name: "request_codes",
    key: &["request_id", "kind"],
    columns: &[
        ("request_id", Id),
        ("kind", Text),
        ("address_hash", Bytes),
        ("code_hash", Bytes),
        ("expires_at", Time),
        ("tries_left", Int),
        ("created_at", Time),
    ],
};

/// `request_events`: a request's timeline.
pub const REQUEST_EVENTS: TableSpec = TableSpec {
    name: "request_events",
    key: &["id"],
    columns: &[
        ("id", Id),
        ("request_id", Id),
        ("at", Time),
        ("actor", Id),
        ("kind", Text),
        ("detail", Text),
    ],
};

/// `contact_history`: contacts' earlier versions kept by rectifications,
/// still sealed under their own wrapped keys (after `contacts`, which they
/// refer to).
pub const CONTACT_HISTORY: TableSpec = TableSpec {
    name: "contact_history",
    key: &["id"],
    columns: &[
        ("id", Id),
        ("contact_id", Id),
        ("request_id", Id),
        ("changed_at", Time),
        ("changed_by", Id),
        ("sealed_document", Bytes),
        ("document_key", Bytes),
        ("changed_fields", Text),
    ],
};

/// `delivery_links`: one-time links delivering access packages, as keyed
/// hashes (copied, so a link sent before the move still works after it).
pub const DELIVERY_LINKS: TableSpec = TableSpec {
    name: "delivery_links",
    key: &["id"],
    columns: &[
        ("id", Id),
        ("request_id", Id),
        ("token_hash", Bytes),
        ("kind", Text),
        ("address_hash", Bytes),
        ("expires_at", Time),
        ("created_at", Time),
        ("created_by", Id),
        ("used_at", Time),
        ("revoked_at", Time),
        ("code_hash", Bytes),
        ("code_expires_at", Time),
        ("code_tries_left", Int),
    ],
};

/// `notice_versions`: the privacy notice as published, version by version.
pub const NOTICE_VERSIONS: TableSpec = TableSpec {
    name: "notice_versions",
    key: &["version"],
    columns: &[
        ("version", Text),
        ("published_at", Time),
        ("significant", Int),
        ("note", Text),
        ("content", Text),
    ],
};

/// `subject_limits`: restrictions and objections (they outlive their
/// requests, so nothing here refers to `requests`).
pub const SUBJECT_LIMITS: TableSpec = TableSpec {
    name: "subject_limits",
    key: &["id"],
    columns: &[
        ("id", Id),
        ("request_id", Id),
        ("kind", Text),
        ("purpose", Text),
        ("created_at", Time),
        ("created_by", Id),
        ("lifted_at", Time),
        ("lifted_by", Id),
    ],
};

/// `subject_limit_identifiers`: the blind-index hashes a limit binds.
pub const SUBJECT_LIMIT_IDENTIFIERS: TableSpec = TableSpec {
    name: "subject_limit_identifiers",
    key: &["limit_id", "kind", "hash"],
    columns: &[("limit_id", Id), ("kind", Text), ("hash", Bytes)],
};

/// `recipients`: the recipients register (organisations, DIS-1).
pub const RECIPIENTS: TableSpec = TableSpec {
    name: "recipients",
    key: &["id"],
    columns: &[
        ("id", Id),
        ("name", Text),
        ("kind", Text),
        ("country", Text),
        ("agreement", Text),
        ("purposes", Text),
        ("created_at", Time),
        ("created_by", Id),
        ("removed_at", Time),
    ],
};

/// `contact_rollups`: the statistics' anonymous daily counts (STAT-1),
/// which outlive the contacts they counted.
pub const CONTACT_ROLLUPS: TableSpec = TableSpec {
    name: "contact_rollups",
    key: &["day", "channel", "service", "handling"],
    columns: &[
        ("day", Text),
        ("channel", Text),
        ("service", Text),
        ("handling", Text),
        ("contacts", Int),
    ],
};

/// `contact_rollup_backfill`: the contacts stored before the roll-ups
/// existed and not yet counted; copied, so the target counts them once.
pub const CONTACT_ROLLUP_BACKFILL: TableSpec = TableSpec {
    name: "contact_rollup_backfill",
    key: &["contact_id"],
    columns: &[("contact_id", Id)],
};

/// `contact_index_sweep`: erased contacts whose index entries the purge
/// has still to delete; copied with those entries, so the target's purge
/// deletes them.
pub const CONTACT_INDEX_SWEEP: TableSpec = TableSpec {
    name: "contact_index_sweep",
    key: &["contact_id"],
    columns: &[("contact_id", Id)],
};

/// `survey_configs`: each service's survey settings (SURV-1).
pub const SURVEY_CONFIGS: TableSpec = TableSpec {
    name: "survey_configs",
    key: &["service"],
    columns: &[
        ("service", Text),
        ("enabled", Int),
        ("sample_per_mille", Int),
        ("delay_minutes", Int),
        ("quiet_start", Text),
        ("quiet_end", Text),
        ("period_days", Int),
        ("text_fi", Text),
        ("text_sv", Text),
        ("text_en", Text),
        ("version", Int),
        ("updated_at", Time),
        ("updated_by", Id),
    ],
};

/// `survey_invitations`: invitations with their scores and sealed reply
/// words, by the person's blind-index hash; copied with their state as it
/// is (a scheduled one's outbox message is copied beside it).
pub const SURVEY_INVITATIONS: TableSpec = TableSpec {
    name: "survey_invitations",
    key: &["id"],
    columns: &[
        ("id", Id),
        ("service", Text),
        ("contact_id", Id),
        ("phone_hash", Bytes),
        ("language", Text),
        ("outbox_id", Id),
        ("state", Text),
        ("reason", Text),
        ("created_at", Time),
        ("due_at", Time),
        ("sent_at", Time),
        ("answered_at", Time),
        ("score", Int),
        ("reply_key", Bytes),
        ("reply_sealed", Bytes),
        ("reply_gateway_id", Text),
        ("reply_retain_until", Time),
        ("retain_until", Time),
    ],
};

/// `survey_recipients`: the last invitation per person, so the period
/// rule holds on the target too.
pub const SURVEY_RECIPIENTS: TableSpec = TableSpec {
    name: "survey_recipients",
    key: &["phone_hash"],
    columns: &[
        ("phone_hash", Bytes),
        ("invitation_id", Id),
        ("invited_at", Time),
    ],
};

/// `survey_rollups`: the surveys' anonymous daily counts (STAT-1).
pub const SURVEY_ROLLUPS: TableSpec = TableSpec {
    name: "survey_rollups",
    key: &["day", "service"],
    columns: &[
        ("day", Text),
        ("service", Text),
        ("invited", Int),
        ("answered", Int),
        ("score_1", Int),
        ("score_2", Int),
        ("score_3", Int),
        ("score_4", Int),
        ("score_5", Int),
    ],
};

/// `request_rollups`: data-subject requests closed, counted by day, right,
/// outcome and timeliness (STAT-1).
pub const REQUEST_ROLLUPS: TableSpec = TableSpec {
    name: "request_rollups",
    key: &["day", "request_type", "outcome", "timeliness"],
    columns: &[
        ("day", Text),
        ("request_type", Text),
        ("outcome", Text),
        ("timeliness", Text),
        ("requests", Int),
    ],
};

/// `disclosure_rollups`: approved disclosures, counted by day and
/// recipient kind (STAT-1).
pub const DISCLOSURE_ROLLUPS: TableSpec = TableSpec {
    name: "disclosure_rollups",
    key: &["day", "recipient_kind"],
    columns: &[
        ("day", Text),
        ("recipient_kind", Text),
        ("disclosures", Int),
    ],
};

/// `incidents`: the breach register's fixed facts (Art. 33(5)).
pub const INCIDENTS: TableSpec = TableSpec {
    name: "incidents",
    key: &["id"],
    columns: &[
        ("id", Id),
        ("detected_at", Time),
        ("aware_at", Time),
        ("created_at", Time),
        ("created_by", Id),
    ],
};

/// `incident_updates`: a breach's entries, their text sealed.
pub const INCIDENT_UPDATES: TableSpec = TableSpec {
    name: "incident_updates",
    key: &["id"],
    columns: &[
        ("id", Id),
        ("incident_id", Id),
        ("n", Int),
        ("at", Time),
        ("by_user", Id),
        ("facts", Text),
        ("sealed", Bytes),
        ("wrapped_key", Bytes),
    ],
};

/// `disclosures`: the disclosure ledger (DIS-2), its legal ground and
/// reference sealed.
pub const DISCLOSURES: TableSpec = TableSpec {
    name: "disclosures",
    key: &["id"],
    columns: &[
        ("id", Id),
        ("recipient_id", Id),
        ("state", Text),
        ("categories", Text),
        ("sealed", Bytes),
        ("wrapped_key", Bytes),
        ("n_contacts", Int),
        ("requested_at", Time),
        ("requested_by", Id),
        ("decided_at", Time),
        ("decided_by", Id),
    ],
};

/// `disclosure_contacts`: the contacts each disclosure covers.
pub const DISCLOSURE_CONTACTS: TableSpec = TableSpec {
    name: "disclosure_contacts",
    key: &["disclosure_id", "contact_id"],
    columns: &[("disclosure_id", Id), ("contact_id", Id)],
};

/// `disclosure_links`: one-time links to approved disclosures' packages,
/// as keyed hashes (copied, so a link given before the move still works).
pub const DISCLOSURE_LINKS: TableSpec = TableSpec {
    name: "disclosure_links",
    key: &["id"],
    columns: &[
        ("id", Id),
        ("disclosure_id", Id),
        ("token_hash", Bytes),
        ("expires_at", Time),
        ("created_at", Time),
        ("created_by", Id),
        ("used_at", Time),
        ("revoked_at", Time),
    ],
};

/// Tables of the schemas that the copy does not write row by row, and why.
/// Every table of both schemas is either in [`Table::ALL`], in
/// [`COPIED_WITH`] or here; a test lists the migrated schemas and fails
/// otherwise, so a new table cannot be forgotten.
pub const NOT_COPIED: &[(&str, &str)] = &[
    (
        "pending_objects",
        "uploads in flight: a copy runs only while no process uses the source, \
         so these are dead processes' leftovers that start-up recovery deletes",
    ),
    ("job_leases", "runtime state: leases of running jobs"),
    (
        "instances",
        "runtime state: heartbeats of running processes",
    ),
    (
        "audit_refs",
        "a derived query index: each backend derives its own from the events",
    ),
    (
        "_sqlx_migrations",
        "the schema's own version, made by migrating",
    ),
];

/// Tables copied inside another table's pages: (table, with what).
pub const COPIED_WITH: &[(&str, &str)] = &[
    (
        "contact_index",
        "contacts: each contact's page carries its entries",
    ),
    (
        "audit_log",
        "the log's identity, given to `Import::begin_import`",
    ),
];

/// A value of a [`TableSpec`]'s column, `None` for NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// [`ColumnType::Id`].
    Id(Option<Uuid>),
    /// [`ColumnType::Bytes`].
    Bytes(Option<Vec<u8>>),
    /// [`ColumnType::Text`].
    Text(Option<String>),
    /// [`ColumnType::Int`].
    Int(Option<i64>),
    /// [`ColumnType::Time`].
    Time(Option<DateTime<Utc>>),
}

/// An account as stored, with what [`UserRow`] leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The account (`totp_enabled` is derived from [`Table::Totp`] and not
    /// written).
    pub user: UserRow,
    /// The account's UI language (`users.language`).
    pub language: Option<String>,
}

/// A session as stored, with what [`SessionRow`] leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session.
    pub session: SessionRow,
    /// The purpose chosen in it (`sessions.purpose`).
    pub purpose: Option<String>,
}

/// A contact as stored, with its erasure time and its blind-index entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRecord {
    /// The contact (for an erased one: an empty document and key).
    pub contact: ContactRow,
    /// When the purge erased its document, if it did.
    pub erased_at: Option<DateTime<Utc>>,
    /// Its blind-index entries, by kind then hash (bytewise).
    pub index: Vec<IndexEntry>,
}

/// One target of a legal hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldTargetRecord {
    /// The hold.
    pub hold_id: Uuid,
    /// What it keeps.
    pub target: HoldTarget,
}

/// A page of one table's rows, in the table's key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Batch {
    /// [`Table::Users`].
    Users(Vec<UserRecord>),
    /// [`Table::Tokens`].
    Tokens(Vec<TokenRow>),
    /// [`Table::Totp`].
    Totp(Vec<TotpRow>),
    /// [`Table::Sessions`].
    Sessions(Vec<SessionRecord>),
    /// [`Table::Contacts`].
    Contacts(Vec<ContactRecord>),
    /// [`Table::Objects`].
    Objects(Vec<ObjectRow>),
    /// [`Table::Holds`].
    Holds(Vec<HoldRow>),
    /// [`Table::HoldTargets`].
    HoldTargets(Vec<HoldTargetRecord>),
    /// [`Table::Tombstones`].
    Tombstones(Vec<TombstoneRow>),
    /// [`Table::AuditEvents`].
    AuditEvents(Vec<StoredAuditEvent>),
    /// [`Table::AuditCheckpoints`].
    AuditCheckpoints(Vec<AuditCheckpointRow>),
    /// [`Table::Rows`]: each row's values in the spec's column order.
    Rows(&'static TableSpec, Vec<Vec<Value>>),
}

/// Where a page starts: rows strictly after this key. Keys, per table:
/// * `id` (`user_id` for [`Table::Totp`]) — [`Cursor::Id`], ordered bytewise;
/// * `seq` for events, `size` for checkpoints — [`Cursor::Number`];
/// * `(hold_id, contact_id, object_id)` for hold targets, a whole-contact
///   target's missing object id counting as the nil UUID (which no object
///   has) — [`Cursor::HoldTarget`];
/// * a [`TableSpec`]'s key columns — [`Cursor::Key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// After this id.
    Id(Uuid),
    /// After this sequence number or size.
    Number(i64),
    /// After this hold target.
    HoldTarget(Uuid, Uuid, Uuid),
    /// After this key of a [`TableSpec`] (its key columns' values).
    Key(Vec<Value>),
}

impl Batch {
    /// The table the rows are from.
    pub fn table(&self) -> Table {
        match self {
            Batch::Users(_) => Table::Users,
            Batch::Tokens(_) => Table::Tokens,
            Batch::Totp(_) => Table::Totp,
            Batch::Sessions(_) => Table::Sessions,
            Batch::Contacts(_) => Table::Contacts,
            Batch::Objects(_) => Table::Objects,
            Batch::Holds(_) => Table::Holds,
            Batch::HoldTargets(_) => Table::HoldTargets,
            Batch::Tombstones(_) => Table::Tombstones,
            Batch::AuditEvents(_) => Table::AuditEvents,
            Batch::AuditCheckpoints(_) => Table::AuditCheckpoints,
            Batch::Rows(spec, _) => Table::Rows(spec),
        }
    }

    /// How many rows of the table the page holds.
    pub fn len(&self) -> usize {
        match self {
            Batch::Users(rows) => rows.len(),
            Batch::Tokens(rows) => rows.len(),
            Batch::Totp(rows) => rows.len(),
            Batch::Sessions(rows) => rows.len(),
            Batch::Contacts(rows) => rows.len(),
            Batch::Objects(rows) => rows.len(),
            Batch::Holds(rows) => rows.len(),
            Batch::HoldTargets(rows) => rows.len(),
            Batch::Tombstones(rows) => rows.len(),
            Batch::AuditEvents(rows) => rows.len(),
            Batch::AuditCheckpoints(rows) => rows.len(),
            Batch::Rows(_, rows) => rows.len(),
        }
    }

    /// Whether the page is empty (the table has no more rows).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Blind-index entries carried by a page of contacts (0 otherwise).
    pub fn index_entries(&self) -> usize {
        match self {
            Batch::Contacts(rows) => rows.iter().map(|c| c.index.len()).sum(),
            _ => 0,
        }
    }

    /// The key of the row at `i`, as a cursor.
    fn key_at(&self, i: usize) -> Option<Cursor> {
        Some(match self {
            Batch::Users(rows) => Cursor::Id(*rows.get(i)?.user.id.as_uuid()),
            Batch::Tokens(rows) => Cursor::Id(rows.get(i)?.id),
            Batch::Totp(rows) => Cursor::Id(*rows.get(i)?.user_id.as_uuid()),
            Batch::Sessions(rows) => Cursor::Id(rows.get(i)?.session.id),
            Batch::Contacts(rows) => Cursor::Id(*rows.get(i)?.contact.id.as_uuid()),
            Batch::Objects(rows) => Cursor::Id(*rows.get(i)?.id.as_uuid()),
            Batch::Holds(rows) => Cursor::Id(rows.get(i)?.id),
            Batch::HoldTargets(rows) => {
                let row = rows.get(i)?;
                Cursor::HoldTarget(
                    row.hold_id,
                    *row.target.contact_id.as_uuid(),
                    row.target.object_id.map_or(Uuid::nil(), |id| *id.as_uuid()),
                )
            }
            Batch::Tombstones(rows) => Cursor::Id(rows.get(i)?.id),
            Batch::AuditEvents(rows) => Cursor::Number(rows.get(i)?.seq),
            Batch::AuditCheckpoints(rows) => {
                let size = rows.get(i)?.size;
                Cursor::Number(i64::try_from(size).unwrap_or(i64::MAX))
            }
            Batch::Rows(spec, rows) => {
                let row = rows.get(i)?;
                Cursor::Key(
                    spec.key_positions()
                        .filter_map(|at| row.get(at).cloned())
                        .collect(),
                )
            }
        })
    }

    /// The cursor after the page's last row, for the next page.
    pub fn next_cursor(&self) -> Option<Cursor> {
        self.key_at(self.len().checked_sub(1)?)
    }

    /// The key of the first row at which `self` and `other` (pages of the
    /// same table read with the same cursor and limit) differ, if any. Keys
    /// are ids, sequence numbers and sizes: they can be shown.
    fn first_difference(&self, other: &Batch) -> Option<String> {
        fn first<T: PartialEq>(a: &[T], b: &[T]) -> Option<usize> {
            let common = a.len().min(b.len());
            (0..common)
                .find(|&i| a.get(i) != b.get(i))
                .or((a.len() != b.len()).then_some(common))
        }
        let at = match (self, other) {
            (Batch::Users(a), Batch::Users(b)) => first(a, b),
            (Batch::Tokens(a), Batch::Tokens(b)) => first(a, b),
            (Batch::Totp(a), Batch::Totp(b)) => first(a, b),
            (Batch::Sessions(a), Batch::Sessions(b)) => first(a, b),
            (Batch::Contacts(a), Batch::Contacts(b)) => first(a, b),
            (Batch::Objects(a), Batch::Objects(b)) => first(a, b),
            (Batch::Holds(a), Batch::Holds(b)) => first(a, b),
            (Batch::HoldTargets(a), Batch::HoldTargets(b)) => first(a, b),
            (Batch::Tombstones(a), Batch::Tombstones(b)) => first(a, b),
            (Batch::AuditEvents(a), Batch::AuditEvents(b)) => first(a, b),
            (Batch::AuditCheckpoints(a), Batch::AuditCheckpoints(b)) => first(a, b),
            (Batch::Rows(x, a), Batch::Rows(y, b)) if x == y => first(a, b),
            _ => return Some("a page of another table".to_owned()),
        }?;
        let key = self.key_at(at).or_else(|| other.key_at(at));
        Some(match key {
            Some(Cursor::Id(id)) => format!("id {id}"),
            Some(Cursor::Number(n)) => format!("key {n}"),
            Some(Cursor::HoldTarget(hold, contact, object)) => {
                format!("hold {hold}, contact {contact}, object {object}")
            }
            Some(Cursor::Key(values)) => format!("key ({})", shown_key(&values)),
            None => format!("row {at}"),
        })
    }
}

/// A [`Cursor::Key`] as it may be shown: ids and numbers; text and bytes
/// (a blind-index hash, a code's kind) as `_`, since a spec does not say
/// whether they name anyone.
fn shown_key(values: &[Value]) -> String {
    values
        .iter()
        .map(|value| match value {
            Value::Id(Some(id)) => id.to_string(),
            Value::Int(Some(n)) => n.to_string(),
            Value::Id(None) | Value::Int(None) => "null".to_owned(),
            Value::Bytes(_) | Value::Text(_) | Value::Time(_) => "_".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reading a register's tables in pages, for a copy or its verification.
#[async_trait]
pub trait Export: Send + Sync {
    /// Up to `limit` rows of `table` strictly after `after` (from the first
    /// row when `None`), in the table's key order (see [`Cursor`]).
    async fn export(&self, table: Table, after: Option<Cursor>, limit: u32) -> Result<Batch>;

    /// How many rows `table` holds ([`Table::Contacts`]: contacts, not
    /// their index entries).
    async fn count(&self, table: Table) -> Result<u64>;

    /// How many blind-index entries there are.
    async fn count_index_entries(&self) -> Result<u64>;

    /// The audit log's identity (`audit_log.log_id`).
    async fn log_id(&self) -> Result<String>;
}

/// Writing a copied register into an empty database.
#[async_trait]
pub trait Import: Send + Sync {
    /// Starts the one transaction of an import. It locks the tables and
    /// refuses ([`Error::Conflict`](crate::Error::Conflict)) a database that already holds accounts,
    /// contacts, objects, holds, tombstones or audit events, so two
    /// migrations cannot interleave and nothing is ever merged. `log_id`
    /// becomes the audit log's identity, so checkpoints signed under the
    /// source's origin verify on the target.
    async fn begin_import(&self, log_id: &str) -> Result<Box<dyn ImportTransaction>>;
}

/// The transaction of an [`Import::begin_import`]. Dropped without
/// [`ImportTransaction::commit`], it writes nothing.
#[async_trait]
pub trait ImportTransaction: Send {
    /// Inserts the rows as they are: ids, times, hashes, ciphertext, and
    /// each audit event's sequence number and stored text byte for byte.
    async fn write(&mut self, batch: &Batch) -> Result<()>;

    /// Commits everything written, and leaves the target ready for use (the
    /// next audit event follows the last copied one).
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// Rows per page. Pages of contacts carry sealed documents (a few KiB
/// each), so a page stays in the low megabytes.
pub const PAGE_ROWS: u32 = 1000;

/// How many rows of one table a copy or a comparison saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    /// The table.
    pub table: Table,
    /// Rows of it (contacts: contacts).
    pub rows: u64,
}

/// Copies every table of `source` into `target`'s transaction, page by page
/// in [`Table::ALL`] order; `progress` hears of each page written. Returns
/// the rows copied per table. The caller commits.
pub async fn copy_rows(
    source: &dyn Export,
    target: &mut dyn ImportTransaction,
    progress: &mut (dyn FnMut(Table, u64) + Send),
) -> Result<Vec<TableCount>> {
    let mut counts = Vec::with_capacity(Table::ALL.len());
    for table in Table::ALL {
        let mut rows = 0u64;
        let mut after = None;
        loop {
            let batch = source.export(table, after, PAGE_ROWS).await?;
            if batch.is_empty() {
                break;
            }
            target.write(&batch).await?;
            let n = batch.len() as u64;
            rows += n;
            progress(table, n);
            after = batch.next_cursor();
            if n < u64::from(PAGE_ROWS) {
                break;
            }
        }
        counts.push(TableCount { table, rows });
    }
    Ok(counts)
}

/// The comparison of one table between source and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableComparison {
    /// The table.
    pub table: Table,
    /// Rows in the source.
    pub source_rows: u64,
    /// Rows in the target.
    pub target_rows: u64,
    /// The key of the first row that differs (missing, extra or changed),
    /// if any. Never a value: ids, sequence numbers and sizes only.
    pub first_difference: Option<String>,
}

impl TableComparison {
    /// Whether the table is equal in both.
    pub fn is_equal(&self) -> bool {
        self.first_difference.is_none() && self.source_rows == self.target_rows
    }
}

/// Reads every table from both sides in the same pages and compares them row
/// for row (every column, every blind-index entry, every audit event's
/// stored bytes). Returns one comparison per table in [`Table::ALL`] order;
/// the register was copied intact when all of them are equal. `progress`
/// hears of each page compared.
pub async fn compare_rows(
    source: &dyn Export,
    target: &dyn Export,
    progress: &mut (dyn FnMut(Table, u64) + Send),
) -> Result<Vec<TableComparison>> {
    let mut comparisons = Vec::with_capacity(Table::ALL.len());
    for table in Table::ALL {
        let mut source_rows = 0u64;
        let mut target_rows = 0u64;
        let mut first_difference = None;
        let mut after = None;
        loop {
            let (left, right) = tokio::try_join!(
                source.export(table, after.clone(), PAGE_ROWS),
                target.export(table, after.clone(), PAGE_ROWS),
            )?;
            source_rows += left.len() as u64;
            target_rows += right.len() as u64;
            progress(table, left.len() as u64);
            if let Some(key) = left.first_difference(&right) {
                first_difference = Some(key);
                break;
            }
            if left.len() < PAGE_ROWS as usize {
                break;
            }
            after = left.next_cursor();
        }
        if first_difference.is_some() {
            // Stop comparing, but report both sides' full counts.
            source_rows = source.count(table).await?;
            target_rows = target.count(table).await?;
        }
        comparisons.push(TableComparison {
            table,
            source_rows,
            target_rows,
            first_difference,
        });
    }
    Ok(comparisons)
}

/// Whether a register holds anything a copy would write into: the names of
/// the non-empty tables with their counts (empty when the target is empty).
pub async fn occupied_tables(store: &dyn Export) -> Result<Vec<TableCount>> {
    let mut occupied = Vec::new();
    for table in Table::ALL {
        let rows = store.count(table).await?;
        if rows > 0 {
            occupied.push(TableCount { table, rows });
        }
    }
    Ok(occupied)
}

/// The `SELECT` of a page of a keyed table (contacts and hold targets have
/// queries of their own: their rows come with more) after `after`, up to
/// a bound limit, with numbered placeholders (both backends take them): the
/// cursor's key `$1` if any, then the limit. `json_text` reads a JSON column
/// as text (`::text` in PostgreSQL, nothing in SQLite).
pub(crate) fn page_select(table: Table, json_text: &str, after: Option<&Cursor>) -> Option<String> {
    let (sql, key) = select(table)?;
    Some(page_sql(sql, key, after).replace("$JSON", json_text))
}

/// `SELECT`s of the keyed tables, with `{after}` where a page's `WHERE` goes,
/// and the key column.
fn select(table: Table) -> Option<(&'static str, &'static str)> {
    Some(match table {
        Table::Users => (
            "SELECT u.id, u.name, u.role, u.password_hash, u.disabled, u.created_at, \
                 u.confidentiality_agreement, u.failed_logins, u.locked_at, u.language, \
                 EXISTS (SELECT 1 FROM user_totp AS t \
                         WHERE t.user_id = u.id AND t.sealed_secret IS NOT NULL) AS totp_enabled \
             FROM users AS u {after} ORDER BY u.id LIMIT $LIMIT",
            "u.id",
        ),
        Table::Tokens => (
            "SELECT id, user_id, label, token_hash, created_at, expires_at, revoked_at, \
                 last_used_at FROM api_tokens {after} ORDER BY id LIMIT $LIMIT",
            "id",
        ),
        Table::Totp => (
            "SELECT user_id, wrapped_key, sealed_secret, pending_wrapped_key, \
                 pending_sealed_secret, last_step FROM user_totp {after} \
             ORDER BY user_id LIMIT $LIMIT",
            "user_id",
        ),
        Table::Sessions => (
            "SELECT id, secret_hash, user_id, created_at, last_seen_at, purpose FROM sessions \
             {after} ORDER BY id LIMIT $LIMIT",
            "id",
        ),
        Table::Objects => (
            "SELECT id, contact_id, kind, wrapped_key, sha256, plaintext_len, stored_len, \
                 media$JSON AS media, retain_until, source_id, created_at FROM objects {after} \
             ORDER BY id LIMIT $LIMIT",
            "id",
        ),
        Table::Holds => (
            "SELECT id, ground_kind, ground, owner, review_by, expires_at, scope$JSON AS scope, \
                 created_at, created_by, lifted_at, lifted_by, lift_reason, reminded_at \
             FROM legal_holds {after} ORDER BY id LIMIT $LIMIT",
            "id",
        ),
        Table::Tombstones => (
            "SELECT id, contact_id, kind, rule, reason, sha256, retain_until, deleted_at, \
                 ledgered_at, storage_deleted_at FROM tombstones {after} ORDER BY id LIMIT $LIMIT",
            "id",
        ),
        Table::AuditEvents => (
            "SELECT seq, at, actor, action, object, purpose, outcome, details FROM audit_events \
             {after} ORDER BY seq LIMIT $LIMIT",
            "seq",
        ),
        Table::AuditCheckpoints => (
            "SELECT size, root, note, frontier, created_at FROM audit_checkpoints {after} \
             ORDER BY size LIMIT $LIMIT",
            "size",
        ),
        Table::Contacts | Table::HoldTargets | Table::Rows(_) => return None,
    })
}

/// Fills in a keyed `SELECT`'s page bounds: `$1` is the cursor if any, the
/// limit the next parameter.
fn page_sql(sql: &str, key: &str, after: Option<&Cursor>) -> String {
    let (clause, limit) = match after {
        Some(_) => (format!("WHERE {key} > $1"), "$2"),
        None => (String::new(), "$1"),
    };
    sql.replace("{after}", &clause).replace("$LIMIT", limit)
}

/// The `SELECT` of a page of a [`TableSpec`]'s rows on `DB`: every column,
/// in key order, after the key bound as `$1…$k` if `after` (one per key
/// column), then the limit. Text key columns are compared by their bytes
/// ([`Backend::BYTEWISE`]), so both backends page in one order.
pub(crate) fn spec_select<DB: Backend>(spec: &TableSpec, after: bool) -> String {
    let key: Vec<String> = spec
        .key
        .iter()
        .map(|column| match spec.column_type(column) {
            Some(ColumnType::Text) => format!("{column} COLLATE {}", DB::BYTEWISE),
            _ => (*column).to_owned(),
        })
        .collect();
    let columns: Vec<&str> = spec.columns.iter().map(|(name, _)| *name).collect();
    let (clause, limit) = if after {
        let params: Vec<String> = (1..=key.len()).map(|i| format!("${i}")).collect();
        (
            format!("WHERE ({}) > ({}) ", key.join(", "), params.join(", ")),
            key.len() + 1,
        )
    } else {
        (String::new(), 1)
    };
    format!(
        "SELECT {} FROM {} {clause}ORDER BY {} LIMIT ${limit}",
        columns.join(", "),
        spec.name,
        key.join(", "),
    )
}

/// A row of a [`TableSpec`]'s page, read by each column's type.
pub(crate) fn spec_row<DB: Backend>(spec: &TableSpec, row: &DB::Row) -> Result<Vec<Value>> {
    spec.columns
        .iter()
        .map(|(name, ty)| {
            Ok(match ty {
                ColumnType::Id => Value::Id(DB::get_opt_uuid(row, name)?),
                ColumnType::Bytes => Value::Bytes(DB::get_opt_bytes(row, name)?),
                ColumnType::Text => Value::Text(DB::get_opt_text(row, name)?),
                ColumnType::Int => Value::Int(DB::get_opt_int(row, name)?),
                ColumnType::Time => Value::Time(DB::get_opt_time(row, name)?),
            })
        })
        .collect()
}

/// The key values of a [`Cursor::Key`] for `spec`, refusing another kind
/// of cursor or a key of the wrong length.
pub(crate) fn spec_key<'c>(spec: &TableSpec, after: Option<&'c Cursor>) -> Result<&'c [Value]> {
    match after {
        None => Ok(&[]),
        Some(Cursor::Key(values)) if values.len() == spec.key.len() => Ok(values),
        Some(_) => Err(crate::error::Error::Corrupt(format!(
            "export cursor: wrong kind for {}",
            spec.name
        ))),
    }
}

/// One column of a page of a [`TableSpec`]'s rows, as the values `pick`
/// takes from a [`Value`] of the column's type (a value of another type is
/// an error, never silently NULL).
pub(crate) fn spec_column<T>(
    spec: &TableSpec,
    rows: &[Vec<Value>],
    at: usize,
    pick: impl Fn(&Value) -> Option<Option<T>>,
) -> Result<Vec<Option<T>>> {
    rows.iter()
        .map(|row| {
            row.get(at).and_then(&pick).ok_or_else(|| {
                crate::error::Error::Corrupt(format!(
                    "copy: {}: a value of another type in column {at}",
                    spec.name
                ))
            })
        })
        .collect()
}

/// The [`ContactRecord`]s of a page of rows of the contact columns
/// (`crate::contacts_sql::CONTACT_COLUMNS`) and `erased_at`, without their
/// index entries ([`attach_index`]).
pub(crate) fn contact_records<DB: Backend>(rows: &[DB::Row]) -> Result<Vec<ContactRecord>> {
    rows.iter()
        .map(|row| {
            Ok(ContactRecord {
                contact: crate::contacts_sql::contact_from_row::<DB>(row)?,
                erased_at: DB::get_opt_time(row, "erased_at")?,
                index: Vec::new(),
            })
        })
        .collect()
}

/// Gives each of `contacts` its index entries from `entries` (rows of
/// `contact_id, kind, hash`), in the key order (kind, then hash, bytewise).
pub(crate) fn attach_index<DB: Backend>(
    contacts: &mut [ContactRecord],
    entries: &[DB::Row],
) -> Result<()> {
    let mut by_contact: std::collections::HashMap<Uuid, Vec<IndexEntry>> =
        std::collections::HashMap::new();
    for row in entries {
        by_contact
            .entry(DB::get_uuid(row, "contact_id")?)
            .or_default()
            .push(IndexEntry {
                kind: DB::get_text(row, "kind")?,
                hash: DB::get_bytes(row, "hash")?,
            });
    }
    for contact in contacts {
        if let Some(mut index) = by_contact.remove(contact.contact.id.as_uuid()) {
            index.sort_by(|a, b| (a.kind.as_bytes(), &a.hash).cmp(&(b.kind.as_bytes(), &b.hash)));
            contact.index = index;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the line that broke"
)]
mod tests {
    use super::*;

    fn event(seq: i64, details: &str) -> StoredAuditEvent {
        StoredAuditEvent {
            seq,
            at_micros: seq * 1000,
            actor: None,
            action: "contact.create".into(),
            object: None,
            purpose: None,
            outcome: "ok".into(),
            details: details.into(),
        }
    }

    #[test]
    fn a_page_continues_after_its_last_rows_key() {
        let batch = Batch::AuditEvents(vec![event(7, "{}"), event(8, "{}")]);
        assert_eq!(batch.next_cursor(), Some(Cursor::Number(8)));
        assert_eq!(Batch::AuditEvents(vec![]).next_cursor(), None);
    }

    #[test]
    fn a_difference_is_named_by_its_key_never_by_its_value() {
        let source = Batch::AuditEvents(vec![event(1, "{}"), event(2, r#"{"a":1}"#)]);
        let reformatted = Batch::AuditEvents(vec![event(1, "{}"), event(2, r#"{"a": 1}"#)]);
        assert_eq!(
            source.first_difference(&reformatted).as_deref(),
            Some("key 2")
        );
        let missing = Batch::AuditEvents(vec![event(1, "{}")]);
        assert_eq!(source.first_difference(&missing).as_deref(), Some("key 2"));
        assert_eq!(source.first_difference(&source.clone()), None);
    }

    #[test]
    fn every_declared_tables_key_is_among_its_columns() {
        for table in Table::ALL {
            if let Table::Rows(spec) = table {
                assert_eq!(
                    spec.key_positions().count(),
                    spec.key.len(),
                    "{}: a key column is not declared",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn a_declared_tables_page_follows_its_whole_key_text_by_its_bytes() {
        let sql = spec_select::<sqlx::Postgres>(&REQUEST_CODES, true);
        assert!(sql.starts_with("SELECT request_id, kind, address_hash, code_hash,"));
        assert!(sql.ends_with(
            "FROM request_codes WHERE (request_id, kind COLLATE \"C\") > ($1, $2) \
             ORDER BY request_id, kind COLLATE \"C\" LIMIT $3"
        ));
        let first = spec_select::<sqlx::Postgres>(&OUTBOX, false);
        assert!(first.ends_with("FROM outbox ORDER BY id LIMIT $1"));
    }

    #[test]
    fn a_declared_tables_difference_shows_ids_but_not_hashes() {
        let id = Uuid::now_v7();
        let row = |hash: u8| {
            vec![
                Value::Id(Some(id)),
                Value::Text(Some("phone".into())),
                Value::Bytes(Some(vec![hash; 32])),
                Value::Text(None),
                Value::Text(None),
                Value::Time(None),
            ]
        };
        let source = Batch::Rows(&REQUEST_IDENTIFIERS, vec![row(1)]);
        let target = Batch::Rows(&REQUEST_IDENTIFIERS, vec![row(2)]);
        assert_eq!(
            source.first_difference(&target),
            Some(format!("key ({id}, _, _)"))
        );
    }
}
