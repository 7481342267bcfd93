//! The access package (DSR-3, issue 12 §6): for a verified access or
//! portability request, one ZIP streamed in constant memory through
//! [`PackageWriter`] that holds everything the register keeps about the
//! request's subject:
//!
//! - `contacts/<id>.json` — each contact's opened document and its
//!   metadata (channel, times, service, the handling staff's *role*, the
//!   stored objects with their retention deadlines), and its earlier
//!   versions kept by rectifications (`previous_versions`);
//! - `recordings/<contact id>/<kind>.<ext>` — every stored object of those
//!   contacts (the recording as the original bytes, bit for bit, and its
//!   derived artefacts, a chat's `transcript.json`, an email's
//!   `message.eml` and a form's `form.json` as delivered, and attachments as
//!   `attachment_N.bin`),
//!   decrypted while streaming; the manifest gives each file's SHA-256;
//! - `access-history.json` — who read the subject's contacts, when and for
//!   which purpose, from the audit log;
//! - `disclosures.json` — the approved disclosures of the subject's
//!   contacts: recipient, kind, country, legal ground, date (Art.
//!   15(1)(c); `disclosures`);
//! - `surveys.json` — the satisfaction-survey invitations that followed
//!   the subject's contacts: service, times, score, the reply's words
//!   while kept (`surveys`);
//! - `portability.json` — for a portability request only (Art. 20): the
//!   contacts' documents as machine-readable JSON, *if* the register
//!   processes them on consent or a contract (a purpose whose
//!   [`LegalBasis::allows_portability`]); otherwise the file lists no
//!   contacts and says why, and the summary explains it in the requester's
//!   language. Every contact is processed for every purpose of the
//!   register, so one portable purpose makes all of them portable. The
//!   default register (a public body's notice) rests on legal obligation,
//!   so by default nothing is portable;
//! - `summary.html` — Art. 15(1)(a)–(h) in the request's language, with a
//!   table of contents (`summary`).
//!
//! **Decisions.**
//! - *Staff are named by role, not by name*, in the contacts and in the
//!   access history: the staff's names are their own personal data, and
//!   Art. 15(1)(c) asks for recipients, which a role answers; the audit
//!   log keeps the names for a supervisory authority.
//! - *Recordings need substantial assurance.* A request whose proven
//!   assurance is below `Substantial` (an emailed code, where the policy
//!   lets one verify) gets its contacts and summary, and no recordings;
//!   the summary and the manifest say why. Refusing the whole package
//!   would withhold what a low level may rightly release.
//! - *Others' data* (Art. 15(4), `review`): contacts that name a third
//!   party block the package until a registrar's review; `withhold` leaves
//!   their objects out, listed in the summary and the manifest.
//! - *The release is audited before the first byte*: one
//!   `request.package_released` step with the counts, and for each
//!   contact a `contact.viewed` and for each object a `recording.read`
//!   event with purpose `data_subject_request`, in one batch — so a later
//!   package's access history shows this release. A refused download is a
//!   `request.package_refused` step with outcome `denied`.
//!
//! Not here: the ZIP format (`package`), who the subject is (`subject`),
//! HTTP (the web layer streams [`AccessPackage::body`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::audit::{AuditEvent, PERSONAL_DATA_READS};
use kirjuri_core::ids::{ContactId, ObjectId, UserId};
use kirjuri_core::purpose::Purpose;
use kirjuri_core::request::{Assurance, RequestState, RequestType};
use kirjuri_store::requests::{ContactHistoryRow, RequestRow};
use kirjuri_store::{AuditFilter, ContactRow, NewAuditEvent, ObjectRow};
use kirjuri_vault::AuditSigner;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::io::DuplexStream;
use tokio_util::io::StreamReader;
use uuid::Uuid;

