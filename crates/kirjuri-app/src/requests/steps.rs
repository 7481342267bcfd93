//! What happens to a data-subject request, said once: a [`Step`] is both
//! the request's timeline entry and its audit event (action
//! `request.<kind>`, the request's id as object, the same non-personal
//! facts as details), so the two cannot tell different stories. A refused
//! step (`step_refused`, `code_rejected`, …) is audited with outcome
//! `denied` and left off the timeline.
//!
//! Nothing personal goes in: states, transitions, methods, assurance
//! levels, a document's type, months, a ground's code, an identifier's
//! kind — never its value, a name or free text.

use chrono::{DateTime, Utc};
use kirjuri_core::audit::Outcome;
use kirjuri_core::ids::UserId;
use kirjuri_store::NewAuditEvent;
use kirjuri_store::requests::RequestEventRow;
use serde_json::{Value, json};
use uuid::Uuid;

/// One thing that happened to a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// `registered`, `moved`, `verified`, …
    pub kind: &'static str,
    /// Its facts.
    pub detail: Value,
    /// Done, or refused.
    pub outcome: Outcome,
}

impl Step {
    /// A step that was done.
    pub fn done(kind: &'static str, detail: Value) -> Self {
        Self {
            kind,
            detail,
            outcome: Outcome::Success,
        }
    }

    /// A step that was refused, with the error code the caller got.
    pub fn refused(kind: &'static str, code: &'static str, mut detail: Value) -> Self {
        if let Some(map) = detail.as_object_mut() {
            map.insert("refused".into(), json!(code));
        }
        Self {
            kind,
            detail,
            outcome: Outcome::Denied,
        }
    }

    /// The audit event: `request.<kind>` on `request` (none for the queue).
    pub fn audit(
        &self,
        at: DateTime<Utc>,
        actor: Option<UserId>,
        request: Option<Uuid>,
    ) -> NewAuditEvent {
        NewAuditEvent {
            at,
            actor,
            action: format!("request.{}", self.kind),
            object: request.map(|id| id.to_string()),
            purpose: None,
            outcome: self.outcome.as_str().to_owned(),
            details: self.detail.clone(),
        }
    }

    /// The timeline entry.
    pub fn timeline(&self, at: DateTime<Utc>, actor: Option<UserId>) -> RequestEventRow {
        RequestEventRow {
            id: Uuid::now_v7(),
            at,
            actor,
            kind: self.kind.to_owned(),
            detail: self.detail.clone(),
        }
    }
}
