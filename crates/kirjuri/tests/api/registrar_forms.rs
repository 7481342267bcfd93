//! The registrar's disclosure-side forms as an attacker meets them
//! (issue 13 tests: "hostile input on every form stores nothing"), through
//! the real binary with a browser session: the recipients register
//! (`/recipients`), the disclosure request form (`/disclosures/new`) and a
//! disclosure's page (`/disclosures/{id}`). A forged or missing CSRF token,
//! a country outside the EU/EEA, oversized and control-character fields,
//! someone else's ids, invented actions and a role that may only read —
//! each is refused and the tables are as they were; of two parallel
//! registrations of one name exactly one is stored.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, design_example, spawn_app};
use crate::requests_ui::{form, page, session};

fn count(app: &TestApp, table: &str) -> u64 {
    app.sql(&format!("SELECT count(*) FROM {table};"))
        .trim()
        .parse()
        .unwrap()
}

/// The tables these forms write, with their row counts.
fn tables(app: &TestApp) -> Vec<(&'static str, u64)> {
    [
        "recipients",
        "disclosures",
        "disclosure_contacts",
        "disclosure_links",
    ]
    .into_iter()
    .map(|t| (t, count(app, t)))
    .collect()
}

fn recipient<'a>(
    csrf: &'a str,
    name: &'a str,
    kind: &'a str,
    country: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf_token", csrf),
        ("name", name),
        ("kind", kind),
        ("country", country),
    ]
}

