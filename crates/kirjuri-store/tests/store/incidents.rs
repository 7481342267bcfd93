//! The breach register on every backend: an incident and its first entry
//! stored with their audit event, updates appended in place order (parallel
//! ones each get their own place), nothing updated or deleted in place
//! (the triggers refuse), and the impact query's two reads — the audit
//! log's successful reads in a window, by an account and naming given ids,
//! and a set of contacts' blind-index entries.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use kirjuri_core::ids::{ContactId, UserId};
use kirjuri_store::incidents::{ImpactFilter, IncidentRow, IncidentUpdateRow};
use kirjuri_store::{NewAuditEvent, SealedSecret, Store};
use serde_json::json;
use uuid::Uuid;

use crate::support::{all_audit, at, audit, contact, entry, now, on_every_backend};

fn incident() -> IncidentRow {
    IncidentRow {
        id: Uuid::now_v7(),
        detected_at: now() - TimeDelta::hours(3),
        aware_at: now() - TimeDelta::hours(2),
        created_at: now(),
        created_by: UserId::new_v7(),
    }
}

fn update(incident: &IncidentRow, byte: u8) -> IncidentUpdateRow {
    IncidentUpdateRow {
        id: Uuid::now_v7(),
        incident_id: incident.id,
        n: 0,
        at: now(),
        by_user: UserId::new_v7(),
        facts: json!({"notify_authority": true}).to_string(),
        text: SealedSecret {
            wrapped_key: vec![byte; 40],
            sealed: vec![byte; 100],
        },
    }
}

fn read(
    actor: UserId,
    action: &str,
    object: &str,
    details: serde_json::Value,
    at: DateTime<Utc>,
) -> NewAuditEvent {
    NewAuditEvent {
        at,
        actor: Some(actor),
        action: action.into(),
        object: Some(object.into()),
        purpose: Some("quality_assurance".into()),
        outcome: "success".into(),
        details,
    }
}