use super::review::{ReviewDecision, has_third_party};
use super::summary::{self, Portability, SummaryFacts};
use super::{Language, Step};
use crate::app::Kirjuri;
use crate::audit::to_row;
use crate::error::{Error, Result};
use crate::intake::RECORDING;
use crate::messages::MESSAGE;
use crate::package::PackageWriter;
use crate::register::LegalBasis;
use crate::transcripts::TRANSCRIPT;

/// The manifest's `type`.
pub const PACKAGE_KIND: &str = "kirjuri-access-package";

/// The assurance below which no recording is released.
pub const RECORDINGS_NEED: Assurance = Assurance::Substantial;

/// Bytes buffered between the package writer and the response, at most.
const PIPE_BYTES: usize = 256 * 1024;

/// Access-history events read per contact, at most.
const HISTORY_LIMIT: u32 = 1000;

/// How many files of each kind a package holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PackageCounts {
    /// Contacts, each as JSON.
    pub contacts: usize,
    /// Recordings, as their original bytes.
    pub recordings: usize,
    /// Other stored objects (waveforms, …).
    pub other_objects: usize,
    /// Access-history entries.
    pub access_history: usize,
}

/// A package being written: its request's reference and counts, and the
/// ZIP's bytes as they come. Dropping `body` stops the writer.
pub struct AccessPackage {
    /// `DSR-YYYY-NNNNNN`, for the file name.
    pub reference: String,
    /// What it holds.
    pub counts: PackageCounts,
    /// The ZIP, streamed; an error part-way ends it without a central
    /// directory, which no unzip tool takes for a whole package.
    pub body: DuplexStream,
}

impl std::fmt::Debug for AccessPackage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessPackage")
            .field("reference", &self.reference)
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

/// One contact of the subject, as `prepare_package` decided it: ids only.
/// The rows themselves (the sealed document, the objects, the earlier
/// versions) are read again while writing, one contact at a time, so the
/// memory a package takes does not grow with the subject's contacts.
struct Item {
    contact: ContactId,
    /// The objects released, by id and kind.
    objects: Vec<(ObjectId, String)>,
}

/// A contact's rows, read while its files are written.
struct Loaded {
    row: ContactRow,
    objects: Vec<ObjectRow>,
    agent_role: String,
    /// Its earlier versions, kept by rectifications.
    history: Vec<ContactHistoryRow>,
}

/// One line of the access history.
#[derive(Debug, Clone, Serialize)]
struct HistoryEntry {
    at: DateTime<Utc>,
    contact: String,
    action: String,
    /// The reader's role (see the module's decisions), or `system`.
    role: String,
    purpose: Option<String>,
}

/// Who a package goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recipient {
    /// A registrar, through the API (`GET …/package`).
    Staff(UserId),
    /// The data subject, through the one-time link `link`.
    Subject { link: Uuid },
}

impl Recipient {
    fn actor(self) -> Option<UserId> {
        match self {
            Recipient::Staff(id) => Some(id),
            Recipient::Subject { .. } => None,
        }
    }
}

/// A package's contents, decided and not yet released.
pub(super) struct Prepared {
    items: Vec<Item>,
    history: Vec<HistoryEntry>,
    counts: PackageCounts,
    with_recordings: bool,
    /// Contacts whose objects the Art. 15(4) review withholds.
    third_party_withheld: Vec<ContactId>,
}

/// Why `row` may not have a package now, if it may not: it asks for no
/// copy, or its identity is not verified (a delivery link also works once
/// the request is answered, since the link was sent before).
pub(super) fn package_refusal(row: &RequestRow, answered_ok: bool) -> Option<&'static str> {
    let wants_copy = row
        .types
        .iter()
        .any(|t| matches!(t, RequestType::Access | RequestType::Portability));
    if !wants_copy {
        return Some("not_an_access_request");
    }
    let state_ok = matches!(row.state, RequestState::Verified | RequestState::InProgress)
        || (answered_ok && row.state == RequestState::Answered);
    if !state_ok {
        return Some("not_verified");
    }
    None
}

