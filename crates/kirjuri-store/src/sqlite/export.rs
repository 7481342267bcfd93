//! Reading a whole SQLite register for a copy to another backend
//! ([`crate::copy`]): [`SqliteStore::begin_export`] opens one read
//! transaction, and every page and count of the [`SqliteExport`] it returns
//! is read inside it — one snapshot (WAL), so the tables agree with each
//! other even if some process wrote to the file meanwhile.
//!
//! Pages follow [`crate::copy::Cursor`]'s key order. SQLite compares BLOBs
//! with `memcmp`, so ids order bytewise, as PostgreSQL orders `uuid`s.
//! Blind-index entries travel with their contact, sorted in Rust (by kind,
//! then hash, bytewise) so no backend's text collation decides their order.
//!
//! Not here: writing (the embedded store is only ever a copy's source).

use async_trait::async_trait;
use kirjuri_core::ids::{ContactId, ObjectId, UserId};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};
use tokio::sync::Mutex;

use super::SqliteStore;
use super::codec::{get_opt_time, get_opt_uuid, get_time, get_uuid};
use crate::accounts;
use crate::backend::Backend;
use crate::copy::{
    Batch, ContactRecord, Cursor, Export, HoldTargetRecord, SessionRecord, Table, TableSpec,
    UserRecord, Value, page_select, spec_key, spec_row, spec_select,
};
use crate::error::{Error, Result};
use crate::model::{SealedSecret, SessionRow, TokenRow, TotpRow};
use crate::retention::HoldTarget;

/// A consistent read of one SQLite register, page by page.
#[derive(Debug)]
pub struct SqliteExport {
    /// The read transaction every query runs in; it holds the snapshot.
    tx: Mutex<Transaction<'static, Sqlite>>,
}

impl SqliteStore {
    /// Opens a read transaction for exporting the register: its snapshot is
    /// taken at once and lasts until the export is dropped.
    pub async fn begin_export(&self) -> Result<SqliteExport> {
        let mut tx = self.pool.begin().await?;
        // A deferred transaction takes its snapshot at its first read.
        let _: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
            .fetch_one(&mut *tx)
            .await?;
        Ok(SqliteExport { tx: Mutex::new(tx) })
    }
}

/// The `WHERE` of a page after `after` on the key `column`, if any.
fn after_clause(after: Option<&Cursor>, column: &str) -> String {
    match after {
        Some(_) => format!("WHERE {column} > ?"),
        None => String::new(),
    }
}

/// Binds a cursor's key (an id or a number).
fn bind_key<'q>(
    query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>,
    after: Option<Cursor>,
) -> Result<sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>> {
    Ok(match after {
        None => query,
        Some(Cursor::Id(id)) => query.bind(id),
        Some(Cursor::Number(n)) => query.bind(n),
        Some(Cursor::HoldTarget(..) | Cursor::Key(_)) => {
            return Err(Error::Corrupt(
                "export cursor: wrong kind for the table".into(),
            ));
        }
    })
}

/// Binds one value of a [`TableSpec`]'s key, as SQLite stores its type.
fn bind_value<'q>(
    query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>,
    value: &Value,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments> {
    match value {
        Value::Id(id) => query.bind(*id),
        Value::Bytes(bytes) => query.bind(bytes.clone()),
        Value::Text(text) => query.bind(text.clone()),
        Value::Int(n) => query.bind(*n),
        Value::Time(at) => query.bind(at.map(<Sqlite as Backend>::time)),
    }
}

fn user(row: &SqliteRow) -> Result<UserRecord> {
    Ok(UserRecord {
        user: super::accounts::user_from_row(row)?,
        language: row.try_get("language")?,
    })
}

