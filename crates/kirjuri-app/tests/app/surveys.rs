//! Satisfaction surveys (SURV-1; issue 15 §4) on a real data folder with
//! the clock injected, so "one second before the send" and the quiet night
//! are exact: an invitation scheduled after a call goes out through the
//! outbox (the file sender) only if nothing stops it at send time — an
//! objection to surveys made a second before, a restriction, a withheld
//! number (never scheduled), another invitation to the same person in the
//! period; quiet hours hold it to the morning; replies are taken only by
//! the open invitation of their number, once, within the window, with the
//! secret; the words are sealed (no plaintext in the database) and the
//! purge erases them while the survey roll-ups stay the same.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use kirjuri_app::outbox::Senders;
use kirjuri_app::outbox::config::SecretText;
use kirjuri_app::{Config, Error, Kirjuri};
use kirjuri_core::access::Actor;
use kirjuri_core::clock::FixedClock;
use kirjuri_core::contact::ContactInput;
use kirjuri_core::ids::UserId;
use kirjuri_core::role::Role;
use kirjuri_core::survey::SurveySettings;
use kirjuri_core::username::UserName;
use kirjuri_store::OutboxState;
use kirjuri_store::surveys::InvitationState;
use kirjuri_vault::IndexKind;
use serde_json::json;
use uuid::Uuid;

const PHONE: &str = "+358401234567";
const OTHER: &str = "+358407654321";
const SECRET: &str = "kannel-callback-secret-0123456789";
const WORDS: &str = "the agent Pirkko was very kind";

struct Fixture {
    app: Kirjuri,
    clock: Arc<FixedClock>,
    _dir: tempfile::TempDir,
}

fn utc(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

fn supervisor() -> Actor {
    Actor {
        name: UserName::parse("sanna", "user").unwrap(),
        role: Role::Supervisor,
        confidentiality_agreement: false,
        reason: None,
    }
}

fn settings(quiet_start: &str, quiet_end: &str, delay_minutes: u32) -> SurveySettings {
    SurveySettings {
        enabled: true,
        sample_per_mille: 1000,
        delay_minutes,
        quiet_start: quiet_start.into(),
        quiet_end: quiet_end.into(),
        period_days: 30,
        text_fi: "Miten onnistuimme? Vastaa 1-5.".into(),
        text_sv: "Hur lyckades vi? Svara 1-5.".into(),
        text_en: "How did we do? Reply 1-5.".into(),
    }
}

/// At `now` (UTC), with the survey settings of `billing`.
async fn fixture(now: &str, survey: SurveySettings) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data: dir.path().join("data"),
        ..Config::default()
    };
    config.surveys.reply_secret = Some(SecretText::new(SECRET));
    let clock = Arc::new(FixedClock::new(utc(now)));
    let app = Kirjuri::open(config, clock.clone()).await.unwrap();
    app.put_survey_settings(&supervisor(), UserId::new_v7(), "billing", &survey)
        .await
        .unwrap();
    Fixture {
        app,
        clock,
        _dir: dir,
    }
}

impl Fixture {
    fn advance(&self, by: Duration) {
        self.clock.set(self.app.clock.now() + by);
    }

    /// A call to `billing` from `phone` (withheld if `None`) that ended now.
    async fn call(&self, phone: Option<&str>, external: &str) -> kirjuri_core::ids::ContactId {
        let now = self.app.clock.now();
        let customer = match phone {
            Some(p) => json!({"phone": p, "language": "en"}),
            None => json!({"phone": PHONE, "phone_withheld": true}),
        };
        let contact = json!({
            "external_id": external,
            "channel": "call_in",
            "started_at": (now - Duration::minutes(5)).to_rfc3339(),
            "ended_at": now.to_rfc3339(),
            "agent": "aino",
            "service": "billing",
            "customer": customer,
        });
        let input = ContactInput::from_json(contact.to_string().as_bytes()).unwrap();
        self.app.create_contact(None, input).await.unwrap().0
    }

