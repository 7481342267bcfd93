//! Intake (docs/requirements.md ING-1…ING-3): contacts and recordings enter here, from the
//! HTTP API and from `kirjuri import` alike.
//!
//! A recording is streamed once through the WAV validator, SHA-256 and the
//! segmented AEAD sealer into object storage, in constant memory. It is
//! acknowledged only once the object file, its wrapped key and its metadata
//! are durable. A refused or interrupted upload leaves nothing: its temporary
//! object is removed here, or by start-up recovery if the process died.
//! Plaintext never reaches disk.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::contact::{ContactDocument, ContactInput, ValidContact};
use kirjuri_core::ids::{ContactId, ObjectId, UserId};
use kirjuri_core::wav::decode::{PeakBuilder, Peaks};
use kirjuri_core::wav::{AudioLayout, WavInfo, WavValidator};
use kirjuri_store::{
    CommitOutcome, ContactRow, GroupOutcome, GroupWrite, IndexEntry, InsertOutcome, ObjectRow,
    PendingObject,
};
use kirjuri_vault::{IndexKind, ObjectWriter, StreamSealer, seal_to_vec, sealed_len};
use serde::Serialize;
use serde_json::json;

use crate::app::{Kirjuri, UploadsInFlight};
use crate::audit::to_row;
use crate::error::{Error, Result};
use crate::retention::StoredKind;

/// Kind name of a call recording in the objects table.
pub const RECORDING: &str = "recording";

/// Kind name of a recording's waveform peaks (derived; follows the recording).
pub const WAVEFORM: &str = "waveform";

/// What the API answers for a stored recording (README "HTTP").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordingAck {
    /// The contact it belongs to.
    pub contact_id: ContactId,
    /// sha256 of the bytes as received, hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Playing time.
    pub duration_ms: u64,
    /// Samples per second.
    pub sample_rate: u32,
    /// 1 or 2.
    pub channels: u16,
    /// Sample encoding, e.g. `pcm_s16le`.
    pub encoding: String,
    /// Bits per sample.
    pub bits_per_sample: u16,
    /// When the recording will be destroyed (RET-1).
    pub retain_until: chrono::DateTime<chrono::Utc>,
}

impl RecordingAck {
    /// Rebuilds the acknowledgement from a stored row.
    pub fn from_row(row: &ObjectRow) -> Self {
        let media = &row.media;
        let num = |key: &str| {
            media
                .get(key)
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        };
        Self {
            contact_id: row.contact_id,
            sha256: row.sha256.clone(),
            bytes: row.plaintext_len,
            duration_ms: num("duration_ms"),
            sample_rate: u32::try_from(num("sample_rate")).unwrap_or(0),
            channels: u16::try_from(num("channels")).unwrap_or(0),
            encoding: media
                .get("encoding")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
                .to_owned(),
            bits_per_sample: u16::try_from(num("bits_per_sample")).unwrap_or(0),
            retain_until: row.retain_until,
        }
    }
}

fn media_json(info: &WavInfo) -> serde_json::Value {
    json!({
        "container": "wav",
        "encoding": info.encoding.as_str(),
        "format_tag": info.format_tag,
        "sample_rate": info.sample_rate,
        "channels": info.channels,
        "bits_per_sample": info.bits_per_sample,
        "block_align": info.block_align,
        "data_offset": info.data_offset,
        "data_len": info.data_len,
        "duration_ms": info.duration_ms,
    })
}

/// Whether intake created something or found it already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// Newly stored (HTTP 201).
    New,
    /// Already stored, identical (HTTP 200).
    Existing,
}

impl Kirjuri {
    /// Builds the blind-index entries for a contact's identifiers.
    pub fn index_entries(&self, contact: &ValidContact) -> Vec<IndexEntry> {
        let indexer = self.keyring.blind_indexer();
        let ids = &contact.identifiers;
        let groups: [(IndexKind, &Vec<String>); 5] = [
            (IndexKind::Phone, &ids.phones),
            (IndexKind::Email, &ids.emails),
            (IndexKind::PropertyId, &ids.property_ids),
            (IndexKind::CustomerNumber, &ids.customer_numbers),
            (IndexKind::Name, &ids.names),
        ];
        let mut entries = Vec::new();
        for (kind, values) in groups {
            for value in values {
                let entry = IndexEntry {
                    kind: kind.as_str().to_owned(),
                    hash: indexer.hash(kind, value).to_vec(),
                };
                if !entries.contains(&entry) {
                    entries.push(entry);
                }
            }
        }
        entries
    }

