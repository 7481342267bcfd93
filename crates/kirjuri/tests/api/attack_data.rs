//! Attacks on the data a reader reaches and what the register keeps about
//! it (security issue items 6–10), each reproduced through the interface and
//! shown to fail: personal data smuggled into the append-only audit log
//! through a search's `service` or a reader's `reason`, an unaudited
//! phone-number lookup through a query hold, a maintainer reading more than
//! maintenance needs, a data folder every local user can read, and status
//! codes or timings that tell an existing contact from a missing one.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    PURPOSE, TestApp, assert_error, contains, design_example, json_ok, run_kirjuri, spawn_app, wav,
    with_query,
};

/// A well-formed contact id that names nothing.
const MISSING: &str = "0192f5c4-8f5e-7000-8000-0000000000ff";

/// The median of some durations.
fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Status and error code of a contact read.
async fn answer(app: &TestApp, token: &str, url: &str) -> (StatusCode, String) {
    let response = app.get(Some(token), url, None).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

// ---- item 10: existence oracles -----------------------------------------------

#[tokio::test]
async fn a_refused_reader_gets_the_same_answer_for_an_existing_and_a_missing_contact() {
    // Arrange: aino's call with a recording; a registrar; the integration.
    let app = spawn_app().await;
    let id = app.new_call("aino").await;
    app.store_recording(&id, &wav(8000)).await;
    let registrar = app.add_account("rauha", "registrar");
    let pbx = app.tokens.pbx.clone();
    let bertta = app.tokens.bertta.clone();
    let paths = |contact: &str| {
        [
            format!("/api/v1/contacts/{contact}"),
            format!("/api/v1/contacts/{contact}/recording"),
            format!("/api/v1/contacts/{contact}/recording/playback"),
            format!("/api/v1/contacts/{contact}/recording/peaks"),
        ]
    };

    // Act: measure (printed with --nocapture, never asserted): an agent reaching
    // for another agent's contact against a missing one, interleaved.
    let own = app.url(&format!("/api/v1/contacts/{id}?purpose={PURPOSE}"));
    let gone = app.url(&format!("/api/v1/contacts/{MISSING}?purpose={PURPOSE}"));
    let (mut other_agents, mut missing) = (Vec::new(), Vec::new());
    for round in 0..400 {
        for (url, samples) in [(&own, &mut other_agents), (&gone, &mut missing)] {
            let started = Instant::now();
            let response = app.get(Some(&bertta), url, None).await;
            let took = started.elapsed();
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
            if round >= 50 {
                samples.push(took);
            }
        }
    }
    println!(
        "existence oracle, agent bertta, 350 interleaved reads each: another agent's contact \
         median {:?}, a missing contact median {:?}",
        median(other_agents),
        median(missing)
    );

    // Assert: the same status and code, whatever the path.
    for (who, token, purpose) in [
        ("integration", &pbx, PURPOSE),
        ("registrar, customer-service purpose", &registrar, PURPOSE),
        ("another agent", &bertta, PURPOSE),
    ] {
        for (existing, missing) in paths(&id).iter().zip(paths(MISSING).iter()) {
            let query = [("purpose", purpose)];
            let existing = answer(&app, token, &with_query(&app.url(existing), &query)).await;
            let missing = answer(&app, token, &with_query(&app.url(missing), &query)).await;
            assert!(!existing.0.is_success(), "{who}: {existing:?}");
            assert_eq!(existing, missing, "{who} tells existing from missing");
        }
    }
}

/// The audit events after `after`, as the supervisor reads them.
async fn events_after(app: &TestApp, after: i64) -> Vec<Value> {
    let page = json_ok(
        app.audit_log(
            &app.tokens.sanna,
            &[("after", &after.to_string()), ("limit", "1000")],
        )
        .await,
    )
    .await;
    page["events"].as_array().expect("an events array").clone()
}

/// The sequence number of the newest audit event.
async fn audit_head(app: &TestApp) -> i64 {
    events_after(app, 0)
        .await
        .last()
        .and_then(|e| e["seq"].as_i64())
        .unwrap_or(0)
}

/// A maintainer `mika` with a confidentiality agreement on file; its token.
fn maintainer_with_agreement(app: &TestApp) -> String {
    let token = app.add_account("mika", "maintainer");
    let out = app.cli(&["user", "agreement", "mika", "--reference", "NDA-2026-017"]);
    assert!(out.status.success(), "{out:?}");
    token
}

// ---- item 6: personal data in the append-only audit log -----------------------

#[tokio::test]
async fn free_text_in_a_reason_is_refused_and_never_reaches_the_audit_log() {
    // Arrange
    let app = spawn_app().await;
    let id = app.new_call("aino").await;
    app.store_recording(&id, &wav(8000)).await;
    let mika = maintainer_with_agreement(&app);
    let before = audit_head(&app).await;
    let listen = |reason: &str| {
        let url = with_query(
            &app.url(&format!("/api/v1/contacts/{id}/recording")),
            &[("purpose", "development"), ("reason", reason)],
        );
        app.client.get(url).bearer_auth(mika.clone()).send()
    };

    // Act
    let free_text = listen("caller Kerttu Korhonen 050-7654321").await.unwrap();
    let phone_shaped = listen("050-7654321").await.unwrap();
    let ticket = listen("inc-12345").await.unwrap();

    // Assert: free text is refused without a read; a ticket is kept.
    for refused in [free_text, phone_shaped] {
        let (code, message) = assert_error(refused, StatusCode::BAD_REQUEST).await;
        assert_eq!(code, "invalid_reason");
        assert!(!message.contains("7654321"), "{message}");
    }
    assert_eq!(ticket.status(), StatusCode::OK);
    let events = events_after(&app, before).await;
    let all = serde_json::to_vec(&events).unwrap();
    for needle in ["Kerttu", "Korhonen", "7654321"] {
        assert!(
            !contains(&all, needle.as_bytes()),
            "{needle} in {events:#?}"
        );
    }
    let reads: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "recording.read")
        .collect();
    assert_eq!(reads.len(), 1, "{events:#?}");
    assert_eq!(reads[0]["details"]["reason"], "INC-12345");
    let stored = app.sql("SELECT details FROM audit_events;");
    assert!(!stored.contains("Korhonen"), "{stored}");
}

