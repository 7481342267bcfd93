//! [`S3Store`]: the `object_store` client, object names below the prefix,
//! and the [`ObjectStore`] calls — existence checks, ranged reads, listing
//! and deleting, including unfinished multipart uploads found through a
//! presigned `ListMultipartUploads` request.
//!
//! Not here: writing an object (`upload.rs`), configuration and
//! credentials (`config.rs`).

use std::fmt;
use std::io;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use kirjuri_core::ids::ObjectId;
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::multipart::MultipartStore;
use object_store::path::Path as StorePath;
use object_store::signer::{Method, SignedUrlOptions, Signer};
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore as _, ObjectStoreExt as _,
    RetryConfig,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::task::JoinSet;

use super::config::{S3Config, S3Credentials, check_endpoint, normalize_prefix};
use super::redact::{redacted, refusal_hint, scrub};
use super::upload::S3Writer;
use super::{
    CONNECT_TIMEOUT, DEFAULT_CONCURRENT_PARTS, DEFAULT_PART_SIZE, LIST_URL_LIFETIME,
    MAX_QUOTED_BODY, MAX_RETRIES, MIN_PART_SIZE, OBJECT_EXT, REQUEST_TIMEOUT, RETRY_TIMEOUT,
};
use crate::error::{Error, Result};
use crate::objects::{ObjectStore, ObjectWriter, range_len};
use kirjuri_core::error::with_causes;

/// Objects in an S3-compatible bucket. Cheap to clone; clones share the
/// connection pool.
#[derive(Clone)]
pub struct S3Store {
    /// The client and everything needed to name objects and report errors.
    pub(super) inner: Arc<Inner>,
    /// Bytes per multipart part.
    pub(super) part_size: usize,
    /// Parts of one upload in flight at once.
    pub(super) concurrent_parts: usize,
}

/// What all writers and clones of one [`S3Store`] share.
pub(super) struct Inner {
    /// `object_store`'s S3 client (signing, retries, connection pool).
    pub(super) client: Arc<AmazonS3>,
    /// A plain HTTP client for the one call `object_store` lacks
    /// (`ListMultipartUploads`), sent to a URL `object_store` presigned.
    pub(super) http: reqwest::Client,
    /// `""` or the prefix with a trailing `/`, e.g. `kirjuri/objects/`.
    pub(super) prefix: String,
    /// The bucket, for messages.
    pub(super) bucket: String,
    /// The endpoint as configured (no credentials in it), for messages.
    pub(super) endpoint: String,
    /// Strings cut out of every error message: the credentials.
    pub(super) redact: Vec<SecretString>,
}

