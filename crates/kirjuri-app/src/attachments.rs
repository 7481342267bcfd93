//! Attachments (issue 14 §3): files that came with a contact — a web form's
//! upload, a form API's `attachments`, and (for the email channel) a
//! message's parts — each stored as its own sealed object of kind
//! `attachment_N` (N = 1, 2, … within the contact), read back through the
//! access decision and the audit log.
//!
//! **Why `attachment_N` and not one kind `attachment`.** The objects table
//! keeps at most one object of each kind per contact (`UNIQUE (contact_id,
//! kind)`), which is what makes every delivery idempotent. Numbering the
//! kind keeps that rule — and a repeated delivery finds its attachment N —
//! without rebuilding the table; [`is_attachment`] names the family. The
//! kind is a lower-case word (`_`, not `.`), as the erasure ledger requires.
//!
//! **Sealed, as delivered.** An attachment's bytes are sealed under their
//! own data key in the vault's stream format, never decompressed or
//! converted (a zip bomb stays the small file it was, and by default a zip
//! is not even accepted). The file's name and its media type are personal
//! data (a name like `Matti Virtanen - palkkatodistus.pdf`), so they are
//! sealed too, under a second data key whose wrapped form sits beside the
//! sealed text in the plaintext `media` column: deleting the object's row
//! shreds both. The media type stored is the one **detected from the
//! content's first bytes** ([`sniff`]); a claimed type that disagrees is
//! refused, and only the configured types (`[attachments] media_types`)
//! are accepted.
//!
//! **One transaction.** [`Kirjuri::stage_object`] seals and writes one
//! object (a pending row first, so a crash leaves nothing a sweep cannot
//! find); [`Kirjuri::commit_staged`] commits a whole set — a form's message
//! and its attachments, an email's message and its parts — with their
//! audit events and blind-index entries in one transaction, or discards
//! them all. The email channel calls [`Kirjuri::stage_attachments`] with the
//! parts it parsed and commits them beside its message.
//!
//! **Who reads.** As a transcript: decided as a contact read (agents their
//! own contacts; a subject's restriction or objection applies), audited
//! `attachment.read`; a maintainer is refused (403).
//!
//! Not here: HTTP and multipart parsing (`kirjuri_web`), the form itself
//! ([`crate::forms`]).

use bytes::Bytes;
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::ids::{ContactId, ObjectId, UserId};
use kirjuri_core::purpose::Purpose;
use kirjuri_store::{CommitOutcome, IndexEntry, NewAuditEvent, ObjectRow};
use kirjuri_vault::{open_to_vec, seal_to_vec};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::{Kirjuri, UploadsInFlight};
use crate::error::{Error, Result};
use crate::retention::StoredKind;

/// The family name of attachment kinds (`attachment_1`, `attachment_2`, …)
/// and of their audit events.
pub const ATTACHMENT: &str = "attachment";

/// The most attachments one contact carries.
pub const MAX_PER_CONTACT: usize = 20;

/// The longest file name kept, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// Whether an object's kind is an attachment's (`attachment_N`).
pub fn is_attachment(kind: &str) -> bool {
    kind.strip_prefix("attachment_")
        .and_then(|n| n.parse::<usize>().ok())
        .is_some_and(|n| (1..=MAX_PER_CONTACT).contains(&n))
}

/// The kind of a contact's `n`th attachment (from 1).
pub fn attachment_kind(n: usize) -> String {
    format!("{ATTACHMENT}_{n}")
}

/// `[attachments]`: what a contact's files may be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttachmentsConfig {
    /// The media types accepted, as detected from the content (not as
    /// claimed): any of `application/pdf`, `image/jpeg`, `image/png`,
    /// `image/gif`, `image/webp`, `text/plain`, `application/zip`. A zip is
    /// stored as delivered, never opened; it is off by default.
    pub media_types: Vec<String>,
}

impl Default for AttachmentsConfig {
    fn default() -> Self {
        Self {
            media_types: ["application/pdf", "image/jpeg", "image/png", "text/plain"]
                .map(str::to_owned)
                .to_vec(),
        }
    }
}

