//! Repository hygiene that a reviewer would otherwise have to remember: every
//! Rust file opens with a `//!` doc saying what it is for (STYLE.md 4), and
//! the crate layering of ARCHITECTURE.md holds (core depends on no other
//! Kirjuri crate and does no I/O; only `kirjuri-web` speaks HTTP), and every requirement id the code cites
//! (`RET-3`, …) is defined in `docs/requirements.md`, so the repository
//! explains itself.

#![allow(clippy::expect_used, reason = "a test reports failures by panicking")]

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n == "target" || n == ".git")
            {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let mut files = Vec::new();
    rust_files(&workspace_root().join("crates"), &mut files);
    assert!(files.len() > 10, "found too few files: {files:?}");
    let undocumented: Vec<_> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).expect("readable file");
            !text.trim_start().starts_with("//!")
        })
        .collect();
    assert!(
        undocumented.is_empty(),
        "files without a leading //! doc: {undocumented:#?}"
    );
}

#[test]
fn core_does_no_io_and_knows_no_other_kirjuri_crate() {
    let core = workspace_root().join("crates/kirjuri-core");
    let manifest = std::fs::read_to_string(core.join("Cargo.toml")).expect("core manifest");
    for forbidden in [
        "kirjuri-vault",
        "kirjuri-store",
        "kirjuri-app",
        "kirjuri-web",
        "tokio",
        "sqlx",
        "reqwest",
    ] {
        assert!(
            !manifest.contains(forbidden),
            "kirjuri-core must not depend on {forbidden}"
        );
    }
    let mut files = Vec::new();
    rust_files(&core.join("src"), &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable file");
        for io in [
            "std::fs",
            "std::net",
            "std::env",
            "std::process",
            "SystemTime::now",
        ] {
            assert!(
                !text.contains(io),
                "{} uses {io}; core does no I/O",
                file.display()
            );
        }
    }
}

/// The crates that speak HTTP, render pages or describe the HTTP API
/// (utoipa); only the web layer (and the test kit, for its clients) may
/// depend on them.
const WEB_ONLY: [&str; 7] = [
    "axum",
    "utoipa",
    "askama",
    "hyper",
    "hyper-util",
    "tower",
    "tower-http",
];

#[test]
fn only_the_web_layer_depends_on_http_and_templates() {
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let mut offenders = Vec::new();
    let packages = metadata["packages"].as_array().expect("a package list");
    assert!(
        packages.iter().any(|p| p["name"] == "kirjuri-web"),
        "the workspace has a kirjuri-web crate"
    );
    for package in packages {
        let name = package["name"].as_str().unwrap_or_default();
        if matches!(name, "kirjuri-web" | "kirjuri-testkit") {
            continue;
        }
        for dependency in package["dependencies"].as_array().into_iter().flatten() {
            let dependency_name = dependency["name"].as_str().unwrap_or_default();
            // `kind` is null for a normal dependency, "dev" or "build" otherwise;
            // a test may drive the server with an HTTP client, the code may not
            // speak HTTP itself.
            let normal = dependency["kind"].is_null() || dependency["kind"] == "build";
            if normal && WEB_ONLY.contains(&dependency_name) {
                offenders.push(format!("{name} -> {dependency_name}"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "only kirjuri-web (and the test kit) may depend on {WEB_ONLY:?}: {offenders:#?}"
    );
}

/// The ids `docs/requirements.md` defines: each is written `**ID**` at the
/// start of a list item.
fn defined_requirements(root: &Path) -> std::collections::BTreeSet<String> {
    let text = std::fs::read_to_string(root.join("docs/requirements.md"))
        .expect("docs/requirements.md exists");
    text.lines()
        .filter_map(|line| line.trim_start().strip_prefix("- **"))
        .filter_map(|rest| rest.split_once("**").map(|(id, _)| id.to_owned()))
        .collect()
}

/// Every `PREFIX-N` in `text` whose prefix is one of `prefixes`, standing as
/// a word of its own (so `SHA-256` or `X-RET-1` are not taken).
fn cited_ids(text: &str, prefixes: &std::collections::BTreeSet<String>) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    for prefix in prefixes {
        let needle = format!("{prefix}-");
        let mut from = 0;
        while let Some(at) = text[from..].find(&needle) {
            let start = from + at;
            let digits_at = start + needle.len();
            let digits = bytes[digits_at..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            let before_ok = start == 0
                || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'-');
            let after = digits_at + digits;
            // `DSR-2026-000123` (or a prefix of one, `DSR-20…`) is a request's
            // reference, not a requirement: requirement numbers are short
            // and end the word.
            let reference = bytes.get(after) == Some(&b'-') || (3..).contains(&digits);
            let after_ok =
                after == bytes.len() || !(bytes[after].is_ascii_alphanumeric() || reference);
            if digits > 0 && before_ok && after_ok {
                found.push(text[start..after].to_owned());
            }
            from = digits_at;
        }
    }
    found
}

#[test]
fn every_requirement_id_the_code_cites_is_defined_in_the_docs() {
    let root = workspace_root();
    let defined = defined_requirements(&root);
    assert!(
        defined.len() >= 30,
        "too few requirements found: {defined:?}"
    );
    let prefixes: std::collections::BTreeSet<String> = defined
        .iter()
        .filter_map(|id| id.split_once('-').map(|(p, _)| p.to_owned()))
        .collect();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    for doc in ["README.md", "ARCHITECTURE.md"] {
        files.push(root.join(doc));
    }
    let mut undefined = Vec::new();
    let mut cited = 0;
    // This file's own examples are made-up ids.
    for file in files
        .iter()
        .filter(|f| !f.ends_with("crates/kirjuri/tests/tidy.rs"))
    {
        let text = std::fs::read_to_string(file).expect("readable source");
        for id in cited_ids(&text, &prefixes) {
            cited += 1;
            if !defined.contains(&id) {
                undefined.push(format!("{}: {id}", file.display()));
            }
        }
    }
    assert!(
        cited > 100,
        "the code cites requirements; found only {cited}"
    );
    assert!(
        undefined.is_empty(),
        "requirement ids cited but not defined in docs/requirements.md:\n{}",
        undefined.join("\n")
    );
}

#[test]
fn a_requirement_id_is_found_only_as_a_word_of_its_own() {
    let prefixes = ["RET".to_owned(), "SEC".to_owned()].into_iter().collect();
    assert_eq!(
        cited_ids(
            "RET-3, (SEC-12). X-RET-1 RET-2a SEC- RET- RET-2026-000123 RET-4-",
            &prefixes
        ),
        vec!["RET-3".to_owned(), "SEC-12".to_owned()]
    );
}
