//! Typed audit events (docs/requirements.md AUD-1). Every event names who did what to
//! which object, for which purpose, with what outcome — by ids and keyed
//! hashes only, never the personal data itself. The server turns an event into
//! a stored row in the same transaction as the change it records; for reads it
//! is appended before any data is returned.
//!
//! [`encode_leaf`] is the other half: the byte string a stored event
//! contributes to the audit log's RFC 6962 Merkle tree (AUD-2), defined so
//! that anyone holding the database rows can recompute it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::ids::{ContactId, ObjectId, UserId};
use crate::purpose::Purpose;
use crate::role::Role;
use crate::ticket::TicketReference;

/// The actions of a successful read that released a contact's personal
/// data: a contact opened, one of its stored objects (recording,
/// transcript, email message, form, attachment) read, or contacts a search returned. The one list both the
/// access package's history (who read your data) and a breach's impact
/// query count. Each names its contact in `object` (`contact.viewed`), in
/// `details.contact` (an object's read, whose `object` is the object id)
/// or in `details.results` (a search).
pub const PERSONAL_DATA_READS: [&str; 7] = [
    "contact.viewed",
    "recording.read",
    "transcript.read",
    "message.read",
    "form.read",
    "attachment.read",
    "contact.search",
];

/// Whether the audited attempt succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Success,
    /// Refused by the access decision.
    Denied,
}

impl Outcome {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
        }
    }
}

/// One search criterion as it may be logged: the index kind and the keyed
/// hash (hex), never the value searched for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HashedCriterion {
    /// Index kind, e.g. `phone`.
    pub kind: String,
    /// Hex of the blind-index hash.
    pub hash: String,
}

