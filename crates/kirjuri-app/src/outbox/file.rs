//! The file sender, the embedded default: each message becomes a file in
//! `<data>/outbox/` — an email as an `.eml` (RFC 5322, as the SMTP sender
//! would send it), an SMS as a `.txt` — named by its queueing time and id
//! so they list in order. Written atomically (temp file, fsync, link) and
//! owner-only (0600 in a 0700 folder); a message written once already (a
//! retry after a crash) is left as it is. It holds the message in
//! plaintext, for a newcomer to read: production configures SMTP and an
//! SMS gateway instead.

use std::path::PathBuf;

use async_trait::async_trait;
use kirjuri_vault::fsio;
use lettre::message::Mailbox;

use super::{Content, Outgoing, SendError, Sender};

/// Writes messages into a folder.
#[derive(Debug, Clone)]
pub struct FileSender {
    /// `<data>/outbox/`.
    dir: PathBuf,
    /// The `From:` of the emails it writes.
    from: Mailbox,
}

impl FileSender {
    /// A sender into `dir` (created 0700 on first use), writing emails
    /// from `from`.
    pub fn new(dir: PathBuf, from: Mailbox) -> Self {
        Self { dir, from }
    }
}

#[async_trait]
impl Sender for FileSender {
    async fn send(&self, message: &Outgoing) -> Result<(), SendError> {
        let (extension, bytes) = match &message.content {
            Content::Email { .. } => (
                "eml",
                super::smtp::compose(&self.from, message)?.formatted(),
            ),
            Content::Sms { to, text } => (
                "txt",
                format!(
                    "To: {to}\nKind: {}\nId: {}\n\n{text}\n",
                    message.kind, message.id
                )
                .into_bytes(),
            ),
        };
        let name = format!(
            "{}-{}.{extension}",
            message.created_at.format("%Y%m%dT%H%M%S%.6fZ"),
            message.id
        );
        let dir = self.dir.clone();
        let written = fsio::blocking(move || {
            fsio::create_private_dir(&dir)?;
            fsio::write_private_atomically(
                &dir.join(name),
                &bytes,
                fsio::Existing::Keep,
                &ring::rand::SystemRandom::new(),
            )
        })
        .await;
        match written {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::error!(id = %message.id, error = %e, "failed to write an outbox file");
                Err(SendError::Retryable("file_write_failed".to_owned()))
            }
        }
    }
}
