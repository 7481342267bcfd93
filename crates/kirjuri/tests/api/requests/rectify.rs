//! Rectification (DSR-4, Art. 16) and portability (Art. 20) through the
//! real binary: `{"action": "rectify"}` changes what a search finds (the
//! new phone finds the contact, the old one no longer) and keeps the
//! replaced version, which only a registrar reads; another subject's
//! contact is 404 exactly like a missing one; an unverified request is
//! 409, audited; an invalid value, an unknown field or an oversized body
//! changes nothing; two parallel rectifications both land, each with its
//! history row; a held contact may be rectified, its old version kept; an
//! erasure destroys the history. A portability request's
//! package holds the contacts as JSON only when a purpose rests on a
//! contract, and otherwise says why not.

use std::collections::HashMap;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use super::{EMAIL, PHONE, PHONE_E164, Registry, get, post, registry, registry_with};
use crate::helpers::{PURPOSE, TestApp, assert_error, design_example, ids_of, json_ok};

/// The subject's new phone.
const NEW_PHONE: &str = "050 999 8877";
const NEW_PHONE_E164: &str = "+358509998877";

/// A contact of the subject: their phone and email as the customer's.
async fn subject_contact(app: &TestApp, external_id: &str) -> String {
    let mut contact = design_example(external_id);
    contact["customer"]["phone"] = json!(PHONE);
    contact["customer"]["email"] = json!(EMAIL);
    contact["contact_person"] = Value::Null;
    app.new_contact(&contact).await
}

impl Registry {
    /// A verified request of `types`.
    async fn verified(&self, types: &[&str]) -> String {
        let id = self.register(types).await;
        json_ok(self.in_person(&id).await).await;
        id
    }

    async fn execute(&self, id: &str, body: &Value) -> Response {
        post(
            &self.app,
            &self.rea,
            &format!("/api/v1/requests/{id}/execute"),
            body,
        )
        .await
    }

    async fn rectify(&self, id: &str, contact: &str, changes: Value) -> Response {
        self.execute(
            id,
            &json!({"action": "rectify", "contact": contact, "changes": changes}),
        )
        .await
    }

    async fn history(&self, token: &str, contact: &str) -> Response {
        get(
            &self.app,
            token,
            &format!("/api/v1/contacts/{contact}/history?purpose=data_subject_request"),
        )
        .await
    }

    /// How many contacts a search by `phone` finds.
    async fn found_by_phone(&self, phone: &str) -> usize {
        let found = json_ok(
            self.app
                .search(
                    &self.app.tokens.sanna,
                    &[("phone", phone), ("purpose", PURPOSE)],
                )
                .await,
        )
        .await;
        ids_of(&found).len()
    }

    fn history_rows(&self) -> u64 {
        self.app
            .sql("SELECT count(*) FROM contact_history;")
            .trim()
            .parse()
            .unwrap()
    }
}

#[tokio::test]
async fn a_rectification_changes_what_search_finds_and_keeps_the_old_version_for_registrars() {
    // Arrange
    let r = registry().await;
    let contact = subject_contact(&r.app, "rect-1").await;
    let id = r.verified(&["rectification"]).await;
    assert_eq!(r.found_by_phone(PHONE).await, 1);

    // Act
    let done = json_ok(
        r.rectify(&id, &contact, json!({"customer": {"phone": NEW_PHONE}}))
            .await,
    )
    .await;

    // Assert: the new phone finds it, the old one no longer.
    assert_eq!(done["changed_fields"], json!(["customer.phone"]), "{done}");
    assert_eq!(done["notify_recipients"], json!([]));
    assert_eq!(done["state"], "in_progress");
    assert_eq!(r.found_by_phone(NEW_PHONE).await, 1);
    assert_eq!(r.found_by_phone(PHONE).await, 0);
    let now = r.app.contact_as_supervisor(&contact).await;
    assert_eq!(now["customer"]["phone"], NEW_PHONE_E164);

    // The old version: a registrar reads it, nobody else.
    let history = json_ok(r.history(&r.rea, &contact).await).await;
    let versions = history["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1, "{history}");
    assert_eq!(versions[0]["document"]["customer"]["phone"], PHONE_E164);
    assert_eq!(versions[0]["changed_fields"], json!(["customer.phone"]));
    assert_eq!(versions[0]["changed_by"], "rea");
    assert_eq!(versions[0]["id"], done["version"]);
    for token in [&r.app.tokens.aino, &r.app.tokens.sanna] {
        assert_error(r.history(token, &contact).await, StatusCode::FORBIDDEN).await;
    }

    // The step names the fields, never a value; so does the audit log.
    let shown = r.show(&id).await;
    let step = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "rectified")
        .cloned()
        .expect("a rectified step");
    assert_eq!(step["detail"]["fields"], json!(["customer.phone"]));
    assert_eq!(step["detail"]["notify_recipients"], json!([]));
    let audit = serde_json::to_string(&r.audit().await).unwrap();
    assert!(audit.contains("request.rectified"));
    for value in [PHONE_E164, NEW_PHONE_E164, "509998877", "407654321"] {
        assert!(!audit.contains(value), "the audit log holds {value}");
    }
}

