//! The public request page (`/request`) through the real binary, as a
//! stranger on the internet would use it: a request registered without an
//! account (counted through the API), and every way in that must fail — no
//! or a forged form token, an oversized body, 100 KB fields, control
//! characters, an invalid email or phone, a filled honeypot — each storing
//! nothing; and the per-address allowance answering 429 with `Retry-After`
//! while another address still gets through.

use std::net::{IpAddr, Ipv4Addr};

use reqwest::{StatusCode, header};
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app, spawn_app_with_env};

const EMAIL: &str = "tiina.tilaaja@esimerkki.fi";
const NAME: &str = "Tiina Tilaaja-Kuusikoski";

/// A client from `from` (a loopback address) that shows redirects.
fn client_from(from: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(IpAddr::V4(from))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The form's cookie and token, fetched as a browser would.
async fn blank_form(app: &TestApp, client: &reqwest::Client) -> (String, String) {
    let response = client.get(app.url("/request")).send().await.unwrap();
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

async fn post(
    app: &TestApp,
    client: &reqwest::Client,
    cookie: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut encoded = reqwest::Url::parse("http://form.invalid/").unwrap();
    encoded.query_pairs_mut().extend_pairs(fields);
    client
        .post(app.url("/request"))
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(encoded.query().unwrap_or("").to_owned())
        .send()
        .await
        .unwrap()
}

/// One refused post: what it tries, its fields, the status it gets.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, StatusCode);

fn valid(token: &str) -> Vec<(&str, &str)> {
    vec![
        ("form_token", token),
        ("lang", "fi"),
        ("types", "access"),
        ("name", NAME),
        ("email", EMAIL),
        ("description", "Haluan kopion puheluistani."),
        ("website", ""),
    ]
}

/// Open requests and their channels, through the API.
async fn stored(app: &TestApp, token: &str) -> Vec<String> {
    let response = app
        .get(Some(token), &app.url("/api/v1/requests"), None)
        .await;
    let queue: Value = response.json().await.unwrap();
    queue["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["channel"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_stranger_registers_a_request_with_the_public_form_and_gets_its_reference_and_due_date() {
    let app = spawn_app().await;
    let registrar = app.add_account("rea", "registrar");
    let client = client_from(Ipv4Addr::LOCALHOST);
    let (cookie, token) = blank_form(&app, &client).await;

    let response = post(&app, &client, &cookie, &valid(&token)).await;

    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("id=\"sent-reference\">DSR-"),
        "the reference is shown"
    );
    assert!(html.contains("id=\"sent-due\">20"), "the due date is shown");
    assert!(html.contains("lang=\"fi\""));
    assert!(!html.contains(NAME) && !html.contains(EMAIL));
    assert_eq!(stored(&app, &registrar).await, vec!["web".to_owned()]);
}

#[tokio::test]
async fn the_public_form_refuses_forged_tokens_huge_bodies_and_hostile_input_and_stores_nothing() {
    let app = spawn_app_with_env(&[("KIRJURI_REQUESTS__PUBLIC_PER_ADDRESS", "100")]).await;
    let registrar = app.add_account("rea", "registrar");
    let client = client_from(Ipv4Addr::LOCALHOST);
    let (cookie, token) = blank_form(&app, &client).await;
    let (_, other_token) = blank_form(&app, &client).await;

    let huge = "x".repeat(100 * 1024);
    let long = "y".repeat(5000);
    let with = |field: &'static str, value: &'static str| {
        let mut fields = valid(&token);
        fields.retain(|(k, _)| *k != field);
        fields.push((field, value));
        fields
    };
    let leaked: &'static str = Box::leak(huge.into_boxed_str());
    let long: &'static str = Box::leak(long.into_boxed_str());
    let cases: Vec<Case> = vec![
        ("no token", valid(""), StatusCode::FORBIDDEN),
        (
            "a forged token",
            valid("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            StatusCode::FORBIDDEN,
        ),
        (
            "another form's token",
            valid(&other_token),
            StatusCode::FORBIDDEN,
        ),
        (
            "a 100 KB field",
            with("description", leaked),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "a 5000-character description",
            with("description", long),
            StatusCode::BAD_REQUEST,
        ),
        (
            "control characters",
            with("name", "Tiina\u{0}\u{1b}[31m"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "an invalid email",
            with("email", "not an email"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "an invalid phone",
            with("phone", "+999 abc"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "no type",
            {
                let mut f = valid(&token);
                f.retain(|(k, _)| *k != "types");
                f
            },
            StatusCode::BAD_REQUEST,
        ),
        (
            "no contact channel",
            with("email", ""),
            StatusCode::BAD_REQUEST,
        ),
        (
            "a filled honeypot",
            with("website", "http://spam.example"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "an unknown type",
            with("types", "everything"),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (what, fields, expected) in cases {
        let response = post(&app, &client, &cookie, &fields).await;
        assert_eq!(response.status(), expected, "{what}");
        let html = response.text().await.unwrap_or_default();
        assert!(
            !html.contains('\u{0}') && !html.contains("not an email"),
            "{what}: input quoted back"
        );
    }
    assert!(
        stored(&app, &registrar).await.is_empty(),
        "a refused post stored a request"
    );
}

#[tokio::test]
async fn the_public_form_is_rate_limited_per_address_with_retry_after_while_another_address_still_works()
 {
    let app = spawn_app().await;
    let registrar = app.add_account("rea", "registrar");
    let first = client_from(Ipv4Addr::LOCALHOST);
    let (cookie, _) = blank_form(&app, &first).await;

    // The default allowance is five posts; refused ones count too.
    for _ in 0..5 {
        let response = post(&app, &first, &cookie, &valid("forged")).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    let (cookie, token) = blank_form(&app, &first).await;
    let response = post(&app, &first, &cookie, &valid(&token)).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);

    let second = client_from(Ipv4Addr::new(127, 0, 0, 2));
    let (cookie, token) = blank_form(&app, &second).await;
    let response = post(&app, &second, &cookie, &valid(&token)).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "another address still gets through"
    );
    assert_eq!(stored(&app, &registrar).await.len(), 1);
}
