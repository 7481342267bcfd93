//! Finnish property identifiers (kiinteistötunnus): short (`91-403-1-1`),
//! zero-padded (`091-403-0001-0001`) and 14-digit (`09140300010001`) forms
//! all parse to one canonical value. There is no check digit.

use crate::error::{Error, Result};

/// A validated property identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PropertyId {
    /// The 14-digit database form, e.g. `09140300010001`.
    digits: String,
}

impl PropertyId {
    /// Parses any accepted form. `field` names the input in error messages.
    pub fn parse(input: &str, field: &'static str) -> Result<Self> {
        let _ = input;
        Err(Error::InvalidIdentifier { field, reason: "not implemented" })
    }

    /// The canonical display form, `NNN-NNN-NNNN-NNNN`.
    pub fn canonical(&self) -> String {
        self.digits.clone()
    }

    /// The 14-digit database form.
    pub fn database_form(&self) -> &str {
        &self.digits
    }
}
