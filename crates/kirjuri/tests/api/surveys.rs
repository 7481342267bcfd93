//! Satisfaction surveys (SURV-1; issue 15 §4) through the real binary and
//! a real Kannel: a supervisor sets a service's survey settings; a call to
//! it is followed by an invitation that leaves through the outbox and
//! Kannel to the fake SMSC; the caller's reply comes back as a
//! mobile-originated SMS that Kannel's smsbox delivers to
//! `GET /api/v1/surveys/replies` with the secret, and is stored once. The
//! attacker's side: other roles, hostile and oversized settings, parallel
//! changes, and a forged or malformed reply delivery store nothing. The
//! rules that need the clock (objection a second before the send, quiet
//! hours, the period, the reply window, the purge) are tested with an
//! injected clock in `kirjuri-app/tests/app/surveys.rs`.

use futures::future::join_all;
use kirjuri_testkit::kannel::Kannel;
use kirjuri_testkit::smtp::free_port;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, call, spawn_app_with_env};

const SECRET: &str = "kannel-callback-secret-0123456789";
const PHONE: &str = "+358401234567";

fn settings() -> Value {
    json!({
        "enabled": true,
        "sample_per_mille": 1000,
        "delay_minutes": 0,
        "quiet_start": "00:00",
        "quiet_end": "00:00",
        "period_days": 30,
        "text_fi": "Miten onnistuimme? Vastaa 1-5.",
        "text_sv": "Hur lyckades vi? Svara 1-5.",
        "text_en": "How did we do? Reply 1-5.",
    })
}

