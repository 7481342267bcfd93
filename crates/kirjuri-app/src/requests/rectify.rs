//! Rectification (DSR-4, GDPR Art. 16, issue 12): `POST
//! /api/v1/requests/{id}/execute` with `{"action": "rectify", "contact":
//! <id>, "changes": {…}}` corrects one of the request's subject's contacts
//! and keeps the version it replaced; `GET
//! /api/v1/contacts/{id}/history?purpose=data_subject_request` shows those
//! versions, opened, to registrars (and the responsible person) only.
//!
//! **What may change.** Only what the subject told about themselves:
//! `customer.{name, phone, email, address, language}`,
//! `contact_person.{name, phone}`, `account.{customer_number, billing}` and
//! `property.{name, address, property_id, type, connection, details}`. A
//! string sets a field, `null` clears it; any other field is refused (400,
//! unknown field). Not changeable here: the contact's own facts (channel,
//! times, agent, service, external id — what happened, not who the subject
//! is), `service_content` (the staff's record of what was said: a subject
//! who disputes it adds a statement through the request, the record stays
//! as evidence), `account.payment_status` (the controller's accounting
//! record) and `customer.phone_withheld` (a withheld number stays withheld,
//! REG-2, so setting a phone on such a contact changes nothing).
//!
//! **How.** The changed document goes through intake's validation
//! ([`ContactInput::validate`]) and sealing ([`Kirjuri::seal_document`],
//! a new data key), and its blind-index entries replace the old ones, in
//! one transaction with the old sealed document (and its wrapped key)
//! written to `contact_history`, the request's timeline step and its audit
//! event — which name the changed fields, never a value. Two parallel
//! rectifications of one contact cannot lose a version: the write applies
//! only if the document is still the one read, and the loser reads again
//! and applies its change on top (a few times, then 409
//! `contact_changed`).
//!
//! **Rules.** The request must be verified or in progress (409
//! `not_verified`, audited as denied) and ask for rectification (409
//! `not_requested`); a verified one moves to in progress, as an erasure
//! does. The contact must be one of the request's subject's
//! ([`Kirjuri::subject_of`]); any other — someone else's, missing, erased,
//! malformed — is 404 alike, after the same lookup, audited as denied.
//!
//! **Legal holds.** A held contact may be rectified: Art. 16 has no
//! exception for it, and the hold's purpose — keeping the evidence — is
//! served, because the version it kept stays in the history, which goes
//! only with the contact itself (the purge and erasure delete the history
//! with the contact's document and index entries, so after an erasure no
//! old value is readable or findable). The step records `kept_by_hold`.
//!
//! **Art. 19.** Recipients to whom the data were disclosed must be told of
//! a rectification. After it, `execute` queues a follow-up task per
//! recipient that received this contact (`follow_up`) and the answer's
//! `notify_recipients` lists their ids; the `rectified` step's own
//! `notify_recipients` stays `[]`, the tasks being steps of their own.
//!
//! Not here: the dispatch and state check (`execute`), who the subject is
//! (`subject`), the SQL (`kirjuri_store::requests`).

use chrono::{DateTime, Utc};
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::contact::{ContactDocument, ContactInput};
use kirjuri_core::ids::{ContactId, UserId};
use kirjuri_core::purpose::Purpose;
use kirjuri_core::request::{RequestState, RequestType, Transition};
use kirjuri_store::requests::{ContactHistoryRow, Rectification, RequestRow};
use kirjuri_store::{ContactRow, IndexEntry};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::execute::ExecuteInput;
use super::steps::Step;
use super::{Extras, StoredClock};
use crate::app::Kirjuri;
use crate::error::{Error, Result};

/// The timeline step of a rectification.
const RECTIFIED: &str = "rectified";

/// Tries at writing a rectification while parallel ones win.
const ATTEMPTS: usize = 5;

/// A field's new value: absent (unchanged), `null` (cleared) or a string.
type Patch = Option<Option<String>>;

