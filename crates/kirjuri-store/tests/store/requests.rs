//! What every store promises about data-subject requests
//! ([`RequestStore`]): references numbered per year in commit order, a
//! change committed with its timeline and audit events or not at all, a
//! stale version refused, identifiers proven once, and a code's tries
//! taken one statement at a time — twenty parallel tries on every backend
//! get the code's three and no more. A rectification replaces a contact's
//! document and index entries with its history row and timeline entry in
//! one transaction, refuses a stale document, and an erasure takes the
//! history with the contact. A delivery link revokes the older ones, its
//! code's tries are guarded alike, and of twenty parallel uses exactly one
//! marks it used, with its audit events.
//!
//! [`RequestStore`]: kirjuri_store::RequestStore

use chrono::{NaiveDate, TimeDelta};
use kirjuri_core::ids::{ContactId, UserId};
use kirjuri_core::request::{
    Assurance, RequestChannel, RequestState, RequestType, VerificationMethod,
};
use kirjuri_store::requests::{
    CodeRow, ContactHistoryRow, DeliveryLinkRow, IdentifierProof, NewRequest, Rectification,
    RequestEventRow, RequestRow, RequestUpdate, VerificationRow,
};
use kirjuri_store::{
    ContactFilter, Error, NewOutboxMessage, OutboxChannel, SealedSecret, Shred, ShredMode, Store,
    TombstoneRow,
};
use uuid::Uuid;

use crate::support::{all_audit, audit, backends, contact, entry, now, on_every_backend};

pub(crate) fn request() -> RequestRow {
    RequestRow {
        id: Uuid::now_v7(),
        reference: String::new(),
        types: vec![RequestType::Access, RequestType::Erasure],
        channel: RequestChannel::InPerson,
        language: "fi".into(),
        state: RequestState::Received,
        received_at: now(),
        due_date: NaiveDate::from_ymd_opt(2026, 12, 29).unwrap(),
        calendar_version: "fi-2026.1".into(),
        clock: r#"{"pauses":[]}"#.into(),
        assurance_needed: Assurance::Substantial,
        assurance_proven: None,
        objection_purposes: Vec::new(),
        refusal: None,
        details: SealedSecret {
            wrapped_key: vec![0x5A; 60],
            sealed: vec![0xA5; 200],
        },
        version: 1,
        created_at: now(),
        created_by: Some(UserId::new_v7()),
        closed_at: None,
        retain_until: None,
    }
}

pub(crate) fn event(kind: &str) -> RequestEventRow {
    RequestEventRow {
        id: Uuid::now_v7(),
        at: now(),
        actor: None,
        kind: kind.into(),
        detail: serde_json::json!({"state": "received"}),
    }
}

async fn insert(store: &dyn Store, year: i32) -> (RequestRow, String) {
    let row = request();
    let new = NewRequest {
        row: row.clone(),
        identifiers: vec![("phone".into(), vec![1; 32]), ("email".into(), vec![2; 32])],
        event: event("registered"),
        messages: Vec::new(),
    };
    let reference = store
        .insert_request(&new, year, &audit("request.registered"))
        .await
        .unwrap();
    (row, reference)
}

fn code(tries: u32) -> CodeRow {
    CodeRow {
        kind: "phone".into(),
        address_hash: vec![1; 32],
        code_hash: vec![7; 32],
        expires_at: now() + TimeDelta::minutes(15),
        tries_left: tries,
        created_at: now(),
    }
}

