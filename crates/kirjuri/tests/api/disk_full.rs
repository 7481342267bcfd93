//! A full disk during intake, the purge and a backup (issue 17 §3).
//!
//! Intake: the data folder on a small size-limited tmpfs, filled up under a
//! running server. An upload that
//! does not fit is refused 507 `storage_full` in the `{"error":…}` shape;
//! nothing of it is left (no object row, no object file, no temporary
//! file, no pending upload, once recovery has run); and when space
//! returns — without a restart — the same upload is stored and reads back
//! bit-exact.
//!
//! The purge: the data folder moved onto a small tmpfs and filled to a
//! little less each run, so the disk runs out at different steps (opening
//! the database, destroying keys, the erasure ledger, the run's audit
//! event). Each failed run says `storage_full` in one line; after each, every
//! expired object has its key or its tombstone (never both, never neither),
//! every key its bytes, and the ledger names only erasures the database
//! holds; once space returns one run finishes everything exactly once and
//! `kirjuri audit verify` passes.
//!
//! A backup: its target a small tmpfs, full at once, part-way through the
//! database snapshot, and half-way through the objects. Each run says `storage_full`
//! in one line, leaves no backup folder (or an empty one, if the operator
//! made it), a restore from it is refused, and the data folder is byte for
//! byte as before; with space back a backup succeeds and restores
//! bit-exact.
//!
//! Mounting needs root (the suite runs as root in CI); as
//! another user the test fails saying so rather than skipping.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kirjuri_testkit::app::copy_tree;
use kirjuri_testkit::server::{Kirjuri, Logs, Server};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    KIRJURI, PURPOSE, TestApp, files_under, noise_wav, sha256_hex, spawn_app_with_env,
};
use crate::purge::{Call, assert_consistent, deliver, hex_id, item_lines, lines, snapshot};

/// A mounted tmpfs, unmounted when dropped.
struct Tmpfs {
    /// Where it is mounted.
    at: PathBuf,
    /// The folder made for it, when the test named none (removed once
    /// unmounted: fields drop after `Drop::drop`).
    _made: Option<tempfile::TempDir>,
}

impl Tmpfs {
    /// A new tmpfs of `megabytes` in a folder of its own.
    fn mount(megabytes: u32) -> Tmpfs {
        let dir = tempfile::Builder::new()
            .prefix("kirjuri-full-")
            .tempdir()
            .unwrap();
        mount_tmpfs(dir.path(), megabytes);
        Tmpfs {
            at: dir.path().to_owned(),
            _made: Some(dir),
        }
    }

    /// Moves the folder `dir` onto a new tmpfs of `megabytes` mounted at
    /// `dir` itself, so whatever names `dir` now writes there.
    fn mount_over(dir: &Path, megabytes: u32) -> Tmpfs {
        let aside = tempfile::Builder::new()
            .prefix("kirjuri-aside-")
            .tempdir()
            .unwrap();
        copy_tree(dir, aside.path());
        mount_tmpfs(dir, megabytes);
        let tmpfs = Tmpfs {
            at: dir.to_owned(),
            _made: None,
        };
        copy_tree(aside.path(), dir);
        tmpfs
    }

    fn path(&self) -> &Path {
        &self.at
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: a process a failed test left running must not keep it.
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

/// Mounts a tmpfs of `megabytes` at `dir`; fails the test saying why when
/// this process may not (it needs root).
fn mount_tmpfs(dir: &Path, megabytes: u32) {
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m,mode=0700")])
        .arg("tmpfs")
        .arg(dir)
        .status()
        .expect("run mount");
    assert!(
        status.success(),
        "the disk-full tests mount a small tmpfs and need root (CI runs the suite as root); \
         run them as root"
    );
}

/// Fills the file system at `dir` with a file until `leave` bytes are free.
fn fill(dir: &Path, leave: u64) -> std::path::PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 << 10];
    loop {
        let stat = rustix::fs::statvfs(dir).unwrap();
        let free = stat.f_bavail * stat.f_frsize;
        if free <= leave {
            break;
        }
        let n = (free - leave).min(chunk.len() as u64) as usize;
        if std::io::Write::write_all(&mut file, &chunk[..n]).is_err() {
            break;
        }
    }
    let _ = file.sync_all();
    path
}

