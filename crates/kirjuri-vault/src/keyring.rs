//! The keyring (SEC-2): key-encryption keys (KEKs) that wrap the random data
//! key of every stored object, and the root secret the blind-index key is
//! derived from.
//!
//! Envelope encryption: each object is sealed under its own [`DataKey`]; only
//! the *wrapped* data key is kept, in the database, bound to the object's id.
//! Destroying that row makes every copy of the object — replicas, backups —
//! unreadable (crypto-shredding). KEKs rotate: [`Keyring::rotate_kek`] adds a
//! new current KEK and keeps the old ones, so existing wrapped keys still
//! unwrap. The blind-index key comes from a separate root secret, so rotating
//! KEKs never invalidates a search index.
//!
//! Wrapping is behind the small [`KeyWrap`] trait on purpose: an intake node at
//! the telephone operator's premises should be able to *wrap* with a public
//! key (X25519 / HPKE, a later `version` byte) without holding anything that
//! can *unwrap*. Only the symmetric key-file keyring exists today; HPKE, a KMS
//! or Vault transit are not implemented here.
//!
//! Key file (JSON, mode 0600, never group/world accessible):
//! ```json
//! {"format": "kirjuri-keyring", "version": 1, "current_kek": 2,
//!  "keks": [{"id": 1, "key": "<base64 32 bytes>", "created_at": "…"}, …],
//!  "blind_index_root": "<base64 32 bytes>"}
//! ```
//!
//! Wrapped data key (65 bytes): `0x01` ‖ KEK id (u32 BE) ‖ 12-byte random
//! nonce ‖ AES-256-GCM(KEK, nonce, aad = `"kirjuri-dek-v1"` ‖ object id,
//! data key) ‖ 16-byte tag. Random nonces are safe for up to 2³² wraps per
//! KEK; rotate long before that.
//!
//! Not here: the object cipher ([`crate::stream`]), the blind index itself
//! ([`crate::blind`]), retiring old KEKs (re-wrapping happens in the store).

use std::fmt;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use kirjuri_core::clock::Clock;
use kirjuri_core::ids::ObjectId;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, Zeroizing};

use crate::blind::BlindIndexer;
use crate::error::{Error, IoContext, Result};
use crate::fsio::{self, parent_dir, sibling};
use crate::otp::OneTimeCodes;

/// Length of a data key and of a KEK: AES-256.
pub const KEY_LEN: usize = 32;
/// The first byte of a data key wrapped by a key-file KEK (AES-256-GCM).
/// Other wrappers (HPKE, KMS) will take other values.
pub const WRAP_VERSION_KEYRING: u8 = 1;
/// Length of a data key wrapped by [`Keyring::wrap`].
pub const WRAPPED_KEY_LEN: usize = 1 + 4 + NONCE_LEN + KEY_LEN + TAG_LEN;

/// AES-GCM tag length.
const TAG_LEN: usize = 16;
/// Domain-separation label at the start of the wrap's associated data.
const DEK_AAD_LABEL: &[u8; 14] = b"kirjuri-dek-v1";
/// `format` field of the key file.
const KEY_FILE_FORMAT: &str = "kirjuri-keyring";
/// `version` field of the key file this code reads and writes.
const KEY_FILE_VERSION: u32 = 1;

/// One object's random AES-256 data key. Zeroized on drop; `Debug` is
/// redacted. Deliberately not `Clone`: share it by reference.
pub struct DataKey {
    /// The key bytes.
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl DataKey {
    /// Draws a fresh key from `rng`.
    fn generate(rng: &dyn SecureRandom) -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill(&mut bytes[..]).map_err(|_| Error::Random)?;
        Ok(Self { bytes })
    }

