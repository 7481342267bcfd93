//! Issue 12's access-package benchmark, run against the real `kirjuri`
//! binary over loopback HTTP (`kirjuri_testkit`'s `TestApp`, as the API
//! tests run it): one data subject with N recorded calls, an access request
//! registered and verified in person by a registrar, then
//!
//! - (a) the access package, `GET /api/v1/requests/{id}/package?purpose=
//!   data_subject_request`, streamed into a file, timed from the request to
//!   its last byte;
//! - (b) the same recordings read one by one, `GET /api/v1/contacts/{id}/
//!   recording?purpose=data_subject_request` on one keep-alive connection,
//!   streamed into one file the same way;
//!
//! each on a freshly started server, whose peak RSS (`VmHWM` of its
//! `/proc/<pid>/status`, as the ingest bench reads it, cross-checked by
//! sampling `VmRSS` every 10 ms) is reported against the 64 MiB target.
//! Afterwards, untimed: every WAV in the package is hashed by an independent
//! ZIP reader (Python's `zipfile`, which also checks each entry's CRC) and
//! compared with the uploaded file's SHA-256, and a sample of the one-by-one
//! reads likewise.
//!
//! Sizes: `KIRJURI_BENCH_PACKAGE_CALLS` calls (default 1000) of
//! `KIRJURI_BENCH_PACKAGE_CALL_BYTES` audio bytes each (default 1 920 000:
//! one minute of 8 kHz stereo 16-bit), ≈ 1.9 GB in all; `KIRJURI_BENCH_QUICK=1`
//! makes it 50 calls for a smoke run. The server's data folder is a temp
//! folder (removed at the end), the downloads go under
//! `CARGO_TARGET_TMPDIR`. Not a test: a missed target is reported as FAIL
//! in the table; only errors make the exit status non-zero.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use futures::StreamExt;
use kirjuri_testkit::app::TestApp;
use kirjuri_testkit::fixtures::{call, noise_wav, sha256_hex};
use serde_json::{Value, json};

