//! The Finnish personal identity code (henkilötunnus, privacy reference §3.3
//! and J.51): date, century sign (including the signs added on 1.1.2023),
//! individual number and mod-31 check character.
//!
//! Codes are stored with all 11 characters and compared exactly: since 2023
//! two people born on the same day may differ only by century sign. Lower-case
//! input is accepted and upper-cased.
//!
//! Finding codes in free text ([`find_all`], issue 14 §4) and masking them
//! ([`mask_all`]) are here too: only a candidate with a valid check character
//! counts, so an order number that merely looks like a code is left alone.
//!
//! Not here: whether a deployment may record codes at all (1050/2018 §29 is a
//! configuration decision), checking a birth date
//! against today (this crate reads no clock), or deriving sex from the
//! individual number. Debug output and errors never show the code.

use chrono::{Datelike, NaiveDate};

use crate::error::{Error, Result};

/// The check characters, indexed by `DDMMYYZZZ mod 31` (no G, I, O, Q, Z).
const CHECK_CHARACTERS: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";

/// Individual numbers from this one up are temporary or test codes.
const FIRST_TEMPORARY: u32 = 900;

/// Individual numbers below this one are not issued.
const FIRST_ISSUED: u32 = 2;

/// A validated personal identity code, stored with all 11 characters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonalIdentityCode {
    /// All 11 characters, upper case.
    code: String,
    /// The date of birth the code encodes, century included.
    birth_date: NaiveDate,
    /// The three-digit individual number, 002–999.
    individual_number: u32,
}

impl PersonalIdentityCode {
    /// Parses and validates. `field` names the input in error messages.
    ///
    /// Surrounding whitespace is ignored. Individual numbers 900–999 are
    /// accepted and flagged by [`Self::is_temporary`]; 000 and 001 are refused.
    pub fn parse(input: &str, field: &'static str) -> Result<Self> {
        let invalid = |reason: &'static str| Error::InvalidIdentifier { field, reason };

        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(invalid("is empty"));
        }
        if trimmed.len() != 11 || !trimmed.is_ascii() {
            return Err(invalid("must be 11 characters long"));
        }
        let code = trimmed.to_ascii_uppercase();
        let bytes = code.as_bytes();

        let (date_digits, sign, individual, check) =
            (&bytes[0..6], bytes[6], &bytes[7..10], bytes[10]);
        if !date_digits.iter().chain(individual).all(u8::is_ascii_digit) {
            return Err(invalid(
                "must have digits for the date and the individual number",
            ));
        }
        let century = match sign {
            b'+' => 1800,
            b'-' | b'Y' | b'X' | b'W' | b'V' | b'U' => 1900,
            b'A' | b'B' | b'C' | b'D' | b'E' | b'F' => 2000,
            _ => return Err(invalid("has an unknown century sign")),
        };

        let day = decimal(&date_digits[0..2]);
        let month = decimal(&date_digits[2..4]);
        let year = century + decimal(&date_digits[4..6]);
        let birth_date = i32::try_from(year)
            .ok()
            .and_then(|year| NaiveDate::from_ymd_opt(year, month, day))
            .ok_or_else(|| invalid("does not encode a real date"))?;

        let individual_number = decimal(individual);
        if individual_number < FIRST_ISSUED {
            return Err(invalid(
                "has individual number 000 or 001, which are not issued",
            ));
        }

        let number = decimal(date_digits) * 1000 + individual_number;
        let expected = CHECK_CHARACTERS.get((number % 31) as usize).copied();
        if expected != Some(check) {
            return Err(invalid("has a check character that does not match"));
        }

        Ok(Self {
            code,
            birth_date,
            individual_number,
        })
    }

    /// All 11 characters.
    pub fn as_str(&self) -> &str {
        &self.code
    }

    /// The date of birth, with the century from the century sign.
    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    /// Whether this is a temporary or test code (individual number 900–999).
    pub fn is_temporary(&self) -> bool {
        self.individual_number >= FIRST_TEMPORARY
    }

    /// The year of birth; shorthand for `birth_date().year()`.
    pub fn birth_year(&self) -> i32 {
        self.birth_date.year()
    }
}

impl std::fmt::Debug for PersonalIdentityCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonalIdentityCode(<redacted>)")
    }
}

