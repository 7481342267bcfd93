//! The breach register (`/api/v1/incidents`, Art. 33(5); issue 13 §7)
//! through the real binary: every required Art. 33(3) field missing in
//! turn is a 422 naming it; hostile input (huge texts, bad or future times,
//! awareness before detection, unknown fields, wrong types) stores
//! nothing; agents, integrations and supervisors cannot record; updates are
//! appended, never edited, parallel ones each kept; the 72-hour clock over
//! time travel (incidents whose awareness lies 1, 25, 49, 67 and 73 hours
//! back: open, the 24/48/66 h alerts, overdue); a late notification without
//! reasons for delay is a 422; and the impact query over seeded reads by
//! two accounts in and out of a window finds exactly the subjects one
//! incident touched, by keyed reference, and nothing else.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use futures::future::join_all;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PURPOSE, TestApp, assert_error, call, json_ok, spawn_app, wav};

/// Now, as the binary under test sees it.
#[allow(
    clippy::disallowed_methods,
    reason = "the binary under test reads the real clock; the times are placed relative to it"
)]
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now()
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

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

async fn record(app: &TestApp, token: &str, body: &Value) -> Response {
    post(app, token, "/api/v1/incidents", body).await
}

async fn listed(app: &TestApp, token: &str) -> Vec<Value> {
    let body = json_ok(
        app.get(Some(token), &app.url("/api/v1/incidents"), None)
            .await,
    )
    .await;
    body["incidents"].as_array().unwrap().clone()
}

async fn show(app: &TestApp, token: &str, id: &str) -> Response {
    app.get(
        Some(token),
        &app.url(&format!("/api/v1/incidents/{id}")),
        None,
    )
    .await
}

/// A breach the controller became aware of `hours` ago.
pub(crate) fn breach(hours: i64) -> Value {
    let aware = now() - TimeDelta::hours(hours);
    json!({
        "detected_at": rfc3339(aware - TimeDelta::minutes(10)),
        "aware_at": rfc3339(aware),
        "nature": "Lost laptop with an export of calls",
        "data_categories": ["phone numbers", "call recordings"],
        "subject_categories": ["customers"],
        "approx_subjects": 40,
        "approx_records": 120,
        "consequences": "Callers may be identified",
        "measures": "Disk encryption confirmed; tokens revoked",
        "notify_authority": true,
        "notify_reasoning": "Recordings are personal data with a risk"
    })
}