const KIRJURI: &str = env!("CARGO_BIN_EXE_kirjuri");
/// The target from docs/requirements.md "Performance targets".
const HWM_TARGET_KIB: u64 = 64 * 1024;
const PURPOSE: &str = "data_subject_request";
/// The subject's phone number, on every call.
const PHONE: &str = "040 555 3131";
/// Uploads in flight at once while setting up.
const UPLOADS_IN_FLIGHT: usize = 4;
/// One-by-one reads whose bytes are checked against the originals.
const SAMPLED_READS: usize = 50;
/// Settings. `KIRJURI_BENCH_…` is ignored by `kirjuri`'s configuration.
const CALLS_ENV: &str = "KIRJURI_BENCH_PACKAGE_CALLS";
const BYTES_ENV: &str = "KIRJURI_BENCH_PACKAGE_CALL_BYTES";
const QUICK_ENV: &str = "KIRJURI_BENCH_QUICK";

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("package bench failed: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("package bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

struct Sizes {
    calls: usize,
    call_bytes: usize,
}

impl Sizes {
    fn from_env() -> Result<Self> {
        let quick = std::env::var(QUICK_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
        let number = |name: &str, default: usize| -> Result<usize> {
            match std::env::var(name) {
                Ok(text) => text
                    .trim()
                    .parse()
                    .with_context(|| format!("{name}={text:?} is not a number")),
                Err(_) => Ok(default),
            }
        };
        let sizes = Self {
            calls: number(CALLS_ENV, if quick { 50 } else { 1000 })?,
            call_bytes: number(BYTES_ENV, 1_920_000)?,
        };
        ensure!(
            sizes.calls > 0 && sizes.call_bytes >= 4,
            "need at least one call of at least one frame"
        );
        Ok(sizes)
    }

    fn total(&self) -> u64 {
        (self.calls * self.call_bytes) as u64
    }
}

/// One uploaded call: its contact id, the WAV's length and SHA-256.
struct Uploaded {
    contact: String,
    bytes: u64,
    sha256: String,
}

async fn run() -> Result<()> {
    let sizes = Sizes::from_env()?;
    let tmp_root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    fs::create_dir_all(tmp_root)?;
    let dir = tempfile::Builder::new()
        .prefix("kirjuri-bench-package.")
        .tempdir_in(tmp_root)
        .context("creating the bench folder")?;
    println!("kirjuri access-package bench");
    println!("  binary:   {KIRJURI}");
    println!(
        "  sizes:    {} calls × {} audio bytes ≈ {:.0} MB ({CALLS_ENV}, {BYTES_ENV})",
        sizes.calls,
        sizes.call_bytes,
        sizes.total() as f64 / 1e6
    );
    println!("  machine:  {} cores, load average {}", cores(), loadavg());

    // --- setup: the subject's calls and a verified request ------------------
    let mut app = TestApp::spawn(KIRJURI, &[]).await;
    let rea = app.add_account("rea", "registrar");
    // No whole-request timeout: a big package takes as long as it takes.
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("an HTTP client")?;
    let started = Instant::now();
    let uploaded = upload_calls(&app, &sizes).await?;
    let upload_s = started.elapsed().as_secs_f64();
    let total: u64 = uploaded.iter().map(|u| u.bytes).sum();
    println!(
        "  uploaded {} recordings, {:.0} MB in {upload_s:.1} s ({:.1} MB/s)",
        uploaded.len(),
        total as f64 / 1e6,
        mb_per_s(total, upload_s)
    );
    let request = verified_request(&app, &client, &rea).await?;

    // --- (a) the access package -----------------------------------------------
    app.restart();
    let idle_hwm = app.memory().1 / 1024;
    let package_file = dir.path().join("package.zip");
    let sampler = RssSampler::start(app.pid());
    let started = Instant::now();
    let package_bytes = download(
        &client,
        &rea,
        &app.url(&format!(
            "/api/v1/requests/{request}/package?purpose={PURPOSE}"
        )),
        &mut BufWriter::with_capacity(1 << 20, File::create(&package_file)?),
    )
    .await?;
    let package_s = started.elapsed().as_secs_f64();
    let package_rss = sampler.stop();
    let package_hwm = app.memory().1 / 1024;

    // --- (b) the recordings one by one ------------------------------------------
    app.restart();
    let reads_file = dir.path().join("recordings.bin");
    let mut offsets = Vec::with_capacity(uploaded.len());
    let sampler = RssSampler::start(app.pid());
    let started = Instant::now();
    {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&reads_file)?);
        let mut at = 0u64;
        for call in &uploaded {
            let url = app.url(&format!(
                "/api/v1/contacts/{}/recording?purpose={PURPOSE}",
                call.contact
            ));
            let n = download(&client, &rea, &url, &mut out).await?;
            offsets.push((at, n));
            at += n;
        }
        out.flush()?;
    }
    let reads_s = started.elapsed().as_secs_f64();
    let reads_rss = sampler.stop();
    let reads_hwm = app.memory().1 / 1024;
    let reads_bytes: u64 = offsets.iter().map(|(_, n)| n).sum();
    ensure!(
        reads_bytes == total,
        "the recordings read one by one are {reads_bytes} bytes, uploaded {total}"
    );

    // --- checks (untimed) ---------------------------------------------------------
    let in_package = package_hashes(&package_file)?;
    let mut wavs = 0;
    for call in &uploaded {
        let prefix = format!("recordings/{}/", call.contact);
        let found: Vec<&String> = in_package
            .iter()
            .filter(|(path, _)| path.starts_with(&prefix) && path.ends_with(".wav"))
            .map(|(_, sha)| sha)
            .collect();
        ensure!(
            found.len() == 1 && found.first().is_some_and(|sha| **sha == call.sha256),
            "the package's WAV of contact {} is not the uploaded file ({} found)",
            call.contact,
            found.len()
        );
        wavs += 1;
    }
    let mut reads = File::open(&reads_file)?;
    let step = (uploaded.len() / SAMPLED_READS).max(1);
    let mut sampled = 0;
    for (call, (at, n)) in uploaded.iter().zip(&offsets).step_by(step) {
        let mut bytes = vec![0u8; usize::try_from(*n)?];
        reads.seek(SeekFrom::Start(*at))?;
        reads.read_exact(&mut bytes)?;
        ensure!(
            sha256_hex(&bytes) == call.sha256,
            "the recording of contact {} read through the API differs from the upload",
            call.contact
        );
        sampled += 1;
    }

    // --- the table ----------------------------------------------------------------
    let rows = [
        (
            format!("(a) access package, {} WAVs in one ZIP", uploaded.len()),
            package_bytes,
            package_s,
            package_hwm,
            package_rss,
        ),
        (
            format!("(b) {} recordings one by one", uploaded.len()),
            reads_bytes,
            reads_s,
            reads_hwm,
            reads_rss,
        ),
    ];
    println!();
    println!(
        "{:<44} {:>10} {:>9} {:>10} {:>13} {:>14}  result",
        "download", "MB", "seconds", "MB/s", "VmHWM MiB", "max VmRSS MiB"
    );
    println!("{}", "-".repeat(112));
    for (label, bytes, seconds, hwm, rss) in &rows {
        println!(
            "{label:<44} {:>10.1} {seconds:>9.2} {:>10.1} {:>13.1} {:>14.1}  {}",
            *bytes as f64 / 1e6,
            mb_per_s(*bytes, *seconds),
            *hwm as f64 / 1024.0,
            *rss as f64 / 1024.0,
            if *hwm <= HWM_TARGET_KIB {
                "PASS (≤ 64 MiB)"
            } else {
                "FAIL (> 64 MiB)"
            }
        );
    }
    println!();
    println!(
        "server VmHWM right after start-up: {:.1} MiB; each row on a freshly started server",
        idle_hwm as f64 / 1024.0
    );
    println!(
        "checked: all {wavs} WAVs in the package (zipfile, CRC and SHA-256) and {sampled} sampled one-by-one reads equal the uploads"
    );
    println!("load average at the end: {}", loadavg());
    println!();
    println!("reproduce:");
    println!(
        "  {CALLS_ENV}={} {BYTES_ENV}={} cargo bench -p kirjuri --bench package",
        sizes.calls, sizes.call_bytes
    );
    println!(
        "  (a) curl -H 'Authorization: Bearer TOKEN' -o package.zip 'http://HOST:PORT/api/v1/requests/ID/package?purpose={PURPOSE}'"
    );
    println!(
        "  (b) per contact: curl -H 'Authorization: Bearer TOKEN' -o FILE 'http://HOST:PORT/api/v1/contacts/ID/recording?purpose={PURPOSE}'   (the bench keeps one connection alive)"
    );
    println!("  peak RSS: grep VmHWM /proc/$(pgrep -n kirjuri)/status   (after each download)");
    println!(
        "  MB = 10^6 bytes; the sealed objects were just written, so mostly in the page cache."
    );
    drop(app);
    drop(dir);
    Ok(())
}

