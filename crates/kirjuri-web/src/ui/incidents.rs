//! The registrar's pages for the breach register (Art. 33(5); issue 13 §7):
//! the list with each incident's 72-hour clock (`/incidents`: time left,
//! the alert in force or how long overdue — in words, not colour alone),
//! one incident (`/incidents/{id}`: its current view, its entries, a form
//! to append an update and the impact query's form and answer) and the
//! form to record one (`/incidents/new`). No JavaScript.
//!
//! Every page calls the same `Kirjuri` method as `/api/v1/incidents`, which
//! asks the access decision (registrars and the responsible person keep the
//! register, supervisors only read) and writes the audit event. A refused
//! form comes back with the field the server named and the error's code,
//! never the value typed. Forms carry the session's CSRF token (`Posted`).
//!
//! Not here: the rules (`kirjuri_app::incidents`, core's `breach`).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{NaiveDateTime, TimeZone};
use kirjuri_core::access::{Action, Object, authorize};
use kirjuri_core::breach::{ClockReading, ClockState};
use serde::Deserialize;
use serde_json::Value;

use super::context::{Frame, Posted, Staff, see_other};
use super::format;
use super::html;
use super::i18n::Tr;
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::incidents::impact::{Impact, ImpactInput};
use kirjuri_app::incidents::{IncidentInput, IncidentSummary, IncidentView, parse_incident_id};

/// Whether this person may change the register (not only read it). Pure:
/// the application asks again, audited, on every change.
fn may_manage(staff: &Staff) -> bool {
    authorize(
        &staff.actor,
        Action::ManageIncidents,
        Object::Register,
        None,
    )
    .is_allowed()
}

/// A refusal, as shown: the code and the field it names (labelled), if any.
pub struct Refusal {
    /// The error's code.
    pub code: &'static str,
    /// The field's label, or empty.
    pub field: String,
}

fn refusal(error: &Error, t: Tr) -> Refusal {
    let message = error.to_string();
    let field = match error {
        Error::Unprocessable { .. } => message
            .split_once(':')
            .map(|(f, _)| t.label("incident_field", f))
            .unwrap_or_default(),
        _ => String::new(),
    };
    Refusal {
        code: error.code(),
        field,
    }
}

/// A clock, as shown: the state in words and the time left or over.
pub struct ClockLine {
    /// The state's label.
    pub state: String,
    /// `due in 70 h 59 min`, `overdue by 3 h`, or empty once settled.
    pub left: String,
    /// The alert in force (label), or empty.
    pub alert: String,
    /// Whether it is overdue (also said in words).
    pub overdue: bool,
    /// The deadline.
    pub due: String,
}

fn hours_minutes(seconds: i64) -> String {
    let minutes = seconds.abs() / 60;
    format!("{} h {:02} min", minutes / 60, minutes % 60)
}

impl ClockLine {
    fn new(clock: &ClockReading, t: Tr) -> Self {
        let left = match (clock.state, clock.seconds_left) {
            (ClockState::Open, Some(s)) => {
                t.t("incidents.due_in").replace("{n}", &hours_minutes(s))
            }
            (ClockState::Overdue, Some(s)) => t
                .t("incidents.overdue_by")
                .replace("{n}", &hours_minutes(s)),
            _ => String::new(),
        };
        Self {
            state: t.label("incident_state", clock.state.as_str()),
            left,
            alert: clock
                .alert
                .map(|a| t.label("incident_alert", a.as_str()))
                .unwrap_or_default(),
            overdue: clock.state == ClockState::Overdue,
            due: format::time(clock.due_at),
        }
    }
}

/// One incident in the list.
pub struct IncidentLine {
    /// Id, for the link.
    pub id: String,
    /// When the controller became aware.
    pub aware: String,
    /// The clock.
    pub clock: ClockLine,
    /// Approximate subjects, or empty.
    pub subjects: String,
    /// Entries.
    pub entries: usize,
}

impl IncidentLine {
    fn new(item: &IncidentSummary, t: Tr) -> Self {
        Self {
            id: item.id.to_string(),
            aware: format::time(item.aware_at),
            clock: ClockLine::new(&item.clock, t),
            subjects: item
                .facts
                .approx_subjects
                .map(|n| n.to_string())
                .unwrap_or_default(),
            entries: item.entries,
        }
    }
}

