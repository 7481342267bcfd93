//! What every store promises about retention ([`RetentionStore`]): which
//! objects and contacts are expired and unheld at an instant, what a shred
//! and an erasure destroy and what they leave (tombstones, audit events,
//! the erased contact's bare row), legal holds and their targets, deadlines
//! and their lowering. Each case runs through `&dyn Store` only, on every
//! backend; a property test compares `expired_objects` and the purge with a
//! brute-force model of "expired and unheld".

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};
use kirjuri_core::ids::{ContactId, ObjectId, UserId};
use kirjuri_store::{
    ContactFilter, ContactRow, DeadlineChange, Error, ExpiredContact, ExpiredObject, HoldLift,
    HoldRow, HoldTarget, ObjectRow, Shred, ShredMode, Store, TombstoneRow, TombstoneStep,
};
use uuid::Uuid;

use crate::support::{
    all_audit, at, audit, contact, entry, now, object, on_every_backend, pending, sha,
};

/// The instant most cases purge at.
fn t0() -> DateTime<Utc> {
    at("2027-12-01T00:00:00Z")
}

fn micros(n: i64) -> TimeDelta {
    TimeDelta::microseconds(n)
}

/// Stores a contact with deadline `retain_until` and a phone index entry
/// `phone`.
async fn add_contact(store: &dyn Store, retain_until: DateTime<Utc>, phone: u8) -> ContactRow {
    let row = ContactRow {
        retain_until,
        ..contact("aino", at("2026-11-29T07:15:02Z"))
    };
    store
        .insert_contact(&row, &[entry("phone", phone)], &audit("contact.create"))
        .await
        .unwrap();
    row
}

/// Commits an object of `kind` with deadline `retain_until` to the contact.
async fn add_object(
    store: &dyn Store,
    contact: &ContactRow,
    kind: &str,
    retain_until: DateTime<Utc>,
    source: Option<ObjectId>,
) -> ObjectRow {
    let upload = pending(contact.id, kind);
    store.begin_object(&upload).await.unwrap();
    let row = ObjectRow {
        retain_until,
        source,
        ..object(&upload, &sha('a'))
    };
    store
        .commit_object(&row, &audit("object.commit"))
        .await
        .unwrap();
    row
}

/// An active hold, reviewed at `review_by`, ending at `expires_at`.
fn hold_row(review_by: DateTime<Utc>, expires_at: Option<DateTime<Utc>>) -> HoldRow {
    HoldRow {
        id: Uuid::now_v7(),
        ground_kind: "case".into(),
        ground: "District court case R 27/1234".into(),
        owner: UserId::new_v7(),
        review_by,
        expires_at,
        scope: serde_json::json!({"contact": "c"}),
        created_at: now(),
        created_by: UserId::new_v7(),
        lifted_at: None,
        lifted_by: None,
        lift_reason: None,
        reminded_at: None,
    }
}

fn whole(contact: &ContactRow) -> HoldTarget {
    HoldTarget {
        contact_id: contact.id,
        object_id: None,
    }
}

fn one(object: &ObjectRow) -> HoldTarget {
    HoldTarget {
        contact_id: object.contact_id,
        object_id: Some(object.id),
    }
}

/// Places an active hold (no end) on `targets`.
async fn place_hold(
    store: &dyn Store,
    targets: &[HoldTarget],
    expires_at: Option<DateTime<Utc>>,
) -> HoldRow {
    let hold = hold_row(at("2028-06-01T00:00:00Z"), expires_at);
    store
        .insert_hold(&hold, targets, &audit("hold.place"))
        .await
        .unwrap();
    hold
}

/// The shred of `object` at `at`.
pub(crate) fn shred(object: &ObjectRow, at: DateTime<Utc>) -> Shred {
    Shred {
        tombstone: TombstoneRow {
            id: *object.id.as_uuid(),
            contact_id: object.contact_id,
            kind: object.kind.clone(),
            rule: "call_recording: 12 months (privacy notice §12)".into(),
            reason: "retention".into(),
            sha256: Some(object.sha256.clone()),
            retain_until: object.retain_until,
            deleted_at: at,
            ledgered_at: None,
            storage_deleted_at: None,
        },
        audit: audit("retention.shred"),
    }
}

/// The erasure of `contact`'s document at `at`.
pub(crate) fn erasure(contact: &ContactRow, at: DateTime<Utc>) -> Shred {
    Shred {
        tombstone: TombstoneRow {
            id: *contact.id.as_uuid(),
            contact_id: contact.id,
            kind: "contact".into(),
            rule: "contact_metadata: 12 months".into(),
            reason: "retention".into(),
            sha256: None,
            retain_until: contact.retain_until,
            deleted_at: at,
            ledgered_at: None,
            storage_deleted_at: None,
        },
        audit: audit("retention.erase"),
    }
}

fn object_ids(rows: &[ExpiredObject]) -> Vec<ObjectId> {
    rows.iter().map(|row| row.id).collect()
}

fn expired_contact_ids(rows: &[ExpiredContact]) -> Vec<ContactId> {
    rows.iter().map(|row| row.id).collect()
}

fn contact_ids(rows: &[ContactRow]) -> Vec<ContactId> {
    rows.iter().map(|row| row.id).collect()
}

fn by_phone(byte: u8) -> ContactFilter {
    ContactFilter {
        index: vec![entry("phone", byte)],
        limit: 10,
        ..ContactFilter::default()
    }
}

