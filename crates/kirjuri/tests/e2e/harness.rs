//! The browser-test harness: [`Ui::start`] runs the real `kirjuri serve` on
//! port 0 (`kirjuri_testkit::server`) over a fresh data folder (accounts made with `kirjuri user add
//! --password-stdin`, contacts and a 20-second stereo PCM16 recording
//! delivered over the API with an integration token) and a `chromedriver` on
//! a free port; [`Ui::browser`] opens a new headless Chromium (Debian's
//! `/usr/bin/chromium`, a fresh profile each time) driven through WebDriver
//! with `fantoccini`.
//!
//! Browser tests are heavy on a two-core machine, so they take turns
//! ([`serial`]). Screenshots go to `target/test-artifacts/e2e/` and their
//! paths are printed.
//!
//! Accessibility (WCAG 2.1 AA): [`assert_accessible`] injects axe-core
//! (npm, pinned in `package-lock.json` beside this file, installed by
//! `npm ci` in this folder — `scripts/test` does it) into the page the
//! browser shows and fails on any violation of the `wcag2a`, `wcag2aa`,
//! `wcag21a` and `wcag21aa` rules; axe's full results are saved as
//! `axe-<page>.json` among the artefacts; it also checks reflow at 320 CSS
//! px (WCAG 1.4.10), which axe cannot. It remembers which route each
//! checked page belongs to, so [`unchecked_pages`] can name every HTML page
//! of `kirjuri_web::http::routes()` that no check has seen.
//!
//! Not here: what the tests assert (the test modules).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use kirjuri_core::wav::Encoding;
use kirjuri_core::wav::synth;
use kirjuri_testkit::fixtures::design_example;
use kirjuri_testkit::server::{Kirjuri, Server};
use serde_json::{Value, json};

/// The binary under test.
pub const KIRJURI: &str = env!("CARGO_BIN_EXE_kirjuri");

/// Debian's Chromium and its driver.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Every account's password in these tests.
pub const PASSWORD: &str = "harmaa lokki kantaa sateenvarjoa";

/// The customer on the recorded call.
pub const CUSTOMER: &str = "Matti Meikäläinen";

/// The customer on the other agent's chat.
pub const OTHER_CUSTOMER: &str = "Liisa Virtanen";

/// How long a page may take to show what a test waits for.
const WAIT: Duration = Duration::from_secs(20);

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits for this test's turn with the browser.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    TURN.lock().await
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running server with its data, and a running chromedriver.
pub struct Ui {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The call handled by `aino`, with its recording.
    pub call: String,
    /// The chat handled by `bertta`.
    pub chat: String,
    /// An email of bertta's whose message has only HTML, remote content and
    /// all (for the sanitised view).
    pub email: String,
    server: Server,
    driver: Process,
    driver_url: String,
    data: tempfile::TempDir,
    profiles: Vec<tempfile::TempDir>,
}

/// The binary under test with `data` as its data folder.
fn kirjuri(data: &Path) -> Kirjuri {
    Kirjuri::new(KIRJURI).data(data)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where screenshots go: `<workspace>/target/test-artifacts/e2e/`.
pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts/e2e");
    std::fs::create_dir_all(&dir).unwrap();
    dir.canonicalize().unwrap()
}

/// Where `npm ci` installs axe-core for these tests.
fn axe_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/node_modules/axe-core/axe.min.js")
}

/// axe-core's browser bundle, read once.
fn axe_source() -> &'static str {
    static AXE: OnceLock<String> = OnceLock::new();
    AXE.get_or_init(|| {
        let path = axe_path();
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "the browser tests check every page with axe-core, but {} is missing ({e}); \
                 install it with `cd crates/kirjuri/tests/e2e && npm ci` \
                 (scripts/test does this)",
                path.display()
            )
        })
    })
}

/// The WCAG 2.1 A and AA rules: what the product must meet.
const AXE_TAGS: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/// Every page [`assert_accessible`] has checked in this test binary: its
/// name and the browser's path (and query) at the time.
static CHECKED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Runs axe-core's WCAG 2.1 A and AA rules on the page the browser shows
/// and returns axe's full results (`violations`, `passes`, `incomplete`,
/// `inapplicable`).
///
/// The page's CSP forbids inline scripts, but WebDriver's scripts run
/// outside it, so axe is injected with `execute` and run with
/// `execute_async`.
pub async fn axe_run(browser: &Client) -> Value {
    let at = path(browser).await;
    let loaded = browser
        .execute(
            &format!("{}\n;return typeof window.axe;", axe_source()),
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        loaded.as_str(),
        Some("object"),
        "axe-core did not load into {at}"
    );
    let mut outcome = browser
        .execute_async(
            "const tags = arguments[0];
             const done = arguments[arguments.length - 1];
             window.axe
               .run(document, {runOnly: {type: 'tag', values: tags}})
               .then(results => done({results}), error => done({error: String(error)}));",
            vec![json!(AXE_TAGS)],
        )
        .await
        .unwrap();
    if let Some(error) = outcome.get("error") {
        panic!("axe-core failed on {at}: {error}");
    }
    outcome["results"].take()
}

