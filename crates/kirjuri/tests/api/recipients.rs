//! The recipients register (`/api/v1/recipients`, DIS-1) through the real
//! binary: a registrar registers a processor with its agreement and
//! purposes, a partner, an authority and the police; a country outside the
//! EU/EEA is refused with 422 `outside_eea` and the reason, a made-up code
//! or a territory with 422 `invalid_country`; hostile or incomplete input
//! is refused with a clear 4xx; a name is registered once even when eight
//! registrars press at once; supervisors read, agents and integrations
//! neither read nor write; and a refusal stores nothing.

use futures::future::join_all;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, json_ok, spawn_app};

async fn add(app: &TestApp, token: &str, body: &Value) -> Response {
    app.client
        .post(app.url("/api/v1/recipients"))
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(body).unwrap())
        .send()
        .await
        .unwrap()
}

async fn listed(app: &TestApp, token: &str) -> Vec<Value> {
    let body = json_ok(
        app.get(Some(token), &app.url("/api/v1/recipients"), None)
            .await,
    )
    .await;
    body["recipients"].as_array().unwrap().clone()
}

fn processor(name: &str, country: &str) -> Value {
    json!({"name": name, "kind": "processor", "country": country,
           "agreement": "DPA-2026-014", "purposes": ["quality_assurance", "training"]})
}

#[tokio::test]
async fn a_registrar_keeps_the_register_and_a_supervisor_reads_it() {
    // Arrange
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");

    // Act
    let response = add(&app, &rea, &processor("Puhelinpalvelu Oy", "fi")).await;
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    for body in [
        json!({"name": "Kyselykumppani Ab", "kind": "partner", "country": "SE", "purposes": ["survey"]}),
        json!({"name": "Helsingin poliisilaitos", "kind": "police", "country": "FI"}),
        json!({"name": "Tietosuojavaltuutettu", "kind": "authority", "country": "FI"}),
    ] {
        assert_eq!(
            add(&app, &rea, &body).await.status(),
            StatusCode::CREATED,
            "{body}"
        );
    }

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["country"], "FI", "stored as the ISO code");
    assert_eq!(created["agreement"], "DPA-2026-014");
    assert_eq!(
        created["purposes"],
        json!(["quality_assurance", "training"])
    );
    let list = listed(&app, &app.tokens.sanna).await;
    assert_eq!(list.len(), 4);
    let page = json_ok(app.audit_log(&app.tokens.sanna, &[("limit", "1000")]).await).await;
    let added = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "recipient.added")
        .count();
    assert_eq!(added, 4);
}

#[tokio::test]
async fn a_recipient_outside_the_eu_eea_is_refused_with_the_reason_and_nothing_is_stored() {
    // Arrange
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");

    // Act and assert: outside, a made-up code, a territory, the EU's own "EL".
    for (country, expected) in [
        ("US", "outside_eea"),
        ("ch", "outside_eea"),
        ("GB", "outside_eea"),
        ("XX", "invalid_country"),
        ("AX", "invalid_country"),
        ("EL", "invalid_country"),
        ("", "invalid_country"),
    ] {
        let (code, message) = assert_error(
            add(&app, &rea, &processor("Pilvipalvelu Inc", country)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(code, expected, "{country}: {message}");
        if expected == "outside_eea" {
            assert!(
                message.contains("EU/EEA") && message.contains("§9"),
                "{message}"
            );
        }
    }
    // Norway and Iceland are in the EEA.
    assert_eq!(
        add(&app, &rea, &processor("Norsk AS", "NO")).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(listed(&app, &rea).await.len(), 1);
}

#[tokio::test]
async fn hostile_and_incomplete_input_is_refused_and_stores_nothing() {
    // Arrange
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");
    let huge = "x".repeat(5_000_000);

    // Act and assert
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"name": "P Oy", "kind": "processor", "country": "FI", "purposes": ["training"]}),
            "agreement_required",
        ),
        (
            json!({"name": "P Oy", "kind": "processor", "country": "FI", "agreement": "A-1"}),
            "purposes_required",
        ),
        (
            json!({"name": "P Oy", "kind": "partner", "country": "FI"}),
            "purposes_required",
        ),
        (
            json!({"name": "P Oy", "kind": "friend", "country": "FI"}),
            "invalid_parameter",
        ),
        (
            json!({"name": "P Oy", "kind": "police", "country": "FI", "purposes": ["spying"]}),
            "invalid_parameter",
        ),
        (
            json!({"name": "", "kind": "police", "country": "FI"}),
            "invalid_parameter",
        ),
        (
            json!({"name": "A\nB", "kind": "police", "country": "FI"}),
            "invalid_parameter",
        ),
        (
            json!({"name": "x".repeat(201), "kind": "police", "country": "FI"}),
            "invalid_parameter",
        ),
        (
            json!({"name": "P Oy", "kind": "police", "country": "FI", "admin": true}),
            "unknown_field",
        ),
        (json!({"name": "P Oy", "kind": "police"}), "missing_field"),
    ];
    for (body, expected) in cases {
        let (code, message) =
            assert_error(add(&app, &rea, &body).await, StatusCode::BAD_REQUEST).await;
        if expected.ends_with("_required") {
            assert_eq!(code, expected, "{body}: {message}");
        }
    }
    let response = add(
        &app,
        &rea,
        &json!({"name": huge, "kind": "police", "country": "FI"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = app
        .client
        .post(app.url("/api/v1/recipients"))
        .bearer_auth(&rea)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(listed(&app, &rea).await.is_empty());
}

#[tokio::test]
async fn only_registrars_write_and_a_name_is_registered_once_under_a_rush() {
    // Arrange
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");
    let rolf = app.add_account("rolf", "registrar");

    // Act: others are refused before their body is read.
    for token in [&app.tokens.sanna, &app.tokens.aino, &app.tokens.pbx] {
        let response = add(&app, token, &processor("Ohituspalvelu Oy", "FI")).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    for token in [&app.tokens.aino, &app.tokens.pbx] {
        let response = app
            .get(Some(token), &app.url("/api/v1/recipients"), None)
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    let response = app.get(None, &app.url("/api/v1/recipients"), None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body = processor("Kiirepalvelu Oy", "FI");
    let rush = join_all((0..8).map(|n| {
        let token = if n % 2 == 0 { &rea } else { &rolf };
        add(&app, token, &body)
    }))
    .await;

    // Assert
    let statuses: Vec<StatusCode> = rush.iter().map(Response::status).collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    let (code, _) = assert_error(
        add(&app, &rea, &processor("Kiirepalvelu Oy", "FI")).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "recipient_exists");
    assert_eq!(listed(&app, &rea).await.len(), 1);
}
