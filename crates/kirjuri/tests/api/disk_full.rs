//! A full disk during intake (issue 17 §3): the data folder on a small
//! size-limited tmpfs, filled up under a running server. An upload that
//! does not fit is refused 507 `storage_full` in the `{"error":…}` shape;
//! nothing of it is left (no object row, no object file, no temporary
//! file, no pending upload, once recovery has run); and when space
//! returns — without a restart — the same upload is stored and reads back
//! bit-exact. Mounting needs root (the suite runs as root in CI); as
//! another user the test fails saying so rather than skipping.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kirjuri_testkit::server::{Kirjuri, Logs, Server};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{KIRJURI, PURPOSE, noise_wav, sha256_hex};

/// A mounted tmpfs, unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(megabytes: u32) -> Tmpfs {
        let dir = tempfile::Builder::new()
            .prefix("kirjuri-full-")
            .tempdir()
            .unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m,mode=0700")])
            .arg("tmpfs")
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "the disk-full test mounts a small tmpfs and needs root (CI runs the suite as \
             root); run it as root"
        );
        Tmpfs(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// Fills the file system at `dir` with a file until `leave` bytes are free.
fn fill(dir: &Path, leave: u64) -> std::path::PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 << 10];
    loop {
        let stat = rustix::fs::statvfs(dir).unwrap();
        let free = stat.f_bavail * stat.f_frsize;
        if free <= leave {
            break;
        }
        let n = (free - leave).min(chunk.len() as u64) as usize;
        if std::io::Write::write_all(&mut file, &chunk[..n]).is_err() {
            break;
        }
    }
    let _ = file.sync_all();
    path
}

#[tokio::test]
async fn an_upload_that_does_not_fit_is_refused_507_leaves_nothing_and_succeeds_once_space_returns()
{
    let disk = Tmpfs::mount(48);
    let data = disk.path().join("data");
    let kirjuri = Kirjuri::new(KIRJURI)
        .data(&data)
        .env("KIRJURI_CLUSTER__RECOVER_INTERVAL_SECONDS", "1");
    kirjuri.run_ok(&["user", "add", "pbx", "--role", "integration"], None);
    kirjuri.run_ok(
        &[
            "user",
            "add",
            "sanna",
            "--role",
            "supervisor",
            "--password-stdin",
        ],
        Some("Disk-Full-Passw0rd-sanna\n"),
    );
    let pbx = kirjuri
        .run_ok(&["token", "create", "--user", "pbx"], None)
        .trim()
        .to_owned();
    let sanna = kirjuri
        .run_ok(&["token", "create", "--user", "sanna"], None)
        .trim()
        .to_owned();
    let server = Server::start(&kirjuri, "kirjuri serve", &[] as &[&str], Logs::default());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let contact: Value = client
        .post(server.url("/api/v1/contacts"))
        .bearer_auth(&pbx)
        .json(&json!({
            "external_id": "full-1",
            "channel": "call_in",
            "started_at": "2026-11-29T09:15:02+02:00",
            "service": "water-billing",
            "agent": "aino",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = contact["id"].as_str().expect("a contact id").to_owned();
    let wav = noise_wav(8 << 20, 5);

    // The disk fills: 2 MiB left for an 8 MiB recording.
    let filler = fill(disk.path(), 2 << 20);
    let refused = client
        .put(server.url(&format!("/api/v1/contacts/{id}/recording")))
        .bearer_auth(&pbx)
        .header("content-type", "audio/wav")
        .body(wav.clone())
        .send()
        .await
        .unwrap();
    let status = refused.status();
    let body: Value = refused.json().await.unwrap();
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    assert_eq!(body["error"]["code"], "storage_full", "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");

    // Space returns; nothing half-stored is left once recovery has run.
    std::fs::remove_file(&filler).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let objects = data.join("objects");
    let files: Vec<_> = walk(&objects);
    assert!(files.is_empty(), "left behind: {files:?}");
    let read = client
        .get(server.url(&format!(
            "/api/v1/contacts/{id}/recording?purpose={PURPOSE}"
        )))
        .bearer_auth(&sanna)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::NOT_FOUND);

    // The same upload now fits, without a restart, and reads back whole.
    let stored = client
        .put(server.url(&format!("/api/v1/contacts/{id}/recording")))
        .bearer_auth(&pbx)
        .header("content-type", "audio/wav")
        .body(wav.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), StatusCode::CREATED);
    let back = client
        .get(server.url(&format!(
            "/api/v1/contacts/{id}/recording?purpose={PURPOSE}"
        )))
        .bearer_auth(&sanna)
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), StatusCode::OK);
    assert_eq!(sha256_hex(&back.bytes().await.unwrap()), sha256_hex(&wav));
    drop(server);
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}
