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
//! Each setup gets a fresh database (or data folder) and bucket prefix, a
//! short untimed warm-up (one upload per client), then
//! `KIRJURI_BENCH_CLUSTER_RECORDINGS` (default 300) timed uploads from
//! `KIRJURI_BENCH_CLUSTER_CLIENTS` (default 4) concurrent clients. Every
//! acknowledgement's `sha256` is checked against the WAV sent. Reported per
//! setup: recordings/s, MB/s of WAV, p50/p99 latency of one delivery
//! (contact + recording, as the client sees it), and the CPU seconds each
//! party burnt meanwhile (this client, the kirjuri node(s), PostgreSQL,
//! Garage) with the whole machine's busy share — on a 2-core machine they
//! all share the same two cores, and that, not any one of them, is what the
//! numbers measure.
//!
//! The servers are real and durable: the built `kirjuri` binary, a
//! PostgreSQL cluster of our own (`scripts/pg start --dir …`, without
//! `--fast`: fsync on, as a default installation) and a single-node Garage
//! (`scripts/garage start … --fsync`, so it fsyncs like the local folder,
//! which always does). All live in one folder under `CARGO_TARGET_TMPDIR`,
//! stopped and removed at the end whatever happens.
//!
//! Run: `cargo bench -p kirjuri --bench cluster`. Not a test: no target is
//! asserted; errors alone make the exit status non-zero.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use kirjuri_core::wav::{Encoding, synth};
use sqlx::Connection;

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

async fn run() -> Result<()> {
    let recordings = env_number(RECORDINGS_ENV, 300)?;
    let clients = env_number(CLIENTS_ENV, 4)?.max(1);
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
        fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "{recordings} recordings of {SECONDS} s (8 kHz 16-bit stereo WAV, {:.2} MB) per setup, \
         {clients} concurrent clients",
        wav.len() as f64 / 1e6
    );

    // Dropped before `dir`: stops the servers, then the folder goes.
    let postgres = Postgres::start(&root.join("pg"))?;
    let garage = Garage::start(&root.join("garage"))?;
    let mut results = Vec::new();

    // 1. The embedded default.
    {
        let data = root.join("embedded");
        let setup = Setup::embedded(&data);
        let token = setup.accounts()?;
        let node = setup.serve(&root, "embedded")?;
        let pids = Pids {
            nodes: vec![node.pid()],
            postgres: None,
            garage: None,
        };
        results.push(
            drive(
                "embedded (SQLite + local folder)",
                std::slice::from_ref(&node.base),
                &token,
                &wav,
                &sha,
                recordings,
                clients,
                &pids,
            )
            .await?,
        );
    }

    // 2. and 3. One and two nodes on PostgreSQL + Garage.
    for nodes in [1usize, 2] {
        let name = format!("cluster{nodes}");
        let url = postgres.fresh_database(&name).await?;
        let folder = root.join(&name);
        let configs: Vec<Setup> = (0..nodes)
            .map(|n| Setup::node(&folder, n, &url, &garage, &name))
            .collect::<Result<_>>()?;
        let token = configs.first().context("no node")?.accounts()?;
        let mut servers = Vec::new();
        for (n, setup) in configs.iter().enumerate() {
            servers.push(setup.serve(&folder, &format!("node{n}"))?);
        }
        let pids = Pids {
            nodes: servers.iter().map(Node::pid).collect(),
            postgres: Some(postgres.data.clone()),
            garage: Some(garage.pid),
        };
        let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
        let label = if nodes == 1 {
            "1 node, PostgreSQL + Garage".to_owned()
        } else {
            format!("{nodes} nodes, PostgreSQL + Garage")
        };
        results.push(
            drive(
                &label, &bases, &token, &wav, &sha, recordings, clients, &pids,
            )
            .await?,
        );
    }

    print_table(&results);
    drop(garage);
    drop(postgres);
    Ok(())
}

