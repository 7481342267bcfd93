//! Raw throughput of the segmented AEAD stream against its natural baseline:
//! ring's AES-256-GCM over the same data in 64 KiB chunks, in place.
//!
//! Measures CPU cost only (no I/O); `ingest` measures the disk path. Prints
//! MB/s (10⁶ bytes) per variant and the stream/baseline ratio; best of a few
//! rounds. Not a test: it asserts nothing about speed.

use std::error::Error;
use std::hint::black_box;
use std::time::{Duration, Instant};

use kirjuri_core::ids::ObjectId;
use kirjuri_vault::stream::{HEADER_LEN, SEALED_SEGMENT_LEN};
use kirjuri_vault::{Keyring, SEGMENT_LEN, StreamOpener, StreamSealer, TAG_LEN, sealed_len};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, Tag, UnboundKey};

/// Plaintext size per run.
const LEN: usize = 256 << 20;
/// Rounds per variant; the best is reported.
const ROUNDS: usize = 3;

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let keyring = Keyring::open_or_create(&dir.path().join("keys.json"))?;
    let key = keyring.generate_data_key()?;
    let id = ObjectId::new_v7();
    let plaintext = pseudo_random(LEN);
    let mb = LEN as f64 / 1e6;
    println!(
        "stream bench: {} MiB plaintext, best of {ROUNDS}",
        LEN >> 20
    );

    // Baseline: ring seal in place, 64 KiB at a time.
    let raw = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).map_err(|_| "key")?);
    let mut buffer = plaintext.clone();
    let mut tags: Vec<Tag> = Vec::with_capacity(LEN / SEGMENT_LEN);
    let raw_seal = best(|| {
        tags.clear();
        let start = Instant::now();
        for (i, chunk) in buffer.chunks_mut(SEGMENT_LEN).enumerate() {
            let tag = raw
                .seal_in_place_separate_tag(nonce(i), Aad::from(&[0u8; 28]), chunk)
                .map_err(|_| "seal")?;
            tags.push(tag);
        }
        Ok(start.elapsed())
    })?;

    // StreamSealer, as the server feeds it: 1 MiB and 16 KiB pushes.
    let mut sealed = Vec::new();
    let mut seal_with = |chunk: usize| {
        best(|| {
            sealed.clear();
            sealed.reserve(sealed_len(LEN as u64) as usize);
            let start = Instant::now();
            let mut sealer = StreamSealer::new(&key, &id)?;
            sealed.extend_from_slice(&sealer.header());
            for piece in plaintext.chunks(chunk) {
                sealer.push(piece, &mut sealed)?;
            }
            sealer.finish(&mut sealed)?;
            black_box(&sealed);
            Ok(start.elapsed())
        })
    };
    let seal_1m = seal_with(1 << 20)?;
    let seal_16k = seal_with(16 << 10)?;

    // Baseline open: ring open in place of the baseline's ciphertext.
    let mut raw_sealed = Vec::with_capacity(LEN + tags.len() * TAG_LEN);
    for (chunk, tag) in buffer.chunks(SEGMENT_LEN).zip(&tags) {
        raw_sealed.extend_from_slice(chunk);
        raw_sealed.extend_from_slice(tag.as_ref());
    }
    let mut work = raw_sealed.clone();
    let raw_open = best(|| {
        work.copy_from_slice(&raw_sealed);
        let start = Instant::now();
        for (i, segment) in work.chunks_mut(SEALED_SEGMENT_LEN).enumerate() {
            let opened = raw
                .open_in_place(nonce(i), Aad::from(&[0u8; 28]), segment)
                .map_err(|_| "open")?;
            black_box(opened);
        }
        Ok(start.elapsed())
    })?;

    // StreamOpener, segment by segment in place (what a ranged read does).
    let opener = StreamOpener::new(&key, &id, &sealed[..HEADER_LEN], LEN as u64)?;
    let mut work = sealed.clone();
    let stream_open = best(|| {
        work.copy_from_slice(&sealed);
        let start = Instant::now();
        for (i, segment) in work[HEADER_LEN..]
            .chunks_mut(SEALED_SEGMENT_LEN)
            .enumerate()
        {
            black_box(opener.open_segment(i as u64, segment)?);
        }
        Ok(start.elapsed())
    })?;
    // And through a read plan of the whole object (in place + copy out).
    let plan = opener.plan(0..LEN as u64)?;
    let mut out = Vec::with_capacity(LEN);
    let plan_open = best(|| {
        work.copy_from_slice(&sealed);
        out.clear();
        let start = Instant::now();
        opener.open_plan(&plan, &mut work[HEADER_LEN..], &mut out)?;
        Ok(start.elapsed())
    })?;
    if out != plaintext {
        return Err("the stream did not round-trip".into());
    }

    // For reference: the SHA-256 the server computes over every recording.
    let sha = best(|| {
        let start = Instant::now();
        black_box(ring::digest::digest(&ring::digest::SHA256, &plaintext));
        Ok(start.elapsed())
    })?;

    let rate = |d: Duration| mb / d.as_secs_f64();
    let row = |name: &str, d: Duration, base: Duration| {
        println!(
            "{name:<40} {:>8.0} MB/s   {:>5.2}× baseline",
            rate(d),
            base.as_secs_f64() / d.as_secs_f64()
        );
    };
    row("seal: ring in place, 64 KiB (baseline)", raw_seal, raw_seal);
    row("seal: StreamSealer, 1 MiB pushes", seal_1m, raw_seal);
    row("seal: StreamSealer, 16 KiB pushes", seal_16k, raw_seal);
    row("open: ring in place, 64 KiB (baseline)", raw_open, raw_open);
    row("open: StreamOpener::open_segment", stream_open, raw_open);
    row("open: StreamOpener::open_plan (+copy)", plan_open, raw_open);
    println!(
        "{:<40} {:>8.0} MB/s   (reference)",
        "ring SHA-256",
        rate(sha)
    );
    Ok(())
}

/// A per-segment nonce for the baseline (unique per chunk, as ring requires).
fn nonce(i: usize) -> Nonce {
    let mut bytes = [0u8; NONCE_LEN];
    bytes[4..].copy_from_slice(&(i as u64).to_be_bytes());
    Nonce::assume_unique_for_key(bytes)
}

/// Best time of `ROUNDS` runs of `run`, which does any untimed preparation
/// itself and returns the time of the measured part.
fn best(
    mut run: impl FnMut() -> Result<Duration, Box<dyn Error>>,
) -> Result<Duration, Box<dyn Error>> {
    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        best = best.min(run()?);
    }
    Ok(best)
}

/// Incompressible-looking bytes, quickly.
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}
