//! The breach's impact query (reference §4 I.50; issue 13 §7): `POST
//! /api/v1/incidents/{id}/impact` `{"from", "to", "user"?, "contacts"?,
//! "objects"?}` — given a time window and an account and/or a set of
//! contact and object ids, which data subjects did the breach touch?
//!
//! **Two sources, both read whole (paged to the end, never sampled):**
//!
//! - **The audit log** (`audit_log`). Every read of personal data appends
//!   its event before data leaves (the architecture's first invariant), so
//!   the log is the complete record of what was read: the actions of
//!   `kirjuri_core::audit::PERSONAL_DATA_READS` — `contact.viewed` (a
//!   contact opened — also each contact of a released access package and
//!   of a history read), `recording.read`, `transcript.read`, `message.read`, `form.read` and
//!   `attachment.read` (a stored
//!   object read, whole or a range — also each one in a package), and
//!   `contact.search` (the contacts a search returned). Only successful
//!   events count (a denial released nothing), in `from` ≤ at < `to`, by
//!   the account if given, and — if ids are given — only what names them: a
//!   contact viewed, an object or any object of a contact read, a search
//!   result among them. It is read when the question names an account or
//!   ids.
//! - **The disclosures** (`disclosures`). A disclosure's package is
//!   audited once, as `disclosure.package_released` naming the disclosure,
//!   and its scope lives in the disclosure's own tables: each release in
//!   the window (by the account if given — a recipient's download through
//!   its link has no account — and of the disclosures named in
//!   `disclosures` if any) touched every contact of its scope (within the
//!   ids if given) and, when it released recordings, their recordings as
//!   stored now. A disclosure sent to the wrong recipient is a breach
//!   asked about by naming it alone.
//!
//! **The answer names no one.** Subjects are keyed references: the
//! affected contacts are grouped by the identifiers they share (phone,
//! email, customer number — a name or a property is shared by different
//! people and links nothing) through their blind-index entries, and each
//! group is named by the vault's `subject_reference` over its first
//! identifier's blind-index hash (a contact with none, over its id); with
//! it come the contact ids, the identifier kinds and the counts. No number,
//! name or address is opened. The query is a registrar's action
//! (`ManageIncidents`), audited as `incident.impact_queried` with its
//! window, account id and counts before the answer is returned.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::audit::PERSONAL_DATA_READS;
use kirjuri_core::ids::{ContactId, UserId};
use kirjuri_store::incidents::ImpactFilter;
use kirjuri_store::{AuditRecord, NewAuditEvent};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::incident_ref;
use crate::app::Kirjuri;
use crate::disclosures::disclosure_ref;
use crate::error::{Error, Result};
use crate::intake::RECORDING;

/// The audit log as a source (see the module doc).
pub const AUDIT_LOG: &str = "audit_log";

/// The disclosures as a source.
pub const DISCLOSURES: &str = "disclosures";

/// The audit action of a disclosure's released package.
const RELEASED: &str = "disclosure.package_released";

/// Ids the query may name at most (contacts, objects and disclosures
/// together).
pub const MAX_IDS: usize = 1000;

/// The longest window.
pub const MAX_WINDOW_DAYS: i64 = 366;

/// Events read per page.
const PAGE: u32 = 1000;

/// Blind-index kinds that identify one person (a name or a property does not).
const LINKING_KINDS: [&str; 3] = ["phone", "email", "customer_number"];

/// `POST /api/v1/incidents/{id}/impact`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpactInput {
    /// The window's start, inclusive (RFC 3339).
    pub from: Option<String>,
    /// The window's end, exclusive (RFC 3339).
    pub to: Option<String>,
    /// The account whose reads count (its name).
    #[serde(default)]
    pub user: Option<String>,
    /// Contact ids whose reads count.
    #[serde(default)]
    pub contacts: Vec<String>,
    /// Object (recording, transcript) ids whose reads count.
    #[serde(default)]
    pub objects: Vec<String>,
    /// Disclosure ids whose releases count.
    #[serde(default)]
    pub disclosures: Vec<String>,
}

/// A data subject the breach touched, by reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AffectedSubject {
    /// The keyed reference (hex): no identifier, no blind-index hash.
    pub reference: String,
    /// The kinds of identifier the subject's contacts carry.
    pub identifier_kinds: Vec<String>,
    /// The subject's affected contacts.
    pub contacts: Vec<ContactId>,
}

/// The counts of an impact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImpactCounts {
    /// Audit events that touched something.
    pub events: u64,
    /// Distinct contacts touched.
    pub contacts: u64,
    /// Distinct recordings read.
    pub recordings: u64,
    /// Distinct subjects.
    pub subjects: u64,
}

