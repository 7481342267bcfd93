//! Backup and restore (issue 5) at the library level, with the clock
//! injected: a purge that runs *during* a backup — between the database
//! snapshot and the copy of an object file — is recorded as "erased after
//! snapshot", and restoring that backup replays the erasure ledger so the
//! object stays unreadable while everything else comes back bit for bit.
//! The moment is made exact by an object store that runs the purge when the
//! backup first asks for the object.
//!
//! Not here: the command line, a running `serve`, hostile backup folders
//! (the black-box tests in `crates/kirjuri/tests/api/backup.rs`).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test binary: a failed expectation is a failed test"
)]

use std::convert::Infallible;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use kirjuri_app::backup::{self, RestoreOptions};
use kirjuri_app::{Config, Kirjuri};
use kirjuri_core::clock::{Clock, FixedClock};
use kirjuri_core::contact::ContactInput;
use kirjuri_core::ids::{ContactId, ObjectId};
use kirjuri_core::wav::{Encoding, synth};
use kirjuri_vault::{ObjectStore, ObjectWriter};
use serde_json::json;

fn utc(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

/// Object storage that purges (once) when `trigger` is first asked for.
#[derive(Debug)]
struct PurgeDuringCopy {
    /// The real storage.
    inner: Arc<dyn ObjectStore>,
    /// The app the purge runs in (with the real storage).
    app: Kirjuri,
    /// The object whose copy sets it off.
    trigger: ObjectId,
    /// Whether it has run.
    fired: AtomicBool,
}

#[async_trait]
impl ObjectStore for PurgeDuringCopy {
    async fn put(&self, id: &ObjectId) -> kirjuri_vault::Result<Box<dyn ObjectWriter>> {
        self.inner.put(id).await
    }

    async fn get_range(&self, id: &ObjectId, range: Range<u64>) -> kirjuri_vault::Result<Bytes> {
        self.inner.get_range(id, range).await
    }

    async fn len(&self, id: &ObjectId) -> kirjuri_vault::Result<u64> {
        if *id == self.trigger && !self.fired.swap(true, Ordering::SeqCst) {
            let report = self.app.purge(false).await.unwrap();
            assert!(report.succeeded(), "{:?}", report.failures);
        }
        self.inner.len(id).await
    }

    async fn delete(&self, id: &ObjectId) -> kirjuri_vault::Result<()> {
        self.inner.delete(id).await
    }

    async fn list(&self) -> kirjuri_vault::Result<Vec<ObjectId>> {
        self.inner.list().await
    }
}

async fn call_with_recording(
    app: &Kirjuri,
    clock: &FixedClock,
    started_at: &str,
    frames: u32,
) -> (ContactId, Vec<u8>) {
    clock.set(utc(started_at) + Duration::minutes(5));
    let input = json!({
        "channel": "call_in",
        "started_at": started_at,
        "agent": "aino",
        "customer": {"name": "Matti Meikäläinen", "phone": "040 123 4567"},
    });
    let input = ContactInput::from_json(&serde_json::to_vec(&input).unwrap()).unwrap();
    let contact = app.create_contact(None, input).await.unwrap().0;
    let wav = synth::wav_bytes(Encoding::PcmS16, 1, 8000, frames, false);
    let body = futures::stream::once({
        let wav = wav.clone();
        async move { Ok::<_, Infallible>(Bytes::from(wav)) }
    });
    app.store_recording(None, contact, body, 1 << 24)
        .await
        .unwrap();
    (contact, wav)
}

#[tokio::test]
async fn an_object_purged_between_snapshot_and_copy_is_recorded_and_stays_erased_after_restore() {
    // Arrange: a call from June 2024 (expired on 2026-01-01) and one from
    // December 2025, each with a recording.
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data: dir.path().join("data"),
        ..Config::default()
    };
    let clock = Arc::new(FixedClock::new(utc("2026-01-01T00:00:00Z")));
    let app = Kirjuri::open(config.clone(), clock.clone()).await.unwrap();
    let (old, _) = call_with_recording(&app, &clock, "2024-06-01T10:00:00+03:00", 4000).await;
    let (recent, recent_wav) =
        call_with_recording(&app, &clock, "2025-12-30T10:00:00+02:00", 9000).await;
    clock.set(utc("2026-01-01T00:00:00Z"));
    let old_recording = app
        .store
        .objects_for_contact(&old)
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.kind == "recording")
        .unwrap();

    // Act: back up through storage that purges when the old recording's
    // copy begins — after the snapshot, which still names it.
    let mut backing_up = app.clone();
    backing_up.objects = Arc::new(PurgeDuringCopy {
        inner: Arc::clone(&app.objects),
        app: app.clone(),
        trigger: old_recording.id,
        fired: AtomicBool::new(false),
    });
    let out = dir.path().join("backup");
    let report = backup::backup(&backing_up, &out, false).await.unwrap();

    // Assert: the purge happened mid-backup and the manifest says so.
    let manifest = &report.manifest;
    assert!(
        manifest.erased_after_snapshot.contains(&old_recording.id),
        "{:?}",
        manifest.erased_after_snapshot
    );
    assert!(!manifest.objects.iter().any(|o| o.id == old_recording.id));
    assert_eq!(manifest.counts.contacts, 2);
    assert_eq!(manifest.ledger.seq, 0, "the head was read before the purge");
    assert!(
        crate::read_recording_as_supervisor(&app, old)
            .await
            .is_err(),
        "purged in the live folder"
    );

    // Act: restore the backup over the folder (every handle on it closed).
    drop(backing_up);
    drop(app);
    clock.set(utc("2026-01-02T00:00:00Z"));
    let restored = backup::restore(
        &config,
        clock.clone() as Arc<dyn Clock>,
        &RestoreOptions {
            from: out.clone(),
            force: true,
            verifier_key: None,
            without_ledger: false,
        },
    )
    .await
    .unwrap();

    // Assert: the snapshot's row of the old recording came back without its
    // file; the replay destroyed its key; the recent one is bit-exact.
    assert!(restored.replaced);
    assert!(restored.replay.entries >= 2, "{:?}", restored.replay);
    assert!(
        restored.replay.objects_shredded >= 1,
        "{:?}",
        restored.replay
    );
    assert_eq!(restored.replay.contacts_erased, 1, "{:?}", restored.replay);
    let app = Kirjuri::open(config.clone(), clock.clone()).await.unwrap();
    assert!(app.store.object(&old_recording.id).await.unwrap().is_none());
    let tombstone = app
        .store
        .tombstone(old_recording.id.as_uuid())
        .await
        .unwrap()
        .expect("a tombstone");
    assert_eq!(tombstone.reason, "ledger_replay");
    assert_eq!(
        tombstone.sha256.as_deref(),
        Some(old_recording.sha256.as_str())
    );
    assert!(
        crate::read_recording_as_supervisor(&app, old)
            .await
            .is_err()
    );
    assert_eq!(
        crate::read_recording_as_supervisor(&app, recent)
            .await
            .unwrap(),
        recent_wav
    );
}
