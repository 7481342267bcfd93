//! The registrar's pages for data-subject requests (DSR-1, DSR-2): the
//! queue (`/requests`, overdue first, days left), one request
//! (`/requests/{id}`: state, due date, verification, identifiers by kind,
//! timeline, and the forms that move it on) and the registration of an
//! in-person, phone or letter request (`/requests/new`).
//!
//! Every page calls the same `Kirjuri` method as `/api/v1/requests`, which
//! asks the access decision (registrars and the responsible person handle
//! requests, supervisors only read, everyone else gets 403) and writes the
//! audit event; the page only shapes forms and results. A request's page
//! shows no personal value: the application's view has none. A refused
//! step (409 `not_verified`, `refusal_needs_approval`, a wrong code, …) is
//! shown on the request's own page with its code, never as a bare error
//! page. All forms carry the session's CSRF token (`Posted`).
//!
//! Not here: the rules (`kirjuri_app::requests`, core's `request`), the
//! public form, the access package.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use kirjuri_core::access::{Action, Object, authorize};
use kirjuri_core::request::{
    DocumentType, OBJECTABLE_PURPOSES, RequestState, RequestType, Transition,
};
use serde::Deserialize;

use super::context::{Frame, Posted, Staff, TRANSLATED_ERRORS, filled, see_other};
use super::format;
use super::html;
use super::i18n::Tr;
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::requests::{
    CloseTaskInput, ExecuteInput, Identifiers, MAX_NOTE_CHARS, QueueItem, RecipientTask,
    RefusalGround, RegisterInput, RequestView, ReviewInput, SendTo, VerificationInput,
    parse_request_id,
};

/// The channels staff register a request from (the web channel is the
/// public form's).
const STAFF_CHANNELS: [&str; 3] = ["in_person", "phone", "letter"];

/// A value and its label, for a list of choices.
pub struct Choice {
    /// Wire name.
    pub value: &'static str,
    /// Label.
    pub label: String,
    /// Whether it is chosen (a form given back keeps its choices).
    pub on: bool,
}

impl Choice {
    /// `value`, labelled from the catalogue's `prefix` section.
    pub fn new(t: Tr, prefix: &str, value: &'static str, on: bool) -> Self {
        Self {
            value,
            label: t.label(prefix, value),
            on,
        }
    }
}

/// An error shown on a page: its code and the translation key explaining it.
fn shown(error: &Error) -> (&'static str, String) {
    let code = error.code();
    let key = if TRANSLATED_ERRORS.contains(&code) {
        format!("error.{code}")
    } else {
        "error.generic".to_owned()
    };
    (code, key)
}

/// Whether this person may change requests (not only read them). The
/// decision is pure, so asking it decides nothing and audits nothing; the
/// application asks it again, audited, on every change.
fn may_handle(staff: &Staff) -> bool {
    authorize(&staff.actor, Action::HandleRequests, Object::Register, None).is_allowed()
}

/// One request of the queue, as listed.
pub struct QueueLine {
    /// Id, for the link.
    pub id: String,
    /// `DSR-2026-000123`.
    pub reference: String,
    /// Types, labelled.
    pub types: String,
    /// Channel label.
    pub channel: String,
    /// State label.
    pub state: String,
    /// Received (date).
    pub received: String,
    /// Due date.
    pub due: String,
    /// Days left; negative when overdue.
    pub days_left: i64,
    /// Overdue.
    pub overdue: bool,
    /// The clock is stopped.
    pub paused: bool,
    /// A refusal waits for approval.
    pub refusal_proposed: bool,
}

impl QueueLine {
    fn new(item: &QueueItem, t: Tr) -> Self {
        Self {
            id: item.id.to_string(),
            reference: item.reference.clone(),
            types: types_label(&item.types, t),
            channel: t.label("request_channel", item.channel.as_str()),
            state: t.label("request_state", item.state.as_str()),
            received: format::date(item.received_at),
            due: item.due_date.to_string(),
            days_left: item.days_left,
            overdue: item.overdue,
            paused: item.clock_paused,
            refusal_proposed: item.refusal_proposed,
        }
    }
}

