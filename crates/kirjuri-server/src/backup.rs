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
//! Not here: the ledger's format (`ledger`), the SQLite snapshot itself
//! (`kirjuri_store::SqliteStore::backup_into`), the command line
//! (`kirjuri::backup_cmd`).

use std::collections::{HashMap, HashSet};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::clock::Clock;
use kirjuri_core::ids::{ContactId, ObjectId};
use kirjuri_store::{
    RetentionStore, Shred, ShredMode, SqliteStore, Store, TombstoneRow, TombstoneStep,
};
use kirjuri_vault::checkpoint::{verifier_public_key, verify_bytes};
use kirjuri_vault::fsio::{blocking, create_private_dir, fsync_dir, write_new_private};
use kirjuri_vault::{AuditSigner, Keyring, LocalFolder, ObjectStore};
use ring::digest::{Context, SHA256};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::app::Kirjuri;
use crate::audit::to_row;
use crate::config::{Config, ObjectBackend};
use crate::error::{Error, Result};
use crate::ledger::{ErasureLedger, LedgerEntry, LedgerError, LedgerHead, LedgerReader};

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

/// What a backup holds (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT`].
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

// --- backup -------------------------------------------------------------------

/// Takes a consistent online backup of `app` into `out` (created, or an
/// existing empty folder), copying the key files too if `include_keys`.
/// On failure whatever was written to `out` is removed again.
pub async fn backup(app: &Kirjuri, out: &Path, include_keys: bool) -> Result<BackupReport> {
    if app.config.database.url.is_some() {
        return Err(refused(
            "backup_unsupported",
            "kirjuri backup copies the embedded SQLite database; with [database] url set, back \
             up PostgreSQL with its own tools (pg_basebackup, pg_dump) and the objects with the \
             bucket's",
        ));
    }
    let created = prepare_out(out)?;
    match write_backup(app, out, include_keys).await {
        Ok(report) => Ok(report),
        Err(error) => {
            if let Err(cleanup) = clear_out(out, created) {
                tracing::warn!(error = %cleanup, "failed to remove an incomplete backup");
            }
            Err(error)
        }
    }
}

async fn write_backup(app: &Kirjuri, out: &Path, include_keys: bool) -> Result<BackupReport> {
    // The ledger's head first: every block up to it is in the snapshot.
    let ledger = ErasureLedger::for_app(app)?;
    let head = ledger.head().await?;
    let created_at = app.clock.now();

    let db_path = out.join(DB_FILE);
    let sqlite = SqliteStore::open(&app.config.database_file()).await?;
    let snapshot = sqlite.backup_into(&db_path).await;
    sqlite.close().await;
    snapshot?;
    let contents = SqliteStore::snapshot_contents(&db_path).await?;
    let database = digest_file(db_path, DB_FILE.to_owned()).await?;

    let objects_root = out.join(OBJECTS_DIR);
    create_private_dir(&objects_root)?;
    let source = Arc::clone(&app.objects);
    let copies: Vec<(ObjectId, Option<ObjectDigest>)> =
        futures::stream::iter(contents.objects.iter().copied())
            .map(|(id, _contact, stored_len)| {
                let source = Arc::clone(&source);
                let root = objects_root.clone();
                async move {
                    let copied = copy_out(source.as_ref(), &root, id, stored_len).await?;
                    Ok::<_, Error>((id, copied))
                }
            })
            .buffer_unordered(COPY_CONCURRENCY)
            .try_collect()
            .await?;
    let mut objects = Vec::with_capacity(copies.len());
    let mut erased_after_snapshot = Vec::new();
    for (id, copied) in copies {
        match copied {
            Some(digest) => objects.push(digest),
            None => {
                // Gone since the snapshot: a purge, if it left a tombstone.
                if app.store.tombstone(id.as_uuid()).await?.is_none() {
                    return Err(Error::Internal(format!(
                        "object {id} is named by the database but missing from object storage, \
                         and no purge erased it: the data folder is damaged (run `kirjuri serve` \
                         once to let recovery report it); no backup was written"
                    )));
                }
                erased_after_snapshot.push(id);
            }
        }
    }
    objects.sort_by_key(|o| o.id);
    erased_after_snapshot.sort();
    fsync_fan_out(&objects_root)?;

    let mut keys = Vec::new();
    if include_keys {
        let dir = out.join(KEYS_DIR);
        create_private_dir(&dir)?;
        for (source, name) in [
            (app.config.key_file(), KEYRING_FILE),
            (app.config.audit_key_file(), AUDIT_KEY_FILE),
        ] {
            keys.push(copy_key_file(
                &source,
                &dir.join(name),
                &format!("{KEYS_DIR}/{name}"),
            )?);
        }
        fsync_dir(&dir)?;
    }

    let object_bytes = objects.iter().map(|o| o.bytes).sum::<u64>();
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        kirjuri_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at,
        counts: ManifestCounts {
            contacts: contents.contacts,
            erased_contacts: contents.erased_contacts,
            tombstones: contents.tombstones,
            audit_events: contents.audit_events,
            objects: objects.len() as u64,
            object_bytes,
            erased_after_snapshot: erased_after_snapshot.len() as u64,
        },
        database,
        objects,
        erased_after_snapshot,
        ledger: head,
        keys,
    };
    let signer = AuditSigner::open_or_create(&app.config.audit_key_file(), SIGNER_NAME)?;
    write_manifest(out, &manifest, &signer)?;

    let bytes =
        manifest.database.bytes + object_bytes + manifest.keys.iter().map(|k| k.bytes).sum::<u64>();
    let event = AuditEvent::BackupCreated {
        contacts: manifest.counts.contacts,
        objects: manifest.counts.objects,
        bytes,
        erased_after_snapshot: manifest.counts.erased_after_snapshot,
        keys_included: include_keys,
    };
    app.store
        .append_audit(&to_row(app.clock.now(), None, &event))
        .await?;
    Ok(BackupReport { manifest, bytes })
}

