//! Issue 2's end-to-end benchmark (docs/requirements.md "Performance targets"), run against the
//! real `kirjuri` binary over loopback HTTP, in one run:
//!
//! - (a) ingest throughput: `PUT /api/v1/contacts/{id}/recording` of a 1 GiB
//!   WAV streamed from disk by `curl -T`, timed from request start to the 201
//!   (which the server sends only after fsync), against `cp SRC DST && sync
//!   DST` (fsync of the copy, the same durability) of the same file on the
//!   same filesystem. Three rounds, alternating which goes first; the copies
//!   are removed between rounds; medians and their ratio (target ≥ 0.9),
//!   and the disk's busy time during each (`/proc/diskstats`' `io_ticks`):
//!   a writer that leaves the disk idle between writes shows there.
//! - (b) the server's peak RSS (`VmHWM` of its `/proc/<pid>/status`) over a
//!   4 GiB upload, on a freshly started server (target ≤ 64 MiB).
//! - (c) Range time-to-first-body-byte for random 64 KiB seeks into the
//!   1 GiB recording, measured at the client on one keep-alive connection:
//!   once with the sealed objects read into the page cache first (the writer
//!   may bypass it) and once with them evicted before every request;
//!   p50/p95/p99/max (target < 5 ms).
//!   Every returned range is compared with the source file.
//!
//! Both (a) sides read a source file that is already in the page cache, so
//! the comparison is disk-write plus CPU against disk-write. Everything lives
//! in one folder under `CARGO_TARGET_TMPDIR` (the same disk as `target/`, not
//! tmpfs), removed at the end whatever happens; `scripts/bench` also removes
//! leftovers if the process is killed. `KIRJURI_BENCH_QUICK=1` shrinks the
//! files to 64 MiB / 256 MiB for a smoke run. Not a test: a missed target is
//! reported as FAIL in the table, and only errors make the exit status
//! non-zero.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use kirjuri_core::wav::{Encoding, synth};
use kirjuri_testkit::server::{self as testkit, Kirjuri, Logs};

const KIRJURI: &str = env!("CARGO_BIN_EXE_kirjuri");
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// Ingest / cp rounds, alternating which goes first.
const ROUNDS: usize = 3;
/// Random Range requests per cache condition.
const SEEKS: usize = 200;
/// Bytes per Range request (`bytes=X-(X+65535)`).
const SEEK_LEN: u64 = 64 * 1024;
/// Targets from docs/requirements.md "Performance targets".
const INGEST_RATIO_TARGET: f64 = 0.9;
const HWM_TARGET_KIB: u64 = 64 * 1024;
const TTFB_TARGET_MS: f64 = 5.0;
const PURPOSE: &str = "quality_assurance";
/// Shrinks the sizes. Kept from the `kirjuri` processes: it shares the
/// `KIRJURI_` prefix of their configuration, which refuses unknown keys.
const QUICK_ENV: &str = "KIRJURI_BENCH_QUICK";
/// The contact every upload goes to (with `-N` appended to the external id).
const CONTACT_JSON: &str = r#"{"external_id":"bench-NUM","channel":"call_in","started_at":"2026-11-29T09:15:02+02:00","agent":"aino"}"#;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ingest bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

struct Sizes {
    ingest: u64,
    big: u64,
    quick: bool,
}