fn types_label(types: &[RequestType], t: Tr) -> String {
    types
        .iter()
        .map(|k| t.label("request_type", k.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The queue.
#[derive(Template)]
#[template(path = "requests.html")]
pub struct QueuePage {
    frame: Frame,
    t: Tr,
    lines: Vec<QueueLine>,
    may_handle: bool,
}

/// `GET /requests` — the open requests, overdue first.
pub async fn queue(State(app): State<Kirjuri>, staff: Staff) -> Response {
    let t = staff.tr();
    match app.request_queue(&staff.actor, staff.id).await {
        Ok(items) => html(&QueuePage {
            frame: staff.frame(),
            t,
            lines: items.iter().map(|i| QueueLine::new(i, t)).collect(),
            may_handle: may_handle(&staff),
        }),
        Err(e) => staff.error(e),
    }
}

/// A timeline entry, as shown.
pub struct TimelineLine {
    /// When.
    pub at: String,
    /// Who (an account name, or the system).
    pub who: String,
    /// What (label).
    pub what: String,
}

/// An identity check, as shown.
pub struct CheckLine {
    /// Method label.
    pub method: String,
    /// Assurance label.
    pub assurance: String,
    /// The registrar's account.
    pub verifier: String,
    /// Document type label, or empty.
    pub document: String,
    /// When.
    pub at: String,
}

/// One identifier, as shown: its kind and whether it is proven.
pub struct IdentifierLine {
    /// Kind label.
    pub kind: String,
    /// How it is proven (label), or empty.
    pub proven: String,
}

/// A restriction or objection of the request, as shown.
pub struct LimitLine {
    /// Restriction or objection (label).
    pub kind: String,
    /// The purpose objected to (label), or empty.
    pub purpose: String,
    /// When it was made.
    pub made: String,
    /// When it ends or ended, or empty.
    pub lifted: String,
}

/// One Art. 19 task: a recipient to tell of a rectification, erasure or
/// restriction.
pub struct TaskLine {
    /// The task's id (the form's `task`).
    pub id: String,
    pub recipient: String,
    pub kind: String,
    pub country: String,
    pub after: String,
    pub made: String,
    pub state: String,
    pub closed: String,
    /// Whether it may still be closed.
    pub open: bool,
}

/// The ways to close a task, as the form's one choice: the outcome and,
/// for one that could not be done, its reason code.
const TASK_OUTCOMES: [&str; 4] = [
    "notified",
    "impossible.recipient_ceased",
    "impossible.recipient_unreachable",
    "disproportionate.disproportionate_effort",
];

/// One request.
#[derive(Template)]
#[template(path = "request.html")]
pub struct RequestPage {
    frame: Frame,
    t: Tr,
    id: String,
    reference: String,
    types: String,
    channel: String,
    state: String,
    received: String,
    due: String,
    days_left: Option<i64>,
    overdue: bool,
    paused: bool,
    extended: Option<(u32, String)>,
    verified: bool,
    needed: String,
    proven: String,
    checks: Vec<CheckLine>,
    identifiers: Vec<IdentifierLine>,
    refusal: Option<(String, String)>,
    timeline: Vec<TimelineLine>,
    closed: bool,
    may_handle: bool,
    transitions: Vec<Choice>,
    documents: Vec<Choice>,
    grounds: Vec<Choice>,
    notice: Option<String>,
    error: Option<(&'static str, String)>,
    /// The request's restrictions and objections.
    limits: Vec<LimitLine>,
    /// The executions that may be carried out now (`erase`, `restrict`,
    /// `object`, `lift_restriction`), with their button labels.
    executions: Vec<Choice>,
    /// Whether the request asks for a copy (access or portability) and is
    /// verified and open: the package may be delivered, after the Art.
    /// 15(4) review where one is needed (the server says so).
    deliverable: bool,
    /// The longest review note.
    max_note: usize,
    /// The Art. 19 tasks: recipients to tell of what was carried out.
    tasks: Vec<TaskLine>,
    /// How a task may be closed.
    task_outcomes: Vec<Choice>,
}

/// What a request may have carried out now, from its view: an erasure,
/// restriction or objection once verified and open (the server refuses
/// what was done already, 409 `already_executed`); a lifting while a
/// restriction is in force, whatever the state.
fn executions(view: &RequestView, t: Tr) -> Vec<Choice> {
    let open = matches!(
        view.state,
        RequestState::Verified | RequestState::InProgress
    );
    let asks = |kind: RequestType| view.types.contains(&kind);
    let restricted = |lifted: bool| {
        view.limits
            .iter()
            .any(|l| l.kind == "restriction" && l.lifted_at.is_some() == lifted)
    };
    let mut actions = Vec::new();
    if open && asks(RequestType::Erasure) {
        actions.push("erase");
    }
    if open && asks(RequestType::Restriction) && !restricted(false) && !restricted(true) {
        actions.push("restrict");
    }
    if open && asks(RequestType::Objection) && !view.limits.iter().any(|l| l.kind == "objection") {
        actions.push("object");
    }
    if restricted(false) {
        actions.push("lift_restriction");
    }
    actions
        .into_iter()
        .map(|a| Choice::new(t, "request_execution", a, false))
        .collect()
}

impl RequestPage {
    fn new(staff: &Staff, view: &RequestView) -> Self {
        let t = staff.tr();
        let v = &view.verification;
        let transitions = Transition::ALL
            .iter()
            // A refusal goes through its own two-step form.
            .filter(|tr| **tr != Transition::Refuse)
            .filter(|tr| view.state.apply(**tr, v.proven, v.needed).is_ok())
            .map(|tr| Choice::new(t, "request_transition", tr.as_str(), false))
            .collect();
        Self {
            frame: staff.frame(),
            t,
            id: view.id.to_string(),
            reference: view.reference.clone(),
            types: types_label(&view.types, t),
            channel: t.label("request_channel", view.channel.as_str()),
            state: t.label("request_state", view.state.as_str()),
            received: format::time(view.received_at),
            due: view.due_date.to_string(),
            days_left: view.days_left,
            overdue: view.overdue,
            paused: view.clock_paused,
            extended: view.extension.map(|e| (e.months, e.granted_on.to_string())),
            verified: v.verified,
            needed: t.label("assurance", v.needed.as_str()),
            proven: v
                .proven
                .map(|p| t.label("assurance", p.as_str()))
                .unwrap_or_else(|| t.t("requests.none").to_owned()),
            checks: v
                .checks
                .iter()
                .map(|c| CheckLine {
                    method: t.label("verification_method", c.method.as_str()),
                    assurance: t.label("assurance", c.assurance.as_str()),
                    verifier: c.verifier.clone().unwrap_or_default(),
                    document: c
                        .document_type
                        .map(|d| t.label("document_type", d.as_str()))
                        .unwrap_or_default(),
                    at: format::time(c.at),
                })
                .collect(),
            identifiers: v
                .identifiers
                .iter()
                .map(|i| IdentifierLine {
                    kind: t.label("identifier_kind", &i.kind),
                    proven: i
                        .proven_by
                        .as_deref()
                        .map(|p| t.label("proven_by", p))
                        .unwrap_or_default(),
                })
                .collect(),
            refusal: view.refusal.as_ref().map(|r| {
                (
                    t.label("refusal_ground", &r.ground),
                    r.proposed_by.clone().unwrap_or_default(),
                )
            }),
            timeline: view
                .timeline
                .iter()
                .map(|e| TimelineLine {
                    at: format::time(e.at),
                    who: e
                        .actor
                        .clone()
                        .unwrap_or_else(|| t.t("requests.system").to_owned()),
                    what: t.label("request_step", &e.kind),
                })
                .collect(),
            closed: view.state.is_final(),
            may_handle: may_handle(staff),
            transitions,
            documents: DocumentType::ALL
                .iter()
                .map(|d| Choice::new(t, "document_type", d.as_str(), false))
                .collect(),
            grounds: RefusalGround::ALL
                .iter()
                .map(|g| Choice::new(t, "refusal_ground", g.as_str(), false))
                .collect(),
            notice: None,
            error: None,
            limits: view
                .limits
                .iter()
                .map(|l| LimitLine {
                    kind: t.label("limit_kind", l.kind),
                    purpose: l
                        .purpose
                        .as_deref()
                        .map(|p| t.label("purpose", p))
                        .unwrap_or_default(),
                    made: format::time(l.created_at),
                    lifted: l.lifted_at.map(format::time).unwrap_or_default(),
                })
                .collect(),
            executions: executions(view, t),
            deliverable: matches!(
                view.state,
                RequestState::Verified | RequestState::InProgress
            ) && (view.types.contains(&RequestType::Access)
                || view.types.contains(&RequestType::Portability)),
            max_note: MAX_NOTE_CHARS,
            tasks: Vec::new(),
            task_outcomes: TASK_OUTCOMES
                .iter()
                .map(|o| Choice::new(t, "task_outcome", o, false))
                .collect(),
        }
    }

    /// Shows `tasks`.
    fn with_tasks(mut self, tasks: &[RecipientTask]) -> Self {
        let t = self.t;
        self.tasks = tasks
            .iter()
            .map(|task| TaskLine {
                id: task.id.to_string(),
                recipient: task.recipient_name.clone(),
                kind: t.label("recipient_kind", &task.recipient_kind),
                country: task.recipient_country.clone(),
                after: t.label("task_after", &task.after),
                made: format::time(task.created_at),
                state: match &task.reason {
                    Some(reason) => format!(
                        "{} ({})",
                        t.label("task_state", &task.state),
                        t.label("task_reason", reason)
                    ),
                    None => t.label("task_state", &task.state),
                },
                closed: task.closed_at.map(format::time).unwrap_or_default(),
                open: task.state == "open",
            })
            .collect();
        self
    }
}

/// The request `id`'s page, with a notice or an error from a form.
async fn request_page(
    app: &Kirjuri,
    staff: &Staff,
    id: &str,
    notice: Option<String>,
    error: Option<Error>,
) -> Response {
    let id = match parse_request_id(id) {
        Ok(id) => id,
        Err(e) => return staff.error(e),
    };
    let view = match app.read_request(&staff.actor, staff.id, id).await {
        Ok(view) => view,
        Err(e) => return staff.error(e),
    };
    let tasks = match app.recipient_tasks(&staff.actor, staff.id, id).await {
        Ok(tasks) => tasks,
        Err(e) => return staff.error(e),
    };
    let status = error.as_ref().map_or(StatusCode::OK, crate::error::status);
    let mut page = RequestPage::new(staff, &view).with_tasks(&tasks);
    page.notice = notice;
    page.error = error.as_ref().map(shown);
    let mut response = html(&page);
    *response.status_mut() = status;
    response
}

/// `GET /requests/{id}`.
pub async fn page(State(app): State<Kirjuri>, staff: Staff, Path(id): Path<String>) -> Response {
    request_page(&app, &staff, &id, None, None).await
}

/// A form on a request's page; `action` says which.
#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    transition: String,
    #[serde(default)]
    document_type: String,
    #[serde(default)]
    document_last4: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    months: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    ground: String,
    #[serde(default)]
    reasoning: String,
    #[serde(default)]
    execution: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    task: String,
    #[serde(default)]
    outcome: String,
}

/// `POST /requests/{id}` — move, verify, send or confirm a code, extend,
/// propose or approve a refusal; then the page again, with what happened.
pub async fn act(
    State(app): State<Kirjuri>,
    Path(id): Path<String>,
    posted: Posted<ActionForm>,
) -> Response {
    let Posted { staff, form } = posted;
    let request = match parse_request_id(&id) {
        Ok(request) => request,
        Err(e) => return staff.error(e),
    };
    let (actor, who) = (&staff.actor, staff.id);
    let verification = |method: &str| VerificationInput {
        method: method.to_owned(),
        document_type: None,
        document_last4: None,
        send_to: None,
        code: None,
        assertion: None,
    };
    let done: Result<&'static str, Error> = match form.action.as_str() {
        "move" => app
            .move_request(actor, who, request, &form.transition)
            .await
            .map(|_| "requests.moved"),
        "in_person" => app
            .verify_request(
                actor,
                who,
                request,
                VerificationInput {
                    document_type: Some(form.document_type),
                    document_last4: Some(form.document_last4),
                    ..verification("in_person")
                },
            )
            .await
            .map(|_| "requests.verified_in_person"),
        "send_code" => {
            let kind = if form.method == "sms_code" {
                "phone"
            } else {
                "email"
            };
            app.verify_request(
                actor,
                who,
                request,
                VerificationInput {
                    send_to: Some(SendTo {
                        kind: kind.to_owned(),
                        value: form.address,
                    }),
                    ..verification(&form.method)
                },
            )
            .await
            .map(|_| "requests.code_sent")
        }
        "confirm_code" => app
            .verify_request(
                actor,
                who,
                request,
                VerificationInput {
                    code: Some(form.code),
                    ..verification(&form.method)
                },
            )
            .await
            .map(|_| "requests.code_accepted"),
        "extend" => match form.months.trim().parse::<u32>() {
            Ok(months) => app
                .extend_request(actor, who, request, months, &form.reason)
                .await
                .map(|_| "requests.extended"),
            Err(_) => Err(Error::bad_request(
                "invalid_parameter",
                "months must be a number",
            )),
        },
        "propose_refusal" => app
            .propose_refusal(actor, who, request, &form.ground, &form.reasoning)
            .await
            .map(|_| "requests.refusal_proposed"),
        "approve_refusal" => app
            .approve_refusal(actor, who, request)
            .await
            .map(|_| "requests.refusal_approved"),
        "execute" => app
            .execute_request(
                actor,
                who,
                request,
                ExecuteInput {
                    action: form.execution,
                    contact: None,
                    changes: None,
                    purpose: None,
                    grounds: None,
                },
            )
            .await
            .map(|_| "requests.executed"),
        "deliver" => app
            .deliver_package(actor, who, request)
            .await
            .map(|_| "requests.delivered"),
        "third_party_review" => app
            .review_third_parties(
                actor,
                who,
                request,
                ReviewInput {
                    decision: form.decision,
                    note: form.note,
                },
            )
            .await
            .map(|_| "requests.reviewed"),
        "close_task" => match (
            form.task.trim().parse(),
            TASK_OUTCOMES.contains(&form.outcome.as_str()),
        ) {
            (Ok(task), true) => {
                let (outcome, reason) = match form.outcome.split_once('.') {
                    Some((outcome, reason)) => (outcome, Some(reason.to_owned())),
                    None => (form.outcome.as_str(), None),
                };
                app.close_recipient_task(
                    actor,
                    who,
                    request,
                    task,
                    CloseTaskInput {
                        outcome: outcome.to_owned(),
                        reason,
                    },
                )
                .await
                .map(|_| "requests.task_closed")
            }
            (Err(_), _) => Err(Error::NotFound),
            (_, false) => Err(Error::bad_request(
                "invalid_outcome",
                "choose how the recipient's task ended",
            )),
        },
        _ => Err(Error::bad_request(
            "invalid_parameter",
            "unknown form action",
        )),
    };
    match done {
        Ok(key) => {
            let notice = staff.tr().t(key).to_owned();
            request_page(&app, &staff, &id, Some(notice), None).await
        }
        Err(e) => request_page(&app, &staff, &id, None, Some(e)).await,
    }
}

/// The registration form, with what was typed when it comes back.
#[derive(Template)]
#[template(path = "request_new.html")]
pub struct RegisterPage {
    frame: Frame,
    t: Tr,
    types: Vec<Choice>,
    purposes: Vec<Choice>,
    channels: Vec<Choice>,
    languages: Vec<Choice>,
    /// Only the fields that are not personal are kept for a re-render;
    /// the identifiers, name and description are typed again.
    error: Option<(&'static str, String)>,
}

fn register_page(staff: &Staff, chosen: &[(String, String)], error: Option<Error>) -> Response {
    let t = staff.tr();
    let has = |field: &str, value: &str| chosen.iter().any(|(k, v)| k == field && v == value);
    let first = |field: &str, default: &str| {
        chosen
            .iter()
            .find(|(k, _)| k == field)
            .map_or(default.to_owned(), |(_, v)| v.clone())
    };
    let channel = first("channel", "in_person");
    let language = first("language", staff.lang.code());
    let page = RegisterPage {
        frame: staff.frame(),
        t,
        types: RequestType::ALL
            .iter()
            .map(|k| Choice::new(t, "request_type", k.as_str(), has("types", k.as_str())))
            .collect(),
        purposes: OBJECTABLE_PURPOSES
            .iter()
            .map(|p| {
                let on = has("objection_purposes", p.as_str());
                Choice::new(t, "purpose", p.as_str(), on)
            })
            .collect(),
        channels: STAFF_CHANNELS
            .into_iter()
            .map(|c| Choice::new(t, "request_channel", c, c == channel))
            .collect(),
        languages: ["fi", "sv", "en"]
            .into_iter()
            .map(|l| Choice::new(t, "requester_language", l, l == language))
            .collect(),
        error: error.as_ref().map(shown),
    };
    let status = error.as_ref().map_or(StatusCode::OK, crate::error::status);
    let mut response = html(&page);
    *response.status_mut() = status;
    response
}

/// `GET /requests/new` — register an in-person, phone or letter request.
pub async fn new_form(State(app): State<Kirjuri>, staff: Staff) -> Response {
    if let Err(e) = app
        .require_requests(&staff.actor, staff.id, Action::HandleRequests)
        .await
    {
        return staff.error(e);
    }
    register_page(&staff, &[], None)
}

/// The registration form's fields, in order; repeated checkboxes
/// (`types`, `objection_purposes`) are repeated pairs.
fn register_input(fields: &[(String, String)]) -> RegisterInput {
    let all = |name: &str| -> Vec<String> {
        fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let one = |name: &str| -> Option<String> {
        filled(
            &fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone()),
        )
    };
    let listed = |name: &str| -> Vec<String> { one(name).into_iter().collect() };
    RegisterInput {
        types: all("types"),
        channel: one("channel").unwrap_or_default(),
        language: one("language").unwrap_or_default(),
        identifiers: Identifiers {
            phone: listed("phone"),
            email: listed("email"),
            customer_number: listed("customer_number"),
            property_id: listed("property_id"),
        },
        objection_purposes: all("objection_purposes"),
        received_at: None,
        name: one("name"),
        description: one("description"),
    }
}

/// `POST /requests/new` — register it; then its page.
pub async fn register(
    State(app): State<Kirjuri>,
    posted: Posted<Vec<(String, String)>>,
) -> Response {
    let Posted { staff, form } = posted;
    let input = register_input(&form);
    if !STAFF_CHANNELS.contains(&input.channel.as_str()) {
        let e = Error::bad_request(
            "invalid_value",
            "channel must be in_person, phone or letter",
        );
        return register_page(&staff, &form, Some(e));
    }
    match app.register_request(&staff.actor, staff.id, input).await {
        Ok(registered) => see_other(&format!("/requests/{}", registered.id)),
        Err(e) => register_page(&staff, &form, Some(e)),
    }
}
