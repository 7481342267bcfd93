//! The test harness: `spawn_app()` starts the real `kirjuri serve` on port 0
//! over a fresh data folder holding four accounts — the integration `pbx`,
//! the agents `aino` and `bertta`, the supervisor `sanna` — each with an API
//! token, and returns a [`TestApp`] with a method per endpoint, the captured
//! stdout/stderr of the server, and the means to kill, stop and restart it.
//!
//! Accounts are made once per test run, with the real `user add` and `token
//! create` commands, in a template folder that every test copies: an Argon2id
//! hash in a debug build is slow, and thirty tests each making four accounts
//! would dominate the run. Copying a folder no process has open is exactly
//! what an operator's cold backup does, so the copy is a faithful data folder.
//!
//! Not here: assertions about behaviour (those live in the test modules), and
//! anything that links the server crates — the tests see only the interface.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kirjuri_core::wav::Encoding;
use kirjuri_core::wav::synth;
use reqwest::{Body, Response, StatusCode};
use serde_json::{Value, json};

/// The binary under test.
pub const KIRJURI: &str = env!("CARGO_BIN_EXE_kirjuri");

/// A purpose every reading role may state (ACC-2).
pub const PURPOSE: &str = "complaint_verification";

/// Plaintext recording segments are this long (SEC-3); range tests cross them.
pub const SEGMENT: u64 = 64 * 1024;

/// How long the server may take to start before a test gives up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The bearer tokens of the four accounts every test app has.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// Integration account `pbx`: delivers, never reads.
    pub pbx: String,
    /// Agent `aino`.
    pub aino: String,
    /// Agent `bertta`.
    pub bertta: String,
    /// Supervisor `sanna`.
    pub sanna: String,
}

/// A data folder with the accounts already made, copied by every test.
struct Template {
    dir: PathBuf,
    tokens: Tokens,
}

static TEMPLATE: OnceLock<Template> = OnceLock::new();

/// Runs `kirjuri ARGS --data DIR`, feeding `stdin`; panics with its output on failure.
fn kirjuri_ok(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let output = run_kirjuri(dir, args, stdin, &[]);
    assert!(
        output.status.success(),
        "kirjuri {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("kirjuri prints UTF-8")
}

/// Runs `kirjuri ARGS --data DIR` with `envs` and returns what happened.
pub fn run_kirjuri(
    dir: &Path,
    args: &[&str],
    stdin: Option<&str>,
    envs: &[(String, String)],
) -> Output {
    let mut command = Command::new(KIRJURI);
    command
        .args(args)
        .arg("--data")
        .arg(dir)
        .env_remove("KIRJURI_DATA")
        .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("the kirjuri binary starts");
    if let Some(text) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(text.as_bytes())
            .expect("write to kirjuri's stdin");
    }
    child
        .wait_with_output()
        .expect("kirjuri runs to completion")
}

fn template() -> &'static Template {
    TEMPLATE.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        remove_stale_templates(&root);
        let dir = root.join(format!("api-template-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the template folder");
        for (name, role) in [
            ("pbx", "integration"),
            ("aino", "agent"),
            ("bertta", "agent"),
            ("sanna", "supervisor"),
        ] {
            let password = format!("Api-Test-Passw0rd-{name}-{role}\n");
            kirjuri_ok(
                &dir,
                &["user", "add", name, "--role", role, "--password-stdin"],
                Some(&password),
            );
        }
        let token = |user: &str| {
            let out = kirjuri_ok(&dir, &["token", "create", "--user", user], None);
            let token = out.trim().to_owned();
            assert!(
                !token.is_empty() && !token.contains(char::is_whitespace),
                "token create prints only the token, got {out:?}"
            );
            token
        };
        let tokens = Tokens {
            pbx: token("pbx"),
            aino: token("aino"),
            bertta: token("bertta"),
            sanna: token("sanna"),
        };
        Template { dir, tokens }
    })
}

