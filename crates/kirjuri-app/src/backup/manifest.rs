//! The backup manifest: what a backup holds ([`Manifest`] with the size and
//! SHA-256 of every file), writing it and its Ed25519 signature last (their
//! presence marks a backup complete), and reading both back for a restore.
//!
//! Not here: checking the signature against a trusted key (that is
//! `restore.rs`), taking the backup (`create.rs`).

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use kirjuri_core::ids::ObjectId;
use kirjuri_vault::AuditSigner;
use kirjuri_vault::fsio::{fsync_dir, write_new_private};
use serde::{Deserialize, Serialize};

use super::{MANIFEST_FILE, MAX_MANIFEST, SIGNATURE_FILE, SIGNED_PREFIX, io_error, refused};
use crate::error::{Error, Result};
use crate::ledger::LedgerHead;

/// What a backup holds (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT`](super::FORMAT).
    pub format: String,
    /// The version of Kirjuri that wrote it.
    pub kirjuri_version: String,
    /// When the backup began.
    pub created_at: DateTime<Utc>,
    /// Counts, for people.
    pub counts: ManifestCounts,
    /// The database file.
    pub database: FileDigest,
    /// Every object file, by id.
    pub objects: Vec<ObjectDigest>,
    /// Objects the snapshot named that a purge deleted before they were
    /// copied; their erasure is in the ledger.
    pub erased_after_snapshot: Vec<ObjectId>,
    /// The erasure ledger's head when the backup began.
    pub ledger: LedgerHead,
    /// The key files, if included.
    pub keys: Vec<FileDigest>,
}

/// A backup's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestCounts {
    /// Contacts in the database (erased ones included).
    pub contacts: u64,
    /// Contacts whose documents were already erased.
    pub erased_contacts: u64,
    /// Tombstones in the database.
    pub tombstones: u64,
    /// Audit events in the database.
    pub audit_events: u64,
    /// Object files copied.
    pub objects: u64,
    /// Their bytes.
    pub object_bytes: u64,
    /// Objects erased between the snapshot and their copy.
    pub erased_after_snapshot: u64,
}

/// A file of the backup: its path inside the backup, size and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    /// Relative to the backup folder.
    pub path: String,
    /// Its length.
    pub bytes: u64,
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
}

/// An object file of the backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectDigest {
    /// The object.
    pub id: ObjectId,
    /// Its stored (ciphertext) length.
    pub bytes: u64,
    /// SHA-256 of the stored file, lower-case hex.
    pub sha256: String,
}

/// Writes `manifest.sig`, then `manifest.json` (whose presence marks the
/// backup complete), then fsyncs the folder.
pub(super) fn write_manifest(out: &Path, manifest: &Manifest, signer: &AuditSigner) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(manifest).map_err(|source| Error::Encode {
        what: "the manifest",
        source,
    })?;
    text.push(b'\n');
    let signature = signer.sign_document(SIGNED_PREFIX, &text);
    write_new_private(
        &out.join(SIGNATURE_FILE),
        format!("{}\n", BASE64.encode(signature)).as_bytes(),
    )?;
    write_new_private(&out.join(MANIFEST_FILE), &text)?;
    Ok(fsync_dir(out)?)
}

/// Reads `manifest.json` and `manifest.sig`.
pub(super) fn read_manifest_files(from: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
    let manifest_path = from.join(MANIFEST_FILE);
    let missing = |what: &str| {
        refused(
            "backup_incomplete",
            format!(
                "{} has no {what}: it is not a backup, or the backup did not finish; nothing was \
                 restored",
                from.display()
            ),
        )
    };
    let file = match File::open(&manifest_path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing(MANIFEST_FILE)),
        Err(e) => {
            return Err(io_error(format!(
                "failed to open {}",
                manifest_path.display()
            ))(e));
        }
    };
    let mut manifest = Vec::new();
    file.take(MAX_MANIFEST + 1)
        .read_to_end(&mut manifest)
        .map_err(io_error(format!(
            "failed to read {}",
            manifest_path.display()
        )))?;
    if manifest.len() as u64 > MAX_MANIFEST {
        return Err(refused(
            "backup_manifest_invalid",
            "the manifest is too large",
        ));
    }
    let signature_path = from.join(SIGNATURE_FILE);
    let signature = match fs::read_to_string(&signature_path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing(SIGNATURE_FILE)),
        Err(e) => {
            return Err(io_error(format!(
                "failed to read {}",
                signature_path.display()
            ))(e));
        }
    };
    let signature = BASE64.decode(signature.trim_end()).map_err(|_| {
        refused(
            "backup_manifest_invalid",
            format!(
                "{} is not a base64 signature; nothing was restored",
                signature_path.display()
            ),
        )
    })?;
    Ok((manifest, signature))
}
