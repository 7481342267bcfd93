//! Typed audit events (DESIGN.md AUD-1). Every event names who did what to
//! which object, for which purpose, with what outcome — by ids and keyed
//! hashes only, never the personal data itself. The server turns an event into
//! a stored row in the same transaction as the change it records; for reads it
//! is appended before any data is returned.

use serde::Serialize;
use serde_json::{Value, json};

use crate::ids::{ContactId, ObjectId, UserId};
use crate::purpose::Purpose;
use crate::role::Role;

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
    },
    /// A search of the register.
    Search {
        /// Why.
        purpose: Purpose,
        /// What was searched, as keyed hashes and non-personal filters.
        criteria: Vec<HashedCriterion>,
        /// Non-personal filters (agent, date range).
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
}

impl AuditEvent {
    /// The stored action name.
    pub fn action(&self) -> &'static str {
        match self {
            AuditEvent::ContactCreated { .. } => "contact.created",
            AuditEvent::ContactViewed { .. } => "contact.viewed",
            AuditEvent::RecordingCreated { .. } => "recording.created",
            AuditEvent::RecordingRead { .. } => "recording.read",
            AuditEvent::Search { .. } => "contact.search",
            AuditEvent::AccessDenied { .. } => "access.denied",
            AuditEvent::UserCreated { .. } => "user.created",
            AuditEvent::TokenCreated { .. } => "token.created",
        }
    }

    /// The object acted on, as a string id.
    pub fn object(&self) -> Option<String> {
        match self {
            AuditEvent::ContactCreated { contact } | AuditEvent::ContactViewed { contact, .. } => {
                Some(contact.to_string())
            }
            AuditEvent::RecordingCreated { object, .. }
            | AuditEvent::RecordingRead { object, .. } => Some(object.to_string()),
            AuditEvent::Search { .. } => None,
            AuditEvent::AccessDenied { object, .. } => object.clone(),
            AuditEvent::UserCreated { user, .. } | AuditEvent::TokenCreated { user, .. } => {
                Some(user.to_string())
            }
        }
    }

    /// The purpose stated for a read.
    pub fn purpose(&self) -> Option<Purpose> {
        match self {
            AuditEvent::ContactViewed { purpose, .. }
            | AuditEvent::RecordingRead { purpose, .. }
            | AuditEvent::Search { purpose, .. } => Some(*purpose),
            AuditEvent::AccessDenied { purpose, .. } => *purpose,
            _ => None,
        }
    }

    /// The outcome.
    pub fn outcome(&self) -> Outcome {
        match self {
            AuditEvent::AccessDenied { .. } => Outcome::Denied,
            _ => Outcome::Success,
        }
    }

    /// Everything else worth keeping, as JSON (ids and hashes only).
    pub fn details(&self) -> Value {
        match self {
            AuditEvent::ContactCreated { .. } | AuditEvent::ContactViewed { .. } => json!({}),
            AuditEvent::RecordingCreated {
                contact,
                sha256,
                bytes,
                ..
            } => {
                json!({"contact": contact, "sha256": sha256, "bytes": bytes})
            }
            AuditEvent::RecordingRead { contact, range, .. } => match range {
                Some((first, last)) => json!({"contact": contact, "range": [first, last]}),
                None => json!({"contact": contact, "range": null}),
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
            AuditEvent::TokenCreated { token, .. } => json!({"token": token}),
        }
    }
}
