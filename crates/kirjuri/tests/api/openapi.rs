//! The served OpenAPI document against a live server, by a third party:
//! Schemathesis (PyPI, pinned in `scripts/schemathesis`, installed into
//! `target/schemathesis`) reads `GET /api/v1/openapi.json` from the real
//! `kirjuri serve` and sends what it generates from it — valid and invalid
//! bodies, parameters and media types — with a signed-in caller of each of
//! three roles. It fails on any 5xx, any status, media type, header or body
//! the document does not give, and any error without the one shape
//! (the document's error schema, which every 4xx and 5xx refers to).
//! The run is bounded (examples per operation, Schemathesis's deterministic generation, the same cases every run) so it
//! fits the suite's time budget; its output is the failure message.
//!
//! Not here: the route-by-route agreement of the document and the router
//! (`kirjuri-web`'s `http::openapi` tests, without a socket).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

/// The checks Schemathesis runs. All of them, but these:
/// - `positive_data_acceptance`: it expects every body the schema allows to
///   be accepted, but a schema cannot say everything the register checks
///   (a phone number's digits, an agent that exists, a date window, an id
///   that names something), so a refusal with 4xx is right there;
/// - `ignored_auth` and `use_after_free`, `ensure_resource_availability`:
///   these need the stateful links between operations the document does not
///   describe yet, and find nothing without them;
/// - `missing_required_header`: it sends no `Authorization` and expects
///   406-ish refusals for header *parameters*; the credential is tested in
///   the `access` and `attack_*` modules.
const EXCLUDED_CHECKS: &str = "positive_data_acceptance,ignored_auth,use_after_free,ensure_resource_availability,missing_required_header";

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Runs Schemathesis against `app` as the holder of `token`; returns its
/// output when it found anything.
fn fuzz(app: &TestApp, token: &str) -> Result<(), String> {
    let root = workspace_root();
    let report = tempfile::tempdir().unwrap();
    let output = Command::new(root.join("scripts/schemathesis"))
        .current_dir(report.path())
        .args([
            "run",
            &app.url("/api/v1/openapi.json"),
            "--header",
            &format!("Authorization: Bearer {token}"),
            "--checks",
            "all",
            "--exclude-checks",
            EXCLUDED_CHECKS,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "8",
            "--generation-deterministic",
            // One worker: Hypothesis's lambda descriptions are not
            // thread-safe on CPython 3.11 ("AST constructor recursion depth
            // mismatch"), which Debian ships.
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--no-color",
            "--output-truncate",
            "false",
            "--warnings",
            "off",
        ])
        .env(
            "SCHEMATHESIS_HOOKS",
            root.join("crates/kirjuri/tests/api/schemathesis_hooks.py"),
        )
        .output()
        .expect("scripts/schemathesis runs (scripts/schemathesis install)");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(())
    } else {
        Err(text)
    }
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    // Arrange: a registrar (requests, disclosures, recipients, holds), the
    // integration account (intake) and a supervisor (reads, audit).
    let app = spawn_app().await;
    let registrar = app.add_account("rea", "registrar");
    let document: Value = {
        let response = app.get(None, &app.url("/api/v1/openapi.json"), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    };
    assert_eq!(document["openapi"], "3.1.0");

    // Act
    let started = Instant::now();
    let mut failures = Vec::new();
    for (role, token) in [
        ("registrar", registrar.as_str()),
        ("integration", app.tokens.pbx.as_str()),
        ("supervisor", app.tokens.sanna.as_str()),
    ] {
        if let Err(output) = fuzz(&app, token) {
            failures.push(format!("=== as {role}\n{output}"));
        }
    }

    // Assert
    assert!(
        failures.is_empty(),
        "Schemathesis found problems:\n{}",
        failures.join("\n")
    );
    // Bounded by the examples per operation, not by a clock (a time budget
    // would make Schemathesis fuzz until it is spent): with 12 examples the
    // three roles took 42 + 52 + 51 s on an idle 2-core machine, and 9.4
    // minutes at a load average of 16; 8 examples trim the fuzzing phase.
    eprintln!("schemathesis ran for {:?}", started.elapsed());
    // The server is still up and well after it all — asked on a new
    // connection: the client's pooled one has sat idle through the whole
    // run, and the server rightly closes idle connections (a reused one
    // fails with a broken pipe, which says nothing about the server).
    let fresh = reqwest::Client::new();
    let health = fresh
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("GET /healthz on a new connection");
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_document_is_public_the_same_for_every_caller_holds_no_register_data_and_is_only_read()
{
    // Arrange: a contact whose customer's name must not show anywhere.
    let app = spawn_app().await;
    let mut contact = crate::helpers::design_example("pbx-openapi-1");
    contact["customer"]["name"] = "Ulla Openapi-Testinen".into();
    assert_eq!(
        app.create_contact(&app.tokens.pbx, &contact).await.status(),
        StatusCode::CREATED
    );
    let url = app.url("/api/v1/openapi.json");

    // Act: anonymous, signed in, and sixteen at once.
    let anonymous = app.get(None, &url, None).await;
    assert_eq!(anonymous.status(), StatusCode::OK);
    let anonymous = anonymous.bytes().await.unwrap();
    let signed_in = app
        .get(Some(&app.tokens.sanna), &url, None)
        .await
        .bytes()
        .await
        .unwrap();
    let parallel = futures::future::join_all(
        (0..16).map(|_| async { app.get(None, &url, None).await.bytes().await.unwrap() }),
    )
    .await;

    // Assert
    assert_eq!(anonymous, signed_in);
    assert!(parallel.iter().all(|body| *body == anonymous));
    let text = String::from_utf8(anonymous.to_vec()).unwrap();
    assert!(!text.contains("Openapi-Testinen"));
    assert!(!text.contains("pbx-openapi-1"));
    for method in [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::PATCH,
        reqwest::Method::DELETE,
    ] {
        let response = app
            .client
            .request(method.clone(), &url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(vec![b'{'; 64 * 1024])
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()[reqwest::header::ALLOW],
            "GET,HEAD",
            "{method}"
        );
        let (code, _) =
            crate::helpers::assert_error(response, StatusCode::METHOD_NOT_ALLOWED).await;
        assert_eq!(code, "method_not_allowed", "{method}");
    }
}
