//! Contacts through the API (ING-1, ING-3, REG-1, REG-4): a delivered contact
//! comes back with its identifiers normalised, bad ones are refused with a 400
//! that names the field, a retried delivery never duplicates, and search finds
//! a contact by each identifier in the forms people type.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    PURPOSE, TestApp, assert_error, call, chunked_body, design_example, ids_of, json_ok, spawn_app,
};

#[tokio::test]
async fn a_delivered_contact_comes_back_with_normalised_identifiers_and_a_retention_date() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app
        .create_contact(&app.tokens.pbx, &design_example("pbx-2026-000123"))
        .await;
    let status = response.status();
    let created: Value = response.json().await.expect("a JSON answer");
    let id = created["id"].as_str().expect("an id").to_owned();
    let contact = app.contact_as_supervisor(&id).await;

    // Assert
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(contact["id"], json!(id));
    assert_eq!(contact["external_id"], json!("pbx-2026-000123"));
    assert_eq!(contact["channel"], json!("call_in"));
    assert_eq!(contact["agent"], json!("aino"));
    assert_eq!(contact["customer"]["phone"], json!("+358401234567"));
    assert_eq!(contact["customer"]["name"], json!("Matti Meikäläinen"));
    assert_eq!(contact["customer"]["email"], json!("matti@example.fi"));
    assert_eq!(contact["customer"]["phone_withheld"], json!(false));
    assert_eq!(contact["contact_person"]["phone"], json!("+3589123456"));
    assert_eq!(
        contact["property"]["property_id"],
        json!("091-403-0001-0001")
    );
    assert_eq!(contact["account"]["customer_number"], json!("123456"));
    assert_eq!(contact["service_content"], json!("Water bill complaint"));
    let retain_until = contact["retain_until"]
        .as_str()
        .expect("retain_until is given");
    assert!(
        retain_until.starts_with("2027-"),
        "a November 2026 call is kept into 2027 at most: {retain_until}"
    );
    assert!(
        contact.get("recording").is_none_or(Value::is_null),
        "no recording yet: {contact}"
    );
}

#[tokio::test]
async fn bad_contacts_are_refused_with_400_and_a_message_naming_the_field() {
    // Arrange: one bad contact per problem, with the words the message must hold.
    let app = spawn_app().await;
    let with = |patch: &dyn Fn(&mut Value)| {
        let mut contact = call("aino");
        patch(&mut contact);
        serde_json::to_vec(&contact).expect("serialise")
    };
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        (
            "an unknown field",
            with(&|c| c["colour"] = json!("red")),
            &["colour"],
        ),
        (
            "an unknown nested field",
            with(&|c| c["customer"] = json!({"ssn": "x"})),
            &["ssn"],
        ),
        (
            "a missing started_at",
            with(&|c| {
                c.as_object_mut().expect("object").remove("started_at");
            }),
            &["started_at"],
        ),
        (
            "a missing agent",
            with(&|c| drop(c.as_object_mut().expect("object").remove("agent"))),
            &["agent"],
        ),
        (
            "a bad phone",
            with(&|c| c["customer"] = json!({"phone": "12ab"})),
            &["customer.phone"],
        ),
        (
            "a bad contact-person phone",
            with(&|c| c["contact_person"] = json!({"phone": "++"})),
            &["contact_person.phone"],
        ),
        (
            "a bad property id",
            with(&|c| c["property"] = json!({"property_id": "91-403-1"})),
            &["property_id"],
        ),
        (
            "a bad email",
            with(&|c| c["customer"] = json!({"email": "matti.example.fi"})),
            &["email"],
        ),
        (
            "an end before the start",
            with(&|c| c["ended_at"] = json!("2026-11-29T09:00:00+02:00")),
            &["ended_at"],
        ),
        (
            "an unknown channel",
            with(&|c| c["channel"] = json!("pigeon")),
            &["channel"],
        ),
        (
            "a number for the agent",
            with(&|c| c["agent"] = json!(42)),
            &["agent"],
        ),
        (
            "a string for the customer",
            with(&|c| c["customer"] = json!("Matti")),
            &["customer"],
        ),
        (
            "a number for started_at",
            with(&|c| c["started_at"] = json!(1_764_400_502)),
            &["started_at"],
        ),
        (
            "a timestamp without an offset",
            with(&|c| c["started_at"] = json!("2026-11-29 09:15")),
            &["started_at"],
        ),
        (
            "not JSON",
            b"channel=call_in&agent=aino".to_vec(),
            &["json"],
        ),
    ];

    let mut unclear = Vec::new();
    for (label, body, words) in cases {
        // Act
        let response = app
            .post_contact_raw(Some(&app.tokens.pbx), Some("application/json"), body)
            .await;

        // Assert
        let (code, message) = assert_error(response, StatusCode::BAD_REQUEST).await;
        let lower = message.to_lowercase();
        for word in words {
            if !lower.contains(word) {
                unclear.push(format!(
                    "{label}: the message should name {word:?}: {message} ({code})"
                ));
            }
        }
    }
    assert!(
        unclear.is_empty(),
        "unclear error messages:\n{}",
        unclear.join("\n")
    );
    let stored = app.all_contact_ids().await;
    assert!(
        stored.is_empty(),
        "refused contacts are not stored: {stored:?}"
    );
}

