//! The read path: a contact, a search, a recording (whole or by Range).
//!
//! Every read runs the same three steps in order: ask
//! `kirjuri_core::access::authorize`, append the audit event (a failed append
//! refuses the read), then decrypt and return.
//!
//! No answer tells an existing contact from a missing one to a reader who
//! may not read it: what the role and purpose alone decide (the integration
//! role, a registrar's customer-service purpose) is decided and refused
//! before the contact is looked up, and a missing contact is audited as a
//! refusal (`not_found`) just as an agent's reach for another agent's
//! contact is (`not_owner`), both answered 404 — so both paths do the same
//! work: one lookup, one look at the subject's limits, one audit append.
//!
//! What the contact's data subject has forbidden (a restriction, an
//! objection to the purpose; DSR-4) is part of the decision on every path:
//! a contact or recording read answers 403 `restricted` or `objected`, and a
//! search leaves such contacts out of its results (and counts them).
//!
//! A maintainer's read (`metadata_only`, ACC-1) is answered from the row's
//! plain columns — channel, times, agent, service, stored objects — and the
//! sealed document is never opened. Search criteria reach the audit log as
//! keyed hashes only: the identifiers, and the `service` filter (whatever a
//! searcher types there would otherwise stay in the log for good).
//! Recordings are decrypted segment by segment, only the segments a range
//! needs, and streamed in constant memory.

use std::ops::RangeInclusive;
use std::str::FromStr;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use futures::{Stream, StreamExt};
use kirjuri_core::access::{Action, Actor, Decision, Denial, Object, authorize};
use kirjuri_core::audit::{AuditEvent, HashedCriterion};
use kirjuri_core::contact::{Channel, ContactDocument, check_service, duration_ms};
use kirjuri_core::email::EmailAddress;
use kirjuri_core::ids::{ContactId, ObjectId, UserId};
use kirjuri_core::name::normalise_name;
use kirjuri_core::phone::PhoneNumber;
use kirjuri_core::property_id::PropertyId;
use kirjuri_core::purpose::Purpose;
use kirjuri_core::username::UserName;
use kirjuri_core::wav::decode::{PCM16_HEADER_LEN, Pcm16Rendition, Pcm16Transcoder, Peaks};
use kirjuri_core::wav::{AudioLayout, Encoding};
use kirjuri_store::limits::ContactForRead;
use kirjuri_store::{ContactFilter, ContactRow, IndexEntry, ObjectRow, TombstoneRow};
use kirjuri_vault::{
    HEADER_LEN, IndexKind, ObjectStore, SEGMENT_LEN, StreamOpener, TAG_LEN, open_to_vec,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::Kirjuri;
use crate::error::{Error, Result};
use crate::intake::{RECORDING, RecordingAck, WAVEFORM};
use crate::subject_limits::Limits;

/// A contact as returned: the stored document plus what Kirjuri adds.
#[derive(Debug, Clone, Serialize)]
pub struct ContactView {
    /// Kirjuri's id.
    pub id: ContactId,
    /// The normalised contact.
    #[serde(flatten)]
    pub document: ContactDocument,
    /// Length of the contact, when its end is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// When the contact's own data is destroyed.
    pub retain_until: DateTime<Utc>,
    /// The recording, when one is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording: Option<RecordingAck>,
    /// Every stored object (the recording, its waveform, …) with its
    /// retention deadline (RET-1).
    pub objects: Vec<ObjectDeadline>,
    /// What was destroyed of the contact, for readers who may see retention
    /// (registrars, supervisors, administrators); absent for others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tombstones: Option<Vec<TombstoneView>>,
    /// The legal holds with a target in the contact, for the same readers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holds: Option<Vec<HoldRef>>,
}

/// A stored object's retention deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectDeadline {
    /// The object's id (a hold can name a recording by it).
    pub id: ObjectId,
    /// `recording`, `waveform`, ….
    pub kind: String,
    /// When it is destroyed, unless a hold keeps it.
    pub retain_until: DateTime<Utc>,
    /// The object it was derived from, if any (it never outlives that one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<ObjectId>,
}

/// Proof that something of a contact was destroyed (RET-3): what, when,
/// under which rule, and the digest it had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TombstoneView {
    /// The destroyed object's id, or the contact's for its own record.
    pub id: uuid::Uuid,
    /// `recording`, `waveform`, … or `contact`.
    pub kind: String,
    /// When its key was destroyed.
    pub deleted_at: DateTime<Utc>,
    /// The rule that destroyed it.
    pub rule: String,
    /// `retention`, `erasure_request` or `ledger_replay`.
    pub reason: String,
    /// Its SHA-256 (the recording's evidence digest); `null` for a contact.
    pub sha256: Option<String>,
}

impl From<&TombstoneRow> for TombstoneView {
    fn from(row: &TombstoneRow) -> Self {
        Self {
            id: row.id,
            kind: row.kind.clone(),
            deleted_at: row.deleted_at,
            rule: row.rule.clone(),
            reason: row.reason.clone(),
            sha256: row.sha256.clone(),
        }
    }
}

/// A legal hold on a contact, as the contact view names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoldRef {
    /// The hold's id.
    pub id: uuid::Uuid,
    /// Its kind of ground.
    pub ground_kind: String,
    /// Its review date (Helsinki day).
    pub review_by: NaiveDate,
    /// Whether it keeps data now.
    pub active: bool,
}

