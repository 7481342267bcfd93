//! Kirjuri's vault: everything between a plaintext byte and storage (SEC-1 …
//! SEC-3).
//!
//! - [`keyring`] — key-encryption keys in a key file, per-object data keys,
//!   wrapping bound to the object id, KEK rotation (SEC-2).
//! - [`stream`] — the segmented AES-256-GCM object format: constant-memory
//!   streaming, random access, truncation / reordering / swapping detected
//!   (SEC-3).
//! - [`blind`] — keyed HMAC blind indexes for exact-match lookup (SEC-1).
//! - [`checkpoint`] — Ed25519-signed C2SP checkpoints of the audit log's
//!   Merkle tree, for `audit verify` and outside witnesses (AUD-2).
//! - [`otp`] — one-time codes for proving a data-subject requester holds
//!   an address, stored only as keyed hashes (DSR-2).
//! - [`fsio`] — local-filesystem helpers: directory fsync, owner-only and
//!   atomic file writes, the blocking-pool wrapper.
//! - [`objects`] — the [`ObjectStore`] trait and the [`LocalFolder`] backend;
//!   only ciphertext reaches it.
//! - [`s3`] — the S3-compatible [`ObjectStore`] backend ([`S3Store`]) through
//!   the `object_store` crate, tested against a real Garage.
//!
//! Invariants: plaintext never reaches an [`ObjectStore`]; key material is
//! zeroized on drop and never appears in `Debug` output or errors; every
//! primitive is ring's (no hand-made cryptography); nothing here panics on
//! hostile input.
//!
//! Not here: the database (wrapped keys and blind indexes are *stored* by
//! `kirjuri-store`), access decisions (`kirjuri-core`), HTTP (`kirjuri-web`).

pub mod blind;
pub mod checkpoint;
pub mod error;
pub mod fsio;
pub mod keyring;
pub mod objects;
pub mod otp;
pub mod s3;
pub mod stream;

pub use blind::{BlindIndexer, IndexKind};
pub use checkpoint::{AuditSigner, Checkpoint, verify_signed};
pub use error::{Error, Result};
pub use keyring::{DataKey, KeyUnwrap, KeyWrap, Keyring};
pub use objects::{FILL_ROOM, Fill, LocalFolder, ObjectStore, ObjectWriter};
pub use otp::{OneTimeCodes, SecretCode};
pub use s3::{S3Config, S3Credentials, S3Store};
pub use stream::{
    HEADER_LEN, ReadPlan, SEALED_SEGMENT_LEN, SEGMENT_LEN, StreamOpener, StreamSealer, TAG_LEN,
    open_to_vec, plaintext_len, seal_to_vec, sealed_len,
};