impl S3Store {
    /// Connects lazily to the bucket `config` names. Refuses a location
    /// outside the EU/EEA, a plain-http endpoint without `allow_http`, and a
    /// malformed prefix; makes no request (see [`S3Store::probe`]).
    pub fn open(config: &S3Config, credentials: S3Credentials) -> Result<Self> {
        config
            .check_location()
            .map_err(|error| Error::InvalidInput(format!("object store: {error}")))?;
        let prefix = normalize_prefix(config.prefix.as_deref())?;
        if config.bucket.is_empty() {
            return Err(Error::InvalidInput(
                "object store: the bucket name is empty".into(),
            ));
        }
        let endpoint = match &config.endpoint {
            Some(endpoint) => {
                check_endpoint(endpoint, config.allow_http)?;
                endpoint.trim_end_matches('/').to_owned()
            }
            None => format!("https://s3.{}.amazonaws.com", config.region),
        };
        // reqwest is built without a default crypto provider so that nothing
        // pulls in aws-lc-rs; ring is the process-wide one. Err only means
        // one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();

        let client_options = ClientOptions::new()
            .with_allow_http(config.allow_http)
            .with_timeout(REQUEST_TIMEOUT)
            .with_connect_timeout(CONNECT_TIMEOUT);
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: MAX_RETRIES,
            retry_timeout: RETRY_TIMEOUT,
        };
        let mut builder = AmazonS3Builder::new()
            .with_region(&config.region)
            .with_bucket_name(&config.bucket)
            .with_access_key_id(credentials.access_key_id.expose_secret())
            .with_secret_access_key(credentials.secret_access_key.expose_secret())
            .with_allow_http(config.allow_http)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_client_options(client_options)
            .with_retry(retry);
        if let Some(endpoint) = &config.endpoint {
            // Path-style requests (`endpoint/bucket/key`): what self-hosted
            // services expect without wildcard DNS.
            builder = builder
                .with_endpoint(endpoint.trim_end_matches('/'))
                .with_virtual_hosted_style_request(false);
        }
        let client = builder.build().map_err(|error| {
            Error::InvalidInput(format!(
                "object store: bad S3 configuration for bucket {}: {}",
                config.bucket,
                redacted(&with_causes(&error), &credentials)
            ))
        })?;
        let http = reqwest::Client::builder()
            .https_only(!config.allow_http)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|error| {
                Error::InvalidInput(format!(
                    "object store: cannot build the HTTP client: {}",
                    error.without_url()
                ))
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                client: Arc::new(client),
                http,
                prefix,
                bucket: config.bucket.clone(),
                endpoint,
                redact: vec![credentials.access_key_id, credentials.secret_access_key],
            }),
            part_size: DEFAULT_PART_SIZE,
            concurrent_parts: DEFAULT_CONCURRENT_PARTS,
        })
    }

    /// Uses parts of `bytes` (at least [`MIN_PART_SIZE`]) for new uploads.
    pub fn with_part_size(mut self, bytes: usize) -> Result<Self> {
        if bytes < MIN_PART_SIZE {
            return Err(Error::InvalidInput(format!(
                "S3 part size {bytes} is below the 5 MiB S3 requires"
            )));
        }
        self.part_size = bytes;
        Ok(self)
    }

    /// Sends up to `parts` (at least 1) parts of one upload at once.
    pub fn with_concurrent_parts(mut self, parts: usize) -> Self {
        self.concurrent_parts = parts.max(1);
        self
    }

    /// The most bytes one upload holds in memory: the part being filled plus
    /// the parts in flight.
    pub fn upload_memory_bound(&self) -> usize {
        self.part_size * (1 + self.concurrent_parts)
    }

    /// Checks that the bucket exists and these credentials may list it (one
    /// LIST request), so a wrong endpoint, bucket or key shows at startup
    /// rather than at the first upload.
    pub async fn probe(&self) -> Result<()> {
        let prefix = self.inner.prefix_path();
        let mut listing = self.inner.client.list(prefix.as_ref());
        match listing.next().await {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(error)) => Err(self.inner.failure("probe", None, &error)),
        }
    }
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("endpoint", &self.inner.endpoint)
            .field("bucket", &self.inner.bucket)
            .field("prefix", &self.inner.prefix)
            .field("part_size", &self.part_size)
            .field("concurrent_parts", &self.concurrent_parts)
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// The key of the object `id`: `[prefix]xx/uuid.kjr`.
    pub(super) fn path(&self, id: &ObjectId) -> StorePath {
        let name = id.to_string();
        let fan_out = name.get(name.len().saturating_sub(2)..).unwrap_or("00");
        // The prefix is checked to be plain segments, so this never needs
        // escaping.
        StorePath::from(format!("{}{fan_out}/{name}.{OBJECT_EXT}", self.prefix))
    }

    /// The prefix as a path for listing; `None` for the whole bucket.
    pub(super) fn prefix_path(&self) -> Option<StorePath> {
        let prefix = self.prefix.trim_end_matches('/');
        (!prefix.is_empty()).then(|| StorePath::from(prefix))
    }

    /// The object id a key names, if it is laid out as [`Inner::path`] lays
    /// keys out; other keys in the bucket are ignored.
    pub(super) fn id_of(&self, key: &str) -> Option<ObjectId> {
        let rest = key.strip_prefix(&self.prefix)?;
        let (fan_out, file) = rest.split_once('/')?;
        let stem = file.strip_suffix(OBJECT_EXT)?.strip_suffix('.')?;
        let id: ObjectId = stem.parse().ok()?;
        (self.path(&id).as_ref() == key && fan_out.len() == 2).then_some(id)
    }

    /// Maps an `object_store` error for `id`: not found and already exists
    /// become the vault's variants, the rest an I/O error saying what failed.
    pub(super) fn error(&self, what: &str, id: &ObjectId, error: object_store::Error) -> Error {
        match error {
            object_store::Error::NotFound { .. } => Error::NotFound(*id),
            object_store::Error::AlreadyExists { .. }
            | object_store::Error::Precondition { .. } => Error::AlreadyExists(*id),
            other => self.failure(what, Some(id), &other),
        }
    }

    /// An I/O error for a failed S3 step, with the credentials cut out.
    pub(super) fn failure(
        &self,
        what: &str,
        id: Option<&ObjectId>,
        error: &object_store::Error,
    ) -> Error {
        let text = with_causes(error);
        // Some of object_store's calls (listing) report a refusal as a
        // generic error with the status inside, so look at the text too.
        let refused = matches!(
            error,
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        ) || text.contains(" 403 Forbidden")
            || text.contains(" 401 Unauthorized");
        let message = format!("{}{text}", refusal_hint(refused));
        self.io_error_of_kind(what, id, network_failure(error, &text), message)
    }

    /// An I/O error with context naming the step, object, bucket and endpoint.
    pub(super) fn io_error(&self, what: &str, id: Option<&ObjectId>, message: String) -> Error {
        self.io_error_of_kind(what, id, io::ErrorKind::Other, message)
    }

    /// An I/O error for a request of ours (not through object_store) that
    /// failed, of the kind of its transport failure.
    fn request_failure(&self, what: &str, error: reqwest::Error) -> Error {
        let unreachable = error.is_connect() || error.is_timeout();
        let text = with_causes(&error.without_url());
        let mut kind = network_failure_text(&text);
        if kind == io::ErrorKind::Other && unreachable {
            kind = io::ErrorKind::NotConnected;
        }
        self.io_error_of_kind(what, None, kind, text)
    }

    /// [`Inner::io_error`] of `kind`.
    fn io_error_of_kind(
        &self,
        what: &str,
        id: Option<&ObjectId>,
        kind: io::ErrorKind,
        message: String,
    ) -> Error {
        let object = id.map(|id| format!(" of object {id}")).unwrap_or_default();
        Error::Io {
            context: format!(
                "S3 {what}{object} failed (bucket {} at {})",
                self.bucket, self.endpoint
            ),
            source: io::Error::new(kind, scrub(&message, &self.redact)),
        }
    }

    /// Every unfinished multipart upload whose key starts with `prefix`, as
    /// (key, upload id), following the listing's pages.
    pub(super) async fn uploads(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let what = "listing of unfinished uploads";
        let mut uploads = Vec::new();
        let mut marker: Option<(String, String)> = None;
        loop {
            let mut query = vec![
                ("uploads".to_owned(), String::new()),
                ("prefix".to_owned(), prefix.to_owned()),
            ];
            if let Some((key, upload_id)) = &marker {
                query.push(("key-marker".to_owned(), key.clone()));
                query.push(("upload-id-marker".to_owned(), upload_id.clone()));
            }
            let url = self
                .client
                .signed_url_opts(
                    Method::GET,
                    &StorePath::default(),
                    LIST_URL_LIFETIME,
                    &SignedUrlOptions::default().with_query(query),
                )
                .await
                .map_err(|error| self.failure(what, None, &error))?;
            // The URL carries a signature: keep it out of error messages.
            let response = self
                .http
                .get(url)
                .send()
                .await
                .map_err(|error| self.request_failure(what, error))?;
            let status = response.status();
            let body = response
                .bytes()
                .await
                .map_err(|error| self.request_failure(what, error))?;
            if !status.is_success() {
                let quoted: String = String::from_utf8_lossy(&body)
                    .chars()
                    .take(MAX_QUOTED_BODY)
                    .collect();
                let refused = matches!(status.as_u16(), 401 | 403);
                return Err(self.io_error(
                    what,
                    None,
                    format!("{}HTTP {status}: {quoted}", refusal_hint(refused)),
                ));
            }
            let page: ListMultipartUploadsResult =
                quick_xml::de::from_reader(&body[..]).map_err(|error| {
                    self.io_error(what, None, format!("unreadable response: {error}"))
                })?;
            uploads.extend(
                page.uploads
                    .into_iter()
                    .map(|upload| (upload.key, upload.upload_id)),
            );
            if !page.is_truncated {
                return Ok(uploads);
            }
            let next = (
                page.next_key_marker.unwrap_or_default(),
                page.next_upload_id_marker.unwrap_or_default(),
            );
            if next.0.is_empty() || marker.as_ref() == Some(&next) {
                return Err(self.io_error(
                    what,
                    None,
                    "the listing is truncated but names no next page".into(),
                ));
            }
            marker = Some(next);
        }
    }

    /// Aborts one multipart upload; one that is gone already is fine.
    pub(super) async fn abort_upload(&self, path: &StorePath, upload_id: &str) -> Result<()> {
        match self
            .client
            .abort_multipart(path, &upload_id.to_owned())
            .await
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(self.failure("abort of an unfinished upload", None, &error)),
        }
    }

    /// Whether a finished object `id` exists (HEAD).
    pub(super) async fn exists(&self, id: &ObjectId, path: &StorePath) -> Result<bool> {
        match self.client.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(self.failure("existence check", Some(id), &error)),
        }
    }
}

