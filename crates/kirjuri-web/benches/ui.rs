//! Render-time benchmark of the web UI (issue 4): the server-side time to
//! answer a search page over a register of `KIRJURI_BENCH_CONTACTS` contacts
//! (default 100 000) and a contact page — target < 50 ms each.
//!
//! It opens a real `Kirjuri` on a temporary data folder, swaps in an
//! in-memory SQLite store (filling 100 000 contacts through file-backed
//! commits would measure 100 000 fsyncs, not rendering), delivers the
//! contacts through the real intake (`create_contact`: validated, sealed,
//! blind-indexed, audited) and one 20-second recording, signs a supervisor
//! in, and then times the page handlers themselves — access decision, audit
//! append, store query, decryption of every listed contact, template
//! rendering — exactly as a request runs them, minus the socket.
//!
//! Pages measured:
//! * search by phone number (a blind-index lookup, 1 result),
//! * search with no identifier: the newest 100 of the whole register, all
//!   decrypted and rendered (the heaviest page),
//! * search by channel (`chat`, a fifth of the register): filtered on
//!   sealed rows, 100 decrypted,
//! * the contact page with its recording and its access list (a
//!   supervisor's, so the audit query runs too).
//!
//! Measured on the 2-core development VM (100 000 contacts, other builds
//! running): phone search 0.3 ms median; newest 100 of the register 9.4 ms
//! (p95 11.3); channel = chat, 100 results 18.7 ms (p95 23.1); contact page
//! with recording and access list 0.7 ms (p95 1.3) — all under the 50 ms
//! target.
//!
//! Run: `cargo bench -p kirjuri-web --bench ui`. A benchmark, not a test:
//! it prints median and 95th-percentile times and asserts nothing.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use kirjuri_app::{Config, Kirjuri};
use kirjuri_core::clock::SystemClock;
use kirjuri_core::contact::ContactInput;
use kirjuri_core::role::Role;
use kirjuri_core::wav::Encoding;
use kirjuri_core::wav::synth;
use kirjuri_store::SqliteStore;
use kirjuri_web::ui::context::Staff;
use kirjuri_web::ui::i18n::Lang;
use kirjuri_web::ui::search::SearchForm;
use secrecy::SecretString;

/// Timed runs per page.
const RUNS: usize = 60;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), BoxError> {
    let contacts: usize = match std::env::var("KIRJURI_BENCH_CONTACTS") {
        Ok(value) => value.parse()?,
        Err(_) => 100_000,
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(contacts))
}

fn contact(i: usize) -> Result<ContactInput, BoxError> {
    let channel = ["call_in", "call_out", "chat", "email", "form"][i % 5];
    let day = 1 + (i / 4000) % 28;
    let minute = i % 1440;
    let service = ["water-billing", "connections", "outages"][i % 3];
    let agent = ["aino", "bertta", "cecilia", "daniel"][i % 4];
    let json = serde_json::json!({
        "external_id": format!("bench-{i}"),
        "channel": channel,
        "started_at": format!("2026-10-{day:02}T{:02}:{:02}:00+03:00", minute / 60, minute % 60),
        "ended_at": format!("2026-10-{day:02}T{:02}:{:02}:30+03:00", minute / 60, minute % 60),
        "service": service,
        "agent": agent,
        "customer": {"name": format!("Asiakas {i}"), "phone": format!("040 {:07}", i),
                     "email": format!("asiakas{i}@example.fi"),
                     "address": "Esimerkkitie 1, 00100 Helsinki", "language": "fi"},
        "account": {"customer_number": format!("{}", 100_000 + i)},
        "property": {"name": "As Oy Esimerkki", "property_id": "91-403-1-1",
                     "type": "apartment_building"},
        "service_content": "Laskua koskeva kysymys"
    });
    Ok(ContactInput::from_json(&serde_json::to_vec(&json)?)?)
}

fn report(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let median = times[times.len() / 2];
    let p95 = times[(times.len() * 95 / 100).min(times.len() - 1)];
    println!(
        "{name:<52} median {:>7.2} ms   p95 {:>7.2} ms   ({} runs)",
        median.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3,
        times.len()
    );
}

async fn time_page<F, Fut>(name: &str, mut page: F) -> Result<(), BoxError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = axum::response::Response>,
{
    // Warm up: first renders fill caches and the statement cache.
    for _ in 0..3 {
        let _ = page().await.into_body().collect().await?;
    }
    let mut times = Vec::with_capacity(RUNS);
    let mut bytes = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        let response = page().await;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        times.push(started.elapsed());
        if !status.is_success() {
            return Err(format!("{name}: status {status}").into());
        }
        bytes = body.len();
    }
    print!("{bytes:>8} B  ");
    report(name, times);
    Ok(())
}

async fn run(contacts: usize) -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let config = Config {
        data: dir.path().to_path_buf(),
        ..Config::default()
    };
    let mut app = Kirjuri::open(config, Arc::new(SystemClock)).await?;
    app.store = Arc::new(SqliteStore::in_memory().await?);

    let password = SecretString::from("harmaa lokki kantaa sateenvarjoa");
    app.add_user("sanna", Role::Supervisor, &password).await?;

    let started = Instant::now();
    let mut first = None;
    for i in 0..contacts {
        let (id, _) = app.create_contact(None, contact(i)?).await?;
        first.get_or_insert(id);
    }
    println!(
        "filled {contacts} contacts through intake in {:.1?}",
        started.elapsed()
    );
    let id = first.ok_or("no contacts")?;
    let wav = synth::wav_bytes(Encoding::PcmS16, 2, 8000, 8000 * 20, false);
    let body = futures::stream::iter([Ok::<_, String>(Bytes::from(wav))]);
    app.store_recording(None, id, body, u64::MAX).await?;

    let signed_in = app
        .login("sanna", &password, None, IpAddr::V4(Ipv4Addr::LOCALHOST))
        .await?;
    let (actor, user_id, session) = {
        let cookie = secrecy::ExposeSecret::expose_secret(&signed_in.secret).to_owned();
        app.authenticate_session(&cookie).await?
    };
    let staff = Staff {
        actor,
        id: user_id,
        session,
        purpose: Some(kirjuri_core::purpose::Purpose::QualityAssurance),
        lang: Lang::Fi,
        here: "/search".into(),
    };

    let by_phone = SearchForm {
        phone: Some("040 0000042".into()),
        ..SearchForm::default()
    };
    time_page("search: phone number (1 result)", || {
        kirjuri_web::ui::search::run(&app, &staff, by_phone.clone())
    })
    .await?;
    time_page("search: newest 100 of the register", || {
        kirjuri_web::ui::search::run(&app, &staff, SearchForm::default())
    })
    .await?;
    let by_channel = SearchForm {
        channel: Some("chat".into()),
        ..SearchForm::default()
    };
    time_page("search: channel = chat (100 results)", || {
        kirjuri_web::ui::search::run(&app, &staff, by_channel.clone())
    })
    .await?;
    let id = id.to_string();
    time_page("contact page with recording and access list", || {
        kirjuri_web::ui::contact::render(&app, &staff, &id)
    })
    .await?;
    println!(
        "register: {} contacts, audit log: {} events",
        app.store.count_contacts().await?,
        app.store.audit_head().await?
    );
    Ok(())
}
