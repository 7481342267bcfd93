//! Normalisation of personal names for exact-match lookup through the blind
//! index: the same name typed differently must hash the same.
//!
//! "Typed differently" means: composed or decomposed accents (`ä` as one code
//! point or as `a` + U+0308), upper or lower case, extra, tab or non-breaking
//! spaces, and invisible characters picked up by copy-paste. Not here: fuzzy
//! or phonetic matching, transliteration (`ä` ≠ `a`), full Unicode case
//! folding (`ß` stays `ß`), or validating that something is a name. The
//! result is for hashing and comparison, never for display.

use unicode_normalization::UnicodeNormalization;

/// Invisible formatting characters that copy-paste brings along and that
/// never distinguish two names: soft hyphen, zero-width space, word joiner
/// and the byte-order mark. Zero-width (non-)joiners are kept because some
/// scripts spell with them.
const INVISIBLE: [char; 4] = ['\u{ad}', '\u{200b}', '\u{2060}', '\u{feff}'];

/// Normal form of a name: Unicode NFC, lower case, inner whitespace collapsed
/// to one space, trimmed. Control characters other than whitespace and the
/// invisible characters above are removed; whitespace controls (tab, newline)
/// count as spaces.
pub fn normalise_name(input: &str) -> String {
    let visible: String = input
        .chars()
        .filter(|&c| c.is_whitespace() || !(c.is_control() || INVISIBLE.contains(&c)))
        .collect();
    // Lower-case first and compose last, so the result is always NFC.
    let composed: String = visible.to_lowercase().nfc().collect();
    composed.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn case_and_extra_spaces_do_not_matter() {
        assert_eq!(normalise_name("Matti  Meikäläinen"), "matti meikäläinen");
        assert_eq!(normalise_name("  MATTI MEIKÄLÄINEN "), "matti meikäläinen");
    }

    #[test]
    fn composed_and_decomposed_accents_are_the_same_name() {
        let composed = "Matti Meik\u{e4}l\u{e4}inen";
        let decomposed = "Matti Meika\u{308}la\u{308}inen";
        assert_ne!(composed, decomposed);
        assert_eq!(normalise_name(composed), normalise_name(decomposed));
        assert_eq!(normalise_name(decomposed), "matti meikäläinen");
    }

    #[test]
    fn upper_case_decomposed_letters_compose_after_lower_casing() {
        assert_eq!(normalise_name("A\u{30a}SA"), "åsa");
        assert_eq!(normalise_name("O\u{308}STERBERG"), "österberg");
    }

    #[test]
    fn tabs_newlines_and_non_breaking_spaces_are_spaces() {
        assert_eq!(normalise_name("Matti\tMeikäläinen"), "matti meikäläinen");
        assert_eq!(normalise_name("Matti\r\nMeikäläinen"), "matti meikäläinen");
        assert_eq!(
            normalise_name("Matti\u{a0}Meikäläinen"),
            "matti meikäläinen"
        );
    }

    #[test]
    fn control_and_invisible_characters_are_removed() {
        assert_eq!(
            normalise_name("Mat\u{0}ti Meikä\u{7}läinen"),
            "matti meikäläinen"
        );
        assert_eq!(
            normalise_name("\u{feff}Matti Meikä\u{ad}läinen\u{200b}"),
            "matti meikäläinen"
        );
    }

    #[test]
    fn hyphens_and_apostrophes_are_kept() {
        assert_eq!(normalise_name("Anna-Liisa O'Brien"), "anna-liisa o'brien");
    }

    #[test]
    fn an_empty_or_blank_name_normalises_to_empty() {
        assert_eq!(normalise_name(""), "");
        assert_eq!(normalise_name(" \t\u{200b} "), "");
    }

    proptest! {
        #[test]
        fn normalising_twice_changes_nothing(input in any::<String>()) {
            let once = normalise_name(&input);
            prop_assert_eq!(normalise_name(&once), once.clone());
        }

        #[test]
        fn the_result_is_nfc_and_has_no_outer_or_double_spaces(input in any::<String>()) {
            let name = normalise_name(&input);
            prop_assert!(unicode_normalization::is_nfc(&name));
            prop_assert_eq!(name.trim(), name.as_str());
            prop_assert!(!name.contains("  "));
            prop_assert!(!name.chars().any(char::is_control));
        }

        #[test]
        fn nfd_and_nfc_input_normalise_alike(input in any::<String>()) {
            let nfd: String = input.nfd().collect();
            let nfc: String = input.nfc().collect();
            prop_assert_eq!(normalise_name(&nfd), normalise_name(&nfc));
        }
    }
}
