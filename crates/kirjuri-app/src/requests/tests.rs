//! The request flow against a real data folder with a clock the test
//! moves: the pause policy both ways (reference §4 A.8, B.14), codes whose
//! digits the test knows (the right one after three wrong ones, an expired
//! right one), and what is sealed.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use kirjuri_core::access::Actor;
use kirjuri_core::clock::{Clock, FixedClock};
use kirjuri_core::ids::UserId;
use kirjuri_core::request::RequestState;
use kirjuri_core::role::Role;
use kirjuri_core::username::UserName;
use kirjuri_store::requests::{CodeRow, RequestEventRow};
use kirjuri_vault::IndexKind;
use secrecy::SecretString;
use uuid::Uuid;

use super::verify::SendTo;
use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    app: Kirjuri,
    clock: Arc<FixedClock>,
    rea: (Actor, UserId),
    rauno: (Actor, UserId),
}

fn actor(name: &str, role: Role) -> Actor {
    Actor {
        name: UserName::parse(name, "test").unwrap(),
        role,
        confidentiality_agreement: false,
        reason: None,
    }
}

async fn fixture(config: RequestsConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::Config {
        data: dir.path().to_path_buf(),
        requests: config,
        ..crate::Config::default()
    };
    let now: DateTime<Utc> = "2026-03-02T08:00:00Z".parse().unwrap();
    let clock = Arc::new(FixedClock::new(now));
    let app = Kirjuri::open(config, clock.clone()).await.unwrap();
    let password = SecretString::from("A-Long-Test-Passw0rd-For-Requests");
    let rea = app
        .add_user("rea", Role::Registrar, &password)
        .await
        .unwrap();
    let rauno = app
        .add_user("rauno", Role::Registrar, &password)
        .await
        .unwrap();
    Fixture {
        _dir: dir,
        app,
        clock,
        rea: (actor("rea", Role::Registrar), rea),
        rauno: (actor("rauno", Role::Registrar), rauno),
    }
}

fn input(types: &[&str]) -> RegisterInput {
    RegisterInput {
        types: types.iter().map(|t| (*t).to_owned()).collect(),
        channel: "phone".into(),
        language: "fi".into(),
        identifiers: Identifiers {
            phone: vec!["040 123 4567".into()],
            email: vec!["Maija.Meikalainen@Example.FI".into()],
            ..Identifiers::default()
        },
        objection_purposes: Vec::new(),
        received_at: None,
        name: Some("Maija Meikäläinen".into()),
        description: None,
    }
}

impl Fixture {
    async fn register(&self, types: &[&str]) -> Registered {
        let (actor, id) = &self.rea;
        self.app
            .register_request(actor, *id, input(types))
            .await
            .unwrap()
    }

    async fn step(&self, id: Uuid, transition: &str) -> Result<RequestView> {
        let (actor, actor_id) = &self.rea;
        self.app
            .move_request(actor, *actor_id, id, transition)
            .await
    }

    /// Stores a code the test knows for the request's phone.
    async fn known_code(&self, id: Uuid, code: &str) {
        self.known_code_to(id, IndexKind::Phone, "+358401234567", code)
            .await;
    }

    /// Stores a code the test knows for one of the request's addresses.
    async fn known_code_to(&self, id: Uuid, kind: IndexKind, address: &str, code: &str) {
        let hash = self
            .app
            .keyring
            .blind_indexer()
            .hash(kind, address)
            .to_vec();
        let now = self.clock.now();
        let row = CodeRow {
            kind: kind.as_str().into(),
            code_hash: self
                .app
                .keyring
                .one_time_codes()
                .hash(&super::verify::scope_for_tests(id, kind, &hash), code)
                .to_vec(),
            address_hash: hash,
            expires_at: now + TimeDelta::minutes(15),
            tries_left: 3,
            created_at: now,
        };
        let event = RequestEventRow {
            id: Uuid::now_v7(),
            at: now,
            actor: None,
            kind: "code_sent".into(),
            detail: serde_json::json!({}),
        };
        let audit = Step::done("code_sent", serde_json::json!({})).audit(now, None, Some(id));
        self.app
            .store
            .put_code(&id, &row, None, &event, &audit)
            .await
            .unwrap();
    }

    async fn confirm(&self, id: Uuid, code: &str) -> Result<VerificationOutcome> {
        let (actor, actor_id) = &self.rea;
        self.app
            .verify_request(
                actor,
                *actor_id,
                id,
                VerificationInput {
                    method: "sms_code".into(),
                    document_type: None,
                    document_last4: None,
                    send_to: None,
                    code: Some(code.into()),
                    assertion: None,
                },
            )
            .await
    }
}

