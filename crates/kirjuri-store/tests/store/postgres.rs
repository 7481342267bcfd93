//! What is particular to the PostgreSQL adapter: the audit log's order and
//! append-only rule held by the database across several connection pools —
//! each standing in for a Kirjuri node — the application role's missing
//! privileges on the audit tables, races between pools on the uniqueness
//! rules, nodes migrating one database at once, leaves identical to
//! SQLite's, and the query plan behind the lookup-speed target.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use kirjuri_core::role::Role;
use kirjuri_store::prelude::*;
use kirjuri_store::{
    AuditCheckpointRow, AuditFilter, CommitOutcome, ContactFilter, Error, InsertOutcome,
    PostgresStore, SessionCutoff, SessionRow,
};
use serde_json::json;

use crate::support::{
    Backend, TestDatabase, all_audit, at, audit, backends, contact, contact_with_external_id,
    entry, now, object, pending, postgres, racing_deliveries_store_one_contact, sha, token, user,
};

/// `n` more stores on the test's database, each with a pool of its own.
async fn nodes(url: &str, n: usize) -> Vec<PostgresStore> {
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(PostgresStore::connect(url).await.unwrap());
    }
    nodes
}

/// Twenty thousand contacts of fifty agents, a minute apart, and with
/// `index` a phone entry each: enough rows for the planner to choose as it
/// would at scale.
async fn seed_contacts(store: &PostgresStore, index: bool) {
    let mut sql = String::from(
        "INSERT INTO contacts (id, channel, started_at, agent, created_at, created_by, \
             sealed_document, document_key, retain_until) \
         SELECT gen_random_uuid(), 'call_in', now() - i * interval '1 minute', 'agent' || (i % 50), \
             now(), gen_random_uuid(), '\\x00', '\\x00', now() \
         FROM generate_series(1, 20000) AS i;",
    );
    if index {
        sql.push_str(
            " INSERT INTO contact_index (contact_id, kind, hash) \
             SELECT id, 'phone', sha256(id::text::bytea) FROM contacts;",
        );
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(store.pool())
        .await
        .unwrap();
}

/// `VACUUM ANALYZE` of `tables` (each its own statement: VACUUM cannot run
/// in a transaction block), as autovacuum would do after a bulk load.
async fn vacuum(store: &PostgresStore, tables: &[&str]) {
    for table in tables {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
            .execute(store.pool())
            .await
            .unwrap();
    }
}

/// Runs `sql` on `pool` and returns PostgreSQL's SQLSTATE and message.
async fn refused(pool: &sqlx::PgPool, sql: &'static str) -> (String, String) {
    let err = sqlx::query(sql)
        .execute(pool)
        .await
        .expect_err("the statement is refused");
    let db = err.as_database_error().expect("a database error");
    (
        db.code().unwrap_or_default().into_owned(),
        db.message().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_sequence_numbers_are_commit_order_without_gaps_across_pools() {
    let test = postgres().await;
    let writers = nodes(&test.database.url, 6).await;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // A reader polls while the writers run: whatever it sees must be a
    // prefix 1..=n of the log — never event n + 1 without event n.
    let reader = {
        let store = test.store.clone();
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let seen: Vec<i64> = all_audit(&store).await.iter().map(|r| r.seq).collect();
                assert_eq!(seen, (1..=seen.len() as i64).collect::<Vec<_>>());
                reads += 1;
            }
            reads
        })
    };
    let tasks = writers.into_iter().enumerate().map(|(n, store)| {
        tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..30 {
                match i % 3 {
                    0 => seqs.push(store.append_audit(&audit("contact.viewed")).await.unwrap()),
                    1 => {
                        let row = contact(&format!("agent{n}"), at("2026-11-29T07:00:00Z"));
                        let outcome = store
                            .insert_contact(&row, &[entry("phone", n as u8)], &audit("c"))
                            .await
                            .unwrap();
                        assert_eq!(outcome, InsertOutcome::Created);
                    }
                    _ => store
                        .append_audit_batch(&[audit("batch.1"), audit("batch.2")])
                        .await
                        .unwrap(),
                }
            }
            seqs
        })
    });
    let returned: Vec<i64> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .flat_map(Result::unwrap)
        .collect();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.await.unwrap();

    // 6 writers × 10 rounds × (1 + 1 + 2) events.
    let total = 6 * 10 * 4;
    assert_eq!(test.store.audit_head().await.unwrap(), total);
    let stored = test.store.stored_audit_events(0, 10_000).await.unwrap();
    assert_eq!(
        stored.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    assert_eq!(
        returned.iter().collect::<HashSet<_>>().len(),
        returned.len(),
        "every single append got a number of its own"
    );
    let mut buffer = Vec::new();
    let expected: Vec<[u8; 32]> = stored
        .iter()
        .map(|e| kirjuri_core::audit::leaf_hash_of(&e.leaf_fields(), &mut buffer))
        .collect();
    let leaves: Vec<[u8; 32]> = test
        .store
        .audit_leaves(0, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|l| l.leaf)
        .collect();
    assert_eq!(leaves, expected);
    assert_eq!(
        kirjuri_core::merkle::root(&leaves),
        kirjuri_core::merkle::root(&expected)
    );
    assert!(reads > 0, "the reader ran during the writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_waits_for_another_nodes_audit_append_instead_of_failing() {
    let test = postgres().await;
    let other = PostgresStore::connect(&test.database.url).await.unwrap();
    // Another node's transaction holds the audit lock for a while.
    let mut tx = test.store.pool().begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(0x6b69_726a_7572_6901_i64)
        .execute(&mut *tx)
        .await
        .unwrap();
    let holder = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        tx.commit().await.unwrap();
    });
    let row = contact("aino", at("2026-11-29T07:15:02Z"));

    let started = std::time::Instant::now();
    let outcome = other
        .insert_contact(&row, &[], &audit("contact.create"))
        .await
        .unwrap();

    assert_eq!(outcome, InsertOutcome::Created);
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "it waited for the lock ({:?})",
        started.elapsed()
    );
    holder.await.unwrap();
    assert_eq!(test.store.contact(&row.id).await.unwrap(), Some(row));
}