on_every_backend! {
    // --- expired objects ---------------------------------------------------

    async fn an_object_is_expired_from_its_deadline_on_and_listed_most_overdue_first(store: &dyn Store) {
        let owner = add_contact(store, t0(), 1).await;
        let due_now = add_object(store, &owner, "recording", t0(), None).await;
        let overdue = add_object(store, &owner, "transcript", t0() - TimeDelta::days(3), None).await;
        let not_yet = add_object(store, &owner, "waveform", t0() + micros(1), None).await;

        let before = store.expired_objects(t0() - micros(1), None, 100).await.unwrap();
        let at_deadline = store.expired_objects(t0(), None, 100).await.unwrap();

        assert_eq!(object_ids(&before), vec![overdue.id]);
        assert_eq!(object_ids(&at_deadline), vec![overdue.id, due_now.id]);
        assert_eq!(at_deadline[1], ExpiredObject::from(&due_now), "what the purge needs of it");
        assert!(!object_ids(&at_deadline).contains(&not_yet.id));
    }

    async fn expired_objects_page_by_deadline_then_id(store: &dyn Store) {
        let mut expected = Vec::new();
        for (n, days) in [3, 1, 1, 2, 1].into_iter().enumerate() {
            let owner = add_contact(store, t0(), u8::try_from(n).unwrap()).await;
            let row = add_object(store, &owner, "recording", t0() - TimeDelta::days(days), None).await;
            expected.push((row.retain_until, row.id));
        }
        expected.sort();

        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store.expired_objects(t0(), after, 2).await.unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 2);
            seen.extend(page.iter().map(|row| (row.retain_until, row.id)));
            after = page.last().map(|row| (row.retain_until, row.id));
        }

        assert_eq!(seen, expected);
    }

    async fn a_hold_on_the_contact_the_object_or_its_source_keeps_an_expired_object(store: &dyn Store) {
        let expired = t0() - TimeDelta::days(1);
        let by_contact = add_contact(store, expired, 1).await;
        let recording_a = add_object(store, &by_contact, "recording", expired, None).await;
        let by_object = add_contact(store, expired, 2).await;
        let recording_b = add_object(store, &by_object, "recording", expired, None).await;
        let transcript_b = add_object(store, &by_object, "transcript", expired, None).await;
        let by_source = add_contact(store, expired, 3).await;
        let recording_c = add_object(store, &by_source, "recording", expired, None).await;
        let peaks_c = add_object(store, &by_source, "waveform", expired, Some(recording_c.id)).await;
        let free = add_contact(store, expired, 4).await;
        let recording_d = add_object(store, &free, "recording", expired, None).await;

        place_hold(store, &[whole(&by_contact), one(&recording_b), one(&recording_c)], None).await;

        let listed = object_ids(&store.expired_objects(t0(), None, 100).await.unwrap());
        for held in [recording_a.id, recording_b.id, recording_c.id, peaks_c.id] {
            assert!(!listed.contains(&held), "{held} is held");
        }
        let mut unheld = vec![(transcript_b.retain_until, transcript_b.id), (recording_d.retain_until, recording_d.id)];
        unheld.sort();
        assert_eq!(listed, unheld.into_iter().map(|(_, id)| id).collect::<Vec<_>>());
    }

    async fn a_lifted_or_ended_hold_keeps_nothing(store: &dyn Store) {
        let expired = t0() - TimeDelta::days(1);
        let owner = add_contact(store, expired, 1).await;
        let recording = add_object(store, &owner, "recording", expired, None).await;
        let lifted = place_hold(store, &[whole(&owner)], None).await;
        store.lift_hold(&lifted.id, &HoldLift { at: now(), by: UserId::new_v7(), reason: "case closed".into() }, &audit("hold.lift")).await.unwrap();
        // A hold ending exactly at `now` no longer keeps anything at `now`.
        place_hold(store, &[whole(&owner)], Some(t0())).await;

        assert_eq!(object_ids(&store.expired_objects(t0(), None, 10).await.unwrap()), vec![recording.id]);
        assert!(store.expired_objects(t0() - micros(1), None, 10).await.unwrap().is_empty(), "still held the instant before");
    }

    // --- expired contacts --------------------------------------------------

    async fn a_contact_is_expired_only_when_it_and_everything_it_still_has_may_go(store: &dyn Store) {
        let expired = t0() - TimeDelta::days(1);
        let bare = add_contact(store, expired, 1).await;
        let with_expired_object = add_contact(store, expired, 2).await;
        add_object(store, &with_expired_object, "recording", expired, None).await;
        let with_living_object = add_contact(store, expired, 3).await;
        add_object(store, &with_living_object, "recording", t0() + micros(1), None).await;
        let with_upload = add_contact(store, expired, 4).await;
        store.begin_object(&pending(with_upload.id, "recording")).await.unwrap();
        let object_held = add_contact(store, expired, 5).await;
        let held_recording = add_object(store, &object_held, "recording", expired, None).await;
        place_hold(store, &[one(&held_recording)], None).await;
        let contact_held = add_contact(store, expired, 6).await;
        place_hold(store, &[whole(&contact_held)], None).await;
        let not_due = add_contact(store, t0() + micros(1), 7).await;

        let listed = store.expired_contacts(t0(), None, 100).await.unwrap();

        let mut expected = vec![bare.id, with_expired_object.id];
        expected.sort();
        assert_eq!(expired_contact_ids(&listed), expected);
        assert!(!expired_contact_ids(&listed).contains(&not_due.id));
        assert_eq!(listed.iter().find(|row| row.id == bare.id), Some(&ExpiredContact::from(&bare)));
    }

    async fn expired_contacts_page_by_deadline_then_id(store: &dyn Store) {
        let mut expected = Vec::new();
        for (n, days) in [2, 1, 2, 3].into_iter().enumerate() {
            let row = add_contact(store, t0() - TimeDelta::days(days), u8::try_from(n).unwrap()).await;
            expected.push((row.retain_until, row.id));
        }
        expected.sort();

        let first = store.expired_contacts(t0(), None, 3).await.unwrap();
        let last = first.last().unwrap();
        let second = store.expired_contacts(t0(), Some((last.retain_until, last.id)), 3).await.unwrap();

        let seen: Vec<_> = first.iter().chain(&second).map(|row| (row.retain_until, row.id)).collect();
        assert_eq!(seen, expected);
    }

    // --- shredding objects -------------------------------------------------

    async fn shredding_takes_only_what_is_still_expired_and_unheld_and_reports_it_in_input_order(store: &dyn Store) {
        let expired = t0() - TimeDelta::days(1);
        let owner = add_contact(store, expired, 1).await;
        let first = add_object(store, &owner, "recording", expired, None).await;
        let unexpired = add_object(store, &owner, "transcript", t0() + micros(1), None).await;
        let second = add_object(store, &owner, "email", t0(), None).await;
        let other = add_contact(store, expired, 2).await;
        let held = add_object(store, &other, "recording", expired, None).await;
        place_hold(store, &[one(&held)], None).await;
        let ghost = ObjectRow { id: ObjectId::new_v7(), ..first.clone() };
        let events_before = all_audit(store).await.len();

        let shreds = [shred(&second, t0()), shred(&unexpired, t0()), shred(&held, t0()), shred(&ghost, t0()), shred(&first, t0())];
        let done = store.shred_objects(&shreds, ShredMode::Expired { now: t0() }).await.unwrap();

        assert_eq!(done, vec![second.id, first.id]);
        let left: Vec<_> = store.objects_for_contact(&owner.id).await.unwrap().into_iter().map(|row| row.id).collect();
        assert_eq!(left, vec![unexpired.id]);
        assert!(store.object_for_contact(&other.id, "recording").await.unwrap().is_some());
        assert_eq!(store.tombstone(first.id.as_uuid()).await.unwrap(), Some(shreds[4].tombstone.clone()));
        assert_eq!(store.tombstone(unexpired.id.as_uuid()).await.unwrap(), None);
        assert_eq!(store.count_tombstones().await.unwrap(), 2);
        let log = all_audit(store).await;
        assert_eq!(log.len(), events_before + 2, "one event per object destroyed");
        assert!(log[events_before..].iter().all(|record| record.event.action == "retention.shred"));
    }

    async fn shredding_again_is_harmless_and_a_forced_replay_keeps_the_first_tombstone(store: &dyn Store) {
        let expired = t0() - TimeDelta::days(1);
        let owner = add_contact(store, expired, 1).await;
        let recording = add_object(store, &owner, "recording", expired, None).await;
        let first = shred(&recording, t0());
        store.shred_objects(std::slice::from_ref(&first), ShredMode::Expired { now: t0() }).await.unwrap();
        let events = all_audit(store).await.len();

        let again = store.shred_objects(&[shred(&recording, t0() + TimeDelta::hours(1))], ShredMode::Expired { now: t0() }).await.unwrap();
        let replay = store.shred_objects(&[shred(&recording, t0() + TimeDelta::hours(2))], ShredMode::Forced).await.unwrap();

        assert!(again.is_empty());
        assert!(replay.is_empty());
        assert_eq!(store.tombstone(recording.id.as_uuid()).await.unwrap(), Some(first.tombstone));
        assert_eq!(all_audit(store).await.len(), events);
    }

    async fn a_forced_shred_takes_held_and_unexpired_objects(store: &dyn Store) {
        let owner = add_contact(store, t0(), 1).await;
        let recording = add_object(store, &owner, "recording", t0() + TimeDelta::days(90), None).await;
        let held = add_object(store, &owner, "transcript", t0() - TimeDelta::days(1), None).await;
        place_hold(store, &[whole(&owner)], None).await;
        let events = all_audit(store).await.len();

        let done = store.shred_objects(&[shred(&held, t0()), shred(&recording, t0())], ShredMode::Forced).await.unwrap();

        assert_eq!(done, vec![held.id, recording.id]);
        assert!(store.objects_for_contact(&owner.id).await.unwrap().is_empty());
        assert_eq!(store.count_tombstones().await.unwrap(), 2);
        assert_eq!(all_audit(store).await.len(), events + 2);
    }

    async fn shredding_nothing_writes_nothing(store: &dyn Store) {
        assert!(store.shred_objects(&[], ShredMode::Forced).await.unwrap().is_empty());
        assert!(store.erase_contacts(&[], ShredMode::Forced).await.unwrap().is_empty());
        assert!(all_audit(store).await.is_empty());
    }

    // --- erasing contacts --------------------------------------------------

    async fn erasing_a_contact_empties_its_document_and_drops_its_index_entries(store: &dyn Store) {
        let expired = t0() - TimeDelta::days(1);
        let erased = add_contact(store, expired, 1).await;
        let neighbour = add_contact(store, expired, 1).await;
        let events = all_audit(store).await.len();
        let order = erasure(&erased, t0());

        let done = store.erase_contacts(std::slice::from_ref(&order), ShredMode::Expired { now: t0() }).await.unwrap();

        assert_eq!(done, vec![erased.id]);
        let row = store.contact(&erased.id).await.unwrap().expect("the bare row stays");
        assert!(row.is_erased());
        assert!(row.document_key.is_empty());
        assert_eq!(ContactRow { sealed_document: Vec::new(), document_key: Vec::new(), ..erased.clone() }, row);
        let found = store.search_contacts(&by_phone(1)).await.unwrap();
        assert_eq!(contact_ids(&found), vec![neighbour.id], "the blind index no longer finds it");
        let tombstone = store.tombstone(erased.id.as_uuid()).await.unwrap().unwrap();
        assert_eq!(tombstone, TombstoneRow { storage_deleted_at: Some(t0()), ..order.tombstone });
        assert_eq!(store.tombstones_for_contact(&erased.id).await.unwrap(), vec![tombstone]);
        assert_eq!(all_audit(store).await.len(), events + 1);
        assert_eq!(expired_contact_ids(&store.expired_contacts(t0(), None, 10).await.unwrap()), vec![neighbour.id]);
    }

    async fn a_purge_batch_queues_index_entries_that_no_query_finds_until_swept(store: &dyn Store) {
        let expired = t0() - TimeDelta::days(1);
        let erased = add_contact(store, expired, 1).await;
        let also_erased = add_contact(store, expired, 2).await;
        let neighbour = add_contact(store, expired, 1).await;
        let orders = [erasure(&erased, t0()), erasure(&also_erased, t0())];

        let done = store.erase_contacts_marking(&orders, ShredMode::Expired { now: t0() }, &[]).await.unwrap();

        assert_eq!(done, vec![erased.id, also_erased.id]);
        // Queued, not deleted: still, nothing that finds contacts by an
        // index entry finds an erased one.
        assert_eq!(contact_ids(&store.search_contacts(&by_phone(1)).await.unwrap()), vec![neighbour.id]);
        assert!(store.search_contacts(&by_phone(2)).await.unwrap().is_empty());
        let bearing = store.contacts_bearing_any(&[entry("phone", 1), entry("phone", 2)], 10).await.unwrap();
        assert_eq!(bearing, vec![neighbour.id]);
        let identifiers = store.contact_identifiers(&[erased.id, also_erased.id, neighbour.id]).await.unwrap();
        assert_eq!(identifiers, vec![(neighbour.id, entry("phone", 1))]);
        // One contact a sweep: both were queued, and the queue empties.
        assert_eq!(store.sweep_erased_index(1).await.unwrap(), 1);
        assert_eq!(store.sweep_erased_index(10).await.unwrap(), 1);
        assert_eq!(store.sweep_erased_index(10).await.unwrap(), 0);
        assert_eq!(contact_ids(&store.search_contacts(&by_phone(1)).await.unwrap()), vec![neighbour.id]);
        // An erasure outside the purge deletes its entries at once.
        store.erase_contacts(&[erasure(&neighbour, t0())], ShredMode::Expired { now: t0() }).await.unwrap();
        assert!(store.search_contacts(&by_phone(1)).await.unwrap().is_empty());
        assert_eq!(store.sweep_erased_index(10).await.unwrap(), 0, "nothing queued");
    }

    async fn an_expired_erasure_needs_every_object_gone_and_nothing_held_or_pending(store: &dyn Store) {
        let expired = t0() - TimeDelta::days(1);
        let with_object = add_contact(store, expired, 1).await;
        let recording = add_object(store, &with_object, "recording", expired, None).await;
        let held = add_contact(store, expired, 2).await;
        place_hold(store, &[whole(&held)], None).await;
        let uploading = add_contact(store, expired, 3).await;
        store.begin_object(&pending(uploading.id, "recording")).await.unwrap();
        let not_due = add_contact(store, t0() + micros(1), 4).await;
        let orders: Vec<Shred> = [&with_object, &held, &uploading, &not_due].into_iter().map(|row| erasure(row, t0())).collect();

        let refused = store.erase_contacts(&orders, ShredMode::Expired { now: t0() }).await.unwrap();
        store.shred_objects(&[shred(&recording, t0())], ShredMode::Expired { now: t0() }).await.unwrap();
        let after_shred = store.erase_contacts(&orders, ShredMode::Expired { now: t0() }).await.unwrap();

        assert!(refused.is_empty());
        assert_eq!(after_shred, vec![with_object.id]);
        for kept in [&held, &uploading, &not_due] {
            assert!(!store.contact(&kept.id).await.unwrap().unwrap().is_erased());
        }
    }

    async fn a_forced_erasure_takes_any_contact_not_yet_erased_once(store: &dyn Store) {
        let owner = add_contact(store, t0() + TimeDelta::days(300), 1).await;
        add_object(store, &owner, "recording", t0() + TimeDelta::days(300), None).await;
        place_hold(store, &[whole(&owner)], None).await;
        let ghost = ContactRow { id: ContactId::new_v7(), ..owner.clone() };

        let first = store.erase_contacts(&[erasure(&owner, t0()), erasure(&ghost, t0()), erasure(&owner, t0())], ShredMode::Forced).await.unwrap();
        let events = all_audit(store).await.len();
        let second = store.erase_contacts(&[erasure(&owner, t0() + TimeDelta::hours(1))], ShredMode::Forced).await.unwrap();

        assert_eq!(first, vec![owner.id]);
        assert!(second.is_empty());
        assert_eq!(all_audit(store).await.len(), events);
        assert_eq!(store.tombstone(owner.id.as_uuid()).await.unwrap().unwrap().deleted_at, t0());
    }

    // --- tombstones --------------------------------------------------------

    async fn unfinished_tombstones_come_oldest_first_until_both_steps_are_marked(store: &dyn Store) {
        let expired = t0() - TimeDelta::days(1);
        let owner = add_contact(store, expired, 1).await;
        let early = add_object(store, &owner, "recording", expired, None).await;
        let late = add_object(store, &owner, "transcript", expired, None).await;
        store.shred_objects(&[shred(&late, t0() + micros(5)), shred(&early, t0())], ShredMode::Forced).await.unwrap();
        store.erase_contacts(&[erasure(&owner, t0() + micros(9))], ShredMode::Forced).await.unwrap();

        let all = store.unfinished_tombstones(10).await.unwrap();
        let ids: Vec<Uuid> = all.iter().map(|row| row.id).collect();
        assert_eq!(ids, vec![*early.id.as_uuid(), *late.id.as_uuid(), *owner.id.as_uuid()]);
        assert_eq!(store.unfinished_tombstones(1).await.unwrap().len(), 1);

        let ledgered = t0() + TimeDelta::minutes(1);
        store.mark_tombstones(&ids, &[TombstoneStep::Ledgered], ledgered).await.unwrap();
        store.mark_tombstones(&ids, &[TombstoneStep::Ledgered], ledgered + TimeDelta::minutes(1)).await.unwrap();
        store.mark_tombstones(&[*early.id.as_uuid()], &[TombstoneStep::StorageDeleted], ledgered).await.unwrap();

        let left: Vec<Uuid> = store.unfinished_tombstones(10).await.unwrap().iter().map(|row| row.id).collect();
        assert_eq!(left, vec![*late.id.as_uuid()], "the contact's storage step is done at birth");
        let early_row = store.tombstone(early.id.as_uuid()).await.unwrap().unwrap();
        assert_eq!((early_row.ledgered_at, early_row.storage_deleted_at), (Some(ledgered), Some(ledgered)), "a later mark does not move the first");
        store.mark_tombstones(&[*late.id.as_uuid()], &[TombstoneStep::StorageDeleted], ledgered).await.unwrap();
        assert!(store.unfinished_tombstones(10).await.unwrap().is_empty());
        assert_eq!(store.count_tombstones().await.unwrap(), 3);

        // Both steps at once, as the purge marks a batch; the first time stays.
        let both = add_object(store, &owner, "waveform", expired, None).await;
        store.shred_objects(&[shred(&both, t0() + micros(11))], ShredMode::Forced).await.unwrap();
        let steps = [TombstoneStep::Ledgered, TombstoneStep::StorageDeleted];
        store.mark_tombstones(&[*both.id.as_uuid()], &steps, ledgered).await.unwrap();
        store.mark_tombstones(&[*both.id.as_uuid()], &steps, ledgered + TimeDelta::minutes(5)).await.unwrap();
        let row = store.tombstone(both.id.as_uuid()).await.unwrap().unwrap();
        assert_eq!((row.ledgered_at, row.storage_deleted_at), (Some(ledgered), Some(ledgered)));
        assert!(store.unfinished_tombstones(10).await.unwrap().is_empty());
    }

    // --- holds -------------------------------------------------------------

    async fn a_hold_reads_back_with_its_targets_counted_once(store: &dyn Store) {
        let first = add_contact(store, t0(), 1).await;
        let second = add_contact(store, t0(), 2).await;
        let recording = add_object(store, &second, "recording", t0(), None).await;
        let hold = HoldRow { expires_at: Some(t0()), ..hold_row(at("2028-06-01T00:00:00Z"), None) };
        let targets = [whole(&first), one(&recording), whole(&first), whole(&second), one(&recording)];

        store.insert_hold(&hold, &targets, &audit("hold.place")).await.unwrap();

        let summary = store.hold(&hold.id).await.unwrap().unwrap();
        assert_eq!(summary.hold, hold);
        assert_eq!(summary.targets, 3);
        let mut expected = vec![whole(&first), whole(&second), one(&recording)];
        expected.sort();
        assert_eq!(store.hold_targets(&hold.id, None, 10).await.unwrap(), expected);
        let page = store.hold_targets(&hold.id, Some(expected[0]), 1).await.unwrap();
        assert_eq!(page, vec![expected[1]]);
        assert_eq!(store.hold_targets(&hold.id, Some(expected[1]), 10).await.unwrap(), vec![expected[2]]);
        assert_eq!(store.holds_for_contact(&second.id).await.unwrap(), vec![hold.clone()]);
        assert_eq!(store.hold(&Uuid::now_v7()).await.unwrap(), None);
        assert_eq!(all_audit(store).await.last().unwrap().event.action, "hold.place");
    }

    async fn a_hold_on_something_missing_is_refused_and_writes_nothing(store: &dyn Store) {
        let owner = add_contact(store, t0(), 1).await;
        let other = add_contact(store, t0(), 2).await;
        let recording = add_object(store, &other, "recording", t0(), None).await;
        let events = all_audit(store).await.len();
        let foreign_object = HoldTarget { contact_id: owner.id, object_id: Some(recording.id) };
        let missing_object = HoldTarget { contact_id: owner.id, object_id: Some(ObjectId::new_v7()) };
        let missing_contact = HoldTarget { contact_id: ContactId::new_v7(), object_id: None };

        for bad in [foreign_object, missing_object, missing_contact] {
            let hold = hold_row(t0(), None);
            let result = store.insert_hold(&hold, &[whole(&owner), bad], &audit("hold.place")).await;
            assert!(matches!(result, Err(Error::NotFound)), "{bad:?}: {result:?}");
            assert_eq!(store.hold(&hold.id).await.unwrap(), None);
        }
        assert!(store.holds(None).await.unwrap().is_empty());
        assert!(store.holds_for_contact(&owner.id).await.unwrap().is_empty());
        assert_eq!(all_audit(store).await.len(), events);
    }

    async fn holds_list_the_active_ones_or_all_by_review_date(store: &dyn Store) {
        let owner = add_contact(store, t0(), 1).await;
        let late = hold_row(at("2028-03-01T00:00:00Z"), None);
        let early = hold_row(at("2028-01-01T00:00:00Z"), None);
        let ended = hold_row(at("2027-12-15T00:00:00Z"), Some(t0()));
        let lifted = hold_row(at("2028-02-01T00:00:00Z"), None);
        for hold in [&late, &early, &ended, &lifted] {
            store.insert_hold(hold, &[whole(&owner)], &audit("hold.place")).await.unwrap();
        }
        let lift = HoldLift { at: t0(), by: UserId::new_v7(), reason: "settled".into() };
        assert!(store.lift_hold(&lifted.id, &lift, &audit("hold.lift")).await.unwrap());

        let active: Vec<Uuid> = store.holds(Some(t0())).await.unwrap().iter().map(|s| s.hold.id).collect();
        let before_end: Vec<Uuid> = store.holds(Some(t0() - micros(1))).await.unwrap().iter().map(|s| s.hold.id).collect();
        let all = store.holds(None).await.unwrap();

        assert_eq!(active, vec![early.id, late.id]);
        assert_eq!(before_end, vec![ended.id, early.id, late.id]);
        let all_ids: Vec<Uuid> = all.iter().map(|s| s.hold.id).collect();
        assert_eq!(all_ids, vec![ended.id, early.id, lifted.id, late.id]);
        let lifted_row = &all[2].hold;
        assert_eq!((lifted_row.lifted_at, lifted_row.lifted_by, lifted_row.lift_reason.as_deref()), (Some(t0()), Some(lift.by), Some("settled")));
        assert!(!lifted_row.is_active(t0()));
    }

    async fn lifting_twice_changes_nothing_and_an_unknown_hold_is_not_found(store: &dyn Store) {
        let owner = add_contact(store, t0(), 1).await;
        let hold = place_hold(store, &[whole(&owner)], None).await;
        let lift = HoldLift { at: t0(), by: UserId::new_v7(), reason: "settled".into() };
        assert!(store.lift_hold(&hold.id, &lift, &audit("hold.lift")).await.unwrap());
        let events = all_audit(store).await.len();

        let again = HoldLift { at: t0() + TimeDelta::days(1), ..lift.clone() };
        assert!(!store.lift_hold(&hold.id, &again, &audit("hold.lift")).await.unwrap());
        assert_eq!(store.hold(&hold.id).await.unwrap().unwrap().hold.lifted_at, Some(t0()));
        assert_eq!(all_audit(store).await.len(), events);
        let unknown = store.lift_hold(&Uuid::now_v7(), &lift, &audit("hold.lift")).await;
        assert!(matches!(unknown, Err(Error::NotFound)), "{unknown:?}");
        let review = store.set_hold_review(&Uuid::now_v7(), t0(), &audit("hold.review")).await;
        assert!(matches!(review, Err(Error::NotFound)), "{review:?}");
        let remind = store.mark_hold_reminded(&Uuid::now_v7(), t0(), &audit("hold.remind")).await;
        assert!(matches!(remind, Err(Error::NotFound)), "{remind:?}");
        assert_eq!(all_audit(store).await.len(), events);
    }

    async fn a_new_review_date_clears_the_reminder(store: &dyn Store) {
        let owner = add_contact(store, t0(), 1).await;
        let hold = place_hold(store, &[whole(&owner)], None).await;
        let events = all_audit(store).await.len();

        store.mark_hold_reminded(&hold.id, t0(), &audit("hold.remind")).await.unwrap();
        assert_eq!(store.hold(&hold.id).await.unwrap().unwrap().hold.reminded_at, Some(t0()));
        store.set_hold_review(&hold.id, at("2029-01-01T00:00:00Z"), &audit("hold.review")).await.unwrap();

        let stored = store.hold(&hold.id).await.unwrap().unwrap().hold;
        assert_eq!((stored.review_by, stored.reminded_at), (at("2029-01-01T00:00:00Z"), None));
        assert_eq!(all_audit(store).await.len(), events + 2);
    }

    // --- deadlines -----------------------------------------------------------

    async fn upcoming_deadlines_are_the_window_by_deadline_with_holds_marked(store: &dyn Store) {
        let first = add_contact(store, t0() + TimeDelta::days(5), 1).await;
        let recording = add_object(store, &first, "recording", t0() + TimeDelta::days(2), None).await;
        let peaks = add_object(store, &first, "waveform", t0() + TimeDelta::days(3), Some(recording.id)).await;
        add_object(store, &first, "transcript", t0(), None).await; // at `from`: outside
        let second = add_contact(store, t0() + TimeDelta::days(10), 2).await; // at `until`: inside
        add_contact(store, t0() + TimeDelta::days(10) + micros(1), 3).await; // after: outside
        let erased = add_contact(store, t0() + TimeDelta::days(1), 4).await;
        store.erase_contacts(&[erasure(&erased, t0())], ShredMode::Forced).await.unwrap();
        place_hold(store, &[one(&recording)], None).await;

        let deadlines = store.upcoming_deadlines(t0(), t0() + TimeDelta::days(10), 10).await.unwrap();

        let seen: Vec<(Uuid, &str, bool)> = deadlines.iter().map(|d| (d.id, d.kind.as_str(), d.held)).collect();
        assert_eq!(seen, vec![
            (*recording.id.as_uuid(), "recording", true),
            (*peaks.id.as_uuid(), "waveform", true),
            (*first.id.as_uuid(), "contact", true),
            (*second.id.as_uuid(), "contact", false),
        ]);
        assert_eq!(deadlines[0].contact_id, first.id);
        assert_eq!(deadlines[3].retain_until, t0() + TimeDelta::days(10));
        assert_eq!(store.upcoming_deadlines(t0(), t0() + TimeDelta::days(10), 2).await.unwrap(), deadlines[..2].to_vec());
    }

    async fn deadlines_only_ever_move_earlier(store: &dyn Store) {
        let owner = add_contact(store, t0(), 1).await;
        let recording = add_object(store, &owner, "recording", t0(), None).await;
        let events = all_audit(store).await.len();
        let changes = [
            DeadlineChange { id: *recording.id.as_uuid(), contact: false, retain_until: t0() - TimeDelta::days(1) },
            DeadlineChange { id: *owner.id.as_uuid(), contact: true, retain_until: t0() + TimeDelta::days(1) },
            DeadlineChange { id: *owner.id.as_uuid(), contact: true, retain_until: t0() },
            DeadlineChange { id: *recording.id.as_uuid(), contact: false, retain_until: t0() - TimeDelta::hours(1) },
            DeadlineChange { id: Uuid::now_v7(), contact: false, retain_until: t0() },
        ];

        let changed = store.shorten_deadlines(&changes, &[audit("retention.policy_change"), audit("retention.policy_change")]).await.unwrap();

        assert_eq!(changed, 1, "a row named twice counts once");
        assert_eq!(store.object_for_contact(&owner.id, "recording").await.unwrap().unwrap().retain_until, t0() - TimeDelta::days(1), "the earliest");
        assert_eq!(store.contact(&owner.id).await.unwrap().unwrap().retain_until, t0());
        assert_eq!(all_audit(store).await.len(), events + 2);
    }
}

