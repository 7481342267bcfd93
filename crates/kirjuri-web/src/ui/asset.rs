//! Static assets of the web UI: the stylesheet and the progressive-enhancement
//! script, vendored in `static/` and embedded in the binary, so Kirjuri needs
//! no CDN, no Node build and no files beside the binary.
//!
//! Pages link each asset with its content hash in the query
//! (`/static/kirjuri.css?v=…`), so browsers may cache it for a year
//! (`immutable`): a new build changes the hash, and so the URL. An `ETag`
//! answers revalidations with 304.
//!
//! Not here: anything personal — assets are the same for everyone and public.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "kirjuri.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../static/kirjuri.css"),
    },
    Asset {
        name: "kirjuri.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/kirjuri.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../static/favicon.svg"),
    },
];

/// The first 16 hex digits of each asset's SHA-256, in `ASSETS` order.
fn hashes() -> &'static Vec<String> {
    static HASHES: OnceLock<Vec<String>> = OnceLock::new();
    HASHES.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = ring::digest::digest(&ring::digest::SHA256, a.bytes);
                hex::encode(&digest.as_ref()[..8])
            })
            .collect()
    })
}

/// The URL of the asset `name`, versioned by its content.
pub fn url(name: &str) -> String {
    match ASSETS.iter().position(|a| a.name == name) {
        Some(i) => format!("/static/{name}?v={}", hashes()[i]),
        None => format!("/static/{name}"),
    }
}

/// `GET /static/{*path}`.
pub async fn serve(Path(path): Path<String>, headers: HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let asset = &ASSETS[i];
    let etag = format!("\"{}\"", hashes()[i]);
    let cache = HeaderValue::from_static("public, max-age=31536000, immutable");
    let etag_value = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\""));
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::CACHE_CONTROL, cache), (header::ETAG, etag_value)],
        )
            .into_response();
    }
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::CACHE_CONTROL, cache),
            (header::ETAG, etag_value),
        ],
        asset.bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_asset_is_served_cacheable_and_revalidates_with_its_etag() {
        let response = serve(Path("kirjuri.css".into()), HeaderMap::new()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()[header::CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        let etag = response.headers()[header::ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag);
        let response = serve(Path("kirjuri.css".into()), again).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        let missing = serve(Path("../Cargo.toml".into()), HeaderMap::new()).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert!(url("kirjuri.js").starts_with("/static/kirjuri.js?v="));
    }
}
