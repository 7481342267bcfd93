//! Personal data at rest and in logs (SEC-1, REG-2, STYLE.md 12), checked the
//! way a thief with the data disk or a reader of the log would: every file in
//! the data folder (database, WAL, objects, keys, audit) and everything the
//! server printed is searched for each plaintext that went in — names,
//! numbers in every form, emails, addresses, free text, and windows of the
//! recorded audio. A withheld caller number must not be anywhere at all.

use kirjuri_core::wav::Encoding;
use kirjuri_core::wav::synth;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    PURPOSE, TestApp, contains, find_in_files, ids_of, json_ok, spawn_app, spawn_app_with_env,
};

/// Verbose logging, so anything a handler or library logs at debug is checked too.
const DEBUG_LOG: [(&str, &str); 1] = [("KIRJURI_LOG", "debug")];

/// Needles found in the data folder or the server's output, described.
fn leaks(app: &TestApp, needles: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut found = find_in_files(app.data_dir(), needles);
    let logs = app.log_bytes();
    for (label, needle) in needles {
        if contains(&logs, needle) {
            found.push(format!("{label} in the server's stdout/stderr"));
        }
    }
    found
}

fn text_needles(values: &[&str]) -> Vec<(String, Vec<u8>)> {
    values
        .iter()
        .map(|v| (format!("{v:?}"), v.as_bytes().to_vec()))
        .collect()
}

#[tokio::test]
async fn a_withheld_number_is_stored_nowhere_not_even_in_logs() {
    // Arrange
    let mut app = spawn_app_with_env(&DEBUG_LOG).await;
    let contact = json!({
        "external_id": "pbx-withheld-1",
        "channel": "call_in",
        "started_at": "2026-11-29T09:15:02+02:00",
        "ended_at": "2026-11-29T09:16:02+02:00",
        "agent": "aino",
        "customer": {"phone": "040 765 4321", "phone_withheld": true, "language": "fi"}
    });

    // Act
    let id = app.new_contact(&contact).await;
    app.store_recording(&id, &crate::helpers::wav(8000)).await;
    let stored = app.contact_as_supervisor(&id).await;
    let mut searches = Vec::new();
    for form in ["040 765 4321", "0407654321", "+358407654321"] {
        searches.push(
            json_ok(
                app.search(&app.tokens.sanna, &[("phone", form), ("purpose", PURPOSE)])
                    .await,
            )
            .await,
        );
    }
    let own_view = json_ok(app.get_contact(&app.tokens.aino, &id, Some(PURPOSE)).await).await;

    // Assert: the API shows only that the number was withheld …
    assert_eq!(
        stored["customer"]["phone_withheld"],
        json!(true),
        "{stored}"
    );
    assert!(
        stored["customer"].get("phone").is_none_or(Value::is_null),
        "the number came back: {stored}"
    );
    assert!(
        own_view["customer"].get("phone").is_none_or(Value::is_null),
        "{own_view}"
    );
    for search in &searches {
        assert!(
            ids_of(search).is_empty(),
            "a search by the withheld number found: {search}"
        );
    }
    // … and no file or log line holds it, while running or after shutdown.
    let needles = text_needles(&[
        "0407654321",
        "+358407654321",
        "040 765 4321",
        "407654321",
        "765 4321",
    ]);
    let running = leaks(&app, &needles);
    assert!(
        running.is_empty(),
        "the withheld number is stored: {running:#?}"
    );
    app.stop();
    let stopped = leaks(&app, &needles);
    assert!(
        stopped.is_empty(),
        "the withheld number is stored: {stopped:#?}"
    );
}

/// A 4 KiB run of a recognisable, non-silent 16-bit sample sequence.
fn audio_canary() -> Vec<u8> {
    let mut run = Vec::with_capacity(4096);
    let mut state: u32 = 0x4B49_524A; // "KIRJ"
    while run.len() < 4096 {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let sample = ((state >> 16) as i16) | 0x0101; // never silent
        run.extend_from_slice(&sample.to_le_bytes());
    }
    run
}