/// Uploads the subject's calls, a few at a time; answers them in order.
async fn upload_calls(app: &TestApp, sizes: &Sizes) -> Result<Vec<Uploaded>> {
    let uploads = futures::stream::iter(0..sizes.calls)
        .map(|n| async move {
            let mut contact = call("aino");
            contact["external_id"] = json!(format!("bench-package-{n}"));
            contact["customer"] = json!({"phone": PHONE});
            let id = app.new_contact(&contact).await;
            let wav = noise_wav(sizes.call_bytes, n as u64 + 1);
            let ack = app.store_recording(&id, &wav).await;
            let sha256 = sha256_hex(&wav);
            ensure!(
                ack["sha256"].as_str() == Some(sha256.as_str()),
                "the server acknowledged another SHA-256: {ack}"
            );
            Ok(Uploaded {
                contact: id,
                bytes: wav.len() as u64,
                sha256,
            })
        })
        .buffered(UPLOADS_IN_FLIGHT);
    uploads
        .collect::<Vec<Result<Uploaded>>>()
        .await
        .into_iter()
        .collect()
}

/// An access request for the subject's phone, registered and verified in
/// person by the registrar `token`; answers its id.
async fn verified_request(app: &TestApp, client: &reqwest::Client, token: &str) -> Result<String> {
    let post = |path: String, body: Value| {
        client
            .post(app.url(&path))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let created = post(
        "/api/v1/requests".into(),
        json!({
            "types": ["access"],
            "channel": "in_person",
            "language": "fi",
            "identifiers": {"phone": [PHONE]},
        }),
    )
    .await?;
    ensure!(
        created.status().is_success(),
        "registering the request: {}",
        created.text().await?
    );
    let created: Value = created.json().await?;
    let id = created["id"].as_str().context("no request id")?.to_owned();
    let verified = post(
        format!("/api/v1/requests/{id}/verification"),
        json!({"method": "in_person", "document_type": "passport", "document_last4": "B3N7"}),
    )
    .await?;
    ensure!(
        verified.status().is_success(),
        "verifying the request: {}",
        verified.text().await?
    );
    Ok(id)
}

/// GETs `url` as `token`, streaming the body into `out`; answers its length.
async fn download(
    client: &reqwest::Client,
    token: &str,
    url: &str,
    out: &mut impl Write,
) -> Result<u64> {
    let response = client.get(url).bearer_auth(token).send().await?;
    let status = response.status();
    ensure!(status.is_success(), "GET {url}: {status}");
    let mut body = response.bytes_stream();
    let mut n = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        out.write_all(&chunk)?;
        n += chunk.len() as u64;
    }
    out.flush()?;
    Ok(n)
}

/// Every entry of the ZIP with its SHA-256, read by Python's `zipfile`.
fn package_hashes(zip: &Path) -> Result<BTreeMap<String, String>> {
    let output = Command::new("python3")
        .arg("-c")
        .arg(
            "import hashlib, json, sys, zipfile\n\
             out = {}\n\
             with zipfile.ZipFile(sys.argv[1]) as z:\n\
             \x20   for i in z.infolist():\n\
             \x20       h = hashlib.sha256()\n\
             \x20       with z.open(i) as f:\n\
             \x20           for chunk in iter(lambda: f.read(1 << 20), b''):\n\
             \x20               h.update(chunk)\n\
             \x20       out[i.filename] = h.hexdigest()\n\
             print(json.dumps(out))",
        )
        .arg(zip)
        .output()
        .context("running python3")?;
    ensure!(
        output.status.success(),
        "python3 zipfile could not read the package: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// Polls `VmRSS` every 10 ms (a cross-check of `VmHWM`); answers the
/// highest, in KiB.
struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                if let Some(kib) = vm_rss_kib(pid) {
                    peak = peak.max(kib);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        });
        Self { stop, handle }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or(0)
    }
}

fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
}

fn mb_per_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / 1e6 / seconds
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
