//! `kirjuri import` (ING-2, ING-3): a PBX spool folder of WAV files with JSON
//! sidecars and an Asterisk `Master.csv` is imported item by item; bad files
//! are reported on stderr by name without stopping the rest; the command exits
//! 1 when anything failed; a second run adds nothing; and it works both with
//! the server stopped and while it runs, which then serves the imports at once.

use std::path::Path;

use serde_json::{Value, json};

use crate::helpers::{
    PURPOSE, TestApp, call, ids_of, json_ok, noise_wav, sha256_hex, spawn_app, wav,
};

/// What the spool folder holds and what a correct import makes of it.
struct Spool {
    /// (customer phone as searched, the WAV bytes) for each good sidecar pair.
    good: Vec<(String, Vec<u8>)>,
    /// The CDR row with a recording: (caller, bytes).
    cdr_with_wav: (String, Vec<u8>),
    /// The CDR row without one: caller.
    cdr_without_wav: String,
    /// Customer phones of the bad items, which must not be imported.
    bad_phones: Vec<String>,
}

fn sidecar(external_id: &str, agent: &str, phone: &str) -> Value {
    let mut sidecar = call(agent);
    sidecar["external_id"] = json!(external_id);
    sidecar["customer"] = json!({"name": format!("Import customer {external_id}"), "phone": phone});
    sidecar
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn write_json(path: &Path, value: &Value) {
    write(path, &serde_json::to_vec_pretty(value).expect("serialise"));
}

/// Fills `dir` with 3 good pairs, a bad WAV with its sidecar, a sidecar with an
/// unknown field, a WAV without a sidecar, and a Master.csv of two rows.
fn make_spool(dir: &Path) -> Spool {
    let mut good = Vec::new();
    for n in 1..=3 {
        let phone = format!("040 555 000{n}");
        let bytes = noise_wav(50_000 + n * 1000, n as u64);
        write(&dir.join(format!("call-{n}.wav")), &bytes);
        write_json(
            &dir.join(format!("call-{n}.json")),
            &sidecar(&format!("imp-good-{n}"), "aino", &phone),
        );
        good.push((phone, bytes));
    }
    write(
        &dir.join("broken.wav"),
        b"ID3\x04\x00\x00 this is an mp3, not a wav",
    );
    write_json(
        &dir.join("broken.json"),
        &sidecar("imp-broken", "aino", "040 555 0091"),
    );
    write(&dir.join("extra-field.wav"), &wav(800));
    let mut extra = sidecar("imp-extra", "aino", "040 555 0092");
    extra["colour"] = json!("red");
    write_json(&dir.join("extra-field.json"), &extra);
    write(&dir.join("lonely.wav"), &wav(800));

    let cdr_wav = noise_wav(40_000, 99);
    write(&dir.join("1764400500.1.wav"), &cdr_wav);
    let csv = concat!(
        r#""","0401112233","200","from-pstn","""Kalle Kaupunki"" <0401112233>","PJSIP/trunk-00000001","PJSIP/aino-0000001a","Dial","PJSIP/aino,30","2026-11-29 09:15:00","2026-11-29 09:15:05","2026-11-29 09:18:05",185,180,"ANSWERED","DOCUMENTATION","1764400500.1","""#,
        "\n",
        r#""","0409998877","200","from-pstn","""Liisa Laakso"" <0409998877>","PJSIP/trunk-00000002","PJSIP/bertta-0000001b","Dial","PJSIP/bertta,30","2026-11-29 10:00:00","2026-11-29 10:00:04","2026-11-29 10:02:04",124,120,"ANSWERED","DOCUMENTATION","1764403200.2","""#,
        "\n",
    );
    write(&dir.join("Master.csv"), csv.as_bytes());
    Spool {
        good,
        cdr_with_wav: ("0401112233".into(), cdr_wav),
        cdr_without_wav: "0409998877".into(),
        bad_phones: vec!["040 555 0091".into(), "040 555 0092".into()],
    }
}

/// Runs `kirjuri import DIR` on the app's data folder.
fn import(app: &TestApp, dir: &Path) -> (Option<i32>, String, String) {
    let output = app.cli(&["import", dir.to_str().expect("a UTF-8 path")]);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The one contact a supervisor finds by `phone`, asserting there is exactly one.
async fn only_contact_by_phone(app: &TestApp, phone: &str) -> Value {
    let found = json_ok(
        app.search(&app.tokens.sanna, &[("phone", phone), ("purpose", PURPOSE)])
            .await,
    )
    .await;
    assert_eq!(
        ids_of(&found).len(),
        1,
        "exactly one contact for {phone}: {found}"
    );
    found["contacts"][0].clone()
}

/// Numbers N in "N new …" phrases of a summary.
fn new_counts(summary: &str) -> Vec<u64> {
    let words: Vec<&str> = summary.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[1].starts_with("new"))
        .filter_map(|w| {
            w[0].trim_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()
        })
        .collect()
}

/// Asserts the first import's exit status, summary and per-file errors.
fn assert_first_report(status: Option<i32>, stdout: &str, stderr: &str) {
    assert_eq!(
        status,
        Some(1),
        "an import with failures exits 1\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(!stdout.trim().is_empty(), "the import prints a summary");
    let lines: Vec<&str> = stderr.lines().collect();
    let line_naming = |name: &str| lines.iter().any(|l| l.contains(name));
    assert!(
        line_naming("broken.wav"),
        "the bad WAV is reported by name:\n{stderr}"
    );
    assert!(
        line_naming("extra-field.json")
            || lines.iter().any(|l| l.contains("extra-field.wav")
                && l.contains("sidecar")
                && l.contains("colour")),
        "the sidecar with an unknown field is reported by name, with the field:\n{stderr}"
    );
    assert!(
        line_naming("lonely.wav"),
        "the WAV without a sidecar is reported by name:\n{stderr}"
    );
    for (name, why) in [
        ("call-1", "good"),
        ("1764400500.1", "a CDR recording"),
        ("Master.csv", "good CDR rows"),
    ] {
        assert!(
            !line_naming(name),
            "{name} ({why}) must not be reported as an error:\n{stderr}"
        );
    }
}

/// Asserts what the API serves after the first import.
async fn assert_imported(app: &TestApp, spool: &Spool) {
    for (phone, bytes) in &spool.good {
        let contact = only_contact_by_phone(app, phone).await;
        let id = contact["id"].as_str().expect("an id");
        assert_eq!(
            contact["recording"]["sha256"],
            json!(sha256_hex(bytes)),
            "{phone}: {contact}"
        );
        assert!(
            app.recording_as_supervisor(id).await[..] == bytes[..],
            "{phone}: the recording reads back wrong"
        );
    }
    let (caller, bytes) = &spool.cdr_with_wav;
    let cdr = only_contact_by_phone(app, caller).await;
    assert_eq!(
        cdr["agent"],
        json!("aino"),
        "the agent is the peer of dstchannel: {cdr}"
    );
    assert_eq!(cdr["channel"], json!("call_in"), "{cdr}");
    assert_eq!(cdr["customer"]["phone"], json!("+358401112233"), "{cdr}");
    assert!(
        app.recording_as_supervisor(cdr["id"].as_str().expect("id"))
            .await[..]
            == bytes[..]
    );
    let other = only_contact_by_phone(app, &spool.cdr_without_wav).await;
    assert_eq!(other["agent"], json!("bertta"), "{other}");
    assert!(
        other.get("recording").is_none_or(Value::is_null),
        "no WAV, no recording: {other}"
    );
    for phone in &spool.bad_phones {
        let found = json_ok(
            app.search(&app.tokens.sanna, &[("phone", phone), ("purpose", PURPOSE)])
                .await,
        )
        .await;
        assert!(
            ids_of(&found).is_empty(),
            "a failed item leaves no contact ({phone}): {found}"
        );
    }
    assert_eq!(
        app.all_contact_ids().await.len(),
        5,
        "3 sidecar pairs and 2 CDR rows are imported"
    );
}

/// Runs the import again (with the server stopped for it when `offline`)
/// and asserts it adds nothing.
async fn assert_second_import_adds_nothing(app: &mut TestApp, dir: &Path, offline: bool) {
    let before = app.all_contact_ids().await;
    let files_before = app.object_files();
    if offline {
        app.stop();
    }
    let (status, stdout, stderr) = import(app, dir);
    if offline {
        app.start();
    }
    assert_eq!(
        status,
        Some(1),
        "the bad files still fail\nstdout: {stdout}\nstderr: {stderr}"
    );
    let counts = new_counts(&stdout);
    assert!(!counts.is_empty(), "the summary counts new items: {stdout}");
    assert!(
        counts.iter().all(|n| *n == 0),
        "a second run reports nothing new: {stdout}"
    );
    assert!(
        stdout.contains("already present"),
        "a second run reports what was already there: {stdout}"
    );
    assert_eq!(
        app.all_contact_ids().await,
        before,
        "a second run leaves the contacts unchanged"
    );
    assert_eq!(
        app.object_files(),
        files_before,
        "a second run stores no new objects"
    );
}

#[tokio::test]
async fn an_import_with_the_server_stopped_takes_the_good_files_reports_the_bad_and_is_idempotent()
{
    // Arrange: a data folder with its accounts, and no server running.
    let mut app = spawn_app().await;
    assert_eq!(app.healthz().await.status(), reqwest::StatusCode::OK);
    app.stop();
    let spool_dir = tempfile::tempdir().expect("a spool folder");
    let spool = make_spool(spool_dir.path());

    // Act
    let (status, stdout, stderr) = import(&app, spool_dir.path());
    app.start();

    // Assert
    assert_imported(&app, &spool).await;
    assert_second_import_adds_nothing(&mut app, spool_dir.path(), true).await;
    assert_first_report(status, &stdout, &stderr);
}

#[tokio::test]
async fn an_import_while_the_server_runs_is_served_at_once_and_is_idempotent() {
    // Arrange
    let mut app = spawn_app().await;
    let before = app.all_contact_ids().await;
    let spool_dir = tempfile::tempdir().expect("a spool folder");
    let spool = make_spool(spool_dir.path());

    // Act
    let (status, stdout, stderr) = import(&app, spool_dir.path());

    // Assert
    assert!(before.is_empty());
    assert_imported(&app, &spool).await;
    assert_second_import_adds_nothing(&mut app, spool_dir.path(), false).await;
    let health = app.healthz().await;
    assert_eq!(
        health.status(),
        reqwest::StatusCode::OK,
        "the server kept running through the imports"
    );
    assert_first_report(status, &stdout, &stderr);
}