/// The parts of a `ListMultipartUploadsResult` this module reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListMultipartUploadsResult {
    /// The uploads on this page.
    #[serde(default, rename = "Upload")]
    pub(super) uploads: Vec<UploadEntry>,
    /// Whether more pages follow.
    #[serde(default)]
    pub(super) is_truncated: bool,
    /// Where the next page starts.
    #[serde(default)]
    pub(super) next_key_marker: Option<String>,
    /// Where the next page starts, within a key.
    #[serde(default)]
    pub(super) next_upload_id_marker: Option<String>,
}

/// One unfinished upload in a listing.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct UploadEntry {
    /// The object key it would create.
    pub(super) key: String,
    /// Its id.
    pub(super) upload_id: String,
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put(&self, id: &ObjectId) -> Result<Box<dyn ObjectWriter>> {
        let path = self.inner.path(id);
        if self.inner.exists(id, &path).await? {
            return Err(Error::AlreadyExists(*id));
        }
        Ok(Box::new(S3Writer {
            inner: Arc::clone(&self.inner),
            id: *id,
            path,
            part_size: self.part_size,
            concurrent_parts: self.concurrent_parts,
            buffer: Vec::new(),
            upload_id: None,
            next_part: 0,
            parts: Vec::new(),
            in_flight: JoinSet::new(),
            failed: false,
            finished: false,
        }))
    }

    async fn get_range(&self, id: &ObjectId, range: Range<u64>) -> Result<Bytes> {
        let wanted = range_len(&range)?;
        let truncated = |len: u64| Error::Truncated {
            id: *id,
            wanted: range.end,
            len,
        };
        if wanted == 0 {
            // HTTP has no empty byte range; the length answers it.
            let len = self.len(id).await?;
            return if len < range.end {
                Err(truncated(len))
            } else {
                Ok(Bytes::new())
            };
        }
        let path = self.inner.path(id);
        let options = GetOptions::default().with_range(Some(GetRange::Bounded(range.clone())));
        let result = match self.inner.client.get_opts(&path, options).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Err(Error::NotFound(*id)),
            Err(error) => {
                // A range starting at or past the end is refused outright
                // (416); the length tells that apart from other failures.
                let len = self.len(id).await?;
                if len < range.end {
                    return Err(truncated(len));
                }
                return Err(self.inner.failure("ranged read", Some(id), &error));
            }
        };
        let len = result.meta.size;
        if result.range != range {
            // The server clamped the range to the object's end.
            return Err(truncated(len));
        }
        let bytes = result
            .bytes()
            .await
            .map_err(|error| self.inner.failure("ranged read", Some(id), &error))?;
        if bytes.len() != wanted {
            return Err(self.inner.io_error(
                "ranged read",
                Some(id),
                format!("the response ended after {} of {wanted} bytes", bytes.len()),
            ));
        }
        Ok(bytes)
    }

    async fn len(&self, id: &ObjectId) -> Result<u64> {
        match self.inner.client.head(&self.inner.path(id)).await {
            Ok(meta) => Ok(meta.size),
            Err(error) => Err(self.inner.error("HEAD", id, error)),
        }
    }

    async fn delete(&self, id: &ObjectId) -> Result<()> {
        let path = self.inner.path(id);
        let key = path.as_ref();
        // Unfinished uploads first, so none completes after the object goes.
        for (upload_key, upload_id) in self.inner.uploads(key).await? {
            if upload_key == key {
                self.inner.abort_upload(&path, &upload_id).await?;
            }
        }
        match self.inner.client.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(self.inner.failure("delete", Some(id), &error)),
        }
    }

    async fn list(&self) -> Result<Vec<ObjectId>> {
        let prefix = self.inner.prefix_path();
        let mut ids = Vec::new();
        let mut listing = self.inner.client.list(prefix.as_ref());
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|error| self.inner.failure("listing", None, &error))?;
            ids.extend(self.inner.id_of(meta.location.as_ref()));
        }
        for (key, _) in self.inner.uploads(&self.inner.prefix).await? {
            ids.extend(self.inner.id_of(&key));
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }
}

/// The kind of a failure to reach the store behind `error` (`text` is its
/// description): the I/O kind in its causes, else what the HTTP client's
/// message says (object_store keeps the transport error as text: "error
/// sending request … (Connect): tcp connect error: Connection refused").
/// `Other` for anything that is not the network — a refusal, a missing
/// object, a fault — so only an unreachable store reads as one (a 503
/// `object_store_unavailable` rather than a 500 `vault_failure`).
fn network_failure(error: &object_store::Error, text: &str) -> io::ErrorKind {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<io::Error>()
            && io.kind() != io::ErrorKind::Other
        {
            return io.kind();
        }
        cause = e.source();
    }
    network_failure_text(text)
}

/// The kind of network failure a transport error's `text` names, or
/// `Other`.
fn network_failure_text(text: &str) -> io::ErrorKind {
    if text.contains("Connection refused") {
        io::ErrorKind::ConnectionRefused
    } else if text.contains("Connection reset") {
        io::ErrorKind::ConnectionReset
    } else if text.contains("timed out") {
        io::ErrorKind::TimedOut
    } else if text.contains("error sending request") || text.contains("(Connect)") {
        io::ErrorKind::NotConnected
    } else {
        io::ErrorKind::Other
    }
}
