//! What is particular to the SQLite adapter: the connection settings that
//! make a 201 durable and let the command line write beside `serve`, the
//! append-only triggers, and several handles — standing in for several
//! processes — opening, migrating and writing one file at the same time.

use std::sync::Arc;

use kirjuri_store::prelude::*;
use kirjuri_store::{CommitOutcome, InsertOutcome, SqliteStore};
use sqlx::Row;

use crate::support::{
    all_audit, at, audit, contact, contact_with_external_id, db_path, entry, file, memory, object,
    pending, racing_deliveries_store_one_contact, sha,
};

/// Asserts that `sql` against the audit log is refused by the trigger.
async fn assert_refused(store: &SqliteStore, sql: &'static str) {
    let err = sqlx::query(sql)
        .execute(store.pool())
        .await
        .expect_err("the trigger refuses");
    assert!(
        err.to_string().contains("audit log is append-only"),
        "{err}"
    );
}

#[tokio::test]
async fn the_audit_log_refuses_update_and_delete_in_memory_and_on_a_file() {
    for test in [memory().await, file().await] {
        let event = audit("contact.read");
        let seq = test.store.append_audit(&event).await.unwrap();

        assert_refused(&test.store, "UPDATE audit_events SET outcome = 'denied'").await;
        assert_refused(&test.store, "DELETE FROM audit_events").await;

        let log = all_audit(&test.store).await;
        assert_eq!(log.len(), 1);
        assert_eq!((log[0].seq, &log[0].event), (seq, &event));
    }
}

#[tokio::test]
async fn a_database_file_is_durable_waits_for_locks_and_enforces_foreign_keys() {
    let test = file().await;
    let mut conn = test.store.pool().acquire().await.unwrap();

    let pragma = |name: &'static str| sqlx::query(name);
    let journal: String = pragma("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    let synchronous: i64 = pragma("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    let foreign_keys: i64 = pragma("PRAGMA foreign_keys")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    let busy_timeout: i64 = pragma("PRAGMA busy_timeout")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);

    assert_eq!(journal, "wal");
    assert_eq!(synchronous, 2, "2 is FULL");
    assert_eq!(foreign_keys, 1);
    assert!(busy_timeout >= 5_000, "busy_timeout is {busy_timeout} ms");
}

#[tokio::test]
async fn opening_a_missing_file_creates_it_and_reopening_keeps_its_contents() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    assert!(!path.exists());
    let row = contact_with_external_id("pbx-1");
    {
        let store = SqliteStore::open(&path).await.unwrap();
        store
            .insert_contact(&row, &[entry("phone", 1)], &audit("contact.create"))
            .await
            .unwrap();
        store.pool().close().await;
    }
    assert!(path.exists());

    let reopened = SqliteStore::open(&path).await.unwrap();

    assert_eq!(reopened.contact(&row.id).await.unwrap(), Some(row));
    assert_eq!(all_audit(&reopened).await.len(), 1);
}

