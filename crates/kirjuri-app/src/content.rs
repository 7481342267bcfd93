//! A contact's content held whole in memory — a chat transcript
//! (`transcripts`), an email message (`messages`): sealed under its own data
//! key in the vault's stream format and committed with its wrapped key, row
//! and audit event in one transaction; read back whole after the access
//! decision and the audit append. One copy of those steps for every bounded
//! content kind, so each kind only says what it validates and what it
//! records.
//!
//! Not here: recordings (streamed, `intake`), what a kind accepts.

use kirjuri_core::access::{Action, Actor};
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::ids::{ContactId, ObjectId, UserId};
use kirjuri_core::purpose::Purpose;
use kirjuri_store::{CommitOutcome, IndexEntry, ObjectRow};

use crate::app::Kirjuri;
use crate::attachments::Staged;
use crate::error::{Error, Result};

/// What sealing a whole object found.
#[derive(Debug)]
pub(crate) enum Sealed {
    /// Stored now.
    New(ObjectRow),
    /// The contact already had an object of that kind (perhaps from a
    /// concurrent delivery); nothing new was stored.
    Existing(ObjectRow),
}

/// A whole object to seal: everything its row says but the ids and keys.
pub(crate) struct WholeObject<'a> {
    /// The object's kind (`transcript`, `message`).
    pub kind: &'a str,
    /// The bytes as delivered.
    pub body: &'a [u8],
    /// The row's `media` description.
    pub media: serde_json::Value,
    /// Its deadline.
    pub retain_until: chrono::DateTime<chrono::Utc>,
}

impl Kirjuri {
    /// Seals `object` for `contact_id` unless the contact already has one
    /// of its kind, committing it with `index` (blind-index entries found in
    /// its text) and the objects staged `with` it (an email's attachments)
    /// in one transaction — all or nothing; the staged ones are discarded
    /// if it is not stored; `event` names the audit event committed
    /// with it, given the new object's id and the body's sha256.
    pub(crate) async fn seal_whole_object(
        &self,
        actor: Option<UserId>,
        contact_id: ContactId,
        object: WholeObject<'_>,
        index: &[IndexEntry],
        with: Vec<Staged>,
        event: impl FnOnce(ObjectId, String) -> AuditEvent,
    ) -> Result<Sealed> {
        if let Some(existing) = self
            .store
            .object_for_contact(&contact_id, object.kind)
            .await?
        {
            self.discard_staged(&with).await?;
            return Ok(Sealed::Existing(existing));
        }
        let staged = match self
            .stage_object(
                actor,
                contact_id,
                object.kind,
                object.body,
                object.media,
                object.retain_until,
                event,
            )
            .await
        {
            Ok(staged) => staged,
            Err(e) => {
                self.discard_staged(&with).await?;
                return Err(e);
            }
        };
        let row = staged.row.clone();
        let mut all = vec![staged];
        all.extend(with);
        match self.commit_staged(all, index).await? {
            CommitOutcome::Committed => Ok(Sealed::New(row)),
            // A concurrent delivery for the same contact won the race.
            CommitOutcome::Existing(existing) => Ok(Sealed::Existing(existing)),
        }
    }

    /// A contact's whole object of `kind` (`what`, for messages), after the
    /// contact-read decision; a maintainer (metadata only) is refused and
    /// the refusal audited as `denied_action`. `event` is the read's audit
    /// event, appended before a byte is opened.
    #[allow(
        clippy::too_many_arguments,
        reason = "one read: who, why, which kind, and the two audit events"
    )]
    pub(crate) async fn read_whole_object(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: ContactId,
        purpose: Purpose,
        kind: &str,
        what: &'static str,
        denied_action: &'static str,
        event: impl FnOnce(ObjectId) -> AuditEvent,
    ) -> Result<Vec<u8>> {
        let (_, metadata_only) = self
            .authorized_contact(actor, actor_id, Action::ReadContact, id, purpose)
            .await?;
        if metadata_only {
            let event = AuditEvent::AccessDenied {
                action: denied_action,
                object: Some(id.to_string()),
                purpose: Some(purpose),
                reason: "metadata_only",
            };
            self.audit(Some(actor_id), &event).await?;
            return Err(Error::Forbidden(
                "a maintainer sees a contact's metadata, never its content",
            ));
        }
        let object = match self.store.object_for_contact(&id, kind).await? {
            Some(object) => object,
            None => return Err(self.gone(&id, kind, what).await),
        };
        self.audit(Some(actor_id), &event(object.id)).await?;
        self.object_bytes(&object).await
    }
}