impl Sizes {
    fn from_env() -> Self {
        let quick = std::env::var(QUICK_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
        if quick {
            Self {
                ingest: 64 * MIB,
                big: 256 * MIB,
                quick,
            }
        } else {
            Self {
                ingest: GIB,
                big: 4 * GIB,
                quick,
            }
        }
    }
}

/// One row of the result table.
struct Row {
    metric: String,
    value: String,
    target: String,
    verdict: &'static str,
}

impl Row {
    fn new(metric: &str, value: String, target: &str, pass: Option<bool>) -> Self {
        Self {
            metric: metric.to_owned(),
            value,
            target: target.to_owned(),
            verdict: match pass {
                Some(true) => "PASS",
                Some(false) => "FAIL",
                None => "info",
            },
        }
    }
}

fn run() -> Result<()> {
    let sizes = Sizes::from_env();
    let tmp_root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    fs::create_dir_all(tmp_root).with_context(|| format!("creating {}", tmp_root.display()))?;
    // Dropped last: removes every file (the 4 GiB ones included) on success,
    // error or panic. The servers below are dropped (killed) before it.
    let dir = tempfile::Builder::new()
        .prefix("kirjuri-bench-ingest.")
        .tempdir_in(tmp_root)
        .context("creating the bench folder")?;
    let root = dir.path().to_path_buf();
    let data = root.join("data");
    let files = root.join("files");
    fs::create_dir_all(&files)?;

    print_conditions(&root, &sizes)?;
    // Peak disk use: the sealed 1 GiB objects stay while the 4 GiB source and
    // its sealed copy exist (the 1 GiB source is deleted before).
    let need = (ROUNDS as u64 + 1) * sizes.ingest + 2 * sizes.big + sizes.big / 8 + GIB;
    let free = free_bytes(&root)?;
    ensure!(
        free >= need,
        "not enough disk space under {}: {} free, {} needed",
        root.display(),
        human(free),
        human(need)
    );

    // --- accounts and tokens (the CLI, as an operator would) -------------
    // (KIRJURI_BENCH_QUICK passes through: `kirjuri` ignores KIRJURI_BENCH…)
    let kirjuri = Kirjuri::new(KIRJURI).data(&data);
    kirjuri.try_run_ok(
        &[
            "user",
            "add",
            "pbx",
            "--role",
            "integration",
            "--password-stdin",
        ],
        Some("bench-pbx-password-1234567"),
    )?;
    kirjuri.try_run_ok(
        &[
            "user",
            "add",
            "sanna",
            "--role",
            "supervisor",
            "--password-stdin",
        ],
        Some("bench-sanna-password-1234567"),
    )?;
    let pbx = kirjuri
        .try_run_ok(&["token", "create", "--user", "pbx"], None)?
        .trim()
        .to_owned();
    let sanna = kirjuri
        .try_run_ok(&["token", "create", "--user", "sanna"], None)?
        .trim()
        .to_owned();
    let pbx_header = root.join("pbx.header");
    fs::write(&pbx_header, format!("Authorization: Bearer {pbx}\n"))?;

    let mut rows = Vec::new();
    let mut commands = Vec::new();

    // --- (a) ingest vs cp + sync --------------------------------------------
    let source = files.join("call-1gib.wav");
    println!(
        "writing {} of WAV to {} …",
        human(sizes.ingest),
        source.display()
    );
    let source_sha = write_wav(&source, sizes.ingest)?;
    let server = Server::start(&kirjuri, &root)?;
    let contacts: Vec<String> = (1..=ROUNDS + 1)
        .map(|n| create_contact(server.addr, &pbx, n))
        .collect::<Result<_>>()?;
    let big_contact = contacts
        .get(ROUNDS)
        .cloned()
        .context("no contact for the 4 GiB upload")?;

    let copy = files.join("copy.wav");
    let mut ingest_mbs = Vec::new();
    let mut cp_mbs = Vec::new();
    let mut ingest_cpu = Vec::new();
    let mut ingest_busy = Vec::new();
    // The disk's own busy time beside each wall time: the figure that showed
    // the writer leaving the disk idle between writes (issue 16 §1).
    let disk = disk_name(&files);
    let mut ingest_disk = Vec::new();
    let mut cp_disk = Vec::new();
    for round in 0..ROUNDS {
        let contact = contacts.get(round).context("missing contact")?;
        let ingest_first = round % 2 == 0;
        for step in 0..2 {
            sync_all()?;
            if (step == 0) == ingest_first {
                let before = disk.as_deref().and_then(disk_busy_ms);
                let up = upload(&server, &pbx_header, contact, &source, &source_sha)?;
                let busy = busy_seconds(disk.as_deref(), before);
                println!(
                    "  round {}: ingest {:>8.1} MB/s  ({:.2} s, server CPU {:.2} s, machine busy {:.0} % of {} cores)",
                    round + 1,
                    up.mb_per_s,
                    up.seconds,
                    up.server_cpu_s,
                    up.machine_busy * 100.0,
                    cores()
                );
                ingest_mbs.push(up.mb_per_s);
                ingest_cpu.push(up.server_cpu_s);
                ingest_busy.push(up.machine_busy);
                ingest_disk.extend(busy);
            } else {
                let before = disk.as_deref().and_then(disk_busy_ms);
                let seconds = cp_sync(&source, &copy)?;
                cp_disk.extend(busy_seconds(disk.as_deref(), before));
                let mbs = mb_per_s(sizes.ingest, seconds);
                println!(
                    "  round {}: cp+sync {:>8.1} MB/s  ({seconds:.2} s)",
                    round + 1,
                    mbs
                );
                cp_mbs.push(mbs);
                fs::remove_file(&copy).context("removing the copy")?;
            }
        }
    }
    let ingest_median = median(&ingest_mbs);
    let cp_median = median(&cp_mbs);
    let ratio = ingest_median / cp_median;
    let pairs: Vec<String> = ingest_mbs
        .iter()
        .zip(&cp_mbs)
        .map(|(i, c)| format!("{:.2}", i / c))
        .collect();
    let spread = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(0.0, f64::max);
        format!("{lo:.0}–{hi:.0} MB/s")
    };
    let size_label = human(sizes.ingest);
    rows.push(Row::new(
        &format!("ingest {size_label} over HTTP (median of {ROUNDS})"),
        format!("{ingest_median:.1} MB/s"),
        "",
        None,
    ));
    rows.push(Row::new(
        &format!("cp + sync {size_label} (median of {ROUNDS})"),
        format!("{cp_median:.1} MB/s"),
        "",
        None,
    ));
    rows.push(Row::new(
        "ingest / cp+sync (ratio of the medians)",
        format!("{ratio:.3}"),
        "≥ 0.90",
        Some(ratio >= INGEST_RATIO_TARGET),
    ));
    rows.push(Row::new(
        "  ingest range, cp + sync range",
        format!("{}, {}", spread(&ingest_mbs), spread(&cp_mbs)),
        "",
        None,
    ));
    rows.push(Row::new("  per-round ratios", pairs.join(" "), "", None));
    rows.push(Row::new(
        "server CPU per ingest (median)",
        format!(
            "{:.2} s ({:.2} s/GiB)",
            median(&ingest_cpu),
            median(&ingest_cpu) * GIB as f64 / sizes.ingest as f64
        ),
        "",
        None,
    ));
    rows.push(Row::new(
        "disk busy during ingest / during cp + sync (medians)",
        match (&disk, ingest_disk.is_empty() || cp_disk.is_empty()) {
            (Some(name), false) => format!(
                "{:.2} s / {:.2} s ({name})",
                median(&ingest_disk),
                median(&cp_disk)
            ),
            _ => "not measured (no block device found)".to_owned(),
        },
        "",
        None,
    ));
    rows.push(Row::new(
        "machine CPU busy during ingest (median)",
        format!("{:.0} % of {} cores", median(&ingest_busy) * 100.0, cores()),
        "",
        None,
    ));
    commands.push(
        "ingest: curl -sS -X PUT -T FILE -H 'Expect:' -H 'Content-Type: audio/wav' -H 'Authorization: Bearer TOKEN' -o /dev/null -w '%{http_code}' http://HOST:PORT/api/v1/contacts/ID/recording   (timed from start to the 201)"
            .to_owned(),
    );
    commands.push("cp+sync: cp FILE COPY && sync COPY   (after an untimed global `sync`; COPY removed after each round)".to_owned());

