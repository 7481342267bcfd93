//! The durable outbox (SURV-1's last sentence; issue 12 sends its receipts
//! and one-time codes through it): email and SMS are queued in the database
//! sealed, and a background job ([`start_job`]) claims what is due, opens
//! it, hands it to the channel's [`Sender`], and marks it sent — or
//! schedules a retry with exponential backoff and jitter, or, after
//! `outbox.max_attempts` or a permanent refusal, marks it failed.
//!
//! **Nothing lost.** A message is in the database before [`Kirjuri::enqueue`]
//! returns. A claim lasts `outbox.lease_seconds`; if the process that
//! claimed a message dies, the claim runs out and any node sends it again.
//! A message is sent at least once: a sender killed after the server
//! accepted it and before it was marked sent sends it once more.
//!
//! **Personal data.** The recipient and the body are sealed exactly as a
//! contact's document is (a fresh data key, wrapped by the keyring, both
//! bound to the message id: [`Kirjuri::seal_message`]); the store sees only
//! ciphertext, a kind tag, times and states. Logs and `last_error` carry the
//! message id, kind and a short error code, never the recipient or body
//! (an SMTP server's reply can quote the address, so only its code is kept).
//! The file sender is the exception by design: it writes the messages
//! in plaintext into the owner-only `<data>/outbox/`, for a newcomer to
//! read; production configures SMTP and Kannel.
//!
//! Modules: `config` (`[outbox]`), `file`, `smtp` and `kannel` (the
//! senders). Not here: what messages say (their callers').

pub mod config;
pub mod file;
pub mod kannel;
pub mod smtp;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kirjuri_core::email::EmailAddress;
use kirjuri_core::ids::ObjectId;
use kirjuri_core::phone::PhoneNumber;
use kirjuri_store::{
    ClaimedMessage, NewOutboxMessage, OutboxChannel, OutboxEntry, SealedSecret, Settlement,
};
use kirjuri_vault::{open_to_vec, seal_to_vec};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::Kirjuri;
use crate::app::Background;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::surveys::Gate;

pub use config::OutboxConfig;

/// What a message says and to whom: personal data, sealed at rest.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "lowercase", deny_unknown_fields)]
pub enum Content {
    /// An email.
    Email {
        /// The recipient's address.
        to: String,
        /// The subject line.
        subject: String,
        /// The plain-text body.
        body: String,
    },
    /// An SMS.
    Sms {
        /// The recipient's number, E.164.
        to: String,
        /// The text.
        text: String,
    },
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the recipient or the text.
        f.write_str(match self {
            Content::Email { .. } => "Content::Email(<redacted>)",
            Content::Sms { .. } => "Content::Sms(<redacted>)",
        })
    }
}

impl Content {
    /// An email to `to` (checked as an address), with one-line `subject`.
    pub fn email(to: &str, subject: &str, body: &str) -> Result<Self> {
        let to = EmailAddress::parse(to, "to")?;
        if subject.chars().any(char::is_control) || subject.chars().count() > 200 {
            return Err(Error::bad_request(
                "outbox_subject",
                "the subject must be one line of at most 200 characters",
            ));
        }
        Ok(Content::Email {
            to: to.as_str().to_owned(),
            subject: subject.to_owned(),
            body: body.to_owned(),
        })
    }

    /// An SMS to `to` (checked and normalised to E.164).
    pub fn sms(to: &str, text: &str) -> Result<Self> {
        let to = PhoneNumber::parse(to, "to")?;
        if text.is_empty() || text.chars().count() > 1600 {
            return Err(Error::bad_request(
                "outbox_text",
                "an SMS text must be 1–1600 characters",
            ));
        }
        Ok(Content::Sms {
            to: to.e164().to_owned(),
            text: text.to_owned(),
        })
    }