/// Search criteria, as the API takes them. Unknown parameters are refused so
/// a typo never turns a narrow search into "everything".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Phone number in any accepted form.
    pub phone: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Property ID in any accepted form.
    pub property_id: Option<String>,
    /// Customer number.
    pub customer_number: Option<String>,
    /// Customer or contact-person name (exact, normalised).
    pub name: Option<String>,
    /// A personal identity code said in a contact's content (a form's
    /// message, a transcript): registrars only (issue 14 §4).
    pub hetu: Option<String>,
    /// Handling agent's account name.
    pub agent: Option<String>,
    /// The service (queue) the contact was directed to.
    pub service: Option<String>,
    /// The channel: `call_in`, `call_out`, `chat`, `email` or `form`.
    pub channel: Option<String>,
    /// Earliest start: RFC 3339, or a date (Helsinki midnight).
    pub from: Option<String>,
    /// Latest start (exclusive): RFC 3339, or a date (the whole day included).
    pub to: Option<String>,
    /// Maximum results (default 50, at most 500).
    pub limit: Option<u32>,
    /// The purpose (ACC-2).
    pub purpose: Option<String>,
    /// A ticket reference (`INC-12345`; a maintainer must give one, ACC-1).
    pub reason: Option<String>,
}

/// What a search found.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    /// The contacts the searcher may read for the purpose, newest first.
    pub contacts: Vec<ContactView>,
    /// Contacts that matched but whose data subject restricted processing
    /// or objected to the purpose (DSR-4): left out, only counted.
    pub withheld: usize,
}

/// A search's filters as its audit event records them: validated and
/// normalised, the service as a keyed hash (hex).
#[derive(Debug, Clone)]
struct SearchFilters {
    agent: Option<String>,
    service: Option<String>,
    channel: Option<Channel>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

/// Rows fetched per page while filtering a search on service or channel.
const SCAN_PAGE: u32 = 1000;

/// A search filtered on service or channel looks at most this many rows.
const MAX_SCANNED_ROWS: usize = 200_000;

/// Parses the mandatory `purpose=`.
pub fn require_purpose(purpose: Option<&str>) -> Result<Purpose> {
    match purpose {
        None | Some("") => Err(Error::bad_request(
            "purpose_required",
            "every read of personal data must state purpose= (one of order_verification, complaint_verification, \
             quality_assurance, training, development, survey, legal_claim, data_subject_request)",
        )),
        Some(p) => p.parse().map_err(Error::from),
    }
}

fn parse_bound(value: &str, field: &'static str, end_of_day: bool) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.to_utc());
    }
    let date = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        Error::bad_request(
            "invalid_parameter",
            format!("{field} must be a date (YYYY-MM-DD) or an RFC 3339 time"),
        )
    })?;
    let date = if end_of_day {
        date.succ_opt().unwrap_or(date)
    } else {
        date
    };
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    chrono_tz::Europe::Helsinki
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.to_utc())
        .ok_or_else(|| {
            Error::bad_request(
                "invalid_parameter",
                format!("{field} is not a valid local date"),
            )
        })
}

/// The answer to a recording read: status, length and the plaintext stream.
pub struct RecordingBody {
    /// The whole recording's length.
    pub total_len: u64,
    /// The bytes being sent (inclusive), or `None` for the whole file.
    pub range: Option<RangeInclusive<u64>>,
    /// The plaintext bytes.
    pub stream: PlaintextStream,
}

impl std::fmt::Debug for RecordingBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingBody")
            .field("total_len", &self.total_len)
            .field("range", &self.range)
            .finish()
    }
}

/// A contact's view: its row, the document to show, and its objects.
fn view_of(row: &ContactRow, document: ContactDocument, objects: &[ObjectRow]) -> ContactView {
    let recording = objects.iter().find(|o| o.kind == RECORDING);
    ContactView {
        id: row.id,
        duration_ms: duration_ms(&document),
        document,
        retain_until: row.retain_until,
        recording: recording.map(RecordingAck::from_row),
        objects: objects
            .iter()
            .map(|o| ObjectDeadline {
                id: o.id,
                kind: o.kind.clone(),
                retain_until: o.retain_until,
                source: o.source,
            })
            .collect(),
        tombstones: None,
        holds: None,
    }
}

impl Kirjuri {
    /// Decrypts a contact's sealed document.
    pub fn open_document(&self, row: &ContactRow) -> Result<ContactDocument> {
        self.open_sealed_document(row.id, &row.document_key, &row.sealed_document)
    }

    /// Decrypts a document of contact `id` sealed under `wrapped_key`: the
    /// contact's own, or an earlier version a rectification kept.
    pub(crate) fn open_sealed_document(
        &self,
        id: ContactId,
        wrapped_key: &[u8],
        sealed: &[u8],
    ) -> Result<ContactDocument> {
        let document_id = ObjectId::from_uuid(*id.as_uuid());
        let key = self.keyring.unwrap(wrapped_key, &document_id)?;
        let plaintext = open_to_vec(&key, &document_id, sealed)?;
        serde_json::from_slice(&plaintext)
            .map_err(|e| Error::decode("the document of contact", id, &e))
    }