/// Something that happened and must be provable later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditEvent {
    /// A derived artefact (e.g. waveform peaks) was stored beside a recording.
    DerivedCreated {
        /// The contact.
        contact: ContactId,
        /// The stored artefact.
        object: ObjectId,
        /// Its kind, e.g. `waveform`.
        kind: &'static str,
    },
    /// A contact entered the register.
    ContactCreated {
        /// The new contact.
        contact: ContactId,
    },
    /// A contact's data was shown.
    ContactViewed {
        /// Which contact.
        contact: ContactId,
        /// Why.
        purpose: Purpose,
        /// The ticket reference given with the request (maintainers must).
        reason: Option<TicketReference>,
    },
    /// A recording was stored; its sha256 proves the evidence unchanged since intake.
    RecordingCreated {
        /// The contact it belongs to.
        contact: ContactId,
        /// The stored object.
        object: ObjectId,
        /// sha256 of the bytes as received.
        sha256: String,
        /// Size in bytes.
        bytes: u64,
    },
    /// A recording was played or downloaded.
    RecordingRead {
        /// The contact.
        contact: ContactId,
        /// The object.
        object: ObjectId,
        /// Why.
        purpose: Purpose,
        /// Inclusive byte range served; `None` for the whole file.
        range: Option<(u64, u64)>,
        /// The ticket reference given with the request (maintainers must).
        reason: Option<TicketReference>,
    },
    /// A chat transcript was stored; its sha256 is of the bytes delivered.
    TranscriptCreated {
        /// The contact it belongs to.
        contact: ContactId,
        /// The stored object.
        object: ObjectId,
        /// sha256 of the bytes as received.
        sha256: String,
        /// Size in bytes.
        bytes: u64,
    },
    /// An email message, a form's message or an attachment was stored
    /// (`kind`: `message`, `form` or `attachment`); its sha256 is of the
    /// bytes delivered.
    ContentCreated {
        /// The contact it belongs to.
        contact: ContactId,
        /// The stored object.
        object: ObjectId,
        /// `message`, `form` or `attachment`.
        kind: &'static str,
        /// sha256 of the bytes as received.
        sha256: String,
        /// Size in bytes.
        bytes: u64,
    },
    /// An email message, a form's message or an attachment was read
    /// (`kind` as created).
    ContentRead {
        /// The contact.
        contact: ContactId,
        /// The object.
        object: ObjectId,
        /// `message`, `form` or `attachment`.
        kind: &'static str,
        /// Why.
        purpose: Purpose,
        /// The ticket reference given with the request.
        reason: Option<TicketReference>,
    },
    /// A chat transcript was read.
    TranscriptRead {
        /// The contact.
        contact: ContactId,
        /// The object.
        object: ObjectId,
        /// Why.
        purpose: Purpose,
        /// The ticket reference given with the request.
        reason: Option<TicketReference>,
    },
    /// A search of the register.
    Search {
        /// Why.
        purpose: Purpose,
        /// What was searched, as keyed hashes and non-personal filters.
        criteria: Vec<HashedCriterion>,
        /// Non-personal filters (agent, channel, date range) and a keyed
        /// hash of the service searched for, never its text.
        filters: Value,
        /// Which contacts were returned.
        results: Vec<ContactId>,
    },
    /// The access decision refused something.
    AccessDenied {
        /// The attempted action.
        action: &'static str,
        /// The object, when there was one.
        object: Option<String>,
        /// The stated purpose.
        purpose: Option<Purpose>,
        /// The decision's reason code.
        reason: &'static str,
    },
    /// An account was created.
    UserCreated {
        /// The account.
        user: UserId,
        /// Its role.
        role: Role,
    },
    /// An API token was issued.
    TokenCreated {
        /// The owner.
        user: UserId,
        /// The token's id (not the token).
        token: String,
    },
    // --- accounts (SEC-5, ACC-1): ids only, never a password, token or code.
    /// Someone signed in and a session began.
    LoginSucceeded {
        /// The account.
        user: UserId,
        /// The session's id (not its secret).
        session: String,
        /// Whether a TOTP code was checked too.
        totp: bool,
    },
    /// A sign-in was refused.
    LoginFailed {
        /// The account, when the name given is one.
        user: Option<UserId>,
        /// Otherwise a keyed hash (hex) of the name given: a mistyped name can
        /// be a password typed into the wrong field.
        name_hash: Option<String>,
        /// Why: `unknown_user`, `bad_password`, `bad_totp`, `totp_replayed`,
        /// `locked` or `disabled`.
        reason: &'static str,
    },
    /// Too many consecutive failed logins locked the account.
    AccountLocked {
        /// The account.
        user: UserId,
        /// Failures on record.
        failures: u32,
    },
    /// An administrator (or the operator) unlocked the account.
    AccountUnlocked {
        /// The account.
        user: UserId,
    },
    /// A session ended at its holder's request.
    LoggedOut {
        /// The account.
        user: UserId,
        /// The session's id.
        session: String,
    },
    /// A password was changed by its holder, or reset by an administrator.
    PasswordChanged {
        /// The account.
        user: UserId,
        /// Set by someone else (an administrator or the operator).
        reset: bool,
    },
    /// An account was disabled: its sessions ended and its tokens stopped.
    UserDisabled {
        /// The account.
        user: UserId,
    },
    /// An account was enabled again.
    UserEnabled {
        /// The account.
        user: UserId,
    },
    /// An account's role changed.
    RoleChanged {
        /// The account.
        user: UserId,
        /// The role it had.
        from: Role,
        /// The role it has now.
        to: Role,
    },
    /// A confidentiality-agreement reference was recorded or cleared (ACC-1).
    AgreementChanged {
        /// The account.
        user: UserId,
        /// Whether one is on file now.
        on_file: bool,
    },
    /// An API token was revoked.
    TokenRevoked {
        /// The owner.
        user: UserId,
        /// The token's id.
        token: String,
    },
    /// A TOTP enrolment began (a secret was issued, not yet in force).
    TotpEnrolmentBegun {
        /// The account.
        user: UserId,
    },
    /// A TOTP secret was confirmed with a valid code and is now required.
    TotpEnrolled {
        /// The account.
        user: UserId,
    },
    /// The audit log itself was read (`GET /api/v1/audit`).
    AuditRead {
        /// The query, by ids only: `contact` (any id an event names), `user`
        /// (an account id, never its name), `action`, `after`, `limit`.
        filters: Value,
        /// How many events were returned.
        returned: usize,
    },
    // --- the purge (RET-3): what was destroyed, by ids and digests only.
    /// An object's data key was destroyed (crypto-shredding: every copy of
    /// it, in backups too, is unreadable from here on) and its tombstone left.
    ObjectPurged {
        /// The destroyed object.
        object: ObjectId,
        /// The contact it belonged to.
        contact: ContactId,
        /// Its kind, e.g. `recording`.
        kind: String,
        /// The SHA-256 it had, proving which evidence is gone.
        sha256: String,
        /// The retention rule that destroyed it, with its legal reference.
        rule: String,
        /// The deadline it had passed.
        retain_until: DateTime<Utc>,
    },
    /// A contact's sealed document, document key and blind-index entries
    /// were erased; its non-personal row and a tombstone remain.
    ContactErased {
        /// The contact.
        contact: ContactId,
        /// The retention rule that erased it, with its legal reference.
        rule: String,
        /// The deadline it had passed.
        retain_until: DateTime<Utc>,
    },
    /// A purge run ended: how many of each kind it destroyed.
    PurgeRun {
        /// Destroyed in this run, per kind (`recording`, `waveform`, …,
        /// `contact`).
        destroyed: BTreeMap<String, u64>,
        /// Erasures of an earlier, interrupted run whose remaining steps
        /// (erasure ledger, object storage) this run finished.
        completed: u64,
        /// Steps that failed and are left for the next run.
        failures: u64,
    },
    /// A legal hold's review date is near; its owner has been reminded.
    HoldReviewDue {
        /// The hold.
        hold: Uuid,
        /// Its owner.
        owner: UserId,
        /// When it must be reviewed.
        review_by: DateTime<Utc>,
    },
    // --- legal holds and retention policies (RET-1, RET-2): hold ids and
    // counts only. A hold's ground and a lift's reason are in the hold's row.
    /// A legal hold was placed.
    HoldPlaced {
        /// The hold.
        hold: uuid::Uuid,
        /// How many contacts and objects it names.
        targets: u64,
        /// `statute`, `contract`, `complaint`, `case` or `authority_request`.
        ground_kind: &'static str,
    },
    /// A legal hold was lifted (its reason is in the hold's row).
    HoldLifted {
        /// The hold.
        hold: uuid::Uuid,
    },
    /// A legal hold's review date was moved.
    HoldReviewMoved {
        /// The hold.
        hold: uuid::Uuid,
    },
    /// Holds were listed (`hold: None`) or one was shown.
    HoldsRead {
        /// The hold shown, if one was.
        hold: Option<uuid::Uuid>,
    },
    /// The retention overview was read (`GET /api/v1/retention`).
    RetentionRead {
        /// How many days ahead it looked.
        days: u32,
    },
    /// Stored deadlines were recomputed under the policies in force
    /// (`kirjuri retention apply`): counts per outcome and the policies.
    RetentionPolicyApplied {
        /// `shortened`, `refused_longer`, `unchanged`, … and `policies`.
        counts: Value,
    },
    // --- backup and restore (issue 5): counts, ids, digests and rules only.
    /// A backup was taken (`kirjuri backup`): ciphertext, wrapped keys and
    /// the register's rows left the data folder.
    BackupCreated {
        /// Contacts in the snapshot.
        contacts: u64,
        /// Object files copied.
        objects: u64,
        /// Bytes written (database and objects).
        bytes: u64,
        /// Objects the snapshot named that a purge deleted before they
        /// could be copied.
        erased_after_snapshot: u64,
        /// Whether the key files were copied too (`--include-keys`).
        keys_included: bool,
    },
    /// Replaying the erasure ledger after a restore destroyed an object's
    /// key again: the backup predated its erasure.
    ObjectReplayShredded {
        /// The object.
        object: ObjectId,
        /// Its contact.
        contact: ContactId,
        /// Its kind.
        kind: String,
        /// The SHA-256 it had.
        sha256: Option<String>,
        /// The rule of the original erasure.
        rule: String,
        /// The ledger block the erasure is in.
        ledger_seq: u64,
        /// When it was first erased.
        erased_at: DateTime<Utc>,
    },
    /// Replaying the erasure ledger after a restore erased a contact's
    /// document again.
    ContactReplayErased {
        /// The contact.
        contact: ContactId,
        /// The rule of the original erasure.
        rule: String,
        /// The ledger block the erasure is in.
        ledger_seq: u64,
        /// When it was first erased.
        erased_at: DateTime<Utc>,
    },
    /// A backup was restored (`kirjuri restore`) and the erasure ledger
    /// replayed over it.
    BackupRestored {
        /// When the backup was taken.
        backup_created_at: DateTime<Utc>,
        /// Contacts restored.
        contacts: u64,
        /// Object files restored.
        objects: u64,
        /// Ledger blocks replayed.
        ledger_blocks: u64,
        /// Ledger entries replayed.
        ledger_entries: u64,
        /// Objects the replay made unreadable.
        objects_shredded: u64,
        /// Contacts the replay erased.
        contacts_erased: u64,
    },
}

