//! The audited write, shared by both adapters: a write transaction whose
//! changes commit together with the audit events that record them, or not
//! at all (the crate's first invariant). Each adapter runs the flow once, in
//! its `write_audited`: open its write transaction (SQLite's `BEGIN
//! IMMEDIATE`; PostgreSQL's read committed plus the audit lock), run the
//! write, append the events it names after the write's own statements, in
//! order, and commit — or drop the transaction, rolling back, where the write
//! decided it changed nothing. The adapters' query modules then hold only
//! SQL and row decoding.

use crate::model::NewAuditEvent;

/// What a write inside an audited transaction decided: the value to return,
/// and whether to commit and with which events.
pub(crate) struct Audited<'e, T> {
    /// What the store method returns.
    pub(crate) value: T,
    /// `Some`: append these events, in order, and commit (also when there
    /// are none). `None`: roll back — the write changed nothing.
    pub(crate) events: Option<Vec<&'e NewAuditEvent>>,
}

impl<'e, T> Audited<'e, T> {
    /// Append `events` after the write, in order, and commit; an empty list
    /// commits the write alone.
    pub(crate) fn commit(value: T, events: impl IntoIterator<Item = &'e NewAuditEvent>) -> Self {
        Self {
            value,
            events: Some(events.into_iter().collect()),
        }
    }

    /// [`Audited::commit`] if `changed`, else [`Audited::roll_back`].
    pub(crate) fn commit_if(
        changed: bool,
        value: T,
        events: impl IntoIterator<Item = &'e NewAuditEvent>,
    ) -> Self {
        if changed {
            Self::commit(value, events)
        } else {
            Self::roll_back(value)
        }
    }

    /// Roll back and audit nothing: the write changed nothing.
    pub(crate) fn roll_back(value: T) -> Self {
        Self {
            value,
            events: None,
        }
    }
}
