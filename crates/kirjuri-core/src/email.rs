//! Email addresses: trimmed, checked for shape, domain lower-cased (REG-4).
//!
//! The check is the practical subset of RFC 5321/5322/6531 that real mail
//! systems deliver to: one `@`, a dot-atom local part (Unicode allowed), and a
//! host name domain whose labels are letters, digits and inner hyphens
//! (internationalised domains accepted in Unicode form).
//!
//! Not here: quoted local parts, comments, IP-literal domains (`[192.0.2.1]`),
//! Punycode conversion, or any check that the mailbox exists. The local part
//! keeps its case, because servers may treat it as case-sensitive; the blind
//! index uses [`EmailAddress::index_form`] so lookups ignore case. Errors never
//! echo the address.

use crate::error::{Error, Result};

/// Longest address (RFC 5321 path limit minus the angle brackets), in bytes.
const MAX_ADDRESS_BYTES: usize = 254;
/// Longest local part (RFC 5321 §4.5.3.1.1), in bytes.
const MAX_LOCAL_BYTES: usize = 64;
/// Longest domain (RFC 1035), in bytes.
const MAX_DOMAIN_BYTES: usize = 253;
/// Longest domain label (RFC 1035), in bytes.
const MAX_LABEL_BYTES: usize = 63;

/// ASCII characters RFC 5322 allows in an unquoted local part besides letters
/// and digits (`atext`), and the dot between atoms.
const LOCAL_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~.";

/// A validated email address.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Parses and normalises. `field` names the input in error messages.
    pub fn parse(input: &str, field: &'static str) -> Result<Self> {
        let invalid = |reason: &'static str| Error::InvalidIdentifier { field, reason };

        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(invalid("is empty"));
        }
        if trimmed.len() > MAX_ADDRESS_BYTES {
            return Err(invalid("is longer than 254 characters"));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("contains whitespace or control characters"));
        }

        let mut parts = trimmed.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid("must contain exactly one @"));
        };

        check_local(local).map_err(invalid)?;
        let domain = domain.to_lowercase();
        check_domain(&domain).map_err(invalid)?;

        let address = format!("{local}@{domain}");
        // Lower-casing can lengthen some characters, so check the result too.
        if address.len() > MAX_ADDRESS_BYTES {
            return Err(invalid("is longer than 254 characters"));
        }
        Ok(Self(address))
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

/// An unquoted (dot-atom) local part; non-ASCII letters allowed as in RFC 6531.
fn check_local(local: &str) -> std::result::Result<(), &'static str> {
    if local.is_empty() {
        return Err("has nothing before the @");
    }
    if local.len() > MAX_LOCAL_BYTES {
        return Err("has a part before the @ longer than 64 characters");
    }
    let allowed = |c: char| c.is_alphanumeric() || LOCAL_SPECIALS.contains(c) || !c.is_ascii();
    if !local.chars().all(allowed) {
        return Err("has a character not allowed before the @");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("has a misplaced dot before the @");
    }
    Ok(())
}

