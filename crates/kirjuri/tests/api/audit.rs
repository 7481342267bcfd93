//! The audit log (AUD-1, AUD-2) through the interface: every read leaves
//! exactly one event with its purpose (byte ranges included), events hold ids
//! and keyed hashes only, a failed append refuses the read, supervisors and
//! registrars page through `GET /api/v1/audit`, `serve` signs checkpoints,
//! and `kirjuri audit verify` proves an untouched log intact and names the
//! first bad entry of a tampered one — tampered the way someone holding the
//! database file would: with the `sqlite3` shell, dropping the guard triggers
//! first.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    PURPOSE, TestApp, assert_error, contains, design_example, json_ok, noise_wav, run_kirjuri,
    spawn_app, spawn_app_with_env,
};

// ---- helpers ---------------------------------------------------------------------

/// Every event after `after`, paging with the supervisor's token, leaving out
/// the supervisor's own `audit.read` events that paging adds; and the
/// highest sequence number seen.
async fn events_after(app: &TestApp, after: i64) -> (Vec<Value>, i64) {
    let mut cursor = after;
    let mut events = Vec::new();
    loop {
        let page = json_ok(
            app.audit_log(
                &app.tokens.sanna,
                &[("after", &cursor.to_string()), ("limit", "1000")],
            )
            .await,
        )
        .await;
        for event in page["events"].as_array().expect("an events array") {
            cursor = cursor.max(event["seq"].as_i64().expect("a seq"));
            if event["action"] != "audit.read" {
                events.push(event.clone());
            }
        }
        if page["next"].is_null() {
            return (events, cursor);
        }
    }
}

/// Runs `kirjuri ARGS` on the app's folder; (success, stdout + stderr).
fn kirjuri(app: &TestApp, args: &[&str]) -> (bool, String) {
    described(app.cli(args))
}

fn described(output: Output) -> (bool, String) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// `kirjuri audit checkpoint`, asserting success; the checkpoint's size.
fn checkpoint(app: &TestApp) -> u64 {
    let (ok, text) = kirjuri(app, &["audit", "checkpoint"]);
    assert!(ok, "audit checkpoint failed: {text}");
    text.split("size ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|size| size.parse().ok())
        .unwrap_or_else(|| panic!("no size in {text}"))
}

/// `kirjuri audit verify ARGS`, asserting it passes.
fn assert_intact(app: &TestApp, args: &[&str]) -> String {
    let (ok, text) = kirjuri(app, &[&["audit", "verify"], args].concat());
    assert!(ok, "audit verify failed on an untouched log:\n{text}");
    assert!(text.contains("audit log intact"), "{text}");
    text
}

/// `kirjuri audit verify ARGS`, asserting it fails; its first bad entry.
fn assert_broken(app: &TestApp, args: &[&str]) -> String {
    let (ok, text) = kirjuri(app, &[&["audit", "verify"], args].concat());
    assert!(!ok, "audit verify accepted a tampered log:\n{text}");
    text.lines()
        .find_map(|line| line.strip_prefix("audit log NOT intact: first bad entry: "))
        .unwrap_or_else(|| panic!("no first bad entry in:\n{text}"))
        .to_owned()
}

/// A value from `audit verify`'s summary, e.g. `events not yet signed`.
fn summary(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{label}: ")))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{text}"))
        .to_owned()
}

/// A log with three checkpoints five reads apart and three unsigned reads
/// after them; returns the checkpoint sizes.
async fn busy_log(app: &TestApp) -> [u64; 3] {
    let id = app.new_call("aino").await;
    let mut sizes = [0; 3];
    for size in &mut sizes {
        for _ in 0..5 {
            app.contact_as_supervisor(&id).await;
        }
        *size = checkpoint(app);
    }
    for _ in 0..3 {
        app.contact_as_supervisor(&id).await;
    }
    assert_intact(app, &[]);
    sizes
}

/// A fresh app with a busy log whose guards are dropped and that the SQL
/// `tamper` writes (given the checkpoints) then changes: the checkpoints,
/// and the first problem `audit verify` names.
async fn tampered(tamper: impl FnOnce([u64; 3]) -> String) -> ([u64; 3], String) {
    let app = spawn_app().await;
    let checkpoints = busy_log(&app).await;
    drop_guards(&app);
    app.sql(&tamper(checkpoints));
    (checkpoints, assert_broken(&app, &[]))
}