    /// The channel it leaves by.
    pub fn channel(&self) -> OutboxChannel {
        match self {
            Content::Email { .. } => OutboxChannel::Email,
            Content::Sms { .. } => OutboxChannel::Sms,
        }
    }
}

/// A message opened for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Its id (a sender may use it to make delivery idempotent).
    pub id: Uuid,
    /// Its kind tag.
    pub kind: String,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// What it says and to whom.
    pub content: Content,
}

/// Why a sender did not deliver: a short code without personal data, and
/// whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Down, busy, timed out, or a temporary refusal: try again later.
    #[error("{0}")]
    Retryable(String),
    /// Refused for good (bad address, authentication, a 5xx reply): give up.
    #[error("{0}")]
    Permanent(String),
    /// Not sent, by the message's own rule, until this instant (a survey
    /// invitation in quiet hours): queued again for then.
    #[error("held until {0}")]
    Held(DateTime<Utc>),
}

/// One way out for one channel.
#[async_trait]
pub trait Sender: Send + Sync + std::fmt::Debug {
    /// Hands `message` over. Ok means the server took responsibility.
    async fn send(&self, message: &Outgoing) -> std::result::Result<(), SendError>;
}

/// The sender of each channel, as the configuration names them.
#[derive(Debug, Clone)]
pub struct Senders {
    /// Carries email.
    pub email: Arc<dyn Sender>,
    /// Carries SMS.
    pub sms: Arc<dyn Sender>,
}

impl Senders {
    /// The senders `config` names (checked by [`OutboxConfig::validate`]).
    pub fn from_config(config: &Config) -> Result<Self> {
        let outbox = &config.outbox;
        outbox.validate()?;
        let folder = file::FileSender::new(config.outbox_dir(), outbox.email.sender_mailbox()?);
        let email: Arc<dyn Sender> = match outbox.email_endpoint()? {
            None => Arc::new(folder.clone()),
            Some(endpoint) => Arc::new(smtp::SmtpSender::new(&outbox.email, &endpoint, outbox)?),
        };
        let sms: Arc<dyn Sender> = match outbox.sms_endpoint()? {
            None => Arc::new(folder),
            Some(endpoint) => Arc::new(kannel::KannelSender::new(&outbox.sms, endpoint, outbox)?),
        };
        Ok(Self { email, sms })
    }

    fn for_channel(&self, channel: OutboxChannel) -> &Arc<dyn Sender> {
        match channel {
            OutboxChannel::Email => &self.email,
            OutboxChannel::Sms => &self.sms,
        }
    }
}

/// What one [`Kirjuri::deliver_due`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Messages handed over.
    pub sent: usize,
    /// Messages queued again for a later attempt.
    pub retried: usize,
    /// Messages given up on.
    pub failed: usize,
    /// Messages another sender took over meanwhile (their claim ran out).
    pub lost_claim: usize,
}

/// The longest kind tag.
const MAX_KIND_LEN: usize = 64;

/// The most messages one [`Kirjuri::deliver_due`] handles, so a stop is
/// heard between rounds.
const ROUND_LIMIT: usize = 256;

impl Kirjuri {
    /// Seals `content` into a message of `kind`, due now — what
    /// [`Kirjuri::enqueue`] stores, and what a write that causes a message
    /// stores in its own transaction.
    pub fn seal_message(&self, kind: &str, content: &Content) -> Result<NewOutboxMessage> {
        if kind.is_empty()
            || kind.len() > MAX_KIND_LEN
            || !kind
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        {
            return Err(Error::bad_request(
                "outbox_kind",
                "a message kind is 1–64 characters of a–z, 0–9, '.', '_' and '-'",
            ));
        }
        let id = Uuid::now_v7();
        let object = ObjectId::from_uuid(id);
        let plaintext =
            Zeroizing::new(serde_json::to_vec(content).map_err(|source| Error::Encode {
                what: "an outbox message",
                source,
            })?);
        let key = self.keyring.generate_data_key()?;
        let now = self.clock.now();
        Ok(NewOutboxMessage {
            id,
            channel: content.channel(),
            kind: kind.to_owned(),
            sealed: SealedSecret {
                wrapped_key: self.keyring.wrap(&key, &object)?,
                sealed: seal_to_vec(&key, &object, &plaintext)?,
            },
            created_at: now,
            next_attempt_at: now,
        })
    }

