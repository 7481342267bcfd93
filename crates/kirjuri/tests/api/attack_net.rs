//! Attacks on the connection layer by clients without credentials, against
//! the real server on loopback: a flood of large refused bodies (memory),
//! half-sent and trickled request heads (slowloris: the header-read timeout
//! and the connection cap), idle kept-alive connections, an endless request
//! head, a server out of file descriptors (its limit lowered with
//! `prlimit`), and limits that make no sense. Every attack is bounded in connections and time and stops
//! by itself; `/healthz` is probed on fresh connections throughout, as a
//! load balancer would.
//!
//! The measurements (peak memory, probe latency, sockets held) are printed
//! to stderr; `cargo test -p kirjuri --test api attack_net -- --nocapture`
//! shows them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, spawn_app, spawn_app_with_env};

/// Probes `/healthz` every 100 ms on a new connection each time until
/// `stop`; returns each probe's latency or failure.
fn probe_health(
    app: &TestApp,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Result<Duration, String>>> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a probe client");
    let url = app.url("/healthz");
    tokio::spawn(async move {
        let mut probes = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            let started = Instant::now();
            let outcome = match client.get(&url).send().await {
                Ok(response) if response.status() == StatusCode::OK => Ok(started.elapsed()),
                Ok(response) => Err(format!("answered {}", response.status())),
                Err(e) => Err(format!("{e:?}")),
            };
            probes.push(outcome);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        probes
    })
}

/// Asserts every probe answered 200 and returns the slowest latency.
fn all_healthy(probes: &[Result<Duration, String>], during: &str) -> Duration {
    assert!(!probes.is_empty(), "no probe ran during {during}");
    let failures: Vec<&String> = probes.iter().filter_map(|p| p.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "/healthz failed {} of {} times during {during}: {:?}",
        failures.len(),
        probes.len(),
        failures.first()
    );
    probes
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .max()
        .copied()
        .unwrap_or_default()
}

/// `/healthz` answers 200 now, on a new connection.
async fn assert_healthy_now(app: &TestApp) {
    match app.client.get(app.url("/healthz")).send().await {
        Ok(response) => assert_eq!(response.status(), StatusCode::OK),
        Err(e) => panic!("/healthz after the attack: {e:?}\n{}", app.stderr()),
    }
}

/// How many times each of the 256 attackers sends its body.
const ROUNDS: usize = 4;

/// The body length of the attack: just under 16 MiB.
const ATTACK_BODY: u64 = (16 << 20) - 1;

