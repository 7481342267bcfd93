//! The S3-compatible [`ObjectStore`] backend ([`S3Store`]): Garage, Ceph RGW,
//! MinIO or AWS S3 in an EU region, through the `object_store` crate.
//!
//! Only ciphertext reaches it, as for every object store. Objects live under
//! the same names as in [`crate::LocalFolder`], below an optional prefix, so a
//! store can be copied 1:1 between the two:
//! ```text
//! [<prefix>/]<xx>/<uuid>.kjr     xx = the uuid's last two hex digits
//! ```
//!
//! Writing streams in constant memory: [`ObjectWriter::write`] fills one part
//! of [`DEFAULT_PART_SIZE`] and hands full parts to a multipart upload, at
//! most [`DEFAULT_CONCURRENT_PARTS`] in flight, so an upload holds at most
//! `(1 + concurrent parts) × part size` bytes whatever the object's size.
//! The upload is created with the first full part; an object smaller than
//! one part is sent with one conditional PUT at commit. Either way nothing is
//! visible under the id until `commit` returns, and `abort` (or dropping the
//! writer) aborts the multipart upload.
//!
//! Never overwriting: `put` refuses an id that exists (HEAD), and `commit`
//! checks again right before it completes the upload. Single-PUT objects
//! also carry `If-None-Match: *`, which AWS S3 enforces atomically. What is
//! left is a race between two writers of one id committing within the same
//! moment on a server that ignores `If-None-Match` (Garage 2.5 does, on PUT
//! and on completing a multipart upload; `object_store` sends no condition
//! on completion at all). Nor does `put` see another writer's upload of the
//! same id still in progress (that would cost a listing per object). Ids are
//! fresh UUIDv7s, so no two writers share one.
//!
//! Unfinished uploads: `object_store` has no call that lists multipart
//! uploads, so [`ObjectStore::list`] and [`ObjectStore::delete`] ask for them
//! with an `object_store`-presigned `ListMultipartUploads` request (the same
//! SigV4 signer, no hand-made signing) and abort them through
//! `object_store`'s `MultipartStore`. An upload whose first part never
//! filled exists only in the writer's memory and leaves nothing behind.
//!
//! Credentials come from the environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`) or from an owner-only credentials file, are held
//! as [`SecretString`]s, and are cut out of every error message; `Debug`
//! shows neither. TLS is rustls on ring (never aws-lc-rs).
//!
//! Not here: deciding which backend to use (the server's configuration), the
//! orphan sweep itself, migrating between stores.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use kirjuri_core::ids::ObjectId;
use kirjuri_core::location::{LocationError, check_storage_location};
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as StorePath;
use object_store::signer::{Method, SignedUrlOptions, Signer, Url};
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore as _, ObjectStoreExt as _,
    PutMode, PutOptions, PutPayload, RetryConfig,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::task::JoinSet;
use zeroize::Zeroizing;

use crate::error::{Error, IoContext, Result};
use crate::objects::{ObjectStore, ObjectWriter};

/// Bytes gathered into one part of a multipart upload. S3 wants at least
/// 5 MiB for every part but the last; 8 MiB keeps the request count low and
/// allows objects up to 80 GiB within S3's 10 000 parts.
pub const DEFAULT_PART_SIZE: usize = 8 << 20;

/// The smallest part S3 accepts (except for an upload's last part).
pub const MIN_PART_SIZE: usize = 5 << 20;

/// Parts of one upload sent at the same time. Two keep a loopback or LAN
/// link busy while the next part fills, without multiplying the memory an
/// upload holds.
pub const DEFAULT_CONCURRENT_PARTS: usize = 2;

/// Extension of finished objects, as in the local folder.
const OBJECT_EXT: &str = "kjr";

/// How long one request (e.g. a whole part upload) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Retries of a failed request (5xx, timeouts, refused connections) before
/// the error is reported; few, so a wrong endpoint fails within seconds.
const MAX_RETRIES: usize = 3;