/// A host name: dot-separated labels of letters, digits and inner hyphens.
fn check_domain(domain: &str) -> std::result::Result<(), &'static str> {
    if domain.is_empty() {
        return Err("has nothing after the @");
    }
    if domain.len() > MAX_DOMAIN_BYTES {
        return Err("has a domain longer than 253 characters");
    }
    if !domain.contains('.') {
        return Err("has a domain without a dot");
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err("has an empty label in the domain");
        }
        if label.len() > MAX_LABEL_BYTES {
            return Err("has a domain label longer than 63 characters");
        }
        if !label.chars().all(|c| c.is_alphanumeric() || c == '-') {
            return Err("has a character not allowed in a domain");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("has a domain label starting or ending with a hyphen");
        }
    }
    // An all-digit top-level label means an IP address or a typo, never a host.
    if domain
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err("has a numeric top-level domain");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parsed(input: &str) -> String {
        match EmailAddress::parse(input, "email") {
            Ok(address) => address.as_str().to_owned(),
            Err(error) => panic!("{input:?} should parse, got {error}"),
        }
    }

    fn reason(input: &str) -> &'static str {
        match EmailAddress::parse(input, "email") {
            Ok(address) => panic!("{input:?} should be refused, got {}", address.as_str()),
            Err(Error::InvalidIdentifier { field, reason }) => {
                assert_eq!(field, "email");
                reason
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn an_ordinary_address_is_kept_as_typed() {
        assert_eq!(
            parsed("matti.meikalainen@example.fi"),
            "matti.meikalainen@example.fi"
        );
    }

    #[test]
    fn surrounding_whitespace_is_trimmed() {
        assert_eq!(parsed("  matti@example.fi\n"), "matti@example.fi");
    }

    #[test]
    fn the_domain_is_lower_cased_but_the_local_part_keeps_its_case() {
        assert_eq!(parsed("Matti.M@Example.FI"), "Matti.M@example.fi");
    }

    #[test]
    fn the_index_form_ignores_case_everywhere() {
        let a = EmailAddress::parse("Matti.M@Example.FI", "email").unwrap();
        let b = EmailAddress::parse("matti.m@example.fi", "email").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.index_form(), b.index_form());
        assert_eq!(a.index_form(), "matti.m@example.fi");
    }

    #[test]
    fn plus_tags_and_other_atext_characters_are_accepted() {
        assert_eq!(
            parsed("matti+kirjuri@example.fi"),
            "matti+kirjuri@example.fi"
        );
        assert_eq!(
            parsed("o'brien_{x}@example.co.uk"),
            "o'brien_{x}@example.co.uk"
        );
    }

    #[test]
    fn internationalised_addresses_are_accepted() {
        assert_eq!(parsed("äiti@Hämeenlinna.FI"), "äiti@hämeenlinna.fi");
        assert_eq!(
            parsed("user@xn--hmeenlinna-u5a.fi"),
            "user@xn--hmeenlinna-u5a.fi"
        );
    }

    #[test]
    fn empty_input_is_refused() {
        assert_eq!(reason(""), "is empty");
        assert_eq!(reason(" \t "), "is empty");
    }

    #[test]
    fn the_at_sign_must_appear_exactly_once() {
        assert_eq!(reason("matti.example.fi"), "must contain exactly one @");
        assert_eq!(
            reason("matti@home@example.fi"),
            "must contain exactly one @"
        );
    }

    #[test]
    fn both_sides_of_the_at_must_be_present() {
        assert_eq!(reason("@example.fi"), "has nothing before the @");
        assert_eq!(reason("matti@"), "has nothing after the @");
    }

    #[test]
    fn inner_whitespace_and_control_characters_are_refused() {
        assert_eq!(
            reason("matti m@example.fi"),
            "contains whitespace or control characters"
        );
        assert_eq!(
            reason("matti@exa\u{0}mple.fi"),
            "contains whitespace or control characters"
        );
        assert_eq!(
            reason("matti@example\u{a0}.fi"),
            "contains whitespace or control characters"
        );
    }

    #[test]
    fn a_domain_needs_a_dot_and_sound_labels() {
        assert_eq!(reason("matti@localhost"), "has a domain without a dot");
        assert_eq!(
            reason("matti@example..fi"),
            "has an empty label in the domain"
        );
        assert_eq!(
            reason("matti@example.fi."),
            "has an empty label in the domain"
        );
        assert_eq!(
            reason("matti@.example.fi"),
            "has an empty label in the domain"
        );
        assert_eq!(
            reason("matti@-example.fi"),
            "has a domain label starting or ending with a hyphen"
        );
        assert_eq!(
            reason("matti@example-.fi"),
            "has a domain label starting or ending with a hyphen"
        );
        assert_eq!(
            reason("matti@exa_mple.fi"),
            "has a character not allowed in a domain"
        );
        assert_eq!(
            reason("matti@[192.0.2.1]"),
            "has a character not allowed in a domain"
        );
        assert_eq!(reason("matti@192.0.2.1"), "has a numeric top-level domain");
    }

    #[test]
    fn inner_hyphens_in_domain_labels_are_fine() {
        assert_eq!(parsed("matti@my-example.fi"), "matti@my-example.fi");
    }

    #[test]
    fn the_local_part_must_be_a_dot_atom() {
        assert_eq!(
            reason(".matti@example.fi"),
            "has a misplaced dot before the @"
        );
        assert_eq!(
            reason("matti.@example.fi"),
            "has a misplaced dot before the @"
        );
        assert_eq!(
            reason("mat..ti@example.fi"),
            "has a misplaced dot before the @"
        );
        assert_eq!(
            reason("\"matti\"@example.fi"),
            "has a character not allowed before the @"
        );
        assert_eq!(
            reason("<matti@example.fi>"),
            "has a character not allowed before the @"
        );
        assert_eq!(
            reason("matti,m@example.fi"),
            "has a character not allowed before the @"
        );
    }

    #[test]
    fn length_limits_are_enforced() {
        let local64 = "a".repeat(64);
        assert_eq!(
            parsed(&format!("{local64}@example.fi")),
            format!("{local64}@example.fi")
        );
        assert_eq!(
            reason(&format!("{}@example.fi", "a".repeat(65))),
            "has a part before the @ longer than 64 characters"
        );
        assert_eq!(
            reason(&format!("m@{}.fi", "a".repeat(64))),
            "has a domain label longer than 63 characters"
        );
        // 4 labels of 63 + 3 dots = 255 bytes of domain.
        let long_domain = vec!["a".repeat(63); 4].join(".");
        assert_eq!(
            reason(&format!("m@{long_domain}")),
            "is longer than 254 characters"
        );
        let label = "b".repeat(60);
        let domain_250 = format!("{label}.{label}.{label}.{label}.abcdef");
        assert_eq!(domain_250.len(), 250);
        assert_eq!(
            reason(&format!("mmmmm@{domain_250}")),
            "is longer than 254 characters"
        );
        assert_eq!(parsed(&format!("m@{domain_250}")).len(), 252);
    }

    #[test]
    fn errors_and_debug_never_show_the_address() {
        let address = EmailAddress::parse("matti@example.fi", "email").unwrap();
        assert_eq!(format!("{address:?}"), "EmailAddress(<redacted>)");
        let error = EmailAddress::parse("matti@@example.fi", "email").unwrap_err();
        assert!(!format!("{error} {error:?}").contains("matti"));
    }

    proptest! {
        #[test]
        fn parsing_never_panics_on_arbitrary_text(input in any::<String>()) {
            let _ = EmailAddress::parse(&input, "email");
        }

        #[test]
        fn parsing_refuses_huge_input_without_panicking(repeat in 1usize..50_000) {
            let huge = format!("{}@example.fi", "a".repeat(repeat + 64));
            prop_assert!(EmailAddress::parse(&huge, "email").is_err());
        }

        #[test]
        fn the_normalised_address_is_a_fixed_point(input in any::<String>()) {
            if let Ok(address) = EmailAddress::parse(&input, "email") {
                prop_assert_eq!(EmailAddress::parse(address.as_str(), "email"), Ok(address.clone()));
            }
        }

        #[test]
        fn well_formed_addresses_parse_and_are_fixed_points(
            input in "[A-Za-z0-9._%+-]{1,20}@([A-Za-zÄÖäö0-9]{1,10}\\.){1,3}[A-Za-z]{2,6}",
        ) {
            let dots_ok = {
                let local = input.split('@').next().unwrap_or_default();
                !local.starts_with('.') && !local.ends_with('.') && !local.contains("..")
            };
            let result = EmailAddress::parse(&input, "email");
            prop_assert_eq!(result.is_ok(), dots_ok);
            if let Ok(address) = result {
                prop_assert_eq!(EmailAddress::parse(address.as_str(), "email"), Ok(address.clone()));
                prop_assert_eq!(address.index_form(), input.to_lowercase());
            }
        }
    }
}
