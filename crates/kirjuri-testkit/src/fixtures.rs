//! What the tests deliver and how they read answers: contacts (a minimal
//! call, the README's example), WAVs of any size, request bodies streamed
//! slowly or in chunks, the `{"error":{"code","message"}}` shape, search
//! answers, SHA-256, and scans of a folder's files for bytes that must not
//! be there.
//!
//! Not here: the server (see [`crate::app`] and [`crate::server`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use kirjuri_core::wav::Encoding;
use kirjuri_core::wav::synth;
use reqwest::{Body, Response, StatusCode};
use serde_json::{Value, json};

/// A purpose every reading role may state (ACC-2).
pub const PURPOSE: &str = "complaint_verification";

/// Plaintext recording segments are this long (SEC-3); range tests cross them.
pub const SEGMENT: u64 = 64 * 1024;

/// The browser session a sign-in answer (`POST /api/v1/session`) hands
/// out: the `Cookie` value to send back (`kirjuri_session=…`) and the
/// session's CSRF token.
pub async fn browser_session(response: Response) -> (String, String) {
    let cookie = response
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .expect("a sign-in answer sets the session cookie")
        .to_owned();
    let body: Value = response.json().await.expect("a sign-in answer is JSON");
    let csrf = body["csrf_token"]
        .as_str()
        .expect("a sign-in answer names the CSRF token")
        .to_owned();
    (cookie, csrf)
}

/// `base` with `query` appended, percent-encoded.
pub fn with_query(base: &str, query: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse(base).expect("a valid URL");
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    url.to_string()
}

/// A minimal inbound call handled by `agent`.
pub fn call(agent: &str) -> Value {
    json!({
        "channel": "call_in",
        "started_at": "2026-11-29T09:15:02+02:00",
        "ended_at": "2026-11-29T09:19:40+02:00",
        "service": "water-billing",
        "agent": agent,
    })
}

/// The README's example contact (kirjuri-core's own test reads the same
/// file), with the given external id.
pub fn design_example(external_id: &str) -> Value {
    let mut example: Value = serde_json::from_str(include_str!(
        "../../kirjuri-core/src/contact/design_example.json"
    ))
    .expect("the design example is JSON");
    example["external_id"] = json!(external_id);
    example
}

/// Asserts a 2xx-free error answer: the status, and the `{"error":{"code",
/// "message"}}` shape with both non-empty. Returns (code, message).
pub async fn assert_error(response: Response, status: StatusCode) -> (String, String) {
    let got = response.status();
    let text = response.text().await.expect("an error body");
    assert_eq!(got, status, "expected {status}, got {got}: {text}");
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the error body is not JSON ({e}): {text:?}"));
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        !code.is_empty() && !message.is_empty(),
        "the error body lacks code or message: {text}"
    );
    (code, message)
}

/// Asserts 200 and returns the JSON body.
pub async fn json_ok(response: Response) -> Value {
    let status = response.status();
    let text = response.text().await.expect("a body");
    assert_eq!(status, StatusCode::OK, "expected 200: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The ids in a search answer, checking that `count` agrees with the list.
pub fn ids_of(search: &Value) -> BTreeSet<String> {
    let contacts = search["contacts"]
        .as_array()
        .unwrap_or_else(|| panic!("no contacts array: {search}"));
    assert_eq!(
        search["count"].as_u64(),
        Some(contacts.len() as u64),
        "count disagrees with the list: {search}"
    );
    contacts
        .iter()
        .map(|c| c["id"].as_str().expect("a contact id").to_owned())
        .collect()
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A short valid WAV: mono 16-bit PCM at 8 kHz, `frames` frames of tone.
pub fn wav(frames: u32) -> Vec<u8> {
    synth::wav_bytes(Encoding::PcmS16, 1, 8000, frames, false)
}

/// A valid stereo 16-bit 8 kHz WAV of `data_len` bytes of pseudo-random audio
/// (fast to make at any size; `seed` makes each file different).
pub fn noise_wav(data_len: usize, seed: u64) -> Vec<u8> {
    let data_len = data_len / 4 * 4;
    let mut wav = synth::header(Encoding::PcmS16, 2, 8000, data_len as u64, false);
    let total = wav.len() + data_len;
    wav.reserve(data_len + 8);
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while wav.len() < total {
        // xorshift64: fast, and never the same file for two seeds.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        wav.extend_from_slice(&state.to_le_bytes());
    }
    wav.truncate(total);
    wav
}

/// Every regular file under `dir`, recursively (none if it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// For each needle found in any file under `dir`, the needle's label and the file.
pub fn find_in_files(dir: &Path, needles: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files_under(dir) {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        for (label, needle) in needles {
            if contains(&bytes, needle) {
                found.push(format!("{label} in {}", file.display()));
            }
        }
    }
    found
}

/// A request body that yields `bytes` in `chunk`-sized pieces with `pause`
/// between them, setting `sent_all` once the last piece has been handed over.
/// Without a length, so it goes out chunked, as a live recorder streams.
pub fn slow_body(bytes: Bytes, chunk: usize, pause: Duration, sent_all: Arc<AtomicBool>) -> Body {
    let stream =
        futures::stream::unfold((bytes, sent_all), move |(mut rest, sent_all)| async move {
            if rest.is_empty() {
                sent_all.store(true, Ordering::SeqCst);
                return None;
            }
            tokio::time::sleep(pause).await;
            let piece = rest.split_to(chunk.min(rest.len()));
            Some((Ok::<Bytes, std::io::Error>(piece), (rest, sent_all)))
        });
    Body::wrap_stream(stream)
}

/// A body streamed in pieces, with no Content-Length.
pub fn chunked_body(bytes: Vec<u8>, chunk: usize) -> Body {
    let pieces: Vec<Result<Bytes, std::io::Error>> = bytes
        .chunks(chunk.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Body::wrap_stream(futures::stream::iter(pieces))
}