    // --- (c) Range time to first byte ----------------------------------------
    let first = contacts.first().context("missing contact")?;
    // The object writer may bypass the page cache (O_DIRECT), so "warm" is
    // made explicit: every sealed object is read through once first.
    let objects = sealed_objects(&data)?;
    for object in &objects {
        std::io::copy(&mut File::open(object)?, &mut std::io::sink())?;
    }
    let warm = range_ttfb(&server, &sanna, first, &source, sizes.ingest, None)?;
    let cold = range_ttfb(
        &server,
        &sanna,
        first,
        &source,
        sizes.ingest,
        Some(&objects),
    )?;
    for (label, ms) in [
        ("object read into page cache", &warm),
        ("object evicted before each", &cold),
    ] {
        let mut sorted = ms.clone();
        sorted.sort_by(f64::total_cmp);
        let mut slowest: Vec<(usize, f64)> = ms.iter().copied().enumerate().collect();
        slowest.sort_by(|a, b| b.1.total_cmp(&a.1));
        let slowest: Vec<String> = slowest
            .iter()
            .take(5)
            .map(|(i, t)| format!("#{} {t:.2} ms", i + 1))
            .collect();
        println!(
            "  Range TTFB, {label}: first request {:.2} ms; slowest {}",
            ms.first().copied().unwrap_or(f64::NAN),
            slowest.join(", ")
        );
        for (name, q) in [("p50", 0.50), ("p95", 0.95), ("p99", 0.99), ("max", 1.0)] {
            let v = quantile(&sorted, q);
            rows.push(Row::new(
                &format!("Range TTFB {name}, {label} ({SEEKS} seeks)"),
                format!("{v:.2} ms"),
                "< 5 ms",
                Some(v < TTFB_TARGET_MS),
            ));
        }
    }
    commands.push(format!(
        "range: curl -sS -o /dev/null -H 'Authorization: Bearer TOKEN' -H 'Range: bytes=X-(X+65535)' -w '%{{time_starttransfer}}' 'http://HOST:PORT/api/v1/contacts/ID/recording?purpose={PURPOSE}'   (the bench reuses one keep-alive connection; cold = `dd if=OBJECT iflag=nocache count=0` before each request)"
    ));
    let hwm_after_small = server.status_kib("VmHWM")?;
    rows.push(Row::new(
        &format!(
            "server VmHWM after {ROUNDS} × {size_label} + {} seeks",
            2 * SEEKS
        ),
        format!("{:.1} MiB", hwm_after_small as f64 / 1024.0),
        "≤ 64 MiB",
        Some(hwm_after_small <= HWM_TARGET_KIB),
    ));
    server.stop()?;
    fs::remove_file(&source).context("removing the 1 GiB source")?;