#[tokio::test]
async fn two_handles_on_one_file_see_each_others_writes_at_once() {
    let test = file().await;
    let other = SqliteStore::open(&test.path()).await.unwrap();
    let mine = contact("aino", at("2026-11-29T07:00:00Z"));
    let theirs = contact("liisa", at("2026-11-29T08:00:00Z"));

    test.store
        .insert_contact(&mine, &[entry("phone", 1)], &audit("c"))
        .await
        .unwrap();
    other
        .insert_contact(&theirs, &[entry("phone", 1)], &audit("c"))
        .await
        .unwrap();

    assert_eq!(other.contact(&mine.id).await.unwrap(), Some(mine.clone()));
    assert_eq!(
        test.store.contact(&theirs.id).await.unwrap(),
        Some(theirs.clone())
    );
    let filter = kirjuri_store::ContactFilter {
        index: vec![entry("phone", 1)],
        limit: 10,
        ..Default::default()
    };
    for store in [&test.store, &other] {
        let found: Vec<_> = store
            .search_contacts(&filter)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(found, vec![theirs.id, mine.id]);
        assert_eq!(all_audit(store).await.len(), 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_handles_opening_one_new_file_at_the_same_moment_all_succeed() {
    for _round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = Arc::new(db_path(&dir));

        let opened = futures::future::join_all((0..6).map(|_| {
            let path = Arc::clone(&path);
            tokio::spawn(async move { SqliteStore::open(&path).await })
        }))
        .await;

        let stores: Vec<SqliteStore> = opened.into_iter().map(|r| r.unwrap().unwrap()).collect();
        let row = contact("aino", at("2026-11-29T07:00:00Z"));
        stores[0]
            .insert_contact(&row, &[], &audit("c"))
            .await
            .unwrap();
        for store in &stores {
            assert_eq!(store.count_contacts().await.unwrap(), 1);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_of_one_external_id_through_separate_handles_store_one_contact() {
    let test = file().await;
    let mut handles: Vec<Arc<dyn Store>> = vec![Arc::new(test.store.clone())];
    for _ in 0..3 {
        handles.push(Arc::new(SqliteStore::open(&test.path()).await.unwrap()));
    }
    racing_deliveries_store_one_contact(&test.store, handles).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_commits_through_separate_handles_commit_exactly_one_object() {
    let test = file().await;
    let other = SqliteStore::open(&test.path()).await.unwrap();
    let row = contact("aino", at("2026-11-29T07:15:02Z"));
    test.store
        .insert_contact(&row, &[], &audit("c"))
        .await
        .unwrap();
    let first = pending(row.id, "recording");
    let second = pending(row.id, "recording");
    test.store.begin_object(&first).await.unwrap();
    other.begin_object(&second).await.unwrap();

    let (a, b) = {
        let (store, o) = (test.store.clone(), object(&first, &sha('a')));
        let one =
            tokio::spawn(async move { store.commit_object(&o, &audit("recording.create")).await });
        let (store, o) = (other.clone(), object(&second, &sha('b')));
        let two =
            tokio::spawn(async move { store.commit_object(&o, &audit("recording.create")).await });
        (one.await.unwrap().unwrap(), two.await.unwrap().unwrap())
    };

    let committed = test
        .store
        .object_for_contact(&row.id, "recording")
        .await
        .unwrap()
        .unwrap();
    match (&a, &b) {
        (CommitOutcome::Committed, CommitOutcome::Existing(existing)) => {
            assert_eq!(committed.id, first.id);
            assert_eq!(existing, &committed);
        }
        (CommitOutcome::Existing(existing), CommitOutcome::Committed) => {
            assert_eq!(committed.id, second.id);
            assert_eq!(existing, &committed);
        }
        other => panic!("expected one commit and one existing, got {other:?}"),
    }
    assert!(test.store.pending_objects().await.unwrap().is_empty());
}

/// Holds the write lock of `store`'s file for `hold`, as a long write by
/// another process would, and returns the task that releases it.
async fn hold_write_lock(
    store: &SqliteStore,
    hold: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    let tx = store.pool().begin_with("BEGIN IMMEDIATE").await.unwrap();
    tokio::spawn(async move {
        tokio::time::sleep(hold).await;
        tx.commit().await.unwrap();
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_waits_for_another_handles_write_lock_instead_of_failing() {
    let test = file().await;
    let other = SqliteStore::open(&test.path()).await.unwrap();
    let row = contact("aino", at("2026-11-29T07:15:02Z"));
    let holder = hold_write_lock(&test.store, std::time::Duration::from_millis(300)).await;

    let outcome = other
        .insert_contact(&row, &[], &audit("contact.create"))
        .await
        .unwrap();

    assert_eq!(outcome, InsertOutcome::Created);
    holder.await.unwrap();
    assert_eq!(test.store.contact(&row.id).await.unwrap(), Some(row));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_file_while_another_handle_is_writing_succeeds() {
    let test = file().await;
    let holder = hold_write_lock(&test.store, std::time::Duration::from_millis(300)).await;

    let opened = SqliteStore::open(&test.path()).await;

    let other = opened.unwrap();
    holder.await.unwrap();
    let row = contact("aino", at("2026-11-29T07:15:02Z"));
    other
        .insert_contact(&row, &[], &audit("contact.create"))
        .await
        .unwrap();
    assert_eq!(test.store.count_contacts().await.unwrap(), 1);
}
