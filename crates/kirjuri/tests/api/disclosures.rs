//! Disclosures (`/api/v1/disclosures`, DIS-2, issue 13 §5) through the real
//! binary: a police release asked for and approved by one person is
//! refused (403 `four_eyes`); approved by a second registrar it yields a
//! ZIP of exactly the scoped contacts and their recordings, bit for bit,
//! under a manifest that verifies offline; agents and integrations cannot
//! ask, supervisors cannot approve or download; hostile JSON stores
//! nothing; of parallel approvals exactly one wins; the recipient's link
//! works once and not after it expires; and the disclosure shows in the
//! subject's access package and in the audit log with its recipient.

use std::collections::{BTreeSet, HashMap};

use futures::future::join_all;
use kirjuri_app::package;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, design_example, json_ok, noise_wav, spawn_app};
use crate::requests::package::unzip;

const PHONE: &str = "040 765 4321";
const GROUND: &str = "Poliisilaki 872/2011 4 luku 3 §";
const CASE: &str = "5500/R/12345/26";

async fn post(app: &TestApp, token: &str, path: &str, body: Option<&Value>) -> Response {
    let mut request = app.client.post(app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body).unwrap());
    }
    request.send().await.unwrap()
}

async fn get(app: &TestApp, token: &str, path: &str) -> Response {
    app.get(Some(token), &app.url(path), None).await
}

/// A server with registrars `rea` and `rolf`, a police recipient and two
/// calls of one subject plus one of someone else, each with a recording.
struct World {
    app: TestApp,
    rea: String,
    rolf: String,
    police: String,
    /// The subject's calls and their uploaded bytes.
    subject: Vec<(String, Vec<u8>)>,
    /// Someone else's call.
    other: String,
}

async fn world() -> World {
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");
    let rolf = app.add_account("rolf", "registrar");
    let created = post(
        &app,
        &rea,
        "/api/v1/recipients",
        Some(&json!({"name": "Helsingin poliisilaitos", "kind": "police", "country": "FI"})),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let police = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut subject = Vec::new();
    for (n, external) in ["pbx-1", "pbx-2"].into_iter().enumerate() {
        let mut contact = design_example(external);
        contact["customer"]["phone"] = json!(PHONE);
        contact["contact_person"] = Value::Null;
        let id = app.new_contact(&contact).await;
        let wav = noise_wav(120_000, n as u64 + 1);
        app.store_recording(&id, &wav).await;
        subject.push((id, wav));
    }
    let other = app.new_contact(&design_example("pbx-3")).await;
    app.store_recording(&other, &noise_wav(8000, 9)).await;
    World {
        app,
        rea,
        rolf,
        police,
        subject,
        other,
    }
}

impl World {
    fn body(&self, contacts: &[&str]) -> Value {
        json!({"recipient": self.police, "legal_ground": GROUND, "reference": CASE,
               "scope": {"contacts": contacts}})
    }

    /// Asks for a disclosure of the subject's calls as `token`; its id.
    async fn ask(&self, token: &str) -> String {
        let ids: Vec<&str> = self.subject.iter().map(|(id, _)| id.as_str()).collect();
        let response = post(
            &self.app,
            token,
            "/api/v1/disclosures",
            Some(&self.body(&ids)),
        )
        .await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["state"], "awaiting_approval");
        body["id"].as_str().unwrap().to_owned()
    }

    async fn approve(&self, token: &str, id: &str) -> Response {
        post(
            &self.app,
            token,
            &format!("/api/v1/disclosures/{id}/approve"),
            None,
        )
        .await
    }

    fn rows(&self, table: &str) -> u64 {
        self.app
            .sql(&format!("SELECT count(*) FROM {table};"))
            .trim()
            .parse()
            .unwrap()
    }

    async fn audit(&self) -> Vec<Value> {
        let page = json_ok(
            self.app
                .audit_log(&self.app.tokens.sanna, &[("limit", "1000")])
                .await,
        )
        .await;
        page["events"].as_array().unwrap().clone()
    }
}

/// The path of a link's URL, from its `/disclosure/download/` on.
fn link_path(url: &str) -> String {
    let at = url.find("/disclosure/download/").unwrap();
    url[at..].to_owned()
}

