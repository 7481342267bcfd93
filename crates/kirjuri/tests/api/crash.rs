//! Crash safety (ING-3, SEC-3): an acknowledged recording survives the server
//! being killed outright; an upload cut off by the kill leaves no recording,
//! no stale state and no orphaned object file once the server is back; and a
//! graceful shutdown (SIGTERM) lets an upload in flight finish before exiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PURPOSE, TestApp, noise_wav, sha256_hex, slow_body, spawn_app};

/// One upload started before the kill.
struct Upload {
    id: String,
    bytes: Bytes,
    /// Whether the whole body, end marker included, was handed to the connection.
    sent_all: Arc<AtomicBool>,
}

/// Starts a slow, chunked upload in its own task; resolves to the status, or
/// `None` when the connection broke.
fn start_upload(
    app: &TestApp,
    upload: &Upload,
    pause: Duration,
) -> tokio::task::JoinHandle<Option<StatusCode>> {
    let request = app
        .client
        .put(app.url(&format!("/api/v1/contacts/{}/recording", upload.id)))
        .bearer_auth(&app.tokens.pbx)
        .header(reqwest::header::CONTENT_TYPE, "audio/wav")
        .body(slow_body(
            upload.bytes.clone(),
            64 * 1024,
            pause,
            Arc::clone(&upload.sent_all),
        ));
    tokio::spawn(async move { request.send().await.ok().map(|r| r.status()) })
}

fn has_recording(contact: &Value) -> bool {
    contact.get("recording").is_some_and(|r| !r.is_null())
}

