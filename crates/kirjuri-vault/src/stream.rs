//! The segmented AEAD object format (SEC-3): how every stored object —
//! recording, transcript, sealed contact document — is encrypted, so it can be
//! streamed in and out in constant memory and read at any offset.
//!
//! ```text
//! object   = header ‖ segment₀ ‖ … ‖ segmentₙ₋₁
//! header   = "KJR1" ‖ nonce prefix (7 random bytes) ‖ 0x00 (reserved)   — HEADER_LEN = 12
//! segmentᵢ = AES-256-GCM(data key,
//!                        nonce = prefix ‖ i (u32 BE) ‖ last (0x01 on segmentₙ₋₁, else 0x00),
//!                        aad   = object id (16 bytes) ‖ header,
//!                        plaintextᵢ) ‖ tag (16 bytes)
//! ```
//!
//! Every segment holds exactly [`SEGMENT_LEN`] plaintext bytes except the
//! last, which holds 1..=64 KiB — or 0 bytes when the whole object is empty.
//! So the layout is a pure function of the plaintext length
//! ([`sealed_len`] / [`plaintext_len`] are inverse), and a segment's index,
//! position and "last" flag are all authenticated:
//!
//! - reordering or dropping a segment changes the index it is opened under;
//! - truncating at a segment boundary makes a non-last segment be opened as
//!   last; truncating mid-segment or appending gives an impossible length or
//!   a last segment that was sealed as non-last;
//! - a segment from another object fails on its different nonce prefix (same
//!   key) or key, and opening under another object id fails on the aad;
//! - every header byte is checked (magic, reserved byte) or authenticated
//!   (prefix via the nonce, all of it via the aad).
//!
//! Nonces never repeat under a key: the index makes them unique within an
//! object, and every object gets its own random data key (SEC-2); the random
//! prefix additionally keeps objects apart should a key ever be reused.
//!
//! Not here: where keys come from ([`crate::keyring`]), where bytes are
//! stored ([`crate::objects`]), HTTP range parsing (the server). Known limit:
//! ring's expanded AES key schedule inside the sealer/opener is not zeroized
//! on drop (ring offers no hook); the raw [`DataKey`] is.

use std::fmt;
use std::ops::Range;

use kirjuri_core::ids::ObjectId;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::keyring::DataKey;

/// Plaintext bytes in every segment but the last.
pub const SEGMENT_LEN: usize = 64 * 1024;
/// AES-GCM tag length, appended to each segment.
pub const TAG_LEN: usize = 16;
/// Stored length of a full segment.
pub const SEALED_SEGMENT_LEN: usize = SEGMENT_LEN + TAG_LEN;
/// First four bytes of every sealed object.
pub const MAGIC: [u8; 4] = *b"KJR1";
/// Random per-object part of the nonce.
pub const NONCE_PREFIX_LEN: usize = 7;
/// Header: magic ‖ nonce prefix ‖ reserved zero byte.
pub const HEADER_LEN: usize = MAGIC.len() + NONCE_PREFIX_LEN + 1;
/// The segment index is a u32 in the nonce.
pub const MAX_SEGMENTS: u64 = 1 << 32;
/// Largest plaintext the format can carry (256 TiB).
pub const MAX_PLAINTEXT_LEN: u64 = MAX_SEGMENTS * SEGMENT_LEN as u64;

/// Object id ‖ header.
const AAD_LEN: usize = 16 + HEADER_LEN;
const SEGMENT_LEN_U64: u64 = SEGMENT_LEN as u64;
const SEALED_SEGMENT_LEN_U64: u64 = SEALED_SEGMENT_LEN as u64;
const HEADER_LEN_U64: u64 = HEADER_LEN as u64;
const TAG_LEN_U64: u64 = TAG_LEN as u64;

/// Number of segments an object of `plaintext_len` bytes has (an empty object
/// has one, empty, segment).
fn segment_count(plaintext_len: u64) -> u64 {
    plaintext_len.div_ceil(SEGMENT_LEN_U64).max(1)
}

/// Stored size of an object of `plaintext_len` bytes: header plus one tag per
/// segment. Saturates beyond [`MAX_PLAINTEXT_LEN`], which cannot be sealed.
pub fn sealed_len(plaintext_len: u64) -> u64 {
    HEADER_LEN_U64
        .saturating_add(plaintext_len)
        .saturating_add(segment_count(plaintext_len).saturating_mul(TAG_LEN_U64))
}

/// The plaintext length of a stored object of `sealed_len` bytes; an error if
/// no plaintext seals to that size (a truncated or extended object).
pub fn plaintext_len(sealed_len: u64) -> Result<u64> {
    let body = sealed_len.checked_sub(HEADER_LEN_U64).ok_or_else(|| {
        Error::Format(format!(
            "a sealed object of {sealed_len} bytes has no room for a header"
        ))
    })?;
    let full = body / SEALED_SEGMENT_LEN_U64;
    let rest = body % SEALED_SEGMENT_LEN_U64;
    let impossible = || {
        Error::Format(format!(
            "{sealed_len} bytes is not the length of any sealed object (truncated or extended)"
        ))
    };
    let len = if rest == 0 {
        if full == 0 {
            return Err(impossible());
        }
        full * SEGMENT_LEN_U64
    } else if rest < TAG_LEN_U64 || (rest == TAG_LEN_U64 && full > 0) {
        // A partial tag, or an empty last segment after full ones: the sealer
        // never writes either.
        return Err(impossible());
    } else {
        full * SEGMENT_LEN_U64 + (rest - TAG_LEN_U64)
    };
    if len > MAX_PLAINTEXT_LEN {
        return Err(impossible());
    }
    Ok(len)
}

