//! Dependencies going away under a running node (issue 17 §3): a node on
//! PostgreSQL whose database is stopped, and a node on S3 whose Garage is
//! killed with an upload in flight, both exit within
//! `shutdown_timeout_seconds` of SIGTERM, say what they could not finish,
//! and say nothing personal while doing it. And both coming back: under
//! three concurrent uploaders PostgreSQL crashes and restarts, then Garage
//! is SIGKILLed and restarts, and the same node, never restarted, refuses
//! uploads meanwhile with 503 and the dependency's code, takes them again
//! afterwards, loses nothing it acknowledged (every recording bit-exact),
//! and — through its periodic recovery — leaves no pending upload and no
//! object the database does not know. Each test runs its own
//! PostgreSQL (`scripts/pg --dir`) or Garage (`scripts/garage`) so stopping
//! it disturbs no other test.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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

// ---- going away and coming back under concurrent intake ------------------------------

/// Uploaders at once.
const UPLOADERS: usize = 3;
/// Deliveries per uploader at most (the test normally stops them sooner).
const MAX_DELIVERIES: usize = 300;
/// How long PostgreSQL stays down: longer than the 10 s a request waits
/// for a pooled connection, so requests are refused rather than only
/// delayed.
const DATABASE_OUTAGE: Duration = Duration::from_secs(13);
/// How long Garage stays down (a request fails at once: connection refused).
const OBJECT_STORE_OUTAGE: Duration = Duration::from_secs(4);

/// One delivery of the load: what was sent and what the node answered.
#[derive(Debug)]
struct Sent {
    external_id: String,
    wav: Vec<u8>,
    /// The answer to the contact's POST.
    contact: Answer,
    /// The answer to the recording's PUT, if the contact was made.
    recording: Option<Answer>,
}

impl Sent {
    /// The contact's id, if the node acknowledged it.
    fn id(&self) -> Option<&str> {
        match &self.contact {
            Some((status, body)) if status.is_success() => body["id"].as_str(),
            _ => None,
        }
    }

    /// Whether the node acknowledged the recording.
    fn recording_acknowledged(&self) -> bool {
        matches!(&self.recording, Some(Some((status, _))) if status.is_success())
    }
}