/// Object files against stored recordings: one file per recording, no leftovers.
async fn assert_one_object_file_per_recording(app: &TestApp, uploads: &[Upload], when: &str) {
    let mut recordings = 0;
    for upload in uploads {
        if has_recording(&app.contact_as_supervisor(&upload.id).await) {
            recordings += 1;
        }
    }
    let files = app.object_files();
    assert_eq!(
        files.len(),
        recordings,
        "{when}: object files {files:#?} vs {recordings} stored recordings"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_recordings_survive_a_kill_and_interrupted_ones_leave_nothing_behind() {
    // Arrange: twelve calls, each with a 2–5 MB recording that streams in over
    // 0.4–4.8 s, so the kill at 2.2 s finds some done and some mid-flight.
    let mut app = spawn_app().await;
    let mut uploads = Vec::new();
    for n in 0..12u64 {
        let id = app
            .new_call(if n % 2 == 0 { "aino" } else { "bertta" })
            .await;
        let size = 2_000_000 + n as usize * 250_000;
        uploads.push(Upload {
            id,
            bytes: Bytes::from(noise_wav(size, 1000 + n)),
            sent_all: Arc::default(),
        });
    }
    let mut tasks = Vec::new();
    for (n, upload) in uploads.iter().enumerate() {
        let chunks = upload.bytes.len().div_ceil(64 * 1024) as u32;
        let duration = Duration::from_millis(400 + n as u64 * 400);
        tasks.push(start_upload(&app, upload, duration / chunks));
    }

    // Act: kill the server mid-way, without warning, and start it again.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    app.restart();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("the upload task"));
    }

    // Assert
    let acknowledged: Vec<bool> = statuses
        .iter()
        .map(|s| *s == Some(StatusCode::CREATED))
        .collect();
    let cut_off: Vec<bool> = uploads
        .iter()
        .map(|u| !u.sent_all.load(Ordering::SeqCst))
        .collect();
    let n_acknowledged = acknowledged.iter().filter(|a| **a).count();
    let n_cut_off = cut_off.iter().filter(|c| **c).count();
    assert!(
        n_acknowledged >= 2,
        "too few uploads finished before the kill to test anything: {statuses:?}"
    );
    assert!(
        n_cut_off >= 2,
        "too few uploads were in flight at the kill to test anything: {statuses:?}"
    );
    for (status, upload) in statuses.iter().zip(&uploads) {
        assert!(
            matches!(status, None | Some(StatusCode::CREATED)),
            "an upload failed other than by the kill: {status:?} for {}",
            upload.id
        );
    }
    assert_one_object_file_per_recording(&app, &uploads, "after the restart").await;

    for ((upload, acknowledged), cut_off) in uploads.iter().zip(&acknowledged).zip(&cut_off) {
        let contact = app.contact_as_supervisor(&upload.id).await;
        if *acknowledged {
            assert_eq!(
                contact["recording"]["sha256"],
                json!(sha256_hex(&upload.bytes)),
                "{contact}"
            );
            assert!(
                app.recording_as_supervisor(&upload.id).await == upload.bytes,
                "an acknowledged recording changed"
            );
            continue;
        }
        if *cut_off {
            assert!(
                !has_recording(&contact),
                "a cut-off upload left a recording: {contact}"
            );
            let download = app
                .get_recording(&app.tokens.sanna, &upload.id, Some(PURPOSE), None)
                .await;
            assert_eq!(
                download.status(),
                StatusCode::NOT_FOUND,
                "a cut-off upload can be downloaded"
            );
        } else if has_recording(&contact) {
            // Sent in full but the answer was lost to the kill: if it was
            // stored, it must be whole.
            assert!(
                app.recording_as_supervisor(&upload.id).await == upload.bytes,
                "a half-stored recording"
            );
        }
        // The integration retries; it must be accepted as if nothing happened.
        let retry = app
            .upload_recording(&app.tokens.pbx, &upload.id, upload.bytes.clone())
            .await;
        let expected = if has_recording(&contact) {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        assert_eq!(
            retry.status(),
            expected,
            "retrying an interrupted upload for {}",
            upload.id
        );
        assert!(app.recording_as_supervisor(&upload.id).await == upload.bytes);
    }
    assert_one_object_file_per_recording(&app, &uploads, "after the retries").await;
    assert_eq!(
        app.object_files().len(),
        uploads.len(),
        "every call now has exactly one recording object"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_upload_in_flight_finish_and_the_server_exits_cleanly() {
    // Arrange: a 2 MB recording streaming in over about 1.5 s.
    let mut app = spawn_app().await;
    let id = app.new_call("aino").await;
    let upload = Upload {
        id: id.clone(),
        bytes: Bytes::from(noise_wav(2_000_000, 5)),
        sent_all: Arc::default(),
    };
    let chunks = upload.bytes.len().div_ceil(64 * 1024) as u32;
    let task = start_upload(&app, &upload, Duration::from_millis(1500) / chunks);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        !upload.sent_all.load(Ordering::SeqCst),
        "the upload should still be in flight"
    );

    // Act
    app.terminate();
    let status = task.await.expect("the upload task");
    let exit = app.wait_exit(Duration::from_secs(30));

    // Assert
    assert_eq!(
        status,
        Some(StatusCode::CREATED),
        "the upload in flight completes"
    );
    assert!(
        exit.success(),
        "the server exits 0 after SIGTERM, got {exit}:\n{}",
        app.stderr()
    );
    app.start();
    assert!(
        app.recording_as_supervisor(&id).await == upload.bytes,
        "the recording was stored whole"
    );
    assert_eq!(app.object_files().len(), 1);
}

#[tokio::test]
async fn a_server_asked_to_stop_as_soon_as_it_says_it_is_listening_exits_cleanly() {
    // Arrange: a supervisor (systemd, Kubernetes) may send SIGTERM the moment
    // the process reports it is up; the shutdown must already be graceful.
    let mut app = spawn_app().await;
    app.stop();

    for attempt in 0..5 {
        app.start();

        // Act
        app.terminate();
        let exit = app.wait_exit(Duration::from_secs(30));

        // Assert
        assert!(
            exit.success(),
            "attempt {attempt}: SIGTERM right after 'listening on' gave {exit}"
        );
    }
}
