//! Legal holds and retention visibility (RET-1, RET-2, issue 5 items 1, 2
//! and 5), through the real binary: holds placed on a contact, a recording
//! and a phone-number query over HTTP and the command line, listed, shown,
//! reviewed and lifted; who may (registrars, supervisors, administrators)
//! and who may not, each refusal audited; bad input refused with nothing
//! stored; `GET /api/v1/retention`; each object's deadline and tombstone in
//! the contact JSON; and the retention policies from configuration — at
//! intake, refused past the notice's 12 months, and `retention apply`
//! shortening but never lengthening.

use chrono::{DateTime, Months, NaiveDate, Utc};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    PURPOSE, TestApp, assert_error, call, json_ok, spawn_app, spawn_app_with_env, wav,
};

// ---- helpers -------------------------------------------------------------------

/// `POST path` with a JSON body as `token`.
async fn post_json(app: &TestApp, token: &str, path: &str, body: &Value) -> Response {
    post_raw(app, token, path, serde_json::to_vec(body).unwrap()).await
}

/// `POST path` with raw bytes declared as JSON.
async fn post_raw(app: &TestApp, token: &str, path: &str, body: Vec<u8>) -> Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .expect("POST")
}

async fn get_json(app: &TestApp, token: &str, path: &str) -> Response {
    app.get(Some(token), &app.url(path), None).await
}

/// A hold's page of targets, as its registrar reads it: `query` is the
/// query string (`limit=`, `after=`).
async fn hold_page(app: &TestApp, id: &str, query: &str) -> Value {
    let path = format!("/api/v1/holds/{id}?{query}");
    json_ok(get_json(app, &app.tokens.sanna, &path).await).await
}

/// The server's "today" in Helsinki, read from the retention overview (the
/// server is another process on the real clock).
pub(crate) async fn server_today(app: &TestApp) -> NaiveDate {
    let overview = json_ok(get_json(app, &app.tokens.sanna, "/api/v1/retention").await).await;
    let now: DateTime<Utc> = overview["now"].as_str().unwrap().parse().unwrap();
    now.with_timezone(&chrono_tz::Europe::Helsinki).date_naive()
}

/// A review date `months` months (and a day) from the server's today.
async fn review_in(app: &TestApp, months: u32) -> String {
    let today = server_today(app).await;
    (today + Months::new(months)).to_string()
}

/// A contact of the given phone number that started at `started_at`.
async fn call_of(app: &TestApp, phone: &str, started_at: &str) -> String {
    let mut contact = call("aino");
    contact["started_at"] = json!(started_at);
    contact["ended_at"] = Value::Null;
    contact["customer"] = json!({"name": "Held Customer", "phone": phone});
    app.new_contact(&contact).await
}

/// A hold body on `target` with valid everything else.
fn hold_body(target: Value, review_by: &str) -> Value {
    let mut body = json!({
        "ground_kind": "complaint",
        "ground": "Complaint 2026-117 (Consumer Disputes Board)",
        "owner": "sanna",
        "review_by": review_by,
    });
    for (key, value) in target.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

/// Places a hold as `token`, asserting 201; returns the answer.
async fn place(app: &TestApp, token: &str, body: &Value) -> Value {
    let response = post_json(app, token, "/api/v1/holds", body).await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "placing a hold: {answer}");
    answer
}

