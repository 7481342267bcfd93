//! The disclosure pages (DIS-2): for staff, the list (`/disclosures`,
//! those awaiting approval first), one disclosure (`/disclosures/{id}`,
//! with approve and refuse forms for a registrar who did not ask for it)
//! and the form that asks for one (`/disclosures/new`: recipient, legal
//! ground, reference, categories, contact ids); for the recipient, the
//! one-time link's page (`/disclosure/download/{token}`, no account) whose
//! button POSTs for the package.
//!
//! Every staff page calls the same `Kirjuri` method as
//! `/api/v1/disclosures`, which asks the access decision and audits; the
//! requester sees no approve button and the server refuses them anyway
//! (403 `four_eyes`, shown on the page). The link's POST needs no form
//! token: the token in its URL is the secret a forger would need, and
//! whoever holds it can download anyway — it takes one from the public
//! download pages' per-address allowance instead (429 with
//! `Retry-After`). A used, expired or unknown link is 410.
//!
//! Not here: the rules (`kirjuri_app::disclosures`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use askama::Template;
use axum::Extension;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono_tz::Europe::Helsinki;
use kirjuri_core::access::{Action, Object, authorize};
use serde::Deserialize;

use super::context::{Frame, PageError, Posted, Staff, see_other, with_header};
use super::format;
use super::html;
use super::i18n::{Lang, Tr};
use super::public::{LangQuery, chosen_lang};
use super::requests::Choice;
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::disclosures::{
    Category, DisclosureInput, DisclosureView, LINK_PATH, MAX_CONTACTS, RefuseInput, ScopeInput,
    parse_disclosure_id,
};

/// An error's code and its translation key (the page's own or generic).
fn shown(t: Tr, error: &Error) -> (&'static str, String) {
    let code = error.code();
    (code, t.error_key("disclosures", code))
}

/// Whether this person may approve, refuse and release disclosures. Pure:
/// the application asks again, audited, on every change.
fn may_manage(staff: &Staff) -> bool {
    authorize(
        &staff.actor,
        Action::ManageDisclosures,
        Object::Register,
        None,
    )
    .is_allowed()
}

/// Whether this person may ask for a disclosure.
fn may_request(staff: &Staff) -> bool {
    authorize(
        &staff.actor,
        Action::RequestDisclosure,
        Object::Register,
        None,
    )
    .is_allowed()
}

/// A disclosure as a line of the list.
pub struct Line {
    id: String,
    state: String,
    awaiting: bool,
    recipient: String,
    reference: String,
    requested: String,
    n_contacts: u32,
}

impl Line {
    fn new(view: &DisclosureView, t: Tr) -> Self {
        Self {
            id: view.id.to_string(),
            state: t.label("disclosure_state", &view.state),
            awaiting: view.state == "awaiting_approval",
            recipient: view.recipient.name.clone(),
            reference: view.reference.clone(),
            requested: format::time(view.requested_at),
            n_contacts: view.n_contacts,
        }
    }
}

/// The list.
#[derive(Template)]
#[template(path = "disclosures.html")]
pub struct ListPage {
    frame: Frame,
    t: Tr,
    lines: Vec<Line>,
    may_request: bool,
}

/// `GET /disclosures`.
pub async fn list(State(app): State<Kirjuri>, staff: Staff) -> Response {
    let t = staff.tr();
    match app.disclosures(&staff.actor, staff.id, None).await {
        Ok(views) => html(&ListPage {
            frame: staff.frame(),
            t,
            lines: views.iter().map(|v| Line::new(v, t)).collect(),
            may_request: may_request(&staff),
        }),
        Err(e) => staff.error(e),
    }
}

