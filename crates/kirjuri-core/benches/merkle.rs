//! Throughput of the audit log's Merkle hashing: leaf hash + streaming root
//! for 1 M events of 100 bytes, the work `kirjuri audit verify` does per
//! event on top of reading it (the docs/requirements.md target is 10 M entries in 10 s,
//! so this part must stay well under 1 s per million).
//!
//! Run with `cargo bench -p kirjuri-core --bench merkle`. Prints the best of
//! a few rounds for each stage; asserts nothing about speed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use kirjuri_core::merkle::{Hash, TreeBuilder, leaf_hash, node_hash};

/// Events per round.
const EVENTS: usize = 1_000_000;
/// Bytes per event (a typical encoded audit event carries ids and hashes).
const EVENT_LEN: usize = 100;
/// Rounds per stage; the best is reported.
const ROUNDS: usize = 5;

fn main() {
    // Distinct, deterministic events, generated up front so only hashing is timed.
    let events: Vec<[u8; EVENT_LEN]> = (0..EVENTS as u64)
        .map(|i| {
            let mut event = [0u8; EVENT_LEN];
            for (j, chunk) in event.chunks_mut(8).enumerate() {
                let word = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (j as u64);
                chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
            }
            event
        })
        .collect();
    println!("merkle bench: {EVENTS} events of {EVENT_LEN} bytes, best of {ROUNDS}");

    let leaves_only = best(|| {
        let mut acc = [0u8; 32];
        for event in &events {
            let leaf = leaf_hash(event);
            acc[0] ^= leaf[0];
        }
        black_box(acc);
    });
    report("leaf hashes only", leaves_only);

    let leaves: Vec<Hash> = events.iter().map(|event| leaf_hash(event)).collect();
    let nodes_only = best(|| {
        let builder: TreeBuilder = leaves.iter().copied().collect();
        black_box(builder.root());
    });
    report("tree over precomputed leaves", nodes_only);

    let full = best(|| {
        let mut builder = TreeBuilder::new();
        for event in &events {
            builder.push_data(event);
        }
        black_box(builder.root());
    });
    report("leaf hash + streaming root", full);

    // Raw cost of one node hash, for scale.
    let pair = best(|| {
        let mut hash = [7u8; 32];
        for _ in 0..EVENTS {
            hash = node_hash(&hash, &hash);
        }
        black_box(hash);
    });
    report("1 M node hashes (65-byte input)", pair);
}

/// The fastest of [`ROUNDS`] runs of `work`.
fn best(mut work: impl FnMut()) -> Duration {
    (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn report(stage: &str, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64();
    println!(
        "  {stage:<34} {:>8.1} ms   {:>6.2} M events/s   {:>7.1} MB/s of events",
        seconds * 1e3,
        EVENTS as f64 / seconds / 1e6,
        (EVENTS * EVENT_LEN) as f64 / seconds / 1e6,
    );
}
