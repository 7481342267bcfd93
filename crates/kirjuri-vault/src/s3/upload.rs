//! The streaming writer behind `S3Store::put`: fills one part at a time,
//! hands full parts to a multipart upload with a bounded number in flight,
//! sends a small object as one conditional PUT, checks again that the id is
//! free before completing, and aborts the upload when dropped uncommitted.
//!
//! Not here: the client and naming (`store.rs`).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use kirjuri_core::ids::ObjectId;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore as _, PutMode, PutOptions, PutPayload};
use tokio::task::JoinSet;

use super::store::Inner;
use crate::error::{Error, Result};
use crate::objects::{FILL_ROOM, Fill, ObjectWriter, fill_within_room};

/// An upload to S3 in progress, from `S3Store::put`.
pub(super) struct S3Writer {
    /// The store's shared client.
    pub(super) inner: Arc<Inner>,
    /// The object being written.
    pub(super) id: ObjectId,
    /// Its key.
    pub(super) path: StorePath,
    /// Bytes per part.
    pub(super) part_size: usize,
    /// Parts in flight at most.
    pub(super) concurrent_parts: usize,
    /// The part being filled; never more than `part_size` bytes between
    /// calls (a `write_with` past it sends the part and keeps the excess).
    pub(super) buffer: Vec<u8>,
    /// The multipart upload, once the first part filled.
    pub(super) upload_id: Option<String>,
    /// Index of the next part to send.
    pub(super) next_part: usize,
    /// The uploaded parts' ids by index, as they complete.
    pub(super) parts: Vec<Option<PartId>>,
    /// Part uploads running in the background.
    pub(super) in_flight: JoinSet<object_store::Result<(usize, PartId)>>,
    /// A part upload failed; the writer can only be aborted.
    pub(super) failed: bool,
    /// Committed or aborted; nothing left to clean up.
    pub(super) finished: bool,
}

impl S3Writer {
    /// Starts uploading `part`, after waiting for a slot.
    async fn send_part(&mut self, part: Bytes) -> Result<()> {
        let upload_id = match &self.upload_id {
            Some(upload_id) => upload_id.clone(),
            None => {
                let upload_id = self
                    .inner
                    .client
                    .create_multipart(&self.path)
                    .await
                    .map_err(|error| self.fail("start of a multipart upload", error))?;
                self.upload_id = Some(upload_id.clone());
                upload_id
            }
        };
        while self.in_flight.len() >= self.concurrent_parts {
            self.reap_one().await?;
        }
        let index = self.next_part;
        self.next_part += 1;
        let client = Arc::clone(&self.inner.client);
        let path = self.path.clone();
        self.in_flight.spawn(async move {
            let part_id = client
                .put_part(&path, &upload_id, index, PutPayload::from_bytes(part))
                .await?;
            Ok((index, part_id))
        });
        Ok(())
    }

    /// Waits for one part upload to finish and records it.
    async fn reap_one(&mut self) -> Result<()> {
        match self.in_flight.join_next().await {
            None => Ok(()),
            Some(Ok(Ok((index, part_id)))) => {
                if self.parts.len() <= index {
                    self.parts.resize(index + 1, None);
                }
                self.parts[index] = Some(part_id);
                Ok(())
            }
            Some(Ok(Err(error))) => Err(self.fail("part upload", error)),
            Some(Err(join)) => {
                self.failed = true;
                Err(self.inner.io_error(
                    "part upload",
                    Some(&self.id),
                    format!("the upload task failed: {join}"),
                ))
            }
        }
    }

    /// Marks the writer failed and maps `error`.
    fn fail(&mut self, what: &str, error: object_store::Error) -> Error {
        self.failed = true;
        self.inner.failure(what, Some(&self.id), &error)
    }

    /// Stops the part uploads and aborts the multipart upload, if any.
    async fn discard(&mut self) -> Result<()> {
        self.in_flight.abort_all();
        while self.in_flight.join_next().await.is_some() {}
        self.finished = true;
        match self.upload_id.take() {
            Some(upload_id) => self.inner.abort_upload(&self.path, &upload_id).await,
            None => Ok(()),
        }
    }

