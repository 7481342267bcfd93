//! Packages: the ZIP files that carry personal data out of the register — a
//! data subject's access package (DSR-3) and an authority's disclosure
//! (DIS-2) — written as a stream in constant memory, with a signed
//! manifest that lets the recipient check every file.
//!
//! **Format.** A ZIP of STORED entries (recordings do not compress, and
//! STORED keeps each file's bytes as they were, for `sha256sum` to check),
//! each written with a data descriptor so nothing is buffered, ZIP64 where
//! the package outgrows 4 GiB. Last come two entries:
//!
//! - `manifest.json`: `{"type", "v": 1, "created_at", "files": [{"path",
//!   "sha256", "bytes"}], …}` — every file before it, in order, plus what
//!   the caller adds (the request's reference, the package's purpose);
//! - `manifest.sig`: `{"key": <verifier key>, "sig": <base64 Ed25519>}`, the
//!   audit key's signature over `"kirjuri-package-manifest/v1\n" ‖
//!   SHA-256(manifest.json as stored)` — the prefix keeps it apart from the
//!   key's other signatures (checkpoints, the erasure ledger, backups).
//!
//! [`verify`] checks a whole package against a verifier key: the signature,
//! and that the files are exactly those the manifest lists with their
//! hashes and sizes.
//!
//! **Names.** Paths are relative, `/`-separated, of printable characters,
//! without `.`/`..` segments, unique, and never the manifest's own: a
//! package unpacks only inside its folder.
//!
//! Not here: what goes into a package (the request and disclosure flows),
//! or HTTP — the web layer streams [`PackageWriter`]'s sink.

use std::collections::HashSet;

use async_zip::base::write::ZipFileWriter;
use async_zip::{Compression, ZipEntryBuilder};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::AsyncWriteExt as _;
use kirjuri_vault::AuditSigner;
use kirjuri_vault::checkpoint::{verifier_public_key, verify_document};
use ring::digest::{Context, SHA256, digest};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio_util::compat::Compat;

use crate::error::{Error, Result};

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";

/// The manifest signature's file name.
pub const SIGNATURE: &str = "manifest.sig";

/// What the signature covers goes after this prefix.
const SIGNED_PREFIX: &[u8] = b"kirjuri-package-manifest/v1\n";

/// The copy buffer: one read from the source, one entry write.
const CHUNK: usize = 64 * 1024;

/// The longest path in a package, in bytes.
const MAX_PATH: usize = 255;

/// One file of a package as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub path: String,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
    pub bytes: u64,
}

/// The manifest: the fixed fields; the caller's go in `details`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// What the package is, e.g. `kirjuri-access-package`.
    #[serde(rename = "type")]
    pub kind: String,
    pub v: u32,
    pub created_at: String,
    pub files: Vec<ManifestFile>,
    /// The caller's fields (reference, purpose, …), flattened in.
    #[serde(flatten)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// The signature file's contents.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    key: String,
    sig: String,
}

/// Writes a package to `W` as it goes. Call [`PackageWriter::finish`]; a
/// writer dropped before that leaves an unfinished ZIP (no central
/// directory), which no unzip tool accepts — the recipient never mistakes
/// a cut-off package for a whole one.
pub struct PackageWriter<W: AsyncWrite + Unpin> {
    zip: ZipFileWriter<Compat<W>>,
    files: Vec<ManifestFile>,
    paths: HashSet<String>,
}

impl<W: AsyncWrite + Unpin> PackageWriter<W> {
    /// A package written to `sink`.
    pub fn new(sink: W) -> Self {
        Self {
            zip: ZipFileWriter::with_tokio(sink),
            files: Vec::new(),
            paths: HashSet::new(),
        }
    }

    /// Adds the file `path` with everything `source` yields, hashing it on
    /// the way; returns its manifest line.
    pub async fn add(
        &mut self,
        path: &str,
        mut source: impl AsyncRead + Unpin,
    ) -> Result<&ManifestFile> {
        self.claim(path)?;
        let entry = ZipEntryBuilder::new(path.to_owned().into(), Compression::Stored);
        let mut writer = self
            .zip
            .write_entry_stream(entry)
            .await
            .map_err(zip_error)?;
        let mut hash = Context::new(&SHA256);
        let mut bytes = 0u64;
        let mut buffer = vec![0u8; CHUNK];
        loop {
            let n = source
                .read(&mut buffer)
                .await
                .map_err(|e| Error::io("read a file for the package", e))?;
            if n == 0 {
                break;
            }
            let chunk = buffer.get(..n).unwrap_or_default();
            hash.update(chunk);
            writer
                .write_all(chunk)
                .await
                .map_err(|e| Error::io("write the package", e))?;
            bytes += n as u64;
        }
        writer.close().await.map_err(zip_error)?;
        self.files.push(ManifestFile {
            path: path.to_owned(),
            sha256: hex::encode(hash.finish()),
            bytes,
        });
        self.files
            .last()
            .ok_or(Error::Internal("a package file was pushed and is gone"))
    }