#[tokio::test]
async fn awaiting_identity_stops_the_clock_by_default_and_the_due_date_moves_by_the_days_waited() {
    let f = fixture(RequestsConfig::default()).await;
    // Received Mon 2 Mar 2026: due Thu 2 Apr.
    let r = f.register(&["access"]).await;
    assert_eq!(r.due_date.to_string(), "2026-04-02");
    let view = f.step(r.id, "ask_identity").await.unwrap();
    assert!(view.clock_paused);
    // Ten days waiting for proof of identity.
    f.clock.set(f.clock.now() + TimeDelta::days(10));
    let view = f.app.read_request(&f.rea.0, f.rea.1, r.id).await.unwrap();
    assert_eq!(
        view.due_date.to_string(),
        "2026-04-13",
        "2 Apr + 10 days = Sun 12 Apr → Mon"
    );
    let (actor, actor_id) = &f.rea;
    let outcome = f
        .app
        .verify_request(
            actor,
            *actor_id,
            r.id,
            VerificationInput {
                method: "in_person".into(),
                document_type: Some("passport".into()),
                document_last4: Some("x9q7".into()),
                send_to: None,
                code: None,
                assertion: None,
            },
        )
        .await
        .unwrap();
    let VerificationOutcome::Verified { assurance, request } = outcome else {
        panic!("not verified");
    };
    assert_eq!(assurance, Assurance::High);
    assert_eq!(request.state, RequestState::Verified);
    assert!(!request.clock_paused);
    let kinds: Vec<&str> = request.timeline.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "registered",
            "moved",
            "clock_paused",
            "verified",
            "moved",
            "clock_resumed"
        ]
    );
    // The pause is kept: later the due date stays where the wait put it.
    f.clock.set(f.clock.now() + TimeDelta::days(5));
    let view = f.app.read_request(&f.rea.0, f.rea.1, r.id).await.unwrap();
    assert_eq!(view.due_date.to_string(), "2026-04-13");
}

#[tokio::test]
async fn with_no_pause_states_the_clock_runs_while_awaiting_identity() {
    let f = fixture(RequestsConfig {
        pause_states: Vec::new(),
        ..RequestsConfig::default()
    })
    .await;
    let r = f.register(&["access"]).await;
    let view = f.step(r.id, "ask_identity").await.unwrap();
    assert!(!view.clock_paused);
    f.clock.set(f.clock.now() + TimeDelta::days(10));
    let view = f.app.read_request(&f.rea.0, f.rea.1, r.id).await.unwrap();
    assert_eq!(view.due_date.to_string(), "2026-04-02");
}

#[tokio::test]
async fn the_right_code_is_accepted_but_not_after_three_wrong_ones_nor_once_expired() {
    let f = fixture(RequestsConfig::default()).await;
    // Accepted: the phone is proven by code, assurance substantial.
    let r = f.register(&["access"]).await;
    f.known_code(r.id, "123456").await;
    let VerificationOutcome::Verified { assurance, request } =
        f.confirm(r.id, "123456").await.unwrap()
    else {
        panic!("not verified");
    };
    assert_eq!(assurance, Assurance::Substantial);
    assert_eq!(request.state, RequestState::Verified);
    let phone = request
        .verification
        .identifiers
        .iter()
        .find(|i| i.kind == "phone")
        .unwrap();
    assert_eq!(phone.proven_by.as_deref(), Some("code"));
    assert_eq!(
        f.confirm(r.id, "123456").await.unwrap_err().code(),
        "no_code"
    );

    // Three wrong, then the right one: refused.
    let r = f.register(&["access"]).await;
    f.known_code(r.id, "654321").await;
    assert_eq!(
        f.confirm(r.id, "000000").await.unwrap_err().code(),
        "code_wrong"
    );
    assert_eq!(
        f.confirm(r.id, "000001").await.unwrap_err().code(),
        "code_wrong"
    );
    assert_eq!(
        f.confirm(r.id, "000002").await.unwrap_err().code(),
        "code_exhausted"
    );
    assert_eq!(
        f.confirm(r.id, "654321").await.unwrap_err().code(),
        "no_code"
    );

    // Expired: even the right one.
    let r = f.register(&["access"]).await;
    f.known_code(r.id, "111111").await;
    f.clock.set(f.clock.now() + TimeDelta::minutes(15));
    assert_eq!(
        f.confirm(r.id, "111111").await.unwrap_err().code(),
        "code_expired"
    );
    assert_eq!(
        f.confirm(r.id, "111111").await.unwrap_err().code(),
        "no_code"
    );
    let view = f.app.read_request(&f.rea.0, f.rea.1, r.id).await.unwrap();
    assert!(!view.verification.verified);
}

