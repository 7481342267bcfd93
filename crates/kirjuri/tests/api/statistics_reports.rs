//! The reports beside the contacts report (STAT-1, issue 15) through the
//! real binary: `GET /api/v1/statistics/{surveys,requests,disclosures}`.
//! Requests withdrawn and disclosures approved over the API are counted
//! into their anonymous roll-ups and reported under the same k control —
//! a right asked for by two people is never published, CSV carries no
//! suppressed number, a refused disclosure counts nothing and the recipient's
//! name and case reference are in no answer. The survey report (its
//! roll-ups seeded directly, as the benchmark does, since the report reads
//! only them) publishes a mean score only over k answers or more whose
//! split has no small count. Agents and integrations are refused (403) on
//! every report, hostile queries get 400/422 and release nothing, and a
//! release is audited with the report's name.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, design_example, json_ok, spawn_app};

/// The new reports' paths.
const REPORTS: [&str; 3] = ["surveys", "requests", "disclosures"];

/// Today in Helsinki, as the binary under test sees it (its clock is the
/// real one).
#[allow(
    clippy::disallowed_methods,
    reason = "the binary under test reads the real clock; the closings are counted on its day"
)]
fn today() -> String {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Helsinki)
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}

async fn report(app: &TestApp, token: &str, name: &str, query: &[(&str, &str)]) -> Response {
    let url =
        reqwest::Url::parse_with_params(&app.url(&format!("/api/v1/statistics/{name}")), query)
            .unwrap();
    app.client.get(url).bearer_auth(token).send().await.unwrap()
}

async fn post(app: &TestApp, token: &str, path: &str, body: Option<&Value>) -> Response {
    let request = app.client.post(app.url(path)).bearer_auth(token);
    let request = match body {
        Some(body) => request.json(body),
        None => request,
    };
    request.send().await.unwrap()
}

fn releases(audit: &Value, report: &str) -> usize {
    audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "statistics.released" && e["details"]["report"] == report)
        .count()
}

/// Every number published anywhere in a report's cells and margins.
fn published_numbers(body: &Value) -> Vec<u64> {
    let mut out = Vec::new();
    let mut entries: Vec<&Value> = body["cells"].as_array().unwrap().iter().collect();
    for margin in ["rows", "columns"] {
        if let Some(list) = body["totals"][margin].as_array() {
            entries.extend(list);
        }
    }
    entries.push(&body["totals"]["all"]);
    for entry in entries {
        for key in ["count", "invited", "answered"] {
            if let Some(n) = entry[key].as_u64() {
                out.push(n);
            }
        }
        if let Some(scores) = entry["scores"].as_array() {
            out.extend(scores.iter().map(|s| s.as_u64().unwrap()));
        }
    }
    out
}

#[tokio::test]
async fn closed_requests_are_counted_on_time_and_a_right_asked_by_two_is_never_published() {
    // Arrange: six access requests and two erasure requests, each
    // registered and withdrawn the same day (so on time).
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");
    for (n, kind) in std::iter::repeat_n("access", 6)
        .chain(std::iter::repeat_n("erasure", 2))
        .enumerate()
    {
        let body = json!({
            "types": [kind], "channel": "in_person", "language": "fi",
            "identifiers": {"phone": [format!("040 555 00{n:02}")]},
            "name": "Maija Meikäläinen",
        });
        let created = post(&app, &rea, "/api/v1/requests", Some(&body)).await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let id = created.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let moved = post(
            &app,
            &rea,
            &format!("/api/v1/requests/{id}/transition"),
            Some(&json!({"transition": "withdraw"})),
        )
        .await;
        assert_eq!(moved.status(), StatusCode::OK);
    }
    let day = today();
    let query = [
        ("by", "right,timeliness"),
        ("from", day.as_str()),
        ("to", day.as_str()),
    ];

    // Act
    let body = json_ok(report(&app, &app.tokens.sanna, "requests", &query).await).await;
    let csv = report(
        &app,
        &app.tokens.sanna,
        "requests",
        &[&query[..], &[("format", "csv")]].concat(),
    )
    .await
    .text()
    .await
    .unwrap();

    // Assert
    let cell = |right: &str, timeliness: &str| {
        body["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["right"] == right && c["timeliness"] == timeliness)
            .unwrap_or_else(|| panic!("no {right}/{timeliness} in {body}"))
            .clone()
    };
    assert_eq!(body["report"], "requests");
    assert_eq!(cell("erasure", "on_time")["count"], Value::Null, "{body}");
    assert_eq!(cell("erasure", "on_time")["suppressed"], true);
    assert_eq!(
        cell("access", "late")["outcome"],
        Value::Null,
        "not asked for"
    );
    // The erasure row's total would give it away: it is suppressed too.
    let erasure_total = body["totals"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["right"] == "erasure")
        .unwrap();
    assert_eq!(erasure_total["count"], Value::Null, "{body}");
    for n in published_numbers(&body) {
        assert!(n % 5 == 0, "{n} is not rounded to k in {body}");
    }
    assert!(
        csv.starts_with("kind,right,timeliness,count,suppressed\n"),
        "{csv}"
    );
    for line in csv.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.last() == Some(&"true") {
            assert_eq!(fields[3], "", "a suppressed count in {line}");
        }
        assert!(
            !["1", "2", "3", "4"].contains(&fields[3]),
            "a small count in {line}"
        );
    }
    let text = body.to_string() + &csv;
    assert!(!text.contains("Maija") && !text.contains("040"), "{text}");
}