    /// Adds a small file held in memory.
    pub async fn add_bytes(&mut self, path: &str, bytes: &[u8]) -> Result<&ManifestFile> {
        self.add(path, bytes).await
    }

    /// The files added so far.
    pub fn files(&self) -> &[ManifestFile] {
        &self.files
    }

    /// Writes the manifest of `kind` with the caller's `details` and its
    /// signature, closes the ZIP, and returns the sink.
    pub async fn finish(
        mut self,
        kind: &str,
        details: serde_json::Map<String, serde_json::Value>,
        created_at: DateTime<Utc>,
        signer: &AuditSigner,
    ) -> Result<W> {
        let manifest = Manifest {
            kind: kind.to_owned(),
            v: 1,
            created_at: created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            files: std::mem::take(&mut self.files),
            details,
        };
        let text = serde_json::to_vec_pretty(&manifest).map_err(|source| Error::Encode {
            what: "a package manifest",
            source,
        })?;
        let signature = SignatureFile {
            key: signer.verifier_key(),
            sig: BASE64.encode(signer.sign_document(SIGNED_PREFIX, &text)),
        };
        let signature = serde_json::to_vec(&signature).map_err(|source| Error::Encode {
            what: "a package signature",
            source,
        })?;
        for (path, bytes) in [(MANIFEST, &text), (SIGNATURE, &signature)] {
            let entry = ZipEntryBuilder::new(path.to_owned().into(), Compression::Stored);
            self.zip
                .write_entry_whole(entry, bytes)
                .await
                .map_err(zip_error)?;
        }
        let sink = self.zip.close().await.map_err(zip_error)?;
        Ok(sink.into_inner())
    }

    /// Checks `path` and reserves it.
    fn claim(&mut self, path: &str) -> Result<()> {
        check_path(path)?;
        if !self.paths.insert(path.to_owned()) {
            return Err(Error::Internal("a package path was added twice"));
        }
        Ok(())
    }
}

/// Refuses a path that could unpack outside the package's folder, that is
/// not plain printable text, or that is the manifest's own.
fn check_path(path: &str) -> Result<()> {
    let fine = !path.is_empty()
        && path.len() <= MAX_PATH
        && path != MANIFEST
        && path != SIGNATURE
        && !path.starts_with('/')
        && !path
            .chars()
            .any(|c| c.is_control() || c == '\\' || c == ':')
        && path
            .split('/')
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..");
    if fine {
        Ok(())
    } else {
        Err(Error::Internal(
            "a package path must be relative plain text",
        ))
    }
}

fn zip_error(e: async_zip::error::ZipError) -> Error {
    Error::Other {
        step: "write a ZIP package",
        source: Box::new(e),
    }
}

/// Checks a package given as `entries` (each file's path and bytes, in the
/// archive's order) against `verifier_key`: the manifest's signature by that
/// key, and that the files other than the manifest and signature are
/// exactly those listed, with their hashes and sizes. Returns the manifest.
pub fn verify(entries: &[(String, Vec<u8>)], verifier_key: &str) -> Result<Manifest> {
    let damaged = |what: &str| Error::Damaged(format!("package: {what}"));
    let find = |name: &str| {
        entries
            .iter()
            .find(|(path, _)| path == name)
            .map(|(_, bytes)| bytes.as_slice())
            .ok_or_else(|| damaged(&format!("no {name}")))
    };
    let text = find(MANIFEST)?;
    let signature: SignatureFile =
        serde_json::from_slice(find(SIGNATURE)?).map_err(|_| damaged("unreadable manifest.sig"))?;
    let key =
        verifier_public_key(verifier_key).map_err(|_| damaged("the verifier key is not a key"))?;
    let sig = BASE64
        .decode(signature.sig.as_bytes())
        .map_err(|_| damaged("the signature is not base64"))?;
    verify_document(&key, SIGNED_PREFIX, text, &sig)
        .map_err(|_| damaged("the manifest's signature does not verify with this key"))?;
    let manifest: Manifest =
        serde_json::from_slice(text).map_err(|_| damaged("unreadable manifest.json"))?;
    let files: Vec<&(String, Vec<u8>)> = entries
        .iter()
        .filter(|(path, _)| path != MANIFEST && path != SIGNATURE)
        .collect();
    if files.len() != manifest.files.len() {
        return Err(damaged("the files are not those the manifest lists"));
    }
    for ((path, bytes), listed) in files.into_iter().zip(&manifest.files) {
        let same = *path == listed.path
            && bytes.len() as u64 == listed.bytes
            && hex::encode(digest(&SHA256, bytes)) == listed.sha256;
        if !same {
            return Err(damaged(&format!(
                "{} differs from the manifest",
                listed.path
            )));
        }
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests;
