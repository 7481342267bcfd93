//! `kirjuri migrate-store` against the real engines (issue 6, "Moving up"):
//! an embedded instance populated through the real binary — accounts, tokens,
//! a browser session, contacts with recordings, a legal hold, a purge's
//! tombstones, signed audit checkpoints, data-subject requests in several
//! states (a live code, an in-person check, a closed answer) and the
//! outbox messages they queued — is moved to a fresh PostgreSQL
//! database and a Garage bucket, and then served from there by `kirjuri
//! serve`: the same tokens read the same contacts, recordings come back bit
//! for bit, phone searches find the same contacts through the copied blind
//! indexes, the requests show the same reference, state, due date and
//! timeline, and `kirjuri audit verify` passes on the target. The hostile
//! cases: a target that is not empty, an unreachable database, wrong
//! credentials (never echoed), a source folder in use, a bucket holding
//! another register's objects — and a re-run that finds the objects of a
//! crashed run already in the bucket.
//!
//! PostgreSQL and Garage are the testkit's (`kirjuri_testkit::postgres`,
//! `::garage`): from `KIRJURI_TEST_POSTGRES_URL` and `KIRJURI_TEST_S3_*`, or
//! started by `scripts/pg` and `scripts/garage`. A missing server fails the
//! tests, naming what to install — they never skip. Each test gets its own
//! database and its own prefix in the bucket.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::Duration;

use kirjuri_core::wav::{Encoding, synth};
use kirjuri_testkit::app::copy_tree;
use kirjuri_testkit::garage::{fresh_prefix, garage};
use kirjuri_testkit::postgres::{TestDatabase, server_url};
use kirjuri_testkit::server::{self, Kirjuri, Logs, describe as text};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::helpers::KIRJURI;

/// A purpose a supervisor may state.
const PURPOSE: &str = "complaint_verification";

/// The phone number two of the source's contacts share.
const SHARED_PHONE: &str = "040 123 4567";

/// The password of the accounts made with `--password-stdin`.
const PASSWORD: &str = "Migrate-Test-Passw0rd";

