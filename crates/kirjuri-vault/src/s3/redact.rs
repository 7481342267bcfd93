//! What an S3 error may say: the cause chain described in words, a hint
//! when a connection is refused, and every credential cut out of the text.
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

/// The error and all its causes, one after the other.
pub(super) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
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