#[tokio::test]
async fn the_application_role_runs_the_store_but_cannot_change_or_remove_audit_rows() {
    let mut database = TestDatabase::create().await;
    let role = database.create_role().await;
    PostgresStore::migrate(&database.url, Some(&role))
        .await
        .unwrap();
    let app = PostgresStore::connect(&database.url_as(&role))
        .await
        .unwrap();

    // Everything the application does works as the restricted role.
    let agent = user("aino", Role::Agent);
    app.insert_user(&agent, &audit("user.created"))
        .await
        .unwrap();
    let issued = token(&agent, &[7; 32]);
    app.insert_token(&issued, &audit("token.created"))
        .await
        .unwrap();
    app.touch_token(&issued.id, now()).await.unwrap();
    let session = SessionRow {
        id: uuid::Uuid::now_v7(),
        secret_hash: vec![3; 32],
        user_id: agent.id,
        created_at: now(),
        last_seen_at: now(),
    };
    let cutoff = SessionCutoff {
        last_seen_before: now() - TimeDelta::days(1),
        created_before: now() - TimeDelta::days(1),
    };
    app.insert_session(&session, None, cutoff, &audit("login"))
        .await
        .unwrap();
    app.set_session_purpose(&session.id, Some("training"))
        .await
        .unwrap();
    let row = contact_with_external_id("pbx-1");
    app.insert_contact(&row, &[entry("phone", 1)], &audit("contact.create"))
        .await
        .unwrap();
    let upload = pending(row.id, "recording");
    app.begin_object(&upload).await.unwrap();
    app.commit_object(&object(&upload, &sha('a')), &audit("recording.create"))
        .await
        .unwrap();
    app.append_audit(&audit("contact.viewed")).await.unwrap();
    let checkpoint = AuditCheckpointRow {
        size: 5,
        root: vec![1; 32],
        note: "note\n".into(),
        frontier: vec![2; 64],
        created_at: now(),
    };
    assert!(
        app.insert_audit_checkpoint(&checkpoint, None)
            .await
            .unwrap()
    );
    assert!(
        app.try_lease("purge", "node-1", now(), now() + TimeDelta::minutes(1))
            .await
            .unwrap()
    );
    app.heartbeat("node-1", now()).await.unwrap();
    app.delete_session(&session.id, &audit("logout"))
        .await
        .unwrap();
    let filter = ContactFilter {
        index: vec![entry("phone", 1)],
        limit: 10,
        ..ContactFilter::default()
    };
    assert_eq!(
        app.search_contacts(&filter).await.unwrap(),
        vec![row.clone()]
    );
    assert_eq!(app.audit_leaves(0, 100).await.unwrap().len(), 7);
    let about = AuditFilter {
        reference: Some("contact:test".into()),
        limit: 100,
        ..AuditFilter::default()
    };
    assert_eq!(app.search_audit(&about).await.unwrap().len(), 7);
    let log = all_audit(&app).await;

    // …but the audit tables refuse every change but an append, for lack of
    // privilege — before any trigger is asked.
    for sql in [
        "UPDATE audit_events SET outcome = 'denied'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "UPDATE audit_checkpoints SET root = '\\x00'",
        "DELETE FROM audit_checkpoints",
        "TRUNCATE audit_checkpoints",
        "UPDATE audit_refs SET ref = 'x'",
        "DELETE FROM audit_refs",
        "TRUNCATE audit_refs",
        "UPDATE audit_log SET log_id = '00000000000000000000000000000000'",
        "DELETE FROM audit_log",
        "INSERT INTO audit_log (id, log_id) VALUES (2, '00000000000000000000000000000000')",
        "TRUNCATE audit_log",
        "DROP TABLE audit_events",
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
        "DELETE FROM _sqlx_migrations",
    ] {
        let (code, message) = refused(app.pool(), sql).await;
        assert!(
            code == "42501" || message.contains("must be owner"),
            "{sql}: {code} {message}"
        );
    }
    assert_eq!(all_audit(&app).await, log);
    assert_eq!(
        app.latest_audit_checkpoint().await.unwrap(),
        Some(checkpoint)
    );
}

