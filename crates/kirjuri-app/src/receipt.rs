//! Erasure receipts (DSR-4, issue 12): what an erasure destroyed and what it
//! kept, on which ground and until when — signed with the audit key, with
//! no personal data in it, so the data subject (or the regulator) can keep
//! it and anyone can check it offline with `kirjuri receipt verify FILE`.
//!
//! **Format.** A JSON file `{"receipt": {…}, "key": <verifier key>, "sig":
//! <base64 Ed25519>}`. The signature is the audit key's
//! [`sign_document`](kirjuri_vault::AuditSigner::sign_document) in the
//! domain `kirjuri-erasure-receipt/v1` over the receipt's canonical bytes:
//! [`ErasureReceipt`] serialised by serde_json, whose field order is the
//! struct's. A verifier parses the receipt strictly (unknown fields are
//! refused), serialises it again and checks the signature over those
//! bytes, so any change to what it says breaks the signature.
//!
//! **Whose key.** The file names the key that signed it, but a key in the
//! file proves only that *someone* signed: [`verify`] checks against a key
//! the caller trusts when given one (the controller publishes its audit
//! verifier key), and otherwise reports the key so it can be compared.
//!
//! Not here: carrying out the erasure (the request flow, with the purge's
//! crypto-shredding and the erasure ledger).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use kirjuri_vault::AuditSigner;
use kirjuri_vault::checkpoint::{verifier_public_key, verify_document};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The signature's domain.
const DOMAIN: &[u8] = b"kirjuri-erasure-receipt/v1\n";

/// The `type` every receipt carries.
pub const RECEIPT_TYPE: &str = "kirjuri-erasure-receipt";

/// The largest receipt file [`verify`] reads, in bytes.
pub const MAX_RECEIPT_BYTES: usize = 1 << 20;

/// What an erasure did. Counts, dates and grounds only: no identifier, no
/// name, no contact id that could be matched with another record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErasureReceipt {
    /// Always [`RECEIPT_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// Format version: 1.
    pub v: u32,
    /// The receipt's own id.
    pub receipt_id: uuid::Uuid,
    /// The data-subject request's reference, e.g. `DSR-2026-000123`.
    pub request_reference: String,
    /// When the erasure ran (RFC 3339, UTC).
    pub executed_at: String,
    /// What was destroyed.
    pub erased: Counts,
    /// What was kept, by ground.
    pub kept: Vec<Kept>,
    /// The erasure-ledger block that records the destroyed keys, if any.
    pub ledger_block: Option<u64>,
}

/// How many contacts and stored objects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    pub contacts: u64,
    pub objects: u64,
}

/// Data an erasure kept, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kept {
    /// The legal ground's kind (a hold's `statute`, `contract`,
    /// `complaint`, `case`, `authority_request`), never its free text.
    pub ground: String,
    /// Until when (a date), if the ground has an end.
    pub until: Option<String>,
    pub counts: Counts,
}

/// The receipt file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptFile {
    receipt: ErasureReceipt,
    key: String,
    sig: String,
}

/// The signed receipt file's text.
pub fn sign(receipt: &ErasureReceipt, signer: &AuditSigner) -> Result<String> {
    let canonical = canonical(receipt)?;
    let file = ReceiptFile {
        receipt: receipt.clone(),
        key: signer.verifier_key(),
        sig: BASE64.encode(signer.sign_document(DOMAIN, &canonical)),
    };
    serde_json::to_string_pretty(&file).map_err(|source| Error::Encode {
        what: "an erasure receipt",
        source,
    })
}

/// A receipt that verified, and the key that signed it.
#[derive(Debug)]
pub struct Verified {
    pub receipt: ErasureReceipt,
    /// The signer's verifier key.
    pub key: String,
    /// Whether `key` is the one the caller trusts (false when the caller
    /// named none).
    pub trusted: bool,
}

