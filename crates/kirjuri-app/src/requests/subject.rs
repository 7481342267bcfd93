//! Who a request is about (DSR-1, issue 12 §3): the contacts its subject
//! appears in — as customer or as contact person — found through the blind
//! indexes by every identifier the request covers, and only by those that
//! are *proven* (by a one-time code, or by a registrar with a recorded
//! basis). An identifier that is neither finds nothing, so nothing is
//! released, erased or restricted for it.
//!
//! The access package, the execution of erasure / restriction / objection
//! and the duplicate check all start here; none of them reads contacts by
//! any other route.

use kirjuri_core::ids::ContactId;
use kirjuri_store::IndexEntry;
use kirjuri_store::requests::{RequestIdentifierRow, RequestRow};

use crate::app::Kirjuri;
use crate::error::{Error, Result};

/// The most contacts one request may cover. A subject with more is a
/// registrar's case to split (by period or identifier), not one package.
pub const MAX_SUBJECT_CONTACTS: u32 = 100_000;

/// A request's subject as the register knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The proven identifiers, as blind-index entries.
    pub proven: Vec<IndexEntry>,
    /// How many of the request's identifiers are not proven (and find
    /// nothing).
    pub unproven: usize,
    /// The contacts bearing any proven identifier, oldest first.
    pub contacts: Vec<ContactId>,
}

/// The proven identifiers among `identifiers`, as blind-index entries.
pub(super) fn proven_entries(identifiers: &[RequestIdentifierRow]) -> Vec<IndexEntry> {
    identifiers
        .iter()
        .filter(|i| i.proof.is_some())
        .map(|i| IndexEntry {
            kind: i.kind.clone(),
            hash: i.hash.clone(),
        })
        .collect()
}

impl Kirjuri {
    /// The subject of `row`: its proven identifiers and the contacts they
    /// find. No audit of its own: the caller's step (a package, an
    /// execution) is the event.
    pub(crate) async fn subject_of(&self, row: &RequestRow) -> Result<Subject> {
        let identifiers = self.store.request_identifiers(&row.id).await?;
        let proven = proven_entries(&identifiers);
        let unproven = identifiers.len() - proven.len();
        let contacts = self
            .store
            .contacts_bearing_any(&proven, MAX_SUBJECT_CONTACTS + 1)
            .await?;
        if contacts.len() > MAX_SUBJECT_CONTACTS as usize {
            return Err(Error::Conflict {
                code: "subject_too_large",
                message: format!(
                    "the request's identifiers find more than {MAX_SUBJECT_CONTACTS} contacts; \
                     split it by identifier"
                ),
            });
        }
        Ok(Subject {
            proven,
            unproven,
            contacts,
        })
    }
}