    // --- (b) peak RSS over a 4 GiB upload, fresh server ----------------------
    let big = files.join("call-4gib.wav");
    println!("writing {} of WAV to {} …", human(sizes.big), big.display());
    let big_sha = write_wav(&big, sizes.big)?;
    let server = Server::start(&kirjuri, &root)?;
    let hwm_idle = server.status_kib("VmHWM")?;
    sync_all()?;
    let sampler = RssSampler::start(server.pid);
    let up = upload(&server, &pbx_header, &big_contact, &big, &big_sha)?;
    let rss_samples = sampler.stop();
    let hwm = server.status_kib("VmHWM")?;
    println!(
        "  {} upload: {:.1} MB/s, VmHWM {:.1} MiB (after start-up {:.1} MiB), highest sampled VmRSS {:.1} MiB",
        human(sizes.big),
        up.mb_per_s,
        hwm as f64 / 1024.0,
        hwm_idle as f64 / 1024.0,
        rss_samples as f64 / 1024.0
    );
    rows.push(Row::new(
        &format!(
            "server VmHWM, fresh server + one {} upload",
            human(sizes.big)
        ),
        format!("{:.1} MiB", hwm as f64 / 1024.0),
        "≤ 64 MiB",
        Some(hwm <= HWM_TARGET_KIB),
    ));
    rows.push(Row::new(
        "server VmHWM right after start-up",
        format!("{:.1} MiB", hwm_idle as f64 / 1024.0),
        "",
        None,
    ));
    rows.push(Row::new(
        &format!("ingest {} over HTTP (one run)", human(sizes.big)),
        format!("{:.1} MB/s", up.mb_per_s),
        "",
        None,
    ));
    commands.push(
        "peak RSS: grep VmHWM /proc/$(pgrep -n kirjuri)/status   (after the upload's 201)"
            .to_owned(),
    );
    server.stop()?;
    fs::remove_file(&big).context("removing the 4 GiB source")?;

    print_table(&rows, &commands, &sizes);
    println!("load average at the end: {}", loadavg());
    drop(dir);
    Ok(())
}

