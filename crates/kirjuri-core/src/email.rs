//! Email addresses: trimmed, checked for shape, domain lower-cased (REG-4).

use crate::error::{Error, Result};

/// A validated email address.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Parses and normalises. `field` names the input in error messages.
    pub fn parse(input: &str, field: &'static str) -> Result<Self> {
        let _ = (input, field);
        Err(Error::InvalidIdentifier { field, reason: "not implemented" })
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used for the blind index: the whole address lower-cased.
    pub fn index_form(&self) -> String {
        self.0.to_lowercase()
    }
}

impl std::fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmailAddress(<redacted>)")
    }
}