    /// Queues `content` as a message of `kind` (e.g. `dsr.receipt`); the
    /// delivery job sends it. Returns its id.
    pub async fn enqueue(&self, kind: &str, content: &Content) -> Result<Uuid> {
        let message = self.seal_message(kind, content)?;
        self.store.enqueue_message(&message).await?;
        tracing::debug!(id = %message.id, kind, channel = %message.channel, "message queued");
        Ok(message.id)
    }

    /// The newest `limit` messages and their delivery state — never their
    /// recipient or body.
    pub async fn outbox_messages(&self, limit: u32) -> Result<Vec<OutboxEntry>> {
        Ok(self.store.outbox_messages(limit).await?)
    }

    fn open_message(&self, message: &ClaimedMessage) -> Result<Content> {
        let object = ObjectId::from_uuid(message.id);
        let key = self.keyring.unwrap(&message.sealed.wrapped_key, &object)?;
        let plaintext = Zeroizing::new(open_to_vec(&key, &object, &message.sealed.sealed)?);
        serde_json::from_slice(&plaintext)
            .map_err(|e| Error::decode("the outbox message", message.id, &e))
    }

    /// The check a message of its kind needs at send time: a survey
    /// invitation's ([`Kirjuri::survey_gate`]); every other kind is sent.
    async fn gate(&self, message: &ClaimedMessage) -> Result<Gate> {
        if message.kind == crate::surveys::INVITATION_KIND {
            self.survey_gate(message).await
        } else {
            Ok(Gate::Send)
        }
    }

    /// Sends what is due now, one claim at a time, until nothing is due (or
    /// [`ROUND_LIMIT`] messages): each sent, retried later or given up on.
    pub async fn deliver_due(&self, senders: &Senders) -> Result<Delivery> {
        self.deliver_round(senders, None).await
    }