/// A syntactically fine contact whose service_content pads it past 1 MiB.
fn oversized_contact() -> Vec<u8> {
    let mut contact = call("aino");
    contact["service_content"] = json!("x".repeat((1 << 20) + 10));
    serde_json::to_vec(&contact).expect("serialise")
}

/// Posts an oversized contact and asserts the client reads a 413 naming the limit.
async fn assert_oversized_contact_refused(app: &TestApp, body: reqwest::Body) {
    let response = app
        .client
        .post(app.url("/api/v1/contacts"))
        .bearer_auth(&app.tokens.pbx)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!("the client never saw an answer (the server closed the connection?): {e:?}")
        });
    let (_, message) = assert_error(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(
        message.contains("limit"),
        "the message names the limit: {message}"
    );
    assert!(
        app.all_contact_ids().await.is_empty(),
        "an oversized contact is not stored"
    );
}

#[tokio::test]
async fn a_contact_body_over_one_mebibyte_with_a_content_length_is_refused_with_413() {
    // Arrange
    let app = spawn_app().await;

    // Act + Assert
    assert_oversized_contact_refused(&app, oversized_contact().into()).await;
}

#[tokio::test]
async fn a_contact_body_over_one_mebibyte_streamed_without_a_length_is_refused_with_413() {
    // Arrange
    let app = spawn_app().await;

    // Act + Assert
    assert_oversized_contact_refused(&app, chunked_body(oversized_contact(), 64 * 1024)).await;
}

#[tokio::test]
async fn a_contact_sent_as_something_other_than_json_is_refused_with_415() {
    // Arrange
    let app = spawn_app().await;
    let body = serde_json::to_vec(&call("aino")).expect("serialise");

    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        // Act
        let response = app
            .post_contact_raw(Some(&app.tokens.pbx), content_type, body.clone())
            .await;

        // Assert
        let (_, message) = assert_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
        assert!(
            message.contains("application/json"),
            "{content_type:?}: {message}"
        );
    }
    assert!(app.all_contact_ids().await.is_empty());
}

#[tokio::test]
async fn a_json_content_type_with_a_charset_is_accepted() {
    // Arrange
    let app = spawn_app().await;
    let body = serde_json::to_vec(&call("aino")).expect("serialise");

    // Act
    let response = app
        .post_contact_raw(
            Some(&app.tokens.pbx),
            Some("application/json; charset=utf-8"),
            body,
        )
        .await;

    // Assert
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn the_same_external_id_posted_twenty_times_at_once_yields_one_contact() {
    // Arrange
    let app = spawn_app().await;
    let mut contact = call("aino");
    contact["external_id"] = json!("pbx-retry-storm-1");
    contact["account"] = json!({"customer_number": "RETRY-777"});

    // Act
    let responses = join_all((0..20).map(|_| app.create_contact(&app.tokens.pbx, &contact))).await;
    let mut statuses = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    for response in responses {
        statuses.push(response.status());
        let body: Value = response.json().await.expect("a JSON answer");
        ids.insert(
            body["id"]
                .as_str()
                .unwrap_or_else(|| panic!("no id in {body}"))
                .to_owned(),
        );
    }

    // Assert
    assert_eq!(ids.len(), 1, "every delivery got the same id: {ids:?}");
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "exactly one 201: {statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        19,
        "the rest are 200: {statuses:?}"
    );
    let found = json_ok(
        app.search(
            &app.tokens.sanna,
            &[("customer_number", "RETRY-777"), ("purpose", PURPOSE)],
        )
        .await,
    )
    .await;
    assert_eq!(ids_of(&found), ids, "exactly one contact is stored");
}