impl AuditEvent {
    /// The stored action name.
    pub fn action(&self) -> &'static str {
        match self {
            AuditEvent::DerivedCreated { .. } => "derived.created",
            AuditEvent::ContactCreated { .. } => "contact.created",
            AuditEvent::ContactViewed { .. } => "contact.viewed",
            AuditEvent::RecordingCreated { .. } => "recording.created",
            AuditEvent::RecordingRead { .. } => "recording.read",
            AuditEvent::TranscriptCreated { .. } => "transcript.created",
            AuditEvent::TranscriptRead { .. } => "transcript.read",
            AuditEvent::ContentCreated {
                kind: "message", ..
            } => "message.created",
            AuditEvent::ContentCreated { kind: "form", .. } => "form.created",
            AuditEvent::ContentCreated { .. } => "attachment.created",
            AuditEvent::ContentRead {
                kind: "message", ..
            } => "message.read",
            AuditEvent::ContentRead { kind: "form", .. } => "form.read",
            AuditEvent::ContentRead { .. } => "attachment.read",
            AuditEvent::Search { .. } => "contact.search",
            AuditEvent::AccessDenied { .. } => "access.denied",
            AuditEvent::UserCreated { .. } => "user.created",
            AuditEvent::TokenCreated { .. } => "token.created",
            AuditEvent::LoginSucceeded { .. } => "login.succeeded",
            AuditEvent::LoginFailed { .. } => "login.failed",
            AuditEvent::AccountLocked { .. } => "user.locked",
            AuditEvent::AccountUnlocked { .. } => "user.unlocked",
            AuditEvent::LoggedOut { .. } => "logout",
            AuditEvent::PasswordChanged { reset: false, .. } => "user.password_changed",
            AuditEvent::PasswordChanged { reset: true, .. } => "user.password_reset",
            AuditEvent::UserDisabled { .. } => "user.disabled",
            AuditEvent::UserEnabled { .. } => "user.enabled",
            AuditEvent::RoleChanged { .. } => "user.role_changed",
            AuditEvent::AgreementChanged { .. } => "user.agreement_changed",
            AuditEvent::TokenRevoked { .. } => "token.revoked",
            AuditEvent::TotpEnrolmentBegun { .. } => "user.totp_enrolment_begun",
            AuditEvent::TotpEnrolled { .. } => "user.totp_enrolled",
            AuditEvent::AuditRead { .. } => "audit.read",
            AuditEvent::ObjectPurged { .. } => "object.purged",
            AuditEvent::ContactErased { .. } => "contact.erased",
            AuditEvent::PurgeRun { .. } => "purge.run",
            AuditEvent::HoldReviewDue { .. } => "hold.review_due",
            AuditEvent::BackupCreated { .. } => "backup.created",
            AuditEvent::ObjectReplayShredded { .. } => "object.replay_shredded",
            AuditEvent::ContactReplayErased { .. } => "contact.replay_erased",
            AuditEvent::BackupRestored { .. } => "backup.restored",
            AuditEvent::HoldPlaced { .. } => "hold.placed",
            AuditEvent::HoldLifted { .. } => "hold.lifted",
            AuditEvent::HoldReviewMoved { .. } => "hold.review_moved",
            AuditEvent::HoldsRead { .. } => "hold.read",
            AuditEvent::RetentionRead { .. } => "retention.read",
            AuditEvent::RetentionPolicyApplied { .. } => "retention.policy_applied",
        }
    }

    /// The object acted on, as a string id.
    pub fn object(&self) -> Option<String> {
        match self {
            AuditEvent::ContactCreated { contact } | AuditEvent::ContactViewed { contact, .. } => {
                Some(contact.to_string())
            }
            AuditEvent::RecordingCreated { object, .. }
            | AuditEvent::RecordingRead { object, .. }
            | AuditEvent::TranscriptCreated { object, .. }
            | AuditEvent::TranscriptRead { object, .. }
            | AuditEvent::ContentCreated { object, .. }
            | AuditEvent::ContentRead { object, .. }
            | AuditEvent::DerivedCreated { object, .. } => Some(object.to_string()),
            AuditEvent::Search { .. } | AuditEvent::AuditRead { .. } => None,
            AuditEvent::HoldPlaced { hold, .. }
            | AuditEvent::HoldLifted { hold }
            | AuditEvent::HoldReviewMoved { hold }
            | AuditEvent::HoldsRead { hold: Some(hold) } => Some(hold.to_string()),
            AuditEvent::HoldsRead { hold: None }
            | AuditEvent::RetentionRead { .. }
            | AuditEvent::RetentionPolicyApplied { .. } => None,
            AuditEvent::AccessDenied { object, .. } => object.clone(),
            AuditEvent::UserCreated { user, .. }
            | AuditEvent::TokenCreated { user, .. }
            | AuditEvent::LoginSucceeded { user, .. }
            | AuditEvent::AccountLocked { user, .. }
            | AuditEvent::AccountUnlocked { user }
            | AuditEvent::LoggedOut { user, .. }
            | AuditEvent::PasswordChanged { user, .. }
            | AuditEvent::UserDisabled { user }
            | AuditEvent::UserEnabled { user }
            | AuditEvent::RoleChanged { user, .. }
            | AuditEvent::AgreementChanged { user, .. }
            | AuditEvent::TokenRevoked { user, .. }
            | AuditEvent::TotpEnrolmentBegun { user }
            | AuditEvent::TotpEnrolled { user } => Some(user.to_string()),
            AuditEvent::LoginFailed { user, .. } => user.map(|u| u.to_string()),
            AuditEvent::ObjectPurged { object, .. } => Some(object.to_string()),
            AuditEvent::ContactErased { contact, .. } => Some(contact.to_string()),
            AuditEvent::PurgeRun { .. } => None,
            AuditEvent::HoldReviewDue { hold, .. } => Some(hold.to_string()),
            AuditEvent::BackupCreated { .. } | AuditEvent::BackupRestored { .. } => None,
            AuditEvent::ObjectReplayShredded { object, .. } => Some(object.to_string()),
            AuditEvent::ContactReplayErased { contact, .. } => Some(contact.to_string()),
        }
    }

    /// The purpose stated for a read.
    pub fn purpose(&self) -> Option<Purpose> {
        match self {
            AuditEvent::ContactViewed { purpose, .. }
            | AuditEvent::RecordingRead { purpose, .. }
            | AuditEvent::TranscriptRead { purpose, .. }
            | AuditEvent::ContentRead { purpose, .. }
            | AuditEvent::Search { purpose, .. } => Some(*purpose),
            AuditEvent::AccessDenied { purpose, .. } => *purpose,
            _ => None,
        }
    }

    /// The outcome.
    pub fn outcome(&self) -> Outcome {
        match self {
            AuditEvent::AccessDenied { .. } | AuditEvent::LoginFailed { .. } => Outcome::Denied,
            _ => Outcome::Success,
        }
    }

    /// Everything else worth keeping, as JSON (ids and hashes only).
    pub fn details(&self) -> Value {
        match self {
            AuditEvent::DerivedCreated { contact, kind, .. } => {
                json!({"contact": contact, "kind": kind})
            }
            AuditEvent::ContactCreated { .. } => json!({}),
            AuditEvent::ContactViewed { reason, .. } => match reason {
                Some(reason) => json!({"reason": reason}),
                None => json!({}),
            },
            AuditEvent::RecordingCreated {
                contact,
                sha256,
                bytes,
                ..
            }
            | AuditEvent::TranscriptCreated {
                contact,
                sha256,
                bytes,
                ..
            }
            | AuditEvent::ContentCreated {
                contact,
                sha256,
                bytes,
                ..
            } => {
                json!({"contact": contact, "sha256": sha256, "bytes": bytes})
            }
            AuditEvent::RecordingRead {
                contact,
                range,
                reason,
                ..
            } => {
                let mut details = match range {
                    Some((first, last)) => json!({"contact": contact, "range": [first, last]}),
                    None => json!({"contact": contact, "range": null}),
                };
                if let (Some(reason), Some(map)) = (reason, details.as_object_mut()) {
                    map.insert("reason".into(), json!(reason));
                }
                details
            }
            AuditEvent::TranscriptRead {
                contact, reason, ..
            }
            | AuditEvent::ContentRead {
                contact, reason, ..
            } => match reason {
                Some(reason) => json!({"contact": contact, "reason": reason}),
                None => json!({"contact": contact}),
            },
            AuditEvent::Search {
                criteria,
                filters,
                results,
                ..
            } => {
                json!({"criteria": criteria, "filters": filters, "results": results})
            }
            AuditEvent::AccessDenied { action, reason, .. } => {
                json!({"action": action, "reason": reason})
            }
            AuditEvent::UserCreated { role, .. } => json!({"role": role}),
            AuditEvent::TokenCreated { token, .. } | AuditEvent::TokenRevoked { token, .. } => {
                json!({"token": token})
            }
            AuditEvent::LoginSucceeded { session, totp, .. } => {
                json!({"session": session, "totp": totp})
            }
            AuditEvent::LoginFailed {
                name_hash, reason, ..
            } => match name_hash {
                Some(hash) => json!({"reason": reason, "name_hash": hash}),
                None => json!({"reason": reason}),
            },
            AuditEvent::AccountLocked { failures, .. } => json!({"failures": failures}),
            AuditEvent::LoggedOut { session, .. } => json!({"session": session}),
            AuditEvent::RoleChanged { from, to, .. } => json!({"from": from, "to": to}),
            AuditEvent::AgreementChanged { on_file, .. } => json!({"on_file": on_file}),
            AuditEvent::AccountUnlocked { .. }
            | AuditEvent::PasswordChanged { .. }
            | AuditEvent::UserDisabled { .. }
            | AuditEvent::UserEnabled { .. }
            | AuditEvent::TotpEnrolmentBegun { .. }
            | AuditEvent::TotpEnrolled { .. } => json!({}),
            AuditEvent::AuditRead { filters, returned } => {
                json!({"filters": filters, "returned": returned})
            }
            AuditEvent::ObjectPurged {
                contact,
                kind,
                sha256,
                rule,
                retain_until,
                ..
            } => json!({
                "contact": contact,
                "kind": kind,
                "sha256": sha256,
                "rule": rule,
                "reason": "retention",
                "retain_until": retain_until,
            }),
            AuditEvent::ContactErased {
                rule, retain_until, ..
            } => json!({"rule": rule, "reason": "retention", "retain_until": retain_until}),
            AuditEvent::PurgeRun {
                destroyed,
                completed,
                failures,
            } => json!({"destroyed": destroyed, "completed": completed, "failures": failures}),
            AuditEvent::HoldReviewDue {
                owner, review_by, ..
            } => json!({"owner": owner, "review_by": review_by}),
            AuditEvent::HoldPlaced {
                targets,
                ground_kind,
                ..
            } => json!({"targets": targets, "ground_kind": ground_kind}),
            AuditEvent::HoldLifted { .. }
            | AuditEvent::HoldReviewMoved { .. }
            | AuditEvent::HoldsRead { .. } => json!({}),
            AuditEvent::RetentionRead { days } => json!({"days": days}),
            AuditEvent::RetentionPolicyApplied { counts } => counts.clone(),
            AuditEvent::BackupCreated {
                contacts,
                objects,
                bytes,
                erased_after_snapshot,
                keys_included,
            } => json!({
                "contacts": contacts,
                "objects": objects,
                "bytes": bytes,
                "erased_after_snapshot": erased_after_snapshot,
                "keys_included": keys_included,
            }),
            AuditEvent::ObjectReplayShredded {
                contact,
                kind,
                sha256,
                rule,
                ledger_seq,
                erased_at,
                ..
            } => json!({
                "contact": contact,
                "kind": kind,
                "sha256": sha256,
                "rule": rule,
                "reason": "ledger_replay",
                "ledger_seq": ledger_seq,
                "erased_at": erased_at,
            }),
            AuditEvent::ContactReplayErased {
                rule,
                ledger_seq,
                erased_at,
                ..
            } => json!({
                "rule": rule,
                "reason": "ledger_replay",
                "ledger_seq": ledger_seq,
                "erased_at": erased_at,
            }),
            AuditEvent::BackupRestored {
                backup_created_at,
                contacts,
                objects,
                ledger_blocks,
                ledger_entries,
                objects_shredded,
                contacts_erased,
            } => json!({
                "backup_created_at": backup_created_at,
                "contacts": contacts,
                "objects": objects,
                "ledger_blocks": ledger_blocks,
                "ledger_entries": ledger_entries,
                "objects_shredded": objects_shredded,
                "contacts_erased": contacts_erased,
            }),
        }
    }
}

