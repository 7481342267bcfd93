//! `kirjuri backup` and `kirjuri restore` (issue 5): a consistent online
//! backup of the data folder, and a restore that replays the erasure ledger
//! so that nothing erased after the backup was taken comes back readable.
//!
//! **A backup folder** holds
//!
//! ```text
//! kirjuri.db              the database, a VACUUM INTO snapshot (one commit's state)
//! objects/<xx>/<id>.kjr   every object file the snapshot's rows name, as stored
//!                         (ciphertext); xx = the id's last two hex digits
//! keys/                   only with --include-keys: keyring.json (the KEKs) and
//!                         audit-signing.key, mode 0600
//! manifest.json           what is there: counts, sizes and SHA-256 of every file,
//!                         the erasure ledger's head when the backup began
//! manifest.sig            base64 Ed25519 signature by the audit key over
//!                         "kirjuri-backup-manifest/v1\n" ‖ SHA-256(manifest.json)
//! ```
//!
//! **Consistency while `serve` runs.** The ledger's head is read first, then
//! the database is snapshotted in one read transaction, then the object
//! files the snapshot names are copied. Objects are immutable, so a copy
//! made after the snapshot is the object the snapshot knew. A purge may
//! delete one in between: its tombstone is then in the live database and
//! its erasure in the ledger, and the manifest lists it as "erased after
//! snapshot" (not an error — the restore's replay destroys its key). Every
//! ledger block up to the recorded head was written after its erasure
//! committed, so it is already in the snapshot; blocks after it may or may
//! not be, and the replay takes care of them.
//!
//! **Restore** checks, before it touches the data folder: the manifest's
//! signature (with a pinned `--verifier-key`, the data folder's audit key,
//! or — proving only that the backup is self-consistent — the backup's own),
//! that no live process holds the folder (`instances/*.lock`), that it holds
//! no database unless `--force`, that a key file will be there, and that the
//! erasure ledger verifies completely and still contains the block the
//! manifest recorded (a ledger that was lost, replaced or rolled back would
//! let erased data return). Then it stages: copies the database and every
//! object into `<data>/.restore-staging-<id>/`, checking each file's size
//! and SHA-256 against the manifest as it copies; replays the whole ledger
//! *there* — object entries destroy the object's wrapped key
//! (`shred_objects(.., ShredMode::Forced)`, tombstone reason
//! `ledger_replay`) and delete its file, contact entries erase the document
//! (`erase_contacts(.., Forced)`), each with its audit event — and appends
//! one restore event. Only then does it move the old database (with its WAL)
//! and objects aside, rename the staged ones into place, fsync the folder,
//! and delete what it moved aside. So the data folder never holds a restored
//! database whose erasures are not yet replayed, and any failure before the
//! renames leaves it exactly as it was. A crash during the renames (four
//! renames in one folder) can leave it without a database; running the same
//! restore again finishes the job (it removes stale staging folders first).
//! The existing key files are kept; the backup's are installed only where
//! none exists.
//!
//! Limits: the database must be the embedded SQLite one, and a restore
//! writes to the local object folder (not S3). A `serve` started while a
//! restore runs is not stopped by it — stop the service first.
//!
//! **Code layout.** This file holds the constants, the option and report
//! types and small file helpers; `manifest.rs` the manifest, its signature
//! and reading it back; `create.rs` taking a backup; `restore.rs` the checks
//! and staged copy of a restore; `replay.rs` replaying the erasure ledger over
//! the staged copy; `staging.rs` the staging folder, the restore claim and
//! the final swap into place.
//!
//! Not here: the ledger's format (`ledger`), the SQLite snapshot itself
//! (`kirjuri_store::SqliteStore::backup_into`), the command line
//! (`kirjuri::backup_cmd`), generic file helpers (`kirjuri_vault::fsio`).

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use kirjuri_vault::fsio::blocking;
use ring::digest::{Context, SHA256};

use crate::error::{Error, Result};

mod create;
mod manifest;
mod replay;
mod restore;
mod staging;

pub use create::backup;
pub use manifest::{FileDigest, Manifest, ManifestCounts, ObjectDigest};
pub use restore::restore;

