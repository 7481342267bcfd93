//! The SMTP sender, through `lettre` on tokio with rustls on ring: one
//! plain-text message per email, `From:` as configured, `Message-ID` made
//! from the outbox id. Also [`compose`], the one way an email is built,
//! which the file sender writes out as its `.eml`.
//!
//! A failure is kept as a code, never the server's text (a reply such as
//! `550 <address>: unknown user` quotes the recipient): a permanent (5xx)
//! reply gives up, a transient one (4xx), a refused or dropped connection
//! and a timeout retry.

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::config::{EmailSenderConfig, Endpoint, OutboxConfig, SmtpTls};
use super::{Content, Outgoing, SendError, Sender};
use crate::error::{Error, Result};

/// Sends email through one SMTP server.
#[derive(Clone)]
pub struct SmtpSender {
    /// The connection pool to the server.
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// The `From:` mailbox.
    from: Mailbox,
}

impl std::fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the credentials.
        f.debug_struct("SmtpSender").finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// A sender to `endpoint` as `config` says.
    pub(crate) fn new(
        config: &EmailSenderConfig,
        endpoint: &Endpoint,
        outbox: &OutboxConfig,
    ) -> Result<Self> {
        let tls = |wrap: fn(TlsParameters) -> Tls| {
            TlsParameters::new(endpoint.host.clone())
                .map(wrap)
                .map_err(|e| Error::Config {
                    setting: "outbox.email.tls",
                    problem: "cannot be set up for this server".to_owned(),
                    source: Some(Box::new(e)),
                })
        };
        let tls = match config.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => tls(Tls::Required)?,
            SmtpTls::Tls => tls(Tls::Wrapper)?,
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(endpoint.host.as_str())
                .port(endpoint.port)
                .tls(tls)
                .timeout(Some(std::time::Duration::from_secs(
                    outbox.send_timeout_seconds,
                )));
        if let Some(user) = &config.username {
            let password = config
                .password
                .as_ref()
                .map(|p| p.expose().to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Self {
            transport: builder.build(),
            from: config.sender_mailbox()?,
        })
    }
}

/// The email `message` is, from `from`: plain text, UTF-8.
pub(crate) fn compose(from: &Mailbox, message: &Outgoing) -> Result<Message, SendError> {
    let Content::Email { to, subject, body } = &message.content else {
        return Err(SendError::Permanent("not_an_email".to_owned()));
    };
    let to: Mailbox = to
        .parse()
        .map_err(|_| SendError::Permanent("bad_recipient".to_owned()))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject.as_str())
        .message_id(Some(format!("<{}@kirjuri>", message.id)))
        .date(message.created_at.into())
        .header(ContentType::TEXT_PLAIN)
        .body(body.clone())
        .map_err(|_| SendError::Permanent("unbuildable_email".to_owned()))
}

#[async_trait]
impl Sender for SmtpSender {
    async fn send(&self, message: &Outgoing) -> Result<(), SendError> {
        let email = compose(&self.from, message)?;
        match self.transport.send(email).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let code = e.status().map(|c| c.to_string());
                let error = match &code {
                    Some(code) => format!("smtp_{code}"),
                    None if e.is_timeout() => "smtp_timeout".to_owned(),
                    None => "smtp_unavailable".to_owned(),
                };
                if e.is_permanent() {
                    Err(SendError::Permanent(error))
                } else {
                    Err(SendError::Retryable(error))
                }
            }
        }
    }
}
