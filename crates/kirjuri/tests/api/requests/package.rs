//! The access package (DSR-3, issue 12 §6) through the real binary: a
//! verified request's ZIP holds every recording of the subject's contacts
//! bit for bit, the contacts as JSON and the summary in the request's
//! language, under a manifest signed with the server's audit key; nothing
//! of anyone else; refused before verification (409, audited), to agents
//! and supervisors (403), for another purpose (400), for an unknown id
//! (404); and the server's output holds none of the subject's data.

use std::collections::HashMap;

use kirjuri_app::package;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{PHONE, Registry, get, registry};
use crate::helpers::{TestApp, assert_error, contains, design_example, noise_wav};

pub(super) const PACKAGE_QUERY: &str = "purpose=data_subject_request";

/// A call by the subject (their phone as the customer's) with a
/// recording; answers the contact's id and the uploaded bytes.
pub(super) async fn subject_call(app: &TestApp, external_id: &str, seed: u64) -> (String, Vec<u8>) {
    let mut contact = design_example(external_id);
    contact["customer"]["phone"] = json!(PHONE);
    contact["customer"]["name"] = json!("Tiina Tilaaja-Kuusikoski");
    contact["contact_person"] = Value::Null;
    let id = app.new_contact(&contact).await;
    let wav = noise_wav(150_000, seed);
    app.store_recording(&id, &wav).await;
    (id, wav)
}

/// The package's entries in archive order, read by an independent reader
/// (Python's `zipfile`).
pub(crate) fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("package.zip");
    std::fs::write(&file, bytes).unwrap();
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import json, sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1])\n\
             print(json.dumps([[i.filename, z.read(i).hex()] for i in z.infolist()]))",
        )
        .arg(&file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let entries: Vec<(String, String)> = serde_json::from_slice(&output.stdout).unwrap();
    entries
        .into_iter()
        .map(|(path, hex)| {
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (path, bytes)
        })
        .collect()
}

impl Registry {
    pub(super) async fn package(&self, token: &str, id: &str, query: &str) -> reqwest::Response {
        get(
            &self.app,
            token,
            &format!("/api/v1/requests/{id}/package?{query}"),
        )
        .await
    }

    fn count(&self, sql_where: &str) -> u64 {
        self.app
            .sql(&format!(
                "SELECT count(*) FROM audit_events WHERE {sql_where};"
            ))
            .trim()
            .parse()
            .unwrap()
    }
}

