//! `kirjuri restore`: every check before the data folder is touched (the
//! manifest's signature, no live process, the ledger verifies and still holds
//! the recorded head, a key file will be there), then the staged copy of the
//! database and objects, each file checked against the manifest as copied.
//!
//! Not here: replaying erasures over the staged copy (`replay.rs`),
//! the staging folder and the final swap (`staging.rs`).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::clock::Clock;
use kirjuri_core::ids::ObjectId;
use kirjuri_store::SqliteStore;
use kirjuri_store::prelude::*;
use kirjuri_vault::checkpoint::{verifier_public_key, verify_document};
use kirjuri_vault::fsio::{blocking, create_private_dir, fsync_dir, write_new_private};
use kirjuri_vault::{AuditSigner, Keyring, LocalFolder, ObjectStore};
use ring::digest::{Context, SHA256};
use zeroize::Zeroizing;

use super::SIGNED_PREFIX;
use super::create::backup_object_path;
use super::manifest::{FileDigest, Manifest, ObjectDigest, read_manifest_files};
use super::replay::replay;
use super::staging::{RestoreClaim, Staging, remove_stale};
use super::{
    AUDIT_KEY_FILE, CHUNK, COPY_CONCURRENCY, DB_FILE, FORMAT, KEYRING_FILE, KEYS_DIR, KeySource,
    OBJECTS_DIR, RestoreOptions, RestoreReport, SIGNER_NAME, file_len, io_error, refused,
};
use crate::audit::to_row;
use crate::config::{Config, ObjectBackend};
use crate::error::{Error, Result};
use crate::ledger::{LedgerError, LedgerHead, LedgerReader};

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
    verify_document(&key, SIGNED_PREFIX, &manifest_bytes, &signature).map_err(|_| {
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
            "restore expects the database and objects directly inside the data folder",
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
    // A backup from before any erasure records block 0, which an absent
    // ledger "holds" too. Into a folder with a database of its own, an
    // absent ledger means that register never erased anything; into a
    // fresh folder (a new machine), it may mean the ledger was left
    // behind — and everything erased since the backup would come back.
    if manifest.ledger.seq == 0
        && !has_database
        && !options.without_ledger
        && !ledger_has_files(&ledger_dir)?
    {
        return Err(refused(
            "ledger_missing",
            format!(
                "there is no erasure ledger at {} and the data folder is new: restoring without \
                 it would bring back everything erased since the backup. Copy the ledger (or \
                 its write-once copy) there or point ledger_dir at it, then run restore again; \
                 if this register has never erased anything since the backup, pass \
                 --without-ledger; nothing was restored",
                ledger_dir.display()
            ),
        ));
    }
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
                 restored",
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

/// The public key that must have signed the manifest and the ledger.
pub(super) fn resolve_key(
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

/// Whether the ledger folder holds any file (a missing folder holds none).
fn ledger_has_files(dir: &Path) -> Result<bool> {
    match fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error(format!(
            "reading the erasure ledger folder {}",
            dir.display()
        ))(e)),
    }
}

/// Verifies the whole ledger and that it contains the block the backup
/// recorded as its head; returns the ledger's head.
pub(super) async fn verify_ledger(
    dir: &Path,
    key: [u8; 32],
    at_backup: &LedgerHead,
) -> Result<LedgerHead> {
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
    .map_err(|source| Error::Join {
        task: "the ledger verification task",
        source,
    })?;
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
pub(super) fn check_contents(
    manifest: &Manifest,
    contents: &kirjuri_store::SnapshotContents,
) -> Result<()> {
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
pub(super) async fn check_keyring(
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

/// Copies a backup file to `target`, checking its size and SHA-256 against
/// `digest` as it goes; fsyncs the copy.
pub(super) async fn copy_checked(from: &Path, digest: &FileDigest, target: &Path) -> Result<()> {
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
pub(super) async fn copy_in(root: &Path, object: &ObjectDigest, into: &LocalFolder) -> Result<()> {
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

pub(super) fn relative_object_path(id: &ObjectId) -> String {
    let path = backup_object_path(Path::new(""), id);
    path.to_string_lossy().into_owned()
}

/// Checks a small file of the backup (a key file) against its digest.
pub(super) fn check_file(from: &Path, digest: &FileDigest, what: &str) -> Result<()> {
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
pub(super) fn install_key_file(source: &Path, target: &Path) -> Result<()> {
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
pub(super) fn inside(from: &Path, relative: &str) -> Result<PathBuf> {
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

pub(super) fn missing_file(path: &Path, name: &str, error: io::Error) -> Error {
    if error.kind() == io::ErrorKind::NotFound {
        refused(
            "backup_incomplete",
            format!("the backup is missing {name}, which its manifest lists; nothing was restored"),
        )
    } else {
        io_error(format!("failed to open {}", path.display()))(error)
    }
}

pub(super) fn altered(name: &str) -> Error {
    refused(
        "backup_altered",
        format!(
            "the backup's {name} does not match its manifest (its size or SHA-256 differs: \
             changed or damaged); nothing was restored"
        ),
    )
}
