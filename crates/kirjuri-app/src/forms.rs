//! Web forms (REG-3, ING-1, issue 14 §3): a customer's message from the
//! public contact form (`/contact`) or from the utility's own site (`POST
//! /api/v1/forms`), landing as a `form` contact, and read back through the
//! access decision.
//!
//! **Where the message goes.** The customer's identifiers (name, email,
//! phone, customer number) go into the contact's sealed document, so the
//! blind index finds the contact by them exactly as a call. The message is
//! the contact's *content*: one sealed object of kind [`FORM`] under its
//! own data key, like a transcript — not the document — because content
//! has its own retention (`[retention] form_payload`), is purged apart from
//! the metadata, is exported as delivered in the access package, and is
//! masked for agents ([`kirjuri_core::hetu::mask_all`]) while the
//! document's fields are not free text. The form's message and its
//! attachments ([`crate::attachments`]) are committed in one transaction
//! with the personal identity codes found in the message (blind index kind
//! `hetu`).
//!
//! **Who sees a form contact.** It was handled by no one yet, so its
//! `agent` is the queue account named by `[forms] queue` (default
//! `web-forms`): the agent signed in under that name — the service's
//! web-form queue — sees them as their own; supervisors see all; other
//! agents none. Registrars see them for data-subject requests and legal
//! claims, as any contact.
//!
//! **Idempotence.** The API's `external_id` becomes the contact's
//! `form:<external_id>`: the same submission again answers 200, a
//! different one under the same id 409 (`form_exists`). The public form
//! has no external id; its form token is what stops a double post.
//!
//! Not here: HTTP, the page and multipart parsing (`kirjuri_web`).

use chrono::{DateTime, FixedOffset};
use kirjuri_core::access::Actor;
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::contact::{Account, Channel, ContactInput, Customer};
use kirjuri_core::ids::{ContactId, UserId};
use kirjuri_core::purpose::Purpose;
use kirjuri_core::role::Role;
use kirjuri_store::{CommitOutcome, ObjectRow};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::Kirjuri;
use crate::attachments::{AttachmentPart, AttachmentView, MAX_PER_CONTACT};
use crate::error::{Error, Result};
use crate::intake::Created;
use crate::retention::StoredKind;

/// Kind name of a form's message in the objects table.
pub const FORM: &str = "form";

/// The prefix that keeps a form's `external_id` apart from other systems'.
const EXTERNAL_PREFIX: &str = "form:";

/// `[forms]`: the contact form and the forms API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FormsConfig {
    /// The services (topics) a form may be about; each becomes the
    /// contact's service (queue). The public page shows the label
    /// from the translations (`form_service.<name>`) when there is one, else the name.
    pub services: Vec<String>,
    /// The account name a form contact's `agent` is: the web-form queue's.
    pub queue: String,
    /// Posts of the public form per client address per window.
    pub public_per_address: u32,
    /// The public form's window, in seconds.
    pub public_window_seconds: u64,
    /// The longest message, in characters.
    pub max_message_chars: usize,
    /// The largest attachment, in bytes.
    pub max_attachment_bytes: u64,
    /// The most attachments one API submission carries (the public form
    /// takes one).
    pub max_attachments: usize,
}

impl Default for FormsConfig {
    fn default() -> Self {
        Self {
            services: ["billing", "connections", "water_quality", "other"]
                .map(str::to_owned)
                .to_vec(),
            queue: "web-forms".to_owned(),
            public_per_address: 5,
            public_window_seconds: 600,
            max_message_chars: 10_000,
            max_attachment_bytes: 10 << 20,
            max_attachments: 5,
        }
    }
}