/// The value of a run of ASCII digits (already checked; at most 6 here).
fn decimal(digits: &[u8]) -> u32 {
    digits
        .iter()
        .fold(0, |value, digit| value * 10 + u32::from(digit - b'0'))
}

/// Every valid personal identity code in `text`, with its byte range, in
/// order. A candidate is 11 ASCII characters standing alone (no letter or
/// digit right before or after it) that [`PersonalIdentityCode::parse`]
/// accepts, so an invalid check character, date or century sign is no
/// match. Lower case is found as `parse` accepts it.
pub fn find_all(
    text: &str,
) -> impl Iterator<Item = (std::ops::Range<usize>, PersonalIdentityCode)> + '_ {
    let bytes = text.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while at + 11 <= bytes.len() {
            let start = at;
            at += 1;
            let end = start + 11;
            let alone_before = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
            let alone_after = bytes.get(end).is_none_or(|b| !b.is_ascii_alphanumeric());
            if !(alone_before && alone_after && bytes[start].is_ascii_digit()) {
                continue;
            }
            // Only ASCII is a candidate, so the window is on char boundaries.
            let Some(window) = text.get(start..end) else {
                continue;
            };
            if let Ok(code) = PersonalIdentityCode::parse(window, "text") {
                at = end;
                return Some((start..end, code));
            }
        }
        None
    })
}

