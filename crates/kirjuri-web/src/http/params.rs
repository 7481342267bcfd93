//! What the API handlers read from a request besides its body: the query
//! string's parameters (a refusal names an unknown parameter at most, never
//! quotes a value) and the media type of `Content-Type`.
//!
//! Not here: the JSON bodies (each handler module knows its own shapes).

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::{HeaderMap, header};
use kirjuri_app::Error;

/// The query string's parameters, or a 400 naming an unknown parameter or
/// saying the query is malformed.
pub fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, Error> {
    query.map(|Query(value)| value).map_err(|e| query_error(&e))
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

/// Refuses a body whose media type is not `expected` with 415 and
/// `refusal` (which says what to send).
pub fn require_content_type(
    headers: &HeaderMap,
    expected: &str,
    refusal: &'static str,
) -> Result<(), Error> {
    if content_type(headers) == expected {
        Ok(())
    } else {
        Err(Error::UnsupportedMediaType(refusal))
    }
}

/// The media type of the request's `Content-Type` (parameters dropped), or
/// `""` without one.
pub fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or("")
}