#[tokio::test]
async fn another_subjects_contact_is_404_exactly_like_a_missing_one_and_stays_as_it_was() {
    // Arrange
    let r = registry().await;
    subject_contact(&r.app, "rect-2").await;
    let other = r.app.new_contact(&design_example("other-2")).await;
    let before = r.app.contact_as_supervisor(&other).await;
    let id = r.verified(&["rectification"]).await;
    let missing = "01890000-0000-7000-8000-000000000000";
    let changes = json!({"customer": {"name": "Someone Else"}});

    // Act
    let theirs = r.rectify(&id, &other, changes.clone()).await;
    let (theirs_status, theirs_body) = (theirs.status(), theirs.text().await.unwrap());
    let gone = r.rectify(&id, missing, changes).await;
    let (gone_status, gone_body) = (gone.status(), gone.text().await.unwrap());

    // Assert
    assert_eq!(theirs_status, StatusCode::NOT_FOUND, "{theirs_body}");
    assert_eq!((theirs_status, theirs_body), (gone_status, gone_body));
    assert_eq!(r.app.contact_as_supervisor(&other).await, before);
    assert_eq!(r.history_rows(), 0);
    let refused = r
        .audit()
        .await
        .iter()
        .filter(|e| e["action"] == "request.execute_refused" && e["outcome"] == "denied")
        .count();
    assert_eq!(refused, 2);
}

#[tokio::test]
async fn an_unverified_or_other_request_is_refused_with_409() {
    // Arrange
    let r = registry().await;
    let contact = subject_contact(&r.app, "rect-3").await;
    let unverified = r.register(&["rectification"]).await;
    let access = r.verified(&["access"]).await;
    let changes = json!({"customer": {"phone": NEW_PHONE}});

    // Act
    let (code, _) = assert_error(
        r.rectify(&unverified, &contact, changes.clone()).await,
        StatusCode::CONFLICT,
    )
    .await;
    let (other, _) = assert_error(
        r.rectify(&access, &contact, changes).await,
        StatusCode::CONFLICT,
    )
    .await;

    // Assert
    assert_eq!(code, "not_verified");
    assert_eq!(other, "not_requested");
    assert!(
        r.audit()
            .await
            .iter()
            .any(|e| e["action"] == "request.execute_refused" && e["outcome"] == "denied")
    );
    assert_eq!(r.found_by_phone(PHONE).await, 1);
    assert_eq!(r.history_rows(), 0);
}

