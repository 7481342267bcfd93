//! Handler for `GET /api/v1/audit`: the audit log, a page at a time, for
//! supervisors and registrars. Thin: parses the query and calls
//! [`Kirjuri::read_audit`], which decides access and audits the read.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};

use super::Caller;
use crate::error::Result;
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::audit::AuditQuery;

/// `GET /api/v1/audit?contact=ID|user=NAME|action=…&after=SEQ&limit=N`.
pub async fn list(
    State(app): State<Kirjuri>,
    caller: Caller,
    query: std::result::Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response> {
    let Query(query) = query.map_err(|e| query_error(&e))?;
    let page = app.read_audit(&caller.actor, caller.id, &query).await?;
    Ok(Json(page).into_response())
}

/// A 400 naming an unknown parameter, or saying the query is malformed —
/// never quoting a value.
fn query_error(e: &QueryRejection) -> Error {
    let text = e.body_text();
    if text.contains("unknown field") {
        let field = text.split('`').nth(1).unwrap_or("");
        Error::bad_request(
            "invalid_parameter",
            format!("unknown query parameter '{field}'"),
        )
    } else {
        Error::bad_request("invalid_parameter", "the query string is malformed")
    }
}