/// Places a hold on a whole contact, to be reviewed by `review`.
async fn place_on_contact(app: &TestApp, token: &str, contact: &str, review: &str) -> Value {
    place(app, token, &hold_body(json!({"contact": contact}), review)).await
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Audit events with this action, as the supervisor reads them.
async fn audit_events(app: &TestApp, action: &str) -> Vec<Value> {
    let page = json_ok(
        app.audit_log(&app.tokens.sanna, &[("action", action), ("limit", "1000")])
            .await,
    )
    .await;
    page["events"].as_array().unwrap().clone()
}

// ---- holds over HTTP -----------------------------------------------------------

#[tokio::test]
async fn a_registrar_places_lists_shows_reviews_and_lifts_a_hold_on_a_contact() {
    // Arrange
    let app = spawn_app().await;
    let registrar = app.add_account("rita", "registrar");
    let contact = app.new_call("aino").await;
    let review = review_in(&app, 6).await;

    // Act: place
    let placed = place_on_contact(&app, &registrar, &contact, &review).await;
    let id = placed["id"].as_str().unwrap().to_owned();

    // Assert
    assert_eq!(placed["targets"], 1);
    let listed = json_ok(get_json(&app, &registrar, "/api/v1/holds").await).await;
    let holds = listed["holds"].as_array().unwrap();
    assert_eq!(holds.len(), 1, "{listed}");
    assert_eq!(holds[0]["id"], id.as_str());
    assert_eq!(holds[0]["state"], "active");
    assert_eq!(holds[0]["ground_kind"], "complaint");
    assert_eq!(holds[0]["owner"], "sanna");
    assert_eq!(holds[0]["created_by"], "rita");
    assert_eq!(holds[0]["review_by"], review.as_str());
    assert_eq!(holds[0]["scope"], json!({"contact": contact}));
    let shown = json_ok(get_json(&app, &registrar, &format!("/api/v1/holds/{id}")).await).await;
    assert_eq!(
        shown["target_list"],
        json!([{"contact_id": contact, "object_id": null}])
    );
    assert_eq!(shown["next"], Value::Null);

    // Act: move the review date
    let later = review_in(&app, 12).await;
    let moved = json_ok(
        post_json(
            &app,
            &app.tokens.sanna,
            &format!("/api/v1/holds/{id}/review"),
            &json!({"review_by": later}),
        )
        .await,
    )
    .await;
    assert_eq!(moved["review_by"], later.as_str());

    // Act: lift
    let lifted = json_ok(
        post_json(
            &app,
            &registrar,
            &format!("/api/v1/holds/{id}/lift"),
            &json!({"reason": "Complaint settled on 2026-12-01"}),
        )
        .await,
    )
    .await;

    // Assert
    assert_eq!(lifted["state"], "lifted");
    assert_eq!(lifted["lift_reason"], "Complaint settled on 2026-12-01");
    assert_eq!(lifted["lifted_by"], "rita");
    let active = json_ok(get_json(&app, &registrar, "/api/v1/holds").await).await;
    assert_eq!(active["holds"], json!([]), "a lifted hold is not active");
    let all = json_ok(get_json(&app, &registrar, "/api/v1/holds?all=true").await).await;
    assert_eq!(all["holds"][0]["id"], id.as_str());
    let again = post_json(
        &app,
        &registrar,
        &format!("/api/v1/holds/{id}/lift"),
        &json!({"reason": "twice"}),
    )
    .await;
    let (code, _) = assert_error(again, StatusCode::CONFLICT).await;
    assert_eq!(code, "already_lifted");

    // Every change is audited by the hold's id, never with its ground.
    for action in ["hold.placed", "hold.review_moved", "hold.lifted"] {
        let events = audit_events(&app, action).await;
        assert_eq!(events.len(), 1, "{action}: {events:?}");
        assert_eq!(events[0]["object"], id.as_str(), "{action}");
        let text = events[0].to_string();
        assert!(!text.contains("Consumer Disputes"), "{action}: {text}");
        assert!(!text.contains("settled"), "{action}: {text}");
    }
    assert_eq!(
        audit_events(&app, "hold.placed").await[0]["details"],
        json!({"targets": 1, "ground_kind": "complaint"})
    );
}

#[tokio::test]
async fn a_hold_on_a_recording_names_it_and_shows_in_the_contact_json() {
    // Arrange
    let app = spawn_app().await;
    let contact = app.new_call("aino").await;
    let ack = app.store_recording(&contact, &wav(8000)).await;
    let view = app.contact_as_supervisor(&contact).await;
    let recording = view["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "recording")
        .unwrap_or_else(|| panic!("no recording among the objects: {view}"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let review = review_in(&app, 3).await;

    // Act
    let placed = place(
        &app,
        &app.tokens.sanna,
        &hold_body(json!({"recording": recording}), &review),
    )
    .await;

    // Assert
    let id = placed["id"].as_str().unwrap();
    let shown =
        json_ok(get_json(&app, &app.tokens.sanna, &format!("/api/v1/holds/{id}")).await).await;
    assert_eq!(
        shown["target_list"],
        json!([{"contact_id": contact, "object_id": recording}])
    );
    assert_eq!(shown["scope"], json!({"object": recording}));
    let view = app.contact_as_supervisor(&contact).await;
    assert_eq!(view["holds"][0]["id"], id);
    assert_eq!(view["holds"][0]["ground_kind"], "complaint");
    assert_eq!(view["holds"][0]["review_by"], review.as_str());
    assert_eq!(view["recording"]["sha256"], ack["sha256"]);
    // The waveform is not a recording: a hold cannot name it on its own.
    let waveform = view["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "waveform")
        .map(|o| o["id"].as_str().unwrap().to_owned());
    if let Some(waveform) = waveform {
        let response = post_json(
            &app,
            &app.tokens.sanna,
            "/api/v1/holds",
            &hold_body(json!({"recording": waveform}), &review),
        )
        .await;
        let (code, _) = assert_error(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(code, "unknown_target");
    }
}

#[tokio::test]
async fn a_phone_query_hold_takes_that_numbers_contacts_within_the_dates_and_never_stores_the_number()
 {
    // Arrange
    let app = spawn_app().await;
    let early_november = call_of(&app, "040 765 4321", "2026-11-02T10:00:00+02:00").await;
    let late_november = call_of(&app, "+358407654321", "2026-11-29T09:00:00+02:00").await;
    let october = call_of(&app, "040 765 4321", "2026-10-31T21:00:00+02:00").await;
    let other_number = call_of(&app, "050 999 8888", "2026-11-10T10:00:00+02:00").await;
    let review = review_in(&app, 24).await;

    // Act
    let placed = place(
        &app,
        &app.tokens.sanna,
        &hold_body(
            json!({
                "query": {"phone": "0407654321", "from": "2026-11-01", "to": "2026-11-30"},
                "purpose": "legal_claim",
            }),
            &review,
        ),
    )
    .await;

    // Assert
    assert_eq!(placed["targets"], 2, "{placed}");
    let id = placed["id"].as_str().unwrap();
    let shown =
        json_ok(get_json(&app, &app.tokens.sanna, &format!("/api/v1/holds/{id}")).await).await;
    let held: std::collections::BTreeSet<&str> = shown["target_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["contact_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        held,
        [early_november.as_str(), late_november.as_str()].into(),
        "october {october} and the other number {other_number} stay out"
    );
    assert_eq!(
        shown["scope"],
        json!({"query": {"phone": true, "from": "2026-11-01", "to": "2026-11-30", "matched": 2}})
    );
    // A page at a time, with a cursor.
    let first = hold_page(&app, id, "limit=1").await;
    assert_eq!(first["target_list"].as_array().unwrap().len(), 1);
    let next = first["next"]
        .as_str()
        .expect("a cursor for the second page");
    let second = hold_page(&app, id, &format!("limit=1&after={next}")).await;
    assert_eq!(second["target_list"].as_array().unwrap().len(), 1);
    assert_ne!(second["target_list"][0], first["target_list"][0]);
    assert_eq!(second["next"], Value::Null);
    // The number is nowhere in the hold's row or the audit log.
    let rows = app.sql("SELECT scope, ground FROM legal_holds; SELECT details FROM audit_events;");
    assert!(!rows.contains("7654321"), "{rows}");
}

#[tokio::test]
async fn agents_integrations_and_maintainers_are_refused_holds_and_retention_and_each_refusal_is_audited()
 {
    // Arrange
    let app = spawn_app().await;
    let maintainer = app.add_account("mika", "maintainer");
    let contact = app.new_call("aino").await;
    let review = review_in(&app, 6).await;
    let body = hold_body(json!({"contact": contact}), &review);
    let placed = place(&app, &app.tokens.sanna, &body).await;
    let id = placed["id"].as_str().unwrap().to_owned();

    for (who, token) in [
        ("agent", app.tokens.aino.clone()),
        ("integration", app.tokens.pbx.clone()),
        ("maintainer", maintainer.clone()),
    ] {
        // Act
        let answers = [
            post_json(&app, &token, "/api/v1/holds", &body).await,
            get_json(&app, &token, "/api/v1/holds").await,
            get_json(&app, &token, &format!("/api/v1/holds/{id}")).await,
            post_json(
                &app,
                &token,
                &format!("/api/v1/holds/{id}/lift"),
                &json!({"reason": "no"}),
            )
            .await,
            post_json(
                &app,
                &token,
                &format!("/api/v1/holds/{id}/review"),
                &json!({"review_by": review}),
            )
            .await,
            get_json(&app, &token, "/api/v1/retention").await,
            // Even a malformed body is refused as forbidden first.
            post_raw(&app, &token, "/api/v1/holds", b"{not json".to_vec()).await,
        ];

        // Assert
        for answer in answers {
            let (code, _) = assert_error(answer, StatusCode::FORBIDDEN).await;
            assert_eq!(code, "forbidden", "{who}");
        }
    }
    let denied = audit_events(&app, "access.denied").await;
    let hold_denials = denied
        .iter()
        .filter(|e| e["details"]["action"] == "manage_holds")
        .count();
    let retention_denials = denied
        .iter()
        .filter(|e| e["details"]["action"] == "read_retention")
        .count();
    assert_eq!(hold_denials, 3 * 6, "{denied:?}");
    assert_eq!(retention_denials, 3, "{denied:?}");
    // Nothing changed: still one hold, active, with its review date.
    let all = json_ok(get_json(&app, &app.tokens.sanna, "/api/v1/holds?all=true").await).await;
    assert_eq!(all["holds"].as_array().unwrap().len(), 1);
    assert_eq!(all["holds"][0]["state"], "active");
}

#[tokio::test]
async fn bad_holds_are_refused_with_a_clear_4xx_and_nothing_is_stored() {
    // Arrange
    let app = spawn_app().await;
    let contact = app.new_call("aino").await;
    let token = app.tokens.sanna.clone();
    let today = server_today(&app).await;
    let good = (today + Months::new(6)).to_string();
    let base = hold_body(json!({"contact": contact}), &good);
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = base.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let set = |key: &str, value: Value| to_vec(&with(key, value));
    let no_id = "01890000-0000-7000-8000-000000000000";
    let on_recording = {
        let mut body = without("contact");
        body["recording"] = json!(no_id);
        to_vec(&body)
    };
    let on_phone = |phone: &str| {
        let mut body = without("contact");
        body["query"] = json!({"phone": phone, "from": "2026-01-01", "to": "2026-12-31"});
        body["purpose"] = json!("legal_claim");
        to_vec(&body)
    };
    let too_late = json!((today + Months::new(25)).to_string());
    // Every one is a 400 with its own code.
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("no review date", to_vec(&without("review_by")), "invalid_body"),
        ("review more than 24 months ahead", set("review_by", too_late), "invalid_review_date"),
        ("review in the past", set("review_by", json!("2020-01-01")), "invalid_review_date"),
        ("review today", set("review_by", json!(today.to_string())), "invalid_review_date"),
        ("review not a date", set("review_by", json!("next spring")), "invalid_date"),
        ("unknown owner", set("owner", json!("nobody")), "invalid_owner"),
        ("an agent as owner", set("owner", json!("aino")), "invalid_owner"),
        ("bad ground kind", set("ground_kind", json!("hunch")), "invalid_ground_kind"),
        ("empty ground", set("ground", json!("   ")), "invalid_text"),
        ("10 kB ground", set("ground", json!("x".repeat(10_000))), "invalid_text"),
        ("unknown JSON field", set("note", json!("hello")), "invalid_body"),
        ("malformed JSON", b"{\"contact\": ".to_vec(), "invalid_body"),
        ("unknown contact id", set("contact", json!(no_id)), "unknown_target"),
        ("unknown recording id", on_recording, "unknown_target"),
        ("two targets", set("recording", json!(no_id)), "invalid_body"),
        ("expiry in the past", set("expires_at", json!("2020-01-01")), "invalid_date"),
        ("a query that matches nothing", on_phone("040 000 0001"), "no_match"),
        ("a query with a bad number", on_phone("not a number"), "invalid_identifier"),
    ];

    for (what, body, expected) in cases {
        // Act
        let response = post_raw(&app, &token, "/api/v1/holds", body).await;

        // Assert
        let (code, message) = assert_error(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(code, expected, "{what}: {message}");
        assert!(
            !message.contains("xxxxxxxx"),
            "{what}: the ground is not echoed"
        );
    }
    let all = json_ok(get_json(&app, &token, "/api/v1/holds?all=true").await).await;
    assert_eq!(all["holds"], json!([]));
    assert_eq!(app.sql("SELECT count(*) FROM legal_holds;").trim(), "0");
    assert_eq!(
        app.sql("SELECT count(*) FROM legal_hold_targets;").trim(),
        "0"
    );
    assert!(audit_events(&app, "hold.placed").await.is_empty());
    // A hold that is not there, and a malformed id.
    for path in [
        "/api/v1/holds/01890000-0000-7000-8000-000000000000",
        "/api/v1/holds/not-an-id",
    ] {
        assert_error(get_json(&app, &token, path).await, StatusCode::NOT_FOUND).await;
    }
    let lift = post_json(
        &app,
        &token,
        "/api/v1/holds/01890000-0000-7000-8000-000000000000/lift",
        &json!({"reason": "x"}),
    )
    .await;
    assert_error(lift, StatusCode::NOT_FOUND).await;
}

fn to_vec(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

mod policies;

// ---- holds from the command line -----------------------------------------------

#[tokio::test]
async fn the_command_line_places_lists_shows_and_lifts_a_hold() {
    // Arrange
    let app = spawn_app().await;
    let contact = app.new_call("aino").await;
    let review = review_in(&app, 6).await;

    // Act
    let added = app.cli(&[
        "hold",
        "add",
        "--contact",
        &contact,
        "--ground",
        "Accounting Act 2:10",
        "--ground-kind",
        "statute",
        "--owner",
        "sanna",
        "--review",
        &review,
    ]);

    // Assert: only the id on stdout
    assert!(added.status.success(), "{}", stderr(&added));
    let id = stdout(&added);
    let id = id.strip_suffix('\n').unwrap();
    assert!(uuid_like(id), "hold add printed {id:?}");
    let listed = app.cli(&["hold", "list"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let table = stdout(&listed);
    assert!(table.contains(id), "{table}");
    assert!(
        table.contains("statute") && table.contains("Accounting Act 2:10"),
        "{table}"
    );
    assert!(
        table.contains(&review) && table.contains("active"),
        "{table}"
    );
    let shown = app.cli(&["hold", "show", id]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert!(stdout(&shown).contains(&contact), "{}", stdout(&shown));
    // The API sees the same hold (placed by the operator).
    let api = json_ok(get_json(&app, &app.tokens.sanna, "/api/v1/holds").await).await;
    assert_eq!(api["holds"][0]["id"], id);
    assert_eq!(api["holds"][0]["created_by"], Value::Null);

    // Act: lift
    let lifted = app.cli(&["hold", "lift", id, "--reason", "Audit closed"]);

    // Assert
    assert!(lifted.status.success(), "{}", stderr(&lifted));
    assert!(!stdout(&app.cli(&["hold", "list"])).contains(id));
    assert!(stdout(&app.cli(&["hold", "list", "--all"])).contains("lifted"));
    let again = app.cli(&["hold", "lift", id, "--reason", "Audit closed"]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(stderr(&again).lines().count(), 1, "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already lifted"),
        "{}",
        stderr(&again)
    );
    let unknown = app.cli(&[
        "hold",
        "lift",
        "01890000-0000-7000-8000-000000000000",
        "--reason",
        "x",
    ]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("no hold has this id"),
        "{}",
        stderr(&unknown)
    );
}

#[tokio::test]
async fn the_command_line_refuses_a_bad_hold_with_exit_1_and_bad_usage_with_exit_2() {
    // Arrange
    let app = spawn_app().await;
    let contact = app.new_call("aino").await;

    // Act
    let past = app.cli(&[
        "hold",
        "add",
        "--contact",
        &contact,
        "--ground",
        "g",
        "--owner",
        "sanna",
        "--review",
        "2020-01-01",
    ]);
    let no_review = app.cli(&[
        "hold",
        "add",
        "--contact",
        &contact,
        "--ground",
        "g",
        "--owner",
        "sanna",
    ]);
    let no_target = app.cli(&[
        "hold",
        "add",
        "--ground",
        "g",
        "--owner",
        "sanna",
        "--review",
        "2027-01-01",
    ]);

    // Assert
    assert_eq!(past.status.code(), Some(1), "{}", stderr(&past));
    assert!(stderr(&past).contains("review_by must be a date in the future"));
    assert!(stdout(&past).is_empty());
    assert_eq!(no_review.status.code(), Some(2), "{}", stderr(&no_review));
    assert_eq!(no_target.status.code(), Some(2), "{}", stderr(&no_target));
    assert_eq!(app.sql("SELECT count(*) FROM legal_holds;").trim(), "0");
}

fn uuid_like(text: &str) -> bool {
    text.len() == 36 && text.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

// ---- visibility ------------------------------------------------------------------

#[tokio::test]
async fn the_retention_overview_shows_upcoming_deadlines_active_holds_and_the_policies() {
    // Arrange
    let app = spawn_app().await;
    let registrar = app.add_account("rita", "registrar");
    let contact = app.new_call("aino").await;
    let ack = app.store_recording(&contact, &wav(8000)).await;
    let review = review_in(&app, 1).await;
    let placed = place_on_contact(&app, &registrar, &contact, &review).await;

    // Act
    let overview = json_ok(get_json(&app, &registrar, "/api/v1/retention?days=3650").await).await;

    // Assert
    assert_eq!(overview["days"], 3650);
    assert_eq!(overview["counts"]["recording"], 1, "{overview}");
    assert_eq!(overview["counts"]["contact"], 1, "{overview}");
    let items = overview["items"].as_array().unwrap();
    let recording = items
        .iter()
        .find(|i| i["kind"] == "recording")
        .unwrap_or_else(|| panic!("no recording deadline: {overview}"));
    assert_eq!(recording["contact_id"], contact.as_str());
    assert_eq!(recording["retain_until"], ack["retain_until"]);
    assert_eq!(recording["held"], true);
    assert_eq!(overview["holds"][0]["id"], placed["id"]);
    assert_eq!(overview["holds"][0]["review_by"], review.as_str());
    // A review a month away is inside the 14-day reminder window only near
    // its date; it is reported either way, as a boolean.
    assert!(overview["holds"][0]["due_for_review"].is_boolean());
    let policies = overview["policies"].as_array().unwrap();
    let recordings = policies
        .iter()
        .find(|p| p["kind"] == "call_recording")
        .unwrap();
    assert_eq!(recordings["months"], 12);
    assert!(recordings["reference"].as_str().unwrap().contains("§12"));
    // The default window is 30 days: nothing expires that soon here.
    let soon = json_ok(get_json(&app, &registrar, "/api/v1/retention").await).await;
    assert_eq!(soon["days"], 30);
    assert_eq!(soon["items"], json!([]));
    for bad in ["days=0", "days=3651", "days=x", "colour=red"] {
        let response = get_json(&app, &registrar, &format!("/api/v1/retention?{bad}")).await;
        let (code, _) = assert_error(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(code, "invalid_parameter", "{bad}");
    }
    // Read three times (once by `review_in` to learn the server's day);
    // the refused queries are not reads.
    let reads = audit_events(&app, "retention.read").await;
    assert_eq!(reads.len(), 3, "{reads:?}");
    assert_eq!(reads[1]["details"], json!({"days": 3650}));
}

#[tokio::test]
async fn the_contact_json_shows_each_objects_deadline_and_only_retention_roles_see_holds() {
    // Arrange
    let app = spawn_app().await;
    let contact = app.new_call("aino").await;
    let ack = app.store_recording(&contact, &wav(8000)).await;

    // Act
    let supervisor = app.contact_as_supervisor(&contact).await;
    let agent = json_ok(
        app.get_contact(&app.tokens.aino, &contact, Some(PURPOSE))
            .await,
    )
    .await;

    // Assert
    let objects = supervisor["objects"].as_array().unwrap();
    let recording = objects.iter().find(|o| o["kind"] == "recording").unwrap();
    // A call on 29 Nov 2026 is kept until Helsinki midnight 12 months on.
    assert_eq!(recording["retain_until"], "2027-11-28T22:00:00Z");
    assert_eq!(recording["retain_until"], ack["retain_until"]);
    if let Some(waveform) = objects.iter().find(|o| o["kind"] == "waveform") {
        assert_eq!(waveform["source"], recording["id"]);
        assert!(
            waveform["retain_until"].as_str() <= recording["retain_until"].as_str(),
            "a waveform never outlives its recording: {supervisor}"
        );
    }
    assert_eq!(supervisor["retain_until"], "2027-11-28T22:00:00Z");
    assert_eq!(supervisor["holds"], json!([]));
    assert_eq!(supervisor["tombstones"], json!([]));
    assert_eq!(agent["objects"], supervisor["objects"]);
    assert!(agent.get("holds").is_none(), "{agent}");
    assert!(agent.get("tombstones").is_none(), "{agent}");
}

// ---- holds and the purge; tombstones ----------------------------------------------

#[tokio::test]
async fn a_held_recording_survives_the_purge_and_a_purged_one_answers_410_with_its_tombstone() {
    // Arrange: recordings kept one month, contacts 24; two calls from June
    // 2025, so both recordings are past their deadline and the contacts not.
    let envs = [
        ("KIRJURI_RETENTION__CALL_RECORDING__MONTHS", "1"),
        ("KIRJURI_RETENTION__DERIVED__MONTHS", "1"),
        ("KIRJURI_RETENTION__CONTACT_METADATA__MONTHS", "24"),
        ("KIRJURI_RETENTION__PURGE_INTERVAL_SECONDS", "86400"),
    ];
    let app = spawn_app_with_env(&envs).await;
    let held = call_of(&app, "040 555 0001", "2025-06-01T10:00:00+03:00").await;
    let free = call_of(&app, "040 555 0002", "2025-06-01T11:00:00+03:00").await;
    app.store_recording(&held, &wav(8000)).await;
    let free_ack = app.store_recording(&free, &wav(8001)).await;
    let review = review_in(&app, 6).await;
    place_on_contact(&app, &app.tokens.sanna, &held, &review).await;

    let free_key = app.sql(&format!(
        "SELECT hex(wrapped_key) FROM objects WHERE kind = 'recording' AND contact_id = \
         (SELECT contact_id FROM objects WHERE hex(id) != '' AND contact_id = \
         (SELECT id FROM contacts WHERE hex(id) = upper(replace('{free}', '-', ''))))"
    ));
    let free_key: Vec<u8> = (0..free_key.trim().len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&free_key.trim()[i..i + 2], 16).unwrap())
        .collect();
    assert!(free_key.len() > 16);

    // Act
    let purge = app.cli(&["purge"]);

    // Assert
    assert!(
        purge.status.success(),
        "{}\n{}",
        stdout(&purge),
        stderr(&purge)
    );
    // Crypto-shredding: the destroyed wrapped key is in none of the
    // database's files any more (secure_delete, and the log truncated).
    for name in ["kirjuri.db", "kirjuri.db-wal"] {
        let bytes = std::fs::read(app.data_dir().join(name)).unwrap_or_default();
        assert!(
            !bytes
                .windows(free_key.len())
                .any(|w| w == free_key.as_slice()),
            "the purged recording's wrapped key is still in {name}"
        );
    }
    app.recording_as_supervisor(&held).await;
    let gone = app
        .get_recording(&app.tokens.sanna, &free, Some(PURPOSE), None)
        .await;
    let text = gone.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}"));
    assert_eq!(body["error"]["code"], "gone", "{body}");
    assert_eq!(body["error"]["tombstone"]["kind"], "recording");
    assert_eq!(body["error"]["tombstone"]["sha256"], free_ack["sha256"]);
    let view = app.contact_as_supervisor(&free).await;
    assert_eq!(view["objects"], json!([]), "{view}");
    let tombstones = view["tombstones"].as_array().unwrap();
    let recording = tombstones
        .iter()
        .find(|t| t["kind"] == "recording")
        .unwrap();
    assert_eq!(recording["sha256"], free_ack["sha256"]);
    assert!(
        recording["rule"]
            .as_str()
            .unwrap()
            .contains("call_recording")
    );
    assert!(recording["deleted_at"].is_string());
    // A late redelivery of the destroyed recording does not bring it back.
    let redelivered = app
        .upload_recording(&app.tokens.pbx, &free, wav(8001))
        .await;
    assert_eq!(redelivered.status(), StatusCode::GONE);
    let view = app.contact_as_supervisor(&free).await;
    assert_eq!(view["objects"], json!([]), "{view}");
}

#[tokio::test]
async fn an_erased_contact_answers_410_with_its_tombstone_never_a_decryption_error() {
    // Arrange: a call from 2024, long past every deadline.
    let app = spawn_app_with_env(&[("KIRJURI_RETENTION__PURGE_INTERVAL_SECONDS", "86400")]).await;
    let old = call_of(&app, "040 555 0003", "2024-01-10T10:00:00+02:00").await;
    app.store_recording(&old, &wav(8000)).await;

    // Act
    let purge = app.cli(&["purge"]);

    // Assert
    assert!(
        purge.status.success(),
        "{}\n{}",
        stdout(&purge),
        stderr(&purge)
    );
    let response = app
        .get_contact(&app.tokens.sanna, &old, Some(PURPOSE))
        .await;
    assert_eq!(response.status(), StatusCode::GONE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "gone");
    assert_eq!(body["error"]["tombstone"]["kind"], "contact");
    assert_eq!(body["error"]["tombstone"]["id"], old.as_str());
    let recording = app
        .get_recording(&app.tokens.sanna, &old, Some(PURPOSE), None)
        .await;
    assert_eq!(recording.status(), StatusCode::GONE);
    // Another agent's erased contact still looks like a missing one.
    let bertta = app
        .get_contact(&app.tokens.bertta, &old, Some(PURPOSE))
        .await;
    assert_eq!(bertta.status(), StatusCode::NOT_FOUND);
    // A search finds nothing to decrypt and does not fail.
    let found = json_ok(
        app.search(
            &app.tokens.sanna,
            &[
                ("from", "2024-01-01"),
                ("to", "2024-12-31"),
                ("purpose", PURPOSE),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(found["count"], 0, "{found}");
    // A hold cannot be placed on what is gone.
    let review = review_in(&app, 6).await;
    let response = post_json(
        &app,
        &app.tokens.sanna,
        "/api/v1/holds",
        &hold_body(json!({"contact": old}), &review),
    )
    .await;
    let (code, _) = assert_error(response, StatusCode::CONFLICT).await;
    assert_eq!(code, "target_erased");
}

// ---- the web UI's contact page ---------------------------------------------------

/// Signs `name` (a template account) in and chooses the test purpose; returns
/// the session cookie (`name=value`).
async fn ui_session(app: &TestApp, name: &str, role: &str) -> String {
    let response = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&json!({"name": name, "password": format!("Api-Test-Passw0rd-{name}-{role}")}))
        .send()
        .await
        .unwrap();
    let (cookie, csrf) = kirjuri_testkit::fixtures::browser_session(response).await;
    let chosen = app
        .client
        .post(app.url("/purpose"))
        .header(reqwest::header::COOKIE, &cookie)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(format!("csrf_token={csrf}&purpose={PURPOSE}"))
        .send()
        .await
        .unwrap();
    assert!(chosen.status().is_success(), "{}", chosen.status());
    cookie
}

async fn ui_page(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let response = app
        .client
        .get(app.url(path))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn the_contact_page_shows_deadlines_holds_and_tombstones_and_an_erased_contact_only_its_tombstone()
 {
    // Arrange: recordings kept one month, contacts 24.
    let envs = [
        ("KIRJURI_RETENTION__CALL_RECORDING__MONTHS", "1"),
        ("KIRJURI_RETENTION__DERIVED__MONTHS", "1"),
        ("KIRJURI_RETENTION__CONTACT_METADATA__MONTHS", "24"),
        ("KIRJURI_RETENTION__PURGE_INTERVAL_SECONDS", "86400"),
    ];
    let app = spawn_app_with_env(&envs).await;
    let held = call_of(&app, "040 555 0011", "2025-06-01T10:00:00+03:00").await;
    let purged = call_of(&app, "040 555 0012", "2025-06-01T11:00:00+03:00").await;
    let erased = call_of(&app, "040 555 0013", "2023-06-01T11:00:00+03:00").await;
    app.store_recording(&held, &wav(8000)).await;
    let purged_ack = app.store_recording(&purged, &wav(8001)).await;
    let review = review_in(&app, 6).await;
    let hold = place_on_contact(&app, &app.tokens.sanna, &held, &review).await;
    let purge = app.cli(&["purge"]);
    assert!(purge.status.success(), "{}", stderr(&purge));
    let sanna = ui_session(&app, "sanna", "supervisor").await;
    let aino = ui_session(&app, "aino", "agent").await;

    // Act
    let (held_status, held_page) = ui_page(&app, &sanna, &format!("/contacts/{held}")).await;
    let (purged_status, purged_page) = ui_page(&app, &sanna, &format!("/contacts/{purged}")).await;
    let (erased_status, erased_page) = ui_page(&app, &sanna, &format!("/contacts/{erased}")).await;
    let (agent_status, agent_page) = ui_page(&app, &aino, &format!("/contacts/{held}")).await;

    // Assert
    assert_eq!(held_status, StatusCode::OK);
    assert!(held_page.contains("id=\"holds\""), "the hold is listed");
    assert!(held_page.contains(hold["id"].as_str().unwrap()));
    assert!(held_page.contains(&review));
    assert_eq!(purged_status, StatusCode::OK);
    assert!(purged_page.contains("id=\"tombstones\""));
    assert!(purged_page.contains(purged_ack["sha256"].as_str().unwrap()));
    assert!(
        !purged_page.contains("id=\"player\""),
        "nothing left to play"
    );
    assert_eq!(erased_status, StatusCode::GONE);
    assert!(erased_page.contains("id=\"erased\""), "{erased_page}");
    assert!(!erased_page.contains("Held Customer"));
    // An agent sees the deadlines but not the holds and tombstones.
    assert_eq!(agent_status, StatusCode::OK);
    assert!(!agent_page.contains("id=\"holds\""));
    assert!(
        agent_page.contains("2025-07-01"),
        "the recording's deadline is shown"
    );
}
