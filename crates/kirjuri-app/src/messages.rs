//! Email messages (REG-3, ING-1, issue 14 §2): an `email` contact's whole
//! RFC 5322 message, delivered by an integration (`PUT
//! /api/v1/contacts/{id}/message`) or by the mail server over LMTP
//! ([`Kirjuri::receive_mail`], called by `kirjuri_web::lmtp`), stored
//! bit-exact as one sealed object of kind [`MESSAGE`] (`content`), and read
//! back through the access decision and the audit log (`message.read`).
//!
//! The rules a message must pass and its parsed form are
//! `kirjuri_core::message`. A message is bounded
//! ([`EmailConfig::max_message_bytes`], 25 MiB by default) and held whole in
//! memory while it is checked and sealed; it never touches disk in
//! plaintext. Stored messages are immutable evidence, like recordings: the
//! same bytes again answer 200, different bytes 409, a purged one stays
//! gone (410).
//!
//! **Mail from the mail server.** Each message delivered over LMTP becomes
//! its own `email` contact, assigned to the account that handles the
//! mailbox (`[email] lmtp_agent`) under `[email] lmtp_service`, created by
//! no account (the system, as the chat webhook's contacts are). The
//! customer's address (From, else the envelope sender) and display name
//! become the contact's identifiers, so the contact is found by its
//! address; its `external_id` is `email:` and the sha256 of the
//! Message-ID (of the bytes when there is none), so a redelivery of the
//! same message stores nothing twice, and the thread's first Message-ID is
//! kept hashed (`media.thread`) to tie replies together without keeping the
//! ids themselves in the clear. The contact starts at the message's `Date`
//! when that is within [`DATE_PAST_DAYS`] before and [`DATE_FUTURE_MINUTES`]
//! after its receipt, else at its receipt: a forged date cannot move its
//! retention deadline.
//!
//! Not here: the LMTP protocol (`kirjuri_web::lmtp`), HTML sanitising (the
//! web layer, at display), attachments as objects of their own.

use chrono::{DateTime, Duration, Utc};
use kirjuri_core::access::Actor;
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::contact::{Channel, ContactInput, Customer};
use kirjuri_core::email::EmailAddress;
use kirjuri_core::ids::{ContactId, UserId};
use kirjuri_core::message::{DEFAULT_MAX_BYTES, MessageError, ParsedMessage};
use kirjuri_core::purpose::Purpose;
use kirjuri_core::username::UserName;
use kirjuri_store::ObjectRow;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::Kirjuri;
use crate::attachments::AttachmentPart;
use crate::content::{Sealed, WholeObject};
use crate::error::{Error, Result};
use crate::intake::Created;
use crate::retention::StoredKind;

/// Kind name of an email message in the objects table.
pub const MESSAGE: &str = "message";

/// How far before its receipt a message's `Date` is believed.
pub const DATE_PAST_DAYS: i64 = 30;

/// How far after its receipt a message's `Date` is believed.
pub const DATE_FUTURE_MINUTES: i64 = 60;

/// `[email]`: the size limit and the LMTP intake (the listener's address is
/// the top-level `lmtp_listen`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// The largest message accepted, in bytes (API 413, LMTP 552).
    pub max_message_bytes: usize,
    /// The account the mail server's messages are assigned to (the agent
    /// who handles the mailbox); required when `lmtp_listen` is set.
    pub lmtp_agent: Option<String>,
    /// The service the mail server's messages land under.
    pub lmtp_service: String,
    /// LMTP connections served at once; more are refused with 421.
    pub lmtp_max_connections: usize,
    /// Recipients one LMTP transaction may name; more answer 452.
    pub lmtp_max_recipients: usize,
    /// A command line must arrive whole within this many seconds.
    pub lmtp_command_timeout_seconds: u64,
    /// A message's DATA must arrive whole within this many seconds.
    pub lmtp_data_timeout_seconds: u64,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: DEFAULT_MAX_BYTES,
            lmtp_agent: None,
            lmtp_service: "email".to_owned(),
            lmtp_max_connections: 32,
            lmtp_max_recipients: 50,
            lmtp_command_timeout_seconds: 300,
            lmtp_data_timeout_seconds: 600,
        }
    }
}