/// Checks the page the browser shows with axe-core against WCAG 2.1 A and
/// AA ([`axe_run`]), saves axe's full results as `axe-<page>.json` among the
/// artefacts, and fails listing each violation (rule id, impact, help, the
/// offending nodes' selectors); then checks that the page reflows at 320
/// CSS px ([`assert_reflows`]), which axe cannot. `page` names the page and state in the
/// artefacts and the failure, e.g. `sign-in-error-sv`.
pub async fn assert_accessible(browser: &Client, page: &str) {
    let at = path(browser).await;
    let results = axe_run(browser).await;
    let file = artifacts().join(format!("axe-{page}.json"));
    std::fs::write(&file, serde_json::to_vec_pretty(&results).unwrap()).unwrap();
    CHECKED.lock().unwrap().push((page.to_owned(), at.clone()));

    assert_reflows(browser, page, &at).await;

    let violations = results["violations"].as_array().expect("axe's violations");
    let passes = results["passes"].as_array().map_or(0, Vec::len);
    println!(
        "axe: {page} ({at}): {} violations, {passes} rules passed; {}",
        violations.len(),
        file.display()
    );
    if violations.is_empty() {
        return;
    }
    let mut report = format!(
        "{} WCAG 2.1 AA violations on {page} ({at}); axe's results: {}\n",
        violations.len(),
        file.display()
    );
    for v in violations {
        report.push_str(&format!(
            "- {} ({}): {} <{}>\n",
            v["id"].as_str().unwrap_or("?"),
            v["impact"].as_str().unwrap_or("?"),
            v["help"].as_str().unwrap_or("?"),
            v["helpUrl"].as_str().unwrap_or("")
        ));
        for node in v["nodes"].as_array().into_iter().flatten() {
            let target = node["target"].to_string();
            let summary = node["failureSummary"]
                .as_str()
                .unwrap_or("")
                .replace('\n', " ");
            report.push_str(&format!("    {target}: {summary}\n"));
        }
    }
    panic!("{report}");
}

/// WCAG 1.4.10 (Reflow), which axe cannot judge: at 320 CSS px wide (a
/// 1280 px window zoomed to 400 %) the page needs no sideways scrolling.
/// Data tables may scroll inside their own `.table-wrap`, as the criterion
/// allows. Fails naming the elements that stick out; the window is put back
/// to its usual size after.
async fn assert_reflows(browser: &Client, page: &str, at: &str) {
    browser.set_window_size(320, 900).await.unwrap();
    let measured = browser
        .execute(
            "const root = document.documentElement;
             const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
               + (e.className ? '.' + String(e.className).split(' ').join('.') : '');
             const wide = r => r.right > root.clientWidth + 1;
             const out = [...document.querySelectorAll('body *')]
               .filter(e => wide(e.getBoundingClientRect()) && !e.closest('.table-wrap'))
               .map(name);
             // Text can stick out of a box too narrow for a long word.
             const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
             const range = document.createRange();
             while (walk.nextNode()) {
               const text = walk.currentNode;
               if (!text.parentElement || text.parentElement.closest('.table-wrap')) continue;
               range.selectNodeContents(text);
               if (wide(range.getBoundingClientRect())) {
                 out.push('text \"' + text.textContent.trim() + '\" in ' + name(text.parentElement));
               }
             }
             return {scroll: root.scrollWidth, client: root.clientWidth, out: out.slice(0, 8)};",
            Vec::new(),
        )
        .await
        .unwrap();
    if measured["scroll"].as_u64() > measured["client"].as_u64() {
        screenshot(browser, &format!("reflow-{page}")).await;
    }
    browser.set_window_size(1280, 1000).await.unwrap();
    assert!(
        measured["scroll"].as_u64() <= measured["client"].as_u64(),
        "{page} ({at}) does not reflow at 320 CSS px (WCAG 1.4.10): {} px of content \
         in {} px; sticking out: {}",
        measured["scroll"],
        measured["client"],
        measured["out"]
    );
}