impl Kirjuri {
    /// `GET /api/v1/requests/{id}/package?purpose=data_subject_request`:
    /// checks, audits, and starts writing the access package of request
    /// `id`.
    pub async fn access_package(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
        purpose: Purpose,
    ) -> Result<AccessPackage> {
        self.require_requests(actor, actor_id, Action::HandleRequests)
            .await?;
        if purpose != Purpose::DataSubjectRequest {
            return Err(Error::bad_request(
                "purpose_not_allowed",
                "an access package is read with purpose=data_subject_request",
            ));
        }
        let row = self.request_row(id).await?;
        if let Some(code) = package_refusal(&row, false) {
            return Err(self.refuse_package(Some(actor_id), &row, code).await?);
        }
        let prepared = self.prepare_package(&row, Some(actor_id)).await?;
        let now = self.clock.now();
        let (_, events) = self.release_events(Recipient::Staff(actor_id), &row, &prepared, now);
        self.store.append_audit_batch(&events).await?;
        self.start_package(&row, prepared, now).await
    }

    /// What the package of `row` holds, checked against the Art. 15(4)
    /// review (409 `third_party_review_needed`, audited for `actor`, when
    /// a contact has a third party and no review is recorded).
    pub(super) async fn prepare_package(
        &self,
        row: &RequestRow,
        actor: Option<UserId>,
    ) -> Result<Prepared> {
        let with_recordings = row.assurance_proven.is_some_and(|a| a >= RECORDINGS_NEED);
        let subject = self.subject_of(row).await?;
        let review = self.open_details(row)?.third_party_review;

        let mut roles: HashMap<UserId, String> = HashMap::new();
        let mut items = Vec::with_capacity(subject.contacts.len());
        let mut history = Vec::new();
        let mut counts = PackageCounts::default();
        let mut third_party_withheld = Vec::new();
        let mut unreviewed = false;
        for contact in &subject.contacts {
            let Some(contact_row) = self.store.contact(contact).await? else {
                continue;
            };
            let mut objects = self.store.objects_for_contact(contact).await?;
            if has_third_party(&self.open_document(&contact_row)?) {
                match review.as_ref().map(|r| r.decision) {
                    None => unreviewed = true,
                    Some(ReviewDecision::Withhold) => {
                        if !objects.is_empty() {
                            third_party_withheld.push(*contact);
                        }
                        objects.clear();
                    }
                    Some(ReviewDecision::Release) => {}
                }
            }
            if !with_recordings {
                objects.clear();
            }
            for object in &objects {
                if object.kind == RECORDING {
                    counts.recordings += 1;
                } else {
                    counts.other_objects += 1;
                }
            }
            history.extend(self.access_history(contact, &mut roles).await?);
            items.push(Item {
                contact: *contact,
                objects: objects.into_iter().map(|o| (o.id, o.kind)).collect(),
            });
        }
        if unreviewed {
            return Err(self
                .refuse_package(actor, row, "third_party_review_needed")
                .await?);
        }
        counts.contacts = items.len();
        counts.access_history = history.len();
        history.sort_by_key(|h| h.at);
        Ok(Prepared {
            items,
            history,
            counts,
            with_recordings,
            third_party_withheld,
        })
    }

