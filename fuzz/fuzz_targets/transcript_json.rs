//! Fuzz target: a chat transcript's JSON (`kirjuri_core::transcript`),
//! parsed strictly and bounded. Never a panic.
#![no_main]

use kirjuri_core::transcript::Transcript;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Transcript::parse(data);
});
