//! [`TestApp`]: the real `kirjuri serve` on port 0 over a fresh data folder
//! holding four accounts — the integration `pbx`, the agents `aino` and
//! `bertta`, the supervisor `sanna` — each with an API token, an HTTP client
//! and a method per endpoint, the captured stdout/stderr of the server, and
//! the means to kill, stop and restart it. The black-box API tests
//! (`crates/kirjuri/tests/api`) are written against it.
//!
//! Accounts are made once per test process, with the real `user add` and
//! `token create` commands, in a template folder that every app copies: an
//! Argon2id hash in a debug build is slow, and thirty tests each making four
//! accounts would dominate the run. Copying a folder no process has open is
//! exactly what an operator's cold backup does, so the copy is a faithful
//! data folder.
//!
//! Not here: assertions about behaviour (the tests), and the process itself
//! ([`crate::server`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use reqwest::{Body, Response, StatusCode};
use serde_json::Value;

use crate::fixtures::{PURPOSE, call, files_under, ids_of, json_ok, with_query};
use crate::server::{Kirjuri, Logs, Server};

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

/// A data folder with the accounts already made, copied by every app.
struct Template {
    dir: PathBuf,
    tokens: Tokens,
}

/// The folders templates live in: `<tmp>/kirjuri-api-template-<pid>`.
const TEMPLATE_PREFIX: &str = "kirjuri-api-template-";

/// The template of this process, made on first use with `binary`.
fn template(binary: &Path) -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let root = std::env::temp_dir();
        remove_stale_templates(&root);
        let dir = root.join(format!("{TEMPLATE_PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the template folder");
        let kirjuri = Kirjuri::new(binary).data(&dir);
        for (name, role) in [
            ("pbx", "integration"),
            ("aino", "agent"),
            ("bertta", "agent"),
            ("sanna", "supervisor"),
        ] {
            let password = format!("Api-Test-Passw0rd-{name}-{role}\n");
            kirjuri.run_ok(
                &["user", "add", name, "--role", role, "--password-stdin"],
                Some(&password),
            );
        }
        let token = |user: &str| {
            let out = kirjuri.run_ok(&["token", "create", "--user", user], None);
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
        if let Some(pid) = name.strip_prefix(TEMPLATE_PREFIX)
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The resident memory of process `pid` now and at its peak (`VmRSS`,
/// `VmHWM` from `/proc/<pid>/status`), in bytes; `None` if unreadable.
pub fn memory_of(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .and_then(|kib| kib.trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// A process's CPU time from `/proc/<pid>/stat`, in the kernel's clock
/// ticks (100 a second on Linux): its own (`utime + stime`), its reaped
/// children's (`cutime + cstime`), and its parent's pid; `None` if
/// unreadable.
#[derive(Debug, Clone, Copy)]
pub struct ProcessTimes {
    /// `utime + stime`.
    pub own: u64,
    /// `cutime + cstime`.
    pub reaped: u64,
    /// The parent's pid.
    pub parent: u32,
}

/// [`ProcessTimes`] of process `pid`.
pub fn process_times(pid: u32) -> Option<ProcessTimes> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is field 3, ppid 4, utime 14, stime 15, cutime 16, cstime 17.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let number = |field: usize| fields.get(field - 3).and_then(|f| f.parse::<u64>().ok());
    Some(ProcessTimes {
        own: number(14)? + number(15)?,
        reaped: number(16)? + number(17)?,
        parent: u32::try_from(number(4)?).ok()?,
    })
}

/// The CPU ticks of process `root`, of the children it has reaped and of
/// those still running (a PostgreSQL postmaster and its backends); `None`
/// if `root` is unreadable (not on this machine).
pub fn process_tree_ticks(root: u32) -> Option<u64> {
    let times = process_times(root)?;
    let mut total = times.own + times.reaped;
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            if let Some(child) = process_times(pid).filter(|c| c.parent == root) {
                total += child.own;
            }
        }
    }
    Some(total)
}

/// `/proc/loadavg`'s three load averages, as a benchmark prints them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Copies a folder tree, leaving out the liveness lock files of the commands
/// that made it (they are dead; a server would only sweep them away).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a folder in the copy");
    for entry in std::fs::read_dir(from).expect("list the folder to copy") {
        let entry = entry.expect("a folder entry");
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            if entry.file_name() != "instances" {
                copy_tree(&path, &target);
            }
        } else {
            std::fs::copy(&path, &target).expect("copy a file");
        }
    }
}