#[tokio::test]
async fn no_personal_data_or_audio_appears_in_plaintext_in_the_data_folder_or_the_logs() {
    // Arrange: contacts full of distinctive personal data, and a recording
    // whose audio holds a distinctive run of samples between two tones.
    let mut app = spawn_app_with_env(&DEBUG_LOG).await;
    let contacts = [
        json!({
            "external_id": "pbx-leak-1",
            "channel": "call_in",
            "started_at": "2026-11-29T09:15:02+02:00",
            "ended_at": "2026-11-29T09:19:40+02:00",
            "service": "water-billing",
            "agent": "aino",
            "customer": {"name": "Zebulon Quaxworthy", "phone": "044 987 6543",
                         "email": "Zebulon.Quaxworthy@leak-canary.example",
                         "address": "Kvarkkikuja 17 B 42, 99990 Nuorgam", "language": "fi"},
            "contact_person": {"name": "Isännöinti Xylofoni Oy", "phone": "+358 9 8765 4321"},
            "account": {"customer_number": "CUST-QX-93817", "billing": "Laskutus IBAN FI2112345600000785",
                        "payment_status": "Perinnässä Quuxlaskut"},
            "property": {"name": "As Oy Tuulenpesä Quux", "address": "Quuxintie 3, 99990 Nuorgam",
                         "property_id": "91-403-77-88", "type": "apartment_building",
                         "connection": "Liittymä QX-DN32-omakotitalo", "details": "Vesimittari kellarissa Quaxworthyn"},
            "service_content": "Customer reported a violet hippopotamus in the water meter"
        }),
        json!({
            "external_id": "pbx-leak-2",
            "channel": "call_out",
            "started_at": "2026-11-30T13:00:00+02:00",
            "agent": "bertta",
            "customer": {"name": "Åsa Ögonblicksdóttir", "phone": "+46 70 123 98 76",
                         "email": "asa.ogon@leak-canary.example", "address": "Frostgränd 9, Vörå"},
            "service_content": "Återbetalning för läckande kranvattenmätare"
        }),
    ];
    let mut ids = Vec::new();
    for contact in &contacts {
        ids.push(app.new_contact(contact).await);
    }
    let canary = audio_canary();
    let mut recording = synth::wav_bytes(Encoding::PcmS16, 1, 8000, 4000, false);
    let tone = recording.split_off(44);
    let data_len = (tone.len() * 2 + canary.len()) as u64;
    recording = synth::header(Encoding::PcmS16, 1, 8000, data_len, false);
    recording.extend_from_slice(&tone);
    recording.extend_from_slice(&canary);
    recording.extend_from_slice(&tone);

    // Act: store the recording, then read, search and listen, as users do.
    app.store_recording(&ids[0], &recording).await;
    for id in &ids {
        app.contact_as_supervisor(id).await;
    }
    assert!(app.recording_as_supervisor(&ids[0]).await[..] == recording[..]);
    let ranged = app
        .get_recording(
            &app.tokens.sanna,
            &ids[0],
            Some(PURPOSE),
            Some("bytes=8000-12999"),
        )
        .await;
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    for query in [
        ("phone", "044 987 6543"),
        ("phone", "+46701239876"),
        ("email", "zebulon.quaxworthy@leak-canary.example"),
        ("name", "Zebulon Quaxworthy"),
        ("name", "Åsa Ögonblicksdóttir"),
        ("customer_number", "CUST-QX-93817"),
        ("property_id", "91-403-77-88"),
    ] {
        let found = json_ok(
            app.search(&app.tokens.sanna, &[query, ("purpose", PURPOSE)])
                .await,
        )
        .await;
        assert_eq!(
            ids_of(&found).len(),
            1,
            "{query:?} finds its contact: {found}"
        );
    }

    // Assert: no plaintext anywhere, while running or after a clean shutdown.
    let mut needles = text_needles(&[
        "Zebulon",
        "Quaxworthy",
        "quaxworthy",
        "leak-canary",
        "Kvarkkikuja",
        "Nuorgam",
        "Xylofoni",
        "xylofoni",
        "+358449876543",
        "0449876543",
        "044 987 6543",
        "449876543",
        "+358987654321",
        "987654321",
        "8765 4321",
        "CUST-QX-93817",
        "FI2112345600000785",
        "Quuxlaskut",
        "Tuulenpesä",
        "Quuxintie",
        "091-403-0077-0088",
        "91-403-77-88",
        "QX-DN32",
        "Vesimittari",
        "hippopotamus",
        "Ögonblicksdóttir",
        "ögonblicksdóttir",
        "+46701239876",
        "701239876",
        "Frostgränd",
        "läckande",
        "WAVEfmt ",
    ]);
    for offset in [0usize, 1000, 2048, 4096 - 64] {
        needles.push((
            format!("audio window at {offset}"),
            canary[offset..offset + 64].to_vec(),
        ));
    }
    needles.push((
        "audio window of the tone".into(),
        recording[1000..1064].to_vec(),
    ));
    let control = find_in_files(app.data_dir(), &text_needles(&["pbx-leak-1"]));
    assert!(
        !control.is_empty(),
        "the scan must see the database: the external id (not personal) is not found"
    );
    let running = leaks(&app, &needles);
    assert!(running.is_empty(), "plaintext found: {running:#?}");
    app.stop();
    let stopped = leaks(&app, &needles);
    assert!(
        stopped.is_empty(),
        "plaintext found after shutdown: {stopped:#?}"
    );
}