/// Whether `object` is held at `now` among `holds` (hold, its targets), by
/// the definition itself.
fn model_held(
    object: &ObjectRow,
    holds: &[(HoldRow, Vec<HoldTarget>)],
    now: DateTime<Utc>,
) -> bool {
    holds.iter().any(|(hold, targets)| {
        hold.is_active(now)
            && targets.iter().any(|target| {
                target.contact_id == object.contact_id
                    && target
                        .object_id
                        .is_none_or(|id| id == object.id || Some(id) == object.source)
            })
    })
}

mod properties {
    //! The purge against a brute-force model: random deadlines, random holds
    //! (some lifted, some ending), random instants.

    use proptest::prelude::*;

    use super::*;

    /// A world: per contact, object deadlines in hours from `t0` (the first
    /// object a recording, the others derived from it); holds as (targets as
    /// (contact index, object index or whole), ends in hours, lifted).
    #[derive(Debug, Clone)]
    struct World {
        contacts: Vec<Vec<i64>>,
        holds: Vec<ModelHold>,
        instants: Vec<i64>,
    }

    fn world() -> impl Strategy<Value = World> {
        let contacts = prop::collection::vec(prop::collection::vec(-6i64..6, 1..4), 1..8);
        let holds = prop::collection::vec(
            (
                prop::collection::vec((0usize..8, prop::option::of(0usize..4)), 1..3),
                prop::option::of(-6i64..6),
                any::<bool>(),
            ),
            0..4,
        );
        let instants = prop::collection::vec(-7i64..7, 1..4);
        (contacts, holds, instants).prop_map(|(contacts, holds, instants)| World {
            contacts,
            holds,
            instants,
        })
    }

