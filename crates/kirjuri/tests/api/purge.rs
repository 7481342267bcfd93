//! The purge through the real binary (RET-3): `kirjuri purge --dry-run`
//! lists what `kirjuri purge` then destroys, and a purge SIGKILLed at random
//! points — mid-batch, mid-ledger, mid-delete — leaves a state that the next
//! run completes: every expired object gone exactly once (one tombstone, one
//! audit event, no file, no row), everything unexpired intact, and the audit
//! log still verifying.
//!
//! The binary reads the real clock, so the test places its calls relative
//! to today: "expired" calls started more than 13 months ago, "recent" ones
//! last month. The database is read with the `sqlite3` shell, as an operator
//! would.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PURPOSE, TestApp, sha256_hex, spawn_app, wav};

/// Expired calls (each with a recording and its waveform).
const EXPIRED: usize = 300;
/// Recent calls that must survive every run.
const RECENT: usize = 20;
/// Rows per batch in the runs that are killed, so a kill lands between and
/// inside many batches.
const BATCH: &str = "7";

/// Today, as the binary under test sees it.
#[allow(
    clippy::disallowed_methods,
    reason = "the binary under test reads the real clock; the calls are placed relative to it"
)]
fn today() -> DateTime<Utc> {
    Utc::now()
}

/// One delivered call: the contact id as the API gives it and the
/// recording's sha256.
pub(crate) struct Call {
    pub(crate) id: String,
    pub(crate) sha256: String,
}

/// Delivers `n` calls that started `days_ago` days ago (a minute apart),
/// each with a distinct small recording, 8 at a time.
pub(crate) async fn deliver(app: &TestApp, n: usize, days_ago: i64, tag: &str) -> Vec<Call> {
    let start = today() - chrono::Duration::days(days_ago);
    futures::stream::iter(0..n)
        .map(|i| {
            let started = start - chrono::Duration::minutes(i as i64);
            async move {
                let contact = json!({
                    "external_id": format!("purge-{tag}-{i}"),
                    "channel": "call_in",
                    "started_at": started.to_rfc3339_opts(SecondsFormat::Secs, true),
                    "agent": "aino",
                    "customer": {"name": "Matti Meikäläinen", "phone": "040 123 4567"},
                });
                let id = app.new_contact(&contact).await;
                // Distinct bytes per call, so a sha256 names one recording.
                let recording = wav(800 + i as u32);
                let ack = app.store_recording(&id, &recording).await;
                assert_eq!(ack["sha256"], sha256_hex(&recording));
                Call {
                    id,
                    sha256: sha256_hex(&recording),
                }
            }
        })
        .buffer_unordered(8)
        .collect()
        .await
}

/// A contact id as the database's `lower(hex(id))` prints it.
pub(crate) fn hex_id(id: &str) -> String {
    id.replace('-', "").to_ascii_lowercase()
}

/// `sqlite3` output as a set of lines.
pub(crate) fn lines(text: &str) -> BTreeSet<String> {
    text.lines().map(str::to_owned).collect()
}

/// Runs `kirjuri purge ARGS` to completion (or fails the test after two
/// minutes) and returns (exit success, stdout).
fn purge(app: &TestApp, args: &[&str]) -> (bool, String) {
    let child = app
        .kirjuri()
        .command(&[&["purge"], args].concat())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kirjuri purge starts");
    // Read the output while waiting: a full pipe would stall the child.
    let pid = child.id();
    let (done, output) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let output = match output.recv_timeout(Duration::from_secs(120)) {
        Ok(output) => output.expect("kirjuri purge output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("kirjuri purge {args:?} did not finish in two minutes");
        }
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() || !stderr.is_empty(),
        "a failed purge says why"
    );
    (
        output.status.success(),
        String::from_utf8(output.stdout).expect("UTF-8 output"),
    )
}

/// Starts `kirjuri purge --batch BATCH` and SIGKILLs it after `delay`.
/// Returns whether it was still running when killed.
fn purge_killed_after(app: &TestApp, delay: Duration) -> bool {
    let mut child = app
        .kirjuri()
        .command(&["purge", "--batch", BATCH])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("kirjuri purge starts");
    std::thread::sleep(delay);
    let running = child.try_wait().expect("poll kirjuri purge").is_none();
    // SIGKILL: no destructor, no lease release, no flush.
    let _ = child.kill();
    child.wait().expect("reap kirjuri purge");
    running
}