    /// The raw key, for the ciphers in this crate only.
    pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// A key with chosen bytes, for known-answer tests.
    #[cfg(test)]
    pub(crate) fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self {
            bytes: Zeroizing::new(bytes),
        }
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

/// Wraps a data key for storage beside its object's database row.
///
/// Needs no secret that could unwrap: an HPKE implementation holding only a
/// public key can implement it for intake nodes that must not read.
pub trait KeyWrap: Send + Sync {
    /// Wraps `key`, bound to `object_id` (unwrapping under another id fails).
    fn wrap(&self, key: &DataKey, object_id: &ObjectId) -> Result<Vec<u8>>;
}

/// Recovers a data key wrapped by a matching [`KeyWrap`].
pub trait KeyUnwrap: Send + Sync {
    /// Unwraps `wrapped` for `object_id`; any tampering or mismatch is an error.
    fn unwrap(&self, wrapped: &[u8], object_id: &ObjectId) -> Result<DataKey>;
}

/// One key-encryption key.
struct Kek {
    /// Its id, stored in every key it wraps.
    id: u32,
    /// The expanded cipher. The raw key is not kept: rotation rewrites the
    /// key file from the file itself.
    cipher: LessSafeKey,
}

/// The KEKs as read from the key file at one moment.
struct KekSet {
    /// Id of the KEK new data keys are wrapped with.
    current: u32,
    /// All KEKs, ascending by id.
    keks: Vec<Kek>,
}

impl KekSet {
    /// The KEK with this id.
    fn get(&self, id: u32) -> Option<&Kek> {
        self.keks.iter().find(|kek| kek.id == id)
    }
}

/// The key-file keyring. Cheap to share behind an `Arc`; safe to use from
/// many threads.
pub struct Keyring {
    /// The key file, re-read when a wrapped key names a KEK this process has
    /// not seen (another process such as `kirjuri keys rotate` added it).
    path: PathBuf,
    /// The KEKs, replaced whole on reload or rotation.
    keks: RwLock<Arc<KekSet>>,
    /// SHA-256 of the blind-index root secret (not the secret itself): it
    /// must never change for a key file, and reloading checks that it did not.
    root_fingerprint: [u8; 32],
    /// Derived once from `root_secret`.
    blind: BlindIndexer,
    /// Derived once from `root_secret`, under its own HKDF info.
    codes: OneTimeCodes,
    /// Randomness for data keys and wrap nonces.
    rng: SystemRandom,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = self.snapshot();
        f.debug_struct("Keyring")
            .field("path", &self.path)
            .field("current_kek", &set.current)
            .field(
                "kek_ids",
                &set.keks.iter().map(|k| k.id).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// Opens the key file at `path`, creating it (and its directory) with a
    /// fresh KEK and root secret if it does not exist.
    ///
    /// Creation is atomic and never overwrites: if two processes start at
    /// once, exactly one file wins and both use it. A key file accessible by
    /// group or others is refused ([`Error::InsecureKeyFile`]).
    pub fn open_or_create(path: &Path) -> Result<Keyring> {
        Self::open_or_create_inner(path, None)
    }

    /// Like [`Keyring::open_or_create`], recording the first KEK's creation
    /// time from `clock` if the file is created.
    pub fn open_or_create_with_clock(path: &Path, clock: &dyn Clock) -> Result<Keyring> {
        Self::open_or_create_inner(path, Some(clock.now().to_rfc3339()))
    }

    fn open_or_create_inner(path: &Path, created_at: Option<String>) -> Result<Keyring> {
        let dir = parent_dir(path);
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .io_context(|| format!("failed to create key directory {}", dir.display()))?;
        let rng = SystemRandom::new();
        // Two rounds: if we lose a creation race, the second read sees the winner.
        for _ in 0..2 {
            match read_key_file(path) {
                Ok(doc) => return Self::from_doc(path, doc, rng),
                Err(ReadError::Missing) => {}
                Err(ReadError::Other(error)) => return Err(error),
            }
            let doc = KeyFileDoc::generate(&rng, created_at.clone())?;
            if write_key_file(path, &doc, WriteMode::CreateNew, &rng)? {
                return Self::from_doc(path, doc, rng);
            }
        }
        Err(Error::KeyFile {
            path: path.to_owned(),
            message: "the key file appeared and vanished while it was being created".into(),
        })
    }

    fn from_doc(path: &Path, doc: KeyFileDoc, rng: SystemRandom) -> Result<Keyring> {
        let set = doc.kek_set(path)?;
        let blind = BlindIndexer::derive(&doc.blind_index_root.0)?;
        let codes = OneTimeCodes::derive(&doc.blind_index_root.0)?;
        Ok(Keyring {
            path: path.to_owned(),
            keks: RwLock::new(Arc::new(set)),
            root_fingerprint: doc.root_fingerprint(),
            blind,
            codes,
            rng,
        })
    }

    /// The key file this keyring was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The id of the KEK new data keys are wrapped with.
    pub fn current_kek_id(&self) -> u32 {
        self.snapshot().current
    }

    /// The ids of every KEK held, ascending.
    pub fn kek_ids(&self) -> Vec<u32> {
        self.snapshot().keks.iter().map(|kek| kek.id).collect()
    }

    /// A fresh random data key for one object.
    pub fn generate_data_key(&self) -> Result<DataKey> {
        DataKey::generate(&self.rng)
    }

    /// Wraps `key` under the current KEK, bound to `object_id`; the result is
    /// [`WRAPPED_KEY_LEN`] bytes.
    pub fn wrap(&self, key: &DataKey, object_id: &ObjectId) -> Result<Vec<u8>> {
        let set = self.snapshot();
        let kek = set.get(set.current).ok_or(Error::UnknownKek(set.current))?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| Error::Random)?;

        let mut wrapped = Vec::with_capacity(WRAPPED_KEY_LEN);
        wrapped.push(WRAP_VERSION_KEYRING);
        wrapped.extend_from_slice(&kek.id.to_be_bytes());
        wrapped.extend_from_slice(&nonce);
        let body_start = wrapped.len();
        wrapped.extend_from_slice(key.expose());
        let sealed = kek.cipher.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(dek_aad(object_id)),
            &mut wrapped[body_start..],
        );
        match sealed {
            Ok(tag) => {
                wrapped.extend_from_slice(tag.as_ref());
                Ok(wrapped)
            }
            Err(_) => {
                // Never hand back (or leave behind) the plain data key.
                wrapped.zeroize();
                Err(Error::Integrity("sealing the data key failed".into()))
            }
        }
    }

