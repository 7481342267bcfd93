//! The statistics (`GET /api/v1/statistics/contacts`, STAT-1) through the
//! real binary: a supervisor's report counts the contacts delivered, once
//! each however often a delivery is retried, with small cells suppressed
//! and every count rounded to k; the report is the same after `kirjuri
//! purge` has erased the contacts it counts; CSV carries the same table;
//! agents, maintainers, administrators and integrations are refused (403,
//! audited); hostile queries — unknown dimensions, bad or unaligned dates,
//! a huge window, an unknown parameter — are refused with 4xx and release
//! nothing; parallel readers all get the same answer; a threshold below 3
//! refuses to start, naming the setting.

use std::process::Stdio;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use chrono_tz::Europe::Helsinki;
use futures::future::join_all;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, json_ok, spawn_app};

/// Today, as the binary under test sees it (its clock is the real one).
#[allow(
    clippy::disallowed_methods,
    reason = "the binary under test reads the real clock; the contacts are placed relative to it"
)]
fn today() -> DateTime<Utc> {
    Utc::now()
}

fn report_url(app: &TestApp, query: &[(&str, &str)]) -> reqwest::Url {
    reqwest::Url::parse_with_params(&app.url("/api/v1/statistics/contacts"), query).unwrap()
}

async fn report(app: &TestApp, token: &str, query: &[(&str, &str)]) -> Response {
    app.client
        .get(report_url(app, query))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Delivers `n` contacts of `channel` and `service` that started at
/// `started` (a second apart), with external ids `{tag}-{i}`; answers the
/// statuses (201 stored, 200 already there).
async fn deliver(
    app: &TestApp,
    n: usize,
    channel: &str,
    service: &str,
    started: DateTime<Utc>,
    tag: &str,
) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    for i in 0..n {
        let at = started + Duration::seconds(i as i64);
        let contact = json!({
            "external_id": format!("{tag}-{i}"),
            "channel": channel,
            "started_at": at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "ended_at": (at + Duration::seconds(200)).to_rfc3339_opts(SecondsFormat::Secs, true),
            "agent": "aino",
            "service": service,
            "customer": {"name": "Matti Meikäläinen", "phone": "040 123 4567"},
        });
        statuses.push(app.create_contact(&app.tokens.pbx, &contact).await.status());
    }
    statuses
}

/// The Helsinki date of an instant, as the query wants it.
fn day(at: DateTime<Utc>) -> String {
    at.with_timezone(&Helsinki)
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}

fn cell<'a>(body: &'a Value, channel: &str, service: &str) -> &'a Value {
    body["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == channel && c["service"] == service)
        .unwrap_or_else(|| panic!("no cell {channel}/{service} in {body}"))
}

fn releases(audit: &Value) -> usize {
    audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "statistics.released")
        .count()
}

#[tokio::test]
async fn a_report_counts_each_contact_once_suppresses_small_cells_and_survives_the_purge() {
    // Arrange: 400 days ago (past the 12 months contact metadata is kept),
    // at noon Helsinki time so the day is unambiguous.
    let app = spawn_app().await;
    let when = (today() - Duration::days(400))
        .with_timezone(&Helsinki)
        .date_naive()
        .and_hms_opt(9, 0, 0)
        .unwrap()
        .and_utc();
    deliver(&app, 23, "call_in", "billing", when, "bill").await;
    deliver(&app, 12, "call_in", "water", when, "water").await;
    deliver(&app, 8, "chat", "billing", when, "chat-bill").await;
    deliver(&app, 2, "chat", "water", when, "chat-water").await;
    // A retried delivery: the same external ids again count nothing.
    let retried = deliver(&app, 2, "chat", "water", when, "chat-water").await;
    assert_eq!(retried, vec![StatusCode::OK; 2]);
    let window = [
        ("by", "channel,service"),
        ("from", &day(when)),
        ("to", &day(when)),
    ];

    // Act
    let before = json_ok(report(&app, &app.tokens.sanna, &window).await).await;
    let purge = app
        .kirjuri()
        .command(&["purge"])
        .stdin(Stdio::null())
        .output()
        .expect("kirjuri purge runs");
    let after = json_ok(report(&app, &app.tokens.sanna, &window).await).await;

    // Assert
    assert!(
        purge.status.success(),
        "{}",
        String::from_utf8_lossy(&purge.stderr)
    );
    assert_eq!(before["k"], 5);
    assert_eq!(before["rounding"], 5);
    // chat/water holds 2: suppressed, and with it enough of its row and
    // column that neither margin gives it away.
    let small = cell(&before, "chat", "water");
    assert_eq!(small["count"], Value::Null);
    assert_eq!(small["suppressed"], true);
    let suppressed = before["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["suppressed"] == true)
        .count();
    assert!(suppressed >= 4, "secondary suppression: {before}");
    // Margins are published rounded to 5: 45 contacts in all.
    assert_eq!(before["totals"]["all"]["count"], 45);
    let erased = app.sql("SELECT count(*) FROM contacts WHERE length(document_key) = 0");
    assert_eq!(
        erased.trim(),
        "45",
        "the purge erased every counted contact"
    );
    assert_eq!(
        after, before,
        "statistics outlive the contacts they counted"
    );
}

#[tokio::test]
async fn csv_carries_the_same_table_and_json_only_aggregates() {
    // Arrange
    let app = spawn_app().await;
    let when = today() - Duration::days(3);
    deliver(&app, 7, "call_in", "billing", when, "a").await;
    deliver(&app, 6, "email", "billing", when, "b").await;
    let from = day(when - Duration::days(1));
    let to = day(when + Duration::days(1));
    let query = [
        ("by", "channel"),
        ("from", from.as_str()),
        ("to", to.as_str()),
    ];

    // Act
    let json = json_ok(report(&app, &app.tokens.sanna, &query).await).await;
    let response = report(
        &app,
        &app.tokens.sanna,
        &[&query[..], &[("format", "csv")]].concat(),
    )
    .await;
    let status = response.status();
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    let csv = response.text().await.unwrap();

    // Assert
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    assert_eq!(
        csv,
        "kind,channel,count,suppressed\ncell,call_in,5,false\ncell,email,5,false\ntotal,,15,false\n"
    );
    assert_eq!(json["cells"].as_array().unwrap().len(), 2);
    assert_eq!(json["totals"]["all"]["count"], 15);
    let text = json.to_string();
    for personal in ["Matti", "040", "aino", "+358"] {
        assert!(!text.contains(personal), "{personal} in {text}");
    }
}

#[tokio::test]
async fn only_supervisors_registrars_and_the_responsible_person_read_statistics() {
    // Arrange
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");
    let vastaava = app.add_account("vastaava", "responsible");
    let admin = app.add_account("ylla", "admin");
    let maint = app.add_account("huolto", "maintainer");
    let query = [("from", "2026-01-01"), ("to", "2026-01-31")];

    // Act / Assert
    for token in [&app.tokens.sanna, &rea, &vastaava] {
        json_ok(report(&app, token, &query).await).await;
    }
    for token in [&app.tokens.aino, &app.tokens.pbx, &admin, &maint] {
        assert_error(report(&app, token, &query).await, StatusCode::FORBIDDEN).await;
    }
    let unauthenticated = app
        .client
        .get(report_url(&app, &query))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    let audit = json_ok(app.audit_log(&app.tokens.sanna, &[("limit", "1000")]).await).await;
    assert_eq!(
        releases(&audit),
        3,
        "each release is audited, refusals release nothing"
    );
    let refused = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "access.denied")
        .count();
    assert!(refused >= 4, "refusals are audited: {audit}");
}