    fn sql(&self, sql: &str) -> Vec<Vec<String>> {
        let db = rusqlite::Connection::open(self.app.config.data.join("kirjuri.db")).unwrap();
        let mut statement = db.prepare(sql).unwrap();
        let n = statement.column_count();
        statement
            .query_map([], |row| {
                Ok((0..n)
                    .map(|i| match row.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                        rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                        rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into(),
                        rusqlite::types::ValueRef::Blob(b) => format!("blob:{}", b.len()),
                        rusqlite::types::ValueRef::Real(r) => r.to_string(),
                    })
                    .collect())
            })
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// The invitations' states, oldest first.
    fn states(&self) -> Vec<String> {
        self.sql("SELECT state || coalesce(':' || reason, '') FROM survey_invitations ORDER BY created_at, id")
            .into_iter()
            .map(|r| r[0].clone())
            .collect()
    }

    /// Limits `phone` by a restriction or an objection to surveys, as a
    /// request's execution stores it.
    fn limit(&self, phone: &str, kind: &str) {
        let hash = self
            .app
            .keyring
            .blind_indexer()
            .hash(IndexKind::Phone, phone)
            .to_vec();
        let db = rusqlite::Connection::open(self.app.config.data.join("kirjuri.db")).unwrap();
        let id = Uuid::now_v7();
        let purpose = (kind == "objection").then_some("survey");
        let at = self.app.clock.now().timestamp_micros();
        db.execute(
            "INSERT INTO subject_limits (id, request_id, kind, purpose, created_at, created_by) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![
                id.as_bytes().to_vec(),
                Uuid::now_v7().as_bytes().to_vec(),
                kind,
                purpose,
                at,
                Uuid::now_v7().as_bytes().to_vec()
            ],
        )
        .unwrap();
        db.execute(
            "INSERT INTO subject_limit_identifiers (limit_id, kind, hash) VALUES (?1, 'phone', ?2)",
            rusqlite::params![id.as_bytes().to_vec(), hash],
        )
        .unwrap();
    }

    async fn deliver(&self) -> kirjuri_app::outbox::Delivery {
        let senders = Senders::from_config(&self.app.config).unwrap();
        self.app.deliver_due(&senders).await.unwrap()
    }

    /// The SMS the file sender wrote, as text.
    fn sent_texts(&self) -> Vec<String> {
        let folder = self.app.config.outbox_dir();
        let Ok(entries) = std::fs::read_dir(&folder) else {
            return Vec::new();
        };
        entries
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect()
    }

    async fn reply(&self, from: &str, text: &str, id: &str) -> Result<bool, Error> {
        self.app
            .receive_survey_reply(Some(SECRET), Some(from), Some(text), Some(id))
            .await
    }

    async fn rollups(&self) -> Vec<(u64, u64, [u64; 5])> {
        let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let last = NaiveDate::from_ymd_opt(2027, 12, 31).unwrap();
        self.app
            .store
            .survey_rollups(day, last)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.invited, r.answered, r.scores))
            .collect()
    }
}

#[tokio::test]
async fn an_invitation_after_a_call_goes_out_in_the_callers_language_and_is_counted() {
    let f = fixture("2026-06-10T09:00:00Z", settings("00:00", "00:00", 0)).await;
    f.call(Some(PHONE), "c1").await;

    let delivery = f.deliver().await;

    assert_eq!(delivery.sent, 1, "{delivery:?}");
    assert_eq!(f.states(), ["sent"]);
    let texts = f.sent_texts();
    assert_eq!(texts.len(), 1);
    assert!(texts[0].contains("How did we do?"), "{}", texts[0]);
    assert_eq!(f.rollups().await, [(1, 0, [0; 5])]);
}

#[tokio::test]
async fn an_objection_made_one_second_before_the_send_stops_it() {
    let f = fixture("2026-06-10T09:00:00Z", settings("00:00", "00:00", 60)).await;
    f.call(Some(PHONE), "c1").await;
    assert_eq!(f.states(), ["scheduled"]);

    // Due in an hour; the objection arrives at 59:59.
    f.advance(Duration::minutes(60) - Duration::seconds(1));
    f.limit(PHONE, "objection");
    f.advance(Duration::seconds(1));
    let delivery = f.deliver().await;

    assert_eq!(delivery.failed, 1, "{delivery:?}");
    assert_eq!(delivery.sent, 0);
    assert_eq!(f.states(), ["cancelled:survey_objected"]);
    assert!(f.sent_texts().is_empty());
    let outbox = f.app.store.outbox_messages(10).await.unwrap();
    assert_eq!(outbox[0].state, OutboxState::Failed);
    assert_eq!(outbox[0].last_error.as_deref(), Some("survey_objected"));
    assert_eq!(f.rollups().await, []);
}