#[tokio::test]
async fn approved_disclosures_are_counted_by_recipient_kind_and_a_refused_one_not() {
    // Arrange: six disclosures to the police approved by a second
    // registrar, one refused.
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");
    let rolf = app.add_account("rolf", "registrar");
    let created = post(
        &app,
        &rea,
        "/api/v1/recipients",
        Some(&json!({"name": "Helsingin poliisilaitos", "kind": "police", "country": "FI"})),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let police = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for n in 0..7 {
        let contact = app.new_contact(&design_example(&format!("pbx-{n}"))).await;
        let asked = post(
            &app,
            &rea,
            "/api/v1/disclosures",
            Some(
                &json!({"recipient": police, "legal_ground": "Poliisilaki 872/2011 4 luku 3 §",
                         "reference": "5500/R/12345/26", "scope": {"contacts": [contact]}}),
            ),
        )
        .await;
        let status = asked.status();
        let asked: Value = asked.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{asked}");
        let id = asked["id"].as_str().unwrap();
        let decision = if n < 6 { "approve" } else { "refuse" };
        let body = (decision == "refuse").then(|| json!({"reason": "Not needed after all."}));
        let decided = post(
            &app,
            &rolf,
            &format!("/api/v1/disclosures/{id}/{decision}"),
            body.as_ref(),
        )
        .await;
        let status = decided.status();
        assert!(status.is_success(), "{}", decided.text().await.unwrap());
    }
    let day = today();
    let query = [("from", day.as_str()), ("to", day.as_str())];

    // Act
    let body = json_ok(report(&app, &app.tokens.sanna, "disclosures", &query).await).await;

    // Assert: six approved, published rounded to five.
    assert_eq!(body["by"], json!(["recipient_kind"]));
    assert_eq!(
        body["cells"],
        json!([{"recipient_kind": "police", "count": 5, "suppressed": false}]),
        "{body}"
    );
    let rows = app.sql("SELECT day, recipient_kind, disclosures FROM disclosure_rollups");
    assert_eq!(rows.trim(), format!("{day}|police|6"));
    let text = body.to_string();
    assert!(
        !text.contains("poliisilaitos") && !text.contains("5500"),
        "{text}"
    );
}

/// Seeds one survey roll-up row.
fn seed_survey(app: &TestApp, day: &str, service: &str, invited: u32, scores: [u32; 5]) {
    let answered: u32 = scores.iter().sum();
    app.sql(&format!(
        "INSERT INTO survey_rollups (day, service, invited, answered, score_1, score_2, \
         score_3, score_4, score_5) VALUES ('{day}', '{service}', {invited}, {answered}, \
         {}, {}, {}, {}, {})",
        scores[0], scores[1], scores[2], scores[3], scores[4]
    ));
}

#[tokio::test]
async fn a_mean_score_is_published_only_over_k_answers_with_no_small_score_count() {
    // Arrange: in January billing has 12 answers, 6 of 4 and 6 of 5, and
    // parking 7 answers, two of them a 3; in February water has only 3.
    let app = spawn_app().await;
    seed_survey(&app, "2026-01-15", "billing", 30, [0, 0, 0, 6, 6]);
    seed_survey(&app, "2026-01-20", "parking", 14, [0, 0, 2, 0, 5]);
    seed_survey(&app, "2026-02-10", "water", 9, [0, 0, 1, 1, 1]);
    let january = [
        ("by", "service"),
        ("from", "2026-01-01"),
        ("to", "2026-01-31"),
        ("period", "month"),
    ];
    let two_months = [
        ("by", "service,period"),
        ("from", "2026-01-01"),
        ("to", "2026-02-28"),
        ("period", "month"),
    ];

    // Act
    let body = json_ok(report(&app, &app.tokens.sanna, "surveys", &january).await).await;
    let two_way = json_ok(report(&app, &app.tokens.sanna, "surveys", &two_months).await).await;
    let csv = report(
        &app,
        &app.tokens.sanna,
        "surveys",
        &[&two_months[..], &[("format", "csv")]].concat(),
    )
    .await
    .text()
    .await
    .unwrap();

    // Assert
    let cell = |body: &Value, service: &str, period: Option<&str>| {
        body["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["service"] == service && period.is_none_or(|p| c["period"] == p))
            .unwrap_or_else(|| panic!("no {service} in {body}"))
            .clone()
    };
    let billing = cell(&body, "billing", None);
    assert_eq!(billing["invited"], 30);
    assert_eq!(billing["answered"], 10, "12 rounded to a multiple of 5");
    assert_eq!(billing["mean_score"], 4.5);
    assert_eq!(billing["scores"], json!([0, 0, 0, 5, 5]));
    assert_eq!(billing["response_rate"], 33);
    let parking = cell(&body, "parking", None);
    assert_eq!(parking["answered"], 5, "{body}");
    assert_eq!(
        parking["mean_score"],
        Value::Null,
        "a score given by 2: {body}"
    );
    assert_eq!(parking["scores"], Value::Null);
    assert_eq!(parking["suppressed"], true);
    // In all, 19 answers, but a 3 given by two: no mean either.
    assert_eq!(body["totals"]["all"]["mean_score"], Value::Null);
    let water = cell(&two_way, "water", Some("2026-02"));
    assert_eq!(water["answered"], Value::Null, "3 answers: {two_way}");
    assert_eq!(water["mean_score"], Value::Null, "the mean of 3 answers");
    assert_eq!(water["scores"], Value::Null);
    for n in published_numbers(&body)
        .into_iter()
        .chain(published_numbers(&two_way))
    {
        assert!(n % 5 == 0, "{n} is not rounded to k");
    }
    assert!(
        csv.starts_with(
            "kind,service,period,invited,answered,response_rate,mean_score,score_1,score_2,\
             score_3,score_4,score_5,suppressed\n"
        ),
        "{csv}"
    );
    let water_line = csv
        .lines()
        .find(|l| l.starts_with("cell,water,2026-02,"))
        .unwrap();
    let fields: Vec<&str> = water_line.split(',').collect();
    assert!(
        fields[4..12].iter().all(|f| f.is_empty()),
        "nothing of water's 3 answers in {water_line}"
    );
    assert_eq!(fields[12], "true");
}

/// A hostile query, the status it gets and its error code.
type Case<'a> = (Vec<(&'a str, &'a str)>, StatusCode, &'a str);

#[tokio::test]
async fn agents_and_integrations_are_refused_every_report_and_hostile_queries_release_nothing() {
    // Arrange
    let app = spawn_app().await;
    let window = [("from", "2026-01-01"), ("to", "2026-01-31")];

    // Act / Assert
    for name in REPORTS {
        for token in [&app.tokens.aino, &app.tokens.pbx] {
            assert_error(
                report(&app, token, name, &window).await,
                StatusCode::FORBIDDEN,
            )
            .await;
        }
        let foreign = match name {
            "surveys" => "channel",
            "requests" => "service",
            _ => "right",
        };
        let cases: Vec<Case> = vec![
            (
                vec![
                    ("by", foreign),
                    ("from", "2026-01-01"),
                    ("to", "2026-01-31"),
                ],
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_dimension",
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
                vec![("from", "0001-01-01"), ("to", "9999-12-31")],
                StatusCode::UNPROCESSABLE_ENTITY,
                "window_too_large",
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
                    ("recipient", "x"),
                ],
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
            ),
        ];
        for (query, status, code) in &cases {
            let (got, _) =
                assert_error(report(&app, &app.tokens.sanna, name, query).await, *status).await;
            assert_eq!(&got, code, "{name} {query:?}");
        }
    }
    let audit = json_ok(app.audit_log(&app.tokens.sanna, &[("limit", "1000")]).await).await;
    for name in REPORTS {
        assert_eq!(releases(&audit, name), 0, "nothing of {name} was released");
    }
    json_ok(report(&app, &app.tokens.sanna, "surveys", &window).await).await;
    let audit = json_ok(app.audit_log(&app.tokens.sanna, &[("limit", "1000")]).await).await;
    assert_eq!(releases(&audit, "surveys"), 1, "a release names its report");
}
