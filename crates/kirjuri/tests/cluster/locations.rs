//! DIS-1 at start-up: a database or bucket declared outside the EU/EEA, or an
//! AWS region outside the EU, is refused before anything is connected, and
//! no message shows the database password; a node declared in Finland
//! starts on PostgreSQL and S3.

use super::*;
/// Runs `kirjuri serve` with `config_text` and returns its exit status and stderr.
fn serve_with(config_text: &str, envs: &[(&str, &str)]) -> (ExitStatus, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kirjuri.toml");
    std::fs::write(&config, config_text).unwrap();
    let output = binary(&config, &dir.path().join("data"))
        .envs(envs.iter().copied())
        .run(&["serve", "--listen", "127.0.0.1:0"], None);
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A password that must never be printed.
const PASSWORD: &str = "Sal4inen-Tietokanta";

#[test]
fn a_database_declared_outside_the_eea_is_refused_at_start_without_printing_its_password() {
    for country in ["US", "GB"] {
        let (status, stderr) = serve_with(
            &format!(
                "[database]\nurl = \"postgres://kirjuri:{PASSWORD}@db.example.com/kirjuri\"\ncountry = \"{country}\"\n"
            ),
            &[],
        );
        assert!(!status.success());
        assert!(
            stderr.contains("database.country") && stderr.contains("outside the EU/EEA"),
            "{stderr}"
        );
        assert!(!stderr.contains(PASSWORD), "{stderr}");
    }
    // The same through the environment (`KIRJURI_DATABASE__…`).
    let url = format!("postgres://kirjuri:{PASSWORD}@db.example.com/kirjuri");
    let (status, stderr) = serve_with(
        "",
        &[
            ("KIRJURI_DATABASE__URL", url.as_str()),
            ("KIRJURI_DATABASE__COUNTRY", "US"),
        ],
    );
    assert!(!status.success());
    assert!(stderr.contains("database.country"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}

#[test]
fn aws_s3_outside_the_eu_is_refused_at_start_naming_the_region() {
    let (status, stderr) = serve_with(
        "[objects]\nbackend = \"s3\"\n[objects.s3]\nregion = \"us-east-1\"\nbucket = \"kirjuri\"\ncountry = \"FI\"\n",
        &[],
    );
    assert!(!status.success());
    assert!(
        stderr.contains("objects.s3.region") && stderr.contains("us-east-1"),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_database_is_reported_without_its_password() {
    // Port 1 on loopback refuses connections at once.
    let (status, stderr) = serve_with(
        &format!(
            "[database]\nurl = \"postgres://kirjuri:{PASSWORD}@127.0.0.1:1/kirjuri\"\ncountry = \"FI\"\n"
        ),
        &[],
    );
    assert!(!status.success());
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    assert!(stderr.contains("database"), "{stderr}");
}

#[tokio::test]
async fn a_node_in_finland_starts_on_postgresql_and_s3() {
    let cluster = Cluster::new().await;
    let mut node = cluster.start("fi");
    let response = cluster
        .client
        .get(node.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(node.stop().success(), "{}", node.stderr());
    drop(node);
    cluster.finish().await;
}
