//! The recipients register's page (`/recipients`; DIS-1, issue 13 §4,
//! §8): the organisations data may be disclosed to, each with its kind,
//! country, agreement and purposes, and — for registrars — the form that
//! registers one. It calls the same `Kirjuri` methods as
//! `/api/v1/recipients`, which ask the access decision (registrars
//! register, supervisors read) and audit; a refusal (a country outside the
//! EU/EEA, a processor without its agreement, …) gives the form back with
//! its code and stores nothing.
//!
//! Not here: the rules (`kirjuri_app::recipients`).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use kirjuri_core::access::{Action, Object, authorize};
use kirjuri_core::purpose::Purpose;
use serde::Deserialize;

use super::context::{Frame, Posted, Staff, see_other};
use super::format;
use super::html;
use super::i18n::Tr;
use super::requests::Choice;
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::recipients::{RecipientInput, RecipientView};

/// The kinds of recipient, in the form's order.
const KINDS: [&str; 4] = ["processor", "partner", "authority", "police"];

/// A recipient as a line of the register.
pub struct Line {
    name: String,
    kind: String,
    country: String,
    agreement: String,
    purposes: String,
    added: String,
}

impl Line {
    fn new(view: &RecipientView, t: Tr) -> Self {
        Self {
            name: view.name.clone(),
            kind: t.label("recipient_kind", &view.kind),
            country: view.country.clone(),
            agreement: view.agreement.clone().unwrap_or_default(),
            purposes: view
                .purposes
                .iter()
                .map(|p| t.label("purpose", p))
                .collect::<Vec<_>>()
                .join(", "),
            added: format::time(view.created_at),
        }
    }
}

/// The page.
#[derive(Template)]
#[template(path = "recipients.html")]
pub struct RecipientsPage {
    frame: Frame,
    t: Tr,
    lines: Vec<Line>,
    may_manage: bool,
    kinds: Vec<Choice>,
    purposes: Vec<Choice>,
    notice: bool,
    error: Option<(&'static str, String)>,
}

/// `?added=1` after a registration.
#[derive(Deserialize)]
pub struct Shown {
    #[serde(default)]
    added: Option<String>,
}

async fn recipients_page(
    app: &Kirjuri,
    staff: &Staff,
    notice: bool,
    error: Option<Error>,
) -> Response {
    let t = staff.tr();
    let views = match app.recipients(&staff.actor, staff.id).await {
        Ok(views) => views,
        Err(e) => return staff.error(e),
    };
    let status = error.as_ref().map_or(StatusCode::OK, crate::error::status);
    let page = RecipientsPage {
        frame: staff.frame(),
        t,
        lines: views.iter().map(|v| Line::new(v, t)).collect(),
        may_manage: authorize(
            &staff.actor,
            Action::ManageDisclosures,
            Object::Register,
            None,
        )
        .is_allowed(),
        kinds: KINDS
            .iter()
            .map(|k| Choice::new(t, "recipient_kind", k, false))
            .collect(),
        purposes: Purpose::ALL
            .iter()
            .map(|p| Choice::new(t, "purpose", p.as_str(), false))
            .collect(),
        notice,
        error: error.as_ref().map(|e| {
            let code = e.code();
            (code, t.error_key("recipients", code))
        }),
    };
    let mut response = html(&page);
    *response.status_mut() = status;
    response
}

/// `GET /recipients`.
pub async fn page(
    State(app): State<Kirjuri>,
    staff: Staff,
    Query(shown): Query<Shown>,
) -> Response {
    recipients_page(&app, &staff, shown.added.is_some(), None).await
}

/// The posted form (`purposes` repeats, so it is read as pairs).
fn recipient_input(form: &[(String, String)]) -> RecipientInput {
    let one = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let agreement = one("agreement").trim();
    RecipientInput {
        name: one("name").to_owned(),
        kind: one("kind").to_owned(),
        country: one("country").to_owned(),
        agreement: (!agreement.is_empty()).then(|| agreement.to_owned()),
        purposes: form
            .iter()
            .filter(|(k, _)| k == "purposes")
            .map(|(_, v)| v.clone())
            .collect(),
    }
}

/// `POST /recipients` — 303 back to the register, or the form again with
/// what was wrong (nothing stored).
pub async fn add(State(app): State<Kirjuri>, posted: Posted<Vec<(String, String)>>) -> Response {
    let Posted { staff, form } = posted;
    match app
        .add_recipient(&staff.actor, staff.id, recipient_input(&form))
        .await
    {
        Ok(_) => see_other("/recipients?added=1"),
        Err(e @ Error::Forbidden(_)) => staff.error(e),
        Err(e) => recipients_page(&app, &staff, false, Some(e)).await,
    }
}
