//! The vault's one error type.
//!
//! Messages name files, object ids, key ids and segment indexes — never key
//! material and never a byte of plaintext or ciphertext, so an error can be
//! logged as it is. This module does not decide what an HTTP client sees; the
//! server maps these variants.

use std::io;
use std::path::PathBuf;

use kirjuri_core::ids::ObjectId;

/// Everything that can go wrong in the vault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Authentication failed: the data was tampered with, truncated,
    /// reordered, belongs to another object, or was sealed under another key.
    /// The message says where (e.g. which segment), never what.
    #[error("integrity check failed: {0}")]
    Integrity(String),

    /// The bytes are not in a format this version understands (bad magic,
    /// unknown version, impossible length).
    #[error("malformed data: {0}")]
    Format(String),

    /// The caller asked for something impossible (a range past the end, an
    /// object too large for the format).
    #[error("invalid request: {0}")]
    InvalidInput(String),

    /// A wrapped data key names a key-encryption key the keyring does not hold.
    #[error("unknown key-encryption key {0}")]
    UnknownKek(u32),

    /// The key file is readable or writable by someone other than its owner.
    #[error(
        "key file {path} has permissions {mode:04o}; it must be accessible by its owner only \
         (fix with: chmod 600 {path})"
    )]
    InsecureKeyFile {
        /// The offending key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// The key file exists but cannot be used (bad JSON, unknown format
    /// version, wrong key length, no current key, a changed root secret).
    #[error("key file {path}: {message}")]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// No finished object has this id.
    #[error("object {0} not found")]
    NotFound(ObjectId),

    /// An object (or an upload) with this id already exists; objects are
    /// immutable and never overwritten.
    #[error("object {0} already exists")]
    AlreadyExists(ObjectId),

    /// The stored object is shorter than the range asked for.
    #[error("object {id} is truncated: wanted bytes up to {wanted}, it holds {len}")]
    Truncated {
        /// The object.
        id: ObjectId,
        /// The end of the requested range.
        wanted: u64,
        /// The object's actual length.
        len: u64,
    },

    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,

    /// An I/O step failed; `context` says which.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, e.g. "failed to fsync /data/objects/tmp".
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl From<crate::fsio::Error> for Error {
    fn from(e: crate::fsio::Error) -> Self {
        match e {
            crate::fsio::Error::Io { context, source } => Error::Io { context, source },
            crate::fsio::Error::Task(join) => Error::Io {
                context: "a background file task failed".into(),
                source: io::Error::other(join),
            },
            crate::fsio::Error::Random => Error::Random,
        }
    }
}

/// The vault's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches a description of the failed step to an `io::Error`.
pub(crate) trait IoContext<T> {
    /// Wraps the error with `context()`, computed only on failure.
    fn io_context<F: FnOnce() -> String>(self, context: F) -> Result<T>;
}

impl<T> IoContext<T> for std::result::Result<T, io::Error> {
    fn io_context<F: FnOnce() -> String>(self, context: F) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: context(),
            source,
        })
    }
}