// --- the Merkle leaf of a stored event (AUD-2) --------------------------------

/// The version number every leaf encoding starts with. A change to the
/// encoding gets a new number; a verifier refuses numbers it does not know.
pub const LEAF_ENCODING_VERSION: u32 = 1;

/// The stored columns of one audit event, exactly as the database holds
/// them: nothing here is parsed or normalised, so the leaf depends only on
/// the stored bytes and changes with any one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafFields<'a> {
    /// The event's sequence number (1 for the first event).
    pub seq: i64,
    /// When it happened, in microseconds since the Unix epoch (UTC).
    pub at_micros: i64,
    /// The actor column's bytes: a 16-byte account id, or none.
    pub actor: Option<&'a [u8]>,
    /// The action, e.g. `contact.viewed`.
    pub action: &'a str,
    /// The object id, if any.
    pub object: Option<&'a str>,
    /// The stated purpose, if any.
    pub purpose: Option<&'a str>,
    /// The outcome, e.g. `success`.
    pub outcome: &'a str,
    /// The details column: JSON text, byte for byte as stored.
    pub details: &'a str,
}

/// Appends the leaf data of one stored audit event to `out`; the Merkle leaf
/// is `kirjuri_core::merkle::leaf_hash` of these bytes.
///
/// The encoding (version 1) is one line of UTF-8 JSON with the fields in
/// this fixed order and no whitespace:
///
/// ```text
/// {"v":1,"seq":<seq>,"at":<at>,"actor":<actor>,"action":<action>,"object":<object>,"purpose":<purpose>,"outcome":<outcome>,"details":<details>}
/// ```
///
/// * `seq` and `at` are decimal integers (`at` in microseconds since the
///   Unix epoch, UTC), with a `-` only when negative.
/// * `actor` is `null`, or the 16-byte account id as a lower-case
///   hyphenated UUID string (`"0192f5c4-8f5e-7000-8000-000000000001"`). A
///   blob of any other length (which Kirjuri never writes) is encoded as
///   `"x:"` followed by its lower-case hex, so the encoding stays injective.
/// * `action`, `object`, `purpose` and `outcome` are JSON strings or `null`,
///   escaped as RFC 8785 (JCS) does: `"` and `\` and the control characters
///   U+0000–U+001F are escaped (`\b \t \n \f \r` by name, others as
///   `\u00xx` with lower-case hex); everything else is copied verbatim.
/// * `details` is the stored JSON text copied verbatim (Kirjuri writes it
///   compact, object keys in sorted order). It is last, so the bytes before
///   it — every other field being self-delimiting — fix where it starts.
///
/// Because `seq` is inside the leaf, moving an event to another position
/// changes its leaf; because every column is, so does editing any of them.
pub fn encode_leaf(fields: &LeafFields<'_>, out: &mut Vec<u8>) {
    use std::io::Write as _;
    let mut number = itoa::Buffer::new();
    out.extend_from_slice(b"{\"v\":");
    out.extend_from_slice(number.format(LEAF_ENCODING_VERSION).as_bytes());
    out.extend_from_slice(b",\"seq\":");
    out.extend_from_slice(number.format(fields.seq).as_bytes());
    out.extend_from_slice(b",\"at\":");
    out.extend_from_slice(number.format(fields.at_micros).as_bytes());
    out.extend_from_slice(b",\"actor\":");
    match fields.actor {
        None => out.extend_from_slice(b"null"),
        Some(bytes) => {
            out.push(b'"');
            if let Ok(uuid) = <[u8; 16]>::try_from(bytes) {
                let mut buffer = uuid::Uuid::encode_buffer();
                let text = uuid::Uuid::from_bytes(uuid)
                    .hyphenated()
                    .encode_lower(&mut buffer);
                out.extend_from_slice(text.as_bytes());
            } else {
                out.extend_from_slice(b"x:");
                for byte in bytes {
                    let _ = write!(out, "{byte:02x}");
                }
            }
            out.push(b'"');
        }
    }
    out.extend_from_slice(b",\"action\":");
    json_string(fields.action, out);
    out.extend_from_slice(b",\"object\":");
    json_opt_string(fields.object, out);
    out.extend_from_slice(b",\"purpose\":");
    json_opt_string(fields.purpose, out);
    out.extend_from_slice(b",\"outcome\":");
    json_string(fields.outcome, out);
    out.extend_from_slice(b",\"details\":");
    out.extend_from_slice(fields.details.as_bytes());
    out.push(b'}');
}

