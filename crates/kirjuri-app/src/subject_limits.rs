//! What the data subjects of contacts have forbidden, as the access
//! decision takes it (DSR-4): [`Kirjuri::limits_on`] reads the
//! restrictions and objections in force on a set of contacts — found
//! through the contacts' blind-index entries, so a contact delivered after
//! the limit is bound too — in one query, and [`Limits::subject`] lends
//! them to `kirjuri_core::access::authorize`. Every read of a contact, a
//! recording or a search's results passes through here; the limits are
//! made and lifted by a request's execution (`requests::limits`). A read
//! of one contact gets its limits with the contact itself, in one statement
//! ([`Limits::of`] folds them).

use std::collections::HashMap;
use std::str::FromStr;

use kirjuri_core::access::SubjectLimits;
use kirjuri_core::ids::ContactId;
use kirjuri_core::purpose::Purpose;
use kirjuri_store::limits::{ContactLimit, LimitKind};

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
            limits.entry(row.contact).or_default().add(row)?;
        }
        Ok(limits)
    }
}

impl Limits {
    /// The limits of one contact, from its rows
    /// ([`kirjuri_store::limits::LimitStore::contact_for_read`]'s).
    pub(crate) fn of(rows: Vec<ContactLimit>) -> Result<Self> {
        let mut limits = Limits::default();
        for row in rows {
            limits.add(row)?;
        }
        Ok(limits)
    }

    /// Adds one limit in force.
    fn add(&mut self, row: ContactLimit) -> Result<()> {
        match (row.kind, row.purpose) {
            (LimitKind::Restriction, _) => self.restricted = true,
            (LimitKind::Objection, Some(purpose)) => {
                let purpose = Purpose::from_str(&purpose)
                    .map_err(|_| Error::Damaged("subject_limits.purpose: not a purpose".into()))?;
                if !self.objected.contains(&purpose) {
                    self.objected.push(purpose);
                }
            }
            (LimitKind::Objection, None) => {
                return Err(Error::Damaged(
                    "subject_limits: an objection without a purpose".into(),
                ));
            }
        }
        Ok(())
    }
}
