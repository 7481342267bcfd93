//! Handler for `GET /api/v1/audit`: the audit log, a page at a time, for
//! supervisors and registrars. Thin: parses the query and calls
//! [`Kirjuri::read_audit`], which decides access and audits the read.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};

use super::{Caller, params};
use crate::error::Result;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::audit::AuditQuery;

/// `GET /api/v1/audit?contact=ID|user=NAME|action=…&after=SEQ&limit=N`.
pub async fn list(
    State(app): State<Kirjuri>,
    caller: Caller,
    query: std::result::Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response> {
    let query = params::query(query)?;
    let page = app.read_audit(&caller.actor, caller.id, &query).await?;
    Ok(Json(page).into_response())
}