fn token(row: &SqliteRow) -> Result<TokenRow> {
    Ok(TokenRow {
        id: get_uuid(row, "id")?,
        user_id: UserId::from_uuid(get_uuid(row, "user_id")?),
        label: row.try_get("label")?,
        token_hash: row.try_get("token_hash")?,
        created_at: get_time(row, "created_at")?,
        expires_at: get_opt_time(row, "expires_at")?,
        revoked_at: get_opt_time(row, "revoked_at")?,
        last_used_at: get_opt_time(row, "last_used_at")?,
    })
}

fn sealed(row: &SqliteRow, key: &str, secret: &str) -> Result<Option<SealedSecret>> {
    accounts::sealed_whole(key, row.try_get(key)?, row.try_get(secret)?)
}

fn totp(row: &SqliteRow) -> Result<TotpRow> {
    Ok(TotpRow {
        user_id: UserId::from_uuid(get_uuid(row, "user_id")?),
        active: sealed(row, "wrapped_key", "sealed_secret")?,
        pending: sealed(row, "pending_wrapped_key", "pending_sealed_secret")?,
        last_step: row.try_get("last_step")?,
    })
}

fn session(row: &SqliteRow) -> Result<SessionRecord> {
    Ok(SessionRecord {
        session: SessionRow {
            id: get_uuid(row, "id")?,
            secret_hash: row.try_get("secret_hash")?,
            user_id: UserId::from_uuid(get_uuid(row, "user_id")?),
            created_at: get_time(row, "created_at")?,
            last_seen_at: get_time(row, "last_seen_at")?,
        },
        purpose: row.try_get("purpose")?,
    })
}

fn hold_target(row: &SqliteRow) -> Result<HoldTargetRecord> {
    Ok(HoldTargetRecord {
        hold_id: get_uuid(row, "hold_id")?,
        target: HoldTarget {
            contact_id: ContactId::from_uuid(get_uuid(row, "contact_id")?),
            object_id: get_opt_uuid(row, "object_id")?.map(ObjectId::from_uuid),
        },
    })
}

impl SqliteExport {
    async fn keyed(
        &self,
        table: Table,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Vec<SqliteRow>> {
        let Some(sql) = page_select(table, "", after.as_ref()) else {
            return Err(Error::Corrupt(format!(
                "export: {} is not keyed",
                table.name()
            )));
        };
        let query = bind_key(sqlx::query(sqlx::AssertSqlSafe(sql)), after)?;
        let mut tx = self.tx.lock().await;
        Ok(query.bind(i64::from(limit)).fetch_all(&mut **tx).await?)
    }

    async fn rows(
        &self,
        spec: &TableSpec,
        after: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<Vec<Value>>> {
        let key = spec_key(spec, after)?;
        let sql = spec_select::<Sqlite>(spec, after.is_some());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for value in key {
            query = bind_value(query, value);
        }
        let mut tx = self.tx.lock().await;
        let rows = query.bind(i64::from(limit)).fetch_all(&mut **tx).await?;
        rows.iter()
            .map(|row| spec_row::<Sqlite>(spec, row))
            .collect()
    }

    async fn contacts(&self, after: Option<Cursor>, limit: u32) -> Result<Vec<ContactRecord>> {
        let sql = format!(
            "SELECT {}, c.erased_at AS erased_at FROM contacts AS c {} ORDER BY c.id LIMIT ?",
            crate::contacts_sql::CONTACT_COLUMNS,
            after_clause(after.as_ref(), "c.id"),
        );
        let query = bind_key(sqlx::query(sqlx::AssertSqlSafe(sql)), after)?;
        let mut tx = self.tx.lock().await;
        let rows = query.bind(i64::from(limit)).fetch_all(&mut **tx).await?;
        let mut contacts = crate::copy::contact_records::<Sqlite>(&rows)?;
        let (Some(first), Some(last)) = (contacts.first(), contacts.last()) else {
            return Ok(contacts);
        };
        // The page's contacts are a contiguous id range, so their entries are
        // one range scan of the primary key.
        let entries = sqlx::query(
            "SELECT contact_id, kind, hash FROM contact_index \
             WHERE contact_id >= ? AND contact_id <= ?",
        )
        .bind(first.contact.id.as_uuid())
        .bind(last.contact.id.as_uuid())
        .fetch_all(&mut **tx)
        .await?;
        crate::copy::attach_index::<Sqlite>(&mut contacts, &entries)?;
        Ok(contacts)
    }

    async fn hold_targets(
        &self,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Vec<HoldTargetRecord>> {
        // The key as a row value (for the cursor) and as a sort order.
        const KEY: &str = "(hold_id, contact_id, ifnull(object_id, zeroblob(16)))";
        const ORDER: &str = "hold_id, contact_id, ifnull(object_id, zeroblob(16))";
        let mut tx = self.tx.lock().await;
        let rows = match after {
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT hold_id, contact_id, object_id FROM legal_hold_targets \
                     ORDER BY {ORDER} LIMIT ?"
                )))
                .bind(i64::from(limit))
                .fetch_all(&mut **tx)
                .await?
            }
            Some(Cursor::HoldTarget(hold, contact, object)) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT hold_id, contact_id, object_id FROM legal_hold_targets \
                     WHERE {KEY} > (?, ?, ?) ORDER BY {ORDER} LIMIT ?"
                )))
                .bind(hold)
                .bind(contact)
                .bind(object)
                .bind(i64::from(limit))
                .fetch_all(&mut **tx)
                .await?
            }
            Some(_) => {
                return Err(Error::Corrupt(
                    "export cursor: wrong kind for legal_hold_targets".into(),
                ));
            }
        };
        rows.iter().map(hold_target).collect()
    }
}