#[tokio::test]
async fn an_emailed_code_is_not_enough_for_the_recordings() {
    let f = fixture(RequestsConfig::default()).await;
    let r = f.register(&["access"]).await;
    let (actor, actor_id) = &f.rea;
    let sent = f
        .app
        .verify_request(
            actor,
            *actor_id,
            r.id,
            VerificationInput {
                method: "email_code".into(),
                document_type: None,
                document_last4: None,
                send_to: Some(SendTo {
                    kind: "email".into(),
                    value: "maija.meikalainen@example.fi".into(),
                }),
                code: None,
                assertion: None,
            },
        )
        .await
        .unwrap();
    assert!(matches!(sent, VerificationOutcome::CodeSent(_)));
    f.known_code_to(
        r.id,
        IndexKind::Email,
        "maija.meikalainen@example.fi",
        "246810",
    )
    .await;
    let VerificationOutcome::Verified { assurance, request } = f
        .app
        .verify_request(
            actor,
            *actor_id,
            r.id,
            VerificationInput {
                method: "email_code".into(),
                document_type: None,
                document_last4: None,
                send_to: None,
                code: Some("246810".into()),
                assertion: None,
            },
        )
        .await
        .unwrap()
    else {
        panic!("the code was not accepted");
    };
    // Proven, but only to low: still received, and neither verify nor
    // start moves it.
    assert_eq!(assurance, Assurance::Low);
    assert_eq!(request.state, RequestState::Received);
    assert!(!request.verification.verified);
    assert_eq!(
        f.step(r.id, "verify").await.unwrap_err().code(),
        "not_verified"
    );
    assert_eq!(
        f.step(r.id, "start").await.unwrap_err().code(),
        "transition_refused"
    );
}

#[tokio::test]
async fn a_refusal_needs_a_ground_and_a_second_registrar() {
    let f = fixture(RequestsConfig::default()).await;
    let r = f.register(&["erasure"]).await;
    assert_eq!(
        f.step(r.id, "refuse").await.unwrap_err().code(),
        "refusal_needs_approval"
    );
    let (rea, rea_id) = &f.rea;
    let error = f
        .app
        .propose_refusal(rea, *rea_id, r.id, "because", "reasons")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_ground");
    let view = f
        .app
        .propose_refusal(
            rea,
            *rea_id,
            r.id,
            "legal_obligation",
            "Accounting Act 2:10",
        )
        .await
        .unwrap();
    assert_eq!(view.refusal.unwrap().ground, "legal_obligation");
    let error = f.app.approve_refusal(rea, *rea_id, r.id).await.unwrap_err();
    assert_eq!(error.code(), "forbidden");
    let (rauno, rauno_id) = &f.rauno;
    let view = f.app.approve_refusal(rauno, *rauno_id, r.id).await.unwrap();
    assert_eq!(view.state, RequestState::Refused);
    assert!(view.closed_at.is_some());
    let kept = view.retain_until.unwrap() - view.closed_at.unwrap();
    assert!(kept >= TimeDelta::days(365 * 3), "{kept}");
}

#[tokio::test]
async fn the_sealed_details_hold_what_was_given_and_the_row_does_not() {
    let f = fixture(RequestsConfig::default()).await;
    let r = f.register(&["access"]).await;
    let row = f.app.store.request(&r.id).await.unwrap().unwrap();
    let details = f.app.open_details(&row).unwrap();
    assert_eq!(details.identifiers.phone, ["+358401234567"]);
    assert_eq!(details.name.as_deref(), Some("Maija Meikäläinen"));
    assert!(!row.details.sealed.windows(4).any(|w| w == b"4567"));
    assert!(!row.clock.contains("Maija"));
    assert!(r.reference.starts_with("DSR-2026-"), "{}", r.reference);
}

