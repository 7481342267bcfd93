//! The checks after `migrate-store`'s copy: `audit verify` run on the
//! target, whether the source changed meanwhile, and which key files and
//! erasure ledger every node needs (they stay files, outside the database
//! and the bucket).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kirjuri_core::clock::SystemClock;
use kirjuri_store::copy::{Export, Table, TableComparison};
use kirjuri_store::{PostgresStore, SqliteStore, Store};

use super::{Error, Result, same_folder};
use crate::Config;
use crate::audit_chain::{self, AuditChain};

/// The outcome of `audit verify` on the target.
#[derive(Debug)]
pub struct AuditCheck {
    /// The verifier's report.
    pub report: audit_chain::VerifyReport,
    /// The signing key whose verifier key checked the signatures.
    pub key_file: Option<PathBuf>,
}

impl AuditCheck {
    /// Whether the target's audit log verified.
    pub fn is_intact(&self) -> bool {
        self.report.is_intact()
    }
}

/// `audit verify` on the target: its verifier, over the target's rows,
/// with the signing key the nodes will use (the configuration's
/// `audit_key_file`, else the source folder's).
pub(super) async fn verify_audit(
    config: &Config,
    source_dir: &Path,
    target: &PostgresStore,
    log_id: &str,
) -> Result<AuditCheck> {
    let configured = config.audit_key_file();
    let in_source = source_dir.join("keys").join("audit-signing.key");
    let key_file = [configured, in_source]
        .into_iter()
        .find(|path| path.is_file());
    let store: Arc<dyn Store> = Arc::new(target.clone());
    let verifier_key = match &key_file {
        Some(path) => Some(
            AuditChain::open(Arc::clone(&store), Arc::new(SystemClock), path)
                .await
                .map_err(|source| Error::App {
                    context: format!("failed to open the audit signing key {}", path.display()),
                    source,
                })?
                .verifier_key(),
        ),
        None => None,
    };
    let origin = audit_chain::origin(log_id);
    let report = audit_chain::verify(store, &origin, verifier_key.as_deref(), None)
        .await
        .map_err(|source| Error::App {
            context: "failed to verify the audit log on the target".into(),
            source,
        })?;
    Ok(AuditCheck { report, key_file })
}

/// The source changed after the snapshot the copy was made from (a process
/// started on it meanwhile): a table's row count moved.
#[derive(Debug, Clone, Copy)]
pub struct SourceChange {
    /// The table that moved.
    pub table: Table,
    /// Its rows now.
    pub rows: u64,
    /// Its rows copied.
    pub copied: u64,
}

/// Whether the source's audit log, objects or contacts moved since the
/// copy's snapshot.
pub(super) async fn source_changed(
    store: &SqliteStore,
    comparisons: &[TableComparison],
) -> Result<Option<SourceChange>> {
    let now = store
        .begin_export()
        .await
        .map_err(Error::store("failed to re-read the source database"))?;
    for table in [Table::AuditEvents, Table::Objects, Table::Contacts] {
        let copied = comparisons
            .iter()
            .find(|c| c.table == table)
            .map_or(0, |c| c.source_rows);
        let rows = now.count(table).await?;
        if rows != copied {
            return Ok(Some(SourceChange {
                table,
                rows,
                copied,
            }));
        }
    }
    Ok(None)
}

/// A key file every node needs, and whether the configuration finds it.
#[derive(Debug, Clone)]
pub struct KeyFile {
    /// The setting: `key_file` or `audit_key_file`.
    pub setting: &'static str,
    /// Where the configuration looks for it.
    pub configured: PathBuf,
    /// The source folder's copy.
    pub in_source: PathBuf,
    /// What the configuration finds there.
    pub status: KeyStatus,
}

/// What the configuration finds where it looks for a key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// The source's own key, or a copy of it.
    Found,
    /// Another key: nodes using it cannot read what was migrated.
    Differs,
    /// Nothing: it must be copied there before a node starts.
    Missing,
}

/// The key files every node needs, each compared with the source's.
pub(super) fn key_files(config: &Config, source_dir: &Path) -> Vec<KeyFile> {
    let keys = source_dir.join("keys");
    [
        ("key_file", config.key_file(), keys.join("keyring.json")),
        (
            "audit_key_file",
            config.audit_key_file(),
            keys.join("audit-signing.key"),
        ),
    ]
    .into_iter()
    .map(|(setting, configured, in_source)| {
        let differs = !same_folder(&configured, &in_source)
            && configured.is_file()
            && in_source.is_file()
            && std::fs::read(&configured).ok() != std::fs::read(&in_source).ok();
        let status = if differs {
            KeyStatus::Differs
        } else if configured.is_file() {
            KeyStatus::Found
        } else {
            KeyStatus::Missing
        };
        KeyFile {
            setting,
            configured,
            in_source,
            status,
        }
    })
    .collect()
}

/// The source's erasure ledger, when the configuration's `ledger_dir` is
/// not it: every node must be pointed at it so a restore can still replay
/// every erasure.
pub(super) fn ledger_elsewhere(config: &Config, source_dir: &Path) -> Option<PathBuf> {
    let ledger = source_dir.join("erasure-ledger");
    (ledger.is_dir() && !same_folder(&config.ledger_dir(), &ledger)).then_some(ledger)
}