// --- the server and the command line ------------------------------------------

/// A running `kirjuri serve` (`kirjuri_testkit`'s, killed on drop if not
/// stopped) and the pid file `scripts/bench` kills it by if this bench is
/// itself killed.
struct Server {
    server: testkit::Server,
    addr: SocketAddr,
    pid: u32,
    pid_file: PathBuf,
}

impl Server {
    fn start(kirjuri: &Kirjuri, root: &Path) -> Result<Self> {
        let server =
            testkit::Server::try_start(kirjuri, "kirjuri serve", &[] as &[&str], Logs::default())?;
        let pid = server.pid();
        // scripts/bench kills this pid if the bench itself is killed.
        let pid_file = root.join(format!("server.{pid}.pid"));
        fs::write(&pid_file, format!("{pid}\n"))?;
        let addr = server
            .address()
            .strip_prefix("http://")
            .and_then(|addr| addr.parse().ok())
            .with_context(|| format!("bad address {:?}", server.address()))?;
        Ok(Self {
            server,
            addr,
            pid,
            pid_file,
        })
    }

    /// A `kB` field of `/proc/<pid>/status`, e.g. `VmHWM`.
    fn status_kib(&self, field: &str) -> Result<u64> {
        proc_status_kib(self.pid, field)
    }

    /// CPU seconds (user + system) the server has used so far.
    fn cpu_seconds(&self) -> Result<f64> {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        let after = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .context("odd /proc stat")?;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| -> Result<f64> {
            Ok(fields.get(i).context("short /proc stat")?.parse::<f64>()?)
        };
        // Fields 14 and 15 (utime, stime); `after` starts at field 3.
        Ok((ticks(11)? + ticks(12)?) / clock_ticks())
    }

    /// SIGTERM, then wait (up to 30 s) for the graceful exit.
    fn stop(mut self) -> Result<()> {
        self.server.try_stop(Duration::from_secs(30))?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The server itself is killed as `self.server` drops, after this.
        let _ = fs::remove_file(&self.pid_file);
    }
}

