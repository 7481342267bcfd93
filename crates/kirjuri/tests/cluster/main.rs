//! Scale-out on the real engines (issue 6, items 3 and 4; docs/requirements.md
//! README "Scale-out", DIS-1): three real `kirjuri serve`
//! processes, each with its own data folder, share one PostgreSQL database
//! and one S3 bucket (Garage) through one configuration file — the same key
//! file and audit signing key — the way nodes behind a load balancer do.
//!
//! The cluster test delivers contacts and recordings through all three at
//! once, every one of them to two nodes at the same moment (a PBX retrying
//! against another node), SIGKILLs one node in the middle of a large
//! recording's multipart upload, and then checks what an operator would:
//! no duplicate contact or object, every acknowledged recording readable
//! bit-exact from every survivor, the dead node's upload cleaned up by a
//! survivor within the liveness TTL, the audit log verifying, each expired
//! recording purged exactly once (one tombstone, one audit event), and a
//! token and a session made on one node working on another.
//!
//! The engines and the nodes are the testkit's (`kirjuri_testkit::postgres`,
//! `::garage`, `::server`): `KIRJURI_TEST_POSTGRES_URL` (a superuser URL;
//! else `scripts/pg start --fast`) with a fresh database per test, and
//! `KIRJURI_TEST_S3_*` (else `scripts/garage start`, stopped when this test
//! binary exits) with a fresh prefix per test. `scripts/test` exports both.
//!
//! The DIS-1 tests need neither: a storage location outside the EU/EEA is
//! refused before anything is connected.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test binary: a failed expectation is a failed test, reported with its message"
)]

mod locations;
mod outage;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kirjuri_core::clock::{Clock, SystemClock};
use kirjuri_core::ids::{ContactId, ObjectId};
use kirjuri_core::wav::{Encoding, synth};
use kirjuri_store::prelude::*;
use kirjuri_store::{AuditFilter, PostgresStore};
use kirjuri_testkit::fixtures::{noise_wav, sha256_hex};
use kirjuri_testkit::garage::{fresh_prefix, garage};
use kirjuri_testkit::postgres::TestDatabase;
use kirjuri_testkit::server::{Kirjuri, Logs, Server as Node};
use kirjuri_vault::{ObjectStore, S3Config, S3Credentials, S3Store};
use reqwest::{Body, StatusCode, header};
use serde_json::{Value, json};

/// The binary under test.
const KIRJURI: &str = env!("CARGO_BIN_EXE_kirjuri");

/// A purpose a supervisor may state (ACC-2).
const PURPOSE: &str = "complaint_verification";

/// The supervisor's password (made with `user add --password-stdin`).
const SANNA_PASSWORD: &str = "Cluster-Test-Passw0rd-sanna";

/// Liveness settings of the test cluster: a heartbeat every second, dead
/// after 4 s without one, recovery every second. Production defaults are
/// 5 s / 30 s / 30 s; the test only makes them short.
const HEARTBEAT_SECONDS: u64 = 1;
const INSTANCE_TTL_SECONDS: u64 = 4;
const RECOVER_INTERVAL_SECONDS: u64 = 1;

// ---- the nodes -------------------------------------------------------------------

/// The binary with `--config CONFIG --data DATA`.
fn binary(config: &Path, data: &Path) -> Kirjuri {
    Kirjuri::new(KIRJURI).config(config).data(data)
}

/// Runs `kirjuri ARGS --config CONFIG --data DATA`, feeding `stdin`.
fn kirjuri(config: &Path, data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    binary(config, data).run(args, stdin)
}

/// Like [`kirjuri`], asserting success; returns stdout.
fn kirjuri_ok(config: &Path, data: &Path, args: &[&str], stdin: Option<&str>) -> String {
    binary(config, data).run_ok(args, stdin)
}

/// A shared configuration, its folders, and the accounts' tokens.
struct Cluster {
    /// Holds the configuration, the shared key files and every data folder.
    root: tempfile::TempDir,
    /// The configuration file every node and command reads.
    config: PathBuf,
    /// The database (for the test's own checks, through the store).
    store: PostgresStore,
    /// The database, dropped after [`Cluster::finish`] (left if the test
    /// failed).
    #[allow(dead_code, reason = "held for its Drop")]
    database: TestDatabase,
    /// The bucket under this test's prefix (for listing what is stored).
    objects: S3Store,
    /// Bearer token of the integration `pbx`.
    pbx: String,
    /// Bearer token of the supervisor `sanna`.
    sanna: String,
    /// HTTP client.
    client: reqwest::Client,
}