    /// [`Kirjuri::deliver_due`], stopping before the next claim once
    /// `stop` is cancelled (the attempt in flight finishes).
    async fn deliver_round(
        &self,
        senders: &Senders,
        stop: Option<&tokio_util::sync::CancellationToken>,
    ) -> Result<Delivery> {
        let outbox = &self.config.outbox;
        let lease = chrono::Duration::seconds(i64::try_from(outbox.lease_seconds).unwrap_or(60));
        let timeout = Duration::from_secs(outbox.send_timeout_seconds);
        let mut delivery = Delivery::default();
        for _ in 0..ROUND_LIMIT {
            if stop.is_some_and(|s| s.is_cancelled()) {
                break;
            }
            let now = self.clock.now();
            let Some(message) = self
                .store
                .claim_messages(&self.instance.id, now, now + lease, 1)
                .await?
                .pop()
            else {
                break;
            };
            let outcome = match self.open_message(&message) {
                Err(e) => {
                    tracing::error!(id = %message.id, error = %e, "an outbox message cannot be opened");
                    Err(SendError::Permanent("unreadable".to_owned()))
                }
                Ok(content) => match self.gate(&message).await {
                    Err(e) => {
                        // The check could not be made: try later, never
                        // send unchecked.
                        tracing::error!(id = %message.id, error = %e, "an outbox message's send-time check failed");
                        Err(SendError::Retryable("check_failed".to_owned()))
                    }
                    Ok(Gate::Stop(code)) => Err(SendError::Permanent(code.to_owned())),
                    Ok(Gate::Wait(until)) => Err(SendError::Held(until)),
                    Ok(Gate::Send) => {
                        let outgoing = Outgoing {
                            id: message.id,
                            kind: message.kind.clone(),
                            created_at: message.created_at,
                            content,
                        };
                        let sender = senders.for_channel(message.channel);
                        match tokio::time::timeout(timeout, sender.send(&outgoing)).await {
                            Ok(result) => result,
                            Err(_) => Err(SendError::Retryable("timeout".to_owned())),
                        }
                    }
                },
            };
            let at = self.clock.now();
            let attempt = message.claim.attempt;
            let settlement = match outcome {
                Ok(()) => Settlement::Sent { at },
                Err(SendError::Held(until)) => Settlement::Retry {
                    at,
                    next_attempt_at: until,
                    error: "held".to_owned(),
                },
                Err(SendError::Retryable(error)) if attempt < outbox.max_attempts => {
                    let delay = backoff(outbox, attempt, random_fraction());
                    Settlement::Retry {
                        at,
                        next_attempt_at: at
                            + chrono::Duration::from_std(delay)
                                .unwrap_or(chrono::Duration::MAX / 2),
                        error,
                    }
                }
                Err(SendError::Retryable(error)) => Settlement::Failed {
                    at,
                    error: format!("{error}; gave up after {attempt} attempts"),
                },
                Err(SendError::Permanent(error)) => Settlement::Failed { at, error },
            };
            let settled = self
                .store
                .settle_message(&message.id, &message.claim, &settlement)
                .await?;
            let (kind, channel, id) = (&message.kind, message.channel, message.id);
            match (&settlement, settled) {
                (_, false) => {
                    tracing::warn!(%id, kind, "an outbox claim ran out before its attempt ended");
                    delivery.lost_claim += 1;
                }
                (Settlement::Sent { .. }, true) => {
                    tracing::info!(%id, kind, %channel, attempt, "message sent");
                    delivery.sent += 1;
                }
                (
                    Settlement::Retry {
                        error,
                        next_attempt_at,
                        ..
                    },
                    true,
                ) => {
                    tracing::warn!(%id, kind, %channel, attempt, error, %next_attempt_at, "message not sent; will retry");
                    delivery.retried += 1;
                }
                (Settlement::Failed { error, .. }, true) => {
                    tracing::error!(%id, kind, %channel, attempt, error, "message given up on");
                    delivery.failed += 1;
                }
            }
        }
        Ok(delivery)
    }
}

/// The delay before the attempt after `attempt`: `retry_base_seconds`
/// doubled per attempt, capped at `retry_max_seconds`, then jittered to
/// between half and all of it by `fraction` (0 to 1), so many messages
/// that failed together do not all come back together.
pub fn backoff(config: &OutboxConfig, attempt: u32, fraction: f64) -> Duration {
    let doublings = attempt.saturating_sub(1).min(40);
    let full = config
        .retry_base_seconds
        .saturating_mul(1u64 << doublings)
        .min(config.retry_max_seconds);
    let full = Duration::from_secs(full);
    full / 2 + full.mul_f64(fraction.clamp(0.0, 1.0) / 2.0)
}

/// A uniformly random fraction in [0, 1) (0 if the generator fails: the
/// backoff is then the shortest, never none).
fn random_fraction() -> f64 {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 4];
    match ring::rand::SystemRandom::new().fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_be_bytes(bytes)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.0,
    }
}

/// Starts the delivery job: every `outbox.poll_seconds`, sends what is due
/// with the configured senders. Every node runs one; claims keep them from
/// sending the same message. Stopping waits for the attempt in flight.
pub fn start_job(app: Kirjuri) -> Result<Background> {
    let senders = Senders::from_config(&app.config)?;
    let every = Duration::from_secs(app.config.outbox.poll_seconds.max(1));
    Ok(Background::spawn(move |stop| async move {
        loop {
            if let Err(e) = app.deliver_round(&senders, Some(&stop)).await {
                tracing::error!(error = ?e, "outbox delivery failed");
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
        }
    }))
}
