//! Web forms through the real binary (issue 14 §3, §4): the forms API
//! (`POST /api/v1/forms`) and the public contact form (`/contact`) store a
//! `form` contact whose message and attachment are sealed (no word of them
//! in the data folder or the database), found by phone, email and customer
//! number, read by the web-form queue and supervisors and by no other
//! agent; personal identity codes masked for all but a registrar, who alone
//! finds the contact by one; purged at the deadline; in the access
//! package. And every hostile way in — a wrong role, unknown fields, a
//! lying media type, a zip, invalid base64 or UTF-8, oversized bodies, a
//! missing or foreign form token, the allowance spent, parallel posts —
//! refused with nothing stored.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use chrono::{SecondsFormat, Utc};
use futures::StreamExt;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{
    PURPOSE, TestApp, assert_error, contains, find_in_files, ids_of, json_ok, spawn_app,
    spawn_app_with_env,
};

/// A word that appears nowhere but in the messages, to look for.
const WORD: &str = "Vesimittarinkaivonkansi";
/// A word only the attachment holds.
const FILE_WORD: &str = "Liitteenkuusiokoloavain";
/// A valid personal identity code (check character T) and a look-alike
/// whose check character is wrong.
const HETU: &str = "131052-308T";
const LOOK_ALIKE: &str = "131052-308X";
const PHONE: &str = "040 765 4321";
const EMAIL: &str = "Tiina.Tilaaja@Esimerkki.FI";
const CUSTOMER: &str = "AS-778812";
const NAME: &str = "Tiina Tilaaja-Kuusikoski";