/// The highest sequence number in the audit log.
fn audit_head(app: &TestApp) -> u64 {
    app.sql("SELECT max(seq) FROM audit_events;")
        .trim()
        .parse()
        .expect("a sequence number")
}

/// `audit checkpoint --export --out FILE`.
fn export_to(file: &Path) -> [&str; 5] {
    let out = file.to_str().expect("a UTF-8 path");
    ["audit", "checkpoint", "--export", "--out", out]
}

/// Drops the triggers that guard the audit tables, as a tamperer would.
fn drop_guards(app: &TestApp) {
    app.sql(
        "DROP TRIGGER audit_events_refuse_update; DROP TRIGGER audit_events_refuse_delete; \
         DROP TRIGGER audit_checkpoints_refuse_update; DROP TRIGGER audit_checkpoints_refuse_delete;",
    );
}

/// The plaintext of the README's example contact, and its normalised forms.
const PERSONAL: &[&str] = &[
    "Matti",
    "Meikäläinen",
    "Meik",
    "matti@example.fi",
    "example.fi",
    "040 123 4567",
    "0401234567",
    "401234567",
    "Esimerkkitie",
    "00100",
    "Liisa",
    "Isännöinti",
    "9 123 456",
    "9123456",
    "Esimerkki",
    "91-403-1-1",
    "091-403-0001-0001",
    "Water bill complaint",
    "meter in the basement",
    "monthly",
    // Typed where only a service name or a ticket reference belongs, and a
    // query hold's number (security issue item 6, 7).
    "Meikalainen",
    "Kerttu",
    "Korhonen",
    "7654321",
    "765 4321",
];

fn leaked(bytes: &[u8]) -> Vec<&'static str> {
    PERSONAL
        .iter()
        .copied()
        .filter(|needle| {
            if needle.bytes().all(|b| b.is_ascii_digit()) {
                // A bare number (a postal code, a local number) is a leak
                // only as a number of its own: inside a microsecond time, a
                // sequence number or a hex hash it is chance (a log's dump
                // holds thousands of digits).
                number_within(bytes, needle.as_bytes())
            } else {
                contains(bytes, needle.as_bytes())
            }
        })
        .collect()
}

/// Whether `number` occurs in `bytes` with no letter or digit either side.
fn number_within(bytes: &[u8], number: &[u8]) -> bool {
    bytes.windows(number.len()).enumerate().any(|(at, window)| {
        let alone = |b: Option<&u8>| b.is_none_or(|b| !b.is_ascii_alphanumeric());
        window == number
            && alone(at.checked_sub(1).and_then(|i| bytes.get(i)))
            && alone(bytes.get(at + number.len()))
    })
}

// ---- AUD-1: what is recorded ------------------------------------------------------

#[tokio::test]
async fn every_read_leaves_exactly_one_audit_event_with_its_purpose() {
    // Arrange
    let app = spawn_app().await;
    let id = app.new_call("aino").await;
    let wav = noise_wav(200_000, 7);
    app.store_recording(&id, &wav).await;
    let (_, mut cursor) = events_after(&app, 0).await;
    let sanna = &app.tokens.sanna;
    let next_events = async |cursor: &mut i64| {
        let (events, seen) = events_after(&app, *cursor).await;
        *cursor = seen;
        events
    };

    // Act and assert: a contact read.
    app.contact_as_supervisor(&id).await;
    let events = next_events(&mut cursor).await;
    assert_eq!(events.len(), 1, "one read, one event: {events:#?}");
    assert_eq!(events[0]["action"], "contact.viewed");
    assert_eq!(events[0]["purpose"], PURPOSE);
    assert_eq!(events[0]["object"], id.as_str());
    assert_eq!(events[0]["actor"], "sanna");
    assert_eq!(events[0]["outcome"], "success");

    // A search.
    let found = json_ok(
        app.search(
            sanna,
            &[("from", "2026-01-01"), ("purpose", "quality_assurance")],
        )
        .await,
    )
    .await;
    assert_eq!(found["count"], 1);
    let events = next_events(&mut cursor).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["action"], "contact.search");
    assert_eq!(events[0]["purpose"], "quality_assurance");
    assert_eq!(events[0]["details"]["results"][0], id.as_str());

    // The whole recording.
    let bytes = app.recording_as_supervisor(&id).await;
    assert_eq!(bytes.len(), wav.len());
    let events = next_events(&mut cursor).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["action"], "recording.read");
    assert_eq!(events[0]["purpose"], PURPOSE);
    assert_eq!(events[0]["details"]["contact"], id.as_str());
    assert!(events[0]["details"]["range"].is_null(), "{events:#?}");

    // A byte range, and a suffix range: the bytes served are recorded.
    for (range, purpose, first, last) in [
        ("bytes=100-199", "training", 100, 199),
        (
            "bytes=-10",
            "quality_assurance",
            wav.len() - 10,
            wav.len() - 1,
        ),
    ] {
        let response = app
            .get_recording(sanna, &id, Some(purpose), Some(range))
            .await;
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
        let body = response.bytes().await.expect("the range");
        assert_eq!(&body[..], &wav[first..=last]);
        let events = next_events(&mut cursor).await;
        assert_eq!(events.len(), 1, "{range}: {events:#?}");
        assert_eq!(events[0]["action"], "recording.read");
        assert_eq!(events[0]["purpose"], purpose);
        assert_eq!(events[0]["details"]["range"][0], first);
        assert_eq!(events[0]["details"]["range"][1], last);
    }

    // A refused read is recorded too, as a denial with its purpose.
    let refused = app
        .get_contact(&app.tokens.bertta, &id, Some(PURPOSE))
        .await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    let events = next_events(&mut cursor).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["action"], "access.denied");
    assert_eq!(events[0]["outcome"], "denied");
    assert_eq!(events[0]["actor"], "bertta");
    assert_eq!(events[0]["purpose"], PURPOSE);
}