/// One attacker: an upload with no credentials that sends its whole
/// declared body as fast as it can (or until the server cuts it off), then
/// reads what came back. Returns whether it saw the 401.
async fn refused_upload(address: std::net::SocketAddr, zeros: Arc<Vec<u8>>) -> bool {
    let Ok(mut stream) = TcpStream::connect(address).await else {
        return false;
    };
    let head = format!(
        "PUT /api/v1/contacts/x/recording HTTP/1.1\r\nHost: {address}\r\n\
         Content-Type: audio/wav\r\nContent-Length: {ATTACK_BODY}\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).await.is_err() {
        return false;
    }
    let mut left = ATTACK_BODY as usize;
    while left > 0 {
        let n = left.min(zeros.len());
        if stream.write_all(&zeros[..n]).await.is_err() {
            break;
        }
        left -= n;
    }
    let mut answer = vec![0u8; 512];
    match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer)).await {
        Ok(Ok(n)) => answer[..n].starts_with(b"HTTP/1.1 401"),
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_large_refused_uploads_neither_balloons_memory_nor_stops_health_checks() {
    // Arrange: the attack — 256 connections each sending a
    // 16 MiB - 1 body with no credentials — four times over.
    let app = spawn_app().await;
    let (rss_before, _) = app.memory();
    let stop = Arc::new(AtomicBool::new(false));
    let probes = probe_health(&app, Arc::clone(&stop));
    let zeros = Arc::new(vec![0u8; 64 * 1024]);
    let address = app.socket_address();

    // Act
    let started = Instant::now();
    let attackers: Vec<_> = (0..256)
        .map(|_| {
            let zeros = Arc::clone(&zeros);
            tokio::spawn(tokio::time::timeout(Duration::from_secs(25), async move {
                let mut saw_401 = 0;
                for _ in 0..ROUNDS {
                    saw_401 += usize::from(refused_upload(address, Arc::clone(&zeros)).await);
                }
                saw_401
            }))
        })
        .collect();
    let mut saw_401 = 0;
    for attacker in attackers {
        saw_401 += attacker
            .await
            .expect("an attacker task")
            .expect("an attacker finished within 25 s");
    }
    let attack_time = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let probes = probes.await.expect("the probe task");
    let (rss_after, peak) = app.memory();

    // Assert
    eprintln!(
        "refused-body flood: {ROUNDS} x 256 x {ATTACK_BODY} B in {attack_time:?}; {saw_401} saw the 401; \
         RSS {} MiB before, {} MiB after, peak (VmHWM) {} MiB; {} health probes, slowest {:?}",
        rss_before >> 20,
        rss_after >> 20,
        peak >> 20,
        probes.len(),
        probes.iter().filter_map(|p| p.as_ref().ok()).max()
    );
    assert!(
        peak < 256 << 20,
        "the server's peak RSS was {} MiB during the flood",
        peak >> 20
    );
    all_healthy(&probes, "the refused-body flood");
    assert_healthy_now(&app).await;
}

/// Connects and sends the start of a request line, never its end; with
/// `trickle`, a request line and the start of a header, then one more byte
/// of its value every 300 ms (a head that is always valid, never complete). Returns how long the server kept
/// the connection open, or `None` if it was still open after `give_up`.
async fn half_sent_request(
    address: std::net::SocketAddr,
    trickle: bool,
    give_up: Duration,
    opened: Arc<AtomicUsize>,
) -> Option<Duration> {
    let mut stream = TcpStream::connect(address).await.ok()?;
    let started = Instant::now();
    let start: &[u8] = if trickle {
        b"GET /healthz HTTP/1.1\r\nX-Slow: "
    } else {
        b"GET /healthz HTT"
    };
    stream.write_all(start).await.ok()?;
    opened.fetch_add(1, Ordering::SeqCst);
    let mut buffer = [0u8; 256];
    let deadline = tokio::time::Instant::now() + give_up;
    loop {
        let wait = if trickle {
            Duration::from_millis(300)
        } else {
            give_up
        };
        let until = (tokio::time::Instant::now() + wait).min(deadline);
        match tokio::time::timeout_at(until, stream.read(&mut buffer)).await {
            // Closed (EOF or reset), or an error answer before the close.
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) if tokio::time::Instant::now() >= deadline => return None,
            Err(_) => {
                // Trickle one more header byte; a write error means closed.
                if stream.write_all(b"a").await.is_err() {
                    return Some(started.elapsed());
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_and_idle_connections_are_closed_and_the_cap_is_never_exceeded() {
    // Arrange: a 2 s header-read and keep-alive timeout, and a cap of 64.
    let app = spawn_app_with_env(&[
        ("KIRJURI_HEADER_READ_TIMEOUT_SECONDS", "2"),
        ("KIRJURI_KEEP_ALIVE_IDLE_SECONDS", "2"),
        ("KIRJURI_MAX_CONNECTIONS", "64"),
    ])
    .await;
    let address = app.socket_address();
    let listening_sockets = app.open_sockets();
    let stop = Arc::new(AtomicBool::new(false));
    let probes = probe_health(&app, Arc::clone(&stop));
    let opened = Arc::new(AtomicUsize::new(0));

    // Act 1: under the cap, 20 half-sent request lines and 20 that trickle
    // a byte every 300 ms, and one kept-alive connection left idle.
    let under_cap: Vec<_> = (0..40)
        .map(|i| {
            tokio::spawn(half_sent_request(
                address,
                i % 2 == 1,
                Duration::from_secs(12),
                Arc::clone(&opened),
            ))
        })
        .collect();
    let mut kept_alive = TcpStream::connect(address).await.unwrap();
    kept_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: kirjuri\r\n\r\n")
        .await
        .unwrap();
    let idle_from = Instant::now();
    let mut answer = [0u8; 2048];
    let n = kept_alive.read(&mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    let idle_closed = tokio::time::timeout(Duration::from_secs(12), async {
        while kept_alive.read(&mut answer).await.is_ok_and(|n| n > 0) {}
        idle_from.elapsed()
    })
    .await;
    let mut kept_open = Vec::new();
    for task in under_cap {
        kept_open.push(task.await.expect("a slow client task"));
    }

    // Act 2: over the cap, 300 half-sent request lines as fast as they
    // connect, while the server's sockets are counted every 20 ms.
    let counting = Arc::new(AtomicBool::new(true));
    let peak_sockets = {
        let counting = Arc::clone(&counting);
        let pid = app.pid();
        tokio::task::spawn_blocking(move || {
            let mut peak = 0;
            while counting.load(Ordering::SeqCst) {
                let sockets = std::fs::read_dir(format!("/proc/{pid}/fd"))
                    .map(|entries| {
                        entries
                            .flatten()
                            .filter(|e| {
                                std::fs::read_link(e.path())
                                    .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
                            })
                            .count()
                    })
                    .unwrap_or(0);
                peak = peak.max(sockets);
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let over_cap: Vec<_> = (0..300)
        .map(|_| {
            tokio::spawn(half_sent_request(
                address,
                false,
                Duration::from_secs(12),
                Arc::clone(&opened),
            ))
        })
        .collect();
    let mut over_cap_open = Vec::new();
    for task in over_cap {
        over_cap_open.push(task.await.expect("a flood task"));
    }
    counting.store(false, Ordering::SeqCst);
    let peak_sockets = peak_sockets.await.expect("the socket counter");
    stop.store(true, Ordering::SeqCst);
    let probes = probes.await.expect("the probe task");

    // Assert
    let slowest = all_healthy(&probes, "the slow-connection attack");
    let under: Vec<Duration> = kept_open.iter().map(|d| d.expect("closed")).collect();
    eprintln!(
        "slowloris: {} connections opened; under the cap closed after {:?}..{:?} \
         (idle kept-alive after {:?}); server sockets peaked at {peak_sockets} \
         (listener and others: {listening_sockets}); {} health probes, slowest {slowest:?}",
        opened.load(Ordering::SeqCst),
        under.iter().min(),
        under.iter().max(),
        idle_closed,
        probes.len(),
    );
    for (i, held) in under.iter().enumerate() {
        // The whole head must arrive within the timeout, trickle or not.
        assert!(
            *held >= Duration::from_secs(1) && *held < Duration::from_secs(10),
            "slow client {i} was closed after {held:?}, not after the 2 s header-read timeout"
        );
    }
    let idle_closed = idle_closed.expect("the idle kept-alive connection was never closed");
    assert!(
        idle_closed >= Duration::from_secs(1),
        "the kept-alive connection closed after only {idle_closed:?}"
    );
    let still_open = over_cap_open.iter().filter(|d| d.is_none()).count();
    assert_eq!(still_open, 0, "half-sent requests still open after 12 s");
    // The cap, plus the one connection the accept loop holds while it makes room.
    assert!(
        peak_sockets <= listening_sockets + 64 + 1,
        "the server held {peak_sockets} sockets (cap 64, {listening_sockets} before)"
    );
    assert_healthy_now(&app).await;
}

/// Sends `head` on a fresh connection and returns the start of the answer
/// (empty if the server closed without one).
async fn answer_to_head(app: &TestApp, head: &str) -> String {
    let mut stream = TcpStream::connect(app.socket_address()).await.unwrap();
    // The server may answer and close before the whole head is sent.
    let _ = stream.write_all(head.as_bytes()).await;
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("an answer within 10 s")
        .unwrap_or(0);
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

#[tokio::test]
async fn a_request_head_over_64_kib_is_refused_with_431() {
    // Arrange: a head that keeps going, as a client filling the server's
    // buffers with one endless header would send.
    let app = spawn_app().await;
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: kirjuri\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(100 * 1024)
    );

    // Act
    let answer = answer_to_head(&app, &head).await;

    // Assert
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
    assert_healthy_now(&app).await;
}

#[tokio::test]
async fn a_request_head_just_under_64_kib_is_still_answered() {
    // Arrange: the largest head the server accepts must fit in the read
    // buffer, which is bounded to keep concurrent uploads small.
    let app = spawn_app().await;
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: kirjuri\r\nConnection: close\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(63 * 1024)
    );

    // Act
    let answer = answer_to_head(&app, &head).await;

    // Assert
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
}

/// The server's CPU time so far (user + system), from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let output = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .unwrap();
    let per_second: u64 = String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Duration::from_millis(ticks * 1000 / per_second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_accept_loop_backs_off_and_recovers() {
    // Arrange: the server may open only a few more files than it has open,
    // far fewer than its connection cap; 40 clients connect and wait.
    let app = spawn_app().await;
    let pid = app.pid();
    let open_files = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let limit = open_files + 10;
    let status = std::process::Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={limit}:{limit}"))
        .status()
        .expect("run prlimit (util-linux)");
    assert!(status.success(), "prlimit failed");
    let mut clients = Vec::new();
    for _ in 0..40 {
        let mut stream = TcpStream::connect(app.socket_address()).await.unwrap();
        stream.write_all(b"GET /healthz HTT").await.unwrap();
        clients.push(stream);
    }

    // Act: two seconds out of file descriptors, then the clients leave.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cpu_before = cpu_time(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_spent = cpu_time(pid) - cpu_before;
    drop(clients);

    // Assert: no spinning (a busy accept loop burns a whole core), one log
    // line a minute at most, and service resumes once descriptors free up.
    eprintln!("EMFILE: {cpu_spent:?} of CPU in 2 s out of file descriptors");
    assert!(
        cpu_spent < Duration::from_millis(500),
        "the server used {cpu_spent:?} of CPU in 2 s while accept failed"
    );
    let started = Instant::now();
    let healthy = loop {
        match tokio::time::timeout(
            Duration::from_secs(5),
            app.client.get(app.url("/healthz")).send(),
        )
        .await
        {
            Ok(Ok(response)) if response.status() == StatusCode::OK => break true,
            _ if started.elapsed() > Duration::from_secs(20) => break false,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    assert!(healthy, "/healthz did not recover:\n{}", app.stderr());
    let warnings = app.stderr().matches("accept failed").count();
    assert_eq!(
        warnings,
        1,
        "{warnings} 'accept failed' lines:\n{}",
        app.stderr()
    );
}

#[tokio::test]
async fn connection_limits_of_zero_are_refused_naming_the_key() {
    for key in [
        "HEADER_READ_TIMEOUT_SECONDS",
        "KEEP_ALIVE_IDLE_SECONDS",
        "MAX_CONNECTIONS",
    ] {
        // Arrange
        let variable = format!("KIRJURI_{key}");
        let mut app = spawn_app_with_env(&[(variable.as_str(), "0")]).await;

        // Act
        let exit = app.wait_exit(Duration::from_secs(30));

        // Assert (the log reader thread may lag the exit a little)
        assert!(!exit.success(), "{key}=0 was accepted");
        let named = Instant::now();
        while !app.stderr().contains(&key.to_ascii_lowercase())
            && named.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            app.stderr().contains(&key.to_ascii_lowercase()),
            "{key}=0: {}",
            app.stderr()
        );
    }
}