fn create_contact(addr: SocketAddr, token: &str, n: usize) -> Result<String> {
    let body = CONTACT_JSON.replace("NUM", &n.to_string());
    let (status, response) = http_once(
        addr,
        &format!(
            "POST /api/v1/contacts HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )?;
    ensure!(
        status == 201,
        "creating a contact: HTTP {status}: {}",
        String::from_utf8_lossy(&response)
    );
    let json: serde_json::Value = serde_json::from_slice(&response)?;
    Ok(json
        .get("id")
        .and_then(serde_json::Value::as_str)
        .context("no id in the contact answer")?
        .to_owned())
}

// --- (a) ingest and cp ---------------------------------------------------------

struct Upload {
    seconds: f64,
    mb_per_s: f64,
    server_cpu_s: f64,
    machine_busy: f64,
}

/// Streams `file` with curl and checks the 201 and its sha256.
fn upload(
    server: &Server,
    auth_header: &Path,
    contact: &str,
    file: &Path,
    sha256: &str,
) -> Result<Upload> {
    let len = fs::metadata(file)?.len();
    let url = format!("http://{}/api/v1/contacts/{contact}/recording", server.addr);
    let answer = file.with_extension("answer.json");
    let cpu_before = server.cpu_seconds()?;
    let machine_before = machine_jiffies()?;
    let start = Instant::now();
    let out = Command::new("curl")
        .args(["-sS", "-X", "PUT", "-T"])
        .arg(file)
        .args(["-H", "Expect:", "-H", "Content-Type: audio/wav", "-H"])
        .arg(format!("@{}", auth_header.display()))
        .arg("-o")
        .arg(&answer)
        .args(["-w", "%{http_code}"])
        .arg(&url)
        .output()
        .context("running curl")?;
    let seconds = start.elapsed().as_secs_f64();
    let machine_after = machine_jiffies()?;
    let cpu_after = server.cpu_seconds()?;
    let code = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let body = fs::read_to_string(&answer).unwrap_or_default();
    let _ = fs::remove_file(&answer);
    ensure!(
        out.status.success() && code == "201",
        "upload answered {code:?} (curl: {}): {body}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let ack: serde_json::Value = serde_json::from_str(&body)?;
    ensure!(
        ack.get("sha256").and_then(serde_json::Value::as_str) == Some(sha256),
        "the acknowledged sha256 differs from the file's: {body}"
    );
    let busy = (machine_after.0 - machine_before.0) as f64;
    let total = (machine_after.1 - machine_before.1) as f64;
    Ok(Upload {
        seconds,
        mb_per_s: mb_per_s(len, seconds),
        server_cpu_s: cpu_after - cpu_before,
        machine_busy: if total > 0.0 { busy / total } else { 0.0 },
    })
}

/// `cp SRC DST && sync DST`, timed together.
fn cp_sync(source: &Path, copy: &Path) -> Result<f64> {
    let start = Instant::now();
    let cp = Command::new("cp").arg(source).arg(copy).status()?;
    ensure!(cp.success(), "cp failed");
    let sync = Command::new("sync").arg(copy).status()?;
    ensure!(sync.success(), "sync failed");
    Ok(start.elapsed().as_secs_f64())
}

/// An untimed global `sync`, so no run pays for the previous one's dirty pages.
fn sync_all() -> Result<()> {
    ensure!(Command::new("sync").status()?.success(), "sync failed");
    Ok(())
}

/// Writes a PCM16 stereo 8 kHz WAV of exactly `total` bytes (data rounded down
/// to whole frames) with pseudo-random (noise, never silent) samples, fsyncs
/// it, and returns its sha256.
fn write_wav(path: &Path, total: u64) -> Result<String> {
    let probe = synth::header(Encoding::PcmS16, 2, 8_000, 0, false);
    let align = u64::from(synth::block_align(Encoding::PcmS16, 2));
    let data_len = (total - probe.len() as u64) / align * align;
    let header = synth::header(Encoding::PcmS16, 2, 8_000, data_len, false);
    let mut file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut sha = sha2check::digest::Context::new(&sha2check::digest::SHA256);
    file.write_all(&header)?;
    sha.update(&header);
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
    let mut buf = vec![0u8; 8 << 20];
    let mut left = data_len;
    while left > 0 {
        let n = usize::try_from(left.min(buf.len() as u64))?;
        let piece = buf.get_mut(..n).context("buffer")?;
        for word in piece.chunks_mut(8) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let bytes = rng.to_le_bytes();
            word.copy_from_slice(bytes.get(..word.len()).context("word")?);
        }
        file.write_all(piece)?;
        sha.update(piece);
        left -= n as u64;
    }
    file.sync_all()?;
    Ok(hex(sha.finish().as_ref()))
}

// --- (c) Range time to first byte ----------------------------------------------

/// `SEEKS` random 64 KiB Range GETs on one keep-alive connection; returns the
/// time from sending each request to its first body byte, in ms. With
/// `evict`, those files are dropped from the page cache before each request.
fn range_ttfb(
    server: &Server,
    token: &str,
    contact: &str,
    source: &Path,
    len: u64,
    evict: Option<&[PathBuf]>,
) -> Result<Vec<f64>> {
    let source = File::open(source)?;
    let mut conn = TcpStream::connect(server.addr)?;
    conn.set_nodelay(true)?;
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut rng = 0x2545_F491_4F6C_DD1D_u64;
    let mut times = Vec::with_capacity(SEEKS);
    let mut expected = vec![0u8; SEEK_LEN as usize];
    let mut buf = vec![0u8; 256 * 1024];
    for _ in 0..SEEKS {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let start = rng % (len - SEEK_LEN + 1);
        let end = start + SEEK_LEN - 1;
        if let Some(files) = evict {
            for file in files {
                let status = Command::new("dd")
                    .arg(format!("if={}", file.display()))
                    .args(["iflag=nocache", "count=0", "status=none"])
                    .status()?;
                ensure!(
                    status.success(),
                    "dd could not drop {} from the cache",
                    file.display()
                );
            }
        }
        let request = format!(
            "GET /api/v1/contacts/{contact}/recording?purpose={PURPOSE} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nRange: bytes={start}-{end}\r\n\r\n",
            server.addr
        );
        let sent = Instant::now();
        conn.write_all(request.as_bytes())?;
        // Read until the header block is complete and a body byte has arrived.
        let mut have = 0usize;
        let (head_len, ttfb) = loop {
            let n = conn.read(buf.get_mut(have..).context("response header too large")?)?;
            ensure!(n > 0, "the server closed the connection");
            have += n;
            if let Some(pos) = find(buf.get(..have).unwrap_or_default(), b"\r\n\r\n")
                && have > pos + 4
            {
                break (pos + 4, sent.elapsed());
            }
        };
        let head = String::from_utf8_lossy(buf.get(..head_len).unwrap_or_default()).into_owned();
        ensure!(
            head.starts_with("HTTP/1.1 206"),
            "Range GET answered: {head}"
        );
        let body_len = content_length(&head)?;
        ensure!(
            body_len == SEEK_LEN,
            "Range GET sent {body_len} bytes, wanted {SEEK_LEN}"
        );
        let mut body = buf.get(head_len..have).unwrap_or_default().to_vec();
        while (body.len() as u64) < body_len {
            let n = conn.read(&mut buf)?;
            ensure!(n > 0, "the server closed the connection mid-body");
            body.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
        ensure!(
            body.len() as u64 == body_len,
            "more body bytes than Content-Length"
        );
        source.read_exact_at(&mut expected, start)?;
        ensure!(
            body == expected,
            "bytes {start}-{end} differ from the uploaded file"
        );
        times.push(ttfb.as_secs_f64() * 1e3);
    }
    Ok(times)
}

/// Every sealed object file under the data folder.
fn sealed_objects(data: &Path) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "kjr") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(data, &mut out)?;
    ensure!(
        !out.is_empty(),
        "no sealed objects (*.kjr) found under {}",
        data.display()
    );
    Ok(out)
}

// --- (b) RSS sampling ----------------------------------------------------------

/// Polls `VmRSS` every 10 ms while an upload runs (a cross-check of VmHWM).
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
                if let Ok(kib) = proc_status_kib(pid, "VmRSS") {
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

fn proc_status_kib(pid: u32, field: &str) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    let value = line
        .split_whitespace()
        .nth(1)
        .with_context(|| format!("odd line {line:?}"))?;
    Ok(value.parse()?)
}

// --- small helpers -------------------------------------------------------------

/// One request on a fresh connection (`Connection: close`); status and body.
fn http_once(addr: SocketAddr, request: &str) -> Result<(u16, Vec<u8>)> {
    let mut conn = TcpStream::connect(addr)?;
    conn.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    conn.read_to_end(&mut response)?;
    let pos = find(&response, b"\r\n\r\n").context("no header end in the response")?;
    let head = String::from_utf8_lossy(response.get(..pos).unwrap_or_default()).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .context("no status")?
        .parse()?;
    let mut body = response.get(pos + 4..).unwrap_or_default().to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body)?;
    }
    Ok((status, body))
}