async fn put(app: &TestApp, token: &str, service: &str, body: String) -> (StatusCode, Value) {
    let response = app
        .client
        .put(app.url(&format!("/api/v1/surveys/settings/{service}")))
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn reply(app: &TestApp, query: &[(&str, &str)]) -> StatusCode {
    let url = reqwest::Url::parse_with_params(&app.url("/api/v1/surveys/replies"), query).unwrap();
    app.client.get(url).send().await.unwrap().status()
}

fn count(app: &TestApp, sql: &str) -> String {
    app.sql(sql).trim().to_owned()
}

#[tokio::test]
async fn only_a_supervisor_changes_survey_settings_and_hostile_ones_store_nothing() {
    let app = spawn_app_with_env(&[]).await;
    let body = settings().to_string();
    let tokens = &app.tokens;

    for token in [&tokens.aino, &tokens.pbx] {
        let (status, _) = put(&app, token, "water-billing", body.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let listed = app
            .get(
                Some(token.as_str()),
                &app.url("/api/v1/surveys/settings"),
                None,
            )
            .await;
        assert_eq!(listed.status(), StatusCode::FORBIDDEN);
    }
    let anonymous = app
        .client
        .put(app.url("/api/v1/surveys/settings/water-billing"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let hostile = [
        ("sample_per_mille", json!(1001)),
        ("sample_per_mille", json!(-1)),
        ("period_days", json!(0)),
        ("delay_minutes", json!(100_000)),
        ("quiet_start", json!("25:00")),
        ("quiet_end", json!("9")),
        ("text_fi", json!("")),
        ("text_sv", json!("x".repeat(601))),
        ("text_en", json!("a\u{0}b")),
        ("enabled", json!("yes")),
    ];
    for (field, value) in hostile {
        let mut body = settings();
        body[field] = value;
        let (status, answer) = put(&app, &tokens.sanna, "water-billing", body.to_string()).await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
            "{field}: {status} {answer}"
        );
    }
    let mut unknown = settings();
    unknown["bcc"] = json!("+358400000000");
    let (status, _) = put(&app, &tokens.sanna, "water-billing", unknown.to_string()).await;
    assert!(status.is_client_error());
    let (status, _) = put(&app, &tokens.sanna, "water-billing", "x".repeat(4 << 20)).await;
    assert!(status.is_client_error(), "{status}");
    let (status, _) = put(&app, &tokens.sanna, &"s".repeat(300), body.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count(&app, "SELECT count(*) FROM survey_configs"), "0");

    // Parallel changes: each one lands on its own version or is told 409.
    let answers =
        join_all((0..6).map(|_| put(&app, &tokens.sanna, "water-billing", body.clone()))).await;
    let ok = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert!(ok >= 1);
    assert!(
        answers
            .iter()
            .all(|(s, _)| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
        "{answers:?}"
    );
    assert_eq!(
        count(&app, "SELECT version FROM survey_configs"),
        ok.to_string()
    );
    let listed = app
        .get(
            Some(&tokens.sanna),
            &app.url("/api/v1/surveys/settings"),
            None,
        )
        .await;
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(listed["services"][0]["service"], "water-billing");
    assert_eq!(listed["services"][0]["sample_per_mille"], 1000);
    assert!(
        count(
            &app,
            "SELECT count(*) FROM audit_events WHERE action = 'survey.configured'"
        )
        .parse::<usize>()
        .unwrap()
            == ok
    );
}

#[tokio::test]
async fn a_forged_or_malformed_reply_delivery_stores_nothing() {
    let app = spawn_app_with_env(&[("KIRJURI_SURVEYS__REPLY_SECRET", SECRET)]).await;
    let good = [("id", "m1"), ("from", PHONE), ("text", "5 great")];

    let mut no_token = good.to_vec();
    assert_eq!(reply(&app, &no_token).await, StatusCode::UNAUTHORIZED);
    no_token.push(("token", "kannel-callback-secret-0123456788"));
    assert_eq!(reply(&app, &no_token).await, StatusCode::UNAUTHORIZED);
    let mut extra = good.to_vec();
    extra.push(("token", SECRET));
    extra.push(("score", "5"));
    assert_eq!(reply(&app, &extra).await, StatusCode::BAD_REQUEST);
    let long_text = "x".repeat(2000);
    for (field, value) in [
        ("from", "not a number"),
        ("id", "a b"),
        ("text", long_text.as_str()),
    ] {
        let mut query: Vec<(&str, &str)> = vec![("token", SECRET)];
        query.extend(good.iter().filter(|(k, _)| *k != field));
        query.push((field, value));
        assert_eq!(
            reply(&app, &query).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}"
        );
    }
    // Well formed, but no invitation to this number: accepted, not stored.
    let mut query = good.to_vec();
    query.push(("token", SECRET));
    assert_eq!(reply(&app, &query).await, StatusCode::OK);
    let parallel = join_all((0..8).map(|_| reply(&app, &query))).await;
    assert!(parallel.iter().all(|s| *s == StatusCode::OK));

    assert_eq!(count(&app, "SELECT count(*) FROM survey_invitations"), "0");
    assert_eq!(count(&app, "SELECT count(*) FROM survey_rollups"), "0");

    // Without a configured secret the callback does not exist.
    let off = spawn_app_with_env(&[]).await;
    assert_eq!(reply(&off, &query).await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_call_is_followed_by_an_invitation_through_kannel_and_the_reply_comes_back_once() {
    let sendsms = free_port();
    let sms_url = format!("http://127.0.0.1:{sendsms}");
    let app = spawn_app_with_env(&[
        ("KIRJURI_SURVEYS__REPLY_SECRET", SECRET),
        ("KIRJURI_OUTBOX__POLL_SECONDS", "1"),
        ("KIRJURI_OUTBOX__SMS__SENDER", "kannel"),
        ("KIRJURI_OUTBOX__SMS__URL", sms_url.as_str()),
        (
            "KIRJURI_OUTBOX__SMS__USERNAME",
            kirjuri_testkit::kannel::USERNAME,
        ),
        (
            "KIRJURI_OUTBOX__SMS__PASSWORD",
            kirjuri_testkit::kannel::PASSWORD,
        ),
        ("KIRJURI_OUTBOX__SMS__COUNTRY", "FI"),
    ])
    .await;
    let mo_url = format!(
        "{}/api/v1/surveys/replies?token={SECRET}&id=%I&from=%p&to=%P&text=%a",
        app.address
    );
    let mut gateway = Kannel::start_with_mo(Some(sendsms), Some(mo_url.as_str()));
    let (status, _) = put(
        &app,
        &app.tokens.sanna,
        "water-billing",
        settings().to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let mut contact = call("aino");
    contact["customer"] = json!({"phone": "040 123 4567", "language": "en"});
    app.new_contact(&contact).await;
    let received = gateway.wait_for(1);
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].1, PHONE);
    assert_eq!(received[0].2, "How did we do? Reply 1-5.");

    gateway.send_mo(
        PHONE,
        kirjuri_testkit::kannel::GLOBAL_SENDER,
        "4 friendly and quick",
    );
    let mut state = String::new();
    for _ in 0..100 {
        state = count(
            &app,
            "SELECT state || ':' || coalesce(score, '') FROM survey_invitations",
        );
        if state.starts_with("answered") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(state, "answered:4");
    // A second reply from the same number is not taken.
    gateway.send_mo(PHONE, kirjuri_testkit::kannel::GLOBAL_SENDER, "1 no wait");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        count(
            &app,
            "SELECT invited || ':' || answered || ':' || score_4 || ':' || score_1 FROM survey_rollups"
        ),
        "1:1:1:0"
    );
    // The words are sealed.
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM survey_invitations WHERE reply_sealed IS NOT NULL"
        ),
        "1"
    );
    let db = std::fs::read(app.data_dir().join("kirjuri.db")).unwrap();
    assert!(!db.windows(8).any(|w| w == b"friendly"));
}
