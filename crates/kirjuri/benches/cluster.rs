//! Issue 6's scale-out intake benchmark, in one run on this machine:
//! integrations delivering 1-minute call recordings (8 kHz 16-bit stereo
//! WAV, ≈ 1.9 MB, made with `kirjuri_core::wav::synth`) over loopback HTTP —
//! `POST /api/v1/contacts` then `PUT …/recording`, as a PBX does — to
//!
//! 1. the embedded default: one `kirjuri serve`, SQLite and the local
//!    object folder in its data folder;
//! 2. one node on PostgreSQL + Garage;
//! 3. two nodes on the same PostgreSQL + Garage, the clients split evenly
//!    between them (what a load balancer would do).
//!
//! Each setup runs once per client count in `KIRJURI_BENCH_CLUSTER_CLIENTS`
//! (a comma-separated list, default `1,4,8,16`; the two-node setup only at
//! the largest), each time with a fresh database (or data folder) and
//! bucket prefix, a short untimed warm-up (one upload per client), then
//! `KIRJURI_BENCH_CLUSTER_RECORDINGS` (default 300) timed uploads.
//! `KIRJURI_BENCH_CLUSTER_SETUPS=embedded` runs the embedded default alone
//! (no PostgreSQL or Garage needed).
//!
//! The natural baseline, measured in the same run, before and after the
//! embedded runs (issue 16): 8 threads writing the same WAV bytes as
//! plaintext files in a folder on the same disk, each file fsynced — no
//! sealing, no database, no audit, no HTTP. Each setup's rate is reported
//! as a ratio to the mean of the two (target ≥ 0.5 for the embedded default
//! at 8 clients), with the node's peak RSS (`VmHWM`). Every
//! acknowledgement's `sha256` is checked against the WAV sent. Reported per
//! setup: recordings/s, MB/s of WAV, p50/p99 latency of one delivery
//! (contact + recording, as the client sees it), and the CPU seconds each
//! party burnt meanwhile (this client, the kirjuri node(s), PostgreSQL,
//! Garage) with the whole machine's busy share — on a 2-core machine they
//! all share the same two cores, and that, not any one of them, is what the
//! numbers measure. The nodes run with `MALLOC_ARENA_MAX=2`, as the shipped
//! systemd unit runs `kirjuri`, unless the caller sets another value
//! (`kirjuri_testkit::server::malloc_arenas`).
//!
//! The servers are real and durable: the built `kirjuri` binary, a
//! PostgreSQL cluster of our own (`scripts/pg start --dir …`, without
//! `--fast`: fsync on, as a default installation) and a single-node Garage
//! (`scripts/garage start … --fsync`, so it fsyncs like the local folder,
//! which always does), all started through `kirjuri-testkit`. All live in
//! one folder under `CARGO_TARGET_TMPDIR`, stopped and removed at the end
//! whatever happens. A node's log is captured in memory and shown if it
//! fails to start.
//!
//! Run: `cargo bench -p kirjuri --bench cluster`. Not a test: no target is
//! asserted; errors alone make the exit status non-zero.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use kirjuri_core::wav::{Encoding, synth};
use kirjuri_testkit::app::{load_average, process_times, process_tree_ticks};
use kirjuri_testkit::garage::{Garage, OwnGarage};
use kirjuri_testkit::postgres::OwnPostgres;
use kirjuri_testkit::server::{Kirjuri, Logs, MALLOC_ARENAS, Server, malloc_arenas};

const KIRJURI: &str = env!("CARGO_BIN_EXE_kirjuri");
const RECORDINGS_ENV: &str = "KIRJURI_BENCH_CLUSTER_RECORDINGS";
const CLIENTS_ENV: &str = "KIRJURI_BENCH_CLUSTER_CLIENTS";
/// One minute of call audio.
const SECONDS: u32 = 60;
/// `/proc` reports CPU time in USER_HZ, 100 on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cluster bench failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cluster bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn env_number(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value
            .parse()
            .with_context(|| format!("{name} must be a whole number")),
        _ => Ok(default),
    }
}

/// The client counts to run each setup with.
fn client_counts() -> Result<Vec<usize>> {
    let list = std::env::var(CLIENTS_ENV).unwrap_or_default();
    if list.trim().is_empty() {
        return Ok(vec![1, 4, 8, 16]);
    }
    list.split(',')
        .map(|n| {
            n.trim()
                .parse::<usize>()
                .map(|n| n.max(1))
                .with_context(|| format!("{CLIENTS_ENV} must be whole numbers, comma-separated"))
        })
        .collect()
}