#[tokio::test]
async fn an_incidents_text_appears_in_no_file_and_no_log() {
    // Arrange: a breach whose free text names people, recorded, refused
    // (a late notification without reasons, a text too long), updated and
    // read back — every path an incident's text takes.
    let mut app = spawn_app_with_env(&DEBUG_LOG).await;
    let rea = app.add_account("rea", "registrar");
    let post = |path: &str, body: &Value| {
        app.client
            .post(app.url(path))
            .bearer_auth(&rea)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body).unwrap())
            .send()
    };
    let breach = json!({
        "detected_at": "2026-03-02T07:30:00Z",
        "aware_at": "2026-03-02T08:00:00Z",
        "nature": "Laptop of Zygmunt Brzęczyszczykiewicz stolen in Kvarkkikuja",
        "data_categories": ["Quuxphone numbers of Ölvirsdóttir"],
        "subject_categories": ["Xylofoni customers"],
        "approx_subjects": 2,
        "approx_records": 3,
        "consequences": "Hippogriff callers identified",
        "measures": "Revoked tokens of Zygmunt",
        "notify_authority": true,
        "notify_reasoning": "Risk to Ölvirsdóttir"
    });

    // Act
    let created = post("/api/v1/incidents", &breach).await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let updates = format!("/api/v1/incidents/{id}/updates");
    let refused = post(
        &updates,
        &json!({"authority_notified_at": "2026-03-09T08:00:00Z",
        "authority_reference": "TSV-Brzęczyszczykiewicz"}),
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let mut long = "Zygmunt ".repeat(600);
    long.push_str("Brzęczyszczykiewicz");
    let refused = post(&updates, &json!({"note": long})).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let updated = post(
        &updates,
        &json!({"authority_notified_at": "2026-03-09T08:00:00Z",
        "authority_reference": "TSV-Brzęczyszczykiewicz",
        "delay_reasons": "Ölvirsdóttir was abroad"}),
    )
    .await
    .unwrap();
    assert_eq!(updated.status(), StatusCode::CREATED);
    let shown = app
        .get(
            Some(&rea),
            &app.url(&format!("/api/v1/incidents/{id}")),
            None,
        )
        .await;
    assert!(shown.text().await.unwrap().contains("Brzęczyszczykiewicz"));

    // Assert
    let needles = text_needles(&[
        "Brzęczyszczykiewicz",
        "Zygmunt",
        "Ölvirsdóttir",
        "Quuxphone",
        "Xylofoni",
        "Hippogriff",
        "Kvarkkikuja",
    ]);
    let running = leaks(&app, &needles);
    assert!(running.is_empty(), "plaintext found: {running:#?}");
    app.stop();
    let stopped = leaks(&app, &needles);
    assert!(
        stopped.is_empty(),
        "plaintext found after shutdown: {stopped:#?}"
    );
}

#[tokio::test]
async fn json_logs_are_one_object_a_line_without_colour_or_personal_data() {
    // Arrange: debug logs as JSON, written to a pipe (not a terminal).
    let mut app =
        spawn_app_with_env(&[("KIRJURI_LOG", "debug"), ("KIRJURI_LOG_FORMAT", "json")]).await;
    let contact = json!({
        "external_id": "pbx-json-log-1",
        "channel": "call_in",
        "started_at": "2026-11-29T09:15:02+02:00",
        "ended_at": "2026-11-29T09:16:02+02:00",
        "agent": "aino",
        "customer": {"name": "Ygritte Quenbyhaugh", "phone": "044 321 9876",
                     "email": "ygritte@json-canary.example", "language": "fi"}
    });

    // Act: intake, a read, a search, a refused body that quotes a name.
    let id = app.new_contact(&contact).await;
    app.contact_as_supervisor(&id).await;
    app.search(
        &app.tokens.sanna,
        &[("phone", "044 321 9876"), ("purpose", PURPOSE)],
    )
    .await;
    let mut bad = contact.clone();
    bad["customer"]["nickname"] = json!("Ygritte Quenbyhaugh");
    let refused = app
        .client
        .post(app.url("/api/v1/contacts"))
        .bearer_auth(&app.tokens.pbx)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    app.stop();

    // Assert: every line a JSON object with a level; no escape codes; no
    // personal value anywhere.
    let log = app.stderr();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() > 3, "the server logged: {log}");
    for line in &lines {
        let event: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(event["level"].is_string(), "{line}");
    }
    assert!(!log.contains('\u{1b}'), "colour escape codes in a log file");
    let needles = text_needles(&[
        "Ygritte",
        "Quenbyhaugh",
        "json-canary",
        "3219876",
        "321 9876",
    ]);
    let found = leaks(&app, &needles);
    assert!(
        found.is_empty(),
        "personal data in the JSON log: {found:#?}"
    );
}

#[tokio::test]
async fn a_text_log_to_a_file_has_no_colour_and_an_unknown_log_format_is_refused() {
    // Arrange
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();

    // Act
    let refused = crate::helpers::run_kirjuri(
        dir.path(),
        &["retention", "policies"],
        None,
        &[("KIRJURI_LOG_FORMAT".into(), "xml".into())],
    );

    // Assert
    assert!(!app.stderr().contains('\u{1b}'), "{}", app.stderr());
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("KIRJURI_LOG_FORMAT must be text or json"),
        "{said}"
    );
}