#[tokio::test]
async fn a_single_person_police_release_is_refused_and_an_approved_one_yields_exactly_its_scope() {
    // Arrange
    let w = world().await;

    // Act: a registrar asks and approves alone; a supervisor asks, a
    // registrar approves.
    let alone = w.ask(&w.rea).await;
    let own = w.approve(&w.rea, &alone).await;
    let early = get(
        &w.app,
        &w.rea,
        &format!("/api/v1/disclosures/{alone}/package"),
    )
    .await;
    let asked = w.ask(&w.app.tokens.sanna).await;
    let by_supervisor = w.approve(&w.app.tokens.sanna, &asked).await;
    let approved = w.approve(&w.rea, &asked).await;
    let again = w.approve(&w.rolf, &asked).await;
    let refuse_approved = post(
        &w.app,
        &w.rolf,
        &format!("/api/v1/disclosures/{asked}/refuse"),
        Some(&json!({"reason": "Too late"})),
    )
    .await;
    let response = get(
        &w.app,
        &w.rea,
        &format!("/api/v1/disclosures/{asked}/package"),
    )
    .await;

    // Assert: four eyes.
    let (code, _) = assert_error(own, StatusCode::FORBIDDEN).await;
    assert_eq!(code, "four_eyes");
    let (code, _) = assert_error(early, StatusCode::CONFLICT).await;
    assert_eq!(code, "not_approved");
    assert_eq!(by_supervisor.status(), StatusCode::FORBIDDEN);
    let approved = json_ok(approved).await;
    assert_eq!(approved["state"], "approved");
    assert_eq!(approved["decided_by"], "rea");
    assert_eq!(approved["requested_by"], "sanna");
    let (code, _) = assert_error(again, StatusCode::CONFLICT).await;
    assert_eq!(code, "already_decided");
    assert_eq!(refuse_approved.status(), StatusCode::CONFLICT);
    assert_eq!(
        json_ok(get(&w.app, &w.rea, &format!("/api/v1/disclosures/{alone}")).await).await["state"],
        "awaiting_approval"
    );

    // Exactly the scoped objects, bit for bit, and nothing else.
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let entries = unzip(&response.bytes().await.unwrap());
    let files: HashMap<&str, &[u8]> = entries
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let mut expected: BTreeSet<String> =
        ["manifest.json", "manifest.sig"].map(str::to_owned).into();
    for (id, wav) in &w.subject {
        expected.insert(format!("contacts/{id}.json"));
        expected.insert(format!("recordings/{id}/recording.wav"));
        // The recordings category carries what derives from a recording.
        expected.insert(format!("recordings/{id}/waveform.json"));
        assert_eq!(
            files[format!("recordings/{id}/recording.wav").as_str()],
            wav.as_slice()
        );
        let contact: Value =
            serde_json::from_slice(files[format!("contacts/{id}.json").as_str()]).unwrap();
        assert_eq!(contact["id"], id.as_str());
    }
    let got: BTreeSet<String> = files.keys().map(|k| (*k).to_owned()).collect();
    assert_eq!(got, expected);
    assert!(!files.keys().any(|k| k.contains(&w.other)));

    // The manifest verifies offline with the key `kirjuri audit verify` names.
    let sig: Value = serde_json::from_slice(files["manifest.sig"]).unwrap();
    let key = sig["key"].as_str().unwrap();
    let verify = w.app.cli(&["audit", "verify"]);
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains(&format!("verifier key: {key}")),
        "{verify:?}"
    );
    let manifest = package::verify(&entries, key).unwrap();
    assert_eq!(manifest.kind, "disclosure");
    assert_eq!(manifest.details["disclosure"], asked.as_str());
    assert_eq!(manifest.details["recipient"]["id"], w.police.as_str());
    assert_eq!(manifest.details["recipient"]["kind"], "police");
    assert_eq!(manifest.details["legal_ground"], GROUND);
    assert_eq!(manifest.details["reference"], CASE);
    let mut tampered = entries.clone();
    let wav = tampered
        .iter_mut()
        .find(|(p, _)| p.ends_with(".wav"))
        .unwrap();
    wav.1[100] ^= 1;
    assert!(package::verify(&tampered, key).is_err());

    // The audit log: each step with the recipient, a denial, no grounds.
    let events = w.audit().await;
    let of = |action: &str, outcome: &str| {
        events
            .iter()
            .filter(|e| e["action"] == action && e["outcome"] == outcome)
            .count()
    };
    assert_eq!(of("disclosure.requested", "success"), 2);
    assert_eq!(of("disclosure.approved", "success"), 1);
    assert_eq!(of("disclosure.approved", "denied"), 1);
    assert_eq!(of("disclosure.package_released", "success"), 1);
    for event in events
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("disclosure."))
    {
        assert_eq!(event["details"]["recipient"], w.police.as_str(), "{event}");
    }
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(CASE) && !text.contains("Poliisilaki"));
}

