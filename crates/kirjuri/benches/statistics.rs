//! Issue 15's statistics benchmark: contact reports over 10 million
//! contacts, answered from the roll-ups by the real `kirjuri` binary over
//! loopback HTTP, on SQLite and on PostgreSQL, side by side.
//!
//! - **SQLite**: `kirjuri_testkit`'s `TestApp` (the embedded default: the
//!   data folder's database and object folder; the supervisor `sanna`'s
//!   token from its template).
//! - **PostgreSQL**: one `kirjuri serve` on a cluster of the bench's own
//!   (`OwnPostgres`: `scripts/pg start --dir …` without `--fast`, durable
//!   as a default installation) in a folder under `CARGO_TARGET_TMPDIR`,
//!   with the objects in its local data folder (a report reads none); its
//!   supervisor and token made with the CLI (`user add`, `token create`).
//!
//! The roll-ups are **seeded directly**, not by delivering 10 M contacts
//! through intake: a report never reads the contacts, only
//! `contact_rollups`, so what matters is that table's size. Both backends
//! get the same rows — one year of days × 5 channels × 20 services × 6
//! handling-time buckets = 219 000 rows whose counts add up to exactly
//! 10 000 000 (checked), as a year of 10 M contacts would give — with one
//! `INSERT … SELECT` each (SQLite: the `sqlite3` shell and a recursive
//! CTE; PostgreSQL: `generate_series`, then `ANALYZE`).
//!
//! Timed, by the same code for both, each from request to last byte on
//! the running server: the year by channel × service, by month × channel,
//! by service × handling time, and by day × channel (365 rows of periods),
//! JSON and CSV; each report twice (`first` on a server that has not
//! answered it yet, `again` right after). Each server's peak RSS
//! (`VmHWM`) is reported — the `kirjuri` process's, not PostgreSQL's.
//! Target (issue 15): < 2 s per report; a report whose slower run misses
//! it prints FAIL. Not a test: only errors exit non-zero.
//!
//! `KIRJURI_BENCH_QUICK=1` seeds 1 M contacts for a smoke run;
//! `KIRJURI_BENCH_STATISTICS_BACKENDS=sqlite` (or `postgres`) measures one
//! backend alone (default: both).

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use kirjuri_testkit::app::{TestApp, load_average};
use kirjuri_testkit::postgres::OwnPostgres;
use kirjuri_testkit::server::{Kirjuri, Logs, Server};
use sqlx::Connection;

const KIRJURI: &str = env!("CARGO_BIN_EXE_kirjuri");
const QUICK_ENV: &str = "KIRJURI_BENCH_QUICK";
const BACKENDS_ENV: &str = "KIRJURI_BENCH_STATISTICS_BACKENDS";
/// Issue 15's target per report.
const TARGET_SECONDS: f64 = 2.0;
/// 365 days × 5 channels × 20 services × 6 handling-time buckets.
const ROWS: u64 = 365 * 5 * 20 * 6;
/// The channels and buckets, in the order row `i` takes them
/// (`(i / 120) % 5` and `i % 6`).
const CHANNELS: [&str; 5] = ["call_in", "call_out", "chat", "email", "form"];
const BUCKETS: [&str; 6] = ["lt1m", "1to5m", "5to15m", "15to60m", "ge60m", "unknown"];

/// The reports timed: a name and the query parameters beyond the window.
const REPORTS: [(&str, &[(&str, &str)]); 5] = [
    ("year, channel × service", &[("by", "channel,service")]),
    (
        "year, month × channel",
        &[("by", "period,channel"), ("period", "month")],
    ),
    (
        "year, service × handling time",
        &[("by", "service,handling_time")],
    ),
    ("year, day × channel", &[("by", "period,channel")]),
    (
        "year, channel × service, CSV",
        &[("by", "channel,service"), ("format", "csv")],
    ),
];

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("statistics bench: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("statistics bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// The backends `KIRJURI_BENCH_STATISTICS_BACKENDS` names (both if unset).
fn backends() -> Result<Vec<Backend>> {
    let list = std::env::var(BACKENDS_ENV).unwrap_or_default();
    if list.trim().is_empty() {
        return Ok(vec![Backend::Sqlite, Backend::Postgres]);
    }
    list.split(',')
        .map(|name| match name.trim() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            other => bail!("{BACKENDS_ENV}: unknown backend {other:?} (sqlite, postgres)"),
        })
        .collect()
}