impl EmailConfig {
    /// Refuses limits that cannot work and an LMTP intake without its
    /// agent, naming the setting.
    pub fn validate(&self, lmtp: bool) -> Result<()> {
        if self.max_message_bytes < 1024 {
            return Err(Error::config(
                "email.max_message_bytes",
                "must be at least 1024",
            ));
        }
        if self.lmtp_max_connections == 0 || self.lmtp_max_recipients == 0 {
            return Err(Error::config(
                "email.lmtp_max_connections",
                "and email.lmtp_max_recipients must be at least 1",
            ));
        }
        if self.lmtp_command_timeout_seconds == 0 || self.lmtp_data_timeout_seconds == 0 {
            return Err(Error::config(
                "email.lmtp_command_timeout_seconds",
                "and email.lmtp_data_timeout_seconds must be at least 1",
            ));
        }
        match &self.lmtp_agent {
            Some(agent) => {
                UserName::parse(agent, "email.lmtp_agent")
                    .map_err(|e| Error::config("email.lmtp_agent", e.to_string()))?;
            }
            None if lmtp => {
                return Err(Error::config(
                    "email.lmtp_agent",
                    "must name the account that handles the mailbox when lmtp_listen is set",
                ));
            }
            None => {}
        }
        Ok(())
    }
}

/// What the API answers for a stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageAck {
    /// The contact it belongs to.
    pub contact_id: ContactId,
    /// sha256 of the bytes as received, hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// How many attachments it carries.
    pub attachments: u64,
    /// What in it could not be read (kept, flagged).
    pub flags: serde_json::Value,
    /// When the message will be destroyed (RET-1).
    pub retain_until: DateTime<Utc>,
}

impl MessageAck {
    fn from_row(row: &ObjectRow) -> Self {
        Self {
            contact_id: row.contact_id,
            sha256: row.sha256.clone(),
            bytes: row.plaintext_len,
            attachments: row
                .media
                .get("attachments")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0),
            flags: row.media.get("flags").cloned().unwrap_or_else(|| json!([])),
            retain_until: row.retain_until,
        }
    }
}

