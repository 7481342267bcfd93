//! What an S3 error may say: a hint when a connection is refused, and every
//! credential cut out of the text (the cause chain is written by
//! `kirjuri_core::error::with_causes`).
//!
//! Not here: deciding what failed (the callers in `store.rs` and
//! `upload.rs`).

use secrecy::{ExposeSecret, SecretString};

use super::config::S3Credentials;

/// What to check when the service refused a request, as a message prefix.
pub(super) fn refusal_hint(refused: bool) -> &'static str {
    if refused {
        "the S3 service refused the request; check the access key, the secret and the key's \
         permissions on the bucket: "
    } else {
        ""
    }
}

/// `text` with both halves of `credentials` cut out.
pub(super) fn redacted(text: &str, credentials: &S3Credentials) -> String {
    scrub(
        text,
        [&credentials.access_key_id, &credentials.secret_access_key],
    )
}

/// `text` with every secret in `secrets` replaced by `[redacted]`.
pub(super) fn scrub<'a>(text: &str, secrets: impl IntoIterator<Item = &'a SecretString>) -> String {
    let mut text = text.to_owned();
    for secret in secrets {
        let secret = secret.expose_secret();
        if !secret.is_empty() {
            text = text.replace(secret, "[redacted]");
        }
    }
    text
}
