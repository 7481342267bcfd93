//! The purge (RET-3) against a real data folder — SQLite, key file, object
//! files, erasure ledger — with the clock injected (`FixedClock`), so
//! deadlines are crossed by setting the time, never by sleeping.
//!
//! What "gone" means throughout: the object's row (and with it its wrapped
//! data key) is gone, its file is deleted, a tombstone with its sha256 is
//! left and ledgered, and reading the recording answers "gone".
//! Not here: the command line and kill -9 (the black-box tests in
//! `crates/kirjuri/tests/api/purge.rs`).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test binary: a failed expectation is a failed test"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use bytes::Bytes;
use chrono::{DateTime, Duration, FixedOffset, Utc};
use kirjuri_app::audit::to_row;
use kirjuri_app::purge::{
    ExclusiveRunError, LEASE_JOB, Pacer, PurgeItem, PurgeLease, Purger, run_exclusive,
};
use kirjuri_app::{Config, Error, Kirjuri};
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::clock::{Clock, FixedClock};
use kirjuri_core::contact::ContactInput;
use kirjuri_core::ids::{ContactId, ObjectId, UserId};
use kirjuri_core::wav::Encoding;
use kirjuri_core::wav::synth;
use kirjuri_store::{
    AuditFilter, HoldLift, HoldRow, HoldTarget, IndexEntry, ObjectRow, Shred, ShredMode,
    TombstoneRow,
};
use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;

// ---- fixture -----------------------------------------------------------------

/// A data folder opened with a clock the test sets.
struct Fixture {
    app: Kirjuri,
    clock: Arc<FixedClock>,
    _dir: tempfile::TempDir,
}

fn utc(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

async fn fixture() -> Fixture {
    fixture_with(|_| {}).await
}

async fn fixture_with(configure: impl FnOnce(&mut Config)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data: dir.path().join("data"),
        ..Config::default()
    };
    configure(&mut config);
    let clock = Arc::new(FixedClock::new(utc("2026-01-01T00:00:00Z")));
    let app = Kirjuri::open(config, clock.clone()).await.unwrap();
    Fixture {
        app,
        clock,
        _dir: dir,
    }
}

impl Fixture {
    /// Delivers a call that started at `started_at` (RFC 3339 with offset)
    /// with a short recording; returns the contact and its objects.
    async fn call_with_recording(&self, started_at: &str) -> (ContactId, Vec<ObjectRow>) {
        let started: DateTime<FixedOffset> = DateTime::parse_from_rfc3339(started_at).unwrap();
        self.clock.set(started.to_utc() + Duration::minutes(5));
        let contact = self.contact("call_in", started_at).await;
        let wav = synth::wav_bytes(Encoding::PcmS16, 1, 8000, 4000, false);
        let body = futures::stream::once(async move { Ok::<_, Infallible>(Bytes::from(wav)) });
        self.app
            .store_recording(None, contact, body, 1 << 20)
            .await
            .unwrap();
        let objects = self.app.store.objects_for_contact(&contact).await.unwrap();
        assert!(
            objects.iter().any(|o| o.kind == "recording"),
            "the recording is stored"
        );
        (contact, objects)
    }

    /// Delivers a contact of `channel` without a recording.
    async fn contact(&self, channel: &str, started_at: &str) -> ContactId {
        self.contact_of(channel, started_at, "Matti Meikäläinen", "040 123 4567")
            .await
    }

    /// [`Fixture::contact`] of the customer `name` at `phone`.
    async fn contact_of(
        &self,
        channel: &str,
        started_at: &str,
        name: &str,
        phone: &str,
    ) -> ContactId {
        let input = json!({
            "channel": channel,
            "started_at": started_at,
            "agent": "aino",
            "service": "water-billing",
            "customer": {"name": name, "phone": phone},
        });
        let input = ContactInput::from_json(&serde_json::to_vec(&input).unwrap()).unwrap();
        self.app.create_contact(None, input).await.unwrap().0
    }

    /// Purges at `at` and asserts every step succeeded — and that a dry
    /// run at the same instant, just before, listed exactly that.
    async fn purge_at(&self, at: DateTime<Utc>) -> Vec<PurgeItem> {
        self.clock.set(at);
        let dry = self.app.purge(true).await.unwrap();
        let report = self.app.purge(false).await.unwrap();
        assert!(report.succeeded(), "purge failures: {:?}", report.failures);
        assert_eq!(
            dry.items, report.items,
            "the dry run at {at} listed otherwise"
        );
        assert_eq!(
            report.skipped, 0,
            "nothing listed was refused when re-checked"
        );
        report.items
    }

    fn object_file(&self, id: &ObjectId) -> PathBuf {
        let name = id.to_string();
        self.app
            .config
            .objects_dir()
            .join(&name[name.len() - 2..])
            .join(format!("{name}.kjr"))
    }

    /// Reads the recording as a supervisor would.
    async fn read_recording(&self, contact: ContactId) -> Result<Vec<u8>, Error> {
        crate::read_recording_as_supervisor(&self.app, contact).await
    }

