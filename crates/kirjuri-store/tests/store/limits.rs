//! What every store promises about restrictions and objections
//! ([`LimitStore`]): a limit written with its request's change binds every
//! contact bearing one of its identifiers — a contact delivered after the
//! limit too — and no other; a lifting binds until its instant (which may
//! lie ahead) and never lifts another request's limit.
//!
//! [`LimitStore`]: kirjuri_store::limits::LimitStore

use chrono::TimeDelta;
use kirjuri_core::ids::{ContactId, UserId};
use kirjuri_store::limits::{LimitChanges, LimitKind, LimitLift, NewSubjectLimit};
use kirjuri_store::requests::{NewRequest, RequestUpdate};
use kirjuri_store::{IndexEntry, ObjectRow, ShredMode, Store};
use uuid::Uuid;

use crate::requests::{event, request};
use crate::retention::{erasure, shred};
use crate::support::{audit, contact, entry, now, object, on_every_backend, pending, sha};

fn limit(kind: LimitKind, purpose: Option<&str>, identifiers: Vec<IndexEntry>) -> NewSubjectLimit {
    NewSubjectLimit {
        id: Uuid::now_v7(),
        kind,
        purpose: purpose.map(str::to_owned),
        created_at: now(),
        created_by: UserId::new_v7(),
        identifiers,
    }
}

/// Stores a request and applies `limits` with one change of it.
async fn with_limits(store: &dyn Store, limits: LimitChanges) -> Uuid {
    let row = request();
    let new = NewRequest {
        row: row.clone(),
        identifiers: Vec::new(),
        event: event("registered"),
        messages: Vec::new(),
    };
    store
        .insert_request(&new, 2026, &audit("request.registered"))
        .await
        .unwrap();
    let mut changed = row.clone();
    changed.version = 2;
    let update = RequestUpdate {
        row: changed,
        expected_version: 1,
        verification: None,
        proven: Vec::new(),
        discard_code: None,
        events: vec![event("executed")],
        messages: Vec::new(),
        limits,
    };
    store
        .update_request(&update, &[audit("request.executed")])
        .await
        .unwrap();
    row.id
}

/// Commits an object of `kind` for the contact.
async fn commit(store: &dyn Store, contact: ContactId, kind: &str, digit: char) -> ObjectRow {
    let upload = pending(contact, kind);
    store.begin_object(&upload).await.unwrap();
    let stored = object(&upload, &sha(digit));
    store
        .commit_object(&stored, &audit("object.create"))
        .await
        .unwrap();
    stored
}

/// Lifts limit `id` at `at` with a change of `request`, the request that
/// made it.
async fn lift(store: &dyn Store, request: Uuid, id: Uuid, at: chrono::DateTime<chrono::Utc>) {
    let row = store.request(&request).await.unwrap().unwrap();
    let mut changed = row.clone();
    changed.version = row.version + 1;
    let update = RequestUpdate {
        row: changed,
        expected_version: row.version,
        verification: None,
        proven: Vec::new(),
        discard_code: None,
        events: vec![event("lifted")],
        messages: Vec::new(),
        limits: LimitChanges {
            new: Vec::new(),
            lift: vec![LimitLift {
                id,
                at,
                by: UserId::new_v7(),
            }],
        },
    };
    store
        .update_request(&update, &[audit("request.lifted")])
        .await
        .unwrap();
}