/// The answer.
#[derive(Debug, Clone, Serialize)]
pub struct Impact {
    /// The incident asked about.
    pub incident: Uuid,
    /// The window's start.
    pub from: DateTime<Utc>,
    /// The window's end (exclusive).
    pub to: DateTime<Utc>,
    /// The account, if one was given.
    pub user: Option<String>,
    /// The sources read.
    pub sources: Vec<&'static str>,
    /// The counts.
    pub counts: ImpactCounts,
    /// The subjects.
    pub subjects: Vec<AffectedSubject>,
    /// The contacts touched.
    pub contacts: Vec<ContactId>,
    /// The recordings read.
    pub recordings: Vec<Uuid>,
}

/// What the sources found.
#[derive(Debug, Default)]
pub struct Touched {
    /// Events that touched something.
    pub events: u64,
    /// Contacts touched.
    pub contacts: BTreeSet<ContactId>,
    /// Recordings read.
    pub recordings: BTreeSet<Uuid>,
}

/// The validated question.
struct Question {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    user: Option<(String, UserId)>,
    ids: BTreeSet<Uuid>,
    disclosures: BTreeSet<Uuid>,
}

fn refused(code: &'static str, message: String) -> Error {
    Error::Unprocessable { code, message }
}

fn time(field: &str, value: Option<&str>) -> Result<DateTime<Utc>> {
    let value = value.ok_or_else(|| refused("missing_field", format!("{field}: is required")))?;
    value
        .get(..64.min(value.len()))
        .filter(|v| v.len() == value.len())
        .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
        .map(|t| t.to_utc())
        .ok_or_else(|| {
            refused(
                "invalid_field",
                format!("{field}: must be an RFC 3339 time with an offset"),
            )
        })
}

fn ids(field: &str, values: &[String], into: &mut BTreeSet<Uuid>) -> Result<()> {
    for value in values {
        let id = Uuid::try_parse(value.trim())
            .map_err(|_| refused("invalid_field", format!("{field}: must be a list of ids")))?;
        into.insert(id);
    }
    Ok(())
}

/// What one read event touched, as (contacts, the recording read), within
/// `ids` if given.
pub fn touched(record: &AuditRecord, ids: &BTreeSet<Uuid>) -> (Vec<ContactId>, Option<Uuid>) {
    let event = &record.event;
    let named = |id: &Uuid| ids.is_empty() || ids.contains(id);
    let as_id = |v: Option<&str>| v.and_then(|s| Uuid::try_parse(s).ok());
    match event.action.as_str() {
        "contact.viewed" => match as_id(event.object.as_deref()) {
            Some(contact) if named(&contact) => (vec![ContactId::from_uuid(contact)], None),
            _ => (Vec::new(), None),
        },
        action @ ("recording.read" | "transcript.read" | "message.read" | "form.read"
        | "attachment.read") => {
            let contact = as_id(event.details.get("contact").and_then(Value::as_str));
            let object = as_id(event.object.as_deref());
            match (contact, object) {
                (Some(contact), Some(object)) if named(&contact) || named(&object) => {
                    let recording = (action == "recording.read").then_some(object);
                    (vec![ContactId::from_uuid(contact)], recording)
                }
                _ => (Vec::new(), None),
            }
        }
        "contact.search" => {
            let results = event
                .details
                .get("results")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(|v| as_id(v.as_str()))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            let contacts = results
                .into_iter()
                .filter(|c| named(c))
                .map(ContactId::from_uuid)
                .collect();
            (contacts, None)
        }
        _ => (Vec::new(), None),
    }
}