/// Builds the header for a nonce prefix.
fn header_bytes(prefix: &[u8; NONCE_PREFIX_LEN]) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..MAGIC.len()].copy_from_slice(&MAGIC);
    header[MAGIC.len()..MAGIC.len() + NONCE_PREFIX_LEN].copy_from_slice(prefix);
    header
}

/// Associated data of every segment: object id ‖ header.
fn segment_aad(object_id: &ObjectId, header: &[u8; HEADER_LEN]) -> [u8; AAD_LEN] {
    let mut aad = [0u8; AAD_LEN];
    aad[..16].copy_from_slice(object_id.as_bytes());
    aad[16..].copy_from_slice(header);
    aad
}

/// The nonce of segment `index`.
fn segment_nonce(prefix: &[u8; NONCE_PREFIX_LEN], index: u64, last: bool) -> Result<Nonce> {
    let index = u32::try_from(index).map_err(|_| {
        Error::InvalidInput(format!(
            "segment {index} is beyond the format's limit of {MAX_SEGMENTS} segments"
        ))
    })?;
    let mut nonce = [0u8; NONCE_LEN];
    nonce[..NONCE_PREFIX_LEN].copy_from_slice(prefix);
    nonce[NONCE_PREFIX_LEN..NONCE_PREFIX_LEN + 4].copy_from_slice(&index.to_be_bytes());
    nonce[NONCE_LEN - 1] = u8::from(last);
    Ok(Nonce::assume_unique_for_key(nonce))
}

/// The AES-256-GCM cipher for a data key.
fn cipher(key: &DataKey) -> Result<LessSafeKey> {
    let unbound = UnboundKey::new(&AES_256_GCM, key.expose())
        .map_err(|_| Error::InvalidInput("the data key is not a valid AES-256 key".into()))?;
    Ok(LessSafeKey::new(unbound))
}

/// Encrypts one object as a stream of segments, in constant memory (at most
/// one segment of plaintext is held back).
///
/// Write [`StreamSealer::header`] first, then everything [`push`] and
/// [`finish`] append. Dropping a sealer without `finish` leaves an object
/// that will not open — as it should.
///
/// [`push`]: StreamSealer::push
/// [`finish`]: StreamSealer::finish
pub struct StreamSealer {
    /// The object's data key, expanded.
    cipher: LessSafeKey,
    /// Random per-object nonce prefix.
    prefix: [u8; NONCE_PREFIX_LEN],
    /// The header, also part of the aad.
    header: [u8; HEADER_LEN],
    /// Object id ‖ header.
    aad: [u8; AAD_LEN],
    /// Index of the next segment to seal.
    next_index: u64,
    /// Plaintext not yet sealed: at most one segment, because the last full
    /// segment must wait until we know whether more data follows. Zeroized.
    pending: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for StreamSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamSealer")
            .field("next_index", &self.next_index)
            .field("pending_len", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl StreamSealer {
    /// A sealer for `object_id` under `key`, with a fresh random nonce prefix.
    pub fn new(key: &DataKey, object_id: &ObjectId) -> Result<StreamSealer> {
        let mut prefix = [0u8; NONCE_PREFIX_LEN];
        SystemRandom::new()
            .fill(&mut prefix)
            .map_err(|_| Error::Random)?;
        Self::with_prefix(key, object_id, prefix)
    }

    /// A sealer with a chosen prefix, for known-answer tests.
    fn with_prefix(
        key: &DataKey,
        object_id: &ObjectId,
        prefix: [u8; NONCE_PREFIX_LEN],
    ) -> Result<StreamSealer> {
        let header = header_bytes(&prefix);
        Ok(StreamSealer {
            cipher: cipher(key)?,
            prefix,
            header,
            aad: segment_aad(object_id, &header),
            next_index: 0,
            pending: Zeroizing::new(Vec::with_capacity(SEGMENT_LEN)),
        })
    }

    /// The header, to be stored before the first segment.
    pub fn header(&self) -> [u8; HEADER_LEN] {
        self.header
    }

    /// Takes more plaintext and appends every segment that is now known not to
    /// be the last to `out`. Chunks of any size, including empty, are fine.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<()> {
        while !data.is_empty() {
            let taken = self.push_one(data, out)?;
            data = &data[taken..];
        }
        Ok(())
    }

    /// Like [`push`](Self::push), but appends at most one sealed segment
    /// ([`SEALED_SEGMENT_LEN`] bytes) to `out` and returns how many bytes of
    /// `data` it took; call again with the rest. Lets a caller seal straight
    /// into a buffer with a fixed room (a direct-I/O write buffer) and seal a
    /// whole segment from `data` without first copying it aside: only the
    /// last segment of what it was given waits, since it may be the object's
    /// last. Takes nothing only when `data` is empty or when it sealed the
    /// held-back segment, which more data now follows.
    pub fn push_one(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        if self.pending.len() == SEGMENT_LEN {
            // More data follows, so the held-back segment is not the last.
            let start = self.stage(out, SEGMENT_LEN)?;
            out.extend_from_slice(&self.pending);
            self.pending.clear();
            self.seal_staged(out, start, false)?;
            Ok(0)
        } else if self.pending.is_empty() && data.len() > SEGMENT_LEN {
            // A whole segment with more after it: seal it straight from the
            // caller's buffer in `out`, skipping the pending copy.
            let start = self.stage(out, SEGMENT_LEN)?;
            out.extend_from_slice(&data[..SEGMENT_LEN]);
            self.seal_staged(out, start, false)?;
            Ok(SEGMENT_LEN)
        } else {
            let take = (SEGMENT_LEN - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            Ok(take)
        }
    }

    /// Seals the held-back plaintext as the last segment (empty if the object
    /// is empty) and appends it to `out`.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<()> {
        let start = self.stage(out, self.pending.len())?;
        out.extend_from_slice(&self.pending);
        self.pending.clear();
        self.seal_staged(out, start, true)
    }

    /// Checks the segment limit and reserves room for a segment of `len`
    /// plaintext bytes plus tag, so that `out` is never reallocated while it
    /// holds plaintext. Returns where the segment starts.
    fn stage(&self, out: &mut Vec<u8>, len: usize) -> Result<usize> {
        if self.next_index >= MAX_SEGMENTS {
            return Err(Error::InvalidInput(format!(
                "an object may hold at most {MAX_PLAINTEXT_LEN} bytes"
            )));
        }
        out.reserve(len + TAG_LEN);
        Ok(out.len())
    }

    /// Encrypts `out[start..]` in place and appends its tag.
    fn seal_staged(&mut self, out: &mut Vec<u8>, start: usize, last: bool) -> Result<()> {
        let sealed = segment_nonce(&self.prefix, self.next_index, last).and_then(|nonce| {
            self.cipher
                .seal_in_place_separate_tag(nonce, Aad::from(&self.aad), &mut out[start..])
                .map_err(|_| Error::InvalidInput("sealing a segment failed".into()))
        });
        match sealed {
            Ok(tag) => {
                out.extend_from_slice(tag.as_ref());
                self.next_index += 1;
                Ok(())
            }
            Err(error) => {
                // Never leave plaintext in the caller's output.
                out[start..].zeroize();
                out.truncate(start);
                Err(error)
            }
        }
    }
}

/// Which stored bytes to fetch for a plaintext range, and how to cut the
/// opened segments back to that range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPlan {
    /// Index of the first segment to open.
    pub first_segment: u64,
    /// Index of the last segment to open (inclusive).
    pub last_segment: u64,
    /// The stored bytes holding those segments; offsets count from the start
    /// of the object, header included.
    pub sealed_range: Range<u64>,
    /// Plaintext bytes to drop from the start of the first opened segment.
    pub skip: usize,
    /// Plaintext bytes to deliver in total.
    pub take: u64,
}