#[tokio::test]
async fn a_restricted_subject_and_a_withheld_number_are_never_invited() {
    let f = fixture("2026-06-10T09:00:00Z", settings("00:00", "00:00", 0)).await;
    // Withheld: nothing to schedule.
    f.call(None, "withheld").await;
    assert!(f.states().is_empty());
    // Restricted before the call: not scheduled.
    f.limit(PHONE, "restriction");
    f.call(Some(PHONE), "restricted").await;
    assert!(f.states().is_empty());
    // Restricted after scheduling: stopped at send time.
    f.call(Some(OTHER), "other").await;
    f.limit(OTHER, "restriction");
    let delivery = f.deliver().await;

    assert_eq!(delivery.sent, 0, "{delivery:?}");
    assert_eq!(f.states(), ["cancelled:survey_restricted"]);
    assert!(f.sent_texts().is_empty());
}

#[tokio::test]
async fn one_person_gets_at_most_one_invitation_per_period() {
    let f = fixture("2026-06-10T09:00:00Z", settings("00:00", "00:00", 0)).await;
    f.call(Some(PHONE), "c1").await;
    f.call(Some(PHONE), "c2").await; // already one scheduled
    assert_eq!(f.deliver().await.sent, 1);
    f.advance(Duration::days(29));
    f.call(Some(PHONE), "c3").await; // invited 29 days ago
    assert_eq!(f.deliver().await.sent, 0);
    f.advance(Duration::days(2));
    f.call(Some(PHONE), "c4").await; // the period is over
    assert_eq!(f.deliver().await.sent, 1);

    assert_eq!(f.states(), ["sent", "sent"]);
    assert_eq!(f.sent_texts().len(), 2);
}

#[tokio::test]
async fn quiet_hours_hold_an_evening_invitation_to_the_helsinki_morning_across_the_october_change()
{
    // Sat 24 Oct 2026 22:00 EEST = 19:00Z; the clocks go back that night.
    let f = fixture("2026-10-24T19:00:00Z", settings("21:00", "09:00", 30)).await;
    f.call(Some(PHONE), "c1").await;
    let due = f.sql("SELECT due_at FROM survey_invitations")[0][0]
        .parse::<i64>()
        .unwrap();
    // 09:00 EET on Sunday = 07:00Z.
    assert_eq!(due, utc("2026-10-25T07:00:00Z").timestamp_micros());

    f.clock.set(utc("2026-10-25T06:59:00Z"));
    assert_eq!(f.deliver().await.sent, 0);
    f.clock.set(utc("2026-10-25T07:00:00Z"));
    assert_eq!(f.deliver().await.sent, 1);
}