#[tokio::test]
async fn a_repeated_external_id_returns_the_first_contact_unchanged() {
    // Arrange
    let app = spawn_app().await;
    let first = design_example("pbx-2026-000999");
    let id = app.new_contact(&first).await;
    let mut second = first.clone();
    second["service_content"] = json!("A different story");

    // Act
    let response = app.create_contact(&app.tokens.pbx, &second).await;
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON answer");

    // Assert
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], json!(id));
    let stored = app.contact_as_supervisor(&id).await;
    assert_eq!(
        stored["service_content"],
        json!("Water bill complaint"),
        "the first delivery is what is kept"
    );
}

#[tokio::test]
async fn search_finds_a_contact_by_each_identifier_in_the_forms_people_type() {
    // Arrange
    let app = spawn_app().await;
    let id = app.new_contact(&design_example("pbx-search-1")).await;
    let other = app.new_call("aino").await;

    let queries: Vec<Vec<(&str, &str)>> = vec![
        vec![("phone", "040 123 4567")],
        vec![("phone", "0401234567")],
        vec![("phone", "+358401234567")],
        vec![("phone", "+358 40 123 4567")],
        vec![("phone", "09 123 456")],
        vec![("email", "matti@example.fi")],
        vec![("property_id", "91-403-1-1")],
        vec![("property_id", "091-403-0001-0001")],
        vec![("customer_number", "123456")],
        vec![("name", "Matti Meikäläinen")],
        vec![("phone", "0401234567"), ("agent", "aino")],
        vec![
            ("phone", "0401234567"),
            ("from", "2026-11-29"),
            ("to", "2026-11-29"),
        ],
    ];
    for mut query in queries {
        query.push(("purpose", PURPOSE));

        // Act
        let found = json_ok(app.search(&app.tokens.sanna, &query).await).await;

        // Assert
        let ids = ids_of(&found);
        assert!(
            ids.contains(&id),
            "{query:?} should find the contact: {found}"
        );
        assert!(
            !ids.contains(&other),
            "{query:?} should not find an unrelated contact"
        );
        let hit = found["contacts"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["id"] == json!(id)));
        assert_eq!(
            hit.map(|c| &c["customer"]["phone"]),
            Some(&json!("+358401234567")),
            "results are full contacts"
        );
    }
}

#[tokio::test]
async fn search_by_a_time_window_leaves_out_contacts_outside_it() {
    // Arrange
    let app = spawn_app().await;
    let november = app.new_call("aino").await;
    let mut december = call("aino");
    december["started_at"] = json!("2026-12-03T10:00:00+02:00");
    december["ended_at"] = json!("2026-12-03T10:05:00+02:00");
    let december = app.new_contact(&december).await;

    // Act
    let found = json_ok(
        app.search(
            &app.tokens.sanna,
            &[
                ("from", "2026-12-01"),
                ("to", "2026-12-31"),
                ("purpose", PURPOSE),
            ],
        )
        .await,
    )
    .await;

    // Assert
    let ids = ids_of(&found);
    assert!(ids.contains(&december), "{found}");
    assert!(!ids.contains(&november), "{found}");
}

#[tokio::test]
async fn a_search_with_a_bad_identifier_or_an_unknown_parameter_is_refused_with_400() {
    // Arrange
    let app = spawn_app().await;
    app.new_contact(&design_example("pbx-search-2")).await;

    for (query, word) in [
        (vec![("phone", "12ab")], "phone"),
        (vec![("property_id", "nonsense")], "property_id"),
        (vec![("from", "yesterday")], "from"),
        (vec![("colour", "red")], "colour"),
    ] {
        let mut query = query;
        query.push(("purpose", PURPOSE));

        // Act
        let response = app.search(&app.tokens.sanna, &query).await;

        // Assert
        let (_, message) = assert_error(response, StatusCode::BAD_REQUEST).await;
        assert!(message.contains(word), "{query:?}: {message}");
    }
}

#[tokio::test]
async fn the_health_check_answers_without_credentials() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app.healthz().await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
}