#[tokio::test]
async fn audit_events_and_checkpoints_hold_ids_and_keyed_hashes_never_what_was_sent() {
    // Arrange: the example contact, searched by every identifier and read.
    let app = spawn_app().await;
    let id = app.new_contact(&design_example("audit-leak-1")).await;
    app.store_recording(&id, &noise_wav(100_000, 3)).await;
    let sanna = &app.tokens.sanna;
    for (key, value) in [
        ("phone", "040 123 4567"),
        ("email", "matti@example.fi"),
        ("name", "Matti Meikäläinen"),
        ("property_id", "91-403-1-1"),
        ("customer_number", "123456"),
    ] {
        let found = json_ok(
            app.search(sanna, &[(key, value), ("purpose", PURPOSE)])
                .await,
        )
        .await;
        assert_eq!(found["count"], 1, "search by {key}");
    }
    app.contact_as_supervisor(&id).await;
    app.recording_as_supervisor(&id).await;
    // Personal data typed into a search's service filter: searched (it
    // matches nothing), logged only as a keyed hash.
    let by_service = json_ok(
        app.search(
            sanna,
            &[
                ("service", "Matti Meikalainen +358401234567"),
                ("purpose", PURPOSE),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(by_service["count"], 0);
    // … and into a reason: refused before anything is read or logged; a
    // ticket reference is what is kept.
    let contact_url = format!("/api/v1/contacts/{id}");
    for reason in ["caller Kerttu Korhonen 050-7654321", "INC-12345"] {
        let url = crate::helpers::with_query(
            &app.url(&contact_url),
            &[("purpose", PURPOSE), ("reason", reason)],
        );
        let response = app.get(Some(sanna), &url, None).await;
        if reason.starts_with("INC") {
            assert_eq!(response.status(), StatusCode::OK);
        } else {
            let (code, _) = assert_error(response, StatusCode::BAD_REQUEST).await;
            assert_eq!(code, "invalid_reason");
        }
    }
    // A query hold that matches nothing: looked up, audited, not stored.
    let hold = app
        .client
        .post(app.url("/api/v1/holds"))
        .bearer_auth(sanna)
        .json(&serde_json::json!({
            "query": {"phone": "050 765 4321", "from": "2026-01-01", "to": "2026-12-31"},
            "purpose": "legal_claim",
            "ground": "Case 2026-7",
            "owner": "sanna",
            "review_by": "2027-06-30",
        }))
        .send()
        .await
        .unwrap();
    let (code, _) = assert_error(hold, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "no_match");
    // A refused search by a number that is not stored.
    let _ = app
        .search(
            &app.tokens.pbx,
            &[("phone", "040 123 4567"), ("purpose", PURPOSE)],
        )
        .await;
    checkpoint(&app);

    // Act: everything the log holds, as stored and as the API shows it.
    let stored = app.sql("SELECT * FROM audit_events; SELECT note FROM audit_checkpoints;");
    let (events, _) = events_after(&app, 0).await;
    let shown = serde_json::to_vec(&events).expect("JSON");

    // Assert
    assert!(events.len() >= 8, "{events:#?}");
    assert_eq!(
        leaked(stored.as_bytes()),
        Vec::<&str>::new(),
        "in the table"
    );
    assert_eq!(leaked(&shown), Vec::<&str>::new(), "in the API");
    assert_eq!(leaked(&app.log_bytes()), Vec::<&str>::new(), "in the log");
    assert!(
        contains(&shown, b"\"reason\":\"INC-12345\""),
        "the ticket reference is kept"
    );
    let searches: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "contact.search")
        .collect();
    assert_eq!(searches.len(), 7, "{searches:#?}");
    let service_hash = searches[5]["details"]["filters"]["service_hash"]
        .as_str()
        .expect("the service as a keyed hash");
    assert_eq!(service_hash.len(), 64, "{}", searches[5]);
    assert_eq!(searches[6]["purpose"], "legal_claim", "{}", searches[6]);
    for search in searches.iter().take(5).chain(searches.get(6)) {
        let hash = search["details"]["criteria"][0]["hash"]
            .as_str()
            .expect("a keyed hash");
        assert_eq!(hash.len(), 64, "{search}");
    }
}

#[tokio::test]
async fn a_failed_audit_append_refuses_every_read_without_sending_any_data() {
    // Arrange
    let app = spawn_app().await;
    let id = app.new_contact(&design_example("audit-fail-closed")).await;
    let wav = noise_wav(300_000, 5);
    app.store_recording(&id, &wav).await;
    let sanna = &app.tokens.sanna;
    app.sql(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
         BEGIN SELECT RAISE(ABORT, 'x'); END;",
    );

    // Act
    let contact = app.get_contact(sanna, &id, Some(PURPOSE)).await;
    let whole = app.get_recording(sanna, &id, Some(PURPOSE), None).await;
    let ranged = app
        .get_recording(sanna, &id, Some(PURPOSE), Some("bytes=0-99"))
        .await;
    let search = app
        .search(sanna, &[("phone", "040 123 4567"), ("purpose", PURPOSE)])
        .await;

    // Assert: a 5xx with a coded error and nothing personal, no audio.
    for (what, response) in [
        ("contact", contact),
        ("recording", whole),
        ("range", ranged),
        ("search", search),
    ] {
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        let body = response.bytes().await.expect("a body");
        assert!(status.is_server_error(), "{what}: {status}");
        assert_eq!(content_type.as_deref(), Some("application/json"), "{what}");
        assert!(body.len() < 1000, "{what}: {} bytes", body.len());
        assert!(!contains(&body, b"RIFF") && !contains(&body, &wav[1000..1032]));
        assert_eq!(leaked(&body), Vec::<&str>::new(), "{what}");
        let error: Value = serde_json::from_slice(&body).expect("a JSON error");
        assert!(error["error"]["code"].is_string(), "{what}: {error}");
    }
    assert_eq!(leaked(&app.log_bytes()), Vec::<&str>::new(), "server log");

    // Once appends work again, so do reads.
    app.sql("DROP TRIGGER refuse_audit;");
    app.contact_as_supervisor(&id).await;
}

// ---- GET /api/v1/audit -----------------------------------------------------------

#[tokio::test]
async fn supervisors_and_registrars_page_through_who_accessed_a_contact_and_what_a_user_did() {
    // Arrange
    let app = spawn_app().await;
    let registrar = app.add_account("rauha", "registrar");
    let watched = app.new_call("aino").await;
    let other = app.new_call("aino").await;
    for _ in 0..3 {
        app.contact_as_supervisor(&watched).await;
    }
    app.contact_as_supervisor(&other).await;
    let own = app
        .get_contact(&app.tokens.aino, &watched, Some(PURPOSE))
        .await;
    assert_eq!(own.status(), StatusCode::OK);
    let refused = app
        .get_contact(&app.tokens.bertta, &watched, Some(PURPOSE))
        .await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);

    // Act: who accessed the watched contact, two events a page.
    let mut cursor = "0".to_owned();
    let mut about = Vec::new();
    let mut pages = 0;
    loop {
        let page = json_ok(
            app.audit_log(
                &registrar,
                &[("contact", &watched), ("after", &cursor), ("limit", "2")],
            )
            .await,
        )
        .await;
        pages += 1;
        about.extend(page["events"].as_array().expect("events").iter().cloned());
        match page["next"].as_i64() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }

    // Assert: creation, three supervisor reads, aino's read, bertta's denial.
    let summary: Vec<(String, String)> = about
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["actor"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("contact.created", "pbx"),
        ("contact.viewed", "sanna"),
        ("contact.viewed", "sanna"),
        ("contact.viewed", "sanna"),
        ("contact.viewed", "aino"),
        ("access.denied", "bertta"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(summary, expected);
    assert_eq!(pages, 3);
    let seqs: Vec<i64> = about.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(
        about
            .iter()
            .all(|e| e["at"].as_str().is_some_and(|t| t.ends_with('Z')))
    );

    // What one user did, and one action.
    let by_aino = json_ok(app.audit_log(&app.tokens.sanna, &[("user", "aino")]).await).await;
    let actions: Vec<&str> = by_aino["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["contact.viewed"]);
    let denials = json_ok(
        app.audit_log(&app.tokens.sanna, &[("action", "access.denied")])
            .await,
    )
    .await;
    assert_eq!(denials["events"].as_array().unwrap().len(), 1);
    assert_eq!(denials["events"][0]["actor"], "bertta");
    let nobody = json_ok(
        app.audit_log(&app.tokens.sanna, &[("user", "nobody")])
            .await,
    )
    .await;
    assert_eq!(nobody["events"].as_array().unwrap().len(), 0);

    // The reads of the log are in the log, by ids.
    let reads = json_ok(
        app.audit_log(
            &app.tokens.sanna,
            &[("action", "audit.read"), ("limit", "1000")],
        )
        .await,
    )
    .await;
    let reads = reads["events"].as_array().unwrap();
    assert!(reads.len() >= 4, "{reads:#?}");
    assert!(
        reads.iter().any(
            |e| e["actor"] == "rauha" && e["details"]["filters"]["contact"] == watched.as_str()
        )
    );
    // The user filter is stored as an account id, not the name asked for.
    assert!(!serde_json::to_string(reads).unwrap().contains("\"aino\""));
}

#[tokio::test]
async fn only_supervisors_and_registrars_may_read_the_audit_log() {
    let app = spawn_app().await;
    for token in [&app.tokens.aino, &app.tokens.pbx] {
        let (code, _) = assert_error(app.audit_log(token, &[]).await, StatusCode::FORBIDDEN).await;
        assert_eq!(code, "forbidden");
    }
    for role in ["admin", "maintainer", "responsible"] {
        let token = app.add_account(&format!("test-{role}"), role);
        assert_error(app.audit_log(&token, &[]).await, StatusCode::FORBIDDEN).await;
    }
    let anonymous = app
        .get(None, &app.url("/api/v1/audit"), None)
        .await
        .status();
    assert_eq!(anonymous, StatusCode::UNAUTHORIZED);
    // The refusals are themselves recorded.
    let denials = json_ok(
        app.audit_log(&app.tokens.sanna, &[("action", "access.denied")])
            .await,
    )
    .await;
    assert_eq!(denials["events"].as_array().unwrap().len(), 5);
    assert!(
        denials["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["details"]["action"] == "read_audit")
    );
    // Malformed queries are refused, never widened.
    for query in [
        &[("contact", "not-an-id")][..],
        &[("limit", "0")],
        &[("limit", "1001")],
        &[("after", "-1")],
        &[("action", "DROP TABLE")],
        &[("purpose", PURPOSE)],
    ] {
        let (code, _) = assert_error(
            app.audit_log(&app.tokens.sanna, query).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(code.starts_with("invalid"), "{query:?}: {code}");
    }
}

// ---- AUD-2: checkpoints by `serve` ---------------------------------------------------

/// Polls the checkpoint table until `done` holds, for at most 20 s.
fn wait_for_checkpoint(app: &TestApp, done: impl Fn(u64) -> bool) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let size = app
            .sql("SELECT coalesce(max(size), 0) FROM audit_checkpoints;")
            .trim()
            .parse()
            .expect("a size");
        if done(size) {
            return size;
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint came (latest {size})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn serve_signs_a_checkpoint_every_n_events_and_the_rest_at_a_graceful_stop() {
    // Arrange
    let mut app = spawn_app_with_env(&[("KIRJURI_AUDIT_CHECKPOINT_EVENTS", "5")]).await;
    let id = app.new_call("aino").await;

    // Act
    for _ in 0..12 {
        app.contact_as_supervisor(&id).await;
    }
    let head = audit_head(&app);
    let signed = wait_for_checkpoint(&app, |size| size + 5 > head);
    app.contact_as_supervisor(&id).await;
    app.stop();

    // Assert
    assert!(signed >= 5, "{signed}");
    let text = assert_intact(&app, &[]);
    assert_eq!(summary(&text, "events not yet signed"), "0", "{text}");
    assert!(summary(&text, "latest valid checkpoint").starts_with(&format!("size {}", head + 1)));
}

#[tokio::test]
async fn serve_signs_unsigned_events_once_the_interval_has_passed() {
    let app = spawn_app_with_env(&[
        ("KIRJURI_AUDIT_CHECKPOINT_EVENTS", "100000"),
        ("KIRJURI_AUDIT_CHECKPOINT_SECONDS", "1"),
    ])
    .await;
    let id = app.new_call("aino").await;
    app.contact_as_supervisor(&id).await;
    let head = audit_head(&app);
    // `serve`'s own background jobs (the purge's run record) may append
    // after `head`; what matters is that everything up to it gets signed.
    assert!(wait_for_checkpoint(&app, |size| size >= head) >= head);
    assert_intact(&app, &[]);
}

#[tokio::test]
async fn checkpoints_made_by_several_processes_at_once_form_one_verifiable_chain() {
    // Arrange: serve signs every 3 events while four command-line
    // processes sign as well.
    let mut app = spawn_app_with_env(&[("KIRJURI_AUDIT_CHECKPOINT_EVENTS", "3")]).await;
    let id = app.new_call("aino").await;

    // Act
    let data = app.data_dir().to_path_buf();
    let signers: Vec<_> = (0..4)
        .map(|_| {
            let data = data.clone();
            std::thread::spawn(move || {
                (0..3)
                    .map(|_| described(run_kirjuri(&data, &["audit", "checkpoint"], None, &[])))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for _ in 0..20 {
        app.contact_as_supervisor(&id).await;
    }
    let results: Vec<(bool, String)> = signers
        .into_iter()
        .flat_map(|s| s.join().expect("a signer thread"))
        .collect();
    app.stop();

    // Assert
    for (ok, text) in &results {
        assert!(ok, "{text}");
    }
    let text = assert_intact(&app, &[]);
    assert_eq!(summary(&text, "events not yet signed"), "0", "{text}");
    let sizes = app.sql("SELECT count(*), count(DISTINCT size) FROM audit_checkpoints;");
    let (all, distinct) = sizes.trim().split_once('|').expect("two counts");
    assert_eq!(all, distinct);
    assert!(all.parse::<u32>().unwrap() >= 3, "{sizes}");
}

// ---- AUD-2: `kirjuri audit verify` -------------------------------------------------

#[tokio::test]
async fn audit_verify_passes_an_untouched_log_and_summarises_it() {
    let app = spawn_app().await;
    let sizes = busy_log(&app).await;
    let text = assert_intact(&app, &[]);
    assert_eq!(summary(&text, "events not yet signed"), "3", "{text}");
    assert!(summary(&text, "latest valid checkpoint").starts_with(&format!("size {}", sizes[2])));
    assert!(text.contains("3 checkpoints"), "{text}");
    assert!(
        summary(&text, "verifier key").starts_with("kirjuri/"),
        "{text}"
    );
    // An empty data folder verifies too.
    let empty = tempfile::tempdir().unwrap();
    let (ok, text) = described(run_kirjuri(empty.path(), &["audit", "verify"], None, &[]));
    assert!(ok, "{text}");
}

#[tokio::test]
async fn audit_verify_names_the_interval_of_an_altered_event() {
    let ([c1, c2, _], first) = tampered(|[c1, _, _]| {
        format!(
            "UPDATE audit_events SET purpose = 'training' WHERE seq = {};",
            c1 + 2
        )
    })
    .await;
    assert!(
        first.starts_with(&format!(
            "events {}..{c2} (between checkpoints {c1} and {c2}) changed",
            c1 + 1
        )),
        "{first}"
    );
}

#[tokio::test]
async fn audit_verify_names_a_deleted_event_exactly() {
    let ([c1, _, _], first) =
        tampered(|[c1, _, _]| format!("DELETE FROM audit_events WHERE seq = {};", c1 + 3)).await;
    assert_eq!(first, format!("event {} missing (deleted)", c1 + 3));
}

#[tokio::test]
async fn audit_verify_detects_inserted_events() {
    // An event slipped in with a number of its own…
    let app = spawn_app().await;
    busy_log(&app).await;
    app.sql(
        "INSERT INTO audit_events (seq, at, action, outcome, details) \
         VALUES (0, 0, 'contact.viewed', 'success', '{}');",
    );
    assert_eq!(
        assert_broken(&app, &[]),
        "event with sequence number 0 found where event 1 belongs (inserted)"
    );

    // …or in the middle, renumbering everything after it.
    let ([c1, c2, _], first) = tampered(|[c1, _, _]| {
        let k = c1 + 1;
        format!(
            "UPDATE audit_events SET seq = seq + 1000000 WHERE seq > {k}; \
             UPDATE audit_events SET seq = seq - 999999 WHERE seq > 1000000; \
             INSERT INTO audit_events (seq, at, actor, action, object, purpose, outcome, details) \
             SELECT {k} + 1, at + 1, actor, action, object, purpose, outcome, details \
             FROM audit_events WHERE seq = {k};"
        )
    })
    .await;
    assert!(
        first.starts_with(&format!("events {}..{c2} ", c1 + 1)),
        "{first}"
    );
}

#[tokio::test]
async fn audit_verify_detects_reordered_events() {
    let ([c1, c2, _], first) = tampered(|[c1, _, _]| {
        let (a, b) = (c1 + 1, c1 + 4);
        format!(
            "UPDATE audit_events SET seq = -1 WHERE seq = {a}; \
             UPDATE audit_events SET seq = {a} WHERE seq = {b}; \
             UPDATE audit_events SET seq = {b} WHERE seq = -1;"
        )
    })
    .await;
    let a = c1 + 1;
    assert!(first.starts_with(&format!("events {a}..{c2} ")), "{first}");
}

#[tokio::test]
async fn audit_verify_detects_a_truncated_log() {
    let ([_, _, c3], first) =
        tampered(|[_, _, c3]| format!("DELETE FROM audit_events WHERE seq > {};", c3 - 2)).await;
    assert_eq!(
        first,
        format!(
            "the log is truncated: it ends at event {} but checkpoint {c3} signs {c3} events",
            c3 - 2
        )
    );
}

#[tokio::test]
async fn audit_verify_refuses_a_forged_or_altered_checkpoint() {
    let app = spawn_app().await;
    let [c1, c2, _] = busy_log(&app).await;
    drop_guards(&app);
    // A changed signature.
    app.sql(&format!(
        "UPDATE audit_checkpoints SET note = substr(note, 1, length(note) - 8) || 'AAAAAAA' \
         || char(10) WHERE size = {c2};"
    ));
    let first = assert_broken(&app, &[]);
    assert!(
        first.starts_with(&format!("checkpoint {c2} is not genuine")),
        "{first}"
    );
    // A root column that no longer matches its note.
    app.sql(&format!(
        "UPDATE audit_checkpoints SET root = zeroblob(32) WHERE size = {c1};"
    ));
    let first = assert_broken(&app, &[]);
    assert!(
        first.starts_with(&format!("checkpoint {c1} has a root column")),
        "{first}"
    );
}

/// Copies a data folder (a fork of the log: same identity, same key).
fn fork(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .expect("cp runs");
    assert!(status.success());
    let _ = std::fs::remove_dir_all(to.join("instances"));
}

#[tokio::test]
async fn audit_verify_detects_a_validly_signed_checkpoint_of_another_history() {
    // Arrange: a copy of the data folder (same log identity, same key)
    // whose history diverges after the first checkpoint.
    let mut app = spawn_app().await;
    let id = app.new_call("aino").await;
    app.contact_as_supervisor(&id).await;
    let c1 = checkpoint(&app);
    app.stop();
    let copy = tempfile::tempdir().unwrap();
    fork(app.data_dir(), copy.path());
    app.start();
    for _ in 0..3 {
        app.contact_as_supervisor(&id).await;
    }
    let c2 = checkpoint(&app);
    let other = |args: &[&str]| described(run_kirjuri(copy.path(), args, None, &[]));
    let (ok, text) = other(&["token", "create", "--user", "aino"]);
    assert!(ok, "{text}");
    let forked_note = copy.path().join("forked-checkpoint.txt");
    let (ok, text) = other(&export_to(&forked_note));
    assert!(ok, "{text}");
    let forked_size = c1 + 1;
    assert!(text.contains(&format!("size {forked_size}")), "{text}");

    // Act and assert: as a witness's checkpoint…
    let first = assert_broken(&app, &["--checkpoint", forked_note.to_str().unwrap()]);
    assert!(
        first.starts_with(&format!(
            "the log does not extend the witness checkpoint of size {forked_size}"
        )),
        "{first}"
    );
    assert_intact(&app, &[]);

    // …and slipped into the checkpoint table.
    app.sql(&format!(
        "ATTACH '{}' AS fork; INSERT INTO audit_checkpoints \
         SELECT * FROM fork.audit_checkpoints WHERE size = {forked_size};",
        copy.path().join("kirjuri.db").display()
    ));
    let first = assert_broken(&app, &[]);
    assert!(
        first.starts_with(&format!(
            "checkpoint {forked_size} is validly signed but inconsistent with the log, which \
             checkpoint {c2} confirms"
        )),
        "{first}"
    );
}

#[tokio::test]
async fn a_witness_checkpoint_catches_a_rollback_the_log_alone_cannot_show() {
    // Arrange: a checkpoint exported to a witness, then more events.
    let app = spawn_app().await;
    let id = app.new_call("aino").await;
    let early = checkpoint(&app);
    for _ in 0..4 {
        app.contact_as_supervisor(&id).await;
    }
    let witness = app.data_dir().join("witness.txt");
    let (ok, text) = kirjuri(&app, &export_to(&witness));
    assert!(ok, "{text}");
    let exported = early + 4;
    assert_intact(&app, &["--checkpoint", witness.to_str().unwrap()]);

    // Act: roll the log back to just after the early checkpoint.
    drop_guards(&app);
    app.sql(&format!(
        "DELETE FROM audit_events WHERE seq > {}; DELETE FROM audit_checkpoints WHERE size > {early};",
        early + 1
    ));

    // Assert
    assert_intact(&app, &[]);
    assert_eq!(
        assert_broken(&app, &["--checkpoint", witness.to_str().unwrap()]),
        format!(
            "the log is truncated: it ends at event {} but the witness checkpoint signs {exported} events",
            early + 1
        )
    );
}

#[tokio::test]
async fn a_pinned_verifier_key_catches_a_log_re_signed_with_a_new_key() {
    let app = spawn_app().await;
    busy_log(&app).await;
    let text = assert_intact(&app, &[]);
    let pinned = summary(&text, "verifier key");
    // Someone with the folder changes an event and re-signs everything.
    drop_guards(&app);
    app.sql(
        "UPDATE audit_events SET outcome = 'denied' WHERE seq = 2; DELETE FROM audit_checkpoints;",
    );
    std::fs::remove_file(app.data_dir().join("keys/audit-signing.key")).unwrap();
    checkpoint(&app);
    assert_intact(&app, &[]);
    let first = assert_broken(&app, &["--verifier-key", &pinned]);
    assert!(first.contains("is not genuine"), "{first}");
}

#[tokio::test]
async fn the_checkpoint_writer_refuses_to_sign_a_tree_that_does_not_extend_the_last_one() {
    // A damaged frontier: resuming would not reproduce the signed root.
    let app = spawn_app().await;
    let [_, _, c3] = busy_log(&app).await;
    drop_guards(&app);
    app.sql(&format!(
        "UPDATE audit_checkpoints SET frontier = zeroblob(length(frontier)) WHERE size = {c3};"
    ));
    let (ok, text) = kirjuri(&app, &["audit", "checkpoint"]);
    assert!(!ok, "signed on a damaged frontier: {text}");
    assert!(text.contains("frontier of checkpoint"), "{text}");
    let first = assert_broken(&app, &[]);
    assert!(
        first.contains(&format!("frontier of checkpoint {c3}")),
        "{first}"
    );

    // A missing event among those not yet signed.
    let app = spawn_app().await;
    let [_, _, c3] = busy_log(&app).await;
    drop_guards(&app);
    app.sql(&format!("DELETE FROM audit_events WHERE seq = {};", c3 + 1));
    let (ok, text) = kirjuri(&app, &["audit", "checkpoint"]);
    assert!(!ok, "signed over a gap: {text}");
    assert!(
        text.contains(&format!("event {} is missing", c3 + 1)),
        "{text}"
    );
    assert_eq!(
        app.sql("SELECT max(size) FROM audit_checkpoints;").trim(),
        c3.to_string()
    );

    // A tampered checkpoint underneath.
    let app = spawn_app().await;
    let [_, _, c3] = busy_log(&app).await;
    drop_guards(&app);
    app.sql(&format!(
        "UPDATE audit_checkpoints SET note = replace(note, char(10) || '{c3}' || char(10), \
         char(10) || '{}' || char(10)) WHERE size = {c3};",
        c3 + 1
    ));
    let (ok, text) = kirjuri(&app, &["audit", "checkpoint"]);
    assert!(!ok, "signed on a forged checkpoint: {text}");
    assert!(text.contains("does not verify"), "{text}");
}
