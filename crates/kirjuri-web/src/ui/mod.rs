//! The staff's web UI (issue 4): server-rendered pages for signing in,
//! choosing the purpose of the work, searching, reading a contact and
//! listening to its recording, administering accounts, reading the audit
//! log and handling data-subject requests — in Finnish, Swedish and English.
//!
//! Shape: every page is an askama template (`templates/`, checked at compile
//! time) rendered by a thin handler that calls the same `Kirjuri` methods as
//! the JSON API, so access decisions and audit happen exactly as they do for
//! the API. The routes are listed in `http::routes()` with the rest.
//!
//! Rules every page keeps:
//! * No personal data in a URL: identifier searches are POSTed and rendered
//!   from the POST; links carry ids, purposes and staff names only.
//! * No personal data shows before a purpose is chosen (ACC-2): such pages
//!   redirect to `/purpose`, and every read passes the session's purpose.
//! * Works without JavaScript; `static/kirjuri.js` only enhances (the
//!   player's speed, waveform and channels). The CSP allows no inline script
//!   or style, so there is none.
//! * Every form POSTs with the session's CSRF token; sign-in has its own
//!   pre-session token.
//! * Errors are pages with a plain-language text and a code, never a cause.
//!
//! Not here: access rules (core), reading and auditing (`read`, `audit`),
//! accounts (`auth`, `session`).

pub mod account;
pub mod admin;
pub mod asset;
pub mod audit;
pub mod contact;
pub mod contact_form;
pub mod context;
pub mod disclosures;
pub mod download;
pub mod format;
pub mod i18n;
pub mod incidents;
pub mod privacy;
pub mod public;
pub mod purpose;
pub mod recipients;
pub mod requests;
pub mod search;
pub mod statistics;
pub mod surveys;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use self::context::Staff;

/// Renders a template as an HTML response. Pages are never cached (the
/// security-headers layer adds `Cache-Control: no-store`).
pub fn html<T: Template>(template: &T) -> Response {
    match template.render() {
        Ok(body) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                )],
                "internal error (render); the operator's log has the details",
            )
                .into_response()
        }
    }
}

/// `GET /` — the search page, by way of the purpose page when none is chosen.
pub async fn home(staff: Staff) -> Response {
    if staff.purpose.is_none() {
        return context::see_other("/purpose?next=/search");
    }
    context::see_other("/search")
}