    /// A hold's targets (contact index, object index or the whole contact),
    /// its end in hours from `t0`, and whether it is lifted.
    type ModelHold = (Vec<(usize, Option<usize>)>, Option<i64>, bool);

    const KINDS: [&str; 3] = ["recording", "waveform", "transcript"];

    async fn check(store: &dyn Store, world: World) {
        let hour = |n: i64| t0() + TimeDelta::hours(n);
        let mut contacts = Vec::new();
        let mut objects: Vec<Vec<ObjectRow>> = Vec::new();
        for (n, deadlines) in world.contacts.iter().enumerate() {
            let owner = add_contact(store, hour(100), u8::try_from(n).unwrap()).await;
            let mut rows: Vec<ObjectRow> = Vec::new();
            for (k, hours) in deadlines.iter().enumerate() {
                let source = rows.first().map(|first| first.id);
                rows.push(add_object(store, &owner, KINDS[k], hour(*hours), source).await);
            }
            contacts.push(owner);
            objects.push(rows);
        }
        let mut holds = Vec::new();
        for (targets, ends, lifted) in &world.holds {
            let targets: BTreeSet<HoldTarget> = targets
                .iter()
                .filter(|(c, _)| *c < contacts.len())
                .map(|(c, o)| HoldTarget {
                    contact_id: contacts[*c].id,
                    object_id: o.and_then(|o| objects[*c].get(o)).map(|row| row.id),
                })
                .collect();
            let targets: Vec<HoldTarget> = targets.into_iter().collect();
            let mut hold = hold_row(hour(1000), ends.map(hour));
            store
                .insert_hold(&hold, &targets, &audit("hold.place"))
                .await
                .unwrap();
            if *lifted {
                let lift = HoldLift {
                    at: t0(),
                    by: UserId::new_v7(),
                    reason: "done".into(),
                };
                store
                    .lift_hold(&hold.id, &lift, &audit("hold.lift"))
                    .await
                    .unwrap();
                hold.lifted_at = Some(t0());
                hold.lifted_by = Some(lift.by);
                hold.lift_reason = Some(lift.reason);
            }
            holds.push((hold, targets));
        }
        let all: Vec<ObjectRow> = objects.into_iter().flatten().collect();

        // Listing, at every instant, before anything is destroyed; paging
        // two at a time must give the same answer.
        for hours in &world.instants {
            let now = hour(*hours);
            let mut expected: Vec<(DateTime<Utc>, ObjectId)> = all
                .iter()
                .filter(|row| row.retain_until <= now && !model_held(row, &holds, now))
                .map(|row| (row.retain_until, row.id))
                .collect();
            expected.sort();
            let listed: Vec<_> = store
                .expired_objects(now, None, 1000)
                .await
                .unwrap()
                .iter()
                .map(|row| (row.retain_until, row.id))
                .collect();
            assert_eq!(listed, expected, "expired_objects at {now}");
            let mut paged = Vec::new();
            let mut after = None;
            loop {
                let page = store.expired_objects(now, after, 2).await.unwrap();
                let Some(last) = page.last() else { break };
                after = Some((last.retain_until, last.id));
                paged.extend(page.iter().map(|row| (row.retain_until, row.id)));
            }
            assert_eq!(paged, expected, "paged expired_objects at {now}");
        }

        // Purging at the instants in order, asking to shred everything:
        // exactly the expired, unheld objects still there go.
        let mut remaining: Vec<ObjectRow> = all.clone();
        let mut instants = world.instants.clone();
        instants.sort_unstable();
        for hours in instants {
            let now = hour(hours);
            let shreds: Vec<Shred> = remaining.iter().map(|row| shred(row, now)).collect();
            let done: BTreeSet<ObjectId> = store
                .shred_objects(&shreds, ShredMode::Expired { now })
                .await
                .unwrap()
                .into_iter()
                .collect();
            let expected: BTreeSet<ObjectId> = remaining
                .iter()
                .filter(|row| row.retain_until <= now && !model_held(row, &holds, now))
                .map(|row| row.id)
                .collect();
            assert_eq!(done, expected, "shred at {now}");
            remaining.retain(|row| !done.contains(&row.id));
        }
        let mut stored: Vec<ObjectId> = Vec::new();
        for owner in &contacts {
            stored.extend(
                store
                    .objects_for_contact(&owner.id)
                    .await
                    .unwrap()
                    .iter()
                    .map(|row| row.id),
            );
        }
        stored.sort();
        let mut left: Vec<ObjectId> = remaining.iter().map(|row| row.id).collect();
        left.sort();
        assert_eq!(stored, left, "nothing else was touched");
        assert_eq!(
            store.count_tombstones().await.unwrap(),
            (all.len() - remaining.len()) as u64
        );
    }

