//! Keyed blind indexes (SEC-1): exact-match lookup of a phone number, email,
//! property id, customer number or name without storing it in plaintext.
//!
//! `hash = HMAC-SHA256(K, kind ‖ 0x00 ‖ value)` with
//! `K = HKDF-SHA256(salt = "", ikm = root secret, info = "kirjuri blind-index v1")`.
//! The root secret lives in the key file beside the KEKs but is separate from
//! them, so rotating KEKs never invalidates an index. The kind prefix keeps a
//! phone number and a customer number with the same digits apart. Kind names
//! contain no 0x00, so the encoding is unambiguous.
//!
//! Not here: normalisation. Callers pass values already canonicalised by
//! `kirjuri-core` (E.164 phone, lower-cased email, canonical property id), or
//! equal values would hash differently. Nor is this a password hash: inputs
//! are low-entropy, and the index is only as private as the key.

use std::fmt;

use ring::{hkdf, hmac};

use crate::error::{Error, Result};

/// HKDF `info` of the blind-index key; changing it changes every index.
const BLIND_INDEX_INFO: &[u8] = b"kirjuri blind-index v1";

/// Which identifier a blind index is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexKind {
    /// A phone number in E.164.
    Phone,
    /// A normalised email address.
    Email,
    /// A canonical Finnish property id (kiinteistötunnus).
    PropertyId,
    /// The organisation's customer number.
    CustomerNumber,
    /// A normalised personal or organisation name.
    Name,
    /// A Finnish personal identity code found in a contact's content (a
    /// form's message, a transcript, an email's text), all 11 characters
    /// upper case. Searched by registrars only.
    Hetu,
    /// A service (queue) name. Never stored as an index (the service is a
    /// plain column); only a search's audit event records it, hashed, since
    /// whatever a searcher types there stays in the audit log for good.
    Service,
}

impl IndexKind {
    /// Every kind, e.g. for schema checks.
    pub const ALL: [IndexKind; 7] = [
        IndexKind::Phone,
        IndexKind::Email,
        IndexKind::PropertyId,
        IndexKind::CustomerNumber,
        IndexKind::Name,
        IndexKind::Hetu,
        IndexKind::Service,
    ];

    /// The stable name hashed as the kind prefix (and usable as a column
    /// value). Never change these: every stored index depends on them.
    pub fn as_str(self) -> &'static str {
        match self {
            IndexKind::Phone => "phone",
            IndexKind::Email => "email",
            IndexKind::PropertyId => "property_id",
            IndexKind::CustomerNumber => "customer_number",
            IndexKind::Name => "name",
            IndexKind::Hetu => "hetu",
            IndexKind::Service => "service",
        }
    }
}

impl fmt::Display for IndexKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Computes blind-index hashes under one derived key. `Debug` is redacted.
pub struct BlindIndexer {
    /// The derived HMAC key.
    key: hmac::Key,
}