/// One report's two runs on one backend.
struct Timed {
    cells: usize,
    first: f64,
    again: f64,
}

/// One backend's results.
struct Outcome {
    backend: Backend,
    seed_seconds: f64,
    reports: Vec<Timed>,
    /// The server's RSS and peak RSS (`VmHWM`) after the reports, bytes.
    rss: u64,
    hwm: u64,
    /// `/proc/loadavg`'s three averages before and after.
    load_before: String,
    load_after: String,
}

async fn run() -> Result<()> {
    let quick = std::env::var(QUICK_ENV).is_ok_and(|v| v == "1");
    let contacts: u64 = if quick { 1_000_000 } else { 10_000_000 };
    let backends = backends()?;
    println!(
        "cores: {}, load average: {}; {ROWS} roll-up rows = {contacts} contacts per backend",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    let mut outcomes = Vec::new();
    for backend in backends {
        let outcome = match backend {
            Backend::Sqlite => sqlite(contacts).await,
            Backend::Postgres => postgres(contacts).await,
        }
        .with_context(|| format!("on {}", backend.name()))?;
        outcomes.push(outcome);
    }
    print_table(&outcomes);
    // The same rows must give the same tables.
    if let Some((first, rest)) = outcomes.split_first() {
        for other in rest {
            for ((name, _), (a, b)) in REPORTS.iter().zip(first.reports.iter().zip(&other.reports))
            {
                ensure!(
                    a.cells == b.cells,
                    "{name}: {} cells on {}, {} on {}",
                    a.cells,
                    first.backend.name(),
                    b.cells,
                    other.backend.name()
                );
            }
        }
    }
    Ok(())
}

/// Row `i`'s count: `contacts / ROWS`, the first `contacts mod ROWS` rows
/// one more, so the rows add up to exactly `contacts`.
fn base_and_extra(contacts: u64) -> (u64, u64) {
    (contacts / ROWS, contacts % ROWS)
}

/// `CASE expr WHEN 0 THEN 'a' WHEN 1 THEN 'b' … END` over `names`.
fn case_of(expr: &str, names: &[&str]) -> String {
    let arms: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(n, name)| format!("WHEN {n} THEN '{name}'"))
        .collect();
    format!("CASE {expr} {} END", arms.join(" "))
}

/// The embedded default: `TestApp` on SQLite.
async fn sqlite(contacts: u64) -> Result<Outcome> {
    let load_before = load_average();
    let app = TestApp::spawn(KIRJURI, &[]).await;
    let (base, extra) = base_and_extra(contacts);
    let seeded = Instant::now();
    app.sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
         INSERT INTO contact_rollups (day, channel, service, handling, contacts) \
         SELECT date('2025-01-01', '+' || (i / 600) || ' days'), {channel}, \
                'service-' || ((i / 6) % 20), {handling}, \
                {base} + (CASE WHEN i < {extra} THEN 1 ELSE 0 END) \
         FROM n",
        last = ROWS - 1,
        channel = case_of("(i / 120) % 5", &CHANNELS),
        handling = case_of("i % 6", &BUCKETS),
    ));
    let total = app.sql("SELECT count(*) || ' ' || sum(contacts) FROM contact_rollups");
    ensure!(
        total.trim() == format!("{ROWS} {contacts}"),
        "seeded {total:?}, wanted {ROWS} rows of {contacts} contacts"
    );
    let seed_seconds = seeded.elapsed().as_secs_f64();
    let reports = time_reports(&app.client, &app.address, &app.tokens.sanna, contacts).await?;
    let (rss, hwm) = app.memory();
    Ok(Outcome {
        backend: Backend::Sqlite,
        seed_seconds,
        reports,
        rss,
        hwm,
        load_before,
        load_after: load_average(),
    })
}