    /// A runtime for one case.
    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn the_purge_takes_exactly_the_expired_unheld_objects_in_sqlite(world in world()) {
            runtime().block_on(async {
                let test = crate::support::memory().await;
                check(test.dyn_store(), world).await;
            });
        }
    }

    proptest! {
        // Fewer cases: each creates and migrates a database of its own.
        #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

        #[test]
        fn the_purge_takes_exactly_the_expired_unheld_objects_in_postgres(world in world()) {
            runtime().block_on(async {
                let test = crate::support::postgres().await;
                check(test.dyn_store(), world).await;
            });
        }
    }
}

#[tokio::test]
async fn a_hold_takes_a_hundred_thousand_targets_in_one_call() {
    let test = crate::support::memory().await;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) \
         INSERT INTO contacts (id, channel, started_at, agent, created_at, created_by, \
             sealed_document, document_key, retain_until) \
         SELECT randomblob(16), 'call_in', 0, 'aino', 0, randomblob(16), x'00', x'00', 0 FROM n",
    )
    .execute(test.store.pool())
    .await
    .unwrap();
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM contacts")
        .fetch_all(test.store.pool())
        .await
        .unwrap();
    let targets: Vec<HoldTarget> = ids
        .iter()
        .map(|id| HoldTarget {
            contact_id: ContactId::from_uuid(*id),
            object_id: None,
        })
        .collect();
    let hold = hold_row(at("2028-06-01T00:00:00Z"), None);
    let store = test.dyn_store();
    store
        .insert_hold(&hold, &targets, &audit("hold.place"))
        .await
        .unwrap();

    assert_eq!(
        store.hold(&hold.id).await.unwrap().unwrap().targets,
        100_000
    );
    let mut sorted = targets.clone();
    sorted.sort();
    let page = store
        .hold_targets(&hold.id, Some(sorted[49_999]), 3)
        .await
        .unwrap();
    assert_eq!(page, sorted[50_000..50_003].to_vec());
    assert_eq!(
        store
            .holds_for_contact(&sorted[7].contact_id)
            .await
            .unwrap(),
        vec![hold]
    );
}