/// Threads of the plaintext baseline.
const BASELINE_THREADS: usize = 8;

/// The baseline: `n` files of `wav` written by [`BASELINE_THREADS`] threads
/// into a fresh folder under `root`, each fsynced; files per second.
fn plaintext_baseline(root: &Path, wav: &Bytes, n: usize) -> Result<f64> {
    use std::io::Write as _;
    let folder = tempfile::Builder::new()
        .prefix("plaintext.")
        .tempdir_in(root)?;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        let mut threads = Vec::new();
        for _ in 0..BASELINE_THREADS {
            let next = Arc::clone(&next);
            let dir = folder.path();
            threads.push(scope.spawn(move || -> Result<()> {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return Ok(());
                    }
                    let mut file = fs::File::create(dir.join(format!("{i}.wav")))?;
                    file.write_all(wav)?;
                    file.sync_all()?;
                }
            }));
        }
        for thread in threads {
            thread
                .join()
                .map_err(|_| anyhow::anyhow!("a baseline thread panicked"))??;
        }
        Ok(())
    })?;
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

async fn run() -> Result<()> {
    let recordings = env_number(RECORDINGS_ENV, 300)?;
    let counts = client_counts()?;
    let clients = counts.iter().copied().max().unwrap_or(1);
    let embedded_only =
        std::env::var("KIRJURI_BENCH_CLUSTER_SETUPS").is_ok_and(|s| s == "embedded");
    let tmp_root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    fs::create_dir_all(tmp_root)?;
    let dir = tempfile::Builder::new()
        .prefix("kirjuri-bench-cluster.")
        .tempdir_in(tmp_root)
        .context("creating the bench folder")?;
    let root = dir.path().to_path_buf();

    let wav = Bytes::from(synth::wav_bytes(
        Encoding::PcmS16,
        2,
        8000,
        SECONDS * 8000,
        false,
    ));
    let sha = hex(sha2check::digest::digest(&sha2check::digest::SHA256, &wav).as_ref());
    println!(
        "cores: {}, load average: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    println!(
        "{recordings} recordings of {SECONDS} s (8 kHz 16-bit stereo WAV, {:.2} MB) per setup, \
         clients {counts:?}; nodes run with {MALLOC_ARENAS}={}",
        wav.len() as f64 / 1e6,
        malloc_arenas()
    );

    let mut results = Vec::new();
    // 0. The baseline, before the embedded runs …
    let baseline_before = plaintext_baseline(&root, &wav, recordings)?;
    println!(
        "plaintext baseline ({BASELINE_THREADS} threads, fsync each): {baseline_before:.1} files/s"
    );

    // 1. The embedded default, at each client count.
    for &clients in &counts {
        let data = root.join(format!("embedded-{clients}"));
        let setup = Setup::embedded(&data);
        let token = setup.accounts()?;
        let node = setup.serve("embedded")?;
        let pids = Pids {
            nodes: vec![node.0.pid()],
            postgres: None,
            garage: None,
        };
        results.push(
            drive(
                &format!("embedded, {clients} clients"),
                &[node.0.address().to_owned()],
                &token,
                &wav,
                &sha,
                recordings,
                clients,
                &pids,
            )
            .await?,
        );
        drop(node);
        fs::remove_dir_all(&data)?;
    }
    // … and after them.
    let baseline_after = plaintext_baseline(&root, &wav, recordings)?;
    println!("plaintext baseline again: {baseline_after:.1} files/s");
    let baseline = (baseline_before + baseline_after) / 2.0;
    if embedded_only {
        print_table(&results, baseline);
        return Ok(());
    }

    // Dropped before `dir`: stops the servers, then the folder goes.
    let postgres = OwnPostgres::start(&root.join("pg"))?;
    let garage = OwnGarage::start(&root.join("garage"), &["--fsync"])?;

    // 2. and 3. One node at each client count, two nodes at the largest,
    // on PostgreSQL + Garage.
    let runs: Vec<(usize, usize)> = counts
        .iter()
        .map(|&c| (1, c))
        .chain(std::iter::once((2, clients)))
        .collect();
    for (nodes, clients) in runs {
        let name = format!("cluster{nodes}c{clients}");
        let url = postgres.create_database(&name).await?;
        let folder = root.join(&name);
        let configs: Vec<Setup> = (0..nodes)
            .map(|n| Setup::node(&folder, n, &url, &garage.garage, &name))
            .collect::<Result<_>>()?;
        let token = configs.first().context("no node")?.accounts()?;
        let mut servers = Vec::new();
        for (n, setup) in configs.iter().enumerate() {
            servers.push(setup.serve(&format!("node{n}"))?);
        }
        let pids = Pids {
            nodes: servers.iter().map(|node| node.0.pid()).collect(),
            postgres: Some(postgres.data_dir()),
            garage: Some(garage.pid),
        };
        let bases: Vec<String> = servers
            .iter()
            .map(|node| node.0.address().to_owned())
            .collect();
        let label = if nodes == 1 {
            format!("1 node, PG + Garage, {clients} cl")
        } else {
            format!("{nodes} nodes, PG + Garage, {clients} cl")
        };
        results.push(
            drive(
                &label, &bases, &token, &wav, &sha, recordings, clients, &pids,
            )
            .await?,
        );
    }

    print_table(&results, baseline);
    drop(garage);
    drop(postgres);
    Ok(())
}

