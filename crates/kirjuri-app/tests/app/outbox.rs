//! The durable outbox against real servers: the file sender (the default),
//! SMTP into aiosmtpd's Maildir, SMS through Kannel to its fake SMSC; a
//! server that is down (retried with backoff, delivered when it is back), a
//! sender killed after claiming (its claim runs out, the message goes
//! exactly once more), a gateway that refuses (given up on), rows that hold
//! no plaintext, and hostile configuration refused naming the setting.
//! The clock is injected; the servers are the testkit's.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use kirjuri_app::outbox::config::{SecretText, SenderKind, SmtpTls};
use kirjuri_app::outbox::{Content, Senders};
use kirjuri_app::{Config, Kirjuri};
use kirjuri_core::clock::FixedClock;
use kirjuri_store::{OutboxState, Store};
use kirjuri_testkit::kannel::{self, Kannel};
use kirjuri_testkit::smtp::{SmtpServer, free_port};

const EMAIL_TO: &str = "maija.meikalainen@example.fi";
const SUBJECT: &str = "Your request KIR-2026-0042 was received";
const BODY: &str = "We received your request on 6 December; the answer is due by 6 January.";
const PHONE: &str = "+358401234567";
const TEXT: &str = "Your code is 493817";

struct Fixture {
    app: Kirjuri,
    clock: Arc<FixedClock>,
    dir: tempfile::TempDir,
}

fn utc(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

async fn fixture(configure: impl FnOnce(&mut Config)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data: dir.path().join("data"),
        ..Config::default()
    };
    configure(&mut config);
    let clock = Arc::new(FixedClock::new(utc("2026-12-06T10:00:00Z")));
    let app = Kirjuri::open(config, clock.clone()).await.unwrap();
    Fixture { app, clock, dir }
}

fn smtp_config(url: String) -> impl FnOnce(&mut Config) {
    move |config: &mut Config| {
        config.outbox.email.sender = SenderKind::Smtp;
        config.outbox.email.url = Some(SecretText::new(url));
        config.outbox.email.tls = SmtpTls::None;
        config.outbox.email.from = "Kirjuri <kirjuri@example.fi>".into();
        config.outbox.email.country = Some("FI".into());
        config.outbox.send_timeout_seconds = 5;
        config.outbox.lease_seconds = 60;
    }
}

fn kannel_config(url: String, password: &str) -> impl FnOnce(&mut Config) {
    let password = password.to_owned();
    move |config: &mut Config| {
        config.outbox.sms.sender = SenderKind::Kannel;
        config.outbox.sms.url = Some(SecretText::new(url));
        config.outbox.sms.username = Some(kannel::USERNAME.into());
        config.outbox.sms.password = Some(SecretText::new(password));
        config.outbox.sms.country = Some("FI".into());
        config.outbox.send_timeout_seconds = 5;
    }
}

impl Fixture {
    fn senders(&self) -> Senders {
        Senders::from_config(&self.app.config).unwrap()
    }

    async fn email(&self) -> uuid::Uuid {
        let content = Content::email(EMAIL_TO, SUBJECT, BODY).unwrap();
        self.app.enqueue("dsr.receipt", &content).await.unwrap()
    }

    async fn sms(&self) -> uuid::Uuid {
        let content = Content::sms(PHONE, TEXT).unwrap();
        self.app.enqueue("dsr.code", &content).await.unwrap()
    }

    async fn entry(&self, id: uuid::Uuid) -> kirjuri_store::OutboxEntry {
        self.app.store.outbox_message(&id).await.unwrap().unwrap()
    }

    fn advance(&self, by: Duration) {
        self.clock.set(self.app.clock.now() + by);
    }
}