#[tokio::test]
async fn an_upload_that_does_not_fit_is_refused_507_leaves_nothing_and_succeeds_once_space_returns()
{
    let disk = Tmpfs::mount(48);
    let data = disk.path().join("data");
    let kirjuri = Kirjuri::new(KIRJURI)
        .data(&data)
        .env("KIRJURI_CLUSTER__RECOVER_INTERVAL_SECONDS", "1");
    kirjuri.run_ok(&["user", "add", "pbx", "--role", "integration"], None);
    kirjuri.run_ok(
        &[
            "user",
            "add",
            "sanna",
            "--role",
            "supervisor",
            "--password-stdin",
        ],
        Some("Disk-Full-Passw0rd-sanna\n"),
    );
    let pbx = kirjuri
        .run_ok(&["token", "create", "--user", "pbx"], None)
        .trim()
        .to_owned();
    let sanna = kirjuri
        .run_ok(&["token", "create", "--user", "sanna"], None)
        .trim()
        .to_owned();
    let server = Server::start(&kirjuri, "kirjuri serve", &[] as &[&str], Logs::default());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let contact: Value = client
        .post(server.url("/api/v1/contacts"))
        .bearer_auth(&pbx)
        .json(&json!({
            "external_id": "full-1",
            "channel": "call_in",
            "started_at": "2026-11-29T09:15:02+02:00",
            "service": "water-billing",
            "agent": "aino",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = contact["id"].as_str().expect("a contact id").to_owned();
    let wav = noise_wav(8 << 20, 5);

    // The disk fills: 2 MiB left for an 8 MiB recording.
    let filler = fill(disk.path(), 2 << 20);
    let refused = client
        .put(server.url(&format!("/api/v1/contacts/{id}/recording")))
        .bearer_auth(&pbx)
        .header("content-type", "audio/wav")
        .body(wav.clone())
        .send()
        .await
        .unwrap();
    let status = refused.status();
    let body: Value = refused.json().await.unwrap();
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    assert_eq!(body["error"]["code"], "storage_full", "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");

    // Space returns; nothing half-stored is left once recovery has run.
    std::fs::remove_file(&filler).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let objects = data.join("objects");
    let files: Vec<_> = walk(&objects);
    assert!(files.is_empty(), "left behind: {files:?}");
    let read = client
        .get(server.url(&format!(
            "/api/v1/contacts/{id}/recording?purpose={PURPOSE}"
        )))
        .bearer_auth(&sanna)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::NOT_FOUND);

    // The same upload now fits, without a restart, and reads back whole.
    let stored = client
        .put(server.url(&format!("/api/v1/contacts/{id}/recording")))
        .bearer_auth(&pbx)
        .header("content-type", "audio/wav")
        .body(wav.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), StatusCode::CREATED);
    let back = client
        .get(server.url(&format!(
            "/api/v1/contacts/{id}/recording?purpose={PURPOSE}"
        )))
        .bearer_auth(&sanna)
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), StatusCode::OK);
    assert_eq!(sha256_hex(&back.bytes().await.unwrap()), sha256_hex(&wav));
    drop(server);
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

// ---- the purge and the backup on a full disk -----------------------------------------

/// The background purge must not run by itself: the tests run the command.
const QUIET_PURGE: (&str, &str) = ("KIRJURI_RETENTION__PURGE_INTERVAL_SECONDS", "86400");

/// Runs `kirjuri ARGS` on `app`'s data folder to its end, or fails the test
/// after two minutes (a hang, not a speed limit).
fn run_bounded(app: &TestApp, args: &[&str]) -> Output {
    let child = app
        .kirjuri()
        .command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kirjuri starts");
    let pid = child.id();
    let (done, output) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match output.recv_timeout(Duration::from_secs(120)) {
        Ok(output) => output.expect("kirjuri's output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("kirjuri {args:?} did not finish in two minutes");
        }
    }
}

/// Asserts that a command that failed on a full disk said so in one line
/// naming `storage_full`, and nothing personal.
fn assert_says_storage_full(output: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success(),
        "{what} on a full disk succeeded?\n{stdout}\n{stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|line| line.starts_with("error: ") && line.contains("storage_full")),
        "{what} on a full disk says so in one line naming storage_full:\n{stderr}"
    );
    // Every step that failed failed for the full disk, not for something
    // the full disk broke on the way (a connection left unusable, say).
    for line in stderr.lines().filter(|l| l.starts_with("error: ")) {
        assert!(
            line.contains("full") || line.contains("No space left on device"),
            "{what}: a failure that is not the full disk:\n{line}\n\n{stderr}"
        );
    }
    for needle in ["Matti", "Meikäläinen", "1234567", "Outi", "7101"] {
        assert!(
            !stderr.contains(needle) && !stdout.contains(needle),
            "{what}: personal data in its output:\n{stdout}\n{stderr}"
        );
    }
}