    /// The release's step (its timeline entry for a delivery link) and
    /// audit events: the step with the counts, and a read event per
    /// contact and per object released, all by the recipient's actor.
    pub(super) fn release_events(
        &self,
        to: Recipient,
        row: &RequestRow,
        prepared: &Prepared,
        now: DateTime<Utc>,
    ) -> (Step, Vec<NewAuditEvent>) {
        let actor = to.actor();
        let detail = match to {
            Recipient::Staff(_) => json!({ "counts": prepared.counts }),
            Recipient::Subject { link } => json!({
                "counts": prepared.counts,
                "to": "data_subject",
                "link": link,
            }),
        };
        let step = Step::done("package_released", detail);
        let mut events: Vec<NewAuditEvent> = vec![step.audit(now, actor, Some(row.id))];
        for item in &prepared.items {
            let viewed = AuditEvent::ContactViewed {
                contact: item.contact,
                purpose: Purpose::DataSubjectRequest,
                reason: None,
            };
            events.push(to_row(now, actor, &viewed));
            for (object, kind) in &item.objects {
                let content = if kind == crate::forms::FORM {
                    Some(crate::forms::FORM)
                } else if kind == MESSAGE {
                    Some(MESSAGE)
                } else if crate::attachments::is_attachment(kind) {
                    Some(crate::attachments::ATTACHMENT)
                } else {
                    None
                };
                let read = if let Some(content) = content {
                    AuditEvent::ContentRead {
                        contact: item.contact,
                        object: *object,
                        kind: content,
                        purpose: Purpose::DataSubjectRequest,
                        reason: None,
                    }
                } else if kind == TRANSCRIPT {
                    AuditEvent::TranscriptRead {
                        contact: item.contact,
                        object: *object,
                        purpose: Purpose::DataSubjectRequest,
                        reason: None,
                    }
                } else {
                    AuditEvent::RecordingRead {
                        contact: item.contact,
                        object: *object,
                        purpose: Purpose::DataSubjectRequest,
                        range: None,
                        reason: None,
                    }
                };
                events.push(to_row(now, actor, &read));
            }
        }
        (step, events)
    }

    /// Starts writing a released package: the ZIP streams from the
    /// returned body.
    pub(super) async fn start_package(
        &self,
        row: &RequestRow,
        prepared: Prepared,
        now: DateTime<Utc>,
    ) -> Result<AccessPackage> {
        let signer = AuditSigner::open_or_create(
            &self.config.audit_key_file(),
            &crate::audit_chain::origin(&self.store.audit_log_id().await?),
        )?;
        let language: Language = row.language.parse()?;
        let Prepared {
            items,
            history,
            counts,
            with_recordings,
            third_party_withheld,
        } = prepared;
        let withheld: Vec<String> = third_party_withheld.iter().map(|c| c.to_string()).collect();
        let facts = SummaryFacts {
            reference: row.reference.clone(),
            language,
            counts,
            recordings_withheld: !with_recordings,
            portability: row
                .types
                .contains(&RequestType::Portability)
                .then(|| self.portability()),
            third_party_withheld: withheld.clone(),
            retention: self
                .config
                .retention
                .policies()
                .map(|(kind, policy)| (kind.as_str().to_owned(), policy.months))
                .collect(),
        };
        let (sink, body) = tokio::io::duplex(PIPE_BYTES);
        let app = self.clone();
        let reference = row.reference.clone();
        let mut details = manifest_details(&reference, counts, with_recordings, &withheld);
        if let Some(portability) = &facts.portability {
            details.insert(
                "portability".into(),
                json!(if portability.included() {
                    "included"
                } else {
                    "excluded"
                }),
            );
        }
        let request = row.id;
        tokio::spawn(async move {
            let written = app
                .write_package(sink, items, history, facts, details, now, &signer)
                .await;
            if let Err(e) = written {
                // Ids and the error's code only; the body is cut off.
                tracing::warn!(request = %request, code = e.code(), error = %e,
                    "an access package was cut off");
            }
        });
        Ok(AccessPackage {
            reference,
            counts,
            body,
        })
    }

    /// Audits a refused release (by `actor`; `None`: through a delivery
    /// link) and returns the caller's 409.
    pub(super) async fn refuse_package(
        &self,
        actor: Option<UserId>,
        row: &RequestRow,
        code: &'static str,
    ) -> Result<Error> {
        let step = Step::refused("package_refused", code, json!({"state": row.state}));
        self.store
            .append_audit(&step.audit(self.clock.now(), actor, Some(row.id)))
            .await?;
        Ok(Error::Conflict {
            code,
            message: match code {
                "not_verified" => "the requester's identity is not verified yet".to_owned(),
                "third_party_review_needed" => "a contact of the subject names another person: \
                    record the Art. 15(4) review first (POST …/third-party-review)"
                    .to_owned(),
                _ => "the request asks for no copy of the data (access or portability)".to_owned(),
            },
        })
    }