/// One disclosure.
#[derive(Template)]
#[template(path = "disclosure.html")]
pub struct DisclosurePage {
    frame: Frame,
    t: Tr,
    id: String,
    state: String,
    recipient: String,
    recipient_kind: String,
    country: String,
    legal_ground: String,
    reference: String,
    note: Option<String>,
    categories: String,
    contacts: Vec<String>,
    requested: String,
    requested_by: String,
    decided: Option<(String, String)>,
    refusal_reason: Option<String>,
    /// Approve and refuse forms: a registrar, not the requester, while it
    /// awaits approval.
    may_decide: bool,
    /// Download and link forms: a registrar, once approved.
    may_release: bool,
    /// A link just made, shown this once.
    link: Option<(String, String)>,
    notice: Option<&'static str>,
    error: Option<(&'static str, String)>,
}

/// Renders disclosure `id`'s page with what happened.
async fn disclosure_page(
    app: &Kirjuri,
    staff: &Staff,
    id: &str,
    notice: Option<&'static str>,
    link: Option<(String, String)>,
    error: Option<Error>,
) -> Response {
    let t = staff.tr();
    let view = match parse_disclosure_id(id) {
        Ok(id) => app.disclosure(&staff.actor, staff.id, id).await,
        Err(e) => Err(e),
    };
    let view = match view {
        Ok(view) => view,
        Err(e) => return staff.error(e),
    };
    let status = error.as_ref().map_or(StatusCode::OK, crate::error::status);
    let manage = may_manage(staff);
    let page = DisclosurePage {
        frame: staff.frame(),
        t,
        id: view.id.to_string(),
        state: t.label("disclosure_state", &view.state),
        recipient: view.recipient.name.clone(),
        recipient_kind: t.label("recipient_kind", &view.recipient.kind),
        country: view.recipient.country.clone(),
        legal_ground: view.legal_ground.clone(),
        reference: view.reference.clone(),
        note: view.note.clone(),
        categories: view
            .categories
            .iter()
            .map(|c| t.label("disclosure_category", c))
            .collect::<Vec<_>>()
            .join(", "),
        contacts: view.contacts.iter().map(ToString::to_string).collect(),
        requested: format::time(view.requested_at),
        requested_by: view.requested_by.clone(),
        decided: view.decided_at.map(|at| {
            (
                format::time(at),
                view.decided_by.clone().unwrap_or_default(),
            )
        }),
        refusal_reason: view.refusal_reason.clone(),
        may_decide: manage && view.state == "awaiting_approval" && !view.requested_by_caller,
        may_release: manage && view.state == "approved",
        link,
        notice,
        error: error.as_ref().map(|e| shown(t, e)),
    };
    let mut response = html(&page);
    *response.status_mut() = status;
    response
}

/// `GET /disclosures/{id}`.
pub async fn page(State(app): State<Kirjuri>, staff: Staff, Path(id): Path<String>) -> Response {
    disclosure_page(&app, &staff, &id, None, None, None).await
}

/// A form on a disclosure's page; `action` says which.
#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    days: String,
}

/// `POST /disclosures/{id}` — approve, refuse or make a link; then the
/// page again, with what happened.
pub async fn act(
    State(app): State<Kirjuri>,
    Path(id): Path<String>,
    posted: Posted<ActionForm>,
) -> Response {
    let Posted { staff, form } = posted;
    let disclosure = match parse_disclosure_id(&id) {
        Ok(disclosure) => disclosure,
        Err(e) => return staff.error(e),
    };
    let (actor, who) = (&staff.actor, staff.id);
    let mut link = None;
    let done: Result<&'static str, Error> = match form.action.as_str() {
        "approve" => app
            .approve_disclosure(actor, who, disclosure)
            .await
            .map(|_| "disclosures.approved"),
        "refuse" => app
            .refuse_disclosure(
                actor,
                who,
                disclosure,
                RefuseInput {
                    reason: form.reason,
                },
            )
            .await
            .map(|_| "disclosures.refused"),
        "link" => {
            let days = match form.days.trim() {
                "" => Ok(None),
                days => days
                    .parse::<u32>()
                    .map(Some)
                    .map_err(|_| Error::bad_request("invalid_parameter", "days must be a number")),
            };
            match days {
                Ok(days) => app
                    .disclosure_link_create(
                        actor,
                        who,
                        disclosure,
                        kirjuri_app::disclosures::LinkInput { days },
                    )
                    .await
                    .map(|created| {
                        link = Some((created.url, format::time(created.expires_at)));
                        "disclosures.link_made"
                    }),
                Err(e) => Err(e),
            }
        }
        _ => Err(Error::bad_request("invalid_parameter", "unknown action")),
    };
    match done {
        Ok(notice) => disclosure_page(&app, &staff, &id, Some(notice), link, None).await,
        Err(e @ (Error::NotFound | Error::Unauthenticated)) => staff.error(e),
        Err(e) => disclosure_page(&app, &staff, &id, None, None, Some(e)).await,
    }
}