on_every_backend! {
    async fn references_count_up_per_year_and_a_request_reads_back_as_written(store: &dyn Store) {
        let (row, first) = insert(store, 2026).await;
        let (_, second) = insert(store, 2026).await;
        let (_, other_year) = insert(store, 2027).await;
        assert_eq!(first, "DSR-2026-000001");
        assert_eq!(second, "DSR-2026-000002");
        assert_eq!(other_year, "DSR-2027-000001");
        let stored = store.request(&row.id).await.unwrap().unwrap();
        assert_eq!(stored, RequestRow { reference: first, ..row.clone() });
        assert_eq!(store.count_requests().await.unwrap(), 3);
        assert_eq!(store.open_requests(10).await.unwrap().len(), 3);
        let identifiers = store.request_identifiers(&row.id).await.unwrap();
        assert_eq!(identifiers.len(), 2);
        assert!(identifiers.iter().all(|i| i.proof.is_none()));
        let events = store.request_events(&row.id).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, "registered");
        assert!(store.request(&Uuid::now_v7()).await.unwrap().is_none());
    }

    async fn a_change_commits_with_its_events_and_a_stale_version_is_refused(store: &dyn Store) {
        let (row, reference) = insert(store, 2026).await;
        let before = all_audit(store).await.len();
        let verifier = UserId::new_v7();
        let proof = IdentifierProof { by: "registrar".into(), basis: Some("in_person_check".into()), at: now() };
        let changed = RequestRow {
            reference,
            state: RequestState::Answered,
            assurance_proven: Some(Assurance::High),
            version: 2,
            closed_at: Some(now()),
            retain_until: Some(now() + TimeDelta::days(3 * 365)),
            ..row.clone()
        };
        let update = RequestUpdate {
            row: changed.clone(),
            expected_version: 1,
            verification: Some(VerificationRow {
                id: Uuid::now_v7(),
                method: VerificationMethod::InPerson,
                assurance: Assurance::High,
                verifier: Some(verifier),
                document_type: Some(kirjuri_core::request::DocumentType::IdCard),
                at: now(),
            }),
            proven: vec![("phone".into(), vec![1; 32], proof.clone())],
            discard_code: None,
            events: vec![event("verified"), event("moved")],
            messages: Vec::new(),
            limits: Default::default(),
        };
        store
            .update_request(&update, &[audit("request.verified"), audit("request.moved")])
            .await
            .unwrap();
        assert_eq!(store.request(&row.id).await.unwrap().unwrap(), changed);
        assert_eq!(all_audit(store).await.len(), before + 2);
        assert_eq!(store.request_events(&row.id).await.unwrap().len(), 3);
        let checks = store.request_verifications(&row.id).await.unwrap();
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].verifier, Some(verifier));
        let proven: Vec<_> = store
            .request_identifiers(&row.id)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|i| i.proof)
            .collect();
        assert_eq!(proven, [proof]);
        assert!(store.open_requests(10).await.unwrap().is_empty());
        // The same change again names a version that is gone: nothing is written.
        assert!(matches!(
            store.update_request(&update, &[audit("request.moved")]).await,
            Err(Error::Conflict(_))
        ));
        assert_eq!(all_audit(store).await.len(), before + 2);
        assert_eq!(store.request_events(&row.id).await.unwrap().len(), 3);
        let missing = RequestUpdate { row: RequestRow { id: Uuid::now_v7(), ..changed }, ..update };
        assert!(matches!(store.update_request(&missing, &[]).await, Err(Error::NotFound)));
    }

    async fn a_note_keeps_the_version_and_a_closed_record_goes_only_when_due(store: &dyn Store) {
        let (row, reference) = insert(store, 2026).await;
        store.put_code(&row.id, &code(3), None, &event("code_sent"), &audit("request.code_sent")).await.unwrap();
        store.note_request(&row.id, &event("reminder"), &[], &audit("request.reminder")).await.unwrap();
        assert_eq!(store.request(&row.id).await.unwrap().unwrap().version, 1);
        assert_eq!(store.request_events(&row.id).await.unwrap().len(), 3);
        assert!(matches!(
            store.note_request(&Uuid::now_v7(), &event("reminder"), &[], &audit("x")).await,
            Err(Error::NotFound)
        ));
        let closed = RequestRow {
            reference: reference.clone(),
            state: RequestState::Withdrawn,
            version: 2,
            closed_at: Some(now()),
            retain_until: Some(now() + TimeDelta::days(1095)),
            ..row.clone()
        };
        let update = RequestUpdate {
            row: closed,
            expected_version: 1,
            verification: None,
            proven: Vec::new(),
            discard_code: None,
            events: vec![event("moved")],
            messages: Vec::new(),
            limits: Default::default(),
        };
        store.update_request(&update, &[audit("request.moved")]).await.unwrap();
        let (open, _) = insert(store, 2026).await;
        let before = all_audit(store).await.len();

        let early = now() + TimeDelta::days(1094);
        assert!(store.expired_requests(early, 10).await.unwrap().is_empty());
        assert!(!store.delete_request(&row.id, early, &audit("request.record_deleted")).await.unwrap());
        assert_eq!(all_audit(store).await.len(), before, "nothing due, nothing audited");

        let due = now() + TimeDelta::days(1095);
        assert_eq!(store.expired_requests(due, 10).await.unwrap(), [(row.id, reference)]);
        assert!(store.delete_request(&row.id, due, &audit("request.record_deleted")).await.unwrap());
        assert!(store.request(&row.id).await.unwrap().is_none());
        assert!(store.request_events(&row.id).await.unwrap().is_empty());
        assert!(store.request_identifiers(&row.id).await.unwrap().is_empty());
        assert!(store.take_code_try(&row.id, "phone", &audit("x")).await.unwrap().is_none());
        assert_eq!(all_audit(store).await.len(), before + 1);
        assert!(!store.delete_request(&open.id, due, &audit("x")).await.unwrap(), "an open request stays");
        assert!(store.request(&open.id).await.unwrap().is_some());
    }

    async fn a_code_gives_its_tries_one_by_one_and_a_new_one_replaces_it(store: &dyn Store) {
        let (row, _) = insert(store, 2026).await;
        store.put_code(&row.id, &code(3), None, &event("code_sent"), &audit("request.code_sent")).await.unwrap();
        let before = all_audit(store).await.len();
        for left in [2, 1, 0] {
            let taken = store.take_code_try(&row.id, "phone", &audit("request.code_tried")).await.unwrap().unwrap();
            assert_eq!(taken.tries_left, left);
            assert_eq!(taken.code_hash, vec![7; 32]);
        }
        assert!(store.take_code_try(&row.id, "phone", &audit("request.code_tried")).await.unwrap().is_none());
        assert_eq!(all_audit(store).await.len(), before + 3, "no try, no event");
        assert!(store.take_code_try(&row.id, "email", &audit("request.code_tried")).await.unwrap().is_none());
        store.put_code(&row.id, &code(3), None, &event("code_sent"), &audit("request.code_sent")).await.unwrap();
        assert!(store.take_code_try(&row.id, "phone", &audit("request.code_tried")).await.unwrap().is_some());
        store.discard_code(&row.id, "phone", &event("code_discarded"), &audit("request.code_discarded")).await.unwrap();
        assert!(store.take_code_try(&row.id, "phone", &audit("request.code_tried")).await.unwrap().is_none());
        assert!(matches!(
            store.put_code(&Uuid::now_v7(), &code(3), None, &event("code_sent"), &audit("x")).await,
            Err(Error::NotFound) | Err(Error::Database(_))
        ));
    }
}