    fn view(&self, row: &ContactRow, objects: &[ObjectRow]) -> Result<ContactView> {
        Ok(view_of(row, self.open_document(row)?, objects))
    }

    /// A contact as a maintainer sees it: what the row's plain columns say
    /// (channel, times, agent, service) and its stored objects; nothing of
    /// the sealed document is opened.
    fn metadata_view(&self, row: &ContactRow, objects: &[ObjectRow]) -> Result<ContactView> {
        let document = ContactDocument {
            external_id: None,
            channel: Channel::from_str(&row.channel)?,
            started_at: row.started_at.fixed_offset(),
            ended_at: row.ended_at.map(|t| t.fixed_offset()),
            service: row.service.clone(),
            agent: row.agent.clone(),
            customer: None,
            contact_person: None,
            account: None,
            property: None,
            service_content: None,
        };
        Ok(view_of(row, document, objects))
    }

    /// The view a decision allows: the whole contact, or its metadata.
    fn view_for(
        &self,
        row: &ContactRow,
        objects: &[ObjectRow],
        metadata_only: bool,
    ) -> Result<ContactView> {
        if metadata_only {
            self.metadata_view(row, objects)
        } else {
            self.view(row, objects)
        }
    }

    /// The answer for something destroyed: 410 with its tombstone, or 404
    /// when there is no tombstone of that kind either.
    pub(crate) async fn gone(&self, contact: &ContactId, kind: &str, what: &'static str) -> Error {
        match self.store.tombstones_for_contact(contact).await {
            Ok(tombstones) => match tombstones.iter().find(|t| t.kind == kind) {
                Some(tombstone) => Error::Gone {
                    what,
                    tombstone: serde_json::to_value(TombstoneView::from(tombstone))
                        .unwrap_or_default(),
                },
                None => Error::NotFound,
            },
            Err(e) => e.into(),
        }
    }

    /// Appends the refusal of `action` and returns what the caller is told.
    async fn refuse(
        &self,
        actor_id: UserId,
        action: Action,
        object: Option<String>,
        purpose: Option<Purpose>,
        reason: &'static str,
        answer: Error,
    ) -> Result<Error> {
        let event = AuditEvent::AccessDenied {
            action: action.as_str(),
            object,
            purpose,
            reason,
        };
        self.audit(Some(actor_id), &event).await?;
        Ok(answer)
    }

    /// Runs the access decision for one contact and looks it up, auditing a
    /// refusal. What the role and purpose alone refuse is refused before the
    /// lookup; a missing contact is audited as a refusal (`not_found`) and
    /// answered exactly as an agent's reach for another agent's contact.
    /// Answers the row and whether only its metadata may be shown.
    pub(crate) async fn authorized_contact(
        &self,
        actor: &Actor,
        actor_id: UserId,
        action: Action,
        id: ContactId,
        purpose: Purpose,
    ) -> Result<(ContactRow, bool)> {
        let (read, metadata_only) = self
            .authorized_read(actor, actor_id, action, id, purpose, None)
            .await?;
        Ok((read.contact, metadata_only))
    }

    /// [`Kirjuri::authorized_contact`], fetching with the contact — in the
    /// same statement as the contact and its subject's limits
    /// ([`kirjuri_store::limits::LimitStore::contact_for_read`]) — its
    /// committed object of `object_kind`, if one is named: a recording
    /// read's one database round trip before its audit append (issue 16
    /// §3). The object is only fetched, never looked at, when the read is
    /// refused.
    pub(crate) async fn authorized_read(
        &self,
        actor: &Actor,
        actor_id: UserId,
        action: Action,
        id: ContactId,
        purpose: Purpose,
        object_kind: Option<&str>,
    ) -> Result<(ContactForRead, bool)> {
        let object = Some(id.to_string());
        if let Decision::Deny(denial) = authorize(actor, action, Object::Register, Some(purpose)) {
            let answer = denial_error(denial);
            return Err(self
                .refuse(
                    actor_id,
                    action,
                    object,
                    Some(purpose),
                    denial.as_str(),
                    answer,
                )
                .await?);
        }
        // A missing contact costs the same one statement as one that is
        // there (with its limits): it must not answer faster than another
        // agent's.
        let Some(mut read) = self
            .store
            .contact_for_read(&id, object_kind, self.clock.now())
            .await?
        else {
            return Err(self
                .refuse(
                    actor_id,
                    action,
                    object,
                    Some(purpose),
                    "not_found",
                    Error::NotFound,
                )
                .await?);
        };
        let agent = UserName::parse(&read.contact.agent, "agent")?;
        let limits = Limits::of(std::mem::take(&mut read.limits))?;
        let decision = authorize(
            actor,
            action,
            Object::Contact {
                agent: &agent,
                limits: limits.subject(),
            },
            Some(purpose),
        );
        match decision {
            Decision::Allow { metadata_only, .. } => Ok((read, metadata_only)),
            Decision::Deny(denial) => {
                let answer = denial_error(denial);
                Err(self
                    .refuse(
                        actor_id,
                        action,
                        object,
                        Some(purpose),
                        denial.as_str(),
                        answer,
                    )
                    .await?)
            }
        }
    }

