//! Test fixtures: fresh stores on every backend — SQLite in memory and on a
//! temporary file, and PostgreSQL in a database of its own — and builders
//! for rows with plausible values. The "sealed" blobs and hashes are
//! arbitrary bytes — the store must treat them as opaque anyway.
//!
//! PostgreSQL: the testkit's (`kirjuri_testkit::postgres`): the server at
//! `KIRJURI_TEST_POSTGRES_URL` (a superuser URL, as `scripts/pg start`
//! prints), or else one it starts, once per test binary, with `scripts/pg
//! start --fast`. Every test gets a fresh database, `t_<random>`, dropped
//! when its guard is (left, if the test failed, to be looked at), so tests
//! run in parallel. Without PostgreSQL the PostgreSQL cases fail, saying
//! why — they never skip.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use kirjuri_core::ids::{ContactId, ObjectId, UserId};
use kirjuri_core::role::Role;
use kirjuri_store::{
    ContactRow, IndexEntry, InsertOutcome, NewAuditEvent, ObjectRow, PendingObject, PostgresStore,
    SqliteStore, Store, TokenRow, UserRow,
};
pub use kirjuri_testkit::postgres::TestDatabase;
use tempfile::TempDir;

/// A store under test and whatever must outlive it.
pub struct TestStore {
    /// The store.
    pub store: SqliteStore,
    /// The folder of a file-backed store; removed on drop.
    pub dir: Option<TempDir>,
}

impl TestStore {
    /// The store as the trait object callers use.
    pub fn dyn_store(&self) -> &dyn Store {
        &self.store
    }

    /// The database file of a file-backed store.
    pub fn path(&self) -> PathBuf {
        db_path(self.dir.as_ref().expect("a file-backed store"))
    }
}

/// A fresh in-memory store.
pub async fn memory() -> TestStore {
    TestStore {
        store: SqliteStore::in_memory().await.expect("in-memory store"),
        dir: None,
    }
}

/// A fresh store on a new file in a temporary folder.
pub async fn file() -> TestStore {
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = SqliteStore::open(&db_path(&dir)).await.expect("file store");
    TestStore {
        store,
        dir: Some(dir),
    }
}

/// Where a test's database file lives inside its folder.
pub fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("kirjuri.db")
}

/// A PostgreSQL store on a fresh database, and the guard that drops it.
pub struct PgTestStore {
    /// The store.
    pub store: PostgresStore,
    /// The database; dropped (with every connection to it) on drop.
    pub database: TestDatabase,
}

impl PgTestStore {
    /// The store as the trait object callers use.
    pub fn dyn_store(&self) -> &dyn Store {
        &self.store
    }
}

/// A fresh, migrated PostgreSQL store in a database of its own.
pub async fn postgres() -> PgTestStore {
    let database = TestDatabase::create().await;
    let store = PostgresStore::open(&database.url)
        .await
        .expect("open the test database");
    PgTestStore { store, database }
}

/// A store under test on any backend, as the trait object callers use,
/// with what must outlive it.
pub struct Backend {
    /// `sqlite in memory`, `sqlite file` or `postgres`.
    pub name: &'static str,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The temporary folder or database behind the store; cleaned up on drop.
    _guard: Guard,
}

/// What a [`Backend`] cleans up when dropped.
enum Guard {
    Memory,
    Folder(#[allow(dead_code, reason = "held for its Drop")] TempDir),
    Database(#[allow(dead_code, reason = "held for its Drop")] TestDatabase),
}

impl Backend {
    /// A fresh in-memory SQLite store.
    pub async fn memory() -> Self {
        let test = memory().await;
        Self {
            name: "sqlite in memory",
            store: Arc::new(test.store),
            _guard: Guard::Memory,
        }
    }

    /// A fresh SQLite store on a temporary file.
    pub async fn file() -> Self {
        let test = file().await;
        let dir = test.dir.expect("a folder");
        Self {
            name: "sqlite file",
            store: Arc::new(test.store),
            _guard: Guard::Folder(dir),
        }
    }

    /// A fresh PostgreSQL store in a database of its own.
    pub async fn postgres() -> Self {
        let test = postgres().await;
        Self {
            name: "postgres",
            store: Arc::new(test.store),
            _guard: Guard::Database(test.database),
        }
    }
}

/// One fresh store on every backend, for a case that compares them or
/// needs `Arc<dyn Store>` (to hand to spawned tasks).
pub async fn backends() -> Vec<Backend> {
    vec![
        Backend::memory().await,
        Backend::file().await,
        Backend::postgres().await,
    ]
}

/// Generates one test per backend for each case: `case::in_memory`,
/// `case::on_a_file` (SQLite) and `case::on_postgres`. A case sees the store
/// only as `&dyn Store`.
macro_rules! on_every_backend {
    ($(async fn $name:ident($store:ident: &dyn Store) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports, reason = "not every case needs every import")]
                use super::*;

                async fn case($store: &dyn Store) $body

                #[tokio::test]
                async fn in_memory() {
                    let store = crate::support::memory().await;
                    case(store.dyn_store()).await;
                }

                #[tokio::test]
                async fn on_a_file() {
                    let store = crate::support::file().await;
                    case(store.dyn_store()).await;
                }

                #[tokio::test]
                async fn on_postgres() {
                    let store = crate::support::postgres().await;
                    case(store.dyn_store()).await;
                }
            }
        )*
    };
}
pub(crate) use on_every_backend;

