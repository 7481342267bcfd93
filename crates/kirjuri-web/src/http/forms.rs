//! Handlers for the forms API and a form contact's content: `POST
//! /api/v1/forms` (the utility's own site delivers a form), `GET
//! /api/v1/contacts/{id}/form` (the message, masked for all but
//! registrars), `GET /api/v1/contacts/{id}/attachments` and
//! `…/attachments/{object}` (the files, as delivered).
//!
//! The forms API is for integration accounts, like contact intake
//! (`Action::CreateContact`): the site's server holds the token, never a
//! browser. The body is strict JSON (unknown fields refused) within
//! `max_json_bytes` plus the attachments' allowance; attachments come as
//! base64. Not here: the rules (`kirjuri_app::forms`), the public page
//! (`crate::ui::contact_form`).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::{DateTime, FixedOffset};
use kirjuri_core::access::Action;
use kirjuri_core::ids::ObjectId;
use serde::Deserialize;

use super::Caller;
use super::contacts::{ReadQuery, contact_id, created_status, read_context, read_limited};
use super::params::require_content_type;
use crate::error::Result;
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::attachments::AttachmentPart;
use kirjuri_app::forms::FormInput;

/// `POST /api/v1/forms`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FormRequest {
    external_id: String,
    submitted_at: DateTime<FixedOffset>,
    service: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    customer_number: Option<String>,
    message: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    attachments: Vec<AttachmentRequest>,
}

/// One attachment of a [`FormRequest`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachmentRequest {
    name: String,
    media_type: String,
    content_base64: String,
}

/// `POST /api/v1/forms` — 201 with the contact, the same again 200, a
/// different form under the same `external_id` 409.
pub async fn submit(
    State(app): State<Kirjuri>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    app.authorize_register(&caller.actor, caller.id, Action::CreateContact, None)
        .await?;
    require_content_type(
        &headers,
        "application/json",
        "a form must be sent as Content-Type: application/json",
    )?;
    let forms = &app.config.forms;
    // base64 is 4/3 of the bytes; the rest of the JSON within the JSON limit.
    let attachments = forms
        .max_attachment_bytes
        .saturating_mul(forms.max_attachments as u64);
    let limit = usize::try_from(attachments / 3 * 4 + 8)
        .unwrap_or(usize::MAX)
        .saturating_add(app.config.max_json_bytes);
    let bytes = read_limited(&headers, body, limit).await?;
    let request: FormRequest = serde_json::from_slice(&bytes).map_err(|e| {
        // serde's message could quote a value; keep its category only.
        let what = match e.classify() {
            serde_json::error::Category::Data => {
                "the form must be {\"external_id\", \"submitted_at\", \"service\", \"message\", …} \
                 with the documented fields only"
            }
            _ => "the form is not valid JSON",
        };
        Error::Unprocessable {
            code: "invalid_form",
            message: format!("{what} (line {}, column {})", e.line(), e.column()),
        }
    })?;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut parts = Vec::with_capacity(request.attachments.len());
    for (n, a) in request.attachments.into_iter().enumerate() {
        let bytes =
            engine
                .decode(a.content_base64.as_bytes())
                .map_err(|_| Error::Unprocessable {
                    code: "invalid_form",
                    message: format!("attachments[{n}].content_base64 is not base64"),
                })?;
        parts.push(AttachmentPart {
            name: a.name,
            media_type: Some(a.media_type),
            bytes: bytes.into(),
        });
    }
    let input = FormInput {
        external_id: Some(request.external_id),
        submitted_at: Some(request.submitted_at),
        service: request.service,
        name: request.name,
        email: request.email,
        phone: request.phone,
        customer_number: request.customer_number,
        message: request.message,
        language: request.language,
        attachments: parts,
    };
    let (ack, created) = app.submit_form(Some(caller.id), input).await?;
    Ok((created_status(created), Json(ack)).into_response())
}

/// `GET /api/v1/contacts/{id}/form?purpose=…`.
pub async fn read(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    query: std::result::Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let (actor, purpose) = read_context(&caller, query)?;
    let form = app
        .read_form(&actor, caller.id, contact_id(&id)?, purpose)
        .await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(form)).into_response())
}

/// `GET /api/v1/contacts/{id}/attachments?purpose=…`.
pub async fn list(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    query: std::result::Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let (actor, purpose) = read_context(&caller, query)?;
    let views = app
        .list_attachments(&actor, caller.id, contact_id(&id)?, purpose)
        .await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "attachments": views })),
    )
        .into_response())
}

/// `GET /api/v1/contacts/{id}/attachments/{object}?purpose=…` — the file
/// as delivered, never rendered inline.
pub async fn download(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path((id, object)): Path<(String, String)>,
    query: std::result::Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let (actor, purpose) = read_context(&caller, query)?;
    let object: ObjectId = object.parse().map_err(|_| Error::NotFound)?;
    let (view, bytes) = app
        .read_attachment(&actor, caller.id, contact_id(&id)?, object, purpose)
        .await?;
    let media_type = HeaderValue::from_str(&view.media_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok((
        [
            (header::CONTENT_TYPE, media_type),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            // Downloaded, never shown in the application's origin.
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("sandbox; default-src 'none'"),
            ),
        ],
        bytes,
    )
        .into_response())
}
