//! The registrar's request pages (`/requests`, `/requests/new`,
//! `/requests/{id}`) through the real binary, as a browser session would
//! use them: who may see and post them (an agent gets 403, a supervisor
//! reads but posts nothing), that a form without the session's CSRF token
//! or with someone else's changes nothing, that a refused step is shown on
//! the request's page with its code, that hostile or huge input stores
//! nothing, and that the pages show no personal value.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const EMAIL: &str = "tiina.tilaaja@esimerkki.fi";
const NAME: &str = "Tiina Tilaaja-Kuusikoski";

/// A browser session of `name`: (cookie, CSRF token).
pub(crate) async fn session(app: &TestApp, name: &str, role: &str) -> (String, String) {
    let response = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&json!({"name": name, "password": format!("Api-Test-Passw0rd-{name}-{role}")}))
        .send()
        .await
        .unwrap();
    kirjuri_testkit::fixtures::browser_session(response).await
}

/// A client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) async fn page(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let response = client()
        .get(app.url(path))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

pub(crate) async fn form(
    app: &TestApp,
    cookie: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let mut encoded = reqwest::Url::parse("http://form.invalid/").unwrap();
    encoded.query_pairs_mut().extend_pairs(fields);
    let body = encoded.query().unwrap_or("").to_owned();
    let response = client()
        .post(app.url(path))
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (response.status(), location, response.text().await.unwrap())
}

/// The number of open requests, through the API.
async fn open_requests(app: &TestApp, token: &str) -> usize {
    let response = app
        .get(Some(token), &app.url("/api/v1/requests"), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let queue: Value = response.json().await.unwrap();
    queue["requests"].as_array().unwrap().len()
}

/// A registration form with `csrf`.
fn registration<'a>(csrf: &'a str, email: &'a str, name: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf_token", csrf),
        ("types", "access"),
        ("types", "erasure"),
        ("channel", "in_person"),
        ("language", "fi"),
        ("email", email),
        ("name", name),
    ]
}