    /// The blind-index entries (kind `hetu`) of every valid personal
    /// identity code in `text` — a form's message, a transcript, an
    /// email's text — for [`Kirjuri::commit_staged`] to add beside the
    /// content (issue 14 §4). The codes themselves stay in the sealed
    /// content; only their keyed hashes are stored.
    pub fn hetu_entries(&self, text: &str) -> Vec<IndexEntry> {
        let indexer = self.keyring.blind_indexer();
        let mut entries: Vec<IndexEntry> = Vec::new();
        for (_, code) in kirjuri_core::hetu::find_all(text) {
            let entry = IndexEntry {
                kind: IndexKind::Hetu.as_str().to_owned(),
                hash: indexer.hash(IndexKind::Hetu, code.as_str()).to_vec(),
            };
            if !entries.contains(&entry) {
                entries.push(entry);
            }
        }
        entries
    }

    /// Seals a validated contact document under a new data key, wrapped
    /// with the contact's id as associated data: the sealed document and
    /// the wrapped key, as `contacts` keeps them (intake, and a
    /// rectification's new version).
    pub(crate) fn seal_document(
        &self,
        id: ContactId,
        document: &ContactDocument,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let document_id = ObjectId::from_uuid(*id.as_uuid());
        let key = self.keyring.generate_data_key()?;
        let plaintext = serde_json::to_vec(document).map_err(|source| Error::Encode {
            what: "a contact",
            source,
        })?;
        let sealed = seal_to_vec(&key, &document_id, &plaintext)?;
        Ok((sealed, self.keyring.wrap(&key, &document_id)?))
    }

    /// Stores a new contact, or returns the one already stored under the
    /// same `external_id`.
    pub async fn create_contact(
        &self,
        actor: Option<UserId>,
        input: ContactInput,
    ) -> Result<(ContactId, Created)> {
        let contact = input.validate()?;
        let id = ContactId::new_v7();
        let (sealed_document, document_key) = self.seal_document(id, &contact.document)?;
        let document = &contact.document;
        let row = ContactRow {
            id,
            external_id: document.external_id.clone(),
            channel: document.channel.as_str().to_owned(),
            started_at: document.started_at.to_utc(),
            ended_at: document.ended_at.map(|t| t.to_utc()),
            agent: contact.agent.as_str().to_owned(),
            service: document.service.clone(),
            created_at: self.clock.now(),
            created_by: actor.unwrap_or_else(|| UserId::from_uuid(uuid::Uuid::nil())),
            sealed_document,
            document_key,
            retain_until: self
                .config
                .retention
                .retain_until(StoredKind::ContactMetadata, document.started_at),
        };
        let event = AuditEvent::ContactCreated { contact: id };
        let write = GroupWrite::InsertContact {
            index: self.index_entries(&contact),
            contact: row,
            audit: to_row(self.clock.now(), actor, &event),
        };
        // Shares its commit with concurrent deliveries (`group_commit`).
        match self.group.write(write).await? {
            GroupOutcome::Contact(InsertOutcome::Created) => {
                // A survey invitation (SURV-1) follows a new call only. The
                // contact is stored either way: a survey that cannot be
                // scheduled is logged (ids only), never a failed intake.
                if let Err(e) = self.schedule_survey(id, &contact).await {
                    tracing::error!(contact = %id, error = %e, "a survey invitation could not be scheduled");
                }
                Ok((id, Created::New))
            }
            GroupOutcome::Contact(InsertOutcome::Existing(existing)) => {
                Ok((existing, Created::Existing))
            }
            _ => Err(Error::Internal("a contact's write answered as another")),
        }
    }

    /// The contact an object of `kind` (`what`, for the 410's message) is
    /// delivered to: 404 when there is none, and 410 when the contact or an
    /// earlier object of that kind was destroyed — a late or retried
    /// delivery must not bring personal data back after its deadline.
    pub(crate) async fn deliverable_contact(
        &self,
        contact_id: &ContactId,
        kind: &str,
        what: &'static str,
    ) -> Result<ContactRow> {
        let contact = self
            .store
            .contact(contact_id)
            .await?
            .ok_or(Error::NotFound)?;
        if contact.is_erased() {
            return Err(self
                .gone(contact_id, "contact", "this contact's data")
                .await);
        }
        if self
            .store
            .tombstones_for_contact(contact_id)
            .await?
            .iter()
            .any(|t| t.kind == kind)
        {
            return Err(self.gone(contact_id, kind, what).await);
        }
        Ok(contact)
    }