/// The route pattern of `routes()` that `path` (query ignored) falls under.
pub fn route_of(path: &str) -> Option<&'static str> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    kirjuri_web::http::routes()
        .into_iter()
        .map(|route| route.path)
        .find(|pattern| route_matches(pattern, path))
}

fn route_matches(pattern: &str, path: &str) -> bool {
    let mut want = pattern.split('/');
    let mut have = path.split('/');
    loop {
        match (want.next(), have.next()) {
            (None, None) => return true,
            (Some(w), Some(_)) if w.starts_with("{*") => return true,
            (Some(w), Some(h)) if w.starts_with('{') && !h.is_empty() => {}
            (Some(w), Some(h)) if w == h => {}
            _ => return false,
        }
    }
}

/// The HTML pages among `routes()` that [`assert_accessible`] has not
/// checked, in any state, in this test binary.
///
/// Every route outside `/api/` is fetched with `GET` and the cookies of
/// `browser` (a signed-in session): a `405` is a form's `POST` target, not a
/// page; any other answer but HTML (assets, `/healthz`) is no page either; a
/// redirect (e.g. `/`) has no page of its own, so the page it leads to must
/// have been checked; an HTML answer must have been checked under its own
/// route. Path parameters are filled with `contact` (an `{id}`), `aino` (a
/// `{name}`) and `kirjuri.css` (the rest of a path).
pub async fn unchecked_pages(ui: &Ui, browser: &Client, contact: &str) -> Vec<String> {
    let cookies = browser
        .get_all_cookies()
        .await
        .unwrap()
        .iter()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect::<Vec<_>>()
        .join("; ");
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let checked: Vec<&'static str> = CHECKED
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, at)| route_of(at))
        .collect();
    let mut unchecked = Vec::new();
    for route in kirjuri_web::http::routes() {
        let pattern = route.path;
        if pattern.starts_with("/api/") {
            continue;
        }
        let concrete = pattern
            .split('/')
            .map(|segment| match segment {
                "{id}" => contact,
                "{name}" => "aino",
                s if s.starts_with("{*") => "kirjuri.css",
                s => s,
            })
            .collect::<Vec<_>>()
            .join("/");
        // Follow redirects to the page they end on.
        let mut url = ui.url(&concrete);
        let mut shown = Some(pattern);
        let mut status = reqwest::StatusCode::OK;
        for _ in 0..5 {
            let response = http
                .get(&url)
                .header("cookie", &cookies)
                .send()
                .await
                .unwrap();
            status = response.status();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned()
            };
            if status.is_redirection() {
                let to = header("location");
                shown = route_of(&to);
                url = ui.url(&to);
                continue;
            }
            let html = header("content-type").starts_with("text/html");
            if status == reqwest::StatusCode::METHOD_NOT_ALLOWED || !html {
                shown = None;
            }
            break;
        }
        let must_be_checked = shown;
        if let Some(page) = must_be_checked
            && !checked.contains(&page)
        {
            unchecked.push(format!("GET {concrete} ({status}) shows {page}"));
        }
    }
    unchecked
}

impl Ui {
    /// Starts the server (accounts `aino`, `bertta` agents, `sanna`
    /// supervisor, `ville` admin, `pbx` integration; a recorded call of
    /// aino's and a chat of bertta's) and chromedriver.
    pub async fn start() -> Ui {
        Self::start_with(&[]).await
    }

