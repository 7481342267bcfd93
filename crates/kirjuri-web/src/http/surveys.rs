//! Handlers for the satisfaction surveys (SURV-1): `GET
//! /api/v1/surveys/settings`, `PUT /api/v1/surveys/settings/{service}`
//! (supervisors) and `GET /api/v1/surveys/replies` — Kannel's `get-url`
//! for a mobile-originated SMS, public because the gateway has no account:
//! the `token` parameter (`[surveys] reply_secret`) is its credential,
//! checked before anything else is read. Thin: the access decision first
//! (a refused caller gets 403 before its body is read), then the body or
//! the query through the shared readers, then `kirjuri_app::surveys`.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use kirjuri_core::access::Action;
use kirjuri_core::survey::SurveySettings;
use serde::Deserialize;
use serde_json::json;

use super::Caller;
use super::params::query;
use super::retention::json_body;
use crate::error::Result;
use kirjuri_app::app::Kirjuri;

/// `GET /api/v1/surveys/settings` — every service's settings.
pub async fn list(State(app): State<Kirjuri>, caller: Caller) -> Result<Response> {
    let settings = app.survey_settings(&caller.actor, caller.id).await?;
    Ok(Json(json!({ "services": settings })).into_response())
}

/// `PUT /api/v1/surveys/settings/{service}` — 200 with the stored
/// settings; 422 naming a bad field; 409 when a parallel change won.
pub async fn put(
    State(app): State<Kirjuri>,
    caller: Caller,
    Path(service): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    app.authorize_register(&caller.actor, caller.id, Action::ConfigureSurveys, None)
        .await?;
    let settings: SurveySettings = json_body(&app, &headers, body).await?;
    let stored = app
        .put_survey_settings(&caller.actor, caller.id, &service, &settings)
        .await?;
    Ok(Json(stored).into_response())
}

/// What Kannel's `get-url` sends (`token=…&id=%I&from=%p&to=%P&text=%a`);
/// `to` and `at` (`%t`) are accepted and not used.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyParams {
    token: Option<String>,
    id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    text: Option<String>,
    at: Option<String>,
}

/// `GET /api/v1/surveys/replies` — 200 `{"accepted": true}` whether or not
/// the reply matched an invitation (the gateway has nothing to do about
/// either); 401 without the secret; 422 for a malformed delivery.
pub async fn reply(
    State(app): State<Kirjuri>,
    request: std::result::Result<Query<ReplyParams>, QueryRejection>,
) -> Result<Response> {
    let params = query(request)?;
    let _ = (&params.to, &params.at);
    app.receive_survey_reply(
        params.token.as_deref(),
        params.from.as_deref(),
        params.text.as_deref(),
        params.id.as_deref(),
    )
    .await?;
    Ok(Json(json!({ "accepted": true })).into_response())
}
