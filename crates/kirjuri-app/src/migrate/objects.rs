//! The objects' half of `migrate-store`: refuse a bucket holding another
//! register's objects, then copy (or only check) every object the source's
//! rows name, `jobs` at a time, each read back from both stores and compared
//! byte for byte in constant memory.

use std::collections::HashSet;

use futures::StreamExt;
use kirjuri_core::ids::ObjectId;
use kirjuri_store::ObjectRow;
use kirjuri_store::copy::{self, Batch, Cursor, Export, Table};
use kirjuri_vault::{LocalFolder, ObjectStore};

use super::target::TargetObjects;
use super::{Error, Result};

/// Bytes read from an object store per request: large enough that a
/// request's overhead is small, small enough that `jobs` of them (plus the
/// target's upload buffers) stay far below the memory of a server.
const CHUNK_LEN: u64 = 4 << 20;

/// Whether objects are copied or only checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transfer {
    /// Copy what is missing, check everything.
    Copy,
    /// Check everything; a missing object is an error.
    VerifyOnly,
}

/// What happened to the objects.
#[derive(Debug, Default, Clone, Copy)]
pub struct ObjectTally {
    /// Object rows in the source.
    pub objects: u64,
    /// Copied now.
    pub copied: u64,
    /// Found in the target already (an earlier run, or left in place), and
    /// checked.
    pub already_there: u64,
    /// Stored bytes of all objects.
    pub bytes: u64,
}

/// What one object's transfer did.
enum ObjectOutcome {
    Copied(u64),
    AlreadyThere(u64),
}

/// Refuses a bucket holding objects that are not the source's: they would
/// be another register's, and the copy never mixes registers. Objects of
/// the source found there are a crashed earlier run's, checked and kept.
pub(super) async fn refuse_foreign_objects(
    source: &dyn Export,
    target: &TargetObjects,
) -> Result<()> {
    if target.in_place {
        return Ok(());
    }
    let listed = target.store.list().await.map_err(|source| Error::Vault {
        context: "failed to list the target object store".into(),
        source,
    })?;
    if listed.is_empty() {
        return Ok(());
    }
    let mut foreign: HashSet<ObjectId> = listed.into_iter().collect();
    let mut after = None;
    loop {
        let (rows, next) = object_page(source, after).await?;
        for row in &rows {
            foreign.remove(&row.id);
        }
        let Some(next) = next else { break };
        after = Some(next);
    }
    if !foreign.is_empty() {
        return Err(Error::ForeignObjects {
            target: target.description.clone(),
            count: foreign.len(),
        });
    }
    Ok(())
}

/// Copies (or only checks) every object the source's rows name, `jobs` at
/// a time, each read back and compared with the source byte for byte;
/// `done` hears of each object.
pub(super) async fn transfer_objects(
    source: &dyn Export,
    source_objects: &LocalFolder,
    target: &TargetObjects,
    mode: Transfer,
    jobs: u16,
    done: &mut (dyn FnMut() + Send),
) -> Result<ObjectTally> {
    let mut tally = ObjectTally::default();
    let mut after = None;
    loop {
        let (rows, next) = object_page(source, after).await?;
        let mut results = futures::stream::iter(rows.iter())
            .map(|row| transfer_object(row, source_objects, target, mode))
            .buffer_unordered(usize::from(jobs));
        while let Some(result) = results.next().await {
            tally.objects += 1;
            match result? {
                ObjectOutcome::Copied(bytes) => {
                    tally.copied += 1;
                    tally.bytes += bytes;
                }
                ObjectOutcome::AlreadyThere(bytes) => {
                    tally.already_there += 1;
                    tally.bytes += bytes;
                }
            }
            done();
        }
        let Some(next) = next else { break };
        after = Some(next);
    }
    Ok(tally)
}

