//! `kirjuri backup` and `kirjuri restore` (issue 5) through the real binary:
//! a backup taken while `serve` runs, a purge after it, and a restore whose
//! erasure-ledger replay leaves what was erased after the backup unreadable
//! while everything else comes back bit for bit; and hostile backup folders,
//! ledgers and moments refused with nothing half-restored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    PURPOSE, TestApp, call, files_under, find_in_files, noise_wav, sha256_hex, spawn_app_with_env,
};

/// The background purge must not run on its own during a test.
const QUIET_PURGE: (&str, &str) = ("KIRJURI_RETENTION__PURGE_INTERVAL_SECONDS", "86400");

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a command that must succeed; returns its stdout.
fn ok(app: &TestApp, args: &[&str]) -> String {
    let output = app.cli(args);
    assert!(
        output.status.success(),
        "kirjuri {args:?} failed:\n{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// Runs a command that must fail; returns its stderr.
fn refused(app: &TestApp, args: &[&str]) -> String {
    let output = app.cli(args);
    assert!(
        !output.status.success(),
        "kirjuri {args:?} should have failed:\n{}",
        stdout(&output)
    );
    stderr(&output)
}

/// A call with a customer whose name and number the ledger must never see.
async fn call_with_customer(app: &TestApp, started_at: &str, name: &str, phone: &str) -> String {
    let mut contact = call("aino");
    contact["started_at"] = json!(started_at);
    contact["ended_at"] = Value::Null;
    contact["customer"] = json!({"name": name, "phone": phone});
    app.new_contact(&contact).await
}

/// The contact's object ids by kind, as a supervisor sees them.
async fn objects_of(app: &TestApp, contact: &str) -> BTreeMap<String, String> {
    let view = app.contact_as_supervisor(contact).await;
    view["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap().to_owned(),
                o["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Where an object file lives under an `objects/` folder (the data
/// folder's and a backup's share the layout).
fn object_file(objects: &Path, id: &str) -> PathBuf {
    objects.join(&id[id.len() - 2..]).join(format!("{id}.kjr"))
}

/// Every file under `dir` with its SHA-256, by relative path.
fn fingerprint(dir: &Path) -> BTreeMap<String, String> {
    files_under(dir)
        .into_iter()
        .map(|path| {
            let name = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, sha256_hex(&std::fs::read(&path).unwrap()))
        })
        .collect()
}

/// The data folder's database and objects, fingerprinted (the server is
/// stopped, so they are at rest); instance lock files are left out.
fn data_fingerprint(app: &TestApp) -> BTreeMap<String, String> {
    fingerprint(app.data_dir())
        .into_iter()
        .filter(|(name, _)| !name.starts_with("instances/"))
        .collect()
}

fn no_restore_leftovers(app: &TestApp) {
    let leftovers: Vec<String> = std::fs::read_dir(app.data_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".restore"))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

#[tokio::test]
async fn a_restored_backup_keeps_what_was_erased_after_it_unreadable_and_the_rest_bit_exact() {
    // Arrange: two calls from 2024 (past every deadline at the real now) and
    // two from today, each with its own recording; a backup taken while
    // `serve` runs.
    let mut app = spawn_app_with_env(&[QUIET_PURGE]).await;
    let old: Vec<(String, Vec<u8>)> = {
        let mut old = Vec::new();
        for (i, (name, phone)) in [
            ("Outi Vanhanen", "040 555 7101"),
            ("Oskari Ikävä", "040 555 7102"),
        ]
        .into_iter()
        .enumerate()
        {
            let id = call_with_customer(&app, "2024-01-10T10:00:00+02:00", name, phone).await;
            let wav = noise_wav(40_000 + i * 1000, 71 + i as u64);
            app.store_recording(&id, &wav).await;
            old.push((id, wav));
        }
        old
    };
    let mut recent = Vec::new();
    for i in 0..2 {
        let id = app.new_call("aino").await;
        let wav = noise_wav(150_000 + i * 1000, 90 + i as u64);
        app.store_recording(&id, &wav).await;
        recent.push((id, wav));
    }
    let old_objects = objects_of(&app, &old[0].0).await;
    let old_recording = old_objects["recording"].clone();
    let old_sha = app.contact_as_supervisor(&old[0].0).await["recording"]["sha256"].clone();
    let backup_dir = tempfile::tempdir().unwrap();
    let backup = backup_dir.path().join("backup");
    let summary = ok(&app, &["backup", "--out", backup.to_str().unwrap()]);
    assert!(summary.contains("contacts: 4"), "{summary}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["ledger"]["seq"], 0,
        "nothing erased yet: {manifest}"
    );
    assert!(!backup.join("keys").exists(), "keys only on request");
    let backed_up_copy = object_file(&backup.join("objects"), &old_recording);
    assert!(backed_up_copy.is_file());

    // Act: the purge erases the old calls after the backup; then the backup
    // is restored over the data folder and the ledger replayed.
    let purged = ok(&app, &["purge"]);
    assert!(purged.contains(&old_recording), "{purged}");
    app.stop();
    let restored = ok(
        &app,
        &["restore", "--from", backup.to_str().unwrap(), "--force"],
    );
    app.start();

    // Assert: the replay destroyed the old recordings' keys again and erased
    // the old contacts; their tombstones are in place.
    assert!(restored.contains("restored: 4 contacts"), "{restored}");
    assert!(restored.contains("contacts erased: 2"), "{restored}");
    let shredded: u64 = restored
        .split("objects made unreadable: ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{restored}"));
    assert!(
        shredded >= 2,
        "both old recordings (and any derived objects): {restored}"
    );
    for (id, _) in &old {
        let response = app
            .get_recording(&app.tokens.sanna, id, Some(PURPOSE), None)
            .await;
        assert_eq!(response.status(), StatusCode::GONE, "recording of {id}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["tombstone"]["kind"], "recording", "{body}");
        let contact = app.get_contact(&app.tokens.sanna, id, Some(PURPOSE)).await;
        assert_eq!(contact.status(), StatusCode::GONE, "contact {id}");
        let body: Value = contact.json().await.unwrap();
        assert_eq!(body["error"]["tombstone"]["kind"], "contact", "{body}");
    }
    let response = app
        .get_recording(&app.tokens.sanna, &old[0].0, Some(PURPOSE), None)
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["tombstone"]["sha256"], old_sha, "{body}");
    let reasons =
        app.sql("SELECT reason, count(*) FROM tombstones GROUP BY reason ORDER BY reason;");
    assert!(reasons.contains("ledger_replay|"), "{reasons}");

    // The old recording's file from the backup cannot be opened again: its
    // wrapped key is gone from the restored database, so even put back into
    // object storage it is only ciphertext no key opens.
    let hex = old_recording.replace('-', "");
    let rows = app.sql(&format!(
        "SELECT count(*) FROM objects WHERE id = X'{hex}';"
    ));
    assert_eq!(rows.trim(), "0", "the wrapped key is gone");
    let data_copy = object_file(&app.data_dir().join("objects"), &old_recording);
    assert!(!data_copy.exists(), "the replay deleted the restored file");
    std::fs::copy(&backed_up_copy, &data_copy).unwrap();
    let response = app
        .get_recording(&app.tokens.sanna, &old[0].0, Some(PURPOSE), None)
        .await;
    assert_eq!(response.status(), StatusCode::GONE);

    // Unexpired data is intact, bit for bit.
    for (id, wav) in &recent {
        assert_eq!(
            app.recording_as_supervisor(id).await.as_ref(),
            &wav[..],
            "{id}"
        );
        app.contact_as_supervisor(id).await;
    }

    // The audit log verifies, and records the restore and the replay.
    let verify = ok(&app, &["audit", "verify"]);
    assert!(verify.contains("intact"), "{verify}");
    let actions = app.sql(
        "SELECT action, count(*) FROM audit_events WHERE action IN \
         ('backup.created', 'backup.restored', 'object.replay_shredded', 'contact.replay_erased') \
         GROUP BY action ORDER BY action;",
    );
    assert!(actions.contains("backup.restored|1"), "{actions}");
    assert!(actions.contains("contact.replay_erased|2"), "{actions}");
    assert!(
        actions.contains(&format!("object.replay_shredded|{shredded}")),
        "{actions}"
    );

    // The ledger names what was erased by id and digest only: neither the
    // customers' names nor their numbers are in it.
    let ledger = app.data_dir().join("erasure-ledger");
    let ledger_text: String = files_under(&ledger)
        .iter()
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
        .collect();
    assert!(ledger_text.contains(&old_recording));
    let needles: Vec<(String, Vec<u8>)> = [
        "Outi Vanhanen",
        "Oskari Ikävä",
        "040 555 7101",
        "+358405557101",
        "405557102",
    ]
    .iter()
    .map(|n| ((*n).to_owned(), n.as_bytes().to_vec()))
    .collect();
    let found = find_in_files(&ledger, &needles);
    assert!(found.is_empty(), "personal data in the ledger: {found:?}");
    no_restore_leftovers(&app);
}

#[tokio::test]
async fn a_tampered_altered_or_incomplete_backup_is_refused_and_nothing_is_restored() {
    // Arrange: a data folder with one recording, its backup, the server
    // stopped, and the data folder's files fingerprinted.
    let mut app = spawn_app_with_env(&[QUIET_PURGE]).await;
    let id = app.new_call("aino").await;
    app.store_recording(&id, &noise_wav(30_000, 5)).await;
    let recording = objects_of(&app, &id).await["recording"].clone();
    let root = tempfile::tempdir().unwrap();
    let backup = root.path().join("backup");
    ok(&app, &["backup", "--out", backup.to_str().unwrap()]);
    app.stop();
    let before = data_fingerprint(&app);
    let pristine = root.path().join("pristine");
    copy_dir(&backup, &pristine);
    let restore = |app: &TestApp, from: &Path| {
        refused(
            app,
            &["restore", "--from", from.to_str().unwrap(), "--force"],
        )
    };

    // A manifest with one number changed.
    let manifest_path = backup.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path).unwrap();
    let tampered = text.replacen("\"contacts\": 1", "\"contacts\": 2", 1);
    assert_ne!(text, tampered);
    std::fs::write(&manifest_path, tampered).unwrap();
    let error = restore(&app, &backup);
    assert!(error.contains("not signed by the audit key"), "{error}");
    assert!(error.contains("nothing was restored"), "{error}");

    // An object file with one byte flipped.
    reset(&pristine, &backup);
    let file = object_file(&backup.join("objects"), &recording);
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&file, bytes).unwrap();
    let error = restore(&app, &backup);
    assert!(error.contains("does not match its manifest"), "{error}");
    assert!(error.contains(&recording), "names the object: {error}");

    // An object file missing.
    reset(&pristine, &backup);
    std::fs::remove_file(object_file(&backup.join("objects"), &recording)).unwrap();
    let error = restore(&app, &backup);
    assert!(error.contains("missing"), "{error}");

    // The database swapped for another.
    reset(&pristine, &backup);
    std::fs::write(
        backup.join("kirjuri.db"),
        b"SQLite format 3\0 but not this one",
    )
    .unwrap();
    let error = restore(&app, &backup);
    assert!(
        error.contains("kirjuri.db does not match its manifest"),
        "{error}"
    );

    // A folder that is not a backup (or whose backup never finished).
    let error = restore(&app, root.path());
    assert!(error.contains("has no manifest.json"), "{error}");

    // Assert: the data folder is exactly as it was, with nothing staged.
    assert_eq!(data_fingerprint(&app), before);
    no_restore_leftovers(&app);
    // And the pristine backup still restores.
    ok(
        &app,
        &["restore", "--from", pristine.to_str().unwrap(), "--force"],
    );

    // A backup never goes into a folder that holds something.
    let occupied = root.path().join("occupied");
    std::fs::create_dir(&occupied).unwrap();
    std::fs::write(occupied.join("notes.txt"), b"keep me").unwrap();
    let error = refused(&app, &["backup", "--out", occupied.to_str().unwrap()]);
    assert!(error.contains("is not empty"), "{error}");
    assert_eq!(
        std::fs::read(occupied.join("notes.txt")).unwrap(),
        b"keep me"
    );
    assert_eq!(files_under(&occupied).len(), 1);
}

#[tokio::test]
async fn a_restore_is_refused_while_serve_runs_without_force_or_over_a_damaged_or_lost_ledger() {
    // Arrange: a backup, then a purge that writes the ledger's first block.
    let mut app = spawn_app_with_env(&[QUIET_PURGE]).await;
    let old = call_with_customer(
        &app,
        "2024-02-01T10:00:00+02:00",
        "Lea Ledger",
        "040 555 7201",
    )
    .await;
    app.store_recording(&old, &noise_wav(20_000, 3)).await;
    let root = tempfile::tempdir().unwrap();
    let backup = root.path().join("backup");
    let from = backup.to_str().unwrap().to_owned();
    ok(&app, &["backup", "--out", &from]);
    ok(&app, &["purge"]);

    // While serve runs: refused, and serve keeps serving.
    let error = refused(&app, &["restore", "--from", &from, "--force"]);
    assert!(
        error.contains("in use by a running kirjuri process"),
        "{error}"
    );
    assert_eq!(app.healthz().await.status(), StatusCode::OK);
    app.stop();
    let before = data_fingerprint(&app);

    // Without --force over an existing database: refused.
    let error = refused(&app, &["restore", "--from", &from]);
    assert!(error.contains("--force"), "{error}");

    // A ledger with a flipped byte: refused, naming the block, saying what
    // to do.
    let ledger = app.data_dir().join("erasure-ledger");
    let ledger_file = ledger.join("ledger-00000001.jsonl");
    let original = std::fs::read(&ledger_file).unwrap();
    let mut damaged = original.clone();
    // Inside the first block's body (its line starts with the signature).
    damaged[150] ^= 0x01;
    make_writable(&ledger_file);
    std::fs::write(&ledger_file, &damaged).unwrap();
    let error = refused(&app, &["restore", "--from", &from, "--force"]);
    assert!(error.contains("fails verification at block 1"), "{error}");
    assert!(error.contains("write-once copy"), "{error}");

    std::fs::write(&ledger_file, &original).unwrap();
    assert_eq!(data_fingerprint(&app), before, "nothing changed");
    no_restore_leftovers(&app);

    // A ledger lost after the purge: a backup taken after it recorded a
    // head the ledger no longer has.
    let later = root.path().join("later");
    app.start();
    ok(&app, &["backup", "--out", later.to_str().unwrap()]);
    app.stop();
    let before_loss = data_fingerprint(&app);
    let moved = root.path().join("ledger-moved-away");
    std::fs::rename(&ledger, &moved).unwrap();
    let error = refused(
        &app,
        &["restore", "--from", later.to_str().unwrap(), "--force"],
    );
    assert!(error.contains("lost, replaced or rolled back"), "{error}");
    std::fs::rename(&moved, &ledger).unwrap();

    assert_eq!(data_fingerprint(&app), before_loss, "nothing changed");
    no_restore_leftovers(&app);
}

fn make_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Puts the pristine backup back.
fn reset(pristine: &Path, backup: &Path) {
    std::fs::remove_dir_all(backup).unwrap();
    copy_dir(pristine, backup);
}

#[tokio::test]
async fn a_backup_with_its_keys_restores_into_a_folder_that_lost_them_and_a_wrong_key_file_is_refused()
 {
    use std::os::unix::fs::PermissionsExt;

    // Arrange: one recording; a backup with the keys and one without.
    let mut app = spawn_app_with_env(&[QUIET_PURGE]).await;
    let id = app.new_call("aino").await;
    let wav = noise_wav(60_000, 11);
    app.store_recording(&id, &wav).await;
    let root = tempfile::tempdir().unwrap();
    let with_keys = root.path().join("with-keys");
    let keyless = root.path().join("keyless");
    let output = app.cli(&[
        "backup",
        "--out",
        with_keys.to_str().unwrap(),
        "--include-keys",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("WARNING"),
        "a loud note: {}",
        stderr(&output)
    );
    for name in ["keyring.json", "audit-signing.key"] {
        let mode = std::fs::metadata(with_keys.join("keys").join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    ok(&app, &["backup", "--out", keyless.to_str().unwrap()]);
    app.stop();
    let keys = app.data_dir().join("keys");

    // Act 1: the data folder loses its keys; the backup with keys restores
    // them along with the data.
    std::fs::remove_dir_all(&keys).unwrap();
    let restored = app.cli(&["restore", "--from", with_keys.to_str().unwrap(), "--force"]);
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert!(
        stdout(&restored).contains("installed key file"),
        "{}",
        stdout(&restored)
    );
    assert!(
        stderr(&restored).contains("its own copy of the key"),
        "says what the signature proves: {}",
        stderr(&restored)
    );
    app.start();
    assert_eq!(app.recording_as_supervisor(&id).await.as_ref(), &wav[..]);
    app.stop();

    // Act 2: a key-encryption key file that is not the backup's.
    std::fs::rename(keys.join("keyring.json"), root.path().join("keyring.json")).unwrap();
    ok(&app, &["user", "list"]); // opening the folder makes a fresh key file
    assert!(keys.join("keyring.json").exists());
    let before = data_fingerprint(&app);
    let error = refused(
        &app,
        &["restore", "--from", keyless.to_str().unwrap(), "--force"],
    );
    assert!(
        error.contains("cannot unwrap this backup's data keys"),
        "{error}"
    );
    assert_eq!(data_fingerprint(&app), before, "nothing restored");

    // Act 3: no keys at all, and a backup without them.
    std::fs::remove_dir_all(&keys).unwrap();
    let error = refused(
        &app,
        &["restore", "--from", keyless.to_str().unwrap(), "--force"],
    );
    assert!(error.contains("no audit signing key"), "{error}");
    no_restore_leftovers(&app);
}