impl AttachmentsConfig {
    /// Refuses a media type [`sniff`] can never detect, naming the setting.
    pub fn validate(&self) -> Result<()> {
        for media_type in &self.media_types {
            if !KNOWN_TYPES.contains(&media_type.as_str()) {
                return Err(Error::config(
                    "attachments.media_types",
                    format!(
                        "{media_type:?} is not one Kirjuri recognises by content; use any of {}",
                        KNOWN_TYPES.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Every media type [`sniff`] detects.
const KNOWN_TYPES: [&str; 7] = [
    "application/pdf",
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "text/plain",
    "application/zip",
];

/// The media type of `bytes` by their first bytes (magic numbers), or, for
/// text, by being UTF-8 without control characters other than white space.
/// `None`: not a type Kirjuri recognises.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(b"%PDF-") {
        Some("application/pdf")
    } else if starts(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if starts(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some("image/webp")
    } else if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
        Some("application/zip")
    } else if !bytes.is_empty()
        && std::str::from_utf8(bytes)
            .is_ok_and(|text| !text.chars().any(|c| c.is_control() && !c.is_whitespace()))
    {
        Some("text/plain")
    } else {
        None
    }
}

/// One file as delivered: its bytes, its name and the media type its
/// sender claimed (if any).
#[derive(Clone)]
pub struct AttachmentPart {
    /// The file name as given (personal data: never logged).
    pub name: String,
    /// The media type claimed (`Content-Type`), parameters allowed.
    pub media_type: Option<String>,
    /// The bytes, exactly as delivered.
    pub bytes: Bytes,
}

impl std::fmt::Debug for AttachmentPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AttachmentPart({} bytes)", self.bytes.len())
    }
}

/// What is sealed beside an attachment: its name and detected type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedMeta {
    name: String,
    media_type: String,
}

/// An attachment as the API lists it (to those who may read the contact).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachmentView {
    /// The object's id (`GET …/attachments/{object}`).
    pub object: ObjectId,
    /// The file name as delivered.
    pub name: String,
    /// The media type detected from the content.
    pub media_type: String,
    /// Size in bytes.
    pub bytes: u64,
    /// sha256 of the bytes as delivered, hex.
    pub sha256: String,
    /// When it will be destroyed (RET-1).
    pub retain_until: chrono::DateTime<chrono::Utc>,
}

/// A refused attachment (422, naming the part by its position only).
fn refused(code: &'static str, message: String) -> Error {
    Error::Unprocessable { code, message }
}

/// Checks a part before anything is stored: size within `limit`, a
/// usable file name, a detected media type that is allowed and, when a
/// type was claimed, the same. Answers the cleaned name and the type.
pub fn check_part(
    config: &AttachmentsConfig,
    part: &AttachmentPart,
    position: usize,
    limit: u64,
) -> Result<(String, &'static str)> {
    if part.bytes.len() as u64 > limit {
        return Err(Error::TooLarge { limit });
    }
    if part.bytes.is_empty() {
        return Err(refused(
            "attachment_empty",
            format!("attachment {position} is empty"),
        ));
    }
    // A browser sends the base name; a path from elsewhere keeps its last part.
    let name = part
        .name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
        || name == "."
        || name == ".."
    {
        return Err(refused(
            "attachment_name",
            format!(
                "attachment {position} needs a file name of 1–{MAX_NAME_CHARS} characters without control characters"
            ),
        ));
    }
    let detected = sniff(&part.bytes)
        .filter(|t| config.media_types.iter().any(|allowed| allowed == t))
        .ok_or_else(|| {
            refused(
                "attachment_type_not_allowed",
                format!(
                    "attachment {position} is not one of the accepted types ({}), judged by its content",
                    config.media_types.join(", ")
                ),
            )
        })?;
    if let Some(claimed) = &part.media_type {
        let claimed = claimed
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        // A browser that knows no better says octet-stream; that claims nothing.
        if !claimed.is_empty() && claimed != "application/octet-stream" && claimed != detected {
            return Err(refused(
                "attachment_type_mismatch",
                format!(
                    "attachment {position} is declared as another type than its content ({detected})"
                ),
            ));
        }
    }
    Ok((name.to_owned(), detected))
}

/// An object sealed and written to object storage, with its pending row,
/// not yet committed.
pub struct Staged {
    /// The row to commit.
    pub row: ObjectRow,
    /// Its audit event.
    pub event: NewAuditEvent,
    /// Keeps periodic recovery off its pending row until it is committed
    /// or discarded.
    in_flight: UploadsInFlight,
}

impl Kirjuri {
    /// Seals `plaintext` as a new object of `kind` for `contact_id` under
    /// its own data key and writes it to object storage (pending until
    /// [`Kirjuri::commit_staged`]). `media` is the plaintext metadata;
    /// `event` makes its audit event from the object id and the sha256.
    #[allow(
        clippy::too_many_arguments,
        reason = "one object's every column; two callers"
    )]
    pub(crate) async fn stage_object(
        &self,
        actor: Option<UserId>,
        contact_id: ContactId,
        kind: &str,
        plaintext: &[u8],
        media: serde_json::Value,
        retain_until: chrono::DateTime<chrono::Utc>,
        event: impl FnOnce(ObjectId, String) -> AuditEvent,
    ) -> Result<Staged> {
        let sha256 = hex::encode(ring::digest::digest(&ring::digest::SHA256, plaintext));
        let (object_id, in_flight) = self.begin_object(contact_id, kind).await?;
        let sealed = async {
            let key = self.keyring.generate_data_key()?;
            let sealed = seal_to_vec(&key, &object_id, plaintext)?;
            let stored_len = sealed.len() as u64;
            let mut writer = self.objects.put(&object_id).await?;
            writer.write(Bytes::from(sealed)).await?;
            writer.commit().await?;
            Ok::<_, Error>((self.keyring.wrap(&key, &object_id)?, stored_len))
        }
        .await;
        let (wrapped_key, stored_len) = match sealed {
            Ok(done) => done,
            Err(e) => {
                self.discard_object(&object_id).await?;
                return Err(e);
            }
        };
        let now = self.clock.now();
        let row = ObjectRow {
            id: object_id,
            contact_id,
            kind: kind.to_owned(),
            wrapped_key,
            sha256: sha256.clone(),
            plaintext_len: plaintext.len() as u64,
            stored_len,
            media,
            retain_until,
            source: None,
            created_at: now,
        };
        let event = crate::audit::to_row(now, actor, &event(object_id, sha256));
        Ok(Staged {
            row,
            event,
            in_flight,
        })
    }

    /// Commits staged objects with `index` in one transaction. On a
    /// conflict (the contact already has one of their kinds) or a failure,
    /// every staged object is discarded; the conflict answers the object
    /// already stored.
    pub(crate) async fn commit_staged(
        &self,
        staged: Vec<Staged>,
        index: &[IndexEntry],
    ) -> Result<CommitOutcome> {
        let rows: Vec<ObjectRow> = staged.iter().map(|s| s.row.clone()).collect();
        let mut events = Vec::with_capacity(staged.len());
        // Held until the commit or the discard is over.
        let mut in_flight = Vec::with_capacity(staged.len());
        for s in staged {
            events.push(s.event);
            in_flight.push(s.in_flight);
        }
        let outcome = self.store.commit_objects(&rows, index, &events).await;
        let answer = match outcome {
            Ok(CommitOutcome::Committed) => Ok(CommitOutcome::Committed),
            other => {
                for row in &rows {
                    self.discard_object(&row.id).await?;
                }
                Ok(other?)
            }
        };
        drop(in_flight);
        answer
    }

    /// Discards staged objects that will not be committed.
    pub(crate) async fn discard_staged(&self, staged: &[Staged]) -> Result<()> {
        for s in staged {
            self.discard_object(&s.row.id).await?;
        }
        Ok(())
    }

    /// Checks and stages `parts` as attachments `first`, `first + 1`, … of
    /// `contact_id`, each within `limit` bytes: everything is checked before
    /// anything is written. Commit them with [`Kirjuri::commit_staged`]
    /// (with the message they came with).
    pub async fn stage_attachments(
        &self,
        actor: Option<UserId>,
        contact_id: ContactId,
        started_at: chrono::DateTime<chrono::FixedOffset>,
        parts: &[AttachmentPart],
        first: usize,
        limit: u64,
    ) -> Result<Vec<Staged>> {
        if first == 0 || first + parts.len() > MAX_PER_CONTACT + 1 {
            return Err(refused(
                "too_many_attachments",
                format!("a contact carries at most {MAX_PER_CONTACT} attachments"),
            ));
        }
        let mut checked = Vec::with_capacity(parts.len());
        for (n, part) in parts.iter().enumerate() {
            checked.push(check_part(&self.config.attachments, part, n + 1, limit)?);
        }
        let retain_until = self
            .config
            .retention
            .retain_until(StoredKind::Attachment, started_at);
        let mut staged = Vec::with_capacity(parts.len());
        for (n, (part, (name, media_type))) in parts.iter().zip(checked).enumerate() {
            let kind = attachment_kind(first + n);
            let result = async {
                let media = self.seal_meta(contact_id, &kind, &name, media_type)?;
                self.stage_object(
                    actor,
                    contact_id,
                    &kind,
                    &part.bytes,
                    media,
                    retain_until,
                    |object, sha256| AuditEvent::ContentCreated {
                        contact: contact_id,
                        object,
                        kind: ATTACHMENT,
                        sha256,
                        bytes: part.bytes.len() as u64,
                    },
                )
                .await
            }
            .await;
            match result {
                Ok(s) => staged.push(s),
                Err(e) => {
                    self.discard_staged(&staged).await?;
                    return Err(e);
                }
            }
        }
        Ok(staged)
    }

    /// The `media` column of an attachment: its name and type sealed under
    /// a data key of their own, bound to the contact and kind.
    fn seal_meta(
        &self,
        contact_id: ContactId,
        kind: &str,
        name: &str,
        media_type: &str,
    ) -> Result<serde_json::Value> {
        use base64::Engine as _;
        let meta_id = meta_id(contact_id, kind);
        let plaintext = serde_json::to_vec(&SealedMeta {
            name: name.to_owned(),
            media_type: media_type.to_owned(),
        })
        .map_err(|source| Error::Encode {
            what: "an attachment's name",
            source,
        })?;
        let key = self.keyring.generate_data_key()?;
        let sealed = seal_to_vec(&key, &meta_id, &plaintext)?;
        let engine = base64::engine::general_purpose::STANDARD;
        Ok(json!({
            "format": "kirjuri-attachment-v1",
            "meta": engine.encode(sealed),
            "meta_key": engine.encode(self.keyring.wrap(&key, &meta_id)?),
        }))
    }

    /// Opens what [`Kirjuri::seal_meta`] sealed.
    fn open_meta(&self, row: &ObjectRow) -> Result<SealedMeta> {
        use base64::Engine as _;
        let damaged = || Error::Damaged(format!("attachment {}", row.id));
        let engine = base64::engine::general_purpose::STANDARD;
        let field = |name: &str| {
            row.media
                .get(name)
                .and_then(serde_json::Value::as_str)
                .and_then(|v| engine.decode(v).ok())
                .ok_or_else(damaged)
        };
        let meta_id = meta_id(row.contact_id, &row.kind);
        let key = self.keyring.unwrap(&field("meta_key")?, &meta_id)?;
        let plaintext = open_to_vec(&key, &meta_id, &field("meta")?)?;
        serde_json::from_slice(&plaintext).map_err(|_| damaged())
    }

    /// The attachments of a stored contact, for those already allowed to
    /// read it (the contact page, the form read): no decision, no audit.
    pub(crate) async fn attachment_views(&self, id: &ContactId) -> Result<Vec<AttachmentView>> {
        let mut views = Vec::new();
        for row in self.store.objects_for_contact(id).await? {
            if !is_attachment(&row.kind) {
                continue;
            }
            let meta = self.open_meta(&row)?;
            views.push(AttachmentView {
                object: row.id,
                name: meta.name,
                media_type: meta.media_type,
                bytes: row.plaintext_len,
                sha256: row.sha256.clone(),
                retain_until: row.retain_until,
            });
        }
        views.sort_by_key(|v| v.object);
        Ok(views)
    }

    /// `GET /api/v1/contacts/{id}/attachments?purpose=`: the contact's
    /// attachments (names and types opened), after the access decision;
    /// audited as a view of the contact.
    pub async fn list_attachments(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: ContactId,
        purpose: Purpose,
    ) -> Result<Vec<AttachmentView>> {
        self.content_reader(actor, actor_id, id, purpose, "read_attachment")
            .await?;
        let views = self.attachment_views(&id).await?;
        self.audit(
            Some(actor_id),
            &AuditEvent::ContactViewed {
                contact: id,
                purpose,
                reason: actor.reason.clone(),
            },
        )
        .await?;
        Ok(views)
    }

    /// `GET /api/v1/contacts/{id}/attachments/{object}?purpose=`: one
    /// attachment's bytes as delivered, with its name and type, after the
    /// access decision and the `attachment.read` audit event.
    pub async fn read_attachment(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: ContactId,
        object: ObjectId,
        purpose: Purpose,
    ) -> Result<(AttachmentView, Vec<u8>)> {
        self.content_reader(actor, actor_id, id, purpose, "read_attachment")
            .await?;
        let row = match self.store.object(&object).await? {
            Some(row) if row.contact_id == id && is_attachment(&row.kind) => row,
            // Someone else's object, or none: the same answer.
            _ => return Err(Error::NotFound),
        };
        let meta = self.open_meta(&row)?;
        let event = AuditEvent::ContentRead {
            contact: id,
            object,
            kind: ATTACHMENT,
            purpose,
            reason: actor.reason.clone(),
        };
        self.audit(Some(actor_id), &event).await?;
        let bytes = self.object_bytes(&row).await?;
        Ok((
            AttachmentView {
                object,
                name: meta.name,
                media_type: meta.media_type,
                bytes: row.plaintext_len,
                sha256: row.sha256.clone(),
                retain_until: row.retain_until,
            },
            bytes,
        ))
    }

    /// The decision for reading a contact's content (a form's message, an
    /// attachment): a contact read; a maintainer's metadata-only access is
    /// refused (403) and audited as `denied` (`action` names the read).
    pub(crate) async fn content_reader(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: ContactId,
        purpose: Purpose,
        action: &'static str,
    ) -> Result<()> {
        let (_, metadata_only) = self
            .authorized_contact(actor, actor_id, Action::ReadContact, id, purpose)
            .await?;
        if metadata_only {
            let event = AuditEvent::AccessDenied {
                action,
                object: Some(id.to_string()),
                purpose: Some(purpose),
                reason: "metadata_only",
            };
            self.audit(Some(actor_id), &event).await?;
            return Err(Error::Forbidden(
                "a maintainer sees a contact's metadata, never its content",
            ));
        }
        Ok(())
    }

    /// An object's whole plaintext in memory (small objects: forms,
    /// attachments within their channel's limit).
    pub(crate) async fn object_bytes(&self, row: &ObjectRow) -> Result<Vec<u8>> {
        let mut plaintext = Vec::with_capacity(usize::try_from(row.plaintext_len).unwrap_or(0));
        let stream = self.object_plaintext(row).await?;
        let mut stream = std::pin::pin!(stream);
        while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
            plaintext.extend_from_slice(&chunk?);
        }
        Ok(plaintext)
    }
}

