//! The api binary's harness: `spawn_app()` starts the real `kirjuri serve`
//! built with these tests on port 0 over a fresh data folder with the four
//! accounts (`kirjuri_testkit::app::TestApp`), and `run_kirjuri` runs one
//! of its commands. Everything else a test module uses — the fixtures, the
//! answer checks, the file scans — is the testkit's, re-exported here so a
//! module names one harness.
//!
//! Not here: assertions about behaviour (those live in the test modules), and
//! anything that links the server crates — the tests see only the interface.

use std::path::Path;
use std::process::Output;

pub use kirjuri_testkit::app::TestApp;
pub use kirjuri_testkit::fixtures::{
    PURPOSE, SEGMENT, assert_error, call, chunked_body, contains, design_example, files_under,
    find_in_files, ids_of, json_ok, noise_wav, sha256_hex, slow_body, wav, with_query,
};
use kirjuri_testkit::server::Kirjuri;

/// The binary under test.
pub const KIRJURI: &str = env!("CARGO_BIN_EXE_kirjuri");

/// Starts a server over a fresh data folder with the four accounts.
pub async fn spawn_app() -> TestApp {
    spawn_app_with_env(&[]).await
}

/// Like [`spawn_app`], with extra environment variables for `serve`.
pub async fn spawn_app_with_env(envs: &[(&str, &str)]) -> TestApp {
    TestApp::spawn(KIRJURI, envs).await
}

/// Runs `kirjuri ARGS --data DIR` with `envs`, feeding `stdin`, and returns
/// what happened.
pub fn run_kirjuri(
    dir: &Path,
    args: &[&str],
    stdin: Option<&str>,
    envs: &[(String, String)],
) -> Output {
    Kirjuri::new(KIRJURI)
        .data(dir)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .run(args, stdin)
}
