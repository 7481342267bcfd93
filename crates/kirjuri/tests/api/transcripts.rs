//! Chat transcripts through the real binary (issue 14 §1): delivered with
//! `PUT /api/v1/contacts/{id}/transcript` and answered like a recording
//! (201 with its sha256, the same bytes 200, different bytes 409), stored
//! sealed (no word of it in the data folder or the database file), read by
//! its own agent and by nobody the access decision refuses, found by the
//! contact's phone and email, destroyed at its deadline, in the subject's
//! access package; hostile bodies refused with nothing stored; parallel
//! deliveries stored once; and the chat system's signed webhook, idempotent
//! by its chat id, storing nothing without a valid signature.

use std::collections::HashMap;

use chrono::{SecondsFormat, Utc};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    PURPOSE, TestApp, assert_error, contains, find_in_files, ids_of, json_ok, sha256_hex,
    spawn_app, spawn_app_with_env, wav,
};

/// A word that appears nowhere but in the transcripts, to look for.
const WORD: &str = "Kuunsiltakarhunvatukka";

/// The chat system's secret (`[webhooks] chat_secret`).
const SECRET: &str = "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7";

/// The customer's phone and email on every chat here.
const PHONE: &str = "040 765 4321";
const EMAIL: &str = "Tiina.Tilaaja@Esimerkki.FI";

/// A chat contact handled by `agent`, by the customer above.
fn chat(agent: &str, started_at: &str) -> Value {
    json!({
        "channel": "chat",
        "started_at": started_at,
        "ended_at": null,
        "service": "water-billing",
        "agent": agent,
        "customer": {"name": "Tiina Tilaaja-Kuusikoski", "phone": PHONE, "email": EMAIL},
    })
}

/// A transcript whose customer says `WORD` and `tag`.
fn transcript(tag: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "participants": [
            {"id": "c1", "role": "customer", "name": "Tiina"},
            {"id": "a1", "role": "agent", "name": "Aino"}
        ],
        "messages": [
            {"id": "m1", "at": "2026-11-29T09:15:02+02:00", "from": "customer", "participant": "c1",
             "text": format!("Hei! {WORD} {tag}"),
             "attachments": [{"name": "lasku.pdf", "media_type": "application/pdf", "bytes": 48213}]},
            {"id": "m2", "at": "2026-11-29T09:15:40+02:00", "from": "agent", "participant": "a1",
             "text": "Katson asiaa."},
            {"id": "m3", "at": "2026-11-29T09:16:00+02:00", "from": "bot", "text": "Kiitos!"}
        ]
    }))
    .unwrap()
}