/// Reads a present field as `Some`, so `null` is told from absent.
fn patch<'de, D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Patch, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// The customer's fields a rectification may set.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerChanges {
    #[serde(default, deserialize_with = "patch")]
    name: Patch,
    #[serde(default, deserialize_with = "patch")]
    phone: Patch,
    #[serde(default, deserialize_with = "patch")]
    email: Patch,
    #[serde(default, deserialize_with = "patch")]
    address: Patch,
    #[serde(default, deserialize_with = "patch")]
    language: Patch,
}

/// The contact person's fields a rectification may set.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonChanges {
    #[serde(default, deserialize_with = "patch")]
    name: Patch,
    #[serde(default, deserialize_with = "patch")]
    phone: Patch,
}

/// The account's fields a rectification may set.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountChanges {
    #[serde(default, deserialize_with = "patch")]
    customer_number: Patch,
    #[serde(default, deserialize_with = "patch")]
    billing: Patch,
}

/// The property's fields a rectification may set.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertyChanges {
    #[serde(default, deserialize_with = "patch")]
    name: Patch,
    #[serde(default, deserialize_with = "patch")]
    address: Patch,
    #[serde(default, deserialize_with = "patch")]
    property_id: Patch,
    #[serde(default, rename = "type", deserialize_with = "patch")]
    kind: Patch,
    #[serde(default, deserialize_with = "patch")]
    connection: Patch,
    #[serde(default, deserialize_with = "patch")]
    details: Patch,
}

/// `changes` of a rectification: the new values, by section.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    #[serde(default)]
    customer: Option<CustomerChanges>,
    #[serde(default)]
    contact_person: Option<PersonChanges>,
    #[serde(default)]
    account: Option<AccountChanges>,
    #[serde(default)]
    property: Option<PropertyChanges>,
}

impl std::fmt::Debug for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Changes([redacted])")
    }
}

/// Sets `field` as `patch` says.
fn set(field: &mut Option<String>, patch: &Patch) {
    if let Some(value) = patch {
        field.clone_from(value);
    }
}

/// Whether `patch` gives a value (so a missing section must be made).
fn gives(patches: &[&Patch]) -> bool {
    patches.iter().any(|p| matches!(p, Some(Some(_))))
}

impl Changes {
    /// `document` with the changes applied (not yet validated).
    fn apply(&self, mut document: ContactInput) -> ContactInput {
        if let Some(c) = &self.customer {
            let section = &mut document.customer;
            if section.is_none() && gives(&[&c.name, &c.phone, &c.email, &c.address, &c.language]) {
                *section = Some(Default::default());
            }
            if let Some(s) = section {
                set(&mut s.name, &c.name);
                set(&mut s.phone, &c.phone);
                set(&mut s.email, &c.email);
                set(&mut s.address, &c.address);
                set(&mut s.language, &c.language);
            }
        }
        if let Some(p) = &self.contact_person {
            let section = &mut document.contact_person;
            if section.is_none() && gives(&[&p.name, &p.phone]) {
                *section = Some(Default::default());
            }
            if let Some(s) = section {
                set(&mut s.name, &p.name);
                set(&mut s.phone, &p.phone);
            }
        }
        if let Some(a) = &self.account {
            let section = &mut document.account;
            if section.is_none() && gives(&[&a.customer_number, &a.billing]) {
                *section = Some(Default::default());
            }
            if let Some(s) = section {
                set(&mut s.customer_number, &a.customer_number);
                set(&mut s.billing, &a.billing);
            }
        }
        if let Some(p) = &self.property {
            let section = &mut document.property;
            let all = [
                &p.name,
                &p.address,
                &p.property_id,
                &p.kind,
                &p.connection,
                &p.details,
            ];
            if section.is_none() && gives(&all) {
                *section = Some(Default::default());
            }
            if let Some(s) = section {
                set(&mut s.name, &p.name);
                set(&mut s.address, &p.address);
                set(&mut s.property_id, &p.property_id);
                set(&mut s.kind, &p.kind);
                set(&mut s.connection, &p.connection);
                set(&mut s.details, &p.details);
            }
        }
        document
    }
}