/// The item lines of `kirjuri purge` output (the `#` lines are its summary).
pub(crate) fn item_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// What the database and the object folder hold, for the invariants.
pub(crate) struct Snapshot {
    /// `lower(hex(id))` of every object row.
    pub(crate) rows: BTreeSet<String>,
    /// `lower(hex(id))` of every tombstone.
    pub(crate) tombstones: BTreeSet<String>,
    /// Object ids with a file.
    pub(crate) files: BTreeSet<String>,
}

pub(crate) fn snapshot(app: &TestApp) -> Snapshot {
    let files = app
        .object_files()
        .iter()
        .filter_map(|f| {
            let name = f.file_name()?.to_str()?;
            let id = name.split('.').next()?;
            Some(hex_id(id))
        })
        .collect();
    Snapshot {
        rows: lines(&app.sql("SELECT lower(hex(id)) FROM objects;")),
        tombstones: lines(&app.sql("SELECT lower(hex(id)) FROM tombstones;")),
        files,
    }
}

/// At any point of a purge: an expired object has its row or its tombstone,
/// never both and never neither; a row always has its file (bytes go only
/// after the key); unexpired objects are untouched.
pub(crate) fn assert_consistent(
    app: &TestApp,
    expired: &BTreeSet<String>,
    recent: &BTreeSet<String>,
) {
    let s = snapshot(app);
    for id in expired {
        assert!(
            s.rows.contains(id) != s.tombstones.contains(id),
            "object {id}: row {} tombstone {}",
            s.rows.contains(id),
            s.tombstones.contains(id)
        );
        if s.rows.contains(id) {
            assert!(s.files.contains(id), "object {id} has its key but no file");
        }
    }
    for id in recent {
        assert!(
            s.rows.contains(id) && s.files.contains(id),
            "recent object {id}"
        );
        assert!(!s.tombstones.contains(id));
    }
}

