//! `kirjuri receipt verify`: an erasure receipt checked offline, as a data
//! subject or the regulator would. The fixture was signed outside Kirjuri
//! (Python's `cryptography`, from the format in `kirjuri_app::receipt`'s
//! docs), so these tests also pin the format against an independent
//! implementation. Tampered, foreign-key, oversized and broken receipts
//! must all be refused with the reason and exit 1, without a data folder.

use std::process::{Command, Output};

use crate::helpers::KIRJURI;

const RECEIPT: &str = include_str!("fixtures/erasure-receipt.json");
const KEY: &str = "kirjuri-fixture+cc6cdecf+AbZiBIcoXnKU493lHdI4OlFk1YCptjwsSEmsgZtGUN2V";
const OTHER_KEY: &str = "other+0a856a03+AQH09eT6ADFQLv8Vc3AJnNChE+GrkW2PEYeo6j3MvfTL";

/// Runs `kirjuri receipt verify` on `text` (written to a file) with `args`,
/// from an empty folder and with no configuration.
fn verify(text: &[u8], args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("receipt.json");
    std::fs::write(&file, text).unwrap();
    let output = Command::new(KIRJURI)
        .current_dir(dir.path())
        .env_clear()
        .args(["receipt", "verify"])
        .arg(&file)
        .args(args)
        .output()
        .unwrap();
    // Offline: nothing was created beside the receipt.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "the command wrote files");
    output
}

#[test]
fn a_receipt_signed_elsewhere_verifies_and_says_what_it_records() {
    for args in [&[][..], &["--key", KEY][..]] {
        let output = verify(RECEIPT.as_bytes(), args);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{args:?}: {output:?}");
        for expected in [
            "DSR-2026-000123",
            "12 contacts, 11 stored objects",
            "ground 'complaint' until 2027-06-30",
            "block 42",
        ] {
            assert!(stdout.contains(expected), "{expected}: {stdout}");
        }
        let trusted = stdout.contains("signed by the key given");
        assert_eq!(trusted, !args.is_empty(), "{stdout}");
    }
}

#[test]
fn a_changed_foreign_oversized_or_broken_receipt_is_refused_with_the_reason() {
    let cases: Vec<(&str, Vec<u8>, &[&str], &str)> = vec![
        (
            "count lowered",
            RECEIPT
                .replace("\"contacts\": 12", "\"contacts\": 2")
                .into_bytes(),
            &[],
            "signature does not match",
        ),
        (
            "hold ground changed",
            RECEIPT.replace("complaint", "statute").into_bytes(),
            &[],
            "signature does not match",
        ),
        (
            "field added",
            RECEIPT
                .replace("\"v\": 1,", "\"v\": 1, \"name\": \"x\",")
                .into_bytes(),
            &[],
            "wrong fields",
        ),
        (
            "another key",
            RECEIPT.as_bytes().to_vec(),
            &["--key", OTHER_KEY],
            "another key",
        ),
        (
            "cut short",
            RECEIPT.as_bytes()[..200].to_vec(),
            &[],
            "cut short",
        ),
        ("not JSON", b"\x00\xff<receipt/>".to_vec(), &[], "not JSON"),
        ("empty", Vec::new(), &[], "cut short"),
        ("oversized", vec![b' '; 2 << 20], &[], "larger"),
    ];
    for (what, text, args, reason) in cases {
        let output = verify(&text, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{what}: {output:?}");
        assert!(stderr.contains(reason), "{what}: {stderr}");
        assert!(output.stdout.is_empty(), "{what}: printed as if valid");
    }
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let output = Command::new(KIRJURI)
        .env_clear()
        .args(["receipt", "verify", "/nonexistent/receipt.json"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/receipt.json"));
}