#[tokio::test]
async fn a_verified_access_request_gets_every_recording_bit_exact_in_a_signed_package() {
    // Arrange: two calls of the subject, one of someone else.
    let r = registry().await;
    let (first, first_wav) = subject_call(&r.app, "pbx-1", 1).await;
    let (second, second_wav) = subject_call(&r.app, "pbx-2", 2).await;
    let other = r.app.new_contact(&design_example("pbx-3")).await;
    r.app.store_recording(&other, &noise_wav(4000, 3)).await;
    let id = r.request_in("verified").await;
    let reference = r.show(&id).await["reference"].as_str().unwrap().to_owned();

    // Act
    let response = r.package(&r.rea, &id, PACKAGE_QUERY).await;

    // Assert: a ZIP named after the reference.
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/zip");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.contains(&format!("{reference}.zip")),
        "{disposition}"
    );
    let entries = unzip(&response.bytes().await.unwrap());
    let files: HashMap<&str, &[u8]> = entries
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();

    // Signed with the key `kirjuri audit verify` names.
    let sig: Value = serde_json::from_slice(files["manifest.sig"]).unwrap();
    let key = sig["key"].as_str().unwrap();
    let verify = r.app.cli(&["audit", "verify"]);
    let text = String::from_utf8_lossy(&verify.stdout);
    assert!(text.contains(&format!("verifier key: {key}")), "{text}");
    let manifest = package::verify(&entries, key).unwrap();
    assert_eq!(manifest.details["reference"], reference.as_str());
    assert_eq!(manifest.details["purpose"], "data_subject_request");
    assert_eq!(manifest.details["counts"]["contacts"], 2);
    assert_eq!(manifest.details["counts"]["recordings"], 2);

    // Every recording as uploaded, the contacts as JSON, nothing else's.
    for (contact, wav) in [(&first, &first_wav), (&second, &second_wav)] {
        let path = format!("recordings/{contact}/recording.wav");
        assert!(files[path.as_str()] == wav.as_slice(), "{path} differs");
        let json: Value =
            serde_json::from_slice(files[format!("contacts/{contact}.json").as_str()]).unwrap();
        assert_eq!(json["document"]["customer"]["phone"], "+358407654321");
        assert_eq!(json["agent_role"], "agent");
        assert!(json["document"].get("agent").is_none());
    }
    assert!(entries.iter().all(|(p, _)| !p.contains(&other)));
    let summary = String::from_utf8(files["summary.html"].to_vec()).unwrap();
    assert!(summary.contains("<html lang=\"fi\">"), "{summary}");
    assert!(summary.contains("tietosuojavaltuutetun"));
    assert!(summary.contains(&reference));
    assert!(files.contains_key("access-history.json"));

    // Audited: one release with its counts, a read per contact and recording.
    assert_eq!(r.count("action = 'request.package_released'"), 1);
    assert_eq!(
        r.count(&format!(
            "action = 'recording.read' AND purpose = 'data_subject_request' \
             AND details LIKE '%{first}%'"
        )),
        2,
        "one per object released: the recording and its waveform"
    );

    // A second package shows the first release in the access history.
    let again = unzip(
        &r.package(&r.rea, &id, PACKAGE_QUERY)
            .await
            .bytes()
            .await
            .unwrap(),
    );
    let history = &again
        .iter()
        .find(|(p, _)| p == "access-history.json")
        .unwrap()
        .1;
    let history: Value = serde_json::from_slice(history).unwrap();
    let reads = history["reads"].as_array().unwrap();
    assert!(reads.iter().any(|e| e["role"] == "registrar"
        && e["purpose"] == "data_subject_request"
        && e["action"] == "recording.read"));
    assert!(!history.to_string().contains("\"rea\""));

    // Nothing of the subject in the server's output.
    let logs = r.app.log_bytes();
    for needle in ["Tiina", "765 4321", "+358407654321", "Esimerkkitie"] {
        assert!(!contains(&logs, needle.as_bytes()), "{needle} in the log");
    }
}

#[tokio::test]
async fn before_verification_the_package_is_refused_409_and_the_refusal_audited() {
    let r = registry().await;
    subject_call(&r.app, "pbx-1", 1).await;
    let id = r.request_in("awaiting_identity").await;

    let response = r.package(&r.rea, &id, PACKAGE_QUERY).await;

    let (code, _) = assert_error(response, StatusCode::CONFLICT).await;
    assert_eq!(code, "not_verified");
    assert_eq!(
        r.count("action = 'request.package_refused' AND outcome = 'denied'"),
        1
    );
    assert_eq!(r.count("action = 'recording.read'"), 0);
}

#[tokio::test]
async fn agents_and_supervisors_get_403_a_wrong_purpose_400_and_an_unknown_id_404() {
    let r = registry().await;
    let id = r.request_in("verified").await;
    let agent = r.app.add_account("aatu", "agent");
    let supervisor = r.app.add_account("sirkka", "supervisor");
    for token in [&agent, &supervisor] {
        let response = r.package(token, &id, PACKAGE_QUERY).await;
        assert_error(response, StatusCode::FORBIDDEN).await;
    }
    for query in [
        "purpose=quality_assurance",
        "purpose=legal_claim",
        "",
        "purpose=data_subject_request&x=1",
        "purpose=%00",
    ] {
        let response = r.package(&r.rea, &id, query).await;
        assert_error(response, StatusCode::BAD_REQUEST).await;
    }
    for unknown in ["0193a1a4-0000-7000-8000-000000000000", "nope"] {
        let response = r.package(&r.rea, unknown, PACKAGE_QUERY).await;
        assert_error(response, StatusCode::NOT_FOUND).await;
    }
    assert_eq!(r.count("action = 'request.package_released'"), 0);
}