/// The register.
#[derive(Template)]
#[template(path = "incidents.html")]
pub struct ListPage {
    frame: Frame,
    t: Tr,
    lines: Vec<IncidentLine>,
    may_manage: bool,
}

/// `GET /incidents`.
pub async fn list(State(app): State<Kirjuri>, staff: Staff) -> Response {
    let t = staff.tr();
    match app.incidents(&staff.actor, staff.id).await {
        Ok(items) => html(&ListPage {
            frame: staff.frame(),
            t,
            lines: items.iter().map(|i| IncidentLine::new(i, t)).collect(),
            may_manage: may_manage(&staff),
        }),
        Err(e) => staff.error(e),
    }
}

/// The form to record an incident.
#[derive(Template)]
#[template(path = "incident_new.html")]
pub struct NewPage {
    frame: Frame,
    t: Tr,
    error: Option<Refusal>,
}

/// `GET /incidents/new`.
pub async fn new_form(staff: Staff) -> Response {
    if !may_manage(&staff) {
        return staff.error(Error::Forbidden("role"));
    }
    html(&NewPage {
        frame: staff.frame(),
        t: staff.tr(),
        error: None,
    })
}

/// The fields of the record and update forms, as typed. Times are the
/// Helsinki wall clock (`datetime-local`); lists one item a line.
#[derive(Deserialize, Default)]
pub struct IncidentForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    detected_at: String,
    #[serde(default)]
    aware_at: String,
    #[serde(default)]
    nature: String,
    #[serde(default)]
    data_categories: String,
    #[serde(default)]
    subject_categories: String,
    #[serde(default)]
    approx_subjects: String,
    #[serde(default)]
    approx_records: String,
    #[serde(default)]
    consequences: String,
    #[serde(default)]
    measures: String,
    #[serde(default)]
    notify_authority: String,
    #[serde(default)]
    notify_reasoning: String,
    #[serde(default)]
    authority_notified_at: String,
    #[serde(default)]
    authority_reference: String,
    #[serde(default)]
    subjects_informed: String,
    #[serde(default)]
    subjects_informed_at: String,
    #[serde(default)]
    subjects_reasoning: String,
    #[serde(default)]
    delay_reasons: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    ids: String,
    #[serde(default)]
    disclosures: String,
}

/// A text field: empty is absent.
fn text(value: &str) -> Option<Value> {
    let value = value.trim();
    (!value.is_empty()).then(|| Value::String(value.to_owned()))
}

/// A Helsinki wall-clock time as RFC 3339; anything unreadable goes on as
/// typed, for the application to refuse naming the field.
fn local_time(value: &str) -> Option<Value> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let parsed = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())
        .and_then(|naive| {
            chrono_tz::Europe::Helsinki
                .from_local_datetime(&naive)
                .earliest()
        })
        .map(|at| at.to_utc().to_rfc3339());
    Some(Value::String(parsed.unwrap_or_else(|| value.to_owned())))
}

/// A number, or the text for the application to refuse.
fn number(value: &str) -> Option<Value> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    Some(match value.parse::<u64>() {
        Ok(n) => Value::from(n),
        Err(_) => Value::String(value.to_owned()),
    })
}

/// `yes`/`no`, or the text for the application to refuse.
fn yes_no(value: &str) -> Option<Value> {
    match value.trim() {
        "" => None,
        "yes" => Some(Value::Bool(true)),
        "no" => Some(Value::Bool(false)),
        other => Some(Value::String(other.to_owned())),
    }
}

/// Ids separated by white space or commas.
fn id_list(value: &str) -> Vec<String> {
    value
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// One item a line.
fn lines(value: &str) -> Option<Value> {
    let items: Vec<Value> = value
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| Value::String(l.to_owned()))
        .collect();
    (!items.is_empty()).then_some(Value::Array(items))
}