/// A refused message, as the API answers it (422).
pub fn refused(e: MessageError) -> Error {
    Error::Unprocessable {
        code: e.code,
        message: e.message,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

impl Kirjuri {
    /// Stores an email contact's message: `body` is the message as
    /// delivered (already within `max_message_bytes`).
    pub async fn store_message(
        &self,
        actor: Option<UserId>,
        contact_id: ContactId,
        body: &[u8],
    ) -> Result<(MessageAck, Created)> {
        let contact = self
            .deliverable_contact(&contact_id, MESSAGE, "this message")
            .await?;
        if contact.channel != Channel::Email.as_str() {
            return Err(Error::Conflict {
                code: "not_an_email",
                message: format!(
                    "only email contacts carry messages; this contact is a {}",
                    contact.channel
                ),
            });
        }
        if body.len() > self.config.email.max_message_bytes {
            return Err(Error::TooLarge {
                limit: self.config.email.max_message_bytes as u64,
            });
        }
        let parsed = ParsedMessage::parse(body).map_err(refused)?;
        let sha256 = sha256_hex(body);
        if let Some(existing) = self.store.object_for_contact(&contact_id, MESSAGE).await? {
            return Self::same_message_or_conflict(existing, &sha256);
        }
        let started_at = self.open_document(&contact)?.started_at;
        let (parts, kept_in_message) = self.extractable_attachments(body);
        let attachments = self
            .stage_attachments(
                actor,
                contact_id,
                started_at,
                &parts,
                1,
                self.config.email.max_message_bytes as u64,
            )
            .await?;
        let object = WholeObject {
            kind: MESSAGE,
            body,
            media: json!({
                "format": "message/rfc822",
                "attachments": parsed.attachments.len(),
                "attachments_kept_in_message": kept_in_message,
                "flags": parsed.flags,
                "thread": parsed.thread_root.as_deref().map(|id| sha256_hex(id.as_bytes())),
            }),
            retain_until: self
                .config
                .retention
                .retain_until(StoredKind::Email, started_at),
        };
        // The personal identity codes in its text (decoded from its MIME
        // transfer encoding), findable by a registrar (issue 14 §4).
        let index = self.hetu_entries(parsed.text.as_deref().unwrap_or_default());
        let sealed = self
            .seal_whole_object(
                actor,
                contact_id,
                object,
                &index,
                attachments,
                |object, sha256| AuditEvent::ContentCreated {
                    kind: MESSAGE,
                    contact: contact_id,
                    object,
                    sha256,
                    bytes: body.len() as u64,
                },
            )
            .await?;
        match sealed {
            Sealed::New(row) => Ok((MessageAck::from_row(&row), Created::New)),
            Sealed::Existing(existing) => Self::same_message_or_conflict(existing, &sha256),
        }
    }

    /// The message's attachments that are stored as their own sealed
    /// objects — those whose type the `[attachments]` policy allows (judged
    /// by content), named, non-empty, at most `MAX_PER_CONTACT` — and how
    /// many others stay only inside the sealed message, as a mail server
    /// keeps what it cannot classify rather than bounce the mail.
    fn extractable_attachments(&self, body: &[u8]) -> (Vec<AttachmentPart>, usize) {
        let limit = self.config.email.max_message_bytes as u64;
        let mut parts = Vec::new();
        let mut kept = 0;
        for content in kirjuri_core::message::attachment_contents(body) {
            let part = AttachmentPart {
                name: content.name.unwrap_or_else(|| "attachment".to_owned()),
                media_type: Some(content.content_type),
                bytes: bytes::Bytes::from(content.bytes),
            };
            let fits = parts.len() < crate::attachments::MAX_PER_CONTACT
                && crate::attachments::check_part(
                    &self.config.attachments,
                    &part,
                    parts.len() + 1,
                    limit,
                )
                .is_ok();
            if fits {
                parts.push(part);
            } else {
                kept += 1;
            }
        }
        (parts, kept)
    }

    /// 200 for the same bytes again, 409 for different ones.
    fn same_message_or_conflict(
        existing: ObjectRow,
        sha256: &str,
    ) -> Result<(MessageAck, Created)> {
        if existing.sha256 == sha256 {
            return Ok((MessageAck::from_row(&existing), Created::Existing));
        }
        Err(Error::Conflict {
        code: "message_exists",
        message: "this contact already has a different message; stored messages are immutable evidence"
            .into(),
    })
    }

    /// `GET /api/v1/contacts/{id}/message`: the message's bytes as
    /// delivered, after the access decision and the audit append.
    pub async fn read_message(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: ContactId,
        purpose: Purpose,
    ) -> Result<Vec<u8>> {
        let reason = actor.reason.clone();
        self.read_whole_object(
            actor,
            actor_id,
            id,
            purpose,
            MESSAGE,
            "this message",
            "read_message",
            |object| AuditEvent::ContentRead {
                kind: MESSAGE,
                contact: id,
                object,
                purpose,
                reason,
            },
        )
        .await
    }

    /// The message read as [`Kirjuri::read_message`] does, parsed for
    /// display (the contact page) — its attachments listed.
    pub async fn read_email(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: ContactId,
        purpose: Purpose,
    ) -> Result<ParsedMessage> {
        let bytes = self.read_message(actor, actor_id, id, purpose).await?;
        // It passed these rules at intake; failing now is damage.
        ParsedMessage::parse(&bytes).map_err(|_| Error::Damaged(format!("message of {id}")))
    }

    /// A message from the mail server (LMTP): becomes an `email` contact of
    /// its own, found by the sender's address, with the message stored
    /// sealed. `envelope_sender` is MAIL FROM's address (`None` for the
    /// null sender). A redelivery of the same Message-ID stores nothing
    /// (`Created::Existing`), whatever its bytes.
    pub async fn receive_mail(
        &self,
        envelope_sender: Option<&str>,
        body: &[u8],
    ) -> Result<Created> {
        let Some(agent) = &self.config.email.lmtp_agent else {
            return Err(Error::config(
                "email.lmtp_agent",
                "must name the account that handles the mailbox",
            ));
        };
        if body.len() > self.config.email.max_message_bytes {
            return Err(Error::TooLarge {
                limit: self.config.email.max_message_bytes as u64,
            });
        }
        let parsed = ParsedMessage::parse(body).map_err(refused)?;
        let received = self.clock.now();
        let started_at = parsed
            .date
            .filter(|date| {
                let date = date.to_utc();
                date >= received - Duration::days(DATE_PAST_DAYS)
                    && date <= received + Duration::minutes(DATE_FUTURE_MINUTES)
            })
            .unwrap_or_else(|| received.fixed_offset());
        let address = [parsed.from_address.as_deref(), envelope_sender]
            .into_iter()
            .flatten()
            .find_map(|a| EmailAddress::parse(a, "from").ok())
            .map(|a| a.as_str().to_owned());
        let name = parsed.from_name.as_deref().and_then(display_name);
        let external_id = match &parsed.message_id {
            Some(id) => format!("email:{}", sha256_hex(id.as_bytes())),
            None => format!("email:{}", sha256_hex(body)),
        };
        let customer = (address.is_some() || name.is_some()).then(|| Customer {
            name,
            email: address,
            ..Customer::default()
        });
        let input = ContactInput {
            external_id: Some(external_id),
            channel: Channel::Email,
            started_at,
            ended_at: None,
            service: Some(self.config.email.lmtp_service.clone()),
            agent: agent.clone(),
            customer,
            contact_person: None,
            account: None,
            property: None,
            service_content: None,
        };
        let (contact_id, contact_created) = self.create_contact(None, input).await?;
        if contact_created == Created::Existing
            && self
                .store
                .object_for_contact(&contact_id, MESSAGE)
                .await?
                .is_some()
        {
            return Ok(Created::Existing);
        }
        match self.store_message(None, contact_id, body).await {
            Ok((_, created)) => Ok(created),
            // Another copy of this Message-ID with other bytes (another
            // route, another Received line): the first one is the evidence.
            Err(Error::Conflict { .. }) => Ok(Created::Existing),
            Err(e) => Err(e),
        }
    }
}

/// A display name as a contact keeps it: control characters dropped,
/// trimmed, at most 200 characters; `None` when nothing is left.
fn display_name(name: &str) -> Option<String> {
    let clean: String = name.chars().filter(|c| !c.is_control()).take(200).collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_lmtp_intake_needs_its_agent_and_sane_limits() {
        let config = EmailConfig::default();
        assert!(config.validate(false).is_ok());
        let refused = config.validate(true).unwrap_err();
        assert!(refused.to_string().contains("email.lmtp_agent"));
        let config = EmailConfig {
            lmtp_agent: Some("aino".into()),
            ..EmailConfig::default()
        };
        assert!(config.validate(true).is_ok());
        let tiny = EmailConfig {
            max_message_bytes: 10,
            ..config
        };
        assert!(tiny.validate(true).is_err());
    }

    #[test]
    fn a_display_name_is_cleaned_or_dropped() {
        assert_eq!(display_name(" Tiina\u{7} T "), Some("Tiina T".into()));
        assert_eq!(display_name("\u{0}\u{1}"), None);
        assert_eq!(display_name(&"a".repeat(500)).unwrap().len(), 200);
    }
}
