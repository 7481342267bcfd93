//! `kirjuri serve --demo`: fills an empty data folder with synthetic contacts,
//! generated call audio and accounts, so a newcomer sees a working system at
//! once. Every name and number here is invented; phone numbers come from a
//! range of fictional-looking values and addresses from a made-up street.

use chrono::{DateTime, Duration, FixedOffset, TimeZone};
use kirjuri_core::contact::{Account, Channel, ContactInput, Customer, Property};
use kirjuri_core::role::Role;
use kirjuri_core::wav::Encoding;
use kirjuri_core::wav::synth::wav_bytes;
use secrecy::{ExposeSecret, SecretString};

use crate::app::Kirjuri;
use crate::auth::generate_password;
use crate::error::{Error, Result};

/// One demo account and how to use it.
#[derive(Debug)]
pub struct DemoLogin {
    /// Account name.
    pub name: &'static str,
    /// Its role.
    pub role: Role,
    /// Generated password.
    pub password: SecretString,
    /// An API token, for trying the API with curl.
    pub token: SecretString,
}

/// What the demo created.
#[derive(Debug)]
pub struct Demo {
    /// The accounts.
    pub logins: Vec<DemoLogin>,
    /// How many contacts were created.
    pub n_contacts: usize,
}

impl Demo {
    /// A short printable guide to the demo: logins and a first request.
    pub fn guide(&self, base_url: &str) -> String {
        let mut text =
            String::from("Demo data created. Accounts (passwords are shown only now):\n");
        for login in &self.logins {
            text.push_str(&format!(
                "  {:<8} {:<12} password {}  token {}\n",
                login.name,
                login.role.as_str(),
                login.password.expose_secret(),
                login.token.expose_secret()
            ));
        }
        if let Some(supervisor) = self.logins.iter().find(|l| l.role == Role::Supervisor) {
            text.push_str(&format!(
                "Try: curl -H 'Authorization: Bearer {}' '{base_url}/api/v1/contacts?phone=040%20100%200001&purpose=quality_assurance'\n",
                supervisor.token.expose_secret()
            ));
        }
        text
    }
}

const FIRST: [&str; 8] = [
    "Matti", "Liisa", "Juhani", "Aino", "Pekka", "Helmi", "Ville", "Sanni",
];
const LAST: [&str; 6] = [
    "Esimerkki",
    "Testinen",
    "Demola",
    "Kuvitelma",
    "Mallinen",
    "Harjoitus",
];
const SERVICES: [&str; 4] = ["water-billing", "connections", "faults", "moving"];
const TOPICS: [&str; 4] = [
    "Water bill question",
    "New connection",
    "Leak report",
    "Change of address",
];

/// Creates demo accounts and `n_contacts` contacts with recordings, if the
/// register is empty. Returns `None` when it already holds contacts.
pub async fn populate(app: &Kirjuri, n_contacts: usize) -> Result<Option<Demo>> {
    if app.store.count_contacts().await? > 0 {
        return Ok(None);
    }
    let accounts = [
        ("aino", Role::Agent),
        ("bertta", Role::Agent),
        ("sanna", Role::Supervisor),
        ("admin", Role::Admin),
        ("pbx", Role::Integration),
    ];
    let mut logins = Vec::new();
    for (name, role) in accounts {
        let password = generate_password()?;
        if app.store.user_by_name(name).await?.is_none() {
            app.add_user(name, role, &password).await?;
        }
        let token = app.create_token(name, Some("demo".into()), None).await?;
        logins.push(DemoLogin {
            name,
            role,
            password,
            token,
        });
    }
    let pbx = app.store.user_by_name("pbx").await?.map(|u| u.id);
    let helsinki = FixedOffset::east_opt(2 * 3600)
        .ok_or(Error::Internal("chrono refused the UTC+2 offset"))?;
    let now: DateTime<FixedOffset> = app.clock.now().with_timezone(&helsinki);
    let encodings = [
        (Encoding::PcmS16, 1),
        (Encoding::PcmS16, 2),
        (Encoding::MuLaw, 1),
        (Encoding::ALaw, 2),
        (Encoding::PcmS24, 1),
        (Encoding::Float32, 2),
        (Encoding::PcmU8, 1),
    ];
    for i in 0..n_contacts {
        let started_at =
            helsinki.from_utc_datetime(&(now - Duration::hours(3 * i as i64 + 1)).naive_utc());
        let seconds = 20 + (i % 5) as u32 * 7;
        let ended_at = started_at + Duration::seconds(i64::from(seconds));
        let channel = if i % 6 == 5 {
            Channel::Chat
        } else if i % 4 == 3 {
            Channel::CallOut
        } else {
            Channel::CallIn
        };
        let withheld = i % 9 == 8;
        let input = ContactInput {
            external_id: Some(format!("demo-{i:05}")),
            channel,
            started_at,
            ended_at: Some(ended_at),
            service: Some(SERVICES[i % SERVICES.len()].to_owned()),
            agent: if i % 2 == 0 {
                "aino".into()
            } else {
                "bertta".into()
            },
            customer: Some(Customer {
                name: Some(format!(
                    "{} {}",
                    FIRST[i % FIRST.len()],
                    LAST[i % LAST.len()]
                )),
                phone: (!withheld).then(|| format!("040 100 {:04}", i + 1)),
                phone_withheld: withheld,
                email: Some(format!("asiakas{}@example.fi", i + 1)),
                address: Some(format!("Kuvitelmatie {}, 00100 Helsinki", i + 1)),
                language: Some(["fi", "sv", "en"][i % 3].to_owned()),
            }),
            contact_person: None,
            account: Some(Account {
                customer_number: Some(format!("{}", 100_000 + i)),
                billing: Some("e-invoice".into()),
                payment_status: Some(if i % 7 == 0 { "overdue" } else { "paid" }.into()),
            }),
            property: Some(Property {
                name: Some(format!("As Oy Demo {}", i + 1)),
                address: Some(format!("Kuvitelmatie {}", i + 1)),
                property_id: Some(format!("91-403-{}-{}", i + 1, i % 3 + 1)),
                kind: Some("apartment_building".into()),
                connection: None,
                details: None,
            }),
            service_content: Some(TOPICS[i % TOPICS.len()].to_owned()),
        };
        let (id, _) = app.create_contact(pbx, input).await?;
        if channel.carries_recording() {
            let (encoding, channels) = encodings[i % encodings.len()];
            let wav = wav_bytes(encoding, channels, 8000, 8000 * seconds, i % 3 == 1);
            let body =
                futures::stream::iter([Ok::<_, std::convert::Infallible>(bytes::Bytes::from(wav))]);
            app.store_recording(pbx, id, body, app.config.max_recording_bytes)
                .await?;
        }
    }
    Ok(Some(Demo { logins, n_contacts }))
}
