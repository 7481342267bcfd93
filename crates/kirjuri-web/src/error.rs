//! The one place that decides what an HTTP client sees for an application
//! error (STYLE.md 10): [`HttpError`] wraps `kirjuri_app::Error` and turns it
//! into a status, a JSON body `{"error":{"code","message"}}` and the headers
//! that go with it (`Retry-After`, `Content-Range`, `WWW-Authenticate`).
//! The caller's errors get a precise status, code and message; the
//! operator's are an opaque 500 with a code, their cause logged (it holds no
//! personal data: the layers below never quote values).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kirjuri_app::Error;
use serde_json::json;

/// An application error on its way to an HTTP client.
#[derive(Debug)]
pub struct HttpError(pub Error);

/// Result alias for handlers: their errors become HTTP answers.
pub type Result<T, E = HttpError> = std::result::Result<T, E>;

impl<E> From<E> for HttpError
where
    E: Into<Error>,
{
    fn from(e: E) -> Self {
        HttpError(e.into())
    }
}

/// The status an application error is answered with: 500 for every error
/// that is the operator's (the application decides which, in
/// `Error::is_callers`), a precise 4xx (or 503) for the caller's.
pub fn status(error: &Error) -> StatusCode {
    if let Some(outage) = error.outage() {
        return match outage {
            kirjuri_app::error::Outage::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            kirjuri_app::error::Outage::Database | kirjuri_app::error::Outage::ObjectStore => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
    }
    if !error.is_callers() {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    match error {
        Error::BadRequest { .. } | Error::BodyRead => StatusCode::BAD_REQUEST,
        Error::Wav(_) | Error::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        Error::Unauthenticated | Error::LoginFailed | Error::TotpRequired => {
            StatusCode::UNAUTHORIZED
        }
        Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Busy => StatusCode::SERVICE_UNAVAILABLE,
        Error::CsrfFailed | Error::Forbidden(_) | Error::FourEyes(_) | Error::Limited { .. } => {
            StatusCode::FORBIDDEN
        }
        Error::NotFound => StatusCode::NOT_FOUND,
        Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Error::Gone { .. } => StatusCode::GONE,
        Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Error::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
        // A caller's error with no status of its own yet: say so loudly
        // rather than guess a 4xx.
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The message a client may see: the error's own for the caller's errors,
/// only its code for the operator's (whose cause is logged here, once).
pub fn client_message(error: &Error) -> String {
    if let Some(outage) = error.outage() {
        // Logged with its cause (which names steps and paths, never data).
        tracing::warn!(code = outage.code(), error = ?error, "request failed: {outage}");
        return outage.to_string();
    }
    if error.is_callers() {
        error.to_string()
    } else {
        let code = error.code();
        tracing::error!(code, error = ?error, "request failed");
        format!("internal error ({code}); the operator's log has the details")
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let HttpError(error) = self;
        let code = error.code();
        let mut body = json!({"error": {"code": code, "message": client_message(&error)}});
        if let Error::Gone { tombstone, .. } = &error
            && let Some(object) = body.get_mut("error").and_then(|e| e.as_object_mut())
        {
            object.insert("tombstone".into(), tombstone.clone());
        }
        let mut response = (status(&error), Json(body)).into_response();
        let headers = response.headers_mut();
        match error {
            Error::RangeNotSatisfiable { len } => {
                if let Ok(value) = format!("bytes */{len}").parse() {
                    headers.insert(header::CONTENT_RANGE, value);
                }
            }
            Error::TooManyRequests {
                retry_after_seconds,
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
            }
            Error::Busy => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Error::Unauthenticated => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}