// --- the servers --------------------------------------------------------

/// How to run `kirjuri` for one node: its arguments and environment.
struct Setup {
    kirjuri: Kirjuri,
}

impl Setup {
    fn kirjuri() -> Kirjuri {
        Kirjuri::new(KIRJURI).env("KIRJURI_LOG", "warn")
    }

    fn embedded(data: &Path) -> Setup {
        Setup {
            kirjuri: Self::kirjuri().data(data),
        }
    }

    /// Node `n` of a cluster in `folder`: its own data folder, the cluster's
    /// shared key files, the database at `url`, the bucket prefix `prefix`.
    fn node(folder: &Path, n: usize, url: &str, garage: &Garage, prefix: &str) -> Result<Setup> {
        fs::create_dir_all(folder)?;
        let config = folder.join(format!("node{n}.toml"));
        let keys = folder.join("keys");
        fs::write(
            &config,
            garage.node_toml(&folder.join(format!("node{n}")), &keys, prefix),
        )?;
        Ok(Setup {
            kirjuri: Self::kirjuri()
                .config(&config)
                .env("KIRJURI_DATABASE__URL", url)
                .envs(garage.aws_env()),
        })
    }

    /// The integration account and its token.
    fn accounts(&self) -> Result<String> {
        self.kirjuri
            .try_run_ok(&["user", "add", "pbx", "--role", "integration"], None)?;
        let token = self
            .kirjuri
            .try_run_ok(&["token", "create", "--user", "pbx"], None)?;
        Ok(token.trim().to_owned())
    }

    fn serve(&self, name: &str) -> Result<Node> {
        let server = Server::try_start(&self.kirjuri, name, &[] as &[&str], Logs::default())?;
        Ok(Node(server))
    }
}

/// A running `kirjuri serve`, stopped gracefully on drop (killed if it
/// takes more than 10 s).
struct Node(Server);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.try_stop(Duration::from_secs(10));
    }
}

// --- CPU accounting -----------------------------------------------------

/// The processes whose CPU time a run reports.
struct Pids {
    nodes: Vec<u32>,
    /// The PostgreSQL data folder, whose `postmaster.pid` names the server.
    postgres: Option<PathBuf>,
    garage: Option<u32>,
}

/// CPU ticks (user + system) per party, and the machine's busy and total
/// ticks.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    client: u64,
    nodes: u64,
    postgres: u64,
    garage: u64,
    machine_busy: u64,
    machine_total: u64,
}