impl BlindIndexer {
    /// Derives the indexer from a 32-byte root secret (the keyring's).
    pub fn derive(root_secret: &[u8; 32]) -> Result<Self> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(root_secret);
        let okm = prk
            .expand(&[BLIND_INDEX_INFO], hmac::HMAC_SHA256)
            .map_err(|_| Error::Format("HKDF expansion of the blind-index key failed".into()))?;
        Ok(Self {
            key: hmac::Key::from(okm),
        })
    }

    /// The blind index of `normalised_value` as a `kind`.
    pub fn hash(&self, kind: IndexKind, normalised_value: &str) -> [u8; 32] {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(kind.as_str().as_bytes());
        context.update(&[0]);
        context.update(normalised_value.as_bytes());
        let tag = context.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// A subject's reference for a breach's impact query (Art. 33(3)(a),
    /// 34): `HMAC(K, "subject-reference" ‖ 0x00 ‖ kind ‖ 0x00 ‖ id)` over a
    /// stored blind-index hash (`kind` its index kind) or a contact's id
    /// (`kind` = `contact`). A name for the subject that a registrar can
    /// hand on and match again later, which is neither the identifier nor
    /// the blind index the database keeps. No index kind is called
    /// `subject-reference`, so no reference equals an index hash.
    pub fn subject_reference(&self, kind: &str, id: &[u8]) -> [u8; 32] {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(SUBJECT_REFERENCE.as_bytes());
        context.update(&[0]);
        context.update(kind.as_bytes());
        context.update(&[0]);
        context.update(id);
        let tag = context.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

/// The HMAC domain of [`BlindIndexer::subject_reference`].
const SUBJECT_REFERENCE: &str = "subject-reference";

impl fmt::Debug for BlindIndexer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlindIndexer([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indexer(byte: u8) -> BlindIndexer {
        BlindIndexer::derive(&[byte; 32]).unwrap()
    }

    #[test]
    fn a_subject_reference_is_stable_keyed_and_never_an_index_hash() {
        let hash = indexer(1).hash(IndexKind::Phone, "+358401234567");
        let reference = indexer(1).subject_reference("phone", &hash);
        assert_eq!(reference, indexer(1).subject_reference("phone", &hash));
        assert_ne!(reference, indexer(2).subject_reference("phone", &hash));
        assert_ne!(reference, indexer(1).subject_reference("email", &hash));
        assert_ne!(reference, hash);
    }

    #[test]
    fn the_same_value_always_hashes_the_same() {
        let a = indexer(1);
        let b = indexer(1);

        assert_eq!(
            a.hash(IndexKind::Phone, "+358401234567"),
            b.hash(IndexKind::Phone, "+358401234567")
        );
    }

    #[test]
    fn the_same_digits_as_different_kinds_hash_differently() {
        let indexer = indexer(1);
        let hashes: Vec<_> = IndexKind::ALL
            .iter()
            .map(|&kind| indexer.hash(kind, "123456"))
            .collect();

        for (i, a) in hashes.iter().enumerate() {
            for b in &hashes[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn a_different_root_secret_gives_different_hashes() {
        assert_ne!(
            indexer(1).hash(IndexKind::Email, "matti@example.fi"),
            indexer(2).hash(IndexKind::Email, "matti@example.fi")
        );
    }

    #[test]
    fn different_values_hash_differently() {
        let indexer = indexer(1);

        assert_ne!(
            indexer.hash(IndexKind::Phone, "+358401234567"),
            indexer.hash(IndexKind::Phone, "+358401234568")
        );
    }

    /// Known answers computed independently (Python `hmac`/`hashlib`), so an
    /// accidental change of the construction, which would orphan every stored
    /// index, fails here.
    #[test]
    fn hashes_match_independently_computed_vectors() {
        let mut root = [0u8; 32];
        for (i, byte) in root.iter_mut().enumerate() {
            *byte = i as u8;
        }
        let indexer = BlindIndexer::derive(&root).unwrap();
        let cases = [
            (
                IndexKind::Phone,
                "+358401234567",
                "82bb1c15068ed7155ff67807feb58eaeef7375233a030d9223b8f377ff729795",
            ),
            (
                IndexKind::Email,
                "matti@example.fi",
                "afc9ed08221422de1b66e9c4f62a5ca56072ca2c2543795583dd2fcd9eff7ed6",
            ),
            (
                IndexKind::PropertyId,
                "091-403-0001-0001",
                "e0cb67f18ba35afe4d3866cc413acec3ed5c6ebf12203cac5c75564e79c4c44a",
            ),
        ];
        for (kind, value, expected) in cases {
            assert_eq!(hex::encode(indexer.hash(kind, value)), expected, "{kind}");
        }
    }

    #[test]
    fn kind_names_are_stable() {
        let names: Vec<_> = IndexKind::ALL.iter().map(|k| k.as_str()).collect();

        assert_eq!(
            names,
            [
                "phone",
                "email",
                "property_id",
                "customer_number",
                "name",
                "hetu",
                "service"
            ]
        );
    }

    #[test]
    fn debug_output_is_redacted() {
        assert_eq!(format!("{:?}", indexer(1)), "BlindIndexer([redacted])");
    }
}