/// A Kirjuri server over its own data folder, and a client for its API.
pub struct TestApp {
    /// `http://127.0.0.1:PORT` of the running server.
    pub address: String,
    /// The HTTP client (no proxy, generous timeout).
    pub client: reqwest::Client,
    /// The accounts' tokens.
    pub tokens: Tokens,
    /// The server process, when running; killed when the app is dropped,
    /// before its data folder goes (fields drop in this order).
    server: Option<Server>,
    /// What the server printed, across restarts.
    logs: Logs,
    /// The binary, with this app's data folder and extra environment (e.g.
    /// `KIRJURI_MAX_RECORDING_BYTES`).
    kirjuri: Kirjuri,
    /// The data folder; removed when the app is dropped.
    data: tempfile::TempDir,
}

impl TestApp {
    /// Starts `binary` (`env!("CARGO_BIN_EXE_kirjuri")`) as a server over a
    /// fresh data folder with the four accounts, with extra environment
    /// variables `envs` for it and every command.
    pub async fn spawn(binary: impl AsRef<Path>, envs: &[(&str, &str)]) -> TestApp {
        let binary = binary.as_ref();
        let template = template(binary);
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
            server: None,
            logs: Logs::default(),
            kirjuri: Kirjuri::new(binary)
                .data(data.path())
                .envs(envs.iter().copied()),
            data,
        };
        app.start();
        app
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// The binary with this app's data folder and environment, for commands
    /// of a test's own.
    pub fn kirjuri(&self) -> &Kirjuri {
        &self.kirjuri
    }

    /// The running server.
    fn server(&self) -> &Server {
        self.server.as_ref().expect("the server is running")
    }

    /// Starts `kirjuri serve` and waits for its `listening on` line.
    pub fn start(&mut self) {
        assert!(self.server.is_none(), "the server is already running");
        let server = Server::start(
            &self.kirjuri,
            "kirjuri serve",
            &[] as &[&str],
            self.logs.clone(),
        );
        self.address = server.address().to_owned();
        self.server = Some(server);
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.server().pid()
    }

    /// SIGKILLs the server (no chance to clean up) and waits for it to die.
    pub fn kill9(&mut self) {
        let mut server = self.server.take().expect("the server is running");
        server.kill9();
    }

    /// Kills the server with SIGKILL and starts a new one on the same folder.
    pub fn restart(&mut self) {
        if self.server.is_some() {
            self.kill9();
        }
        self.start();
    }

    /// Kills the server with SIGKILL and starts a new one on the same
    /// folder with `envs` added to its environment (a changed setting).
    pub fn restart_with_env(&mut self, envs: &[(&str, &str)]) {
        self.kirjuri = self.kirjuri.clone().envs(envs.iter().copied());
        self.restart();
    }

    /// Sends SIGTERM (a graceful shutdown request) to the server.
    pub fn terminate(&self) {
        self.server().terminate();
    }

    /// Waits up to `timeout` for the server to exit and returns its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let status = self
            .server
            .as_mut()
            .expect("the server is running")
            .wait_exit(timeout);
        self.server = None;
        status
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
        self.logs.stderr()
    }

    /// stdout and stderr bytes together, for leak scans.
    pub fn log_bytes(&self) -> Vec<u8> {
        self.logs.bytes()
    }

    /// Runs a `kirjuri` command on this app's data folder (the server may be running).
    pub fn cli(&self, args: &[&str]) -> Output {
        self.kirjuri.run(args, None)
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

/// `purpose=…` as a query, if there is one.
fn purpose_query(purpose: Option<&str>) -> Vec<(&str, &str)> {
    purpose.map(|p| vec![("purpose", p)]).unwrap_or_default()
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
        let output = self.kirjuri().run(
            &["user", "add", name, "--role", role, "--password-stdin"],
            Some(&password),
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
        self.server().socket_address()
    }

    /// The server's resident memory now and at its peak (`VmRSS`, `VmHWM`
    /// from `/proc/<pid>/status`), in bytes.
    pub fn memory(&self) -> (u64, u64) {
        memory_of(self.pid()).expect("the server's /proc status has VmRSS and VmHWM")
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