fn machine_ticks() -> (u64, u64) {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().next() else {
        return (0, 0);
    };
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().take(8).sum();
    // idle and iowait are not busy.
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

impl Pids {
    fn sample(&self) -> Cpu {
        let postmaster = self.postgres.as_ref().and_then(|data| {
            fs::read_to_string(data.join("postmaster.pid"))
                .ok()?
                .lines()
                .next()?
                .trim()
                .parse::<u32>()
                .ok()
        });
        let (machine_busy, machine_total) = machine_ticks();
        Cpu {
            client: process_times(std::process::id()).map_or(0, |t| t.own),
            nodes: self
                .nodes
                .iter()
                .filter_map(|pid| process_times(*pid).map(|t| t.own))
                .sum(),
            postgres: postmaster.and_then(process_tree_ticks).unwrap_or(0),
            garage: self.garage.and_then(process_times).map_or(0, |t| t.own),
            machine_busy,
            machine_total,
        }
    }
}

// --- the load -----------------------------------------------------------

/// One setup's result.
struct Outcome {
    label: String,
    recordings: usize,
    wav_bytes: usize,
    wall: Duration,
    latencies: Vec<Duration>,
    put_latencies: Vec<Duration>,
    cpu: Cpu,
    /// The largest peak RSS (`VmHWM`) of the node(s), KiB.
    peak_rss_kib: u64,
}

/// A process's peak resident set (`VmHWM`), KiB; 0 if unreadable.
fn peak_rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[allow(
    clippy::too_many_arguments,
    reason = "a bench's one driver; a struct would only rename the arguments"
)]
async fn drive(
    label: &str,
    bases: &[String],
    token: &str,
    wav: &Bytes,
    sha: &str,
    recordings: usize,
    clients: usize,
    pids: &Pids,
) -> Result<Outcome> {
    // reqwest has no TLS crypto provider of its own here (kirjuri-vault
    // builds it without one); ring is the process-wide one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(300))
        .pool_max_idle_per_host(clients)
        .build()?;
    let run = format!("{:x}", std::process::id());
    // Warm-up: one upload per client, untimed (connections, caches, pools).
    let warm = Arc::new(AtomicUsize::new(0));
    load(
        &client,
        bases,
        token,
        wav,
        sha,
        clients,
        clients,
        &warm,
        &format!("{label}-warm-{run}"),
    )
    .await?;

    println!("{label}: {recordings} recordings …");
    let before = pids.sample();
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let samples = load(
        &client,
        bases,
        token,
        wav,
        sha,
        recordings,
        clients,
        &next,
        &format!("{label}-{run}"),
    )
    .await?;
    let wall = start.elapsed();
    let after = pids.sample();
    let mut latencies: Vec<Duration> = samples.iter().map(|s| s.0).collect();
    let mut put_latencies: Vec<Duration> = samples.iter().map(|s| s.1).collect();
    latencies.sort();
    put_latencies.sort();
    let peak_rss_kib = pids
        .nodes
        .iter()
        .map(|pid| peak_rss_kib(*pid))
        .max()
        .unwrap_or(0);
    Ok(Outcome {
        peak_rss_kib,
        label: label.to_owned(),
        recordings,
        wav_bytes: wav.len(),
        wall,
        latencies,
        put_latencies,
        cpu: Cpu {
            client: after.client.saturating_sub(before.client),
            nodes: after.nodes.saturating_sub(before.nodes),
            postgres: after.postgres.saturating_sub(before.postgres),
            garage: after.garage.saturating_sub(before.garage),
            machine_busy: after.machine_busy.saturating_sub(before.machine_busy),
            machine_total: after.machine_total.saturating_sub(before.machine_total),
        },
    })
}

/// `total` deliveries from `clients` tasks; client `c` talks to node
/// `c % nodes`. Returns (delivery latency, recording PUT latency) each.
#[allow(
    clippy::too_many_arguments,
    reason = "a bench's one driver; a struct would only rename the arguments"
)]
async fn load(
    client: &reqwest::Client,
    bases: &[String],
    token: &str,
    wav: &Bytes,
    sha: &str,
    total: usize,
    clients: usize,
    next: &Arc<AtomicUsize>,
    tag: &str,
) -> Result<Vec<(Duration, Duration)>> {
    let mut tasks = Vec::new();
    for c in 0..clients {
        let base = bases
            .get(c % bases.len().max(1))
            .context("no node to talk to")?
            .clone();
        let client = client.clone();
        let token = token.to_owned();
        let wav = wav.clone();
        let sha = sha.to_owned();
        let next = Arc::clone(next);
        let tag = tag.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                samples.push(
                    deliver(&client, &base, &token, &wav, &sha, &format!("{tag}-{i}")).await?,
                );
            }
            anyhow::Ok(samples)
        }));
    }
    let mut samples = Vec::with_capacity(total);
    for task in tasks {
        samples.extend(task.await.context("a client task failed")??);
    }
    Ok(samples)
}

