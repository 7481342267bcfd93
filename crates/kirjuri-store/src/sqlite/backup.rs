//! An online backup of the SQLite database (`kirjuri backup`, issue 5):
//! [`SqliteStore::backup_into`] writes a consistent snapshot to a new file
//! with `VACUUM INTO` while other connections and processes keep reading and
//! writing, and [`SqliteStore::snapshot_contents`] lists what a database
//! file holds — the objects whose files a backup must copy, and counts.
//!
//! For the erasure ledger's replay after a restore,
//! [`SqliteStore::existing_objects`] and [`SqliteStore::unerased_contacts`]
//! find which of a block's thousands of erased ids came back with the
//! backup, a few queries per block instead of one per id.
//!
//! `VACUUM INTO` reads inside one read transaction, so under WAL the copy is
//! exactly the database as of one commit, never blocking writers; the copy
//! is compact (free pages dropped) and self-contained (no WAL beside it).
//! SQLite does not fsync the file it writes, so this does.
//!
//! Not here: copying object files, manifests, restoring (`kirjuri-app`'s
//! `backup`).

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kirjuri_core::ids::{ContactId, ObjectId};
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

use super::SqliteStore;
use super::codec::{get_time, get_uuid};
use crate::error::{Error, Result};

/// Ids per `IN (…)` list (SQLite's default limit on bound parameters is
/// 32,766; small lists keep each statement cheap to prepare).
const ID_CHUNK: usize = 500;

/// What a database file holds, as a backup records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotContents {
    /// Contacts, erased ones included.
    pub contacts: u64,
    /// Contacts whose document has been erased (their rows remain).
    pub erased_contacts: u64,
    /// Tombstones: objects and contact documents destroyed so far.
    pub tombstones: u64,
    /// Audit events.
    pub audit_events: u64,
    /// Every committed object: its id, its contact and its stored
    /// (ciphertext) length, by id.
    pub objects: Vec<(ObjectId, ContactId, u64)>,
}

impl SqliteStore {
    /// Writes a consistent snapshot of the database to `target`, a file that
    /// must not exist yet (its folder must), and fsyncs it. Safe while other
    /// processes use the database. Refused for an in-memory store's
    /// snapshot path that is not UTF-8.
    pub async fn backup_into(&self, target: &Path) -> Result<()> {
        let name = target
            .to_str()
            .ok_or_else(|| Error::Corrupt("backup: the target path is not valid UTF-8".into()))?;
        // Created first, owner-only and empty (which VACUUM INTO accepts),
        // so the copy is never readable by others, not even for a moment.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(target)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Conflict("backup target file"));
            }
            Err(e) => {
                return Err(Error::Corrupt(format!(
                    "backup: failed to create the target file ({e})"
                )));
            }
        }
        sqlx::query("VACUUM INTO ?")
            .bind(name)
            .execute(&self.pool)
            .await?;
        let target = target.to_owned();
        blocking(move || {
            File::open(&target)
                .and_then(|file| file.sync_all())
                .map_err(|e| Error::Corrupt(format!("backup: failed to fsync the copy ({e})")))
        })
        .await
    }

    /// Folds the write-ahead log into the database file
    /// (`wal_checkpoint(TRUNCATE)`) and closes every connection, so the
    /// database is one self-contained file that can be moved. Fails if
    /// another connection keeps the checkpoint from completing.
    pub async fn checkpoint_and_close(&self) -> Result<()> {
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.pool)
            .await?;
        self.close_pools().await;
        if busy != 0 {
            return Err(Error::Corrupt(
                "checkpoint: another connection kept the write-ahead log busy".into(),
            ));
        }
        Ok(())
    }

    /// Closes every connection of the pool (e.g. a second store opened
    /// for a backup).
    pub async fn close(&self) {
        self.close_pools().await;
    }

    /// Lists what the database file at `path` holds, reading it through
    /// its own read-only connection (one snapshot). Meant for a backup's
    /// copy, which no one else has open.
    pub async fn snapshot_contents(path: &Path) -> Result<SnapshotContents> {
        let path = path.to_owned();
        blocking(move || read_contents(&path)).await
    }

    /// Of `ids`, the committed objects that exist, with their deadlines.
    pub async fn existing_objects(
        &self,
        ids: &[ObjectId],
    ) -> Result<Vec<(ObjectId, DateTime<Utc>)>> {
        let ids = ids.iter().map(|id| *id.as_uuid());
        let found = self.deadlines("objects WHERE", ids).await?;
        Ok(found
            .into_iter()
            .map(|(id, at)| (ObjectId::from_uuid(id), at))
            .collect())
    }

    /// Of `ids`, the contacts whose documents are not erased, with their
    /// deadlines.
    pub async fn unerased_contacts(
        &self,
        ids: &[ContactId],
    ) -> Result<Vec<(ContactId, DateTime<Utc>)>> {
        let ids = ids.iter().map(|id| *id.as_uuid());
        let found = self
            .deadlines("contacts WHERE erased_at IS NULL AND", ids)
            .await?;
        Ok(found
            .into_iter()
            .map(|(id, at)| (ContactId::from_uuid(id), at))
            .collect())
    }

    /// The ids and deadlines of the rows of `from` (a table and the start
    /// of a `WHERE`) whose id is one of `ids`.
    async fn deadlines(
        &self,
        from: &str,
        ids: impl Iterator<Item = Uuid>,
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>> {
        let ids: Vec<Uuid> = ids.collect();
        let mut found = Vec::new();
        for chunk in ids.chunks(ID_CHUNK) {
            let mut query =
                QueryBuilder::<Sqlite>::new(format!("SELECT id, retain_until FROM {from} id IN ("));
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            query.push(")");
            for row in query.build().fetch_all(&self.pool).await? {
                found.push((get_uuid(&row, "id")?, get_time(&row, "retain_until")?));
            }
        }
        Ok(found)
    }
}