    /// Unwraps a data key produced by [`Keyring::wrap`] for the same
    /// `object_id`. A wrong object id, an unknown KEK or any altered byte is an
    /// error; nothing here panics on hostile input.
    pub fn unwrap(&self, wrapped: &[u8], object_id: &ObjectId) -> Result<DataKey> {
        let Some((&version, rest)) = wrapped.split_first() else {
            return Err(Error::Format("wrapped data key is empty".into()));
        };
        if version != WRAP_VERSION_KEYRING {
            return Err(Error::Format(format!(
                "wrapped data key version {version} is not supported by the key-file keyring"
            )));
        }
        if wrapped.len() != WRAPPED_KEY_LEN {
            return Err(Error::Format(format!(
                "wrapped data key is {} bytes, expected {WRAPPED_KEY_LEN}",
                wrapped.len()
            )));
        }
        let (id_bytes, rest) = rest.split_at(4);
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let kek_id = u32::from_be_bytes([id_bytes[0], id_bytes[1], id_bytes[2], id_bytes[3]]);
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(nonce);

        let mut set = self.snapshot();
        if set.get(kek_id).is_none() {
            // Another process may have rotated since we read the file.
            self.reload()?;
            set = self.snapshot();
        }
        let kek = set.get(kek_id).ok_or(Error::UnknownKek(kek_id))?;

        let mut buffer = Zeroizing::new([0u8; KEY_LEN + TAG_LEN]);
        buffer.copy_from_slice(body);
        let opened = kek
            .cipher
            .open_in_place(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(dek_aad(object_id)),
                &mut buffer[..],
            )
            .map_err(|_| {
                Error::Integrity(format!(
                    "wrapped data key for object {object_id} failed authentication \
                     (altered, or wrapped for another object)"
                ))
            })?;
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        bytes.copy_from_slice(opened);
        Ok(DataKey { bytes })
    }

    /// Adds a new KEK to the key file at `path` and makes it current; returns
    /// its id. Older KEKs stay, so everything wrapped before still unwraps.
    ///
    /// The file is re-read under a lock first, so a rotation by another
    /// process is never lost, then replaced atomically (temp file, fsync,
    /// rename, fsync of the directory).
    pub fn rotate_kek(&mut self, path: &Path) -> Result<u32> {
        self.rotate_inner(path, None)
    }

    /// Like [`Keyring::rotate_kek`], recording the creation time from `clock`.
    pub fn rotate_kek_with_clock(&mut self, path: &Path, clock: &dyn Clock) -> Result<u32> {
        self.rotate_inner(path, Some(clock.now().to_rfc3339()))
    }

