//! An incident's body, as the API and the registrar's form send it, and its
//! validation into [`Facts`] and [`Text`]. Every field arrives as raw JSON
//! so a missing, mistyped or out-of-bounds one is a 422 that names the
//! field (`missing_field`, `invalid_field`) — never its value, which may be
//! personal data. Unknown fields are refused by serde before this runs.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::{Current, Facts, Text, delay_reasons_missing};
use crate::error::{Error, Result};

/// The longest free text (nature, consequences, measures, reasoning).
pub const MAX_TEXT_CHARS: usize = 4000;

/// The longest one-line text (a category, the authority's reference).
pub const MAX_LINE_CHARS: usize = 200;

/// The most categories of data or of subjects.
pub const MAX_CATEGORIES: usize = 20;

/// The largest approximate number.
pub const MAX_COUNT: u64 = 10_000_000_000;

/// How far in the future a stated time may be (clock skew between the
/// registrar's machine and the server).
const FUTURE_SKEW_MINUTES: i64 = 5;

/// `POST /api/v1/incidents` and `POST /api/v1/incidents/{id}/updates`. On
/// an update every field is optional (at least one must be given) and the
/// two times are refused: the clock is fixed when the incident is recorded.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentInput {
    /// When the breach was detected (RFC 3339).
    pub detected_at: Option<Value>,
    /// When the controller became aware (RFC 3339): the clock starts here.
    pub aware_at: Option<Value>,
    /// The nature of the breach.
    pub nature: Option<Value>,
    /// Categories of personal data concerned (list of texts).
    pub data_categories: Option<Value>,
    /// Categories of data subjects concerned (list of texts).
    pub subject_categories: Option<Value>,
    /// Approximate number of data subjects.
    pub approx_subjects: Option<Value>,
    /// Approximate number of records.
    pub approx_records: Option<Value>,
    /// Likely consequences.
    pub consequences: Option<Value>,
    /// Measures taken or proposed.
    pub measures: Option<Value>,
    /// Notify the supervisory authority (bool).
    pub notify_authority: Option<Value>,
    /// Why (not).
    pub notify_reasoning: Option<Value>,
    /// When the authority was notified (RFC 3339).
    pub authority_notified_at: Option<Value>,
    /// The authority's case reference.
    pub authority_reference: Option<Value>,
    /// Tell the data subjects (bool, Art. 34).
    pub subjects_informed: Option<Value>,
    /// When they were told (RFC 3339).
    pub subjects_informed_at: Option<Value>,
    /// Why (not).
    pub subjects_reasoning: Option<Value>,
    /// Reasons for a notification after 72 hours.
    pub delay_reasons: Option<Value>,
    /// A free note.
    pub note: Option<Value>,
}

impl std::fmt::Debug for IncidentInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IncidentInput([redacted])")
    }
}

/// A validated new incident.
pub(super) struct Recorded {
    /// When it was detected.
    pub(super) detected_at: DateTime<Utc>,
    /// When the controller became aware.
    pub(super) aware_at: DateTime<Utc>,
    /// Its first entry's facts.
    pub(super) facts: Facts,
    /// Its first entry's text.
    pub(super) text: Text,
}

fn missing(field: &str) -> Error {
    Error::Unprocessable {
        code: "missing_field",
        message: format!("{field}: is required"),
    }
}

fn invalid(field: &str, problem: &str) -> Error {
    Error::Unprocessable {
        code: "invalid_field",
        message: format!("{field}: {problem}"),
    }
}

/// Required: present and not JSON `null`.
fn required<'a>(field: &str, value: &'a Option<Value>) -> Result<&'a Value> {
    match value {
        None | Some(Value::Null) => Err(missing(field)),
        Some(value) => Ok(value),
    }
}

/// Optional: absent or `null` is `None`.
fn optional(value: &Option<Value>) -> Option<&Value> {
    value.as_ref().filter(|v| !v.is_null())
}

/// A text of 1–`max` characters, trimmed; newlines allowed only when
/// `multiline`, no other control characters.
fn text(field: &str, value: &Value, max: usize, multiline: bool) -> Result<String> {
    let Value::String(s) = value else {
        return Err(invalid(field, "must be a string"));
    };
    let s = s.trim();
    let allowed = |c: char| !c.is_control() || (multiline && (c == '\n' || c == '\r' || c == '\t'));
    if s.is_empty() {
        return Err(missing(field));
    }
    if s.chars().count() > max {
        return Err(invalid(field, &format!("must be at most {max} characters")));
    }
    if !s.chars().all(allowed) {
        return Err(invalid(field, "must not hold control characters"));
    }
    Ok(s.to_owned())
}

