//! The erasure ledger (issue 5): every destroyed key and deleted object,
//! appended outside the database and signed with the audit key, so a restore
//! from an older backup can replay it and nothing erased comes back readable.
//! (Being written: the API below is the contract the purge codes against.)

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use kirjuri_core::ids::ContactId;
use kirjuri_store::TombstoneRow;
use uuid::Uuid;

use crate::app::Kirjuri;
use crate::error::{Error, Result};

/// One erasure: what was destroyed (an object, or a contact's document),
/// when and under which rule. The same facts as its tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The object's id, or the contact's id for its document.
    pub id: Uuid,
    /// The contact it belonged to.
    pub contact_id: ContactId,
    /// The object's kind, or `contact`.
    pub kind: String,
    /// The object's SHA-256; `None` for a contact.
    pub sha256: Option<String>,
    /// When its key was destroyed.
    pub deleted_at: DateTime<Utc>,
    /// The rule that destroyed it.
    pub rule: String,
    /// `retention`, `erasure_request` or `ledger_replay`.
    pub reason: String,
}

impl From<&TombstoneRow> for LedgerEntry {
    fn from(t: &TombstoneRow) -> Self {
        Self {
            id: t.id,
            contact_id: t.contact_id,
            kind: t.kind.clone(),
            sha256: t.sha256.clone(),
            deleted_at: t.deleted_at,
            rule: t.rule.clone(),
            reason: t.reason.clone(),
        }
    }
}

/// An open erasure ledger folder.
#[derive(Debug)]
pub struct ErasureLedger {
    dir: PathBuf,
}

impl ErasureLedger {
    /// Opens the ledger of `app` (its configured folder, signed with its
    /// audit signing key), creating the folder on first use.
    pub fn for_app(app: &Kirjuri) -> Result<Self> {
        Self::open(&app.config.ledger_dir())
    }

    /// Opens (creating) the ledger folder `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// Appends `entries` as one signed block; durable when it returns. Safe
    /// with concurrent appenders in other processes.
    pub async fn append(&self, entries: &[LedgerEntry]) -> Result<()> {
        let _ = entries;
        Err(Error::Internal(format!(
            "the erasure ledger at {} is not written yet",
            self.dir.display()
        )))
    }
}