/// Upper bound on retrying one request.
const RETRY_TIMEOUT: Duration = Duration::from_secs(60);

/// Lifetime of a presigned `ListMultipartUploads` URL; it is used at once.
const LIST_URL_LIFETIME: Duration = Duration::from_secs(60);

/// Longest piece of a server's error body quoted in an error.
const MAX_QUOTED_BODY: usize = 400;

/// Where and how to reach one S3-compatible bucket (a `[objects.s3]`-style
/// table of the server's configuration). Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// The service's URL, e.g. `https://s3.example.fi` or
    /// `http://127.0.0.1:3900`; none means AWS S3 itself.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The signing region (`garage` for Garage, `eu-north-1` on AWS).
    pub region: String,
    /// The bucket; it must exist.
    pub bucket: String,
    /// Optional folder inside the bucket, e.g. `kirjuri/objects`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Allow plain `http://` endpoints (loopback tests, a service on the same
    /// host). Credentials are never sent either way (requests are HMAC-signed)
    /// and objects are ciphertext, but without TLS an eavesdropper sees
    /// object names and sizes.
    #[serde(default)]
    pub allow_http: bool,
    /// ISO 3166-1 alpha-2 code of the country the data is stored in; must be
    /// in the EU/EEA (privacy notice §9, DIS-1).
    pub country: String,
    /// An owner-only (0600) TOML file with `access_key_id` and
    /// `secret_access_key`; without it the credentials come from
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
}

impl S3Config {
    /// Whether this is AWS S3 itself: no custom endpoint, or one whose host
    /// is under `amazonaws.com` (or `amazonaws.com.cn`).
    pub fn is_aws(&self) -> bool {
        let Some(endpoint) = &self.endpoint else {
            return true;
        };
        let host = Url::parse(endpoint)
            .ok()
            .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default();
        let host = host.trim_end_matches('.');
        ["amazonaws.com", "amazonaws.com.cn"]
            .iter()
            .any(|domain| host == *domain || host.ends_with(&format!(".{domain}")))
    }

    /// The EU/EEA rule for this location
    /// ([`kirjuri_core::location::check_storage_location`]): the declared
    /// country, and on AWS the region too.
    pub fn check_location(&self) -> Result<(), LocationError> {
        let aws_region = self.is_aws().then_some(self.region.as_str());
        check_storage_location(&self.country, aws_region)
    }
}

/// An S3 access key pair. `Debug` shows neither half.
#[derive(Clone)]
pub struct S3Credentials {
    /// The access key id (e.g. `GK…` on Garage). Not strictly secret, but it
    /// names an account, so it is kept out of logs too.
    access_key_id: SecretString,
    /// The secret access key.
    secret_access_key: SecretString,
}

/// The credentials file's contents.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    /// See [`S3Credentials::access_key_id`].
    access_key_id: String,
    /// See [`S3Credentials::secret_access_key`].
    secret_access_key: String,
}

impl S3Credentials {
    /// A key pair from values the caller already holds.
    pub fn new(access_key_id: SecretString, secret_access_key: SecretString) -> Result<Self> {
        if access_key_id.expose_secret().is_empty() || secret_access_key.expose_secret().is_empty()
        {
            return Err(Error::InvalidInput(
                "S3 credentials: the access key id and the secret access key must not be empty"
                    .into(),
            ));
        }
        Ok(Self {
            access_key_id,
            secret_access_key,
        })
    }

    /// The credentials for `config`: from its credentials file if it names
    /// one, else from the environment.
    pub fn load(config: &S3Config) -> Result<Self> {
        match &config.credentials_file {
            Some(path) => Self::from_file(path),
            None => Self::from_env(),
        }
    }