    fn rotate_inner(&mut self, path: &Path, created_at: Option<String>) -> Result<u32> {
        let lock_path = sibling(path, ".lock");
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .io_context(|| format!("failed to open key lock file {}", lock_path.display()))?;
        lock.lock()
            .io_context(|| format!("failed to lock {}", lock_path.display()))?;

        let mut doc = match read_key_file(path) {
            Ok(doc) => doc,
            Err(ReadError::Missing) => {
                return Err(Error::KeyFile {
                    path: path.to_owned(),
                    message: "cannot rotate: the key file does not exist".into(),
                });
            }
            Err(ReadError::Other(error)) => return Err(error),
        };
        self.check_root(path, &doc)?;
        let new_id = doc
            .keks
            .iter()
            .map(|kek| kek.id)
            .max()
            .unwrap_or(0)
            .checked_add(1)
            .ok_or_else(|| Error::KeyFile {
                path: path.to_owned(),
                message: "no KEK id left".into(),
            })?;
        doc.keks.push(KekEntry {
            id: new_id,
            key: SecretKeyB64::generate(&self.rng)?,
            created_at,
        });
        doc.current_kek = new_id;
        let set = doc.kek_set(path)?;
        write_key_file(path, &doc, WriteMode::Replace, &self.rng)?;
        self.path = path.to_owned();
        self.store(set);
        // Unlocks when `lock` drops; say so explicitly for the reader.
        drop(lock);
        Ok(new_id)
    }

    /// Re-reads the key file, picking up KEKs added by other processes. The
    /// root secret must be unchanged; a different one is refused, because it
    /// would silently break every blind index.
    pub fn reload(&self) -> Result<()> {
        let doc = match read_key_file(&self.path) {
            Ok(doc) => doc,
            Err(ReadError::Missing) => {
                return Err(Error::KeyFile {
                    path: self.path.clone(),
                    message: "the key file has disappeared".into(),
                });
            }
            Err(ReadError::Other(error)) => return Err(error),
        };
        self.check_root(&self.path, &doc)?;
        let set = doc.kek_set(&self.path)?;
        self.store(set);
        Ok(())
    }

    /// The blind indexer keyed from this keyring's root secret.
    pub fn blind_indexer(&self) -> &BlindIndexer {
        &self.blind
    }

    /// The one-time codes keyed from this keyring's root secret.
    pub fn one_time_codes(&self) -> &OneTimeCodes {
        &self.codes
    }

    fn check_root(&self, path: &Path, doc: &KeyFileDoc) -> Result<()> {
        // Fingerprints, not secrets, are compared: no timing concern.
        if doc.root_fingerprint() == self.root_fingerprint {
            Ok(())
        } else {
            Err(Error::KeyFile {
                path: path.to_owned(),
                message: "the blind-index root secret differs from the one in use; \
                          the key file was replaced"
                    .into(),
            })
        }
    }

    fn snapshot(&self) -> Arc<KekSet> {
        match self.keks.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn store(&self, set: KekSet) {
        let set = Arc::new(set);
        match self.keks.write() {
            Ok(mut guard) => *guard = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
    }
}

impl KeyWrap for Keyring {
    fn wrap(&self, key: &DataKey, object_id: &ObjectId) -> Result<Vec<u8>> {
        Keyring::wrap(self, key, object_id)
    }
}

impl KeyUnwrap for Keyring {
    fn unwrap(&self, wrapped: &[u8], object_id: &ObjectId) -> Result<DataKey> {
        Keyring::unwrap(self, wrapped, object_id)
    }
}

/// Associated data of a wrapped key: label ‖ object id.
fn dek_aad(object_id: &ObjectId) -> [u8; 30] {
    let mut aad = [0u8; 30];
    aad[..14].copy_from_slice(DEK_AAD_LABEL);
    aad[14..].copy_from_slice(object_id.as_bytes());
    aad
}

/// The key file as stored.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileDoc {
    /// Always [`KEY_FILE_FORMAT`].
    format: String,
    /// Always [`KEY_FILE_VERSION`] for this code.
    version: u32,
    /// Id of the KEK that wraps new data keys.
    current_kek: u32,
    /// Every KEK, old ones included.
    keks: Vec<KekEntry>,
    /// Root secret of derived keys (the blind index).
    blind_index_root: SecretKeyB64,
}

/// Just enough of the key file to check what it is before parsing strictly.
#[derive(Deserialize)]
struct KeyFileProbe {
    format: String,
    version: u32,
}

/// One KEK as stored.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KekEntry {
    id: u32,
    key: SecretKeyB64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
}

