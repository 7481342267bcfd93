//! The package writer against an independent reader (Python's `zipfile`)
//! and the verifier against tampering.

use std::process::Command;

use kirjuri_vault::AuditSigner;

use super::*;

fn signer(dir: &std::path::Path) -> AuditSigner {
    AuditSigner::open_or_create(&dir.join("audit.key"), "kirjuri-test").unwrap()
}

/// Pseudo-random bytes (no RNG needed: SHA-256 in counter mode).
fn noise(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter = 0u64;
    while out.len() < len {
        out.extend_from_slice(digest(&SHA256, &counter.to_le_bytes()).as_ref());
        counter += 1;
    }
    out.truncate(len);
    out
}

async fn build(files: &[(&str, &[u8])], signer: &AuditSigner) -> Vec<u8> {
    let mut package = PackageWriter::new(Vec::new());
    for (path, bytes) in files {
        package.add(path, *bytes).await.unwrap();
    }
    let mut details = serde_json::Map::new();
    details.insert("reference".into(), "DSR-2026-000001".into());
    package
        .finish(
            "kirjuri-access-package",
            details,
            "2026-12-06T10:00:00Z".parse().unwrap(),
            signer,
        )
        .await
        .unwrap()
}

/// Every entry's name and bytes, in archive order, as Python's `zipfile`
/// reads them (a reader independent of the writer's library).
fn entries(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.zip");
    std::fs::write(&path, zip).unwrap();
    let script = r#"
import base64, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
print(json.dumps([[i.filename, base64.b64encode(z.read(i)).decode()] for i in z.infolist()]))
"#;
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed: Vec<(String, String)> = serde_json::from_slice(&output.stdout).unwrap();
    listed
        .into_iter()
        .map(|(name, bytes)| (name, BASE64.decode(bytes).unwrap()))
        .collect()
}

#[tokio::test]
async fn python_reads_every_file_and_its_hash_matches_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path());
    let recording = noise(3 * CHUNK + 17);
    let zip = build(
        &[
            ("recordings/c1.wav", &recording),
            ("contacts/c1.json", b"{\"id\":\"c1\"}"),
            ("empty.txt", b""),
        ],
        &signer,
    )
    .await;
    let path = dir.path().join("package.zip");
    std::fs::write(&path, &zip).unwrap();

    // Python's zipfile checks every CRC (testzip) and hashes each file.
    let script = r#"
import hashlib, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None, "bad CRC"
m = json.loads(z.read("manifest.json"))
for f in m["files"]:
    data = z.read(f["path"])
    assert hashlib.sha256(data).hexdigest() == f["sha256"], f["path"]
    assert len(data) == f["bytes"], f["path"]
assert [i.compress_type for i in z.infolist()] == [0] * len(z.infolist()), "not STORED"
print(json.dumps([i.filename for i in z.infolist()]))
"#;
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let names: Vec<String> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        names,
        [
            "recordings/c1.wav",
            "contacts/c1.json",
            "empty.txt",
            MANIFEST,
            SIGNATURE
        ]
    );

    let manifest = verify(&entries(&zip), &signer.verifier_key()).unwrap();
    assert_eq!(manifest.kind, "kirjuri-access-package");
    assert_eq!(manifest.details["reference"], "DSR-2026-000001");
    assert_eq!(manifest.files[0].bytes, recording.len() as u64);
}

#[tokio::test]
async fn a_changed_missing_or_extra_file_or_another_key_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path());
    let zip = build(&[("a.txt", b"alpha"), ("b.txt", b"beta")], &signer).await;
    let good = entries(&zip);
    let key = signer.verifier_key();
    verify(&good, &key).unwrap();

    let mut changed = good.clone();
    changed[1].1 = b"BETA".to_vec();
    let mut missing = good.clone();
    missing.remove(0);
    let mut extra = good.clone();
    extra.insert(0, ("c.txt".into(), b"gamma".to_vec()));
    let mut manifest_edited = good.clone();
    let text = String::from_utf8(manifest_edited[2].1.clone()).unwrap();
    manifest_edited[2].1 = text.replace("b.txt", "x.txt").into_bytes();
    for (what, package) in [
        ("changed", &changed),
        ("missing", &missing),
        ("extra", &extra),
        ("manifest edited", &manifest_edited),
    ] {
        let err = verify(package, &key).unwrap_err().to_string();
        assert!(err.starts_with("package:"), "{what}: {err}");
    }
    let other = AuditSigner::open_or_create(&dir.path().join("other.key"), "other").unwrap();
    assert!(verify(&good, &other.verifier_key()).is_err(), "another key");
}

#[tokio::test]
async fn paths_that_could_escape_the_folder_or_clash_are_refused() {
    let mut package = PackageWriter::new(Vec::new());
    for path in [
        "",
        "/etc/passwd",
        "../up.txt",
        "a/../../up.txt",
        "a//b",
        "./a",
        "a\\b",
        "c:evil",
        "new\nline",
        MANIFEST,
        SIGNATURE,
        &"x".repeat(256),
    ] {
        assert!(package.add_bytes(path, b"x").await.is_err(), "{path:?}");
    }
    package.add_bytes("a/b.txt", b"x").await.unwrap();
    assert!(package.add_bytes("a/b.txt", b"y").await.is_err(), "twice");
    assert_eq!(package.files().len(), 1);
}