#[tokio::test]
async fn a_reply_is_taken_only_by_the_open_invitation_of_its_number_once_and_sealed() {
    let f = fixture("2026-06-10T09:00:00Z", settings("00:00", "00:00", 0)).await;
    f.call(Some(PHONE), "c1").await;
    f.deliver().await;
    f.advance(Duration::hours(1));

    // A number with no invitation; no score; a forged secret; hostile ids.
    assert!(!f.reply(OTHER, "5", "m1").await.unwrap());
    assert!(!f.reply(PHONE, "great!", "m2").await.unwrap());
    let forged = f
        .app
        .receive_survey_reply(Some("guess"), Some(PHONE), Some("1"), Some("m3"))
        .await;
    assert!(matches!(forged, Err(Error::Unauthenticated)), "{forged:?}");
    let missing = f
        .app
        .receive_survey_reply(None, Some(PHONE), Some("1"), Some("m3"))
        .await;
    assert!(matches!(missing, Err(Error::Unauthenticated)));
    for bad_id in ["", "a b", &"x".repeat(200)] {
        assert!(f.reply(PHONE, "1", bad_id).await.is_err());
    }
    assert!(f.reply("not a number", "1", "m4").await.is_err());
    assert_eq!(f.states(), ["sent"]);

    // The reply.
    assert!(f.reply(PHONE, &format!("4 {WORDS}"), "m5").await.unwrap());
    // A second reply, and the same message again.
    assert!(!f.reply(PHONE, "1 changed my mind", "m6").await.unwrap());
    assert!(!f.reply(PHONE, &format!("4 {WORDS}"), "m5").await.unwrap());

    assert_eq!(f.states(), ["answered"]);
    assert_eq!(f.rollups().await, [(1, 1, [0, 0, 0, 1, 0])]);
    let id: Uuid = f.sql("SELECT hex(id) FROM survey_invitations")[0][0]
        .parse()
        .unwrap();
    assert_eq!(
        f.app.survey_comment(&id).await.unwrap().as_deref(),
        Some(WORDS)
    );
    // Sealed: no word of it in the database files.
    for entry in std::fs::read_dir(&f.app.config.data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(WORDS.len()).any(|w| w == WORDS.as_bytes()),
                "{} holds the reply's words",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn a_reply_after_the_window_is_not_taken() {
    let f = fixture("2026-06-10T09:00:00Z", settings("00:00", "00:00", 0)).await;
    f.call(Some(PHONE), "c1").await;
    f.deliver().await;
    f.advance(Duration::hours(72) + Duration::seconds(1));

    assert!(!f.reply(PHONE, "5", "late").await.unwrap());
    assert_eq!(f.states(), ["sent"]);
    assert_eq!(f.rollups().await, [(1, 0, [0; 5])]);
}

#[tokio::test]
async fn the_purge_erases_reply_words_and_invitations_and_the_statistics_stay() {
    let f = fixture("2026-06-10T09:00:00Z", settings("00:00", "00:00", 0)).await;
    f.call(Some(PHONE), "c1").await;
    f.call(Some(OTHER), "c2").await;
    f.deliver().await;
    f.reply(PHONE, &format!("2 {WORDS}"), "m1").await.unwrap();
    f.reply(OTHER, "5", "m2").await.unwrap();
    let before = f.rollups().await;
    assert_eq!(before, [(2, 2, [0, 1, 0, 0, 1])]);

    // After the words' retention (90 days), then the invitations' (180).
    f.advance(Duration::days(91));
    let report = f.app.purge(false).await.unwrap();
    assert_eq!(report.counts.get("survey_comment"), Some(&1), "{report:?}");
    assert_eq!(
        f.sql("SELECT count(*) FROM survey_invitations WHERE reply_sealed IS NOT NULL")[0][0],
        "0"
    );
    f.advance(Duration::days(100));
    let report = f.app.purge(false).await.unwrap();
    assert_eq!(
        report.counts.get("survey_invitation"),
        Some(&2),
        "{report:?}"
    );
    assert_eq!(f.sql("SELECT count(*) FROM survey_invitations")[0][0], "0");

    assert_eq!(f.rollups().await, before);
}

#[tokio::test]
async fn settings_out_of_range_are_refused_and_only_supervisors_change_them() {
    let f = fixture("2026-06-10T09:00:00Z", settings("00:00", "00:00", 0)).await;
    let mut bad = settings("21:00", "09:00", 0);
    bad.sample_per_mille = 5000;
    let refused = f
        .app
        .put_survey_settings(&supervisor(), UserId::new_v7(), "billing", &bad)
        .await;
    assert!(
        matches!(refused, Err(Error::Unprocessable { .. })),
        "{refused:?}"
    );
    let mut agent = supervisor();
    agent.role = Role::Agent;
    let refused = f
        .app
        .put_survey_settings(
            &agent,
            UserId::new_v7(),
            "billing",
            &settings("21:00", "09:00", 0),
        )
        .await;
    assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");
    let listed = f
        .app
        .survey_settings(&supervisor(), UserId::new_v7())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].version, 1);
    assert_eq!(listed[0].settings.quiet_start, "00:00");
    assert!(matches!(
        f.app.survey_settings(&agent, UserId::new_v7()).await,
        Err(Error::Forbidden(_))
    ));
    let _ = InvitationState::Sent;
}