#[async_trait]
impl Export for SqliteExport {
    async fn export(&self, table: Table, after: Option<Cursor>, limit: u32) -> Result<Batch> {
        Ok(match table {
            Table::Rows(spec) => Batch::Rows(spec, self.rows(spec, after.as_ref(), limit).await?),
            Table::Contacts => Batch::Contacts(self.contacts(after, limit).await?),
            Table::HoldTargets => Batch::HoldTargets(self.hold_targets(after, limit).await?),
            Table::Users => Batch::Users(collect(&self.keyed(table, after, limit).await?, user)?),
            Table::Tokens => {
                Batch::Tokens(collect(&self.keyed(table, after, limit).await?, token)?)
            }
            Table::Totp => Batch::Totp(collect(&self.keyed(table, after, limit).await?, totp)?),
            Table::Sessions => {
                Batch::Sessions(collect(&self.keyed(table, after, limit).await?, session)?)
            }
            Table::Objects => Batch::Objects(collect(
                &self.keyed(table, after, limit).await?,
                super::objects::from_row,
            )?),
            Table::Holds => Batch::Holds(collect(
                &self.keyed(table, after, limit).await?,
                super::retention::hold_from_row,
            )?),
            Table::Tombstones => Batch::Tombstones(collect(
                &self.keyed(table, after, limit).await?,
                super::retention::tombstone_from_row,
            )?),
            Table::AuditEvents => Batch::AuditEvents(collect(
                &self.keyed(table, after, limit).await?,
                super::audit::stored,
            )?),
            Table::AuditCheckpoints => Batch::AuditCheckpoints(collect(
                &self.keyed(table, after, limit).await?,
                crate::audit_sql::checkpoint,
            )?),
        })
    }

    async fn count(&self, table: Table) -> Result<u64> {
        let sql = format!("SELECT count(*) FROM {}", table.name());
        let mut tx = self.tx.lock().await;
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut **tx)
            .await?;
        u64::try_from(n).map_err(|_| Error::Corrupt(format!("count({}): negative", table.name())))
    }

    async fn count_index_entries(&self) -> Result<u64> {
        let mut tx = self.tx.lock().await;
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM contact_index")
            .fetch_one(&mut **tx)
            .await?;
        u64::try_from(n).map_err(|_| Error::Corrupt("count(contact_index): negative".into()))
    }

    async fn log_id(&self) -> Result<String> {
        let mut tx = self.tx.lock().await;
        let id: Option<String> = sqlx::query_scalar("SELECT log_id FROM audit_log WHERE id = 1")
            .fetch_optional(&mut **tx)
            .await?;
        id.ok_or_else(|| Error::Corrupt("audit_log: the log identity is missing".into()))
    }
}

