//! Data-subject requests (DSR-1, DSR-2, issue 12) through the real binary:
//! registration with the due-date table of reference §4 B.10, every
//! transition allowed and refused over HTTP, in-person verification, the
//! one-time code's limits (three tries, expiry, twenty parallel wrong tries
//! taking three), the two-registrar refusal, who may and who may not,
//! unknown ids, hostile input storing nothing, and the audit log and the
//! database file holding none of the identifiers sent.

mod delivery;
pub(crate) mod package;
mod rectify;

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, find_in_files, json_ok, spawn_app_with_env};

const PHONE: &str = "040 765 4321";
const PHONE_E164: &str = "+358407654321";
const EMAIL: &str = "Tiina.Tilaaja@Esimerkki.FI";
const CUSTOMER: &str = "AS-99173";
const PROPERTY: &str = "91-402-0017-0008";
const NAME: &str = "Tiina Tilaaja-Kuusikoski";
const LAST4: &str = "X9Q7";

/// `POST path` with `body` as JSON, as `token`.
async fn post(app: &TestApp, token: &str, path: &str, body: &Value) -> Response {
    post_raw(app, token, path, serde_json::to_vec(body).unwrap()).await
}

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

async fn get(app: &TestApp, token: &str, path: &str) -> Response {
    app.get(Some(token), &app.url(path), None).await
}

/// A request body naming every kind of identifier.
fn body(types: &[&str]) -> Value {
    json!({
        "types": types,
        "channel": "in_person",
        "language": "fi",
        "identifiers": {
            "phone": [PHONE],
            "email": [EMAIL],
            "customer_number": [CUSTOMER],
            "property_id": [PROPERTY],
        },
        "name": NAME,
    })
}

/// Registrars `rea` and `rauno` on a fresh server.
struct Registry {
    app: TestApp,
    rea: String,
    rauno: String,
}

async fn registry() -> Registry {
    registry_with(&[]).await
}

async fn registry_with(envs: &[(&str, &str)]) -> Registry {
    let app = spawn_app_with_env(envs).await;
    let rea = app.add_account("rea", "registrar");
    let rauno = app.add_account("rauno", "registrar");
    Registry { app, rea, rauno }
}

impl Registry {
    /// Registers an access request; answers its id.
    async fn register(&self, types: &[&str]) -> String {
        let response = post(&self.app, &self.rea, "/api/v1/requests", &body(types)).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{text}");
        let created: Value = serde_json::from_str(&text).unwrap();
        created["id"].as_str().unwrap().to_owned()
    }

    async fn show(&self, id: &str) -> Value {
        json_ok(get(&self.app, &self.rea, &format!("/api/v1/requests/{id}")).await).await
    }

    async fn step(&self, id: &str, transition: &str) -> Response {
        post(
            &self.app,
            &self.rea,
            &format!("/api/v1/requests/{id}/transition"),
            &json!({ "transition": transition }),
        )
        .await
    }

    async fn in_person(&self, id: &str) -> Response {
        post(
            &self.app,
            &self.rea,
            &format!("/api/v1/requests/{id}/verification"),
            &json!({"method": "in_person", "document_type": "passport", "document_last4": LAST4}),
        )
        .await
    }

    async fn propose(&self, id: &str) -> Response {
        post(
            &self.app,
            &self.rea,
            &format!("/api/v1/requests/{id}/refusal"),
            &json!({"ground": "excessive", "reasoning": "The fourth identical request this month."}),
        )
        .await
    }