impl IncidentForm {
    fn input(&self) -> IncidentInput {
        IncidentInput {
            detected_at: local_time(&self.detected_at),
            aware_at: local_time(&self.aware_at),
            nature: text(&self.nature),
            data_categories: lines(&self.data_categories),
            subject_categories: lines(&self.subject_categories),
            approx_subjects: number(&self.approx_subjects),
            approx_records: number(&self.approx_records),
            consequences: text(&self.consequences),
            measures: text(&self.measures),
            notify_authority: yes_no(&self.notify_authority),
            notify_reasoning: text(&self.notify_reasoning),
            authority_notified_at: local_time(&self.authority_notified_at),
            authority_reference: text(&self.authority_reference),
            subjects_informed: yes_no(&self.subjects_informed),
            subjects_informed_at: local_time(&self.subjects_informed_at),
            subjects_reasoning: text(&self.subjects_reasoning),
            delay_reasons: text(&self.delay_reasons),
            note: text(&self.note),
        }
    }

    fn impact(&self) -> ImpactInput {
        let as_string = |v: Option<Value>| v.and_then(|v| v.as_str().map(str::to_owned));
        ImpactInput {
            from: as_string(local_time(&self.from)),
            to: as_string(local_time(&self.to)),
            user: text(&self.user).and_then(|v| v.as_str().map(str::to_owned)),
            contacts: id_list(&self.ids),
            objects: Vec::new(),
            disclosures: id_list(&self.disclosures),
        }
    }
}

/// `POST /incidents/new` — records, then the incident's page; a refusal
/// gives the form back with the field named.
pub async fn record(State(app): State<Kirjuri>, posted: Posted<IncidentForm>) -> Response {
    let Posted { staff, form } = posted;
    match app
        .record_incident(&staff.actor, staff.id, form.input())
        .await
    {
        Ok(view) => see_other(&format!("/incidents/{}", view.id)),
        Err(e) if matches!(e, Error::Unprocessable { .. } | Error::BadRequest { .. }) => {
            let t = staff.tr();
            let mut response = html(&NewPage {
                frame: staff.frame(),
                t,
                error: Some(refusal(&e, t)),
            });
            *response.status_mut() = crate::error::status(&e);
            response
        }
        Err(e) => staff.error(e),
    }
}

/// One entry, as shown.
pub struct EntryLine {
    /// Its place.
    pub n: i64,
    /// When.
    pub at: String,
    /// Who.
    pub by: String,
    /// What it stated: (label, value) pairs.
    pub stated: Vec<(String, String)>,
}

/// The facts and text of a view or entry as (label, value) pairs, in the
/// form's order.
fn stated(
    facts: &kirjuri_app::incidents::Facts,
    text: &kirjuri_app::incidents::Text,
    t: Tr,
) -> Vec<(String, String)> {
    let yes_no = |b: bool| {
        t.t(if b { "incidents.yes" } else { "incidents.no" })
            .to_owned()
    };
    let list = |l: &Vec<String>| l.join("; ");
    let pairs: [(&str, Option<String>); 16] = [
        ("nature", text.nature.clone()),
        ("data_categories", text.data_categories.as_ref().map(list)),
        (
            "subject_categories",
            text.subject_categories.as_ref().map(list),
        ),
        (
            "approx_subjects",
            facts.approx_subjects.map(|n| n.to_string()),
        ),
        (
            "approx_records",
            facts.approx_records.map(|n| n.to_string()),
        ),
        ("consequences", text.consequences.clone()),
        ("measures", text.measures.clone()),
        ("notify_authority", facts.notify_authority.map(yes_no)),
        ("notify_reasoning", text.notify_reasoning.clone()),
        (
            "authority_notified_at",
            facts.authority_notified_at.map(format::time),
        ),
        ("authority_reference", text.authority_reference.clone()),
        ("delay_reasons", text.delay_reasons.clone()),
        ("subjects_informed", facts.subjects_informed.map(yes_no)),
        (
            "subjects_informed_at",
            facts.subjects_informed_at.map(format::time),
        ),
        ("subjects_reasoning", text.subjects_reasoning.clone()),
        ("note", text.note.clone()),
    ];
    pairs
        .into_iter()
        .filter_map(|(field, value)| value.map(|v| (t.label("incident_field", field), v)))
        .collect()
}

/// One subject of an impact, as shown.
pub struct SubjectLine {
    /// The keyed reference.
    pub reference: String,
    /// Identifier kinds (labels).
    pub kinds: String,
    /// Contact ids.
    pub contacts: Vec<String>,
}

/// An impact's answer, as shown.
pub struct ImpactResult {
    /// Events, contacts, recordings, subjects.
    pub counts: [u64; 4],
    /// The subjects.
    pub subjects: Vec<SubjectLine>,
}

