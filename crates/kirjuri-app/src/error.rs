//! The application's one error type. Each variant has a stable code
//! ([`Error::code`]) and says whose fault it is ([`Error::is_callers`]); the
//! web layer (`kirjuri_web::error`) decides the HTTP status, the command line
//! the exit message (it prints the whole cause chain).
//!
//! Failures keep their cause as a `#[source]` rather than formatting it into
//! a string: an I/O step ([`Error::Io`]), a background task
//! ([`Error::Join`]), an encoding ([`Error::Encode`]), the database
//! ([`Error::Store`], [`Error::StoreOpen`]), the vault, password hashing.
//! A configuration the application refuses is [`Error::Config`]: it names
//! the setting and is the operator's to fix (code `config_refused`), not a
//! bug. [`Error::Internal`] is left for broken invariants, with a fixed
//! message.
//!
//! No message here ever contains personal data: the layers below build
//! theirs without quoting values, and where a cause could quote one it is
//! not kept — a stored value that fails to decode keeps only where and how
//! it failed ([`DecodeError`]: serde_json would quote the value), and
//! totp-rs's errors (which quote the account name) are dropped.

use std::fmt;

/// A cause from a layer this crate does not know (the web layer's HTTP and
/// TLS types), kept for the log.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a stored JSON value could not be decoded: serde_json's category and
/// position, never its message (which quotes the offending value, and the
/// value may be personal data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError {
    /// Syntax, data (wrong shape), end of input or I/O.
    pub category: serde_json::error::Category,
    /// 1-based line of the failure.
    pub line: usize,
    /// 1-based column of the failure.
    pub column: usize,
}

