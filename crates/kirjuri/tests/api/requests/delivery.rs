//! Delivering the access package to the data subject (reference §4 C.18,
//! C.19) through the real binary: a registrar's `POST …/deliver` sends a
//! one-time link to the proven phone (read from the outbox's files) and
//! answers only its expiry; the requester's page sends a code, the right
//! code streams the ZIP once — the recording bit for bit — and then the
//! link answers 410, as an expired, revoked, unknown or garbage one does
//! (400 for what cannot be a token); a code has three tries; of two
//! parallel downloads exactly one gets the package; a contact naming a
//! third party blocks both the staff package and the link until the
//! Art. 15(4) review, whose `withhold` leaves that contact's recordings
//! out; hostile review input stores nothing.

use std::collections::HashMap;

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use super::package::{PACKAGE_QUERY, subject_call, unzip};
use super::{PHONE, Registry, get, letters, newest_code, post, post_raw, registry_with};
use crate::helpers::{TestApp, assert_error, design_example, noise_wav};

/// Plenty of public posts per address: the allowance has a test of its own.
const GENEROUS: (&str, &str) = ("KIRJURI_REQUESTS__PUBLIC_PER_ADDRESS", "100");

/// A fast outbox, so letters land in the folder quickly.
const FAST_OUTBOX: (&str, &str) = ("KIRJURI_OUTBOX__POLL_SECONDS", "1");

/// A client that keeps no cookies itself and shows redirects.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl Registry {
    /// An access request naming only the subject's phone, verified in
    /// person (so the phone is the proven address).
    async fn verified_by_phone(&self) -> String {
        let response = post(
            &self.app,
            &self.rea,
            "/api/v1/requests",
            &json!({
                "types": ["access"],
                "channel": "in_person",
                "language": "fi",
                "identifiers": {"phone": [PHONE]},
            }),
        )
        .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let id = response.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let verified = self.in_person(&id).await;
        assert_eq!(verified.status(), StatusCode::OK);
        id
    }

    async fn deliver(&self, token: &str, id: &str) -> reqwest::Response {
        post_raw(
            &self.app,
            token,
            &format!("/api/v1/requests/{id}/deliver"),
            Vec::new(),
        )
        .await
    }

    async fn review(&self, id: &str, body: &Value) -> reqwest::Response {
        post(
            &self.app,
            &self.rea,
            &format!("/api/v1/requests/{id}/third-party-review"),
            body,
        )
        .await
    }

    fn audit_count(&self, sql_where: &str) -> u64 {
        self.app
            .sql(&format!(
                "SELECT count(*) FROM audit_events WHERE {sql_where};"
            ))
            .trim()
            .parse()
            .unwrap()
    }
}

