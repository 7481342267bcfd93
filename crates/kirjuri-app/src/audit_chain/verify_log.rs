//! `kirjuri audit verify` as one call: reads the checkpoint an outside
//! witness kept, chooses the key that checks signatures (the one given,
//! else the data folder's own, else none), and runs [`verify()`](super::verify)
//! over the app's store.
//!
//! Not here: the checks themselves (`verify.rs`), printing the report (the
//! binary). Verifying never creates a signing key: without one, and without
//! a key given, every checkpoint is reported as unverifiable.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{AuditChain, VerifyReport, origin, verify};
use crate::Kirjuri;

/// What [`verify_log`] found, and the key it checked signatures with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogVerification {
    /// The verifier's report.
    pub report: VerifyReport,
    /// The note verifier key used; `None` when there was none to use.
    pub verifier_key: Option<String>,
}

/// Why [`verify_log`] could not verify (a damaged log is not an error: it
/// is a report with findings).
#[derive(Debug, thiserror::Error)]
pub enum VerifyLogError {
    /// The witness's checkpoint file could not be read.
    #[error("failed to read the checkpoint {}", path.display())]
    ReadWitness {
        /// The file given.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The store did not tell the log's identity.
    #[error("failed to read the audit log's identity")]
    LogId(#[source] kirjuri_store::Error),
    /// The data folder's signing key exists but could not be opened.
    #[error("failed to open the audit signing key")]
    SigningKey(#[source] crate::Error),
    /// Reading the events or checkpoints failed.
    #[error("failed to verify the audit log")]
    Verify(#[source] crate::Error),
}

/// Verifies `app`'s audit log, against `witness` (a checkpoint file exported
/// earlier) if given, checking signatures with `verifier_key` if given or
/// else with the data folder's signing key if it has one.
pub async fn verify_log(
    app: &Kirjuri,
    witness: Option<&Path>,
    verifier_key: Option<String>,
) -> Result<LogVerification, VerifyLogError> {
    let witness =
        match witness {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|source| {
                VerifyLogError::ReadWitness {
                    path: path.to_owned(),
                    source,
                }
            })?),
            None => None,
        };
    let log_id = app
        .store
        .audit_log_id()
        .await
        .map_err(VerifyLogError::LogId)?;
    let origin = origin(&log_id);
    let verifier_key = match verifier_key {
        Some(key) => Some(key),
        None if app.config.audit_key_file().exists() => Some(
            AuditChain::for_app(app)
                .await
                .map_err(VerifyLogError::SigningKey)?
                .verifier_key(),
        ),
        None => None,
    };
    let report = verify(
        Arc::clone(&app.store),
        &origin,
        verifier_key.as_deref(),
        witness.as_deref(),
    )
    .await
    .map_err(VerifyLogError::Verify)?;
    Ok(LogVerification {
        report,
        verifier_key,
    })
}
