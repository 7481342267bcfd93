//! Ticket references (`INC-12345`): the only form a reader's stated reason
//! (`reason=`, ACC-1) may take. The reason is written to the audit log, which
//! is never purged (AUD-1), so free text — where a caller's name or number
//! would end up, as in "caller Kerttu Korhonen 050-7654321" — is refused
//! at the edge. A reference points into the organisation's ticket system,
//! where the story is told and can be erased.
//!
//! The shape is strict: 2–10 ASCII letters, a dash, 1–8 digits (Jira's
//! `PROJ-123`, `INC-12345`). A phone number as people write it does not fit
//! — it starts with digits or `+`, has spaces, or is longer than 8 digits
//! with its area code — and neither does a sentence. What still fits is
//! deliberate misuse (a surname as the prefix, a 7-digit local number as the
//! digits): the rule stops free text by accident, not a reader set on
//! smuggling a few characters; that reader's every access is audited. The
//! prefix is upper-cased so one reference has one stored spelling.

use std::fmt;

use serde::Serialize;

use crate::error::{Error, Result};

/// Most letters in a reference's prefix.
pub const MAX_PREFIX_LETTERS: usize = 10;
/// Most digits in a reference's number.
pub const MAX_DIGITS: usize = 8;

/// A validated ticket reference, e.g. `INC-12345` (prefix upper-cased).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct TicketReference(String);

impl TicketReference {
    /// Parses a reference: 2–10 ASCII letters, `-`, 1–8 digits, nothing
    /// else (surrounding spaces are trimmed). `field` names the input in
    /// the error, which never quotes it.
    pub fn parse(input: &str, field: &'static str) -> Result<Self> {
        let invalid = || Error::InvalidIdentifier {
            field,
            reason: "must be a ticket reference: 2–10 letters, a dash and 1–8 digits, e.g. INC-12345",
        };
        let (prefix, number) = input.trim().split_once('-').ok_or_else(invalid)?;
        let prefix_ok = (2..=MAX_PREFIX_LETTERS).contains(&prefix.len())
            && prefix.bytes().all(|b| b.is_ascii_alphabetic());
        let number_ok =
            (1..=MAX_DIGITS).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_digit());
        if !prefix_ok || !number_ok {
            return Err(invalid());
        }
        Ok(Self(format!("{}-{number}", prefix.to_ascii_uppercase())))
    }

    /// The reference, prefix upper-cased.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TicketReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_reference_parses_and_its_prefix_is_upper_cased() {
        for (input, canonical) in [
            ("INC-12345", "INC-12345"),
            ("inc-1", "INC-1"),
            (" CHG-00000042 ", "CHG-00000042"),
            ("ServiceDsk-9", "SERVICEDSK-9"),
        ] {
            assert_eq!(
                TicketReference::parse(input, "reason").unwrap().as_str(),
                canonical
            );
        }
    }

    #[test]
    fn free_text_phone_numbers_and_names_are_not_ticket_references() {
        for input in [
            "",
            "x",
            "ticket 42",
            "codec fault, ticket 4711",
            "caller Kerttu Korhonen 050-7654321",
            "050-7654321",
            "+358401234567",
            "INC-123456789",
            "INC12345",
            "I-1",
            "ABCDEFGHIJK-1",
            "INC-12a",
            "INC-",
            "-123",
            "INC-1-2",
            "ÄÖ-12",
            "INC 12",
        ] {
            assert!(
                TicketReference::parse(input, "reason").is_err(),
                "{input:?} was accepted"
            );
        }
    }

    #[test]
    fn the_error_never_quotes_the_input() {
        let message = TicketReference::parse("Kerttu Korhonen 050-7654321", "reason")
            .unwrap_err()
            .to_string();
        assert!(!message.contains("Korhonen"), "{message}");
        assert!(!message.contains("7654321"), "{message}");
    }
}