// --- the servers --------------------------------------------------------

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A PostgreSQL cluster of the bench's own (durable), stopped on drop.
struct Postgres {
    dir: PathBuf,
    /// Its data folder (`postmaster.pid` names the server process).
    data: PathBuf,
    url: String,
}

impl Postgres {
    fn start(dir: &Path) -> Result<Postgres> {
        let output = Command::new(workspace().join("scripts/pg"))
            .args(["start", "--dir"])
            .arg(dir)
            .output()
            .context("running scripts/pg")?;
        ensure!(
            output.status.success(),
            "scripts/pg start failed (is PostgreSQL installed?): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(Postgres {
            dir: dir.to_owned(),
            data: dir.join("data"),
            url: String::from_utf8(output.stdout)?.trim().to_owned(),
        })
    }

    async fn fresh_database(&self, name: &str) -> Result<String> {
        let mut admin = sqlx::PgConnection::connect(&self.url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        let (server, _) = self.url.rsplit_once('/').context("a URL with a database")?;
        Ok(format!("{server}/{name}"))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new(workspace().join("scripts/pg"))
            .args(["stop", "--dir"])
            .arg(&self.dir)
            .status();
    }
}

/// A single-node Garage of the bench's own, fsyncing, stopped on drop.
struct Garage {
    dir: PathBuf,
    pid: u32,
    endpoint: String,
    bucket: String,
    access_key: String,
    secret_key: String,
}