/// A `kirjuri serve` on a PostgreSQL cluster of the bench's own.
async fn postgres(contacts: u64) -> Result<Outcome> {
    let load_before = load_average();
    let tmp_root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(tmp_root)?;
    let dir = tempfile::Builder::new()
        .prefix("kirjuri-bench-statistics.")
        .tempdir_in(tmp_root)
        .context("creating the bench folder")?;
    // Dropped in reverse: the server, then PostgreSQL, then the folder.
    let postgres = OwnPostgres::start(&dir.path().join("pg"))?;
    let url = postgres.create_database("statistics").await?;
    let kirjuri = Kirjuri::new(KIRJURI)
        .data(dir.path().join("data"))
        .env("KIRJURI_LOG", "warn")
        .env("KIRJURI_DATABASE__URL", &url)
        .env("KIRJURI_DATABASE__COUNTRY", "FI");
    // The first command migrates the database. The generated password is
    // printed once and not needed: the bench uses a token.
    kirjuri.try_run_ok(&["user", "add", "sanna", "--role", "supervisor"], None)?;
    let token = kirjuri
        .try_run_ok(&["token", "create", "--user", "sanna"], None)?
        .trim()
        .to_owned();
    let mut server = Server::try_start(&kirjuri, "kirjuri serve", &[] as &[&str], Logs::default())?;

    let (base, extra) = base_and_extra(contacts);
    let array = |names: &[&str]| {
        let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
        format!("(ARRAY[{}])", quoted.join(", "))
    };
    let seeded = Instant::now();
    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .context("connecting to the bench's PostgreSQL")?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO contact_rollups (day, channel, service, handling, contacts) \
         SELECT to_char(date '2025-01-01' + (i / 600), 'YYYY-MM-DD'), \
                {channels}[(i / 120) % 5 + 1], \
                'service-' || ((i / 6) % 20), \
                {buckets}[i % 6 + 1], \
                {base} + (CASE WHEN i < {extra} THEN 1 ELSE 0 END) \
         FROM generate_series(0, {last}) AS i; \
         ANALYZE contact_rollups",
        last = ROWS - 1,
        channels = array(&CHANNELS),
        buckets = array(&BUCKETS),
    )))
    .execute(&mut conn)
    .await
    .context("seeding contact_rollups")?;
    let (rows, sum): (i64, i64) = sqlx::query_as(
        "SELECT count(*), CAST(COALESCE(sum(contacts), 0) AS bigint) FROM contact_rollups",
    )
    .fetch_one(&mut conn)
    .await
    .context("counting contact_rollups")?;
    conn.close().await.ok();
    ensure!(
        u64::try_from(rows).ok() == Some(ROWS) && u64::try_from(sum).ok() == Some(contacts),
        "seeded {rows} rows of {sum} contacts, wanted {ROWS} rows of {contacts}"
    );
    let seed_seconds = seeded.elapsed().as_secs_f64();

    // reqwest has no TLS crypto provider of its own here (kirjuri-vault
    // builds it without one); ring is the process-wide one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()?;
    let reports = time_reports(&client, server.address(), &token, contacts)
        .await
        .with_context(|| format!("the server's log:\n{}", server.stderr()))?;
    let (rss, hwm) = kirjuri_testkit::app::memory_of(server.pid())
        .context("no VmRSS or VmHWM in the server's /proc status")?;
    let _ = server.try_stop(Duration::from_secs(10));
    drop(server);
    drop(postgres);
    Ok(Outcome {
        backend: Backend::Postgres,
        seed_seconds,
        reports,
        rss,
        hwm,
        load_before,
        load_after: load_average(),
    })
}

