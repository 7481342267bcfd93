//! Upload and read speed of the S3 backend against a real Garage on loopback,
//! beside [`LocalFolder`] on the same disk in the same run.
//!
//! Each round writes one object of `KIRJURI_BENCH_S3_MIB` MiB (default 1024)
//! in 1 MiB pieces (as sealed segments arrive) and commits it, then reads it
//! back in 8 MiB ranges, through: `LocalFolder` (fsync on commit); an
//! `S3Store` on a Garage that fsyncs data and metadata (like a production
//! node, the fair comparison); and one on a Garage that does not (Garage's
//! default). Both Garages are started here with `scripts/garage`
//! (`kirjuri_testkit::garage::start_own`), data under
//! the system temp folder (the same disk as `target/` on this machine), and
//! stop when the bench exits. Also reports how much resident memory the
//! process grew by during an S3 upload. Prints MB/s; asserts nothing.

use std::error::Error;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kirjuri_core::ids::ObjectId;
use kirjuri_testkit::garage;
use kirjuri_vault::{LocalFolder, ObjectStore};

/// Rounds per store, interleaved; the best is reported.
const ROUNDS: usize = 2;
/// Size of each write, like a batch of sealed segments.
const WRITE_LEN: usize = 1 << 20;
/// Size of each ranged read.
const READ_LEN: u64 = 8 << 20;

fn main() -> Result<(), Box<dyn Error>> {
    let mib: usize = std::env::var("KIRJURI_BENCH_S3_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let len = (mib << 20) as u64;
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
    let folder = LocalFolder::open(&dir.path().join("objects"))?;
    let synced = garage::start_own(&["--fsync"]).store();
    let unsynced = garage::start_own(&[]).store();
    let stores: [(&str, &dyn ObjectStore); 3] = [
        ("LocalFolder (fsync)", &folder),
        ("S3Store -> Garage (fsync)", &synced),
        ("S3Store -> Garage (no fsync)", &unsynced),
    ];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "s3 bench: {mib} MiB objects, {} MiB writes, {} MiB ranged reads, best of {ROUNDS}; \
         part size {} MiB x {} in flight; load average {}",
        WRITE_LEN >> 20,
        READ_LEN >> 20,
        kirjuri_vault::s3::DEFAULT_PART_SIZE >> 20,
        kirjuri_vault::s3::DEFAULT_CONCURRENT_PARTS,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );

    let mut best = [(Duration::MAX, Duration::MAX); 3];
    let mut grown = 0u64;
    for _ in 0..ROUNDS {
        for (index, (_, store)) in stores.iter().enumerate() {
            let id = ObjectId::new_v7();
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            let before = resident();
            let write = runtime.block_on(upload(*store, &id, len))?;
            if index > 0 {
                grown = grown.max(peak().saturating_sub(before));
            }
            let read = runtime.block_on(read_back(*store, &id, len))?;
            runtime.block_on(store.delete(&id))?;
            best[index].0 = best[index].0.min(write);
            best[index].1 = best[index].1.min(read);
        }
    }

    let rate = |d: Duration| len as f64 / 1e6 / d.as_secs_f64();
    for ((name, _), (write, read)) in stores.iter().zip(best) {
        println!(
            "{name:<30} write+commit {:>6.0} MB/s ({:>6.2} s)   read {:>6.0} MB/s ({:>6.2} s)",
            rate(write),
            write.as_secs_f64(),
            rate(read),
            read.as_secs_f64()
        );
    }
    println!(
        "resident memory grew by at most {:.1} MiB during an S3 upload of {mib} MiB",
        grown as f64 / (1 << 20) as f64
    );
    Ok(())
}

/// Writes `len` bytes as one object and commits it; returns the time taken.
async fn upload(
    store: &dyn ObjectStore,
    id: &ObjectId,
    len: u64,
) -> Result<Duration, Box<dyn Error>> {
    let piece = Bytes::from(
        (0..WRITE_LEN)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
            .collect::<Vec<u8>>(),
    );
    let started = Instant::now();
    let mut writer = store.put(id).await?;
    let mut written = 0;
    while written < len {
        let n = piece.len().min((len - written) as usize);
        writer.write(piece.slice(..n)).await?;
        written += n as u64;
    }
    writer.commit().await?;
    Ok(started.elapsed())
}

/// Reads the object back in ranges; returns the time taken.
async fn read_back(
    store: &dyn ObjectStore,
    id: &ObjectId,
    len: u64,
) -> Result<Duration, Box<dyn Error>> {
    let started = Instant::now();
    let mut offset = 0;
    while offset < len {
        let end = (offset + READ_LEN).min(len);
        let bytes = store.get_range(id, offset..end).await?;
        if bytes.len() as u64 != end - offset {
            return Err(format!("short read at {offset}").into());
        }
        offset = end;
    }
    Ok(started.elapsed())
}

/// A field of /proc/self/status in bytes (0 if unreadable).
fn status_field(name: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().strip_suffix("kB"))
                .and_then(|kb| kb.trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Current resident memory.
fn resident() -> u64 {
    status_field("VmRSS:")
}

/// Peak resident memory since the last reset.
fn peak() -> u64 {
    status_field("VmHWM:")
}
