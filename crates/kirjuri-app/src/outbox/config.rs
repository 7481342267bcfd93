//! `[outbox]`: which senders carry email and SMS, and the delivery job's
//! pace — retries, backoff, claims. The defaults need no configuration:
//! both channels go to the file sender (`<data>/outbox/`).
//!
//! ```toml
//! [outbox.email]
//! sender = "smtp"                   # or "file" (the default)
//! url = "smtp://mail.example.fi:587"
//! tls = "starttls"                  # "none", "starttls" or "tls"
//! from = "Kirjuri <kirjasto@example.fi>"
//! username = "kirjuri"              # optional; the password is better set as
//!                                   # KIRJURI_OUTBOX__EMAIL__PASSWORD
//! country = "FI"                    # required: where the server runs (EU/EEA only)
//! [outbox.sms]
//! sender = "kannel"                 # or "file"
//! url = "http://sms.example.fi:13013"
//! username = "kirjuri"
//! password = "…"                    # KIRJURI_OUTBOX__SMS__PASSWORD
//! from = "Kirjuri"
//! country = "FI"                    # required: where the gateway runs (EU/EEA only)
//! ```
//!
//! Passwords are [`SecretText`]: never serialised, redacted in `Debug`, and
//! no refusal quotes them (nor a URL, which may carry user info).
//! [`OutboxConfig::validate`] refuses a bad value naming the setting.

use kirjuri_core::location::check_country;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};

/// `[outbox]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// How email leaves.
    pub email: EmailSenderConfig,
    /// How SMS leaves.
    pub sms: SmsSenderConfig,
    /// Seconds between the delivery job's looks for due messages.
    pub poll_seconds: u64,
    /// The first retry's delay in seconds; each later one doubles it…
    pub retry_base_seconds: u64,
    /// …up to this many seconds.
    pub retry_max_seconds: u64,
    /// Attempts before a message is given up on (`failed`).
    pub max_attempts: u32,
    /// How long one attempt may take before it is abandoned and retried.
    pub send_timeout_seconds: u64,
    /// How long a claim lasts: a message whose sender died is sent again
    /// after this. Longer than `send_timeout_seconds`.
    pub lease_seconds: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            email: EmailSenderConfig::default(),
            sms: SmsSenderConfig::default(),
            poll_seconds: 5,
            retry_base_seconds: 30,
            retry_max_seconds: 60 * 60,
            max_attempts: 12,
            send_timeout_seconds: 30,
            lease_seconds: 120,
        }
    }
}

/// Which sender carries a channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SenderKind {
    /// Files in `<data>/outbox/` (the default).
    #[default]
    File,
    /// An SMTP server (email only).
    Smtp,
    /// Kannel's `sendsms` HTTP interface (SMS only).
    Kannel,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Upgrade with STARTTLS, required (the default).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// Plain text: only for a relay on this machine or in tests.
    None,
}

/// `[outbox.email]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailSenderConfig {
    /// `file` or `smtp`.
    pub sender: SenderKind,
    /// `smtp://host:port` (with `sender = "smtp"`). Kept like a secret: a
    /// mistaken one may carry a password.
    #[serde(skip_serializing)]
    pub url: Option<SecretText>,
    /// How the connection is protected.
    pub tls: SmtpTls,
    /// The `From:` address (`Name <address>` or a bare address).
    pub from: String,
    /// SMTP AUTH user, if the server needs one.
    pub username: Option<String>,
    /// SMTP AUTH password.
    #[serde(skip_serializing)]
    pub password: Option<SecretText>,
    /// The ISO 3166-1 country where the SMTP server runs (required with
    /// `sender = "smtp"`; it must be in the EU/EEA, notice §9, DIS-1).
    pub country: Option<String>,
}

impl Default for EmailSenderConfig {
    fn default() -> Self {
        Self {
            sender: SenderKind::File,
            url: None,
            tls: SmtpTls::default(),
            from: "Kirjuri <kirjuri@kirjuri.invalid>".to_owned(),
            username: None,
            password: None,
            country: None,
        }
    }
}

