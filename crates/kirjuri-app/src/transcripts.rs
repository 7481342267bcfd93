//! Chat transcripts (REG-3, ING-1, issue 14 §1): a `chat` contact's
//! conversation, delivered by an integration (`PUT
//! /api/v1/contacts/{id}/transcript`) or by the chat system's signed
//! webhook, stored as one sealed object of kind [`TRANSCRIPT`], and read
//! back through the access decision and the audit log.
//!
//! A transcript is small and bounded (`kirjuri_core::transcript::MAX_BYTES`),
//! so it is validated whole in memory — it never touches disk in plaintext —
//! then sealed under its own data key in the vault's stream format, exactly
//! as a recording's waveform is, and committed with its wrapped key, row and
//! audit event in one transaction. The stored bytes are the bytes delivered:
//! the sha256 answered is the one the sender computed. Stored transcripts are
//! immutable evidence, like recordings: the same bytes again answer 200,
//! different bytes 409, and a purged one stays gone (410).
//!
//! **Who reads.** A transcript is the contact's content: its read is decided
//! as a contact read (`Action::ReadContact`: agents their own contacts, a
//! subject's restriction or objection applies) and audited as
//! `transcript.read`. A maintainer's contact read shows metadata only, so a
//! maintainer is refused the transcript (403).
//!
//! **The webhook** (`POST /api/v1/webhooks/chat`) carries the contact's
//! metadata (the `POST /api/v1/contacts` JSON), the chat system's id and the
//! transcript, signed `X-Kirjuri-Signature: sha256=<hex HMAC-SHA-256 of the
//! body>` with `[webhooks] chat_secret`. The signature is checked (in
//! constant time) before a byte is parsed; the chat id becomes the contact's
//! `external_id`, so a retried delivery finds the contact it made and
//! stores nothing twice; the same id with a different contact or transcript
//! is 409. There is no timestamp and no replay window: a replayed body can
//! only repeat what was done (200, nothing new), and after a purge the
//! transcript stays gone (410).
//!
//! Not here: the schema (`kirjuri_core::transcript`), HTTP (`kirjuri_web`).

use kirjuri_core::access::Actor;
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::contact::{Channel, ContactInput};
use kirjuri_core::ids::{ContactId, UserId};
use kirjuri_core::purpose::Purpose;
use kirjuri_core::transcript::{Transcript, TranscriptError};
use kirjuri_store::ObjectRow;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::Kirjuri;
use crate::content::{Sealed, WholeObject};
use crate::error::{Error, Result};
use crate::intake::Created;
use crate::retention::StoredKind;

/// Kind name of a chat transcript in the objects table.
pub const TRANSCRIPT: &str = "transcript";

/// The webhook's signature header.
pub const SIGNATURE_HEADER: &str = "x-kirjuri-signature";

/// The shortest webhook secret accepted, in bytes (HMAC-SHA-256's key
/// should carry at least its output's 256 bits).
pub const MIN_SECRET_BYTES: usize = 32;

/// `[webhooks]`: secrets shared with the systems that call Kirjuri.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// The chat system's HMAC secret (`KIRJURI_WEBHOOKS__CHAT_SECRET`);
    /// absent, `POST /api/v1/webhooks/chat` answers 404.
    #[serde(skip_serializing)]
    pub chat_secret: Option<WebhookSecret>,
}

impl WebhooksConfig {
    /// Refuses a secret too short to be one, naming the setting.
    pub fn validate(&self) -> Result<()> {
        if let Some(secret) = &self.chat_secret
            && secret.0.expose_secret().len() < MIN_SECRET_BYTES
        {
            return Err(Error::config(
                "webhooks.chat_secret",
                format!("must be at least {MIN_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`)"),
            ));
        }
        Ok(())
    }
}

/// A webhook's shared secret: redacted in `Debug`, never serialised.
#[derive(Clone)]
pub struct WebhookSecret(SecretString);

impl WebhookSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(SecretString::from(secret.into()))
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([REDACTED])")
    }
}

impl PartialEq for WebhookSecret {
    fn eq(&self, other: &Self) -> bool {
        self.0.expose_secret() == other.0.expose_secret()
    }
}

impl Eq for WebhookSecret {}

impl<'de> Deserialize<'de> for WebhookSecret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        SecretString::deserialize(deserializer).map(WebhookSecret)
    }
}

/// What the API answers for a stored transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TranscriptAck {
    /// The contact it belongs to.
    pub contact_id: ContactId,
    /// sha256 of the bytes as received, hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// How many messages it holds.
    pub messages: u64,
    /// When the transcript will be destroyed (RET-1).
    pub retain_until: chrono::DateTime<chrono::Utc>,
}