    /// Streams a recording into the vault. `body` yields the bytes as they
    /// arrive; `limit` caps the total.
    pub async fn store_recording<S, E>(
        &self,
        actor: Option<UserId>,
        contact_id: ContactId,
        body: S,
        limit: u64,
    ) -> Result<(RecordingAck, Created)>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let contact = self
            .deliverable_contact(&contact_id, RECORDING, "this recording")
            .await?;
        if !matches!(contact.channel.as_str(), "call_in" | "call_out") {
            return Err(Error::Conflict {
                code: "not_a_call",
                message: format!(
                    "only calls carry recordings; this contact is a {}",
                    contact.channel
                ),
            });
        }
        let started_at = self.contact_started_at(&contact)?;
        if let Some(existing) = self
            .store
            .object_for_contact(&contact_id, RECORDING)
            .await?
        {
            // Stored evidence is immutable: hash what was sent and compare.
            let (sha256, _) = hash_and_validate(body, limit).await?;
            return same_or_conflict(&existing, &sha256);
        }

        // The recording and its waveform begin together, in one write that
        // shares its commit with concurrent uploads.
        let object_id = ObjectId::new_v7();
        let waveform_id = ObjectId::new_v7();
        // Until this returns, periodic recovery leaves their pending rows
        // alone; a failure that cannot clean up leaves them to it.
        let _in_flight = self.instance.track_uploads(&[object_id, waveform_id]);
        let pending = |id: ObjectId, kind: &str| PendingObject {
            id,
            contact_id,
            kind: kind.to_owned(),
            instance_id: self.instance.id.clone(),
            started_at: self.clock.now(),
        };
        self.group
            .write(GroupWrite::BeginObjects(vec![
                pending(object_id, RECORDING),
                pending(waveform_id, WAVEFORM),
            ]))
            .await?;
        let mut writer = match self.objects.put(&object_id).await {
            Ok(writer) => writer,
            Err(e) => {
                self.store.abort_object(&object_id).await?;
                self.store.abort_object(&waveform_id).await?;
                return Err(e.into());
            }
        };
        let key = self.keyring.generate_data_key()?;
        let streamed = stream_sealed(&mut writer, &key, &object_id, body, limit).await;
        let (sha256, info, plaintext_len, peaks) = match streamed {
            Ok(done) => done,
            Err(e) => {
                let _ = writer.abort().await;
                self.discard_object(&object_id).await?;
                self.store.abort_object(&waveform_id).await?;
                return Err(e);
            }
        };
        let row = ObjectRow {
            id: object_id,
            contact_id,
            kind: RECORDING.to_owned(),
            wrapped_key: self.keyring.wrap(&key, &object_id)?,
            sha256: sha256.clone(),
            plaintext_len,
            stored_len: sealed_len(plaintext_len),
            media: media_json(&info),
            retain_until: self
                .config
                .retention
                .retain_until(StoredKind::CallRecording, started_at),
            source: None,
            created_at: self.clock.now(),
        };
        // The waveform never outlives its recording.
        let waveform_until = self
            .config
            .retention
            .derived_retain_until(started_at, row.retain_until);
        // The recording's fsyncs and the waveform's run at once.
        let waveform = async {
            match &peaks {
                Some(peaks) => Some(
                    self.write_waveform(contact_id, object_id, waveform_id, peaks, waveform_until)
                        .await,
                ),
                None => None,
            }
        };
        let (committed, waveform) = tokio::join!(writer.commit(), waveform);
        let waveform = match waveform {
            Some(Ok(waveform)) => Some(waveform),
            Some(Err(e)) => {
                // The waveform is a convenience for the player: failing to
                // store it must not fail the recording.
                tracing::warn!(contact_id = %contact_id, error = %e, "failed to store waveform peaks");
                self.discard_object(&waveform_id).await?;
                None
            }
            None => {
                self.store.abort_object(&waveform_id).await?;
                None
            }
        };
        if let Err(e) = committed {
            self.discard_object(&object_id).await?;
            if waveform.is_some() {
                self.discard_object(&waveform_id).await?;
            }
            return Err(e.into());
        }

