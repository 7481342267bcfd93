//! Issue 15's statistics benchmark: a contacts report over 10 million
//! contacts, answered by the real `kirjuri` binary over loopback HTTP
//! (`kirjuri_testkit`'s `TestApp`) from the roll-ups, on SQLite.
//!
//! The roll-ups are **seeded directly** (the `sqlite3` shell, one recursive
//! `INSERT … SELECT`), not by delivering 10 M contacts through intake: a
//! report never reads the contacts, only `contact_rollups`, so what matters
//! is that table's size. It gets one year of days × 5 channels × 20
//! services × 6 handling-time buckets = 219 000 rows whose counts add up
//! to exactly 10 000 000 (checked), as a year of 10 M contacts would give.
//!
//! Timed, each from request to last byte, on the running server: the
//! year by channel × service, by month × channel, by service × handling
//! time, and by day × channel (365 rows of periods), JSON and CSV; the
//! server's peak RSS (`VmHWM`) is reported. Target (issue 15): < 2 s per
//! report. `KIRJURI_BENCH_QUICK=1` seeds 1 M contacts for a smoke run.
//! Not a test: a missed target prints FAIL; only errors exit non-zero.
//! PostgreSQL is not measured here (left for later; the query is the same
//! range scan on the primary key).

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use kirjuri_testkit::app::TestApp;

const KIRJURI: &str = env!("CARGO_BIN_EXE_kirjuri");
const QUICK_ENV: &str = "KIRJURI_BENCH_QUICK";
/// Issue 15's target per report.
const TARGET_SECONDS: f64 = 2.0;

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

async fn run() -> Result<()> {
    let quick = std::env::var(QUICK_ENV).is_ok_and(|v| v == "1");
    let contacts: u64 = if quick { 1_000_000 } else { 10_000_000 };
    let app = TestApp::spawn(KIRJURI, &[]).await;

    // 365 days × 5 channels × 20 services × 6 buckets; each row gets
    // contacts / rows, the first (contacts mod rows) one more.
    let rows: u64 = 365 * 5 * 20 * 6;
    let seeded = Instant::now();
    app.sql(
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
         INSERT INTO contact_rollups (day, channel, service, handling, contacts) \
         SELECT date('2025-01-01', '+' || (i / 600) || ' days'), \
                (ARRAY.c) , 'service-' || ((i / 6) % 20), \
                (HANDLING.h), \
                {base} + (CASE WHEN i < {extra} THEN 1 ELSE 0 END) \
         FROM n",
            last = rows - 1,
            base = contacts / rows,
            extra = contacts % rows,
        )
        .replace(
            "(ARRAY.c) ",
            "CASE (i / 120) % 5 WHEN 0 THEN 'call_in' WHEN 1 THEN 'call_out' WHEN 2 THEN 'chat' \
         WHEN 3 THEN 'email' ELSE 'form' END",
        )
        .replace(
            "(HANDLING.h)",
            "CASE i % 6 WHEN 0 THEN 'lt1m' WHEN 1 THEN '1to5m' WHEN 2 THEN '5to15m' \
         WHEN 3 THEN '15to60m' WHEN 4 THEN 'ge60m' ELSE 'unknown' END",
        ),
    );
    let total = app.sql("SELECT count(*) || ' ' || sum(contacts) FROM contact_rollups");
    ensure!(
        total.trim() == format!("{rows} {contacts}"),
        "seeded {total:?}, wanted {rows} rows of {contacts} contacts"
    );
    println!(
        "seeded {rows} roll-up rows = {contacts} contacts in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );

    let reports: [(&str, &[(&str, &str)]); 5] = [
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
    println!("| report | cells | seconds | target < {TARGET_SECONDS} s |");
    println!("| --- | ---: | ---: | --- |");
    for (name, params) in reports {
        let mut query = vec![("from", "2025-01-01"), ("to", "2025-12-31")];
        query.extend_from_slice(params);
        let url = reqwest::Url::parse_with_params(&app.url("/api/v1/statistics/contacts"), &query)
            .context("the report's URL")?;
        let started = Instant::now();
        let response = app
            .client
            .get(url)
            .bearer_auth(&app.tokens.sanna)
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
        let verdict = if seconds < TARGET_SECONDS {
            "ok"
        } else {
            "FAIL"
        };
        println!("| {name} | {cells} | {seconds:.3} | {verdict} |");
    }
    let (rss, hwm) = app.memory();
    println!(
        "server memory: RSS {} MiB, peak (VmHWM) {} MiB",
        rss >> 20,
        hwm >> 20
    );
    Ok(())
}