/// Delivers calls with small recordings one after another until `stop` or
/// [`MAX_DELIVERIES`]; counts acknowledged recordings in `acknowledged`.
async fn uploader(
    client: reqwest::Client,
    node: String,
    token: String,
    worker: usize,
    stop: Arc<AtomicBool>,
    acknowledged: Arc<AtomicUsize>,
) -> Vec<Sent> {
    let mut sent = Vec::new();
    for n in 0..MAX_DELIVERIES {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let seed = worker * 1000 + n;
        let external_id = format!("comeback-{worker}-{n}");
        let mut delivery = Sent {
            contact: post_contact(&client, &node, &token, &contact(&external_id, 0, seed)).await,
            recording: None,
            wav: small_wav(seed as u32),
            external_id,
        };
        if let Some(id) = delivery.id().map(str::to_owned) {
            delivery.recording =
                Some(put_recording(&client, &node, &token, &id, delivery.wav.clone()).await);
        }
        if delivery.recording_acknowledged() {
            acknowledged.fetch_add(1, Ordering::Relaxed);
        } else {
            // Refused: a dependency is down; a PBX waits a little too.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        sent.push(delivery);
    }
    sent
}

/// Waits until `acknowledged` has grown by `more` (the node takes uploads
/// again), failing the test after `limit`.
async fn until_acknowledged(acknowledged: &AtomicUsize, more: usize, what: &str, node: &Node) {
    let from = acknowledged.load(Ordering::Relaxed);
    let started = Instant::now();
    while acknowledged.load(Ordering::Relaxed) < from + more {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{what}: the node took no uploads for 90 s:\n{}",
            node.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "{what}: {more} uploads acknowledged after {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_and_the_object_store_going_away_and_coming_back_lose_nothing_acknowledged() {
    // Arrange: a node on its own PostgreSQL and its own Garage, recovery
    // every second; three uploaders delivering calls with recordings.
    let root = tempfile::tempdir().unwrap();
    let pg = OwnPostgres::start(&root.path().join("pg")).expect("scripts/pg starts a cluster");
    let url = pg.create_database("kirjuri").await.unwrap();
    let mut garage = OwnGarage::start(&root.path().join("garage"), &[]).expect("Garage starts");
    let keys = root.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let credentials = garage
        .garage
        .credentials_file(&keys.join("s3-credentials.toml"));
    let prefix = fresh_prefix("comeback");
    let config = root.path().join("kirjuri.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{url}\"\ncountry = \"FI\"\n\n{}\n\
             [cluster]\nrecover_interval_seconds = {RECOVER_INTERVAL_SECONDS}\n",
            garage.garage.objects_toml(&prefix, Some(&credentials))
        ),
    )
    .unwrap();
    let data = root.path().join("node");
    kirjuri_ok(
        &config,
        &data,
        &[
            "user",
            "add",
            "sanna",
            "--role",
            "supervisor",
            "--password-stdin",
        ],
        Some(&format!("{SANNA_PASSWORD}\n")),
    );
    let sanna = kirjuri_ok(
        &config,
        &data,
        &["token", "create", "--user", "sanna"],
        None,
    )
    .trim()
    .to_owned();
    let (node, token) = start_node(&config, &data, "comeback-node");
    let _ = client(); // installs the TLS provider reqwest needs
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let uploaders: Vec<_> = (0..UPLOADERS)
        .map(|worker| {
            tokio::spawn(uploader(
                http.clone(),
                node.url(""),
                token.clone(),
                worker,
                Arc::clone(&stop),
                Arc::clone(&acknowledged),
            ))
        })
        .collect();
    until_acknowledged(&acknowledged, 5, "before the outages", &node).await;

    // Act: PostgreSQL crashes (immediate shutdown) and comes back on the
    // same port; then Garage is SIGKILLed and comes back on its ports. The
    // node is not restarted.
    halt_postgres(&pg).await;
    tokio::time::sleep(DATABASE_OUTAGE).await;
    pg.restart().expect("PostgreSQL starts again");
    until_acknowledged(&acknowledged, 5, "after PostgreSQL came back", &node).await;
    signal(garage.pid, "-KILL");
    tokio::time::sleep(OBJECT_STORE_OUTAGE).await;
    garage.restart().expect("Garage starts again");
    until_acknowledged(&acknowledged, 5, "after Garage came back", &node).await;
    stop.store(true, Ordering::Relaxed);
    let mut sent = Vec::new();
    for uploader in uploaders {
        sent.extend(uploader.await.unwrap());
    }

    // Assert: the node always answered; what it refused it refused 503
    // with the code of the dependency that was down, and both were seen.
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for delivery in &sent {
        let answers = std::iter::once(&delivery.contact).chain(delivery.recording.as_ref());
        for answer in answers {
            let (status, body) = answer.as_ref().unwrap_or_else(|| {
                panic!("{}: no answer:\n{}", delivery.external_id, node.stderr())
            });
            if status.is_success() {
                continue;
            }
            assert_eq!(
                *status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{}: {body}\n{}",
                delivery.external_id,
                node.stderr()
            );
            let code = body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(
                code == "database_unavailable" || code == "object_store_unavailable",
                "{}: {body}",
                delivery.external_id
            );
            *codes.entry(code).or_default() += 1;
        }
    }
    let acked: Vec<&Sent> = sent.iter().filter(|d| d.recording_acknowledged()).collect();
    eprintln!(
        "{} deliveries, {} recordings acknowledged, refusals by code: {codes:?}",
        sent.len(),
        acked.len()
    );
    assert!(codes.contains_key("database_unavailable"), "{codes:?}");
    assert!(codes.contains_key("object_store_unavailable"), "{codes:?}");

    // Nothing acknowledged was lost: every contact is there, every
    // recording reads back bit-exact — from the same node.
    let reader = client();
    for delivery in sent.iter().filter(|d| d.id().is_some()) {
        let id = delivery.id().unwrap();
        let response = reader
            .get(node.url(&format!("/api/v1/contacts/{id}?purpose={PURPOSE}")))
            .bearer_auth(&sanna)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            delivery.external_id
        );
    }
    for delivery in &acked {
        let id = delivery.id().unwrap();
        let response = reader
            .get(node.url(&format!(
                "/api/v1/contacts/{id}/recording?purpose={PURPOSE}"
            )))
            .bearer_auth(&sanna)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            delivery.external_id
        );
        let bytes = response.bytes().await.unwrap();
        assert!(
            bytes.as_ref() == delivery.wav.as_slice(),
            "{}: not the acknowledged recording",
            delivery.external_id
        );
    }

    // No orphan: once the node's recovery has run, no upload is pending and
    // the bucket holds exactly the objects the database knows.
    let store = PostgresStore::connect(&url)
        .await
        .expect("the test connects to the node's database");
    let bucket = garage.garage.store_at(&prefix);
    let (store_ref, bucket_ref) = (&store, &bucket);
    eventually(
        "the node removes what failed uploads left",
        Duration::from_secs(60),
        || async move {
            let pending = store_ref.pending_objects().await.unwrap();
            let rows: BTreeSet<uuid::Uuid> =
                sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM objects")
                    .fetch_all(store_ref.pool())
                    .await
                    .unwrap()
                    .into_iter()
                    .collect();
            let listed: BTreeSet<uuid::Uuid> = bucket_ref
                .list()
                .await
                .unwrap()
                .iter()
                .map(|id| *id.as_uuid())
                .collect();
            if !pending.is_empty() || listed != rows {
                eprintln!(
                    "waiting: {} pending, {} listed not in rows, {} rows not listed",
                    pending.len(),
                    listed.difference(&rows).count(),
                    rows.difference(&listed).count()
                );
                return false;
            }
            true
        },
    )
    .await;
    let stderr = node.stderr();
    for line in stderr
        .lines()
        .filter(|l| l.contains("recovered from an interrupted run") || l.contains("request failed"))
    {
        eprintln!("node: {line}");
    }
    assert!(!stderr.contains("Cluster Customer"), "{stderr}");
    assert!(!stderr.contains("40765"), "{stderr}");
    store.pool().close().await;
    drop(node);
}
