//! Dependencies going away under a running node (issue 17 §3): a node on
//! PostgreSQL whose database is stopped, and a node on S3 whose Garage is
//! killed with an upload in flight, both exit within
//! `shutdown_timeout_seconds` of SIGTERM, say what they could not finish,
//! and say nothing personal while doing it. Each test runs its own
//! PostgreSQL (`scripts/pg --dir`) or Garage (`scripts/garage`) so stopping
//! it disturbs no other test.

use super::*;
use kirjuri_testkit::garage::OwnGarage;
use kirjuri_testkit::postgres::OwnPostgres;

/// A caller's phone number that must appear in no log line.
const PHONE: &str = "+358401234567";

/// An HTTP client (rustls on ring, as the rest of the workspace).
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Sends `signal` (e.g. `-QUIT`) to the process whose id is `pid`.
fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid}");
}

/// The postmaster's process id, from its `postmaster.pid`.
fn postmaster(pg: &OwnPostgres) -> u32 {
    let text = std::fs::read_to_string(pg.data_dir().join("postmaster.pid"))
        .expect("the running cluster has a postmaster.pid");
    text.lines()
        .next()
        .and_then(|line| line.trim().parse().ok())
        .expect("postmaster.pid starts with the pid")
}

/// Stops PostgreSQL at once (SIGQUIT: immediate shutdown, as a crash) and
/// waits until it no longer accepts connections.
async fn halt_postgres(pg: &OwnPostgres) {
    let pid = postmaster(pg);
    signal(pid, "-QUIT");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "PostgreSQL did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A call whose customer has `PHONE`.
fn phone_contact(external_id: &str) -> Value {
    json!({
        "external_id": external_id,
        "channel": "call_in",
        "started_at": days_ago(0),
        "service": "water-billing",
        "agent": "aino",
        "customer": {"name": "Outage Customer", "phone": PHONE},
        "service_content": format!("{PHONE} soitti laskusta"),
    })
}

/// Asserts the node stopped within the bound, non-zero, naming `step` as
/// unfinished, and without the personal data it was sent.
fn assert_bounded_stop(node: &mut Node, bound: Duration, step: &str) {
    let asked = Instant::now();
    node.terminate();
    let status = node.wait_exit(bound + Duration::from_secs(30));
    let took = asked.elapsed();
    let stderr = node.stderr();
    eprintln!(
        "{} exited {took:?} after SIGTERM with {status}",
        node.name()
    );
    assert!(
        took <= bound + Duration::from_secs(3),
        "{} took {took:?} to exit after SIGTERM (bound {bound:?}):\n{stderr}",
        node.name()
    );
    assert!(
        !status.success(),
        "a cut-short shutdown exits non-zero:\n{stderr}"
    );
    assert!(
        stderr.contains("shutdown did not finish in time") && stderr.contains(step),
        "the log names what did not finish ({step}):\n{stderr}"
    );
    assert!(!stderr.contains(PHONE), "{stderr}");
    assert!(!stderr.contains("401234567"), "{stderr}");
}

#[tokio::test]
async fn a_node_whose_database_was_stopped_exits_within_the_shutdown_timeout_and_says_what_it_could_not_do()
 {
    let root = tempfile::tempdir().unwrap();
    let pg = OwnPostgres::start(&root.path().join("pg")).expect("scripts/pg starts a cluster");
    let url = pg.create_database("kirjuri").await.unwrap();
    let config = root.path().join("kirjuri.toml");
    // Checkpoints only when stopping, so unsigned events wait for the final one.
    std::fs::write(
        &config,
        format!(
            "audit_checkpoint_events = 100000\naudit_checkpoint_seconds = 100000\n\
             [database]\nurl = \"{url}\"\ncountry = \"FI\"\n\
             [retention]\npurge_interval_seconds = 1\n"
        ),
    )
    .unwrap();
    let data = root.path().join("node");
    let (mut node, token) = start_node(&config, &data, "db-node");
    let http = client();
    for i in 0..3 {
        let answer = post_contact(
            &http,
            &node.url(""),
            &token,
            &phone_contact(&format!("stop-{i}")),
        )
        .await;
        assert_eq!(answer.map(|a| a.0), Some(StatusCode::CREATED));
    }

    // `kirjuri doctor` reaches the database and compares clocks…
    let healthy = binary(&config, &data).run(&["doctor", "--min-free-mib", "1"], None);
    let text = String::from_utf8_lossy(&healthy.stdout).into_owned();
    assert!(healthy.status.success(), "{text}");
    assert!(text.contains("ok    database"), "{text}");
    assert!(text.contains("ok    clock skew"), "{text}");

    halt_postgres(&pg).await;
    // …and with it stopped, fails saying so, in bounded time.
    let asked = Instant::now();
    let down = binary(&config, &data).run(&["doctor", "--min-free-mib", "1"], None);
    let text = String::from_utf8_lossy(&down.stdout).into_owned();
    assert_eq!(down.status.code(), Some(1), "{text}");
    assert!(text.contains("fail  database"), "{text}");
    assert!(text.contains("fail  clock skew"), "{text}");
    assert!(
        asked.elapsed() < Duration::from_secs(20),
        "{:?}",
        asked.elapsed()
    );
    // An intake while the database is down is refused, not hung (a new
    // connection: the kept-alive one has idled out meanwhile).
    let asked = Instant::now();
    let refused = post_contact(&client(), &node.url(""), &token, &phone_contact("down")).await;
    let (status, body) = refused.unwrap_or_else(|| panic!("the node answers:\n{}", node.stderr()));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "database_unavailable", "{body}");
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "{:?}",
        asked.elapsed()
    );

    assert_bounded_stop(&mut node, Duration::from_secs(10), "final audit checkpoint");
}