#[tokio::test]
async fn the_file_sender_writes_each_message_into_the_data_folder_and_the_rows_hold_no_plaintext() {
    let f = fixture(|_| {}).await;
    let email = f.email().await;
    let sms = f.sms().await;

    let delivery = f.app.deliver_due(&f.senders()).await.unwrap();
    assert_eq!(delivery.sent, 2, "{delivery:?}");
    assert_eq!(f.entry(email).await.state, OutboxState::Sent);
    assert_eq!(f.entry(sms).await.state, OutboxState::Sent);

    let folder = f.app.config.outbox_dir();
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let eml = files
        .iter()
        .find(|p| p.extension().unwrap() == "eml")
        .unwrap();
    let eml_text = std::fs::read_to_string(eml).unwrap();
    assert!(eml_text.contains(&format!("To: {EMAIL_TO}")), "{eml_text}");
    assert!(eml_text.contains(SUBJECT), "{eml_text}");
    assert!(eml_text.contains(BODY), "{eml_text}");
    let txt = files
        .iter()
        .find(|p| p.extension().unwrap() == "txt")
        .unwrap();
    let txt_text = std::fs::read_to_string(txt).unwrap();
    assert!(
        txt_text.contains(PHONE) && txt_text.contains(TEXT),
        "{txt_text}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(eml).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&folder).unwrap().permissions().mode() & 0o777,
        0o700
    );

    // The database holds only ciphertext of them.
    let mut bytes = Vec::new();
    for name in ["kirjuri.db", "kirjuri.db-wal"] {
        if let Ok(mut read) = std::fs::read(f.app.config.data.join(name)) {
            bytes.append(&mut read);
        }
    }
    assert!(!bytes.is_empty());
    for secret in [
        EMAIL_TO,
        "maija",
        SUBJECT,
        BODY,
        PHONE,
        "401234567",
        TEXT,
        "493817",
    ] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret:?} is in the database in plaintext"
        );
    }
    let _ = &f.dir;
}

#[tokio::test]
async fn an_email_goes_through_smtp_into_the_maildir_with_its_recipient_subject_and_body() {
    let smtp = SmtpServer::start();
    let f = fixture(smtp_config(smtp.url())).await;
    let id = f.email().await;

    let delivery = f.app.deliver_due(&f.senders()).await.unwrap();

    assert_eq!(delivery.sent, 1, "{delivery:?}");
    let entry = f.entry(id).await;
    assert_eq!(entry.state, OutboxState::Sent);
    assert_eq!(entry.attempts, 1);
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert!(message.contains(&format!("To: {EMAIL_TO}")), "{message}");
    assert!(
        message.contains(&format!("Subject: {SUBJECT}")),
        "{message}"
    );
    assert!(
        message.contains("From: Kirjuri <kirjuri@example.fi>"),
        "{message}"
    );
    assert!(message.contains(BODY), "{message}");
}

