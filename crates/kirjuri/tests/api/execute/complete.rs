//! Issue 12: an erasure is complete, through the real binary. A subject
//! found by five kinds of identifier (phone as the contact person's, email,
//! customer number, property id, and the name every search can use) leaves
//! only the contact an active legal hold keeps, whose recording still
//! reads bit for bit, and a receipt that names the hold's ground and end
//! date, cites the erasure-ledger block and holds none of the subject's
//! data; two parallel executions erase once; a backup taken before the
//! erasure and restored into a fresh data folder (with the erasure
//! ledger's copy) serves none of it; and an erasure whose object deletion
//! failed refuses a second execution and is finished by the purge.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::Months;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{execute, post, verify_in_person};
use crate::helpers::{
    KIRJURI, PURPOSE, TestApp, assert_error, call, files_under, ids_of, json_ok, noise_wav,
    spawn_app_with_env,
};
use crate::holds::server_today;

/// The background purge must not run on its own during a test.
const QUIET_PURGE: (&str, &str) = ("KIRJURI_RETENTION__PURGE_INTERVAL_SECONDS", "86400");

const PHONE: &str = "040 555 8801";
const PHONE_E164: &str = "+358405558801";
const EMAIL: &str = "Eija.Erasmus@Esimerkki.FI";
const CUSTOMER: &str = "ER-70031";
const PROPERTY: &str = "91-403-77-12";
const NAME: &str = "Eija Erasmus-Esimerkki";

/// The subject's contacts, each found by another identifier, and the one a
/// hold keeps (it bears them all).
struct Subject {
    by_phone: String,
    by_email: String,
    by_customer: String,
    by_property: String,
    held: String,
    held_wav: Vec<u8>,
    /// Someone else's contact, with a recording.
    other: String,
    other_wav: Vec<u8>,
}

impl Subject {
    fn erasable(&self) -> [&str; 4] {
        [
            &self.by_phone,
            &self.by_email,
            &self.by_customer,
            &self.by_property,
        ]
    }
}

/// Posts `contact` with a recording of `seed`'s noise; answers its id and
/// the recording.
async fn with_recording(app: &TestApp, contact: &Value, seed: u64) -> (String, Vec<u8>) {
    let id = app.new_contact(contact).await;
    let wav = noise_wav(70_000 + seed as usize * 1000, seed);
    app.store_recording(&id, &wav).await;
    (id, wav)
}

/// The subject's five contacts and someone else's.
async fn subject(app: &TestApp) -> Subject {
    let base = call("aino");
    let mut c = base.clone();
    c["contact_person"] = json!({"name": NAME, "phone": PHONE});
    let (by_phone, _) = with_recording(app, &c, 1).await;
    let mut c = base.clone();
    c["customer"] = json!({"name": NAME, "email": EMAIL});
    let (by_email, _) = with_recording(app, &c, 2).await;
    let mut c = base.clone();
    c["customer"] = json!({"name": NAME});
    c["account"] = json!({"customer_number": CUSTOMER});
    let (by_customer, _) = with_recording(app, &c, 3).await;
    let mut c = base.clone();
    c["property"] = json!({"property_id": PROPERTY});
    let (by_property, _) = with_recording(app, &c, 4).await;
    let mut c = base.clone();
    c["customer"] = json!({"name": NAME, "phone": PHONE, "email": EMAIL});
    c["account"] = json!({"customer_number": CUSTOMER});
    c["property"] = json!({"property_id": PROPERTY});
    let (held, held_wav) = with_recording(app, &c, 5).await;
    let mut c = base;
    c["customer"] = json!({"name": "Olli Ohikulkija", "phone": "040 555 8899"});
    c["account"] = json!({"customer_number": "ER-99999"});
    let (other, other_wav) = with_recording(app, &c, 6).await;
    Subject {
        by_phone,
        by_email,
        by_customer,
        by_property,
        held,
        held_wav,
        other,
        other_wav,
    }
}

/// The searches by each identifier, as a supervisor makes them.
const SEARCHES: [(&str, &str); 5] = [
    ("phone", PHONE),
    ("email", EMAIL),
    ("customer_number", CUSTOMER),
    ("property_id", PROPERTY),
    ("name", NAME),
];