impl TranscriptAck {
    fn from_row(row: &ObjectRow) -> Self {
        Self {
            contact_id: row.contact_id,
            sha256: row.sha256.clone(),
            bytes: row.plaintext_len,
            messages: row
                .media
                .get("messages")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0),
            retain_until: row.retain_until,
        }
    }
}

/// The webhook's body: the contact, the chat system's id and the
/// transcript, whose bytes are kept exactly as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatDelivery {
    /// The chat system's id for the conversation.
    chat_id: String,
    /// The `POST /api/v1/contacts` JSON.
    contact: Box<serde_json::value::RawValue>,
    /// The transcript JSON.
    transcript: Box<serde_json::value::RawValue>,
}

/// A refused transcript, as the API answers it (422, the WAV's status).
fn refused(e: TranscriptError) -> Error {
    Error::Unprocessable {
        code: e.code,
        message: e.message,
    }
}

impl Kirjuri {
    /// Stores a chat contact's transcript: `body` is the JSON as delivered.
    pub async fn store_transcript(
        &self,
        actor: Option<UserId>,
        contact_id: ContactId,
        body: &[u8],
    ) -> Result<(TranscriptAck, Created)> {
        let contact = self
            .deliverable_contact(&contact_id, TRANSCRIPT, "this transcript")
            .await?;
        if contact.channel != Channel::Chat.as_str() {
            return Err(Error::Conflict {
                code: "not_a_chat",
                message: format!(
                    "only chats carry transcripts; this contact is a {}",
                    contact.channel
                ),
            });
        }
        let transcript = Transcript::parse(body).map_err(refused)?;
        let sha256 = hex::encode(ring::digest::digest(&ring::digest::SHA256, body));
        let started_at = self.open_document(&contact)?.started_at;
        let object = WholeObject {
            kind: TRANSCRIPT,
            body,
            media: json!({
                "format": "kirjuri-transcript-v1",
                "messages": transcript.messages.len(),
            }),
            retain_until: self
                .config
                .retention
                .retain_until(StoredKind::ChatTranscript, started_at),
        };
        // The personal identity codes said in the chat, findable by a
        // registrar (issue 14 §4); the transcript is UTF-8 JSON, and a code
        // is plain ASCII in it, never escaped.
        let index = self.hetu_entries(&String::from_utf8_lossy(body));
        let sealed = self
            .seal_whole_object(
                actor,
                contact_id,
                object,
                &index,
                Vec::new(),
                |object, sha256| AuditEvent::TranscriptCreated {
                    contact: contact_id,
                    object,
                    sha256,
                    bytes: body.len() as u64,
                },
            )
            .await?;
        match sealed {
            Sealed::New(row) => Ok((TranscriptAck::from_row(&row), Created::New)),
            Sealed::Existing(existing) => same_or_conflict(&existing, &sha256),
        }
    }

    /// `GET /api/v1/contacts/{id}/transcript`: the transcript's bytes as
    /// delivered, after the access decision and the audit append — with
    /// personal identity codes masked for all but registrars
    /// ([`crate::forms::sees_identity_codes`]).
    pub async fn read_transcript(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: ContactId,
        purpose: Purpose,
    ) -> Result<Vec<u8>> {
        let reason = actor.reason.clone();
        let plaintext = self
            .read_whole_object(
                actor,
                actor_id,
                id,
                purpose,
                TRANSCRIPT,
                "this transcript",
                "read_transcript",
                |object| AuditEvent::TranscriptRead {
                    contact: id,
                    object,
                    purpose,
                    reason,
                },
            )
            .await?;
        if crate::forms::sees_identity_codes(actor) {
            return Ok(plaintext);
        }
        // Agents and supervisors see `131052-****`: the mask replaces ASCII
        // with ASCII, so the JSON stays the JSON delivered, codes aside.
        let text = String::from_utf8(plaintext)
            .map_err(|_| Error::Damaged(format!("transcript of {id}")))?;
        Ok(kirjuri_core::hetu::mask_all(&text).into_bytes())
    }

    /// The transcript read as [`Kirjuri::read_transcript`] does, parsed for
    /// display (the UI's conversation).
    pub async fn read_conversation(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: ContactId,
        purpose: Purpose,
    ) -> Result<Transcript> {
        let bytes = self.read_transcript(actor, actor_id, id, purpose).await?;
        // It was validated at intake; failing now is damage, not the caller's.
        Transcript::parse(&bytes).map_err(|_| Error::Damaged(format!("transcript of {id}")))
    }

