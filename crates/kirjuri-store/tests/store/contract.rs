//! The behaviour every [`Store`] promises, tested through the trait alone so
//! that every backend runs the same cases: SQLite in memory and on a file,
//! and PostgreSQL. Besides contacts, objects, accounts and the audit log,
//! this covers the audit log's tamper-evidence side (byte-exact stored
//! events, Merkle leaves, checkpoints, reference queries) and
//! [`Coordination`](kirjuri_store::Coordination).

use chrono::TimeDelta;
use kirjuri_core::ids::UserId;
use kirjuri_core::ids::{ContactId, ObjectId};
use kirjuri_core::role::Role;
use kirjuri_store::{
    AuditCheckpointRow, AuditFilter, CommitOutcome, ContactFilter, Error, InsertOutcome,
    NewAuditEvent, Store, truncate_to_storage,
};
use serde_json::json;

use crate::support::{
    all_audit, at, audit, contact, contact_with_external_id, entry, object, on_every_backend,
    pending, sha, token, user,
};

/// Newest-first search with only a limit and the given index entries.
fn by_index(entries: &[kirjuri_store::IndexEntry]) -> ContactFilter {
    ContactFilter {
        index: entries.to_vec(),
        limit: 100,
        ..ContactFilter::default()
    }
}

/// An audit event numbered `i`, at a fixed instant plus `i` microseconds.
fn event(i: i64, actor: Option<UserId>, action: &str, details: serde_json::Value) -> NewAuditEvent {
    NewAuditEvent {
        at: at("2026-11-29T12:00:00Z") + TimeDelta::microseconds(i),
        actor,
        action: action.into(),
        object: Some(format!("object-{i}")),
        purpose: None,
        outcome: "success".into(),
        details,
    }
}

/// A checkpoint row of `size` with recognisable bytes.
fn checkpoint(size: u64) -> AuditCheckpointRow {
    AuditCheckpointRow {
        size,
        root: vec![size as u8; 32],
        note: format!("note {size}\n"),
        frontier: vec![1; 32 * size.count_ones() as usize],
        created_at: at("2026-11-29T12:00:00Z"),
    }
}

/// The sequence numbers of `records`, in order.
fn seqs(records: &[kirjuri_store::AuditRecord]) -> Vec<i64> {
    records.iter().map(|r| r.seq).collect()
}

/// The ids of `rows`, in order.
fn ids(rows: &[kirjuri_store::ContactRow]) -> Vec<ContactId> {
    rows.iter().map(|row| row.id).collect()
}