    /// Refuses an action on the register as a whole when the decision says so.
    pub async fn authorize_register(
        &self,
        actor: &Actor,
        actor_id: UserId,
        action: Action,
        purpose: Option<Purpose>,
    ) -> Result<bool> {
        let (scope_to_own, _) = self
            .authorize_on(actor, actor_id, action, Object::Register, purpose)
            .await?;
        Ok(scope_to_own)
    }

    /// Runs the access decision for the register (`object`: searched by
    /// non-personal criteria or by a personal identifier), auditing a
    /// refusal. Answers `(scope_to_own, metadata_only)`.
    pub async fn authorize_on(
        &self,
        actor: &Actor,
        actor_id: UserId,
        action: Action,
        object: Object<'_>,
        purpose: Option<Purpose>,
    ) -> Result<(bool, bool)> {
        match authorize(actor, action, object, purpose) {
            Decision::Allow {
                scope_to_own,
                metadata_only,
            } => Ok((scope_to_own, metadata_only)),
            Decision::Deny(denial) => Err(self
                .refuse(
                    actor_id,
                    action,
                    None,
                    purpose,
                    denial.as_str(),
                    denial_error(denial),
                )
                .await?),
        }
    }

    /// `GET /api/v1/contacts/{id}`.
    pub async fn read_contact(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: ContactId,
        purpose: Purpose,
    ) -> Result<ContactView> {
        let (contact, metadata_only) = self
            .authorized_contact(actor, actor_id, Action::ReadContact, id, purpose)
            .await?;
        // An erased contact has nothing left to decrypt: its tombstone says
        // what happened.
        if contact.is_erased() {
            return Err(self.gone(&id, "contact", "this contact's data").await);
        }
        let objects = self.store.objects_for_contact(&id).await?;
        let mut view = self.view_for(&contact, &objects, metadata_only)?;
        if let Some(holds) = self.holds_of_contact(actor, &id).await? {
            let now = self.clock.now();
            view.holds = Some(
                holds
                    .iter()
                    .map(|h| HoldRef {
                        id: h.id,
                        ground_kind: h.ground_kind.clone(),
                        review_by: kirjuri_core::retention::local_call_date(
                            h.review_by.fixed_offset(),
                        ),
                        active: h.is_active(now),
                    })
                    .collect(),
            );
            view.tombstones = Some(
                self.store
                    .tombstones_for_contact(&id)
                    .await?
                    .iter()
                    .map(TombstoneView::from)
                    .collect(),
            );
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
        Ok(view)
    }

    /// `GET /api/v1/contacts?…`.
    pub async fn search(
        &self,
        actor: &Actor,
        actor_id: UserId,
        query: &SearchQuery,
    ) -> Result<SearchResults> {
        let purpose = require_purpose(query.purpose.as_deref())?;
        let by_identifier = [
            &query.phone,
            &query.email,
            &query.property_id,
            &query.customer_number,
            &query.name,
            &query.hetu,
        ]
        .iter()
        .any(|criterion| criterion.is_some());
        let object = if by_identifier {
            Object::RegisterByIdentifier
        } else {
            Object::Register
        };
        let (scope_to_own, metadata_only) = self
            .authorize_on(
                actor,
                actor_id,
                Action::SearchContacts,
                object,
                Some(purpose),
            )
            .await?;
        // The code is the most sensitive identifier the index holds; only
        // those who answer for data-subject requests and legal claims
        // search by it (and see it unmasked).
        if query.hetu.is_some() && !crate::forms::sees_identity_codes(actor) {
            let event = AuditEvent::AccessDenied {
                action: "search_by_hetu",
                object: None,
                purpose: Some(purpose),
                reason: "role",
            };
            self.audit(Some(actor_id), &event).await?;
            return Err(Error::Forbidden(
                "only a registrar searches by personal identity code",
            ));
        }
        let indexer = self.keyring.blind_indexer();
        let mut index = Vec::new();
        let mut add = |kind: IndexKind, value: String| {
            index.push(IndexEntry {
                kind: kind.as_str().to_owned(),
                hash: indexer.hash(kind, &value).to_vec(),
            });
        };
        if let Some(phone) = &query.phone {
            add(
                IndexKind::Phone,
                PhoneNumber::parse(phone, "phone")?.e164().to_owned(),
            );
        }
        if let Some(email) = &query.email {
            add(
                IndexKind::Email,
                EmailAddress::parse(email, "email")?.index_form(),
            );
        }
        if let Some(property_id) = &query.property_id {
            add(
                IndexKind::PropertyId,
                PropertyId::parse(property_id, "property_id")?.canonical(),
            );
        }
        if let Some(number) = &query.customer_number {
            add(IndexKind::CustomerNumber, number.trim().to_owned());
        }
        if let Some(name) = &query.name {
            add(IndexKind::Name, normalise_name(name));
        }
        if let Some(hetu) = &query.hetu {
            add(
                IndexKind::Hetu,
                kirjuri_core::hetu::PersonalIdentityCode::parse(hetu, "hetu")?
                    .as_str()
                    .to_owned(),
            );
        }
        let agent = match &query.agent {
            Some(agent) => Some(UserName::parse(agent, "agent")?.as_str().to_owned()),
            None => None,
        };
        let from = query
            .from
            .as_deref()
            .map(|v| parse_bound(v, "from", false))
            .transpose()?;
        let to = query
            .to
            .as_deref()
            .map(|v| parse_bound(v, "to", true))
            .transpose()?;
        let limit = query.limit.unwrap_or(50);
        if limit == 0 || limit > 500 {
            return Err(Error::bad_request(
                "invalid_parameter",
                "limit must be between 1 and 500",
            ));
        }
        let channel = query
            .channel
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(Channel::from_str)
            .transpose()?;
        let service = query
            .service
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        // A service that intake would refuse can match nothing: say so
        // rather than search (and log) it.
        if let Some(service) = service {
            check_service(service).map_err(|_| {
                Error::bad_request(
                    "invalid_parameter",
                    "service must be 1–200 characters without control characters",
                )
            })?;
        }
        let filters = SearchFilters {
            agent: agent.clone(),
            service: service.map(|s| hex::encode(indexer.hash(IndexKind::Service, s))),
            channel,
            from,
            to,
        };
        let agent = if scope_to_own {
            match agent {
                // An agent filtering on someone else simply finds nothing.
                Some(other) if other != actor.name.as_str() => {
                    let contacts = self
                        .audited_search(actor_id, purpose, &index, &filters, Vec::new())
                        .await?;
                    return Ok(SearchResults {
                        contacts,
                        withheld: 0,
                    });
                }
                _ => Some(actor.name.as_str().to_owned()),
            }
        } else {
            agent
        };
        let filter = ContactFilter {
            index: index.clone(),
            agent,
            from,
            to,
            limit,
            before: None,
        };
        let rows = self
            .search_rows(filter, channel.map(|c| c.as_str()), service)
            .await?;
        // An erased contact keeps its row (times, agent) but nothing to show.
        let rows: Vec<&ContactRow> = rows.iter().filter(|r| !r.is_erased()).collect();
        // A contact whose subject forbade this purpose is left out, and
        // counted, so the searcher knows why fewer came back.
        let ids: Vec<ContactId> = rows.iter().map(|r| r.id).collect();
        let limits = self.limits_on(&ids).await?;
        let mut views = Vec::with_capacity(rows.len());
        let mut withheld = 0;
        for row in rows {
            let forbidden = limits
                .get(&row.id)
                .and_then(|l| l.subject().forbids(purpose));
            if forbidden.is_some() {
                withheld += 1;
                continue;
            }
            let objects = self.store.objects_for_contact(&row.id).await?;
            views.push(self.view_for(row, &objects, metadata_only)?);
        }
        let contacts = self
            .audited_search(actor_id, purpose, &index, &filters, views)
            .await?;
        Ok(SearchResults { contacts, withheld })
    }

    /// The rows of a search, newest first. Service and channel are plain
    /// columns the store does not filter on; they are matched here, on rows
    /// still sealed, paging on until `limit` match or [`MAX_SCANNED_ROWS`]
    /// rows were looked at — so only what is returned is decrypted and
    /// audited.
    async fn search_rows(
        &self,
        mut filter: ContactFilter,
        channel: Option<&str>,
        service: Option<&str>,
    ) -> Result<Vec<ContactRow>> {
        if channel.is_none() && service.is_none() {
            return Ok(self.store.search_contacts(&filter).await?);
        }
        let wanted = filter.limit as usize;
        filter.limit = SCAN_PAGE;
        let mut found = Vec::new();
        let mut scanned = 0usize;
        loop {
            let page = self.store.search_contacts(&filter).await?;
            let full = page.len() == SCAN_PAGE as usize;
            scanned += page.len();
            filter.before = page.last().map(|r| (r.started_at, r.id));
            found.extend(page.into_iter().filter(|r| {
                channel.is_none_or(|c| r.channel == c)
                    && service.is_none_or(|s| r.service.as_deref() == Some(s))
            }));
            if found.len() >= wanted || !full || scanned >= MAX_SCANNED_ROWS {
                found.truncate(wanted);
                return Ok(found);
            }
        }
    }

    async fn audited_search(
        &self,
        actor_id: UserId,
        purpose: Purpose,
        index: &[IndexEntry],
        filters: &SearchFilters,
        views: Vec<ContactView>,
    ) -> Result<Vec<ContactView>> {
        let criteria = index
            .iter()
            .map(|e| HashedCriterion {
                kind: e.kind.clone(),
                hash: hex::encode(&e.hash),
            })
            .collect();
        let filters = json!({
            "agent": filters.agent,
            "service_hash": filters.service,
            "channel": filters.channel.map(|c| c.as_str()),
            "from": filters.from,
            "to": filters.to,
        });
        let results = views.iter().map(|v| v.id).collect();
        self.audit(
            Some(actor_id),
            &AuditEvent::Search {
                purpose,
                criteria,
                filters,
                results,
            },
        )
        .await?;
        Ok(views)
    }

    /// Appends the audit event of a recording read (whole, or the inclusive
    /// byte range served) before any byte leaves.
    async fn audit_recording_read(
        &self,
        actor: &Actor,
        actor_id: UserId,
        contact: ContactId,
        object: ObjectId,
        purpose: Purpose,
        range: Option<&RangeInclusive<u64>>,
    ) -> Result<()> {
        let event = AuditEvent::RecordingRead {
            contact,
            object,
            purpose,
            range: range.map(|r| (*r.start(), *r.end())),
            reason: actor.reason.clone(),
        };
        self.audit(Some(actor_id), &event).await
    }

    /// Authorizes reading a contact's recording and finds one of its stored
    /// objects (`kind`: the recording or a derived artefact), in one
    /// database round trip. Nothing is audited or read yet: the caller
    /// audits what it actually serves, while [`Kirjuri::open_stream`]
    /// reads it.
    async fn recording_object(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: ContactId,
        purpose: Purpose,
        kind: &str,
    ) -> Result<ObjectRow> {
        let (read, _) = self
            .authorized_read(
                actor,
                actor_id,
                Action::ReadRecording,
                id,
                purpose,
                Some(kind),
            )
            .await?;
        match read.object {
            Some(object) => Ok(object),
            None => Err(self.gone(&id, kind, "this recording").await),
        }
    }

    /// The plaintext of bytes `wanted` of a stored object, decrypted segment
    /// by segment as it is read (constant memory), opening only the
    /// segments `wanted` covers. Its first piece is read and decrypted here:
    /// the object's length (checked against its row: a shortened file is
    /// tampering or corruption, said before anything is sent rather than
    /// part-way through), its header and the segments holding the first
    /// [`SEGMENT_LEN`] bytes wanted come in one call to the object store
    /// (issue 16 §3: one hand-off to the blocking pool for a 64 KiB seek).
    /// Neither authorizes nor audits: its callers do both, and release
    /// nothing before the audit row is durable ([`released_after`]).
    async fn open_stream(
        &self,
        object: &ObjectRow,
        wanted: std::ops::Range<u64>,
    ) -> Result<PlaintextStream> {
        let key = self.keyring.unwrap(&object.wrapped_key, &object.id)?;
        let mut plan = SegmentPlan::new(object.stored_len, &wanted);
        let first = plan.first_batch();
        let (stored, header, sealed) = self
            .objects
            .head_and_range(&object.id, HEADER_LEN as u64, first.sealed.clone())
            .await?;
        if stored != object.stored_len {
            return Err(Error::Integrity(kirjuri_vault::Error::Integrity(format!(
                "object {} is {stored} bytes, expected {}",
                object.id, object.stored_len
            ))));
        }
        let opener = StreamOpener::new(&key, &object.id, &header, object.plaintext_len)?;
        let head = if first.sealed.is_empty() {
            None
        } else {
            Some(Ok(plan.open(&opener, &sealed, first.last)?))
        };
        let rest = segment_stream(self.objects.clone(), object.id, opener, plan);
        Ok(Box::pin(futures::stream::iter(head).chain(rest)))
    }

    /// The whole plaintext of a stored object, decrypted segment by segment
    /// as it is read (constant memory). For the access package, whose
    /// caller has authorized and audited the release already.
    pub(crate) async fn object_plaintext(&self, object: &ObjectRow) -> Result<PlaintextStream> {
        self.open_stream(object, 0..object.plaintext_len).await
    }

    /// `GET /api/v1/contacts/{id}/recording`, whole or one byte range.
    pub async fn read_recording(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: ContactId,
        purpose: Purpose,
        range: Option<&dyn RangeRequest>,
    ) -> Result<RecordingBody> {
        let object = self
            .recording_object(actor, actor_id, id, purpose, RECORDING)
            .await?;
        let total_len = object.plaintext_len;
        let range = match range {
            Some(request) => request.resolve(total_len)?,
            None => None,
        };
        let wanted = match &range {
            Some(r) => *r.start()..r.end() + 1,
            None => 0..total_len,
        };
        let audit =
            self.audit_recording_read(actor, actor_id, id, object.id, purpose, range.as_ref());
        let stream = released_after(audit, self.open_stream(&object, wanted)).await?;
        Ok(RecordingBody {
            total_len,
            range,
            stream,
        })
    }

    /// `GET /api/v1/contacts/{id}/recording/playback`: the recording as 16-bit
    /// PCM WAV, transcoded on the fly (whole or one byte range of the
    /// rendition), decrypting only the segments the range needs.
    pub async fn read_playback(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: ContactId,
        purpose: Purpose,
        range: Option<&dyn RangeRequest>,
    ) -> Result<RecordingBody> {
        let object = self
            .recording_object(actor, actor_id, id, purpose, RECORDING)
            .await?;
        let rendition = Pcm16Rendition {
            source: layout_of(&object)?,
        };
        let total_len = rendition.len();
        let range = match range {
            Some(request) => request.resolve(total_len)?,
            None => None,
        };
        let (start, end) = match &range {
            Some(r) => (*r.start(), r.end() + 1),
            None => (0, total_len),
        };
        let audit =
            self.audit_recording_read(actor, actor_id, id, object.id, purpose, range.as_ref());
        let header = rendition.header();
        let header_part = Bytes::from(
            header
                .get(start.min(PCM16_HEADER_LEN) as usize..end.min(PCM16_HEADER_LEN) as usize)
                .unwrap_or_default()
                .to_vec(),
        );
        let head = futures::stream::iter((!header_part.is_empty()).then_some(Ok(header_part)));
        if end <= PCM16_HEADER_LEN {
            // No audio wanted: the object is still opened (its length
            // checked), as for any read.
            let _nothing: PlaintextStream =
                released_after(audit, self.open_stream(&object, 0..0)).await?;
            return Ok(RecordingBody {
                total_len,
                range,
                stream: Box::pin(head),
            });
        }
        let audio_start = start.max(PCM16_HEADER_LEN) - PCM16_HEADER_LEN;
        let audio_end = end - PCM16_HEADER_LEN;
        let out_frame = rendition.out_frame();
        let first_frame = audio_start / out_frame;
        let end_frame = audio_end.div_ceil(out_frame);
        let source = rendition.source_range(first_frame, end_frame);
        let opened = self.open_stream(&object, source);
        let mut transcoder = Pcm16Transcoder::new(rendition.source);
        let mut skip = (audio_start - first_frame * out_frame) as usize;
        let mut remaining = audio_end - audio_start;
        let transcode = move |chunk: std::result::Result<Bytes, Error>| {
            let chunk = chunk?;
            let mut out = Vec::with_capacity(chunk.len() * 2);
            transcoder.push(&chunk, &mut out);
            let from = skip.min(out.len());
            skip -= from;
            let take = usize::try_from(remaining)
                .unwrap_or(usize::MAX)
                .min(out.len() - from);
            remaining -= take as u64;
            Ok(Bytes::from(out).slice(from..from + take))
        };
        let opened = async move {
            let audio: PlaintextStream = Box::pin(head.chain(opened.await?.map(transcode)));
            Ok(audio)
        };
        let stream = released_after(audit, opened).await?;
        Ok(RecordingBody {
            total_len,
            range,
            stream,
        })
    }

    /// `GET /api/v1/contacts/{id}/recording/peaks`: the waveform computed at
    /// intake, decrypted.
    pub async fn read_peaks(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: ContactId,
        purpose: Purpose,
    ) -> Result<Peaks> {
        let object = self
            .recording_object(actor, actor_id, id, purpose, WAVEFORM)
            .await?;
        let audit = self.audit_recording_read(actor, actor_id, id, object.id, purpose, None);
        let mut stream =
            released_after(audit, self.open_stream(&object, 0..object.plaintext_len)).await?;
        let mut plaintext = Vec::with_capacity(usize::try_from(object.plaintext_len).unwrap_or(0));
        while let Some(chunk) = stream.next().await {
            plaintext.extend_from_slice(&chunk?);
        }
        serde_json::from_slice(&plaintext).map_err(|e| Error::decode("waveform", object.id, &e))
    }
}

/// A recording's plaintext, streamed.
type PlaintextStream =
    std::pin::Pin<Box<dyn Stream<Item = std::result::Result<Bytes, Error>> + Send>>;

/// Releases the stream `open` opens only once `audit` (the read's audit
/// append) is durable, opening the object and reading and decrypting its
/// first piece meanwhile ([`Kirjuri::open_stream`]; issue 16: a seek's
/// first byte waits for the longer of the two, not their sum). Nothing
/// leaves before the audit row does: if the append fails, what was read is
/// dropped in memory and the append's error returned.
async fn released_after(
    audit: impl Future<Output = Result<()>>,
    open: impl Future<Output = Result<PlaintextStream>>,
) -> Result<PlaintextStream> {
    let (audited, opened) = tokio::join!(audit, open);
    audited?;
    opened
}

/// The stored recording's audio layout, from its media description.
fn layout_of(object: &ObjectRow) -> Result<AudioLayout> {
    let media = &object.media;
    let num = |key: &str| media.get(key).and_then(serde_json::Value::as_u64);
    let encoding = media
        .get("encoding")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    let encoding = Encoding::from_wire(encoding);
    let broken = || Error::Decode {
        what: "the media description of recording",
        id: object.id.to_string(),
        source: None,
    };
    Ok(AudioLayout {
        encoding: encoding.ok_or_else(broken)?,
        sample_rate: num("sample_rate")
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(broken)?,
        channels: num("channels")
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n > 0)
            .ok_or_else(broken)?,
        block_align: num("block_align")
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n > 0)
            .ok_or_else(broken)?,
        data_offset: num("data_offset").ok_or_else(broken)?,
        data_len: num("data_len").ok_or_else(broken)?,
    })
}