impl ImpactResult {
    fn new(impact: &Impact, t: Tr) -> Self {
        let c = impact.counts;
        Self {
            counts: [c.events, c.contacts, c.recordings, c.subjects],
            subjects: impact
                .subjects
                .iter()
                .map(|s| SubjectLine {
                    reference: s.reference.clone(),
                    kinds: s
                        .identifier_kinds
                        .iter()
                        .map(|k| t.label("identifier_kind", k))
                        .collect::<Vec<_>>()
                        .join(", "),
                    contacts: s.contacts.iter().map(ToString::to_string).collect(),
                })
                .collect(),
        }
    }
}

/// One incident.
#[derive(Template)]
#[template(path = "incident.html")]
pub struct IncidentPage {
    frame: Frame,
    t: Tr,
    id: String,
    detected: String,
    aware: String,
    clock: ClockLine,
    current: Vec<(String, String)>,
    entries: Vec<EntryLine>,
    may_manage: bool,
    notice: Option<String>,
    error: Option<Refusal>,
    impact: Option<ImpactResult>,
}

impl IncidentPage {
    fn new(staff: &Staff, view: &IncidentView) -> Self {
        let t = staff.tr();
        Self {
            frame: staff.frame(),
            t,
            id: view.id.to_string(),
            detected: format::time(view.detected_at),
            aware: format::time(view.aware_at),
            clock: ClockLine::new(&view.clock, t),
            current: stated(&view.current.facts, &view.current.text, t),
            entries: view
                .entries
                .iter()
                .map(|e| EntryLine {
                    n: e.n,
                    at: format::time(e.at),
                    by: e.by.clone().unwrap_or_default(),
                    stated: stated(&e.facts, &e.text, t),
                })
                .collect(),
            may_manage: may_manage(staff),
            notice: None,
            error: None,
            impact: None,
        }
    }
}

/// `GET /incidents/{id}`.
pub async fn page(State(app): State<Kirjuri>, staff: Staff, Path(id): Path<String>) -> Response {
    let id = match parse_incident_id(&id) {
        Ok(id) => id,
        Err(e) => return staff.error(e),
    };
    match app.incident(&staff.actor, staff.id, id).await {
        Ok(view) => html(&IncidentPage::new(&staff, &view)),
        Err(e) => staff.error(e),
    }
}

/// `POST /incidents/{id}` — `action=update` appends an entry,
/// `action=impact` runs the impact query; then the page again with what
/// happened.
pub async fn act(
    State(app): State<Kirjuri>,
    Path(id): Path<String>,
    posted: Posted<IncidentForm>,
) -> Response {
    let Posted { staff, form } = posted;
    let id = match parse_incident_id(&id) {
        Ok(id) => id,
        Err(e) => return staff.error(e),
    };
    let t = staff.tr();
    let (mut notice, mut error, mut impact) = (None, None, None);
    match form.action.as_str() {
        "update" => match app
            .update_incident(&staff.actor, staff.id, id, form.input())
            .await
        {
            Ok(_) => notice = Some(t.t("incidents.updated").to_owned()),
            Err(e) => error = Some(e),
        },
        "impact" => match app
            .incident_impact(&staff.actor, staff.id, id, &form.impact())
            .await
        {
            Ok(found) => impact = Some(ImpactResult::new(&found, t)),
            Err(e) => error = Some(e),
        },
        _ => error = Some(Error::bad_request("invalid_parameter", "unknown action")),
    }
    // A refusal of what was typed is shown on the page; anything else
    // (403, 404, a failure) is an error page.
    if let Some(e) =
        error.take_if(|e| !matches!(e, Error::Unprocessable { .. } | Error::BadRequest { .. }))
    {
        return staff.error(e);
    }
    let view = match app.incident(&staff.actor, staff.id, id).await {
        Ok(view) => view,
        Err(e) => return staff.error(e),
    };
    let status = error.as_ref().map_or(StatusCode::OK, crate::error::status);
    let mut page = IncidentPage::new(&staff, &view);
    page.notice = notice;
    page.error = error.as_ref().map(|e| refusal(e, t));
    page.impact = impact;
    let mut response = html(&page);
    *response.status_mut() = status;
    response
}
