//! The breach register against a real data folder with a clock the test
//! moves: the clock's states over 24/48/66/72 hours, a late notification
//! that needs its reasons, updates folded in order, the text sealed.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use kirjuri_core::access::Actor;
use kirjuri_core::breach::{Alert, ClockState};
use kirjuri_core::clock::FixedClock;
use kirjuri_core::role::Role;
use kirjuri_core::username::UserName;
use secrecy::SecretString;
use serde_json::{Value, json};

use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    app: Kirjuri,
    clock: Arc<FixedClock>,
    rea: (Actor, UserId),
}

fn start() -> DateTime<Utc> {
    "2026-03-02T08:00:00Z".parse().unwrap()
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::Config {
        data: dir.path().to_path_buf(),
        ..crate::Config::default()
    };
    let clock = Arc::new(FixedClock::new(start()));
    let app = Kirjuri::open(config, clock.clone()).await.unwrap();
    let password = SecretString::from("A-Long-Test-Passw0rd-For-Incidents");
    let rea = app
        .add_user("rea", Role::Registrar, &password)
        .await
        .unwrap();
    let actor = Actor {
        name: UserName::parse("rea", "test").unwrap(),
        role: Role::Registrar,
        confidentiality_agreement: false,
        reason: None,
    };
    Fixture {
        _dir: dir,
        app,
        clock,
        rea: (actor, rea),
    }
}

fn input(value: Value) -> IncidentInput {
    serde_json::from_value(value).unwrap()
}

fn breach() -> Value {
    json!({
        "detected_at": "2026-03-02T07:30:00Z",
        "aware_at": "2026-03-02T08:00:00Z",
        "nature": "A laptop holding an export of Matti Meikäläinen's calls was stolen",
        "data_categories": ["phone numbers", "call recordings"],
        "subject_categories": ["customers"],
        "approx_subjects": 40,
        "approx_records": 120,
        "consequences": "Callers may be identified",
        "measures": "Disk encryption confirmed; tokens revoked",
        "notify_authority": true,
        "notify_reasoning": "Recordings are personal data with a risk"
    })
}

#[tokio::test]
async fn the_clock_raises_its_alerts_then_goes_overdue_as_time_passes() {
    let f = fixture().await;
    let (actor, id) = &f.rea;
    let recorded = f
        .app
        .record_incident(actor, *id, input(breach()))
        .await
        .unwrap();
    assert_eq!(recorded.clock.state, ClockState::Open);
    for (hours, state, alert) in [
        (1, ClockState::Open, None),
        (24, ClockState::Open, Some(Alert::Hours24)),
        (48, ClockState::Open, Some(Alert::Hours48)),
        (66, ClockState::Open, Some(Alert::Hours66)),
        (72, ClockState::Overdue, None),
    ] {
        f.clock.set(start() + TimeDelta::hours(hours));
        let listed = f.app.incidents(actor, *id).await.unwrap();
        assert_eq!(listed[0].clock.state, state, "{hours} h");
        assert_eq!(listed[0].clock.alert, alert, "{hours} h");
    }

    // Notified at 73 h: the reasons for the delay are required…
    f.clock.set(start() + TimeDelta::hours(73));
    let late = json!({"authority_notified_at": "2026-03-05T09:00:00Z"});
    let err = f
        .app
        .update_incident(actor, *id, recorded.id, input(late.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "delay_reasons_required");
    assert!(err.to_string().starts_with("delay_reasons"));
    assert_eq!(
        f.app
            .incident(actor, *id, recorded.id)
            .await
            .unwrap()
            .entries
            .len(),
        1
    );

    // …and with them the notification is recorded as late.
    let mut with_reasons = late;
    with_reasons["delay_reasons"] = json!("The laptop's contents were confirmed only on day 3");
    with_reasons["authority_reference"] = json!("TSV-2026-123");
    let view = f
        .app
        .update_incident(actor, *id, recorded.id, input(with_reasons))
        .await
        .unwrap();
    assert_eq!(view.clock.state, ClockState::NotifiedLate);
    assert_eq!(view.entries.len(), 2);
    assert_eq!(
        view.current.text.authority_reference.as_deref(),
        Some("TSV-2026-123")
    );
    assert_eq!(
        view.current.text.nature.as_deref(),
        Some("A laptop holding an export of Matti Meikäläinen's calls was stolen"),
        "the fold keeps what earlier entries stated"
    );
}

#[tokio::test]
async fn a_decision_not_to_notify_stops_the_clock_and_the_text_is_sealed() {
    let f = fixture().await;
    let (actor, id) = &f.rea;
    let mut body = breach();
    body["notify_authority"] = json!(false);
    let recorded = f
        .app
        .record_incident(actor, *id, input(body))
        .await
        .unwrap();
    f.clock.set(start() + TimeDelta::days(10));
    let view = f.app.incident(actor, *id, recorded.id).await.unwrap();
    assert_eq!(view.clock.state, ClockState::NotRequired);

    let rows = f.app.store.incident_updates(&[recorded.id]).await.unwrap();
    let needle = "Meikäläinen".as_bytes();
    for row in &rows {
        assert!(!row.text.sealed.windows(needle.len()).any(|w| w == needle));
        assert!(!row.facts.contains("Meik"));
    }
}
