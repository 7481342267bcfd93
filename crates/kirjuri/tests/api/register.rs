//! The Art. 30 record of processing (NOT-1) through the real binary: JSON,
//! CSV and HTML in three languages from the register's description and the
//! retention rules in force — a changed rule changes the record and its
//! version — for registrars, supervisors and administrators only.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_error, json_ok, spawn_app, spawn_app_with_env};

#[tokio::test]
async fn the_record_has_every_art_30_field_in_each_format_and_language() {
    let app = spawn_app().await;
    let token = &app.tokens.sanna;
    let url = |query: &str| app.url(&format!("/api/v1/processing-record{query}"));

    let record = json_ok(app.get(Some(token), &url(""), None).await).await;
    // Art. 30(1)(a)–(g): controller and DPO, purposes, subjects and data,
    // recipients, transfers, time limits, security measures.
    for field in [
        "controller",
        "dpo_email",
        "purposes",
        "data_subjects",
        "data_categories",
        "recipients",
        "transfers",
        "retention",
        "security",
    ] {
        let value = &record[field];
        assert!(
            !(value.is_null() || value.as_array().is_some_and(Vec::is_empty) || value == ""),
            "{field} is empty: {record}"
        );
    }
    assert_eq!(record["language"], "fi");
    assert_eq!(record["purposes"].as_array().unwrap().len(), 8);
    let call_recording = record["retention"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "call_recording")
        .unwrap();
    assert_eq!(call_recording["months"], 12);

    let english = json_ok(app.get(Some(token), &url("?lang=en"), None).await).await;
    assert_eq!(
        english["version"], record["version"],
        "one version in every language"
    );
    assert!(english["transfers"].as_str().unwrap().contains("EU/EEA"));

    let csv = app
        .get(Some(token), &url("?format=csv&lang=sv"), None)
        .await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("section,value\n"), "{csv}");
    assert!(csv.contains("retention,call_recording: 12 months"), "{csv}");

    let html = app
        .get(Some(token), &url("?format=html&lang=en"), None)
        .await;
    assert_eq!(html.status(), StatusCode::OK);
    let html = html.text().await.unwrap();
    assert!(html.contains("<html lang=\"en\">") && html.contains("Record of processing"));

    for bad in ["?format=pdf", "?lang=de", "?nickname=x"] {
        assert_error(
            app.get(Some(token), &url(bad), None).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    for who in [&app.tokens.aino, &app.tokens.pbx] {
        assert_error(
            app.get(Some(who), &url(""), None).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    assert_error(
        app.get(None, &url(""), None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn a_changed_retention_rule_shows_in_the_record_with_a_new_version() {
    let twelve = spawn_app().await;
    let six = spawn_app_with_env(&[("KIRJURI_RETENTION__CHAT_TRANSCRIPT__MONTHS", "6")]).await;
    let before = read(&twelve).await;
    let after = read(&six).await;
    let chat = |record: &Value| {
        record["retention"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == "chat_transcript")
            .unwrap()["months"]
            .clone()
    };
    assert_eq!((chat(&before), chat(&after)), (12.into(), 6.into()));
    assert_ne!(before["version"], after["version"]);
}

async fn read(app: &crate::helpers::TestApp) -> Value {
    let url = app.url("/api/v1/processing-record");
    json_ok(app.get(Some(&app.tokens.sanna), &url, None).await).await
}