#[tokio::test]
async fn the_triggers_refuse_changing_the_audit_tables_even_to_their_owner() {
    let test = postgres().await;
    test.store
        .append_audit(&audit("contact.viewed"))
        .await
        .unwrap();
    let checkpoint = AuditCheckpointRow {
        size: 1,
        root: vec![1; 32],
        note: "note\n".into(),
        frontier: vec![2; 32],
        created_at: now(),
    };
    test.store
        .insert_audit_checkpoint(&checkpoint, None)
        .await
        .unwrap();
    let log = all_audit(&test.store).await;
    let id = test.store.audit_log_id().await.unwrap();

    for (sql, expected) in [
        (
            "UPDATE audit_events SET outcome = 'denied'",
            "audit log is append-only",
        ),
        (
            "UPDATE audit_events SET outcome = 'denied' WHERE false",
            "audit log is append-only",
        ),
        ("DELETE FROM audit_events", "audit log is append-only"),
        ("TRUNCATE audit_events", "audit log is append-only"),
        (
            "UPDATE audit_checkpoints SET root = '\\x00'",
            "audit checkpoints are append-only",
        ),
        (
            "DELETE FROM audit_checkpoints",
            "audit checkpoints are append-only",
        ),
        (
            "TRUNCATE audit_checkpoints",
            "audit checkpoints are append-only",
        ),
        (
            "UPDATE audit_log SET log_id = '00000000000000000000000000000000'",
            "the audit log identity is fixed",
        ),
        ("DELETE FROM audit_log", "the audit log identity is fixed"),
        ("TRUNCATE audit_log", "the audit log identity is fixed"),
    ] {
        let (_, message) = refused(test.store.pool(), sql).await;
        assert!(message.contains(expected), "{sql}: {message}");
    }
    assert_eq!(all_audit(&test.store).await, log);
    assert_eq!(test.store.audit_log_id().await.unwrap(), id);
    assert_eq!(
        test.store.latest_audit_checkpoint().await.unwrap(),
        Some(checkpoint)
    );
}

