//! The Finnish personal identity code (henkilötunnus): date, century sign
//! (including the 2023 signs), individual number and mod-31 check character.

use crate::error::{Error, Result};

/// A validated personal identity code, stored with all 11 characters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonalIdentityCode(String);

impl PersonalIdentityCode {
    /// Parses and validates. `field` names the input in error messages.
    pub fn parse(input: &str, field: &'static str) -> Result<Self> {
        let _ = input;
        Err(Error::InvalidIdentifier { field, reason: "not implemented" })
    }

    /// All 11 characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PersonalIdentityCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonalIdentityCode(<redacted>)")
    }
}
