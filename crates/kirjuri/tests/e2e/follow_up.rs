//! A registrar's Art. 19 follow-up in a real headless Chromium (issue 13
//! §6, §8): the seeded call is disclosed to the police (asked by one
//! registrar, approved by another), its caller's erasure is carried out,
//! and the request's page lists the police as a recipient to notify; the
//! registrar records that the recipient could not be reached, and the page
//! shows the task closed. Each state passes axe-core (WCAG 2.1 AA).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{PASSWORD, Ui, assert_accessible, click, serial, sign_in, source, wait_until};

/// POSTs `body` as `token`; asserts `expect` and returns the JSON answer.
async fn post(ui: &Ui, token: &str, path: &str, body: Value, expect: StatusCode) -> Value {
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(ui.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, expect, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn a_registrar_closes_a_recipients_notification_task_on_the_request_page() {
    let _turn = serial().await;
    // Arrange: two registrars, the police, the seeded call disclosed and
    // its caller's verified erasure carried out.
    let mut ui = Ui::start().await;
    for name in ["rea", "rolf"] {
        ui.cli(
            &[
                "user",
                "add",
                name,
                "--role",
                "registrar",
                "--password-stdin",
            ],
            Some(&format!("{PASSWORD}\n")),
        );
    }
    let rea = ui
        .cli(&["token", "create", "--user", "rea"], None)
        .trim()
        .to_owned();
    let rolf = ui
        .cli(&["token", "create", "--user", "rolf"], None)
        .trim()
        .to_owned();
    let police = post(
        &ui,
        &rea,
        "/api/v1/recipients",
        json!({"name": "Helsingin poliisilaitos", "kind": "police", "country": "FI"}),
        StatusCode::CREATED,
    )
    .await["id"]
        .clone();
    let disclosure = post(
        &ui,
        &rea,
        "/api/v1/disclosures",
        json!({"recipient": police, "legal_ground": "Poliisilaki 872/2011 4 luku 3 §",
               "reference": "5500/R/1/26", "scope": {"contacts": [ui.call]}}),
        StatusCode::CREATED,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let approve = format!("/api/v1/disclosures/{disclosure}/approve");
    post(&ui, &rolf, &approve, json!({}), StatusCode::OK).await;
    let request = post(
        &ui,
        &rea,
        "/api/v1/requests",
        json!({"types": ["erasure"], "channel": "in_person", "language": "fi",
               "identifiers": {"phone": ["+358 40 123 4567"]}}),
        StatusCode::CREATED,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    post(
        &ui,
        &rea,
        &format!("/api/v1/requests/{request}/verification"),
        json!({"method": "in_person", "document_type": "passport", "document_last4": "X9Q7"}),
        StatusCode::OK,
    )
    .await;
    post(
        &ui,
        &rea,
        &format!("/api/v1/requests/{request}/execute"),
        json!({"action": "erase"}),
        StatusCode::OK,
    )
    .await;

    // Act: the registrar opens the request, picks the outcome and closes.
    let browser = ui.browser().await;
    sign_in(&ui, &browser, "rea").await;
    browser
        .goto(&ui.url(&format!("/requests/{request}")))
        .await
        .unwrap();
    wait_until("the recipient tasks", || async {
        source(&browser).await.contains("id=\"tasks-heading\"")
    })
    .await;
    assert!(source(&browser).await.contains("Helsingin poliisilaitos"));
    assert_accessible(&browser, "request-recipient-tasks").await;
    crate::harness::js(
        &browser,
        "document.getElementById('outcome-1').value = 'impossible.recipient_unreachable'; \
         return true;",
    )
    .await;
    click(&browser, "close-task-1").await;
    wait_until("the task closed", || async {
        source(&browser).await.contains("id=\"request-notice\"")
    })
    .await;

    // Assert: closed with its reason, no form left, still accessible.
    let shown = source(&browser).await;
    assert!(
        !shown.contains("id=\"close-task-1\""),
        "a closed task has no form"
    );
    assert_accessible(&browser, "request-recipient-task-closed").await;
    browser.close().await.unwrap();
}
