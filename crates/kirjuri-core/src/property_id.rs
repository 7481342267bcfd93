//! Finnish property identifiers (kiinteistötunnus, privacy reference §3.4 and
//! J.54): short (`91-403-1-1`), zero-padded (`091-403-0001-0001`) and 14-digit
//! (`09140300010001`) forms all parse to one canonical value. There is no
//! check digit, so validation is about shape only.
//!
//! Not here: sub-area (määräala) identifiers with an `M####` part, which are
//! refused until their rules are confirmed against the MML guidelines, and any
//! check that the property exists. A property identifier changes when
//! properties merge or split; storing it as a dated attribute is the store's
//! job. The value is treated as personal data (it can point to a home), so
//! Debug output and errors never show it.

use crate::error::{Error, Result};

/// Longest input looked at, in bytes; the longest accepted form has 17.
const MAX_INPUT_BYTES: usize = 64;

/// The widths of the four parts: municipality, area, group, unit.
const WIDTHS: [usize; 4] = [3, 3, 4, 4];

/// Total digits in the database form.
const DATABASE_DIGITS: usize = 14;

/// A validated property identifier.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PropertyId {
    /// The 14-digit database form, e.g. `09140300010001`. Always 14 ASCII
    /// digits with a non-zero municipality part.
    digits: String,
}

impl PropertyId {
    /// Parses any accepted form. `field` names the input in error messages.
    ///
    /// Municipality `000` is refused: DVV's municipality numbers start at 005.
    pub fn parse(input: &str, field: &'static str) -> Result<Self> {
        let invalid = |reason: &'static str| Error::InvalidIdentifier { field, reason };

        if input.len() > MAX_INPUT_BYTES {
            return Err(invalid("is too long to be a property identifier"));
        }
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(invalid("is empty"));
        }

        let digits = if trimmed.contains('-') {
            from_hyphenated(trimmed).map_err(invalid)?
        } else {
            from_database_form(trimmed).map_err(invalid)?
        };
        if digits.starts_with("000") {
            return Err(invalid("has municipality number 000, which does not exist"));
        }
        Ok(Self { digits })
    }

    /// The canonical display form, `NNN-NNN-NNNN-NNNN`.
    pub fn canonical(&self) -> String {
        self.parts().join("-")
    }

    /// The 14-digit database form.
    pub fn database_form(&self) -> &str {
        &self.digits
    }

    /// The short form with leading zeros dropped from each part, as MML
    /// prints it, e.g. `91-403-1-1`.
    pub fn short(&self) -> String {
        self.parts()
            .iter()
            .map(|part| match part.trim_start_matches('0') {
                "" => "0",
                digits => digits,
            })
            .collect::<Vec<_>>()
            .join("-")
    }

    /// The four zero-padded parts of the database form.
    fn parts(&self) -> [&str; 4] {
        let mut parts = [""; 4];
        let mut start = 0;
        for (part, width) in parts.iter_mut().zip(WIDTHS) {
            // `digits` is always 14 ASCII digits, so these slices never fail.
            *part = self.digits.get(start..start + width).unwrap_or_default();
            start += width;
        }
        parts
    }
}

/// The canonical form, `NNN-NNN-NNNN-NNNN`.
impl std::fmt::Display for PropertyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.canonical())
    }
}

/// Redacted: a property identifier can point to someone's home.
impl std::fmt::Debug for PropertyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PropertyId(<redacted>)")
    }
}

/// Short or zero-padded hyphenated form to the 14-digit form.
fn from_hyphenated(trimmed: &str) -> std::result::Result<String, &'static str> {
    let parts: Vec<&str> = trimmed.split('-').collect();
    if parts.iter().any(|part| part.contains(['M', 'm'])) {
        return Err("is a sub-area (määräala) identifier, which is not supported");
    }
    if parts.len() != WIDTHS.len() {
        return Err("must have four parts separated by hyphens");
    }
    let mut digits = String::with_capacity(DATABASE_DIGITS);
    for (part, width) in parts.into_iter().zip(WIDTHS) {
        if part.is_empty() {
            return Err("has an empty part");
        }
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must contain only digits and hyphens");
        }
        if part.len() > width {
            return Err("has a part with too many digits");
        }
        digits.extend(std::iter::repeat_n('0', width - part.len()));
        digits.push_str(part);
    }
    Ok(digits)
}

