//! The `kirjuri` binary, as tests and benchmarks drive it: [`Kirjuri`] runs
//! its commands (`user add`, `token create`, `import`, `migrate-store`, …)
//! with a data folder, a configuration file and environment of the test's
//! choosing, and [`Server`] runs `kirjuri serve` on port 0, waits for its
//! `listening on` line, captures what it prints, and kills it when dropped.
//!
//! The binary's path is the caller's (`env!("CARGO_BIN_EXE_kirjuri")`): only
//! the binary's own crate knows it. Every command runs without the caller's
//! `KIRJURI_DATA` and `KIRJURI_DATABASE__URL`, so a developer's environment
//! never points a test at a real register; a test that wants them sets them.
//! Every command runs with the shipped unit's `MALLOC_ARENA_MAX`
//! ([`malloc_arenas`]) unless the caller's environment sets one, so tests
//! and benchmarks see the product's memory and CPU as it runs in
//! production.
//!
//! Benchmarks, which report rather than assert, use the `try_` forms
//! ([`Kirjuri::try_run_ok`], [`Server::try_start`], [`Server::try_stop`]):
//! the same steps, returning a [`SetupError`] instead of panicking.
//!
//! Not here: accounts and HTTP (see [`crate::app`]).

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::SetupError;

/// How long `kirjuri serve` may take to start before a test gives up.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// How long a server may take to exit after SIGTERM in [`Server::stop`].
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// Environment a test never inherits (see the module docs).
const NOT_INHERITED: [&str; 2] = ["KIRJURI_DATA", "KIRJURI_DATABASE__URL"];

/// glibc's variable for its number of malloc arenas.
pub const MALLOC_ARENAS: &str = "MALLOC_ARENA_MAX";

/// The value the shipped unit (`dist/kirjuri.service`) gives
/// [`MALLOC_ARENAS`]; a test of the unit checks that it still does.
pub const SHIPPED_MALLOC_ARENAS: &str = "2";

/// The [`MALLOC_ARENAS`] every `kirjuri` started here (and the purge
/// bench's child) runs with: the caller's, else the shipped unit's, so a
/// benchmark measures memory and CPU as the product runs. glibc's default
/// (eight arenas per core) keeps freed memory per thread: the purge peaked
/// ≈ 30 MiB higher with it, eight concurrent small uploads ≈ 6 MiB
/// (BENCHMARKS.md).
pub fn malloc_arenas() -> String {
    std::env::var(MALLOC_ARENAS).unwrap_or_else(|_| SHIPPED_MALLOC_ARENAS.to_owned())
}

/// How to run the `kirjuri` binary: its path, and the `--config`, `--data`
/// and environment every command gets.
#[derive(Debug, Clone)]
pub struct Kirjuri {
    /// The binary.
    binary: PathBuf,
    /// `--config FILE` and `--data DIR`, after each command's own arguments.
    global: Vec<OsString>,
    /// Extra environment.
    envs: Vec<(OsString, OsString)>,
}

impl Kirjuri {
    /// The binary at `binary` (`env!("CARGO_BIN_EXE_kirjuri")`).
    pub fn new(binary: impl AsRef<Path>) -> Self {
        Self {
            binary: binary.as_ref().to_owned(),
            global: Vec::new(),
            envs: vec![(MALLOC_ARENAS.into(), malloc_arenas().into())],
        }
    }

    /// Every command gets `--data dir`.
    pub fn data(mut self, dir: impl AsRef<Path>) -> Self {
        self.global.push("--data".into());
        self.global.push(dir.as_ref().into());
        self
    }

    /// Every command gets `--config file`.
    pub fn config(mut self, file: impl AsRef<Path>) -> Self {
        self.global.push("--config".into());
        self.global.push(file.as_ref().into());
        self
    }