/// A page of the source's object rows after `after`, and the cursor of the
/// next page (`None` after the last).
async fn object_page(
    source: &dyn Export,
    after: Option<Cursor>,
) -> Result<(Vec<ObjectRow>, Option<Cursor>)> {
    let batch = source
        .export(Table::Objects, after, copy::PAGE_ROWS)
        .await?;
    let next = batch.next_cursor();
    let Batch::Objects(rows) = batch else {
        return Err(Error::WrongPage);
    };
    let next = if rows.len() < copy::PAGE_ROWS as usize {
        None
    } else {
        next
    };
    Ok((rows, next))
}

async fn transfer_object(
    row: &ObjectRow,
    source: &LocalFolder,
    target: &TargetObjects,
    mode: Transfer,
) -> Result<ObjectOutcome> {
    let id = row.id;
    let len = match source.len(&id).await {
        Ok(len) => len,
        Err(kirjuri_vault::Error::NotFound(_)) => {
            return Err(Error::SourceFileMissing {
                id,
                kind: row.kind.to_string(),
            });
        }
        Err(source) => {
            return Err(Error::Vault {
                context: format!("failed to read source object {id}"),
                source,
            });
        }
    };
    if len != row.stored_len {
        return Err(Error::SourceLength {
            id,
            len,
            row_len: row.stored_len,
        });
    }
    let present = match target.store.len(&id).await {
        Ok(target_len) => Some(target_len),
        Err(kirjuri_vault::Error::NotFound(_)) => None,
        Err(source) => {
            return Err(Error::Vault {
                context: format!("failed to look up object {id} in the target"),
                source,
            });
        }
    };
    if present.is_none() && (mode == Transfer::VerifyOnly || target.in_place) {
        return Err(Error::MissingInTarget(id));
    }
    match present {
        Some(target_len) => {
            if target_len != len {
                return Err(Error::TargetLengthBefore {
                    id,
                    target_len,
                    len,
                });
            }
            if target.in_place {
                return Ok(ObjectOutcome::AlreadyThere(len));
            }
        }
        None => copy_object(source, target.store.as_ref(), &id, len)
            .await
            .map_err(|source| Error::Vault {
                context: format!("failed to copy object {id}"),
                source,
            })?,
    }
    compare_object(source, target.store.as_ref(), &id, len).await?;
    Ok(match present {
        Some(_) => ObjectOutcome::AlreadyThere(len),
        None => ObjectOutcome::Copied(len),
    })
}

/// Streams the object from `source` into `target` in chunks.
async fn copy_object(
    source: &dyn ObjectStore,
    target: &dyn ObjectStore,
    id: &ObjectId,
    len: u64,
) -> kirjuri_vault::Result<()> {
    let mut writer = target.put(id).await?;
    let mut at = 0;
    while at < len {
        let end = (at + CHUNK_LEN).min(len);
        let chunk = match source.get_range(id, at..end).await {
            Ok(chunk) => chunk,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(e);
            }
        };
        if let Err(e) = writer.write(chunk).await {
            let _ = writer.abort().await;
            return Err(e);
        }
        at = end;
    }
    writer.commit().await
}

/// Reads the object back from both stores, a chunk of each at a time, and
/// fails unless every stored byte is equal — stronger than comparing
/// digests, in the same constant memory.
async fn compare_object(
    source: &dyn ObjectStore,
    target: &dyn ObjectStore,
    id: &ObjectId,
    len: u64,
) -> Result<()> {
    let mut at = 0;
    while at < len {
        let end = (at + CHUNK_LEN).min(len);
        let (ours, theirs) =
            tokio::try_join!(source.get_range(id, at..end), target.get_range(id, at..end))
                .map_err(|source| Error::Vault {
                    context: format!("failed to read object {id} back from both stores"),
                    source,
                })?;
        if ours != theirs {
            return Err(Error::Differs { id: *id, at, end });
        }
        at = end;
    }
    let target_len = target.len(id).await.map_err(|source| Error::Vault {
        context: format!("failed to look up object {id} in the target"),
        source,
    })?;
    if target_len != len {
        return Err(Error::TargetLength {
            id: *id,
            target_len,
            len,
        });
    }
    Ok(())
}