/// `text` with every code [`find_all`] finds masked after its century sign
/// (`131052-308T` → `131052-****`): what an agent's view shows. Nothing
/// else changes, and the length in bytes stays the same.
pub fn mask_all(text: &str) -> String {
    let mut masked = String::with_capacity(text.len());
    let mut from = 0;
    for (range, _) in find_all(text) {
        masked.push_str(text.get(from..range.start + 7).unwrap_or_default());
        masked.push_str("****");
        from = range.end;
    }
    masked.push_str(text.get(from..).unwrap_or_default());
    masked
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The DVV fictitious test persons from the privacy reference §3.3.
    const DVV_VECTORS: [&str; 21] = [
        "010594Y9032",
        "010594Y9021",
        "020594X903P",
        "020594X902N",
        "030594W903B",
        "030694W9024",
        "040594V9030",
        "040594V902Y",
        "050594U903M",
        "050594U902L",
        "010516B903X",
        "010516B902W",
        "020516C903K",
        "020516C902J",
        "030516D9037",
        "030516D9026",
        "010501E9032",
        "020502E902X",
        "020503F9037",
        "020504A902E",
        "020504B904H",
    ];

    fn code(input: &str) -> PersonalIdentityCode {
        match PersonalIdentityCode::parse(input, "hetu") {
            Ok(code) => code,
            Err(error) => panic!("{input:?} should parse, got {error}"),
        }
    }

    fn reason(input: &str) -> &'static str {
        match PersonalIdentityCode::parse(input, "hetu") {
            Ok(code) => panic!("{input:?} should be refused, got {}", code.as_str()),
            Err(Error::InvalidIdentifier { field, reason }) => {
                assert_eq!(field, "hetu");
                reason
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    #[test]
    fn every_dvv_test_person_validates() {
        for vector in DVV_VECTORS {
            let parsed = code(vector);
            assert_eq!(parsed.as_str(), vector);
            assert!(parsed.is_temporary(), "{vector} has individual number 9xx");
        }
    }

    #[test]
    fn the_new_century_signs_give_the_right_century() {
        assert_eq!(code("010594Y9032").birth_date(), date(1994, 5, 1));
        assert_eq!(code("030694W9024").birth_date(), date(1994, 6, 3));
        assert_eq!(code("010516B903X").birth_date(), date(2016, 5, 1));
        assert_eq!(code("020504A902E").birth_date(), date(2004, 5, 2));
        assert_eq!(code("020503F9037").birth_year(), 2003);
    }

    #[test]
    fn the_classic_example_validates_as_a_permanent_code() {
        let classic = code("131052-308T");
        assert_eq!(classic.birth_date(), date(1952, 10, 13));
        assert!(!classic.is_temporary());
    }

    #[test]
    fn the_telp_illustration_with_check_k_is_refused() {
        assert_eq!(
            reason("010190-999K"),
            "has a check character that does not match"
        );
    }

    #[test]
    fn the_corrected_telp_illustration_validates_and_is_temporary() {
        let corrected = code("010190-999W");
        assert!(corrected.is_temporary());
        assert_eq!(corrected.birth_date(), date(1990, 1, 1));
    }

    #[test]
    fn the_plus_sign_means_the_1800s() {
        // 010100002 mod 31 = 17 → H.
        assert_eq!(code("010100+002H").birth_date(), date(1800, 1, 1));
    }

    #[test]
    fn codes_differing_only_by_century_sign_are_different_people() {
        assert_ne!(code("010594Y9032"), code("010594-9032"));
        assert_eq!(
            code("010594-9032").birth_date(),
            code("010594Y9032").birth_date()
        );
    }

    #[test]
    fn lower_case_input_is_upper_cased() {
        let lower = code("010594y9032");
        assert_eq!(lower.as_str(), "010594Y9032");
        assert_eq!(lower, code("010594Y9032"));
        assert_eq!(code("131052-308t").as_str(), "131052-308T");
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        assert_eq!(code("  131052-308T\n").as_str(), "131052-308T");
    }

    #[test]
    fn leap_days_follow_the_century() {
        // 290200002 mod 31 = 12 → C: valid in 2000, not in 1900 (not a leap year).
        assert_eq!(code("290200A002C").birth_date(), date(2000, 2, 29));
        assert_eq!(reason("290200-002C"), "does not encode a real date");
        // 290201002 mod 31 = 22 → M, but 2001 has no 29 February.
        assert_eq!(reason("290201A002M"), "does not encode a real date");
    }

    #[test]
    fn impossible_dates_are_refused() {
        assert_eq!(reason("320194-9021"), "does not encode a real date");
        assert_eq!(reason("001394-9021"), "does not encode a real date");
        assert_eq!(reason("000194-9021"), "does not encode a real date");
        assert_eq!(reason("310494-9021"), "does not encode a real date");
    }

    #[test]
    fn individual_numbers_000_and_001_are_refused() {
        // Check characters computed for 010190000 (→ N) and 010190001 (→ P)
        // so only the individual number is wrong.
        assert_eq!(
            reason("010190-000N"),
            "has individual number 000 or 001, which are not issued"
        );
        assert_eq!(
            reason("010190-001P"),
            "has individual number 000 or 001, which are not issued"
        );
    }

    #[test]
    fn the_wrong_length_is_refused() {
        assert_eq!(reason(""), "is empty");
        assert_eq!(reason("131052-308"), "must be 11 characters long");
        assert_eq!(reason("131052-308TT"), "must be 11 characters long");
        assert_eq!(reason("131052–308T"), "must be 11 characters long");
    }

    #[test]
    fn unknown_century_signs_are_refused() {
        for sign in ['G', 'Z', '/', ' ', '*'] {
            assert_eq!(
                reason(&format!("131052{sign}308T")),
                "has an unknown century sign",
                "{sign}"
            );
        }
    }

    #[test]
    fn letters_in_the_digit_positions_are_refused() {
        assert_eq!(
            reason("13105A-308T"),
            "must have digits for the date and the individual number"
        );
        assert_eq!(
            reason("131052-3O8T"),
            "must have digits for the date and the individual number"
        );
    }

    #[test]
    fn a_check_character_outside_the_alphabet_is_refused() {
        for check in ['G', 'I', 'O', 'Q', 'Z', '-'] {
            assert_eq!(
                reason(&format!("131052-308{check}")),
                "has a check character that does not match",
                "{check}"
            );
        }
    }

    #[test]
    fn errors_and_debug_never_show_the_code() {
        assert_eq!(
            format!("{:?}", code("131052-308T")),
            "PersonalIdentityCode(<redacted>)"
        );
        let error = PersonalIdentityCode::parse("131052-308X", "hetu").unwrap_err();
        assert!(!format!("{error} {error:?}").contains("131052"));
    }

    /// Builds a valid code from its parts, computing the check character.
    fn build(date: NaiveDate, sign: char, individual: u32) -> String {
        let head = format!(
            "{:02}{:02}{:02}",
            date.day(),
            date.month(),
            date.year() % 100
        );
        let number: u32 = format!("{head}{individual:03}").parse().unwrap();
        let check = CHECK_CHARACTERS[(number % 31) as usize] as char;
        format!("{head}{sign}{individual:03}{check}")
    }

    proptest! {
        #[test]
        fn parsing_never_panics_on_arbitrary_text(input in any::<String>()) {
            let _ = PersonalIdentityCode::parse(&input, "hetu");
        }

        #[test]
        fn parsing_never_panics_on_hetu_like_text(input in "[0-9]{6}[-+A-Za-z][0-9]{3}[0-9A-Za-z]") {
            let _ = PersonalIdentityCode::parse(&input, "hetu");
        }

        #[test]
        fn parsing_refuses_huge_input_without_panicking(repeat in 1usize..50_000) {
            let huge = "1".repeat(repeat + 11);
            prop_assert!(PersonalIdentityCode::parse(&huge, "hetu").is_err());
        }

        #[test]
        fn every_well_formed_code_parses_and_is_a_fixed_point(
            days in 0i64..(3 * 36_524),
            sign_index in 0usize..13,
            individual in 2u32..=999,
        ) {
            let date = date(1800, 1, 1) + chrono::Duration::days(days);
            let signs: &[char] = match date.year() {
                1800..=1899 => &['+'],
                1900..=1999 => &['-', 'Y', 'X', 'W', 'V', 'U'],
                _ => &['A', 'B', 'C', 'D', 'E', 'F'],
            };
            let sign = signs[sign_index % signs.len()];
            let text = build(date, sign, individual);

            let parsed = PersonalIdentityCode::parse(&text, "hetu").unwrap();
            prop_assert_eq!(parsed.as_str(), text.as_str());
            prop_assert_eq!(parsed.birth_date(), date);
            prop_assert_eq!(parsed.is_temporary(), individual >= 900);
            prop_assert_eq!(PersonalIdentityCode::parse(parsed.as_str(), "hetu").unwrap(), parsed);
        }

        #[test]
        fn any_other_check_character_is_refused(
            days in 0i64..36_524,
            individual in 2u32..=999,
            wrong in 0usize..31,
        ) {
            let date = date(1900, 1, 1) + chrono::Duration::days(days);
            let text = build(date, '-', individual);
            let right = text.as_bytes()[10];
            let wrong = CHECK_CHARACTERS[wrong];
            prop_assume!(wrong != right);
            let tampered = format!("{}{}", &text[..10], wrong as char);
            prop_assert!(PersonalIdentityCode::parse(&tampered, "hetu").is_err());
        }
    }

    #[test]
    fn codes_in_free_text_are_found_only_with_a_valid_check_character() {
        let text = "Hei, hetuni on 131052-308T ja tilaus 131052-308X; lapsen 010516B903X.";
        let found: Vec<_> = find_all(text)
            .map(|(r, c)| (r, c.as_str().to_owned()))
            .collect();
        assert_eq!(found.len(), 2);
        assert_eq!(&text[found[0].0.clone()], "131052-308T");
        assert_eq!(found[1].1, "010516B903X");
    }

    #[test]
    fn a_code_inside_a_longer_token_is_not_one() {
        assert_eq!(find_all("A131052-308T").count(), 0);
        assert_eq!(find_all("9131052-308T").count(), 0);
        assert_eq!(find_all("131052-308T9").count(), 0);
        assert_eq!(find_all("(131052-308T)").count(), 1);
        assert_eq!(find_all("131052-308t").count(), 1);
    }

    #[test]
    fn masking_keeps_the_date_and_sign_and_hides_the_rest() {
        let text = "ääkkösiä 131052-308T, väärä 131052-308X ja 020504A902E.";
        let masked = mask_all(text);
        assert_eq!(
            masked,
            "ääkkösiä 131052-****, väärä 131052-308X ja 020504A****."
        );
        assert_eq!(masked.len(), text.len());
    }

    proptest! {
        #[test]
        fn finding_never_panics_and_masking_keeps_the_length(text in "\\PC{0,80}") {
            let masked = mask_all(&text);
            prop_assert_eq!(masked.len(), text.len());
            prop_assert_eq!(find_all(&masked).count(), 0);
        }
    }
}
