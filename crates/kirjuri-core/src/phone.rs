//! Phone numbers, normalised to E.164 with Finnish defaults (docs/requirements.md REG-4,
//! privacy reference §3.5 and J.55).
//!
//! Accepts national form with the trunk prefix (`040 123 4567`), the `00` and
//! `+` international prefixes, and spaces, dashes, dots and parentheses as
//! separators. Finnish numbers get a coarse range classification
//! ([`FinnishNumberKind`]) for display and routing hints.
//!
//! Not here: carrier-selection prefixes (`99x`), numbers written without any
//! prefix (`401234567` is ambiguous, so it is refused), per-country length
//! rules for foreign numbers beyond E.164's limits, and any lookup of who owns
//! a number. Errors never echo the number.

use crate::error::{Error, Result};

/// Longest input looked at, in bytes. Anything longer is refused before any
/// other work: a phone number with every separator allowed still fits easily.
const MAX_INPUT_BYTES: usize = 64;

/// E.164: at most 15 digits, country code included.
const MAX_E164_DIGITS: usize = 15;

/// Shortest foreign number accepted, country code included. The shortest
/// numbering plans in use (e.g. +683 Niue, +290 St Helena) have 7 digits.
const MIN_FOREIGN_DIGITS: usize = 7;

/// Finland's country code.
const FINLAND: &str = "358";

/// Finnish national significant number length bounds (Traficom numbering).
const MIN_FINNISH_NSN: usize = 5;
const MAX_FINNISH_NSN: usize = 12;

/// A validated phone number in E.164 form, e.g. `+358401234567`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

/// What kind of Finnish number this is, judged from the leading digits of the
/// national significant number. With number portability this says nothing
/// about the operator, and ranges may be reassigned: treat it as a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FinnishNumberKind {
    /// Mobile: 04x and 050.
    Mobile,
    /// A geographic landline: area codes 02–09 and 013–019 (Helsinki 09,
    /// Åland 018).
    Landline,
    /// Free to the caller: 0800.
    Freephone,
    /// Premium-rate service numbers: 0600 and 0700.
    Premium,
    /// National or shared-cost numbers: 010, 020, 029, 030 and 075.
    National,
    /// A Finnish number in none of the ranges above.
    Other,
}

impl PhoneNumber {
    /// Parses and normalises. `field` names the input in error messages.
    ///
    /// A `0` right after `+358` / `00358` (`+358 (0)40 …`, a common way of
    /// writing it) is taken as a misplaced trunk prefix and dropped.
    pub fn parse(input: &str, field: &'static str) -> Result<Self> {
        let invalid = |reason: &'static str| Error::InvalidIdentifier { field, reason };

        if input.len() > MAX_INPUT_BYTES {
            return Err(invalid("is too long to be a phone number"));
        }
        if input.chars().any(char::is_control) {
            return Err(invalid("contains control characters"));
        }
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(invalid("is empty"));
        }

        let (has_plus, digits) = scan(trimmed).map_err(invalid)?;
        if digits.is_empty() {
            return Err(invalid("contains no digits"));
        }

        let international: &str = if has_plus {
            &digits
        } else if let Some(rest) = digits.strip_prefix("00") {
            rest
        } else if let Some(nsn) = digits.strip_prefix('0') {
            return finnish(nsn).map(Self).map_err(invalid);
        } else {
            return Err(invalid("must start with 0, 00 or +"));
        };

        if let Some(nsn) = international.strip_prefix(FINLAND) {
            // `+358 0…`: the trunk prefix written after the country code.
            let nsn = nsn.strip_prefix('0').unwrap_or(nsn);
            return finnish(nsn).map(Self).map_err(invalid);
        }
        foreign(international).map(Self).map_err(invalid)
    }

    /// The E.164 form.
    pub fn e164(&self) -> &str {
        &self.0
    }

    /// Whether the number is in Finland's numbering plan (+358).
    pub fn is_finnish(&self) -> bool {
        self.finnish_nsn().is_some()
    }

    /// Whether the number is a Finnish mobile number (04x, 050).
    pub fn is_finnish_mobile(&self) -> bool {
        self.finnish_kind() == Some(FinnishNumberKind::Mobile)
    }

    /// The range a Finnish number belongs to; `None` for foreign numbers.
    pub fn finnish_kind(&self) -> Option<FinnishNumberKind> {
        self.finnish_nsn().map(classify_finnish)
    }

    /// The national significant number (no trunk `0`) of a Finnish number.
    fn finnish_nsn(&self) -> Option<&str> {
        self.0.strip_prefix('+')?.strip_prefix(FINLAND)
    }
}

