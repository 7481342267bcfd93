//! Handlers for `/api/v1/recipients` (DIS-1): the recipients register.
//! Thin: the access decision first (a refused caller gets 403 before its
//! body is read), then the body through the shared JSON reader (size cap,
//! unknown fields refused), then `kirjuri_app::recipients`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kirjuri_core::access::Action;
use serde_json::json;

use super::Caller;
use super::retention::json_body;
use crate::error::Result;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::recipients::RecipientInput;

/// `POST /api/v1/recipients` — 201 with the recipient; 422 outside the
/// EU/EEA.
pub async fn add(
    State(app): State<Kirjuri>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    app.authorize_register(&caller.actor, caller.id, Action::ManageDisclosures, None)
        .await?;
    let input: RecipientInput = json_body(&app, &headers, body).await?;
    let added = app.add_recipient(&caller.actor, caller.id, input).await?;
    Ok((StatusCode::CREATED, Json(added)).into_response())
}

/// `GET /api/v1/recipients` — the register, by name.
pub async fn list(State(app): State<Kirjuri>, caller: Caller) -> Result<Response> {
    let recipients = app.recipients(&caller.actor, caller.id).await?;
    Ok(Json(json!({ "recipients": recipients })).into_response())
}
