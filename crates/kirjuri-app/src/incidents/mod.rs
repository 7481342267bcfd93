//! The breach register (GDPR Art. 33(5); issue 13 §7; reference §4
//! I.48–50): `POST/GET /api/v1/incidents`, `GET /api/v1/incidents/{id}`,
//! `POST /api/v1/incidents/{id}/updates`, and the impact query
//! ([`impact`]).
//!
//! An incident records what Art. 33(3) asks for: when it was detected and
//! when the controller became aware (the 72-hour clock of core's `breach`
//! starts there), its nature, the categories of data and of subjects, the
//! approximate numbers of subjects and records, the likely consequences,
//! the measures taken or proposed, and the decision whether to notify the
//! supervisory authority with its reasoning; later entries add the
//! authority's notification (time, reference), the subjects' (Art. 34:
//! decision, time, reasoning) and the reasons for a late notification —
//! required when the notification is recorded more than 72 hours after
//! awareness.
//!
//! **Append-only.** An incident is never edited: each update is a new
//! entry (and an audit event) and the current view is the fold of the
//! entries in order ([`Current::apply`]); awareness and detection are fixed
//! when it is recorded, so the clock cannot be moved. **Sealed.** The free
//! text may name people, so each entry's text is one JSON document sealed
//! under its own data key with the entry's id as associated data (as a
//! request's details are); rows, logs, errors and audit events carry the
//! non-personal facts only (decisions, numbers, times). Error messages name
//! the field, never its value.
//!
//! Registrars and the responsible person keep the register
//! (`Action::ManageIncidents`); supervisors may read it
//! (`Action::ReadIncidents`). Reading one incident opens its text and is
//! audited (`incident.viewed`); the list shows facts and clocks only.

pub mod impact;
mod input;

use chrono::{DateTime, Utc};
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::breach::{BreachClock, ClockReading, delay_reasons_required};
use kirjuri_core::ids::{ObjectId, UserId};
use kirjuri_store::NewAuditEvent;
use kirjuri_store::SealedSecret;
use kirjuri_store::incidents::{IncidentRow, IncidentUpdateRow};
use kirjuri_vault::{open_to_vec, seal_to_vec};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::app::Kirjuri;
use crate::error::{Error, Result};

pub use input::IncidentInput;

/// Incidents listed at most.
const MAX_LISTED: u32 = 1000;

/// Entries one incident may hold (a bound on what one view opens).
const MAX_ENTRIES: usize = 500;

/// An entry's non-personal facts: stored as JSON in the row, shown as they
/// are. `None` leaves the fact as the earlier entries stated it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// The decision: notify the supervisory authority or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_authority: Option<bool>,
    /// Approximate number of data subjects concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approx_subjects: Option<u64>,
    /// Approximate number of personal-data records concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approx_records: Option<u64>,
    /// When the authority was notified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority_notified_at: Option<DateTime<Utc>>,
    /// The decision: tell the data subjects (Art. 34) or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects_informed: Option<bool>,
    /// When they were told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects_informed_at: Option<DateTime<Utc>>,
}

/// An entry's free text: sealed, shown only on the incident's own page.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    /// The nature of the breach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nature: Option<String>,
    /// Categories of personal data concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_categories: Option<Vec<String>>,
    /// Categories of data subjects concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_categories: Option<Vec<String>>,
    /// The likely consequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consequences: Option<String>,
    /// Measures taken or proposed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measures: Option<String>,
    /// Why the authority is (not) notified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_reasoning: Option<String>,
    /// The authority's case reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority_reference: Option<String>,
    /// Why the subjects are (not) told (Art. 34(1), (3)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects_reasoning: Option<String>,
    /// Why the notification came after 72 hours (Art. 33(1)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_reasons: Option<String>,
    /// A free note on this entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Text([redacted])")
    }
}

/// An incident's current view: the fold of its entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Current {
    /// The facts in force.
    pub facts: Facts,
    /// The text in force.
    pub text: Text,
}

/// Later `Some` wins.
fn over<T: Clone>(into: &mut Option<T>, from: &Option<T>) {
    if from.is_some() {
        into.clone_from(from);
    }
}

impl Current {
    /// Folds one more entry in.
    pub fn apply(&mut self, facts: &Facts, text: &Text) {
        let (f, t) = (&mut self.facts, &mut self.text);
        over(&mut f.notify_authority, &facts.notify_authority);
        over(&mut f.approx_subjects, &facts.approx_subjects);
        over(&mut f.approx_records, &facts.approx_records);
        over(&mut f.authority_notified_at, &facts.authority_notified_at);
        over(&mut f.subjects_informed, &facts.subjects_informed);
        over(&mut f.subjects_informed_at, &facts.subjects_informed_at);
        over(&mut t.nature, &text.nature);
        over(&mut t.data_categories, &text.data_categories);
        over(&mut t.subject_categories, &text.subject_categories);
        over(&mut t.consequences, &text.consequences);
        over(&mut t.measures, &text.measures);
        over(&mut t.notify_reasoning, &text.notify_reasoning);
        over(&mut t.authority_reference, &text.authority_reference);
        over(&mut t.subjects_reasoning, &text.subjects_reasoning);
        over(&mut t.delay_reasons, &text.delay_reasons);
        over(&mut t.note, &text.note);
    }
}

