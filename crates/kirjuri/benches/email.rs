//! Issue 14's email-intake benchmark, run against the real `kirjuri` binary
//! (`kirjuri_testkit`'s `TestApp`, as the API tests run it): N emails of
//! realistic size — a few kilobytes of text, one in ten with a 1 MiB PDF
//! attachment (base64, ≈ 1.4 MB on the wire) — delivered
//!
//! - (a) over LMTP, four connections at once, each message its own
//!   transaction (LHLO once, then MAIL/RCPT/DATA), every one becoming an
//!   `email` contact;
//! - (b) over the API, four at once: `POST /api/v1/contacts` then `PUT
//!   …/message`;
//!
//! each on a freshly started server, reporting messages per second and the
//! server's peak RSS (`VmHWM` of its `/proc/<pid>/status`), against the
//! natural baseline measured in the same run:
//!
//! - (c) four threads writing the same messages as plaintext files in a
//!   temporary folder, each file fsynced (what a Maildir delivery does at
//!   the least; no sealing, no database, no audit).
//!
//! Sizes: `KIRJURI_BENCH_EMAILS` messages (default 10 000);
//! `KIRJURI_BENCH_QUICK=1` makes it 200 for a smoke run. Not a test: only
//! errors make the exit status non-zero.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use futures::StreamExt;
use kirjuri_testkit::app::TestApp;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const KIRJURI: &str = env!("CARGO_BIN_EXE_kirjuri");
/// Deliveries in flight at once.
const IN_FLIGHT: usize = 4;
const EMAILS_ENV: &str = "KIRJURI_BENCH_EMAILS";
const QUICK_ENV: &str = "KIRJURI_BENCH_QUICK";

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("email bench failed: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("email bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The `i`th message: text always, a 1 MiB attachment for every tenth.
fn message(i: usize) -> Vec<u8> {
    let mut text = String::new();
    while text.len() < 4000 {
        text.push_str(
            "Hei, vesilaskussani on virhe: lukema ei vastaa mittaria. Terveisin asiakas.\r\n",
        );
    }
    let mut out = format!(
        "From: Asiakas {i} <asiakas{i}@example.fi>\r\nTo: asiakaspalvelu@vesi.example\r\n\
Subject: Lasku {i}\r\nDate: Sun, 29 Nov 2026 09:15:02 +0200\r\nMessage-ID: <bench-{i}@example.fi>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
    )
    .into_bytes();
    if i.is_multiple_of(10) {
        out.extend_from_slice(
            b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"liite.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n",
        );
        // 1 MiB of bytes, base64 in 76-character lines.
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let encoded_len = (1 << 20) / 3 * 4;
        let mut state = i as u64 | 1;
        for n in 0..encoded_len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            out.push(alphabet[(state % 64) as usize]);
            if n % 76 == 75 {
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--b--\r\n");
    out
}

async fn reply(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Result<String> {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        ensure!(
            reader.read_line(&mut line).await? > 0,
            "LMTP connection closed"
        );
        all.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(all);
        }
    }
}

/// One LMTP connection delivering messages `ids`.
async fn lmtp_deliver(address: String, ids: Vec<usize>) -> Result<()> {
    let stream = TcpStream::connect(&address).await?;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    reply(&mut reader).await?;
    write.write_all(b"LHLO bench\r\n").await?;
    reply(&mut reader).await?;
    for i in ids {
        let mut data =
            b"MAIL FROM:<bounce@example.fi>\r\nRCPT TO:<box@vesi.example>\r\nDATA\r\n".to_vec();
        write.write_all(&data).await?;
        for expect in ["250", "250", "354"] {
            let got = reply(&mut reader).await?;
            ensure!(got.starts_with(expect), "LMTP: {got}");
        }
        data.clear();
        for line in message(i).split_inclusive(|b| *b == b'\n') {
            if line.starts_with(b".") {
                data.push(b'.');
            }
            data.extend_from_slice(line);
        }
        data.extend_from_slice(b".\r\n");
        write.write_all(&data).await?;
        let got = reply(&mut reader).await?;
        ensure!(got.starts_with("250"), "LMTP delivery {i}: {got}");
    }
    write.write_all(b"QUIT\r\n").await?;
    Ok(())
}

async fn api_deliver(app: &TestApp, i: usize) -> Result<()> {
    let contact = json!({
        "external_id": format!("bench-{i}"),
        "channel": "email",
        "started_at": "2026-11-29T09:15:02+02:00",
        "agent": "aino",
        "customer": {"email": format!("asiakas{i}@example.fi")},
    });
    let created = app.create_contact(&app.tokens.pbx, &contact).await;
    ensure!(
        created.status().is_success(),
        "contact {i}: {}",
        created.status()
    );
    let id = created.json::<serde_json::Value>().await?["id"]
        .as_str()
        .context("no id")?
        .to_owned();
    let put = app
        .client
        .put(app.url(&format!("/api/v1/contacts/{id}/message")))
        .bearer_auth(&app.tokens.pbx)
        .header("content-type", "message/rfc822")
        .body(message(i))
        .send()
        .await?;
    ensure!(put.status().is_success(), "message {i}: {}", put.status());
    Ok(())
}

async fn run() -> Result<()> {
    let n: usize = if std::env::var(QUICK_ENV).is_ok_and(|v| v == "1") {
        200
    } else {
        std::env::var(EMAILS_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000)
    };
    let bytes: usize = (0..n).map(|i| message(i).len()).sum();
    println!(
        "email intake: {n} messages, {:.1} MB, 1 MiB attachment in every tenth",
        bytes as f64 / 1e6
    );

    // (a) LMTP.
    let app = TestApp::spawn(
        KIRJURI,
        &[
            ("KIRJURI_LMTP_LISTEN", "127.0.0.1:0"),
            ("KIRJURI_EMAIL__LMTP_AGENT", "aino"),
        ],
    )
    .await;
    let logs = String::from_utf8_lossy(&app.log_bytes()).into_owned();
    let at = logs
        .find("LMTP listening on ")
        .context("no LMTP listener")?;
    let address = logs[at + "LMTP listening on ".len()..]
        .lines()
        .next()
        .context("no address")?
        .trim()
        .to_owned();
    let started = Instant::now();
    let shares: Vec<Vec<usize>> = (0..IN_FLIGHT)
        .map(|k| (0..n).filter(|i| i % IN_FLIGHT == k).collect())
        .collect();
    let tasks: Vec<_> = shares
        .into_iter()
        .map(|ids| tokio::spawn(lmtp_deliver(address.clone(), ids)))
        .collect();
    for task in tasks {
        task.await??;
    }
    let lmtp_secs = started.elapsed().as_secs_f64();
    let lmtp_hwm = app.memory().1;
    drop(app);

    // (b) the API.
    let app = TestApp::spawn(KIRJURI, &[]).await;
    let started = Instant::now();
    let results: Vec<Result<()>> = futures::stream::iter(0..n)
        .map(|i| {
            let app = &app;
            async move { api_deliver(app, i).await }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    for result in results {
        result?;
    }
    let api_secs = started.elapsed().as_secs_f64();
    let api_hwm = app.memory().1;
    drop(app);

    // (c) the baseline: the same bytes as fsynced plaintext files.
    let base_secs = tokio::task::spawn_blocking(move || plain_files(n)).await??;

    println!("| path | messages/s | MB/s | ratio to fsynced files | peak RSS |");
    println!("| --- | --- | --- | --- | --- |");
    for (path, secs, hwm) in [
        ("LMTP", lmtp_secs, Some(lmtp_hwm)),
        ("API", api_secs, Some(api_hwm)),
        ("plaintext files + fsync (baseline)", base_secs, None),
    ] {
        println!(
            "| {path} | {:.1} | {:.1} | {:.2} | {} |",
            n as f64 / secs,
            bytes as f64 / 1e6 / secs,
            base_secs / secs,
            hwm.map_or("—".to_owned(), |hwm| format!(
                "{:.0} MiB",
                hwm as f64 / (1 << 20) as f64
            ))
        );
    }
    Ok(())
}

/// The baseline: `IN_FLIGHT` threads each writing their share of the
/// messages as files, every one fsynced; seconds taken.
fn plain_files(n: usize) -> Result<f64> {
    use std::io::Write;
    let folder = tempfile::tempdir().context("baseline folder")?;
    let started = Instant::now();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..IN_FLIGHT)
            .map(|k| {
                let folder = folder.path();
                scope.spawn(move || -> Result<()> {
                    for i in (0..n).filter(|i| i % IN_FLIGHT == k) {
                        let mut file = std::fs::File::create(folder.join(format!("{i}.eml")))?;
                        file.write_all(&message(i))?;
                        file.sync_all()?;
                    }
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("a baseline writer panicked"))??;
        }
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(started.elapsed().as_secs_f64())
}
