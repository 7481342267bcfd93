//! `kirjuri doctor` through the real binary, each check made to fail for
//! real: a key file left 0644, too little free space (a threshold above
//! what the disk has), an audit checkpoint older than the limit with
//! events after it, an S3 bucket in a US region, a configuration that does
//! not parse — each a `fail` line naming why and exit code 1; a healthy
//! folder is all `ok` with exit 0; `--json` says the same for machines.
//! (The database being down is tested on a real PostgreSQL in the cluster
//! binary's `outage` module.)

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

/// Runs `kirjuri doctor ARGS`; returns the exit code and stdout.
fn doctor(app: &TestApp, args: &[&str]) -> (i32, String) {
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    let output = app.cli(&all);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
    )
}

/// The line of check `name`.
fn line<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| l.get(6..).is_some_and(|rest| rest.starts_with(name)))
        .unwrap_or_else(|| panic!("no {name} line in:\n{text}"))
}

/// A disk threshold (MiB) the test machine passes easily.
const SMALL: &str = "1";

#[tokio::test]
async fn a_healthy_folder_passes_every_check_and_each_broken_thing_fails_its_own() {
    let app = spawn_app().await;
    let (code, text) = doctor(&app, &["--min-free-mib", SMALL]);
    for name in [
        "configuration",
        "locations",
        "key file",
        "audit signing key",
        "free space",
        "database",
        "clock skew",
        "audit checkpoint",
        "outbox",
    ] {
        let verdict = &line(&text, name)[..4];
        assert!(verdict == "ok  " || verdict == "warn", "{name}:\n{text}");
    }
    assert_eq!(code, 0, "{text}");
    assert!(line(&text, "key file").starts_with("ok"), "{text}");
    assert!(line(&text, "clock skew").starts_with("ok"), "{text}");

    // JSON for machines.
    let (code, json) = doctor(&app, &["--json", "--min-free-mib", SMALL]);
    assert_eq!(code, 0);
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["ok"], true);
    assert!(json["checks"].as_array().unwrap().len() >= 9, "{json}");

    // Too little free space: a limit above what the file system has.
    let (code, text) = doctor(&app, &["--min-free-mib", "1000000000"]);
    assert_eq!(code, 1, "{text}");
    assert!(line(&text, "free space").starts_with("fail"), "{text}");

    // A checkpoint older than the limit with events after it.
    let signed = app.cli(&["audit", "checkpoint"]);
    assert!(signed.status.success(), "{signed:?}");
    let added = app.add_account("uusi", "agent");
    assert!(!added.is_empty());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, text) = doctor(
        &app,
        &["--min-free-mib", SMALL, "--max-checkpoint-age", "0"],
    );
    assert_eq!(code, 1, "{text}");
    let checkpoint = line(&text, "audit checkpoint");
    assert!(checkpoint.starts_with("fail"), "{text}");
    assert!(checkpoint.contains("events"), "{text}");

    // A key file others may read.
    let key = app.data_dir().join("keys/keyring.json");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, text) = doctor(&app, &["--min-free-mib", SMALL]);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(code, 1, "{text}");
    let key_line = line(&text, "key file");
    assert!(key_line.starts_with("fail"), "{text}");
    assert!(
        key_line.contains("0644") && key_line.contains("chmod 600"),
        "{text}"
    );
    let (json_code, json) = doctor(&app, &["--json", "--min-free-mib", SMALL]);
    assert_eq!(json_code, 0, "{json}");
}

#[tokio::test]
async fn storage_outside_the_eea_and_an_unreadable_configuration_fail_the_doctor() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let us = dir.path().join("us.toml");
    std::fs::write(
        &us,
        "[objects]\nbackend = \"s3\"\n[objects.s3]\nregion = \"us-east-1\"\nbucket = \"kirjuri\"\ncountry = \"FI\"\n",
    )
    .unwrap();
    let output = app.cli(&[
        "doctor",
        "--min-free-mib",
        SMALL,
        "--config",
        us.to_str().unwrap(),
    ]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(1), "{text}");
    let locations = line(&text, "locations");
    assert!(locations.starts_with("fail"), "{text}");
    assert!(locations.contains("us-east-1"), "{text}");

    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "listen = 12\nno_such_setting = true\n").unwrap();
    let output = app.cli(&["doctor", "--json", "--config", broken.to_str().unwrap()]);
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(1), "{json}");
    assert_eq!(json["ok"], false);
    assert_eq!(json["checks"][0]["name"], "configuration");
    assert_eq!(json["checks"][0]["verdict"], "fail");
}