    async fn approve(&self, token: &str, id: &str) -> Response {
        self.app
            .client
            .post(
                self.app
                    .url(&format!("/api/v1/requests/{id}/refusal/approve")),
            )
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn send_code(&self, id: &str) -> Response {
        post(
            &self.app,
            &self.rea,
            &format!("/api/v1/requests/{id}/verification"),
            &json!({"method": "sms_code", "send_to": {"kind": "phone", "value": PHONE}}),
        )
        .await
    }

    async fn try_code(&self, id: &str, code: &str) -> Response {
        post(
            &self.app,
            &self.rea,
            &format!("/api/v1/requests/{id}/verification"),
            &json!({"method": "sms_code", "code": code}),
        )
        .await
    }

    /// A new access request brought to `state` over the API.
    async fn request_in(&self, state: &str) -> String {
        let id = self.register(&["access"]).await;
        let ok = |r: Response| async move {
            let status = r.status();
            assert!(status.is_success(), "{}", r.text().await.unwrap());
        };
        match state {
            "received" => {}
            "awaiting_identity" => ok(self.step(&id, "ask_identity").await).await,
            "verified" => ok(self.in_person(&id).await).await,
            "in_progress" => {
                ok(self.in_person(&id).await).await;
                ok(self.step(&id, "start").await).await;
            }
            "answered" => {
                ok(self.in_person(&id).await).await;
                ok(self.step(&id, "start").await).await;
                ok(self.step(&id, "answer").await).await;
            }
            "refused" => {
                ok(self.propose(&id).await).await;
                ok(self.approve(&self.rauno, &id).await).await;
            }
            "withdrawn" => ok(self.step(&id, "withdraw").await).await,
            other => panic!("no way to {other}"),
        }
        assert_eq!(self.show(&id).await["state"], state);
        id
    }

    /// Every audit event, as the supervisor reads them.
    async fn audit(&self) -> Vec<Value> {
        let page = json_ok(
            self.app
                .audit_log(&self.app.tokens.sanna, &[("limit", "1000")])
                .await,
        )
        .await;
        page["events"].as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn a_registered_request_gets_a_reference_and_the_regulations_due_date() {
    let r = registry().await;
    for (received_at, due) in [
        ("2025-01-31T10:00:00+02:00", "2025-02-28"),
        ("2024-01-31T10:00:00+02:00", "2024-02-29"),
        ("2025-05-01T10:00:00+03:00", "2025-06-02"),
        ("2025-11-25T10:00:00+02:00", "2025-12-29"),
    ] {
        let mut request = body(&["access"]);
        request["received_at"] = json!(received_at);
        let response = post(&r.app, &r.rea, "/api/v1/requests", &request).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let created: Value = response.json().await.unwrap();
        assert_eq!(created["due_date"], due, "{received_at}");
        assert_eq!(created["state"], "received");
        let reference = created["reference"].as_str().unwrap();
        // `DSR-<year>-<six-digit sequence>`.
        let parts: Vec<&str> = reference.split('-').collect();
        assert!(
            parts.len() == 3
                && parts[0] == "DSR"
                && parts[1].len() == 4
                && parts[2].len() == 6
                && parts[1..]
                    .iter()
                    .all(|p| p.bytes().all(|b| b.is_ascii_digit())),
            "{reference}"
        );
        let id = created["id"].as_str().unwrap();
        assert_eq!(location, format!("/api/v1/requests/{id}"));
        let shown = r.show(id).await;
        assert_eq!(shown["due_date"], due);
        assert!(
            shown["days_left"].as_i64().unwrap() < 0,
            "long overdue: {shown}"
        );
        assert_eq!(shown["overdue"], true);
        assert_eq!(shown["verification"]["verified"], false);
        assert_eq!(shown["verification"]["needed"], "substantial");
        assert_eq!(shown["timeline"][0]["kind"], "registered");
        assert_eq!(shown["timeline"][0]["actor"], "rea");
    }
    // References count up within the year.
    let queue = json_ok(get(&r.app, &r.rea, "/api/v1/requests").await).await;
    let mut references: Vec<&str> = queue["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["reference"].as_str().unwrap())
        .collect();
    references.sort_unstable();
    references.dedup();
    assert_eq!(references.len(), 4);
}

#[tokio::test]
async fn the_queue_shows_open_requests_overdue_first_then_by_days_left() {
    let r = registry().await;
    let fresh = r.register(&["information"]).await;
    let mut old = body(&["access"]);
    old["received_at"] = json!("2025-01-31T10:00:00+02:00");
    let old: Value = post(&r.app, &r.rea, "/api/v1/requests", &old)
        .await
        .json()
        .await
        .unwrap();
    let closed = r.request_in("withdrawn").await;
    let queue = json_ok(get(&r.app, &r.app.tokens.sanna, "/api/v1/requests").await).await;
    let ids: Vec<&str> = queue["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [old["id"].as_str().unwrap(), fresh.as_str()]);
    assert!(!ids.contains(&closed.as_str()));
    assert_eq!(queue["requests"][0]["overdue"], true);
    assert_eq!(queue["requests"][1]["overdue"], false);
}

#[tokio::test]
async fn every_transition_over_http_is_allowed_or_refused_as_the_table_says() {
    let r = registry().await;
    // (from, transition, Ok(to) | Err(code)) for an access request whose
    // identity is proven in person when it is verified.
    type Want = Result<&'static str, &'static str>;
    let table: [(&str, [Want; 6]); 7] = [
        (
            "received",
            [
                Ok("awaiting_identity"),
                Err("not_verified"),
                Err("transition_refused"),
                Err("transition_refused"),
                Err("refusal_needs_approval"),
                Ok("withdrawn"),
            ],
        ),
        (
            "awaiting_identity",
            [
                Err("transition_refused"),
                Err("not_verified"),
                Err("transition_refused"),
                Err("transition_refused"),
                Err("refusal_needs_approval"),
                Ok("withdrawn"),
            ],
        ),
        (
            "verified",
            [
                Err("transition_refused"),
                Err("transition_refused"),
                Ok("in_progress"),
                Err("transition_refused"),
                Err("refusal_needs_approval"),
                Ok("withdrawn"),
            ],
        ),
        (
            "in_progress",
            [
                Ok("awaiting_identity"),
                Err("transition_refused"),
                Err("transition_refused"),
                Ok("answered"),
                Err("refusal_needs_approval"),
                Ok("withdrawn"),
            ],
        ),
        ("answered", [Err("transition_refused"); 6]),
        ("refused", [Err("transition_refused"); 6]),
        ("withdrawn", [Err("transition_refused"); 6]),
    ];
    let transitions = [
        "ask_identity",
        "verify",
        "start",
        "answer",
        "refuse",
        "withdraw",
    ];
    for (from, wants) in table {
        for (transition, want) in transitions.iter().zip(wants) {
            let id = r.request_in(from).await;
            let response = r.step(&id, transition).await;
            match want {
                Ok(to) => {
                    let view = json_ok(response).await;
                    assert_eq!(view["state"], to, "{from} {transition}");
                    assert_eq!(r.show(&id).await["state"], to);
                }
                Err(code) => {
                    let (got, _) = assert_error(response, StatusCode::CONFLICT).await;
                    assert_eq!(got, code, "{from} {transition}");
                    assert_eq!(r.show(&id).await["state"], from, "unchanged");
                }
            }
        }
    }
    // A refused start of an unverified request is audited.
    let refused: Vec<Value> = r
        .audit()
        .await
        .into_iter()
        .filter(|e| {
            e["action"] == "request.step_refused" && e["details"]["refused"] == "not_verified"
        })
        .collect();
    assert!(!refused.is_empty());
    assert!(
        refused
            .iter()
            .all(|e| e["outcome"] == "denied" && e["actor"] == "rea")
    );
    // An unknown transition is the caller's mistake.
    let id = r.register(&["access"]).await;
    assert_error(r.step(&id, "teleport").await, StatusCode::BAD_REQUEST).await;
    // A request that releases nothing (information) may start unverified.
    let id = r.register(&["information"]).await;
    assert_eq!(
        json_ok(r.step(&id, "start").await).await["state"],
        "in_progress"
    );
}

#[tokio::test]
async fn an_in_person_check_records_the_registrar_and_the_document_type_and_verifies() {
    let r = registry().await;
    let id = r.request_in("awaiting_identity").await;
    assert_eq!(r.show(&id).await["clock_paused"], true);
    let answer = json_ok(r.in_person(&id).await).await;
    assert_eq!(answer["assurance"], "high");
    assert_eq!(answer["state"], "verified");
    let check = &answer["verification"]["checks"][0];
    assert_eq!(check["method"], "in_person");
    assert_eq!(check["verifier"], "rea");
    assert_eq!(check["document_type"], "passport");
    assert!(check["at"].is_string());
    assert!(!answer.to_string().contains(LAST4));
    let shown = r.show(&id).await;
    assert_eq!(shown["clock_paused"], false);
    let kinds: Vec<&str> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "registered",
            "moved",
            "clock_paused",
            "verified",
            "moved",
            "clock_resumed"
        ]
    );
    assert!(
        shown["verification"]["identifiers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["proven_by"] == "registrar" && i["basis"] == "in_person_check")
    );
    // Only the last four letters or digits, and a known document type.
    for bad in [
        json!({"method": "in_person", "document_type": "passport", "document_last4": "12345"}),
        json!({"method": "in_person", "document_type": "passport", "document_last4": "1\u{7}3"}),
        json!({"method": "in_person", "document_type": "selfie", "document_last4": "1234"}),
        json!({"method": "in_person", "document_type": "passport", "document_last4": "1234", "scan": "…"}),
        json!({"method": "in_person"}),
    ] {
        let response = post(
            &r.app,
            &r.rea,
            &format!("/api/v1/requests/{id}/verification"),
            &bad,
        )
        .await;
        assert_error(response, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(
        r.show(&id).await["verification"]["checks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_code_has_three_tries_and_then_even_the_right_one_is_refused() {
    let r = registry().await;
    let id = r.register(&["access"]).await;
    // Only to the request's own addresses.
    let other = post(
        &r.app,
        &r.rea,
        &format!("/api/v1/requests/{id}/verification"),
        &json!({"method": "sms_code", "send_to": {"kind": "phone", "value": "040 111 2222"}}),
    )
    .await;
    let (code, _) = assert_error(other, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "unknown_identifier");
    let sent = r.send_code(&id).await;
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let sent: Value = sent.json().await.unwrap();
    assert_eq!(sent["tries"], 3);
    assert_eq!(sent["sent_to"], "phone");
    let mut codes = Vec::new();
    for wrong in ["1000000", "2000000", "3000000", "4000000"] {
        let (code, _) = assert_error(r.try_code(&id, wrong).await, StatusCode::CONFLICT).await;
        codes.push(code);
    }
    assert_eq!(
        codes,
        ["code_wrong", "code_wrong", "code_exhausted", "no_code"]
    );
    let shown = r.show(&id).await;
    assert_eq!(shown["verification"]["verified"], false);
    assert_eq!(
        shown["timeline"].as_array().unwrap().last().unwrap()["kind"],
        "code_discarded"
    );
    // Not a code at all: refused before any try is spent.
    r.send_code(&id).await;
    for bad in ["12345", "12a456", "", "1234567890123"] {
        let (code, _) = assert_error(r.try_code(&id, bad).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(code, "invalid_code");
    }
    let (code, _) = assert_error(r.try_code(&id, "999999999").await, StatusCode::CONFLICT).await;
    assert_eq!(code, "code_wrong", "the three tries were all still there");
}

/// The outbox's file sender's letters (`.eml` and `.txt` under
/// `<data>/outbox/`) holding `needle` (an SMS names its kind; an email is
/// found by its text), oldest first, once there are more than `seen`.
async fn letters(app: &TestApp, needle: &str, seen: usize) -> Vec<String> {
    for _ in 0..150 {
        let mut files: Vec<_> = crate::helpers::files_under(&app.data_dir().join("outbox"))
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "txt" || e == "eml"))
            .collect();
        files.sort();
        let texts: Vec<String> = files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .filter(|t| t.contains(needle))
            .collect();
        if texts.len() > seen {
            return texts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no new letter with {needle} in the outbox folder");
}

/// The six digits of the newest code letter, after `seen` of them.
async fn newest_code(app: &TestApp, seen: usize) -> String {
    let texts = letters(app, "dsr.code", seen).await;
    let text = texts.last().unwrap();
    let body = text.split("\n\n").nth(1).unwrap_or(text);
    body.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap_or_else(|| panic!("no code in {text:?}"))
        .to_owned()
}

#[tokio::test]
async fn the_code_and_the_receipt_leave_through_the_outbox_and_the_right_code_verifies() {
    let r = registry_with(&[("KIRJURI_OUTBOX__POLL_SECONDS", "1")]).await;
    let id = r.register(&["access"]).await;
    let reference = r.show(&id).await["reference"].as_str().unwrap().to_owned();
    // The receipt goes to the first email address, in Finnish.
    let receipts = letters(&r.app, &format!("Viite: {reference}"), 0).await;
    assert!(
        receipts[0].contains("Vastaamme viimeist"),
        "{}",
        receipts[0]
    );
    assert_eq!(r.send_code(&id).await.status(), StatusCode::ACCEPTED);
    let code = newest_code(&r.app, 0).await;
    let verified = json_ok(r.try_code(&id, &code).await).await;
    assert_eq!(verified["assurance"], "substantial");
    assert_eq!(verified["state"], "verified");
    let phone = verified["verification"]["identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "phone")
        .unwrap()
        .clone();
    assert_eq!(phone["proven_by"], "code");
    // Used up.
    let (used, _) = assert_error(r.try_code(&id, &code).await, StatusCode::CONFLICT).await;
    assert_eq!(used, "no_code");

    // Three wrong ones, then the right one: refused.
    let id = r.register(&["access"]).await;
    assert_eq!(r.send_code(&id).await.status(), StatusCode::ACCEPTED);
    let code = newest_code(&r.app, 1).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for want in ["code_wrong", "code_wrong", "code_exhausted", "no_code"] {
        let tried = if want == "no_code" {
            code.as_str()
        } else {
            wrong
        };
        let (got, _) = assert_error(r.try_code(&id, tried).await, StatusCode::CONFLICT).await;
        assert_eq!(got, want);
    }
    assert_eq!(r.show(&id).await["verification"]["verified"], false);
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let r = registry_with(&[("KIRJURI_REQUESTS__CODE_TTL_SECONDS", "1")]).await;
    let id = r.register(&["access"]).await;
    assert_eq!(r.send_code(&id).await.status(), StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (code, _) = assert_error(r.try_code(&id, "123456").await, StatusCode::CONFLICT).await;
    assert_eq!(code, "code_expired");
    let (code, _) = assert_error(r.try_code(&id, "123456").await, StatusCode::CONFLICT).await;
    assert_eq!(code, "no_code");
}

#[tokio::test]
async fn twenty_parallel_wrong_tries_use_at_most_the_codes_three() {
    let r = registry().await;
    let id = r.register(&["access"]).await;
    assert_eq!(r.send_code(&id).await.status(), StatusCode::ACCEPTED);
    let tries = (0..20).map(|n| {
        let r = &r;
        let id = &id;
        async move {
            let response = r.try_code(id, &format!("{:07}", 9_000_000 + n)).await;
            assert_eq!(response.status(), StatusCode::CONFLICT);
            let body: Value = response.json().await.unwrap();
            body["error"]["code"].as_str().unwrap().to_owned()
        }
    });
    let codes = futures::future::join_all(tries).await;
    let taken = codes
        .iter()
        .filter(|c| *c == "code_wrong" || *c == "code_exhausted")
        .count();
    assert_eq!(taken, 3, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| *c == "code_exhausted").count(), 1);
    assert_eq!(codes.iter().filter(|c| *c == "no_code").count(), 17);
    let tried = r
        .audit()
        .await
        .iter()
        .filter(|e| e["action"] == "request.code_tried" && e["object"] == id.as_str())
        .count();
    assert_eq!(tried, 3);
}

#[tokio::test]
async fn a_refusal_needs_a_legal_ground_and_another_registrars_approval() {
    let r = registry().await;
    let id = r.register(&["erasure"]).await;
    let path = format!("/api/v1/requests/{id}/refusal");
    // Without a legal ground from the list: 422 (reference K.58).
    for bad in [
        json!({"ground": "we_do_not_want_to", "reasoning": "no"}),
        json!({"ground": "", "reasoning": "no"}),
        json!({"reasoning": "no"}),
    ] {
        let (code, _) = assert_error(
            post(&r.app, &r.rea, &path, &bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(code, "invalid_ground");
    }
    for bad in [
        json!({"ground": "excessive", "reasoning": "  "}),
        json!({"ground": "excessive"}),
    ] {
        assert_error(
            post(&r.app, &r.rea, &path, &bad).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let (code, _) = assert_error(r.approve(&r.rauno, &id).await, StatusCode::CONFLICT).await;
    assert_eq!(code, "no_refusal_proposed");
    let proposed = json_ok(r.propose(&id).await).await;
    assert_eq!(proposed["state"], "received");
    assert_eq!(proposed["refusal"]["ground"], "excessive");
    assert_eq!(proposed["refusal"]["proposed_by"], "rea");
    let (code, _) = assert_error(r.propose(&id).await, StatusCode::CONFLICT).await;
    assert_eq!(code, "refusal_pending");
    // Not by the one who proposed it.
    let (code, _) = assert_error(r.approve(&r.rea, &id).await, StatusCode::FORBIDDEN).await;
    assert_eq!(code, "forbidden");
    assert_eq!(r.show(&id).await["state"], "received");
    let own = r
        .audit()
        .await
        .into_iter()
        .filter(|e| e["details"]["refused"] == "own_refusal")
        .count();
    assert_eq!(own, 1);
    // A supervisor may read but not approve.
    assert_error(
        r.approve(&r.app.tokens.sanna, &id).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let refused = json_ok(r.approve(&r.rauno, &id).await).await;
    assert_eq!(refused["state"], "refused");
    assert!(refused["closed_at"].is_string());
    assert!(refused["retain_until"].is_string());
    assert!(refused["days_left"].is_null());
    let kinds: Vec<&str> = refused["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "registered",
            "refusal_proposed",
            "refusal_approved",
            "moved"
        ]
    );
    let (code, _) = assert_error(r.propose(&id).await, StatusCode::CONFLICT).await;
    assert_eq!(code, "request_closed");
}

#[tokio::test]
async fn one_extension_of_one_or_two_months_with_a_reason() {
    let r = registry().await;
    let id = r.register(&["access"]).await;
    let before = r.show(&id).await["due_date"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/requests/{id}/extension");
    for (bad, status) in [
        (
            json!({"months": 3, "reason": "complex"}),
            StatusCode::CONFLICT,
        ),
        (json!({"months": 2, "reason": ""}), StatusCode::BAD_REQUEST),
        (
            json!({"months": -1, "reason": "complex"}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"months": 2}), StatusCode::BAD_REQUEST),
    ] {
        assert_error(post(&r.app, &r.rea, &path, &bad).await, status).await;
    }
    let ext = json!({"months": 2, "reason": "Recordings from three systems must be collected."});
    let extended = json_ok(post(&r.app, &r.rea, &path, &ext).await).await;
    assert_eq!(extended["extension"]["months"], 2);
    assert!(extended["due_date"].as_str().unwrap() > before.as_str());
    assert!(!extended.to_string().contains("three systems"));
    let (code, _) = assert_error(
        post(&r.app, &r.rea, &path, &ext).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "extension_refused");
    // After the due date: refused.
    let mut old = body(&["access"]);
    old["received_at"] = json!("2025-01-31T10:00:00+02:00");
    let old: Value = post(&r.app, &r.rea, "/api/v1/requests", &old)
        .await
        .json()
        .await
        .unwrap();
    let late = format!("/api/v1/requests/{}/extension", old["id"].as_str().unwrap());
    let (code, _) = assert_error(
        post(&r.app, &r.rea, &late, &ext).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "extension_refused");
}

#[tokio::test]
async fn agents_admins_and_integrations_get_403_and_unknown_ids_404() {
    let r = registry().await;
    let admin = r.app.add_account("ulla", "admin");
    let responsible = r.app.add_account("vastaava", "responsible");
    let id = r.register(&["access"]).await;
    for token in [&r.app.tokens.aino, &admin, &r.app.tokens.pbx] {
        assert_error(
            get(&r.app, token, "/api/v1/requests").await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert_error(
            get(&r.app, token, &format!("/api/v1/requests/{id}")).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        // Refused before the body is looked at, and before the id is.
        assert_error(
            post(&r.app, token, "/api/v1/requests", &body(&["access"])).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        let missing = "/api/v1/requests/0192f5c4-8f5e-7000-8000-000000000001/transition";
        assert_error(
            post(&r.app, token, missing, &json!({"transition": "withdraw"})).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    // A supervisor reads, and may not register.
    json_ok(
        get(
            &r.app,
            &r.app.tokens.sanna,
            &format!("/api/v1/requests/{id}"),
        )
        .await,
    )
    .await;
    assert_error(
        post(
            &r.app,
            &r.app.tokens.sanna,
            "/api/v1/requests",
            &body(&["access"]),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // The responsible person handles requests too.
    assert_eq!(
        post(&r.app, &responsible, "/api/v1/requests", &body(&["access"]))
            .await
            .status(),
        StatusCode::CREATED
    );
    let denied = r
        .audit()
        .await
        .into_iter()
        .filter(|e| e["action"] == "access.denied" && e["details"]["action"] == "handle_requests")
        .count();
    assert!(denied >= 7, "{denied}");
    // Unknown, malformed and other kinds of ids: 404.
    let contact = r.app.new_call("aino").await;
    for missing in [
        "0192f5c4-8f5e-7000-8000-000000000001",
        "not-an-id",
        contact.as_str(),
    ] {
        assert_error(
            get(&r.app, &r.rea, &format!("/api/v1/requests/{missing}")).await,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_error(r.step(missing, "withdraw").await, StatusCode::NOT_FOUND).await;
        assert_error(r.in_person(missing).await, StatusCode::NOT_FOUND).await;
    }
}

#[tokio::test]
async fn hostile_input_gets_a_clear_4xx_and_stores_nothing() {
    let r = registry().await;
    let with = |key: &str, value: Value| {
        let mut request = body(&["access"]);
        request[key] = value;
        request
    };
    let many: Vec<String> = (0..10_000).map(|n| format!("040{n:07}")).collect();
    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        (
            "bad JSON",
            b"{\"types\": [\"access\"".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "not an object",
            b"[1, 2, 3]".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "unknown field",
            serde_json::to_vec(&with("evil", json!(1))).unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "unknown identifier kind",
            serde_json::to_vec(&with("identifiers", json!({"hetu": ["010101-123N"]}))).unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "1 MB",
            vec![b' '; 1 << 20 | 1],
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "10,000 identifiers",
            serde_json::to_vec(&with("identifiers", json!({"phone": many}))).unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid phone",
            serde_json::to_vec(&with("identifiers", json!({"phone": ["not a number"]}))).unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "no identifiers",
            serde_json::to_vec(&with("identifiers", json!({}))).unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "31 Feb",
            serde_json::to_vec(&with("received_at", json!("2025-02-31T10:00:00Z"))).unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "not a date",
            serde_json::to_vec(&with("received_at", json!("yesterday"))).unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "future",
            serde_json::to_vec(&with("received_at", json!("2999-01-01T00:00:00Z"))).unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "control characters",
            serde_json::to_vec(&with("name", json!("Tiina\u{0}\u{1b}[2J"))).unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "no types",
            serde_json::to_vec(&with("types", json!([]))).unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "unknown type",
            serde_json::to_vec(&with("types", json!(["everything"]))).unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "unknown channel",
            serde_json::to_vec(&with("channel", json!("pigeon"))).unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "unknown language",
            serde_json::to_vec(&with("language", json!("de"))).unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "objection without purposes",
            serde_json::to_vec(&body(&["objection"])).unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "objection to an exempt purpose",
            serde_json::to_vec(&{
                let mut b = body(&["objection"]);
                b["objection_purposes"] = json!(["legal_claim"]);
                b
            })
            .unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "wrong shape",
            serde_json::to_vec(&with("types", json!("access"))).unwrap(),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (what, bytes, status) in cases {
        let response = post_raw(&r.app, &r.rea, "/api/v1/requests", bytes).await;
        let (_, message) = assert_error(response, status).await;
        assert!(
            !message.contains("not a number") && !message.contains("Tiina"),
            "{what}: {message}"
        );
    }
    let text = r
        .app
        .client
        .post(r.app.url("/api/v1/requests"))
        .bearer_auth(&r.rea)
        .header(reqwest::header::CONTENT_TYPE, "text/plain")
        .body(serde_json::to_vec(&body(&["access"])).unwrap())
        .send()
        .await
        .unwrap();
    assert_error(text, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    for table in ["requests", "request_identifiers", "request_events"] {
        assert_eq!(
            r.app.sql(&format!("SELECT count(*) FROM {table}")).trim(),
            "0",
            "{table}"
        );
    }
    // Objection with objectable purposes is fine.
    let mut objection = body(&["objection"]);
    objection["objection_purposes"] = json!(["survey", "training"]);
    assert_eq!(
        post(&r.app, &r.rea, "/api/v1/requests", &objection)
            .await
            .status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn the_audit_log_has_every_step_and_neither_it_nor_the_database_holds_an_identifier() {
    let r = registry().await;
    let mut request = body(&["access", "erasure"]);
    request["description"] = json!("Please send me every recording of my calls about the leak.");
    let created: Value = post(&r.app, &r.rea, "/api/v1/requests", &request)
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    r.step(&id, "ask_identity").await;
    r.send_code(&id).await;
    r.try_code(&id, "0000000").await;
    r.in_person(&id).await;
    r.step(&id, "start").await;
    post(
        &r.app,
        &r.rea,
        &format!("/api/v1/requests/{id}/extension"),
        &json!({"months": 1, "reason": "Tiina asked for the calls of 2019 too"}),
    )
    .await;
    r.step(&id, "answer").await;
    r.show(&id).await;
    let events = r.audit().await;
    let actions: Vec<&str> = events
        .iter()
        .filter(|e| e["object"] == id.as_str())
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "request.registered",
        "request.moved",
        "request.clock_paused",
        "request.code_sent",
        "request.code_tried",
        "request.code_rejected",
        "request.verified",
        "request.clock_resumed",
        "request.extended",
        "request.read",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    assert!(
        events
            .iter()
            .all(|e| e["action"] != "request.registered" || e["actor"] == "rea")
    );
    let log = serde_json::to_string(&events).unwrap();
    let needles = [
        PHONE,
        PHONE_E164,
        "0407654321",
        "7654321",
        EMAIL,
        "tiina.tilaaja@esimerkki.fi",
        CUSTOMER,
        PROPERTY,
        "91402",
        NAME,
        "Tilaaja",
        LAST4,
        "leak",
        "calls of 2019",
    ];
    for needle in needles {
        assert!(!log.contains(needle), "the audit log holds {needle}");
    }
    // The data folder, read as a thief would — but for the file sender's
    // outbox folder, which holds the letters in plaintext by design (the
    // embedded default, for a newcomer to read; production sends them).
    let found: Vec<String> = find_in_files(
        r.app.data_dir(),
        &needles
            .iter()
            .filter(|n| n.len() > 4)
            .map(|n| ((*n).to_owned(), n.as_bytes().to_vec()))
            .collect::<Vec<_>>(),
    )
    .into_iter()
    .filter(|f| !f.contains("/outbox/"))
    .collect();
    assert!(found.is_empty(), "plaintext in the data folder: {found:?}");
    let db = std::fs::read(r.app.data_dir().join("kirjuri.db")).unwrap();
    assert!(!crate::helpers::contains(&db, LAST4.as_bytes()));
}

#[tokio::test]
async fn a_request_counts_the_contacts_its_proven_identifiers_find_and_names_its_duplicates() {
    let r = registry().await;
    // Two calls from the design example's customer (040 123 4567), one
    // from someone else.
    for (external, phone) in [
        ("c-1", "040 123 4567"),
        ("c-2", "040 123 4567"),
        ("c-3", "050 000 0001"),
    ] {
        let mut contact = crate::helpers::design_example(external);
        contact["customer"]["phone"] = json!(phone);
        let response = r.app.create_contact(&r.app.tokens.pbx, &contact).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let register = |phone: &'static str, types: &'static [&'static str]| {
        let body = json!({
            "types": types,
            "channel": "phone",
            "language": "fi",
            "identifiers": {"phone": [phone]},
        });
        let r = &r;
        async move {
            let response = post(&r.app, &r.rea, "/api/v1/requests", &body).await;
            assert_eq!(response.status(), StatusCode::CREATED);
            let created: Value = response.json().await.unwrap();
            created["id"].as_str().unwrap().to_owned()
        }
    };
    let first = register("040 123 4567", &["access"]).await;
    let second = register("+358401234567", &["access", "erasure"]).await;

    let shown = r.show(&first).await;
    assert_eq!(
        shown["subject_contacts"], 0,
        "nothing is found by an unproven identifier"
    );
    let duplicates = shown["possible_duplicates"].as_array().unwrap();
    assert_eq!(duplicates.len(), 1);
    assert_eq!(duplicates[0]["id"], second.as_str());
    assert_eq!(duplicates[0]["common_types"], json!(["access"]));

    let verified = r.in_person(&first).await;
    assert_eq!(verified.status(), StatusCode::OK);
    assert_eq!(r.show(&first).await["subject_contacts"], 2);
}

#[tokio::test]
async fn strong_identification_without_a_plug_in_is_refused_and_changes_nothing() {
    let r = registry().await;
    let id = r.register(&["access"]).await;
    let path = format!("/api/v1/requests/{id}/verification");
    let response = post(
        &r.app,
        &r.rea,
        &path,
        &json!({"method": "strong_electronic", "assertion": "PHNhbWxwOlJlc3BvbnNlLz4="}),
    )
    .await;
    let (code, _) = assert_error(response, StatusCode::CONFLICT).await;
    assert_eq!(code, "eid_not_configured");
    for bad in [
        json!({"method": "strong_electronic"}),
        json!({"method": "strong_electronic", "assertion": "x", "code": "123456"}),
    ] {
        assert_error(
            post(&r.app, &r.rea, &path, &bad).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let shown = r.show(&id).await;
    assert_eq!(shown["state"], "received");
    assert!(
        shown["verification"]["checks"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