/// Removes templates left by earlier test runs whose process is gone.
fn remove_stale_templates(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("api-template-")
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Copies a folder tree, leaving out the liveness lock files of the commands
/// that made it (they are dead; a server would only sweep them away).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a folder in the copy");
    for entry in std::fs::read_dir(from).expect("list the template") {
        let entry = entry.expect("template entry");
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            if entry.file_name() != "instances" {
                copy_tree(&path, &target);
            }
        } else {
            std::fs::copy(&path, &target).expect("copy a template file");
        }
    }
}

/// Everything a server has printed, across restarts.
#[derive(Debug, Default)]
struct Logs {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// A running `kirjuri serve`.
#[derive(Debug)]
struct Server {
    child: Child,
}

/// A Kirjuri server over its own data folder, and a client for its API.
pub struct TestApp {
    /// `http://127.0.0.1:PORT` of the running server.
    pub address: String,
    /// The HTTP client (no proxy, generous timeout).
    pub client: reqwest::Client,
    /// The accounts' tokens.
    pub tokens: Tokens,
    /// Extra environment for `serve` (e.g. `KIRJURI_MAX_RECORDING_BYTES`).
    envs: Vec<(String, String)>,
    /// The data folder; removed when the app is dropped.
    data: tempfile::TempDir,
    /// The server process, when running.
    server: Option<Server>,
    /// What the server printed.
    logs: Arc<Mutex<Logs>>,
}

/// Starts a server over a fresh data folder with the four accounts.
pub async fn spawn_app() -> TestApp {
    spawn_app_with_env(&[]).await
}

/// Like [`spawn_app`], with extra environment variables for `serve`.
pub async fn spawn_app_with_env(envs: &[(&str, &str)]) -> TestApp {
    let template = template();
    let data = tempfile::Builder::new()
        .prefix("kirjuri-api-")
        .tempdir()
        .expect("create a data folder");
    copy_tree(&template.dir, data.path());
    // reqwest is built without a TLS crypto provider (object_store's
    // features); the process-wide one is ring's, as everywhere else.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("build an HTTP client");
    let mut app = TestApp {
        address: String::new(),
        client,
        tokens: template.tokens.clone(),
        envs: envs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        data,
        server: None,
        logs: Arc::new(Mutex::new(Logs::default())),
    };
    app.start();
    app
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.child.kill();
            let _ = server.child.wait();
        }
    }
}