    /// The reads of `contact` in the audit log, readers shown by role.
    async fn access_history(
        &self,
        contact: &ContactId,
        roles: &mut HashMap<UserId, String>,
    ) -> Result<Vec<HistoryEntry>> {
        let filter = AuditFilter {
            reference: Some(contact.to_string()),
            actor: None,
            action: None,
            after_seq: 0,
            limit: HISTORY_LIMIT,
        };
        let mut entries = Vec::new();
        for record in self.store.search_audit(&filter).await? {
            let event = record.event;
            if event.outcome != "success" || !PERSONAL_DATA_READS.contains(&event.action.as_str()) {
                continue;
            }
            let role = match event.actor {
                None => "system".to_owned(),
                Some(actor) => match roles.get(&actor) {
                    Some(role) => role.clone(),
                    None => {
                        let role = match self.store.user(&actor).await? {
                            Some(user) => user.role.as_str().to_owned(),
                            None => "staff".to_owned(),
                        };
                        roles.insert(actor, role.clone());
                        role
                    }
                },
            };
            entries.push(HistoryEntry {
                at: event.at,
                contact: contact.to_string(),
                action: event.action,
                role,
                purpose: event.purpose,
            });
        }
        Ok(entries)
    }

    /// Writes the package's files in order, then the signed manifest.
    #[allow(
        clippy::too_many_arguments,
        reason = "one call, from access_package only"
    )]
    async fn write_package(
        &self,
        sink: DuplexStream,
        items: Vec<Item>,
        history: Vec<HistoryEntry>,
        facts: SummaryFacts,
        details: serde_json::Map<String, Value>,
        now: DateTime<Utc>,
        signer: &AuditSigner,
    ) -> Result<()> {
        let mut writer = PackageWriter::new(sink);
        let mut contents = Vec::new();
        let mut roles: HashMap<String, String> = HashMap::new();
        for item in &items {
            let loaded = self.load_item(item, &mut roles).await?;
            let path = format!("contacts/{}.json", item.contact);
            let json = self.contact_json(&loaded)?;
            writer.add_bytes(&path, &json).await?;
            contents.push(path);
            for object in &loaded.objects {
                let path = format!(
                    "recordings/{}/{}.{}",
                    item.contact,
                    object.kind,
                    extension(&object.kind)
                );
                let stream =
                    Box::pin(self.object_plaintext(object).await?).map_err(std::io::Error::other);
                let listed = writer.add(&path, StreamReader::new(stream)).await?;
                let hashed_at_intake = matches!(
                    object.kind.as_str(),
                    RECORDING | TRANSCRIPT | MESSAGE | crate::forms::FORM
                ) || crate::attachments::is_attachment(&object.kind);
                if hashed_at_intake && listed.sha256 != object.sha256 {
                    return Err(Error::Integrity(kirjuri_vault::Error::Integrity(format!(
                        "recording {} does not hash to its intake digest",
                        object.id
                    ))));
                }
                contents.push(path);
            }
        }
        let history =
            serde_json::to_vec_pretty(&json!({ "reads": history })).map_err(|source| {
                Error::Encode {
                    what: "an access history",
                    source,
                }
            })?;
        writer.add_bytes("access-history.json", &history).await?;
        contents.push("access-history.json".to_owned());
        // The recipients the subject's data was disclosed to (Art.
        // 15(1)(c), AUD-3): name, kind, country, legal ground, date.
        let ids: Vec<ContactId> = items.iter().map(|i| i.contact).collect();
        let disclosures =
            serde_json::to_vec_pretty(&json!({ "disclosures": self.disclosures_of(&ids).await? }))
                .map_err(|source| Error::Encode {
                    what: "a subject's disclosures",
                    source,
                })?;
        writer.add_bytes("disclosures.json", &disclosures).await?;
        contents.push("disclosures.json".to_owned());
        // The satisfaction surveys that followed the subject's contacts:
        // service, times, the score and the reply's words while kept.
        let surveys =
            serde_json::to_vec_pretty(&json!({ "surveys": self.surveys_of(&ids).await? }))
                .map_err(|source| Error::Encode {
                    what: "a subject's surveys",
                    source,
                })?;
        writer.add_bytes("surveys.json", &surveys).await?;
        contents.push("surveys.json".to_owned());
        if let Some(portability) = &facts.portability {
            let json = self.portability_json(portability, &items).await?;
            writer.add_bytes("portability.json", &json).await?;
            contents.push("portability.json".to_owned());
        }
        let html = summary::render(&facts, &contents);
        writer.add_bytes("summary.html", html.as_bytes()).await?;
        writer.finish(PACKAGE_KIND, details, now, signer).await?;
        Ok(())
    }

    /// Which of the register's purposes make its data portable (Art.
    /// 20(1)(a): consent or a contract), and the bases of the others.
    fn portability(&self) -> Portability {
        let mut portable = Vec::new();
        let mut excluded_bases: Vec<LegalBasis> = Vec::new();
        for entry in &self.config.register.purposes {
            if entry.legal_basis.allows_portability() {
                portable.push((entry.purpose, entry.legal_basis));
            } else if !excluded_bases.contains(&entry.legal_basis) {
                excluded_bases.push(entry.legal_basis);
            }
        }
        Portability {
            portable,
            excluded_bases,
        }
    }

    /// `portability.json`: the contacts' documents if a portable purpose
    /// covers them, otherwise none and why.
    async fn portability_json(&self, portability: &Portability, items: &[Item]) -> Result<Vec<u8>> {
        let mut contacts = Vec::new();
        if portability.included() {
            for item in items {
                let Some(row) = self.store.contact(&item.contact).await? else {
                    return Err(changed_while_writing(item.contact));
                };
                contacts.push(json!({
                    "id": row.id,
                    "channel": row.channel,
                    "started_at": row.started_at,
                    "ended_at": row.ended_at,
                    "service": row.service,
                    "document": self.package_document(&row.id, &row.document_key,
                        &row.sealed_document)?,
                }));
            }
        }
        let purposes: Vec<Value> = portability
            .portable
            .iter()
            .map(|(purpose, basis)| json!({"purpose": purpose, "legal_basis": basis}))
            .collect();
        let mut value = json!({
            "type": "kirjuri-portability",
            "v": 1,
            "portable_purposes": purposes,
            "contacts": contacts,
        });
        if !portability.included() {
            value["excluded"] = json!({
                "reason": "no_portable_legal_basis",
                "legal_bases": portability.excluded_bases,
                "explanation": "The right to data portability (GDPR Art. 20(1)(a)) covers only \
                    data processed on consent or a contract; this register processes the data \
                    under a legal obligation or a task in the public interest.",
            });
        }
        serde_json::to_vec_pretty(&value).map_err(|source| Error::Encode {
            what: "a portability file",
            source,
        })
    }

    /// A document of contact `id` as the package gives it: opened, the
    /// agent's name left out (their role is in the contact's metadata).
    pub(crate) fn package_document(
        &self,
        id: &ContactId,
        key: &[u8],
        sealed: &[u8],
    ) -> Result<Value> {
        let document = self.open_sealed_document(*id, key, sealed)?;
        let mut document = serde_json::to_value(&document).map_err(|source| Error::Encode {
            what: "a contact document",
            source,
        })?;
        if let Some(map) = document.as_object_mut() {
            map.remove("agent");
        }
        Ok(document)
    }

    /// Reads the rows of `item` again for writing: the contact, the
    /// objects prepared (all of them still there, or the package is cut
    /// off: its audit events named them), the staff's role and the earlier
    /// versions. `roles` remembers the roles of agents already seen.
    async fn load_item(&self, item: &Item, roles: &mut HashMap<String, String>) -> Result<Loaded> {
        let Some(row) = self.store.contact(&item.contact).await? else {
            return Err(changed_while_writing(item.contact));
        };
        let mut objects = self.store.objects_for_contact(&item.contact).await?;
        objects.retain(|o| item.objects.iter().any(|(id, _)| *id == o.id));
        if objects.len() != item.objects.len() {
            return Err(changed_while_writing(item.contact));
        }
        let agent_role = match roles.get(&row.agent) {
            Some(role) => role.clone(),
            None => {
                let role = match self.store.user_by_name(&row.agent).await? {
                    Some(user) => user.role.as_str().to_owned(),
                    None => "staff".to_owned(),
                };
                roles.insert(row.agent.clone(), role.clone());
                role
            }
        };
        let history = self.store.contact_history(&item.contact).await?;
        Ok(Loaded {
            row,
            objects,
            agent_role,
            history,
        })
    }

    /// A contact as the package gives it: the opened document with the
    /// agent's name replaced by their role, the row's metadata, and the
    /// earlier versions a rectification kept.
    fn contact_json(&self, item: &Loaded) -> Result<Vec<u8>> {
        let document = self.package_document(
            &item.row.id,
            &item.row.document_key,
            &item.row.sealed_document,
        )?;
        let mut previous_versions = Vec::with_capacity(item.history.len());
        for version in &item.history {
            previous_versions.push(json!({
                "changed_at": version.changed_at,
                "changed_fields": version.changed_fields,
                "document": self.package_document(&item.row.id, &version.document_key,
                    &version.sealed_document)?,
            }));
        }
        let objects: Vec<Value> = item
            .objects
            .iter()
            .map(|o| {
                json!({
                    "id": o.id,
                    "kind": o.kind,
                    "sha256": o.sha256,
                    "bytes": o.plaintext_len,
                    "retain_until": o.retain_until,
                })
            })
            .collect();
        let value = json!({
            "id": item.row.id,
            "channel": item.row.channel,
            "started_at": item.row.started_at,
            "ended_at": item.row.ended_at,
            "service": item.row.service,
            "agent_role": item.agent_role,
            "retain_until": item.row.retain_until,
            "document": document,
            "previous_versions": previous_versions,
            "objects": objects,
        });
        serde_json::to_vec_pretty(&value).map_err(|source| Error::Encode {
            what: "a contact for a package",
            source,
        })
    }
}

