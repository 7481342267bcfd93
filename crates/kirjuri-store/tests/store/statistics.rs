//! What every store promises about the statistics' roll-ups
//! ([`StatisticsStore`]): a stored contact is counted once, on its Helsinki
//! day, in its channel, service and handling-time bucket; a retried
//! delivery (the same external id) counts nothing; erasing the contact
//! leaves the count; rows added in bulk sum into existing ones.
//!
//! [`StatisticsStore`]: kirjuri_store::statistics::StatisticsStore

use chrono::{NaiveDate, TimeDelta};
use kirjuri_store::statistics::{RollupGrouping, RollupRow};
use kirjuri_store::{ContactRow, InsertOutcome, ShredMode, Store};

use crate::retention::erasure;
use crate::support::{at, audit, contact, contact_with_external_id, on_every_backend};

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
}
