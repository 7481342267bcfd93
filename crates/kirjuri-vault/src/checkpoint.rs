//! Signed checkpoints of the audit log's Merkle tree (AUD-2): the log's
//! size and root in the C2SP `tlog-checkpoint` format, signed with Ed25519 as
//! a C2SP `signed-note`, so an outside witness can check and keep them with
//! standard tooling (Go's `golang.org/x/mod/sumdb/note`, the transparency-dev
//! witness, `sigsum`, …).
//!
//! A signed checkpoint is exactly:
//!
//! ```text
//! <origin>\n
//! <tree size, decimal, no leading zeros>\n
//! <root hash, standard base64>\n
//! \n
//! — <key name> <base64(key ID ‖ 64-byte Ed25519 signature)>\n
//! ```
//!
//! where "—" is U+2014, the signature covers the three body lines including
//! their newlines, and the key ID is the first four bytes of SHA-256(key name
//! ‖ 0x0A ‖ 0x01 ‖ 32-byte public key), 0x01 being the note signature type of
//! Ed25519. The matching *verifier key*, the string a witness configures, is
//! `<key name>+<key ID as 8 hex digits>+<base64(0x01 ‖ public key)>`.
//!
//! The signing key is kept like the key-encryption key: a PKCS#8 (PEM,
//! `PRIVATE KEY`) file, created atomically with mode 0600 in a 0700
//! directory, refused if group or others can read it. The server decides the
//! path (by default `<data>/keys/audit-signing.key`). Kirjuri writes PKCS#8
//! v2 (ring's: the public key is stored too and checked on every load, so a
//! damaged key file is refused rather than signing with a different key);
//! it also reads v1, so a key made with `openssl genpkey -algorithm ed25519`
//! can be dropped in. (OpenSSL 3.0 itself cannot read v2 files; ask
//! [`AuditSigner::verifier_key`] for the public half.) ring does not zeroize
//! the key pair it holds in memory; the file's bytes are zeroized after use.
//!
//! Not here: the Merkle tree itself (`kirjuri_core::merkle`), deciding when
//! to checkpoint, checking a new checkpoint is consistent with the previous
//! one before signing (the audit writer does that with
//! `kirjuri_core::merkle`), and storing or exporting checkpoints.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::error::{Error, IoContext, Result};
use crate::fsio::{self, parent_dir};

/// The C2SP signed-note signature type of Ed25519.
const ALG_ED25519: u8 = 0x01;
/// What starts every signature line: an em dash (U+2014) and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";
/// Length of an Ed25519 public key.
const PUBLIC_KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
const SIGNATURE_LEN: usize = 64;
/// The longest note [`verify_signed`] reads: room for 16 post-quantum
/// cosignatures (the signed-note spec's minimum), and a bound on the work a
/// hostile note can cause.
const MAX_NOTE_LEN: usize = 128 * 1024;
/// At most this many signature lines (as Go's `note.Open`).
const MAX_SIGNATURES: usize = 100;
/// PEM armour of the key file (RFC 7468 `PRIVATE KEY`: PKCS#8).
const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";
/// A key file larger than this is not one of ours.
const MAX_KEY_FILE_LEN: u64 = 4096;

/// A tree head of the audit log: the body of a C2SP checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. `fi.example-utility.kirjuri/audit`: non-empty,
    /// no control characters (and, by C2SP recommendation, a schema-less URL
    /// without spaces or `+`).
    pub origin: String,
    /// The number of leaves (audit events) in the tree.
    pub size: u64,
    /// The RFC 6962 root of the tree of those leaves.
    pub root: [u8; 32],
}

impl Checkpoint {
    /// The note text that gets signed: `<origin>\n<size>\n<base64 root>\n`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        )
    }

    /// Parses a note text strictly: exactly three lines, each newline
    /// terminated; no extension lines (this log never writes them, and a
    /// [`Checkpoint`] has no place to return them).
    fn parse_body(text: &str) -> Result<Checkpoint> {
        let bad = |what: &str| Error::Format(format!("checkpoint: {what}"));
        let lines = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("the body does not end in a newline"))?;
        let mut lines = lines.split('\n');
        let (Some(origin), Some(size), Some(root), None) =
            (lines.next(), lines.next(), lines.next(), lines.next())
        else {
            return Err(bad(
                "the body is not exactly origin, size and root hash lines",
            ));
        };
        check_origin(origin).map_err(bad)?;
        let size = parse_size(size).ok_or_else(|| {
            bad("the tree size is not a decimal number without leading zeros that fits 64 bits")
        })?;
        let root = BASE64
            .decode(root)
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or_else(|| bad("the root hash is not 32 bytes in canonical standard base64"))?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

