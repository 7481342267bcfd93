//! What every store promises about the statistics' roll-ups
//! ([`StatisticsStore`]): a stored contact is counted once, on its Helsinki
//! day, in its channel, service and handling-time bucket; a retried
//! delivery (the same external id) counts nothing; erasing the contact
//! leaves the count; rows added in bulk sum into existing ones. A request
//! is counted once for each right it asks for, on the Helsinki day the
//! change that closes it commits, on time or late by its due date, and
//! not again by a later change; deleting its record leaves the count. An
//! approved disclosure is counted by its recipient's kind (never its
//! name), a refused one not at all, and of parallel decisions only the
//! winner counts.
//!
//! [`StatisticsStore`]: kirjuri_store::statistics::StatisticsStore

use chrono::{NaiveDate, TimeDelta};
use futures::future::join_all;
use kirjuri_core::ids::UserId;
use kirjuri_core::request::{RequestState, RequestType};
use kirjuri_store::disclosures::{APPROVED, Decided, REFUSED};
use kirjuri_store::requests::{NewRequest, RequestRow, RequestUpdate};
use kirjuri_store::statistics::{DisclosureRollupRow, RequestRollupRow, RollupGrouping, RollupRow};
use kirjuri_store::{ContactRow, InsertOutcome, ShredMode, Store};

use crate::disclosures::{decision, disclosure, recipient};
use crate::requests::{event, request};
use crate::retention::erasure;
use crate::support::{at, audit, contact, contact_with_external_id, now, on_every_backend};

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn row(d: &str, channel: &str, service: &str, handling: &str, contacts: u64) -> RollupRow {
    RollupRow {
        day: day(d),
        channel: channel.into(),
        service: service.into(),
        handling: handling.into(),
        contacts,
    }
}

async fn deliver(store: &dyn Store, contact: &ContactRow) -> InsertOutcome {
    store
        .insert_contact(contact, &[], &audit("contact.created"))
        .await
        .unwrap()
}

