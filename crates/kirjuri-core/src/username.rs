//! Account names (`aino`, `pbx-1`). Contacts name their agent by it, so the
//! agent-only-sees-own rule compares these exactly.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A validated account name: 1–64 characters of ASCII letters, digits and
/// `.`, `_`, `-`, `@`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UserName(String);

impl UserName {
    /// Parses an account name. `field` names the input in error messages.
    pub fn parse(input: &str, field: &'static str) -> Result<Self> {
        let invalid = |reason| Error::InvalidIdentifier { field, reason };
        if input.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if input.len() > 64 {
            return Err(invalid("must be at most 64 characters"));
        }
        if !input.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(invalid("must start with a letter or digit"));
        }
        if !input
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        {
            return Err(invalid(
                "may hold only ASCII letters, digits, '.', '_', '-' and '@'",
            ));
        }
        Ok(Self(input.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for UserName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        UserName::parse(&s, "user name").map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_parse_and_hostile_ones_do_not() {
        for ok in ["aino", "pbx-1", "sanna.s", "a@b", "A1"] {
            assert!(UserName::parse(ok, "agent").is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-x",
            "a b",
            "ä",
            "a/b",
            "a\0",
            &"x".repeat(65),
            "<script>",
        ] {
            assert!(UserName::parse(bad, "agent").is_err(), "{bad:?}");
        }
    }
}