/// Checks a receipt file's text: its form, and its signature by
/// `trusted_key` if given (the file's own key must then be that key), else
/// by the key it names. Refused ([`Error::BadRequest`] with code
/// `receipt_invalid`) otherwise; the message says which check failed.
pub fn verify(text: &[u8], trusted_key: Option<&str>) -> Result<Verified> {
    let invalid = |message: &str| Error::BadRequest {
        code: "receipt_invalid",
        message: format!("the receipt is not valid: {message}"),
    };
    if text.len() > MAX_RECEIPT_BYTES {
        return Err(invalid("larger than a receipt can be"));
    }
    let file: ReceiptFile = serde_json::from_slice(text)
        .map_err(|e| invalid(&format!("not a receipt file ({})", e.classify_name())))?;
    if file.receipt.kind != RECEIPT_TYPE || file.receipt.v != 1 {
        return Err(invalid("not a version 1 erasure receipt"));
    }
    let trusted = match trusted_key {
        Some(key) if key.trim() != file.key => {
            return Err(invalid("it was signed with another key than the one given"));
        }
        Some(_) => true,
        None => false,
    };
    let public = verifier_public_key(&file.key).map_err(|_| invalid("its key is not a key"))?;
    let sig = BASE64
        .decode(file.sig.as_bytes())
        .map_err(|_| invalid("the signature is not base64"))?;
    verify_document(&public, DOMAIN, &canonical(&file.receipt)?, &sig)
        .map_err(|_| invalid("the signature does not match what the receipt says"))?;
    Ok(Verified {
        receipt: file.receipt,
        key: file.key,
        trusted,
    })
}

/// The bytes the signature covers.
fn canonical(receipt: &ErasureReceipt) -> Result<Vec<u8>> {
    serde_json::to_vec(receipt).map_err(|source| Error::Encode {
        what: "an erasure receipt",
        source,
    })
}

/// serde_json's error category, without the input it quotes.
trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "wrong fields",
            serde_json::error::Category::Eof => "cut short",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> ErasureReceipt {
        ErasureReceipt {
            kind: RECEIPT_TYPE.into(),
            v: 1,
            receipt_id: uuid::Uuid::from_u128(7),
            request_reference: "DSR-2026-000123".into(),
            executed_at: "2026-12-06T10:00:00Z".into(),
            erased: Counts {
                contacts: 12,
                objects: 11,
            },
            kept: vec![Kept {
                ground: "complaint".into(),
                until: Some("2027-06-30".into()),
                counts: Counts {
                    contacts: 1,
                    objects: 1,
                },
            }],
            ledger_block: Some(42),
        }
    }

    fn signer(dir: &std::path::Path, name: &str) -> AuditSigner {
        AuditSigner::open_or_create(&dir.join(format!("{name}.key")), name).unwrap()
    }

    #[test]
    fn a_signed_receipt_verifies_with_its_key_and_says_whether_that_key_was_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let signer = signer(dir.path(), "kirjuri-test");
        let text = sign(&receipt(), &signer).unwrap();
        let loose = verify(text.as_bytes(), None).unwrap();
        assert_eq!(loose.receipt, receipt());
        assert!(!loose.trusted);
        let checked = verify(text.as_bytes(), Some(&signer.verifier_key())).unwrap();
        assert!(checked.trusted);
    }

    #[test]
    fn any_change_another_key_or_a_broken_file_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let signer = signer(dir.path(), "kirjuri-test");
        let other = self::signer(dir.path(), "other");
        let text = sign(&receipt(), &signer).unwrap();
        let cases = [
            (
                "count",
                text.replace("\"contacts\": 12", "\"contacts\": 2"),
                "signature",
            ),
            ("ground", text.replace("complaint", "statute"), "signature"),
            (
                "added field",
                text.replace("\"v\": 1,", "\"v\": 1, \"x\": 1,"),
                "wrong fields",
            ),
            (
                "version",
                text.replace("\"v\": 1,", "\"v\": 2,"),
                "version 1",
            ),
            ("cut", text[..text.len() / 2].to_owned(), "cut short"),
            ("not json", "<receipt/>".to_owned(), "not JSON"),
            ("huge", " ".repeat(MAX_RECEIPT_BYTES + 1), "larger"),
        ];
        for (what, changed, reason) in cases {
            let err = verify(changed.as_bytes(), None).unwrap_err().to_string();
            assert!(err.contains(reason), "{what}: {err}");
        }
        let err = verify(text.as_bytes(), Some(&other.verifier_key()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("another key"), "{err}");
        // Re-signed by someone else, it verifies only as "not trusted".
        let forged = sign(&receipt(), &other).unwrap();
        assert!(!verify(forged.as_bytes(), None).unwrap().trusted);
        assert!(verify(forged.as_bytes(), Some(&signer.verifier_key())).is_err());
    }
}