impl TestApp {
    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// Starts `kirjuri serve` and waits for its `listening on` line.
    pub fn start(&mut self) {
        assert!(self.server.is_none(), "the server is already running");
        let mut child = Command::new(KIRJURI)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(self.data.path())
            .env_remove("KIRJURI_DATA")
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kirjuri serve starts");
        let (listening, address) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let logs = Arc::clone(&self.logs);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                let text = String::from_utf8_lossy(&line);
                if let Some(at) = text.find("listening on http://") {
                    let url = text[at + "listening on ".len()..].trim().to_owned();
                    let _ = listening.send(url);
                }
                logs.lock()
                    .expect("logs lock")
                    .stdout
                    .extend_from_slice(&line);
                line.clear();
            }
        });
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let logs = Arc::clone(&self.logs);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                logs.lock()
                    .expect("logs lock")
                    .stderr
                    .extend_from_slice(&buffer[..n]);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match address.recv_timeout(Duration::from_millis(100)) {
                Ok(url) => {
                    self.address = url;
                    break;
                }
                Err(_) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!(
                            "kirjuri serve exited ({status}) before listening:\n{}",
                            self.stderr()
                        );
                    }
                    assert!(
                        Instant::now() < deadline,
                        "kirjuri serve did not print 'listening on' in time"
                    );
                }
            }
        }
        self.server = Some(Server { child });
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.server
            .as_ref()
            .expect("the server is running")
            .child
            .id()
    }

    /// SIGKILLs the server (no chance to clean up) and waits for it to die.
    pub fn kill9(&mut self) {
        let mut server = self.server.take().expect("the server is running");
        server.child.kill().expect("SIGKILL the server");
        server.child.wait().expect("reap the server");
    }

    /// Kills the server with SIGKILL and starts a new one on the same folder.
    pub fn restart(&mut self) {
        if self.server.is_some() {
            self.kill9();
        }
        self.start();
    }

    /// Sends SIGTERM (a graceful shutdown request) to the server.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits up to `timeout` for the server to exit and returns its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let server = self.server.as_mut().expect("the server is running");
        loop {
            if let Some(status) = server.child.try_wait().expect("poll the server") {
                self.server = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server gracefully (SIGTERM) and asserts it exits cleanly.
    pub fn stop(&mut self) {
        self.terminate();
        let status = self.wait_exit(Duration::from_secs(30));
        assert!(
            status.success(),
            "kirjuri serve exited with {status} after SIGTERM:\n{}",
            self.stderr()
        );
    }

    /// Everything the server wrote to stderr (its log) so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.logs.lock().expect("logs lock").stderr).into_owned()
    }

    /// stdout and stderr bytes together, for leak scans.
    pub fn log_bytes(&self) -> Vec<u8> {
        let logs = self.logs.lock().expect("logs lock");
        let mut all = logs.stdout.clone();
        all.extend_from_slice(&logs.stderr);
        all
    }

    /// Runs a `kirjuri` command on this app's data folder (the server may be running).
    pub fn cli(&self, args: &[&str]) -> Output {
        run_kirjuri(self.data.path(), args, None, &self.envs)
    }

    /// A URL on the server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    // ---- endpoints -------------------------------------------------------

    /// `GET /healthz`, without credentials.
    pub async fn healthz(&self) -> Response {
        self.client
            .get(self.url("/healthz"))
            .send()
            .await
            .expect("GET /healthz")
    }

    /// `POST /api/v1/contacts` with a JSON contact.
    pub async fn create_contact(&self, token: &str, contact: &Value) -> Response {
        let body = serde_json::to_vec(contact).expect("serialise a contact");
        self.post_contact_raw(Some(token), Some("application/json"), body)
            .await
    }

    /// `POST /api/v1/contacts` with any body, Content-Type and credentials.
    pub async fn post_contact_raw(
        &self,
        token: Option<&str>,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> Response {
        let mut request = self.client.post(self.url("/api/v1/contacts")).body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(content_type) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        request.send().await.expect("POST /api/v1/contacts")
    }

    /// `PUT /api/v1/contacts/{id}/recording` with `audio/wav` bytes.
    pub async fn upload_recording(
        &self,
        token: &str,
        id: &str,
        bytes: impl Into<Body>,
    ) -> Response {
        self.upload_recording_raw(Some(token), id, Some("audio/wav"), bytes)
            .await
    }

    /// `PUT /api/v1/contacts/{id}/recording` with any body, Content-Type and credentials.
    pub async fn upload_recording_raw(
        &self,
        token: Option<&str>,
        id: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> Response {
        let mut request = self
            .client
            .put(self.url(&format!("/api/v1/contacts/{id}/recording")))
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(content_type) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        request.send().await.expect("PUT …/recording")
    }

    /// `GET /api/v1/contacts/{id}?purpose=…`.
    pub async fn get_contact(&self, token: &str, id: &str, purpose: Option<&str>) -> Response {
        let url = with_query(
            &self.url(&format!("/api/v1/contacts/{id}")),
            &purpose_query(purpose),
        );
        self.get(Some(token), &url, None).await
    }

    /// `GET /api/v1/contacts?…` with exactly the given parameters.
    pub async fn search(&self, token: &str, query: &[(&str, &str)]) -> Response {
        let url = with_query(&self.url("/api/v1/contacts"), query);
        self.get(Some(token), &url, None).await
    }

    /// `GET /api/v1/contacts/{id}/recording?purpose=…`, optionally with `Range`.
    pub async fn get_recording(
        &self,
        token: &str,
        id: &str,
        purpose: Option<&str>,
        range: Option<&str>,
    ) -> Response {
        let url = with_query(
            &self.url(&format!("/api/v1/contacts/{id}/recording")),
            &purpose_query(purpose),
        );
        self.get(Some(token), &url, range).await
    }

    /// A GET of a full URL with optional credentials and `Range`.
    pub async fn get(&self, token: Option<&str>, url: &str, range: Option<&str>) -> Response {
        let mut request = self.client.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(range) = range {
            request = request.header(reqwest::header::RANGE, range);
        }
        request.send().await.expect("GET")
    }

    // ---- conveniences ----------------------------------------------------

    /// Delivers `contact` as the integration and returns its id, asserting 201.
    pub async fn new_contact(&self, contact: &Value) -> String {
        let response = self.create_contact(&self.tokens.pbx, contact).await;
        let status = response.status();
        let body: Value = response.json().await.expect("a JSON answer");
        assert_eq!(status, StatusCode::CREATED, "creating a contact: {body}");
        body["id"].as_str().expect("an id").to_owned()
    }

    /// Delivers a minimal inbound call handled by `agent`; returns its id.
    pub async fn new_call(&self, agent: &str) -> String {
        self.new_contact(&call(agent)).await
    }

    /// Uploads `wav` as the integration, asserting 201; returns the acknowledgement.
    pub async fn store_recording(&self, id: &str, wav: &[u8]) -> Value {
        let response = self
            .upload_recording(&self.tokens.pbx, id, wav.to_vec())
            .await;
        let status = response.status();
        let ack: Value = response.json().await.expect("a JSON acknowledgement");
        assert_eq!(status, StatusCode::CREATED, "uploading a recording: {ack}");
        ack
    }

    /// The contact as the supervisor sees it, asserting 200.
    pub async fn contact_as_supervisor(&self, id: &str) -> Value {
        let response = self
            .get_contact(&self.tokens.sanna, id, Some(PURPOSE))
            .await;
        let status = response.status();
        let body: Value = response.json().await.expect("a JSON contact");
        assert_eq!(status, StatusCode::OK, "reading contact {id}: {body}");
        body
    }

    /// The recording's bytes as the supervisor downloads them, asserting 200.
    pub async fn recording_as_supervisor(&self, id: &str) -> Bytes {
        let response = self
            .get_recording(&self.tokens.sanna, id, Some(PURPOSE), None)
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "downloading the recording of {id}"
        );
        response.bytes().await.expect("the recording body")
    }

    /// Ids of every contact the supervisor finds (up to 500).
    pub async fn all_contact_ids(&self) -> BTreeSet<String> {
        let response = self
            .search(
                &self.tokens.sanna,
                &[
                    ("from", "2000-01-01"),
                    ("limit", "500"),
                    ("purpose", PURPOSE),
                ],
            )
            .await;
        let body = json_ok(response).await;
        ids_of(&body)
    }

    /// Every file under the data folder's `objects/` (temporary uploads included).
    pub fn object_files(&self) -> Vec<PathBuf> {
        files_under(&self.data_dir().join("objects"))
    }
}

// ---- free helpers ------------------------------------------------------------

fn purpose_query(purpose: Option<&str>) -> Vec<(&str, &str)> {
    purpose.map(|p| vec![("purpose", p)]).unwrap_or_default()
}

/// `base` with `query` appended, percent-encoded.
pub fn with_query(base: &str, query: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse(base).expect("a valid URL");
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    url.to_string()
}

/// A minimal inbound call handled by `agent`.
pub fn call(agent: &str) -> Value {
    json!({
        "channel": "call_in",
        "started_at": "2026-11-29T09:15:02+02:00",
        "ended_at": "2026-11-29T09:19:40+02:00",
        "service": "water-billing",
        "agent": agent,
    })
}

/// the README's example contact, with the given external id.
pub fn design_example(external_id: &str) -> Value {
    json!({
        "external_id": external_id,
        "channel": "call_in",
        "started_at": "2026-11-29T09:15:02+02:00",
        "ended_at": "2026-11-29T09:19:40+02:00",
        "service": "water-billing",
        "agent": "aino",
        "customer": {"name": "Matti Meikäläinen", "phone": "040 123 4567",
                     "phone_withheld": false, "email": "matti@example.fi",
                     "address": "Esimerkkitie 1, 00100 Helsinki", "language": "fi"},
        "contact_person": {"name": "Isännöinti Oy / Liisa", "phone": "+358 9 123 456"},
        "account": {"customer_number": "123456", "billing": "monthly", "payment_status": "paid"},
        "property": {"name": "As Oy Esimerkki", "address": "Esimerkkitie 1",
                     "property_id": "91-403-1-1", "type": "apartment_building",
                     "connection": "DN32", "details": "meter in the basement"},
        "service_content": "Water bill complaint"
    })
}

/// Asserts a 2xx-free error answer: the status, and the `{"error":{"code",
/// "message"}}` shape with both non-empty. Returns (code, message).
pub async fn assert_error(response: Response, status: StatusCode) -> (String, String) {
    let got = response.status();
    let text = response.text().await.expect("an error body");
    assert_eq!(got, status, "expected {status}, got {got}: {text}");
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the error body is not JSON ({e}): {text:?}"));
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        !code.is_empty() && !message.is_empty(),
        "the error body lacks code or message: {text}"
    );
    (code, message)
}

