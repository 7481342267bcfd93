//! The S3-compatible [`ObjectStore`](crate::ObjectStore) backend ([`S3Store`]): Garage, Ceph RGW,
//! MinIO or AWS S3 in an EU region, through the `object_store` crate.
//!
//! Only ciphertext reaches it, as for every object store. Objects live under
//! the same names as in [`crate::LocalFolder`], below an optional prefix, so a
//! store can be copied 1:1 between the two:
//! ```text
//! [<prefix>/]<xx>/<uuid>.kjr     xx = the uuid's last two hex digits
//! ```
//!
//! Writing streams in constant memory: [`ObjectWriter::write`](crate::ObjectWriter::write) fills one part
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
//! uploads, so [`ObjectStore::list`](crate::ObjectStore::list) and [`ObjectStore::delete`](crate::ObjectStore::delete) ask for them
//! with an `object_store`-presigned `ListMultipartUploads` request (the same
//! SigV4 signer, no hand-made signing) and abort them through
//! `object_store`'s `MultipartStore`. An upload whose first part never
//! filled exists only in the writer's memory and leaves nothing behind.
//!
//! Credentials come from the environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`) or from an owner-only credentials file, are held
//! as [`SecretString`](secrecy::SecretString)s, and are cut out of every error message; `Debug`
//! shows neither. TLS is rustls on ring (never aws-lc-rs).
//!
//! **Code layout.** This file holds the limits and re-exports; `config.rs`
//! the bucket's configuration, credentials and their checks; `store.rs` the
//! client, naming and [`ObjectStore`](crate::ObjectStore) itself; `upload.rs` the streaming
//! multipart writer; `redact.rs` what an error may say.
//!
//! Not here: deciding which backend to use (the server's configuration), the
//! orphan sweep itself, migrating between stores.

use std::time::Duration;

mod config;
mod redact;
mod store;
#[cfg(test)]
mod tests;
mod upload;

pub use config::{S3Config, S3Credentials};
pub use store::S3Store;

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