/// 32 secret bytes, base64 in the file, zeroized in memory.
struct SecretKeyB64(Zeroizing<[u8; KEY_LEN]>);

impl SecretKeyB64 {
    fn generate(rng: &dyn SecureRandom) -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill(&mut bytes[..]).map_err(|_| Error::Random)?;
        Ok(Self(bytes))
    }
}

impl Serialize for SecretKeyB64 {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut text = Zeroizing::new(String::with_capacity(64));
        BASE64.encode_string(&self.0[..], &mut text);
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for SecretKeyB64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(deserializer)?);
        // Room for the whole decode up front, so no reallocation leaves a copy.
        let mut decoded = Zeroizing::new(Vec::with_capacity(text.len()));
        BASE64
            .decode_vec(text.as_bytes(), &mut decoded)
            .map_err(|_| serde::de::Error::custom("a key is not valid base64"))?;
        if decoded.len() != KEY_LEN {
            return Err(serde::de::Error::custom(format!(
                "a key is {} bytes, expected {KEY_LEN}",
                decoded.len()
            )));
        }
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        bytes.copy_from_slice(&decoded);
        Ok(Self(bytes))
    }
}

impl KeyFileDoc {
    /// A new key file: KEK 1 current, fresh root secret.
    fn generate(rng: &dyn SecureRandom, created_at: Option<String>) -> Result<Self> {
        Ok(Self {
            format: KEY_FILE_FORMAT.into(),
            version: KEY_FILE_VERSION,
            current_kek: 1,
            keks: vec![KekEntry {
                id: 1,
                key: SecretKeyB64::generate(rng)?,
                created_at,
            }],
            blind_index_root: SecretKeyB64::generate(rng)?,
        })
    }

    /// SHA-256 of the root secret.
    fn root_fingerprint(&self) -> [u8; 32] {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.blind_index_root.0[..]);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        out
    }

    /// Checks the document and expands its KEKs.
    fn kek_set(&self, path: &Path) -> Result<KekSet> {
        let bad = |message: String| Error::KeyFile {
            path: path.to_owned(),
            message,
        };
        let mut keks = Vec::with_capacity(self.keks.len());
        for entry in &self.keks {
            if keks.iter().any(|kek: &Kek| kek.id == entry.id) {
                return Err(bad(format!("KEK id {} appears twice", entry.id)));
            }
            let unbound = UnboundKey::new(&AES_256_GCM, &entry.key.0[..])
                .map_err(|_| bad(format!("KEK {} is not a valid AES-256 key", entry.id)))?;
            keks.push(Kek {
                id: entry.id,
                cipher: LessSafeKey::new(unbound),
            });
        }
        keks.sort_by_key(|kek| kek.id);
        if !keks.iter().any(|kek| kek.id == self.current_kek) {
            return Err(bad(format!(
                "current KEK {} is not among the keys",
                self.current_kek
            )));
        }
        Ok(KekSet {
            current: self.current_kek,
            keks,
        })
    }
}

/// Why a key file could not be read.
enum ReadError {
    /// There is no file at the path.
    Missing,
    /// Anything else, already a proper error.
    Other(Error),
}

/// Reads and checks the key file: a regular file, owner-only permissions,
/// the expected format and version.
fn read_key_file(path: &Path) -> std::result::Result<KeyFileDoc, ReadError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Err(ReadError::Missing),
        Err(error) => {
            return Err(ReadError::Other(Error::Io {
                context: format!("failed to open key file {}", path.display()),
                source: error,
            }));
        }
    };
    let other = ReadError::Other;
    let metadata = file
        .metadata()
        .io_context(|| format!("failed to stat key file {}", path.display()))
        .map_err(other)?;
    if !metadata.is_file() {
        return Err(other(Error::KeyFile {
            path: path.to_owned(),
            message: "not a regular file".into(),
        }));
    }
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(other(Error::InsecureKeyFile {
            path: path.to_owned(),
            mode,
        }));
    }
    let capacity = usize::try_from(metadata.len())
        .unwrap_or(0)
        .saturating_add(1);
    let mut text = Zeroizing::new(Vec::with_capacity(capacity));
    file.read_to_end(&mut text)
        .io_context(|| format!("failed to read key file {}", path.display()))
        .map_err(other)?;

    let bad = |message: String| {
        ReadError::Other(Error::KeyFile {
            path: path.to_owned(),
            message,
        })
    };
    let probe: KeyFileProbe =
        serde_json::from_slice(&text).map_err(|e| bad(format!("not a Kirjuri key file ({e})")))?;
    if probe.format != KEY_FILE_FORMAT {
        return Err(bad(format!(
            "format is {:?}, expected {KEY_FILE_FORMAT:?}",
            probe.format
        )));
    }
    if probe.version != KEY_FILE_VERSION {
        return Err(bad(format!(
            "format version {} is not supported (this build reads version {KEY_FILE_VERSION})",
            probe.version
        )));
    }
    serde_json::from_slice(&text).map_err(|e| bad(format!("invalid key file ({e})")))
}