#[tokio::test]
async fn a_service_filter_is_validated_and_audited_only_as_a_keyed_hash() {
    // Arrange
    let app = spawn_app().await;
    app.new_call("aino").await;
    let sanna = &app.tokens.sanna;
    let before = audit_head(&app).await;

    // Act
    let typed = app
        .search(
            sanna,
            &[
                ("service", "Matti Meikalainen +358401234567"),
                ("purpose", PURPOSE),
            ],
        )
        .await;
    let control = app
        .search(
            sanna,
            &[("service", "water\u{7}billing"), ("purpose", PURPOSE)],
        )
        .await;
    let real = app
        .search(sanna, &[("service", "water-billing"), ("purpose", PURPOSE)])
        .await;

    // Assert
    assert_eq!(json_ok(typed).await["count"], 0);
    let (code, _) = assert_error(control, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "invalid_parameter");
    assert_eq!(json_ok(real).await["count"], 1);
    let events = events_after(&app, before).await;
    let all = serde_json::to_vec(&events).unwrap();
    for needle in ["Meikalainen", "401234567", "water-billing"] {
        assert!(
            !contains(&all, needle.as_bytes()),
            "{needle} in {events:#?}"
        );
    }
    let hashes: Vec<&str> = events
        .iter()
        .filter(|e| e["action"] == "contact.search")
        .map(|e| e["details"]["filters"]["service_hash"].as_str().unwrap())
        .collect();
    assert_eq!(hashes.len(), 2, "{events:#?}");
    assert_ne!(hashes[0], hashes[1]);
    assert!(hashes.iter().all(|h| h.len() == 64));
}

// ---- item 7: a hold query is a search ------------------------------------------