#[tokio::test]
async fn a_node_whose_object_store_died_under_an_upload_exits_within_the_shutdown_timeout() {
    let root = tempfile::tempdir().unwrap();
    let garage = OwnGarage::start(&root.path().join("garage"), &[]).expect("Garage starts");
    let keys = root.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let credentials = garage
        .garage
        .credentials_file(&keys.join("s3-credentials.toml"));
    let config = root.path().join("kirjuri.toml");
    std::fs::write(
        &config,
        format!(
            "shutdown_timeout_seconds = 4\n{}",
            garage
                .garage
                .objects_toml(&fresh_prefix("outage"), Some(&credentials))
        ),
    )
    .unwrap();
    let (mut node, token) = start_node(&config, &root.path().join("node"), "s3-node");
    let client = client();
    let (status, body) = post_contact(&client, &node.url(""), &token, &phone_contact("s3"))
        .await
        .expect("the node answers");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    // An upload that keeps trickling in, so it is still in flight at SIGTERM.
    let upload = {
        let client = client.clone();
        let url = node.url("");
        let token = token.clone();
        let wav = noise_wav(8 << 20, 7);
        tokio::spawn(async move {
            put_recording(&client, &url, &token, &id, slow_after(wav, 1 << 20)).await
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    signal(garage.pid, "-KILL");

    assert_bounded_stop(&mut node, Duration::from_secs(4), "requests in flight");
    // The cut-off upload was never acknowledged.
    let answer = upload.await.unwrap();
    assert!(
        answer
            .as_ref()
            .is_none_or(|(status, _)| !status.is_success()),
        "{answer:?}"
    );
}

/// A node on `config` with data folder `data`, and the token of its `pbx`
/// integration account (made before it starts).
fn start_node(config: &Path, data: &Path, name: &str) -> (Node, String) {
    kirjuri_ok(
        config,
        data,
        &["user", "add", "pbx", "--role", "integration"],
        None,
    );
    let token = kirjuri_ok(config, data, &["token", "create", "--user", "pbx"], None)
        .trim()
        .to_owned();
    let node = Node::start(&binary(config, data), name, &[] as &[&str], Logs::default());
    (node, token)
}