#[tokio::test]
async fn connecting_without_migrating_refuses_a_database_without_the_schema() {
    let database = TestDatabase::create().await;

    let result = PostgresStore::connect(&database.url).await;

    let err = result.expect_err("no schema");
    assert!(matches!(err, Error::Migrate(_)), "{err:?}");
    assert!(err.to_string().contains("no Kirjuri schema"), "{err}");
}

#[tokio::test]
async fn granting_to_a_role_that_does_not_exist_is_refused_clearly() {
    let database = TestDatabase::create().await;

    let err = PostgresStore::migrate(&database.url, Some("nobody_by_this_name"))
        .await
        .expect_err("an unknown role");

    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_nodes_migrating_and_opening_one_new_database_at_once_all_succeed() {
    let mut database = TestDatabase::create().await;
    let role = database.create_role().await;
    let url = Arc::new(database.url.clone());

    let opened = futures::future::join_all((0..6).map(|i| {
        let url = Arc::clone(&url);
        let role = role.clone();
        tokio::spawn(async move {
            if i % 2 == 0 {
                PostgresStore::migrate(&url, Some(&role)).await.unwrap();
            }
            PostgresStore::open(&url).await
        })
    }))
    .await;

    let stores: Vec<PostgresStore> = opened.into_iter().map(|r| r.unwrap().unwrap()).collect();
    let row = contact("aino", at("2026-11-29T07:00:00Z"));
    stores[0]
        .insert_contact(&row, &[], &audit("c"))
        .await
        .unwrap();
    for store in &stores {
        assert_eq!(store.count_contacts().await.unwrap(), 1);
    }
    let app = PostgresStore::connect(&database.url_as(&role))
        .await
        .unwrap();
    assert_eq!(app.count_contacts().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_of_one_external_id_through_separate_pools_store_one_contact() {
    let test = postgres().await;
    let handles = nodes(&test.database.url, 4).await;
    let handles = handles
        .into_iter()
        .map(|store| Arc::new(store) as Arc<dyn Store>)
        .collect();
    racing_deliveries_store_one_contact(&test.store, handles).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_commits_through_separate_pools_commit_exactly_one_object() {
    let test = postgres().await;
    let handles = nodes(&test.database.url, 4).await;
    let row = contact("aino", at("2026-11-29T07:15:02Z"));
    test.store
        .insert_contact(&row, &[], &audit("c"))
        .await
        .unwrap();
    let uploads: Vec<_> = (0..8).map(|_| pending(row.id, "recording")).collect();
    for upload in &uploads {
        test.store.begin_object(upload).await.unwrap();
    }

    let tasks = uploads.iter().enumerate().map(|(i, upload)| {
        let store = handles[i % handles.len()].clone();
        let stored = object(upload, &sha('a'));
        tokio::spawn(async move {
            let outcome = store
                .commit_object(&stored, &audit("recording.create"))
                .await
                .unwrap();
            (stored, outcome)
        })
    });
    let outcomes: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    let winners: Vec<_> = outcomes
        .iter()
        .filter(|(_, outcome)| *outcome == CommitOutcome::Committed)
        .map(|(o, _)| o.clone())
        .collect();
    assert_eq!(winners.len(), 1);
    for (_, outcome) in &outcomes {
        if let CommitOutcome::Existing(existing) = outcome {
            assert_eq!(existing, &winners[0]);
        }
    }
    assert_eq!(
        test.store.objects_for_contact(&row.id).await.unwrap(),
        winners
    );
    assert!(test.store.pending_objects().await.unwrap().is_empty());
    assert_eq!(all_audit(&test.store).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_nodes_trying_at_once_exactly_one_takes_a_lease() {
    let test = postgres().await;
    let handles = nodes(&test.database.url, 8).await;
    let t0 = at("2026-11-29T12:00:00Z");

    for round in 0..5 {
        // Each round starts after the previous lease ended.
        let now = t0 + TimeDelta::minutes(2 * round);
        let tasks = handles.iter().enumerate().map(|(i, store)| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .try_lease(
                        "purge",
                        &format!("node-{i}"),
                        now,
                        now + TimeDelta::minutes(1),
                    )
                    .await
                    .unwrap()
            })
        });
        let taken: Vec<bool> = futures::future::join_all(tasks)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            taken.iter().filter(|t| **t).count(),
            1,
            "round {round}: {taken:?}"
        );
    }
}

#[tokio::test]
async fn the_same_events_give_the_same_leaves_on_sqlite_and_postgres() {
    let actor = kirjuri_core::ids::UserId::new_v7();
    let events: Vec<_> = (0..50_i64)
        .map(|i| {
            let mut event = audit(&format!("contact.viewed.{i}"));
            event.at = at("1999-12-31T23:59:59.999999Z") + TimeDelta::milliseconds(i * 137);
            event.actor = (i % 4 != 0).then_some(actor);
            event.object = (i % 3 != 0).then(|| format!("contact:{i}\t\"ä\""));
            event.purpose = (i % 2 == 0).then(|| "quality_assurance".to_owned());
            event.details = json!({"n": i, "z": [1.5, null, "\u{0}"], "a": {"b": true}});
            event
        })
        .collect();
    let stores: Vec<Backend> = backends().await;

    let mut leaves = Vec::new();
    for backend in &stores {
        backend
            .store
            .append_audit_batch(&events[..20])
            .await
            .unwrap();
        for event in &events[20..] {
            backend.store.append_audit(event).await.unwrap();
        }
        leaves.push((
            backend.name,
            backend.store.audit_leaves(0, 1000).await.unwrap(),
        ));
    }

    assert_eq!(leaves[0].1.len(), 50);
    for (name, other) in &leaves[1..] {
        assert_eq!(other, &leaves[0].1, "{name} differs from {}", leaves[0].0);
    }
}

#[tokio::test]
async fn a_phone_lookup_reads_the_hash_index_and_each_contact_by_id() {
    let test = postgres().await;
    // Enough rows, and statistics, for the planner to choose as it would
    // at scale.
    seed_contacts(&test.store, true).await;
    vacuum(&test.store, &["contacts", "contact_index"]).await;
    let by_phone = ContactFilter {
        index: vec![entry("phone", 1)],
        limit: 50,
        ..ContactFilter::default()
    };
    let by_phone_and_name = ContactFilter {
        index: vec![entry("phone", 1), entry("name", 2)],
        agent: Some("agent7".into()),
        before: Some((now(), kirjuri_core::ids::ContactId::new_v7())),
        ..by_phone.clone()
    };

    for filter in [by_phone, by_phone_and_name] {
        let plan = test.store.explain_search(&filter).await.unwrap().join("\n");

        // Starting from one hash's entries (whichever the statistics call
        // rarer; backward or not, the sort after it is of the few matches),
        // reading each contact by id, scanning nothing.
        assert!(
            plan.lines().any(|line| line.contains("Index Only Scan")
                && line.contains("using contact_index_by_hash on contact_index")),
            "{plan}"
        );
        assert!(
            plan.contains("Index Scan using contacts_pkey on contacts c"),
            "{plan}"
        );
        assert!(!plan.contains("Seq Scan"), "{plan}");
    }
}

#[tokio::test]
async fn an_agents_newest_contacts_come_from_the_agent_index_already_in_order() {
    let test = postgres().await;
    seed_contacts(&test.store, false).await;
    vacuum(&test.store, &["contacts"]).await;
    let filter = ContactFilter {
        agent: Some("agent7".into()),
        limit: 50,
        ..ContactFilter::default()
    };

    let plan = test.store.explain_search(&filter).await.unwrap().join("\n");

    assert!(
        plan.contains("Index Scan Backward using contacts_by_agent_started_at"),
        "{plan}"
    );
    assert!(!plan.contains("Sort"), "{plan}");
}

#[tokio::test]
async fn a_url_demanding_tls_never_falls_back_to_plaintext() {
    // The test server speaks no TLS; a URL that requires it must fail to
    // connect rather than send anything in the clear.
    let database = TestDatabase::create().await;
    let separator = if database.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{separator}sslmode=require", database.url);

    let err = PostgresStore::open(&url)
        .await
        .expect_err("no TLS, no connection");

    let message = err.to_string();
    assert!(message.contains("TLS"), "{message}");
    assert!(!message.contains("built without TLS support"), "{message}");
}
