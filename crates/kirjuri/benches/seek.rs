//! Issue 16 §3's seek benchmark, against the real `kirjuri` binary over
//! loopback HTTP (`kirjuri_testkit`'s `TestApp`, the embedded default): a
//! supervisor's 1,000 random 64 KiB seeks into a 100 MB recording, made by
//! 8 keep-alive readers at once (125 each), each `GET …/recording` with a
//! `Range` header and a purpose — so each is authorised, audited (its
//! audit row durable before a byte leaves), read and decrypted. Timed at
//! the client from sending the request to the first body byte; p50 / p95
//! / p99 / max. Every range returned is compared with the uploaded file.
//!
//! The natural baseline, measured in the same run on the same server and
//! the same 8 connections: the same number of `GET /healthz` — an
//! unaudited read that touches no database and no object, so the ratio
//! shows what the audited, decrypted seek adds to the HTTP round trip.
//! The objects are read into the page cache first (what a seek right after
//! another is), so the disk's latency is not what is measured, and a few
//! untimed rounds of seeks by all the readers at once come first, so the
//! server's database connections are open and their statements prepared,
//! as in a server that has been answering for a while.
//!
//! A second baseline, the disk's floor: as many threads as readers, at
//! once, each appending 256 bytes to one file in the data folder and
//! `fdatasync`ing it, as many times — what any audited read must wait for
//! at least (its audit row made durable), without HTTP, database or
//! decryption.
//!
//! Also the server's CPU per seek (its `/proc` times over the seeks: with
//! 2 cores shared by the server and the readers, CPU queues requests as
//! much as the disk does) and its peak RSS (`VmHWM`).
//! `KIRJURI_BENCH_SEEK_READERS=N` runs N readers instead of 8, and
//! `KIRJURI_BENCH_SEEKS=N` makes N seeks (to profile the server, whose pid
//! is printed at the start). Target (issue 16): first byte
//! p99 < 5 ms. `KIRJURI_BENCH_QUICK=1` makes the recording 10 MB and the
//! seeks 200. Not a test: a missed target prints FAIL; only errors exit
//! non-zero. Run: `cargo bench -p kirjuri --bench seek`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use futures::StreamExt;
use kirjuri_testkit::app::{TestApp, load_average, process_times};
use kirjuri_testkit::fixtures::{noise_wav, sha256_hex};

/// Untimed rounds of seeks, every reader at once, before the timed ones.
const WARM_ROUNDS: usize = 4;

