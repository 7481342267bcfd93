//! What the data subjects of contacts have forbidden, as the access
//! decision takes it (DSR-4): [`Kirjuri::limits_on`] reads the
//! restrictions and objections in force on a set of contacts — found
//! through the contacts' blind-index entries, so a contact delivered after
//! the limit is bound too — in one query, and [`Limits::subject`] lends
//! them to `kirjuri_core::access::authorize`. Every read of a contact, a
//! recording or a search's results passes through here; the limits are
//! made and lifted by a request's execution (`requests::limits`).

use std::collections::HashMap;
use std::str::FromStr;

use kirjuri_core::access::SubjectLimits;
use kirjuri_core::ids::ContactId;
use kirjuri_core::purpose::Purpose;
use kirjuri_store::limits::LimitKind;

use crate::app::Kirjuri;
use crate::error::{Error, Result};

/// The limits in force on one contact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Processing is restricted.
    pub restricted: bool,
    /// Purposes objected to.
    pub objected: Vec<Purpose>,
}

impl Limits {
    /// As the access decision takes them.
    pub fn subject(&self) -> SubjectLimits<'_> {
        SubjectLimits {
            restricted: self.restricted,
            objected: &self.objected,
        }
    }
}

impl Kirjuri {
    /// The limits in force now on each of `contacts` that has any.
    pub(crate) async fn limits_on(
        &self,
        contacts: &[ContactId],
    ) -> Result<HashMap<ContactId, Limits>> {
        let rows = self
            .store
            .contact_limits(contacts, self.clock.now())
            .await?;
        let mut limits: HashMap<ContactId, Limits> = HashMap::new();
        for row in rows {
            let entry = limits.entry(row.contact).or_default();
            match (row.kind, row.purpose) {
                (LimitKind::Restriction, _) => entry.restricted = true,
                (LimitKind::Objection, Some(purpose)) => {
                    let purpose = Purpose::from_str(&purpose).map_err(|_| {
                        Error::Damaged("subject_limits.purpose: not a purpose".into())
                    })?;
                    if !entry.objected.contains(&purpose) {
                        entry.objected.push(purpose);
                    }
                }
                (LimitKind::Objection, None) => {
                    return Err(Error::Damaged(
                        "subject_limits: an objection without a purpose".into(),
                    ));
                }
            }
        }
        Ok(limits)
    }

    /// The limits in force now on one contact.
    pub(crate) async fn limits_of(&self, contact: &ContactId) -> Result<Limits> {
        Ok(self
            .limits_on(std::slice::from_ref(contact))
            .await?
            .remove(contact)
            .unwrap_or_default())
    }
}