#[tokio::test]
async fn the_recipients_form_refuses_hostile_input_and_stores_nothing() {
    // Arrange
    let app = spawn_app().await;
    app.add_account("rea", "registrar");
    let (cookie, csrf) = session(&app, "rea", "registrar").await;
    let long = "N".repeat(201);
    let huge = "x".repeat(70_000);

    // Act: hostile posts, then one good one and a parallel pair.
    let hostile: Vec<(Vec<(&str, &str)>, StatusCode)> = vec![
        (
            recipient("forged", "Poliisi", "police", "FI"),
            StatusCode::FORBIDDEN,
        ),
        (
            recipient(&csrf, "US Cloud Inc", "processor", "US"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            recipient(&csrf, "Nowhere", "police", "XX"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            recipient(&csrf, &long, "police", "FI"),
            StatusCode::BAD_REQUEST,
        ),
        (
            recipient(&csrf, "Hälytyskello\u{7}", "police", "FI"),
            StatusCode::BAD_REQUEST,
        ),
        (
            recipient(&csrf, "Spy", "spy_agency", "FI"),
            StatusCode::BAD_REQUEST,
        ),
        (
            recipient(&csrf, "Processor Oy", "processor", "FI"),
            StatusCode::BAD_REQUEST,
        ),
        (
            recipient(&csrf, &huge, "police", "FI"),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    let mut got = Vec::new();
    for (fields, _) in &hostile {
        got.push(form(&app, &cookie, "/recipients", fields).await);
    }
    let after_hostile = count(&app, "recipients");
    let energy = recipient(&csrf, "Energiavirasto", "authority", "FI");
    let pair = join_all((0..2).map(|_| form(&app, &cookie, "/recipients", &energy))).await;
    let (_, listed) = page(&app, &cookie, "/recipients").await;
    let (supervisor, supervisor_csrf) = session(&app, "sanna", "supervisor").await;
    let (read_status, read) = page(&app, &supervisor, "/recipients").await;
    let supervisor_post = form(
        &app,
        &supervisor,
        "/recipients",
        &recipient(&supervisor_csrf, "Poliisi", "police", "FI"),
    )
    .await;
    let (agent, _) = session(&app, "aino", "agent").await;
    let (agent_status, _) = page(&app, &agent, "/recipients").await;

    // Assert
    for ((fields, expected), (status, _, body)) in hostile.iter().zip(&got) {
        assert_eq!(status, expected, "{:?}", &fields[1..]);
        assert!(
            !body.contains("US Cloud") && !body.contains("Hälytyskello"),
            "nothing quoted back"
        );
    }
    assert_eq!(after_hostile, 0, "hostile posts stored nothing");
    let mut statuses: Vec<StatusCode> = pair.iter().map(|(s, _, _)| *s).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::SEE_OTHER, StatusCode::CONFLICT],
        "{pair:?}"
    );
    assert_eq!(count(&app, "recipients"), 1);
    assert!(listed.contains("Energiavirasto"));
    assert_eq!(read_status, StatusCode::OK);
    assert!(read.contains("Energiavirasto"));
    assert!(
        !read.contains("id=\"add-recipient\""),
        "a supervisor only reads"
    );
    assert_eq!(supervisor_post.0, StatusCode::FORBIDDEN);
    assert_eq!(agent_status, StatusCode::FORBIDDEN);
    assert_eq!(count(&app, "recipients"), 1);
}

#[tokio::test]
async fn the_disclosure_forms_refuse_hostile_input_and_someone_elses_ids() {
    // Arrange: the police registered, one contact, a second registrar.
    let app = spawn_app().await;
    let rea = app.add_account("rea", "registrar");
    app.add_account("rolf", "registrar");
    let response = app
        .client
        .post(app.url("/api/v1/recipients"))
        .bearer_auth(&rea)
        .json(&json!({"name": "Helsingin poliisilaitos", "kind": "police", "country": "FI"}))
        .send()
        .await
        .unwrap();
    let police = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let contact = app.new_contact(&design_example("pbx-form-1")).await;
    let (cookie, csrf) = session(&app, "rea", "registrar").await;
    let before = tables(&app);
    let ask = |csrf: &str, recipient: &str, ground: &str, contacts: &str| {
        vec![
            ("csrf_token".to_owned(), csrf.to_owned()),
            ("recipient".to_owned(), recipient.to_owned()),
            ("legal_ground".to_owned(), ground.to_owned()),
            ("reference".to_owned(), "5500/R/1/26".to_owned()),
            ("categories".to_owned(), "metadata".to_owned()),
            ("contacts".to_owned(), contacts.to_owned()),
        ]
    };
    let ghost = "0192f5c4-8f5e-7000-8000-000000000001";
    let many: String = (0..1001)
        .map(|i| format!("0192f5c4-8f5e-7000-8000-{i:012}"))
        .collect::<Vec<_>>()
        .join("\n");
    let ground = "Poliisilaki 872/2011 4 luku 3 §";
    let hostile = vec![
        (
            ask("forged", &police, ground, &contact),
            StatusCode::FORBIDDEN,
        ),
        (
            ask(&csrf, ghost, ground, &contact),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            ask(&csrf, "not-an-id", ground, &contact),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            ask(&csrf, &police, ground, ghost),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            ask(&csrf, &police, ground, "'; DROP TABLE disclosures; --"),
            StatusCode::BAD_REQUEST,
        ),
        (ask(&csrf, &police, ground, &many), StatusCode::BAD_REQUEST),
        (
            ask(&csrf, &police, &"G".repeat(5000), &contact),
            StatusCode::BAD_REQUEST,
        ),
        (
            ask(&csrf, &police, "line\nbreak", &contact),
            StatusCode::BAD_REQUEST,
        ),
        (ask(&csrf, &police, ground, ""), StatusCode::BAD_REQUEST),
    ];

    // Act
    let mut got = Vec::new();
    for (fields, _) in &hostile {
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        got.push(form(&app, &cookie, "/disclosures/new", &pairs).await);
    }
    let after_hostile = tables(&app);
    let good = ask(&csrf, &police, ground, &contact);
    let pairs: Vec<(&str, &str)> = good.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (created, location, _) = form(&app, &cookie, "/disclosures/new", &pairs).await;
    let own = form(
        &app,
        &cookie,
        &location,
        &[("csrf_token", &csrf), ("action", "approve")],
    )
    .await;
    let (rolf, rolf_csrf) = session(&app, "rolf", "registrar").await;
    let invented = form(
        &app,
        &rolf,
        &location,
        &[("csrf_token", &rolf_csrf), ("action", "publish")],
    )
    .await;
    let bad_days = form(
        &app,
        &rolf,
        &location,
        &[
            ("csrf_token", &rolf_csrf),
            ("action", "link"),
            ("days", "-1"),
        ],
    )
    .await;
    let foreign = form(
        &app,
        &rolf,
        &format!("/disclosures/{ghost}"),
        &[("csrf_token", &rolf_csrf), ("action", "approve")],
    )
    .await;
    let forged = form(
        &app,
        &rolf,
        &location,
        &[("csrf_token", "forged"), ("action", "approve")],
    )
    .await;
    let state = app.sql("SELECT state FROM disclosures;");

    // Assert
    for ((fields, expected), (status, _, body)) in hostile.iter().zip(&got) {
        assert_eq!(status, expected, "{:?}", &fields[1..]);
        assert!(
            !body.contains("DROP TABLE") && !body.contains("GGGG"),
            "nothing quoted back"
        );
    }
    assert_eq!(after_hostile, before, "hostile posts stored nothing");
    assert_eq!(created, StatusCode::SEE_OTHER);
    assert!(location.starts_with("/disclosures/"), "{location}");
    assert_eq!(own.0, StatusCode::FORBIDDEN, "the requester cannot approve");
    assert!(own.2.contains("four_eyes"));
    assert_eq!(invented.0, StatusCode::BAD_REQUEST);
    assert_eq!(bad_days.0, StatusCode::BAD_REQUEST);
    assert_eq!(foreign.0, StatusCode::NOT_FOUND);
    assert_eq!(forged.0, StatusCode::FORBIDDEN);
    assert_eq!(state.trim(), "awaiting_approval", "nothing moved it");
    assert_eq!(count(&app, "disclosure_links"), 0);
}
