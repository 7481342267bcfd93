//! Email through the real binary (issue 14 §2): a message delivered with
//! `PUT /api/v1/contacts/{id}/message` is answered like a recording (201
//! with its sha256, the same bytes 200, different bytes 409), stored sealed
//! (no word of it in the data folder or the database file), read back
//! bit-exact by its own agent and by nobody the access decision refuses,
//! destroyed at its deadline and exported in the access package; hostile
//! messages are refused with nothing stored. The LMTP listener turns each
//! delivered message into an `email` contact found by its sender's address,
//! once per Message-ID, and answers hostile clients (bad syntax, too big,
//! too many recipients, a bare-LF flood, a slow sender, too many
//! connections) with the right reply and nothing stored.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::helpers::{
    PURPOSE, TestApp, assert_error, contains, find_in_files, ids_of, json_ok, sha256_hex,
    spawn_app, spawn_app_with_env,
};

/// A word that appears nowhere but in the messages, to look for.
pub const WORD: &str = "Kuunsiltasähköposti";

/// The customer's address.
pub const SENDER: &str = "Tiina.Tilaaja@Esimerkki.FI";

/// An email contact handled by `agent`.
fn email_contact(agent: &str, started_at: &str) -> Value {
    json!({
        "channel": "email",
        "started_at": started_at,
        "service": "water-billing",
        "agent": agent,
        "customer": {"name": "Tiina Tilaaja", "email": SENDER},
    })
}

/// A message from the customer that says `WORD` and `tag`, with a small
/// PDF attachment.
pub fn message(tag: &str) -> Vec<u8> {
    format!(
        "From: Tiina Tilaaja <{SENDER}>\r\n\
To: asiakaspalvelu@vesi.example\r\n\
Subject: Lasku {tag}\r\n\
Date: Sun, 29 Nov 2026 09:15:02 +0200\r\n\
Message-ID: <{tag}@esimerkki.fi>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"raja\"\r\n\
\r\n\
--raja\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
Hei! {WORD} {tag}\r\n\
.rivi pisteellä\r\n\
--raja\r\n\
Content-Type: application/pdf; name=\"lasku.pdf\"\r\n\
Content-Disposition: attachment; filename=\"lasku.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQK\r\n\
--raja--\r\n"
    )
    .into_bytes()
}

/// The message endpoints, as this test calls them.
pub trait Mail {
    async fn put_message(
        &self,
        token: &str,
        id: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response;
    async fn get_message(&self, token: &str, id: &str) -> reqwest::Response;
    fn count(&self, sql: &str) -> u64;
    fn lmtp_address(&self) -> String;
}

impl Mail for TestApp {
    /// `PUT …/message` as `token` with `content_type`.
    async fn put_message(
        &self,
        token: &str,
        id: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .put(self.url(&format!("/api/v1/contacts/{id}/message")))
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// `GET …/message?purpose=…` as `token`.
    async fn get_message(&self, token: &str, id: &str) -> reqwest::Response {
        self.get(
            Some(token),
            &self.url(&format!("/api/v1/contacts/{id}/message?purpose={PURPOSE}")),
            None,
        )
        .await
    }

    fn count(&self, sql: &str) -> u64 {
        self.sql(sql).trim().parse().unwrap()
    }

    /// The LMTP listener's address, from the server's announcement.
    fn lmtp_address(&self) -> String {
        let logs = String::from_utf8_lossy(&self.log_bytes()).into_owned();
        let at = logs
            .find("LMTP listening on ")
            .expect("the LMTP listener started");
        logs[at + "LMTP listening on ".len()..]
            .lines()
            .next()
            .unwrap()
            .trim()
            .to_owned()
    }
}

/// A server whose LMTP intake assigns mail to aino, with `extra` settings.
pub async fn spawn_with_lmtp(extra: &[(&str, &str)]) -> TestApp {
    let mut envs = vec![
        ("KIRJURI_LMTP_LISTEN", "127.0.0.1:0"),
        ("KIRJURI_EMAIL__LMTP_AGENT", "aino"),
        ("KIRJURI_EMAIL__LMTP_SERVICE", "customer-mailbox"),
    ];
    envs.extend_from_slice(extra);
    spawn_app_with_env(&envs).await
}

/// An LMTP client speaking line by line.
pub struct Lmtp {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Lmtp {
    /// Connects and returns the greeting.
    pub async fn connect(address: &str) -> (Self, String) {
        let stream = TcpStream::connect(address).await.unwrap();
        let (read, writer) = stream.into_split();
        let mut client = Self {
            reader: BufReader::new(read),
            writer,
        };
        let greeting = client.reply().await;
        (client, greeting)
    }