/// A small PDF holding `FILE_WORD`.
fn pdf() -> Vec<u8> {
    format!("%PDF-1.4\n1 0 obj <<>> endobj\n% {FILE_WORD}\n%%EOF\n").into_bytes()
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A form as the utility's site sends it.
fn form(external_id: &str, submitted_at: &str, message: &str) -> Value {
    json!({
        "external_id": external_id,
        "submitted_at": submitted_at,
        "service": "billing",
        "name": NAME,
        "email": EMAIL,
        "phone": PHONE,
        "customer_number": CUSTOMER,
        "message": message,
        "language": "fi",
        "attachments": [{"name": "Tiina - lasku.pdf", "media_type": "application/pdf",
                         "content_base64": base64(&pdf())}],
    })
}

fn message() -> String {
    format!("Hei! {WORD}. Hetuni on {HETU}, tilausnumero {LOOK_ALIKE}.")
}

trait Forms {
    async fn post_form(&self, token: &str, body: &[u8]) -> reqwest::Response;
    async fn get_form(&self, token: &str, id: &str, purpose: &str) -> reqwest::Response;
    fn count(&self, sql: &str) -> u64;
}

impl Forms for TestApp {
    async fn post_form(&self, token: &str, body: &[u8]) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/forms"))
            .bearer_auth(token)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    async fn get_form(&self, token: &str, id: &str, purpose: &str) -> reqwest::Response {
        self.get(
            Some(token),
            &self.url(&format!("/api/v1/contacts/{id}/form?purpose={purpose}")),
            None,
        )
        .await
    }

    fn count(&self, sql: &str) -> u64 {
        self.sql(sql).trim().parse().unwrap()
    }
}

fn to_vec(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

#[tokio::test]
async fn a_form_is_stored_sealed_found_by_its_identifiers_and_shown_masked_to_its_queue_only() {
    // Arrange
    let app = spawn_app().await;
    let queue = app.add_account("web-forms", "agent");
    let rea = app.add_account("rea", "registrar");
    let body = to_vec(&form("site-1", "2026-11-29T09:15:00+02:00", &message()));

    // Act: delivered, again, and different under the same id.
    let first = app.post_form(&app.tokens.pbx, &body).await;
    let first_status = first.status();
    let ack: Value = first.json().await.unwrap();
    let again = app.post_form(&app.tokens.pbx, &body).await;
    let other = to_vec(&form("site-1", "2026-11-29T09:15:00+02:00", "toinen"));
    let different = app.post_form(&app.tokens.pbx, &other).await;

    // Assert: 201, 200 with the same contact, 409.
    assert_eq!(first_status, StatusCode::CREATED, "{ack}");
    let id = ack["contact_id"].as_str().unwrap().to_owned();
    assert_eq!(ack["attachments"], 1);
    assert_eq!(json_ok(again).await["contact_id"], id.as_str());
    assert_eq!(
        assert_error(different, StatusCode::CONFLICT).await.0,
        "form_exists"
    );
    assert_eq!(app.count("SELECT count(*) FROM contacts;"), 1);
    assert_eq!(app.count("SELECT count(*) FROM objects;"), 2);

    // Sealed: neither the message, the code, the file nor its name anywhere.
    let needles: Vec<(String, Vec<u8>)> = [WORD, HETU, FILE_WORD, "Tiina - lasku"]
        .iter()
        .map(|w| (w.to_string(), w.as_bytes().to_vec()))
        .collect();
    let found = find_in_files(app.data_dir(), &needles);
    assert!(found.is_empty(), "{found:?}");

    // Found by phone, email and customer number, by the queue and a
    // supervisor; another agent finds nothing.
    for (key, value) in [
        ("phone", PHONE),
        ("email", EMAIL),
        ("customer_number", CUSTOMER),
    ] {
        for token in [&queue, &app.tokens.sanna] {
            let found = json_ok(
                app.search(token, &[(key, value), ("purpose", PURPOSE)])
                    .await,
            )
            .await;
            assert_eq!(ids_of(&found), [id.clone()].into(), "by {key}");
        }
        let none = json_ok(
            app.search(&app.tokens.aino, &[(key, value), ("purpose", PURPOSE)])
                .await,
        )
        .await;
        assert!(ids_of(&none).is_empty(), "aino by {key}");
    }

    // The queue reads it: the valid code masked, the look-alike untouched.
    let read = json_ok(app.get_form(&queue, &id, PURPOSE).await).await;
    let text = read["message"].as_str().unwrap();
    assert!(text.contains("131052-****"), "{text}");
    assert!(!text.contains(HETU), "{text}");
    assert!(text.contains(LOOK_ALIKE), "{text}");
    assert!(text.contains(WORD));
    assert_eq!(read["masked"], true);
    assert_eq!(read["attachments"][0]["name"], "Tiina - lasku.pdf");
    assert_eq!(read["attachments"][0]["media_type"], "application/pdf");
    // A supervisor sees it masked too; a registrar sees the code.
    let sanna = json_ok(app.get_form(&app.tokens.sanna, &id, PURPOSE).await).await;
    assert!(!sanna["message"].as_str().unwrap().contains(HETU));
    let registrar = json_ok(app.get_form(&rea, &id, "legal_claim").await).await;
    assert!(registrar["message"].as_str().unwrap().contains(HETU));

    // The attachment, as delivered, audited.
    let object = read["attachments"][0]["object"]
        .as_str()
        .unwrap()
        .to_owned();
    let file_url = app.url(&format!(
        "/api/v1/contacts/{id}/attachments/{object}?purpose={PURPOSE}"
    ));
    let file = app.get(Some(&queue), &file_url, None).await;
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(file.headers()["content-type"], "application/pdf");
    assert_eq!(file.headers()["content-disposition"], "attachment");
    assert_eq!(file.bytes().await.unwrap().as_ref(), pdf().as_slice());
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'attachment.read';"),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'form.read';"),
        3
    );

    // Another agent gets exactly the answer for a contact that does not
    // exist; someone else's object under this contact is not there.
    let missing = "01890000-0000-7000-8000-000000000000";
    let other = app.get_form(&app.tokens.bertta, &id, PURPOSE).await;
    let none = app.get_form(&app.tokens.bertta, missing, PURPOSE).await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    assert_eq!(other.text().await.unwrap(), none.text().await.unwrap());
    let bertta_file = app.get(Some(&app.tokens.bertta), &file_url, None).await;
    assert_eq!(bertta_file.status(), StatusCode::NOT_FOUND);
    let call = app.new_call("aino").await;
    let foreign = app
        .get(
            Some(&app.tokens.aino),
            &app.url(&format!(
                "/api/v1/contacts/{call}/attachments/{object}?purpose={PURPOSE}"
            )),
            None,
        )
        .await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    // The integration delivers, never reads; people never deliver.
    assert_error(
        app.get_form(&app.tokens.pbx, &id, PURPOSE).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        app.post_form(&app.tokens.aino, &body).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        app.post_form(&app.tokens.sanna, &body).await,
        StatusCode::FORBIDDEN,
    )
    .await;

    // A registrar finds the contact by the code; a supervisor may not try,
    // and the look-alike was never indexed.
    let by_code = json_ok(
        app.search(&rea, &[("hetu", HETU), ("purpose", "legal_claim")])
            .await,
    )
    .await;
    assert_eq!(ids_of(&by_code), [id.clone()].into());
    let refused = app
        .search(&app.tokens.sanna, &[("hetu", HETU), ("purpose", PURPOSE)])
        .await;
    assert_error(refused, StatusCode::FORBIDDEN).await;
    assert_eq!(
        app.count("SELECT count(*) FROM contact_index WHERE kind = 'hetu';"),
        1
    );

    // Nothing of it went to the server's output.
    let log = app.log_bytes();
    for needle in [WORD, HETU, FILE_WORD, "Tiina"] {
        assert!(!contains(&log, needle.as_bytes()), "{needle} in the log");
    }
}