        let event = AuditEvent::RecordingCreated {
            contact: contact_id,
            object: object_id,
            sha256: sha256.clone(),
            bytes: plaintext_len,
        };
        let derived = waveform.map(|waveform| {
            let event = AuditEvent::DerivedCreated {
                contact: contact_id,
                object: waveform_id,
                kind: WAVEFORM,
            };
            (waveform, to_row(self.clock.now(), actor, &event))
        });
        let had_waveform = derived.is_some();
        let write = GroupWrite::CommitObject {
            object: row.clone(),
            audit: to_row(self.clock.now(), actor, &event),
            derived,
        };
        // Acknowledged only once the shared commit holding this write is
        // durable; if it fails, so does this upload.
        let outcome = self.group.write(write).await;
        let derived_committed = matches!(
            outcome,
            Ok(GroupOutcome::Object {
                derived_committed: true,
                ..
            })
        );
        if had_waveform && !derived_committed {
            self.discard_object(&waveform_id).await?;
        }
        match outcome {
            Ok(GroupOutcome::Object {
                outcome: CommitOutcome::Committed,
                ..
            }) => {
                self.metrics.intake(RECORDING, plaintext_len);
                Ok((RecordingAck::from_row(&row), Created::New))
            }
            Ok(GroupOutcome::Object {
                outcome: CommitOutcome::Existing(existing),
                ..
            }) => {
                // A concurrent upload for the same contact won the race.
                self.objects.delete(&object_id).await?;
                same_or_conflict(&existing, &sha256)
            }
            Ok(_) => {
                self.discard_object(&object_id).await?;
                Err(Error::Internal("an object's commit answered as another"))
            }
            Err(e) => {
                self.discard_object(&object_id).await?;
                Err(e)
            }
        }
    }

    /// A new object of `kind` for `contact_id`, recorded as pending (so a
    /// crash before its commit leaves nothing a sweep cannot find), and
    /// marked in flight until the returned guard drops.
    pub(crate) async fn begin_object(
        &self,
        contact_id: ContactId,
        kind: &str,
    ) -> Result<(ObjectId, UploadsInFlight)> {
        let object_id = ObjectId::new_v7();
        let in_flight = self.instance.track_uploads(&[object_id]);
        let pending = PendingObject {
            id: object_id,
            contact_id,
            kind: kind.to_owned(),
            instance_id: self.instance.id.clone(),
            started_at: self.clock.now(),
        };
        self.store.begin_object(&pending).await?;
        Ok((object_id, in_flight))
    }

    /// Undoes a pending object that failed before its commit: its bytes,
    /// then its pending row. A commit that answered with an error may still
    /// have committed (the database went down after it wrote COMMIT but
    /// before the answer reached us), so the bytes go only once the
    /// database says the row is not there; if it cannot say, both stay
    /// for the periodic recovery, which asks again.
    pub(crate) async fn discard_object(&self, object_id: &ObjectId) -> Result<()> {
        if self.store.object(object_id).await?.is_some() {
            return Ok(());
        }
        self.objects.delete(object_id).await?;
        self.store.abort_object(object_id).await?;
        Ok(())
    }

    /// Writes waveform peaks, sealed, as the already begun object
    /// `object_id` beside their recording `source`, and returns its row for
    /// the recording's commit; they follow the recording's deadline.
    async fn write_waveform(
        &self,
        contact_id: ContactId,
        source: ObjectId,
        object_id: ObjectId,
        peaks: &Peaks,
        retain_until: chrono::DateTime<chrono::Utc>,
    ) -> Result<ObjectRow> {
        let plaintext = serde_json::to_vec(peaks).map_err(|source| Error::Encode {
            what: "peaks",
            source,
        })?;
        let key = self.keyring.generate_data_key()?;
        let sealed = seal_to_vec(&key, &object_id, &plaintext)?;
        let stored_len = sealed.len() as u64;
        let mut writer = self.objects.put(&object_id).await?;
        writer.write(Bytes::from(sealed)).await?;
        writer.commit().await?;
        Ok(ObjectRow {
            id: object_id,
            contact_id,
            kind: WAVEFORM.to_owned(),
            wrapped_key: self.keyring.wrap(&key, &object_id)?,
            sha256: hex::encode(ring::digest::digest(&ring::digest::SHA256, &plaintext)),
            plaintext_len: plaintext.len() as u64,
            stored_len,
            media: json!({"format": "peaks-json-v1"}),
            retain_until,
            source: Some(source),
            created_at: self.clock.now(),
        })
    }

    /// The contact's start time with its original offset, from the sealed document.
    fn contact_started_at(
        &self,
        row: &ContactRow,
    ) -> Result<chrono::DateTime<chrono::FixedOffset>> {
        Ok(self.open_document(row)?.started_at)
    }
}

fn same_or_conflict(existing: &ObjectRow, sha256: &str) -> Result<(RecordingAck, Created)> {
    if existing.sha256 == sha256 {
        Ok((RecordingAck::from_row(existing), Created::Existing))
    } else {
        Err(Error::Conflict {
            code: "recording_exists",
            message: "this contact already has a different recording; stored recordings are immutable evidence"
                .into(),
        })
    }
}

