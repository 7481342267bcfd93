//! Handlers for the breach register (`/api/v1/incidents…`, Art. 33(5);
//! issue 13 §7) — kept by registrars and the responsible person,
//! followed by supervisors. Thin: the access decision first (a refused
//! caller gets 403, audited, before its body is read), then the body
//! through the shared JSON reader (size cap, unknown fields refused), then
//! `kirjuri_app::incidents`, whose errors name a field, never its value.
//!
//! | | |
//! |---|---|
//! | `POST /api/v1/incidents` | record → 201 the incident with its clock |
//! | `GET /api/v1/incidents` | the register, latest awareness first: facts and clocks |
//! | `GET /api/v1/incidents/{id}` | one incident: entries, current view, clock |
//! | `POST …/{id}/updates` | append an entry → 201 the incident |
//! | `POST …/{id}/impact` | `{"from", "to", "user"?, "contacts"?, "objects"?}` → 200 subjects by reference, counts |

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kirjuri_core::access::Action;
use serde_json::json;

use super::Caller;
use super::retention::json_body;
use crate::error::Result;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::incidents::impact::ImpactInput;
use kirjuri_app::incidents::{IncidentInput, parse_incident_id};

/// `POST /api/v1/incidents` — 201 with the incident.
pub async fn record(
    State(app): State<Kirjuri>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    app.authorize_register(&caller.actor, caller.id, Action::ManageIncidents, None)
        .await?;
    let input: IncidentInput = json_body(&app, &headers, body).await?;
    let view = app.record_incident(&caller.actor, caller.id, input).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// `GET /api/v1/incidents` — the register with each clock.
pub async fn list(State(app): State<Kirjuri>, caller: Caller) -> Result<Response> {
    let incidents = app.incidents(&caller.actor, caller.id).await?;
    Ok(Json(json!({ "incidents": incidents })).into_response())
}

/// `GET /api/v1/incidents/{id}`.
pub async fn show(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    app.authorize_register(&caller.actor, caller.id, Action::ReadIncidents, None)
        .await?;
    let view = app
        .incident(&caller.actor, caller.id, parse_incident_id(&id)?)
        .await?;
    Ok(Json(view).into_response())
}

/// `POST /api/v1/incidents/{id}/updates` — 201 with the incident.
pub async fn update(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    app.authorize_register(&caller.actor, caller.id, Action::ManageIncidents, None)
        .await?;
    let input: IncidentInput = json_body(&app, &headers, body).await?;
    let view = app
        .update_incident(&caller.actor, caller.id, parse_incident_id(&id)?, input)
        .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// `POST /api/v1/incidents/{id}/impact` — the subjects the breach touched.
pub async fn impact(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    app.authorize_register(&caller.actor, caller.id, Action::ManageIncidents, None)
        .await?;
    let input: ImpactInput = json_body(&app, &headers, body).await?;
    let impact = app
        .incident_impact(&caller.actor, caller.id, parse_incident_id(&id)?, &input)
        .await?;
    Ok(Json(impact).into_response())
}