    /// Sends the last part, waits for all, checks the id is still free and
    /// completes the multipart upload.
    async fn complete(&mut self) -> Result<()> {
        if !self.buffer.is_empty() {
            let last = Bytes::from(std::mem::take(&mut self.buffer));
            self.send_part(last).await?;
        }
        while !self.in_flight.is_empty() {
            self.reap_one().await?;
        }
        let parts: Option<Vec<PartId>> = self.parts.drain(..).collect();
        let Some(parts) = parts.filter(|parts| parts.len() == self.next_part) else {
            self.failed = true;
            return Err(self
                .inner
                .io_error("commit", Some(&self.id), "a part is missing".into()));
        };
        if self.inner.exists(&self.id, &self.path).await? {
            return Err(Error::AlreadyExists(self.id));
        }
        let upload_id = self.upload_id.clone().unwrap_or_default();
        self.inner
            .client
            .complete_multipart(&self.path, &upload_id, parts)
            .await
            .map_err(|error| {
                self.inner
                    .error("completion of the upload", &self.id, error)
            })?;
        self.upload_id = None;
        Ok(())
    }

    /// Stores an object that fit in one part with one create-only PUT.
    async fn put_whole(&mut self) -> Result<()> {
        if self.inner.exists(&self.id, &self.path).await? {
            return Err(Error::AlreadyExists(self.id));
        }
        let body = Bytes::from(std::mem::take(&mut self.buffer));
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        self.inner
            .client
            .put_opts(&self.path, PutPayload::from_bytes(body), options)
            .await
            .map_err(|error| self.inner.error("upload", &self.id, error))?;
        Ok(())
    }
}

impl S3Writer {
    /// Refuses a write after a failure or the end.
    fn writable(&self) -> Result<()> {
        if self.failed || self.finished {
            return Err(self.inner.io_error(
                "write",
                Some(&self.id),
                "the upload failed earlier; abort it".into(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl ObjectWriter for S3Writer {
    async fn write(&mut self, bytes: Bytes) -> Result<()> {
        self.writable()?;
        let mut data = &bytes[..];
        while !data.is_empty() {
            if self.buffer.capacity() == 0 {
                self.buffer.reserve_exact(self.part_size);
            }
            let n = (self.part_size - self.buffer.len()).min(data.len());
            self.buffer.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buffer.len() == self.part_size {
                let full = Bytes::from(std::mem::take(&mut self.buffer));
                self.send_part(full).await?;
            }
        }
        Ok(())
    }

    async fn write_with(&mut self, fill: &mut Fill<'_>) -> Result<()> {
        self.writable()?;
        if self.buffer.capacity() == 0 {
            self.buffer.reserve_exact(self.part_size + FILL_ROOM);
        }
        fill_within_room(&mut self.buffer, fill)?;
        if self.buffer.len() >= self.part_size {
            // Parts are all `part_size` long but the last.
            let mut next = Vec::with_capacity(self.part_size + FILL_ROOM);
            next.extend_from_slice(&self.buffer[self.part_size..]);
            let mut full = std::mem::replace(&mut self.buffer, next);
            full.truncate(self.part_size);
            self.send_part(Bytes::from(full)).await?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        if self.failed || self.finished {
            let _ = self.discard().await;
            return Err(self.inner.io_error(
                "commit",
                Some(&self.id),
                "the upload failed earlier".into(),
            ));
        }
        let result = if self.upload_id.is_some() {
            self.complete().await
        } else {
            self.put_whole().await
        };
        if result.is_err() {
            // Leave no parts behind; the caller sees the first error.
            let _ = self.discard().await;
        }
        self.finished = true;
        result
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.discard().await
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        // Dropping the JoinSet cancels the part uploads; the multipart upload
        // itself needs a request. Best effort: a leftover is still found by
        // `list` and removed by `delete`.
        if let Some(upload_id) = self.upload_id.take()
            && !self.finished
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let client = Arc::clone(&self.inner.client);
            let path = self.path.clone();
            runtime.spawn(async move {
                let _ = client.abort_multipart(&path, &upload_id).await;
            });
        }
    }
}
