//! The ledger's line format: [`LedgerEntry`] and its narrow shapes, the
//! block body as written and as parsed, encoding and signing one line, and
//! checking one line's signature, sequence, chain and entries.
//!
//! Not here: which file a line goes to or comes from (`append.rs`,
//! `read.rs`); the signature primitives (`kirjuri_vault::checkpoint`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use kirjuri_core::ids::ContactId;
use kirjuri_store::TombstoneRow;
use kirjuri_vault::AuditSigner;
use kirjuri_vault::checkpoint::verify_document;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::files::sha256;
use super::{
    BLOCK_TYPE, BLOCK_VERSION, LINE_MIDDLE, LINE_START, LedgerBlock, LedgerHead, MAX_RULE_LEN,
    SIGNATURE_B64_LEN, SIGNED_PREFIX,
};
use crate::error::{Error, Result};

/// One erasure: what was destroyed (an object, or a contact's document),
/// when and under which rule. The same facts as its tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The object's id, or the contact's id for its document.
    pub id: Uuid,
    /// The contact it belonged to.
    pub contact_id: ContactId,
    /// The object's kind, or `contact`.
    pub kind: String,
    /// The object's SHA-256; `None` for a contact.
    pub sha256: Option<String>,
    /// When its key was destroyed.
    pub deleted_at: DateTime<Utc>,
    /// The rule that destroyed it.
    pub rule: String,
    /// `retention`, `erasure_request` or `ledger_replay`.
    pub reason: String,
}

impl From<&TombstoneRow> for LedgerEntry {
    fn from(t: &TombstoneRow) -> Self {
        Self {
            id: t.id,
            contact_id: t.contact_id,
            kind: t.kind.clone(),
            sha256: t.sha256.clone(),
            deleted_at: t.deleted_at,
            rule: t.rule.clone(),
            reason: t.reason.clone(),
        }
    }
}

impl LedgerEntry {
    /// Whether this entry is a contact's document rather than an object.
    pub fn is_contact(&self) -> bool {
        self.kind == "contact"
    }

    /// Why the entry may not be written, if it may not: every field must
    /// have its narrow shape, so nothing but ids, kinds, digests, times and
    /// rule text reaches the ledger.
    pub(super) fn problem(&self) -> Option<&'static str> {
        let word = |s: &str| {
            (1..=64).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if !word(&self.kind) {
            return Some("kind is not a lower-case word");
        }
        if !word(&self.reason) {
            return Some("reason is not a lower-case word");
        }
        if let Some(sha) = &self.sha256
            && !(sha.len() == 64
                && sha
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        {
            return Some("sha256 is not 64 lower-case hex digits");
        }
        if self.rule.is_empty()
            || self.rule.len() > MAX_RULE_LEN
            || self.rule.chars().any(char::is_control)
        {
            return Some("rule is empty, too long or has control characters");
        }
        None
    }
}

/// An entry as stored (field names are the format).
#[derive(Serialize)]
pub(super) struct EntryOut<'a> {
    id: &'a Uuid,
    contact_id: &'a ContactId,
    kind: &'a str,
    sha256: Option<&'a str>,
    deleted_at: &'a DateTime<Utc>,
    rule: &'a str,
    reason: &'a str,
}

/// An entry as read back: unknown fields refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EntryIn {
    id: Uuid,
    contact_id: ContactId,
    kind: String,
    sha256: Option<String>,
    deleted_at: DateTime<Utc>,
    rule: String,
    reason: String,
}

/// A block body as written; the field order is the format.
#[derive(Serialize)]
pub(super) struct BlockOut<'a> {
    r#type: &'static str,
    v: u32,
    seq: u64,
    prev: String,
    entries: Vec<EntryOut<'a>>,
}

/// A block body as read back.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BlockIn {
    r#type: String,
    v: u32,
    pub(super) seq: u64,
    prev: String,
    entries: Vec<EntryIn>,
}

