//! `POST /api/v1/requests/{id}/execute` (DSR-4, issue 12 §7) through the
//! real binary: only a verified request is carried out (409 `not_verified`,
//! audited as denied, otherwise); an erasure leaves nothing findable by the
//! subject's identifiers, answers a signed receipt that `kirjuri receipt
//! verify` accepts offline and that the registrar can fetch again, and is
//! done once (a second execute gets 409 `already_executed`). That it is
//! complete — every identifier, holds, parallel executions, backups, a
//! failed deletion — is proven in `complete`.

mod complete;

use std::process::Command;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{KIRJURI, PURPOSE, TestApp, assert_error, call, ids_of, json_ok, spawn_app};

const CUSTOMER: &str = "EX-40417";

async fn post(app: &TestApp, token: &str, path: &str, body: &Value) -> Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(body).unwrap())
        .send()
        .await
        .unwrap()
}

/// An erasure request by the customer number, registered by `token`.
async fn register(app: &TestApp, token: &str) -> String {
    let response = post(
        app,
        token,
        "/api/v1/requests",
        &json!({
            "types": ["erasure"],
            "channel": "in_person",
            "language": "fi",
            "identifiers": {"customer_number": [CUSTOMER]},
            "name": "Eero Esimerkki",
        }),
    )
    .await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let created: Value = serde_json::from_str(&text).unwrap();
    created["id"].as_str().unwrap().to_owned()
}

async fn verify_in_person(app: &TestApp, token: &str, id: &str) {
    let response = post(
        app,
        token,
        &format!("/api/v1/requests/{id}/verification"),
        &json!({"method": "in_person", "document_type": "passport", "document_last4": "X9Q7"}),
    )
    .await;
    json_ok(response).await;
}

async fn execute(app: &TestApp, token: &str, id: &str) -> Response {
    post(
        app,
        token,
        &format!("/api/v1/requests/{id}/execute"),
        &json!({"action": "erase"}),
    )
    .await
}

async fn customers_contacts(app: &TestApp) -> usize {
    let found = json_ok(
        app.search(
            &app.tokens.sanna,
            &[("customer_number", CUSTOMER), ("purpose", PURPOSE)],
        )
        .await,
    )
    .await;
    ids_of(&found).len()
}

#[tokio::test]
async fn an_unverified_request_is_not_carried_out_and_the_refusal_is_audited() {
    // Arrange
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");
    let id = register(&app, &rea).await;

    // Act
    let (code, _) = assert_error(execute(&app, &rea, &id).await, StatusCode::CONFLICT).await;

    // Assert
    assert_eq!(code, "not_verified");
    let page = json_ok(app.audit_log(&app.tokens.sanna, &[("limit", "1000")]).await).await;
    let denied = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "request.execute_refused" && e["outcome"] == "denied");
    assert!(denied, "{page}");
}

#[tokio::test]
async fn an_erasure_leaves_nothing_findable_and_a_receipt_that_verifies_offline() {
    // Arrange: two contacts of the customer, one of someone else.
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");
    for _ in 0..2 {
        let mut contact = call("aino");
        contact["account"] = json!({"customer_number": CUSTOMER});
        app.new_contact(&contact).await;
    }
    let mut other = call("aino");
    other["account"] = json!({"customer_number": "OTHER-1"});
    app.new_contact(&other).await;
    assert_eq!(customers_contacts(&app).await, 2);
    let id = register(&app, &rea).await;
    verify_in_person(&app, &rea, &id).await;

    // Act
    let done = json_ok(execute(&app, &rea, &id).await).await;

    // Assert: erased, findable no more, the other customer untouched.
    assert_eq!(done["erased"]["contacts"], 2, "{done}");
    assert_eq!(done["state"], "in_progress", "{done}");
    assert_eq!(customers_contacts(&app).await, 0);
    let found = json_ok(
        app.search(
            &app.tokens.sanna,
            &[("customer_number", "OTHER-1"), ("purpose", PURPOSE)],
        )
        .await,
    )
    .await;
    assert_eq!(ids_of(&found).len(), 1);

    // The receipt can be fetched again and verifies offline.
    let again = json_ok(
        app.get(
            Some(&rea),
            &app.url(&format!("/api/v1/requests/{id}/receipt")),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(again, done["receipt"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("receipt.json");
    std::fs::write(&file, serde_json::to_vec(&again).unwrap()).unwrap();
    let output = Command::new(KIRJURI)
        .env_clear()
        .args(["receipt", "verify"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout.contains("2 contacts"), "{stdout}");
    assert!(!again.to_string().contains(CUSTOMER));

    // Done once.
    let (code, _) = assert_error(execute(&app, &rea, &id).await, StatusCode::CONFLICT).await;
    assert_eq!(code, "already_executed");
}
