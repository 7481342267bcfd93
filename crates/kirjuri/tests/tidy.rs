//! Repository hygiene that a reviewer would otherwise have to remember: every
//! Rust file opens with a `//!` doc saying what it is for (STYLE.md 4), and
//! the crate layering of ARCHITECTURE.md holds (core depends on no other
//! Kirjuri crate and does no I/O).

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
        "kirjuri-server",
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