    /// From `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    pub fn from_env() -> Result<Self> {
        let read = |name: &str| {
            std::env::var(name).map(SecretString::from).map_err(|_| {
                Error::InvalidInput(format!(
                    "S3 credentials: {name} is not set (set AWS_ACCESS_KEY_ID and \
                     AWS_SECRET_ACCESS_KEY, or credentials_file in the object store's \
                     configuration)"
                ))
            })
        };
        Self::new(read("AWS_ACCESS_KEY_ID")?, read("AWS_SECRET_ACCESS_KEY")?)
    }

    /// From an owner-only TOML file:
    /// ```toml
    /// access_key_id = "GK…"
    /// secret_access_key = "…"
    /// ```
    /// A file that others can read or write is refused, as for the key file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let mut file = File::open(path)
            .io_context(|| format!("failed to open S3 credentials file {}", path.display()))?;
        let metadata = file
            .metadata()
            .io_context(|| format!("failed to stat S3 credentials file {}", path.display()))?;
        let bad = |message: String| Error::KeyFile {
            path: path.to_owned(),
            message,
        };
        if !metadata.is_file() {
            return Err(bad("not a regular file".into()));
        }
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(Error::InsecureKeyFile {
                path: path.to_owned(),
                mode,
            });
        }
        let mut text = Zeroizing::new(String::new());
        file.read_to_string(&mut text)
            .io_context(|| format!("failed to read S3 credentials file {}", path.display()))?;
        // toml's own messages quote the offending line, which may hold the
        // secret: report only where the problem is.
        let parsed: CredentialsFile = toml::from_str(&text).map_err(|error| {
            let line = error
                .span()
                .map(|span| text.get(..span.start).unwrap_or("").lines().count().max(1));
            bad(format!(
                "not an S3 credentials file{}; it must hold exactly access_key_id = \"…\" and \
                 secret_access_key = \"…\"",
                line.map(|line| format!(" (problem on line {line})"))
                    .unwrap_or_default()
            ))
        })?;
        Self::new(
            SecretString::from(parsed.access_key_id),
            SecretString::from(parsed.secret_access_key),
        )
        .map_err(|_| bad("access_key_id and secret_access_key must not be empty".into()))
    }
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &"[redacted]")
            .field("secret_access_key", &"[redacted]")
            .finish()
    }
}

/// Objects in an S3-compatible bucket. Cheap to clone; clones share the
/// connection pool.
#[derive(Clone)]
pub struct S3Store {
    /// The client and everything needed to name objects and report errors.
    inner: Arc<Inner>,
    /// Bytes per multipart part.
    part_size: usize,
    /// Parts of one upload in flight at once.
    concurrent_parts: usize,
}

/// What all writers and clones of one [`S3Store`] share.
struct Inner {
    /// `object_store`'s S3 client (signing, retries, connection pool).
    client: Arc<AmazonS3>,
    /// A plain HTTP client for the one call `object_store` lacks
    /// (`ListMultipartUploads`), sent to a URL `object_store` presigned.
    http: reqwest::Client,
    /// `""` or the prefix with a trailing `/`, e.g. `kirjuri/objects/`.
    prefix: String,
    /// The bucket, for messages.
    bucket: String,
    /// The endpoint as configured (no credentials in it), for messages.
    endpoint: String,
    /// Strings cut out of every error message: the credentials.
    redact: Vec<SecretString>,
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
                redacted(&describe(&error), &credentials)
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

/// `""`, or the prefix's segments joined by `/` with a trailing `/`. Segments
/// are letters, digits, `.`, `_` and `-`, never `.` or `..` alone.
fn normalize_prefix(prefix: Option<&str>) -> Result<String> {
    let Some(prefix) = prefix else {
        return Ok(String::new());
    };
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    for segment in trimmed.split('/') {
        let valid = !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            return Err(Error::InvalidInput(format!(
                "object store prefix {prefix:?} is not a plain folder path (letters, digits, \
                 '.', '_', '-' separated by '/')"
            )));
        }
    }
    Ok(format!("{trimmed}/"))
}

