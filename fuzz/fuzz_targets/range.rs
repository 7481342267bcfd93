//! Fuzz target: the HTTP `Range` header (`kirjuri_web::http::range`),
//! parsed and resolved against a length the input chooses. Never a panic,
//! and a range it honours lies inside the representation.
#![no_main]

use http::{HeaderMap, HeaderValue, header};
use kirjuri_app::read::RangeRequest;
use kirjuri_web::http::range::RangeHeader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (len, value) = data.split_at(8);
    let len = u64::from_le_bytes(len.try_into().unwrap_or_default());
    let Ok(value) = HeaderValue::from_bytes(value) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::RANGE, value);
    if let Some(range) = RangeHeader::from_headers(&headers) {
        if let Ok(Some(range)) = range.resolve(len) {
            assert!(range.start() <= range.end() && *range.end() < len, "{range:?} outside {len}");
        }
    }
});