impl ReadPlan {
    /// Number of segments to open.
    pub fn segment_count(&self) -> u64 {
        self.last_segment - self.first_segment + 1
    }
}

/// Decrypts a stored object segment by segment, in any order, for random
/// access (audio seeking) in constant memory.
///
/// `plaintext_len` must come from something the attacker of the object store
/// does not control as well as the object itself — the database row, or
/// [`plaintext_len`] of the stored length, which the last-segment flag then
/// authenticates.
pub struct StreamOpener {
    /// The object's data key, expanded.
    cipher: LessSafeKey,
    /// Nonce prefix from the header.
    prefix: [u8; NONCE_PREFIX_LEN],
    /// Object id ‖ header.
    aad: [u8; AAD_LEN],
    /// Length of the whole plaintext.
    plaintext_len: u64,
    /// Number of segments, from `plaintext_len`.
    segments: u64,
}

impl fmt::Debug for StreamOpener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamOpener")
            .field("plaintext_len", &self.plaintext_len)
            .field("segments", &self.segments)
            .finish_non_exhaustive()
    }
}

impl StreamOpener {
    /// An opener for the object `object_id` whose stored header is `header`
    /// and whose plaintext is `plaintext_len` bytes.
    pub fn new(
        key: &DataKey,
        object_id: &ObjectId,
        header: &[u8],
        plaintext_len: u64,
    ) -> Result<Self> {
        let header: [u8; HEADER_LEN] = header.try_into().map_err(|_| {
            Error::Format(format!(
                "header is {} bytes, expected {HEADER_LEN}",
                header.len()
            ))
        })?;
        if header[..MAGIC.len()] != MAGIC {
            return Err(Error::Format(
                "not a Kirjuri sealed object (bad magic)".into(),
            ));
        }
        if header[HEADER_LEN - 1] != 0 {
            return Err(Error::Format(
                "sealed object header has an unknown flag set".into(),
            ));
        }
        if plaintext_len > MAX_PLAINTEXT_LEN {
            return Err(Error::InvalidInput(format!(
                "plaintext length {plaintext_len} exceeds the format's limit"
            )));
        }
        let mut prefix = [0u8; NONCE_PREFIX_LEN];
        prefix.copy_from_slice(&header[MAGIC.len()..MAGIC.len() + NONCE_PREFIX_LEN]);
        Ok(Self {
            cipher: cipher(key)?,
            prefix,
            aad: segment_aad(object_id, &header),
            plaintext_len,
            segments: segment_count(plaintext_len),
        })
    }

    /// Length of the whole plaintext.
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// Number of segments in the object.
    pub fn segment_count(&self) -> u64 {
        self.segments
    }

    /// Stored length of the whole object.
    pub fn sealed_len(&self) -> u64 {
        sealed_len(self.plaintext_len)
    }

    /// Plaintext length of segment `index`.
    pub fn segment_plaintext_len(&self, index: u64) -> Result<usize> {
        if index >= self.segments {
            return Err(Error::InvalidInput(format!(
                "segment {index} does not exist; the object has {}",
                self.segments
            )));
        }
        let before = index * SEGMENT_LEN_U64;
        let len = (self.plaintext_len - before).min(SEGMENT_LEN_U64);
        // At most SEGMENT_LEN, so the conversion cannot fail.
        Ok(usize::try_from(len).unwrap_or(SEGMENT_LEN))
    }

    /// Where segment `index` is stored, header included in the offsets.
    pub fn segment_sealed_range(&self, index: u64) -> Result<Range<u64>> {
        let len = self.segment_plaintext_len(index)? as u64 + TAG_LEN_U64;
        let start = HEADER_LEN_U64 + index * SEALED_SEGMENT_LEN_U64;
        Ok(start..start + len)
    }