/// The manifest's file name.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The manifest signature's file name.
pub const SIGNATURE_FILE: &str = "manifest.sig";
/// The format this code writes and reads.
pub const FORMAT: &str = "kirjuri-backup/1";
/// What a manifest signature's message starts with (domain separation).
const SIGNED_PREFIX: &[u8] = b"kirjuri-backup-manifest/v1\n";
/// The key name of the manifest signer (the signature is raw Ed25519).
const SIGNER_NAME: &str = "kirjuri-backup";
const DB_FILE: &str = "kirjuri.db";
const OBJECTS_DIR: &str = "objects";
const KEYS_DIR: &str = "keys";
/// The key-encryption key file in a backup's `keys/`.
const KEYRING_FILE: &str = "keyring.json";
/// The audit signing key in a backup's `keys/`.
const AUDIT_KEY_FILE: &str = "audit-signing.key";
/// Bytes per read when copying.
const CHUNK: u64 = 4 << 20;
/// Objects copied at once.
const COPY_CONCURRENCY: usize = 4;
/// A manifest larger than this is refused (about six million objects).
const MAX_MANIFEST: u64 = 1 << 30;
/// What staging folders inside the data folder are called.
const STAGING_PREFIX: &str = ".restore-staging-";
/// What the replaced database and objects are moved aside to.
const REPLACED_PREFIX: &str = ".restore-replaced-";
/// The tombstone reason of the replay's erasures.
const REPLAY_REASON: &str = "ledger_replay";
/// What `kirjuri backup` did.
#[derive(Debug, Clone)]
pub struct BackupReport {
    /// The manifest written.
    pub manifest: Manifest,
    /// Bytes written (database, objects, keys).
    pub bytes: u64,
}

/// The options of `kirjuri restore`.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// The backup folder.
    pub from: PathBuf,
    /// Replace a data folder that already holds a database.
    pub force: bool,
    /// A note verifier key to check the manifest and the ledger with,
    /// instead of the data folder's (or the backup's) audit key.
    pub verifier_key: Option<String>,
    /// Restore into a new data folder with no erasure ledger: the operator
    /// vouches that nothing was erased since the backup.
    pub without_ledger: bool,
}

/// Which key checked the backup's manifest and the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// The verifier key given on the command line.
    Pinned,
    /// The data folder's audit signing key.
    DataFolder,
    /// The backup's own copy of the audit key (proves only that the backup
    /// is self-consistent).
    Backup,
}

/// What the ledger's replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayCounts {
    /// Blocks read.
    pub blocks: u64,
    /// Entries read.
    pub entries: u64,
    /// Objects whose keys the replay destroyed (and files deleted).
    pub objects_shredded: u64,
    /// Contacts whose documents the replay erased.
    pub contacts_erased: u64,
}

/// What `kirjuri restore` did.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    /// The backup's manifest.
    pub manifest: Manifest,
    /// Which key vouched for it.
    pub key_source: KeySource,
    /// The replay.
    pub replay: ReplayCounts,
    /// Whether a database was replaced (`--force`).
    pub replaced: bool,
    /// Key files installed from the backup (where none existed).
    pub keys_installed: Vec<PathBuf>,
    /// Stale staging folders of an interrupted restore that were removed.
    pub stale_removed: u64,
}

// --- small file helpers ---------------------------------------------------------

/// SHA-256 and size of a file of the backup.
pub(super) async fn digest_file(path: PathBuf, name: String) -> Result<FileDigest> {
    blocking(move || {
        let mut file =
            File::open(&path).map_err(io_error(format!("failed to open {}", path.display())))?;
        let mut hash = Context::new(&SHA256);
        let mut buffer = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        loop {
            let n = file
                .read(&mut buffer)
                .map_err(io_error(format!("failed to read {}", path.display())))?;
            if n == 0 {
                break;
            }
            hash.update(&buffer[..n]);
            bytes += n as u64;
        }
        Ok(FileDigest {
            path: name,
            bytes,
            sha256: hex::encode(hash.finish()),
        })
    })
    .await
}

pub(super) fn file_len(path: &Path) -> Result<u64> {
    match fs::metadata(path) {
        Ok(metadata) => Ok(metadata.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(io_error(format!("failed to stat {}", path.display()))(e)),
    }
}

pub(super) fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(io_error(format!(
        "failed to move {} to {}",
        from.display(),
        to.display()
    )))
}

pub(super) fn refused(code: &'static str, message: impl Into<String>) -> Error {
    Error::Conflict {
        code,
        message: message.into(),
    }
}

pub(super) fn io_error(context: String) -> impl Fn(io::Error) -> Error {
    move |e| Error::io(context.clone(), e)
}