fn dechunk(mut bytes: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = find(bytes, b"\r\n").context("bad chunk")?;
        let size_text = std::str::from_utf8(bytes.get(..line_end).unwrap_or_default())?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)?;
        if size == 0 {
            return Ok(out);
        }
        let start = line_end + 2;
        out.extend_from_slice(bytes.get(start..start + size).context("short chunk")?);
        bytes = bytes.get(start + size + 2..).context("short chunk")?;
    }
}

fn content_length(head: &str) -> Result<u64> {
    let line = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("content-length:"))
        .context("no Content-Length")?;
    Ok(line
        .split_once(':')
        .map(|(_, v)| v.trim())
        .unwrap_or("")
        .parse()?)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn mb_per_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / 1e6 / seconds
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    quantile(&sorted, 0.5)
}

/// Nearest-rank quantile of sorted values (q = 1.0 is the maximum).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len()) - 1)
        .copied()
        .unwrap_or(f64::NAN)
}

fn human(bytes: u64) -> String {
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else if bytes >= GIB {
        format!("{:.1} GiB", bytes as f64 / GIB as f64)
    } else {
        format!("{} MiB", bytes / MIB)
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// (busy, total) jiffies over all CPUs from `/proc/stat`.
fn machine_jiffies() -> Result<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()?;
    let total: u64 = values.iter().take(8).sum();
    // idle and iowait are not busy.
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Ok((total - idle, total))
}

/// The block device holding `dir` as `/proc/diskstats` names it: `df -P`'s
/// first column without `/dev/`. `None` when it is not a device (tmpfs, an
/// overlay).
fn disk_name(dir: &Path) -> Option<String> {
    let out = Command::new("df").arg("-P").arg(dir).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let device = text.lines().nth(1)?.split_whitespace().next()?;
    let name = device.strip_prefix("/dev/")?;
    disk_busy_ms(name).map(|_| name.to_owned())
}

/// Milliseconds the device has had I/O in flight since boot: the 13th field
/// (`io_ticks`) of its line in `/proc/diskstats`.
fn disk_busy_ms(name: &str) -> Option<u64> {
    let stats = fs::read_to_string("/proc/diskstats").ok()?;
    stats.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(2) == Some(&name) {
            fields.get(12)?.parse().ok()
        } else {
            None
        }
    })
}