/// The form that asks for a disclosure.
#[derive(Template)]
#[template(path = "disclosure_new.html")]
pub struct NewPage {
    frame: Frame,
    t: Tr,
    recipients: Vec<(String, String)>,
    categories: Vec<Choice>,
    max_contacts: usize,
    error: Option<(&'static str, String)>,
}

async fn new_page(app: &Kirjuri, staff: &Staff, error: Option<Error>) -> Response {
    let t = staff.tr();
    let recipients = match app.recipients(&staff.actor, staff.id).await {
        Ok(recipients) => recipients,
        Err(e) => return staff.error(e),
    };
    let status = error.as_ref().map_or(StatusCode::OK, crate::error::status);
    let page = NewPage {
        frame: staff.frame(),
        t,
        recipients: recipients
            .iter()
            .map(|r| {
                (
                    r.id.to_string(),
                    format!(
                        "{} ({}, {})",
                        r.name,
                        t.label("recipient_kind", &r.kind),
                        r.country
                    ),
                )
            })
            .collect(),
        categories: Category::ALL
            .iter()
            .map(|c| Choice::new(t, "disclosure_category", c.as_str(), true))
            .collect(),
        max_contacts: MAX_CONTACTS,
        error: error.as_ref().map(|e| shown(t, e)),
    };
    let mut response = html(&page);
    *response.status_mut() = status;
    response
}

/// `GET /disclosures/new`.
pub async fn new_form(State(app): State<Kirjuri>, staff: Staff) -> Response {
    if let Err(e) = app
        .authorize_register(&staff.actor, staff.id, Action::RequestDisclosure, None)
        .await
    {
        return staff.error(e);
    }
    new_page(&app, &staff, None).await
}

/// The posted request form (`categories` repeats, so it is read as
/// pairs): the API's input, or what was wrong with it.
fn disclosure_input(form: &[(String, String)]) -> Result<DisclosureInput, Error> {
    let one = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let recipient = parse_disclosure_id(one("recipient")).map_err(|_| Error::Unprocessable {
        code: "unknown_recipient",
        message: "recipient: choose one from the register".into(),
    })?;
    let mut contacts = Vec::new();
    for part in one("contacts")
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|p| !p.is_empty())
    {
        // One over the limit is enough for the application to refuse.
        if contacts.len() > MAX_CONTACTS {
            break;
        }
        contacts.push(parse_disclosure_id(part).map_err(|_| {
            Error::bad_request("invalid_scope", "contacts: each must be a contact's id")
        })?);
    }
    let note = one("note").trim();
    Ok(DisclosureInput {
        recipient,
        legal_ground: one("legal_ground").to_owned(),
        reference: one("reference").to_owned(),
        scope: ScopeInput { contacts },
        categories: Some(
            form.iter()
                .filter(|(k, _)| k == "categories")
                .map(|(_, v)| v.clone())
                .collect(),
        ),
        note: (!note.is_empty()).then(|| note.to_owned()),
    })
}

/// `POST /disclosures/new` — 303 to the new disclosure, or the form again
/// with what was wrong (nothing stored).
pub async fn create(State(app): State<Kirjuri>, posted: Posted<Vec<(String, String)>>) -> Response {
    let Posted { staff, form } = posted;
    let result = match disclosure_input(&form) {
        Ok(input) => app.request_disclosure(&staff.actor, staff.id, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(view) => see_other(&format!("/disclosures/{}", view.id)),
        Err(e @ Error::Forbidden(_)) => staff.error(e),
        Err(e) => new_page(&app, &staff, Some(e)).await,
    }
}

/// The recipient's link page.
#[derive(Template)]
#[template(path = "disclosure_link.html")]
pub struct LinkPage {
    frame: Frame,
    t: Tr,
    link: String,
    recipient: String,
    expires: String,
}

/// The page of a link that no longer works (410).
#[derive(Template)]
#[template(path = "disclosure_link_gone.html")]
pub struct GonePage {
    frame: Frame,
    t: Tr,
}

fn link_frame(lang: Lang, link: &str) -> Frame {
    let mut frame = Frame::anonymous(lang);
    frame.here = format!("{LINK_PATH}{link}");
    frame
}

/// 410's page, or the plain error page.
fn failed(lang: Lang, link: &str, error: Error) -> Response {
    match error {
        Error::Gone { .. } => {
            let mut response = html(&GonePage {
                frame: link_frame(lang, link),
                t: Tr::new(lang),
            });
            *response.status_mut() = StatusCode::GONE;
            response
        }
        e => PageError::new(lang, e).into_response(),
    }
}

/// `GET /disclosure/download/{token}` — what the link is, and its button.
pub async fn link_page(
    State(app): State<Kirjuri>,
    headers: HeaderMap,
    Path(link): Path<String>,
    Query(query): Query<LangQuery>,
) -> Response {
    let lang = chosen_lang(query.lang.as_deref(), &headers);
    match app.disclosure_link_info(&link).await {
        Ok(info) => html(&LinkPage {
            frame: link_frame(lang, &link),
            t: Tr::new(lang),
            link: link.clone(),
            recipient: info.recipient,
            expires: info
                .expires_at
                .with_timezone(&Helsinki)
                .format("%-d.%-m.%Y %H:%M")
                .to_string(),
        }),
        Err(e) => failed(lang, &link, e),
    }
}

/// `POST /disclosure/download/{token}` — the ZIP, once.
pub async fn link_download(
    State(app): State<Kirjuri>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Path(link): Path<String>,
) -> Response {
    let lang = chosen_lang(None, &headers);
    let ip = connect.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(c)| c.0.ip());
    if let Err(e) = app.take_public_download_allowance(ip) {
        let retry = match &e {
            Error::TooManyRequests {
                retry_after_seconds,
            } => *retry_after_seconds,
            _ => 60,
        };
        return with_header(
            PageError::new(lang, e).into_response(),
            header::RETRY_AFTER,
            HeaderValue::from(retry),
        );
    }
    match app.disclosure_link_download(&link).await {
        Ok(package) => match crate::http::requests::zip_response(package) {
            Ok(response) => response,
            Err(e) => PageError::new(lang, e.0).into_response(),
        },
        Err(e) => failed(lang, &link, e),
    }
}
