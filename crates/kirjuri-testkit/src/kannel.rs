//! A real SMS gateway for the outbox tests: Debian's Kannel — `bearerbox`
//! with a fake SMSC, `smsbox` serving `sendsms`, and `fakesmsc` from
//! `kannel-extras` (`/usr/lib/kannel/test/fakesmsc`), which connects to the
//! bearerbox's fake SMSC port and prints every message it receives
//! (`Got message N: <from to text …>`). Each [`Kannel`] runs on free ports
//! with its configuration and logs in a temporary folder; its processes are
//! killed when it is dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::smtp::{free_port, wait_for_port};

/// The `sendsms-user` the gateway accepts.
pub const USERNAME: &str = "kirjuri";
/// Its password.
pub const PASSWORD: &str = "sms-secret-pw";
/// The sender Kannel puts on a message that names none.
pub const GLOBAL_SENDER: &str = "13013";

/// Where fakesmsc is installed.
const FAKESMSC: &str = "/usr/lib/kannel/test/fakesmsc";

/// A running bearerbox + smsbox + fakesmsc.
pub struct Kannel {
    /// Configuration and logs.
    dir: TempDir,
    /// The smsbox's `sendsms` port.
    sendsms_port: u16,
    /// The bearerbox's fake SMSC port.
    smsc_port: u16,
    /// bearerbox, fakesmsc, smsbox.
    children: Vec<Child>,
}

impl Kannel {
    /// Starts the three processes and waits until `sendsms` answers. Fails
    /// (naming the packages) when Kannel is not installed.
    pub fn start() -> Self {
        Self::start_with_mo(None, None)
    }

    /// [`Kannel::start`], with mobile-originated messages (what
    /// [`Kannel::send_mo`] sends) delivered to `mo_url` by the smsbox's
    /// `get-url` (Kannel's escapes: `%p` sender, `%P` receiver, `%a` text,
    /// `%I` message id); no reply goes back (`max-messages = 0`). With
    /// `sendsms`, its `sendsms` listens there (so a server configured
    /// before the gateway can name it).
    pub fn start_with_mo(sendsms: Option<u16>, mo_url: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let (admin, smsbox, smsc) = (free_port(), free_port(), free_port());
        let sendsms = sendsms.unwrap_or_else(free_port);
        let conf = dir.path().join("kannel.conf");
        std::fs::write(
            &conf,
            format!(
                "group = core\nadmin-port = {admin}\nadmin-password = admin-pw\n\
                 admin-allow-ip = 127.0.0.1\nsmsbox-port = {smsbox}\nbox-allow-ip = 127.0.0.1\n\n\
                 group = smsc\nsmsc = fake\nsmsc-id = fake\nport = {smsc}\n\
                 connect-allow-ip = 127.0.0.1\n\n\
                 group = smsbox\nbearerbox-host = 127.0.0.1\nsendsms-port = {sendsms}\n\
                 global-sender = {GLOBAL_SENDER}\n\n\
                 group = sendsms-user\nusername = {USERNAME}\npassword = {PASSWORD}\n\
                 max-messages = 10\nconcatenation = true\n\n\
                 group = sms-service\nkeyword = default\n{}\n",
                match mo_url {
                    Some(url) => format!("get-url = \"{url}\"\nmax-messages = 0\ncatch-all = true"),
                    None => "text = \"No service\"".to_owned(),
                }
            ),
        )
        .expect("write kannel.conf");
        let mut kannel = Self {
            dir,
            sendsms_port: sendsms,
            smsc_port: smsc,
            children: Vec::new(),
        };
        kannel.spawn("bearerbox", &["-v", "1"], Some(&conf), "bearerbox.log");
        wait_for_port(smsc, "bearerbox (apt install kannel)");
        let port = smsc.to_string();
        kannel.spawn(
            FAKESMSC,
            &["-H", "127.0.0.1", "-r", &port, "-m", "0", "1 2 text nop"],
            None,
            "fakesmsc.log",
        );
        kannel.spawn("smsbox", &["-v", "1"], Some(&conf), "smsbox.log");
        wait_for_port(sendsms, "smsbox (apt install kannel)");
        kannel
    }

    /// Sends one mobile-originated SMS from `from` to `to` through the
    /// fake SMSC: the listening fakesmsc makes way for one that sends it,
    /// then listens again.
    pub fn send_mo(&mut self, from: &str, to: &str, text: &str) {
        // fakesmsc is the second child (bearerbox, fakesmsc, smsbox).
        if let Some(listener) = self.children.get_mut(1) {
            let _ = listener.kill();
            let _ = listener.wait();
        }
        let spec = format!("{from} {to} text {text}");
        let port = self.smsc_port.to_string();
        let log = std::fs::File::create(self.dir.path().join("fakesmsc-mo.log"))
            .expect("create a log file");
        let mut sender = Command::new(FAKESMSC)
            .args(["-H", "127.0.0.1", "-r", &port, "-m", "1", &spec])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone a log file"))
            .stderr(log)
            .spawn()
            .expect("run fakesmsc (apt install kannel-extras)");
        // It exits once the message is sent and acknowledged.
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = sender.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = sender.kill();
        let _ = sender.wait();
    }

    fn spawn(&mut self, program: &str, args: &[&str], conf: Option<&PathBuf>, log: &str) {
        let log = std::fs::File::create(self.dir.path().join(log)).expect("create a log file");
        let mut command = Command::new(program);
        command.args(args);
        if let Some(conf) = conf {
            command.arg(conf);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone a log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("run {program} (apt install kannel kannel-extras): {e}"));
        self.children.push(child);
    }

    /// The smsbox's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.sendsms_port)
    }

    /// Every message the fake SMSC received, as `(from, to, text)`.
    pub fn received(&self) -> Vec<(String, String, String)> {
        let log = std::fs::read_to_string(self.dir.path().join("fakesmsc.log")).unwrap_or_default();
        log.lines()
            .filter_map(|line| {
                let (_, rest) = line.split_once("Got message ")?;
                let (_, message) = rest.split_once(": <")?;
                let message = message.strip_suffix('>')?;
                let mut parts = message.splitn(4, ' ');
                let from = parts.next()?.to_owned();
                let to = parts.next()?.to_owned();
                let _kind = parts.next()?;
                Some((from, to, parts.next().unwrap_or("").to_owned()))
            })
            .collect()
    }

    /// Waits up to 20 s until the fake SMSC has received `n` messages.
    pub fn wait_for(&self, n: usize) -> Vec<(String, String, String)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let received = self.received();
            if received.len() >= n || Instant::now() > deadline {
                return received;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Kannel {
    fn drop(&mut self) {
        // smsbox and fakesmsc first, then bearerbox.
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