    /// Plans reading the plaintext bytes `range`. An empty range still plans
    /// one segment (so reading an empty object authenticates it).
    pub fn plan(&self, range: Range<u64>) -> Result<ReadPlan> {
        if range.start > range.end || range.end > self.plaintext_len {
            return Err(Error::InvalidInput(format!(
                "range {}..{} is outside the object's {} bytes",
                range.start, range.end, self.plaintext_len
            )));
        }
        let first_segment = (range.start / SEGMENT_LEN_U64).min(self.segments - 1);
        let last_segment = if range.is_empty() {
            first_segment
        } else {
            (range.end - 1) / SEGMENT_LEN_U64
        };
        let skip = range.start - first_segment * SEGMENT_LEN_U64;
        let start = self.segment_sealed_range(first_segment)?.start;
        let end = self.segment_sealed_range(last_segment)?.end;
        Ok(ReadPlan {
            first_segment,
            last_segment,
            sealed_range: start..end,
            // At most SEGMENT_LEN.
            skip: usize::try_from(skip).unwrap_or(SEGMENT_LEN),
            take: range.end - range.start,
        })
    }

    /// Decrypts segment `index` in place; `sealed` is exactly its stored bytes
    /// (ciphertext ‖ tag). Returns the plaintext length; the plaintext is then
    /// `sealed[..len]`. Any mismatch — tampering, wrong position, wrong object,
    /// wrong length, a truncated object — is [`Error::Integrity`].
    pub fn open_segment(&self, index: u64, sealed: &mut [u8]) -> Result<usize> {
        let expected = self.segment_plaintext_len(index)?;
        let fail = || {
            Error::Integrity(format!(
                "segment {index} of {} failed authentication",
                self.segments
            ))
        };
        if sealed.len() != expected + TAG_LEN {
            return Err(fail());
        }
        let last = index + 1 == self.segments;
        let nonce = segment_nonce(&self.prefix, index, last)?;
        let opened = self
            .cipher
            .open_in_place(nonce, Aad::from(&self.aad), sealed)
            .map_err(|_| fail())?;
        Ok(opened.len())
    }

    /// Opens every segment of `plan` from `sealed` (exactly the bytes of
    /// `plan.sealed_range`, decrypted in place) and appends exactly the
    /// planned plaintext to `out`.
    pub fn open_plan(&self, plan: &ReadPlan, sealed: &mut [u8], out: &mut Vec<u8>) -> Result<()> {
        let expected = plan.sealed_range.end - plan.sealed_range.start;
        if sealed.len() as u64 != expected {
            return Err(Error::InvalidInput(format!(
                "the plan covers {expected} stored bytes, {} were given",
                sealed.len()
            )));
        }
        let start_len = out.len();
        let mut offset = 0usize;
        let mut skip = plan.skip;
        let mut remaining = plan.take;
        for index in plan.first_segment..=plan.last_segment {
            let len = self.segment_plaintext_len(index)? + TAG_LEN;
            let Some(segment) = sealed.get_mut(offset..offset + len) else {
                return Err(Error::InvalidInput(
                    "the plan does not match this object".into(),
                ));
            };
            let opened = match self.open_segment(index, segment) {
                Ok(opened) => opened,
                Err(error) => {
                    out[start_len..].zeroize();
                    out.truncate(start_len);
                    return Err(error);
                }
            };
            let from = skip.min(opened);
            let to = (from as u64 + remaining).min(opened as u64) as usize;
            out.extend_from_slice(&segment[from..to]);
            remaining -= (to - from) as u64;
            skip = 0;
            offset += len;
        }
        Ok(())
    }
}

/// Seals a small object (e.g. a contact document) in one call.
pub fn seal_to_vec(key: &DataKey, object_id: &ObjectId, plaintext: &[u8]) -> Result<Vec<u8>> {
    let mut sealer = StreamSealer::new(key, object_id)?;
    let capacity = usize::try_from(sealed_len(plaintext.len() as u64)).unwrap_or(0);
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(&sealer.header());
    sealer.push(plaintext, &mut out)?;
    sealer.finish(&mut out)?;
    Ok(out)
}

