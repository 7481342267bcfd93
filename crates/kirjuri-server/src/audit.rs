//! The one audit call. Every read and write of personal data goes through
//! [`Kirjuri::audit`] (reads: appended before the data is returned; if the
//! append fails the read is refused) or hands [`to_row`]'s output to a store
//! write so event and change commit in one transaction.
//!
//! Issue 3 puts a signed Merkle tree over these rows; callers do not change.

use chrono::{DateTime, Utc};
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::ids::UserId;
use kirjuri_store::NewAuditEvent;

use crate::app::Kirjuri;
use crate::error::Result;

/// Turns a typed event into the stored row.
pub fn to_row(at: DateTime<Utc>, actor: Option<UserId>, event: &AuditEvent) -> NewAuditEvent {
    NewAuditEvent {
        at,
        actor,
        action: event.action().to_owned(),
        object: event.object(),
        purpose: event.purpose().map(|p| p.as_str().to_owned()),
        outcome: event.outcome().as_str().to_owned(),
        details: event.details(),
    }
}

impl Kirjuri {
    /// Appends an event on its own (reads and denials). Fails closed: the
    /// caller must not return data when this errs.
    pub async fn audit(&self, actor: Option<UserId>, event: &AuditEvent) -> Result<()> {
        self.store
            .append_audit(&to_row(self.clock.now(), actor, event))
            .await?;
        Ok(())
    }
}
