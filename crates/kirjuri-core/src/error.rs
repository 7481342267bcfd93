//! The core crate's one error type. Messages name the problem and the field,
//! never the offending value: a rejected phone number must not end up in a log.

/// Everything that can go wrong in the domain layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An identifier (phone, email, property ID, identity code) did not parse.
    /// `field` names where it came from, `reason` says what is wrong with it,
    /// and neither contains the value itself.
    #[error("{field}: {reason}")]
    InvalidIdentifier {
        field: &'static str,
        reason: &'static str,
    },
    /// A contact failed validation (missing or contradictory fields).
    #[error("{0}")]
    InvalidContact(String),
    /// An unknown purpose, role or channel name.
    #[error("unknown {kind} '{name}'")]
    Unknown { kind: &'static str, name: String },
    /// A Merkle proof was asked for a leaf index or an earlier tree size that
    /// the tree does not have (see [`crate::merkle`]).
    #[error("{what} {value} is out of range for a tree of {size} leaves")]
    MerkleRange {
        what: &'static str,
        value: u64,
        size: u64,
    },
    /// A domain rule refused an operation on a valid request (e.g. a second
    /// extension of a data-subject request's deadline). `code` is stable
    /// for clients; `reason` says which rule, in plain words.
    #[error("{reason}")]
    Refused {
        code: &'static str,
        reason: &'static str,
    },
}

/// Result alias for the core crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `error` followed by each of its causes (`a: b: c`), so that a failure
/// says what the operating system said ("No space left on device"), not
/// only which file it was writing. A cause already quoted in the text
/// before it (database drivers' messages quote theirs) is not repeated.
pub fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let said = next.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = next.source();
    }
    text
}