/// A field of a document a rectification may change: its name and value.
type Field = (&'static str, fn(&ContactDocument) -> Option<&String>);

/// Every field a rectification may change, by the name steps record.
const FIELDS: [Field; 15] = [
    ("customer.name", |d| d.customer.as_ref()?.name.as_ref()),
    ("customer.phone", |d| d.customer.as_ref()?.phone.as_ref()),
    ("customer.email", |d| d.customer.as_ref()?.email.as_ref()),
    ("customer.address", |d| {
        d.customer.as_ref()?.address.as_ref()
    }),
    ("customer.language", |d| {
        d.customer.as_ref()?.language.as_ref()
    }),
    ("contact_person.name", |d| {
        d.contact_person.as_ref()?.name.as_ref()
    }),
    ("contact_person.phone", |d| {
        d.contact_person.as_ref()?.phone.as_ref()
    }),
    ("account.customer_number", |d| {
        d.account.as_ref()?.customer_number.as_ref()
    }),
    ("account.billing", |d| d.account.as_ref()?.billing.as_ref()),
    ("property.name", |d| d.property.as_ref()?.name.as_ref()),
    ("property.address", |d| {
        d.property.as_ref()?.address.as_ref()
    }),
    ("property.property_id", |d| {
        d.property.as_ref()?.property_id.as_ref()
    }),
    ("property.type", |d| d.property.as_ref()?.kind.as_ref()),
    ("property.connection", |d| {
        d.property.as_ref()?.connection.as_ref()
    }),
    ("property.details", |d| {
        d.property.as_ref()?.details.as_ref()
    }),
];

/// The names of the fields whose (normalised) values differ.
fn changed_fields(old: &ContactDocument, new: &ContactDocument) -> Vec<String> {
    FIELDS
        .iter()
        .filter(|(_, value)| value(old) != value(new))
        .map(|(name, _)| (*name).to_owned())
        .collect()
}

/// What a rectification did.
#[derive(Debug, Clone, Serialize)]
pub struct Rectified {
    /// `rectify`.
    pub action: &'static str,
    /// The request's state afterwards.
    pub state: RequestState,
    /// The contact changed.
    pub contact: ContactId,
    /// The names of the fields changed.
    pub changed_fields: Vec<String>,
    /// The id of the kept earlier version.
    pub version: Uuid,
    /// Whether an active legal hold keeps the contact (its earlier version
    /// stays with it).
    pub kept_by_hold: bool,
    /// Art. 19: the recipients to tell of the change (a task each).
    pub notify_recipients: Vec<String>,
}

/// An earlier version of a contact, as a registrar reads it.
#[derive(Debug, Clone, Serialize)]
pub struct ContactVersion {
    /// The version's id.
    pub id: Uuid,
    /// The request that changed it.
    pub request_id: Uuid,
    /// When it was replaced.
    pub changed_at: DateTime<Utc>,
    /// The registrar who replaced it (account name).
    pub changed_by: Option<String>,
    /// The fields the change touched.
    pub changed_fields: Vec<String>,
    /// The document as it was before the change.
    pub document: ContactDocument,
}

/// A rectification computed from the contact as read.
struct Prepared {
    row: ContactRow,
    document: ContactDocument,
    index: Vec<IndexEntry>,
    fields: Vec<String>,
}

impl Kirjuri {
    /// Rectifies one of `row`'s subject's contacts (`execute` checked the
    /// request's state).
    pub(super) async fn rectify(
        &self,
        actor_id: UserId,
        row: RequestRow,
        input: ExecuteInput,
    ) -> Result<Rectified> {
        if !row.types.contains(&RequestType::Rectification) {
            return Err(Error::Conflict {
                code: "not_requested",
                message: "the request does not ask for rectification".into(),
            });
        }
        let changes = input.changes.ok_or_else(|| {
            Error::bad_request("missing_changes", "rectify needs changes: the new values")
        })?;
        let raw = input.contact.ok_or_else(|| {
            Error::bad_request("missing_contact", "rectify needs contact: the contact's id")
        })?;
        // Someone else's, missing and malformed alike: one lookup, one
        // refusal, 404.
        let subject = self.subject_of(&row).await?;
        let contact = raw
            .trim()
            .parse::<ContactId>()
            .ok()
            .filter(|id| subject.contacts.contains(id));
        let Some(contact) = contact else {
            let step = Step::refused("execute_refused", "not_found", json!({"action": "rectify"}));
            self.audit_step(actor_id, Some(row.id), &step).await?;
            return Err(Error::NotFound);
        };
        // Validated before the request moves: a refused value changes
        // nothing at all.
        let mut prepared = self.prepare(contact, &changes).await?;
        let row = self.start(actor_id, row).await?;
        let now = self.clock.now();
        let kept_by_hold = self
            .store
            .holds_for_contact(&contact)
            .await?
            .iter()
            .any(|h| h.is_active(now));
        for attempt in 1..=ATTEMPTS {
            let now = self.clock.now();
            let version = Uuid::now_v7();
            let (sealed_document, document_key) =
                self.seal_document(contact, &prepared.document)?;
            let step = Step::done(
                RECTIFIED,
                json!({
                    "contact": contact,
                    "fields": prepared.fields,
                    "version": version,
                    "kept_by_hold": kept_by_hold,
                    "notify_recipients": [],
                }),
            );
            let rectification = Rectification {
                expected_document: prepared.row.sealed_document.clone(),
                sealed_document,
                document_key,
                index: prepared.index.clone(),
                history: ContactHistoryRow {
                    id: version,
                    contact_id: contact,
                    request_id: row.id,
                    changed_at: now,
                    changed_by: actor_id,
                    sealed_document: prepared.row.sealed_document.clone(),
                    document_key: prepared.row.document_key.clone(),
                    changed_fields: prepared.fields.clone(),
                },
                event: step.timeline(now, Some(actor_id)),
            };
            let audit = [step.audit(now, Some(actor_id), Some(row.id))];
            match self.store.rectify_contact(&rectification, &audit).await {
                Ok(()) => {
                    return Ok(Rectified {
                        action: "rectify",
                        state: row.state,
                        contact,
                        changed_fields: prepared.fields,
                        version,
                        kept_by_hold,
                        notify_recipients: Vec::new(),
                    });
                }
                Err(kirjuri_store::Error::Conflict(_)) if attempt < ATTEMPTS => {
                    // Another change won: apply this one on top of it.
                    prepared = self.prepare(contact, &changes).await?;
                }
                Err(kirjuri_store::Error::Conflict(_)) => break,
                Err(kirjuri_store::Error::NotFound) => return Err(Error::NotFound),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict {
            code: "contact_changed",
            message: "the contact kept changing while this was being done; try again".into(),
        })
    }

    /// The contact as it is now, with `changes` applied, validated as
    /// intake validates, and the fields that differ (400 `no_change` if
    /// none does).
    async fn prepare(&self, contact: ContactId, changes: &Changes) -> Result<Prepared> {
        let row = self.store.contact(&contact).await?.ok_or(Error::NotFound)?;
        if row.is_erased() {
            return Err(Error::NotFound);
        }
        let old = self.open_document(&row)?;
        let valid = changes.apply(old.clone()).validate()?;
        let fields = changed_fields(&old, &valid.document);
        if fields.is_empty() {
            return Err(Error::bad_request(
                "no_change",
                "the changes leave the contact as it is",
            ));
        }
        Ok(Prepared {
            index: self.index_entries(&valid),
            row,
            document: valid.document,
            fields,
        })
    }

    /// Moves a verified request to in progress (as an erasure's claim
    /// does); one in progress stays. A parallel execution's move is taken
    /// as this one's.
    async fn start(&self, actor_id: UserId, mut row: RequestRow) -> Result<RequestRow> {
        for _ in 0..ATTEMPTS {
            if row.state != RequestState::Verified {
                break;
            }
            let now = self.clock.now();
            let mut clock = StoredClock::load(&row)?;
            let next = row.state.apply(
                Transition::Start,
                row.assurance_proven,
                row.assurance_needed,
            )?;
            let mut steps = vec![Step::done(
                "moved",
                json!({"transition": Transition::Start, "from": row.state, "to": next}),
            )];
            let mut moved = row.clone();
            self.enter(&mut moved, &mut clock, next, now, &mut steps)?;
            match self
                .save(moved, &clock, now, actor_id, steps, Extras::default())
                .await
            {
                Ok(_)
                | Err(Error::Conflict {
                    code: "request_changed",
                    ..
                }) => row = self.request_row(row.id).await?,
                Err(e) => return Err(e),
            }
        }
        if row.state != RequestState::InProgress {
            return Err(Error::Conflict {
                code: "request_changed",
                message: "the request changed while this was being done; read it and try again"
                    .into(),
            });
        }
        Ok(row)
    }

    /// `GET /api/v1/contacts/{id}/history?purpose=data_subject_request`: a
    /// contact's earlier versions, opened, oldest first — for those who
    /// handle requests only (403 for everyone else, audited; 404 for a
    /// missing contact, audited). The read is audited as a view of the
    /// contact.
    pub async fn contact_history(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: ContactId,
        purpose: Purpose,
    ) -> Result<Vec<ContactVersion>> {
        self.require_requests(actor, actor_id, Action::HandleRequests)
            .await?;
        if purpose != Purpose::DataSubjectRequest {
            return Err(Error::bad_request(
                "purpose_not_allowed",
                "a contact's history is read with purpose=data_subject_request",
            ));
        }
        let (row, _) = self
            .authorized_contact(actor, actor_id, Action::ReadContact, id, purpose)
            .await?;
        if row.is_erased() {
            return Err(self.gone(&id, "contact", "this contact's data").await);
        }
        let mut versions = Vec::new();
        for version in self.store.contact_history(&id).await? {
            let document =
                self.open_sealed_document(id, &version.document_key, &version.sealed_document)?;
            let changed_by = self.store.user(&version.changed_by).await?.map(|u| u.name);
            versions.push(ContactVersion {
                id: version.id,
                request_id: version.request_id,
                changed_at: version.changed_at,
                changed_by,
                changed_fields: version.changed_fields,
                document,
            });
        }
        self.audit(
            Some(actor_id),
            &AuditEvent::ContactViewed {
                contact: id,
                purpose,
                reason: actor.reason.clone(),
            },
        )
        .await?;
        Ok(versions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> ContactDocument {
        serde_json::from_value(json!({
            "channel": "call_in",
            "started_at": "2026-03-02T10:00:00+02:00",
            "agent": "aino",
            "customer": {"name": "Tiina", "phone": "+358407654321"},
        }))
        .unwrap()
    }

    #[test]
    fn a_value_sets_null_clears_and_absent_keeps() {
        let changes: Changes = serde_json::from_value(json!({
            "customer": {"phone": "050 111 2222", "name": null},
            "property": {"type": "house"},
        }))
        .unwrap();
        let new = changes.apply(document()).validate().unwrap().document;
        let customer = new.customer.as_ref().unwrap();
        assert_eq!(customer.phone.as_deref(), Some("+358501112222"));
        assert_eq!(customer.name, None);
        assert_eq!(
            new.property.as_ref().unwrap().kind.as_deref(),
            Some("house")
        );
        assert_eq!(
            changed_fields(&document(), &new),
            ["customer.name", "customer.phone", "property.type"]
        );
    }

    #[test]
    fn a_field_not_the_subjects_own_is_refused() {
        for body in [
            json!({"customer": {"phone_withheld": true}}),
            json!({"account": {"payment_status": "paid"}}),
            json!({"service_content": "x"}),
            json!({"agent": "bertta"}),
        ] {
            assert!(
                serde_json::from_value::<Changes>(body.clone()).is_err(),
                "{body}"
            );
        }
    }

    #[test]
    fn the_same_value_written_differently_is_no_change() {
        let changes: Changes =
            serde_json::from_value(json!({"customer": {"phone": "040 765 4321"}})).unwrap();
        let new = changes.apply(document()).validate().unwrap().document;
        assert!(changed_fields(&document(), &new).is_empty());
    }
}
