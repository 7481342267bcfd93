//! The search page (issue 4, REG-4): by phone, email, property ID, customer
//! number, name, agent, service, channel and date range — and, for a
//! registrar, a personal identity code said in a form or chat.
//!
//! The form is POSTed and the results are rendered from the POST, so no
//! phone number, email or name ever lands in a URL, the browser's history or
//! a proxy's log; each result links to `/contacts/{id}`, which carries an id
//! only. Identifiers are accepted in any form the API accepts (a phone
//! number in national format, a property ID with or without zeros) because
//! the read layer normalises them. An agent sees only their own contacts:
//! the read layer scopes the search, not this page.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use kirjuri_core::contact::Channel;
use serde::Deserialize;

use super::context::{Frame, Posted, Staff, filled};
use super::format;
use super::html;
use super::i18n::Tr;
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::read::{ContactView, SearchQuery};

/// Results per search.
pub const RESULT_LIMIT: u32 = 100;

/// The search form's fields, as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SearchForm {
    /// Phone number in any accepted form.
    #[serde(default)]
    pub phone: Option<String>,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Property ID in any accepted form.
    #[serde(default)]
    pub property_id: Option<String>,
    /// Customer number.
    #[serde(default)]
    pub customer_number: Option<String>,
    /// Customer or contact-person name.
    #[serde(default)]
    pub name: Option<String>,
    /// A personal identity code said in a form or chat (registrars only).
    #[serde(default)]
    pub hetu: Option<String>,
    /// Handling agent.
    #[serde(default)]
    pub agent: Option<String>,
    /// Service (queue).
    #[serde(default)]
    pub service: Option<String>,
    /// Channel.
    #[serde(default)]
    pub channel: Option<String>,
    /// First day (YYYY-MM-DD).
    #[serde(default)]
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD), included.
    #[serde(default)]
    pub to: Option<String>,
}

impl SearchForm {
    fn value(field: &Option<String>) -> String {
        field.clone().unwrap_or_default()
    }

    /// The field's value for re-showing the form.
    pub fn v(&self, name: &str) -> String {
        Self::value(match name {
            "phone" => &self.phone,
            "email" => &self.email,
            "property_id" => &self.property_id,
            "customer_number" => &self.customer_number,
            "name" => &self.name,
            "hetu" => &self.hetu,
            "agent" => &self.agent,
            "service" => &self.service,
            "channel" => &self.channel,
            "from" => &self.from,
            _ => &self.to,
        })
    }

    /// The read layer's query for this form and purpose.
    pub fn query(&self, purpose: &str) -> SearchQuery {
        SearchQuery {
            phone: filled(&self.phone),
            email: filled(&self.email),
            property_id: filled(&self.property_id),
            customer_number: filled(&self.customer_number),
            name: filled(&self.name),
            hetu: filled(&self.hetu),
            agent: filled(&self.agent),
            service: filled(&self.service),
            channel: filled(&self.channel),
            from: filled(&self.from),
            to: filled(&self.to),
            limit: Some(RESULT_LIMIT),
            purpose: Some(purpose.to_owned()),
            reason: None,
        }
    }
}

/// One result line.
pub struct ResultRow {
    /// Contact id (the link).
    pub id: String,
    /// Start, Helsinki time.
    pub started: String,
    /// Channel label.
    pub channel: String,
    /// Service.
    pub service: String,
    /// Handling agent.
    pub agent: String,
    /// Customer's name.
    pub customer: String,
    /// Customer's phone (E.164), or the withheld note.
    pub phone: String,
    /// Duration.
    pub duration: String,
    /// Whether a recording is stored.
    pub recording: bool,
}

impl ResultRow {
    /// A result line from a contact.
    pub fn from_view(view: &ContactView, t: Tr) -> Self {
        let document = &view.document;
        let customer = document.customer.as_ref();
        let phone = match customer {
            Some(c) if c.phone_withheld => t.t("contact.withheld").to_owned(),
            Some(c) => c.phone.clone().unwrap_or_default(),
            None => String::new(),
        };
        Self {
            id: view.id.to_string(),
            started: format::time_fixed(document.started_at),
            channel: t.label("channel", document.channel.as_str()),
            service: document.service.clone().unwrap_or_default(),
            agent: document.agent.clone(),
            customer: customer.and_then(|c| c.name.clone()).unwrap_or_default(),
            phone,
            duration: view
                .duration_ms
                .map(format::duration_ms)
                .unwrap_or_default(),
            recording: view.recording.is_some(),
        }
    }
}