impl Cluster {
    /// Writes the configuration (fresh database, fresh bucket prefix, shared
    /// key files) and makes the accounts with the real commands.
    async fn new() -> Cluster {
        let database = TestDatabase::create().await;
        let database_url = database.url.clone();
        let s3 = garage();
        let root = tempfile::Builder::new()
            .prefix("kirjuri-cluster-")
            .tempdir()
            .expect("create the cluster folder");
        let shared = root.path().join("shared");
        std::fs::create_dir_all(&shared).unwrap();
        let credentials = s3.credentials_file(&shared.join("s3-credentials.toml"));
        let prefix = fresh_prefix("cluster");
        let config = root.path().join("kirjuri.toml");
        std::fs::write(
            &config,
            format!(
                r#"# Every node reads this file: one database, one bucket, one key file
# and one audit signing key.
key_file = "{shared}/keyring.json"
audit_key_file = "{shared}/audit-signing.key"
audit_checkpoint_events = 64
audit_checkpoint_seconds = 2

[database]
url = "{database_url}"
country = "FI"

{objects}
[cluster]
heartbeat_seconds = {HEARTBEAT_SECONDS}
instance_ttl_seconds = {INSTANCE_TTL_SECONDS}
recover_interval_seconds = {RECOVER_INTERVAL_SECONDS}

[retention]
purge_interval_seconds = 1
"#,
                shared = shared.display(),
                objects = s3.objects_toml(&prefix, Some(&credentials)),
            ),
        )
        .unwrap();
        let setup = root.path().join("setup");
        for (name, role, password) in [
            ("pbx", "integration", "Cluster-Test-Passw0rd-pbx"),
            ("aino", "agent", "Cluster-Test-Passw0rd-aino"),
            ("sanna", "supervisor", SANNA_PASSWORD),
        ] {
            kirjuri_ok(
                &config,
                &setup,
                &["user", "add", name, "--role", role, "--password-stdin"],
                Some(&format!("{password}\n")),
            );
        }
        let token = |user: &str| {
            kirjuri_ok(&config, &setup, &["token", "create", "--user", user], None)
                .trim()
                .to_owned()
        };
        let pbx = token("pbx");
        let sanna = token("sanna");
        // Creates the audit signing key once, before three nodes start at
        // the same moment.
        kirjuri_ok(&config, &setup, &["audit", "checkpoint"], None);
        let store = PostgresStore::connect(&database_url)
            .await
            .expect("the test connects to the cluster's database");
        let objects = S3Store::open(
            &S3Config {
                endpoint: Some(s3.endpoint.clone()),
                region: "garage".to_owned(),
                bucket: s3.bucket.clone(),
                prefix: Some(prefix),
                allow_http: true,
                country: "FI".to_owned(),
                credentials_file: Some(credentials),
            },
            S3Credentials::from_file(&shared.join("s3-credentials.toml")).unwrap(),
        )
        .expect("the test opens the cluster's bucket");
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(300))
            .build()
            .unwrap();
        Cluster {
            root,
            config,
            store,
            database,
            objects,
            pbx,
            sanna,
            client,
        }
    }

    /// Closes the test's connections; the database goes with the cluster,
    /// once every node has stopped (a failed test leaves it for inspection).
    async fn finish(self) {
        self.store.pool().close().await;
    }

    /// A data folder of its own for `name`.
    fn data(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// Starts a node with its own data folder.
    fn start(&self, name: &str) -> Node {
        Node::start(
            &binary(&self.config, &self.data(name)),
            name,
            &[] as &[&str],
            Logs::default(),
        )
    }
}

// ---- what is delivered -------------------------------------------------------------

/// An RFC 3339 instant `days` days ago.
fn days_ago(days: i64) -> String {
    (SystemClock.now() - chrono::Duration::days(days)).to_rfc3339()
}

/// A call contact; `days` ago.
fn contact(external_id: &str, days: i64, n: usize) -> Value {
    json!({
        "external_id": external_id,
        "channel": "call_in",
        "started_at": days_ago(days),
        "service": "water-billing",
        "agent": "aino",
        "customer": {"name": format!("Cluster Customer {n}"), "phone": format!("040 765 {:04}", n % 10_000)}
    })
}