on_every_backend! {
    // --- contacts: insert and read ---------------------------------------

    async fn a_contact_reads_back_exactly_as_inserted(store: &dyn Store) {
        let mut full = contact_with_external_id("pbx-2026-000123");
        full.ended_at = Some(at("2026-11-29T07:19:40.000001Z"));
        let mut sparse = contact("liisa", at("2026-11-29T08:00:00Z"));
        sparse.ended_at = None;
        sparse.service = None;

        for row in [&full, &sparse] {
            let outcome = store.insert_contact(row, &[entry("phone", 1)], &audit("contact.create")).await.unwrap();
            assert_eq!(outcome, InsertOutcome::Created);
            assert_eq!(store.contact(&row.id).await.unwrap().as_ref(), Some(row));
        }
    }

    async fn an_unknown_contact_id_reads_as_none(store: &dyn Store) {
        assert_eq!(store.contact(&ContactId::new_v7()).await.unwrap(), None);
    }

    async fn timestamps_come_back_truncated_to_the_microsecond(store: &dyn Store) {
        let mut row = contact("aino", at("2026-11-29T07:15:02.123456789Z"));
        row.created_at = at("2026-11-29T07:20:00.999999999Z");
        store.insert_contact(&row, &[], &audit("contact.create")).await.unwrap();

        let stored = store.contact(&row.id).await.unwrap().unwrap();

        assert_eq!(stored.started_at, at("2026-11-29T07:15:02.123456Z"));
        assert_eq!(stored.created_at, truncate_to_storage(row.created_at));
    }

    async fn inserting_a_contact_appends_its_audit_event(store: &dyn Store) {
        let row = contact("aino", at("2026-11-29T07:15:02Z"));
        let event = audit("contact.create");

        store.insert_contact(&row, &[], &event).await.unwrap();

        let log = all_audit(store).await;
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].event, event);
    }

    async fn counting_contacts_counts_every_stored_contact(store: &dyn Store) {
        assert_eq!(store.count_contacts().await.unwrap(), 0);
        for minute in 0..3 {
            let row = contact("aino", at("2026-11-29T07:00:00Z") + TimeDelta::minutes(minute));
            store.insert_contact(&row, &[], &audit("contact.create")).await.unwrap();
        }
        assert_eq!(store.count_contacts().await.unwrap(), 3);
    }

    // --- contacts: idempotency on the external id ------------------------

    async fn repeating_an_external_id_returns_the_stored_contact_and_writes_nothing(store: &dyn Store) {
        let first = contact_with_external_id("pbx-2026-000123");
        store.insert_contact(&first, &[entry("phone", 1)], &audit("contact.create")).await.unwrap();
        let retry = contact_with_external_id("pbx-2026-000123");

        let outcome = store.insert_contact(&retry, &[entry("email", 2)], &audit("contact.create")).await.unwrap();

        assert_eq!(outcome, InsertOutcome::Existing(first.id));
        assert_eq!(store.count_contacts().await.unwrap(), 1);
        assert_eq!(store.contact(&retry.id).await.unwrap(), None);
        assert!(store.search_contacts(&by_index(&[entry("email", 2)])).await.unwrap().is_empty());
        assert_eq!(all_audit(store).await.len(), 1, "the retry wrote no audit event");
    }

    async fn contacts_without_an_external_id_never_collide(store: &dyn Store) {
        for _ in 0..3 {
            let row = contact("aino", at("2026-11-29T07:15:02Z"));
            let outcome = store.insert_contact(&row, &[], &audit("contact.create")).await.unwrap();
            assert_eq!(outcome, InsertOutcome::Created);
        }
        assert_eq!(store.count_contacts().await.unwrap(), 3);
    }

    async fn many_concurrent_inserts_of_one_external_id_store_exactly_one_contact(store: &dyn Store) {
        let rows: Vec<_> = (0..24).map(|_| contact_with_external_id("pbx-race")).collect();
        let event = audit("contact.create");
        let index = [entry("phone", 7)];

        let outcomes = futures::future::join_all(
            rows.iter().map(|row| store.insert_contact(row, &index, &event)),
        )
        .await;

        let outcomes: Vec<InsertOutcome> = outcomes.into_iter().map(Result::unwrap).collect();
        let created: Vec<_> = rows
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| **outcome == InsertOutcome::Created)
            .map(|(row, _)| row.id)
            .collect();
        assert_eq!(created.len(), 1, "exactly one caller created the contact");
        for outcome in &outcomes {
            let id = match outcome {
                InsertOutcome::Created => created[0],
                InsertOutcome::Existing(id) => *id,
            };
            assert_eq!(id, created[0], "every caller learns the same id");
        }
        assert_eq!(store.count_contacts().await.unwrap(), 1);
        assert_eq!(ids(&store.search_contacts(&by_index(&[entry("phone", 7)])).await.unwrap()), created);
        assert_eq!(all_audit(store).await.len(), 1);
    }

    async fn reusing_a_contact_id_is_a_conflict(store: &dyn Store) {
        let first = contact_with_external_id("pbx-1");
        store.insert_contact(&first, &[], &audit("contact.create")).await.unwrap();
        let same_id = kirjuri_store::ContactRow { external_id: Some("pbx-2".into()), ..first.clone() };

        let result = store.insert_contact(&same_id, &[], &audit("contact.create")).await;

        assert!(matches!(result, Err(Error::Conflict("contact id"))), "{result:?}");
        assert_eq!(all_audit(store).await.len(), 1);
    }

    async fn a_failed_contact_insert_leaves_neither_contact_nor_audit_event(store: &dyn Store) {
        let row = contact("aino", at("2026-11-29T07:15:02Z"));
        let short_hash = kirjuri_store::IndexEntry { kind: "phone".into(), hash: vec![1; 16] };

        let result = store.insert_contact(&row, &[entry("email", 1), short_hash], &audit("contact.create")).await;

        assert!(result.is_err());
        assert_eq!(store.contact(&row.id).await.unwrap(), None);
        assert!(store.search_contacts(&by_index(&[entry("email", 1)])).await.unwrap().is_empty());
        assert!(all_audit(store).await.is_empty());
    }

    // --- contacts: search -------------------------------------------------

    async fn searching_one_index_entry_finds_only_the_contacts_bearing_it(store: &dyn Store) {
        let first = contact("aino", at("2026-11-01T09:00:00Z"));
        let second = contact("aino", at("2026-11-02T09:00:00Z"));
        let other = contact("aino", at("2026-11-03T09:00:00Z"));
        store.insert_contact(&first, &[entry("phone", 1), entry("name", 9)], &audit("c")).await.unwrap();
        store.insert_contact(&second, &[entry("phone", 1)], &audit("c")).await.unwrap();
        store.insert_contact(&other, &[entry("phone", 2), entry("name", 9)], &audit("c")).await.unwrap();

        let found = store.search_contacts(&by_index(&[entry("phone", 1)])).await.unwrap();

        assert_eq!(ids(&found), vec![second.id, first.id]);
        assert_eq!(found[1], first, "search returns whole rows");
    }

    async fn searching_several_index_entries_requires_every_one(store: &dyn Store) {
        let both = contact("aino", at("2026-11-01T09:00:00Z"));
        let phone_only = contact("aino", at("2026-11-02T09:00:00Z"));
        let name_only = contact("aino", at("2026-11-03T09:00:00Z"));
        store.insert_contact(&both, &[entry("phone", 1), entry("name", 9)], &audit("c")).await.unwrap();
        store.insert_contact(&phone_only, &[entry("phone", 1)], &audit("c")).await.unwrap();
        store.insert_contact(&name_only, &[entry("name", 9)], &audit("c")).await.unwrap();

        let found = store.search_contacts(&by_index(&[entry("phone", 1), entry("name", 9)])).await.unwrap();
        let reversed = store.search_contacts(&by_index(&[entry("name", 9), entry("phone", 1)])).await.unwrap();

        assert_eq!(ids(&found), vec![both.id]);
        assert_eq!(ids(&reversed), vec![both.id]);
    }

    async fn contacts_bearing_any_entry_are_found_once_each_oldest_first(store: &dyn Store) {
        let both = contact("aino", at("2026-11-02T09:00:00Z"));
        let phone_only = contact("liisa", at("2026-11-03T09:00:00Z"));
        let email_only = contact("aino", at("2026-11-01T09:00:00Z"));
        let neither = contact("aino", at("2026-11-04T09:00:00Z"));
        store.insert_contact(&both, &[entry("phone", 1), entry("email", 2)], &audit("c")).await.unwrap();
        store.insert_contact(&phone_only, &[entry("phone", 1)], &audit("c")).await.unwrap();
        store.insert_contact(&email_only, &[entry("email", 2), entry("name", 9)], &audit("c")).await.unwrap();
        store.insert_contact(&neither, &[entry("phone", 3), entry("email", 1)], &audit("c")).await.unwrap();

        let found = store.contacts_bearing_any(&[entry("phone", 1), entry("email", 2)], 100).await.unwrap();
        let limited = store.contacts_bearing_any(&[entry("phone", 1), entry("email", 2)], 2).await.unwrap();

        assert_eq!(found, vec![email_only.id, both.id, phone_only.id]);
        assert_eq!(limited, vec![email_only.id, both.id]);
        assert!(store.contacts_bearing_any(&[], 100).await.unwrap().is_empty());
        assert!(store.contacts_bearing_any(&[entry("customer_number", 1)], 100).await.unwrap().is_empty());
    }

    async fn the_same_hash_under_another_kind_does_not_match(store: &dyn Store) {
        let row = contact("aino", at("2026-11-01T09:00:00Z"));
        store.insert_contact(&row, &[entry("phone", 1)], &audit("c")).await.unwrap();

        assert!(store.search_contacts(&by_index(&[entry("customer_number", 1)])).await.unwrap().is_empty());
        assert!(store.search_contacts(&by_index(&[entry("phone", 3)])).await.unwrap().is_empty());
    }

    async fn searching_by_agent_returns_only_that_agents_contacts(store: &dyn Store) {
        let aino = contact("aino", at("2026-11-01T09:00:00Z"));
        let liisa = contact("liisa", at("2026-11-02T09:00:00Z"));
        store.insert_contact(&aino, &[entry("phone", 1)], &audit("c")).await.unwrap();
        store.insert_contact(&liisa, &[entry("phone", 1)], &audit("c")).await.unwrap();

        let all_of_aino = ContactFilter { agent: Some("aino".into()), limit: 10, ..ContactFilter::default() };
        let phone_of_liisa = ContactFilter { agent: Some("liisa".into()), ..by_index(&[entry("phone", 1)]) };

        assert_eq!(ids(&store.search_contacts(&all_of_aino).await.unwrap()), vec![aino.id]);
        assert_eq!(ids(&store.search_contacts(&phone_of_liisa).await.unwrap()), vec![liisa.id]);
    }

    async fn a_date_range_includes_its_start_and_excludes_its_end(store: &dyn Store) {
        let before = contact("aino", at("2026-10-31T23:59:59.999999Z"));
        let at_start = contact("aino", at("2026-11-01T00:00:00Z"));
        let inside = contact("aino", at("2026-11-15T12:00:00Z"));
        let at_end = contact("aino", at("2026-12-01T00:00:00Z"));
        for row in [&before, &at_start, &inside, &at_end] {
            store.insert_contact(row, &[entry("phone", 1)], &audit("c")).await.unwrap();
        }
        let november = |index: Vec<kirjuri_store::IndexEntry>| ContactFilter {
            index,
            from: Some(at("2026-11-01T00:00:00Z")),
            to: Some(at("2026-12-01T00:00:00Z")),
            limit: 10,
            ..ContactFilter::default()
        };

        let by_date = store.search_contacts(&november(vec![])).await.unwrap();
        let by_phone_and_date = store.search_contacts(&november(vec![entry("phone", 1)])).await.unwrap();

        assert_eq!(ids(&by_date), vec![inside.id, at_start.id]);
        assert_eq!(ids(&by_phone_and_date), vec![inside.id, at_start.id]);
    }

    async fn pages_come_newest_first_without_gaps_or_repeats(store: &dyn Store) {
        // Ten contacts; three share one start time, so the id must break ties.
        let mut rows = Vec::new();
        for i in 0..10_i64 {
            let minute = if i < 3 { 0 } else { i };
            rows.push(contact("aino", at("2026-11-29T07:00:00Z") + TimeDelta::minutes(minute)));
        }
        for row in &rows {
            store.insert_contact(row, &[entry("phone", 1)], &audit("c")).await.unwrap();
        }
        let mut expected = rows.clone();
        expected.sort_by_key(|row| std::cmp::Reverse((row.started_at, row.id)));

        for index in [vec![], vec![entry("phone", 1)]] {
            let mut seen = Vec::new();
            let mut filter = ContactFilter { index, limit: 4, ..ContactFilter::default() };
            loop {
                let page = store.search_contacts(&filter).await.unwrap();
                assert!(page.len() <= 4);
                let Some(last) = page.last() else { break };
                filter.before = Some((last.started_at, last.id));
                seen.extend(ids(&page));
            }
            assert_eq!(seen, ids(&expected));
        }
    }

    async fn a_limit_caps_the_result_and_zero_returns_nothing(store: &dyn Store) {
        for minute in 0..5 {
            let row = contact("aino", at("2026-11-29T07:00:00Z") + TimeDelta::minutes(minute));
            store.insert_contact(&row, &[], &audit("c")).await.unwrap();
        }
        let limited = |limit| ContactFilter { limit, ..ContactFilter::default() };

        assert_eq!(store.search_contacts(&limited(2)).await.unwrap().len(), 2);
        assert!(store.search_contacts(&limited(0)).await.unwrap().is_empty());
    }

    // --- objects ------------------------------------------------------------

    async fn a_begun_upload_is_pending_and_known_until_it_is_committed(store: &dyn Store) {
        let row = contact("aino", at("2026-11-29T07:15:02Z"));
        store.insert_contact(&row, &[], &audit("c")).await.unwrap();
        let upload = pending(row.id, "recording");

        store.begin_object(&upload).await.unwrap();

        assert_eq!(store.pending_objects().await.unwrap(), vec![upload.clone()]);
        assert!(store.known_object_ids().await.unwrap().contains(&upload.id));
        assert_eq!(store.object_for_contact(&row.id, "recording").await.unwrap(), None);
    }

    async fn committing_an_upload_stores_the_object_with_its_audit_event(store: &dyn Store) {
        let row = contact("aino", at("2026-11-29T07:15:02Z"));
        store.insert_contact(&row, &[], &audit("contact.create")).await.unwrap();
        let upload = pending(row.id, "recording");
        store.begin_object(&upload).await.unwrap();
        let stored = object(&upload, &sha('a'));
        let mut event = audit("recording.create");
        event.details = serde_json::json!({"sha256": sha('a')});

        let outcome = store.commit_object(&stored, &event).await.unwrap();

        assert_eq!(outcome, CommitOutcome::Committed);
        assert_eq!(store.object_for_contact(&row.id, "recording").await.unwrap(), Some(stored.clone()));
        assert!(store.pending_objects().await.unwrap().is_empty());
        assert_eq!(store.known_object_ids().await.unwrap(), [upload.id].into_iter().collect());
        assert_eq!(all_audit(store).await.last().unwrap().event, event);
    }

    async fn aborting_an_upload_forgets_it(store: &dyn Store) {
        let row = contact("aino", at("2026-11-29T07:15:02Z"));
        store.insert_contact(&row, &[], &audit("c")).await.unwrap();
        let upload = pending(row.id, "recording");
        store.begin_object(&upload).await.unwrap();

        store.abort_object(&upload.id).await.unwrap();

        assert!(store.pending_objects().await.unwrap().is_empty());
        assert!(store.known_object_ids().await.unwrap().is_empty());
        store.abort_object(&upload.id).await.expect("aborting twice is harmless");
    }

    async fn committing_without_a_pending_upload_is_refused(store: &dyn Store) {
        let row = contact("aino", at("2026-11-29T07:15:02Z"));
        store.insert_contact(&row, &[], &audit("c")).await.unwrap();
        let upload = pending(row.id, "recording");
        store.begin_object(&upload).await.unwrap();
        store.abort_object(&upload.id).await.unwrap();

        let result = store.commit_object(&object(&upload, &sha('a')), &audit("recording.create")).await;

        assert!(matches!(result, Err(Error::NotFound)), "{result:?}");
        assert_eq!(store.object_for_contact(&row.id, "recording").await.unwrap(), None);
        assert_eq!(all_audit(store).await.len(), 1);
    }

    async fn beginning_an_upload_for_an_unknown_contact_is_not_found(store: &dyn Store) {
        let result = store.begin_object(&pending(ContactId::new_v7(), "recording")).await;

        assert!(matches!(result, Err(Error::NotFound)), "{result:?}");
        assert!(store.pending_objects().await.unwrap().is_empty());
    }

    async fn a_group_commits_its_writes_together_and_a_failing_write_fails_alone(store: &dyn Store) {
        use kirjuri_store::{GroupOutcome, GroupWrite};
        let row = contact("aino", at("2026-11-29T07:15:02Z"));
        store.insert_contact(&row, &[], &audit("c")).await.unwrap();
        let first = pending(row.id, "recording");
        let derived = pending(row.id, "waveform");
        store.begin_object(&first).await.unwrap();
        store.begin_object(&derived).await.unwrap();
        let second = contact("aino", at("2026-11-29T07:16:02Z"));
        let never_begun = pending(row.id, "transcript");
        let mut derived_row = object(&derived, &sha('b'));
        derived_row.source = Some(first.id);
        let writes = [
            GroupWrite::CommitObject {
                object: object(&first, &sha('a')),
                audit: audit("recording.create"),
                derived: Some((derived_row.clone(), audit("derived.create"))),
            },
            // Fails on its own: no pending row.
            GroupWrite::CommitObject {
                object: object(&never_begun, &sha('c')),
                audit: audit("transcript.create"),
                derived: None,
            },
            GroupWrite::InsertContact {
                contact: second.clone(),
                index: vec![],
                audit: audit("contact.create"),
            },
        ];

        let results = store.write_group(&writes).await.unwrap();

        assert_eq!(results.len(), 3);
        assert_eq!(
            results[0].as_ref().unwrap(),
            &GroupOutcome::Object { outcome: CommitOutcome::Committed, derived_committed: true }
        );
        assert!(matches!(results[1], Err(Error::NotFound)), "{:?}", results[1]);
        assert_eq!(results[2].as_ref().unwrap(), &GroupOutcome::Contact(InsertOutcome::Created));
        assert_eq!(
            store.object_for_contact(&row.id, "waveform").await.unwrap(),
            Some(derived_row)
        );
        assert_eq!(store.object_for_contact(&row.id, "transcript").await.unwrap(), None);
        assert!(store.contact(&second.id).await.unwrap().is_some());
        assert!(store.pending_objects().await.unwrap().is_empty());
        // The events of the writes that succeeded, in the writes' order.
        let actions: Vec<String> =
            all_audit(store).await.into_iter().skip(1).map(|r| r.event.action).collect();
        assert_eq!(actions, ["recording.create", "derived.create", "contact.create"]);
    }

    async fn a_group_of_audit_events_alone_is_appended_in_order_and_each_answered(store: &dyn Store) {
        use kirjuri_store::{GroupOutcome, GroupWrite};
        // Concurrent reads' events, a few and more than one statement
        // carries (SQLite appends up to 500 in one).
        for n in [3, 501] {
            let before = all_audit(store).await.len();
            let writes: Vec<GroupWrite> =
                (0..n).map(|i| GroupWrite::Audit(audit(&format!("recording.read.{i}")))).collect();

            let results = store.write_group(&writes).await.unwrap();

            assert_eq!(results.len(), n);
            assert!(results.iter().all(|r| matches!(r, Ok(GroupOutcome::Audited))), "{results:?}");
            let actions: Vec<String> =
                all_audit(store).await.into_iter().skip(before).map(|r| r.event.action).collect();
            let expected: Vec<String> = (0..n).map(|i| format!("recording.read.{i}")).collect();
            assert_eq!(actions, expected, "every event, in the group's order");
        }
    }

    async fn of_two_uploads_for_one_contact_and_kind_the_second_gets_the_first(store: &dyn Store) {
        let row = contact("aino", at("2026-11-29T07:15:02Z"));
        store.insert_contact(&row, &[], &audit("c")).await.unwrap();
        let first = pending(row.id, "recording");
        let second = pending(row.id, "recording");
        store.begin_object(&first).await.unwrap();
        store.begin_object(&second).await.unwrap();

        let won = store.commit_object(&object(&first, &sha('a')), &audit("recording.create")).await.unwrap();
        let lost = store.commit_object(&object(&second, &sha('b')), &audit("recording.create")).await.unwrap();

        assert_eq!(won, CommitOutcome::Committed);
        assert_eq!(lost, CommitOutcome::Existing(object(&first, &sha('a'))));
        assert!(store.pending_objects().await.unwrap().is_empty(), "the loser's pending row is gone");
        assert_eq!(store.objects_for_contact(&row.id).await.unwrap(), vec![object(&first, &sha('a'))]);
        assert_eq!(all_audit(store).await.len(), 2, "contact + one recording");
    }

    async fn racing_commits_for_one_contact_and_kind_commit_exactly_one(store: &dyn Store) {
        let row = contact("aino", at("2026-11-29T07:15:02Z"));
        store.insert_contact(&row, &[], &audit("c")).await.unwrap();
        let uploads: Vec<_> = (0..8).map(|_| pending(row.id, "recording")).collect();
        for upload in &uploads {
            store.begin_object(upload).await.unwrap();
        }
        let objects: Vec<_> = uploads.iter().map(|upload| object(upload, &sha('c'))).collect();
        let event = audit("recording.create");

        let outcomes = futures::future::join_all(objects.iter().map(|o| store.commit_object(o, &event))).await;

        let outcomes: Vec<_> = outcomes.into_iter().map(Result::unwrap).collect();
        let winners: Vec<_> = objects
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| **outcome == CommitOutcome::Committed)
            .map(|(o, _)| o.clone())
            .collect();
        assert_eq!(winners.len(), 1);
        for outcome in &outcomes {
            if let CommitOutcome::Existing(existing) = outcome {
                assert_eq!(existing, &winners[0]);
            }
        }
        assert_eq!(store.objects_for_contact(&row.id).await.unwrap(), winners);
        assert!(store.pending_objects().await.unwrap().is_empty());
    }

    async fn a_contact_holds_one_object_per_kind(store: &dyn Store) {
        let row = contact("aino", at("2026-11-29T07:15:02Z"));
        store.insert_contact(&row, &[], &audit("c")).await.unwrap();
        let recording = pending(row.id, "recording");
        let transcript = pending(row.id, "transcript");
        for upload in [&transcript, &recording] {
            store.begin_object(upload).await.unwrap();
            store.commit_object(&object(upload, &sha('d')), &audit("object.create")).await.unwrap();
        }

        let kinds: Vec<_> = store
            .objects_for_contact(&row.id)
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.kind)
            .collect();

        assert_eq!(kinds, vec!["recording", "transcript"]);
        assert_eq!(store.object_for_contact(&row.id, "transcript").await.unwrap(), Some(object(&transcript, &sha('d'))));
        assert!(store.objects_for_contact(&ContactId::new_v7()).await.unwrap().is_empty());
    }

    async fn known_object_ids_cover_committed_and_pending_uploads(store: &dyn Store) {
        let row = contact("aino", at("2026-11-29T07:15:02Z"));
        store.insert_contact(&row, &[], &audit("c")).await.unwrap();
        let committed = pending(row.id, "recording");
        store.begin_object(&committed).await.unwrap();
        store.commit_object(&object(&committed, &sha('e')), &audit("recording.create")).await.unwrap();
        let in_flight = pending(row.id, "transcript");
        store.begin_object(&in_flight).await.unwrap();

        let known = store.known_object_ids().await.unwrap();

        assert_eq!(known, [committed.id, in_flight.id].into_iter().collect());
        assert!(!known.contains(&ObjectId::new_v7()));
    }

    // --- accounts -----------------------------------------------------------

    async fn users_read_back_by_name_and_by_id(store: &dyn Store) {
        let mut aino = user("aino", Role::Agent);
        aino.disabled = true;
        let event = audit("user.create");

        store.insert_user(&aino, &event).await.unwrap();

        assert_eq!(store.user_by_name("aino").await.unwrap(), Some(aino.clone()));
        assert_eq!(store.user(&aino.id).await.unwrap(), Some(aino));
        assert_eq!(store.user_by_name("Aino").await.unwrap(), None);
        assert_eq!(all_audit(store).await[0].event, event);
    }

    async fn a_duplicate_user_name_is_a_conflict_and_leaves_no_audit_event(store: &dyn Store) {
        store.insert_user(&user("aino", Role::Agent), &audit("user.create")).await.unwrap();
        let impostor = user("aino", Role::Admin);

        let result = store.insert_user(&impostor, &audit("user.create")).await;

        assert!(matches!(result, Err(Error::Conflict("user name"))), "{result:?}");
        assert_eq!(store.user(&impostor.id).await.unwrap(), None);
        assert_eq!(all_audit(store).await.len(), 1, "only the first account's event");
    }

    async fn a_token_is_found_by_its_hash_together_with_its_user(store: &dyn Store) {
        let pbx = user("pbx", Role::Integration);
        store.insert_user(&pbx, &audit("user.create")).await.unwrap();
        let issued = token(&pbx, &[7; 32]);

        store.insert_token(&issued, &audit("token.create")).await.unwrap();

        assert_eq!(store.token_by_hash(&[7; 32]).await.unwrap(), Some((issued, pbx)));
        assert_eq!(store.token_by_hash(&[8; 32]).await.unwrap(), None);
        assert_eq!(all_audit(store).await.len(), 2);
    }

    async fn a_token_for_an_unknown_user_is_not_found_and_leaves_no_audit_event(store: &dyn Store) {
        let ghost = user("ghost", Role::Integration);

        let result = store.insert_token(&token(&ghost, &[7; 32]), &audit("token.create")).await;

        assert!(matches!(result, Err(Error::NotFound)), "{result:?}");
        assert!(all_audit(store).await.is_empty());
    }

    async fn a_duplicate_token_hash_is_a_conflict(store: &dyn Store) {
        let pbx = user("pbx", Role::Integration);
        store.insert_user(&pbx, &audit("user.create")).await.unwrap();
        store.insert_token(&token(&pbx, &[7; 32]), &audit("token.create")).await.unwrap();

        let result = store.insert_token(&token(&pbx, &[7; 32]), &audit("token.create")).await;

        assert!(matches!(result, Err(Error::Conflict("token hash"))), "{result:?}");
    }

    async fn touching_a_token_moves_its_last_use_forward_never_back(store: &dyn Store) {
        let pbx = user("pbx", Role::Integration);
        store.insert_user(&pbx, &audit("user.create")).await.unwrap();
        let issued = token(&pbx, &[7; 32]);
        store.insert_token(&issued, &audit("token.create")).await.unwrap();

        store.touch_token(&issued.id, at("2026-11-29T13:00:00Z")).await.unwrap();
        let first = store.token_by_hash(&[7; 32]).await.unwrap().unwrap().0.last_used_at;
        store.touch_token(&issued.id, at("2026-11-29T12:59:00Z")).await.unwrap();
        let after_late_touch = store.token_by_hash(&[7; 32]).await.unwrap().unwrap().0.last_used_at;
        store.touch_token(&issued.id, at("2026-11-29T13:05:00Z")).await.unwrap();
        let latest = store.token_by_hash(&[7; 32]).await.unwrap().unwrap().0.last_used_at;

        assert_eq!(first, Some(at("2026-11-29T13:00:00Z")));
        assert_eq!(after_late_touch, Some(at("2026-11-29T13:00:00Z")));
        assert_eq!(latest, Some(at("2026-11-29T13:05:00Z")));
    }

    async fn touching_an_unknown_token_is_not_found(store: &dyn Store) {
        let result = store.touch_token(&uuid::Uuid::now_v7(), at("2026-11-29T13:00:00Z")).await;

        assert!(matches!(result, Err(Error::NotFound)), "{result:?}");
    }

    // --- audit --------------------------------------------------------------

    async fn audit_events_read_back_in_order_after_a_given_sequence_number(store: &dyn Store) {
        let mut events = Vec::new();
        for i in 0..5 {
            let mut event = audit(&format!("contact.read.{i}"));
            event.actor = if i == 0 { None } else { event.actor };
            event.purpose = Some("quality_assurance".into());
            event.details = serde_json::json!({"n": i, "nested": {"list": [1, 2, 3]}});
            events.push(event);
        }
        let mut seqs = Vec::new();
        for event in &events {
            seqs.push(store.append_audit(event).await.unwrap());
        }

        let all = all_audit(store).await;
        let after_second = store.audit_events(seqs[1], 2).await.unwrap();

        assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]), "{seqs:?}");
        assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), seqs);
        assert_eq!(all.into_iter().map(|r| r.event).collect::<Vec<_>>(), events);
        assert_eq!(after_second.iter().map(|r| r.seq).collect::<Vec<_>>(), seqs[2..4].to_vec());
    }

    async fn timestamps_before_2000_truncate_down_like_later_ones(store: &dyn Store) {
        // PostgreSQL counts from 2000-01-01; an instant before it must still
        // lose its nanoseconds downwards, as SQLite's integer microseconds do.
        let mut row = contact("aino", at("1999-12-31T23:59:59.9999999Z"));
        row.created_at = at("1969-07-20T20:17:40.0000015Z");
        store.insert_contact(&row, &[], &audit("contact.create")).await.unwrap();

        let stored = store.contact(&row.id).await.unwrap().unwrap();

        assert_eq!(stored.started_at, at("1999-12-31T23:59:59.999999Z"));
        assert_eq!(stored.created_at, at("1969-07-20T20:17:40.000001Z"));
        assert_eq!(stored.started_at, truncate_to_storage(row.started_at));
    }

    async fn an_object_reads_back_by_its_id(store: &dyn Store) {
        let row = contact("aino", at("2026-11-29T07:15:02Z"));
        store.insert_contact(&row, &[], &audit("c")).await.unwrap();
        let upload = pending(row.id, "recording");
        store.begin_object(&upload).await.unwrap();
        let mut stored = object(&upload, &sha('f'));
        stored.media = json!({"encoding": "mulaw", "sample_rate": 8000, "channels": 1,
                              "duration_ms": 1500, "peaks": [0.5, -1.25, 3], "note": null});
        store.commit_object(&stored, &audit("recording.create")).await.unwrap();

        assert_eq!(store.object(&upload.id).await.unwrap(), Some(stored));
        assert_eq!(store.object(&ObjectId::new_v7()).await.unwrap(), None);
    }

    // --- audit: tamper evidence and queries (AUD-2) ------------------------

    async fn stored_events_come_back_byte_for_byte_with_gapless_sequence_numbers(store: &dyn Store) {
        assert_eq!(store.audit_head().await.unwrap(), 0);
        let actor = UserId::new_v7();
        let first = store
            .append_audit(&event(1, Some(actor), "contact.viewed", json!({"b": 1, "a": [2, "x"]})))
            .await
            .unwrap();
        store
            .append_audit_batch(&[
                event(2, None, "user.created", json!({})),
                event(3, None, "user.created", json!({"s": "ä\u{0}\"\\"})),
            ])
            .await
            .unwrap();

        let stored = store.stored_audit_events(0, 10).await.unwrap();

        assert_eq!(first, 1);
        assert_eq!(store.audit_head().await.unwrap(), 3);
        assert_eq!(stored.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(stored[0].details, r#"{"a":[2,"x"],"b":1}"#);
        assert_eq!(stored[2].details, r#"{"s":"ä\u0000\"\\"}"#);
        assert_eq!(stored[0].actor.as_deref(), Some(&actor.as_bytes()[..]));
        assert_eq!(stored[0].at_micros, event(1, None, "", json!({})).at.timestamp_micros());
        assert_eq!(stored[1].actor, None);
        assert_eq!(store.stored_audit_events(2, 10).await.unwrap().len(), 1);
        assert_eq!(store.stored_audit_events(0, 2).await.unwrap().len(), 2);
    }

    async fn bulk_leaves_equal_the_hashes_of_the_stored_rows(store: &dyn Store) {
        let actor = UserId::new_v7();
        let events: Vec<NewAuditEvent> = (0..300)
            .map(|i| NewAuditEvent {
                actor: (i % 3 != 0).then_some(actor),
                object: (i % 5 != 0).then(|| format!("o\"b\\j\n{i}\u{1}ä😀")),
                purpose: (i % 2 == 0).then(|| "training".to_owned()),
                ..event(i, None, "contact.viewed", json!({"i": i, "s": "x\ty"}))
            })
            .collect();
        store.append_audit_batch(&events).await.unwrap();
        let mut buffer = Vec::new();
        let expected: Vec<(i64, [u8; 32])> = store
            .stored_audit_events(0, 1000)
            .await
            .unwrap()
            .iter()
            .map(|e| (e.seq, kirjuri_core::audit::leaf_hash_of(&e.leaf_fields(), &mut buffer)))
            .collect();

        let mut got = Vec::new();
        let mut after = i64::MIN;
        loop {
            let page = store.audit_leaves(after, 64).await.unwrap();
            got.extend(page.iter().map(|l| (l.seq, l.leaf)));
            match page.last() {
                Some(last) => after = last.seq,
                None => break,
            }
        }

        assert_eq!(expected.len(), 300);
        assert_eq!(got, expected);
        assert!(store.audit_leaves(0, 0).await.unwrap().is_empty());
        assert!(store.audit_leaves(300, 10).await.unwrap().is_empty());
    }

    async fn audit_queries_find_events_by_the_ids_they_name_by_actor_and_by_action(store: &dyn Store) {
        let (aino, sanna) = (UserId::new_v7(), UserId::new_v7());
        let contact = "0192f5c4-8f5e-7000-8000-0000000000aa";
        let events = [
            // 1: viewed the contact (object).
            NewAuditEvent { object: Some(contact.into()), ..event(1, Some(aino), "contact.viewed", json!({})) },
            // 2: read its recording (details.contact).
            event(2, Some(sanna), "recording.read", json!({"contact": contact})),
            // 3: a search that returned it among others.
            NewAuditEvent {
                object: None,
                ..event(3, Some(sanna), "contact.search", json!({"results": ["other", 7, contact]}))
            },
            // 4: names it only inside an object, which is not a reference.
            event(4, Some(aino), "contact.viewed", json!({"results": {"contact": contact}})),
        ];
        for e in &events {
            store.append_audit(e).await.unwrap();
        }
        let all = AuditFilter { limit: 100, ..AuditFilter::default() };
        let about = AuditFilter { reference: Some(contact.into()), ..all.clone() };
        let by_sanna = AuditFilter { actor: Some(sanna), ..all.clone() };
        let viewed = AuditFilter { action: Some("contact.viewed".into()), ..all.clone() };
        let viewed_by_aino_about = AuditFilter { actor: Some(aino), ..about.clone() };
        let page = AuditFilter { after_seq: 1, limit: 1, ..about.clone() };
        let other = AuditFilter { reference: Some("other".into()), ..all.clone() };

        assert_eq!(seqs(&store.search_audit(&about).await.unwrap()), [1, 2, 3]);
        assert_eq!(seqs(&store.search_audit(&by_sanna).await.unwrap()), [2, 3]);
        assert_eq!(seqs(&store.search_audit(&viewed).await.unwrap()), [1, 4]);
        assert_eq!(seqs(&store.search_audit(&viewed_by_aino_about).await.unwrap()), [1]);
        assert_eq!(seqs(&store.search_audit(&page).await.unwrap()), [2]);
        assert_eq!(seqs(&store.search_audit(&other).await.unwrap()), [3]);
        assert_eq!(store.search_audit(&all).await.unwrap()[1].event.details, json!({"contact": contact}));
    }

    async fn a_checkpoint_is_stored_only_on_top_of_the_one_its_writer_extended(store: &dyn Store) {
        assert!(store.latest_audit_checkpoint().await.unwrap().is_none());
        // The first needs "no checkpoint yet".
        assert!(!store.insert_audit_checkpoint(&checkpoint(4), Some(2)).await.unwrap());
        assert!(store.insert_audit_checkpoint(&checkpoint(4), None).await.unwrap());
        // A racer that also started from nothing loses, whatever its size.
        assert!(!store.insert_audit_checkpoint(&checkpoint(4), None).await.unwrap());
        assert!(!store.insert_audit_checkpoint(&checkpoint(5), None).await.unwrap());
        assert!(store.insert_audit_checkpoint(&checkpoint(7), Some(4)).await.unwrap());
        assert!(!store.insert_audit_checkpoint(&checkpoint(9), Some(4)).await.unwrap());

        assert_eq!(store.latest_audit_checkpoint().await.unwrap(), Some(checkpoint(7)));
        assert_eq!(store.audit_checkpoints(None, 10).await.unwrap(), [checkpoint(4), checkpoint(7)]);
        assert_eq!(store.audit_checkpoints(Some(4), 10).await.unwrap(), [checkpoint(7)]);
        assert_eq!(store.audit_checkpoints(None, 1).await.unwrap(), [checkpoint(4)]);
    }

    async fn racing_checkpoint_writers_from_one_size_store_exactly_one(store: &dyn Store) {
        store.insert_audit_checkpoint(&checkpoint(2), None).await.unwrap();
        let rows: Vec<_> = (3..19).map(checkpoint).collect();

        let stored = futures::future::join_all(
            rows.iter().map(|row| store.insert_audit_checkpoint(row, Some(2))),
        )
        .await;

        let stored: Vec<bool> = stored.into_iter().map(Result::unwrap).collect();
        assert_eq!(stored.iter().filter(|s| **s).count(), 1, "{stored:?}");
        assert_eq!(store.audit_checkpoints(None, 100).await.unwrap().len(), 2);
    }

    async fn the_log_identity_is_32_lowercase_hex_digits_and_never_changes(store: &dyn Store) {
        let id = store.audit_log_id().await.unwrap();
        store.append_audit(&event(1, None, "user.created", json!({}))).await.unwrap();

        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{id}");
        assert_eq!(store.audit_log_id().await.unwrap(), id);
    }

    // --- coordination ---------------------------------------------------------

    async fn a_lease_goes_to_one_holder_until_it_ends_or_is_released(store: &dyn Store) {
        let t0 = at("2026-11-29T12:00:00Z");
        let minute = TimeDelta::minutes(1);

        assert!(store.try_lease("purge", "node-a", t0, t0 + minute).await.unwrap());
        assert!(!store.try_lease("purge", "node-b", t0 + minute / 2, t0 + minute * 2).await.unwrap());
        assert!(store.try_lease("checkpoint", "node-b", t0, t0 + minute).await.unwrap(), "another job is free");
        assert!(store.try_lease("purge", "node-a", t0 + minute / 2, t0 + minute * 3).await.unwrap(), "a renewal");
        assert!(!store.try_lease("purge", "node-b", t0 + minute * 2, t0 + minute * 4).await.unwrap());
        assert!(store.try_lease("purge", "node-b", t0 + minute * 3, t0 + minute * 4).await.unwrap(), "ended at 3");
        store.release_lease("purge", "node-a").await.unwrap();
        assert!(!store.try_lease("purge", "node-a", t0 + minute * 3, t0 + minute * 5).await.unwrap(), "not the holder's to release");
        store.release_lease("purge", "node-b").await.unwrap();
        assert!(store.try_lease("purge", "node-a", t0 + minute * 3, t0 + minute * 5).await.unwrap());
    }

    async fn of_many_callers_at_once_exactly_one_takes_a_free_lease(store: &dyn Store) {
        let t0 = at("2026-11-29T12:00:00Z");
        let holders: Vec<String> = (0..16).map(|i| format!("node-{i}")).collect();

        let taken = futures::future::join_all(
            holders.iter().map(|h| store.try_lease("purge", h, t0, t0 + TimeDelta::minutes(1))),
        )
        .await;

        assert_eq!(taken.into_iter().filter(|t| *t.as_ref().unwrap()).count(), 1);
    }

    async fn heartbeats_never_move_back_and_a_removed_instance_has_none(store: &dyn Store) {
        let t0 = at("2026-11-29T12:00:00.000001Z");
        assert_eq!(store.last_heartbeat("node-a").await.unwrap(), None);

        store.heartbeat("node-a", t0).await.unwrap();
        store.heartbeat("node-a", t0 - TimeDelta::seconds(5)).await.unwrap();
        store.heartbeat("node-b", t0 + TimeDelta::seconds(1)).await.unwrap();

        assert_eq!(store.last_heartbeat("node-a").await.unwrap(), Some(t0));
        store.heartbeat("node-a", t0 + TimeDelta::seconds(10)).await.unwrap();
        assert_eq!(store.last_heartbeat("node-a").await.unwrap(), Some(t0 + TimeDelta::seconds(10)));
        store.remove_instance("node-a").await.unwrap();
        assert_eq!(store.last_heartbeat("node-a").await.unwrap(), None);
        assert_eq!(store.last_heartbeat("node-b").await.unwrap(), Some(t0 + TimeDelta::seconds(1)));
        store.remove_instance("node-a").await.expect("removing twice is harmless");
    }
}