on_every_backend! {
    async fn an_incident_keeps_its_entries_in_order_and_never_changes_in_place(store: &dyn Store) {
        let row = incident();
        let first = update(&row, 1);
        store.insert_incident(&row, &first, &audit("incident.recorded")).await.unwrap();
        let second = update(&row, 2);
        let n = store.append_incident_update(&second, &audit("incident.updated")).await.unwrap();
        assert_eq!(n, 2);
        assert_eq!(all_audit(store).await.len(), 2, "one event per entry");

        assert_eq!(store.incident(&row.id).await.unwrap(), Some(row.clone()));
        assert_eq!(store.incident(&Uuid::now_v7()).await.unwrap(), None);
        let updates = store.incident_updates(&[row.id]).await.unwrap();
        assert_eq!(updates.len(), 2);
        assert_eq!((updates[0].n, updates[1].n), (1, 2));
        assert_eq!(updates[0].text, first.text);
        assert_eq!(updates[1], IncidentUpdateRow { n: 2, ..second });

        let older = IncidentRow {
            id: Uuid::now_v7(),
            detected_at: row.detected_at - TimeDelta::days(1),
            aware_at: row.aware_at - TimeDelta::days(1),
            ..row.clone()
        };
        store.insert_incident(&older, &update(&older, 3), &audit("incident.recorded")).await.unwrap();
        let listed: Vec<Uuid> = store.incidents(10).await.unwrap().iter().map(|i| i.id).collect();
        assert_eq!(listed, [row.id, older.id], "the latest awareness first");
        assert_eq!(store.incidents(1).await.unwrap().len(), 1);
    }

    async fn an_update_of_no_incident_stores_nothing(store: &dyn Store) {
        let ghost = incident();
        assert!(store.append_incident_update(&update(&ghost, 1), &audit("incident.updated")).await.is_err());
        assert!(all_audit(store).await.is_empty(), "no event for a refused write");
        assert!(store.incident_updates(&[ghost.id]).await.unwrap().is_empty());
    }

    async fn awareness_before_detection_is_refused_by_the_schema(store: &dyn Store) {
        let row = IncidentRow { aware_at: now() - TimeDelta::hours(5), ..incident() };
        assert!(store.insert_incident(&row, &update(&row, 1), &audit("incident.recorded")).await.is_err());
        assert_eq!(store.incident(&row.id).await.unwrap(), None);
        assert!(all_audit(store).await.is_empty());
    }

    async fn the_impact_read_selects_successful_reads_in_the_window_by_actor_and_ids(store: &dyn Store) {
        let (aino, pekka) = (UserId::new_v7(), UserId::new_v7());
        let (a, b, c) = (ContactId::new_v7(), ContactId::new_v7(), ContactId::new_v7());
        let recording = Uuid::now_v7();
        let t = at("2026-11-20T10:00:00Z");
        let events = [
            read(aino, "contact.viewed", &a.to_string(), json!({}), t),
            read(aino, "recording.read", &recording.to_string(), json!({"contact": b}), t + TimeDelta::minutes(1)),
            read(aino, "contact.search", "", json!({"results": [c, a]}), t + TimeDelta::minutes(2)),
            read(pekka, "contact.viewed", &c.to_string(), json!({}), t + TimeDelta::minutes(3)),
            read(aino, "contact.viewed", &c.to_string(), json!({}), t + TimeDelta::hours(5)),
            NewAuditEvent { outcome: "denied".into(), ..read(aino, "contact.viewed", &b.to_string(), json!({}), t) },
            read(aino, "contact.created", &b.to_string(), json!({}), t),
        ];
        store.append_audit_batch(&events).await.unwrap();
        let filter = ImpactFilter {
            from: t,
            to: t + TimeDelta::hours(1),
            actor: Some(aino),
            refs: Vec::new(),
            actions: vec!["contact.viewed", "recording.read", "contact.search"],
            after_seq: 0,
            limit: 100,
        };
        let seqs = |records: Vec<kirjuri_store::AuditRecord>| -> Vec<i64> { records.iter().map(|r| r.seq).collect() };
        assert_eq!(seqs(store.impact_events(&filter).await.unwrap()), [1, 2, 3]);
        let by_ids = ImpactFilter { actor: None, refs: vec![b.to_string(), c.to_string()], ..filter.clone() };
        assert_eq!(seqs(store.impact_events(&by_ids).await.unwrap()), [2, 3, 4]);
        let paged = ImpactFilter { after_seq: 1, limit: 1, ..filter.clone() };
        assert_eq!(seqs(store.impact_events(&paged).await.unwrap()), [2]);
        let none = ImpactFilter { actions: Vec::new(), ..filter };
        assert!(store.impact_events(&none).await.unwrap().is_empty());
    }

    async fn a_contacts_identifiers_are_read_back_by_contact(store: &dyn Store) {
        let one = contact("aino", now());
        let two = contact("aino", now());
        store.insert_contact(&one, &[entry("phone", 1), entry("email", 2)], &audit("contact.created")).await.unwrap();
        store.insert_contact(&two, &[entry("phone", 1)], &audit("contact.created")).await.unwrap();
        let found = store.contact_identifiers(&[one.id, two.id]).await.unwrap();
        assert_eq!(found.len(), 3);
        assert_eq!(found.iter().filter(|(id, _)| *id == one.id).count(), 2);
        assert!(found.contains(&(two.id, entry("phone", 1))));
        assert!(store.contact_identifiers(&[]).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn parallel_updates_each_get_their_own_place() {
    for backend in crate::support::backends().await {
        let store: Arc<dyn Store> = Arc::clone(&backend.store);
        let row = incident();
        store
            .insert_incident(&row, &update(&row, 1), &audit("incident.recorded"))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for byte in 2..10 {
            let store = Arc::clone(&store);
            let row = row.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .append_incident_update(&update(&row, byte), &audit("incident.updated"))
                    .await
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let places: Vec<i64> = store
            .incident_updates(&[row.id])
            .await
            .unwrap()
            .iter()
            .map(|u| u.n)
            .collect();
        assert_eq!(places, (1..10).collect::<Vec<_>>());
    }
}

/// The statements no entry of the register survives.
const CHANGES: [&str; 4] = [
    "UPDATE incidents SET aware_at = detected_at",
    "DELETE FROM incidents",
    "UPDATE incident_updates SET facts = '{}'",
    "DELETE FROM incident_updates",
];

#[tokio::test]
async fn the_register_refuses_update_and_delete_on_sqlite_and_postgres() {
    for test in [crate::support::memory().await, crate::support::file().await] {
        let row = incident();
        let store = test.dyn_store();
        store
            .insert_incident(&row, &update(&row, 1), &audit("incident.recorded"))
            .await
            .unwrap();
        for sql in CHANGES {
            let err = sqlx::query(sql)
                .execute(test.store.pool())
                .await
                .unwrap_err();
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
        assert_eq!(store.incident(&row.id).await.unwrap(), Some(row.clone()));
        assert_eq!(store.incident_updates(&[row.id]).await.unwrap().len(), 1);
    }
    let test = crate::support::postgres().await;
    let row = incident();
    let store = test.dyn_store();
    store
        .insert_incident(&row, &update(&row, 1), &audit("incident.recorded"))
        .await
        .unwrap();
    for sql in CHANGES
        .into_iter()
        .chain(["TRUNCATE incident_updates", "TRUNCATE incidents CASCADE"])
    {
        let err = sqlx::query(sql)
            .execute(test.store.pool())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(store.incident(&row.id).await.unwrap(), Some(row));
}
