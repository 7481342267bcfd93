//! The HTTP `Range` header (RFC 9110 §14): parsed when the request arrives,
//! resolved against the length of what is read once the application knows
//! it (`kirjuri_app::read::RangeRequest`). Only single ranges are honoured;
//! a syntactically odd or multi-range header is ignored (200, the whole) as
//! RFC 9110 allows; one that lies outside the representation is 416.

use std::ops::RangeInclusive;

use axum::http::{HeaderMap, header};
use http_range_header::ParsedRanges;
use kirjuri_app::read::RangeRequest;
use kirjuri_app::{Error, Result};

/// A request's `Range` header, parsed; `None` where there is none or it is
/// not one the server honours (the whole is sent).
pub struct RangeHeader(ParsedRanges);

impl RangeHeader {
    /// The request's `Range`, if it has one that parses.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let value = headers.get(header::RANGE)?.to_str().ok()?;
        http_range_header::parse_range_header(value).ok().map(Self)
    }
}

impl RangeRequest for RangeHeader {
    fn resolve(&self, len: u64) -> Result<Option<RangeInclusive<u64>>> {
        match self.0.validate(len) {
            Ok(ranges) if ranges.len() == 1 => Ok(ranges.into_iter().next()),
            Ok(_) => Ok(None),
            Err(_) => Err(Error::RangeNotSatisfiable { len }),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn resolve(value: &'static str, len: u64) -> Option<Result<Option<RangeInclusive<u64>>>> {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_static(value));
        RangeHeader::from_headers(&headers).map(|r| r.resolve(len))
    }

    #[test]
    fn one_range_is_honoured_and_clamped_to_the_length() {
        assert!(matches!(resolve("bytes=0-9", 100), Some(Ok(Some(r))) if r == (0..=9)));
        assert!(matches!(resolve("bytes=90-200", 100), Some(Ok(Some(r))) if r == (90..=99)));
        assert!(matches!(resolve("bytes=-10", 100), Some(Ok(Some(r))) if r == (90..=99)));
    }

    #[test]
    fn odd_or_multiple_ranges_mean_the_whole_and_outside_ones_are_refused() {
        assert!(resolve("bytes=zero-nine", 100).is_none());
        assert!(resolve("lines=1-2", 100).is_none());
        assert!(matches!(resolve("bytes=0-1, 5-6", 100), Some(Ok(None))));
        assert!(matches!(
            resolve("bytes=100-", 100),
            Some(Err(Error::RangeNotSatisfiable { len: 100 }))
        ));
    }
}