async fn found(app: &TestApp, field: &str, value: &str) -> BTreeSet<String> {
    let answer = json_ok(
        app.search(&app.tokens.sanna, &[(field, value), ("purpose", PURPOSE)])
            .await,
    )
    .await;
    ids_of(&answer)
}

/// An erasure request naming all four searchable identifiers and the
/// name, registered and verified in person by `token`; answers its id.
async fn verified_request(app: &TestApp, token: &str) -> String {
    let response = post(
        app,
        token,
        "/api/v1/requests",
        &json!({
            "types": ["erasure"],
            "channel": "in_person",
            "language": "fi",
            "identifiers": {
                "phone": [PHONE],
                "email": [EMAIL],
                "customer_number": [CUSTOMER],
                "property_id": [PROPERTY],
            },
            "name": NAME,
        }),
    )
    .await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let created: Value = serde_json::from_str(&text).unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    verify_in_person(app, token, &id).await;
    id
}

/// A hold on `contact` with ground kind `complaint`, ending `expires_on`.
async fn hold(app: &TestApp, token: &str, contact: &str, expires_on: &str) {
    let review = (server_today(app).await + Months::new(2)).to_string();
    let response = post(
        app,
        token,
        "/api/v1/holds",
        &json!({
            "contact": contact,
            "ground_kind": "complaint",
            "ground": "Complaint 2026-511 (Consumer Disputes Board)",
            "owner": "sanna",
            "review_by": review,
            "expires_at": expires_on,
        }),
    )
    .await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "placing a hold: {text}");
}

