//! `GET /api/v1/processing-record` (NOT-1, Art. 30): the record of
//! processing activities, made by `kirjuri_app::register` from the
//! register's description and the retention rules in force — as JSON
//! (default), CSV (`?format=csv`) or an HTML document (`?format=html`), in
//! Finnish, Swedish or English (`?lang=`, default `fi`). Thin: the app
//! authorises (registrars, the responsible person, supervisors,
//! administrators) and builds the record; this shapes it.

use askama::Template;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::register::ProcessingRecord;
use serde::Deserialize;

use super::Caller;
use super::params::query;
use crate::error::Result;

/// The query: `format` and `lang`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordQuery {
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    lang: Option<String>,
}

#[derive(Template)]
#[template(path = "processing_record.html")]
struct RecordPage<'a> {
    record: &'a ProcessingRecord,
    rows: Vec<(&'static str, String)>,
    heading: &'static str,
    section_label: &'static str,
    value_label: &'static str,
}

/// The page's fixed words in the record's language.
fn labels(language: &str) -> (&'static str, &'static str, &'static str) {
    match language {
        "sv" => ("Register över behandlingar", "Avsnitt", "Uppgift"),
        "en" => ("Record of processing activities", "Section", "Entry"),
        _ => ("Selosteen käsittelytoimista", "Kohta", "Tieto"),
    }
}

/// `GET /api/v1/processing-record`.
pub async fn record(
    State(app): State<Kirjuri>,
    caller: Caller,
    request: std::result::Result<Query<RecordQuery>, QueryRejection>,
) -> Result<Response> {
    let request = query(request)?;
    let language = request.lang.as_deref().unwrap_or("fi");
    let record = app
        .read_processing_record(&caller.actor, caller.id, language)
        .await?;
    Ok(match request.format.as_deref().unwrap_or("json") {
        "json" => Json(record).into_response(),
        "csv" => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"processing-record.csv\"",
                ),
            ],
            record.to_csv()?,
        )
            .into_response(),
        "html" => {
            let (heading, section_label, value_label) = labels(&record.language);
            let page = RecordPage {
                rows: record.rows(),
                record: &record,
                heading,
                section_label,
                value_label,
            };
            let html = page
                .render()
                .map_err(|_| Error::Internal("the record's page could not be rendered"))?;
            Html(html).into_response()
        }
        _ => {
            return Err(Error::bad_request(
                "invalid_parameter",
                "format must be json, csv or html",
            )
            .into());
        }
    })
}
