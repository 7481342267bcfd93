//! Handlers for `/api/v1/disclosures` (DIS-2): ask for a disclosure,
//! approve or refuse it (four eyes), list and show them, download an
//! approved one's package and make its recipient a one-time link. Thin:
//! the access decision first (a refused caller gets 403 before its body is
//! read), then the body through the shared JSON reader (size cap, unknown
//! fields refused), then `kirjuri_app::disclosures`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kirjuri_core::access::Action;
use serde::Deserialize;
use serde_json::json;

use super::requests::zip_response;
use super::retention::json_body;
use super::{Caller, params};
use crate::error::Result;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::disclosures::{DisclosureInput, LinkInput, RefuseInput, parse_disclosure_id};

/// `GET /api/v1/disclosures`'s query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only disclosures in this state.
    pub state: Option<String>,
}

async fn require(app: &Kirjuri, caller: &Caller, action: Action) -> Result<()> {
    app.authorize_register(&caller.actor, caller.id, action, None)
        .await?;
    Ok(())
}

/// `POST /api/v1/disclosures` — 201 `{id, state: "awaiting_approval", …}`.
pub async fn request(
    State(app): State<Kirjuri>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    require(&app, &caller, Action::RequestDisclosure).await?;
    let input: DisclosureInput = json_body(&app, &headers, body).await?;
    let view = app
        .request_disclosure(&caller.actor, caller.id, input)
        .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// `GET /api/v1/disclosures[?state=]` — awaiting approval first.
pub async fn list(
    State(app): State<Kirjuri>,
    caller: Caller,
    query: std::result::Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let query = params::query(query)?;
    let views = app
        .disclosures(&caller.actor, caller.id, query.state.as_deref())
        .await?;
    Ok(Json(json!({ "disclosures": views })).into_response())
}

/// `GET /api/v1/disclosures/{id}`.
pub async fn show(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    let view = app
        .disclosure(&caller.actor, caller.id, parse_disclosure_id(&id)?)
        .await?;
    Ok(Json(view).into_response())
}

/// `POST /api/v1/disclosures/{id}/approve` (no body) — 200; the requester
/// 403 `four_eyes`; decided already 409.
pub async fn approve(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    let view = app
        .approve_disclosure(&caller.actor, caller.id, parse_disclosure_id(&id)?)
        .await?;
    Ok(Json(view).into_response())
}

/// `POST /api/v1/disclosures/{id}/refuse` — `{"reason"}` → 200.
pub async fn refuse(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    require(&app, &caller, Action::ManageDisclosures).await?;
    let input: RefuseInput = json_body(&app, &headers, body).await?;
    let view = app
        .refuse_disclosure(&caller.actor, caller.id, parse_disclosure_id(&id)?, input)
        .await?;
    Ok(Json(view).into_response())
}

/// `GET /api/v1/disclosures/{id}/package` — the ZIP, once approved.
pub async fn package(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    let package = app
        .disclosure_package(&caller.actor, caller.id, parse_disclosure_id(&id)?)
        .await?;
    zip_response(package)
}

/// `POST /api/v1/disclosures/{id}/link` — `{"days"?}` (or no body) → 201
/// `{url, expires_at}`, the link shown this once.
pub async fn link(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    require(&app, &caller, Action::ManageDisclosures).await?;
    let input: LinkInput = if headers.contains_key(axum::http::header::CONTENT_TYPE) {
        json_body(&app, &headers, body).await?
    } else {
        LinkInput::default()
    };
    let created = app
        .disclosure_link_create(&caller.actor, caller.id, parse_disclosure_id(&id)?, input)
        .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}