#[tokio::test]
async fn twenty_parallel_tries_get_three_on_every_backend() {
    for backend in backends().await {
        let (row, _) = insert(backend.store.as_ref(), 2026).await;
        backend
            .store
            .put_code(
                &row.id,
                &code(3),
                None,
                &event("code_sent"),
                &audit("request.code_sent"),
            )
            .await
            .unwrap();
        let tries = (0..20).map(|_| {
            let store = backend.store.clone();
            tokio::spawn(async move {
                store
                    .take_code_try(&row.id, "phone", &audit("request.code_tried"))
                    .await
                    .unwrap()
                    .is_some()
            })
        });
        let mut taken = 0;
        for try_ in futures::future::join_all(tries).await {
            if try_.unwrap() {
                taken += 1;
            }
        }
        assert_eq!(taken, 3, "{}", backend.name);
    }
}

/// A rectification of `contact` (whose document is `from`) by `request`,
/// to a document of `byte`s found by phone `phone`.
fn rectification(
    contact: ContactId,
    request: Uuid,
    from: &[u8],
    byte: u8,
    phone: u8,
) -> Rectification {
    Rectification {
        expected_document: from.to_vec(),
        sealed_document: vec![byte; 300],
        document_key: vec![byte; 60],
        index: vec![entry("phone", phone)],
        history: ContactHistoryRow {
            id: Uuid::now_v7(),
            contact_id: contact,
            request_id: request,
            changed_at: now(),
            changed_by: UserId::new_v7(),
            sealed_document: from.to_vec(),
            document_key: vec![0x5A; 60],
            changed_fields: vec!["customer.phone".into(), "customer.name".into()],
        },
        event: event("rectified"),
    }
}

