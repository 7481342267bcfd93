//! What `kirjuri migrate-store`'s copy ([`kirjuri_store::copy`]) promises
//! at the store level: every table of both migrated schemas is copied or
//! listed, with a reason, as not copied — so a table a new migration adds
//! cannot be left behind silently — and a register holding outbox messages
//! in every state and data-subject requests with their identifiers,
//! checks, codes and timelines copies from SQLite into PostgreSQL bit for
//! bit, pages through composite keys in the same order on both, reads back
//! through the store's own methods, and is refused by a non-empty target.

use std::collections::BTreeSet;

use chrono::{NaiveDate, TimeDelta};
use kirjuri_core::ids::UserId;
use kirjuri_core::request::{
    Assurance, DocumentType, RequestChannel, RequestState, RequestType, VerificationMethod,
};
use kirjuri_store::copy::{
    self, Batch, COPIED_WITH, Export, Import, NOT_COPIED, REQUEST_IDENTIFIERS, Table,
};
use kirjuri_store::limits::{LimitChanges, LimitKind, NewSubjectLimit};
use kirjuri_store::prelude::*;
use kirjuri_store::requests::{
    CodeRow, IdentifierProof, NewRequest, RequestEventRow, RequestRow, RequestUpdate,
    VerificationRow,
};
use kirjuri_store::{
    Error, IndexEntry, NewOutboxMessage, OutboxChannel, OutboxClaim, OutboxState, SealedSecret,
    Settlement,
};
use uuid::Uuid;

use crate::support::{audit, file, now, postgres};

/// The names of the tables the copy knows: copied, copied with another, or
/// left with a reason.
fn known_tables() -> BTreeSet<&'static str> {
    Table::ALL
        .iter()
        .map(|table| table.name())
        .chain(COPIED_WITH.iter().map(|(name, _)| *name))
        .chain(NOT_COPIED.iter().map(|(name, _)| *name))
        .collect()
}

#[tokio::test]
async fn every_table_of_both_schemas_is_copied_or_listed_as_not_copied_with_a_reason() {
    let sqlite = file().await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", sqlite.path().display()))
        .await
        .unwrap();
    let sqlite_tables: BTreeSet<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let pg = postgres().await;
    let pg_pool = sqlx::PgPool::connect(&pg.database.url).await.unwrap();
    let pg_tables: BTreeSet<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&pg_pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let known = known_tables();

    for (schema, tables) in [("SQLite", &sqlite_tables), ("PostgreSQL", &pg_tables)] {
        let unknown: Vec<_> = tables
            .iter()
            .filter(|t| !known.contains(t.as_str()))
            .collect();
        assert!(
            unknown.is_empty(),
            "{schema} tables the copy does not know: {unknown:?} — declare each as a \
             TableSpec in Table::ALL (copy.rs), or add it to NOT_COPIED with the reason"
        );
    }
    for table in Table::ALL {
        assert!(
            sqlite_tables.contains(table.name()) && pg_tables.contains(table.name()),
            "{} is copied but missing from a schema",
            table.name()
        );
    }
    for (name, _) in NOT_COPIED.iter().chain(COPIED_WITH) {
        assert!(
            sqlite_tables.contains(*name) || pg_tables.contains(*name),
            "{name} is listed but in neither schema"
        );
    }
}

fn message(kind: &str, minutes: i64) -> NewOutboxMessage {
    NewOutboxMessage {
        id: Uuid::now_v7(),
        channel: OutboxChannel::Email,
        kind: kind.to_owned(),
        sealed: SealedSecret {
            wrapped_key: vec![7; 61],
            sealed: vec![0xC3; 90],
        },
        created_at: now() + TimeDelta::minutes(minutes),
        next_attempt_at: now() + TimeDelta::minutes(minutes),
    }
}