/// Signs the audit log's checkpoints with an Ed25519 key from a key file.
pub struct AuditSigner {
    /// The key name in signature lines and in the verifier key.
    name: String,
    /// The signing key; ring keeps the private half out of `Debug`.
    key_pair: Ed25519KeyPair,
    /// The note key ID: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[..4].
    key_id: [u8; 4],
}

impl fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditSigner")
            .field("name", &self.name)
            .field(
                "key_id",
                &format_args!("{:08x}", u32::from_be_bytes(self.key_id)),
            )
            .finish_non_exhaustive()
    }
}

impl AuditSigner {
    /// Opens the signing key at `path`, creating it (and its directory, mode
    /// 0700) with a fresh Ed25519 key if it does not exist, to sign as
    /// `key_name`.
    ///
    /// Creation is atomic and never overwrites: if two processes start at
    /// once, exactly one key file wins and both use it. A key file that group
    /// or others can access is refused ([`Error::InsecureKeyFile`]). The key
    /// name must be a valid note key name: non-empty, without spaces, `+` or
    /// control characters; C2SP recommends the log's origin.
    pub fn open_or_create(path: &Path, key_name: &str) -> Result<AuditSigner> {
        if !is_valid_key_name(key_name) {
            return Err(Error::InvalidInput(
                "an audit signing key name must be non-empty, without spaces, '+' or control \
                 characters"
                    .into(),
            ));
        }
        let dir = parent_dir(path);
        fsio::create_private_dir(dir)?;
        let rng = SystemRandom::new();
        // Two rounds: if we lose a creation race, the second read sees the winner.
        for _ in 0..2 {
            if let Some(pkcs8) = read_key_file(path)? {
                return AuditSigner::from_pkcs8(path, key_name, &pkcs8);
            }
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| Error::Random)?;
            let pem = Zeroizing::new(to_pem(pkcs8.as_ref()));
            if create_key_file(path, pem.as_bytes(), &rng)? {
                return AuditSigner::from_pkcs8(path, key_name, pkcs8.as_ref());
            }
        }
        Err(Error::KeyFile {
            path: path.to_owned(),
            message: "the key file appeared and vanished while it was being created".into(),
        })
    }

    fn from_pkcs8(path: &Path, key_name: &str, pkcs8: &[u8]) -> Result<AuditSigner> {
        // Accepts PKCS#8 v2 (ring's, public key checked) and v1 (OpenSSL's).
        let key_pair =
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(|e| Error::KeyFile {
                path: path.to_owned(),
                message: format!("not an Ed25519 PKCS#8 private key ({e})"),
            })?;
        Ok(AuditSigner::with_key_pair(key_name, key_pair))
    }

    fn with_key_pair(key_name: &str, key_pair: Ed25519KeyPair) -> AuditSigner {
        let key_id = key_id(key_name, key_pair.public_key().as_ref());
        AuditSigner {
            name: key_name.to_owned(),
            key_pair,
            key_id,
        }
    }

    /// The key name this signer signs as.
    pub fn key_name(&self) -> &str {
        &self.name
    }

    /// The note verifier key a witness needs to check this signer's
    /// checkpoints: `<name>+<key ID hex>+<base64(0x01 ‖ public key)>`, as
    /// Go's `note.NewVerifier` parses it.
    pub fn verifier_key(&self) -> String {
        let mut encoded = [0u8; 1 + PUBLIC_KEY_LEN];
        encoded[0] = ALG_ED25519;
        encoded[1..].copy_from_slice(self.key_pair.public_key().as_ref());
        format!(
            "{}+{:08x}+{}",
            self.name,
            u32::from_be_bytes(self.key_id),
            BASE64.encode(encoded)
        )
    }

    /// The signed note of `checkpoint`: its body, a blank line and one
    /// signature line. Refuses an empty origin or one with control
    /// characters (a newline would change the body's meaning).
    pub fn sign(&self, checkpoint: &Checkpoint) -> Result<String> {
        check_origin(&checkpoint.origin)
            .map_err(|reason| Error::InvalidInput(format!("checkpoint: {reason}")))?;
        Ok(self.sign_text(&checkpoint.body()))
    }

    /// Signs any note text that ends in a newline (the caller checks that).
    fn sign_text(&self, text: &str) -> String {
        let signature = self.key_pair.sign(text.as_bytes());
        let mut payload = Vec::with_capacity(4 + SIGNATURE_LEN);
        payload.extend_from_slice(&self.key_id);
        payload.extend_from_slice(signature.as_ref());
        format!(
            "{text}\n{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            BASE64.encode(payload)
        )
    }
}