/// The transcript endpoints, as this test calls them.
trait Chats {
    async fn put_transcript(
        &self,
        token: &str,
        id: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response;
    async fn get_transcript(&self, token: &str, id: &str) -> reqwest::Response;
    async fn chat_webhook(&self, body: &[u8], signature: Option<&str>) -> reqwest::Response;
    fn count(&self, sql: &str) -> u64;
}

impl Chats for TestApp {
    /// `PUT …/transcript` as `token` with `content_type`.
    async fn put_transcript(
        &self,
        token: &str,
        id: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .put(self.url(&format!("/api/v1/contacts/{id}/transcript")))
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// `GET …/transcript?purpose=…` as `token`.
    async fn get_transcript(&self, token: &str, id: &str) -> reqwest::Response {
        self.get(
            Some(token),
            &self.url(&format!(
                "/api/v1/contacts/{id}/transcript?purpose={PURPOSE}"
            )),
            None,
        )
        .await
    }

    /// `POST /api/v1/webhooks/chat` with `signature` as the header, if any.
    async fn chat_webhook(&self, body: &[u8], signature: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url("/api/v1/webhooks/chat"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("X-Kirjuri-Signature", signature);
        }
        request.send().await.unwrap()
    }

    fn count(&self, sql: &str) -> u64 {
        self.sql(sql).trim().parse().unwrap()
    }
}

/// `sha256=<hex HMAC-SHA-256>` of `body` under `secret`.
fn sign(secret: &str, body: &[u8]) -> String {
    let key = sha2check::hmac::Key::new(sha2check::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = sha2check::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[tokio::test]
async fn a_transcript_is_stored_sealed_answered_like_a_recording_and_read_only_by_its_agent() {
    // Arrange
    let app = spawn_app().await;
    let id = app
        .new_contact(&chat("aino", "2026-11-29T09:15:00+02:00"))
        .await;
    let bytes = transcript("first");
    let pbx = &app.tokens.pbx;

    // Act: delivered, delivered again, and a different one.
    let first = app
        .put_transcript(pbx, &id, "application/json", bytes.clone())
        .await;
    let first_status = first.status();
    let ack: Value = first.json().await.unwrap();
    let again = app
        .put_transcript(pbx, &id, "application/json", bytes.clone())
        .await;
    let different = app
        .put_transcript(pbx, &id, "application/json", transcript("second"))
        .await;

    // Assert: answered like a recording.
    assert_eq!(first_status, StatusCode::CREATED, "{ack}");
    assert_eq!(ack["sha256"], sha256_hex(&bytes));
    assert_eq!(ack["messages"], 3);
    assert_eq!(ack["bytes"], bytes.len());
    assert_eq!(json_ok(again).await["sha256"], sha256_hex(&bytes));
    let (code, _) = assert_error(different, StatusCode::CONFLICT).await;
    assert_eq!(code, "transcript_exists");

    // Sealed: not a word of it in the data folder (database file included).
    let found = find_in_files(
        app.data_dir(),
        &[("the message text".into(), WORD.as_bytes().to_vec())],
    );
    assert!(found.is_empty(), "{found:?}");

    // Its agent reads it back bit-exact; the read is audited.
    let read = app.get_transcript(&app.tokens.aino, &id).await;
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(read.headers()["content-type"], "application/json");
    assert_eq!(read.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'transcript.read';"),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'transcript.created';"),
        1
    );

    // Another agent gets exactly the answer for a contact that does not exist.
    let missing = "01890000-0000-7000-8000-000000000000";
    let other = app.get_transcript(&app.tokens.bertta, &id).await;
    let none = app.get_transcript(&app.tokens.bertta, missing).await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    assert_eq!(other.text().await.unwrap(), none.text().await.unwrap());
    // The integration delivers, never reads; a read states a purpose.
    assert_error(app.get_transcript(pbx, &id).await, StatusCode::FORBIDDEN).await;
    let no_purpose = app
        .get(
            Some(&app.tokens.aino),
            &app.url(&format!("/api/v1/contacts/{id}/transcript")),
            None,
        )
        .await;
    assert_error(no_purpose, StatusCode::BAD_REQUEST).await;
    // People do not deliver evidence with their own tokens.
    let by_agent = app
        .put_transcript(&app.tokens.aino, &id, "application/json", bytes.clone())
        .await;
    assert_error(by_agent, StatusCode::FORBIDDEN).await;

    // Found by the customer's phone and email, as calls are.
    for (key, value) in [("phone", PHONE), ("email", EMAIL)] {
        let found = json_ok(
            app.search(&app.tokens.aino, &[(key, value), ("purpose", PURPOSE)])
                .await,
        )
        .await;
        assert_eq!(ids_of(&found), [id.clone()].into(), "by {key}");
    }

    // Only chats carry transcripts, and chats carry no recording.
    let a_call = app.new_call("aino").await;
    let (code, _) = assert_error(
        app.put_transcript(pbx, &a_call, "application/json", bytes.clone())
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "not_a_chat");
    let recording = app.upload_recording(pbx, &id, wav(800)).await;
    assert_error(recording, StatusCode::CONFLICT).await;
    // And nothing of it went to the server's output.
    assert!(!contains(&app.log_bytes(), WORD.as_bytes()));
}

#[tokio::test]
async fn hostile_transcripts_are_refused_with_a_clear_error_and_nothing_is_stored() {
    // Arrange
    let app = spawn_app().await;
    let id = app
        .new_contact(&chat("aino", "2026-11-29T09:15:00+02:00"))
        .await;
    let pbx = &app.tokens.pbx;
    let message =
        |text: &str| json!({"at": "2026-11-29T09:15:02+02:00", "from": "customer", "text": text});
    let tiny: Vec<Value> = (0..10_001).map(|_| message("a")).collect();
    let mut invalid_utf8 =
        br#"{"messages": [{"at": "2026-11-29T09:15:02+02:00", "from": "bot", "text": ""#.to_vec();
    invalid_utf8.extend_from_slice(WORD.as_bytes());
    invalid_utf8.extend_from_slice(b"\xff\xfe\"}]}");
    let deep = format!(
        "{{\"messages\": {}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let mut million = b"{\"messages\": [".to_vec();
    for i in 0..1_000_000 {
        if i > 0 {
            million.push(b',');
        }
        million.extend_from_slice(br#"{"at":"2026-11-29T09:15:02Z","from":"bot","text":"a"}"#);
    }
    million.extend_from_slice(b"]}");
    let huge_text =
        serde_json::to_vec(&json!({"messages": [message(&WORD.repeat((50 << 20) / WORD.len()))]}))
            .unwrap();
    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        ("broken JSON", format!("{{\"messages\": [{{\"text\": \"{WORD}").into_bytes(), StatusCode::UNPROCESSABLE_ENTITY),
        ("deep nesting", deep.into_bytes(), StatusCode::UNPROCESSABLE_ENTITY),
        ("invalid UTF-8", invalid_utf8, StatusCode::UNPROCESSABLE_ENTITY),
        ("unknown field", serde_json::to_vec(&json!({"messages": [message(WORD)], WORD: WORD})).unwrap(), StatusCode::UNPROCESSABLE_ENTITY),
        ("unknown field in a message", serde_json::to_vec(&json!({"messages": [{"at": "2026-11-29T09:15:02+02:00", "from": "customer", "text": WORD, "mood": WORD}]})).unwrap(), StatusCode::UNPROCESSABLE_ENTITY),
        ("unknown role", serde_json::to_vec(&json!({"messages": [{"at": "2026-11-29T09:15:02+02:00", "from": WORD, "text": WORD}]})).unwrap(), StatusCode::UNPROCESSABLE_ENTITY),
        ("time not RFC 3339", serde_json::to_vec(&json!({"messages": [{"at": WORD, "from": "bot", "text": WORD}]})).unwrap(), StatusCode::UNPROCESSABLE_ENTITY),
        ("out of order", serde_json::to_vec(&json!({"messages": [message(WORD), {"at": "2026-11-29T09:15:01+02:00", "from": "agent", "text": WORD}]})).unwrap(), StatusCode::UNPROCESSABLE_ENTITY),
        ("10 001 tiny messages", serde_json::to_vec(&json!({ "messages": tiny })).unwrap(), StatusCode::UNPROCESSABLE_ENTITY),
        ("a million tiny messages", million, StatusCode::PAYLOAD_TOO_LARGE),
        ("a 50 MB text", huge_text, StatusCode::PAYLOAD_TOO_LARGE),
        ("empty body", Vec::new(), StatusCode::UNPROCESSABLE_ENTITY),
    ];

    for (what, body, status) in cases {
        // Past the lingering close's 8 MiB (`connections::LINGER_BYTES`) the
        // server resets the connection after its 413, so a client still
        // sending may see the reset instead of the answer: either way,
        // nothing may be stored (checked below).
        if body.len() > 8 << 20 {
            let sent = app
                .client
                .put(app.url(&format!("/api/v1/contacts/{id}/transcript")))
                .bearer_auth(pbx)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await;
            if let Ok(response) = sent {
                assert_eq!(response.status(), status, "{what}");
            }
            continue;
        }
        // Act
        let response = app.put_transcript(pbx, &id, "application/json", body).await;

        // Assert: refused with a message that quotes nothing of the body.
        let (_, message) = assert_error(response, status).await;
        assert!(!message.contains("Kuunsilta"), "{what}: {message}");
    }
    // Just over the limit, the answer arrives whole and names the limit.
    let over = serde_json::to_vec(&json!({"messages": [message(&"x".repeat(5 << 20))]})).unwrap();
    let response = app.put_transcript(pbx, &id, "application/json", over).await;
    let (_, message) = assert_error(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(!message.contains("xxxx"), "{message}");
    let wrong_type = app
        .put_transcript(pbx, &id, "text/plain", transcript("typed"))
        .await;
    assert_error(wrong_type, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    // Nothing stored: no object, no row, no pending upload, no audit.
    assert!(app.object_files().is_empty(), "{:?}", app.object_files());
    assert_eq!(app.count("SELECT count(*) FROM objects;"), 0);
    assert_eq!(app.count("SELECT count(*) FROM pending_objects;"), 0);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'transcript.created';"),
        0
    );
    // The server is still well and takes a good one.
    let ok = app
        .put_transcript(pbx, &id, "application/json", transcript("ok"))
        .await;
    assert_eq!(ok.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn parallel_deliveries_of_one_transcript_store_it_once_one_201_the_rest_200() {
    // Arrange
    let app = spawn_app().await;
    let id = app
        .new_contact(&chat("aino", "2026-11-29T09:15:00+02:00"))
        .await;
    let bytes = transcript("parallel");

    // Act
    let statuses: Vec<StatusCode> = futures::stream::iter(0..12)
        .map(|_| {
            let (app, id, bytes) = (&app, &id, bytes.clone());
            async move {
                app.put_transcript(&app.tokens.pbx, id, "application/json", bytes)
                    .await
                    .status()
            }
        })
        .buffer_unordered(12)
        .collect()
        .await;

    // Assert
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!((created, ok), (1, 11), "{statuses:?}");
    assert_eq!(app.object_files().len(), 1);
    assert_eq!(
        app.count("SELECT count(*) FROM objects WHERE kind = 'transcript';"),
        1
    );
}

#[tokio::test]
async fn the_signed_webhook_creates_the_chat_once_and_nothing_without_a_valid_signature() {
    // Arrange
    let app = spawn_app_with_env(&[("KIRJURI_WEBHOOKS__CHAT_SECRET", SECRET)]).await;
    let delivery = |chat_id: &str, agent: &str, tag: &str| {
        let transcript: Value = serde_json::from_slice(&transcript(tag)).unwrap();
        serde_json::to_vec(&json!({
            "chat_id": chat_id,
            "contact": chat(agent, "2026-11-29T09:15:00+02:00"),
            "transcript": transcript,
        }))
        .unwrap()
    };
    let body = delivery("chat-4711", "aino", "webhook");

    // Act: unsigned, wrongly signed, signed with another secret, then right.
    let unsigned = app.chat_webhook(&body, None).await;
    let garbage = app.chat_webhook(&body, Some("sha256=00ff")).await;
    let other_key = app
        .chat_webhook(
            &body,
            Some(&sign("another secret of enough length!!", &body)),
        )
        .await;
    let tampered = app
        .chat_webhook(
            &delivery("chat-4711", "bertta", "webhook"),
            Some(&sign(SECRET, &body)),
        )
        .await;
    let nothing_yet = app.count("SELECT count(*) FROM contacts;");
    let first = app.chat_webhook(&body, Some(&sign(SECRET, &body))).await;
    let first_status = first.status();
    let ack: Value = first.json().await.unwrap();
    let replayed = app.chat_webhook(&body, Some(&sign(SECRET, &body))).await;
    let other_transcript = delivery("chat-4711", "aino", "changed");
    let changed = app
        .chat_webhook(&other_transcript, Some(&sign(SECRET, &other_transcript)))
        .await;
    let other_contact = delivery("chat-4711", "bertta", "webhook");
    let moved = app
        .chat_webhook(&other_contact, Some(&sign(SECRET, &other_contact)))
        .await;
    let not_json = b"{\"chat_id\": ".to_vec();
    let broken = app
        .chat_webhook(&not_json, Some(&sign(SECRET, &not_json)))
        .await;

    // Assert: nothing before a valid signature.
    for refused in [unsigned, garbage, other_key, tampered] {
        assert_error(refused, StatusCode::UNAUTHORIZED).await;
    }
    assert_eq!(nothing_yet, 0);
    // Created once, with the transcript as it was embedded.
    assert_eq!(first_status, StatusCode::CREATED, "{ack}");
    let id = ack["contact_id"].as_str().unwrap().to_owned();
    let embedded =
        serde_json::to_vec(&serde_json::from_slice::<Value>(&transcript("webhook")).unwrap())
            .unwrap();
    assert_eq!(ack["sha256"], sha256_hex(&embedded));
    assert_eq!(json_ok(replayed).await["contact_id"], id.as_str());
    assert_eq!(app.count("SELECT count(*) FROM contacts;"), 1);
    assert_eq!(
        assert_error(changed, StatusCode::CONFLICT).await.0,
        "transcript_exists"
    );
    assert_eq!(
        assert_error(moved, StatusCode::CONFLICT).await.0,
        "chat_exists"
    );
    assert_error(broken, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(app.count("SELECT count(*) FROM contacts;"), 1);
    assert_eq!(app.count("SELECT count(*) FROM objects;"), 1);

    // The chat is aino's, readable by her, found by the customer's phone.
    let read = app.get_transcript(&app.tokens.aino, &id).await;
    assert_eq!(read.bytes().await.unwrap().as_ref(), embedded.as_slice());
    let found = json_ok(
        app.search(&app.tokens.aino, &[("phone", PHONE), ("purpose", PURPOSE)])
            .await,
    )
    .await;
    assert_eq!(ids_of(&found), [id].into());
}

#[tokio::test]
async fn without_a_configured_secret_the_webhook_is_not_there() {
    let app = spawn_app().await;
    let body = br#"{"chat_id": "x"}"#;
    let response = app.chat_webhook(body, Some(&sign(SECRET, body))).await;
    assert_error(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_transcript_is_destroyed_at_its_deadline_and_stays_gone() {
    // Arrange: a chat from 14 months ago (policy: 12 months), one from today.
    let app = spawn_app().await;
    #[allow(
        clippy::disallowed_methods,
        reason = "the binary under test reads the real clock; the chats are placed relative to it"
    )]
    let now = Utc::now();
    let old = (now - chrono::Duration::days(430)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let new = (now - chrono::Duration::days(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let old_id = app.new_contact(&chat("aino", &old)).await;
    let new_id = app.new_contact(&chat("aino", &new)).await;
    for id in [&old_id, &new_id] {
        let put = app
            .put_transcript(&app.tokens.pbx, id, "application/json", transcript(id))
            .await;
        assert_eq!(put.status(), StatusCode::CREATED);
    }

    // Act
    let purge = app.cli(&["purge"]);
    assert!(purge.status.success(), "{purge:?}");

    // Assert: the old one is a tombstone, the new one is read as before.
    assert_eq!(
        app.count("SELECT count(*) FROM tombstones WHERE kind = 'transcript';"),
        1
    );
    assert_eq!(app.object_files().len(), 1);
    let gone = app.get_transcript(&app.tokens.sanna, &old_id).await;
    assert!(
        matches!(gone.status(), StatusCode::GONE | StatusCode::NOT_FOUND),
        "{}",
        gone.status()
    );
    let redelivered = app
        .put_transcript(
            &app.tokens.pbx,
            &old_id,
            "application/json",
            transcript(&old_id),
        )
        .await;
    assert_error(redelivered, StatusCode::GONE).await;
    let kept = app.get_transcript(&app.tokens.sanna, &new_id).await;
    assert_eq!(
        kept.bytes().await.unwrap().as_ref(),
        transcript(&new_id).as_slice()
    );
}

#[tokio::test]
async fn the_subjects_access_package_holds_the_transcript_as_delivered() {
    // Arrange: the subject's chat, and a verified access request naming
    // their phone.
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");
    let id = app
        .new_contact(&chat("aino", "2026-11-29T09:15:00+02:00"))
        .await;
    let bytes = transcript("package");
    let put = app
        .put_transcript(&app.tokens.pbx, &id, "application/json", bytes.clone())
        .await;
    assert_eq!(put.status(), StatusCode::CREATED);
    let post = |path: String, body: Value| {
        let app = &app;
        let rea = &rea;
        async move {
            app.client
                .post(app.url(&path))
                .bearer_auth(rea)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let created = post(
        "/api/v1/requests".into(),
        json!({"types": ["access"], "channel": "in_person", "language": "fi",
               "identifiers": {"phone": [PHONE]}}),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let request = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let verified = post(
        format!("/api/v1/requests/{request}/verification"),
        json!({"method": "in_person", "document_type": "passport", "document_last4": "X9Q7"}),
    )
    .await;
    assert_eq!(verified.status(), StatusCode::OK);

    // Act
    let package = app
        .get(
            Some(&rea),
            &app.url(&format!(
                "/api/v1/requests/{request}/package?purpose=data_subject_request"
            )),
            None,
        )
        .await;

    // Assert: the transcript's bytes, as delivered, under the contact.
    assert_eq!(package.status(), StatusCode::OK);
    let files: HashMap<String, Vec<u8>> =
        crate::requests::package::unzip(&package.bytes().await.unwrap())
            .into_iter()
            .collect();
    let path = format!("recordings/{id}/transcript.json");
    assert_eq!(files.get(&path), Some(&bytes), "{:?}", files.keys());
    // Released reads are audited as transcript reads.
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_events WHERE action = 'transcript.read' \
             AND purpose = 'data_subject_request';"
        ),
        1
    );
}
