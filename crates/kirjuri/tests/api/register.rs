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

/// `GET path` without signing in: status and body.
async fn public(app: &crate::helpers::TestApp, path: &str) -> (StatusCode, String) {
    let response = app.get(None, &app.url(path), None).await;
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn the_public_notice_is_versioned_and_a_significant_change_shows_a_banner() {
    let mut app = spawn_app().await;
    let (status, fi) = public(&app, "/privacy").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        fi.contains("<html lang=\"fi\">") && fi.contains("Tietosuojaseloste"),
        "{fi}"
    );
    assert!(fi.contains("Ilmalantori 1") && fi.contains("chat_transcript: 12 kuukautta"));
    assert!(!fi.contains("notice-banner"));
    for (lang, words) in [("sv", "Dataskyddsbeskrivning"), ("en", "Privacy notice")] {
        let (status, page) = public(&app, &format!("/privacy?lang={lang}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(&format!("<html lang=\"{lang}\">")) && page.contains(words));
    }
    let first = json_ok(
        app.get(
            Some(&app.tokens.sanna),
            &app.url("/api/v1/processing-record"),
            None,
        )
        .await,
    )
    .await["version"]
        .as_str()
        .unwrap()
        .to_owned();

    // The operator shortens chat retention and marks the change significant.
    app.restart_with_env(&[
        ("KIRJURI_RETENTION__CHAT_TRANSCRIPT__MONTHS", "6"),
        ("KIRJURI_REGISTER__CHANGE__SIGNIFICANT", "true"),
        (
            "KIRJURI_REGISTER__CHANGE__NOTE__FI",
            "Chat-keskustelut säilytetään 6 kuukautta.",
        ),
        (
            "KIRJURI_REGISTER__CHANGE__NOTE__SV",
            "Chattsamtal sparas i 6 månader.",
        ),
        (
            "KIRJURI_REGISTER__CHANGE__NOTE__EN",
            "Chats are kept for 6 months.",
        ),
    ]);
    let (_, en) = public(&app, "/privacy?lang=en").await;
    assert!(
        en.contains("notice-banner") && en.contains("Chats are kept for 6 months."),
        "{en}"
    );
    assert!(en.contains("chat_transcript: 6 months"));
    assert!(
        en.contains("<del>retention: chat_transcript: 12 months"),
        "{en}"
    );
    assert!(
        en.contains("<ins>retention: chat_transcript: 6 months"),
        "{en}"
    );

    let (_, versions) = public(&app, "/privacy/versions?lang=en").await;
    assert_eq!(versions.matches("<li>").count(), 2, "{versions}");
    let (status, older) = public(&app, &format!("/privacy/versions/{first}?lang=en")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(older.contains("older-version") && older.contains("chat_transcript: 12 months"));

    // A restart without a change publishes nothing new.
    app.restart();
    let (_, versions) = public(&app, "/privacy/versions").await;
    assert_eq!(versions.matches("<li>").count(), 2);

    for (path, status) in [
        ("/privacy?lang=de", StatusCode::BAD_REQUEST),
        ("/privacy?debug=1", StatusCode::BAD_REQUEST),
        ("/privacy/versions/ffffffffffff", StatusCode::NOT_FOUND),
        ("/privacy/versions/..%2f..%2fetc", StatusCode::NOT_FOUND),
        (
            &format!("/privacy/versions/{}", "a".repeat(5000)),
            StatusCode::NOT_FOUND,
        ),
    ] {
        assert_eq!(public(&app, path).await.0, status, "{path}");
    }
}
