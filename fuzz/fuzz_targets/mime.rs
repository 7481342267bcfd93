//! Fuzz target: an email message (`kirjuri_core::message`): the intake
//! rules, the parse for display and the attachment walk. Never a panic.
#![no_main]

use kirjuri_core::message::{ParsedMessage, attachment_contents};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if ParsedMessage::parse(data).is_ok() {
        let _ = attachment_contents(data);
    }
});