impl Garage {
    fn start(dir: &Path) -> Result<Garage> {
        let output = Command::new(workspace().join("scripts/garage"))
            .arg("start")
            .arg(dir)
            .args(["--fsync", "--watch", &std::process::id().to_string()])
            .output()
            .context("running scripts/garage")?;
        ensure!(
            output.status.success(),
            "scripts/garage start failed (cargo install garage --locked): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let env = String::from_utf8(output.stdout)?;
        let get = |name: &str| -> Result<String> {
            env.lines()
                .filter_map(|line| line.strip_prefix("export "))
                .find_map(|line| line.strip_prefix(&format!("{name}=")))
                .map(str::to_owned)
                .with_context(|| format!("scripts/garage printed no {name}"))
        };
        let pid = fs::read_to_string(dir.join("garage.pid"))?
            .trim()
            .parse()
            .context("garage.pid")?;
        Ok(Garage {
            dir: dir.to_owned(),
            pid,
            endpoint: get("KIRJURI_TEST_S3_ENDPOINT")?,
            bucket: get("KIRJURI_TEST_S3_BUCKET")?,
            access_key: get("KIRJURI_TEST_S3_ACCESS_KEY")?,
            secret_key: get("KIRJURI_TEST_S3_SECRET_KEY")?,
        })
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = Command::new(workspace().join("scripts/garage"))
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

/// How to run `kirjuri` for one node: its arguments and environment.
struct Setup {
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Setup {
    fn embedded(data: &Path) -> Setup {
        Setup {
            args: vec!["--data".into(), data.display().to_string()],
            env: Vec::new(),
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
            format!(
                r#"data = "{data}"
key_file = "{keys}/keyring.json"
audit_key_file = "{keys}/audit-signing.key"

[database]
country = "FI"

[objects]
backend = "s3"

[objects.s3]
endpoint = "{endpoint}"
region = "garage"
bucket = "{bucket}"
prefix = "{prefix}"
allow_http = true
country = "FI"
"#,
                data = folder.join(format!("node{n}")).display(),
                keys = keys.display(),
                endpoint = garage.endpoint,
                bucket = garage.bucket,
            ),
        )?;
        Ok(Setup {
            args: vec!["--config".into(), config.display().to_string()],
            env: vec![
                ("KIRJURI_DATABASE__URL".into(), url.to_owned()),
                ("AWS_ACCESS_KEY_ID".into(), garage.access_key.clone()),
                ("AWS_SECRET_ACCESS_KEY".into(), garage.secret_key.clone()),
            ],
        })
    }

    fn command(&self) -> Command {
        let mut command = Command::new(KIRJURI);
        command
            .env_remove("KIRJURI_DATA")
            .env("KIRJURI_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// The integration account and its token.
    fn accounts(&self) -> Result<String> {
        let mut add = self
            .command()
            .args(["user", "add", "pbx", "--role", "integration"])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let status = add.wait()?;
        ensure!(status.success(), "kirjuri user add failed");
        let token = self
            .command()
            .args(["token", "create", "--user", "pbx"])
            .args(&self.args)
            .output()?;
        ensure!(
            token.status.success(),
            "kirjuri token create failed: {}",
            String::from_utf8_lossy(&token.stderr)
        );
        Ok(String::from_utf8(token.stdout)?.trim().to_owned())
    }

    fn serve(&self, folder: &Path, name: &str) -> Result<Node> {
        fs::create_dir_all(folder)?;
        let log = fs::File::create(folder.join(format!("{name}.log")))?;
        let mut child = self
            .command()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&self.args)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()?;
        let stdout = child.stdout.take().context("serve's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            match lines.next() {
                Some(line) => {
                    if let Some(base) = line?.strip_prefix("listening on ") {
                        break base.to_owned();
                    }
                }
                None => {
                    let _ = child.wait();
                    bail!(
                        "kirjuri serve ({name}) did not start; see {}",
                        folder.join(format!("{name}.log")).display()
                    );
                }
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Node { child, base })
    }
}

/// A running `kirjuri serve`, stopped on drop.
struct Node {
    child: Child,
    base: String,
}

impl Node {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
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

/// `(utime + stime, cutime + cstime, ppid)` of a process.
fn proc_times(pid: u32) -> Option<(u64, u64, u32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is field 3, ppid 4, utime 14, stime 15, cutime 16, cstime 17.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    Some((
        number(11)? + number(12)?,
        number(13)? + number(14)?,
        u32::try_from(number(1)?).ok()?,
    ))
}

/// A process's own CPU ticks plus those of its live children and of the
/// children it has reaped (PostgreSQL: the postmaster and its backends).
fn tree_ticks(root: u32) -> u64 {
    let Some((own, reaped, _)) = proc_times(root) else {
        return 0;
    };
    let mut total = own + reaped;
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some((ticks, _, ppid)) = proc_times(pid)
                && ppid == root
            {
                total += ticks;
            }
        }
    }
    total
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
            client: proc_times(std::process::id()).map_or(0, |(ticks, _, _)| ticks),
            nodes: self
                .nodes
                .iter()
                .filter_map(|pid| proc_times(*pid).map(|(ticks, _, _)| ticks))
                .sum(),
            postgres: postmaster.map_or(0, tree_ticks),
            garage: self
                .garage
                .and_then(proc_times)
                .map_or(0, |(ticks, _, _)| ticks),
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
    Ok(Outcome {
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

fn print_table(results: &[Outcome]) {
    println!();
    println!(
        "{:<34} {:>6} {:>7} {:>7} {:>7} {:>8} {:>8} {:>8} | {:>6} {:>7} {:>8} {:>6} {:>6} {:>6}",
        "setup",
        "recs",
        "wall s",
        "rec/s",
        "MB/s",
        "p50 ms",
        "p99 ms",
        "PUT p50",
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
            "{:<34} {:>6} {:>7.1} {:>7.2} {:>7.1} {:>8.0} {:>8.0} {:>8.0} | {:>6} {:>7} {:>8} {:>6} {:>6} {:>5.0}%",
            r.label,
            r.recordings,
            secs,
            r.recordings as f64 / secs,
            (r.recordings * r.wav_bytes) as f64 / 1e6 / secs,
            percentile(&r.latencies, 50.0),
            percentile(&r.latencies, 99.0),
            percentile(&r.put_latencies, 50.0),
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