/// Asserts 200 and returns the JSON body.
pub async fn json_ok(response: Response) -> Value {
    let status = response.status();
    let text = response.text().await.expect("a body");
    assert_eq!(status, StatusCode::OK, "expected 200: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The ids in a search answer, checking that `count` agrees with the list.
pub fn ids_of(search: &Value) -> BTreeSet<String> {
    let contacts = search["contacts"]
        .as_array()
        .unwrap_or_else(|| panic!("no contacts array: {search}"));
    assert_eq!(
        search["count"].as_u64(),
        Some(contacts.len() as u64),
        "count disagrees with the list: {search}"
    );
    contacts
        .iter()
        .map(|c| c["id"].as_str().expect("a contact id").to_owned())
        .collect()
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = sha2check::digest::digest(&sha2check::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A short valid WAV: mono 16-bit PCM at 8 kHz, `frames` frames of tone.
pub fn wav(frames: u32) -> Vec<u8> {
    synth::wav_bytes(Encoding::PcmS16, 1, 8000, frames, false)
}

/// A valid stereo 16-bit 8 kHz WAV of `data_len` bytes of pseudo-random audio
/// (fast to make at any size; `seed` makes each file different).
pub fn noise_wav(data_len: usize, seed: u64) -> Vec<u8> {
    let data_len = data_len / 4 * 4;
    let mut wav = synth::header(Encoding::PcmS16, 2, 8000, data_len as u64, false);
    let total = wav.len() + data_len;
    wav.reserve(data_len + 8);
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while wav.len() < total {
        // xorshift64: fast, and never the same file for two seeds.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        wav.extend_from_slice(&state.to_le_bytes());
    }
    wav.truncate(total);
    wav
}

/// Every regular file under `dir`, recursively (none if it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// For each needle found in any file under `dir`, the needle's label and the file.
pub fn find_in_files(dir: &Path, needles: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files_under(dir) {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        for (label, needle) in needles {
            if contains(&bytes, needle) {
                found.push(format!("{label} in {}", file.display()));
            }
        }
    }
    found
}

/// A request body that yields `bytes` in `chunk`-sized pieces with `pause`
/// between them, setting `sent_all` once the last piece has been handed over.
/// Without a length, so it goes out chunked, as a live recorder streams.
pub fn slow_body(bytes: Bytes, chunk: usize, pause: Duration, sent_all: Arc<AtomicBool>) -> Body {
    let stream =
        futures::stream::unfold((bytes, sent_all), move |(mut rest, sent_all)| async move {
            if rest.is_empty() {
                sent_all.store(true, Ordering::SeqCst);
                return None;
            }
            tokio::time::sleep(pause).await;
            let piece = rest.split_to(chunk.min(rest.len()));
            Some((Ok::<Bytes, std::io::Error>(piece), (rest, sent_all)))
        });
    Body::wrap_stream(stream)
}

/// A body streamed in pieces, with no Content-Length.
pub fn chunked_body(bytes: Vec<u8>, chunk: usize) -> Body {
    let pieces: Vec<Result<Bytes, std::io::Error>> = bytes
        .chunks(chunk.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Body::wrap_stream(futures::stream::iter(pieces))
}

// ---- the audit log (AUD-1, AUD-2) ---------------------------------------------

impl TestApp {
    /// `GET /api/v1/audit?…` with exactly the given parameters.
    pub async fn audit_log(&self, token: &str, query: &[(&str, &str)]) -> Response {
        let url = with_query(&self.url("/api/v1/audit"), query);
        self.get(Some(token), &url, None).await
    }

    /// Makes an account with `role` through the command line and returns a
    /// bearer token for it.
    pub fn add_account(&self, name: &str, role: &str) -> String {
        let password = format!("Api-Test-Passw0rd-{name}-{role}\n");
        let output = run_kirjuri(
            self.data_dir(),
            &["user", "add", name, "--role", role, "--password-stdin"],
            Some(&password),
            &self.envs,
        );
        assert!(output.status.success(), "user add: {output:?}");
        let output = self.cli(&["token", "create", "--user", name]);
        assert!(output.status.success(), "token create: {output:?}");
        String::from_utf8(output.stdout)
            .expect("a UTF-8 token")
            .trim()
            .to_owned()
    }

    /// Runs SQL on the data folder's database with the `sqlite3` shell, as
    /// anyone holding the file could, and returns what it printed (blobs
    /// print raw; bytes that are not UTF-8 become U+FFFD).
    pub fn sql(&self, sql: &str) -> String {
        let output = Command::new("sqlite3")
            .args(["-cmd", ".timeout 10000", "-batch"])
            .arg(self.data_dir().join("kirjuri.db"))
            .arg(sql)
            .output()
            .expect("the sqlite3 shell runs (Debian package sqlite3)");
        assert!(
            output.status.success(),
            "sqlite3 {sql:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

// ---- accounts, as an operator and a supervisor see them -----------------------

impl TestApp {
    /// The `login.failed` events in the audit log with `reason`, as the
    /// supervisor `sanna` reads them through the API.
    pub async fn failed_logins(&self, reason: &str) -> usize {
        let events = json_ok(
            self.audit_log(
                &self.tokens.sanna,
                &[("action", "login.failed"), ("limit", "1000")],
            )
            .await,
        )
        .await;
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["details"]["reason"] == reason)
            .count()
    }

    /// An account's state in `kirjuri user list`: active, locked or disabled.
    pub fn account_state(&self, name: &str) -> String {
        let out = self.cli(&["user", "list"]);
        let list = String::from_utf8(out.stdout).unwrap();
        list.lines()
            .find(|l| l.starts_with(&format!("{name}\t")))
            .and_then(|l| l.split('\t').nth(2))
            .unwrap_or_else(|| panic!("{name} is not listed: {list}"))
            .to_owned()
    }
}

// ---- the server process, as the operating system sees it ---------------------

impl TestApp {
    /// The server's `host:port`, for raw sockets.
    pub fn socket_address(&self) -> std::net::SocketAddr {
        self.address
            .trim_start_matches("http://")
            .parse()
            .expect("the server listens on an IP address and port")
    }

    /// The server's resident memory now and at its peak (`VmRSS`, `VmHWM`
    /// from `/proc/<pid>/status`), in bytes.
    pub fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read the server's /proc status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().strip_suffix("kB"))
                .and_then(|kib| kib.trim().parse::<u64>().ok())
                .map(|kib| kib * 1024)
                .unwrap_or_else(|| panic!("no {name} in the server's /proc status"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// How many sockets the server holds open (listener included), from
    /// `/proc/<pid>/fd`.
    pub fn open_sockets(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(format!("/proc/{}/fd", self.pid())) else {
            return 0;
        };
        entries
            .flatten()
            .filter(|entry| {
                std::fs::read_link(entry.path())
                    .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
            })
            .count()
    }
}