/// `[outbox.sms]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsSenderConfig {
    /// `file` or `kannel`.
    pub sender: SenderKind,
    /// Kannel's smsbox, `http(s)://host:sendsms-port` (with `sender =
    /// "kannel"`); `/cgi-bin/sendsms` is appended. Kept like a secret.
    #[serde(skip_serializing)]
    pub url: Option<SecretText>,
    /// The `sendsms-user`'s name.
    pub username: Option<String>,
    /// The `sendsms-user`'s password.
    #[serde(skip_serializing)]
    pub password: Option<SecretText>,
    /// The sender shown on the phone (a number or up to 11 letters); none:
    /// Kannel's `global-sender`.
    pub from: Option<String>,
    /// The ISO 3166-1 country where the SMS gateway runs (required with
    /// `sender = "kannel"`; it must be in the EU/EEA, notice §9, DIS-1).
    pub country: Option<String>,
}

impl Default for SmsSenderConfig {
    fn default() -> Self {
        Self {
            sender: SenderKind::File,
            url: None,
            username: None,
            password: None,
            from: None,
            country: None,
        }
    }
}

/// A password in the configuration: redacted in `Debug`, never serialised,
/// never quoted.
#[derive(Clone)]
pub struct SecretText(SecretString);

impl SecretText {
    /// Wraps a secret.
    pub fn new(text: impl Into<String>) -> Self {
        Self(SecretString::from(text.into()))
    }

    /// The secret itself: hand it to the server and nowhere else.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText([REDACTED])")
    }
}

impl PartialEq for SecretText {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for SecretText {}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        SecretString::deserialize(deserializer).map(SecretText)
    }
}

/// The longest delay or timeout accepted: a week.
const MAX_SECONDS: u64 = 7 * 24 * 60 * 60;

/// The most attempts accepted.
const MAX_ATTEMPTS: u32 = 1000;

/// A parsed sender URL: scheme, host and port, nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// The URL (for reqwest).
    pub(crate) url: reqwest::Url,
    /// Its host.
    pub(crate) host: String,
    /// Its port (or the scheme's default).
    pub(crate) port: u16,
}

