//! Group commit (issue 16) against a real data folder: concurrent uploads
//! share their database commit, each is acknowledged only with its own
//! data durable, and when the shared commit fails none of them is.
//!
//! The fault is real: a trigger in the SQLite file refuses the audit
//! append every committed upload needs — the step the whole group shares —
//! installed and removed through a second connection, as an operator's
//! broken disk or a full database would fail it.

use std::convert::Infallible;

use bytes::Bytes;
use kirjuri_app::Kirjuri;
use kirjuri_core::clock::SystemClock;
use kirjuri_core::contact::ContactInput;
use kirjuri_core::ids::ContactId;
use kirjuri_core::wav::{Encoding, synth};
use kirjuri_store::{AuditFilter, Error as StoreError};
use serde_json::json;

/// Uploads in flight at once.
const PARALLEL: usize = 12;

async fn open(dir: &std::path::Path) -> Kirjuri {
    let config = kirjuri_app::Config {
        data: dir.join("data"),
        ..kirjuri_app::Config::default()
    };
    Kirjuri::open(config, std::sync::Arc::new(SystemClock))
        .await
        .unwrap()
}

async fn calls(app: &Kirjuri, n: usize, tag: &str) -> Vec<ContactId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let input: ContactInput = serde_json::from_value(json!({
            "external_id": format!("{tag}-{i}"),
            "channel": "call_in",
            "started_at": "2026-11-29T09:15:02+02:00",
            "agent": "aino",
        }))
        .unwrap();
        ids.push(app.create_contact(None, input).await.unwrap().0);
    }
    ids
}

/// The `i`th distinct recording (its length differs, so its sha256 does).
fn wav(i: usize) -> Bytes {
    Bytes::from(synth::wav_bytes(
        Encoding::PcmS16,
        2,
        8000,
        4000 + i as u32,
        false,
    ))
}

/// Every upload at once, each on a task of its own.
async fn upload_all(
    app: &Kirjuri,
    contacts: &[ContactId],
) -> Vec<Result<kirjuri_app::intake::RecordingAck, kirjuri_app::Error>> {
    let tasks: Vec<_> = contacts
        .iter()
        .enumerate()
        .map(|(i, contact)| {
            let app = app.clone();
            let contact = *contact;
            tokio::spawn(async move {
                let body = futures::stream::once(async move { Ok::<_, Infallible>(wav(i)) });
                app.store_recording(None, contact, body, 1 << 20)
                    .await
                    .map(|(ack, _)| ack)
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

async fn recording_events(app: &Kirjuri) -> usize {
    let filter = AuditFilter {
        action: Some("recording.created".into()),
        limit: 10_000,
        ..AuditFilter::default()
    };
    app.store.search_audit(&filter).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_uploads_each_commit_their_own_recording_waveform_and_event() {
    let dir = tempfile::tempdir().unwrap();
    let app = open(dir.path()).await;
    let contacts = calls(&app, PARALLEL, "ok").await;

    let results = upload_all(&app, &contacts).await;

    for (i, (contact, result)) in contacts.iter().zip(&results).enumerate() {
        let ack = result.as_ref().unwrap();
        let expected = hex::encode(ring::digest::digest(&ring::digest::SHA256, &wav(i)));
        assert_eq!(
            ack.sha256, expected,
            "each caller gets its own recording's ack"
        );
        let objects = app.store.objects_for_contact(contact).await.unwrap();
        let kinds: Vec<&str> = objects.iter().map(|o| o.kind.as_str()).collect();
        assert_eq!(kinds, ["recording", "waveform"]);
        let stored = app.objects.len(&objects[0].id).await.unwrap();
        assert_eq!(stored, objects[0].stored_len);
    }
    assert_eq!(recording_events(&app).await, PARALLEL);
    assert!(app.store.pending_objects().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_the_shared_commit_fails_every_parallel_upload_fails_and_none_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let app = open(dir.path()).await;
    let contacts = calls(&app, PARALLEL, "fault").await;
    let db = rusqlite::Connection::open(dir.path().join("data").join("kirjuri.db")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER injected_fault BEFORE INSERT ON audit_events \
         BEGIN SELECT RAISE(ABORT, 'injected fault'); END;",
    )
    .unwrap();
    let events_before = recording_events(&app).await;

    let results = upload_all(&app, &contacts).await;

    for result in &results {
        let error = result.as_ref().expect_err("no upload may be acknowledged");
        assert!(
            matches!(
                error,
                kirjuri_app::Error::Store(StoreError::SharedCommit(_))
            ),
            "the shared commit's failure, not another: {error:?}"
        );
    }
    for contact in &contacts {
        assert!(
            app.store
                .objects_for_contact(contact)
                .await
                .unwrap()
                .is_empty()
        );
    }
    assert!(app.store.pending_objects().await.unwrap().is_empty());
    assert!(
        app.objects.list().await.unwrap().is_empty(),
        "no object file is left"
    );
    assert_eq!(recording_events(&app).await, events_before);

    // The fault, and nothing else, was the cause: without it they go in.
    db.execute_batch("DROP TRIGGER injected_fault;").unwrap();
    let results = upload_all(&app, &contacts).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(recording_events(&app).await, events_before + PARALLEL);
}