/// The id an attachment's sealed name is bound to: derived from the
/// contact and the kind, so it cannot be moved to another attachment.
fn meta_id(contact_id: ContactId, kind: &str) -> ObjectId {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("kirjuri attachment meta\0{contact_id}\0{kind}").as_bytes(),
    );
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(digest.as_ref().get(..16).unwrap_or(&[0u8; 16]));
    ObjectId::from_uuid(uuid::Uuid::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(bytes: &'static [u8], claimed: Option<&str>) -> AttachmentPart {
        AttachmentPart {
            name: "liite.pdf".into(),
            media_type: claimed.map(str::to_owned),
            bytes: Bytes::from_static(bytes),
        }
    }

    #[test]
    fn the_type_is_judged_by_content_not_by_the_claim() {
        let config = AttachmentsConfig::default();
        let pdf = part(b"%PDF-1.7\n...", Some("application/pdf"));
        assert_eq!(
            check_part(&config, &pdf, 1, 100).unwrap().1,
            "application/pdf"
        );
        let lying = part(b"\x7fELF\x02\x01", Some("application/pdf"));
        assert_eq!(
            check_part(&config, &lying, 1, 100).unwrap_err().code(),
            "attachment_type_not_allowed"
        );
        let mislabelled = part(b"%PDF-1.7\n...", Some("image/png"));
        assert_eq!(
            check_part(&config, &mislabelled, 1, 100)
                .unwrap_err()
                .code(),
            "attachment_type_mismatch"
        );
        let zip = part(b"PK\x03\x04\x14\x00", Some("application/zip"));
        assert_eq!(
            check_part(&config, &zip, 1, 100).unwrap_err().code(),
            "attachment_type_not_allowed"
        );
    }

    #[test]
    fn a_part_over_its_limit_or_without_a_name_is_refused() {
        let config = AttachmentsConfig::default();
        let big = part(b"%PDF-1.7 and more", None);
        assert_eq!(
            check_part(&config, &big, 1, 4).unwrap_err().code(),
            "body_too_large"
        );
        let mut unnamed = part(b"%PDF-1.7", None);
        unnamed.name = "C:\\temp\\".into();
        assert_eq!(
            check_part(&config, &unnamed, 1, 100).unwrap_err().code(),
            "attachment_name"
        );
        let mut path = part(b"%PDF-1.7", None);
        path.name = "../../etc/lasku.pdf".into();
        assert_eq!(check_part(&config, &path, 1, 100).unwrap().0, "lasku.pdf");
    }

    #[test]
    fn attachment_kinds_are_numbered_within_the_limit() {
        assert!(is_attachment("attachment_1"));
        assert!(is_attachment(&attachment_kind(MAX_PER_CONTACT)));
        assert!(!is_attachment("attachment_0"));
        assert!(!is_attachment("attachment"));
        assert!(!is_attachment("attachment_x"));
        assert!(!is_attachment("recording"));
    }
}