#[tokio::test]
async fn an_smtp_server_that_is_down_is_retried_with_backoff_and_gets_the_message_when_back() {
    let mut smtp = SmtpServer::start();
    smtp.stop();
    let f = fixture(smtp_config(smtp.url())).await;
    let senders = f.senders();
    let id = f.email().await;
    let start = f.app.clock.now();

    let first = f.app.deliver_due(&senders).await.unwrap();
    assert_eq!(first.retried, 1, "{first:?}");
    let entry = f.entry(id).await;
    assert_eq!(entry.state, OutboxState::Queued);
    assert_eq!(entry.attempts, 1);
    assert_eq!(entry.last_error.as_deref(), Some("smtp_unavailable"));
    // 30 s base, jittered to between half and all of it.
    let wait = entry.next_attempt_at - start;
    assert!(
        wait >= Duration::seconds(15) && wait <= Duration::seconds(30),
        "{wait}"
    );

    // Not due yet: nothing happens.
    assert_eq!(f.app.deliver_due(&senders).await.unwrap().retried, 0);

    // Second failure: the delay doubles (30–60 s).
    f.clock.set(entry.next_attempt_at);
    assert_eq!(f.app.deliver_due(&senders).await.unwrap().retried, 1);
    let entry = f.entry(id).await;
    let wait = entry.next_attempt_at - f.app.clock.now();
    assert!(
        wait >= Duration::seconds(30) && wait <= Duration::seconds(60),
        "{wait}"
    );

    smtp.start_again();
    f.clock.set(entry.next_attempt_at);
    assert_eq!(f.app.deliver_due(&senders).await.unwrap().sent, 1);
    let entry = f.entry(id).await;
    assert_eq!(entry.state, OutboxState::Sent);
    assert_eq!(entry.attempts, 3);
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test]
async fn a_message_claimed_by_a_sender_that_died_is_sent_exactly_once_more_after_its_lease() {
    let smtp = SmtpServer::start();
    let f = fixture(smtp_config(smtp.url())).await;
    let senders = f.senders();
    let id = f.email().await;
    // Another process claims it, then dies without settling it.
    let now = f.app.clock.now();
    let claimed = f
        .app
        .store
        .claim_messages("dead-instance", now, now + Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);

    // While its claim is in force, nobody sends it.
    f.advance(Duration::seconds(59));
    assert_eq!(f.app.deliver_due(&senders).await.unwrap().sent, 0);
    assert!(smtp.messages().is_empty());

    f.advance(Duration::seconds(1));
    assert_eq!(f.app.deliver_due(&senders).await.unwrap().sent, 1);
    f.advance(Duration::hours(2));
    assert_eq!(f.app.deliver_due(&senders).await.unwrap().sent, 0);
    assert_eq!(smtp.messages().len(), 1, "delivered exactly once");
    let entry = f.entry(id).await;
    assert_eq!(entry.state, OutboxState::Sent);
    assert_eq!(entry.attempts, 2);
    // The dead claim can no longer settle it.
    let late = kirjuri_store::Settlement::Failed {
        at: now,
        error: "late".into(),
    };
    assert!(
        !f.app
            .store
            .settle_message(&id, &claimed[0].claim, &late)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn an_sms_reaches_the_fake_smsc_through_kannel_with_its_number_and_text() {
    let gateway = Kannel::start();
    let f = fixture(kannel_config(gateway.url(), kannel::PASSWORD)).await;
    let id = f.sms().await;

    let delivery = f.app.deliver_due(&f.senders()).await.unwrap();

    assert_eq!(delivery.sent, 1, "{delivery:?}");
    assert_eq!(f.entry(id).await.state, OutboxState::Sent);
    let received = gateway.wait_for(1);
    assert_eq!(
        received,
        vec![(
            kannel::GLOBAL_SENDER.to_owned(),
            PHONE.to_owned(),
            TEXT.to_owned()
        )]
    );
}

#[tokio::test]
async fn kannel_refusing_the_credentials_fails_the_message_and_a_gateway_that_is_down_retries() {
    let gateway = Kannel::start();
    let refused = fixture(kannel_config(gateway.url(), "wrong-password")).await;
    let id = refused.sms().await;
    let delivery = refused.app.deliver_due(&refused.senders()).await.unwrap();
    assert_eq!(delivery.failed, 1, "{delivery:?}");
    let entry = refused.entry(id).await;
    assert_eq!(entry.state, OutboxState::Failed);
    assert_eq!(entry.last_error.as_deref(), Some("kannel_403"));

    let down = fixture(kannel_config(
        format!("http://127.0.0.1:{}", free_port()),
        kannel::PASSWORD,
    ))
    .await;
    let id = down.sms().await;
    assert_eq!(
        down.app.deliver_due(&down.senders()).await.unwrap().retried,
        1
    );
    let entry = down.entry(id).await;
    assert_eq!(entry.state, OutboxState::Queued);
    assert_eq!(entry.last_error.as_deref(), Some("kannel_unavailable"));
    assert!(gateway.received().is_empty());
}

#[tokio::test]
async fn a_retryable_failure_is_given_up_on_after_max_attempts() {
    let port = free_port();
    let f = fixture(|config| {
        smtp_config(format!("smtp://127.0.0.1:{port}"))(config);
        config.outbox.max_attempts = 2;
    })
    .await;
    let senders = f.senders();
    let id = f.email().await;
    assert_eq!(f.app.deliver_due(&senders).await.unwrap().retried, 1);
    f.advance(Duration::hours(1));
    assert_eq!(f.app.deliver_due(&senders).await.unwrap().failed, 1);
    let entry = f.entry(id).await;
    assert_eq!(entry.state, OutboxState::Failed);
    assert_eq!(
        entry.last_error.as_deref(),
        Some("smtp_unavailable; gave up after 2 attempts")
    );
}

#[tokio::test]
async fn hostile_outbox_configuration_is_refused_naming_the_setting_and_never_the_secret() {
    type Change = Box<dyn Fn(&mut Config)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "outbox.email.url",
            Box::new(|c| {
                c.outbox.email.sender = SenderKind::Smtp;
                c.outbox.email.url = Some(SecretText::new("not a url"));
            }),
        ),
        (
            "outbox.email.url",
            Box::new(|c| {
                c.outbox.email.sender = SenderKind::Smtp;
                c.outbox.email.url = Some(SecretText::new("http://mail.example.fi"));
            }),
        ),
        (
            "outbox.email.url",
            Box::new(|c| {
                c.outbox.email.sender = SenderKind::Smtp;
                c.outbox.email.url = Some(SecretText::new("smtp://user:hunter2@mail.example.fi"));
            }),
        ),
        (
            "outbox.email.url",
            Box::new(|c| c.outbox.email.sender = SenderKind::Smtp),
        ),
        (
            "outbox.email.sender",
            Box::new(|c| c.outbox.email.sender = SenderKind::Kannel),
        ),
        (
            "outbox.email.from",
            Box::new(|c| c.outbox.email.from = "no address".into()),
        ),
        (
            "outbox.sms.sender",
            Box::new(|c| c.outbox.sms.sender = SenderKind::Smtp),
        ),
        (
            "outbox.sms.url",
            Box::new(|c| {
                c.outbox.sms.sender = SenderKind::Kannel;
                c.outbox.sms.url = Some(SecretText::new("ftp://sms.example.fi"));
            }),
        ),
        (
            "outbox.sms.username",
            Box::new(|c| {
                c.outbox.sms.sender = SenderKind::Kannel;
                c.outbox.sms.url = Some(SecretText::new("http://sms.example.fi:13013"));
                c.outbox.sms.password = Some(SecretText::new("hunter2"));
            }),
        ),
        (
            "outbox.sms.password",
            Box::new(|c| {
                c.outbox.sms.sender = SenderKind::Kannel;
                c.outbox.sms.url = Some(SecretText::new("http://sms.example.fi:13013"));
                c.outbox.sms.username = Some("kirjuri".into());
            }),
        ),
        (
            "outbox.email.country",
            Box::new(|c| {
                c.outbox.email.sender = SenderKind::Smtp;
                c.outbox.email.url = Some(SecretText::new("smtp://mail.example.fi:25"));
            }),
        ),
        (
            "outbox.email.country",
            Box::new(|c| {
                c.outbox.email.sender = SenderKind::Smtp;
                c.outbox.email.url = Some(SecretText::new("smtp://mail.example.fi:25"));
                c.outbox.email.country = Some("US".into());
            }),
        ),
        (
            "outbox.sms.country",
            Box::new(|c| {
                c.outbox.sms.sender = SenderKind::Kannel;
                c.outbox.sms.url = Some(SecretText::new("http://sms.example.fi:13013"));
                c.outbox.sms.username = Some("kirjuri".into());
                c.outbox.sms.password = Some(SecretText::new("hunter2"));
                c.outbox.sms.country = Some("CH".into());
            }),
        ),
        (
            "outbox.poll_seconds",
            Box::new(|c| c.outbox.poll_seconds = 0),
        ),
        (
            "outbox.retry_base_seconds",
            Box::new(|c| c.outbox.retry_base_seconds = 0),
        ),
        (
            "outbox.retry_max_seconds",
            Box::new(|c| c.outbox.retry_max_seconds = u64::MAX),
        ),
        (
            "outbox.retry_max_seconds",
            Box::new(|c| {
                c.outbox.retry_base_seconds = 600;
                c.outbox.retry_max_seconds = 60;
            }),
        ),
        (
            "outbox.max_attempts",
            Box::new(|c| c.outbox.max_attempts = 0),
        ),
        (
            "outbox.max_attempts",
            Box::new(|c| c.outbox.max_attempts = u32::MAX),
        ),
        (
            "outbox.send_timeout_seconds",
            Box::new(|c| c.outbox.send_timeout_seconds = 0),
        ),
        (
            "outbox.lease_seconds",
            Box::new(|c| {
                c.outbox.send_timeout_seconds = 30;
                c.outbox.lease_seconds = 30;
            }),
        ),
        (
            "outbox.sms.from",
            Box::new(|c| c.outbox.sms.from = Some("a\nb".into())),
        ),
    ];
    for (setting, change) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data: dir.path().join("data"),
            ..Config::default()
        };
        change(&mut config);
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        let error = Kirjuri::open(
            config,
            Arc::new(FixedClock::new(utc("2026-12-06T10:00:00Z"))),
        )
        .await
        .map(|_| ())
        .unwrap_err();
        let message = error.to_string();
        assert!(message.contains(setting), "{setting}: {message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert_eq!(error.code(), "config_refused", "{setting}");
    }
}