/// Counts bytes against the limit, failing as soon as it is passed.
fn check_limit(total: &mut u64, chunk: &Bytes, limit: u64) -> Result<()> {
    *total += chunk.len() as u64;
    if *total > limit {
        Err(Error::TooLarge { limit })
    } else {
        Ok(())
    }
}

/// Validates and hashes without storing (for comparing a repeated upload).
async fn hash_and_validate<S, E>(body: S, limit: u64) -> Result<(String, WavInfo)>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let mut validator = WavValidator::new();
    let mut sha = ring::digest::Context::new(&ring::digest::SHA256);
    let mut total = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| Error::BodyRead)?;
        check_limit(&mut total, &chunk, limit)?;
        validator.feed(&chunk)?;
        sha.update(&chunk);
    }
    let info = validator.finish()?;
    Ok((hex::encode(sha.finish()), info))
}

/// The streaming heart of intake: validate, hash, seal, write.
async fn stream_sealed<S, E>(
    writer: &mut Box<dyn ObjectWriter>,
    key: &kirjuri_vault::DataKey,
    object_id: &ObjectId,
    body: S,
    limit: u64,
) -> Result<(String, WavInfo, u64, Option<Peaks>)>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let mut validator = WavValidator::new();
    let digest = BackgroundDigest::start();
    let mut sealer = StreamSealer::new(key, object_id)?;
    writer.seal_header(&sealer).await?;
    let mut total = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| Error::BodyRead)?;
        let offset = total;
        check_limit(&mut total, &chunk, limit)?;
        validator.feed(&chunk)?;
        // Hashing, the longest step, starts on the chunk before it is sealed.
        digest
            .update(chunk.clone(), offset, validator.audio_layout())
            .await?;
        writer.seal(&mut sealer, &chunk).await?;
    }
    let info = validator.finish()?;
    writer.seal_last(sealer).await?;
    let (sha256, peaks) = digest.finish().await?;
    Ok((sha256, info, total, peaks))
}

/// Chunks of an upload waiting to be hashed. Hashing is the slowest step,
/// so the queue is usually full and sealing waits for it: a deeper one
/// only holds more of the body (and of the connection's read buffers it
/// shares) in memory per upload; 16 held up to about 2 MiB each of many
/// concurrent uploads (issue 16 §6).
const DIGEST_QUEUE: usize = 4;

/// SHA-256 and the waveform peaks on a blocking thread, so they run beside
/// sealing on the other core. Chunks are shared `Bytes`, never copied; the
/// channel holds at most [`DIGEST_QUEUE`] of them, so memory stays bounded.
struct BackgroundDigest {
    /// Chunks in order, each with its offset in the file and, once the
    /// validator knows it, where the audio lies.
    chunks: tokio::sync::mpsc::Sender<(Bytes, u64, Option<AudioLayout>)>,
    /// The thread; yields the hex digest and the peaks once `chunks` closes.
    done: tokio::task::JoinHandle<(String, Option<Peaks>)>,
}

impl BackgroundDigest {
    fn start() -> Self {
        let (chunks, mut received) =
            tokio::sync::mpsc::channel::<(Bytes, u64, Option<AudioLayout>)>(DIGEST_QUEUE);
        let done = tokio::task::spawn_blocking(move || {
            let mut sha = ring::digest::Context::new(&ring::digest::SHA256);
            let mut peaks: Option<PeakBuilder> = None;
            while let Some((chunk, offset, layout)) = received.blocking_recv() {
                sha.update(&chunk);
                let Some(layout) = layout else { continue };
                let builder = peaks.get_or_insert_with(|| PeakBuilder::new(layout));
                // Only the part of the chunk inside the data chunk is audio.
                let end = offset + chunk.len() as u64;
                let audio_start = offset.max(layout.data_offset);
                let audio_end = end.min(layout.data_offset + layout.data_len);
                if audio_start < audio_end {
                    let from = (audio_start - offset) as usize;
                    let to = (audio_end - offset) as usize;
                    builder.push(chunk.get(from..to).unwrap_or_default());
                }
            }
            (hex::encode(sha.finish()), peaks.map(PeakBuilder::finish))
        });
        Self { chunks, done }
    }

    async fn update(&self, chunk: Bytes, offset: u64, layout: Option<AudioLayout>) -> Result<()> {
        self.chunks
            .send((chunk, offset, layout))
            .await
            .map_err(|_| Error::Internal("the hashing thread stopped"))
    }

    async fn finish(self) -> Result<(String, Option<Peaks>)> {
        drop(self.chunks);
        self.done.await.map_err(|source| Error::Join {
            task: "the hashing thread",
            source,
        })
    }
}