/// A byte range a reader asked for, resolved only against the length of
/// what the read returns (the recording, or its playback rendition), which
/// is known once the read is authorised. The web layer implements it for
/// the HTTP `Range` header (`kirjuri_web::http::range`).
pub trait RangeRequest: Send + Sync {
    /// `Ok(None)`: the whole; `Ok(Some(r))`: the bytes `r`;
    /// `Err(Error::RangeNotSatisfiable)`: nothing of `len` bytes satisfies it.
    fn resolve(&self, len: u64) -> Result<Option<RangeInclusive<u64>>>;
}

/// Which segments of a stored object a read of plaintext bytes `wanted`
/// opens, and how far it has got: the first batch holds the segments of
/// the first [`SEGMENT_LEN`] bytes wanted (one or two: a fast first byte,
/// read with the object's header), each later batch 16 segments (1 MiB).
struct SegmentPlan {
    /// The object's stored length.
    stored_len: u64,
    /// The next segment to open.
    next_segment: u64,
    /// The last segment `wanted` needs.
    last_segment: u64,
    /// Bytes of the next segment's plaintext before `wanted` starts.
    skip: usize,
    /// Plaintext bytes still to return.
    remaining: u64,
}

/// One batch of segments: where they lie in the stored object, and the
/// last one's index.
struct Batch {
    /// The sealed bytes to read (empty when nothing is left).
    sealed: std::ops::Range<u64>,
    /// The batch's last segment.
    last: u64,
}