impl From<&serde_json::Error> for DecodeError {
    fn from(e: &serde_json::Error) -> Self {
        Self {
            category: e.classify(),
            line: e.line(),
            column: e.column(),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.category {
            serde_json::error::Category::Io => "an I/O error",
            serde_json::error::Category::Syntax => "invalid JSON",
            serde_json::error::Category::Data => "a value of the wrong shape",
            serde_json::error::Category::Eof => "an early end",
        };
        write!(f, "{what} at line {}, column {}", self.line, self.column)
    }
}

impl std::error::Error for DecodeError {}

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
    /// A step that needs a second person was tried by the first: the
    /// requester of a disclosure approving or refusing it (`four_eyes`).
    #[error("{0}")]
    FourEyes(&'static str),
    /// The data subject has restricted the processing of their data or
    /// objected to this purpose (DSR-4): `restricted` or `objected`.
    #[error("{message}")]
    Limited {
        /// `restricted` or `objected`.
        code: &'static str,
        /// Explanation.
        message: &'static str,
    },
    /// Well formed, but refused on its meaning: a recipient outside the
    /// EU/EEA, a refusal without a legal ground.
    #[error("{message}")]
    Unprocessable {
        /// Stable machine-readable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// Not there — or not yours, which must look the same.
    #[error("not found")]
    NotFound,
    /// The path exists, but not for this method (the answer's `Allow`
    /// header names the ones it takes).
    #[error("this path does not take this method; Allow lists the ones it takes")]
    MethodNotAllowed,
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
    /// A broken invariant: something that cannot happen unless this code
    /// is wrong. A fixed message; anything with a cause has its own variant.
    #[error("{0}")]
    Internal(&'static str),
    /// The configuration is refused (the operator's to fix): `setting` names
    /// the key, `problem` what is wrong with it — never a secret or a URL.
    #[error("refusing to start: {setting} {problem}")]
    Config {
        /// The configuration key, e.g. `database.country`.
        setting: &'static str,
        /// What is wrong and how to fix it, a predicate of the setting
        /// ("is required with …", "must be between 1 and 600 (it is 0)").
        problem: String,
        /// What reading or checking the setting failed with, if anything.
        #[source]
        source: Option<BoxError>,
    },
    /// A local I/O step failed; `step` says which, on which path.
    #[error("{step}")]
    Io {
        /// What was being done, e.g. "failed to create /data/instances".
        step: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A background task panicked or was cancelled.
    #[error("{task} failed")]
    Join {
        /// Which task, e.g. "the sign-in task".
        task: &'static str,
        /// Tokio's account of it.
        #[source]
        source: tokio::task::JoinError,
    },
    /// A value could not be encoded as JSON for storage or signing.
    #[error("failed to encode {what}")]
    Encode {
        /// What, e.g. "a contact".
        what: &'static str,
        /// serde_json's error (encoding never quotes values).
        #[source]
        source: serde_json::Error,
    },
    /// A stored value decrypted but does not decode: corruption or a bug.
    #[error("{what} {id} is unreadable")]
    Decode {
        /// What, e.g. "the document of contact".
        what: &'static str,
        /// Its id (never its contents).
        id: String,
        /// Where decoding failed, without the value.
        #[source]
        source: Option<DecodeError>,
    },
    /// Local files or stored data disagree with each other (the erasure
    /// ledger, object storage against the database): the message names the
    /// file, object or block, and what is wrong.
    #[error("{0}")]
    Damaged(String),
    /// Argon2 could not hash a password.
    #[error("password hashing failed")]
    PasswordHash(#[source] argon2::password_hash::Error),
    /// The PostgreSQL database could not be opened; `url` has its password
    /// redacted.
    #[error("failed to open the PostgreSQL database ({url})")]
    StoreOpen {
        /// The redacted URL.
        url: String,
        /// The database's error.
        #[source]
        source: kirjuri_store::Error,
    },
    /// A step in a layer this crate does not know failed (the web layer:
    /// building a response, its connection slots).
    #[error("{step}")]
    Other {
        /// What was being done.
        step: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
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

/// A failure that is neither the caller's nor a bug: a dependency is down
/// or the disk is full. The web layer answers these 503 or 507 with a
/// message saying so, and the client may try again later; nothing was
/// stored (every write commits whole or not at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Outage {
    /// The database cannot be reached (connection refused, pool timed out).
    #[error("the database is unavailable; nothing was stored, try again later")]
    Database,
    /// The object store cannot be reached.
    #[error("the object store is unavailable; nothing was stored, try again later")]
    ObjectStore,
    /// The disk (the data folder's or the database's) is full.
    #[error("the server's storage is full; nothing was stored, try again later")]
    StorageFull,
}

impl Outage {
    /// The outage behind `error`, found by walking its causes as
    /// [`Error::outage`] does; for an error that is not (or does not wrap)
    /// this crate's, only what is unambiguous: a full disk, or the store's
    /// own connection failures.
    pub fn find(error: &(dyn std::error::Error + 'static)) -> Option<Outage> {
        let mut cause = Some(error);
        while let Some(error) = cause {
            if let Some(app) = error.downcast_ref::<Error>() {
                return app.outage();
            }
            if let Some(store) = error.downcast_ref::<kirjuri_store::Error>() {
                if store.is_storage_full() {
                    return Some(Outage::StorageFull);
                }
                if store.is_unreachable() {
                    return Some(Outage::Database);
                }
            }
            if let Some(io) = error.downcast_ref::<std::io::Error>()
                && matches!(
                    io.kind(),
                    std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
                )
            {
                return Some(Outage::StorageFull);
            }
            if error.to_string().contains("No space left on device") {
                return Some(Outage::StorageFull);
            }
            cause = error.source();
        }
        None
    }

    /// What happened, for a command's one-line error.
    pub fn what(self) -> &'static str {
        match self {
            Outage::Database => "the database is unavailable",
            Outage::ObjectStore => "the object store is unavailable",
            Outage::StorageFull => "the disk is full",
        }
    }

    /// The error code a client sees.
    pub fn code(self) -> &'static str {
        match self {
            Outage::Database => "database_unavailable",
            Outage::ObjectStore => "object_store_unavailable",
            Outage::StorageFull => "storage_full",
        }
    }
}

impl Error {
    /// The outage behind this error, found by walking its causes: a full
    /// disk (`ENOSPC`, SQLite's `SQLITE_FULL`), a database connection that
    /// failed or timed out, or a network failure reaching the object store.
    pub fn outage(&self) -> Option<Outage> {
        let under_store = matches!(self, Error::Store(_) | Error::StoreOpen { .. });
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(error) = cause {
            if let Some(store) = error.downcast_ref::<kirjuri_store::Error>() {
                if store.is_storage_full() {
                    return Some(Outage::StorageFull);
                }
                if store.is_unreachable() {
                    return Some(Outage::Database);
                }
            }
            if let Some(io) = error.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind;
                match io.kind() {
                    ErrorKind::StorageFull | ErrorKind::QuotaExceeded => {
                        return Some(Outage::StorageFull);
                    }
                    ErrorKind::ConnectionRefused
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::NotConnected
                    | ErrorKind::TimedOut
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable
                    | ErrorKind::BrokenPipe => {
                        return Some(if under_store {
                            Outage::Database
                        } else {
                            Outage::ObjectStore
                        });
                    }
                    _ => {}
                }
            }
            if error.to_string().contains("No space left on device") {
                return Some(Outage::StorageFull);
            }
            cause = error.source();
        }
        None
    }
}

/// Result alias for the application crate.
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
        if let kirjuri_core::Error::Refused { code, reason } = e {
            return Error::Conflict {
                code,
                message: reason.to_owned(),
            };
        }
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
    /// An I/O step that failed: `step` says what was done, on which path.
    pub fn io(step: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            step: step.into(),
            source,
        }
    }

    /// A refused setting, with no further cause.
    pub fn config(setting: &'static str, problem: impl Into<String>) -> Self {
        Error::Config {
            setting,
            problem: problem.into(),
            source: None,
        }
    }

    /// A stored JSON value of `what` `id` that does not decode; keeps only
    /// where it failed (serde_json's message would quote the value).
    pub fn decode(what: &'static str, id: impl fmt::Display, e: &serde_json::Error) -> Self {
        Error::Decode {
            what,
            id: id.to_string(),
            source: Some(DecodeError::from(e)),
        }
    }

    /// Shorthand for a 400.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// The stable, machine-readable code a client or operator sees for this
    /// error (`{"error":{"code":…}}` in the API; the CLI prints it too).
    pub fn code(&self) -> &'static str {
        if let Some(outage) = self.outage() {
            return outage.code();
        }
        match self {
            Error::BadRequest { code, .. }
            | Error::Conflict { code, .. }
            | Error::Limited { code, .. }
            | Error::Unprocessable { code, .. } => code,
            Error::Wav(e) => e.code(),
            Error::Unauthenticated => "unauthenticated",
            Error::LoginFailed => "login_failed",
            Error::TotpRequired => "totp_required",
            Error::TooManyRequests { .. } => "too_many_requests",
            Error::Busy => "busy",
            Error::CsrfFailed => "csrf_failed",
            Error::Forbidden(_) => "forbidden",
            Error::FourEyes(_) => "four_eyes",
            Error::NotFound => "not_found",
            Error::MethodNotAllowed => "method_not_allowed",
            Error::Gone { .. } => "gone",
            Error::TooLarge { .. } => "body_too_large",
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            Error::BodyRead => "body_unreadable",
            Error::Integrity(_) => "integrity_failure",
            Error::Vault(_) => "vault_failure",
            Error::Store(_) => "store_failure",
            Error::Config { .. } => "config_refused",
            Error::Internal(_)
            | Error::Io { .. }
            | Error::Join { .. }
            | Error::Encode { .. }
            | Error::Decode { .. }
            | Error::Damaged(_)
            | Error::PasswordHash(_)
            | Error::StoreOpen { .. }
            | Error::Other { .. }
            | Error::File(_) => "internal",
            Error::AuditChain(_) => "audit_integrity",
        }
    }

    /// Whether the caller can do something about it (a bad request, a
    /// refusal, a conflict, something not there, try again later) rather
    /// than the operator (storage, integrity, a bug). Only the caller's
    /// errors may show their message; the others show their code and are
    /// logged.
    ///
    /// The match names every variant, so a new one must be placed on one
    /// side or the other.
    pub fn is_callers(&self) -> bool {
        match self {
            Error::BadRequest { .. }
            | Error::Conflict { .. }
            | Error::Wav(_)
            | Error::Unauthenticated
            | Error::LoginFailed
            | Error::TotpRequired
            | Error::TooManyRequests { .. }
            | Error::Busy
            | Error::CsrfFailed
            | Error::Forbidden(_)
            | Error::FourEyes(_)
            | Error::Limited { .. }
            | Error::Unprocessable { .. }
            | Error::NotFound
            | Error::MethodNotAllowed
            | Error::Gone { .. }
            | Error::TooLarge { .. }
            | Error::UnsupportedMediaType(_)
            | Error::RangeNotSatisfiable { .. }
            | Error::BodyRead => true,
            Error::Integrity(_)
            | Error::Vault(_)
            | Error::Store(_)
            | Error::StoreOpen { .. }
            | Error::File(_)
            | Error::Io { .. }
            | Error::Join { .. }
            | Error::Damaged(_)
            | Error::Encode { .. }
            | Error::Decode { .. }
            | Error::PasswordHash(_)
            | Error::Config { .. }
            | Error::Internal(_)
            | Error::Other { .. }
            | Error::AuditChain(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_value_that_fails_to_decode_never_quotes_the_value() {
        let e = serde_json::from_str::<u32>("\"Matti Meikäläinen\"").unwrap_err();
        assert!(e.to_string().contains("Matti"), "serde_json quotes it: {e}");
        let error = Error::decode("the document of contact", "c-1", &e);
        let chain = format!("{error}: {}", std::error::Error::source(&error).unwrap());
        assert!(!chain.contains("Matti"), "{chain}");
        assert!(chain.contains("c-1") && chain.contains("line 1"), "{chain}");
        assert_eq!(error.code(), "internal");
        assert!(!error.is_callers());
    }

    #[test]
    fn a_refused_setting_is_the_operators_and_names_the_setting() {
        let error = Error::config("max_connections", "must be between 1 and 10 (it is 0)");
        assert_eq!(error.code(), "config_refused");
        assert!(!error.is_callers());
        assert!(
            error.to_string().contains("max_connections must be"),
            "{error}"
        );
    }
}