#[tokio::test]
async fn an_invalid_value_an_unknown_field_or_a_huge_body_changes_nothing() {
    // Arrange
    let r = registry().await;
    let contact = subject_contact(&r.app, "rect-4").await;
    let id = r.verified(&["rectification"]).await;
    let before = r.app.contact_as_supervisor(&contact).await;

    // Act and assert: each refused, as a client's mistake.
    let bad_phone = r
        .rectify(&id, &contact, json!({"customer": {"phone": "not a phone"}}))
        .await;
    assert_error(bad_phone, StatusCode::BAD_REQUEST).await;
    let long_name = r
        .rectify(
            &id,
            &contact,
            json!({"customer": {"name": "x".repeat(300)}}),
        )
        .await;
    assert_error(long_name, StatusCode::BAD_REQUEST).await;
    for changes in [
        json!({"customer": {"shoe_size": "42"}}),
        json!({"service_content": "it never happened"}),
        json!({"account": {"payment_status": "paid"}}),
    ] {
        let (code, message) = assert_error(
            r.rectify(&id, &contact, changes).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(!message.contains("never happened"), "{code}: {message}");
    }
    let same = r
        .rectify(&id, &contact, json!({"customer": {"phone": PHONE}}))
        .await;
    let (code, _) = assert_error(same, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "no_change");
    // Ten megabytes: past the JSON body cap, refused before it is parsed.
    let huge = r
        .rectify(
            &id,
            &contact,
            json!({"customer": {"address": "x".repeat(10 * 1024 * 1024)}}),
        )
        .await;
    assert_error(huge, StatusCode::PAYLOAD_TOO_LARGE).await;

    // Nothing changed: the contact, its history, the request's state.
    assert_eq!(r.app.contact_as_supervisor(&contact).await, before);
    assert_eq!(r.history_rows(), 0);
    assert_eq!(r.found_by_phone(PHONE).await, 1);
    assert_eq!(r.show(&id).await["state"], "verified");
}

#[tokio::test]
async fn two_parallel_rectifications_both_land_and_each_keeps_its_version() {
    // Arrange
    let r = registry().await;
    let contact = subject_contact(&r.app, "rect-5").await;
    let id = r.verified(&["rectification"]).await;

    // Act
    let (first, second) = tokio::join!(
        r.rectify(
            &id,
            &contact,
            json!({"customer": {"name": "Tiina Uusinimi"}})
        ),
        r.rectify(
            &id,
            &contact,
            json!({"customer": {"address": "Uusi katu 2, 00100 Helsinki"}})
        ),
    );

    // Assert: both applied, on top of each other, two versions kept.
    json_ok(first).await;
    json_ok(second).await;
    let now = r.app.contact_as_supervisor(&contact).await;
    assert_eq!(now["customer"]["name"], "Tiina Uusinimi");
    assert_eq!(now["customer"]["address"], "Uusi katu 2, 00100 Helsinki");
    let history = json_ok(r.history(&r.rea, &contact).await).await;
    let versions = history["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{history}");
    let first_fields = &versions[0]["changed_fields"];
    let second_doc = &versions[1]["document"]["customer"];
    // The second version is the first change's result: nothing was lost.
    if *first_fields == json!(["customer.name"]) {
        assert_eq!(second_doc["name"], "Tiina Uusinimi");
    } else {
        assert_eq!(second_doc["address"], "Uusi katu 2, 00100 Helsinki");
    }
    assert_eq!(r.show(&id).await["state"], "in_progress");
}

#[tokio::test]
async fn a_held_contact_may_be_rectified_and_its_old_version_stays_with_it() {
    // Arrange: a contact under a legal hold.
    let r = registry().await;
    let contact = subject_contact(&r.app, "rect-7").await;
    // A review date two months from the server's today (the server is
    // another process on the real clock).
    let overview = json_ok(get(&r.app, &r.app.tokens.sanna, "/api/v1/retention").await).await;
    let now: chrono::DateTime<chrono::Utc> = overview["now"].as_str().unwrap().parse().unwrap();
    let review = (now.date_naive() + chrono::Days::new(60)).to_string();
    let hold = json!({
        "contact": contact,
        "ground_kind": "complaint",
        "ground": "Complaint 2026-117 (Consumer Disputes Board)",
        "owner": "sanna",
        "review_by": review,
    });
    let placed = post(&r.app, &r.rea, "/api/v1/holds", &hold).await;
    assert_eq!(
        placed.status(),
        StatusCode::CREATED,
        "{}",
        placed.text().await.unwrap()
    );
    let id = r.verified(&["rectification"]).await;

    // Act
    let done = json_ok(
        r.rectify(&id, &contact, json!({"customer": {"phone": NEW_PHONE}}))
            .await,
    )
    .await;

    // Assert: changed, and the version the hold keeps is in the history.
    assert_eq!(done["kept_by_hold"], true, "{done}");
    let history = json_ok(r.history(&r.rea, &contact).await).await;
    assert_eq!(
        history["versions"][0]["document"]["customer"]["phone"],
        PHONE_E164
    );
}

#[tokio::test]
async fn an_erasure_destroys_the_history_and_no_old_value_is_findable() {
    // Arrange: a rectified contact.
    let r = registry().await;
    let contact = subject_contact(&r.app, "rect-6").await;
    let id = r.verified(&["rectification", "erasure"]).await;
    json_ok(
        r.rectify(&id, &contact, json!({"customer": {"phone": NEW_PHONE}}))
            .await,
    )
    .await;
    assert_eq!(r.history_rows(), 1);

    // Act
    let erased = json_ok(r.execute(&id, &json!({"action": "erase"})).await).await;

    // Assert
    assert_eq!(erased["erased"]["contacts"], 1, "{erased}");
    assert_eq!(r.history_rows(), 0);
    assert_eq!(r.found_by_phone(PHONE).await, 0);
    assert_eq!(r.found_by_phone(NEW_PHONE).await, 0);
    let response = r.history(&r.rea, &contact).await;
    assert_eq!(response.status(), StatusCode::GONE);
}

/// `register.purposes` with every purpose resting on `basis`.
fn purposes_on(basis: &str) -> String {
    let purposes = [
        "order_verification",
        "complaint_verification",
        "quality_assurance",
        "training",
        "development",
        "survey",
        "legal_claim",
        "data_subject_request",
    ];
    let entries: Vec<String> = purposes
        .iter()
        .map(|p| {
            format!(
                "{{purpose=\"{p}\",legal_basis=\"{basis}\",\
                 text={{fi=\"Tarkoitus\",sv=\"Ändamål\",en=\"Purpose\"}}}}"
            )
        })
        .collect();
    format!("[{}]", entries.join(","))
}

/// The portability request's package: its files by name.
async fn portability_package(r: &Registry) -> HashMap<String, Vec<u8>> {
    subject_contact(&r.app, "port-1").await;
    let id = r.verified(&["portability"]).await;
    let response = get(
        &r.app,
        &r.rea,
        &format!("/api/v1/requests/{id}/package?purpose=data_subject_request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    super::package::unzip(&response.bytes().await.unwrap())
        .into_iter()
        .collect()
}

#[tokio::test]
async fn portability_includes_the_contacts_when_a_purpose_rests_on_a_contract() {
    // Arrange
    let purposes = purposes_on("contract");
    let r = registry_with(&[("KIRJURI_REGISTER__PURPOSES", purposes.as_str())]).await;

    // Act
    let files = portability_package(&r).await;

    // Assert
    let portable: Value = serde_json::from_slice(&files["portability.json"]).unwrap();
    let contacts = portable["contacts"].as_array().unwrap();
    assert_eq!(contacts.len(), 1, "{portable}");
    assert_eq!(contacts[0]["document"]["customer"]["phone"], PHONE_E164);
    assert!(contacts[0]["document"].get("agent").is_none());
    assert!(portable.get("excluded").is_none());
}

#[tokio::test]
async fn portability_on_a_legal_obligation_is_empty_and_the_summary_says_why() {
    // Arrange: the default notice (legal obligation).
    let r = registry().await;

    // Act
    let files = portability_package(&r).await;

    // Assert
    let portable: Value = serde_json::from_slice(&files["portability.json"]).unwrap();
    assert_eq!(portable["contacts"], json!([]), "{portable}");
    assert_eq!(
        portable["excluded"]["legal_bases"],
        json!(["legal_obligation"])
    );
    let summary = String::from_utf8(files["summary.html"].clone()).unwrap();
    assert!(summary.contains("lakisääteinen velvoite"), "{summary}");
    assert!(summary.contains("suostumuksen tai sopimuksen"), "{summary}");
}