/// The token of the newest link letter, after `seen` of them.
async fn newest_link(app: &TestApp, seen: usize) -> String {
    let texts = letters(app, "dsr.link", seen).await;
    let text = texts.last().unwrap();
    let rest = text
        .split("/request/download/")
        .nth(1)
        .unwrap_or_else(|| panic!("no link in {text:?}"));
    rest.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// The link's page as a browser fetches it: status, cookie, form token.
async fn open(app: &TestApp, client: &reqwest::Client, link: &str) -> (StatusCode, String, String) {
    let response = client
        .get(app.url(&format!("/request/download/{link}")))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .to_owned();
    let html = response.text().await.unwrap();
    let token = html
        .split("name=\"form_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
        .to_owned();
    (status, cookie, token)
}

async fn submit(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut encoded = reqwest::Url::parse("http://form.invalid/").unwrap();
    encoded.query_pairs_mut().extend_pairs(fields);
    client
        .post(app.url(path))
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(encoded.query().unwrap_or("").to_owned())
        .send()
        .await
        .unwrap()
}

/// A requester holding a link: their browser, its cookie and form token.
struct Holder {
    client: reqwest::Client,
    link: String,
    cookie: String,
    token: String,
}

impl Holder {
    async fn new(app: &TestApp, link: String) -> Self {
        let client = browser();
        let (status, cookie, token) = open(app, &client, &link).await;
        assert_eq!(status, StatusCode::OK);
        Self {
            client,
            link,
            cookie,
            token,
        }
    }

    async fn send_code(&self, app: &TestApp) -> reqwest::Response {
        submit(
            app,
            &self.client,
            &format!("/request/download/{}/code", self.link),
            &self.cookie,
            &[("form_token", &self.token), ("lang", "fi")],
        )
        .await
    }

    async fn download(&self, app: &TestApp, code: &str) -> reqwest::Response {
        submit(
            app,
            &self.client,
            &format!("/request/download/{}", self.link),
            &self.cookie,
            &[("form_token", &self.token), ("lang", "fi"), ("code", code)],
        )
        .await
    }
}

/// The error code a download page shows.
async fn page_code(response: reqwest::Response) -> String {
    let html = response.text().await.unwrap();
    html.split("<code>")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn a_link_delivers_the_package_once_and_then_answers_410() {
    // Arrange: the subject's call with a recording; a verified request.
    let r = registry_with(&[GENEROUS, FAST_OUTBOX]).await;
    let (contact, wav) = subject_call(&r.app, "pbx-1", 1).await;
    let id = r.verified_by_phone().await;

    // Act: the registrar delivers.
    let delivered = r.deliver(&r.rea, &id).await;

    // Assert: 201 with the expiry only, a week ahead.
    assert_eq!(delivered.status(), StatusCode::CREATED);
    let body: Value = delivered.json().await.unwrap();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let expires: chrono::DateTime<chrono::Utc> =
        body["expires_at"].as_str().unwrap().parse().unwrap();
    let shown = r.show(&id).await;
    let sent = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "delivery_link_sent")
        .unwrap()["at"]
        .as_str()
        .unwrap()
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap();
    // Seven days (the timeline keeps microseconds, the answer nanoseconds).
    let off = (expires - sent - chrono::TimeDelta::days(7)).abs();
    assert!(off < chrono::TimeDelta::milliseconds(1), "{off}");
    let link = newest_link(&r.app, 0).await;
    assert_eq!(link.len(), 43, "256 bits, base64url");
    assert!(!body.to_string().contains(&link));
    assert!(!shown.to_string().contains(&link));
    assert!(
        shown["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "delivery_link_sent")
    );

    // The requester opens it (in Finnish, the request's language), asks
    // for a code and downloads.
    let holder = Holder::new(&r.app, link.clone()).await;
    let sent = holder.send_code(&r.app).await;
    assert_eq!(sent.status(), StatusCode::OK);
    assert!(sent.text().await.unwrap().contains("download-notice"));
    let code = newest_code(&r.app, 0).await;
    let zip = holder.download(&r.app, &code).await;
    assert_eq!(zip.status(), StatusCode::OK);
    assert_eq!(zip.headers()["content-type"], "application/zip");
    let entries = unzip(&zip.bytes().await.unwrap());
    let files: HashMap<&str, &[u8]> = entries
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let path = format!("recordings/{contact}/recording.wav");
    assert!(files[path.as_str()] == wav.as_slice(), "{path} differs");

    // Audited as a release to the data subject, with no account.
    assert_eq!(
        r.audit_count(
            "action = 'request.package_released' AND actor IS NULL \
             AND details LIKE '%data_subject%'"
        ),
        1
    );
    assert_eq!(
        r.audit_count(&format!(
            "action = 'recording.read' AND actor IS NULL AND purpose = 'data_subject_request' \
             AND details LIKE '%{contact}%'"
        )),
        2,
        "the recording and its waveform"
    );

    // Once only: the same code, a new code, the page — all 410.
    let again = holder.download(&r.app, &code).await;
    assert_eq!(again.status(), StatusCode::GONE);
    let again = again.text().await.unwrap();
    assert!(again.contains("uusi linkki"), "{again}");
    assert_eq!(holder.send_code(&r.app).await.status(), StatusCode::GONE);
    let (status, _, _) = open(&r.app, &browser(), &link).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(r.audit_count("action = 'request.package_released'"), 1);
}

#[tokio::test]
async fn an_expired_or_replaced_link_answers_410_and_garbage_400_or_410() {
    let r = registry_with(&[GENEROUS, FAST_OUTBOX]).await;
    let id = r.verified_by_phone().await;
    assert_eq!(r.deliver(&r.rea, &id).await.status(), StatusCode::CREATED);
    let first = newest_link(&r.app, 0).await;

    // A newer link revokes the older one.
    assert_eq!(r.deliver(&r.rea, &id).await.status(), StatusCode::CREATED);
    let second = newest_link(&r.app, 1).await;
    assert_ne!(first, second);
    let client = browser();
    assert_eq!(open(&r.app, &client, &first).await.0, StatusCode::GONE);
    assert_eq!(open(&r.app, &client, &second).await.0, StatusCode::OK);

    // Eight days on (the database's clock moved back, as time passing).
    let week = 8 * 86_400 * 1_000_000_i64;
    r.app.sql(&format!(
        "UPDATE delivery_links SET expires_at = expires_at - {week}, \
         created_at = created_at - {week};"
    ));
    assert_eq!(open(&r.app, &client, &second).await.0, StatusCode::GONE);

    // Someone else's request's link, garbage and a huge token.
    let other = r.verified_by_phone().await;
    assert_eq!(
        r.deliver(&r.rea, &other).await.status(),
        StatusCode::CREATED
    );
    let others = newest_link(&r.app, 2).await;
    let mut forged = others.clone();
    forged.replace_range(0..1, if others.starts_with('A') { "B" } else { "A" });
    assert_eq!(open(&r.app, &client, &forged).await.0, StatusCode::GONE);
    let garbage = "A".repeat(43);
    assert_eq!(open(&r.app, &client, &garbage).await.0, StatusCode::GONE);
    for bad in [
        "not%20a%20token",
        "%00",
        &"a".repeat(65),
        &"b".repeat(20_000),
    ] {
        let status = open(&r.app, &client, bad).await.0;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::URI_TOO_LONG,
            "{bad:.20}: {status}"
        );
    }
    // Posting to garbage is no better, and the server is still up.
    let posted = submit(
        &r.app,
        &client,
        &format!("/request/download/{garbage}"),
        "",
        &[("code", "123456")],
    )
    .await;
    assert!(posted.status().is_client_error(), "{}", posted.status());
    assert_eq!(open(&r.app, &client, &others).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_links_code_has_three_tries_then_even_the_right_one_is_refused() {
    let r = registry_with(&[GENEROUS, FAST_OUTBOX]).await;
    subject_call(&r.app, "pbx-1", 1).await;
    let id = r.verified_by_phone().await;
    r.deliver(&r.rea, &id).await;
    let holder = Holder::new(&r.app, newest_link(&r.app, 0).await).await;

    // No code sent yet.
    let none = holder.download(&r.app, "123456").await;
    assert_eq!(none.status(), StatusCode::CONFLICT);
    assert_eq!(page_code(none).await, "no_code");

    holder.send_code(&r.app).await;
    let code = newest_code(&r.app, 0).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let mut codes = Vec::new();
    for tried in [wrong, wrong, wrong, code.as_str()] {
        let response = holder.download(&r.app, tried).await;
        assert_eq!(response.status(), StatusCode::CONFLICT);
        codes.push(page_code(response).await);
    }
    assert_eq!(
        codes,
        ["code_wrong", "code_wrong", "code_exhausted", "no_code"]
    );
    // Not a code at all: 400, no try spent.
    let malformed = holder.download(&r.app, "12ab").await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    // A fresh code still works: the link was not used.
    holder.send_code(&r.app).await;
    let code = newest_code(&r.app, 1).await;
    assert_eq!(
        holder.download(&r.app, &code).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        r.audit_count(
            "action = 'request.download_code_rejected' AND outcome = 'denied' \
             AND details LIKE '%code_wrong%'"
        ),
        2
    );
}

#[tokio::test]
async fn of_two_parallel_downloads_exactly_one_gets_the_package() {
    let r = registry_with(&[GENEROUS, FAST_OUTBOX]).await;
    subject_call(&r.app, "pbx-1", 1).await;
    let id = r.verified_by_phone().await;
    r.deliver(&r.rea, &id).await;
    let holder = Holder::new(&r.app, newest_link(&r.app, 0).await).await;
    holder.send_code(&r.app).await;
    let code = newest_code(&r.app, 0).await;

    let (a, b) = tokio::join!(
        holder.download(&r.app, &code),
        holder.download(&r.app, &code)
    );

    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::GONE]);
    for response in [a, b] {
        let _ = response.bytes().await;
    }
    assert_eq!(r.audit_count("action = 'request.package_released'"), 1);
}

#[tokio::test]
async fn the_public_posts_have_a_per_address_allowance() {
    let r = registry_with(&[("KIRJURI_REQUESTS__PUBLIC_PER_ADDRESS", "2"), FAST_OUTBOX]).await;
    let id = r.verified_by_phone().await;
    r.deliver(&r.rea, &id).await;
    let holder = Holder::new(&r.app, newest_link(&r.app, 0).await).await;
    assert_eq!(holder.send_code(&r.app).await.status(), StatusCode::OK);
    assert_eq!(holder.send_code(&r.app).await.status(), StatusCode::OK);
    let refused = holder.download(&r.app, "123456").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key(header::RETRY_AFTER));
    // A forged form token is refused without a try.
    let forged = submit(
        &r.app,
        &holder.client,
        &format!("/request/download/{}", holder.link),
        "kirjuri_request_form=forged",
        &[("form_token", "other"), ("code", "123456")],
    )
    .await;
    assert!(forged.status().is_client_error());
}

#[tokio::test]
async fn delivery_needs_a_verified_request_and_a_registrar() {
    let r = registry_with(&[GENEROUS]).await;
    let unverified = r.request_in("awaiting_identity").await;
    let (code, _) = assert_error(r.deliver(&r.rea, &unverified).await, StatusCode::CONFLICT).await;
    assert_eq!(code, "not_verified");
    let id = r.verified_by_phone().await;
    let agent = r.app.add_account("aatu", "agent");
    let supervisor = r.app.add_account("sirkka", "supervisor");
    for token in [&agent, &supervisor] {
        assert_error(r.deliver(token, &id).await, StatusCode::FORBIDDEN).await;
    }
    assert_error(
        r.deliver(&r.rea, "0193a1a4-0000-7000-8000-000000000000")
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        r.app.sql("SELECT count(*) FROM delivery_links;").trim(),
        "0"
    );
}

/// A call of the subject that also names a contact person: a third party.
async fn third_party_call(app: &TestApp) -> (String, Vec<u8>) {
    let mut contact = design_example("pbx-3p");
    contact["customer"]["phone"] = json!(PHONE);
    let id = app.new_contact(&contact).await;
    let wav = noise_wav(40_000, 7);
    app.store_recording(&id, &wav).await;
    (id, wav)
}

#[tokio::test]
async fn a_third_party_blocks_the_package_and_the_link_until_the_review_releases_it() {
    let r = registry_with(&[GENEROUS]).await;
    let (mine, _) = subject_call(&r.app, "pbx-1", 1).await;
    let (shared, shared_wav) = third_party_call(&r.app).await;
    let id = r.verified_by_phone().await;

    // Blocked, both ways, and audited.
    let (code, _) = assert_error(
        r.package(&r.rea, &id, PACKAGE_QUERY).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "third_party_review_needed");
    let (code, _) = assert_error(r.deliver(&r.rea, &id).await, StatusCode::CONFLICT).await;
    assert_eq!(code, "third_party_review_needed");
    assert_eq!(
        r.audit_count("action = 'request.package_refused' AND outcome = 'denied'"),
        2
    );
    assert_eq!(r.audit_count("action = 'recording.read'"), 0);

    // Released after review.
    let reviewed = r
        .review(
            &id,
            &json!({"decision": "release", "note": "The manager consented."}),
        )
        .await;
    assert_eq!(reviewed.status(), StatusCode::OK);
    let view: Value = reviewed.json().await.unwrap();
    let step = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "third_party_reviewed")
        .unwrap()
        .clone();
    assert_eq!(step["detail"]["decision"], "release");
    assert!(
        !view.to_string().contains("consented"),
        "the note is sealed"
    );
    let response = r.package(&r.rea, &id, PACKAGE_QUERY).await;
    assert_eq!(response.status(), StatusCode::OK);
    let entries = unzip(&response.bytes().await.unwrap());
    let files: HashMap<&str, &[u8]> = entries
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    assert!(files.contains_key(format!("recordings/{mine}/recording.wav").as_str()));
    let path = format!("recordings/{shared}/recording.wav");
    assert!(files[path.as_str()] == shared_wav.as_slice());
    assert_eq!(r.deliver(&r.rea, &id).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn withholding_leaves_the_third_partys_recordings_out_and_says_so() {
    let r = registry_with(&[GENEROUS]).await;
    let (mine, wav) = subject_call(&r.app, "pbx-1", 1).await;
    let (shared, _) = third_party_call(&r.app).await;
    let id = r.verified_by_phone().await;
    let reviewed = r
        .review(
            &id,
            &json!({"decision": "withhold", "note": "Tenant's voice on the call."}),
        )
        .await;
    assert_eq!(reviewed.status(), StatusCode::OK);

    let response = r.package(&r.rea, &id, PACKAGE_QUERY).await;

    assert_eq!(response.status(), StatusCode::OK);
    let entries = unzip(&response.bytes().await.unwrap());
    let files: HashMap<&str, &[u8]> = entries
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let path = format!("recordings/{mine}/recording.wav");
    assert!(files[path.as_str()] == wav.as_slice());
    assert!(
        entries
            .iter()
            .all(|(p, _)| !p.starts_with(&format!("recordings/{shared}"))),
        "the third party's recording is withheld"
    );
    assert!(files.contains_key(format!("contacts/{shared}.json").as_str()));
    let summary = String::from_utf8(files["summary.html"].to_vec()).unwrap();
    assert!(summary.contains("15 artiklan 4 kohta"), "{summary}");
    assert!(summary.contains(&shared));
    let manifest: Value = serde_json::from_slice(files["manifest.json"]).unwrap();
    let withheld = manifest.to_string();
    assert!(withheld.contains("third_party_withheld"), "{withheld}");
    assert_eq!(
        r.audit_count(&format!(
            "action = 'recording.read' AND details LIKE '%{shared}%'"
        )),
        0
    );
}

#[tokio::test]
async fn hostile_review_input_is_refused_and_stores_nothing() {
    let r = registry_with(&[GENEROUS]).await;
    let id = r.verified_by_phone().await;
    let long = "x".repeat(501);
    for bad in [
        json!({"decision": "release", "note": long}),
        json!({"decision": "release", "note": "ok", "extra": 1}),
        json!({"decision": "maybe", "note": "ok"}),
        json!({"decision": "release", "note": "   "}),
        json!({"decision": "release", "note": "bell\u{7}"}),
        json!({"decision": "release"}),
        json!(["release"]),
    ] {
        assert_error(r.review(&id, &bad).await, StatusCode::BAD_REQUEST).await;
    }
    let raw = post_raw(
        &r.app,
        &r.rea,
        &format!("/api/v1/requests/{id}/third-party-review"),
        b"{not json".to_vec(),
    )
    .await;
    assert_error(raw, StatusCode::BAD_REQUEST).await;
    let agent = r.app.add_account("aatu", "agent");
    let refused = post(
        &r.app,
        &agent,
        &format!("/api/v1/requests/{id}/third-party-review"),
        &json!({"decision": "release", "note": "ok"}),
    )
    .await;
    assert_error(refused, StatusCode::FORBIDDEN).await;
    let shown = r.show(&id).await;
    assert!(
        shown["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] != "third_party_reviewed")
    );
    let _ = get(&r.app, &r.rea, "/api/v1/requests").await;
}