/// Seconds the device was busy since `before` (from [`disk_busy_ms`]).
fn busy_seconds(name: Option<&str>, before: Option<u64>) -> Option<f64> {
    let after = disk_busy_ms(name?)?;
    Some(after.saturating_sub(before?) as f64 / 1000.0)
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Free bytes on the filesystem holding `dir` (POSIX `df -Pk`).
fn free_bytes(dir: &Path) -> Result<u64> {
    let out = Command::new("df").arg("-Pk").arg(dir).output()?;
    let text = String::from_utf8(out.stdout)?;
    let kib: u64 = text
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .context("odd df output")?
        .parse()?;
    Ok(kib * 1024)
}

fn print_conditions(root: &Path, sizes: &Sizes) -> Result<()> {
    let mem = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "?".into());
    let fs_type = Command::new("df")
        .args(["-PT"])
        .arg(root)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|t| {
            t.lines()
                .nth(1)
                .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "?".into());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!(
        "kirjuri ingest bench{}",
        if sizes.quick {
            " (QUICK: smoke sizes)"
        } else {
            ""
        }
    );
    println!("  binary:   {KIRJURI}");
    println!("  folder:   {} ({fs_type})", root.display());
    println!(
        "  machine:  {} cores, MemTotal {mem}, Linux {}, load average {}",
        cores(),
        kernel.trim(),
        loadavg()
    );
    println!(
        "  sizes:    ingest {} × {ROUNDS} rounds, RSS upload {}, {SEEKS} seeks × {} KiB per cache condition",
        human(sizes.ingest),
        human(sizes.big),
        SEEK_LEN / 1024
    );
    Ok(())
}

fn print_table(rows: &[Row], commands: &[String], sizes: &Sizes) {
    let w0 = rows
        .iter()
        .map(|r| r.metric.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let w1 = rows
        .iter()
        .map(|r| r.value.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let w2 = rows
        .iter()
        .map(|r| r.target.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    println!();
    println!(
        "{:<w0$}  {:>w1$}  {:<w2$}  result",
        "metric", "value", "target"
    );
    println!("{}", "-".repeat(w0 + w1 + w2 + 14));
    for row in rows {
        println!(
            "{:<w0$}  {:>w1$}  {:<w2$}  {}",
            row.metric, row.value, row.target, row.verdict
        );
    }
    let failed = rows.iter().filter(|r| r.verdict == "FAIL").count();
    println!();
    println!(
        "{}",
        if failed == 0 {
            "all targets met".to_owned()
        } else {
            format!("{failed} target row(s) missed")
        }
    );
    println!();
    println!("reproduce:");
    println!(
        "  {}cargo bench -p kirjuri --bench ingest        (or scripts/bench for every benchmark)",
        if sizes.quick {
            "KIRJURI_BENCH_QUICK=1 "
        } else {
            ""
        }
    );
    for command in commands {
        println!("  {command}");
    }
    println!(
        "  MB = 10^6 bytes. Sources are in the page cache for both ingest and cp; both end fsynced."
    );
}