/// Checks a signed checkpoint against `verifier_key` (as from
/// [`AuditSigner::verifier_key`]) and returns what it says.
///
/// Strict: the note must be a well-formed signed note (no control
/// characters but newlines, the body separated from signature lines by the
/// last blank line, nothing after the last signature line); it must carry a
/// valid signature by the key, and every signature line claiming that key
/// must verify. Signature lines of other keys (a witness's cosignature) are
/// checked for form only and otherwise ignored, as the spec requires. The
/// body must be exactly the three checkpoint lines. The caller still checks
/// that the origin is the one it expects.
pub fn verify_signed(note: &str, verifier_key: &str) -> Result<Checkpoint> {
    let key = VerifierKey::parse(verifier_key)?;
    let text = open_note(note, &key)?;
    Checkpoint::parse_body(text)
}

/// A parsed note verifier key (Ed25519 only).
struct VerifierKey {
    /// The key name signature lines must carry.
    name: String,
    /// The key ID signature payloads must start with.
    key_id: [u8; 4],
    /// The Ed25519 public key.
    public_key: [u8; PUBLIC_KEY_LEN],
}

impl VerifierKey {
    /// Parses `<name>+<8 hex digits>+<base64(0x01 ‖ 32-byte key)>` and checks
    /// that the ID matches the name and key.
    fn parse(text: &str) -> Result<VerifierKey> {
        let bad = |what: &str| Error::Format(format!("verifier key: {what}"));
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected <name>+<key id>+<key>"));
        };
        if !is_valid_key_name(name) {
            return Err(bad("invalid key name"));
        }
        let key_id: [u8; 4] = (id_hex.len() == 8)
            .then(|| hex::decode(id_hex).ok())
            .flatten()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| bad("the key ID is not 8 hex digits"))?;
        let encoded = BASE64
            .decode(key_b64)
            .map_err(|_| bad("the key is not canonical standard base64"))?;
        let Some((&ALG_ED25519, public_key)) = encoded.split_first() else {
            return Err(bad("not an Ed25519 (type 0x01) key"));
        };
        let public_key: [u8; PUBLIC_KEY_LEN] = public_key
            .try_into()
            .map_err(|_| bad("an Ed25519 public key is 32 bytes"))?;
        if key_id != self::key_id(name, &public_key) {
            return Err(bad("the key ID does not match the name and key"));
        }
        Ok(VerifierKey {
            name: name.to_owned(),
            key_id,
            public_key,
        })
    }
}

/// Checks the signed-note framing and `key`'s signature; returns the note
/// text (the signed part, ending in its newline).
fn open_note<'a>(note: &'a str, key: &VerifierKey) -> Result<&'a str> {
    let malformed = |what: &str| Error::Format(format!("signed note: {what}"));
    if note.len() > MAX_NOTE_LEN {
        return Err(malformed("too long"));
    }
    if note.chars().any(|c| c < ' ' && c != '\n') {
        return Err(malformed("contains a control character"));
    }
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| malformed("no blank line before the signatures"))?;
    let (text, signatures) = (&note[..=split], &note[split + 2..]);
    let signatures = signatures
        .strip_suffix('\n')
        .ok_or_else(|| malformed("the last signature line does not end in a newline"))?;

    let mut verified = false;
    for (count, line) in signatures.split('\n').enumerate() {
        if count >= MAX_SIGNATURES {
            return Err(malformed("too many signatures"));
        }
        let line = line
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or_else(|| malformed("a line after the blank line is not a signature"))?;
        let (name, payload) = line
            .split_once(' ')
            .ok_or_else(|| malformed("a signature line has no signature"))?;
        if !is_valid_key_name(name) {
            return Err(malformed("a signature line has an invalid key name"));
        }
        let payload = BASE64
            .decode(payload)
            .map_err(|_| malformed("a signature is not canonical standard base64"))?;
        if payload.len() < 5 {
            return Err(malformed("a signature is too short"));
        }
        let (id, signature) = payload.split_at(4);
        if name != key.name || id != key.key_id {
            // Another key's signature (e.g. a witness cosignature): ignored.
            continue;
        }
        UnparsedPublicKey::new(&ED25519, &key.public_key)
            .verify(text.as_bytes(), signature)
            .map_err(|_| {
                Error::Integrity(format!(
                    "the checkpoint signature by {} does not verify",
                    key.name
                ))
            })?;
        verified = true;
    }
    if !verified {
        return Err(Error::Integrity(format!(
            "the checkpoint is not signed by {}",
            key.name
        )));
    }
    Ok(text)
}

/// The C2SP note key ID of an Ed25519 key:
/// SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[..4].
fn key_id(name: &str, public_key: &[u8]) -> [u8; 4] {
    let mut input = Vec::with_capacity(name.len() + 2 + public_key.len());
    input.extend_from_slice(name.as_bytes());
    input.push(b'\n');
    input.push(ALG_ED25519);
    input.extend_from_slice(public_key);
    let hash = digest(&SHA256, &input);
    let mut id = [0u8; 4];
    id.copy_from_slice(&hash.as_ref()[..4]);
    id
}