/// Makes `out` an empty private folder; refuses one that holds anything.
/// Returns whether it was created.
fn prepare_out(out: &Path) -> Result<bool> {
    match fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(refused(
                    "backup_out_not_empty",
                    format!(
                        "{} is not empty: a backup goes into a new or empty folder, so it \
                         never mixes with or overwrites another",
                        out.display()
                    ),
                ));
            }
            Ok(false)
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            create_private_dir(out)?;
            Ok(true)
        }
        Err(error) => Err(io_error(format!("failed to read {}", out.display()))(error)),
    }
}

/// Removes an incomplete backup: the folder if we made it, else its contents.
fn clear_out(out: &Path, created: bool) -> io::Result<()> {
    if created {
        return fs::remove_dir_all(out);
    }
    for entry in fs::read_dir(out)? {
        let path = entry?.path();
        if path.is_dir() {
            fs::remove_dir_all(&path)?;
        } else {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Copies object `id` from `source` to `<root>/<xx>/<id>.kjr`, hashing it.
/// `None` if it is no longer in object storage.
async fn copy_out(
    source: &dyn ObjectStore,
    root: &Path,
    id: ObjectId,
    stored_len: u64,
) -> Result<Option<ObjectDigest>> {
    let len = match source.len(&id).await {
        Ok(len) => len,
        Err(kirjuri_vault::Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if len != stored_len {
        return Err(Error::Internal(format!(
            "object {id} has {len} bytes in object storage but its row says {stored_len}: the \
             data folder is damaged; no backup was written"
        )));
    }
    let path = backup_object_path(root, &id);
    let partial = path.with_extension("kjr.part");
    let mut file = blocking({
        let (path, partial) = (path.clone(), partial.clone());
        move || {
            if let Some(dir) = path.parent() {
                create_private_dir(dir)?;
            }
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&partial)
                .map_err(io_error(format!("failed to create {}", partial.display())))
        }
    })
    .await?;
    let mut hash = Context::new(&SHA256);
    let mut at = 0;
    while at < len {
        let end = (at + CHUNK).min(len);
        let bytes = match source.get_range(&id, at..end).await {
            Ok(bytes) => bytes,
            Err(kirjuri_vault::Error::NotFound(_)) => {
                let _ = fs::remove_file(&partial);
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        hash.update(&bytes);
        file = blocking({
            let partial = partial.clone();
            move || {
                file.write_all(&bytes)
                    .map_err(io_error(format!("failed to write {}", partial.display())))?;
                Ok::<_, Error>(file)
            }
        })
        .await?;
        at = end;
    }
    blocking(move || {
        file.sync_all()
            .map_err(io_error(format!("failed to fsync {}", partial.display())))?;
        fs::rename(&partial, &path)
            .map_err(io_error(format!("failed to rename {}", partial.display())))
    })
    .await?;
    Ok(Some(ObjectDigest {
        id,
        bytes: len,
        sha256: hex::encode(hash.finish()),
    }))
}

/// Where a backup keeps object `id`: `<root>/<last two hex digits>/<id>.kjr`.
fn backup_object_path(root: &Path, id: &ObjectId) -> PathBuf {
    let name = id.to_string();
    let fan_out = name.get(name.len().saturating_sub(2)..).unwrap_or("00");
    root.join(fan_out).join(format!("{name}.kjr"))
}

/// Fsyncs `root` and every fan-out folder under it (their new entries).
fn fsync_fan_out(root: &Path) -> Result<()> {
    for entry in
        fs::read_dir(root).map_err(io_error(format!("failed to list {}", root.display())))?
    {
        let entry = entry.map_err(io_error(format!("failed to list {}", root.display())))?;
        if entry.path().is_dir() {
            fsync_dir(&entry.path())?;
        }
    }
    Ok(fsync_dir(root)?)
}

/// Copies a key file into the backup, mode 0600.
fn copy_key_file(source: &Path, target: &Path, name: &str) -> Result<FileDigest> {
    let bytes = Zeroizing::new(
        fs::read(source).map_err(io_error(format!("failed to read {}", source.display())))?,
    );
    write_new_private(target, &bytes)?;
    Ok(FileDigest {
        path: name.to_owned(),
        bytes: bytes.len() as u64,
        sha256: hex::encode(ring::digest::digest(&SHA256, &bytes)),
    })
}

/// Writes `manifest.sig`, then `manifest.json` (whose presence marks the
/// backup complete), then fsyncs the folder.
fn write_manifest(out: &Path, manifest: &Manifest, signer: &AuditSigner) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(manifest)
        .map_err(|e| Error::Internal(format!("failed to encode the manifest: {e}")))?;
    text.push(b'\n');
    let signature = signer.sign_bytes(&signed_message(&text));
    write_new_private(
        &out.join(SIGNATURE_FILE),
        format!("{}\n", BASE64.encode(signature)).as_bytes(),
    )?;
    write_new_private(&out.join(MANIFEST_FILE), &text)?;
    Ok(fsync_dir(out)?)
}

/// What a manifest signature covers.
fn signed_message(manifest: &[u8]) -> Vec<u8> {
    let mut message = SIGNED_PREFIX.to_vec();
    message.extend_from_slice(ring::digest::digest(&SHA256, manifest).as_ref());
    message
}

// --- restore ------------------------------------------------------------------

/// Restores the backup `options.from` into the data folder of `config` and
/// replays the erasure ledger over it (see the module docs for the order of
/// checks and the staging). Nothing in the data folder changes unless every
/// check passes and the staged copy is complete and replayed.
pub async fn restore(
    config: &Config,
    clock: Arc<dyn Clock>,
    options: &RestoreOptions,
) -> Result<RestoreReport> {
    let from = options.from.as_path();
    if config.database.url.is_some() || config.objects.backend != ObjectBackend::Local {
        return Err(refused(
            "restore_unsupported",
            "kirjuri restore writes the embedded SQLite database and the data folder's objects; \
             it cannot restore into PostgreSQL or an S3 bucket",
        ));
    }

    // 1. The manifest, and who vouches for it.
    let (manifest_bytes, signature) = read_manifest_files(from)?;
    let (key, key_source) = resolve_key(config, from, options.verifier_key.as_deref())?;
    verify_bytes(&key, &signed_message(&manifest_bytes), &signature).map_err(|_| {
        refused(
            "backup_manifest_invalid",
            format!(
                "the manifest of {} is not signed by the audit key ({}): it was changed, or the \
                 backup was made with another key; nothing was restored",
                from.display(),
                key_source.describe()
            ),
        )
    })?;
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes).map_err(|e| {
        refused(
            "backup_manifest_invalid",
            format!(
                "the manifest of {} is malformed ({e}); nothing was restored",
                from.display()
            ),
        )
    })?;
    if manifest.format != FORMAT {
        return Err(refused(
            "backup_manifest_invalid",
            format!(
                "the backup's format is {:?}; this Kirjuri reads {FORMAT:?}; nothing was restored",
                manifest.format
            ),
        ));
    }

    // 2. The data folder: not in use, no database unless --force, a key file.
    let data = config.data.clone();
    create_private_dir(&data)?;
    let database_file = config.database_file();
    let objects_dir = config.objects_dir();
    if database_file.parent() != Some(data.as_path())
        || objects_dir.parent() != Some(data.as_path())
    {
        return Err(Error::Internal(
            "restore expects the database and objects directly inside the data folder".into(),
        ));
    }
    let claim = RestoreClaim::take(&config.instances_dir())?;
    let has_database = database_file.exists();
    if has_database && !options.force {
        return Err(refused(
            "restore_target_not_empty",
            format!(
                "the data folder {} already holds a database; a restore replaces it and its \
                 objects: stop every kirjuri process on it, then run restore again with --force",
                data.display()
            ),
        ));
    }
    let backup_has = |name: &str| {
        let path = format!("{KEYS_DIR}/{name}");
        manifest.keys.iter().any(|k| k.path == path)
    };
    if !config.key_file().exists() && !backup_has(KEYRING_FILE) {
        return Err(refused(
            "restore_key_missing",
            format!(
                "there is no key file at {} and the backup holds none (it was made without \
                 --include-keys): the restored data could not be decrypted. Put the key file \
                 the backup was made with there, then run restore again; nothing was restored",
                config.key_file().display()
            ),
        ));
    }
    for digest in &manifest.keys {
        check_file(from, digest, "key file")?;
    }

    // 3. The erasure ledger must verify and still hold the backup's head.
    let ledger_dir = config.ledger_dir();
    let ledger_head = verify_ledger(&ledger_dir, key, &manifest.ledger).await?;

    // 4. Stage: copy and check everything, replay the ledger there.
    let stale_removed = remove_stale(&data)?;
    let staging = Staging::create(&data)?;
    let staged_db = staging.path.join(DB_FILE);
    copy_checked(from, &manifest.database, &staged_db).await?;
    let staged_objects_dir = staging.path.join(OBJECTS_DIR);
    let staged_objects = LocalFolder::open(&staged_objects_dir)?;
    let backup_objects = from.join(OBJECTS_DIR);
    futures::stream::iter(manifest.objects.iter())
        .map(|object| copy_in(&backup_objects, object, &staged_objects))
        .buffer_unordered(COPY_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    let contents = SqliteStore::snapshot_contents(&staged_db).await?;
    check_contents(&manifest, &contents)?;

    let store = SqliteStore::open(&staged_db).await?;
    let keyring_path = if config.key_file().exists() {
        config.key_file()
    } else {
        from.join(KEYS_DIR).join(KEYRING_FILE)
    };
    check_keyring(&store, &keyring_path, &contents).await?;
    let replay = replay(
        &store,
        &staged_objects,
        clock.as_ref(),
        &ledger_dir,
        key,
        ledger_head.seq,
    )
    .await?;
    let event = AuditEvent::BackupRestored {
        backup_created_at: manifest.created_at,
        contacts: manifest.counts.contacts,
        objects: manifest.counts.objects,
        ledger_blocks: replay.blocks,
        ledger_entries: replay.entries,
        objects_shredded: replay.objects_shredded,
        contacts_erased: replay.contacts_erased,
    };
    store
        .append_audit(&to_row(clock.now(), None, &event))
        .await?;
    // Fold the WAL into the file, so the database is one file to move.
    store.checkpoint_and_close().await?;
    for suffix in ["-wal", "-shm"] {
        let side = staging.path.join(format!("{DB_FILE}{suffix}"));
        if file_len(&side)? > 0 && suffix == "-wal" {
            return Err(Error::Internal(
                "the staged database kept a write-ahead log after its checkpoint; nothing was \
                 restored"
                    .into(),
            ));
        }
        let _ = fs::remove_file(&side);
    }
    fsync_dir(&staging.path)?;

    // 5. Swap: the old database (with its WAL) and objects aside, the staged
    // ones in, then the key files where none exist.
    let replaced = staging.swap_into(&data)?;
    let mut keys_installed = Vec::new();
    for (name, target) in [
        (KEYRING_FILE, config.key_file()),
        (AUDIT_KEY_FILE, config.audit_key_file()),
    ] {
        if backup_has(name) && !target.exists() {
            install_key_file(&from.join(KEYS_DIR).join(name), &target)?;
            keys_installed.push(target);
        }
    }
    drop(claim);
    Ok(RestoreReport {
        manifest,
        key_source,
        replay,
        replaced,
        keys_installed,
        stale_removed,
    })
}

impl KeySource {
    fn describe(self) -> &'static str {
        match self {
            KeySource::Pinned => "the --verifier-key given",
            KeySource::DataFolder => "the data folder's audit signing key",
            KeySource::Backup => "the backup's own copy of the audit key",
        }
    }
}

/// Reads `manifest.json` and `manifest.sig`.
fn read_manifest_files(from: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
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

/// The public key that must have signed the manifest and the ledger.
fn resolve_key(
    config: &Config,
    from: &Path,
    verifier_key: Option<&str>,
) -> Result<([u8; 32], KeySource)> {
    if let Some(text) = verifier_key {
        let key = verifier_public_key(text).map_err(|e| Error::BadRequest {
            code: "invalid_verifier_key",
            message: format!("--verifier-key: {e}"),
        })?;
        return Ok((key, KeySource::Pinned));
    }
    let own = config.audit_key_file();
    if own.exists() {
        return Ok((
            AuditSigner::open_or_create(&own, SIGNER_NAME)?.public_key(),
            KeySource::DataFolder,
        ));
    }
    let included = from.join(KEYS_DIR).join(AUDIT_KEY_FILE);
    if included.exists() {
        return Ok((
            AuditSigner::open_or_create(&included, SIGNER_NAME)?.public_key(),
            KeySource::Backup,
        ));
    }
    Err(refused(
        "restore_key_missing",
        format!(
            "cannot check the backup's signature or the erasure ledger: there is no audit \
             signing key at {} and the backup holds none. Put the audit signing key back there, \
             or pass --verifier-key with its verifier key; nothing was restored",
            own.display()
        ),
    ))
}

/// Verifies the whole ledger and that it contains the block the backup
/// recorded as its head; returns the ledger's head.
async fn verify_ledger(dir: &Path, key: [u8; 32], at_backup: &LedgerHead) -> Result<LedgerHead> {
    let dir_owned = dir.to_owned();
    let wanted = at_backup.seq;
    let verified = tokio::task::spawn_blocking(move || {
        let mut reader = LedgerReader::open(&dir_owned, key)?;
        let mut hash_at_backup = None;
        while let Some(block) = reader.next_block()? {
            if block.seq == wanted {
                hash_at_backup = Some(block.hash);
            }
        }
        Ok::<_, LedgerError>((reader.head(), hash_at_backup))
    })
    .await
    .map_err(|e| Error::Internal(format!("the ledger verification task failed: {e}")))?;
    let (head, hash_at_backup) = match verified {
        Ok(verified) => verified,
        Err(LedgerError::Damaged { dir, damage }) => {
            return Err(refused(
                "ledger_damaged",
                format!(
                    "the erasure ledger at {} fails verification at {damage}; nothing was \
                     restored. A restore relies on the ledger to destroy again what was erased \
                     after the backup, so it will not run over a ledger it cannot trust. Put the \
                     ledger's files back from their write-once copy (closed files never change; \
                     only the last file grows) or point ledger_dir at that copy, then run \
                     restore again",
                    dir.display()
                ),
            ));
        }
        Err(LedgerError::Other(e)) => return Err(e),
    };
    if at_backup.seq > 0 && hash_at_backup != Some(at_backup.hash) {
        let what = if head.seq < at_backup.seq {
            format!(
                "holds {} blocks, but held {} when the backup was taken: it was lost, replaced \
                 or rolled back",
                head.seq, at_backup.seq
            )
        } else {
            format!(
                "has a different block {} from the one the backup recorded: it is another \
                 ledger",
                at_backup.seq
            )
        };
        return Err(refused(
            "ledger_mismatch",
            format!(
                "the erasure ledger at {} {what}. Replaying it could not be trusted to erase \
                 everything erased since the backup; nothing was restored. Point ledger_dir at \
                 the ledger this data folder wrote (or its write-once copy), then run restore \
                 again",
                dir.display()
            ),
        ));
    }
    Ok(head)
}

/// Checks that the staged database names exactly the objects the manifest
/// lists (copied or erased after the snapshot), with the same sizes.
fn check_contents(manifest: &Manifest, contents: &kirjuri_store::SnapshotContents) -> Result<()> {
    let mut expected: HashMap<ObjectId, Option<u64>> = manifest
        .objects
        .iter()
        .map(|o| (o.id, Some(o.bytes)))
        .collect();
    for id in &manifest.erased_after_snapshot {
        expected.insert(*id, None);
    }
    let mismatch = || {
        refused(
            "backup_inconsistent",
            "the backup's database and its manifest do not list the same objects; nothing was \
             restored",
        )
    };
    if expected.len() != contents.objects.len() {
        return Err(mismatch());
    }
    for (id, _, stored_len) in &contents.objects {
        match expected.get(id) {
            Some(Some(bytes)) if bytes == stored_len => {}
            Some(None) => {}
            _ => return Err(mismatch()),
        }
    }
    Ok(())
}

/// Checks that the key file that will be in place can unwrap the backup's
/// data keys (one object suffices: all are wrapped with the keyring's
/// KEKs), so a restore never leaves data no key opens.
async fn check_keyring(
    store: &SqliteStore,
    keyring_path: &Path,
    contents: &kirjuri_store::SnapshotContents,
) -> Result<()> {
    let Some((id, _, _)) = contents.objects.first() else {
        return Ok(());
    };
    let Some(row) = store.object(id).await? else {
        return Ok(());
    };
    let keyring = Keyring::open_or_create(keyring_path)?;
    if keyring.unwrap(&row.wrapped_key, id).is_err() {
        return Err(refused(
            "restore_wrong_key",
            format!(
                "the key file {} cannot unwrap this backup's data keys: it is not the key file \
                 the backup was made with (or a newer one of it); nothing was restored",
                keyring_path.display()
            ),
        ));
    }
    Ok(())
}

/// Replays the ledger in `dir` (up to block `until`) over `store` and
/// `objects`: every erasure whose key or document came back is done again.
async fn replay(
    store: &SqliteStore,
    objects: &LocalFolder,
    clock: &dyn Clock,
    dir: &Path,
    key: [u8; 32],
    until: u64,
) -> Result<ReplayCounts> {
    let mut counts = ReplayCounts::default();
    let mut reader = LedgerReader::open(dir, key)?;
    loop {
        let (back, next) = tokio::task::spawn_blocking(move || {
            let next = reader.next_block();
            (reader, next)
        })
        .await
        .map_err(|e| Error::Internal(format!("the ledger reader failed: {e}")))?;
        reader = back;
        let Some(block) = next? else { break };
        if block.seq > until {
            break;
        }
        counts.blocks += 1;
        counts.entries += block.entries.len() as u64;
        let now = clock.now();
        let (contacts, objects_erased): (Vec<&LedgerEntry>, Vec<&LedgerEntry>) =
            block.entries.iter().partition(|e| e.is_contact());

        let ids: Vec<ObjectId> = objects_erased
            .iter()
            .map(|e| ObjectId::from_uuid(e.id))
            .collect();
        let existing: HashMap<ObjectId, DateTime<Utc>> =
            store.existing_objects(&ids).await?.into_iter().collect();
        let mut seen = HashSet::new();
        let shreds: Vec<Shred> = objects_erased
            .iter()
            .filter_map(|entry| {
                let id = ObjectId::from_uuid(entry.id);
                let retain_until = *existing.get(&id)?;
                seen.insert(id)
                    .then(|| object_shred(entry, id, retain_until, block.seq, now))
            })
            .collect();
        if !shreds.is_empty() {
            let destroyed = store.shred_objects(&shreds, ShredMode::Forced).await?;
            for id in &destroyed {
                objects.delete(id).await?;
            }
            let uuids: Vec<uuid::Uuid> = destroyed.iter().map(|id| *id.as_uuid()).collect();
            store
                .mark_tombstones(&uuids, TombstoneStep::StorageDeleted, now)
                .await?;
            counts.objects_shredded += destroyed.len() as u64;
        }

        let ids: Vec<ContactId> = contacts
            .iter()
            .map(|e| ContactId::from_uuid(e.id))
            .collect();
        let unerased: HashMap<ContactId, DateTime<Utc>> =
            store.unerased_contacts(&ids).await?.into_iter().collect();
        let mut seen = HashSet::new();
        let shreds: Vec<Shred> = contacts
            .iter()
            .filter_map(|entry| {
                let id = ContactId::from_uuid(entry.id);
                let retain_until = *unerased.get(&id)?;
                seen.insert(id)
                    .then(|| contact_shred(entry, id, retain_until, block.seq, now))
            })
            .collect();
        if !shreds.is_empty() {
            let erased = store.erase_contacts(&shreds, ShredMode::Forced).await?;
            counts.contacts_erased += erased.len() as u64;
        }
    }
    Ok(counts)
}

fn object_shred(
    entry: &LedgerEntry,
    id: ObjectId,
    retain_until: DateTime<Utc>,
    seq: u64,
    now: DateTime<Utc>,
) -> Shred {
    let event = AuditEvent::ObjectReplayShredded {
        object: id,
        contact: entry.contact_id,
        kind: entry.kind.clone(),
        sha256: entry.sha256.clone(),
        rule: entry.rule.clone(),
        ledger_seq: seq,
        erased_at: entry.deleted_at,
    };
    Shred {
        tombstone: TombstoneRow {
            id: entry.id,
            contact_id: entry.contact_id,
            kind: entry.kind.clone(),
            rule: entry.rule.clone(),
            reason: REPLAY_REASON.to_owned(),
            sha256: entry.sha256.clone(),
            retain_until,
            deleted_at: now,
            // It is in the ledger already: that is where it came from.
            ledgered_at: Some(now),
            storage_deleted_at: None,
        },
        audit: to_row(now, None, &event),
    }
}

fn contact_shred(
    entry: &LedgerEntry,
    id: ContactId,
    retain_until: DateTime<Utc>,
    seq: u64,
    now: DateTime<Utc>,
) -> Shred {
    let event = AuditEvent::ContactReplayErased {
        contact: id,
        rule: entry.rule.clone(),
        ledger_seq: seq,
        erased_at: entry.deleted_at,
    };
    Shred {
        tombstone: TombstoneRow {
            id: entry.id,
            contact_id: id,
            kind: entry.kind.clone(),
            rule: entry.rule.clone(),
            reason: REPLAY_REASON.to_owned(),
            sha256: None,
            retain_until,
            deleted_at: now,
            ledgered_at: Some(now),
            storage_deleted_at: Some(now),
        },
        audit: to_row(now, None, &event),
    }
}

/// Copies a backup file to `target`, checking its size and SHA-256 against
/// `digest` as it goes; fsyncs the copy.
async fn copy_checked(from: &Path, digest: &FileDigest, target: &Path) -> Result<()> {
    let source = inside(from, &digest.path)?;
    let target = target.to_owned();
    let digest = digest.clone();
    blocking(move || {
        let mut input = File::open(&source).map_err(|e| missing_file(&source, &digest.path, e))?;
        let mut output = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&target)
            .map_err(io_error(format!("failed to create {}", target.display())))?;
        let mut hash = Context::new(&SHA256);
        let mut buffer = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = input
                .read(&mut buffer)
                .map_err(io_error(format!("failed to read {}", source.display())))?;
            if n == 0 {
                break;
            }
            hash.update(&buffer[..n]);
            output
                .write_all(&buffer[..n])
                .map_err(io_error(format!("failed to write {}", target.display())))?;
            total += n as u64;
        }
        if total != digest.bytes || hex::encode(hash.finish()) != digest.sha256 {
            return Err(altered(&digest.path));
        }
        output
            .sync_all()
            .map_err(io_error(format!("failed to fsync {}", target.display())))
    })
    .await
}

/// Copies one object from the backup into the staged object folder, checking
/// it against the manifest.
async fn copy_in(root: &Path, object: &ObjectDigest, into: &LocalFolder) -> Result<()> {
    let name = format!("{OBJECTS_DIR}/{}", relative_object_path(&object.id));
    let path = backup_object_path(root, &object.id);
    let (mut file, len) = blocking({
        let (path, name) = (path.clone(), name.clone());
        move || {
            let file = File::open(&path).map_err(|e| missing_file(&path, &name, e))?;
            let len = file
                .metadata()
                .map_err(io_error(format!("failed to stat {}", path.display())))?
                .len();
            Ok::<_, Error>((file, len))
        }
    })
    .await?;
    if len != object.bytes {
        return Err(altered(&name));
    }
    let mut writer = into.put(&object.id).await?;
    let mut hash = Context::new(&SHA256);
    let mut remaining = len;
    while remaining > 0 {
        let n = remaining.min(CHUNK) as usize;
        let (back, bytes) = blocking({
            let path = path.clone();
            move || {
                let mut buffer = vec![0u8; n];
                file.read_exact(&mut buffer)
                    .map_err(io_error(format!("failed to read {}", path.display())))?;
                Ok::<_, Error>((file, Bytes::from(buffer)))
            }
        })
        .await?;
        file = back;
        hash.update(&bytes);
        remaining -= n as u64;
        if let Err(e) = writer.write(bytes).await {
            return Err(e.into());
        }
    }
    if hex::encode(hash.finish()) != object.sha256 {
        writer.abort().await?;
        return Err(altered(&name));
    }
    writer.commit().await?;
    Ok(())
}

fn relative_object_path(id: &ObjectId) -> String {
    let path = backup_object_path(Path::new(""), id);
    path.to_string_lossy().into_owned()
}

/// Checks a small file of the backup (a key file) against its digest.
fn check_file(from: &Path, digest: &FileDigest, what: &str) -> Result<()> {
    let path = inside(from, &digest.path)?;
    let bytes = Zeroizing::new(fs::read(&path).map_err(|e| missing_file(&path, &digest.path, e))?);
    if bytes.len() as u64 != digest.bytes
        || hex::encode(ring::digest::digest(&SHA256, &bytes)) != digest.sha256
    {
        return Err(refused(
            "backup_altered",
            format!(
                "the backup's {what} {} does not match its manifest (changed or damaged); nothing \
                 was restored",
                digest.path
            ),
        ));
    }
    Ok(())
}

/// Installs a key file from the backup at `target` (mode 0600, in a 0700
/// folder), never replacing one.
fn install_key_file(source: &Path, target: &Path) -> Result<()> {
    let bytes = Zeroizing::new(
        fs::read(source).map_err(io_error(format!("failed to read {}", source.display())))?,
    );
    if let Some(dir) = target.parent() {
        create_private_dir(dir)?;
    }
    write_new_private(target, &bytes)?;
    if let Some(dir) = target.parent() {
        fsync_dir(dir)?;
    }
    Ok(())
}

/// A path of the manifest, resolved inside the backup folder: relative,
/// without `..` — a manifest cannot point a restore elsewhere.
fn inside(from: &Path, relative: &str) -> Result<PathBuf> {
    let path = Path::new(relative);
    if path.is_absolute()
        || path
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(refused(
            "backup_manifest_invalid",
            format!(
                "the manifest names a path outside the backup ({relative:?}); nothing was restored"
            ),
        ));
    }
    Ok(from.join(path))
}

fn missing_file(path: &Path, name: &str, error: io::Error) -> Error {
    if error.kind() == io::ErrorKind::NotFound {
        refused(
            "backup_incomplete",
            format!("the backup is missing {name}, which its manifest lists; nothing was restored"),
        )
    } else {
        io_error(format!("failed to open {}", path.display()))(error)
    }
}

fn altered(name: &str) -> Error {
    refused(
        "backup_altered",
        format!(
            "the backup's {name} does not match its manifest (its size or SHA-256 differs: \
             changed or damaged); nothing was restored"
        ),
    )
}

/// Removes what an interrupted restore left in the data folder: staging
/// folders and folders of replaced data. Returns how many.
fn remove_stale(data: &Path) -> Result<u64> {
    let mut removed = 0;
    for entry in
        fs::read_dir(data).map_err(io_error(format!("failed to list {}", data.display())))?
    {
        let entry = entry.map_err(io_error(format!("failed to list {}", data.display())))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(STAGING_PREFIX) || name.starts_with(REPLACED_PREFIX) {
            fs::remove_dir_all(entry.path()).map_err(io_error(format!(
                "failed to remove {}",
                entry.path().display()
            )))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// A staging folder inside the data folder, removed on drop unless swapped
/// in.
struct Staging {
    /// `<data>/.restore-staging-<id>`.
    path: PathBuf,
}

impl Staging {
    fn create(data: &Path) -> Result<Self> {
        let path = data.join(format!("{STAGING_PREFIX}{}", uuid::Uuid::new_v4().simple()));
        DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(io_error(format!("failed to create {}", path.display())))?;
        Ok(Self { path })
    }

    /// Moves the data folder's database files and objects aside and the
    /// staged ones in; removes what was moved aside. Returns whether there
    /// was anything to replace.
    fn swap_into(&self, data: &Path) -> Result<bool> {
        let aside = data.join(format!(
            "{REPLACED_PREFIX}{}",
            uuid::Uuid::new_v4().simple()
        ));
        let mut replaced = false;
        // The WAL before its database: a database must never meet another's WAL.
        for name in [
            format!("{DB_FILE}-wal"),
            format!("{DB_FILE}-shm"),
            DB_FILE.to_owned(),
            OBJECTS_DIR.to_owned(),
        ] {
            let path = data.join(&name);
            if fs::symlink_metadata(&path).is_ok() {
                if !replaced {
                    DirBuilder::new()
                        .mode(0o700)
                        .create(&aside)
                        .map_err(io_error(format!("failed to create {}", aside.display())))?;
                    replaced = true;
                }
                rename(&path, &aside.join(&name))?;
            }
        }
        rename(&self.path.join(DB_FILE), &data.join(DB_FILE))?;
        rename(&self.path.join(OBJECTS_DIR), &data.join(OBJECTS_DIR))?;
        fsync_dir(data)?;
        if replaced {
            fs::remove_dir_all(&aside)
                .map_err(io_error(format!("failed to remove {}", aside.display())))?;
        }
        Ok(replaced)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.path.exists()
            && let Err(error) = fs::remove_dir_all(&self.path)
        {
            tracing::warn!(folder = %self.path.display(), %error, "failed to remove the restore's staging folder");
        }
    }
}

/// The restore's claim on the data folder: refuses if any process holds an
/// instance lock, then holds one itself until dropped.
struct RestoreClaim {
    /// The lock file.
    path: PathBuf,
    /// Held with an exclusive lock.
    _file: File,
}

impl RestoreClaim {
    fn take(dir: &Path) -> Result<Self> {
        create_private_dir(dir)?;
        for entry in
            fs::read_dir(dir).map_err(io_error(format!("failed to list {}", dir.display())))?
        {
            let entry = entry.map_err(io_error(format!("failed to list {}", dir.display())))?;
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "lock") {
                continue;
            }
            let Ok(file) = OpenOptions::new().write(true).open(&path) else {
                continue;
            };
            if file.try_lock().is_err() {
                return Err(refused(
                    "data_folder_in_use",
                    format!(
                        "the data folder is in use by a running kirjuri process ({} is locked): \
                         stop `kirjuri serve` and every other kirjuri command on it, then run \
                         restore again; nothing was restored",
                        path.display()
                    ),
                ));
            }
        }
        let path = dir.join(format!("{}.lock", uuid::Uuid::new_v4().simple()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_error(format!("failed to create {}", path.display())))?;
        file.try_lock()
            .map_err(|e| Error::Internal(format!("failed to lock {}: {e}", path.display())))?;
        Ok(Self { path, _file: file })
    }
}

impl Drop for RestoreClaim {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

// --- small file helpers ---------------------------------------------------------

/// SHA-256 and size of a file of the backup.
async fn digest_file(path: PathBuf, name: String) -> Result<FileDigest> {
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

fn file_len(path: &Path) -> Result<u64> {
    match fs::metadata(path) {
        Ok(metadata) => Ok(metadata.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(io_error(format!("failed to stat {}", path.display()))(e)),
    }
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(io_error(format!(
        "failed to move {} to {}",
        from.display(),
        to.display()
    )))
}

fn refused(code: &'static str, message: impl Into<String>) -> Error {
    Error::Conflict {
        code,
        message: message.into(),
    }
}

fn io_error(context: String) -> impl Fn(io::Error) -> Error {
    move |e| Error::Internal(format!("{context}: {e}"))
}