/// The RFC 6962 leaf hash of one stored event: `merkle::leaf_hash` of its
/// [`encode_leaf`] bytes; `buffer` is scratch space, reused across calls.
pub fn leaf_hash_of(fields: &LeafFields<'_>, buffer: &mut Vec<u8>) -> crate::merkle::Hash {
    buffer.clear();
    encode_leaf(fields, buffer);
    crate::merkle::leaf_hash(buffer)
}

fn json_opt_string(value: Option<&str>, out: &mut Vec<u8>) {
    match value {
        Some(value) => json_string(value, out),
        None => out.extend_from_slice(b"null"),
    }
}

/// Whether any byte of `bytes` must be escaped in a JSON string: `"`, `\`
/// or a control character. Each 32-byte chunk is folded without an early
/// exit, which the compiler vectorises: `audit verify` asks this of four
/// strings per event (issue 16 §5), and nearly every answer is no.
fn needs_escaping(bytes: &[u8]) -> bool {
    bytes.chunks(32).any(|chunk| {
        chunk.iter().fold(false, |found, &b| {
            found | (b < 0x20) | (b == b'"') | (b == b'\\')
        })
    })
}

/// A JSON string escaped as RFC 8785 §3.2.2.2 prescribes. Runs that need no
/// escaping (nearly everything) are copied whole.
fn json_string(value: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = value.as_bytes();
    if !needs_escaping(bytes) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        // Multi-byte UTF-8 sequences never contain bytes below 0x80.
        if byte != b'"' && byte != b'\\' && byte >= 0x20 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        start = i + 1;
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]),
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::leaf_hash;

    fn fields() -> LeafFields<'static> {
        LeafFields {
            seq: 42,
            at_micros: 1_796_000_000_123_456,
            actor: Some(&[
                0x01, 0x92, 0xf5, 0xc4, 0x8f, 0x5e, 0x70, 0x00, 0x80, 0x00, 0, 0, 0, 0, 0, 1,
            ]),
            action: "recording.read",
            object: Some("0192f5c4-8f5e-7000-8000-0000000000aa"),
            purpose: Some("quality_assurance"),
            outcome: "success",
            details: r#"{"contact":"0192f5c4-8f5e-7000-8000-0000000000bb","range":[0,65535]}"#,
        }
    }

    fn encoded(fields: &LeafFields<'_>) -> String {
        let mut out = Vec::new();
        encode_leaf(fields, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_leaf_encoding_is_the_documented_json_line() {
        assert_eq!(
            encoded(&fields()),
            concat!(
                r#"{"v":1,"seq":42,"at":1796000000123456,"#,
                r#""actor":"0192f5c4-8f5e-7000-8000-000000000001","#,
                r#""action":"recording.read","object":"0192f5c4-8f5e-7000-8000-0000000000aa","#,
                r#""purpose":"quality_assurance","outcome":"success","#,
                r#""details":{"contact":"0192f5c4-8f5e-7000-8000-0000000000bb","range":[0,65535]}}"#
            )
        );
        let system = LeafFields {
            actor: None,
            object: None,
            purpose: None,
            details: "{}",
            ..fields()
        };
        assert_eq!(
            encoded(&system),
            r#"{"v":1,"seq":42,"at":1796000000123456,"actor":null,"action":"recording.read","object":null,"purpose":null,"outcome":"success","details":{}}"#
        );
        // Known answer (SHA-256 of 0x00 and the line above, computed
        // independently), so a change to the encoding cannot go unnoticed.
        let leaf = leaf_hash(encoded(&system).as_bytes());
        assert_eq!(
            leaf.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "a4936aa18b800660914af39f430ed5d85a5ed1afeb511dde6716cb04633d9a7b"
        );
    }

    proptest::proptest! {
        /// The fast path (no byte needs escaping, checked a chunk at a
        /// time) and the escaping loop agree with a JSON parser wherever
        /// in a long string the byte to escape is.
        #[test]
        fn any_string_is_escaped_so_that_it_parses_back(
            head in "[a-zA-Z0-9 äö€]{0,80}",
            special in proptest::sample::select(vec!['"', '\\', '\u{0}', '\n', '\u{1f}', 'x']),
            tail in "[a-zA-Z0-9 ]{0,40}",
        ) {
            let value = format!("{head}{special}{tail}");
            let mut out = Vec::new();
            json_string(&value, &mut out);
            proptest::prop_assert!(out.iter().all(|&b| b >= 0x20));
            let parsed: String = serde_json::from_slice(&out).unwrap();
            proptest::prop_assert_eq!(parsed, value);
        }
    }

    #[test]
    fn strings_are_escaped_as_rfc_8785_does_and_parse_back() {
        let action = "a\"b\\c\u{8}\t\n\u{c}\r\u{1}\u{1f}\u{7f}ä€😀/";
        let leaf = encoded(&LeafFields { action, ..fields() });
        assert!(leaf.contains(r#""action":"a\"b\\c\b\t\n\f\r\u0001\u001f"#));
        let parsed: serde_json::Value = serde_json::from_str(&leaf).unwrap();
        assert_eq!(parsed["action"], action);
        assert_eq!(parsed["v"], 1);
        assert_eq!(parsed["seq"], 42);
    }

    #[test]
    fn every_column_changes_the_leaf() {
        let base = encoded(&fields());
        let other_actor = [7u8; 16];
        let short_actor = [7u8; 15];
        let variants = [
            LeafFields {
                seq: 43,
                ..fields()
            },
            LeafFields {
                seq: -42,
                ..fields()
            },
            LeafFields {
                at_micros: 1_796_000_000_123_457,
                ..fields()
            },
            LeafFields {
                actor: None,
                ..fields()
            },
            LeafFields {
                actor: Some(&other_actor),
                ..fields()
            },
            LeafFields {
                actor: Some(&short_actor),
                ..fields()
            },
            LeafFields {
                action: "recording.reaD",
                ..fields()
            },
            LeafFields {
                object: None,
                ..fields()
            },
            LeafFields {
                object: Some("null"),
                ..fields()
            },
            LeafFields {
                purpose: Some("training"),
                ..fields()
            },
            LeafFields {
                outcome: "denied",
                ..fields()
            },
            LeafFields {
                details: r#"{"contact":"0192f5c4-8f5e-7000-8000-0000000000bb","range":[0,65536]}"#,
                ..fields()
            },
            LeafFields {
                details: r#"{"range":[0,65535],"contact":"0192f5c4-8f5e-7000-8000-0000000000bb"}"#,
                ..fields()
            },
        ];
        let mut seen = std::collections::HashSet::new();
        seen.insert(base);
        for variant in &variants {
            assert!(seen.insert(encoded(variant)), "{variant:?} collided");
        }
        assert_eq!(
            encoded(&LeafFields {
                actor: Some(&short_actor),
                ..fields()
            })
            .split("\"actor\":")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap(),
            "\"x:070707070707070707070707070707\""
        );
    }

    #[test]
    fn hold_events_name_the_hold_and_never_its_ground() {
        let hold = uuid::Uuid::from_u128(7);
        let placed = AuditEvent::HoldPlaced {
            hold,
            targets: 3,
            ground_kind: "complaint",
        };
        assert_eq!(placed.action(), "hold.placed");
        assert_eq!(placed.object(), Some(hold.to_string()));
        assert_eq!(
            placed.details(),
            json!({"targets": 3, "ground_kind": "complaint"})
        );
        let lifted = AuditEvent::HoldLifted { hold };
        assert_eq!(lifted.action(), "hold.lifted");
        assert_eq!(lifted.object(), Some(hold.to_string()));
        assert_eq!(lifted.details(), json!({}));
        assert_eq!(
            AuditEvent::HoldReviewMoved { hold }.action(),
            "hold.review_moved"
        );
        assert_eq!(AuditEvent::HoldsRead { hold: None }.object(), None);
        assert_eq!(
            AuditEvent::RetentionPolicyApplied {
                counts: json!({"shortened": 2})
            }
            .details(),
            json!({"shortened": 2})
        );
    }

    #[test]
    fn replay_events_name_the_ledger_block_and_the_original_erasure() {
        let contact = ContactId::from_uuid(uuid::Uuid::from_u128(1));
        let object = ObjectId::from_uuid(uuid::Uuid::from_u128(2));
        let at = DateTime::parse_from_rfc3339("2027-01-14T22:00:00Z")
            .unwrap()
            .to_utc();
        let shredded = AuditEvent::ObjectReplayShredded {
            object,
            contact,
            kind: "recording".into(),
            sha256: Some("ab".repeat(32)),
            rule: "call_recording: 12 months".into(),
            ledger_seq: 7,
            erased_at: at,
        };
        assert_eq!(shredded.action(), "object.replay_shredded");
        assert_eq!(shredded.object(), Some(object.to_string()));
        assert_eq!(shredded.details()["reason"], "ledger_replay");
        assert_eq!(shredded.details()["ledger_seq"], 7);
        assert_eq!(shredded.details()["erased_at"], "2027-01-14T22:00:00Z");
        let erased = AuditEvent::ContactReplayErased {
            contact,
            rule: "contact_metadata: 12 months".into(),
            ledger_seq: 8,
            erased_at: at,
        };
        assert_eq!(erased.action(), "contact.replay_erased");
        assert_eq!(erased.object(), Some(contact.to_string()));
        let restored = AuditEvent::BackupRestored {
            backup_created_at: at,
            contacts: 3,
            objects: 2,
            ledger_blocks: 1,
            ledger_entries: 4,
            objects_shredded: 1,
            contacts_erased: 1,
        };
        assert_eq!(restored.action(), "backup.restored");
        assert_eq!(restored.object(), None);
        assert_eq!(restored.details()["objects_shredded"], 1);
    }

    #[test]
    fn purge_events_carry_ids_digests_and_rules_only() {
        let contact = ContactId::from_uuid(uuid::Uuid::from_u128(1));
        let object = ObjectId::from_uuid(uuid::Uuid::from_u128(2));
        let deadline = DateTime::parse_from_rfc3339("2027-01-14T22:00:00Z")
            .unwrap()
            .to_utc();
        let purged = AuditEvent::ObjectPurged {
            object,
            contact,
            kind: "recording".into(),
            sha256: "ab".repeat(32),
            rule: "call_recording: 12 months".into(),
            retain_until: deadline,
        };
        assert_eq!(purged.action(), "object.purged");
        assert_eq!(purged.object(), Some(object.to_string()));
        assert_eq!(purged.details()["contact"], contact.to_string());
        assert_eq!(purged.details()["retain_until"], "2027-01-14T22:00:00Z");
        let erased = AuditEvent::ContactErased {
            contact,
            rule: "contact_metadata: 12 months".into(),
            retain_until: deadline,
        };
        assert_eq!(erased.action(), "contact.erased");
        assert_eq!(erased.object(), Some(contact.to_string()));
        let run = AuditEvent::PurgeRun {
            destroyed: BTreeMap::from([("recording".to_owned(), 3)]),
            completed: 1,
            failures: 0,
        };
        assert_eq!(run.action(), "purge.run");
        assert_eq!(run.object(), None);
        assert_eq!(
            run.details(),
            json!({"destroyed": {"recording": 3}, "completed": 1, "failures": 0})
        );
    }

    #[test]
    fn an_audit_read_names_ids_only() {
        let event = AuditEvent::AuditRead {
            filters: json!({"user": "0192f5c4-8f5e-7000-8000-000000000001", "limit": 10}),
            returned: 3,
        };
        assert_eq!(event.action(), "audit.read");
        assert_eq!(event.object(), None);
        assert_eq!(event.purpose(), None);
        assert_eq!(event.outcome(), Outcome::Success);
        assert_eq!(event.details()["returned"], 3);
    }
}