on_every_backend! {
    async fn a_limit_binds_the_contacts_bearing_its_identifiers_and_no_other(store: &dyn Store) {
        // Arrange: one contact by phone 1, one by email 2, one by phone 3.
        let by_phone = contact("aino", now());
        let by_email = contact("aino", now());
        let stranger = contact("aino", now());
        store.insert_contact(&by_phone, &[entry("phone", 1)], &audit("contact.create")).await.unwrap();
        store.insert_contact(&by_email, &[entry("email", 2)], &audit("contact.create")).await.unwrap();
        store.insert_contact(&stranger, &[entry("phone", 3)], &audit("contact.create")).await.unwrap();
        let ids = [by_phone.id, by_email.id, stranger.id];

        // Act
        let objection = limit(LimitKind::Objection, Some("training"), vec![entry("phone", 1), entry("email", 2)]);
        let request = with_limits(store, LimitChanges { new: vec![objection.clone()], lift: Vec::new() }).await;

        // Assert
        let mut found = store.contact_limits(&ids, now()).await.unwrap();
        found.sort_by_key(|l| l.contact);
        let mut expected = vec![by_phone.id, by_email.id];
        expected.sort();
        assert_eq!(found.iter().map(|l| l.contact).collect::<Vec<_>>(), expected);
        assert!(found.iter().all(|l| l.kind == LimitKind::Objection && l.purpose.as_deref() == Some("training")));
        let stored = store.request_limits(&request).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].id, objection.id);
        assert_eq!(stored[0].lifted_at, None);

        // A contact delivered later by the same phone is bound as well.
        let later = contact("eero", now() + TimeDelta::days(3));
        store.insert_contact(&later, &[entry("phone", 1), entry("name", 9)], &audit("contact.create")).await.unwrap();
        let found = store.contact_limits(&[later.id], now()).await.unwrap();
        assert_eq!(found.len(), 1, "one row per contact and limit, whatever the number of matching entries");
        assert!(store.contact_limits(&[], now()).await.unwrap().is_empty());
    }

    async fn a_lifting_binds_until_its_instant_and_only_its_own_request(store: &dyn Store) {
        // Arrange
        let subject = contact("aino", now());
        store.insert_contact(&subject, &[entry("phone", 4)], &audit("contact.create")).await.unwrap();
        let restriction = limit(LimitKind::Restriction, None, vec![entry("phone", 4)]);
        let request = with_limits(store, LimitChanges { new: vec![restriction.clone()], lift: Vec::new() }).await;
        let lifts_at = now() + TimeDelta::days(7);

        // Act: another request's change cannot lift it; its own can.
        let foreign = LimitLift { id: restriction.id, at: now(), by: UserId::new_v7() };
        with_limits(store, LimitChanges { new: Vec::new(), lift: vec![foreign] }).await;
        let before = store.contact_limits(&[subject.id], now()).await.unwrap();
        let row = store.request(&request).await.unwrap().unwrap();
        let mut changed = row.clone();
        changed.version = row.version + 1;
        let update = RequestUpdate {
            row: changed,
            expected_version: row.version,
            verification: None,
            proven: Vec::new(),
            discard_code: None,
            events: vec![event("lifted")],
            messages: Vec::new(),
            limits: LimitChanges {
                new: Vec::new(),
                lift: vec![LimitLift { id: restriction.id, at: lifts_at, by: UserId::new_v7() }],
            },
        };
        store.update_request(&update, &[audit("request.lifted")]).await.unwrap();

        // Assert
        assert_eq!(before.len(), 1, "another request's lifting is ignored");
        assert_eq!(before[0].kind, LimitKind::Restriction);
        assert_eq!(before[0].purpose, None);
        assert_eq!(store.contact_limits(&[subject.id], lifts_at - TimeDelta::seconds(1)).await.unwrap().len(), 1);
        assert!(store.contact_limits(&[subject.id], lifts_at).await.unwrap().is_empty());
        let stored = store.request_limits(&request).await.unwrap();
        assert_eq!(stored[0].lifted_at, Some(lifts_at));
    }

    async fn a_read_finds_its_contact_the_limits_in_force_and_the_object_asked_for_and_nothing_else(store: &dyn Store) {
        // Arrange: aino's contact (a recording and a waveform; restricted,
        // objected to for training, and an objection to surveys lifted an
        // hour ago) and eero's contact by another phone (a recording).
        let subject = contact("aino", now());
        let others = contact("eero", now());
        store.insert_contact(&subject, &[entry("phone", 21), entry("email", 22)], &audit("contact.create")).await.unwrap();
        store.insert_contact(&others, &[entry("phone", 23)], &audit("contact.create")).await.unwrap();
        let recording = commit(store, subject.id, "recording", 'a').await;
        let waveform = commit(store, subject.id, "waveform", 'b').await;
        let other_recording = commit(store, others.id, "recording", 'c').await;
        let restriction = limit(LimitKind::Restriction, None, vec![entry("phone", 21)]);
        // Bound through both identifiers: still one row.
        let training = limit(LimitKind::Objection, Some("training"), vec![entry("phone", 21), entry("email", 22)]);
        let survey = limit(LimitKind::Objection, Some("survey"), vec![entry("email", 22)]);
        let request = with_limits(store, LimitChanges { new: vec![restriction, training, survey.clone()], lift: Vec::new() }).await;
        lift(store, request, survey.id, now() - TimeDelta::hours(1)).await;

        // Act
        let read = store.contact_for_read(&subject.id, Some("recording"), now()).await.unwrap().unwrap();
        let waveform_read = store.contact_for_read(&subject.id, Some("waveform"), now()).await.unwrap().unwrap();
        let before_lifting = store.contact_for_read(&subject.id, None, now() - TimeDelta::hours(2)).await.unwrap().unwrap();
        let no_transcript = store.contact_for_read(&subject.id, Some("transcript"), now()).await.unwrap().unwrap();
        let other = store.contact_for_read(&others.id, Some("recording"), now()).await.unwrap().unwrap();
        let unknown = store.contact_for_read(&ContactId::new_v7(), Some("recording"), now()).await.unwrap();

        // Assert
        assert_eq!(Some(read.contact.clone()), store.contact(&subject.id).await.unwrap());
        assert_eq!(read.object, Some(recording));
        assert_eq!(waveform_read.object, Some(waveform));
        assert_eq!(no_transcript.object, None, "a kind the contact has not: no object");
        assert_eq!(before_lifting.object, None, "no kind asked: no object");
        let mut limits: Vec<_> = read.limits.iter().map(|l| (l.contact, l.kind, l.purpose.clone())).collect();
        limits.sort_by_key(|l| l.2.clone());
        assert_eq!(limits, [(subject.id, LimitKind::Restriction, None), (subject.id, LimitKind::Objection, Some("training".into()))]);
        let mut by_contact_limits = store.contact_limits(&[subject.id], now()).await.unwrap();
        by_contact_limits.sort_by_key(|l| l.purpose.clone());
        let mut found = read.limits.clone();
        found.sort_by_key(|l| l.purpose.clone());
        assert_eq!(found, by_contact_limits, "the same limits as contact_limits finds");
        assert_eq!(before_lifting.limits.len(), 3, "the lifted objection bound until it was lifted");
        assert_eq!(other.contact.agent, "eero", "another agent's contact is found as his, for the decision to refuse");
        assert_eq!(other.object, Some(other_recording));
        assert!(other.limits.is_empty(), "aino's limits do not bind eero's contact");
        assert_eq!(unknown, None);
    }

    async fn a_read_of_a_shredded_recording_finds_no_object_and_an_erased_contact_no_limits(store: &dyn Store) {
        // Arrange: a restricted contact whose recording is shredded, then
        // its document erased (its index entries go with it).
        let subject = contact("aino", now());
        store.insert_contact(&subject, &[entry("phone", 31)], &audit("contact.create")).await.unwrap();
        let recording = commit(store, subject.id, "recording", 'd').await;
        with_limits(store, LimitChanges { new: vec![limit(LimitKind::Restriction, None, vec![entry("phone", 31)])], lift: Vec::new() }).await;
        store.shred_objects(&[shred(&recording, now())], ShredMode::Forced).await.unwrap();

        // Act
        let shredded = store.contact_for_read(&subject.id, Some("recording"), now()).await.unwrap().unwrap();
        store.erase_contacts(&[erasure(&subject, now())], ShredMode::Forced).await.unwrap();
        let erased = store.contact_for_read(&subject.id, Some("recording"), now()).await.unwrap().unwrap();

        // Assert
        assert_eq!(shredded.object, None, "a shredded recording is gone");
        assert_eq!(shredded.limits.len(), 1, "the restriction still binds what is left");
        assert!(!shredded.contact.is_erased());
        assert!(erased.contact.is_erased(), "an erased contact is found erased (the caller answers with its tombstone)");
        assert_eq!(erased.object, None);
        assert!(erased.limits.is_empty(), "its index entries went with its document");
    }
}