fn by_phone(byte: u8) -> ContactFilter {
    ContactFilter {
        index: vec![entry("phone", byte)],
        limit: 10,
        ..ContactFilter::default()
    }
}

on_every_backend! {
    async fn a_rectification_keeps_the_old_version_refuses_a_stale_one_and_goes_with_the_erasure(store: &dyn Store) {
        let (request, _) = insert(store, 2026).await;
        let row = contact("aino", now());
        store.insert_contact(&row, &[entry("phone", 1)], &audit("contact.create")).await.unwrap();
        let events = all_audit(store).await.len();

        let first = rectification(row.id, request.id, &row.sealed_document, 0xB1, 2);
        store.rectify_contact(&first, &[audit("request.rectified")]).await.unwrap();
        let stale = rectification(row.id, request.id, &row.sealed_document, 0xC1, 3);
        let refused = store.rectify_contact(&stale, &[audit("request.rectified")]).await;

        assert!(matches!(refused, Err(Error::Conflict(_))), "{refused:?}");
        let now_row = store.contact(&row.id).await.unwrap().unwrap();
        assert_eq!(now_row.sealed_document, vec![0xB1; 300]);
        assert_eq!(now_row.document_key, vec![0xB1; 60]);
        assert!(store.search_contacts(&by_phone(1)).await.unwrap().is_empty());
        assert_eq!(store.search_contacts(&by_phone(2)).await.unwrap().len(), 1);
        assert!(store.search_contacts(&by_phone(3)).await.unwrap().is_empty());
        let history = store.contact_history(&row.id).await.unwrap();
        assert_eq!(history, vec![first.history.clone()]);
        let timeline = store.request_events(&request.id).await.unwrap();
        assert_eq!(timeline.last().unwrap().kind, "rectified");
        assert_eq!(all_audit(store).await.len(), events + 1);

        let missing = rectification(ContactId::new_v7(), request.id, &row.sealed_document, 1, 4);
        assert!(matches!(store.rectify_contact(&missing, &[]).await, Err(Error::NotFound)));

        let erasure = Shred {
            tombstone: TombstoneRow {
                id: *row.id.as_uuid(),
                contact_id: row.id,
                kind: "contact".into(),
                rule: "erasure request".into(),
                reason: "erasure_request".into(),
                sha256: None,
                retain_until: row.retain_until,
                deleted_at: now(),
                ledgered_at: None,
                storage_deleted_at: None,
            },
            audit: audit("retention.erase"),
        };
        store.erase_contacts(&[erasure], ShredMode::Forced).await.unwrap();
        assert!(store.contact_history(&row.id).await.unwrap().is_empty());
        assert!(store.search_contacts(&by_phone(2)).await.unwrap().is_empty());
        let after = rectification(row.id, request.id, &[], 0xD1, 5);
        assert!(matches!(store.rectify_contact(&after, &[]).await, Err(Error::NotFound)));
    }
}

fn link(request: Uuid, token: u8) -> DeliveryLinkRow {
    DeliveryLinkRow {
        id: Uuid::now_v7(),
        request_id: request,
        token_hash: vec![token; 32],
        kind: "email".into(),
        address_hash: vec![2; 32],
        expires_at: now() + TimeDelta::days(7),
        created_at: now(),
        created_by: Some(UserId::new_v7()),
        used_at: None,
        revoked_at: None,
        code_hash: None,
        code_expires_at: None,
        code_tries_left: 0,
    }
}

fn letter() -> NewOutboxMessage {
    NewOutboxMessage {
        id: Uuid::now_v7(),
        channel: OutboxChannel::Email,
        kind: "dsr.link".into(),
        sealed: SealedSecret {
            wrapped_key: vec![7; 61],
            sealed: vec![0xC3; 90],
        },
        created_at: now(),
        next_attempt_at: now(),
    }
}