/// A short mono WAV that differs for every `seed`.
fn small_wav(seed: u32) -> Vec<u8> {
    synth::wav_bytes(Encoding::PcmS16, 1, 8000, 8000 + seed * 7, false)
}

/// The outcome of one HTTP call: status and JSON body, or `None` when the
/// node did not answer (it was killed).
type Answer = Option<(StatusCode, Value)>;

async fn answer(response: reqwest::Result<reqwest::Response>) -> Answer {
    let response = response.ok()?;
    let status = response.status();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    Some((status, body))
}

async fn post_contact(
    client: &reqwest::Client,
    node: &str,
    token: &str,
    contact: &Value,
) -> Answer {
    answer(
        client
            .post(format!("{node}/api/v1/contacts"))
            .bearer_auth(token)
            .json(contact)
            .send()
            .await,
    )
    .await
}

async fn put_recording(
    client: &reqwest::Client,
    node: &str,
    token: &str,
    id: &str,
    body: impl Into<Body>,
) -> Answer {
    answer(
        client
            .put(format!("{node}/api/v1/contacts/{id}/recording"))
            .bearer_auth(token)
            .header(header::CONTENT_TYPE, "audio/wav")
            .body(body)
            .send()
            .await,
    )
    .await
}

/// The 2xx answers among `answers`.
fn successes(answers: &[Answer]) -> Vec<&(StatusCode, Value)> {
    answers
        .iter()
        .flatten()
        .filter(|(status, _)| status.is_success())
        .collect()
}

/// One contact delivered by the concurrent phase, and what was acknowledged.
#[derive(Debug, Default, Clone)]
struct Delivery {
    external_id: String,
    contact: Value,
    wav: Vec<u8>,
    /// The id the nodes answered (all answers agree).
    id: Option<String>,
    /// Whether a node acknowledged the recording (201 or 200).
    recording_acknowledged: bool,
}

/// The successes among two simultaneous answers to the same delivery of
/// `external_id`, asserting that none was refused (only failed: a node
/// down) and that when both succeeded exactly one made the thing (201) and
/// the other found it (200). `what` names the delivery and what only one
/// of the two does, for the messages.
fn agreeing<'a>(
    answers: &'a [Answer],
    external_id: &str,
    (delivery, only_one): (&str, &str),
) -> Vec<&'a (StatusCode, Value)> {
    for (status, body) in answers.iter().flatten() {
        assert!(
            status.is_success() || status.is_server_error(),
            "{external_id}: {delivery} was refused with {status}: {body}"
        );
    }
    let ok = successes(answers);
    if ok.len() == 2 {
        let statuses: BTreeSet<u16> = ok.iter().map(|(s, _)| s.as_u16()).collect();
        assert_eq!(
            statuses,
            BTreeSet::from([200, 201]),
            "{external_id}: exactly one of two simultaneous {only_one}"
        );
    }
    ok
}

/// Delivers `delivery` to both `nodes` at once: the contact, then its
/// recording. Asserts that the two answers agree — one 201 and one 200 when
/// both nodes answer — and never conflict.
async fn deliver_to_two(
    client: &reqwest::Client,
    nodes: [&str; 2],
    token: &str,
    delivery: &mut Delivery,
) {
    let (a, b) = tokio::join!(
        post_contact(client, nodes[0], token, &delivery.contact),
        post_contact(client, nodes[1], token, &delivery.contact),
    );
    let answers = [a, b];
    let ok = agreeing(
        &answers,
        &delivery.external_id,
        ("a contact delivery", "deliveries creates the contact"),
    );
    let ids: BTreeSet<String> = ok
        .iter()
        .map(|(_, body)| body["id"].as_str().expect("an id").to_owned())
        .collect();
    assert!(
        ids.len() <= 1,
        "{}: two nodes created two contacts for one external id: {ids:?}",
        delivery.external_id
    );
    let Some(id) = ids.into_iter().next() else {
        return;
    };
    delivery.id = Some(id.clone());
    let (a, b) = tokio::join!(
        put_recording(client, nodes[0], token, &id, delivery.wav.clone()),
        put_recording(client, nodes[1], token, &id, delivery.wav.clone()),
    );
    let answers = [a, b];
    let ok = agreeing(
        &answers,
        &delivery.external_id,
        ("a recording delivery", "uploads stores the recording"),
    );
    let sha256 = sha256_hex(&delivery.wav);
    for (_, body) in &ok {
        assert_eq!(body["sha256"], sha256.as_str(), "{}", delivery.external_id);
    }
    delivery.recording_acknowledged = !ok.is_empty();
}