    /// `POST /api/v1/webhooks/chat`: checks the signature over `body`, then
    /// creates (or finds, by the chat id) the contact and stores its
    /// transcript. Answers the contact, its transcript's acknowledgement, and
    /// whether anything new was stored.
    pub async fn receive_chat_webhook(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(TranscriptAck, Created)> {
        let Some(secret) = &self.config.webhooks.chat_secret else {
            return Err(Error::NotFound);
        };
        verify_signature(secret, signature, body)?;
        let delivery: ChatDelivery = serde_json::from_slice(body).map_err(|e| {
            // serde's message could quote a value; keep its category only.
            let what = match e.classify() {
                serde_json::error::Category::Data => {
                    "the delivery must be {\"chat_id\", \"contact\", \"transcript\"} and nothing else"
                }
                _ => "the delivery is not valid JSON",
            };
            Error::Unprocessable {
                code: "invalid_delivery",
                message: format!("{what} (line {}, column {})", e.line(), e.column()),
            }
        })?;
        check_chat_id(&delivery.chat_id)?;
        let mut input = ContactInput::from_json(delivery.contact.get().as_bytes())?;
        if input.channel != Channel::Chat {
            return Err(Error::Unprocessable {
                code: "not_a_chat",
                message: "a chat delivery's contact must have channel chat".into(),
            });
        }
        match &input.external_id {
            Some(external) if external != &delivery.chat_id => {
                return Err(Error::Unprocessable {
                    code: "external_id_mismatch",
                    message: "contact.external_id, when given, must equal chat_id".into(),
                });
            }
            _ => input.external_id = Some(delivery.chat_id.clone()),
        }
        // Everything is checked before anything is stored.
        let valid = input.clone().validate()?;
        let transcript = delivery.transcript.get().as_bytes();
        Transcript::parse(transcript).map_err(refused)?;

        let (contact_id, contact_created) = self.create_contact(None, input).await?;
        if contact_created == Created::Existing {
            let row = self
                .store
                .contact(&contact_id)
                .await?
                .ok_or(Error::Internal("a found contact vanished"))?;
            if !row.is_erased() && self.open_document(&row)? != valid.document {
                return Err(Error::Conflict {
                    code: "chat_exists",
                    message: "this chat_id was delivered before with a different contact".into(),
                });
            }
        }
        let (ack, transcript_created) = self.store_transcript(None, contact_id, transcript).await?;
        let created = if contact_created == Created::New || transcript_created == Created::New {
            Created::New
        } else {
            Created::Existing
        };
        Ok((ack, created))
    }
}

/// The chat system's id: 1–200 visible characters.
fn check_chat_id(chat_id: &str) -> Result<()> {
    let ok = !chat_id.is_empty()
        && chat_id.chars().count() <= 200
        && !chat_id.chars().any(char::is_control)
        && chat_id.trim() == chat_id;
    if ok {
        Ok(())
    } else {
        Err(Error::Unprocessable {
            code: "invalid_delivery",
            message: "chat_id must be 1–200 characters, without control characters".into(),
        })
    }
}

/// Checks `sha256=<hex>` against the body's HMAC-SHA-256 under `secret`,
/// in constant time (ring's `verify`). Any failure is the same 401.
fn verify_signature(secret: &WebhookSecret, signature: Option<&str>, body: &[u8]) -> Result<()> {
    let presented = signature
        .and_then(|s| s.trim().strip_prefix("sha256="))
        .and_then(|hex_tag| hex::decode(hex_tag).ok())
        .ok_or(Error::Unauthenticated)?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.0.expose_secret().as_bytes());
    ring::hmac::verify(&key, body, &presented).map_err(|_| Error::Unauthenticated)
}

fn same_or_conflict(existing: &ObjectRow, sha256: &str) -> Result<(TranscriptAck, Created)> {
    if existing.sha256 == sha256 {
        Ok((TranscriptAck::from_row(existing), Created::Existing))
    } else {
        Err(Error::Conflict {
            code: "transcript_exists",
            message: "this contact already has a different transcript; stored transcripts are immutable evidence"
                .into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn sign(body: &[u8]) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
        format!("sha256={}", hex::encode(ring::hmac::sign(&key, body)))
    }

    #[test]
    fn only_the_bodys_own_signature_under_the_secret_passes() {
        let secret = WebhookSecret::new(SECRET);
        let body = br#"{"chat_id":"c-1"}"#;
        assert!(verify_signature(&secret, Some(&sign(body)), body).is_ok());
        assert!(verify_signature(&secret, Some(&sign(b"other")), body).is_err());
        assert!(verify_signature(&secret, None, body).is_err());
        assert!(verify_signature(&secret, Some("sha256=zz"), body).is_err());
        assert!(verify_signature(&secret, Some(&sign(body).replace("sha256=", "")), body).is_err());
    }

    #[test]
    fn a_short_secret_is_refused_naming_the_setting() {
        let config = WebhooksConfig {
            chat_secret: Some(WebhookSecret::new("short")),
        };
        let refused = config.validate().unwrap_err();
        assert!(refused.to_string().contains("webhooks.chat_secret"));
        assert!(!format!("{config:?}").contains("short"));
    }
}