/// How [`write_key_file`] puts the file in place.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WriteMode {
    /// Only if no file exists (first start); never overwrites.
    CreateNew,
    /// Atomically replace the existing file (rotation, under the lock).
    Replace,
}

/// Writes `doc` beside `path` and links (`CreateNew`) or renames
/// (`Replace`) it into place, owner-only and fsynced
/// ([`fsio::write_private_atomically`]). Returns `false` if `CreateNew`
/// found a file already there.
fn write_key_file(
    path: &Path,
    doc: &KeyFileDoc,
    mode: WriteMode,
    rng: &dyn SecureRandom,
) -> Result<bool> {
    // Large enough that serialising never reallocates (and so never leaves a
    // stray copy of a key in freed memory).
    let mut text = Zeroizing::new(Vec::with_capacity(1024 + doc.keks.len() * 160));
    serde_json::to_writer_pretty(&mut *text, doc).map_err(|e| Error::KeyFile {
        path: path.to_owned(),
        message: format!("failed to serialise ({e})"),
    })?;
    text.push(b'\n');
    let existing = match mode {
        WriteMode::CreateNew => fsio::Existing::Keep,
        WriteMode::Replace => fsio::Existing::Replace,
    };
    Ok(fsio::write_private_atomically(path, &text, existing, rng)?)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn id() -> ObjectId {
        ObjectId::new_v7()
    }

    fn stored_doc(path: &Path) -> serde_json::Value {
        serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
    }

    /// A key file with chosen keys, for known-answer tests.
    fn key_file_with(path: &Path, kek: [u8; 32]) {
        let doc = serde_json::json!({
            "format": "kirjuri-keyring",
            "version": 1,
            "current_kek": 1,
            "keks": [{"id": 1, "key": BASE64.encode(kek)}],
            "blind_index_root": BASE64.encode([0u8; 32]),
        });
        fs::write(path, doc.to_string()).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// The wrap format, against a vector computed independently with Python's
    /// `cryptography` AESGCM from the module docs.
    #[test]
    fn a_key_wrapped_by_an_independent_implementation_unwraps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        key_file_with(&path, [9; 32]);
        let keyring = Keyring::open_or_create(&path).unwrap();
        let object: ObjectId = "01890a5d-ac96-774b-bcce-b302099a8057".parse().unwrap();
        let wrapped = hex::decode(
            "0100000001000102030405060708090a0b41fa306997e4814e34fd87347b686e9f78de240936\
             bb970fd4a59b5ded6254704c2b4286f50446be10aefdae10b811a1",
        )
        .unwrap();

        let key = keyring.unwrap(&wrapped, &object).unwrap();

        assert_eq!(key.expose(), &[0xAB; 32]);
    }

    #[test]
    fn a_wrapped_key_unwraps_to_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let keyring = Keyring::open_or_create(&dir.path().join("keys.json")).unwrap();
        let key = keyring.generate_data_key().unwrap();
        let object = id();

        let wrapped = keyring.wrap(&key, &object).unwrap();
        let unwrapped = keyring.unwrap(&wrapped, &object).unwrap();

        assert_eq!(wrapped.len(), WRAPPED_KEY_LEN);
        assert_eq!(wrapped[0], WRAP_VERSION_KEYRING);
        assert_eq!(&wrapped[1..5], &1u32.to_be_bytes());
        assert_eq!(unwrapped.expose(), key.expose());
    }

    #[test]
    fn the_key_file_is_created_owner_only_in_a_new_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new").join("deeper").join("keys.json");

        Keyring::open_or_create(&path).unwrap();

        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = fs::read_to_string(&path).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["format"], "kirjuri-keyring");
        assert_eq!(json["version"], 1);
        assert_eq!(json["current_kek"], 1);
        assert_eq!(json["keks"].as_array().unwrap().len(), 1);
        // No temp files left behind.
        let entries: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn reopening_uses_the_same_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let first = Keyring::open_or_create(&path).unwrap();
        let key = first.generate_data_key().unwrap();
        let object = id();
        let wrapped = first.wrap(&key, &object).unwrap();

        let second = Keyring::open_or_create(&path).unwrap();

        assert_eq!(
            second.unwrap(&wrapped, &object).unwrap().expose(),
            key.expose()
        );
        let b = second.blind_indexer();
        assert_eq!(
            first
                .blind_indexer()
                .hash(crate::IndexKind::Phone, "+358401234567"),
            b.hash(crate::IndexKind::Phone, "+358401234567")
        );
    }

    #[test]
    fn racing_creators_all_end_up_with_one_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let keyrings: Vec<Keyring> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| Keyring::open_or_create(&path).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let object = id();
        let key = keyrings[0].generate_data_key().unwrap();
        let wrapped = keyrings[0].wrap(&key, &object).unwrap();
        for keyring in &keyrings {
            assert_eq!(
                keyring.unwrap(&wrapped, &object).unwrap().expose(),
                key.expose()
            );
        }
        let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "temp files left behind");
    }

    #[test]
    fn a_group_or_world_readable_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        Keyring::open_or_create(&path).unwrap();
        for mode in [0o640, 0o604, 0o620] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();

            let error = Keyring::open_or_create(&path).unwrap_err();

            assert!(
                matches!(error, Error::InsecureKeyFile { mode: m, .. } if m == mode),
                "{error}"
            );
            assert!(error.to_string().contains("chmod 600"));
        }
        // The file was not replaced.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        Keyring::open_or_create(&path).unwrap();
    }

    #[test]
    fn a_corrupt_key_file_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let cases = [
            "not json",
            r#"{"format":"something-else","version":1}"#,
            r#"{"format":"kirjuri-keyring","version":2}"#,
            r#"{"format":"kirjuri-keyring","version":1,"current_kek":1,"keks":[{"id":1,"key":"c2hvcnQ="}],"blind_index_root":"c2hvcnQ="}"#,
            r#"{"format":"kirjuri-keyring","version":1,"current_kek":2,"keks":[{"id":1,"key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}],"blind_index_root":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#,
        ];
        for case in cases {
            fs::write(&path, case).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();

            let error = Keyring::open_or_create(&path).unwrap_err();

            assert!(matches!(error, Error::KeyFile { .. }), "{case}: {error}");
            assert_eq!(fs::read_to_string(&path).unwrap(), case);
        }
    }

    #[test]
    fn unwrapping_for_another_object_fails() {
        let dir = tempfile::tempdir().unwrap();
        let keyring = Keyring::open_or_create(&dir.path().join("keys.json")).unwrap();
        let key = keyring.generate_data_key().unwrap();
        let wrapped = keyring.wrap(&key, &id()).unwrap();

        let error = keyring.unwrap(&wrapped, &id()).unwrap_err();

        assert!(matches!(error, Error::Integrity(_)), "{error}");
    }

    #[test]
    fn every_altered_byte_of_a_wrapped_key_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let keyring = Keyring::open_or_create(&dir.path().join("keys.json")).unwrap();
        let key = keyring.generate_data_key().unwrap();
        let object = id();
        let wrapped = keyring.wrap(&key, &object).unwrap();
        for i in 0..wrapped.len() {
            for bit in 0..8 {
                let mut altered = wrapped.clone();
                altered[i] ^= 1 << bit;
                assert!(
                    keyring.unwrap(&altered, &object).is_err(),
                    "byte {i} bit {bit}"
                );
            }
        }
        for len in 0..wrapped.len() {
            assert!(keyring.unwrap(&wrapped[..len], &object).is_err());
        }
        let mut longer = wrapped.clone();
        longer.push(0);
        assert!(keyring.unwrap(&longer, &object).is_err());
    }

    #[test]
    fn an_unknown_kek_id_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let keyring = Keyring::open_or_create(&dir.path().join("keys.json")).unwrap();
        let key = keyring.generate_data_key().unwrap();
        let object = id();
        let mut wrapped = keyring.wrap(&key, &object).unwrap();
        wrapped[1..5].copy_from_slice(&77u32.to_be_bytes());

        let error = keyring.unwrap(&wrapped, &object).unwrap_err();

        assert!(matches!(error, Error::UnknownKek(77)), "{error}");
    }

    #[test]
    fn after_rotation_new_keys_use_the_new_kek_and_old_ones_still_unwrap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let mut keyring = Keyring::open_or_create(&path).unwrap();
        let object = id();
        let old_key = keyring.generate_data_key().unwrap();
        let old_wrapped = keyring.wrap(&old_key, &object).unwrap();
        let phone_before = keyring
            .blind_indexer()
            .hash(crate::IndexKind::Phone, "+358401234567");

        let new_id = keyring.rotate_kek(&path).unwrap();

        assert_eq!(new_id, 2);
        assert_eq!(keyring.current_kek_id(), 2);
        assert_eq!(keyring.kek_ids(), vec![1, 2]);
        let new_key = keyring.generate_data_key().unwrap();
        let new_wrapped = keyring.wrap(&new_key, &object).unwrap();
        assert_eq!(&new_wrapped[1..5], &2u32.to_be_bytes());
        let reopened = Keyring::open_or_create(&path).unwrap();
        assert_eq!(reopened.current_kek_id(), 2);
        assert_eq!(
            reopened.unwrap(&old_wrapped, &object).unwrap().expose(),
            old_key.expose()
        );
        assert_eq!(
            reopened.unwrap(&new_wrapped, &object).unwrap().expose(),
            new_key.expose()
        );
        assert_eq!(
            reopened
                .blind_indexer()
                .hash(crate::IndexKind::Phone, "+358401234567"),
            phone_before,
            "rotation must not change blind indexes"
        );
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_rotation_by_another_process_is_seen_without_restart_and_never_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let server = Keyring::open_or_create(&path).unwrap();
        let mut cli_one = Keyring::open_or_create(&path).unwrap();
        let mut cli_two = Keyring::open_or_create(&path).unwrap();

        assert_eq!(cli_one.rotate_kek(&path).unwrap(), 2);
        // cli_two has a stale view, yet its rotation keeps KEK 2.
        assert_eq!(cli_two.rotate_kek(&path).unwrap(), 3);
        let object = id();
        let key = cli_one.generate_data_key().unwrap();
        let wrapped_by_two = cli_one.wrap(&key, &object).unwrap();

        // The running server has never heard of KEK 2, and unwraps anyway.
        assert_eq!(
            server.unwrap(&wrapped_by_two, &object).unwrap().expose(),
            key.expose()
        );
        assert_eq!(server.kek_ids(), vec![1, 2, 3]);
        assert_eq!(stored_doc(&path)["keks"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn a_replaced_root_secret_is_refused_on_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let keyring = Keyring::open_or_create(&path).unwrap();
        fs::remove_file(&path).unwrap();
        Keyring::open_or_create(&path).unwrap();

        let error = keyring.reload().unwrap_err();

        assert!(error.to_string().contains("root secret"), "{error}");
    }

    #[test]
    fn the_clock_variant_records_creation_times() {
        use kirjuri_core::clock::FixedClock;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let clock = FixedClock::new("2026-11-29T09:15:02Z".parse().unwrap());
        let expected = clock.now().to_rfc3339();

        let mut keyring = Keyring::open_or_create_with_clock(&path, &clock).unwrap();
        keyring.rotate_kek_with_clock(&path, &clock).unwrap();

        let keks = stored_doc(&path)["keks"].as_array().unwrap().clone();
        assert_eq!(keks.len(), 2);
        assert!(
            keks.iter()
                .all(|kek| kek["created_at"] == expected.as_str())
        );
    }

    #[test]
    fn debug_output_shows_no_key_material() {
        let dir = tempfile::tempdir().unwrap();
        let keyring = Keyring::open_or_create(&dir.path().join("keys.json")).unwrap();
        let key = keyring.generate_data_key().unwrap();

        let key_debug = format!("{key:?}");
        let keyring_debug = format!("{keyring:?}");

        assert_eq!(key_debug, "DataKey([redacted])");
        assert!(keyring_debug.contains("current_kek: 1"), "{keyring_debug}");
        let doc = stored_doc(keyring.path());
        for secret in [&doc["keks"][0]["key"], &doc["blind_index_root"]] {
            let b64 = secret.as_str().unwrap();
            assert!(!keyring_debug.contains(b64));
        }
    }
}