#[tokio::test]
async fn a_delivery_link_revokes_older_ones_guards_its_code_and_is_used_once_on_every_backend() {
    for backend in backends().await {
        let store = backend.store.as_ref();
        let name = backend.name;
        let (row, _) = insert(store, 2026).await;
        let first = link(row.id, 1);
        let sent = event("delivery_link_sent");
        store
            .put_delivery_link(
                &first,
                &letter(),
                &sent,
                &audit("request.delivery_link_sent"),
            )
            .await
            .unwrap();
        let second = DeliveryLinkRow {
            id: Uuid::now_v7(),
            created_at: now() + TimeDelta::seconds(1),
            ..link(row.id, 2)
        };
        store
            .put_delivery_link(
                &second,
                &letter(),
                &event("delivery_link_sent"),
                &audit("request.delivery_link_sent"),
            )
            .await
            .unwrap();
        let stored = store.delivery_link(&[1; 32]).await.unwrap().unwrap();
        assert!(stored.revoked_at.is_some(), "{name}");
        assert!(!stored.is_live(now()), "{name}");
        let live = store.delivery_link(&[2; 32]).await.unwrap().unwrap();
        assert_eq!(live, second, "{name}");
        assert!(store.delivery_link(&[3; 32]).await.unwrap().is_none());

        // A revoked link takes no code; the live one does, with 3 tries.
        let put = |id: Uuid| async move {
            store
                .put_link_code(
                    &id,
                    &code(3),
                    now(),
                    &letter(),
                    &audit("request.download_code_sent"),
                )
                .await
                .unwrap()
        };
        assert!(!put(first.id).await, "{name}");
        assert!(put(second.id).await, "{name}");
        let mut taken = 0;
        while store
            .take_link_code_try(&second.id, &audit("request.download_code_tried"))
            .await
            .unwrap()
            .is_some()
        {
            taken += 1;
        }
        assert_eq!(taken, 3, "{name}");
        store
            .discard_link_code(&second.id, &audit("request.download_code_discarded"))
            .await
            .unwrap();

        // Twenty parallel uses: one marks it used, with its events.
        let released = all_audit(store)
            .await
            .iter()
            .filter(|r| r.event.action == "request.package_released")
            .count();
        let uses = (0..20).map(|_| {
            let store = backend.store.clone();
            let id = second.id;
            tokio::spawn(async move {
                store
                    .use_delivery_link(
                        &id,
                        now() + TimeDelta::minutes(1),
                        &event("package_released"),
                        &[audit("request.package_released"), audit("recording.read")],
                    )
                    .await
                    .unwrap()
            })
        });
        let used = futures::future::join_all(uses)
            .await
            .into_iter()
            .filter(|u| *u.as_ref().unwrap())
            .count();
        assert_eq!(used, 1, "{name}");
        let after = all_audit(store)
            .await
            .iter()
            .filter(|r| r.event.action == "request.package_released")
            .count();
        assert_eq!(after, released + 1, "{name}");
        let stored = store.delivery_link(&[2; 32]).await.unwrap().unwrap();
        assert!(stored.used_at.is_some(), "{name}");
        assert!(
            store
                .take_link_code_try(&second.id, &audit("request.download_code_tried"))
                .await
                .unwrap()
                .is_none()
        );
        // Expired links are not used either.
        let third = DeliveryLinkRow {
            expires_at: now(),
            created_at: now() + TimeDelta::seconds(2),
            ..link(row.id, 3)
        };
        store
            .put_delivery_link(&third, &letter(), &event("delivery_link_sent"), &audit("x"))
            .await
            .unwrap();
        let late = store
            .use_delivery_link(&third.id, now(), &event("package_released"), &[audit("y")])
            .await
            .unwrap();
        assert!(!late, "{name}");
        let timeline = store.request_events(&row.id).await.unwrap();
        assert_eq!(
            timeline
                .iter()
                .filter(|e| e.kind == "package_released")
                .count(),
            1,
            "{name}"
        );
    }
}