/// The reminders on a request's timeline, as `(reminder, due date)`.
async fn reminders(f: &Fixture, id: Uuid) -> Vec<(String, String)> {
    f.app
        .store
        .request_events(&id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "reminder")
        .map(|e| {
            (
                e.detail["reminder"].as_str().unwrap().to_owned(),
                e.detail["due_date"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Runs the watch once a day at 08:00 UTC from the clock's day to `until`.
async fn watch_daily_until(f: &Fixture, until: &str) {
    let until: DateTime<Utc> = format!("{until}T08:00:00Z").parse().unwrap();
    while f.clock.now() <= until {
        f.app.watch_requests().await.unwrap();
        f.clock.set(f.clock.now() + TimeDelta::days(1));
    }
}

#[tokio::test]
async fn reminders_come_at_seven_two_and_zero_days_once_each_and_again_after_an_extension() {
    let f = fixture(RequestsConfig {
        alert_to: vec![
            "tietosuoja@example.fi".into(),
            "rekisteri@example.fi".into(),
        ],
        ..RequestsConfig::default()
    })
    .await;
    // Received Monday 2 March 2026: due Thursday 2 April.
    let r = f.register(&["access"]).await;
    assert_eq!(r.due_date.to_string(), "2026-04-02");

    watch_daily_until(&f, "2026-03-27").await;
    assert_eq!(
        reminders(&f, r.id).await,
        [("seven_days".to_owned(), "2026-04-02".to_owned())]
    );
    let (rea, rea_id) = &f.rea;
    let view = f
        .app
        .extend_request(rea, *rea_id, r.id, 1, "Many recordings to review")
        .await
        .unwrap();
    assert_eq!(view.due_date.to_string(), "2026-05-04");

    watch_daily_until(&f, "2026-05-10").await;
    let got = reminders(&f, r.id).await;
    assert_eq!(
        got,
        [
            ("seven_days", "2026-04-02"),
            ("seven_days", "2026-05-04"),
            ("two_days", "2026-05-04"),
            ("due_day", "2026-05-04"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let alerts = f.app.store.outbox_messages(100).await.unwrap();
    let alerts = alerts
        .iter()
        .filter(|m| m.kind == "dsr.deadline_alert")
        .count();
    assert_eq!(alerts, 4 * 2, "each reminder alerts both addresses once");
    let audited = f
        .app
        .store
        .search_audit(&kirjuri_store::AuditFilter {
            action: Some("request.reminder".into()),
            limit: 100,
            ..kirjuri_store::AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(audited.len(), 4);
}

#[tokio::test]
async fn a_paused_clock_sends_no_reminder() {
    let f = fixture(RequestsConfig::default()).await;
    let r = f.register(&["access"]).await;
    f.step(r.id, "ask_identity").await.unwrap();
    watch_daily_until(&f, "2026-04-10").await;
    assert!(reminders(&f, r.id).await.is_empty());
}

#[tokio::test]
async fn a_closed_requests_record_goes_after_its_retention_and_not_a_day_before() {
    let f = fixture(RequestsConfig::default()).await;
    let r = f.register(&["information"]).await;
    let view = f.step(r.id, "withdraw").await.unwrap();
    let retain_until = view.retain_until.unwrap();
    assert!(retain_until - view.closed_at.unwrap() >= TimeDelta::days(3 * 365));

    f.clock.set(retain_until - TimeDelta::days(1));
    assert_eq!(f.app.watch_requests().await.unwrap().deleted, 0);
    assert!(f.app.store.request(&r.id).await.unwrap().is_some());

    f.clock.set(retain_until);
    assert_eq!(f.app.watch_requests().await.unwrap().deleted, 1);
    assert!(f.app.store.request(&r.id).await.unwrap().is_none());
    assert!(f.app.store.request_events(&r.id).await.unwrap().is_empty());
    assert!(
        f.app
            .store
            .request_identifiers(&r.id)
            .await
            .unwrap()
            .is_empty()
    );
    let audited = f
        .app
        .store
        .search_audit(&kirjuri_store::AuditFilter {
            action: Some("request.record_deleted".into()),
            limit: 10,
            ..kirjuri_store::AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].event.details["reference"], r.reference.as_str());
    assert_eq!(f.app.watch_requests().await.unwrap().deleted, 0);
}

#[tokio::test]
async fn a_request_names_others_within_thirty_days_for_the_same_person_and_right() {
    let f = fixture(RequestsConfig::default()).await;
    let (rea, rea_id) = &f.rea;
    let register = |types: &[&str], phone: &str, email: &str| {
        let mut input = input(types);
        input.identifiers.phone = vec![phone.into()];
        input.identifiers.email = vec![email.into()];
        f.app.register_request(rea, *rea_id, input)
    };
    let first = register(&["access"], "040 123 4567", "maija@example.fi")
        .await
        .unwrap();
    f.clock.set(f.clock.now() + TimeDelta::days(10));
    let by_email = register(&["erasure", "access"], "050 765 4321", "MAIJA@example.fi")
        .await
        .unwrap();
    let other_right = register(&["erasure"], "040 123 4567", "x@example.fi")
        .await
        .unwrap();
    let other_person = register(&["access"], "044 000 0000", "y@example.fi")
        .await
        .unwrap();
    f.clock.set(f.clock.now() + TimeDelta::days(35));
    let much_later = register(&["access"], "040 123 4567", "z@example.fi")
        .await
        .unwrap();

    let app = &f.app;
    let duplicates = |id: Uuid| async move {
        app.read_request(rea, *rea_id, id)
            .await
            .unwrap()
            .possible_duplicates
            .into_iter()
            .map(|d| (d.reference, d.common_types))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        duplicates(first.id).await,
        [(by_email.reference.clone(), vec![RequestType::Access])]
    );
    assert_eq!(
        duplicates(by_email.id).await,
        [(first.reference.clone(), vec![RequestType::Access])]
    );
    assert!(
        duplicates(other_right.id).await.is_empty(),
        "the same phone as the first, but another right"
    );
    assert!(duplicates(other_person.id).await.is_empty());
    assert!(duplicates(much_later.id).await.is_empty(), "45 days apart");
}

/// A strong identification whose assertions are `"<assurance>:<phone>"`,
/// as a deployment's plug-in would hand back what the provider signed.
#[derive(Debug)]
struct TestProvider;

#[async_trait::async_trait]
impl StrongIdentification for TestProvider {
    async fn check(&self, _request: Uuid, assertion: &str) -> Result<EidAssertion> {
        let (assurance, phone) = assertion.split_once(':').ok_or(Error::bad_request(
            "invalid_assertion",
            "the provider refused the assertion",
        ))?;
        Ok(EidAssertion {
            provider: "test-idp".into(),
            assurance: assurance.parse()?,
            identifiers: vec![(IndexKind::Phone, phone.into())],
        })
    }
}

fn eid(assertion: &str) -> VerificationInput {
    VerificationInput {
        method: "strong_electronic".into(),
        document_type: None,
        document_last4: None,
        send_to: None,
        code: None,
        assertion: Some(assertion.into()),
    }
}

#[tokio::test]
async fn strong_identification_is_refused_until_plugged_in_and_then_proves_only_what_it_ties() {
    let f = fixture(RequestsConfig::default()).await;
    let (rea, rea_id) = &f.rea;
    let r = f.register(&["access"]).await;
    let error = f
        .app
        .verify_request(rea, *rea_id, r.id, eid("high:040 123 4567"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "eid_not_configured");

    let app = f
        .app
        .clone()
        .with_strong_identification(Arc::new(TestProvider));
    for (assertion, code) in [
        ("garbage", "invalid_assertion"),
        ("low:040 123 4567", "eid_assurance_too_low"),
        ("high:050 999 9999", "eid_no_match"),
    ] {
        let error = app
            .verify_request(rea, *rea_id, r.id, eid(assertion))
            .await
            .unwrap_err();
        assert_eq!(error.code(), code, "{assertion}");
    }
    let huge = "x".repeat(MAX_ASSERTION_BYTES + 1);
    let error = app
        .verify_request(rea, *rea_id, r.id, eid(&huge))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_assertion");
    assert_eq!(
        app.read_request(rea, *rea_id, r.id).await.unwrap().state,
        RequestState::Received,
        "nothing refused changed the request"
    );

    let outcome = app
        .verify_request(rea, *rea_id, r.id, eid("high:+358401234567"))
        .await
        .unwrap();
    let VerificationOutcome::Verified { assurance, request } = outcome else {
        panic!("not verified: {outcome:?}");
    };
    assert_eq!(assurance, kirjuri_core::request::Assurance::High);
    assert_eq!(request.state, RequestState::Verified);
    let proven: Vec<_> = request
        .verification
        .identifiers
        .iter()
        .filter_map(|i| i.basis.clone().map(|b| (i.kind.clone(), b)))
        .collect();
    assert_eq!(
        proven,
        [("phone".to_owned(), "strong_electronic".to_owned())]
    );
}

#[tokio::test]
async fn an_answered_request_tells_the_requester_the_outcome_in_the_same_change() {
    let f = fixture(RequestsConfig::default()).await;
    let (rea, rea_id) = &f.rea;
    let r = f.register(&["access"]).await;
    f.app
        .verify_request(
            rea,
            *rea_id,
            r.id,
            VerificationInput {
                method: "in_person".into(),
                document_type: Some("passport".into()),
                document_last4: Some("X9Q7".into()),
                send_to: None,
                code: None,
                assertion: None,
            },
        )
        .await
        .unwrap();
    f.step(r.id, "start").await.unwrap();
    let outcomes = async || {
        f.app
            .store
            .outbox_messages(100)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == "dsr.outcome")
            .count()
    };
    assert_eq!(outcomes().await, 0);
    f.step(r.id, "answer").await.unwrap();
    assert_eq!(outcomes().await, 1);
}