/// Redacted: phone numbers never appear in Debug output (logs, panics).
impl std::fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PhoneNumber(<redacted>)")
    }
}

/// Walks the trimmed input once: checks the characters, the `+` and the
/// parentheses, and collects the digits. Returns whether a leading `+` was
/// present.
fn scan(trimmed: &str) -> std::result::Result<(bool, String), &'static str> {
    let mut digits = String::with_capacity(trimmed.len());
    let mut has_plus = false;
    let mut in_parens = false;
    for (position, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if has_plus => return Err("has more than one plus sign"),
            '+' if position != 0 => return Err("has a plus sign that is not at the start"),
            '+' => has_plus = true,
            '(' if in_parens => return Err("has nested parentheses"),
            '(' => in_parens = true,
            ')' if !in_parens => return Err("has unbalanced parentheses"),
            ')' => in_parens = false,
            ' ' | '-' | '.' => {}
            // Non-breaking and other Unicode spaces arrive through copy-paste.
            c if c.is_whitespace() => {}
            c if c.is_alphabetic() => return Err("contains letters"),
            _ => return Err("contains characters other than digits and separators"),
        }
    }
    if in_parens {
        return Err("has unbalanced parentheses");
    }
    Ok((has_plus, digits))
}

/// A Finnish national significant number (trunk `0` already removed) to E.164.
fn finnish(nsn: &str) -> std::result::Result<String, &'static str> {
    if nsn.starts_with('0') {
        return Err("has too many leading zeros");
    }
    if nsn.len() < MIN_FINNISH_NSN {
        return Err("is too short for a Finnish number");
    }
    if nsn.len() > MAX_FINNISH_NSN {
        return Err("is too long for a Finnish number");
    }
    Ok(format!("+{FINLAND}{nsn}"))
}

/// A foreign number, country code first, to E.164.
fn foreign(digits: &str) -> std::result::Result<String, &'static str> {
    if digits.is_empty() {
        return Err("has no country code");
    }
    if digits.starts_with('0') {
        return Err("has a country code starting with 0");
    }
    if digits.len() < MIN_FOREIGN_DIGITS {
        return Err("is too short");
    }
    if digits.len() > MAX_E164_DIGITS {
        return Err("is longer than the 15 digits E.164 allows");
    }
    Ok(format!("+{digits}"))
}