/// Asserts 201 and returns the JSON body.
async fn created(response: Response) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "expected 201: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Records `body` as `token`, asserting 201; returns the incident.
pub(crate) async fn recorded(app: &TestApp, token: &str, body: &Value) -> Value {
    let response = record(app, token, body).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

const REQUIRED: [&str; 11] = [
    "detected_at",
    "aware_at",
    "nature",
    "data_categories",
    "subject_categories",
    "approx_subjects",
    "approx_records",
    "consequences",
    "measures",
    "notify_authority",
    "notify_reasoning",
];

fn incident_rows(app: &TestApp) -> String {
    app.sql("SELECT count(*) FROM incidents; SELECT count(*) FROM incident_updates;")
}

#[tokio::test]
async fn each_missing_required_field_is_a_422_naming_it_and_nothing_is_stored() {
    // Arrange
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");

    for field in REQUIRED {
        for absent in [None, Some(Value::Null), Some(json!(""))] {
            let mut body = breach(1);
            match &absent {
                None => {
                    body.as_object_mut().unwrap().remove(field);
                }
                Some(value) => body[field] = value.clone(),
            }
            // Act
            let (code, message) = assert_error(
                record(&app, &rea, &body).await,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
            // Assert (an empty string is mistyped for a number, a flag or a list)
            assert!(
                code == "missing_field" || code == "invalid_field",
                "{field} {absent:?}: {code}"
            );
            assert!(
                message.starts_with(&format!("{field}:")),
                "{field} {absent:?}: {message}"
            );
        }
    }
    assert_eq!(incident_rows(&app), "0\n0\n");
    assert!(listed(&app, &rea).await.is_empty());
}

#[tokio::test]
async fn hostile_input_is_refused_and_stores_nothing() {
    // Arrange
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");
    let huge = "x".repeat(4001);
    let future = rfc3339(now() + TimeDelta::days(1));
    let cases: Vec<(&str, Value, &str)> = vec![
        ("nature", json!(huge), "nature:"),
        ("measures", json!("a\u{0}b"), "measures:"),
        ("data_categories", json!(vec!["x"; 21]), "data_categories:"),
        (
            "data_categories",
            json!("phone numbers"),
            "data_categories:",
        ),
        ("subject_categories", json!(["a\nb"]), "subject_categories:"),
        ("subject_categories", json!([]), "subject_categories:"),
        ("approx_subjects", json!(-1), "approx_subjects:"),
        ("approx_subjects", json!("many"), "approx_subjects:"),
        ("approx_records", json!(1.5), "approx_records:"),
        ("approx_records", json!(1e300), "approx_records:"),
        ("notify_authority", json!("yes"), "notify_authority:"),
        ("detected_at", json!("yesterday"), "detected_at:"),
        ("detected_at", json!("2026-13-40T99:00:00Z"), "detected_at:"),
        ("aware_at", json!(future), "aware_at:"),
        ("aware_at", json!("2026-01-01T00:00:00"), "aware_at:"),
        (
            "aware_at",
            json!(rfc3339(now() - TimeDelta::days(30))),
            "aware_at:",
        ),
        (
            "authority_notified_at",
            json!(rfc3339(now() - TimeDelta::days(30))),
            "authority_notified_at:",
        ),
        (
            "authority_reference",
            json!("x".repeat(201)),
            "authority_reference:",
        ),
        ("subjects_informed", json!(true), "subjects_reasoning:"),
        ("delay_reasons", json!({"a": 1}), "delay_reasons:"),
    ];
    for (field, value, expected) in &cases {
        let mut body = breach(1);
        body[*field] = value.clone();
        // Act
        let (_, message) = assert_error(
            record(&app, &rea, &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        // Assert
        assert!(message.starts_with(expected), "{field}={value}: {message}");
        assert!(!message.contains("xxxx"), "the value is never echoed");
    }
    // Unknown fields, a body that is no object, a huge body, the wrong type.
    let mut unknown = breach(1);
    unknown["severity"] = json!("high");
    let (_, message) =
        assert_error(record(&app, &rea, &unknown).await, StatusCode::BAD_REQUEST).await;
    assert!(message.contains("severity"), "{message}");
    assert_error(
        record(&app, &rea, &json!([1, 2])).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let mut enormous = breach(1);
    enormous["nature"] = json!("x".repeat(3 * 1024 * 1024));
    let status = record(&app, &rea, &enormous).await.status();
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let as_text = app
        .client
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(&rea)
        .body(serde_json::to_vec(&breach(1)).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(as_text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    assert_eq!(incident_rows(&app), "0\n0\n");
}

#[tokio::test]
async fn only_registrars_record_and_supervisors_only_read() {
    // Arrange
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");
    let admin = app.add_account("ilmari", "admin");
    let incident = recorded(&app, &rea, &breach(1)).await;
    let id = incident["id"].as_str().unwrap();

    // Act and assert: nobody else writes…
    for token in [&app.tokens.aino, &app.tokens.pbx, &app.tokens.sanna, &admin] {
        assert_error(record(&app, token, &breach(1)).await, StatusCode::FORBIDDEN).await;
        let update = json!({"note": "x"});
        let path = format!("/api/v1/incidents/{id}/updates");
        assert_error(
            post(&app, token, &path, &update).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        let impact = json!({"from": rfc3339(now() - TimeDelta::hours(1)), "to": rfc3339(now()), "user": "aino"});
        let path = format!("/api/v1/incidents/{id}/impact");
        assert_error(
            post(&app, token, &path, &impact).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    // …a supervisor reads, an agent, an integration and an admin do not.
    assert_eq!(listed(&app, &app.tokens.sanna).await.len(), 1);
    assert_eq!(
        show(&app, &app.tokens.sanna, id).await.status(),
        StatusCode::OK
    );
    for token in [&app.tokens.aino, &app.tokens.pbx, &admin] {
        assert_error(show(&app, token, id).await, StatusCode::FORBIDDEN).await;
        let list = app
            .get(Some(token), &app.url("/api/v1/incidents"), None)
            .await;
        assert_error(list, StatusCode::FORBIDDEN).await;
    }
    // An unknown or malformed id is 404.
    for missing in ["0190b4f6-0000-7000-8000-000000000000", "not-an-id"] {
        assert_error(show(&app, &rea, missing).await, StatusCode::NOT_FOUND).await;
        let path = format!("/api/v1/incidents/{missing}/updates");
        assert_error(
            post(&app, &rea, &path, &json!({"note": "x"})).await,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    assert_eq!(incident_rows(&app), "1\n1\n");
    let page = json_ok(app.audit_log(&app.tokens.sanna, &[("limit", "1000")]).await).await;
    let actions: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "incident.recorded")
            .count(),
        1
    );
    assert!(actions.contains(&"incident.viewed"));
    assert!(actions.contains(&"access.denied"));
}

#[tokio::test]
async fn updates_are_appended_in_order_even_in_parallel_and_never_move_the_clock() {
    // Arrange
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");
    let incident = recorded(&app, &rea, &breach(2)).await;
    let id = incident["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/incidents/{id}/updates");

    // Act: eight registrars' notes at once, then a revision of the numbers.
    let notes = join_all((0..8).map(|i| {
        let (app, rea, path) = (&app, &rea, &path);
        async move { post(app, rea, path, &json!({"note": format!("note {i}")})).await }
    }))
    .await;
    let revised = created(post(&app, &rea, &path, &json!({"approx_subjects": 55})).await).await;

    // Assert
    assert!(notes.iter().all(|r| r.status() == StatusCode::CREATED));
    let entries = revised["entries"].as_array().unwrap();
    let places: Vec<i64> = entries.iter().map(|e| e["n"].as_i64().unwrap()).collect();
    assert_eq!(places, (1..=10).collect::<Vec<_>>());
    assert_eq!(
        entries[0], incident["entries"][0],
        "the first entry is as recorded"
    );
    assert_eq!(revised["current"]["facts"]["approx_subjects"], 55);
    assert_eq!(revised["current"]["facts"]["approx_records"], 120);
    assert_eq!(
        revised["current"]["text"]["nature"],
        "Lost laptop with an export of calls"
    );

    // The clock cannot be moved, an empty update says nothing.
    for (body, expected) in [
        (json!({"aware_at": rfc3339(now())}), "aware_at:"),
        (json!({"detected_at": rfc3339(now())}), "detected_at:"),
        (json!({"notify_authority": false}), "notify_reasoning:"),
        (json!({}), "an update"),
    ] {
        let (_, message) = assert_error(
            post(&app, &rea, &path, &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(message.starts_with(expected), "{body}: {message}");
    }
    assert_eq!(incident_rows(&app), "1\n10\n");
    assert_eq!(incident["aware_at"], revised["aware_at"]);
}

#[tokio::test]
async fn the_clock_alerts_at_24_48_and_66_hours_and_a_late_notification_needs_its_reasons() {
    // Arrange: incidents the controller became aware of 1, 25, 49, 67 and 73 hours ago.
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");
    let mut ids = Vec::new();
    for hours in [1, 25, 49, 67, 73] {
        ids.push((
            hours,
            recorded(&app, &rea, &breach(hours)).await["id"].clone(),
        ));
    }

    // Act
    let list = listed(&app, &app.tokens.sanna).await;

    // Assert: the clock of each, newest awareness first.
    let clocks: Vec<(Value, Value)> = list
        .iter()
        .map(|i| (i["clock"]["state"].clone(), i["clock"]["alert"].clone()))
        .collect();
    assert_eq!(
        clocks,
        [
            (json!("open"), Value::Null),
            (json!("open"), json!("24h")),
            (json!("open"), json!("48h")),
            (json!("open"), json!("66h")),
            (json!("overdue"), Value::Null),
        ]
    );
    let left = list[0]["clock"]["seconds_left"].as_i64().unwrap();
    assert!((70 * 3600..=71 * 3600).contains(&left), "{left}");
    assert!(list[4]["clock"]["seconds_left"].as_i64().unwrap() < 0);

    // A notification now of the 73-hour one is late: reasons required…
    let overdue = ids[4].1.as_str().unwrap();
    let path = format!("/api/v1/incidents/{overdue}/updates");
    let late =
        json!({"authority_notified_at": rfc3339(now()), "authority_reference": "TSV/123/2026"});
    let (code, message) = assert_error(
        post(&app, &rea, &path, &late).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(code, "delay_reasons_required");
    assert!(message.starts_with("delay_reasons:"), "{message}");
    assert_eq!(incident_rows(&app), "5\n5\n");
    // …and with them it is recorded as late.
    let mut with_reasons = late.clone();
    with_reasons["delay_reasons"] = json!("The export's contents were confirmed only on day 3");
    let view = created(post(&app, &rea, &path, &with_reasons).await).await;
    assert_eq!(view["clock"]["state"], "notified_late");
    // The 25-hour one notified now is on time; the 1-hour one decided not to notify.
    let on_time = format!("/api/v1/incidents/{}/updates", ids[1].1.as_str().unwrap());
    let view = created(
        post(
            &app,
            &rea,
            &on_time,
            &json!({"authority_notified_at": rfc3339(now())}),
        )
        .await,
    )
    .await;
    assert_eq!(view["clock"]["state"], "notified");
    let not_needed = format!("/api/v1/incidents/{}/updates", ids[0].1.as_str().unwrap());
    let body =
        json!({"notify_authority": false, "notify_reasoning": "Encrypted; no risk (Art. 33(1))"});
    let view = created(post(&app, &rea, &not_needed, &body).await).await;
    assert_eq!(view["clock"]["state"], "not_required");
    // A breach recorded late with its notification needs the reasons at once.
    let mut recorded_late = breach(80);
    recorded_late["authority_notified_at"] = json!(rfc3339(now() - TimeDelta::hours(2)));
    let (_, message) = assert_error(
        record(&app, &rea, &recorded_late).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(message.starts_with("delay_reasons:"), "{message}");
}

/// A call handled by `agent` from the customer with `phone`.
fn call_from(agent: &str, phone: &str) -> Value {
    let mut contact = call(agent);
    contact["customer"] = json!({"phone": phone, "name": "Asiakas Testinen"});
    contact
}

async fn view(app: &TestApp, token: &str, id: &str) {
    let response = app.get_contact(token, id, Some(PURPOSE)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// When the audit log recorded `token`'s last read of contact `id`.
async fn read_at(app: &TestApp, id: &str) -> String {
    let page = json_ok(
        app.audit_log(&app.tokens.sanna, &[("contact", id), ("limit", "1000")])
            .await,
    )
    .await;
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["action"] == "contact.viewed" || e["action"] == "recording.read")
        .unwrap()["at"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_impact_query_finds_exactly_the_subjects_one_account_read_in_the_window() {
    // Arrange: aino's and bertta's callers; two of aino's calls are from one number.
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");
    let before = app.new_contact(&call_from("aino", "040 100 0005")).await;
    let one = app.new_contact(&call_from("aino", "040 100 0001")).await;
    let same = app.new_contact(&call_from("aino", "+358401000001")).await;
    let heard = app.new_contact(&call_from("aino", "040 100 0002")).await;
    app.store_recording(&heard, &wav(800)).await;
    let after = app.new_contact(&call_from("aino", "040 100 0007")).await;
    let bertta_s = app.new_contact(&call_from("bertta", "040 100 0003")).await;
    let aino = app.tokens.aino.clone();

    // aino reads one contact before the window…
    view(&app, &aino, &before).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    // …three contacts and a recording in it, while bertta reads her own
    // and the supervisor one of aino's…
    view(&app, &aino, &one).await;
    let from = read_at(&app, &one).await;
    view(&app, &aino, &same).await;
    let recording = app.get_recording(&aino, &heard, Some(PURPOSE), None).await;
    assert_eq!(recording.status(), StatusCode::OK);
    view(&app, &app.tokens.bertta, &bertta_s).await;
    view(&app, &app.tokens.sanna, &after).await;
    // …is refused one of bertta's (a denial released nothing)…
    let refused = app.get_contact(&aino, &bertta_s, Some(PURPOSE)).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    tokio::time::sleep(Duration::from_millis(20)).await;
    // …and reads another after it.
    view(&app, &aino, &after).await;
    let to = read_at(&app, &after).await;
    let incident = recorded(&app, &rea, &breach(1)).await;
    let path = format!(
        "/api/v1/incidents/{}/impact",
        incident["id"].as_str().unwrap()
    );

    // Act
    let impact = json_ok(
        post(
            &app,
            &rea,
            &path,
            &json!({"from": from, "to": to, "user": "aino"}),
        )
        .await,
    )
    .await;

    // Assert: exactly aino's in-window reads — three contacts of two subjects.
    let mut contacts: Vec<&str> = impact["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    contacts.sort_unstable();
    let mut expected = vec![one.as_str(), same.as_str(), heard.as_str()];
    expected.sort_unstable();
    assert_eq!(contacts, expected, "{impact}");
    assert_eq!(
        impact["counts"],
        json!({"events": 3, "contacts": 3, "recordings": 1, "subjects": 2})
    );
    let subjects = impact["subjects"].as_array().unwrap();
    let grouped: Vec<usize> = {
        let mut sizes: Vec<usize> = subjects
            .iter()
            .map(|s| s["contacts"].as_array().unwrap().len())
            .collect();
        sizes.sort_unstable();
        sizes
    };
    assert_eq!(
        grouped,
        [1, 2],
        "the two calls from one number are one subject"
    );
    for subject in subjects {
        let reference = subject["reference"].as_str().unwrap();
        assert_eq!(reference.len(), 32);
        assert!(reference.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(subject["identifier_kinds"], json!(["name", "phone"]));
    }
    let text = impact.to_string();
    for plain in ["1000001", "1000002", "Asiakas", "Testinen"] {
        assert!(!text.contains(plain), "{plain} in {text}");
    }

    // The same query by objects: bertta's contact and the recording's
    // contact, by anyone in the window.
    let by_objects = json!({"from": from, "to": to, "contacts": [bertta_s, heard]});
    let impact2 = json_ok(post(&app, &rea, &path, &by_objects).await).await;
    let mut found: Vec<&str> = impact2["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    found.sort_unstable();
    let mut expected = vec![bertta_s.as_str(), heard.as_str()];
    expected.sort_unstable();
    assert_eq!(found, expected, "{impact2}");
    assert_eq!(impact2["counts"]["subjects"], 2);
    // References are stable between queries.
    let heard_ref = |impact: &Value| {
        impact["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| {
                s["contacts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c == heard.as_str())
            })
            .unwrap()["reference"]
            .clone()
    };
    assert_eq!(heard_ref(&impact), heard_ref(&impact2));

    // The query is audited with its counts and no result.
    let page = json_ok(
        app.audit_log(&app.tokens.sanna, &[("action", "incident.impact_queried")])
            .await,
    )
    .await;
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["details"]["counts"]["subjects"], 2);
    assert!(!events[0]["details"].to_string().contains(&one));
}

#[tokio::test]
async fn an_impact_query_without_a_scope_or_with_a_bad_window_is_refused() {
    // Arrange
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");
    let incident = recorded(&app, &rea, &breach(1)).await;
    let path = format!(
        "/api/v1/incidents/{}/impact",
        incident["id"].as_str().unwrap()
    );
    let (from, to) = (rfc3339(now() - TimeDelta::hours(1)), rfc3339(now()));
    let many: Vec<String> = (0..1001)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();

    // Act and assert
    for (body, status, expected) in [
        (
            json!({"from": from, "to": to}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "scope_required",
        ),
        (
            json!({"from": to, "to": from, "user": "aino"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"from": "then", "to": to, "user": "aino"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"to": to, "user": "aino"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
        ),
        (
            json!({"from": "2020-01-01T00:00:00Z", "to": to, "user": "aino"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"from": from, "to": to, "user": "nobody"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_user",
        ),
        (
            json!({"from": from, "to": to, "contacts": ["040 100 0001"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"from": from, "to": to, "objects": many}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"from": from, "to": to, "user": "aino", "phone": "x"}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ] {
        let (code, message) = assert_error(post(&app, &rea, &path, &body).await, status).await;
        assert_eq!(code, expected, "{message}");
        assert!(!message.contains("040"), "{message}");
    }
    let ghost = "/api/v1/incidents/0190b4f6-0000-7000-8000-000000000000/impact";
    let body = json!({"from": from, "to": to, "user": "aino"});
    assert_error(post(&app, &rea, ghost, &body).await, StatusCode::NOT_FOUND).await;
}