/// A fresh folder for `name`, under `CARGO_TARGET_TMPDIR`; folders of
/// earlier runs whose process is gone are removed first.
fn scratch(name: &str) -> PathBuf {
    static SWEPT: OnceLock<()> = OnceLock::new();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    SWEPT.get_or_init(|| {
        for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name
                .strip_prefix("migrate-")
                .and_then(|rest| rest.split('-').next())
                && pid.chars().all(|c| c.is_ascii_digit())
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
    let dir = root.join(format!("migrate-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// --- the servers ---------------------------------------------------------

/// Counts rows of `table` in the database at `url`.
async fn count_rows(url: &str, table: &str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

/// A scale-out node's configuration: the migrated database and a prefix of
/// the test bucket, with the source folder's key files (never copied into
/// either). The URL goes in through the environment (`KIRJURI_DATABASE__URL`).
fn node_config(dir: &Path, source: &Path, prefix: &str) -> PathBuf {
    let path = dir.join("node.toml");
    let toml = garage().node_toml(&dir.join("node-data"), &source.join("keys"), prefix);
    std::fs::write(&path, toml).unwrap();
    path
}

// --- running kirjuri -----------------------------------------------------

/// The binary as these tests run it: quiet but for warnings.
fn binary() -> Kirjuri {
    Kirjuri::new(KIRJURI).env("KIRJURI_LOG", "warn")
}

/// Runs `kirjuri ARGS` with `envs`, feeding `stdin`.
fn kirjuri(args: &[&str], envs: &[(String, String)], stdin: Option<&str>) -> Output {
    binary()
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .run(args, stdin)
}

/// Like [`kirjuri`], asserting success; returns stdout.
fn kirjuri_ok(args: &[&str], envs: &[(String, String)], stdin: Option<&str>) -> String {
    binary()
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .run_ok(args, stdin)
}

/// A running `kirjuri serve` (killed when dropped) and a client for it.
struct Server {
    server: server::Server,
    client: reqwest::Client,
}

impl Server {
    fn start(args: &[&str], envs: &[(String, String)]) -> Server {
        // reqwest has no TLS crypto provider of its own here (kirjuri-vault
        // builds it without one); ring is the process-wide one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let server = server::Server::start(
            &binary().envs(envs.iter().map(|(k, v)| (k, v))),
            "kirjuri serve",
            args,
            Logs::default(),
        );
        Server {
            server,
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    async fn post_contact(&self, token: &str, contact: &Value) -> String {
        let response = self
            .client
            .post(self.url("/api/v1/contacts"))
            .bearer_auth(token)
            .json(contact)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    /// `POST path` with `body` as `token`, which must succeed; its answer.
    async fn post_ok(&self, token: &str, path: &str, body: &Value) -> Value {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "POST {path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// What a user sees of a request after a move: its reference, state,
    /// due date and timeline.
    async fn request(&self, token: &str, id: &str) -> Value {
        let response = self.get(token, &format!("/api/v1/requests/{id}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        let shown: Value = response.json().await.unwrap();
        json!({
            "reference": shown["reference"],
            "state": shown["state"],
            "due_date": shown["due_date"],
            "timeline": shown["timeline"],
        })
    }

    async fn put_recording(&self, token: &str, id: &str, wav: Vec<u8>) {
        let response = self
            .client
            .put(self.url(&format!("/api/v1/contacts/{id}/recording")))
            .bearer_auth(token)
            .header("content-type", "audio/wav")
            .body(wav)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        match self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) => panic!(
                "GET {path} failed ({e}); the server's stderr:\n{}",
                self.server.stderr()
            ),
        }
    }

    async fn contact(&self, token: &str, id: &str) -> Value {
        let response = self
            .get(token, &format!("/api/v1/contacts/{id}?purpose={PURPOSE}"))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    async fn recording(&self, token: &str, id: &str) -> Vec<u8> {
        let response = self
            .get(
                token,
                &format!("/api/v1/contacts/{id}/recording?purpose={PURPOSE}"),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.bytes().await.unwrap().to_vec()
    }

    /// Contact ids of a phone search, sorted.
    async fn search_phone(&self, token: &str, phone: &str) -> Vec<String> {
        let url = reqwest::Url::parse_with_params(
            &self.url("/api/v1/contacts"),
            &[("phone", phone), ("purpose", PURPOSE)],
        )
        .unwrap();
        let response = self
            .client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        let mut ids: Vec<String> = body["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    }

    /// Signs in through the API; the session cookie.
    async fn sign_in(&self, name: &str) -> String {
        let response = self
            .client
            .post(self.url("/api/v1/session"))
            .json(&json!({"name": name, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = response
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap();
        cookie.split(';').next().unwrap().trim().to_owned()
    }

    async fn whoami(&self, cookie: &str) -> StatusCode {
        self.client
            .get(self.url("/api/v1/session"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// SIGTERM: a graceful stop, which signs the last checkpoint.
    fn stop(mut self) {
        self.server.stop();
    }
}

// --- the source register -------------------------------------------------

/// What the source register holds, to compare the target against.
struct Source {
    /// The populated data folder (copied by each test, never migrated itself).
    dir: PathBuf,
    /// The integration's and the supervisor's tokens.
    pbx: String,
    sanna: String,
    /// Contacts that still hold a recording: id, contact JSON as served, and
    /// recording bytes.
    contacts: Vec<(String, Value, Vec<u8>)>,
    /// Ids of the contacts with the shared phone number, sorted.
    shared_phone: Vec<String>,
    /// A browser session of `sanna`'s.
    cookie: String,
    /// The registrar's token.
    rita: String,
    /// Data-subject requests: id, and reference, state, due date and
    /// timeline as served.
    requests: Vec<(String, Value)>,
}

/// A stereo 16-bit 8 kHz WAV of `seconds` seconds.
fn recording(seconds: u32, seed: u32) -> Vec<u8> {
    let mut wav = synth::wav_bytes(Encoding::PcmS16, 2, 8000, seconds * 8000, false);
    // Different bytes per recording (a recording is stored once per content).
    let at = wav.len() - 4;
    wav[at..].copy_from_slice(&seed.to_le_bytes());
    wav
}

fn source() -> &'static Source {
    static SOURCE: OnceLock<Source> = OnceLock::new();
    SOURCE.get_or_init(|| {
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(populate())
        })
        .join()
        .unwrap()
    })
}

async fn populate() -> Source {
    let dir = scratch("source");
    let data = dir.display().to_string();
    let d = ["--data", data.as_str()];
    for (name, role) in [
        ("pbx", "integration"),
        ("sanna", "supervisor"),
        ("rita", "registrar"),
    ] {
        kirjuri_ok(
            &[
                "user",
                "add",
                name,
                "--role",
                role,
                "--password-stdin",
                d[0],
                d[1],
            ],
            &[],
            Some(&format!("{PASSWORD}\n")),
        );
    }
    kirjuri_ok(
        &["user", "add", "aino", "--role", "agent", d[0], d[1]],
        &[],
        None,
    );
    let pbx = kirjuri_ok(&["token", "create", "--user", "pbx", d[0], d[1]], &[], None)
        .trim()
        .to_owned();
    let sanna = kirjuri_ok(
        &["token", "create", "--user", "sanna", d[0], d[1]],
        &[],
        None,
    )
    .trim()
    .to_owned();
    let rita = kirjuri_ok(
        &["token", "create", "--user", "rita", d[0], d[1]],
        &[],
        None,
    )
    .trim()
    .to_owned();

    let server = Server::start(&d, &[]);
    let mut contacts = Vec::new();
    let mut shared_phone = Vec::new();
    for (i, phone) in [SHARED_PHONE, "050 765 4321", SHARED_PHONE]
        .iter()
        .enumerate()
    {
        let contact = json!({
            "external_id": format!("pbx-{i}"),
            "channel": "call_in",
            "started_at": "2026-11-29T09:15:02+02:00",
            "ended_at": "2026-11-29T09:16:02+02:00",
            "service": "water-billing",
            "agent": "aino",
            "customer": {"name": format!("Asiakas {i}"), "phone": phone,
                         "email": format!("asiakas{i}@example.fi")},
            "property": {"property_id": "91-403-1-1"},
        });
        let id = server.post_contact(&pbx, &contact).await;
        let wav = recording(3 + i as u32, i as u32);
        server.put_recording(&pbx, &id, wav.clone()).await;
        if *phone == SHARED_PHONE {
            shared_phone.push(id.clone());
        }
        contacts.push((id, wav));
    }
    // A call from long ago: past its deadline, so the purge destroys it and
    // leaves tombstones.
    let old = json!({
        "external_id": "pbx-old",
        "channel": "call_in",
        "started_at": "2020-01-10T09:00:00+02:00",
        "agent": "aino",
        "customer": {"phone": "040 999 0000"},
    });
    let old_id = server.post_contact(&pbx, &old).await;
    server.put_recording(&pbx, &old_id, recording(2, 99)).await;
    // The recordings' waveforms are made on first read, as a user's first
    // listen would.
    for (id, _) in &contacts {
        let _ = server.recording(&sanna, id).await;
    }
    // Data-subject requests, each queueing its receipt in the outbox: one
    // with a live code (queued too), nothing proven; one checked in person
    // and answered (closed, kept three years); one awaiting identity.
    let mut request_ids = Vec::new();
    for i in 0..3 {
        let body = json!({
            "types": ["access"],
            "channel": "in_person",
            "language": "fi",
            "identifiers": {"phone": [SHARED_PHONE], "email": [format!("asiakas{i}@example.fi")]},
            "name": format!("Asiakas {i}"),
        });
        let created = server.post_ok(&rita, "/api/v1/requests", &body).await;
        request_ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let verification = |id: &str| format!("/api/v1/requests/{id}/verification");
    let transition = |id: &str| format!("/api/v1/requests/{id}/transition");
    let code = json!({"method": "sms_code", "send_to": {"kind": "phone", "value": SHARED_PHONE}});
    server
        .post_ok(&rita, &verification(&request_ids[0]), &code)
        .await;
    let in_person =
        json!({"method": "in_person", "document_type": "passport", "document_last4": "X9Q7"});
    server
        .post_ok(&rita, &verification(&request_ids[1]), &in_person)
        .await;
    for step in ["start", "answer"] {
        server
            .post_ok(
                &rita,
                &transition(&request_ids[1]),
                &json!({ "transition": step }),
            )
            .await;
    }
    server
        .post_ok(
            &rita,
            &transition(&request_ids[2]),
            &json!({"transition": "ask_identity"}),
        )
        .await;
    server.stop();

    let hold = kirjuri(
        &[
            "hold",
            "add",
            "--contact",
            &contacts[0].0,
            "--ground",
            "case 2026/17",
            "--owner",
            "rita",
            "--review",
            "2027-06-30",
            d[0],
            d[1],
        ],
        &[],
        None,
    );
    assert!(hold.status.success(), "hold add: {}", text(&hold));
    let purge = kirjuri(&["purge", d[0], d[1]], &[], None);
    assert!(purge.status.success(), "purge: {}", text(&purge));
    // The register as a user sees it now: served once more, to compare the
    // migrated register with.
    let server = Server::start(&d, &[]);
    let mut served = Vec::new();
    for (id, wav) in contacts {
        let contact = server.contact(&sanna, &id).await;
        assert_eq!(server.recording(&sanna, &id).await, wav);
        served.push((id, contact, wav));
    }
    shared_phone.sort();
    assert_eq!(
        server.search_phone(&sanna, SHARED_PHONE).await,
        shared_phone
    );
    let mut requests = Vec::new();
    for id in request_ids {
        let shown = server.request(&rita, &id).await;
        requests.push((id, shown));
    }
    let states: Vec<_> = requests.iter().map(|(_, r)| r["state"].clone()).collect();
    assert_eq!(states, ["received", "answered", "awaiting_identity"]);
    let cookie = server.sign_in("sanna").await;
    server.stop();
    kirjuri_ok(&["audit", "checkpoint", d[0], d[1]], &[], None);
    kirjuri_ok(&["audit", "verify", d[0], d[1]], &[], None);

    Source {
        dir,
        pbx,
        sanna,
        contacts: served,
        shared_phone,
        cookie,
        rita,
        requests,
    }
}

/// A private copy of the source folder (without its dead processes' lock
/// files), as an operator's cold copy would be.
fn copy_of_source(to: &Path) -> PathBuf {
    let dir = to.join("source");
    copy_tree(&source().dir, &dir);
    dir
}

/// Runs `migrate-store` from `source` into the database at `url` and the
/// bucket prefix of `config`.
fn migrate(source: &Path, config: &Path, url: &str, extra: &[&str]) -> Output {
    let from = source.display().to_string();
    let config = config.display().to_string();
    let mut args = vec!["migrate-store", "--from", &from, "--config", &config];
    args.extend_from_slice(extra);
    let mut envs = garage().aws_env();
    envs.push(("KIRJURI_DATABASE__URL".into(), url.to_owned()));
    kirjuri(&args, &envs, None)
}

/// The `table source target` lines of a report.
fn report_counts(stdout: &str) -> BTreeMap<String, (u64, u64)> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let table = words.next()?;
            let source = words.next()?.parse().ok()?;
            let target = words.next()?.parse().ok()?;
            Some((table.to_owned(), (source, target)))
        })
        .collect()
}

// --- the tests -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migrated_register_is_served_from_postgresql_and_s3_exactly_as_before() {
    let src = source();
    let dir = scratch("round-trip");
    let from = copy_of_source(&dir);
    let database = TestDatabase::create().await;
    let url = database.url.clone();
    let config = node_config(&dir, &from, &fresh_prefix("migrate"));

    let output = migrate(&from, &config, &url, &[]);

    assert!(
        output.status.success(),
        "migrate-store failed: {}",
        text(&output)
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        stdout.contains("verified: every table equal row for row"),
        "{stdout}"
    );
    let counts = report_counts(&stdout);
    for (table, at_least) in [
        ("users", 4),
        ("api_tokens", 2),
        ("sessions", 1),
        ("contacts", 4),
        ("contact_index", 8),
        ("objects", 3),
        ("legal_holds", 1),
        ("legal_hold_targets", 1),
        ("tombstones", 2),
        ("audit_events", 20),
        ("audit_checkpoints", 1),
        ("outbox", 4),
        ("requests", 3),
        ("request_identifiers", 6),
        ("request_verifications", 1),
        ("request_codes", 1),
        ("request_events", 7),
    ] {
        let (source_rows, target_rows) = counts
            .get(table)
            .unwrap_or_else(|| panic!("no {table} line in the report:\n{stdout}"));
        assert_eq!(source_rows, target_rows, "{table}: {stdout}");
        assert!(
            *source_rows >= at_least,
            "{table}: {source_rows} rows:\n{stdout}"
        );
    }
    for (table, name) in [
        ("contacts", "contacts"),
        ("objects", "objects"),
        ("audit_events", "audit_events"),
        ("tombstones", "tombstones"),
        ("outbox", "outbox"),
        ("requests", "requests"),
        ("request_events", "request_events"),
    ] {
        assert_eq!(
            count_rows(&url, table).await as u64,
            counts[name].1,
            "{table} in PostgreSQL"
        );
    }

    // The scale-out node serves the same register.
    let mut envs = garage().aws_env();
    envs.push(("KIRJURI_DATABASE__URL".into(), url.clone()));
    let config_arg = config.display().to_string();
    let node = Server::start(&["--config", &config_arg], &envs);
    for (id, before, wav) in &src.contacts {
        let after = node.contact(&src.sanna, id).await;
        assert_eq!(&after, before, "contact {id} as served after the move");
        assert_eq!(
            &node.recording(&src.sanna, id).await,
            wav,
            "recording of {id}"
        );
    }
    assert_eq!(
        node.search_phone(&src.sanna, SHARED_PHONE).await,
        src.shared_phone
    );
    for (id, before) in &src.requests {
        assert_eq!(
            &node.request(&src.rita, id).await,
            before,
            "request {id} as served after the move"
        );
    }
    assert_eq!(
        node.whoami(&src.cookie).await,
        StatusCode::OK,
        "a browser session survives the move"
    );
    // The integration still delivers, and the new contact is found too.
    let new = node
        .post_contact(
            &src.pbx,
            &json!({"channel": "call_in", "started_at": "2026-12-01T10:00:00+02:00",
                    "agent": "aino", "customer": {"phone": SHARED_PHONE}}),
        )
        .await;
    node.put_recording(&src.pbx, &new, recording(1, 7)).await;
    assert!(
        node.search_phone(&src.sanna, SHARED_PHONE)
            .await
            .contains(&new)
    );
    node.stop();

    let verify = kirjuri(&["audit", "verify", "--config", &config_arg], &envs, None);
    assert!(
        verify.status.success(),
        "audit verify on the target: {}",
        text(&verify)
    );
    assert!(String::from_utf8_lossy(&verify.stdout).contains("audit log intact"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_is_not_empty_is_refused_and_verify_only_checks_a_finished_one() {
    let dir = scratch("not-empty");
    let from = copy_of_source(&dir);
    let database = TestDatabase::create().await;
    let url = database.url.clone();
    let config = node_config(&dir, &from, &fresh_prefix("migrate"));
    let first = migrate(&from, &config, &url, &[]);
    assert!(first.status.success(), "{}", text(&first));
    let events = count_rows(&url, "audit_events").await;

    let again = migrate(&from, &config, &url, &[]);

    assert!(
        !again.status.success(),
        "a second run must refuse: {}",
        text(&again)
    );
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("the target database is not empty"),
        "{stderr}"
    );
    assert!(stderr.contains("--verify-only"), "{stderr}");
    assert_eq!(
        count_rows(&url, "audit_events").await,
        events,
        "nothing written"
    );

    let verify = migrate(&from, &config, &url, &["--verify-only"]);
    assert!(verify.status.success(), "--verify-only: {}", text(&verify));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("verified: every table"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_after_a_crash_reuses_the_objects_already_copied_and_a_foreign_bucket_is_refused() {
    let dir = scratch("rerun");
    let from = copy_of_source(&dir);
    let prefix = fresh_prefix("migrate");
    let config = node_config(&dir, &from, &prefix);
    // A run that copied the objects and died before its database commit
    // leaves exactly this: the objects in the bucket, an empty database.
    let crashed = TestDatabase::create().await;
    let first = migrate(&from, &config, &crashed.url, &[]);
    assert!(first.status.success(), "{}", text(&first));

    let database = TestDatabase::create().await;
    let url = database.url.clone();
    let rerun = migrate(&from, &config, &url, &[]);

    assert!(rerun.status.success(), "the re-run: {}", text(&rerun));
    let objects = report_counts(&String::from_utf8_lossy(&first.stdout))["objects"].0;
    assert!(
        objects >= 3,
        "recordings and their waveforms: {}",
        text(&first)
    );
    let stderr = String::from_utf8_lossy(&rerun.stderr);
    assert!(
        stderr.contains(&format!("0 copied, {objects} already in the target")),
        "{stderr}"
    );

    // Another register's objects in the bucket: refused, nothing written.
    let other_dir = dir.join("other");
    kirjuri_ok(
        &[
            "user",
            "add",
            "x",
            "--role",
            "admin",
            "--data",
            &other_dir.display().to_string(),
        ],
        &[],
        None,
    );
    let other = TestDatabase::create().await;
    let other_url = other.url.clone();
    let foreign = migrate(&other_dir, &config, &other_url, &[]);
    assert!(!foreign.status.success(), "{}", text(&foreign));
    let stderr = String::from_utf8_lossy(&foreign.stderr);
    assert!(stderr.contains("that are not this register's"), "{stderr}");
    assert_eq!(count_rows(&other_url, "users").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_and_wrong_credentials_fail_clearly_without_the_password() {
    let dir = scratch("unreachable");
    let from = copy_of_source(&dir);
    let config = node_config(&dir, &from, &fresh_prefix("migrate"));
    let secret = "Pw-9f3a1c-never-shown";
    // Port 1 on loopback: nothing listens there.
    let unreachable = format!("postgres://kirjuri:{secret}@127.0.0.1:1/kirjuri");
    let server = server_url()
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(host, _)| host.to_owned())
        .unwrap();
    let wrong_role = format!("postgres://no_such_role:{secret}@{server}/postgres");

    for url in [unreachable, wrong_role] {
        let output = migrate(&from, &config, &url, &[]);

        assert!(!output.status.success(), "{}", text(&output));
        let all = text(&output);
        assert!(
            all.contains("failed to connect to the target database postgres://"),
            "{all}"
        );
        assert!(
            all.contains(":***@"),
            "the URL is named with its password masked: {all}"
        );
        assert!(!all.contains(secret), "the password leaked: {all}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_folder_in_use_is_refused() {
    let dir = scratch("in-use");
    let from = copy_of_source(&dir);
    let database = TestDatabase::create().await;
    let url = database.url.clone();
    let config = node_config(&dir, &from, &fresh_prefix("migrate"));
    let data = from.display().to_string();
    let running = Server::start(&["--data", &data], &[]);

    let output = migrate(&from, &config, &url, &[]);

    running.stop();
    assert!(!output.status.success(), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is in use by 1 running kirjuri process"),
        "{stderr}"
    );
    assert_eq!(
        count_rows(&url, "pg_tables WHERE tablename = 'users'").await,
        0
    );

    let missing = migrate(&dir.join("nothing-here"), &config, &url, &[]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("is not a Kirjuri data folder"),
        "{}",
        text(&missing)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_declared_outside_the_eu_is_refused_before_anything_is_copied() {
    let dir = scratch("outside-eu");
    let from = copy_of_source(&dir);
    let database = TestDatabase::create().await;
    let url = database.url.clone();
    let config = node_config(&dir, &from, &fresh_prefix("migrate"));
    let text_of = std::fs::read_to_string(&config).unwrap();
    // The first `country` is the database's.
    std::fs::write(
        &config,
        text_of.replacen("country = \"FI\"", "country = \"US\"", 1),
    )
    .unwrap();

    let output = migrate(&from, &config, &url, &[]);

    assert!(!output.status.success(), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("database.country"), "{stderr}");
    assert!(stderr.contains("outside the EU/EEA"), "{stderr}");
    assert_eq!(
        count_rows(&url, "pg_tables WHERE tablename = 'users'").await,
        0,
        "nothing was created in the target"
    );
}
