//! Replaying the erasure ledger over a staged restore: every object whose
//! wrapped key came back is shredded again and its file deleted, every
//! contact document erased again, each with its audit event (tombstone
//! reason `ledger_replay`).
//!
//! Not here: reading or verifying the ledger (`crate::ledger`), copying the
//! backup (`restore.rs`).

use std::collections::{HashMap, HashSet};
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