/// The facts' fold, for the list (which opens no text).
fn fold_facts<'a>(entries: impl IntoIterator<Item = &'a Facts>) -> Facts {
    let mut current = Current::default();
    let empty = Text::default();
    for facts in entries {
        current.apply(facts, &empty);
    }
    current.facts
}

/// The 72-hour clock of an incident with these facts in force.
fn clock(aware_at: DateTime<Utc>, facts: &Facts) -> BreachClock {
    BreachClock {
        aware_at,
        notify_authority: facts.notify_authority.unwrap_or(true),
        authority_notified_at: facts.authority_notified_at,
    }
}

/// One incident in the list: facts and clock, no text.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentSummary {
    /// Its id.
    pub id: Uuid,
    /// When it was detected.
    pub detected_at: DateTime<Utc>,
    /// When the controller became aware.
    pub aware_at: DateTime<Utc>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// The 72-hour clock now.
    pub clock: ClockReading,
    /// The facts in force.
    pub facts: Facts,
    /// How many entries it has.
    pub entries: usize,
}

/// One entry, as the incident's page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EntryView {
    /// Its place, from 1.
    pub n: i64,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// Who recorded it (account name; `null` if unknown).
    pub by: Option<String>,
    /// Its facts.
    pub facts: Facts,
    /// Its text.
    pub text: Text,
}

/// One incident with its entries and current view.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentView {
    /// Its id.
    pub id: Uuid,
    /// When it was detected.
    pub detected_at: DateTime<Utc>,
    /// When the controller became aware.
    pub aware_at: DateTime<Utc>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// The 72-hour clock now.
    pub clock: ClockReading,
    /// The current view: the fold of the entries.
    pub current: Current,
    /// The entries, oldest first.
    pub entries: Vec<EntryView>,
}

/// Parses stored facts; a row that fails keeps serde's category only.
fn stored_facts(row: &IncidentUpdateRow) -> Result<Facts> {
    serde_json::from_str(&row.facts).map_err(|e| Error::decode("an incident entry", row.id, &e))
}

impl Kirjuri {
    /// Seals an entry's text under a fresh data key, its id as associated
    /// data — as a request's details are sealed.
    fn seal_entry_text(&self, id: Uuid, text: &Text) -> Result<SealedSecret> {
        let object = ObjectId::from_uuid(id);
        let key = self.keyring.generate_data_key()?;
        let plaintext =
            Zeroizing::new(serde_json::to_vec(text).map_err(|source| Error::Encode {
                what: "an incident entry",
                source,
            })?);
        Ok(SealedSecret {
            sealed: seal_to_vec(&key, &object, &plaintext)?,
            wrapped_key: self.keyring.wrap(&key, &object)?,
        })
    }

    /// Opens an entry's text.
    fn open_entry_text(&self, row: &IncidentUpdateRow) -> Result<Text> {
        let object = ObjectId::from_uuid(row.id);
        let key = self.keyring.unwrap(&row.text.wrapped_key, &object)?;
        let plaintext = Zeroizing::new(open_to_vec(&key, &object, &row.text.sealed)?);
        serde_json::from_slice(&plaintext)
            .map_err(|e| Error::decode("an incident entry", row.id, &e))
    }

    /// The entry row for validated facts and text, sealed.
    fn entry_row(
        &self,
        incident_id: Uuid,
        actor_id: UserId,
        now: DateTime<Utc>,
        facts: &Facts,
        text: &Text,
    ) -> Result<IncidentUpdateRow> {
        let id = Uuid::now_v7();
        Ok(IncidentUpdateRow {
            id,
            incident_id,
            n: 0,
            at: now,
            by_user: actor_id,
            facts: serde_json::to_string(facts).map_err(|source| Error::Encode {
                what: "an incident entry's facts",
                source,
            })?,
            text: self.seal_entry_text(id, text)?,
        })
    }

    /// Records a breach (`POST /api/v1/incidents`): every Art. 33(3) field
    /// validated (422 naming the field), the text sealed, the incident and
    /// its first entry stored with `incident.recorded` in one transaction.
    pub async fn record_incident(
        &self,
        actor: &Actor,
        actor_id: UserId,
        input: IncidentInput,
    ) -> Result<IncidentView> {
        self.authorize_register(actor, actor_id, Action::ManageIncidents, None)
            .await?;
        let now = self.clock.now();
        let recorded = input.record(now)?;
        let incident = IncidentRow {
            id: Uuid::now_v7(),
            detected_at: recorded.detected_at,
            aware_at: recorded.aware_at,
            created_at: now,
            created_by: actor_id,
        };
        let first = self.entry_row(incident.id, actor_id, now, &recorded.facts, &recorded.text)?;
        let audit = NewAuditEvent {
            at: now,
            actor: Some(actor_id),
            action: "incident.recorded".into(),
            object: Some(incident_ref(incident.id)),
            purpose: None,
            outcome: "success".into(),
            details: json!({"facts": recorded.facts, "aware_at": incident.aware_at}),
        };
        self.store
            .insert_incident(&incident, &first, &audit)
            .await?;
        self.incident_view(&incident).await
    }