fn read_contents(path: &Path) -> Result<SnapshotContents> {
    use rusqlite::OpenFlags;

    let db_error = |e: rusqlite::Error| Error::Corrupt(format!("backup snapshot: {e}"));
    let mut connection = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db_error)?;
    connection
        .busy_timeout(Duration::from_secs(10))
        .map_err(db_error)?;
    // One read transaction: the counts and the list agree.
    let tx = connection.transaction().map_err(db_error)?;
    let count = |sql: &str| -> Result<u64> {
        let n: i64 = tx.query_row(sql, [], |row| row.get(0)).map_err(db_error)?;
        u64::try_from(n).map_err(|_| Error::Corrupt("backup snapshot: a negative count".into()))
    };
    let contacts = count("SELECT count(*) FROM contacts")?;
    let erased_contacts = count("SELECT count(*) FROM contacts WHERE erased_at IS NOT NULL")?;
    let tombstones = count("SELECT count(*) FROM tombstones")?;
    let audit_events = count("SELECT count(*) FROM audit_events")?;
    let mut objects = Vec::new();
    {
        let mut statement = tx
            .prepare("SELECT id, contact_id, stored_len FROM objects ORDER BY id")
            .map_err(db_error)?;
        let mut rows = statement.query([]).map_err(db_error)?;
        let uuid = |bytes: Vec<u8>, column: &str| {
            Uuid::from_slice(&bytes).map_err(|_| {
                Error::Corrupt(format!("backup snapshot: objects.{column} is not 16 bytes"))
            })
        };
        while let Some(row) = rows.next().map_err(db_error)? {
            let id: Vec<u8> = row.get(0).map_err(db_error)?;
            let contact: Vec<u8> = row.get(1).map_err(db_error)?;
            let stored_len: i64 = row.get(2).map_err(db_error)?;
            let stored_len = u64::try_from(stored_len)
                .map_err(|_| Error::Corrupt("backup snapshot: objects.stored_len < 0".into()))?;
            objects.push((
                ObjectId::from_uuid(uuid(id, "id")?),
                ContactId::from_uuid(uuid(contact, "contact_id")?),
                stored_len,
            ));
        }
    }
    Ok(SnapshotContents {
        contacts,
        erased_contacts,
        tombstones,
        audit_events,
        objects,
    })
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Corrupt(format!("backup: a file task failed ({e})")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_snapshot_is_a_complete_database_that_reopens_and_lists_its_contents() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("kirjuri.db"))
            .await
            .unwrap();
        let event = crate::model::NewAuditEvent {
            at: chrono::DateTime::from_timestamp_micros(1_750_000_000_000_000).unwrap(),
            actor: None,
            action: "test.event".into(),
            object: None,
            purpose: None,
            outcome: "success".into(),
            details: serde_json::json!({}),
        };
        crate::AuditStore::append_audit(&store, &event)
            .await
            .unwrap();
        let copy = dir.path().join("copy.db");
        store.backup_into(&copy).await.unwrap();
        let contents = SqliteStore::snapshot_contents(&copy).await.unwrap();
        assert_eq!(contents.contacts, 0);
        assert_eq!(contents.audit_events, 1);
        assert!(contents.objects.is_empty());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the copy is owner-only");
        // The copy is a database the store opens (migrations already applied).
        SqliteStore::open(&copy).await.unwrap();
        // A second backup to the same file is refused, not overwritten.
        assert!(matches!(
            store.backup_into(&copy).await,
            Err(Error::Conflict(_))
        ));
    }
}