    /// Every command gets `name=value` in its environment.
    pub fn env(mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((name.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Every command gets these variables in its environment.
    pub fn envs<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        mut self,
        envs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        for (name, value) in envs {
            self = self.env(name, value);
        }
        self
    }

    /// The binary's path.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The command line `kirjuri ARGS [--config …] [--data …]`, not started.
    pub fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut command = Command::new(&self.binary);
        command.args(args).args(&self.global);
        for name in NOT_INHERITED {
            command.env_remove(name);
        }
        command.envs(self.envs.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs `kirjuri ARGS`, feeding it `stdin`, and returns what happened.
    pub fn run<S: AsRef<OsStr> + std::fmt::Debug>(
        &self,
        args: &[S],
        stdin: Option<&str>,
    ) -> Output {
        self.try_run(args, stdin).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Kirjuri::run`], returning what went wrong (it did not start,
    /// took no input, could not be waited for) instead of panicking.
    pub fn try_run<S: AsRef<OsStr> + std::fmt::Debug>(
        &self,
        args: &[S],
        stdin: Option<&str>,
    ) -> Result<Output, SetupError> {
        let fail = |what: &str| SetupError(format!("kirjuri {args:?}: {what}"));
        let mut child = self
            .command(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(&format!("does not start: {e}")))?;
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .ok_or_else(|| fail("no stdin"))?
                .write_all(text.as_bytes())
                .map_err(|e| fail(&format!("cannot write to its stdin: {e}")))?;
        }
        child
            .wait_with_output()
            .map_err(|e| fail(&format!("cannot wait for it: {e}")))
    }

    /// Like [`Kirjuri::run`], asserting success (failing with both outputs);
    /// returns stdout.
    pub fn run_ok<S: AsRef<OsStr> + std::fmt::Debug>(
        &self,
        args: &[S],
        stdin: Option<&str>,
    ) -> String {
        let output = self.run(args, stdin);
        assert!(
            output.status.success(),
            "kirjuri {args:?} failed: {}",
            describe(&output)
        );
        String::from_utf8(output.stdout).expect("kirjuri prints UTF-8")
    }

    /// Like [`Kirjuri::run_ok`], returning what went wrong instead of
    /// panicking.
    pub fn try_run_ok<S: AsRef<OsStr> + std::fmt::Debug>(
        &self,
        args: &[S],
        stdin: Option<&str>,
    ) -> Result<String, SetupError> {
        let fail = |what: &str| SetupError(format!("kirjuri {args:?}: {what}"));
        let output = self.try_run(args, stdin)?;
        if !output.status.success() {
            return Err(fail(&format!("failed: {}", describe(&output))));
        }
        String::from_utf8(output.stdout).map_err(|e| fail(&format!("printed no UTF-8: {e}")))
    }

    /// Starts `kirjuri serve` ([`Server::start`]) named `kirjuri serve`,
    /// with a log of its own.
    pub fn serve(&self) -> Server {
        Server::start(self, "kirjuri serve", &[] as &[&str], Logs::default())
    }
}

/// A command's exit status and both outputs, for failure messages.
pub fn describe(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Everything one or more servers have printed; shared with the threads
/// that read their pipes, and kept across restarts if handed to each start.
#[derive(Debug, Clone, Default)]
pub struct Logs(Arc<Mutex<Printed>>);

/// What [`Logs`] holds.
#[derive(Debug, Default)]
struct Printed {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Logs {
    /// Everything written to stderr (the log), lossily as text.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs lock").stderr).into_owned()
    }

    /// Everything written to stdout, lossily as text.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs lock").stdout).into_owned()
    }

    /// stdout and stderr bytes together, for leak scans.
    pub fn bytes(&self) -> Vec<u8> {
        let printed = self.0.lock().expect("logs lock");
        let mut all = printed.stdout.clone();
        all.extend_from_slice(&printed.stderr);
        all
    }
}

/// A running `kirjuri serve`, SIGKILLed (and reaped) when dropped.
#[derive(Debug)]
pub struct Server {
    /// What the failure messages call it (`node1`, `kirjuri serve`).
    name: String,
    /// `http://127.0.0.1:PORT` (or `https://…`), as it printed.
    address: String,
    /// The process, until it is killed or has exited.
    child: Option<Child>,
    /// What it printed.
    logs: Logs,
}

impl Server {
    /// Runs `kirjuri serve --listen 127.0.0.1:0 ARGS` as `kirjuri` says
    /// (its `--config`, `--data` and environment) and waits until it prints
    /// `listening on …`; fails with its log if it exits first or takes more
    /// than 90 s. Its output is appended to `logs`.
    pub fn start<S: AsRef<OsStr>>(kirjuri: &Kirjuri, name: &str, args: &[S], logs: Logs) -> Self {
        Self::try_start(kirjuri, name, args, logs).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Server::start`], returning what went wrong instead of
    /// panicking.
    pub fn try_start<S: AsRef<OsStr>>(
        kirjuri: &Kirjuri,
        name: &str,
        args: &[S],
        logs: Logs,
    ) -> Result<Self, SetupError> {
        let mut all: Vec<OsString> = vec!["serve".into(), "--listen".into(), "127.0.0.1:0".into()];
        all.extend(args.iter().map(|a| a.as_ref().to_owned()));
        let mut child = kirjuri
            .command(&all)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| SetupError(format!("{name} does not start: {e}")))?;
        let (listening, address) = mpsc::channel();
        let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SetupError(format!("{name}: its output is not piped")));
        };
        let sink = logs.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                let text = String::from_utf8_lossy(&line);
                if let Some(at) = text.find("listening on http") {
                    let url = text[at + "listening on ".len()..].trim().to_owned();
                    let _ = listening.send(url);
                }
                sink.0
                    .lock()
                    .expect("logs lock")
                    .stdout
                    .extend_from_slice(&line);
                line.clear();
            }
        });
        let sink = logs.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                sink.0
                    .lock()
                    .expect("logs lock")
                    .stderr
                    .extend_from_slice(&buffer[..n]);
            }
        });
        // From here on, dropping the server (a failed assertion too) kills it.
        let mut server = Server {
            name: name.to_owned(),
            address: String::new(),
            child: Some(child),
            logs,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(url) = address.recv_timeout(Duration::from_millis(100)) {
                server.address = url;
                return Ok(server);
            }
            if let Some(status) = server.poll()? {
                // Let the reader threads take the last of its output.
                std::thread::sleep(Duration::from_millis(100));
                return Err(SetupError(format!(
                    "{name} exited ({status}) before listening:\n{}",
                    server.logs.stderr()
                )));
            }
            if Instant::now() >= deadline {
                return Err(SetupError(format!(
                    "{name} did not print 'listening on' within {START_TIMEOUT:?}:\n{}",
                    server.logs.stderr()
                )));
            }
        }
    }

    /// What the failure messages call it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `http://127.0.0.1:PORT` of the server.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// A URL on the server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The server's `host:port`, for raw sockets.
    pub fn socket_address(&self) -> std::net::SocketAddr {
        self.address
            .split_once("://")
            .map_or(self.address.as_str(), |(_, rest)| rest)
            .parse()
            .expect("the server listens on an IP address and port")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    /// What the server has printed (and, if the logs are shared, earlier
    /// servers too).
    pub fn logs(&self) -> &Logs {
        &self.logs
    }

    /// Everything the server wrote to stderr (its log) so far.
    pub fn stderr(&self) -> String {
        self.logs.stderr()
    }

    /// SIGKILLs the server (no chance to clean up) and waits for it to die.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("the server is running");
        child.kill().expect("SIGKILL the server");
        child.wait().expect("reap the server");
    }

    /// Sends SIGTERM (a graceful shutdown request) to the server.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM {} failed", self.name);
    }

    /// Waits up to `timeout` for the server to exit and returns its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {timeout:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits (up to 60 s) for the exit and returns its status.
    pub fn stop(&mut self) -> ExitStatus {
        self.terminate();
        self.wait_exit(STOP_TIMEOUT)
    }

    /// SIGTERM, then waits up to `timeout` for the exit and returns its
    /// status; if it does not exit, SIGKILLs it and says so. A server that
    /// has already exited returns at once.
    pub fn try_stop(&mut self, timeout: Duration) -> Result<ExitStatus, SetupError> {
        let Some(child) = self.child.as_ref() else {
            return Err(SetupError(format!("{} is not running", self.name)));
        };
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .map_err(|e| SetupError(format!("cannot run kill -TERM: {e}")))?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.poll()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                if let Some(mut child) = self.child.take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                return Err(SetupError(format!(
                    "{} did not stop within {timeout:?} of SIGTERM",
                    self.name
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The exit status if the server has exited (it is then no longer running).
    fn try_wait(&mut self) -> Option<ExitStatus> {
        self.poll().unwrap_or_else(|e| panic!("{e}"))
    }

    /// The exit status if the server has exited (it is then no longer
    /// running); `None` while it runs.
    fn poll(&mut self) -> Result<Option<ExitStatus>, SetupError> {
        let Some(child) = self.child.as_mut() else {
            return Err(SetupError(format!("{} is not running", self.name)));
        };
        let status = child
            .try_wait()
            .map_err(|e| SetupError(format!("cannot poll {}: {e}", self.name)))?;
        if status.is_some() {
            self.child = None;
        }
        Ok(status)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