/// A note key name: non-empty, no Unicode space, no `+` (signed-note spec),
/// and no control character (a note may not contain one).
fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

/// Why an origin line is unusable, if it is.
fn check_origin(origin: &str) -> std::result::Result<(), &'static str> {
    if origin.is_empty() {
        return Err("the origin is empty");
    }
    if origin.chars().any(|c| c.is_control()) {
        return Err("the origin contains a control character");
    }
    Ok(())
}

/// A tree size line: ASCII digits, no leading zero unless it is `0`, ≤ u64.
fn parse_size(line: &str) -> Option<u64> {
    let digits_only = !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = line.len() > 1 && line.starts_with('0');
    if !digits_only || leading_zero {
        return None;
    }
    line.parse().ok()
}

/// PKCS#8 DER as PEM, 64 base64 characters a line.
fn to_pem(der: &[u8]) -> String {
    let encoded = Zeroizing::new(BASE64.encode(der));
    let mut pem = String::with_capacity(encoded.len() + encoded.len() / 64 + 64);
    pem.push_str(PEM_BEGIN);
    pem.push('\n');
    for chunk in encoded.as_bytes().chunks(64) {
        // Base64 is ASCII, so every chunk is valid UTF-8.
        pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(PEM_END);
    pem.push('\n');
    pem
}

/// Reads and checks the key file: a regular file, owner-only permissions,
/// one PEM `PRIVATE KEY` block. `None` if there is no file.
fn read_key_file(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(Error::Io {
                context: format!("failed to open key file {}", path.display()),
                source: error,
            });
        }
    };
    let metadata = file
        .metadata()
        .io_context(|| format!("failed to stat key file {}", path.display()))?;
    let bad = |message: &str| Error::KeyFile {
        path: path.to_owned(),
        message: message.to_owned(),
    };
    if !metadata.is_file() {
        return Err(bad("not a regular file"));
    }
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(Error::InsecureKeyFile {
            path: path.to_owned(),
            mode,
        });
    }
    if metadata.len() > MAX_KEY_FILE_LEN {
        return Err(bad("too large to be an Ed25519 PKCS#8 key"));
    }
    let mut text = Zeroizing::new(String::with_capacity(MAX_KEY_FILE_LEN as usize + 1));
    (&mut file)
        .take(MAX_KEY_FILE_LEN + 1)
        .read_to_string(&mut text)
        .io_context(|| format!("failed to read key file {}", path.display()))?;
    let body = text
        .trim_end()
        .strip_prefix(PEM_BEGIN)
        .and_then(|rest| rest.strip_suffix(PEM_END))
        .ok_or_else(|| bad("not a PEM \"PRIVATE KEY\" (PKCS#8) file"))?;
    let encoded: Zeroizing<String> =
        Zeroizing::new(body.chars().filter(|c| !c.is_ascii_whitespace()).collect());
    let der = BASE64
        .decode(encoded.as_bytes())
        .map_err(|_| bad("the PEM body is not valid base64"))?;
    Ok(Some(Zeroizing::new(der)))
}

/// Writes the key file atomically and owner-only, never replacing one that
/// is there ([`fsio::write_private_atomically`]). Returns `false` if a key
/// file was already there.
fn create_key_file(path: &Path, contents: &[u8], rng: &dyn SecureRandom) -> Result<bool> {
    Ok(fsio::write_private_atomically(
        path,
        contents,
        fsio::Existing::Keep,
        rng,
    )?)
}

// --- signatures of other records (ledger blocks, manifests, receipts) ---

impl AuditSigner {
    /// The raw 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        let mut key = [0u8; PUBLIC_KEY_LEN];
        key.copy_from_slice(self.key_pair.public_key().as_ref());
        key
    }

    /// The audit key's Ed25519 signature of a record other than a
    /// checkpoint (an erasure-ledger block, a backup's or a package's
    /// manifest, an erasure receipt): over `domain ‖ SHA-256(document)`.
    /// `domain` names the kind of record and its version, ending in a
    /// newline (e.g. `b"kirjuri-backup-manifest/v1\n"`), so that a signature
    /// made for one kind can never be passed off as another (a checkpoint
    /// note's first line is its origin, which such a domain never is).
    /// Signing the digest hashes each byte once with SHA-256 instead of
    /// twice with SHA-512 (Ed25519's own hashing): a third of the cost for
    /// a large document.
    pub fn sign_document(&self, domain: &[u8], document: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mut signature = [0u8; SIGNATURE_LEN];
        signature.copy_from_slice(
            self.key_pair
                .sign(&document_message(domain, document))
                .as_ref(),
        );
        signature
    }
}