async fn post_hold(app: &TestApp, token: &str, body: &Value) -> Response {
    app.client
        .post(app.url("/api/v1/holds"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn query_hold(phone: &str, purpose: Option<&str>) -> Value {
    let mut body = json!({
        "query": {"phone": phone, "from": "2026-11-01", "to": "2026-11-30"},
        "ground": "Case 2026-7",
        "owner": "sanna",
        "review_by": "2027-06-30",
    });
    if let Some(purpose) = purpose {
        body["purpose"] = json!(purpose);
    }
    body
}

#[tokio::test]
async fn a_query_hold_needs_the_legal_claim_purpose_and_every_lookup_is_audited() {
    // Arrange: aino's call from 040 123 4567.
    let app = spawn_app().await;
    let id = app.new_contact(&design_example("hold-oracle-1")).await;
    let sanna = &app.tokens.sanna;
    let before = audit_head(&app).await;

    // Act
    let no_purpose = post_hold(&app, sanna, &query_hold("040 123 4567", None)).await;
    let wrong_purpose = post_hold(&app, sanna, &query_hold("040 123 4567", Some(PURPOSE))).await;
    let miss = post_hold(
        &app,
        sanna,
        &query_hold("050 765 4321", Some("legal_claim")),
    )
    .await;
    let hit = post_hold(
        &app,
        sanna,
        &query_hold("040 123 4567", Some("legal_claim")),
    )
    .await;

    // Assert: without legal_claim nothing is looked up …
    let (code, _) = assert_error(no_purpose, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "purpose_required");
    let (code, _) = assert_error(wrong_purpose, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "invalid_purpose");
    // … and with it, a miss and a hit are both audited as searches (the
    // only two: the refusals searched nothing).
    let (code, _) = assert_error(miss, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "no_match");
    assert_eq!(hit.status(), StatusCode::CREATED);
    let events = events_after(&app, before).await;
    let searches: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "contact.search")
        .collect();
    assert_eq!(searches.len(), 2, "{events:#?}");
    for search in &searches {
        assert_eq!(search["purpose"], "legal_claim");
        assert_eq!(search["actor"], "sanna");
        assert_eq!(search["details"]["criteria"][0]["kind"], "phone");
        assert_eq!(search["details"]["filters"]["hold"], true);
    }
    assert_eq!(searches[0]["details"]["results"], json!([]));
    assert_eq!(searches[1]["details"]["results"], json!([id]));
    let all = serde_json::to_vec(&events).unwrap();
    assert!(!contains(&all, b"7654321") && !contains(&all, b"1234567"));
}

#[tokio::test]
async fn the_operator_places_a_query_hold_without_a_purpose_and_it_is_audited_as_a_search() {
    // Arrange
    let app = spawn_app().await;
    app.new_contact(&design_example("hold-cli-1")).await;
    let before = audit_head(&app).await;

    // Act
    let out = app.cli(&[
        "hold",
        "add",
        "--phone",
        "040 123 4567",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--ground",
        "Case 2026-8",
        "--owner",
        "sanna",
        "--review",
        "2027-06-30",
    ]);

    // Assert
    assert!(out.status.success(), "{out:?}");
    let events = events_after(&app, before).await;
    let search = events
        .iter()
        .find(|e| e["action"] == "contact.search")
        .expect("the lookup is audited");
    assert_eq!(search["purpose"], "legal_claim");
    assert_eq!(search["actor"], Value::Null);
}

// ---- item 8: maintainers reach recordings and the metadata to find them --------

#[tokio::test]
async fn a_maintainer_reads_recordings_and_metadata_but_no_personal_data_and_never_searches_by_identifier()
 {
    // Arrange: the example contact with a recording; a maintainer with an
    // agreement and a ticket.
    let app = spawn_app().await;
    let id = app.new_contact(&design_example("maint-1")).await;
    let bytes = wav(8000);
    app.store_recording(&id, &bytes).await;
    let mika = maintainer_with_agreement(&app);
    let get = |path: String, query: Vec<(&'static str, &'static str)>| {
        let url = with_query(&app.url(&path), &query);
        app.client.get(url).bearer_auth(mika.clone()).send()
    };
    let ticket = vec![("purpose", "development"), ("reason", "CHG-4711")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut query = ticket.clone();
        query.extend_from_slice(extra);
        query
    };

    // Act
    let contact = get(format!("/api/v1/contacts/{id}"), ticket.clone())
        .await
        .unwrap();
    let by_metadata = get(
        "/api/v1/contacts".into(),
        with(&[("service", "water-billing"), ("from", "2026-11-29")]),
    )
    .await
    .unwrap();
    let by_phone = get(
        "/api/v1/contacts".into(),
        with(&[("phone", "040 123 4567")]),
    )
    .await
    .unwrap();
    let by_name = get(
        "/api/v1/contacts".into(),
        with(&[("name", "Matti Meikäläinen")]),
    )
    .await
    .unwrap();
    let recording = get(format!("/api/v1/contacts/{id}/recording"), ticket.clone())
        .await
        .unwrap();
    let other_purpose = get(
        format!("/api/v1/contacts/{id}/recording"),
        vec![("purpose", PURPOSE), ("reason", "CHG-4711")],
    )
    .await
    .unwrap();

    // Assert: the contact's metadata only …
    let contact = json_ok(contact).await;
    assert_eq!(contact["id"], id.as_str());
    assert_eq!(contact["channel"], "call_in");
    assert_eq!(contact["service"], "water-billing");
    assert_eq!(contact["agent"], "aino");
    assert!(contact["recording"]["sha256"].is_string(), "{contact}");
    for personal in [
        "customer",
        "contact_person",
        "account",
        "property",
        "service_content",
        "external_id",
    ] {
        assert!(
            contact.get(personal).is_none(),
            "{personal} shown: {contact}"
        );
    }
    let found = json_ok(by_metadata).await;
    assert_eq!(found["count"], 1, "{found}");
    assert!(found["contacts"][0].get("customer").is_none(), "{found}");
    let text = found.to_string() + &contact.to_string();
    assert!(
        !text.contains("Meik") && !text.contains("1234567"),
        "{text}"
    );
    // … never a search by who called …
    assert_error(by_phone, StatusCode::FORBIDDEN).await;
    assert_error(by_name, StatusCode::FORBIDDEN).await;
    // … the recording in full, for development only.
    assert_eq!(recording.status(), StatusCode::OK);
    assert_eq!(recording.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert_error(other_purpose, StatusCode::FORBIDDEN).await;
}

// ---- item 9: the data folder is owner-only -------------------------------------

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_data_folder_is_owner_only_and_a_loose_one_is_tightened() {
    // Arrange: a folder made by the first command, and a running server.
    let parent = tempfile::tempdir().unwrap();
    let fresh = parent.path().join("fresh");
    let out = run_kirjuri(&fresh, &["user", "list"], None, &[]);
    assert!(out.status.success(), "{out:?}");
    let app = spawn_app().await;
    app.new_call("aino").await;

    // Assert: 0700 and 0600, also the running server's -wal and -shm.
    assert_eq!(mode(&fresh), 0o700);
    assert_eq!(mode(&fresh.join("kirjuri.db")), 0o600);
    for name in ["kirjuri.db", "kirjuri.db-wal", "kirjuri.db-shm"] {
        let path = app.data_dir().join(name);
        assert!(path.exists(), "{name}");
        assert_eq!(mode(&path), 0o600, "{name}");
    }
    assert_eq!(mode(app.data_dir()), 0o700);

    // Act: a folder as an older version (or `mkdir` under umask 022) left it.
    std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        fresh.join("kirjuri.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = run_kirjuri(&fresh, &["user", "list"], None, &[]);

    // Assert: tightened, and said so.
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&fresh), 0o700);
    assert_eq!(mode(&fresh.join("kirjuri.db")), 0o600);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("owner-only"),
        "{out:?}"
    );
}
