//! Handlers for `GET /api/v1/statistics/{contacts,surveys,requests,
//! disclosures}` (STAT-1): each report as JSON, or as CSV with
//! `format=csv`. Thin: the query through the shared reader (an unknown
//! parameter is 400), then `kirjuri_app::statistics`, which decides
//! access, checks the values (422) and applies the disclosure control
//! before anything leaves.

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
use kirjuri_app::statistics::{Report, ReportQuery};

/// The query string: the report's parameters and the format.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    by: Option<String>,
    from: Option<String>,
    to: Option<String>,
    period: Option<String>,
    format: Option<String>,
}

/// The report's query and whether CSV was asked for (422 for another
/// format).
fn split(params: ReportParams) -> Result<(ReportQuery, bool)> {
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
    Ok((
        ReportQuery {
            by: params.by,
            from: params.from,
            to: params.to,
            period: params.period,
        },
        csv,
    ))
}

/// A CSV download named after its report.
fn csv_response(report: Report, body: Vec<u8>) -> Response {
    let disposition = format!(
        "attachment; filename=\"{}-statistics.csv\"",
        report.as_str()
    );
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

/// A counting report: contacts, requests or disclosures.
async fn count(
    app: Kirjuri,
    caller: Caller,
    report: Report,
    request: std::result::Result<Query<ReportParams>, QueryRejection>,
) -> Result<Response> {
    let (query_, csv) = split(query(request)?)?;
    let table = app
        .count_statistics(&caller.actor, caller.id, report, &query_)
        .await?;
    if csv {
        Ok(csv_response(report, table.to_csv()?))
    } else {
        Ok(Json(table).into_response())
    }
}

/// `GET /api/v1/statistics/contacts`.
pub async fn contacts(
    State(app): State<Kirjuri>,
    caller: Caller,
    request: std::result::Result<Query<ReportParams>, QueryRejection>,
) -> Result<Response> {
    count(app, caller, Report::Contacts, request).await
}

/// `GET /api/v1/statistics/requests`.
pub async fn requests(
    State(app): State<Kirjuri>,
    caller: Caller,
    request: std::result::Result<Query<ReportParams>, QueryRejection>,
) -> Result<Response> {
    count(app, caller, Report::Requests, request).await
}

/// `GET /api/v1/statistics/disclosures`.
pub async fn disclosures(
    State(app): State<Kirjuri>,
    caller: Caller,
    request: std::result::Result<Query<ReportParams>, QueryRejection>,
) -> Result<Response> {
    count(app, caller, Report::Disclosures, request).await
}

/// `GET /api/v1/statistics/surveys`.
pub async fn surveys(
    State(app): State<Kirjuri>,
    caller: Caller,
    request: std::result::Result<Query<ReportParams>, QueryRejection>,
) -> Result<Response> {
    let (query_, csv) = split(query(request)?)?;
    let table = app
        .survey_statistics(&caller.actor, caller.id, &query_)
        .await?;
    if csv {
        Ok(csv_response(Report::Surveys, table.to_csv()?))
    } else {
        Ok(Json(table).into_response())
    }
}