/// The ids of a contact's stored objects (recording, waveform, …).
async fn object_ids(app: &TestApp, contact: &str) -> Vec<String> {
    let view = app.contact_as_supervisor(contact).await;
    view["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

/// `kirjuri receipt verify` of `receipt`: (exit success, stdout).
fn verify_receipt(receipt: &Value) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("receipt.json");
    std::fs::write(&file, serde_json::to_vec(receipt).unwrap()).unwrap();
    let output = Command::new(KIRJURI)
        .env_clear()
        .args(["receipt", "verify"])
        .arg(&file)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// The erasure ledger's blocks, in order, as JSON.
fn ledger_blocks(ledger: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = files_under(ledger)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()["block"].clone())
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn receipt_of(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.get(
        Some(token),
        &app.url(&format!("/api/v1/requests/{id}/receipt")),
        None,
    )
    .await
}

#[tokio::test]
async fn an_erasure_leaves_only_the_held_contact_findable_by_any_identifier_and_bit_exact() {
    // Arrange: the subject's contacts, a hold on one of them.
    let app = spawn_app_with_env(&[QUIET_PURGE]).await;
    let rea = app.add_account("rea", "registrar");
    let s = subject(&app).await;
    let expires_on = (server_today(&app).await + Months::new(6)).to_string();
    hold(&app, &rea, &s.held, &expires_on).await;
    let everyone = |ids: &[&str]| ids.iter().map(|i| (*i).to_owned()).collect::<BTreeSet<_>>();
    let before = [
        everyone(&[&s.by_phone, &s.held]),
        everyone(&[&s.by_email, &s.held]),
        everyone(&[&s.by_customer, &s.held]),
        everyone(&[&s.by_property, &s.held]),
        everyone(&[&s.by_phone, &s.by_email, &s.by_customer, &s.held]),
    ];
    for ((field, value), expected) in SEARCHES.iter().zip(&before) {
        assert_eq!(&found(&app, field, value).await, expected, "{field} before");
    }
    let id = verified_request(&app, &rea).await;

    // Act
    let done = json_ok(execute(&app, &rea, &id).await).await;

    // Assert: four contacts erased; every search finds the held one only.
    assert_eq!(done["erased"]["contacts"], 4, "{done}");
    assert!(done["erased"]["objects"].as_u64().unwrap() >= 4, "{done}");
    let held_objects = object_ids(&app, &s.held).await.len() as u64;
    assert_eq!(
        done["kept"],
        json!([{
            "ground": "complaint",
            "until": expires_on,
            "counts": {"contacts": 1, "objects": held_objects},
        }]),
        "{done}"
    );
    assert_eq!(done["receipt"]["receipt"]["kept"], done["kept"]);
    for (field, value) in SEARCHES {
        assert_eq!(
            found(&app, field, value).await,
            everyone(&[&s.held]),
            "{field} after"
        );
    }
    for contact in s.erasable() {
        let response = app
            .get_contact(&app.tokens.sanna, contact, Some(PURPOSE))
            .await;
        assert_eq!(response.status(), StatusCode::GONE, "contact {contact}");
        let response = app
            .get_recording(&app.tokens.sanna, contact, Some(PURPOSE), None)
            .await;
        assert_eq!(response.status(), StatusCode::GONE, "recording {contact}");
    }
    assert_eq!(
        app.recording_as_supervisor(&s.held).await.as_ref(),
        &s.held_wav[..]
    );
    assert_eq!(
        app.recording_as_supervisor(&s.other).await.as_ref(),
        &s.other_wav[..]
    );
}

#[tokio::test]
async fn the_receipt_verifies_cites_the_ledger_block_and_holds_no_personal_data() {
    // Arrange
    let app = spawn_app_with_env(&[QUIET_PURGE]).await;
    let rea = app.add_account("rea", "registrar");
    let s = subject(&app).await;
    let expires_on = (server_today(&app).await + Months::new(6)).to_string();
    hold(&app, &rea, &s.held, &expires_on).await;
    let mut erased_objects = BTreeSet::new();
    for contact in s.erasable() {
        erased_objects.extend(object_ids(&app, contact).await);
    }
    let id = verified_request(&app, &rea).await;

    // Act
    let done = json_ok(execute(&app, &rea, &id).await).await;
    let receipt = json_ok(receipt_of(&app, &rea, &id).await).await;

    // Assert: the fetched receipt is the one answered, and verifies offline.
    assert_eq!(receipt, done["receipt"]);
    let (valid, printed) = verify_receipt(&receipt);
    assert!(valid, "{printed}");
    assert!(printed.contains("4 contacts"), "{printed}");
    assert!(
        printed.contains(&format!("on ground 'complaint' until {expires_on}")),
        "{printed}"
    );

    // It cites the ledger block that records every erased object and
    // contact.
    let block = receipt["receipt"]["ledger_block"]
        .as_u64()
        .unwrap_or_else(|| panic!("no ledger block: {receipt}"));
    assert!(
        printed.contains(&format!("erasure-ledger block {block}")),
        "{printed}"
    );
    let blocks = ledger_blocks(&app.data_dir().join("erasure-ledger"));
    let cited = blocks
        .iter()
        .find(|b| b["seq"] == block)
        .unwrap_or_else(|| panic!("block {block} not in the ledger: {blocks:?}"));
    let ledgered: BTreeSet<String> = cited["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    for object in &erased_objects {
        assert!(ledgered.contains(object), "{object} not in block {block}");
    }
    for contact in s.erasable() {
        assert!(ledgered.contains(contact), "{contact} not in block {block}");
    }

    // No personal data: no identifier in any form, no contact or object id.
    let text = receipt.to_string();
    let mut needles: Vec<String> = [
        PHONE,
        PHONE_E164,
        "405558801",
        EMAIL,
        &EMAIL.to_lowercase(),
        CUSTOMER,
        PROPERTY,
        NAME,
        "Erasmus",
    ]
    .iter()
    .map(|n| (*n).to_owned())
    .collect();
    needles.extend(s.erasable().iter().map(|c| (*c).to_owned()));
    needles.push(s.held.clone());
    needles.extend(erased_objects.iter().cloned());
    for needle in &needles {
        assert!(
            !text.to_lowercase().contains(&needle.to_lowercase()),
            "the receipt holds {needle:?}: {text}"
        );
    }

    // A changed receipt no longer verifies (the check above can fail).
    let mut forged = receipt.clone();
    forged["receipt"]["erased"]["contacts"] = json!(3);
    assert!(!verify_receipt(&forged).0);
}

#[tokio::test]
async fn two_parallel_executions_erase_once_and_leave_one_receipt() {
    // Arrange
    let app = spawn_app_with_env(&[QUIET_PURGE]).await;
    let rea = app.add_account("rea", "registrar");
    let s = subject(&app).await;
    let id = verified_request(&app, &rea).await;

    // Act
    let (first, second) = tokio::join!(execute(&app, &rea, &id), execute(&app, &rea, &id));

    // Assert: one 200, one 409 saying why.
    let mut answers = vec![first, second];
    answers.sort_by_key(|r| r.status());
    let loser = answers.pop().unwrap();
    let winner = answers.pop().unwrap();
    let done = json_ok(winner).await;
    let (code, _) = assert_error(loser, StatusCode::CONFLICT).await;
    assert!(
        code == "request_changed" || code == "already_executed",
        "{code}"
    );
    // Five contacts (no hold here), each erased once.
    assert_eq!(done["erased"]["contacts"], 5, "{done}");
    let count = |sql: &str| app.sql(sql).trim().parse::<u64>().unwrap();
    assert_eq!(
        count(
            "SELECT count(*) FROM tombstones WHERE kind = 'contact' AND reason = 'erasure_request';"
        ),
        5
    );
    let page = json_ok(app.audit_log(&app.tokens.sanna, &[("limit", "1000")]).await).await;
    let events = page["events"].as_array().unwrap();
    let actions = |action: &str| events.iter().filter(|e| e["action"] == action).count();
    assert_eq!(actions("contact.erased"), 5);
    assert_eq!(
        actions("object.purged") as u64,
        done["erased"]["objects"].as_u64().unwrap()
    );
    assert_eq!(actions("request.erasure_started"), 1);
    assert_eq!(actions("request.erased"), 1, "one receipt");
    let receipt = json_ok(receipt_of(&app, &rea, &id).await).await;
    assert_eq!(receipt, done["receipt"]);
    for (field, value) in SEARCHES {
        assert!(found(&app, field, value).await.is_empty(), "{field}");
    }
    assert_eq!(
        app.recording_as_supervisor(&s.other).await.as_ref(),
        &s.other_wav[..]
    );
}

/// Where an object file lives under an `objects/` folder (the data folder's
/// and a backup's share the layout).
fn object_file(objects: &Path, id: &str) -> PathBuf {
    objects.join(&id[id.len() - 2..]).join(format!("{id}.kjr"))
}

fn cli_ok(app: &TestApp, args: &[&str]) -> String {
    let output = app.cli(args);
    assert!(
        output.status.success(),
        "kirjuri {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn a_backup_from_before_an_erasure_restored_into_a_fresh_folder_serves_none_of_it() {
    // Arrange: the subject (no hold), a backup with its keys, then the
    // erasure.
    let app = spawn_app_with_env(&[QUIET_PURGE]).await;
    let rea = app.add_account("rea", "registrar");
    let s = subject(&app).await;
    let mut erased_objects = Vec::new();
    for contact in s.erasable().into_iter().chain([s.held.as_str()]) {
        erased_objects.extend(object_ids(&app, contact).await);
    }
    let by_phone_objects = object_ids(&app, &s.by_phone).await;
    let root = tempfile::tempdir().unwrap();
    let backup = root.path().join("backup");
    cli_ok(
        &app,
        &[
            "backup",
            "--out",
            backup.to_str().unwrap(),
            "--include-keys",
        ],
    );
    for object in &erased_objects {
        assert!(object_file(&backup.join("objects"), object).is_file());
    }
    let id = verified_request(&app, &rea).await;
    let done = json_ok(execute(&app, &rea, &id).await).await;
    assert_eq!(done["erased"]["contacts"], 5, "{done}");

    // Act: a fresh data folder, empty but for the erasure ledger's copy
    // (an operator keeps it on write-once storage), restored from the
    // backup.
    let mut fresh = spawn_app_with_env(&[QUIET_PURGE]).await;
    fresh.stop();
    for entry in std::fs::read_dir(fresh.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    // Without the ledger, a restore into the new folder is refused: the
    // backup predates every erasure, so nothing else would stop the erased
    // data coming back.
    let refused = fresh.cli(&["restore", "--from", backup.to_str().unwrap()]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("ledger_missing") || said.contains("no erasure ledger"),
        "{said}"
    );
    assert!(
        !fresh.data_dir().join("kirjuri.db").exists(),
        "nothing restored"
    );
    let ledger = fresh.data_dir().join("erasure-ledger");
    std::fs::create_dir(&ledger).unwrap();
    for file in files_under(&app.data_dir().join("erasure-ledger")) {
        if file.extension().is_some_and(|e| e == "jsonl") {
            std::fs::copy(&file, ledger.join(file.file_name().unwrap())).unwrap();
        }
    }
    let restored = cli_ok(&fresh, &["restore", "--from", backup.to_str().unwrap()]);
    fresh.start();

    // Assert: the replay erased the subject again; nothing of it is served.
    assert!(restored.contains("contacts erased: 5"), "{restored}");
    for (field, value) in SEARCHES {
        assert!(found(&fresh, field, value).await.is_empty(), "{field}");
    }
    for contact in s.erasable().into_iter().chain([s.held.as_str()]) {
        let response = fresh
            .get_contact(&fresh.tokens.sanna, contact, Some(PURPOSE))
            .await;
        assert_eq!(response.status(), StatusCode::GONE, "contact {contact}");
        let response = fresh
            .get_recording(&fresh.tokens.sanna, contact, Some(PURPOSE), None)
            .await;
        assert_eq!(response.status(), StatusCode::GONE, "recording {contact}");
    }
    // No erased object's file, and no key: the backup's own copy put back
    // is ciphertext nothing opens.
    let objects = fresh.data_dir().join("objects");
    for object in &erased_objects {
        assert!(!object_file(&objects, object).exists(), "{object}");
        let hex = object.replace('-', "");
        let rows = fresh.sql(&format!(
            "SELECT count(*) FROM objects WHERE id = X'{hex}';"
        ));
        assert_eq!(rows.trim(), "0", "the wrapped key of {object} is gone");
    }
    for object in &by_phone_objects {
        let target = object_file(&objects, object);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(object_file(&backup.join("objects"), object), &target).unwrap();
    }
    let response = fresh
        .get_recording(&fresh.tokens.sanna, &s.by_phone, Some(PURPOSE), None)
        .await;
    assert_eq!(response.status(), StatusCode::GONE);
    // Someone else's data came back bit for bit.
    assert_eq!(
        fresh.recording_as_supervisor(&s.other).await.as_ref(),
        &s.other_wav[..]
    );
}

#[tokio::test]
async fn an_erasure_whose_object_deletion_failed_is_not_executed_again_and_the_purge_finishes_it() {
    // Arrange: one erased recording's file cannot be deleted (a folder
    // stands in its place: the object store's delete fails even for root).
    let app = spawn_app_with_env(&[QUIET_PURGE]).await;
    let rea = app.add_account("rea", "registrar");
    let s = subject(&app).await;
    let stuck = object_ids(&app, &s.by_email).await[0].clone();
    let file = object_file(&app.data_dir().join("objects"), &stuck);
    let aside = app.data_dir().join("aside.kjr");
    std::fs::rename(&file, &aside).unwrap();
    std::fs::create_dir(&file).unwrap();
    std::fs::write(file.join("blocker"), b"x").unwrap();
    let id = verified_request(&app, &rea).await;
    let unfinished = || {
        app.sql("SELECT count(*) FROM tombstones WHERE storage_deleted_at IS NULL;")
            .trim()
            .parse::<u64>()
            .unwrap()
    };

    // Act 1: the erasure destroys every key, but one deletion fails.
    let done = json_ok(execute(&app, &rea, &id).await).await;
    assert_eq!(done["erased"]["contacts"], 5, "{done}");
    assert_eq!(unfinished(), 1);

    // Act 2: a second execution is refused, the erasure being started.
    let (code, _) = assert_error(execute(&app, &rea, &id).await, StatusCode::CONFLICT).await;
    assert_eq!(code, "already_executed");
    assert_eq!(unfinished(), 1, "a refused execution does nothing");

    // Act 3: the obstacle gone, the purge finishes the erasure.
    std::fs::remove_dir_all(&file).unwrap();
    std::fs::rename(&aside, &file).unwrap();
    let purged = cli_ok(&app, &["purge"]);

    // Assert
    assert!(
        purged.contains("completed from an interrupted run\t1"),
        "{purged}"
    );
    assert_eq!(unfinished(), 0);
    assert!(!file.exists(), "the purge deleted the stuck object's bytes");
    let response = app
        .get_recording(&app.tokens.sanna, &s.by_email, Some(PURPOSE), None)
        .await;
    assert_eq!(response.status(), StatusCode::GONE);
}