const KIRJURI: &str = env!("CARGO_BIN_EXE_kirjuri");
/// Concurrent keep-alive readers (issue 16's figure; the environment's
/// `KIRJURI_BENCH_SEEK_READERS` changes it, to see what is queueing).
const READERS: usize = 8;
/// Bytes per seek.
const SEEK_LEN: u64 = 64 * 1024;
/// Issue 16's target for the first byte's p99, in milliseconds.
const P99_TARGET_MS: f64 = 5.0;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("seek bench failed: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seek bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let quick = std::env::var("KIRJURI_BENCH_QUICK").is_ok_and(|v| v == "1");
    let readers = std::env::var("KIRJURI_BENCH_SEEK_READERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(READERS);
    let (audio_len, seeks) = if quick {
        (10_000_000, 200)
    } else {
        (100_000_000, 1_000)
    };
    // More seeks, for a profiler to attach to the server (whose pid is
    // printed first) while they run.
    let seeks = std::env::var("KIRJURI_BENCH_SEEKS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n >= readers)
        .unwrap_or(seeks);
    let app = TestApp::spawn(KIRJURI, &[]).await;
    eprintln!("seek: server pid {}", app.pid());
    let id = app.new_call("aino").await;
    let wav = Arc::new(noise_wav(audio_len, 16));
    let stored = app.store_recording(&id, &wav).await;
    ensure!(
        stored["sha256"].as_str() == Some(sha256_hex(&wav).as_str()),
        "the acknowledgement's sha256 is not the file's: {stored}"
    );
    // Into the page cache: every object file read through once.
    for file in app.object_files() {
        std::io::copy(&mut std::fs::File::open(&file)?, &mut std::io::sink())?;
    }
    let url = app.url(&format!(
        "/api/v1/contacts/{id}/recording?purpose=quality_assurance"
    ));
    let health = app.url("/healthz");
    let clients: Vec<reqwest::Client> = (0..readers)
        .map(|_| {
            reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .tcp_nodelay(true)
                .timeout(Duration::from_secs(60))
                .build()
        })
        .collect::<reqwest::Result<_>>()?;
    let token = app.tokens.sanna.clone();
    // Each reader's seek offsets, fixed (xorshift) so runs compare.
    let per_reader = seeks / readers;
    let wav_len = wav.len() as u64;
    let plan = move |reader: usize, n: usize| -> Vec<u64> {
        let mut state = 0x2545_F491_4F6C_DD1D_u64 ^ (reader as u64 + 1);
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state % (wav_len - SEEK_LEN + 1)
            })
            .collect()
    };
    // Then a few rounds with every reader at once, as the timed seeks come:
    // the server's connections and their prepared statements are then what
    // they are in a server that has been answering for a while, so the
    // timed seeks do not include a pool's first burst.
    let warm_plans = (0..readers).map(|r| plan(r + 100, WARM_ROUNDS)).collect();
    seek_rounds(&clients, &url, &token, &wav, warm_plans).await?;
    let plans = (0..readers).map(|r| plan(r, per_reader)).collect();

    // Baseline, seeks, baseline again, all on the same connections.
    let healthz = move |client: reqwest::Client, _: (usize, usize)| {
        let health = health.clone();
        async move { first_byte(client.get(&health)).await }
    };
    let base_before = all_readers(&clients, per_reader, healthz.clone()).await?;
    let cpu_before = cpu_seconds(app.pid());
    let seek_times = seek_rounds(&clients, &url, &token, &wav, plans).await?;
    let seek_cpu = cpu_seconds(app.pid()) - cpu_before;
    let base_after = all_readers(&clients, per_reader, healthz).await?;
    let (_, hwm) = app.memory();
    let mut floor = durable_appends(app.data_dir(), readers, per_reader).await?;
    floor.sort_by(f64::total_cmp);

    let mut base: Vec<f64> = base_before.into_iter().chain(base_after).collect();
    base.sort_by(f64::total_cmp);
    let mut seek = seek_times;
    seek.sort_by(f64::total_cmp);
    println!(
        "seek: {} random {} KiB Range GETs into a {:.0} MB recording, {readers} keep-alive readers at once; load average {}",
        seek.len(),
        SEEK_LEN / 1024,
        wav.len() as f64 / 1e6,
        load_average()
    );
    println!("| first byte, ms | p50 | p95 | p99 | max |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (label, v) in [
        ("audited, decrypted seek", &seek),
        ("unaudited `GET /healthz` (baseline)", &base),
        ("durable 256-byte append, no HTTP (disk floor)", &floor),
    ] {
        println!(
            "| {label} | {:.2} | {:.2} | {:.2} | {:.2} |",
            quantile(v, 0.50),
            quantile(v, 0.95),
            quantile(v, 0.99),
            quantile(v, 1.0)
        );
    }
    let p99 = quantile(&seek, 0.99);
    println!(
        "p99 ratio to the baseline's p99: {:.1}; target p99 < {P99_TARGET_MS} ms: {}",
        p99 / quantile(&base, 0.99),
        if p99 < P99_TARGET_MS { "PASS" } else { "FAIL" }
    );
    println!(
        "p99 ratio to the disk floor's p99: {:.1} (the floor's own p99 {:.2} ms against the target)",
        p99 / quantile(&floor, 0.99),
        quantile(&floor, 0.99)
    );
    println!(
        "server CPU per seek: {:.2} ms (the machine has 2 cores for the server and the {readers} readers)",
        seek_cpu * 1e3 / seek.len() as f64
    );
    println!(
        "server peak RSS (VmHWM): {:.0} MiB",
        hwm as f64 / f64::from(1 << 20)
    );
    Ok(())
}

