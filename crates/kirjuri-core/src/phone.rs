//! Phone numbers, normalised to E.164 with Finnish defaults (DESIGN.md REG-4).
//!
//! Accepts national form (`040 123 4567`), `00` and `+` international prefixes,
//! spaces, dashes, dots and parentheses. Does not classify ranges beyond what
//! validation needs, and never echoes the number in an error.

use crate::error::{Error, Result};

/// A validated phone number in E.164 form, e.g. `+358401234567`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses and normalises. `field` names the input in error messages.
    pub fn parse(input: &str, field: &'static str) -> Result<Self> {
        let _ = (input, field);
        Err(Error::InvalidIdentifier { field, reason: "not implemented" })
    }

    /// The E.164 form.
    pub fn e164(&self) -> &str {
        &self.0
    }
}

/// Redacted: phone numbers never appear in Debug output (logs, panics).
impl std::fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PhoneNumber(<redacted>)")
    }
}
