//! Crash safety (ING-3, SEC-3): an acknowledged recording survives the server
//! being killed outright; an upload cut off by the kill leaves no recording,
//! no stale state and no orphaned object file once the server is back; and a
//! graceful shutdown (SIGTERM) lets an upload in flight finish before exiting.
//!
//! "No orphan" is checked as an operator would: every file under `objects/`
//! is named by a row of the database's `objects` table (read with the
//! `sqlite3` shell) and every row has its file. A recording may own more than
//! one object (its derived waveform), so counting files per recording would
//! test the layout, not the promise.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PURPOSE, TestApp, noise_wav, sha256_hex, slow_body, spawn_app};

/// Runs one query on the data folder's database with the `sqlite3` shell.
fn sql(app: &TestApp, query: &str) -> String {
    let output = Command::new("sqlite3")
        .args(["-cmd", ".timeout 10000", "-batch"])
        .arg(app.data_dir().join("kirjuri.db"))
        .arg(query)
        .output()
        .expect("the sqlite3 shell runs (Debian package sqlite3)");
    assert!(
        output.status.success(),
        "sqlite3 {query:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("sqlite3 prints UTF-8")
}

/// Ids (32 lower-case hex digits) of the objects the database knows, of `kind` or all.
pub fn stored_object_ids(app: &TestApp, kind: Option<&str>) -> BTreeSet<String> {
    let filter = kind.map_or(String::new(), |k| format!(" WHERE kind = '{k}'"));
    sql(app, &format!("SELECT lower(hex(id)) FROM objects{filter};"))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Asserts that the object folder holds exactly the objects the database
/// knows — no orphaned file, no missing file, no temporary upload — and that
/// no upload is left pending.
pub fn assert_no_orphans(app: &TestApp, when: &str) {
    let files = app.object_files();
    let objects = app.data_dir().join("objects");
    let temporary: Vec<_> = files
        .iter()
        .filter(|f| f.strip_prefix(&objects).is_ok_and(|f| f.starts_with("tmp")))
        .collect();
    assert!(
        temporary.is_empty(),
        "{when}: unfinished uploads left: {temporary:#?}"
    );
    let on_disk: BTreeSet<String> = files
        .iter()
        .map(|f| {
            let stem = f.file_stem().expect("a file name").to_string_lossy();
            stem.replace('-', "").to_lowercase()
        })
        .collect();
    let known = stored_object_ids(app, None);
    let orphans: Vec<_> = on_disk.difference(&known).collect();
    let missing: Vec<_> = known.difference(&on_disk).collect();
    assert!(
        orphans.is_empty(),
        "{when}: object files no row knows: {orphans:?}"
    );
    assert!(
        missing.is_empty(),
        "{when}: objects whose file is gone: {missing:?}"
    );
    assert_eq!(
        files.len(),
        on_disk.len(),
        "{when}: two files for one object"
    );
    let pending = sql(app, "SELECT count(*) FROM pending_objects;");
    assert_eq!(pending.trim(), "0", "{when}: uploads left pending");
}

/// One upload started before the kill.
struct Upload {
    id: String,
    bytes: Bytes,
    /// Whether the whole body, end marker included, was handed to the connection.
    sent_all: Arc<AtomicBool>,
    /// Whether the client has read a 201 for it.
    acknowledged: Arc<AtomicBool>,
}

impl Upload {
    fn new(id: String, bytes: Vec<u8>) -> Self {
        Self {
            id,
            bytes: Bytes::from(bytes),
            sent_all: Arc::default(),
            acknowledged: Arc::default(),
        }
    }
}

/// Starts a slow, chunked upload in its own task, spreading the body over
/// about `duration`; resolves to the status, or `None` when the connection broke.
fn start_upload(
    app: &TestApp,
    upload: &Upload,
    duration: Duration,
) -> tokio::task::JoinHandle<Option<StatusCode>> {
    let chunk = 64 * 1024;
    let pieces = u32::try_from(upload.bytes.len().div_ceil(chunk)).expect("few pieces");
    let request = app
        .client
        .put(app.url(&format!("/api/v1/contacts/{}/recording", upload.id)))
        .bearer_auth(&app.tokens.pbx)
        .header(reqwest::header::CONTENT_TYPE, "audio/wav")
        .body(slow_body(
            upload.bytes.clone(),
            chunk,
            duration / pieces,
            Arc::clone(&upload.sent_all),
        ));
    let acknowledged = Arc::clone(&upload.acknowledged);
    tokio::spawn(async move {
        let status = request.send().await.ok().map(|r| r.status());
        if status == Some(StatusCode::CREATED) {
            acknowledged.store(true, Ordering::SeqCst);
        }
        status
    })
}

fn has_recording(contact: &Value) -> bool {
    contact.get("recording").is_some_and(|r| !r.is_null())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_recordings_survive_a_kill_and_interrupted_ones_leave_nothing_behind() {
    // Arrange: twelve calls, each with a 2–3.7 MB recording streamed in over
    // 0.5–9.3 s. The server is killed as soon as at least three uploads are
    // acknowledged while at least three are still sending.
    let mut app = spawn_app().await;
    let mut uploads = Vec::new();
    for n in 0..12u64 {
        let agent = if n % 2 == 0 { "aino" } else { "bertta" };
        let id = app.new_call(agent).await;
        let size = 2_000_000 + n as usize * 150_000;
        uploads.push(Upload::new(id, noise_wav(size, 1000 + n)));
    }
    let tasks: Vec<_> = uploads
        .iter()
        .enumerate()
        .map(|(n, upload)| start_upload(&app, upload, Duration::from_millis(500 + n as u64 * 800)))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let acknowledged = uploads
            .iter()
            .filter(|u| u.acknowledged.load(Ordering::SeqCst))
            .count();
        let sending = uploads
            .iter()
            .filter(|u| !u.sent_all.load(Ordering::SeqCst))
            .count();
        if acknowledged >= 3 && sending >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline && sending >= 3,
            "the uploads never reached a state worth killing in: {acknowledged} acknowledged, {sending} sending"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Act: kill the server without warning, and start it again.
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
    for (status, upload) in statuses.iter().zip(&uploads) {
        assert!(
            matches!(status, None | Some(StatusCode::CREATED)),
            "an upload failed other than by the kill: {status:?} for {}",
            upload.id
        );
    }
    assert_no_orphans(&app, "after the restart");

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
    assert_no_orphans(&app, "after the retries");
    assert_eq!(
        stored_object_ids(&app, Some("recording")).len(),
        uploads.len(),
        "every call now has exactly one recording"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_upload_in_flight_finish_and_the_server_exits_cleanly() {
    // Arrange: a 2 MB recording streaming in over about 1.5 s.
    let mut app = spawn_app().await;
    let id = app.new_call("aino").await;
    let upload = Upload::new(id.clone(), noise_wav(2_000_000, 5));
    let task = start_upload(&app, &upload, Duration::from_millis(1500));
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
    assert_no_orphans(&app, "after the graceful restart");
}

#[tokio::test]
async fn a_server_asked_to_stop_as_soon_as_it_says_it_is_listening_exits_cleanly() {
    // Arrange: a supervisor (systemd, Kubernetes) may send SIGTERM the moment
    // the process reports it is up; the shutdown must already be graceful.
    let mut app = spawn_app().await;
    assert_eq!(app.healthz().await.status(), StatusCode::OK);
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