/// The disk's floor for an audited read: what making one small record
/// durable costs when `writers` do it at once, as the readers' audit rows
/// are. Each of `writers` threads appends 256 bytes to one shared file in
/// the data folder and `fdatasync`s it, `per_writer` times; each append's
/// time in ms. No audited read can send its first byte sooner than its
/// row is durable, so a p99 near this one is the disk, not the server.
async fn durable_appends(
    dir: &std::path::Path,
    writers: usize,
    per_writer: usize,
) -> Result<Vec<f64>> {
    use std::io::Write as _;
    let path = dir.join("bench-durable-appends");
    let file = Arc::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?,
    );
    let writers: Vec<_> = (0..writers)
        .map(|_| {
            let file = Arc::clone(&file);
            tokio::task::spawn_blocking(move || -> std::io::Result<Vec<f64>> {
                let record = [b'a'; 256];
                (0..per_writer)
                    .map(|_| {
                        let start = Instant::now();
                        (&*file).write_all(&record)?;
                        file.sync_data()?;
                        Ok(start.elapsed().as_secs_f64() * 1e3)
                    })
                    .collect()
            })
        })
        .collect();
    let mut times = Vec::new();
    for writer in writers {
        times.extend(writer.await??);
    }
    std::fs::remove_file(&path)?;
    Ok(times)
}

/// Runs `per_reader` requests on each reader's connection, the readers at
/// once; each request made by `request(client, (reader, n))` returns its
/// first-byte time in ms.
async fn all_readers<F, Fut>(
    clients: &[reqwest::Client],
    per_reader: usize,
    request: F,
) -> Result<Vec<f64>>
where
    F: Fn(reqwest::Client, (usize, usize)) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<f64>> + Send,
{
    let tasks: Vec<_> = clients
        .iter()
        .cloned()
        .enumerate()
        .map(|(reader, client)| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut times = Vec::with_capacity(per_reader);
                for n in 0..per_reader {
                    times.push(request(client.clone(), (reader, n)).await?);
                }
                Ok::<_, anyhow::Error>(times)
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    Ok(all)
}

/// One Range GET of `SEEK_LEN` bytes at `start`: its first-byte time in ms,
/// after checking every byte against `wav`.
/// Every reader's seeks at once, reader `r` seeking to each offset of
/// `plans[r]` in turn; each seek's first-byte time.
async fn seek_rounds(
    clients: &[reqwest::Client],
    url: &str,
    token: &str,
    wav: &Arc<Vec<u8>>,
    plans: Vec<Vec<u64>>,
) -> Result<Vec<f64>> {
    let rounds = plans.first().map_or(0, Vec::len);
    let (url, token, wav, plans) = (
        url.to_owned(),
        token.to_owned(),
        Arc::clone(wav),
        Arc::new(plans),
    );
    all_readers(clients, rounds, move |client, (reader, n)| {
        let (url, token, wav) = (url.clone(), token.clone(), Arc::clone(&wav));
        let start = plans[reader][n];
        async move { seek_once(&client, &url, &token, start, &wav).await }
    })
    .await
}

async fn seek_once(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    start: u64,
    wav: &[u8],
) -> Result<f64> {
    let end = start + SEEK_LEN - 1;
    let sent = Instant::now();
    let response = client
        .get(url)
        .bearer_auth(token)
        .header("range", format!("bytes={start}-{end}"))
        .send()
        .await?;
    ensure!(
        response.status() == reqwest::StatusCode::PARTIAL_CONTENT,
        "Range GET answered {}",
        response.status()
    );
    let mut body = response.bytes_stream();
    let mut got = Vec::with_capacity(SEEK_LEN as usize);
    let first = body.next().await.context("an empty body")??;
    let ms = sent.elapsed().as_secs_f64() * 1e3;
    got.extend_from_slice(&first);
    while let Some(chunk) = body.next().await {
        got.extend_from_slice(&chunk?);
    }
    let expected = wav
        .get(start as usize..=end as usize)
        .context("a seek past the file")?;
    ensure!(
        got == expected,
        "bytes {start}-{end} differ from the upload"
    );
    Ok(ms)
}

/// Sends `request` and returns the time to its first body byte in ms,
/// reading the rest.
async fn first_byte(request: reqwest::RequestBuilder) -> Result<f64> {
    let sent = Instant::now();
    let response = request.send().await?;
    ensure!(response.status().is_success(), "{}", response.status());
    let mut body = response.bytes_stream();
    body.next().await.context("an empty body")??;
    let ms = sent.elapsed().as_secs_f64() * 1e3;
    while let Some(chunk) = body.next().await {
        chunk?;
    }
    Ok(ms)
}

/// The `q` quantile of `sorted` (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The CPU seconds process `pid` has used, in the kernel's 100 ticks a
/// second; 0 if unreadable.
fn cpu_seconds(pid: u32) -> f64 {
    process_times(pid).map_or(0.0, |t| t.own as f64 / 100.0)
}