/// Refuses endpoints that are not `http(s)://host[:port][/path]`, that carry
/// credentials, or that use plain http without `allow_http`.
fn check_endpoint(endpoint: &str, allow_http: bool) -> Result<()> {
    let bad = |why: &str| Err(Error::InvalidInput(format!("object store endpoint: {why}")));
    let Ok(url) = Url::parse(endpoint) else {
        return bad("not a URL (expected e.g. https://s3.example.fi)");
    };
    if !url.username().is_empty() || url.password().is_some() {
        return bad("must not contain credentials; use credentials_file or the environment");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return bad("has no host");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return bad("must not have a query or fragment");
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http => Ok(()),
        "http" => bad(&format!(
            "{} uses plain http; set allow_http = true to allow that (loopback tests)",
            url.origin().ascii_serialization()
        )),
        other => bad(&format!("unsupported scheme {other:?}; use https")),
    }
}

/// What to check when the service refused a request, as a message prefix.
fn refusal_hint(refused: bool) -> &'static str {
    if refused {
        "the S3 service refused the request; check the access key, the secret and the key's \
         permissions on the bucket: "
    } else {
        ""
    }
}

/// The error and all its causes, one after the other.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
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
fn redacted(text: &str, credentials: &S3Credentials) -> String {
    scrub(
        text,
        [&credentials.access_key_id, &credentials.secret_access_key],
    )
}

/// `text` with every secret in `secrets` replaced by `[redacted]`.
fn scrub<'a>(text: &str, secrets: impl IntoIterator<Item = &'a SecretString>) -> String {
    let mut text = text.to_owned();
    for secret in secrets {
        let secret = secret.expose_secret();
        if !secret.is_empty() {
            text = text.replace(secret, "[redacted]");
        }
    }
    text
}

impl Inner {
    /// The key of the object `id`: `[prefix]xx/uuid.kjr`.
    fn path(&self, id: &ObjectId) -> StorePath {
        let name = id.to_string();
        let fan_out = name.get(name.len().saturating_sub(2)..).unwrap_or("00");
        // The prefix is checked to be plain segments, so this never needs
        // escaping.
        StorePath::from(format!("{}{fan_out}/{name}.{OBJECT_EXT}", self.prefix))
    }

    /// The prefix as a path for listing; `None` for the whole bucket.
    fn prefix_path(&self) -> Option<StorePath> {
        let prefix = self.prefix.trim_end_matches('/');
        (!prefix.is_empty()).then(|| StorePath::from(prefix))
    }

    /// The object id a key names, if it is laid out as [`Inner::path`] lays
    /// keys out; other keys in the bucket are ignored.
    fn id_of(&self, key: &str) -> Option<ObjectId> {
        let rest = key.strip_prefix(&self.prefix)?;
        let (fan_out, file) = rest.split_once('/')?;
        let stem = file.strip_suffix(OBJECT_EXT)?.strip_suffix('.')?;
        let id: ObjectId = stem.parse().ok()?;
        (self.path(&id).as_ref() == key && fan_out.len() == 2).then_some(id)
    }

    /// Maps an `object_store` error for `id`: not found and already exists
    /// become the vault's variants, the rest an I/O error saying what failed.
    fn error(&self, what: &str, id: &ObjectId, error: object_store::Error) -> Error {
        match error {
            object_store::Error::NotFound { .. } => Error::NotFound(*id),
            object_store::Error::AlreadyExists { .. }
            | object_store::Error::Precondition { .. } => Error::AlreadyExists(*id),
            other => self.failure(what, Some(id), &other),
        }
    }

    /// An I/O error for a failed S3 step, with the credentials cut out.
    fn failure(&self, what: &str, id: Option<&ObjectId>, error: &object_store::Error) -> Error {
        let text = describe(error);
        // Some of object_store's calls (listing) report a refusal as a
        // generic error with the status inside, so look at the text too.
        let refused = matches!(
            error,
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        ) || text.contains(" 403 Forbidden")
            || text.contains(" 401 Unauthorized");
        self.io_error(what, id, format!("{}{text}", refusal_hint(refused)))
    }