fn request() -> RequestRow {
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

fn event(kind: &str) -> RequestEventRow {
    RequestEventRow {
        id: Uuid::now_v7(),
        at: now() + TimeDelta::microseconds(7),
        actor: Some(UserId::new_v7()),
        kind: kind.into(),
        detail: serde_json::json!({"state": "received", "months": 2}),
    }
}

async fn insert_request(store: &dyn Store) -> RequestRow {
    let row = request();
    let new = NewRequest {
        row: row.clone(),
        identifiers: vec![("phone".into(), vec![1; 32]), ("email".into(), vec![2; 32])],
        event: event("registered"),
        messages: vec![message("dsr.receipt", 0)],
    };
    let reference = store
        .insert_request(&new, 2026, &audit("request.registered"))
        .await
        .unwrap();
    RequestRow { reference, ..row }
}

/// A register with outbox messages queued, being sent (by a process that
/// is gone), sent and failed, and requests received (a live code, nothing
/// proven), answered (checked in person, one identifier proven) and
/// reminded. Returns the requests as written.
async fn seed(store: &dyn Store) -> Vec<RequestRow> {
    let sent = message("survey.invite", -30);
    let failed = message("survey.invite", -20);
    let in_flight = message("dsr.reminder", -10);
    for m in [&sent, &failed, &in_flight] {
        store.enqueue_message(m).await.unwrap();
    }
    let at = now() - TimeDelta::minutes(5);
    let claimed = store
        .claim_messages("dead-node", at, at + TimeDelta::minutes(5), 3)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    let claim = |id: Uuid| {
        claimed
            .iter()
            .find(|m| m.id == id)
            .map(|m| m.claim.clone())
            .unwrap()
    };
    let settled = store
        .settle_message(&sent.id, &claim(sent.id), &Settlement::Sent { at })
        .await
        .unwrap();
    assert!(settled);
    let given_up = Settlement::Failed {
        at,
        error: "smtp_550".into(),
    };
    assert!(
        store
            .settle_message(&failed.id, &claim(failed.id), &given_up)
            .await
            .unwrap()
    );

    let received = insert_request(store).await;
    let code = CodeRow {
        kind: "phone".into(),
        address_hash: vec![1; 32],
        code_hash: vec![7; 32],
        expires_at: now() + TimeDelta::minutes(15),
        tries_left: 3,
        created_at: now(),
    };
    store
        .put_code(
            &received.id,
            &code,
            None,
            &event("code_sent"),
            &audit("request.code_sent"),
        )
        .await
        .unwrap();

    let open = insert_request(store).await;
    let answered = RequestRow {
        state: RequestState::Answered,
        assurance_proven: Some(Assurance::High),
        version: 2,
        closed_at: Some(now()),
        retain_until: Some(now() + TimeDelta::days(3 * 365)),
        ..open.clone()
    };
    let update = RequestUpdate {
        row: answered.clone(),
        expected_version: 1,
        verification: Some(VerificationRow {
            id: Uuid::now_v7(),
            method: VerificationMethod::InPerson,
            assurance: Assurance::High,
            verifier: Some(UserId::new_v7()),
            document_type: Some(DocumentType::IdCard),
            at: now(),
        }),
        proven: vec![(
            "phone".into(),
            vec![1; 32],
            IdentifierProof {
                by: "registrar".into(),
                basis: Some("in_person_check".into()),
                at: now(),
            },
        )],
        discard_code: None,
        events: vec![event("verified"), event("moved")],
        messages: Vec::new(),
        // An objection, with the two tables it fills.
        limits: LimitChanges {
            new: vec![NewSubjectLimit {
                id: Uuid::now_v7(),
                kind: LimitKind::Objection,
                purpose: Some("training".into()),
                created_at: now(),
                created_by: UserId::new_v7(),
                identifiers: vec![
                    IndexEntry {
                        kind: "phone".into(),
                        hash: vec![1; 32],
                    },
                    IndexEntry {
                        kind: "email".into(),
                        hash: vec![2; 32],
                    },
                ],
            }],
            lift: Vec::new(),
        },
    };
    store
        .update_request(
            &update,
            &[audit("request.verified"), audit("request.moved")],
        )
        .await
        .unwrap();

    let reminded = insert_request(store).await;
    store
        .note_request(
            &reminded.id,
            &event("reminder"),
            &[],
            &audit("request.reminder"),
        )
        .await
        .unwrap();
    vec![received, answered, reminded]
}

#[tokio::test]
async fn outbox_and_requests_copy_from_sqlite_to_postgres_bit_for_bit_and_read_back() {
    // Arrange
    let sqlite = file().await;
    let requests = seed(&sqlite.store).await;
    let pg = postgres().await;
    let source = sqlite.store.begin_export().await.unwrap();

    // Act
    let mut tx = pg
        .store
        .begin_import(&source.log_id().await.unwrap())
        .await
        .unwrap();
    let copied = copy::copy_rows(&source, tx.as_mut(), &mut |_, _| {})
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let comparisons = copy::compare_rows(&source, &pg.store, &mut |_, _| {})
        .await
        .unwrap();

    // Assert: compared row for row, every table equal.
    let rows = |name: &str| {
        copied
            .iter()
            .find(|c| c.table.name() == name)
            .map(|c| c.rows)
            .unwrap()
    };
    assert_eq!(rows("outbox"), 6, "three receipts, sent, failed, in flight");
    assert_eq!(rows("requests"), 3);
    assert_eq!(rows("request_identifiers"), 6);
    assert_eq!(rows("request_verifications"), 1);
    assert_eq!(rows("request_codes"), 1);
    assert_eq!(rows("request_events"), 7);
    assert_eq!(rows("subject_limits"), 1);
    assert_eq!(rows("subject_limit_identifiers"), 2);
    assert_eq!(
        rows("request_rollups"),
        2,
        "the answered request, counted once for each of its two rights"
    );
    for comparison in &comparisons {
        assert!(comparison.is_equal(), "{comparison:?}");
    }

    // Read back through the store, as the application would.
    let target: &dyn Store = &pg.store;
    for written in &requests {
        let source_row = sqlite.store.request(&written.id).await.unwrap().unwrap();
        assert_eq!(source_row, *written);
        assert_eq!(
            target.request(&written.id).await.unwrap().unwrap(),
            source_row
        );
        assert_eq!(
            target.request_events(&written.id).await.unwrap(),
            sqlite.store.request_events(&written.id).await.unwrap()
        );
        assert_eq!(
            target.request_identifiers(&written.id).await.unwrap(),
            sqlite.store.request_identifiers(&written.id).await.unwrap()
        );
        assert_eq!(
            target.request_verifications(&written.id).await.unwrap(),
            sqlite
                .store
                .request_verifications(&written.id)
                .await
                .unwrap()
        );
    }
    let year = (
        chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
    );
    assert_eq!(
        target.request_rollups(year.0, year.1).await.unwrap(),
        sqlite.store.request_rollups(year.0, year.1).await.unwrap()
    );
    assert_eq!(
        target.outbox_messages(10).await.unwrap(),
        sqlite.store.outbox_messages(10).await.unwrap()
    );
    let states: Vec<_> = target
        .outbox_messages(10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.state)
        .collect();
    for state in [
        OutboxState::Queued,
        OutboxState::Sending,
        OutboxState::Sent,
        OutboxState::Failed,
    ] {
        assert!(states.contains(&state), "{state:?} copied");
    }
    // The live code still takes a try on the target.
    let taken = target
        .take_code_try(&requests[0].id, "phone", &audit("request.code_tried"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.tries_left, 2);
    // The dead sender's claim runs out on the target and the message is
    // claimed again, its attempts counted on; the queued receipts too.
    let later = now() + TimeDelta::hours(1);
    let again = target
        .claim_messages("new-node", later, later + TimeDelta::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 4, "three receipts and the one in flight");
    assert!(again.iter().any(|m| m.claim
        == OutboxClaim {
            holder: "new-node".into(),
            attempt: 2
        }));
}

#[tokio::test]
async fn a_declared_table_with_a_composite_key_pages_in_the_same_order_on_both_backends() {
    let sqlite = file().await;
    seed(&sqlite.store).await;
    let pg = postgres().await;
    let source = sqlite.store.begin_export().await.unwrap();
    let mut tx = pg
        .store
        .begin_import(&source.log_id().await.unwrap())
        .await
        .unwrap();
    copy::copy_rows(&source, tx.as_mut(), &mut |_, _| {})
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let table = Table::Rows(&REQUEST_IDENTIFIERS);

    for export in [&source as &dyn Export, &pg.store] {
        let mut pages = Vec::new();
        let mut after = None;
        loop {
            let page = export.export(table, after, 4).await.unwrap();
            let Batch::Rows(_, rows) = &page else {
                panic!("rows")
            };
            pages.extend(rows.clone());
            if page.len() < 4 {
                break;
            }
            after = page.next_cursor();
        }
        let whole = export.export(table, None, 100).await.unwrap();
        assert_eq!(Batch::Rows(&REQUEST_IDENTIFIERS, pages), whole);
        assert_eq!(whole.len(), 6);
    }
}

#[tokio::test]
async fn a_target_holding_only_an_outbox_message_is_refused() {
    let pg = postgres().await;
    pg.store
        .enqueue_message(&message("survey.invite", 0))
        .await
        .unwrap();

    let refused = pg.store.begin_import("kirjuri-test-log").await;

    assert!(matches!(refused, Err(Error::Conflict(_))));
    let occupied = copy::occupied_tables(&pg.store).await.unwrap();
    assert_eq!(occupied.len(), 1);
    assert_eq!(occupied[0].table.name(), "outbox");
}
