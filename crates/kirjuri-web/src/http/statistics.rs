//! Handler for `GET /api/v1/statistics/contacts` (STAT-1): the contacts
//! report as JSON, or as CSV with `format=csv`. Thin: the query through the
//! shared reader (an unknown parameter is 400), then
//! `kirjuri_app::statistics`, which decides access, checks the values (422)
//! and applies the disclosure control before anything leaves.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Caller;
use super::params::query;
use crate::error::Result;
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::statistics::ContactQuery;

/// The query string: the report's parameters and the format.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactsParams {
    by: Option<String>,
    from: Option<String>,
    to: Option<String>,
    period: Option<String>,
    format: Option<String>,
}

/// `GET /api/v1/statistics/contacts`.
pub async fn contacts(
    State(app): State<Kirjuri>,
    caller: Caller,
    request: std::result::Result<Query<ContactsParams>, QueryRejection>,
) -> Result<Response> {
    let params = query(request)?;
    let csv = match params.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            return Err(Error::Unprocessable {
                code: "invalid_format",
                message: "format is json or csv".into(),
            }
            .into());
        }
    };
    let report = app
        .contact_statistics(
            &caller.actor,
            caller.id,
            &ContactQuery {
                by: params.by,
                from: params.from,
                to: params.to,
                period: params.period,
            },
        )
        .await?;
    if !csv {
        return Ok(Json(report).into_response());
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"contact-statistics.csv\"",
            ),
        ],
        report.to_csv()?,
    )
        .into_response())
}