/// A list of 1–[`MAX_CATEGORIES`] one-line texts.
fn categories(field: &str, value: &Value) -> Result<Vec<String>> {
    let Value::Array(items) = value else {
        return Err(invalid(field, "must be a list of texts"));
    };
    if items.is_empty() {
        return Err(missing(field));
    }
    if items.len() > MAX_CATEGORIES {
        return Err(invalid(
            field,
            &format!("must name at most {MAX_CATEGORIES} categories"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let item = text(field, item, MAX_LINE_CHARS, false)?;
        if !out.contains(&item) {
            out.push(item);
        }
    }
    Ok(out)
}

/// A non-negative whole number up to [`MAX_COUNT`].
fn count(field: &str, value: &Value) -> Result<u64> {
    value
        .as_u64()
        .filter(|n| *n <= MAX_COUNT)
        .ok_or_else(|| invalid(field, &format!("must be a whole number 0–{MAX_COUNT}")))
}

fn flag(field: &str, value: &Value) -> Result<bool> {
    value
        .as_bool()
        .ok_or_else(|| invalid(field, "must be true or false"))
}

/// An RFC 3339 instant, not in the future.
fn instant(field: &str, value: &Value, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let at = value
        .as_str()
        .filter(|s| s.len() <= 64)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .ok_or_else(|| invalid(field, "must be an RFC 3339 time with an offset"))?
        .to_utc();
    if at > now + TimeDelta::minutes(FUTURE_SKEW_MINUTES) {
        return Err(invalid(field, "must not be in the future"));
    }
    Ok(at)
}

impl IncidentInput {
    /// Validates a new incident: every Art. 33(3) field is required.
    pub(super) fn record(&self, now: DateTime<Utc>) -> Result<Recorded> {
        let detected_at = instant(
            "detected_at",
            required("detected_at", &self.detected_at)?,
            now,
        )?;
        let aware_at = instant("aware_at", required("aware_at", &self.aware_at)?, now)?;
        if aware_at < detected_at {
            return Err(invalid(
                "aware_at",
                "must not be before detected_at: awareness follows detection",
            ));
        }
        let text_of = |field, value, max, multiline| -> Result<String> {
            text(field, required(field, value)?, max, multiline)
        };
        let mut fields = Text {
            nature: Some(text_of("nature", &self.nature, MAX_TEXT_CHARS, true)?),
            data_categories: Some(categories(
                "data_categories",
                required("data_categories", &self.data_categories)?,
            )?),
            subject_categories: Some(categories(
                "subject_categories",
                required("subject_categories", &self.subject_categories)?,
            )?),
            ..Text::default()
        };
        let mut facts = Facts {
            approx_subjects: Some(count(
                "approx_subjects",
                required("approx_subjects", &self.approx_subjects)?,
            )?),
            approx_records: Some(count(
                "approx_records",
                required("approx_records", &self.approx_records)?,
            )?),
            ..Facts::default()
        };
        fields.consequences = Some(text_of(
            "consequences",
            &self.consequences,
            MAX_TEXT_CHARS,
            true,
        )?);
        fields.measures = Some(text_of("measures", &self.measures, MAX_TEXT_CHARS, true)?);
        facts.notify_authority = Some(flag(
            "notify_authority",
            required("notify_authority", &self.notify_authority)?,
        )?);
        fields.notify_reasoning = Some(text_of(
            "notify_reasoning",
            &self.notify_reasoning,
            MAX_TEXT_CHARS,
            true,
        )?);
        let (later_facts, later_text) = self.later(now, aware_at, &Current::default())?;
        let mut current = Current {
            facts,
            text: fields,
        };
        current.apply(&later_facts, &later_text);
        if let Some(note) = optional(&self.note) {
            current.text.note = Some(text("note", note, MAX_TEXT_CHARS, true)?);
        }
        Ok(Recorded {
            detected_at,
            aware_at,
            facts: current.facts,
            text: current.text,
        })
    }

    /// Validates an update against the incident's current view: what it
    /// states, nothing else; at least one field.
    pub(super) fn update(
        &self,
        now: DateTime<Utc>,
        aware_at: DateTime<Utc>,
        current: &Current,
    ) -> Result<(Facts, Text)> {
        for (field, value) in [
            ("detected_at", &self.detected_at),
            ("aware_at", &self.aware_at),
        ] {
            if value.is_some() {
                return Err(invalid(
                    field,
                    "is fixed when the incident is recorded: the 72-hour clock cannot be moved",
                ));
            }
        }
        let (mut facts, mut fields) = self.later(now, aware_at, current)?;
        if let Some(v) = optional(&self.nature) {
            fields.nature = Some(text("nature", v, MAX_TEXT_CHARS, true)?);
        }
        if let Some(v) = optional(&self.data_categories) {
            fields.data_categories = Some(categories("data_categories", v)?);
        }
        if let Some(v) = optional(&self.subject_categories) {
            fields.subject_categories = Some(categories("subject_categories", v)?);
        }
        if let Some(v) = optional(&self.approx_subjects) {
            facts.approx_subjects = Some(count("approx_subjects", v)?);
        }
        if let Some(v) = optional(&self.approx_records) {
            facts.approx_records = Some(count("approx_records", v)?);
        }
        if let Some(v) = optional(&self.consequences) {
            fields.consequences = Some(text("consequences", v, MAX_TEXT_CHARS, true)?);
        }
        if let Some(v) = optional(&self.measures) {
            fields.measures = Some(text("measures", v, MAX_TEXT_CHARS, true)?);
        }
        if let Some(v) = optional(&self.notify_authority) {
            facts.notify_authority = Some(flag("notify_authority", v)?);
            if fields.notify_reasoning.is_none() {
                return Err(missing("notify_reasoning"));
            }
        }
        if let Some(v) = optional(&self.note) {
            fields.note = Some(text("note", v, MAX_TEXT_CHARS, true)?);
        }
        if facts == Facts::default() && fields == Text::default() {
            return Err(Error::Unprocessable {
                code: "empty_update",
                message: "an update states at least one field".into(),
            });
        }
        Ok((facts, fields))
    }

    /// The fields a record and an update share: the notification decision's
    /// reasoning, the authority's notification, the subjects' (Art. 34) and
    /// the reasons for delay — checked against `current`, the view before.
    fn later(
        &self,
        now: DateTime<Utc>,
        aware_at: DateTime<Utc>,
        current: &Current,
    ) -> Result<(Facts, Text)> {
        let mut facts = Facts::default();
        let mut fields = Text::default();
        if let Some(v) = optional(&self.notify_reasoning) {
            fields.notify_reasoning = Some(text("notify_reasoning", v, MAX_TEXT_CHARS, true)?);
        }
        if let Some(v) = optional(&self.authority_notified_at) {
            let at = instant("authority_notified_at", v, now)?;
            if at < aware_at {
                return Err(invalid(
                    "authority_notified_at",
                    "must not be before aware_at",
                ));
            }
            facts.authority_notified_at = Some(at);
        }
        if let Some(v) = optional(&self.authority_reference) {
            fields.authority_reference =
                Some(text("authority_reference", v, MAX_LINE_CHARS, false)?);
        }
        if let Some(v) = optional(&self.subjects_informed) {
            let informed = flag("subjects_informed", v)?;
            facts.subjects_informed = Some(informed);
            match optional(&self.subjects_reasoning) {
                Some(r) => {
                    fields.subjects_reasoning =
                        Some(text("subjects_reasoning", r, MAX_TEXT_CHARS, true)?);
                }
                None => return Err(missing("subjects_reasoning")),
            }
            if informed && optional(&self.subjects_informed_at).is_none() {
                return Err(missing("subjects_informed_at"));
            }
        } else if optional(&self.subjects_reasoning).is_some() {
            return Err(missing("subjects_informed"));
        }
        if let Some(v) = optional(&self.subjects_informed_at) {
            if facts.subjects_informed.is_none() && current.facts.subjects_informed != Some(true) {
                return Err(missing("subjects_informed"));
            }
            let at = instant("subjects_informed_at", v, now)?;
            if at < aware_at {
                return Err(invalid(
                    "subjects_informed_at",
                    "must not be before aware_at",
                ));
            }
            facts.subjects_informed_at = Some(at);
        }
        if let Some(v) = optional(&self.delay_reasons) {
            fields.delay_reasons = Some(text("delay_reasons", v, MAX_TEXT_CHARS, true)?);
        }
        let given = fields.delay_reasons.is_some() || current.text.delay_reasons.is_some();
        if delay_reasons_missing(aware_at, facts.authority_notified_at, given) {
            return Err(Error::Unprocessable {
                code: "delay_reasons_required",
                message: "delay_reasons: is required when the authority is notified more than \
                          72 hours after aware_at (GDPR Art. 33(1))"
                    .into(),
            });
        }
        Ok((facts, fields))
    }
}