    /// One reply (all its lines), or "" when the server closed.
    pub async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let read =
                tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut line))
                    .await
                    .expect("a reply in time")
                    .unwrap_or(0);
            if read == 0 {
                return all;
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    /// Sends raw bytes.
    pub async fn send(&mut self, bytes: &[u8]) {
        let _ = self.writer.write_all(bytes).await;
    }

    /// Sends a command line and returns its reply.
    pub async fn command(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// A whole transaction: LHLO, MAIL, `recipients` RCPTs, DATA with the
    /// message dot-stuffed; the replies after DATA, one per recipient.
    pub async fn deliver(&mut self, from: &str, recipients: usize, message: &[u8]) -> Vec<String> {
        assert!(self.command("LHLO mta.test").await.starts_with("250"));
        assert!(
            self.command(&format!("MAIL FROM:<{from}>"))
                .await
                .starts_with("250")
        );
        for i in 0..recipients {
            let reply = self
                .command(&format!("RCPT TO:<box{i}@vesi.example>"))
                .await;
            assert!(reply.starts_with("250"), "{reply}");
        }
        assert!(self.command("DATA").await.starts_with("354"));
        self.send(&dot_stuff(message)).await;
        self.send(b".\r\n").await;
        let mut replies = Vec::new();
        for _ in 0..recipients {
            replies.push(self.reply().await);
        }
        replies
    }
}

/// The message as it travels in DATA: lines starting with a dot get one more.
fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 16);
    let mut at_line_start = true;
    for &b in message {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    out
}

/// Contacts found by the customer's address, as a supervisor.
pub async fn found_by_address(app: &TestApp, address: &str) -> Vec<String> {
    let found = json_ok(
        app.search(
            &app.tokens.sanna,
            &[("email", address), ("purpose", PURPOSE)],
        )
        .await,
    )
    .await;
    ids_of(&found).into_iter().collect()
}

#[tokio::test]
async fn a_message_is_stored_sealed_answered_like_a_recording_and_read_only_by_its_agent() {
    // Arrange
    let app = spawn_app().await;
    let id = app
        .new_contact(&email_contact("aino", "2026-11-29T09:15:00+02:00"))
        .await;
    let bytes = message("first");
    let pbx = &app.tokens.pbx;

    // Act: delivered, delivered again, and a different one.
    let first = app
        .put_message(pbx, &id, "message/rfc822", bytes.clone())
        .await;
    let first_status = first.status();
    let ack: Value = first.json().await.unwrap();
    let again = app
        .put_message(pbx, &id, "message/rfc822", bytes.clone())
        .await;
    let different = app
        .put_message(pbx, &id, "message/rfc822", message("second"))
        .await;

    // Assert: answered like a recording.
    assert_eq!(first_status, StatusCode::CREATED, "{ack}");
    assert_eq!(ack["sha256"], sha256_hex(&bytes));
    assert_eq!(ack["bytes"], bytes.len());
    assert_eq!(ack["attachments"], 1);
    assert_eq!(json_ok(again).await["sha256"], sha256_hex(&bytes));
    let (code, _) = assert_error(different, StatusCode::CONFLICT).await;
    assert_eq!(code, "message_exists");

    // Its PDF is an attachment of its own, sealed, as delivered; a part the
    // attachment policy does not take stays only inside the message.
    let listed = json_ok(
        app.get(
            Some(&app.tokens.aino),
            &app.url(&format!(
                "/api/v1/contacts/{id}/attachments?purpose={PURPOSE}"
            )),
            None,
        )
        .await,
    )
    .await;
    let files = listed["attachments"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{listed}");
    assert_eq!(files[0]["name"], "lasku.pdf");
    assert_eq!(files[0]["media_type"], "application/pdf");
    let object = files[0]["object"].as_str().unwrap();
    let file = app
        .get(
            Some(&app.tokens.aino),
            &app.url(&format!(
                "/api/v1/contacts/{id}/attachments/{object}?purpose={PURPOSE}"
            )),
            None,
        )
        .await;
    assert_eq!(file.bytes().await.unwrap().as_ref(), b"%PDF-1.4\n");
    let mut second = email_contact("aino", "2026-11-29T09:15:00+02:00");
    second["customer"] = json!({"name": "Toinen Tilaaja", "email": "toinen@esimerkki.fi"});
    let other = app.new_contact(&second).await;
    let with_exe = String::from_utf8(message("exe"))
        .unwrap()
        .replace(
            "application/pdf; name=\"lasku.pdf\"",
            "application/x-msdownload; name=\"x.exe\"",
        )
        .replace("filename=\"lasku.pdf\"", "filename=\"x.exe\"")
        .replace("JVBERi0xLjQK", "TVqQAAMAAAAEAAAA");
    let stored = app
        .put_message(pbx, &other, "message/rfc822", with_exe)
        .await;
    assert_eq!(stored.status(), StatusCode::CREATED);
    let none = json_ok(
        app.get(
            Some(&app.tokens.aino),
            &app.url(&format!(
                "/api/v1/contacts/{other}/attachments?purpose={PURPOSE}"
            )),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(none["attachments"], json!([]), "{none}");

    // Sealed: not a word of it in the data folder (database file included).
    let found = find_in_files(
        app.data_dir(),
        &[("the message text".into(), WORD.as_bytes().to_vec())],
    );
    assert!(found.is_empty(), "{found:?}");

    // Its agent reads it back bit-exact; the read is audited.
    let read = app.get_message(&app.tokens.aino, &id).await;
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(read.headers()["content-type"], "message/rfc822");
    assert_eq!(read.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'message.read';"),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'message.created';"),
        2,
        "this one and the one with the program"
    );

    // Another agent gets exactly the answer for a contact that does not exist.
    let missing = "01890000-0000-7000-8000-000000000000";
    let other = app.get_message(&app.tokens.bertta, &id).await;
    let none = app.get_message(&app.tokens.bertta, missing).await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    assert_eq!(other.text().await.unwrap(), none.text().await.unwrap());
    // The integration delivers, never reads; a maintainer sees metadata only.
    assert_error(app.get_message(pbx, &id).await, StatusCode::FORBIDDEN).await;
    let mika = app.add_account("mika", "maintainer");
    let by_maintainer = app
        .get(
            Some(&mika),
            &app.url(&format!(
                "/api/v1/contacts/{id}/message?purpose={PURPOSE}&reason=INC-12345"
            )),
            None,
        )
        .await;
    assert_error(by_maintainer, StatusCode::FORBIDDEN).await;
    // People do not deliver evidence with their own tokens.
    let by_agent = app
        .put_message(&app.tokens.aino, &id, "message/rfc822", bytes.clone())
        .await;
    assert_error(by_agent, StatusCode::FORBIDDEN).await;
    // Someone else's id, or none at all.
    let nowhere = app
        .put_message(pbx, missing, "message/rfc822", bytes.clone())
        .await;
    assert_error(nowhere, StatusCode::NOT_FOUND).await;

    // Found by the customer's address.
    assert_eq!(found_by_address(&app, SENDER).await, vec![id.clone()]);

    // Only email contacts carry messages.
    let a_call = app.new_call("aino").await;
    let (code, _) = assert_error(
        app.put_message(pbx, &a_call, "message/rfc822", bytes.clone())
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "not_an_email");
    // And nothing of it went to the server's output.
    assert!(!contains(&app.log_bytes(), WORD.as_bytes()));
}

#[tokio::test]
async fn hostile_messages_are_refused_with_a_clear_error_and_nothing_is_stored() {
    // Arrange: a 1 MiB limit, so "too big" is quick to send.
    let app = spawn_app_with_env(&[("KIRJURI_EMAIL__MAX_MESSAGE_BYTES", "1048576")]).await;
    let id = app
        .new_contact(&email_contact("aino", "2026-11-29T09:15:00+02:00"))
        .await;
    let pbx = &app.tokens.pbx;
    let mut nul_header = format!("From: {SENDER}\r\nX-{WORD}: a").into_bytes();
    nul_header.extend_from_slice(b"\0b\r\n\r\nbody\r\n");
    let mut too_big = format!("From: {SENDER}\r\n\r\n").into_bytes();
    while too_big.len() <= 1 << 20 {
        too_big.extend_from_slice(format!("{WORD}\r\n").as_bytes());
    }
    let mut bomb =
        format!("From: {SENDER}\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n").into_bytes();
    for _ in 0..1001 {
        bomb.extend_from_slice(
            format!("--b\r\nContent-Type: text/plain\r\n\r\n{WORD}\r\n").as_bytes(),
        );
    }
    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        ("empty", Vec::new(), StatusCode::UNPROCESSABLE_ENTITY),
        (
            "not mail",
            format!("{WORD} without any header\r\n").into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "NUL in the headers",
            nul_header,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("1001 MIME parts", bomb, StatusCode::UNPROCESSABLE_ENTITY),
        (
            "over the size limit",
            too_big,
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];

    for (what, body, status) in cases {
        // Act
        let response = app.put_message(pbx, &id, "message/rfc822", body).await;

        // Assert: refused with a message that quotes nothing of the body.
        let (code, message) = assert_error(response, status).await;
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            assert_eq!(code, "invalid_message", "{what}");
        }
        assert!(!message.contains("Kuunsilta"), "{what}: {message}");
    }
    let wrong_type = app
        .put_message(pbx, &id, "text/plain", message("typed"))
        .await;
    assert_error(wrong_type, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    // Nothing stored: no object, no row, no pending upload, no audit.
    assert!(app.object_files().is_empty(), "{:?}", app.object_files());
    assert_eq!(app.count("SELECT count(*) FROM objects;"), 0);
    assert_eq!(app.count("SELECT count(*) FROM pending_objects;"), 0);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'message.created';"),
        0
    );
    // A damaged but real message is kept bit-exact, its damage flagged.
    let no_from = format!("Subject: {WORD}\r\n\r\nbody\r\n").into_bytes();
    let kept = app.put_message(pbx, &id, "message/rfc822", no_from).await;
    assert_eq!(kept.status(), StatusCode::CREATED);
    let ack: Value = kept.json().await.unwrap();
    assert_eq!(ack["flags"], json!(["no_from"]), "{ack}");
}

#[tokio::test]
async fn parallel_deliveries_of_one_message_store_it_once_one_201_the_rest_200() {
    // Arrange
    let app = spawn_app().await;
    let id = app
        .new_contact(&email_contact("aino", "2026-11-29T09:15:00+02:00"))
        .await;
    let bytes = message("parallel");

    // Act
    let statuses: Vec<StatusCode> = futures::stream::iter(0..12)
        .map(|_| {
            let (app, id, bytes) = (&app, &id, bytes.clone());
            async move {
                app.put_message(&app.tokens.pbx, id, "message/rfc822", bytes)
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
    assert_eq!(app.object_files().len(), 2, "the message and its PDF");
    assert_eq!(
        app.count("SELECT count(*) FROM objects WHERE kind = 'message';"),
        1
    );
}

#[tokio::test]
async fn a_message_is_destroyed_at_its_deadline_and_stays_gone() {
    // Arrange: an email from 14 months ago (policy: 12 months), one from today.
    let app = spawn_app().await;
    #[allow(
        clippy::disallowed_methods,
        reason = "the binary under test reads the real clock; the emails are placed relative to it"
    )]
    let now = Utc::now();
    let old = (now - chrono::Duration::days(430)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let new = (now - chrono::Duration::days(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let old_id = app.new_contact(&email_contact("aino", &old)).await;
    let new_id = app.new_contact(&email_contact("aino", &new)).await;
    for id in [&old_id, &new_id] {
        let put = app
            .put_message(&app.tokens.pbx, id, "message/rfc822", message(id))
            .await;
        assert_eq!(put.status(), StatusCode::CREATED);
    }

    // Act
    let purge = app.cli(&["purge"]);
    assert!(purge.status.success(), "{purge:?}");

    // Assert: the old one is a tombstone, the new one is read as before.
    assert_eq!(
        app.count("SELECT count(*) FROM tombstones WHERE kind = 'message';"),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM tombstones WHERE kind = 'attachment_1';"),
        1,
        "the old message's PDF goes with it"
    );
    assert_eq!(app.object_files().len(), 2, "the new message and its PDF");
    let gone = app.get_message(&app.tokens.sanna, &old_id).await;
    assert!(
        matches!(gone.status(), StatusCode::GONE | StatusCode::NOT_FOUND),
        "{}",
        gone.status()
    );
    let redelivered = app
        .put_message(&app.tokens.pbx, &old_id, "message/rfc822", message(&old_id))
        .await;
    assert_error(redelivered, StatusCode::GONE).await;
    let kept = app.get_message(&app.tokens.sanna, &new_id).await;
    assert_eq!(
        kept.bytes().await.unwrap().as_ref(),
        message(&new_id).as_slice()
    );
}

#[tokio::test]
async fn the_subjects_access_package_holds_the_message_as_delivered() {
    // Arrange: the subject's email, and a verified access request naming
    // their address.
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");
    let id = app
        .new_contact(&email_contact("aino", "2026-11-29T09:15:00+02:00"))
        .await;
    let bytes = message("package");
    let put = app
        .put_message(&app.tokens.pbx, &id, "message/rfc822", bytes.clone())
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
               "identifiers": {"email": [SENDER]}}),
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

    // Assert: the message's bytes, as delivered, under the contact.
    assert_eq!(package.status(), StatusCode::OK);
    let files: HashMap<String, Vec<u8>> =
        crate::requests::package::unzip(&package.bytes().await.unwrap())
            .into_iter()
            .collect();
    let path = format!("recordings/{id}/message.eml");
    assert_eq!(files.get(&path), Some(&bytes), "{:?}", files.keys());
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_events WHERE action = 'message.read' \
             AND purpose = 'data_subject_request';"
        ),
        1
    );
}

#[tokio::test]
async fn mail_over_lmtp_becomes_an_email_contact_found_by_its_sender_once_per_message_id() {
    // Arrange
    let app = spawn_with_lmtp(&[]).await;
    let address = app.lmtp_address();
    let bytes = message("lmtp");

    // Act: delivered to two mailboxes, then redelivered.
    let (mut client, greeting) = Lmtp::connect(&address).await;
    let replies = client.deliver("bounce@esimerkki.fi", 2, &bytes).await;
    let again = client.deliver("bounce@esimerkki.fi", 1, &bytes).await;
    assert!(client.command("QUIT").await.starts_with("221"));

    // Assert: one reply per recipient, one contact, found by the sender.
    assert!(greeting.starts_with("220"), "{greeting}");
    assert_eq!(replies.len(), 2);
    for reply in &replies {
        assert!(reply.starts_with("250 2.0.0 stored"), "{reply}");
    }
    assert!(again[0].starts_with("250 2.0.0 already"), "{again:?}");
    let found = found_by_address(&app, SENDER).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let id = &found[0];
    let contact = json_ok(app.get_contact(&app.tokens.aino, id, Some(PURPOSE)).await).await;
    assert_eq!(contact["channel"], "email", "{contact}");
    assert_eq!(contact["agent"], "aino", "{contact}");
    assert_eq!(contact["service"], "customer-mailbox", "{contact}");
    // Bit-exact: dot-unstuffed back to the message as written.
    let read = app.get_message(&app.tokens.aino, id).await;
    assert_eq!(read.bytes().await.unwrap().as_ref(), bytes.as_slice());
    // Sealed, and not another agent's.
    let found = find_in_files(
        app.data_dir(),
        &[("the message text".into(), WORD.as_bytes().to_vec())],
    );
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(
        app.get_message(&app.tokens.bertta, id).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.count("SELECT count(*) FROM objects WHERE kind = 'message';"),
        1
    );
    assert!(!contains(&app.log_bytes(), WORD.as_bytes()));
}

#[tokio::test]
async fn hostile_lmtp_clients_get_the_right_replies_and_nothing_is_stored() {
    // Arrange: small limits so each is quick to reach.
    let app = spawn_with_lmtp(&[
        ("KIRJURI_EMAIL__MAX_MESSAGE_BYTES", "65536"),
        ("KIRJURI_EMAIL__LMTP_MAX_RECIPIENTS", "3"),
        ("KIRJURI_EMAIL__LMTP_MAX_CONNECTIONS", "4"),
        ("KIRJURI_EMAIL__LMTP_COMMAND_TIMEOUT_SECONDS", "2"),
        ("KIRJURI_EMAIL__LMTP_DATA_TIMEOUT_SECONDS", "4"),
    ])
    .await;
    let address = app.lmtp_address();
    let (mut client, _) = Lmtp::connect(&address).await;

    // Bad syntax and order.
    assert!(client.command("HELO mta").await.starts_with("500"));
    assert!(
        client
            .command("MAIL FROM:<a@b.fi>")
            .await
            .starts_with("503")
    );
    assert!(client.command("LHLO").await.starts_with("501"));
    let lhlo = client.command("LHLO mta.test").await;
    assert!(lhlo.contains("250 SIZE 65536"), "{lhlo}");
    assert!(client.command("RCPT TO:<x@y.fi>").await.starts_with("503"));
    assert!(client.command("DATA").await.starts_with("503"));
    assert!(client.command("MAIL FROM:a@b.fi").await.starts_with("501"));
    // Declared too big.
    assert!(
        client
            .command("MAIL FROM:<a@b.fi> SIZE=70000")
            .await
            .starts_with("552")
    );
    // Too many recipients.
    assert!(
        client
            .command("MAIL FROM:<a@b.fi>")
            .await
            .starts_with("250")
    );
    for i in 0..3 {
        assert!(
            client
                .command(&format!("RCPT TO:<r{i}@y.fi>"))
                .await
                .starts_with("250")
        );
    }
    assert!(client.command("RCPT TO:<r9@y.fi>").await.starts_with("452"));
    // Sent too big: answered once per accepted recipient.
    assert!(client.command("DATA").await.starts_with("354"));
    let mut big = format!("From: {SENDER}\r\nMessage-ID: <big@x>\r\n\r\n").into_bytes();
    while big.len() < 70_000 {
        big.extend_from_slice(format!("{WORD}\r\n").as_bytes());
    }
    client.send(&big).await;
    client.send(b".\r\n").await;
    for _ in 0..3 {
        assert!(client.reply().await.starts_with("552"));
    }
    // Not mail at all: refused, nothing stored.
    let refused = client
        .deliver("a@b.fi", 1, format!("{WORD} no headers\r\n").as_bytes())
        .await;
    assert!(refused[0].starts_with("554"), "{refused:?}");
    // A line past the line bound inside DATA.
    assert!(
        client
            .command("MAIL FROM:<a@b.fi>")
            .await
            .starts_with("250")
    );
    assert!(client.command("RCPT TO:<r@y.fi>").await.starts_with("250"));
    assert!(client.command("DATA").await.starts_with("354"));
    client.send(b"From: a@b.fi\r\n\r\n").await;
    client.send(&vec![b'a'; 2 << 20]).await;
    client.send(b"\r\n.\r\n").await;
    let reply = client.reply().await;
    assert!(
        reply.starts_with("552") || reply.starts_with("554"),
        "{reply}"
    );
    // A command line past its bound closes the connection.
    client.send(&vec![b'N'; 10_000]).await;
    client.send(b"\r\n").await;
    assert!(client.reply().await.starts_with("500"));

    // A bare-LF flood: ten bad lines and the connection is closed.
    let (mut flood, _) = Lmtp::connect(&address).await;
    flood.send(&vec![b'\n'; 100_000]).await;
    let mut replies = String::new();
    loop {
        let reply = flood.reply().await;
        if reply.is_empty() {
            break;
        }
        replies.push_str(&reply);
    }
    assert!(replies.contains("421 4.7.0"), "{replies}");

    // A slow sender (half a command, then nothing) is closed at the timeout.
    let (mut slow, _) = Lmtp::connect(&address).await;
    slow.send(b"LHL").await;
    let started = std::time::Instant::now();
    assert!(slow.reply().await.starts_with("421 4.4.2"));
    assert!(started.elapsed() < Duration::from_secs(10));

    // Past the connection limit: 421 at once.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(Lmtp::connect(&address).await);
    }
    let (_, refused) = Lmtp::connect(&address).await;
    assert!(refused.starts_with("421 4.3.2"), "{refused}");
    drop(held);

    // Nothing stored, nothing of it logged.
    assert_eq!(app.count("SELECT count(*) FROM contacts;"), 0);
    assert_eq!(app.count("SELECT count(*) FROM objects;"), 0);
    assert!(!contains(&app.log_bytes(), WORD.as_bytes()));
    // And the listener still takes good mail.
    let (mut good, _) = Lmtp::connect(&address).await;
    let stored = good.deliver("a@b.fi", 1, &message("after")).await;
    assert!(stored[0].starts_with("250 2.0.0 stored"), "{stored:?}");
}

#[tokio::test]
async fn a_backup_copies_the_message_and_a_restore_brings_it_back_bit_exact() {
    // Arrange: a message delivered over LMTP and one by the API.
    let mut app = spawn_with_lmtp(&[("KIRJURI_RETENTION__PURGE_INTERVAL_SECONDS", "86400")]).await;
    let (mut client, _) = Lmtp::connect(&app.lmtp_address()).await;
    let by_lmtp = message("backup-lmtp");
    assert!(client.deliver("a@b.fi", 1, &by_lmtp).await[0].starts_with("250"));
    let id = app
        .new_contact(&email_contact("aino", "2026-11-29T09:15:00+02:00"))
        .await;
    let by_api = message("backup-api");
    let put = app
        .put_message(&app.tokens.pbx, &id, "message/rfc822", by_api.clone())
        .await;
    assert_eq!(put.status(), StatusCode::CREATED);
    let backup_dir = tempfile::tempdir().unwrap();
    let backup = backup_dir.path().join("backup");
    let made = app.cli(&["backup", "--out", backup.to_str().unwrap()]);
    assert!(made.status.success(), "{made:?}");

    // Act: the data folder loses its objects; the backup is restored.
    app.stop();
    std::fs::remove_dir_all(app.data_dir().join("objects")).unwrap();
    let restored = app.cli(&["restore", "--from", backup.to_str().unwrap(), "--force"]);
    assert!(restored.status.success(), "{restored:?}");
    app.start();

    // Assert: both read back bit for bit.
    let read = app.get_message(&app.tokens.aino, &id).await;
    assert_eq!(read.bytes().await.unwrap().as_ref(), by_api.as_slice());
    let found = found_by_address(&app, SENDER).await;
    assert_eq!(found.len(), 2, "{found:?}");
    let mut bodies = Vec::new();
    for id in &found {
        bodies.push(
            app.get_message(&app.tokens.aino, id)
                .await
                .bytes()
                .await
                .unwrap()
                .to_vec(),
        );
    }
    assert!(bodies.contains(&by_lmtp), "the LMTP message came back");
}

#[tokio::test]
async fn the_lmtp_listener_stops_with_the_server() {
    // Arrange
    let mut app = spawn_with_lmtp(&[]).await;
    let address = app.lmtp_address();
    let (mut idle, _) = Lmtp::connect(&address).await;
    assert!(idle.command("LHLO mta.test").await.starts_with("250"));

    // Act
    app.terminate();
    let status = app.wait_exit(Duration::from_secs(30));

    // Assert: a clean exit; the open session was told, the port is closed.
    assert!(status.success(), "{status:?}");
    let told = idle.reply().await;
    assert!(told.is_empty() || told.starts_with("421"), "{told}");
    assert!(TcpStream::connect(&address).await.is_err());
}