/// One delivery: the contact, then its recording. Returns the whole
/// delivery's latency and the recording's.
async fn deliver(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    wav: &Bytes,
    sha: &str,
    external_id: &str,
) -> Result<(Duration, Duration)> {
    let start = Instant::now();
    let contact = serde_json::json!({
        "external_id": external_id,
        "channel": "call_in",
        "started_at": "2026-11-29T09:15:02+02:00",
        "ended_at": "2026-11-29T09:16:02+02:00",
        "service": "water-billing",
        "agent": "aino",
        "customer": {"phone": "040 123 4567"},
    });
    let response = client
        .post(format!("{base}/api/v1/contacts"))
        .bearer_auth(token)
        .json(&contact)
        .send()
        .await?;
    ensure!(
        response.status() == reqwest::StatusCode::CREATED,
        "POST /api/v1/contacts answered {}",
        response.status()
    );
    let body: serde_json::Value = response.json().await?;
    let id = body["id"].as_str().context("no contact id")?.to_owned();
    let put_start = Instant::now();
    let response = client
        .put(format!("{base}/api/v1/contacts/{id}/recording"))
        .bearer_auth(token)
        .header("content-type", "audio/wav")
        .body(wav.clone())
        .send()
        .await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    ensure!(
        status == reqwest::StatusCode::CREATED,
        "PUT …/recording answered {status}: {body}"
    );
    ensure!(
        body["sha256"].as_str() == Some(sha),
        "the acknowledgement's sha256 is not the WAV's"
    );
    Ok((start.elapsed(), put_start.elapsed()))
}

// --- the report ---------------------------------------------------------

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted
        .get(rank.min(sorted.len() - 1))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn print_table(results: &[Outcome], baseline: f64) {
    println!();
    println!(
        "{:<34} {:>6} {:>7} {:>7} {:>6} {:>7} {:>8} {:>8} {:>8} {:>7} | {:>6} {:>7} {:>8} {:>6} {:>6} {:>6}",
        "setup",
        "recs",
        "wall s",
        "rec/s",
        "ratio",
        "MB/s",
        "p50 ms",
        "p99 ms",
        "PUT p50",
        "RSS MiB",
        "client",
        "kirjuri",
        "postgres",
        "garage",
        "other",
        "busy%"
    );
    for r in results {
        let secs = r.wall.as_secs_f64().max(f64::MIN_POSITIVE);
        let cpu = |ticks: u64| format!("{:.1}", ticks as f64 / TICKS_PER_SECOND);
        let busy = if r.cpu.machine_total == 0 {
            0.0
        } else {
            100.0 * r.cpu.machine_busy as f64 / r.cpu.machine_total as f64
        };
        println!(
            "{:<34} {:>6} {:>7.1} {:>7.2} {:>6.2} {:>7.1} {:>8.0} {:>8.0} {:>8.0} {:>7.1} | {:>6} {:>7} {:>8} {:>6} {:>6} {:>5.0}%",
            r.label,
            r.recordings,
            secs,
            r.recordings as f64 / secs,
            r.recordings as f64 / secs / baseline.max(f64::MIN_POSITIVE),
            (r.recordings * r.wav_bytes) as f64 / 1e6 / secs,
            percentile(&r.latencies, 50.0),
            percentile(&r.latencies, 99.0),
            percentile(&r.put_latencies, 50.0),
            r.peak_rss_kib as f64 / 1024.0,
            cpu(r.cpu.client),
            cpu(r.cpu.nodes),
            cpu(r.cpu.postgres),
            cpu(r.cpu.garage),
            cpu(r
                .cpu
                .machine_busy
                .saturating_sub(r.cpu.client + r.cpu.nodes + r.cpu.postgres + r.cpu.garage)),
            busy
        );
    }
    println!(
        "\nratio: rec/s over the plaintext baseline's files/s ({baseline:.1}: {BASELINE_THREADS} \
         threads writing the same WAV bytes as files, each fsynced, mean of before and after the \
         embedded runs; target ≥ 0.5 at 8 clients). RSS: the node's peak resident set (VmHWM)."
    );
    println!(
        "\nlatency: one delivery (POST contact + PUT recording) as the client sees it; \
         CPU columns: seconds of CPU each party used during the timed run; `other` is \
         the rest of the machine's busy time (the kernel's own work, other programs). The \
         machine has {} cores for all of them: busy% is the whole machine's",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