    /// Asserts the object is intact: row, file, readable when a recording.
    async fn assert_intact(&self, object: &ObjectRow) {
        let rows = self.rows_of(object.contact_id).await;
        let row = rows
            .iter()
            .find(|r| r.id == object.id)
            .unwrap_or_else(|| panic!("{} {} was destroyed", object.kind, object.id));
        assert_eq!(row.wrapped_key, object.wrapped_key);
        assert!(self.object_file(&object.id).exists(), "its file is there");
        assert!(
            self.app
                .store
                .tombstone(object.id.as_uuid())
                .await
                .unwrap()
                .is_none()
        );
        if object.kind == "recording" {
            let bytes = self.read_recording(object.contact_id).await.unwrap();
            assert_eq!(
                kirjuri_vault_sha256(&bytes),
                object.sha256,
                "the recording reads back bit-exact"
            );
        }
    }

    /// Another instance on the same data folder and clock, as a second
    /// process would be.
    async fn second_instance(&self) -> Kirjuri {
        Kirjuri::open((*self.app.config).clone(), self.clock.clone())
            .await
            .unwrap()
    }

    /// The object rows of `contact` now.
    async fn rows_of(&self, contact: ContactId) -> Vec<ObjectRow> {
        self.app.store.objects_for_contact(&contact).await.unwrap()
    }

    /// Asserts each of `objects` is intact ([`Self::assert_intact`]).
    async fn assert_all_intact(&self, objects: &[ObjectRow]) {
        for object in objects {
            self.assert_intact(object).await;
        }
    }

    /// A purge at `at` takes the call: each of its `objects`, and its
    /// contact.
    async fn assert_purges_all(&self, at: DateTime<Utc>, objects: &[ObjectRow]) {
        let items = self.purge_at(at).await;
        assert_eq!(items.len(), objects.len() + 1, "{items:?}");
        for object in objects {
            self.assert_gone(object).await;
        }
    }

    /// Asserts the object is gone: no row (no wrapped key), no file, a
    /// finished tombstone with its sha256, and a read answers "gone".
    async fn assert_gone(&self, object: &ObjectRow) {
        let rows = self.rows_of(object.contact_id).await;
        assert!(
            rows.iter().all(|r| r.id != object.id),
            "{} {} still has its row",
            object.kind,
            object.id
        );
        assert!(
            !self.object_file(&object.id).exists(),
            "its file is deleted"
        );
        assert!(matches!(
            self.app.objects.len(&object.id).await,
            Err(kirjuri_vault::Error::NotFound(_))
        ));
        let tombstone = self
            .app
            .store
            .tombstone(object.id.as_uuid())
            .await
            .unwrap()
            .expect("a tombstone");
        assert_eq!(tombstone.sha256.as_deref(), Some(object.sha256.as_str()));
        assert_eq!(tombstone.kind, object.kind);
        assert_eq!(tombstone.reason, "retention");
        assert_eq!(tombstone.retain_until, object.retain_until);
        assert!(tombstone.ledgered_at.is_some(), "ledgered");
        assert!(tombstone.storage_deleted_at.is_some(), "bytes deleted");
        if object.kind == "recording" {
            let read = self.read_recording(object.contact_id).await;
            assert!(
                matches!(read, Err(Error::Gone { .. } | Error::NotFound)),
                "reading a purged recording: {read:?}"
            );
        }
    }

