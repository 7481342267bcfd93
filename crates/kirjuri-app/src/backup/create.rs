//! `kirjuri backup`: snapshot the database, copy every object file the
//! snapshot names (and, if asked, the key files), then write the signed
//! manifest. An unfinished backup folder is removed on failure.
//!
//! Not here: the manifest format (`manifest.rs`), restoring
//! (`restore.rs`).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::ids::ObjectId;
use kirjuri_store::SqliteStore;
use kirjuri_vault::fsio::{blocking, create_private_dir, fsync_dir, write_new_private};
use kirjuri_vault::{AuditSigner, ObjectStore};
use ring::digest::{Context, SHA256};
use zeroize::Zeroizing;

use super::manifest::{FileDigest, Manifest, ManifestCounts, ObjectDigest, write_manifest};
use super::{
    AUDIT_KEY_FILE, BackupReport, CHUNK, COPY_CONCURRENCY, DB_FILE, FORMAT, KEYRING_FILE, KEYS_DIR,
    OBJECTS_DIR, SIGNER_NAME, digest_file, io_error, refused,
};
use crate::app::Kirjuri;
use crate::audit::to_row;
use crate::error::{Error, Result};
use crate::ledger::ErasureLedger;

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

/// An object copied into the backup, or `None` for its digest when it was
/// gone from object storage (erased since the snapshot, or damage).
type Copied = (ObjectId, Option<ObjectDigest>);

pub(super) async fn write_backup(
    app: &Kirjuri,
    out: &Path,
    include_keys: bool,
) -> Result<BackupReport> {
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
    // After the first failure no new copy starts, but the ones in flight
    // are run to their end rather than dropped: a dropped copy's file
    // write could still land after the caller removed the incomplete
    // backup (the full-disk test saw a `.part` appear mid-cleanup).
    let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let results: Vec<Result<Option<Copied>>> =
        futures::stream::iter(contents.objects.iter().copied())
            .map(|(id, _contact, stored_len)| {
                let source = Arc::clone(&source);
                let root = objects_root.clone();
                let failed = Arc::clone(&failed);
                async move {
                    if failed.load(std::sync::atomic::Ordering::Acquire) {
                        return Ok(None);
                    }
                    match copy_out(source.as_ref(), &root, id, stored_len).await {
                        Ok(copied) => Ok(Some((id, copied))),
                        Err(error) => {
                            failed.store(true, std::sync::atomic::Ordering::Release);
                            Err(error)
                        }
                    }
                }
            })
            .buffer_unordered(COPY_CONCURRENCY)
            .collect()
            .await;
    let mut copies: Vec<Copied> = Vec::with_capacity(results.len());
    for result in results {
        if let Some(copy) = result? {
            copies.push(copy);
        }
    }
    let mut objects = Vec::with_capacity(copies.len());
    let mut erased_after_snapshot = Vec::new();
    for (id, copied) in copies {
        match copied {
            Some(digest) => objects.push(digest),
            None => {
                // Gone since the snapshot: a purge, if it left a tombstone.
                if app.store.tombstone(id.as_uuid()).await?.is_none() {
                    return Err(Error::Damaged(format!(
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
pub(super) fn prepare_out(out: &Path) -> Result<bool> {
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
pub(super) fn clear_out(out: &Path, created: bool) -> io::Result<()> {
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
pub(super) async fn copy_out(
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
        return Err(Error::Damaged(format!(
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
pub(super) fn backup_object_path(root: &Path, id: &ObjectId) -> PathBuf {
    let name = id.to_string();
    let fan_out = name.get(name.len().saturating_sub(2)..).unwrap_or("00");
    root.join(fan_out).join(format!("{name}.kjr"))
}

/// Fsyncs `root` and every fan-out folder under it (their new entries).
pub(super) fn fsync_fan_out(root: &Path) -> Result<()> {
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
pub(super) fn copy_key_file(source: &Path, target: &Path, name: &str) -> Result<FileDigest> {
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