/// Segments per batch after the first.
const LATER_BATCH: u64 = 16;

impl SegmentPlan {
    fn new(stored_len: u64, wanted: &std::ops::Range<u64>) -> Self {
        let segment = SEGMENT_LEN as u64;
        let (next_segment, last_segment, skip) = if wanted.is_empty() {
            (1, 0, 0)
        } else {
            (
                wanted.start / segment,
                (wanted.end - 1) / segment,
                (wanted.start % segment) as usize,
            )
        };
        Self {
            stored_len,
            next_segment,
            last_segment,
            skip,
            remaining: wanted.end.saturating_sub(wanted.start),
        }
    }

    /// Whether every byte wanted was returned.
    fn done(&self) -> bool {
        self.remaining == 0 || self.next_segment > self.last_segment
    }

    /// The first batch: the segments holding the first [`SEGMENT_LEN`]
    /// bytes wanted.
    fn first_batch(&self) -> Batch {
        let first_plain = self.skip as u64 + self.remaining.min(SEGMENT_LEN as u64);
        let last = self.next_segment + first_plain.saturating_sub(1) / SEGMENT_LEN as u64;
        self.batch_to(last)
    }

    /// The next batch after the first.
    fn later_batch(&self) -> Batch {
        self.batch_to(self.next_segment + LATER_BATCH - 1)
    }