/// The manifest's own fields.
fn manifest_details(
    reference: &str,
    counts: PackageCounts,
    with_recordings: bool,
    third_party_withheld: &[String],
) -> serde_json::Map<String, Value> {
    let mut details = serde_json::Map::new();
    details.insert("reference".into(), json!(reference));
    details.insert("purpose".into(), json!(Purpose::DataSubjectRequest));
    details.insert(
        "counts".into(),
        json!({
            "contacts": counts.contacts,
            "recordings": counts.recordings,
            "other_objects": counts.other_objects,
            "access_history": counts.access_history,
        }),
    );
    if !with_recordings {
        details.insert(
            "recordings_withheld".into(),
            json!(format!("assurance below {}", RECORDINGS_NEED.as_str())),
        );
    }
    if !third_party_withheld.is_empty() {
        details.insert(
            "third_party_withheld".into(),
            json!({"ground": "GDPR Art. 15(4)", "contacts": third_party_withheld}),
        );
    }
    details
}

/// A contact or object that was prepared went away (a purge or an
/// erasure) before its files were written: the package is cut off rather
/// than released without what its audit events name.
fn changed_while_writing(contact: ContactId) -> Error {
    Error::Conflict {
        code: "changed_while_packaging",
        message: format!("contact {contact} changed while its package was written"),
    }
}

/// A stored object's file extension.
pub(crate) fn extension(kind: &str) -> &'static str {
    match kind {
        RECORDING => "wav",
        MESSAGE => "eml",
        // As delivered; its name and type are in the contact's form.
        kind if crate::attachments::is_attachment(kind) => "bin",
        _ => "json",
    }
}