on_every_backend! {
    async fn a_contact_is_counted_once_on_its_helsinki_day_and_outlives_its_erasure(store: &dyn Store) {
        // Arrange: 23:30 UTC on 31 March is 1 April in Helsinki (UTC+3).
        let late = contact("aino", at("2026-03-31T21:30:00Z"));
        let unended = ContactRow { ended_at: None, service: None, ..contact("aino", at("2026-03-31T08:00:00Z")) };
        let retried = contact_with_external_id("pbx-1");

        // Act
        deliver(store, &late).await;
        deliver(store, &unended).await;
        assert_eq!(deliver(store, &retried).await, InsertOutcome::Created);
        let again = ContactRow { id: kirjuri_core::ids::ContactId::new_v7(), ..retried.clone() };
        assert!(matches!(deliver(store, &again).await, InsertOutcome::Existing(_)));
        store
            .erase_contacts(&[erasure(&late, late.retain_until + TimeDelta::days(1))], ShredMode::Forced)
            .await
            .unwrap();

        // Assert
        let rows = store.contact_rollups(day("2026-03-01"), day("2026-12-31")).await.unwrap();
        assert_eq!(
            rows,
            vec![
                row("2026-03-31", "call_in", "", "unknown", 1),
                row("2026-04-01", "call_in", "water-billing", "1to5m", 1),
                row("2026-11-29", "call_in", "water-billing", "1to5m", 1),
            ]
        );
        let april = store.contact_rollups(day("2026-04-01"), day("2026-04-30")).await.unwrap();
        assert_eq!(april.len(), 1, "the window's ends are inclusive days");
    }

    async fn rows_added_in_bulk_sum_into_existing_ones(store: &dyn Store) {
        store.add_contact_rollups(&[row("2026-01-05", "chat", "a", "lt1m", 3)]).await.unwrap();
        store
            .add_contact_rollups(&[row("2026-01-05", "chat", "a", "lt1m", 4), row("2026-01-06", "chat", "a", "lt1m", 1)])
            .await
            .unwrap();

        let rows = store.contact_rollups(day("2026-01-01"), day("2026-01-31")).await.unwrap();
        assert_eq!(rows, vec![row("2026-01-05", "chat", "a", "lt1m", 7), row("2026-01-06", "chat", "a", "lt1m", 1)]);
        let by_channel = RollupGrouping { day: false, channel: true, service: false, handling: false };
        let summed = store.grouped_contact_rollups(day("2026-01-01"), day("2026-01-31"), by_channel).await.unwrap();
        assert_eq!(summed, vec![row("2026-01-05", "chat", "", "", 8)], "summed in the database");
        let empty = store.grouped_contact_rollups(day("2027-01-01"), day("2027-01-31"), by_channel).await.unwrap();
        assert!(empty.is_empty());
    }

    async fn a_closed_request_is_counted_once_per_right_on_time_or_late_and_outlives_its_record(store: &dyn Store) {
        // Arrange: one request closed before its due date, one after (the
        // fixture's `now()` is 29 November 2026, 14:00 in Helsinki).
        let on_time = RequestRow { due_date: day("2026-11-30"), ..request() };
        let late = RequestRow {
            types: vec![RequestType::Objection],
            due_date: day("2026-11-28"),
            ..request()
        };
        let mut closed = Vec::new();
        for (row, state) in [(&on_time, RequestState::Answered), (&late, RequestState::Refused)] {
            let new = NewRequest { row: row.clone(), identifiers: Vec::new(), event: event("registered"), messages: Vec::new() };
            let reference = store.insert_request(&new, 2026, &audit("request.registered")).await.unwrap();
            let done = RequestRow {
                reference,
                state,
                version: 2,
                closed_at: Some(now()),
                retain_until: Some(now() + TimeDelta::days(1095)),
                ..row.clone()
            };
            closed.push(done);
        }
        let update = |row: &RequestRow, expected_version: u64| RequestUpdate {
            row: row.clone(),
            expected_version,
            verification: None,
            proven: Vec::new(),
            discard_code: None,
            events: vec![event("moved")],
            messages: Vec::new(),
            limits: Default::default(),
        };

        // Act: close both; change the closed one again (a note on a
        // closed request is a new version, not a new closing); a stale
        // change fails and counts nothing; then delete the record.
        for row in &closed {
            store.update_request(&update(row, 1), &[audit("request.moved")]).await.unwrap();
        }
        let again = RequestRow { version: 3, ..closed[0].clone() };
        store.update_request(&update(&again, 2), &[audit("request.moved")]).await.unwrap();
        let stale = RequestRow { version: 4, ..closed[1].clone() };
        assert!(store.update_request(&update(&stale, 1), &[audit("request.moved")]).await.is_err());
        let due = now() + TimeDelta::days(1095);
        assert!(store.delete_request(&closed[0].id, due, &audit("request.record_deleted")).await.unwrap());

        // Assert
        let rows = store.request_rollups(day("2026-11-01"), day("2026-11-30")).await.unwrap();
        let counted = |request_type: &str, outcome: &str, timeliness: &str| RequestRollupRow {
            day: day("2026-11-29"),
            request_type: request_type.into(),
            outcome: outcome.into(),
            timeliness: timeliness.into(),
            requests: 1,
        };
        assert_eq!(
            rows,
            vec![
                counted("access", "answered", "on_time"),
                counted("erasure", "answered", "on_time"),
                counted("objection", "refused", "late"),
            ]
        );
        assert!(store.request_rollups(day("2026-12-01"), day("2026-12-31")).await.unwrap().is_empty());
    }

    async fn an_approved_disclosure_is_counted_by_recipient_kind_once(store: &dyn Store) {
        // Arrange
        let police = recipient(store, "Poliisilaitos").await;
        let approved = disclosure(police, UserId::new_v7(), 3);
        let refused = disclosure(police, UserId::new_v7(), 2);
        let raced = disclosure(police, UserId::new_v7(), 1);
        for row in [&approved, &refused, &raced] {
            store.insert_disclosure(row, &[kirjuri_core::ids::ContactId::new_v7()], &audit("disclosure.requested")).await.unwrap();
        }

        // Act
        let done = store.decide_disclosure(&approved.id, &decision(APPROVED, UserId::new_v7()), &audit("disclosure.approved")).await.unwrap();
        store.decide_disclosure(&refused.id, &decision(REFUSED, UserId::new_v7()), &audit("disclosure.refused")).await.unwrap();
        let deciders: Vec<UserId> = (0..6).map(|_| UserId::new_v7()).collect();
        let decisions: Vec<_> = deciders.iter().map(|by| decision(APPROVED, *by)).collect();
        let event = audit("disclosure.approved");
        let raced_results = join_all(decisions.iter().map(|d| store.decide_disclosure(&raced.id, d, &event))).await;

        // Assert
        assert_eq!(done, Decided::Done);
        assert_eq!(raced_results.iter().filter(|r| *r.as_ref().unwrap() == Decided::Done).count(), 1);
        let rows = store.disclosure_rollups(day("2026-11-01"), day("2026-11-30")).await.unwrap();
        assert_eq!(
            rows,
            vec![DisclosureRollupRow { day: day("2026-11-29"), recipient_kind: "police".into(), disclosures: 2 }]
        );
    }
}

/// A register from before the roll-ups: a schema migrated up to (not
/// including) `before` in `backend`'s migrations, as an earlier release
/// left it — the migrations copied to a folder of their own, so the
/// store's migrator later finds them applied with the same checksums.
async fn migrator_before(
    backend: &str,
    before: u32,
) -> (sqlx::migrate::Migrator, tempfile::TempDir) {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let version: u32 = name[..4].parse().unwrap();
        if version < before {
            std::fs::copy(&path, dir.path().join(&name)).unwrap();
        }
    }
    (
        sqlx::migrate::Migrator::new(dir.path().to_path_buf())
            .await
            .unwrap(),
        dir,
    )
}

/// The contacts an earlier release stored (never counted): two in one
/// bucket of 1 April (Helsinki), one without service or end on 31 March.
fn earlier_contacts() -> Vec<ContactRow> {
    vec![
        contact("aino", at("2026-03-31T21:30:00Z")),
        contact("bertta", at("2026-04-01T06:00:00Z")),
        ContactRow {
            ended_at: None,
            service: None,
            ..contact("aino", at("2026-03-31T08:00:00Z"))
        },
    ]
}