/// Opens a whole object sealed by [`seal_to_vec`] or a [`StreamSealer`]; its
/// plaintext length follows from `sealed.len()`.
pub fn open_to_vec(key: &DataKey, object_id: &ObjectId, sealed: &[u8]) -> Result<Vec<u8>> {
    let plaintext_len = plaintext_len(sealed.len() as u64)?;
    let (header, _) = sealed
        .split_at_checked(HEADER_LEN)
        .ok_or_else(|| Error::Format("sealed object is shorter than its header".into()))?;
    let opener = StreamOpener::new(key, object_id, header, plaintext_len)?;
    // plaintext_len ≤ sealed.len(), so this fits; the extra tag's room means
    // the last segment's ciphertext never forces a reallocation.
    let mut out = Vec::with_capacity(sealed.len());
    for index in 0..opener.segment_count() {
        let range = opener.segment_sealed_range(index)?;
        let (Ok(from), Ok(to)) = (usize::try_from(range.start), usize::try_from(range.end)) else {
            return Err(Error::InvalidInput("object too large for memory".into()));
        };
        let start = out.len();
        out.extend_from_slice(&sealed[from..to]);
        match opener.open_segment(index, &mut out[start..]) {
            Ok(len) => out.truncate(start + len),
            Err(error) => {
                out.zeroize();
                return Err(error);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use ring::digest;

    use super::*;

    fn key(byte: u8) -> DataKey {
        DataKey::from_bytes([byte; 32])
    }

    fn data(len: usize, seed: u64) -> Vec<u8> {
        // xorshift: cheap, reproducible, not compressible-looking.
        let mut state = seed | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    /// Seals `plaintext` pushing chunks of the given sizes (cycled).
    fn seal_chunked(key: &DataKey, id: &ObjectId, plaintext: &[u8], chunks: &[usize]) -> Vec<u8> {
        let mut sealer = StreamSealer::new(key, id).unwrap();
        let mut out = sealer.header().to_vec();
        let mut rest = plaintext;
        let mut i = 0;
        while !rest.is_empty() {
            let size = chunks[i % chunks.len()].min(rest.len());
            let (chunk, tail) = rest.split_at(size);
            sealer.push(chunk, &mut out).unwrap();
            // Constant memory: never more than one segment held back.
            assert!(sealer.pending.len() <= SEGMENT_LEN);
            rest = tail;
            i += 1;
        }
        sealer.finish(&mut out).unwrap();
        out
    }

    const LENGTHS: [usize; 10] = [
        0,
        1,
        SEGMENT_LEN - 1,
        SEGMENT_LEN,
        SEGMENT_LEN + 1,
        2 * SEGMENT_LEN - 1,
        2 * SEGMENT_LEN,
        2 * SEGMENT_LEN + 1,
        3 * SEGMENT_LEN,
        3 * SEGMENT_LEN + 12345,
    ];

    #[test]
    fn every_boundary_length_round_trips_with_any_chunking() {
        let key = key(1);
        let chunkings: [&[usize]; 6] = [
            &[usize::MAX],
            &[1, 7, 4096],
            &[SEGMENT_LEN],
            &[SEGMENT_LEN + 1, 3],
            &[SEGMENT_LEN - 1],
            &[100_000, 0, 31_000],
        ];
        for len in LENGTHS {
            let plaintext = data(len, len as u64 + 1);
            for chunks in chunkings {
                let chunks: Vec<usize> = chunks.iter().map(|&c| c.max(1)).collect();
                let id = ObjectId::new_v7();

                let sealed = seal_chunked(&key, &id, &plaintext, &chunks);

                assert_eq!(sealed.len() as u64, sealed_len(len as u64), "len {len}");
                assert_eq!(plaintext_len(sealed.len() as u64).unwrap(), len as u64);
                assert_eq!(
                    open_to_vec(&key, &id, &sealed).unwrap(),
                    plaintext,
                    "len {len}"
                );
            }
        }
    }

    #[test]
    fn an_empty_object_is_one_empty_final_segment() {
        let key = key(1);
        let id = ObjectId::new_v7();

        let sealed = seal_to_vec(&key, &id, b"").unwrap();

        assert_eq!(sealed.len(), HEADER_LEN + TAG_LEN);
        assert_eq!(open_to_vec(&key, &id, &sealed).unwrap(), b"");
    }

    #[test]
    fn pushing_empty_chunks_changes_nothing() {
        let key = key(1);
        let id = ObjectId::new_v7();
        let mut sealer = StreamSealer::new(&key, &id).unwrap();
        let mut out = sealer.header().to_vec();

        sealer.push(b"", &mut out).unwrap();
        sealer.push(b"abc", &mut out).unwrap();
        sealer.push(b"", &mut out).unwrap();
        sealer.finish(&mut out).unwrap();

        assert_eq!(open_to_vec(&key, &id, &out).unwrap(), b"abc");
    }

    #[test]
    fn a_full_segment_is_held_back_until_more_data_arrives() {
        let key = key(1);
        let id = ObjectId::new_v7();
        let mut sealer = StreamSealer::new(&key, &id).unwrap();
        let mut out = Vec::new();

        sealer.push(&data(SEGMENT_LEN, 1), &mut out).unwrap();
        assert!(out.is_empty(), "it might still be the last segment");
        sealer.push(b"x", &mut out).unwrap();
        assert_eq!(out.len(), SEALED_SEGMENT_LEN);
    }

    #[test]
    fn sealed_len_and_plaintext_len_are_inverse() {
        for len in LENGTHS.iter().map(|&l| l as u64).chain([
            MAX_PLAINTEXT_LEN,
            MAX_PLAINTEXT_LEN - 1,
            5 * SEGMENT_LEN_U64 + 3,
        ]) {
            assert_eq!(plaintext_len(sealed_len(len)).unwrap(), len);
        }
        // Lengths no object has.
        for bad in [
            0,
            HEADER_LEN_U64,
            HEADER_LEN_U64 + TAG_LEN_U64 - 1,
            HEADER_LEN_U64 + SEALED_SEGMENT_LEN_U64 + TAG_LEN_U64,
            HEADER_LEN_U64 + SEALED_SEGMENT_LEN_U64 + 5,
            sealed_len(MAX_PLAINTEXT_LEN) + 1,
        ] {
            assert!(plaintext_len(bad).is_err(), "{bad}");
        }
    }

    /// The exact format, against vectors computed independently with Python's
    /// `cryptography` AESGCM from the description in this module's docs.
    #[test]
    fn the_format_matches_independently_computed_vectors() {
        let mut key_bytes = [0u8; 32];
        for (i, b) in key_bytes.iter_mut().enumerate() {
            *b = i as u8;
        }
        let key = DataKey::from_bytes(key_bytes);
        let id: ObjectId = "01890a5d-ac96-774b-bcce-b302099a8057".parse().unwrap();
        let seal = |plaintext: &[u8]| {
            let mut sealer = StreamSealer::with_prefix(&key, &id, [1, 2, 3, 4, 5, 6, 7]).unwrap();
            let mut out = sealer.header().to_vec();
            sealer.push(plaintext, &mut out).unwrap();
            sealer.finish(&mut out).unwrap();
            out
        };
        let pattern =
            |len: usize| -> Vec<u8> { (0..len).map(|i| ((i * 7 + 3) % 256) as u8).collect() };

        assert_eq!(
            hex::encode(seal(b"")),
            "4b4a52310102030405060700928f4fc8d84303c46d7722e20c4f5066"
        );
        let two = seal(&pattern(65541));
        assert_eq!(two.len(), 65585);
        assert_eq!(
            hex::encode(digest::digest(&digest::SHA256, &two)),
            "3c8750b08ecacf4d9e5ebb61d48e08c8e036f399220c56695e60cc808472907f"
        );
        let one_full = seal(&pattern(65536));
        assert_eq!(one_full.len(), 65564);
        assert_eq!(
            hex::encode(digest::digest(&digest::SHA256, &one_full)),
            "f5bcdfa7ebb6b4c259b09007c70577f9babeed0f5c4500176a779610bcd2f3f7"
        );
    }

    #[test]
    fn every_plan_of_a_multi_segment_object_returns_exactly_its_bytes() {
        let key = key(3);
        let id = ObjectId::new_v7();
        // Small segments would make this exhaustive; instead take every range
        // whose ends lie on or near segment edges and some interior points.
        let len = 3 * SEGMENT_LEN + 1000;
        let plaintext = data(len, 9);
        let sealed = seal_to_vec(&key, &id, &plaintext).unwrap();
        let opener =
            StreamOpener::new(&key, &id, &sealed[..HEADER_LEN], plaintext.len() as u64).unwrap();
        let mut points: Vec<u64> = vec![0, 1, 500, len as u64 - 1, len as u64];
        for k in 1..=3u64 {
            let edge = k * SEGMENT_LEN_U64;
            points.extend([edge - 1, edge, edge + 1, edge - 777]);
        }
        points.sort_unstable();
        points.dedup();

        for &start in &points {
            for &end in points.iter().filter(|&&e| e >= start) {
                let plan = opener.plan(start..end).unwrap();
                let range = plan.sealed_range.start as usize..plan.sealed_range.end as usize;
                let mut fetched = sealed[range].to_vec();
                let mut out = Vec::new();

                opener.open_plan(&plan, &mut fetched, &mut out).unwrap();

                assert_eq!(
                    out,
                    &plaintext[start as usize..end as usize],
                    "{start}..{end}"
                );
                assert_eq!(plan.take, end - start);
            }
        }
    }

    #[test]
    fn a_plan_reads_only_the_segments_it_needs() {
        let key = key(3);
        let id = ObjectId::new_v7();
        let len = 3 * SEGMENT_LEN_U64 + 10;
        let opener = StreamOpener::new(&key, &id, &header_bytes(&[0; 7]), len).unwrap();

        let plan = opener
            .plan(SEGMENT_LEN_U64 + 5..2 * SEGMENT_LEN_U64 + 1)
            .unwrap();

        assert_eq!(
            plan,
            ReadPlan {
                first_segment: 1,
                last_segment: 2,
                sealed_range: HEADER_LEN_U64 + SEALED_SEGMENT_LEN_U64
                    ..HEADER_LEN_U64 + 3 * SEALED_SEGMENT_LEN_U64,
                skip: 5,
                take: SEGMENT_LEN_U64 - 4,
            }
        );
        let last = opener.plan(len - 1..len).unwrap();
        assert_eq!((last.first_segment, last.last_segment), (3, 3));
        assert_eq!(last.sealed_range.end, sealed_len(len));
        assert!(opener.plan(0..len + 1).is_err());
        #[allow(clippy::reversed_empty_ranges, reason = "testing that it is refused")]
        let backwards = 5..4;
        assert!(opener.plan(backwards).is_err());
    }

    #[test]
    fn an_empty_range_of_an_empty_object_still_authenticates_it() {
        let key = key(3);
        let id = ObjectId::new_v7();
        let mut sealed = seal_to_vec(&key, &id, b"").unwrap();
        let opener = StreamOpener::new(&key, &id, &sealed[..HEADER_LEN], 0).unwrap();
        let plan = opener.plan(0..0).unwrap();
        assert_eq!(
            plan.sealed_range,
            HEADER_LEN_U64..HEADER_LEN_U64 + TAG_LEN_U64
        );

        sealed[HEADER_LEN] ^= 1;
        let mut fetched = sealed[HEADER_LEN..].to_vec();

        assert!(
            opener
                .open_plan(&plan, &mut fetched, &mut Vec::new())
                .is_err()
        );
    }

    /// Sealed segments of an object, each with its bytes.
    fn segments(sealed: &[u8]) -> Vec<Vec<u8>> {
        sealed[HEADER_LEN..]
            .chunks(SEALED_SEGMENT_LEN)
            .map(<[u8]>::to_vec)
            .collect()
    }

    fn assemble(header: &[u8], segments: &[Vec<u8>]) -> Vec<u8> {
        let mut out = header.to_vec();
        for segment in segments {
            out.extend_from_slice(segment);
        }
        out
    }

    fn assert_integrity_error(result: Result<Vec<u8>>, what: &str) {
        match result {
            Err(Error::Integrity(message)) => assert!(message.contains("segment"), "{message}"),
            Err(Error::Format(_)) => {}
            other => panic!("{what}: expected an integrity error, got {other:?}"),
        }
    }

    #[test]
    fn a_dropped_segment_is_detected() {
        let key = key(4);
        let id = ObjectId::new_v7();
        let sealed = seal_to_vec(&key, &id, &data(3 * SEGMENT_LEN + 10, 1)).unwrap();
        let segs = segments(&sealed);
        for dropped in 0..segs.len() {
            let mut rest = segs.clone();
            rest.remove(dropped);

            let result = open_to_vec(&key, &id, &assemble(&sealed[..HEADER_LEN], &rest));

            assert_integrity_error(result, &format!("dropped {dropped}"));
        }
    }

    #[test]
    fn reordered_segments_are_detected() {
        let key = key(4);
        let id = ObjectId::new_v7();
        let sealed = seal_to_vec(&key, &id, &data(4 * SEGMENT_LEN, 1)).unwrap();
        let segs = segments(&sealed);
        for a in 0..segs.len() {
            for b in a + 1..segs.len() {
                let mut swapped = segs.clone();
                swapped.swap(a, b);

                let result = open_to_vec(&key, &id, &assemble(&sealed[..HEADER_LEN], &swapped));

                assert_integrity_error(result, &format!("swapped {a} and {b}"));
            }
        }
    }

    #[test]
    fn a_segment_from_another_object_under_the_same_key_is_detected() {
        let key = key(4);
        let id = ObjectId::new_v7();
        let plaintext = data(3 * SEGMENT_LEN, 1);
        let ours = seal_to_vec(&key, &id, &plaintext).unwrap();
        // Same key, same id, same plaintext: only the nonce prefix differs.
        let theirs = seal_to_vec(&key, &id, &plaintext).unwrap();
        for index in 0..3 {
            let mut mixed = segments(&ours);
            mixed[index] = segments(&theirs)[index].clone();

            let result = open_to_vec(&key, &id, &assemble(&ours[..HEADER_LEN], &mixed));

            assert_integrity_error(result, &format!("foreign segment {index}"));
        }
    }

    #[test]
    fn opening_under_another_object_id_or_key_fails() {
        let id = ObjectId::new_v7();
        let sealed = seal_to_vec(&key(4), &id, b"hello").unwrap();

        assert_integrity_error(
            open_to_vec(&key(4), &ObjectId::new_v7(), &sealed),
            "other id",
        );
        assert_integrity_error(open_to_vec(&key(5), &id, &sealed), "other key");
    }

    #[test]
    fn truncation_at_a_segment_boundary_is_detected() {
        let key = key(4);
        let id = ObjectId::new_v7();
        let sealed = seal_to_vec(&key, &id, &data(3 * SEGMENT_LEN + 10, 1)).unwrap();
        for keep in 1..=3 {
            let cut = &sealed[..HEADER_LEN + keep * SEALED_SEGMENT_LEN];
            // The length is plausible: the former non-final segment is now
            // opened as the final one, and its flag says otherwise.
            assert!(plaintext_len(cut.len() as u64).is_ok());

            assert_integrity_error(open_to_vec(&key, &id, cut), &format!("kept {keep}"));
        }
        // Cut to the header only: no segment at all.
        assert!(open_to_vec(&key, &id, &sealed[..HEADER_LEN]).is_err());
    }

    #[test]
    fn truncation_mid_segment_is_detected() {
        let key = key(4);
        let id = ObjectId::new_v7();
        let sealed = seal_to_vec(&key, &id, &data(2 * SEGMENT_LEN + 10, 1)).unwrap();
        for cut in [
            sealed.len() - 1,
            sealed.len() - TAG_LEN,
            sealed.len() - 11,
            HEADER_LEN + SEALED_SEGMENT_LEN + 100,
            HEADER_LEN + 17,
            HEADER_LEN + 5,
        ] {
            assert!(
                open_to_vec(&key, &id, &sealed[..cut]).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn truncation_is_detected_by_an_opener_that_trusts_the_stored_length() {
        // The server may take the length from the object store: that is what
        // the last flag protects.
        let key = key(4);
        let id = ObjectId::new_v7();
        let sealed = seal_to_vec(&key, &id, &data(2 * SEGMENT_LEN + 10, 1)).unwrap();
        let cut = &sealed[..HEADER_LEN + SEALED_SEGMENT_LEN];
        let opener = StreamOpener::new(
            &key,
            &id,
            &cut[..HEADER_LEN],
            plaintext_len(cut.len() as u64).unwrap(),
        )
        .unwrap();
        let mut segment = cut[HEADER_LEN..].to_vec();

        let error = opener.open_segment(0, &mut segment).unwrap_err();

        assert!(
            matches!(error, Error::Integrity(ref m) if m.contains("segment 0")),
            "{error}"
        );
    }

    #[test]
    fn an_extra_segment_is_detected() {
        let key = key(4);
        let id = ObjectId::new_v7();
        let plaintext = data(SEGMENT_LEN * 2, 1);
        let sealed = seal_to_vec(&key, &id, &plaintext).unwrap();
        let segs = segments(&sealed);
        // Append a copy of a segment, or a segment of a longer sibling object
        // with the same key and header (the strongest forgery we can build).
        let mut extended = segs.clone();
        extended.push(segs[1].clone());
        assert_integrity_error(
            open_to_vec(&key, &id, &assemble(&sealed[..HEADER_LEN], &extended)),
            "duplicated last",
        );

        let mut sealer = StreamSealer::with_prefix(&key, &id, [9; 7]).unwrap();
        let mut longer = sealer.header().to_vec();
        sealer.push(&data(SEGMENT_LEN * 3, 1), &mut longer).unwrap();
        sealer.finish(&mut longer).unwrap();
        let mut shorter = StreamSealer::with_prefix(&key, &id, [9; 7]).unwrap();
        let mut short = shorter.header().to_vec();
        shorter.push(&data(SEGMENT_LEN * 2, 1), &mut short).unwrap();
        shorter.finish(&mut short).unwrap();
        let mut forged = segments(&short);
        forged.push(segments(&longer)[2].clone());
        assert_integrity_error(
            open_to_vec(&key, &id, &assemble(&short[..HEADER_LEN], &forged)),
            "sibling's segment appended",
        );
        // Trailing garbage of any size.
        for extra in [1, TAG_LEN, SEALED_SEGMENT_LEN] {
            let mut longer = sealed.clone();
            longer.extend(std::iter::repeat_n(0u8, extra));
            assert!(
                open_to_vec(&key, &id, &longer).is_err(),
                "{extra} extra bytes"
            );
        }
    }

    #[test]
    fn an_opener_refuses_a_malformed_header() {
        let key = key(4);
        let id = ObjectId::new_v7();
        let good = header_bytes(&[1; 7]);
        let mut bad_magic = good;
        bad_magic[0] = b'X';
        let mut bad_flag = good;
        bad_flag[HEADER_LEN - 1] = 1;

        assert!(StreamOpener::new(&key, &id, &good, 10).is_ok());
        assert!(StreamOpener::new(&key, &id, &good[..HEADER_LEN - 1], 10).is_err());
        assert!(StreamOpener::new(&key, &id, &bad_magic, 10).is_err());
        assert!(StreamOpener::new(&key, &id, &bad_flag, 10).is_err());
        assert!(StreamOpener::new(&key, &id, &good, MAX_PLAINTEXT_LEN + 1).is_err());
    }

    #[test]
    fn open_segment_refuses_a_wrong_length_or_index_without_panicking() {
        let key = key(4);
        let id = ObjectId::new_v7();
        let sealed = seal_to_vec(&key, &id, &data(SEGMENT_LEN + 5, 1)).unwrap();
        let opener =
            StreamOpener::new(&key, &id, &sealed[..HEADER_LEN], SEGMENT_LEN_U64 + 5).unwrap();

        assert!(opener.open_segment(0, &mut [0; 3]).is_err());
        assert!(opener.open_segment(2, &mut [0; 21]).is_err());
        assert!(opener.open_segment(u64::MAX, &mut []).is_err());
        let mut last = sealed[HEADER_LEN + SEALED_SEGMENT_LEN..].to_vec();
        assert_eq!(opener.open_segment(1, &mut last).unwrap(), 5);
    }

    #[test]
    fn debug_output_carries_no_key_or_data() {
        let key = key(0xAB);
        let id = ObjectId::new_v7();
        let mut sealer = StreamSealer::new(&key, &id).unwrap();
        sealer.push(b"secret words", &mut Vec::new()).unwrap();

        let text = format!("{sealer:?}");

        assert!(!text.contains("secret") && !text.contains("171"), "{text}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn arbitrary_data_and_chunking_round_trip(
            plaintext in prop::collection::vec(any::<u8>(), 0..(3 * SEGMENT_LEN + 100)),
            chunks in prop::collection::vec(1usize..(2 * SEGMENT_LEN), 1..8),
        ) {
            let key = key(7);
            let id = ObjectId::new_v7();

            let sealed = seal_chunked(&key, &id, &plaintext, &chunks);

            prop_assert_eq!(sealed.len() as u64, sealed_len(plaintext.len() as u64));
            prop_assert_eq!(open_to_vec(&key, &id, &sealed).unwrap(), plaintext);
        }

        #[test]
        fn one_segment_at_a_time_seals_the_same_bytes_as_push(
            plaintext in prop::collection::vec(any::<u8>(), 0..(4 * SEGMENT_LEN + 100)),
            chunks in prop::collection::vec(1usize..(3 * SEGMENT_LEN), 1..8),
        ) {
            let key = key(9);
            let id = ObjectId::new_v7();
            let prefix = [5u8; NONCE_PREFIX_LEN];
            let mut whole = StreamSealer::with_prefix(&key, &id, prefix).unwrap();
            let mut expected = whole.header().to_vec();
            whole.push(&plaintext, &mut expected).unwrap();
            whole.finish(&mut expected).unwrap();

            let mut sealer = StreamSealer::with_prefix(&key, &id, prefix).unwrap();
            let mut out = sealer.header().to_vec();
            let mut rest = &plaintext[..];
            let mut i = 0;
            while !rest.is_empty() {
                let (mut chunk, tail) = rest.split_at(chunks[i % chunks.len()].min(rest.len()));
                while !chunk.is_empty() {
                    let before = out.len();
                    let taken = sealer.push_one(chunk, &mut out).unwrap();
                    // At most one sealed segment per call; progress each
                    // call, by input taken or a segment sealed.
                    prop_assert!(out.len() - before <= SEALED_SEGMENT_LEN);
                    prop_assert!(taken > 0 || out.len() > before);
                    chunk = &chunk[taken..];
                }
                rest = tail;
                i += 1;
            }
            sealer.finish(&mut out).unwrap();

            prop_assert!(out == expected, "the sealed bytes differ");
        }

        #[test]
        fn any_flipped_bit_is_detected(
            len in prop_oneof![0usize..200, (SEGMENT_LEN - 2)..(SEGMENT_LEN + 200)],
            position in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let key = key(8);
            let id = ObjectId::new_v7();
            let mut sealed = seal_to_vec(&key, &id, &data(len, 3)).unwrap();
            let at = position.index(sealed.len());

            sealed[at] ^= 1 << bit;

            prop_assert!(open_to_vec(&key, &id, &sealed).is_err(), "flip at {} of {}", at, sealed.len());
        }
    }

    #[test]
    fn every_header_byte_flip_is_detected() {
        let key = key(8);
        let id = ObjectId::new_v7();
        let sealed = seal_to_vec(&key, &id, &data(SEGMENT_LEN + 3, 3)).unwrap();
        for at in 0..HEADER_LEN {
            for bit in 0..8 {
                let mut altered = sealed.clone();
                altered[at] ^= 1 << bit;
                assert!(
                    open_to_vec(&key, &id, &altered).is_err(),
                    "byte {at} bit {bit}"
                );
            }
        }
    }
}
