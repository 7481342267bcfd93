//! Fuzz target: the identifier parsers (phone, email, property id, personal
//! identity code) and the identity-code finder and mask. Never a panic; a
//! parsed identifier parses again to itself; no valid identity code is
//! left in masked text.
#![no_main]

use kirjuri_core::email::EmailAddress;
use kirjuri_core::hetu::{self, PersonalIdentityCode};
use kirjuri_core::phone::PhoneNumber;
use kirjuri_core::property_id::PropertyId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(phone) = PhoneNumber::parse(text, "phone") {
        let again = PhoneNumber::parse(phone.e164(), "phone").expect("an E.164 number parses");
        assert_eq!(again.e164(), phone.e164());
    }
    if let Ok(email) = EmailAddress::parse(text, "email") {
        let again = EmailAddress::parse(email.as_str(), "email").expect("a parsed address parses");
        assert_eq!(again.as_str(), email.as_str());
    }
    let _ = PropertyId::parse(text, "property_id");
    if let Ok(code) = PersonalIdentityCode::parse(text, "hetu") {
        assert_eq!(PersonalIdentityCode::parse(code.as_str(), "hetu").expect("parses").as_str(), code.as_str());
    }
    for (range, _) in hetu::find_all(text) {
        assert!(text.get(range).is_some(), "a match off a character boundary");
    }
    let masked = hetu::mask_all(text);
    assert_eq!(hetu::find_all(&masked).count(), 0, "a code survived the mask");
});