    /// [`Ui::start`] with `envs` in the server's environment (e.g. the
    /// outbox's SMTP sender).
    pub async fn start_with(envs: &[(&str, &str)]) -> Ui {
        assert!(
            Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
            "browser tests need Debian's chromium and chromium-driver (scripts/test installs them)"
        );
        let _ = axe_source();
        let data = tempfile::Builder::new()
            .prefix("kirjuri-e2e-")
            .tempdir()
            .unwrap();
        for (name, role) in [
            ("pbx", "integration"),
            ("aino", "agent"),
            ("bertta", "agent"),
            ("sanna", "supervisor"),
            ("ville", "admin"),
        ] {
            kirjuri(data.path()).run_ok(
                &["user", "add", name, "--role", role, "--password-stdin"],
                Some(&format!("{PASSWORD}\n")),
            );
        }
        let token = kirjuri(data.path())
            .run_ok(&["token", "create", "--user", "pbx"], None)
            .trim()
            .to_owned();

        let server = kirjuri(data.path()).envs(envs.iter().copied()).serve();
        let base = server.address().to_owned();

        // reqwest is built without a TLS crypto provider of its own (the
        // workspace uses ring, never aws-lc-rs); install ring's.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let create = |body: Value| {
            let http = http.clone();
            let url = format!("{base}/api/v1/contacts");
            let token = token.clone();
            async move {
                let response = http
                    .post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success(), "{}", response.status());
                let value: Value = response.json().await.unwrap();
                value["id"].as_str().unwrap().to_owned()
            }
        };
        // The README's example, on another day, with the page's customer.
        let mut call = design_example("pbx-e2e-1");
        call["started_at"] = json!("2026-11-27T09:15:02+02:00");
        call["ended_at"] = json!("2026-11-27T09:15:22+02:00");
        call["customer"] = json!({"name": CUSTOMER, "phone": "+358 40 123 4567",
                                  "email": "matti@example.fi", "address": "Esimerkkitie 1, 00100 Helsinki",
                                  "language": "fi"});
        call["account"]["billing"] = json!("e-invoice");
        call["property"]["details"] = json!("Meter in the basement");
        let call = create(call).await;
        // 20 seconds of stereo 16-bit PCM at 8 kHz: long enough to watch
        // playback advance and to seek into.
        let wav = synth::wav_bytes(Encoding::PcmS16, 2, 8000, 8000 * 20, false);
        let response = http
            .put(format!("{base}/api/v1/contacts/{call}/recording"))
            .bearer_auth(&token)
            .header("content-type", "audio/wav")
            .body(wav)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let chat = create(json!({
            "external_id": "chat-e2e-1",
            "channel": "chat",
            "started_at": "2026-11-27T10:00:00+02:00",
            "ended_at": "2026-11-27T10:05:00+02:00",
            "service": "water-billing",
            "agent": "bertta",
            "customer": {"name": OTHER_CUSTOMER, "phone": "050 765 4321"},
            "service_content": "Moving house"
        }))
        .await;
        // Its conversation, for the contact page's transcript.
        let transcript = json!({
            "participants": [{"id": "c", "role": "customer", "name": OTHER_CUSTOMER},
                             {"id": "a", "role": "agent", "name": "Bertta"}],
            "messages": [
                {"at": "2026-11-27T10:00:05+02:00", "from": "bot", "text": "Hei! Miten voin auttaa?"},
                {"at": "2026-11-27T10:00:30+02:00", "from": "customer", "participant": "c",
                 "text": "Muutan ensi kuussa.\nMiten vesisopimus siirtyy?",
                 "attachments": [{"name": "vuokrasopimus.pdf", "media_type": "application/pdf", "bytes": 48213}]},
                {"at": "2026-11-27T10:01:10+02:00", "from": "agent", "participant": "a",
                 "text": "Teen siirron, kun kerrot muuttopäivän."}
            ]
        });
        let response = http
            .put(format!("{base}/api/v1/contacts/{chat}/transcript"))
            .bearer_auth(&token)
            .json(&transcript)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let email = create(json!({
            "external_id": "email-e2e-1",
            "channel": "email",
            "started_at": "2026-11-27T11:00:00+02:00",
            "service": "water-billing",
            "agent": "bertta",
            "customer": {"email": "lukija@example.fi"}
        }))
        .await;
        let message = "From: Lukija <lukija@example.fi>\r\n\
Subject: Vesimittari\r\n\
Date: Fri, 27 Nov 2026 11:00:00 +0200\r\n\
Message-ID: <e2e-1@example.fi>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<html><head><style>body { background: url(https://tracker.example/bg.png) }</style>\
<script>document.title = 'pwned'</script></head><body>\
<p>Mittarin lukema on <b>1234</b>.</p>\
<p><img src=\"https://tracker.example/pixel.gif\" alt=\"\"> \
<a href=\"https://tracker.example/click\">Katso kuva</a></p>\
<form action=\"https://tracker.example/form\"><input name=\"x\"></form>\
</body></html>\r\n";
        let response = http
            .put(format!("{base}/api/v1/contacts/{email}/message"))
            .bearer_auth(&token)
            .header("content-type", "message/rfc822")
            .body(message)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());

        let port = free_port();
        let driver = Process(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts"),
        );
        let driver_url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ui {
            base,
            call,
            chat,
            email,
            server,
            driver,
            driver_url,
            data,
            profiles: Vec::new(),
        }
    }

    /// A new headless Chromium with a fresh profile.
    pub async fn browser(&mut self) -> Client {
        let profile = tempfile::Builder::new()
            .prefix("kirjuri-chromium-")
            .tempdir()
            .unwrap();
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            "--autoplay-policy=no-user-gesture-required".to_owned(),
            "--window-size=1280,1000".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        self.profiles.push(profile);
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({"binary": CHROMIUM, "args": args}),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let _ = &self.driver;
        ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&self.driver_url)
            .await
            .expect("a Chromium session")
    }

    /// Stops the server and starts it again on the same data folder with
    /// `envs` (an operator changing the configuration); `base` follows the
    /// new address.
    pub fn restart_with(&mut self, envs: &[(&str, &str)]) {
        self.server.stop();
        self.server = kirjuri(self.data.path()).envs(envs.iter().copied()).serve();
        self.base = self.server.address().to_owned();
    }

    /// The server's data folder.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// Runs `kirjuri ARGS --data <the server's folder>` (with `stdin`),
    /// asserting success, and returns what it printed.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> String {
        kirjuri(self.data.path()).run_ok(args, stdin)
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The browser's current path (and query).
pub async fn path(browser: &Client) -> String {
    let url = browser.current_url().await.unwrap();
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Polls `check` until it holds or [`WAIT`] passes.
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Types into the field with id `id` (clearing it first).
pub async fn fill(browser: &Client, id: &str, text: &str) {
    let field = browser.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Clicks the element with id `id`.
pub async fn click(browser: &Client, id: &str) {
    browser
        .find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Opens the page of the test call (`ui.call`), signs in as `name` when
/// the page sends the browser to sign in, and chooses `purpose`: the way
/// every staff member reaches a contact.
pub async fn open_call_as(ui: &Ui, browser: &Client, name: &str, purpose: &str) {
    browser
        .goto(&ui.url(&format!("/contacts/{}", ui.call)))
        .await
        .unwrap();
    sign_in(ui, browser, name).await;
    choose_purpose(browser, purpose).await;
}

/// Signs in on the sign-in page the browser is on (or goes there).
pub async fn sign_in(ui: &Ui, browser: &Client, name: &str) {
    if !path(browser).await.starts_with("/login") {
        browser.goto(&ui.url("/login")).await.unwrap();
    }
    fill(browser, "name", name).await;
    fill(browser, "password", PASSWORD).await;
    click(browser, "sign-in").await;
    wait_until("sign-in to finish", || async {
        !path(browser).await.starts_with("/login")
    })
    .await;
}

/// Chooses `purpose` on the purpose page the browser is on.
pub async fn choose_purpose(browser: &Client, purpose: &str) {
    assert!(
        path(browser).await.starts_with("/purpose"),
        "expected the purpose page"
    );
    click(browser, &format!("purpose-{purpose}")).await;
    click(browser, "purpose-submit").await;
    wait_until("the purpose to be taken", || async {
        !path(browser).await.starts_with("/purpose")
    })
    .await;
}

/// The page's HTML.
pub async fn source(browser: &Client) -> String {
    browser.source().await.unwrap()
}

/// Runs `script` (a function body) and returns its value.
pub async fn js(browser: &Client, script: &str) -> Value {
    browser.execute(script, Vec::new()).await.unwrap()
}

/// Saves a screenshot as `<name>.png` among the test artefacts and prints
/// its path.
pub async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let file = artifacts().join(format!("{name}.png"));
    std::fs::write(&file, png).unwrap();
    println!("screenshot: {}", file.display());
}

/// A message's text with quoted-printable undone (soft line breaks joined,
/// `=XX` decoded), so a link or a code split by the encoding reads whole.
pub fn unquote(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'='
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The texts (quoted-printable undone) of the messages in `files` that
/// hold `needle`, once there are more than `seen` of them, oldest first.
pub async fn letters_in(
    files: impl Fn() -> Vec<PathBuf>,
    needle: &str,
    seen: usize,
) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut paths = files();
        paths.sort();
        let texts: Vec<String> = paths
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .map(|t| unquote(&t))
            .filter(|t| t.contains(needle))
            .collect();
        if texts.len() > seen {
            return texts;
        }
        if Instant::now() >= deadline {
            let seen: Vec<String> = paths
                .iter()
                .filter_map(|f| std::fs::read_to_string(f).ok())
                .map(|t| unquote(&t))
                .collect();
            panic!("no new letter with {needle} within {WAIT:?}; the letters: {seen:#?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The token of the link in `letter` (`…/request/download/<token>`).
pub fn link_in(letter: &str) -> String {
    letter
        .split("/request/download/")
        .nth(1)
        .unwrap_or_else(|| panic!("no link in {letter:?}"))
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// The letters the file sender wrote under `<data>/outbox/`.
pub fn outbox_files(ui: &Ui) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(ui.data_dir().join("outbox")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "eml" || e == "txt"))
        .collect()
}