#[tokio::test]
async fn hostile_form_submissions_are_refused_with_a_clear_error_and_store_nothing() {
    // Arrange
    let app = spawn_app().await;
    let pbx = &app.tokens.pbx;
    let at = "2026-11-29T09:15:00+02:00";
    let with_attachment = |name: &str, media_type: &str, bytes: &[u8]| {
        let mut value = form("x-1", at, WORD);
        value["attachments"] =
            json!([{"name": name, "media_type": media_type, "content_base64": base64(bytes)}]);
        to_vec(&value)
    };
    // A zip of a million zero bytes, compressed (stored as delivered at
    // most; here refused by type, never opened).
    let zip_bomb = {
        let mut zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00".to_vec();
        zip.extend_from_slice(&[0u8; 2048]);
        zip
    };
    let mut unknown = form("x-1", at, WORD);
    unknown["mood"] = json!(WORD);
    let mut unknown_in_attachment = form("x-1", at, WORD);
    unknown_in_attachment["attachments"][0]["path"] = json!("/etc/passwd");
    let mut bad_base64 = form("x-1", at, WORD);
    bad_base64["attachments"][0]["content_base64"] = json!(format!("{WORD}!!"));
    let mut no_contact = form("x-1", at, WORD);
    no_contact["email"] = Value::Null;
    no_contact["phone"] = Value::Null;
    let mut bad_service = form("x-1", at, WORD);
    bad_service["service"] = json!(WORD);
    let mut no_message = form("x-1", at, "");
    no_message["message"] = json!("   ");
    let mut control = form("x-1", at, WORD);
    control["message"] = json!(format!("{WORD}\u{0007}"));
    let long = form("x-1", at, &WORD.repeat(10_001 / WORD.len() + 1));
    let mut bad_email = form("x-1", at, WORD);
    bad_email["email"] = json!(format!("{WORD}@"));
    let mut too_many = form("x-1", at, WORD);
    too_many["attachments"] = json!(vec![too_many["attachments"][0].clone(); 6]);
    let mut invalid_utf8 = to_vec(&form("x-1", at, WORD));
    let position = invalid_utf8
        .windows(WORD.len())
        .position(|w| w == WORD.as_bytes())
        .unwrap();
    invalid_utf8[position] = 0xff;
    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        (
            "broken JSON",
            format!("{{\"message\": \"{WORD}").into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown field",
            to_vec(&unknown),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown field in an attachment",
            to_vec(&unknown_in_attachment),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "invalid base64",
            to_vec(&bad_base64),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "invalid UTF-8",
            invalid_utf8,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "no email or phone",
            to_vec(&no_contact),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown service",
            to_vec(&bad_service),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "blank message",
            to_vec(&no_message),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "control character",
            to_vec(&control),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "message too long",
            to_vec(&long),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("bad email", to_vec(&bad_email), StatusCode::BAD_REQUEST),
        (
            "too many attachments",
            to_vec(&too_many),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "a program claimed to be a PDF",
            with_attachment("lasku.pdf", "application/pdf", b"\x7fELF\x02\x01\x01"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "a PDF claimed to be a PNG",
            with_attachment("kuva.png", "image/png", &pdf()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "a zip bomb",
            with_attachment("pommi.zip", "application/zip", &zip_bomb),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "an empty file",
            with_attachment("tyhja.pdf", "application/pdf", b""),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "a control character in the file name",
            with_attachment("a\u{0}.pdf", "application/pdf", &pdf()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "an 11 MiB attachment",
            with_attachment(
                "iso.pdf",
                "application/pdf",
                &[b"%PDF-".as_slice(), &vec![b'a'; 11 << 20]].concat(),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];

    for (what, body, status) in cases {
        // Act
        let response = app.post_form(pbx, &body).await;

        // Assert: refused, quoting nothing of the body.
        let (_, message) = assert_error(response, status).await;
        assert!(!message.contains(&WORD[..8]), "{what}: {message}");
    }
    // A 50 MB message fits the body's allowance (five attachments' worth)
    // but not the message's: 422. A 100 MB body is refused by its length,
    // 413 (or the connection reset while it is still being sent).
    let fifty = to_vec(&form("x-1", at, &"a".repeat(50 << 20)));
    let (code, _) = assert_error(
        app.post_form(pbx, &fifty).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(code, "invalid_form");
    let huge = to_vec(&form("x-1", at, &"a".repeat(100 << 20)));
    if let Ok(response) = app
        .client
        .post(app.url("/api/v1/forms"))
        .bearer_auth(pbx)
        .header(header::CONTENT_TYPE, "application/json")
        .body(huge)
        .send()
        .await
    {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    let wrong_type = app
        .client
        .post(app.url("/api/v1/forms"))
        .bearer_auth(pbx)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(to_vec(&form("x-1", at, WORD)))
        .send()
        .await
        .unwrap();
    assert_error(wrong_type, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    // Nothing stored: no contact, object, pending upload or file.
    assert_eq!(app.count("SELECT count(*) FROM contacts;"), 0);
    assert_eq!(app.count("SELECT count(*) FROM objects;"), 0);
    assert_eq!(app.count("SELECT count(*) FROM pending_objects;"), 0);
    assert!(app.object_files().is_empty(), "{:?}", app.object_files());
    // The server is well and takes a good one.
    let ok = app.post_form(pbx, &to_vec(&form("x-2", at, WORD))).await;
    assert_eq!(ok.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn parallel_posts_of_one_form_store_it_once_one_201_the_rest_200() {
    // Arrange
    let app = spawn_app().await;
    let body = to_vec(&form("site-par", "2026-11-29T09:15:00+02:00", &message()));

    // Act
    let statuses: Vec<StatusCode> = futures::stream::iter(0..10)
        .map(|_| {
            let (app, body) = (&app, body.clone());
            async move { app.post_form(&app.tokens.pbx, &body).await.status() }
        })
        .buffer_unordered(10)
        .collect()
        .await;

    // Assert
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!((created, ok), (1, 9), "{statuses:?}");
    assert_eq!(app.count("SELECT count(*) FROM contacts;"), 1);
    assert_eq!(app.count("SELECT count(*) FROM objects;"), 2);
    assert_eq!(app.count("SELECT count(*) FROM pending_objects;"), 0);
    assert_eq!(app.object_files().len(), 2);
}

#[tokio::test]
async fn a_form_and_its_attachment_are_destroyed_at_the_deadline_and_the_package_holds_them() {
    // Arrange: a form from 14 months ago (policy: 12 months), one from yesterday.
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");
    #[allow(
        clippy::disallowed_methods,
        reason = "the binary under test reads the real clock; the forms are placed relative to it"
    )]
    let now = Utc::now();
    let old = (now - chrono::Duration::days(430)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let new = (now - chrono::Duration::days(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut ids = Vec::new();
    for (external, at) in [("old", &old), ("new", &new)] {
        let created = app
            .post_form(&app.tokens.pbx, &to_vec(&form(external, at, &message())))
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        ids.push(
            created.json::<Value>().await.unwrap()["contact_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }

    // Act
    let purge = app.cli(&["purge"]);
    assert!(purge.status.success(), "{purge:?}");

    // Assert: the old form and its attachment are tombstones.
    assert_eq!(
        app.count("SELECT count(*) FROM tombstones WHERE kind = 'form';"),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM tombstones WHERE kind = 'attachment_1';"),
        1
    );
    assert_eq!(app.object_files().len(), 2);
    let gone = app.get_form(&app.tokens.sanna, &ids[0], PURPOSE).await;
    assert!(
        matches!(gone.status(), StatusCode::GONE | StatusCode::NOT_FOUND),
        "{}",
        gone.status()
    );

    // The subject's access package holds the new form and its attachment.
    let post = |path: String, body: Value| {
        let (app, rea) = (&app, &rea);
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
               "identifiers": {"email": [EMAIL]}}),
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
    let package = app
        .get(
            Some(&rea),
            &app.url(&format!(
                "/api/v1/requests/{request}/package?purpose=data_subject_request"
            )),
            None,
        )
        .await;
    assert_eq!(package.status(), StatusCode::OK);
    let files: HashMap<String, Vec<u8>> =
        crate::requests::package::unzip(&package.bytes().await.unwrap())
            .into_iter()
            .collect();
    let new_id = &ids[1];
    let form_file = files
        .get(&format!("recordings/{new_id}/form.json"))
        .unwrap_or_else(|| panic!("{:?}", files.keys()));
    // The subject gets their own message whole, the code included.
    assert!(contains(form_file, HETU.as_bytes()));
    assert_eq!(
        files.get(&format!("recordings/{new_id}/attachment_1.bin")),
        Some(&pdf())
    );
}

/// A client from `from` (a loopback address).
fn client_from(from: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(IpAddr::V4(from))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The public form's cookie and token, fetched as a browser would.
async fn blank_form(app: &TestApp, client: &reqwest::Client) -> (String, String) {
    let response = client
        .get(app.url("/contact?lang=fi"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let html = response.text().await.unwrap();
    let token = html
        .split("name=\"form_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    (cookie, token)
}

/// One refused post of the public form: what it tries, its body, its status.
type PublicCase<'a> = (&'a str, (String, Vec<u8>), StatusCode);

/// A multipart/form-data body of text `fields` and an optional file,
/// written by hand so that it can also be wrong.
fn multipart(fields: &[(&str, &[u8])], file: Option<(&str, &str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "----kirjuri-test-boundary-7f3a";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    }
    if let Some((file_name, media_type, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"attachment\"; \
                 filename=\"{file_name}\"\r\nContent-Type: {media_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_contact_form(
    app: &TestApp,
    client: &reqwest::Client,
    cookie: &str,
    (content_type, body): (String, Vec<u8>),
) -> reqwest::Response {
    client
        .post(app.url("/contact"))
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

fn valid_fields<'a>(token: &'a str, message: &'a str) -> Vec<(&'a str, &'a [u8])> {
    vec![
        ("form_token", token.as_bytes()),
        ("lang", b"fi"),
        ("name", NAME.as_bytes()),
        ("email", EMAIL.as_bytes()),
        ("phone", PHONE.as_bytes()),
        ("customer_number", CUSTOMER.as_bytes()),
        ("service", b"billing"),
        ("message", message.as_bytes()),
        ("website", b""),
    ]
}

#[tokio::test]
async fn the_public_contact_form_stores_a_sealed_form_contact_and_answers_a_receipt_naming_no_one()
{
    // Arrange
    let app = spawn_app().await;
    let client = client_from(Ipv4Addr::new(127, 0, 0, 21));
    let (cookie, token) = blank_form(&app, &client).await;
    let message = message();

    // Act
    let fields = valid_fields(&token, &message);
    let response = post_contact_form(
        &app,
        &client,
        &cookie,
        multipart(&fields, Some(("lasku.pdf", "application/pdf", &pdf()))),
    )
    .await;

    // Assert: a receipt with a reference, echoing nothing typed.
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"sent-reference\">W-"), "{html}");
    for typed in [NAME, EMAIL, PHONE, CUSTOMER, WORD, HETU] {
        assert!(!html.contains(typed), "{typed} echoed");
    }
    let found = json_ok(
        app.search(&app.tokens.sanna, &[("email", EMAIL), ("purpose", PURPOSE)])
            .await,
    )
    .await;
    let ids = ids_of(&found);
    assert_eq!(ids.len(), 1);
    assert_eq!(found["contacts"][0]["channel"], "form");
    assert_eq!(app.count("SELECT count(*) FROM objects;"), 2);
    let needles: Vec<(String, Vec<u8>)> = [WORD, HETU, FILE_WORD]
        .iter()
        .map(|w| (w.to_string(), w.as_bytes().to_vec()))
        .collect();
    assert!(find_in_files(app.data_dir(), &needles).is_empty());
    assert!(!contains(&app.log_bytes(), WORD.as_bytes()));
}

#[tokio::test]
async fn hostile_posts_to_the_public_contact_form_store_nothing() {
    // Arrange
    let app = spawn_app_with_env(&[("KIRJURI_FORMS__PUBLIC_PER_ADDRESS", "40")]).await;
    let client = client_from(Ipv4Addr::new(127, 0, 0, 22));
    let (cookie, token) = blank_form(&app, &client).await;
    let (_, foreign_token) = blank_form(&app, &client_from(Ipv4Addr::new(127, 0, 0, 23))).await;
    let message = message();
    let fields = valid_fields(&token, &message);
    let with = |name: &'static str, value: &'static [u8]| {
        let mut fields = fields.clone();
        fields.retain(|(k, _)| *k != name);
        fields.push((name, value));
        fields
    };
    let without = |name: &str| {
        let mut fields = fields.clone();
        fields.retain(|(k, _)| *k != name);
        fields
    };
    let foreign: Vec<(&str, &[u8])> = {
        let mut fields = without("form_token");
        fields.push(("form_token", foreign_token.as_bytes()));
        fields
    };
    let no_contact: Vec<(&str, &[u8])> = fields
        .iter()
        .filter(|(k, _)| *k != "email" && *k != "phone")
        .copied()
        .collect();
    let big_field = vec![b'a'; 50 << 20];
    let invalid_utf8: &'static [u8] = b"Hei \xff\xfe maailma";
    let cases: Vec<PublicCase> = vec![
        (
            "no form token",
            multipart(&without("form_token"), None),
            StatusCode::FORBIDDEN,
        ),
        (
            "a foreign form token",
            multipart(&foreign, None),
            StatusCode::FORBIDDEN,
        ),
        (
            "the honeypot filled",
            multipart(&with("website", b"http://spam.example"), None),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid UTF-8",
            multipart(&with("message", invalid_utf8), None),
            StatusCode::BAD_REQUEST,
        ),
        (
            "no email or phone",
            multipart(&no_contact, None),
            StatusCode::BAD_REQUEST,
        ),
        (
            "an unknown service",
            multipart(&with("service", b"weapons"), None),
            StatusCode::BAD_REQUEST,
        ),
        (
            "a lying media type",
            multipart(
                &fields,
                Some(("lasku.pdf", "application/pdf", b"\x7fELF\x02\x01\x01\x00")),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            "a zip",
            multipart(
                &fields,
                Some((
                    "pommi.zip",
                    "application/zip",
                    b"PK\x03\x04\x14\x00\x08\x00\x00\x00",
                )),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            "not multipart",
            (
                "application/x-www-form-urlencoded".into(),
                b"message=hei".to_vec(),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "an 11 MiB attachment",
            multipart(
                &fields,
                Some((
                    "iso.pdf",
                    "application/pdf",
                    &[b"%PDF-".as_slice(), &vec![b'a'; 11 << 20]].concat(),
                )),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];

    for (what, (content_type, body), status) in cases {
        // Act
        let sent = client
            .post(app.url("/contact"))
            .header(header::COOKIE, &cookie)
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await;

        // Assert: refused; what failed is not quoted back. A body over the
        // limit may be cut off before the client has written it all (the
        // server answers 413 and closes): that is a refusal too.
        let response = match sent {
            Ok(response) => response,
            Err(e) if status == StatusCode::PAYLOAD_TOO_LARGE && e.is_request() => continue,
            Err(e) => panic!("{what}: {e}"),
        };
        assert_eq!(response.status(), status, "{what}");
        let html = response.text().await.unwrap_or_default();
        assert!(!html.contains("spam.example"), "{what}");
    }
    // A 50 MB field: cut off at the limit (or the connection reset).
    let mut huge = fields.clone();
    huge.retain(|(k, _)| *k != "message");
    huge.push(("message", big_field.as_slice()));
    let (content_type, body) = multipart(&huge, None);
    if let Ok(response) = client
        .post(app.url("/contact"))
        .header(header::COOKIE, &cookie)
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
    {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    // Nothing stored.
    assert_eq!(app.count("SELECT count(*) FROM contacts;"), 0);
    assert_eq!(app.count("SELECT count(*) FROM objects;"), 0);
    assert_eq!(app.count("SELECT count(*) FROM pending_objects;"), 0);
    assert!(app.object_files().is_empty());
}

#[tokio::test]
async fn the_public_contact_form_answers_429_with_retry_after_once_an_address_spent_its_allowance()
{
    // Arrange
    let app = spawn_app_with_env(&[("KIRJURI_FORMS__PUBLIC_PER_ADDRESS", "2")]).await;
    let client = client_from(Ipv4Addr::new(127, 0, 0, 24));
    let (cookie, token) = blank_form(&app, &client).await;
    let message = message();
    let fields = valid_fields(&token, &message);

    // Act: two posts, then a third from the same address and one from another.
    for _ in 0..2 {
        let response = post_contact_form(&app, &client, &cookie, multipart(&fields, None)).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let third = post_contact_form(&app, &client, &cookie, multipart(&fields, None)).await;
    let other_client = client_from(Ipv4Addr::new(127, 0, 0, 25));
    let (other_cookie, other_token) = blank_form(&app, &other_client).await;
    let other_fields = valid_fields(&other_token, &message);
    let other = post_contact_form(
        &app,
        &other_client,
        &other_cookie,
        multipart(&other_fields, None),
    )
    .await;

    // Assert
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(third.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(app.count("SELECT count(*) FROM contacts;"), 3);
}