impl FormsConfig {
    /// Refuses settings that cannot work, naming the setting.
    pub fn validate(&self) -> Result<()> {
        if self.services.is_empty() {
            return Err(Error::config(
                "forms.services",
                "must name at least one service",
            ));
        }
        for service in &self.services {
            kirjuri_core::contact::check_service(service).map_err(|_| {
                Error::config(
                    "forms.services",
                    "a service must be 1–200 characters without control characters",
                )
            })?;
        }
        kirjuri_core::username::UserName::parse(&self.queue, "forms.queue")
            .map_err(|_| Error::config("forms.queue", "must be a valid account name"))?;
        if self.public_per_address == 0 || self.public_window_seconds == 0 {
            return Err(Error::config(
                "forms.public_per_address",
                "the allowance and its window must be positive",
            ));
        }
        if !(1..=100_000).contains(&self.max_message_chars) {
            return Err(Error::config("forms.max_message_chars", "must be 1–100000"));
        }
        if !(1..=(100 << 20)).contains(&self.max_attachment_bytes) {
            return Err(Error::config(
                "forms.max_attachment_bytes",
                "must be 1 byte – 100 MiB",
            ));
        }
        if !(0..=MAX_PER_CONTACT).contains(&self.max_attachments) {
            return Err(Error::config(
                "forms.max_attachments",
                format!("must be 0–{MAX_PER_CONTACT}"),
            ));
        }
        Ok(())
    }
}

/// A form submission, from the page or the API, before validation.
#[derive(Clone, Default)]
pub struct FormInput {
    /// The sending site's id (API only).
    pub external_id: Option<String>,
    /// When it was submitted.
    pub submitted_at: Option<DateTime<FixedOffset>>,
    /// One of `[forms] services`.
    pub service: String,
    /// Name as given.
    pub name: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Customer number.
    pub customer_number: Option<String>,
    /// The message.
    pub message: String,
    /// `fi`, `sv` or `en`.
    pub language: Option<String>,
    /// Files, each checked by content.
    pub attachments: Vec<AttachmentPart>,
}

impl std::fmt::Debug for FormInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FormInput({} attachments)", self.attachments.len())
    }
}

/// What is sealed as the form object: the message and what it was sent
/// with. Serialised the same way every time, so a repeat hashes the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormMessage {
    /// The object's format.
    pub format: String,
    /// The message as sent (line breaks kept).
    pub message: String,
    /// The language the form was used in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// What the API answers for a stored form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormAck {
    /// The contact it became.
    pub contact_id: ContactId,
    /// A reference the sender can quote (no personal data).
    pub reference: String,
    /// How many attachments were stored with it.
    pub attachments: usize,
    /// When the message will be destroyed (RET-1).
    pub retain_until: DateTime<chrono::Utc>,
}

/// A form contact's content, as a reader sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormView {
    /// The contact.
    pub contact_id: ContactId,
    /// The message; personal identity codes masked unless the reader is a
    /// registrar.
    pub message: String,
    /// Whether codes were masked in `message`.
    pub masked: bool,
    /// The language the form was used in.
    pub language: Option<String>,
    /// Its attachments.
    pub attachments: Vec<AttachmentView>,
}

/// The reference shown on the receipt: the contact id's last ten hex
/// digits, upper case (the id's random part; it names no one).
pub fn reference(id: &ContactId) -> String {
    let hex = id.as_uuid().simple().to_string().to_ascii_uppercase();
    format!("W-{}", hex.get(22..).unwrap_or_default())
}

/// Whether `actor` sees personal identity codes in content unmasked:
/// registrars only — they answer data-subject requests and legal claims,
/// and search by the code. Agents, supervisors, administrators see
/// `131052-****`.
pub fn sees_identity_codes(actor: &Actor) -> bool {
    actor.role == Role::Registrar
}

/// `text` as `actor` may see it.
pub fn masked_for(actor: &Actor, text: &str) -> (String, bool) {
    if sees_identity_codes(actor) {
        return (text.to_owned(), false);
    }
    let masked = kirjuri_core::hetu::mask_all(text);
    let changed = masked != text;
    (masked, changed)
}

fn invalid(field: &'static str, message: impl Into<String>) -> Error {
    Error::Unprocessable {
        code: "invalid_form",
        message: format!("{field}: {}", message.into()),
    }
}