/// What the earlier contacts and one contact stored after the upgrade
/// (1 April, the same bucket as two of them) add up to.
fn expected_after_backfill() -> Vec<RollupRow> {
    vec![
        row("2026-03-31", "call_in", "", "unknown", 1),
        row("2026-04-01", "call_in", "water-billing", "1to5m", 3),
    ]
}

/// What every backend must do with the earlier contacts once upgraded:
/// they wait in the queue, uncounted; a contact stored now is counted at
/// intake and never queued; the backfill counts each queued contact once,
/// in batches, also when several run at once; a second run changes nothing.
async fn earlier_contacts_are_counted_once(store: &dyn Store) {
    let april = || store.contact_rollups(day("2026-03-01"), day("2026-04-30"));
    assert_eq!(store.contact_rollup_backlog().await.unwrap(), 3);
    assert!(
        april().await.unwrap().is_empty(),
        "nothing counted by the upgrade itself"
    );
    deliver(store, &contact("sanna", at("2026-04-01T07:00:00Z"))).await;
    assert_eq!(
        store.contact_rollup_backlog().await.unwrap(),
        3,
        "intake never queues"
    );

    // Act: four at once (on PostgreSQL, four connections), one contact a
    // batch, then until the queue is empty.
    let racing = futures::future::join_all((0..4).map(|_| store.backfill_contact_rollups(1))).await;
    let mut counted: u64 = racing.into_iter().map(Result::unwrap).sum();
    loop {
        let n = store.backfill_contact_rollups(2).await.unwrap();
        if n == 0 {
            break;
        }
        counted += n;
    }
    let once = april().await.unwrap();
    let again = store.backfill_contact_rollups(1000).await.unwrap();

    // Assert
    assert_eq!(counted, 3, "each queued contact taken once");
    assert_eq!(once, expected_after_backfill());
    assert_eq!(again, 0);
    assert_eq!(april().await.unwrap(), once, "a second run changes nothing");
    assert_eq!(store.contact_rollup_backlog().await.unwrap(), 0);
}

#[tokio::test]
async fn sqlite_contacts_stored_before_the_rollups_are_counted_once_after_the_upgrade() {
    // Arrange: a register at the schema before 0020 with three contacts.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kirjuri.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let (old, _migrations) = migrator_before("sqlite", 20).await;
    old.run(&pool).await.unwrap();
    for c in earlier_contacts() {
        sqlx::query(
            "INSERT INTO contacts (id, channel, started_at, ended_at, agent, service, created_at, \
                 created_by, sealed_document, document_key, retain_until) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, x'00', x'00', ?)",
        )
        .bind(c.id.as_uuid().as_bytes().to_vec())
        .bind(&c.channel)
        .bind(c.started_at.timestamp_micros())
        .bind(c.ended_at.map(|t| t.timestamp_micros()))
        .bind(&c.agent)
        .bind(&c.service)
        .bind(c.created_at.timestamp_micros())
        .bind(c.created_by.as_uuid().as_bytes().to_vec())
        .bind(c.retain_until.timestamp_micros())
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    // Act: this release opens it (0020 … 0025 run now).
    let store = kirjuri_store::SqliteStore::open(&path).await.unwrap();

    // Assert
    earlier_contacts_are_counted_once(&store).await;
}

#[tokio::test]
async fn postgres_contacts_stored_before_the_rollups_are_counted_once_after_the_upgrade() {
    // Arrange: a register at the schema before 0017 with three contacts.
    let database = crate::support::TestDatabase::create().await;
    let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
    let (old, _migrations) = migrator_before("postgres", 17).await;
    old.run(&pool).await.unwrap();
    for c in earlier_contacts() {
        sqlx::query(
            "INSERT INTO contacts (id, channel, started_at, ended_at, agent, service, created_at, \
                 created_by, sealed_document, document_key, retain_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '\\x00', '\\x00', $9)",
        )
        .bind(*c.id.as_uuid())
        .bind(&c.channel)
        .bind(c.started_at)
        .bind(c.ended_at)
        .bind(&c.agent)
        .bind(&c.service)
        .bind(c.created_at)
        .bind(*c.created_by.as_uuid())
        .bind(c.retain_until)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    // Act
    let store = kirjuri_store::PostgresStore::open(&database.url)
        .await
        .unwrap();

    // Assert
    earlier_contacts_are_counted_once(&store).await;
}

on_every_backend! {
    async fn a_register_made_after_the_rollups_has_nothing_to_backfill(store: &dyn Store) {
        deliver(store, &contact("aino", at("2026-04-01T06:00:00Z"))).await;

        assert_eq!(store.contact_rollup_backlog().await.unwrap(), 0);
        assert_eq!(store.backfill_contact_rollups(1000).await.unwrap(), 0);
        let rows = store.contact_rollups(day("2026-04-01"), day("2026-04-01")).await.unwrap();
        assert_eq!(rows, vec![row("2026-04-01", "call_in", "water-billing", "1to5m", 1)]);
    }
}