    async fn place_hold(
        &self,
        target: HoldTarget,
        expires_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Uuid {
        let id = Uuid::now_v7();
        let owner = UserId::new_v7();
        let hold = HoldRow {
            id,
            ground_kind: "complaint".into(),
            ground: "complaint KIR-2026-17".into(),
            owner,
            review_by: at + Duration::days(365),
            expires_at,
            scope: match target.object_id {
                Some(object) => json!({"object": object}),
                None => json!({"contact": target.contact_id}),
            },
            created_at: at,
            created_by: owner,
            lifted_at: None,
            lifted_by: None,
            lift_reason: None,
            reminded_at: None,
        };
        let event = AuditEvent::HoldPlaced {
            hold: id,
            targets: 1,
            ground_kind: "complaint",
        };
        self.app
            .store
            .insert_hold(&hold, &[target], &to_row(at, Some(owner), &event))
            .await
            .unwrap();
        id
    }

    async fn lift_hold(&self, id: Uuid, at: DateTime<Utc>) {
        let by = UserId::new_v7();
        let lift = HoldLift {
            at,
            by,
            reason: "complaint settled".into(),
        };
        let event = AuditEvent::HoldLifted { hold: id };
        assert!(
            self.app
                .store
                .lift_hold(&id, &lift, &to_row(at, Some(by), &event))
                .await
                .unwrap()
        );
    }
}

fn kirjuri_vault_sha256(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

fn recording(objects: &[ObjectRow]) -> &ObjectRow {
    objects.iter().find(|o| o.kind == "recording").unwrap()
}

/// A hold target naming a whole contact.
fn whole_contact(contact_id: ContactId) -> HoldTarget {
    HoldTarget {
        contact_id,
        object_id: None,
    }
}

fn second() -> Duration {
    Duration::seconds(1)
}

// ---- deadlines on calendar edges -----------------------------------------------

/// Delivers a call at `started_at`, then checks it survives a purge one
/// second before `deadline` and is gone after a purge one second after it.
async fn survives_until(f: &Fixture, started_at: &str, deadline: &str) {
    let deadline = utc(deadline);
    let (contact, objects) = f.call_with_recording(started_at).await;
    assert_eq!(recording(&objects).retain_until, deadline, "{started_at}");

    let items = f.purge_at(deadline - second()).await;
    assert!(
        items.iter().all(|i| i.contact_id != contact),
        "nothing of the call made {started_at} goes before its deadline: {items:?}"
    );
    f.assert_all_intact(&objects).await;

    let items = f.purge_at(deadline + second()).await;
    let taken: BTreeSet<Uuid> = items
        .iter()
        .filter(|i| i.contact_id == contact)
        .map(|i| i.id)
        .collect();
    for object in &objects {
        assert!(
            taken.contains(object.id.as_uuid()),
            "{started_at}: {object:?}"
        );
        f.assert_gone(object).await;
    }
}

#[tokio::test]
async fn a_recording_survives_a_purge_one_second_before_its_deadline_and_is_gone_one_second_after()
{
    let f = fixture().await;
    // (the call, the Helsinki midnight 12 calendar months after its day)
    let cases = [
        // An ordinary winter day: Helsinki is UTC+2.
        ("2026-01-15T10:00:00+02:00", "2027-01-14T22:00:00Z"),
        // Month end: 31 January → 31 January.
        ("2027-01-31T23:30:00+02:00", "2028-01-30T22:00:00Z"),
        // Leap day: 29 February 2028 → 28 February 2029 (clamped).
        ("2028-02-29T12:00:00+02:00", "2029-02-27T22:00:00Z"),
        // Spring DST day (last Sunday of March 2027, 28 March) → 28 March
        // 2028, in summer time (UTC+3).
        ("2027-03-28T03:30:00+03:00", "2028-03-27T21:00:00Z"),
        // A call before the 2028 spring change, its deadline on the DST
        // day itself (Sunday 26 March 2028, midnight still UTC+2).
        ("2027-03-26T09:00:00+02:00", "2028-03-25T22:00:00Z"),
        // Autumn DST day (last Sunday of October 2027, 31 October; 03:30
        // happens twice) → 31 October 2028, in winter time (UTC+2).
        ("2027-10-31T03:30:00+02:00", "2028-10-30T22:00:00Z"),
        // Its deadline on the 2028 autumn change day (Sunday 29 October,
        // midnight still UTC+3).
        ("2027-10-29T09:00:00+03:00", "2028-10-28T21:00:00Z"),
        // Stamped in UTC just before midnight: the Helsinki day is the next.
        ("2027-06-30T21:30:00Z", "2028-06-30T21:00:00Z"),
    ];
    for (started_at, deadline) in cases {
        survives_until(&f, started_at, deadline).await;
    }
}

#[tokio::test]
async fn with_a_one_month_policy_31_january_is_kept_until_the_end_of_february() {
    let f = fixture_with(|config| {
        config.retention.call_recording.months = 1;
        config.retention.derived.months = 1;
        config.retention.contact_metadata.months = 1;
    })
    .await;
    // 31 January → 28 February (2027) and → 29 February (leap year 2028).
    survives_until(&f, "2027-01-31T10:00:00+02:00", "2027-02-27T22:00:00Z").await;
    survives_until(&f, "2028-01-31T10:00:00+02:00", "2028-02-28T22:00:00Z").await;
    // 31 March (summer time from 27 March 2033) → 30 April.
    survives_until(&f, "2033-03-31T10:00:00+03:00", "2033-04-29T21:00:00Z").await;
}

#[tokio::test]
async fn an_expired_contact_loses_its_document_and_keeps_a_tombstone() {
    let f = fixture().await;
    let (contact, objects) = f.call_with_recording("2026-02-10T10:00:00+02:00").await;
    let chat = f.contact("chat", "2026-02-10T11:00:00+02:00").await;

    let items = f.purge_at(utc("2027-02-10T00:00:00Z")).await;

    let kinds: BTreeMap<Uuid, String> = items.iter().map(|i| (i.id, i.kind.clone())).collect();
    assert_eq!(
        kinds.get(contact.as_uuid()).map(String::as_str),
        Some("contact")
    );
    assert_eq!(
        kinds.get(chat.as_uuid()).map(String::as_str),
        Some("contact")
    );
    assert_eq!(items.len(), objects.len() + 2, "{items:?}");
    for id in [contact, chat] {
        let row = f
            .app
            .store
            .contact(&id)
            .await
            .unwrap()
            .expect("the row stays");
        assert!(row.sealed_document.is_empty() && row.document_key.is_empty());
        let tombstone = f.app.store.tombstone(id.as_uuid()).await.unwrap().unwrap();
        assert_eq!(tombstone.kind, "contact");
        assert!(tombstone.sha256.is_none());
        assert!(tombstone.ledgered_at.is_some() && tombstone.storage_deleted_at.is_some());
    }
    // Every destruction is audited by the system, and the run once.
    let events = f
        .app
        .store
        .search_audit(&AuditFilter {
            limit: 1000,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let by_action = |action: &str| {
        events
            .iter()
            .filter(|e| e.event.action == action)
            .collect::<Vec<_>>()
    };
    assert_eq!(by_action("object.purged").len(), objects.len());
    assert_eq!(by_action("contact.erased").len(), 2);
    let runs = by_action("purge.run");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].event.details["destroyed"]["contact"], 2);
    assert!(
        by_action("object.purged")
            .iter()
            .all(|e| e.event.actor.is_none())
    );
    // A second run finds nothing more.
    assert!(f.purge_at(utc("2027-02-10T00:00:01Z")).await.is_empty());
}

/// Every `(contact_id, kind, hash)` blind-index entry in the database, read
/// by a connection of the test's own.
fn index_entries(f: &Fixture) -> Entries {
    let db = rusqlite::Connection::open(f.app.config.database_file()).unwrap();
    let mut query = db
        .prepare("SELECT contact_id, kind, hash FROM contact_index")
        .unwrap();
    query
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn a_purge_of_many_batches_erases_every_expired_contacts_index_entries_and_nothing_else() {
    // Arrange: 45 contacts with names and phone numbers of their own, 30 of them
    // expired by the purge's instant; batches of 7, so the erasure runs in
    // several transactions on the purge's own connection (whose log is
    // checkpointed less often) and the last batch is partial.
    let f = fixture().await;
    let mut expired = BTreeSet::new();
    for n in 0..45u8 {
        let day = if n < 30 { "2026-02-10" } else { "2026-09-10" };
        let started = format!("{day}T10:{:02}:00+02:00", n % 60);
        let name = format!(
            "Testi {}{}",
            char::from(b'A' + n / 26),
            char::from(b'a' + n % 26)
        );
        let contact = f
            .contact_of("chat", &started, &name, &format!("040 555 {n:04}"))
            .await;
        if n < 30 {
            expired.insert(contact.as_uuid().as_bytes().to_vec());
        }
    }
    let before = index_entries(&f);
    let (erased, kept): (BTreeSet<_>, BTreeSet<_>) = before
        .into_iter()
        .partition(|(id, _, _)| expired.contains(id));
    assert_eq!(erased.len(), 60, "two entries (name, phone) a contact");
    f.clock.set(utc("2027-03-01T00:00:00Z"));

    // Act
    let report = Purger::new(&f.app).batch(7).run().await;

    // Assert: the 30 went, each with both entries; the others' entries are
    // untouched; and no erased hash is left in the database file or its
    // write-ahead log.
    assert!(report.succeeded(), "{:?}", report.failures);
    assert_eq!(report.counts.get("contact"), Some(&30));
    assert_eq!(index_entries(&f), kept);
    assert_only_kept_hashes_in_files(&f, &erased, &kept);
}

type Entries = BTreeSet<(Vec<u8>, String, Vec<u8>)>;

/// Asserts that no `erased` entry's hash is left in the database file or
/// its write-ahead log, and every `kept` one is.
fn assert_only_kept_hashes_in_files(f: &Fixture, erased: &Entries, kept: &Entries) {
    let file = f.app.config.database_file();
    let mut bytes = std::fs::read(&file).unwrap();
    let mut wal = file.into_os_string();
    wal.push("-wal");
    bytes.extend(std::fs::read(&wal).unwrap_or_default());
    for (_, kind, hash) in erased {
        assert!(
            !bytes.windows(hash.len()).any(|w| w == hash.as_slice()),
            "an erased {kind} hash is still in the database's files"
        );
    }
    for (_, _, hash) in kept {
        assert!(bytes.windows(hash.len()).any(|w| w == hash.as_slice()));
    }
}

/// Stops a purge once no contact is left to erase at `now`: after its
/// last erasure, before it deletes the erased contacts' index entries.
struct StopAfterErasing<'a> {
    app: &'a Kirjuri,
    now: DateTime<Utc>,
}

#[async_trait::async_trait]
impl Pacer for StopAfterErasing<'_> {
    async fn keep_going(&self) -> bool {
        let left = self.app.store.expired_contacts(self.now, None, 1).await;
        !left.unwrap().is_empty()
    }
}

#[tokio::test]
async fn index_entries_left_by_a_run_stopped_before_its_sweep_are_dead_and_the_next_run_deletes_them()
 {
    // Arrange: 6 contacts, 4 of them expired; a run that stops after its
    // last erasure, before its sweep.
    let f = fixture().await;
    let mut expired = BTreeSet::new();
    for n in 0..6u8 {
        let day = if n < 4 { "2026-02-10" } else { "2026-09-10" };
        let started = format!("{day}T10:0{n}:00+02:00");
        let name = format!("Testi {}", char::from(b'A' + n));
        let contact = f
            .contact_of("chat", &started, &name, &format!("040 555 {n:04}"))
            .await;
        if n < 4 {
            expired.insert(contact.as_uuid().as_bytes().to_vec());
        }
    }
    let before = index_entries(&f);
    let (erased, kept): (Entries, Entries) = before
        .iter()
        .cloned()
        .partition(|(id, _, _)| expired.contains(id));
    let now = utc("2027-03-01T00:00:00Z");
    f.clock.set(now);
    let stopper = StopAfterErasing { app: &f.app, now };

    let stopped = Purger::new(&f.app).batch(3).pacer(&stopper).run().await;

    // The contacts are erased and their entries still stored, but no
    // lookup by those entries finds them any more.
    assert!(stopped.interrupted);
    assert_eq!(stopped.counts.get("contact"), Some(&4));
    assert!(!stopped.timings.contains_key("sweep"));
    assert_eq!(index_entries(&f), before);
    let lookups: Vec<IndexEntry> = erased
        .iter()
        .map(|(_, kind, hash)| IndexEntry {
            kind: kind.clone(),
            hash: hash.clone(),
        })
        .collect();
    let found = f
        .app
        .store
        .contacts_bearing_any(&lookups, 100)
        .await
        .unwrap();
    assert!(found.is_empty(), "{found:?}");

    // Act: the next run has nothing to destroy, and sweeps.
    let next = Purger::new(&f.app).run().await;

    assert!(next.succeeded(), "{:?}", next.failures);
    assert_eq!(next.total(), 0);
    assert!(next.timings.contains_key("sweep"));
    assert_eq!(index_entries(&f), kept);
    assert_only_kept_hashes_in_files(&f, &erased, &kept);
}

// ---- legal holds -----------------------------------------------------------------

#[tokio::test]
async fn a_held_recording_survives_and_goes_on_the_first_purge_after_its_hold_is_lifted() {
    let f = fixture().await;
    let (contact, objects) = f.call_with_recording("2026-03-10T10:00:00+02:00").await;
    let deadline = recording(&objects).retain_until;
    let hold = f
        .place_hold(
            HoldTarget {
                contact_id: contact,
                object_id: Some(recording(&objects).id),
            },
            None,
            utc("2026-06-01T00:00:00Z"),
        )
        .await;

    // Long past the deadline, the held recording and what is derived from
    // it stay, and so does the contact.
    let items = f.purge_at(deadline + Duration::days(200)).await;
    assert!(items.is_empty(), "{items:?}");
    f.assert_all_intact(&objects).await;

    let lifted_at = deadline + Duration::days(201);
    f.lift_hold(hold, lifted_at).await;
    f.assert_purges_all(lifted_at + second(), &objects).await;
}

#[tokio::test]
async fn a_held_contact_survives_until_its_hold_expires() {
    let f = fixture().await;
    let (contact, objects) = f.call_with_recording("2026-04-10T10:00:00+03:00").await;
    let deadline = recording(&objects).retain_until;
    let expires_at = deadline + Duration::days(30);
    f.place_hold(
        whole_contact(contact),
        Some(expires_at),
        utc("2026-06-01T00:00:00Z"),
    )
    .await;

    assert!(f.purge_at(deadline + second()).await.is_empty());
    // At the very instant it expires the hold no longer keeps anything.
    assert!(f.purge_at(expires_at - second()).await.is_empty());
    f.assert_all_intact(&objects).await;
    f.assert_purges_all(expires_at, &objects).await;
}

// ---- copies, dry runs, interrupted runs ------------------------------------------

#[tokio::test]
async fn a_copy_of_an_object_file_put_back_after_the_purge_cannot_be_decrypted() {
    let f = fixture().await;
    let (contact, objects) = f.call_with_recording("2026-05-05T10:00:00+03:00").await;
    let object = recording(&objects).clone();
    let path = f.object_file(&object.id);
    let copy = std::fs::read(&path).unwrap();

    f.purge_at(object.retain_until + second()).await;
    assert!(!path.exists());
    std::fs::write(&path, &copy).unwrap();

    // No row holds its wrapped data key any more: reading says gone.
    assert!(
        f.app
            .store
            .objects_for_contact(&contact)
            .await
            .unwrap()
            .is_empty()
    );
    let read = f.read_recording(contact).await;
    assert!(matches!(read, Err(Error::Gone { .. })), "{read:?}");
    // The bytes alone are ciphertext: nothing of the WAV is in them.
    let wav = synth::wav_bytes(Encoding::PcmS16, 1, 8000, 4000, false);
    assert!(
        !copy
            .windows(16)
            .any(|w| wav[44..].windows(16).any(|v| v == w))
    );
    // Start-up recovery treats the copy as an orphan and removes it.
    let recovery = f.app.recover().await.unwrap();
    assert_eq!(recovery.orphaned_objects, 1);
    assert!(!path.exists());
}

#[tokio::test]
async fn the_dry_run_lists_exactly_what_the_real_run_at_the_same_instant_destroys() {
    let f = fixture().await;
    let mut calls = Vec::new();
    for day in 1..=9 {
        calls.push(
            f.call_with_recording(&format!("2026-0{day}-0{day}T10:00:00+02:00"))
                .await,
        );
        f.contact("email", &format!("2026-0{day}-1{day}T10:00:00+02:00"))
            .await;
    }
    // One expired call is held.
    f.place_hold(whole_contact(calls[1].0), None, utc("2026-10-01T00:00:00Z"))
        .await;
    let now = utc("2027-05-05T12:00:00Z");
    f.clock.set(now);

    // Small batches, so paging is exercised too.
    let mut dry = Vec::new();
    let dry_report = Purger::new(&f.app)
        .dry_run(true)
        .batch(3)
        .on_item(|i| dry.push(i.clone()))
        .run()
        .await;
    let mut real = Vec::new();
    let real_report = Purger::new(&f.app)
        .batch(3)
        .on_item(|i| real.push(i.clone()))
        .run()
        .await;

    assert!(real_report.succeeded(), "{:?}", real_report.failures);
    assert!(!dry.is_empty());
    assert_eq!(
        dry.iter().map(PurgeItem::line).collect::<Vec<_>>(),
        real.iter().map(PurgeItem::line).collect::<Vec<_>>()
    );
    assert_eq!(dry_report.counts, real_report.counts);
    assert_eq!(dry_report.counts["contact"], 8, "4 calls and 4 emails");
    // The dry run destroyed nothing: the real run found it all still there.
    assert!(f.app.purge(true).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn a_purge_finishes_what_an_interrupted_one_left_after_destroying_the_keys() {
    let f = fixture().await;
    let mut objects = Vec::new();
    for day in 10..=14 {
        let (_, rows) = f
            .call_with_recording(&format!("2026-03-{day}T10:00:00+02:00"))
            .await;
        objects.extend(rows);
    }
    let now = utc("2027-04-01T00:00:00Z");
    f.clock.set(now);
    // Step 1 only, as a run killed right after its shred transaction
    // leaves it: keys gone, tombstones unledgered, files still there.
    let shreds: Vec<Shred> = objects
        .iter()
        .map(|o| Shred {
            tombstone: TombstoneRow {
                id: *o.id.as_uuid(),
                contact_id: o.contact_id,
                kind: o.kind.clone(),
                rule: "test".into(),
                reason: "retention".into(),
                sha256: Some(o.sha256.clone()),
                retain_until: o.retain_until,
                deleted_at: now,
                ledgered_at: None,
                storage_deleted_at: None,
            },
            audit: to_row(
                now,
                None,
                &AuditEvent::ObjectPurged {
                    object: o.id,
                    contact: o.contact_id,
                    kind: o.kind.clone(),
                    sha256: o.sha256.clone(),
                    rule: "test".into(),
                    retain_until: o.retain_until,
                },
            ),
        })
        .collect();
    let destroyed = f
        .app
        .store
        .shred_objects(&shreds, ShredMode::Expired { now })
        .await
        .unwrap();
    assert_eq!(destroyed.len(), objects.len());
    // And one file already deleted before the kill.
    std::fs::remove_file(f.object_file(&objects[0].id)).unwrap();

    let report = f.app.purge(false).await.unwrap();

    assert!(report.succeeded(), "{:?}", report.failures);
    assert_eq!(report.completed, objects.len() as u64);
    assert_eq!(
        report.counts.get("recording"),
        None,
        "nothing destroyed twice"
    );
    assert_eq!(report.counts["contact"], 5);
    for object in &objects {
        f.assert_gone(object).await;
    }
    assert!(
        f.app
            .store
            .unfinished_tombstones(100)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---- the lease, the scheduled run, hold reminders -----------------------------

#[tokio::test]
async fn one_purge_at_a_time_and_a_dead_holders_lease_is_taken_over() {
    let f = fixture().await;
    let other = f.second_instance().await;

    let held = PurgeLease::try_acquire(&other)
        .await
        .unwrap()
        .expect("free");
    assert!(PurgeLease::try_acquire(&f.app).await.unwrap().is_none());
    held.release().await;
    let mine = PurgeLease::try_acquire(&f.app)
        .await
        .unwrap()
        .expect("released");
    assert!(PurgeLease::try_acquire(&other).await.unwrap().is_none());
    mine.release().await;

    // A holder that dies (its instance lock is freed) without releasing.
    let now = f.clock.now();
    assert!(
        other
            .store
            .try_lease(LEASE_JOB, &other.instance.id, now, now + Duration::hours(1))
            .await
            .unwrap()
    );
    assert!(PurgeLease::try_acquire(&f.app).await.unwrap().is_none());
    drop(other);
    assert!(
        PurgeLease::try_acquire(&f.app).await.unwrap().is_some(),
        "the dead holder's lease is taken over"
    );
}

#[tokio::test]
async fn an_exclusive_run_refuses_while_another_holds_the_lease() {
    let f = fixture().await;
    let (_, objects) = f.call_with_recording("2026-03-02T10:00:00+02:00").await;
    // The recording is due, and another instance holds the lease (taken at
    // this instant, so it is not stale).
    f.clock.set(recording(&objects).retain_until + second());
    let other = f.second_instance().await;
    let held = PurgeLease::try_acquire(&other)
        .await
        .unwrap()
        .expect("free");

    let patience = StdDuration::from_millis(50);
    let busy = run_exclusive(&f.app, false, 100, patience, |_| {}).await;
    assert!(
        matches!(busy, Err(ExclusiveRunError::Busy { patience: p }) if p == patience),
        "{busy:?}"
    );
    // Nothing was purged, and a dry run needs no lease.
    f.assert_all_intact(&objects).await;
    let mut listed = Vec::new();
    let dry = run_exclusive(&f.app, true, 100, patience, |item| listed.push(item.id)).await;
    assert!(dry.unwrap().dry_run);
    let due = recording(&objects).id;
    assert!(
        listed.contains(due.as_uuid()),
        "the recording is due: {listed:?}"
    );
    f.assert_all_intact(&objects).await;
    held.release().await;
}

#[tokio::test]
async fn the_scheduled_run_purges_under_the_lease_and_reminds_of_holds_due_for_review() {
    let f = fixture().await;
    let (contact, objects) = f.call_with_recording("2026-02-02T10:00:00+02:00").await;
    let (kept, _) = f.call_with_recording("2026-09-02T10:00:00+03:00").await;
    let now = utc("2027-03-01T00:00:00Z");
    // Due in 10 days (reminded: the default is 14), due in 30 (not yet).
    let soon = f
        .place_hold(whole_contact(kept), None, now - Duration::days(355))
        .await;
    let later = f
        .place_hold(whole_contact(kept), None, now - Duration::days(335))
        .await;
    f.clock.set(now);

    let running = tokio_util::sync::CancellationToken::new();
    let report = kirjuri_app::purge::scheduled_run(&f.app, &running)
        .await
        .expect("the lease was free");

    assert!(report.succeeded(), "{:?}", report.failures);
    for object in &objects {
        f.assert_gone(object).await;
    }
    assert!(report.items.is_empty(), "the job collects no items");
    assert_eq!(report.counts["contact"], 1);
    assert!(
        f.app
            .store
            .contact(&contact)
            .await
            .unwrap()
            .unwrap()
            .sealed_document
            .is_empty()
    );
    let soon = f.app.store.hold(&soon).await.unwrap().unwrap().hold;
    let later = f.app.store.hold(&later).await.unwrap().unwrap().hold;
    assert_eq!(soon.reminded_at, Some(now));
    assert_eq!(later.reminded_at, None);
    // Reminded once only.
    assert_eq!(kirjuri_app::purge::remind_holds(&f.app).await.unwrap(), 0);
    let reminders = f
        .app
        .store
        .search_audit(&AuditFilter {
            action: Some("hold.review_due".into()),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(reminders.len(), 1);
    assert_eq!(reminders[0].event.object, Some(soon.id.to_string()));
    // The lease was released.
    let other = f.second_instance().await;
    assert!(PurgeLease::try_acquire(&other).await.unwrap().is_some());
}

#[tokio::test]
async fn a_stopped_scheduled_run_ends_between_batches_and_the_next_completes_it() {
    let f = fixture().await;
    f.call_with_recording("2026-02-02T10:00:00+02:00").await;
    f.clock.set(utc("2027-03-01T00:00:00Z"));
    let stopped = tokio_util::sync::CancellationToken::new();
    stopped.cancel();

    let report = kirjuri_app::purge::scheduled_run(&f.app, &stopped)
        .await
        .unwrap();
    assert!(report.interrupted);
    assert_eq!(report.total(), 0);

    let running = tokio_util::sync::CancellationToken::new();
    let report = kirjuri_app::purge::scheduled_run(&f.app, &running)
        .await
        .unwrap();
    assert!(!report.interrupted);
    assert_eq!(report.counts["contact"], 1);
}

// ---- the property: never too early, never too late --------------------------------

/// One generated contact.
#[derive(Debug, Clone)]
struct GenContact {
    /// Minutes after 2025-01-01T00:00Z that it started.
    started_minutes: i64,
    /// A call with a recording, or a chat.
    call: bool,
    /// A hold on it: on the contact or the recording; expiring after
    /// `expires_days` (from 2026-01-01) or lifted before purge `lift_before`.
    hold: Option<GenHold>,
}

#[derive(Debug, Clone)]
struct GenHold {
    on_recording: bool,
    expires_days: Option<i64>,
    lift_before: Option<usize>,
}

fn gen_contact() -> impl Strategy<Value = GenContact> {
    let hold = (
        any::<bool>(),
        proptest::option::of(0i64..800),
        proptest::option::of(0usize..4),
    )
        .prop_map(|(on_recording, expires_days, lift_before)| GenHold {
            on_recording,
            expires_days,
            lift_before,
        });
    (
        0i64..(2 * 365 * 24 * 60),
        prop::bool::weighted(0.7),
        proptest::option::of(hold),
    )
        .prop_map(|(started_minutes, call, hold)| GenContact {
            started_minutes,
            call,
            hold,
        })
}

/// When a purge runs: at a random minute of 2026–2027 (plus -1, 0 or +1
/// second), or at a generated contact's deadline -1 s, exactly, or +1 s.
#[derive(Debug, Clone)]
struct GenPurge {
    at_deadline: bool,
    minutes: i64,
    offset_seconds: i64,
}

fn gen_purge() -> impl Strategy<Value = GenPurge> {
    (any::<bool>(), 0i64..(2 * 365 * 24 * 60), -1i64..=1).prop_map(
        |(at_deadline, minutes, offset_seconds)| GenPurge {
            at_deadline,
            minutes,
            offset_seconds,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// With random calls, holds and purge instants, every purge destroys
    /// exactly what is expired and unheld at its instant (and what no earlier
    /// purge took) — never an unexpired or held object, never too little.
    #[test]
    fn a_purge_takes_every_expired_unheld_object_and_nothing_else(
        contacts in prop::collection::vec(gen_contact(), 1..7),
        purges in prop::collection::vec(gen_purge(), 1..5),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(check_purges(contacts, purges));
    }
}

async fn check_purges(contacts: Vec<GenContact>, purge_specs: Vec<GenPurge>) {
    let f = fixture().await;
    let epoch = utc("2025-01-01T00:00:00Z");
    let hold_epoch = utc("2026-01-01T00:00:00Z");

    struct Placed {
        contact: ContactId,
        contact_deadline: DateTime<Utc>,
        objects: Vec<ObjectRow>,
        hold: Option<(Uuid, GenHold, Option<DateTime<Utc>>)>,
    }
    let mut placed = Vec::new();
    for c in &contacts {
        let started = (epoch + Duration::minutes(c.started_minutes))
            .fixed_offset()
            .to_rfc3339();
        let (contact, objects) = if c.call {
            f.call_with_recording(&started).await
        } else {
            (f.contact("chat", &started).await, Vec::new())
        };
        let contact_deadline = f
            .app
            .store
            .contact(&contact)
            .await
            .unwrap()
            .unwrap()
            .retain_until;
        let hold = match &c.hold {
            None => None,
            Some(h) => {
                let object_id = match (h.on_recording, objects.first()) {
                    (true, Some(_)) => Some(recording(&objects).id),
                    _ => None,
                };
                let expires = h.expires_days.map(|d| hold_epoch + Duration::days(d));
                let id = f
                    .place_hold(
                        HoldTarget {
                            contact_id: contact,
                            object_id,
                        },
                        expires,
                        hold_epoch,
                    )
                    .await;
                Some((id, h.clone(), expires))
            }
        };
        placed.push(Placed {
            contact,
            contact_deadline,
            objects,
            hold,
        });
    }

    // The purge instants, some right at a deadline or a hold's expiry.
    let deadlines: Vec<DateTime<Utc>> = placed
        .iter()
        .flat_map(|p| {
            std::iter::once(p.contact_deadline)
                .chain(p.objects.iter().map(|o| o.retain_until))
                .chain(p.hold.as_ref().and_then(|(_, _, expires)| *expires))
        })
        .collect();
    let mut purges: Vec<DateTime<Utc>> = purge_specs
        .iter()
        .map(|spec| {
            let base = if spec.at_deadline {
                deadlines[spec.minutes as usize % deadlines.len()]
            } else {
                hold_epoch + Duration::minutes(spec.minutes)
            };
            base + Duration::seconds(spec.offset_seconds)
        })
        .collect();
    purges.sort_unstable();
    purges.dedup();

    let mut gone: BTreeSet<Uuid> = BTreeSet::new();
    for (k, &now) in purges.iter().enumerate() {
        // Holds lifted before this purge.
        for p in &placed {
            if let Some((id, h, _)) = &p.hold
                && h.lift_before == Some(k)
            {
                f.lift_hold(*id, now - Duration::minutes(1)).await;
            }
        }
        let held_at = |p: &Placed| match &p.hold {
            None => false,
            Some((_, h, expires)) => {
                let lifted = h.lift_before.is_some_and(|l| l <= k);
                !lifted && expires.is_none_or(|e| e > now)
            }
        };
        // The model: what this purge must take.
        let mut expected = BTreeSet::new();
        for p in &placed {
            let held = held_at(p);
            for o in &p.objects {
                if !gone.contains(o.id.as_uuid()) && o.retain_until <= now && !held {
                    expected.insert(*o.id.as_uuid());
                }
            }
            let objects_left = p
                .objects
                .iter()
                .any(|o| !gone.contains(o.id.as_uuid()) && !expected.contains(o.id.as_uuid()));
            if !gone.contains(p.contact.as_uuid())
                && p.contact_deadline <= now
                && !held
                && !objects_left
            {
                expected.insert(*p.contact.as_uuid());
            }
        }

        let items = f.purge_at(now).await;
        let taken: BTreeSet<Uuid> = items.iter().map(|i| i.id).collect();
        assert_eq!(taken.len(), items.len(), "nothing is listed twice");
        assert_eq!(taken, expected, "purge {k} at {now}");
        gone.extend(taken);

        for p in &placed {
            for o in &p.objects {
                if gone.contains(o.id.as_uuid()) {
                    assert!(o.retain_until <= now);
                    f.assert_gone(o).await;
                } else {
                    f.assert_intact(o).await;
                }
            }
            let row = f.app.store.contact(&p.contact).await.unwrap().unwrap();
            assert_eq!(
                row.sealed_document.is_empty(),
                gone.contains(p.contact.as_uuid())
            );
        }
    }
}