#[tokio::test]
async fn who_may_ask_approve_and_download_and_unknown_ids() {
    // Arrange
    let w = world().await;
    let ids: Vec<&str> = w.subject.iter().map(|(id, _)| id.as_str()).collect();
    let body = w.body(&ids);

    // Act and assert: agents and integrations cannot ask, or even list.
    for token in [&w.app.tokens.aino, &w.app.tokens.pbx] {
        let response = post(&w.app, token, "/api/v1/disclosures", Some(&body)).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            get(&w.app, token, "/api/v1/disclosures").await.status(),
            StatusCode::FORBIDDEN
        );
    }
    let id = w.ask(&w.rea).await;
    let list = json_ok(get(&w.app, &w.app.tokens.sanna, "/api/v1/disclosures").await).await;
    assert_eq!(list["disclosures"].as_array().unwrap().len(), 1);
    // A supervisor reads but neither refuses, downloads nor makes links.
    for path in ["refuse", "link"] {
        let response = post(
            &w.app,
            &w.app.tokens.sanna,
            &format!("/api/v1/disclosures/{id}/{path}"),
            Some(&json!({"reason": "no"})),
        )
        .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(w.approve(&w.rolf, &id).await.status(), StatusCode::OK);
    assert_eq!(
        get(
            &w.app,
            &w.app.tokens.sanna,
            &format!("/api/v1/disclosures/{id}/package")
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(
            &w.app,
            &w.app.tokens.aino,
            &format!("/api/v1/disclosures/{id}/package")
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    // Unknown and garbage ids.
    let unknown = "0192f5c4-8f5e-7000-8000-000000000001";
    for path in [
        format!("/api/v1/disclosures/{unknown}/approve"),
        "/api/v1/disclosures/not-an-id/approve".to_owned(),
    ] {
        assert_eq!(
            post(&w.app, &w.rea, &path, None).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(
        get(&w.app, &w.rea, &format!("/api/v1/disclosures/{unknown}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // A refusal with its reason, by another registrar; then state filters.
    let second = w.ask(&w.rea).await;
    let refused = json_ok(
        post(
            &w.app,
            &w.rolf,
            &format!("/api/v1/disclosures/{second}/refuse"),
            Some(&json!({"reason": "No legal ground for recordings"})),
        )
        .await,
    )
    .await;
    assert_eq!(refused["state"], "refused");
    assert_eq!(refused["refusal_reason"], "No legal ground for recordings");
    // Decided already: 409 for anyone, its requester too.
    assert_eq!(
        w.approve(&w.rea, &second).await.status(),
        StatusCode::CONFLICT
    );
    assert_eq!(
        w.approve(&w.rolf, &second).await.status(),
        StatusCode::CONFLICT
    );
    let approved = json_ok(get(&w.app, &w.rea, "/api/v1/disclosures?state=approved").await).await;
    assert_eq!(approved["disclosures"].as_array().unwrap().len(), 1);
    assert_eq!(approved["disclosures"][0]["id"], id.as_str());
}

#[tokio::test]
async fn hostile_json_is_refused_and_stores_nothing() {
    // Arrange
    let w = world().await;
    let (first, _) = &w.subject[0];
    let unknown = "0192f5c4-8f5e-7000-8000-000000000001";
    let many: Vec<String> = (0..1001)
        .map(|n| format!("0192f5c4-8f5e-7000-8000-{n:012}"))
        .collect();
    let before = (w.rows("disclosures"), w.rows("disclosure_contacts"));

    // Act and assert
    let mut cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"recipient": unknown, "legal_ground": GROUND, "reference": CASE,
                   "scope": {"contacts": [first]}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_recipient",
        ),
        (
            w.body(&[first, unknown]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_contacts",
        ),
        (w.body(&[]), StatusCode::BAD_REQUEST, "invalid_scope"),
        (
            json!({"recipient": w.police, "legal_ground": GROUND, "reference": CASE,
                   "scope": {"contacts": many}}),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
    ];
    let mut long = w.body(&[first]);
    long["legal_ground"] = json!("x".repeat(201));
    cases.push((long, StatusCode::BAD_REQUEST, "invalid_text"));
    let mut control = w.body(&[first]);
    control["reference"] = json!("5500\u{0}R");
    cases.push((control, StatusCode::BAD_REQUEST, "invalid_text"));
    let mut extra = w.body(&[first]);
    extra["approved"] = json!(true);
    cases.push((extra, StatusCode::BAD_REQUEST, "invalid_body"));
    let mut nested = w.body(&[first]);
    nested["scope"]["recordings"] = json!(["all"]);
    cases.push((nested, StatusCode::BAD_REQUEST, "invalid_body"));
    let mut category = w.body(&[first]);
    category["categories"] = json!(["everything"]);
    cases.push((category, StatusCode::BAD_REQUEST, ""));
    let mut blank = w.body(&[first]);
    blank["reference"] = json!("   ");
    cases.push((blank, StatusCode::BAD_REQUEST, "invalid_text"));
    for (body, status, expected) in cases {
        let (code, message) = assert_error(
            post(
                &w.app,
                &w.app.tokens.sanna,
                "/api/v1/disclosures",
                Some(&body),
            )
            .await,
            status,
        )
        .await;
        if !expected.is_empty() {
            assert_eq!(code, expected, "{message}");
        }
        assert!(
            !message.contains(unknown) && !message.contains(first.as_str()),
            "{message}"
        );
    }
    let mut huge = w.body(&[first]);
    huge["note"] = json!("x".repeat(5_000_000));
    let response = post(
        &w.app,
        &w.app.tokens.sanna,
        "/api/v1/disclosures",
        Some(&huge),
    )
    .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let broken = w
        .app
        .client
        .post(w.app.url("/api/v1/disclosures"))
        .bearer_auth(&w.app.tokens.sanna)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body("{\"recipient\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);

    // Nothing was stored.
    assert_eq!(
        (w.rows("disclosures"), w.rows("disclosure_contacts")),
        before
    );
    assert_eq!(before, (0, 0));
}

#[tokio::test]
async fn of_parallel_approvals_by_two_registrars_exactly_one_wins() {
    // Arrange
    let w = world().await;
    let id = w.ask(&w.app.tokens.sanna).await;

    // Act
    let rush = join_all((0..8).map(|n| {
        let token = if n % 2 == 0 { &w.rea } else { &w.rolf };
        w.approve(token, &id)
    }))
    .await;

    // Assert
    let statuses: Vec<StatusCode> = rush.iter().map(Response::status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    let approved = w
        .audit()
        .await
        .iter()
        .filter(|e| e["action"] == "disclosure.approved" && e["outcome"] == "success")
        .count();
    assert_eq!(approved, 1);
}

#[tokio::test]
async fn the_recipients_link_works_once_and_not_after_it_expires() {
    // Arrange
    let w = world().await;
    let id = w.ask(&w.app.tokens.sanna).await;
    let path = format!("/api/v1/disclosures/{id}/link");
    let (code, _) = assert_error(
        post(&w.app, &w.rea, &path, None).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "not_approved");
    assert_eq!(w.approve(&w.rea, &id).await.status(), StatusCode::OK);
    let anonymous = reqwest::Client::new();

    // Act: a link; its page; two parallel downloads; a third.
    let created = post(&w.app, &w.rolf, &path, Some(&json!({"days": 3}))).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let link = link_path(created["url"].as_str().unwrap());
    let page = anonymous.get(w.app.url(&link)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Helsingin poliisilaitos")
    );
    let downloads = join_all((0..2).map(|_| anonymous.post(w.app.url(&link)).send())).await;
    let mut zips = Vec::new();
    for response in downloads {
        let response = response.unwrap();
        if response.status() == StatusCode::OK {
            zips.push(response.bytes().await.unwrap());
        } else {
            assert_eq!(response.status(), StatusCode::GONE);
        }
    }
    let third = anonymous.post(w.app.url(&link)).send().await.unwrap();

    // Assert: once, and the package is whole.
    assert_eq!(zips.len(), 1);
    let entries = unzip(&zips[0]);
    let sig: Value =
        serde_json::from_slice(&entries.iter().find(|(p, _)| p == "manifest.sig").unwrap().1)
            .unwrap();
    package::verify(&entries, sig["key"].as_str().unwrap()).unwrap();
    assert_eq!(third.status(), StatusCode::GONE);
    assert_eq!(
        anonymous
            .get(w.app.url(&link))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::GONE
    );

    // A new link, expired by moving the database's clock back; garbage.
    let created: Value = post(&w.app, &w.rolf, &path, None)
        .await
        .json()
        .await
        .unwrap();
    let second = link_path(created["url"].as_str().unwrap());
    let week = 31 * 86_400 * 1_000_000_i64;
    w.app.sql(&format!(
        "UPDATE disclosure_links SET expires_at = expires_at - {week} WHERE used_at IS NULL;"
    ));
    let expired = anonymous.post(w.app.url(&second)).send().await.unwrap();
    assert_eq!(expired.status(), StatusCode::GONE);
    let garbage = anonymous
        .post(
            w.app
                .url(&format!("/disclosure/download/{}", "A".repeat(43))),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), StatusCode::GONE);
    let releases: Vec<Value> = w
        .audit()
        .await
        .into_iter()
        .filter(|e| e["action"] == "disclosure.package_released")
        .collect();
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0]["details"]["via"], "link");
    assert_eq!(releases[0]["details"]["recipient"], w.police.as_str());
}

#[tokio::test]
async fn an_approved_disclosure_shows_in_the_subjects_access_package() {
    // Arrange: a disclosure of the subject's first call, approved.
    let w = world().await;
    let (first, _) = &w.subject[0];
    let response = post(
        &w.app,
        &w.app.tokens.sanna,
        "/api/v1/disclosures",
        Some(&w.body(&[first])),
    )
    .await;
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(w.approve(&w.rea, &id).await.status(), StatusCode::OK);
    // The subject's access request, verified in person.
    let request = post(
        &w.app,
        &w.rea,
        "/api/v1/requests",
        Some(
            &json!({"types": ["access"], "channel": "in_person", "language": "fi",
                     "identifiers": {"phone": [PHONE]}}),
        ),
    )
    .await;
    assert_eq!(request.status(), StatusCode::CREATED);
    let request = request.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let verified = post(
        &w.app,
        &w.rea,
        &format!("/api/v1/requests/{request}/verification"),
        Some(
            &json!({"method": "in_person", "document_type": "passport", "document_last4": "X9Q7"}),
        ),
    )
    .await;
    assert_eq!(verified.status(), StatusCode::OK);

    // Act
    let response = get(
        &w.app,
        &w.rea,
        &format!("/api/v1/requests/{request}/package?purpose=data_subject_request"),
    )
    .await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let entries = unzip(&response.bytes().await.unwrap());
    let disclosures = &entries
        .iter()
        .find(|(p, _)| p == "disclosures.json")
        .expect("disclosures.json")
        .1;
    let listed: Value = serde_json::from_slice(disclosures).unwrap();
    let listed = listed["disclosures"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["recipient"], "Helsingin poliisilaitos");
    assert_eq!(listed[0]["kind"], "police");
    assert_eq!(listed[0]["country"], "FI");
    assert_eq!(listed[0]["legal_ground"], GROUND);
    assert!(listed[0]["date"].is_string());
    assert_eq!(listed[0]["contacts"], json!([first]));
}

/// An erasure request for the subject's phone, verified in person by `token`.
async fn verified_erasure(app: &TestApp, token: &str) -> String {
    let created = post(
        app,
        token,
        "/api/v1/requests",
        Some(
            &json!({"types": ["erasure"], "channel": "in_person", "language": "fi",
                     "identifiers": {"phone": [PHONE]}, "name": "Eero Esimerkki"}),
        ),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let verified = post(
        app,
        token,
        &format!("/api/v1/requests/{id}/verification"),
        Some(&json!({"method": "in_person", "document_type": "passport",
                     "document_last4": "X9Q7"})),
    )
    .await;
    json_ok(verified).await;
    id
}

#[tokio::test]
async fn an_erasure_after_two_disclosures_makes_two_follow_up_tasks_closed_with_their_outcome() {
    // Arrange: the subject's calls disclosed twice (police, then an
    // authority), both approved by the second registrar; a third disclosure
    // of someone else's call only.
    let w = world().await;
    let first = w.ask(&w.rea).await;
    json_ok(w.approve(&w.rolf, &first).await).await;
    let authority = post(
        &w.app,
        &w.rea,
        "/api/v1/recipients",
        Some(&json!({"name": "Energiavirasto", "kind": "authority", "country": "FI"})),
    )
    .await
    .json::<Value>()
    .await
    .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ids: Vec<&str> = w.subject.iter().map(|(id, _)| id.as_str()).collect();
    let mut body = w.body(&ids);
    body["recipient"] = json!(authority);
    let second = post(&w.app, &w.rea, "/api/v1/disclosures", Some(&body)).await;
    assert_eq!(second.status(), StatusCode::CREATED);
    let second = second.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    json_ok(w.approve(&w.rolf, &second).await).await;
    let elsewhere = post(
        &w.app,
        &w.rea,
        "/api/v1/disclosures",
        Some(&w.body(&[&w.other])),
    )
    .await;
    let elsewhere = elsewhere.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    json_ok(w.approve(&w.rolf, &elsewhere).await).await;
    let request = verified_erasure(&w.app, &w.rea).await;

    // Act
    let erased = post(
        &w.app,
        &w.rea,
        &format!("/api/v1/requests/{request}/execute"),
        Some(&json!({"action": "erase"})),
    )
    .await;
    json_ok(erased).await;

    // Assert: exactly the two disclosures of the subject, both open.
    let tasks_path = format!("/api/v1/requests/{request}/recipient-tasks");
    let tasks = json_ok(get(&w.app, &w.rea, &tasks_path).await).await["tasks"].clone();
    let tasks = tasks.as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    let disclosures: BTreeSet<&str> = tasks
        .iter()
        .map(|t| t["disclosure"].as_str().unwrap())
        .collect();
    assert_eq!(
        disclosures,
        BTreeSet::from([first.as_str(), second.as_str()])
    );
    assert!(
        tasks
            .iter()
            .all(|t| t["state"] == "open" && t["after"] == "erase")
    );
    let names: BTreeSet<&str> = tasks
        .iter()
        .map(|t| t["recipient_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["Energiavirasto", "Helsingin poliisilaitos"])
    );

    // Closing: notified; impossible needs a reason code; once only.
    let close = |task: &str| format!("{tasks_path}/{task}");
    let (t1, t2) = (
        tasks[0]["id"].as_str().unwrap(),
        tasks[1]["id"].as_str().unwrap(),
    );
    let done = json_ok(
        post(
            &w.app,
            &w.rea,
            &close(t1),
            Some(&json!({"outcome": "notified"})),
        )
        .await,
    )
    .await;
    assert_eq!(done["state"], "notified");
    let refusals = [
        (
            json!({"outcome": "impossible"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "reason_required",
        ),
        (
            json!({"outcome": "impossible", "reason": "they said so"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_reason",
        ),
        (
            json!({"outcome": "notified", "reason": "recipient_ceased"}),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            json!({"outcome": "forgotten"}),
            StatusCode::BAD_REQUEST,
            "invalid_outcome",
        ),
        (
            json!({"outcome": "notified", "extra": 1}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ];
    for (body, status, code) in refusals {
        let (got, _) =
            assert_error(post(&w.app, &w.rea, &close(t2), Some(&body)).await, status).await;
        assert_eq!(got, code, "{body}");
    }
    let again = post(
        &w.app,
        &w.rea,
        &close(t1),
        Some(&json!({"outcome": "notified"})),
    )
    .await;
    assert_eq!(
        assert_error(again, StatusCode::CONFLICT).await.0,
        "task_closed"
    );
    let impossible = json!({"outcome": "impossible", "reason": "recipient_ceased"});
    let closed = json_ok(post(&w.app, &w.rea, &close(t2), Some(&impossible)).await).await;
    assert_eq!(closed["state"], "impossible");
    assert_eq!(closed["reason"], "recipient_ceased");

    // Someone else's ids and roles: an unknown task, another request's
    // task, an agent and a supervisor's close.
    let unknown = close("01a24d59-8975-753e-bbba-ff4bde1d5a73");
    assert_error(
        post(&w.app, &w.rea, &unknown, Some(&impossible)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let other_request = verified_erasure(&w.app, &w.rea).await;
    let foreign = format!("/api/v1/requests/{other_request}/recipient-tasks/{t1}");
    assert_error(
        post(&w.app, &w.rea, &foreign, Some(&impossible)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let agent = &w.app.tokens.aino;
    assert_error(get(&w.app, agent, &tasks_path).await, StatusCode::FORBIDDEN).await;
    let supervisor = &w.app.tokens.sanna;
    assert_error(
        post(&w.app, supervisor, &close(t2), Some(&impossible)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn a_restricted_subject_goes_to_the_police_but_not_to_a_partner() {
    // Arrange: the subject's processing restricted through a verified
    // restriction request; a partner beside the police.
    let w = world().await;
    let created = post(
        &w.app,
        &w.rea,
        "/api/v1/requests",
        Some(
            &json!({"types": ["restriction"], "channel": "in_person", "language": "fi",
                     "identifiers": {"phone": [PHONE]}, "name": "Eero Esimerkki"}),
        ),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let request = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let verified = post(
        &w.app,
        &w.rea,
        &format!("/api/v1/requests/{request}/verification"),
        Some(&json!({"method": "in_person", "document_type": "passport",
                     "document_last4": "X9Q7"})),
    )
    .await;
    json_ok(verified).await;
    let restricted = post(
        &w.app,
        &w.rea,
        &format!("/api/v1/requests/{request}/execute"),
        Some(&json!({"action": "restrict"})),
    )
    .await;
    json_ok(restricted).await;
    let partner = post(
        &w.app,
        &w.rea,
        "/api/v1/recipients",
        Some(
            &json!({"name": "Laatukumppani Oy", "kind": "partner", "country": "FI",
                     "purposes": ["quality_assurance"]}),
        ),
    )
    .await
    .json::<Value>()
    .await
    .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ids: Vec<&str> = w.subject.iter().map(|(id, _)| id.as_str()).collect();
    let mut to_partner = w.body(&ids);
    to_partner["recipient"] = json!(partner);
    let before = w.rows("disclosures");

    // Act
    let refused = post(&w.app, &w.rea, "/api/v1/disclosures", Some(&to_partner)).await;

    // Assert: refused, naming no one, nothing stored; the police may still
    // receive the data (Art. 18(2)).
    let (code, message) = assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(code, "restricted");
    assert!(
        !message.contains(PHONE) && !message.contains("Eero"),
        "{message}"
    );
    assert_eq!(w.rows("disclosures"), before);
    w.ask(&w.rea).await;
    assert_eq!(w.rows("disclosures"), before + 1);
}

#[tokio::test]
async fn a_breach_impact_query_finds_what_a_released_disclosure_sent_and_nothing_else() {
    // Arrange: two disclosures approved; only the first released, by rolf.
    let w = world().await;
    let sent = w.ask(&w.app.tokens.sanna).await;
    assert_eq!(w.approve(&w.rea, &sent).await.status(), StatusCode::OK);
    let other_scope = post(
        &w.app,
        &w.app.tokens.sanna,
        "/api/v1/disclosures",
        Some(&w.body(&[w.other.as_str()])),
    )
    .await;
    let kept = other_scope.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(w.approve(&w.rea, &kept).await.status(), StatusCode::OK);
    let from = crate::incidents::now() - chrono::TimeDelta::minutes(5);
    let package = get(
        &w.app,
        &w.rolf,
        &format!("/api/v1/disclosures/{sent}/package"),
    )
    .await;
    assert_eq!(package.status(), StatusCode::OK);
    package.bytes().await.unwrap();
    let to = crate::incidents::now() + chrono::TimeDelta::minutes(5);
    let incident = crate::incidents::recorded(&w.app, &w.rea, &crate::incidents::breach(1)).await;
    let path = format!(
        "/api/v1/incidents/{}/impact",
        incident["id"].as_str().unwrap()
    );
    let window = |extra: Value| {
        let mut body = json!({"from": from.to_rfc3339(), "to": to.to_rfc3339()});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };

    // Act: by the disclosure alone (sent to the wrong recipient, say), by
    // the account that released it, by the unreleased one, and by one of
    // the subject's recordings.
    let by_disclosure = json_ok(
        post(
            &w.app,
            &w.rea,
            &path,
            Some(&window(json!({"disclosures": [sent]}))),
        )
        .await,
    )
    .await;
    let by_user = json_ok(
        post(
            &w.app,
            &w.rea,
            &path,
            Some(&window(json!({"user": "rolf"}))),
        )
        .await,
    )
    .await;
    let unreleased = json_ok(
        post(
            &w.app,
            &w.rea,
            &path,
            Some(&window(json!({"disclosures": [kept]}))),
        )
        .await,
    )
    .await;
    let ids: Vec<&str> = w.subject.iter().map(|(id, _)| id.as_str()).collect();
    let viewed = json_ok(
        get(
            &w.app,
            &w.rea,
            &format!("/api/v1/contacts/{}?purpose=legal_claim", ids[0]),
        )
        .await,
    )
    .await;
    let by_contact = json_ok(
        post(
            &w.app,
            &w.rea,
            &path,
            Some(&window(json!({"contacts": [ids[0]]}))),
        )
        .await,
    )
    .await;

    // Assert: the released scope — the subject's two calls, one subject by
    // their shared number, both recordings — and not the other call.
    let contacts = |impact: &Value| -> BTreeSet<String> {
        impact["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect()
    };
    let scope: BTreeSet<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(contacts(&by_disclosure), scope, "{by_disclosure}");
    assert_eq!(
        by_disclosure["counts"],
        json!({"events": 1, "contacts": 2, "recordings": 2, "subjects": 1})
    );
    assert_eq!(by_disclosure["sources"], json!(["disclosures"]));
    assert_eq!(contacts(&by_user), scope, "{by_user}");
    assert_eq!(by_user["sources"], json!(["audit_log", "disclosures"]));
    assert_eq!(unreleased["counts"]["contacts"], 0, "{unreleased}");
    assert!(viewed.is_object());
    assert_eq!(
        contacts(&by_contact),
        BTreeSet::from([ids[0].to_owned()]),
        "{by_contact}"
    );
    assert!(!contacts(&by_contact).contains(&w.other));
    let text = by_disclosure.to_string();
    assert!(!text.contains("765") && !text.contains(CASE), "{text}");
}

/// The request page's form closing `task` with `outcome`.
fn close<'a>(csrf: &'a str, task: &'a str, outcome: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("csrf_token", csrf),
        ("action", "close_task"),
        ("task", task),
        ("outcome", outcome),
    ]
}

#[tokio::test]
async fn the_request_page_lists_the_art_19_tasks_and_closes_one_with_its_outcome() {
    // Arrange: the subject's calls disclosed to the police, then erased.
    use crate::requests_ui::{form, page, session};
    let w = world().await;
    let disclosed = w.ask(&w.rea).await;
    json_ok(w.approve(&w.rolf, &disclosed).await).await;
    let request = verified_erasure(&w.app, &w.rea).await;
    let execute = format!("/api/v1/requests/{request}/execute");
    json_ok(post(&w.app, &w.rea, &execute, Some(&json!({"action": "erase"}))).await).await;
    let (cookie, csrf) = session(&w.app, "rea", "registrar").await;
    let path = format!("/requests/{request}");
    let tasks_path = format!("/api/v1/requests/{request}/recipient-tasks");
    let task = json_ok(get(&w.app, &w.rea, &tasks_path).await).await["tasks"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Act: the page; hostile posts (no token, a foreign task, an outcome
    // the list lacks); then the real close.
    let (status, shown) = page(&w.app, &cookie, &path).await;
    let (csrf, task) = (csrf.as_str(), task.as_str());
    let forged = form(&w.app, &cookie, &path, &close("forged", task, "notified")).await;
    let foreign = form(
        &w.app,
        &cookie,
        &path,
        &close(csrf, "01a24d59-8975-753e-bbba-ff4bde1d5a73", "notified"),
    )
    .await;
    let invented = form(
        &w.app,
        &cookie,
        &path,
        &close(csrf, task, "impossible.they_said_so"),
    )
    .await;
    let open_after_hostile =
        json_ok(get(&w.app, &w.rea, &tasks_path).await).await["tasks"][0]["state"].clone();
    let closed = form(
        &w.app,
        &cookie,
        &path,
        &close(csrf, task, "impossible.recipient_unreachable"),
    )
    .await;
    let (supervisor, _) = session(&w.app, "sanna", "supervisor").await;
    let (_, supervisor_sees) = page(&w.app, &supervisor, &path).await;

    // Assert: the recipient with an outcome form; hostile posts change nothing.
    assert_eq!(status, StatusCode::OK);
    assert!(shown.contains("Helsingin poliisilaitos"), "{shown}");
    assert!(shown.contains("name=\"outcome\""));
    assert_eq!(forged.0, StatusCode::FORBIDDEN);
    assert_eq!(foreign.0, StatusCode::NOT_FOUND);
    assert_eq!(invented.0, StatusCode::BAD_REQUEST);
    assert_eq!(open_after_hostile, "open");
    assert_eq!(closed.0, StatusCode::OK, "{}", closed.2);
    let after = json_ok(get(&w.app, &w.rea, &tasks_path).await).await;
    assert_eq!(after["tasks"][0]["state"], "impossible");
    assert_eq!(after["tasks"][0]["reason"], "recipient_unreachable");
    assert!(
        !closed.2.contains("name=\"outcome\""),
        "a closed task has no form"
    );
    assert!(supervisor_sees.contains("Helsingin poliisilaitos"));
    assert!(
        !supervisor_sees.contains("close_task"),
        "supervisors only read"
    );
}