/// One block's line, newline included.
pub(super) fn encode_block(
    signer: &AuditSigner,
    seq: u64,
    prev: &[u8; 32],
    entries: &[LedgerEntry],
) -> Result<Vec<u8>> {
    let block = BlockOut {
        r#type: BLOCK_TYPE,
        v: BLOCK_VERSION,
        seq,
        prev: hex::encode(prev),
        entries: entries
            .iter()
            .map(|e| EntryOut {
                id: &e.id,
                contact_id: &e.contact_id,
                kind: &e.kind,
                sha256: e.sha256.as_deref(),
                deleted_at: &e.deleted_at,
                rule: &e.rule,
                reason: &e.reason,
            })
            .collect(),
    };
    let mut body = Vec::with_capacity(entries.len() * 280 + 200);
    serde_json::to_writer(&mut body, &block).map_err(|source| Error::Encode {
        what: "a ledger block",
        source,
    })?;
    let signature = BASE64.encode(signer.sign_document(SIGNED_PREFIX, &body));
    let mut line = Vec::with_capacity(body.len() + SIGNATURE_B64_LEN + 24);
    line.extend_from_slice(LINE_START.as_bytes());
    line.extend_from_slice(signature.as_bytes());
    line.extend_from_slice(LINE_MIDDLE.as_bytes());
    line.extend_from_slice(&body);
    line.extend_from_slice(b"}\n");
    Ok(line)
}

/// Checks one line (without its newline): its framing and its signature by
/// `key`, then parses the body. Sequence and chain are the caller's.
pub(super) fn parse_line(line: &[u8], key: &[u8; 32]) -> std::result::Result<BlockIn, String> {
    let not_a_block = || "not a ledger block line".to_owned();
    let rest = line
        .strip_prefix(LINE_START.as_bytes())
        .ok_or_else(not_a_block)?;
    if rest.len() < SIGNATURE_B64_LEN {
        return Err(not_a_block());
    }
    let (signature, rest) = rest.split_at(SIGNATURE_B64_LEN);
    let body = rest
        .strip_prefix(LINE_MIDDLE.as_bytes())
        .and_then(|rest| rest.strip_suffix(b"}"))
        .ok_or_else(not_a_block)?;
    let signature = BASE64
        .decode(signature)
        .map_err(|_| "its signature is not base64".to_owned())?;
    verify_document(key, SIGNED_PREFIX, body, &signature).map_err(|_| {
        "its signature does not verify (the block was changed, or signed by another key)".to_owned()
    })?;
    let block: BlockIn = serde_json::from_slice(body)
        .map_err(|e| format!("its body is not a ledger block ({e})"))?;
    if block.r#type != BLOCK_TYPE || block.v != BLOCK_VERSION {
        return Err(format!(
            "it is a {:?} of version {}, not a ledger block of version {BLOCK_VERSION}",
            block.r#type, block.v
        ));
    }
    Ok(block)
}

/// Checks a parsed block's place in the chain and its entries.
pub(super) fn check_block(
    block: BlockIn,
    line: &[u8],
    prev: &LedgerHead,
) -> std::result::Result<LedgerBlock, String> {
    let expected = prev.seq + 1;
    if block.seq != expected {
        return Err(format!(
            "it has sequence number {}, expected {expected} (a block is missing, repeated or \
             out of order)",
            block.seq
        ));
    }
    if block.prev != hex::encode(prev.hash) {
        return Err(format!(
            "it does not chain to block {} (its previous-block hash differs)",
            prev.seq
        ));
    }
    if block.entries.is_empty() {
        return Err("it holds no entries".into());
    }
    let mut entries = Vec::with_capacity(block.entries.len());
    for (index, e) in block.entries.into_iter().enumerate() {
        let entry = LedgerEntry {
            id: e.id,
            contact_id: e.contact_id,
            kind: e.kind,
            sha256: e.sha256,
            deleted_at: e.deleted_at,
            rule: e.rule,
            reason: e.reason,
        };
        if let Some(problem) = entry.problem() {
            return Err(format!("its entry {index}: {problem}"));
        }
        entries.push(entry);
    }
    Ok(LedgerBlock {
        seq: block.seq,
        hash: sha256(line),
        entries,
    })
}