#[tokio::test]
async fn a_bad_recipient_or_kind_is_refused_before_anything_is_stored() {
    let f = fixture(|_| {}).await;
    assert!(Content::email("not an address", "s", "b").is_err());
    assert!(Content::sms("call me", "t").is_err());
    assert!(Content::email(EMAIL_TO, "two\nlines", "b").is_err());
    let content = Content::sms(PHONE, TEXT).unwrap();
    for kind in ["", "Has Spaces", &"x".repeat(65), "dsr/receipt"] {
        assert!(f.app.enqueue(kind, &content).await.is_err(), "{kind:?}");
    }
    assert!(f.app.outbox_messages(10).await.unwrap().is_empty());
    let debug = format!("{content:?}");
    assert!(!debug.contains(PHONE) && !debug.contains(TEXT), "{debug}");
}

#[tokio::test]
async fn the_delivery_job_started_with_the_others_sends_and_stops_cleanly() {
    let f = fixture(|config| config.outbox.poll_seconds = 1).await;
    let id = f.email().await;
    let jobs = f.app.start_jobs().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while f.entry(id).await.state != OutboxState::Sent {
        assert!(std::time::Instant::now() < deadline, "not sent within 20 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    jobs.stop().await;
    let _: &dyn Store = f.app.store.as_ref();
}