#[tokio::test]
async fn a_purge_killed_at_random_points_is_completed_by_the_next_run_exactly_once() {
    // Arrange: expired and recent calls, delivered over the API.
    let mut app = spawn_app().await;
    let expired_calls = deliver(&app, EXPIRED, 400, "old").await;
    let recent_calls = deliver(&app, RECENT, 30, "new").await;
    // The purge under test is the command line's; `serve` would purge too.
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
    assert!(
        expired.len() >= EXPIRED,
        "each call has its recording (and its waveform)"
    );
    let expired_contacts: BTreeSet<String> = expired_calls.iter().map(|c| hex_id(&c.id)).collect();

    // The dry run lists every expired object and contact, and nothing else.
    let (ok, dry) = purge(&app, &["--dry-run"]);
    assert!(ok, "{dry}");
    let listed: BTreeMap<String, String> = item_lines(&dry)
        .iter()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 4, "kind, id, contact, deadline: {line:?}");
            (hex_id(fields[1]), fields[0].to_owned())
        })
        .collect();
    let listed_ids: BTreeSet<String> = listed.keys().cloned().collect();
    let mut wanted = expired.clone();
    wanted.extend(expired_contacts.iter().cloned());
    assert_eq!(listed_ids, wanted);
    assert!(
        dry.contains(&format!("# contact\t{EXPIRED}")),
        "counts per kind: {dry}"
    );
    assert!(
        !dry.contains("Matti") && !dry.contains("358401234567"),
        "ids only"
    );
    assert_consistent(&app, &expired, &recent);

    // Act: kill runs at spread-out points, checking consistency after each.
    let mut killed_mid_run = 0;
    for delay_ms in [150u64, 40, 300, 90, 450, 200, 600, 60] {
        // Jitter from the clock's low bits, so each test run kills elsewhere.
        let jitter = u64::from(today().timestamp_subsec_micros()) % 40;
        let running = purge_killed_after(&app, Duration::from_millis(delay_ms + jitter));
        killed_mid_run += usize::from(running);
        assert_consistent(&app, &expired, &recent);
        eprintln!(
            "killed after {delay_ms} ms (running: {running}): {} tombstones, {} unfinished",
            app.sql("SELECT count(*) FROM tombstones;").trim(),
            app.sql(
                "SELECT count(*) FROM tombstones \
                 WHERE ledgered_at IS NULL OR storage_deleted_at IS NULL;"
            )
            .trim()
        );
    }
    assert!(
        killed_mid_run > 0,
        "at least one run was killed while running"
    );
    let (ok, out) = purge(&app, &[]);
    assert!(ok, "the run after the kills completes: {out}");

    // Assert: everything expired gone exactly once, the rest intact.
    let s = snapshot(&app);
    assert!(
        s.rows.is_disjoint(&expired),
        "no expired object keeps its key"
    );
    assert!(
        s.files.is_disjoint(&expired),
        "no expired object keeps its file"
    );
    assert!(expired.is_subset(&s.tombstones));
    assert!(expired_contacts.is_subset(&s.tombstones));
    assert_eq!(
        s.tombstones.len(),
        expired.len() + expired_contacts.len(),
        "one tombstone each, nothing else"
    );
    assert!(recent.is_subset(&s.rows) && recent.is_subset(&s.files));
    assert_eq!(
        s.files, s.rows,
        "no file without a row, no row without a file"
    );
    assert_eq!(
        app.sql(
            "SELECT count(*) FROM tombstones \
             WHERE ledgered_at IS NULL OR storage_deleted_at IS NULL;"
        )
        .trim(),
        "0",
        "every tombstone is ledgered and its bytes deleted"
    );
    assert_eq!(app.sql("SELECT count(*) FROM pending_objects;").trim(), "0");
    let erased = lines(&app.sql(
        "SELECT lower(hex(id)) FROM contacts \
         WHERE length(sealed_document) = 0 AND length(document_key) = 0;",
    ));
    assert_eq!(erased, expired_contacts);
    assert_eq!(
        app.sql("SELECT count(*) FROM contact_index WHERE contact_id IN (SELECT id FROM contacts WHERE length(sealed_document) = 0);")
            .trim(),
        "0",
        "no blind index points at an erased contact"
    );
    // Audited exactly once each.
    let purged_events =
        lines(&app.sql("SELECT object FROM audit_events WHERE action = 'object.purged';"));
    assert_eq!(
        app.sql("SELECT count(*) FROM audit_events WHERE action = 'object.purged';")
            .trim(),
        expired.len().to_string()
    );
    assert_eq!(
        purged_events
            .iter()
            .map(|o| hex_id(o))
            .collect::<BTreeSet<_>>(),
        expired
    );
    assert_eq!(
        app.sql("SELECT count(*) FROM audit_events WHERE action = 'contact.erased';")
            .trim(),
        EXPIRED.to_string()
    );
    let verify = app.cli(&["audit", "verify"]);
    assert!(
        verify.status.success(),
        "audit verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    // A further run has nothing to do.
    let (ok, again) = purge(&app, &[]);
    assert!(ok && item_lines(&again).is_empty(), "{again}");

    // Through the API: recent recordings read back bit-exact; an expired
    // one is gone.
    app.start();
    for call in &recent_calls {
        let bytes = app.recording_as_supervisor(&call.id).await;
        assert_eq!(sha256_hex(&bytes), call.sha256);
    }
    let response = app
        .get_recording(&app.tokens.sanna, &expired_calls[0].id, Some(PURPOSE), None)
        .await;
    assert_eq!(response.status(), StatusCode::GONE);
    app.stop();
}

#[tokio::test]
async fn the_dry_run_prints_what_the_real_run_then_destroys() {
    let mut app = spawn_app().await;
    deliver(&app, 12, 420, "dry").await;
    deliver(&app, 3, 10, "kept").await;
    app.stop();

    let (ok, dry) = purge(&app, &["--dry-run"]);
    assert!(ok, "{dry}");
    let (ok, real) = purge(&app, &["--batch", "5"]);
    assert!(ok, "{real}");

    assert_eq!(item_lines(&dry), item_lines(&real));
    assert!(dry.contains("# contact\t12"), "{dry}");
    assert!(dry.contains("# recording\t12"), "{dry}");
    assert!(real.contains("# contact\t12"), "{real}");
    assert!(dry.contains("would destroy") && real.contains("destroyed"));
    let (ok, after) = purge(&app, &["--dry-run"]);
    assert!(ok && item_lines(&after).is_empty(), "{after}");
}