#[tokio::test]
async fn a_registrar_registers_moves_and_verifies_a_request_through_the_pages_and_sees_no_personal_value()
 {
    let app = spawn_app().await;
    let token = app.add_account("rea", "registrar");
    let (cookie, csrf) = session(&app, "rea", "registrar").await;

    let (status, location, _) = form(
        &app,
        &cookie,
        "/requests/new",
        &registration(&csrf, EMAIL, NAME),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.starts_with("/requests/"), "{location}");
    assert_eq!(open_requests(&app, &token).await, 1);

    let (status, queue) = page(&app, &cookie, "/requests").await;
    assert_eq!(status, StatusCode::OK);
    assert!(queue.contains(&location), "the queue links the request");

    // Starting work before the identity is proven is refused, on the page.
    let (status, _, shown) = form(
        &app,
        &cookie,
        &location,
        &[
            ("csrf_token", &csrf),
            ("action", "move"),
            ("transition", "verify"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(shown.contains("not_verified"), "the page names the refusal");
    assert!(shown.contains("id=\"request-error\""));

    let (status, _, shown) = form(
        &app,
        &cookie,
        &location,
        &[
            ("csrf_token", &csrf),
            ("action", "in_person"),
            ("document_type", "passport"),
            ("document_last4", "X9Q7"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert!(shown.contains("id=\"request-notice\""));
    let (_, shown) = page(&app, &cookie, &location).await;
    for secret in [EMAIL, NAME, "X9Q7"] {
        assert!(!shown.contains(secret), "the page shows a personal value");
    }
    assert!(shown.contains("badge ok"), "the request shows as verified");
}

#[tokio::test]
async fn an_agent_gets_403_on_the_request_pages_and_a_supervisor_reads_but_cannot_post_them() {
    let app = spawn_app().await;
    let token = app.add_account("rea", "registrar");
    app.add_account("agnes", "agent");
    app.add_account("saga", "supervisor");
    let (rea, rea_csrf) = session(&app, "rea", "registrar").await;
    let (_, location, _) = form(
        &app,
        &rea,
        "/requests/new",
        &registration(&rea_csrf, EMAIL, NAME),
    )
    .await;

    let (agent, agent_csrf) = session(&app, "agnes", "agent").await;
    for path in ["/requests", "/requests/new", location.as_str()] {
        let (status, _) = page(&app, &agent, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let (status, _, _) = form(
        &app,
        &agent,
        "/requests/new",
        &registration(&agent_csrf, EMAIL, NAME),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (supervisor, csrf) = session(&app, "saga", "supervisor").await;
    let (status, shown) = page(&app, &supervisor, "/requests").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!shown.contains("/requests/new"), "no registration link");
    let (status, shown) = page(&app, &supervisor, &location).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!shown.contains("name=\"action\""), "no forms for a reader");
    let (status, _, _) = form(
        &app,
        &supervisor,
        "/requests/new",
        &registration(&csrf, EMAIL, NAME),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for fields in [
        vec![
            ("csrf_token", csrf.as_str()),
            ("action", "move"),
            ("transition", "withdraw"),
        ],
        vec![
            ("csrf_token", csrf.as_str()),
            ("action", "in_person"),
            ("document_type", "passport"),
            ("document_last4", "X9Q7"),
        ],
        vec![
            ("csrf_token", csrf.as_str()),
            ("action", "extend"),
            ("months", "1"),
            ("reason", "busy"),
        ],
    ] {
        let (status, _, _) = form(&app, &supervisor, &location, &fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{fields:?}");
    }
    assert_eq!(open_requests(&app, &token).await, 1);
}

#[tokio::test]
async fn a_form_without_the_sessions_csrf_token_or_with_hostile_input_stores_nothing() {
    let app = spawn_app().await;
    let token = app.add_account("rea", "registrar");
    app.add_account("rauno", "registrar");
    let (cookie, csrf) = session(&app, "rea", "registrar").await;
    let (_, other_csrf) = session(&app, "rauno", "registrar").await;

    let huge = "x".repeat(100 * 1024);
    let control = "Tiina\u{0}\u{1b}[31m";
    for (what, fields) in [
        ("no token", registration("", EMAIL, NAME)),
        (
            "forged token",
            registration("AAAAAAAAAAAAAAAAAAAAAAAA", EMAIL, NAME),
        ),
        (
            "another session's token",
            registration(&other_csrf, EMAIL, NAME),
        ),
        ("a 100 KB name", registration(&csrf, EMAIL, &huge)),
        ("control characters", registration(&csrf, EMAIL, control)),
        (
            "an invalid email",
            registration(&csrf, "not-an-email", NAME),
        ),
        ("no identifier", registration(&csrf, "", NAME)),
        (
            "no type",
            vec![
                ("csrf_token", csrf.as_str()),
                ("channel", "phone"),
                ("language", "fi"),
                ("email", EMAIL),
            ],
        ),
        (
            "the web channel",
            vec![
                ("csrf_token", csrf.as_str()),
                ("types", "access"),
                ("channel", "web"),
                ("language", "fi"),
                ("email", EMAIL),
            ],
        ),
    ] {
        let (status, _, shown) = form(&app, &cookie, "/requests/new", &fields).await;
        assert!(status.is_client_error(), "{what}: {status}");
        assert!(
            !shown.contains(NAME) && !shown.contains(EMAIL) && !shown.contains(control),
            "{what}: the answer quotes the input"
        );
    }
    assert_eq!(open_requests(&app, &token).await, 0);

    // Someone else's id, or none that exists: a 404 page, nothing changed.
    let (status, _, _) = form(
        &app,
        &cookie,
        "/requests/0192f5c4-0000-7000-8000-000000000000",
        &[
            ("csrf_token", &csrf),
            ("action", "move"),
            ("transition", "withdraw"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The review form's fields: release, with `note`.
fn review<'a>(csrf: &'a str, note: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("csrf_token", csrf),
        ("action", "third_party_review"),
        ("decision", "release"),
        ("note", note),
    ]
}

#[tokio::test]
async fn a_registrar_records_the_third_party_review_and_sends_the_link_from_the_request_page() {
    // Arrange: a verified access request, and a call of the subject that
    // names a contact person too (another person: the review is needed).
    let app = spawn_app().await;
    app.add_account("rea", "registrar");
    let (cookie, csrf) = session(&app, "rea", "registrar").await;
    let (_, location, _) = form(
        &app,
        &cookie,
        "/requests/new",
        &registration(&csrf, EMAIL, NAME),
    )
    .await;
    let verify = [
        ("csrf_token", csrf.as_str()),
        ("action", "in_person"),
        ("document_type", "passport"),
        ("document_last4", "X9Q7"),
    ];
    assert_eq!(
        form(&app, &cookie, &location, &verify).await.0,
        StatusCode::OK
    );
    let mut call = crate::helpers::call("aino");
    call["customer"] = json!({"name": NAME, "email": EMAIL});
    call["contact_person"] = json!({"name": "Isännöitsijä Ilkka", "phone": "040 999 8888"});
    app.new_contact(&call).await;
    let (_, shown) = page(&app, &cookie, &location).await;
    assert!(
        shown.contains("id=\"deliver\""),
        "the delivery form is offered"
    );
    let deliver = [("csrf_token", csrf.as_str()), ("action", "deliver")];
    let links = || app.sql("SELECT count(*) FROM outbox WHERE kind = 'dsr.link'");

    // Act and assert: without the review the page says why, and nothing is sent.
    let (status, _, shown) = form(&app, &cookie, &location, &deliver).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(shown.contains("third_party_review_needed"), "{shown}");
    assert_eq!(links().trim(), "0");
    // A hostile note is refused and records nothing.
    let long = "x".repeat(600);
    let bad = review(&csrf, &long);
    assert_eq!(
        form(&app, &cookie, &location, &bad).await.0,
        StatusCode::BAD_REQUEST
    );
    let good = review(&csrf, "Isännöitsijän osuus on vain varauksen vahvistus.");
    let (status, _, shown) = form(&app, &cookie, &location, &good).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    let (status, _, shown) = form(&app, &cookie, &location, &deliver).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert!(shown.contains("id=\"request-notice\""));
    assert_eq!(links().trim(), "1");
    // The note is sealed: the page shows no word of it.
    let (_, shown) = page(&app, &cookie, &location).await;
    assert!(!shown.contains("varauksen vahvistus"));
}
