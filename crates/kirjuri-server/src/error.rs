//! The server's one error type, and the one place that decides what a client
//! sees for it (STYLE.md 10). Expected failures get a precise status, code and
//! message; anything else is an opaque 500 with a code, its cause logged by id
//! only. No message here ever contains personal data: the layers below build
//! theirs without quoting values.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What went wrong while serving a request or running a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed: bad JSON, a bad identifier, a bad parameter.
    #[error("{message}")]
    BadRequest {
        /// Stable machine-readable code.
        code: &'static str,
        /// Plain-language explanation for the caller.
        message: String,
    },
    /// The recording body is not an acceptable WAV file.
    #[error(transparent)]
    Wav(#[from] kirjuri_core::wav::WavError),
    /// No valid credentials.
    #[error("authentication required")]
    Unauthenticated,
    /// A sign-in was refused. One answer for every reason (unknown name,
    /// wrong password or code, locked or disabled account), so it reveals
    /// neither which names exist nor which accounts are locked.
    #[error(
        "the name, password or code is wrong, or the account is locked or disabled; \
         an administrator can unlock it"
    )]
    LoginFailed,
    /// The password was right, and the account also needs its TOTP code.
    #[error("this account needs its TOTP code as well (\"totp\")")]
    TotpRequired,
    /// Too many failed sign-ins from this address; try again later.
    #[error("too many failed sign-ins from this address; try again in {retry_after_seconds} s")]
    TooManyRequests {
        /// Seconds until the next attempt is accepted (`Retry-After`).
        retry_after_seconds: u64,
    },
    /// Every place for a password check is taken; try again in a moment.
    #[error("the server is busy checking passwords; try again in a moment")]
    Busy,
    /// A cookie-authenticated write without the session's CSRF token.
    #[error("this request needs the session's CSRF token in the X-CSRF-Token header")]
    CsrfFailed,
    /// Valid credentials, but the access decision said no.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Not there — or not yours, which must look the same.
    #[error("not found")]
    NotFound,
    /// It was there and was destroyed under a retention rule or an erasure
    /// request; `tombstone` is the proof (ids, kind, rule, dates, digest —
    /// no personal data).
    #[error("{what} was destroyed; its tombstone says when and under which rule")]
    Gone {
        /// `this contact's data`, `this recording`, ….
        what: &'static str,
        /// The tombstone, as the API shows it.
        tombstone: serde_json::Value,
    },
    /// The request conflicts with what is stored.
    #[error("{message}")]
    Conflict {
        /// Stable machine-readable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// The body is larger than allowed.
    #[error("the body is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// Wrong Content-Type.
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    /// A Range that cannot be satisfied.
    #[error("the requested range is outside the recording ({len} bytes)")]
    RangeNotSatisfiable {
        /// The recording's length.
        len: u64,
    },
    /// The client went away or the body could not be read.
    #[error("the request body could not be read")]
    BodyRead,
    /// Stored data failed its integrity check: tampering or corruption.
    #[error("stored data failed its integrity check")]
    Integrity(#[source] kirjuri_vault::Error),
    /// The vault failed.
    #[error("vault failure")]
    Vault(#[source] kirjuri_vault::Error),
    /// The database failed.
    #[error("database failure")]
    Store(#[from] kirjuri_store::Error),
    /// Anything else internal.
    #[error("{0}")]
    Internal(String),
    /// A local file step failed (the erasure ledger, backups): the step and
    /// path, with the operating system's error as the cause.
    #[error(transparent)]
    File(#[from] kirjuri_vault::fsio::Error),
    /// The audit log's checkpoint writer refused to sign: the stored log or
    /// checkpoints do not extend the last signed tree (AUD-2). The message
    /// names sizes and sequence numbers only.
    #[error("audit log integrity: {0}")]
    AuditChain(String),
}

/// Result alias for the server crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<kirjuri_vault::Error> for Error {
    fn from(e: kirjuri_vault::Error) -> Self {
        if matches!(
            e,
            kirjuri_vault::Error::Integrity(_) | kirjuri_vault::Error::Truncated { .. }
        ) {
            Error::Integrity(e)
        } else {
            Error::Vault(e)
        }
    }
}

impl From<kirjuri_core::Error> for Error {
    fn from(e: kirjuri_core::Error) -> Self {
        let code = match &e {
            kirjuri_core::Error::InvalidIdentifier { .. } => "invalid_identifier",
            kirjuri_core::Error::InvalidContact(_) => "invalid_contact",
            kirjuri_core::Error::Unknown {
                kind: "purpose", ..
            } => "purpose_unknown",
            kirjuri_core::Error::Unknown { .. } => "invalid_value",
            _ => "invalid_value",
        };
        Error::BadRequest {
            code,
            message: e.to_string(),
        }
    }
}

impl Error {
    /// Shorthand for a 400.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// Status and code the client sees.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Error::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            Error::Wav(e) => (StatusCode::UNPROCESSABLE_ENTITY, e.code()),
            Error::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Error::LoginFailed => (StatusCode::UNAUTHORIZED, "login_failed"),
            Error::TotpRequired => (StatusCode::UNAUTHORIZED, "totp_required"),
            Error::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            Error::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Error::CsrfFailed => (StatusCode::FORBIDDEN, "csrf_failed"),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Error::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Error::Gone { .. } => (StatusCode::GONE, "gone"),
            Error::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            Error::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            Error::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Error::RangeNotSatisfiable { .. } => {
                (StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable")
            }
            Error::BodyRead => (StatusCode::BAD_REQUEST, "body_unreadable"),
            Error::Integrity(_) => (StatusCode::INTERNAL_SERVER_ERROR, "integrity_failure"),
            Error::Vault(_) => (StatusCode::INTERNAL_SERVER_ERROR, "vault_failure"),
            Error::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "store_failure"),
            Error::Internal(_) | Error::File(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            Error::AuditChain(_) => (StatusCode::INTERNAL_SERVER_ERROR, "audit_integrity"),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if status.is_server_error() && !matches!(self, Error::Busy) {
            // The cause goes to the operator's log (it holds no personal data:
            // lower layers never quote values); the client gets a code only.
            tracing::error!(code, error = ?self, "request failed");
            format!("internal error ({code}); the operator's log has the details")
        } else {
            self.to_string()
        };
        let mut body = json!({"error": {"code": code, "message": message}});
        if let Error::Gone { tombstone, .. } = &self
            && let Some(error) = body.get_mut("error").and_then(|e| e.as_object_mut())
        {
            error.insert("tombstone".into(), tombstone.clone());
        }
        let mut response = (status, Json(body)).into_response();
        if let Error::RangeNotSatisfiable { len } = self
            && let Ok(value) = format!("bytes */{len}").parse()
        {
            response
                .headers_mut()
                .insert(axum::http::header::CONTENT_RANGE, value);
        }
        if let Error::TooManyRequests {
            retry_after_seconds,
        } = self
        {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_seconds),
            );
        }
        if matches!(self, Error::Busy) {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        if matches!(self, Error::Unauthenticated) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
