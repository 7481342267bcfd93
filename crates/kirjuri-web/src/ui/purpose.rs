//! The purpose page (ACC-2): before any personal data shows, the person
//! states why they are working — one of the notice's purposes. The choice is
//! kept in the session on the server, shown in every page's header, can be
//! changed at any time, and is passed to every read the UI makes, so each
//! audit event records it.
//!
//! Only purposes the access decision allows the person's role are offered;
//! the decision still checks each read.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use kirjuri_core::access::{Action, Object, authorize};
use kirjuri_core::purpose::Purpose;
use serde::Deserialize;

use super::context::{Frame, Posted, Staff, local_path, see_other};
use super::html;
use super::i18n::Tr;
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;

/// One choice on the page.
pub struct Choice {
    /// The wire name.
    pub value: &'static str,
    /// Its label.
    pub label: String,
    /// A line on what it covers.
    pub help: String,
    /// Whether it is the session's current purpose.
    pub checked: bool,
}

/// The purpose page.
#[derive(Template)]
#[template(path = "purpose.html")]
pub struct PurposePage {
    frame: Frame,
    t: Tr,
    choices: Vec<Choice>,
    next: String,
    missing: bool,
}

/// `GET /purpose?next=…`.
#[derive(Debug, Deserialize)]
pub struct PurposeQuery {
    next: Option<String>,
}

/// The purposes this person's role may read for.
fn allowed(staff: &Staff) -> Vec<Purpose> {
    Purpose::ALL
        .into_iter()
        .filter(|p| {
            authorize(
                &staff.actor,
                Action::SearchContacts,
                Object::Register,
                Some(*p),
            )
            .is_allowed()
        })
        .collect()
}

fn page(staff: &Staff, next: String, missing: bool) -> Response {
    let t = staff.tr();
    let choices = allowed(staff)
        .into_iter()
        .map(|p| Choice {
            value: p.as_str(),
            label: t.label("purpose", p.as_str()),
            help: t.label("purpose_help", p.as_str()),
            checked: staff.purpose == Some(p),
        })
        .collect();
    let mut response = html(&PurposePage {
        frame: staff.frame(),
        t,
        choices,
        next,
        missing,
    });
    if missing {
        *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    }
    response
}

/// `GET /purpose`.
pub async fn form(staff: Staff, Query(query): Query<PurposeQuery>) -> Response {
    let next = local_path(query.next.as_deref()).unwrap_or_else(|| "/search".into());
    page(&staff, next, false)
}

/// The form's fields.
#[derive(Debug, Deserialize)]
pub struct PurposeForm {
    #[serde(default)]
    purpose: Option<String>,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /purpose`.
pub async fn choose(State(app): State<Kirjuri>, posted: Posted<PurposeForm>) -> Response {
    let Posted { staff, form } = posted;
    let next = local_path(form.next.as_deref()).unwrap_or_else(|| "/search".into());
    let Some(chosen) = form.purpose.as_deref().filter(|p| !p.is_empty()) else {
        return page(&staff, next, true);
    };
    let purpose: Purpose = match chosen.parse() {
        Ok(p) => p,
        Err(e) => return staff.error(Error::from(e)),
    };
    if !allowed(&staff).contains(&purpose) {
        return staff.error(Error::Forbidden(
            "your role may not read personal data for this purpose",
        ));
    }
    if let Err(e) = app
        .store
        .set_session_purpose(&staff.session.id(), Some(purpose.as_str()))
        .await
    {
        return staff.error(e.into());
    }
    see_other(&next)
}