/// An instant from RFC 3339 text.
pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("valid RFC 3339")
        .to_utc()
}

/// A fixed "now" for rows that do not care.
pub fn now() -> DateTime<Utc> {
    at("2026-11-29T12:00:00.123456Z")
}

/// A contact handled by `agent`, started at `started_at`.
pub fn contact(agent: &str, started_at: DateTime<Utc>) -> ContactRow {
    ContactRow {
        id: ContactId::new_v7(),
        external_id: None,
        channel: "call_in".into(),
        started_at,
        ended_at: Some(started_at + TimeDelta::seconds(278)),
        agent: agent.into(),
        service: Some("water-billing".into()),
        created_at: now(),
        created_by: UserId::new_v7(),
        sealed_document: vec![0xA5; 300],
        document_key: vec![0x5A; 60],
        retain_until: started_at + TimeDelta::days(365),
    }
}

/// A contact with a delivering system's id.
pub fn contact_with_external_id(external_id: &str) -> ContactRow {
    ContactRow {
        external_id: Some(external_id.into()),
        ..contact("aino", at("2026-11-29T07:15:02Z"))
    }
}

/// A blind-index entry whose 32-byte hash is `byte` repeated.
pub fn entry(kind: &str, byte: u8) -> IndexEntry {
    IndexEntry {
        kind: kind.into(),
        hash: vec![byte; 32],
    }
}

/// An audit event for `action`.
pub fn audit(action: &str) -> NewAuditEvent {
    NewAuditEvent {
        at: now(),
        actor: Some(UserId::new_v7()),
        action: action.into(),
        object: Some("contact:test".into()),
        purpose: None,
        outcome: "ok".into(),
        details: serde_json::json!({"test": true}),
    }
}

/// An account called `name`.
pub fn user(name: &str, role: Role) -> UserRow {
    UserRow::new(
        UserId::new_v7(),
        name.into(),
        role,
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        now(),
    )
}

/// A token of `user` with hash `hash`.
pub fn token(user: &UserRow, hash: &[u8]) -> TokenRow {
    TokenRow {
        id: uuid::Uuid::now_v7(),
        user_id: user.id,
        label: Some("pbx".into()),
        token_hash: hash.to_vec(),
        created_at: now(),
        expires_at: Some(now() + TimeDelta::days(90)),
        revoked_at: None,
        last_used_at: None,
    }
}

/// A pending upload of `kind` for the contact.
pub fn pending(contact_id: ContactId, kind: &str) -> PendingObject {
    PendingObject {
        id: ObjectId::new_v7(),
        contact_id,
        kind: kind.into(),
        instance_id: "node-1".into(),
        started_at: now(),
    }
}

/// The committed form of a pending upload, with `sha256` as its digest.
pub fn object(pending: &PendingObject, sha256: &str) -> ObjectRow {
    ObjectRow {
        id: pending.id,
        contact_id: pending.contact_id,
        kind: pending.kind.clone(),
        wrapped_key: vec![0x42; 60],
        sha256: sha256.into(),
        plaintext_len: 1_234_567,
        stored_len: 1_234_567 + 19 * 16 + 32,
        media: serde_json::json!({"encoding": "pcm_s16le", "sample_rate": 8000, "channels": 2,
                                  "bits": 16, "duration_ms": 278_000}),
        retain_until: at("2027-11-30T22:00:00Z"),
        source: None,
        created_at: now(),
    }
}

/// A hex digest made of one repeated hex digit.
pub fn sha(digit: char) -> String {
    std::iter::repeat_n(digit, 64).collect()
}

/// Every audit event in the store.
pub async fn all_audit(store: &dyn Store) -> Vec<kirjuri_store::AuditRecord> {
    store.audit_events(0, u32::MAX).await.expect("audit events")
}

/// Delivers one external id 24 times at once, through each of `handles` in
/// turn (separate pools or file handles on `store`'s database, standing in
/// for nodes or processes), and asserts that exactly one delivery created
/// the contact, every other got its id, and one audit event was written.
pub async fn racing_deliveries_store_one_contact(store: &dyn Store, handles: Vec<Arc<dyn Store>>) {
    let tasks = (0..24).map(|i| {
        let store = Arc::clone(&handles[i % handles.len()]);
        tokio::spawn(async move {
            let row = contact_with_external_id("pbx-race");
            let outcome = store
                .insert_contact(&row, &[entry("phone", 3)], &audit("c"))
                .await
                .unwrap();
            match outcome {
                InsertOutcome::Created => (true, row.id),
                InsertOutcome::Existing(id) => (false, id),
            }
        })
    });
    let results: Vec<(bool, _)> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    assert_eq!(results.iter().filter(|(created, _)| *created).count(), 1);
    assert!(results.iter().all(|(_, id)| *id == results[0].1));
    assert_eq!(store.count_contacts().await.unwrap(), 1);
    assert_eq!(all_audit(store).await.len(), 1);
}