/// A body that sends `fast` bytes at once and the rest a little at a time,
/// as a live recorder streams a long call.
fn slow_after(bytes: Vec<u8>, fast: usize) -> Body {
    let bytes = Bytes::from(bytes);
    let stream = futures::stream::unfold((bytes, 0usize), move |(mut rest, sent)| async move {
        if rest.is_empty() {
            return None;
        }
        let piece = if sent < fast {
            rest.split_to((256 << 10).min(rest.len()))
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            rest.split_to((64 << 10).min(rest.len()))
        };
        let sent = sent + piece.len();
        Some((Ok::<Bytes, std::io::Error>(piece), (rest, sent)))
    });
    Body::wrap_stream(stream)
}

/// Polls `check` every 100 ms until it holds or `limit` passes; returns how
/// long it took.
async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---- the test ------------------------------------------------------------------------

/// How many contacts the concurrent phase delivers (each to two nodes).
const CONTACTS: usize = 24;

/// How many recordings are already past their deadline (imported before the
/// nodes start, so their purges find them).
const EXPIRED: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_share_one_database_and_bucket_without_duplicates_losses_or_double_purges() {
    let cluster = Cluster::new().await;
    let client = cluster.client.clone();

    // Arrange: expired calls (started 14 months ago) imported before any
    // node runs, so every node's background purge competes for them.
    let spool = cluster.root.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    for n in 0..EXPIRED {
        let external_id = format!("cluster-expired-{n}");
        std::fs::write(
            spool.join(format!("{external_id}.wav")),
            small_wav(1000 + n as u32),
        )
        .unwrap();
        std::fs::write(
            spool.join(format!("{external_id}.json")),
            serde_json::to_vec(&contact(&external_id, 430, 9000 + n)).unwrap(),
        )
        .unwrap();
    }
    kirjuri_ok(
        &cluster.config,
        &cluster.data("setup"),
        &["import", spool.to_str().unwrap()],
        None,
    );

    let mut nodes: Vec<Node> = ["node0", "node1", "node2"]
        .iter()
        .map(|name| cluster.start(name))
        .collect();
    let addresses: Vec<String> = nodes.iter().map(|n| n.address().to_owned()).collect();

    // A session and a token made on node 0 work on the others (both live in
    // the database, not in a node's memory).
    sessions_and_tokens_work_on_every_node(&client, &addresses).await;

    // The victim: a large recording streamed slowly into node 2.
    let big = contact("cluster-big", 0, 7777);
    let (status, body) = post_contact(&client, &addresses[2], &cluster.pbx, &big)
        .await
        .expect("node 2 answers");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let big_id: ContactId = body["id"].as_str().unwrap().parse().unwrap();
    let big_wav = noise_wav(40 << 20, 77);
    let big_upload = {
        let client = client.clone();
        let node = addresses[2].clone();
        let token = cluster.pbx.clone();
        let id = big_id.to_string();
        tokio::spawn(async move {
            put_recording(&client, &node, &token, &id, slow_after(big_wav, 24 << 20)).await
        })
    };

    // Act: deliveries through all three nodes at once, each contact to two
    // nodes simultaneously.
    let deliveries = {
        let client = client.clone();
        let addresses = addresses.clone();
        let token = cluster.pbx.clone();
        tokio::spawn(async move {
            let mut deliveries = Vec::new();
            for n in 0..CONTACTS {
                let external_id = format!("cluster-{n}");
                let mut delivery = Delivery {
                    contact: contact(&external_id, 0, n),
                    external_id,
                    wav: small_wav(n as u32),
                    ..Delivery::default()
                };
                let pair = [addresses[n % 3].as_str(), addresses[(n + 1) % 3].as_str()];
                deliver_to_two(&client, pair, &token, &mut delivery).await;
                deliveries.push(delivery);
            }
            deliveries
        })
    };

    // Kill node 2 once the big upload is in object storage as an unfinished
    // multipart upload, with its pending row in the database.
    let started = Instant::now();
    let victim_upload: ObjectId = loop {
        let pending = cluster.store.pending_objects().await.unwrap();
        if let Some(row) = pending
            .iter()
            .find(|p| p.contact_id == big_id && p.kind == "recording")
            && cluster.objects.list().await.unwrap().contains(&row.id)
        {
            break row.id;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the big upload did not reach S3 as a multipart upload:\n{}",
            nodes[2].stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    nodes[2].kill9();
    let killed_at = Instant::now();

    // The survivors clean up the dead node's upload — row and bytes — once
    // its heartbeat is older than the TTL, without anyone restarting it.
    let c = &cluster;
    let cleaned_after = eventually(
        "a survivor removes the killed node's pending upload",
        Duration::from_secs(INSTANCE_TTL_SECONDS + 30),
        || async move {
            let pending = c.store.pending_objects().await.unwrap();
            let listed = c.objects.list().await.unwrap();
            !pending.iter().any(|p| p.id == victim_upload) && !listed.contains(&victim_upload)
        },
    )
    .await;
    let since_kill = killed_at.elapsed();
    eprintln!(
        "the killed node's upload was cleaned up {since_kill:?} after the kill \
         (TTL {INSTANCE_TTL_SECONDS} s)"
    );
    assert!(
        since_kill <= Duration::from_secs(INSTANCE_TTL_SECONDS + 3 * RECOVER_INTERVAL_SECONDS + 5),
        "the dead node's upload was cleaned up {since_kill:?} after the kill \
         (TTL {INSTANCE_TTL_SECONDS} s, recovery every {RECOVER_INTERVAL_SECONDS} s)"
    );
    assert!(cleaned_after <= since_kill);
    assert!(
        !matches!(
            big_upload.await.unwrap(),
            Some((status, _)) if status.is_success()
        ),
        "the killed upload was never acknowledged"
    );
    let mut deliveries = deliveries.await.unwrap();

    // A PBX retries what was not acknowledged, on a survivor.
    let survivors = [addresses[0].as_str(), addresses[1].as_str()];
    for delivery in deliveries
        .iter_mut()
        .filter(|d| d.id.is_none() || !d.recording_acknowledged)
    {
        let (status, body) = post_contact(&client, survivors[0], &cluster.pbx, &delivery.contact)
            .await
            .expect("a survivor answers");
        assert!(status.is_success(), "{status}: {body}");
        let id = body["id"].as_str().unwrap().to_owned();
        if let Some(earlier) = &delivery.id {
            assert_eq!(&id, earlier, "a retried delivery finds the same contact");
        }
        delivery.id = Some(id.clone());
        let (status, body) = put_recording(
            &client,
            survivors[1],
            &cluster.pbx,
            &id,
            delivery.wav.clone(),
        )
        .await
        .expect("a survivor answers");
        assert!(status.is_success(), "{status}: {body}");
        delivery.recording_acknowledged = true;
    }

    // Assert: no duplicate contact — one per external id.
    assert_eq!(
        cluster.store.count_contacts().await.unwrap(),
        (CONTACTS + 1 + EXPIRED) as u64,
        "one contact per external id across the cluster"
    );

    // Every acknowledged recording is readable, bit-exact, from every survivor.
    for delivery in &deliveries {
        assert!(delivery.recording_acknowledged, "{}", delivery.external_id);
        let id = delivery.id.as_deref().unwrap();
        let contact_id: ContactId = id.parse().unwrap();
        let recordings: Vec<_> = cluster
            .store
            .objects_for_contact(&contact_id)
            .await
            .unwrap()
            .into_iter()
            .filter(|o| o.kind == "recording")
            .collect();
        assert_eq!(
            recordings.len(),
            1,
            "{}: one recording",
            delivery.external_id
        );
        for node in survivors {
            let response = client
                .get(format!(
                    "{node}/api/v1/contacts/{id}/recording?purpose={PURPOSE}"
                ))
                .bearer_auth(&cluster.sanna)
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
                "{} read from {node} is not the delivered recording",
                delivery.external_id
            );
        }
    }

    // Each expired recording (and its waveform, and then its contact) was
    // purged exactly once, though three nodes ran purges every second.
    let expired = expired_contacts(&cluster, survivors[0]).await;
    let expired_ref = &expired;
    eventually(
        "the nodes' background purges take every expired contact",
        Duration::from_secs(120),
        || async move {
            for contact in expired_ref {
                let tombstones = c.store.tombstones_for_contact(contact).await.unwrap();
                let done = tombstones.iter().any(|t| t.kind == "contact")
                    && tombstones.iter().any(|t| t.kind == "recording")
                    && tombstones.iter().all(|t| t.storage_deleted_at.is_some());
                if !done {
                    return false;
                }
            }
            true
        },
    )
    .await;
    for contact in &expired {
        assert!(
            cluster
                .store
                .objects_for_contact(contact)
                .await
                .unwrap()
                .is_empty(),
            "{contact}: nothing of an expired contact is left"
        );
        let tombstones = cluster.store.tombstones_for_contact(contact).await.unwrap();
        let mut per_id: BTreeMap<uuid::Uuid, usize> = BTreeMap::new();
        for tombstone in &tombstones {
            *per_id.entry(tombstone.id).or_default() += 1;
        }
        assert!(
            per_id.values().all(|n| *n == 1),
            "{contact}: one tombstone per destroyed thing: {tombstones:#?}"
        );
        for tombstone in &tombstones {
            let action = if tombstone.kind == "contact" {
                "contact.erased"
            } else {
                "object.purged"
            };
            let events = cluster
                .store
                .search_audit(&AuditFilter {
                    reference: Some(tombstone.id.to_string()),
                    actor: None,
                    action: Some(action.to_owned()),
                    after_seq: 0,
                    limit: 100,
                })
                .await
                .unwrap();
            assert_eq!(
                events.len(),
                1,
                "{contact}: one {action} event for {} {}",
                tombstone.kind,
                tombstone.id
            );
        }
    }

    // No object twice, none orphaned, no upload left unfinished: the bucket
    // holds exactly the objects the database knows, and nothing is pending.
    assert!(cluster.store.pending_objects().await.unwrap().is_empty());
    let listed: BTreeSet<ObjectId> = cluster.objects.list().await.unwrap().into_iter().collect();
    let known: BTreeSet<ObjectId> = cluster
        .store
        .known_object_ids()
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        listed, known,
        "the bucket holds exactly the objects the database knows"
    );

    // The audit log, written by three nodes into one database, verifies —
    // after the survivors stop and sign their last checkpoint.
    for node in &mut nodes[..2] {
        let status = node.stop();
        assert!(
            status.success(),
            "{} stopped with {status}:\n{}",
            node.name(),
            node.stderr()
        );
    }
    let verify = kirjuri(
        &cluster.config,
        &cluster.data("node0"),
        &["audit", "verify"],
        None,
    );
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && report.contains("audit log intact"),
        "audit verify failed:\n{report}\n{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(
        !report.contains("latest valid checkpoint: none"),
        "the nodes signed checkpoints:\n{report}"
    );
    drop(nodes);
    cluster.finish().await;
}