/// Every report in [`REPORTS`], twice each, from the server at `base` as
/// the supervisor whose token is `token`; each answer's grand total must be
/// `contacts`.
async fn time_reports(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    contacts: u64,
) -> Result<Vec<Timed>> {
    let mut timed = Vec::new();
    for (name, params) in REPORTS {
        let mut query = vec![("from", "2025-01-01"), ("to", "2025-12-31")];
        query.extend_from_slice(params);
        let url =
            reqwest::Url::parse_with_params(&format!("{base}/api/v1/statistics/contacts"), &query)
                .context("the report's URL")?;
        let (cells, first) = report(client, url.clone(), token, name, contacts).await?;
        let (_, again) = report(client, url, token, name, contacts).await?;
        timed.push(Timed {
            cells,
            first,
            again,
        });
    }
    Ok(timed)
}

/// One report: its cells and the seconds from request to last byte.
async fn report(
    client: &reqwest::Client,
    url: reqwest::Url,
    token: &str,
    name: &str,
    contacts: u64,
) -> Result<(usize, f64)> {
    let started = Instant::now();
    let response = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .context("the report request")?;
    let status = response.status();
    let body = response.text().await.context("the report's body")?;
    let seconds = started.elapsed().as_secs_f64();
    ensure!(status.is_success(), "{name}: {status}: {body}");
    let cells = if body.starts_with('{') {
        let json: serde_json::Value = serde_json::from_str(&body)?;
        ensure!(
            json["totals"]["all"]["count"].as_u64() == Some(contacts),
            "{name}: the grand total is {}",
            json["totals"]["all"]["count"]
        );
        json["cells"].as_array().map_or(0, Vec::len)
    } else {
        body.lines().filter(|l| l.starts_with("cell,")).count()
    };
    Ok((cells, seconds))
}

fn print_table(outcomes: &[Outcome]) {
    println!();
    for o in outcomes {
        println!(
            "{}: seeded in {:.1} s; load average {} before, {} after",
            o.backend.name(),
            o.seed_seconds,
            o.load_before,
            o.load_after
        );
    }
    println!();
    let mut header = String::from("| report | cells |");
    let mut rule = String::from("| --- | ---: |");
    for o in outcomes {
        let name = o.backend.name();
        header.push_str(&format!(
            " {name} first s | {name} again s | {name} < {TARGET_SECONDS} s |"
        ));
        rule.push_str(" ---: | ---: | --- |");
    }
    println!("{header}\n{rule}");
    let mut passed = true;
    for (i, (name, _)) in REPORTS.iter().enumerate() {
        let cells = outcomes
            .first()
            .and_then(|o| o.reports.get(i))
            .map_or(0, |t| t.cells);
        let mut line = format!("| {name} | {cells} |");
        for o in outcomes {
            let Some(t) = o.reports.get(i) else {
                continue;
            };
            let ok = t.first.max(t.again) < TARGET_SECONDS;
            passed &= ok;
            let verdict = if ok { "ok" } else { "FAIL" };
            line.push_str(&format!(" {:.3} | {:.3} | {verdict} |", t.first, t.again));
        }
        println!("{line}");
    }
    println!();
    for o in outcomes {
        println!(
            "{} server memory: RSS {} MiB, peak (VmHWM) {} MiB",
            o.backend.name(),
            o.rss >> 20,
            o.hwm >> 20
        );
    }
    let names: Vec<&str> = outcomes.iter().map(|o| o.backend.name()).collect();
    if passed {
        println!(
            "PASS: every report under {TARGET_SECONDS} s on {}",
            names.join(" and ")
        );
    } else {
        println!("FAIL: a report took {TARGET_SECONDS} s or more (see the table)");
    }
}