/// What [`AuditSigner::sign_document`] signs.
fn document_message(domain: &[u8], document: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(domain.len() + 32);
    message.extend_from_slice(domain);
    message.extend_from_slice(digest(&SHA256, document).as_ref());
    message
}

/// Checks an Ed25519 `signature` of `document` in `domain` by
/// `public_key` (as from [`AuditSigner::sign_document`]);
/// [`Error::Integrity`] if it does not verify.
pub fn verify_document(
    public_key: &[u8; PUBLIC_KEY_LEN],
    domain: &[u8],
    document: &[u8],
    signature: &[u8],
) -> Result<()> {
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(&document_message(domain, document), signature)
        .map_err(|_| Error::Integrity("the Ed25519 signature does not verify".into()))
}

/// The raw Ed25519 public key in a note verifier key (as from
/// [`AuditSigner::verifier_key`]), after checking the key's form and that
/// its key ID matches its name and key. The name itself is not otherwise
/// used: the same key signs under any name.
pub fn verifier_public_key(verifier_key: &str) -> Result<[u8; PUBLIC_KEY_LEN]> {
    Ok(VerifierKey::parse(verifier_key)?.public_key)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::sync::{Arc, Barrier};

    use super::*;

    /// Go's `golang.org/x/mod/sumdb/note` test key: the signer key
    /// `PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz`
    /// holds 0x01 ‖ this seed.
    const GO_SEED_B64: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    /// Its verifier key, from the same test file.
    const GO_VERIFIER_KEY: &str =
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    /// The note text Go's `TestSign` signs.
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n";
    /// Go's signature line over it (Ed25519 is deterministic).
    const GO_PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    /// A second signature from Go's `TestOpen`, by a key we do not know.
    const GO_ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    fn go_signer() -> AuditSigner {
        let encoded = BASE64.decode(GO_SEED_B64).unwrap();
        assert_eq!(encoded[0], ALG_ED25519);
        let key_pair = Ed25519KeyPair::from_seed_unchecked(&encoded[1..]).unwrap();
        AuditSigner::with_key_pair("PeterNeumann", key_pair)
    }

    fn checkpoint(size: u64) -> Checkpoint {
        Checkpoint {
            origin: "fi.example-utility.kirjuri/audit".into(),
            size,
            root: kirjuri_core::merkle::root(&[kirjuri_core::merkle::leaf_hash(b"event")]),
        }
    }

    fn signer_in(dir: &Path) -> AuditSigner {
        AuditSigner::open_or_create(
            &dir.join("keys/audit-signing.key"),
            "fi.example-utility.kirjuri/audit",
        )
        .unwrap()
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn signing_matches_gos_note_package_byte_for_byte() {
        let signer = go_signer();
        assert_eq!(signer.verifier_key(), GO_VERIFIER_KEY);
        assert_eq!(
            signer.sign_text(GO_TEXT),
            format!("{GO_TEXT}\n{GO_PETER_SIG}")
        );
    }

    #[test]
    fn a_note_signed_by_go_verifies_and_unknown_cosignatures_are_ignored() {
        let key = VerifierKey::parse(GO_VERIFIER_KEY).unwrap();
        let note = format!("{GO_TEXT}\n{GO_PETER_SIG}{GO_ENOCH_SIG}");
        assert_eq!(open_note(&note, &key).unwrap(), GO_TEXT);
        // Only the unknown key's signature: not enough.
        let note = format!("{GO_TEXT}\n{GO_ENOCH_SIG}");
        assert!(matches!(open_note(&note, &key), Err(Error::Integrity(_))));
    }

    #[test]
    fn gos_malformed_notes_are_refused() {
        // The `badMsgs` of Go's TestOpen.
        let key = VerifierKey::parse(GO_VERIFIER_KEY).unwrap();
        let peter = GO_PETER_SIG;
        let bad = [
            GO_TEXT.to_owned(),
            format!("{GO_TEXT}\n"),
            format!("{GO_TEXT}\n{}", &peter[..peter.len() - 1]),
            format!("\x01{GO_TEXT}\n{peter}"),
            format!(
                "{GO_TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
            ),
            format!("{GO_TEXT}\n{peter}Unexpected line.\n"),
            format!("{GO_TEXT}\n{}", peter.repeat(101)),
        ];
        for note in bad {
            assert!(open_note(&note, &key).is_err(), "accepted {note:?}");
        }
    }

    #[test]
    fn mangled_verifier_keys_are_refused() {
        // As Go's TestNewVerifier: every proper substring and every byte bumped.
        assert!(VerifierKey::parse(GO_VERIFIER_KEY).is_ok());
        let bytes = GO_VERIFIER_KEY.as_bytes();
        for i in 0..=bytes.len() {
            for j in i + 1..=bytes.len() {
                if (i, j) != (0, bytes.len()) {
                    let part = std::str::from_utf8(&bytes[i..j]).unwrap();
                    assert!(VerifierKey::parse(part).is_err(), "accepted {part:?}");
                }
            }
        }
        for i in 0..bytes.len() {
            let mut bumped = bytes.to_vec();
            bumped[i] += 1;
            let bumped = String::from_utf8(bumped).unwrap();
            assert!(VerifierKey::parse(&bumped).is_err(), "accepted {bumped:?}");
        }
        // Go's own: a wrong-length key and an unknown algorithm, each with a
        // matching key ID.
        assert!(
            VerifierKey::parse(
                "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
            )
            .is_err()
        );
        assert!(
            VerifierKey::parse(
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            )
            .is_err()
        );
    }

    #[test]
    fn a_signed_checkpoint_has_the_c2sp_shape_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let signer = signer_in(dir.path());
        let checkpoint = checkpoint(1);
        let note = signer.sign(&checkpoint).unwrap();

        let root_b64 = BASE64.encode(checkpoint.root);
        let body = format!("fi.example-utility.kirjuri/audit\n1\n{root_b64}\n");
        assert_eq!(checkpoint.body(), body);
        let (text, signature_line) = note.split_once("\n\n").unwrap();
        assert_eq!(format!("{text}\n"), body);
        let rest = signature_line
            .strip_prefix("\u{2014} fi.example-utility.kirjuri/audit ")
            .unwrap();
        let payload = BASE64.decode(rest.strip_suffix('\n').unwrap()).unwrap();
        assert_eq!(payload.len(), 4 + 64);
        assert_eq!(payload[..4], signer.key_id);

        assert_eq!(
            verify_signed(&note, &signer.verifier_key()).unwrap(),
            checkpoint
        );
    }

    #[test]
    fn the_key_id_is_the_truncated_hash_of_name_newline_type_and_key() {
        let signer = go_signer();
        let public = signer.key_pair.public_key().as_ref().to_vec();
        let mut input = b"PeterNeumann\n\x01".to_vec();
        input.extend_from_slice(&public);
        let hash = digest(&SHA256, &input);
        assert_eq!(signer.key_id, hash.as_ref()[..4]);
        assert_eq!(u32::from_be_bytes(signer.key_id), 0xc74f20a3);
    }

    #[test]
    fn checkpoints_of_the_empty_and_the_largest_tree_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let signer = signer_in(dir.path());
        for size in [0, 9, 10, u64::MAX] {
            let checkpoint = Checkpoint {
                size,
                root: kirjuri_core::merkle::empty_root(),
                ..checkpoint(0)
            };
            let note = signer.sign(&checkpoint).unwrap();
            assert_eq!(
                verify_signed(&note, &signer.verifier_key()).unwrap(),
                checkpoint
            );
        }
    }

    #[test]
    fn every_single_byte_change_to_a_signed_checkpoint_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let signer = signer_in(dir.path());
        let key = signer.verifier_key();
        let note = signer.sign(&checkpoint(1234)).unwrap();
        assert!(verify_signed(&note, &key).is_ok());
        let bytes = note.as_bytes();
        let mut tried = 0;
        for i in 0..bytes.len() {
            // Every replacement value, the byte's deletion, and an insertion.
            let mut variants: Vec<Vec<u8>> = (0..=255u8)
                .filter(|&b| b != bytes[i])
                .map(|b| {
                    let mut changed = bytes.to_vec();
                    changed[i] = b;
                    changed
                })
                .collect();
            let mut deleted = bytes.to_vec();
            deleted.remove(i);
            variants.push(deleted);
            for b in [b'\n', b' ', b'0', b'A'] {
                let mut inserted = bytes.to_vec();
                inserted.insert(i, b);
                variants.push(inserted);
            }
            for variant in variants {
                // A note is text; bytes that are not UTF-8 cannot even be passed.
                if let Ok(variant) = String::from_utf8(variant) {
                    tried += 1;
                    assert!(
                        verify_signed(&variant, &key).is_err(),
                        "accepted a change at byte {i}: {variant:?}"
                    );
                }
            }
        }
        let mut appended = note.clone();
        appended.push('\n');
        assert!(verify_signed(&appended, &key).is_err());
        assert!(tried > 10_000, "only {tried} variants were valid UTF-8");
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_or_name_is_rejected() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (signer, other) = (signer_in(a.path()), signer_in(b.path()));
        let note = other.sign(&checkpoint(5)).unwrap();
        assert!(matches!(
            verify_signed(&note, &signer.verifier_key()),
            Err(Error::Integrity(_))
        ));
        // The same key under another name is another key.
        let renamed = AuditSigner::open_or_create(
            &a.path().join("keys/audit-signing.key"),
            "example.com/other",
        )
        .unwrap();
        let note = renamed.sign(&checkpoint(5)).unwrap();
        assert!(verify_signed(&note, &signer.verifier_key()).is_err());
    }

    #[test]
    fn a_forged_signature_beside_a_good_one_rejects_the_note() {
        let dir = tempfile::tempdir().unwrap();
        let signer = signer_in(dir.path());
        let note = signer.sign(&checkpoint(7)).unwrap();
        let forged_line = signer
            .sign(&checkpoint(8))
            .unwrap()
            .split_once("\n\n")
            .unwrap()
            .1
            .to_owned();
        // Both orders: the forged signature claims our key and fails.
        for doubled in [format!("{note}{forged_line}"), {
            let (text, good) = note.split_once("\n\n").unwrap();
            format!("{text}\n\n{forged_line}{good}")
        }] {
            assert!(matches!(
                verify_signed(&doubled, &signer.verifier_key()),
                Err(Error::Integrity(_))
            ));
        }
        // A witness's cosignature is fine.
        let witness = go_signer();
        let cosigned = format!(
            "{note}{}",
            witness
                .sign_text(&checkpoint(7).body())
                .split_once("\n\n")
                .unwrap()
                .1
        );
        assert_eq!(
            verify_signed(&cosigned, &signer.verifier_key()).unwrap(),
            checkpoint(7)
        );
    }

    #[test]
    fn validly_signed_but_malformed_bodies_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let signer = signer_in(dir.path());
        let root = BASE64.encode([7u8; 32]);
        let short_root = BASE64.encode([7u8; 31]);
        let long_root = BASE64.encode([7u8; 33]);
        // 32 bytes whose last base64 digit carries non-zero padding bits.
        let mut sloppy_root = root.clone();
        sloppy_root.replace_range(42..43, "x");
        assert_eq!(
            base64::engine::GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
            )
            .decode(&sloppy_root)
            .unwrap()
            .len(),
            32
        );
        let bodies = [
            format!("origin\n12\n{root}\nextension\n"),
            format!("origin\n12\n{root}"),
            "origin\n12\n".to_owned(),
            format!("\n12\n{root}\n"),
            format!("origin\n012\n{root}\n"),
            format!("origin\n00\n{root}\n"),
            format!("origin\n+12\n{root}\n"),
            format!("origin\n-1\n{root}\n"),
            format!("origin\n 12\n{root}\n"),
            format!("origin\n12 \n{root}\n"),
            format!("origin\n\n{root}\n"),
            format!("origin\n1_000\n{root}\n"),
            format!("origin\n18446744073709551616\n{root}\n"),
            format!("origin\n12\n{short_root}\n"),
            format!("origin\n12\n{long_root}\n"),
            format!("origin\n12\n{sloppy_root}\n"),
            format!("origin\n12\n{}\n", root.trim_end_matches('=')),
            format!("origin\n12\n{}\n", hex::encode([7u8; 32])),
            format!("origin\n12\n {root}\n"),
        ];
        for body in bodies {
            let note = signer.sign_text(&body);
            assert!(
                matches!(
                    verify_signed(&note, &signer.verifier_key()),
                    Err(Error::Format(_))
                ),
                "accepted body {body:?}"
            );
        }
        // The largest size that fits is fine.
        let note = signer.sign_text(&format!("origin\n18446744073709551615\n{root}\n"));
        assert_eq!(
            verify_signed(&note, &signer.verifier_key()).unwrap().size,
            u64::MAX
        );
    }

    #[test]
    fn an_origin_that_would_break_the_note_is_not_signed() {
        let dir = tempfile::tempdir().unwrap();
        let signer = signer_in(dir.path());
        for origin in ["", "a\nb", "a\rb", "tab\there"] {
            let checkpoint = Checkpoint {
                origin: origin.into(),
                ..checkpoint(1)
            };
            assert!(matches!(
                signer.sign(&checkpoint),
                Err(Error::InvalidInput(_))
            ));
        }
    }

    #[test]
    fn the_key_file_is_created_owner_only_and_reopens_as_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/audit-signing.key");
        let first = signer_in(dir.path());
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = signer_in(dir.path());
        assert_eq!(first.verifier_key(), again.verifier_key());
        // No temp file is left behind.
        let entries = fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(entries, 1);
    }

    #[test]
    fn racing_creators_all_end_up_with_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/audit-signing.key");
        let barrier = Arc::new(Barrier::new(8));
        let keys: Vec<String> = (0..8)
            .map(|_| {
                let (path, barrier) = (path.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    AuditSigner::open_or_create(&path, "example.com/log")
                        .unwrap()
                        .verifier_key()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert!(keys.iter().all(|k| *k == keys[0]));
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn a_group_or_world_readable_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/audit-signing.key");
        signer_in(dir.path());
        for bad in [0o640, 0o604, 0o620, 0o644] {
            fs::set_permissions(&path, fs::Permissions::from_mode(bad)).unwrap();
            let error = AuditSigner::open_or_create(&path, "example.com/log").unwrap_err();
            assert!(
                matches!(error, Error::InsecureKeyFile { mode, .. } if mode == bad),
                "{error}"
            );
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        assert!(AuditSigner::open_or_create(&path, "example.com/log").is_ok());
    }

    #[test]
    fn a_key_file_that_is_not_an_ed25519_pkcs8_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit-signing.key");
        let not_ed25519 = to_pem(b"not a key");
        for contents in [
            "",
            "hello\n",
            "-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----\n",
            &not_ed25519,
        ] {
            fs::write(&path, contents).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            let error = AuditSigner::open_or_create(&path, "example.com/log").unwrap_err();
            assert!(matches!(error, Error::KeyFile { .. }), "{error}");
        }
        fs::create_dir(dir.path().join("dir.key")).unwrap();
        let error = AuditSigner::open_or_create(&dir.path().join("dir.key"), "example.com/log")
            .unwrap_err();
        assert!(
            matches!(error, Error::KeyFile { .. } | Error::Io { .. }),
            "{error}"
        );
    }

    #[test]
    fn a_damaged_key_file_is_refused_rather_than_signing_with_another_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/audit-signing.key");
        signer_in(dir.path());
        let mut der = read_key_file(&path).unwrap().unwrap().to_vec();
        der[20] ^= 0x01; // inside the private key seed
        fs::write(&path, to_pem(&der)).unwrap();
        let error = AuditSigner::open_or_create(&path, "example.com/log").unwrap_err();
        assert!(matches!(error, Error::KeyFile { .. }), "{error}");
    }

    #[test]
    fn an_openssl_pkcs8_v1_key_is_accepted() {
        // RFC 8410 §10.3's example private key (PKCS#8 v1, as `openssl
        // genpkey -algorithm ed25519` writes), whose public key is given in
        // RFC 8410 §10.1.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit-signing.key");
        fs::write(
            &path,
            "-----BEGIN PRIVATE KEY-----\n\
             MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
             -----END PRIVATE KEY-----\n",
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let signer = AuditSigner::open_or_create(&path, "example.com/log").unwrap();
        let public =
            hex::decode("19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1")
                .unwrap();
        assert_eq!(signer.key_pair.public_key().as_ref(), &public[..]);
        let note = signer.sign(&checkpoint(3)).unwrap();
        assert_eq!(
            verify_signed(&note, &signer.verifier_key()).unwrap(),
            checkpoint(3)
        );
    }

    #[test]
    fn an_invalid_key_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit-signing.key");
        for name in ["", "a b", "a+b", "a\u{a0}b", "a\nb"] {
            assert!(matches!(
                AuditSigner::open_or_create(&path, name),
                Err(Error::InvalidInput(_))
            ));
        }
        assert!(!path.exists());
    }

    #[test]
    fn debug_output_names_the_key_but_not_its_secret() {
        let signer = go_signer();
        let debug = format!("{signer:?}");
        assert!(debug.contains("PeterNeumann") && debug.contains("c74f20a3"));
        let seed = BASE64.decode(GO_SEED_B64).unwrap();
        assert!(!debug.contains(&hex::encode(&seed[1..])));
        assert!(!debug.contains(&format!("{:?}", &seed[1..])));
    }

    #[test]
    fn document_signatures_verify_with_the_key_in_their_domain_only() {
        let dir = tempfile::tempdir().unwrap();
        let signer = signer_in(dir.path());
        let (domain, document) = (b"kirjuri-test/v1\n", b"some bytes");
        let signature = signer.sign_document(domain, document);
        let public = verifier_public_key(&signer.verifier_key()).unwrap();
        assert_eq!(public, signer.public_key());
        verify_document(&public, domain, document, &signature).unwrap();
        let mut changed = document.to_vec();
        changed[3] ^= 1;
        assert!(matches!(
            verify_document(&public, domain, &changed, &signature),
            Err(Error::Integrity(_))
        ));
        assert!(matches!(
            verify_document(&public, b"kirjuri-other/v1\n", document, &signature),
            Err(Error::Integrity(_))
        ));
        let other = go_signer();
        assert!(matches!(
            verify_document(&other.public_key(), domain, document, &signature),
            Err(Error::Integrity(_))
        ));
        assert!(verify_document(&public, domain, document, &signature[..63]).is_err());
        assert!(verifier_public_key("not a key").is_err());
    }
}