impl OutboxConfig {
    /// Refuses what cannot work, naming the setting; never quotes a URL or
    /// a password.
    pub fn validate(&self) -> Result<()> {
        let seconds = |setting: &'static str, value: u64, min: u64| {
            if (min..=MAX_SECONDS).contains(&value) {
                Ok(())
            } else {
                Err(Error::config(
                    setting,
                    format!("must be between {min} and {MAX_SECONDS} (it is {value})"),
                ))
            }
        };
        seconds("outbox.poll_seconds", self.poll_seconds, 1)?;
        seconds("outbox.retry_base_seconds", self.retry_base_seconds, 1)?;
        seconds(
            "outbox.retry_max_seconds",
            self.retry_max_seconds,
            self.retry_base_seconds,
        )?;
        seconds("outbox.send_timeout_seconds", self.send_timeout_seconds, 1)?;
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err(Error::config(
                "outbox.max_attempts",
                format!(
                    "must be between 1 and {MAX_ATTEMPTS} (it is {})",
                    self.max_attempts
                ),
            ));
        }
        seconds(
            "outbox.lease_seconds",
            self.lease_seconds,
            self.send_timeout_seconds.saturating_add(1),
        )?;
        self.email_endpoint()?;
        self.email.sender_mailbox()?;
        self.sms_endpoint()?;
        if let Some(from) = &self.sms.from
            && (from.is_empty() || from.chars().count() > 16 || from.chars().any(char::is_control))
        {
            return Err(Error::config(
                "outbox.sms.from",
                "must be 1–16 characters on one line",
            ));
        }
        Ok(())
    }

    /// The SMTP server, with `sender = "smtp"`.
    pub(crate) fn email_endpoint(&self) -> Result<Option<Endpoint>> {
        match self.email.sender {
            SenderKind::File => Ok(None),
            SenderKind::Smtp => {
                let endpoint = endpoint(
                    "outbox.email.url",
                    self.email.url.as_ref().map(SecretText::expose),
                    &["smtp"],
                )?;
                endpoint_country("outbox.email.country", self.email.country.as_deref())?;
                Ok(Some(endpoint))
            }
            SenderKind::Kannel => Err(Error::config(
                "outbox.email.sender",
                "must be \"file\" or \"smtp\" (kannel carries SMS only)",
            )),
        }
    }

    /// Kannel's smsbox, with `sender = "kannel"`.
    pub(crate) fn sms_endpoint(&self) -> Result<Option<Endpoint>> {
        match self.sms.sender {
            SenderKind::File => Ok(None),
            SenderKind::Kannel => {
                let endpoint = endpoint(
                    "outbox.sms.url",
                    self.sms.url.as_ref().map(SecretText::expose),
                    &["http", "https"],
                )?;
                if self.sms.username.as_deref().is_none_or(str::is_empty) {
                    return Err(Error::config(
                        "outbox.sms.username",
                        "is required with sender = \"kannel\" (the sendsms-user's name)",
                    ));
                }
                if self.sms.password.is_none() {
                    return Err(Error::config(
                        "outbox.sms.password",
                        "is required with sender = \"kannel\" (the sendsms-user's password)",
                    ));
                }
                endpoint_country("outbox.sms.country", self.sms.country.as_deref())?;
                Ok(Some(endpoint))
            }
            SenderKind::Smtp => Err(Error::config(
                "outbox.sms.sender",
                "must be \"file\" or \"kannel\" (smtp carries email only)",
            )),
        }
    }
}

impl EmailSenderConfig {
    /// The `From:` mailbox.
    pub(crate) fn sender_mailbox(&self) -> Result<lettre::message::Mailbox> {
        self.from.parse().map_err(|_| {
            Error::config(
                "outbox.email.from",
                "must be an email address, optionally as \"Name <address>\"",
            )
        })
    }
}

/// Checks an endpoint's declared country at `setting`: required, and in the
/// EU/EEA — messages pass through it, so it is processing there (DIS-1).
fn endpoint_country(setting: &'static str, country: Option<&str>) -> Result<()> {
    let Some(country) = country else {
        return Err(Error::config(
            setting,
            "is required with this sender: declare the ISO 3166-1 country code (e.g. \"FI\") \
             where the server runs",
        ));
    };
    check_country(country)
        .map(|_| ())
        .map_err(|e| Error::config(setting, format!("is refused: {e}")))
}

/// Parses the URL at `setting`: one of `schemes`, a host, no path beyond
/// `/`, no query. The refusal names the setting and never quotes the URL.
fn endpoint(setting: &'static str, url: Option<&str>, schemes: &[&str]) -> Result<Endpoint> {
    let Some(text) = url else {
        return Err(Error::config(setting, "is required with this sender"));
    };
    let wanted = schemes.join("://… or ") + "://…";
    let url = reqwest::Url::parse(text)
        .map_err(|_| Error::config(setting, format!("is not a URL (expected {wanted})")))?;
    if !schemes.contains(&url.scheme()) {
        return Err(Error::config(setting, format!("must be a {wanted} URL")));
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err(Error::config(setting, "names no host"));
    };
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config(
            setting,
            "must be the server's address only, without a path or query",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::config(
            setting,
            "must not carry user info; set the username and password settings",
        ));
    }
    let port = url
        .port_or_known_default()
        .or(if url.scheme() == "smtp" {
            Some(25)
        } else {
            None
        })
        .ok_or_else(|| Error::config(setting, "names no port"))?;
    if port == 0 {
        return Err(Error::config(setting, "names port 0"));
    }
    Ok(Endpoint {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
        url,
    })
}