    /// Appends an update (`POST /api/v1/incidents/{id}/updates`): validated
    /// against the current view (a late notification needs its reasons for
    /// delay), stored as the next entry with `incident.updated`.
    pub async fn update_incident(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
        input: IncidentInput,
    ) -> Result<IncidentView> {
        self.authorize_register(actor, actor_id, Action::ManageIncidents, None)
            .await?;
        let incident = self.store.incident(&id).await?.ok_or(Error::NotFound)?;
        let rows = self.store.incident_updates(&[id]).await?;
        if rows.len() >= MAX_ENTRIES {
            return Err(Error::Unprocessable {
                code: "too_many_updates",
                message: format!("an incident holds at most {MAX_ENTRIES} entries"),
            });
        }
        let mut current = Current::default();
        for row in &rows {
            current.apply(&stored_facts(row)?, &self.open_entry_text(row)?);
        }
        let now = self.clock.now();
        let (facts, text) = input.update(now, incident.aware_at, &current)?;
        let entry = self.entry_row(id, actor_id, now, &facts, &text)?;
        let audit = NewAuditEvent {
            at: now,
            actor: Some(actor_id),
            action: "incident.updated".into(),
            object: Some(incident_ref(id)),
            purpose: None,
            outcome: "success".into(),
            details: json!({"facts": facts}),
        };
        self.store.append_incident_update(&entry, &audit).await?;
        self.incident_view(&incident).await
    }

    /// The breach register, the latest awareness first, with each clock.
    pub async fn incidents(&self, actor: &Actor, actor_id: UserId) -> Result<Vec<IncidentSummary>> {
        self.authorize_register(actor, actor_id, Action::ReadIncidents, None)
            .await?;
        let now = self.clock.now();
        let incidents = self.store.incidents(MAX_LISTED).await?;
        let ids: Vec<Uuid> = incidents.iter().map(|i| i.id).collect();
        let rows = self.store.incident_updates(&ids).await?;
        let mut summaries = Vec::with_capacity(incidents.len());
        for incident in &incidents {
            let mine: Vec<Facts> = rows
                .iter()
                .filter(|r| r.incident_id == incident.id)
                .map(stored_facts)
                .collect::<Result<_>>()?;
            let facts = fold_facts(&mine);
            summaries.push(IncidentSummary {
                id: incident.id,
                detected_at: incident.detected_at,
                aware_at: incident.aware_at,
                created_at: incident.created_at,
                clock: clock(incident.aware_at, &facts).read(now),
                facts,
                entries: mine.len(),
            });
        }
        Ok(summaries)
    }

    /// One incident with its text opened (`GET /api/v1/incidents/{id}`),
    /// audited as `incident.viewed` before it is returned.
    pub async fn incident(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
    ) -> Result<IncidentView> {
        self.authorize_register(actor, actor_id, Action::ReadIncidents, None)
            .await?;
        let incident = self.store.incident(&id).await?.ok_or(Error::NotFound)?;
        let view = self.incident_view(&incident).await?;
        self.store
            .append_audit(&NewAuditEvent {
                at: self.clock.now(),
                actor: Some(actor_id),
                action: "incident.viewed".into(),
                object: Some(incident_ref(id)),
                purpose: None,
                outcome: "success".into(),
                details: json!({}),
            })
            .await?;
        Ok(view)
    }

    /// The view of a stored incident, its text opened (not audited: the
    /// callers are the write that just stored it, and [`Kirjuri::incident`]).
    async fn incident_view(&self, incident: &IncidentRow) -> Result<IncidentView> {
        let rows = self.store.incident_updates(&[incident.id]).await?;
        let mut current = Current::default();
        let mut entries = Vec::with_capacity(rows.len());
        for row in &rows {
            let facts = stored_facts(row)?;
            let text = self.open_entry_text(row)?;
            current.apply(&facts, &text);
            entries.push(EntryView {
                n: row.n,
                at: row.at,
                by: self.store.user(&row.by_user).await?.map(|u| u.name),
                facts,
                text,
            });
        }
        Ok(IncidentView {
            id: incident.id,
            detected_at: incident.detected_at,
            aware_at: incident.aware_at,
            created_at: incident.created_at,
            clock: clock(incident.aware_at, &current.facts).read(self.clock.now()),
            current,
            entries,
        })
    }
}

/// An incident's id from a URL; anything else is 404, as for a request.
pub fn parse_incident_id(value: &str) -> Result<Uuid> {
    crate::requests::parse_request_id(value)
}

/// An incident as an audit event's object.
fn incident_ref(id: Uuid) -> String {
    format!("incident:{id}")
}

/// Whether recording `notified_at` needs reasons for the delay that
/// neither the update nor the earlier entries give.
fn delay_reasons_missing(
    aware_at: DateTime<Utc>,
    notified_at: Option<DateTime<Utc>>,
    given: bool,
) -> bool {
    notified_at.is_some_and(|at| delay_reasons_required(aware_at, at)) && !given
}

#[cfg(test)]
mod tests;