/// A channel in the form's list.
pub struct ChannelOption {
    /// Wire name.
    pub value: &'static str,
    /// Label.
    pub label: String,
}

/// The search page.
#[derive(Template)]
#[template(path = "search.html")]
pub struct SearchPage {
    /// The frame.
    pub frame: Frame,
    /// Translations.
    pub t: Tr,
    /// The form as typed.
    pub form: SearchForm,
    /// The channels.
    pub channels: Vec<ChannelOption>,
    /// The results, once searched.
    pub results: Option<Vec<ResultRow>>,
    /// Whether the result list was cut at [`RESULT_LIMIT`].
    pub truncated: bool,
    /// An error in the criteria: (code, translation key, detail).
    pub error: Option<(&'static str, String)>,
    /// Whether the viewer is an agent (sees own contacts only).
    pub own_only: bool,
    /// Matches left out because their subject forbade the purpose (DSR-4).
    pub withheld: usize,
    /// Whether the viewer may search by personal identity code (a
    /// registrar); the field is not shown to anyone else.
    pub hetu_search: bool,
}

impl SearchPage {
    /// The page for `staff`, with `form` and (optionally) results.
    pub fn new(staff: &Staff, form: SearchForm, results: Option<Vec<ResultRow>>) -> Self {
        let t = staff.tr();
        Self {
            frame: staff.frame(),
            t,
            form,
            channels: Channel::ALL
                .into_iter()
                .map(|c| ChannelOption {
                    value: c.as_str(),
                    label: t.label("channel", c.as_str()),
                })
                .collect(),
            truncated: results
                .as_ref()
                .is_some_and(|r| r.len() >= RESULT_LIMIT as usize),
            results,
            error: None,
            own_only: staff.actor.role == kirjuri_core::role::Role::Agent,
            withheld: 0,
            hetu_search: kirjuri_app::forms::sees_identity_codes(&staff.actor),
        }
    }
}

/// `GET /search` — the empty form.
pub async fn form(staff: Staff) -> Response {
    if let Err(redirect) = staff.require_purpose() {
        return redirect;
    }
    html(&SearchPage::new(&staff, SearchForm::default(), None))
}

/// Runs a search for `staff` and renders the page (also the benchmark's
/// entry point).
pub async fn run(app: &Kirjuri, staff: &Staff, form: SearchForm) -> Response {
    let Some(purpose) = staff.purpose else {
        return staff.error(Error::bad_request(
            "purpose_required",
            "choose a purpose first",
        ));
    };
    let query = form.query(purpose.as_str());
    match app.search(&staff.actor, staff.id, &query).await {
        Ok(found) => {
            let t = staff.tr();
            let rows = found
                .contacts
                .iter()
                .map(|v| ResultRow::from_view(v, t))
                .collect();
            let mut page = SearchPage::new(staff, form, Some(rows));
            page.withheld = found.withheld;
            html(&page)
        }
        Err(e @ Error::BadRequest { .. }) => {
            let code = e.code();
            let key = if super::context::TRANSLATED_ERRORS.contains(&code) {
                format!("error.{code}")
            } else {
                "error.generic".to_owned()
            };
            let mut page = SearchPage::new(staff, form, None);
            page.error = Some((code, key));
            let mut response = html(&page);
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response
        }
        Err(e) => staff.error(e),
    }
}

/// `POST /search` — the results, rendered from the POST.
pub async fn search(State(app): State<Kirjuri>, posted: Posted<SearchForm>) -> Response {
    let Posted { staff, form } = posted;
    if let Err(redirect) = staff.require_purpose() {
        return redirect;
    }
    run(&app, &staff, form).await
}