/// The ids of the contacts imported as expired, found as a PBX would: by
/// delivering them again (a repeated external id answers with the stored
/// contact, also after the purge erased its personal data).
async fn expired_contacts(cluster: &Cluster, node: &str) -> Vec<ContactId> {
    let mut ids = Vec::new();
    for n in 0..EXPIRED {
        let external_id = format!("cluster-expired-{n}");
        let (status, body) = post_contact(
            &cluster.client,
            node,
            &cluster.pbx,
            &contact(&external_id, 430, 9000 + n),
        )
        .await
        .expect("a survivor answers");
        assert_eq!(status, StatusCode::OK, "{external_id} was imported: {body}");
        ids.push(body["id"].as_str().unwrap().parse().unwrap());
    }
    ids
}

/// Signs in on node 0, makes a token there with the session, and uses the
/// session on node 1 and the token on node 2.
async fn sessions_and_tokens_work_on_every_node(client: &reqwest::Client, nodes: &[String]) {
    let response = client
        .post(format!("{}/api/v1/session", nodes[0]))
        .json(&json!({"name": "sanna", "password": SANNA_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (cookie, csrf) = kirjuri_testkit::fixtures::browser_session(response).await;
    let response = client
        .get(format!("{}/api/v1/session", nodes[1]))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a session made on node 0 works on node 1"
    );
    let response = client
        .post(format!("{}/api/v1/tokens", nodes[0]))
        .header(header::COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({
            "label": "made on node 0",
            "expires_in_days": 1,
            "password": SANNA_PASSWORD
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    let response = client
        .get(format!("{}/api/v1/session", nodes[2]))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a token made on node 0 works on node 2"
    );
}
