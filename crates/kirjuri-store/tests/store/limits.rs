//! What every store promises about restrictions and objections
//! ([`LimitStore`]): a limit written with its request's change binds every
//! contact bearing one of its identifiers — a contact delivered after the
//! limit too — and no other; a lifting binds until its instant (which may
//! lie ahead) and never lifts another request's limit.
//!
//! [`LimitStore`]: kirjuri_store::limits::LimitStore

use chrono::TimeDelta;
use kirjuri_core::ids::UserId;
use kirjuri_store::limits::{LimitChanges, LimitKind, LimitLift, NewSubjectLimit};
use kirjuri_store::requests::{NewRequest, RequestUpdate};
use kirjuri_store::{IndexEntry, Store};
use uuid::Uuid;

use crate::requests::{event, request};
use crate::support::{audit, contact, entry, now, on_every_backend};

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
}