    /// An I/O error with context naming the step, object, bucket and endpoint.
    fn io_error(&self, what: &str, id: Option<&ObjectId>, message: String) -> Error {
        let object = id.map(|id| format!(" of object {id}")).unwrap_or_default();
        Error::Io {
            context: format!(
                "S3 {what}{object} failed (bucket {} at {})",
                self.bucket, self.endpoint
            ),
            source: io::Error::other(scrub(&message, &self.redact)),
        }
    }

    /// Every unfinished multipart upload whose key starts with `prefix`, as
    /// (key, upload id), following the listing's pages.
    async fn uploads(&self, prefix: &str) -> Result<Vec<(String, String)>> {
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
                .map_err(|error| self.io_error(what, None, describe(&error.without_url())))?;
            let status = response.status();
            let body = response
                .bytes()
                .await
                .map_err(|error| self.io_error(what, None, describe(&error.without_url())))?;
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
    async fn abort_upload(&self, path: &StorePath, upload_id: &str) -> Result<()> {
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
    async fn exists(&self, id: &ObjectId, path: &StorePath) -> Result<bool> {
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
struct ListMultipartUploadsResult {
    /// The uploads on this page.
    #[serde(default, rename = "Upload")]
    uploads: Vec<UploadEntry>,
    /// Whether more pages follow.
    #[serde(default)]
    is_truncated: bool,
    /// Where the next page starts.
    #[serde(default)]
    next_key_marker: Option<String>,
    /// Where the next page starts, within a key.
    #[serde(default)]
    next_upload_id_marker: Option<String>,
}

/// One unfinished upload in a listing.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadEntry {
    /// The object key it would create.
    key: String,
    /// Its id.
    upload_id: String,
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
        if range.start > range.end {
            return Err(Error::InvalidInput(format!(
                "range {}..{} runs backwards",
                range.start, range.end
            )));
        }
        let wanted = usize::try_from(range.end - range.start)
            .map_err(|_| Error::InvalidInput("range too large for memory".into()))?;
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

/// An upload to S3 in progress, from [`S3Store::put`].
struct S3Writer {
    /// The store's shared client.
    inner: Arc<Inner>,
    /// The object being written.
    id: ObjectId,
    /// Its key.
    path: StorePath,
    /// Bytes per part.
    part_size: usize,
    /// Parts in flight at most.
    concurrent_parts: usize,
    /// The part being filled; never more than `part_size` bytes.
    buffer: Vec<u8>,
    /// The multipart upload, once the first part filled.
    upload_id: Option<String>,
    /// Index of the next part to send.
    next_part: usize,
    /// The uploaded parts' ids by index, as they complete.
    parts: Vec<Option<PartId>>,
    /// Part uploads running in the background.
    in_flight: JoinSet<object_store::Result<(usize, PartId)>>,
    /// A part upload failed; the writer can only be aborted.
    failed: bool,
    /// Committed or aborted; nothing left to clean up.
    finished: bool,
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

#[async_trait]
impl ObjectWriter for S3Writer {
    async fn write(&mut self, bytes: Bytes) -> Result<()> {
        if self.failed || self.finished {
            return Err(self.inner.io_error(
                "write",
                Some(&self.id),
                "the upload failed earlier; abort it".into(),
            ));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> S3Config {
        S3Config {
            endpoint: Some("http://127.0.0.1:3900".into()),
            region: "garage".into(),
            bucket: "kirjuri".into(),
            prefix: None,
            allow_http: true,
            country: "FI".into(),
            credentials_file: None,
        }
    }

    fn credentials() -> S3Credentials {
        S3Credentials::new(
            SecretString::from("GK0123456789abcdef01234567"),
            SecretString::from("s3cr3t-s3cr3t-s3cr3t"),
        )
        .unwrap()
    }

    #[test]
    fn the_configuration_parses_from_toml_and_refuses_unknown_fields() {
        let parsed: S3Config = toml::from_str(
            r#"
            endpoint = "https://s3.example.fi"
            region = "garage"
            bucket = "recordings"
            prefix = "kirjuri/objects"
            country = "FI"
            credentials_file = "/etc/kirjuri/s3.toml"
            "#,
        )
        .unwrap();
        assert_eq!(parsed.prefix.as_deref(), Some("kirjuri/objects"));
        assert!(!parsed.allow_http);

        let unknown = toml::from_str::<S3Config>(
            r#"
            region = "garage"
            bucket = "b"
            country = "FI"
            secret_access_key = "inline"
            "#,
        );
        assert!(unknown.is_err());
    }

    #[test]
    fn debug_output_shows_no_credentials() {
        let credentials = credentials();
        let store = S3Store::open(&config(), credentials.clone()).unwrap();

        for text in [format!("{credentials:?}"), format!("{store:?}")] {
            assert!(!text.contains("GK0123456789abcdef01234567"), "{text}");
            assert!(!text.contains("s3cr3t"), "{text}");
        }
        assert!(format!("{store:?}").contains("kirjuri"));
    }

    #[test]
    fn a_location_outside_the_eea_is_refused() {
        let mut outside = config();
        outside.country = "GB".into();
        let mut london = config();
        london.endpoint = None;
        london.region = "eu-west-2".into();
        london.country = "GB".into();
        let mut stockholm = config();
        stockholm.endpoint = Some("https://s3.eu-north-1.amazonaws.com".into());
        stockholm.region = "eu-north-1".into();
        stockholm.country = "SE".into();
        let mut virginia = stockholm.clone();
        virginia.region = "us-east-1".into();

        for refused in [outside, london, virginia] {
            let error = S3Store::open(&refused, credentials()).unwrap_err();
            assert!(error.to_string().contains("EU/EEA"), "{error}");
        }
        S3Store::open(&stockholm, credentials()).unwrap();
    }

    #[test]
    fn aws_endpoints_are_recognised() {
        let mut config = config();
        assert!(!config.is_aws());
        config.endpoint = None;
        assert!(config.is_aws());
        config.endpoint = Some("https://s3.eu-north-1.amazonaws.com/".into());
        assert!(config.is_aws());
        config.endpoint = Some("https://bucket.s3.amazonaws.com.".into());
        assert!(config.is_aws());
        config.endpoint = Some("https://notamazonaws.com".into());
        assert!(!config.is_aws());
    }

    #[test]
    fn plain_http_needs_allow_http() {
        let mut config = config();
        config.allow_http = false;

        let error = S3Store::open(&config, credentials()).unwrap_err();

        assert!(error.to_string().contains("allow_http"), "{error}");
    }

    #[test]
    fn endpoints_with_credentials_or_odd_schemes_are_refused() {
        for endpoint in [
            "http://GK1:secret@127.0.0.1:3900",
            "ftp://127.0.0.1",
            "127.0.0.1:3900",
            "http://127.0.0.1:3900/?x=1",
        ] {
            let mut config = config();
            config.endpoint = Some(endpoint.into());
            let error = S3Store::open(&config, credentials()).unwrap_err();
            assert!(!error.to_string().contains("secret@"), "{error}");
            assert!(
                matches!(error, Error::InvalidInput(_)),
                "{endpoint}: {error}"
            );
        }
    }

    #[test]
    fn prefixes_are_plain_folder_paths() {
        assert_eq!(normalize_prefix(None).unwrap(), "");
        assert_eq!(normalize_prefix(Some("/")).unwrap(), "");
        assert_eq!(normalize_prefix(Some("a/b-c_d.e/")).unwrap(), "a/b-c_d.e/");
        for bad in ["a//b", "../x", "a/./b", "a b", "ä"] {
            assert!(normalize_prefix(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_follow_the_local_folder_layout_and_parse_back() {
        let mut config = config();
        config.prefix = Some("kirjuri/objects".into());
        let store = S3Store::open(&config, credentials()).unwrap();
        let id = ObjectId::new_v7();
        let name = id.to_string();

        let key = store.inner.path(&id);

        assert_eq!(
            key.as_ref(),
            format!("kirjuri/objects/{}/{name}.kjr", &name[34..])
        );
        assert_eq!(store.inner.id_of(key.as_ref()), Some(id));
        for other in [
            format!("kirjuri/objects/00/{name}.kjr"),
            format!("kirjuri/{}/{name}.kjr", &name[34..]),
            format!("kirjuri/objects/{}/{name}.part", &name[34..]),
            format!(
                "kirjuri/objects/{}/{}.kjr",
                &name[34..],
                name.to_uppercase()
            ),
            "kirjuri/objects/README".to_owned(),
        ] {
            assert_eq!(store.inner.id_of(&other), None, "{other}");
        }
    }

    #[test]
    fn the_part_size_cannot_go_below_the_s3_minimum() {
        let store = S3Store::open(&config(), credentials()).unwrap();

        assert!(store.clone().with_part_size(MIN_PART_SIZE - 1).is_err());
        let store = store.with_part_size(MIN_PART_SIZE).unwrap();
        assert_eq!(
            store.with_concurrent_parts(3).upload_memory_bound(),
            4 * MIN_PART_SIZE
        );
    }

    #[test]
    fn credentials_come_from_an_owner_only_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3.toml");
        std::fs::write(
            &path,
            "access_key_id = \"GKabc\"\nsecret_access_key = \"very-secret\"\n",
        )
        .unwrap();

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let error = S3Credentials::from_file(&path).unwrap_err();
        assert!(matches!(error, Error::InsecureKeyFile { .. }), "{error}");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let credentials = S3Credentials::from_file(&path).unwrap();
        assert_eq!(credentials.access_key_id.expose_secret(), "GKabc");
        assert_eq!(credentials.secret_access_key.expose_secret(), "very-secret");
    }

    #[test]
    fn a_malformed_credentials_file_is_refused_without_quoting_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3.toml");
        for text in [
            "access_key_id = \"GKabc\"\nsecret_access_key = very-secret\n",
            "access_key_id = \"GKabc\"\nsecret = \"very-secret\"\n",
            "access_key_id = \"GKabc\"\n",
            "access_key_id = \"\"\nsecret_access_key = \"very-secret\"\n",
        ] {
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();

            let error = S3Credentials::from_file(&path).unwrap_err().to_string();

            assert!(error.contains("s3.toml"), "{error}");
            assert!(!error.contains("very-secret"), "{error}");
        }
    }

    #[test]
    fn messages_have_the_credentials_cut_out() {
        let credentials = credentials();

        let text = redacted(
            "denied for GK0123456789abcdef01234567 with s3cr3t-s3cr3t-s3cr3t",
            &credentials,
        );

        assert_eq!(text, "denied for [redacted] with [redacted]");
    }

    #[test]
    fn an_uploads_listing_parses() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
            <ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Bucket>kirjuri</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
              <NextKeyMarker>b/2.kjr</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker>
              <Prefix>b/</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>true</IsTruncated>
              <Upload><Key>a/1.kjr</Key><UploadId>u1</UploadId><Initiated>2026-01-01T00:00:00Z</Initiated></Upload>
              <Upload><Key>b/2.kjr</Key><UploadId>u2</UploadId></Upload>
            </ListMultipartUploadsResult>"#;

        let page: ListMultipartUploadsResult = quick_xml::de::from_reader(xml.as_bytes()).unwrap();

        assert!(page.is_truncated);
        assert_eq!(page.uploads.len(), 2);
        assert_eq!(page.uploads[1].key, "b/2.kjr");
        assert_eq!(page.uploads[1].upload_id, "u2");
        assert_eq!(page.next_upload_id_marker.as_deref(), Some("u2"));

        let empty: ListMultipartUploadsResult = quick_xml::de::from_reader(
            "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>"
                .as_bytes(),
        )
        .unwrap();
        assert!(empty.uploads.is_empty());
    }
}
