//! The survey settings page (`/surveys`, SURV-1; issue 15 §5) as an
//! attacker meets it, through the real binary with a browser session: a
//! supervisor's change is stored and audited once, through the same
//! application call as the API; a forged CSRF token, an agent (who is not
//! even shown the link), values out of range, numbers that are not
//! numbers, blank texts, an overlong service and an oversized body are
//! refused with the failing field marked beside it, and nothing is stored
//! or audited.

use reqwest::StatusCode;

use crate::helpers::{TestApp, spawn_app};
use crate::requests_ui::{form, page, session};

fn count(app: &TestApp, sql: &str) -> u64 {
    app.sql(sql).trim().parse().unwrap()
}

/// What the page's writes leave behind: settings rows and their audit.
fn written(app: &TestApp) -> (u64, u64) {
    (
        count(app, "SELECT count(*) FROM survey_configs;"),
        count(
            app,
            "SELECT count(*) FROM audit_events WHERE action = 'survey.configured';",
        ),
    )
}

/// A complete new-service form, with `changes` applied.
fn fields<'a>(csrf: &'a str, changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("csrf_token", csrf),
        ("service", "water-billing"),
        ("enabled", "on"),
        ("sample_per_mille", "250"),
        ("delay_minutes", "60"),
        ("quiet_start", "21:00"),
        ("quiet_end", "09:00"),
        ("period_days", "90"),
        ("text_fi", "Miten onnistuimme? Vastaa 1-5."),
        ("text_sv", "Hur lyckades vi? Svara 1-5."),
        ("text_en", "How did we do? Reply 1-5."),
    ];
    for (name, value) in changes {
        match fields.iter_mut().find(|(n, _)| n == name) {
            Some(field) => field.1 = value,
            None => fields.push((name, value)),
        }
    }
    fields
}

/// A post and the fields it must have marked.
type BadPost<'a> = (Vec<(&'a str, &'a str)>, &'a [&'a str]);

/// Whether `body` marks `field` of the new-service form as failing, with
/// its explanation named by `aria-describedby`.
fn marks(body: &str, field: &str) -> bool {
    body.contains(&format!("id=\"svc-new-{field}-error\""))
        && body.contains(&format!(
            "aria-describedby=\"svc-new-{field}-help svc-new-{field}-error\" aria-invalid=\"true\""
        ))
}

#[tokio::test]
async fn only_a_supervisors_valid_change_is_stored_and_each_bad_field_is_named() {
    // Arrange
    let app = spawn_app().await;
    let (supervisor, csrf) = session(&app, "sanna", "supervisor").await;
    let (agent, agent_csrf) = session(&app, "aino", "agent").await;
    let long_service = "s".repeat(201);
    let huge = "x".repeat(70_000);

    // Act: the refused posts first.
    let forged = form(&app, &supervisor, "/surveys", &fields("forged", &[])).await;
    let by_agent = form(&app, &agent, "/surveys", &fields(&agent_csrf, &[])).await;
    let (agent_get, _) = page(&app, &agent, "/surveys").await;
    let (_, agent_search) = page(&app, &agent, "/search").await;
    let bad: Vec<BadPost> = vec![
        (
            fields(&csrf, &[("sample_per_mille", "1001")]),
            &["sample_per_mille"],
        ),
        (
            fields(&csrf, &[("delay_minutes", "soon")]),
            &["delay_minutes"],
        ),
        (
            fields(&csrf, &[("period_days", "0"), ("quiet_end", "9")]),
            &["quiet_end", "period_days"],
        ),
        (fields(&csrf, &[("text_sv", "   ")]), &["text_sv"]),
        (fields(&csrf, &[("text_en", "a\u{1b}b")]), &["text_en"]),
        (fields(&csrf, &[("service", &long_service)]), &["service"]),
    ];
    let mut refused = Vec::new();
    for (posted, _) in &bad {
        refused.push(form(&app, &supervisor, "/surveys", posted).await);
    }
    let oversized = form(
        &app,
        &supervisor,
        "/surveys",
        &fields(&csrf, &[("text_fi", &huge)]),
    )
    .await;
    let after_refusals = written(&app);

    // Act: a real change, then a change of the stored service (the box
    // unticked: a browser then sends no `enabled`).
    let stored = form(&app, &supervisor, "/surveys", &fields(&csrf, &[])).await;
    let unticked: Vec<(&str, &str)> = fields(&csrf, &[("period_days", "30")])
        .into_iter()
        .filter(|(name, _)| *name != "enabled")
        .collect();
    let changed = form(&app, &supervisor, "/surveys", &unticked).await;
    let (listed_status, listed) = page(&app, &supervisor, "/surveys?saved=1").await;

    // Assert
    assert_eq!(forged.0, StatusCode::FORBIDDEN);
    assert_eq!(by_agent.0, StatusCode::FORBIDDEN);
    assert_eq!(agent_get, StatusCode::FORBIDDEN);
    assert!(
        !agent_search.contains("href=\"/surveys\""),
        "no link for an agent"
    );
    for ((posted, failing), (status, _, body)) in bad.iter().zip(&refused) {
        assert_eq!(
            *status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{:?}",
            &posted[1..]
        );
        for field in *failing {
            assert!(marks(body, field), "{field} is marked: {:?}", &posted[1..]);
        }
        let marked = body.matches("aria-invalid=\"true\"").count();
        assert_eq!(
            marked,
            failing.len(),
            "only the failing fields: {:?}",
            &posted[1..]
        );
        assert!(body.contains("id=\"surveys-error\""));
    }
    assert_eq!(oversized.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(after_refusals, (0, 0), "nothing stored, nothing audited");
    assert_eq!(
        (stored.0, stored.1.as_str()),
        (StatusCode::SEE_OTHER, "/surveys?saved=1")
    );
    assert_eq!(changed.0, StatusCode::SEE_OTHER);
    assert_eq!(written(&app), (1, 2), "one service, each change audited");
    assert_eq!(
        app.sql("SELECT enabled, period_days, version FROM survey_configs;")
            .trim(),
        "0|30|2"
    );
    assert_eq!(listed_status, StatusCode::OK);
    assert!(listed.contains("id=\"surveys-notice\""));
    assert!(
        listed.contains("href=\"/surveys\""),
        "the supervisor's navigation links it"
    );
    assert!(listed.contains("<th scope=\"row\">water-billing</th>"));
    assert!(listed.contains("id=\"svc-0-save\"") && listed.contains("id=\"svc-new-save\""));
}