/// A hostile query, the status it gets and its error code.
type Case<'a> = (Vec<(&'a str, &'a str)>, StatusCode, &'a str);

#[tokio::test]
async fn hostile_queries_are_refused_and_release_nothing() {
    // Arrange
    let app = spawn_app().await;
    let long_by = "channel,".repeat(200);
    let cases: Vec<Case> = vec![
        (
            vec![
                ("by", "agent"),
                ("from", "2026-01-01"),
                ("to", "2026-01-31"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_dimension",
        ),
        (
            vec![
                ("by", "channel,service,period"),
                ("from", "2026-01-01"),
                ("to", "2026-01-31"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_dimension",
        ),
        (
            vec![
                ("by", long_by.as_str()),
                ("from", "2026-01-01"),
                ("to", "2026-01-31"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_dimension",
        ),
        (
            vec![("from", "2026-02-30"), ("to", "2026-03-31")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_window",
        ),
        (
            vec![("from", "yesterday"), ("to", "2026-03-31")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_window",
        ),
        (
            vec![("to", "2026-03-31")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_window",
        ),
        (
            vec![("from", "2026-03-31"), ("to", "2026-03-01")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_window",
        ),
        (
            vec![("from", "0001-01-01"), ("to", "9999-12-31")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "window_too_large",
        ),
        (
            vec![
                ("from", "2026-01-02"),
                ("to", "2026-01-31"),
                ("period", "month"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "unaligned_window",
        ),
        (
            vec![
                ("from", "2026-01-01"),
                ("to", "2026-01-31"),
                ("period", "hour"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_period",
        ),
        (
            vec![
                ("from", "2026-01-01"),
                ("to", "2026-01-31"),
                ("format", "xml"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_format",
        ),
        (
            vec![
                ("from", "2026-01-01"),
                ("to", "2026-01-31"),
                ("agent", "aino"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
    ];

    // Act / Assert
    for (query, status, code) in &cases {
        let (got, _) = assert_error(report(&app, &app.tokens.sanna, query).await, *status).await;
        assert_eq!(&got, code, "{query:?}");
    }
    let audit = json_ok(app.audit_log(&app.tokens.sanna, &[("limit", "1000")]).await).await;
    assert_eq!(releases(&audit), 0, "nothing was released");
}

#[tokio::test]
async fn parallel_readers_get_the_same_report() {
    // Arrange
    let app = spawn_app().await;
    let when = today() - Duration::days(2);
    deliver(&app, 9, "chat", "billing", when, "p").await;
    let from = day(when);
    let query = [
        ("by", "service,handling_time"),
        ("from", from.as_str()),
        ("to", from.as_str()),
    ];

    // Act
    let answers = join_all((0..8).map(|_| report(&app, &app.tokens.sanna, &query))).await;

    // Assert
    let mut bodies = Vec::new();
    for answer in answers {
        bodies.push(json_ok(answer).await);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(
        bodies[0]["totals"]["all"]["count"], 10,
        "9 rounded to a multiple of 5"
    );
    let audit = json_ok(app.audit_log(&app.tokens.sanna, &[("limit", "1000")]).await).await;
    assert_eq!(releases(&audit), 8);
}

#[tokio::test]
async fn a_threshold_below_three_refuses_to_start_naming_the_setting() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let output = app
        .kirjuri()
        .command(&["serve"])
        .env("KIRJURI_STATISTICS__K", "2")
        .env("KIRJURI_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .output()
        .expect("kirjuri runs");

    // Assert
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("statistics.k"), "{stderr}");
}