fn collect<T>(rows: &[SqliteRow], decode: fn(&SqliteRow) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(decode).collect()
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the line that broke"
)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde_json::json;

    use super::*;
    use crate::copy::PAGE_ROWS;
    use crate::model::{ContactRow, IndexEntry, NewAuditEvent};
    use crate::prelude::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_796_000_000 + seconds, 0).unwrap()
    }

    fn audit(i: i64) -> NewAuditEvent {
        NewAuditEvent {
            at: at(i),
            actor: None,
            action: "contact.create".into(),
            object: Some(format!("contact:{i}")),
            purpose: None,
            outcome: "ok".into(),
            details: json!({"n": i}),
        }
    }

    #[tokio::test]
    async fn an_export_pages_through_contacts_with_their_index_entries_in_id_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("k.db")).await.unwrap();
        let creator = UserId::new_v7();
        let n = PAGE_ROWS as usize + 3;
        for i in 0..n {
            let contact = ContactRow {
                id: ContactId::new_v7(),
                external_id: Some(format!("x-{i}")),
                channel: "call_in".into(),
                started_at: at(i as i64),
                ended_at: None,
                agent: "aino".into(),
                service: None,
                created_at: at(i as i64),
                created_by: creator,
                sealed_document: vec![1, 2, 3],
                document_key: vec![4, 5],
                retain_until: at(1_000_000),
            };
            let index = [
                IndexEntry {
                    kind: "phone".into(),
                    hash: vec![(i % 256) as u8; 32],
                },
                IndexEntry {
                    kind: "email".into(),
                    hash: vec![7; 32],
                },
            ];
            store
                .insert_contact(&contact, &index, &audit(i as i64))
                .await
                .unwrap();
        }

        let export = store.begin_export().await.unwrap();
        let first = export
            .export(Table::Contacts, None, PAGE_ROWS)
            .await
            .unwrap();
        let second = export
            .export(Table::Contacts, first.next_cursor(), PAGE_ROWS)
            .await
            .unwrap();

        assert_eq!(first.len(), PAGE_ROWS as usize);
        assert_eq!(second.len(), 3);
        assert_eq!(first.index_entries() + second.index_entries(), 2 * n);
        let Batch::Contacts(rows) = first else {
            panic!("contacts")
        };
        assert!(
            rows.windows(2)
                .all(|w| w[0].contact.id.as_uuid() < w[1].contact.id.as_uuid())
        );
        assert_eq!(rows[0].index[0].kind, "email", "entries sorted by kind");
        assert_eq!(export.count(Table::Contacts).await.unwrap(), n as u64);
        assert_eq!(export.count(Table::AuditEvents).await.unwrap(), n as u64);
        assert_eq!(export.count_index_entries().await.unwrap(), 2 * n as u64);
    }

    #[tokio::test]
    async fn an_export_keeps_its_snapshot_while_others_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("k.db")).await.unwrap();
        store.append_audit(&audit(1)).await.unwrap();
        let export = store.begin_export().await.unwrap();

        store.append_audit(&audit(2)).await.unwrap();

        let events = export.export(Table::AuditEvents, None, 10).await.unwrap();
        assert_eq!(events.len(), 1);
        let Batch::AuditEvents(events) = events else {
            panic!("events")
        };
        assert_eq!(
            events[0].details, r#"{"n":1}"#,
            "stored text, byte for byte"
        );
        assert_eq!(
            export.log_id().await.unwrap(),
            store.audit_log_id().await.unwrap()
        );
    }
}