/// The 14-digit database form, checked.
fn from_database_form(trimmed: &str) -> std::result::Result<String, &'static str> {
    if trimmed.contains(['M', 'm']) {
        return Err("is a sub-area (määräala) identifier, which is not supported");
    }
    if !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must contain only digits and hyphens");
    }
    if trimmed.len() != DATABASE_DIGITS {
        return Err("must have 14 digits when written without hyphens");
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn id(input: &str) -> PropertyId {
        match PropertyId::parse(input, "property_id") {
            Ok(id) => id,
            Err(error) => panic!("{input:?} should parse, got {error}"),
        }
    }

    fn reason(input: &str) -> &'static str {
        match PropertyId::parse(input, "property_id") {
            Ok(id) => panic!("{input:?} should be refused, got {id}"),
            Err(Error::InvalidIdentifier { field, reason }) => {
                assert_eq!(field, "property_id");
                reason
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn the_three_forms_of_the_worked_example_are_one_identifier() {
        let short = id("91-403-1-1");
        let padded = id("091-403-0001-0001");
        let database = id("09140300010001");
        assert_eq!(short, padded);
        assert_eq!(padded, database);
        assert_eq!(short.canonical(), "091-403-0001-0001");
        assert_eq!(short.database_form(), "09140300010001");
        assert_eq!(short.short(), "91-403-1-1");
    }

    #[test]
    fn a_unit_number_zero_keeps_its_zero_in_the_short_form() {
        let short = id("927-445-15-0");
        assert_eq!(short, id("92744500150000"));
        assert_eq!(short.database_form(), "92744500150000");
        assert_eq!(short.canonical(), "927-445-0015-0000");
        assert_eq!(short.short(), "927-445-15-0");
    }

    #[test]
    fn display_is_the_canonical_form() {
        assert_eq!(id("91-403-1-1").to_string(), "091-403-0001-0001");
    }

    #[test]
    fn surrounding_whitespace_is_trimmed() {
        assert_eq!(id("  91-403-1-1\n"), id("09140300010001"));
        assert_eq!(id(" 09140300010001 "), id("91-403-1-1"));
    }

    #[test]
    fn public_area_group_codes_are_accepted() {
        assert_eq!(id("91-1-9901-1").canonical(), "091-001-9901-0001");
    }

    #[test]
    fn empty_input_is_refused() {
        assert_eq!(reason(""), "is empty");
        assert_eq!(reason("   "), "is empty");
    }

    #[test]
    fn letters_and_other_separators_are_refused() {
        assert_eq!(reason("91-4O3-1-1"), "must contain only digits and hyphens");
        assert_eq!(reason("91 403 1 1"), "must contain only digits and hyphens");
        assert_eq!(
            reason("091403000100O1"),
            "must contain only digits and hyphens"
        );
        assert_eq!(
            reason("+91-403-1-1"),
            "must contain only digits and hyphens"
        );
    }

    #[test]
    fn a_wrong_number_of_parts_is_refused() {
        assert_eq!(
            reason("91-403-1"),
            "must have four parts separated by hyphens"
        );
        assert_eq!(
            reason("91-403-1-1-1"),
            "must have four parts separated by hyphens"
        );
    }

    #[test]
    fn empty_parts_are_refused() {
        assert_eq!(reason("91--1-1"), "has an empty part");
        assert_eq!(reason("-403-1-1"), "has an empty part");
        assert_eq!(reason("91-403-1-"), "has an empty part");
    }

    #[test]
    fn parts_wider_than_3_3_4_4_are_refused() {
        assert_eq!(reason("0091-403-1-1"), "has a part with too many digits");
        assert_eq!(reason("91-4030-1-1"), "has a part with too many digits");
        assert_eq!(reason("91-403-00001-1"), "has a part with too many digits");
        assert_eq!(reason("91-403-1-00001"), "has a part with too many digits");
    }

    #[test]
    fn the_unhyphenated_form_needs_exactly_14_digits() {
        assert_eq!(
            reason("0914030001000"),
            "must have 14 digits when written without hyphens"
        );
        assert_eq!(
            reason("091403000100010"),
            "must have 14 digits when written without hyphens"
        );
    }

    #[test]
    fn sub_area_identifiers_are_refused_with_their_own_reason() {
        let expected = "is a sub-area (määräala) identifier, which is not supported";
        assert_eq!(reason("91-403-1-1-M601"), expected);
        assert_eq!(reason("91-403-1-1-m601"), expected);
        assert_eq!(reason("0914030001000M0601"), expected);
        assert_eq!(reason("91-403-1-1M601"), expected);
    }

    #[test]
    fn municipality_zero_is_refused() {
        let expected = "has municipality number 000, which does not exist";
        assert_eq!(reason("0-403-1-1"), expected);
        assert_eq!(reason("00040300010001"), expected);
    }

    #[test]
    fn very_long_input_is_refused_before_parsing() {
        assert_eq!(
            reason(&"1".repeat(65)),
            "is too long to be a property identifier"
        );
    }

    #[test]
    fn errors_and_debug_never_show_the_identifier() {
        assert_eq!(format!("{:?}", id("91-403-1-1")), "PropertyId(<redacted>)");
        let error = PropertyId::parse("91-403-1-1-1", "property_id").unwrap_err();
        assert!(!format!("{error} {error:?}").contains("403"));
    }

    proptest! {
        #[test]
        fn parsing_never_panics_on_arbitrary_text(input in any::<String>()) {
            let _ = PropertyId::parse(&input, "property_id");
        }

        #[test]
        fn parsing_never_panics_on_identifier_like_text(input in "[0-9Mm -]{0,40}") {
            let _ = PropertyId::parse(&input, "property_id");
        }

        #[test]
        fn parsing_refuses_huge_input_without_panicking(repeat in 1usize..50_000) {
            let huge = "1".repeat(repeat + MAX_INPUT_BYTES);
            prop_assert!(PropertyId::parse(&huge, "property_id").is_err());
        }

        #[test]
        fn the_three_forms_agree_and_are_fixed_points(
            municipality in 1u32..=999,
            area in 0u32..=999,
            group in 0u32..=9999,
            unit in 0u32..=9999,
        ) {
            let short = format!("{municipality}-{area}-{group}-{unit}");
            let padded = format!("{municipality:03}-{area:03}-{group:04}-{unit:04}");
            let database = format!("{municipality:03}{area:03}{group:04}{unit:04}");

            let from_short = PropertyId::parse(&short, "p").unwrap();
            prop_assert_eq!(&PropertyId::parse(&padded, "p").unwrap(), &from_short);
            prop_assert_eq!(&PropertyId::parse(&database, "p").unwrap(), &from_short);

            prop_assert_eq!(from_short.short(), short);
            prop_assert_eq!(from_short.canonical(), padded);
            prop_assert_eq!(from_short.database_form(), database.as_str());

            for form in [from_short.short(), from_short.canonical(), from_short.database_form().to_owned()] {
                prop_assert_eq!(&PropertyId::parse(&form, "p").unwrap(), &from_short);
            }
        }
    }
}
