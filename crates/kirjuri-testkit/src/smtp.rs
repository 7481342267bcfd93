//! A real SMTP server for the outbox tests: Debian's `python3-aiosmtpd`
//! (`python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c aiosmtpd.handlers.Mailbox
//! DIR`), which delivers every message it accepts into a Maildir. Each
//! [`SmtpServer`] listens on a free port of its own with a Maildir in a
//! temporary folder, and is killed when dropped; [`SmtpServer::stop`] and
//! [`SmtpServer::start_again`] take it down and bring it back on the same
//! port (for "the server was down, then came back").

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A running aiosmtpd delivering into a Maildir.
pub struct SmtpServer {
    /// The Maildir's parent folder.
    dir: TempDir,
    /// The port it listens on.
    port: u16,
    /// The server process, while it runs.
    child: Option<Child>,
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until something accepts connections on `port`.
pub(crate) fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on port {port} within 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl SmtpServer {
    /// Starts a server on a free port. Fails (naming the package) when
    /// aiosmtpd is not installed.
    pub fn start() -> Self {
        let mut server = Self {
            dir: tempfile::tempdir().expect("a temporary folder"),
            port: free_port(),
            child: None,
        };
        server.start_again();
        server
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The Maildir.
    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("Maildir")
    }

    /// Starts the server (again) on its port.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the SMTP server is running already");
        // Debian's Python, where python3-aiosmtpd is installed (not a
        // python3 that happens to come first on PATH).
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(self.maildir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run python3 -m aiosmtpd (apt install python3-aiosmtpd)");
        self.child = Some(child);
        wait_for_port(self.port, "aiosmtpd (apt install python3-aiosmtpd)");
    }

    /// Stops the server; the port stays this server's.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every message delivered so far, as its raw text, oldest first.
    pub fn messages(&self) -> Vec<String> {
        read_maildir(&self.maildir())
    }
}

fn read_maildir(maildir: &Path) -> Vec<String> {
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
        .flatten()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            Some((entry.metadata().ok()?.modified().ok()?, entry.path()))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|(_, path)| std::fs::read_to_string(path).ok())
        .collect()
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}