/// Every id in the erasure ledger's complete lines, as `lower(hex(id))`.
fn ledgered_ids(data: &Path) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(data.join("erasure-ledger")) else {
        return ids;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // A torn last line (no newline) was never acknowledged.
        for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            let block: Value = serde_json::from_str(line).unwrap();
            for entry in block["block"]["entries"].as_array().unwrap() {
                ids.insert(hex_id(entry["id"].as_str().unwrap()));
            }
        }
    }
    ids
}

#[tokio::test]
async fn a_purge_on_a_full_disk_says_so_leaves_every_erasure_whole_and_finishes_once_space_returns()
{
    // Arrange: expired and recent calls, then the data folder moved onto a
    // small tmpfs with the server stopped (the command line purges).
    let mut app = spawn_app_with_env(&[QUIET_PURGE]).await;
    let expired_calls = deliver(&app, 60, 400, "full-old").await;
    let recent_calls = deliver(&app, 6, 30, "full-new").await;
    app.stop();
    let objects_of = |calls: &[Call]| -> BTreeSet<String> {
        let contacts: Vec<String> = calls
            .iter()
            .map(|c| format!("x'{}'", hex_id(&c.id)))
            .collect();
        lines(&app.sql(&format!(
            "SELECT lower(hex(id)) FROM objects WHERE contact_id IN ({});",
            contacts.join(",")
        )))
    };
    let expired = objects_of(&expired_calls);
    let recent = objects_of(&recent_calls);
    let expired_contacts: BTreeSet<String> = expired_calls.iter().map(|c| hex_id(&c.id)).collect();
    let disk = Tmpfs::mount_over(app.data_dir(), 24);

    // Act: purge runs on a disk filled to a little less each time (the
    // purge frees space as it deletes bytes, so each run gets further).
    let mut failed = 0;
    for leave in [0u64, 8 << 10, 32 << 10, 96 << 10, 256 << 10] {
        let filler = fill(disk.path(), leave);
        let run = run_bounded(&app, &["purge", "--batch", "5"]);
        eprintln!(
            "purge with {leave} bytes free: {}\n{}",
            run.status,
            String::from_utf8_lossy(&run.stderr)
        );
        if !run.status.success() {
            failed += 1;
            assert_says_storage_full(&run, "kirjuri purge");
        }
        std::fs::remove_file(&filler).unwrap();
        // Whatever it got to: no key destroyed without its tombstone, no
        // tombstone without its key gone, no key without its bytes, the
        // recent calls untouched; and whatever the ledger holds has its
        // tombstone.
        assert_consistent(&app, &expired, &recent);
        let ledgered = ledgered_ids(app.data_dir());
        let tombstones = snapshot(&app).tombstones;
        assert!(
            ledgered.is_subset(&tombstones),
            "the ledger names an erasure the database does not hold"
        );
    }
    assert!(failed > 0, "at least one run met the full disk");

    // Space returns: one more run finishes everything, exactly once.
    let run = run_bounded(&app, &["purge"]);
    assert!(
        run.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let s = snapshot(&app);
    assert!(
        s.rows.is_disjoint(&expired),
        "no expired object keeps its key"
    );
    assert!(
        s.files.is_disjoint(&expired),
        "no expired object keeps its file"
    );
    let mut destroyed = expired.clone();
    destroyed.extend(expired_contacts.iter().cloned());
    assert_eq!(s.tombstones, destroyed, "one tombstone each, nothing else");
    assert!(recent.is_subset(&s.rows) && recent.is_subset(&s.files));
    assert_eq!(
        app.sql(
            "SELECT count(*) FROM tombstones \
             WHERE ledgered_at IS NULL OR storage_deleted_at IS NULL;"
        )
        .trim(),
        "0",
        "every tombstone is ledgered and its bytes deleted"
    );
    assert_eq!(
        ledgered_ids(app.data_dir()),
        destroyed,
        "the ledger holds every erasure"
    );
    assert_eq!(
        app.sql("SELECT count(*) FROM audit_events WHERE action = 'object.purged';")
            .trim(),
        expired.len().to_string(),
        "one audit event per destroyed key"
    );
    let verify = run_bounded(&app, &["audit", "verify"]);
    assert!(
        verify.status.success(),
        "audit verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    let again = run_bounded(&app, &["purge"]);
    assert!(again.status.success());
    assert!(item_lines(&String::from_utf8_lossy(&again.stdout)).is_empty());

    // The recent recordings read back bit-exact through the API.
    app.start();
    for call in &recent_calls {
        let bytes = app.recording_as_supervisor(&call.id).await;
        assert_eq!(sha256_hex(&bytes), call.sha256);
    }
    app.stop();
    drop(disk);
}

/// The data folder at rest: its database's content (as `sqlite3 .dump`
/// prints it: a checkpoint may move pages between the WAL and the file
/// without changing a row) and every other file (objects, keys, the
/// ledger) with its SHA-256, by relative path; lock files, which only say
/// who has it open, are left out.
fn at_rest(app: &TestApp) -> BTreeMap<String, String> {
    let data = app.data_dir();
    let mut state: BTreeMap<String, String> = files_under(data)
        .into_iter()
        .map(|path| {
            let name = path
                .strip_prefix(data)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, path)
        })
        .filter(|(name, _)| {
            !name.starts_with("instances/")
                && !name.ends_with(".lock")
                && !name.starts_with("kirjuri.db")
        })
        .map(|(name, path)| (name, sha256_hex(&std::fs::read(&path).unwrap())))
        .collect();
    state.insert(
        "kirjuri.db rows".to_owned(),
        sha256_hex(app.sql(".dump").as_bytes()),
    );
    state
}

#[tokio::test]
async fn a_backup_onto_a_full_disk_says_so_leaves_no_backup_and_the_data_untouched_and_succeeds_once_space_returns()
 {
    // Arrange: four calls with 1 MiB recordings; the backup target a tmpfs
    // with room for them all once it is not full.
    let mut app = spawn_app_with_env(&[QUIET_PURGE]).await;
    let mut calls = Vec::new();
    for i in 0..4u64 {
        let id = app.new_call("aino").await;
        let recording = noise_wav(1 << 20, 300 + i);
        app.store_recording(&id, &recording).await;
        calls.push((id, recording));
    }
    app.stop();
    let before = at_rest(&app);
    let target = Tmpfs::mount(16);

    // Act and assert: the target full at once, with room for part of the
    // database snapshot, and with room for the snapshot and half the
    // objects — that one into a folder the operator made beforehand.
    for (leave, made_beforehand) in [(0u64, false), (256u64 << 10, false), (2u64 << 20, true)] {
        let filler = fill(target.path(), leave);
        let out = target.path().join(format!("backup-{leave}"));
        if made_beforehand {
            std::fs::create_dir(&out).unwrap();
        }
        let run = run_bounded(&app, &["backup", "--out", out.to_str().unwrap()]);
        eprintln!(
            "backup with {leave} bytes free: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_says_storage_full(&run, "kirjuri backup");
        // Nothing that could pass for a backup is left: the folder it made
        // is gone, the one it was given is empty again.
        if made_beforehand {
            let left = files_under(&out);
            assert!(left.is_empty(), "left in the backup folder: {left:?}");
        } else {
            assert!(!out.exists(), "left behind: {:?}", files_under(&out));
        }
        // A restore from it is refused and changes nothing.
        let restore = run_bounded(
            &app,
            &["restore", "--from", out.to_str().unwrap(), "--force"],
        );
        assert!(
            !restore.status.success(),
            "a restore of a failed backup is refused"
        );
        std::fs::remove_file(&filler).unwrap();
        assert_eq!(at_rest(&app), before, "the live data is untouched");
    }

    // Space returns: a backup succeeds and restores, bit-exact.
    let out = target.path().join("backup");
    let run = run_bounded(&app, &["backup", "--out", out.to_str().unwrap()]);
    assert!(
        run.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let restore = run_bounded(
        &app,
        &["restore", "--from", out.to_str().unwrap(), "--force"],
    );
    assert!(
        restore.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&restore.stdout),
        String::from_utf8_lossy(&restore.stderr)
    );
    app.start();
    for (id, recording) in &calls {
        let bytes = app.recording_as_supervisor(id).await;
        assert!(
            bytes.as_ref() == recording.as_slice(),
            "{id} reads back bit-exact"
        );
    }
    app.stop();
    drop(target);
}