/// A free-text field: at most `max` characters, no control characters
/// but (for a message) line breaks and tabs.
fn check_text(value: &str, field: &'static str, max: usize, multiline: bool) -> Result<()> {
    if value.chars().count() > max {
        return Err(invalid(field, format!("at most {max} characters")));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
    {
        return Err(invalid(field, "control characters are not allowed"));
    }
    Ok(())
}

impl Kirjuri {
    /// Stores a form submission as a `form` contact with its message and
    /// attachments. Everything is checked before anything is stored.
    pub async fn submit_form(
        &self,
        actor: Option<UserId>,
        input: FormInput,
    ) -> Result<(FormAck, Created)> {
        let forms = &self.config.forms;
        let service = input.service.trim().to_owned();
        if !forms.services.iter().any(|s| s == &service) {
            return Err(invalid(
                "service",
                format!("must be one of {}", forms.services.join(", ")),
            ));
        }
        let message = input.message.trim().to_owned();
        if message.is_empty() {
            return Err(invalid("message", "is required"));
        }
        check_text(&message, "message", forms.max_message_chars, true)?;
        let blank = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let (name, email, phone, customer_number) = (
            blank(&input.name),
            blank(&input.email),
            blank(&input.phone),
            blank(&input.customer_number),
        );
        if email.is_none() && phone.is_none() {
            return Err(invalid(
                "email",
                "an email address or a phone number is required",
            ));
        }
        if let Some(number) = &customer_number {
            check_text(number, "customer_number", 64, false)?;
        }
        let language = match blank(&input.language) {
            Some(l) if ["fi", "sv", "en"].contains(&l.as_str()) => Some(l),
            Some(_) => return Err(invalid("language", "must be fi, sv or en")),
            None => None,
        };
        if input.attachments.len() > forms.max_attachments.max(1) {
            return Err(invalid(
                "attachments",
                format!("at most {} attachments", forms.max_attachments),
            ));
        }
        for (n, part) in input.attachments.iter().enumerate() {
            crate::attachments::check_part(
                &self.config.attachments,
                part,
                n + 1,
                forms.max_attachment_bytes,
            )?;
        }
        let external_id = match &input.external_id {
            Some(id) => {
                let ok = !id.is_empty()
                    && id.chars().count() <= 190
                    && !id.chars().any(char::is_control)
                    && id.trim() == id;
                if !ok {
                    return Err(invalid(
                        "external_id",
                        "1–190 characters without control characters",
                    ));
                }
                Some(format!("{EXTERNAL_PREFIX}{id}"))
            }
            None => None,
        };
        let submitted_at = input
            .submitted_at
            .unwrap_or_else(|| self.clock.now().fixed_offset());
        let contact = ContactInput {
            external_id,
            channel: Channel::Form,
            started_at: submitted_at,
            ended_at: None,
            service: Some(service),
            agent: forms.queue.clone(),
            customer: Some(Customer {
                name,
                phone,
                phone_withheld: false,
                email,
                address: None,
                language: language.clone(),
            }),
            contact_person: None,
            account: customer_number.map(|number| Account {
                customer_number: Some(number),
                billing: None,
                payment_status: None,
            }),
            property: None,
            service_content: None,
        };
        let valid = contact.clone().validate()?;
        let plaintext = serde_json::to_vec(&FormMessage {
            format: "kirjuri-form-v1".to_owned(),
            message,
            language,
        })
        .map_err(|source| Error::Encode {
            what: "a form",
            source,
        })?;
        let sha256 = hex::encode(ring::digest::digest(&ring::digest::SHA256, &plaintext));

        let (contact_id, contact_created) = self.create_contact(actor, contact).await?;
        let row = self
            .deliverable_contact(&contact_id, FORM, "this form")
            .await?;
        if contact_created == Created::Existing {
            if row.channel != Channel::Form.as_str() || self.open_document(&row)? != valid.document
            {
                return Err(form_exists());
            }
            if let Some(existing) = self.store.object_for_contact(&contact_id, FORM).await? {
                return self.same_or_conflict(&existing, &sha256).await;
            }
        }
        let started_at = submitted_at;
        let retain_until = self
            .config
            .retention
            .retain_until(StoredKind::FormPayload, started_at);
        let form = self
            .stage_object(
                actor,
                contact_id,
                FORM,
                &plaintext,
                json!({"format": "kirjuri-form-v1", "attachments": input.attachments.len()}),
                retain_until,
                |object, sha256| AuditEvent::ContentCreated {
                    contact: contact_id,
                    object,
                    kind: FORM,
                    sha256,
                    bytes: plaintext.len() as u64,
                },
            )
            .await?;
        let attachments = match self
            .stage_attachments(
                actor,
                contact_id,
                started_at,
                &input.attachments,
                1,
                forms.max_attachment_bytes,
            )
            .await
        {
            Ok(staged) => staged,
            Err(e) => {
                self.discard_staged(std::slice::from_ref(&form)).await?;
                return Err(e);
            }
        };
        let n_attachments = attachments.len();
        let index = self.hetu_entries(&input.message);
        let mut staged = vec![form];
        staged.extend(attachments);
        match self.commit_staged(staged, &index).await? {
            CommitOutcome::Committed => Ok((
                FormAck {
                    contact_id,
                    reference: reference(&contact_id),
                    attachments: n_attachments,
                    retain_until,
                },
                Created::New,
            )),
            CommitOutcome::Existing(_) => {
                // A concurrent submission for the same contact won the race.
                match self.store.object_for_contact(&contact_id, FORM).await? {
                    Some(existing) => self.same_or_conflict(&existing, &sha256).await,
                    None => Err(form_exists()),
                }
            }
        }
    }

    async fn same_or_conflict(
        &self,
        existing: &ObjectRow,
        sha256: &str,
    ) -> Result<(FormAck, Created)> {
        if existing.sha256 != sha256 {
            return Err(form_exists());
        }
        let attachments = self
            .store
            .objects_for_contact(&existing.contact_id)
            .await?
            .iter()
            .filter(|o| crate::attachments::is_attachment(&o.kind))
            .count();
        Ok((
            FormAck {
                contact_id: existing.contact_id,
                reference: reference(&existing.contact_id),
                attachments,
                retain_until: existing.retain_until,
            },
            Created::Existing,
        ))
    }

    /// `GET /api/v1/contacts/{id}/form?purpose=`: a form contact's message
    /// (masked for all but registrars) and its attachments, after the
    /// access decision and the `form.read` audit event.
    pub async fn read_form(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: ContactId,
        purpose: Purpose,
    ) -> Result<FormView> {
        self.content_reader(actor, actor_id, id, purpose, "read_form")
            .await?;
        let object = match self.store.object_for_contact(&id, FORM).await? {
            Some(object) => object,
            None => return Err(self.gone(&id, FORM, "this form").await),
        };
        let event = AuditEvent::ContentRead {
            contact: id,
            object: object.id,
            kind: FORM,
            purpose,
            reason: actor.reason.clone(),
        };
        self.audit(Some(actor_id), &event).await?;
        let bytes = self.object_bytes(&object).await?;
        let form: FormMessage =
            serde_json::from_slice(&bytes).map_err(|_| Error::Damaged(format!("form of {id}")))?;
        let (message, masked) = masked_for(actor, &form.message);
        Ok(FormView {
            contact_id: id,
            message,
            masked,
            language: form.language,
            attachments: self.attachment_views(&id).await?,
        })
    }

    /// Takes one post from client address `ip`'s allowance for the public
    /// contact form, or refuses with [`Error::TooManyRequests`].
    pub fn take_public_form_allowance(&self, ip: std::net::IpAddr) -> Result<()> {
        self.public_form_throttle
            .reserve(ip, self.clock.now())
            .map_err(|retry_after| Error::TooManyRequests {
                retry_after_seconds: retry_after,
            })
    }
}

fn form_exists() -> Error {
    Error::Conflict {
        code: "form_exists",
        message: "this external_id was submitted before with a different form; stored forms are immutable"
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_configuration_is_valid_and_a_bad_queue_is_named() {
        assert!(FormsConfig::default().validate().is_ok());
        let config = FormsConfig {
            queue: "no spaces allowed".into(),
            ..FormsConfig::default()
        };
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("forms.queue")
        );
    }

    #[test]
    fn a_reference_names_no_one_and_is_stable() {
        let id = ContactId::new_v7();
        assert_eq!(reference(&id), reference(&id));
        assert_eq!(reference(&id).len(), 12);
    }
}
