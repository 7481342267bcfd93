//! The LMTP path through a real mail server (issue 14 §2): Debian's
//! OpenSMTPD (installed by `scripts/test`) listens for SMTP on a free port
//! and relays the mailbox's mail to Kirjuri's LMTP listener, exactly as
//! docs/email.md tells an operator to configure it; a message sent to it by
//! SMTP becomes an `email` contact found by its sender's address, and reads
//! back as sent with the mail server's trace headers (`Received`, …)
//! prepended.
//!
//! Skipped, loudly, only when `smtpd` is not installed or the test is not
//! root (OpenSMTPD drops privileges from root, and its spool and control
//! socket are system-wide, so this is the one test that starts it).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::email::{Mail, SENDER, WORD, found_by_address, message, spawn_with_lmtp};
use crate::helpers::find_in_files;

const SMTPD: &str = "/usr/sbin/smtpd";

/// A running `smtpd -d`, stopped (by its own pid) when dropped.
struct Smtpd(Child);

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Reads one SMTP reply (all its lines).
async fn smtp_reply(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        all.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return all;
        }
    }
}

/// Sends `message` by SMTP through the server at `port`.
async fn send_by_smtp(port: u16, from: &str, to: &str, message: &[u8]) {
    // OpenSMTPD needs a moment after start before it takes connections.
    let deadline = Instant::now() + Duration::from_secs(20);
    let stream = loop {
        match TcpStream::connect(("127.0.0.1", port)).await {
            Ok(stream) => break stream,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("OpenSMTPD did not start listening: {e}"),
        }
    };
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    assert!(smtp_reply(&mut reader).await.starts_with("220"));
    let mut say = async |line: &str, expect: &str| {
        write.write_all(line.as_bytes()).await.unwrap();
        let reply = smtp_reply(&mut reader).await;
        assert!(reply.starts_with(expect), "{line:?}: {reply}");
    };
    say("EHLO client.test\r\n", "250").await;
    say(&format!("MAIL FROM:<{from}>\r\n"), "250").await;
    say(&format!("RCPT TO:<{to}>\r\n"), "250").await;
    say("DATA\r\n", "354").await;
    let mut stuffed = Vec::new();
    for line in message.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b".") {
            stuffed.push(b'.');
        }
        stuffed.extend_from_slice(line);
    }
    stuffed.extend_from_slice(b".\r\n");
    let text = String::from_utf8(stuffed).unwrap();
    say(&text, "250").await;
    say("QUIT\r\n", "221").await;
}

#[tokio::test]
async fn mail_sent_through_opensmtpd_arrives_over_lmtp_as_an_email_contact() {
    // Arrange
    if !std::path::Path::new(SMTPD).exists() {
        eprintln!(
            "\n!!! SKIPPED: {SMTPD} is not installed (apt-get install opensmtpd; scripts/test does) — \
             the LMTP path through a real mail server was NOT tested !!!\n"
        );
        return;
    }
    // OpenSMTPD must start as root (it drops privileges itself).
    let uid = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        eprintln!(
            "\n!!! SKIPPED: OpenSMTPD must start as root — the real-MTA test did NOT run !!!\n"
        );
        return;
    }
    let app = spawn_with_lmtp(&[]).await;
    let lmtp = app.lmtp_address();
    let smtp_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("smtpd.conf");
    // As docs/email.md: the mailbox's mail to Kirjuri over LMTP. `virtual`
    // maps the recipient to an unprivileged account, as OpenSMTPD requires
    // for a delivery action; the LMTP session itself keeps the recipient.
    std::fs::write(
        &config,
        format!(
            "listen on 127.0.0.1 port {smtp_port}\n\
             action \"kirjuri\" lmtp \"{lmtp}\" rcpt-to virtual {{ \"@\" = nobody }}\n\
             match from any for domain \"vesi.example\" action \"kirjuri\"\n"
        ),
    )
    .unwrap();
    let checked = Command::new(SMTPD)
        .arg("-n")
        .arg("-f")
        .arg(&config)
        .output()
        .unwrap();
    assert!(checked.status.success(), "{checked:?}");
    let _smtpd = Smtpd(
        Command::new(SMTPD)
            .arg("-d")
            .arg("-f")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let sent = message("through-opensmtpd");

    // Act
    send_by_smtp(
        smtp_port,
        "tiina@esimerkki.fi",
        "asiakaspalvelu@vesi.example",
        &sent,
    )
    .await;

    // Assert: the contact appears, found by the sender's address.
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = loop {
        let found = found_by_address(&app, SENDER).await;
        if let Some(id) = found.first() {
            break id.clone();
        }
        assert!(Instant::now() < deadline, "no email contact after 60 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // As sent, with the mail server's trace headers (Return-Path,
    // Delivered-To, Received) prepended and nothing else changed.
    let stored = app
        .get_message(&app.tokens.aino, &id)
        .await
        .bytes()
        .await
        .unwrap();
    assert!(
        stored.ends_with(&sent),
        "the message differs from what was sent"
    );
    let added = String::from_utf8_lossy(&stored[..stored.len() - sent.len()]).into_owned();
    assert!(added.contains("Received: from client.test"), "{added}");
    assert!(added.contains("(OpenSMTPD)"), "{added}");
    // Sealed on disk.
    let found = find_in_files(
        app.data_dir(),
        &[("the message text".into(), WORD.as_bytes().to_vec())],
    );
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(
        app.count("SELECT count(*) FROM objects WHERE kind = 'message';"),
        1
    );
}