    /// The batch from the next segment to `last` (at most the last one
    /// wanted).
    fn batch_to(&self, last: u64) -> Batch {
        if self.done() {
            return Batch {
                sealed: 0..0,
                last: self.next_segment,
            };
        }
        let last = last.min(self.last_segment);
        let sealed_segment = (SEGMENT_LEN + TAG_LEN) as u64;
        let start = HEADER_LEN as u64 + self.next_segment * sealed_segment;
        let end = (HEADER_LEN as u64 + (last + 1) * sealed_segment).min(self.stored_len);
        Batch {
            sealed: start..end,
            last,
        }
    }

    /// Decrypts `sealed`, the segments from the next one to `last`, and
    /// returns the plaintext wanted of them.
    fn open(&mut self, opener: &StreamOpener, sealed: &[u8], last: u64) -> Result<Bytes> {
        let sealed_segment = SEGMENT_LEN + TAG_LEN;
        let mut buffer = BytesMut::from(sealed);
        let mut out = BytesMut::with_capacity(buffer.len());
        let mut index = self.next_segment;
        while !buffer.is_empty() {
            let take = buffer.len().min(sealed_segment);
            let mut piece = buffer.split_to(take);
            let n = opener.open_segment(index, &mut piece)?;
            let plain = piece.get(self.skip..n).unwrap_or_default();
            self.skip = 0;
            let want = usize::try_from(self.remaining)
                .unwrap_or(usize::MAX)
                .min(plain.len());
            out.extend_from_slice(plain.get(..want).unwrap_or_default());
            self.remaining -= want as u64;
            index += 1;
        }
        self.next_segment = last + 1;
        Ok(out.freeze())
    }
}