/// Groups contacts into subjects by shared linking identifiers (union-find
/// over contacts), each named by its smallest identifier.
fn subjects(
    app: &Kirjuri,
    contacts: &BTreeSet<ContactId>,
    entries: &[(ContactId, kirjuri_store::IndexEntry)],
) -> Vec<AffectedSubject> {
    let list: Vec<ContactId> = contacts.iter().copied().collect();
    let position: BTreeMap<ContactId, usize> =
        list.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    let mut parent: Vec<usize> = (0..list.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut first_holder: BTreeMap<(&str, &[u8]), usize> = BTreeMap::new();
    let mut kinds: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
    for (contact, entry) in entries {
        let Some(&i) = position.get(contact) else {
            continue;
        };
        kinds.entry(i).or_default().insert(entry.kind.as_str());
        if !LINKING_KINDS.contains(&entry.kind.as_str()) {
            continue;
        }
        let key = (entry.kind.as_str(), entry.hash.as_slice());
        match first_holder.get(&key) {
            Some(&j) => {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                parent[a.max(b)] = a.min(b);
            }
            None => {
                first_holder.insert(key, i);
            }
        }
    }
    // Each group's smallest linking identifier names it.
    let mut names: BTreeMap<usize, (&str, &[u8])> = BTreeMap::new();
    for (key, &i) in &first_holder {
        let r = root(&mut parent, i);
        names
            .entry(r)
            .and_modify(|k| {
                if key < k {
                    *k = *key;
                }
            })
            .or_insert(*key);
    }
    let mut groups: BTreeMap<usize, AffectedSubject> = BTreeMap::new();
    let indexer = app.keyring.blind_indexer();
    for i in 0..list.len() {
        let r = root(&mut parent, i);
        let group = groups.entry(r).or_insert_with(|| {
            let reference = match names.get(&r) {
                Some((kind, hash)) => indexer.subject_reference(kind, hash),
                None => indexer.subject_reference("contact", list[r].as_uuid().as_bytes()),
            };
            AffectedSubject {
                reference: hex::encode(&reference[..16]),
                identifier_kinds: Vec::new(),
                contacts: Vec::new(),
            }
        });
        group.contacts.push(list[i]);
        for kind in kinds.get(&i).into_iter().flatten() {
            if !group.identifier_kinds.iter().any(|k| k == kind) {
                group.identifier_kinds.push((*kind).to_owned());
            }
        }
    }
    let mut out: Vec<AffectedSubject> = groups.into_values().collect();
    for subject in &mut out {
        subject.identifier_kinds.sort();
    }
    out.sort_by(|a, b| a.reference.cmp(&b.reference));
    out
}

impl Kirjuri {
    /// Validates the question; the account is looked up by name.
    async fn impact_question(&self, input: &ImpactInput) -> Result<Question> {
        let from = time("from", input.from.as_deref())?;
        let to = time("to", input.to.as_deref())?;
        if to <= from {
            return Err(refused("invalid_field", "to: must be after from".into()));
        }
        if to - from > TimeDelta::days(MAX_WINDOW_DAYS) {
            return Err(refused(
                "invalid_field",
                format!("to: the window is at most {MAX_WINDOW_DAYS} days"),
            ));
        }
        if input.contacts.len() + input.objects.len() + input.disclosures.len() > MAX_IDS {
            return Err(refused(
                "invalid_field",
                format!("contacts: contacts, objects and disclosures name at most {MAX_IDS} ids"),
            ));
        }
        let mut set = BTreeSet::new();
        ids("contacts", &input.contacts, &mut set)?;
        ids("objects", &input.objects, &mut set)?;
        let mut disclosures = BTreeSet::new();
        ids("disclosures", &input.disclosures, &mut disclosures)?;
        let user = match input
            .user
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            None => None,
            Some(name) => {
                let found = match kirjuri_core::username::UserName::parse(name, "user") {
                    Ok(parsed) => self.store.user_by_name(parsed.as_str()).await?,
                    Err(_) => None,
                };
                let row = found.ok_or_else(|| {
                    refused("unknown_user", "user: no account has that name".into())
                })?;
                Some((row.name, row.id))
            }
        };
        if user.is_none() && set.is_empty() && disclosures.is_empty() {
            return Err(refused(
                "scope_required",
                "user: name an account, or contacts, objects or disclosures, whose reads \
                 or releases the breach exposed"
                    .into(),
            ));
        }
        Ok(Question {
            from,
            to,
            user,
            ids: set,
            disclosures,
        })
    }

    /// The audit log's source: every successful read the question selects,
    /// paged through to the end.
    async fn audit_log_impact(&self, question: &Question, into: &mut Touched) -> Result<()> {
        let mut filter = ImpactFilter {
            from: question.from,
            to: question.to,
            actor: question.user.as_ref().map(|(_, id)| *id),
            refs: question.ids.iter().map(Uuid::to_string).collect(),
            actions: PERSONAL_DATA_READS.to_vec(),
            after_seq: 0,
            limit: PAGE,
        };
        loop {
            let page = self.store.impact_events(&filter).await?;
            for record in &page {
                let (contacts, recording) = touched(record, &question.ids);
                if contacts.is_empty() && recording.is_none() {
                    continue;
                }
                into.events += 1;
                into.contacts.extend(contacts);
                into.recordings.extend(recording);
            }
            match page.last() {
                Some(last) if page.len() == PAGE as usize => filter.after_seq = last.seq,
                _ => return Ok(()),
            }
        }
    }

    /// The disclosures' source: every release of a package in the window
    /// (by the account, of the named disclosures, if given), each touching
    /// its scope's contacts within the ids.
    async fn disclosure_impact(&self, question: &Question, into: &mut Touched) -> Result<()> {
        let mut filter = ImpactFilter {
            from: question.from,
            to: question.to,
            actor: question.user.as_ref().map(|(_, id)| *id),
            refs: question
                .disclosures
                .iter()
                .map(|id| disclosure_ref(*id))
                .collect(),
            actions: vec![RELEASED],
            after_seq: 0,
            limit: PAGE,
        };
        // A disclosure released twice touched the same scope twice.
        let mut scopes: BTreeMap<Uuid, (Vec<ContactId>, Vec<Uuid>)> = BTreeMap::new();
        loop {
            let page = self.store.impact_events(&filter).await?;
            for record in &page {
                let Some(id) = record
                    .event
                    .object
                    .as_deref()
                    .and_then(|o| o.strip_prefix("disclosure:"))
                    .and_then(|id| Uuid::try_parse(id).ok())
                else {
                    continue;
                };
                let (contacts, recordings) = match scopes.entry(id) {
                    std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                    std::collections::btree_map::Entry::Vacant(entry) => {
                        entry.insert(self.released_scope(id, &question.ids).await?)
                    }
                };
                if contacts.is_empty() {
                    continue;
                }
                into.events += 1;
                into.contacts.extend(contacts.iter().copied());
                into.recordings.extend(recordings.iter().copied());
            }
            match page.last() {
                Some(last) if page.len() == PAGE as usize => filter.after_seq = last.seq,
                _ => return Ok(()),
            }
        }
    }

    /// What releasing disclosure `id` touched within `ids` (all if empty):
    /// its scope's contacts and, if it released recordings, their
    /// recordings as stored now.
    async fn released_scope(
        &self,
        id: Uuid,
        ids: &BTreeSet<Uuid>,
    ) -> Result<(Vec<ContactId>, Vec<Uuid>)> {
        let Some(row) = self.store.disclosure(&id).await? else {
            return Ok((Vec::new(), Vec::new()));
        };
        let recordings_released = crate::disclosures::releases_recordings(&row);
        let mut contacts = Vec::new();
        let mut recordings = Vec::new();
        for contact in self.store.disclosure_contacts(&id).await? {
            let objects = if recordings_released || !ids.is_empty() {
                self.store.objects_for_contact(&contact).await?
            } else {
                Vec::new()
            };
            let named = ids.is_empty()
                || ids.contains(contact.as_uuid())
                || (recordings_released && objects.iter().any(|o| ids.contains(o.id.as_uuid())));
            if !named {
                continue;
            }
            contacts.push(contact);
            if recordings_released {
                recordings.extend(
                    objects
                        .iter()
                        .filter(|o| o.kind == RECORDING)
                        .map(|o| *o.id.as_uuid()),
                );
            }
        }
        Ok((contacts, recordings))
    }

    /// The impact query (see the module doc): registrars only; audited as
    /// `incident.impact_queried` before the answer is returned.
    pub async fn incident_impact(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
        input: &ImpactInput,
    ) -> Result<Impact> {
        self.authorize_register(actor, actor_id, Action::ManageIncidents, None)
            .await?;
        self.store.incident(&id).await?.ok_or(Error::NotFound)?;
        let question = self.impact_question(input).await?;
        let mut touched = Touched::default();
        let mut sources = Vec::new();
        if question.user.is_some() || !question.ids.is_empty() {
            self.audit_log_impact(&question, &mut touched).await?;
            sources.push(AUDIT_LOG);
        }
        self.disclosure_impact(&question, &mut touched).await?;
        sources.push(DISCLOSURES);
        let list: Vec<ContactId> = touched.contacts.iter().copied().collect();
        let entries = self.store.contact_identifiers(&list).await?;
        let subjects = subjects(self, &touched.contacts, &entries);
        let counts = ImpactCounts {
            events: touched.events,
            contacts: list.len() as u64,
            recordings: touched.recordings.len() as u64,
            subjects: subjects.len() as u64,
        };
        self.store
            .append_audit(&NewAuditEvent {
                at: self.clock.now(),
                actor: Some(actor_id),
                action: "incident.impact_queried".into(),
                object: Some(incident_ref(id)),
                purpose: None,
                outcome: "success".into(),
                details: json!({
                    "from": question.from,
                    "to": question.to,
                    "user": question.user.as_ref().map(|(_, id)| id),
                    "ids": question.ids.len(),
                    "disclosures": question.disclosures.len(),
                    "sources": sources,
                    "counts": counts,
                }),
            })
            .await?;
        Ok(Impact {
            incident: id,
            from: question.from,
            to: question.to,
            user: question.user.map(|(name, _)| name),
            sources,
            counts,
            subjects,
            contacts: list,
            recordings: touched.recordings.into_iter().collect(),
        })
    }
}