/// Classifies a Finnish NSN by its leading digits. Order matters: `800`
/// before the landline `8`, `20`/`29`/`30` before the landlines `2`/`3`, `50`
/// before the landline `5`.
fn classify_finnish(nsn: &str) -> FinnishNumberKind {
    const TABLE: &[(&str, FinnishNumberKind)] = &[
        ("800", FinnishNumberKind::Freephone),
        ("600", FinnishNumberKind::Premium),
        ("700", FinnishNumberKind::Premium),
        ("10", FinnishNumberKind::National),
        ("20", FinnishNumberKind::National),
        ("29", FinnishNumberKind::National),
        ("30", FinnishNumberKind::National),
        ("75", FinnishNumberKind::National),
        ("4", FinnishNumberKind::Mobile),
        ("50", FinnishNumberKind::Mobile),
        ("13", FinnishNumberKind::Landline),
        ("14", FinnishNumberKind::Landline),
        ("15", FinnishNumberKind::Landline),
        ("16", FinnishNumberKind::Landline),
        ("17", FinnishNumberKind::Landline),
        ("18", FinnishNumberKind::Landline),
        ("19", FinnishNumberKind::Landline),
        ("2", FinnishNumberKind::Landline),
        ("3", FinnishNumberKind::Landline),
        ("5", FinnishNumberKind::Landline),
        ("6", FinnishNumberKind::Landline),
        ("8", FinnishNumberKind::Landline),
        ("9", FinnishNumberKind::Landline),
    ];
    TABLE
        .iter()
        .find(|(prefix, _)| nsn.starts_with(prefix))
        .map_or(FinnishNumberKind::Other, |(_, kind)| *kind)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn e164(input: &str) -> String {
        match PhoneNumber::parse(input, "phone") {
            Ok(number) => number.e164().to_owned(),
            Err(error) => panic!("{input:?} should parse, got {error}"),
        }
    }

    fn reason(input: &str) -> &'static str {
        match PhoneNumber::parse(input, "phone") {
            Ok(number) => panic!("{input:?} should be refused, got {}", number.e164()),
            Err(Error::InvalidIdentifier { field, reason }) => {
                assert_eq!(field, "phone");
                reason
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn a_finnish_mobile_in_national_form_becomes_e164() {
        assert_eq!(e164("040 123 4567"), "+358401234567");
    }

    #[test]
    fn a_helsinki_landline_in_national_form_becomes_e164() {
        assert_eq!(e164("09 1234 5678"), "+358912345678");
    }

    #[test]
    fn an_international_finnish_number_with_spaces_becomes_e164() {
        assert_eq!(e164("+358 9 123 456"), "+3589123456");
    }

    #[test]
    fn the_00_prefix_works_for_finnish_and_foreign_numbers() {
        assert_eq!(e164("00358 40 1234567"), "+358401234567");
        assert_eq!(e164("0046 8 123 456"), "+468123456");
    }

    #[test]
    fn dashes_dots_and_parentheses_are_separators() {
        assert_eq!(e164("(09) 123 4567"), "+35891234567");
        assert_eq!(e164("040-123-4567"), "+358401234567");
        assert_eq!(e164("040.123.4567"), "+358401234567");
        assert_eq!(e164("+358 (40) 123-45.67"), "+358401234567");
    }

    #[test]
    fn a_non_breaking_space_from_copy_paste_is_a_separator() {
        assert_eq!(e164("040\u{a0}123\u{a0}4567"), "+358401234567");
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        assert_eq!(e164("  040 123 4567 "), "+358401234567");
    }

    #[test]
    fn a_trunk_zero_after_the_country_code_is_dropped() {
        assert_eq!(e164("+358 040 123 4567"), "+358401234567");
        assert_eq!(e164("+358 (0)40 123 4567"), "+358401234567");
        assert_eq!(e164("00358 09 1234 5678"), "+358912345678");
    }

    #[test]
    fn two_zeros_after_the_country_code_are_refused() {
        assert_eq!(reason("+358 0040 123 4567"), "has too many leading zeros");
    }

    #[test]
    fn an_empty_or_blank_number_is_refused() {
        assert_eq!(reason(""), "is empty");
        assert_eq!(reason("   "), "is empty");
    }

    #[test]
    fn only_separators_is_refused() {
        assert_eq!(reason("( ) - ."), "contains no digits");
        assert_eq!(reason("+"), "contains no digits");
    }

    #[test]
    fn letters_are_refused() {
        assert_eq!(reason("040 ABC 4567"), "contains letters");
        assert_eq!(reason("0401234567x"), "contains letters");
    }

    #[test]
    fn symbols_other_than_separators_are_refused() {
        assert_eq!(
            reason("040/123 4567"),
            "contains characters other than digits and separators"
        );
        assert_eq!(
            reason("040*1234567"),
            "contains characters other than digits and separators"
        );
    }

    #[test]
    fn a_misplaced_or_repeated_plus_is_refused() {
        assert_eq!(reason("++358401234567"), "has more than one plus sign");
        assert_eq!(reason("+358+401234567"), "has more than one plus sign");
        assert_eq!(
            reason("358+401234567"),
            "has a plus sign that is not at the start"
        );
        assert_eq!(
            reason("(+358) 40 1234567"),
            "has a plus sign that is not at the start"
        );
    }

    #[test]
    fn unbalanced_or_nested_parentheses_are_refused() {
        assert_eq!(reason("(09 123 4567"), "has unbalanced parentheses");
        assert_eq!(reason("09) 123 4567"), "has unbalanced parentheses");
        assert_eq!(reason("((09)) 123 4567"), "has nested parentheses");
    }

    #[test]
    fn control_characters_are_refused() {
        assert_eq!(reason("040 123\n4567"), "contains control characters");
        assert_eq!(reason("040\u{0}1234567"), "contains control characters");
        assert_eq!(reason("\t0401234567"), "contains control characters");
    }

    #[test]
    fn a_number_without_any_prefix_is_refused_as_ambiguous() {
        assert_eq!(reason("401234567"), "must start with 0, 00 or +");
        assert_eq!(reason("358401234567"), "must start with 0, 00 or +");
    }

    #[test]
    fn finnish_numbers_outside_5_to_12_digits_are_refused() {
        assert_eq!(reason("0123"), "is too short for a Finnish number");
        assert_eq!(reason("+358 1234"), "is too short for a Finnish number");
        assert_eq!(
            reason("0 1234 5678 9012 3"),
            "is too long for a Finnish number"
        );
        assert_eq!(e164("012345"), "+35812345");
        assert_eq!(e164("0 1234 5678 9012"), "+358123456789012");
    }

    #[test]
    fn foreign_numbers_outside_e164_lengths_are_refused() {
        assert_eq!(reason("+46 12"), "is too short");
        assert_eq!(
            reason("+1 234 567 890 123 456"),
            "is longer than the 15 digits E.164 allows"
        );
        assert_eq!(e164("+1 234 567 890 123 45"), "+123456789012345");
    }

    #[test]
    fn a_zero_country_code_is_refused() {
        assert_eq!(reason("000 123 4567"), "has a country code starting with 0");
        assert_eq!(reason("+0 123 4567"), "has a country code starting with 0");
        assert_eq!(reason("00"), "has no country code");
    }

    #[test]
    fn very_long_input_is_refused_before_parsing() {
        let long = format!("040 {}", " ".repeat(100));
        assert_eq!(reason(&long), "is too long to be a phone number");
    }

    #[test]
    fn errors_and_debug_never_show_the_number() {
        let number = PhoneNumber::parse("040 123 4567", "phone").unwrap();
        assert_eq!(format!("{number:?}"), "PhoneNumber(<redacted>)");
        let error = PhoneNumber::parse("040 123 4567 x", "phone").unwrap_err();
        assert!(!format!("{error} {error:?}").contains("123"));
    }

    #[test]
    fn finnish_ranges_are_classified() {
        let kind = |input: &str| PhoneNumber::parse(input, "phone").unwrap().finnish_kind();
        assert_eq!(kind("040 123 4567"), Some(FinnishNumberKind::Mobile));
        assert_eq!(kind("050 123 4567"), Some(FinnishNumberKind::Mobile));
        assert_eq!(kind("0457 123 4567"), Some(FinnishNumberKind::Mobile));
        assert_eq!(kind("09 1234 5678"), Some(FinnishNumberKind::Landline));
        assert_eq!(kind("018 123 456"), Some(FinnishNumberKind::Landline));
        assert_eq!(kind("02 123 4567"), Some(FinnishNumberKind::Landline));
        assert_eq!(kind("05 123 4567"), Some(FinnishNumberKind::Landline));
        assert_eq!(kind("0800 123 456"), Some(FinnishNumberKind::Freephone));
        assert_eq!(kind("0600 123 456"), Some(FinnishNumberKind::Premium));
        assert_eq!(kind("0700 123 456"), Some(FinnishNumberKind::Premium));
        for national in [
            "010 123 4567",
            "020 123 4567",
            "029 123 4567",
            "030 123 4567",
            "075 123 4567",
        ] {
            assert_eq!(
                kind(national),
                Some(FinnishNumberKind::National),
                "{national}"
            );
        }
        assert_eq!(kind("011 123 4567"), Some(FinnishNumberKind::Other));
        assert_eq!(kind("+46 8 123 456"), None);
    }

    #[test]
    fn only_finnish_mobiles_are_finnish_mobiles() {
        let number = |input: &str| PhoneNumber::parse(input, "phone").unwrap();
        assert!(number("040 123 4567").is_finnish_mobile());
        assert!(!number("09 123 4567").is_finnish_mobile());
        assert!(!number("+44 7700 900123").is_finnish_mobile());
        assert!(number("09 123 4567").is_finnish());
        assert!(!number("+44 7700 900123").is_finnish());
    }

    proptest! {
        #[test]
        fn parsing_never_panics_on_arbitrary_text(input in any::<String>()) {
            let _ = PhoneNumber::parse(&input, "phone");
        }

        #[test]
        fn parsing_never_panics_on_phone_like_text(input in "[0-9+()\\-. ]{0,80}") {
            let _ = PhoneNumber::parse(&input, "phone");
        }

        #[test]
        fn parsing_refuses_huge_input_without_panicking(repeat in 1usize..50_000) {
            let huge = "0".repeat(repeat + MAX_INPUT_BYTES);
            prop_assert!(PhoneNumber::parse(&huge, "phone").is_err());
        }

        #[test]
        fn the_e164_output_is_a_fixed_point(input in "(\\+|00|0)[0-9 ().-]{0,30}") {
            if let Ok(number) = PhoneNumber::parse(&input, "phone") {
                let again = PhoneNumber::parse(number.e164(), "phone");
                prop_assert_eq!(again, Ok(number.clone()));
                prop_assert!(number.e164().len() <= 1 + MAX_E164_DIGITS);
                prop_assert!(number.e164()[1..].bytes().all(|b| b.is_ascii_digit()));
            }
        }

        #[test]
        fn any_finnish_nsn_round_trips_through_national_and_international_form(
            nsn in "[1-9][0-9]{4,11}",
        ) {
            let national = PhoneNumber::parse(&format!("0{nsn}"), "phone").unwrap();
            let international = PhoneNumber::parse(&format!("+358{nsn}"), "phone").unwrap();
            let expected = format!("+358{nsn}");
            prop_assert_eq!(national.e164(), expected.as_str());
            prop_assert_eq!(international, national);
        }
    }
}