/// Streams the rest of `plan` (after its first batch), reading and
/// decrypting [`LATER_BATCH`] segments at a time.
fn segment_stream(
    objects: std::sync::Arc<dyn ObjectStore>,
    id: ObjectId,
    opener: StreamOpener,
    plan: SegmentPlan,
) -> impl Stream<Item = std::result::Result<Bytes, Error>> + Send {
    futures::stream::try_unfold(
        (objects, opener, plan),
        move |(objects, opener, mut plan)| async move {
            if plan.done() {
                return Ok(None);
            }
            let batch = plan.later_batch();
            let sealed = objects.get_range(&id, batch.sealed).await?;
            let plain = plan.open(&opener, &sealed, batch.last)?;
            Ok(Some((plain, (objects, opener, plan))))
        },
    )
}

/// What the client sees for a denial.
pub fn denial_error(denial: Denial) -> Error {
    match denial {
        Denial::NotOwner => Error::NotFound,
        Denial::MissingPurpose => Error::bad_request(
            "purpose_required",
            "every read of personal data must state purpose=",
        ),
        Denial::Role => Error::Forbidden("your role does not allow this"),
        Denial::PurposeNotAllowed => {
            Error::Forbidden("your role may not read personal data for this purpose")
        }
        Denial::Restricted => Error::Limited {
            code: "restricted",
            message: "the data subject has restricted the processing of this data (GDPR Art. 18): \
                      it may be read only for a legal claim or the subject's own request",
        },
        Denial::Objected => Error::Limited {
            code: "objected",
            message: "the data subject has objected to this purpose (GDPR Art. 21): their data \
                      may not be read for it",
        },
        Denial::ReasonRequired => Error::bad_request(
            "reason_required",
            "a maintainer must state the reason for each access with reason=",
        ),
        Denial::NoConfidentialityAgreement => Error::Forbidden(
            "a maintainer needs a confidentiality agreement on file before reaching recordings",
        ),
    }
}
