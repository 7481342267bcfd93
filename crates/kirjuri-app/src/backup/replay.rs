//! Replaying the erasure ledger over a staged restore: every object whose
//! wrapped key came back is shredded again and its file deleted, every
//! contact document erased again, each with its audit event (tombstone
//! reason `ledger_replay`).
//!
//! Not here: reading or verifying the ledger (`crate::ledger`), copying the
//! backup (`restore.rs`).

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::path::Path;

use chrono::{DateTime, Utc};
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::clock::Clock;
use kirjuri_core::ids::{ContactId, ObjectId};
use kirjuri_store::{RetentionStore, Shred, ShredMode, SqliteStore, TombstoneRow, TombstoneStep};
use kirjuri_vault::{LocalFolder, ObjectStore};

use super::{REPLAY_REASON, ReplayCounts};
use crate::audit::to_row;
use crate::error::{Error, Result};
use crate::ledger::{LedgerEntry, LedgerReader};

/// Replays the ledger in `dir` (up to block `until`) over `store` and
/// `objects`: every erasure whose key or document came back is done again.
pub(super) async fn replay(
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
        .map_err(|source| Error::Join {
            task: "the ledger reader",
            source,
        })?;
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

        let object_ids = ids_of(&objects_erased, ObjectId::from_uuid);
        let existing = store.existing_objects(&object_ids).await?;
        let shreds = shreds_of(
            &objects_erased,
            ObjectId::from_uuid,
            existing,
            |e, id, until| object_shred(e, id, until, block.seq, now),
        );
        if !shreds.is_empty() {
            let destroyed = store.shred_objects(&shreds, ShredMode::Forced).await?;
            for id in &destroyed {
                objects.delete(id).await?;
            }
            let uuids: Vec<uuid::Uuid> = destroyed.iter().map(|id| *id.as_uuid()).collect();
            store
                .mark_tombstones(&uuids, &[TombstoneStep::StorageDeleted], now)
                .await?;
            counts.objects_shredded += destroyed.len() as u64;
        }

        let contact_ids = ids_of(&contacts, ContactId::from_uuid);
        let unerased = store.unerased_contacts(&contact_ids).await?;
        let shreds = shreds_of(&contacts, ContactId::from_uuid, unerased, |e, id, until| {
            contact_shred(e, id, until, block.seq, now)
        });
        if !shreds.is_empty() {
            let erased = store.erase_contacts(&shreds, ShredMode::Forced).await?;
            counts.contacts_erased += erased.len() as u64;
        }
    }
    Ok(counts)
}

/// The ids the ledger's `entries` name.
fn ids_of<I>(entries: &[&LedgerEntry], id: impl Fn(uuid::Uuid) -> I) -> Vec<I> {
    entries.iter().map(|e| id(e.id)).collect()
}

/// One shred for each of `entries` that came back with the restore —
/// `found` holds those, with their retention deadline — and once only,
/// however often the ledger names it.
fn shreds_of<I: Copy + Eq + Hash>(
    entries: &[&LedgerEntry],
    id: impl Fn(uuid::Uuid) -> I,
    found: Vec<(I, DateTime<Utc>)>,
    shred: impl Fn(&LedgerEntry, I, DateTime<Utc>) -> Shred,
) -> Vec<Shred> {
    let found: HashMap<I, DateTime<Utc>> = found.into_iter().collect();
    let mut seen = HashSet::new();
    entries
        .iter()
        .filter_map(|entry| {
            let id = id(entry.id);
            let retain_until = *found.get(&id)?;
            seen.insert(id).then(|| shred(entry, id, retain_until))
        })
        .collect()
}

pub(super) fn object_shred(
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
        tombstone: replay_tombstone(entry, retain_until, now),
        audit: to_row(now, None, &event),
    }
}

/// The tombstone of `entry` replayed at `now`, as an object's: its bytes
/// are still to be deleted.
fn replay_tombstone(
    entry: &LedgerEntry,
    retain_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> TombstoneRow {
    TombstoneRow {
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
    }
}

pub(super) fn contact_shred(
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
        // A document has no hash kept and nothing left in storage.
        tombstone: TombstoneRow {
            contact_id: id,
            sha256: None,
            storage_deleted_at: Some(now),
            ..replay_tombstone(entry, retain_until, now)
        },
        audit: to_row(now, None, &event),
    }
}
